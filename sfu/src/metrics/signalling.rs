//! The signalling connections' families: commands answered, events written, resumes, and
//! sockets closed before they joined.

use prometheus::{IntCounterVec, Registry};
use signalling_proto::{CommandName, ErrorCode, EventName};

use super::counter_vec;

/// The `status` label of a command answered without error (the others are [`ErrorCode`]s).
const COMMAND_OK: &str = "ok";

/// Why a signalling socket that had not joined a room was refused or closed (the `reason`
/// label of `sfu_signalling_unjoined_closed_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnjoinedClose {
    /// No `join_room` (or `resume`) admitted within `--join-deadline`: closed with 1008.
    JoinDeadline,
    /// Its address already held `--max-unjoined-per-ip` unjoined sockets: upgrade refused
    /// with 429.
    AddressLimit,
}

impl UnjoinedClose {
    pub const ALL: [UnjoinedClose; 2] = [UnjoinedClose::JoinDeadline, UnjoinedClose::AddressLimit];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            UnjoinedClose::JoinDeadline => "join_deadline",
            UnjoinedClose::AddressLimit => "address_limit",
        }
    }
}

/// The `result` label of `sfu_resumes_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResumeResult {
    Ok,
    Failed,
}

impl ResumeResult {
    pub const ALL: [ResumeResult; 2] = [ResumeResult::Ok, ResumeResult::Failed];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            ResumeResult::Ok => "ok",
            ResumeResult::Failed => "failed",
        }
    }
}

/// The signalling counters, summed over every connection and room actor.
#[derive(Clone, Debug)]
pub struct SignallingMetrics {
    /// Commands answered, by wire name and status (`ok` or the error code).
    pub commands: IntCounterVec,
    /// Events written to signalling sockets (server to client), by wire name; one per
    /// recipient. Events for a participant without a socket (reconnecting) are not counted.
    pub events: IntCounterVec,
    /// Session resumes (spec §9), by [`ResumeResult`].
    pub resumes: IntCounterVec,
    /// Signalling sockets refused or closed before they joined a room, by [`UnjoinedClose`].
    pub unjoined_closed: IntCounterVec,
}

impl SignallingMetrics {
    /// Registers the families, every bounded label value at zero.
    pub(super) fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let metrics = SignallingMetrics {
            commands: counter_vec(
                registry,
                "signalling_commands_total",
                "Signalling commands answered, by command and status (ok or the error code).",
                &["command", "status"],
            )?,
            events: counter_vec(
                registry,
                "signalling_events_total",
                "Signalling events written to clients' sockets, by event (one per recipient).",
                &["event"],
            )?,
            resumes: counter_vec(
                registry,
                "resumes_total",
                "Session resumes on a new WebSocket, by result.",
                &["result"],
            )?,
            unjoined_closed: counter_vec(
                registry,
                "signalling_unjoined_closed_total",
                "Signalling sockets refused (address limit) or closed (join deadline) before they joined a room, by reason.",
                &["reason"],
            )?,
        };
        for command in CommandName::ALL {
            metrics
                .commands
                .with_label_values(&[command.as_str(), COMMAND_OK]);
        }
        for event in EventName::ALL {
            metrics.events.with_label_values(&[event.as_str()]);
        }
        for result in ResumeResult::ALL {
            metrics.resumes.with_label_values(&[result.as_str()]);
        }
        for reason in UnjoinedClose::ALL {
            metrics
                .unjoined_closed
                .with_label_values(&[reason.as_str()]);
        }
        Ok(metrics)
    }

    /// One answered signalling command. Fed by the room actor when it sends the response.
    pub fn observe_command(&self, command: CommandName, status: Result<(), ErrorCode>) {
        let status = match status {
            Ok(()) => COMMAND_OK,
            Err(code) => code.as_str(),
        };
        self.commands
            .with_label_values(&[command.as_str(), status])
            .inc();
    }

    /// One event written to a client's socket. Fed by the connection after the write.
    pub fn observe_event(&self, event: EventName) {
        self.events.with_label_values(&[event.as_str()]).inc();
    }

    /// A signalling socket refused or closed before it joined a room. Fed by the `/rtc`
    /// handler and the connection.
    pub fn observe_unjoined_closed(&self, reason: UnjoinedClose) {
        self.unjoined_closed
            .with_label_values(&[reason.as_str()])
            .inc();
    }

    /// A resume attempt (spec §9) and how it ended. Fed by the room actor.
    pub fn observe_resume(&self, result: ResumeResult) {
        self.resumes.with_label_values(&[result.as_str()]).inc();
    }
}
