//! Group commit of finished bodies: a complete body is made durable with one flush per batch,
//! the head log says that it is complete (one append per registration and batch), and only
//! then is its record marked complete.
//!
//! A batch of one is flushed with `fdatasync`; a larger batch with one `syncfs` of the store's
//! filesystem, which costs one flush instead of one per body. A record is complete (and its
//! fetch can settle) only once its body is on disk, as the durability promise requires.
//!
//! Who completes a body: the worker that finished it hands it to a queue, and whoever holds
//! the flush (one at a time) completes everything queued. On a store whose flushes cost
//! nothing (tmpfs, ramfs: `Store::flushes_are_free`), a worker that finds nobody flushing
//! completes the queue itself, its own body with it: no other thread is woken (waking the sync
//! thread, its context switches and its spinning while it waited for the next body cost more
//! than completing a small body). Elsewhere the sync thread does it: the workers go on with
//! their next requests while it waits for the disk, and the bodies that come meanwhile make
//! the next batch.

use std::fs::File;
use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

use crate::error::{Error, Result};
use crate::outcome::Outcome;
use crate::record::HeadLineAt;
use crate::registration::{Engine, FailureReason};
use crate::store::LineAt;
use crate::transfer::Finished;

/// Most bodies flushed by one batch.
const MAX_BATCH: usize = 512;

/// What the syncer thread is told.
pub(crate) enum SyncJob {
    /// Finish what is queued, then exit.
    Stop,
    /// Panic (a test of the supervision: `Manager::crash_thread_for_tests`).
    #[cfg(feature = "test-hooks")]
    Crash,
    /// Wait until the sender of this channel is dropped (a test of the ordering of events:
    /// `Manager::hold_sync_for_tests`); no body completes meanwhile.
    #[cfg(feature = "test-hooks")]
    Hold(Receiver<()>),
    /// Bodies are queued on a store whose flushes cost something: complete them.
    Flush,
}

/// What the workers and the sync thread share.
struct Shared {
    /// The sync thread's jobs.
    jobs: Sender<SyncJob>,
    /// The bodies waiting for a flush.
    bodies: (Sender<Finished>, Receiver<Finished>),
    /// Someone flushes (or holds the flush: the sync thread while held, stopped or dead).
    flushing: AtomicBool,
    /// A `Flush` is on its way to the sync thread.
    kicked: AtomicBool,
}

impl Shared {
    fn try_lead(&self) -> bool {
        !self.flushing.swap(true, Ordering::SeqCst)
    }

    /// Queues a body. The fence pairs with the one in `flush_queued`: either the body's
    /// sender then sees the flush free, or the one letting it go sees the body.
    fn queue(&self, f: Finished) {
        let _ = self.bodies.0.send(f);
        fence(Ordering::SeqCst);
    }

    /// Asks the sync thread to flush what is queued (once until it starts).
    fn kick(&self) {
        if !self.kicked.swap(true, Ordering::SeqCst) {
            let _ = self.jobs.send(SyncJob::Flush);
        }
    }

    /// Takes the flush, waiting for whoever has it.
    fn lead(&self) {
        while !self.try_lead() {
            std::thread::sleep(Duration::from_micros(50));
        }
    }

    /// With the flush taken: completes what is queued, batch after batch, then lets the
    /// flush go; takes it again if bodies came meanwhile (and nobody else took it).
    fn flush_queued(&self, host: &dyn Engine) {
        // A panic (a bug) lets the flush go, so that the other bodies still complete.
        struct LetGo<'a>(&'a AtomicBool);
        impl Drop for LetGo<'_> {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    self.0.store(false, Ordering::SeqCst);
                }
            }
        }
        let _let_go = LetGo(&self.flushing);
        loop {
            loop {
                let batch: Vec<Finished> = self.bodies.1.try_iter().take(MAX_BATCH).collect();
                if batch.is_empty() {
                    break;
                }
                complete(host, batch);
            }
            self.flushing.store(false, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            if self.bodies.1.is_empty() || !self.try_lead() {
                return;
            }
        }
    }
}

/// The sending side (the manager's).
pub(crate) struct SyncSender {
    jobs: Sender<SyncJob>,
    shared: Arc<Shared>,
}

/// The receiving side (the sync thread's).
pub(crate) struct SyncReceiver {
    jobs: Receiver<SyncJob>,
    shared: Arc<Shared>,
}

/// Creates the syncer's channels.
pub(crate) fn channel() -> (SyncSender, SyncReceiver) {
    let (tx, rx) = crossbeam_channel::unbounded();
    let shared = Arc::new(Shared {
        jobs: tx.clone(),
        bodies: crossbeam_channel::unbounded(),
        flushing: AtomicBool::new(false),
        kicked: AtomicBool::new(false),
    });
    (
        SyncSender {
            jobs: tx,
            shared: shared.clone(),
        },
        SyncReceiver { jobs: rx, shared },
    )
}

impl SyncSender {
    /// Sends a job to the sync thread (bodies go through [`SyncSender::body`]).
    pub(crate) fn send(
        &self,
        job: SyncJob,
    ) -> std::result::Result<(), crossbeam_channel::SendError<SyncJob>> {
        self.jobs.send(job)
    }

    /// A complete body, from the worker that finished it: queued, and completed now on this
    /// thread if flushes cost nothing here and nobody flushes, else by whoever flushes.
    pub(crate) fn body(&self, host: &dyn Engine, finished: Finished) {
        let s = &self.shared;
        s.queue(finished);
        if !host.store().flushes_are_free() {
            s.kick();
        } else if s.try_lead() {
            s.flush_queued(host);
        }
    }
}

/// Starts the syncer thread.
pub(crate) fn start(shared: Arc<dyn Engine>, rx: SyncReceiver) -> Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("bgfetch-sync".into())
        .spawn(move || {
            if crate::panic::contain("sync thread", || sync_loop(&*shared, &rx)).is_none() {
                shared.thread_died("sync thread");
            }
        })
        .map_err(|e| Error::io("starting the sync thread", e))
}

fn sync_loop(host: &dyn Engine, rx: &SyncReceiver) {
    let s = &rx.shared;
    while let Ok(job) = rx.jobs.recv() {
        match job {
            SyncJob::Flush => {
                // Pairs with the fence in `queue`: a body queued by a sender that found this
                // `Flush` still pending is seen below.
                s.kicked.store(false, Ordering::SeqCst);
                fence(Ordering::SeqCst);
                s.lead();
                s.flush_queued(host);
            }
            SyncJob::Stop => {
                // Finish what is queued, and keep the flush: nothing completes any more.
                s.lead();
                loop {
                    let batch: Vec<Finished> = s.bodies.1.try_iter().take(MAX_BATCH).collect();
                    if batch.is_empty() {
                        return;
                    }
                    complete(host, batch);
                }
            }
            #[cfg(feature = "test-hooks")]
            SyncJob::Crash => {
                // Dies holding the flush: no body completes any more, here or on a worker.
                s.lead();
                panic!("a panic injected by a test");
            }
            #[cfg(feature = "test-hooks")]
            SyncJob::Hold(until) => {
                s.lead();
                let _ = until.recv();
                s.flush_queued(host);
            }
        }
    }
}

/// Makes the bodies of `batch` durable, says so in their head logs and completes their
/// records.
fn complete(host: &dyn Engine, batch: Vec<Finished>) {
    if batch.is_empty() {
        return;
    }
    // On tmpfs or ramfs a flush is a no-op (there is no disk): it is not even asked for.
    let flushed = if host.store().flushes_are_free() {
        Ok(())
    } else {
        let files: Vec<&File> = batch.iter().map(|f| &f.file).collect();
        crate::store::sync_files(&files)
    };
    let recorded = match &flushed {
        Ok(()) => record_complete(host, &batch),
        Err(e) => {
            // Not complete: a head that waited for the body is written alone.
            for f in &batch {
                if let Some(head) = &f.unsaved_head {
                    let _ = host.store().save_head(f.reg.key(), f.index, head);
                }
            }
            batch.iter().map(|_| Err(copy_error(e))).collect()
        }
    };
    for (f, res) in batch.into_iter().zip(recorded) {
        let job = f.reg.job(f.index, host);
        drop(f.file);
        match res {
            Ok(line) => {
                if let (Some(line), Some(head)) = (line, &f.unsaved_head) {
                    job.head_written(HeadLineAt::of(head, line));
                }
                job.finish(Outcome::Done)
            }
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

/// Says in the head logs that the (flushed) bodies of `batch` are complete: one append per
/// run of bodies of the same registration. The result for each body: where its head went, if
/// it was written with it.
fn record_complete(host: &dyn Engine, batch: &[Finished]) -> Vec<std::io::Result<Option<LineAt>>> {
    let mut results = Vec::with_capacity(batch.len());
    for run in batch.chunk_by(|a, b| Arc::ptr_eq(&a.reg, &b.reg)) {
        let lines: Vec<(usize, Option<&crate::head::ResponseHead>)> = run
            .iter()
            .map(|f| (f.index, f.unsaved_head.as_deref()))
            .collect();
        match host.store().save_complete(run[0].reg.key(), &lines) {
            Ok(at) => results.extend(at.into_iter().map(Ok)),
            Err(e) => results.extend(run.iter().map(|_| Err(copy_error(&e)))),
        }
    }
    results
}

fn copy_error(e: &std::io::Error) -> std::io::Error {
    match e.raw_os_error() {
        Some(code) => std::io::Error::from_raw_os_error(code),
        None => std::io::Error::new(e.kind(), e.to_string()),
    }
}
