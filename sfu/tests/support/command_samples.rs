//! One valid `args` object for every command whose issuer (spec §4.2,
//! `signalling_proto::CommandName::issuer`) is narrower than "any admitted participant", shared
//! by the role tests on `control::Room` and over the WebSocket. The `match` is exhaustive, so a
//! new command does not compile until it is listed here, and the role tests then try it with
//! every role that lacks its issuer.
//!
//! The arguments are well formed but need not name anything that exists: the role check comes
//! before every state and target check (spec §6.2), so `forbidden` is the only right answer.
#![allow(dead_code)] // each test binary uses part of it

use serde_json::{json, Value};
use signalling_proto::{decode_client_frame, Command, CommandName, Issuer, Role};

/// Well-formed `args` for `name`, naming `target` wherever a participant id is needed;
/// `None` for commands any admitted participant (or a socket before admission) may send.
pub fn sample_args(name: CommandName, target: &str) -> Option<Value> {
    use CommandName as C;
    let session = "s1";
    let args = match name {
        C::JoinRoom
        | C::KnockRoom
        | C::CancelKnock
        | C::Resume
        | C::LeaveRoom
        | C::GetRoomState
        | C::BreakoutGet
        | C::SubscriberAnswer
        | C::IceCandidate
        | C::SetSubscriptionPreferences => return None,
        C::HandleKnock => json!({"participantId": target, "action": "reject"}),
        C::SetLock => json!({"locked": true}),
        C::KickParticipant | C::ClearStickyReaction => json!({"participantId": target}),
        C::EndMeeting => json!({}),
        C::RequestAudioEnable | C::RequestVideoEnable => {
            json!({"participantIds": [target], "enable": false})
        }
        C::AddSpotlight | C::RemoveSpotlight => {
            json!({"participantId": target, "streamId": "camera"})
        }
        C::SetAudioEnabled | C::SetVideoEnabled => json!({"enabled": true}),
        C::StartScreenshare => json!({"hasAudioTrack": false}),
        C::StopScreenshare => json!({}),
        C::SetDisplayName => json!({"displayName": "Renamed"}),
        C::SetStickyReaction => json!({"reaction": "✋"}),
        C::SendChatMessage => json!({"text": "hello"}),
        C::RemoveChatMessage => json!({"messageId": "m-01"}),
        C::StartCloudRecording
        | C::StopCloudRecording
        | C::StopLiveStream
        | C::StartLiveTranscription
        | C::StopLiveTranscription => json!({}),
        C::StartLiveStream => json!({"targetId": "youtube-main"}),
        C::BreakoutEnable
        | C::BreakoutDisable
        | C::BreakoutClearSessions
        | C::BreakoutAutoAssign
        | C::BreakoutStart
        | C::BreakoutCancelAutoEnd
        | C::BreakoutAskAllToReturn
        | C::BreakoutEditLockAcquire
        | C::BreakoutStopMonitor
        | C::BreakoutLeave
        | C::BreakoutAskForHelp => json!({}),
        C::BreakoutConfigure => json!({"config": {"countdownTimer": 5}}),
        C::BreakoutCreateSessions => json!({"count": 1}),
        C::BreakoutRenameSession => json!({"sessionId": session, "name": "Renamed"}),
        C::BreakoutDeleteSession | C::BreakoutMonitor | C::BreakoutJoin => {
            json!({"sessionId": session})
        }
        C::BreakoutSetSessionOpen => json!({"sessionId": session, "open": true}),
        C::BreakoutAssign => {
            json!({"assignments": [{"sessionId": session, "participantIds": [target]}]})
        }
        C::BreakoutEnd => json!({"immediate": true}),
        C::BreakoutExtendAutoEnd => json!({"seconds": 60}),
        C::BreakoutMove => json!({"participantIds": [target], "target": session}),
        C::BreakoutBroadcast => json!({"message": "come back in 5"}),
        C::BreakoutEditLockRefresh | C::BreakoutEditLockRelease => json!({"token": "t-1"}),
        C::PublisherOffer => json!({"sdp": "v=0\r\n"}),
        C::PublishTracks => json!({"tracks": [{"mid": "0", "source": "microphone"}]}),
        C::UnpublishTracks => json!({"mids": ["0"]}),
    };
    Some(args)
}

/// Every `(command, args)` a participant with `role` may not send, in `CommandName::ALL`
/// order. Panics if a command with a narrower issuer has no sample (the table is incomplete).
pub fn refused_for(role: Role, target: &str) -> Vec<(CommandName, Value)> {
    CommandName::ALL
        .iter()
        .filter(|name| !name.issuer().allows(role))
        .map(|&name| {
            let args = sample_args(name, target)
                .unwrap_or_else(|| panic!("no sample args for {name} ({:?})", name.issuer()));
            (name, args)
        })
        .collect()
}

/// The typed command for a sample (decoded as the server decodes a frame).
pub fn typed(name: CommandName, args: &Value) -> Command {
    let frame = json!({"type": "command", "name": name.as_str(), "reqId": "r", "args": args});
    decode_client_frame(&frame.to_string())
        .unwrap_or_else(|e| panic!("sample for {name} does not decode: {e:?}"))
        .command
}

/// Whether every command with a narrower issuer than "admitted" has a sample that decodes.
pub fn check_samples(target: &str) {
    for &name in CommandName::ALL {
        let narrow = !matches!(name.issuer(), Issuer::Admitted | Issuer::Unadmitted);
        let sample = sample_args(name, target);
        assert_eq!(
            sample.is_some(),
            narrow,
            "{name}: sample iff the issuer is narrow"
        );
        if let Some(args) = sample {
            assert_eq!(typed(name, &args).name(), name);
        }
    }
}
