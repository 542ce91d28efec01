//! What the state of a fetch answers its readers: the counters, the state of each record and of
//! the fetch, the last error and the expected total (read live by the host, through the
//! registration).

use std::time::{Duration, Instant};

use super::FetchState;
use crate::error::{Error, Result};
use crate::outcome::Outcome;
use crate::record::LiveRecord;
use crate::request::Icon;
use crate::web_enum::{FailureReason, FetchResult, RecordState};

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
    /// Whether the fetch is paused.
    pub paused: bool,
}

/// What a record is doing, and why it waits (read live).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordStatus {
    /// Its state.
    pub state: RecordState,
    /// Attempts made for it in this session (0: none yet).
    pub attempts: u32,
    /// In [`RecordState::RetryWait`]: how long until its next attempt.
    pub retry_in: Option<Duration>,
    /// The last failed attempt's message, if one failed.
    pub last_error: Option<String>,
    /// Body bytes stored so far (the response's, as it arrives).
    pub stored: u64,
}

/// The body bytes a fetch expects, from its response heads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExpectedTotal {
    /// The sum of the body lengths known (Content-Length, Content-Range).
    pub bytes: u64,
    /// Whether every record's length is known (its head arrived and gave one).
    pub all_known: bool,
}

impl FetchState {
    /// All counters at once.
    pub(crate) fn snapshot(&self) -> Snapshot {
        Snapshot {
            upload_total: self.upload_total,
            uploaded: self.uploaded,
            download_total: self.download_total,
            downloaded: self.downloaded,
            result: self.result,
            failure_reason: self.failure_reason,
            records_available: self.records_available,
            paused: self.paused,
        }
    }

    /// The title.
    pub(crate) fn title(&self) -> Option<&str> {
        self.title.as_deref()
    }

    /// The icons.
    pub(crate) fn icons(&self) -> &[Icon] {
        &self.icons
    }

    /// The records, in request order.
    pub(crate) fn records(&self) -> &[LiveRecord] {
        &self.records
    }

    /// Record `index`.
    pub(crate) fn record(&self, index: usize) -> &LiveRecord {
        &self.records[index]
    }

    /// What record `index` is doing at `now`, and why it waits.
    pub(crate) fn record_status(&self, index: usize, now: Instant) -> RecordStatus {
        let r = &self.records[index];
        let state = self.record_state(r);
        RecordStatus {
            state,
            attempts: r.attempts,
            retry_in: r
                .retry_due()
                .filter(|_| state == RecordState::RetryWait)
                .map(|due| due.saturating_duration_since(now)),
            last_error: r.last_error.clone(),
            stored: r.stored,
        }
    }

    fn record_state(&self, r: &LiveRecord) -> RecordState {
        match r.outcome {
            Outcome::Done => RecordState::Done,
            Outcome::Failed(_) | Outcome::Aborted => RecordState::Failed,
            // A body completing after the fetch stopped.
            Outcome::Pending if self.settled() => RecordState::Active,
            Outcome::Pending if self.paused => RecordState::Paused,
            Outcome::Pending if self.offline => RecordState::Offline,
            Outcome::Pending if r.waits() => RecordState::RetryWait,
            Outcome::Pending if r.transferring() || r.syncing => RecordState::Active,
            Outcome::Pending => RecordState::Queued,
        }
    }

    /// The fetch's state: settled, `Done` (success) or `Failed`; else the most alive state of
    /// its pending records, in the order active, queued, retry-wait, offline, paused.
    pub(crate) fn state(&self) -> RecordState {
        match self.result {
            FetchResult::Success => return RecordState::Done,
            FetchResult::Failure => return RecordState::Failed,
            FetchResult::None => {}
        }
        const ALIVE: [RecordState; 5] = [
            RecordState::Active,
            RecordState::Queued,
            RecordState::RetryWait,
            RecordState::Offline,
            RecordState::Paused,
        ];
        let rank = |s: RecordState| ALIVE.iter().position(|&a| a == s);
        self.records
            .iter()
            .filter(|r| r.outcome == Outcome::Pending)
            .filter_map(|r| rank(self.record_state(r)))
            .min()
            .map_or(RecordState::Active, |i| ALIVE[i])
    }

    /// The latest failed attempt's message of any record that made no progress since.
    pub(crate) fn last_error(&self) -> Option<&str> {
        self.records
            .iter()
            .filter(|r| r.error_seq > 0)
            .max_by_key(|r| r.error_seq)
            .and_then(|r| r.last_error.as_deref())
    }

    /// The sum of the body lengths known from the records' response heads, and whether every
    /// record's is known.
    pub(crate) fn expected_total(&self) -> ExpectedTotal {
        let lens = self.records.iter().map(|r| r.total_len());
        let (mut bytes, mut all_known) = (0u64, true);
        for len in lens {
            match len {
                Some(l) => bytes = bytes.saturating_add(l),
                None => all_known = false,
            }
        }
        ExpectedTotal { bytes, all_known }
    }

    /// Whether the fetch has a result.
    pub(crate) fn settled(&self) -> bool {
        self.result != FetchResult::None
    }

    /// Whether the fetch has a result and it is stored (what `wait` waits for).
    pub(crate) fn settled_and_stored(&self) -> bool {
        self.settled() && self.settled_durable
    }

    /// Whether the fetch is paused.
    pub(crate) fn paused(&self) -> bool {
        self.paused
    }

    /// Whether the records were released.
    pub(crate) fn released(&self) -> bool {
        !self.records_available
    }

    /// Whether the records may be read: `InvalidState` once released.
    pub(crate) fn check_available(&self) -> Result<()> {
        if self.records_available {
            Ok(())
        } else {
            Err(Error::InvalidState(
                "the records are no longer available".into(),
            ))
        }
    }

    /// Whether a worker or the sync thread still works on a record of this fetch.
    pub(crate) fn busy(&self) -> bool {
        self.records.iter().any(|r| r.transferring() || r.syncing)
    }

    /// The records that ended without their body (aborted or failed) and whose partial body
    /// nobody writes any more: it can never be read or resumed.
    pub(crate) fn stopped_parts(&self) -> Vec<usize> {
        self.records
            .iter()
            .enumerate()
            .filter(|(_, r)| matches!(r.outcome, Outcome::Aborted | Outcome::Failed(_)))
            .filter(|(_, r)| !r.syncing)
            .map(|(i, _)| i)
            .collect()
    }

    /// How a fetch restored at open stands: its result and how many records are unfinished.
    pub(crate) fn restored_status(&self) -> (FetchResult, usize) {
        (self.result, self.unfinished)
    }

    /// The completion event of the settled fetch: (result, reason), `None` while running.
    pub(crate) fn outcome(&self) -> Option<(FetchResult, FailureReason)> {
        self.settled().then_some((self.result, self.failure_reason))
    }
}
