//! The command-line tool `examples-c/bgfetch.c`, built like the C tests (`cc -std=c11 -Wall
//! -Wextra -Werror -pedantic` against `libbgfetch.a`) and run against a local test server:
//! `--version`, `--limit-rate`, `--proxy`, `--cacert`, `--progress`, `pause ID` / `unpause ID`
//! across runs, the line for a body resuming at byte N, the percentage of Content-Length, a
//! failed record's message, also after a reopen, and what a refused fetch waits for (the
//! progress line's "waiting to retry in", `status`).

mod common;
use common::ffi_runner::{self, manifest_dir, Variant};
use common::*;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The CLI, compiled once per test binary.
fn cli() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let src = manifest_dir().join("examples-c").join("bgfetch.c");
        ffi_runner::compile_file(&src, "bgfetch", &Variant::plain("cli"))
            .unwrap_or_else(|e| panic!("{e}"))
    })
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs the CLI on `store` with `args` (60 s at most).
fn run(store: &Path, args: &[&str]) -> Out {
    let mut cmd = Command::new(cli());
    cmd.arg("-s").arg(store).args(args);
    // No proxy from the environment of whoever runs the tests.
    for v in [
        "ALL_PROXY",
        "HTTPS_PROXY",
        "HTTP_PROXY",
        "all_proxy",
        "https_proxy",
        "http_proxy",
    ] {
        cmd.env_remove(v);
    }
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", cli().display()));
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn version_prints_the_library_and_header_versions() {
    let store = temp_store("cli-version");
    let out = run(&store, &["--version"]);
    let v = env!("CARGO_PKG_VERSION");
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(
        out.stdout,
        format!("bgfetch (libbgfetch {v}, bgfetch.h {v})\n"),
        "{out}"
    );
    assert!(
        !store.exists(),
        "--version opened the store ({})",
        store.display()
    );
}

#[test]
fn limit_rate_caps_the_fetch_and_bad_rates_are_usage_errors() {
    let server = TestServer::start();
    let store = temp_store("cli-rate");
    for bad in [
        "abc", "-5", "10x", "", "nan", "inf", "0.1", "1e30", "0x10", " 5",
    ] {
        let out = run(&store, &["--limit-rate", bad, "ids"]);
        assert_eq!(out.code, 1, "--limit-rate {bad:?}: {out}");
        assert!(out.stderr.contains("bad --limit-rate"), "{out}");
    }
    let out = run(&store, &["ids", "--limit-rate"]);
    assert_eq!(out.code, 1, "a missing value: {out}");
    for good in ["0", "2M", "1.5m", "500k", "100K", "1G", "12345"] {
        let out = run(&store, &[&format!("--limit-rate={good}"), "ids"]);
        assert_eq!(out.code, 0, "--limit-rate={good}: {out}");
    }
    // 150 000 bytes at 100k (102 400 B/s): about 1.46 s, less at most a 50 ms burst.
    let t0 = Instant::now();
    let url = server.url("/bytes/150000?seed=1");
    let out = run(
        &store,
        &[
            "--limit-rate",
            "100k",
            "--progress=none",
            "fetch",
            "f",
            &url,
        ],
    );
    let took = t0.elapsed();
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stdout.contains("f: success, 150000 bytes downloaded"),
        "{out}"
    );
    assert!(
        took >= Duration::from_millis(1300),
        "150000 bytes at --limit-rate 100k took {took:?}"
    );
}

#[test]
fn split_fetches_a_large_body_over_several_connections_and_bad_counts_are_usage_errors() {
    let server = TestServer::start();
    let store = temp_store("cli-split");
    for bad in ["0", "17", "-1", "x", "", "4x"] {
        let out = run(&store, &["--split", bad, "ids"]);
        assert_eq!(out.code, 1, "--split {bad:?}: {out}");
        assert!(out.stderr.contains("bad --split"), "{out}");
    }
    let out = run(&store, &["ids", "--split"]);
    assert_eq!(out.code, 1, "a missing value: {out}");
    let len = 8 << 20;
    let url = server.url(&format!("/bytes/{len}?seed=3&rate=8000000"));
    let out = run(
        &store,
        &["--split=8", "--progress=none", "fetch", "s", &url],
    );
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stdout
            .contains(&format!("s: success, {len} bytes downloaded")),
        "{out}"
    );
    let ranged = server
        .requests()
        .iter()
        .filter(|r| r.header("range").is_some())
        .count();
    assert!(ranged >= 7, "8 segments: {ranged} range requests");
    let dest = store.join("out.bin");
    let out = run(&store, &["save", "s", &url, dest.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{out}");
    assert!(
        std::fs::read(&dest).unwrap() == pattern(len, 3),
        "byte-exact"
    );
}

#[test]
fn proxy_and_cacert_are_used_and_bad_ones_are_library_errors() {
    let server = TestServer::start();
    let proxy = ConnectProxy::start();
    let store = temp_store("cli-proxy");
    let url = server.url("/bytes/70000?seed=2");
    let out = run(
        &store,
        &[
            "--proxy",
            &proxy.url(),
            "--progress=none",
            "fetch",
            "p",
            &url,
        ],
    );
    assert_eq!(out.code, 0, "{out}");
    assert!(
        proxy.tunnels() >= 1,
        "the fetch did not go through the proxy"
    );
    let out = run(&store, &["--proxy", "not a url", "ids"]);
    assert_eq!(out.code, 11, "{out}");
    assert!(
        out.stderr.contains("--proxy: BGFETCH_E_INVALID_ARGUMENT"),
        "{out}"
    );
    let missing = store.join("no-such-ca.pem");
    let out = run(&store, &["--cacert", missing.to_str().unwrap(), "ids"]);
    assert_eq!(out.code, 11, "{out}");
    assert!(
        out.stderr.contains("--cacert: BGFETCH_E_INVALID_ARGUMENT"),
        "{out}"
    );
    let pem = store.join("ca.pem");
    std::fs::write(
        &pem,
        "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let out = run(&store, &["--cacert", pem.to_str().unwrap(), "ids"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(out.stdout, "p\n", "{out}");
}

/// The first number of a plain progress line "ID: 0.05 MiB ..." / "ID: 0.05 / 0.38 MiB ...".
fn mib_of(line: &str, id: &str) -> Option<f64> {
    line.strip_prefix(&format!("{id}: "))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Runs `fetch ID URL` with plain progress and interrupts it with Ctrl-C (SIGINT) once some
/// bytes arrived; it must exit 130, leaving the fetch unfinished in the store. Returns what
/// it printed on stderr, one line each.
fn interrupted_fetch(store: &Path, id: &str, url: &str) -> Vec<String> {
    let mut child = Command::new(cli())
        .arg("-s")
        .arg(store)
        .args(["--progress=plain", "fetch", id, url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the CLI");
    let mut progress = Vec::new();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.expect("read the progress");
        let got = mib_of(&line, id).unwrap_or(0.0);
        progress.push(line);
        if got > 0.0 {
            break;
        }
    }
    let interrupt = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(interrupt.success());
    progress.extend(lines.map_while(Result::ok));
    let status = child.wait().expect("wait for the CLI");
    assert_eq!(status.code(), Some(130), "{progress:#?}");
    progress
}

#[test]
fn pause_is_durable_across_runs_and_unpause_finishes_the_fetch() {
    const LEN: u64 = 400_000;
    let server = TestServer::start();
    let store = temp_store("cli-pause");
    let url = server.url(&format!("/bytes/{LEN}?seed=3&rate=100000"));

    // A fetch interrupted with Ctrl-C once some bytes arrived stays in the store.
    let progress = interrupted_fetch(&store, "p", &url);
    assert!(
        progress.iter().any(|l| l.contains("% of Content-Length)")),
        "no percentage of Content-Length without a download total: {progress:#?}"
    );

    let out = run(&store, &["pause", "p"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.starts_with("paused 'p'"), "{out}");
    let out = run(&store, &["status", "p"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("paused:            yes"), "{out}");
    assert!(out.stdout.contains("result:            paused"), "{out}");
    // `resume` does not wait for a paused fetch; it says how to finish it.
    server.reset_stats();
    let out = run(&store, &["--progress=none", "resume"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("p: paused (run 'bgfetch -s "), "{out}");
    assert!(out.stdout.contains("0 fetches resumed"), "{out}");
    assert!(
        server.requests().is_empty(),
        "a paused fetch made a request"
    );

    // unpause: resumes at the stored byte, with Range, and completes byte-exact.
    let out = run(&store, &["--progress=none", "unpause", "p"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.starts_with("unpaused 'p'\n"), "{out}");
    let kept: u64 = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("p: {url}: resuming at byte ")))
        .unwrap_or_else(|| panic!("no resume line: {out}"))
        .parse()
        .expect("a byte offset");
    assert!(kept > 0 && kept < LEN, "{out}");
    assert!(
        out.stdout
            .contains(&format!("p: success, {LEN} bytes downloaded")),
        "{out}"
    );
    let ranges: Vec<String> = server
        .requests()
        .iter()
        .filter_map(|r| r.header("range").map(str::to_owned))
        .collect();
    assert_eq!(
        ranges,
        vec![format!("bytes={kept}-")],
        "the resume line does not name the byte the body resumed at"
    );
    let dest = store.join("p.bin");
    let out = run(&store, &["save", "p", &url, dest.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{out}");
    assert!(
        std::fs::read(&dest).unwrap() == pattern(LEN, 3),
        "not byte-exact"
    );
    // Settled: pause and unpause are INVALID_STATE (exit 14) with the library's message.
    for cmd in ["pause", "unpause"] {
        let out = run(&store, &[cmd, "p"]);
        assert_eq!(out.code, 14, "{cmd}: {out}");
        assert!(out.stderr.contains("BGFETCH_E_INVALID_STATE: "), "{out}");
    }
    let out = run(&store, &["pause", "nope"]);
    assert_eq!(out.code, 3, "{out}");
}

#[test]
fn a_failed_records_message_is_shown_also_after_a_reopen() {
    let server = TestServer::start();
    let store = temp_store("cli-failed");
    let ok_url = server.url("/bytes/10");
    let bad_url = server.url("/redirect-loop");
    let out = run(
        &store,
        &["--progress=none", "fetch", "bad", &ok_url, &bad_url],
    );
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stdout.contains("bad: failure (fetch-error)"), "{out}");
    let prefix = format!("  failed: GET {bad_url}: ");
    let message = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no failure message: {out}"))
        .to_owned();
    assert!(!message.is_empty(), "{out}");
    assert!(
        !out.stdout.contains(&format!("failed: GET {ok_url}")),
        "{out}"
    );

    // A new run (the store reopened): `records` shows the same message.
    let out = run(&store, &["records", "bad"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stdout
            .contains(&format!("GET {bad_url} failed - ({message})\n")),
        "expected the message {message:?}: {out}"
    );
    assert!(
        out.stdout.contains(&format!("GET {ok_url} 200 10\n")),
        "{out}"
    );
    // ... and so does `resume` in its results.
    let out = run(&store, &["--progress=none", "resume"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stdout.contains(&format!("{prefix}{message}\n")),
        "{out}"
    );
}

#[test]
fn progress_modes() {
    let server = TestServer::start();
    let store = temp_store("cli-progress");
    let url = server.url("/bytes/100000?seed=4");
    let out = run(&store, &["--progress=none", "fetch", "n", &url]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(out.stderr, "", "--progress=none printed on stderr");
    assert!(out.stdout.contains("n: success, 100000 bytes"), "{out}");

    let out = run(&store, &["--progress", "plain", "fetch", "p", &url]);
    assert_eq!(out.code, 0, "{out}");
    let last = out.stderr.lines().last().unwrap_or("");
    assert!(
        last.starts_with("p: 0.10 / 0.10 MiB (100.0% of Content-Length)"),
        "{out}"
    );
    assert!(!out.stderr.contains('\r'), "plain lines are not redrawn");

    let out = run(&store, &["--progress=bar", "fetch", "b", &url]);
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stderr
            .contains("\r\x1b[Kb: [##############################] 0.10 / 0.10 MiB"),
        "{out}"
    );

    for bad in ["fancy", ""] {
        let out = run(&store, &[&format!("--progress={bad}"), "ids"]);
        assert_eq!(out.code, 1, "{out}");
    }
}

#[test]
fn status_shows_the_download_total_or_else_the_expected_total_once_known() {
    let server = TestServer::start();
    let store = temp_store("cli-status");
    let url = server.url("/bytes/1000?seed=8");
    let chunked = server.url("/bytes/1000?seed=8&chunked=1");
    for (id, u) in [("n", &url), ("c", &chunked)] {
        let out = run(&store, &["--progress=none", "fetch", id, u]);
        assert_eq!(out.code, 0, "{out}");
    }
    let out = run(
        &store,
        &[
            "--progress=none",
            "fetch",
            "t",
            &url,
            "--download-total",
            "2000",
        ],
    );
    assert_eq!(out.code, 0, "{out}");
    // No download total: the bytes and the total the response heads announce.
    let out = run(&store, &["status", "n"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stdout
            .contains("\ndownloaded:        1000 / 1000 bytes expected\n"),
        "{out}"
    );
    assert!(out.stdout.contains("\nstate:             done\n"), "{out}");
    // A chunked body announces no length: the bytes alone.
    let out = run(&store, &["status", "c"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stdout.contains("\ndownloaded:        1000 bytes\n"),
        "{out}"
    );
    let out = run(&store, &["status", "t"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stdout
            .contains("\ndownloaded:        1000 / 2000 bytes\n"),
        "{out}"
    );
}

#[test]
fn save_without_base_finds_the_record_by_the_path_of_its_url() {
    let server = TestServer::start();
    let other = TestServer::start();
    let store = temp_store("cli-save-path");
    let (a, b) = (
        server.url("/bytes/1000?seed=1"),
        server.url("/bytes/2000?seed=2"),
    );
    let out = run(&store, &["--progress=none", "fetch", "s", &a, &b]);
    assert_eq!(out.code, 0, "{out}");
    let dest = |n: &str| store.join(n).to_str().unwrap().to_owned();

    // The path and query of one record's URL, or its end after a slash.
    let out = run(&store, &["save", "s", "/bytes/2000?seed=2", &dest("b.bin")]);
    assert_eq!(out.code, 0, "{out}");
    assert!(std::fs::read(dest("b.bin")).unwrap() == pattern(2000, 2));
    let out = run(&store, &["save", "s", "1000?seed=1", &dest("a.bin")]);
    assert_eq!(out.code, 0, "{out}");
    assert!(std::fs::read(dest("a.bin")).unwrap() == pattern(1000, 1));
    // With --base the URL resolves against it, as before.
    let out = run(
        &store,
        &[
            "--base",
            &server.base(),
            "save",
            "s",
            "/bytes/1000?seed=1",
            &dest("base.bin"),
        ],
    );
    assert_eq!(out.code, 0, "{out}");
    assert!(std::fs::read(dest("base.bin")).unwrap() == pattern(1000, 1));

    // No record has that path: exit 3, and how to list the records.
    let out = run(&store, &["save", "s", "/bytes/1000", &dest("none.bin")]);
    assert_eq!(out.code, 3, "{out}");
    assert!(
        out.stderr
            .contains("no record of 's' has a URL with the path /bytes/1000\n"),
        "{out}"
    );
    assert!(
        out.stderr.contains("'bgfetch records s' lists them"),
        "{out}"
    );

    // Two records with that path (on two servers): both listed, nothing saved, exit 1.
    let (c, d) = (server.url("/bytes/10"), other.url("/bytes/10"));
    let out = run(&store, &["--progress=none", "fetch", "two", &c, &d]);
    assert_eq!(out.code, 0, "{out}");
    let out = run(&store, &["save", "two", "/bytes/10", &dest("two.bin")]);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr.contains(&format!(
            "/bytes/10 matches 2 records of 'two'; give the whole URL of one:\n  {c}\n  {d}\n"
        )),
        "{out}"
    );
    assert!(!Path::new(&dest("two.bin")).exists());
    let out = run(&store, &["save", "two", &d, &dest("two.bin")]);
    assert_eq!(out.code, 0, "{out}");

    // The help says so.
    let out = run(&store, &["--help"]);
    assert!(
        out.stdout
            .contains("Without\n                      --base, a URL without a scheme"),
        "{out}"
    );
}

#[test]
fn a_fetch_left_by_ctrl_c_says_how_to_finish_it_when_fetched_again_or_released() {
    let server = TestServer::start();
    let store = temp_store("cli-hints");
    let s = store.to_str().unwrap();
    let url = server.url("/bytes/2000000?seed=9&rate=100000");
    interrupted_fetch(&store, "i", &url);

    // Fetching the same id again: DUPLICATE_ID (12), and where the fetch is.
    let out = run(&store, &["--progress=none", "fetch", "i", &url]);
    assert_eq!(out.code, 12, "{out}");
    assert!(out.stderr.contains("BGFETCH_E_DUPLICATE_ID: "), "{out}");
    assert!(
        out.stderr.contains(&format!(
            "'i' is already in the store, not finished (an earlier 'fetch' was\n         \
             interrupted?): see it with 'bgfetch -s {s} status i', finish it with\n         \
             'bgfetch -s {s} resume'\n"
        )),
        "{out}"
    );

    // Releasing it while it runs: INVALID_STATE (14), and abort it first.
    let out = run(&store, &["release", "i"]);
    assert_eq!(out.code, 14, "{out}");
    assert!(out.stderr.contains("BGFETCH_E_INVALID_STATE: "), "{out}");
    assert!(
        out.stderr.contains(&format!(
            "'i' has not finished: abort it first (bgfetch -s {s} abort i),\n"
        )),
        "{out}"
    );

    // Aborted, it is finished: fetching it again says to release it first, and release works.
    let out = run(&store, &["abort", "i"]);
    assert_eq!(out.code, 0, "{out}");
    let out = run(&store, &["--progress=none", "fetch", "i", &url]);
    assert_eq!(out.code, 12, "{out}");
    assert!(
        out.stderr
            .contains(&format!("then 'bgfetch -s {s} release i' before\n")),
        "{out}"
    );
    let out = run(&store, &["release", "i"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(out.stdout, "released 'i'\n", "{out}");
}

/// `fetch` of a URL whose server refuses connections, default policy: the plain progress
/// line says what the fetch waits for ("waiting to retry in S s (attempt N): <why>") instead
/// of freezing. The CLI is stopped (Ctrl-C) once the line has appeared; read as it streams,
/// at most 30 s.
#[test]
fn the_progress_line_of_a_refused_fetch_says_it_waits_to_retry_and_why() {
    let store = temp_store("cli-refused-progress");
    let url = format!("http://127.0.0.1:{}/bytes/100", closed_port());
    let mut child = Command::new(cli())
        .arg("-s")
        .arg(&store)
        .args(["--progress=plain", "fetch", "r", &url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the CLI");
    // The lines, read on a thread of their own so that the wait below has a deadline.
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut lines = Vec::new();
    let waiting = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let found = line.contains("waiting to retry in");
                lines.push(line);
                if found {
                    break lines.last().cloned();
                }
            }
            Err(_) => break None,
        }
    };
    let interrupt = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(interrupt.success());
    let status = child.wait().expect("wait for the CLI");
    let _ = reader.join();
    let line = waiting.unwrap_or_else(|| {
        panic!("no 'waiting to retry in' line within 30 s of a refused fetch: {lines:#?}")
    });
    // "r: 0.00 MiB  waiting to retry in 0.6 s (attempt 2): ... Connection refused ..."
    let rest = line
        .split_once("waiting to retry in ")
        .map(|(_, r)| r)
        .unwrap();
    let (secs, rest) = rest
        .split_once(" s (attempt ")
        .expect("seconds, then the attempt");
    let secs: f64 = secs.parse().expect("a number of seconds");
    assert!(secs >= 0.0, "{line}");
    let (attempt, why) = rest.split_once("): ").expect("the attempt, then why");
    let attempt: u32 = attempt.parse().expect("an attempt number");
    assert!(
        attempt >= 2,
        "the next attempt is at least the second: {line}"
    );
    assert!(
        why.to_lowercase().contains("refused"),
        "the line does not say why: {line}"
    );
    assert_eq!(status.code(), Some(130), "{lines:#?}");
}

/// A refused fetch that failed for good (in an earlier session, with one final attempt):
/// `status` shows the fetch failed and its record's line names the refusal (the message is
/// stored with the record).
#[test]
fn status_of_a_refused_fetch_that_failed_shows_why() {
    let store = temp_store("cli-refused-failed");
    let url = format!("http://127.0.0.1:{}/bytes/100", closed_port());
    {
        let mut cfg = bgfetch::Config::new(store.clone());
        cfg.set_retries(1, 0).unwrap();
        cfg.set_fail_after_attempts(true);
        let m = bgfetch::Manager::open(cfg).unwrap();
        let reg = m
            .fetch(
                "r",
                &[bgfetch::Request::new(&url)],
                &bgfetch::FetchOptions::default(),
            )
            .unwrap();
        reg.wait(Some(Duration::from_secs(30))).unwrap();
        assert_eq!(reg.state(), bgfetch::RecordState::Failed);
        m.close();
    }
    let out = run(&store, &["status", "r"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stdout
            .contains("result:            failure (fetch-error)"),
        "{out}"
    );
    assert!(out.stdout.contains("state:             failed\n"), "{out}");
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with(&format!("  GET {url}: ")))
        .unwrap_or_else(|| panic!("no record line: {out}"));
    assert!(line.contains(": failed"), "{line}");
    assert!(line.to_lowercase().contains("refused"), "{line}");
}

/// A fetch still waiting to retry a refused connection (default policy), left in the store
/// by an earlier session: `status` shows that it waits to retry and why. Each CLI command is
/// a new session of the store, so this needs the library to keep a pending record's last
/// error across close and reopen (it keeps it in the fetch's head log).
#[test]
fn status_of_a_fetch_waiting_to_retry_a_refused_connection_says_why() {
    let store = temp_store("cli-refused-waiting");
    let url = format!("http://127.0.0.1:{}/bytes/100", closed_port());
    {
        let m = bgfetch::Manager::open(bgfetch::Config::new(store.clone())).unwrap();
        let reg = m
            .fetch(
                "r",
                &[bgfetch::Request::new(&url)],
                &bgfetch::FetchOptions::default(),
            )
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while reg.record_status(0).state != bgfetch::RecordState::RetryWait {
            assert!(Instant::now() < deadline, "never waited to retry");
            std::thread::sleep(Duration::from_millis(2));
        }
        m.close();
    }
    let out = run(&store, &["status", "r"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("result:            running"), "{out}");
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with(&format!("  GET {url}: ")))
        .unwrap_or_else(|| panic!("no record line: {out}"));
    assert!(
        line.to_lowercase().contains("refused"),
        "the record line does not say why the fetch waits: {line}\n{out}"
    );
}
