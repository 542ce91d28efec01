//! Bad networks (issue 12), through a real fault-injecting proxy (`tests/common/proxy.rs`):
//! outages and flapping links, the no-progress timeout, offline, pause (across reopen and
//! kill -9), the bandwidth cap, retried statuses, a proxy from the configuration, and waiting
//! requests that hold no worker.

mod common;
use common::*;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bgfetch::*;

/// How long a test waits for a fetch that must complete.
const LONG: Option<Duration> = Some(Duration::from_secs(60));

fn target(server: &TestServer) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], server.port()))
}

/// A configuration whose requests go to `base`, with quick retries (100 ms base, 500 ms cap)
/// and the default rule: a request fails only after 5 attempts AND 10 min without a byte.
fn network_config(base: &str, name: &str) -> Config {
    let mut c = Config::new(temp_store(name));
    c.set_base_url(base).unwrap();
    c.set_retries(5, 100).unwrap();
    c.set_max_backoff(500);
    c.set_timeouts(1000, 2000).unwrap();
    c.set_progress_interval(20);
    c
}

fn assert_success(reg: &Arc<Registration>, len: u64, seed: u64) {
    let s = reg.snapshot();
    assert_eq!(
        (s.result, s.failure_reason),
        (FetchResult::Success, FailureReason::None)
    );
    assert!(
        body(reg, 0) == pattern(len, seed),
        "the body is not byte-exact"
    );
}

#[test]
fn a_ten_second_outage_mid_get_completes_byte_exact_with_little_refetched() {
    const LEN: u64 = 6_000_000;
    let server = TestServer::start();
    let proxy = FaultProxy::start(target(&server));
    proxy.set_rate(2_000_000);
    let m = Manager::open(network_config(&proxy.url("/"), "outage")).unwrap();
    let reg = fetch_urls(&m, "f", &[&format!("/bytes/{LEN}?seed=1")]);
    wait_until("2 MB", || reg.snapshot().downloaded >= 2_000_000);
    proxy.cut_for(Duration::from_secs(10));
    reg.wait(LONG).unwrap();
    assert_success(&reg, LEN, 1);
    let sent = proxy.bytes_to_client();
    assert!(
        sent <= LEN + 2 * 1024 * 1024,
        "{} bytes re-fetched",
        sent - LEN
    );
    let resumed = server
        .requests()
        .iter()
        .filter(|r| r.header("range").is_some())
        .count();
    assert!(resumed >= 1, "never resumed with Range");
}

#[test]
fn twenty_five_short_cuts_complete_because_progress_resets_the_attempts() {
    const LEN: u64 = 5_000_000;
    let server = TestServer::start();
    let proxy = FaultProxy::start(target(&server));
    proxy.set_rate(2_500_000);
    let mut cfg = network_config(&proxy.url("/"), "flapping");
    // Three attempts without progress would fail it: each cut comes after progress.
    cfg.set_retries(3, 20).unwrap();
    cfg.set_fail_after_attempts(true);
    let m = Manager::open(cfg).unwrap();
    let reg = fetch_urls(&m, "f", &[&format!("/bytes/{LEN}?seed=2")]);
    for cut in 0..25u64 {
        let at = (cut + 1) * 150_000;
        wait_until("progress before a cut", || {
            reg.snapshot().downloaded >= at || reg.snapshot().result != FetchResult::None
        });
        proxy.cut_connections();
    }
    reg.wait(LONG).unwrap();
    assert_success(&reg, LEN, 2);
    assert!(proxy.connections_accepted() >= 20, "the cuts did not bite");
}

#[test]
fn a_dead_server_fails_after_the_no_progress_timeout_and_not_before() {
    let base = format!("http://127.0.0.1:{}/", closed_port());
    let mut cfg = network_config(&base, "dead");
    cfg.set_retries(2, 50).unwrap();
    cfg.set_max_backoff(100);
    cfg.set_no_progress_timeout(1500);
    let m = Manager::open(cfg).unwrap();
    let t0 = Instant::now();
    let reg = fetch_urls(&m, "f", &["/bytes/10"]);
    reg.wait(LONG).unwrap();
    let took = t0.elapsed();
    let s = reg.snapshot();
    assert_eq!(
        (s.result, s.failure_reason),
        (FetchResult::Failure, FailureReason::FetchError)
    );
    assert!(
        took >= Duration::from_millis(1500),
        "gave up after {took:?}"
    );
}

#[test]
fn offline_tries_nothing_and_back_online_tries_at_once() {
    let server = TestServer::start();
    let proxy = FaultProxy::start(target(&server));
    let m = Manager::open(network_config(&proxy.url("/"), "offline")).unwrap();
    m.set_offline(true).unwrap();
    assert!(m.offline());
    let reg = fetch_urls(&m, "f", &["/bytes/50000?seed=3"]);
    // An observation window: while offline not one connection is tried.
    assert!(matches!(
        reg.wait(Some(Duration::from_millis(500))),
        Err(Error::Timeout(_))
    ));
    assert_eq!(proxy.connection_attempts(), 0);
    m.set_offline(false).unwrap();
    reg.wait(LONG).unwrap();
    assert_success(&reg, 50_000, 3);
}

#[test]
fn going_offline_mid_get_keeps_the_bytes_and_resumes_with_range() {
    const LEN: u64 = 3_000_000;
    let server = TestServer::start();
    let proxy = FaultProxy::start(target(&server));
    proxy.set_rate(1_000_000);
    let m = Manager::open(network_config(&proxy.url("/"), "offline-mid")).unwrap();
    let reg = fetch_urls(&m, "f", &[&format!("/bytes/{LEN}?seed=4")]);
    wait_until("500 kB", || reg.snapshot().downloaded >= 500_000);
    m.set_offline(true).unwrap();
    let attempts = proxy.connection_attempts();
    let kept = reg.snapshot().downloaded;
    assert!(matches!(
        reg.wait(Some(Duration::from_millis(300))),
        Err(Error::Timeout(_))
    ));
    assert_eq!(
        proxy.connection_attempts(),
        attempts,
        "a connection while offline"
    );
    assert!(reg.snapshot().downloaded >= kept, "bytes were dropped");
    m.set_offline(false).unwrap();
    reg.wait(LONG).unwrap();
    assert_success(&reg, LEN, 4);
    let ranged = server.requests().iter().any(|r| {
        r.header("range")
            .and_then(|v| v.strip_prefix("bytes="))
            .and_then(|v| v.trim_end_matches('-').parse::<u64>().ok())
            .is_some_and(|start| start >= kept)
    });
    assert!(ranged, "did not resume from the kept bytes");
}

#[test]
fn pause_stops_the_transfer_survives_reopen_and_resume_finishes_it() {
    const LEN: u64 = 2_000_000;
    let server = TestServer::start();
    let cfg = network_config(&server.base(), "pause");
    let kept;
    {
        let m = Manager::open(cfg.clone()).unwrap();
        let reg = fetch_urls(&m, "p", &[&format!("/bytes/{LEN}?seed=5&rate=1000000")]);
        let saw_pause = Arc::new(AtomicBool::new(false));
        let s = saw_pause.clone();
        reg.set_progress_callback(Some(Arc::new(move |r: &Arc<Registration>| {
            if r.snapshot().paused {
                s.store(true, Ordering::Release);
            }
        })))
        .unwrap();
        wait_until("100 kB", || reg.snapshot().downloaded >= 100_000);
        reg.pause().unwrap();
        assert!(reg.paused());
        wait_until("the progress callback for the pause", || {
            saw_pause.load(Ordering::Acquire)
        });
        kept = reg.snapshot().downloaded;
        assert!(matches!(
            reg.wait(Some(Duration::from_millis(300))),
            Err(Error::Timeout(_))
        ));
        assert_eq!(
            reg.snapshot().downloaded,
            kept,
            "bytes arrived while paused"
        );
    }
    server.reset_stats();
    let m = Manager::open(cfg).unwrap();
    let reg = m.get("p").unwrap().unwrap();
    still_paused_then_resumed(&server, &reg, LEN, 5);
    let reqs = server.requests();
    assert!(
        reqs[0].header("range").is_some(),
        "resume started from zero"
    );
}

#[test]
fn pause_and_resume_are_invalid_once_settled_and_abort_works_while_paused() {
    let server = TestServer::start();
    let m = Manager::open(network_config(&server.base(), "pause-states")).unwrap();
    let done = fetch_urls(&m, "done", &["/bytes/10"]);
    done.wait(WAIT).unwrap();
    assert!(matches!(done.pause(), Err(Error::InvalidState(_))));
    assert!(matches!(done.resume(), Err(Error::InvalidState(_))));
    let opts = FetchOptions {
        start_paused: true,
        ..Default::default()
    };
    let paused = m
        .fetch("paused", &[Request::new("/bytes/10?t=sp")], &opts)
        .unwrap();
    assert!(paused.paused());
    assert!(paused.abort().unwrap());
    paused.wait(WAIT).unwrap();
    assert_eq!(paused.snapshot().failure_reason, FailureReason::Aborted);
    assert!(
        !server.requests().iter().any(|r| r.target.contains("t=sp")),
        "a fetch started paused made a request"
    );
}

const PAUSE_STORE_ENV: &str = "BGFETCH_TEST_PAUSE_STORE";
const PAUSE_BASE_ENV: &str = "BGFETCH_TEST_PAUSE_BASE";

/// The child of the kill -9 test: pauses a fetch, says so, and waits to be killed.
#[test]
#[ignore = "run by pause_survives_kill_9 as a child process"]
fn pause_child() {
    let (Ok(store), Ok(base)) = (
        std::env::var(PAUSE_STORE_ENV),
        std::env::var(PAUSE_BASE_ENV),
    ) else {
        return;
    };
    let mut cfg = Config::new(store);
    cfg.set_base_url(&base).unwrap();
    let m = Manager::open(cfg).unwrap();
    let reg = fetch_urls(&m, "k", &["/bytes/2000000?seed=6&rate=1000000"]);
    wait_until("100 kB", || reg.snapshot().downloaded >= 100_000);
    reg.pause().unwrap();
    println!("CHILD paused");
    loop {
        std::thread::park();
    }
}

#[test]
fn pause_survives_kill_9() {
    let server = TestServer::start();
    let store = temp_store("pause-kill");
    let (mut child, rx) = spawn_test_child(
        "pause_child",
        true,
        &[
            (PAUSE_STORE_ENV, store.as_os_str()),
            (PAUSE_BASE_ENV, server.base().as_ref()),
        ],
    );
    let said = rx
        .recv_timeout(Duration::from_secs(30))
        .ok()
        .filter(|l| l == "paused");
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();
    assert!(said.is_some(), "the child never paused");
    server.reset_stats();
    let mut cfg = Config::new(&store);
    cfg.set_base_url(&server.base()).unwrap();
    let m = Manager::open(cfg).unwrap();
    let reg = m.get("k").unwrap().expect("the fetch survived");
    still_paused_then_resumed(&server, &reg, 2_000_000, 6);
}

/// A fetch found again after a reopen (the server's stats reset before it) is still paused,
/// makes no request in an observation window, and once resumed completes byte-exact.
fn still_paused_then_resumed(server: &TestServer, reg: &Arc<Registration>, len: u64, seed: u64) {
    assert!(reg.paused(), "the pause did not survive");
    assert!(matches!(
        reg.wait(Some(Duration::from_millis(300))),
        Err(Error::Timeout(_))
    ));
    assert!(
        server.requests().is_empty(),
        "a paused fetch made a request"
    );
    reg.resume().unwrap();
    reg.wait(LONG).unwrap();
    assert_success(reg, len, seed);
}

#[test]
fn the_bandwidth_cap_holds_within_ten_percent_and_changes_live() {
    const LEN: u64 = 2_000_000;
    const RATE: u64 = 400_000;
    let server = TestServer::start();
    let mut cfg = network_config(&server.base(), "rate");
    cfg.set_max_download_rate(RATE);
    let m = Manager::open(cfg).unwrap();
    // Two transfers share the cap: 2 x 1 MB at 400 kB/s in all is 5 s.
    let t0 = Instant::now();
    let reg = fetch_urls(
        &m,
        "f",
        &[
            &format!("/bytes/{}?seed=7", LEN / 2),
            &format!("/bytes/{}?seed=8", LEN / 2),
        ],
    );
    reg.wait(LONG).unwrap();
    let secs = t0.elapsed().as_secs_f64();
    let expected = LEN as f64 / RATE as f64;
    assert!(
        (expected * 0.9..=expected * 1.1).contains(&secs),
        "{LEN} bytes at {RATE} B/s took {secs:.2} s, expected {expected:.2} s"
    );
    // Live: a fetch held to 1 kB/s finishes at once when the cap is lifted.
    m.set_max_download_rate(1000).unwrap();
    let slow = fetch_urls(&m, "g", &["/bytes/500000?seed=9"]);
    wait_until("some bytes", || slow.snapshot().downloaded > 0);
    m.set_max_download_rate(0).unwrap();
    slow.wait(Some(Duration::from_secs(20))).unwrap();
    assert_success(&slow, 500_000, 9);
}

#[test]
fn requests_waiting_for_a_retry_hold_no_worker() {
    let server = TestServer::start();
    let dead = FaultProxy::start(target(&server));
    dead.go_down();
    let mut cfg = network_config(&dead.url("/"), "waiting");
    cfg.set_max_connections(2).unwrap();
    cfg.set_retries(5, 60_000).unwrap();
    cfg.set_max_backoff(60_000);
    let m = Manager::open(cfg).unwrap();
    let urls: Vec<String> = (0..4).map(|i| format!("/bytes/10?w={i}")).collect();
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    let stuck = fetch_urls(&m, "stuck", &urls);
    wait_until("every request tried once", || {
        dead.connection_attempts() >= 4
    });
    // All four now wait a minute for their next attempt; a sleeping worker would block this.
    let req = Request::new(&server.url("/bytes/100000?seed=10"));
    let other = m.fetch("other", &[req], &FetchOptions::default()).unwrap();
    other.wait(Some(Duration::from_secs(20))).unwrap();
    assert_success(&other, 100_000, 10);
    assert_eq!(stuck.snapshot().result, FetchResult::None);
}

#[test]
fn retried_statuses_honour_retry_after_and_are_final_by_default() {
    let server = TestServer::start();
    let url = "/bytes/100?seed=11&status=503&fail_times=2&header=Retry-After:1";
    // Default: the status is the response (bad-status), no retry.
    let m = Manager::open(network_config(&server.base(), "status-final")).unwrap();
    let reg = fetch_urls(&m, "f", &[&format!("{url}&t=final")]);
    reg.wait(WAIT).unwrap();
    assert_eq!(reg.snapshot().failure_reason, FailureReason::BadStatus);
    // Opt-in: 503 twice, each followed by the Retry-After second, then the body.
    let mut cfg = network_config(&server.base(), "status-retry");
    cfg.set_retry_statuses(true);
    let m = Manager::open(cfg).unwrap();
    let t0 = Instant::now();
    let reg = fetch_urls(&m, "f", &[&format!("{url}&t=retry")]);
    reg.wait(LONG).unwrap();
    assert_success(&reg, 100, 11);
    assert!(
        t0.elapsed() >= Duration::from_secs(2),
        "Retry-After was not honoured"
    );
    // When the retries are over, the last response is the record's response.
    let mut cfg = network_config(&server.base(), "status-over");
    cfg.set_retry_statuses(true);
    cfg.set_retries(2, 10).unwrap();
    cfg.set_fail_after_attempts(true);
    let m = Manager::open(cfg).unwrap();
    let reg = fetch_urls(&m, "f", &["/bytes/100?status=502&t=over"]);
    reg.wait(LONG).unwrap();
    assert_eq!(reg.snapshot().failure_reason, FailureReason::BadStatus);
    assert_eq!(reg.response_head(0, WAIT).unwrap().status(), 502);
}

#[test]
fn a_configured_proxy_carries_every_request() {
    let server = TestServer::start();
    let proxy = ConnectProxy::start();
    let mut cfg = network_config(&server.base(), "proxied");
    cfg.set_proxy(&proxy.url()).unwrap();
    let m = Manager::open(cfg).unwrap();
    assert_carried(&m, &server, &proxy, 12);
    // Malformed proxy URLs are refused up front.
    let mut c = Config::new(temp_store("badproxy"));
    for bad in ["not a url", "ftp://127.0.0.1:1", "http://"] {
        assert!(
            matches!(c.set_proxy(bad), Err(Error::InvalidArgument(_))),
            "{bad}"
        );
    }
    c.set_proxy("").unwrap();
}

#[test]
fn a_configured_socks5_proxy_carries_every_request() {
    let server = TestServer::start();
    let proxy = Socks5Proxy::start();
    let mut cfg = network_config(&server.base(), "socks5");
    cfg.set_proxy(&proxy.url()).unwrap();
    let m = Manager::open(cfg).unwrap();
    assert_carried(&m, &server, &proxy, 13);
}

/// A body fetched with `m` arrives byte-exact, through tunnels of `proxy` to `server` only.
fn assert_carried(m: &Manager, server: &TestServer, proxy: &TunnelProxy, seed: u64) {
    let reg = fetch_urls(m, "f", &[&format!("/bytes/70000?seed={seed}")]);
    reg.wait(WAIT).unwrap();
    assert_success(&reg, 70_000, seed);
    assert!(proxy.tunnels() >= 1);
    let want = format!("127.0.0.1:{}", server.port());
    assert!(
        proxy.targets().iter().all(|t| *t == want),
        "{:?}",
        proxy.targets()
    );
}

#[test]
fn a_host_name_is_resolved_its_connections_pooled_and_it_recovers_from_an_outage() {
    let server = TestServer::start();
    let proxy = FaultProxy::start(target(&server));
    // `localhost` goes through the system's resolver (and the library's cache of it); it may
    // name ::1 first, where nothing listens: the connection falls back to 127.0.0.1.
    let base = format!("http://localhost:{}/", proxy.port());
    let m = Manager::open(network_config(&base, "hostname")).unwrap();
    let urls: Vec<String> = (0..40).map(|i| format!("/bytes/2000?seed={i}")).collect();
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    let reg = fetch_urls(&m, "named", &urls);
    reg.wait(LONG).unwrap();
    assert_eq!(reg.snapshot().result, FetchResult::Success);
    for i in 0..40 {
        assert!(body(&reg, i) == pattern(2000, i as u64), "body {i}");
    }
    let opened = proxy.connections_accepted();
    assert!(
        (1..=8).contains(&opened),
        "40 requests to one name took {opened} connections (at most 8 may be open)"
    );
    // An outage: every connection is refused until it ends; then the name still carries the
    // requests.
    proxy.go_down();
    let after = fetch_urls(&m, "after", &["/bytes/3000?seed=77"]);
    wait_until("refused attempts", || {
        proxy.connection_attempts() >= opened + 2
    });
    assert_eq!(after.snapshot().result, FetchResult::None);
    proxy.go_up();
    after.wait(LONG).unwrap();
    assert_success(&after, 3000, 77);
}
