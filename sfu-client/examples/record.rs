//! Records a room with the crate's recorder (the one the SFU runs for
//! `start_cloud_recording`), for a while, and prints the process's CPU time; with `listen`
//! it only receives the same streams, without writing: the baseline that shows what writing
//! costs (benches/RESULTS.md "Recorder CPU per recorded stream").
//!
//! ```text
//! cargo run --release -p sfu-client --example record -- ws://127.0.0.1:7880 standup 30 record /tmp/rec
//! cargo run --release -p sfu-client --example record -- ws://127.0.0.1:7880 standup 30 listen
//! ```

use std::collections::BTreeSet;
use std::time::Duration;

use sfu_client::recorder::{record, RecorderOptions, RecorderReport};
use sfu_client::{Client, ClientError, JoinOptions};
use tokio::sync::{mpsc, oneshot};

/// User + system CPU seconds of this process so far (Linux `/proc/self/stat`, 100 ticks/s).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the `)`.
    (ticks(11) + ticks(12)) as f64 / 100.0
}

#[tokio::main]
async fn main() -> Result<(), ClientError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (url, room, seconds, mode, root) = match args.as_slice() {
        [url, room, seconds, mode] => (url, room, seconds, mode, None),
        [url, room, seconds, mode, root] => (url, room, seconds, mode, Some(root)),
        _ => {
            eprintln!("usage: record WS_URL ROOM SECONDS record|listen [DIR]");
            std::process::exit(2);
        }
    };
    let seconds: u64 = seconds
        .parse()
        .map_err(|_| ClientError::Protocol(format!("{seconds}: not a number of seconds")))?;
    let identity = format!("recorder-{}", std::process::id());
    // A visitor hears every stream of the main room, as the `recorder` role does; that role is
    // the SFU's own recorder's (it joins for a requested recording only, one per room).
    let token = sfu_client::signalling::fetch_dev_token(url, room, &identity, "visitor").await?;
    let window = Duration::from_secs(seconds);
    match mode.as_str() {
        "record" => {
            let root = root.map_or_else(|| std::env::temp_dir().join("sfu-record"), Into::into);
            let options = RecorderOptions {
                url: url.clone(),
                room: room.clone(),
                token,
                root,
            };
            let (reports_tx, mut reports) = mpsc::unbounded_channel();
            let (stop_tx, stop_rx) = oneshot::channel();
            let task = tokio::spawn(record(options, reports_tx, stop_rx));
            let mut bytes = 0u64;
            let mut started = None;
            let until = tokio::time::Instant::now() + window;
            loop {
                match tokio::time::timeout_at(until, reports.recv()).await {
                    Ok(Some(RecorderReport::Wrote(n))) => bytes += n,
                    Ok(Some(RecorderReport::Started(dir))) => {
                        started = Some(cpu_seconds());
                        eprintln!("recording into {}", dir.display());
                    }
                    Ok(Some(RecorderReport::Failed(reason))) => {
                        return Err(ClientError::Protocol(reason));
                    }
                    Ok(Some(RecorderReport::Closed)) | Ok(None) => break,
                    Err(_) => break,
                }
            }
            let cpu = cpu_seconds() - started.unwrap_or(0.0);
            let (closed_tx, closed) = oneshot::channel();
            let _ = stop_tx.send(closed_tx);
            let _ = closed.await;
            let _ = task.await;
            println!("mode=record seconds={seconds} cpu_s={cpu:.2} bytes={bytes}");
        }
        "listen" => {
            let (client, _events) =
                Client::join(JoinOptions::new(url, room, &token, "Listener")).await?;
            let mut frames = client.take_frames().expect("receiving is on by default");
            let mut streams = BTreeSet::new();
            let mut bytes = 0u64;
            let mut start = None;
            let until = tokio::time::Instant::now() + window;
            while let Ok(Some(frame)) = tokio::time::timeout_at(until, frames.recv()).await {
                start.get_or_insert_with(cpu_seconds);
                streams.insert((
                    frame.participant_id.clone(),
                    frame.stream_id.clone(),
                    frame.kind == sfu_client::MediaKind::Video,
                ));
                bytes += frame.data.len() as u64;
            }
            let cpu = cpu_seconds() - start.unwrap_or(0.0);
            println!(
                "mode=listen seconds={seconds} cpu_s={cpu:.2} bytes={bytes} streams={}",
                streams.len()
            );
            let _ = client.leave().await;
        }
        other => {
            eprintln!("{other}: record or listen");
            std::process::exit(2);
        }
    }
    Ok(())
}
