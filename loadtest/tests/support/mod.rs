//! Helpers shared by the test binaries of this crate; each binary uses part of them.
#![allow(dead_code)]

pub mod server;
