//! Manager configuration with its defaults and validation.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::retry::RetryPolicy;
use crate::validate;

/// Where requests go through.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ProxySetting {
    /// `ALL_PROXY`, `HTTPS_PROXY`, `HTTP_PROXY` (first set wins) and `NO_PROXY`, read at open.
    #[default]
    FromEnvironment,
    /// No proxy, whatever the environment says.
    Direct,
    /// This proxy (`http://host:port`, `socks5://host:port`).
    Url(String),
}

/// Where callbacks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DispatchMode {
    /// The manager's own event thread runs callbacks (the default).
    #[default]
    Thread,
    /// Callbacks run only inside `Manager::dispatch`, on the caller's thread.
    Manual,
}

/// Configuration of one manager. Build it with [`Config::new`] and the setters, then pass it to
/// [`crate::Manager::open`].
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) store_dir: PathBuf,
    pub(crate) base_url: Option<url::Url>,
    pub(crate) max_connections: u32,
    pub(crate) max_connections_per_fetch: u32,
    pub(crate) quota: u64,
    pub(crate) user_agent: String,
    pub(crate) connect_timeout: Duration,
    pub(crate) read_timeout: Duration,
    pub(crate) retry: RetryPolicy,
    pub(crate) proxy: ProxySetting,
    pub(crate) max_download_rate: u64,
    pub(crate) progress_interval: Duration,
    pub(crate) ca_file: Option<PathBuf>,
    pub(crate) dispatch: DispatchMode,
    pub(crate) allow_https_to_http: bool,
    pub(crate) max_segments: u32,
}

/// Most connections the whole manager may open at once.
pub const MAX_CONNECTIONS_LIMIT: u32 = 256;

impl Config {
    /// A configuration with every default, for the store at `store_dir`.
    pub fn new(store_dir: impl Into<PathBuf>) -> Config {
        Config {
            store_dir: store_dir.into(),
            base_url: None,
            max_connections: 8,
            max_connections_per_fetch: 4,
            quota: 0,
            user_agent: format!("libbgfetch/{}", env!("CARGO_PKG_VERSION")),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            proxy: ProxySetting::FromEnvironment,
            max_download_rate: 0,
            progress_interval: Duration::from_millis(100),
            ca_file: None,
            dispatch: DispatchMode::Thread,
            allow_https_to_http: false,
            max_segments: 1,
        }
    }

    /// The base URL that relative request URLs resolve against. Must be an absolute http(s) URL.
    pub fn set_base_url(&mut self, url: &str) -> Result<()> {
        let parsed = url::Url::parse(url).map_err(|e| Error::invalid(format!("base URL: {e}")))?;
        validate::check_fetchable_url(&parsed)?;
        self.base_url = Some(parsed);
        Ok(())
    }

    /// Connections for the whole manager (1..=256). This is also the number of worker threads.
    pub fn set_max_connections(&mut self, n: u32) -> Result<()> {
        if n == 0 || n > MAX_CONNECTIONS_LIMIT {
            return Err(Error::invalid(format!(
                "max connections must be 1..={MAX_CONNECTIONS_LIMIT}, not {n}"
            )));
        }
        self.max_connections = n;
        Ok(())
    }

    /// Connections one fetch may use at once (1..=256).
    pub fn set_max_connections_per_fetch(&mut self, n: u32) -> Result<()> {
        if n == 0 || n > MAX_CONNECTIONS_LIMIT {
            return Err(Error::invalid(format!(
                "max connections per fetch must be 1..={MAX_CONNECTIONS_LIMIT}, not {n}"
            )));
        }
        self.max_connections_per_fetch = n;
        Ok(())
    }

    /// Segments a large GET body may be split into, fetched over that many connections at
    /// once and written in place (1..=16; default 1: one connection a request). A body is
    /// split only when its response allows it (a `Content-Length`, `Accept-Ranges: bytes`, a
    /// validator for `If-Range`, no `Range` of the host's) and into at most one segment per
    /// MiB. Segments count against the connection limits: a fetch uses at most
    /// `max_connections_per_fetch` of them at once (default 4).
    pub fn set_max_segments(&mut self, n: u32) -> Result<()> {
        let max = crate::segments::MAX_SEGMENTS;
        if n == 0 || n > max {
            return Err(Error::invalid(format!(
                "max segments must be 1..={max}, not {n}"
            )));
        }
        self.max_segments = n;
        Ok(())
    }

    /// Bytes the store may hold in all (request bodies and responses); 0 means no quota.
    pub fn set_quota(&mut self, bytes: u64) {
        self.quota = bytes;
    }

    /// The `User-Agent` header sent with every request that does not set its own.
    pub fn set_user_agent(&mut self, ua: &str) -> Result<()> {
        validate::check_header_value(ua)?;
        self.user_agent = ua.trim().to_string();
        Ok(())
    }

    /// Connection and per-read timeouts in milliseconds (each at least 1).
    pub fn set_timeouts(&mut self, connect_ms: u32, read_ms: u32) -> Result<()> {
        if connect_ms == 0 || read_ms == 0 {
            return Err(Error::invalid("timeouts must be at least 1 ms"));
        }
        self.connect_timeout = Duration::from_millis(connect_ms.into());
        self.read_timeout = Duration::from_millis(read_ms.into());
        Ok(())
    }

    /// Consecutive failed attempts (1..=100) before a request may give up, and the first
    /// backoff between tries (doubled each time, with jitter, up to the maximum backoff). A
    /// request gives up only when these attempts failed without progress AND the no-progress
    /// timeout passed (see [`Config::set_no_progress_timeout`]).
    pub fn set_retries(&mut self, max_attempts: u32, backoff_ms: u32) -> Result<()> {
        if max_attempts == 0 || max_attempts > 100 {
            return Err(Error::invalid("max attempts must be 1..=100"));
        }
        self.retry.max_attempts = max_attempts;
        self.retry.base_backoff = Duration::from_millis(backoff_ms.into());
        Ok(())
    }

    /// Whether a request fails as soon as `max_attempts` consecutive attempts failed, whatever
    /// the no-progress timeout (default off: a background fetch outlives outages). For hosts
    /// that would rather fail fast than wait, and for tests.
    pub fn set_fail_after_attempts(&mut self, on: bool) {
        self.retry.fail_after_attempts = on;
    }

    /// The longest delay between two attempts (default 60 s).
    pub fn set_max_backoff(&mut self, ms: u32) {
        self.retry.max_backoff = Duration::from_millis(ms.into());
    }

    /// How long without a new body byte before a request may give up (default 10 min);
    /// 0 = never (transient errors are retried for as long as the fetch lives).
    pub fn set_no_progress_timeout(&mut self, ms: u64) {
        self.retry.no_progress_timeout = (ms > 0).then(|| Duration::from_millis(ms));
    }

    /// Whether 408, 429, 500, 502, 503 and 504 are transient (retried, honouring
    /// `Retry-After`) rather than final (default: final, as the spec has it).
    pub fn set_retry_statuses(&mut self, on: bool) {
        self.retry.retry_statuses = on;
    }

    /// The proxy: `http://host:port` (or `socks5://host:port`); `""` for none even if the
    /// environment names one. Unset, the environment decides (`ALL_PROXY`, `HTTPS_PROXY`,
    /// `HTTP_PROXY`, `NO_PROXY`).
    pub fn set_proxy(&mut self, proxy_url: &str) -> Result<()> {
        if proxy_url.is_empty() {
            self.proxy = ProxySetting::Direct;
            return Ok(());
        }
        let parsed =
            url::Url::parse(proxy_url).map_err(|e| Error::invalid(format!("proxy URL: {e}")))?;
        if !matches!(
            parsed.scheme(),
            "http" | "https" | "socks5" | "socks5h" | "socks4"
        ) || parsed.host().is_none()
        {
            return Err(Error::invalid(
                "proxy URL must be http://host:port or socks5://host:port",
            ));
        }
        ureq::Proxy::new(proxy_url).map_err(|e| Error::invalid(format!("proxy URL: {e}")))?;
        self.proxy = ProxySetting::Url(proxy_url.to_string());
        Ok(())
    }

    /// The most response body bytes per second the whole manager downloads (0 = no limit).
    pub fn set_max_download_rate(&mut self, bytes_per_s: u64) {
        self.max_download_rate = bytes_per_s;
    }

    /// The shortest time between two progress callbacks of one registration while it runs (the
    /// final one, when it settles, comes at once).
    pub fn set_progress_interval(&mut self, ms: u32) {
        self.progress_interval = Duration::from_millis(ms.into());
    }

    /// A PEM file of CA certificates to trust instead of the built-in roots.
    pub fn set_ca_file(&mut self, path: &str) -> Result<()> {
        if path.is_empty() {
            return Err(Error::invalid("CA file path is empty"));
        }
        let p = PathBuf::from(path);
        if !p.is_file() {
            return Err(Error::invalid(format!(
                "CA file {path} is not a readable file"
            )));
        }
        self.ca_file = Some(p);
        Ok(())
    }

    /// Where callbacks run.
    pub fn set_dispatch(&mut self, mode: DispatchMode) {
        self.dispatch = mode;
    }

    /// Whether a redirect from https to http is followed (default: refused, a `fetch-error`).
    pub fn set_allow_https_to_http(&mut self, allow: bool) {
        self.allow_https_to_http = allow;
    }

    /// The store directory.
    pub fn store_dir(&self) -> &std::path::Path {
        &self.store_dir
    }
}
