//! One gate for every entry point (issue 20): once a thread of a manager died, every call of
//! the C ABI that reaches the manager — on it, its registrations, records and responses, waits
//! included — returns `BGFETCH_E_INTERNAL`; getters keep answering with the last values, and
//! the copies a handle holds (header lists, id lists, icon lists) stay readable. Every function
//! the header declares is listed below (a new one fails the test until it is listed).

mod common;
use common::ffi_runner::header_functions;
use common::*;

use std::ffi::{c_char, CStr, CString};
use std::ptr::{null, null_mut};

use bgfetch::ffi::config::*;
use bgfetch::ffi::icons::*;
use bgfetch::ffi::manager::*;
use bgfetch::ffi::options::*;
use bgfetch::ffi::record::*;
use bgfetch::ffi::registration::*;
use bgfetch::ffi::request::*;
use bgfetch::ffi::response::*;
use bgfetch::ffi::status::*;
use bgfetch::ffi::strings::*;

/// How a function behaves on a broken manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Broken {
    /// It reaches the manager: `BGFETCH_E_INTERNAL` (checked below, call by call).
    Internal,
    /// A getter, or a call on a copy the handle holds: it keeps answering.
    Answers,
    /// It does not belong to a manager (configuration, requests, options, names, freeing).
    NotManaged,
}

/// Every function of the header, and how it behaves on a broken manager.
const FUNCTIONS: &[(&str, Broken)] = &[
    ("bgfetch_status_name", Broken::NotManaged),
    ("bgfetch_last_error", Broken::NotManaged),
    ("bgfetch_version", Broken::NotManaged),
    ("bgfetch_result_str", Broken::NotManaged),
    ("bgfetch_failure_reason_str", Broken::NotManaged),
    ("bgfetch_state_str", Broken::NotManaged),
    ("bgfetch_string_free", Broken::NotManaged),
    ("bgfetch_config_new", Broken::NotManaged),
    ("bgfetch_config_free", Broken::NotManaged),
    ("bgfetch_config_set_base_url", Broken::NotManaged),
    ("bgfetch_config_set_max_connections", Broken::NotManaged),
    (
        "bgfetch_config_set_max_connections_per_fetch",
        Broken::NotManaged,
    ),
    ("bgfetch_config_set_max_segments", Broken::NotManaged),
    ("bgfetch_config_set_quota", Broken::NotManaged),
    ("bgfetch_config_set_user_agent", Broken::NotManaged),
    ("bgfetch_config_set_timeouts", Broken::NotManaged),
    ("bgfetch_config_set_retries", Broken::NotManaged),
    ("bgfetch_config_set_max_backoff", Broken::NotManaged),
    ("bgfetch_config_set_no_progress_timeout", Broken::NotManaged),
    ("bgfetch_config_set_fail_after_attempts", Broken::NotManaged),
    ("bgfetch_config_set_retry_statuses", Broken::NotManaged),
    ("bgfetch_config_set_proxy", Broken::NotManaged),
    ("bgfetch_config_set_max_download_rate", Broken::NotManaged),
    ("bgfetch_config_set_progress_interval", Broken::NotManaged),
    ("bgfetch_config_set_ca_file", Broken::NotManaged),
    ("bgfetch_config_set_dispatch", Broken::NotManaged),
    ("bgfetch_config_set_allow_https_to_http", Broken::NotManaged),
    ("bgfetch_manager_open", Broken::NotManaged),
    ("bgfetch_manager_close", Broken::NotManaged),
    ("bgfetch_manager_event_fd", Broken::Answers),
    ("bgfetch_manager_dispatch", Broken::Internal),
    ("bgfetch_manager_set_event_callback", Broken::Internal),
    ("bgfetch_fetch", Broken::Internal),
    ("bgfetch_fetch_urls", Broken::Internal),
    ("bgfetch_get", Broken::Internal),
    ("bgfetch_get_ids", Broken::Internal),
    ("bgfetch_manager_problem_count", Broken::Answers),
    ("bgfetch_manager_problem", Broken::Answers),
    ("bgfetch_manager_used_bytes", Broken::Answers),
    ("bgfetch_manager_set_offline", Broken::Internal),
    ("bgfetch_manager_offline", Broken::Answers),
    ("bgfetch_manager_set_max_download_rate", Broken::Internal),
    ("bgfetch_request_new", Broken::NotManaged),
    ("bgfetch_request_set_method", Broken::NotManaged),
    ("bgfetch_request_add_header", Broken::NotManaged),
    ("bgfetch_request_set_body", Broken::NotManaged),
    ("bgfetch_request_set_integrity", Broken::NotManaged),
    ("bgfetch_request_free", Broken::NotManaged),
    ("bgfetch_options_new", Broken::NotManaged),
    ("bgfetch_options_set_title", Broken::NotManaged),
    ("bgfetch_options_add_icon", Broken::NotManaged),
    ("bgfetch_options_set_download_total", Broken::NotManaged),
    ("bgfetch_options_set_start_paused", Broken::NotManaged),
    ("bgfetch_options_free", Broken::NotManaged),
    ("bgfetch_icons_len", Broken::Answers),
    ("bgfetch_icons_get", Broken::Answers),
    ("bgfetch_icons_free", Broken::NotManaged),
    ("bgfetch_registration_id", Broken::Answers),
    ("bgfetch_registration_upload_total", Broken::Answers),
    ("bgfetch_registration_uploaded", Broken::Answers),
    ("bgfetch_registration_download_total", Broken::Answers),
    ("bgfetch_registration_downloaded", Broken::Answers),
    ("bgfetch_registration_result", Broken::Answers),
    ("bgfetch_registration_failure_reason", Broken::Answers),
    ("bgfetch_registration_state", Broken::Answers),
    ("bgfetch_registration_last_error", Broken::Answers),
    ("bgfetch_registration_expected_total", Broken::Answers),
    ("bgfetch_registration_records_available", Broken::Answers),
    ("bgfetch_registration_title", Broken::Answers),
    ("bgfetch_registration_icons", Broken::Answers),
    ("bgfetch_registration_update_ui", Broken::Internal),
    ("bgfetch_registration_abort", Broken::Internal),
    ("bgfetch_registration_wait", Broken::Internal),
    (
        "bgfetch_registration_set_progress_callback",
        Broken::Internal,
    ),
    ("bgfetch_registration_pause", Broken::Internal),
    ("bgfetch_registration_resume", Broken::Internal),
    ("bgfetch_registration_paused", Broken::Answers),
    ("bgfetch_registration_release", Broken::Internal),
    ("bgfetch_registration_free", Broken::NotManaged),
    ("bgfetch_registration_match", Broken::Internal),
    ("bgfetch_registration_match_url", Broken::Internal),
    ("bgfetch_registration_match_all", Broken::Internal),
    ("bgfetch_records_len", Broken::Answers),
    ("bgfetch_records_get", Broken::Answers),
    ("bgfetch_records_free", Broken::NotManaged),
    ("bgfetch_record_url", Broken::Answers),
    ("bgfetch_record_method", Broken::Answers),
    ("bgfetch_record_header_count", Broken::Answers),
    ("bgfetch_record_header_at", Broken::Answers),
    ("bgfetch_record_body_size", Broken::Answers),
    ("bgfetch_record_read_body", Broken::Internal),
    ("bgfetch_record_response", Broken::Internal),
    ("bgfetch_record_state", Broken::Answers),
    ("bgfetch_record_attempts", Broken::Answers),
    ("bgfetch_record_retry_in_ms", Broken::Answers),
    ("bgfetch_record_last_error", Broken::Answers),
    ("bgfetch_record_free", Broken::NotManaged),
    ("bgfetch_response_status", Broken::Answers),
    ("bgfetch_response_ok", Broken::Answers),
    ("bgfetch_response_url", Broken::Answers),
    ("bgfetch_response_header", Broken::Answers),
    ("bgfetch_response_header_count", Broken::Answers),
    ("bgfetch_response_header_at", Broken::Answers),
    ("bgfetch_response_complete", Broken::Answers),
    ("bgfetch_response_wait", Broken::Internal),
    ("bgfetch_response_body_size", Broken::Answers),
    ("bgfetch_response_body_path", Broken::Answers),
    ("bgfetch_response_read", Broken::Internal),
    ("bgfetch_response_save", Broken::Internal),
    ("bgfetch_response_free", Broken::NotManaged),
    ("bgfetch_strings_len", Broken::Answers),
    ("bgfetch_strings_get", Broken::Answers),
    ("bgfetch_strings_free", Broken::NotManaged),
];

#[test]
fn every_header_function_is_listed() {
    let declared = header_functions();
    assert!(declared.len() > 100, "{declared:?}");
    let missing: Vec<&String> = declared
        .iter()
        .filter(|f| !FUNCTIONS.iter().any(|(n, _)| n == f))
        .collect();
    assert!(
        missing.is_empty(),
        "not listed in tests/gate.rs: {missing:?}"
    );
    let gone: Vec<&str> = FUNCTIONS
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| !declared.iter().any(|d| d == n))
        .collect();
    assert!(gone.is_empty(), "listed but not in the header: {gone:?}");
}

fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

fn last_error() -> String {
    unsafe { CStr::from_ptr(bgfetch_last_error()) }
        .to_string_lossy()
        .into_owned()
}

/// Calls `f` (a call of `name`) and checks that it returned `BGFETCH_E_INTERNAL` with the
/// manager's reason; returns the name for the list of what was checked.
fn internal(name: &'static str, st: bgfetch_status, checked: &mut Vec<&'static str>) {
    assert_eq!(
        st,
        BGFETCH_E_INTERNAL,
        "{name} returned {st} on a broken manager: {}",
        last_error()
    );
    assert!(
        last_error().contains("cannot go on"),
        "{name}: {}",
        last_error()
    );
    checked.push(name);
}

extern "C" fn no_event(_: *mut std::ffi::c_void, _: u32, _: *mut bgfetch_registration) {}
extern "C" fn no_progress(_: *mut std::ffi::c_void, _: *mut bgfetch_registration) {}

#[test]
fn a_dead_thread_makes_every_call_that_reaches_the_manager_internal() {
    let server = TestServer::start();
    let store = c(temp_store("gate").to_str().unwrap());
    let base = c(&server.base());
    let cfg = bgfetch_config_new(store.as_ptr());
    assert_eq!(bgfetch_config_set_base_url(cfg, base.as_ptr()), BGFETCH_OK);
    let mut m = null_mut();
    assert_eq!(bgfetch_manager_open(cfg, &mut m), BGFETCH_OK);
    bgfetch_config_free(cfg);

    // A settled fetch with a body, and its record, response and lists, before the crash.
    let url = c(&server.url("/bytes/1000?header=X-A:1&header=X-A:2"));
    let urls = [url.as_ptr()];
    let id = c("f");
    let mut reg = null_mut();
    assert_eq!(
        bgfetch_fetch_urls(m, id.as_ptr(), urls.as_ptr(), 1, null(), &mut reg),
        BGFETCH_OK
    );
    assert_eq!(bgfetch_registration_wait(reg, 30_000), BGFETCH_OK);
    let mut rs = null_mut();
    assert_eq!(
        bgfetch_registration_match_all(reg, null(), 0, &mut rs),
        BGFETCH_OK
    );
    let rec = bgfetch_records_get(rs, 0);
    let mut res = null_mut();
    assert_eq!(bgfetch_record_response(rec, 5000, &mut res), BGFETCH_OK);
    let mut ids = null_mut();
    assert_eq!(bgfetch_get_ids(m, &mut ids), BGFETCH_OK);
    let mut icons = null_mut();
    assert_eq!(bgfetch_registration_icons(reg, &mut icons), BGFETCH_OK);
    let downloaded = bgfetch_registration_downloaded(reg);

    // The sync thread dies: the manager is broken.
    let manager = unsafe { &*m };
    manager.inner_for_tests().crash_thread_for_tests("sync");
    let mut ids2 = null_mut();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while bgfetch_get_ids(m, &mut ids2) != BGFETCH_E_INTERNAL {
        bgfetch_strings_free(ids2);
        ids2 = null_mut();
        assert!(
            std::time::Instant::now() < deadline,
            "the manager never broke"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }

    let mut checked = Vec::new();
    let ck = &mut checked;
    let mut n = 0u32;
    internal(
        "bgfetch_manager_dispatch",
        bgfetch_manager_dispatch(m, 0, &mut n),
        ck,
    );
    internal(
        "bgfetch_manager_set_event_callback",
        bgfetch_manager_set_event_callback(m, Some(no_event), null_mut(), None),
        ck,
    );
    let other = c("g");
    let mut reg2 = null_mut();
    internal(
        "bgfetch_fetch_urls",
        bgfetch_fetch_urls(m, other.as_ptr(), urls.as_ptr(), 1, null(), &mut reg2),
        ck,
    );
    let mut req = null_mut();
    assert_eq!(bgfetch_request_new(url.as_ptr(), &mut req), BGFETCH_OK);
    let reqs = [req as *const bgfetch_request];
    internal(
        "bgfetch_fetch",
        bgfetch_fetch(m, other.as_ptr(), reqs.as_ptr(), 1, null(), &mut reg2),
        ck,
    );
    let mut got = null_mut();
    internal("bgfetch_get", bgfetch_get(m, id.as_ptr(), &mut got), ck);
    internal("bgfetch_get_ids", bgfetch_get_ids(m, &mut ids2), ck);
    internal(
        "bgfetch_manager_set_offline",
        bgfetch_manager_set_offline(m, true),
        ck,
    );
    internal(
        "bgfetch_manager_set_max_download_rate",
        bgfetch_manager_set_max_download_rate(m, 1000),
        ck,
    );
    let opts = bgfetch_options_new();
    internal(
        "bgfetch_registration_update_ui",
        bgfetch_registration_update_ui(reg, opts),
        ck,
    );
    bgfetch_options_free(opts);
    let mut aborted = false;
    internal(
        "bgfetch_registration_abort",
        bgfetch_registration_abort(reg, &mut aborted),
        ck,
    );
    internal(
        "bgfetch_registration_wait",
        bgfetch_registration_wait(reg, 0),
        ck,
    );
    internal(
        "bgfetch_registration_set_progress_callback",
        bgfetch_registration_set_progress_callback(reg, Some(no_progress), null_mut(), None),
        ck,
    );
    internal(
        "bgfetch_registration_pause",
        bgfetch_registration_pause(reg),
        ck,
    );
    internal(
        "bgfetch_registration_resume",
        bgfetch_registration_resume(reg),
        ck,
    );
    internal(
        "bgfetch_registration_release",
        bgfetch_registration_release(reg),
        ck,
    );
    let mut one = null_mut();
    internal(
        "bgfetch_registration_match",
        bgfetch_registration_match(reg, req, 0, &mut one),
        ck,
    );
    internal(
        "bgfetch_registration_match_url",
        bgfetch_registration_match_url(reg, url.as_ptr(), 0, &mut one),
        ck,
    );
    let mut rs2 = null_mut();
    internal(
        "bgfetch_registration_match_all",
        bgfetch_registration_match_all(reg, null(), 0, &mut rs2),
        ck,
    );
    let mut buf = [0u8; 16];
    let mut got_n = 0usize;
    internal(
        "bgfetch_record_read_body",
        bgfetch_record_read_body(rec, 0, buf.as_mut_ptr(), buf.len(), &mut got_n),
        ck,
    );
    let mut res2 = null_mut();
    internal(
        "bgfetch_record_response",
        bgfetch_record_response(rec, 0, &mut res2),
        ck,
    );
    internal("bgfetch_response_wait", bgfetch_response_wait(res, 0), ck);
    internal(
        "bgfetch_response_read",
        bgfetch_response_read(res, 0, buf.as_mut_ptr(), buf.len(), 0, &mut got_n),
        ck,
    );
    let dest = c(temp_store("gate-save").to_str().unwrap());
    internal(
        "bgfetch_response_save",
        bgfetch_response_save(res, dest.as_ptr(), 0),
        ck,
    );
    for (name, how) in FUNCTIONS {
        if *how == Broken::Internal {
            assert!(checked.contains(name), "{name} is not checked above");
        }
    }

    // Getters keep the last values; the copies a handle holds stay readable.
    assert_eq!(bgfetch_registration_downloaded(reg), downloaded);
    assert_eq!(bgfetch_registration_result(reg), BGFETCH_RESULT_SUCCESS);
    assert_eq!(bgfetch_registration_state(reg), BGFETCH_RECORD_DONE);
    assert_eq!(bgfetch_record_state(rec), BGFETCH_RECORD_DONE);
    assert_eq!(bgfetch_response_status(res), 200);
    assert!(bgfetch_response_complete(res));
    let name = c("x-a");
    let joined = unsafe { CStr::from_ptr(bgfetch_response_header(res, name.as_ptr())) };
    assert_eq!(joined.to_str().unwrap(), "1, 2");
    assert_eq!(bgfetch_strings_len(ids), 1);
    let first: *const c_char = bgfetch_strings_get(ids, 0);
    assert_eq!(unsafe { CStr::from_ptr(first) }.to_str().unwrap(), "f");
    assert_eq!(bgfetch_icons_len(icons), 0);
    assert!(
        bgfetch_manager_problem_count(m) >= 1,
        "the death is a problem"
    );

    bgfetch_request_free(req);
    bgfetch_icons_free(icons);
    bgfetch_strings_free(ids);
    bgfetch_response_free(res);
    bgfetch_records_free(rs);
    bgfetch_registration_free(reg);
    bgfetch_manager_close(m);
}
