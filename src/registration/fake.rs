//! A fake engine for the unit tests of the registration and the event machinery: a real store
//! on a temporary directory, and no worker, socket, event thread or sleep; it records what it
//! was asked (settle, retries, kicks, greetings) so that a test can drive a race's calls in
//! order and check the answers.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Instant;

use parking_lot::Mutex;

use super::{Engine, Registration, Work};
use crate::config::Config;
use crate::error::Result;
use crate::gate::{Gate, Lifecycle};
use crate::store::{key_for_id, RecordLog, Store, StoredState};

/// What the fake engine was asked, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Asked {
    Kick,
    RetryAt(usize),
    Settled,
    Greet(u64),
}

pub(crate) struct FakeEngine {
    dir: PathBuf,
    pub(crate) store: Store,
    config: Config,
    pub(crate) life: Lifecycle,
    offline: AtomicBool,
    used: AtomicU64,
    quota: u64,
    progress: AtomicUsize,
    asked: Mutex<Vec<Asked>>,
}

impl FakeEngine {
    pub(crate) fn new(name: &str, quota: u64) -> Arc<FakeEngine> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "bgfetch-unit-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        Arc::new(FakeEngine {
            store: Store::open(&dir).unwrap(),
            dir: dir.clone(),
            config: Config::new(&dir),
            life: Lifecycle::default(),
            offline: AtomicBool::new(false),
            used: AtomicU64::new(0),
            quota,
            progress: AtomicUsize::new(0),
            asked: Mutex::new(Vec::new()),
        })
    }

    pub(crate) fn asked(&self) -> Vec<Asked> {
        self.asked.lock().clone()
    }

    pub(crate) fn settles(&self) -> usize {
        self.asked()
            .iter()
            .filter(|a| **a == Asked::Settled)
            .count()
    }
}

impl Engine for FakeEngine {
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
    fn thread_died(&self, what: &str) {
        self.life.break_down(what.to_string());
    }
    fn reserve_quota(&self, n: u64) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                u.checked_add(n)
                    .filter(|&t| self.quota == 0 || t <= self.quota)
            })
            .is_ok()
    }
    fn release_quota(&self, n: u64) {
        self.used.fetch_sub(n, Ordering::AcqRel);
    }
    fn report_problem(&self, msg: String) {
        panic!("an unexpected problem: {msg}");
    }
    fn detach(&self, reg: &Arc<Registration>) -> Result<std::path::PathBuf> {
        self.store.detach_fetch(reg.key())
    }
    fn listening(&self, _reg: &Arc<Registration>, add: &mut dyn FnMut()) -> Result<()> {
        self.life.pass(Gate::Running)?;
        add();
        Ok(())
    }
    fn kick(&self, _reg: &Arc<Registration>) {
        self.asked.lock().push(Asked::Kick);
    }
    fn retry_at(&self, _reg: &Arc<Registration>, work: Work, _due: Instant) {
        self.asked.lock().push(Asked::RetryAt(work.index));
    }
    fn request_progress(&self, _reg: &Arc<Registration>) {
        self.progress.fetch_add(1, Ordering::Relaxed);
    }
    fn greet_listener(&self, _reg: &Arc<Registration>, id: u64) {
        self.asked.lock().push(Asked::Greet(id));
    }
    fn send_settled(&self, _reg: &Arc<Registration>) {
        self.asked.lock().push(Asked::Settled);
    }
    fn hold_event(&self, _reg: Arc<Registration>) {}
    fn events_threaded(&self) -> bool {
        false
    }
    fn on_event_thread(&self) -> bool {
        false
    }
    fn wait_for_callbacks(&self) {}
}

/// A fetch of `n` GET requests, created in the fake engine's store.
pub(crate) fn fetch(engine: &Arc<FakeEngine>, n: usize) -> Arc<Registration> {
    let stored = StoredState::of_gets(n, 0);

    let key = key_for_id("f");
    engine.store.create_fetch(&key, &stored, &[]).unwrap();
    let weak: Weak<dyn Engine> = Arc::downgrade(engine) as Weak<dyn Engine>;
    Registration::from_stored(key, weak, &stored, RecordLog::empty(n), vec![(0, false); n])
}

/// A progress listener of `reg` that counts its calls: the count, the listener's guard, and
/// the id of the greeting the fake engine was asked for.
pub(crate) fn counting_listener(
    engine: &FakeEngine,
    reg: &Arc<Registration>,
) -> (Arc<AtomicUsize>, super::ProgressListener, u64) {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let guard = reg
        .add_progress_listener(Arc::new(move |_: &Arc<Registration>| {
            c.fetch_add(1, Ordering::SeqCst);
        }))
        .unwrap();
    let Some(Asked::Greet(id)) = engine.asked().last().cloned() else {
        panic!("no greeting asked: {:?}", engine.asked());
    };
    (calls, guard, id)
}

impl Drop for FakeEngine {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
