//! The example assistant's behaviour, apart from how it is started: hear every participant of
//! its location separately, answer `!talk` in chat with each speaker's talk time, and start
//! over when a host moves it to another group. The crate's end-to-end test runs this loop.

use sfu_client::{Client, ClientError, Event, EventStream, FrameStream};

use super::talk_time::TalkTime;

/// The chat request the assistant answers.
pub const REQUEST: &str = "!talk";

/// Runs until the connection closes (the event stream ends) or `stop` fires; returns what it
/// heard in its current location.
pub async fn run(
    client: &Client,
    mut events: EventStream,
    mut frames: FrameStream,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) -> Result<TalkTime, ClientError> {
    let mut heard = TalkTime::default();
    let mut location = client.location();
    loop {
        tokio::select! {
            frame = frames.recv() => match frame {
                Some(frame) => heard.hear(&frame),
                None => return Ok(heard),
            },
            event = events.recv() => match event {
                Some(Event::ChatMessage(message))
                    if message.text.trim() == REQUEST && message.sender_id != *client.id() =>
                {
                    client.send_chat(&heard.summary(&client.roster())).await?;
                }
                Some(Event::BreakoutLocationChanged(change)) if change.participant_id == *client.id() => {
                    // A new group: what was said elsewhere is not this group's business.
                    if change.to != location {
                        location = change.to;
                        heard = TalkTime::default();
                    }
                }
                Some(_) => {}
                None => return Ok(heard),
            },
            _ = &mut stop => return Ok(heard),
        }
    }
}
