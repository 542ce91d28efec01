//! The work of a fetch as its state machine sees it: the queue and the slots of the scheduler,
//! each transfer's events (head, bytes reserved and stored, attempts failed), the outcome of
//! each record, and the settle rules.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{FetchState, Next, Reserve, Work};
use crate::head::ResponseHead;
use crate::outcome::Outcome;
use crate::record::{HeadLineAt, Split, Turn};
use crate::retry::{Decision, FailureKind, RetryPolicy, RetryState};
use crate::segments::{Segments, StoredRange, CHECKPOINT};
use crate::web_enum::{FailureReason, FetchResult};

impl FetchState {
    // ----- the scheduler -----

    /// How many worker slots the fetch can use now: one per transfer running (a worker holds
    /// its slot) and one per transfer waiting in the queue (a record, or a range of a split
    /// body, which its first transfer queues while it runs on).
    pub(crate) fn slots_wanted(&self) -> usize {
        let running: usize = self
            .records
            .iter()
            .map(|r| r.turns().filter(|t| t.busy).count())
            .sum();
        running + self.queue.len()
    }

    /// Whether a slot should go on to another record (`held`: the fetch's transfers are held
    /// by a pause or offline, or cancelled).
    pub(crate) fn has_queued(&self, held: bool) -> bool {
        !self.settled() && !self.queue.is_empty() && !held
    }

    /// Takes the next transfer to make at `now`, or `None`. A range's first request is not
    /// another attempt of its record; its next one after a failure is.
    pub(crate) fn take_next(&mut self, held: bool, now: Instant) -> Option<Work> {
        if self.settled() || held {
            return None;
        }
        while let Some(work) = self.queue.pop_front() {
            let r = &mut self.records[work.index];
            let Some(turn) = r.turn_mut(work.range) else {
                continue; // a range of a split that was given up
            };
            turn.busy = true;
            let another_attempt = work.range.is_none() || std::mem::take(&mut turn.failed);
            turn.retry
                .get_or_insert_with(|| RetryState::new(now))
                .begin_attempt();
            if another_attempt {
                r.attempts = r.attempts.saturating_add(1);
            }
            return Some(work);
        }
        None
    }

    /// The wait of `work` for its next attempt is over: `true` if it went back into the queue
    /// (the caller wakes a worker).
    pub(crate) fn requeue(&mut self, work: Work) -> bool {
        let settled = self.settled();
        let r = &mut self.records[work.index];
        let pending = r.outcome == Outcome::Pending;
        let given_up = work.range.is_some() && r.split.as_ref().is_none_or(|s| s.abandoned);
        let Some(turn) = r.turn_mut(work.range).filter(|t| t.waiting) else {
            return false;
        };
        turn.waiting = false;
        turn.retry_due = None;
        if turn.busy {
            return false; // its transfer is still ending: `transfer_ended` queues it
        }
        if settled || !pending || given_up {
            return false;
        }
        self.queue.push_back(work);
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
        self.records[index].head_line = None;
        self.records[index].exposed = expose;
    }

    /// The line of record `index`'s current head was written to the head log at `at`.
    pub(crate) fn head_written(&mut self, index: usize, at: HeadLineAt) {
        self.records[index].head_written(at);
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

    /// `n` reserved bytes written by `work` are stored, at `now`. Progress (for the retry
    /// policy of its turn) only where the body grows past the most it ever held.
    pub(crate) fn commit(&mut self, work: Work, n: u64, now: Instant) {
        let r = &mut self.records[work.index];
        r.reserved -= n;
        r.stored += n;
        if let (Some(k), Some(split)) = (work.range, r.split.as_mut()) {
            split.segments.commit(k, n);
        }
        if r.stored > r.high_water {
            r.high_water = r.stored;
            r.error_seq = 0;
            if let Some(retry) = r.turn_mut(work.range).and_then(|t| t.retry.as_mut()) {
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
        if r.outcome != Outcome::Pending || r.syncing {
            return false;
        }
        r.syncing = true;
        true
    }

    /// An attempt of `work` failed with `kind` and the message `why` at `now`: the retry
    /// policy's decision for its turn (which then waits for its next attempt), or `None` if
    /// the record or the fetch ended meanwhile. `jitter` is in [0, 1).
    pub(crate) fn attempt_failed(
        &mut self,
        work: Work,
        policy: &RetryPolicy,
        (kind, why): (FailureKind, &str),
        now: Instant,
        jitter: f64,
        retry_after: Option<Duration>,
    ) -> Option<Decision> {
        if self.must_stop(work.index) {
            return None;
        }
        self.errors += 1;
        let r = &mut self.records[work.index];
        r.last_error = Some(why.to_string());
        r.error_seq = self.errors;
        let turn = r.turn_mut(work.range)?;
        let retry = turn.retry.get_or_insert_with(|| RetryState::new(now));
        let d = retry.on_failure(policy, now, kind, jitter, retry_after);
        turn.failed = true;
        if let Decision::Retry { after } = d {
            turn.waiting = true;
            turn.retry_due = Some(now + after);
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
            r.shelve_head();
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
                let ok = self.records[index].head_ok();
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
        self.records[index].shelve_head();
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
            let arriving_whole = r.syncing || (r.transferring() && r.all_bytes_arrived());
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
                r.turns_mut().for_each(|t| t.waiting = false);
            }
        }
        self.unfinished = 0;
        self.queue.clear();
        self.take_settle()
    }

    /// A worker's transfer `work` ended (whatever the reason), and with it, the body bytes it
    /// freed (a split given up: its ranges are dropped when the last of them ends, and the
    /// record starts again from zero as one stream). A record the fetch kept for completion
    /// whose transfers all ended without completing it is aborted now; a transfer stopped by
    /// a pause, going offline or close runs again, first; a range stored whole gives its
    /// connection to the second half of the largest range left.
    pub(crate) fn transfer_ended(&mut self, work: Work) -> (Next, u64) {
        let index = work.index;
        let r = &mut self.records[index];
        if let Some(turn) = r.turn_mut(work.range) {
            turn.busy = false;
        }
        let mut freed = 0;
        if r.split.as_ref().is_some_and(|s| s.abandoned && !s.busy()) {
            r.split = None;
            freed = std::mem::take(&mut r.stored);
            self.downloaded -= freed;
        }
        if self.state_unsaved && !self.busy() {
            self.state_unsaved = false;
            return (Next::SaveState, freed);
        }
        let r = &self.records[index];
        let pending = r.outcome == Outcome::Pending && !r.syncing;
        if self.settled() {
            if pending && !r.transferring() && !r.waits() {
                self.records[index].outcome = Outcome::Aborted;
                self.unfinished = self.unfinished.saturating_sub(1);
                if self.take_settle() {
                    return (Next::Settle, freed);
                }
            }
        } else if pending {
            if let Some(next) = self.after_transfer(work) {
                self.queue.push_front(next);
            }
        }
        (Next::Wake, freed)
    }

    /// What runs next for a pending record of a running fetch once `work` ended: the same
    /// work again (it was stopped), the whole record (its split was given up), half of the
    /// largest range left (its range is stored), or nothing (it waits for its next attempt,
    /// another transfer of it runs, or nothing is left to take).
    fn after_transfer(&mut self, work: Work) -> Option<Work> {
        let index = work.index;
        let queued_range = self
            .queue
            .iter()
            .any(|w| w.index == index && w.range.is_some());
        let r = &mut self.records[index];
        let Some(split) = r.split.as_mut() else {
            let idle = !r.transferring() && !r.whole.waiting;
            return idle.then_some(Work::whole(index));
        };
        let k = work.range?;
        if split.turns[k].waiting || split.abandoned || split.completing {
            return None;
        }
        if !split.segments.ranges[k].done() {
            return Some(work);
        }
        if queued_range {
            return None; // a range waits for a connection: it comes first
        }
        let turns = &split.turns;
        let taken = split.segments.take_over(|j| turns[j].busy)?;
        split.turns.push(Turn::default());
        Some(Work {
            index,
            range: Some(taken),
        })
    }

    // ----- a split body -----

    /// The body of record `index` (`len` bytes, none stored yet) is split into `count` ranges;
    /// the transfer that got its response goes on with range 0, the others wait in the queue.
    /// Returns the stored form of the ranges (the first map, before any byte is written in
    /// place), or `None` if it may not be split.
    pub(crate) fn split(
        &mut self,
        index: usize,
        len: u64,
        count: usize,
    ) -> Option<Vec<StoredRange>> {
        if self.must_stop(index) || count < 2 {
            return None;
        }
        let r = &mut self.records[index];
        if r.no_split || r.split.is_some() || r.stored != 0 || !r.whole.busy {
            return None;
        }
        let mut split = Split::new(Segments::split(len, count));
        split.turns[0] = std::mem::take(&mut r.whole);
        let map = split.segments.stored_form();
        r.split = Some(Box::new(split));
        self.queue.extend((1..count).map(|k| Work {
            index,
            range: Some(k),
        }));
        Some(map)
    }

    /// Undoes [`FetchState::split`] of record `index` (its map could not be written): the
    /// transfer goes on with the whole record, and no other range is queued.
    pub(crate) fn unsplit(&mut self, index: usize) {
        let r = &mut self.records[index];
        if let Some(mut split) = r.split.take() {
            r.whole = std::mem::take(&mut split.turns[0]);
        }
        self.queue
            .retain(|w| !(w.index == index && w.range.is_some()));
    }

    /// Where range `k` of record `index` stands: its next byte to fetch and its end, or `None`
    /// if the record has no such range (its split was given up).
    pub(crate) fn range_bounds(&self, index: usize, k: usize) -> Option<(u64, u64)> {
        let split = self.records[index]
            .split
            .as_ref()
            .filter(|s| !s.abandoned)?;
        let r = split.segments.ranges.get(k)?;
        Some((r.next, r.end))
    }

    /// Claims up to `n` bytes at the claimed end of range `k` of record `index` for a write:
    /// how many may be written there (0: the range is stored, was taken over up to here, or
    /// the record or its split ended).
    pub(crate) fn claim(&mut self, index: usize, k: usize, n: u64) -> u64 {
        if self.must_stop(index) {
            return 0;
        }
        match self.records[index].split.as_mut() {
            Some(split) if !split.abandoned => split.segments.claim(k, n),
            _ => 0,
        }
    }

    /// A claim of `n` bytes of range `k` of record `index` was not written.
    pub(crate) fn unclaim(&mut self, index: usize, k: usize, n: u64) {
        if let Some(split) = self.records[index].split.as_mut() {
            split.segments.unclaim(k, n);
        }
    }

    /// Whether every range of record `index` is stored, and this caller completes the body
    /// (exactly one caller gets `true`).
    pub(crate) fn take_completion(&mut self, index: usize) -> bool {
        match self.records[index].split.as_mut() {
            Some(s) if !s.abandoned && !s.completing && s.segments.complete() => {
                s.completing = true;
                true
            }
            _ => false,
        }
    }

    /// A snapshot of the ranges of record `index` for its stored map, with the stored bytes it
    /// claims, when one is due: `CHECKPOINT` bytes after the last snapshot, or (`force`, a
    /// transfer stopping) whenever bytes are stored that no map claims yet. The caller makes
    /// the body's data durable, then writes the map ([`FetchState::map_wanted`]).
    pub(crate) fn map_snapshot(
        &mut self,
        index: usize,
        force: bool,
    ) -> Option<(Vec<StoredRange>, u64)> {
        let r = &mut self.records[index];
        let stored = r.stored;
        let split = r.split.as_mut().filter(|s| !s.abandoned && !s.completing)?;
        let due = if force {
            stored > split.mapped
        } else {
            stored >= split.snapshot + CHECKPOINT
        };
        if !due {
            return None;
        }
        split.snapshot = split.snapshot.max(stored);
        Some((split.segments.stored_form(), stored))
    }

    /// Whether a map snapshot claiming `stored` bytes of record `index` (its data durable now)
    /// is still to be written: the split goes on and no later map was written. The caller
    /// writes it under the same lock, then calls [`FetchState::map_written`].
    pub(crate) fn map_wanted(&self, index: usize, stored: u64) -> bool {
        let split = self.records[index].split.as_ref();
        split.is_some_and(|s| !s.abandoned && !s.completing && stored > s.mapped)
    }

    /// A map claiming `stored` bytes of record `index` is written.
    pub(crate) fn map_written(&mut self, index: usize, stored: u64) {
        if let Some(split) = self.records[index].split.as_mut() {
            split.mapped = split.mapped.max(stored);
        }
    }

    /// The split of record `index` is given up (`why`: a range's answer did not fit the body):
    /// its ranges stop; once the last of them ended, the body starts again from zero over one
    /// connection, and it is not split again in this session. `false` if it was already
    /// given up (or has no split). The caller writes that the map is void, under the same
    /// lock.
    pub(crate) fn abandon_split(&mut self, index: usize, why: &str) -> bool {
        let r = &mut self.records[index];
        let Some(split) = r.split.as_mut().filter(|s| !s.abandoned) else {
            return false;
        };
        split.abandoned = true;
        for t in split.turns.iter_mut() {
            t.waiting = false;
            t.retry_due = None;
        }
        r.no_split = true;
        self.errors += 1;
        r.last_error = Some(why.to_string());
        r.error_seq = self.errors;
        self.queue
            .retain(|w| !(w.index == index && w.range.is_some()));
        true
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
            .any(|r| r.outcome == Outcome::Done && !r.head_ok());
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
