//! Real encoder output through the crate and the SFU: Debian's ffmpeg (libvpx) encodes a test
//! clip to IVF; a client publishes its frames with the crate (the `publish_ivf` example's IVF
//! reader); another client receives them. Every received VP8 frame is byte-identical to a frame
//! of the clip, in order, with the keyframe flag the bitstream has and the clip's timestamp
//! spacing, the whole clip arrives, and everything received, written back to IVF, decodes with
//! `ffmpeg -xerror`, which is what a recorder built on the crate would rely on.

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use sfu_client::MediaKind;

use crate::support::{collect, Person, Server};

#[allow(dead_code)] // the example uses the rest of the reader
#[path = "../../examples/publish_ivf/ivf.rs"]
pub(crate) mod ivf;

/// A scratch directory under the system temp dir, removed on drop.
struct Scratch(std::path::PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn ffmpeg(args: &[&str]) -> std::process::Output {
    Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "error"])
        .args(args)
        .output()
        .expect("ffmpeg runs (scripts/test installs Debian's ffmpeg)")
}

/// Writes `frames` as an IVF file of `width`x`height` at 90 kHz.
fn write_ivf(path: &std::path::Path, width: u16, height: u16, frames: &[(u32, Vec<u8>)]) {
    let mut out = Vec::new();
    out.extend_from_slice(b"DKIF");
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&32u16.to_le_bytes());
    out.extend_from_slice(b"VP80");
    out.extend_from_slice(&width.to_le_bytes());
    out.extend_from_slice(&height.to_le_bytes());
    out.extend_from_slice(&90_000u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&(frames.len() as u32).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    let first = frames.first().map_or(0, |f| f.0);
    for (ts, data) in frames {
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&u64::from(ts.wrapping_sub(first)).to_le_bytes());
        out.extend_from_slice(data);
    }
    std::fs::write(path, out).expect("write the IVF");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libvpx_frames_arrive_byte_identical_and_decodable() {
    let dir = std::env::temp_dir().join(format!("sfu-client-vp8-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let scratch = Scratch(dir);
    let clip_path = scratch.0.join("clip.ivf");
    let encoded = ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=320x240:rate=15",
        "-t",
        "4",
        "-c:v",
        "libvpx",
        "-g",
        "15",
        "-b:v",
        "300k",
        "-f",
        "ivf",
        "-y",
        clip_path.to_str().expect("UTF-8 path"),
    ]);
    assert!(
        encoded.status.success(),
        "{}",
        String::from_utf8_lossy(&encoded.stderr)
    );
    let clip = ivf::Ivf::parse(&std::fs::read(&clip_path).expect("read")).expect("an IVF");
    assert_eq!(clip.frames.len(), 60);
    assert!(clip.frames[0].is_keyframe() && !clip.frames[1].is_keyframe());
    let index: HashMap<&[u8], usize> = clip
        .frames
        .iter()
        .enumerate()
        .map(|(i, f)| (f.data.as_slice(), i))
        .collect();

    let server = Server::start().await;
    let mut viewer = Person::join(&server, "real-vp8", "viewer", "viewer").await;
    let camera = Person::join(&server, "real-vp8", "camera", "visitor").await;
    let publisher = camera
        .client
        .publish(sfu_client::PublishOptions::audio_video())
        .await
        .expect("publishes");
    // The clip's first GOP once as a warm-up, then the whole clip, in real time with continuous
    // timestamps. The warm-up is for the subscription: the viewer's video m-line appears once
    // the SFU has the camera's first packets, and a file cannot answer the keyframe request
    // that follows, so the first GOP may not reach the viewer.
    let gop = 15;
    let warm_span = clip.rtp_timestamp(clip.frames[gop].pts);
    let schedule: Vec<(Vec<u8>, u32)> = clip.frames[..gop]
        .iter()
        .map(|f| (f.data.clone(), clip.rtp_timestamp(f.pts)))
        .chain(
            clip.frames
                .iter()
                .map(|f| (f.data.clone(), warm_span + clip.rtp_timestamp(f.pts))),
        )
        .collect();
    let sender = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / 15));
        for (frame, ts) in &schedule {
            tick.tick().await;
            publisher.send_vp8(frame, *ts).await.expect("send");
        }
        publisher
    });
    let got = collect(&mut viewer.frames, Duration::from_secs(7)).await;
    let publisher = sender.await.expect("the sender");
    let all: Vec<_> = got
        .iter()
        .filter(|f| f.kind == MediaKind::Video && f.participant_id == *camera.client.id())
        .collect();
    let arrived: Vec<Option<usize>> = all
        .iter()
        .map(|f| index.get(&f.data[..]).copied())
        .collect();
    assert!(all[0].keyframe, "the stream starts with a keyframe");
    // The whole clip after the warm-up: from the last arrival of frame 0.
    let start = arrived
        .iter()
        .rposition(|i| *i == Some(0))
        .unwrap_or_else(|| panic!("the clip's first keyframe never arrived: {arrived:?}"));
    let video = &all[start..];
    assert!(
        video.len() >= 57,
        "{} of 60 frames arrived: {arrived:?}",
        video.len()
    );
    let mut last: Option<(usize, u32)> = None;
    for f in video {
        let i = *index
            .get(&f.data[..])
            .unwrap_or_else(|| panic!("a frame of {} bytes that was never sent", f.data.len()));
        assert_eq!(f.keyframe, clip.frames[i].is_keyframe(), "frame {i}");
        if let Some((j, ts)) = last {
            assert!(i > j, "frame {i} after {j}");
            let want =
                clip.rtp_timestamp(clip.frames[i].pts) - clip.rtp_timestamp(clip.frames[j].pts);
            assert_eq!(f.rtp_timestamp.wrapping_sub(ts), want, "spacing {j} -> {i}");
        }
        last = Some((i, f.rtp_timestamp));
    }

    // Written back to IVF, what arrived decodes without a single error.
    let out = scratch.0.join("received.ivf");
    let frames: Vec<(u32, Vec<u8>)> = all
        .iter()
        .map(|f| (f.rtp_timestamp, f.data.to_vec()))
        .collect();
    write_ivf(&out, 320, 240, &frames);
    let decoded = ffmpeg(&[
        "-xerror",
        "-i",
        out.to_str().expect("UTF-8 path"),
        "-f",
        "null",
        "-",
    ]);
    assert!(
        decoded.status.success(),
        "{}",
        String::from_utf8_lossy(&decoded.stderr)
    );
    assert!(
        decoded.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&decoded.stderr)
    );

    publisher.close().await;
    viewer.close().await;
    camera.close().await;
    server.stop().await;
}
