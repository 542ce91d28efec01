//! Status codes, enumerations, the last error and the version.

use std::ffi::c_char;

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
/// A bug in the library, caught at the boundary.
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

/// The name of a status code, e.g. `"BGFETCH_E_TIMEOUT"`; `"BGFETCH_E_UNKNOWN"` for a value
/// that is not a status. Static: never freed.
#[no_mangle]
pub extern "C" fn bgfetch_status_name(s: bgfetch_status) -> *const c_char {
    let name: &'static [u8] = match s {
        BGFETCH_OK => b"BGFETCH_OK\0",
        BGFETCH_E_INVALID_ARGUMENT => b"BGFETCH_E_INVALID_ARGUMENT\0",
        BGFETCH_E_DUPLICATE_ID => b"BGFETCH_E_DUPLICATE_ID\0",
        BGFETCH_E_QUOTA_EXCEEDED => b"BGFETCH_E_QUOTA_EXCEEDED\0",
        BGFETCH_E_INVALID_STATE => b"BGFETCH_E_INVALID_STATE\0",
        BGFETCH_E_ABORTED => b"BGFETCH_E_ABORTED\0",
        BGFETCH_E_FETCH_FAILED => b"BGFETCH_E_FETCH_FAILED\0",
        BGFETCH_E_TIMEOUT => b"BGFETCH_E_TIMEOUT\0",
        BGFETCH_E_IO => b"BGFETCH_E_IO\0",
        BGFETCH_E_CLOSED => b"BGFETCH_E_CLOSED\0",
        BGFETCH_E_BUSY => b"BGFETCH_E_BUSY\0",
        BGFETCH_E_INTERNAL => b"BGFETCH_E_INTERNAL\0",
        _ => b"BGFETCH_E_UNKNOWN\0",
    };
    name.as_ptr().cast()
}

/// This thread's last error message: `""` after a successful call (getters and `_free`
/// included; the pure functions `bgfetch_status_name`, `bgfetch_version`,
/// `bgfetch_result_str`, `bgfetch_failure_reason_str` and this one leave it as it is). Never
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
    let s: &'static [u8] = match v {
        BGFETCH_RESULT_SUCCESS => b"success\0",
        BGFETCH_RESULT_FAILURE => b"failure\0",
        _ => b"\0",
    };
    s.as_ptr().cast()
}

/// The web's string for a failure reason: `""`, `"aborted"`, `"bad-status"`, `"fetch-error"`,
/// `"quota-exceeded"`, `"download-total-exceeded"` (`""` for an unknown value). Static.
#[no_mangle]
pub extern "C" fn bgfetch_failure_reason_str(v: bgfetch_failure_reason) -> *const c_char {
    let s: &'static [u8] = match v {
        BGFETCH_FAILURE_ABORTED => b"aborted\0",
        BGFETCH_FAILURE_BAD_STATUS => b"bad-status\0",
        BGFETCH_FAILURE_FETCH_ERROR => b"fetch-error\0",
        BGFETCH_FAILURE_QUOTA_EXCEEDED => b"quota-exceeded\0",
        BGFETCH_FAILURE_DOWNLOAD_TOTAL_EXCEEDED => b"download-total-exceeded\0",
        _ => b"\0",
    };
    s.as_ptr().cast()
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
