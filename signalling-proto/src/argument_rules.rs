//! Argument rules the spec states exactly and that need no room state: numeric ranges, list
//! sizes and field combinations (spec §3, §8, §14).
//!
//! String rules of §3 that count characters after NFC normalisation and trimming (display names,
//! session names, chat text) are left to the server, which owns the Unicode tables; so are all
//! checks against room state.

use crate::{
    ArgumentReason, Command, Credential, InvalidArgumentDetails, KnockAction, Location,
    ParticipantId, SessionId, TrackSource,
};
use std::collections::HashSet;

/// Most targets of one `request_*_enable` or `breakout_move` (spec §8.3, §8.7).
pub const MAX_TARGETS: usize = 200;
/// Most sessions created by one `breakout_create_sessions` (spec §8.7).
pub const MAX_SESSIONS_PER_CREATE: usize = 100;
/// Longest `clientMsgId` (spec §6.4).
pub const MAX_CLIENT_MSG_ID_CHARS: usize = 64;
/// Longest server-minted id, in bytes (spec §3).
pub const MAX_ID_BYTES: usize = 64;

impl Command {
    /// Checks the rules above; the first violation is returned as `invalid_argument` details.
    /// [`crate::decode_client_frame`] runs it after decoding.
    pub fn check_arguments(&self) -> Result<(), InvalidArgumentDetails> {
        match self {
            Command::JoinRoom(args) => {
                check_room_name(&args.room_name)?;
                let has_grant = matches!(args.credential, Some(Credential::Grant(_)));
                if args.self_id.is_some() && !has_grant {
                    return Err(InvalidArgumentDetails::new(
                        "selfId",
                        ArgumentReason::InvalidValue,
                    ));
                }
                Ok(())
            }
            Command::HandleKnock(args) => {
                if let Some(id) = &args.target_session_id {
                    check_session_id("targetSessionId", id)?;
                }
                if args.target_session_id.is_some() && args.action != KnockAction::Accept {
                    return Err(InvalidArgumentDetails::new(
                        "targetSessionId",
                        ArgumentReason::InvalidValue,
                    ));
                }
                Ok(())
            }
            Command::RequestAudioEnable(args) | Command::RequestVideoEnable(args) => {
                check_targets("participantIds", &args.participant_ids)
            }
            Command::BreakoutMove(args) => {
                if let Location::Session(id) = &args.target {
                    check_session_id("target", id)?;
                }
                check_targets("participantIds", &args.participant_ids)
            }
            Command::BreakoutRenameSession(args) => check_session_id("sessionId", &args.session_id),
            Command::BreakoutDeleteSession(args) => check_session_id("sessionId", &args.session_id),
            Command::BreakoutSetSessionOpen(args) => {
                check_session_id("sessionId", &args.session_id)
            }
            Command::BreakoutJoin(args) | Command::BreakoutMonitor(args) => {
                check_session_id("sessionId", &args.session_id)
            }
            Command::BreakoutBroadcast(args) => match &args.session_id {
                Some(id) => check_session_id("sessionId", id),
                None => Ok(()),
            },
            Command::SendChatMessage(args) => match &args.client_msg_id {
                Some(id) if id.chars().count() > MAX_CLIENT_MSG_ID_CHARS => {
                    Err(InvalidArgumentDetails {
                        max: Some(MAX_CLIENT_MSG_ID_CHARS as i64),
                        ..InvalidArgumentDetails::new("clientMsgId", ArgumentReason::TooLong)
                    })
                }
                _ => Ok(()),
            },
            Command::BreakoutConfigure(args) => args.config.check_ranges("config"),
            Command::BreakoutStart(args) => match &args.config {
                Some(config) => config.check_ranges("config"),
                None => Ok(()),
            },
            Command::BreakoutCreateSessions(args) => match (&args.sessions, args.count) {
                (Some(_), Some(_)) => Err(InvalidArgumentDetails::new(
                    "count",
                    ArgumentReason::InvalidValue,
                )),
                (None, None) => Err(InvalidArgumentDetails::new(
                    "sessions",
                    ArgumentReason::Missing,
                )),
                (Some(sessions), None) => check_list_len("sessions", sessions.len(), 100),
                (None, Some(count)) => check_range("count", count.into(), 1, 100),
            },
            Command::BreakoutAssign(args) => {
                let mut seen: HashSet<&ParticipantId> = HashSet::new();
                for (i, assignment) in args.assignments.iter().enumerate() {
                    if let Some(id) = &assignment.session_id {
                        check_session_id(&format!("assignments[{i}].sessionId"), id)?;
                    }
                    let ids = assignment.participant_ids.iter().flatten();
                    for (j, id) in ids.enumerate() {
                        if !seen.insert(id) {
                            return Err(InvalidArgumentDetails::new(
                                format!("assignments[{i}].participantIds[{j}]"),
                                ArgumentReason::InvalidValue,
                            ));
                        }
                    }
                }
                Ok(())
            }
            Command::BreakoutEnd(args) => match args.delay_close_time {
                Some(delay) => check_range("delayCloseTime", delay.into(), 0, 300),
                None => Ok(()),
            },
            Command::BreakoutExtendAutoEnd(args) => {
                check_range("seconds", args.seconds.into(), 60, 3600)
            }
            Command::PublishTracks(args) => {
                for (i, track) in args.tracks.iter().enumerate() {
                    let is_screen = matches!(
                        track.source,
                        TrackSource::Screenshare | TrackSource::ScreenshareAudio
                    );
                    if is_screen && track.stream_id.is_none() {
                        return Err(InvalidArgumentDetails::new(
                            format!("tracks[{i}].streamId"),
                            ArgumentReason::Missing,
                        ));
                    }
                }
                Ok(())
            }
            Command::SetSubscriptionPreferences(args) => {
                for (i, preference) in args.preferences.iter().enumerate() {
                    if preference.max_layer.is_some() && preference.target_size.is_some() {
                        return Err(InvalidArgumentDetails::new(
                            format!("preferences[{i}].targetSize"),
                            ArgumentReason::InvalidValue,
                        ));
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

fn check_room_name(name: &str) -> Result<(), InvalidArgumentDetails> {
    let reason = if name.is_empty() {
        ArgumentReason::Empty
    } else if name.len() > 64 {
        ArgumentReason::TooLong
    } else if !crate::is_valid_room_name(name) {
        ArgumentReason::InvalidChars
    } else {
        return Ok(());
    };
    Err(InvalidArgumentDetails {
        max: (reason == ArgumentReason::TooLong).then_some(64),
        ..InvalidArgumentDetails::new("roomName", reason)
    })
}

/// A session id argument is never `""` and at most 64 bytes (spec §3); anything else is
/// `invalid_argument` (§14 #4), not an unknown session.
fn check_session_id(field: &str, id: &SessionId) -> Result<(), InvalidArgumentDetails> {
    if id.as_str().is_empty() {
        Err(InvalidArgumentDetails::new(field, ArgumentReason::Empty))
    } else if id.as_str().len() > MAX_ID_BYTES {
        Err(InvalidArgumentDetails {
            max: Some(MAX_ID_BYTES as i64),
            ..InvalidArgumentDetails::new(field, ArgumentReason::TooLong)
        })
    } else {
        Ok(())
    }
}

fn check_targets(field: &str, ids: &[ParticipantId]) -> Result<(), InvalidArgumentDetails> {
    check_list_len(field, ids.len(), MAX_TARGETS)
}

fn check_list_len(field: &str, len: usize, max: usize) -> Result<(), InvalidArgumentDetails> {
    if len == 0 {
        Err(InvalidArgumentDetails::new(field, ArgumentReason::Empty))
    } else if len > max {
        Err(InvalidArgumentDetails {
            max: Some(max as i64),
            ..InvalidArgumentDetails::new(field, ArgumentReason::TooMany)
        })
    } else {
        Ok(())
    }
}

fn check_range(field: &str, value: i64, min: i64, max: i64) -> Result<(), InvalidArgumentDetails> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(InvalidArgumentDetails::out_of_range(field, value, min, max))
    }
}
