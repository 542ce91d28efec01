//! libbgfetch: the web's Background Fetch API as a native library.
//!
//! A host hands a [`Manager`] a named group of requests ([`Manager::fetch`]); the manager
//! downloads (and uploads) them on its worker threads, stores every response durably in its
//! store directory, reports progress through callbacks, survives a restart of the host, and
//! lets the host read the results as records ([`Registration::match_all`]).
//!
//! The core is safe Rust; the C ABI lives in `ffi`, the only module allowed `unsafe`.
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod cancel;
mod config;
mod delivery;
mod error;
mod events;
mod fetch_state;
mod gate;
mod head;
mod integrity;
mod manager;
mod net;
mod outcome;
mod panic;
mod record;
mod registration;
mod request;
mod resume;
pub(crate) mod retry;
mod scheduler;
mod store;
mod syncer;
mod throttle;
mod transfer;
mod util;
mod validate;
mod web_enum;

#[allow(unsafe_code)]
pub mod ffi;

pub use config::{Config, DispatchMode, ProxySetting};
pub use error::{Error, Result};
pub use events::EventCallback;
pub use integrity::Integrity;
pub use manager::Manager;
pub use record::{QueryOptions, RecordRequest};
pub use registration::{
    EventType, ExpectedTotal, FailureReason, FetchResult, ProgressCallback, ProgressListener,
    Record, RecordState, RecordStatus, Registration, Response, Snapshot,
};
pub use request::{FetchOptions, Icon, Request};
pub use retry::RetryPolicy;
pub use validate::MAX_ID_LEN;

/// Entry points for fuzzing and property tests of the parsers (not a stable API).
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::integrity::Integrity;
    pub use crate::resume::parse_content_range;
    pub use crate::store::{parse_head_log, parse_state, StoredRequest, FORMAT_VERSION};
    pub use crate::validate::{check_id, normalize_header, normalize_method, resolve_url};
}

#[cfg(test)]
mod send_sync {
    fn assert_send_sync<T: Send + Sync>() {}
    #[test]
    fn shared_types_are_send_and_sync() {
        assert_send_sync::<crate::Manager>();
        assert_send_sync::<crate::Registration>();
    }
}
