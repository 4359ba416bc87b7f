//! server: one test binary for this layer; each module was once its own binary.

mod admin_cli;
mod api;
mod api_bench;
mod api_tokens;
mod assistant_role;
mod bind_advertise;
mod cluster_deploy;
mod config_file;
mod deploy_files;
mod http;
mod ice_tcp;
mod m_line_recycling;
mod media;
mod metrics_labels;
mod metrics_promtool;
mod origins;
mod reload_resume;
mod roles;
#[path = "../support/mod.rs"]
mod support;
mod tls;
mod turn;
mod vp8_rewrite;
mod web;
mod webhooks;
mod ws;
