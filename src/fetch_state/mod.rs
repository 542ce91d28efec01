//! The state machine of one fetch: its counters, the outcome of each record and the settle
//! rules of the spec's "complete a record" (the first `bad-status` / `fetch-error` becomes the
//! reason once every request ended; abort, quota and download total stop the others at once;
//! a body whose bytes all arrived completes before the fetch settles).
//!
//! In three parts: the state and the host's events (here), what it answers readers
//! (`reading`: counters, record states, errors, the expected total), and the work (`work`: the
//! queue, transfers, outcomes and the settle rules).
//!
//! Pure: no locks, threads, clocks or files. Each method takes one event ("head received",
//! "bytes stored", "attempt failed", "abort", "pause", ...) and says what the caller must do;
//! times come in as arguments. The registration (`registration.rs`) holds it behind its mutex
//! and carries the answers out (waking waiters, writing the state file, queueing events).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::outcome::Outcome;
use crate::record::{HeadLineAt, LiveRecord, Split};
use crate::request::Icon;
use crate::segments::Segments;
use crate::store::{RecordLog, SegmentMark, StoredState, FORMAT_VERSION};
use crate::web_enum::{FailureReason, FetchResult};

/// What the caller does after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Nothing changed.
    Nothing,
    /// A record changed: wake its waiters.
    Wake,
    /// A record changed and so did the counters: wake its waiters, report progress.
    Progress,
    /// The fetch is ready to settle and this caller settles it (store the final state,
    /// deliver the event): exactly one caller gets this.
    Settle,
    /// The settled state still has to be written (it could not be while a transfer held
    /// disk space) and this caller writes it.
    SaveState,
}

/// Whether `n` more body bytes may be stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reserve {
    /// Yes (if the quota allows).
    Allowed,
    /// The fetch or the record ended: nothing may be written.
    Stopped,
    /// They would exceed the download total: the fetch fails.
    OverDownloadTotal,
}

/// One transfer to make: record `index` whole (from byte 0, or resumed as one stream), or
/// range `range` of its split body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Work {
    /// The record.
    pub(crate) index: usize,
    /// The range of its split body, or `None` for the whole record.
    pub(crate) range: Option<usize>,
}

impl Work {
    /// The whole record `index`.
    pub(crate) fn whole(index: usize) -> Work {
        Work { index, range: None }
    }
}

/// The state of one fetch.
#[derive(Debug)]
pub(crate) struct FetchState {
    title: Option<String>,
    icons: Vec<Icon>,
    download_total: u64,
    upload_total: u64,
    uploaded: u64,
    downloaded: u64,
    result: FetchResult,
    failure_reason: FailureReason,
    /// The first `bad-status` / `fetch-error`, which becomes the reason once all requests end.
    first_failure: Option<FailureReason>,
    records_available: bool,
    records: Vec<LiveRecord>,
    /// What is still to transfer: records, and ranges of split bodies.
    queue: VecDeque<Work>,
    /// Records not finished yet.
    unfinished: usize,
    /// The settled state is on disk (`wait` returns only then).
    settled_durable: bool,
    /// Somebody is settling the fetch (its final state is being written).
    settling: bool,
    /// The fetch is paused (stored: it stays paused across close, open and a crash).
    paused: bool,
    /// The manager is offline.
    offline: bool,
    /// The number of the last failed attempt of any record (see `LiveRecord::error_seq`).
    errors: u64,
    /// The settled state could not be written while a transfer still held disk space; the
    /// last transfer to end writes it.
    state_unsaved: bool,
    /// A completion event's callback runs for this fetch (the spec's "event is active").
    event_active: bool,
    /// updateUI was called during the active event (a second call is `InvalidState`).
    ui_updated_in_event: bool,
}

impl FetchState {
    /// The state of a stored fetch (a new one, or one found at open), with the heads and the
    /// stored body sizes (length, complete) of its records. Records past the end of `log`'s
    /// vectors or of `sizes` have nothing logged or stored (a new fetch passes them empty:
    /// for many thousands of requests, they were a megabyte built only to be dropped).
    pub(crate) fn from_stored(
        stored: &StoredState,
        log: RecordLog,
        sizes: Vec<(u64, bool)>,
    ) -> FetchState {
        let (result, failure_reason) = (stored.result, stored.failure_reason);
        let settled = result != FetchResult::None;
        let mut records = Vec::with_capacity(stored.requests.len());
        let mut queue = VecDeque::with_capacity(stored.requests.len());
        let mut downloaded = 0;
        let mut upload_total = 0;
        let mut uploaded = 0;
        // Whether a body is complete is in `sizes` (the log's word, checked against the file).
        let RecordLog {
            heads,
            errors,
            segments,
            done: _,
            head_lines,
        } = log;
        fn padded<T: Default>(v: Vec<T>) -> impl Iterator<Item = T> {
            v.into_iter().chain(std::iter::repeat_with(T::default))
        }
        for (i, (((((req, head), error), mark), (stored_len, complete)), head_line)) in stored
            .requests
            .iter()
            .zip(padded(heads))
            .zip(padded(errors))
            .zip(padded(segments))
            .zip(padded(sizes))
            .zip(padded(head_lines))
            .enumerate()
        {
            let mut r = LiveRecord::new(req.clone());
            if let (Some(head), Some(line)) = (&head, head_line) {
                r.head_line = Some(HeadLineAt::of(head, line));
            }
            r.head = head.map(Arc::new);
            r.stored = stored_len;
            r.high_water = stored_len;
            downloaded += stored_len;
            upload_total += req.body_len.unwrap_or(0);
            let outcome = stored.restored_outcome(i, r.head.is_some(), complete);
            r.split = restored_split(&r, mark, complete);
            if outcome == Outcome::Pending {
                match &r.split {
                    Some(split) => queue.extend(split.ranges_to_fetch().map(|k| Work {
                        index: i,
                        range: Some(k),
                    })),
                    None => queue.push_back(Work::whole(i)),
                }
            }
            if outcome == Outcome::Done {
                r.uploaded = req.body_len.unwrap_or(0);
                uploaded += r.uploaded;
            }
            r.exposed = match outcome {
                Outcome::Done => true,
                Outcome::Failed(_) => false,
                _ => req.integrity.is_none(),
            };
            // A failed record's message; a pending one's last error (why it waited).
            r.last_error = match &outcome {
                Outcome::Failed(why) => Some(why.clone()),
                Outcome::Pending => error,
                _ => None,
            };
            r.error_seq = u64::from(r.last_error.is_some());
            r.outcome = outcome;
            r.shelve_head();
            records.push(r);
        }
        let unfinished = records
            .iter()
            .filter(|r| r.outcome == Outcome::Pending)
            .count();
        let errors = records.iter().map(|r| r.error_seq).max().unwrap_or(0);
        let first_failure = records
            .iter()
            .any(|r| r.outcome == Outcome::Done && !r.head_ok())
            .then_some(FailureReason::BadStatus);
        FetchState {
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
            settled_durable: settled,
            settling: settled,
            event_active: false,
            ui_updated_in_event: false,
            state_unsaved: false,
            paused: stored.paused && !settled,
            offline: false,
            errors,
        }
    }

    /// The stored form of this state, for the fetch `id`.
    pub(crate) fn to_stored(&self, id: &str) -> StoredState {
        let settled = self.settled();
        StoredState {
            format: FORMAT_VERSION,
            id: id.to_string(),
            title: self.title.clone(),
            icons: self.icons.clone(),
            download_total: self.download_total,
            requests: self.records.iter().map(|r| r.request.clone()).collect(),
            result: self.result,
            failure_reason: self.failure_reason,
            paused: self.paused,
            outcomes: StoredState::outcomes_of(settled, self.records.iter().map(|r| &r.outcome)),
        }
    }

    // ----- the host -----

    /// updateUI: `InvalidState` once released, or for a second call in one completion event.
    pub(crate) fn update_ui(&mut self, title: Option<&str>, icons: Option<&[Icon]>) -> Result<()> {
        if !self.records_available && self.settled() {
            return Err(Error::InvalidState("the registration was released".into()));
        }
        if self.event_active {
            if self.ui_updated_in_event {
                return Err(Error::InvalidState(
                    "updateUI was already called in this completion event".into(),
                ));
            }
            self.ui_updated_in_event = true;
        }
        if let Some(t) = title {
            self.title = Some(t.to_string());
        }
        if let Some(i) = icons {
            self.icons = i.to_vec();
        }
        Ok(())
    }

    /// A completion event's callback starts (`true`) or returned (`false`).
    pub(crate) fn set_event_active(&mut self, active: bool) {
        self.event_active = active;
        self.ui_updated_in_event = false;
    }

    /// release: `InvalidState` while the fetch runs.
    pub(crate) fn check_releasable(&self) -> Result<()> {
        if self.settled() {
            Ok(())
        } else {
            Err(Error::InvalidState("the fetch is still running".into()))
        }
    }

    /// The records are released: returns the bytes they held, or `None` if they already were.
    pub(crate) fn release(&mut self) -> Option<u64> {
        if !self.records_available {
            return None;
        }
        self.records_available = false;
        Some(self.downloaded + self.upload_total)
    }

    /// Pauses or resumes: whether it changed; `InvalidState` once settled.
    pub(crate) fn set_paused(&mut self, paused: bool) -> Result<bool> {
        if self.settled() {
            return Err(Error::InvalidState("the fetch has settled".into()));
        }
        let changed = self.paused != paused;
        self.paused = paused;
        Ok(changed)
    }

    /// The manager went offline (`true`) or back online at `now`: the retry clocks of the
    /// records stand still while offline.
    pub(crate) fn set_offline(&mut self, offline: bool, now: Instant) {
        self.offline = offline;
        let turns = self.records.iter_mut().flat_map(LiveRecord::turns_mut);
        for retry in turns.filter_map(|t| t.retry.as_mut()) {
            if offline {
                retry.freeze(now);
            } else {
                retry.thaw(now);
            }
        }
    }
}

/// The split of a restored record, from the map its head log kept (`mark`; the store checked
/// it against the body file): the ranges as stored, none transferred yet.
fn restored_split(r: &LiveRecord, mark: SegmentMark, complete: bool) -> Option<Box<Split>> {
    let SegmentMark::Map(ranges) = mark else {
        return None;
    };
    let len = r.head.as_ref()?.total_len?;
    let segments = Segments::restore(len, &ranges).filter(|s| s.stored() == r.stored)?;
    (!complete).then(|| Box::new(Split::new(segments)))
}

mod reading;
mod work;

pub use reading::{ExpectedTotal, RecordStatus, Snapshot};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::head::ResponseHead;
    use crate::retry::{Decision, FailureKind, RetryPolicy};
    use crate::segments::StoredRange;
    use crate::store::StoredRequest;
    use crate::web_enum::RecordState;

    fn stored(n: usize, download_total: u64) -> StoredState {
        StoredState::of_gets(n, download_total)
    }

    fn fetch(n: usize) -> FetchState {
        FetchState::from_stored(&stored(n, 0), RecordLog::empty(n), vec![(0, false); n])
    }

    fn head(status: u16, len: u64) -> Arc<ResponseHead> {
        Arc::new(ResponseHead::new::<&str, &str>(
            status,
            "http://127.0.0.1/",
            &[],
            Some(len),
        ))
    }

    /// Runs record `i` to a complete body of `len` bytes with `status`, up to the sync thread.
    fn arrive(f: &mut FetchState, i: usize, status: u16, len: u64, now: Instant) {
        f.set_head(i, head(status, len), true);
        assert_eq!(f.check_reserve(i, len), Reserve::Allowed);
        assert!(f.add_reserved(i, len));
        f.commit(w(i), len, now);
        assert!(f.mark_syncing(i));
    }

    fn take_all(f: &mut FetchState, now: Instant) -> Vec<usize> {
        std::iter::from_fn(|| f.take_next(false, now))
            .map(|w| w.index)
            .collect()
    }

    fn w(index: usize) -> Work {
        Work::whole(index)
    }

    #[test]
    fn every_record_done_and_ok_is_success_settled_once() {
        let now = Instant::now();
        let mut f = fetch(2);
        assert_eq!(take_all(&mut f, now), vec![0, 1]);
        arrive(&mut f, 0, 200, 3, now);
        arrive(&mut f, 1, 200, 4, now);
        assert_eq!(f.finish(0, Outcome::Done), Next::Progress);
        assert!(!f.settled());
        assert_eq!(f.finish(1, Outcome::Done), Next::Settle);
        assert_eq!(f.snapshot().result, FetchResult::Success);
        assert_eq!(f.snapshot().downloaded, 7);
        assert!(!f.take_settle(), "settled exactly once");
        assert_eq!(f.transfer_ended(w(0)).0, Next::Wake);
        assert_eq!(f.transfer_ended(w(1)).0, Next::Wake);
        assert!(!f.busy());
    }

    #[test]
    fn the_first_failure_becomes_the_reason_once_every_request_ended() {
        let now = Instant::now();
        for (first, then, reason) in [
            (Some(404), None, FailureReason::BadStatus),
            (None, Some(404), FailureReason::FetchError),
        ] {
            let mut f = fetch(3);
            take_all(&mut f, now);
            let end = |f: &mut FetchState, i: usize, status: Option<u16>| match status {
                Some(s) => {
                    arrive(f, i, s, 1, now);
                    f.finish(i, Outcome::Done)
                }
                None => f.finish(i, Outcome::Failed("reset".into())),
            };
            assert_eq!(end(&mut f, 0, first), Next::Progress);
            assert_eq!(end(&mut f, 1, then), Next::Progress);
            assert!(!f.settled(), "a failure does not stop the others");
            assert_eq!(end(&mut f, 2, Some(200)), Next::Settle);
            assert_eq!(f.outcome(), Some((FetchResult::Failure, reason)));
            let failed = if first.is_none() { 0 } else { 1 };
            assert!(!f.record(failed).exposed, "a failed record shows no head");
        }
    }

    #[test]
    fn abort_ends_the_others_at_once_but_a_whole_body_completes_first() {
        let now = Instant::now();
        let mut f = fetch(4);
        take_all(&mut f, now);
        // 0: whole body at the sync thread; 1: every byte arrived, not yet handed over;
        // 2: half a body; 3: nothing yet.
        arrive(&mut f, 0, 200, 10, now);
        f.set_head(1, head(200, 10), true);
        assert!(f.add_reserved(1, 10));
        f.commit(w(1), 10, now);
        f.set_head(2, head(200, 10), true);
        assert!(f.add_reserved(2, 5));
        f.commit(w(2), 5, now);
        assert!(f.fail_now(FailureReason::Aborted));
        assert!(
            !f.fail_now(FailureReason::QuotaExceeded),
            "the first reason stays"
        );
        assert!(!f.take_settle(), "two bodies still complete");
        assert_eq!(f.record(2).outcome, Outcome::Aborted);
        assert_eq!(f.record(3).outcome, Outcome::Aborted);
        assert_eq!(f.check_reserve(2, 1), Reserve::Stopped);
        assert!(f.mark_syncing(1));
        assert_eq!(f.finish(0, Outcome::Done), Next::Wake);
        assert_eq!(f.transfer_ended(w(2)).0, Next::Wake);
        assert_eq!(f.finish(1, Outcome::Done), Next::Settle);
        assert!(f.record(0).exposed && f.record(1).exposed);
        assert_eq!(
            f.outcome(),
            Some((FetchResult::Failure, FailureReason::Aborted))
        );
        assert_eq!(f.stopped_parts(), vec![2, 3]);
    }

    #[test]
    fn a_body_being_written_when_the_fetch_fails_completes_first() {
        // The host saw every byte counted (reserved) before they were stored, and aborted:
        // the body completes, then the fetch settles as aborted.
        let now = Instant::now();
        let mut f = fetch(2);
        take_all(&mut f, now);
        f.set_head(0, head(200, 10), true);
        assert!(f.add_reserved(0, 10));
        assert_eq!(f.snapshot().downloaded, 10);
        assert!(f.fail_now(FailureReason::Aborted));
        assert!(!f.take_settle());
        f.commit(w(0), 10, now);
        assert!(f.mark_syncing(0));
        assert_eq!(f.transfer_ended(w(1)).0, Next::Wake);
        assert_eq!(f.finish(0, Outcome::Done), Next::Settle);
        assert!(f.record(0).exposed);
        assert_eq!(
            f.outcome(),
            Some((FetchResult::Failure, FailureReason::Aborted))
        );
    }

    #[test]
    fn a_body_cut_short_by_the_fetch_failing_never_completes() {
        // Half the body was being written when the fetch failed: the record is aborted, no
        // more bytes may be written, and no body goes to the sync thread (it would stay
        // "syncing" for ever, and release would wait for it).
        let now = Instant::now();
        let mut f = fetch(2);
        take_all(&mut f, now);
        f.set_head(0, head(200, 10), true);
        assert!(f.add_reserved(0, 5));
        assert!(f.fail_now(FailureReason::QuotaExceeded));
        f.commit(w(0), 5, now);
        assert_eq!(f.check_reserve(0, 5), Reserve::Stopped);
        assert!(!f.mark_syncing(0));
        assert_eq!(f.transfer_ended(w(0)).0, Next::Wake);
        assert_eq!(f.transfer_ended(w(1)).0, Next::Wake);
        assert!(f.take_settle());
        assert!(!f.busy(), "release may go on");
        assert_eq!(
            f.finish(0, Outcome::Done),
            Next::Wake,
            "a late finish changes nothing"
        );
        assert_eq!(f.record(0).outcome, Outcome::Aborted);
    }

    #[test]
    fn the_download_total_is_never_exceeded() {
        let mut f = FetchState::from_stored(&stored(1, 10), RecordLog::empty(1), vec![(0, false)]);
        take_all(&mut f, Instant::now());
        assert_eq!(f.check_reserve(0, 10), Reserve::Allowed);
        assert!(f.add_reserved(0, 10));
        assert_eq!(f.check_reserve(0, 1), Reserve::OverDownloadTotal);
        assert!(f.unreserve(0, 4));
        assert_eq!(f.check_reserve(0, 4), Reserve::Allowed);
    }

    #[test]
    fn a_failed_attempt_waits_then_goes_back_to_the_queue() {
        let now = Instant::now();
        let mut f = fetch(1);
        assert_eq!(take_all(&mut f, now), vec![0]);
        let policy = RetryPolicy::default();
        // The delay ends before the transfer: the transfer's end queues it.
        let d = f.attempt_failed(
            w(0),
            &policy,
            (FailureKind::Transient, "reset"),
            now,
            0.5,
            None,
        );
        assert!(matches!(d, Some(Decision::Retry { .. })));
        assert!(!f.requeue(w(0)), "its transfer is still ending");
        assert_eq!(f.transfer_ended(w(0)).0, Next::Wake);
        assert_eq!(f.take_next(false, now), Some(w(0)));
        // The transfer ends before the delay: waiting, not queued, until requeue.
        let d = f.attempt_failed(
            w(0),
            &policy,
            (FailureKind::Transient, "reset"),
            now,
            0.5,
            None,
        );
        assert!(matches!(d, Some(Decision::Retry { .. })));
        assert_eq!(f.transfer_ended(w(0)).0, Next::Wake);
        assert!(f.take_next(false, now).is_none(), "waiting, not queued");
        assert!(f.requeue(w(0)));
        assert!(!f.requeue(w(0)), "once");
        assert_eq!(f.take_next(false, now), Some(w(0)));
        assert!(f.fail_now(FailureReason::Aborted));
        let d = f.attempt_failed(
            w(0),
            &policy,
            (FailureKind::Transient, "reset"),
            now,
            0.5,
            None,
        );
        assert!(d.is_none(), "no retry once the fetch failed");
    }

    #[test]
    fn a_paused_transfer_runs_again_first() {
        let now = Instant::now();
        let mut f = fetch(3);
        assert_eq!(f.take_next(false, now), Some(w(0)));
        assert!(matches!(f.set_paused(true), Ok(true)));
        assert!(matches!(f.set_paused(true), Ok(false)));
        assert!(!f.has_queued(true));
        assert!(f.take_next(true, now).is_none());
        assert_eq!(f.transfer_ended(w(0)).0, Next::Wake);
        assert!(matches!(f.set_paused(false), Ok(true)));
        assert_eq!(take_all(&mut f, now), vec![0, 1, 2]);
        assert!(f.fail_now(FailureReason::Aborted));
        assert!(matches!(f.set_paused(true), Err(Error::InvalidState(_))));
    }

    #[test]
    fn update_ui_once_per_completion_event() {
        let mut f = fetch(1);
        assert!(f.update_ui(Some("a"), None).is_ok());
        assert!(
            f.update_ui(Some("b"), None).is_ok(),
            "outside an event: any number"
        );
        f.set_event_active(true);
        assert!(f.update_ui(Some("c"), None).is_ok());
        assert!(matches!(
            f.update_ui(Some("d"), None),
            Err(Error::InvalidState(_))
        ));
        assert_eq!(f.title(), Some("c"));
        f.set_event_active(false);
        f.set_event_active(true);
        assert!(f.update_ui(Some("e"), None).is_ok(), "a new event");
    }

    #[test]
    fn release_once_and_only_when_settled() {
        let now = Instant::now();
        let mut f = fetch(1);
        take_all(&mut f, now);
        assert!(matches!(f.check_releasable(), Err(Error::InvalidState(_))));
        arrive(&mut f, 0, 200, 5, now);
        assert_eq!(f.finish(0, Outcome::Done), Next::Settle);
        assert!(f.check_releasable().is_ok());
        assert_eq!(f.release(), Some(5));
        assert_eq!(f.release(), None);
        assert!(matches!(f.check_available(), Err(Error::InvalidState(_))));
        assert!(
            !f.unreserve(0, 0),
            "the quota got everything back at release"
        );
    }

    #[test]
    fn the_settled_state_round_trips_through_its_stored_form() {
        let now = Instant::now();
        let mut f = fetch(3);
        take_all(&mut f, now);
        arrive(&mut f, 0, 200, 2, now);
        f.finish(0, Outcome::Done);
        f.finish(1, Outcome::Failed("the server went away".into()));
        assert!(f.fail_now(FailureReason::Aborted));
        f.transfer_ended(w(2));
        let s = f.to_stored("f");
        let heads = f
            .records()
            .iter()
            .map(|r| r.head.as_deref().cloned())
            .collect();
        let log = RecordLog {
            heads,
            errors: vec![None; 3],
            segments: vec![SegmentMark::None; 3],
            done: vec![true, false, false],
            head_lines: vec![None; 3],
        };
        let again = FetchState::from_stored(&s, log, vec![(2, true), (0, false), (0, false)]);
        assert_eq!(again.outcome(), f.outcome());
        assert_eq!(again.record(0).outcome, Outcome::Done);
        assert_eq!(
            again.record(1).outcome,
            Outcome::Failed("the server went away".into())
        );
        assert_eq!(again.record(2).outcome, Outcome::Aborted);
        assert!(again.settled_and_stored());
    }

    const MIB: u64 = 1 << 20;

    fn range(k: usize) -> Work {
        Work {
            index: 0,
            range: Some(k),
        }
    }

    /// Stores `n` bytes of range `k` of record 0, as a transfer does (claim, reserve, commit).
    fn store_range(f: &mut FetchState, k: usize, n: u64, now: Instant) -> u64 {
        let claimed = f.claim(0, k, n);
        assert!(f.add_reserved(0, claimed));
        f.commit(range(k), claimed, now);
        claimed
    }

    /// A fetch of one record whose 8 MiB body was split in `count` ranges by its transfer.
    fn split_fetch(count: usize, now: Instant) -> FetchState {
        let mut f = fetch(1);
        assert_eq!(take_all(&mut f, now), vec![0]);
        f.set_head(0, head(200, 8 * MIB), true);
        let map = f.split(0, 8 * MIB, count).expect("a split");
        assert_eq!(map.len(), count);
        assert!(
            map.iter().all(|r| r.0 == r.1),
            "the first map claims no byte"
        );
        f
    }

    #[test]
    fn a_split_body_runs_its_ranges_and_completes_once() {
        let now = Instant::now();
        let mut f = split_fetch(4, now);
        assert!(f.split(0, 8 * MIB, 4).is_none(), "split once");
        let ranges: Vec<Work> = std::iter::from_fn(|| f.take_next(false, now)).collect();
        assert_eq!(ranges, vec![range(1), range(2), range(3)]);
        assert_eq!(
            f.record(0).attempts,
            1,
            "a range's first request is no new attempt"
        );
        assert_eq!(f.record_status(0, now).state, RecordState::Active);
        // Range 1 stores 1 MiB: counted, readable where it lies, not at the front.
        assert_eq!(store_range(&mut f, 1, MIB, now), MIB);
        assert_eq!(f.snapshot().downloaded, MIB);
        assert_eq!(f.record(0).readable_at(2 * MIB), MIB);
        assert_eq!(f.record(0).readable_at(0), 0);
        // A checkpoint is due after 1 MiB; its map claims what was stored when it was taken.
        let (map, stored) = f.map_snapshot(0, false).expect("a checkpoint");
        assert_eq!((map[1].0, map[1].1, stored), (2 * MIB, 3 * MIB, MIB));
        assert!(f.map_snapshot(0, false).is_none(), "not due again yet");
        assert!(f.map_wanted(0, stored));
        f.map_written(0, stored);
        assert!(!f.map_wanted(0, stored), "written once");
        assert!(f.map_snapshot(0, true).is_none(), "nothing new to claim");
        // Every range stored: exactly one transfer completes the body.
        for k in 0..4 {
            store_range(&mut f, k, 2 * MIB, now);
        }
        assert_eq!(f.snapshot().downloaded, 8 * MIB, "never past the body");
        assert!(f.take_completion(0));
        assert!(!f.take_completion(0), "once");
        assert!(f.mark_syncing(0));
        assert!(f.map_snapshot(0, true).is_none(), "no map once complete");
        for k in 1..4 {
            assert_eq!(f.transfer_ended(range(k)), (Next::Wake, 0));
        }
        assert_eq!(f.finish(0, Outcome::Done), Next::Settle);
        assert_eq!(f.transfer_ended(range(0)), (Next::Wake, 0));
        assert!(!f.busy());
    }

    #[test]
    fn a_free_connection_takes_over_half_of_the_largest_busy_range() {
        let now = Instant::now();
        let mut f = split_fetch(2, now); // [0, 4M) for the first transfer, [4M, 8M) queued
        assert_eq!(f.take_next(false, now), Some(range(1)));
        store_range(&mut f, 0, 4 * MIB, now);
        // Range 0 is stored: its connection takes the second half of range 1.
        assert_eq!(f.transfer_ended(range(0)), (Next::Wake, 0));
        assert_eq!(f.take_next(false, now), Some(range(2)));
        assert_eq!(f.range_bounds(0, 2), Some((6 * MIB, 8 * MIB)));
        assert_eq!(f.range_bounds(0, 1), Some((4 * MIB, 6 * MIB)));
        // Range 1 stops at its new end.
        assert_eq!(store_range(&mut f, 1, 4 * MIB, now), 2 * MIB);
        assert_eq!(f.claim(0, 1, 1), 0);
    }

    #[test]
    fn a_failed_range_waits_alone_and_a_stopped_one_runs_again_first() {
        let now = Instant::now();
        let mut f = split_fetch(2, now);
        assert_eq!(f.take_next(false, now), Some(range(1)));
        let policy = RetryPolicy::default();
        let failure = (FailureKind::Transient, "reset");
        let d = f.attempt_failed(range(1), &policy, failure, now, 0.5, None);
        assert!(matches!(d, Some(Decision::Retry { .. })));
        assert_eq!(f.transfer_ended(range(1)), (Next::Wake, 0));
        assert_eq!(
            f.record_status(0, now).state,
            RecordState::Active,
            "range 0 still runs"
        );
        assert!(
            f.take_next(false, now).is_none(),
            "range 1 waits for its turn"
        );
        // Range 0 is stopped (a pause): it goes back to the front of the queue.
        assert_eq!(f.transfer_ended(range(0)), (Next::Wake, 0));
        assert_eq!(f.record_status(0, now).state, RecordState::Queued);
        assert_eq!(f.take_next(false, now), Some(range(0)));
        assert_eq!(f.transfer_ended(range(0)), (Next::Wake, 0));
        assert!(f.requeue(range(1)));
        assert_eq!(take_all(&mut f, now), vec![0, 0]);
        assert_eq!(
            f.record(0).attempts,
            2,
            "the failed range's next request is an attempt"
        );
    }

    #[test]
    fn a_split_given_up_restarts_the_record_whole_once_its_ranges_ended() {
        let now = Instant::now();
        let mut f = split_fetch(4, now);
        assert_eq!(f.take_next(false, now), Some(range(1)));
        store_range(&mut f, 0, MIB, now);
        store_range(&mut f, 1, MIB, now);
        assert!(f.abandon_split(0, "the file changed"));
        assert!(!f.abandon_split(0, "again"), "once");
        assert!(
            f.take_next(false, now).is_none(),
            "the queued ranges are gone"
        );
        assert_eq!(f.claim(0, 0, 10), 0, "no more bytes in place");
        assert!(f.map_snapshot(0, true).is_none());
        assert_eq!(
            f.transfer_ended(range(1)),
            (Next::Wake, 0),
            "range 0 still runs"
        );
        // The last range transfer ends: the bytes go, and the record runs whole from zero.
        assert_eq!(f.transfer_ended(range(0)), (Next::Wake, 2 * MIB));
        assert_eq!(f.snapshot().downloaded, 0);
        assert_eq!(f.take_next(false, now), Some(w(0)));
        assert!(f.record(0).split.is_none());
        assert!(f.split(0, 8 * MIB, 4).is_none(), "not split again");
        assert_eq!(f.record(0).last_error.as_deref(), Some("the file changed"));
    }

    #[test]
    fn an_abort_stops_every_range_but_a_body_stored_whole_completes() {
        let now = Instant::now();
        let mut f = split_fetch(2, now);
        assert_eq!(f.take_next(false, now), Some(range(1)));
        store_range(&mut f, 0, 4 * MIB, now);
        store_range(&mut f, 1, 4 * MIB, now);
        assert!(f.take_completion(0));
        // The fetch is aborted before the completing transfer hands the body over.
        assert!(f.fail_now(FailureReason::Aborted));
        assert_eq!(
            f.transfer_ended(range(1)),
            (Next::Wake, 0),
            "the other transfer"
        );
        assert!(f.mark_syncing(0), "a body stored whole still completes");
        assert_eq!(f.finish(0, Outcome::Done), Next::Settle);
        let mut g = split_fetch(2, now);
        assert_eq!(g.take_next(false, now), Some(range(1)));
        store_range(&mut g, 1, MIB, now);
        assert!(g.fail_now(FailureReason::Aborted));
        assert_eq!(
            g.record(0).outcome,
            Outcome::Aborted,
            "half a body: aborted at once"
        );
        assert_eq!(g.claim(0, 0, 10), 0, "no more bytes");
        assert!(g.take_settle());
        assert_eq!(g.transfer_ended(range(1)), (Next::Wake, 0));
        assert_eq!(g.transfer_ended(range(0)), (Next::Wake, 0));
        assert!(!g.busy());
    }

    #[test]
    fn a_restored_map_queues_the_ranges_left() {
        let mut s = stored(1, 0);
        s.requests[0] = Arc::new(StoredRequest {
            url: "http://127.0.0.1/big".into(),
            method: "GET".into(),
            headers: Vec::new(),
            body_len: None,
            integrity: None,
        });
        let mut log = RecordLog::empty(1);
        log.heads[0] = Some((*head(200, 4 * MIB)).clone());
        log.segments[0] = SegmentMark::Map(vec![
            StoredRange(0, MIB, 2 * MIB),
            StoredRange(2 * MIB, 4 * MIB, 4 * MIB),
        ]);
        let mut f = FetchState::from_stored(&s, log, vec![(3 * MIB, false)]);
        assert_eq!(f.snapshot().downloaded, 3 * MIB);
        let now = Instant::now();
        assert_eq!(
            f.take_next(false, now),
            Some(range(0)),
            "the range not stored whole"
        );
        assert!(f.take_next(false, now).is_none());
        assert_eq!(f.range_bounds(0, 0), Some((MIB, 2 * MIB)));
    }

    #[test]
    fn a_broken_manager_fails_every_pending_record() {
        let mut f = fetch(2);
        take_all(&mut f, Instant::now());
        assert!(f.fail_broken("the sync thread died"));
        assert_eq!(
            f.outcome(),
            Some((FetchResult::Failure, FailureReason::FetchError))
        );
        assert!(matches!(f.record(1).outcome, Outcome::Failed(_)));
    }
}
