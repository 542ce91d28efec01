//! Builds and runs the C test programs of `ffi-tests/c/` against the library that `cargo test`
//! just built. Shared by `tests/ffi_c.rs` (plain runs) and `tests/sanitizers.rs` (the same
//! programs under ASan+UBSan, valgrind and TSan).
//!
//! A program `ffi-tests/c/<name>.c` is compiled with
//! `cc -std=c11 -Wall -Wextra -Werror -pedantic -g -I include -I ffi-tests/c -pthread`, plus the
//! variant's flags, and linked against `libbgfetch.a` (or, for a variant that asks for it,
//! `libbgfetch.so`), both found next to the test executable (`target/<profile>/deps`). It runs
//! as `<wrapper...> <binary> <server base URL> <fresh temporary directory>`; it passes when it
//! exits 0 within the variant's time limit.
//!
//! Each run also gets helpers of its own, for checks that count what reaches a server (the
//! shared server's counters see every program running at the same time):
//! `BGFETCH_TEST_OWN_SERVER`, the base URL of a test server only this run uses, and
//! `BGFETCH_TEST_CONNECT_PROXY`, the `http://127.0.0.1:PORT` of a CONNECT proxy
//! (`tests/common/connect_proxy.rs`). Both stop when the run ends.
//!
//! The programs of [`TLS_PROGRAMS`] also get `BGFETCH_TEST_TLS_URL`, the `https://` URL of a
//! TLS server whose certificate is self-signed (`openssl s_server`, `tests/common/tls.rs`),
//! for the checks that a verification error fails at once. Where openssl cannot start it, the
//! runner prints a NOTICE and passes `BGFETCH_TEST_TLS_SKIP` (the reason) instead, and the
//! program reports that case as skipped; so it does under valgrind, which misreads the
//! assembly of rustls' crypto (ring) as uses of uninitialised memory.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::connect_proxy::ConnectProxy;
use super::server::TestServer;
use super::tls::{http_response, self_signed_tls_server, tls_server, TlsServer};

/// The one test server shared by every C program of a test binary.
pub fn server() -> &'static TestServer {
    static SERVER: OnceLock<TestServer> = OnceLock::new();
    SERVER.get_or_init(TestServer::start)
}

pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn include_dir() -> PathBuf {
    manifest_dir().join("include")
}

pub fn c_dir() -> PathBuf {
    manifest_dir().join("ffi-tests").join("c")
}

/// `CARGO_TARGET_TMPDIR/<sub>`, created.
pub fn tmp_dir(sub: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(sub);
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("create {}: {e}", d.display()));
    d
}

/// The stems of every `ffi-tests/c/test_*.c`, sorted.
pub fn c_test_names() -> Vec<String> {
    test_names(&c_dir(), "c")
}

/// The stems of every `test_*.<ext>` in `dir`, sorted.
pub fn test_names(dir: &std::path::Path, ext: &str) -> Vec<String> {
    let mut names = Vec::new();
    for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
        let p = e.expect("dir entry").path();
        let stem = p
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("")
            .to_owned();
        if p.extension().and_then(|s| s.to_str()) == Some(ext) && stem.starts_with("test_") {
            names.push(stem);
        }
    }
    names.sort();
    names
}

/// A library built by cargo next to the test executable (target/<profile>/deps), else one
/// level up.
fn built_library(file: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("exe dir").to_path_buf();
    let mut candidates = vec![deps.join(file)];
    if let Some(up) = deps.parent() {
        candidates.push(up.join(file));
    }
    for c in &candidates {
        if c.is_file() {
            return c.clone();
        }
    }
    panic!("{file} not found; looked at {candidates:?}");
}

/// `libbgfetch.a`.
pub fn static_lib() -> PathBuf {
    built_library("libbgfetch.a")
}

/// `libbgfetch.so`.
pub fn shared_lib() -> PathBuf {
    built_library("libbgfetch.so")
}

/// An environment variable split on whitespace (empty if unset).
pub fn split_env(name: &str) -> Vec<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

pub fn unique_suffix() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{}-{}", std::process::id(), nanos)
}

/// Whether `cmd --version` runs.
pub fn tool_available(cmd: &str) -> bool {
    Command::new(cmd)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// The C compiler (`$CC`, default `cc`).
pub fn cc() -> String {
    std::env::var("CC").unwrap_or_else(|_| "cc".to_owned())
}

/// Runs a command to completion with a time limit; returns (success, exit description, output).
pub fn run_with_timeout(mut cmd: Command, limit: Duration) -> (bool, String, String) {
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

/// How the C programs are built and run.
#[derive(Clone, Debug)]
pub struct Variant {
    /// Names the build directory (`CARGO_TARGET_TMPDIR/<dir>`), so variants never share binaries.
    pub dir: String,
    /// Extra flags for compiling and linking.
    pub cflags: Vec<String>,
    /// Link `libbgfetch.so` (with an rpath) instead of `libbgfetch.a`.
    pub link_shared: bool,
    /// A command put before each test binary (e.g. valgrind and its options).
    pub wrapper: Vec<String>,
    /// Extra environment for the program.
    pub env: Vec<(String, String)>,
    /// Wall-clock limit per program.
    pub time_limit: Duration,
}

impl Variant {
    /// The plain build: static library, no flags, no wrapper, 120 s.
    pub fn plain(dir: &str) -> Variant {
        Variant {
            dir: dir.to_owned(),
            cflags: Vec::new(),
            link_shared: false,
            wrapper: Vec::new(),
            env: Vec::new(),
            time_limit: Duration::from_secs(120),
        }
    }

    /// The build `tests/ffi_c.rs` uses: plain, adjusted by `BGFETCH_C_CFLAGS`,
    /// `BGFETCH_C_WRAPPER` and `BGFETCH_C_TIMEOUT_S`.
    pub fn from_env(dir: &str) -> Variant {
        let mut v = Variant::plain(dir);
        v.cflags = split_env("BGFETCH_C_CFLAGS");
        v.wrapper = split_env("BGFETCH_C_WRAPPER");
        if let Some(secs) = std::env::var("BGFETCH_C_TIMEOUT_S")
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
        {
            v.time_limit = Duration::from_secs(secs);
        }
        v
    }

    /// ASan + UBSan (leaks checked, the first report fatal, exit code
    /// [`SANITIZER_EXIT_CODE`]); the watchdog of the test programs fires 10 s before `limit`.
    pub fn asan(dir: &str, limit: Duration) -> Variant {
        let mut v = Variant::plain(dir);
        v.cflags = [
            "-fsanitize=address,undefined",
            "-fno-omit-frame-pointer",
            "-fno-sanitize-recover=all",
        ]
        .map(str::to_owned)
        .to_vec();
        v.env = vec![
            (
                "ASAN_OPTIONS".into(),
                format!("detect_leaks=1:halt_on_error=1:exitcode={SANITIZER_EXIT_CODE}"),
            ),
            (
                "LSAN_OPTIONS".into(),
                format!("exitcode={SANITIZER_EXIT_CODE}"),
            ),
            (
                "UBSAN_OPTIONS".into(),
                "print_stacktrace=1:halt_on_error=1".into(),
            ),
            (
                "BGFETCH_TEST_WATCHDOG_S".into(),
                limit.as_secs().saturating_sub(10).to_string(),
            ),
        ];
        v.time_limit = limit;
        v
    }

    pub fn out_dir(&self) -> PathBuf {
        tmp_dir(&self.dir)
    }
}

/// The flags every C++ compile of the tests uses: C++17, every warning an error.
pub const CXX17_STRICT: [&str; 5] = ["-std=c++17", "-Wall", "-Wextra", "-Werror", "-pedantic"];

/// The exit code the sanitizer options ask for when they report something.
pub const SANITIZER_EXIT_CODE: &str = "66";

/// Compiles `src` (a C file) into `<variant dir>/<bin_name>`; returns the binary or the
/// compiler's complaint.
pub fn compile_file(src: &std::path::Path, bin_name: &str, v: &Variant) -> Result<PathBuf, String> {
    if !src.is_file() {
        return Err(format!("missing C source {}", src.display()));
    }
    let header = include_dir().join("bgfetch.h");
    if !header.is_file() {
        return Err(format!(
            "missing {} (built by `cargo build`)",
            header.display()
        ));
    }
    let bin = v.out_dir().join(bin_name);
    let mut cmd = Command::new(cc());
    cmd.args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-g"])
        .arg("-I")
        .arg(include_dir())
        .arg("-I")
        .arg(c_dir())
        .arg("-pthread")
        .args(&v.cflags)
        .arg(src)
        .arg("-o")
        .arg(&bin);
    if v.link_shared {
        let so = shared_lib();
        let dir = so.parent().expect("library dir").to_path_buf();
        cmd.arg(&so).arg(format!("-Wl,-rpath,{}", dir.display()));
    } else {
        cmd.arg(static_lib());
    }
    cmd.args(["-lpthread", "-ldl", "-lm"]);
    let (ok, how, text) = run_with_timeout(cmd, Duration::from_secs(120));
    if ok {
        Ok(bin)
    } else {
        Err(format!(
            "compiling {} failed ({how}):\n{text}",
            src.display()
        ))
    }
}

/// Compiles `ffi-tests/c/<name>.c`; panics with the compiler's output on failure.
pub fn compile(name: &str, v: &Variant) -> PathBuf {
    let src = c_dir().join(format!("{name}.c"));
    compile_file(&src, name, v).unwrap_or_else(|e| panic!("{e}"))
}

/// What one run of a program gave.
#[derive(Debug)]
pub struct RunOutcome {
    pub passed: bool,
    /// Exit status, or why it did not exit.
    pub how: String,
    /// stdout, then stderr.
    pub output: String,
    pub took: Duration,
    /// The program's temporary directory (removed when it passed).
    pub tmp: PathBuf,
}

impl RunOutcome {
    /// A failure message: the failing checks first, then the full output.
    pub fn failure_report(&self, what: &str) -> String {
        let failing: Vec<&str> = self
            .output
            .lines()
            .filter(|l| l.starts_with("not ok"))
            .collect();
        format!(
            "{what} failed ({}) after {:.1} s; store directory kept at {}\n\
             failing checks:\n  {}\n--- full output ---\n{}",
            self.how,
            self.took.as_secs_f64(),
            self.tmp.display(),
            failing.join("\n  "),
            self.output
        )
    }
}

/// Runs a compiled program with the variant's wrapper, environment and time limit, against the
/// shared test server and a fresh temporary directory.
pub fn run_binary(bin: &std::path::Path, name: &str, v: &Variant) -> RunOutcome {
    let srv = server();
    let tmp = v.out_dir().join(format!("{name}-run-{}", unique_suffix()));
    std::fs::create_dir_all(&tmp).expect("create the program's temporary directory");

    let mut cmd = if let Some((first, rest)) = v.wrapper.split_first() {
        let mut c = Command::new(first);
        c.args(rest).arg(bin);
        c
    } else {
        Command::new(bin)
    };
    cmd.arg(srv.base()).arg(&tmp);
    if !v.wrapper.is_empty() {
        // slower under a wrapper: let the program's own watchdog follow the runner's limit
        cmd.env(
            "BGFETCH_TEST_WATCHDOG_S",
            (v.time_limit.as_secs().saturating_sub(10))
                .max(10)
                .to_string(),
        );
    }
    // Helpers of this run only; dropped (stopped) when it ends.
    let own_server = TestServer::start();
    let connect_proxy = ConnectProxy::start();
    cmd.env("BGFETCH_TEST_OWN_SERVER", own_server.base())
        .env("BGFETCH_TEST_CONNECT_PROXY", connect_proxy.url());
    let under_valgrind = v.wrapper.first().is_some_and(|w| w.ends_with("valgrind"));
    let tls = if TLS_PROGRAMS.contains(&name) && under_valgrind {
        // memcheck reports the AES-GCM assembly of ring (rustls' crypto) as a conditional
        // jump on uninitialised values while it decrypts the handshake (a false positive of
        // the kind OpenSSL's GCM assembly gets, openssl/openssl#19719): the TLS case runs in
        // the plain and ASan builds only.
        cmd.env(
            "BGFETCH_TEST_TLS_SKIP",
            "not under valgrind (memcheck misreads ring's AES-GCM assembly)",
        );
        None
    } else if TLS_PROGRAMS.contains(&name) {
        let (env, server) = tls_test_server(&tmp.join("tls"), TlsKind::SelfSigned);
        cmd.env(env.0, env.1);
        server
    } else {
        None
    };
    for (k, val) in &v.env {
        cmd.env(k, val);
    }
    let started = Instant::now();
    let (passed, how, output) = run_with_timeout(cmd, v.time_limit);
    let took = started.elapsed();
    drop((own_server, connect_proxy, tls));
    if passed {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    RunOutcome {
        passed,
        how,
        output,
        took,
        tmp,
    }
}

/// The test programs that get a TLS server (`BGFETCH_TEST_TLS_URL`) from [`run_binary`].
pub const TLS_PROGRAMS: &[&str] = &["test_real_servers"];

/// The certificate of a TLS server for the hosts' tests: neither is trusted without a CA file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsKind {
    /// Self-signed, for 127.0.0.1.
    SelfSigned,
    /// For 127.0.0.1, signed by a test CA that nobody trusts (an unknown issuer).
    UnknownIssuer,
}

/// Starts a TLS server in `dir` (created) that serves `/ok` (a small 200) with a certificate
/// of `kind`, for a host test run by another process. Returns the environment variable to
/// pass on, `("BGFETCH_TEST_TLS_URL", "https://127.0.0.1:PORT/ok")`, and the server (stopped
/// when dropped); where openssl cannot start it, prints a NOTICE on stderr and returns
/// `("BGFETCH_TEST_TLS_SKIP", why)` and no server.
pub fn tls_test_server(
    dir: &std::path::Path,
    kind: TlsKind,
) -> ((String, String), Option<TlsServer>) {
    let files = [("ok", http_response("200 OK", "", "hello over tls"))];
    let started = std::fs::create_dir_all(dir)
        .map_err(|e| format!("create {}: {e}", dir.display()))
        .and_then(|()| match kind {
            TlsKind::SelfSigned => self_signed_tls_server(dir, "IP:127.0.0.1", &files),
            TlsKind::UnknownIssuer => tls_server(dir, "IP:127.0.0.1", &files),
        });
    match started {
        Ok(server) => (
            (
                "BGFETCH_TEST_TLS_URL".to_owned(),
                format!("https://127.0.0.1:{}/ok", server.port),
            ),
            Some(server),
        ),
        Err(why) => {
            // straight to the process's stderr: libtest hides what a passing test eprintln!s
            use std::io::Write;
            let why = format!("no TLS test server (openssl): {}", why.trim());
            let _ = writeln!(
                std::io::stderr(),
                "NOTICE: {why}; the TLS cases are skipped"
            );
            (("BGFETCH_TEST_TLS_SKIP".to_owned(), why), None)
        }
    }
}

/// Compiles and runs `ffi-tests/c/<name>.c` under the variant.
pub fn run_c_program(name: &str, v: &Variant) -> RunOutcome {
    let bin = compile(name, v);
    run_binary(&bin, name, v)
}

/// Compiles and runs one C test program; panics with its output unless it passes.
pub fn run_c_test(name: &str, v: &Variant) {
    let r = run_c_program(name, v);
    if r.passed {
        println!(
            "{name}: passed in {:.1} s\n{}",
            r.took.as_secs_f64(),
            r.output
        );
    } else {
        panic!("{}", r.failure_report(&format!("C test {name}")));
    }
}

/// C source without its comments, string literals and character literals (each replaced by
/// a space), so that only code is left.
pub fn c_code_only(text: &str) -> String {
    let mut code = String::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix("/*") {
            rest = after.find("*/").map_or("", |i| &after[i + 2..]);
            code.push(' ');
        } else if let Some(after) = rest.strip_prefix("//") {
            rest = after.find('\n').map_or("", |i| &after[i..]);
        } else if c == '"' || c == '\'' {
            // a literal: up to the matching unescaped quote
            let mut chars = rest[1..].char_indices();
            let mut end = rest.len();
            while let Some((i, d)) = chars.next() {
                if d == '\\' {
                    chars.next();
                } else if d == c {
                    end = 1 + i + 1;
                    break;
                }
            }
            rest = &rest[end..];
            code.push(' ');
        } else {
            code.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    code
}

/// The names of the functions `include/bgfetch.h` declares (callback typedefs `(*name)(` are
/// not functions).
pub fn header_functions() -> Vec<String> {
    let text = std::fs::read_to_string(include_dir().join("bgfetch.h")).expect("read bgfetch.h");
    let code = c_code_only(&text);
    let bytes = code.as_bytes();
    let mut names = Vec::new();
    let mut i = 0;
    while let Some(off) = code[i..].find("bgfetch_") {
        let start = i + off;
        let mut end = start;
        while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
            end += 1;
        }
        let word_start =
            start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let called = code[end..].trim_start().starts_with('(');
        let typedef_ptr = code[..start].trim_end().ends_with("(*");
        if word_start && called && !typedef_ptr {
            let name = code[start..end].to_owned();
            if !names.contains(&name) {
                names.push(name);
            }
        }
        i = end.max(start + 1);
    }
    names
}
