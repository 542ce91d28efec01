//! Runs the Python binding's unittest suite (`ffi-tests/python/`) against the library that
//! `cargo test` just built and a local test server.
//!
//! The suite gets `BGFETCH_LIB` (the `libbgfetch.so` next to this test's executable, in
//! `target/<profile>/deps`), `BGFETCH_TEST_URL` (the server's base URL) and `PYTHONPATH`
//! (`python/`). Skipped, with a notice, only when `python3` is not installed.
//! `BGFETCH_PY_FILTER=<pattern>` passes `-k <pattern>` to unittest, to run a subset.

mod common;
use common::*;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The whole suite should take well under a minute; this only stops a hang.
const SUITE_LIMIT: Duration = Duration::from_secs(240);

fn python3_available() -> bool {
    Command::new("python3")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn library_path() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe.parent().expect("the test executable has a directory");
    let lib = dir.join("libbgfetch.so");
    if lib.exists() {
        return lib;
    }
    // `cargo test` normally leaves it in target/<profile>/deps; fall back to target/<profile>.
    let up = dir.parent().map(|p| p.join("libbgfetch.so"));
    match up {
        Some(p) if p.exists() => p,
        _ => panic!("libbgfetch.so not found next to {}", exe.display()),
    }
}

fn drain(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        buf
    })
}

#[test]
fn python_unittest_suite_passes() {
    if !python3_available() {
        println!("NOTICE: python3 not found; skipping the Python binding tests");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let server = TestServer::start();
    let lib = library_path();

    let mut cmd = Command::new("python3");
    cmd.current_dir(root)
        .args(["-m", "unittest", "discover", "-s", "ffi-tests/python", "-v"])
        .env("BGFETCH_LIB", &lib)
        .env("BGFETCH_TEST_URL", server.base())
        .env("PYTHONPATH", root.join("python"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONFAULTHANDLER", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Ok(filter) = std::env::var("BGFETCH_PY_FILTER") {
        cmd.args(["-k", &filter]);
    }
    let mut child = cmd.spawn().expect("spawning python3");
    let out = drain(child.stdout.take().unwrap());
    let err = drain(child.stderr.take().unwrap());

    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("waiting for python3") {
            break Some(s);
        }
        if start.elapsed() > SUITE_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = String::from_utf8_lossy(&out.join().unwrap()).into_owned();
    let stderr = String::from_utf8_lossy(&err.join().unwrap()).into_owned();
    let report = format!(
        "library: {}\nserver: {}\nelapsed: {:.1}s\n\
         --- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        lib.display(),
        server.base(),
        start.elapsed().as_secs_f64()
    );
    match status {
        None => panic!("the Python suite did not finish within {SUITE_LIMIT:?}\n{report}"),
        Some(s) if !s.success() => panic!("the Python suite failed ({s})\n{report}"),
        Some(_) => println!("{report}"),
    }
}
