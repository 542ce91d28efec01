//! Fixtures shared by the Rust tests of the library: temporary stores, a test configuration,
//! and reading a whole body.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bgfetch::{
    Config, FetchOptions, Manager, RecordState, RecordStatus, Registration, Request, Response,
};

use super::server::TestServer;

/// How long a test waits for something that should happen quickly.
pub const WAIT: Option<Duration> = Some(Duration::from_secs(30));

/// A fresh, not yet existing directory under the target's temp dir, unique per call.
pub fn temp_store(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "{}-{name}-{}-{}",
        env!("CARGO_CRATE_NAME"),
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A configuration for a fresh store: the server as base URL, one attempt per request (a
/// fault is final, whatever the no-progress timeout), progress every 20 ms.
pub fn config(server: &TestServer, name: &str) -> Config {
    let mut c = Config::new(temp_store(name));
    c.set_base_url(&server.base()).unwrap();
    c.set_retries(1, 0).unwrap();
    c.set_fail_after_attempts(true);
    c.set_progress_interval(20);
    c
}

/// Starts a fetch of GET requests.
pub fn fetch_urls(m: &Manager, id: &str, urls: &[&str]) -> Arc<Registration> {
    let reqs: Vec<Request> = urls.iter().map(|u| Request::new(u)).collect();
    m.fetch(id, &reqs, &FetchOptions::default()).unwrap()
}

/// The whole body of record `index`, read through the public `Response::read` (blocking while
/// it streams).
pub fn body(reg: &Arc<Registration>, index: usize) -> Vec<u8> {
    let res = reg.response_head(index, None).unwrap();
    let mut out = Vec::new();
    let mut buf = vec![0u8; 7919];
    loop {
        let n = res.read(out.len() as u64, &mut buf, None).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// A record's response and body by the record's index, as the tests ask for them, through the
/// public API only (`Registration::record`, `Record`, `Response`).
pub trait ByIndex {
    /// responseReady of record `index`.
    fn response_head(&self, index: usize, timeout: Option<Duration>) -> bgfetch::Result<Response>;
    /// Body bytes of record `index` stored so far, and whether its body is complete.
    fn body_progress(&self, index: usize) -> (u64, bool);
    /// What record `index` is doing.
    fn record_status(&self, index: usize) -> RecordStatus;
    /// Waits until the body of record `index` is complete.
    fn wait_body(&self, index: usize, timeout: Option<Duration>) -> bgfetch::Result<()>;
    /// Reads body bytes of record `index` (its response must be ready).
    fn read_body(
        &self,
        index: usize,
        offset: u64,
        buf: &mut [u8],
        timeout: Option<Duration>,
    ) -> bgfetch::Result<usize>;
    /// Saves the body of record `index`.
    fn save_body(
        &self,
        index: usize,
        dest: &std::path::Path,
        timeout: Option<Duration>,
    ) -> bgfetch::Result<()>;
    /// The file the body of record `index` is stored in.
    fn body_path(&self, index: usize) -> Option<PathBuf>;
}

impl ByIndex for Arc<Registration> {
    fn response_head(&self, index: usize, timeout: Option<Duration>) -> bgfetch::Result<Response> {
        self.record(index)?.response_ready(timeout)
    }

    fn body_progress(&self, index: usize) -> (u64, bool) {
        let s = self.record(index).unwrap().status();
        (s.stored, s.state == RecordState::Done)
    }

    fn record_status(&self, index: usize) -> RecordStatus {
        self.record(index).unwrap().status()
    }

    fn wait_body(&self, index: usize, timeout: Option<Duration>) -> bgfetch::Result<()> {
        let start = std::time::Instant::now();
        let res = self.response_head(index, timeout)?;
        res.wait(timeout.map(|t| t.saturating_sub(start.elapsed())))
    }

    fn read_body(
        &self,
        index: usize,
        offset: u64,
        buf: &mut [u8],
        timeout: Option<Duration>,
    ) -> bgfetch::Result<usize> {
        self.response_head(index, timeout)?
            .read(offset, buf, timeout)
    }

    fn save_body(
        &self,
        index: usize,
        dest: &std::path::Path,
        timeout: Option<Duration>,
    ) -> bgfetch::Result<()> {
        self.response_head(index, timeout)?.save(dest, timeout)
    }

    fn body_path(&self, index: usize) -> Option<PathBuf> {
        self.record(index)
            .ok()?
            .response_ready(Some(Duration::ZERO))
            .ok()?
            .body_path()
    }
}

/// A mounted tmpfs, unmounted when dropped.
pub struct Unmount(pub PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// Mounts a tmpfs of `size` (`"1m"`; this needs root, as CI has) and unmounts it when
/// dropped; `None`, with a notice that test `name` is skipped, where mounting is not possible.
pub fn mount_tmpfs(name: &str, size: &str) -> Option<Unmount> {
    let mnt = temp_store("tmpfs");
    std::fs::create_dir_all(&mnt).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o"])
        .arg(format!("size={size},mode=0700"))
        .arg("bgfetch-test")
        .arg(&mnt)
        .output();
    let why = match mounted {
        Ok(o) if o.status.success() => return Some(Unmount(mnt)),
        Ok(o) => format!(
            "mount failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => format!("no mount command: {e}"),
    };
    eprintln!("NOTICE: {name} skipped: {why}");
    None
}

/// The directory of fetch `id` in the store (`fetches/<first 16 bytes of sha256(id), hex>`).
pub fn fetch_dir_of(store: &std::path::Path, id: &str) -> PathBuf {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(id.as_bytes());
    let key: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    store.join("fetches").join(key)
}

/// Re-runs this test binary as its single test `test_name` (an `#[ignore]`d one when
/// `ignored`), with `env` set and stdin piped, and hands out what it prints after `CHILD ` on
/// each line (libtest may print other text before it on the same line).
pub fn spawn_test_child(
    test_name: &str,
    ignored: bool,
    env: &[(&str, &std::ffi::OsStr)],
) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    use std::io::BufRead;
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test_name, "--nocapture", "--test-threads=1"]);
    if ignored {
        cmd.arg("--ignored");
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out)
            .lines()
            .map_while(std::result::Result::ok)
        {
            if let Some(at) = line.find("CHILD ") {
                let _ = tx.send(line[at + 6..].to_string());
            }
        }
    });
    (child, rx)
}

/// A configuration for a store on the tmpfs `mnt`, with one attempt that is final.
pub fn tmpfs_config(mnt: &Unmount, server: &TestServer) -> Config {
    let mut cfg = Config::new(mnt.0.join("store"));
    cfg.set_base_url(&server.base()).unwrap();
    cfg.set_retries(1, 0).unwrap();
    cfg.set_fail_after_attempts(true);
    cfg
}

/// Polls `cond` (a state of the library or of a test server, not the passing of time) until it
/// holds, at most 30 s.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Panics unless `got` is `want`, saying how they differ (never dumping the bytes).
pub fn assert_same(got: &[u8], want: &[u8], what: &str) {
    if got != want {
        let first = got.iter().zip(want).position(|(a, b)| a != b);
        panic!(
            "{what}: a wrong body: {} bytes where {} were expected; first difference at {:?}",
            got.len(),
            want.len(),
            first
        );
    }
}

/// The Subresource-Integrity metadata (`sha256-<base64>`) of `data`.
pub fn sri(data: &[u8]) -> String {
    use base64::Engine;
    use sha2::Digest;
    format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(data))
    )
}
