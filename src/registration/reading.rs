//! Reading a fetch's records: matching them, their requests, their response heads (responseReady)
//! and their bodies as they are stored. The public face of these is [`super::Record`] and
//! [`super::Response`]; this is the machinery, by record index.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{wait_deadline, Registration};
use crate::error::{Error, Result};
use crate::fetch_state::RecordStatus;
use crate::head::ResponseHead;
use crate::outcome::Outcome;
use crate::record::{matches, Query, QueryOptions, RecordRequest};
use crate::request::Request;
use crate::store::StoredRequest;

impl Registration {
    /// Indexes of the records matching `req` (every record for `None`), in request order: the
    /// Cache API's rules, with the request's URL resolved against the manager's base URL.
    /// `InvalidState` once the records are released.
    pub(crate) fn matching(&self, req: Option<&Request>, opts: QueryOptions) -> Result<Vec<usize>> {
        let engine = self.engine()?;
        let query = match req {
            None => None,
            Some(r) => Some(Query {
                url: crate::validate::resolve_url(r.url(), engine.config().base_url.as_ref())?,
                method: r.method().to_string(),
                headers: r.headers().to_vec(),
            }),
        };
        let query = query.as_ref();
        let s = self.state.lock();
        s.check_available()?;
        Ok(s.records()
            .iter()
            .enumerate()
            .filter(|(_, r)| query.is_none_or(|q| matches(q, r, opts)))
            .map(|(i, _)| i)
            .collect())
    }

    /// What record `index` is doing now, and, if it waits, for what and until when.
    pub(crate) fn live_status(&self, index: usize) -> RecordStatus {
        self.state.lock().record_status(index, Instant::now())
    }

    /// The request of record `index`.
    pub(crate) fn request_of(&self, index: usize) -> RecordRequest {
        let req = self.stored_request(index);
        RecordRequest {
            url: req.url.clone(),
            method: req.method.clone(),
            headers: req.headers.clone(),
            body_len: req.body_len.unwrap_or(0),
        }
    }

    /// The stored request of record `index` (shared, not copied).
    pub(crate) fn stored_request(&self, index: usize) -> Arc<StoredRequest> {
        self.state.lock().record(index).request.clone()
    }

    /// Reads the stored request body of record `index` at `offset` (the record's request
    /// includes its body). Returns 0 at its end, or for a request without a body.
    /// `InvalidState` once the records are released.
    pub(crate) fn read_request(&self, index: usize, offset: u64, buf: &mut [u8]) -> Result<usize> {
        use std::os::unix::fs::FileExt;
        let engine = self.engine()?;
        let len = {
            let s = self.state.lock();
            s.check_available()?;
            s.record(index).request.body_len.unwrap_or(0)
        };
        if offset >= len || buf.is_empty() {
            return Ok(0);
        }
        let want = buf
            .len()
            .min((len - offset).min(usize::MAX as u64) as usize);
        let path = engine.store().req_path(&self.key, index);
        let file =
            crate::store::open_read(&path).map_err(|e| Error::io("opening a request body", e))?;
        let n = file
            .read_at(&mut buf[..want], offset)
            .map_err(|e| Error::io("reading a request body", e))?;
        if n == 0 {
            return Err(Error::Io(format!(
                "the stored request body of record {index} is shorter than its {len} bytes"
            )));
        }
        Ok(n)
    }

    /// responseReady: waits until the head of record `index` is known.
    pub(crate) fn ready_head(
        &self,
        index: usize,
        timeout: Option<Duration>,
    ) -> Result<Arc<ResponseHead>> {
        let engine = self.engine()?;
        let deadline = wait_deadline(timeout);
        let mut s = self.state.lock();
        loop {
            s.check_available()?;
            let rec = s.record(index);
            if rec.exposed {
                if let Some(h) = &rec.head {
                    return Ok(h.clone());
                }
                if let Some(at) = rec.head_line {
                    // A complete record's head left memory: read from the head log (not
                    // kept again: a host that reads every record's head pays no memory).
                    drop(s);
                    let read = engine.store().read_head_at(&self.key, at.line);
                    // A release that came in between deleted the log: say that, not a loss.
                    self.state.lock().check_available()?;
                    return match read {
                        Ok(head) => Ok(Arc::new(head)),
                        Err(e) => Err(Error::FetchFailed(format!(
                            "the response head was lost from the store: {e}"
                        ))),
                    };
                }
            }
            if rec.outcome == Outcome::Done {
                return Err(Error::FetchFailed("the response head was lost".into()));
            }
            if let Some(e) = ended_without(&rec.outcome, "this response") {
                return Err(e);
            }
            self.blocking_must_end()?;
            self.wait_record(&mut s, deadline)?;
        }
    }

    /// Body bytes of record `index` stored so far, and whether the body is complete.
    pub(crate) fn body_state(&self, index: usize) -> (u64, bool) {
        let s = self.state.lock();
        let r = s.record(index);
        (r.stored, r.outcome == Outcome::Done)
    }

    /// Waits until the body of record `index` is complete.
    pub(crate) fn wait_complete(&self, index: usize, timeout: Option<Duration>) -> Result<()> {
        self.engine()?;
        let deadline = wait_deadline(timeout);
        let mut s = self.state.lock();
        loop {
            s.check_available()?;
            let outcome = &s.record(index).outcome;
            if *outcome == Outcome::Done {
                return Ok(());
            }
            if let Some(e) = ended_without(outcome, "this body was complete") {
                return Err(e);
            }
            self.blocking_must_end()?;
            self.wait_record(&mut s, deadline)?;
        }
    }

    /// The path the complete body of record `index` has (it exists once complete).
    pub(crate) fn stored_body_path(&self, index: usize) -> Option<std::path::PathBuf> {
        let engine = self.engine.upgrade()?;
        Some(engine.store().body_path(&self.key, index))
    }

    /// Reads body bytes of record `index` at `offset`, blocking until they are stored or the body
    /// ends, up to `timeout` (`None`: no limit; then `Timeout`). Returns 0 at the end of a
    /// complete body.
    pub(crate) fn read_stored(
        &self,
        index: usize,
        offset: u64,
        buf: &mut [u8],
        timeout: Option<Duration>,
    ) -> Result<usize> {
        use std::os::unix::fs::FileExt;
        if buf.is_empty() {
            return Ok(0);
        }
        let engine = self.engine()?;
        let deadline = wait_deadline(timeout);
        loop {
            let avail = {
                let mut s = self.state.lock();
                loop {
                    s.check_available()?;
                    let r = s.record(index);
                    // A split body's bytes are stored range by range: what is at `offset`.
                    let avail = r.readable_at(offset);
                    if avail > 0 {
                        break avail;
                    }
                    if r.outcome == Outcome::Done {
                        return Ok(0);
                    }
                    if let Some(e) = ended_without(&r.outcome, "this body was complete") {
                        return Err(e);
                    }
                    self.blocking_must_end()?;
                    self.wait_record(&mut s, deadline)?;
                }
            };
            let seen = self.read_point(index);
            let want = buf.len().min(avail.min(usize::MAX as u64) as usize);
            match crate::store::open_read(&engine.store().body_path(&self.key, index)) {
                Ok(f) => {
                    let n = f
                        .read_at(&mut buf[..want], offset)
                        .map_err(|e| Error::io("reading a stored body", e))?;
                    if n > 0 {
                        return Ok(n);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("opening a stored body", e)),
            }
            // No byte where the record says there are some. A restart from zero lowers the
            // stored count before it shrinks the file: if the record changed, look again.
            // A release that came in between makes the records unavailable.
            self.state.lock().check_available()?;
            if self.read_point(index) == seen {
                return Err(Error::Io(format!(
                    "the stored body of record {index} is missing or shorter than the {} bytes \
                     recorded (was it deleted or truncated outside the library?)",
                    seen.0
                )));
            }
        }
    }

    /// What a reader of record `index` relies on: its stored count and whether it is done.
    fn read_point(&self, index: usize) -> (u64, bool) {
        let s = self.state.lock();
        let r = s.record(index);
        (r.stored, r.outcome == Outcome::Done)
    }

    /// Waits (up to `timeout`; `None`: no limit) for the complete body of record `index`, then
    /// copies it to `dest` atomically. `Timeout` when the body is not complete in time; `dest`
    /// is then untouched.
    pub(crate) fn copy_body(
        &self,
        index: usize,
        dest: &std::path::Path,
        timeout: Option<Duration>,
    ) -> Result<()> {
        if dest.as_os_str().is_empty() {
            return Err(Error::invalid("the destination path is empty"));
        }
        self.wait_complete(index, timeout)?;
        let engine = self.engine()?;
        engine.store().copy_body_to(&self.key, index, dest)
    }
}

/// What a reader waiting for `what` of a record gets once the record ended without it: the
/// web's `AbortError` when the fetch stopped first, its `TypeError` (`FetchFailed`) when the
/// request failed; `None` while it is pending, or done.
fn ended_without(outcome: &Outcome, what: &str) -> Option<Error> {
    match outcome {
        Outcome::Aborted => Some(Error::Aborted(format!("the fetch stopped before {what}"))),
        Outcome::Failed(why) => Some(Error::FetchFailed(why.clone())),
        Outcome::Pending | Outcome::Done => None,
    }
}
