//! One background fetch: its state machine ([`crate::fetch_state::FetchState`]) behind a mutex,
//! and what the machine's answers ask for: waking waiters, writing the state file, settling.
//!
//! Split by caller: the host's view (`view`: counters, states, abort, wait, pause, release),
//! its progress listeners (`listeners`), reading records and bodies (`reading`, and the
//! [`Record`] and [`Response`] types in `records`), the worker's handle of one record
//! (`job`: [`RecordJob`]), and settling (`settle`: what the state machine's answers ask for,
//! and what the manager asks at open, offline and close).
//!
//! About threads: a [`Registration`] is shared (`Arc`) by the manager, the workers running its
//! transfers, the event thread and every host handle. All state sits behind one mutex that is
//! never held while host code runs or while the network or the disk is waited on (state-file
//! writes are serialized by a second lock, outside the first).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::cancel::CancelToken;
use crate::config::Config;
use crate::delivery::DeliveryFlags;
use crate::error::{Error, Result};
use crate::fetch_state::FetchState;
use crate::gate::Gate;
use crate::store::{RecordLog, Store, StoredState};

pub use crate::fetch_state::{ExpectedTotal, RecordStatus, Snapshot};
pub use crate::web_enum::{FailureReason, FetchResult, RecordState};

/// Which completion event a settled fetch gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// `backgroundfetchsuccess`
    Success,
    /// `backgroundfetchfail`
    Fail,
    /// `backgroundfetchabort`
    Abort,
}

/// A progress callback: called with the registration on the event thread (or in `dispatch`).
pub type ProgressCallback = Arc<dyn Fn(&Arc<Registration>) + Send + Sync>;

/// The engine that runs a registration: what a registration asks of the manager's machinery
/// (the store, the quota, the workers, the event thread). The manager implements it; this
/// module never imports the manager (the modules form layers: the manager is above).
pub(crate) trait Engine: Send + Sync {
    /// The store.
    fn store(&self) -> &Store;
    /// The configuration.
    fn config(&self) -> &Config;
    /// Whether a call may go on (the one gate of every entry point): `Closed` once the
    /// manager is closing (for [`Gate::Running`]) or closed, `Internal` once a thread died.
    fn gate(&self, gate: Gate) -> Result<()>;
    /// Close has begun: blocking calls end with `Closed`.
    fn is_closing(&self) -> bool;
    /// The host set the manager offline.
    fn is_offline(&self) -> bool;
    /// A thread of the manager died of a panic: every fetch fails, calls are `Internal`.
    fn thread_died(&self, what: &str);
    /// Reserves `n` bytes of the quota; `false` if they do not fit.
    fn reserve_quota(&self, n: u64) -> bool;
    /// Gives `n` bytes back to the quota.
    fn release_quota(&self, n: u64);
    /// A problem for `bgfetch_manager_problems`.
    fn report_problem(&self, msg: String);
    /// Takes the released `reg` out of the manager and its directory out of the store (under
    /// the id table's lock); returns where the directory went, for deletion.
    fn detach(&self, reg: &Arc<Registration>) -> Result<std::path::PathBuf>;
    /// Runs `add` (adding a progress listener to `reg`) unless close has begun, so that close
    /// lets go of every listener.
    fn listening(&self, reg: &Arc<Registration>, add: &mut dyn FnMut()) -> Result<()>;
    /// `reg` has requests to run: hand its slots to the workers.
    fn kick(&self, reg: &Arc<Registration>);
    /// `work` of `reg` (a record, or a range of its split body) is tried again at `due` (the
    /// delay queue).
    fn retry_at(&self, reg: &Arc<Registration>, work: Work, due: Instant);
    /// Asks the event thread for a progress callback of `reg` (coalesced).
    fn request_progress(&self, reg: &Arc<Registration>);
    /// Asks the event thread for one call of `reg`'s progress listener `id` alone.
    fn greet_listener(&self, reg: &Arc<Registration>, id: u64);
    /// `reg` settled: the event thread delivers its final progress and completion event.
    fn send_settled(&self, reg: &Arc<Registration>);
    /// `reg` settled in an earlier session: its event waits for an event callback.
    fn hold_event(&self, reg: Arc<Registration>);
    /// Whether callbacks run on the event thread (THREAD dispatch).
    fn events_threaded(&self) -> bool;
    /// Whether this is the event thread.
    fn on_event_thread(&self) -> bool;
    /// Waits until no progress callback runs (unless called from one).
    fn wait_for_callbacks(&self);
}

/// One background fetch. Obtain it from [`crate::Manager::fetch`] or [`crate::Manager::get`].
pub struct Registration {
    id: String,
    key: String,
    pub(crate) engine: Weak<dyn Engine>,
    state: Mutex<FetchState>,
    /// Signalled when a record changes (head, body bytes, outcome), but only while some
    /// thread waits on it (`record_waiters`): a host blocked in `wait` is not woken per chunk.
    changed: Condvar,
    record_waiters: AtomicUsize,
    /// Signalled when the fetch settles (and its state is stored) or the manager closes.
    settled: Condvar,
    cancel: Arc<CancelToken>,
    persist_lock: Mutex<()>,
    /// The progress listeners: one per host handle that set a callback (id > 0), and the
    /// registration's own (id 0, [`Registration::set_progress_callback`]).
    progress_listeners: Mutex<Vec<Listener>>,
    next_listener: AtomicU64,
    /// The event machinery's delivery state of this fetch (only `events` changes it; `wait`
    /// reads whether the final progress callbacks have returned).
    delivery: DeliveryFlags,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("id", &self.id)
            .field("snapshot", &self.snapshot())
            .finish_non_exhaustive()
    }
}

/// A progress listener: a host handle's callback (id > 0) or the registration's own (id 0).
#[derive(Clone)]
struct Listener {
    id: u64,
    cb: ProgressCallback,
    /// It was called (its first call, with the current values, is then done).
    called: bool,
}

/// Why a transfer must stop writing.
#[derive(Debug)]
pub(crate) enum Stop {
    /// The fetch settled (abort, quota, download total) or the manager is closing.
    Stopped,
}

fn wait_deadline(timeout: Option<Duration>) -> Option<Instant> {
    timeout.map(|t| Instant::now() + t)
}

impl Registration {
    /// The registration of a stored fetch (a new one, or one found at open) under `key`, with
    /// the heads and the stored body sizes (length, complete) of its records.
    pub(crate) fn from_stored(
        key: String,
        engine: Weak<dyn Engine>,
        stored: &StoredState,
        log: RecordLog,
        sizes: Vec<(u64, bool)>,
    ) -> Arc<Registration> {
        let id = stored.id.clone();
        let state = FetchState::from_stored(stored, log, sizes);
        // A fetch restored settled gets no final progress in this session.
        let settled = state.settled();
        Arc::new(Registration {
            id,
            key,
            engine,
            state: Mutex::new(state),
            changed: Condvar::new(),
            record_waiters: AtomicUsize::new(0),
            settled: Condvar::new(),
            cancel: CancelToken::new(),
            persist_lock: Mutex::new(()),
            progress_listeners: Mutex::new(Vec::new()),
            next_listener: AtomicU64::new(1),
            delivery: DeliveryFlags::new(settled),
        })
    }

    /// The fetch id.
    pub fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    /// The engine, through the gate of a call that reads (`Closed` once the manager closed,
    /// `Internal` once a thread of it died).
    pub(crate) fn engine(&self) -> Result<Arc<dyn Engine>> {
        self.engine_through(Gate::Open)
    }

    /// The engine, through `gate`.
    pub(crate) fn engine_through(&self, gate: Gate) -> Result<Arc<dyn Engine>> {
        let engine = self
            .engine
            .upgrade()
            .ok_or_else(|| Error::Closed("the manager is closed".into()))?;
        engine.gate(gate)?;
        Ok(engine)
    }

    /// Whether a blocking call must end now: `Closed` once close began, `Internal` once a
    /// thread of the manager died.
    fn blocking_must_end(&self) -> Result<()> {
        self.engine_through(Gate::Running).map(drop)
    }

    /// One wait on a condvar, bounded so that a closed manager is noticed.
    fn wait_step(
        cv: &Condvar,
        s: &mut MutexGuard<'_, FetchState>,
        deadline: Option<Instant>,
    ) -> Result<()> {
        let step = Duration::from_millis(200);
        let limit = match deadline {
            None => step,
            Some(d) => {
                let now = Instant::now();
                if now >= d {
                    return Err(Error::Timeout("the wait timed out".into()));
                }
                (d - now).min(step)
            }
        };
        cv.wait_for(s, limit);
        Ok(())
    }

    /// Waits for a record to change (the state lock is held, so no change is missed).
    fn wait_record(
        &self,
        s: &mut MutexGuard<'_, FetchState>,
        deadline: Option<Instant>,
    ) -> Result<()> {
        self.record_waiters.fetch_add(1, Ordering::SeqCst);
        let r = Self::wait_step(&self.changed, s, deadline);
        self.record_waiters.fetch_sub(1, Ordering::SeqCst);
        r
    }

    /// Wakes the threads waiting for a record to change, if there are any.
    fn notify_records(&self) {
        if self.record_waiters.load(Ordering::SeqCst) > 0 {
            self.changed.notify_all();
        }
    }

    /// Wakes every waiter (settled, released, closing).
    pub(crate) fn notify_all(&self) {
        self.changed.notify_all();
        self.settled.notify_all();
    }

    /// Wakes the threads in [`Registration::wait`] to look again (the event thread calls it
    /// once the final progress callbacks have returned).
    pub(crate) fn wake_settled_waiters(&self) {
        let _s = self.state.lock();
        self.settled.notify_all();
    }

    /// The event machinery's delivery state of this fetch.
    pub(crate) fn delivery(&self) -> &DeliveryFlags {
        &self.delivery
    }
}

mod job;
mod listeners;
mod reading;
mod settle;
mod view;

pub(crate) use crate::fetch_state::Work;
pub(crate) use job::RecordJob;
pub use listeners::ProgressListener;
mod records;
pub use records::{Record, Response};

#[cfg(test)]
pub(crate) mod fake;
#[cfg(test)]
mod tests;
