//! Raw misbehaving TCP servers for integration tests, std only (issue 18: real servers).
//!
//! Each [`Rogue`] binds `127.0.0.1:0`, runs one accept thread plus one thread per connection,
//! counts the connections it accepted, records when each opened and closed, and stops (every
//! connection shut down) when dropped. The kinds:
//!
//! - [`Rogue::ssh_banner`]: sends `SSH-2.0-OpenSSH_9.2p1\r\n` at once, then waits, reading and
//!   discarding whatever arrives, until the client closes: not HTTP at all.
//! - [`Rogue::bad_request`]: reads what arrives (a request, a TLS ClientHello), answers
//!   `HTTP/1.1 400 Bad Request` with `Connection: close` and closes, as nginx answers TLS on a
//!   plain-HTTP port.
//! - [`Rogue::trickle_head`]: reads the request head, then sends a response head one byte every
//!   100 ms, forever: the status line, then endless header lines, never the blank line that
//!   ends a head. A connection counts as closed once the client's close is seen (within about
//!   100 ms).
//! - [`Rogue::stale_keep_alive`]: answers `GET /bytes/<n>[?seed=S]` with `pattern(n, S)`,
//!   `Content-Length` and no `Connection` header (so the connection stays open for reuse), once
//!   per connection; a second request on the same connection is read in full and then the
//!   connection is closed (FIN) without an answer: the stale keep-alive connection of a server
//!   with a max-requests-per-connection limit or an idle timeout.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::server::{accept_until, pattern, stop_accepting};

/// The banner of [`Rogue::ssh_banner`].
pub const SSH_BANNER: &[u8] = b"SSH-2.0-OpenSSH_9.2p1\r\n";
/// The interval between two bytes of [`Rogue::trickle_head`].
pub const TRICKLE_INTERVAL: Duration = Duration::from_millis(100);
/// Granularity of the waits that watch for the stop flag.
const POLL: Duration = Duration::from_millis(100);
/// Most bytes of a request head read.
const MAX_HEAD: usize = 64 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    SshBanner,
    BadRequest,
    TrickleHead,
    StaleKeepAlive,
}

/// When one connection opened and, once it has, closed.
#[derive(Clone, Copy, Debug)]
pub struct ConnLife {
    pub opened: Instant,
    pub closed: Option<Instant>,
}

impl ConnLife {
    /// How long the connection lasted (so far, if still open).
    pub fn duration(&self) -> Duration {
        self.closed.unwrap_or_else(Instant::now) - self.opened
    }
}

struct Shared {
    kind: Kind,
    stop: AtomicBool,
    accepted: AtomicU64,
    answered: AtomicU64,
    dropped: AtomicU64,
    lives: Mutex<Vec<ConnLife>>,
    /// Request lines received (the first line of each request head), in order.
    request_lines: Mutex<Vec<String>>,
    /// Clones of live connections, shut down when the server is dropped.
    live: Mutex<HashMap<usize, TcpStream>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

/// A running misbehaving server; dropping it stops it.
pub struct Rogue {
    port: u16,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl Rogue {
    /// Sends an SSH banner and waits.
    pub fn ssh_banner() -> Rogue {
        Rogue::start(Kind::SshBanner)
    }

    /// Answers anything with `400 Bad Request` and closes.
    pub fn bad_request() -> Rogue {
        Rogue::start(Kind::BadRequest)
    }

    /// Trickles a response head that never ends, one byte every 100 ms.
    pub fn trickle_head() -> Rogue {
        Rogue::start(Kind::TrickleHead)
    }

    /// One response per connection, advertised as keep-alive; the next request on it is
    /// dropped by closing the connection.
    pub fn stale_keep_alive() -> Rogue {
        Rogue::start(Kind::StaleKeepAlive)
    }

    fn start(kind: Kind) -> Rogue {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local_addr").port();
        let shared = Arc::new(Shared {
            kind,
            stop: AtomicBool::new(false),
            accepted: AtomicU64::new(0),
            answered: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            lives: Mutex::new(Vec::new()),
            request_lines: Mutex::new(Vec::new()),
            live: Mutex::new(HashMap::new()),
        });
        let sh = Arc::clone(&shared);
        let accept = thread::Builder::new()
            .name(format!("rogue-accept-{port}"))
            .spawn(move || accept_loop(listener, sh))
            .expect("spawn accept thread");
        Rogue {
            port,
            shared,
            accept: Some(accept),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT` + `path_and_query`.
    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://127.0.0.1:{}{path_and_query}", self.port)
    }

    /// `https://127.0.0.1:PORT` + `path_and_query`.
    pub fn https_url(&self, path_and_query: &str) -> String {
        format!("https://127.0.0.1:{}{path_and_query}", self.port)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// When each accepted connection opened and closed, in the order accepted.
    pub fn lives(&self) -> Vec<ConnLife> {
        lock(&self.shared.lives).clone()
    }

    /// Requests answered ([`Rogue::stale_keep_alive`]: with a body; [`Rogue::bad_request`]:
    /// with the 400).
    pub fn answered(&self) -> u64 {
        self.shared.answered.load(Ordering::SeqCst)
    }

    /// Requests dropped by closing a reused connection ([`Rogue::stale_keep_alive`]).
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::SeqCst)
    }

    /// The first line of each request head received, in order.
    pub fn request_lines(&self) -> Vec<String> {
        lock(&self.shared.request_lines).clone()
    }
}

impl Drop for Rogue {
    fn drop(&mut self) {
        stop_accepting(&self.shared.stop, self.port, &mut self.accept);
        for s in lock(&self.shared.live).values() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut next = 0usize;
    loop {
        let Some(stream) = accept_until(&listener, || shared.stopped()) else {
            return;
        };
        if shared.stopped() {
            return;
        }
        shared.accepted.fetch_add(1, Ordering::SeqCst);
        let index = {
            let mut lives = lock(&shared.lives);
            lives.push(ConnLife {
                opened: Instant::now(),
                closed: None,
            });
            lives.len() - 1
        };
        next += 1;
        let id = next;
        if let Ok(clone) = stream.try_clone() {
            lock(&shared.live).insert(id, clone);
        }
        let sh = Arc::clone(&shared);
        let spawned = thread::Builder::new()
            .name(format!("rogue-conn-{id}"))
            .spawn(move || {
                let _ = stream.set_nodelay(true);
                let _ = stream.set_read_timeout(Some(POLL));
                let _ = serve(&sh, &stream);
                lock(&sh.live).remove(&id);
                let _ = stream.shutdown(Shutdown::Both);
                drop(stream);
                lock(&sh.lives)[index].closed = Some(Instant::now());
            });
        if spawned.is_err() {
            lock(&shared.live).remove(&id);
        }
    }
}

fn serve(shared: &Shared, stream: &TcpStream) -> io::Result<()> {
    let mut s = stream;
    match shared.kind {
        Kind::SshBanner => {
            s.write_all(SSH_BANNER)?;
            wait_for_close(shared, stream);
            Ok(())
        }
        Kind::BadRequest => {
            // Whatever arrives first (a request head, a TLS ClientHello).
            let mut buf = [0u8; 16 * 1024];
            loop {
                match s.read(&mut buf) {
                    Ok(0) => return Ok(()),
                    Ok(_) => break,
                    Err(e) if is_timeout(&e) && !shared.stopped() => continue,
                    Err(e) => return Err(e),
                }
            }
            let body = "<html><body><h1>400 Bad Request</h1></body></html>\r\n";
            let resp = format!(
                "HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            );
            s.write_all(resp.as_bytes())?;
            shared.answered.fetch_add(1, Ordering::SeqCst);
            // Close without destroying the answer by a RST: stop writing, read until the
            // client closes (or 2 s).
            let _ = stream.shutdown(Shutdown::Write);
            let until = Instant::now() + Duration::from_secs(2);
            while Instant::now() < until && !shared.stopped() {
                match s.read(&mut buf) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) if is_timeout(&e) => {}
                    Err(_) => break,
                }
            }
            Ok(())
        }
        Kind::TrickleHead => {
            if read_head(shared, stream)?.is_none() {
                return Ok(());
            }
            let mut line = 0u64;
            let mut pending: Vec<u8> = b"HTTP/1.1 200 OK\r\n".to_vec();
            loop {
                if pending.is_empty() {
                    pending = format!("X-Trickle-{line}: {}\r\n", "t".repeat(40)).into_bytes();
                    line += 1;
                }
                let b = pending.remove(0);
                s.write_all(&[b])?;
                // The pause between two bytes is a read: it sees the client's close.
                let until = Instant::now() + TRICKLE_INTERVAL;
                let mut sink = [0u8; 1024];
                loop {
                    let left = until.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    let _ = stream.set_read_timeout(Some(left));
                    match s.read(&mut sink) {
                        Ok(0) => return Ok(()),
                        Ok(_) => {}
                        Err(e) if is_timeout(&e) => {}
                        Err(e) => return Err(e),
                    }
                    if shared.stopped() {
                        return Ok(());
                    }
                }
            }
        }
        Kind::StaleKeepAlive => {
            let Some(head) = read_head(shared, stream)? else {
                return Ok(());
            };
            let (n, seed) = parse_bytes_target(&head).unwrap_or((0, 0));
            let body = pattern(n, seed);
            let resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\
                 Content-Length: {}\r\nETag: \"{n}-{seed}\"\r\n\r\n",
                body.len()
            );
            s.write_all(resp.as_bytes())?;
            s.write_all(&body)?;
            s.flush()?;
            shared.answered.fetch_add(1, Ordering::SeqCst);
            // The next request on this connection is not answered.
            if read_head(shared, stream)?.is_some() {
                shared.dropped.fetch_add(1, Ordering::SeqCst);
            }
            Ok(())
        }
    }
}

/// Reads and discards until the client closes (or the server stops).
fn wait_for_close(shared: &Shared, mut s: &TcpStream) {
    let mut sink = [0u8; 8192];
    while !shared.stopped() {
        match s.read(&mut sink) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if is_timeout(&e) => {}
            Err(_) => return,
        }
    }
}

/// Reads one request head (up to the blank line); `None` if the client closed first. The
/// first line is logged.
fn read_head(shared: &Shared, mut s: &TcpStream) -> io::Result<Option<String>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_HEAD || shared.stopped() {
            return Ok(None);
        }
        match s.read(&mut byte) {
            Ok(0) => return Ok(None),
            Ok(_) => head.push(byte[0]),
            Err(e) if is_timeout(&e) => {}
            Err(e) => return Err(e),
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let first = head.lines().next().unwrap_or("").to_string();
    lock(&shared.request_lines).push(first);
    Ok(Some(head))
}

/// `(n, seed)` of a request line `GET /bytes/<n>[?..seed=S..] HTTP/1.1`.
fn parse_bytes_target(head: &str) -> Option<(u64, u64)> {
    let target = head.lines().next()?.split_whitespace().nth(1)?;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let n = path.strip_prefix("/bytes/")?.parse().ok()?;
    let seed = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("seed="))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Some((n, seed))
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}
