//! The server's cloud recorder against a real meeting (issue 20 item 3): two publishers send
//! libvpx VP8 and libopus Opus from Debian's ffmpeg; one also shares its screen (recorded to
//! its own file) and then leaves, the other publishes three simulcast encodings and stops its
//! top one mid-meeting, so the SFU switches the recorder to the next layer down on a keyframe
//! (a real layer switch); every file the recorder wrote is read by `ffprobe` and decodes fully
//! with `ffmpeg -xerror`, and each stream's recorded duration is within 5 % of the time it was
//! in the recorded meeting. A recording directory that cannot be created gives
//! `cloud_recording_started {error}` and the server goes on.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sfu_client::{Event, EventStream, Publisher};

use crate::support::{does, Person, Server, DEADLINE};

use crate::real_vp8::ivf;

/// A scratch directory under the system temp dir, removed on drop.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        // SFU_KEEP_RECORDINGS=1 keeps the files of a failed run for a look.
        if std::env::var_os("SFU_KEEP_RECORDINGS").is_some() {
            return;
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(name: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!("sfu-rec-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    Scratch(dir)
}

fn run(program: &str, args: &[&str]) -> std::process::Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} runs (scripts/test installs Debian's ffmpeg): {e}"))
}

fn ffmpeg(args: &[&str]) {
    let mut all = vec!["-hide_banner", "-nostdin", "-v", "error"];
    all.extend_from_slice(args);
    let out = run("ffmpeg", &all);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// VP8 frames (data, 90 kHz pts) of a libvpx clip: `size`, 15 fps, a keyframe every 3 frames
/// (a file cannot answer a keyframe request, so the recorder's wait for one stays short).
fn vp8_clip(dir: &Path, size: &str, bitrate: &str) -> Vec<(Vec<u8>, u32)> {
    let path = dir.join(format!("clip-{size}.ivf"));
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &format!("testsrc=size={size}:rate=15"),
        "-t",
        "2",
        "-c:v",
        "libvpx",
        "-g",
        "3",
        "-b:v",
        bitrate,
        "-f",
        "ivf",
        "-y",
        path.to_str().unwrap(),
    ]);
    let clip = ivf::Ivf::parse(&std::fs::read(&path).unwrap()).expect("an IVF");
    clip.frames
        .iter()
        .map(|f| (f.data.clone(), clip.rtp_timestamp(f.pts)))
        .collect()
}

/// 20 ms libopus packets of a 2 s tone, read back from the Ogg file ffmpeg writes.
fn opus_clip(dir: &Path) -> Vec<Vec<u8>> {
    let path = dir.join("tone.ogg");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:duration=2",
        "-ac",
        "2",
        "-c:a",
        "libopus",
        "-b:a",
        "32k",
        "-frame_duration",
        "20",
        "-y",
        path.to_str().unwrap(),
    ]);
    ogg_packets(&std::fs::read(&path).unwrap())
        .into_iter()
        .skip(2) // OpusHead, OpusTags
        .collect()
}

/// The packets of an Ogg stream (one logical stream).
fn ogg_packets(data: &[u8]) -> Vec<Vec<u8>> {
    let mut packets = Vec::new();
    let mut current = Vec::new();
    let mut at = 0;
    while at + 27 <= data.len() && &data[at..at + 4] == b"OggS" {
        let segments = usize::from(data[at + 26]);
        let table = &data[at + 27..at + 27 + segments];
        let mut body = at + 27 + segments;
        for &lace in table {
            current.extend_from_slice(&data[body..body + usize::from(lace)]);
            body += usize::from(lace);
            if lace < 255 {
                packets.push(std::mem::take(&mut current));
            }
        }
        at = body;
    }
    packets
}

/// What one publisher sends, in a loop, in real time with continuous timestamps: a clip per
/// camera encoding (lowest first; one clip: no simulcast), and a screenshare clip.
struct Clips {
    camera: Vec<Vec<(Vec<u8>, u32)>>,
    screen: Option<Vec<(Vec<u8>, u32)>>,
}

/// Sends `clips` until `stop`; from `top_off` on, the highest camera encoding is no longer
/// sent (a simulcast sender dropping its top layer, as a browser does under load).
fn send_loop(
    publisher: Arc<Publisher>,
    clips: Clips,
    audio: Vec<Vec<u8>>,
    stop: Arc<AtomicBool>,
    top_off: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    let audio_publisher = Arc::clone(&publisher);
    let audio_stop = Arc::clone(&stop);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        for packet in audio.iter().cycle() {
            tick.tick().await;
            if audio_stop.load(Ordering::SeqCst)
                || audio_publisher.send_opus(packet, 960).await.is_err()
            {
                return;
            }
        }
    });
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / 15));
        let mut ts = 0u32;
        let mut i = 0usize;
        loop {
            tick.tick().await;
            if stop.load(Ordering::SeqCst) {
                return;
            }
            // Every encoding sends frame `i` of its clip (the clips' keyframes line up).
            let layers = clips.camera.len() - usize::from(top_off.load(Ordering::SeqCst));
            for (layer, clip) in clips.camera.iter().enumerate().take(layers) {
                let (frame, _) = &clip[i % clip.len()];
                if publisher.send_vp8_layer(layer, frame, ts).await.is_err() {
                    return;
                }
            }
            if let Some(screen) = &clips.screen {
                let (frame, _) = &screen[i % screen.len()];
                if publisher.send_screenshare_vp8(frame, ts).await.is_err() {
                    return;
                }
            }
            i += 1;
            ts = ts.wrapping_add(6000);
        }
    })
}

async fn next_recording_event(events: &mut EventStream) -> Event {
    let until = Instant::now() + DEADLINE;
    loop {
        let event = tokio::time::timeout_at(until.into(), events.recv())
            .await
            .expect("a recording event in time")
            .expect("the host's events go on");
        if matches!(
            event,
            Event::CloudRecordingStarted(_) | Event::CloudRecordingStopped(_)
        ) {
            return event;
        }
    }
}

/// The recorded span of a file: from its first packet's pts to its last packet's end.
fn recorded_seconds(path: &Path, frame_seconds: f64) -> f64 {
    let out = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-show_entries",
            "packet=pts_time",
            "-of",
            "csv=p=0",
            path.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "ffprobe {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let times: Vec<f64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
        .collect();
    assert!(
        times.len() > 10,
        "{}: {} packets",
        path.display(),
        times.len()
    );
    times[times.len() - 1] - times[0] + frame_seconds
}

/// The span of a video stream's files in its (continuous) RTP time, from the sidecar: the
/// first file's first timestamp to the last file's last, plus one frame.
fn rtp_span_seconds(files: &[(PathBuf, Value)], frame_seconds: f64) -> f64 {
    let field = |f: &Value, name: &str| f[name].as_u64().unwrap_or_else(|| panic!("{name}: {f}"));
    let (first, last) = (&files[0].1, &files[files.len() - 1].1);
    let start = field(first, "firstRtpTimestamp") as u32;
    let end =
        (field(last, "firstRtpTimestamp") as u32).wrapping_add(field(last, "rtpDuration") as u32);
    f64::from(end.wrapping_sub(start)) / 90_000.0 + frame_seconds
}

/// `/metrics` once it has `line` (the recorder task counts itself out after it left).
async fn metrics_when(server: &Server, line: &str) -> String {
    let url = format!("{}/metrics", sfu_client::http_get::http_base(&server.url));
    let until = Instant::now() + DEADLINE;
    loop {
        let (status, body) = sfu_client::http_get::get(&url).await.expect("/metrics");
        assert_eq!(status, 200);
        if body.lines().any(|l| l == line) || Instant::now() > until {
            assert!(body.lines().any(|l| l == line), "no {line:?} in {body}");
            return body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn within_5_percent(what: &str, got: f64, want: f64) {
    eprintln!("{what}: recorded {got:.3} s, in the meeting {want:.3} s");
    assert!(
        (got - want).abs() <= 0.05 * want,
        "{what}: recorded {got:.3} s, the meeting had it for {want:.3} s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_meeting_plays_back() {
    let scratch = scratch("meeting");
    // Bob's simulcast ladder q/h/f; alice's camera and screen are single encodings.
    let ladder = vec![
        vp8_clip(&scratch.0, "80x60", "40k"),
        vp8_clip(&scratch.0, "160x120", "80k"),
        vp8_clip(&scratch.0, "320x240", "200k"),
    ];
    let screen = vp8_clip(&scratch.0, "480x270", "150k");
    let tone = opus_clip(&scratch.0);
    let root = scratch.0.join("recordings");
    let mut config = sfu::Config::ephemeral();
    config.recording_dir = root.clone();
    let server = Server::start_with(config).await;
    let room = "recorded";
    let mut host = Person::join(&server, room, "host", "host").await;
    let alice = Person::join(&server, room, "alice", "visitor").await;
    let bob = Person::join(&server, room, "bob", "visitor").await;
    let stop_alice = Arc::new(AtomicBool::new(false));
    let stop_bob = Arc::new(AtomicBool::new(false));
    let bob_top_off = Arc::new(AtomicBool::new(false));
    let alice_options = sfu_client::PublishOptions {
        screenshare: true,
        ..sfu_client::PublishOptions::audio_video()
    };
    let bob_options = sfu_client::PublishOptions {
        simulcast: true,
        ..sfu_client::PublishOptions::audio_video()
    };
    let alice_clips = Clips {
        camera: vec![ladder[2].clone()],
        screen: Some(screen),
    };
    let bob_clips = Clips {
        camera: ladder,
        screen: None,
    };
    for (who, options, clips, stop, top_off) in [
        (
            &alice,
            alice_options,
            alice_clips,
            &stop_alice,
            Arc::new(AtomicBool::new(false)),
        ),
        (
            &bob,
            bob_options,
            bob_clips,
            &stop_bob,
            Arc::clone(&bob_top_off),
        ),
    ] {
        let publisher = who.client.publish(options).await.expect("publishes");
        send_loop(
            Arc::new(publisher),
            clips,
            tone.clone(),
            Arc::clone(stop),
            top_off,
        );
    }
    // Media flows before the recording starts, as in a meeting.
    tokio::time::sleep(Duration::from_secs(1)).await;

    does(&host.client, "start_cloud_recording", json!({})).await;
    let started = next_recording_event(&mut host.events).await;
    let t0 = Instant::now();
    match &started {
        Event::CloudRecordingStarted(s) => {
            assert!(s.error.is_none() && s.started_at.is_some(), "{s:?}")
        }
        other => panic!("{other:?}"),
    }
    // `Recording` only once bytes are on disk.
    let folder = std::fs::read_dir(&root)
        .expect("the recording dir exists")
        .next()
        .expect("one recording folder")
        .unwrap()
        .path();
    let on_disk: u64 = std::fs::read_dir(&folder)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name() != "recording.json")
        .map(|e| e.metadata().map_or(0, |m| m.len()))
        .sum();
    assert!(on_disk > 0, "started with nothing on disk");

    tokio::time::sleep(Duration::from_secs(3)).await;
    bob_top_off.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop_alice.store(true, Ordering::SeqCst);
    let alice_id = alice.client.id().as_str().to_owned();
    let bob_id = bob.client.id().as_str().to_owned();
    alice.client.leave().await.expect("alice leaves");
    let alice_span = t0.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(3)).await;
    does(&host.client, "stop_cloud_recording", json!({})).await;
    let bob_span = t0.elapsed().as_secs_f64();
    let stopped = next_recording_event(&mut host.events).await;
    assert!(
        matches!(stopped, Event::CloudRecordingStopped(_)),
        "{stopped:?}"
    );
    stop_bob.store(true, Ordering::SeqCst);

    // Stopped means closed: the sidecar is final and lists every file.
    let sidecar: Value =
        serde_json::from_slice(&std::fs::read(folder.join("recording.json")).unwrap()).unwrap();
    assert!(sidecar["stoppedAtMs"].is_u64(), "{sidecar:#}");
    let tracks = sidecar["tracks"].as_array().unwrap();
    let files_of = |participant: &str, stream: &str, kind: &str| -> Vec<(PathBuf, Value)> {
        tracks
            .iter()
            .filter(|t| {
                t["participantId"] == participant && t["streamId"] == stream && t["kind"] == kind
            })
            .flat_map(|t| t["files"].as_array().unwrap().clone())
            .map(|f| (folder.join(f["file"].as_str().unwrap()), f))
            .collect()
    };
    let names: Vec<&str> = sidecar["participants"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["displayName"].as_str())
        .collect();
    assert!(
        names.contains(&"alice") && names.contains(&"bob"),
        "{names:?}"
    );
    let mut checked = 0;
    for (participant, span) in [(&alice_id, alice_span), (&bob_id, bob_span)] {
        let audio = files_of(participant, "camera", "audio");
        assert_eq!(audio.len(), 1, "{participant}: {audio:?}");
        let video = files_of(participant, "camera", "video");
        let mut video_seconds = 0.0;
        for (path, _) in audio.iter().chain(&video) {
            // crccheck: the Ogg pages' CRCs are verified too.
            ffmpeg(&[
                "-err_detect",
                "crccheck",
                "-xerror",
                "-i",
                path.to_str().unwrap(),
                "-f",
                "null",
                "-",
            ]);
            checked += 1;
        }
        within_5_percent(
            &format!("{participant} audio"),
            recorded_seconds(&audio[0].0, 0.02),
            span,
        );
        for (path, _) in &video {
            video_seconds += recorded_seconds(path, 1.0 / 15.0);
        }
        // The stream's duration is its RTP span across files (the SFU keeps the forwarded
        // timestamps continuous over layer switches); the files' own spans add up to it but
        // for the freeze when bob stops his top layer: the SFU waits `encoding_timeout`
        // (1.5 s) before it calls the layer gone, then for a keyframe of the next one.
        let stream_seconds = rtp_span_seconds(&video, 1.0 / 15.0);
        within_5_percent(&format!("{participant} video"), stream_seconds, span);
        let frozen = stream_seconds - video_seconds;
        eprintln!("{participant} video: {frozen:.3} s between files");
        assert!(
            (-0.1..2.5).contains(&frozen),
            "{participant}: {frozen:.3} s of the stream are not in its files"
        );
        let sizes: Vec<(u64, u64)> = video
            .iter()
            .map(|(_, f)| (f["width"].as_u64().unwrap(), f["height"].as_u64().unwrap()))
            .collect();
        eprintln!("{participant} video files: {sizes:?}");
        if *participant == bob_id {
            // The SFU forwarded bob's top encoding (after the bandwidth estimate let it up
            // from a lower one, if it did), and when bob stopped sending it, the next one
            // down: every switch started a file on a keyframe of the new layer.
            let top = sizes.iter().rposition(|s| *s == (320, 240));
            assert!(top.is_some(), "never the top layer: {sizes:?}");
            assert_eq!(sizes.last(), Some(&(160, 120)), "no switch down: {sizes:?}");
            assert!(sizes.windows(2).all(|w| w[0] != w[1]), "{sizes:?}");
        } else {
            assert_eq!(sizes, [(320, 240)], "{sidecar:#}");
        }
    }
    // Alice's screenshare is a stream of its own, in its own file, until she left.
    let streams: Vec<&str> = tracks
        .iter()
        .filter(|t| t["participantId"] == alice_id.as_str() && t["kind"] == "video")
        .filter_map(|t| t["streamId"].as_str())
        .filter(|s| *s != "camera")
        .collect();
    assert_eq!(streams.len(), 1, "{sidecar:#}");
    assert!(streams[0].starts_with("ss-"), "{streams:?}");
    let screen = files_of(&alice_id, streams[0], "video");
    let sizes: Vec<(u64, u64)> = screen
        .iter()
        .map(|(_, f)| (f["width"].as_u64().unwrap(), f["height"].as_u64().unwrap()))
        .collect();
    assert_eq!(sizes, [(480, 270)], "{sidecar:#}");
    ffmpeg(&[
        "-xerror",
        "-i",
        screen[0].0.to_str().unwrap(),
        "-f",
        "null",
        "-",
    ]);
    checked += 1;
    within_5_percent(
        "alice screenshare",
        recorded_seconds(&screen[0].0, 1.0 / 15.0),
        alice_span,
    );
    assert!(checked >= 6, "{checked} files checked");
    // The metrics saw it: nothing running now, bytes written, no failure.
    let metrics = metrics_when(&server, "sfu_recordings_active 0").await;
    assert!(
        metrics.contains("sfu_recording_failures_total 0"),
        "{metrics}"
    );
    let bytes: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("sfu_recording_bytes_written_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the bytes counter");
    assert!(bytes >= on_disk, "{bytes} < {on_disk}");
    if let Err(complaint) = sfu::metrics::promtool_check(&metrics) {
        panic!("promtool check metrics failed:\n{complaint}");
    }
    host.client.leave().await.ok();
    bob.client.leave().await.ok();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_recording_dir_gives_the_error_event() {
    let scratch = scratch("unwritable");
    // A folder cannot be made under a regular file, whoever runs the test (root included).
    let blocker = scratch.0.join("not-a-dir");
    std::fs::write(&blocker, b"x").unwrap();
    let mut config = sfu::Config::ephemeral();
    config.recording_dir = blocker.join("recordings");
    let server = Server::start_with(config).await;
    let mut host = Person::join(&server, "unwritable", "host", "host").await;
    does(&host.client, "start_cloud_recording", json!({})).await;
    match next_recording_event(&mut host.events).await {
        Event::CloudRecordingStarted(s) => {
            let error = s.error.expect("an error");
            assert!(s.started_at.is_none());
            assert!(error.contains("not writable"), "{error}");
        }
        other => panic!("{other:?}"),
    }
    // No crash: the room answers, and a new try is allowed after the error (spec §8.6).
    does(&host.client, "start_cloud_recording", json!({})).await;
    match next_recording_event(&mut host.events).await {
        Event::CloudRecordingStarted(s) => assert!(s.error.is_some()),
        other => panic!("{other:?}"),
    }
    let metrics = metrics_when(&server, "sfu_recordings_active 0").await;
    assert!(
        metrics.contains("sfu_recording_failures_total 2"),
        "{metrics}"
    );
    host.client.leave().await.ok();
    server.stop().await;
}
