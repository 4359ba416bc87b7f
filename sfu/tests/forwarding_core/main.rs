//! forwarding_core: one test binary for this layer; each module was once its own binary.

#[path = "../support/mod.rs"]
mod support;

mod bandwidth;
mod breakout;
mod fuzz_corpus;
mod is_sans_io;
mod keyframes;
mod layers;
mod malformed_rtp;
mod moderation;
mod prop_core;
mod prop_forwarder;
mod room;
