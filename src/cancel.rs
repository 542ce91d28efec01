//! Cancellation of transfers: a token per registration that stops backoff sleeps at once and
//! shuts down the sockets its transfers are blocked on.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use ureq::unversioned::transport::ShutdownHandle;

static NEXT_TOKEN_ID: AtomicUsize = AtomicUsize::new(1);

/// A socket a transfer of some token is using: shut down only while that token still owns it
/// (a pooled connection moves from one fetch to another).
pub(crate) struct Conn {
    pub(crate) handle: Weak<dyn ShutdownHandle>,
    pub(crate) owner: Arc<AtomicUsize>,
}

/// Stops the transfers of one registration.
///
/// About threads: shared by the registration, its transfers on worker threads and the host
/// threads that abort or close; every method may be called from any thread.
pub struct CancelToken {
    id: usize,
    cancelled: AtomicBool,
    /// Transfers must stop for now (paused, or the manager is offline); cleared to go on.
    held: AtomicBool,
    conns: Mutex<Vec<Conn>>,
    sleep: Mutex<()>,
    wake: Condvar,
}

impl CancelToken {
    /// A token not cancelled yet.
    pub fn new() -> Arc<CancelToken> {
        Arc::new(CancelToken {
            id: NEXT_TOKEN_ID.fetch_add(1, Ordering::Relaxed),
            cancelled: AtomicBool::new(false),
            held: AtomicBool::new(false),
            conns: Mutex::new(Vec::new()),
            sleep: Mutex::new(()),
            wake: Condvar::new(),
        })
    }

    pub(crate) fn id(&self) -> usize {
        self.id
    }

    /// Whether the transfers must stop.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// Whether transfers must stop for now (paused or offline), or for good.
    pub fn is_held(&self) -> bool {
        self.held.load(Ordering::Acquire) || self.is_cancelled()
    }

    /// Holds (`true`: the running transfers stop now, as by [`CancelToken::cancel`], and no
    /// new connection is used) or lets go (`false`: transfers may run again).
    pub fn hold(&self, held: bool) {
        self.held.store(held, Ordering::Release);
        if held {
            self.stop_transfers();
        }
    }

    /// Stops every transfer for good: sleeping ones wake, blocked sockets are shut down.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
        self.stop_transfers();
    }

    fn stop_transfers(&self) {
        {
            let _g = self.sleep.lock();
            self.wake.notify_all();
        }
        let conns = std::mem::take(&mut *self.conns.lock());
        for c in conns {
            if c.owner.load(Ordering::Acquire) == self.id {
                if let Some(h) = c.handle.upgrade() {
                    h.shutdown();
                }
            }
        }
    }

    /// Sleeps for `d` unless held or cancelled first; returns false if so.
    pub fn sleep(&self, d: Duration) -> bool {
        let mut g = self.sleep.lock();
        if self.is_held() {
            return false;
        }
        let _ = self.wake.wait_for(&mut g, d);
        !self.is_held()
    }

    /// Registers a socket used by a transfer of this token. If the token is already cancelled
    /// the socket is shut down at once.
    pub(crate) fn register(&self, conn: Conn) {
        if self.is_held() {
            if let Some(h) = conn.handle.upgrade() {
                h.shutdown();
            }
            return;
        }
        let mut conns = self.conns.lock();
        conns.retain(|c| c.handle.strong_count() > 0 && c.owner.load(Ordering::Relaxed) == self.id);
        conns.push(conn);
    }
}
