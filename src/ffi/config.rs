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
pub struct bgfetch_config {
    pub(crate) inner: Mutex<Config>,
}

/// A configuration with defaults for the store directory `store_dir` (created at open, mode
/// 0700). Returns NULL if `store_dir` is NULL, empty or not UTF-8 (see `bgfetch_last_error`).
/// Owned: free with `bgfetch_config_free`.
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
#[no_mangle]
pub extern "C" fn bgfetch_config_set_base_url(
    c: *mut bgfetch_config,
    url: *const c_char,
) -> bgfetch_status {
    with_config(c, |cfg| cfg.set_base_url(try_str(url, "url")?))
}

/// Connections (and worker threads) for the whole manager, 1..=256. Default 8.
#[no_mangle]
pub extern "C" fn bgfetch_config_set_max_connections(
    c: *mut bgfetch_config,
    n: u32,
) -> bgfetch_status {
    with_config(c, |cfg| cfg.set_max_connections(n))
}

/// Connections one fetch may use at once, 1..=256. Default 4.
#[no_mangle]
pub extern "C" fn bgfetch_config_set_max_connections_per_fetch(
    c: *mut bgfetch_config,
    n: u32,
) -> bgfetch_status {
    with_config(c, |cfg| cfg.set_max_connections_per_fetch(n))
}

/// Bytes the store may hold in all (request bodies and response bodies); 0 = no quota (the
/// default).
#[no_mangle]
pub extern "C" fn bgfetch_config_set_quota(c: *mut bgfetch_config, bytes: u64) -> bgfetch_status {
    with_config(c, |cfg| {
        cfg.set_quota(bytes);
        Ok(())
    })
}

/// The `User-Agent` sent with requests that do not set one (no CR, LF or NUL).
#[no_mangle]
pub extern "C" fn bgfetch_config_set_user_agent(
    c: *mut bgfetch_config,
    ua: *const c_char,
) -> bgfetch_status {
    with_config(c, |cfg| cfg.set_user_agent(try_str(ua, "ua")?))
}

/// Connect timeout and per-read timeout, in milliseconds, each at least 1. Defaults 10 000 and
/// 30 000. A read that waits longer is a network error (retried).
#[no_mangle]
pub extern "C" fn bgfetch_config_set_timeouts(
    c: *mut bgfetch_config,
    connect_ms: u32,
    read_ms: u32,
) -> bgfetch_status {
    with_config(c, |cfg| cfg.set_timeouts(connect_ms, read_ms))
}

/// Attempts per request for network errors (1..=100; default 3) and the first backoff in ms
/// (default 250; doubled each time, with jitter). A response with any status is not retried.
#[no_mangle]
pub extern "C" fn bgfetch_config_set_retries(
    c: *mut bgfetch_config,
    max_attempts: u32,
    backoff_ms: u32,
) -> bgfetch_status {
    with_config(c, |cfg| cfg.set_retries(max_attempts, backoff_ms))
}

/// The shortest time in ms between two progress callbacks of one registration. Default 100.
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
