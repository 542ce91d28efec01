//! Progress listeners: the host's progress callbacks of one fetch (one per host handle, and the
//! registration's own), how they are added and removed, and how the event thread runs them.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{Listener, ProgressCallback, Registration};
use crate::error::Result;

impl Registration {
    /// Sets (or clears) the registration's own progress callback (listener 0; more listeners,
    /// each with a lifetime of its own, come from [`Registration::add_progress_listener`]). When this
    /// returns, the previous callback is not running (unless this is called from inside it)
    /// and will never be called again. A callback set is called once at once with the current
    /// values (also when the fetch has settled), then on every change.
    pub fn set_progress_callback(self: &Arc<Self>, cb: Option<ProgressCallback>) -> Result<()> {
        self.remove_progress_listener(0);
        if let Some(cb) = cb {
            self.insert_listener(0, cb)?;
        }
        Ok(())
    }

    /// Adds a progress listener (called once at once with the current values, then on every
    /// change, as [`Registration::set_progress_callback`]'s) for as long as the returned guard
    /// lives: dropping it removes the listener. `Closed` once the manager is closing.
    pub fn add_progress_listener(
        self: &Arc<Self>,
        cb: ProgressCallback,
    ) -> Result<ProgressListener> {
        let id = self.next_listener.fetch_add(1, Ordering::Relaxed);
        self.insert_listener(id, cb)?;
        Ok(ProgressListener {
            reg: self.clone(),
            id,
        })
    }

    /// Adds listener `id`, and has it called once at once with the current values (also for a
    /// settled fetch: a host that sets it late never misses the final state).
    fn insert_listener(self: &Arc<Self>, id: u64, cb: ProgressCallback) -> Result<()> {
        let engine = self.engine()?;
        // Under the manager's list of listening registrations, so that close lets go of it.
        let mut cb = Some(cb);
        engine.listening(self, &mut || {
            if let Some(cb) = cb.take() {
                self.progress_listeners.lock().push(Listener {
                    id,
                    cb,
                    called: false,
                });
            }
        })?;
        engine.greet_listener(self, id);
        Ok(())
    }

    /// Removes a progress listener. When this returns it is not running (unless this is
    /// called from inside it) and never runs again; the callback is dropped then, on this
    /// thread (or, from inside it, on the event thread once it returns).
    fn remove_progress_listener(&self, id: u64) {
        let removed: Vec<Listener> = {
            let mut l = self.progress_listeners.lock();
            let (gone, kept) = std::mem::take(&mut *l)
                .into_iter()
                .partition(|l| l.id == id);
            *l = kept;
            gone
        };
        if removed.is_empty() {
            return;
        }
        if let Some(engine) = self.engine.upgrade() {
            engine.wait_for_callbacks();
        }
        drop(removed);
    }

    /// Drops every progress listener (the manager closes; their finalizers run).
    pub(crate) fn clear_progress_listeners(&self) {
        let removed = std::mem::take(&mut *self.progress_listeners.lock());
        drop(removed);
    }

    /// Runs every progress listener once (event thread or dispatch, under the callback gate),
    /// or, with `first_of`, that listener's first call, unless it was called already. A
    /// listener removed by an earlier one in this round (from inside it) is not run. Returns
    /// how many callbacks ran.
    pub(crate) fn run_progress_listeners(self: &Arc<Self>, first_of: Option<u64>) -> u32 {
        let listeners: Vec<Listener> = self.progress_listeners.lock().clone();
        let chosen = listeners
            .into_iter()
            .filter(|l| first_of.is_none_or(|id| id == l.id));
        let mut ran = 0;
        for l in chosen {
            // Still there, and (for a first call) not called since it was added.
            let due = {
                let mut all = self.progress_listeners.lock();
                let entry = all.iter_mut().find(|e| e.id == l.id);
                entry.is_some_and(|e| {
                    let due = first_of.is_none() || !e.called;
                    e.called = true;
                    due
                })
            };
            if due {
                crate::panic::contain("progress callback", || (l.cb)(self));
                ran += 1;
            }
        }
        ran
    }
}

/// A progress listener of a registration ([`Registration::add_progress_listener`]): while it
/// lives, its callback is called on every change. Dropping it removes the listener: when the
/// drop returns, the callback is not running (unless dropped from inside it) and never runs
/// again, and it has been dropped (on this thread, or from inside it on the event thread once
/// it returns).
pub struct ProgressListener {
    reg: Arc<Registration>,
    id: u64,
}

impl std::fmt::Debug for ProgressListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProgressListener")
            .field("fetch", &self.reg.id())
            .field("id", &self.id)
            .finish()
    }
}

impl Drop for ProgressListener {
    fn drop(&mut self) {
        self.reg.remove_progress_listener(self.id);
    }
}
