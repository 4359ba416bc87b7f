//! A client whose WebSocket drops resumes on a new one (PROTOCOL.md §4.3, issue 20 "follow
//! events ... resumes"): same participant id, the others see it `reconnecting` and then
//! `connected` again, its media transports were kept (it goes on hearing and being heard
//! without a new join), and commands work on the new socket.

use std::time::{Duration, Instant};

use sfu_client::Event;
use signalling_proto::ConnectionState;

use crate::support::{Person, Server, DEADLINE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_socket_is_resumed_and_media_goes_on() {
    let server = Server::start().await;
    let room = "resume";
    let mut ada = Person::join(&server, room, "ada", "visitor").await;
    let mut bob = Person::join(&server, room, "bob", "visitor").await;
    ada.speak(false).await;
    bob.speak(false).await;
    ada.until_hears(&["bob"], "before the drop").await;
    bob.until_hears(&["ada"], "before the drop").await;
    let ada_id = ada.client.id().clone();
    let first_socket = ada.client.signalling();

    // The socket closes under ada (a proxy restart, a network change): not a leave.
    first_socket.close();
    let deadline = Instant::now() + DEADLINE;
    while ada.client.resumes() == 0 {
        assert!(Instant::now() < deadline, "ada never resumed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!std::sync::Arc::ptr_eq(
        &first_socket,
        &ada.client.signalling()
    ));
    assert_eq!(ada.client.id(), &ada_id);

    // bob saw ada go `reconnecting` and come back `connected`.
    let mut seen = Vec::new();
    let deadline = Instant::now() + DEADLINE;
    while seen.last() != Some(&ConnectionState::Connected) {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, bob.events.recv()).await {
            Ok(Some(Event::ParticipantConnectionChanged(c))) if c.participant_id == ada_id => {
                seen.push(c.connection);
            }
            Ok(Some(_)) => {}
            other => panic!("bob never saw ada reconnect: {seen:?} {other:?}"),
        }
    }
    assert_eq!(
        seen,
        [ConnectionState::Reconnecting, ConnectionState::Connected]
    );
    assert!(bob.client.roster().is_connected(&ada_id));

    // The transports were kept: both still hear each other, and the new socket carries
    // commands (bob gets ada's chat).
    ada.until_hears(&["bob"], "after the resume").await;
    bob.until_hears(&["ada"], "after the resume").await;
    ada.client
        .send_chat("back")
        .await
        .expect("chat after resume");
    let deadline = Instant::now() + DEADLINE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, bob.events.recv()).await {
            Ok(Some(Event::ChatMessage(m))) if m.sender_id == ada_id => {
                assert_eq!(m.text, "back");
                break;
            }
            Ok(Some(_)) => {}
            other => panic!("no chat from ada after the resume: {other:?}"),
        }
    }
    ada.close().await;
    bob.close().await;
    server.stop().await;
}
