//! Role enforcement over the real `/rtc` WebSocket (spec §4.2, §6.2, §14 #1): every command
//! whose issuer a role lacks (`signalling_proto::CommandName::issuer`, so every host-only
//! command) is tried by every non-host role, and each answer is `forbidden` with nothing
//! changed: the host's snapshot is the same before and after, and no event reached anyone.

mod command_samples;
mod ws_support;

use serde_json::{json, Value};
use signalling_proto::Role;
use ws_support::*;

/// Joins `role` to `room` next to `host`; the granted roles come through the waiting room.
async fn admit(server: &TestServer, host: &mut Client, room: &str, role: Role) -> Client {
    let mut caller = server.client().await;
    let joined = match role {
        Role::GrantedVisitor => {
            ok_result(&host.call("set_lock", json!({"locked": true})).await);
            caller
                .join_through_knock(host, room, "caller", Role::Visitor)
                .await
        }
        _ => caller.join(room, "caller", role).await,
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

// Visitor, granted visitor, viewer, recorder and streamer each try every command outside their
// role (`granted_viewer` needs `viewersMustKnock`, which the server does not expose; the room
// tests in `control_roles.rs` cover it): `forbidden` each time, the host's view unchanged and
// no event to the host or the caller.
#[tokio::test]
async fn every_command_outside_the_role_is_forbidden_over_the_socket() {
    let server = TestServer::start().await;
    let roles = [
        Role::Visitor,
        Role::GrantedVisitor,
        Role::Viewer,
        Role::Recorder,
        Role::Streamer,
    ];
    for (n, role) in roles.into_iter().enumerate() {
        let room = format!("roles-{n}");
        let mut host = server.client().await;
        let host_id = self_id(&host.join(&room, "host", Role::Host).await);
        let mut caller = admit(&server, &mut host, &room, role).await;
        let before = snapshot(&mut host).await;
        snapshot(&mut caller).await;
        host.events.clear();
        caller.events.clear();
        let refused = command_samples::refused_for(role, &host_id);
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
}
