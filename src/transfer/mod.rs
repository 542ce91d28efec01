//! One request's transfer: send it (counting the uploaded bytes), follow redirects, store the
//! response head, stream the body to `<n>.body` with a bounded buffer, resume with `Range` +
//! `If-Range` after an interruption, verify integrity, and hand the body to the sync thread.
//! What to ask and what an answer means are decided in [`crate::resume`]; how a failed
//! attempt goes on, in [`crate::retry`]. Sending (the exchange, redirects, stale connections)
//! is in `send`, the body (the body file, streaming, storing, completing) in `body`; this
//! part is the attempt itself, as a sequence of steps.

use std::cell::RefCell;
use std::fs::File;
use std::sync::Arc;

use std::time::Duration;

use crate::head::ResponseHead;
use crate::net;
use crate::outcome::Outcome;
use crate::registration::{Engine, RecordJob, Registration};
use crate::resume::{self, BodyEnd, Verdict};
use crate::retry::{is_retryable_status, parse_retry_after, FailureKind};
use crate::store::StoredRequest;

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
    /// Its head, when its line was not written yet (the head came with the whole body): it
    /// is written with the line that says the body is complete.
    pub(crate) unsaved_head: Option<Arc<ResponseHead>>,
}

/// Most redirects followed for one request.
pub const MAX_REDIRECTS: u32 = 20;
/// Largest size of the buffer a worker streams bodies through.
const BUF_SIZE: usize = 256 * 1024;
/// Largest body whose head's line may wait to be written with the line saying the body is
/// complete (one append instead of two, when one read brings the whole body). Far below the
/// smallest body that is split in ranges (whose head must come before its map).
const HEAD_WITH_BODY_MAX: u64 = BUF_SIZE as u64;
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
    let res = net::with_token(job.cancel_token(), || match job.range() {
        None => attempt_once(shared, job, &req),
        Some(_) => segment::attempt_range(shared, job, &req),
    });
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
            shared.store().remove_body(job.key(), job.index());
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

/// What the answer to a request is, as the rules of [`crate::resume`] need it.
struct Answer {
    head: ResponseHead,
    content_length: Option<u64>,
    has_body: bool,
}

impl Answer {
    fn of(resp: &ureq::http::Response<ureq::Body>, url: &str, method: &str) -> Answer {
        let status = resp.status().as_u16();
        let pairs: Vec<(&str, std::borrow::Cow<str>)> = resp
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str(), String::from_utf8_lossy(v.as_bytes())))
            .collect();
        let head = ResponseHead::new(status, url, &pairs, None);
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
            has_body: crate::head::has_body(method, status),
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
            job.set_head(head.clone(), integrity.is_none());
            if known_head.is_none() && len.is_some_and(|len| len <= HEAD_WITH_BODY_MAX) {
                // The record's first head: its line waits for the body, written with it if
                // the first read brings the whole body, else before the first bytes are
                // stored. (A later head replaces one whose line is in the log: it is written
                // at once, so that the log never pairs the old head with new bytes.)
                part.unsaved_head = Some(head.clone());
            } else {
                job.save_head(&head).map_err(|e| storage_failure(job, e))?;
            }
            if part.unsaved_head.is_none() && segment::try_split(shared, job, req, &head, &part)? {
                let end = head.total_len.unwrap_or_default();
                return segment::stream_range(shared, job, resp, part.file, end, integrity);
            }
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

mod body;
mod segment;
mod send;

use body::{complete_body, storage_failure, stream_body, PartBody};
use send::send;

pub(crate) use body::is_disk_full;
