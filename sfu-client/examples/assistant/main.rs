//! An assistant participant built on the client crate (issue 20): it joins with an
//! `assistant` token, speaks (Opus comfort noise: a real one would synthesise speech), hears
//! every participant of its location separately, and answers `!talk` in chat with each
//! speaker's talk time. Assign it to a breakout group like a person and it serves that group.
//!
//! ```text
//! cargo run --release -p sfu &                        # a development server on :7880
//! cargo run -p sfu-client --example assistant -- ws://127.0.0.1:7880 standup dev
//! cargo run -p sfu-client --example assistant -- ws://127.0.0.1:7880 standup "$(sfu token create --room standup --identity bot-1 --role assistant ...)"
//! ```
//!
//! With `dev` as the token, it asks the development server's `/dev/token` for one.

mod assistant_loop;
mod talk_time;

use std::time::Duration;

use sfu_client::{Client, ClientError, JoinOptions, Location, PublishOptions};

/// An Opus packet of 20 ms of silence (CELT fullband, mono): what the assistant "says".
const OPUS_SILENCE: [u8; 3] = [0xF8, 0xFF, 0xFE];

#[tokio::main]
async fn main() -> Result<(), ClientError> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, room, token] = args.as_slice() else {
        eprintln!("usage: assistant WS_URL ROOM TOKEN|dev");
        std::process::exit(2);
    };
    let token = if token == "dev" {
        let identity = format!("assistant-{}", std::process::id());
        sfu_client::signalling::fetch_dev_token(url, room, &identity, "assistant").await?
    } else {
        token.clone()
    };
    let (client, events) = Client::join(JoinOptions::new(url, room, &token, "Assistant")).await?;
    let frames = client
        .take_frames()
        .ok_or_else(|| ClientError::Protocol("no frames".into()))?;
    println!(
        "joined {room} as {} in {}",
        client.id(),
        label(&client.location())
    );
    let publisher = client.publish(PublishOptions::audio_only()).await?;
    let speaker = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        loop {
            tick.tick().await;
            if publisher.send_opus(&OPUS_SILENCE, 960).await.is_err() {
                break;
            }
        }
    });
    let (stop_tx, stop) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        let _ = stop_tx.send(());
    });
    let heard = assistant_loop::run(&client, events, frames, stop).await?;
    println!(
        "heard {} speakers; {}",
        heard.by_speaker().len(),
        heard.summary(&client.roster())
    );
    speaker.abort();
    client.leave().await
}

/// Where the assistant is, as a short label for its log lines.
fn label(location: &Location) -> String {
    match location {
        Location::Main => "the main room".to_owned(),
        Location::Session(id) => format!("breakout session {}", id.0),
    }
}
