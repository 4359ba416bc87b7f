//! The empty object `{}`.

use serde::{Deserialize, Serialize};

/// `{}`: the arguments of a command that takes none, the result of a command that returns
/// nothing, and the data of an event that carries nothing. Spec §6.2: every `result` is a JSON
/// object, so "nothing" is `{}`, never `null`; and as everywhere, unknown fields are rejected.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct Empty {}
