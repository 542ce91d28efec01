//! Builds and runs the C test programs of `ffi-tests/c/` against the static library.
//!
//! Each `ffi-tests/c/test_*.c` is compiled with
//! `cc -std=c11 -Wall -Wextra -Werror -pedantic -I include -pthread` (plus `$BGFETCH_C_CFLAGS`),
//! linked statically against `libbgfetch.a` (found next to this test executable, in
//! `target/<profile>/deps`), and run as `test_x <server base URL> <fresh temporary directory>`
//! (prefixed with `$BGFETCH_C_WRAPPER` when set, e.g. `valgrind --error-exitcode=1`). A program
//! that exits non-zero, or runs longer than 120 s, fails its test; its output is printed.
//!
//! Environment:
//! - `BGFETCH_C_WRAPPER`: a command (split on whitespace) put before each test binary.
//! - `BGFETCH_C_CFLAGS`: extra flags (split on whitespace) for compiling and linking, e.g.
//!   `-fsanitize=address,undefined -fno-omit-frame-pointer`.
//! - `BGFETCH_C_TIMEOUT_S`: overrides the 120 s limit per program (e.g. under valgrind).
//! - `CC` / `CXX`: the compilers (default `cc` / `c++`).
#![allow(dead_code, unused_imports)]

mod common;
use common::*;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The one test server shared by every C program of this test binary.
fn server() -> &'static TestServer {
    static SERVER: OnceLock<TestServer> = OnceLock::new();
    SERVER.get_or_init(TestServer::start)
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn include_dir() -> PathBuf {
    manifest_dir().join("include")
}

fn c_dir() -> PathBuf {
    manifest_dir().join("ffi-tests").join("c")
}

fn out_dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ffi_c");
    std::fs::create_dir_all(&d).expect("create CARGO_TARGET_TMPDIR/ffi_c");
    d
}

/// `libbgfetch.a`: next to the test executable (target/<profile>/deps), else one level up.
fn static_lib() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("exe dir").to_path_buf();
    let mut candidates = vec![deps.join("libbgfetch.a")];
    if let Some(up) = deps.parent() {
        candidates.push(up.join("libbgfetch.a"));
    }
    for c in &candidates {
        if c.is_file() {
            return c.clone();
        }
    }
    panic!("libbgfetch.a not found; looked at {candidates:?}");
}

fn split_env(name: &str) -> Vec<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

fn unique_suffix() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{}-{}", std::process::id(), nanos)
}

/// Runs a command to completion with a time limit; returns (success, exit description, output).
fn run_with_timeout(mut cmd: Command, limit: Duration) -> (bool, String, String) {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return (false, format!("cannot start {cmd:?}: {e}"), String::new()),
    };
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let start = Instant::now();
    let (ok, how) = loop {
        match child.try_wait() {
            Ok(Some(status)) => break (status.success(), format!("{status}")),
            Ok(None) if start.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                break (
                    false,
                    format!("killed after {} s (time limit)", limit.as_secs()),
                );
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => break (false, format!("wait failed: {e}")),
        }
    };
    // A grandchild (e.g. under a wrapper) may keep the pipes open; do not hang on them.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !(t_out.is_finished() && t_err.is_finished()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut text = String::new();
    if t_out.is_finished() {
        text.push_str(&String::from_utf8_lossy(&t_out.join().unwrap_or_default()));
    }
    if t_err.is_finished() {
        let e = t_err.join().unwrap_or_default();
        if !e.is_empty() {
            text.push_str("\n--- stderr ---\n");
            text.push_str(&String::from_utf8_lossy(&e));
        }
    }
    (ok, how, text)
}

/// Compiles `ffi-tests/c/<name>.c` into CARGO_TARGET_TMPDIR; returns the binary's path.
fn compile(name: &str) -> PathBuf {
    let src = c_dir().join(format!("{name}.c"));
    assert!(src.is_file(), "missing C source {}", src.display());
    let header = include_dir().join("bgfetch.h");
    assert!(
        header.is_file(),
        "missing {} (built by `cargo build`)",
        header.display()
    );
    let bin = out_dir().join(name);
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let mut cmd = Command::new(&cc);
    cmd.args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-g"])
        .arg("-I")
        .arg(include_dir())
        .arg("-I")
        .arg(c_dir())
        .arg("-pthread")
        .args(split_env("BGFETCH_C_CFLAGS"))
        .arg(&src)
        .arg("-o")
        .arg(&bin)
        .arg(static_lib())
        .args(["-lpthread", "-ldl", "-lm"]);
    let (ok, how, text) = run_with_timeout(cmd, Duration::from_secs(120));
    assert!(ok, "compiling {} failed ({how}):\n{text}", src.display());
    bin
}

fn time_limit() -> Duration {
    let secs = std::env::var("BGFETCH_C_TIMEOUT_S")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(120);
    Duration::from_secs(secs)
}

/// Compiles and runs one C test program; panics with its output unless it exits 0.
fn run_c_test(name: &str) {
    let bin = compile(name);
    let srv = server();
    let tmp = out_dir().join(format!("{name}-run-{}", unique_suffix()));
    std::fs::create_dir_all(&tmp).expect("create the program's temporary directory");

    let wrapper = split_env("BGFETCH_C_WRAPPER");
    let mut cmd = if let Some((first, rest)) = wrapper.split_first() {
        let mut c = Command::new(first);
        c.args(rest).arg(&bin);
        c
    } else {
        Command::new(&bin)
    };
    cmd.arg(srv.base()).arg(&tmp);
    if !wrapper.is_empty() {
        // slower under a wrapper: let the program's own watchdog follow the runner's limit
        cmd.env(
            "BGFETCH_TEST_WATCHDOG_S",
            (time_limit().as_secs().saturating_sub(10))
                .max(10)
                .to_string(),
        );
    }
    let started = Instant::now();
    let (ok, how, text) = run_with_timeout(cmd, time_limit());
    let took = started.elapsed();
    if ok {
        let _ = std::fs::remove_dir_all(&tmp);
        println!("{name}: passed in {:.1} s\n{text}", took.as_secs_f64());
    } else {
        let failing: Vec<&str> = text.lines().filter(|l| l.starts_with("not ok")).collect();
        panic!(
            "C test {name} failed ({how}) after {:.1} s; store directory kept at {}\n\
             failing checks:\n  {}\n--- full output ---\n{text}",
            took.as_secs_f64(),
            tmp.display(),
            failing.join("\n  ")
        );
    }
}

macro_rules! c_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run_c_test(stringify!($name));
            }
        )*

        /// Every `ffi-tests/c/test_*.c` has a #[test] above (so that none is silently skipped).
        #[test]
        fn every_c_file_has_a_test() {
            let known: &[&str] = &[$(stringify!($name)),*];
            let mut missing = Vec::new();
            for e in std::fs::read_dir(c_dir()).expect("read ffi-tests/c") {
                let p = e.expect("dir entry").path();
                let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or("").to_owned();
                if p.extension().and_then(|s| s.to_str()) == Some("c")
                    && stem.starts_with("test_")
                    && !known.contains(&stem.as_str())
                {
                    missing.push(stem);
                }
            }
            assert!(missing.is_empty(), "C tests without a #[test] in tests/ffi_c.rs: {missing:?}");
        }
    };
}

c_tests!(
    test_basics,
    test_fetch,
    test_failures,
    test_abort,
    test_progress,
    test_threads,
    test_store,
    test_events,
);

/// The header is valid C11 and C++17, and can be included twice (include guard).
#[test]
fn header_compiles_as_c11_and_cxx17() {
    let header = include_dir().join("bgfetch.h");
    assert!(header.is_file(), "missing {}", header.display());
    let dir = out_dir();

    let c_src = dir.join("header_twice.c");
    std::fs::write(
        &c_src,
        "#include \"bgfetch.h\"\n#include \"bgfetch.h\"\n\
         int main(void) { return bgfetch_version() == 0; }\n",
    )
    .unwrap();
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let mut cmd = Command::new(&cc);
    cmd.args([
        "-std=c11",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-pedantic",
        "-fsyntax-only",
        "-I",
    ])
    .arg(include_dir())
    .arg(&c_src);
    let (ok, how, text) = run_with_timeout(cmd, Duration::from_secs(60));
    assert!(ok, "bgfetch.h does not compile as C11 ({how}):\n{text}");

    let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".to_owned());
    if Command::new(&cxx)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_err()
    {
        eprintln!("{cxx} not found; skipping the C++17 check");
        return;
    }
    let cxx_src = dir.join("header_twice.cpp");
    std::fs::write(
        &cxx_src,
        "#include \"bgfetch.h\"\n#include \"bgfetch.h\"\n\
         static_assert(sizeof(bgfetch_status) == 4, \"bgfetch_status is 32-bit\");\n\
         int main() { bgfetch_registration *r = nullptr; (void)r; return bgfetch_version() == nullptr; }\n",
    )
    .unwrap();
    let mut cmd = Command::new(&cxx);
    cmd.args([
        "-std=c++17",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-pedantic",
        "-fsyntax-only",
        "-I",
    ])
    .arg(include_dir())
    .arg(&cxx_src);
    let (ok, how, text) = run_with_timeout(cmd, Duration::from_secs(60));
    assert!(ok, "bgfetch.h does not compile as C++17 ({how}):\n{text}");
}
