//! Group commit of finished bodies: workers hand a complete `.part` to this thread and go on
//! with their next request; it makes every waiting body durable with one flush per batch,
//! renames each to `<n>.body`, and only then marks its record complete.
//!
//! A batch of one is flushed with `fdatasync`; a larger batch with one `syncfs` of the store's
//! filesystem, which costs one flush instead of one per body. A record is complete (and its
//! fetch can settle) only once its body is on disk, as the durability promise requires.

use std::fs::File;
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};

use crate::error::{Error, Result};
use crate::outcome::Outcome;
use crate::registration::{Engine, FailureReason};
use crate::transfer::Finished;

/// Most bodies flushed by one batch.
const MAX_BATCH: usize = 512;

/// What the syncer thread is told.
pub(crate) enum SyncJob {
    /// Make this body durable and complete its record.
    Body(Finished),
    /// Finish what is queued, then exit.
    Stop,
    /// Panic (a test of the supervision: `Manager::crash_thread_for_tests`).
    #[cfg(feature = "test-hooks")]
    Crash,
    /// Wait until the sender of this channel is dropped (a test of the ordering of events:
    /// `Manager::hold_sync_for_tests`).
    #[cfg(feature = "test-hooks")]
    Hold(Receiver<()>),
}

/// Creates the syncer's channel.
pub(crate) fn channel() -> (Sender<SyncJob>, Receiver<SyncJob>) {
    crossbeam_channel::unbounded()
}

/// Starts the syncer thread.
pub(crate) fn start(shared: Arc<dyn Engine>, rx: Receiver<SyncJob>) -> Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("bgfetch-sync".into())
        .spawn(move || {
            if crate::panic::contain("sync thread", || sync_loop(&*shared, &rx)).is_none() {
                shared.thread_died("sync thread");
            }
        })
        .map_err(|e| Error::io("starting the sync thread", e))
}

fn sync_loop(shared: &dyn Engine, rx: &Receiver<SyncJob>) {
    let mut stop = false;
    while !stop {
        let Ok(first) = rx.recv() else { return };
        let mut batch = Vec::new();
        for job in std::iter::once(first).chain(rx.try_iter().take(MAX_BATCH - 1)) {
            match job {
                SyncJob::Body(f) => batch.push(f),
                SyncJob::Stop => stop = true,
                #[cfg(feature = "test-hooks")]
                SyncJob::Crash => panic!("a panic injected by a test"),
                #[cfg(feature = "test-hooks")]
                SyncJob::Hold(until) => {
                    let _ = until.recv();
                }
            }
        }
        if batch.is_empty() {
            continue;
        }
        let files: Vec<&File> = batch.iter().map(|f| &f.file).collect();
        let flushed = crate::store::sync_files(&files);
        for f in batch {
            let job = f.reg.job(f.index, shared);
            let res = flushed
                .as_ref()
                .map_err(|e| std::io::Error::new(e.kind(), e.to_string()))
                .and_then(|_| shared.store().promote_part(job.key(), f.index));
            drop(f.file);
            match res {
                Ok(()) => job.finish(Outcome::Done),
                Err(e) if crate::transfer::is_disk_full(&e) => {
                    // The fetch fails; this body (kept for completion) ends with it.
                    job.fail_fetch(FailureReason::QuotaExceeded);
                    job.finish(Outcome::Failed(format!("the disk is full: {e}")));
                }
                Err(e) => job.finish(Outcome::Failed(format!(
                    "the store could not be written: {e}"
                ))),
            }
        }
    }
}
