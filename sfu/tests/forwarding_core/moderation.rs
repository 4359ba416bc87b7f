//! Level-2 scenarios: the server-side moderation gates (spec §13.7) and participants leaving
//! (spec §13.8): what stops, what resumes, and that stale ids are refused, never a panic.

use sfu::core::{
    Bitrate, CoreError, DropReason, EncodingIdx, Input, KeyframeKind, Layer, Location,
};

use crate::support::common::*;

// Closing a member's video gate stops its video to everyone (counted as GateClosed) while its
// audio keeps flowing; reopening resumes video on a keyframe with the sequence continued.
#[test]
fn video_gate_stops_and_resumes_on_keyframe() {
    let mut r = room(3);
    r.run_for(ms(1000));
    r.policy.members.get_mut(&p(1)).unwrap().video_enabled = false;
    r.install();
    let closed = r.now;
    let gate_drops = r.core.stats().drops(DropReason::GateClosed);
    r.run_for(ms(2000));
    assert!(r.core.stats().drops(DropReason::GateClosed) > gate_drops + 50);
    for s in [2, 3] {
        assert!(
            after(r.received_by(p(s), p(1), true), closed).is_empty(),
            "{s} video"
        );
        assert!(
            after(r.received_by(p(s), p(1), false), closed).len() >= 90,
            "{s} audio"
        );
        let other = 5 - s; // the other subscriber, whose gate is open
        assert!(!after(r.received_by(p(s), p(other), true), closed).is_empty());
    }

    r.policy.members.get_mut(&p(1)).unwrap().video_enabled = true;
    r.install();
    let opened = r.now;
    r.run_for(ms(1000));
    for s in [2, 3] {
        let rx = r.received_by(p(s), p(1), true);
        let resumed = after(rx, opened);
        assert!(!resumed.is_empty(), "{s} video resumes");
        assert!(resumed[0].keyframe, "{s} resumes on a keyframe");
        assert_contiguous(rx);
    }
}

// Closing the audio gate stops audio to everyone and leaves video alone; reopening resumes it.
#[test]
fn audio_gate_stops_and_resumes() {
    let mut r = room(3);
    r.run_for(ms(1000));
    r.policy.members.get_mut(&p(2)).unwrap().audio_enabled = false;
    r.install();
    let closed = r.now;
    let gate_drops = r.core.stats().drops(DropReason::GateClosed);
    r.run_for(ms(1000));
    assert!(r.core.stats().drops(DropReason::GateClosed) >= gate_drops + 49);
    for s in [1, 3] {
        assert!(after(r.received_by(p(s), p(2), false), closed).is_empty());
        assert!(!after(r.received_by(p(s), p(2), true), closed).is_empty());
    }
    r.policy.members.get_mut(&p(2)).unwrap().audio_enabled = true;
    r.install();
    let opened = r.now;
    r.run_for(ms(1000));
    for s in [1, 3] {
        assert!(after(r.received_by(p(s), p(2), false), opened).len() >= 49);
        assert_contiguous(r.received_by(p(s), p(2), false));
    }
    assert!(r.leaks().is_empty());
}

// A participant leaving stops everything to and from it at once; the others carry on; the
// counters stay consistent with what was recorded.
#[test]
fn leaving_stops_everything_to_and_from_it() {
    let mut r = room(3);
    r.run_for(ms(1000));
    let before: Vec<usize> = [(3, 1), (1, 3)]
        .iter()
        .map(|(s, q)| r.received_by(p(*s), p(*q), true).len())
        .collect();
    let sid_to_3 = r.subscription(p(3), p(1), true);
    let sid_from_3 = r.subscription(p(1), p(3), true);
    r.leave(p(3));
    let left = r.now;
    r.run_for(ms(2000));
    assert_eq!(r.received[&sid_to_3].len(), before[0], "nothing more to 3");
    assert_eq!(
        r.received[&sid_from_3].len(),
        before[1],
        "nothing more from 3"
    );
    assert!(r.core.layers(sid_to_3).is_none());
    assert!(r.core.layers(sid_from_3).is_none());
    assert!(!after(r.received_by(p(1), p(2), true), left).is_empty());
    assert!(!after(r.received_by(p(2), p(1), false), left).is_empty());
    let forwarded: usize = r.received.values().map(Vec::len).sum();
    assert_eq!(r.core.stats().packets_out, forwarded as u64);
    assert!(r.leaks().is_empty());
}

// After a participant left, its ids are stale: the configuration methods refuse them with
// `CoreError::Unknown*`, and inputs naming them are dropped and counted, never a panic.
#[test]
fn stale_ids_after_leave_are_refused() {
    let mut r = room(3);
    r.run_for(ms(500));
    let (video3, audio3) = r.camera(p(3));
    let downlink3 = r.downlink(p(3));
    let sid_to_3 = r.subscription(p(3), p(1), true);
    let sid_from_3 = r.subscription(p(1), p(3), true);
    let (video1, _) = r.camera(p(1));
    r.leave(p(3));
    let now = r.now;
    let core = &mut r.core;
    for sid in [sid_to_3, sid_from_3] {
        assert_eq!(
            core.set_requested(now, sid, Some(Layer::LOWEST)),
            Err(CoreError::UnknownSubscription)
        );
        assert_eq!(
            core.set_priority(now, sid, 3),
            Err(CoreError::UnknownSubscription)
        );
        assert_eq!(core.unsubscribe(sid), Err(CoreError::UnknownSubscription));
        assert!(core.layers(sid).is_none());
    }
    assert_eq!(
        core.remove_publication(video3),
        Err(CoreError::UnknownPublication)
    );
    assert_eq!(
        core.remove_publication(audio3),
        Err(CoreError::UnknownPublication)
    );
    assert_eq!(
        core.remove_downlink(downlink3),
        Err(CoreError::UnknownDownlink)
    );
    assert_eq!(
        core.subscribe(now, downlink3, video1, 7),
        Err(CoreError::UnknownDownlink)
    );
    let downlink1 = r.downlink(p(1));
    assert_eq!(
        r.core.subscribe(now, downlink1, video3, 7),
        Err(CoreError::UnknownPublication)
    );

    let unknown = r.core.stats().drops(DropReason::UnknownPublication);
    let pkt = sfu::core::testing::PacketBuilder::vp8()
        .keyframe()
        .tid(0)
        .picture_id(1)
        .build();
    r.core.handle_input(Input::Rtp {
        at: now,
        publication: video3,
        encoding: EncodingIdx(0),
        pkt,
    });
    r.core.handle_input(Input::Feedback {
        at: now,
        subscription: sid_to_3,
        kind: KeyframeKind::Fir,
    });
    r.core.handle_input(Input::Estimate {
        at: now,
        downlink: downlink3,
        bitrate: Bitrate::kbps(100),
    });
    r.drain();
    assert_eq!(
        r.core.stats().drops(DropReason::UnknownPublication),
        unknown + 1
    );

    // The room goes on, and the participant can come back under the same id.
    r.join(p(3), Location::Main);
    r.publish_camera(p(3), 2);
    r.subscribe_all();
    let back = r.now;
    r.run_for(ms(1000));
    assert!(!after(r.received_by(p(3), p(1), true), back).is_empty());
    assert!(!after(r.received_by(p(1), p(3), true), back).is_empty());
    assert!(r.leaks().is_empty());
}
