//! Helpers shared by the test binaries of this crate; each binary uses part of them.
#![allow(dead_code)]

pub mod api;
pub mod command_samples;
pub mod common;
pub mod control;
pub mod media_session;
pub mod peer;
pub mod ws;
