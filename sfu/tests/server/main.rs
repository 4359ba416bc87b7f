//! server: one test binary for this layer; each module was once its own binary.

mod admin_cli;
mod api;
mod api_bench;
mod bind_advertise;
mod cluster_deploy;
mod config_file;
mod deploy_files;
mod http;
mod ice_tcp;
mod media;
mod metrics_promtool;
mod origins;
mod roles;
#[path = "../support/mod.rs"]
mod support;
mod tls;
mod turn;
mod web;
mod webhooks;
mod ws;
