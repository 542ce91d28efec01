//! Issue 22 probe: the cost of the transfer *model*, not a client.
//!
//! Fetches `--count` small bodies over `--conns` keep-alive connections, served by `--threads`
//! threads (each thread drives its share of the connections with `poll` over non-blocking
//! sockets, through ureq-proto's sans-IO calls: the HTTP code ureq itself runs on). With
//! `--threads` equal to `--conns` it is the thread-per-connection model libbgfetch's workers
//! use; with fewer threads, several connections share a thread and a thread sleeps only when
//! none of its connections has anything to read.
//!
//! Per body it makes the file system calls libbgfetch's store makes on tmpfs: the body file
//! opened (created, truncated), written, a line of ~800 bytes appended to a log with `pwrite`,
//! the file closed. It leaves out everything else libbgfetch does per body (the head kept as
//! JSON, progress events, the retry and resume rules, cancellation, timeouts, TLS, proxies)
//! and stops at the first error: its CPU is a lower bound for a client built on that model,
//! used in BENCHMARKS.md to tell what the model costs from what the rest costs.
//!
//! With `--client ureq` each of `--conns` threads fetches through one shared `ureq::Agent`
//! (blocking, as libbgfetch's workers do) instead, with the same work per body: what ureq's
//! agent adds to the sans-IO core.
//!
//! Usage: `probe-multiplex --base http://127.0.0.1:PORT --template /w2/f{i}.bin --count 1000
//! --conns 8 --threads 2 --out DIR [--client ureq]`

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use rustix::event::{poll, PollFd, PollFlags};
use ureq_proto::client::state::{RecvBody, RecvResponse};
use ureq_proto::client::{Call, RecvBodyResult, RecvResponseResult, SendRequestResult};
use ureq_proto::http::Request;

/// What the run fetches and where the bodies go.
struct Work {
    host: String,
    template: String,
    count: usize,
    out: String,
    /// The next body index to fetch.
    next: AtomicUsize,
    /// The log every body appends a line to, and where the next line goes.
    log: File,
    log_end: AtomicU64,
}

impl Work {
    /// Creates (or truncates) the file of body `i`, as the store opens a body file.
    fn create_body(&self, i: usize) -> File {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(format!("{}/{i}.body", self.out))
            .expect("creating a body file")
    }

    /// Appends a line to the log, as the store appends a head's line for each body.
    fn append_log_line(&self) {
        let at = self
            .log_end
            .fetch_add(LOG_LINE.len() as u64, Ordering::Relaxed);
        self.log
            .write_all_at(&LOG_LINE, at)
            .expect("appending to the log");
    }
}

/// Where a connection is in its exchange.
enum Exchange {
    Idle,
    Head(Call<RecvResponse>, usize),
    Body(Call<RecvBody>, File),
}

struct Conn {
    stream: TcpStream,
    exchange: Exchange,
    input: Vec<u8>,
    filled: usize,
    consumed: usize,
}

const LOG_LINE: [u8; 800] = [b'x'; 800];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |name: &str| {
        let i = args
            .iter()
            .position(|a| a == name)
            .unwrap_or_else(|| panic!("missing {name}"));
        args[i + 1].clone()
    };
    let base = arg("--base");
    let conns: usize = arg("--conns").parse().expect("--conns");
    let threads: usize = arg("--threads").parse().expect("--threads");
    assert!(
        threads >= 1 && conns.is_multiple_of(threads),
        "--conns must be a multiple of --threads"
    );
    let out = arg("--out");
    std::fs::create_dir_all(&out).expect("creating --out");
    let work = Work {
        host: base
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string(),
        template: arg("--template"),
        count: arg("--count").parse().expect("--count"),
        log: File::create(format!("{out}/heads.log")).expect("creating the log"),
        out,
        next: AtomicUsize::new(0),
        log_end: AtomicU64::new(0),
    };
    let via_ureq = match args.iter().position(|a| a == "--client") {
        None => false,
        Some(i) if args.get(i + 1).is_some_and(|c| c == "ureq") => true,
        Some(_) => panic!("--client takes only ureq"),
    };
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .max_idle_connections_per_host(conns)
            .accept_encoding("identity")
            .build(),
    );
    std::thread::scope(|s| {
        if via_ureq {
            for _ in 0..conns {
                s.spawn(|| fetch_with_ureq(&work, &agent));
            }
            return;
        }
        for _ in 0..threads {
            s.spawn(|| drive(&work, conns / threads));
        }
    });
    let done = std::fs::read_dir(&work.out).expect("listing --out").count() - 1;
    assert_eq!(done, work.count, "bodies stored");
}

/// Fetches bodies one at a time through `agent` until none is left.
fn fetch_with_ureq(work: &Work, agent: &ureq::Agent) {
    let mut body = vec![0u8; 256 * 1024];
    loop {
        let i = work.next.fetch_add(1, Ordering::Relaxed);
        if i >= work.count {
            return;
        }
        let path = work.template.replace("{i}", &i.to_string());
        let resp = agent
            .get(format!("http://{}{path}", work.host))
            .call()
            .expect("a response");
        assert_eq!(resp.status(), 200, "status");
        let mut file = work.create_body(i);
        let mut reader = resp.into_body().into_reader();
        loop {
            let n = reader.read(&mut body).expect("reading the body");
            if n == 0 {
                break;
            }
            file.write_all(&body[..n]).expect("writing a body");
        }
        work.append_log_line();
    }
}

/// Drives `n` connections until no body is left to fetch.
fn drive(work: &Work, n: usize) {
    let mut conns: Vec<Conn> = (0..n)
        .map(|_| {
            let stream = TcpStream::connect(&work.host).expect("connecting");
            stream.set_nodelay(true).expect("TCP_NODELAY");
            stream.set_nonblocking(true).expect("non-blocking");
            Conn {
                stream,
                exchange: Exchange::Idle,
                input: vec![0; 128 * 1024],
                filled: 0,
                consumed: 0,
            }
        })
        .collect();
    let mut output = vec![0u8; 16 * 1024];
    let mut body = vec![0u8; 256 * 1024];
    for c in &mut conns {
        send_next(work, c, &mut output);
    }
    loop {
        let waiting: Vec<usize> = (0..conns.len())
            .filter(|&k| !matches!(conns[k].exchange, Exchange::Idle))
            .collect();
        if waiting.is_empty() {
            return;
        }
        let mut fds: Vec<PollFd> = waiting
            .iter()
            .map(|&k| PollFd::new(&conns[k].stream, PollFlags::IN))
            .collect();
        poll(&mut fds, None).expect("poll");
        let ready: Vec<usize> = waiting
            .iter()
            .zip(&fds)
            .filter(|(_, fd)| !fd.revents().is_empty())
            .map(|(&k, _)| k)
            .collect();
        drop(fds);
        for k in ready {
            let c = &mut conns[k];
            if c.consumed == c.filled {
                c.consumed = 0;
                c.filled = 0;
            }
            match (&c.stream).read(&mut c.input[c.filled..]) {
                Ok(0) => panic!("the server closed a connection"),
                Ok(n) => c.filled += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
                Err(e) => panic!("reading: {e}"),
            }
            if advance(work, c, &mut body) {
                send_next(work, c, &mut output);
            }
        }
    }
}

/// Moves a connection's exchange on with the input it has; whether the body is complete.
fn advance(work: &Work, c: &mut Conn, body: &mut [u8]) -> bool {
    loop {
        match std::mem::replace(&mut c.exchange, Exchange::Idle) {
            Exchange::Idle => return false,
            Exchange::Head(mut call, i) => {
                let (used, resp) = call
                    .try_response(&c.input[c.consumed..c.filled], false)
                    .expect("parsing the head");
                c.consumed += used;
                let Some(resp) = resp else {
                    c.exchange = Exchange::Head(call, i);
                    return false;
                };
                assert_eq!(resp.status(), 200, "status");
                let Some(RecvResponseResult::RecvBody(call)) = call.proceed() else {
                    panic!("a response without a body");
                };
                let file = work.create_body(i);
                c.exchange = Exchange::Body(call, file);
            }
            Exchange::Body(mut call, mut file) => {
                let (used, n) = call
                    .read(&c.input[c.consumed..c.filled], body)
                    .expect("reading the body");
                c.consumed += used;
                file.write_all(&body[..n]).expect("writing a body");
                if call.can_proceed() {
                    let Some(RecvBodyResult::Cleanup(_)) = call.proceed() else {
                        panic!("not the end of the exchange");
                    };
                    work.append_log_line();
                    return true;
                }
                c.exchange = Exchange::Body(call, file);
                if c.consumed == c.filled {
                    return false;
                }
            }
        }
    }
}

/// Sends the request for the next body on `c`, if one is left.
fn send_next(work: &Work, c: &mut Conn, output: &mut [u8]) {
    let i = work.next.fetch_add(1, Ordering::Relaxed);
    if i >= work.count {
        return;
    }
    let path = work.template.replace("{i}", &i.to_string());
    let request = Request::get(format!("http://{}{path}", work.host))
        .header("accept", "*/*")
        .header("accept-encoding", "identity")
        .body(())
        .expect("a request");
    let mut call = Call::new(request).expect("a call").proceed();
    let n = call.write(output).expect("writing the request");
    let Ok(Some(SendRequestResult::RecvResponse(call))) = call.proceed() else {
        panic!("a GET without a body goes on to its response");
    };
    (&c.stream)
        .write_all(&output[..n])
        .expect("sending the request");
    c.exchange = Exchange::Head(call, i);
}
