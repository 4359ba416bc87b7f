//! impairment: one test binary for this layer; each module was once its own binary.

#[path = "../support/mod.rs"]
mod support;

mod goals;
mod instrument;
