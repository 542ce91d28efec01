//! The crash test of issue 4: a child process downloads several large slow bodies and is
//! killed with SIGKILL at many different moments in a row; each time it is relaunched, opens
//! the store and carries on. In the end every body must be byte-exact, nothing temporary may
//! be left in the store, and the server must have sent well under 1.5 times the payload
//! (the downloads resumed instead of starting again).
//!
//! The child is this test binary, re-run: `crash_child` does nothing unless
//! `BGFETCH_CRASH_STORE` is set.

mod common;
use common::*;

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bgfetch::*;

const ID: &str = "crash";
const BODIES: u64 = 4;
const BODY_LEN: u64 = 4 << 20;
/// Per response; with one connection at a time a full run takes 4 x 4 MiB / 2.8 MB/s = 6 s.
const RATE: u64 = 2_800_000;
const STORE_ENV: &str = "BGFETCH_CRASH_STORE";
const BASE_ENV: &str = "BGFETCH_CRASH_BASE";

fn urls() -> Vec<String> {
    (0..BODIES)
        .map(|i| format!("/bytes/{BODY_LEN}?seed={i}&rate={RATE}"))
        .collect()
}

fn say(what: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "CHILD {what}");
    let _ = out.flush();
}

/// The child: opens the store, registers the fetch unless it exists, waits for it to settle.
#[test]
fn crash_child() {
    let (Ok(store), Ok(base)) = (std::env::var(STORE_ENV), std::env::var(BASE_ENV)) else {
        return; // Not a child: nothing to do.
    };
    let mut cfg = Config::new(store);
    cfg.set_base_url(&base).unwrap();
    cfg.set_max_connections_per_fetch(1).unwrap();
    cfg.set_retries(5, 20).unwrap();
    cfg.set_fail_after_attempts(true);
    let m = Manager::open(cfg).expect("open the store");
    say("OPENED");
    let reg = match m.get(ID).unwrap() {
        Some(reg) => reg,
        None => {
            let reqs: Vec<Request> = urls().iter().map(|u| Request::new(u)).collect();
            m.fetch(ID, &reqs, &FetchOptions::default()).unwrap()
        }
    };
    say("READY");
    reg.wait(Some(Duration::from_secs(60))).unwrap();
    let s = reg.snapshot();
    assert_eq!(s.result, FetchResult::Success, "{s:?}");
    m.close();
    say("DONE");
}

/// Where the parent kills the child.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kill {
    /// As soon as the store is open: inside `fetch` (registration) the first time, inside
    /// recovery and the first requests later.
    Opened,
    /// A random 0-40 ms after the launch: process start, `Manager::open`.
    Startup,
    /// A random 0-5 ms after the child is ready: resumed requests.
    Ready,
    /// A random 30-400 ms after the child is ready: in the middle of a body.
    MidBody,
    /// As soon as another body is complete (the head log says so).
    BodyDone,
    /// As soon as the response head of the next request is stored (as `Ready` when the
    /// current request already has its head).
    HeadWrite,
    /// As soon as the last body is complete: around the final state write.
    Settle,
}

use Kill::*;

/// 25 kills; the progress they allow adds up to about one full run.
const SCHEDULE: [Kill; 25] = [
    Opened, Startup, MidBody, Ready, MidBody, BodyDone, HeadWrite, MidBody, Startup, MidBody,
    Opened, MidBody, BodyDone, HeadWrite, Ready, MidBody, Startup, MidBody, BodyDone, HeadWrite,
    MidBody, Ready, MidBody, Opened, Settle,
];

/// A small deterministic PRNG (xorshift64*), so that every run uses the same delays.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

fn temp_store() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "crash-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
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
            match e.file_type() {
                Ok(ft) if ft.is_dir() => todo.push(e.path()),
                Ok(_) => out.push(e.path()),
                Err(_) => {}
            }
        }
    }
    out.sort();
    out
}

fn has_ext(p: &Path, ext: &str) -> bool {
    p.extension().is_some_and(|e| e == ext)
}

/// The record index of `<n>.<ext>`.
fn record_of(p: &Path) -> u64 {
    let stem = p.file_stem().unwrap().to_string_lossy();
    stem.parse()
        .unwrap_or_else(|_| panic!("unexpected file {}", p.display()))
}

/// What the head logs (`heads.log`) say, from their complete lines: how many response heads
/// are stored, and which records' bodies are complete (a done line, or a head line that says
/// so, after the record's last head line).
struct Logged {
    heads: usize,
    complete: std::collections::BTreeSet<u64>,
}

fn logged(store: &Path) -> Logged {
    let mut out = Logged {
        heads: 0,
        complete: Default::default(),
    };
    for p in files_below(&store.join("fetches")) {
        if p.file_name().is_none_or(|n| n != "heads.log") {
            continue;
        }
        let bytes = std::fs::read(&p).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        let whole = text.rfind('\n').map_or("", |end| &text[..end]);
        for line in whole.lines() {
            let Some((n, json)) = line.split_once(' ') else {
                continue;
            };
            let Ok(n) = n.parse::<u64>() else { continue };
            if json.starts_with("{\"status\":") {
                out.heads += 1;
                if json.ends_with(",\"done\":true}") {
                    out.complete.insert(n);
                } else {
                    out.complete.remove(&n);
                }
            } else if json == "{\"done\":true}" {
                out.complete.insert(n);
            }
        }
    }
    out
}

/// The number of response heads stored.
fn count_heads(store: &Path) -> usize {
    logged(store).heads
}

/// The number of complete bodies.
fn count_complete(store: &Path) -> usize {
    logged(store).complete.len()
}

/// Checks, with no process running, that every stored byte is right: each `.body` is a
/// prefix of its body, and the whole body if the head log says it is complete; no `.part` (a
/// file of the older format) is ever written. Returns the bytes kept.
fn check_store(store: &Path, bodies: &[Vec<u8>], when: &str) -> u64 {
    let mut kept = 0;
    let complete = logged(store).complete;
    for p in files_below(&store.join("fetches")) {
        assert!(!has_ext(&p, "part"), "{when}: {} was written", p.display());
        let body = has_ext(&p, "body");
        if !body {
            continue;
        }
        let i = record_of(&p) as usize;
        let body = complete.contains(&(i as u64));
        let bytes = std::fs::read(&p).unwrap();
        let want = &bodies[i];
        assert!(
            bytes.len() <= want.len(),
            "{when}: {} too long",
            p.display()
        );
        if body {
            assert_eq!(bytes.len(), want.len(), "{when}: {} short", p.display());
        }
        if bytes[..] != want[..bytes.len()] {
            let at = bytes.iter().zip(want).position(|(a, b)| a != b);
            panic!("{when}: {} differs at {at:?}", p.display());
        }
        kept += bytes.len() as u64;
    }
    kept
}

/// What the store holds of the registration: none, a half-created one, or a stored one.
fn registration_state(store: &Path) -> &'static str {
    let dirs: Vec<PathBuf> = std::fs::read_dir(store.join("fetches"))
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    match dirs.as_slice() {
        [] => "not registered",
        [d] if d.join("state.json").exists() => "registered",
        [_] => "registration half-created",
        _ => panic!("more than one fetch directory: {dirs:?}"),
    }
}

struct Launched {
    child: Child,
    lines: mpsc::Receiver<String>,
    started: Instant,
}

fn launch(store: &Path, server: &TestServer) -> Launched {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(STORE_ENV, store)
        .env(BASE_ENV, server.base())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let out = child.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out)
            .lines()
            .map_while(std::result::Result::ok)
        {
            // libtest may print "test crash_child ... " on the same line.
            if let Some(at) = line.find("CHILD ") {
                let _ = tx.send(line[at + 6..].to_string());
            }
        }
    });
    Launched {
        child,
        lines,
        started,
    }
}

impl Launched {
    /// Waits for the child to say `what`; false if it ended (or 20 s passed) first.
    fn wait_for(&self, what: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l == what => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
    }
}

impl Launched {
    /// Polls until `cond` holds (true), or the child ends or 20 s pass (false).
    fn poll(&mut self, mut cond: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if cond() {
                return true;
            }
            if self.child.try_wait().unwrap().is_some() {
                return false;
            }
            std::thread::sleep(Duration::from_micros(500));
        }
        false
    }

    fn sleep_after_ready(&self, ms: u64) {
        if self.wait_for("READY") {
            std::thread::sleep(Duration::from_millis(ms));
        }
    }
}

#[test]
fn sigkill_at_random_moments_then_every_body_is_byte_exact() {
    let t0 = Instant::now();
    let server = TestServer::start();
    let store = temp_store();
    let bodies: Vec<Vec<u8>> = (0..BODIES).map(|i| pattern(BODY_LEN, i)).collect();
    let payload = BODIES * BODY_LEN;
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut kept_before = 0u64;
    let mut log = Vec::new();

    let mut killed = 0;
    for (n, kind) in SCHEDULE.iter().enumerate() {
        let bodies_before = count_complete(&store);
        let heads_before = count_heads(&store);
        let all = BODIES as usize;
        let mut c = launch(&store, &server);
        match kind {
            Opened => {
                c.wait_for("OPENED");
            }
            Startup => {
                let d = Duration::from_millis(rng.below(41));
                std::thread::sleep(d.saturating_sub(c.started.elapsed()));
            }
            Ready => c.sleep_after_ready(rng.below(6)),
            MidBody => c.sleep_after_ready(30 + rng.below(371)),
            BodyDone if bodies_before < all => {
                assert!(
                    c.poll(|| count_complete(&store) > bodies_before),
                    "kill {n}: no body completed"
                );
            }
            HeadWrite if heads_before == bodies_before && heads_before < all => {
                assert!(
                    c.poll(|| count_heads(&store) > heads_before),
                    "kill {n}: no response began"
                );
            }
            Settle if bodies_before < all => {
                assert!(
                    c.poll(|| count_complete(&store) == all),
                    "kill {n}: the last body did not complete"
                );
            }
            BodyDone | HeadWrite | Settle => c.sleep_after_ready(rng.below(6)),
        }
        let at = c.started.elapsed();
        let _ = c.child.kill(); // SIGKILL
        let status = c.child.wait().unwrap();
        let how = match status.signal() {
            Some(libc::SIGKILL) => {
                killed += 1;
                "killed"
            }
            _ if status.success() => "ended by itself",
            _ => panic!("kill {n} ({kind:?}): the child failed: {status:?}"),
        };
        let registration = registration_state(&store);
        let when = format!("after kill {n} ({kind:?} at {at:?}, {registration})");
        let kept = check_store(&store, &bodies, &when);
        // Nothing is ever downloaded again: the bytes kept only grow.
        assert!(
            kept >= kept_before,
            "{when}: the store went from {kept_before} to {kept} bytes"
        );
        kept_before = kept;
        log.push(format!(
            "{n:2} {kind:?} at {at:?}: {how}, {registration}, {kept} bytes kept"
        ));
    }
    assert!(killed >= 20, "only {killed} kills:\n{}", log.join("\n"));

    // The last run goes to the end.
    let mut c = launch(&store, &server);
    let deadline = Instant::now() + Duration::from_secs(40);
    let status = loop {
        if let Some(s) = c.child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = c.child.kill();
            panic!("the last run did not finish; kills:\n{}", log.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(status.success(), "the last run failed: {status:?}");
    assert!(c.wait_for("DONE"));

    let m = Manager::open(Config::new(&store)).unwrap();
    assert!(m.problems().is_empty(), "{:#?}", m.problems());
    let reg = m.get(ID).unwrap().expect("the fetch survived");
    let s = reg.snapshot();
    assert_eq!(s.result, FetchResult::Success);
    assert_eq!(s.downloaded, payload);
    for (i, want) in bodies.iter().enumerate() {
        let got = std::fs::read(reg.body_path(i).unwrap()).unwrap();
        if got != *want {
            let at = got.iter().zip(want).position(|(a, b)| a != b);
            panic!("body {i}: {} bytes, first difference at {at:?}", got.len());
        }
    }
    assert_eq!(m.used_bytes(), payload);
    drop(m);
    // Nothing temporary is left. A crash inside the very first `fetch` may have left a
    // directory that never became a registration; it must not hold anything either.
    let left: Vec<PathBuf> = files_below(&store)
        .into_iter()
        .filter(|p| has_ext(p, "part") || has_ext(p, "tmp"))
        .collect();
    assert!(left.is_empty(), "left in the store: {left:?}");
    let quarantined = files_below(&store.join("quarantine"));
    assert!(quarantined.is_empty(), "quarantined: {quarantined:?}");

    let sent = server.stats().body_bytes_sent;
    let resumed = server
        .requests()
        .iter()
        .filter(|r| r.header("range").is_some())
        .count();
    eprintln!(
        "crash test: {} kills in {:?}, {sent} body bytes sent for {payload}, {resumed} resumed \
         requests\n{}",
        SCHEDULE.len(),
        t0.elapsed(),
        log.join("\n")
    );
    assert!(
        sent * 2 < payload * 3,
        "the server sent {sent} bytes for a payload of {payload}"
    );
    assert!(resumed >= 10, "only {resumed} requests resumed");
}
