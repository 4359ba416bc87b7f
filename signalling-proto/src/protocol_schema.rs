//! A JSON Schema (draft 2020-12) of every frame of the protocol, generated from this crate's
//! types, so clients in other languages can check what they send and receive against the same
//! definitions the server decodes with. `schema/protocol.schema.json` beside the crate is its
//! output; a test keeps the file current (`UPDATE_SCHEMA=1 cargo test -p signalling-proto
//! --test protocol` rewrites it).
//!
//! The schema describes shapes: field names, JSON types, enum values, required fields and
//! unknown fields refused. Ranges and rules that need room state (PROTOCOL.md §2.1) are not in
//! it.

use crate::{CommandName, ErrorBody, EventName};
use schemars::generate::SchemaSettings;
use serde_json::{json, Map, Value};

/// The schema of every client and server frame, as a JSON value.
///
/// * `$defs/ClientFrame`: one command envelope per command, `name` fixing the `args` shape;
/// * `$defs/ServerEvent`: one event envelope per event, `name` fixing the `data` shape;
/// * `$defs/Response`: a response, `ok: true` with a result object or `ok: false` with an error;
///   each command's result shape is `$defs/result.<command>` (a response does not repeat the
///   command name, so the client picks it by `reqId`);
/// * the document itself accepts any of the three.
pub fn protocol_schema() -> Value {
    let mut generator = SchemaSettings::draft2020_12().into_generator();
    let mut commands = Vec::new();
    let mut results = Map::new();
    for &name in CommandName::ALL {
        let (args, result) = name.schemas(&mut generator);
        commands.push(json!({
            "title": name.as_str(),
            "type": "object",
            "properties": {
                "type": {"const": "command"},
                "name": {"const": name.as_str()},
                "reqId": {"type": "string"},
                "args": args.to_value(),
            },
            "required": ["type", "name", "reqId"],
            "additionalProperties": false,
        }));
        results.insert(format!("result.{}", name.as_str()), result.to_value());
    }
    let mut events = Vec::new();
    for &name in EventName::ALL {
        let data = name.data_schema(&mut generator);
        events.push(json!({
            "title": name.as_str(),
            "type": "object",
            "properties": {
                "type": {"const": "event"},
                "name": {"const": name.as_str()},
                "seq": {"type": "integer", "minimum": 1,
                        "description": "Absent only on events to a knocker."},
                "ts": {"type": "string", "format": "date-time"},
                "data": data.to_value(),
            },
            "required": ["type", "name", "ts", "data"],
            "additionalProperties": false,
        }));
    }
    let error = generator.subschema_for::<ErrorBody>().to_value();
    let mut defs: Map<String, Value> = generator.definitions().clone();
    defs.extend(results);
    defs.insert("ClientFrame".into(), json!({"oneOf": commands}));
    defs.insert("ServerEvent".into(), json!({"oneOf": events}));
    defs.insert(
        "Response".into(),
        json!({
            "type": "object",
            "properties": {
                "type": {"const": "response"},
                "reqId": {"type": ["string", "null"]},
                "ok": {"type": "boolean"},
                "result": {"type": "object"},
                "error": error,
            },
            "required": ["type", "reqId", "ok"],
            "additionalProperties": false,
            "oneOf": [
                {"properties": {"ok": {"const": true}}, "required": ["result"]},
                {"properties": {"ok": {"const": false}}, "required": ["error"]},
            ],
        }),
    );
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "SFU signalling protocol frames",
        "description": "Generated from the signalling-proto crate; see PROTOCOL.md.",
        "oneOf": [
            {"$ref": "#/$defs/ClientFrame"},
            {"$ref": "#/$defs/ServerEvent"},
            {"$ref": "#/$defs/Response"},
        ],
        "$defs": defs,
    })
}
