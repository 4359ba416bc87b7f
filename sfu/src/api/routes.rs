//! The table of API endpoints that are one protocol command each: the router registers them
//! and the OpenAPI document describes them from the same rows, with the command's own argument
//! and result types. The body is the command's `args` (path parameters are added to it), the
//! answer its `result`; errors are the command's.

use signalling_proto::CommandName;

/// HTTP method of a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Post,
}

impl Method {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Method::Get => "get",
            Method::Post => "post",
        }
    }
}

/// One endpoint that runs one command as the system.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CommandRoute {
    pub method: Method,
    /// Under [`crate::api::PREFIX`], in axum's `{param}` syntax; `{room}` is always there.
    pub path: &'static str,
    pub command: CommandName,
    pub summary: &'static str,
    /// A path parameter copied into `args` under the same name (`participantId`).
    pub path_arg: Option<&'static str>,
}

const fn post(path: &'static str, command: CommandName, summary: &'static str) -> CommandRoute {
    CommandRoute {
        method: Method::Post,
        path,
        command,
        summary,
        path_arg: None,
    }
}

/// Every command route.
pub(crate) const COMMAND_ROUTES: &[CommandRoute] = &[
    CommandRoute {
        method: Method::Get,
        path: "/rooms/{room}/breakout",
        command: CommandName::BreakoutGet,
        summary: "The breakout plan and run as a host sees it.",
        path_arg: None,
    },
    post(
        "/rooms/{room}/lock",
        CommandName::SetLock,
        "Lock or unlock the room.",
    ),
    post(
        "/rooms/{room}/knock",
        CommandName::HandleKnock,
        "Accept, hold or reject a knocker.",
    ),
    post(
        "/rooms/{room}/spotlights/add",
        CommandName::AddSpotlight,
        "Spotlight a stream.",
    ),
    post(
        "/rooms/{room}/spotlights/remove",
        CommandName::RemoveSpotlight,
        "Remove a spotlight.",
    ),
    post(
        "/rooms/{room}/chat/remove",
        CommandName::RemoveChatMessage,
        "Remove a chat message.",
    ),
    CommandRoute {
        method: Method::Post,
        path: "/rooms/{room}/participants/{participantId}/lower-hand",
        command: CommandName::ClearStickyReaction,
        summary: "Lower a participant's hand.",
        path_arg: Some("participantId"),
    },
    post(
        "/rooms/{room}/recording/start",
        CommandName::StartCloudRecording,
        "Request cloud recording.",
    ),
    post(
        "/rooms/{room}/recording/stop",
        CommandName::StopCloudRecording,
        "Stop cloud recording.",
    ),
    post(
        "/rooms/{room}/live-stream/start",
        CommandName::StartLiveStream,
        "Request a live stream.",
    ),
    post(
        "/rooms/{room}/live-stream/stop",
        CommandName::StopLiveStream,
        "Stop the live stream.",
    ),
    post(
        "/rooms/{room}/transcription/start",
        CommandName::StartLiveTranscription,
        "Request live transcription.",
    ),
    post(
        "/rooms/{room}/transcription/stop",
        CommandName::StopLiveTranscription,
        "Stop live transcription.",
    ),
    post(
        "/rooms/{room}/breakout/enable",
        CommandName::BreakoutEnable,
        "Enable breakouts.",
    ),
    post(
        "/rooms/{room}/breakout/disable",
        CommandName::BreakoutDisable,
        "Disable breakouts (the plan is kept).",
    ),
    post(
        "/rooms/{room}/breakout/configure",
        CommandName::BreakoutConfigure,
        "Change the breakout configuration.",
    ),
    post(
        "/rooms/{room}/breakout/sessions",
        CommandName::BreakoutCreateSessions,
        "Create breakout sessions.",
    ),
    post(
        "/rooms/{room}/breakout/sessions/rename",
        CommandName::BreakoutRenameSession,
        "Rename a session.",
    ),
    post(
        "/rooms/{room}/breakout/sessions/delete",
        CommandName::BreakoutDeleteSession,
        "Delete a session.",
    ),
    post(
        "/rooms/{room}/breakout/sessions/clear",
        CommandName::BreakoutClearSessions,
        "Delete every session.",
    ),
    post(
        "/rooms/{room}/breakout/sessions/open",
        CommandName::BreakoutSetSessionOpen,
        "Set a session's anyoneCanJoin.",
    ),
    post(
        "/rooms/{room}/breakout/assign",
        CommandName::BreakoutAssign,
        "Assign participants to sessions.",
    ),
    post(
        "/rooms/{room}/breakout/auto-assign",
        CommandName::BreakoutAutoAssign,
        "Distribute participants evenly.",
    ),
    post(
        "/rooms/{room}/breakout/start",
        CommandName::BreakoutStart,
        "Start a breakout run.",
    ),
    post(
        "/rooms/{room}/breakout/move",
        CommandName::BreakoutMove,
        "Move participants to a session or to MAIN.",
    ),
    post(
        "/rooms/{room}/breakout/broadcast",
        CommandName::BreakoutBroadcast,
        "Message one or every session.",
    ),
    post(
        "/rooms/{room}/breakout/ask-all-to-return",
        CommandName::BreakoutAskAllToReturn,
        "Ask everybody in sessions to come back.",
    ),
    post(
        "/rooms/{room}/breakout/end",
        CommandName::BreakoutEnd,
        "End the run (with its countdown unless immediate).",
    ),
    post(
        "/rooms/{room}/breakout/cancel-auto-end",
        CommandName::BreakoutCancelAutoEnd,
        "Cancel the automatic end.",
    ),
    post(
        "/rooms/{room}/breakout/extend-auto-end",
        CommandName::BreakoutExtendAutoEnd,
        "Push the automatic end back.",
    ),
];
