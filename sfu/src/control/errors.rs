//! The control plane's error answers (spec §14), built in one place so each code has one
//! message and one shape of details. Checks that need room state stay with that state; they
//! call these builders.

use std::time::Duration;

use signalling_proto::{
    DuplicateNameDetails, EditLockedDetails, ErrorBody, ErrorCode, RateLimitedDetails, Timestamp,
};

pub(crate) fn error(code: ErrorCode, message: &str) -> ErrorBody {
    ErrorBody::new(code, message)
}

pub(crate) fn forbidden() -> ErrorBody {
    error(
        ErrorCode::Forbidden,
        "the caller's role lacks this capability",
    )
}

pub(crate) fn media_command() -> ErrorBody {
    error(
        ErrorCode::InternalError,
        "media negotiation is handled by the media shell, not the room",
    )
}

/// `rate_limited {retryAfterMs}`, rounded up so a client that waits exactly that long succeeds.
pub(crate) fn rate_limited(retry_after: Duration) -> ErrorBody {
    let ms = retry_after.as_nanos().div_ceil(1_000_000);
    ErrorBody::with_details(
        ErrorCode::RateLimited,
        "rate limited",
        &RateLimitedDetails {
            retry_after_ms: u64::try_from(ms).unwrap_or(u64::MAX),
        },
    )
}

/// `session_not_found {sessionId}` (spec §14 #3).
pub(crate) fn session_not_found(id: &signalling_proto::SessionId) -> ErrorBody {
    ErrorBody::with_details(
        ErrorCode::SessionNotFound,
        "no such session",
        &signalling_proto::SessionNotFoundDetails {
            session_id: id.clone(),
        },
    )
}

pub(crate) fn not_active() -> ErrorBody {
    error(ErrorCode::BreakoutNotActive, "no breakout is running")
}

pub(crate) fn closing() -> ErrorBody {
    error(
        ErrorCode::BreakoutClosing,
        "the breakout is in its closing countdown",
    )
}

pub(crate) fn active() -> ErrorBody {
    error(
        ErrorCode::BreakoutActive,
        "not allowed while a breakout runs",
    )
}

pub(crate) fn breakouts_disabled() -> ErrorBody {
    error(ErrorCode::BreakoutsDisabled, "breakouts are disabled")
}

pub(crate) fn auto_end_not_armed() -> ErrorBody {
    error(ErrorCode::AutoEndNotArmed, "no automatic end is scheduled")
}

pub(crate) fn duplicate_name(name: &str, index: Option<usize>) -> ErrorBody {
    ErrorBody::with_details(
        ErrorCode::DuplicateName,
        "a session with that name exists",
        &DuplicateNameDetails {
            name: name.to_owned(),
            index: index.and_then(|i| u32::try_from(i).ok()),
        },
    )
}

pub(crate) fn token_mismatch() -> ErrorBody {
    error(
        ErrorCode::EditLockTokenMismatch,
        "the edit lock token is missing or wrong",
    )
}

/// `participant_not_found` for a target id that names nobody in the room.
pub(crate) fn participant_not_found() -> ErrorBody {
    error(ErrorCode::ParticipantNotFound, "no such participant")
}

/// `edit_locked {holderId, expiresAt}` (spec §12): another host holds the plan's edit lock.
pub(crate) fn edit_locked(
    holder_id: signalling_proto::ParticipantId,
    expires_at: Timestamp,
) -> ErrorBody {
    ErrorBody::with_details(
        ErrorCode::EditLocked,
        "another host is editing the breakout plan",
        &EditLockedDetails {
            holder_id,
            expires_at,
        },
    )
}
