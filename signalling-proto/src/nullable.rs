//! Serde helpers for the two kinds of nullable field the spec uses.
//!
//! Serde treats a missing `Option` field as `None`. That is right for optional arguments
//! (`displayName?`), but wrong for a field that is required and may be `null` (`reaction: string
//! | null`), and it cannot tell "absent" from "null" in a partial update (`maxSessionSize: null`
//! clears the limit, an absent `maxSessionSize` keeps it).

use serde::{Deserialize, Deserializer};

/// A required field whose value may be `null`: use with `deserialize_with`, which makes serde
/// report a missing field as `missing` instead of defaulting it.
pub(crate) fn required<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer)
}

/// A field of a partial update: absent → `None` (with `#[serde(default)]`), `null` →
/// `Some(None)`, a value → `Some(Some(v))`.
pub(crate) fn patch<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}
