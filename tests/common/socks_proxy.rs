//! A minimal SOCKS5 proxy for tests (RFC 1928, no authentication, `CONNECT` only): it opens
//! the connection the client asks for and pipes bytes both ways, and counts the tunnels it
//! made. It only ever connects to 127.0.0.1; any other target is refused (reply 0x02).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Mutex;

use super::tunnel::TunnelProxy;

/// A running SOCKS5 proxy on 127.0.0.1 (port 0); stopped when dropped. Its counters are the
/// [`TunnelProxy`]'s.
pub struct Socks5Proxy(TunnelProxy);

impl Socks5Proxy {
    /// Starts the proxy.
    pub fn start() -> Socks5Proxy {
        Socks5Proxy(TunnelProxy::start(|client, targets| {
            handshake(client, targets).ok().flatten()
        }))
    }

    /// `socks5://127.0.0.1:PORT`, for `Config::set_proxy`.
    pub fn url(&self) -> String {
        format!("socks5://127.0.0.1:{}", self.0.port())
    }
}

impl std::ops::Deref for Socks5Proxy {
    type Target = TunnelProxy;
    fn deref(&self) -> &TunnelProxy {
        &self.0
    }
}

fn read_n(conn: &mut TcpStream, n: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    conn.read_exact(&mut buf)?;
    Ok(buf)
}

/// The greeting ("no authentication"), then `CONNECT` to 127.0.0.1:port (reply 0x00 and the
/// tunnel); anything else is refused (reply 0x02, or 0xff for the methods). `Ok(None)`:
/// refused and answered.
fn handshake(
    client: &mut TcpStream,
    targets: &Mutex<Vec<String>>,
) -> std::io::Result<Option<TcpStream>> {
    // Greeting: VER NMETHODS METHODS...; we take "no authentication" (0x00).
    let greeting = read_n(client, 2)?;
    let methods = read_n(client, greeting[1].into())?;
    if greeting[0] != 5 || !methods.contains(&0) {
        client.write_all(&[5, 0xff])?;
        return Ok(None);
    }
    client.write_all(&[5, 0])?;
    // Request: VER CMD RSV ATYP DST.ADDR DST.PORT.
    let req = read_n(client, 4)?;
    let host = match req[3] {
        1 => {
            let a = read_n(client, 4)?;
            format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3])
        }
        3 => {
            let len = read_n(client, 1)?[0];
            String::from_utf8_lossy(&read_n(client, len.into())?).into_owned()
        }
        _ => String::new(), // IPv6 or unknown: refused below
    };
    let p = read_n(client, 2)?;
    let port = u16::from_be_bytes([p[0], p[1]]);
    targets.lock().unwrap().push(format!("{host}:{port}"));
    let upstream = if req[1] == 1 && host == "127.0.0.1" {
        TcpStream::connect(("127.0.0.1", port)).ok()
    } else {
        None
    };
    let Some(upstream) = upstream else {
        client.write_all(&[5, 2, 0, 1, 0, 0, 0, 0, 0, 0])?;
        return Ok(None);
    };
    client.write_all(&[5, 0, 0, 1, 127, 0, 0, 1, 0, 0])?;
    Ok(Some(upstream))
}
