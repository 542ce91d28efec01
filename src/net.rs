//! The HTTP agent: one shared `ureq::Agent` whose connections can be interrupted by the
//! [`CancelToken`] of the transfer currently using them.
//!
//! A worker thread sets the current token with [`with_token`] around each exchange; every
//! connection, new or pooled, registers its socket with that token when it is used, so
//! cancelling the token shuts the socket down and the blocked read returns at once.
//!
//! The transport also tells the transfer (on the same thread) what ureq's reader does not:
//! whether the exchange ran on a connection opened for it or on a pooled one
//! ([`exchange_on_pooled`]), whether the connection was reset rather than closed cleanly
//! ([`take_cut`]: ureq ends a close-delimited body either way), and it ends a read that goes on
//! past the body's stall deadline ([`set_stall_deadline`]: bytes that trickle without adding to
//! the body never trip a per-read timeout). [`classify`] sorts ureq's errors for the retry
//! policy.

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use ureq::unversioned::resolver::DefaultResolver;
use ureq::unversioned::transport::{
    Buffers, ConnectProxyConnector, ConnectionDetails, Connector, Either, NextTimeout,
    RustlsConnector, ShutdownHandle, SocksConnector, Transport,
};

use crate::cancel::{CancelToken, Conn};
use crate::config::{Config, ProxySetting};
use crate::error::{Error, Result};
use crate::retry::FailureKind;

/// Most bytes of response headers accepted.
pub(crate) const MAX_RESPONSE_HEADER_BYTES: usize = 64 * 1024;

thread_local! {
    static SURPLUS: Cell<bool> = const { Cell::new(false) };
    static CURRENT: RefCell<Option<Arc<CancelToken>>> = const { RefCell::new(None) };
    /// A connection was opened since [`begin_exchange`].
    static CONNECTED: Cell<bool> = const { Cell::new(false) };
    /// A read met a reset (or an aborted connection) since the last [`take_cut`].
    static CUT: Cell<bool> = const { Cell::new(false) };
    /// Reads after this instant fail with a timeout.
    static STALL_DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Whether a connection was dropped with unread bytes since the last call.
pub(crate) fn take_surplus() -> bool {
    SURPLUS.with(|s| s.replace(false))
}

/// An exchange (one request and its answer) starts on this thread.
pub(crate) fn begin_exchange() {
    CONNECTED.with(|c| c.set(false));
    CUT.with(|c| c.set(false));
    STALL_DEADLINE.with(|d| d.set(None));
}

/// Whether the exchange since [`begin_exchange`] ran on a pooled connection (none was opened).
pub(crate) fn exchange_on_pooled() -> bool {
    !CONNECTED.with(Cell::get)
}

/// Whether a read on this thread met a reset or an aborted connection since the last call
/// (ureq reports that as the end of a close-delimited body, like a clean close).
pub(crate) fn take_cut() -> bool {
    CUT.with(|c| c.replace(false))
}

/// Reads on this thread after `deadline` fail with a timeout (`None`: no deadline), whatever
/// arrives meanwhile: the transfer moves it on with every body byte.
pub(crate) fn set_stall_deadline(deadline: Option<Instant>) {
    STALL_DEADLINE.with(|d| d.set(deadline));
}

/// How the retry policy sees an error of the HTTP client, and its message.
pub(crate) fn classify(e: ureq::Error) -> (FailureKind, String) {
    let e = match e {
        // A body read's error comes wrapped in an io::Error.
        ureq::Error::Io(io) => ureq::Error::from(io),
        other => other,
    };
    match e {
        ureq::Error::Io(io) => match io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
            Some(tls) => classify_tls(tls),
            None => (FailureKind::Transient, format!("network error: {io}")),
        },
        ureq::Error::Rustls(tls) => classify_tls(&tls),
        ureq::Error::Timeout(_)
        | ureq::Error::HostNotFound
        | ureq::Error::ConnectionFailed
        | ureq::Error::ConnectProxyFailed(_) => {
            (FailureKind::Transient, format!("network error: {e}"))
        }
        ureq::Error::Protocol(_)
        | ureq::Error::LargeResponseHeader(..)
        | ureq::Error::BodyStalled => (
            FailureKind::Malformed,
            format!("the server's answer is not well-formed HTTP: {e}"),
        ),
        ureq::Error::Tls(why) => (FailureKind::Fatal, format!("TLS: {why}")),
        other => (FailureKind::Fatal, format!("request failed: {other}")),
    }
}

/// A TLS error: a certificate that fails verification is final; anything else is an answer
/// that is not TLS as it should be (a plain-HTTP port, a broken server).
fn classify_tls(e: &rustls::Error) -> (FailureKind, String) {
    match e {
        rustls::Error::InvalidCertificate(_)
        | rustls::Error::NoCertificatesPresented
        | rustls::Error::UnsupportedNameType
        | rustls::Error::InvalidCertRevocationList(_) => (
            FailureKind::Fatal,
            format!("TLS certificate verification failed: {e}"),
        ),
        _ => (
            FailureKind::Malformed,
            format!("the server's TLS answer is not valid: {e}"),
        ),
    }
}

/// Runs `f` with `token` as the current thread's cancel token.
pub(crate) fn with_token<T>(token: &Arc<CancelToken>, f: impl FnOnce() -> T) -> T {
    CURRENT.with(|c| *c.borrow_mut() = Some(token.clone()));
    let out = f();
    CURRENT.with(|c| *c.borrow_mut() = None);
    out
}

/// Builds the agent for a manager.
pub(crate) fn build_agent(config: &Config) -> Result<ureq::Agent> {
    let mut tls = ureq::tls::TlsConfig::builder();
    if let Some(path) = &config.ca_file {
        let pem = std::fs::read(path).map_err(|e| Error::io("reading the CA file", e))?;
        let mut certs = Vec::new();
        for item in ureq::tls::parse_pem(&pem) {
            match item {
                Ok(ureq::tls::PemItem::Certificate(c)) => certs.push(c),
                Ok(_) => {}
                Err(e) => return Err(Error::invalid(format!("CA file: {e}"))),
            }
        }
        if certs.is_empty() {
            return Err(Error::invalid("CA file holds no certificate"));
        }
        tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&certs));
    }
    let proxy = match &config.proxy {
        ProxySetting::FromEnvironment => ureq::Proxy::try_from_env(),
        ProxySetting::Direct => None,
        ProxySetting::Url(u) => {
            Some(ureq::Proxy::new(u).map_err(|e| Error::invalid(format!("proxy URL: {e}")))?)
        }
    };
    // Without a CA file TLS trusts the system's roots, loaded at the first TLS connection
    // (until then the agent's configuration names ureq's default roots, which nothing uses).
    let lazy_roots = config
        .ca_file
        .is_none()
        .then(|| (config.clone(), proxy.clone()));
    // ureq's default chain (SOCKS and CONNECT proxies, TCP, then TLS with rustls), with our
    // `TcpLink` in place of ureq's TCP connector (cheaper liveness probes).
    let chain =
        ().chain(SocksConnector::default())
            .chain(ConnectProxyConnector::default())
            .chain(TcpLink)
            .chain(TlsLink {
                tls: RustlsConnector::default(),
                lazy_roots,
                with_roots: OnceLock::new(),
            });
    Ok(ureq::Agent::with_parts(
        agent_config(config, tls.build(), proxy),
        CancellableConnector(chain),
        DefaultResolver::default(),
    ))
}

/// TLS with rustls. Without a CA file it trusts the system's roots, loaded when the first TLS
/// connection is made: reading and parsing the system's bundle costs ~14 million instructions
/// and ~300 `statx`, wasted on a manager that never fetches over TLS.
struct TlsLink {
    tls: RustlsConnector,
    /// What the agent was built from, when its roots are the system's.
    lazy_roots: Option<(Config, Option<ureq::Proxy>)>,
    /// The agent's configuration with the system's roots, made at the first TLS connection.
    with_roots: OnceLock<ureq::config::Config>,
}

impl std::fmt::Debug for TlsLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsLink").finish_non_exhaustive()
    }
}

impl<In: Transport> Connector<In> for TlsLink {
    type Out = <RustlsConnector as Connector<In>>::Out;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> std::result::Result<Option<Self::Out>, ureq::Error> {
        let Some((config, proxy)) = self.lazy_roots.as_ref().filter(|_| details.needs_tls()) else {
            return self.tls.connect(details, chained);
        };
        let with_roots = self.with_roots.get_or_init(|| {
            let tls = ureq::tls::TlsConfig::builder()
                .root_certs(system_roots())
                .build();
            agent_config(config, tls, proxy.clone())
        });
        let details = details_with(details, with_roots, details.register_shutdown.clone());
        self.tls.connect(&details, chained)
    }
}

/// `details` with another agent configuration and another shutdown registration (ureq's
/// `ConnectionDetails` has no builder).
fn details_with<'a>(
    details: &ConnectionDetails<'a>,
    config: &'a ureq::config::Config,
    register_shutdown: Arc<RegisterShutdown>,
) -> ConnectionDetails<'a> {
    ConnectionDetails {
        uri: details.uri,
        addrs: details.addrs.clone(),
        config,
        request_level: details.request_level,
        resolver: details.resolver,
        now: details.now,
        timeout: details.timeout,
        current_time: details.current_time.clone(),
        run_connector: details.run_connector.clone(),
        register_shutdown,
    }
}

/// The agent's configuration, with these TLS settings and proxy.
fn agent_config(
    config: &Config,
    tls: ureq::tls::TlsConfig,
    proxy: Option<ureq::Proxy>,
) -> ureq::config::Config {
    let per_host = config.max_connections.max(1) as usize;
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .user_agent(config.user_agent.as_str())
        .accept("*/*")
        .accept_encoding("identity")
        .timeout_connect(Some(config.connect_timeout))
        .timeout_per_read(Some(config.read_timeout))
        .timeout_per_write(Some(config.read_timeout))
        // The whole head within the read timeout: a head that trickles in a byte at a time
        // never trips the per-read one.
        .timeout_recv_response(Some(config.read_timeout))
        .max_response_header_size(MAX_RESPONSE_HEADER_BYTES)
        .input_buffer_size(128 * 1024)
        .output_buffer_size(16 * 1024)
        .max_idle_connections(per_host * 2)
        .max_idle_connections_per_host(per_host)
        .allow_non_standard_methods(true)
        .tls_config(tls)
        .no_delay(true)
        .proxy(proxy)
        .build()
}

/// The roots TLS trusts by default: the system's trust store, as curl has it (read with
/// `rustls-native-certs`: `SSL_CERT_FILE` / `SSL_CERT_DIR`, else the distribution's bundle),
/// or the bundled Mozilla roots where the system has none.
fn system_roots() -> ureq::tls::RootCerts {
    let found = rustls_native_certs::load_native_certs();
    let certs: Vec<ureq::tls::Certificate<'static>> = found
        .certs
        .iter()
        .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
        .collect();
    if certs.is_empty() {
        ureq::tls::RootCerts::WebPki
    } else {
        ureq::tls::RootCerts::new_with_certs(&certs)
    }
}

type RegisterShutdown =
    dyn Fn(Weak<dyn ShutdownHandle>) -> std::result::Result<(), ureq::Error> + Send + Sync;

#[derive(Debug)]
struct CancellableConnector<C>(C);

impl<C: Connector<()>> Connector<()> for CancellableConnector<C> {
    type Out = CancellableTransport;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<()>,
    ) -> std::result::Result<Option<Self::Out>, ureq::Error> {
        let captured: Arc<Mutex<Option<Weak<dyn ShutdownHandle>>>> = Arc::new(Mutex::new(None));
        let outer = details.register_shutdown.clone();
        let slot = captured.clone();
        let register: Arc<RegisterShutdown> = Arc::new(move |h: Weak<dyn ShutdownHandle>| {
            let mut s = slot.lock();
            if s.is_none() {
                *s = Some(h.clone());
            }
            outer(h)
        });
        let inner_details = details_with(details, details.config, register);
        let Some(inner) = self.0.connect(&inner_details, chained)? else {
            return Ok(None);
        };
        let inner = inner.boxed();
        let handle = captured.lock().take();
        CONNECTED.with(|c| c.set(true));
        let mut t = CancellableTransport {
            inner,
            handle,
            owner: Arc::new(AtomicUsize::new(0)),
        };
        t.claim()?;
        Ok(Some(t))
    }
}

/// A transport that registers its socket with the current thread's cancel token.
struct CancellableTransport {
    inner: Box<dyn Transport>,
    handle: Option<Weak<dyn ShutdownHandle>>,
    owner: Arc<AtomicUsize>,
}

impl std::fmt::Debug for CancellableTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CancellableTransport")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl CancellableTransport {
    /// Makes the current token the owner of this socket; fails if that token is cancelled.
    fn claim(&mut self) -> std::result::Result<(), ureq::Error> {
        let Some(token) = CURRENT.with(|c| c.borrow().clone()) else {
            return Ok(());
        };
        if token.is_held() {
            return Err(ureq::Error::Io(std::io::Error::new(
                std::io::ErrorKind::Interrupted,
                "transfer cancelled",
            )));
        }
        if self.owner.swap(token.id(), Ordering::AcqRel) != token.id() {
            if let Some(h) = &self.handle {
                token.register(Conn {
                    handle: h.clone(),
                    owner: self.owner.clone(),
                });
            }
        }
        Ok(())
    }
}

/// ureq stops reading a body at its Content-Length and drops the connection if more bytes
/// followed; those bytes mean the framing was wrong, which [`take_surplus`] reports.
impl Drop for CancellableTransport {
    fn drop(&mut self) {
        if !self.inner.buffers().input().is_empty() {
            SURPLUS.with(|s| s.set(true));
        }
    }
}

impl Transport for CancellableTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(
        &mut self,
        amount: usize,
        timeout: NextTimeout,
    ) -> std::result::Result<(), ureq::Error> {
        self.claim()?;
        self.inner.transmit_output(amount, timeout)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> std::result::Result<bool, ureq::Error> {
        self.claim()?;
        if STALL_DEADLINE
            .with(Cell::get)
            .is_some_and(|d| Instant::now() >= d)
        {
            return Err(ureq::Error::Timeout(ureq::Timeout::RecvBody));
        }
        let got = self.inner.await_input(timeout);
        if let Err(ureq::Error::Io(e)) = &got {
            if matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
            ) {
                CUT.with(|c| c.set(true));
            }
        }
        got
    }

    fn is_open(&mut self) -> bool {
        self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}

/// Opens the plain TCP connections (unless a proxy's connector in front of it already made
/// one), as ureq's own TCP connector does, into a [`Socket`].
#[derive(Debug)]
struct TcpLink;

impl<In: Transport> Connector<In> for TcpLink {
    type Out = Either<In, Socket>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> std::result::Result<Option<Self::Out>, ureq::Error> {
        if chained.is_some() {
            return Ok(chained.map(Either::A));
        }
        let stream = connect_tcp(details)?;
        if details.config.no_delay() {
            stream.set_nodelay(true)?;
        }
        let socket = Socket {
            stream: Arc::new(stream),
            // Under TLS the buffer holds records, not responses: rustls reads them from it,
            // and feeding it less than ureq's buffer held made it copy far more (HTTPS
            // 1 GiB: 2x the user time). It starts at its full size then.
            buffers: GrowBuffers::new(
                details.config.input_buffer_size(),
                details.config.output_buffer_size(),
                details.needs_tls(),
            ),
            read_timeout: None,
            write_timeout: None,
            used: false,
        };
        let handle = Arc::downgrade(&socket.stream) as Weak<dyn ShutdownHandle>;
        (details.register_shutdown)(handle)?;
        Ok(Some(Either::B(socket)))
    }
}

/// Connects to the first of the resolved addresses that answers, sharing the connect timeout
/// between them as ureq does (halving it from one address to the next).
fn connect_tcp(details: &ConnectionDetails) -> std::result::Result<TcpStream, ureq::Error> {
    use std::io::ErrorKind::*;
    let timeout = details.timeout;
    let total = timeout.not_zero().map(|d| *d);
    let started = Instant::now();
    let n = details.addrs.len();
    let total_weight = 2.0 * (1.0 - 0.5_f64.powi(n as i32));
    let mut weight = 1.0_f64;
    let mut last_err = None;
    for addr in details.addrs.iter() {
        let per_addr = total.map(|t| {
            Duration::from_millis((t.as_secs_f64() * weight / total_weight * 1000.0) as u64)
                .max(Duration::from_millis(10))
        });
        match connect_one(addr, per_addr) {
            Ok(s) => return Ok(s),
            Err(e) if matches!(e.kind(), TimedOut | WouldBlock) => {
                if total.is_some_and(|t| started.elapsed() > t) {
                    return Err(ureq::Error::Timeout(timeout.reason));
                }
                last_err = Some(ureq::Error::Timeout(ureq::Timeout::Connect));
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ConnectionRefused
                        | HostUnreachable
                        | NetworkUnreachable
                        | NetworkDown
                        | AddrNotAvailable
                ) =>
            {
                last_err = Some(ureq::Error::Io(e));
            }
            Err(e) => return Err(ureq::Error::Io(e)),
        }
        weight /= 2.0;
    }
    Err(last_err.unwrap_or_else(|| {
        ureq::Error::Io(std::io::Error::new(ConnectionRefused, "Connection refused"))
    }))
}

fn connect_one(addr: &SocketAddr, timeout: Option<Duration>) -> std::io::Result<TcpStream> {
    match timeout {
        Some(t) => TcpStream::connect_timeout(addr, t),
        None => TcpStream::connect(addr),
    }
}

/// How much longer than asked a read or write may wait before its timeout fires: a socket
/// timeout is set again only when the one asked for moves by more than this (ureq asks for
/// the time left of the response head's deadline, a little less on every request).
const TIMEOUT_SLACK: Duration = Duration::from_millis(1);

/// A plain TCP connection, as ureq's own TCP transport but with fewer system calls per
/// request: the pool's liveness probe is one `poll` (ureq's sets the socket non-blocking,
/// reads and sets it blocking again: two `ioctl`s and a failed `recvfrom`, twice per
/// request), and a socket timeout is changed only when it moves by more than
/// [`TIMEOUT_SLACK`]. Blocking reads stay blocking: a cancel shuts the socket down
/// ([`CancelToken`]).
#[derive(Debug)]
struct Socket {
    stream: Arc<TcpStream>,
    buffers: GrowBuffers,
    /// The timeouts set on the socket.
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    /// The socket was read or written since the last liveness probe.
    used: bool,
}

/// Sets a socket timeout to `want`, unless the one set already waits no more than
/// [`TIMEOUT_SLACK`] longer.
fn set_timeout(
    stream: &TcpStream,
    set: &mut Option<Duration>,
    want: Option<Duration>,
    f: fn(&TcpStream, Option<Duration>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let close_enough = match (*set, want) {
        (Some(s), Some(w)) => s >= w && s - w <= TIMEOUT_SLACK,
        (None, None) => true,
        _ => false,
    };
    if !close_enough {
        f(stream, want)?;
        *set = want;
    }
    Ok(())
}

/// An I/O error as ureq reports it: a socket timeout (`EAGAIN` with `SO_RCVTIMEO`) is its
/// `Timeout` error.
fn io_error(e: std::io::Error, reason: ureq::Timeout) -> ureq::Error {
    match e.kind() {
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
            ureq::Error::Timeout(reason)
        }
        _ => ureq::Error::Io(e),
    }
}

fn expired(t: &NextTimeout) -> std::result::Result<(), ureq::Error> {
    if t.after.is_zero() {
        Err(ureq::Error::Timeout(t.reason))
    } else {
        Ok(())
    }
}

impl Transport for Socket {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(
        &mut self,
        amount: usize,
        timeout: NextTimeout,
    ) -> std::result::Result<(), ureq::Error> {
        let timeout = timeout.for_write();
        expired(&timeout)?;
        let want = timeout.not_zero().map(|d| *d);
        set_timeout(
            &self.stream,
            &mut self.write_timeout,
            want,
            TcpStream::set_write_timeout,
        )?;
        self.used = true;
        let output = &self.buffers.output()[..amount];
        (&*self.stream)
            .write_all(output)
            .map_err(|e| io_error(e, timeout.reason))
    }

    fn await_input(&mut self, timeout: NextTimeout) -> std::result::Result<bool, ureq::Error> {
        let timeout = timeout.for_read();
        expired(&timeout)?;
        let want = timeout.not_zero().map(|d| *d);
        set_timeout(
            &self.stream,
            &mut self.read_timeout,
            want,
            TcpStream::set_read_timeout,
        )?;
        self.used = true;
        let started = Instant::now();
        let n = loop {
            match (&*self.stream).read(self.buffers.input_append_buf()) {
                Ok(n) => break n,
                // Linux does not restart a socket read with a timeout after a signal: read
                // again for the time left (as ureq does).
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                    let Some(want) = want else {
                        return Err(ureq::Error::Io(e));
                    };
                    let left = want.saturating_sub(started.elapsed());
                    if left.is_zero() {
                        return Err(ureq::Error::Timeout(timeout.reason));
                    }
                    self.stream.set_read_timeout(Some(left))?;
                    self.read_timeout = Some(left);
                }
                Err(e) => return Err(io_error(e, timeout.reason)),
            }
        };
        self.buffers.input_appended(n);
        Ok(n > 0)
    }

    /// Open while nothing is readable: a byte the server sent unasked or its close (as
    /// ureq's probe decides), in one `poll` that does not wait.
    ///
    /// ureq probes a connection twice per request: when it goes back to the pool right after
    /// the response (the socket was just used) and when it is taken out for the next request.
    /// The first is answered without a system call: whatever it would find (bytes past the
    /// body, a close) the second finds too, before anything is sent, and the connection is
    /// dropped then.
    fn is_open(&mut self) -> bool {
        if std::mem::replace(&mut self.used, false) {
            return true;
        }
        use rustix::event::{poll, PollFd, PollFlags, Timespec};
        let mut fds = [PollFd::new(&*self.stream, PollFlags::IN)];
        let now = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        matches!(poll(&mut fds, Some(&now)), Ok(0))
    }
}

/// The smallest input buffer of a plain connection.
const MIN_INPUT_BUFFER: usize = 16 * 1024;

/// Most room a request body chunk takes in the input buffer (as ureq's own buffers).
const MIN_TMP_SIZE: usize = 10 * 1024;

/// A plain connection's buffers, as ureq's own (`LazyBuffers`) except that the input buffer
/// of a connection without TLS starts at [`MIN_INPUT_BUFFER`] and grows fourfold, up to the
/// configured size, whenever a read fills it: ureq's allocates the configured size (128 KiB),
/// zeroed, at the first use, so that every connection keeps it resident even when it only
/// ever carries small responses.
#[derive(Debug)]
struct GrowBuffers {
    input: Vec<u8>,
    filled: usize,
    consumed: usize,
    /// The last read filled all the room there was: grow before the next.
    grow: bool,
    max_input: usize,
    output: Vec<u8>,
    output_size: usize,
    /// The last consume was of more than nothing (see `Buffers::can_use_input`).
    progress: bool,
}

impl GrowBuffers {
    /// `full`: the input buffer starts at `max_input`.
    fn new(max_input: usize, output_size: usize, full: bool) -> GrowBuffers {
        let max_input = max_input.max(1);
        GrowBuffers {
            input: if full { vec![0; max_input] } else { Vec::new() },
            filled: 0,
            consumed: 0,
            grow: false,
            max_input,
            output: Vec::new(),
            output_size: output_size.max(1),
            progress: false,
        }
    }

    /// Makes room at the end of the input: moves what is unconsumed to the front when that
    /// frees much, grows when asked or when there is no room at all.
    fn make_room(&mut self, at_least: usize) {
        if self.consumed == self.filled {
            self.consumed = 0;
            self.filled = 0;
        } else if self.consumed > 0 && self.filled > self.input.len() / 2 {
            self.input.copy_within(self.consumed..self.filled, 0);
            self.filled -= self.consumed;
            self.consumed = 0;
        }
        let mut want = self.input.len().max(MIN_INPUT_BUFFER.min(self.max_input));
        if self.grow || self.filled == want {
            want = (want * 4).min(self.max_input.max(want));
            self.grow = false;
        }
        want = want.max(self.filled + at_least);
        if want > self.input.len() {
            self.input.resize(want, 0);
        }
    }

    fn ensure_output(&mut self) {
        if self.output.len() < self.output_size {
            self.output.resize(self.output_size, 0);
        }
    }
}

impl Buffers for GrowBuffers {
    fn output(&mut self) -> &mut [u8] {
        self.ensure_output();
        &mut self.output
    }

    fn input(&self) -> &[u8] {
        &self.input[self.consumed..self.filled]
    }

    fn input_append_buf(&mut self) -> &mut [u8] {
        self.make_room(1);
        &mut self.input[self.filled..]
    }

    fn input_appended(&mut self, amount: usize) {
        let room = self.input.len() - self.filled;
        assert!(
            amount <= room,
            "more input appended than there was room for"
        );
        self.grow = amount == room && self.input.len() < self.max_input;
        self.filled += amount;
    }

    fn input_consume(&mut self, amount: usize) {
        self.progress = amount > 0;
        self.consumed += amount;
        assert!(
            self.consumed <= self.filled,
            "more input consumed than filled"
        );
    }

    fn tmp_and_output(&mut self) -> (&mut [u8], &mut [u8]) {
        self.ensure_output();
        self.make_room(MIN_TMP_SIZE);
        (&mut self.input[self.filled..], &mut self.output)
    }

    fn can_use_input(&self) -> bool {
        self.consumed < self.filled && self.progress
    }
}
