//! A connector whose connections a transfer's [`CancelToken`] can shut down: every
//! connection, new or pooled, registers its socket with the token of the exchange using it;
//! and the transport's reports to the transfer (a pooled connection, a reset, surplus bytes, the
//! stall deadline).

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Instant;

use parking_lot::Mutex;
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, NextTimeout, ShutdownHandle, Transport,
};

use crate::cancel::Conn;

use super::{details_with, CONNECTED, CURRENT, CUT, STALL_DEADLINE, SURPLUS};

pub(super) type RegisterShutdown =
    dyn Fn(Weak<dyn ShutdownHandle>) -> std::result::Result<(), ureq::Error> + Send + Sync;

#[derive(Debug)]
pub(super) struct CancellableConnector<C>(pub(super) C);

impl<C: Connector<()>> Connector<()> for CancellableConnector<C> {
    type Out = CancellableTransport;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<()>,
    ) -> std::result::Result<Option<Self::Out>, ureq::Error> {
        let captured: Arc<Mutex<Option<Weak<dyn ShutdownHandle>>>> = Arc::new(Mutex::new(None));
        let outer = details.register_shutdown.clone();
        let slot = captured.clone();
        let register: Arc<RegisterShutdown> = Arc::new(move |h: Weak<dyn ShutdownHandle>| {
            let mut s = slot.lock();
            if s.is_none() {
                *s = Some(h.clone());
            }
            outer(h)
        });
        let inner_details = details_with(details, details.config, register);
        let Some(inner) = self.0.connect(&inner_details, chained)? else {
            return Ok(None);
        };
        let inner = inner.boxed();
        let handle = captured.lock().take();
        CONNECTED.with(|c| c.set(true));
        let mut t = CancellableTransport {
            inner,
            handle,
            owner: Arc::new(AtomicUsize::new(0)),
        };
        t.claim()?;
        Ok(Some(t))
    }
}

/// A transport that registers its socket with the current thread's cancel token.
pub(super) struct CancellableTransport {
    inner: Box<dyn Transport>,
    handle: Option<Weak<dyn ShutdownHandle>>,
    owner: Arc<AtomicUsize>,
}

impl std::fmt::Debug for CancellableTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CancellableTransport")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl CancellableTransport {
    /// Makes the current token the owner of this socket; fails if that token is cancelled.
    fn claim(&mut self) -> std::result::Result<(), ureq::Error> {
        let Some(token) = CURRENT.with(|c| c.borrow().clone()) else {
            return Ok(());
        };
        if token.is_held() {
            return Err(ureq::Error::Io(std::io::Error::new(
                std::io::ErrorKind::Interrupted,
                "transfer cancelled",
            )));
        }
        if self.owner.swap(token.id(), Ordering::AcqRel) != token.id() {
            if let Some(h) = &self.handle {
                token.register(Conn {
                    handle: h.clone(),
                    owner: self.owner.clone(),
                });
            }
        }
        Ok(())
    }
}

/// ureq stops reading a body at its Content-Length and drops the connection if more bytes
/// followed; those bytes mean the framing was wrong, which [`take_surplus`] reports.
impl Drop for CancellableTransport {
    fn drop(&mut self) {
        if !self.inner.buffers().input().is_empty() {
            SURPLUS.with(|s| s.set(true));
        }
    }
}

impl Transport for CancellableTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(
        &mut self,
        amount: usize,
        timeout: NextTimeout,
    ) -> std::result::Result<(), ureq::Error> {
        self.claim()?;
        self.inner.transmit_output(amount, timeout)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> std::result::Result<bool, ureq::Error> {
        self.claim()?;
        if STALL_DEADLINE
            .with(Cell::get)
            .is_some_and(|d| Instant::now() >= d)
        {
            return Err(ureq::Error::Timeout(ureq::Timeout::RecvBody));
        }
        let got = self.inner.await_input(timeout);
        if let Err(ureq::Error::Io(e)) = &got {
            if matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
            ) {
                CUT.with(|c| c.set(true));
            }
        }
        got
    }

    fn is_open(&mut self) -> bool {
        self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}
