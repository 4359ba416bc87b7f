//! The `assistant` role end to end on the server (issue 20): `sfu token create --role
//! assistant` and `/dev/token?role=assistant` issue it; over `/rtc` an assistant joins as
//! `roleName: "assistant"`, is announced to others with `isAssistant: true` (and only
//! assistants carry the field), and a second one may join (not a unique role).

use std::process::Command;

use crate::support::ws::*;
use serde_json::{json, Value};
use sfu::token::TokenKey;
use signalling_proto::Role;

// The CLI mints it (development secret: no `SFU_API_SECRET` in the environment).
#[test]
fn cli_token_create_issues_the_assistant_role() {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sfu"));
    for (name, _) in std::env::vars() {
        if name.starts_with("SFU_") {
            command.env_remove(name);
        }
    }
    let output = command
        .args(["token", "create", "--room", "r", "--identity", "bot-1"])
        .args(["--role", "assistant"])
        .env_remove("RUST_LOG")
        .output()
        .expect("runs sfu");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout).expect("UTF-8");
    let claims = TokenKey::development()
        .verify(token.trim(), "r", sfu::clock::system_now())
        .expect("a development token");
    assert_eq!(claims.role, Role::Assistant);
}

#[tokio::test]
async fn assistants_join_with_dev_tokens_and_are_marked_in_the_roster() {
    let server = TestServer::start().await;
    let mut host = server.client().await;
    let joined = host.join("assistants", "host", Role::Host).await;
    let host_view = &ok_result(&joined)["room"]["participants"][0];
    assert!(host_view.get("isAssistant").is_none(), "{host_view}");

    let (status, body) = http_get(
        server.addr,
        "/dev/token?room=assistants&identity=bot-1&role=assistant",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token: Value = serde_json::from_str(&body).expect("JSON");
    let mut bot = server.client().await;
    let joined = bot
        .call(
            "join_room",
            join_args("assistants", token["token"].as_str().expect("token")),
        )
        .await;
    assert_eq!(
        ok_result(&joined)["roleName"],
        json!("assistant"),
        "{joined}"
    );
    let announced = host.event("new_client").await;
    assert_eq!(announced["data"]["client"]["roleName"], json!("assistant"));
    assert_eq!(announced["data"]["client"]["isAssistant"], json!(true));

    // Not unique: a second assistant joins the same room.
    let mut second = server.client().await;
    let joined = second.join("assistants", "bot-2", Role::Assistant).await;
    assert_eq!(
        ok_result(&joined)["roleName"],
        json!("assistant"),
        "{joined}"
    );
}
