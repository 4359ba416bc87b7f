//! Room chat: per-location history, `clientMsgId` idempotency and the chat commands (spec
//! §5.5, §6.4, §6.5, §8.5).

use crate::control::errors::rate_limited;
use crate::control::errors::{error, forbidden};
use crate::control::rate_limit::RateLimits;
use crate::control::room::Needs;
use crate::control::text_rules::CHAT_TEXT;
use crate::control::wire_id::{location_to_wire, participant_to_wire};
use crate::control::Room;
use crate::core::{Location, ParticipantId};
use signalling_proto::{
    ChatMessage, ChatMessageRemoved, Empty, ErrorBody, ErrorCode, Event, MessageId,
    RemoveChatMessageArgs, SendChatMessageArgs, SendChatMessageResult,
};
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

/// Messages kept per scope (spec §5.5 `RingBuffer<ChatMessage, 500>`).
pub(crate) const HISTORY_PER_SCOPE: usize = 500;
/// How long a `clientMsgId` is remembered (spec §6.4).
pub(crate) const CLIENT_MSG_ID_WINDOW: Duration = Duration::from_secs(60);

/// Chat of the current room session.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ChatStore {
    per_scope: BTreeMap<Location, VecDeque<ChatMessage>>,
    /// `(sender, clientMsgId)` → the message it produced, for 60 s.
    recent: Vec<RecentClientMsg>,
    next_message: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct RecentClientMsg {
    sender: ParticipantId,
    client_msg_id: String,
    result: SendChatMessageResult,
    at: Instant,
}

impl ChatStore {
    pub(crate) fn is_empty(&self) -> bool {
        self.per_scope.values().all(VecDeque::is_empty) && self.recent.is_empty()
    }

    /// Drops every session scope: their history ends with the run (spec §5.5, §10.2).
    pub(crate) fn discard_sessions(&mut self) {
        self.per_scope.retain(|scope, _| *scope == Location::Main);
    }

    /// The last `n` messages of a scope, oldest first.
    pub(crate) fn history(&self, scope: Location, n: usize) -> Vec<ChatMessage> {
        self.per_scope
            .get(&scope)
            .map_or_else(Vec::new, |messages| {
                messages
                    .iter()
                    .skip(messages.len().saturating_sub(n))
                    .cloned()
                    .collect()
            })
    }

    fn find(&self, id: &MessageId) -> Option<&ChatMessage> {
        self.per_scope
            .values()
            .flat_map(|messages| messages.iter())
            .find(|m| &m.id == id)
    }

    fn contains_in(&self, scope: Location, id: &MessageId) -> bool {
        self.per_scope
            .get(&scope)
            .is_some_and(|messages| messages.iter().any(|m| &m.id == id))
    }

    fn repeat_of(
        &self,
        sender: ParticipantId,
        client_msg_id: &str,
        now: Instant,
    ) -> Option<&SendChatMessageResult> {
        self.recent
            .iter()
            .find(|r| {
                r.sender == sender
                    && r.client_msg_id == client_msg_id
                    && now.saturating_duration_since(r.at) < CLIENT_MSG_ID_WINDOW
            })
            .map(|r| &r.result)
    }

    /// A time-ordered id (spec §3 "ULID-like"): milliseconds then a counter, both fixed-width
    /// hex, so ids sort by creation.
    fn mint_id(&mut self, unix_millis: i64) -> MessageId {
        self.next_message += 1;
        let millis = u64::try_from(unix_millis).unwrap_or(0);
        MessageId(format!("{millis:012x}{:08x}", self.next_message))
    }
}

impl Room {
    pub(crate) fn chat_history_for(&self, scope: Location) -> Vec<ChatMessage> {
        let n = usize::try_from(self.policy.chat_history_on_enter).unwrap_or(usize::MAX);
        self.state.chat.history(scope, n)
    }

    /// Participants who read chat (persons and assistants, which answer it) located in
    /// `scope` (`None`: everybody, for a broadcast).
    fn chat_audience(&self, scope: Option<Location>) -> Vec<ParticipantId> {
        self.state
            .participants
            .values()
            .filter(|p| p.role.may_chat() && scope.is_none_or(|s| p.location == s))
            .map(|p| p.id)
            .collect()
    }

    /// `send_chat_message` (spec §8.5).
    pub(crate) fn send_chat_message(
        &mut self,
        now: Instant,
        caller: ParticipantId,
        args: SendChatMessageArgs,
    ) -> Result<SendChatMessageResult, ErrorBody> {
        let me = self.require(caller, Needs::Chatter)?;
        let (is_host, scope, sender_name) = (me.is_host(), me.location, me.display_name.clone());
        // §6.4: a repeat returns the original and emits nothing; it is checked before the rate
        // limits so a client retrying after a lost response is not punished for it.
        if let Some(id) = &args.client_msg_id {
            if let Some(original) = self.state.chat.repeat_of(caller, id, now) {
                return Ok(original.clone());
            }
        }
        let text = CHAT_TEXT.check(&args.text)?;
        let broadcast = args.broadcast.unwrap_or(false);
        if broadcast && !is_host {
            return Err(forbidden());
        }
        if let Some(parent) = &args.parent_id {
            if !self.state.chat.contains_in(scope, parent) {
                return Err(error(
                    ErrorCode::MessageNotFound,
                    "no such message in this scope",
                ));
            }
        }
        let bytes = u64::try_from(text.len()).unwrap_or(u64::MAX);
        let limits = self
            .limits
            .entry(caller)
            .or_insert_with(|| RateLimits::new(now));
        limits.chat.check(1, now).map_err(rate_limited)?;
        limits.chat_bytes.check(bytes, now).map_err(rate_limited)?;
        limits.chat.take(1);
        limits.chat_bytes.take(bytes);

        let timestamp = self.timestamp(now);
        let id = self.state.chat.mint_id(self.clock.unix_millis_at(now));
        let message = ChatMessage {
            id: id.clone(),
            sender_id: participant_to_wire(caller),
            sender_name,
            text,
            timestamp: timestamp.clone(),
            scope: location_to_wire(scope),
            broadcast,
            parent_id: args.parent_id,
            removed: false,
        };
        // A broadcast is one copy per scope under one id (§5.5): MAIN and every current session
        // (every session of a running breakout, and wherever people are).
        let sessions: Vec<Location> = if self.state.breakout.is_active() {
            self.state
                .breakout
                .sessions
                .iter()
                .map(|s| Location::Session(s.id))
                .collect()
        } else {
            Vec::new()
        };
        let scopes: Vec<Location> = if broadcast {
            let mut scopes: Vec<Location> = self
                .state
                .participants
                .values()
                .map(|p| p.location)
                .chain([Location::Main])
                .chain(sessions)
                .collect();
            scopes.sort();
            scopes.dedup();
            scopes
        } else {
            vec![scope]
        };
        for s in scopes {
            let mut copy = message.clone();
            copy.scope = location_to_wire(s);
            let history = self.state.chat.per_scope.entry(s).or_default();
            history.push_back(copy);
            while history.len() > HISTORY_PER_SCOPE {
                history.pop_front();
            }
        }
        let result = SendChatMessageResult {
            message_id: id,
            timestamp,
        };
        if let Some(client_msg_id) = args.client_msg_id {
            self.state
                .chat
                .recent
                .retain(|r| now.saturating_duration_since(r.at) < CLIENT_MSG_ID_WINDOW);
            self.state.chat.recent.push(RecentClientMsg {
                sender: caller,
                client_msg_id,
                result: result.clone(),
                at: now,
            });
        }
        let audience = self.chat_audience((!broadcast).then_some(scope));
        self.send(audience, Event::ChatMessage(message));
        Ok(result)
    }

    /// `remove_chat_message` (spec §8.5): the sender or a host; the text is dropped.
    pub(crate) fn remove_chat_message(
        &mut self,
        caller: ParticipantId,
        args: RemoveChatMessageArgs,
    ) -> Result<Empty, ErrorBody> {
        let me = self.require(caller, Needs::Person)?;
        let is_host = me.is_host();
        let message = self
            .state
            .chat
            .find(&args.message_id)
            .ok_or_else(|| error(ErrorCode::MessageNotFound, "no such message"))?;
        if !is_host && message.sender_id != participant_to_wire(caller) {
            return Err(forbidden());
        }
        if message.removed {
            return Ok(Empty {});
        }
        let broadcast = message.broadcast;
        let mut scope = None;
        for (s, messages) in &mut self.state.chat.per_scope {
            for m in messages.iter_mut().filter(|m| m.id == args.message_id) {
                m.removed = true;
                m.text.clear();
                scope = Some(*s);
            }
        }
        let audience = self.chat_audience(if broadcast { None } else { scope });
        self.send(
            audience,
            Event::ChatMessageRemoved(ChatMessageRemoved {
                message_id: args.message_id,
                by: participant_to_wire(caller),
            }),
        );
        Ok(Empty {})
    }
}
