//! Runs the Python package's unittest suite (`ffi-tests/python/`) against the INSTALLED
//! package, with a local test server; and `mypy --strict` over the package and its examples.
//!
//! The package is built as users build it: a wheel of `python/` (setuptools-rust compiles the
//! library with cargo and bundles it), installed into a fresh venv under `target/tmp`. To keep
//! this quick the wheel's cargo build reuses this test's own target directory and profile
//! (`CARGO_TARGET_DIR`, `SETUPTOOLS_RUST_CARGO_PROFILE`): the dependencies are already built,
//! only the crate is compiled again as a cdylib. The build requirements (setuptools,
//! setuptools-rust, wheel) come from PyPI into the venv; then the wheel is built without build
//! isolation. The build must show cargo's output (it runs with `-v`, as python/README.md tells
//! users to), and the wheel must hold `bgfetch/libbgfetch.so` and `bgfetch/py.typed`.
//!
//! If the venv or the build requirements cannot be had (no `venv` module, PyPI unreachable,
//! setuptools-rust missing), the suite runs against the source tree instead (`PYTHONPATH`
//! `python/`, `BGFETCH_LIB` the library cargo just built), with a NOTICE. A wheel that fails
//! to BUILD fails the test. Skipped, with a notice, only when `python3` is not installed.
//!
//! The suite gets `BGFETCH_TEST_URL` (the server's base URL), `BGFETCH_TEST_CONNECT_PROXY`
//! (a CONNECT proxy's `http://127.0.0.1:PORT`, for `test_network.py`), `BGFETCH_TEST_TLS_URL`
//! (`https://127.0.0.1:PORT/ok` on `openssl s_server` with a certificate of an unknown issuer,
//! for `test_real_servers.py`; without openssl a NOTICE, and `BGFETCH_TEST_TLS_SKIP` says why)
//! and `BGFETCH_TEST_PACKAGE` (`installed` or `source`, checked by `test_loading.py`). `BGFETCH_PY_FILTER=<pattern>`
//! passes `-k <pattern>` to unittest; `BGFETCH_PY_SOURCE=1` skips the wheel (a quick run
//! against the source tree while working on the package).

mod common;
use common::*;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The whole suite takes well under a minute; this only stops a hang.
const SUITE_LIMIT: Duration = Duration::from_secs(240);
/// Installing the build requirements (network) and building the wheel (cargo).
const SETUP_LIMIT: Duration = Duration::from_secs(300);
const BUILD_LIMIT: Duration = Duration::from_secs(900);

fn python3_available() -> bool {
    Command::new("python3")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The libbgfetch.so `cargo test` just built (next to this test's executable).
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

/// This test's target directory and the cargo profile its library was built with, so that
/// the wheel's cargo build finds the dependencies already built.
fn target_dir_and_profile() -> (PathBuf, String) {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR has a parent")
        .to_path_buf();
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile dir>/deps/<exe>
    let profile_dir = exe.parent().and_then(|d| d.parent());
    let name = profile_dir
        .filter(|p| p.parent() == Some(target.as_path()))
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "debug".into());
    let profile = match name.as_str() {
        "debug" => "dev".to_string(),
        other => other.to_string(),
    };
    (target, profile)
}

fn drain(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        buf
    })
}

struct Ran {
    status: Option<ExitStatus>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Ran {
    fn ok(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    fn report(&self, what: &str) -> String {
        let status = match self.status {
            Some(s) => s.to_string(),
            None => "killed: time limit".into(),
        };
        format!(
            "{what}: {status} after {:.1}s\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.elapsed.as_secs_f64(),
            self.stdout,
            self.stderr
        )
    }
}

/// Runs `cmd` to its end (killed after `limit`), capturing its output.
fn run(cmd: &mut Command, limit: Duration) -> Ran {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return Ran {
                status: None,
                stdout: String::new(),
                stderr: format!("cannot start {cmd:?}: {e}"),
                elapsed: start.elapsed(),
            }
        }
    };
    let out = drain(child.stdout.take().unwrap());
    let err = drain(child.stderr.take().unwrap());
    let status = loop {
        if let Some(s) = child.try_wait().expect("waiting for a child") {
            break Some(s);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Ran {
        status,
        stdout: String::from_utf8_lossy(&out.join().unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&err.join().unwrap()).into_owned(),
        elapsed: start.elapsed(),
    }
}

/// A Python command without the environment that would pick a package or library for it.
fn python(exe: &Path) -> Command {
    let mut cmd = Command::new(exe);
    cmd.env_remove("PYTHONPATH")
        .env_remove("BGFETCH_LIB")
        .env_remove("PYTHONHOME")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .env("PIP_NO_INPUT", "1");
    cmd
}

/// The environment variables cargo sets when it runs a test (not the user's cargo settings).
fn is_set_by_cargo_for_tests(name: &str) -> bool {
    matches!(
        name,
        "CARGO_MANIFEST_DIR"
            | "CARGO_MANIFEST_PATH"
            | "CARGO_CRATE_NAME"
            | "CARGO_PRIMARY_PACKAGE"
            | "CARGO_TARGET_TMPDIR"
            | "CARGO_RUSTC_CURRENT_DIR"
            | "OUT_DIR"
    ) || name.starts_with("CARGO_PKG_")
        || name.starts_with("CARGO_BIN_EXE_")
}

enum Setup {
    /// The venv's python, with the package installed from the wheel.
    Installed { python: PathBuf, log: String },
    /// The wheel could not be tried (why): run against the source tree.
    Fallback(String),
}

/// venv, build requirements, `pip wheel ./python`, `pip install` of the wheel. Panics if the
/// wheel itself fails to build or install.
fn install_wheel(work: &Path) -> Setup {
    let venv = work.join("venv");
    let r = run(
        Command::new("python3").args(["-m", "venv"]).arg(&venv),
        SETUP_LIMIT,
    );
    if !r.ok() {
        return Setup::Fallback(format!(
            "cannot create a venv (python3 -m venv):\n{}",
            r.report("venv")
        ));
    }
    let py = venv.join("bin").join("python");
    let mut log = format!("venv: {:.1}s\n", r.elapsed.as_secs_f64());

    let r = run(
        python(&py).args([
            "-m",
            "pip",
            "install",
            "-q",
            "--retries",
            "2",
            "--timeout",
            "30",
            "setuptools>=77",
            "setuptools-rust>=1.7",
            "wheel",
        ]),
        SETUP_LIMIT,
    );
    if !r.ok() {
        return Setup::Fallback(format!(
            "cannot install the build requirements (setuptools, setuptools-rust, wheel): \
             pip cannot reach PyPI?\n{}",
            r.report("pip install")
        ));
    }
    log += &format!("build requirements: {:.1}s\n", r.elapsed.as_secs_f64());

    let (target, profile) = target_dir_and_profile();
    let wheelhouse = work.join("wheelhouse");
    let mut wheel_cmd = python(&py);
    // What cargo sets for this test process must not reach the wheel's cargo: a build script
    // that watches CARGO_MANIFEST_DIR (ring's) would be rerun, and everything after it rebuilt.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if is_set_by_cargo_for_tests(&name) {
            wheel_cmd.env_remove(&*name);
        }
    }
    let r = run(
        wheel_cmd
            .args([
                "-m",
                "pip",
                "wheel",
                "-v",
                "--no-build-isolation",
                "--no-deps",
                "-w",
            ])
            .arg(&wheelhouse)
            .arg(root().join("python"))
            .env("CARGO_TARGET_DIR", &target)
            .env("SETUPTOOLS_RUST_CARGO_PROFILE", &profile),
        BUILD_LIMIT,
    );
    assert!(
        r.ok(),
        "building the wheel failed (CARGO_TARGET_DIR={}, profile {profile})\n{}",
        target.display(),
        r.report("pip wheel ./python")
    );
    log += &format!(
        "wheel (cargo profile {profile}, target {}): {:.1}s\n",
        target.display(),
        r.elapsed.as_secs_f64()
    );
    // `pip ... -v` shows cargo's own output (python/README.md says so): the command and
    // cargo's closing status line, from cargo's stderr that setup.py leaves uncaptured.
    let shown = format!("{}{}", r.stdout, r.stderr);
    assert!(
        shown.contains("cargo rustc") && shown.contains("Finished `"),
        "pip wheel -v did not show cargo's output\n{}",
        r.report("pip wheel ./python")
    );
    let wheel = std::fs::read_dir(&wheelhouse)
        .expect("the wheelhouse")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .expect("pip wheel left no .whl");
    // The wheel holds the library and the typing marker (what python/README.md promises to
    // a machine that installs the wheel without building it).
    let r = run(
        python(&py)
            .args([
                "-c",
                "import sys, zipfile; print('\\n'.join(zipfile.ZipFile(sys.argv[1]).namelist()))",
            ])
            .arg(&wheel),
        SETUP_LIMIT,
    );
    assert!(r.ok(), "cannot list the wheel\n{}", r.report("zipfile"));
    let names: Vec<&str> = r.stdout.lines().collect();
    for want in [
        "bgfetch/libbgfetch.so",
        "bgfetch/py.typed",
        "bgfetch/__init__.py",
    ] {
        assert!(
            names.contains(&want),
            "{} has no {want}: {names:?}",
            wheel.display()
        );
    }
    let r = run(
        python(&py)
            .args(["-m", "pip", "install", "--no-deps", "--no-index", "-q"])
            .arg(&wheel),
        SETUP_LIMIT,
    );
    assert!(
        r.ok(),
        "installing the wheel failed\n{}",
        r.report("pip install")
    );
    log += &format!(
        "installed {}\n",
        wheel.file_name().unwrap().to_string_lossy()
    );

    // What the suite will import: the venv's package and its bundled library.
    let r = run(
        python(&py).current_dir(work).args([
            "-c",
            "import bgfetch; from bgfetch import _lib; \
             print(bgfetch.__file__); print(_lib.loaded.how, _lib.loaded.path)",
        ]),
        SETUP_LIMIT,
    );
    assert!(
        r.ok(),
        "the installed package does not import\n{}",
        r.report("import")
    );
    assert!(
        r.stdout.contains(&*venv.to_string_lossy()) && r.stdout.contains("bundled"),
        "the installed package is not the venv's with its bundled library:\n{}",
        r.stdout
    );
    log += &r.stdout;
    Setup::Installed { python: py, log }
}

#[test]
fn python_unittest_suite_passes() {
    if !python3_available() {
        println!("NOTICE: python3 not found; skipping the Python package tests");
        return;
    }
    let server = TestServer::start();
    let connect_proxy = ConnectProxy::start();
    let work = temp_store("python-package");
    std::fs::create_dir_all(&work).expect("work dir");
    // A TLS server whose certificate comes from an unknown issuer (test_real_servers.py);
    // without openssl, BGFETCH_TEST_TLS_SKIP says why and those tests skip.
    let (tls_env, tls_server) = common::ffi_runner::tls_test_server(
        &work.join("tls"),
        common::ffi_runner::TlsKind::UnknownIssuer,
    );

    let started = Instant::now();
    let setup = if std::env::var_os("BGFETCH_PY_SOURCE").is_some() {
        Setup::Fallback("BGFETCH_PY_SOURCE is set".into())
    } else {
        install_wheel(&work)
    };
    let setup_time = started.elapsed();

    let (mut cmd, package, setup_log) = match &setup {
        Setup::Installed { python: py, log } => {
            let mut cmd = python(py);
            cmd.env("BGFETCH_TEST_PACKAGE", "installed");
            (
                cmd,
                format!("installed wheel ({})", py.display()),
                log.clone(),
            )
        }
        Setup::Fallback(why) => {
            println!(
                "NOTICE: the Python suite runs against the source tree (python/), not an \
                 installed wheel: {why}"
            );
            let mut cmd = python(Path::new("python3"));
            cmd.env("BGFETCH_TEST_PACKAGE", "source")
                .env("BGFETCH_LIB", library_path())
                .env("PYTHONPATH", root().join("python"));
            (cmd, "source tree".to_string(), String::new())
        }
    };
    cmd.current_dir(root())
        .args(["-m", "unittest", "discover", "-s", "ffi-tests/python", "-v"])
        .env("BGFETCH_TEST_URL", server.base())
        .env("BGFETCH_TEST_CONNECT_PROXY", connect_proxy.url())
        .env(&tls_env.0, &tls_env.1)
        .env("PYTHONFAULTHANDLER", "1");
    if let Ok(filter) = std::env::var("BGFETCH_PY_FILTER") {
        cmd.args(["-k", &filter]);
    }
    let r = run(&mut cmd, SUITE_LIMIT);
    drop(tls_server);
    let report = format!(
        "package: {package}\nserver: {}\nsetup: {:.1}s\n{setup_log}suite: {:.1}s\n{}",
        server.base(),
        setup_time.as_secs_f64(),
        r.elapsed.as_secs_f64(),
        r.report("unittest")
    );
    match r.status {
        None => panic!("the Python suite did not finish within {SUITE_LIMIT:?}\n{report}"),
        Some(s) if !s.success() => panic!("the Python suite failed ({s})\n{report}"),
        Some(_) => println!("{report}"),
    }
    let _ = std::fs::remove_dir_all(&work);
}

/// `mypy --strict` over the package and its examples (python/pyproject.toml's [tool.mypy]),
/// where the `python3` on PATH can import mypy; skipped with a notice otherwise.
#[test]
fn python_package_is_mypy_strict_clean() {
    if !python3_available() {
        println!("NOTICE: python3 not found; skipping mypy");
        return;
    }
    let probe = run(
        python(Path::new("python3")).args(["-c", "import mypy"]),
        SETUP_LIMIT,
    );
    if !probe.ok() {
        println!(
            "NOTICE: mypy is not importable by python3 (pip install mypy); skipping \
             mypy --strict of python/bgfetch and python/examples"
        );
        return;
    }
    let cache = temp_store("mypy-cache");
    let r = run(
        python(Path::new("python3"))
            .current_dir(root().join("python"))
            .args(["-m", "mypy", "--strict", "--cache-dir"])
            .arg(&cache)
            .args(["bgfetch", "examples"]),
        SUITE_LIMIT,
    );
    let _ = std::fs::remove_dir_all(&cache);
    assert!(r.ok(), "mypy --strict found problems\n{}", r.report("mypy"));
    println!("{}", r.report("mypy --strict bgfetch examples"));
}
