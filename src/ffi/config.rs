//! `bgfetch_config`: the settings of a manager, built before `bgfetch_manager_open`.
//!
//! Thread safety: a config may be used from any thread; setters on one config are serialized.

use std::ffi::c_char;

use parking_lot::Mutex;

use super::status::*;
use super::{boundary, free_raw, into_raw, try_ref, try_str};
use crate::config::{Config, DispatchMode};
use crate::error::Error;

/// The configuration of a manager (opaque). Create with `bgfetch_config_new`, free with
/// `bgfetch_config_free`; `bgfetch_manager_open` copies it, so it may be freed right after.
/// Thread safety: usable from any thread; setters on one config are serialized.
pub struct bgfetch_config {
    pub(crate) inner: Mutex<Config>,
}

/// A configuration with defaults for the store directory `store_dir`. A relative path is
/// resolved against the current directory once, by `bgfetch_manager_open`, which creates the
/// directory (mode 0700) if it is missing: only the directory itself, as `mkdir` without `-p`
/// (a missing parent is `BGFETCH_E_INVALID_ARGUMENT` at open). Returns NULL if `store_dir` is
/// NULL, empty or not UTF-8 (see `bgfetch_last_error`). Owned: free with `bgfetch_config_free`.
#[no_mangle]
pub extern "C" fn bgfetch_config_new(store_dir: *const c_char) -> *mut bgfetch_config {
    super::boundary_value(std::ptr::null_mut(), || {
        let dir = try_str(store_dir, "store_dir")?;
        if dir.is_empty() {
            return Err(Error::invalid("store_dir is empty"));
        }
        super::clear_last_error();
        Ok(into_raw(bgfetch_config {
            inner: Mutex::new(Config::new(dir)),
        }))
    })
}

/// Frees a configuration. NULL is a no-op.
#[no_mangle]
pub extern "C" fn bgfetch_config_free(c: *mut bgfetch_config) {
    super::boundary_value((), || {
        free_raw(c);
        Ok(())
    })
}

fn with_config(
    c: *mut bgfetch_config,
    f: impl FnOnce(&mut Config) -> Result<(), Error>,
) -> bgfetch_status {
    boundary(|| {
        let c = try_ref(c, "config")?;
        f(&mut c.inner.lock())
    })
}

/// The base URL that relative request URLs (and match URLs) resolve against: an absolute
/// http(s) URL.
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_config_set_base_url(
    c: *mut bgfetch_config,
    url: *const c_char,
) -> bgfetch_status {
    with_config(c, |cfg| cfg.set_base_url(try_str(url, "url")?))
}

/// Connections (and worker threads) for the whole manager, 1..=256. Default 8.
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_config_set_max_connections(
    c: *mut bgfetch_config,
    n: u32,
) -> bgfetch_status {
    with_config(c, |cfg| cfg.set_max_connections(n))
}

/// Connections one fetch may use at once, 1..=256. Default 4.
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_config_set_max_connections_per_fetch(
    c: *mut bgfetch_config,
    n: u32,
) -> bgfetch_status {
    with_config(c, |cfg| cfg.set_max_connections_per_fetch(n))
}

/// Segments a large GET body may be split into (aria2's `--split`), 1..=16; default 1 (off:
/// one connection a request). The body is then fetched over that many connections at once,
/// each range written in place into the one body file and resumed on its own after a cut, a
/// pause, a close or a crash. Used only when the first response allows it (a
/// `Content-Length`, `Accept-Ranges: bytes`, a strong ETag or a Last-Modified for `If-Range`,
/// and no `Range` header of the host's) and into at most one segment per MiB of body;
/// otherwise one connection, as before. Segments count against `max_connections` and
/// `max_connections_per_fetch` (default 4: raise it to use more) and share the bandwidth cap.
/// `BGFETCH_E_INVALID_ARGUMENT` outside 1..=16.
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_config_set_max_segments(
    c: *mut bgfetch_config,
    n: u32,
) -> bgfetch_status {
    with_config(c, |cfg| cfg.set_max_segments(n))
}

/// Bytes the store may hold in all (request bodies and response bodies); 0 = no quota (the
/// default).
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_config_set_quota(c: *mut bgfetch_config, bytes: u64) -> bgfetch_status {
    with_config(c, |cfg| {
        cfg.set_quota(bytes);
        Ok(())
    })
}

/// The `User-Agent` sent with requests that do not set one (no CR, LF or NUL).
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_config_set_user_agent(
    c: *mut bgfetch_config,
    ua: *const c_char,
) -> bgfetch_status {
    with_config(c, |cfg| cfg.set_user_agent(try_str(ua, "ua")?))
}

/// Connect timeout and per-read timeout, in milliseconds, each at least 1. Defaults 10 000 and
/// 30 000. A read that waits longer is a network error (retried). The whole response head must
/// arrive within the read timeout (a head that trickles in never holds a connection longer),
/// and no read goes on longer than the no-progress timeout without a new body byte.
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_config_set_timeouts(
    c: *mut bgfetch_config,
    connect_ms: u32,
    read_ms: u32,
) -> bgfetch_status {
    with_config(c, |cfg| cfg.set_timeouts(connect_ms, read_ms))
}

/// The retry policy (manager-wide). Transient errors: connect/DNS/read/write errors, timeouts,
/// resets, truncated bodies. They are retried with exponential backoff (base `backoff_ms`,
/// default 1000, doubled each time, random jitter x1..1.5, capped by
/// `bgfetch_config_set_max_backoff`) and fail the request (fetch-error) only when BOTH hold:
/// `max_attempts` (1..=100, default 5) consecutive attempts failed without progress (any
/// progress resets the count), AND there was no progress for the no-progress timeout (unless
/// `bgfetch_config_set_fail_after_attempts`). Progress means the record's stored body grows
/// past the most it ever held in this fetch (a body restarted from zero that never gets
/// further is not progress).
///
/// Fail at once: TLS verification errors (unknown issuer, expired, wrong name; the message
/// gives the verifier's reason), redirect errors, integrity mismatch, a full disk.
/// Fail after `max_attempts` consecutive attempts, without waiting for the no-progress
/// timeout: answers that are not well-formed HTTP (bad chunk framing, conflicting
/// Content-Lengths, a head over 64 KiB, a non-HTTP answer, TLS spoken to a plain-HTTP port;
/// also folded header lines and a space before a header's colon, which the parser refuses).
/// The outage rule is for a network that cannot be reached, not for a server that answers
/// wrongly. No backoff (the next attempt at once, not counted as a failure): an attempt that
/// made progress and ended early (a short 206, a cut after new bytes), and a reused keep-alive
/// connection that the server had closed.
///
/// A GET with a validator (a strong ETag or Last-Modified) resumes with one `Range` +
/// `If-Range` (a request with its own `Range` resumes by narrowing it); anything else starts
/// again from byte 0. Only the answer to a request from byte 0 is the record's response: a
/// 408, 429, 5xx (any status but 200, 206 or 416) answering a resume keeps the stored bytes
/// and head and is a transient failure (`Retry-After` honoured). A body without a length
/// (close-delimited) is complete only at a clean end from the server; a pause, reset or close
/// that cuts it is a failed attempt. A waiting request holds no connection. A response status
/// is final unless `bgfetch_config_set_retry_statuses`.
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_config_set_retries(
    c: *mut bgfetch_config,
    max_attempts: u32,
    backoff_ms: u32,
) -> bgfetch_status {
    with_config(c, |cfg| cfg.set_retries(max_attempts, backoff_ms))
}

/// The longest delay in ms between two attempts of a request (default 60000).
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_config_set_max_backoff(
    c: *mut bgfetch_config,
    ms: u32,
) -> bgfetch_status {
    with_config(c, |cfg| {
        cfg.set_max_backoff(ms);
        Ok(())
    })
}

/// How long in ms without a new body byte before a request may fail (default 600000 = 10
/// min); 0 = never (transient errors are retried for as long as the fetch lives).
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_config_set_no_progress_timeout(
    c: *mut bgfetch_config,
    ms: u64,
) -> bgfetch_status {
    with_config(c, |cfg| {
        cfg.set_no_progress_timeout(ms);
        Ok(())
    })
}

/// `true`: a request fails as soon as `max_attempts` consecutive attempts failed, whatever the
/// no-progress timeout (for hosts that would rather fail fast than outlive an outage).
/// Default `false`.
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_config_set_fail_after_attempts(
    c: *mut bgfetch_config,
    on: bool,
) -> bgfetch_status {
    with_config(c, |cfg| {
        cfg.set_fail_after_attempts(on);
        Ok(())
    })
}

/// `true`: 408, 429, 500, 502, 503 and 504 are transient (retried by the retry policy; a
/// `Retry-After` in seconds or as an HTTP date sets the next delay, clamped to 1 s..24 h; when
/// the retries are over, the last such response is the record's response). Default `false`:
/// every status is final, as the spec has it.
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_config_set_retry_statuses(
    c: *mut bgfetch_config,
    on: bool,
) -> bgfetch_status {
    with_config(c, |cfg| {
        cfg.set_retry_statuses(on);
        Ok(())
    })
}

/// The proxy: `"http://host:port"` (or `"socks5://host:port"`); `""` = no proxy even if the
/// environment names one. Unset: the environment's `ALL_PROXY`, `HTTPS_PROXY`, `HTTP_PROXY`
/// (the first set wins, upper or lower case) and `NO_PROXY`, read at open.
/// A malformed URL is `BGFETCH_E_INVALID_ARGUMENT`.
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_config_set_proxy(
    c: *mut bgfetch_config,
    proxy_url: *const c_char,
) -> bgfetch_status {
    with_config(c, |cfg| cfg.set_proxy(try_str(proxy_url, "proxy_url")?))
}

/// The bandwidth cap of the whole manager in bytes of response bodies per second, shared
/// fairly by the running transfers (0 = none, the default). Changeable while open with
/// `bgfetch_manager_set_max_download_rate`.
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_config_set_max_download_rate(
    c: *mut bgfetch_config,
    bytes_per_s: u64,
) -> bgfetch_status {
    with_config(c, |cfg| {
        cfg.set_max_download_rate(bytes_per_s);
        Ok(())
    })
}

/// The shortest time in ms between two progress callbacks of one registration while it runs
/// (the final one, when it settles, comes at once). Default 100.
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_config_set_progress_interval(
    c: *mut bgfetch_config,
    ms: u32,
) -> bgfetch_status {
    with_config(c, |cfg| {
        cfg.set_progress_interval(ms);
        Ok(())
    })
}

/// A PEM file of CA certificates to trust for https instead of the built-in roots. TLS
/// verification is always on.
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_config_set_ca_file(
    c: *mut bgfetch_config,
    pem_path: *const c_char,
) -> bgfetch_status {
    with_config(c, |cfg| cfg.set_ca_file(try_str(pem_path, "pem_path")?))
}

/// Where callbacks run. `BGFETCH_DISPATCH_THREAD` (default): on the manager's event thread.
/// `BGFETCH_DISPATCH_MANUAL`: only inside `bgfetch_manager_dispatch()`, on the caller's thread;
/// `bgfetch_manager_event_fd()` tells a poll loop when to call it.
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_config_set_dispatch(
    c: *mut bgfetch_config,
    mode: bgfetch_dispatch,
) -> bgfetch_status {
    with_config(c, |cfg| {
        cfg.set_dispatch(match mode {
            BGFETCH_DISPATCH_THREAD => DispatchMode::Thread,
            BGFETCH_DISPATCH_MANUAL => DispatchMode::Manual,
            other => return Err(Error::invalid(format!("unknown dispatch mode {other}"))),
        });
        Ok(())
    })
}

/// Whether a redirect from https to http is followed. Default false: such a redirect is a
/// `fetch-error`.
#[must_use]
#[no_mangle]
pub extern "C" fn bgfetch_config_set_allow_https_to_http(
    c: *mut bgfetch_config,
    allow: bool,
) -> bgfetch_status {
    with_config(c, |cfg| {
        cfg.set_allow_https_to_http(allow);
        Ok(())
    })
}
