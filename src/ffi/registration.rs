//! `bgfetch_registration`: a live view of one background fetch.

use std::ffi::{c_char, c_void, CString};
use std::sync::Arc;

use super::icons::bgfetch_icons;
use super::options::bgfetch_options;
use super::record::{bgfetch_record, bgfetch_records};
use super::request::bgfetch_request;
use super::status::*;
use super::{
    bgfetch_free_callback, boundary, boundary_value, copy_text_out, cstring, free_raw, into_raw,
    timeout_of, try_out, try_ref, try_str, UserData,
};
use crate::error::Error;
use crate::record::QueryOptions;
use crate::registration::{ProgressListener, Record, Registration, Snapshot};
use crate::request::Request;

/// A handle to a registration (opaque), the web's `BackgroundFetchRegistration`. A live view:
/// getters always return current values. Several handles may refer to one registration; each
/// is freed on its own with `bgfetch_registration_free`, and each may have its own progress
/// callback, which lives exactly as long as the handle. Thread safety: usable from any thread
/// at the same time; it may outlive its manager (calls then return `BGFETCH_E_CLOSED`, getters
/// the last values).
pub struct bgfetch_registration {
    pub(crate) inner: Arc<Registration>,
    id: CString,
    /// The progress listener this handle set, if any: freeing the handle drops it, which
    /// removes the callback (when the free returns, the callback is not running, unless freed
    /// from inside it, and never runs again, and its finalizer has run).
    listener: parking_lot::Mutex<Option<ProgressListener>>,
}

impl bgfetch_registration {
    pub(crate) fn new(inner: Arc<Registration>) -> bgfetch_registration {
        let id = cstring(inner.id());
        bgfetch_registration {
            inner,
            id,
            listener: parking_lot::Mutex::new(None),
        }
    }
}

/// Query flag: ignore the query string of both URLs (`ignoreSearch`).
pub const BGFETCH_QUERY_IGNORE_SEARCH: u32 = 1;
/// Query flag: match records whatever their method (`ignoreMethod`).
pub const BGFETCH_QUERY_IGNORE_METHOD: u32 = 2;
/// Query flag: do not compare the headers the response's `Vary` names (`ignoreVary`).
pub const BGFETCH_QUERY_IGNORE_VARY: u32 = 4;

/// A progress callback (the web's `onprogress`).
///
/// - Runs on the manager's event thread (`BGFETCH_DISPATCH_THREAD`) or inside
///   `bgfetch_manager_dispatch` (`BGFETCH_DISPATCH_MANUAL`); never while a library lock is held.
/// - Fires once as soon as it is set, with the current values (also for a fetch that has
///   settled: a host that sets it after `bgfetch_fetch` never misses the final state); then
///   when `uploaded`, `downloaded`, `result`, `failure_reason`, `paused` or the state of a
///   record (`bgfetch_record_state`: a retry wait, going offline, ...) changed, at most once
///   per progress interval per registration, and always once for the final state (then never
///   again, but for the first call of a callback set later). Read the values with the getters
///   on `r`.
/// - `r` is a handle borrowed for the call (not the one the callback was set on; do not free
///   it). The callback may call any `bgfetch_` function, on this registration too (abort it,
///   release it, free the handle it was set on), except `bgfetch_manager_close` of its own
///   manager. A callback set through `r` itself lasts only until the call returns.
pub type bgfetch_progress_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, r: *mut bgfetch_registration)>;

fn snapshot(r: *const bgfetch_registration) -> Result<Snapshot, Error> {
    Ok(try_ref(r, "registration")?.inner.snapshot())
}

/// The id. Borrowed: lives as long as the handle. NULL for NULL.
#[no_mangle]
pub extern "C" fn bgfetch_registration_id(r: *const bgfetch_registration) -> *const c_char {
    boundary_value(std::ptr::null(), || {
        Ok(try_ref(r, "registration")?.id.as_ptr())
    })
}

/// Sum of the request body sizes (`uploadTotal`). 0 for NULL.
#[no_mangle]
pub extern "C" fn bgfetch_registration_upload_total(r: *const bgfetch_registration) -> u64 {
    boundary_value(0, || Ok(snapshot(r)?.upload_total))
}

/// Request body bytes sent so far (`uploaded`). 0 for NULL.
#[no_mangle]
pub extern "C" fn bgfetch_registration_uploaded(r: *const bgfetch_registration) -> u64 {
    boundary_value(0, || Ok(snapshot(r)?.uploaded))
}

/// The download total of the options, 0 if none (`downloadTotal`). 0 for NULL.
#[no_mangle]
pub extern "C" fn bgfetch_registration_download_total(r: *const bgfetch_registration) -> u64 {
    boundary_value(0, || Ok(snapshot(r)?.download_total))
}

/// Response body bytes stored so far (`downloaded`). 0 for NULL.
#[no_mangle]
pub extern "C" fn bgfetch_registration_downloaded(r: *const bgfetch_registration) -> u64 {
    boundary_value(0, || Ok(snapshot(r)?.downloaded))
}

/// The result: `BGFETCH_RESULT_NONE` while running, then `_SUCCESS` or `_FAILURE`.
#[no_mangle]
pub extern "C" fn bgfetch_registration_result(r: *const bgfetch_registration) -> bgfetch_result {
    boundary_value(BGFETCH_RESULT_NONE, || Ok(snapshot(r)?.result.code()))
}

/// The failure reason (`BGFETCH_FAILURE_NONE` unless the result is failure).
#[no_mangle]
pub extern "C" fn bgfetch_registration_failure_reason(
    r: *const bgfetch_registration,
) -> bgfetch_failure_reason {
    boundary_value(BGFETCH_FAILURE_NONE, || {
        Ok(snapshot(r)?.failure_reason.code())
    })
}

/// 0.3. What the fetch is doing, read live: settled, `BGFETCH_RECORD_DONE` (success) or
/// `BGFETCH_RECORD_FAILED`; else the most alive state of its pending records, in the order
/// `_ACTIVE`, `_QUEUED`, `_RETRY_WAIT`, `_OFFLINE`, `_PAUSED` (see `bgfetch_record_state`).
/// `BGFETCH_RECORD_FAILED` for NULL.
#[no_mangle]
pub extern "C" fn bgfetch_registration_state(r: *const bgfetch_registration) -> bgfetch_state {
    boundary_value(BGFETCH_RECORD_FAILED, || {
        Ok(try_ref(r, "registration")?.inner.state().code())
    })
}

/// 0.3. The latest failed attempt's message of any of its records (`""` if none failed since
/// that record last made progress), copied into `buf` as `snprintf` does (see
/// `bgfetch_record_last_error`). Returns the message's full length. 0 (and `""` in `buf`) for
/// NULL.
#[no_mangle]
pub extern "C" fn bgfetch_registration_last_error(
    r: *const bgfetch_registration,
    buf: *mut c_char,
    cap: usize,
) -> usize {
    boundary_value(0, || {
        // `buf` gets "" for a NULL registration too.
        let r = try_ref(r, "registration");
        let text = r.as_ref().ok().and_then(|r| r.inner.last_error());
        let len = copy_text_out(text.as_deref().unwrap_or(""), buf, cap);
        r.map(|_| len)
    })
}

/// 0.3. The body bytes the fetch expects: the sum of the response bodies' lengths known from
/// their heads (Content-Length, Content-Range), read live. `*all_known` (may be NULL) is set to
/// whether every record's length is known: until then the sum is a lower bound (show a
/// percentage only once it is true). 0 (and `*all_known` false) for NULL.
#[no_mangle]
pub extern "C" fn bgfetch_registration_expected_total(
    r: *const bgfetch_registration,
    all_known: *mut bool,
) -> u64 {
    if !all_known.is_null() {
        // SAFETY: a writable bool (the C contract).
        unsafe { *all_known = false };
    }
    boundary_value(0, || {
        let t = try_ref(r, "registration")?.inner.expected_total();
        if !all_known.is_null() {
            // SAFETY: as above.
            unsafe { *all_known = t.all_known };
        }
        Ok(t.bytes)
    })
}

/// Whether the records can be read (`recordsAvailable`): true until released. False for NULL.
#[no_mangle]
pub extern "C" fn bgfetch_registration_records_available(r: *const bgfetch_registration) -> bool {
    boundary_value(false, || Ok(snapshot(r)?.records_available))
}

/// The title as an owned string (`""` if none): free with `bgfetch_string_free`. NULL for NULL.
#[no_mangle]
pub extern "C" fn bgfetch_registration_title(r: *const bgfetch_registration) -> *mut c_char {
    boundary_value(std::ptr::null_mut(), || {
        let t = try_ref(r, "registration")?
            .inner
            .title()
            .unwrap_or_default();
        Ok(cstring(&t).into_raw())
    })
}

/// The icons as an owned list (free with `bgfetch_icons_free`).
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_registration_icons(
    r: *const bgfetch_registration,
    out: *mut *mut bgfetch_icons,
) -> bgfetch_status {
    boundary(|| {
        let out = try_out(out, "out")?;
        let icons = try_ref(r, "registration")?.inner.icons();
        *out = into_raw(bgfetch_icons::new(&icons));
        Ok(())
    })
}

/// updateUI: replaces the title and/or the icons with those set in `ui` (a title or icons
/// that `ui` does not set are kept). Persisted. `BGFETCH_E_INVALID_STATE` after release.
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_registration_update_ui(
    r: *mut bgfetch_registration,
    ui: *const bgfetch_options,
) -> bgfetch_status {
    boundary(|| {
        let r = try_ref(r, "registration")?;
        let ui = try_ref(ui, "ui")?.inner.lock().clone();
        let icons = (!ui.icons.is_empty()).then_some(ui.icons.as_slice());
        r.inner.update_ui(ui.title.as_deref(), icons)
    })
}

/// abort(): `*out_aborted` (may be NULL) is true if the fetch was running and is now aborted,
/// false if it had already settled. Transfers stop promptly, even one blocked on the server.
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_registration_abort(
    r: *mut bgfetch_registration,
    out_aborted: *mut bool,
) -> bgfetch_status {
    boundary(|| {
        let out = if out_aborted.is_null() {
            None
        } else {
            Some(try_out(out_aborted, "out_aborted")?)
        };
        let aborted = try_ref(r, "registration")?.inner.abort()?;
        if let Some(o) = out {
            *o = aborted;
        }
        Ok(())
    })
}

/// Blocks until the result is set and stored (-1 forever, 0 poll): `BGFETCH_E_TIMEOUT` if it
/// is not by then, `BGFETCH_E_CLOSED` once the manager is closed.
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_registration_wait(
    r: *mut bgfetch_registration,
    timeout_ms: i64,
) -> bgfetch_status {
    boundary(|| {
        let r = try_ref(r, "registration")?;
        r.inner.wait(timeout_of(timeout_ms)?)
    })
}

/// Sets (NULL `cb` clears) the progress callback of this HANDLE (the web's per-object
/// `onprogress`: every handle may have its own); see `bgfetch_progress_callback`.
///
/// - When this returns, the callback it replaced is not running (unless this call came from
///   inside it) and will never be called again, and that callback's `free_userdata` has run
///   (or runs as soon as it returns, when called from inside it).
/// - With a non-NULL `cb` the library takes `userdata`: `free_userdata` (may be NULL) runs
///   exactly once, after the last call of `cb`, when the callback is replaced or cleared,
///   the handle is freed, or the manager is closed — and at once if this call fails.
///   With a NULL `cb`, `userdata` and `free_userdata` are not used.
/// - Freeing the handle removes its callback: when `bgfetch_registration_free` returns, the
///   callback is not running and will never run again.
/// - In THREAD dispatch, `bgfetch_registration_wait` returns only after the final progress
///   callbacks have returned.
/// - 0.3: a callback set is called once soon after this returns (on the event thread, or in
///   the next `bgfetch_manager_dispatch`), with the current values.
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_registration_set_progress_callback(
    r: *mut bgfetch_registration,
    cb: bgfetch_progress_callback,
    userdata: *mut c_void,
    free_userdata: bgfetch_free_callback,
) -> bgfetch_status {
    // Taken first: dropped (the finalizer runs) on every early return below.
    let ud = cb.map(|_| UserData::new(userdata, free_userdata));
    boundary(move || {
        let r = try_ref(r, "registration")?;
        let callback = cb.zip(ud).map(|(f, ud)| {
            Arc::new(move |reg: &Arc<Registration>| {
                let mut handle = bgfetch_registration::new(reg.clone());
                // SAFETY: the host's callback, called as its type documents.
                unsafe { f(ud.ptr(), &mut handle) };
            }) as crate::ProgressCallback
        });
        // The handle's slot is never locked while waiting for a running callback (which
        // may call this on the same handle): the old listener is dropped outside the lock; of
        // two calls at once, the last one wins. The new listener is added with the slot
        // locked, so that its first call (on the event thread, at once) finds it in the slot:
        // a callback that clears itself then removes it, instead of finding the slot empty
        // and being called again.
        let old = r.listener.lock().take();
        drop(old);
        if let Some(callback) = callback {
            let mut slot = r.listener.lock();
            let listener = r.inner.add_progress_listener(callback)?;
            let other = slot.replace(listener);
            drop(slot);
            drop(other);
        }
        Ok(())
    })
}

/// Pauses the fetch (the spec's paused flag). Durable: it stays paused across close, open and
/// a crash. Its transfers stop now and it holds no connection; GET requests resume with
/// `Range` when it resumes, others restart. Bytes a transfer had already received are still
/// stored: the byte counters may grow by up to one read per connection after this returns.
/// `bgfetch_registration_abort` works while paused. The progress callback fires on the
/// change. Pausing a paused fetch is OK; `BGFETCH_E_INVALID_STATE` once it settled.
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_registration_pause(r: *mut bgfetch_registration) -> bgfetch_status {
    boundary(|| try_ref(r, "registration")?.inner.pause())
}

/// Resumes a paused fetch (OK if it is not paused); `BGFETCH_E_INVALID_STATE` once settled.
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_registration_resume(r: *mut bgfetch_registration) -> bgfetch_status {
    boundary(|| try_ref(r, "registration")?.inner.resume())
}

/// Whether the fetch is paused. False for NULL.
#[no_mangle]
pub extern "C" fn bgfetch_registration_paused(r: *const bgfetch_registration) -> bool {
    boundary_value(false, || Ok(snapshot(r)?.paused))
}

/// The host has what it needs: the records become unavailable, their storage is freed, the
/// completion event is never delivered again, and `bgfetch_get` no longer finds the id (which
/// may be used again). `BGFETCH_E_INVALID_STATE` while the fetch runs. Releasing twice is OK.
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_registration_release(r: *mut bgfetch_registration) -> bgfetch_status {
    boundary(|| try_ref(r, "registration")?.inner.release())
}

/// Frees a handle (the registration itself lives on in its manager). NULL is a no-op. A
/// handle may be freed inside a callback, except the borrowed `reg` passed to it.
#[no_mangle]
pub extern "C" fn bgfetch_registration_free(r: *mut bgfetch_registration) {
    boundary_value((), || {
        free_raw(r);
        Ok(())
    })
}

fn options_of(flags: u32) -> Result<QueryOptions, Error> {
    let all = BGFETCH_QUERY_IGNORE_SEARCH | BGFETCH_QUERY_IGNORE_METHOD | BGFETCH_QUERY_IGNORE_VARY;
    if flags & !all != 0 {
        return Err(Error::invalid(format!("unknown query flags {flags:#x}")));
    }
    Ok(QueryOptions {
        ignore_search: flags & BGFETCH_QUERY_IGNORE_SEARCH != 0,
        ignore_method: flags & BGFETCH_QUERY_IGNORE_METHOD != 0,
        ignore_vary: flags & BGFETCH_QUERY_IGNORE_VARY != 0,
    })
}

fn matching(
    r: *mut bgfetch_registration,
    req: Option<Request>,
    flags: u32,
) -> Result<Vec<Record>, Error> {
    let r = try_ref(r, "registration")?;
    r.inner.match_all(req.as_ref(), options_of(flags)?)
}

/// match(): the first record (in request order) matching `req` under the query flags
/// (`BGFETCH_QUERY_*`), as an owned `*out` (free with `bgfetch_record_free`), or NULL if none.
/// `BGFETCH_E_INVALID_STATE` once the records are released.
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_registration_match(
    r: *mut bgfetch_registration,
    req: *const bgfetch_request,
    query_flags: u32,
    out: *mut *mut bgfetch_record,
) -> bgfetch_status {
    boundary(|| {
        let out = try_out(out, "out")?;
        let q = try_ref(req, "req")?.inner.lock().clone();
        if let Some(rec) = matching(r, Some(q), query_flags)?.into_iter().next() {
            *out = into_raw(bgfetch_record::new(rec));
        }
        Ok(())
    })
}

/// match() with a GET request of `url` (absolute or relative to the base URL).
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_registration_match_url(
    r: *mut bgfetch_registration,
    url: *const c_char,
    query_flags: u32,
    out: *mut *mut bgfetch_record,
) -> bgfetch_status {
    boundary(|| {
        let out = try_out(out, "out")?;
        let q = Request::new(try_str(url, "url")?);
        if let Some(rec) = matching(r, Some(q), query_flags)?.into_iter().next() {
            *out = into_raw(bgfetch_record::new(rec));
        }
        Ok(())
    })
}

/// matchAll(): every record matching `req` (NULL = all records), in request order, as an
/// owned list (free with `bgfetch_records_free`). `BGFETCH_E_INVALID_STATE` once released.
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_registration_match_all(
    r: *mut bgfetch_registration,
    req: *const bgfetch_request,
    query_flags: u32,
    out: *mut *mut bgfetch_records,
) -> bgfetch_status {
    boundary(|| {
        let out = try_out(out, "out")?;
        let q = if req.is_null() {
            None
        } else {
            Some(try_ref(req, "req")?.inner.lock().clone())
        };
        let found = matching(r, q, query_flags)?;
        *out = into_raw(bgfetch_records {
            items: found.into_iter().map(bgfetch_record::new).collect(),
        });
        Ok(())
    })
}
