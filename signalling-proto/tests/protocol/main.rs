//! protocol: one test binary for this layer; each module was once its own binary.

mod decode_errors;
mod docs_links;
mod golden_commands;
mod golden_server;
mod protocol_doc;
mod schema;
