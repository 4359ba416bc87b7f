//! Level-2 scenarios: keyframe requests from subscribers reach the publisher through one
//! throttle per encoding (DECISIONS.md §8, STYLE.md rule 8).

use std::time::{Duration, Instant};

use sfu::core::testing::TestRoom;
use sfu::core::{EncodingIdx, KeyframeKind, Layer, PublicationId};

use crate::support::common::*;

/// The keyframe requests for `publication` sent at or after `since`: (time since `since`,
/// encoding, kind).
fn requests_since(
    r: &TestRoom,
    publication: PublicationId,
    since: Instant,
) -> Vec<(Duration, u8, KeyframeKind)> {
    r.keyframe_requests
        .iter()
        .filter(|(at, pubid, _, _)| *pubid == publication && *at >= since)
        .map(|(at, _, e, k)| (*at - since, e.0, *k))
        .collect()
}

// PLIs from many subscribers at once reach the publisher as one request; more PLIs inside
// the interval are merged into one request sent when the interval ends, and that one is
// retried once after 1 s when no keyframe comes.
#[test]
fn pli_from_many_subscribers_is_merged_per_encoding() {
    let mut r = room(6);
    r.run_for(ms(2000));
    r.honour_keyframe_requests = false;
    let (video, _) = r.camera(p(1));
    let t = r.now;
    for s in 2..=6 {
        r.feedback(p(s), p(1), KeyframeKind::Pli);
    }
    assert_eq!(
        requests_since(&r, video, t),
        [(ms(0), 2, KeyframeKind::Pli)],
        "one request at once for the encoding all five receive"
    );
    r.run_for(ms(100));
    for s in 2..=6 {
        r.feedback(p(s), p(1), KeyframeKind::Pli);
    }
    r.run_for(ms(400));
    r.feedback(p(3), p(1), KeyframeKind::Fir);
    r.run_for(ms(4000));
    assert_eq!(
        requests_since(&r, video, t),
        [
            (ms(0), 2, KeyframeKind::Pli),
            (ms(1000), 2, KeyframeKind::Fir),
            (ms(2000), 2, KeyframeKind::Pli),
        ],
        "merged request (FIR wins) at the end of the interval, then one retry"
    );
    assert_eq!(r.core.stats().keyframe_feedback_in, 11);
}

// A single PLI without any keyframe in answer is sent once and retried exactly once, 1 s later.
#[test]
fn pli_is_retried_once_without_keyframe() {
    let mut r = room(2);
    r.run_for(ms(2000));
    r.honour_keyframe_requests = false;
    let (video, _) = r.camera(p(1));
    let t = r.now;
    r.feedback(p(2), p(1), KeyframeKind::Pli);
    r.run_for(ms(5000));
    assert_eq!(
        requests_since(&r, video, t),
        [
            (ms(0), 2, KeyframeKind::Pli),
            (ms(1000), 2, KeyframeKind::Pli)
        ]
    );
}

// When the publisher answers with a keyframe, the retry is cancelled: one request in all.
#[test]
fn keyframe_cancels_the_retry() {
    let mut r = room(3);
    r.run_for(ms(2000));
    let (video, _) = r.camera(p(1));
    let t = r.now;
    r.feedback(p(2), p(1), KeyframeKind::Pli);
    r.feedback(p(3), p(1), KeyframeKind::Pli);
    r.run_for(ms(3000));
    assert_eq!(
        requests_since(&r, video, t),
        [(ms(0), 2, KeyframeKind::Pli)]
    );
    assert!(r.core.stats().keyframe_requests_suppressed >= 1);
}

// Subscribers on different encodings each get their encoding's request: the throttle is per
// encoding, not per publication.
#[test]
fn pli_is_throttled_per_encoding() {
    let mut r = room(3);
    let low = r.subscription(p(3), p(1), true);
    r.core
        .set_requested(r.now, low, Some(Layer::new(0, 2)))
        .unwrap();
    r.drain();
    r.run_for(ms(2000));
    assert_eq!(r.core.layers(low).unwrap().current, Some(Layer::new(0, 2)));
    r.honour_keyframe_requests = false;
    let (video, _) = r.camera(p(1));
    let t = r.now;
    r.feedback(p(2), p(1), KeyframeKind::Pli);
    r.feedback(p(3), p(1), KeyframeKind::Pli);
    r.run_for(ms(300));
    r.feedback(p(2), p(1), KeyframeKind::Pli);
    r.feedback(p(3), p(1), KeyframeKind::Pli);
    let mut got = requests_since(&r, video, t);
    got.sort();
    assert_eq!(
        got,
        [(ms(0), 0, KeyframeKind::Pli), (ms(0), 2, KeyframeKind::Pli)],
        "one immediate request per encoding, the second round merged"
    );
}

// Over a long run with subscribers sending PLIs every 100 ms, no two requests for one encoding
// are ever closer than 1 s.
#[test]
fn pli_storm_never_exceeds_one_request_per_second() {
    let mut r = room(4);
    r.run_for(ms(1000));
    for round in 0..100u64 {
        let s = 2 + round % 3;
        r.feedback(p(s), p(1), KeyframeKind::Pli);
        r.run_for(ms(100));
    }
    let (video, _) = r.camera(p(1));
    let mut last: [Option<Instant>; 3] = [None; 3];
    let mut n = 0;
    for (at, pubid, EncodingIdx(e), _) in &r.keyframe_requests {
        if *pubid != video {
            continue;
        }
        n += 1;
        if let Some(prev) = last[usize::from(*e)] {
            assert!(
                *at - prev >= ms(1000),
                "two requests {:?} apart",
                *at - prev
            );
        }
        last[usize::from(*e)] = Some(*at);
    }
    assert!(
        n >= 9,
        "the storm is still answered about once a second, got {n}"
    );
}

// A PLI/FIR naming an audio subscription (bogus feedback from a client) is counted but never
// becomes a keyframe request to the publisher. Found by `prop_core`.
#[test]
fn pli_on_audio_subscription_is_ignored() {
    let mut r = room(2);
    r.run_for(ms(2000));
    let (_, audio) = r.camera(p(1));
    let sid = r.subscription(p(2), p(1), false);
    let feedback_in = r.core.stats().keyframe_feedback_in;
    for kind in [KeyframeKind::Pli, KeyframeKind::Fir] {
        r.core.handle_input(sfu::core::Input::Feedback {
            at: r.now,
            subscription: sid,
            kind,
        });
    }
    r.drain();
    r.run_for(ms(2000));
    assert_eq!(r.core.stats().keyframe_feedback_in, feedback_in + 2);
    assert!(requests_since(&r, audio, r.now - ms(5000)).is_empty());
}

// Issue 13, goal 3: subscribers whose transports connect one after another (here 40, one every
// 50 ms, while the publisher's periodic keyframe is far away) each get their first video
// keyframe within about 1 s of connecting: every connect asks for a keyframe, the throttle
// merges them to at most one request per second per encoding, and no one is starved.
#[test]
fn joining_subscribers_get_a_keyframe_within_1s_of_connecting() {
    let n = 41;
    let mut r = start();
    for i in 1..=n {
        r.join(p(i), sfu::core::Location::Main);
    }
    r.publish_camera(p(1), 3);
    r.subscribe_all();
    r.run_for(ms(2000));
    let (video, _) = r.camera(p(1));
    let t = r.now;
    let mut connected_at = Vec::new();
    for s in 2..=n {
        r.connect(p(s));
        connected_at.push((s, r.now));
        r.run_for(ms(50));
    }
    r.run_for(ms(2000));
    let requests = requests_since(&r, video, t);
    // At most one request per second per encoding over the 2 s of joins (and one retry).
    for e in 0..3u8 {
        let times: Vec<Duration> = requests
            .iter()
            .filter(|(_, enc, _)| *enc == e)
            .map(|(d, _, _)| *d)
            .collect();
        for w in times.windows(2) {
            assert!(w[1] - w[0] >= ms(1000), "encoding {e}: {times:?}");
        }
    }
    assert!(!requests.is_empty(), "the joins asked for keyframes");
    let mut slowest = Duration::ZERO;
    for (s, at) in connected_at {
        let rx = r.received_by(p(s), p(1), true);
        let first_key = rx
            .iter()
            .find(|x| x.at >= at && x.keyframe)
            .map(|x| x.at - at);
        slowest = slowest.max(first_key.unwrap_or(Duration::MAX));
        assert!(
            first_key.is_some_and(|d| d <= ms(1100)),
            "subscriber {s}: first keyframe {first_key:?} after connecting"
        );
        // Nothing but that keyframe starts the stream after the connect.
        let first = rx.iter().find(|x| x.at >= at).expect("video after connect");
        assert!(first.keyframe, "subscriber {s}: restarts on a keyframe");
    }
    eprintln!(
        "figure: {} joins, {} keyframe requests to the publisher, slowest first keyframe \
         {slowest:?} after connecting",
        n - 1,
        requests.len()
    );
}
