//! The worker pool: a fixed set of threads fed by a channel of slot tokens.
//!
//! A fetch holds at most `max_connections_per_fetch` slots; each slot is a `Job::Run` that a
//! worker takes, uses for one request, and puts back at the end of the channel while the
//! fetch has requests queued, so fetches share the workers round-robin. The number of workers
//! is the manager's connection limit. Requests waiting for a retry sit in [`Delays`], not in
//! a worker.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use parking_lot::{Condvar, Mutex};

use crate::error::{Error, Result};
use crate::outcome::Outcome;
use crate::registration::{Registration, Work};
use crate::transfer::TransferHost;

/// What the workers and the retry timer ask of the manager (the manager implements it; this
/// module never imports the manager).
pub(crate) trait SchedulerHost: TransferHost {
    /// Puts a job at the end of the workers' channel.
    fn send_job(&self, job: Job);
    /// The requests waiting for their next attempt.
    fn delays(&self) -> &Delays;
    /// The worker slots each fetch holds.
    fn slots(&self) -> &Slots;
}

/// The worker slots each fetch holds: a fetch has at most `per_fetch` jobs in the workers'
/// channel or in a worker at once, and no more than it has transfers running or queued (a
/// split body's first transfer runs on while it queues the other ranges: they get slots of
/// their own).
#[derive(Default)]
pub(crate) struct Slots {
    /// Slots held, by the registration's address (an entry lives while its count is above
    /// zero, and every slot holds an `Arc` of it, so an address is never reused meanwhile).
    held: Mutex<HashMap<usize, usize>>,
}

impl Slots {
    /// The slots `reg` may add now, taken: up to `wanted` (its running and queued transfers)
    /// and `per_fetch` in all; the caller hands that many jobs to the workers.
    pub(crate) fn take(&self, reg: &Arc<Registration>, wanted: usize, per_fetch: usize) -> usize {
        let mut held = self.held.lock();
        let h = held.entry(Arc::as_ptr(reg) as usize).or_insert(0);
        let add = wanted.min(per_fetch).saturating_sub(*h);
        *h += add;
        if *h == 0 {
            held.remove(&(Arc::as_ptr(reg) as usize));
        }
        add
    }

    /// A worker gives back a slot of `reg` (its queue is empty, or the fetch stopped).
    pub(crate) fn release(&self, reg: &Arc<Registration>) {
        let mut held = self.held.lock();
        let key = Arc::as_ptr(reg) as usize;
        if let Some(h) = held.get_mut(&key) {
            *h = h.saturating_sub(1);
            if *h == 0 {
                held.remove(&key);
            }
        }
    }
}

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
    shared: &Arc<dyn SchedulerHost>,
    rx: Receiver<Job>,
) -> Result<Vec<JoinHandle<()>>> {
    (0..n)
        .map(|i| {
            let shared = shared.clone();
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("bgfetch-worker-{i}"))
                .spawn(move || worker_loop(&*shared, &rx))
                .map_err(|e| Error::io("starting a worker thread", e))
        })
        .collect()
}

fn worker_loop(shared: &dyn SchedulerHost, rx: &Receiver<Job>) {
    while let Ok(job) = rx.recv() {
        let reg = match job {
            Job::Stop => return,
            Job::Run(reg) => reg,
        };
        if shared.is_closing() {
            continue;
        }
        let Some(job) = reg.take_job(shared) else {
            give_back_slot(shared, &reg);
            continue;
        };
        let ran = crate::panic::contain("transfer", || {
            crate::transfer::run(shared, &job);
        });
        if ran.is_none() {
            job.finish(Outcome::Failed("internal error in the transfer".into()));
        }
        job.transfer_ended();
        if reg.has_queued() && !shared.is_closing() {
            shared.send_job(Job::Run(reg));
        } else {
            give_back_slot(shared, &reg);
        }
    }
}

/// Gives back a slot of `reg` whose queue looked empty, then looks again: a transfer queued
/// in between (a retry due at once, which the retry timer thread hands back while the worker
/// of the failed attempt is still finishing) asked for a slot while this one was still held,
/// got none, and gets one now. Without the second look it stayed queued with no worker, and
/// its fetch never settled.
fn give_back_slot(shared: &dyn SchedulerHost, reg: &Arc<Registration>) {
    shared.slots().release(reg);
    if !shared.is_closing() && reg.has_queued() {
        shared.kick(reg);
    }
}

/// Requests waiting for their next attempt (a retry after a backoff). A timer thread hands
/// each back to its fetch's queue when its time comes: a waiting request holds no worker
/// thread and no connection slot, so other fetches run at full speed meanwhile.
pub(crate) struct Delays {
    state: Mutex<DelayState>,
    wake: Condvar,
}

#[derive(Default)]
struct DelayState {
    /// (due, entry) — the earliest first.
    due: BinaryHeap<Reverse<(Instant, u64)>>,
    entries: HashMap<u64, (Weak<Registration>, Work)>,
    next: u64,
    stopped: bool,
}

impl Delays {
    pub(crate) fn new() -> Delays {
        Delays {
            state: Mutex::new(DelayState::default()),
            wake: Condvar::new(),
        }
    }

    /// `work` of `reg` is tried again at `due`.
    pub(crate) fn add(&self, reg: &Arc<Registration>, work: Work, due: Instant) {
        let mut s = self.state.lock();
        let id = s.next;
        s.next += 1;
        s.entries.insert(id, (Arc::downgrade(reg), work));
        s.due.push(Reverse((due, id)));
        self.wake.notify_all();
    }

    /// Every waiting request is due now (the manager is back online).
    pub(crate) fn all_due_now(&self) {
        let mut s = self.state.lock();
        let now = Instant::now();
        let ids: Vec<u64> = s.due.drain().map(|Reverse((_, id))| id).collect();
        s.due.extend(ids.into_iter().map(|id| Reverse((now, id))));
        self.wake.notify_all();
    }

    /// Stops the timer thread.
    pub(crate) fn stop(&self) {
        self.state.lock().stopped = true;
        self.wake.notify_all();
    }

    /// The next due request, waiting for it; `None` once stopped.
    fn next_due(&self) -> Option<(Weak<Registration>, Work)> {
        let mut s = self.state.lock();
        loop {
            if s.stopped {
                return None;
            }
            match s.due.peek().copied() {
                Some(Reverse((due, id))) if due <= Instant::now() => {
                    s.due.pop();
                    if let Some(entry) = s.entries.remove(&id) {
                        return Some(entry);
                    }
                }
                Some(Reverse((due, _))) => {
                    self.wake.wait_until(&mut s, due);
                }
                None => self.wake.wait(&mut s),
            }
        }
    }
}

/// Starts the timer thread of the delay queue.
pub(crate) fn start_delays(shared: &Arc<dyn SchedulerHost>) -> Result<JoinHandle<()>> {
    let shared = shared.clone();
    std::thread::Builder::new()
        .name("bgfetch-retry".into())
        .spawn(move || {
            let ran = crate::panic::contain("retry timer thread", || {
                while let Some((reg, work)) = shared.delays().next_due() {
                    if let Some(reg) = reg.upgrade() {
                        reg.job_for(work, &*shared).requeue();
                    }
                }
            });
            if ran.is_none() {
                shared.thread_died("retry timer thread");
            }
        })
        .map_err(|e| Error::io("starting the retry timer thread", e))
}
