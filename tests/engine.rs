//! Rust tests of the core against the local test server: one test per rule of the spec.

mod common;
use common::*;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bgfetch::*;

fn all(reg: &Arc<Registration>) -> Vec<usize> {
    indexes(reg.match_all(None, QueryOptions::default()))
}

fn query(url: &str) -> Request {
    Request::new(url)
}

/// The indexes of the records found.
fn indexes(found: Result<Vec<Record>>) -> Vec<usize> {
    found.unwrap().iter().map(Record::index).collect()
}

#[test]
fn fetch_downloads_every_request_byte_exact() {
    let server = TestServer::start();
    let m = Manager::open(config(&server, "exact")).unwrap();
    let reg = fetch_urls(
        &m,
        "f",
        &["bytes/1000?seed=1", "/bytes/300000?seed=2", "/bytes/0"],
    );
    reg.wait(WAIT).unwrap();
    let s = reg.snapshot();
    assert_eq!(s.result, FetchResult::Success);
    assert_eq!(s.failure_reason, FailureReason::None);
    assert_eq!(s.downloaded, 301_000);
    assert_eq!(body(&reg, 0), pattern(1000, 1));
    assert_eq!(body(&reg, 1), pattern(300_000, 2));
    assert_eq!(body(&reg, 2), Vec::<u8>::new());
    let path = reg.body_path(1).unwrap();
    assert_eq!(std::fs::read(path).unwrap(), pattern(300_000, 2));
}

#[test]
fn empty_list_bad_urls_and_bad_ids_register_nothing() {
    let server = TestServer::start();
    let m = Manager::open(config(&server, "invalid")).unwrap();
    let bad = |id: &str, urls: &[&str]| {
        let reqs: Vec<Request> = urls.iter().map(|u| Request::new(u)).collect();
        m.fetch(id, &reqs, &FetchOptions::default()).err().unwrap()
    };
    assert!(matches!(bad("a", &[]), Error::InvalidArgument(_)));
    assert!(matches!(bad("", &["/bytes/1"]), Error::InvalidArgument(_)));
    for u in [
        "ftp://127.0.0.1/x",
        "http://u:p@127.0.0.1/x",
        "http://127.0.0.1:25/",
        "http://127.0.0.1:587/",
        "http://[::1",
    ] {
        let e = bad("a", &["/bytes/1", u]);
        assert!(matches!(e, Error::InvalidArgument(_)), "{u}: {e:?}");
    }
    assert!(m.get_ids().unwrap().is_empty());
}

#[test]
fn a_used_id_is_a_duplicate_until_released() {
    let server = TestServer::start();
    let m = Manager::open(config(&server, "dup")).unwrap();
    let reg = fetch_urls(&m, "../etc/passwd", &["/bytes/10"]);
    let e = m
        .fetch(
            "../etc/passwd",
            &[Request::new("/bytes/1")],
            &FetchOptions::default(),
        )
        .err()
        .unwrap();
    assert!(matches!(e, Error::DuplicateId(_)));
    reg.wait(WAIT).unwrap();
    reg.release().unwrap();
    assert!(m.get("../etc/passwd").unwrap().is_none());
    let again = fetch_urls(&m, "../etc/passwd", &["/bytes/5"]);
    again.wait(WAIT).unwrap();
    assert_eq!(again.snapshot().downloaded, 5);
}

#[test]
fn ids_never_become_paths() {
    let server = TestServer::start();
    let cfg = config(&server, "idpath");
    let dir = cfg.store_dir().to_path_buf();
    let m = Manager::open(cfg).unwrap();
    let long = "x/".repeat(MAX_ID_LEN / 2);
    for id in ["a/b", "..", "/", long.as_str()] {
        let reg = fetch_urls(&m, id, &["/bytes/3"]);
        reg.wait(WAIT).unwrap();
        assert_eq!(reg.id(), id);
    }
    let names: Vec<String> = std::fs::read_dir(dir.join("fetches"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 4);
    assert!(names
        .iter()
        .all(|n| n.len() == 32 && n.chars().all(|c| c.is_ascii_hexdigit())));
    let mut ids = m.get_ids().unwrap();
    ids.sort();
    assert_eq!(ids.len(), 4);
}

#[test]
fn bad_status_fails_the_fetch_but_keeps_the_response_and_the_others() {
    let server = TestServer::start();
    let m = Manager::open(config(&server, "badstatus")).unwrap();
    let reg = fetch_urls(&m, "f", &["/status/404", "/bytes/5000?rate=50000"]);
    reg.wait(WAIT).unwrap();
    let s = reg.snapshot();
    assert_eq!(s.result, FetchResult::Failure);
    assert_eq!(s.failure_reason, FailureReason::BadStatus);
    let head = reg.response_head(0, WAIT).unwrap();
    assert_eq!(head.status(), 404);
    assert_eq!(body(&reg, 0), b"status 404\n");
    assert_eq!(body(&reg, 1), pattern(5000, 0));
}

#[test]
fn network_errors_are_fetch_error_and_the_record_fails() {
    let server = TestServer::start();
    let m = Manager::open(config(&server, "neterr")).unwrap();
    let refused = format!("http://127.0.0.1:{}/x", closed_port());
    let reg = fetch_urls(
        &m,
        "f",
        &[
            &refused,
            "/bytes/100?cl_delta=5",
            "/bad-chunked",
            "/bytes/10",
        ],
    );
    reg.wait(WAIT).unwrap();
    let s = reg.snapshot();
    assert_eq!(s.failure_reason, FailureReason::FetchError);
    assert!(matches!(
        reg.response_head(0, WAIT),
        Err(Error::FetchFailed(_))
    ));
    assert!(matches!(reg.wait_body(1, WAIT), Err(Error::FetchFailed(_))));
    assert!(matches!(reg.wait_body(2, WAIT), Err(Error::FetchFailed(_))));
    assert_eq!(body(&reg, 3), pattern(10, 0));
}

#[test]
fn retries_recover_from_resets_and_resume_byte_exact() {
    let server = TestServer::start();
    let mut cfg = config(&server, "retry");
    cfg.set_retries(4, 10).unwrap();
    cfg.set_fail_after_attempts(true);
    let m = Manager::open(cfg).unwrap();
    let reg = fetch_urls(
        &m,
        "f",
        &[
            "/bytes/200000?reset_at=150000&fail_times=2",
            "/bytes/5000?reset_before_headers=1&fail_times=1",
        ],
    );
    reg.wait(WAIT).unwrap();
    assert_eq!(reg.snapshot().result, FetchResult::Success);
    assert_eq!(body(&reg, 0), pattern(200_000, 0));
    assert_eq!(body(&reg, 1), pattern(5000, 0));
    let ranges: Vec<String> = server
        .requests()
        .iter()
        .filter_map(|r| r.header("range").map(str::to_string))
        .collect();
    // The reset comes after at most 150000 bytes (a RST may discard a few unread ones); every
    // later attempt resumes from what was stored, never from zero.
    assert!(!ranges.is_empty());
    for r in &ranges {
        let start: u64 = r
            .strip_prefix("bytes=")
            .and_then(|r| r.strip_suffix('-'))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("bad range {r}"));
        assert!(start > 0 && start <= 150_000, "{ranges:?}");
    }
    assert!(server.stats().body_bytes_sent < 200_000 + 5000 + 150_000 * 2 + 1);
}

#[test]
fn download_total_is_never_exceeded() {
    let server = TestServer::start();
    let m = Manager::open(config(&server, "dte")).unwrap();
    let opts = FetchOptions {
        download_total: 150_000,
        ..Default::default()
    };
    let reg = m
        .fetch(
            "f",
            &[
                Request::new("/bytes/100000"),
                Request::new("/bytes/100000?seed=1"),
            ],
            &opts,
        )
        .unwrap();
    reg.wait(WAIT).unwrap();
    let s = reg.snapshot();
    assert_eq!(s.failure_reason, FailureReason::DownloadTotalExceeded);
    assert!(s.downloaded <= 150_000, "{}", s.downloaded);

    let exact = FetchOptions {
        download_total: 2000,
        ..Default::default()
    };
    let reg = m
        .fetch(
            "g",
            &[
                Request::new("/bytes/1000"),
                Request::new("/bytes/1000?seed=3"),
            ],
            &exact,
        )
        .unwrap();
    reg.wait(WAIT).unwrap();
    assert_eq!(reg.snapshot().result, FetchResult::Success);
}

#[test]
fn quota_is_enforced_at_fetch_and_while_downloading() {
    let server = TestServer::start();
    let mut cfg = config(&server, "quota");
    cfg.set_quota(100_000);
    let m = Manager::open(cfg).unwrap();
    let over = FetchOptions {
        download_total: 100_001,
        ..Default::default()
    };
    let e = m
        .fetch("a", &[Request::new("/bytes/1")], &over)
        .err()
        .unwrap();
    assert!(matches!(e, Error::QuotaExceeded(_)));
    let reg = fetch_urls(&m, "b", &["/bytes/60000", "/bytes/60000?seed=1"]);
    reg.wait(WAIT).unwrap();
    let s = reg.snapshot();
    assert_eq!(s.failure_reason, FailureReason::QuotaExceeded);
    assert!(m.used_bytes() <= 100_000);
    reg.release().unwrap();
    assert_eq!(m.used_bytes(), 0);
    let exact = fetch_urls(&m, "c", &["/bytes/100000"]);
    exact.wait(WAIT).unwrap();
    assert_eq!(exact.snapshot().result, FetchResult::Success);
}

#[test]
fn abort_stops_a_transfer_stuck_on_the_server_promptly() {
    let server = TestServer::start();
    let m = Manager::open(config(&server, "abort")).unwrap();
    let reg = fetch_urls(
        &m,
        "f",
        &[
            "/bytes/100?stall_ms=60000",
            "/bytes/100000?stall_at=10&stall_ms=60000",
        ],
    );
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    assert!(reg.abort().unwrap());
    reg.wait(Some(Duration::from_secs(2))).unwrap();
    assert!(t.elapsed() < Duration::from_secs(2));
    let s = reg.snapshot();
    assert_eq!(s.result, FetchResult::Failure);
    assert_eq!(s.failure_reason, FailureReason::Aborted);
    assert!(!reg.abort().unwrap());
    assert!(matches!(reg.response_head(0, WAIT), Err(Error::Aborted(_))));
    // The record whose head arrived keeps its response; its body can never complete.
    assert_eq!(reg.response_head(1, WAIT).unwrap().status(), 200);
    assert!(matches!(reg.wait_body(1, WAIT), Err(Error::Aborted(_))));
    // Closing the manager does not wait on the stalled server either.
    let t = Instant::now();
    drop(m);
    assert!(t.elapsed() < Duration::from_secs(2));
}

#[test]
fn abort_after_settle_is_false() {
    let server = TestServer::start();
    let m = Manager::open(config(&server, "abort2")).unwrap();
    let reg = fetch_urls(&m, "f", &["/bytes/10"]);
    reg.wait(WAIT).unwrap();
    assert!(!reg.abort().unwrap());
    assert_eq!(reg.snapshot().result, FetchResult::Success);
}

#[test]
fn release_frees_storage_and_makes_records_unavailable() {
    let server = TestServer::start();
    let cfg = config(&server, "release");
    let dir = cfg.store_dir().to_path_buf();
    let m = Manager::open(cfg).unwrap();
    let reg = fetch_urls(&m, "f", &["/bytes/10?stall_ms=500"]);
    assert!(matches!(reg.release(), Err(Error::InvalidState(_))));
    reg.wait(WAIT).unwrap();
    reg.release().unwrap();
    let s = reg.snapshot();
    assert!(!s.records_available);
    assert!(matches!(
        reg.match_all(None, QueryOptions::default()),
        Err(Error::InvalidState(_))
    ));
    assert!(matches!(
        reg.response_head(0, WAIT),
        Err(Error::InvalidState(_))
    ));
    assert!(m.get("f").unwrap().is_none());
    assert_eq!(std::fs::read_dir(dir.join("fetches")).unwrap().count(), 0);
}

#[test]
fn redirects_are_followed_and_loops_fail() {
    let server = TestServer::start();
    let m = Manager::open(config(&server, "redirect")).unwrap();
    let reg = fetch_urls(
        &m,
        "f",
        &[
            "/redirect?to=%2Fbytes%2F64&n=3",
            "/redirect-loop",
            "/redirect-scheme",
        ],
    );
    reg.wait(WAIT).unwrap();
    let head = reg.response_head(0, WAIT).unwrap();
    assert_eq!(head.url(), server.url("/bytes/64"));
    assert_eq!(body(&reg, 0), pattern(64, 0));
    assert!(matches!(
        reg.response_head(1, WAIT),
        Err(Error::FetchFailed(_))
    ));
    assert!(matches!(
        reg.response_head(2, WAIT),
        Err(Error::FetchFailed(_))
    ));
    assert_eq!(reg.snapshot().failure_reason, FailureReason::FetchError);
}

#[test]
fn match_follows_the_cache_rules() {
    let server = TestServer::start();
    let m = Manager::open(config(&server, "match")).unwrap();
    let reg = fetch_urls(&m, "f", &["/bytes/1?seed=1", "/bytes/1?seed=2", "/bytes/2"]);
    reg.wait(WAIT).unwrap();
    let u = |p: &str| server.url(p);
    let o = QueryOptions::default();
    assert_eq!(
        indexes(reg.match_all(Some(&query(&u("/bytes/1?seed=2#frag"))), o)),
        vec![1]
    );
    assert!(reg
        .match_all(Some(&query(&u("/bytes/1"))), o)
        .unwrap()
        .is_empty());
    let search = QueryOptions {
        ignore_search: true,
        ..o
    };
    assert_eq!(
        indexes(reg.match_all(Some(&query(&u("/bytes/1"))), search)),
        vec![0, 1]
    );
    assert_eq!(all(&reg), vec![0, 1, 2]);
}

#[test]
fn responses_stream_while_the_body_arrives() {
    let server = TestServer::start();
    let m = Manager::open(config(&server, "stream")).unwrap();
    let reg = fetch_urls(&m, "f", &["/bytes/200000?rate=400000"]);
    let head = reg.response_head(0, WAIT).unwrap();
    assert_eq!(head.status(), 200);
    assert!(!reg.body_progress(0).1, "the body should still be arriving");
    assert_eq!(body(&reg, 0), pattern(200_000, 0));
    assert!(reg.body_progress(0).1);
    assert!(matches!(reg.wait_body(0, Some(Duration::ZERO)), Ok(())));
}

#[test]
fn response_ready_times_out_on_a_slow_server() {
    let server = TestServer::start();
    let m = Manager::open(config(&server, "timeout")).unwrap();
    let reg = fetch_urls(&m, "f", &["/bytes/1?stall_ms=2000"]);
    assert!(matches!(
        reg.response_head(0, Some(Duration::from_millis(100))),
        Err(Error::Timeout(_))
    ));
    assert!(matches!(
        reg.wait(Some(Duration::ZERO)),
        Err(Error::Timeout(_))
    ));
}

#[test]
fn progress_is_coalesced_monotonic_and_ends_with_the_final_state() {
    let server = TestServer::start();
    let mut cfg = config(&server, "progress");
    cfg.set_progress_interval(100);
    let m = Manager::open(cfg).unwrap();
    let reg = fetch_urls(&m, "f", &["/bytes/400000?rate=800000"]);
    let seen: Arc<Mutex<Vec<(Instant, u64, FetchResult)>>> = Arc::default();
    let s2 = seen.clone();
    reg.set_progress_callback(Some(Arc::new(move |r: &Arc<Registration>| {
        let s = r.snapshot();
        s2.lock()
            .unwrap()
            .push((Instant::now(), s.downloaded, s.result));
    })))
    .unwrap();
    reg.wait(WAIT).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let seen = seen.lock().unwrap().clone();
    assert!(seen.len() >= 2, "{seen:?}");
    for w in seen.windows(2) {
        assert!(w[1].1 >= w[0].1, "downloaded decreased");
    }
    // Coalesced to one call per interval; the final one is not held back.
    let running = &seen[..seen.len() - 1];
    for w in running.windows(2) {
        assert!(
            w[1].0 - w[0].0 >= Duration::from_millis(95),
            "not coalesced"
        );
    }
    let last = seen.last().unwrap();
    assert_eq!(last.1, 400_000);
    assert_eq!(last.2, FetchResult::Success);
    assert_eq!(seen.iter().filter(|s| s.2 != FetchResult::None).count(), 1);
}

#[test]
fn the_final_progress_is_not_held_back_by_the_interval() {
    // A minute between progress calls: `wait` (which returns after the final one) must not
    // wait for the next tick once the fetch settled.
    let server = TestServer::start();
    let mut cfg = config(&server, "final-progress");
    cfg.set_progress_interval(60_000);
    let m = Manager::open(cfg).unwrap();
    let calls = Arc::new(AtomicU64::new(0));
    let c = calls.clone();
    let reg = fetch_urls(&m, "f", &["/bytes/200000?rate=400000"]);
    reg.set_progress_callback(Some(Arc::new(move |_: &Arc<Registration>| {
        c.fetch_add(1, Ordering::SeqCst);
    })))
    .unwrap();
    reg.wait(Some(Duration::from_secs(20))).unwrap();
    assert_eq!(reg.snapshot().result, FetchResult::Success);
    assert!(calls.load(Ordering::SeqCst) >= 1);
}

#[test]
fn a_replaced_progress_callback_never_runs_again() {
    let server = TestServer::start();
    let m = Manager::open(config(&server, "replace")).unwrap();
    let reg = fetch_urls(&m, "f", &["/bytes/300000?rate=600000"]);
    let old = Arc::new(AtomicU64::new(0));
    let o = old.clone();
    reg.set_progress_callback(Some(Arc::new(move |_: &Arc<Registration>| {
        std::thread::sleep(Duration::from_millis(30));
        o.fetch_add(1, Ordering::SeqCst);
    })))
    .unwrap();
    std::thread::sleep(Duration::from_millis(150));
    reg.set_progress_callback(None).unwrap();
    let after = old.load(Ordering::SeqCst);
    reg.wait(WAIT).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(old.load(Ordering::SeqCst), after);
}

#[test]
fn completion_event_follows_the_final_progress() {
    let server = TestServer::start();
    let m = Manager::open(config(&server, "events")).unwrap();
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let l = log.clone();
    m.set_event_callback(Some(Arc::new(move |kind, reg: &Arc<Registration>| {
        let readable = reg.match_all(None, QueryOptions::default()).is_ok();
        l.lock()
            .unwrap()
            .push(format!("{kind:?} {} {readable}", reg.id()));
    })))
    .unwrap();
    let reg = fetch_urls(&m, "ok", &["/bytes/1000"]);
    let l = log.clone();
    reg.set_progress_callback(Some(Arc::new(move |r: &Arc<Registration>| {
        if r.snapshot().result != FetchResult::None {
            l.lock().unwrap().push("final".into());
        }
    })))
    .unwrap();
    reg.wait(WAIT).unwrap();
    let bad = fetch_urls(&m, "bad", &["/status/500"]);
    bad.wait(WAIT).unwrap();
    let slow = fetch_urls(&m, "slow", &["/bytes/10?stall_ms=5000"]);
    slow.abort().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while log.lock().unwrap().len() < 4 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let log = log.lock().unwrap().clone();
    let pos = |s: &str| {
        log.iter()
            .position(|x| x == s)
            .unwrap_or_else(|| panic!("{s} in {log:?}"))
    };
    assert!(pos("final") < pos("Success ok true"));
    pos("Fail bad true");
    pos("Abort slow true");
}

#[test]
fn close_and_reopen_resumes_and_redelivers_events() {
    let server = TestServer::start();
    let cfg = config(&server, "reopen");
    let m = Manager::open(cfg.clone()).unwrap();
    let done = fetch_urls(&m, "done", &["/bytes/1000"]);
    done.wait(WAIT).unwrap();
    let slow = fetch_urls(&m, "slow", &["/bytes/400000?rate=1000000"]);
    std::thread::sleep(Duration::from_millis(150));
    assert!(matches!(Manager::open(cfg.clone()), Err(Error::Busy(_))));
    m.close();
    assert!(matches!(slow.abort(), Err(Error::Closed(_))));
    let kept = slow.snapshot().downloaded;
    assert!(kept > 0 && kept < 400_000, "{kept}");
    drop(m);

    let m = Manager::open(cfg).unwrap();
    let slow = m.get("slow").unwrap().unwrap();
    assert!(slow.snapshot().downloaded >= kept);
    slow.wait(WAIT).unwrap();
    assert_eq!(body(&slow, 0), pattern(400_000, 0));
    let events: Arc<Mutex<Vec<String>>> = Arc::default();
    let e = events.clone();
    m.set_event_callback(Some(Arc::new(move |k, r: &Arc<Registration>| {
        e.lock().unwrap().push(format!("{k:?} {}", r.id()));
    })))
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while events.lock().unwrap().len() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut ev = events.lock().unwrap().clone();
    ev.sort();
    assert_eq!(ev, vec!["Success done", "Success slow"]);
    let done = m.get("done").unwrap().unwrap();
    assert_eq!(body(&done, 0), pattern(1000, 0));
    done.release().unwrap();
    assert!(server
        .requests()
        .iter()
        .any(|r| r.header("range").is_some()));
}

#[test]
fn eight_threads_share_one_manager() {
    let server = TestServer::start();
    let m = Arc::new(Manager::open(config(&server, "threads")).unwrap());
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let m = m.clone();
            std::thread::spawn(move || {
                for i in 0..5 {
                    let id = format!("t{t}-{i}");
                    let reg = fetch_urls(&m, &id, &[&format!("/bytes/{}?seed={t}", 1000 + i)]);
                    assert!(m.get(&id).unwrap().is_some());
                    assert!(m.get_ids().unwrap().contains(&id));
                    reg.wait(WAIT).unwrap();
                    assert_eq!(body(&reg, 0), pattern(1000 + i as u64, t));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(m.get_ids().unwrap().len(), 40);
}
