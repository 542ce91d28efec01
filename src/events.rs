//! The event thread: turns state changes into host callbacks.
//!
//! Progress is coalesced to at most one callback per progress interval per registration; the
//! final state is always reported, and a settled fetch's completion event follows its final
//! progress callback. Both come once the fetch settled and its state is stored (every record
//! ended): the first progress callback that shows a result is the final one. In
//! [`DispatchMode::Thread`] the event thread runs the callbacks; in [`DispatchMode::Manual`] it
//! only queues them, and the host runs them in [`Events::dispatch`] on its own thread. A pipe's read end is readable exactly while
//! callbacks are queued.
//!
//! No library lock is held while host code runs, except the callback gate: a reentrant lock
//! that only the callback setters take, so that a setter returns only once the callback it
//! replaced has finished running.

use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use parking_lot::{Condvar, Mutex, ReentrantMutex};

use crate::config::DispatchMode;
use crate::error::{Error, Result};
use crate::registration::{EventType, Registration};

/// A completion-event callback.
pub type EventCallback = Arc<dyn Fn(EventType, &Arc<Registration>) + Send + Sync>;

/// What the event thread is told.
pub(crate) enum Delivery {
    /// Counters changed.
    Progress(Arc<Registration>),
    /// The fetch settled: final progress, then its completion event.
    Settled(Arc<Registration>),
    /// Deliver the completion event of an already settled fetch (redelivery).
    Completion(Arc<Registration>),
    /// A progress listener was just set: one call of it alone, with the current values.
    Greet(Arc<Registration>, u64),
    /// Stop the thread.
    Shutdown,
    /// Panic (a test of the supervision: `Manager::crash_thread_for_tests`).
    #[cfg(feature = "test-hooks")]
    Crash,
}

/// A callback ready to run.
enum Ready {
    Progress(Arc<Registration>),
    Completion(Arc<Registration>),
    Greet(Arc<Registration>, u64),
}

struct ManualQueue {
    items: VecDeque<Ready>,
    closed: bool,
}

/// The event machinery of one manager.
pub(crate) struct Events {
    tx: Sender<Delivery>,
    mode: DispatchMode,
    gate: ReentrantMutex<()>,
    event_cb: Mutex<Option<EventCallback>>,
    /// Settled fetches whose completion event waits for an event callback to be set.
    held: Mutex<Vec<Arc<Registration>>>,
    manual: Mutex<ManualQueue>,
    manual_cv: Condvar,
    pipe: Option<(std::io::PipeReader, std::io::PipeWriter)>,
    thread_id: Mutex<Option<ThreadId>>,
    /// The manager is closing: no callback starts any more.
    closing: AtomicBool,
    /// Called if the event thread dies of a panic (set by the manager).
    on_death: Mutex<Option<Box<dyn Fn() + Send + Sync>>>,
    died: AtomicBool,
}

impl Events {
    /// Creates the machinery and starts the event thread.
    pub(crate) fn start(
        mode: DispatchMode,
        interval: Duration,
    ) -> Result<(Arc<Events>, JoinHandle<()>)> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let pipe = match mode {
            DispatchMode::Manual => {
                Some(std::io::pipe().map_err(|e| Error::io("creating the event pipe", e))?)
            }
            DispatchMode::Thread => None,
        };
        let events = Arc::new(Events {
            tx,
            mode,
            gate: ReentrantMutex::new(()),
            event_cb: Mutex::new(None),
            held: Mutex::new(Vec::new()),
            manual: Mutex::new(ManualQueue {
                items: VecDeque::new(),
                closed: false,
            }),
            manual_cv: Condvar::new(),
            pipe,
            thread_id: Mutex::new(None),
            closing: AtomicBool::new(false),
            on_death: Mutex::new(None),
            died: AtomicBool::new(false),
        });
        let ev = events.clone();
        let handle = std::thread::Builder::new()
            .name("bgfetch-events".into())
            .spawn(move || {
                *ev.thread_id.lock() = Some(std::thread::current().id());
                if crate::panic::contain("event thread", || event_loop(&ev, rx, interval)).is_none()
                {
                    ev.died.store(true, Ordering::Release);
                    if let Some(f) = &*ev.on_death.lock() {
                        f();
                    }
                }
            })
            .map_err(|e| Error::io("starting the event thread", e))?;
        Ok((events, handle))
    }

    pub(crate) fn send(&self, d: Delivery) {
        let _ = self.tx.send(d);
    }

    /// Asks for a progress callback of `reg`: at most one request per registration is on
    /// its way at a time (the event thread coalesces further changes into it).
    pub(crate) fn request_progress(&self, reg: &Arc<Registration>) {
        if reg.delivery().ask_progress() {
            self.send(Delivery::Progress(reg.clone()));
        }
    }

    /// Whether the current thread is the event thread.
    pub(crate) fn on_event_thread(&self) -> bool {
        *self.thread_id.lock() == Some(std::thread::current().id())
    }

    /// Returns once no callback runs on another thread (a callback on this thread may).
    pub(crate) fn wait_for_callbacks(&self) {
        drop(self.gate.lock());
    }

    /// What to do if the event thread dies of a panic (runs at once if it already has).
    pub(crate) fn on_death(&self, f: Box<dyn Fn() + Send + Sync>) {
        let mut slot = self.on_death.lock();
        if self.died.load(Ordering::Acquire) {
            f();
        }
        *slot = Some(f);
    }

    /// Whether callbacks run on the manager's event thread.
    pub(crate) fn threaded(&self) -> bool {
        self.mode == DispatchMode::Thread
    }

    /// Closing begins: no callback starts from now on (a completion event not delivered yet
    /// is delivered again at the next open, as for every unreleased fetch). A callback that
    /// is running goes on and sees the store whole: the manager waits for it
    /// ([`Events::wait_for_callbacks`]) before it lets the store go.
    pub(crate) fn begin_close(&self) {
        self.closing.store(true, Ordering::Release);
    }

    /// Sets the completion-event callback; completion events held while none was set are
    /// delivered next. The callback it replaces is dropped (its finalizer runs) once it is
    /// not running, on this thread, unless this is called from inside it.
    pub(crate) fn set_event_callback(&self, cb: Option<EventCallback>) {
        let has = cb.is_some();
        let old = std::mem::replace(&mut *self.event_cb.lock(), cb);
        self.wait_for_callbacks();
        drop(old);
        if has {
            let held = std::mem::take(&mut *self.held.lock());
            for reg in held {
                self.send(Delivery::Completion(reg));
            }
        }
    }

    /// Holds a settled fetch's completion event until a callback is set. Its final progress
    /// is over: a fetch found settled at open gets none in this session, so nobody waits for
    /// it.
    pub(crate) fn hold(&self, reg: Arc<Registration>) {
        final_returned(&reg);
        self.held.lock().push(reg);
    }

    /// The read end of the event pipe (MANUAL mode only).
    pub(crate) fn fd(&self) -> Option<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        self.pipe.as_ref().map(|(r, _)| r.as_raw_fd())
    }

    fn emit(&self, ready: Ready) {
        match self.mode {
            DispatchMode::Thread => {
                self.run(ready);
            }
            DispatchMode::Manual => {
                let mut q = self.manual.lock();
                if q.closed {
                    return;
                }
                if q.items.is_empty() {
                    if let Some((_, w)) = &self.pipe {
                        let _ = (&*w).write_all(&[1]);
                    }
                }
                q.items.push_back(ready);
                self.manual_cv.notify_all();
            }
        }
    }

    /// Runs a ready callback on the current thread; returns how many callbacks ran. None for
    /// a greeting whose listener a regular call reached first, a progress of a fetch without
    /// listeners, a completion event held until a callback is set, or anything once closing
    /// began.
    fn run(&self, ready: Ready) -> u32 {
        let _gate = self.gate.lock();
        if self.closing.load(Ordering::Acquire) {
            return 0;
        }
        match ready {
            Ready::Progress(reg) => reg.run_progress_listeners(None),
            Ready::Greet(reg, id) => reg.run_progress_listeners(Some(id)),
            Ready::Completion(reg) => {
                let Some(kind) = reg.event_type() else {
                    return 0;
                };
                if !reg.snapshot().records_available {
                    return 0;
                }
                let cb = self.event_cb.lock().clone();
                match cb {
                    Some(cb) => {
                        // The event is active while its callback runs (updateUI once).
                        reg.begin_event();
                        crate::panic::contain("event callback", || cb(kind, &reg));
                        reg.end_event();
                        1
                    }
                    None => {
                        self.hold(reg);
                        0
                    }
                }
            }
        }
    }

    /// Drops the completion-event callback (at close; its finalizer runs).
    pub(crate) fn clear_event_callback(&self) {
        let old = self.event_cb.lock().take();
        self.wait_for_callbacks();
        drop(old);
    }

    /// MANUAL mode: runs the queued callbacks on this thread, waiting up to `timeout` for the
    /// first (`None` = forever). Returns how many ran. A queued item that runs no callback
    /// (see [`Events::run`]) does not count: dispatch waits on for one while its time lasts.
    pub(crate) fn dispatch(&self, timeout: Option<Duration>) -> Result<u32> {
        if self.mode != DispatchMode::Manual {
            return Err(Error::InvalidState(
                "dispatch is for managers opened with BGFETCH_DISPATCH_MANUAL".into(),
            ));
        }
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let Some(items) = self.take_queued(deadline)? else {
                return Ok(0);
            };
            let ran: u32 = items.into_iter().map(|ready| self.run(ready)).sum();
            if ran > 0 || deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(ran);
            }
        }
    }

    /// MANUAL mode: takes every queued item, waiting until `deadline` (`None`: forever) for
    /// the first; `None` if none came in time.
    fn take_queued(&self, deadline: Option<Instant>) -> Result<Option<Vec<Ready>>> {
        let mut q = self.manual.lock();
        while q.items.is_empty() {
            if q.closed {
                return Err(Error::Closed("the manager was closed".into()));
            }
            match deadline {
                None => {
                    self.manual_cv.wait(&mut q);
                }
                Some(d) => {
                    let timed_out =
                        Instant::now() >= d || self.manual_cv.wait_until(&mut q, d).timed_out();
                    if timed_out && q.items.is_empty() {
                        return Ok(None);
                    }
                }
            }
        }
        if let Some((r, _)) = &self.pipe {
            let mut byte = [0u8; 1];
            let _ = (&*r).read(&mut byte);
        }
        Ok(Some(q.items.drain(..).collect()))
    }

    /// Stops queueing (MANUAL) and wakes any dispatcher.
    pub(crate) fn close(&self) {
        let mut q = self.manual.lock();
        q.closed = true;
        if !q.items.is_empty() {
            if let Some((r, _)) = &self.pipe {
                let mut byte = [0u8; 1];
                let _ = (&*r).read(&mut byte);
            }
        }
        q.items.clear();
        self.manual_cv.notify_all();
        drop(q);
        self.held.lock().clear();
        self.send(Delivery::Shutdown);
    }
}

/// Whether the final progress and the completion event of `reg` are due (`Some(true)`: it
/// settled and its state is stored), only progress (`Some(false)`: it runs), or nothing
/// (`None`): it has a result, but a body that had all its bytes still completes or its state
/// is being written, and the first callback that shows the result is the final one, which
/// comes with `Settled`, once every record ended.
fn final_due(reg: &Registration) -> Option<bool> {
    match reg.result_stored() {
        Some(false) => None,
        stored => Some(stored.is_some()),
    }
}

/// The final progress callbacks of `reg` have returned (or it gets none in this session):
/// `wait` may return.
fn final_returned(reg: &Registration) {
    reg.delivery().set_final_returned();
    reg.wake_settled_waiters();
}

struct Timer {
    reg: Arc<Registration>,
    last: Option<Instant>,
    due: Option<Instant>,
    settled: bool,
}

impl Timer {
    fn new(reg: Arc<Registration>) -> Timer {
        Timer {
            reg,
            last: None,
            due: None,
            settled: false,
        }
    }
}

/// The progress timers of the registrations that changed: when each one's next callback is
/// due (at most one per interval; the final one at once).
struct Timers {
    interval: Duration,
    by_reg: HashMap<usize, Timer>,
}

impl Timers {
    fn of(&mut self, reg: &Arc<Registration>) -> &mut Timer {
        let key = Arc::as_ptr(reg) as usize;
        self.by_reg
            .entry(key)
            .or_insert_with(|| Timer::new(reg.clone()))
    }

    /// When the next callback is due.
    fn next_due(&self) -> Option<Instant> {
        self.by_reg.values().filter_map(|t| t.due).min()
    }

    /// `reg` changed at `now` (or settled): its callback is due an interval after the last,
    /// or at once for the final one.
    fn changed(&mut self, reg: &Arc<Registration>, now: Instant) {
        if reg.delivery().final_emitted() {
            return;
        }
        let Some(settled) = final_due(reg) else {
            return;
        };
        let interval = self.interval;
        let t = self.of(reg);
        t.settled |= settled;
        // The final progress is not held back by the interval: `wait` returns after it, so
        // a settled fetch's comes at once.
        let earliest = match t.last {
            Some(l) if !t.settled => (l + interval).max(now),
            _ => now,
        };
        t.due = Some(t.due.map_or(earliest, |d| d.min(earliest)));
    }

    /// A listener of `reg` was set at `now`: whether it gets its first call now. Not when the
    /// fetch settled and its final progress is still to come (that call reaches the new
    /// listener too, and it sees the final state once). The greeting is the registration's
    /// call of the interval: its next progress comes an interval later.
    fn greet(&mut self, reg: &Arc<Registration>, now: Instant) -> bool {
        if reg.result_stored().is_some() && !reg.delivery().final_returned() {
            return false;
        }
        let interval = self.interval;
        let t = self.of(reg);
        t.last = Some(now);
        if !t.settled {
            t.due = t.due.map(|d| d.max(now + interval));
        }
        true
    }

    /// Emits the callbacks due at `now`: progress, and after a final one the completion event.
    fn run_due(&mut self, events: &Events, now: Instant) {
        for t in self.by_reg.values_mut() {
            if t.due.is_none_or(|d| d > now) {
                continue;
            }
            t.due = None;
            t.last = Some(now);
            t.reg.delivery().progress_taken();
            let Some(stored) = final_due(&t.reg) else {
                continue;
            };
            t.settled |= stored;
            if t.settled {
                t.reg.delivery().set_final_emitted();
            }
            events.emit(Ready::Progress(t.reg.clone()));
            if t.settled {
                // THREAD mode: the final progress callback has returned (`wait` waits for it).
                final_returned(&t.reg);
                events.emit(Ready::Completion(t.reg.clone()));
            }
        }
        // Forget the settled ones, and idle timers whose interval has passed.
        let interval = self.interval;
        self.by_reg.retain(|_, t| {
            !(t.settled && t.due.is_none())
                && (t.due.is_some() || t.last.is_some_and(|l| now - l < interval))
        });
    }
}

fn event_loop(events: &Events, rx: Receiver<Delivery>, interval: Duration) {
    let mut timers = Timers {
        interval,
        by_reg: HashMap::new(),
    };
    loop {
        let now = Instant::now();
        let msg = match timers.next_due() {
            Some(d) if d <= now => None,
            Some(d) => match rx.recv_timeout(d - now) {
                Ok(m) => Some(m),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            },
            None => match rx.recv() {
                Ok(m) => Some(m),
                Err(_) => return,
            },
        };
        if let Some(msg) = msg {
            let now = Instant::now();
            match msg {
                Delivery::Shutdown => return,
                #[cfg(feature = "test-hooks")]
                Delivery::Crash => panic!("a panic injected by a test"),
                Delivery::Completion(reg) => events.emit(Ready::Completion(reg)),
                Delivery::Greet(reg, id) => {
                    if timers.greet(&reg, now) {
                        events.emit(Ready::Greet(reg, id));
                    }
                }
                Delivery::Progress(reg) | Delivery::Settled(reg) => timers.changed(&reg, now),
            }
            // Take every message already waiting before running callbacks.
            if !rx.is_empty() {
                continue;
            }
        }
        timers.run_due(events, Instant::now());
    }
}

#[cfg(test)]
mod tests {
    //! The event machinery without a manager: a fake engine's registration, MANUAL dispatch
    //! on the test's thread (so that every callback runs here, in order, with no sleep).

    use super::*;
    use crate::outcome::Outcome;
    use crate::registration::fake::{counting_listener, fetch, FakeEngine};
    use crate::registration::Registration;
    use crate::web_enum::FetchResult;
    use std::sync::atomic::AtomicUsize;

    /// Runs the queued callbacks until `done` holds (5 s at most: a hang fails, it never
    /// passes by chance).
    fn dispatch_until(events: &Events, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !done() {
            assert!(Instant::now() < deadline, "the callbacks never came");
            events.dispatch(Some(Duration::from_millis(50))).unwrap();
        }
    }

    fn started(interval: Duration) -> (Arc<Events>, JoinHandle<()>) {
        Events::start(DispatchMode::Manual, interval).unwrap()
    }

    fn stop(events: Arc<Events>, thread: JoinHandle<()>) {
        events.close();
        thread.join().unwrap();
    }

    #[test]
    fn progress_is_coalesced_and_the_final_state_comes_once_before_the_event() {
        let engine = FakeEngine::new("events", 0);
        let reg = fetch(&engine, 1);
        let (events, thread) = started(Duration::from_secs(3600));
        let seen: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let _listener = reg
            .add_progress_listener(Arc::new(move |r: &Arc<Registration>| {
                s.lock().push(format!("progress {:?}", r.snapshot().result));
            }))
            .unwrap();
        let s = seen.clone();
        events.set_event_callback(Some(Arc::new(move |kind, _: &Arc<Registration>| {
            s.lock().push(format!("event {kind:?}"));
        })));
        // Three changes within one (long) interval: one call.
        for _ in 0..3 {
            events.request_progress(&reg);
        }
        dispatch_until(&events, || !seen.lock().is_empty());
        events.request_progress(&reg);
        assert_eq!(
            events.dispatch(Some(Duration::from_millis(100))).unwrap(),
            0
        );
        assert_eq!(seen.lock().len(), 1, "{:?}", seen.lock());
        // The fetch settles: the final progress comes at once, not an interval later, then
        // the completion event; nothing after.
        let job = reg.take_job(&*engine).unwrap();
        job.finish(Outcome::Failed("gone".into()));
        job.transfer_ended();
        events.send(Delivery::Settled(reg.clone()));
        dispatch_until(&events, || seen.lock().len() == 3);
        events.request_progress(&reg);
        assert_eq!(
            events.dispatch(Some(Duration::from_millis(100))).unwrap(),
            0
        );
        assert_eq!(
            *seen.lock(),
            [
                "progress None",
                &format!("progress {:?}", FetchResult::Failure),
                "event Fail"
            ]
        );
        stop(events, thread);
    }

    #[test]
    fn dispatch_counts_only_callbacks_that_ran() {
        let engine = FakeEngine::new("count", 0);
        let reg = fetch(&engine, 1);
        let (events, thread) = started(Duration::from_secs(3600));
        let (calls, _listener, id) = counting_listener(&engine, &reg);
        // A regular call reaches the new listener before its greeting is delivered.
        events.request_progress(&reg);
        dispatch_until(&events, || calls.load(Ordering::SeqCst) == 1);
        // The greeting then runs nothing: it is not counted, and dispatch waits on for a
        // callback until its timeout.
        events.send(Delivery::Greet(reg.clone(), id));
        assert_eq!(
            events.dispatch(Some(Duration::from_millis(200))).unwrap(),
            0
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        stop(events, thread);
    }

    #[test]
    fn a_listener_set_late_is_greeted_with_the_final_state_once() {
        let engine = FakeEngine::new("greet", 0);
        let reg = fetch(&engine, 1);
        let (events, thread) = started(Duration::from_millis(10));
        let job = reg.take_job(&*engine).unwrap();
        job.finish(Outcome::Failed("gone".into()));
        job.transfer_ended();
        events.send(Delivery::Settled(reg.clone()));
        dispatch_until(&events, || reg.delivery().final_returned());
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let listener = reg
            .add_progress_listener(Arc::new(move |r: &Arc<Registration>| {
                assert_eq!(r.snapshot().result, FetchResult::Failure);
                c.fetch_add(1, Ordering::SeqCst);
            }))
            .unwrap();
        // The fake engine recorded the greeting; the event thread delivers it.
        let Some(crate::registration::fake::Asked::Greet(id)) = engine.asked().last().cloned()
        else {
            panic!("no greeting: {:?}", engine.asked());
        };
        events.send(Delivery::Greet(reg.clone(), id));
        dispatch_until(&events, || calls.load(Ordering::SeqCst) == 1);
        events.request_progress(&reg);
        assert_eq!(
            events.dispatch(Some(Duration::from_millis(100))).unwrap(),
            0
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1, "once");
        drop(listener);
        stop(events, thread);
    }
}
