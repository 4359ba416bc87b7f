//! e2e: one test binary for this layer; each module was once its own binary.

#[path = "../support/mod.rs"]
mod support;

mod breakout;
mod cluster_report;
mod media;
mod smoke;
