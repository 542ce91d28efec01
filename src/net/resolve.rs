//! Host names resolved once a minute instead of once per request: ureq asks its resolver
//! before every request, on a pooled connection too, and the system's resolver reads
//! `/etc/hosts` (or asks a DNS server) each time. curl keeps what it resolved for 60 seconds;
//! so does this cache. An address that refused every connection is forgotten at once
//! ([`DnsCache::forget`]), so that the next attempt asks the system again.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

/// How long a resolved name is used before it is resolved again (curl's default).
const TTL: Duration = Duration::from_secs(60);

/// Most names kept: past it, the expired ones go, and all of them if none has expired.
const MAX_NAMES: usize = 256;

/// What names resolved to, and when, per host and port.
#[derive(Debug, Default)]
pub(super) struct DnsCache {
    names: Mutex<HashMap<String, Vec<Resolved>>>,
}

#[derive(Debug)]
struct Resolved {
    port: u16,
    addrs: ResolvedSocketAddrs,
    at: Instant,
}

impl DnsCache {
    /// What `host`:`port` resolved to, unless that is older than [`TTL`] at `now`.
    fn get(&self, host: &str, port: u16, now: Instant) -> Option<ResolvedSocketAddrs> {
        let names = self.names.lock();
        let found = names.get(host)?.iter().find(|r| r.port == port)?;
        (now.saturating_duration_since(found.at) < TTL).then(|| found.addrs.clone())
    }

    /// Keeps what `host`:`port` resolved to at `now`.
    fn put(&self, host: &str, port: u16, addrs: &ResolvedSocketAddrs, now: Instant) {
        let mut names = self.names.lock();
        if names.len() >= MAX_NAMES && !names.contains_key(host) {
            names.retain(|_, ports| {
                ports.retain(|r| now.saturating_duration_since(r.at) < TTL);
                !ports.is_empty()
            });
            if names.len() >= MAX_NAMES {
                names.clear();
            }
        }
        let ports = names.entry(host.to_string()).or_default();
        let fresh = Resolved {
            port,
            addrs: addrs.clone(),
            at: now,
        };
        match ports.iter_mut().find(|r| r.port == port) {
            Some(r) => *r = fresh,
            None => ports.push(fresh),
        }
    }

    /// Forgets every name that resolved to exactly `addrs` (none of them took a connection).
    pub(super) fn forget(&self, addrs: &[SocketAddr]) {
        let mut names = self.names.lock();
        names.retain(|_, ports| {
            ports.retain(|r| &r.addrs[..] != addrs);
            !ports.is_empty()
        });
    }
}

/// ureq's resolver (the system's, `getaddrinfo`) behind a [`DnsCache`].
#[derive(Debug)]
pub(super) struct CachingResolver {
    pub(super) cache: Arc<DnsCache>,
    pub(super) system: DefaultResolver,
}

/// The host and port a request to `uri` connects to (its scheme's default port if it names
/// none), for the schemes whose default port is known.
fn host_and_port(uri: &Uri) -> Option<(&str, u16)> {
    let default_port = match uri.scheme_str()? {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let host = uri.host()?;
    Some((host, uri.port_u16().unwrap_or(default_port)))
}

impl Resolver for CachingResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> std::result::Result<ResolvedSocketAddrs, ureq::Error> {
        let Some((host, port)) = host_and_port(uri) else {
            return self.system.resolve(uri, config, timeout);
        };
        if let Some(addrs) = self.cache.get(host, port, Instant::now()) {
            return Ok(addrs);
        }
        let addrs = self.system.resolve(uri, config, timeout)?;
        self.cache.put(host, port, &addrs, Instant::now());
        Ok(addrs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolver() -> CachingResolver {
        CachingResolver {
            cache: Arc::new(DnsCache::default()),
            system: DefaultResolver::default(),
        }
    }

    fn resolve(r: &CachingResolver, url: &str) -> Vec<SocketAddr> {
        let uri: Uri = url.parse().unwrap();
        let config = ureq::config::Config::default();
        r.resolve(&uri, &config, NextTimeout::default())
            .unwrap()
            .to_vec()
    }

    fn addrs(list: &[&str]) -> ResolvedSocketAddrs {
        let mut out = resolver().system.empty();
        for a in list {
            out.push(a.parse().unwrap());
        }
        out
    }

    #[test]
    fn a_name_is_resolved_as_the_system_resolves_it_and_kept() {
        let r = resolver();
        let literal = resolve(&r, "http://127.0.0.1:8080/a");
        assert_eq!(
            literal,
            vec!["127.0.0.1:8080".parse::<SocketAddr>().unwrap()]
        );
        // The scheme's port when the URL names none; each port is its own entry.
        assert_eq!(
            resolve(&r, "https://127.0.0.1/b"),
            vec!["127.0.0.1:443".parse::<SocketAddr>().unwrap()]
        );
        let name = resolve(&r, "http://localhost:8080/");
        assert!(!name.is_empty() && name.iter().all(|a| a.ip().is_loopback()));
        let now = Instant::now();
        let kept = r.cache.get("localhost", 8080, now).expect("kept");
        assert_eq!(kept.to_vec(), name);
        assert!(r.cache.get("localhost", 8081, now).is_none());
    }

    #[test]
    fn an_entry_expires_after_a_minute() {
        let cache = DnsCache::default();
        let at = Instant::now();
        let a = addrs(&["10.0.0.1:80"]);
        cache.put("example.test", 80, &a, at);
        assert!(cache
            .get("example.test", 80, at + TTL - Duration::from_millis(1))
            .is_some());
        assert!(cache.get("example.test", 80, at + TTL).is_none());
        // A new answer replaces the old one.
        let b = addrs(&["10.0.0.2:80"]);
        cache.put("example.test", 80, &b, at + TTL);
        assert_eq!(
            cache.get("example.test", 80, at + TTL).unwrap().to_vec(),
            b.to_vec()
        );
    }

    #[test]
    fn addresses_that_took_no_connection_are_forgotten() {
        let cache = DnsCache::default();
        let at = Instant::now();
        let a = addrs(&["10.0.0.1:80", "[::1]:80"]);
        let b = addrs(&["10.0.0.2:80"]);
        cache.put("a.test", 80, &a, at);
        cache.put("b.test", 80, &b, at);
        cache.forget(&a);
        assert!(cache.get("a.test", 80, at).is_none());
        assert!(cache.get("b.test", 80, at).is_some());
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = DnsCache::default();
        let at = Instant::now();
        let a = addrs(&["10.0.0.1:80"]);
        for i in 0..MAX_NAMES {
            cache.put(&format!("h{i}.test"), 80, &a, at);
        }
        assert_eq!(cache.names.lock().len(), MAX_NAMES);
        // Full of live names: a new one starts over.
        cache.put("new.test", 80, &a, at);
        assert_eq!(cache.names.lock().len(), 1);
        // Full again, half of it expired: only the expired go.
        let later = at + TTL;
        for i in 0..MAX_NAMES / 2 {
            cache.put(&format!("old{i}.test"), 80, &a, at);
        }
        for i in 0..MAX_NAMES / 2 - 1 {
            cache.put(&format!("live{i}.test"), 80, &a, later);
        }
        assert_eq!(cache.names.lock().len(), MAX_NAMES);
        cache.put("newest.test", 80, &a, later);
        assert_eq!(cache.names.lock().len(), MAX_NAMES / 2);
        assert!(cache.get("newest.test", 80, later).is_some());
    }
}
