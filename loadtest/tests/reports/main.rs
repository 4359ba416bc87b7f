//! reports: one test binary for this layer; each module was once its own binary.

#[path = "../support/mod.rs"]
mod support;

mod node_breakdown;
mod report_json;
mod track_stats;
mod vp8_descriptor;
