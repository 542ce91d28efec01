//! Trust at the edges (issue 11): the store and the threads under concurrent calls, missing
//! and damaged files, a full disk, and the ordering of callbacks, waits, aborts and close.
//! Each test fails on the code before 0.2.0.

mod common;
use common::*;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bgfetch::*;

/// How long a call that must not hang may take before the test calls it a hang.
const HANG: Duration = Duration::from_secs(30);

/// Runs `f` on a thread; its result, or a failure naming `what` if it does not return in time.
fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(HANG)
        .unwrap_or_else(|_| panic!("{what} did not return within {HANG:?}"))
}

fn status_of(e: &Error) -> &'static str {
    match e {
        Error::InvalidArgument(_) => "InvalidArgument",
        Error::DuplicateId(_) => "DuplicateId",
        Error::QuotaExceeded(_) => "QuotaExceeded",
        Error::InvalidState(_) => "InvalidState",
        Error::Aborted(_) => "Aborted",
        Error::FetchFailed(_) => "FetchFailed",
        Error::Timeout(_) => "Timeout",
        Error::Io(_) => "Io",
        Error::Closed(_) => "Closed",
        Error::Busy(_) => "Busy",
        Error::Internal(_) => "Internal",
    }
}

// ----- 11: release racing a new fetch of the same id -----

#[test]
fn release_racing_a_fetch_of_the_same_id_never_loses_a_live_fetch() {
    let server = TestServer::start();
    let m = Arc::new(Manager::open(config(&server, "release-race")).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + Duration::from_secs(3);
    let releases = Arc::new(AtomicUsize::new(0));

    let releaser = {
        let (m, stop, releases) = (m.clone(), stop.clone(), releases.clone());
        std::thread::spawn(move || -> Vec<String> {
            let mut bad = Vec::new();
            while !stop.load(Ordering::Acquire) {
                let Some(reg) = m.get("same").unwrap() else {
                    continue;
                };
                match reg.release() {
                    Ok(()) => {
                        releases.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(Error::InvalidState(_)) => {} // still running
                    Err(e) => bad.push(format!("release: {} {e}", status_of(&e))),
                }
            }
            bad
        })
    };

    let mut bad = Vec::new();
    let (mut fetched, mut checked) = (0u64, 0u64);
    while Instant::now() < deadline && fetched < 400 {
        let seed = fetched;
        let url = format!("/bytes/3000?seed={seed}");
        let reg = match m.fetch("same", &[Request::new(&url)], &FetchOptions::default()) {
            Ok(r) => r,
            Err(Error::DuplicateId(_)) => continue,
            Err(e) => {
                bad.push(format!("fetch: {} {e}", status_of(&e)));
                continue;
            }
        };
        fetched += 1;
        if let Err(e) = reg.wait(WAIT) {
            bad.push(format!("wait: {} {e}", status_of(&e)));
            continue;
        }
        // Unless released meanwhile (InvalidState), the live fetch has its whole body.
        let mut got = Vec::new();
        let mut buf = vec![0u8; 4096];
        let read = loop {
            match reg.read_body(0, got.len() as u64, &mut buf, None) {
                Ok(0) => break Ok(()),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => break Err(e),
            }
        };
        match read {
            Ok(()) => {
                checked += 1;
                if got != pattern(3000, seed) {
                    bad.push(format!("fetch {seed}: a wrong body of {} bytes", got.len()));
                }
            }
            Err(Error::InvalidState(_)) => {}
            Err(e) => bad.push(format!("read: {} {e}", status_of(&e))),
        }
    }
    stop.store(true, Ordering::Release);
    bad.extend(releaser.join().unwrap());
    assert!(
        bad.is_empty(),
        "{} problems, first: {:?}",
        bad.len(),
        &bad[..bad.len().min(5)]
    );
    assert!(
        fetched > 10 && releases.load(Ordering::Relaxed) > 10,
        "too little overlap"
    );
    eprintln!("{fetched} fetches, {checked} bodies checked");
    // What is left in the store is whole: a fresh open finds it settled and readable.
    let cfg = m.config().clone();
    m.close();
    let m = Manager::open(cfg).unwrap();
    assert!(m.problems().is_empty(), "{:?}", m.problems());
    if let Some(reg) = m.get("same").unwrap() {
        reg.wait(WAIT).unwrap();
        assert_eq!(body(&reg, 0).len(), 3000);
    }
}

// ----- 12: a read of a missing or truncated complete body -----

#[test]
fn reading_a_missing_complete_body_is_an_io_error_not_an_endless_read() {
    let server = TestServer::start();
    let m = Arc::new(Manager::open(config(&server, "missing-body")).unwrap());
    let reg = fetch_urls(&m, "f", &["/bytes/20000?seed=1", "/bytes/20000?seed=2"]);
    reg.wait(WAIT).unwrap();
    std::fs::remove_file(reg.body_path(0).unwrap()).unwrap();
    let body1 = reg.body_path(1).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&body1)
        .unwrap()
        .set_len(5000)
        .unwrap();
    let r = reg.clone();
    let read = within("a read of a deleted body", move || {
        r.read_body(0, 0, &mut [0u8; 100], None)
    });
    assert!(matches!(read, Err(Error::Io(_))), "{read:?}");
    let r = reg.clone();
    let read = within("a read past a truncated body", move || {
        r.read_body(1, 10_000, &mut [0u8; 100], None)
    });
    assert!(matches!(read, Err(Error::Io(_))), "{read:?}");
    // Inside an event callback too: the event thread is not wedged, close returns.
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    m.set_event_callback(Some(Arc::new(move |_, reg: &Arc<Registration>| {
        let read = reg
            .read_body(0, 0, &mut [0u8; 10], None)
            .map_err(|e| status_of(&e));
        let _ = tx.lock().unwrap().send(read);
    })))
    .unwrap();
    let read = rx
        .recv_timeout(HANG)
        .expect("the event callback's read returned");
    assert_eq!(read, Err("Io"));
    let m2 = m.clone();
    within("close after the event callback", move || m2.close());
}

// ----- close while a callback blocks in a read -----

#[test]
fn a_blocking_read_in_a_running_callback_returns_closed_once_close_begins() {
    let server = TestServer::start();
    let m = Arc::new(Manager::open(config(&server, "close-in-callback")).unwrap());
    // 100 kB at 1 kB/s: the last byte is ~100 s away, so the read below blocks until close.
    let reg = fetch_urls(&m, "slow", &["/bytes/100000?rate=1000&t=cic"]);
    let (entered_tx, entered_rx) = mpsc::channel();
    let (read_tx, read_rx) = mpsc::channel();
    let (entered_tx, read_tx) = (Mutex::new(entered_tx), Mutex::new(read_tx));
    let once = AtomicBool::new(false);
    reg.set_progress_callback(Some(Arc::new(move |r: &Arc<Registration>| {
        if once.swap(true, Ordering::AcqRel) {
            return;
        }
        let _ = entered_tx.lock().unwrap().send(());
        let read = r
            .read_body(0, 99_999, &mut [0u8; 1], None)
            .map_err(|e| status_of(&e));
        let _ = read_tx.lock().unwrap().send(read);
    })))
    .unwrap();
    entered_rx
        .recv_timeout(HANG)
        .expect("the progress callback ran");
    let m2 = m.clone();
    within("close while a callback blocks in a read", move || {
        m2.close()
    });
    let read = read_rx
        .try_recv()
        .expect("close returned only after the callback's read had returned");
    assert_eq!(read, Err("Closed"));
}

// ----- 13: a failure caused by a full disk is stored -----

#[test]
fn a_fetch_failed_by_a_full_disk_is_stored_as_failed_and_not_run_again() {
    let name = "a_fetch_failed_by_a_full_disk_is_stored_as_failed_and_not_run_again";
    let Some(mnt) = mount_tmpfs(name, "1m") else {
        return;
    };
    let server = TestServer::start();
    let cfg = tmpfs_config(&mnt, &server);
    {
        let m = Manager::open(cfg.clone()).unwrap();
        let reg = fetch_urls(&m, "big", &["/bytes/2000000?seed=3"]);
        reg.wait(WAIT).unwrap();
        let s = reg.snapshot();
        assert_eq!(
            (s.result, s.failure_reason),
            (FetchResult::Failure, FailureReason::QuotaExceeded)
        );
        assert!(m.problems().is_empty(), "{:?}", m.problems());
    }
    let dir = fetch_dir_of(cfg.store_dir(), "big");
    let state = std::fs::read(dir.join("state.json")).unwrap();
    let state = bgfetch::fuzzing::parse_state(&state).unwrap();
    assert_eq!(state.result, FetchResult::Failure);
    assert_eq!(state.failure_reason, FailureReason::QuotaExceeded);
    assert!(
        !dir.join("state.tmp").exists(),
        "a temp file was left behind"
    );
    server.reset_stats();
    let m = Manager::open(cfg).unwrap();
    let reg = m.get("big").unwrap().expect("still stored");
    assert_eq!(reg.snapshot().failure_reason, FailureReason::QuotaExceeded);
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    m.set_event_callback(Some(Arc::new(move |kind, _: &Arc<Registration>| {
        let _ = tx.lock().unwrap().send(kind);
    })))
    .unwrap();
    assert_eq!(rx.recv_timeout(HANG), Ok(EventType::Fail));
    m.close();
    assert!(rx.try_recv().is_err(), "a second completion event");
    assert!(server.requests().is_empty(), "the failed fetch ran again");
}

// ----- 14: a FIFO in place of a state file -----

#[test]
fn a_fifo_in_place_of_a_state_file_is_quarantined_and_open_returns() {
    let server = TestServer::start();
    let cfg = config(&server, "fifo");
    {
        let m = Manager::open(cfg.clone()).unwrap();
        fetch_urls(&m, "fifo", &["/bytes/10"]).wait(WAIT).unwrap();
        fetch_urls(&m, "fine", &["/bytes/10"]).wait(WAIT).unwrap();
    }
    let state = fetch_dir_of(cfg.store_dir(), "fifo").join("state.json");
    std::fs::remove_file(&state).unwrap();
    let made = std::process::Command::new("mkfifo").arg(&state).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo");
    let c = cfg.clone();
    let m = within("opening a store with a FIFO state file", move || {
        Manager::open(c).unwrap()
    });
    assert_eq!(m.get_ids().unwrap(), vec!["fine".to_string()]);
    assert_eq!(m.problems().len(), 1, "{:?}", m.problems());
}

// ----- 15: a truncated complete body -----

#[test]
fn a_truncated_complete_body_is_fetched_again_or_failed_at_open() {
    let server = TestServer::start();
    let cfg = config(&server, "truncated");
    {
        let m = Manager::open(cfg.clone()).unwrap();
        // "done" settles; "open" has one complete body and one that never ends.
        fetch_urls(&m, "done", &["/bytes/50000?seed=5"])
            .wait(WAIT)
            .unwrap();
        let open = fetch_urls(
            &m,
            "open",
            &["/bytes/50000?seed=6", "/bytes/100?stall_ms=60000&t=trunc"],
        );
        open.wait_body(0, WAIT).unwrap();
    }
    for id in ["done", "open"] {
        let body = fetch_dir_of(cfg.store_dir(), id).join("0.body");
        let f = std::fs::OpenOptions::new().write(true).open(&body).unwrap();
        f.set_len(20_000).unwrap();
    }
    server.reset_stats();
    let m = Manager::open(cfg).unwrap();
    // Unsettled: resumed with Range from what is there, and byte-exact.
    let open = m.get("open").unwrap().unwrap();
    open.wait_body(0, WAIT).unwrap();
    assert_eq!(body(&open, 0), pattern(50_000, 6));
    let ranged = server
        .requests()
        .iter()
        .any(|r| r.header("range") == Some("bytes=20000-"));
    assert!(ranged, "the truncated body was not resumed");
    // Settled: never served as complete (responseReady and the body wait fail).
    let done = m.get("done").unwrap().unwrap();
    let head = done.response_head(0, WAIT);
    assert!(matches!(head, Err(Error::FetchFailed(_))), "{head:?}");
    let whole = done.wait_body(0, WAIT);
    assert!(matches!(whole, Err(Error::FetchFailed(_))), "{whole:?}");
}

// ----- 10: a body whose bytes all arrived stays readable after an abort -----

#[test]
fn a_body_reported_whole_stays_readable_when_the_fetch_is_aborted_at_once() {
    let server = TestServer::start();
    let mut cfg = config(&server, "abort-whole");
    cfg.set_progress_interval(0);
    let m = Manager::open(cfg).unwrap();
    const LEN: u64 = 200_000;
    for i in 0..10 {
        let id = format!("whole-{i}");
        let reqs = [
            Request::new(&format!("/bytes/{LEN}?seed={i}&rate=4000000")),
            Request::new(&format!("/bytes/10?stall_ms=60000&t=whole{i}")),
        ];
        let reg = m.fetch(&id, &reqs, &FetchOptions::default()).unwrap();
        reg.set_progress_callback(Some(Arc::new(|r: &Arc<Registration>| {
            if r.body_progress(0).0 == LEN {
                let _ = r.abort();
            }
        })))
        .unwrap();
        reg.wait(WAIT).unwrap();
        assert_eq!(reg.snapshot().failure_reason, FailureReason::Aborted);
        // responseReady resolved with every byte: the body is readable.
        if reg.response_head(0, Some(Duration::ZERO)).is_ok() && reg.body_progress(0).0 == LEN {
            let mut got = Vec::new();
            let mut buf = vec![0u8; 65536];
            loop {
                match reg.read_body(0, got.len() as u64, &mut buf, None) {
                    Ok(0) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(e) => panic!("fetch {i}: the whole body then {e:?}"),
                }
            }
            assert!(got == pattern(LEN, i), "fetch {i}: a wrong body");
        }
        reg.release().unwrap();
    }
}

// ----- the completion event comes once the fetch settled and its state is stored -----

#[test]
fn the_completion_event_comes_once_every_record_ended_and_the_state_is_stored() {
    // An abort while a body has all its bytes gives the fetch its result at once, but that
    // body still completes (it waits for the sync thread, held here) before the fetch settles.
    // A progress tick due meanwhile must not deliver the final progress and the completion
    // event early: inside the event the fetch is settled and stored and every record has
    // ended, so a read in it never blocks.
    let server = TestServer::start();
    let mut cfg = config(&server, "event-after-settle");
    cfg.set_progress_interval(200);
    let m = Manager::open(cfg).unwrap();
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    m.set_event_callback(Some(Arc::new(move |_, reg: &Arc<Registration>| {
        let stored = reg.wait(Some(Duration::ZERO)).map_err(|e| status_of(&e));
        let ended: Vec<_> = (0..reg.record_count())
            .map(|i| {
                reg.wait_body(i, Some(Duration::ZERO))
                    .map_err(|e| status_of(&e))
            })
            .collect();
        let _ = tx
            .lock()
            .unwrap()
            .send((reg.id().to_string(), stored, ended));
    })))
    .unwrap();
    const LEN: u64 = 200_000;
    for i in 0..3 {
        let hold = m.hold_sync_for_tests();
        let id = format!("after-settle-{i}");
        let reqs = [
            Request::new(&format!("/bytes/{LEN}?seed={i}&rate=4000000")),
            Request::new(&format!("/bytes/10?stall_ms=60000&t=as{i}")),
        ];
        let reg = m.fetch(&id, &reqs, &FetchOptions::default()).unwrap();
        reg.set_progress_callback(Some(Arc::new(|_: &Arc<Registration>| {})))
            .unwrap();
        let deadline = Instant::now() + HANG;
        while reg.body_progress(0).0 < LEN {
            assert!(Instant::now() < deadline, "body 0 never arrived whole");
            std::thread::yield_now();
        }
        assert!(reg.abort().unwrap());
        // While the body waits for the sync thread, the progress tick comes and goes: no
        // completion event may come (one that does is checked, and fails, below).
        let early = rx.recv_timeout(Duration::from_millis(1000)).ok();
        drop(hold);
        let got = match early {
            Some(got) => got,
            None => rx.recv_timeout(HANG).expect("a completion event"),
        };
        let (got_id, stored, ended) = got;
        assert_eq!(got_id, id);
        assert_eq!(
            stored,
            Ok(()),
            "fetch {i}: the event came before the state was stored"
        );
        for (k, e) in ended.iter().enumerate() {
            assert_ne!(e, &Err("Timeout"), "fetch {i}: record {k} had not ended");
        }
        reg.release().unwrap();
    }
}

// ----- 8: wait returns after the final progress callback -----

#[test]
fn wait_returns_after_the_final_progress_callback() {
    let server = TestServer::start();
    let m = Manager::open(config(&server, "wait-final")).unwrap();
    for i in 0..10 {
        let reg = fetch_urls(&m, &format!("w{i}"), &[&format!("/bytes/30000?seed={i}")]);
        let final_seen = Arc::new(AtomicBool::new(false));
        let f = final_seen.clone();
        reg.set_progress_callback(Some(Arc::new(move |r: &Arc<Registration>| {
            if r.snapshot().result != FetchResult::None {
                f.store(true, Ordering::Release);
            }
        })))
        .unwrap();
        reg.wait(WAIT).unwrap();
        assert!(
            final_seen.load(Ordering::Acquire),
            "fetch {i}: wait returned first"
        );
    }
}

// ----- 1: updateUI once per completion event -----

#[test]
fn update_ui_twice_in_one_completion_event_is_invalid_state() {
    let server = TestServer::start();
    let m = Manager::open(config(&server, "update-ui")).unwrap();
    let results = Arc::new(Mutex::new(Vec::new()));
    let r = results.clone();
    m.set_event_callback(Some(Arc::new(move |_, reg: &Arc<Registration>| {
        let mut r = r.lock().unwrap();
        r.push(reg.update_ui(Some("one"), None).map_err(|e| status_of(&e)));
        r.push(reg.update_ui(Some("two"), None).map_err(|e| status_of(&e)));
    })))
    .unwrap();
    let reg = fetch_urls(&m, "ui", &["/bytes/10"]);
    reg.wait(WAIT).unwrap();
    let deadline = Instant::now() + HANG;
    while results.lock().unwrap().len() < 2 {
        assert!(Instant::now() < deadline, "no completion event");
        std::thread::yield_now();
    }
    assert_eq!(*results.lock().unwrap(), vec![Ok(()), Err("InvalidState")]);
    assert_eq!(reg.title().as_deref(), Some("one"));
    // Clearing the callback returns once it is not running: the event has ended.
    m.set_event_callback(None).unwrap();
    // Outside an event the UI may be updated as often as the host likes.
    reg.update_ui(Some("three"), None).unwrap();
    reg.update_ui(Some("four"), None).unwrap();
}

// ----- 9: no completion event with a half-closed store -----

#[test]
fn a_completion_event_never_sees_a_half_closed_manager() {
    let server = TestServer::start();
    let cfg = config(&server, "half-closed");
    let problems = Arc::new(Mutex::new(Vec::new()));
    for i in 0..10 {
        let m = Manager::open(cfg.clone()).unwrap();
        let p = problems.clone();
        m.set_event_callback(Some(Arc::new(move |_, reg: &Arc<Registration>| {
            if let Err(e) = reg.match_all(None, QueryOptions::default()) {
                p.lock()
                    .unwrap()
                    .push(format!("match_all: {} {e}", status_of(&e)));
            }
            let _ = reg.release();
        })))
        .unwrap();
        let reg = fetch_urls(
            &m,
            &format!("stalled-{i}"),
            &[&format!("/bytes/10?stall_ms=60000&t=hc{i}")],
        );
        reg.abort().unwrap();
        m.close();
    }
    // Events not delivered before close are delivered at the next open.
    let m = Manager::open(cfg).unwrap();
    let p = problems.clone();
    let delivered = Arc::new(AtomicUsize::new(0));
    let d = delivered.clone();
    m.set_event_callback(Some(Arc::new(move |_, reg: &Arc<Registration>| {
        if let Err(e) = reg.match_all(None, QueryOptions::default()) {
            p.lock()
                .unwrap()
                .push(format!("after reopen: {} {e}", status_of(&e)));
        }
        reg.release().unwrap();
        d.fetch_add(1, Ordering::Relaxed);
    })))
    .unwrap();
    let deadline = Instant::now() + HANG;
    while !m.get_ids().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "left: {:?}", m.get_ids());
        std::thread::yield_now();
    }
    assert!(
        problems.lock().unwrap().is_empty(),
        "{:?}",
        problems.lock().unwrap()
    );
}

// ----- supervised threads (issue 13): a dead thread fails the fetches, nothing hangs -----

#[test]
fn a_dead_sync_or_event_thread_fails_the_running_fetches_visibly() {
    let server = TestServer::start();
    for which in ["sync", "events"] {
        let m = Arc::new(Manager::open(config(&server, which)).unwrap());
        let reg = fetch_urls(&m, "f", &[&format!("/bytes/2000000?rate=500000&t={which}")]);
        m.crash_thread_for_tests(which);
        let r = reg.clone();
        let waited = within("wait after a thread died", move || r.wait(WAIT));
        assert!(
            matches!(waited, Err(Error::Internal(_))),
            "{which}: {waited:?}"
        );
        let s = reg.snapshot();
        assert_eq!(
            (s.result, s.failure_reason),
            (FetchResult::Failure, FailureReason::FetchError),
            "{which}"
        );
        let again = m.fetch("g", &[Request::new("/bytes/1")], &FetchOptions::default());
        assert!(
            matches!(again, Err(Error::Internal(_))),
            "{which}: {:?}",
            again.err()
        );
        assert!(!m.problems().is_empty());
        let m2 = m.clone();
        within("close after a thread died", move || m2.close());
    }
}

// ----- the last error is "" after every successful call, getters included (issue 13) -----

#[test]
fn a_successful_getter_clears_the_last_error() {
    use bgfetch::ffi::config::*;
    use bgfetch::ffi::manager::*;
    use bgfetch::ffi::status::*;
    use std::ffi::CStr;
    let last = || unsafe { CStr::from_ptr(bgfetch_last_error()) }.to_owned();
    let mut out = std::ptr::null_mut();
    let st = bgfetch_get(std::ptr::null_mut(), c"x".as_ptr(), &mut out);
    assert_eq!(st, BGFETCH_E_INVALID_ARGUMENT);
    assert!(!last().is_empty());
    // A getter that succeeds ...
    let cfg = bgfetch_config_new(c"unused-store".as_ptr());
    assert!(!cfg.is_null());
    assert!(last().is_empty(), "{:?}", last());
    // ... and a `_free`.
    let _ = bgfetch_get(std::ptr::null_mut(), c"x".as_ptr(), &mut out);
    bgfetch_config_free(cfg);
    assert!(last().is_empty(), "{:?}", last());
    // A getter that fails says why.
    assert_eq!(bgfetch_manager_used_bytes(std::ptr::null()), 0);
    assert!(!last().is_empty());
}
