//! Rust tests of uploads, Vary, integrity, updateUI and the dispatch modes.

mod common;
use common::*;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bgfetch::*;

#[test]
fn uploads_are_stored_sent_and_counted() {
    let server = TestServer::start();
    let m = Manager::open(config(&server, "upload")).unwrap();
    // Larger than what the loopback socket buffers can absorb, so the slow reader shows.
    const LEN: u32 = 16 << 20;
    let body: Vec<u8> = (0..LEN).map(|i| (i % 253) as u8).collect();
    let mut put = Request::new("/echo?read_rate=16000000");
    put.set_method("put").unwrap();
    put.add_header("X-Kind", "episode").unwrap();
    put.set_body(&body);
    let reg = m.fetch("up", &[put], &FetchOptions::default()).unwrap();
    assert_eq!(reg.snapshot().upload_total, LEN as u64);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    reg.set_progress_callback(Some(Arc::new(move |r: &Arc<Registration>| {
        s.lock().unwrap().push(r.snapshot().uploaded);
    })))
    .unwrap();
    reg.wait(WAIT).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(reg.snapshot().uploaded, LEN as u64);
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter().any(|&u| u > 0 && u < LEN as u64),
        "uploaded never seen rising: {seen:?}"
    );
    let echo = String::from_utf8(common::body(&reg, 0)).unwrap();
    let sum: u64 = body.iter().map(|&b| b as u64).sum::<u64>() % (1 << 32);
    assert!(echo.contains("\"method\":\"PUT\""), "{echo}");
    assert!(echo.contains(&format!("\"length\":{LEN}")), "{echo}");
    assert!(echo.contains(&format!("\"sum\":{sum}")), "{echo}");
    assert!(echo.contains("\"x-kind\":\"episode\""), "{echo}");
    let req = reg.record(0).unwrap().request();
    assert_eq!(req.method, "PUT");
    assert!(req.body_len > 0);
    // A non-GET record matches only with ignore_method.
    let q = Request::new(&server.url("/echo?read_rate=16000000"));
    assert!(reg
        .match_all(Some(&q), QueryOptions::default())
        .unwrap()
        .is_empty());
    let im = QueryOptions {
        ignore_method: true,
        ..Default::default()
    };
    assert_eq!(indexes(reg.match_all(Some(&q), im)), vec![0]);
}

/// The indexes of the records found.
fn indexes(found: Result<Vec<Record>>) -> Vec<usize> {
    found.unwrap().iter().map(Record::index).collect()
}

#[test]
fn vary_is_honoured_unless_ignored() {
    let server = TestServer::start();
    let m = Manager::open(config(&server, "vary")).unwrap();
    let mut r = Request::new("/echo?vary=Accept-Language");
    r.add_header("Accept-Language", "de").unwrap();
    let reg = m.fetch("v", &[r], &FetchOptions::default()).unwrap();
    reg.wait(WAIT).unwrap();
    let q = |lang: Option<&str>| {
        let mut r = Request::new(&server.url("/echo?vary=Accept-Language"));
        if let Some(l) = lang {
            r.add_header("accept-language", l).unwrap();
        }
        r
    };
    let o = QueryOptions::default();
    assert_eq!(indexes(reg.match_all(Some(&q(Some("de"))), o)), vec![0]);
    assert!(reg.match_all(Some(&q(Some("fr"))), o).unwrap().is_empty());
    assert!(reg.match_all(Some(&q(None)), o).unwrap().is_empty());
    let iv = QueryOptions {
        ignore_vary: true,
        ..o
    };
    assert_eq!(indexes(reg.match_all(Some(&q(Some("fr"))), iv)), vec![0]);
}

#[test]
fn integrity_match_and_mismatch() {
    let server = TestServer::start();
    let m = Manager::open(config(&server, "sri")).unwrap();
    let mut good = Request::new("/bytes/100000?seed=4");
    good.set_integrity(&sri(&pattern(100_000, 4))).unwrap();
    let mut bad = Request::new("/bytes/100000?seed=5");
    bad.set_integrity(&sri(&pattern(100_000, 4))).unwrap();
    let reg = m
        .fetch("s", &[good, bad], &FetchOptions::default())
        .unwrap();
    reg.wait(WAIT).unwrap();
    let s = reg.snapshot();
    assert_eq!(s.failure_reason, FailureReason::FetchError);
    assert_eq!(body(&reg, 0), pattern(100_000, 4));
    assert!(matches!(
        reg.response_head(1, WAIT),
        Err(Error::FetchFailed(_))
    ));
    // No body of the mismatching response is kept in the store.
    let dir = fetch_dir_of(m.config().store_dir(), "s");
    assert!(dir.join("0.body").exists());
    assert!(!dir.join("1.body").exists() && !dir.join("1.part").exists());
}

#[test]
fn update_ui_replaces_title_and_icons_durably() {
    let server = TestServer::start();
    let cfg = config(&server, "ui");
    let m = Manager::open(cfg.clone()).unwrap();
    let opts = FetchOptions {
        title: Some("Episode 5".into()),
        icons: vec![Icon {
            src: "/ep-5-icon.png".into(),
            sizes: "300x300".into(),
            type_: "image/png".into(),
            label: String::new(),
        }],
        download_total: 0,
        ..Default::default()
    };
    let reg = m.fetch("ui", &[Request::new("/bytes/1")], &opts).unwrap();
    assert_eq!(reg.title().as_deref(), Some("Episode 5"));
    let icon = Icon {
        src: "/new.png".into(),
        ..Default::default()
    };
    reg.update_ui(Some("Episode 5 (done)"), Some(std::slice::from_ref(&icon)))
        .unwrap();
    reg.wait(WAIT).unwrap();
    drop(m);
    let m = Manager::open(cfg).unwrap();
    let reg = m.get("ui").unwrap().unwrap();
    assert_eq!(reg.title().as_deref(), Some("Episode 5 (done)"));
    assert_eq!(reg.icons(), vec![icon]);
}

#[test]
fn manual_dispatch_runs_callbacks_only_inside_dispatch() {
    let server = TestServer::start();
    let mut cfg = config(&server, "manual");
    cfg.set_dispatch(DispatchMode::Manual);
    let m = Manager::open(cfg).unwrap();
    let fd = m.event_fd().expect("an event fd in manual mode");
    let calls: Arc<Mutex<Vec<(String, std::thread::ThreadId)>>> = Arc::default();
    let c = calls.clone();
    m.set_event_callback(Some(Arc::new(move |k, _r: &Arc<Registration>| {
        c.lock()
            .unwrap()
            .push((format!("{k:?}"), std::thread::current().id()));
    })))
    .unwrap();
    let reg = m
        .fetch(
            "m",
            &[Request::new("/bytes/1000")],
            &FetchOptions::default(),
        )
        .unwrap();
    let c = calls.clone();
    reg.set_progress_callback(Some(Arc::new(move |_r: &Arc<Registration>| {
        c.lock()
            .unwrap()
            .push(("progress".into(), std::thread::current().id()));
    })))
    .unwrap();
    reg.wait(WAIT).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        calls.lock().unwrap().is_empty(),
        "a callback ran outside dispatch"
    );
    assert!(
        fd_readable(fd),
        "the event fd is not readable with callbacks pending"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while !calls.lock().unwrap().iter().any(|c| c.0 == "Success") {
        m.dispatch(Some(Duration::from_millis(100))).unwrap();
        assert!(Instant::now() < deadline);
    }
    assert!(
        !fd_readable(fd),
        "the event fd stays readable after dispatch"
    );
    let me = std::thread::current().id();
    assert!(calls.lock().unwrap().iter().all(|c| c.1 == me));
    assert_eq!(m.dispatch(Some(Duration::ZERO)).unwrap(), 0);
}

fn fd_readable(fd: std::os::fd::RawFd) -> bool {
    pipe_unread(fd) > 0
}

fn pipe_unread(fd: std::os::fd::RawFd) -> usize {
    // FIONREAD through libc: test code may use it.
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int; `fd` is the manager's live pipe.
    let r = unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) };
    assert_eq!(r, 0);
    n as usize
}

#[test]
fn thread_mode_has_no_event_fd_and_refuses_dispatch() {
    let server = TestServer::start();
    let m = Manager::open(config(&server, "thread")).unwrap();
    assert!(m.event_fd().is_none());
    assert!(matches!(
        m.dispatch(Some(Duration::ZERO)),
        Err(Error::InvalidState(_))
    ));
}
