//! Role enforcement over the real `/rtc` WebSocket (spec §4.2, §6.2, §14 #1): every command
//! whose issuer a role lacks (`signalling_proto::CommandName::issuer`, so every host-only
//! command) is tried by every non-host role, and each answer is `forbidden` with nothing
//! changed: the host's snapshot is the same before and after, and no event reached anyone.
//! `granted_viewer` needs a server started with `viewers_must_knock` (spec §4.1).

use crate::support::ws::*;
use serde_json::{json, Value};
use sfu::Config;
use signalling_proto::Role;

/// Joins `role` to `room` next to `host`; the granted roles come through the waiting room.
async fn admit(server: &TestServer, host: &mut Client, room: &str, role: Role) -> Client {
    let mut caller = server.client().await;
    let knocker = match role {
        Role::GrantedVisitor => Some(Role::Visitor),
        Role::GrantedViewer => Some(Role::Viewer),
        _ => None,
    };
    let joined = match knocker {
        Some(requested) => {
            ok_result(&host.call("set_lock", json!({"locked": true})).await);
            caller
                .join_through_knock(host, room, "caller", requested)
                .await
        }
        None => caller.join(room, "caller", role).await,
    };
    assert_eq!(ok_result(&joined)["roleName"], json!(role), "{joined}");
    caller
}

/// Sends a command, waiting out the "all commands" bucket (spec §6.5) if it runs dry: a
/// service role lacks more than its 50 tokens' worth of commands.
async fn call_within_rate(client: &mut Client, name: &str, args: &Value) -> Value {
    loop {
        let response = client.call(name, args.clone()).await;
        if response["error"]["code"] != "rate_limited" {
            return response;
        }
        let wait = response["error"]["details"]["retryAfterMs"]
            .as_u64()
            .expect("retryAfterMs");
        tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
    }
}

/// `get_room_state` of `client`; the events read on the way stay in `client.events`.
async fn snapshot(client: &mut Client) -> Value {
    ok_result(&client.call("get_room_state", json!({})).await).clone()
}

/// `role` joins `room` of `server` next to a host and tries every command outside its role:
/// `forbidden` each time, the host's view unchanged and no event to the host or the caller.
async fn assert_every_command_outside_the_role_is_forbidden(
    server: &TestServer,
    room: &str,
    role: Role,
) {
    let mut host = server.client().await;
    let host_id = self_id(&host.join(room, "host", Role::Host).await);
    let mut caller = admit(server, &mut host, room, role).await;
    let before = snapshot(&mut host).await;
    snapshot(&mut caller).await;
    host.events.clear();
    caller.events.clear();
    let refused = crate::support::command_samples::refused_for(role, &host_id);
    assert!(refused.len() >= 37, "{role:?}: {}", refused.len());
    for (name, args) in refused {
        let response = call_within_rate(&mut caller, name.as_str(), &args).await;
        assert_eq!(error_code(&response), "forbidden", "{role:?} {name}");
    }
    assert_eq!(
        snapshot(&mut host).await,
        before,
        "{role:?} changed the room"
    );
    assert!(host.events.is_empty(), "{role:?}: {:?}", host.events);
    assert!(caller.events.is_empty(), "{role:?}: {:?}", caller.events);
}

// Visitor, granted visitor, viewer, recorder, streamer and assistant each try every command
// outside their role on a server with the default room policy: `forbidden` each time, nothing changed, no
// event.
#[tokio::test]
async fn every_command_outside_the_role_is_forbidden_over_the_socket() {
    let server = TestServer::start().await;
    let roles = [
        Role::Visitor,
        Role::GrantedVisitor,
        Role::Viewer,
        Role::Recorder,
        Role::Streamer,
        Role::Assistant,
    ];
    for (n, role) in roles.into_iter().enumerate() {
        assert_every_command_outside_the_role_is_forbidden(&server, &format!("roles-{n}"), role)
            .await;
    }
}

// With `viewers_must_knock` configured (`--viewers-must-knock true`), a viewer knocks at a
// locked room and a host's accept makes it a `granted_viewer`, the sixth non-host role; it is
// refused every command outside its role like the others.
#[tokio::test]
async fn granted_viewer_is_forbidden_every_command_outside_its_role_over_the_socket() {
    let server = TestServer::start_with(Config {
        viewers_must_knock: true,
        ..Config::ephemeral()
    })
    .await;
    assert_every_command_outside_the_role_is_forbidden(
        &server,
        "roles-granted-viewer",
        Role::GrantedViewer,
    )
    .await;
}

// Under the default policy a viewer bypasses the lock (spec §4.1), so `granted_viewer` cannot
// be reached without the setting.
#[tokio::test]
async fn viewers_bypass_the_lock_by_default() {
    let server = TestServer::start().await;
    let mut host = server.client().await;
    host.join("roles-bypass", "host", Role::Host).await;
    ok_result(&host.call("set_lock", json!({"locked": true})).await);
    let mut viewer = server.client().await;
    let joined = viewer.join("roles-bypass", "viewer", Role::Viewer).await;
    assert_eq!(
        ok_result(&joined)["roleName"],
        json!(Role::Viewer),
        "{joined}"
    );
}
