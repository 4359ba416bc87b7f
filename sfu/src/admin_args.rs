//! The admin CLI's arguments (`sfu room|participant|breakout ...`, issue 18): what clap parses.
//! A leaf, so the configuration's command line (`config`) and the client that runs the
//! commands (`admin_cli`) both build on it without importing each other.

use clap::{Args, Subcommand};

/// Where the server is and how to print.
#[derive(Debug, Clone, Args)]
pub struct Target {
    /// The server's address: http://, or https:// for a server with --tls-cert.
    #[arg(long, env = "SFU_URL", default_value = "http://127.0.0.1:7880")]
    pub url: String,
    /// PEM file of the root certificates an https:// server is checked against; default: the
    /// system's bundle.
    #[arg(long, env = "SFU_CA", value_name = "PATH")]
    pub ca: Option<std::path::PathBuf>,
    /// Print the server's JSON answer instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `sfu room ...`.
#[derive(Debug, Subcommand)]
pub enum RoomCommand {
    /// Running rooms.
    List {
        #[command(flatten)]
        target: Target,
    },
    /// Create a room with its own policy (kept open while empty until ended).
    Create {
        #[command(flatten)]
        target: Target,
        /// Room name (a-z, 0-9, '-').
        name: String,
        #[arg(long)]
        max_participants: Option<u32>,
        #[arg(long)]
        max_viewers: Option<u32>,
        /// Start locked: newcomers knock.
        #[arg(long)]
        locked: bool,
        #[arg(long)]
        viewers_must_knock: bool,
        #[arg(long)]
        reconnect_grace_seconds: Option<u32>,
        /// 0 waits forever.
        #[arg(long)]
        knock_timeout_seconds: Option<u32>,
        #[arg(long, value_name = "BOOL")]
        allow_self_unmute: Option<bool>,
    },
    /// End the meeting for everybody.
    End {
        #[command(flatten)]
        target: Target,
        name: String,
    },
}

/// `sfu participant ...`.
#[derive(Debug, Subcommand)]
pub enum ParticipantCommand {
    /// Admitted participants of a room.
    List {
        #[command(flatten)]
        target: Target,
        room: String,
    },
    /// Remove (kick) a participant; its identity is banned for the room session.
    Remove {
        #[command(flatten)]
        target: Target,
        room: String,
        participant: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Mute a participant's microphone (or camera with --video); --unmute asks it to unmute.
    Mute {
        #[command(flatten)]
        target: Target,
        room: String,
        participant: String,
        #[arg(long)]
        video: bool,
        #[arg(long)]
        unmute: bool,
    },
}

/// `sfu breakout ...`.
#[derive(Debug, Subcommand)]
pub enum BreakoutCommand {
    /// The breakout state and sessions of a room.
    Status {
        #[command(flatten)]
        target: Target,
        room: String,
    },
    /// Start a run; with --sessions N first enable breakouts and create N sessions, with
    /// --auto-assign distribute the participants evenly first.
    Start {
        #[command(flatten)]
        target: Target,
        room: String,
        #[arg(long)]
        sessions: Option<u32>,
        #[arg(long)]
        auto_assign: bool,
    },
    /// Move participants to a session (its id, e.g. s1) or to main.
    Move {
        #[command(flatten)]
        target: Target,
        room: String,
        /// A session id or `main`.
        #[arg(long)]
        to: String,
        #[arg(required = true)]
        participants: Vec<String>,
    },
    /// End the run (with the configured countdown unless --now).
    End {
        #[command(flatten)]
        target: Target,
        room: String,
        #[arg(long)]
        now: bool,
    },
}

/// One of the admin commands.
#[derive(Debug)]
pub enum AdminCommand {
    Room(RoomCommand),
    Participant(ParticipantCommand),
    Breakout(BreakoutCommand),
}
