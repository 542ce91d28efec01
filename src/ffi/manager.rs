//! `bgfetch_manager`: open/close, fetch, get, getIds, events and dispatch.

use std::ffi::{c_char, c_int, c_void};
use std::sync::Arc;

use super::registration::bgfetch_registration;
use super::status::*;
use super::strings::bgfetch_strings;
use super::{
    bgfetch_free_callback, boundary, boundary_value, cstring, into_raw, timeout_of, try_out,
    try_ref, try_slice, try_str, UserData,
};
use crate::error::Error;
use crate::manager::Manager;
use crate::registration::EventType;
use crate::request::{FetchOptions, Request};

use super::config::bgfetch_config;
use super::options::bgfetch_options;
use super::request::bgfetch_request;

/// A manager (opaque): owns one store directory, its worker threads and its event thread.
/// Thread safety: every function may be called from any thread at the same time, but
/// `bgfetch_manager_close` must not run while another thread still uses the manager.
pub struct bgfetch_manager {
    pub(crate) inner: Manager,
}

#[cfg(feature = "test-hooks")]
impl bgfetch_manager {
    /// The manager behind the handle, for the library's own tests (the `test-hooks` feature).
    #[doc(hidden)]
    pub fn inner_for_tests(&self) -> &Manager {
        &self.inner
    }
}

/// A completion-event callback.
///
/// - Runs on the manager's event thread (`BGFETCH_DISPATCH_THREAD`) or inside
///   `bgfetch_manager_dispatch` on the caller's thread (`BGFETCH_DISPATCH_MANUAL`).
/// - `type` is `BGFETCH_EVENT_SUCCESS`, `_FAIL` or `_ABORT`; it comes after the fetch's final
///   progress callback. `reg` is borrowed for the call: copy what you need, or call
///   `bgfetch_get` for a handle of your own. Records are readable during the call.
/// - It may call any `bgfetch_` function (including `bgfetch_registration_release` on `reg`),
///   except `bgfetch_manager_close` of its own manager, which must be called from another thread.
pub type bgfetch_event_callback = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        kind: bgfetch_event_type,
        reg: *mut bgfetch_registration,
    ),
>;

/// Opens the manager of `c`'s store: makes the store path absolute (a relative one is taken
/// against the current directory, once: every path the manager hands out is absolute), creates
/// the store directory (0700) if it is missing, takes the store lock (`BGFETCH_E_BUSY` if
/// another manager of this or another process holds it), loads every registration, resumes
/// unfinished fetches, and holds the completion events of settled, unreleased fetches until an
/// event callback is set. Only the store directory itself is created, as `mkdir` without `-p`
/// does: if its parent does not exist, `BGFETCH_E_INVALID_ARGUMENT` and nothing is created.
/// `*out` is owned: close it with `bgfetch_manager_close`.
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_manager_open(
    c: *const bgfetch_config,
    out: *mut *mut bgfetch_manager,
) -> bgfetch_status {
    boundary(|| {
        let out = try_out(out, "out")?;
        let cfg = try_ref(c, "config")?.inner.lock().clone();
        let manager = Manager::open(cfg)?;
        *out = into_raw(bgfetch_manager { inner: manager });
        Ok(())
    })
}

/// Closes the manager: stops its transfers promptly (even mid-body), stops its threads,
/// releases the store lock and frees `m`. Everything registered is kept: unfinished fetches
/// resume at the next open. Registration handles that outlive it keep their last values;
/// calls that need the manager return `BGFETCH_E_CLOSED`. A callback running when close begins
/// runs to its end with the store whole (close waits for it and starts no other), but a call
/// of it that would block (a wait, `bgfetch_record_response` before the head, a read of body
/// bytes not stored yet) returns `BGFETCH_E_CLOSED` instead, so that close is never held up.
/// NULL is a no-op.
#[no_mangle]
pub extern "C" fn bgfetch_manager_close(m: *mut bgfetch_manager) {
    boundary_value((), || {
        if let Some(manager) = (!m.is_null()).then_some(m) {
            // SAFETY: made by bgfetch_manager_open; closing hands it back (the C contract).
            let boxed = unsafe { Box::from_raw(manager) };
            boxed.inner.close();
            drop(boxed);
        }
        Ok(())
    })
}

/// In `BGFETCH_DISPATCH_MANUAL` mode: a file descriptor (the read end of a pipe) that is
/// readable exactly while callbacks wait for `bgfetch_manager_dispatch`. Poll it for
/// readability only; do not read or close it. -1 in THREAD mode or for NULL.
#[no_mangle]
pub extern "C" fn bgfetch_manager_event_fd(m: *const bgfetch_manager) -> c_int {
    boundary_value(-1, || {
        Ok(try_ref(m, "manager")?.inner.event_fd().unwrap_or(-1))
    })
}

/// In `BGFETCH_DISPATCH_MANUAL` mode: runs the pending callbacks on this thread, waiting up to
/// `timeout_ms` for the first (-1 forever, 0 poll). `*n_dispatched` (may be NULL) is how many
/// callbacks ran. A pending item that calls nothing when its turn comes (the first call of a
/// progress callback that an update already reached, a completion event while no event
/// callback is set) is not counted, and the wait goes on while `timeout_ms` lasts.
/// `BGFETCH_E_INVALID_STATE` in THREAD mode. Do not call it from inside a callback.
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_manager_dispatch(
    m: *mut bgfetch_manager,
    timeout_ms: i64,
    n_dispatched: *mut u32,
) -> bgfetch_status {
    boundary(|| {
        let out = if n_dispatched.is_null() {
            None
        } else {
            Some(try_out(n_dispatched, "n_dispatched")?)
        };
        let m = try_ref(m, "manager")?;
        let n = m.inner.dispatch(timeout_of(timeout_ms)?)?;
        if let Some(o) = out {
            *o = n;
        }
        Ok(())
    })
}

/// Sets (or, with NULL `cb`, clears) the completion-event callback; see
/// `bgfetch_event_callback`. Completion events of fetches that settled while no callback was
/// set — including every settled, unreleased fetch found at open — are delivered once one is
/// set. Each settled fetch gets its event once per manager session, and again at every open
/// until `bgfetch_registration_release`. When this returns, the previous callback is not
/// running (unless this call came from inside it) and will never be called again.
///
/// With a non-NULL `cb` the library takes `userdata`: `free_userdata` (may be NULL) runs
/// exactly once, after the last call of `cb`, when the callback is replaced or cleared or the
/// manager is closed — and at once if this call fails. With a NULL `cb`, `userdata` and
/// `free_userdata` are not used.
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_manager_set_event_callback(
    m: *mut bgfetch_manager,
    cb: bgfetch_event_callback,
    userdata: *mut c_void,
    free_userdata: bgfetch_free_callback,
) -> bgfetch_status {
    // Taken first: dropped (the finalizer runs) on every early return below.
    let ud = cb.map(|_| UserData::new(userdata, free_userdata));
    boundary(move || {
        let m = try_ref(m, "manager")?;
        let callback = cb.zip(ud).map(|(f, ud)| {
            Arc::new(move |kind: EventType, reg: &Arc<crate::Registration>| {
                let mut handle = bgfetch_registration::new(reg.clone());
                let t = match kind {
                    EventType::Success => BGFETCH_EVENT_SUCCESS,
                    EventType::Fail => BGFETCH_EVENT_FAIL,
                    EventType::Abort => BGFETCH_EVENT_ABORT,
                };
                // SAFETY: the host's callback, called as its type documents.
                unsafe { f(ud.ptr(), t, &mut handle) };
            }) as crate::EventCallback
        });
        m.inner.set_event_callback(callback)
    })
}

fn fetch_with(
    m: *mut bgfetch_manager,
    id: *const c_char,
    opts: *const bgfetch_options,
    out: *mut *mut bgfetch_registration,
    requests: impl FnOnce() -> Result<Vec<Request>, Error>,
) -> bgfetch_status {
    boundary(|| {
        let out = try_out(out, "out")?;
        let m = try_ref(m, "manager")?;
        let id = try_str(id, "id")?;
        let options = if opts.is_null() {
            FetchOptions::default()
        } else {
            try_ref(opts, "opts")?.inner.lock().clone()
        };
        let requests = requests()?;
        let reg = m.inner.fetch(id, &requests, &options)?;
        *out = into_raw(bgfetch_registration::new(reg));
        Ok(())
    })
}

/// Starts a background fetch of `n_requests` requests under `id` (any non-empty UTF-8 string
/// up to 65536 bytes; it never becomes a file name). Validates everything first: an empty
/// list, a bad URL, scheme, credentials in a URL, a blocked port, a bad method or header →
/// `BGFETCH_E_INVALID_ARGUMENT` and nothing is registered; an unreleased fetch with this id →
/// `BGFETCH_E_DUPLICATE_ID`; request bodies or a download total beyond the quota →
/// `BGFETCH_E_QUOTA_EXCEEDED`. Returns once the registration and request bodies are durably
/// stored; it does not wait for the network. `opts` may be NULL. The requests are copied.
/// `*out` is owned: free with `bgfetch_registration_free`.
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_fetch(
    m: *mut bgfetch_manager,
    id: *const c_char,
    requests: *const *const bgfetch_request,
    n_requests: usize,
    opts: *const bgfetch_options,
    out: *mut *mut bgfetch_registration,
) -> bgfetch_status {
    fetch_with(m, id, opts, out, || {
        try_slice(requests, n_requests, "requests")?
            .iter()
            .enumerate()
            .map(|(i, r)| Ok(try_ref(*r, &format!("requests[{i}]"))?.inner.lock().clone()))
            .collect()
    })
}

/// `bgfetch_fetch` of GET requests for `n_urls` URLs.
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_fetch_urls(
    m: *mut bgfetch_manager,
    id: *const c_char,
    urls: *const *const c_char,
    n_urls: usize,
    opts: *const bgfetch_options,
    out: *mut *mut bgfetch_registration,
) -> bgfetch_status {
    fetch_with(m, id, opts, out, || {
        try_slice(urls, n_urls, "urls")?
            .iter()
            .enumerate()
            .map(|(i, u)| Ok(Request::new(try_str(*u, &format!("urls[{i}]"))?)))
            .collect()
    })
}

/// The registration with `id`: `*out` is a new owned handle (free with
/// `bgfetch_registration_free`), or NULL if there is none (status OK). Finished fetches stay
/// findable until released.
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_get(
    m: *mut bgfetch_manager,
    id: *const c_char,
    out: *mut *mut bgfetch_registration,
) -> bgfetch_status {
    boundary(|| {
        let out = try_out(out, "out")?;
        let m = try_ref(m, "manager")?;
        let id = try_str(id, "id")?;
        if let Some(reg) = m.inner.get(id)? {
            *out = into_raw(bgfetch_registration::new(reg));
        }
        Ok(())
    })
}

/// The ids of every unreleased registration, sorted. `*out` is owned: free with
/// `bgfetch_strings_free`.
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_get_ids(
    m: *mut bgfetch_manager,
    out: *mut *mut bgfetch_strings,
) -> bgfetch_status {
    boundary(|| {
        let out = try_out(out, "out")?;
        let m = try_ref(m, "manager")?;
        let ids = m.inner.get_ids()?;
        *out = into_raw(bgfetch_strings {
            items: ids.iter().map(|s| cstring(s)).collect(),
        });
        Ok(())
    })
}

/// Number of problems met when the store was opened (state files that could not be read,
/// moved to `<store>/quarantine/`). 0 for NULL.
#[no_mangle]
pub extern "C" fn bgfetch_manager_problem_count(m: *const bgfetch_manager) -> usize {
    boundary_value(0, || Ok(try_ref(m, "manager")?.inner.problems().len()))
}

/// Problem `i` as an owned string (free with `bgfetch_string_free`), or NULL if out of range.
#[no_mangle]
pub extern "C" fn bgfetch_manager_problem(m: *const bgfetch_manager, i: usize) -> *mut c_char {
    boundary_value(std::ptr::null_mut(), || {
        let m = try_ref(m, "manager")?;
        Ok(m.inner
            .problems()
            .get(i)
            .map_or(std::ptr::null_mut(), |p| cstring(p).into_raw()))
    })
}

/// Bytes the store holds (request and response bodies), as the quota counts them.
#[no_mangle]
pub extern "C" fn bgfetch_manager_used_bytes(m: *const bgfetch_manager) -> u64 {
    boundary_value(0, || Ok(try_ref(m, "manager")?.inner.used_bytes()))
}

/// Offline (`true`): the host knows the network is gone. Running transfers stop at once (GET
/// keeps its partial bytes), no connection is tried, and neither the attempt counts nor the
/// no-progress clocks advance. Back online (`false`): every waiting request is tried at once.
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_manager_set_offline(
    m: *mut bgfetch_manager,
    offline: bool,
) -> bgfetch_status {
    boundary(|| try_ref(m, "manager")?.inner.set_offline(offline))
}

/// Whether the manager is offline. False for NULL.
#[no_mangle]
pub extern "C" fn bgfetch_manager_offline(m: *const bgfetch_manager) -> bool {
    boundary_value(false, || Ok(try_ref(m, "manager")?.inner.offline()))
}

/// Changes the bandwidth cap of the whole manager (bytes of response bodies per second, 0 =
/// none); running transfers follow at once.
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_manager_set_max_download_rate(
    m: *mut bgfetch_manager,
    bytes_per_s: u64,
) -> bgfetch_status {
    boundary(|| {
        try_ref(m, "manager")?
            .inner
            .set_max_download_rate(bytes_per_s)
    })
}
