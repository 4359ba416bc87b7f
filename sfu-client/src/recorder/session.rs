//! The recorder's run: join, write every frame, keep the sidecar, close everything on stop,
//! on the room's end and on a write error.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};
use signalling_proto::{Event, MediaKind};
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use super::track::{recording_dir, unix_ms, Track};
use crate::{Client, JoinOptions};

/// Where and as whom to record.
#[derive(Debug, Clone)]
pub struct RecorderOptions {
    /// `ws://host:port` of the SFU.
    pub url: String,
    /// The room to record.
    pub room: String,
    /// A `recorder` join token for the room.
    pub token: String,
    /// The folder under which each recording gets its own folder.
    pub root: PathBuf,
}

/// What the recorder tells whoever runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecorderReport {
    /// The first media bytes are on disk, in this folder.
    Started(PathBuf),
    /// More bytes were written (for a bytes counter).
    Wrote(u64),
    /// The recording failed (folder not writable, disk full, join refused); the files written
    /// so far are closed.
    Failed(String),
    /// Every file is closed and the sidecar written (after a stop or the room's end).
    Closed,
}

/// Asks a running recorder to stop: it closes every file, writes the sidecar, answers on the
/// sender it is given, then leaves the room.
pub type RecorderStop = oneshot::Receiver<oneshot::Sender<()>>;

/// Records `options.room` until `stop` fires (or its sender is dropped), the room ends for the
/// recorder, or writing fails. Everything goes out through `reports`.
pub async fn record(
    options: RecorderOptions,
    reports: mpsc::UnboundedSender<RecorderReport>,
    mut stop: RecorderStop,
) {
    let report = |r| {
        let _ = reports.send(r);
    };
    let started_wall = SystemTime::now();
    let dir = recording_dir(&options.root, &options.room, started_wall);
    let mut recording = Recording {
        dir: dir.clone(),
        room: options.room.clone(),
        started_wall,
        anchor: (Instant::now(), started_wall),
        tracks: HashMap::new(),
        participants: HashMap::new(),
        started: false,
    };
    // The folder and the sidecar first: an unwritable directory or a full disk shows here,
    // before the recorder joins.
    if let Err(error) = std::fs::create_dir_all(&dir).and_then(|()| recording.write_sidecar(None)) {
        report(RecorderReport::Failed(format!(
            "recording directory {} is not writable: {error}",
            dir.display()
        )));
        return;
    }
    let join = Client::join(JoinOptions::new(
        &options.url,
        &options.room,
        &options.token,
        "Cloud recorder",
    ));
    tokio::pin!(join);
    let joined = tokio::select! {
        joined = &mut join => joined,
        asked = &mut stop => {
            // Stopped before it joined: nothing to close. Whoever stops may be the room the
            // join waits for, so answer first, then finish the join and leave at once, so
            // that no recorder stays behind.
            if let Ok(answer) = asked {
                let _ = answer.send(());
            }
            if let Ok(Ok((client, _))) = tokio::time::timeout(Duration::from_secs(10), join).await {
                let _ = tokio::time::timeout(Duration::from_secs(2), client.leave()).await;
            }
            let _ = recording.write_sidecar(Some(SystemTime::now()));
            report(RecorderReport::Closed);
            return;
        }
    };
    let (client, mut events) = match joined {
        Ok(joined) => joined,
        Err(error) => {
            report(RecorderReport::Failed(format!(
                "the recorder could not join: {error}"
            )));
            return;
        }
    };
    let Some(mut frames) = client.take_frames() else {
        report(RecorderReport::Failed(
            "the recorder receives no media".into(),
        ));
        return;
    };
    for p in client.roster().participants.values() {
        recording.seen(p.id.as_str(), Some(p.display_name.clone()));
    }
    info!(room = %options.room, dir = %dir.display(), "recorder joined");
    let mut answer: Option<oneshot::Sender<()>> = None;
    let failure = loop {
        tokio::select! {
            asked = &mut stop => {
                answer = asked.ok();
                break None;
            }
            frame = frames.recv() => {
                let Some(frame) = frame else { break None };
                let name = client.roster().name_of(&frame.participant_id).map(str::to_owned);
                match recording.write(&frame, name) {
                    Ok(0) => {}
                    Ok(bytes) => {
                        report(RecorderReport::Wrote(bytes));
                        if !recording.started {
                            recording.started = true;
                            report(RecorderReport::Started(dir.clone()));
                        }
                    }
                    Err(error) => break Some(format!("writing the recording failed: {error}")),
                }
            }
            event = events.recv() => {
                let Some(event) = event else { break None };
                recording.note(&event);
            }
        }
    };
    let closed = recording.close_all();
    let failure = failure.or_else(|| {
        closed
            .err()
            .map(|e| format!("closing the recording failed: {e}"))
    });
    if let Some(answer) = answer {
        let _ = answer.send(());
    }
    match failure {
        Some(reason) => {
            // Whoever runs the recorder removes it (the SFU does on this report); leaving
            // first could end the recording as stopped before the failure is known.
            warn!(room = %options.room, %reason, "recording failed");
            report(RecorderReport::Failed(reason));
        }
        None => {
            report(RecorderReport::Closed);
            // A courtesy: a stop removed the recorder already.
            let _ = tokio::time::timeout(Duration::from_secs(2), client.leave()).await;
        }
    }
}

/// One recording's folder, tracks and participants.
struct Recording {
    dir: PathBuf,
    room: String,
    started_wall: SystemTime,
    /// Maps the frames' `Instant`s to wall-clock time.
    anchor: (Instant, SystemTime),
    tracks: HashMap<(String, String, bool), Track>,
    /// id → (display name, first seen, left).
    participants: HashMap<String, (Option<String>, SystemTime, Option<SystemTime>)>,
    started: bool,
}

impl Recording {
    fn wall(&self, at: Instant) -> SystemTime {
        self.anchor.1 + at.saturating_duration_since(self.anchor.0)
    }

    fn seen(&mut self, id: &str, name: Option<String>) {
        let entry =
            self.participants
                .entry(id.to_owned())
                .or_insert((None, SystemTime::now(), None));
        if name.is_some() {
            entry.0 = name;
        }
    }

    fn note(&mut self, event: &Event) {
        match event {
            Event::NewClient(new) => {
                let id = new.client.id.as_str().to_owned();
                self.seen(&id, Some(new.client.display_name.clone()));
                if let Some(p) = self.participants.get_mut(&id) {
                    p.2 = None;
                }
            }
            Event::ClientLeft(left) => {
                if let Some(p) = self.participants.get_mut(left.client_id.as_str()) {
                    p.2 = Some(SystemTime::now());
                }
            }
            _ => {}
        }
    }

    fn write(&mut self, frame: &crate::MediaFrame, name: Option<String>) -> std::io::Result<u64> {
        let key = (
            frame.participant_id.as_str().to_owned(),
            frame.stream_id.as_str().to_owned(),
            frame.kind == MediaKind::Video,
        );
        let serial = u32::try_from(self.tracks.len() + 1).unwrap_or(u32::MAX);
        self.seen(&key.0, name.clone());
        let wall = self.wall(frame.received_at);
        let track = self
            .tracks
            .entry(key)
            .or_insert_with(|| Track::new(frame, name, serial));
        track.write(&self.dir, frame, wall)
    }

    fn close_all(&mut self) -> std::io::Result<()> {
        let mut result = Ok(());
        for track in self.tracks.values_mut() {
            if let Err(error) = track.close() {
                result = Err(error);
            }
        }
        self.write_sidecar(Some(SystemTime::now())).and(result)
    }

    fn write_sidecar(&self, stopped: Option<SystemTime>) -> std::io::Result<()> {
        let mut tracks: Vec<&Track> = self.tracks.values().collect();
        tracks.sort_by(|a, b| (&a.participant, &a.stream).cmp(&(&b.participant, &b.stream)));
        let mut participants: Vec<Value> = self
            .participants
            .iter()
            .map(|(id, (name, first, left))| {
                json!({
                    "participantId": id,
                    "displayName": name,
                    "firstSeenAtMs": unix_ms(*first),
                    "leftAtMs": left.map(unix_ms),
                })
            })
            .collect();
        participants.sort_by(|a, b| {
            a["participantId"]
                .as_str()
                .cmp(&b["participantId"].as_str())
        });
        let sidecar = json!({
            "room": self.room,
            "startedAtMs": unix_ms(self.started_wall),
            "stoppedAtMs": stopped.map(unix_ms),
            "participants": participants,
            "tracks": tracks.iter().map(|t| t.describe()).collect::<Vec<_>>(),
        });
        let text = serde_json::to_string_pretty(&sidecar).map_err(std::io::Error::other)?;
        // Written beside and renamed, so a reader never sees half a sidecar.
        let tmp = self.dir.join("recording.json.tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, self.dir.join("recording.json"))
    }
}
