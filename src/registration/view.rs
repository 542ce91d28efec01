//! The host's view of a fetch: its counters and states (read live), and what the host does to
//! it: abort, wait, updateUI, pause and resume, release.

use std::sync::Arc;
use std::time::Duration;

use super::{wait_deadline, Registration};
use crate::error::{Error, Result};
use crate::fetch_state::{ExpectedTotal, Snapshot};
use crate::gate::Gate;
use crate::request::Icon;
use crate::web_enum::{FailureReason, RecordState};

impl Registration {
    /// All counters at once.
    pub fn snapshot(&self) -> Snapshot {
        self.state.lock().snapshot()
    }

    /// The title.
    pub fn title(&self) -> Option<String> {
        self.state.lock().title().map(str::to_string)
    }

    /// The icons.
    pub fn icons(&self) -> Vec<Icon> {
        self.state.lock().icons().to_vec()
    }

    /// Number of records.
    pub fn record_count(&self) -> usize {
        self.state.lock().records().len()
    }

    /// What the fetch is doing now: settled, [`RecordState::Done`] (success) or
    /// [`RecordState::Failed`]; else the most alive state of its pending records, in the
    /// order active, queued, retry-wait, offline, paused.
    pub fn state(&self) -> RecordState {
        self.state.lock().state()
    }

    /// The latest failed attempt's message of any of its records, `None` if none failed since
    /// that record last made progress.
    pub fn last_error(&self) -> Option<String> {
        self.state.lock().last_error().map(str::to_string)
    }

    /// The body bytes the fetch expects: the sum of the lengths its response heads gave
    /// (Content-Length, Content-Range), and whether every record's is known.
    pub fn expected_total(&self) -> ExpectedTotal {
        self.state.lock().expected_total()
    }

    /// Aborts the fetch. `true` if it was still running and is now aborted.
    pub fn abort(self: &Arc<Self>) -> Result<bool> {
        let engine = self.engine()?;
        Ok(self.fail_now(&*engine, FailureReason::Aborted))
    }

    /// Waits until `result` is set and stored. `None` waits forever. In THREAD dispatch it
    /// also waits until the final progress callbacks have returned (unless called on the
    /// event thread, which runs them).
    pub fn wait(&self, timeout: Option<Duration>) -> Result<()> {
        let engine = self.engine()?;
        let callbacks_first = engine.events_threaded() && !engine.on_event_thread();
        drop(engine);
        let deadline = wait_deadline(timeout);
        let mut s = self.state.lock();
        while !s.settled_and_stored() || (callbacks_first && !self.delivery.final_returned()) {
            self.blocking_must_end()?;
            Self::wait_step(&self.settled, &mut s, deadline)?;
        }
        drop(s);
        // A fetch that settled because a thread of the manager died (it fails them all, after
        // marking the manager broken) is waited for with `Internal`, as every call from then on.
        match self.engine.upgrade() {
            Some(engine) => engine.gate(Gate::Open),
            None => Ok(()),
        }
    }

    /// Replaces the title and icons (persisted).
    pub fn update_ui(&self, title: Option<&str>, icons: Option<&[Icon]>) -> Result<()> {
        let engine = self.engine()?;
        {
            self.state.lock().update_ui(title, icons)?;
        }
        self.persist(&*engine)
    }

    /// Releases the records: storage freed, `get` no longer finds the id, the completion event
    /// is not delivered again. `InvalidState` while the fetch is running.
    ///
    /// Either it takes effect whole or, on an error, not at all. Safe against every other call
    /// at the same time, a `fetch` of the same id included: the directory leaves the store
    /// under the id table's lock, after the last worker of this fetch let go of its files.
    pub fn release(self: &Arc<Self>) -> Result<()> {
        let engine = self.engine()?;
        {
            let mut s = self.state.lock();
            s.check_releasable()?;
            // A stopping transfer or the sync thread may still write this fetch's files.
            while s.busy() {
                if engine.is_closing() {
                    return Err(Error::Closed("the manager is closing".into()));
                }
                self.wait_record(&mut s, None)?;
            }
        }
        let persisting = self.persist_lock.lock();
        let freed = {
            let mut s = self.state.lock();
            if s.released() {
                return Ok(()); // released by another call meanwhile
            }
            // Under the state lock: a reader sees the records either whole or released.
            let trash = engine.detach(self)?;
            let held = s.release().unwrap_or(0);
            (trash, held)
        };
        let (trash, freed) = freed;
        engine.release_quota(freed);
        drop(persisting);
        self.notify_all();
        if let Err(e) = engine.store().delete_detached(&trash) {
            // Released all the same: the next open deletes what is left.
            engine.report_problem(format!("fetch {:?}: {e}", self.id));
        }
        Ok(())
    }

    /// Pauses the fetch (the spec's paused flag; durable). Its transfers stop now (GET keeps
    /// its bytes and resumes with `Range`); it holds no connection until resumed. Bytes a
    /// transfer had already received are still stored: the byte counters may grow by up to
    /// one read per connection after this returns. Pausing a
    /// paused fetch is fine; `InvalidState` once settled.
    pub fn pause(self: &Arc<Self>) -> Result<()> {
        self.set_paused(true)
    }

    /// Resumes a paused fetch (fine if it is not paused); `InvalidState` once settled.
    pub fn resume(self: &Arc<Self>) -> Result<()> {
        self.set_paused(false)
    }

    /// Whether the fetch is paused.
    pub fn paused(&self) -> bool {
        self.state.lock().paused()
    }

    fn set_paused(self: &Arc<Self>, paused: bool) -> Result<()> {
        let engine = self.engine()?;
        {
            let mut s = self.state.lock();
            if !s.set_paused(paused)? {
                return Ok(());
            }
            self.cancel.hold(paused || engine.is_offline());
        }
        self.persist(&*engine)?;
        if !paused {
            engine.kick(self);
        }
        self.mark_progress(&*engine);
        Ok(())
    }
}
