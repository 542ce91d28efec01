//! The C test suite (`ffi-tests/c/test_*.c`) under sanitizers, inside `cargo test`.
//!
//! Three runs, each with the runner of `tests/common/ffi_runner.rs` (the one `tests/ffi_c.rs`
//! uses), plus `sanitizers_catch_planted_bugs`, which proves that each tool is really active
//! here by running small programs with a planted bug that it must report.
//!
//! **ASan + UBSan** (`asan_ubsan_c_suite`): every test program compiled with
//! `-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all` and linked
//! with `libbgfetch.a`; `ASAN_OPTIONS=detect_leaks=1` (LeakSanitizer on). The Rust library is
//! not instrumented, so ASan checks the C side and whatever goes through its interceptors
//! (memcpy, read, ...) and its allocator: every Rust allocation is a malloc, so leaks of
//! library objects, double and invalid frees are caught wherever they happen.
//!
//! **valgrind memcheck** (`valgrind_c_suite`): every test program, plain build, under
//! `valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite`. This one
//! also sees invalid reads/writes inside the Rust code. Only definite leaks are errors: Rust
//! std allocates a thread id block (48 bytes) that valgrind calls "possibly lost". Without
//! valgrind the test prints a notice and passes, unless `BGFETCH_REQUIRE_VALGRIND=1`.
//!
//! The ASan and valgrind runs set `BGFETCH_STRESS_SECONDS=5` (`SHORT_STRESS_SECONDS`): they
//! run every program, and `test_stress.c` otherwise runs for 30 s, which valgrind slows down.
//!
//! **ThreadSanitizer** (`tsan_concurrency_c_tests`): the programs of `TSAN_TESTS`
//! (`test_threads.c`, `test_progress.c`, `test_events.c`, `test_trust.c` and the 30 s
//! multi-threaded `test_stress.c`) compiled with `-fsanitize=thread`. What actually happens with a plain TSan
//! build (static library): every program "fails" with dozens of reports of three kinds.
//!  1. Accesses inside libbgfetch: its Rust code is not instrumented, so TSan sees none of its
//!     atomics, parking_lot/std locks or channels (futex based), but it does see the malloc,
//!     realloc and memcpy those threads make through its interceptors, and reports them as
//!     races between the library's own threads (worker vs event thread vs the caller's thread
//!     inside a `bgfetch_` call). False positives.
//!  2. Host data handed across the library's threads: a test initializes the userdata of a
//!     callback, sets the callback, and the callback reads it on the library's event thread.
//!     The setter and the call are ordered by the library's internal lock, which TSan cannot
//!     see. False positives, and in test code.
//!  3. Genuine races in the tests' own code.
//!
//! The choice, so that what remains is only kind 3:
//!  - kind 1: the TSan programs link `libbgfetch.so` (built by cargo next to `libbgfetch.a`)
//!    and run with `TSAN_OPTIONS=ignore_noninstrumented_modules=1`: TSan ignores the memory
//!    accesses of interceptors called from a module that is not instrumented, i.e. exactly
//!    the frames inside libbgfetch (including its copy of Rust std). Every access made by C
//!    code stays checked, also a callback running on a library thread.
//!  - kind 2: `ffi-tests/c/harness.h`, only in a TSan build, wraps the two callback setters
//!    and annotates exactly the happens-before edges the header documents (setter -> each
//!    call of the callback; each call -> the return of the setter that replaces or clears it)
//!    with `__tsan_release` / `__tsan_acquire` on a per-callback trampoline. It adds no other
//!    edge (its bookkeeping uses relaxed atomics), so a test thread and a callback that share
//!    data without their own mutex or atomics are still reported.
//!  - No suppressions file: a `race:` suppression matches any frame of either stack, and the
//!    stack of every callback contains its libbgfetch caller, so `race:bgfetch` would also
//!    hide the races of the tests' own callbacks (kind 3). `sanitizers_catch_planted_bugs`
//!    checks that an unsynchronized counter shared by a progress callback and the main thread
//!    is still reported, and that its mutex-protected twin is not.
//!
//! Timing: the three runs and the planted bugs take about two minutes in all on 2 cores (each
//! run starts two programs at a time; `test_stress.c` alone runs 30 s under TSan); every
//! program has its own time limit.
//!
//! Environment: `CC` (the compiler, default `cc`; gcc or clang with their sanitizer runtimes),
//! `BGFETCH_REQUIRE_VALGRIND=1` (fail instead of skipping when valgrind is missing),
//! `BGFETCH_SAN_JOBS` (programs run at once per run, default 2).

mod common;
use common::ffi_runner::{
    c_dir, c_test_names, compile_file, run_binary, run_c_program, run_with_timeout, tmp_dir,
    tool_available, unique_suffix, RunOutcome, Variant, SANITIZER_EXIT_CODE,
};

use std::io::Write;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The concurrency tests that also run under ThreadSanitizer.
const TSAN_TESTS: &[&str] = &[
    "test_threads",
    "test_progress",
    "test_events",
    "test_trust",
    "test_stress",
];

/// `BGFETCH_STRESS_SECONDS` for `test_stress.c` under ASan and valgrind (the slow runs; TSan
/// keeps the program's default of 30 s, as issue 11 asks of CI).
const SHORT_STRESS_SECONDS: &str = "5";

fn asan_variant() -> Variant {
    let mut v = Variant::asan("ffi_c-asan", Duration::from_secs(180));
    v.env
        .push(("BGFETCH_STRESS_SECONDS".into(), SHORT_STRESS_SECONDS.into()));
    v
}

fn valgrind_variant() -> Variant {
    let mut v = Variant::plain("ffi_c-valgrind");
    v.wrapper = [
        "valgrind",
        "--error-exitcode=1",
        "--leak-check=full",
        "--errors-for-leak-kinds=definite",
    ]
    .map(str::to_owned)
    .to_vec();
    v.env = vec![("BGFETCH_STRESS_SECONDS".into(), SHORT_STRESS_SECONDS.into())];
    v.time_limit = Duration::from_secs(300); // the runner sets the watchdog to 290 s
    v
}

fn tsan_variant() -> Variant {
    let mut v = Variant::plain("ffi_c-tsan");
    v.cflags = vec!["-fsanitize=thread".into()];
    v.link_shared = true;
    v.env = vec![
        (
            "TSAN_OPTIONS".into(),
            format!(
                "ignore_noninstrumented_modules=1:halt_on_error=0:second_deadlock_stack=1:\
                 exitcode={SANITIZER_EXIT_CODE}"
            ),
        ),
        ("BGFETCH_TEST_WATCHDOG_S".into(), "170".into()),
    ];
    v.time_limit = Duration::from_secs(180);
    v
}

fn jobs() -> usize {
    std::env::var("BGFETCH_SAN_JOBS")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(2)
}

/// The first lines of a sanitizer's report in `output`, for the failure message.
fn sanitizer_summary(output: &str) -> String {
    let keys = [
        "ERROR: AddressSanitizer",
        "ERROR: LeakSanitizer",
        "runtime error:",
        "WARNING: ThreadSanitizer",
        "SUMMARY: ",
        "definitely lost",
        "Invalid read",
        "Invalid write",
        "Invalid free",
        "ERROR SUMMARY",
    ];
    let lines: Vec<&str> = output
        .lines()
        .filter(|l| keys.iter().any(|k| l.contains(k)))
        .take(20)
        .collect();
    lines.join("\n")
}

/// Runs the programs under the variant, `jobs()` at a time; panics listing every failure.
fn run_suite(what: &str, v: &Variant, names: &[String]) {
    assert!(!names.is_empty(), "{what}: no C test programs found");
    let started = Instant::now();
    let queue = Mutex::new(names.to_vec());
    let results: Mutex<Vec<(String, RunOutcome)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..jobs().min(names.len()) {
            s.spawn(|| loop {
                let Some(name) = queue.lock().unwrap().pop() else {
                    break;
                };
                let r = run_c_program(&name, v);
                results.lock().unwrap().push((name, r));
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by(|a, b| a.0.cmp(&b.0));
    let mut failures = Vec::new();
    for (name, r) in &results {
        println!(
            "{what}: {name}: {} in {:.1} s",
            if r.passed { "passed" } else { "FAILED" },
            r.took.as_secs_f64()
        );
        if !r.passed {
            failures.push(format!(
                "==== {name} under {what}\nsanitizer lines:\n{}\n{}",
                sanitizer_summary(&r.output),
                r.failure_report(&format!("{name} under {what}"))
            ));
        }
    }
    println!(
        "{what}: {} programs in {:.1} s",
        results.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{what}: {} of {} C programs failed:\n{}",
        failures.len(),
        results.len(),
        failures.join("\n\n")
    );
}

/// Compiles a one-line program with the flags, to tell "no sanitizer runtime" apart from a
/// failing test.
fn probe(flags: &[String], what: &str) {
    // a directory of its own: several tests probe at the same time
    let dir = tmp_dir(&format!("ffi_c-probe/{}", unique_suffix()));
    let src = dir.join("probe.c");
    std::fs::write(&src, "int main(void) { return 0; }\n").unwrap();
    let mut cmd = Command::new(common::ffi_runner::cc());
    cmd.args(flags).arg(&src).arg("-o").arg(dir.join("probe"));
    let (ok, how, text) = run_with_timeout(cmd, Duration::from_secs(60));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        ok,
        "{what}: the C compiler cannot build with {flags:?} ({how}); install its sanitizer \
         runtime (e.g. Debian: gcc with libasan/libubsan/libtsan):\n{text}"
    );
}

#[test]
fn asan_ubsan_c_suite() {
    let v = asan_variant();
    probe(&v.cflags, "ASan+UBSan");
    run_suite("ASan+UBSan", &v, &c_test_names());
}

fn valgrind_missing() -> bool {
    if tool_available("valgrind") {
        return false;
    }
    let required = std::env::var("BGFETCH_REQUIRE_VALGRIND").is_ok_and(|v| v == "1");
    let notice = "NOTICE: valgrind is not installed: the valgrind run of the C suite is SKIPPED \
                  (install valgrind, or set BGFETCH_REQUIRE_VALGRIND=1 to make this an error)";
    assert!(
        !required,
        "BGFETCH_REQUIRE_VALGRIND=1 but valgrind is not installed"
    );
    // straight to the process's stderr: libtest hides what a passing test eprintln!s
    let _ = writeln!(std::io::stderr(), "{notice}");
    true
}

#[test]
fn valgrind_c_suite() {
    if valgrind_missing() {
        return;
    }
    run_suite("valgrind", &valgrind_variant(), &c_test_names());
}

#[test]
fn tsan_concurrency_c_tests() {
    let v = tsan_variant();
    probe(&v.cflags, "TSan");
    let names: Vec<String> = TSAN_TESTS.iter().map(|s| s.to_string()).collect();
    for n in &names {
        assert!(
            c_dir().join(format!("{n}.c")).is_file(),
            "TSAN_TESTS names a missing program {n}.c"
        );
    }
    run_suite("TSan", &v, &names);
}

// ----------------------------------------------------------------------------------------
// planted bugs: each tool must report them (else a green run above would mean nothing)

/// A program with a planted bug, the variant it runs under, and what its output must show.
struct Planted {
    name: &'static str,
    source: String,
    must_show: &'static [&'static str],
}

/// Leaks a library object. It is made on a thread that has ended by the time the leak check
/// runs, so that no stale copy of the pointer on a live stack can hide the leak.
const LEAKED_OPTIONS: &str = r#"#include "harness.h"
static void *leak_one(void *arg) {
    bgfetch_options *o = bgfetch_options_new(); /* a library object that is never freed */
    (void)arg;
    bgfetch_options_set_title(o, "leaked");
    return NULL;
}
int main(int argc, char **argv) {
    pthread_t t;
    h_init(argc, argv);
    pthread_create(&t, NULL, leak_one, NULL);
    pthread_join(t, NULL);
    CHECK(1, "planted: a leaked bgfetch_options");
    return h_done();
}
"#;

const HEAP_OVERFLOW: &str = r#"#include "harness.h"
int main(int argc, char **argv) {
    volatile char *p;
    h_init(argc, argv);
    p = (volatile char *)malloc(8);
    p[8] = 1;                              /* one past the end */
    free((void *)p);
    CHECK(1, "planted: a heap buffer overflow");
    return h_done();
}
"#;

const SIGNED_OVERFLOW: &str = r#"#include "harness.h"
int main(int argc, char **argv) {
    volatile int big = 2147483647;
    int r;
    h_init(argc, argv);
    r = big + (argc > 0);                  /* signed overflow */
    CHECK(r != 0, "planted: a signed integer overflow");
    return h_done();
}
"#;

const USE_AFTER_FREE_OF_LIBRARY_OBJECT: &str = r#"#include "harness.h"
int main(int argc, char **argv) {
    bgfetch_options *o;
    h_init(argc, argv);
    o = bgfetch_options_new();
    bgfetch_options_free(o);
    bgfetch_options_free(o);               /* a double free of a library object */
    CHECK(1, "planted: a double free");
    return h_done();
}
"#;

/// A progress callback and the main thread share a counter; `LOCKED` decides whether they use
/// a mutex. Unlocked, TSan must report the race even though the callback runs on a library
/// thread and the harness annotates the library's own edges.
const CALLBACK_RACE: &str = r#"#include "harness.h"
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static long counter;
static void bump(void) {
    if (LOCKED) pthread_mutex_lock(&mu);
    counter++;
    if (LOCKED) pthread_mutex_unlock(&mu);
}
static long peek(void) {
    long v;
    if (LOCKED) pthread_mutex_lock(&mu);
    v = counter;
    if (LOCKED) pthread_mutex_unlock(&mu);
    return v;
}
static void on_progress_planted(void *ud, bgfetch_registration *r) {
    (void)ud;
    (void)r;
    bump();
}
int main(int argc, char **argv) {
    bgfetch_manager *m;
    bgfetch_registration *r;
    long seen = 0;
    h_init(argc, argv);
    m = h_open("store-planted");
    if (!CHECK(m != NULL, "open")) return h_done();
    r = h_fetch(m, "planted", NULL, U("bytes/400000?seed=1&rate=800000").s, NULL);
    if (!CHECK(r != NULL, "fetch")) return h_done();
    CHECK(bgfetch_registration_set_progress_callback(r, on_progress_planted, NULL, NULL) == BGFETCH_OK, "set");
    while (bgfetch_registration_wait(r, 20) == BGFETCH_E_TIMEOUT) seen += peek();
    seen += peek();
    CHECK(bgfetch_registration_set_progress_callback(r, NULL, NULL, NULL) == BGFETCH_OK, "clear");
    h_diag("seen %ld", seen);
    bgfetch_registration_free(r);
    bgfetch_manager_close(m);
    return h_done();
}
"#;

/// Writes `source` as `<dir>/<name>.c`, compiles it under `v` and runs it.
fn run_planted(v: &Variant, name: &str, source: &str) -> RunOutcome {
    let dir = v.out_dir();
    let src = dir.join(format!("{name}.c"));
    std::fs::write(&src, source).expect("write the planted program");
    let bin = compile_file(&src, name, v).unwrap_or_else(|e| panic!("{e}"));
    run_binary(&bin, name, v)
}

fn expect_caught(tool: &str, v: &Variant, p: &Planted, problems: &mut Vec<String>) {
    let r = run_planted(v, p.name, &p.source);
    let missing: Vec<&&str> = p
        .must_show
        .iter()
        .filter(|s| !r.output.contains(**s))
        .collect();
    if r.passed || !missing.is_empty() {
        problems.push(format!(
            "{tool} did not catch the planted bug of {} (exit: {}, missing in the output: \
             {missing:?}):\n{}",
            p.name, r.how, r.output
        ));
    } else {
        println!("{tool} caught {} ({})", p.name, r.how);
    }
}

fn source_with(template: &str, define: &str) -> String {
    format!("#define {define}\n{template}")
}

#[test]
fn sanitizers_catch_planted_bugs() {
    let mut problems = Vec::new();

    let asan = asan_variant();
    probe(&asan.cflags, "ASan+UBSan");
    for p in [
        Planted {
            name: "planted_leak",
            source: LEAKED_OPTIONS.into(),
            must_show: &["ERROR: LeakSanitizer: detected memory leaks"],
        },
        Planted {
            name: "planted_overflow",
            source: HEAP_OVERFLOW.into(),
            must_show: &["ERROR: AddressSanitizer: heap-buffer-overflow"],
        },
        Planted {
            name: "planted_ub",
            source: SIGNED_OVERFLOW.into(),
            must_show: &["runtime error: signed integer overflow"],
        },
        Planted {
            name: "planted_double_free",
            source: USE_AFTER_FREE_OF_LIBRARY_OBJECT.into(),
            must_show: &["ERROR: AddressSanitizer: attempting double-free"],
        },
    ] {
        expect_caught("ASan+UBSan", &asan, &p, &mut problems);
    }

    if !valgrind_missing() {
        let vg = valgrind_variant();
        for p in [
            Planted {
                name: "planted_leak",
                source: LEAKED_OPTIONS.into(),
                must_show: &["definitely lost", "bgfetch_options_new"],
            },
            Planted {
                name: "planted_double_free",
                source: USE_AFTER_FREE_OF_LIBRARY_OBJECT.into(),
                must_show: &["Invalid free"],
            },
        ] {
            expect_caught("valgrind", &vg, &p, &mut problems);
        }
    }

    let tsan = tsan_variant();
    probe(&tsan.cflags, "TSan");
    expect_caught(
        "TSan",
        &tsan,
        &Planted {
            name: "planted_callback_race",
            source: source_with(CALLBACK_RACE, "LOCKED 0"),
            must_show: &[
                "WARNING: ThreadSanitizer: data race",
                "on_progress_planted",
                "peek",
            ],
        },
        &mut problems,
    );
    // the same program with its mutex: clean (so the annotations do not over-report either)
    let clean = run_planted(
        &tsan,
        "planted_callback_locked",
        &source_with(CALLBACK_RACE, "LOCKED 1"),
    );
    if !clean.passed {
        problems.push(format!(
            "TSan reports the mutex-protected twin of the planted race ({}):\n{}",
            clean.how, clean.output
        ));
    }

    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}
