//! The worker pool: a fixed set of threads fed by a channel of slot tokens.
//!
//! A fetch holds at most `max_connections_per_fetch` slots; each slot is a `Job::Run` that a
//! worker takes, uses for one request, and puts back at the end of the channel while the
//! fetch has requests queued, so fetches share the workers round-robin. The number of workers
//! is the manager's connection limit.

use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};

use crate::error::{Error, Result};
use crate::manager::Shared;
use crate::record::Outcome;
use crate::registration::Registration;

/// A unit of work for a worker.
pub(crate) enum Job {
    /// Use one slot of this fetch for its next request.
    Run(Arc<Registration>),
    /// Exit.
    Stop,
}

/// Creates the job channel.
pub(crate) fn channel() -> (Sender<Job>, Receiver<Job>) {
    crossbeam_channel::unbounded()
}

/// Starts `n` workers.
pub(crate) fn start_workers(
    n: u32,
    shared: &Arc<Shared>,
    rx: Receiver<Job>,
) -> Result<Vec<JoinHandle<()>>> {
    (0..n)
        .map(|i| {
            let shared = shared.clone();
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("bgfetch-worker-{i}"))
                .spawn(move || worker_loop(&shared, &rx))
                .map_err(|e| Error::io("starting a worker thread", e))
        })
        .collect()
}

fn worker_loop(shared: &Arc<Shared>, rx: &Receiver<Job>) {
    while let Ok(job) = rx.recv() {
        let reg = match job {
            Job::Stop => return,
            Job::Run(reg) => reg,
        };
        if shared.is_closing() {
            continue;
        }
        let Some(index) = reg.take_next() else {
            continue;
        };
        let ran = crate::panic::contain("transfer", || {
            crate::transfer::run(shared, &reg, index);
        });
        if ran.is_none() {
            reg.finish(
                shared,
                index,
                Outcome::Failed("internal error in the transfer".into()),
            );
        }
        reg.transfer_ended(shared, index);
        if reg.has_queued() && !shared.is_closing() {
            shared.send_job(Job::Run(reg));
        } else {
            reg.state.lock().slots -= 1;
        }
    }
}
