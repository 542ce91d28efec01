//! How a record stands: the outcome the state machine keeps and the store records.

/// Where a record stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Not finished yet (waiting, or being transferred).
    Pending,
    /// The whole response is stored.
    Done,
    /// The request failed (network error, integrity mismatch, or never made).
    Failed(String),
    /// The fetch stopped (abort, quota, download total) before this response was complete.
    Aborted,
}
