//! One background fetch: its state machine ([`crate::fetch_state::FetchState`]) behind a mutex,
//! and what the machine's answers ask for: waking waiters, writing the state file, settling.
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
use crate::fetch_state::{FetchState, Next, Reserve};
use crate::head::ResponseHead;
use crate::outcome::Outcome;
use crate::record::{matches, Query, QueryOptions};
use crate::request::Icon;
use crate::store::{Store, StoredRequest, StoredState};

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

/// What a registration asks of the manager that runs it. The manager implements it; this
/// module never imports the manager (the modules form layers: the manager is above).
pub(crate) trait Host: Send + Sync {
    /// The store.
    fn store(&self) -> &Store;
    /// The configuration.
    fn config(&self) -> &Config;
    /// Close has begun: blocking calls end with `Closed`.
    fn is_closing(&self) -> bool;
    /// Close has let go of the store: every call is `Closed`.
    fn is_closed(&self) -> bool;
    /// The host set the manager offline.
    fn is_offline(&self) -> bool;
    /// `Internal` once a thread of the manager died.
    fn check_threads(&self) -> Result<()>;
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
    /// Record `index` of `reg` is tried again at `due` (the delay queue).
    fn retry_at(&self, reg: &Arc<Registration>, index: usize, due: Instant);
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
    pub(crate) shared: Weak<dyn Host>,
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
        shared: Weak<dyn Host>,
        stored: &StoredState,
        heads: Vec<Option<ResponseHead>>,
        sizes: Vec<(u64, bool)>,
    ) -> Arc<Registration> {
        let id = stored.id.clone();
        let state = FetchState::from_stored(stored, heads, sizes);
        // A fetch restored settled gets no final progress in this session.
        let settled = state.settled();
        Arc::new(Registration {
            id,
            key,
            shared,
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

    /// What record `index` is doing now, and, if it waits, for what and until when.
    pub fn record_status(&self, index: usize) -> RecordStatus {
        self.state.lock().record_status(index, Instant::now())
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

    pub(crate) fn shared(&self) -> Result<Arc<dyn Host>> {
        match self.shared.upgrade() {
            Some(s) if !s.is_closed() => {
                s.check_threads()?;
                Ok(s)
            }
            _ => Err(Error::Closed(
                "the manager of this registration is closed".into(),
            )),
        }
    }

    /// Whether a blocking call must end now: `Closed` once close began, `Internal` once a
    /// thread of the manager died.
    fn blocking_must_end(&self) -> Result<()> {
        match self.shared.upgrade() {
            Some(sh) if !sh.is_closing() => sh.check_threads(),
            _ => Err(Error::Closed("the manager was closed".into())),
        }
    }

    /// Aborts the fetch. `true` if it was still running and is now aborted.
    pub fn abort(self: &Arc<Self>) -> Result<bool> {
        let shared = self.shared()?;
        Ok(self.fail_now(&*shared, FailureReason::Aborted))
    }

    /// Waits until `result` is set and stored. `None` waits forever. In THREAD dispatch it
    /// also waits until the final progress callbacks have returned (unless called on the
    /// event thread, which runs them).
    pub fn wait(&self, timeout: Option<Duration>) -> Result<()> {
        let shared = self.shared()?;
        let callbacks_first = shared.events_threaded() && !shared.on_event_thread();
        drop(shared);
        let deadline = wait_deadline(timeout);
        let mut s = self.state.lock();
        while !s.settled_and_stored() || (callbacks_first && !self.delivery.final_returned()) {
            self.blocking_must_end()?;
            Self::wait_step(&self.settled, &mut s, deadline)?;
        }
        drop(s);
        // A fetch that settled because a thread of the manager died (it fails them all, after
        // marking the manager broken) is waited for with `Internal`, as every call from then on.
        match self.shared.upgrade() {
            Some(sh) => sh.check_threads(),
            None => Ok(()),
        }
    }

    /// Wakes the threads in [`Registration::wait`] to look again (the event thread calls it
    /// once the final progress callbacks have returned).
    pub(crate) fn wake_settled_waiters(&self) {
        let _s = self.state.lock();
        self.settled.notify_all();
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

    /// Replaces the title and icons (persisted).
    pub fn update_ui(&self, title: Option<&str>, icons: Option<&[Icon]>) -> Result<()> {
        let shared = self.shared()?;
        {
            self.state.lock().update_ui(title, icons)?;
        }
        self.persist(&*shared)
    }

    /// Sets (or clears) the registration's own progress callback (listener 0; host handles
    /// add listeners of their own with [`Registration::add_progress_listener`]). When this
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

    /// Adds a progress listener; returns its id for [`Registration::remove_progress_listener`].
    /// `Closed` once the manager is closing.
    pub fn add_progress_listener(self: &Arc<Self>, cb: ProgressCallback) -> Result<u64> {
        let id = self.next_listener.fetch_add(1, Ordering::Relaxed);
        self.insert_listener(id, cb)?;
        Ok(id)
    }

    /// Adds listener `id`, and has it called once at once with the current values (also for a
    /// settled fetch: a host that sets it late never misses the final state).
    fn insert_listener(self: &Arc<Self>, id: u64, cb: ProgressCallback) -> Result<()> {
        let shared = self.shared()?;
        // Under the manager's list of listening registrations, so that close lets go of it.
        let mut cb = Some(cb);
        shared.listening(self, &mut || {
            if let Some(cb) = cb.take() {
                self.progress_listeners.lock().push(Listener {
                    id,
                    cb,
                    called: false,
                });
            }
        })?;
        shared.greet_listener(self, id);
        Ok(())
    }

    /// Removes a progress listener. When this returns it is not running (unless this is
    /// called from inside it) and never runs again; the callback is dropped then, on this
    /// thread (or, from inside it, on the event thread once it returns).
    pub fn remove_progress_listener(&self, id: u64) {
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
        if let Some(shared) = self.shared.upgrade() {
            shared.wait_for_callbacks();
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
    /// listener removed by an earlier one in this round (from inside it) is not run.
    pub(crate) fn run_progress_listeners(self: &Arc<Self>, first_of: Option<u64>) {
        let listeners: Vec<Listener> = self.progress_listeners.lock().clone();
        let chosen = listeners
            .into_iter()
            .filter(|l| first_of.is_none_or(|id| id == l.id));
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
            }
        }
    }

    /// A completion event's callback starts: the event is active (updateUI may run once).
    pub(crate) fn begin_event(&self) {
        self.state.lock().set_event_active(true);
    }

    /// The completion event's callback returned: the event is no longer active.
    pub(crate) fn end_event(&self) {
        self.state.lock().set_event_active(false);
    }

    /// Releases the records: storage freed, `get` no longer finds the id, the completion event
    /// is not delivered again. `InvalidState` while the fetch is running.
    ///
    /// Either it takes effect whole or, on an error, not at all. Safe against every other call
    /// at the same time, a `fetch` of the same id included: the directory leaves the store
    /// under the id table's lock, after the last worker of this fetch let go of its files.
    pub fn release(self: &Arc<Self>) -> Result<()> {
        let shared = self.shared()?;
        {
            let mut s = self.state.lock();
            s.check_releasable()?;
            // A stopping transfer or the sync thread may still write this fetch's files.
            while s.busy() {
                if shared.is_closing() {
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
            let trash = shared.detach(self)?;
            let held = s.release().unwrap_or(0);
            (trash, held)
        };
        let (trash, freed) = freed;
        shared.release_quota(freed);
        drop(persisting);
        self.notify_all();
        if let Err(e) = shared.store().delete_detached(&trash) {
            // Released all the same: the next open deletes what is left.
            shared.report_problem(format!("fetch {:?}: {e}", self.id));
        }
        Ok(())
    }

    /// Indexes of the records that match, in request order.
    pub fn match_all(&self, query: Option<&Query>, opts: QueryOptions) -> Result<Vec<usize>> {
        self.shared()?;
        let s = self.state.lock();
        s.check_available()?;
        Ok(s.records()
            .iter()
            .enumerate()
            .filter(|(_, r)| query.is_none_or(|q| matches(q, r, opts)))
            .map(|(i, _)| i)
            .collect())
    }

    /// The request of record `index`.
    pub fn record_request(&self, index: usize) -> crate::record::RecordRequest {
        let req = self.stored_request(index);
        crate::record::RecordRequest {
            url: req.url.clone(),
            method: req.method.clone(),
            headers: req.headers.clone(),
            body_len: req.body_len.unwrap_or(0),
        }
    }

    /// The stored request of record `index` (shared, not copied).
    pub(crate) fn stored_request(&self, index: usize) -> Arc<StoredRequest> {
        self.state.lock().record(index).request.clone()
    }

    /// Reads the stored request body of record `index` at `offset` (the record's request
    /// includes its body). Returns 0 at its end, or for a request without a body.
    /// `InvalidState` once the records are released.
    pub fn read_request_body(&self, index: usize, offset: u64, buf: &mut [u8]) -> Result<usize> {
        use std::os::unix::fs::FileExt;
        let shared = self.shared()?;
        let len = {
            let s = self.state.lock();
            s.check_available()?;
            s.record(index).request.body_len.unwrap_or(0)
        };
        if offset >= len || buf.is_empty() {
            return Ok(0);
        }
        let want = buf
            .len()
            .min((len - offset).min(usize::MAX as u64) as usize);
        let path = shared.store().req_path(&self.key, index);
        let file =
            crate::store::open_read(&path).map_err(|e| Error::io("opening a request body", e))?;
        let n = file
            .read_at(&mut buf[..want], offset)
            .map_err(|e| Error::io("reading a request body", e))?;
        if n == 0 {
            return Err(Error::Io(format!(
                "the stored request body of record {index} is shorter than its {len} bytes"
            )));
        }
        Ok(n)
    }

    /// responseReady: waits until the head of record `index` is known.
    pub fn response_head(
        &self,
        index: usize,
        timeout: Option<Duration>,
    ) -> Result<Arc<ResponseHead>> {
        self.shared()?;
        let deadline = wait_deadline(timeout);
        let mut s = self.state.lock();
        loop {
            s.check_available()?;
            let rec = s.record(index);
            if rec.exposed {
                if let Some(h) = &rec.head {
                    return Ok(h.clone());
                }
            }
            match &rec.outcome {
                Outcome::Aborted => {
                    return Err(Error::Aborted(
                        "the fetch was aborted before this response".into(),
                    ))
                }
                Outcome::Failed(why) => return Err(Error::FetchFailed(why.clone())),
                Outcome::Done => {
                    return Err(Error::FetchFailed("the response head was lost".into()))
                }
                Outcome::Pending => {}
            }
            self.blocking_must_end()?;
            self.wait_record(&mut s, deadline)?;
        }
    }

    /// Body bytes of record `index` stored so far, and whether the body is complete.
    pub fn body_progress(&self, index: usize) -> (u64, bool) {
        let s = self.state.lock();
        let r = s.record(index);
        (r.stored, r.outcome == Outcome::Done)
    }

    /// Waits until the body of record `index` is complete.
    pub fn wait_body(&self, index: usize, timeout: Option<Duration>) -> Result<()> {
        self.shared()?;
        let deadline = wait_deadline(timeout);
        let mut s = self.state.lock();
        loop {
            s.check_available()?;
            match &s.record(index).outcome {
                Outcome::Done => return Ok(()),
                Outcome::Aborted => {
                    return Err(Error::Aborted(
                        "the fetch stopped before this body was complete".into(),
                    ))
                }
                Outcome::Failed(why) => return Err(Error::FetchFailed(why.clone())),
                Outcome::Pending => {}
            }
            self.blocking_must_end()?;
            self.wait_record(&mut s, deadline)?;
        }
    }

    /// The path the complete body of record `index` has (it exists once complete).
    pub fn body_path(&self, index: usize) -> Option<std::path::PathBuf> {
        let shared = self.shared.upgrade()?;
        Some(shared.store().body_path(&self.key, index))
    }

    /// Reads body bytes of record `index` at `offset`, blocking until they are stored or the body
    /// ends, up to `timeout` (`None`: no limit; then `Timeout`). Returns 0 at the end of a
    /// complete body.
    pub fn read_body(
        &self,
        index: usize,
        offset: u64,
        buf: &mut [u8],
        timeout: Option<Duration>,
    ) -> Result<usize> {
        use std::os::unix::fs::FileExt;
        if buf.is_empty() {
            return Ok(0);
        }
        let shared = self.shared()?;
        let deadline = wait_deadline(timeout);
        loop {
            let (first, second, avail) = {
                let mut s = self.state.lock();
                loop {
                    s.check_available()?;
                    let r = s.record(index);
                    if offset < r.stored {
                        // The sync thread renames `.part` to `.body` before the record is
                        // marked complete: look in the other place when the first is gone.
                        let body = shared.store().body_path(&self.key, index);
                        let part = shared.store().part_path(&self.key, index);
                        let avail = r.stored - offset;
                        break if r.outcome == Outcome::Done {
                            (body, part, avail)
                        } else {
                            (part, body, avail)
                        };
                    }
                    match &r.outcome {
                        Outcome::Done => return Ok(0),
                        Outcome::Aborted => {
                            return Err(Error::Aborted(
                                "the fetch stopped before this body was complete".into(),
                            ))
                        }
                        Outcome::Failed(why) => return Err(Error::FetchFailed(why.clone())),
                        Outcome::Pending => {}
                    }
                    self.blocking_must_end()?;
                    self.wait_record(&mut s, deadline)?;
                }
            };
            let seen = self.read_point(index);
            let want = buf.len().min(avail.min(usize::MAX as u64) as usize);
            for path in [&first, &second] {
                match crate::store::open_read(path) {
                    Ok(f) => {
                        let n = f
                            .read_at(&mut buf[..want], offset)
                            .map_err(|e| Error::io("reading a stored body", e))?;
                        if n > 0 {
                            return Ok(n);
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io("opening a stored body", e)),
                }
            }
            // No byte where the record says there are some. A restart from zero lowers the
            // stored count before it shrinks the file: if the record changed, look again.
            // A release that came in between makes the records unavailable.
            self.state.lock().check_available()?;
            if self.read_point(index) == seen {
                return Err(Error::Io(format!(
                    "the stored body of record {index} is missing or shorter than the {} bytes \
                     recorded (was it deleted or truncated outside the library?)",
                    seen.0
                )));
            }
        }
    }

    /// What a reader of record `index` relies on: its stored count and whether it is done.
    fn read_point(&self, index: usize) -> (u64, bool) {
        let s = self.state.lock();
        let r = s.record(index);
        (r.stored, r.outcome == Outcome::Done)
    }

    // ----- used by the scheduler and transfers -----

    /// Carries out what the state machine answered.
    fn carry_out(self: &Arc<Self>, shared: &dyn Host, next: Next) {
        match next {
            Next::Nothing => {}
            Next::Wake => self.notify_records(),
            Next::Progress => {
                self.notify_records();
                self.mark_progress(shared);
            }
            Next::Settle => {
                self.notify_records();
                self.after_settle(shared);
            }
            Next::SaveState => {
                if let Err(e) = self.persist(shared) {
                    shared.report_problem(format!("fetch {:?}: state not saved: {e}", self.id));
                }
                self.notify_records();
            }
        }
    }

    /// Takes the next record to transfer, or `None` (its state changes: progress is asked
    /// for).
    pub(crate) fn take_next(self: &Arc<Self>, shared: &dyn Host) -> Option<usize> {
        let held = self.cancel.is_held();
        let next = self.state.lock().take_next(held, Instant::now());
        if next.is_some() {
            self.mark_progress(shared);
        }
        next
    }

    /// Whether a slot should go on to another record.
    pub(crate) fn has_queued(&self) -> bool {
        let held = self.cancel.is_held();
        self.state.lock().has_queued(held)
    }

    /// The head known for record `index` (hidden or not), and its stored bytes.
    pub(crate) fn transfer_state(&self, index: usize) -> (Option<Arc<ResponseHead>>, u64) {
        let s = self.state.lock();
        let r = s.record(index);
        (r.head.clone(), r.stored)
    }

    /// Whether the transfer of record `index` must stop.
    pub(crate) fn must_stop(&self, index: usize) -> bool {
        self.cancel.is_held() || self.state.lock().must_stop(index)
    }

    /// The body of record `index` is complete and goes to the sync thread: `false` (and
    /// nothing marked) if the record ended meanwhile (the fetch failed while its last bytes
    /// were being written), so that no body is completed for an ended record.
    pub(crate) fn mark_syncing(&self, index: usize) -> bool {
        self.state.lock().mark_syncing(index)
    }

    /// Records the head of record `index`; `expose` is false while integrity is unchecked.
    pub(crate) fn set_head(&self, index: usize, head: Arc<ResponseHead>, expose: bool) {
        self.state.lock().set_head(index, head, expose);
        self.notify_records();
    }

    /// Discards the stored body of record `index` (a restart from zero).
    pub(crate) fn reset_body(self: &Arc<Self>, shared: &dyn Host, index: usize) {
        let freed = self.state.lock().reset_body(index);
        shared.release_quota(freed);
        self.mark_progress(shared);
    }

    /// Reserves `n` more body bytes for record `index`: checks the download total and the
    /// quota. On failure the fetch fails at once and nothing may be written.
    pub(crate) fn reserve(
        self: &Arc<Self>,
        shared: &dyn Host,
        index: usize,
        n: u64,
    ) -> std::result::Result<(), Stop> {
        let check = self.state.lock().check_reserve(index, n);
        match check {
            Reserve::Stopped => return Err(Stop::Stopped),
            Reserve::OverDownloadTotal => {
                self.fail_now(shared, FailureReason::DownloadTotalExceeded);
                return Err(Stop::Stopped);
            }
            Reserve::Allowed => {}
        }
        if !shared.reserve_quota(n) {
            self.fail_now(shared, FailureReason::QuotaExceeded);
            return Err(Stop::Stopped);
        }
        if !self.state.lock().add_reserved(index, n) {
            shared.release_quota(n);
            return Err(Stop::Stopped);
        }
        Ok(())
    }

    /// Undoes a reservation whose bytes could not be written.
    pub(crate) fn unreserve(&self, shared: &dyn Host, index: usize, n: u64) {
        let mut s = self.state.lock();
        if s.unreserve(index, n) {
            shared.release_quota(n);
        }
    }

    /// `n` reserved bytes of record `index` are now stored.
    pub(crate) fn commit(self: &Arc<Self>, shared: &dyn Host, index: usize, n: u64) {
        self.state.lock().commit(index, n, Instant::now());
        self.notify_records();
        self.mark_progress(shared);
    }

    /// Request body bytes of record `index` sent so far in this attempt.
    pub(crate) fn set_uploaded(self: &Arc<Self>, shared: &dyn Host, index: usize, sent: u64) {
        if self.state.lock().set_uploaded(index, sent) {
            self.mark_progress(shared);
        }
    }

    /// Record `index` ended. Settles the fetch when it was the last.
    pub(crate) fn finish(self: &Arc<Self>, shared: &dyn Host, index: usize, outcome: Outcome) {
        let next = self.state.lock().finish(index, outcome);
        self.carry_out(shared, next);
    }

    /// Fails the fetch now with `reason` (abort, quota, download total): every unfinished
    /// record becomes aborted and the transfers stop. `false` if it had already settled.
    pub(crate) fn fail_now(self: &Arc<Self>, shared: &dyn Host, reason: FailureReason) -> bool {
        if !self.state.lock().fail_now(reason) {
            return false;
        }
        self.cancel.cancel();
        self.notify_all();
        let settle = self.state.lock().take_settle();
        if settle {
            self.after_settle(shared);
        }
        true
    }

    /// A worker's transfer of record `index` ended (whatever the reason). A record the fetch
    /// kept for completion whose transfer ended without completing it is aborted now, and the
    /// fetch settles if it was the last.
    pub(crate) fn transfer_ended(self: &Arc<Self>, shared: &dyn Host, index: usize) {
        let next = self.state.lock().transfer_ended(index);
        self.carry_out(shared, next);
    }

    /// Record `index` failed an attempt with `kind` (the message `why` is its last error): per
    /// the retry policy it waits in the delay queue for its next attempt (holding no worker),
    /// or the retries are over.
    ///
    /// Returns `true` if the record waits for another attempt, `false` if the caller ends it.
    pub(crate) fn attempt_failed(
        self: &Arc<Self>,
        shared: &dyn Host,
        index: usize,
        (kind, why): (crate::retry::FailureKind, &str),
        retry_after: Option<Duration>,
    ) -> bool {
        let now = Instant::now();
        let jitter = crate::util::jitter(1_000_000) as f64 / 1_000_000.0;
        let decision = self.state.lock().attempt_failed(
            index,
            &shared.config().retry,
            (kind, why),
            now,
            jitter,
            retry_after,
        );
        let waits = match decision {
            Some(crate::retry::Decision::Retry { after }) => {
                shared.retry_at(self, index, now + after);
                true
            }
            Some(crate::retry::Decision::GiveUp) | None => false,
        };
        // Its state changed (retry-wait), or it is about to end.
        self.mark_progress(shared);
        waits
    }

    /// Record `index`'s wait for its next attempt is over: back into the queue.
    pub(crate) fn requeue(self: &Arc<Self>, shared: &dyn Host, index: usize) {
        if self.state.lock().requeue(index) {
            shared.kick(self);
            self.mark_progress(shared);
        }
    }

    /// Pauses the fetch (the spec's paused flag; durable). Its transfers stop now (GET keeps
    /// its bytes and resumes with `Range`); it holds no connection until resumed. Pausing a
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
        let shared = self.shared()?;
        {
            let mut s = self.state.lock();
            if !s.set_paused(paused)? {
                return Ok(());
            }
            self.cancel.hold(paused || shared.is_offline());
        }
        self.persist(&*shared)?;
        if !paused {
            shared.kick(self);
        }
        self.mark_progress(&*shared);
        Ok(())
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
    pub(crate) fn fail_broken(self: &Arc<Self>, shared: &dyn Host, why: &str) {
        let settle = self.state.lock().fail_broken(why);
        self.cancel.cancel();
        self.notify_all();
        if settle {
            self.after_settle(shared);
        }
    }

    /// Settles a fetch restored with every record finished.
    pub(crate) fn settle_recovered(self: &Arc<Self>, shared: &dyn Host) {
        self.state.lock().settle_recovered();
        if let Err(e) = self.persist(shared) {
            shared.report_problem(format!("fetch {:?}: state not saved: {e}", self.id));
        }
        self.state.lock().set_settled_durable();
        // No final progress in this session: its completion event waits for a callback.
        shared.hold_event(self.clone());
    }

    /// How a fetch restored at open stands: its result and how many records are unfinished.
    pub(crate) fn restored_status(&self) -> (FetchResult, usize) {
        self.state.lock().restored_status()
    }

    /// How many records wait in the queue for a worker.
    pub(crate) fn queued(&self) -> usize {
        self.state.lock().queued()
    }

    /// Stops every transfer of this fetch for good (close).
    pub(crate) fn cancel_transfers(&self) {
        self.cancel.cancel();
    }

    /// The token transfers of this fetch run under (held by pause and offline, cancelled by
    /// abort and close).
    pub(crate) fn cancel_token(&self) -> &Arc<CancelToken> {
        &self.cancel
    }

    /// Whether the fetch has a result (`Some`) and, if so, whether it settled with its final
    /// state stored (`Some(true)`: every record ended).
    pub(crate) fn result_stored(&self) -> Option<bool> {
        let s = self.state.lock();
        s.settled().then(|| s.settled_and_stored())
    }

    /// The event machinery's delivery state of this fetch.
    pub(crate) fn delivery(&self) -> &DeliveryFlags {
        &self.delivery
    }

    /// Deletes the partial bodies of records that ended without their body (aborted or
    /// failed): they can never be read or resumed once the fetch settled. Frees the disk
    /// when it was full.
    fn remove_stopped_parts(&self, shared: &dyn Host) {
        let stopped = self.state.lock().stopped_parts();
        for i in stopped {
            shared.store().remove_part(&self.key, i);
        }
    }

    fn after_settle(self: &Arc<Self>, shared: &dyn Host) {
        // The final state must reach the disk, or the fetch would run again at the next open
        // (two completion events for one fetch): if the disk is full, the partial bodies of
        // the stopped records make room.
        let saved = self.persist(shared).or_else(|_| {
            self.remove_stopped_parts(shared);
            self.persist(shared)
        });
        if let Err(e) = saved {
            // A stopping transfer may still hold a removed partial body open: the space
            // comes back when it lets go, and the state is written then.
            let deferred = self.state.lock().defer_save();
            if !deferred {
                shared.report_problem(format!("fetch {:?}: state not saved: {e}", self.id));
            }
        }
        shared.store().close_head_log(&self.key);
        self.state.lock().set_settled_durable();
        self.notify_all();
        shared.send_settled(self);
    }

    /// Asks the event thread for a progress callback (it coalesces them).
    pub(crate) fn mark_progress(self: &Arc<Self>, shared: &dyn Host) {
        shared.request_progress(self);
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
    pub(crate) fn persist(&self, shared: &dyn Host) -> Result<()> {
        let _g = self.persist_lock.lock();
        let stored = {
            let s = self.state.lock();
            if s.released() {
                return Ok(());
            }
            s.to_stored(&self.id)
        };
        shared.store().save_state(&self.key, &stored)
    }
}

impl Registration {
    /// Waits (up to `timeout`; `None`: no limit) for the complete body of record `index`, then
    /// copies it to `dest` atomically. `Timeout` when the body is not complete in time; `dest`
    /// is then untouched.
    pub fn save_body(
        &self,
        index: usize,
        dest: &std::path::Path,
        timeout: Option<Duration>,
    ) -> Result<()> {
        if dest.as_os_str().is_empty() {
            return Err(Error::invalid("the destination path is empty"));
        }
        self.wait_body(index, timeout)?;
        let shared = self.shared()?;
        shared.store().copy_body_to(&self.key, index, dest)
    }
}
