//! A small, std-only HTTP/1.1 server for integration tests.
//!
//! It binds `127.0.0.1:0`, runs one accept thread plus one thread per connection and supports
//! keep-alive (HTTP/1.1 default; `Connection: close` honoured; HTTP/1.0 only with
//! `Connection: keep-alive`). Routes (query parameters combine):
//!
//! - `GET|HEAD /bytes/<n>`: `pattern(n, seed)` with `seed`, `etag` (`none`), `lm=none`, `weak`,
//!   `rate`, `chunked`, Range / If-Range / 416, `noranges`, `badrange`, `status`, `cl_delta`,
//!   `reset_at`, `reset_before_headers`, `close_mid_headers`, `fail_times`, `stall_ms`,
//!   `stall_at`, `vary`, `header=Name:Value` (repeatable), `ct`. With `fail_times=N` the
//!   faults (and `status`) apply to the first N requests of that target only.
//!   Servers as real ones misbehave (issue 18):
//!   - `close_delimited=1`: a 200 has neither Content-Length nor chunking; `Connection: close`,
//!     and the body ends when the server closes the connection (FIN). `http10=1`: the same
//!     with an `HTTP/1.0` status line (and no Connection header). A 206 still carries
//!     Content-Range and Content-Length (then the connection closes too). Combines with `rate`,
//!     `reset_at` (a RST mid-body), `fail_times`, Range, `noranges`, `etag`.
//!   - `no_accept_ranges=1`: no `Accept-Ranges: bytes` header (Range requests still work).
//!   - `change_after=K`: the file changes after the first K requests of that target: later
//!     ones get the content (and default ETag) of `seed + 1` (a segmented download's ranges
//!     see a changed file).
//!   - `range=last`: of several `Range` headers the LAST one is used (the default: the first).
//!   - `sub206=A-B`: a request without a Range header gets a 206 for bytes A..=B (clamped to
//!     the body), with `Content-Range: bytes A-B/n`.
//!   - `max_range=N`: every 206 body is at most N bytes; Content-Range says the shorter range.
//!   - `range_status=C` (`range_fail_times=K`, `retry_after=S`): the first K requests of that
//!     target that carry a Range header (all of them without K) get status C with a short
//!     text body (and `Retry-After: S`), whatever `fail_times` says.
//!   - `range_empty200=K`: the first K Range requests of that target get a 200 with
//!     `Content-Length: 0` and the same validators (ETag, Last-Modified). Range requests are
//!     counted per target apart from `fail_times` (one counter for both modes).
//!   - `bad_chunk_at=N` (implies `chunked`): a malformed chunk-size line once the body reaches
//!     byte N of the content (at once for a range that starts at or after N), then the
//!     connection closes. A fault: `fail_times` applies.
//!   - `cl_conflict=D`: a second Content-Length header, D more than the first (which is
//!     right); the connection closes after the body. A fault: `fail_times` applies.
//!   - `fold=1`: an obs-fold header (`X-Folded: first` continued on a line starting with a
//!     space); `space_colon=1`: a header with a space before its colon (`X-Spaced : value`).
//! - `/redirect?to=..&n=K&code=C`, `/redirect-loop`, `/redirect-scheme`.
//! - `/redirect-raw?to=..&code=C`: a redirect whose Location is `to` percent-DECODED to raw
//!   bytes and sent unescaped: `to=%2Fbytes%2F10%3Fname%3D%C3%A9` sends the UTF-8 bytes C3 A9,
//!   `...%3D%E9` the single Latin-1 byte E9.
//! - `ANY /echo` (JSON: method, length, sum, headers; `read_rate`, `vary`, `header`).
//! - `/status/<code>`, `/headers-flood?kb=N` (N KiB of headers: over 64 KiB with `kb=65`),
//!   `/bad-chunked`, `/_stats`, `/_reset`; else 404.
//!
//! Notes: `/_stats` and `/_reset` are neither logged nor counted. With `status=C` the Range
//! header is ignored (full body). Statuses 1xx/204/304 never carry a body. If-Range uses the
//! strong comparison (a weak ETag never matches). `connections` counts connections that carried
//! at least one counted request since the start or the last reset. Each logged request has the
//! time it was received (`at`), after its head and body were read.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The `Last-Modified` value sent by `/bytes/<n>` (unless `lm=none`).
const LAST_MODIFIED: &str = "Wed, 21 Oct 2015 07:28:00 GMT";
/// Maximum size of a request head (request line + header lines + blank line).
const MAX_HEAD: u64 = 64 * 1024;
/// Capacity of the per-connection read and write buffers.
const IO_BUF: usize = 64 * 1024;
/// Size of the pieces an unthrottled body is generated and written in.
const WRITE_PIECE: usize = 256 * 1024;
/// Granularity of interruptible sleeps (so that dropping the server ends stalled threads).
const SLEEP_STEP: Duration = Duration::from_millis(20);

/// Server-wide counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests received (excluding `/_stats` and `/_reset`).
    pub requests: u64,
    /// Connections that carried at least one counted request since start / the last reset.
    pub connections: u64,
    /// Response body bytes written (headers excluded), across all requests.
    pub body_bytes_sent: u64,
    /// Request body bytes read (after de-chunking), across all counted requests.
    pub body_bytes_received: u64,
}

/// One request as received by the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedRequest {
    pub method: String,
    /// The request-target exactly as sent (normally path + query).
    pub target: String,
    /// Header fields in the order received, names as sent.
    pub headers: Vec<(String, String)>,
    /// Length of the (de-chunked) request body.
    pub body_len: u64,
    /// When the server had read the request (head and body), before answering it.
    pub at: Instant,
}

impl LoggedRequest {
    /// Value of the first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of the headers named `name` (case-insensitive), in order.
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// Byte `i` of the test content with seed `seed`: `((i % 251) + 7 * seed + i / 65536) % 256`.
pub fn pattern_byte(i: u64, seed: u64) -> u8 {
    ((i % 251)
        .wrapping_add(seed.wrapping_mul(7))
        .wrapping_add(i / 65536)
        % 256) as u8
}

/// The first `len` bytes of the test content with seed `seed`.
pub fn pattern(len: u64, seed: u64) -> Vec<u8> {
    let len = usize::try_from(len).expect("pattern length fits in memory");
    let mut v = vec![0u8; len];
    fill_pattern(&mut v, 0, seed);
    v
}

/// A port on 127.0.0.1 on which nothing is listening (bound, read, then released).
pub fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

/// Fills `buf` with pattern bytes `start..start + buf.len()`.
///
/// Within one 64 KiB block the pattern is periodic with period 251, so each block segment is
/// produced by computing one period and then doubling it with `copy_within` (memmove), which is
/// fast even in unoptimised test builds.
fn fill_pattern(buf: &mut [u8], start: u64, seed: u64) {
    let mut pos = start;
    let mut done = 0usize;
    while done < buf.len() {
        let block_left = (65536 - pos % 65536) as usize;
        let n = block_left.min(buf.len() - done);
        let phase = (pos % 251) as usize;
        let add = seed.wrapping_mul(7).wrapping_add(pos / 65536) as u8;
        let seg = &mut buf[done..done + n];
        let first = n.min(251);
        for (j, d) in seg[..first].iter_mut().enumerate() {
            *d = (((phase + j) % 251) as u8).wrapping_add(add);
        }
        let mut filled = first;
        while filled < n {
            let c = filled.min(n - filled);
            seg.copy_within(0..c, filled);
            filled += c;
        }
        done += n;
        pos += n as u64;
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct Shared {
    stop: AtomicBool,
    requests: AtomicU64,
    connections: AtomicU64,
    body_bytes_sent: AtomicU64,
    body_bytes_received: AtomicU64,
    /// Bumped by every reset, so connections are re-counted after a reset.
    epoch: AtomicU64,
    log: Mutex<Vec<LoggedRequest>>,
    /// Requests seen per request-target, for `fail_times`.
    fail_counts: Mutex<HashMap<String, u64>>,
    /// Requests with a Range header seen per request-target, for `range_status` and
    /// `range_empty200`.
    range_counts: Mutex<HashMap<String, u64>>,
    /// Requests per target, for `change_after`.
    change_counts: Mutex<HashMap<String, u64>>,
    /// Clones of live connections, shut down when the server is dropped.
    conns: Mutex<HashMap<u64, TcpStream>>,
}

impl Shared {
    fn reset(&self) {
        let mut log = lock(&self.log);
        log.clear();
        self.requests.store(0, Ordering::SeqCst);
        self.connections.store(0, Ordering::SeqCst);
        self.body_bytes_sent.store(0, Ordering::SeqCst);
        self.body_bytes_received.store(0, Ordering::SeqCst);
        self.epoch.fetch_add(1, Ordering::SeqCst);
    }

    fn stats(&self) -> Stats {
        Stats {
            requests: self.requests.load(Ordering::SeqCst),
            connections: self.connections.load(Ordering::SeqCst),
            body_bytes_sent: self.body_bytes_sent.load(Ordering::SeqCst),
            body_bytes_received: self.body_bytes_received.load(Ordering::SeqCst),
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Sleeps `d`, waking early if the server is being dropped.
    fn sleep(&self, d: Duration) {
        let until = Instant::now() + d;
        loop {
            let now = Instant::now();
            if now >= until || self.stopped() {
                return;
            }
            thread::sleep((until - now).min(SLEEP_STEP));
        }
    }

    /// Sleeps until `bytes` at `rate` bytes/second have had time to pass since `started`.
    fn pace(&self, started: Instant, bytes: u64, rate: u64) {
        let due = started + Duration::from_secs_f64(bytes as f64 / rate as f64);
        let now = Instant::now();
        if due > now {
            self.sleep(due - now);
        }
    }
}

/// A running test server; dropping it stops the server.
pub struct TestServer {
    port: u16,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Binds 127.0.0.1:0 and starts serving.
    pub fn start() -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local_addr").port();
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            requests: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            body_bytes_sent: AtomicU64::new(0),
            body_bytes_received: AtomicU64::new(0),
            epoch: AtomicU64::new(0),
            log: Mutex::new(Vec::new()),
            fail_counts: Mutex::new(HashMap::new()),
            range_counts: Mutex::new(HashMap::new()),
            change_counts: Mutex::new(HashMap::new()),
            conns: Mutex::new(HashMap::new()),
        });
        let sh = Arc::clone(&shared);
        let accept = thread::Builder::new()
            .name(format!("testserver-accept-{port}"))
            .spawn(move || accept_loop(listener, sh))
            .expect("spawn accept thread");
        TestServer {
            port,
            shared,
            accept: Some(accept),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT/`
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// `http://127.0.0.1:PORT` + `path_and_query` (a missing leading `/` is added).
    pub fn url(&self, path_and_query: &str) -> String {
        let sep = if path_and_query.starts_with('/') {
            ""
        } else {
            "/"
        };
        format!("http://127.0.0.1:{}{sep}{path_and_query}", self.port)
    }

    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    pub fn requests(&self) -> Vec<LoggedRequest> {
        lock(&self.shared.log).clone()
    }

    /// Zeroes the counters and clears the request log (`fail_times` and Range counters are
    /// kept).
    pub fn reset_stats(&self) {
        self.shared.reset();
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        stop_accepting(&self.shared.stop, self.port, &mut self.accept);
        // Wake every connection thread blocked in read or write.
        for s in lock(&self.shared.conns).values() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut next_id = 0u64;
    loop {
        let Some(stream) = accept_until(&listener, || shared.stopped()) else {
            return;
        };
        if shared.stopped() {
            return;
        }
        next_id += 1;
        let id = next_id;
        if let Ok(clone) = stream.try_clone() {
            lock(&shared.conns).insert(id, clone);
        }
        let sh = Arc::clone(&shared);
        let spawned = thread::Builder::new()
            .name(format!("testserver-conn-{id}"))
            .spawn(move || connection_thread(sh, stream, id));
        if spawned.is_err() {
            lock(&shared.conns).remove(&id);
        }
    }
}

/// How a connection ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Next {
    /// Response complete; the connection may serve another request.
    Keep,
    /// Close normally (FIN).
    Close,
    /// Close normally, but first stop writing and drain what the client still sends, so that
    /// the response is not destroyed by a RST caused by unread data.
    CloseDrain,
    /// Abort the connection with a RST (SO_LINGER 0).
    Reset,
}

fn connection_thread(shared: Arc<Shared>, stream: TcpStream, id: u64) {
    let _ = stream.set_nodelay(true);
    let ending = {
        let mut conn = Conn {
            shared: &shared,
            reader: BufReader::with_capacity(IO_BUF, &stream),
            writer: BufWriter::with_capacity(IO_BUF, &stream),
            counted_epoch: None,
        };
        let ending = conn.run();
        let _ = conn.writer.flush();
        ending
    };
    match ending {
        Next::Reset => set_linger_zero(&stream),
        Next::CloseDrain => {
            let _ = stream.shutdown(Shutdown::Write);
            let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
            let mut sink = [0u8; 8192];
            let mut drained = 0usize;
            while drained < (1 << 20) && !shared.stopped() {
                match (&stream).read(&mut sink) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => drained += n,
                }
            }
        }
        Next::Keep | Next::Close => {}
    }
    // Drop the registry's clone too: the socket is closed (and a RST sent) only on the last close.
    lock(&shared.conns).remove(&id);
    drop(stream);
}

/// Sets SO_LINGER to {on, 0} so that closing the socket sends a RST.
#[cfg(unix)]
pub fn set_linger_zero(stream: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    set_socket_option(stream, libc::SO_LINGER, &linger);
}

/// Sets SO_RCVBUF (which also turns off the receive buffer's autotuning).
#[cfg(unix)]
pub fn set_receive_buffer(stream: &TcpStream, bytes: libc::c_int) {
    set_socket_option(stream, libc::SO_RCVBUF, &bytes);
}

/// `setsockopt(SOL_SOCKET, option, value)`; a failure leaves the socket as it was.
#[cfg(unix)]
fn set_socket_option<T>(stream: &TcpStream, option: libc::c_int, value: &T) {
    use std::os::unix::io::AsRawFd;
    // SAFETY: the fd is a valid, open socket owned by `stream`, and we pass a pointer to an
    // initialised `T` together with its exact size.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            option,
            value as *const T as *const libc::c_void,
            std::mem::size_of::<T>() as libc::socklen_t,
        );
    }
}

#[cfg(not(unix))]
pub fn set_linger_zero(_stream: &TcpStream) {}

#[cfg(not(unix))]
pub fn set_receive_buffer(_stream: &TcpStream, _bytes: i32) {}

struct Request {
    method: String,
    target: String,
    http11: bool,
    headers: Vec<(String, String)>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Value of the last header named `name` (case-insensitive).
    fn last_header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .rev()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether any `name` header contains the comma-separated token `token`.
    fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    fn is_head(&self) -> bool {
        self.method == "HEAD"
    }
}

enum HeadError {
    TooLarge,
    Bad,
    Io,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Framing {
    None,
    Length(u64),
    Chunked,
}

/// Parsed query string: (decoded key, decoded value, raw value).
struct Query {
    pairs: Vec<(String, String, String)>,
}

impl Query {
    fn parse(q: &str) -> Query {
        let pairs = q
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (percent_decode(k), percent_decode(v), v.to_string())
            })
            .collect();
        Query { pairs }
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, v, _)| v.as_str())
    }

    fn raw(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, _, r)| r.as_str())
    }

    fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, _, _)| k == key)
            .map(|(_, v, _)| v.as_str())
    }

    fn u64(&self, key: &str) -> Option<u64> {
        self.get(key).and_then(|v| v.trim().parse().ok())
    }

    fn i64(&self, key: &str) -> Option<i64> {
        self.get(key).and_then(|v| v.trim().parse().ok())
    }

    fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some(v) if !matches!(v, "0" | "false" | "no"))
    }

    /// `Vary` from `vary=` and extra headers from `header=Name:Value`.
    fn extra_headers(&self, out: &mut Vec<(String, String)>) {
        if let Some(v) = self.get("vary") {
            out.push(("Vary".into(), sanitize(v)));
        }
        for h in self.all("header") {
            if let Some((n, v)) = h.split_once(':') {
                let n = sanitize(n.trim());
                if !n.is_empty() {
                    out.push((n, sanitize(v.trim())));
                }
            }
        }
    }
}

fn sanitize(s: &str) -> String {
    s.chars().filter(|c| *c != '\r' && *c != '\n').collect()
}

fn percent_decode(s: &str) -> String {
    String::from_utf8_lossy(&percent_decode_bytes(s)).into_owned()
}

/// `%XX` escapes decoded to bytes; anything else kept as it is.
fn percent_decode_bytes(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(v) = hex {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

fn reason(code: u16) -> &'static str {
    match code {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        418 => "I'm a teapot",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Status",
    }
}

/// Statuses whose responses never carry a body.
fn bodiless_status(code: u16) -> bool {
    code < 200 || code == 204 || code == 304
}

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A parsed `Range: bytes=...` (single range only).
enum RangeSpec {
    From(u64, Option<u64>),
    Suffix(u64),
}

fn parse_range(v: &str) -> Option<RangeSpec> {
    let v = v.trim();
    let (unit, spec) = v.split_once('=')?;
    if !unit.trim().eq_ignore_ascii_case("bytes") || spec.contains(',') {
        return None;
    }
    let (a, b) = spec.trim().split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        return Some(RangeSpec::Suffix(b.parse().ok()?));
    }
    let start: u64 = a.parse().ok()?;
    if b.is_empty() {
        return Some(RangeSpec::From(start, None));
    }
    let end: u64 = b.parse().ok()?;
    if end < start {
        return None;
    }
    Some(RangeSpec::From(start, Some(end)))
}

/// Resolves a range against a representation of `total` bytes: `Some((first, last))` if
/// satisfiable, `None` if not (416).
fn resolve_range(spec: &RangeSpec, total: u64) -> Option<(u64, u64)> {
    match *spec {
        RangeSpec::From(start, end) => {
            if start >= total {
                None
            } else {
                Some((start, end.map_or(total - 1, |e| e.min(total - 1))))
            }
        }
        RangeSpec::Suffix(len) => {
            if len == 0 || total == 0 {
                None
            } else {
                Some((total - len.min(total), total - 1))
            }
        }
    }
}

/// How to send a generated body.
struct BodyPlan {
    /// Offset of the first byte within the pattern.
    start: u64,
    len: u64,
    seed: u64,
    chunked: bool,
    rate: Option<u64>,
    /// (after this many bytes, sleep this many ms)
    stall: Option<(u64, u64)>,
    /// Send at most this many bytes and no chunked terminator (for `reset_at`).
    limit: Option<u64>,
}

struct Conn<'a> {
    shared: &'a Shared,
    reader: BufReader<&'a TcpStream>,
    writer: BufWriter<&'a TcpStream>,
    counted_epoch: Option<u64>,
}

impl Conn<'_> {
    fn run(&mut self) -> Next {
        loop {
            if self.shared.stopped() {
                return Next::Close;
            }
            let req = match self.read_head() {
                Ok(Some(r)) => r,
                Ok(None) | Err(HeadError::Io) => return Next::Close,
                Err(HeadError::TooLarge) => {
                    self.simple_error(431);
                    return Next::CloseDrain;
                }
                Err(HeadError::Bad) => {
                    self.simple_error(400);
                    return Next::CloseDrain;
                }
            };
            let next = match self.handle(&req) {
                Ok(n) => n,
                Err(_) => return Next::Close,
            };
            if self.writer.flush().is_err() {
                return Next::Close;
            }
            match next {
                Next::Keep => {
                    let keep = if req.http11 {
                        !req.has_token("connection", "close")
                    } else {
                        req.has_token("connection", "keep-alive")
                    };
                    if !keep {
                        return Next::Close;
                    }
                }
                other => return other,
            }
        }
    }

    fn simple_error(&mut self, code: u16) {
        let head = format!(
            "HTTP/1.1 {code} {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            reason(code)
        );
        let _ = self.writer.write_all(head.as_bytes());
        let _ = self.writer.flush();
    }

    fn read_head(&mut self) -> Result<Option<Request>, HeadError> {
        let mut total = 0u64;
        let mut line = Vec::with_capacity(256);
        let mut request_line: Option<String> = None;
        let mut headers = Vec::new();
        loop {
            line.clear();
            let remaining = MAX_HEAD - total;
            if remaining == 0 {
                return Err(HeadError::TooLarge);
            }
            let n = (&mut self.reader)
                .take(remaining)
                .read_until(b'\n', &mut line)
                .map_err(|_| HeadError::Io)?;
            total += n as u64;
            if line.last() != Some(&b'\n') {
                if total >= MAX_HEAD {
                    return Err(HeadError::TooLarge);
                }
                if total == 0 {
                    return Ok(None);
                }
                return Err(HeadError::Io);
            }
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            let text = String::from_utf8_lossy(&line);
            if request_line.is_none() {
                if !text.is_empty() {
                    request_line = Some(text.into_owned());
                }
                continue;
            }
            if text.is_empty() {
                break;
            }
            let (name, value) = text.split_once(':').ok_or(HeadError::Bad)?;
            let name = name.trim();
            if name.is_empty() {
                return Err(HeadError::Bad);
            }
            headers.push((name.to_string(), value.trim().to_string()));
        }
        let request_line = request_line.unwrap_or_default();
        let mut parts = request_line.split_whitespace();
        let (Some(method), Some(target), Some(version), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(HeadError::Bad);
        };
        if !version.starts_with("HTTP/1.") {
            return Err(HeadError::Bad);
        }
        Ok(Some(Request {
            method: method.to_string(),
            target: target.to_string(),
            http11: version != "HTTP/1.0",
            headers,
        }))
    }

    /// Reads the request body, calling `on_data` for each piece; returns its length.
    fn read_body(
        &mut self,
        framing: Framing,
        rate: Option<u64>,
        counted: bool,
        on_data: &mut dyn FnMut(&[u8]),
    ) -> io::Result<u64> {
        let started = Instant::now();
        let mut got = 0u64;
        match framing {
            Framing::None => {}
            Framing::Length(n) => {
                self.read_exact_body(n, rate, started, &mut got, counted, on_data)?
            }
            Framing::Chunked => loop {
                let line = self.read_small_line()?;
                let size_str = line.split(';').next().unwrap_or("").trim();
                let size = u64::from_str_radix(size_str, 16)
                    .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
                if size == 0 {
                    // Trailer section.
                    while !self.read_small_line()?.is_empty() {}
                    break;
                }
                self.read_exact_body(size, rate, started, &mut got, counted, on_data)?;
                if !self.read_small_line()?.is_empty() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "missing CRLF after chunk",
                    ));
                }
            },
        }
        Ok(got)
    }

    fn read_exact_body(
        &mut self,
        mut n: u64,
        rate: Option<u64>,
        started: Instant,
        got: &mut u64,
        counted: bool,
        on_data: &mut dyn FnMut(&[u8]),
    ) -> io::Result<()> {
        let piece = match rate {
            Some(r) => (r / 20).clamp(1, 4096) as usize,
            None => IO_BUF,
        };
        let mut buf = vec![0u8; piece.min(n.max(1) as usize)];
        while n > 0 {
            let want = (n.min(buf.len() as u64)) as usize;
            let k = self.reader.read(&mut buf[..want])?;
            if k == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            on_data(&buf[..k]);
            if counted {
                self.shared
                    .body_bytes_received
                    .fetch_add(k as u64, Ordering::SeqCst);
            }
            n -= k as u64;
            *got += k as u64;
            if let Some(r) = rate {
                self.shared.pace(started, *got, r);
            }
        }
        Ok(())
    }

    /// Reads one CRLF-terminated line of at most 8 KiB (chunk-size and trailer lines).
    fn read_small_line(&mut self) -> io::Result<String> {
        let mut line = Vec::new();
        (&mut self.reader).take(8192).read_until(b'\n', &mut line)?;
        if line.last() != Some(&b'\n') {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "bad line"));
        }
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Ok(String::from_utf8_lossy(&line).into_owned())
    }

    fn handle(&mut self, req: &Request) -> io::Result<Next> {
        // Strip an absolute-form prefix ("http://host:port") if present.
        let mut target = req.target.as_str();
        if let Some(rest) = target
            .strip_prefix("http://")
            .or_else(|| target.strip_prefix("https://"))
        {
            target = rest.find('/').map_or("/", |i| &rest[i..]);
        }
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let query = Query::parse(query);
        let internal = path == "/_stats" || path == "/_reset";

        // Request body framing.
        let framing = if req.has_token("transfer-encoding", "chunked") {
            Framing::Chunked
        } else if let Some(cl) = req.header("content-length") {
            match cl.trim().parse::<u64>() {
                Ok(n) => Framing::Length(n),
                Err(_) => {
                    self.simple_error(400);
                    return Ok(Next::CloseDrain);
                }
            }
        } else {
            Framing::None
        };
        let has_body =
            matches!(framing, Framing::Chunked) || matches!(framing, Framing::Length(n) if n > 0);
        if has_body
            && req.http11
            && req
                .header("expect")
                .is_some_and(|e| e.trim().eq_ignore_ascii_case("100-continue"))
        {
            self.writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
            self.writer.flush()?;
        }
        let read_rate = if path == "/echo" {
            query.u64("read_rate").filter(|&r| r > 0)
        } else {
            None
        };
        if read_rate.is_some() {
            // A slow reader: the kernel's autotuned receive buffer (up to tcp_rmem's maximum,
            // often 6 to 32 MB) would take in a whole upload at once, so the client would see
            // it sent long before the server read it. Keep it as small as a busy server's.
            set_receive_buffer(self.reader.get_ref(), 64 * 1024);
        }
        let mut sum = 0u32;
        let mut on_data = |d: &[u8]| {
            let s: u64 = d.iter().map(|&b| u64::from(b)).sum();
            sum = sum.wrapping_add(s as u32);
        };
        let body_len = match self.read_body(framing, read_rate, !internal, &mut on_data) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                self.simple_error(400);
                return Ok(Next::CloseDrain);
            }
            Err(e) => return Err(e),
        };

        if !internal {
            {
                let mut log = lock(&self.shared.log);
                log.push(LoggedRequest {
                    method: req.method.clone(),
                    target: req.target.clone(),
                    headers: req.headers.clone(),
                    body_len,
                    at: Instant::now(),
                });
                self.shared.requests.fetch_add(1, Ordering::SeqCst);
                let epoch = self.shared.epoch.load(Ordering::SeqCst);
                if self.counted_epoch != Some(epoch) {
                    self.counted_epoch = Some(epoch);
                    self.shared.connections.fetch_add(1, Ordering::SeqCst);
                }
            }
        }

        let conn_hdr = if req.http11 {
            if req.has_token("connection", "close") {
                Some("close")
            } else {
                None
            }
        } else if req.has_token("connection", "keep-alive") {
            Some("keep-alive")
        } else {
            Some("close")
        };
        let ctx = Ctx {
            req,
            query: &query,
            conn_hdr,
            internal,
        };

        match path {
            "/_stats" => {
                let s = self.shared.stats();
                let body = format!(
                    "{{\"requests\":{},\"connections\":{},\"body_bytes_sent\":{},\"body_bytes_received\":{}}}",
                    s.requests, s.connections, s.body_bytes_sent, s.body_bytes_received
                );
                self.simple(&ctx, 200, json_ct(), body.as_bytes())
            }
            "/_reset" => {
                self.shared.reset();
                self.simple(&ctx, 200, text_ct(), b"ok")
            }
            "/echo" => {
                let mut headers: Vec<(String, String)> = Vec::new();
                for (n, v) in &req.headers {
                    let n = n.to_ascii_lowercase();
                    match headers.iter_mut().find(|(k, _)| *k == n) {
                        Some((_, existing)) => {
                            existing.push_str(", ");
                            existing.push_str(v);
                        }
                        None => headers.push((n, v.clone())),
                    }
                }
                let hdrs: Vec<String> = headers
                    .iter()
                    .map(|(n, v)| format!("{}:{}", json_str(n), json_str(v)))
                    .collect();
                let body = format!(
                    "{{\"method\":{},\"length\":{},\"sum\":{},\"headers\":{{{}}}}}",
                    json_str(&req.method),
                    body_len,
                    sum,
                    hdrs.join(",")
                );
                let mut h = json_ct();
                query.extra_headers(&mut h);
                self.simple(&ctx, 200, h, body.as_bytes())
            }
            "/redirect" => {
                let Some(to) = query.get("to") else {
                    return self.simple(&ctx, 400, text_ct(), b"missing to\n");
                };
                let n = query.u64("n").unwrap_or(1);
                let code = query
                    .u64("code")
                    .filter(|c| (100..=999).contains(c))
                    .unwrap_or(302) as u16;
                let location = if n > 1 {
                    format!(
                        "/redirect?to={}&n={}&code={}",
                        query.raw("to").unwrap_or(""),
                        n - 1,
                        code
                    )
                } else {
                    to.to_string()
                };
                self.redirect(&ctx, code, &location)
            }
            "/redirect-loop" => self.redirect(&ctx, 302, "/redirect-loop"),
            "/redirect-raw" => {
                let Some(to) = query.raw("to") else {
                    return self.simple(&ctx, 400, text_ct(), b"missing to\n");
                };
                let code = query
                    .u64("code")
                    .filter(|c| (300..=399).contains(c))
                    .unwrap_or(302) as u16;
                // The Location value as raw bytes, unescaped on the wire (CR and LF left out).
                let location: Vec<u8> = percent_decode_bytes(to)
                    .into_iter()
                    .filter(|b| *b != b'\r' && *b != b'\n')
                    .collect();
                let mut head =
                    format!("HTTP/1.1 {code} {}\r\nLocation: ", reason(code)).into_bytes();
                head.extend_from_slice(&location);
                head.extend_from_slice(b"\r\nContent-Length: 0\r\n");
                if let Some(c) = ctx.conn_hdr {
                    head.extend_from_slice(format!("Connection: {c}\r\n").as_bytes());
                }
                head.extend_from_slice(b"\r\n");
                self.writer.write_all(&head)?;
                Ok(Next::Keep)
            }
            "/redirect-scheme" => self.redirect(&ctx, 302, "ftp://127.0.0.1/x"),
            "/headers-flood" => {
                let kb = query.u64("kb").unwrap_or(1).min(1 << 20);
                let mut h = text_ct();
                for i in 0..kb {
                    // Each line is exactly 1024 bytes including ": " and CRLF.
                    let name = format!("X-Flood-{i}");
                    let filler = "f".repeat(1024 - name.len() - 4);
                    h.push((name, filler));
                }
                self.simple(&ctx, 200, h, b"ok")
            }
            "/bad-chunked" => {
                let mut head = String::from(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n",
                );
                if req.is_head() {
                    self.writer.write_all(head.as_bytes())?;
                    return Ok(Next::Close);
                }
                head.push_str("5\r\nhello\r\nzz-not-hex\r\nworld\r\n");
                self.shared.body_bytes_sent.fetch_add(5, Ordering::SeqCst);
                self.writer.write_all(head.as_bytes())?;
                Ok(Next::Close)
            }
            _ => {
                if let Some(rest) = path.strip_prefix("/bytes/") {
                    if let (Ok(n), true) =
                        (rest.parse::<u64>(), req.method == "GET" || req.is_head())
                    {
                        return self.bytes(&ctx, n);
                    }
                } else if let Some(rest) = path.strip_prefix("/status/") {
                    if let Some(code) = rest.parse::<u16>().ok().filter(|c| (100..=999).contains(c))
                    {
                        let body = format!("status {code}\n");
                        return self.simple(&ctx, code, text_ct(), body.as_bytes());
                    }
                }
                self.simple(&ctx, 404, text_ct(), b"not found\n")
            }
        }
    }

    fn redirect(&mut self, ctx: &Ctx, code: u16, location: &str) -> io::Result<Next> {
        let h = vec![("Location".to_string(), sanitize(location))];
        self.simple(ctx, code, h, b"")
    }

    /// Writes a complete response with a Content-Length body.
    fn simple(
        &mut self,
        ctx: &Ctx,
        code: u16,
        mut headers: Vec<(String, String)>,
        body: &[u8],
    ) -> io::Result<Next> {
        let bodiless = bodiless_status(code);
        if code != 204 && !(100..200).contains(&code) {
            let len = if bodiless { 0 } else { body.len() };
            headers.insert(
                1.min(headers.len()),
                ("Content-Length".into(), len.to_string()),
            );
        }
        let head = build_head(code, &headers, ctx.conn_hdr);
        self.writer.write_all(&head)?;
        if !ctx.req.is_head() && !bodiless && !body.is_empty() {
            if !ctx.internal {
                self.shared
                    .body_bytes_sent
                    .fetch_add(body.len() as u64, Ordering::SeqCst);
            }
            self.writer.write_all(body)?;
        }
        Ok(Next::Keep)
    }

    /// `GET|HEAD /bytes/<n>` with all its parameters.
    fn bytes(&mut self, ctx: &Ctx, n: u64) -> io::Result<Next> {
        let q = ctx.query;
        let req = ctx.req;
        let mut seed = q.u64("seed").unwrap_or(0);
        if let Some(k) = q.u64("change_after") {
            // The file changes on the server after K requests of this target.
            let mut counts = lock(&self.shared.change_counts);
            let c = counts.entry(req.target.clone()).or_insert(0);
            *c += 1;
            if *c > k {
                seed += 1;
            }
        }

        // Do the faults apply to this request?
        let faults = match q.u64("fail_times") {
            None => true,
            Some(t) => {
                let mut counts = lock(&self.shared.fail_counts);
                let c = counts.entry(req.target.clone()).or_insert(0);
                *c += 1;
                *c <= t
            }
        };
        // Requests with a Range header are counted apart (`range_status`, `range_empty200`).
        let range_header = if q.get("range") == Some("last") {
            req.last_header("range")
        } else {
            req.header("range")
        };
        let range_n = if range_header.is_some() {
            let mut counts = lock(&self.shared.range_counts);
            let c = counts.entry(req.target.clone()).or_insert(0);
            *c += 1;
            *c
        } else {
            0
        };
        if faults && q.flag("reset_before_headers") {
            return Ok(Next::Reset);
        }
        let stall_ms = if faults {
            q.u64("stall_ms").filter(|&ms| ms > 0)
        } else {
            None
        };
        let stall_at = q.u64("stall_at");
        if let (Some(ms), None) = (stall_ms, stall_at) {
            self.shared.sleep(Duration::from_millis(ms));
        }

        let etag = match q.get("etag") {
            Some("none") => None,
            Some(x) => Some(format!("\"{x}\"")),
            None => Some(format!("\"{n}-{seed}\"")),
        };
        let etag_is_weak = q.flag("weak");
        let etag = etag.map(|e| if etag_is_weak { format!("W/{e}") } else { e });
        let last_modified = if q.get("lm") == Some("none") {
            None
        } else {
            Some(LAST_MODIFIED)
        };
        // With `fail_times`, the status too applies only to the failing requests.
        let status_override = q
            .u64("status")
            .filter(|c| faults && (100..=999).contains(c))
            .map(|c| c as u16);
        let bad_chunk_at = if faults { q.u64("bad_chunk_at") } else { None };
        let chunked = q.flag("chunked") || q.get("bad_chunk_at").is_some();
        let http10 = q.flag("http10");
        let close_delimited = http10 || q.flag("close_delimited");
        let content_type = q
            .get("ct")
            .map(sanitize)
            .unwrap_or_else(|| "application/octet-stream".into());

        let mut headers: Vec<(String, String)> = vec![("Content-Type".into(), content_type)];
        let mut extra: Vec<(String, String)> = Vec::new();
        if !q.flag("no_accept_ranges") {
            extra.push(("Accept-Ranges".into(), "bytes".into()));
        }
        if let Some(e) = &etag {
            extra.push(("ETag".into(), e.clone()));
        }
        if let Some(lm) = last_modified {
            extra.push(("Last-Modified".into(), lm.into()));
        }

        // Answers to Range requests only.
        if range_header.is_some() {
            let status = q.u64("range_status").filter(|c| (100..=999).contains(c));
            if let (Some(code), true) = (
                status,
                q.u64("range_fail_times").is_none_or(|k| range_n <= k),
            ) {
                let mut h = text_ct();
                if let Some(s) = q.get("retry_after") {
                    h.push(("Retry-After".into(), sanitize(s)));
                }
                let body = format!("status {code}\n");
                return self.simple(ctx, code as u16, h, body.as_bytes());
            }
            if q.u64("range_empty200").is_some_and(|k| range_n <= k) {
                headers.append(&mut extra);
                return self.simple(ctx, 200, headers, b"");
            }
        }

        // Range handling.
        let mut code = 200u16;
        let mut start = 0u64;
        let mut len = n;
        let range = if status_override.is_none() && !q.flag("noranges") {
            range_header.and_then(parse_range)
        } else {
            None
        };
        // The bytes of a 206 (first, last), before `max_range`.
        let mut partial: Option<(u64, u64)> = None;
        if let Some(spec) = range {
            let if_range_ok = match req.header("if-range").map(str::trim) {
                None => true,
                Some(v) if v.starts_with('"') || v.starts_with("W/") => {
                    // Strong comparison: weak validators never match.
                    !etag_is_weak && !v.starts_with("W/") && etag.as_deref() == Some(v)
                }
                Some(v) => last_modified == Some(v),
            };
            if if_range_ok {
                match resolve_range(&spec, n) {
                    Some(r) => partial = Some(r),
                    None => {
                        extra.push(("Content-Range".into(), format!("bytes */{n}")));
                        headers.append(&mut extra);
                        q.extra_headers(&mut headers);
                        return self.simple(ctx, 416, headers, b"");
                    }
                }
            }
        } else if range_header.is_none() && status_override.is_none() {
            // `sub206`: a part the client did not ask for.
            partial = q.get("sub206").and_then(|v| {
                let (a, b) = v.split_once('-')?;
                let (a, b): (u64, u64) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                (a <= b && a < n).then(|| (a, b.min(n - 1)))
            });
        }
        if let Some((first, mut last)) = partial {
            if let Some(max) = q.u64("max_range").filter(|&m| m > 0) {
                last = last.min(first + max - 1);
            }
            code = 206;
            start = first;
            len = last - first + 1;
            let shown = if q.flag("badrange") { first + 1 } else { first };
            extra.push(("Content-Range".into(), format!("bytes {shown}-{last}/{n}")));
        }
        let code = status_override.unwrap_or(code);
        let bodiless = bodiless_status(code);

        let cl_delta = if faults {
            q.i64("cl_delta").unwrap_or(0)
        } else {
            0
        };
        let cl_conflict = if faults { q.u64("cl_conflict") } else { None };
        // A close-delimited body: no length, no chunks, the end is the connection's end.
        let until_close = close_delimited && code != 206 && !bodiless;
        let chunked = chunked && !until_close;
        if until_close {
            // Neither Content-Length nor Transfer-Encoding.
        } else if chunked && !bodiless {
            headers.push(("Transfer-Encoding".into(), "chunked".into()));
        } else if code != 204 && !(100..200).contains(&code) {
            let declared = if bodiless {
                0
            } else {
                (len as i128 + cl_delta as i128).max(0) as u64
            };
            headers.push(("Content-Length".into(), declared.to_string()));
            if let Some(d) = cl_conflict {
                headers.push(("Content-Length".into(), (declared + d).to_string()));
            }
        }
        headers.append(&mut extra);
        q.extra_headers(&mut headers);
        if q.flag("fold") {
            // obs-fold: the value continues on a line that starts with a space.
            headers.push(("X-Folded".into(), "first part\r\n second part".into()));
        }
        if q.flag("space_colon") {
            headers.push(("X-Spaced ".into(), "value".into()));
        }
        let conn_hdr = match (http10, close_delimited) {
            (true, _) => None,
            (false, true) => Some("close"),
            (false, false) => ctx.conn_hdr,
        };
        let version = if http10 { "HTTP/1.0" } else { "HTTP/1.1" };
        let head = build_head_version(version, code, &headers, conn_hdr);

        if faults && q.flag("close_mid_headers") {
            let half = (head.len() / 2).max(1);
            self.writer.write_all(&head[..half])?;
            self.writer.flush()?;
            return Ok(Next::Reset);
        }
        self.writer.write_all(&head)?;

        let reset_at = if faults { q.u64("reset_at") } else { None };
        if req.is_head() || bodiless {
            self.writer.flush()?;
            return Ok(if reset_at.is_some() {
                Next::Reset
            } else if close_delimited {
                Next::Close
            } else {
                Next::Keep
            });
        }
        // Bytes of this response before the malformed chunk, if it comes before any reset.
        let bad_after = bad_chunk_at
            .map(|at| at.saturating_sub(start))
            .filter(|&b| chunked && b < len && reset_at.is_none_or(|r| b < r));
        let plan = BodyPlan {
            start,
            len,
            seed,
            chunked,
            rate: q.u64("rate").filter(|&r| r > 0),
            stall: stall_ms.and_then(|ms| stall_at.map(|at| (at, ms))),
            limit: bad_after.or(reset_at),
        };
        self.send_body(&plan)?;
        if bad_after.is_some() {
            self.writer.write_all(b"zz-not-hex\r\nworld\r\n")?;
            self.writer.flush()?;
            return Ok(Next::Close);
        }
        self.writer.flush()?;
        if reset_at.is_some() {
            Ok(Next::Reset)
        } else if close_delimited || cl_conflict.is_some() || (cl_delta != 0 && !chunked) {
            Ok(Next::Close)
        } else {
            Ok(Next::Keep)
        }
    }

    fn send_body(&mut self, plan: &BodyPlan) -> io::Result<()> {
        let total = plan.limit.map_or(plan.len, |l| l.min(plan.len));
        let piece_max = match plan.rate {
            Some(r) => (r / 20).clamp(1, 64 * 1024) as usize,
            None => WRITE_PIECE,
        };
        let mut buf = vec![0u8; (piece_max as u64).min(total).max(1) as usize];
        let started = Instant::now();
        let mut sent = 0u64;
        let mut stall = plan.stall;
        loop {
            if let Some((at, ms)) = stall {
                if sent >= at {
                    self.writer.flush()?;
                    self.shared.sleep(Duration::from_millis(ms));
                    stall = None;
                }
            }
            if sent >= total {
                break;
            }
            let mut n = (total - sent).min(buf.len() as u64);
            if let Some((at, _)) = stall {
                n = n.min(at - sent);
            }
            let n = n as usize;
            fill_pattern(&mut buf[..n], plan.start + sent, plan.seed);
            // Counted before writing, so that a client that has read everything always sees it.
            self.shared
                .body_bytes_sent
                .fetch_add(n as u64, Ordering::SeqCst);
            if plan.chunked {
                write!(self.writer, "{n:x}\r\n")?;
                self.writer.write_all(&buf[..n])?;
                self.writer.write_all(b"\r\n")?;
            } else {
                self.writer.write_all(&buf[..n])?;
            }
            sent += n as u64;
            if let Some(rate) = plan.rate {
                self.writer.flush()?;
                self.shared.pace(started, sent, rate);
            }
            if self.shared.stopped() {
                return Err(io::ErrorKind::Interrupted.into());
            }
        }
        if plan.chunked && plan.limit.is_none() {
            self.writer.write_all(b"0\r\n\r\n")?;
        }
        Ok(())
    }
}

struct Ctx<'a> {
    req: &'a Request,
    query: &'a Query,
    /// Value of the `Connection` response header, if any.
    conn_hdr: Option<&'static str>,
    /// `/_stats` and `/_reset` are not counted in the statistics.
    internal: bool,
}

fn json_ct() -> Vec<(String, String)> {
    vec![("Content-Type".into(), "application/json".into())]
}

fn text_ct() -> Vec<(String, String)> {
    vec![("Content-Type".into(), "text/plain".into())]
}

fn build_head(code: u16, headers: &[(String, String)], conn_hdr: Option<&str>) -> Vec<u8> {
    build_head_version("HTTP/1.1", code, headers, conn_hdr)
}

/// A response head whose status line starts with `version` (`HTTP/1.1`, `HTTP/1.0`).
fn build_head_version(
    version: &str,
    code: u16,
    headers: &[(String, String)],
    conn_hdr: Option<&str>,
) -> Vec<u8> {
    let mut s = format!("{version} {code} {}\r\n", reason(code));
    for (n, v) in headers {
        s.push_str(n);
        s.push_str(": ");
        s.push_str(v);
        s.push_str("\r\n");
    }
    if let Some(c) = conn_hdr {
        s.push_str("Connection: ");
        s.push_str(c);
        s.push_str("\r\n");
    }
    s.push_str("\r\n");
    s.into_bytes()
}

/// Stops a test server's accept thread: raises `stop`, wakes a blocked `accept()` with one
/// connection to `port`, and joins the thread.
pub(crate) fn stop_accepting(stop: &AtomicBool, port: u16, accept: &mut Option<JoinHandle<()>>) {
    stop.store(true, Ordering::SeqCst);
    let _ = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2));
    if let Some(h) = accept.take() {
        let _ = h.join();
    }
}

/// The next connection of a non-blocking-polled accept loop, or `None` once `stopped()` says
/// the server stops (an accept error is retried after 5 ms).
pub(crate) fn accept_until(
    listener: &std::net::TcpListener,
    stopped: impl Fn() -> bool,
) -> Option<std::net::TcpStream> {
    loop {
        match listener.accept() {
            Ok((s, _)) => return Some(s),
            Err(_) if stopped() => return None,
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
        }
    }
}
