//! The worker's side: [`RecordJob`], the handle of one record that a worker transfers (or the
//! sync thread completes). It carries the registration, the record's index and the engine, so
//! that the transfer asks it, not the registration with `(engine, index)` at every call.

use std::cell::Cell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Engine, Registration, Stop};
use crate::cancel::CancelToken;
use crate::fetch_state::{Reserve, Work};
use crate::head::ResponseHead;
use crate::outcome::Outcome;
use crate::record::HeadLineAt;
use crate::retry::{Decision, FailureKind};
use crate::store::StoredRequest;
use crate::web_enum::FailureReason;

impl Registration {
    /// Takes the next record to transfer, as a job run with `engine`, or `None` (its state
    /// changes: progress is asked for).
    pub(crate) fn take_job<'a>(self: &Arc<Self>, engine: &'a dyn Engine) -> Option<RecordJob<'a>> {
        let held = self.cancel.is_held();
        let work = self.state.lock().take_next(held, Instant::now())?;
        self.mark_progress(engine);
        Some(self.job_for(work, engine))
    }

    /// The handle of record `index`, run with `engine` (the sync thread's).
    pub(crate) fn job<'a>(self: &Arc<Self>, index: usize, engine: &'a dyn Engine) -> RecordJob<'a> {
        self.job_for(Work::whole(index), engine)
    }

    /// The handle of `work` (a record, or a range of its split body), run with `engine`.
    pub(crate) fn job_for<'a>(
        self: &Arc<Self>,
        work: Work,
        engine: &'a dyn Engine,
    ) -> RecordJob<'a> {
        RecordJob {
            reg: self.clone(),
            index: work.index,
            range: Cell::new(work.range),
            engine,
        }
    }

    /// Whether a slot should go on to another record.
    pub(crate) fn has_queued(&self) -> bool {
        let held = self.cancel.is_held();
        self.state.lock().has_queued(held)
    }
}

/// One record of a registration as a worker (or the sync thread) handles it: the whole
/// record, or one range of its split body.
pub(crate) struct RecordJob<'a> {
    reg: Arc<Registration>,
    index: usize,
    /// The range of the split body this job transfers (`None`: the whole record; it becomes
    /// range 0 when the job splits the body).
    range: Cell<Option<usize>>,
    engine: &'a dyn Engine,
}

impl RecordJob<'_> {
    /// The registration.
    pub(crate) fn registration(&self) -> &Arc<Registration> {
        &self.reg
    }

    /// The record's index in its fetch.
    pub(crate) fn index(&self) -> usize {
        self.index
    }

    /// The range of the split body it transfers (`None`: the whole record).
    pub(crate) fn range(&self) -> Option<usize> {
        self.range.get()
    }

    /// What it transfers, as the fetch's state knows it.
    fn work(&self) -> Work {
        Work {
            index: self.index,
            range: self.range.get(),
        }
    }

    /// The store key of its fetch.
    pub(crate) fn key(&self) -> &str {
        &self.reg.key
    }

    /// Its request as stored (shared, not copied).
    pub(crate) fn request(&self) -> Arc<StoredRequest> {
        self.reg.stored_request(self.index)
    }

    /// The token its transfer runs under (held by pause and offline, cancelled by abort and
    /// close).
    pub(crate) fn cancel_token(&self) -> &Arc<CancelToken> {
        &self.reg.cancel
    }

    /// The head known for it (hidden or not), and its stored bytes.
    pub(crate) fn transfer_state(&self) -> (Option<Arc<ResponseHead>>, u64) {
        let s = self.reg.state.lock();
        let r = s.record(self.index);
        (r.head.clone(), r.stored)
    }

    /// Whether its transfer must stop (held, cancelled, settled, or it ended).
    pub(crate) fn must_stop(&self) -> bool {
        self.reg.cancel.is_held() || self.reg.state.lock().must_stop(self.index)
    }

    /// Its body is complete and goes to the sync thread: `false` (and nothing marked) if the
    /// record ended meanwhile (the fetch failed while its last bytes were being written), so
    /// that no body is completed for an ended record.
    pub(crate) fn mark_syncing(&self) -> bool {
        self.reg.state.lock().mark_syncing(self.index)
    }

    /// Its head arrived; `expose` is false while integrity is unchecked.
    pub(crate) fn set_head(&self, head: Arc<ResponseHead>, expose: bool) {
        self.reg.state.lock().set_head(self.index, head, expose);
        self.reg.notify_records();
    }

    /// Appends its response head to the head log.
    pub(crate) fn save_head(&self, head: &ResponseHead) -> std::io::Result<()> {
        let line = self
            .engine
            .store()
            .save_head(self.key(), self.index, head)?;
        self.head_written(HeadLineAt::of(head, line));
        Ok(())
    }

    /// Its current head's line was written to the head log at `at`.
    pub(crate) fn head_written(&self, at: HeadLineAt) {
        self.reg.state.lock().head_written(self.index, at);
    }

    /// Discards its stored body (a restart from zero).
    pub(crate) fn reset_body(&self) {
        let freed = self.reg.state.lock().reset_body(self.index);
        self.engine.release_quota(freed);
        self.reg.mark_progress(self.engine);
    }

    /// Reserves `n` more body bytes: checks the download total and the quota. On failure the
    /// fetch fails at once and nothing may be written.
    pub(crate) fn reserve(&self, n: u64) -> std::result::Result<(), Stop> {
        let check = self.reg.state.lock().check_reserve(self.index, n);
        match check {
            Reserve::Stopped => return Err(Stop::Stopped),
            Reserve::OverDownloadTotal => {
                self.fail_fetch(FailureReason::DownloadTotalExceeded);
                return Err(Stop::Stopped);
            }
            Reserve::Allowed => {}
        }
        if !self.engine.reserve_quota(n) {
            self.fail_fetch(FailureReason::QuotaExceeded);
            return Err(Stop::Stopped);
        }
        if !self.reg.state.lock().add_reserved(self.index, n) {
            self.engine.release_quota(n);
            return Err(Stop::Stopped);
        }
        Ok(())
    }

    /// Undoes a reservation whose bytes could not be written.
    pub(crate) fn unreserve(&self, n: u64) {
        let mut s = self.reg.state.lock();
        if s.unreserve(self.index, n) {
            self.engine.release_quota(n);
        }
    }

    /// `n` reserved bytes are now stored.
    pub(crate) fn commit(&self, n: u64) {
        self.reg.state.lock().commit(self.work(), n, Instant::now());
        self.reg.notify_records();
        self.reg.mark_progress(self.engine);
    }

    /// Request body bytes sent so far in this attempt.
    pub(crate) fn set_uploaded(&self, sent: u64) {
        if self.reg.state.lock().set_uploaded(self.index, sent) {
            self.reg.mark_progress(self.engine);
        }
    }

    /// The record ended. Settles the fetch when it was the last.
    pub(crate) fn finish(&self, outcome: Outcome) {
        let next = self.reg.state.lock().finish(self.index, outcome);
        self.reg.carry_out(self.engine, next);
    }

    /// Fails the whole fetch now with `reason` (quota, download total, a full disk).
    pub(crate) fn fail_fetch(&self, reason: FailureReason) {
        self.reg.fail_now(self.engine, reason);
    }

    /// Its transfer ended (whatever the reason). A record the fetch kept for completion whose
    /// transfer ended without completing it is aborted now, and the fetch settles if it was
    /// the last.
    pub(crate) fn transfer_ended(&self) {
        let (next, freed) = self.reg.state.lock().transfer_ended(self.work());
        if freed > 0 {
            // A split given up: its bytes are discarded, and the record starts again.
            self.engine.release_quota(freed);
            self.reg.mark_progress(self.engine);
        }
        self.reg.carry_out(self.engine, next);
    }

    /// An attempt failed with `kind` (the message `why` is its last error): per the retry
    /// policy it waits in the delay queue for its next attempt (holding no worker), or the
    /// retries are over.
    ///
    /// Returns `true` if the record waits for another attempt, `false` if the caller ends it.
    pub(crate) fn attempt_failed(
        &self,
        (kind, why): (FailureKind, &str),
        retry_after: Option<Duration>,
    ) -> bool {
        let now = Instant::now();
        let jitter = crate::util::jitter(1_000_000) as f64 / 1_000_000.0;
        let (decision, new_message) = {
            let mut s = self.reg.state.lock();
            let new_message = s.record(self.index).last_error.as_deref() != Some(why);
            let policy = &self.engine.config().retry;
            let decision =
                s.attempt_failed(self.work(), policy, (kind, why), now, jitter, retry_after);
            (decision, new_message)
        };
        if new_message && matches!(decision, Some(Decision::Retry { .. })) {
            // Kept for a later session (a host reopening the store asks why it waits); once
            // per message, not per attempt of an outage. Best effort: it is only a message.
            let _ = self.engine.store().save_error(self.key(), self.index, why);
        }
        let waits = match decision {
            Some(Decision::Retry { after }) => {
                self.engine.retry_at(&self.reg, self.work(), now + after);
                true
            }
            Some(Decision::GiveUp) | None => false,
        };
        // Its state changed (retry-wait), or it is about to end.
        self.reg.mark_progress(self.engine);
        waits
    }

    /// Its wait for the next attempt is over: back into the queue.
    pub(crate) fn requeue(&self) {
        if self.reg.state.lock().requeue(self.work()) {
            self.engine.kick(&self.reg);
            self.reg.mark_progress(self.engine);
        }
    }

    // ----- a split body -----

    /// Splits its body (`len` bytes, none stored yet) into `count` ranges, this job going on
    /// with range 0: the map of the ranges is written first (under the state's lock, so that
    /// no other map line can come before it). `false` (nothing changed) if it may not be
    /// split, or the map could not be written.
    pub(crate) fn split(&self, len: u64, count: usize) -> bool {
        let mut s = self.reg.state.lock();
        let Some(map) = s.split(self.index, len, count) else {
            return false;
        };
        if self
            .engine
            .store()
            .save_segments(self.key(), self.index, Some(&map))
            .is_err()
        {
            s.unsplit(self.index);
            return false;
        }
        drop(s);
        self.range.set(Some(0));
        self.engine.kick(&self.reg);
        true
    }

    /// Its range's next byte to fetch and its end; `None` if the split was given up.
    pub(crate) fn range_bounds(&self) -> Option<(u64, u64)> {
        let k = self.range.get()?;
        self.reg.state.lock().range_bounds(self.index, k)
    }

    /// Claims up to `n` bytes at its range's claimed end: how many it may write there (0: the
    /// range is stored or taken over up to here, or the record or its split ended).
    pub(crate) fn claim(&self, n: u64) -> u64 {
        let Some(k) = self.range.get() else { return 0 };
        self.reg.state.lock().claim(self.index, k, n)
    }

    /// A claim of `n` bytes was not written.
    pub(crate) fn unclaim(&self, n: u64) {
        if let Some(k) = self.range.get() {
            self.reg.state.lock().unclaim(self.index, k, n);
        }
    }

    /// Whether every range is stored and this job completes the body (exactly one does).
    pub(crate) fn take_completion(&self) -> bool {
        self.reg.state.lock().take_completion(self.index)
    }

    /// Writes the map of its split body when one is due (`force`: whenever bytes are stored
    /// that no map claims, as a transfer stops): `file` (the body) is made durable first, so
    /// that a map never claims a byte that is not on disk. Best effort: a map not written
    /// only means that those bytes are fetched again after a crash.
    pub(crate) fn checkpoint(&self, file: &std::fs::File, force: bool) {
        let snapshot = self.reg.state.lock().map_snapshot(self.index, force);
        let Some((map, stored)) = snapshot else {
            return;
        };
        if file.sync_data().is_err() {
            return;
        }
        let mut s = self.reg.state.lock();
        if s.map_wanted(self.index, stored)
            && self
                .engine
                .store()
                .save_segments(self.key(), self.index, Some(&map))
                .is_ok()
        {
            s.map_written(self.index, stored);
        }
    }

    /// Gives up its record's split (`why`: a range's answer did not fit the body): the ranges
    /// stop, and once the last has ended the record starts again from zero as one stream.
    /// The map is voided in the head log first.
    pub(crate) fn abandon_split(&self, why: &str) {
        let mut s = self.reg.state.lock();
        if s.abandon_split(self.index, why) {
            let _ = self
                .engine
                .store()
                .save_segments(self.key(), self.index, None);
        }
        drop(s);
        self.reg.mark_progress(self.engine);
    }
}
