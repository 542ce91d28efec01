//! What the manager's threads and registrations share ([`Shared`]), and the services it gives
//! the lower modules through their traits: [`Engine`] (what a registration needs: the store,
//! the quota, the workers, the event thread, the gate), [`TransferHost`] (the HTTP agent, the
//! bandwidth cap, the sync thread) and [`SchedulerHost`] (the job channel, the delay queue).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::Sender;
use parking_lot::Mutex;

use crate::config::Config;
use crate::error::Result;
use crate::events::{Delivery, Events};
use crate::gate::{Gate, Lifecycle};
use crate::registration::{Engine, Registration, Work};
use crate::scheduler::{self, Job, SchedulerHost};
use crate::store::Store;
use crate::transfer::{Finished, TransferHost};

/// What the manager's threads and registrations share.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) store: Store,
    pub(crate) agent: ureq::Agent,
    pub(crate) events: Arc<Events>,
    pub(super) registrations: Mutex<HashMap<String, Arc<Registration>>>,
    pub(super) jobs: Sender<Job>,
    pub(super) sync_jobs: crate::syncer::SyncSender,
    pub(super) used_bytes: AtomicU64,
    /// Running, closing, closed, broken: the one gate of every entry point.
    pub(super) life: Lifecycle,
    pub(super) problems: Mutex<Vec<String>>,
    /// Registrations that have (or had) progress listeners: close lets go of them all.
    pub(super) listening: Mutex<Vec<std::sync::Weak<Registration>>>,
    /// Requests waiting for their next attempt.
    pub(crate) delays: scheduler::Delays,
    /// The worker slots each fetch holds.
    pub(super) slots: scheduler::Slots,
    /// The host said the network is gone: nothing is tried.
    pub(super) offline: AtomicBool,
    /// The bandwidth cap of the whole manager.
    pub(crate) rate: crate::throttle::RateLimiter,
}

impl Engine for Shared {
    fn store(&self) -> &Store {
        &self.store
    }

    fn config(&self) -> &Config {
        &self.config
    }

    fn gate(&self, gate: Gate) -> Result<()> {
        self.life.pass(gate)
    }

    fn is_closing(&self) -> bool {
        self.life.is_closing()
    }

    fn is_offline(&self) -> bool {
        self.offline.load(Ordering::Acquire)
    }

    /// A thread of the manager died (`what`, a bug caught by its panic boundary): every
    /// running fetch fails visibly, and every call on the manager returns `Internal`.
    fn thread_died(&self, what: &str) {
        let why = format!("the {what} stopped after an internal error");
        if !self.life.break_down(why.clone()) {
            return;
        }
        self.report_problem(why);
        let regs: Vec<Arc<Registration>> = self.registrations.lock().values().cloned().collect();
        for reg in regs {
            reg.fail_broken(self, what);
        }
    }

    fn reserve_quota(&self, n: u64) -> bool {
        let quota = self.config.quota;
        if quota == 0 {
            self.used_bytes.fetch_add(n, Ordering::AcqRel);
            return true;
        }
        self.used_bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(n).filter(|&t| t <= quota)
            })
            .is_ok()
    }

    fn release_quota(&self, n: u64) {
        let _ = self
            .used_bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                Some(u.saturating_sub(n))
            });
    }

    /// A problem the host reads with [`Manager::problems`].
    fn report_problem(&self, msg: String) {
        self.problems.lock().push(msg);
    }

    /// Under the id table's lock, the directory is moved out of the store's namespace and
    /// the id forgotten, in one step as far as `fetch` and `get` can tell (a new fetch of the
    /// same id never meets the old directory, and the old one never takes the new one's).
    fn detach(&self, reg: &Arc<Registration>) -> Result<std::path::PathBuf> {
        let mut regs = self.registrations.lock();
        let trash = self.store.detach_fetch(reg.key())?;
        if regs.get(reg.id()).is_some_and(|r| Arc::ptr_eq(r, reg)) {
            regs.remove(reg.id());
        }
        Ok(trash)
    }

    /// Remembers `reg` so that close drops its listeners.
    fn listening(&self, reg: &Arc<Registration>, add: &mut dyn FnMut()) -> Result<()> {
        let mut l = self.listening.lock();
        self.life.pass(Gate::Running)?;
        l.retain(|w| w.strong_count() > 0);
        if !l.iter().any(|w| std::ptr::eq(w.as_ptr(), Arc::as_ptr(reg))) {
            l.push(Arc::downgrade(reg));
        }
        add();
        Ok(())
    }

    /// Up to the per-fetch limit.
    fn kick(&self, reg: &Arc<Registration>) {
        let per_fetch = self.config.max_connections_per_fetch as usize;
        let add = self.slots.take(reg, reg.slots_wanted(), per_fetch);
        for _ in 0..add {
            self.send_job(Job::Run(reg.clone()));
        }
    }

    fn retry_at(&self, reg: &Arc<Registration>, work: Work, due: Instant) {
        self.delays.add(reg, work, due)
    }

    fn request_progress(&self, reg: &Arc<Registration>) {
        self.events.request_progress(reg)
    }

    fn greet_listener(&self, reg: &Arc<Registration>, id: u64) {
        self.events.send(Delivery::Greet(reg.clone(), id))
    }

    fn send_settled(&self, reg: &Arc<Registration>) {
        self.events.send(Delivery::Settled(reg.clone()))
    }

    fn hold_event(&self, reg: Arc<Registration>) {
        self.events.hold(reg)
    }

    fn events_threaded(&self) -> bool {
        self.events.threaded()
    }

    fn on_event_thread(&self) -> bool {
        self.events.on_event_thread()
    }

    fn wait_for_callbacks(&self) {
        self.events.wait_for_callbacks()
    }
}

impl TransferHost for Shared {
    fn agent(&self) -> &ureq::Agent {
        &self.agent
    }

    fn rate(&self) -> &crate::throttle::RateLimiter {
        &self.rate
    }

    /// See [`crate::syncer`].
    fn sync_body(&self, finished: Finished) {
        self.sync_jobs.body(self, finished);
    }
}

impl SchedulerHost for Shared {
    fn send_job(&self, job: Job) {
        let _ = self.jobs.send(job);
    }

    fn delays(&self) -> &scheduler::Delays {
        &self.delays
    }

    fn slots(&self) -> &scheduler::Slots {
        &self.slots
    }
}
