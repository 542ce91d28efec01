//! One request's transfer: send it (counting the uploaded bytes), follow redirects, store the
//! response head, stream the body to `<n>.part` with a bounded buffer, resume with `Range` +
//! `If-Range` after an interruption, verify integrity, and hand the `.part` to the sync thread.
//! What to ask and what an answer means are decided in [`crate::resume`]; how a failed
//! attempt goes on, in [`crate::retry`].

use std::cell::RefCell;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::Arc;

use std::time::Duration;

use crate::head::ResponseHead;
use crate::integrity::{Hasher, Integrity};
use crate::net;
use crate::outcome::Outcome;
use crate::registration::{Engine, FailureReason, RecordJob, Registration};
use crate::resume::{self, Ask, BodyEnd, Ending, Verdict};
use crate::retry::{is_retryable_status, parse_retry_after, FailureKind};
use crate::store::{self, StoredRequest};

/// What a transfer asks of the manager beyond what its registration does (the manager
/// implements it; this module never imports the manager or the sync thread).
pub(crate) trait TransferHost: Engine {
    /// The HTTP agent (proxy, TLS roots, cancellable sockets).
    fn agent(&self) -> &ureq::Agent;
    /// The bandwidth cap.
    fn rate(&self) -> &crate::throttle::RateLimiter;
    /// Hands a complete body to the sync thread, which makes it durable and completes it.
    fn sync_body(&self, finished: Finished);
}

/// A complete body waiting to be made durable.
pub(crate) struct Finished {
    pub(crate) reg: Arc<Registration>,
    pub(crate) index: usize,
    pub(crate) file: File,
}

/// Most redirects followed for one request.
pub const MAX_REDIRECTS: u32 = 20;
/// Largest size of the buffer a worker streams bodies through.
const BUF_SIZE: usize = 256 * 1024;
/// Smallest size of that buffer. It starts at the body's length within these bounds and
/// grows when a read fills it, so that workers fetching small bodies never touch (and keep
/// resident) 256 KiB each.
const MIN_BUF_SIZE: usize = 16 * 1024;
/// The longest sleep of a transfer held back by the bandwidth cap before it looks again.
const RATE_WAIT_SLICE: Duration = Duration::from_millis(100);

thread_local! {
    static BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Why an attempt ended without completing.
enum Fail {
    /// The attempt failed: the retry policy says whether and when the record is tried again.
    Attempt {
        kind: FailureKind,
        msg: String,
        /// The server's `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// A transient status: the record waits in the delay queue for its next attempt.
    Waiting,
    /// Another attempt would fail the same way.
    Fatal(String),
    /// The stored partial body can be neither continued nor replaced: it is discarded, and
    /// the attempt failed.
    Restart(&'static str),
    /// The fetch stopped (abort, quota, download total, close) or holds (pause, offline).
    Stopped,
}

impl Fail {
    /// A transient failure of the attempt.
    fn transient(msg: String) -> Fail {
        Fail::Attempt {
            kind: FailureKind::Transient,
            msg,
            retry_after: None,
        }
    }

    /// A failure of the HTTP client, sorted for the retry policy (`context` says what was
    /// being done).
    fn of_client(e: ureq::Error, context: &str) -> Fail {
        let (kind, msg) = net::classify(e);
        let msg = format!("{context}{msg}");
        match kind {
            FailureKind::Fatal => Fail::Fatal(msg),
            kind => Fail::Attempt {
                kind,
                msg,
                retry_after: None,
            },
        }
    }
}

/// Makes one attempt at record `index` of `reg`. A failed attempt goes to the retry policy:
/// the record waits in the delay queue for its next attempt (the worker moves on), or it
/// fails; a pause, going offline or close leaves it for the worker loop to queue again.
pub(crate) fn run(shared: &dyn TransferHost, job: &RecordJob) {
    if job.must_stop() {
        return;
    }
    let req = job.request();
    let res = net::with_token(job.cancel_token(), || attempt_once(shared, job, &req));
    let Err(fail) = res else { return };
    if job.must_stop() {
        return;
    }
    let (kind, msg, retry_after) = match fail {
        Fail::Stopped | Fail::Waiting => return,
        Fail::Fatal(msg) => {
            job.finish(Outcome::Failed(msg));
            return;
        }
        Fail::Restart(why) => {
            job.reset_body();
            shared.store().remove_part(job.key(), job.index());
            (FailureKind::Transient, why.to_string(), None)
        }
        Fail::Attempt {
            kind,
            msg,
            retry_after,
        } => (kind, msg, retry_after),
    };
    if !job.attempt_failed((kind, &msg), retry_after) {
        job.finish(Outcome::Failed(msg));
    }
}

/// The bytes of a `Location` header as a URL reference: bytes outside printable ASCII
/// (raw UTF-8 or Latin-1, spaces, controls) percent-encoded, as browsers and curl follow them.
fn location_ref(raw: &[u8]) -> String {
    const ESCAPED: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS.add(b' ');
    percent_encoding::percent_encode(raw.trim_ascii(), ESCAPED).to_string()
}

struct UploadCounter<'a, 'j> {
    file: File,
    sent: u64,
    job: &'a RecordJob<'j>,
}

impl Read for UploadCounter<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read(buf)?;
        self.sent += n as u64;
        self.job.set_uploaded(self.sent);
        Ok(n)
    }
}

/// Whether an I/O error means the disk (or the file-size limit) is full.
pub(crate) fn is_disk_full(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOSPC) | Some(libc::EDQUOT) | Some(libc::EFBIG)
    )
}

/// Whether an exchange that failed on a pooled connection met a connection the server had
/// closed (it answered nothing): the request goes out again at once on a fresh connection.
fn is_stale_connection(e: &ureq::Error) -> bool {
    use std::io::ErrorKind::*;
    net::exchange_on_pooled()
        && matches!(e, ureq::Error::Io(io)
            if matches!(io.kind(), UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe))
}

/// One request of record `index` to `url` (an exchange: the request and the answer's head).
/// `ask` says which `Range` to send in place of the host's.
fn exchange(
    shared: &dyn TransferHost,
    job: &RecordJob,
    req: &StoredRequest,
    (url, method, with_body): (&url::Url, &str, bool),
    ask: &Ask,
) -> Result<ureq::http::Response<ureq::Body>, Fail> {
    let mut b = ureq::http::Request::builder()
        .method(method)
        .uri(url.as_str());
    let replaced = |n: &str| {
        ask.range.is_some()
            && (n.eq_ignore_ascii_case("range") || n.eq_ignore_ascii_case("if-range"))
    };
    for (n, v) in req.headers.iter().filter(|(n, _)| !replaced(n)) {
        b = b.header(n.as_str(), v.as_str());
    }
    if let Some(range) = &ask.range {
        b = b.header("range", range.as_str());
        if let Some(v) = &ask.if_range {
            b = b.header("if-range", v.as_str());
        }
    }
    let bad_request = |e: ureq::http::Error| Fail::Fatal(format!("bad request: {e}"));
    let result = if with_body {
        let path = shared.store().req_path(job.key(), job.index());
        let file = store::open_read(&path)
            .map_err(|e| Fail::Fatal(format!("the stored request body is gone: {e}")))?;
        let mut counter = UploadCounter { file, sent: 0, job };
        let request = b
            .header("content-length", req.body_len.unwrap_or(0))
            .body(ureq::SendBody::from_reader(&mut counter))
            .map_err(bad_request)?;
        shared.agent().run(request)
    } else if method == "POST" || method == "PUT" {
        // The Fetch standard: a bodyless POST or PUT says `Content-Length: 0` (an empty
        // byte slice has a known length; `()` would be sent chunked).
        shared.agent().run(b.body(&[][..]).map_err(bad_request)?)
    } else {
        shared.agent().run(b.body(()).map_err(bad_request)?)
    };
    result.map_err(|e| match e {
        e if is_stale_connection(&e) => Fail::Attempt {
            kind: FailureKind::Transient,
            msg: STALE.into(),
            retry_after: None,
        },
        e => Fail::of_client(e, ""),
    })
}

/// The message of a failure on a stale pooled connection (matched to send the request again).
const STALE: &str = "the server had closed the reused connection";

/// Sends the request, following redirects; returns the final response and its URL. A request
/// that met a pooled connection the server had closed goes out again at once, on a fresh one.
fn send(
    shared: &dyn TransferHost,
    job: &RecordJob,
    req: &StoredRequest,
    ask: &Ask,
) -> Result<(ureq::http::Response<ureq::Body>, url::Url), Fail> {
    let mut url = url::Url::parse(&req.url).map_err(|e| Fail::Fatal(format!("bad URL: {e}")))?;
    let mut method = req.method.clone();
    let mut with_body = req.body_len.is_some();
    let mut redirects = 0;
    // Each stale connection leaves the pool as it fails: at most a pool's worth of them.
    let mut stale_left = shared.config().max_connections as usize + 1;
    loop {
        net::begin_exchange();
        let resp = match exchange(shared, job, req, (&url, &method, with_body), ask) {
            Err(Fail::Attempt { msg, .. }) if msg == STALE && stale_left > 0 => {
                stale_left -= 1;
                continue;
            }
            other => other?,
        };
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .map(|v| location_ref(v.as_bytes()));
        let (true, Some(location)) = (matches!(status, 301 | 302 | 303 | 307 | 308), location)
        else {
            return Ok((resp, url));
        };
        redirects += 1;
        if redirects > MAX_REDIRECTS {
            return Err(Fail::Fatal(format!("more than {MAX_REDIRECTS} redirects")));
        }
        let next = redirect_target(shared, &url, &location)?;
        if (status == 303 && method != "HEAD") || (matches!(status, 301 | 302) && method == "POST")
        {
            method = "GET".into();
            with_body = false;
        }
        // Read a small redirect body so the connection can be reused.
        let _ = resp
            .into_body()
            .into_with_config()
            .limit(64 * 1024)
            .read_to_vec();
        url = next;
    }
}

/// Where a redirect from `url` to `location` goes, if it may be followed.
fn redirect_target(
    shared: &dyn TransferHost,
    url: &url::Url,
    location: &str,
) -> Result<url::Url, Fail> {
    let next = url
        .join(location)
        .map_err(|e| Fail::Fatal(format!("redirect to an invalid URL: {e}")))?;
    if next.scheme() != "http" && next.scheme() != "https" {
        return Err(Fail::Fatal(format!(
            "redirect to the scheme {:?} refused",
            next.scheme()
        )));
    }
    if url.scheme() == "https" && next.scheme() == "http" && !shared.config().allow_https_to_http {
        return Err(Fail::Fatal("redirect from https to http refused".into()));
    }
    crate::validate::check_fetchable_url(&next)
        .map_err(|e| Fail::Fatal(format!("redirect refused: {e}")))?;
    Ok(next)
}

/// The record's `.part` file as this attempt writes it: its bytes up to `written`, and the
/// integrity hash over them.
struct PartBody {
    file: File,
    written: u64,
    hasher: Option<Hasher>,
}

impl PartBody {
    /// Opens the `.part` of record `index` for a request that continues after `offset` of
    /// its `stored` bytes: anything past `offset` is dropped (what a restart discards, or a
    /// write a crash cut short), and the hash covers the bytes kept.
    fn open(
        shared: &dyn TransferHost,
        job: &RecordJob,
        (offset, stored): (u64, u64),
        integrity: Option<&Integrity>,
    ) -> Result<PartBody, Fail> {
        if offset < stored {
            job.reset_body();
        }
        let store = shared.store();
        let mut file = store
            .open_part(job.key(), job.index(), offset == 0)
            .map_err(|e| storage_failure(job, e))?;
        let mut hasher = integrity.map(|i| i.hasher());
        if offset > 0 {
            file.set_len(offset)
                .and_then(|_| file.seek(SeekFrom::Start(offset)))
                .map_err(|e| storage_failure(job, e))?;
            if let Some(h) = hasher.as_mut() {
                hash_prefix(&store.part_path(job.key(), job.index()), offset, h)
                    .map_err(|e| storage_failure(job, e))?;
            }
        }
        Ok(PartBody {
            file,
            written: offset,
            hasher,
        })
    }

    /// Empties it: the answer is a new response, whose body replaces what was stored.
    fn restart(&mut self, job: &RecordJob, integrity: Option<&Integrity>) -> Result<(), Fail> {
        job.reset_body();
        self.file
            .set_len(0)
            .and_then(|_| self.file.seek(SeekFrom::Start(0)))
            .map_err(|e| storage_failure(job, e))?;
        self.written = 0;
        self.hasher = integrity.map(|i| i.hasher());
        Ok(())
    }
}

/// What the answer to a request is, as the rules of [`crate::resume`] need it.
struct Answer {
    head: ResponseHead,
    content_length: Option<u64>,
    has_body: bool,
}

impl Answer {
    fn of(resp: &ureq::http::Response<ureq::Body>, url: &url::Url, method: &str) -> Answer {
        let status = resp.status().as_u16();
        let pairs: Vec<(&str, std::borrow::Cow<str>)> = resp
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str(), String::from_utf8_lossy(v.as_bytes())))
            .collect();
        let head = ResponseHead::new(status, url.as_str(), &pairs, None);
        drop(pairs);
        let content_length = if head.header("transfer-encoding").is_some() {
            None
        } else {
            head.header("content-length")
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        Answer {
            head,
            content_length,
            has_body: method != "HEAD" && !matches!(status, 100..=199 | 204 | 304),
        }
    }

    /// The server's `Retry-After`.
    fn retry_after(&self) -> Option<Duration> {
        self.head
            .header("retry-after")
            .and_then(|v| parse_retry_after(v, std::time::SystemTime::now()))
    }
}

/// One attempt: ask (a resume where the rules allow), judge the answer, stream the body,
/// judge its end.
fn attempt_once(
    shared: &dyn TransferHost,
    job: &RecordJob,
    req: &StoredRequest,
) -> Result<(), Fail> {
    let integrity = req.integrity.as_ref();
    let (known_head, stored) = job.transfer_state();
    let ask = resume::plan(&req.method, stored, known_head.as_deref());
    let mut part = PartBody::open(shared, job, (ask.offset, stored), integrity)?;
    let (resp, final_url) = send(shared, job, req, &ask)?;
    // Redirect responses may have left surplus bytes behind; only this body's count.
    net::take_surplus();
    let answer = Answer::of(&resp, &final_url, &req.method);
    let status = answer.head.status;
    if ask.offset == 0 && shared.config().retry.retry_statuses && is_retryable_status(status) {
        // Opt-in: a transient status waits for another attempt, as long as the policy allows;
        // then it is the response.
        let why = format!("the server answered with status {status}");
        let failure = (FailureKind::Status(status), why.as_str());
        if job.attempt_failed(failure, answer.retry_after()) {
            return Err(Fail::Waiting);
        }
    }
    let verdict = resume::judge(
        &ask,
        known_head.as_deref(),
        &answer.head,
        answer.content_length,
        answer.has_body,
    );
    let (end, complete) = match verdict {
        Verdict::Response { len } => {
            if ask.offset > 0 {
                part.restart(job, integrity)?;
            }
            let head = Arc::new(answer.head.with_total_len(len));
            shared
                .store()
                .save_head(job.key(), job.index(), &head)
                .map_err(|e| storage_failure(job, e))?;
            job.set_head(head, integrity.is_none());
            (len, len)
        }
        Verdict::Continue { end, complete } => (end, complete),
        Verdict::Complete => {
            drop(resp);
            return complete_body(shared, job, part, integrity);
        }
        Verdict::Refused { status } => {
            return Err(Fail::Attempt {
                kind: FailureKind::Transient,
                msg: format!("the server answered the resume with status {status}"),
                retry_after: answer.retry_after(),
            })
        }
        Verdict::Restart(why) => return Err(Fail::Restart(why)),
    };
    let ending = stream_body(shared, job, resp, &mut part, end)?;
    match resume::judge_end(part.written, end, complete, ending) {
        BodyEnd::Complete => complete_body(shared, job, part, integrity),
        BodyEnd::Short => Err(Fail::transient(format!(
            "the server's partial answer ended at {} of {} bytes",
            part.written,
            complete.unwrap_or_default()
        ))),
        BodyEnd::Cut(msg) => Err(Fail::transient(msg)),
    }
}

/// Streams the answer's body into `part` until it ends (`end`: where it must end, if known);
/// says whether the server ended it cleanly. A stop of ours (pause, offline, abort, close)
/// that shut the socket is `Stopped`, never an end.
fn stream_body(
    shared: &dyn TransferHost,
    job: &RecordJob,
    resp: ureq::http::Response<ureq::Body>,
    part: &mut PartBody,
    end: Option<u64>,
) -> Result<Ending, Fail> {
    // No read may go on past the no-progress timeout without a new body byte.
    let stall = shared.config().retry.no_progress_timeout;
    let arm = || net::set_stall_deadline(stall.map(|t| std::time::Instant::now() + t));
    arm();
    let mut reader = resp.into_body().into_reader();
    let streamed = BUF.with(|buf| {
        let mut buf = buf.borrow_mut();
        let body_len = end.map_or(0, |end| end.saturating_sub(part.written));
        let want = usize::try_from(body_len)
            .unwrap_or(BUF_SIZE)
            .clamp(MIN_BUF_SIZE, BUF_SIZE);
        if buf.len() < want {
            buf.resize(want, 0);
        }
        loop {
            // Paused, offline, aborted or closing: stop, unless every byte is in (then the
            // body completes, and an abort settles after it).
            let whole = end == Some(part.written);
            if !whole && job.cancel_token().is_held() {
                return Err(Fail::Stopped);
            }
            let limit = shared.rate().read_size(buf.len());
            let n = match reader.read(&mut buf[..limit]) {
                Ok(0) => return Ok(()),
                Ok(n) if n == buf.len() && n < BUF_SIZE => {
                    // The read filled the buffer (a body without a length, or a long one):
                    // read more at a time from now on; the bytes read stay in front.
                    buf.resize((n * 4).min(BUF_SIZE), 0);
                    n
                }
                Ok(n) => n,
                Err(e) => {
                    if job.must_stop() {
                        return Err(Fail::Stopped);
                    }
                    return Err(Fail::of_client(
                        ureq::Error::Io(e),
                        "reading the response body: ",
                    ));
                }
            };
            if end.is_some_and(|end| part.written + n as u64 > end) {
                return Err(more_than_announced());
            }
            store_chunk(job, part, &buf[..n])?;
            arm();
            // The bandwidth cap: wait out the debt in slices, so that a changed cap (or a
            // pause) takes effect promptly.
            let mut wait = shared.rate().pay(n, std::time::Instant::now());
            while !wait.is_zero() && end != Some(part.written) {
                if !job.cancel_token().sleep(wait.min(RATE_WAIT_SLICE)) {
                    return Err(Fail::Stopped);
                }
                wait = shared.rate().pay(0, std::time::Instant::now());
            }
        }
    });
    net::set_stall_deadline(None);
    streamed?;
    let cut = net::take_cut();
    if end != Some(part.written) && job.cancel_token().is_held() {
        // Our own stop shut the socket: what looks like the end of the body is not.
        return Err(Fail::Stopped);
    }
    if net::take_surplus() {
        return Err(more_than_announced());
    }
    Ok(if cut { Ending::Cut } else { Ending::Clean })
}

fn more_than_announced() -> Fail {
    Fail::Attempt {
        kind: FailureKind::Malformed,
        msg: "the server sent more than it announced".into(),
        retry_after: None,
    }
}

/// Stores `chunk` at the end of `part`: counted against the download total and the quota
/// first (the fetch fails if it does not fit), then written, hashed and committed.
fn store_chunk(job: &RecordJob, part: &mut PartBody, chunk: &[u8]) -> Result<(), Fail> {
    let n = chunk.len() as u64;
    job.reserve(n).map_err(|_| Fail::Stopped)?;
    if let Err(e) = part.file.write_all(chunk) {
        job.unreserve(n);
        return Err(storage_failure(job, e));
    }
    if let Some(h) = part.hasher.as_mut() {
        h.update(chunk);
    }
    job.commit(n);
    part.written += n;
    Ok(())
}

/// The body is all there: check integrity, hand it to the sync thread, which makes it
/// durable and the record's body.
fn complete_body(
    shared: &dyn TransferHost,
    job: &RecordJob,
    part: PartBody,
    integrity: Option<&Integrity>,
) -> Result<(), Fail> {
    if let (Some(i), Some(h)) = (integrity, part.hasher) {
        if !i.matches(h) {
            drop(part.file);
            shared.store().remove_part(job.key(), job.index());
            job.reset_body();
            return Err(Fail::Fatal(
                "the body does not match its integrity metadata".into(),
            ));
        }
    }
    // The sync thread makes it durable, renames it to `<n>.body` and completes the record.
    if !job.mark_syncing() {
        return Err(Fail::Stopped);
    }
    shared.sync_body(Finished {
        reg: job.registration().clone(),
        index: job.index(),
        file: part.file,
    });
    Ok(())
}

fn hash_prefix(path: &std::path::Path, len: u64, h: &mut Hasher) -> std::io::Result<()> {
    let mut f = store::open_read(path)?.take(len);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        h.update(&buf[..n]);
    }
}

/// A write to the store failed: a full disk fails the fetch with `quota-exceeded`, anything
/// else fails this request.
fn storage_failure(job: &RecordJob, e: std::io::Error) -> Fail {
    if is_disk_full(&e) {
        job.fail_fetch(FailureReason::QuotaExceeded);
        Fail::Stopped
    } else {
        Fail::Fatal(format!("the store could not be written: {e}"))
    }
}
