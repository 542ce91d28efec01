//! libbgfetch: the web's Background Fetch API as a native library.
//!
//! A host hands a [`Manager`] a named group of requests ([`Manager::fetch`]); the manager
//! downloads (and uploads) them on its worker threads, stores every response durably in its
//! store directory, reports progress through callbacks, survives a restart of the host, and
//! lets the host read the results as records ([`Registration::match_all`]).
//!
//! ```
//! # use std::io::{Read, Write};
//! # // A one-file server on 127.0.0.1, for the example.
//! # let server = std::net::TcpListener::bind("127.0.0.1:0")?;
//! # let base = format!("http://{}/", server.local_addr()?);
//! # std::thread::spawn(move || {
//! #     for conn in server.incoming() {
//! #         let mut conn = conn.unwrap();
//! #         let _ = conn.read(&mut [0u8; 4096]);
//! #         let _ = conn.write_all(
//! #             b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
//! #         );
//! #     }
//! # });
//! # let store = std::env::temp_dir().join(format!("bgfetch-doc-{}", std::process::id()));
//! # let _ = std::fs::remove_dir_all(&store);
//! use bgfetch::{Config, FetchOptions, Manager, QueryOptions, RecordState, Request};
//! use std::time::Duration;
//!
//! let mut config = Config::new(&store);
//! config.set_base_url(&base)?;
//! let manager = Manager::open(config)?;
//! let episode = Request::new("/ep-5.mp3");
//! let reg = manager.fetch("episode-5", &[episode.clone()], &FetchOptions::default())?;
//! // The download runs in the background; a host may watch it (`add_progress_listener`,
//! // `state()`, `last_error()`) or wait for its result.
//! reg.wait(Some(Duration::from_secs(30)))?;
//! assert_eq!(reg.state(), RecordState::Done);
//!
//! let record = reg.match_request(&episode, QueryOptions::default())?.expect("matched");
//! let response = record.response_ready(None)?;
//! assert_eq!(response.status(), 200);
//! assert_eq!(response.read_to_end(None)?, b"hello");
//! reg.release()?; // the host has what it needs: the stored body goes
//! manager.close();
//! # std::fs::remove_dir_all(&store)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
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
mod segments;
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
