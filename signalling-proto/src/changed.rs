//! The result of a command that may turn out to be a no-op.

use serde::{Deserialize, Serialize};

/// `{}` when the command changed something, `{"changed": false}` when it would not have changed
/// anything and so emitted nothing (spec §6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Changed {
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub changed: bool,
}

impl Changed {
    /// The command changed state (`{}`).
    pub const YES: Changed = Changed { changed: true };
    /// The command was a no-op (`{"changed": false}`).
    pub const NO: Changed = Changed { changed: false };
}

impl Default for Changed {
    fn default() -> Self {
        Self::YES
    }
}

fn yes() -> bool {
    true
}

fn is_true(value: &bool) -> bool {
    *value
}
