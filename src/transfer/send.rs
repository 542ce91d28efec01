//! Sending a request: one exchange (the request, its body counted as it goes, the answer's
//! head), redirects, and a pooled connection the server had closed sent again on a fresh one.

use std::fs::File;
use std::io::Read;

use super::{Fail, TransferHost, MAX_REDIRECTS};
use crate::net;
use crate::registration::RecordJob;
use crate::resume::Ask;
use crate::retry::FailureKind;
use crate::store::{self, StoredRequest};

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
    (url, method, with_body): (&str, &str, bool),
    ask: &Ask,
) -> Result<ureq::http::Response<ureq::Body>, Fail> {
    let mut b = ureq::http::Request::builder().method(method).uri(url);
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
/// The request's URL is used as stored (it was parsed and serialized when the fetch was
/// made); a URL is parsed here only to resolve a redirect.
pub(super) fn send<'r>(
    shared: &dyn TransferHost,
    job: &RecordJob,
    req: &'r StoredRequest,
    ask: &Ask,
) -> Result<(ureq::http::Response<ureq::Body>, std::borrow::Cow<'r, str>), Fail> {
    let mut url = std::borrow::Cow::Borrowed(req.url.as_str());
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
        let base = url::Url::parse(&url).map_err(|e| Fail::Fatal(format!("bad URL: {e}")))?;
        let next = redirect_target(shared, &base, &location)?;
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
        url = std::borrow::Cow::Owned(next.into());
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
