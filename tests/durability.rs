//! Durability (issue 4): close, crash and restart survive; resume is byte-exact; retries.
//!
//! One test per rule, against the local test server. Crash states that a `kill -9` can leave
//! are built on disk exactly as the library would leave them (the random `kill -9` loop itself
//! is `tests/crash.rs`). The "two processes" test re-runs this test binary as a child process:
//! `child_process_helper` does nothing unless `BGFETCH_DURABILITY_CHILD` is set.

mod common;
use common::*;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bgfetch::*;

const WAIT: Option<Duration> = Some(Duration::from_secs(30));
/// The `Last-Modified` of every `/bytes/N` response of the test server.
const LAST_MODIFIED: &str = "Wed, 21 Oct 2015 07:28:00 GMT";

/// Compares two bodies without printing megabytes on failure.
#[track_caller]
fn assert_same_body(got: &[u8], want: &[u8], what: &str) {
    if got != want {
        let first = got.iter().zip(want).position(|(a, b)| a != b);
        panic!(
            "{what}: body differs (got {} bytes, want {}; first difference at {first:?})",
            got.len(),
            want.len()
        );
    }
}

/// Polls `cond` every 2 ms until it holds; panics after `timeout`.
#[track_caller]
fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn fetch_dir(store: &Path, id: &str) -> PathBuf {
    fetch_dir_of(store, id)
}

/// Takes back what the head log in `dir` says of record `n`'s body being complete (its done
/// line, or the mark in its head line), as if a crash came just before it was written.
fn forget_complete(dir: &Path, n: usize) {
    let log = dir.join("heads.log");
    let text = std::fs::read_to_string(&log).unwrap();
    let prefix = format!("{n} ");
    let mut forgot = false;
    let kept: String = text
        .lines()
        .filter_map(|line| match line.strip_prefix(&prefix) {
            Some("{\"done\":true}") => {
                forgot = true;
                None
            }
            Some(json) if json.ends_with(",\"done\":true}") => {
                forgot = true;
                Some(format!("{prefix}{}}}", &json[..json.len() - 13]))
            }
            _ => Some(line.to_string()),
        })
        .map(|line| line + "\n")
        .collect();
    assert!(forgot, "record {n} was not complete in {text}");
    std::fs::write(&log, kept).unwrap();
}

/// Every file below `dir`, recursively.
fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                todo.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

fn has_ext(p: &Path, ext: &str) -> bool {
    p.extension().is_some_and(|e| e == ext)
}

/// Bytes of request bodies and responses the registrations of the store really hold on disk.
fn bytes_on_disk(store: &Path) -> u64 {
    files_below(&store.join("fetches"))
        .iter()
        .filter(|p| has_ext(p, "req") || has_ext(p, "part") || has_ext(p, "body"))
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum()
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Rewrites the state file of fetch `id` through `edit`.
fn edit_state(store: &Path, id: &str, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = fetch_dir(store, id).join("state.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
}

/// Collects completion events as "Kind id readable".
fn event_log(m: &Manager) -> Arc<Mutex<Vec<String>>> {
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let l = log.clone();
    m.set_event_callback(Some(Arc::new(move |kind, reg: &Arc<Registration>| {
        let readable = reg.match_all(None, QueryOptions::default()).is_ok();
        l.lock()
            .unwrap()
            .push(format!("{kind:?} {} {readable}", reg.id()));
    })))
    .unwrap();
    log
}

/// Waits until `log` holds `n` events, then a little longer to catch extra ones; sorted.
fn events_after(log: &Arc<Mutex<Vec<String>>>, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    while log.lock().unwrap().len() < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(200));
    let mut v = log.lock().unwrap().clone();
    v.sort();
    v
}

/// Number of the first byte of a `Range: bytes=N-` header.
fn range_start(r: &LoggedRequest) -> Option<u64> {
    r.header("range")?
        .strip_prefix("bytes=")?
        .strip_suffix('-')?
        .parse()
        .ok()
}

// ---------------------------------------------------------------------------------------------
// A switching proxy: the resource behind one URL changes between attempts.
// ---------------------------------------------------------------------------------------------

/// An HTTP proxy in front of the test server that sends the request of its n-th connection
/// to `targets[min(n, last)]` (one request per connection: it adds `Connection: close`), so
/// that what one URL serves can change between two attempts.
struct Switch {
    port: u16,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl Switch {
    fn start(upstream: u16, targets: &[&str]) -> Switch {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let targets: Vec<String> = targets.iter().map(|t| t.to_string()).collect();
        let st = stop.clone();
        let accept = std::thread::spawn(move || {
            for (n, conn) in listener.incoming().enumerate() {
                if st.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = conn else { continue };
                let target = targets[n.min(targets.len() - 1)].clone();
                std::thread::spawn(move || {
                    let _ = relay(client, upstream, &target);
                });
            }
        });
        Switch {
            port,
            stop,
            accept: Some(accept),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Switch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn relay(client: TcpStream, upstream: u16, target: &str) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let method = line.split_whitespace().next().unwrap_or("GET").to_string();
    let mut head = format!("{method} {target} HTTP/1.1\r\n");
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        if !line.to_ascii_lowercase().starts_with("connection:") {
            head.push_str(&line);
        }
    }
    head.push_str("Connection: close\r\n\r\n");
    let mut up = TcpStream::connect(("127.0.0.1", upstream))?;
    up.write_all(head.as_bytes())?;
    let mut to_client = client;
    let copied = std::io::copy(&mut up, &mut to_client);
    let _ = to_client.shutdown(Shutdown::Both);
    copied.map(|_| ())
}

// ---------------------------------------------------------------------------------------------
// A child process (this test binary, re-run) for the two-process test.
// ---------------------------------------------------------------------------------------------

/// `hold`: open the store, print READY, keep it open until stdin closes (or the time runs
/// out). `try`: try to open the store and print OPENED or BUSY.
const CHILD_MODE_ENV: &str = "BGFETCH_DURABILITY_CHILD";
const CHILD_STORE_ENV: &str = "BGFETCH_DURABILITY_STORE";
const CHILD_SECS_ENV: &str = "BGFETCH_DURABILITY_SECS";

#[test]
fn child_process_helper() {
    let (Ok(mode), Ok(store)) = (
        std::env::var(CHILD_MODE_ENV),
        std::env::var(CHILD_STORE_ENV),
    ) else {
        return; // Not a child: nothing to do.
    };
    let secs: u64 = std::env::var(CHILD_SECS_ENV)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let say = |what: &str| {
        let mut out = std::io::stdout().lock();
        writeln!(out, "CHILD {what}").unwrap();
        out.flush().unwrap();
    };
    match (mode.as_str(), Manager::open(Config::new(&store))) {
        ("hold", Ok(m)) => {
            say("READY");
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                let _ = std::io::stdin().read_to_end(&mut Vec::new());
                let _ = tx.send(());
            });
            let _ = rx.recv_timeout(Duration::from_secs(secs));
            m.close();
            say("CLOSED");
        }
        ("try", Ok(_)) => say("OPENED"),
        (_, Err(Error::Busy(_))) => say("BUSY"),
        (mode, Err(e)) => panic!("child {mode}: {e:?}"),
        (mode, Ok(_)) => panic!("unknown child mode {mode}"),
    }
}

/// Re-runs this test binary as `child_process_helper` in `mode` on `store`.
fn spawn_child(mode: &str, store: &Path) -> (Child, mpsc::Receiver<String>) {
    spawn_test_child(
        "child_process_helper",
        false,
        &[
            (CHILD_MODE_ENV, mode.as_ref()),
            (CHILD_STORE_ENV, store.as_os_str()),
            (CHILD_SECS_ENV, "30".as_ref()),
        ],
    )
}

#[track_caller]
fn expect_line(rx: &mpsc::Receiver<String>, want: &str) {
    let got = rx.recv_timeout(Duration::from_secs(20));
    assert_eq!(
        got.as_deref(),
        Ok(want),
        "child said {got:?}, expected {want}"
    );
}

// ---------------------------------------------------------------------------------------------
// The rules.
// ---------------------------------------------------------------------------------------------

#[test]
fn clean_close_and_reopen_resumes_with_range_byte_exact() {
    const LEN: u64 = 2_000_000;
    let server = TestServer::start();
    let cfg = config(&server, "reopen");
    let store = cfg.store_dir().to_path_buf();
    // Every response waits 400 ms before its head: after the reopen, that is the window in
    // which the restored counters can be compared with the disk before the resume adds bytes.
    let url = format!("/bytes/{LEN}?seed=5&rate=4000000&stall_ms=400");
    let m = Manager::open(cfg.clone()).unwrap();
    let reg = fetch_urls(&m, "f", &[&url]);
    wait_until("500000 bytes", Duration::from_secs(20), || {
        reg.body_progress(0).0 >= 500_000
    });
    m.close();
    drop(m);
    // Let the server's thread for the closed connection notice it before counting anew.
    std::thread::sleep(Duration::from_millis(300));
    let kept = reg.snapshot().downloaded;
    assert!((500_000..LEN).contains(&kept), "kept {kept}");
    assert_eq!(reg.body_progress(0), (kept, false));
    let part = fetch_dir(&store, "f").join("0.body");
    assert_eq!(
        std::fs::metadata(&part).unwrap().len(),
        kept,
        "the body file"
    );
    assert_same_body(
        &std::fs::read(&part).unwrap(),
        &pattern(kept, 5),
        "the body file at close",
    );

    // The tail that a power loss would lose: the length of the body file is the truth.
    let truth = kept - 12_345;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&part)
        .unwrap()
        .set_len(truth)
        .unwrap();
    server.reset_stats();

    let m = Manager::open(cfg).unwrap();
    let reg = m.get("f").unwrap().expect("restored");
    assert_eq!(reg.snapshot().downloaded, truth, "downloaded after reopen");
    assert_eq!(reg.body_progress(0), (truth, false));
    assert_eq!(reg.snapshot().result, FetchResult::None);
    reg.wait(WAIT).unwrap();
    let s = reg.snapshot();
    assert_eq!(s.result, FetchResult::Success);
    assert_eq!(s.downloaded, LEN);
    assert_same_body(&body(&reg, 0), &pattern(LEN, 5), "after reopen");
    assert_same_body(
        &std::fs::read(reg.body_path(0).unwrap()).unwrap(),
        &pattern(LEN, 5),
        "the .body file",
    );

    let reqs = server.requests();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    let range = format!("bytes={truth}-");
    assert_eq!(reqs[0].header("range"), Some(range.as_str()));
    assert_eq!(reqs[0].header("if-range"), Some("\"2000000-5\""));
    assert_eq!(server.stats().body_bytes_sent, LEN - truth);
    drop(m); // (`wait` may return while the settled state is being written.)
    let left: Vec<PathBuf> = files_below(&store)
        .into_iter()
        .filter(|p| has_ext(p, "part") || has_ext(p, "tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// A small body (its head's line waits to be written with the whole body, when one read
/// brings it) that arrives in pieces: its head is written before its first bytes, so a
/// close in the middle resumes it with `Range`, as a large body.
#[test]
fn a_small_body_cut_in_the_middle_keeps_its_head_and_resumes() {
    let server = TestServer::start();
    let cfg = config(&server, "small-resume");
    let m = Manager::open(cfg.clone()).unwrap();
    let reg = fetch_urls(
        &m,
        "f",
        &["/bytes/200000?seed=4&stall_at=50000&stall_ms=30000&fail_times=1"],
    );
    wait_until("50000 bytes", Duration::from_secs(20), || {
        reg.body_progress(0).0 == 50_000
    });
    m.close();
    drop(m);
    let log = fetch_dir(cfg.store_dir(), "f").join("heads.log");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.starts_with("0 {\"status\":200"), "{text}");
    assert!(!text.contains("\"done\""), "{text}");
    server.reset_stats();

    let m = Manager::open(cfg).unwrap();
    let reg = m.get("f").unwrap().expect("restored");
    reg.wait(WAIT).unwrap();
    assert_eq!(reg.snapshot().result, FetchResult::Success);
    assert_same_body(&body(&reg, 0), &pattern(200_000, 4), "after reopen");
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert_eq!(reqs[0].header("range"), Some("bytes=50000-"));
    assert_eq!(server.stats().body_bytes_sent, 150_000);
}

/// Starts a 2 MB fetch, closes the manager once 300 000 bytes are stored, and appends `tail`
/// to its head log, as a crash or a bad disk would leave it. Returns the config, the head log
/// and the bytes the body file holds.
fn interrupted_with_head_log_tail(
    server: &TestServer,
    name: &str,
    tail: &str,
) -> (Config, PathBuf, u64) {
    let cfg = config(server, name);
    let m = Manager::open(cfg.clone()).unwrap();
    let reg = fetch_urls(&m, "f", &["/bytes/2000000?seed=6&rate=4000000"]);
    wait_until("300000 bytes", Duration::from_secs(20), || {
        reg.body_progress(0).0 >= 300_000
    });
    m.close();
    drop(m);
    let kept = reg.snapshot().downloaded;
    let log = fetch_dir(cfg.store_dir(), "f").join("heads.log");
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    f.write_all(tail.as_bytes()).unwrap();
    (cfg, log, kept)
}

#[test]
fn a_head_line_a_crash_cut_short_is_cut_off_and_the_whole_head_before_it_resumes() {
    let server = TestServer::start();
    let torn = "0 {\"status\":299,\"url\":\"http://127.0.0.1/x\",\"hea";
    let (cfg, log, kept) = interrupted_with_head_log_tail(&server, "head-torn", torn);
    let whole_len = std::fs::metadata(&log).unwrap().len() - torn.len() as u64;
    server.reset_stats();

    let m = Manager::open(cfg).unwrap();
    assert_eq!(
        std::fs::metadata(&log).unwrap().len(),
        whole_len,
        "the torn line is cut off at open"
    );
    let reg = m.get("f").unwrap().expect("restored");
    reg.wait(WAIT).unwrap();
    assert_eq!(reg.snapshot().result, FetchResult::Success);
    assert_eq!(reg.response_head(0, WAIT).unwrap().status(), 200);
    assert_same_body(&body(&reg, 0), &pattern(2_000_000, 6), "after reopen");
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    let range = format!("bytes={kept}-");
    assert_eq!(reqs[0].header("range"), Some(range.as_str()), "resumed");
    drop(m);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.ends_with('\n'), "{text:?}");
    // Parsed, not searched as text: the log holds the server's URL, whose port may hold "299".
    let statuses: Vec<u64> = text
        .lines()
        .filter_map(|line| {
            let (_, json) = line.split_once(' ').expect("a line is `<n> <json>`");
            let line: serde_json::Value = serde_json::from_str(json).expect("a whole line");
            // A head line has a status; the other lines (done, error, map) have none.
            line.get("status")
                .map(|s| s.as_u64().expect("a numeric status"))
        })
        .collect();
    assert!(!statuses.is_empty());
    assert!(
        !statuses.contains(&299),
        "the torn head is gone: {statuses:?}"
    );
}

#[test]
fn a_garbled_head_line_drops_that_head_and_its_body_starts_again() {
    let server = TestServer::start();
    let (cfg, log, _) =
        interrupted_with_head_log_tail(&server, "head-garbled", "0 {\"status\":2xx}\n");
    server.reset_stats();

    let m = Manager::open(cfg.clone()).unwrap();
    let reg = m.get("f").unwrap().expect("restored");
    reg.wait(WAIT).unwrap();
    assert_eq!(reg.snapshot().result, FetchResult::Success);
    assert_same_body(&body(&reg, 0), &pattern(2_000_000, 6), "after reopen");
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert_eq!(
        reqs[0].header("range"),
        None,
        "a body without its head is not resumed"
    );
    drop(m);
    let text = std::fs::read_to_string(&log).unwrap();
    let last = text.lines().rfind(|l| l.contains("{\"status\":")).unwrap();
    assert!(last.starts_with("0 {\"status\":200"), "{last}");
}

/// A registration of format 2 (0.2, 0.3) in the middle of its fetch: a complete body was
/// `<n>.body`, a partial one `<n>.part`, and the head log said nothing of completion. It is
/// converted at open: the complete body is kept and never fetched again, the partial one
/// resumes with `Range`, and the state is stored as format 3.
#[test]
fn a_format_2_registration_is_converted_at_open_and_resumes() {
    const LEN: u64 = 2_000_000;
    let server = TestServer::start();
    let cfg = config(&server, "format-2");
    let store = cfg.store_dir().to_path_buf();
    let m = Manager::open(cfg.clone()).unwrap();
    // The first answer stalls for 30 s after 400 000 bytes (so that its server thread sends
    // nothing more to the closed connection); the resume is answered at once.
    let slow = format!("/bytes/{LEN}?seed=5&stall_at=400000&stall_ms=30000&fail_times=1");
    let reg = fetch_urls(&m, "f", &["/bytes/50000?seed=1", &slow]);
    wait_until(
        "a complete and a partial body",
        Duration::from_secs(20),
        || reg.body_progress(0).1 && reg.body_progress(1).0 == 400_000,
    );
    m.close();
    drop(m);
    let kept = 400_000;
    // Laid out as format 2 left it.
    let dir = fetch_dir(&store, "f");
    forget_complete(&dir, 0);
    std::fs::rename(dir.join("1.body"), dir.join("1.part")).unwrap();
    edit_state(&store, "f", |v| v["format"] = 2.into());
    server.reset_stats();

    let m = Manager::open(cfg.clone()).unwrap();
    assert!(m.problems().is_empty(), "{:?}", m.problems());
    let reg = m.get("f").unwrap().expect("restored");
    assert_eq!(reg.body_progress(0), (50_000, true), "the complete body");
    reg.wait(WAIT).unwrap();
    assert_eq!(reg.snapshot().result, FetchResult::Success);
    assert_same_body(&body(&reg, 0), &pattern(50_000, 1), "record 0");
    assert_same_body(&body(&reg, 1), &pattern(LEN, 5), "record 1");
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1, "only the partial body's rest: {reqs:?}");
    let range = format!("bytes={kept}-");
    assert_eq!(reqs[0].header("range"), Some(range.as_str()));
    assert_eq!(server.stats().body_bytes_sent, LEN - kept);
    drop(m);
    let state = std::fs::read(dir.join("state.json")).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&state).unwrap();
    assert_eq!(json["format"], 3);
    let left: Vec<PathBuf> = files_below(&store)
        .into_iter()
        .filter(|p| has_ext(p, "part") || has_ext(p, "tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// A store written by 0.1.0 (format 1; `tests/fixtures/store-v1`, made by that version's code:
/// a settled success with a title, an icon and two bodies, and a bad-status fetch with an
/// uploaded body) opens with nothing lost, and is written in the current format (3).
#[test]
fn a_version_1_store_opens_with_nothing_lost_and_is_upgraded() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-v1");
    let store = temp_store("store-v1");
    copy_dir(&fixture, &store);
    let m = Manager::open(Config::new(&store)).unwrap();
    assert!(m.problems().is_empty(), "{:?}", m.problems());
    assert_eq!(m.get_ids().unwrap(), vec!["bad-status", "episode-5"]);

    let ok = m.get("episode-5").unwrap().unwrap();
    let s = ok.snapshot();
    assert_eq!(
        (s.result, s.failure_reason),
        (FetchResult::Success, FailureReason::None)
    );
    assert!(!s.paused);
    assert_eq!(s.downloaded, 3500);
    assert_eq!(ok.title().as_deref(), Some("Episode 5"));
    let icons = ok.icons();
    assert_eq!((icons.len(), icons[0].sizes.as_str()), (1, "300x300"));
    assert_same_body(&body(&ok, 0), &pattern(3000, 1), "record 0");
    assert_same_body(&body(&ok, 1), &pattern(500, 2), "record 1");
    assert_eq!(ok.response_head(1, WAIT).unwrap().status(), 200);

    let bad = m.get("bad-status").unwrap().unwrap();
    let s = bad.snapshot();
    assert_eq!(
        (s.result, s.failure_reason),
        (FetchResult::Failure, FailureReason::BadStatus)
    );
    assert_eq!(s.upload_total, 12);
    assert_eq!(bad.response_head(1, WAIT).unwrap().status(), 404);
    let mut req = vec![0u8; 64];
    let n = bad
        .record(0)
        .unwrap()
        .read_request_body(0, &mut req)
        .unwrap();
    assert_eq!(&req[..n], b"request body");

    // It was converted at open, and a change writes the state again; it still opens.
    ok.update_ui(Some("Episode 5, again"), None).unwrap();
    drop(m);
    let state = std::fs::read(fetch_dir(&store, "episode-5").join("state.json")).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&state).unwrap();
    assert_eq!(json["format"], 3);
    assert_eq!(json["paused"], false);
    let m = Manager::open(Config::new(&store)).unwrap();
    let ok = m.get("episode-5").unwrap().unwrap();
    assert_eq!(ok.title().as_deref(), Some("Episode 5, again"));
    assert_same_body(&body(&ok, 0), &pattern(3000, 1), "after the upgrade");
}

/// A state file of a format newer than this library knows is quarantined, never misread.
#[test]
fn a_state_file_of_a_newer_format_is_quarantined() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-v1");
    let store = temp_store("store-v9");
    copy_dir(&fixture, &store);
    let path = fetch_dir(&store, "episode-5").join("state.json");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replacen("\"format\":1", "\"format\":9", 1)).unwrap();
    let m = Manager::open(Config::new(&store)).unwrap();
    assert_eq!(m.get_ids().unwrap(), vec!["bad-status"]);
    assert_eq!(m.problems().len(), 1, "{:?}", m.problems());
}

/// Copies a directory tree (files and directories only).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// Open descriptors of this process on head logs below `store`.
fn open_head_logs(store: &Path) -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter(|t| t.starts_with(store) && t.ends_with("heads.log"))
        .count()
}

#[test]
fn few_head_logs_stay_open_and_none_once_the_fetches_settle() {
    let server = TestServer::start();
    let mut cfg = config(&server, "head-fds");
    cfg.set_max_connections(48).unwrap();
    let store = std::fs::canonicalize(cfg.store_dir()).unwrap_or(cfg.store_dir().to_path_buf());
    let m = Manager::open(cfg).unwrap();
    // 40 fetches whose bodies stall after their heads: all 40 heads are written while none
    // of the fetches has settled.
    let regs: Vec<_> = (0..40)
        .map(|i| {
            fetch_urls(
                &m,
                &format!("f{i}"),
                &["/bytes/100000?stall_at=10&stall_ms=4000"],
            )
        })
        .collect();
    for r in &regs {
        r.response_head(0, WAIT).unwrap();
    }
    let open = open_head_logs(&store);
    assert!((1..=32).contains(&open), "{open} head logs open");
    for r in &regs {
        r.abort().unwrap();
        r.wait(WAIT).unwrap();
    }
    wait_until("the head logs to close", Duration::from_secs(5), || {
        open_head_logs(&store) == 0
    });
    // The heads are all there for a reopen.
    drop(m);
    for i in 0..40 {
        let log = fetch_dir(&store, &format!("f{i}")).join("heads.log");
        assert_eq!(
            std::fs::read_to_string(&log).unwrap().lines().count(),
            1,
            "f{i}"
        );
    }
}

#[test]
fn a_changed_etag_restarts_the_body_from_zero() {
    // The first attempt is reset after 300000 bytes of version 1; then the URL serves
    // version 2 (other ETag, other content, other length).
    let server = TestServer::start();
    let switch = Switch::start(
        server.port(),
        &[
            "/bytes/1000000?seed=1&etag=v1&rate=3000000&reset_at=300000",
            "/bytes/1200000?seed=2&etag=v2",
        ],
    );
    let mut cfg = config(&server, "etag");
    cfg.set_retries(3, 10).unwrap();
    cfg.set_fail_after_attempts(true);
    let m = Manager::open(cfg).unwrap();
    let reg = fetch_urls(&m, "f", &[&switch.url("/thing")]);
    reg.wait(WAIT).unwrap();
    let s = reg.snapshot();
    assert_eq!(s.result, FetchResult::Success);
    assert_eq!(s.downloaded, 1_200_000);
    assert_same_body(&body(&reg, 0), &pattern(1_200_000, 2), "version 2");
    let head = reg.response_head(0, WAIT).unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.header("etag").as_deref(), Some("\"v2\""));

    let reqs = server.requests();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    let start = range_start(&reqs[1]).expect("the second attempt resumes");
    assert!(start > 0 && start <= 300_000, "{start}");
    assert_eq!(reqs[1].header("if-range"), Some("\"v1\""));
}

#[test]
fn a_weak_etag_resumes_with_last_modified() {
    let server = TestServer::start();
    let mut cfg = config(&server, "weak");
    cfg.set_retries(3, 10).unwrap();
    cfg.set_fail_after_attempts(true);
    let m = Manager::open(cfg).unwrap();
    let reg = fetch_urls(
        &m,
        "f",
        &["/bytes/400000?seed=3&weak=1&rate=2000000&reset_at=150000&fail_times=1"],
    );
    reg.wait(WAIT).unwrap();
    assert_eq!(reg.snapshot().result, FetchResult::Success);
    assert_same_body(&body(&reg, 0), &pattern(400_000, 3), "weak etag");
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    let start = range_start(&reqs[1]).expect("resumed");
    assert!(start > 0 && start <= 150_000, "{start}");
    assert_eq!(reqs[1].header("if-range"), Some(LAST_MODIFIED));
    assert_eq!(server.stats().body_bytes_sent, 150_000 + 400_000 - start);
}

#[test]
fn without_validators_the_body_restarts_without_range() {
    let server = TestServer::start();
    let mut cfg = config(&server, "novalid");
    cfg.set_retries(3, 10).unwrap();
    cfg.set_fail_after_attempts(true);
    let m = Manager::open(cfg).unwrap();
    let reg = fetch_urls(
        &m,
        "f",
        &["/bytes/400000?seed=4&etag=none&lm=none&rate=2000000&reset_at=150000&fail_times=1"],
    );
    reg.wait(WAIT).unwrap();
    assert_eq!(reg.snapshot().result, FetchResult::Success);
    assert_eq!(reg.snapshot().downloaded, 400_000);
    assert_same_body(&body(&reg, 0), &pattern(400_000, 4), "no validators");
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    assert!(reqs.iter().all(|r| r.header("range").is_none()), "{reqs:?}");
    assert!(reqs.iter().all(|r| r.header("if-range").is_none()));
}

#[test]
fn a_server_ignoring_range_restarts_the_body_exactly() {
    let server = TestServer::start();
    let mut cfg = config(&server, "noranges");
    cfg.set_retries(3, 10).unwrap();
    cfg.set_fail_after_attempts(true);
    let m = Manager::open(cfg).unwrap();
    let reg = fetch_urls(
        &m,
        "f",
        &["/bytes/600000?seed=6&noranges=1&rate=2000000&reset_at=200000&fail_times=1"],
    );
    reg.wait(WAIT).unwrap();
    let s = reg.snapshot();
    assert_eq!(s.result, FetchResult::Success);
    assert_eq!(s.downloaded, 600_000);
    assert_same_body(&body(&reg, 0), &pattern(600_000, 6), "noranges");
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    let start = range_start(&reqs[1]).expect("asked to resume");
    assert!(start > 0 && start <= 200_000, "{start}");
    assert_eq!(server.stats().body_bytes_sent, 200_000 + 600_000);
    assert_eq!(reg.response_head(0, WAIT).unwrap().status(), 200);
}

#[test]
fn a_wrong_content_range_is_never_spliced() {
    let server = TestServer::start();
    let mut cfg = config(&server, "badrange");
    cfg.set_retries(3, 10).unwrap();
    cfg.set_fail_after_attempts(true);
    let m = Manager::open(cfg).unwrap();
    let reg = fetch_urls(
        &m,
        "f",
        &["/bytes/600000?seed=7&badrange=1&rate=2000000&reset_at=200000&fail_times=1"],
    );
    reg.wait(WAIT).unwrap();
    let s = reg.snapshot();
    assert_eq!(s.result, FetchResult::Success, "{s:?}");
    assert_eq!(s.downloaded, 600_000);
    assert_same_body(&body(&reg, 0), &pattern(600_000, 7), "badrange");
    let reqs = server.requests();
    // Attempt 1 is reset; attempt 2 resumes and gets a Content-Range that starts one byte
    // late; attempt 3 starts again from zero.
    assert_eq!(reqs.len(), 3, "{reqs:?}");
    assert!(range_start(&reqs[1]).is_some_and(|s| s > 0 && s <= 200_000));
    assert_eq!(reqs[2].header("range"), None);
}

/// The instants at which the server saw each request of `reg`'s fetch, until it settles.
fn request_times(server: &TestServer, reg: &Registration) -> Vec<Instant> {
    let mut seen: Vec<Instant> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        // Settled is read before the count, so the count read last includes every request
        // (the last one can come and settle the fetch between two polls).
        let settled = reg.snapshot().result != FetchResult::None;
        let n = server.stats().requests as usize;
        while seen.len() < n {
            seen.push(Instant::now());
        }
        if settled {
            return seen;
        }
        assert!(Instant::now() < deadline, "the fetch did not settle");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The first backoff of [`backoff_manager`].
const BACKOFF_MS: u64 = 100;

/// A manager with four attempts per request and a first backoff of [`BACKOFF_MS`].
fn backoff_manager(server: &TestServer, name: &str) -> Manager {
    let mut cfg = config(server, name);
    cfg.set_retries(4, BACKOFF_MS as u32).unwrap();
    cfg.set_fail_after_attempts(true);
    Manager::open(cfg).unwrap()
}

#[test]
fn failures_without_progress_back_off_exponentially() {
    let server = TestServer::start();
    let m = backoff_manager(&server, "expbackoff");
    // Three attempts are reset before any byte; the fourth completes.
    let reg = fetch_urls(
        &m,
        "f",
        &["/bytes/3000?seed=8&reset_before_headers=1&fail_times=3"],
    );
    let seen = request_times(&server, reg.as_ref());
    assert_eq!(reg.snapshot().result, FetchResult::Success);
    assert_eq!(seen.len(), 4);
    // Gap k = backoff * 2^(k-1) plus up to half of it as jitter.
    assert_gaps(&seen, |k| Duration::from_millis(BACKOFF_MS << (k - 1)));
}

/// Each gap between two requests is its backoff `base(k)` plus up to half of it as jitter
/// (and some time for the transfer itself).
#[track_caller]
fn assert_gaps(seen: &[Instant], base: impl Fn(usize) -> Duration) {
    for k in 1..seen.len() {
        let gap = seen[k] - seen[k - 1];
        let base = base(k);
        assert!(
            gap + Duration::from_millis(5) >= base,
            "gap {k} is {gap:?}, the backoff is {base:?}"
        );
        assert!(
            gap <= base * 3 / 2 + Duration::from_millis(300),
            "gap {k} is {gap:?}, the backoff is {base:?}"
        );
    }
}

#[test]
fn resets_after_progress_are_retried_at_once_resuming_each_time() {
    let server = TestServer::start();
    // A 10-minute backoff: any backoff after an attempt that brought bytes would show as the
    // fetch not finishing within WAIT (API.md: an attempt that made progress and ended early
    // is followed by the next at once, and is not counted).
    let mut cfg = config(&server, "noback");
    cfg.set_retries(4, 600_000).unwrap();
    cfg.set_fail_after_attempts(true);
    let m = Manager::open(cfg).unwrap();
    // Three attempts are reset after 70000 bytes each; the fourth completes.
    let reg = fetch_urls(
        &m,
        "f",
        &["/bytes/300000?seed=8&rate=3000000&reset_at=70000&fail_times=3"],
    );
    reg.wait(WAIT).unwrap();
    let s = reg.snapshot();
    assert_eq!(s.result, FetchResult::Success);
    assert_same_body(&body(&reg, 0), &pattern(300_000, 8), "after resets");

    let reqs = server.requests();
    assert_eq!(reqs.len(), 4, "attempts: {reqs:?}");
    assert_eq!(reqs[0].header("range"), None);
    let starts: Vec<u64> = reqs[1..].iter().map(|r| range_start(r).unwrap()).collect();
    assert!(
        starts.windows(2).all(|w| w[0] < w[1]) && starts[0] > 0,
        "every attempt resumes where the last stopped: {starts:?}"
    );
    assert!(starts[2] <= 210_000, "{starts:?}");
}

#[test]
fn exhausted_retries_without_progress_are_a_fetch_error_and_progress_resets_the_count() {
    let server = TestServer::start();
    let mut cfg = config(&server, "exhausted");
    cfg.set_retries(3, 10).unwrap();
    cfg.set_fail_after_attempts(true);
    let m = Manager::open(cfg).unwrap();
    let reg = fetch_urls(
        &m,
        "f",
        &[
            "/bytes/10?reset_before_headers=1",
            "/bytes/10000?seed=3&reset_at=1000",
        ],
    );
    reg.wait(WAIT).unwrap();
    let s = reg.snapshot();
    assert_eq!(s.result, FetchResult::Failure);
    assert_eq!(s.failure_reason, FailureReason::FetchError);
    assert!(matches!(reg.wait_body(0, WAIT), Err(Error::FetchFailed(_))));
    // Every attempt of record 1 brought 1000 new bytes: its count never reached 3.
    assert_same_body(&body(&reg, 1), &pattern(10_000, 3), "resumed ten times");
    let reqs = server.requests();
    let count = |p: &str| reqs.iter().filter(|r| r.target.starts_with(p)).count();
    assert_eq!(count("/bytes/10?"), 3, "{reqs:?}");
    assert_eq!(count("/bytes/10000?"), 10, "{reqs:?}");
}

#[test]
fn error_statuses_are_bad_status_at_once_without_retry() {
    let server = TestServer::start();
    let mut cfg = config(&server, "nostatusretry");
    cfg.set_retries(5, 300).unwrap();
    cfg.set_fail_after_attempts(true);
    let m = Manager::open(cfg).unwrap();
    let reg = fetch_urls(
        &m,
        "f",
        &["/status/404", "/status/503", "/bytes/1000?status=500"],
    );
    reg.wait(WAIT).unwrap();
    let s = reg.snapshot();
    assert_eq!(s.result, FetchResult::Failure);
    assert_eq!(s.failure_reason, FailureReason::BadStatus);
    assert_eq!(reg.response_head(0, WAIT).unwrap().status(), 404);
    assert_eq!(reg.response_head(1, WAIT).unwrap().status(), 503);
    assert_eq!(reg.response_head(2, WAIT).unwrap().status(), 500);
    assert_eq!(body(&reg, 1), b"status 503\n");
    // No retry: one request each (the server's own count, not a time limit).
    let reqs = server.requests();
    assert_eq!(reqs.len(), 3, "one request each: {reqs:?}");
}

#[test]
fn a_request_with_a_body_restarts_after_reopen_instead_of_resuming() {
    const LEN: usize = 200_000;
    let server = TestServer::start();
    let cfg = config(&server, "post");
    let m = Manager::open(cfg.clone()).unwrap();
    let mut req = Request::new("/echo?read_rate=400000");
    req.set_method("POST").unwrap();
    let payload: Vec<u8> = (0..LEN).map(|i| (i % 253) as u8).collect();
    req.set_body(&payload);
    m.fetch("p", &[req], &FetchOptions::default()).unwrap();
    // (`uploaded` counts what went into the socket buffers: watch the server instead.)
    wait_until("part of the upload", Duration::from_secs(10), || {
        server.stats().body_bytes_received >= 40_000
    });
    m.close();
    drop(m);
    let first = server.stats().body_bytes_received;
    assert!(first < LEN as u64, "the first upload was not interrupted");

    let m = Manager::open(cfg).unwrap();
    let reg = m.get("p").unwrap().unwrap();
    reg.wait(WAIT).unwrap();
    let s = reg.snapshot();
    assert_eq!(s.result, FetchResult::Success);
    assert_eq!((s.upload_total, s.uploaded), (LEN as u64, LEN as u64));
    let json: serde_json::Value = serde_json::from_slice(&body(&reg, 0)).unwrap();
    let sum: u64 = payload.iter().map(|&b| u64::from(b)).sum();
    assert_eq!(json["method"], "POST");
    assert_eq!(json["length"], LEN as u64);
    assert_eq!(json["sum"], sum as u32);
    // The whole body was sent again, never a range of anything. (The server may also have
    // read the rest of the first upload out of the socket buffers after the close.)
    let reqs = server.requests();
    assert!(!reqs.is_empty() && reqs.len() <= 2, "{reqs:?}");
    for r in &reqs {
        assert_eq!(r.body_len, LEN as u64);
        assert_eq!(r.header("range"), None);
        assert_eq!(r.header("if-range"), None);
    }
    assert!(server.stats().body_bytes_received >= first + LEN as u64);
}

#[test]
fn a_corrupt_state_file_is_quarantined_and_the_others_load() {
    let server = TestServer::start();
    let cfg = config(&server, "quarantine");
    let store = cfg.store_dir().to_path_buf();
    let ids = ["garbage", "truncated", "empty", "future", "bogus", "good"];
    {
        let m = Manager::open(cfg.clone()).unwrap();
        for (i, id) in ids.iter().enumerate() {
            let reg = fetch_urls(&m, id, &[&format!("/bytes/2000?seed={i}")]);
            reg.wait(WAIT).unwrap();
        }
    }
    let state = |id: &str| fetch_dir(&store, id).join("state.json");
    std::fs::write(state("garbage"), b"\x00\x01 this is not json").unwrap();
    let full = std::fs::read(state("truncated")).unwrap();
    std::fs::write(state("truncated"), &full[..full.len() / 2]).unwrap();
    std::fs::write(state("empty"), b"").unwrap();
    edit_state(&store, "future", |v| v["format"] = 999.into());
    edit_state(&store, "bogus", |v| v["result"] = "maybe".into());

    let m = Manager::open(cfg.clone()).unwrap();
    let problems = m.problems();
    assert_eq!(problems.len(), 5, "{problems:#?}");
    assert_eq!(m.get_ids().unwrap(), vec!["good".to_string()]);
    let good = m.get("good").unwrap().unwrap();
    assert_eq!(good.snapshot().result, FetchResult::Success);
    assert_eq!(body(&good, 0), pattern(2000, 5));
    let events = event_log(&m);
    assert_eq!(events_after(&events, 1), vec!["Success good true"]);
    // Moved aside, not deleted: the host (or a human) can still look at them.
    assert_eq!(entries(&store.join("quarantine")).len(), 5);
    assert_eq!(entries(&store.join("fetches")).len(), 1);
    // A quarantined id is free again.
    let again = fetch_urls(&m, "garbage", &["/bytes/10"]);
    again.wait(WAIT).unwrap();
    assert_eq!(again.snapshot().result, FetchResult::Success);
    drop(m);

    // Nothing new to report at the next open.
    let m = Manager::open(cfg).unwrap();
    assert!(m.problems().is_empty(), "{:#?}", m.problems());
    assert_eq!(
        m.get_ids().unwrap(),
        vec!["garbage".to_string(), "good".to_string()]
    );
    assert_eq!(entries(&store.join("quarantine")).len(), 5);
}

#[test]
fn a_registration_a_crash_interrupted_leaves_nothing_behind() {
    // A crash inside `fetch` (before it returned) leaves the fetch directory without a
    // state.json: empty, or with the half-written temp file of the atomic write. The fetch
    // never existed, so it is not a corrupt state file: it is removed at open without a
    // problem report, and no temp file stays in the store.
    let server = TestServer::start();
    let cfg = config(&server, "uncommitted");
    let store = cfg.store_dir().to_path_buf();
    {
        let m = Manager::open(cfg.clone()).unwrap();
        fetch_urls(&m, "real", &["/bytes/100"]).wait(WAIT).unwrap();
    }
    let real = std::fs::read(fetch_dir(&store, "real").join("state.json")).unwrap();
    let half = fetch_dir(&store, "half");
    std::fs::create_dir(&half).unwrap();
    std::fs::write(half.join("state.tmp"), &real[..real.len() / 3]).unwrap();
    std::fs::create_dir(fetch_dir(&store, "bare")).unwrap();

    let m = Manager::open(cfg).unwrap();
    assert_eq!(m.get_ids().unwrap(), vec!["real".to_string()]);
    let tmp: Vec<PathBuf> = files_below(&store)
        .into_iter()
        .filter(|p| has_ext(p, "tmp"))
        .collect();
    assert!(tmp.is_empty(), "temp files left in the store: {tmp:?}");
    assert_eq!(entries(&store.join("fetches")).len(), 1);
    assert!(
        m.problems().is_empty(),
        "an interrupted registration is not a corrupt state file: {:#?}",
        m.problems()
    );
    let half = fetch_urls(&m, "half", &["/bytes/100?seed=1"]);
    half.wait(WAIT).unwrap();
    assert_eq!(body(&half, 0), pattern(100, 1));
}

#[test]
fn two_processes_on_one_store_are_busy() {
    let server = TestServer::start();
    let cfg = config(&server, "busy");
    let store = cfg.store_dir().to_path_buf();

    // Another process holds the store.
    let (mut child, rx) = spawn_child("hold", &store);
    expect_line(&rx, "READY");
    let e = Manager::open(cfg.clone()).err().expect("the store is held");
    assert!(matches!(e, Error::Busy(_)), "{e:?}");
    drop(child.stdin.take()); // The child closes its manager and exits.
    expect_line(&rx, "CLOSED");
    assert!(child.wait().unwrap().success());

    // This process holds it: the other one is refused.
    let m = Manager::open(cfg.clone()).unwrap();
    let (mut child, rx) = spawn_child("try", &store);
    expect_line(&rx, "BUSY");
    assert!(child.wait().unwrap().success());
    // `close` releases the store (as documented), even before the manager is dropped:
    // another process may open it, and so may this one.
    m.close();
    let (mut child, rx) = spawn_child("try", &store);
    expect_line(&rx, "OPENED");
    assert!(child.wait().unwrap().success());
    let again = Manager::open(cfg.clone()).expect("open after close");
    drop(again);
    drop(m);

    // A holder killed with SIGKILL releases the store.
    let (mut child, rx) = spawn_child("hold", &store);
    expect_line(&rx, "READY");
    assert!(matches!(Manager::open(cfg.clone()), Err(Error::Busy(_))));
    child.kill().unwrap();
    child.wait().unwrap();
    let m = Manager::open(cfg).unwrap();
    assert!(m.problems().is_empty());
}

#[test]
fn quota_counts_what_the_store_really_holds_after_reopen() {
    let server = TestServer::start();
    let cfg = config(&server, "quota");
    let store = cfg.store_dir().to_path_buf();
    {
        let m = Manager::open(cfg.clone()).unwrap();
        fetch_urls(&m, "done", &["/bytes/100000"])
            .wait(WAIT)
            .unwrap();
        fetch_urls(&m, "lost", &["/bytes/30000?seed=1"])
            .wait(WAIT)
            .unwrap();
        let mut post = Request::new("/echo");
        post.set_method("POST").unwrap();
        post.set_body(&[7u8; 5000]);
        m.fetch("post", &[post], &FetchOptions::default())
            .unwrap()
            .wait(WAIT)
            .unwrap();
        // Every response of "partial" waits 400 ms before its head (see the reopen test).
        let partial = fetch_urls(&m, "partial", &["/bytes/1000000?rate=2000000&stall_ms=400"]);
        wait_until("part of the body", Duration::from_secs(10), || {
            partial.body_progress(0).0 >= 100_000
        });
        assert_eq!(m.used_bytes(), bytes_on_disk(&store));
    }
    // "lost" becomes unreadable: it is quarantined at the next open and its bytes are no
    // longer any fetch's.
    std::fs::write(fetch_dir(&store, "lost").join("state.json"), b"{").unwrap();
    let live = bytes_on_disk(&store) - 30_000;

    let mut big = cfg.clone();
    big.set_quota(10_000_000);
    let m = Manager::open(big).unwrap();
    assert_eq!(m.problems().len(), 1, "{:#?}", m.problems());
    assert_eq!(bytes_on_disk(&store), live);
    let held: u64 = m
        .get_ids()
        .unwrap()
        .iter()
        .map(|id| {
            let s = m.get(id).unwrap().unwrap().snapshot();
            s.downloaded + s.upload_total
        })
        .sum();
    assert_eq!(held, live, "downloaded + upload_total of the fetches");
    assert_eq!(m.used_bytes(), live, "used_bytes after reopen");
    let partial = m.get("partial").unwrap().unwrap();
    partial.wait(WAIT).unwrap();
    assert_eq!(partial.snapshot().result, FetchResult::Success);
    let full = bytes_on_disk(&store);
    assert_eq!(m.used_bytes(), full);
    drop(m);

    // The quota sees the reopened store: 3000 bytes are left, a 5000-byte response fails.
    let mut tight = cfg.clone();
    tight.set_quota(full + 3000);
    let m = Manager::open(tight).unwrap();
    assert_eq!(m.used_bytes(), full);
    let over = fetch_urls(&m, "over", &["/bytes/5000"]);
    over.wait(WAIT).unwrap();
    assert_eq!(
        over.snapshot().failure_reason,
        FailureReason::QuotaExceeded,
        "used {} of {}",
        m.used_bytes(),
        full + 3000
    );
    over.release().unwrap();
    m.get("done").unwrap().unwrap().release().unwrap();
    assert_eq!(m.used_bytes(), full - 100_000);
    let fits = fetch_urls(&m, "fits", &["/bytes/5000"]);
    fits.wait(WAIT).unwrap();
    assert_eq!(fits.snapshot().result, FetchResult::Success);
    for id in m.get_ids().unwrap() {
        m.get(&id).unwrap().unwrap().release().unwrap();
    }
    assert_eq!(m.used_bytes(), 0);
    assert_eq!(bytes_on_disk(&store), 0);
}

#[test]
fn settled_unreleased_fetches_keep_their_event_across_reopen() {
    let server = TestServer::start();
    let cfg = config(&server, "events");
    {
        // No event callback in this session.
        let m = Manager::open(cfg.clone()).unwrap();
        fetch_urls(&m, "ok", &["/bytes/1000"]).wait(WAIT).unwrap();
        fetch_urls(&m, "bad", &["/status/404"]).wait(WAIT).unwrap();
        let aborted = fetch_urls(&m, "aborted", &["/bytes/10?stall_ms=5000"]);
        aborted.abort().unwrap();
        aborted.wait(WAIT).unwrap();
        let gone = fetch_urls(&m, "gone", &["/bytes/10"]);
        gone.wait(WAIT).unwrap();
        gone.release().unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }

    let m = Manager::open(cfg.clone()).unwrap();
    assert_eq!(m.get_ids().unwrap(), vec!["aborted", "bad", "ok"]);
    let ok = m.get("ok").unwrap().unwrap();
    assert_eq!(ok.snapshot().downloaded, 1000);
    assert_eq!(body(&ok, 0), pattern(1000, 0));
    let aborted = m.get("aborted").unwrap().unwrap().snapshot();
    assert_eq!(aborted.failure_reason, FailureReason::Aborted);
    std::thread::sleep(Duration::from_millis(100));
    let events = event_log(&m);
    assert_eq!(
        events_after(&events, 3),
        vec!["Abort aborted true", "Fail bad true", "Success ok true"]
    );
    // Delivered once in a session, even if the callback is set again.
    let again = event_log(&m);
    std::thread::sleep(Duration::from_millis(200));
    assert!(again.lock().unwrap().is_empty(), "{:?}", again.lock());
    ok.release().unwrap();
    drop(m);

    // Released: no event, not even after a reopen.
    let m = Manager::open(cfg).unwrap();
    assert!(m.get("ok").unwrap().is_none());
    let events = event_log(&m);
    assert_eq!(
        events_after(&events, 2),
        vec!["Abort aborted true", "Fail bad true"]
    );
}

#[test]
fn a_crash_after_the_last_body_settles_at_reopen_without_downloading_again() {
    // The two crash points between "last body complete" and "fetch settled": the last body
    // was whole but the head log did not say so yet; every body was complete but the state
    // was not updated.
    let server = TestServer::start();
    let cfg = config(&server, "settle");
    let store = cfg.store_dir().to_path_buf();
    {
        let m = Manager::open(cfg.clone()).unwrap();
        let a = fetch_urls(&m, "a", &["/bytes/50000?seed=1", "/bytes/60000?seed=2"]);
        let b = fetch_urls(&m, "b", &["/bytes/70000?seed=3"]);
        a.wait(WAIT).unwrap();
        b.wait(WAIT).unwrap();
    }
    let unsettle = |v: &mut serde_json::Value| {
        v["result"] = "".into();
        v["failure_reason"] = "".into();
        v["outcomes"] = serde_json::json!([]);
    };
    edit_state(&store, "a", unsettle);
    edit_state(&store, "b", unsettle);
    forget_complete(&fetch_dir(&store, "a"), 1);
    server.reset_stats();

    let m = Manager::open(cfg.clone()).unwrap();
    assert!(m.problems().is_empty(), "{:#?}", m.problems());
    let a = m.get("a").unwrap().unwrap();
    let b = m.get("b").unwrap().unwrap();
    a.wait(WAIT).unwrap();
    b.wait(WAIT).unwrap();
    assert_eq!(a.snapshot().result, FetchResult::Success);
    assert_eq!(b.snapshot().result, FetchResult::Success);
    assert_eq!(a.snapshot().downloaded, 110_000);
    assert_eq!(body(&a, 0), pattern(50_000, 1));
    assert_eq!(body(&a, 1), pattern(60_000, 2));
    assert_eq!(body(&b, 0), pattern(70_000, 3));
    let events = event_log(&m);
    assert_eq!(
        events_after(&events, 2),
        vec!["Success a true", "Success b true"]
    );
    // At most an empty 416 to confirm the whole body; no body byte again.
    assert_eq!(server.stats().body_bytes_sent, 0);
    assert!(server.requests().len() <= 1, "{:?}", server.requests());
    drop(m);
    let left: Vec<PathBuf> = files_below(&store)
        .into_iter()
        .filter(|p| has_ext(p, "part") || has_ext(p, "tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    // The settlement was stored.
    let m = Manager::open(cfg).unwrap();
    assert_eq!(
        m.get("a").unwrap().unwrap().snapshot().result,
        FetchResult::Success
    );
}

/// A failed record's message is stored with its outcome: after a reopen the host still learns
/// why it failed (0.1 said "the request failed").
#[test]
fn a_failed_records_message_survives_a_reopen() {
    let server = TestServer::start();
    let cfg = config(&server, "fail-message");
    let dead = format!("http://127.0.0.1:{}/x", closed_port());
    let before = {
        let m = Manager::open(cfg.clone()).unwrap();
        let reg = fetch_urls(&m, "f", &["/bytes/10", &dead]);
        reg.wait(WAIT).unwrap();
        match reg.response_head(1, WAIT) {
            Err(Error::FetchFailed(why)) => why,
            other => panic!("{other:?}"),
        }
    };
    assert!(before.contains("network error"), "{before}");
    let m = Manager::open(cfg).unwrap();
    let reg = m.get("f").unwrap().unwrap();
    match reg.response_head(1, WAIT) {
        Err(Error::FetchFailed(why)) => assert_eq!(why, before),
        other => panic!("{other:?}"),
    }
}
