//! Settling: carrying out what the state machine answers (waking waiters, writing the state file,
//! the final progress and the completion event), failing the fetch, and what the manager asks at
//! open, when going offline, when a thread dies and at close.

use std::sync::Arc;
use std::time::Instant;

use super::{Engine, EventType, Registration};
use crate::error::Result;
use crate::fetch_state::Next;
use crate::web_enum::{FailureReason, FetchResult};

impl Registration {
    /// Carries out what the state machine answered.
    pub(super) fn carry_out(self: &Arc<Self>, engine: &dyn Engine, next: Next) {
        match next {
            Next::Nothing => {}
            Next::Wake => self.notify_records(),
            Next::Progress => {
                self.notify_records();
                self.mark_progress(engine);
            }
            Next::Settle => {
                self.notify_records();
                self.after_settle(engine);
            }
            Next::SaveState => {
                if let Err(e) = self.persist(engine) {
                    engine.report_problem(format!("fetch {:?}: state not saved: {e}", self.id));
                }
                self.notify_records();
            }
        }
    }

    /// Fails the fetch now with `reason` (abort, quota, download total): every unfinished
    /// record becomes aborted and the transfers stop. `false` if it had already settled.
    pub(crate) fn fail_now(self: &Arc<Self>, engine: &dyn Engine, reason: FailureReason) -> bool {
        if !self.state.lock().fail_now(reason) {
            return false;
        }
        self.cancel.cancel();
        self.notify_all();
        let settle = self.state.lock().take_settle();
        if settle {
            self.after_settle(engine);
        }
        true
    }

    /// The manager went offline (`true`) or back online: transfers stop or may run again,
    /// and the retry clocks of the waiting records stand still while offline.
    pub(crate) fn set_offline(&self, offline: bool) {
        let mut s = self.state.lock();
        s.set_offline(offline, Instant::now());
        self.cancel.hold(offline || s.paused());
    }

    /// A thread of the manager died (a bug): the fetch fails now, visibly, whatever its records
    /// were doing (nothing would ever complete them).
    pub(crate) fn fail_broken(self: &Arc<Self>, engine: &dyn Engine, why: &str) {
        let settle = self.state.lock().fail_broken(why);
        self.cancel.cancel();
        self.notify_all();
        if settle {
            self.after_settle(engine);
        }
    }

    /// Settles a fetch restored with every record finished.
    pub(crate) fn settle_recovered(self: &Arc<Self>, engine: &dyn Engine) {
        self.state.lock().settle_recovered();
        if let Err(e) = self.persist(engine) {
            engine.report_problem(format!("fetch {:?}: state not saved: {e}", self.id));
        }
        self.state.lock().set_settled_durable();
        // No final progress in this session: its completion event waits for a callback.
        engine.hold_event(self.clone());
    }

    /// How a fetch restored at open stands: its result and how many records are unfinished.
    pub(crate) fn restored_status(&self) -> (FetchResult, usize) {
        self.state.lock().restored_status()
    }

    /// How many worker slots the fetch can use now (its running and its queued transfers).
    pub(crate) fn slots_wanted(&self) -> usize {
        self.state.lock().slots_wanted()
    }

    /// Stops every transfer of this fetch for good (close).
    pub(crate) fn cancel_transfers(&self) {
        self.cancel.cancel();
    }

    /// Whether the fetch has a result (`Some`) and, if so, whether it settled with its final
    /// state stored (`Some(true)`: every record ended).
    pub(crate) fn result_stored(&self) -> Option<bool> {
        let s = self.state.lock();
        s.settled().then(|| s.settled_and_stored())
    }

    /// Deletes the partial bodies of records that ended without their body (aborted or
    /// failed): they can never be read or resumed once the fetch settled. Frees the disk
    /// when it was full.
    fn remove_stopped_parts(&self, engine: &dyn Engine) {
        let stopped = self.state.lock().stopped_parts();
        for i in stopped {
            engine.store().remove_body(&self.key, i);
        }
    }

    pub(super) fn after_settle(self: &Arc<Self>, engine: &dyn Engine) {
        // The final state must reach the disk, or the fetch would run again at the next open
        // (two completion events for one fetch): if the disk is full, the partial bodies of
        // the stopped records make room.
        let saved = self.persist(engine).or_else(|_| {
            self.remove_stopped_parts(engine);
            self.persist(engine)
        });
        if let Err(e) = saved {
            // A stopping transfer may still hold a removed partial body open: the space
            // comes back when it lets go, and the state is written then.
            let deferred = self.state.lock().defer_save();
            if !deferred {
                engine.report_problem(format!("fetch {:?}: state not saved: {e}", self.id));
            }
        }
        engine.store().close_head_log(&self.key);
        self.state.lock().set_settled_durable();
        self.notify_all();
        engine.send_settled(self);
    }

    /// The completion event this settled fetch gets.
    pub(crate) fn event_type(&self) -> Option<EventType> {
        match self.state.lock().outcome()? {
            (FetchResult::Success, _) => Some(EventType::Success),
            (_, FailureReason::Aborted) => Some(EventType::Abort),
            _ => Some(EventType::Fail),
        }
    }

    /// Writes the state file (serialized: the last snapshot taken is the last written).
    pub(crate) fn persist(&self, engine: &dyn Engine) -> Result<()> {
        let _g = self.persist_lock.lock();
        let stored = {
            let s = self.state.lock();
            if s.released() {
                return Ok(());
            }
            s.to_stored(&self.id)
        };
        engine.store().save_state(&self.key, &stored)
    }

    /// A completion event's callback starts: the event is active (updateUI may run once).
    pub(crate) fn begin_event(&self) {
        self.state.lock().set_event_active(true);
    }

    /// The completion event's callback returned: the event is no longer active.
    pub(crate) fn end_event(&self) {
        self.state.lock().set_event_active(false);
    }

    /// Asks the event thread for a progress callback (it coalesces them).
    pub(crate) fn mark_progress(self: &Arc<Self>, engine: &dyn Engine) {
        engine.request_progress(self);
    }
}
