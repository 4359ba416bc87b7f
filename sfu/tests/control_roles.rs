//! `control::Room`: the capability matrix of spec §4.2 — every command a role lacks fails with
//! `forbidden` and changes nothing (spec §14 #1, #66).

mod control_support;

use control_support::*;
use signalling_proto::*;

fn host_only(target: &signalling_proto::ParticipantId) -> Vec<Command> {
    let participant = || ParticipantArgs {
        participant_id: target.clone(),
    };
    vec![
        Command::HandleKnock(HandleKnockArgs {
            participant_id: target.clone(),
            action: KnockAction::Reject,
            message: None,
            target_session_id: None,
        }),
        Command::SetLock(SetLockArgs { locked: true }),
        Command::KickParticipant(participant()),
        Command::EndMeeting(EndMeetingArgs::default()),
        Command::RequestAudioEnable(RequestEnableArgs {
            participant_ids: vec![target.clone()],
            enable: false,
        }),
        Command::RequestVideoEnable(RequestEnableArgs {
            participant_ids: vec![target.clone()],
            enable: false,
        }),
        Command::ClearStickyReaction(participant()),
        Command::AddSpotlight(SpotlightArgs {
            participant_id: target.clone(),
            stream_id: StreamId::camera(),
        }),
        Command::RemoveSpotlight(SpotlightArgs {
            participant_id: target.clone(),
            stream_id: StreamId::camera(),
        }),
        Command::StartCloudRecording(Empty {}),
        Command::StopCloudRecording(Empty {}),
        Command::StartLiveStream(StartLiveStreamArgs {
            target_id: "t".into(),
        }),
        Command::StopLiveStream(Empty {}),
        Command::StartLiveTranscription(Empty {}),
        Command::StopLiveTranscription(Empty {}),
        Command::BreakoutEnable(RevisionArgs::default()),
        Command::BreakoutDisable(PlanArgs::default()),
        Command::BreakoutClearSessions(PlanArgs::default()),
        Command::BreakoutAskAllToReturn(RevisionArgs::default()),
        Command::BreakoutCancelAutoEnd(RevisionArgs::default()),
        Command::BreakoutEditLockAcquire(Empty {}),
        Command::BreakoutStopMonitor(Empty {}),
        Command::BreakoutGet(BreakoutGetArgs {
            acquire_edit_lock: Some(true),
        }),
    ]
}

fn publisher_only() -> Vec<Command> {
    vec![
        Command::SetAudioEnabled(SetEnabledArgs { enabled: true }),
        Command::SetVideoEnabled(SetEnabledArgs { enabled: true }),
        Command::StartScreenshare(StartScreenshareArgs {
            has_audio_track: false,
        }),
        Command::StopScreenshare(StopScreenshareArgs::default()),
    ]
}

fn person_only() -> Vec<Command> {
    vec![
        Command::SendChatMessage(SendChatMessageArgs {
            text: "hi".into(),
            parent_id: None,
            broadcast: None,
            client_msg_id: None,
        }),
        Command::SetDisplayName(SetDisplayNameArgs {
            display_name: "X".into(),
        }),
        Command::SetStickyReaction(SetStickyReactionArgs {
            reaction: Some("✋".into()),
        }),
        Command::RemoveChatMessage(RemoveChatMessageArgs {
            message_id: MessageId::from("m"),
        }),
        Command::BreakoutLeave(Empty {}),
    ]
}

// Every host-only command by every non-host role, every publishing command by receive-only
// roles, every person command by service roles: `forbidden`, no state change, no effect.
#[test]
fn every_command_outside_the_role_is_forbidden_and_changes_nothing() {
    let roles = [
        (Role::Visitor, false, true, true),
        (Role::GrantedVisitor, false, true, true),
        (Role::Viewer, false, false, true),
        (Role::GrantedViewer, false, false, true),
        (Role::Recorder, false, false, false),
        (Role::Streamer, false, false, false),
    ];
    for (role, _host, publisher, person) in roles {
        let granted = matches!(role, Role::GrantedVisitor | Role::GrantedViewer);
        let mut h = Harness::with_policy(sfu::control::RoomPolicy {
            locked: granted,
            viewers_must_knock: true,
            ..Default::default()
        });
        let (host_conn, host, _) = h.join("host", Role::Host);
        let conn = if granted {
            let requested = if role == Role::GrantedViewer {
                Role::Viewer
            } else {
                Role::Visitor
            };
            h.join_through_knock(host_conn, "caller", requested).0
        } else {
            h.join("caller", role).0
        };
        let mut cases = host_only(&wire(host));
        if !publisher {
            cases.extend(publisher_only());
        }
        if !person {
            cases.extend(person_only());
        }
        for (i, command) in cases.into_iter().enumerate() {
            let name = command.name();
            let before = h.room.fingerprint();
            let result = h.cmd(h.at_ms(i as u64 * 100), conn, command);
            let error = result.expect_err(&format!("{role:?} {name} must fail"));
            assert_eq!(error.code, ErrorCode::Forbidden, "{role:?} {name}");
            assert_eq!(
                h.room.fingerprint(),
                before,
                "{role:?} {name} changed state"
            );
            assert!(h.drain().is_empty(), "{role:?} {name} emitted effects");
        }
    }
}

// Role is checked before state (spec §6.2): a visitor stopping a recording that is not
// running gets `forbidden`, a host gets `not_recording`.
#[test]
fn role_check_precedes_state_checks() {
    let mut h = Harness::new();
    let (host_conn, _, _) = h.join("host", Role::Host);
    let (conn, _, _) = h.join("v", Role::Visitor);
    assert_eq!(
        code(h.cmd(h.t0, conn, Command::StopCloudRecording(Empty {}))),
        ErrorCode::Forbidden
    );
    assert_eq!(
        code(h.cmd(h.t0, host_conn, Command::StopCloudRecording(Empty {}))),
        ErrorCode::NotRecording
    );
    // Breakouts are disabled: non-hosts still get `forbidden` for management, hosts
    // `breakouts_disabled` (spec §14 #2); participation commands give `breakouts_disabled`.
    assert_eq!(
        code(h.cmd(
            h.t0,
            host_conn,
            Command::BreakoutAskAllToReturn(RevisionArgs::default())
        )),
        ErrorCode::BreakoutsDisabled
    );
    assert_eq!(
        code(h.cmd(h.t0, conn, Command::BreakoutLeave(Empty {}))),
        ErrorCode::BreakoutsDisabled
    );
    let CommandResult::BreakoutGet(view) = h
        .cmd(h.t0, conn, Command::BreakoutGet(BreakoutGetArgs::default()))
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(view.breakout.state, BreakoutState::Disabled);
    assert_eq!(view.breakout.edit_lock, None);
}

// The "all commands" bucket: 50 at once, then 25 / s (spec §6.5).
#[test]
fn command_rate_limit() {
    let mut h = Harness::new();
    let (conn, _, _) = h.join("v", Role::Visitor);
    for _ in 0..50 {
        h.cmd(h.t0, conn, Command::GetRoomState(Empty {})).unwrap();
    }
    let error = h
        .cmd(h.t0, conn, Command::GetRoomState(Empty {}))
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::RateLimited);
    assert_eq!(
        error
            .details_as::<RateLimitedDetails>()
            .unwrap()
            .retry_after_ms,
        40
    );
    h.cmd(h.at_ms(40), conn, Command::GetRoomState(Empty {}))
        .unwrap();
}
