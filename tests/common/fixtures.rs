//! Fixtures shared by the Rust tests of the library: temporary stores, a test configuration,
//! and reading a whole body.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bgfetch::{Config, FetchOptions, Manager, Registration, Request};

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
/// fault is final), progress every 20 ms.
pub fn config(server: &TestServer, name: &str) -> Config {
    let mut c = Config::new(temp_store(name));
    c.set_base_url(&server.base()).unwrap();
    c.set_retries(1, 0).unwrap();
    c.set_progress_interval(20);
    c
}

/// Starts a fetch of GET requests.
pub fn fetch_urls(m: &Manager, id: &str, urls: &[&str]) -> Arc<Registration> {
    let reqs: Vec<Request> = urls.iter().map(|u| Request::new(u)).collect();
    m.fetch(id, &reqs, &FetchOptions::default()).unwrap()
}

/// The whole body of record `index`, read through `read_body` (blocking while it streams).
pub fn body(reg: &Registration, index: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 7919];
    loop {
        let n = reg.read_body(index, out.len() as u64, &mut buf).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&buf[..n]);
    }
}
