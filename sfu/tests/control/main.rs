//! control: one test binary for this layer; each module was once its own binary.

#[path = "../support/mod.rs"]
mod support;

mod admission;
mod assistant;
mod breakout;
mod breakout_edges;
mod breakout_media;
mod captions;
mod chat;
mod moderation;
mod roles;
mod routing;
