//! Builds and runs the C++ header's programs: the tests of `ffi-tests/cpp/` and the example
//! `examples-c/podcast.cpp`, against the static library `cargo test` just built.
//!
//! Each program is compiled with `$CXX` (default `g++`) and
//! `-std=c++17 -Wall -Wextra -Werror -pedantic -g -I include -I ffi-tests/c -I ffi-tests/cpp
//! -pthread`, linked with `libbgfetch.a` (found next to this test executable, as for
//! `tests/ffi_c.rs`), in two builds: plain, and with
//! `-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all` run with
//! LeakSanitizer on (as `tests/sanitizers.rs` runs the C tests).
//!
//! - `ffi-tests/cpp/test_*.cpp` run as `test_x <server base URL> <fresh temporary directory>`
//!   against the shared test server of `tests/common/server.rs`, through the runner of
//!   `tests/common/ffi_runner.rs` (the one the C tests use); they use `ffi-tests/c/harness.h`
//!   for their checks and pass when they exit 0.
//! - `examples-c/podcast.cpp` runs against a small episode server started here on
//!   127.0.0.1 port 0 (`/ep-5.mp3`, `/ep-5-artwork.jpg`), twice in a row on one store (the
//!   example releases its fetch, so the second run fetches again); it must exit 0, print the
//!   result and the matched record, and the server must have served both files.
//!
//! Environment: `CXX` (the C++ compiler, default `g++`).
#![allow(dead_code, unused_imports)]

mod common;
use common::ffi_runner::{
    include_dir, manifest_dir, run_binary, run_with_timeout, static_lib, test_names, tmp_dir,
    unique_suffix, RunOutcome, Variant, CXX17_STRICT,
};
use common::pattern;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn cxx() -> String {
    std::env::var("CXX").unwrap_or_else(|_| "g++".to_owned())
}

fn cpp_dir() -> PathBuf {
    manifest_dir().join("ffi-tests").join("cpp")
}

fn plain_variant() -> Variant {
    let mut v = Variant::plain("ffi_cpp");
    v.time_limit = Duration::from_secs(120);
    v
}

fn asan_variant() -> Variant {
    Variant::asan("ffi_cpp-asan", Duration::from_secs(120))
}

/// Compiles the C++ program `src` into `<variant dir>/<bin_name>`; panics with the compiler's
/// output on failure.
fn compile_cpp(src: &Path, bin_name: &str, v: &Variant) -> PathBuf {
    assert!(src.is_file(), "missing C++ source {}", src.display());
    for h in ["bgfetch.h", "bgfetch.hpp"] {
        let p = include_dir().join(h);
        assert!(p.is_file(), "missing {}", p.display());
    }
    let bin = v.out_dir().join(bin_name);
    let mut cmd = Command::new(cxx());
    cmd.args(CXX17_STRICT)
        .arg("-g")
        .arg("-I")
        .arg(include_dir())
        .arg("-I")
        .arg(manifest_dir().join("ffi-tests").join("c"))
        .arg("-I")
        .arg(cpp_dir())
        .arg("-pthread")
        .args(&v.cflags)
        .arg(src)
        .arg("-o")
        .arg(&bin)
        .arg(static_lib())
        .args(["-lpthread", "-ldl", "-lm"]);
    let (ok, how, text) = run_with_timeout(cmd, Duration::from_secs(180));
    assert!(ok, "compiling {} failed ({how}):\n{text}", src.display());
    bin
}

/// The stems of every `ffi-tests/cpp/test_*.cpp`, sorted.
fn cpp_test_names() -> Vec<String> {
    test_names(&cpp_dir(), "cpp")
}

/// Compiles and runs every C++ test program under `v`; panics listing every failure.
fn run_cpp_suite(v: &Variant) {
    let names = cpp_test_names();
    assert!(!names.is_empty(), "no ffi-tests/cpp/test_*.cpp found");
    let mut failures = Vec::new();
    for name in &names {
        let bin = compile_cpp(&cpp_dir().join(format!("{name}.cpp")), name, v);
        let r = run_binary(&bin, name, v);
        println!(
            "{name} ({}): {} in {:.1} s\n{}",
            v.dir,
            if r.passed { "passed" } else { "FAILED" },
            r.took.as_secs_f64(),
            r.output
        );
        if !r.passed {
            failures.push(r.failure_report(&format!("C++ test {name} ({})", v.dir)));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} C++ test programs failed:\n{}",
        failures.len(),
        names.len(),
        failures.join("\n\n")
    );
}

#[test]
fn cpp_tests() {
    run_cpp_suite(&plain_variant());
}

#[test]
fn cpp_tests_asan_ubsan() {
    run_cpp_suite(&asan_variant());
}

// ---------------------------------------------------------------------------------------------
// The podcast example

/// The episode's files: (path, content type, length, pattern seed).
const EPISODE: &[(&str, &str, u64, u64)] = &[
    ("/ep-5.mp3", "audio/mpeg", 300_000, 5),
    ("/ep-5-artwork.jpg", "image/jpeg", 20_000, 6),
];

/// A tiny HTTP/1.1 server on 127.0.0.1 port 0 for the podcast example: GET of the files of
/// `EPISODE` (bodies of `pattern`), 404 otherwise; one request per connection. Records the
/// paths it was asked for.
struct EpisodeServer {
    port: u16,
    stop: Arc<AtomicBool>,
    served: Arc<Mutex<Vec<String>>>,
    accept: Option<std::thread::JoinHandle<()>>,
}

impl EpisodeServer {
    fn start() -> EpisodeServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local_addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(Mutex::new(Vec::new()));
        let (st, sv) = (Arc::clone(&stop), Arc::clone(&served));
        let accept = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let sv = Arc::clone(&sv);
                std::thread::spawn(move || {
                    let _ = serve_one(conn, &sv);
                });
            }
        });
        EpisodeServer {
            port,
            stop,
            served,
            accept: Some(accept),
        }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    fn served(&self) -> Vec<String> {
        self.served.lock().unwrap().clone()
    }
}

impl Drop for EpisodeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // wake the accept loop
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn serve_one(conn: TcpStream, served: &Mutex<Vec<String>>) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let target = parts.next().unwrap_or("").to_owned();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
    }
    let path = target.split('?').next().unwrap_or("").to_owned();
    served.lock().unwrap().push(path.clone());
    let mut out = std::io::BufWriter::new(conn);
    match EPISODE.iter().find(|(p, ..)| *p == path) {
        Some(&(_, ct, len, seed)) if method == "GET" => {
            write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Type: {ct}\r\nContent-Length: {len}\r\n\
                 Connection: close\r\n\r\n"
            )?;
            out.write_all(&pattern(len, seed))?;
        }
        _ => {
            write!(
                out,
                "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\
                 Connection: close\r\n\r\nnot found\n"
            )?;
        }
    }
    out.flush()
}

/// Builds `examples-c/podcast.cpp` under `v` and runs it twice on one store against an
/// episode server; checks its output and what the server served.
fn run_podcast(v: &Variant) {
    let src = manifest_dir().join("examples-c").join("podcast.cpp");
    let bin = compile_cpp(&src, "podcast_cpp", v);
    let srv = EpisodeServer::start();
    let store = v
        .out_dir()
        .join(format!("podcast-store-{}", unique_suffix()));
    for round in 1..=2 {
        let mut cmd = Command::new(&bin);
        cmd.arg(srv.base()).arg(&store);
        for (k, val) in &v.env {
            cmd.env(k, val);
        }
        let (ok, how, out) = run_with_timeout(cmd, v.time_limit);
        assert!(
            ok,
            "podcast.cpp ({}) run {round} failed ({how}):\n{out}",
            v.dir
        );
        for want in [
            "id: my-fetch\n",
            "title: Episode 5: Interesting things.\n",
            "result: success\n",
            "downloaded: 320000 bytes in ",
            "match(\"/ep-5.mp3\"):\n",
            "  request:  GET http://127.0.0.1:",
            "  response: 200 http://127.0.0.1:",
            "    content-type: audio/mpeg\n",
            "    body size:    300000 bytes\n",
            "released 'my-fetch'\n",
        ] {
            assert!(
                out.contains(want),
                "podcast.cpp ({}) run {round}: no {want:?} in its output:\n{out}",
                v.dir
            );
        }
        assert!(
            out.contains("- final\n"),
            "podcast.cpp ({}) run {round}: no final progress line:\n{out}",
            v.dir
        );
        let served = srv.served();
        for (path, ..) in EPISODE {
            let n = served.iter().filter(|p| p == path).count();
            assert!(
                n >= round,
                "podcast.cpp ({}) run {round}: {path} served {n} times; requests: {served:?}",
                v.dir
            );
        }
    }
    let _ = std::fs::remove_dir_all(&store);
}

#[test]
fn podcast_cpp() {
    run_podcast(&plain_variant());
}

#[test]
fn podcast_cpp_asan_ubsan() {
    run_podcast(&asan_variant());
}
