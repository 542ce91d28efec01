//! The one gate every entry point passes: whether a call may go on while its manager closes,
//! once it closed, or once one of its threads died (a bug). Every call on a manager, on its
//! registrations and on their records and responses asks it, so all of them answer alike:
//! `Closed` (with one wording) once closing or closed, `Internal` once broken.

use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};

/// How far into a close a call may still go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gate {
    /// A call that starts something (a fetch, a callback, a setting that changes what runs) or
    /// waits: refused once close has begun.
    Running,
    /// A call that reads what the manager holds (the ids, a registration, a body): refused
    /// once close has let go of the store.
    Open,
}

/// Where a manager stands in its life: running, closing, closed, and whether a thread died.
#[derive(Debug, Default)]
pub(crate) struct Lifecycle {
    /// Close has begun: nothing new starts, blocking calls return `Closed`, but the store is
    /// still whole (a running callback may read it).
    closing: AtomicBool,
    /// Close has let go (or is letting go) of the store: every call returns `Closed`.
    closed: AtomicBool,
    /// Why the manager cannot go on: a thread of it (sync, events, retry timer) died of a panic.
    broken: Mutex<Option<String>>,
}

impl Lifecycle {
    /// Whether a call through `gate` may go on: `Closed` once closing (for [`Gate::Running`])
    /// or closed, else `Internal` once a thread died.
    pub(crate) fn pass(&self, gate: Gate) -> Result<()> {
        if self.is_closed() {
            return Err(Error::Closed("the manager is closed".into()));
        }
        if gate == Gate::Running && self.is_closing() {
            return Err(Error::Closed("the manager is closing".into()));
        }
        match &*self.broken.lock() {
            Some(why) => Err(Error::Internal(format!(
                "the manager cannot go on: {why}; close it and open the store again"
            ))),
            None => Ok(()),
        }
    }

    /// Close begins: `false` if it had already begun.
    pub(crate) fn begin_close(&self) -> bool {
        !self.closing.swap(true, Ordering::AcqRel)
    }

    /// Close lets go of the store.
    pub(crate) fn set_closed(&self) {
        self.closed.store(true, Ordering::Release);
    }

    /// Whether close has begun.
    pub(crate) fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    /// Whether close has let go of the store.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// A thread died (`why`): from now on every gate answers `Internal`. `false` if the
    /// manager was broken already.
    pub(crate) fn break_down(&self, why: String) -> bool {
        let mut b = self.broken.lock();
        if b.is_some() {
            return false;
        }
        *b = Some(why);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closing_stops_new_work_closed_stops_everything_broken_is_internal() {
        let life = Lifecycle::default();
        assert!(life.pass(Gate::Running).is_ok() && life.pass(Gate::Open).is_ok());
        assert!(life.break_down("the sync thread stopped".into()));
        assert!(!life.break_down("again".into()), "the first reason stays");
        assert!(matches!(life.pass(Gate::Open), Err(Error::Internal(m)) if m.contains("sync")));
        assert!(life.begin_close());
        assert!(!life.begin_close(), "once");
        assert!(matches!(life.pass(Gate::Running), Err(Error::Closed(_))));
        assert!(matches!(life.pass(Gate::Open), Err(Error::Internal(_))));
        life.set_closed();
        assert!(matches!(life.pass(Gate::Open), Err(Error::Closed(_))));
    }
}
