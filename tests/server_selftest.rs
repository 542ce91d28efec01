//! Self-tests of the test HTTP server in `tests/common/server.rs`, using only std.

mod common;

use common::*;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// A tiny hand-written HTTP/1.1 client.
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

struct Client {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Client {
    fn connect(port: u16) -> Client {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Client {
            r: BufReader::new(s.try_clone().unwrap()),
            w: s,
        }
    }

    fn send(&mut self, data: &[u8]) {
        self.w.write_all(data).expect("send");
    }

    fn request(&mut self, method: &str, target: &str, headers: &[(&str, &str)]) {
        let mut s = format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        for (n, v) in headers {
            s.push_str(&format!("{n}: {v}\r\n"));
        }
        s.push_str("\r\n");
        self.send(s.as_bytes());
    }

    /// Reads status line + headers.
    fn read_head(&mut self) -> io::Result<(u16, Vec<(String, String)>)> {
        let mut line = String::new();
        if self.r.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, line.clone()))?;
        let mut headers = Vec::new();
        loop {
            let mut l = String::new();
            if self.r.read_line(&mut l)? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            let l = l.trim_end_matches(['\r', '\n']);
            if l.is_empty() {
                break;
            }
            let (n, v) = l.split_once(':').expect("header colon");
            headers.push((n.trim().to_string(), v.trim().to_string()));
        }
        Ok((status, headers))
    }

    fn read_chunked(&mut self) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let mut l = String::new();
            self.r.read_line(&mut l)?;
            let size = usize::from_str_radix(l.trim(), 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, l.clone()))?;
            if size == 0 {
                let mut end = String::new();
                self.r.read_line(&mut end)?;
                assert_eq!(end, "\r\n");
                return Ok(body);
            }
            let at = body.len();
            body.resize(at + size, 0);
            self.r.read_exact(&mut body[at..])?;
            let mut crlf = [0u8; 2];
            self.r.read_exact(&mut crlf)?;
            assert_eq!(&crlf, b"\r\n");
        }
    }

    /// Reads a whole response (skipping 1xx), framing by chunked / Content-Length / EOF.
    fn response(&mut self, head_request: bool) -> io::Result<Resp> {
        let (status, headers) = loop {
            let (s, h) = self.read_head()?;
            if s >= 200 {
                break (s, h);
            }
        };
        let mut resp = Resp {
            status,
            headers,
            body: Vec::new(),
        };
        if head_request || status == 204 || status == 304 {
            return Ok(resp);
        }
        if resp
            .header("transfer-encoding")
            .is_some_and(|t| t.contains("chunked"))
        {
            resp.body = self.read_chunked()?;
        } else if let Some(cl) = resp.header("content-length") {
            let n: usize = cl.parse().unwrap();
            resp.body = vec![0; n];
            self.r.read_exact(&mut resp.body)?;
        } else {
            self.r.read_to_end(&mut resp.body)?;
        }
        Ok(resp)
    }

    fn get(&mut self, target: &str, headers: &[(&str, &str)]) -> Resp {
        self.request("GET", target, headers);
        self.response(false).expect("response")
    }

    /// Reads everything until EOF or error; returns (bytes, error kind if any).
    fn drain(&mut self) -> (Vec<u8>, Option<io::ErrorKind>) {
        let mut out = Vec::new();
        let mut buf = [0u8; 65536];
        loop {
            match self.r.read(&mut buf) {
                Ok(0) => return (out, None),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) => return (out, Some(e.kind())),
            }
        }
    }
}

fn get(srv: &TestServer, target: &str, headers: &[(&str, &str)]) -> Resp {
    Client::connect(srv.port()).get(target, headers)
}

fn header_end(data: &[u8]) -> usize {
    data.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers")
        + 4
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[test]
fn pattern_matches_formula() {
    for seed in [0u64, 1, 5, 300] {
        let p = pattern(300_000, seed);
        assert_eq!(p.len(), 300_000);
        for (i, &b) in p.iter().enumerate() {
            let i = i as u64;
            assert_eq!(b, ((i % 251 + 7 * seed + i / 65536) % 256) as u8, "i={i}");
            assert_eq!(b, pattern_byte(i, seed));
        }
    }
    assert!(pattern(0, 0).is_empty());
    assert_eq!(pattern_byte(65536, 0), ((65536 % 251) + 1) as u8);
}

#[test]
fn urls_and_closed_port() {
    let srv = TestServer::start();
    let p = srv.port();
    assert_eq!(srv.base(), format!("http://127.0.0.1:{p}/"));
    assert_eq!(
        srv.url("/bytes/10"),
        format!("http://127.0.0.1:{p}/bytes/10")
    );
    let cp = closed_port();
    assert!(TcpStream::connect(("127.0.0.1", cp)).is_err());
}

#[test]
fn bytes_basic_and_head() {
    let srv = TestServer::start();
    let r = get(&srv, "/bytes/100000?seed=3", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, pattern(100_000, 3));
    assert_eq!(r.header("content-length"), Some("100000"));
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    assert_eq!(r.header("etag"), Some("\"100000-3\""));
    assert_eq!(
        r.header("last-modified"),
        Some("Wed, 21 Oct 2015 07:28:00 GMT")
    );

    let mut c = Client::connect(srv.port());
    c.request("HEAD", "/bytes/500", &[]);
    let h = c.response(true).unwrap();
    assert_eq!(h.status, 200);
    assert_eq!(h.header("content-length"), Some("500"));
    assert!(h.body.is_empty());
    // The connection is still usable: no body was sent after HEAD.
    let r = c.get("/bytes/7", &[]);
    assert_eq!(r.body, pattern(7, 0));

    let r = get(&srv, "/bytes/0", &[]);
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());

    // Other methods and bad sizes are not routes.
    let mut c = Client::connect(srv.port());
    c.request("POST", "/bytes/10", &[("Content-Length", "0")]);
    assert_eq!(c.response(false).unwrap().status, 404);
    assert_eq!(get(&srv, "/bytes/abc", &[]).status, 404);
}

#[test]
fn bytes_validators_and_headers() {
    let srv = TestServer::start();
    let r = get(&srv, "/bytes/10?etag=abc", &[]);
    assert_eq!(r.header("etag"), Some("\"abc\""));
    let r = get(&srv, "/bytes/10?etag=none&lm=none", &[]);
    assert_eq!(r.header("etag"), None);
    assert_eq!(r.header("last-modified"), None);
    let r = get(&srv, "/bytes/10?weak=1", &[]);
    assert_eq!(r.header("etag"), Some("W/\"10-0\""));
    let r = get(
        &srv,
        "/bytes/10?vary=Accept-Encoding&header=X-One:1&header=X-Two:%20two%20&ct=text/plain",
        &[],
    );
    assert_eq!(r.header("vary"), Some("Accept-Encoding"));
    assert_eq!(r.header("x-one"), Some("1"));
    assert_eq!(r.header("x-two"), Some("two"));
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.body, pattern(10, 0));
}

#[test]
fn ranges() {
    let srv = TestServer::start();
    let n = 200_000u64;
    let full = pattern(n, 2);
    let t = format!("/bytes/{n}?seed=2");
    let r = get(&srv, &t, &[("Range", "bytes=65530-")]);
    assert_eq!(r.status, 206);
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes 65530-{}/{n}", n - 1).as_str())
    );
    assert_eq!(r.body, &full[65530..]);
    assert_eq!(
        r.header("content-length"),
        Some((n - 65530).to_string().as_str())
    );

    let r = get(&srv, &t, &[("Range", "bytes=100-199")]);
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some("bytes 100-199/200000"));
    assert_eq!(r.body, &full[100..200]);

    let r = get(&srv, &t, &[("Range", "bytes=199990-300000")]);
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &full[199_990..]);

    let r = get(&srv, &t, &[("Range", "bytes=-10")]);
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &full[(n as usize - 10)..]);

    // Unsatisfiable.
    let r = get(&srv, &t, &[("Range", "bytes=200000-")]);
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-range"), Some("bytes */200000"));
    assert!(r.body.is_empty());

    // If-Range.
    let etag = "\"200000-2\"";
    let r = get(&srv, &t, &[("Range", "bytes=10-"), ("If-Range", etag)]);
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &full[10..]);
    let r = get(
        &srv,
        &t,
        &[("Range", "bytes=10-"), ("If-Range", "\"other\"")],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body, full);
    let lm = "Wed, 21 Oct 2015 07:28:00 GMT";
    let r = get(&srv, &t, &[("Range", "bytes=10-"), ("If-Range", lm)]);
    assert_eq!(r.status, 206);
    let r = get(
        &srv,
        &format!("{t}&lm=none"),
        &[("Range", "bytes=10-"), ("If-Range", lm)],
    );
    assert_eq!(r.status, 200);
    let r = get(
        &srv,
        "/bytes/100?etag=x",
        &[
            ("Range", "bytes=10-"),
            ("If-Range", "Thu, 01 Jan 1970 00:00:00 GMT"),
        ],
    );
    assert_eq!(r.status, 200);
    // Weak validators never match If-Range (strong comparison).
    let r = get(
        &srv,
        "/bytes/100?weak=1",
        &[("Range", "bytes=10-"), ("If-Range", "W/\"100-0\"")],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), 100);
    // If-Range mismatch with an unsatisfiable range: full 200.
    let r = get(
        &srv,
        "/bytes/100",
        &[("Range", "bytes=500-"), ("If-Range", "\"nope\"")],
    );
    assert_eq!(r.status, 200);

    // noranges
    let r = get(&srv, "/bytes/100?noranges=1", &[("Range", "bytes=10-")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, pattern(100, 0));
    assert_eq!(r.header("content-range"), None);

    // badrange: Content-Range claims N+1 but the body starts at N.
    let r = get(&srv, "/bytes/100?badrange=1", &[("Range", "bytes=10-")]);
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some("bytes 11-99/100"));
    assert_eq!(r.body, &pattern(100, 0)[10..]);
    // Without Range badrange changes nothing.
    let r = get(&srv, "/bytes/100?badrange=1", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, pattern(100, 0));

    // HEAD with Range.
    let mut c = Client::connect(srv.port());
    c.request("HEAD", "/bytes/100", &[("Range", "bytes=90-")]);
    let h = c.response(true).unwrap();
    assert_eq!(h.status, 206);
    assert_eq!(h.header("content-length"), Some("10"));
}

#[test]
fn chunked_bytes() {
    let srv = TestServer::start();
    let r = get(&srv, "/bytes/300000?chunked=1&seed=9", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.header("content-length"), None);
    assert_eq!(r.body, pattern(300_000, 9));
    let r = get(&srv, "/bytes/1000?chunked=1", &[("Range", "bytes=900-")]);
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &pattern(1000, 0)[900..]);
    let r = get(&srv, "/bytes/0?chunked=1", &[]);
    assert!(r.body.is_empty());
}

#[test]
fn status_param_and_route() {
    let srv = TestServer::start();
    let r = get(&srv, "/bytes/50?status=503", &[("Range", "bytes=10-")]);
    assert_eq!(r.status, 503);
    assert_eq!(r.body, pattern(50, 0));
    let mut c = Client::connect(srv.port());
    let r = c.get("/status/418", &[]);
    assert_eq!(r.status, 418);
    assert_eq!(r.text(), "status 418\n");
    assert_eq!(r.header("content-length"), Some("11"));
    let r = c.get("/status/599", &[]);
    assert_eq!(r.status, 599);
    // Bodiless statuses keep the connection usable.
    let r = c.get("/status/204", &[]);
    assert_eq!(r.status, 204);
    let r = c.get("/status/304", &[]);
    assert_eq!(r.status, 304);
    let r = c.get("/status/500", &[]);
    assert_eq!(r.status, 500);
    assert_eq!(r.text(), "status 500\n");
}

#[test]
fn cl_delta_both_signs() {
    let srv = TestServer::start();
    // Positive: declared 1010, 1000 sent, then the connection closes.
    let mut c = Client::connect(srv.port());
    c.request("GET", "/bytes/1000?cl_delta=10", &[]);
    let (status, headers) = c.read_head().unwrap();
    assert_eq!(status, 200);
    assert!(headers.contains(&("Content-Length".into(), "1010".into())));
    let (body, err) = c.drain();
    assert_eq!(err, None);
    assert_eq!(body, pattern(1000, 0));

    // Negative: declared 990, all 1000 bytes follow, then close.
    let mut c = Client::connect(srv.port());
    c.request("GET", "/bytes/1000?cl_delta=-10", &[]);
    let (_, headers) = c.read_head().unwrap();
    assert!(headers.contains(&("Content-Length".into(), "990".into())));
    let (body, _) = c.drain();
    assert_eq!(body, pattern(1000, 0));
}

#[test]
fn reset_at_gives_short_body_and_reset() {
    let srv = TestServer::start();
    let mut c = Client::connect(srv.port());
    c.request("GET", "/bytes/100000?reset_at=5000", &[]);
    let (status, _) = c.read_head().unwrap();
    assert_eq!(status, 200);
    let (body, err) = c.drain();
    assert_eq!(body, pattern(5000, 0));
    assert_eq!(err, Some(io::ErrorKind::ConnectionReset));

    // Chunked + reset: short body, no terminator.
    let mut c = Client::connect(srv.port());
    c.request("GET", "/bytes/100000?reset_at=10&chunked=1", &[]);
    let (_, _) = c.read_head().unwrap();
    let (raw, err) = c.drain();
    assert_eq!(err, Some(io::ErrorKind::ConnectionReset));
    assert!(raw.starts_with(b"a\r\n"));
    assert!(!raw.ends_with(b"0\r\n\r\n"));
}

#[test]
fn reset_before_headers_and_close_mid_headers() {
    let srv = TestServer::start();
    let mut c = Client::connect(srv.port());
    c.request("GET", "/bytes/100?reset_before_headers=1", &[]);
    let (data, err) = c.drain();
    assert!(data.is_empty());
    assert_eq!(err, Some(io::ErrorKind::ConnectionReset));

    let mut c = Client::connect(srv.port());
    c.request("GET", "/bytes/100?close_mid_headers=1", &[]);
    let (data, err) = c.drain();
    assert_eq!(err, Some(io::ErrorKind::ConnectionReset));
    assert!(data.starts_with(b"HTTP/1.1 2"), "{data:?}");
    assert!(!data.windows(4).any(|w| w == b"\r\n\r\n"));

    // The requests were logged.
    let log = srv.requests();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].target, "/bytes/100?reset_before_headers=1");
}

#[test]
fn fail_times_then_normal() {
    let srv = TestServer::start();
    let t = "/bytes/20000?reset_at=100&fail_times=2";
    for _ in 0..2 {
        let mut c = Client::connect(srv.port());
        c.request("GET", t, &[]);
        c.read_head().unwrap();
        let (body, err) = c.drain();
        assert_eq!(body.len(), 100);
        assert_eq!(err, Some(io::ErrorKind::ConnectionReset));
    }
    let r = get(&srv, t, &[]);
    assert_eq!(r.body, pattern(20_000, 0));
    // Range support after the faults.
    let r = get(&srv, t, &[("Range", "bytes=100-")]);
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &pattern(20_000, 0)[100..]);
    // A different query is counted separately.
    let mut c = Client::connect(srv.port());
    c.request("GET", "/bytes/20000?reset_at=100&fail_times=1&seed=0", &[]);
    c.read_head().unwrap();
    assert_eq!(c.drain().1, Some(io::ErrorKind::ConnectionReset));

    // Other faults with fail_times.
    let t = "/bytes/100?reset_before_headers=1&fail_times=1";
    let mut c = Client::connect(srv.port());
    c.request("GET", t, &[]);
    assert_eq!(c.drain().0.len(), 0);
    assert_eq!(get(&srv, t, &[]).body, pattern(100, 0));

    let t = "/bytes/100?close_mid_headers=1&fail_times=1";
    let mut c = Client::connect(srv.port());
    c.request("GET", t, &[]);
    assert_eq!(c.drain().1, Some(io::ErrorKind::ConnectionReset));
    assert_eq!(get(&srv, t, &[]).body, pattern(100, 0));

    let t = "/bytes/100?cl_delta=5&fail_times=1";
    let mut c = Client::connect(srv.port());
    c.request("GET", t, &[]);
    let (_, h) = c.read_head().unwrap();
    assert!(h.contains(&("Content-Length".into(), "105".into())));
    let r = get(&srv, t, &[]);
    assert_eq!(r.header("content-length"), Some("100"));

    let t = "/bytes/100?stall_ms=300&fail_times=1";
    let t0 = Instant::now();
    get(&srv, t, &[]);
    assert!(t0.elapsed() >= Duration::from_millis(290));
    let t0 = Instant::now();
    get(&srv, t, &[]);
    assert!(t0.elapsed() < Duration::from_millis(250));
}

#[test]
fn stalls() {
    let srv = TestServer::start();
    let t0 = Instant::now();
    let r = get(&srv, "/bytes/100?stall_ms=300", &[]);
    assert!(t0.elapsed() >= Duration::from_millis(290));
    assert_eq!(r.body, pattern(100, 0));

    let mut c = Client::connect(srv.port());
    let t0 = Instant::now();
    c.request("GET", "/bytes/1000?stall_ms=600&stall_at=100", &[]);
    c.read_head().unwrap();
    let mut first = vec![0u8; 100];
    c.r.read_exact(&mut first).unwrap();
    assert!(
        t0.elapsed() < Duration::from_millis(400),
        "head+100 bytes came quickly"
    );
    let mut rest = vec![0u8; 900];
    c.r.read_exact(&mut rest).unwrap();
    assert!(t0.elapsed() >= Duration::from_millis(590));
    first.extend_from_slice(&rest);
    assert_eq!(first, pattern(1000, 0));
}

#[test]
fn rate_throttles() {
    let srv = TestServer::start();
    let t0 = Instant::now();
    let r = get(&srv, "/bytes/20000?rate=50000", &[]);
    let el = t0.elapsed();
    assert_eq!(r.body, pattern(20_000, 0));
    assert!(el >= Duration::from_millis(350), "{el:?}");
    assert!(el < Duration::from_millis(1500), "{el:?}");
}

#[test]
fn redirects() {
    let srv = TestServer::start();
    let to = "http%3A%2F%2F127.0.0.1%3A1%2Fbytes%2F5%3Fseed%3D1";
    let r = get(&srv, &format!("/redirect?to={to}&n=3&code=307"), &[]);
    assert_eq!(r.status, 307);
    assert_eq!(
        r.header("location"),
        Some(format!("/redirect?to={to}&n=2&code=307").as_str())
    );
    let r = get(&srv, &format!("/redirect?to={to}&n=2&code=307"), &[]);
    assert_eq!(
        r.header("location"),
        Some(format!("/redirect?to={to}&n=1&code=307").as_str())
    );
    let r = get(&srv, &format!("/redirect?to={to}&n=1&code=307"), &[]);
    assert_eq!(
        r.header("location"),
        Some("http://127.0.0.1:1/bytes/5?seed=1")
    );
    let r = get(&srv, "/redirect?to=%2Fbytes%2F10", &[]);
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), Some("/bytes/10"));
    let r = get(&srv, "/redirect-loop", &[]);
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), Some("/redirect-loop"));
    let r = get(&srv, "/redirect-scheme", &[]);
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), Some("ftp://127.0.0.1/x"));
}

fn json_u64(json: &str, key: &str) -> u64 {
    let pat = format!("\"{key}\":");
    let at = json.find(&pat).unwrap_or_else(|| panic!("{key} in {json}")) + pat.len();
    json[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect::<String>()
        .parse()
        .unwrap()
}

#[test]
fn echo_content_length_chunked_and_expect() {
    let srv = TestServer::start();
    let body = pattern(70_000, 4);
    let sum = body.iter().map(|&b| b as u64).sum::<u64>() % (1 << 32);

    let mut c = Client::connect(srv.port());
    c.send(
        format!(
            "PUT /echo?vary=Origin&header=X-A:b HTTP/1.1\r\nHost: x\r\nX-Dup: 1\r\nx-dup: 2\r\nX-Quote: a\"b\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    c.send(&body);
    let r = c.response(false).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("vary"), Some("Origin"));
    assert_eq!(r.header("x-a"), Some("b"));
    let j = r.text();
    assert!(
        j.starts_with("{\"method\":\"PUT\",\"length\":70000,"),
        "{j}"
    );
    assert_eq!(json_u64(&j, "length"), 70_000);
    assert_eq!(json_u64(&j, "sum"), sum);
    assert!(j.contains("\"headers\":{\"host\":\"x\""), "{j}");
    assert!(j.contains("\"x-dup\":\"1, 2\""), "{j}");
    assert!(j.contains("\"x-quote\":\"a\\\"b\""), "{j}");

    // Chunked request body on the same connection.
    c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    c.send(b"3\r\nabc\r\n10;ext=1\r\n0123456789abcdef\r\n0\r\nTrailer: x\r\n\r\n");
    let r = c.response(false).unwrap();
    let j = r.text();
    assert_eq!(json_u64(&j, "length"), 19);
    let s: u64 = b"abc0123456789abcdef".iter().map(|&b| b as u64).sum();
    assert_eq!(json_u64(&j, "sum"), s);
    assert!(j.contains("\"method\":\"POST\""));

    // Expect: 100-continue: the interim response arrives before we send the body.
    c.send(b"PUT /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    let (s, _) = c.read_head().unwrap();
    assert_eq!(s, 100);
    c.send(b"hello");
    let r = c.response(false).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(json_u64(&r.text(), "length"), 5);

    // GET without a body.
    let r = c.get("/echo", &[]);
    assert!(r.text().contains("\"length\":0"));

    let log = srv.requests();
    assert_eq!(log.len(), 4);
    assert_eq!(log[0].method, "PUT");
    assert_eq!(log[0].body_len, 70_000);
    assert_eq!(log[1].body_len, 19);
    assert_eq!(log[2].body_len, 5);
    assert_eq!(log[0].headers[1], ("X-Dup".to_string(), "1".to_string()));
    assert_eq!(log[0].header("x-dup"), Some("1"));
    let st = srv.stats();
    assert_eq!(st.body_bytes_received, 70_000 + 19 + 5);
    assert_eq!(st.connections, 1);
}

#[test]
fn echo_read_rate() {
    let srv = TestServer::start();
    let body = vec![1u8; 10_000];
    let mut c = Client::connect(srv.port());
    let t0 = Instant::now();
    c.send(b"POST /echo?read_rate=25000 HTTP/1.1\r\nHost: x\r\nContent-Length: 10000\r\n\r\n");
    c.send(&body);
    let r = c.response(false).unwrap();
    let el = t0.elapsed();
    assert_eq!(json_u64(&r.text(), "sum"), 10_000);
    assert!(el >= Duration::from_millis(300), "{el:?}");
    assert!(el < Duration::from_millis(1500), "{el:?}");
}

#[test]
fn headers_flood_and_bad_chunked_and_404() {
    let srv = TestServer::start();
    let mut c = Client::connect(srv.port());
    c.request("GET", "/headers-flood?kb=8", &[]);
    let r = c.response(false).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "ok");
    let flood: usize = r
        .headers
        .iter()
        .filter(|(n, _)| n.starts_with("X-Flood-"))
        .map(|(n, v)| n.len() + v.len() + 4)
        .sum();
    assert_eq!(flood, 8 * 1024);

    let mut c = Client::connect(srv.port());
    c.request("GET", "/bad-chunked", &[]);
    let (s, h) = c.read_head().unwrap();
    assert_eq!(s, 200);
    assert!(h.contains(&("Transfer-Encoding".into(), "chunked".into())));
    let err = c.read_chunked().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);

    let r = get(&srv, "/nope", &[]);
    assert_eq!(r.status, 404);
    assert_eq!(r.text(), "not found\n");
}

#[test]
fn request_head_too_large_431() {
    let srv = TestServer::start();
    let mut c = Client::connect(srv.port());
    let big = "a".repeat(70 * 1024);
    c.send(format!("GET /bytes/1 HTTP/1.1\r\nX-Big: {big}\r\n\r\n").as_bytes());
    let r = c.response(false).unwrap();
    assert_eq!(r.status, 431);
    // Just under the limit is fine.
    let mut c = Client::connect(srv.port());
    let big = "a".repeat(60 * 1024);
    c.send(format!("GET /bytes/1 HTTP/1.1\r\nX-Big: {big}\r\n\r\n").as_bytes());
    assert_eq!(c.response(false).unwrap().status, 200);
}

#[test]
fn stats_and_reset() {
    let srv = TestServer::start();
    let mut c = Client::connect(srv.port());
    c.get("/bytes/1000", &[]);
    c.get("/bytes/500", &[("Range", "bytes=100-")]);
    c.request("HEAD", "/bytes/777", &[]);
    c.response(true).unwrap();
    let s = srv.stats();
    assert_eq!(s.requests, 3);
    assert_eq!(s.connections, 1);
    assert_eq!(s.body_bytes_sent, 1400);
    assert_eq!(s.body_bytes_received, 0);

    let j = c.get("/_stats", &[]).text();
    assert_eq!(json_u64(&j, "requests"), 3);
    assert_eq!(json_u64(&j, "connections"), 1);
    assert_eq!(json_u64(&j, "body_bytes_sent"), 1400);
    assert_eq!(json_u64(&j, "body_bytes_received"), 0);
    assert_eq!(srv.stats().requests, 3, "/_stats is not counted");
    assert_eq!(srv.requests().len(), 3);
    assert_eq!(srv.requests()[1].header("range"), Some("bytes=100-"));

    let r = c.get("/_reset", &[]);
    assert_eq!(r.text(), "ok");
    assert_eq!(srv.stats(), Stats::default());
    assert!(srv.requests().is_empty());

    // After a reset a reused connection counts again.
    c.get("/bytes/10", &[]);
    assert_eq!(srv.stats().connections, 1);
    srv.reset_stats();
    assert_eq!(srv.stats(), Stats::default());
    get(&srv, "/bytes/1", &[]);
    get(&srv, "/bytes/1", &[]);
    let s = srv.stats();
    assert_eq!((s.requests, s.connections, s.body_bytes_sent), (2, 2, 2));
}

#[test]
fn keep_alive_pipelining_and_connection_close() {
    let srv = TestServer::start();
    let mut c = Client::connect(srv.port());
    // Pipelined: three requests in one write.
    c.send(b"GET /bytes/3 HTTP/1.1\r\nHost: x\r\n\r\nGET /status/201 HTTP/1.1\r\nHost: x\r\n\r\nGET /bytes/5?chunked=1 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(c.response(false).unwrap().body, pattern(3, 0));
    assert_eq!(c.response(false).unwrap().status, 201);
    assert_eq!(c.response(false).unwrap().body, pattern(5, 0));
    // Connection: close is honoured.
    let r = c.get("/bytes/4", &[("Connection", "close")]);
    assert_eq!(r.header("connection"), Some("close"));
    assert_eq!(c.drain(), (vec![], None));
    assert_eq!(srv.stats().connections, 1);
    assert_eq!(srv.stats().requests, 4);

    // HTTP/1.0 closes by default, keeps alive on request.
    let mut c = Client::connect(srv.port());
    c.send(b"GET /bytes/2 HTTP/1.0\r\n\r\n");
    let (body, _) = c.drain();
    assert!(body.ends_with(&pattern(2, 0)));
    let mut c = Client::connect(srv.port());
    c.send(b"GET /bytes/2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let r = c.response(false).unwrap();
    assert_eq!(r.header("connection"), Some("keep-alive"));
    let r = c.get("/bytes/3", &[]);
    assert_eq!(r.body, pattern(3, 0));

    // Malformed request line: 400 and close.
    let mut c = Client::connect(srv.port());
    c.send(b"NONSENSE\r\n\r\n");
    let (data, _) = c.drain();
    assert!(data.starts_with(b"HTTP/1.1 400"));
    let end = header_end(&data);
    assert_eq!(end, data.len());
}

#[test]
fn many_tiny_requests_on_one_connection() {
    let srv = TestServer::start();
    let mut c = Client::connect(srv.port());
    let t0 = Instant::now();
    for _ in 0..10_000 {
        let r = c.get("/bytes/1", &[]);
        assert_eq!(r.status, 200);
    }
    let el = t0.elapsed();
    assert!(el < Duration::from_secs(3), "{el:?}");
    let s = srv.stats();
    assert_eq!(s.requests, 10_000);
    assert_eq!(s.connections, 1);
}

#[test]
fn large_body_streams_fast() {
    let srv = TestServer::start();
    let n: u64 = 64 << 20;
    let mut c = Client::connect(srv.port());
    c.request("GET", &format!("/bytes/{n}?seed=1"), &[]);
    let (s, _) = c.read_head().unwrap();
    assert_eq!(s, 200);
    let t0 = Instant::now();
    let mut buf = vec![0u8; 1 << 20];
    let mut got = 0u64;
    while got < n {
        let k = c.r.read(&mut buf).unwrap();
        assert!(k > 0);
        // Spot-check a few bytes per read.
        assert_eq!(buf[0], pattern_byte(got, 1));
        assert_eq!(buf[k - 1], pattern_byte(got + k as u64 - 1, 1));
        got += k as u64;
    }
    let el = t0.elapsed();
    assert!(el < Duration::from_secs(2), "{el:?}");
    assert_eq!(srv.stats().body_bytes_sent, n);
}

#[test]
fn client_vanishing_mid_body_is_harmless() {
    let srv = TestServer::start();
    for q in [
        "",
        "?chunked=1",
        "?rate=100000",
        "?stall_at=10&stall_ms=100",
    ] {
        let mut c = Client::connect(srv.port());
        c.request("GET", &format!("/bytes/100000000{q}"), &[]);
        c.read_head().unwrap();
        let mut buf = [0u8; 1000];
        c.r.read_exact(&mut buf).unwrap();
        drop(c);
    }
    // Vanish mid-upload too.
    let mut c = Client::connect(srv.port());
    c.send(b"PUT /echo HTTP/1.1\r\nContent-Length: 1000000\r\n\r\nabc");
    drop(c);
    // Vanish mid-headers.
    let mut c = Client::connect(srv.port());
    c.send(b"GET /bytes/1 HTTP/1.1\r\nHost:");
    drop(c);
    std::thread::sleep(Duration::from_millis(150));
    let r = get(&srv, "/bytes/10", &[]);
    assert_eq!(r.body, pattern(10, 0));
    assert!(srv.stats().body_bytes_sent < 100_000_000);
}

#[test]
fn drop_stops_server_and_connections() {
    let srv = TestServer::start();
    let port = srv.port();
    // An idle keep-alive connection and a stalled request.
    let mut idle = Client::connect(port);
    idle.get("/bytes/1", &[]);
    let mut stalled = Client::connect(port);
    stalled.request("GET", "/bytes/10?stall_ms=60000", &[]);
    std::thread::sleep(Duration::from_millis(50));
    let t0 = Instant::now();
    drop(srv);
    assert!(t0.elapsed() < Duration::from_secs(1));
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    // Both connections end promptly.
    let (d, _) = idle.drain();
    assert!(d.is_empty());
    let (d, _) = stalled.drain();
    assert!(d.is_empty());
    assert!(t0.elapsed() < Duration::from_secs(2));
}

#[test]
fn concurrent_clients() {
    let srv = TestServer::start();
    let port = srv.port();
    let threads: Vec<_> = (0..16u64)
        .map(|t| {
            std::thread::spawn(move || {
                let mut c = Client::connect(port);
                for i in 0..50u64 {
                    let n = 1000 + i * 37;
                    let r = c.get(&format!("/bytes/{n}?seed={t}"), &[]);
                    assert_eq!(r.body, pattern(n, t));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let s = srv.stats();
    assert_eq!(s.requests, 16 * 50);
    assert_eq!(s.connections, 16);
    assert_eq!(srv.requests().len(), 16 * 50);
}

#[test]
fn drop_during_transfers() {
    let srv = TestServer::start();
    let port = srv.port();
    let mut slow = Client::connect(port);
    slow.request("GET", "/bytes/10000000?rate=10000", &[]);
    slow.read_head().unwrap();
    let mut upload = Client::connect(port);
    upload.send(b"PUT /echo?read_rate=1000 HTTP/1.1\r\nContent-Length: 100000\r\n\r\n");
    upload.send(&[7u8; 5000]);
    let mut big = Client::connect(port);
    big.request("GET", "/bytes/1000000000", &[]);
    big.read_head().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let t0 = Instant::now();
    drop(srv);
    for c in [&mut slow, &mut upload, &mut big] {
        let _ = c.drain();
    }
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
}

// ---------------------------------------------------------------------------------------------
// Issue 18: servers that misbehave as real ones do.
// ---------------------------------------------------------------------------------------------

/// Sends `GET target` with `Connection: close` and extra `headers`, and returns everything the
/// server sent (head and body, raw) and how the connection ended.
fn raw_get(port: u16, target: &str, headers: &[(&str, &str)]) -> (Vec<u8>, Option<io::ErrorKind>) {
    let mut c = Client::connect(port);
    let mut all = vec![("Connection", "close")];
    all.extend_from_slice(headers);
    c.request("GET", target, &all);
    c.drain()
}

/// Whether `hay` contains `needle`.
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Decodes the chunks at the start of `raw` (a chunked body) until a line that is not a chunk
/// size; returns the data and the rest of `raw` from that line on.
fn dechunk_prefix(raw: &[u8]) -> (Vec<u8>, &[u8]) {
    let mut data = Vec::new();
    let mut at = 0;
    loop {
        let rest = &raw[at..];
        let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else {
            return (data, rest);
        };
        let Some(size) = std::str::from_utf8(&rest[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s, 16).ok())
        else {
            return (data, rest);
        };
        data.extend_from_slice(&rest[eol + 2..eol + 2 + size]);
        at += eol + 2 + size + 2;
        if size == 0 {
            return (data, &raw[at..]);
        }
    }
}

#[test]
fn close_delimited_and_http10_bodies() {
    let srv = TestServer::start();
    let full = pattern(100_000, 2);
    // HTTP/1.1 with Connection: close, neither Content-Length nor chunked: the end is the FIN.
    let mut c = Client::connect(srv.port());
    c.request("GET", "/bytes/100000?seed=2&close_delimited=1", &[]);
    let (status, headers) = c.read_head().unwrap();
    assert_eq!(status, 200);
    let has = |n: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(n));
    assert!(
        !has("content-length") && !has("transfer-encoding"),
        "{headers:?}"
    );
    assert!(headers.contains(&("Connection".into(), "close".into())));
    assert!(headers.contains(&("ETag".into(), "\"100000-2\"".into())));
    let (body, err) = c.drain();
    assert_eq!(err, None, "not a clean end");
    assert!(body == full);

    // HTTP/1.0: the same with a 1.0 status line and no Connection header.
    let (raw, err) = raw_get(srv.port(), "/bytes/100000?seed=2&http10=1", &[]);
    assert_eq!(err, None);
    assert!(raw.starts_with(b"HTTP/1.0 200 OK\r\n"));
    let end = header_end(&raw);
    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
    assert!(
        !head.contains("content-length") && !head.contains("connection"),
        "{head}"
    );
    assert!(raw[end..] == full[..]);

    // A Range request gets a 206 with Content-Range and Content-Length, then the close.
    let mut c = Client::connect(srv.port());
    let r = c.get(
        "/bytes/100000?seed=2&close_delimited=1",
        &[("Range", "bytes=90000-")],
    );
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some("bytes 90000-99999/100000"));
    assert_eq!(r.header("content-length"), Some("10000"));
    assert!(r.body == full[90_000..]);
    assert_eq!(c.drain(), (vec![], None), "the connection stays open");
    let (raw, _) = raw_get(
        srv.port(),
        "/bytes/100000?seed=2&http10=1",
        &[("Range", "bytes=10-19")],
    );
    assert!(raw.starts_with(b"HTTP/1.0 206 Partial Content\r\n"));
    assert!(raw[header_end(&raw)..] == full[10..20]);
    // noranges: the whole body, close-delimited.
    let (raw, _) = raw_get(
        srv.port(),
        "/bytes/100000?seed=2&close_delimited=1&noranges=1",
        &[("Range", "bytes=10-")],
    );
    assert!(raw.starts_with(b"HTTP/1.1 200 OK\r\n"));
    assert!(raw[header_end(&raw)..] == full[..]);

    // A reset mid-body, on the first request only.
    let t = "/bytes/100000?seed=2&close_delimited=1&reset_at=30000&fail_times=1";
    let (raw, err) = raw_get(srv.port(), t, &[]);
    assert_eq!(err, Some(io::ErrorKind::ConnectionReset));
    assert!(raw[header_end(&raw)..] == full[..30_000]);
    let (raw, err) = raw_get(srv.port(), t, &[]);
    assert_eq!(err, None);
    assert!(raw[header_end(&raw)..] == full[..]);

    // Throttled.
    let t0 = Instant::now();
    let (raw, _) = raw_get(srv.port(), "/bytes/20000?close_delimited=1&rate=50000", &[]);
    assert!(raw[header_end(&raw)..] == pattern(20_000, 0)[..]);
    assert!(t0.elapsed() >= Duration::from_millis(350));
}

#[test]
fn the_last_of_two_range_headers_and_unasked_or_short_206s() {
    let srv = TestServer::start();
    let full = pattern(1000, 1);
    let two = [("Range", "bytes=0-9"), ("Range", "bytes=100-109")];
    // By default the first Range header counts; with range=last the last one.
    let r = get(&srv, "/bytes/1000?seed=1", &two);
    assert_eq!(r.header("content-range"), Some("bytes 0-9/1000"));
    let r = get(&srv, "/bytes/1000?seed=1&range=last", &two);
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some("bytes 100-109/1000"));
    assert_eq!(r.body, &full[100..110]);
    let log = srv.requests();
    assert_eq!(
        log[1].header_values("range"),
        vec!["bytes=0-9", "bytes=100-109"]
    );

    // sub206: a 206 to a request without Range; a request with Range is answered as usual.
    let r = get(&srv, "/bytes/1000?seed=1&sub206=100-199", &[]);
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some("bytes 100-199/1000"));
    assert_eq!(r.header("content-length"), Some("100"));
    assert_eq!(r.body, &full[100..200]);
    let r = get(&srv, "/bytes/1000?seed=1&sub206=900-5000", &[]);
    assert_eq!(r.header("content-range"), Some("bytes 900-999/1000"));
    let r = get(
        &srv,
        "/bytes/1000?seed=1&sub206=100-199",
        &[("Range", "bytes=10-")],
    );
    assert_eq!(r.header("content-range"), Some("bytes 10-999/1000"));

    // max_range: every 206 is short, and says so.
    let r = get(
        &srv,
        "/bytes/1000?seed=1&max_range=100",
        &[("Range", "bytes=50-")],
    );
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some("bytes 50-149/1000"));
    assert_eq!(r.header("content-length"), Some("100"));
    assert_eq!(r.body, &full[50..150]);
    let r = get(
        &srv,
        "/bytes/1000?seed=1&max_range=100",
        &[("Range", "bytes=950-")],
    );
    assert_eq!(r.header("content-range"), Some("bytes 950-999/1000"));
    let r = get(&srv, "/bytes/1000?seed=1&max_range=100", &[]);
    assert_eq!((r.status, r.body.len()), (200, 1000));
}

#[test]
fn statuses_and_empty_200s_for_range_requests_only() {
    let srv = TestServer::start();
    let full = pattern(1000, 0);
    let t = "/bytes/1000?range_status=503&range_fail_times=2&retry_after=3";
    let range = [("Range", "bytes=500-")];
    // A request without Range is not counted and gets the body.
    assert_eq!(get(&srv, t, &[]).body, full);
    for _ in 0..2 {
        let r = get(&srv, t, &range);
        assert_eq!(r.status, 503);
        assert_eq!(r.header("retry-after"), Some("3"));
        assert_eq!(r.text(), "status 503\n");
    }
    let r = get(&srv, t, &range);
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &full[500..]);
    assert_eq!(r.header("retry-after"), None);
    // Without range_fail_times every Range request; fail_times does not gate it.
    let t = "/bytes/1000?range_status=429&fail_times=0";
    for _ in 0..3 {
        assert_eq!(get(&srv, t, &range).status, 429);
    }

    // range_empty200: a 200 with Content-Length: 0 and the same validators.
    let t = "/bytes/1000?range_empty200=1";
    let r = get(&srv, t, &range);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("0"));
    assert_eq!(r.header("etag"), Some("\"1000-0\""));
    assert_eq!(
        r.header("last-modified"),
        Some("Wed, 21 Oct 2015 07:28:00 GMT")
    );
    assert!(r.body.is_empty());
    let r = get(&srv, t, &range);
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &full[500..]);

    // Each logged request has the time it was received, in order.
    let log = srv.requests();
    assert!(log.windows(2).all(|w| w[0].at <= w[1].at));
}

#[test]
fn malformed_chunks_conflicting_lengths_and_odd_header_lines() {
    let srv = TestServer::start();
    let full = pattern(1000, 0);
    // A malformed chunk once the body reaches byte 300, then the close.
    let (raw, err) = raw_get(srv.port(), "/bytes/1000?bad_chunk_at=300", &[]);
    assert_eq!(err, None);
    let end = header_end(&raw);
    assert!(contains(&raw[..end], b"Transfer-Encoding: chunked\r\n"));
    let (data, rest) = dechunk_prefix(&raw[end..]);
    assert_eq!(data, &full[..300]);
    assert!(rest.starts_with(b"zz-not-hex\r\n"), "{rest:?}");
    // At once when it is at 0, or for a range that starts past it.
    let (raw, _) = raw_get(srv.port(), "/bytes/1000?bad_chunk_at=0", &[]);
    assert!(raw[header_end(&raw)..].starts_with(b"zz-not-hex\r\n"));
    let (raw, _) = raw_get(
        srv.port(),
        "/bytes/1000?bad_chunk_at=300",
        &[("Range", "bytes=500-")],
    );
    assert!(raw.starts_with(b"HTTP/1.1 206"));
    assert!(raw[header_end(&raw)..].starts_with(b"zz-not-hex\r\n"));
    // A fault: with fail_times, the next request is a proper chunked body.
    let t = "/bytes/1000?bad_chunk_at=300&fail_times=1";
    let _ = raw_get(srv.port(), t, &[]);
    let r = get(&srv, t, &[]);
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.body, full);

    // Two Content-Length headers that disagree; the body has the first one's length.
    let (raw, err) = raw_get(srv.port(), "/bytes/100?cl_conflict=10", &[]);
    assert_eq!(err, None);
    let end = header_end(&raw);
    assert!(contains(
        &raw[..end],
        b"Content-Length: 100\r\nContent-Length: 110\r\n"
    ));
    assert_eq!(&raw[end..], &pattern(100, 0)[..]);

    // obs-fold and a space before the colon.
    let (raw, _) = raw_get(srv.port(), "/bytes/10?fold=1&space_colon=1", &[]);
    let end = header_end(&raw);
    assert!(contains(
        &raw[..end],
        b"\r\nX-Folded: first part\r\n second part\r\n"
    ));
    assert!(contains(&raw[..end], b"\r\nX-Spaced : value\r\n"));
    assert_eq!(&raw[end..], &pattern(10, 0)[..]);

    // A head over 64 KiB.
    let (raw, _) = raw_get(srv.port(), "/headers-flood?kb=65", &[]);
    assert!(header_end(&raw) > 65 * 1024);
}

#[test]
fn redirect_raw_sends_non_ascii_location_bytes_unescaped() {
    let srv = TestServer::start();
    let (raw, _) = raw_get(
        srv.port(),
        "/redirect-raw?to=%2Fbytes%2F10%3Fname%3D%C3%A9",
        &[],
    );
    assert!(raw.starts_with(b"HTTP/1.1 302 Found\r\n"));
    assert!(contains(&raw, b"\r\nLocation: /bytes/10?name=\xC3\xA9\r\n"));
    let (raw, _) = raw_get(
        srv.port(),
        "/redirect-raw?to=%2Fbytes%2F10%3Fname%3D%E9&code=301",
        &[],
    );
    assert!(raw.starts_with(b"HTTP/1.1 301 Moved Permanently\r\n"));
    assert!(contains(&raw, b"\r\nLocation: /bytes/10?name=\xE9\r\n"));
    assert_eq!(&raw[header_end(&raw)..], b"");
}

#[test]
fn rogue_ssh_banner_sends_its_banner_and_waits() {
    let rogue = Rogue::ssh_banner();
    let mut c = Client::connect(rogue.port());
    c.request("GET", "/", &[]);
    let mut banner = vec![0u8; SSH_BANNER.len()];
    c.r.read_exact(&mut banner).unwrap();
    assert_eq!(banner, SSH_BANNER);
    // Nothing more: the read times out (an observation window).
    c.w.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut more = [0u8; 16];
    let e = c.r.read(&mut more).unwrap_err();
    assert!(
        matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ),
        "{e:?}"
    );
    assert_eq!(rogue.connections(), 1);
    assert!(rogue.lives()[0].closed.is_none());
    drop(c);
    wait_closed(&rogue, 0);
}

/// Waits (at most 10 s) until the rogue saw connection `i` close.
fn wait_closed(rogue: &Rogue, i: usize) {
    let t0 = Instant::now();
    while rogue.lives()[i].closed.is_none() {
        assert!(t0.elapsed() < Duration::from_secs(10), "never closed");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn rogue_bad_request_answers_anything_with_400_and_closes() {
    let rogue = Rogue::bad_request();
    let mut c = Client::connect(rogue.port());
    // The start of a TLS ClientHello.
    c.send(&[
        0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03,
    ]);
    let (raw, err) = c.drain();
    assert_eq!(err, None);
    assert!(raw.starts_with(b"HTTP/1.1 400 Bad Request\r\n"));
    assert!(contains(&raw, b"\r\nConnection: close\r\n"));
    assert_eq!(rogue.answered(), 1);
    wait_closed(&rogue, 0);
    assert_eq!(rogue.connections(), 1);
}

#[test]
fn rogue_trickle_head_never_ends_and_sees_the_close() {
    let rogue = Rogue::trickle_head();
    let mut c = Client::connect(rogue.port());
    let t0 = Instant::now();
    c.request("GET", "/x", &[]);
    let status_line = b"HTTP/1.1 200 OK\r\n";
    let mut got = vec![0u8; status_line.len() + 5];
    c.r.read_exact(&mut got).unwrap();
    // One byte per 100 ms: 22 bytes take at least 2.1 s.
    assert!(
        t0.elapsed() >= Duration::from_millis(2000),
        "{:?}",
        t0.elapsed()
    );
    assert!(got.starts_with(status_line));
    assert_eq!(&got[status_line.len()..], b"X-Tri");
    assert!(rogue.lives()[0].closed.is_none());
    let closed_at = Instant::now();
    drop(c);
    wait_closed(&rogue, 0);
    let life = rogue.lives()[0];
    assert!(life.closed.unwrap() >= closed_at);
    assert!(life.duration() < t0.elapsed() + Duration::from_secs(1));
    assert_eq!(rogue.request_lines(), vec!["GET /x HTTP/1.1".to_string()]);
}

#[test]
fn rogue_stale_keep_alive_answers_once_per_connection() {
    let rogue = Rogue::stale_keep_alive();
    for round in 0..2u64 {
        let mut c = Client::connect(rogue.port());
        let r = c.get(&format!("/bytes/100?seed={round}"), &[]);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-length"), Some("100"));
        assert_eq!(r.header("connection"), None, "advertised as keep-alive");
        assert_eq!(r.body, pattern(100, round));
        // The next request on the same connection: read, then the connection closes.
        c.request("GET", "/bytes/100", &[]);
        assert_eq!(c.drain(), (vec![], None));
    }
    assert_eq!(rogue.connections(), 2);
    assert_eq!(rogue.answered(), 2);
    assert_eq!(rogue.dropped(), 2);
}

#[test]
fn range_ignoring_cutters_cut_at_the_same_place_every_time() {
    let srv = TestServer::start();
    let full = pattern(1000, 0);
    for _ in 0..2 {
        // noranges + reset_at: the whole body from byte 0, reset after 300 bytes.
        let (raw, err) = raw_get(
            srv.port(),
            "/bytes/1000?noranges=1&reset_at=300",
            &[("Range", "bytes=300-")],
        );
        assert_eq!(err, Some(io::ErrorKind::ConnectionReset));
        assert!(raw.starts_with(b"HTTP/1.1 200 OK\r\n"));
        assert!(contains(&raw, b"\r\nContent-Length: 1000\r\n"));
        assert_eq!(&raw[header_end(&raw)..], &full[..300]);
        // noranges + cl_delta=100: 100 bytes announced that never come, then a clean close.
        let (raw, err) = raw_get(
            srv.port(),
            "/bytes/1000?noranges=1&cl_delta=100",
            &[("Range", "bytes=300-")],
        );
        assert_eq!(err, None);
        assert!(contains(&raw, b"\r\nContent-Length: 1100\r\n"));
        assert_eq!(&raw[header_end(&raw)..], &full[..]);
        // noranges + bad_chunk_at: the malformed chunk at byte 300 of the content.
        let (raw, _) = raw_get(
            srv.port(),
            "/bytes/1000?noranges=1&bad_chunk_at=300",
            &[("Range", "bytes=300-")],
        );
        assert!(raw.starts_with(b"HTTP/1.1 200 OK\r\n"));
        let (data, rest) = dechunk_prefix(&raw[header_end(&raw)..]);
        assert_eq!(data, &full[..300]);
        assert!(rest.starts_with(b"zz-not-hex\r\n"));
    }
}
