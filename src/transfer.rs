//! One request's transfer: send it (counting the uploaded bytes), follow redirects, store the
//! response head, stream the body to `<n>.part` with a bounded buffer, resume with `Range` +
//! `If-Range` after an interruption, verify integrity, and turn the `.part` into `<n>.body`.

use std::cell::RefCell;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::Arc;

use crate::head::ResponseHead;
use crate::integrity::{Hasher, Integrity};
use crate::net;
use crate::outcome::Outcome;
use crate::registration::Host;
use crate::registration::{FailureReason, Registration};
use crate::retry::{is_retryable_status, parse_retry_after, FailureKind};
use crate::store::{self, StoredRequest};

/// What a transfer asks of the manager beyond what its registration does (the manager
/// implements it; this module never imports the manager or the sync thread).
pub(crate) trait TransferHost: Host {
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
const RATE_WAIT_SLICE: std::time::Duration = std::time::Duration::from_millis(100);
/// Most times a body restarts from zero within one run before the request fails.
const MAX_RESTARTS: u32 = 3;

thread_local! {
    static BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Why an attempt ended without completing.
enum Fail {
    /// A network error: worth another attempt.
    Retry(String),
    /// A transient status: the record waits in the delay queue for its next attempt.
    Waiting,
    /// Another attempt would fail the same way.
    Fatal(String),
    /// The partial body cannot be continued: start again from zero.
    Restart,
    /// The fetch stopped (abort, quota, download total, close).
    Stopped,
}

/// Makes one attempt at record `index` of `reg` (or, after an invalid partial response, a few
/// from zero). A transient failure puts the record into the delay queue for its next attempt
/// (the worker moves on); a pause, going offline or close leaves it for the worker loop to
/// queue again.
pub(crate) fn run(shared: &dyn TransferHost, reg: &Arc<Registration>, index: usize) {
    let req = reg.stored_request(index);
    let integrity = req.integrity.as_ref();
    loop {
        if reg.must_stop(index) {
            return;
        }
        let res = net::with_token(reg.cancel_token(), || {
            attempt_once(shared, reg, index, &req, integrity)
        });
        let Err(fail) = res else { return };
        if reg.must_stop(index) {
            return;
        }
        match fail {
            Fail::Stopped | Fail::Waiting => return,
            Fail::Fatal(msg) => {
                reg.finish(shared, index, Outcome::Failed(msg));
                return;
            }
            Fail::Restart => {
                reg.reset_body(shared, index);
                shared.store().remove_part(reg.key(), index);
                if !reg.count_restart(index, MAX_RESTARTS) {
                    reg.finish(
                        shared,
                        index,
                        Outcome::Failed("the server kept sending invalid partial responses".into()),
                    );
                    return;
                }
            }
            Fail::Retry(msg) => {
                if !reg.attempt_failed(shared, index, FailureKind::Transient, None) {
                    reg.finish(shared, index, Outcome::Failed(msg));
                }
                return;
            }
        }
    }
}

fn classify(e: ureq::Error) -> Fail {
    match e {
        ureq::Error::Io(_)
        | ureq::Error::Timeout(_)
        | ureq::Error::Protocol(_)
        | ureq::Error::HostNotFound
        | ureq::Error::ConnectionFailed => Fail::Retry(format!("network error: {e}")),
        other => Fail::Fatal(format!("request failed: {other}")),
    }
}

/// The value for `If-Range`: a strong ETag, else Last-Modified.
fn if_range_validator(head: &ResponseHead) -> Option<&str> {
    head.strong_etag().or_else(|| head.header("last-modified"))
}

/// Parses `bytes START-END/TOTAL` (TOTAL may be `*`).
pub fn parse_content_range(v: &str) -> Option<(u64, u64, Option<u64>)> {
    let rest = v.trim().strip_prefix("bytes")?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let (start, end) = range.trim().split_once('-')?;
    let start: u64 = start.trim().parse().ok()?;
    let end: u64 = end.trim().parse().ok()?;
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse::<u64>().ok()?),
    };
    if end < start || total.is_some_and(|t| end >= t) {
        return None;
    }
    Some((start, end, total))
}

/// Whether a partial response may continue the body whose first response was `prev`.
fn partial_continues(prev: &ResponseHead, received: &ResponseHead, offset: u64) -> bool {
    let Some((start, _end, total)) = received
        .header("content-range")
        .and_then(parse_content_range)
    else {
        return false;
    };
    if start != offset {
        return false;
    }
    if let (Some(prev_total), Some(total)) = (prev.total_len, total) {
        if prev_total != total {
            return false;
        }
    }
    for v in ["etag", "last-modified"] {
        if let Some(old) = prev.header(v) {
            if received.header(v) != Some(old) {
                return false;
            }
        }
    }
    true
}

struct UploadCounter<'a> {
    file: File,
    sent: u64,
    shared: &'a dyn TransferHost,
    reg: &'a Arc<Registration>,
    index: usize,
}

impl Read for UploadCounter<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read(buf)?;
        self.sent += n as u64;
        self.reg.set_uploaded(self.shared, self.index, self.sent);
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

/// Sends the request, following redirects; returns the final response and its URL.
fn send(
    shared: &dyn TransferHost,
    reg: &Arc<Registration>,
    index: usize,
    req: &StoredRequest,
    resume: Option<(u64, &str)>,
) -> Result<(ureq::http::Response<ureq::Body>, url::Url), Fail> {
    let mut url = url::Url::parse(&req.url).map_err(|e| Fail::Fatal(format!("bad URL: {e}")))?;
    let mut method = req.method.clone();
    let mut with_body = req.body_len.is_some();
    let mut redirects = 0;
    loop {
        let mut b = ureq::http::Request::builder()
            .method(method.as_str())
            .uri(url.as_str());
        for (n, v) in &req.headers {
            b = b.header(n.as_str(), v.as_str());
        }
        if let Some((offset, validator)) = resume {
            b = b
                .header("range", format!("bytes={offset}-"))
                .header("if-range", validator);
        }
        let result = if with_body {
            let path = shared.store().req_path(reg.key(), index);
            let file = store::open_read(&path)
                .map_err(|e| Fail::Fatal(format!("the stored request body is gone: {e}")))?;
            let len = req.body_len.unwrap_or(0);
            let mut counter = UploadCounter {
                file,
                sent: 0,
                shared,
                reg,
                index,
            };
            let request = b
                .header("content-length", len)
                .body(ureq::SendBody::from_reader(&mut counter))
                .map_err(|e| Fail::Fatal(format!("bad request: {e}")))?;
            shared.agent().run(request)
        } else if method == "POST" || method == "PUT" {
            // The Fetch standard: a bodyless POST or PUT says `Content-Length: 0` (an empty
            // byte slice has a known length; `()` would be sent chunked).
            let request = b
                .body(&[][..])
                .map_err(|e| Fail::Fatal(format!("bad request: {e}")))?;
            shared.agent().run(request)
        } else {
            let request = b
                .body(())
                .map_err(|e| Fail::Fatal(format!("bad request: {e}")))?;
            shared.agent().run(request)
        };
        let resp = result.map_err(classify)?;
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let (true, Some(location)) = (matches!(status, 301 | 302 | 303 | 307 | 308), location)
        else {
            return Ok((resp, url));
        };
        redirects += 1;
        if redirects > MAX_REDIRECTS {
            return Err(Fail::Fatal(format!("more than {MAX_REDIRECTS} redirects")));
        }
        let next = url
            .join(&location)
            .map_err(|e| Fail::Fatal(format!("redirect to an invalid URL: {e}")))?;
        if next.scheme() != "http" && next.scheme() != "https" {
            return Err(Fail::Fatal(format!(
                "redirect to the scheme {:?} refused",
                next.scheme()
            )));
        }
        if url.scheme() == "https"
            && next.scheme() == "http"
            && !shared.config().allow_https_to_http
        {
            return Err(Fail::Fatal("redirect from https to http refused".into()));
        }
        crate::validate::check_fetchable_url(&next)
            .map_err(|e| Fail::Fatal(format!("redirect refused: {e}")))?;
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

fn attempt_once(
    shared: &dyn TransferHost,
    reg: &Arc<Registration>,
    index: usize,
    req: &StoredRequest,
    integrity: Option<&Integrity>,
) -> Result<(), Fail> {
    let key = reg.key();
    let part_path = shared.store().part_path(key, index);
    let (known_head, stored) = reg.transfer_state(index);
    let validator = known_head
        .as_deref()
        .filter(|_| req.method == "GET" && stored > 0)
        .and_then(if_range_validator)
        .map(str::to_string);
    let mut offset = stored;
    if validator.is_none() && stored > 0 {
        reg.reset_body(shared, index);
        offset = 0;
    }
    let mut file = shared
        .store()
        .open_part(key, index, offset == 0)
        .map_err(|e| storage_failure(shared, reg, e))?;
    if offset > 0 {
        // Drop anything past what was counted as stored (a write a crash cut short).
        file.set_len(offset)
            .and_then(|_| file.seek(SeekFrom::Start(offset)))
            .map_err(|e| storage_failure(shared, reg, e))?;
    }
    let mut hasher = integrity.map(|i| i.hasher());
    if let (Some(h), true) = (hasher.as_mut(), offset > 0) {
        hash_prefix(&part_path, offset, h).map_err(|e| storage_failure(shared, reg, e))?;
    }

    let resume = validator.as_deref().map(|v| (offset, v));
    let (resp, final_url) = send(shared, reg, index, req, resume)?;
    // Redirect responses may have left surplus bytes behind; only this body's count.
    net::take_surplus();
    let status = resp.status().as_u16();
    if shared.config().retry.retry_statuses && is_retryable_status(status) {
        // Opt-in: a transient status waits for another attempt, as long as the policy allows;
        // then it is the response.
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, std::time::SystemTime::now()));
        if reg.attempt_failed(shared, index, FailureKind::Status(status), retry_after) {
            return Err(Fail::Waiting);
        }
    }
    // The head as received, built once (its length is set below, once known).
    let pairs: Vec<(&str, std::borrow::Cow<str>)> = resp
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str(), String::from_utf8_lossy(v.as_bytes())))
        .collect();
    let received = ResponseHead::new(status, final_url.as_str(), &pairs, None);
    drop(pairs);
    let chunked = received.header("transfer-encoding").is_some();
    let content_length = if chunked {
        None
    } else {
        received
            .header("content-length")
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    let has_body = req.method != "HEAD" && !matches!(status, 100..=199 | 204 | 304);

    let head: Arc<ResponseHead>;
    let mut new_head = true;
    if offset > 0 {
        let prev = known_head.clone().expect("resume needs a head");
        match status {
            206 => {
                if !partial_continues(&prev, &received, offset) {
                    return Err(Fail::Restart);
                }
                head = prev;
                new_head = false;
            }
            416 if prev.total_len == Some(offset) => {
                drop(resp);
                return complete(shared, reg, index, file, hasher, integrity);
            }
            416 => return Err(Fail::Restart),
            _ => {
                // A full response (200, or an error status) replaces what was stored.
                reg.reset_body(shared, index);
                offset = 0;
                file.set_len(0)
                    .and_then(|_| file.seek(SeekFrom::Start(0)))
                    .map_err(|e| storage_failure(shared, reg, e))?;
                hasher = integrity.map(|i| i.hasher());
                head = Arc::new(received.with_total_len(content_length));
            }
        }
    } else {
        let total = if status == 206 {
            received
                .header("content-range")
                .and_then(parse_content_range)
                .and_then(|(_, _, t)| t)
        } else {
            content_length
        };
        head = Arc::new(received.with_total_len(total));
    }
    if new_head {
        shared
            .store()
            .save_head(key, index, &head)
            .map_err(|e| storage_failure(shared, reg, e))?;
        reg.set_head(index, head.clone(), integrity.is_none());
    }
    let expected_end = if !has_body {
        Some(offset)
    } else if status == 206 && offset > 0 {
        head.total_len
    } else {
        content_length.map(|l| l + offset)
    };

    let mut reader = resp.into_body().into_reader();
    let mut written = offset;
    let streamed: Result<(), Fail> = BUF.with(|buf| {
        let mut buf = buf.borrow_mut();
        let body_len = expected_end.map_or(0, |end| end.saturating_sub(offset));
        let want = usize::try_from(body_len)
            .unwrap_or(BUF_SIZE)
            .clamp(MIN_BUF_SIZE, BUF_SIZE);
        if buf.len() < want {
            buf.resize(want, 0);
        }
        loop {
            // Paused, offline, aborted or closing: stop, unless every byte is in (then the
            // body completes, and an abort settles after it).
            let whole = expected_end == Some(written);
            if !whole && reg.cancel_token().is_held() {
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
                    if reg.must_stop(index) {
                        return Err(Fail::Stopped);
                    }
                    return Err(Fail::Retry(format!("reading the response body: {e}")));
                }
            };
            if expected_end.is_some_and(|end| written + n as u64 > end) {
                return Err(Fail::Retry("the server sent more than it announced".into()));
            }
            reg.reserve(shared, index, n as u64)
                .map_err(|_| Fail::Stopped)?;
            if let Err(e) = file.write_all(&buf[..n]) {
                reg.unreserve(shared, index, n as u64);
                return Err(storage_failure(shared, reg, e));
            }
            if let Some(h) = hasher.as_mut() {
                h.update(&buf[..n]);
            }
            reg.commit(shared, index, n as u64);
            written += n as u64;
            // The bandwidth cap: wait out the debt in slices, so that a changed cap (or a
            // pause) takes effect promptly.
            let mut wait = shared.rate().pay(n, std::time::Instant::now());
            while !wait.is_zero() && expected_end != Some(written) {
                if !reg.cancel_token().sleep(wait.min(RATE_WAIT_SLICE)) {
                    return Err(Fail::Stopped);
                }
                wait = shared.rate().pay(0, std::time::Instant::now());
            }
        }
    });
    streamed?;
    if net::take_surplus() {
        return Err(Fail::Retry("the server sent more than it announced".into()));
    }
    if let Some(end) = expected_end {
        if written != end {
            return Err(Fail::Retry(format!(
                "the body ended after {written} of {end} bytes"
            )));
        }
    }
    complete(shared, reg, index, file, hasher, integrity)
}

/// The body is all there: sync it, check integrity, make it the record's body.
fn complete(
    shared: &dyn TransferHost,
    reg: &Arc<Registration>,
    index: usize,
    file: File,
    hasher: Option<Hasher>,
    integrity: Option<&Integrity>,
) -> Result<(), Fail> {
    if let (Some(i), Some(h)) = (integrity, hasher) {
        if !i.matches(h) {
            drop(file);
            shared.store().remove_part(reg.key(), index);
            reg.reset_body(shared, index);
            return Err(Fail::Fatal(
                "the body does not match its integrity metadata".into(),
            ));
        }
    }
    // The sync thread makes it durable, renames it to `<n>.body` and completes the record.
    if !reg.mark_syncing(index) {
        return Err(Fail::Stopped);
    }
    shared.sync_body(Finished {
        reg: reg.clone(),
        index,
        file,
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
fn storage_failure(shared: &dyn TransferHost, reg: &Arc<Registration>, e: std::io::Error) -> Fail {
    if is_disk_full(&e) {
        reg.fail_now(shared, FailureReason::QuotaExceeded);
        Fail::Stopped
    } else {
        Fail::Fatal(format!("the store could not be written: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_parsing() {
        assert_eq!(parse_content_range("bytes 0-9/10"), Some((0, 9, Some(10))));
        assert_eq!(parse_content_range("bytes 5-9/*"), Some((5, 9, None)));
        assert_eq!(parse_content_range("bytes 5-4/10"), None);
        assert_eq!(parse_content_range("bytes 5-10/10"), None);
        assert_eq!(parse_content_range("items 0-1/2"), None);
        assert_eq!(parse_content_range("bytes */10"), None);
    }
}
