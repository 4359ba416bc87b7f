//! `schema/protocol.schema.json` is the JSON Schema the crate's types generate
//! ([`signalling_proto::protocol_schema`]); a client in another language checks its frames
//! against it. This test fails when the types changed and the file was not regenerated.

use serde_json::Value;
use signalling_proto::*;

const SCHEMA_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/schema/protocol.schema.json");

fn generated() -> String {
    let mut text = serde_json::to_string_pretty(&protocol_schema()).expect("a schema serialises");
    text.push('\n');
    text
}

// The committed schema is the one the types generate. `UPDATE_SCHEMA=1` rewrites it.
#[test]
fn committed_schema_is_generated_from_the_types() {
    let now = generated();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(SCHEMA_FILE, &now).expect("write the schema");
    }
    let committed = std::fs::read_to_string(SCHEMA_FILE).unwrap_or_default();
    assert!(
        committed == now,
        "{SCHEMA_FILE} is stale: run `UPDATE_SCHEMA=1 cargo test -p signalling-proto --test protocol`"
    );
}

// Every command has an envelope with its `args` and a result definition; every event an
// envelope with its `data`; unknown fields are refused like the decoder refuses them.
#[test]
fn schema_covers_every_command_and_event() {
    let schema = protocol_schema();
    let defs = &schema["$defs"];
    let names = |frame: &str| -> Vec<String> {
        defs[frame]["oneOf"]
            .as_array()
            .expect("oneOf")
            .iter()
            .map(|s| {
                s["properties"]["name"]["const"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned()
            })
            .collect()
    };
    let commands = names("ClientFrame");
    for name in CommandName::ALL {
        assert!(commands.iter().any(|c| c == name.as_str()), "{name}");
        assert!(
            defs[format!("result.{name}")].is_object(),
            "result of {name}"
        );
    }
    let events = names("ServerEvent");
    for name in EventName::ALL {
        assert!(events.iter().any(|e| e == name.as_str()), "{name}");
    }
    // A struct the decoder reads strictly is closed in the schema too.
    let join = &defs["JoinRoomArgs"];
    assert_eq!(join["additionalProperties"], Value::Bool(false), "{join}");
}
