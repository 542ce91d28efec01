//! A minimal HTTP `CONNECT` proxy for tests (the kind ureq uses for `http://` proxies): it
//! answers `CONNECT 127.0.0.1:PORT` by opening that connection and piping bytes both ways, and
//! counts the tunnels it made. It only ever connects to 127.0.0.1; any other target gets 403.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Mutex;

use super::tunnel::TunnelProxy;

/// A running CONNECT proxy on 127.0.0.1 (port 0); stopped when dropped. Its counters are the
/// [`TunnelProxy`]'s.
pub struct ConnectProxy(TunnelProxy);

impl ConnectProxy {
    /// Starts the proxy.
    pub fn start() -> ConnectProxy {
        ConnectProxy(TunnelProxy::start(handshake))
    }

    /// `http://127.0.0.1:PORT`, for `Config::set_proxy` or `HTTPS_PROXY`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.0.port())
    }
}

impl std::ops::Deref for ConnectProxy {
    type Target = TunnelProxy;
    fn deref(&self) -> &TunnelProxy {
        &self.0
    }
}

/// Reads a request head (up to the blank line, at most 16 KiB).
fn read_head(conn: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 16 * 1024 || conn.read(&mut byte).ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    String::from_utf8(head).ok()
}

/// `CONNECT host:port HTTP/1.1`: 200 and the tunnel to 127.0.0.1:port, else 403.
fn handshake(client: &mut TcpStream, targets: &Mutex<Vec<String>>) -> Option<TcpStream> {
    let head = read_head(client)?;
    let target = head
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("CONNECT "))
        .and_then(|l| l.split(' ').next())
        .unwrap_or_default()
        .to_string();
    targets.lock().unwrap().push(target.clone());
    let port = target
        .strip_prefix("127.0.0.1:")
        .and_then(|p| p.parse::<u16>().ok());
    let upstream = port.and_then(|p| TcpStream::connect(("127.0.0.1", p)).ok());
    let Some(upstream) = upstream else {
        let _ = client.write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
        return None;
    };
    client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .ok()?;
    Some(upstream)
}
