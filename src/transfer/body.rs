//! The body of an attempt: the record's body file, streaming the answer into it (paying the
//! bandwidth cap, stopping for a pause or an abort), storing each chunk against the quota and
//! the download total, and handing a complete body to the sync thread.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::Arc;

use super::{Fail, Finished, TransferHost, BUF, BUF_SIZE, MIN_BUF_SIZE, RATE_WAIT_SLICE};
use crate::head::ResponseHead;
use crate::integrity::{Hasher, Integrity};
use crate::net;
use crate::registration::{FailureReason, RecordJob};
use crate::resume::Ending;
use crate::retry::FailureKind;
use crate::store;

/// Where a streamed answer's bytes go: the body file, at its end ([`PartBody`]) or
/// in place, in a range of a split body (`segment::RangeSink`).
pub(super) trait BodySink {
    /// Where the next byte goes, counted in the answer's frame (what `end` is counted in).
    fn position(&self) -> u64;
    /// Stores `chunk` (counting it against the quota and the download total first): whether
    /// the sink takes more (`false`: reading stops, the answer is left unread).
    fn store(&mut self, job: &RecordJob, chunk: &[u8]) -> Result<bool, Fail>;
}

/// The record's body file as this attempt writes it: its bytes up to `written`, and the
/// integrity hash over them.
pub(super) struct PartBody {
    pub(super) file: File,
    pub(super) written: u64,
    pub(super) hasher: Option<Hasher>,
    /// The response's head while its line is not written: it is written with the line that
    /// says the body is complete if the first bytes stored are the whole body, else before
    /// them (a partial body is kept only with its head).
    pub(super) unsaved_head: Option<Arc<ResponseHead>>,
}

impl PartBody {
    /// Opens the body file of record `index` for a request that continues after `offset` of
    /// its `stored` bytes: anything past `offset` is dropped (what a restart discards, or a
    /// write a crash cut short), and the hash covers the bytes kept.
    pub(super) fn open(
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
            .open_body(job.key(), job.index(), offset == 0)
            .map_err(|e| storage_failure(job, e))?;
        let mut hasher = integrity.map(|i| i.hasher());
        if offset > 0 {
            file.set_len(offset)
                .and_then(|_| file.seek(SeekFrom::Start(offset)))
                .map_err(|e| storage_failure(job, e))?;
            if let Some(h) = hasher.as_mut() {
                hash_prefix(&store.body_path(job.key(), job.index()), offset, h)
                    .map_err(|e| storage_failure(job, e))?;
            }
        }
        Ok(PartBody {
            file,
            written: offset,
            hasher,
            unsaved_head: None,
        })
    }

    /// Empties it: the answer is a new response, whose body replaces what was stored.
    pub(super) fn restart(
        &mut self,
        job: &RecordJob,
        integrity: Option<&Integrity>,
    ) -> Result<(), Fail> {
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

impl BodySink for PartBody {
    fn position(&self) -> u64 {
        self.written
    }

    fn store(&mut self, job: &RecordJob, chunk: &[u8]) -> Result<bool, Fail> {
        store_chunk(job, self, chunk)?;
        Ok(true)
    }
}

/// Streams the answer's body into `part` until it ends (`end`: where it must end, if known,
/// counted as the sink's position) or the sink takes no more; says whether the server ended
/// it cleanly. A stop of ours (pause, offline, abort, close) that shut the socket is
/// `Stopped`, never an end.
pub(super) fn stream_body(
    shared: &dyn TransferHost,
    job: &RecordJob,
    resp: ureq::http::Response<ureq::Body>,
    part: &mut dyn BodySink,
    end: Option<u64>,
) -> Result<Ending, Fail> {
    // No read may go on past the no-progress timeout without a new body byte.
    let stall = shared.config().retry.no_progress_timeout;
    let arm = || net::set_stall_deadline(stall.map(|t| std::time::Instant::now() + t));
    arm();
    let mut reader = resp.into_body().into_reader();
    let streamed = BUF.with(|buf| {
        let mut buf = buf.borrow_mut();
        let body_len = end.map_or(0, |end| end.saturating_sub(part.position()));
        let want = usize::try_from(body_len)
            .unwrap_or(BUF_SIZE)
            .clamp(MIN_BUF_SIZE, BUF_SIZE);
        if buf.len() < want {
            buf.resize(want, 0);
        }
        loop {
            // Paused, offline, aborted or closing: stop, unless every byte is in (then the
            // body completes, and an abort settles after it).
            let whole = end == Some(part.position());
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
            if end.is_some_and(|end| part.position() + n as u64 > end) {
                return Err(more_than_announced());
            }
            if !part.store(job, &buf[..n])? {
                return Ok(());
            }
            arm();
            // The bandwidth cap: wait out the debt in slices, so that a changed cap (or a
            // pause) takes effect promptly.
            let mut wait = shared.rate().pay(n, std::time::Instant::now());
            while !wait.is_zero() && end != Some(part.position()) {
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
    if end != Some(part.position()) && job.cancel_token().is_held() {
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
    let whole = |head: &ResponseHead| head.total_len == Some(part.written + n);
    if let Some(head) = part.unsaved_head.take_if(|head| !whole(head)) {
        job.save_head(&head).map_err(|e| storage_failure(job, e))?;
    }
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
/// durable and says so in the head log.
pub(super) fn complete_body(
    shared: &dyn TransferHost,
    job: &RecordJob,
    part: PartBody,
    integrity: Option<&Integrity>,
) -> Result<(), Fail> {
    if let (Some(i), Some(h)) = (integrity, part.hasher) {
        if !i.matches(h) {
            drop(part.file);
            shared.store().remove_body(job.key(), job.index());
            job.reset_body();
            return Err(Fail::Fatal(
                "the body does not match its integrity metadata".into(),
            ));
        }
    }
    // The sync thread makes it durable, says so in the head log and completes the record.
    if !job.mark_syncing() {
        return Err(Fail::Stopped);
    }
    shared.sync_body(Finished {
        reg: job.registration().clone(),
        index: job.index(),
        file: part.file,
        unsaved_head: part.unsaved_head,
    });
    Ok(())
}

pub(super) fn hash_prefix(path: &std::path::Path, len: u64, h: &mut Hasher) -> std::io::Result<()> {
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
pub(super) fn storage_failure(job: &RecordJob, e: std::io::Error) -> Fail {
    if is_disk_full(&e) {
        job.fail_fetch(FailureReason::QuotaExceeded);
        Fail::Stopped
    } else {
        Fail::Fatal(format!("the store could not be written: {e}"))
    }
}

/// Whether an I/O error means the disk (or the file-size limit) is full.
pub(crate) fn is_disk_full(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOSPC) | Some(libc::EDQUOT) | Some(libc::EFBIG)
    )
}
