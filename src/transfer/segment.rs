//! A body fetched in ranges over several connections (a segmented download, API.md
//! "Segmented downloads"): the split after the first response, and the transfer of one range —
//! a `Range` request with `If-Range`, its answer judged by [`resume::judge_range`], its bytes
//! written in place into the body file at the offsets the range claims, the map of
//! the ranges written at checkpoints (each after the data it claims is durable), and the body
//! completed by whichever transfer stores its last byte.
//!
//! The ranges themselves (how the body is split, claims, take-overs) are
//! [`crate::segments`]; which range runs when, the fetch's state
//! ([`crate::fetch_state`]).

use std::fs::File;
use std::os::unix::fs::FileExt;

use super::body::{complete_body, hash_prefix, storage_failure, stream_body, BodySink, PartBody};
use super::{send, Answer, Fail, TransferHost};
use crate::head::ResponseHead;
use crate::integrity::Integrity;
use crate::net;
use crate::registration::RecordJob;
use crate::resume::{self, BodyEnd, RangeVerdict};
use crate::retry::FailureKind;
use crate::segments::Segments;
use crate::store::StoredRequest;

/// Splits the body of the response just stored (`head`, none of its bytes read yet) when the
/// configuration and the response allow it: the map of the ranges is written, the body
/// file preallocated to the body's length, and more connections asked for. Returns whether
/// it did (the job then transfers range 0 of the body, from this response).
pub(super) fn try_split(
    shared: &dyn TransferHost,
    job: &RecordJob,
    req: &StoredRequest,
    head: &ResponseHead,
    part: &PartBody,
) -> Result<bool, Fail> {
    let max = shared.config().max_segments;
    let Some(len) = head.total_len.filter(|_| max > 1 && part.written == 0) else {
        return Ok(false);
    };
    let count = Segments::count_for(len, max);
    if count < 2 || !resume::may_split(&req.method, &req.headers, head) {
        return Ok(false);
    }
    // The map first (it claims no byte yet): a crash before the file has the body's length
    // leaves a map that does not fit the file, and the file is dropped at open.
    if !job.split(len, count) {
        return Ok(false);
    }
    preallocate(&part.file, len).map_err(|e| storage_failure(job, e))?;
    Ok(true)
}

/// Gives the body file its body's length, its blocks allocated (a full disk shows now, not
/// in the middle of a range).
fn preallocate(file: &File, len: u64) -> std::io::Result<()> {
    use rustix::fs::{fallocate, FallocateFlags};
    match fallocate(file, FallocateFlags::empty(), 0, len) {
        Ok(()) => Ok(()),
        // A file system without allocation: the length alone (a sparse file) will do.
        Err(e) if e == rustix::io::Errno::OPNOTSUPP || e == rustix::io::Errno::INVAL => {
            file.set_len(len)
        }
        Err(e) => Err(e.into()),
    }
}

/// One attempt at the job's range: ask for the rest of it (`Range` + `If-Range`), judge the
/// answer, write its bytes in place. An answer that does not fit the body gives the split up
/// (the record starts again from zero as one stream).
pub(super) fn attempt_range(
    shared: &dyn TransferHost,
    job: &RecordJob,
    req: &StoredRequest,
) -> Result<(), Fail> {
    let Some((start, end)) = job.range_bounds() else {
        return Err(Fail::Stopped); // the split was given up
    };
    let file = shared
        .store()
        .open_body_in_place(job.key(), job.index())
        .map_err(|e| storage_failure(job, e))?;
    let (Some(head), _) = job.transfer_state() else {
        return Err(Fail::Fatal("a split body without its response head".into()));
    };
    if start == end {
        // Restored with every range stored: only the completion was missing.
        if !job.take_completion() {
            return Ok(());
        }
        return finish_split(shared, job, file, req.integrity.as_ref());
    }
    let Some(ask) = resume::ask_range(&head, start, end) else {
        job.abandon_split("the response has no validator for If-Range");
        return Err(Fail::Stopped);
    };
    let (resp, final_url) = send(shared, job, req, &ask)?;
    net::take_surplus();
    let answer = Answer::of(&resp, &final_url, &req.method);
    match resume::judge_range(&head, (start, end), &answer.head, answer.content_length) {
        RangeVerdict::Continue { end: answer_end } => {
            stream_range(shared, job, resp, file, answer_end, req.integrity.as_ref())
        }
        RangeVerdict::Refused { status } => Err(Fail::Attempt {
            kind: FailureKind::Transient,
            msg: format!("the server answered a range request with status {status}"),
            retry_after: answer.retry_after(),
        }),
        RangeVerdict::Abandon(why) => {
            job.abandon_split(why);
            Err(Fail::Stopped)
        }
    }
}

/// Streams the answer `resp` into the job's range, in place in `file`, until the range is
/// stored (or taken over up to here), the answer ends (`answer_end`, counted in the body), or
/// the transfer stops. The transfer that stores the body's last byte completes it.
pub(super) fn stream_range(
    shared: &dyn TransferHost,
    job: &RecordJob,
    resp: ureq::http::Response<ureq::Body>,
    file: File,
    answer_end: u64,
    integrity: Option<&Integrity>,
) -> Result<(), Fail> {
    let Some((start, _)) = job.range_bounds() else {
        return Err(Fail::Stopped);
    };
    let mut sink = RangeSink {
        file,
        at: start,
        completes: false,
    };
    let streamed = stream_body(shared, job, resp, &mut sink, Some(answer_end));
    if sink.completes {
        return finish_split(shared, job, sink.file, integrity);
    }
    // Whatever stopped it, the map claims what is stored now (after it is made durable).
    job.checkpoint(&sink.file, true);
    let ending = streamed?;
    let Some((next, end)) = job.range_bounds() else {
        return Err(Fail::Stopped);
    };
    if next == end || job.must_stop() {
        return Ok(()); // stored (or taken over up to here): its connection moves on
    }
    // As for one stream (`resume::judge_end`), in body offsets: this answer's bytes end at
    // `answer_end`, its range at `end`.
    match resume::judge_end(sink.at, Some(answer_end), Some(end), ending) {
        BodyEnd::Complete => Ok(()),
        BodyEnd::Short => Err(Fail::transient(format!(
            "the server's answer to a range ended at byte {answer_end}, before its end {end}"
        ))),
        BodyEnd::Cut(msg) => Err(Fail::transient(msg)),
    }
}

/// Every range is stored: the body is checked against its integrity metadata (read back
/// whole from the file) and handed to the sync thread.
fn finish_split(
    shared: &dyn TransferHost,
    job: &RecordJob,
    file: File,
    integrity: Option<&Integrity>,
) -> Result<(), Fail> {
    let len = file.metadata().map_err(|e| storage_failure(job, e))?.len();
    let mut hasher = integrity.map(Integrity::hasher);
    if let Some(h) = hasher.as_mut() {
        let path = shared.store().body_path(job.key(), job.index());
        hash_prefix(&path, len, h).map_err(|e| storage_failure(job, e))?;
    }
    let part = PartBody {
        file,
        written: len,
        hasher,
        unsaved_head: None,
    };
    complete_body(shared, job, part, integrity)
}

/// A range of a split body as one transfer writes it: in place, at `at`, as far as its claims
/// reach.
struct RangeSink {
    file: File,
    /// The body offset of its next byte.
    at: u64,
    /// The last write stored the body's last byte: this transfer completes the body.
    completes: bool,
}

impl BodySink for RangeSink {
    fn position(&self) -> u64 {
        self.at
    }

    /// Claims the bytes first (a range taken over, or ended, takes fewer or none), counts
    /// them against the quota and the download total, writes them in place, stores them, and
    /// writes the map when a checkpoint is due.
    fn store(&mut self, job: &RecordJob, chunk: &[u8]) -> Result<bool, Fail> {
        let n = chunk.len() as u64;
        let claimed = job.claim(n);
        if claimed > 0 {
            if job.reserve(claimed).is_err() {
                job.unclaim(claimed);
                return Err(Fail::Stopped);
            }
            let bytes = &chunk[..claimed as usize];
            if let Err(e) = self.file.write_all_at(bytes, self.at) {
                job.unreserve(claimed);
                job.unclaim(claimed);
                return Err(storage_failure(job, e));
            }
            job.commit(claimed);
            self.at += claimed;
            if job.take_completion() {
                self.completes = true;
                return Ok(false);
            }
            job.checkpoint(&self.file, false);
        }
        Ok(claimed == n)
    }
}
