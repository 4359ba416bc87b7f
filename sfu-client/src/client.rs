//! [`Client`]: one participant in a room. It joins with a token, answers the server's
//! subscriber offers, keeps a [`Roster`] from the events and passes every event on.

use std::sync::{Arc, Mutex};

use signalling_proto::{
    Command, Empty, Event, EventMessage, Location, ParticipantId, RoomJoined, SendChatMessageArgs,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::warn;

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
        }
    }
}

/// The server's events, in order, after the client applied them to its roster. Ends when
/// the connection closes.
pub type EventStream = mpsc::UnboundedReceiver<Event>;

/// A joined participant.
#[derive(Debug)]
pub struct Client {
    signalling: Arc<Signalling>,
    joined: Box<RoomJoined>,
    roster: Arc<Mutex<Roster>>,
    frames: Mutex<Option<FrameStream>>,
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
        let events_task = tokio::spawn(follow_events(
            events,
            Arc::clone(&signalling),
            receiver,
            Arc::clone(&roster),
            app_tx,
        ));
        let client = Client {
            signalling,
            joined,
            roster,
            frames: Mutex::new(options.receive.then_some(frames_rx)),
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
        Publisher::start(&self.signalling, options).await
    }

    /// Sends a chat message to this client's location (spec §8.5).
    pub async fn send_chat(&self, text: &str) -> Result<(), ClientError> {
        self.signalling
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
        self.signalling.request(command).await
    }

    /// The signalling connection, for callers that need the raw protocol.
    pub fn signalling(&self) -> &Arc<Signalling> {
        &self.signalling
    }

    /// Leaves the room (`leave_room`: released at once, no reconnect grace) and closes the
    /// connection. Close a [`Publisher`] separately.
    pub async fn leave(self) -> Result<(), ClientError> {
        let left = self
            .signalling
            .request(Command::LeaveRoom(Empty {}))
            .await
            .map(drop);
        self.signalling.close();
        self.events_task.abort();
        left
    }
}

async fn follow_events(
    mut events: Events,
    signalling: Arc<Signalling>,
    mut receiver: Option<Receiver>,
    roster: Arc<Mutex<Roster>>,
    app: mpsc::UnboundedSender<Event>,
) {
    while let Some(EventMessage { event, .. }) = events.recv().await {
        lock(&roster).apply(&event);
        if let Event::SubscriberOffer(offer) = &event {
            match receiver.as_mut() {
                Some(receiver) => {
                    if let Err(error) = receiver.answer(&signalling, offer.clone()).await {
                        warn!(%error, "answering a subscriber offer failed");
                    }
                }
                None => warn!("subscriber offer to a client that does not receive"),
            }
        }
        // The application may have dropped its stream; the client goes on.
        let _ = app.send(event);
    }
    if let Some(receiver) = receiver {
        receiver.close().await;
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Plain state replaced or updated in single steps: a panicked holder leaves it usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}
