//! Builds and runs the C test programs of `ffi-tests/c/` against the static library.
//!
//! Each `ffi-tests/c/test_*.c` is compiled with
//! `cc -std=c11 -Wall -Wextra -Werror -pedantic -I include -pthread` (plus `$BGFETCH_C_CFLAGS`),
//! linked statically against `libbgfetch.a` (found next to this test executable, in
//! `target/<profile>/deps`), and run as `test_x <server base URL> <fresh temporary directory>`
//! (prefixed with `$BGFETCH_C_WRAPPER` when set, e.g. `valgrind --error-exitcode=1`), with
//! `BGFETCH_TEST_OWN_SERVER` (a test server of that run alone) and `BGFETCH_TEST_CONNECT_PROXY`
//! (a CONNECT proxy) in its environment, as `test_network.c` needs them, and, for
//! `test_real_servers.c`, `BGFETCH_TEST_TLS_URL` (a TLS server with a self-signed
//! certificate; without openssl, a NOTICE and `BGFETCH_TEST_TLS_SKIP`). A program
//! that exits non-zero, or runs longer than 120 s, fails its test; its output is printed.
//! The runner itself lives in `tests/common/ffi_runner.rs` (shared with `tests/sanitizers.rs`).
//!
//! Environment:
//! - `BGFETCH_C_WRAPPER`: a command (split on whitespace) put before each test binary.
//! - `BGFETCH_C_CFLAGS`: extra flags (split on whitespace) for compiling and linking, e.g.
//!   `-fsanitize=address,undefined -fno-omit-frame-pointer`.
//! - `BGFETCH_C_TIMEOUT_S`: overrides the 120 s limit per program (e.g. under valgrind).
//! - `BGFETCH_STRESS_SECONDS`: how long `test_stress.c` runs (default 30).
//! - `BGFETCH_TEST_ONLY`: runs only the test functions of `test_trust.c` whose names contain
//!   one of these comma-separated strings (for debugging one item).
//! - `CC` / `CXX`: the compilers (default `cc` / `c++`).
#![allow(dead_code, unused_imports)]

mod common;
use common::ffi_runner::{
    self, c_code_only, c_dir, header_functions, include_dir, run_with_timeout, Variant,
};
use common::*;

use std::process::{Command, Stdio};
use std::time::Duration;

/// The build of this file: plain, or as `BGFETCH_C_*` ask.
fn variant() -> Variant {
    Variant::from_env("ffi_c")
}

fn out_dir() -> std::path::PathBuf {
    variant().out_dir()
}

/// Compiles and runs one C test program; panics with its output unless it exits 0.
fn run_c_test(name: &str) {
    ffi_runner::run_c_test(name, &variant());
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
    test_bad_input,
    test_trust,
    test_stress,
    test_network,
    test_states,
    test_real_servers,
    test_segments,
);

/// The header is valid C11 and C++17, and can be included twice (include guard); in C++17 its
/// status returns are `[[nodiscard]]`.
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
    let mut cmd = Command::new(ffi_runner::cc());
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
    cmd.args(ffi_runner::CXX17_STRICT)
        .args(["-fsyntax-only", "-I"])
        .arg(include_dir())
        .arg(&cxx_src);
    let (ok, how, text) = run_with_timeout(cmd, Duration::from_secs(60));
    assert!(ok, "bgfetch.h does not compile as C++17 ({how}):\n{text}");

    // In C++17 a status return is [[nodiscard]]: ignoring one is a warning (an error here),
    // discarding it with a (void) cast is fine.
    let discard = |body: &str| {
        let src = dir.join("header_nodiscard.cpp");
        std::fs::write(
            &src,
            format!(
                "#include \"bgfetch.h\"\n\
                 int main() {{ bgfetch_config *c = bgfetch_config_new(\"s\"); {body} \
                 bgfetch_config_free(c); return 0; }}\n"
            ),
        )
        .unwrap();
        let mut cmd = Command::new(&cxx);
        cmd.args(["-std=c++17", "-Wall", "-Werror", "-fsyntax-only", "-I"])
            .arg(include_dir())
            .arg(&src);
        run_with_timeout(cmd, Duration::from_secs(60))
    };
    let (ok, _, text) = discard("bgfetch_config_set_quota(c, 1);");
    assert!(
        !ok,
        "an ignored bgfetch_status compiled without a warning:\n{text}"
    );
    assert!(
        text.contains("nodiscard") || text.contains("unused-result"),
        "{text}"
    );
    let (ok, how, text) = discard("(void)bgfetch_config_set_quota(c, 1);");
    assert!(
        ok,
        "a (void)-discarded status did not compile ({how}):\n{text}"
    );
}

/// `ffi-tests/c/test_bad_input.c` calls (in code, not in a comment or a string) every function
/// the header declares. Its NULL-argument part is generated from the header by
/// `ffi-tests/c/gen_bad_input.py`; this catches a new function that its output lacks.
#[test]
fn bad_input_covers_every_header_function() {
    let funcs = header_functions();
    assert!(
        funcs.len() > 20 && funcs.iter().any(|f| f == "bgfetch_fetch"),
        "the header parser found too few functions: {funcs:?}"
    );
    let src = c_code_only(
        &std::fs::read_to_string(c_dir().join("test_bad_input.c"))
            .expect("read ffi-tests/c/test_bad_input.c"),
    );
    let called = |f: &str| {
        let call = format!("{f}(");
        src.match_indices(&call).any(|(i, _)| {
            let before = src[..i].chars().next_back();
            !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        })
    };
    let missing: Vec<&String> = funcs.iter().filter(|f| !called(f)).collect();
    assert!(
        missing.is_empty(),
        "functions of include/bgfetch.h that ffi-tests/c/test_bad_input.c never calls \
         (run `python3 ffi-tests/c/gen_bad_input.py` and add their cases): {missing:?}"
    );
}

/// The generated part of `ffi-tests/c/test_bad_input.c` is what `gen_bad_input.py` makes of
/// the current header (skipped, with a notice, without python3).
#[test]
fn bad_input_generated_part_is_current() {
    if !ffi_runner::tool_available("python3") {
        // straight to the process's stderr: libtest hides what a passing test eprintln!s
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "NOTICE: python3 not found; skipping the gen_bad_input.py --check"
        );
        return;
    }
    let mut cmd = Command::new("python3");
    cmd.arg(c_dir().join("gen_bad_input.py")).arg("--check");
    let (ok, how, text) = run_with_timeout(cmd, Duration::from_secs(60));
    assert!(
        ok,
        "ffi-tests/c/test_bad_input.c is stale ({how}): run `python3 ffi-tests/c/gen_bad_input.py`\n{text}"
    );
}
