//! Credentials and tokens that must never reach a log.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A secret string on the wire: a join token, a knock grant, a resume token, an edit-lock token.
/// `Debug` prints `Secret(..)` so a logged message never leaks it (spec §12: "never logged").
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct Secret(pub String);

impl Secret {
    /// The secret text, for the code that checks or stores it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A secret inside a logged message prints as `Secret(..)`.
    #[test]
    fn debug_hides_the_secret() {
        assert_eq!(format!("{:?}", Secret::from("hunter2")), "Secret(..)");
    }
}
