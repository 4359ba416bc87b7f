//! `control::Room`: moderation, own media state, recording state and their forwarding-policy
//! effects (spec §8.3, §8.4, §8.6, §13.3, §13.7, §15 scenario 16).

use crate::support::control::*;
use sfu::control::{CloseReason, Effect, RoomPolicy, ScreensharePolicy, Service};
use sfu::core::{StreamId as CoreStreamId, StreamRef};
use signalling_proto::*;

fn mute(ids: Vec<signalling_proto::ParticipantId>, enable: bool) -> Command {
    Command::RequestAudioEnable(RequestEnableArgs {
        participant_ids: ids,
        enable,
    })
}

// A host mute closes the gate in the installed policy, the install precedes the command's
// events, and every subscriber that lost the stream is told (spec §8.3, §13.3, §13.7).
#[test]
fn host_mute_closes_the_gate_before_events() {
    let mut h = Harness::new();
    let (host_conn, host, _) = h.join("ann", Role::Host);
    let (_, bob, _) = h.join("bob", Role::Visitor);
    let (_, cy, _) = h.join("cy", Role::Viewer);
    assert!(h
        .room
        .installed_policy()
        .allowed(cy, bob, StreamRef::CAMERA_AUDIO));
    h.cmd(h.t0, host_conn, mute(vec![wire(bob)], false))
        .unwrap();
    let effects = h.drain();
    assert!(
        matches!(effects[0], Effect::InstallPolicy(_)),
        "{effects:?}"
    );
    assert!(!h
        .room
        .installed_policy()
        .allowed(cy, bob, StreamRef::CAMERA_AUDIO));
    assert!(h
        .room
        .installed_policy()
        .allowed(cy, bob, StreamRef::CAMERA_VIDEO));
    assert_eq!(
        names_for(&effects, bob),
        [EventName::AudioEnableRequested, EventName::AudioEnabled]
    );
    let cy_events = events_for(&effects, cy);
    assert!(
        matches!(&cy_events[0], Event::AudioEnabled(e) if e.reason == EnabledReason::Host && !e.enabled)
    );
    let Event::SubscriptionsChanged(subs) = &cy_events[1] else {
        panic!("{cy_events:?}")
    };
    assert_eq!(subs.removed[0].participant_id, wire(bob));
    assert_eq!(subs.removed[0].kinds, [MediaKind::Audio]);
    assert_eq!(subs.policy_version, h.room.installed_policy().version);
    assert!(names_for(&effects, host).contains(&EventName::SubscriptionsChanged));
    // Muting again changes nothing but still asks; `enable: true` never changes a flag.
    h.cmd(h.at(1), host_conn, mute(vec![wire(bob)], true))
        .unwrap();
    let effects = h.drain();
    assert_eq!(policy_installs(&effects), 0);
    assert_eq!(names_for(&effects, bob), [EventName::AudioEnableRequested]);
}

// `allowSelfUnmute = false`: after a host mute only a host request re-opens self-unmute
// (spec §17.3).
#[test]
fn self_unmute_needs_a_host_when_disallowed() {
    let mut h = Harness::with_policy(RoomPolicy {
        allow_self_unmute: false,
        ..RoomPolicy::default()
    });
    let (host_conn, _, _) = h.join("ann", Role::Host);
    let (bob_conn, bob, _) = h.join("bob", Role::Visitor);
    let unmute = || Command::SetAudioEnabled(SetEnabledArgs { enabled: true });
    h.cmd(h.t0, host_conn, mute(vec![wire(bob)], false))
        .unwrap();
    assert_eq!(code(h.cmd(h.t0, bob_conn, unmute())), ErrorCode::Forbidden);
    h.cmd(h.t0, host_conn, mute(vec![wire(bob)], true)).unwrap();
    h.cmd(h.t0, bob_conn, unmute()).unwrap();
}

// Batch targets are atomic and the offenders are listed (spec §6.2, §14 #21/#68).
#[test]
fn request_enable_is_atomic() {
    let mut h = Harness::new();
    let (host_conn, _, _) = h.join("ann", Role::Host);
    let (_, bob, _) = h.join("bob", Role::Visitor);
    let before = h.room.fingerprint();
    let error = h
        .cmd(h.t0, host_conn, mute(vec![wire(bob), "p999".into()], false))
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::ParticipantNotFound);
    assert_eq!(
        error.details_as::<InvalidTargetsDetails>().unwrap().invalid,
        ["p999"]
    );
    assert_eq!(h.room.fingerprint(), before);
    assert_eq!(
        code(h.cmd(h.t0, host_conn, mute(vec![], false))),
        ErrorCode::InvalidArgument
    );
    let many = (0..201).map(|_| wire(bob)).collect();
    assert_eq!(
        code(h.cmd(h.t0, host_conn, mute(many, false))),
        ErrorCode::InvalidArgument
    );
}

// Kick: self and the recorder are invalid targets; the target gets client_kicked then its
// socket closes; others get client_left {kicked} (spec §8.3, §14 #56).
#[test]
fn kick_rules() {
    let mut h = Harness::new();
    let (host_conn, host, _) = h.join("ann", Role::Host);
    let (bob_conn, bob, _) = h.join("bob", Role::Visitor);
    let (_, rec, _) = h.join("rec", Role::Recorder);
    let kick = |id| {
        Command::KickParticipant(ParticipantArgs {
            participant_id: wire(id),
        })
    };
    assert_eq!(
        code(h.cmd(h.t0, host_conn, kick(host))),
        ErrorCode::InvalidTarget
    );
    assert_eq!(
        code(h.cmd(h.t0, host_conn, kick(rec))),
        ErrorCode::InvalidTarget
    );
    assert_eq!(
        code(h.cmd(
            h.t0,
            host_conn,
            Command::KickParticipant(ParticipantArgs {
                participant_id: "p77".into()
            })
        )),
        ErrorCode::ParticipantNotFound
    );
    h.cmd(h.t0, host_conn, kick(bob)).unwrap();
    let effects = h.drain();
    assert!(
        matches!(&events_for(&effects, bob)[0], Event::ClientKicked(k) if k.reason == KickReason::Kick)
    );
    assert!(effects.contains(&Effect::Close {
        connection: bob_conn,
        reason: CloseReason::Kicked
    }));
    assert!(
        events_for(&effects, host).contains(&Event::ClientLeft(ClientLeft {
            client_id: wire(bob),
            reason: LeaveReason::Kicked,
        }))
    );
}

// §15 scenario 16 (without breakouts): knockers rejected, recording stopped, everyone kicked
// with end_meeting, identities not banned; without stayBehind the session ends.
#[test]
fn end_meeting_scenario() {
    let mut h = Harness::new();
    let (host_conn, _, _) = h.join("ann", Role::Host);
    let (_, bob, _) = h.join("bob", Role::Visitor);
    h.cmd(h.t0, host_conn, Command::StartCloudRecording(Empty {}))
        .unwrap();
    h.join("rec", Role::Recorder);
    h.cmd(
        h.t0,
        host_conn,
        Command::SetLock(SetLockArgs { locked: true }),
    )
    .unwrap();
    let knocker = h.socket();
    h.try_join_on(h.t0, knocker, "kay", Role::Visitor)
        .unwrap_err();
    h.cmd(h.t0, knocker, Command::KnockRoom(KnockRoomArgs::default()))
        .unwrap();
    h.drain();
    h.cmd(
        h.at(1),
        host_conn,
        Command::EndMeeting(EndMeetingArgs {
            stay_behind: Some(true),
        }),
    )
    .unwrap();
    let effects = h.drain();
    let Event::KnockHandled(KnockHandled::ToKnocker(k)) = &socket_events(&effects, knocker)[0]
    else {
        panic!()
    };
    assert_eq!(
        (k.resolution, k.reason),
        (
            KnockResolution::Rejected,
            Some(KnockHandledReason::MeetingEnded)
        )
    );
    assert!(effects.contains(&Effect::StopService {
        service: Service::CloudRecording
    }));
    assert!(
        matches!(&events_for(&effects, bob)[..], [Event::CloudRecordingStopped(_), Event::ClientKicked(k)]
        if k.reason == KickReason::EndMeeting)
    );
    assert_eq!(h.room.participant_ids().len(), 1, "the host stayed behind");
    // Not banned.
    let conn = h.socket();
    h.cmd(
        h.at(2),
        host_conn,
        Command::SetLock(SetLockArgs { locked: false }),
    )
    .unwrap();
    h.try_join_on(h.at(2), conn, "bob", Role::Visitor).unwrap();
    h.drain();
    h.cmd(
        h.at(3),
        host_conn,
        Command::EndMeeting(EndMeetingArgs::default()),
    )
    .unwrap();
    assert!(!h.room.has_room_session());
    h.check();
}

// Own media flags: no-op when unchanged, forbidden for viewers (spec §8.4, §14 #66).
#[test]
fn own_media_flags() {
    let mut h = Harness::new();
    let (conn, me, _) = h.join("ann", Role::Visitor);
    let (viewer, _, _) = h.join("vi", Role::Viewer);
    let set = |enabled| Command::SetVideoEnabled(SetEnabledArgs { enabled });
    assert_eq!(
        h.cmd(h.t0, conn, set(true)).unwrap(),
        CommandResult::SetVideoEnabled(Changed::NO)
    );
    h.cmd(h.t0, conn, set(false)).unwrap();
    let effects = h.drain();
    assert!(
        matches!(&events_for(&effects, me)[0], Event::VideoEnabled(e) if e.reason == EnabledReason::Own)
    );
    assert_eq!(code(h.cmd(h.t0, viewer, set(true))), ErrorCode::Forbidden);
}

// Screenshare: one per participant, `OnePerLocation` busy, stop idempotent, spotlight dropped
// with the share, disconnect stops it (spec §8.4, §7.2, §14 #67).
#[test]
fn screenshare_lifecycle() {
    let mut h = Harness::with_policy(RoomPolicy {
        screenshare_policy: ScreensharePolicy::OnePerLocation,
        ..RoomPolicy::default()
    });
    let (host_conn, host, _) = h.join("ann", Role::Host);
    let (bob_conn, bob, _) = h.join("bob", Role::Visitor);
    let start = || {
        Command::StartScreenshare(StartScreenshareArgs {
            has_audio_track: true,
        })
    };
    let CommandResult::StartScreenshare(share) = h.cmd(h.t0, bob_conn, start()).unwrap() else {
        panic!()
    };
    assert_eq!(share.stream_id.as_str(), "ss-1");
    let effects = h.drain();
    assert!(matches!(effects[0], Effect::InstallPolicy(_)));
    let stream = StreamRef {
        stream: CoreStreamId::Screenshare(1),
        kind: sfu::core::MediaKind::Audio,
    };
    assert!(h.room.installed_policy().allowed(host, bob, stream));
    assert_eq!(
        code(h.cmd(h.t0, bob_conn, start())),
        ErrorCode::AlreadyScreensharing
    );
    assert_eq!(
        code(h.cmd(h.t0, host_conn, start())),
        ErrorCode::ScreenshareBusy
    );
    h.cmd(
        h.t0,
        host_conn,
        Command::AddSpotlight(SpotlightArgs {
            participant_id: wire(bob),
            stream_id: share.stream_id.clone(),
        }),
    )
    .unwrap();
    h.drain();
    h.room.handle_disconnect(h.at(1), bob_conn);
    let effects = h.drain();
    let names = names_for(&effects, host);
    assert_eq!(
        names[..3],
        [
            EventName::ParticipantConnectionChanged,
            EventName::ScreenshareStopped,
            EventName::SpotlightRemoved
        ]
    );
    assert!(!h.room.installed_policy().allowed(host, bob, stream));
    h.check();
    let stop = Command::StopScreenshare(StopScreenshareArgs {
        stream_id: Some("ss-1".into()),
    });
    assert_eq!(
        h.cmd(h.at(2), host_conn, stop).unwrap(),
        CommandResult::StopScreenshare(Changed::NO)
    );
}

// Spotlight: unknown stream → stream_not_found; a viewer has no camera; repeat is a no-op
// (spec §8.3, §14 #80).
#[test]
fn spotlight_rules() {
    let mut h = Harness::new();
    let (host_conn, host, _) = h.join("ann", Role::Host);
    let (_, viewer, _) = h.join("vi", Role::Viewer);
    let spot = |id, stream: &str| {
        Command::AddSpotlight(SpotlightArgs {
            participant_id: wire(id),
            stream_id: stream.into(),
        })
    };
    assert_eq!(
        code(h.cmd(h.t0, host_conn, spot(host, "ss-9"))),
        ErrorCode::StreamNotFound
    );
    assert_eq!(
        code(h.cmd(h.t0, host_conn, spot(viewer, "camera"))),
        ErrorCode::StreamNotFound
    );
    h.cmd(h.t0, host_conn, spot(host, "camera")).unwrap();
    assert!(names_for(&h.drain(), viewer).contains(&EventName::SpotlightAdded));
    assert_eq!(
        h.cmd(h.t0, host_conn, spot(host, "camera")).unwrap(),
        CommandResult::AddSpotlight(Changed::NO)
    );
}

// Metadata: display name and hand, validated, rate limited 5 then 1 / 2 s (spec §8.4, §6.5,
// §14 #55); a host lowers someone's hand.
#[test]
fn metadata_and_hands() {
    let mut h = Harness::new();
    let (host_conn, _, _) = h.join("ann", Role::Host);
    let (conn, me, _) = h.join("bob", Role::Visitor);
    let name = |n: &str| {
        Command::SetDisplayName(SetDisplayNameArgs {
            display_name: n.into(),
        })
    };
    assert_eq!(
        code(h.cmd(h.t0, conn, name(&"x".repeat(101)))),
        ErrorCode::InvalidArgument
    );
    assert_eq!(
        code(h.cmd(h.t0, conn, name(" "))),
        ErrorCode::InvalidArgument
    );
    let hand = |r: Option<&str>| {
        Command::SetStickyReaction(SetStickyReactionArgs {
            reaction: r.map(Into::into),
        })
    };
    h.cmd(h.t0, conn, hand(Some("✋"))).unwrap();
    let effects = h.drain();
    assert!(
        matches!(&events_for(&effects, me)[0], Event::ClientMetadataReceived(m)
        if m.sticky_reaction.as_ref().is_some_and(|r| r.reaction == "✋"))
    );
    assert_eq!(
        code(h.cmd(h.t0, conn, hand(Some("123456789")))),
        ErrorCode::InvalidArgument
    );
    h.cmd(
        h.t0,
        host_conn,
        Command::ClearStickyReaction(ParticipantArgs {
            participant_id: wire(me),
        }),
    )
    .unwrap();
    for i in 0..4 {
        h.cmd(h.t0, conn, name(&format!("Bob {i}"))).unwrap();
    }
    assert_eq!(
        code(h.cmd(h.t0, conn, name("Bob 9"))),
        ErrorCode::RateLimited
    );
    h.cmd(h.at(2), conn, name("Bob 9")).unwrap();
}

// Recording: requested → the recorder joins → recording; already/not recording; stop removes
// the recorder; transcription reports through the shell (spec §8.6, §14 #65).
#[test]
fn recording_and_transcription_state() {
    let mut h = Harness::new();
    let (host_conn, host, _) = h.join("ann", Role::Host);
    h.cmd(h.t0, host_conn, Command::StartCloudRecording(Empty {}))
        .unwrap();
    let effects = h.drain();
    assert!(effects.contains(&Effect::StartService {
        service: Service::CloudRecording,
        target_id: None
    }));
    assert_eq!(
        names_for(&effects, host),
        [EventName::CloudRecordingRequested]
    );
    assert_eq!(
        code(h.cmd(h.t0, host_conn, Command::StartCloudRecording(Empty {}))),
        ErrorCode::AlreadyRecording
    );
    let conn = h.socket();
    h.try_join_on(h.at(2), conn, "rec", Role::Recorder).unwrap();
    let effects = h.drain();
    assert!(names_for(&effects, host).contains(&EventName::CloudRecordingStarted));
    let CommandResult::GetRoomState(state) = h
        .cmd(h.at(3), host_conn, Command::GetRoomState(Empty {}))
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(
        state.room.recording.unwrap().status,
        RecordingStatus::Recording
    );
    h.cmd(h.at(4), host_conn, Command::StopCloudRecording(Empty {}))
        .unwrap();
    let effects = h.drain();
    assert!(effects.contains(&Effect::Close {
        connection: conn,
        reason: CloseReason::ServiceStopped
    }));
    assert_eq!(h.room.participant_ids().len(), 1);

    h.cmd(
        h.at(5),
        host_conn,
        Command::StartLiveTranscription(Empty {}),
    )
    .unwrap();
    h.room
        .handle_service_started(h.at(6), Service::Transcription, Some("tr-1".into()));
    let effects = h.drain();
    assert!(
        matches!(events_for(&effects, host).last(), Some(Event::LiveTranscriptionStarted(t))
        if t.transcription_id.as_deref() == Some("tr-1"))
    );
    h.room
        .handle_service_failed(h.at(7), Service::Transcription, "asr down".into());
    h.drain();
    // Error is not active: starting again is allowed (spec §8.6 "Idle or Error").
    h.cmd(
        h.at(8),
        host_conn,
        Command::StartLiveTranscription(Empty {}),
    )
    .unwrap();
    h.check();
}

// The seed's `turnOffParticipantCameras` / `askToTurnOnCamera` (spec §16.1):
// `request_video_enable {enable: false}` closes the video gate before its events and keeps
// audio; `{enable: true}` only asks the target and changes nothing.
#[test]
fn request_video_enable_turns_cameras_off_and_asks() {
    let mut h = Harness::new();
    let (host_conn, _, _) = h.join("ann", Role::Host);
    let (_, bob, _) = h.join("bob", Role::Visitor);
    let (_, cy, _) = h.join("cy", Role::Viewer);
    let video = |enable| {
        Command::RequestVideoEnable(RequestEnableArgs {
            participant_ids: vec![wire(bob)],
            enable,
        })
    };
    h.cmd(h.t0, host_conn, video(false)).unwrap();
    let effects = h.drain();
    assert!(matches!(effects[0], Effect::InstallPolicy(_)));
    let policy = h.room.installed_policy();
    assert!(!policy.allowed(cy, bob, StreamRef::CAMERA_VIDEO));
    assert!(policy.allowed(cy, bob, StreamRef::CAMERA_AUDIO));
    assert_eq!(
        names_for(&effects, bob),
        [EventName::VideoEnableRequested, EventName::VideoEnabled]
    );
    assert!(matches!(&events_for(&effects, cy)[0],
        Event::VideoEnabled(e) if e.reason == EnabledReason::Host && !e.enabled));
    h.cmd(h.at(1), host_conn, video(true)).unwrap();
    let effects = h.drain();
    assert_eq!(names_for(&effects, bob), [EventName::VideoEnableRequested]);
    assert!(names_for(&effects, cy).is_empty());
    assert_eq!(policy_installs(&effects), 0, "asking changes no gate");
    assert!(!h
        .room
        .installed_policy()
        .allowed(cy, bob, StreamRef::CAMERA_VIDEO));
}

// Live stream and the stop half of transcription (spec §8.6): start asks the service to join as
// `streamer`, which makes it `streaming`; stop removes it; stopping twice is `not_streaming`;
// transcription stops with `live_transcription_stopped`.
#[test]
fn live_stream_and_transcription_start_and_stop() {
    let mut h = Harness::new();
    let (host_conn, host, _) = h.join("ann", Role::Host);
    let start = Command::StartLiveStream(StartLiveStreamArgs {
        target_id: "youtube-main".into(),
    });
    h.cmd(h.t0, host_conn, start.clone()).unwrap();
    let effects = h.drain();
    assert!(effects.contains(&Effect::StartService {
        service: Service::LiveStream,
        target_id: Some("youtube-main".into())
    }));
    assert_eq!(
        code(h.cmd(h.t0, host_conn, start)),
        ErrorCode::AlreadyStreaming
    );
    let conn = h.socket();
    h.try_join_on(h.at(1), conn, "streamer", Role::Streamer)
        .unwrap();
    let effects = h.drain();
    assert!(names_for(&effects, host).contains(&EventName::LiveStreamStarted));
    h.cmd(h.at(2), host_conn, Command::StopLiveStream(Empty {}))
        .unwrap();
    let effects = h.drain();
    assert!(names_for(&effects, host).contains(&EventName::LiveStreamStopped));
    assert!(effects.contains(&Effect::Close {
        connection: conn,
        reason: CloseReason::ServiceStopped
    }));
    assert_eq!(
        code(h.cmd(h.at(3), host_conn, Command::StopLiveStream(Empty {}))),
        ErrorCode::NotStreaming
    );
    h.cmd(
        h.at(4),
        host_conn,
        Command::StartLiveTranscription(Empty {}),
    )
    .unwrap();
    h.room
        .handle_service_started(h.at(5), Service::Transcription, Some("tr-1".into()));
    h.drain();
    h.cmd(h.at(6), host_conn, Command::StopLiveTranscription(Empty {}))
        .unwrap();
    let effects = h.drain();
    assert!(matches!(events_for(&effects, host).last(),
        Some(Event::LiveTranscriptionStopped(t)) if t.transcription_id == "tr-1"));
    assert_eq!(
        code(h.cmd(h.at(7), host_conn, Command::StopLiveTranscription(Empty {}))),
        ErrorCode::NotTranscribing
    );
}
