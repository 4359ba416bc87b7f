//! Publishes a VP8 file through the client crate: every frame of an IVF file (real encoder
//! output, for example `ffmpeg -f lavfi -i testsrc=size=640x360:rate=30 -t 20 -c:v libvpx -g 30
//! -f ivf clip.ivf`) at its own pace, looped, with Opus silence on the microphone. A file
//! cannot make a keyframe on request, so the SFU's requests wait for the clip's next one
//! (encode it with a short keyframe interval, `-g`).
//!
//! ```text
//! cargo run -p sfu-client --example publish_ivf -- ws://127.0.0.1:7880 standup dev clip.ivf
//! ```

mod ivf;

use std::time::{Duration, Instant};

use sfu_client::{Client, ClientError, JoinOptions, PublishOptions, Publisher};

/// An Opus packet of 20 ms of silence (CELT fullband, mono).
const OPUS_SILENCE: [u8; 3] = [0xF8, 0xFF, 0xFE];

#[tokio::main]
async fn main() -> Result<(), ClientError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, room, token, file] = args.as_slice() else {
        eprintln!("usage: publish_ivf WS_URL ROOM TOKEN|dev FILE.ivf");
        std::process::exit(2);
    };
    let bytes = std::fs::read(file).map_err(|e| ClientError::Protocol(format!("{file}: {e}")))?;
    let clip =
        ivf::Ivf::parse(&bytes).map_err(|e| ClientError::Protocol(format!("{file}: {e}")))?;
    let token = if token == "dev" {
        let identity = format!("publisher-{}", std::process::id());
        sfu_client::signalling::fetch_dev_token(url, room, &identity, "visitor").await?
    } else {
        token.clone()
    };
    let options = JoinOptions {
        receive: false,
        ..JoinOptions::new(url, room, &token, "IVF clip")
    };
    let (client, _events) = Client::join(options).await?;
    let publisher = client.publish(PublishOptions::audio_video()).await?;
    println!(
        "publishing {} frames ({} keyframes) of {file} as {}, looped",
        clip.frames.len(),
        clip.frames.iter().filter(|f| f.is_keyframe()).count(),
        client.id()
    );
    // Each loop continues the RTP timestamps where the last one ended, plus one frame.
    let last = clip.frames.last().map_or(0, |f| f.pts);
    let loop_span = clip
        .rtp_timestamp(last)
        .wrapping_add(clip.rtp_timestamp(1).max(1));
    let mut base = 0u32;
    loop {
        play(&publisher, &clip, base).await?;
        base = base.wrapping_add(loop_span);
    }
}

/// Sends the clip's frames at their timestamps (RTP timestamps continuing from `base`) with
/// 20 ms Opus packets in between.
async fn play(publisher: &Publisher, clip: &ivf::Ivf, base: u32) -> Result<(), ClientError> {
    let start = Instant::now();
    let mut next_audio = Duration::ZERO;
    for frame in &clip.frames {
        let due = clip.offset(frame.pts);
        while next_audio < due {
            tokio::time::sleep_until((start + next_audio).into()).await;
            publisher.send_opus(&OPUS_SILENCE, 960).await?;
            next_audio += Duration::from_millis(20);
        }
        tokio::time::sleep_until((start + due).into()).await;
        publisher
            .send_vp8(
                &frame.data,
                base.wrapping_add(clip.rtp_timestamp(frame.pts)),
            )
            .await?;
    }
    Ok(())
}
