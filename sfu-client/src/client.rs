//! [`Client`]: one participant in a room. It joins with a token, answers the server's
//! subscriber offers, keeps a [`Roster`] from the events and passes every event on. When the
//! WebSocket drops it resumes on a new one (PROTOCOL.md §4.3) and keeps its media transports.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use signalling_proto::{
    Command, CommandResult, Empty, Event, EventMessage, Location, ParticipantId, ResumeArgs,
    RoomJoined, RoomResumed, Secret, SendChatMessageArgs,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::client_error::ClientError;
use crate::media_frame::{FrameStream, MediaFrame};
use crate::publisher::{PublishOptions, Publisher};
use crate::receiver::Receiver;
use crate::roster::Roster;
use crate::signalling::{Events, Signalling};

/// How to join.
#[derive(Debug, Clone)]
pub struct JoinOptions {
    /// `ws://host:port` of the SFU (`/rtc` is appended when the URL has no path).
    pub url: String,
    /// The room name.
    pub room: String,
    /// A join token (`sfu token create`, the API's token endpoint, or `/dev/token` on a
    /// development server); its role decides what the client may do.
    pub token: String,
    /// The display name others see.
    pub display_name: String,
    /// Open a receive transport and deliver [`MediaFrame`]s (default: true).
    pub receive: bool,
    /// Resume on a new socket when the WebSocket drops (default: true). The server keeps the
    /// participant, its location and its media transports through its reconnect grace.
    pub resume: bool,
}

impl JoinOptions {
    /// Joins `room` at `url` with `token` as `display_name`, receiving media.
    pub fn new(url: &str, room: &str, token: &str, display_name: &str) -> Self {
        Self {
            url: url.to_owned(),
            room: room.to_owned(),
            token: token.to_owned(),
            display_name: display_name.to_owned(),
            receive: true,
            resume: true,
        }
    }
}

/// The server's events, in order, after the client applied them to its roster. Ends when
/// the connection closes.
pub type EventStream = mpsc::UnboundedReceiver<Event>;

/// The signalling connection in use: replaced by a resume on a new socket.
type Shared = Arc<RwLock<Arc<Signalling>>>;

/// The pause before each resume try after the socket dropped: the server's reconnect grace is
/// 30 s by default, a restarted proxy takes a few seconds.
const RESUME_TRIES: [Duration; 5] = [
    Duration::from_millis(0),
    Duration::from_millis(250),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
];

/// A joined participant.
#[derive(Debug)]
pub struct Client {
    signalling: Shared,
    joined: Box<RoomJoined>,
    roster: Arc<Mutex<Roster>>,
    frames: Mutex<Option<FrameStream>>,
    resumes: Arc<AtomicU64>,
    leaving: Arc<AtomicBool>,
    events_task: JoinHandle<()>,
}

impl Client {
    /// Opens the WebSocket and joins (`join_room` with a token credential). The receive
    /// transport, when asked for, exists before the join so that no offer finds it missing.
    pub async fn join(options: JoinOptions) -> Result<(Client, EventStream), ClientError> {
        let (signalling, events) = Signalling::connect(&options.url).await?;
        let signalling = Arc::new(signalling);
        let roster = Arc::new(Mutex::new(Roster::default()));
        let (frames_tx, frames_rx) = mpsc::unbounded_channel::<MediaFrame>();
        let receiver = if options.receive {
            Some(Receiver::new(Arc::clone(&roster), frames_tx).await?)
        } else {
            None
        };
        let joined = signalling
            .join_room(&options.room, &options.token, &options.display_name)
            .await?;
        *lock(&roster) = Roster::from_joined(&joined);
        let (app_tx, app_rx) = mpsc::unbounded_channel();
        let shared: Shared = Arc::new(RwLock::new(signalling));
        let resumes = Arc::new(AtomicU64::new(0));
        let leaving = Arc::new(AtomicBool::new(false));
        let resume = options.resume.then(|| Resume {
            url: options.url.clone(),
            token: joined.resume_token.clone(),
            resumes: Arc::clone(&resumes),
            leaving: Arc::clone(&leaving),
        });
        let events_task = tokio::spawn(follow_events(
            events,
            Arc::clone(&shared),
            receiver,
            Arc::clone(&roster),
            app_tx,
            resume,
        ));
        let client = Client {
            signalling: shared,
            joined,
            roster,
            frames: Mutex::new(options.receive.then_some(frames_rx)),
            resumes,
            leaving,
            events_task,
        };
        Ok((client, app_rx))
    }

    /// This client's participant id.
    pub fn id(&self) -> &ParticipantId {
        &self.joined.self_id
    }

    /// The `room_joined` result: role, resume token, the room and breakout state at join time.
    pub fn joined(&self) -> &RoomJoined {
        &self.joined
    }

    /// A copy of the roster as the events so far describe it.
    pub fn roster(&self) -> Roster {
        lock(&self.roster).clone()
    }

    /// Where this client is now (main room or a breakout session).
    pub fn location(&self) -> Location {
        lock(&self.roster).location()
    }

    /// The received frames of every participant this client may hear; `None` after the first
    /// call or when joined with `receive: false`.
    pub fn take_frames(&self) -> Option<FrameStream> {
        lock(&self.frames).take()
    }

    /// Starts publishing; returns when the transport is connected and media may be sent.
    pub async fn publish(&self, options: PublishOptions) -> Result<Publisher, ClientError> {
        Publisher::start(&self.signalling(), options).await
    }

    /// Sends a chat message to this client's location (spec §8.5).
    pub async fn send_chat(&self, text: &str) -> Result<(), ClientError> {
        self.signalling()
            .request(Command::SendChatMessage(SendChatMessageArgs {
                text: text.to_owned(),
                parent_id: None,
                broadcast: None,
                client_msg_id: None,
            }))
            .await
            .map(drop)
    }

    /// Sends any command and waits for its typed result (breakout management for a host,
    /// `set_audio_enabled`, ...).
    pub async fn request(
        &self,
        command: Command,
    ) -> Result<signalling_proto::CommandResult, ClientError> {
        self.signalling().request(command).await
    }

    /// The signalling connection in use (a new one after each resume), for callers that need
    /// the raw protocol.
    pub fn signalling(&self) -> Arc<Signalling> {
        Arc::clone(&read(&self.signalling))
    }

    /// How many times the client resumed on a new socket after its WebSocket dropped.
    pub fn resumes(&self) -> u64 {
        self.resumes.load(Ordering::Relaxed)
    }

    /// Leaves the room (`leave_room`: released at once, no reconnect grace) and closes the
    /// connection. Close a [`Publisher`] separately.
    pub async fn leave(self) -> Result<(), ClientError> {
        self.leaving.store(true, Ordering::Relaxed);
        let signalling = self.signalling();
        let left = signalling
            .request(Command::LeaveRoom(Empty {}))
            .await
            .map(drop);
        signalling.close();
        self.events_task.abort();
        left
    }
}

/// What resuming needs: where, with which token, and the counters the client reads.
struct Resume {
    url: String,
    token: Secret,
    resumes: Arc<AtomicU64>,
    leaving: Arc<AtomicBool>,
}

async fn follow_events(
    mut events: Events,
    shared: Shared,
    mut receiver: Option<Receiver>,
    roster: Arc<Mutex<Roster>>,
    app: mpsc::UnboundedSender<Event>,
    resume: Option<Resume>,
) {
    let mut last_seq = 0;
    loop {
        let mut gone = false;
        while let Some(EventMessage { seq, event, .. }) = events.recv().await {
            if let Some(seq) = seq {
                last_seq = seq;
            }
            let me = {
                let mut roster = lock(&roster);
                roster.apply(&event);
                roster.self_id.clone()
            };
            if let Event::SubscriberOffer(offer) = &event {
                match receiver.as_mut() {
                    Some(receiver) => {
                        let signalling = Arc::clone(&read(&shared));
                        if let Err(error) = receiver.answer(&signalling, offer.clone()).await {
                            warn!(%error, "answering a subscriber offer failed");
                        }
                    }
                    None => warn!("subscriber offer to a client that does not receive"),
                }
            }
            // Left, kicked or the meeting ended: there is nothing to resume.
            gone |= match &event {
                Event::RoomLeft(_) | Event::RoomSessionEnded(_) => true,
                Event::ClientKicked(kicked) => Some(&kicked.client_id) == me.as_ref(),
                _ => false,
            };
            // The application may have dropped its stream; the client goes on.
            let _ = app.send(event);
        }
        let Some(resume) = resume
            .as_ref()
            .filter(|r| !gone && !r.leaving.load(Ordering::Relaxed))
        else {
            break;
        };
        let Some((signalling, new_events, resumed)) = resume_on_new_socket(resume, last_seq).await
        else {
            break;
        };
        *resume_slot(&shared) = Arc::new(signalling);
        events = new_events;
        {
            let mut roster = lock(&roster);
            let me = roster.self_id.clone();
            if let Some(p) = me.and_then(|id| roster.participants.get_mut(&id)) {
                p.location = resumed.location.clone();
            }
        }
        resume.resumes.fetch_add(1, Ordering::Relaxed);
        info!(replayed = resumed.replayed, "resumed on a new socket");
    }
    if let Some(receiver) = receiver {
        receiver.close().await;
    }
}

/// Opens a new socket and sends `resume` (PROTOCOL.md §4.3), a few times over the grace.
async fn resume_on_new_socket(
    resume: &Resume,
    last_seq: u64,
) -> Option<(Signalling, Events, Box<RoomResumed>)> {
    for pause in RESUME_TRIES {
        tokio::time::sleep(pause).await;
        if resume.leaving.load(Ordering::Relaxed) {
            return None;
        }
        let (signalling, events) = match Signalling::connect(&resume.url).await {
            Ok(connected) => connected,
            Err(error) => {
                warn!(%error, "resume: no new socket yet");
                continue;
            }
        };
        let args = ResumeArgs {
            resume_token: resume.token.clone(),
            last_seq,
            new_transports: false,
        };
        match signalling.request(Command::Resume(args)).await {
            Ok(CommandResult::Resume(resumed)) => return Some((signalling, events, resumed)),
            Ok(other) => warn!(?other, "resume: unexpected result"),
            Err(error) if error.code().is_some() => {
                // `resume_failed` (the grace is over) or `kicked_from_room`: final.
                warn!(%error, "resume refused");
                return None;
            }
            Err(error) => warn!(%error, "resume failed; trying again"),
        }
    }
    None
}

fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    // Replaced whole on resume: a panicked writer leaves either the old or the new value.
    m.read().unwrap_or_else(|p| p.into_inner())
}

fn resume_slot<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|p| p.into_inner())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Plain state replaced or updated in single steps: a panicked holder leaves it usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}
