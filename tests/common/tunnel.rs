//! What the test proxies share (`CONNECT` in `connect_proxy.rs`, SOCKS5 in `socks_proxy.rs`):
//! a listener on 127.0.0.1 (port 0), a thread per connection that runs the protocol's
//! handshake and then pipes bytes both ways between the client and the target, the targets
//! asked for and the tunnels opened. Stopped when dropped.

use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::server::stop_accepting;

/// A protocol's handshake on a new client connection: it records the target asked for (in
/// `targets`), answers the client, and returns the connection to the target if the tunnel is
/// open (`None`: refused, already answered, or the client went away).
pub(super) type Handshake = fn(&mut TcpStream, &Mutex<Vec<String>>) -> Option<TcpStream>;

struct Shared {
    stop: AtomicBool,
    tunnels: AtomicU64,
    targets: Mutex<Vec<String>>,
}

/// A running tunnelling proxy.
pub struct TunnelProxy {
    port: u16,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl TunnelProxy {
    /// Starts a proxy speaking `handshake`.
    pub(super) fn start(handshake: Handshake) -> TunnelProxy {
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
                    std::thread::spawn(move || tunnel(&s, conn, handshake));
                }
            }
        });
        TunnelProxy {
            port,
            shared,
            accept: Some(accept),
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Tunnels opened so far.
    pub fn tunnels(&self) -> u64 {
        self.shared.tunnels.load(Ordering::Acquire)
    }

    /// The `host:port` of every target asked for, in order.
    pub fn targets(&self) -> Vec<String> {
        self.shared.targets.lock().unwrap().clone()
    }
}

impl Drop for TunnelProxy {
    fn drop(&mut self) {
        stop_accepting(&self.shared.stop, self.port, &mut self.accept);
    }
}

fn tunnel(s: &Shared, mut client: TcpStream, handshake: Handshake) {
    let Some(mut upstream) = handshake(&mut client, &s.targets) else {
        return;
    };
    s.tunnels.fetch_add(1, Ordering::AcqRel);
    let (Ok(mut c2), Ok(mut u2)) = (client.try_clone(), upstream.try_clone()) else {
        return;
    };
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut c2, &mut u2);
        let _ = u2.shutdown(Shutdown::Write);
    });
    let _ = std::io::copy(&mut upstream, &mut client);
    let _ = client.shutdown(Shutdown::Both);
    let _ = up.join();
}
