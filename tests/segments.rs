//! Segmented downloads (issue 21): a large body split into ranges fetched at once over several
//! connections and written in place into its one file; each range resumed on its own after a
//! cut, a pause, a close or kill -9; a file that changed between ranges restarts from zero
//! (never a splice); servers without ranges get one connection; integrity, quota and the
//! download total hold over the whole body.
//!
//! Every test runs under the default configuration but for `max_segments` (and
//! `max_connections_per_fetch` raised to as many segments, as `--split` does) unless it says
//! why. The server's `rate` caps each response (each connection), as throttled servers do.

mod common;
use common::*;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bgfetch::*;

const MIB: u64 = 1 << 20;
/// The bound of a fetch that must end (it ends in a few seconds when it works).
const WAIT: Duration = Duration::from_secs(60);

/// The default configuration with `segments` segments (and as many connections a fetch).
fn config(base: &str, name: &str, segments: u32) -> Config {
    let mut c = Config::new(temp_store(name));
    c.set_base_url(base).unwrap();
    c.set_max_segments(segments).unwrap();
    c.set_max_connections_per_fetch(segments).unwrap();
    c
}

fn fetch_one(m: &Manager, id: &str, url: &str) -> Arc<Registration> {
    m.fetch(id, &[Request::new(url)], &FetchOptions::default())
        .unwrap()
}

/// Waits until the fetch settles, at most [`WAIT`].
fn settle(reg: &Arc<Registration>, what: &str) {
    if let Err(e) = reg.wait(Some(WAIT)) {
        panic!(
            "{what}: the fetch did not settle ({e:?}); {:?}",
            reg.snapshot()
        );
    }
}

/// The fetch succeeded and record 0 is exactly `want`, read through the library and on disk.
fn assert_body(reg: &Arc<Registration>, want: &[u8], what: &str) {
    let s = reg.snapshot();
    assert_eq!(
        (s.result, s.failure_reason),
        (FetchResult::Success, FailureReason::None),
        "{what}: {s:?}"
    );
    assert_eq!(s.downloaded, want.len() as u64, "{what}: downloaded");
    let res = reg.record(0).unwrap().response_ready(None).unwrap();
    assert_same(&res.read_to_end(None).unwrap(), want, what);
    let path = reg.body_path(0).expect("a body file");
    assert_same(&std::fs::read(path).unwrap(), want, what);
}

/// The `Range` headers the server received, in order.
fn ranges_asked(server: &TestServer) -> Vec<(u64, u64)> {
    server
        .requests()
        .iter()
        .filter_map(|r| r.header("range"))
        .map(|v| {
            let (a, b) = v.strip_prefix("bytes=").unwrap().split_once('-').unwrap();
            (a.parse().unwrap(), b.parse().unwrap())
        })
        .collect()
}

/// Records the most `downloaded` any progress call saw.
fn watch_downloaded(reg: &Arc<Registration>) -> Arc<AtomicU64> {
    let most = Arc::new(AtomicU64::new(0));
    let m = most.clone();
    reg.set_progress_callback(Some(Arc::new(move |r: &Arc<Registration>| {
        m.fetch_max(r.snapshot().downloaded, Ordering::SeqCst);
    })))
    .unwrap();
    most
}

#[test]
fn a_large_body_comes_over_several_connections_in_place_byte_exact() {
    let server = TestServer::start();
    let m = Manager::open(config(&server.base(), "seg-basic", 8)).unwrap();
    let len = 16 * MIB;
    let reg = fetch_one(&m, "seg", &format!("/bytes/{len}?rate=4000000"));
    let most = watch_downloaded(&reg);
    settle(&reg, "split");
    assert_body(&reg, &pattern(len, 0), "split");
    assert!(
        most.load(Ordering::SeqCst) <= len,
        "downloaded went past the body"
    );

    let reqs = server.requests();
    let etag = format!("\"{len}-0\"");
    let first = &reqs[0];
    assert!(
        first.header("range").is_none(),
        "the first request is the host's"
    );
    let ranged: Vec<&LoggedRequest> = reqs
        .iter()
        .filter(|r| r.header("range").is_some())
        .collect();
    assert!(
        ranged.len() >= 7,
        "the body was split 8 ways: {:?}",
        ranges_asked(&server)
    );
    // The first response and its 7 other ranges run at once: the 7 range requests came before
    // any range could have ended (the server sends each 2 MiB range at 4 MB/s: half a
    // second), so none of them waited for a connection.
    let range_time = Duration::from_secs_f64((2 * MIB) as f64 / 4e6);
    assert!(
        reqs[7].at.duration_since(reqs[0].at) < range_time,
        "8 transfers at once: the last range was asked for {:?} after the first request",
        reqs[7].at.duration_since(reqs[0].at)
    );
    for r in &ranged {
        assert_eq!(
            r.header("if-range"),
            Some(etag.as_str()),
            "every range is conditional"
        );
        assert_eq!(r.header_values("range").len(), 1, "one Range header");
    }
    // The record's response is the first response: a 200 with the whole length.
    let res = reg.record(0).unwrap().response_ready(None).unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.expected_len(), Some(len));
    assert_eq!(
        res.header("content-length").as_deref(),
        Some(&*len.to_string())
    );
    // Ranges asked for lie inside the body and together cover what the first response did not.
    for &(a, b) in &ranges_asked(&server) {
        assert!(a <= b && b < len, "{a}-{b}");
    }
    // Bytes beyond the body are what was in flight when a connection was dropped at its
    // range's end (the first response runs on past range 0; a range taken over stops early):
    // a few of the server's 64 KiB pieces each, more if the client reads slowly, but less than
    // the smallest range (1 MiB): no range was fetched twice.
    let sent = server.stats().body_bytes_sent;
    assert!(sent < len + MIB, "{sent} bytes sent for {len}");
    m.close();
}

#[test]
fn segments_count_against_the_connection_limits_and_share_the_bandwidth_cap() {
    let server = TestServer::start();
    // 8 segments, but the default 4 connections a fetch: 4 transfers at once, and the other
    // ranges wait for a connection.
    let mut c = Config::new(temp_store("seg-limits"));
    c.set_base_url(&server.base()).unwrap();
    c.set_max_segments(8).unwrap();
    let m = Manager::open(c).unwrap();
    let len = 16 * MIB;
    let reg = fetch_one(&m, "limits", &format!("/bytes/{len}?rate=4000000"));
    settle(&reg, "limits");
    assert_body(&reg, &pattern(len, 0), "limits");
    assert!(
        ranges_asked(&server).len() >= 7,
        "split 8 ways all the same"
    );
    // The first response and 3 ranges start at once; the fifth request waits until one of
    // them ended its 2 MiB (at 4 MB/s from the server: half a second at least).
    let reqs = server.requests();
    let range_time = Duration::from_secs_f64((2 * MIB) as f64 / 4e6);
    assert!(
        reqs[3].at.duration_since(reqs[0].at) < range_time,
        "4 at once"
    );
    assert!(
        reqs[4].at.duration_since(reqs[0].at) >= range_time.mul_f64(0.9),
        "a fifth transfer started {:?} after the first: more than 4 connections",
        reqs[4].at.duration_since(reqs[0].at)
    );
    m.close();

    // The manager's bandwidth cap holds for all segments together: 8 MiB at 4 MiB/s take
    // 2 s (less the cap's 50 ms burst), however many connections carry them.
    server.reset_stats();
    let mut c = config(&server.base(), "seg-cap", 8);
    c.set_max_download_rate(4 * MIB);
    let m = Manager::open(c).unwrap();
    let len = 8 * MIB;
    let t0 = Instant::now();
    let reg = fetch_one(&m, "cap", &format!("/bytes/{len}?seed=2"));
    settle(&reg, "cap");
    let took = t0.elapsed();
    assert_body(&reg, &pattern(len, 2), "cap");
    assert!(ranges_asked(&server).len() >= 7, "split 8 ways");
    assert!(
        took >= Duration::from_millis(1900),
        "8 MiB under a 4 MiB/s cap took {took:?}"
    );
}

#[test]
fn cuts_in_several_segments_at_once_resume_each_range_byte_exact() {
    let server = TestServer::start();
    let proxy = FaultProxy::start(std::net::SocketAddr::from(([127, 0, 0, 1], server.port())));
    let m = Manager::open(config(&proxy.url("/"), "seg-cuts", 8)).unwrap();
    let len = 16 * MIB;
    let reg = fetch_one(&m, "cuts", &format!("/bytes/{len}?rate=4000000"));
    let mut cuts = 0;
    for at in [3 * MIB, 7 * MIB, 11 * MIB] {
        wait_until("progress before a cut", || {
            reg.snapshot().downloaded >= at || reg.snapshot().result != FetchResult::None
        });
        if reg.snapshot().result != FetchResult::None {
            break;
        }
        // Several ranges are on the wire now: every connection is cut at once.
        assert!(
            ranges_asked(&server).len() >= 4,
            "{:?}",
            ranges_asked(&server)
        );
        proxy.cut_connections();
        cuts += 1;
    }
    assert!(cuts >= 2, "the body arrived before the cuts");
    settle(&reg, "cuts");
    assert_body(&reg, &pattern(len, 0), "cuts");
    // Each range resumed from its own stored end: no range was asked for from its start
    // twice, and the bytes sent beyond the body are what was in flight at the cuts.
    let asked = ranges_asked(&server);
    let mut starts: Vec<u64> = asked.iter().map(|r| r.0).collect();
    starts.sort_unstable();
    starts.dedup();
    assert_eq!(
        starts.len(),
        asked.len(),
        "a range asked for twice from one place: {asked:?}"
    );
    let sent = server.stats().body_bytes_sent;
    let in_flight = 8 * 256 * 1024;
    assert!(
        sent <= len + (cuts + 1) * in_flight,
        "{sent} bytes sent for {len} with {cuts} cuts"
    );
}

#[test]
fn a_file_changed_between_segments_restarts_from_zero_never_a_splice() {
    let server = TestServer::start();
    let m = Manager::open(config(&server.base(), "seg-changed", 4)).unwrap();
    let len = 8 * MIB;
    // The first request gets the old file (seed 0); every later one the new (seed 1), whose
    // ETag differs: If-Range fails and the server answers a range with the whole new body.
    let reg = fetch_one(
        &m,
        "changed",
        &format!("/bytes/{len}?change_after=1&rate=8000000"),
    );
    settle(&reg, "changed");
    assert_body(&reg, &pattern(len, 1), "changed");
    let res = reg.record(0).unwrap().response_ready(None).unwrap();
    let new_etag = format!("\"{len}-1\"");
    assert_eq!(res.header("etag").as_deref(), Some(new_etag.as_str()));
    // The body started again as one stream: its last request carries no Range.
    let reqs = server.requests();
    assert!(
        reqs.last().unwrap().header("range").is_none(),
        "restarted from zero"
    );
    let plain = reqs.iter().filter(|r| r.header("range").is_none()).count();
    assert_eq!(
        plain, 2,
        "the first response and one restart; not split again"
    );
}

#[test]
fn servers_without_ranges_get_one_connection_and_work_as_before() {
    let server = TestServer::start();
    let m = Manager::open(config(&server.base(), "seg-plain", 8)).unwrap();
    let len = 8 * MIB;
    let cases = [
        ("no Accept-Ranges", "no_accept_ranges=1"),
        ("chunked, no length", "chunked=1"),
        ("no validator", "etag=none&lm=none"),
        ("close-delimited", "close_delimited=1"),
    ];
    for (n, (what, query)) in cases.iter().enumerate() {
        server.reset_stats();
        let reg = fetch_one(
            &m,
            &format!("plain{n}"),
            &format!("/bytes/{len}?{query}&seed={n}"),
        );
        settle(&reg, what);
        assert_body(&reg, &pattern(len, n as u64), what);
        assert_eq!(server.requests().len(), 1, "{what}: one request");
        assert_eq!(server.stats().body_bytes_sent, len, "{what}");
    }
    // Too small to split (less than 1 MiB a segment).
    server.reset_stats();
    let reg = fetch_one(&m, "small", &format!("/bytes/{}", MIB + MIB / 2));
    settle(&reg, "small");
    assert_body(&reg, &pattern(MIB + MIB / 2, 0), "small");
    assert_eq!(server.requests().len(), 1, "small: one request");
    // The host's own Range: its 206 is the record's response, as it is.
    server.reset_stats();
    let mut ranged = Request::new(&format!("/bytes/{len}"));
    ranged
        .add_header("Range", &format!("bytes=0-{}", 4 * MIB - 1))
        .unwrap();
    let reg = m
        .fetch("hostrange", &[ranged], &FetchOptions::default())
        .unwrap();
    settle(&reg, "host range");
    assert_body(&reg, &pattern(len, 0)[..(4 * MIB) as usize], "host range");
    assert_eq!(server.requests().len(), 1, "host range: one request");
}

#[test]
fn a_server_that_promises_ranges_and_ignores_them_gets_one_connection_after_all() {
    let server = TestServer::start();
    let m = Manager::open(config(&server.base(), "seg-liar", 4)).unwrap();
    let len = 8 * MIB;
    // Accept-Ranges: bytes, but every Range is answered with the whole body (a 200).
    let reg = fetch_one(
        &m,
        "liar",
        &format!("/bytes/{len}?noranges=1&rate=16000000"),
    );
    settle(&reg, "ignored ranges");
    assert_body(&reg, &pattern(len, 0), "ignored ranges");
    let reqs = server.requests();
    assert!(
        reqs.last().unwrap().header("range").is_none(),
        "ended as one stream"
    );
    let plain = reqs.iter().filter(|r| r.header("range").is_none()).count();
    assert_eq!(
        plain, 2,
        "the first response and one restart, not split again"
    );
}

#[test]
fn a_503_to_a_range_keeps_every_stored_byte_and_the_range_is_retried() {
    let server = TestServer::start();
    let m = Manager::open(config(&server.base(), "seg-503", 4)).unwrap();
    let len = 8 * MIB;
    let reg = fetch_one(
        &m,
        "busy",
        &format!("/bytes/{len}?range_status=503&range_fail_times=3&retry_after=0&rate=16000000"),
    );
    settle(&reg, "503");
    assert_body(&reg, &pattern(len, 0), "503");
    let reqs = server.requests();
    let plain = reqs.iter().filter(|r| r.header("range").is_none()).count();
    assert_eq!(plain, 1, "the body never started again");
    let sent = server.stats().body_bytes_sent;
    assert!(
        sent < len + MIB,
        "{sent} bytes sent for {len}: no range fetched twice"
    );
}

#[test]
fn integrity_is_checked_over_the_whole_split_body() {
    let server = TestServer::start();
    let m = Manager::open(config(&server.base(), "seg-sri", 4)).unwrap();
    let len = 8 * MIB;
    let url = format!("/bytes/{len}?rate=16000000");
    let mut good = Request::new(&url);
    good.set_integrity(&sri(&pattern(len, 0))).unwrap();
    let reg = m.fetch("good", &[good], &FetchOptions::default()).unwrap();
    settle(&reg, "integrity match");
    assert_body(&reg, &pattern(len, 0), "integrity match");
    assert!(ranges_asked(&server).len() >= 3, "split");

    server.reset_stats();
    let mut bad = Request::new(&url);
    bad.set_integrity(&sri(b"something else")).unwrap();
    let reg = m.fetch("bad", &[bad], &FetchOptions::default()).unwrap();
    settle(&reg, "integrity mismatch");
    let s = reg.snapshot();
    assert_eq!(
        (s.result, s.failure_reason),
        (FetchResult::Failure, FailureReason::FetchError),
        "{s:?}"
    );
    assert!(ranges_asked(&server).len() >= 3, "split");
    let status = reg.record(0).unwrap().status();
    assert!(
        status
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("integrity"),
        "{status:?}"
    );
    assert!(
        reg.record(0).unwrap().response_ready(None).is_err(),
        "no response shown"
    );
}

#[test]
fn quota_and_download_total_stop_a_split_body_midway() {
    let server = TestServer::start();
    let len = 16 * MIB;
    let url = format!("/bytes/{len}?rate=8000000");

    let mut c = config(&server.base(), "seg-quota", 8);
    c.set_quota(6 * MIB);
    let m = Manager::open(c).unwrap();
    let reg = fetch_one(&m, "quota", &url);
    let most = watch_downloaded(&reg);
    settle(&reg, "quota");
    let s = reg.snapshot();
    assert_eq!(
        (s.result, s.failure_reason),
        (FetchResult::Failure, FailureReason::QuotaExceeded),
        "{s:?}"
    );
    assert!(
        most.load(Ordering::SeqCst) <= 6 * MIB,
        "never past the quota"
    );
    assert!(ranges_asked(&server).len() >= 4, "it was split");
    reg.release().unwrap();
    assert_eq!(m.used_bytes(), 0, "release frees the preallocated file too");
    m.close();

    let m = Manager::open(config(&server.base(), "seg-total", 8)).unwrap();
    let opts = FetchOptions {
        download_total: 5 * MIB,
        ..FetchOptions::default()
    };
    let reg = m.fetch("total", &[Request::new(&url)], &opts).unwrap();
    let most = watch_downloaded(&reg);
    settle(&reg, "download total");
    let s = reg.snapshot();
    assert_eq!(
        (s.result, s.failure_reason),
        (FetchResult::Failure, FailureReason::DownloadTotalExceeded),
        "{s:?}"
    );
    assert!(
        most.load(Ordering::SeqCst) <= 5 * MIB,
        "never past the download total"
    );
    assert!(s.downloaded <= 5 * MIB);
}

#[test]
fn pause_and_close_midway_resume_each_range_from_its_stored_end() {
    let server = TestServer::start();
    let cfg = config(&server.base(), "seg-pause", 8);
    let store = cfg.store_dir().to_path_buf();
    let m = Manager::open(cfg).unwrap();
    let len = 16 * MIB;
    let reg = fetch_one(&m, "pause", &format!("/bytes/{len}?rate=4000000"));
    wait_until("a third of the body", || {
        reg.snapshot().downloaded >= len / 3
    });
    reg.pause().unwrap();
    wait_until("the fetch reads paused", || {
        reg.state() == RecordState::Paused
    });
    let at_pause = reg.snapshot().downloaded;
    assert!(at_pause < len, "paused before the end");
    let before = server.requests().len();
    reg.resume().unwrap();
    wait_until("half of the body", || reg.snapshot().downloaded >= len / 2);
    // Every range asked for after the resume starts where its range's stored part ended:
    // strictly inside a range asked for before (none from its start again).
    let asked = ranges_asked(&server);
    let reqs = server.requests();
    let resumed: Vec<&LoggedRequest> = reqs[before..]
        .iter()
        .filter(|r| r.header("range").is_some())
        .collect();
    assert!(!resumed.is_empty());
    for r in &resumed {
        let v = r.header("range").unwrap();
        let start: u64 = v[6..].split('-').next().unwrap().parse().unwrap();
        assert!(
            !asked[..asked.len() - resumed.len()]
                .iter()
                .any(|a| a.0 == start),
            "{v} starts a range again from its start: {asked:?}"
        );
    }
    assert!(
        reqs[before..].iter().all(|r| r.header("range").is_some()),
        "the body never started again"
    );
    // Paused again and closed midway, then reopened: the map in the store claims every byte
    // stored at the pause (each range's transfer wrote it as it stopped), and the quota counts
    // those bytes, not the preallocated file's length. The count is read once close has
    // stopped every worker: the state says "paused" from the pause on, while a range whose
    // read was under way still stores those bytes as it stops.
    reg.pause().unwrap();
    wait_until("the fetch reads paused", || {
        reg.state() == RecordState::Paused
    });
    m.close();
    let at_close = reg.snapshot().downloaded;
    assert!(at_close < len, "closed before the end");
    let mut c = Config::new(&store);
    c.set_base_url(&server.base()).unwrap();
    c.set_max_segments(8).unwrap();
    c.set_max_connections_per_fetch(8).unwrap();
    let m = Manager::open(c).unwrap();
    let reg = m.get("pause").unwrap().expect("the fetch is still there");
    assert!(reg.paused());
    assert_eq!(
        reg.snapshot().downloaded,
        at_close,
        "every stored byte survived close"
    );
    assert_eq!(m.used_bytes(), at_close, "the quota counts stored bytes");
    reg.resume().unwrap();
    settle(&reg, "pause, close, reopen");
    assert_body(&reg, &pattern(len, 0), "pause, close, reopen");
    let sent = server.stats().body_bytes_sent;
    assert!(
        sent <= len + 3 * 8 * 256 * 1024,
        "{sent} bytes sent for {len}: stored ranges were fetched again"
    );
}

#[test]
fn a_reader_reads_a_split_body_as_its_ranges_arrive() {
    let server = TestServer::start();
    let m = Manager::open(config(&server.base(), "seg-read", 4)).unwrap();
    let len = 8 * MIB;
    let reg = fetch_one(&m, "read", &format!("/bytes/{len}?rate=4000000"));
    let res = reg.record(0).unwrap().response_ready(Some(WAIT)).unwrap();
    let want = pattern(len, 0);
    // The last range's bytes arrive long before the first range's end is read in order.
    let mut buf = vec![0u8; 4096];
    let at = len - 10_000;
    let n = res.read(at, &mut buf, Some(WAIT)).unwrap();
    assert!(n > 0);
    assert_same(
        &buf[..n],
        &want[at as usize..at as usize + n],
        "read at the end",
    );
    // In order, from the start, the whole body.
    let mut got = Vec::with_capacity(len as usize);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = res.read(got.len() as u64, &mut buf, Some(WAIT)).unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    assert_same(&got, &want, "read in order");
    settle(&reg, "read");
}

// ----- kill -9 -----

const CHILD_STORE: &str = "BGFETCH_SEG_CHILD_STORE";
const CHILD_BASE: &str = "BGFETCH_SEG_CHILD_BASE";
const KILL_LEN: u64 = 24 * MIB;
const KILL_URL_QUERY: &str = "rate=2000000";

/// The child: opens the store (8 segments, the default configuration otherwise), registers
/// the fetch unless it exists, waits for it to settle.
#[test]
fn segments_kill_child() {
    let (Ok(store), Ok(base)) = (std::env::var(CHILD_STORE), std::env::var(CHILD_BASE)) else {
        return; // Not a child: nothing to do.
    };
    let mut c = Config::new(store);
    c.set_base_url(&base).unwrap();
    c.set_max_segments(8).unwrap();
    c.set_max_connections_per_fetch(8).unwrap();
    let m = Manager::open(c).unwrap();
    let reg = match m.get("kill").unwrap() {
        Some(reg) => reg,
        None => fetch_one(&m, "kill", &format!("/bytes/{KILL_LEN}?{KILL_URL_QUERY}")),
    };
    reg.wait(Some(WAIT)).unwrap();
    assert_eq!(reg.snapshot().result, FetchResult::Success);
    m.close();
    println!("CHILD DONE");
}

fn launch_child(store: &Path, base: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "segments_kill_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_STORE, store)
        .env(CHILD_BASE, base)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The fetch directory's `heads.log` and `0.part`.
fn fetch_files(store: &Path) -> Option<(PathBuf, PathBuf)> {
    let dir = std::fs::read_dir(store.join("fetches"))
        .ok()?
        .flatten()
        .next()?
        .path();
    Some((dir.join("heads.log"), dir.join("0.body")))
}

/// The last map of record 0 in the head log: its ranges `(start, next, end)`.
fn last_map(store: &Path) -> Option<Vec<(u64, u64, u64)>> {
    let (log, _) = fetch_files(store)?;
    let text = std::fs::read_to_string(log).ok()?;
    let line = text.lines().rfind(|l| l.starts_with("0 {\"segments\":["))?;
    let json: serde_json::Value = serde_json::from_str(&line[2..]).ok()?;
    let ranges = json["segments"].as_array()?;
    Some(
        ranges
            .iter()
            .map(|r| {
                let n = |i: usize| r[i].as_u64().unwrap();
                (n(0), n(1), n(2))
            })
            .collect(),
    )
}

fn mapped(map: &[(u64, u64, u64)]) -> u64 {
    map.iter().map(|r| r.1 - r.0).sum()
}

#[test]
fn kill_9_during_a_segmented_download_resumes_each_range_byte_exact() {
    let server = TestServer::start();
    let store = temp_store("seg-kill");
    let want = pattern(KILL_LEN, 0);
    let mut kills = 0u64;
    // Each run is killed once its map claims 3 MiB more than when it started.
    let mut done = false;
    for _ in 0..5 {
        let start = last_map(&store).map_or(0, |m| mapped(&m));
        let mut child = launch_child(&store, &server.base());
        let target = start + 3 * MIB;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if last_map(&store).is_some_and(|m| mapped(&m) >= target) {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                kills += 1;
                break;
            }
            if child.try_wait().unwrap().is_some() {
                done = true;
                break;
            }
            assert!(Instant::now() < deadline, "the child made no progress");
            std::thread::sleep(Duration::from_millis(1));
        }
        if done {
            break;
        }
        // What the map claims is on disk, byte for byte; the file has the body's length.
        let map = last_map(&store).expect("a map");
        let (_, part) = fetch_files(&store).unwrap();
        let bytes = std::fs::read(&part).unwrap();
        assert_eq!(
            bytes.len() as u64,
            KILL_LEN,
            "the body file keeps the body's length"
        );
        for &(s, n, _) in &map {
            assert_same(
                &bytes[s as usize..n as usize],
                &want[s as usize..n as usize],
                "a range the map claims",
            );
        }
    }
    assert!(kills >= 3, "only {kills} kills landed");
    if !done {
        let mut child = launch_child(&store, &server.base());
        let out = BufReader::new(child.stdout.take().unwrap());
        let lines: Vec<String> = out.lines().map_while(std::result::Result::ok).collect();
        let said_done = lines.iter().any(|l| l.contains("CHILD DONE"));
        assert!(
            child.wait().unwrap().success() && said_done,
            "the last run finished"
        );
    }
    let mut c = Config::new(&store);
    c.set_base_url(&server.base()).unwrap();
    let m = Manager::open(c).unwrap();
    let reg = m.get("kill").unwrap().expect("the fetch");
    assert_body(&reg, &want, "after kill -9");
    // Per kill, at most what no map claimed yet is fetched again: the bytes stored since the
    // last map (less than one checkpoint, 1 MiB) and those in flight on each connection (a
    // few of the server's 64 KiB pieces, the kernel's buffers); plus the answers a take-over
    // cut short.
    let sent = server.stats().body_bytes_sent;
    let per_kill = MIB + 8 * 2 * 64 * 1024;
    eprintln!("kills {kills} sent {sent} extra {}", sent - KILL_LEN);
    assert!(
        sent <= KILL_LEN + kills * per_kill + 16 * 64 * 1024,
        "{sent} bytes sent for {KILL_LEN} with {kills} kills"
    );
}
