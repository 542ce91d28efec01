//! A fault-injecting TCP proxy for integration tests, std only.
//!
//! [`FaultProxy::start`] listens on `127.0.0.1:0` and forwards every accepted connection to a
//! target on the loopback interface, in both directions, with one thread per direction. While
//! traffic flows, any thread may inject faults:
//!
//! - an outage ([`FaultProxy::cut_for`], [`FaultProxy::go_down`] / [`FaultProxy::go_up`]): every
//!   live connection is shut down at once, both sides, and new ones are refused;
//! - a short cut ([`FaultProxy::cut_connections`]): live connections are shut down, new ones
//!   are forwarded as usual;
//! - a bandwidth cap ([`FaultProxy::set_rate`]) on the server→client direction, one token
//!   bucket shared by all connections, so the cap holds for the total;
//! - a latency ([`FaultProxy::set_latency`]) before each server→client chunk.
//!
//! How a refused connection looks to the client: the proxy keeps listening during an outage,
//! so the TCP handshake completes in the kernel, but the proxy accepts the connection and closes
//! it at once with SO_LINGER 0. The client gets a reset: its first read (or write) fails with
//! `ECONNRESET` (a later read may see end-of-file); it never receives a byte. This gives the
//! client an error at once, never a timeout, keeps the port (no rebinding that another socket
//! could race for) and lets [`FaultProxy::connection_attempts`] count the refused connections.
//! A connection shut down by a cut sees end-of-file (possibly followed by a reset).
//!
//! Otherwise the proxy is transparent: an end-of-file from one side reaches the other as an
//! end-of-file (half-close), an error or reset from one side reaches the other as a reset.
//!
//! Every thread ends when the proxy is dropped; buffers are fixed (64 KiB per direction of a
//! connection) and at most [`MAX_LIVE_CONNECTIONS`] connections are forwarded at once.

use super::server::accept_until;
use super::server::set_linger_zero;
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The token bucket of [`FaultProxy::set_rate`] holds this much time's worth of bytes at the
/// current rate: a throttled transfer may run ahead of the rate by at most one bucket.
pub const RATE_BURST: Duration = Duration::from_millis(100);
/// Most connections forwarded at once; further ones are refused as during an outage.
pub const MAX_LIVE_CONNECTIONS: usize = 512;
/// Size of the buffer each direction of a connection is forwarded through.
const IO_BUF: usize = 64 * 1024;
/// Granularity of interruptible waits (so that a cut or dropping the proxy ends them).
const SLEEP_STEP: Duration = Duration::from_millis(10);
/// How long the proxy waits to connect to its target.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Stack size of the proxy's threads (their buffers are on the heap).
const THREAD_STACK: usize = 256 * 1024;

/// A running proxy; dropping it stops every thread and closes every connection.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Listens on 127.0.0.1 port 0 and forwards each connection to `target`, which must be a
    /// loopback address.
    pub fn start(target: SocketAddr) -> FaultProxy {
        assert!(
            target.ip().is_loopback(),
            "the fault proxy forwards to loopback addresses only"
        );
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local_addr");
        let shared = Arc::new(Shared {
            target,
            stop: AtomicBool::new(false),
            cuts: AtomicU64::new(0),
            state: Mutex::new(State {
                outage: Outage::None,
                links: HashMap::new(),
                threads: Vec::new(),
            }),
            bucket: Mutex::new(Bucket {
                rate: 0,
                tokens: 0.0,
                last: Instant::now(),
            }),
            latency_nanos: AtomicU64::new(0),
            attempts: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            to_client: AtomicU64::new(0),
            to_server: AtomicU64::new(0),
        });
        let sh = Arc::clone(&shared);
        let accept = thread::Builder::new()
            .name(format!("faultproxy-accept-{}", addr.port()))
            .stack_size(THREAD_STACK)
            .spawn(move || accept_loop(listener, sh))
            .expect("spawn accept thread");
        FaultProxy {
            addr,
            shared,
            accept: Some(accept),
        }
    }

    /// The address the proxy listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port the proxy listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT` + `path_and_query` (a missing leading `/` is added), as
    /// `TestServer::url`.
    pub fn url(&self, path_and_query: &str) -> String {
        let sep = if path_and_query.starts_with('/') {
            ""
        } else {
            "/"
        };
        format!("http://127.0.0.1:{}{sep}{path_and_query}", self.port())
    }

    /// An outage of length `d`: shuts down every live connection and refuses new ones until
    /// `d` has passed. The outage ends by itself at that deadline (every check compares with the
    /// clock; no call is needed). The latest of `cut_for`, `go_down` and `go_up` wins.
    pub fn cut_for(&self, d: Duration) {
        let mut st = self.shared.lock_state();
        st.outage = Outage::Until(Instant::now() + d);
        self.shared.cut_live(&mut st);
    }

    /// An outage until [`go_up`](Self::go_up): shuts down every live connection and refuses new
    /// ones.
    pub fn go_down(&self) {
        let mut st = self.shared.lock_state();
        st.outage = Outage::Manual;
        self.shared.cut_live(&mut st);
    }

    /// Ends an outage (of either kind) now.
    pub fn go_up(&self) {
        self.shared.lock_state().outage = Outage::None;
    }

    /// Whether new connections are refused now.
    pub fn is_down(&self) -> bool {
        self.shared.lock_state().outage.is_down(Instant::now())
    }

    /// One short cut: shuts down every live connection (both sides) but keeps accepting.
    pub fn cut_connections(&self) {
        let mut st = self.shared.lock_state();
        self.shared.cut_live(&mut st);
    }

    /// Caps the server→client bytes of all connections together at `bytes_per_sec` (0 =
    /// unlimited, the default). Takes effect at once, also for transfers under way. The bucket
    /// starts full when a cap is set on an unlimited proxy (see [`RATE_BURST`]).
    pub fn set_rate(&self, bytes_per_sec: u64) {
        lock(&self.shared.bucket).set_rate(bytes_per_sec, Instant::now());
    }

    /// A delay added before each chunk is forwarded server→client (zero = none, the default).
    pub fn set_latency(&self, d: Duration) {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.shared.latency_nanos.store(nanos, Ordering::SeqCst);
    }

    /// Connections forwarded to the target (refused ones excluded) since the start or the last
    /// [`reset_counters`](Self::reset_counters).
    pub fn connections_accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Connections accepted, refused ones included, since the start or the last reset.
    pub fn connection_attempts(&self) -> u64 {
        self.shared.attempts.load(Ordering::SeqCst)
    }

    /// Bytes forwarded server→client since the start or the last reset. Each chunk is counted
    /// just before it is written, so a client that has read bytes always sees them counted.
    pub fn bytes_to_client(&self) -> u64 {
        self.shared.to_client.load(Ordering::SeqCst)
    }

    /// Bytes forwarded client→server since the start or the last reset, counted as
    /// [`bytes_to_client`](Self::bytes_to_client) is.
    pub fn bytes_to_server(&self) -> u64 {
        self.shared.to_server.load(Ordering::SeqCst)
    }

    /// Zeroes the four counters.
    pub fn reset_counters(&self) {
        for c in [
            &self.shared.attempts,
            &self.shared.accepted,
            &self.shared.to_client,
            &self.shared.to_server,
        ] {
            c.store(0, Ordering::SeqCst);
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        {
            let mut st = self.shared.lock_state();
            self.shared.cut_live(&mut st);
        }
        // Unblock accept().
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2));
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
        // No connection thread starts any more; every live one was shut down or sees `stop`.
        let threads = std::mem::take(&mut self.shared.lock_state().threads);
        for h in threads {
            let _ = h.join();
        }
    }
}

/// Whether new connections are refused.
enum Outage {
    None,
    Until(Instant),
    Manual,
}

impl Outage {
    fn is_down(&self, now: Instant) -> bool {
        match self {
            Outage::None => false,
            Outage::Until(end) => now < *end,
            Outage::Manual => true,
        }
    }
}

/// The two sockets of a forwarded connection; `upstream` is `None` until it is connected.
struct Link {
    client: Arc<TcpStream>,
    upstream: Option<Arc<TcpStream>>,
}

impl Link {
    fn shut_down(&self) {
        let _ = self.client.shutdown(Shutdown::Both);
        if let Some(up) = &self.upstream {
            let _ = up.shutdown(Shutdown::Both);
        }
    }
}

struct State {
    outage: Outage,
    /// Live connections by id.
    links: HashMap<u64, Link>,
    /// One thread per connection (it runs the server→client direction and joins the other).
    threads: Vec<JoinHandle<()>>,
}

/// The token bucket of the server→client direction.
struct Bucket {
    /// Bytes per second; 0 = unlimited.
    rate: u64,
    tokens: f64,
    /// When `tokens` was last brought up to date.
    last: Instant,
}

impl Bucket {
    fn capacity(rate: u64) -> f64 {
        (rate as f64 * RATE_BURST.as_secs_f64()).max(1.0)
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate as f64).min(Self::capacity(self.rate));
        self.last = now;
    }

    fn set_rate(&mut self, rate: u64, now: Instant) {
        if self.rate == 0 {
            self.tokens = Self::capacity(rate);
        } else {
            self.refill(now);
            self.tokens = self.tokens.min(Self::capacity(rate));
        }
        self.rate = rate;
        self.last = now;
    }
}

struct Shared {
    target: SocketAddr,
    stop: AtomicBool,
    /// Bumped (under the state lock) by every cut; a connection older than the last cut ends.
    cuts: AtomicU64,
    state: Mutex<State>,
    bucket: Mutex<Bucket>,
    latency_nanos: AtomicU64,
    attempts: AtomicU64,
    accepted: AtomicU64,
    to_client: AtomicU64,
    to_server: AtomicU64,
}

impl Shared {
    fn lock_state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Whether the connection accepted at cut generation `cuts` must end.
    fn ended(&self, cuts: u64) -> bool {
        self.stopped() || self.cuts.load(Ordering::SeqCst) != cuts
    }

    /// Shuts down every live connection; `st` is the locked state.
    fn cut_live(&self, st: &mut State) {
        self.cuts.fetch_add(1, Ordering::SeqCst);
        for link in st.links.values() {
            link.shut_down();
        }
    }

    /// Sleeps `d`; false (early) if the connection of generation `cuts` must end.
    fn sleep(&self, d: Duration, cuts: u64) -> bool {
        let until = Instant::now() + d;
        loop {
            if self.ended(cuts) {
                return false;
            }
            let now = Instant::now();
            if now >= until {
                return true;
            }
            thread::sleep((until - now).min(SLEEP_STEP));
        }
    }

    /// Waits until the bucket grants some of `want` bytes and returns how many (at least 1);
    /// `None` if the connection of generation `cuts` must end first.
    fn take(&self, want: usize, cuts: u64) -> Option<usize> {
        loop {
            let wait = {
                let mut b = lock(&self.bucket);
                if b.rate == 0 {
                    return Some(want);
                }
                b.refill(Instant::now());
                // Wait for a fair share of a bucket, not for a single byte, to avoid spinning.
                let enough = (want as f64).min((Bucket::capacity(b.rate) / 8.0).max(1.0));
                if b.tokens >= enough {
                    let grant = (b.tokens.floor() as usize).min(want);
                    b.tokens -= grant as f64;
                    return Some(grant);
                }
                Duration::from_secs_f64((enough - b.tokens) / b.rate as f64)
            };
            if !self.sleep(wait.min(SLEEP_STEP), cuts) {
                return None;
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut next_id = 0u64;
    loop {
        let Some(stream) = accept_until(&listener, || shared.stopped()) else {
            return;
        };
        let mut st = shared.lock_state();
        // Checked under the lock, so that Drop's cut sees every link inserted before it.
        if shared.stopped() {
            return;
        }
        shared.attempts.fetch_add(1, Ordering::SeqCst);
        if st.outage.is_down(Instant::now()) || st.links.len() >= MAX_LIVE_CONNECTIONS {
            drop(st);
            refuse(stream);
            continue;
        }
        next_id += 1;
        let id = next_id;
        let client = Arc::new(stream);
        let cuts = shared.cuts.load(Ordering::SeqCst);
        let sh = Arc::clone(&shared);
        let cl = Arc::clone(&client);
        let spawned = thread::Builder::new()
            .name(format!("faultproxy-conn-{id}"))
            .stack_size(THREAD_STACK)
            .spawn(move || connection(sh, cl, id, cuts));
        match spawned {
            Ok(h) => {
                shared.accepted.fetch_add(1, Ordering::SeqCst);
                st.links.insert(
                    id,
                    Link {
                        client,
                        upstream: None,
                    },
                );
                st.threads.retain(|t| !t.is_finished());
                st.threads.push(h);
            }
            Err(_) => {
                drop(st);
                if let Ok(stream) = Arc::try_unwrap(client) {
                    refuse(stream);
                }
            }
        }
    }
}

/// Closes `stream` with a reset (SO_LINGER 0).
fn refuse(stream: TcpStream) {
    set_linger_zero(&stream);
    drop(stream);
}

/// One forwarded connection: connects to the target, forwards both directions, and
/// unregisters the link when both ended.
fn connection(shared: Arc<Shared>, client: Arc<TcpStream>, id: u64, cuts: u64) {
    match connect_upstream(&shared, id, cuts) {
        Some(upstream) => forward(&shared, &client, &upstream, id, cuts),
        None => set_linger_zero(&client),
    }
    // The last references to the sockets go here: they close now.
    shared.lock_state().links.remove(&id);
}

/// Connects to the target and registers the socket with link `id`; `None` if the connection
/// fails or a cut came first.
fn connect_upstream(shared: &Shared, id: u64, cuts: u64) -> Option<Arc<TcpStream>> {
    let upstream = TcpStream::connect_timeout(&shared.target, CONNECT_TIMEOUT).ok()?;
    let upstream = Arc::new(upstream);
    let mut st = shared.lock_state();
    if shared.ended(cuts) {
        return None;
    }
    st.links.get_mut(&id)?.upstream = Some(Arc::clone(&upstream));
    Some(upstream)
}

/// Forwards client→server on a second thread and server→client on this one, until both end.
fn forward(
    shared: &Arc<Shared>,
    client: &Arc<TcpStream>,
    upstream: &Arc<TcpStream>,
    id: u64,
    cuts: u64,
) {
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (sh, from, to) = (Arc::clone(shared), Arc::clone(client), Arc::clone(upstream));
    let up = thread::Builder::new()
        .name(format!("faultproxy-up-{id}"))
        .stack_size(THREAD_STACK)
        .spawn(move || pump(&sh, &from, &to, Direction::ToServer, cuts));
    let Ok(up) = up else {
        abort(client, upstream);
        return;
    };
    pump(shared, upstream, client, Direction::ToClient, cuts);
    let _ = up.join();
}

/// Which way a pump forwards.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    ToServer,
    ToClient,
}

/// Forwards `from` to `to` until `from` ends (passed on as end-of-file), an error (passed on
/// as a reset, see [`abort`]) or a cut.
fn pump(shared: &Shared, mut from: &TcpStream, mut to: &TcpStream, dir: Direction, cuts: u64) {
    let counter = match dir {
        Direction::ToServer => &shared.to_server,
        Direction::ToClient => &shared.to_client,
    };
    let mut buf = vec![0u8; IO_BUF];
    'forwarding: loop {
        let n = match from.read(&mut buf) {
            Ok(0) => {
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        if dir == Direction::ToClient {
            let latency = Duration::from_nanos(shared.latency_nanos.load(Ordering::SeqCst));
            if !latency.is_zero() && !shared.sleep(latency, cuts) {
                break;
            }
        }
        let mut sent = 0;
        while sent < n {
            let grant = match dir {
                Direction::ToServer => n - sent,
                Direction::ToClient => match shared.take(n - sent, cuts) {
                    Some(grant) => grant,
                    None => break 'forwarding,
                },
            };
            // Counted before writing, so that a peer that has read the bytes always sees them.
            counter.fetch_add(grant as u64, Ordering::SeqCst);
            if to.write_all(&buf[sent..sent + grant]).is_err() {
                break 'forwarding;
            }
            sent += grant;
        }
    }
    abort(from, to);
}

/// Ends a connection after an error: both sockets will close with a reset (SO_LINGER 0), and
/// shutting their reading side down wakes the other direction's pump.
fn abort(a: &TcpStream, b: &TcpStream) {
    for s in [a, b] {
        set_linger_zero(s);
        let _ = s.shutdown(Shutdown::Read);
    }
}
