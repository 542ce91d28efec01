//! Shared helpers for integration tests: `mod common; use common::*;`
#![allow(dead_code, unused_imports)]

pub mod connect_proxy;
pub mod ffi_runner;
pub mod fixtures;
pub mod proxy;
pub mod rogue;
pub mod server;
pub mod socks_proxy;
pub mod tls;
pub mod tunnel;

pub use connect_proxy::*;
pub use fixtures::*;
pub use proxy::*;
pub use rogue::*;
pub use server::*;
pub use socks_proxy::*;
pub use tls::*;
pub use tunnel::TunnelProxy;
