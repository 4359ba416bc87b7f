//! Joins a room, prints every event as it arrives (joins, leaves, breakout moves, reconnects
//! and resumes of others) and, once a second, what it received from each participant: Opus
//! packets, VP8 frames and keyframes, per stream. A recorder would write these frames to files
//! instead (they carry RTP timestamps and keyframe flags for that).
//!
//! ```text
//! cargo run -p sfu-client --example listen -- ws://127.0.0.1:7880 standup dev viewer
//! ```
//!
//! With `dev` as the token, it asks the development server's `/dev/token` for one of the
//! given role (default `viewer`).

use std::collections::BTreeMap;
use std::time::Duration;

use sfu_client::{Client, ClientError, Event, JoinOptions, MediaKind, ParticipantId, StreamId};

#[derive(Default)]
struct Received {
    opus_packets: u64,
    vp8_frames: u64,
    keyframes: u64,
    bytes: u64,
}

#[tokio::main]
async fn main() -> Result<(), ClientError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (url, room, token, role) = match args.as_slice() {
        [url, room, token] => (url, room, token, "viewer"),
        [url, room, token, role] => (url, room, token, role.as_str()),
        _ => {
            eprintln!("usage: listen WS_URL ROOM TOKEN|dev [ROLE]");
            std::process::exit(2);
        }
    };
    let token = if token == "dev" {
        let identity = format!("listener-{}", std::process::id());
        sfu_client::signalling::fetch_dev_token(url, room, &identity, role).await?
    } else {
        token.clone()
    };
    let (client, mut events) =
        Client::join(JoinOptions::new(url, room, &token, "Listener")).await?;
    let mut frames = client
        .take_frames()
        .ok_or_else(|| ClientError::Protocol("no frames".into()))?;
    println!(
        "joined {room} as {} ({:?})",
        client.id(),
        client.joined().role_name
    );
    for p in client.roster().participants.values() {
        println!("  present: {} {} at {:?}", p.id, p.display_name, p.location);
    }
    let mut received: BTreeMap<(ParticipantId, StreamId), Received> = BTreeMap::new();
    let mut report = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(Event::BreakoutLocationChanged(moved)) => {
                    println!("moved: {} {:?} -> {:?} ({:?})", moved.participant_id, moved.from, moved.to, moved.reason);
                }
                Some(Event::ParticipantConnectionChanged(change)) => {
                    // `reconnecting` when a transport drops; `connected` again after a resume.
                    println!("connection: {} {:?}", change.participant_id, change.connection);
                }
                Some(Event::NewClient(new)) => println!("joined: {} {}", new.client.id, new.client.display_name),
                Some(Event::ClientLeft(left)) => println!("left: {} ({:?})", left.client_id, left.reason),
                Some(Event::ChatMessage(m)) => println!("chat from {}: {}", m.sender_name, m.text),
                Some(_) => {}
                None => break,
            },
            frame = frames.recv() => {
                let Some(frame) = frame else { break };
                let entry = received.entry((frame.participant_id.clone(), frame.stream_id.clone())).or_default();
                entry.bytes += frame.data.len() as u64;
                match frame.kind {
                    MediaKind::Audio => entry.opus_packets += 1,
                    MediaKind::Video => {
                        entry.vp8_frames += 1;
                        entry.keyframes += u64::from(frame.keyframe);
                    }
                }
            }
            _ = report.tick() => {
                let roster = client.roster();
                for ((id, stream), r) in &received {
                    println!(
                        "  {} ({}) {stream}: {} Opus packets, {} VP8 frames ({} keyframes), {} bytes",
                        roster.name_of(id).unwrap_or("gone"), id, r.opus_packets, r.vp8_frames, r.keyframes, r.bytes
                    );
                }
            }
        }
    }
    Ok(())
}
