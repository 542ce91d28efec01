//! `bgfetch_record` and `bgfetch_records`: the web's `BackgroundFetchRecord`.

use std::ffi::{c_char, CString};

use super::response::bgfetch_response;
use super::status::*;
use super::{
    boundary, boundary_value, copy_text_out, cstring, free_raw, into_raw, read_into, timeout_of,
    try_out, try_ref,
};
use crate::error::Error;
use crate::registration::Record;

/// A record (opaque): a request of a fetch and, through `bgfetch_record_response`, its
/// response. Owned when returned by match (free with `bgfetch_record_free`), borrowed when
/// taken from a `bgfetch_records` list. Thread safety: usable from any thread. Lifetime: it may
/// outlive its registration handle and its manager; once the records are released its calls
/// return `BGFETCH_E_INVALID_STATE`, once the manager is closed `BGFETCH_E_CLOSED`.
pub struct bgfetch_record {
    record: Record,
    url: CString,
    method: CString,
    headers: Vec<(CString, CString)>,
}

impl bgfetch_record {
    pub(crate) fn new(record: Record) -> bgfetch_record {
        let req = record.request();
        bgfetch_record {
            url: cstring(&req.url),
            method: cstring(&req.method),
            headers: req
                .headers
                .iter()
                .map(|(n, v)| (cstring(n), cstring(v)))
                .collect(),
            record,
        }
    }
}

/// A list of records (opaque), in request order. Owned: free with `bgfetch_records_free`.
/// Thread safety: read-only, usable from any thread. Lifetime: independent of its registration
/// and manager (like its records); the records it lends live as long as the list.
pub struct bgfetch_records {
    pub(crate) items: Vec<bgfetch_record>,
}

/// Number of records; 0 for NULL.
#[no_mangle]
pub extern "C" fn bgfetch_records_len(rs: *const bgfetch_records) -> usize {
    boundary_value(0, || Ok(try_ref(rs, "records")?.items.len()))
}

/// Record `i`, borrowed from the list (do not free it), or NULL if out of range.
#[no_mangle]
pub extern "C" fn bgfetch_records_get(
    rs: *const bgfetch_records,
    i: usize,
) -> *const bgfetch_record {
    boundary_value(std::ptr::null(), || {
        let rs = try_ref(rs, "records")?;
        Ok(rs
            .items
            .get(i)
            .map_or(std::ptr::null(), |r| r as *const bgfetch_record))
    })
}

/// Frees a list and its records. NULL is a no-op.
#[no_mangle]
pub extern "C" fn bgfetch_records_free(rs: *mut bgfetch_records) {
    boundary_value((), || {
        free_raw(rs);
        Ok(())
    })
}

/// The request URL (absolute, without fragment). Borrowed from the record. NULL for NULL.
#[no_mangle]
pub extern "C" fn bgfetch_record_url(rec: *const bgfetch_record) -> *const c_char {
    boundary_value(std::ptr::null(), || {
        Ok(try_ref(rec, "record")?.url.as_ptr())
    })
}

/// The request method. Borrowed from the record. NULL for NULL.
#[no_mangle]
pub extern "C" fn bgfetch_record_method(rec: *const bgfetch_record) -> *const c_char {
    boundary_value(std::ptr::null(), || {
        Ok(try_ref(rec, "record")?.method.as_ptr())
    })
}

/// Number of request headers. 0 for NULL.
#[no_mangle]
pub extern "C" fn bgfetch_record_header_count(rec: *const bgfetch_record) -> usize {
    boundary_value(0, || Ok(try_ref(rec, "record")?.headers.len()))
}

/// Request header `i`: `*name` and `*value` are borrowed from the record.
/// `BGFETCH_E_INVALID_ARGUMENT` if `i` is out of range.
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_record_header_at(
    rec: *const bgfetch_record,
    i: usize,
    name: *mut *const c_char,
    value: *mut *const c_char,
) -> bgfetch_status {
    boundary(|| {
        // Clear both out-pointers before reporting either as NULL.
        let (name, value) = (try_out(name, "name"), try_out(value, "value"));
        let (name, value) = (name?, value?);
        let rec = try_ref(rec, "record")?;
        let (n, v) = rec
            .headers
            .get(i)
            .ok_or_else(|| Error::invalid(format!("header index {i} is out of range")))?;
        *name = n.as_ptr();
        *value = v.as_ptr();
        Ok(())
    })
}

/// The size of the request body in bytes (0 = none): the record's request includes its body.
/// 0 for NULL.
#[no_mangle]
pub extern "C" fn bgfetch_record_body_size(rec: *const bgfetch_record) -> u64 {
    boundary_value(0, || Ok(try_ref(rec, "record")?.record.request().body_len))
}

/// Reads up to `cap` bytes of the stored request body at `offset` into `buf`; `*n_read = 0`
/// at its end (or for a request without a body). Never blocks on the network: the body was
/// stored by `bgfetch_fetch`. `BGFETCH_E_INVALID_STATE` once the records are released;
/// `BGFETCH_E_IO` if the stored body cannot be read.
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_record_read_body(
    rec: *const bgfetch_record,
    offset: u64,
    buf: *mut u8,
    cap: usize,
    n_read: *mut usize,
) -> bgfetch_status {
    boundary(|| {
        read_into(buf, cap, n_read, try_ref(rec, "record"), |rec, slice| {
            rec.record.read_request_body(offset, slice)
        })
    })
}

/// responseReady: blocks until the response's status and headers are known (the body may still
/// be arriving), then `*out` is an owned response (free with `bgfetch_response_free`).
/// `BGFETCH_E_ABORTED` if the fetch was aborted first; `BGFETCH_E_FETCH_FAILED` if the request
/// failed (network error, integrity mismatch) or was never made; `BGFETCH_E_TIMEOUT` when
/// `timeout_ms` (-1 forever, 0 poll) passes first; `BGFETCH_E_INVALID_STATE` once released.
/// A non-2xx response is a response (OK).
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_record_response(
    rec: *const bgfetch_record,
    timeout_ms: i64,
    out: *mut *mut bgfetch_response,
) -> bgfetch_status {
    boundary(|| {
        let out = try_out(out, "out")?;
        let rec = try_ref(rec, "record")?;
        let response = rec.record.response_ready(timeout_of(timeout_ms)?)?;
        *out = into_raw(bgfetch_response::new(response));
        Ok(())
    })
}

/// 0.3. What the record is doing, read live: `BGFETCH_RECORD_QUEUED` (waiting for a
/// connection slot), `_ACTIVE` (connecting, sending or receiving), `_RETRY_WAIT` (an attempt
/// failed transiently; the next comes after `bgfetch_record_retry_in_ms`), `_OFFLINE` (the
/// host said offline), `_PAUSED` (its fetch is paused), `_DONE` (its response is complete,
/// whatever its status), `_FAILED` (it will never have a complete response: failed, aborted).
/// `BGFETCH_RECORD_FAILED` for NULL.
#[no_mangle]
pub extern "C" fn bgfetch_record_state(rec: *const bgfetch_record) -> bgfetch_state {
    boundary_value(BGFETCH_RECORD_FAILED, || {
        Ok(try_ref(rec, "record")?.record.status().state.code())
    })
}

/// 0.3. Attempts made for the record in this fetch since the manager was opened (0: none yet).
/// 0 for NULL.
#[no_mangle]
pub extern "C" fn bgfetch_record_attempts(rec: *const bgfetch_record) -> u32 {
    boundary_value(0, || Ok(try_ref(rec, "record")?.record.status().attempts))
}

/// 0.3. In `BGFETCH_RECORD_RETRY_WAIT`: milliseconds until the next attempt (0 when it is due);
/// -1 in any other state, and for NULL.
#[no_mangle]
pub extern "C" fn bgfetch_record_retry_in_ms(rec: *const bgfetch_record) -> i64 {
    boundary_value(-1, || {
        Ok(try_ref(rec, "record")?
            .record
            .status()
            .retry_in
            .map_or(-1, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)))
    })
}

/// 0.3. The last failed attempt's message (`""` if none failed; a record still waiting keeps
/// it across close and open, so that a later session can say why it waited), copied into `buf` as
/// `snprintf` does: at most `cap - 1` bytes and a NUL (nothing when `buf` is NULL or `cap` is
/// 0). Returns the message's full length in bytes: a return `>= cap` means it was truncated.
/// 0 (and `""` in `buf`) for a NULL record.
#[no_mangle]
pub extern "C" fn bgfetch_record_last_error(
    rec: *const bgfetch_record,
    buf: *mut c_char,
    cap: usize,
) -> usize {
    boundary_value(0, || {
        // `buf` gets "" for a NULL record too.
        let rec = try_ref(rec, "record");
        let text = rec.as_ref().ok().and_then(|r| r.record.status().last_error);
        let len = copy_text_out(text.as_deref().unwrap_or(""), buf, cap);
        rec.map(|_| len)
    })
}

/// Frees a record returned by match. NULL is a no-op. Never free one borrowed from a list.
#[no_mangle]
pub extern "C" fn bgfetch_record_free(rec: *mut bgfetch_record) {
    boundary_value((), || {
        free_raw(rec);
        Ok(())
    })
}
