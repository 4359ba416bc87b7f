//! `TransportKind`: which of a participant's two WebRTC transports something concerns.

/// Which of a participant's two transports a peer is (DECISIONS.md §10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    /// The client offers and publishes; never renegotiated by subscription changes.
    Publisher,
    /// The server offers the participant's subscriptions.
    Subscriber,
}
