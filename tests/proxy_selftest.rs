//! Self-tests of the fault-injecting proxy in `tests/common/proxy.rs`, against the test server,
//! using only std.

mod common;

use common::*;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

/// Longest any single read of a test may block: far more than any step needs.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A server and a proxy in front of it.
fn proxied_server() -> (TestServer, FaultProxy) {
    let server = TestServer::start();
    let proxy = FaultProxy::start(SocketAddr::from(([127, 0, 0, 1], server.port())));
    (server, proxy)
}

/// The bytes of `GET target` with `Connection: close`.
fn get_request(target: &str) -> String {
    format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
}

/// Connects to `addr` and sends `request`.
fn send(addr: SocketAddr, request: &[u8]) -> io::Result<TcpStream> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(READ_TIMEOUT))?;
    s.write_all(request)?;
    Ok(s)
}

/// Reads until end-of-file or an error, appending to `into`. A read timeout is a test failure:
/// the proxy was supposed to end the connection.
fn read_until_end(s: &mut TcpStream, into: &mut Vec<u8>) -> io::Result<()> {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => into.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                assert!(
                    !matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ),
                    "a read blocked for {READ_TIMEOUT:?}"
                );
                return Err(e);
            }
        }
    }
}

/// Length of the response head in `data` (through the blank line), if complete.
fn head_len(data: &[u8]) -> Option<usize> {
    data.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
}

/// A whole response: the status and the body, which must be as long as Content-Length says.
#[derive(Debug)]
struct Response {
    status: u16,
    body: Vec<u8>,
    /// Every byte received, head included.
    received: usize,
}

/// Parses a complete response (a short or headless one is an error).
fn parse(data: &[u8]) -> io::Result<Response> {
    let incomplete = || io::Error::from(io::ErrorKind::UnexpectedEof);
    let head_len = head_len(data).ok_or_else(incomplete)?;
    let head = String::from_utf8_lossy(&data[..head_len]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(incomplete)?;
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .ok_or_else(incomplete)?;
    let body = data[head_len..].to_vec();
    if body.len() != length {
        return Err(incomplete());
    }
    Ok(Response {
        status,
        body,
        received: data.len(),
    })
}

/// `GET target` through `addr` on a fresh connection, read to the end.
fn get(addr: SocketAddr, target: &str) -> io::Result<Response> {
    let mut s = send(addr, get_request(target).as_bytes())?;
    let mut data = Vec::new();
    read_until_end(&mut s, &mut data)?;
    parse(&data)
}

/// Starts a slow download of `n` bytes through the proxy and reads until some of the body
/// arrived; returns the connection and what it read so far.
fn start_slow_download(proxy: &FaultProxy, n: u64) -> (TcpStream, Vec<u8>) {
    let target = format!("/bytes/{n}?rate=400000");
    let mut s = send(proxy.addr(), get_request(&target).as_bytes()).expect("send");
    let mut data = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    while head_len(&data).is_none_or(|h| data.len() < h + 50_000) {
        let got = s.read(&mut buf).expect("the download starts");
        assert!(got > 0, "the download ended before the cut");
        data.extend_from_slice(&buf[..got]);
    }
    (s, data)
}

/// Reads the rest of a download after a cut and asserts it ended short of `n` body bytes.
fn assert_ends_short(mut s: TcpStream, mut data: Vec<u8>, n: u64) {
    // End-of-file or a reset: both are a broken download.
    let _ = read_until_end(&mut s, &mut data);
    let body = data.len() - head_len(&data).expect("the head arrived before the cut");
    assert!(
        (body as u64) < n,
        "the cut download got its whole body ({body} bytes)"
    );
}

/// Waits (bounded by `limit`) for the proxy to accept connections again.
fn wait_until_up(proxy: &FaultProxy, limit: Duration) {
    let deadline = Instant::now() + limit;
    while proxy.is_down() {
        assert!(
            Instant::now() < deadline,
            "the outage did not end by itself"
        );
        thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn bytes_pass_byte_exact_both_ways() {
    let (_server, proxy) = proxied_server();
    let r = get(proxy.addr(), "/bytes/1000000?seed=3").expect("get through the proxy");
    assert_eq!(r.status, 200);
    assert!(r.body == pattern(1_000_000, 3), "the body differs");

    let upload = pattern(300_000, 5);
    let sum = upload
        .iter()
        .fold(0u32, |s, &b| s.wrapping_add(u32::from(b)));
    let head = format!(
        "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        upload.len()
    );
    let mut s = send(proxy.addr(), head.as_bytes()).expect("send");
    s.write_all(&upload).expect("upload");
    let mut data = Vec::new();
    read_until_end(&mut s, &mut data).expect("read the echo");
    let echo = String::from_utf8(parse(&data).expect("a whole response").body).expect("JSON");
    assert!(echo.contains("\"length\":300000,"), "{echo}");
    assert!(echo.contains(&format!("\"sum\":{sum},")), "{echo}");
}

#[test]
fn url_names_the_proxy_the_way_the_test_server_names_itself() {
    let (server, proxy) = proxied_server();
    assert_eq!(proxy.addr().port(), proxy.port());
    for path in ["/bytes/5?x=1", "bytes/5?x=1"] {
        let via_proxy = url::Url::parse(&proxy.url(path)).expect("a URL");
        let direct = url::Url::parse(&server.url(path)).expect("a URL");
        assert_eq!(via_proxy.scheme(), "http");
        assert_eq!(via_proxy.host_str(), Some("127.0.0.1"));
        assert_eq!(via_proxy.port(), Some(proxy.port()));
        assert_eq!(via_proxy.path(), direct.path());
        assert_eq!(via_proxy.query(), direct.query());
    }
}

#[test]
fn cut_for_breaks_live_downloads_and_refuses_connections_until_it_ends() {
    const N: u64 = 4_000_000;
    const OUTAGE: Duration = Duration::from_secs(2);
    let (_server, proxy) = proxied_server();
    let (s, data) = start_slow_download(&proxy, N);
    assert!(!proxy.is_down());

    let cut_at = Instant::now();
    proxy.cut_for(OUTAGE);
    assert!(proxy.is_down());
    assert_ends_short(s, data, N);

    let (attempts, accepted) = (proxy.connection_attempts(), proxy.connections_accepted());
    let refused = get(proxy.addr(), "/bytes/10");
    assert!(
        refused.is_err(),
        "a request during the outage got {refused:?}"
    );
    assert_eq!(proxy.connection_attempts(), attempts + 1);
    assert_eq!(proxy.connections_accepted(), accepted);
    assert!(proxy.is_down(), "the outage ended early");

    wait_until_up(&proxy, OUTAGE + Duration::from_secs(10));
    assert!(cut_at.elapsed() >= OUTAGE);
    let r = get(proxy.addr(), "/bytes/70000?seed=1").expect("get after the outage");
    assert!(r.body == pattern(70_000, 1), "the body differs");
    assert_eq!(proxy.connections_accepted(), accepted + 1);
}

#[test]
fn go_down_and_go_up_bracket_an_outage_of_manual_length() {
    let (_server, proxy) = proxied_server();
    proxy.go_down();
    assert!(proxy.is_down());
    assert!(get(proxy.addr(), "/bytes/10").is_err());
    assert!(proxy.is_down(), "a manual outage does not end by itself");
    proxy.go_up();
    assert!(!proxy.is_down());
    assert_eq!(
        get(proxy.addr(), "/bytes/10").expect("get").body,
        pattern(10, 0)
    );
    assert_eq!(proxy.connection_attempts(), 2);
    assert_eq!(proxy.connections_accepted(), 1);
}

#[test]
fn cut_connections_breaks_live_downloads_but_keeps_accepting() {
    const N: u64 = 4_000_000;
    let (_server, proxy) = proxied_server();
    let (s, data) = start_slow_download(&proxy, N);
    proxy.cut_connections();
    assert!(!proxy.is_down());
    assert_ends_short(s, data, N);
    let r = get(proxy.addr(), "/bytes/1000?seed=2").expect("get after the cut");
    assert_eq!(r.body, pattern(1000, 2));
}

#[test]
fn counters_are_exact_for_a_known_transfer() {
    let (server, proxy) = proxied_server();
    let request = get_request("/bytes/123456");
    let mut s = send(proxy.addr(), request.as_bytes()).expect("send");
    let mut data = Vec::new();
    read_until_end(&mut s, &mut data).expect("read");
    let r = parse(&data).expect("a whole response");
    assert_eq!(r.body.len(), 123_456);
    assert_eq!(proxy.connection_attempts(), 1);
    assert_eq!(proxy.connections_accepted(), 1);
    assert_eq!(proxy.bytes_to_server(), request.len() as u64);
    assert_eq!(proxy.bytes_to_client(), r.received as u64);
    assert_eq!(server.stats().body_bytes_sent, 123_456);

    proxy.reset_counters();
    assert_eq!(proxy.connection_attempts(), 0);
    assert_eq!(proxy.connections_accepted(), 0);
    assert_eq!(proxy.bytes_to_server(), 0);
    assert_eq!(proxy.bytes_to_client(), 0);
}

#[test]
fn a_throttled_transfer_takes_at_least_its_size_over_the_rate_less_one_bucket() {
    const N: u64 = 300_000;
    const RATE: u64 = 200_000;
    let (_server, proxy) = proxied_server();
    proxy.set_rate(RATE);
    let started = Instant::now();
    let r = get(proxy.addr(), "/bytes/300000?seed=4").expect("throttled get");
    let took = started.elapsed();
    assert!(r.body == pattern(N, 4), "the body differs");
    let least = Duration::from_secs_f64(N as f64 / RATE as f64) - RATE_BURST;
    assert!(took >= least, "{N} bytes at {RATE} B/s took {took:?}");

    proxy.set_rate(0);
    let r = get(proxy.addr(), "/bytes/300000?seed=4").expect("unthrottled get");
    assert!(r.body == pattern(N, 4), "the body differs");
}

#[test]
fn latency_delays_the_response() {
    const LATENCY: Duration = Duration::from_millis(300);
    let (_server, proxy) = proxied_server();
    proxy.set_latency(LATENCY);
    let started = Instant::now();
    let r = get(proxy.addr(), "/bytes/100").expect("get");
    assert!(started.elapsed() >= LATENCY);
    assert_eq!(r.body, pattern(100, 0));
}

#[test]
fn a_reset_from_the_server_reaches_the_client_as_a_reset() {
    let (_server, proxy) = proxied_server();
    let mut s = send(
        proxy.addr(),
        get_request("/bytes/100000?reset_at=5000").as_bytes(),
    )
    .expect("send");
    let mut data = Vec::new();
    let end = read_until_end(&mut s, &mut data);
    assert_eq!(
        end.map_err(|e| e.kind()),
        Err(io::ErrorKind::ConnectionReset)
    );
    let head = head_len(&data).expect("the head arrived");
    assert!(
        data[head..] == pattern(5000, 0),
        "the bytes before the reset differ"
    );
}

#[test]
fn dropping_the_proxy_ends_its_connections_and_its_port() {
    const N: u64 = 4_000_000;
    let (_server, proxy) = proxied_server();
    let addr = proxy.addr();
    let (s, data) = start_slow_download(&proxy, N);
    // Drop returns once every thread of the proxy has been joined.
    drop(proxy);
    assert_ends_short(s, data, N);
    assert!(TcpStream::connect(addr).is_err());
}
