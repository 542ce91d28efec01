//! The work of a fetch as its state machine sees it: the queue and the slots of the scheduler,
//! each transfer's events (head, bytes reserved and stored, attempts failed), the outcome of
//! each record, and the settle rules.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{FetchState, Next, Reserve};
use crate::head::ResponseHead;
use crate::outcome::Outcome;
use crate::retry::{Decision, FailureKind, RetryPolicy, RetryState};
use crate::web_enum::{FailureReason, FetchResult};

impl FetchState {
    // ----- the scheduler -----

    /// How many records wait in the queue for a worker.
    pub(crate) fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Whether a slot should go on to another record (`held`: the fetch's transfers are held
    /// by a pause or offline, or cancelled).
    pub(crate) fn has_queued(&self, held: bool) -> bool {
        !self.settled() && !self.queue.is_empty() && !held
    }

    /// Takes the next record to transfer at `now`, or `None`.
    pub(crate) fn take_next(&mut self, held: bool, now: Instant) -> Option<usize> {
        if !self.settled() && !held {
            if let Some(i) = self.queue.pop_front() {
                let r = &mut self.records[i];
                r.running = true;
                r.attempts = r.attempts.saturating_add(1);
                r.retry
                    .get_or_insert_with(|| RetryState::new(now))
                    .begin_attempt();
                return Some(i);
            }
        }
        None
    }

    /// Record `index`'s wait for its next attempt is over: `true` if it went back into the
    /// queue (the caller wakes a worker).
    pub(crate) fn requeue(&mut self, index: usize) -> bool {
        let r = &mut self.records[index];
        if !r.waiting {
            return false;
        }
        r.waiting = false;
        r.retry_due = None;
        if r.running {
            return false; // its transfer is still ending: `transfer_ended` queues it
        }
        if self.settled() || self.records[index].outcome != Outcome::Pending {
            return false;
        }
        self.queue.push_back(index);
        true
    }

    // ----- a transfer -----

    /// Whether the transfer of record `index` must stop (the fetch settled or it ended).
    pub(crate) fn must_stop(&self, index: usize) -> bool {
        self.settled() || self.records[index].outcome != Outcome::Pending
    }

    /// The head of record `index` arrived; `expose` is false while integrity is unchecked.
    pub(crate) fn set_head(&mut self, index: usize, head: Arc<ResponseHead>, expose: bool) {
        self.records[index].head = Some(head);
        self.records[index].exposed = expose;
    }

    /// Whether `n` more body bytes of record `index` may be stored (before the quota).
    pub(crate) fn check_reserve(&self, index: usize, n: u64) -> Reserve {
        if self.must_stop(index) {
            Reserve::Stopped
        } else if self.download_total > 0 && self.downloaded + n > self.download_total {
            Reserve::OverDownloadTotal
        } else {
            Reserve::Allowed
        }
    }

    /// `n` bytes received for record `index` are reserved for writing (counted as
    /// downloaded): `false` (and nothing counted) if the fetch settled meanwhile.
    pub(crate) fn add_reserved(&mut self, index: usize, n: u64) -> bool {
        if self.settled() {
            return false;
        }
        self.downloaded += n;
        self.records[index].reserved += n;
        true
    }

    /// A reservation of `n` bytes for record `index` was not written: whether the quota gets
    /// them back (not once released, which gave back everything).
    pub(crate) fn unreserve(&mut self, index: usize, n: u64) -> bool {
        self.downloaded -= n;
        self.records[index].reserved -= n;
        self.records_available
    }

    /// `n` reserved bytes of record `index` are stored, at `now`. Progress (for the retry
    /// policy) only where the body grows past the most it ever held.
    pub(crate) fn commit(&mut self, index: usize, n: u64, now: Instant) {
        let r = &mut self.records[index];
        r.reserved -= n;
        r.stored += n;
        if r.stored > r.high_water {
            r.high_water = r.stored;
            r.error_seq = 0;
            if let Some(retry) = r.retry.as_mut() {
                retry.on_progress(now);
            }
        }
    }

    /// The body of record `index` restarts from zero: the bytes it frees.
    pub(crate) fn reset_body(&mut self, index: usize) -> u64 {
        let stored = std::mem::take(&mut self.records[index].stored);
        self.downloaded -= stored;
        stored
    }

    /// `sent` request body bytes of record `index` went out in this attempt: whether the
    /// counters changed.
    pub(crate) fn set_uploaded(&mut self, index: usize, sent: u64) -> bool {
        let prev = self.records[index].uploaded;
        if sent > prev {
            self.records[index].uploaded = sent;
            self.uploaded += sent - prev;
            true
        } else {
            false
        }
    }

    /// The body of record `index` is complete and goes to the sync thread: `false` (nothing
    /// marked) if the record ended meanwhile — the fetch failed while its last bytes were
    /// being written — so that no body completes for an ended record.
    pub(crate) fn mark_syncing(&mut self, index: usize) -> bool {
        let r = &mut self.records[index];
        if r.outcome != Outcome::Pending {
            return false;
        }
        r.syncing = true;
        true
    }

    /// An attempt at record `index` failed with `kind` and the message `why` at `now`: the
    /// retry policy's decision (the record then waits for its next attempt), or `None` if the
    /// record or the fetch ended meanwhile. `jitter` is in [0, 1).
    pub(crate) fn attempt_failed(
        &mut self,
        index: usize,
        policy: &RetryPolicy,
        (kind, why): (FailureKind, &str),
        now: Instant,
        jitter: f64,
        retry_after: Option<Duration>,
    ) -> Option<Decision> {
        if self.must_stop(index) {
            return None;
        }
        self.errors += 1;
        let r = &mut self.records[index];
        r.last_error = Some(why.to_string());
        r.error_seq = self.errors;
        let retry = r.retry.get_or_insert_with(|| RetryState::new(now));
        let d = retry.on_failure(policy, now, kind, jitter, retry_after);
        if let Decision::Retry { after } = d {
            r.waiting = true;
            r.retry_due = Some(now + after);
        }
        Some(d)
    }

    /// Record `index` ended with `outcome` (its transfer, the sync thread, or a failure).
    pub(crate) fn finish(&mut self, index: usize, outcome: Outcome) -> Next {
        if self.records[index].outcome != Outcome::Pending {
            // Ended already; whatever handed it over is done with it.
            self.records[index].syncing = false;
            return Next::Wake;
        }
        if self.settled() {
            // A body that was complete (or waiting for the sync thread) when the fetch
            // stopped: it ends now, and the fetch settles once the last such body has.
            if !self.records[index].syncing {
                return Next::Nothing;
            }
            let r = &mut self.records[index];
            r.exposed = outcome == Outcome::Done;
            r.outcome = outcome;
            r.syncing = false;
            self.unfinished = self.unfinished.saturating_sub(1);
            return if self.take_settle() {
                Next::Settle
            } else {
                Next::Wake
            };
        }
        self.records[index].syncing = false;
        match &outcome {
            Outcome::Done => {
                self.records[index].exposed = true;
                let ok = self.records[index].head.as_ref().is_some_and(|h| h.ok());
                if !ok && self.first_failure.is_none() {
                    self.first_failure = Some(FailureReason::BadStatus);
                }
            }
            Outcome::Failed(why) => {
                self.errors += 1;
                let r = &mut self.records[index];
                r.exposed = false;
                r.last_error = Some(why.clone());
                r.error_seq = self.errors;
                if self.first_failure.is_none() {
                    self.first_failure = Some(FailureReason::FetchError);
                }
            }
            Outcome::Aborted | Outcome::Pending => {}
        }
        self.records[index].outcome = outcome;
        self.unfinished -= 1;
        if self.unfinished == 0 {
            match self.first_failure {
                Some(reason) => {
                    self.result = FetchResult::Failure;
                    self.failure_reason = reason;
                }
                None => self.result = FetchResult::Success,
            }
        }
        if self.take_settle() {
            Next::Settle
        } else {
            Next::Progress
        }
    }

    /// The fetch fails now with `reason` (abort, quota, download total): every unfinished
    /// record becomes aborted, except a body whose bytes all arrived (or that waits for the
    /// sync thread), which completes first. `false` if it had already settled. The caller
    /// stops the transfers, then calls [`FetchState::take_settle`].
    pub(crate) fn fail_now(&mut self, reason: FailureReason) -> bool {
        if self.settled() {
            return false;
        }
        self.result = FetchResult::Failure;
        self.failure_reason = reason;
        for r in self.records.iter_mut() {
            let arriving_whole = r.syncing || (r.running && r.all_bytes_arrived());
            if r.outcome == Outcome::Pending && !arriving_whole {
                r.outcome = Outcome::Aborted;
            }
        }
        self.unfinished = self
            .records
            .iter()
            .filter(|r| r.outcome == Outcome::Pending)
            .count();
        self.queue.clear();
        true
    }

    /// A thread of the manager died (a bug): the fetch fails now, whatever its records were
    /// doing (nothing would ever complete them). Whether the caller settles it.
    pub(crate) fn fail_broken(&mut self, why: &str) -> bool {
        if !self.settled() {
            self.result = FetchResult::Failure;
            self.failure_reason = FailureReason::FetchError;
        }
        for r in self.records.iter_mut() {
            if r.outcome == Outcome::Pending {
                r.outcome = Outcome::Failed(format!("internal error: {why}"));
                r.syncing = false;
                r.waiting = false;
            }
        }
        self.unfinished = 0;
        self.queue.clear();
        self.take_settle()
    }

    /// A worker's transfer of record `index` ended (whatever the reason). A record the fetch
    /// kept for completion whose transfer ended without completing it is aborted now; a
    /// record stopped by a pause, going offline or close runs again, first.
    pub(crate) fn transfer_ended(&mut self, index: usize) -> Next {
        self.records[index].running = false;
        if self.state_unsaved && !self.busy() {
            self.state_unsaved = false;
            return Next::SaveState;
        }
        let r = &self.records[index];
        let unended = r.outcome == Outcome::Pending && !r.syncing && !r.waiting;
        if self.settled() && unended {
            self.records[index].outcome = Outcome::Aborted;
            self.unfinished = self.unfinished.saturating_sub(1);
            if self.take_settle() {
                return Next::Settle;
            }
        } else if unended {
            self.queue.push_front(index);
        }
        Next::Wake
    }

    /// Whether the fetch is ready to settle (a result and no record left to end) and nobody
    /// settled it yet; marks it as being settled. Exactly one caller gets `true`.
    pub(crate) fn take_settle(&mut self) -> bool {
        if !self.settled() || self.unfinished > 0 || self.settling {
            return false;
        }
        self.settling = true;
        true
    }

    /// Settles a fetch restored with every record finished: success, or `bad-status` if a
    /// response was not ok.
    pub(crate) fn settle_recovered(&mut self) {
        let bad = self
            .records
            .iter()
            .any(|r| r.outcome == Outcome::Done && !r.head.as_ref().is_some_and(|h| h.ok()));
        self.result = if bad {
            FetchResult::Failure
        } else {
            FetchResult::Success
        };
        if bad {
            self.failure_reason = FailureReason::BadStatus;
        }
        self.settling = true;
    }

    /// The settled state could not be written: `true` if a transfer still holds disk space
    /// (the last one to end writes it, [`Next::SaveState`]); `false` if nobody will.
    pub(crate) fn defer_save(&mut self) -> bool {
        if self.busy() {
            self.state_unsaved = true;
        }
        self.state_unsaved
    }

    /// The settled state is stored.
    pub(crate) fn set_settled_durable(&mut self) {
        self.settled_durable = true;
    }
}
