//! Who may send each command: the capability matrix of spec §4.2 as one table.
//!
//! [`CommandName::issuer`] is an exhaustive `match`, so a new command does not compile until
//! its issuer is written down here. The server checks it for every command right after
//! admission and before any state check (spec §6.2), and the role tests iterate over
//! [`CommandName::ALL`] with it, so no command can escape them.
//!
//! A few commands have an extra, argument-dependent rule on top of the table, checked by the
//! command itself: `breakout_get {acquireEditLock: true}` and `send_chat_message {broadcast:
//! true}` need a host, and `remove_chat_message` of someone else's message needs a host.

use crate::{CommandName, Role};

/// What a command needs of its caller (spec §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Issuer {
    /// Sent before admission (`join_room`, `knock_room`, `cancel_knock`, `resume`, spec §6.1).
    Unadmitted,
    /// Any admitted participant, service roles included.
    Admitted,
    /// A person role: everyone but the service roles `recorder`, `streamer` and `assistant`.
    Person,
    /// A role that may send chat: the person roles and `assistant` ([`Role::may_chat`]).
    Chatter,
    /// A role that may publish a microphone: the publishing roles and `assistant`
    /// ([`Role::may_publish_audio`]).
    Speaker,
    /// A role that may publish camera, microphone and screen: `host`, `visitor`,
    /// `granted_visitor`.
    Publisher,
    /// A manager (`host`).
    Host,
}

impl Issuer {
    /// Whether an admitted participant with `role` may send a command needing `self`.
    pub fn allows(self, role: Role) -> bool {
        match self {
            Issuer::Unadmitted | Issuer::Admitted => true,
            Issuer::Person => role.is_person(),
            Issuer::Chatter => role.may_chat(),
            Issuer::Speaker => role.may_publish_audio(),
            Issuer::Publisher => role.may_publish(),
            Issuer::Host => role == Role::Host,
        }
    }
}

impl CommandName {
    /// Who may send this command (spec §4.2, §8; module docs for the argument-dependent
    /// extras).
    pub fn issuer(self) -> Issuer {
        use CommandName as C;
        match self {
            // §8.1
            C::JoinRoom | C::KnockRoom | C::CancelKnock | C::Resume => Issuer::Unadmitted,
            C::LeaveRoom | C::GetRoomState => Issuer::Admitted,
            // §8.2, §8.3
            C::HandleKnock
            | C::SetLock
            | C::KickParticipant
            | C::EndMeeting
            | C::RequestAudioEnable
            | C::RequestVideoEnable
            | C::ClearStickyReaction
            | C::AddSpotlight
            | C::RemoveSpotlight => Issuer::Host,
            // §8.4
            C::SetVideoEnabled | C::StartScreenshare | C::StopScreenshare => Issuer::Publisher,
            // Assistants speak (issue 20): the microphone gate is theirs too.
            C::SetAudioEnabled => Issuer::Speaker,
            C::SetDisplayName | C::SetStickyReaction => Issuer::Person,
            // §8.5; an assistant answers in chat but does not moderate its own history.
            C::SendChatMessage => Issuer::Chatter,
            C::RemoveChatMessage => Issuer::Person,
            // §8.6
            C::StartCloudRecording
            | C::StopCloudRecording
            | C::StartLiveStream
            | C::StopLiveStream
            | C::StartLiveTranscription
            | C::StopLiveTranscription => Issuer::Host,
            // §8.7, §12, §17.1: every management command is the host's; the view is anyone's.
            C::BreakoutGet => Issuer::Admitted,
            C::BreakoutEnable
            | C::BreakoutDisable
            | C::BreakoutConfigure
            | C::BreakoutCreateSessions
            | C::BreakoutRenameSession
            | C::BreakoutDeleteSession
            | C::BreakoutClearSessions
            | C::BreakoutSetSessionOpen
            | C::BreakoutAssign
            | C::BreakoutAutoAssign
            | C::BreakoutStart
            | C::BreakoutEnd
            | C::BreakoutCancelAutoEnd
            | C::BreakoutExtendAutoEnd
            | C::BreakoutMove
            | C::BreakoutAskAllToReturn
            | C::BreakoutBroadcast
            | C::BreakoutEditLockAcquire
            | C::BreakoutEditLockRefresh
            | C::BreakoutEditLockRelease
            | C::BreakoutMonitor
            | C::BreakoutStopMonitor => Issuer::Host,
            // §8.8
            C::BreakoutJoin | C::BreakoutLeave | C::BreakoutAskForHelp => Issuer::Person,
            // Media (DECISIONS.md §10): publishing needs a publishing role, receiving does not;
            // an assistant publishes audio (its video gate never opens, spec §13.7).
            C::PublisherOffer | C::PublishTracks | C::UnpublishTracks => Issuer::Speaker,
            C::SubscriberAnswer | C::IceCandidate | C::SetSubscriptionPreferences => {
                Issuer::Admitted
            }
        }
    }
}

impl Role {
    /// Every role an admitted participant can have (spec §4.1).
    pub const ALL: &'static [Role] = &[
        Role::Host,
        Role::Visitor,
        Role::GrantedVisitor,
        Role::Viewer,
        Role::GrantedViewer,
        Role::Recorder,
        Role::Streamer,
        Role::Assistant,
        Role::Captioner,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    // The table agrees with spec §4.2's matrix on the role classes: only hosts manage, only
    // publishing roles publish, service roles do nothing a person does.
    #[test]
    fn issuer_classes_follow_the_capability_matrix() {
        for &role in Role::ALL {
            assert!(Issuer::Admitted.allows(role));
            assert_eq!(Issuer::Host.allows(role), role == Role::Host, "{role:?}");
            assert_eq!(
                Issuer::Publisher.allows(role),
                matches!(role, Role::Host | Role::Visitor | Role::GrantedVisitor),
                "{role:?}"
            );
            assert_eq!(
                Issuer::Person.allows(role),
                !matches!(
                    role,
                    Role::Recorder | Role::Streamer | Role::Assistant | Role::Captioner
                ),
                "{role:?}"
            );
            // Issue 20: an assistant speaks and answers in chat, and nothing else a person
            // may do.
            assert_eq!(
                Issuer::Speaker.allows(role),
                matches!(
                    role,
                    Role::Host | Role::Visitor | Role::GrantedVisitor | Role::Assistant
                ),
                "{role:?}"
            );
            assert_eq!(
                Issuer::Chatter.allows(role),
                !matches!(role, Role::Recorder | Role::Streamer | Role::Captioner),
                "{role:?}"
            );
        }
        // §8.7: every breakout command but the view and participation (§8.8) is a host's.
        let participation = ["breakout_get", "breakout_join", "breakout_leave"];
        for &name in CommandName::ALL {
            let wire = name.as_str();
            if wire.starts_with("breakout_")
                && !participation.contains(&wire)
                && wire != "breakout_ask_for_help"
            {
                assert_eq!(name.issuer(), Issuer::Host, "{wire}");
            }
        }
        assert_eq!(CommandName::BreakoutGet.issuer(), Issuer::Admitted);
    }
}
