//! cluster: several `sfu` processes on one real `redis-server` (issue 17). Each test starts
//! its own Redis on a free 127.0.0.1 port, in its own temp dir, and its own nodes.

mod api_placement;
mod drain;
mod fencing;
mod harness;
mod join_latency;
mod node_death;
mod placement;
mod redis_outage;
#[path = "../support/mod.rs"]
mod support;
