//! Plain TCP connections through our own transport: one `poll` as the pool's liveness probe,
//! socket timeouts set only when they change, and an input buffer that grows from 16 KiB.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use super::resolve::DnsCache;
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, NextTimeout, ShutdownHandle, Transport,
};

/// Opens the plain TCP connections (unless a proxy's connector in front of it already made
/// one), as ureq's own TCP connector does, into a [`Socket`].
#[derive(Debug)]
pub(super) struct TcpLink {
    /// The resolved names: addresses of which none took a connection are forgotten there.
    pub(super) dns: Arc<DnsCache>,
}

impl<In: Transport> Connector<In> for TcpLink {
    type Out = Either<In, Socket>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> std::result::Result<Option<Self::Out>, ureq::Error> {
        if chained.is_some() {
            return Ok(chained.map(Either::A));
        }
        let stream = connect_tcp(details).inspect_err(|_| self.dns.forget(&details.addrs))?;
        if details.config.no_delay() {
            stream.set_nodelay(true)?;
        }
        let socket = Socket {
            stream: Arc::new(stream),
            // Under TLS the buffer holds records, not responses: rustls reads them from it,
            // and feeding it less than ureq's buffer held made it copy far more (HTTPS
            // 1 GiB: 2x the user time). It starts at its full size then.
            buffers: GrowBuffers::new(
                details.config.input_buffer_size(),
                details.config.output_buffer_size(),
                details.needs_tls(),
            ),
            read_timeout: None,
            write_timeout: None,
            used: false,
        };
        let handle = Arc::downgrade(&socket.stream) as Weak<dyn ShutdownHandle>;
        (details.register_shutdown)(handle)?;
        Ok(Some(Either::B(socket)))
    }
}

/// Connects to the first of the resolved addresses that answers, sharing the connect timeout
/// between them as ureq does (halving it from one address to the next).
fn connect_tcp(details: &ConnectionDetails) -> std::result::Result<TcpStream, ureq::Error> {
    use std::io::ErrorKind::*;
    let timeout = details.timeout;
    let total = timeout.not_zero().map(|d| *d);
    let started = Instant::now();
    let n = details.addrs.len();
    let total_weight = 2.0 * (1.0 - 0.5_f64.powi(n as i32));
    let mut weight = 1.0_f64;
    let mut last_err = None;
    for addr in details.addrs.iter() {
        let per_addr = total.map(|t| {
            Duration::from_millis((t.as_secs_f64() * weight / total_weight * 1000.0) as u64)
                .max(Duration::from_millis(10))
        });
        match connect_one(addr, per_addr) {
            Ok(s) => return Ok(s),
            Err(e) if matches!(e.kind(), TimedOut | WouldBlock) => {
                if total.is_some_and(|t| started.elapsed() > t) {
                    return Err(ureq::Error::Timeout(timeout.reason));
                }
                last_err = Some(ureq::Error::Timeout(ureq::Timeout::Connect));
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ConnectionRefused
                        | HostUnreachable
                        | NetworkUnreachable
                        | NetworkDown
                        | AddrNotAvailable
                ) =>
            {
                last_err = Some(ureq::Error::Io(e));
            }
            Err(e) => return Err(ureq::Error::Io(e)),
        }
        weight /= 2.0;
    }
    Err(last_err.unwrap_or_else(|| {
        ureq::Error::Io(std::io::Error::new(ConnectionRefused, "Connection refused"))
    }))
}

fn connect_one(addr: &SocketAddr, timeout: Option<Duration>) -> std::io::Result<TcpStream> {
    match timeout {
        Some(t) => TcpStream::connect_timeout(addr, t),
        None => TcpStream::connect(addr),
    }
}

/// How much longer than asked a read or write may wait before its timeout fires: a socket
/// timeout is set again only when the one asked for moves by more than this (ureq asks for
/// the time left of the response head's deadline, a little less on every request).
const TIMEOUT_SLACK: Duration = Duration::from_millis(1);

/// A plain TCP connection, as ureq's own TCP transport but with fewer system calls per
/// request: the pool's liveness probe is one `poll` (ureq's sets the socket non-blocking,
/// reads and sets it blocking again: two `ioctl`s and a failed `recvfrom`, twice per
/// request), and a socket timeout is changed only when it moves by more than
/// [`TIMEOUT_SLACK`]. Blocking reads stay blocking: a cancel shuts the socket down
/// ([`CancelToken`]).
#[derive(Debug)]
pub(super) struct Socket {
    stream: Arc<TcpStream>,
    buffers: GrowBuffers,
    /// The timeouts set on the socket.
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    /// The socket was read or written since the last liveness probe.
    used: bool,
}

/// Sets a socket timeout to `want`, unless the one set already waits no more than
/// [`TIMEOUT_SLACK`] longer.
fn set_timeout(
    stream: &TcpStream,
    set: &mut Option<Duration>,
    want: Option<Duration>,
    f: fn(&TcpStream, Option<Duration>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let close_enough = match (*set, want) {
        (Some(s), Some(w)) => s >= w && s - w <= TIMEOUT_SLACK,
        (None, None) => true,
        _ => false,
    };
    if !close_enough {
        f(stream, want)?;
        *set = want;
    }
    Ok(())
}

/// An I/O error as ureq reports it: a socket timeout (`EAGAIN` with `SO_RCVTIMEO`) is its
/// `Timeout` error.
fn io_error(e: std::io::Error, reason: ureq::Timeout) -> ureq::Error {
    match e.kind() {
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
            ureq::Error::Timeout(reason)
        }
        _ => ureq::Error::Io(e),
    }
}

fn expired(t: &NextTimeout) -> std::result::Result<(), ureq::Error> {
    if t.after.is_zero() {
        Err(ureq::Error::Timeout(t.reason))
    } else {
        Ok(())
    }
}

impl Transport for Socket {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(
        &mut self,
        amount: usize,
        timeout: NextTimeout,
    ) -> std::result::Result<(), ureq::Error> {
        let timeout = timeout.for_write();
        expired(&timeout)?;
        let want = timeout.not_zero().map(|d| *d);
        set_timeout(
            &self.stream,
            &mut self.write_timeout,
            want,
            TcpStream::set_write_timeout,
        )?;
        self.used = true;
        let output = &self.buffers.output()[..amount];
        (&*self.stream)
            .write_all(output)
            .map_err(|e| io_error(e, timeout.reason))
    }

    fn await_input(&mut self, timeout: NextTimeout) -> std::result::Result<bool, ureq::Error> {
        let timeout = timeout.for_read();
        expired(&timeout)?;
        let want = timeout.not_zero().map(|d| *d);
        set_timeout(
            &self.stream,
            &mut self.read_timeout,
            want,
            TcpStream::set_read_timeout,
        )?;
        self.used = true;
        let started = Instant::now();
        let n = loop {
            match (&*self.stream).read(self.buffers.input_append_buf()) {
                Ok(n) => break n,
                // Linux does not restart a socket read with a timeout after a signal: read
                // again for the time left (as ureq does).
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                    let Some(want) = want else {
                        return Err(ureq::Error::Io(e));
                    };
                    let left = want.saturating_sub(started.elapsed());
                    if left.is_zero() {
                        return Err(ureq::Error::Timeout(timeout.reason));
                    }
                    self.stream.set_read_timeout(Some(left))?;
                    self.read_timeout = Some(left);
                }
                Err(e) => return Err(io_error(e, timeout.reason)),
            }
        };
        self.buffers.input_appended(n);
        Ok(n > 0)
    }

    /// Open while nothing is readable: a byte the server sent unasked or its close (as
    /// ureq's probe decides), in one `poll` that does not wait.
    ///
    /// ureq probes a connection twice per request: when it goes back to the pool right after
    /// the response (the socket was just used) and when it is taken out for the next request.
    /// The first is answered without a system call: whatever it would find (bytes past the
    /// body, a close) the second finds too, before anything is sent, and the connection is
    /// dropped then.
    fn is_open(&mut self) -> bool {
        if std::mem::replace(&mut self.used, false) {
            return true;
        }
        use rustix::event::{poll, PollFd, PollFlags, Timespec};
        let mut fds = [PollFd::new(&*self.stream, PollFlags::IN)];
        let now = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        matches!(poll(&mut fds, Some(&now)), Ok(0))
    }
}

/// The smallest input buffer of a plain connection.
const MIN_INPUT_BUFFER: usize = 16 * 1024;

/// Most room a request body chunk takes in the input buffer (as ureq's own buffers).
const MIN_TMP_SIZE: usize = 10 * 1024;

/// A plain connection's buffers, as ureq's own (`LazyBuffers`) except that the input buffer
/// of a connection without TLS starts at [`MIN_INPUT_BUFFER`] and grows fourfold, up to the
/// configured size, whenever a read fills it: ureq's allocates the configured size (128 KiB),
/// zeroed, at the first use, so that every connection keeps it resident even when it only
/// ever carries small responses.
#[derive(Debug)]
struct GrowBuffers {
    input: Vec<u8>,
    filled: usize,
    consumed: usize,
    /// The last read filled all the room there was: grow before the next.
    grow: bool,
    max_input: usize,
    output: Vec<u8>,
    output_size: usize,
    /// The last consume was of more than nothing (see `Buffers::can_use_input`).
    progress: bool,
}

impl GrowBuffers {
    /// `full`: the input buffer starts at `max_input`.
    fn new(max_input: usize, output_size: usize, full: bool) -> GrowBuffers {
        let max_input = max_input.max(1);
        GrowBuffers {
            input: if full { vec![0; max_input] } else { Vec::new() },
            filled: 0,
            consumed: 0,
            grow: false,
            max_input,
            output: Vec::new(),
            output_size: output_size.max(1),
            progress: false,
        }
    }

    /// Makes room at the end of the input: moves what is unconsumed to the front when that
    /// frees much, grows when asked or when there is no room at all.
    fn make_room(&mut self, at_least: usize) {
        if self.consumed == self.filled {
            self.consumed = 0;
            self.filled = 0;
        } else if self.consumed > 0 && self.filled > self.input.len() / 2 {
            self.input.copy_within(self.consumed..self.filled, 0);
            self.filled -= self.consumed;
            self.consumed = 0;
        }
        let mut want = self.input.len().max(MIN_INPUT_BUFFER.min(self.max_input));
        if self.grow || self.filled == want {
            want = (want * 4).min(self.max_input.max(want));
            self.grow = false;
        }
        want = want.max(self.filled + at_least);
        if want > self.input.len() {
            self.input.resize(want, 0);
        }
    }

    fn ensure_output(&mut self) {
        if self.output.len() < self.output_size {
            self.output.resize(self.output_size, 0);
        }
    }
}

impl Buffers for GrowBuffers {
    fn output(&mut self) -> &mut [u8] {
        self.ensure_output();
        &mut self.output
    }

    fn input(&self) -> &[u8] {
        &self.input[self.consumed..self.filled]
    }

    fn input_append_buf(&mut self) -> &mut [u8] {
        self.make_room(1);
        &mut self.input[self.filled..]
    }

    fn input_appended(&mut self, amount: usize) {
        let room = self.input.len() - self.filled;
        assert!(
            amount <= room,
            "more input appended than there was room for"
        );
        self.grow = amount == room && self.input.len() < self.max_input;
        self.filled += amount;
    }

    fn input_consume(&mut self, amount: usize) {
        self.progress = amount > 0;
        self.consumed += amount;
        assert!(
            self.consumed <= self.filled,
            "more input consumed than filled"
        );
    }

    fn tmp_and_output(&mut self) -> (&mut [u8], &mut [u8]) {
        self.ensure_output();
        self.make_room(MIN_TMP_SIZE);
        (&mut self.input[self.filled..], &mut self.output)
    }

    fn can_use_input(&self) -> bool {
        self.consumed < self.filled && self.progress
    }
}
