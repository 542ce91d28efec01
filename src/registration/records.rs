//! The records of a fetch and their responses as a Rust host uses them: [`Record`] (the web's
//! `BackgroundFetchRecord`) and [`Response`] (its `Response`, with a body read from the store as
//! it arrives). Both may outlive the registration handle and the manager they came from; once
//! the records are released their calls are `InvalidState`, once the manager is closed
//! `Closed`.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::Registration;
use crate::error::{Error, Result};
use crate::fetch_state::RecordStatus;
use crate::head::ResponseHead;
use crate::record::{QueryOptions, RecordRequest};
use crate::request::Request;

impl Registration {
    /// Every record, in request order (`matchAll()` without a request). `InvalidState` once
    /// the records are released.
    pub fn records(self: &Arc<Self>) -> Result<Vec<Record>> {
        self.match_all(None, QueryOptions::default())
    }

    /// Record `index` (the position of its request in the fetch); `InvalidArgument` if there
    /// is none, `InvalidState` once the records are released.
    pub fn record(self: &Arc<Self>, index: usize) -> Result<Record> {
        let count = self.state.lock().records().len();
        if index >= count {
            return Err(Error::invalid(format!(
                "record {index} does not exist: the fetch has {count}"
            )));
        }
        self.state.lock().check_available()?;
        Ok(Record {
            reg: self.clone(),
            index,
        })
    }

    /// `match(request, options)`: the first record (in request order) matching `req` by the
    /// Cache API's rules, its URL resolved against the manager's base URL; `None` if none.
    /// `InvalidState` once the records are released.
    pub fn match_request(
        self: &Arc<Self>,
        req: &Request,
        opts: QueryOptions,
    ) -> Result<Option<Record>> {
        Ok(self.match_all(Some(req), opts)?.into_iter().next())
    }

    /// `matchAll(request, options)`: every record matching `req` (every record for `None`),
    /// in request order. `InvalidState` once the records are released.
    pub fn match_all(
        self: &Arc<Self>,
        req: Option<&Request>,
        opts: QueryOptions,
    ) -> Result<Vec<Record>> {
        Ok(self
            .matching(req, opts)?
            .into_iter()
            .map(|index| Record {
                reg: self.clone(),
                index,
            })
            .collect())
    }
}

/// A record of a fetch: one of its requests and, through [`Record::response_ready`], its
/// response (the web's `BackgroundFetchRecord`). Cheap to clone; usable from any thread.
#[derive(Clone)]
pub struct Record {
    reg: Arc<Registration>,
    index: usize,
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("fetch", &self.reg.id())
            .field("index", &self.index)
            .finish()
    }
}

impl Record {
    /// The registration it belongs to.
    pub fn registration(&self) -> &Arc<Registration> {
        &self.reg
    }

    /// The position of its request in the fetch.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Its request as stored: URL resolved, method and headers normalized.
    pub fn request(&self) -> RecordRequest {
        self.reg.request_of(self.index)
    }

    /// Reads its stored request body at `offset` (the record's request includes its body);
    /// 0 at its end, or for a request without one. `InvalidState` once released.
    pub fn read_request_body(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        self.reg.read_request(self.index, offset, buf)
    }

    /// What it is doing now, read live: its state, attempts, the time to its next attempt,
    /// its last error and the body bytes stored.
    pub fn status(&self) -> RecordStatus {
        self.reg.live_status(self.index)
    }

    /// `responseReady`: waits up to `timeout` (`None`: no limit) until its response's status
    /// and headers are known (the body may still be arriving). `Aborted` if the fetch was
    /// aborted first, `FetchFailed` if the request failed or was never made, `Timeout`. A
    /// non-2xx response is a response.
    pub fn response_ready(&self, timeout: Option<Duration>) -> Result<Response> {
        let head = self.reg.ready_head(self.index, timeout)?;
        Ok(Response {
            reg: self.reg.clone(),
            index: self.index,
            head,
        })
    }
}

/// A record's response: its status, final URL and headers, and its body as it is stored.
/// Cheap to clone; usable from any thread.
#[derive(Clone)]
pub struct Response {
    reg: Arc<Registration>,
    index: usize,
    head: Arc<ResponseHead>,
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.head.status)
            .field("url", &self.head.url())
            .finish()
    }
}

impl Response {
    /// The status code.
    pub fn status(&self) -> u16 {
        self.head.status
    }

    /// Whether the status is 200..=299.
    pub fn ok(&self) -> bool {
        self.head.ok()
    }

    /// The final URL, after redirects.
    pub fn url(&self) -> &str {
        self.head.url()
    }

    /// The value of the header `name` as Fetch's `Headers.get` answers (case-insensitive):
    /// every value of that name joined with `", "`; `None` if absent.
    pub fn header(&self, name: &str) -> Option<Cow<'_, str>> {
        self.head.get(name)
    }

    /// The headers (name, value) as received, in order.
    pub fn headers(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + '_ {
        self.head.headers()
    }

    /// The body's length as the response announced it (Content-Length, or a 206's span),
    /// when it did.
    pub fn expected_len(&self) -> Option<u64> {
        self.head.total_len
    }

    /// Whether the whole body is stored.
    pub fn complete(&self) -> bool {
        self.reg.body_state(self.index).1
    }

    /// Body bytes stored so far.
    pub fn body_size(&self) -> u64 {
        self.reg.body_state(self.index).0
    }

    /// Waits up to `timeout` until the body is complete: `Aborted` / `FetchFailed` if it can
    /// never complete, `Timeout`.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<()> {
        self.reg.wait_complete(self.index, timeout)
    }

    /// Reads body bytes at `offset` into `buf`, waiting up to `timeout` until bytes there are
    /// stored or the body ends; 0 at the end of a complete body. `Timeout`, or `Aborted` /
    /// `FetchFailed` if the body stops short of `offset`.
    pub fn read(&self, offset: u64, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize> {
        self.reg.read_stored(self.index, offset, buf, timeout)
    }

    /// The whole body, each read waiting up to `timeout`.
    pub fn read_to_end(&self, timeout: Option<Duration>) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = self.read(out.len() as u64, &mut buf, timeout)?;
            if n == 0 {
                return Ok(out);
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    /// Waits up to `timeout` for the complete body, then copies it to `dest` atomically (all
    /// or nothing). `Timeout` when it is not complete in time: `dest` is then untouched.
    pub fn save(&self, dest: &Path, timeout: Option<Duration>) -> Result<()> {
        self.reg.copy_body(self.index, dest, timeout)
    }

    /// The file the complete body is stored in (read it, never write it; it exists once the
    /// body is complete and until the records are released). `None` once the manager is gone.
    pub fn body_path(&self) -> Option<PathBuf> {
        self.reg.stored_body_path(self.index)
    }
}
