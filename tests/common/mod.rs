//! Shared helpers for integration tests: `mod common; use common::*;`
#![allow(dead_code, unused_imports)]

pub mod ffi_runner;
pub mod server;

pub use server::*;
