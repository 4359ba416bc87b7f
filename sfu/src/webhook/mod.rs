//! Webhooks (issue 18): what happens in rooms, POSTed as signed JSON to configured URLs.
//!
//! * [`event`]: the body: `{id, room, seq, createdAt, event, data}`. `id` is unique per event
//!   (for de-duplication: delivery is at least once), `seq` counts the events of one running
//!   room from 1 so a receiver can order them.
//! * [`signature`]: `Sfu-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(key, "<t>.<body>")>`.
//! * [`delivery`]: one bounded queue and one task per URL. Each task delivers in order and
//!   retries timeouts, connection errors and 5xx with exponential backoff; a room only ever
//!   `try_send`s, so a slow or dead endpoint fills its own queue (drops are counted) and never
//!   holds up a meeting.

pub(crate) mod delivery;
pub(crate) mod event;
pub(crate) mod https;
pub(crate) mod signature;

pub use delivery::{WebhookConfig, Webhooks};
pub use event::{WebhookBody, WebhookEvent};
pub use signature::{sign, verify, SIGNATURE_HEADER};
