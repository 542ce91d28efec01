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
//!
//! In four parts: the agent, TLS roots and the reports (here), the connector whose sockets a
//! token shuts down (`cancellable`), plain TCP connections through our own transport (`tcp`),
//! and the cache of resolved host names (`resolve`).

use std::cell::{Cell, RefCell};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use ureq::unversioned::resolver::DefaultResolver;
use ureq::unversioned::transport::{
    ConnectProxyConnector, ConnectionDetails, Connector, RustlsConnector, SocksConnector, Transport,
};

use crate::cancel::CancelToken;
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
    let dns = Arc::new(DnsCache::default());
    let chain =
        ().chain(SocksConnector::default())
            .chain(ConnectProxyConnector::default())
            .chain(TcpLink { dns: dns.clone() })
            .chain(TlsLink {
                tls: RustlsConnector::default(),
                lazy_roots,
                with_roots: OnceLock::new(),
            });
    Ok(ureq::Agent::with_parts(
        agent_config(config, tls.build(), proxy),
        CancellableConnector(chain),
        CachingResolver {
            cache: dns,
            system: DefaultResolver::default(),
        },
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

mod cancellable;
mod resolve;
mod tcp;

use cancellable::{CancellableConnector, RegisterShutdown};
use resolve::{CachingResolver, DnsCache};
use tcp::TcpLink;
