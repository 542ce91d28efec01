//! Security properties (issue 7, SECURITY.md): a private store, symlinks never followed out of
//! it, ids and URLs never paths, TLS verified by default, https→http redirects refused,
//! credentials refused and never echoed, response headers bounded in size and count.

mod common;
use common::*;

use std::io::Write;
use std::os::unix::fs::{symlink, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bgfetch::*;
use sha2::Digest;

const WAIT: Option<Duration> = Some(Duration::from_secs(30));
const SECRET: &[u8] = b"SECRET: a file outside the store that must never be touched\n";
const PASSWORD: &str = "hunter2-Pa55";

fn temp_dir(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "security-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A config whose store is `<dir>/store`.
fn config(server: &TestServer, dir: &Path) -> Config {
    let mut c = Config::new(dir.join("store"));
    c.set_base_url(&server.base()).unwrap();
    c.set_retries(1, 0).unwrap();
    c.set_fail_after_attempts(true);
    c.set_progress_interval(20);
    c
}

fn fetch_one(m: &Manager, id: &str, url: &str) -> Arc<Registration> {
    m.fetch(id, &[Request::new(url)], &FetchOptions::default())
        .unwrap()
}

/// The body of record `index`, or the error reading it.
fn try_body(reg: &Arc<Registration>, index: usize) -> Result<Vec<u8>> {
    reg.record(index)?.response_ready(None)?.read_to_end(None)
}

/// The store's key for an id (SHA-256 of the id, first 16 bytes in hex), as documented.
fn key_for(id: &str) -> String {
    sha2::Sha256::digest(id.as_bytes())[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A file outside the store with [`SECRET`] in it; returns its path.
fn outside_file(dir: &Path) -> PathBuf {
    let p = dir.join("outside-secret");
    std::fs::write(&p, SECRET).unwrap();
    p
}

fn assert_untouched(path: &Path) {
    let meta = std::fs::symlink_metadata(path).unwrap();
    assert!(meta.is_file(), "{} was replaced", path.display());
    assert_eq!(
        std::fs::read(path).unwrap(),
        SECRET,
        "{} changed",
        path.display()
    );
}

/// Every path under `dir`, depth first.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        out.push(p.clone());
        if std::fs::symlink_metadata(&p).unwrap().is_dir() {
            out.extend(walk(&p));
        }
    }
    out
}

/// Replaces `path` with a symlink to `target`.
fn plant_symlink(target: &Path, path: &Path) {
    let _ = std::fs::remove_file(path);
    symlink(target, path).unwrap();
}

/// A notice that reaches the terminal even though the test harness captures output.
fn notice(msg: &str) {
    let _ = writeln!(std::io::stderr(), "NOTICE: {msg}");
}

// ----- file modes -----

#[test]
fn the_store_is_0700_and_its_files_0600_under_umask_022() {
    // SAFETY: umask only changes this process's file-creation mask; 022 is the usual default.
    unsafe {
        libc::umask(0o022);
    }
    let server = TestServer::start();
    let dir = temp_dir("modes");
    let cfg = config(&server, &dir);
    let store = cfg.store_dir().to_path_buf();
    {
        let m = Manager::open(cfg.clone()).unwrap();
        let mut post = Request::new("/echo");
        post.set_method("POST").unwrap();
        post.set_body(b"request body");
        let reqs = [post, Request::new("/bytes/100000")];
        let reg = m.fetch("f", &reqs, &FetchOptions::default()).unwrap();
        reg.wait(WAIT).unwrap();
        assert_eq!(reg.snapshot().result, FetchResult::Success);
        // A partial body too.
        let slow = fetch_one(&m, "slow", "/bytes/200000?stall_at=50000&stall_ms=30000");
        let t = Instant::now();
        while slow.body_progress(0).0 == 0 && t.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    // A corrupt state file is quarantined at the next open.
    let junk = store
        .join("fetches")
        .join("0123456789abcdef0123456789abcdef");
    std::fs::create_dir(&junk).unwrap();
    std::fs::set_permissions(&junk, std::fs::Permissions::from_mode(0o700)).unwrap();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(junk.join("state.json"))
        .unwrap();
    f.write_all(b"{not json").unwrap();
    drop(f);
    let m = Manager::open(cfg).unwrap();
    assert_eq!(m.problems().len(), 1, "{:?}", m.problems());
    drop(m);

    let mode = |p: &Path| std::fs::symlink_metadata(p).unwrap().mode() & 0o7777;
    assert_eq!(mode(&store), 0o700);
    let all = walk(&store);
    let names: Vec<String> = all
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for want in [
        "LOCK",
        "fetches",
        "quarantine",
        "state.json",
        "0.req",
        "1.body",
        "heads.log",
    ] {
        assert!(names.iter().any(|n| n == want), "no {want} in {names:?}");
    }
    // The partial body is a `.body` file as well (its head log says it is not complete).
    let slow = store.join("fetches").join(key_for("slow")).join("0.body");
    assert!(slow.is_file(), "{names:?}");
    assert!(!names.iter().any(|n| n.ends_with(".part")), "{names:?}");
    for p in &all {
        let meta = std::fs::symlink_metadata(p).unwrap();
        if meta.is_dir() {
            assert_eq!(mode(p), 0o700, "{}", p.display());
        } else {
            assert!(meta.is_file(), "{} is not a plain file", p.display());
            assert_eq!(mode(p), 0o600, "{}", p.display());
        }
    }
}

// ----- symlinks -----

/// Starts a fetch that stalls after 50000 bytes on its first request only, waits until bytes
/// are stored, and closes the manager: the store then holds the partial `0.body` and its
/// head in `heads.log`.
fn interrupted_fetch(cfg: &Config, url: &str) -> PathBuf {
    let m = Manager::open(cfg.clone()).unwrap();
    let reg = fetch_one(&m, "f", url);
    let t = Instant::now();
    while reg.body_progress(0).0 < 50_000 && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(reg.body_progress(0).0, 50_000);
    m.close();
    let fdir = cfg.store_dir().join("fetches").join(key_for("f"));
    assert!(fdir.join("0.body").is_file());
    fdir
}

#[test]
fn a_symlinked_partial_body_file_is_never_followed_on_resume() {
    let server = TestServer::start();
    let dir = temp_dir("part-link");
    let outside = outside_file(&dir);
    let cfg = config(&server, &dir);
    let url = "/bytes/200000?stall_at=50000&stall_ms=30000&fail_times=1";
    let fdir = interrupted_fetch(&cfg, url);
    plant_symlink(&outside, &fdir.join("0.body"));

    let m = Manager::open(cfg).unwrap();
    let reg = m.get("f").unwrap().unwrap();
    reg.wait(WAIT).unwrap();
    assert_untouched(&outside);
    // Either the body was fetched again into a file of the store, or the record failed.
    match try_body(&reg, 0) {
        Ok(b) => assert!(b == pattern(200_000, 0), "a wrong body"),
        Err(e) => assert!(!e.message().contains("SECRET"), "{e}"),
    }
    let s = reg.snapshot();
    if s.result == FetchResult::Success {
        assert!(std::fs::symlink_metadata(fdir.join("0.body"))
            .unwrap()
            .is_file());
    } else {
        assert_eq!(s.failure_reason, FailureReason::FetchError, "{s:?}");
    }
}

#[test]
fn a_symlinked_body_or_head_is_never_read_through() {
    // Each of the two files of a complete record in turn becomes a symlink to a file outside
    // the store: the body to a secret, the head log to a forged response head.
    for planted in ["0.body", "heads.log"] {
        let server = TestServer::start();
        let dir = temp_dir("body-link");
        let outside = outside_file(&dir);
        let outside_head = dir.join("outside-head");
        let forged = format!(
            "0 {{\"status\":299,\"url\":\"{}\",\"headers\":[[\"X-Outside\",\"forged\"]],\
             \"total_len\":1000}}\n",
            server.url("/forged")
        );
        std::fs::write(&outside_head, &forged).unwrap();
        let cfg = config(&server, &dir);
        {
            let m = Manager::open(cfg.clone()).unwrap();
            let reg = fetch_one(&m, "f", "/bytes/1000");
            reg.wait(WAIT).unwrap();
            assert_eq!(reg.snapshot().result, FetchResult::Success);
        }
        let fdir = cfg.store_dir().join("fetches").join(key_for("f"));
        let target = if planted == "0.body" {
            &outside
        } else {
            &outside_head
        };
        plant_symlink(target, &fdir.join(planted));

        let m = Manager::open(cfg).unwrap();
        let reg = m.get("f").unwrap().unwrap();
        match try_body(&reg, 0) {
            Ok(b) => assert!(b == pattern(1000, 0), "{planted}: a wrong body"),
            Err(e) => assert!(!e.message().contains("SECRET"), "{planted}: {e}"),
        }
        let copy = dir.join("copy");
        if reg.save_body(0, &copy, None).is_ok() {
            assert!(
                std::fs::read(&copy).unwrap() == pattern(1000, 0),
                "{planted}"
            );
        }
        if let Ok(head) = reg.response_head(0, Some(Duration::from_secs(5))) {
            assert_eq!(
                head.header("x-outside"),
                None,
                "{planted}: a response head was read through a symlink out of the store"
            );
            assert_eq!(head.status(), 200, "{planted}");
        }
        drop(m);
        assert_untouched(&outside);
        assert_eq!(std::fs::read_to_string(&outside_head).unwrap(), forged);
    }
}

#[test]
fn a_symlinked_request_body_is_never_uploaded() {
    let server = TestServer::start();
    let dir = temp_dir("req-link");
    let outside = outside_file(&dir);
    let mut cfg = config(&server, &dir);
    cfg.set_timeouts(2000, 30_000).unwrap();
    {
        let m = Manager::open(cfg.clone()).unwrap();
        // A slow reader: the upload (and so the fetch) is still running when the manager closes.
        let mut post = Request::new("/echo?read_rate=2000");
        post.set_method("POST").unwrap();
        post.set_body(&[b'a'; 100_000]);
        let reg = m.fetch("f", &[post], &FetchOptions::default()).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(reg.snapshot().result, FetchResult::None);
    }
    let fdir = cfg.store_dir().join("fetches").join(key_for("f"));
    plant_symlink(&outside, &fdir.join("0.req"));
    server.reset_stats();
    let m = Manager::open(cfg).unwrap();
    let reg = m.get("f").unwrap().unwrap();
    reg.wait(WAIT).unwrap();
    assert_untouched(&outside);
    // Whatever was sent, it was not the outside file.
    for r in server.requests() {
        assert_ne!(r.body_len, SECRET.len() as u64, "{r:?}");
    }
    if let Ok(b) = try_body(&reg, 0) {
        let echo = String::from_utf8_lossy(&b).into_owned();
        let secret_sum: u64 = SECRET.iter().map(|&b| b as u64).sum();
        assert!(!echo.contains(&format!("\"sum\":{secret_sum}")), "{echo}");
    }
}

#[test]
fn symlinked_store_directories_and_lock_are_refused() {
    for name in ["fetches", "quarantine", "LOCK"] {
        let server = TestServer::start();
        let dir = temp_dir("dir-link");
        let outside_dir = dir.join("outside-dir");
        std::fs::create_dir(&outside_dir).unwrap();
        let outside = outside_file(&outside_dir);
        let cfg = config(&server, &dir);
        std::fs::create_dir_all(cfg.store_dir()).unwrap();
        let target = if name == "LOCK" {
            outside.clone()
        } else {
            outside_dir.clone()
        };
        symlink(&target, cfg.store_dir().join(name)).unwrap();
        let e = Manager::open(cfg).err().expect(name);
        assert!(matches!(e, Error::Io(_)), "{name}: {e:?}");
        assert_untouched(&outside);
        let entries: Vec<_> = std::fs::read_dir(&outside_dir).unwrap().collect();
        assert_eq!(entries.len(), 1, "{name}: something was created outside");
    }
}

#[test]
fn a_symlinked_fetch_directory_or_trash_is_not_followed() {
    let server = TestServer::start();
    let dir = temp_dir("fetchdir-link");
    let outside_dir = dir.join("outside-dir");
    std::fs::create_dir(&outside_dir).unwrap();
    let outside = outside_file(&outside_dir);
    // A valid-looking state file in the outside directory.
    let state = format!(
        "{{\"format\":1,\"id\":\"x\",\"title\":null,\"icons\":[],\"download_total\":0,\
         \"requests\":[{{\"url\":\"{}\",\"method\":\"GET\",\"headers\":[],\"body_len\":null,\
         \"integrity\":null}}],\"result\":\"\",\"failure_reason\":\"\",\"outcomes\":[]}}",
        server.url("/bytes/7")
    );
    assert!(bgfetch::fuzzing::parse_state(state.as_bytes()).is_ok());
    std::fs::write(outside_dir.join("state.json"), &state).unwrap();
    let cfg = config(&server, &dir);
    let store = cfg.store_dir().to_path_buf();
    Manager::open(cfg.clone()).unwrap().close();
    symlink(&outside_dir, store.join("fetches").join(key_for("x"))).unwrap();
    symlink(&outside_dir, store.join("trash-planted")).unwrap();

    let m = Manager::open(cfg).unwrap();
    assert!(
        m.get("x").unwrap().is_none(),
        "a symlinked fetch was loaded"
    );
    // A new fetch with that id replaces the link, never writing through it.
    let reg = fetch_one(&m, "x", "/bytes/10");
    reg.wait(WAIT).unwrap();
    assert_eq!(try_body(&reg, 0).unwrap(), pattern(10, 0));
    reg.release().unwrap();
    drop(m);
    assert_untouched(&outside);
    assert_eq!(
        std::fs::read_to_string(outside_dir.join("state.json")).unwrap(),
        state
    );
    assert_eq!(std::fs::read_dir(&outside_dir).unwrap().count(), 2);
}

#[test]
fn a_symlinked_temporary_file_is_never_written_through() {
    // State files are written to `state.tmp` and renamed: a link planted there is not followed.
    let server = TestServer::start();
    let dir = temp_dir("tmp-link");
    let outside = outside_file(&dir);
    let m = Manager::open(config(&server, &dir)).unwrap();
    let reg = fetch_one(&m, "f", "/bytes/10");
    reg.wait(WAIT).unwrap();
    let fdir = m.config().store_dir().join("fetches").join(key_for("f"));
    plant_symlink(&outside, &fdir.join("state.tmp"));
    let r = reg.update_ui(Some("new title"), None);
    assert!(matches!(r, Ok(()) | Err(Error::Io(_))), "{r:?}");
    assert_untouched(&outside);
    // The state file itself is still a plain file in the store.
    assert!(std::fs::symlink_metadata(fdir.join("state.json"))
        .unwrap()
        .is_file());
}

// ----- ids and URLs are never paths -----

#[test]
fn ids_and_urls_never_become_paths() {
    let server = TestServer::start();
    let dir = temp_dir("ids");
    let cfg = config(&server, &dir);
    let store = cfg.store_dir().to_path_buf();
    let passwd_before = std::fs::read("/etc/passwd").ok();
    // Exactly the longest id allowed (64 KiB), made of path syntax.
    let mut long = "é/../".repeat(MAX_ID_LEN / 6);
    long.push_str(&"x".repeat(MAX_ID_LEN - long.len()));
    assert_eq!(long.len(), MAX_ID_LEN);
    let ids = [
        "../../x",
        "/etc/passwd",
        "a\\b",
        "..",
        ".",
        "fetches",
        "LOCK",
        "a/b/../../../c",
        "line\nbreak",
        "\u{202e}rtl",
        long.as_str(),
    ];
    let urls = [
        "/bytes/3/../../../../etc/passwd",
        "/bytes/3?x=/../../../x",
        "/bytes/3#../../x",
        "/%2e%2e/%2e%2e/bytes/3",
    ];
    {
        let m = Manager::open(cfg.clone()).unwrap();
        for id in ids {
            let reqs: Vec<Request> = urls.iter().map(|u| Request::new(u)).collect();
            let reg = m.fetch(id, &reqs, &FetchOptions::default()).unwrap();
            reg.wait(WAIT).unwrap();
            assert_eq!(reg.id(), id);
        }
        for bad in [String::new(), "x".repeat(MAX_ID_LEN + 1), "a\0b".into()] {
            let e = m
                .fetch(&bad, &[Request::new("/bytes/1")], &FetchOptions::default())
                .err()
                .unwrap();
            assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
        }
    }
    // Nothing but the store appeared next to it, and /etc/passwd is as it was.
    let beside: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(beside, vec!["store".to_string()]);
    assert_eq!(std::fs::read("/etc/passwd").ok(), passwd_before);
    // Inside: hashed directory names, numbered files and the fixed names only.
    let fetches: Vec<PathBuf> = std::fs::read_dir(store.join("fetches"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(fetches.len(), ids.len());
    for f in &fetches {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.len() == 32 && name.bytes().all(|b| b.is_ascii_hexdigit()),
            "{name}"
        );
        for e in std::fs::read_dir(f).unwrap() {
            let n = e.unwrap().file_name().to_string_lossy().into_owned();
            let numbered = n.split_once('.').is_some_and(|(i, ext)| {
                i.parse::<usize>().is_ok_and(|i| i < urls.len())
                    && matches!(ext, "body" | "part" | "req")
            });
            assert!(
                n == "state.json" || n == "heads.log" || numbered,
                "unexpected file {n}"
            );
        }
    }
    // Every id comes back from the store unchanged.
    let m = Manager::open(cfg).unwrap();
    let mut got = m.get_ids().unwrap();
    let mut want: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    got.sort();
    want.sort();
    assert!(got == want, "ids changed on the way through the store");
    assert!(m.problems().is_empty(), "{:?}", m.problems());
}

// ----- TLS -----

#[test]
fn https_to_a_plain_http_server_is_fetch_error() {
    let server = TestServer::start();
    let dir = temp_dir("tls-plain");
    // The plain server waits for a request line that the TLS hello never completes: the
    // handshake ends by timeout.
    let mut cfg = config(&server, &dir);
    cfg.set_timeouts(1000, 1000).unwrap();
    let m = Manager::open(cfg).unwrap();
    let url = format!("https://127.0.0.1:{}/bytes/10", server.port());
    let reg = fetch_one(&m, "f", &url);
    reg.wait(WAIT).unwrap();
    let s = reg.snapshot();
    assert_eq!(s.result, FetchResult::Failure);
    assert_eq!(s.failure_reason, FailureReason::FetchError);
    assert!(matches!(
        reg.response_head(0, WAIT),
        Err(Error::FetchFailed(_))
    ));
}

#[test]
fn there_is_no_option_to_turn_tls_verification_off() {
    // The configuration (all of it shows in its Debug form) and the C header have no switch
    // that disables verification; redirects from https to http are refused by default.
    let cfg = Config::new("/nonexistent");
    let debug = format!("{cfg:?}").to_ascii_lowercase();
    for word in ["insecure", "danger", "verify", "accept_invalid", "skip_tls"] {
        assert!(!debug.contains(word), "{word} in {debug}");
    }
    assert!(debug.contains("allow_https_to_http: false"), "{debug}");
    let header =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/bgfetch.h")).unwrap();
    let functions: Vec<&str> = header
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("bgfetch_"))
        .collect();
    assert!(functions.contains(&"bgfetch_config_set_ca_file"));
    for f in functions {
        for word in ["insecure", "danger", "verify", "invalid_cert", "skip"] {
            assert!(!f.contains(word), "{f}");
        }
    }
}

#[test]
fn tls_is_verified_by_default_and_https_to_http_redirects_are_refused() {
    let server = TestServer::start();
    let dir = temp_dir("tls");
    let files = [
        ("ok", http_response("200 OK", "", "hello over tls")),
        (
            "down",
            http_response(
                "302 Found",
                &format!("Location: {}\r\n", server.url("/bytes/10")),
                "",
            ),
        ),
        (
            "up",
            http_response(
                "302 Found",
                "Location: /ok\r\n", // https -> https is fine
                "",
            ),
        ),
    ];
    let tls = match tls_server(&dir, "IP:127.0.0.1", &files) {
        Ok(t) => t,
        Err(e) => {
            notice(&format!(
                "tls_is_verified_by_default_and_https_to_http_redirects_are_refused skipped: {e}"
            ));
            return;
        }
    };
    let url = |p: &str| format!("https://127.0.0.1:{}/{p}", tls.port);
    let outcome = |cfg: Config, path: &str| {
        let m = Manager::open(cfg).unwrap();
        let reg = fetch_one(&m, "f", &url(path));
        reg.wait(WAIT).unwrap();
        let s = reg.snapshot();
        let b = try_body(&reg, 0).ok();
        (s.result, s.failure_reason, b)
    };
    let store = |n: &str| {
        let mut c = Config::new(dir.join(n));
        c.set_retries(1, 0).unwrap();
        c.set_fail_after_attempts(true);
        c
    };

    // Not trusted by the built-in roots: refused.
    let (result, reason, _) = outcome(store("s1"), "ok");
    assert_eq!(
        (result, reason),
        (FetchResult::Failure, FailureReason::FetchError)
    );
    // Trusted through the CA file.
    let trusting = |n: &str| {
        let mut c = store(n);
        c.set_ca_file(tls.ca.to_str().unwrap()).unwrap();
        c
    };
    let (result, _, b) = outcome(trusting("s2"), "ok");
    assert_eq!(result, FetchResult::Success);
    assert_eq!(b.unwrap(), b"hello over tls");
    let (result, _, b) = outcome(trusting("s3"), "up");
    assert_eq!(result, FetchResult::Success);
    assert_eq!(b.unwrap(), b"hello over tls");
    // https -> http: refused by default, followed when the host opts in.
    let (result, reason, _) = outcome(trusting("s4"), "down");
    assert_eq!(
        (result, reason),
        (FetchResult::Failure, FailureReason::FetchError)
    );
    assert!(server.requests().is_empty(), "the http URL was requested");
    let mut opted = trusting("s5");
    opted.set_allow_https_to_http(true);
    let (result, _, b) = outcome(opted, "down");
    assert_eq!(result, FetchResult::Success);
    assert_eq!(b.unwrap(), pattern(10, 0));
}

#[test]
fn a_certificate_for_another_name_is_refused() {
    let dir = temp_dir("tls-name");
    let files = [("ok", http_response("200 OK", "", "hello"))];
    let tls = match tls_server(&dir, "DNS:not-this-host.example", &files) {
        Ok(t) => t,
        Err(e) => {
            notice(&format!(
                "a_certificate_for_another_name_is_refused skipped: {e}"
            ));
            return;
        }
    };
    let mut cfg = Config::new(dir.join("store"));
    cfg.set_retries(1, 0).unwrap();
    cfg.set_fail_after_attempts(true);
    cfg.set_ca_file(tls.ca.to_str().unwrap()).unwrap();
    let m = Manager::open(cfg).unwrap();
    let reg = fetch_one(&m, "f", &format!("https://127.0.0.1:{}/ok", tls.port));
    reg.wait(WAIT).unwrap();
    let s = reg.snapshot();
    assert_eq!(s.failure_reason, FailureReason::FetchError, "{s:?}");
}

// ----- credentials -----

#[test]
fn urls_with_credentials_are_refused_and_never_echoed() {
    let server = TestServer::start();
    let dir = temp_dir("creds");
    let cfg = config(&server, &dir);
    let store = cfg.store_dir().to_path_buf();
    let port = server.port();
    let with_creds = [
        format!("http://alice:{PASSWORD}@127.0.0.1:{port}/bytes/1"),
        format!("http://:{PASSWORD}@127.0.0.1:{port}/bytes/1"),
        format!("http://alice@127.0.0.1:{port}/bytes/1"),
        format!("https://alice:{PASSWORD}@127.0.0.1:{port}/bytes/1"),
        format!("//alice:{PASSWORD}@127.0.0.1:{port}/bytes/1"),
        format!("http://alice:{PASSWORD}@127.0.0.1:{port}/bytes/1#frag"),
    ];
    let m = Manager::open(cfg).unwrap();
    for u in &with_creds {
        let e = m
            .fetch("f", &[Request::new(u)], &FetchOptions::default())
            .err()
            .unwrap_or_else(|| panic!("{u} was accepted"));
        assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
        let msg = format!("{e} {e:?}");
        assert!(!msg.contains(PASSWORD), "the password was echoed: {msg}");
        assert!(!msg.contains("alice"), "the user name was echoed: {msg}");
    }
    let mut c = Config::new(dir.join("other"));
    let e = c
        .set_base_url(&format!("http://alice:{PASSWORD}@127.0.0.1:{port}/"))
        .unwrap_err();
    assert!(!format!("{e} {e:?}").contains(PASSWORD));

    // A redirect to a URL with credentials fails the request, without echoing them.
    // Every byte of the password percent-encoded, so that the request URL does not hold it.
    let encoded: String = PASSWORD.bytes().map(|b| format!("%{b:02X}")).collect();
    let to = format!("http%3A%2F%2Falice%3A{encoded}%40127.0.0.1%3A{port}%2Fbytes%2F1");
    let reg = fetch_one(&m, "r", &format!("/redirect?to={to}"));
    reg.wait(WAIT).unwrap();
    assert_eq!(reg.snapshot().failure_reason, FailureReason::FetchError);
    let e = reg.response_head(0, WAIT).unwrap_err();
    let msg = format!("{e} {e:?}");
    assert!(!msg.contains(PASSWORD), "{msg}");
    assert!(!format!("{:?}", m.problems()).contains(PASSWORD));
    let log = server.requests();
    assert_eq!(log.len(), 1, "the redirect was followed: {log:?}");
    assert!(log.iter().all(|r| r.header("authorization").is_none()));
    drop(m);
    // Nor stored anywhere.
    for p in walk(&store) {
        if p.is_file() {
            let bytes = std::fs::read(&p).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            assert!(
                !text.contains(PASSWORD),
                "{} holds the password",
                p.display()
            );
        }
    }
}

// ----- bounded response headers -----

#[test]
fn response_header_size_and_count_are_bounded() {
    let server = TestServer::start();
    let dir = temp_dir("headers");
    let m = Manager::open(config(&server, &dir)).unwrap();
    let outcome = |id: &str, url: &str| {
        let reg = fetch_one(&m, id, url);
        reg.wait(WAIT).unwrap();
        reg
    };
    // Size: 60 KiB of headers pass, 64 KiB (plus the status line) do not, nor does 1 MiB.
    let reg = outcome("s60", "/headers-flood?kb=60");
    assert_eq!(reg.snapshot().result, FetchResult::Success);
    let head = reg.response_head(0, WAIT).unwrap();
    assert_eq!(head.header("x-flood-59").map(|v| v.len()), Some(1024 - 14));
    for (id, kb) in [("s64", 64), ("s1024", 1024)] {
        let reg = outcome(id, &format!("/headers-flood?kb={kb}"));
        assert_eq!(
            reg.snapshot().failure_reason,
            FailureReason::FetchError,
            "{kb}"
        );
    }
    // Count: 100 headers pass; 200 small ones (well under 64 KiB) do not.
    let many = |n: usize| {
        let q: Vec<String> = (0..n).map(|i| format!("header=X-H{i}%3Av")).collect();
        format!("/bytes/10?{}", q.join("&"))
    };
    let reg = outcome("c100", &many(100));
    assert_eq!(reg.snapshot().result, FetchResult::Success);
    assert_eq!(
        reg.response_head(0, WAIT)
            .unwrap()
            .header("x-h99")
            .as_deref(),
        Some("v")
    );
    let reg = outcome("c200", &many(200));
    assert_eq!(reg.snapshot().failure_reason, FailureReason::FetchError);
}
