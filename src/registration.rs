//! One background fetch: its id, UI options, records, counters and state machine.
//!
//! About threads: a [`Registration`] is shared (`Arc`) by the manager, the workers running its
//! transfers, the event thread and every host handle. All state sits behind one mutex that is
//! never held while host code runs or while the network or the disk is waited on (state-file
//! writes are serialized by a second lock, outside the first).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::cancel::CancelToken;
use crate::error::{Error, Result};
use crate::events::Delivery;
use crate::manager::Shared;
use crate::record::{matches, Outcome, Query, QueryOptions, RecordState, ResponseHead};
use crate::request::Icon;
use crate::store::{StoredOutcome, StoredRequest, StoredState, FORMAT_VERSION};

/// The web's `BackgroundFetchResult`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FetchResult {
    /// Still running: `""`.
    #[default]
    None,
    /// `"success"`
    Success,
    /// `"failure"`
    Failure,
}

impl FetchResult {
    /// The string the web uses.
    pub fn as_str(self) -> &'static str {
        match self {
            FetchResult::None => "",
            FetchResult::Success => "success",
            FetchResult::Failure => "failure",
        }
    }

    fn parse(s: &str) -> Option<FetchResult> {
        Some(match s {
            "" => FetchResult::None,
            "success" => FetchResult::Success,
            "failure" => FetchResult::Failure,
            _ => return None,
        })
    }
}

/// The web's `BackgroundFetchFailureReason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailureReason {
    /// `""`
    #[default]
    None,
    /// `"aborted"`
    Aborted,
    /// `"bad-status"`
    BadStatus,
    /// `"fetch-error"`
    FetchError,
    /// `"quota-exceeded"`
    QuotaExceeded,
    /// `"download-total-exceeded"`
    DownloadTotalExceeded,
}

impl FailureReason {
    /// The string the web uses.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::None => "",
            FailureReason::Aborted => "aborted",
            FailureReason::BadStatus => "bad-status",
            FailureReason::FetchError => "fetch-error",
            FailureReason::QuotaExceeded => "quota-exceeded",
            FailureReason::DownloadTotalExceeded => "download-total-exceeded",
        }
    }

    fn parse(s: &str) -> Option<FailureReason> {
        Some(match s {
            "" => FailureReason::None,
            "aborted" => FailureReason::Aborted,
            "bad-status" => FailureReason::BadStatus,
            "fetch-error" => FailureReason::FetchError,
            "quota-exceeded" => FailureReason::QuotaExceeded,
            "download-total-exceeded" => FailureReason::DownloadTotalExceeded,
            _ => return None,
        })
    }
}

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

/// The counters and states of a registration at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// Sum of the request bodies.
    pub upload_total: u64,
    /// Request body bytes sent.
    pub uploaded: u64,
    /// The download total of the options (0 = none).
    pub download_total: u64,
    /// Response body bytes stored.
    pub downloaded: u64,
    /// The result.
    pub result: FetchResult,
    /// The failure reason.
    pub failure_reason: FailureReason,
    /// Whether the records can still be read.
    pub records_available: bool,
}

pub(crate) struct RegState {
    pub(crate) title: Option<String>,
    pub(crate) icons: Vec<Icon>,
    pub(crate) download_total: u64,
    pub(crate) upload_total: u64,
    pub(crate) uploaded: u64,
    pub(crate) downloaded: u64,
    pub(crate) result: FetchResult,
    pub(crate) failure_reason: FailureReason,
    /// The first `bad-status` / `fetch-error`, which becomes the reason once all requests end.
    pub(crate) first_failure: Option<FailureReason>,
    pub(crate) records_available: bool,
    pub(crate) records: Vec<RecordState>,
    /// Whether the head of each record may be shown (false while integrity is unchecked).
    /// Indexes of records still to transfer.
    pub(crate) queue: VecDeque<usize>,
    /// Records not finished yet.
    pub(crate) unfinished: usize,
    /// Worker slots this fetch holds.
    pub(crate) slots: usize,
    /// The settled state is on disk (`wait` returns only then).
    pub(crate) settled_durable: bool,
}

/// One background fetch. Obtain it from [`crate::Manager::fetch`] or [`crate::Manager::get`].
pub struct Registration {
    id: String,
    key: String,
    pub(crate) shared: Weak<Shared>,
    pub(crate) state: Mutex<RegState>,
    /// Signalled when a record changes (head, body bytes, outcome), but only while some
    /// thread waits on it (`record_waiters`): a host blocked in `wait` is not woken per chunk.
    pub(crate) changed: Condvar,
    record_waiters: AtomicUsize,
    /// Signalled when the fetch settles (and its state is stored) or the manager closes.
    pub(crate) settled: Condvar,
    pub(crate) cancel: Arc<CancelToken>,
    persist_lock: Mutex<()>,
    pub(crate) progress_cb: Mutex<Option<ProgressCallback>>,
    pub(crate) progress_queued: AtomicBool,
    /// The final progress and completion event of this session were delivered.
    pub(crate) final_delivered: AtomicBool,
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
    pub(crate) fn new(
        id: String,
        key: String,
        shared: Weak<Shared>,
        state: RegState,
    ) -> Arc<Registration> {
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
            progress_cb: Mutex::new(None),
            progress_queued: AtomicBool::new(false),
            final_delivered: AtomicBool::new(false),
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
        let s = self.state.lock();
        Snapshot {
            upload_total: s.upload_total,
            uploaded: s.uploaded,
            download_total: s.download_total,
            downloaded: s.downloaded,
            result: s.result,
            failure_reason: s.failure_reason,
            records_available: s.records_available,
        }
    }

    /// The title.
    pub fn title(&self) -> Option<String> {
        self.state.lock().title.clone()
    }

    /// The icons.
    pub fn icons(&self) -> Vec<Icon> {
        self.state.lock().icons.clone()
    }

    /// Number of records.
    pub fn record_count(&self) -> usize {
        self.state.lock().records.len()
    }

    pub(crate) fn shared(&self) -> Result<Arc<Shared>> {
        match self.shared.upgrade() {
            Some(s) if !s.is_closed() => Ok(s),
            _ => Err(Error::Closed(
                "the manager of this registration is closed".into(),
            )),
        }
    }

    /// Aborts the fetch. `true` if it was still running and is now aborted.
    pub fn abort(self: &Arc<Self>) -> Result<bool> {
        let shared = self.shared()?;
        Ok(self.fail_now(&shared, FailureReason::Aborted))
    }

    /// Waits until `result` is set. `None` waits forever.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<()> {
        self.shared()?;
        let deadline = wait_deadline(timeout);
        let mut s = self.state.lock();
        while s.result == FetchResult::None || !s.settled_durable {
            if self.shared.upgrade().is_none_or(|sh| sh.is_closed()) {
                return Err(Error::Closed("the manager was closed".into()));
            }
            Self::wait_step(&self.settled, &mut s, deadline)?;
        }
        Ok(())
    }

    /// One wait on a condvar, bounded so that a closed manager is noticed.
    fn wait_step(
        cv: &Condvar,
        s: &mut MutexGuard<'_, RegState>,
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
        s: &mut MutexGuard<'_, RegState>,
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
            let mut s = self.state.lock();
            if !s.records_available && s.result != FetchResult::None {
                return Err(Error::InvalidState("the registration was released".into()));
            }
            if let Some(t) = title {
                s.title = Some(t.to_string());
            }
            if let Some(i) = icons {
                s.icons = i.to_vec();
            }
        }
        self.persist(&shared)
    }

    /// Sets (or clears) the progress callback. When this returns, the previous callback is not
    /// running (unless this is called from inside it) and will never be called again.
    pub fn set_progress_callback(&self, cb: Option<ProgressCallback>) -> Result<()> {
        if cb.is_some() {
            self.shared()?;
        }
        *self.progress_cb.lock() = cb;
        if let Some(shared) = self.shared.upgrade() {
            shared.events.wait_for_callbacks();
        }
        Ok(())
    }

    /// Releases the records: storage freed, `get` no longer finds the id, the completion event
    /// is not delivered again. `InvalidState` while the fetch is running.
    pub fn release(self: &Arc<Self>) -> Result<()> {
        let shared = self.shared()?;
        {
            let mut s = self.state.lock();
            if s.result == FetchResult::None {
                return Err(Error::InvalidState("the fetch is still running".into()));
            }
            if !s.records_available {
                return Ok(());
            }
            s.records_available = false;
        }
        self.notify_all();
        shared.forget(self);
        // `downloaded` includes bytes a stopping transfer reserved but has not written yet.
        let freed = {
            let s = self.state.lock();
            s.downloaded + s.upload_total
        };
        let _persisting = self.persist_lock.lock();
        shared.store.remove_fetch(&self.key)?;
        shared.release_quota(freed);
        Ok(())
    }

    /// Whether the records can be read; `InvalidState` otherwise.
    fn check_available(s: &RegState) -> Result<()> {
        if s.records_available {
            Ok(())
        } else {
            Err(Error::InvalidState(
                "the records are no longer available".into(),
            ))
        }
    }

    /// Indexes of the records that match, in request order.
    pub fn match_all(&self, query: Option<&Query>, opts: QueryOptions) -> Result<Vec<usize>> {
        self.shared()?;
        let s = self.state.lock();
        Self::check_available(&s)?;
        Ok(s.records
            .iter()
            .enumerate()
            .filter(|(_, r)| query.is_none_or(|q| matches(q, r, opts)))
            .map(|(i, _)| i)
            .collect())
    }

    /// The request of record `index`.
    pub fn record_request(&self, index: usize) -> Arc<StoredRequest> {
        self.state.lock().records[index].request.clone()
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
            Self::check_available(&s)?;
            let rec = &s.records[index];
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
            if self.shared.upgrade().is_none_or(|sh| sh.is_closed()) {
                return Err(Error::Closed("the manager was closed".into()));
            }
            self.wait_record(&mut s, deadline)?;
        }
    }

    /// Body bytes of record `index` stored so far, and whether the body is complete.
    pub fn body_progress(&self, index: usize) -> (u64, bool) {
        let s = self.state.lock();
        let r = &s.records[index];
        (r.stored, r.outcome == Outcome::Done)
    }

    /// Waits until the body of record `index` is complete.
    pub fn wait_body(&self, index: usize, timeout: Option<Duration>) -> Result<()> {
        self.shared()?;
        let deadline = wait_deadline(timeout);
        let mut s = self.state.lock();
        loop {
            Self::check_available(&s)?;
            match &s.records[index].outcome {
                Outcome::Done => return Ok(()),
                Outcome::Aborted => {
                    return Err(Error::Aborted(
                        "the fetch stopped before this body was complete".into(),
                    ))
                }
                Outcome::Failed(why) => return Err(Error::FetchFailed(why.clone())),
                Outcome::Pending => {}
            }
            if self.shared.upgrade().is_none_or(|sh| sh.is_closed()) {
                return Err(Error::Closed("the manager was closed".into()));
            }
            self.wait_record(&mut s, deadline)?;
        }
    }

    /// The path the complete body of record `index` has (it exists once complete).
    pub fn body_path(&self, index: usize) -> Option<std::path::PathBuf> {
        let shared = self.shared.upgrade()?;
        Some(shared.store.body_path(&self.key, index))
    }

    /// Reads body bytes of record `index` at `offset`, blocking until they are stored or the body
    /// ends. Returns 0 at the end of a complete body.
    pub fn read_body(&self, index: usize, offset: u64, buf: &mut [u8]) -> Result<usize> {
        use std::os::unix::fs::FileExt;
        if buf.is_empty() {
            return Ok(0);
        }
        let shared = self.shared()?;
        loop {
            let (first, second, avail) = {
                let mut s = self.state.lock();
                loop {
                    Self::check_available(&s)?;
                    let r = &s.records[index];
                    if offset < r.stored {
                        // The sync thread renames `.part` to `.body` before the record is
                        // marked complete: look in the other place when the first is gone.
                        let body = shared.store.body_path(&self.key, index);
                        let part = shared.store.part_path(&self.key, index);
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
                    if shared.is_closed() {
                        return Err(Error::Closed("the manager was closed".into()));
                    }
                    self.wait_record(&mut s, None)?;
                }
            };
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
            // The body restarted from zero meanwhile: look at the state again, after a pause.
            let mut s = self.state.lock();
            self.wait_record(&mut s, Some(Instant::now() + Duration::from_millis(10)))
                .or_else(|e| match e {
                    Error::Timeout(_) => Ok(()),
                    other => Err(other),
                })?;
        }
    }

    // ----- used by the scheduler and transfers -----

    /// Takes the next record to transfer, or `None` (and gives the slot back).
    pub(crate) fn take_next(&self) -> Option<usize> {
        let mut s = self.state.lock();
        if s.result == FetchResult::None && !self.cancel.is_cancelled() {
            if let Some(i) = s.queue.pop_front() {
                return Some(i);
            }
        }
        s.slots = s.slots.saturating_sub(1);
        None
    }

    /// Whether a slot should go on to another record.
    pub(crate) fn has_queued(&self) -> bool {
        let s = self.state.lock();
        s.result == FetchResult::None && !s.queue.is_empty() && !self.cancel.is_cancelled()
    }

    /// The head known for record `index` (hidden or not), and its stored bytes.
    pub(crate) fn transfer_state(&self, index: usize) -> (Option<Arc<ResponseHead>>, u64) {
        let s = self.state.lock();
        let r = &s.records[index];
        (r.head.clone(), r.stored)
    }

    /// Whether the transfer of record `index` must stop.
    pub(crate) fn must_stop(&self, index: usize) -> bool {
        if self.cancel.is_cancelled() {
            return true;
        }
        let s = self.state.lock();
        s.result != FetchResult::None || s.records[index].outcome != Outcome::Pending
    }

    /// The body of record `index` is complete and goes to the sync thread.
    pub(crate) fn mark_syncing(&self, index: usize) {
        self.state.lock().records[index].syncing = true;
    }

    /// Records the head of record `index`; `expose` is false while integrity is unchecked.
    pub(crate) fn set_head(&self, index: usize, head: Arc<ResponseHead>, expose: bool) {
        {
            let mut s = self.state.lock();
            s.records[index].head = Some(head);
            s.records[index].exposed = expose;
        }
        self.notify_records();
    }

    /// Discards the stored body of record `index` (a restart from zero).
    pub(crate) fn reset_body(self: &Arc<Self>, shared: &Shared, index: usize) {
        let freed = {
            let mut s = self.state.lock();
            let stored = std::mem::take(&mut s.records[index].stored);
            s.downloaded -= stored;
            stored
        };
        shared.release_quota(freed);
        self.mark_progress(shared);
    }

    /// Reserves `n` more body bytes for record `index`: checks the download total and the
    /// quota. On failure the fetch fails at once and nothing may be written.
    pub(crate) fn reserve(
        self: &Arc<Self>,
        shared: &Shared,
        index: usize,
        n: u64,
    ) -> std::result::Result<(), Stop> {
        let over_total = {
            let s = self.state.lock();
            if s.result != FetchResult::None || s.records[index].outcome != Outcome::Pending {
                return Err(Stop::Stopped);
            }
            s.download_total > 0 && s.downloaded + n > s.download_total
        };
        if over_total {
            self.fail_now(shared, FailureReason::DownloadTotalExceeded);
            return Err(Stop::Stopped);
        }
        if !shared.reserve_quota(n) {
            self.fail_now(shared, FailureReason::QuotaExceeded);
            return Err(Stop::Stopped);
        }
        let mut s = self.state.lock();
        if s.result != FetchResult::None {
            drop(s);
            shared.release_quota(n);
            return Err(Stop::Stopped);
        }
        s.downloaded += n;
        Ok(())
    }

    /// Undoes a reservation whose bytes could not be written.
    pub(crate) fn unreserve(&self, shared: &Shared, n: u64) {
        let mut s = self.state.lock();
        s.downloaded -= n;
        if s.records_available {
            shared.release_quota(n);
        }
    }

    /// `n` reserved bytes of record `index` are now stored.
    pub(crate) fn commit(self: &Arc<Self>, shared: &Shared, index: usize, n: u64) {
        self.state.lock().records[index].stored += n;
        self.notify_records();
        self.mark_progress(shared);
    }

    /// Request body bytes of record `index` sent so far in this attempt.
    pub(crate) fn set_uploaded(self: &Arc<Self>, shared: &Shared, index: usize, sent: u64) {
        let changed = {
            let mut s = self.state.lock();
            let prev = s.records[index].uploaded;
            if sent > prev {
                s.records[index].uploaded = sent;
                s.uploaded += sent - prev;
                true
            } else {
                false
            }
        };
        if changed {
            self.mark_progress(shared);
        }
    }

    /// Record `index` ended. Settles the fetch when it was the last.
    pub(crate) fn finish(self: &Arc<Self>, shared: &Shared, index: usize, outcome: Outcome) {
        let settle = {
            let mut s = self.state.lock();
            if s.records[index].outcome != Outcome::Pending {
                return;
            }
            if s.result != FetchResult::None {
                // A body that was waiting for the sync thread when the fetch stopped.
                if !s.records[index].syncing {
                    return;
                }
                s.records[index].exposed = outcome == Outcome::Done;
                s.records[index].outcome = outcome;
                s.records[index].syncing = false;
                s.unfinished = s.unfinished.saturating_sub(1);
                drop(s);
                self.notify_records();
                if let Err(e) = self.persist(shared) {
                    shared.report_problem(format!("fetch {:?}: state not saved: {e}", self.id));
                }
                return;
            }
            s.records[index].syncing = false;
            match &outcome {
                Outcome::Done => {
                    s.records[index].exposed = true;
                    let ok = s.records[index].head.as_ref().is_some_and(|h| h.ok());
                    if !ok && s.first_failure.is_none() {
                        s.first_failure = Some(FailureReason::BadStatus);
                    }
                }
                Outcome::Failed(_) => {
                    s.records[index].exposed = false;
                    if s.first_failure.is_none() {
                        s.first_failure = Some(FailureReason::FetchError);
                    }
                }
                Outcome::Aborted | Outcome::Pending => {}
            }
            s.records[index].outcome = outcome;
            s.unfinished -= 1;
            if s.unfinished == 0 {
                match s.first_failure {
                    Some(reason) => {
                        s.result = FetchResult::Failure;
                        s.failure_reason = reason;
                    }
                    None => s.result = FetchResult::Success,
                }
                true
            } else {
                false
            }
        };
        self.notify_records();
        if settle {
            self.after_settle(shared);
        } else {
            self.mark_progress(shared);
        }
    }

    /// Fails the fetch now with `reason` (abort, quota, download total): every unfinished
    /// record becomes aborted and the transfers stop. `false` if it had already settled.
    pub(crate) fn fail_now(self: &Arc<Self>, shared: &Shared, reason: FailureReason) -> bool {
        {
            let mut s = self.state.lock();
            if s.result != FetchResult::None {
                return false;
            }
            s.result = FetchResult::Failure;
            s.failure_reason = reason;
            // A complete body waiting for the sync thread is kept: it finishes late.
            for r in s.records.iter_mut() {
                if r.outcome == Outcome::Pending && !r.syncing {
                    r.outcome = Outcome::Aborted;
                }
            }
            s.unfinished = s
                .records
                .iter()
                .filter(|r| r.outcome == Outcome::Pending)
                .count();
            s.queue.clear();
        }
        self.cancel.cancel();
        self.notify_all();
        self.after_settle(shared);
        true
    }

    fn after_settle(self: &Arc<Self>, shared: &Shared) {
        if let Err(e) = self.persist(shared) {
            shared.report_problem(format!("fetch {:?}: state not saved: {e}", self.id));
        }
        shared.store.close_head_log(&self.key);
        self.state.lock().settled_durable = true;
        self.notify_all();
        shared.events.send(Delivery::Settled(self.clone()));
    }

    /// Asks the event thread for a progress callback (coalesced).
    pub(crate) fn mark_progress(self: &Arc<Self>, shared: &Shared) {
        if !self.progress_queued.swap(true, Ordering::AcqRel) {
            shared.events.send(Delivery::Progress(self.clone()));
        }
    }

    /// The completion event this settled fetch gets.
    pub(crate) fn event_type(&self) -> Option<EventType> {
        let s = self.state.lock();
        match (s.result, s.failure_reason) {
            (FetchResult::None, _) => None,
            (FetchResult::Success, _) => Some(EventType::Success),
            (FetchResult::Failure, FailureReason::Aborted) => Some(EventType::Abort),
            (FetchResult::Failure, _) => Some(EventType::Fail),
        }
    }

    /// The state file contents now.
    pub(crate) fn to_stored(&self) -> StoredState {
        let s = self.state.lock();
        let settled = s.result != FetchResult::None;
        StoredState {
            format: FORMAT_VERSION,
            id: self.id.clone(),
            title: s.title.clone(),
            icons: s.icons.clone(),
            download_total: s.download_total,
            requests: s.records.iter().map(|r| r.request.clone()).collect(),
            result: s.result.as_str().into(),
            failure_reason: s.failure_reason.as_str().into(),
            outcomes: if settled {
                s.records
                    .iter()
                    .map(|r| match r.outcome {
                        Outcome::Done => Some(StoredOutcome::Done),
                        Outcome::Failed(_) => Some(StoredOutcome::Failed),
                        Outcome::Aborted => Some(StoredOutcome::Aborted),
                        Outcome::Pending => None,
                    })
                    .collect()
            } else {
                Vec::new()
            },
        }
    }

    /// Writes the state file (serialized: the last snapshot taken is the last written).
    pub(crate) fn persist(&self, shared: &Shared) -> Result<()> {
        let _g = self.persist_lock.lock();
        let released = !self.state.lock().records_available;
        if released {
            return Ok(());
        }
        let stored = self.to_stored();
        shared.store.save_state(&self.key, &stored)
    }

    /// Builds the state of a registration from its stored form (at open).
    pub(crate) fn state_from_stored(
        stored: &StoredState,
        heads: Vec<Option<ResponseHead>>,
        sizes: Vec<(u64, bool)>,
    ) -> std::result::Result<RegState, String> {
        let result = FetchResult::parse(&stored.result).ok_or("bad result")?;
        let failure_reason =
            FailureReason::parse(&stored.failure_reason).ok_or("bad failure reason")?;
        let settled = result != FetchResult::None;
        let mut records = Vec::with_capacity(stored.requests.len());
        let mut queue = VecDeque::new();
        let mut downloaded = 0;
        let mut upload_total = 0;
        let mut uploaded = 0;
        for (i, ((req, head), (stored_len, complete))) in
            stored.requests.iter().zip(heads).zip(sizes).enumerate()
        {
            let mut r = RecordState::new(req.clone());
            r.head = head.map(Arc::new);
            r.stored = stored_len;
            downloaded += stored_len;
            upload_total += req.body_len.unwrap_or(0);
            let outcome = if settled {
                match stored.outcomes.get(i).copied().flatten() {
                    Some(StoredOutcome::Done) if r.head.is_some() && complete => Outcome::Done,
                    Some(StoredOutcome::Done) => {
                        Outcome::Failed("the stored response was lost".into())
                    }
                    Some(StoredOutcome::Failed) => Outcome::Failed("the request failed".into()),
                    _ => Outcome::Aborted,
                }
            } else if complete {
                Outcome::Done
            } else {
                queue.push_back(i);
                Outcome::Pending
            };
            if outcome == Outcome::Done {
                r.uploaded = req.body_len.unwrap_or(0);
                uploaded += r.uploaded;
            }
            r.exposed = match outcome {
                Outcome::Done => true,
                Outcome::Failed(_) => false,
                _ => req.integrity.is_none(),
            };
            r.outcome = outcome;
            records.push(r);
        }
        let unfinished = queue.len();
        let first_failure = records
            .iter()
            .any(|r| r.outcome == Outcome::Done && !r.head.as_ref().is_some_and(|h| h.ok()))
            .then_some(FailureReason::BadStatus);
        Ok(RegState {
            title: stored.title.clone(),
            icons: stored.icons.clone(),
            download_total: stored.download_total,
            upload_total,
            uploaded,
            downloaded,
            result,
            failure_reason,
            first_failure,
            records_available: true,
            records,
            queue,
            unfinished,
            slots: 0,
            settled_durable: settled,
        })
    }
}

impl Registration {
    /// Waits for the complete body of record `index`, then copies it to `dest` atomically.
    pub fn save_body(&self, index: usize, dest: &std::path::Path) -> Result<()> {
        if dest.as_os_str().is_empty() {
            return Err(Error::invalid("the destination path is empty"));
        }
        self.wait_body(index, None)?;
        let shared = self.shared()?;
        let src = shared.store.body_path(&self.key, index);
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
        let name = dest
            .file_name()
            .ok_or_else(|| Error::invalid("the destination has no file name"))?;
        let tmp = dir.join(format!(
            ".{}.bgfetch-{}",
            name.to_string_lossy(),
            crate::util::unique_suffix()
        ));
        let res = (|| {
            let mut from =
                crate::store::open_read(&src).map_err(|e| Error::io("opening the body", e))?;
            let mut to = std::fs::File::create(&tmp)
                .map_err(|e| Error::io("creating the destination", e))?;
            std::io::copy(&mut from, &mut to).map_err(|e| Error::io("copying the body", e))?;
            to.sync_all()
                .map_err(|e| Error::io("syncing the destination", e))?;
            std::fs::rename(&tmp, dest).map_err(|e| Error::io("renaming the destination", e))
        })();
        if res.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        res
    }
}
