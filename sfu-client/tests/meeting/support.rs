//! A real server on 127.0.0.1:0 in development mode, tokens from its `/dev/token`, and the
//! small helpers the meeting tests share.
#![allow(dead_code)] // each test module uses part of it

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{json, Value};
use sfu_client::{Client, EventStream, FrameStream, JoinOptions, MediaFrame, ParticipantId};
use signalling_proto::{decode_client_frame, Command};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long any expected state may take to appear.
pub const DEADLINE: Duration = Duration::from_secs(20);

pub struct Server {
    /// `ws://127.0.0.1:PORT`.
    pub url: String,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Server {
    pub async fn start() -> Self {
        Self::start_with(sfu::Config::ephemeral()).await
    }

    /// A server with `config` (its ports should be ephemeral).
    pub async fn start_with(config: sfu::Config) -> Self {
        let (listener, addr) = sfu::bind(&config).await.expect("bind 127.0.0.1:0");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(sfu::run(config, listener, async move {
            let _ = stopped.await;
        }));
        Self {
            url: format!("ws://{addr}"),
            stop: Some(stop),
            task,
        }
    }

    /// Joins `room` as `name` with a development token of `role`.
    pub async fn join(&self, room: &str, name: &str, role: &str) -> (Client, EventStream) {
        let token = sfu_client::signalling::fetch_dev_token(&self.url, room, name, role)
            .await
            .unwrap_or_else(|e| panic!("token for {name}: {e}"));
        Client::join(JoinOptions::new(&self.url, room, &token, name))
            .await
            .unwrap_or_else(|e| panic!("{name} joins: {e}"))
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), &mut self.task).await;
    }
}

/// A command from its wire form (the breakout argument types are many; JSON is shorter).
pub fn command(name: &str, args: Value) -> Command {
    let frame = json!({"type": "command", "name": name, "reqId": "t", "args": args});
    decode_client_frame(&frame.to_string())
        .unwrap_or_else(|e| panic!("{name}: {e:?}"))
        .command
}

/// Sends a command by its wire form and returns the raw result; panics when refused.
pub async fn does(client: &Client, name: &str, args: Value) -> serde_json::Map<String, Value> {
    client
        .signalling()
        .request_raw(command(name, args))
        .await
        .unwrap_or_else(|e| panic!("{name} refused: {e}"))
}

/// The host enables breakouts and creates `count` sessions; their ids, in order.
pub async fn breakout_sessions(host: &Client, count: u32) -> Vec<String> {
    does(host, "breakout_enable", json!({})).await;
    let created = does(host, "breakout_create_sessions", json!({"count": count})).await;
    created["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .map(|s| s["id"].as_str().expect("id").to_owned())
        .collect()
}

/// The content every test speaker puts in its Opus packets: a TOC byte (CELT fullband 20 ms),
/// then `who=<name>;n=<counter>;`, padded to a speech-sized packet. The receiver checks the
/// name against the participant id the client crate tagged the frame with.
pub fn opus_packet(name: &str, n: u32) -> Vec<u8> {
    let mut packet = vec![0xFC];
    packet.extend_from_slice(format!("who={name};n={n};").as_bytes());
    packet.resize(90, 0xA5);
    packet
}

/// The speaker name written in a test Opus packet or VP8 frame.
pub fn who(data: &Bytes) -> Option<String> {
    let text = String::from_utf8_lossy(data.get(1..)?);
    let start = text.find("who=")? + 4;
    let end = start + text[start..].find(';')?;
    Some(text[start..end].to_owned())
}

/// A VP8 frame of the tests: byte 0 carries the keyframe bit (0 = keyframe, RFC 6386 §9.1),
/// then the speaker's marker, then a pattern long enough to need several packets.
pub fn vp8_frame(name: &str, n: u32, keyframe: bool) -> Vec<u8> {
    let mut frame = vec![if keyframe { 0x10 } else { 0x11 }];
    frame.extend_from_slice(format!("who={name};n={n};").as_bytes());
    let len = if keyframe { 4000 } else { 1500 };
    let mut i = 0u32;
    while frame.len() < len {
        frame.push((i.wrapping_mul(31).wrapping_add(n)) as u8);
        i += 1;
    }
    frame
}

/// The frames received within `window`.
pub async fn collect(frames: &mut FrameStream, window: Duration) -> Vec<MediaFrame> {
    let until = Instant::now() + window;
    let mut got = Vec::new();
    while let Ok(Some(frame)) = tokio::time::timeout_at(until.into(), frames.recv()).await {
        got.push(frame);
    }
    got
}

/// The participants whose audio arrived in `frames`.
pub fn audio_senders(frames: &[MediaFrame]) -> BTreeSet<ParticipantId> {
    frames
        .iter()
        .filter(|f| f.kind == sfu_client::MediaKind::Audio)
        .map(|f| f.participant_id.clone())
        .collect()
}

/// A test participant: its client, events, frames, and the task that speaks for it.
pub struct Person {
    pub name: String,
    pub client: Client,
    pub events: EventStream,
    pub frames: FrameStream,
    speaker: Option<JoinHandle<()>>,
}

impl Person {
    pub async fn join(server: &Server, room: &str, name: &str, role: &str) -> Person {
        let (client, events) = server.join(room, name, role).await;
        let frames = client.take_frames().expect("receiving");
        Person {
            name: name.to_owned(),
            client,
            events,
            frames,
            speaker: None,
        }
    }

    /// Publishes (audio, and video when `video`) and keeps sending [`opus_packet`]s every
    /// 20 ms and [`vp8_frame`]s every 60 ms, a keyframe every 2 s or when the SFU asks.
    pub async fn speak(&mut self, video: bool) {
        let options = if video {
            sfu_client::PublishOptions::audio_video()
        } else {
            sfu_client::PublishOptions::audio_only()
        };
        let publisher = self
            .client
            .publish(options)
            .await
            .unwrap_or_else(|e| panic!("{} publishes: {e}", self.name));
        let name = self.name.clone();
        self.speaker = Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            let mut n = 0u32;
            let mut frame = 0u32;
            loop {
                tick.tick().await;
                n += 1;
                if publisher
                    .send_opus(&opus_packet(&name, n), 960)
                    .await
                    .is_err()
                {
                    return;
                }
                // Every 60 ms (16.7 fps, 5400 ticks of 90 kHz).
                if video && n.is_multiple_of(3) {
                    frame += 1;
                    let keyframe = frame % 33 == 1 || publisher.keyframe_requested();
                    let ts = frame.wrapping_mul(5400);
                    if publisher
                        .send_vp8(&vp8_frame(&name, frame, keyframe), ts)
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }));
    }

    /// Frames over `window`, each checked against its tag: the speaker named in the content
    /// is the participant the crate says sent it, video is byte-identical to what was sent
    /// and its keyframe flag is the frame's own.
    pub async fn hear(&mut self, window: Duration) -> Vec<MediaFrame> {
        let frames = collect(&mut self.frames, window).await;
        let roster = self.client.roster();
        for f in &frames {
            let said =
                who(&f.data).unwrap_or_else(|| panic!("{}: untagged frame {f:?}", self.name));
            // Someone who left is no longer on the roster; their last packets still count.
            if let Some(sender) = roster.name_of(&f.participant_id) {
                assert_eq!(
                    said, sender,
                    "{}: frame tagged with the wrong participant",
                    self.name
                );
            }
            if f.kind == sfu_client::MediaKind::Video {
                let n: u32 = String::from_utf8_lossy(&f.data[1..40])
                    .split("n=")
                    .nth(1)
                    .and_then(|rest| rest.split(';').next())
                    .and_then(|n| n.parse().ok())
                    .expect("frame number");
                assert_eq!(
                    &f.data[..],
                    &vp8_frame(&said, n, f.keyframe)[..],
                    "{}: torn frame",
                    self.name
                );
            } else {
                assert!(!f.keyframe);
                assert_eq!(f.data.len(), 90);
            }
        }
        frames
    }

    /// Waits until one window's audio comes from exactly `expected` (participant names).
    pub async fn until_hears(&mut self, expected: &[&str], what: &str) -> Vec<MediaFrame> {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let frames = self.hear(Duration::from_millis(1000)).await;
            let roster = self.client.roster();
            let heard: BTreeSet<String> = audio_senders(&frames)
                .iter()
                .map(|id| roster.name_of(id).unwrap_or("?").to_owned())
                .collect();
            let want: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
            if heard == want {
                return frames;
            }
            assert!(
                Instant::now() < deadline,
                "{}: {what}: heard {heard:?}, want {want:?}",
                self.name
            );
        }
    }

    /// Hands the event and frame streams to another reader (the example assistant's loop);
    /// this person's own streams are closed from then on.
    pub fn take_streams(&mut self) -> (EventStream, FrameStream) {
        let events = std::mem::replace(&mut self.events, tokio::sync::mpsc::unbounded_channel().1);
        let frames = std::mem::replace(&mut self.frames, tokio::sync::mpsc::unbounded_channel().1);
        (events, frames)
    }

    pub async fn close(mut self) {
        if let Some(speaker) = self.speaker.take() {
            speaker.abort();
        }
        let _ = self.client.leave().await;
    }
}
