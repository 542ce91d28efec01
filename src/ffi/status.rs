//! Status codes, enumerations, the last error and the version.

use std::ffi::{c_char, CStr};

use crate::error::Error;

/// The result of a fallible call: `BGFETCH_OK` (0) or an error code; the message is in
/// `bgfetch_last_error()`.
pub type bgfetch_status = u32;
/// Success.
pub const BGFETCH_OK: bgfetch_status = 0;
/// A bad argument: NULL, bad UTF-8, bad id, URL, method or header, empty request list
/// (the web's `TypeError`).
pub const BGFETCH_E_INVALID_ARGUMENT: bgfetch_status = 1;
/// An unreleased fetch already has this id (`TypeError`).
pub const BGFETCH_E_DUPLICATE_ID: bgfetch_status = 2;
/// The store's quota would be exceeded (`QuotaExceededError`).
pub const BGFETCH_E_QUOTA_EXCEEDED: bgfetch_status = 3;
/// Records no longer available, or a call in the wrong state (`InvalidStateError`).
pub const BGFETCH_E_INVALID_STATE: bgfetch_status = 4;
/// The fetch was aborted first (`AbortError`).
pub const BGFETCH_E_ABORTED: bgfetch_status = 5;
/// The request failed or was never made (`TypeError` from responseReady).
pub const BGFETCH_E_FETCH_FAILED: bgfetch_status = 6;
/// A wait ran out of time.
pub const BGFETCH_E_TIMEOUT: bgfetch_status = 7;
/// The store could not be read or written.
pub const BGFETCH_E_IO: bgfetch_status = 8;
/// The manager was closed.
pub const BGFETCH_E_CLOSED: bgfetch_status = 9;
/// Another manager (this process or another) holds this store.
pub const BGFETCH_E_BUSY: bgfetch_status = 10;
/// A bug in the library, caught at the boundary. Once a thread of a manager died of one, its
/// running fetches fail (`fetch-error`) and every call that reaches the manager — on it, its
/// registrations, records and responses, waits included — returns this (getters keep answering
/// with the last values, and the lists and headers a handle holds stay readable): close the
/// manager and open the store again.
pub const BGFETCH_E_INTERNAL: bgfetch_status = 99;

/// A fetch's result: `BGFETCH_RESULT_*`.
pub type bgfetch_result = u32;
/// Still running (`""`).
pub const BGFETCH_RESULT_NONE: bgfetch_result = 0;
/// `"success"`.
pub const BGFETCH_RESULT_SUCCESS: bgfetch_result = 1;
/// `"failure"`.
pub const BGFETCH_RESULT_FAILURE: bgfetch_result = 2;

/// Why a fetch failed: `BGFETCH_FAILURE_*`.
pub type bgfetch_failure_reason = u32;
/// No failure (`""`).
pub const BGFETCH_FAILURE_NONE: bgfetch_failure_reason = 0;
/// `"aborted"`: the host aborted it.
pub const BGFETCH_FAILURE_ABORTED: bgfetch_failure_reason = 1;
/// `"bad-status"`: a response status outside 200..=299.
pub const BGFETCH_FAILURE_BAD_STATUS: bgfetch_failure_reason = 2;
/// `"fetch-error"`: a network error after the retries, or an integrity mismatch.
pub const BGFETCH_FAILURE_FETCH_ERROR: bgfetch_failure_reason = 3;
/// `"quota-exceeded"`: the store's quota (or the disk) is full.
pub const BGFETCH_FAILURE_QUOTA_EXCEEDED: bgfetch_failure_reason = 4;
/// `"download-total-exceeded"`: the responses would exceed the fetch's download total.
pub const BGFETCH_FAILURE_DOWNLOAD_TOTAL_EXCEEDED: bgfetch_failure_reason = 5;

/// 0.3. What a record (or a fetch) is doing: `BGFETCH_RECORD_*` (returned by
/// `bgfetch_record_state` and `bgfetch_registration_state`). API.md named this type
/// `bgfetch_record_state`, like the function; C cannot have a type and a function of one name,
/// so the type is `bgfetch_state` and the function keeps its name.
pub type bgfetch_state = u32;
/// Waiting for a connection slot (`"queued"`).
pub const BGFETCH_RECORD_QUEUED: bgfetch_state = 0;
/// Connecting, sending or receiving (`"active"`).
pub const BGFETCH_RECORD_ACTIVE: bgfetch_state = 1;
/// An attempt failed transiently; the next comes after `bgfetch_record_retry_in_ms`
/// (`"retry-wait"`).
pub const BGFETCH_RECORD_RETRY_WAIT: bgfetch_state = 2;
/// The host said offline (`"offline"`).
pub const BGFETCH_RECORD_OFFLINE: bgfetch_state = 3;
/// Its fetch is paused (`"paused"`).
pub const BGFETCH_RECORD_PAUSED: bgfetch_state = 4;
/// Its response is complete, whatever its status (`"done"`).
pub const BGFETCH_RECORD_DONE: bgfetch_state = 5;
/// It will never have a complete response: failed, aborted (`"failed"`).
pub const BGFETCH_RECORD_FAILED: bgfetch_state = 6;

/// The completion event of a settled fetch: `BGFETCH_EVENT_*`.
pub type bgfetch_event_type = u32;
/// `backgroundfetchsuccess`.
pub const BGFETCH_EVENT_SUCCESS: bgfetch_event_type = 1;
/// `backgroundfetchfail`.
pub const BGFETCH_EVENT_FAIL: bgfetch_event_type = 2;
/// `backgroundfetchabort`.
pub const BGFETCH_EVENT_ABORT: bgfetch_event_type = 3;

/// Where callbacks run: `BGFETCH_DISPATCH_*`.
pub type bgfetch_dispatch = u32;
/// On the manager's event thread (the default).
pub const BGFETCH_DISPATCH_THREAD: bgfetch_dispatch = 0;
/// Only inside `bgfetch_manager_dispatch()`, on the caller's thread.
pub const BGFETCH_DISPATCH_MANUAL: bgfetch_dispatch = 1;

/// The status code of a core error.
pub(crate) fn status_of(e: &Error) -> bgfetch_status {
    match e {
        Error::InvalidArgument(_) => BGFETCH_E_INVALID_ARGUMENT,
        Error::DuplicateId(_) => BGFETCH_E_DUPLICATE_ID,
        Error::QuotaExceeded(_) => BGFETCH_E_QUOTA_EXCEEDED,
        Error::InvalidState(_) => BGFETCH_E_INVALID_STATE,
        Error::Aborted(_) => BGFETCH_E_ABORTED,
        Error::FetchFailed(_) => BGFETCH_E_FETCH_FAILED,
        Error::Timeout(_) => BGFETCH_E_TIMEOUT,
        Error::Io(_) => BGFETCH_E_IO,
        Error::Closed(_) => BGFETCH_E_CLOSED,
        Error::Busy(_) => BGFETCH_E_BUSY,
        Error::Internal(_) => BGFETCH_E_INTERNAL,
    }
}

/// The table of every status and its name, from the constants themselves (the name is the
/// constant's identifier, so the two cannot disagree; a unit test checks that every status the
/// header declares is in it).
macro_rules! status_table {
    ($($status:ident),* $(,)?) => {
        &[$((
            $status,
            match CStr::from_bytes_with_nul(concat!(stringify!($status), "\0").as_bytes()) {
                Ok(name) => name,
                Err(_) => panic!("a status name with a NUL"),
            },
        )),*]
    };
}

/// Every status with its name.
pub(crate) const STATUS_NAMES: &[(bgfetch_status, &CStr)] = status_table![
    BGFETCH_OK,
    BGFETCH_E_INVALID_ARGUMENT,
    BGFETCH_E_DUPLICATE_ID,
    BGFETCH_E_QUOTA_EXCEEDED,
    BGFETCH_E_INVALID_STATE,
    BGFETCH_E_ABORTED,
    BGFETCH_E_FETCH_FAILED,
    BGFETCH_E_TIMEOUT,
    BGFETCH_E_IO,
    BGFETCH_E_CLOSED,
    BGFETCH_E_BUSY,
    BGFETCH_E_INTERNAL,
];

// The header's result and failure-reason constants are the codes of the core's one table
// (`web_enum`): checked when this compiles.
const _: () = {
    use crate::web_enum::{FailureReason as R, FetchResult as F};
    assert!(BGFETCH_RESULT_NONE == F::None as u32);
    assert!(BGFETCH_RESULT_SUCCESS == F::Success as u32);
    assert!(BGFETCH_RESULT_FAILURE == F::Failure as u32);
    assert!(BGFETCH_FAILURE_NONE == R::None as u32);
    assert!(BGFETCH_FAILURE_ABORTED == R::Aborted as u32);
    assert!(BGFETCH_FAILURE_BAD_STATUS == R::BadStatus as u32);
    assert!(BGFETCH_FAILURE_FETCH_ERROR == R::FetchError as u32);
    assert!(BGFETCH_FAILURE_QUOTA_EXCEEDED == R::QuotaExceeded as u32);
    assert!(BGFETCH_FAILURE_DOWNLOAD_TOTAL_EXCEEDED == R::DownloadTotalExceeded as u32);
    use crate::web_enum::RecordState as S;
    assert!(BGFETCH_RECORD_QUEUED == S::Queued as u32);
    assert!(BGFETCH_RECORD_ACTIVE == S::Active as u32);
    assert!(BGFETCH_RECORD_RETRY_WAIT == S::RetryWait as u32);
    assert!(BGFETCH_RECORD_OFFLINE == S::Offline as u32);
    assert!(BGFETCH_RECORD_PAUSED == S::Paused as u32);
    assert!(BGFETCH_RECORD_DONE == S::Done as u32);
    assert!(BGFETCH_RECORD_FAILED == S::Failed as u32);
};

/// The name of a status code, e.g. `"BGFETCH_E_TIMEOUT"`; `"BGFETCH_E_UNKNOWN"` for a value
/// that is not a status. Static: never freed.
#[no_mangle]
pub extern "C" fn bgfetch_status_name(s: bgfetch_status) -> *const c_char {
    STATUS_NAMES
        .iter()
        .find(|(code, _)| *code == s)
        .map_or(c"BGFETCH_E_UNKNOWN", |(_, name)| name)
        .as_ptr()
}

/// This thread's last error message: `""` after a successful call (getters and `_free`
/// included; the pure functions `bgfetch_status_name`, `bgfetch_version`,
/// `bgfetch_result_str`, `bgfetch_failure_reason_str`, `bgfetch_state_str` and this one
/// leave it as it is). Never
/// NULL. The string is valid until the next `bgfetch_` call on this thread.
#[no_mangle]
pub extern "C" fn bgfetch_last_error() -> *const c_char {
    super::last_error_ptr()
}

/// The library version, `"MAJOR.MINOR.PATCH"`, equal to `BGFETCH_VERSION_*`. Static.
#[no_mangle]
pub extern "C" fn bgfetch_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The web's string for a result: `""`, `"success"`, `"failure"` (`""` for an unknown value).
/// Static.
#[no_mangle]
pub extern "C" fn bgfetch_result_str(v: bgfetch_result) -> *const c_char {
    crate::web_enum::FetchResult::from_code(v)
        .map_or(c"", |r| r.c_str())
        .as_ptr()
}

/// The web's string for a failure reason: `""`, `"aborted"`, `"bad-status"`, `"fetch-error"`,
/// `"quota-exceeded"`, `"download-total-exceeded"` (`""` for an unknown value). Static.
#[no_mangle]
pub extern "C" fn bgfetch_failure_reason_str(v: bgfetch_failure_reason) -> *const c_char {
    crate::web_enum::FailureReason::from_code(v)
        .map_or(c"", |r| r.c_str())
        .as_ptr()
}

/// 0.3. The name of a record state: `"queued"`, `"active"`, `"retry-wait"`, `"offline"`,
/// `"paused"`, `"done"`, `"failed"` (`""` for an unknown value). Static.
#[no_mangle]
pub extern "C" fn bgfetch_state_str(v: bgfetch_state) -> *const c_char {
    crate::web_enum::RecordState::from_code(v)
        .map_or(c"", |r| r.c_str())
        .as_ptr()
}

/// Frees a string the library handed out as owned (`char *`). NULL is a no-op.
#[no_mangle]
pub extern "C" fn bgfetch_string_free(s: *mut c_char) {
    super::boundary_value((), || {
        if !s.is_null() {
            // SAFETY: made by CString::into_raw in this library (the C contract).
            drop(unsafe { std::ffi::CString::from_raw(s) });
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_of_the_header_has_its_name() {
        let header = include_str!("../../include/bgfetch.h");
        let declared: Vec<&str> = header
            .lines()
            .filter_map(|l| l.strip_prefix("#define BGFETCH_"))
            .filter_map(|l| l.split_whitespace().next())
            .filter(|n| *n == "OK" || n.starts_with("E_"))
            .collect();
        assert!(declared.len() >= 12, "{declared:?}");
        for name in declared {
            let full = format!("BGFETCH_{name}");
            assert!(
                STATUS_NAMES
                    .iter()
                    .any(|(_, n)| n.to_str() == Ok(full.as_str())),
                "{full} has no name"
            );
        }
        for (code, name) in STATUS_NAMES {
            let shown = unsafe { CStr::from_ptr(bgfetch_status_name(*code)) };
            assert_eq!(shown, *name);
        }
    }
}
