//! `bgfetch_request`: a request to hand to `bgfetch_fetch` or to match records against.

use std::ffi::c_char;

use parking_lot::Mutex;

use super::status::*;
use super::{boundary, free_raw, into_raw, try_out, try_ref, try_slice, try_str};
use crate::error::Error;
use crate::request::Request;

/// A request (opaque): URL, method, headers, body, integrity. Owned by the caller; free with
/// `bgfetch_request_free`. `bgfetch_fetch` copies it. Thread safety: usable from any thread;
/// changes are serialized. Lifetime: independent of any manager.
pub struct bgfetch_request {
    pub(crate) inner: Mutex<Request>,
}

/// A GET request of `url` (absolute, or relative to the manager's base URL; checked by
/// `bgfetch_fetch`). `*out` is owned by the caller.
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_request_new(
    url: *const c_char,
    out: *mut *mut bgfetch_request,
) -> bgfetch_status {
    boundary(|| {
        let out = try_out(out, "out")?;
        let url = try_str(url, "url")?;
        *out = into_raw(bgfetch_request {
            inner: Mutex::new(Request::new(url)),
        });
        Ok(())
    })
}

fn with_request(
    r: *mut bgfetch_request,
    f: impl FnOnce(&mut Request) -> Result<(), Error>,
) -> bgfetch_status {
    boundary(|| f(&mut try_ref(r, "request")?.inner.lock()))
}

/// Sets the method: an HTTP token; CONNECT, TRACE and TRACK are refused; DELETE, GET, HEAD,
/// OPTIONS, POST and PUT are uppercased.
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_request_set_method(
    r: *mut bgfetch_request,
    method: *const c_char,
) -> bgfetch_status {
    with_request(r, |req| req.set_method(try_str(method, "method")?))
}

/// Adds a header. The name must be a token, the value free of CR, LF and NUL. Headers the
/// library owns (Host, Content-Length, Transfer-Encoding, Connection, ...) are ignored.
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_request_add_header(
    r: *mut bgfetch_request,
    name: *const c_char,
    value: *const c_char,
) -> bgfetch_status {
    with_request(r, |req| {
        req.add_header(try_str(name, "name")?, try_str(value, "value")?)
    })
}

/// Sets the body to upload (copied now; stored in the store by `bgfetch_fetch`). `data` may be
/// NULL only when `len` is 0.
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_request_set_body(
    r: *mut bgfetch_request,
    data: *const u8,
    len: usize,
) -> bgfetch_status {
    with_request(r, |req| {
        req.set_body(try_slice(data, len, "data")?);
        Ok(())
    })
}

/// Sets Subresource-Integrity metadata (`"sha256-<base64>"`, sha384, sha512; several separated
/// by spaces, the strongest algorithm wins). A body that does not match fails the request
/// (`fetch-error`) and is never exposed.
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_request_set_integrity(
    r: *mut bgfetch_request,
    sri: *const c_char,
) -> bgfetch_status {
    with_request(r, |req| req.set_integrity(try_str(sri, "sri")?))
}

/// Frees a request. NULL is a no-op.
#[no_mangle]
pub extern "C" fn bgfetch_request_free(r: *mut bgfetch_request) {
    super::boundary_value((), || {
        free_raw(r);
        Ok(())
    })
}
