//! The library's error type. Each variant maps to exactly one `bgfetch_status` of the C ABI.

use std::fmt;

/// An error from the core. The message never contains URL credentials or request bodies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A bad argument: id, URL, method, header, empty list (the web's `TypeError`).
    InvalidArgument(String),
    /// An unreleased fetch already has this id.
    DuplicateId(String),
    /// Storing this would exceed the store's quota (`QuotaExceededError`).
    QuotaExceeded(String),
    /// The records are no longer available, or the call comes in the wrong order (`InvalidStateError`).
    InvalidState(String),
    /// The fetch was aborted before this response was available (`AbortError`).
    Aborted(String),
    /// The request failed, or was never made because the fetch failed (`TypeError` from responseReady).
    FetchFailed(String),
    /// A wait ran out of time.
    Timeout(String),
    /// The store could not be read or written.
    Io(String),
    /// The manager was closed.
    Closed(String),
    /// Another manager, in this process or another, holds the store.
    Busy(String),
    /// A bug, caught before it could harm the host.
    Internal(String),
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// The message carried by the error.
    pub fn message(&self) -> &str {
        match self {
            Error::InvalidArgument(m)
            | Error::DuplicateId(m)
            | Error::QuotaExceeded(m)
            | Error::InvalidState(m)
            | Error::Aborted(m)
            | Error::FetchFailed(m)
            | Error::Timeout(m)
            | Error::Io(m)
            | Error::Closed(m)
            | Error::Busy(m)
            | Error::Internal(m) => m,
        }
    }

    /// An I/O error with what was being done when it happened.
    pub fn io(context: &str, err: std::io::Error) -> Error {
        Error::Io(format!("{context}: {err}"))
    }

    pub(crate) fn invalid(msg: impl Into<String>) -> Error {
        Error::InvalidArgument(msg.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for Error {}
