//! Keeps panics inside the library's own threads and host callbacks.

use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs `f`; a panic is caught and reported on stderr instead of unwinding further.
/// Returns `None` if `f` panicked.
pub fn contain<T>(what: &str, f: impl FnOnce() -> T) -> Option<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => Some(v),
        Err(payload) => {
            eprintln!(
                "libbgfetch: panic in {what} contained: {}",
                message(&*payload)
            );
            None
        }
    }
}

/// The message a panic carried (its `&str` or `String` payload).
pub(crate) fn message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}
