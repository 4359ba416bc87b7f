//! Live transcription end to end (issue 20 item 4): the server's transcriber hears every
//! location through one `captioner` tap and runs the configured engine once per utterance.
//! The engine here is a stub shell script the test writes: it reads the Ogg/Opus utterance on
//! stdin and prints which speaker marker the audio carries and in how many packets (the test
//! speakers write `who=<name>;` into their Opus packets), so each caption is derived from the
//! audio the engine got. Two breakout groups with a speaker and a listener each, and a host
//! speaking in the main room: every listener gets the captions of its own location only, each
//! caption names the participant whose audio it came from. An engine that cannot start gives
//! `live_transcription_started {error}` and the server goes on.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;
use sfu_client::{Event, EventStream, Location, Publisher};
use signalling_proto::Caption;

use crate::support::{breakout_sessions, does, opus_packet, Person, Server, DEADLINE};

/// The stub engine: `heard <name> packets=<n>` for each speaker marker in the audio.
const STUB_ENGINE: &str = "#!/bin/sh\n\
grep -a -o 'who=[a-z0-9-]*' | sort | uniq -c | \
awk '{ print \"heard \" substr($2, 5) \" packets=\" $1 }'\n";

struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn stub_engine() -> (Scratch, PathBuf) {
    engine_script("stub", STUB_ENGINE)
}

/// An executable script `text` in a scratch folder of its own.
fn engine_script(name: &str, text: &str) -> (Scratch, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("sfu-tx-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let path = dir.join("engine.sh");
    std::fs::write(&path, text).expect("write the stub");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    (Scratch(dir), path)
}

/// Talks in bursts: 1 s of packets (50), then 1.5 s of silence, so the transcriber cuts an
/// utterance at each pause.
fn talk_in_bursts(name: String, publisher: Publisher) -> tokio::task::JoinHandle<()> {
    talk(name, publisher, 50)
}

/// Bursts of `packets` 20 ms packets, each followed by 1.5 s of silence.
fn talk(name: String, publisher: Publisher, packets: u32) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut n = 0u32;
        loop {
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            for _ in 0..packets {
                tick.tick().await;
                n += 1;
                if publisher
                    .send_opus(&opus_packet(&name, n), 960)
                    .await
                    .is_err()
                {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(1500)).await;
        }
    })
}

async fn until_located(p: &Person, at: &Location) {
    let deadline = Instant::now() + DEADLINE;
    while p.client.location() != *at {
        assert!(Instant::now() < deadline, "{} never reached {at:?}", p.name);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The captions among `events` over `window`.
async fn captions(events: &mut EventStream, window: Duration) -> Vec<Caption> {
    let until = Instant::now() + window;
    let mut got = Vec::new();
    while let Ok(Some(event)) = tokio::time::timeout_at(until.into(), events.recv()).await {
        if let Event::Caption(c) = event {
            got.push(c);
        }
    }
    got
}

async fn transcription_started(events: &mut EventStream) -> signalling_proto::TranscriptionStarted {
    let until = Instant::now() + DEADLINE;
    loop {
        match tokio::time::timeout_at(until.into(), events.recv()).await {
            Ok(Some(Event::LiveTranscriptionStarted(s))) => return s,
            Ok(Some(_)) => {}
            other => panic!("no live_transcription_started: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn captions_go_to_the_speakers_location_only() {
    let (_scratch, engine) = stub_engine();
    let mut config = sfu::Config::ephemeral();
    config.transcription_command = Some(engine.to_string_lossy().into_owned());
    let server = Server::start_with(config).await;
    let room = "captioned";
    let mut host = Person::join(&server, room, "host", "host").await;
    let a1 = Person::join(&server, room, "a1", "visitor").await;
    let mut a2 = Person::join(&server, room, "a2", "visitor").await;
    let b1 = Person::join(&server, room, "b1", "visitor").await;
    let mut b2 = Person::join(&server, room, "b2", "visitor").await;

    let sessions = breakout_sessions(&host.client, 2).await;
    let id = |p: &Person| p.client.id().0.clone();
    does(
        &host.client,
        "breakout_assign",
        json!({"assignments": [
            {"sessionId": sessions[0], "participantIds": [id(&a1), id(&a2)]},
            {"sessionId": sessions[1], "participantIds": [id(&b1), id(&b2)]},
        ]}),
    )
    .await;
    does(
        &host.client,
        "breakout_start",
        json!({"config": {"moveGracePeriod": 0, "autoMoveAssigned": true}}),
    )
    .await;
    let group_a: Location = serde_json::from_value(json!(sessions[0])).expect("a location");
    let group_b: Location = serde_json::from_value(json!(sessions[1])).expect("a location");
    for (p, at) in [
        (&a1, &group_a),
        (&a2, &group_a),
        (&b1, &group_b),
        (&b2, &group_b),
    ] {
        until_located(p, at).await;
    }

    does(&host.client, "start_live_transcription", json!({})).await;
    let started = transcription_started(&mut host.events).await;
    assert!(
        started.error.is_none() && started.transcription_id.is_some(),
        "{started:?}"
    );

    let mut speakers = Vec::new();
    for p in [&host, &a1, &b1] {
        let publisher = p
            .client
            .publish(sfu_client::PublishOptions::audio_only())
            .await
            .expect("publishes");
        speakers.push(talk_in_bursts(p.name.clone(), publisher));
    }

    let window = Duration::from_secs(8);
    let (to_a2, to_b2, to_host) = tokio::join!(
        captions(&mut a2.events, window),
        captions(&mut b2.events, window),
        captions(&mut host.events, window),
    );
    for (listener, got, speaker) in [
        ("a2", &to_a2, &a1),
        ("b2", &to_b2, &b1),
        ("host", &to_host, &host),
    ] {
        eprintln!(
            "{listener}: {:?}",
            got.iter().map(|c| &c.text).collect::<Vec<_>>()
        );
        assert!(got.len() >= 2, "{listener} got {} captions", got.len());
        let from: BTreeSet<_> = got.iter().map(|c| c.participant_id.clone()).collect();
        assert_eq!(
            from,
            BTreeSet::from([speaker.client.id().clone()]),
            "{listener} got captions of another location"
        );
        for c in got.iter() {
            // The text is what the engine found in the audio: the speaker's own marker, in
            // about one burst of packets (50; the first may be cut short by the start).
            let words: Vec<&str> = c.text.split_whitespace().collect();
            assert_eq!(words.len(), 3, "{}", c.text);
            assert_eq!(words[0], "heard");
            assert_eq!(words[1], speaker.name, "{listener}: {}", c.text);
            let packets: u32 = words[2]
                .strip_prefix("packets=")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{}", c.text));
            assert!((1..=50).contains(&packets), "{}", c.text);
            assert_eq!(c.display_name, speaker.name);
            assert_eq!(c.stream_id.as_str(), "camera");
            assert_eq!(c.transcription_id, started.transcription_id);
        }
        // Whole bursts arrive as one utterance each.
        assert!(
            got.iter().any(|c| c.text.ends_with("packets=50")),
            "{listener}: {:?}",
            got.iter().map(|c| &c.text).collect::<Vec<_>>()
        );
    }

    does(&host.client, "stop_live_transcription", json!({})).await;
    let metrics = metrics_text(&server).await;
    for prefix in [
        "sfu_transcription_captions_total ",
        "sfu_transcription_audio_seconds_total ",
    ] {
        let value: f64 = metric(&metrics, prefix);
        assert!(value > 0.0, "{prefix}: {metrics}");
    }
    assert_eq!(metric(&metrics, "sfu_transcription_failures_total "), 0.0);
    for s in speakers {
        s.abort();
    }
    for p in [host, a1, a2, b1, b2] {
        p.close().await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_that_cannot_start_is_an_error_event() {
    let mut config = sfu::Config::ephemeral();
    config.transcription_command = Some("/nonexistent/whisper-wrapper --model base".into());
    let server = Server::start_with(config).await;
    let room = "uncaptioned";
    let mut host = Person::join(&server, room, "host", "host").await;
    does(&host.client, "start_live_transcription", json!({})).await;
    let started = transcription_started(&mut host.events).await;
    let error = started.error.expect("an error");
    assert!(
        error.contains("/nonexistent/whisper-wrapper") && error.contains("cannot start"),
        "{error}"
    );
    assert!(started.started_at.is_none());
    // No crash: the room answers, and a new request may be made.
    does(
        &host.client,
        "send_chat_message",
        json!({"text": "still here"}),
    )
    .await;
    does(&host.client, "start_live_transcription", json!({})).await;
    assert!(transcription_started(&mut host.events)
        .await
        .error
        .is_some());
    let metrics = metrics_text(&server).await;
    assert_eq!(metric(&metrics, "sfu_transcription_failures_total "), 2.0);
    assert_eq!(metric(&metrics, "sfu_transcriptions_active "), 0.0);
    host.close().await;
    server.stop().await;
}

async fn metrics_text(server: &Server) -> String {
    let url = format!("{}/metrics", sfu_client::http_get::http_base(&server.url));
    let (status, body) = sfu_client::http_get::get(&url).await.expect("/metrics");
    assert_eq!(status, 200);
    body
}

fn metric(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {prefix} in {text}"))
}

/// A meeting of one host who talks in short bursts (an utterance every ~1.7 s), transcribed by
/// `engine`; the host's events and the server.
async fn short_bursts_with(
    engine: &Path,
    room: &str,
) -> (Server, Person, tokio::task::JoinHandle<()>) {
    let mut config = sfu::Config::ephemeral();
    config.transcription_command = Some(engine.to_string_lossy().into_owned());
    let server = Server::start_with(config).await;
    let mut host = Person::join(&server, room, "host", "host").await;
    does(&host.client, "start_live_transcription", json!({})).await;
    let started = transcription_started(&mut host.events).await;
    assert!(started.error.is_none(), "{started:?}");
    let publisher = host
        .client
        .publish(sfu_client::PublishOptions::audio_only())
        .await
        .expect("publishes");
    let speaker = talk("host".into(), publisher, 10);
    (server, host, speaker)
}

// An engine slower than the speaker: one run at a time, two utterances wait, the rest are
// dropped and counted; the slow answers still come back as captions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_engine_drops_utterances_and_counts_them() {
    let (_scratch, engine) = engine_script(
        "slow",
        "#!/bin/sh\ncat >/dev/null\nsleep 6\necho slow answer\n",
    );
    let (server, mut host, speaker) = short_bursts_with(&engine, "slow-engine").await;
    let until = Instant::now() + DEADLINE;
    let dropped = loop {
        let metrics = metrics_text(&server).await;
        let dropped = metric(&metrics, "sfu_transcription_utterances_dropped_total ");
        if dropped >= 1.0 || Instant::now() > until {
            break dropped;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(dropped >= 1.0, "nothing dropped");
    let got = captions(&mut host.events, Duration::from_secs(8)).await;
    assert!(
        got.iter().any(|c| c.text == "slow answer"),
        "{:?}",
        got.iter().map(|c| &c.text).collect::<Vec<_>>()
    );
    speaker.abort();
    host.close().await;
    server.stop().await;
}

// An engine that runs but fails (exit status 1) three times in a row ends the transcription
// with the error event; the server goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_that_keeps_failing_is_an_error_event() {
    let (_scratch, engine) = engine_script(
        "failing",
        "#!/bin/sh\ncat >/dev/null\necho no model >&2\nexit 1\n",
    );
    let (server, mut host, speaker) = short_bursts_with(&engine, "failing-engine").await;
    let failed = transcription_started(&mut host.events).await;
    let error = failed.error.expect("an error");
    assert!(
        error.contains("3 times in a row") && error.contains("exit status: 1"),
        "{error}"
    );
    let metrics = metrics_text(&server).await;
    assert_eq!(metric(&metrics, "sfu_transcription_failures_total "), 3.0);
    does(
        &host.client,
        "send_chat_message",
        json!({"text": "still here"}),
    )
    .await;
    speaker.abort();
    host.close().await;
    server.stop().await;
}

/// A transcription endpoint on 127.0.0.1: it answers each POST with `heard <name>
/// packets=<n>` for the speaker markers in the Ogg/Opus body (or with `status`), and keeps the
/// `sfu-participant-id` header and the first marker of each request.
async fn http_engine(
    status: u16,
) -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>,
) {
    use axum::body::Bytes;
    use axum::http::{HeaderMap, StatusCode};
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = std::sync::Arc::clone(&seen);
    let handler = move |headers: HeaderMap, body: Bytes| {
        let log = std::sync::Arc::clone(&log);
        async move {
            let text = String::from_utf8_lossy(&body);
            let mut counts = std::collections::BTreeMap::<String, u32>::new();
            for part in text.split("who=").skip(1) {
                let name: String = part
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .collect();
                *counts.entry(name).or_default() += 1;
            }
            let header = headers
                .get("sfu-participant-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let first = counts.keys().next().cloned().unwrap_or_default();
            log.lock().unwrap().push((header, first));
            let answer: String = counts
                .iter()
                .map(|(name, n)| format!("heard {name} packets={n}\n"))
                .collect();
            (StatusCode::from_u16(status).unwrap(), answer)
        }
    };
    let app = axum::Router::new().route("/asr", axum::routing::post(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/asr"), seen)
}

// The HTTP engine: one POST per utterance, the answer's lines are the captions, each derived
// from the audio of the participant the request names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_endpoint_transcribes_each_speaker() {
    let (url, seen) = http_engine(200).await;
    let mut config = sfu::Config::ephemeral();
    config.transcription_url = Some(url);
    let server = Server::start_with(config).await;
    let room = "http-captions";
    let mut host = Person::join(&server, room, "host", "host").await;
    let ada = Person::join(&server, room, "ada", "visitor").await;
    let mut cy = Person::join(&server, room, "cy", "visitor").await;
    does(&host.client, "start_live_transcription", json!({})).await;
    assert!(transcription_started(&mut host.events)
        .await
        .error
        .is_none());
    let mut speakers = Vec::new();
    for p in [&host, &ada] {
        let publisher = p
            .client
            .publish(sfu_client::PublishOptions::audio_only())
            .await
            .expect("publishes");
        speakers.push(talk_in_bursts(p.name.clone(), publisher));
    }
    let got = captions(&mut cy.events, Duration::from_secs(6)).await;
    let names = [(&host, "host"), (&ada, "ada")];
    for (p, name) in names {
        let theirs: Vec<&Caption> = got
            .iter()
            .filter(|c| c.participant_id == *p.client.id())
            .collect();
        assert!(!theirs.is_empty(), "no caption of {name}: {got:?}");
        for c in theirs {
            assert!(
                c.text.starts_with(&format!("heard {name} packets=")),
                "{}",
                c.text
            );
        }
    }
    // Each request named the speaker whose audio it carried.
    let ids: std::collections::BTreeMap<&str, &str> = names
        .iter()
        .map(|(p, name)| (*name, p.client.id().as_str()))
        .collect();
    for (header, marker) in seen.lock().unwrap().iter() {
        assert_eq!(
            Some(&header.as_str()),
            ids.get(marker.as_str()),
            "{header} {marker}"
        );
    }
    for s in speakers {
        s.abort();
    }
    for p in [host, ada, cy] {
        p.close().await;
    }
    server.stop().await;
}

// An endpoint that answers 500 three times in a row is the error event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_http_endpoint_is_an_error_event() {
    let (url, _) = http_engine(500).await;
    let mut config = sfu::Config::ephemeral();
    config.transcription_url = Some(url);
    let server = Server::start_with(config).await;
    let mut host = Person::join(&server, "http-failing", "host", "host").await;
    does(&host.client, "start_live_transcription", json!({})).await;
    assert!(transcription_started(&mut host.events)
        .await
        .error
        .is_none());
    let publisher = host
        .client
        .publish(sfu_client::PublishOptions::audio_only())
        .await
        .expect("publishes");
    let speaker = talk("host".into(), publisher, 10);
    let error = transcription_started(&mut host.events)
        .await
        .error
        .expect("an error");
    assert!(error.contains("HTTP 500"), "{error}");
    speaker.abort();
    host.close().await;
    server.stop().await;
}
