//! The manager: owns a store, the workers and the event thread; `fetch`, `get`, `getIds`;
//! recovery at open; clean close. What its threads and registrations share, and the engine
//! they reach through the lower modules' traits, is in `shared`.
//!
//! About threads: [`Manager`] is `Send + Sync`; every method may be called from any thread at
//! the same time. Registrations keep only a weak link to it: after [`Manager::close`] their
//! getters still answer with the last values, and calls that need the manager fail with
//! [`Error::Closed`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::Mutex;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::events::{EventCallback, Events};
use crate::gate::{Gate, Lifecycle};
use crate::registration::{Engine, FailureReason, FetchResult, Registration};
use crate::request::{FetchOptions, Request};
use crate::scheduler::{self, Job, SchedulerHost};
use crate::store::{self, RecordLog, Store, StoredRequest, StoredState, FORMAT_VERSION};
use crate::syncer::{self, SyncJob};
use crate::validate;

mod shared;

pub(crate) use shared::Shared;

/// The background fetch manager of one store (the web's `BackgroundFetchManager`).
pub struct Manager {
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    sync_thread: Mutex<Option<JoinHandle<()>>>,
    delay_thread: Mutex<Option<JoinHandle<()>>>,
    event_thread: Mutex<Option<JoinHandle<()>>>,
}

impl Manager {
    /// Opens the store (creating its directory, mode 0700, but not missing parents: those are
    /// `InvalidArgument`; its path made absolute once, here), takes its lock, loads every registration,
    /// resumes unfinished ones and holds the completion events of settled, unreleased ones
    /// until an event callback is set.
    pub fn open(config: Config) -> Result<Manager> {
        if config.store_dir.as_os_str().is_empty() {
            return Err(Error::invalid("the store directory is empty"));
        }
        let store = Store::open(&config.store_dir)?;
        let agent = crate::net::build_agent(&config)?;
        let (events, event_thread) = Events::start(config.dispatch, config.progress_interval)?;
        let (jobs, rx) = scheduler::channel();
        let (sync_jobs, sync_rx) = syncer::channel();
        let workers = config.max_connections;
        let max_rate = config.max_download_rate;
        let used = store.usage();
        let shared = Arc::new(Shared {
            config,
            store,
            agent,
            events,
            registrations: Mutex::new(HashMap::new()),
            jobs,
            sync_jobs,
            used_bytes: AtomicU64::new(used),
            life: Lifecycle::default(),
            problems: Mutex::new(Vec::new()),
            listening: Mutex::new(Vec::new()),
            delays: scheduler::Delays::new(),
            slots: scheduler::Slots::default(),
            offline: AtomicBool::new(false),
            rate: crate::throttle::RateLimiter::new(max_rate),
        });
        let weak = Arc::downgrade(&shared);
        shared.events.on_death(Box::new(move || {
            if let Some(shared) = weak.upgrade() {
                shared.thread_died("event thread");
            }
        }));
        let manager = Manager {
            threads: Mutex::new(Vec::new()),
            sync_thread: Mutex::new(None),
            delay_thread: Mutex::new(None),
            event_thread: Mutex::new(Some(event_thread)),
            shared: shared.clone(),
        };
        let scheduling: Arc<dyn SchedulerHost> = shared.clone();
        let started = syncer::start(shared.clone(), sync_rx)
            .and_then(|t| {
                *manager.sync_thread.lock() = Some(t);
                scheduler::start_delays(&scheduling)
            })
            .and_then(|t| {
                *manager.delay_thread.lock() = Some(t);
                scheduler::start_workers(workers, &scheduling, rx)
            });
        match started {
            Ok(t) => *manager.threads.lock() = t,
            Err(e) => {
                manager.close();
                return Err(e);
            }
        }
        manager.recover();
        Ok(manager)
    }

    fn recover(&self) {
        let shared = &self.shared;
        let (loaded, problems) = shared.store.load_all();
        shared.problems.lock().extend(problems);
        let mut restored = Vec::new();
        for lf in loaded {
            let n = lf.state.requests.len();
            let mut log = shared.store.load_record_log(&lf.key, n);
            if lf.format < crate::store::FORMAT_VERSION {
                // The bodies' files of an older format, converted once (see the store).
                let converted = shared.store.convert_bodies(&lf.key, &mut log);
                let saved = converted.and_then(|_| shared.store.save_state(&lf.key, &lf.state));
                if let Err(e) = saved {
                    shared.report_problem(format!(
                        "fetch directory {} could not be converted to the current format ({e}); \
                         its complete bodies are confirmed again with the server",
                        lf.key
                    ));
                }
            }
            let sizes = shared
                .store
                .recover_bodies(&lf.key, &lf.state.requests, &mut log);
            let reg = Registration::from_stored(
                lf.key.clone(),
                Arc::downgrade(shared) as Weak<dyn Engine>,
                &lf.state,
                log,
                sizes,
            );
            reg.set_offline(false); // holds it if it was stored paused
            shared
                .registrations
                .lock()
                .insert(lf.state.id.clone(), reg.clone());
            restored.push(reg);
        }
        // Count what the fetches hold, now that orphans are gone: their request bodies and
        // stored response bytes (a split body's file is preallocated to its whole length, but
        // only the bytes its map claims are stored), what release gives back.
        let held: u64 = restored
            .iter()
            .map(|reg| {
                let s = reg.snapshot();
                s.downloaded + s.upload_total
            })
            .sum();
        shared.used_bytes.store(held, Ordering::Release);
        for reg in restored {
            let (result, unfinished) = reg.restored_status();
            if result != FetchResult::None {
                shared.events.hold(reg);
            } else if unfinished == 0 {
                // Every body was complete but the crash came before the fetch settled.
                reg.settle_recovered(&**shared);
            } else {
                shared.kick(&reg);
            }
        }
    }

    /// Starts a background fetch (the web's `fetch(id, requests, options)`). Returns once the
    /// registration is durably stored; the downloads run in the background.
    pub fn fetch(
        &self,
        id: &str,
        requests: &[Request],
        options: &FetchOptions,
    ) -> Result<Arc<Registration>> {
        let shared = &self.shared;
        shared.life.pass(Gate::Running)?;
        validate::check_id(id)?;
        if requests.is_empty() {
            return Err(Error::invalid("the request list is empty"));
        }
        options.check()?;
        let quota = shared.config.quota;
        if quota > 0 && options.download_total > quota {
            return Err(Error::QuotaExceeded(format!(
                "the download total {} is above the quota {quota}",
                options.download_total
            )));
        }
        let mut stored_requests = Vec::with_capacity(requests.len());
        let mut bodies = Vec::new();
        let mut upload_total: u64 = 0;
        for (i, r) in requests.iter().enumerate() {
            let url = validate::resolve_url(&r.url, shared.config.base_url.as_ref())
                .map_err(|e| Error::invalid(format!("request {i}: {}", e.message())))?;
            if let Some(b) = &r.body {
                bodies.push((i, b.as_slice()));
                upload_total += b.len() as u64;
            }
            stored_requests.push(Arc::new(StoredRequest {
                url: url.into(),
                method: r.method.clone(),
                headers: r.headers.clone(),
                body_len: r.body.as_ref().map(|b| b.len() as u64),
                integrity: r.integrity.clone(),
            }));
        }
        let key = store::key_for_id(id);
        let mut regs = shared.registrations.lock();
        // Checked again under the table's lock: close cancels every fetch it finds there.
        shared.life.pass(Gate::Running)?;
        if regs.contains_key(id) {
            return Err(Error::DuplicateId(
                "a fetch with this id exists and has not been released".into(),
            ));
        }
        if !shared.reserve_quota(upload_total) {
            return Err(Error::QuotaExceeded(
                "storing the request bodies would exceed the quota".into(),
            ));
        }
        let stored = StoredState {
            format: FORMAT_VERSION,
            id: id.to_string(),
            title: options.title.clone(),
            icons: options.icons.clone(),
            download_total: options.download_total,
            requests: stored_requests,
            result: FetchResult::None,
            failure_reason: FailureReason::None,
            outcomes: Vec::new(),
            paused: options.start_paused,
        };
        if let Err(e) = shared.store.create_fetch(&key, &stored, &bodies) {
            shared.release_quota(upload_total);
            return Err(e);
        }
        // A new fetch is a stored one with nothing downloaded yet: one way to build its state.
        let reg = Registration::from_stored(
            key,
            Arc::downgrade(shared) as Weak<dyn Engine>,
            &stored,
            RecordLog::default(),
            Vec::new(),
        );
        reg.set_offline(shared.is_offline());
        regs.insert(id.to_string(), reg.clone());
        drop(regs);
        shared.kick(&reg);
        Ok(reg)
    }

    /// The registration with this id, if it exists and was not released.
    /// An empty id is `InvalidArgument`, as in `fetch` (an id `fetch` would refuse for its
    /// length is simply not found).
    pub fn get(&self, id: &str) -> Result<Option<Arc<Registration>>> {
        self.shared.life.pass(Gate::Open)?;
        if id.is_empty() {
            return Err(Error::invalid("the id is empty"));
        }
        Ok(self.shared.registrations.lock().get(id).cloned())
    }

    /// The ids of every registration not yet released, sorted.
    pub fn get_ids(&self) -> Result<Vec<String>> {
        self.shared.life.pass(Gate::Open)?;
        let mut ids: Vec<String> = self.shared.registrations.lock().keys().cloned().collect();
        ids.sort();
        Ok(ids)
    }

    /// Sets the completion-event callback. Completion events of fetches that settled while no
    /// callback was set (including those restored at open) are delivered once it is set.
    pub fn set_event_callback(&self, cb: Option<EventCallback>) -> Result<()> {
        self.shared.life.pass(Gate::Open)?;
        self.shared.events.set_event_callback(cb);
        Ok(())
    }

    /// MANUAL dispatch: runs pending callbacks on this thread, waiting up to `timeout` for the
    /// first (`None` = forever); returns how many callbacks ran (an item that calls nothing
    /// when its turn comes is not counted, and the wait goes on). See [`crate::DispatchMode`].
    pub fn dispatch(&self, timeout: Option<Duration>) -> Result<u32> {
        self.shared.life.pass(Gate::Open)?;
        self.shared.events.dispatch(timeout)
    }

    /// The file descriptor that is readable while callbacks wait for `dispatch` (MANUAL mode).
    pub fn event_fd(&self) -> Option<std::os::fd::RawFd> {
        self.shared.events.fd()
    }

    /// Goes offline (`true`: running transfers stop now — GET keeps its bytes — nothing is
    /// tried, and neither the attempt counts nor the no-progress clocks advance) or back
    /// online (`false`: every waiting request is tried at once).
    pub fn set_offline(&self, offline: bool) -> Result<()> {
        let shared = &self.shared;
        shared.life.pass(Gate::Running)?;
        let regs: Vec<Arc<Registration>> = {
            let regs = shared.registrations.lock();
            if shared.offline.swap(offline, Ordering::AcqRel) == offline {
                return Ok(());
            }
            regs.values().cloned().collect()
        };
        for reg in &regs {
            reg.set_offline(offline);
            // Its records' state changed (offline, or back).
            shared.events.request_progress(reg);
        }
        if !offline {
            shared.delays.all_due_now();
            for reg in &regs {
                shared.kick(reg);
            }
        }
        Ok(())
    }

    /// Whether the manager is offline.
    pub fn offline(&self) -> bool {
        self.shared.is_offline()
    }

    /// Changes the bandwidth cap of the whole manager (bytes of response bodies per second;
    /// 0 = none); running transfers follow at once.
    pub fn set_max_download_rate(&self, bytes_per_s: u64) -> Result<()> {
        self.shared.life.pass(Gate::Running)?;
        self.shared.rate.set_rate(bytes_per_s);
        Ok(())
    }

    /// Makes the sync thread (`"sync"`) or the event thread (`"events"`) panic, to test that
    /// the manager fails its fetches visibly instead of hanging. Only with the `test-hooks`
    /// feature (the library's own tests).
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn crash_thread_for_tests(&self, which: &str) {
        match which {
            "sync" => {
                let _ = self.shared.sync_jobs.send(SyncJob::Crash);
            }
            "events" => self.shared.events.send(crate::events::Delivery::Crash),
            _ => {}
        }
    }

    /// Holds the sync thread (no body becomes durable, so no record completes) until the
    /// returned sender is dropped, to test what happens meanwhile. Only with the `test-hooks`
    /// feature (the library's own tests).
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn hold_sync_for_tests(&self) -> crossbeam_channel::Sender<()> {
        let (release, until) = crossbeam_channel::bounded(0);
        let _ = self.shared.sync_jobs.send(SyncJob::Hold(until));
        release
    }

    /// Problems met while loading the store (corrupt state files moved to `quarantine/`).
    pub fn problems(&self) -> Vec<String> {
        self.shared.problems.lock().clone()
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// Bytes the store holds (request bodies and responses), as the quota counts them.
    pub fn used_bytes(&self) -> u64 {
        self.shared.used_bytes.load(Ordering::Acquire)
    }

    /// Stops the workers promptly (interrupting transfers) and the event thread, and releases
    /// the store. Unfinished fetches resume at the next open. Idempotent.
    ///
    /// In order: no new fetch or callback starts and blocking calls return `Closed`; the
    /// transfers stop and complete bodies are made durable; a callback still running finishes
    /// with the store whole (a completion event is delivered before the store closes, or at the
    /// next open, never half); then every call returns `Closed`, the callbacks and their
    /// userdata are let go, and the store lock is released.
    pub fn close(&self) {
        let shared = &self.shared;
        let regs: Vec<Arc<Registration>> = {
            let regs = shared.registrations.lock();
            if !shared.life.begin_close() {
                return;
            }
            regs.values().cloned().collect()
        };
        shared.events.begin_close();
        for r in &regs {
            r.cancel_transfers();
            r.notify_all();
        }
        let threads = std::mem::take(&mut *self.threads.lock());
        for _ in 0..threads.len() {
            shared.send_job(Job::Stop);
        }
        for t in threads {
            let _ = t.join();
        }
        shared.delays.stop();
        if let Some(t) = self.delay_thread.lock().take() {
            let _ = t.join();
        }
        // Bodies already complete are made durable and marked so before the store is let go.
        let _ = shared.sync_jobs.send(SyncJob::Stop);
        if let Some(t) = self.sync_thread.lock().take() {
            let _ = t.join();
        }
        // A callback that started before close began finishes with the store whole.
        shared.events.wait_for_callbacks();
        shared.life.set_closed();
        for r in &regs {
            r.notify_all();
        }
        shared.events.clear_event_callback();
        let listening = std::mem::take(&mut *shared.listening.lock());
        for reg in listening.iter().filter_map(std::sync::Weak::upgrade) {
            reg.clear_progress_listeners();
        }
        shared.events.close();
        if let Some(t) = self.event_thread.lock().take() {
            if shared.events.on_event_thread() {
                drop(t); // close() from inside a callback: the thread ends on its own.
            } else {
                let _ = t.join();
            }
        }
        shared.registrations.lock().clear();
        shared.store.unlock();
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        self.close();
    }
}
