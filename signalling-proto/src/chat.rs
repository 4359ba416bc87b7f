//! Room chat, scoped to the sender's location (spec §5.5, §8.5, §9.2).

use crate::{Location, MessageId, ParticipantId, Timestamp};
use serde::{Deserialize, Serialize};

/// A chat message as delivered in `chat_message`, `chat_history` and snapshots (spec §5.5, §9.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChatMessage {
    pub id: MessageId,
    pub sender_id: ParticipantId,
    pub sender_name: String,
    /// `""` once removed.
    pub text: String,
    pub timestamp: Timestamp,
    /// The sender's location when sent.
    pub scope: Location,
    /// A host message copied into every scope under one id.
    pub broadcast: bool,
    pub parent_id: Option<MessageId>,
    pub removed: bool,
}

/// `send_chat_message` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SendChatMessageArgs {
    /// 1-2000 characters after trim, ≤ 8 KiB (spec §3).
    pub text: String,
    /// A message in the same scope (else `message_not_found`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<MessageId>,
    /// Hosts only: copy into every scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broadcast: Option<bool>,
    /// ≤ 64 characters; a repeat within 60 s returns the original message (spec §6.4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_msg_id: Option<String>,
}

/// `send_chat_message` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SendChatMessageResult {
    pub message_id: MessageId,
    pub timestamp: Timestamp,
}

/// `remove_chat_message` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RemoveChatMessageArgs {
    pub message_id: MessageId,
}

/// `chat_message_removed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChatMessageRemoved {
    pub message_id: MessageId,
    pub by: ParticipantId,
}

/// `chat_history`, to a participant after each location change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChatHistory {
    pub scope: Location,
    pub messages: Vec<ChatMessage>,
}
