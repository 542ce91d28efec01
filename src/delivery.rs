//! How far the delivery of one fetch's progress has come: the event machinery's state for
//! one registration.
//!
//! Only `events` changes it and decides what it means (coalescing, the final delivery); a
//! registration carries one so that asking for a progress callback costs one atomic swap per
//! stored chunk, with no lock and no channel send while a request is already on its way.

use std::sync::atomic::{AtomicBool, Ordering};

/// The delivery flags of one registration.
#[derive(Debug)]
pub(crate) struct DeliveryFlags {
    /// A progress request is on its way to the event thread and not yet taken.
    progress_asked: AtomicBool,
    /// The final progress (and the completion event) of this session was emitted.
    final_emitted: AtomicBool,
    /// The final progress callbacks have returned (THREAD dispatch; `wait` waits for it).
    final_returned: AtomicBool,
}

impl DeliveryFlags {
    /// The flags of a fetch found settled (`true`: it gets no final progress in this
    /// session) or running.
    pub(crate) fn new(settled: bool) -> DeliveryFlags {
        DeliveryFlags {
            progress_asked: AtomicBool::new(false),
            final_emitted: AtomicBool::new(false),
            final_returned: AtomicBool::new(settled),
        }
    }

    /// Asks for a progress callback: `true` if no request was on its way, and the caller
    /// sends one.
    pub(crate) fn ask_progress(&self) -> bool {
        !self.progress_asked.swap(true, Ordering::AcqRel)
    }

    /// The event thread took the request: the next change asks again.
    pub(crate) fn progress_taken(&self) {
        self.progress_asked.store(false, Ordering::Release);
    }

    /// Whether the final progress of this session was emitted.
    pub(crate) fn final_emitted(&self) -> bool {
        self.final_emitted.load(Ordering::Acquire)
    }

    /// The final progress of this session is being emitted.
    pub(crate) fn set_final_emitted(&self) {
        self.final_emitted.store(true, Ordering::Release);
    }

    /// Whether the final progress callbacks have returned.
    pub(crate) fn final_returned(&self) -> bool {
        self.final_returned.load(Ordering::Acquire)
    }

    /// The final progress callbacks have returned.
    pub(crate) fn set_final_returned(&self) {
        self.final_returned.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_request_is_on_its_way_until_it_is_taken() {
        let d = DeliveryFlags::new(false);
        assert!(d.ask_progress());
        assert!(!d.ask_progress());
        d.progress_taken();
        assert!(d.ask_progress());
    }

    #[test]
    fn a_fetch_found_settled_has_no_final_progress_to_wait_for() {
        assert!(DeliveryFlags::new(true).final_returned());
        let running = DeliveryFlags::new(false);
        assert!(!running.final_returned() && !running.final_emitted());
        running.set_final_emitted();
        running.set_final_returned();
        assert!(running.final_returned() && running.final_emitted());
    }
}
