//! A minimal SOCKS5 proxy for tests (RFC 1928, no authentication, `CONNECT` only): it opens
//! the connection the client asks for and pipes bytes both ways, and counts the tunnels it
//! made. It only ever connects to 127.0.0.1; any other target is refused (reply 0x02).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

struct Shared {
    stop: AtomicBool,
    tunnels: AtomicU64,
    targets: Mutex<Vec<String>>,
}

/// A running SOCKS5 proxy on 127.0.0.1 (port 0); stopped when dropped.
pub struct Socks5Proxy {
    port: u16,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl Socks5Proxy {
    /// Starts the proxy.
    pub fn start() -> Socks5Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local_addr").port();
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            tunnels: AtomicU64::new(0),
            targets: Mutex::new(Vec::new()),
        });
        let s = shared.clone();
        let accept = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.stop.load(Ordering::Acquire) {
                    return;
                }
                if let Ok(conn) = conn {
                    let s = s.clone();
                    std::thread::spawn(move || {
                        let _ = tunnel(&s, conn);
                    });
                }
            }
        });
        Socks5Proxy {
            port,
            shared,
            accept: Some(accept),
        }
    }

    /// `socks5://127.0.0.1:PORT`, for `Config::set_proxy`.
    pub fn url(&self) -> String {
        format!("socks5://127.0.0.1:{}", self.port)
    }

    /// Tunnels opened so far.
    pub fn tunnels(&self) -> u64 {
        self.shared.tunnels.load(Ordering::Acquire)
    }

    /// The `host:port` of every CONNECT seen, in order.
    pub fn targets(&self) -> Vec<String> {
        self.shared.targets.lock().unwrap().clone()
    }
}

impl Drop for Socks5Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn read_n(conn: &mut TcpStream, n: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    conn.read_exact(&mut buf)?;
    Ok(buf)
}

fn tunnel(s: &Shared, mut client: TcpStream) -> std::io::Result<()> {
    // Greeting: VER NMETHODS METHODS...; we take "no authentication" (0x00).
    let greeting = read_n(&mut client, 2)?;
    let methods = read_n(&mut client, greeting[1].into())?;
    if greeting[0] != 5 || !methods.contains(&0) {
        return client.write_all(&[5, 0xff]);
    }
    client.write_all(&[5, 0])?;
    // Request: VER CMD RSV ATYP DST.ADDR DST.PORT.
    let req = read_n(&mut client, 4)?;
    let host = match req[3] {
        1 => {
            let a = read_n(&mut client, 4)?;
            format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3])
        }
        3 => {
            let len = read_n(&mut client, 1)?[0];
            String::from_utf8_lossy(&read_n(&mut client, len.into())?).into_owned()
        }
        _ => String::new(), // IPv6 or unknown: refused below
    };
    let p = read_n(&mut client, 2)?;
    let port = u16::from_be_bytes([p[0], p[1]]);
    s.targets.lock().unwrap().push(format!("{host}:{port}"));
    let upstream = if req[1] == 1 && host == "127.0.0.1" {
        TcpStream::connect(("127.0.0.1", port)).ok()
    } else {
        None
    };
    let Some(mut upstream) = upstream else {
        return client.write_all(&[5, 2, 0, 1, 0, 0, 0, 0, 0, 0]);
    };
    client.write_all(&[5, 0, 0, 1, 127, 0, 0, 1, 0, 0])?;
    s.tunnels.fetch_add(1, Ordering::AcqRel);
    let (mut c2, mut u2) = (client.try_clone()?, upstream.try_clone()?);
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut c2, &mut u2);
        let _ = u2.shutdown(Shutdown::Write);
    });
    let _ = std::io::copy(&mut upstream, &mut client);
    let _ = client.shutdown(Shutdown::Both);
    let _ = up.join();
    Ok(())
}
