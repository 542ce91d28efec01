//! `bgfetch_response`: a record's response, its head and its stored body.

use std::ffi::{c_char, CString};

use super::status::*;
use super::{
    boundary, boundary_value, cstring, free_raw, read_into, timeout_of, try_out, try_ref, try_str,
};
use crate::error::Error;
use crate::registration::Response;

/// A response (opaque): status, final URL, headers, and the body as it is stored. Owned: free
/// with `bgfetch_response_free`. Thread safety: usable from any thread at the same time.
/// Lifetime: it may outlive its record, registration and manager; the status, URL and headers
/// stay readable, while body calls return `BGFETCH_E_INVALID_STATE` once the records are
/// released and `BGFETCH_E_CLOSED` once the manager is closed.
pub struct bgfetch_response {
    response: Response,
    url: CString,
    headers: Vec<(CString, CString)>,
    /// Lowercase name → the core's answer for it (Fetch's `Headers.get`), as C strings that
    /// live as long as the response.
    values: Vec<(String, CString)>,
    body_path: CString,
}

impl bgfetch_response {
    pub(crate) fn new(response: Response) -> bgfetch_response {
        let mut values: Vec<(String, CString)> = Vec::new();
        for (n, _) in response.headers() {
            let lower = n.to_ascii_lowercase();
            if !values.iter().any(|(v, _)| *v == lower) {
                let value = response.header(&lower).unwrap_or_default();
                values.push((lower, cstring(&value)));
            }
        }
        let body_path = response
            .body_path()
            .map(|p| cstring(&p.to_string_lossy()))
            .unwrap_or_default();
        bgfetch_response {
            url: cstring(response.url()),
            headers: response
                .headers()
                .map(|(n, v)| (cstring(n), cstring(v)))
                .collect(),
            values,
            body_path,
            response,
        }
    }
}

/// The status code. 0 for NULL.
#[no_mangle]
pub extern "C" fn bgfetch_response_status(res: *const bgfetch_response) -> u16 {
    boundary_value(0, || Ok(try_ref(res, "response")?.response.status()))
}

/// Whether the status is 200..=299. False for NULL.
#[no_mangle]
pub extern "C" fn bgfetch_response_ok(res: *const bgfetch_response) -> bool {
    boundary_value(false, || Ok(try_ref(res, "response")?.response.ok()))
}

/// The final URL, after redirects. Borrowed from the response. NULL for NULL.
#[no_mangle]
pub extern "C" fn bgfetch_response_url(res: *const bgfetch_response) -> *const c_char {
    boundary_value(std::ptr::null(), || {
        Ok(try_ref(res, "response")?.url.as_ptr())
    })
}

/// The value of header `name` (case-insensitive; several of one name joined with ", "), or NULL
/// if absent. Borrowed from the response.
#[no_mangle]
pub extern "C" fn bgfetch_response_header(
    res: *const bgfetch_response,
    name: *const c_char,
) -> *const c_char {
    boundary_value(std::ptr::null(), || {
        let res = try_ref(res, "response")?;
        let name = try_str(name, "name")?.to_ascii_lowercase();
        Ok(res
            .values
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(std::ptr::null(), |(_, v)| v.as_ptr()))
    })
}

/// Number of headers (as received, in order). 0 for NULL.
#[no_mangle]
pub extern "C" fn bgfetch_response_header_count(res: *const bgfetch_response) -> usize {
    boundary_value(0, || Ok(try_ref(res, "response")?.headers.len()))
}

/// Header `i`: `*name` (lowercase) and `*value`, borrowed from the response.
/// `BGFETCH_E_INVALID_ARGUMENT` if `i` is out of range.
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_response_header_at(
    res: *const bgfetch_response,
    i: usize,
    name: *mut *const c_char,
    value: *mut *const c_char,
) -> bgfetch_status {
    boundary(|| {
        // Clear both out-pointers before reporting either as NULL.
        let (name, value) = (try_out(name, "name"), try_out(value, "value"));
        let (name, value) = (name?, value?);
        let res = try_ref(res, "response")?;
        let (n, v) = res
            .headers
            .get(i)
            .ok_or_else(|| Error::invalid(format!("header index {i} is out of range")))?;
        *name = n.as_ptr();
        *value = v.as_ptr();
        Ok(())
    })
}

/// Whether the whole body is stored. False for NULL.
#[no_mangle]
pub extern "C" fn bgfetch_response_complete(res: *const bgfetch_response) -> bool {
    boundary_value(false, || Ok(try_ref(res, "response")?.response.complete()))
}

/// Blocks until the body is complete (-1 forever, 0 poll): `BGFETCH_E_ABORTED` /
/// `BGFETCH_E_FETCH_FAILED` if it can never complete, `BGFETCH_E_TIMEOUT` if time runs out.
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_response_wait(
    res: *const bgfetch_response,
    timeout_ms: i64,
) -> bgfetch_status {
    boundary(|| {
        try_ref(res, "response")?
            .response
            .wait(timeout_of(timeout_ms)?)
    })
}

/// Body bytes stored so far. 0 for NULL.
#[no_mangle]
pub extern "C" fn bgfetch_response_body_size(res: *const bgfetch_response) -> u64 {
    boundary_value(0, || Ok(try_ref(res, "response")?.response.body_size()))
}

/// The absolute path of the stored body file (the store directory is made absolute at open):
/// it exists once the body is complete. Read it, never write it. Borrowed from the response;
/// the file is valid until the records are released.
#[no_mangle]
pub extern "C" fn bgfetch_response_body_path(res: *const bgfetch_response) -> *const c_char {
    boundary_value(std::ptr::null(), || {
        Ok(try_ref(res, "response")?.body_path.as_ptr())
    })
}

/// 0.3. Reads up to `cap` body bytes at `offset` into `buf`, blocking (up to `timeout_ms`: -1
/// forever, 0 poll) until bytes at `offset` are stored or the body is complete; `*n_read = 0`
/// at the end of a complete body. `BGFETCH_E_TIMEOUT` when no byte at `offset` was stored in
/// time (a paused fetch stores none); `BGFETCH_E_ABORTED` / `BGFETCH_E_FETCH_FAILED` if the
/// body stops short of `offset`.
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_response_read(
    res: *const bgfetch_response,
    offset: u64,
    buf: *mut u8,
    cap: usize,
    timeout_ms: i64,
    n_read: *mut usize,
) -> bgfetch_status {
    boundary(|| {
        let source = try_ref(res, "response").and_then(|res| Ok((res, timeout_of(timeout_ms)?)));
        read_into(buf, cap, n_read, source, |(res, timeout), slice| {
            res.response.read(offset, slice, timeout)
        })
    })
}

/// 0.3. Waits (up to `timeout_ms`: -1 forever, 0 poll) for the complete body, then writes it
/// to `dest_path` atomically: a temporary file in the same directory, synced, renamed over
/// `dest_path`. All or nothing. `BGFETCH_E_TIMEOUT` when the body is not complete in time:
/// `dest_path` is then untouched.
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_response_save(
    res: *const bgfetch_response,
    dest_path: *const c_char,
    timeout_ms: i64,
) -> bgfetch_status {
    boundary(|| {
        let res = try_ref(res, "response")?;
        let dest = try_str(dest_path, "dest_path")?;
        let timeout = timeout_of(timeout_ms)?;
        res.response.save(std::path::Path::new(dest), timeout)
    })
}

/// Frees a response. NULL is a no-op.
#[no_mangle]
pub extern "C" fn bgfetch_response_free(res: *mut bgfetch_response) {
    boundary_value((), || {
        free_raw(res);
        Ok(())
    })
}
