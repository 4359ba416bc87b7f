//! `invalid_argument` details: which field, and why (spec §6.6).

use serde::{Deserialize, Serialize};
use std::fmt;

/// `details.reason` of an `invalid_argument` error (spec §6.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ArgumentReason {
    /// A required field is absent.
    Missing,
    /// Wrong JSON type: `"true"` for a boolean, `60.0` for an integer, an array for an object.
    Type,
    /// A field the command does not define.
    UnknownField,
    /// An empty string or list where content is required.
    Empty,
    /// A string over its length limit.
    TooLong,
    /// A list over its length limit.
    TooMany,
    /// A number below its range.
    BelowMinimum,
    /// A number above its range.
    AboveMaximum,
    /// A string with characters its field forbids.
    InvalidChars,
    /// Anything else: an unknown enum value, a bad combination of fields.
    InvalidValue,
}

/// `details` of an `invalid_argument` error: `{field, reason, min?, max?}` (spec §6.6).
///
/// `field` is a path inside `args`: `"text"`, `"config.countdownTimer"`,
/// `"assignments[1].sessionId"`; `"args"` when `args` as a whole is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InvalidArgumentDetails {
    /// Path of the offending field inside `args`.
    pub field: String,
    /// What is wrong with it.
    pub reason: ArgumentReason,
    /// The lower bound, for `below_minimum` (and for range errors in general).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<i64>,
    /// The upper bound, for `above_maximum` / `too_long` / `too_many`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<i64>,
}

impl InvalidArgumentDetails {
    /// Details without bounds.
    pub fn new(field: impl Into<String>, reason: ArgumentReason) -> Self {
        Self {
            field: field.into(),
            reason,
            min: None,
            max: None,
        }
    }

    /// The problem in plain words, prefixed with the field: the `message` of the
    /// `invalid_argument` error (`"config.countdownTimer: must be at most 300"`).
    pub fn describe(&self) -> String {
        let bound = |b: Option<i64>| b.map(|v| v.to_string()).unwrap_or_default();
        let problem = match self.reason {
            ArgumentReason::Missing => "is missing".to_owned(),
            ArgumentReason::Type => "has the wrong type".to_owned(),
            ArgumentReason::UnknownField => "is not a field of this command".to_owned(),
            ArgumentReason::Empty => "must not be empty".to_owned(),
            ArgumentReason::TooLong => match self.max {
                Some(max) => format!("is too long (at most {max})"),
                None => "is too long".to_owned(),
            },
            ArgumentReason::TooMany => match self.max {
                Some(max) => format!("has too many entries (at most {max})"),
                None => "has too many entries".to_owned(),
            },
            ArgumentReason::BelowMinimum => format!("must be at least {}", bound(self.min)),
            ArgumentReason::AboveMaximum => format!("must be at most {}", bound(self.max)),
            ArgumentReason::InvalidChars => "contains characters that are not allowed".to_owned(),
            ArgumentReason::InvalidValue => "has a value that is not allowed here".to_owned(),
        };
        format!("{}: {problem}", self.field)
    }

    /// A number outside `min..=max`: `below_minimum` or `above_maximum` with both bounds.
    pub fn out_of_range(field: impl Into<String>, value: i64, min: i64, max: i64) -> Self {
        let reason = if value < min {
            ArgumentReason::BelowMinimum
        } else {
            ArgumentReason::AboveMaximum
        };
        Self {
            field: field.into(),
            reason,
            min: Some(min),
            max: Some(max),
        }
    }
}

/// One step of a path into `args`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PathSegment {
    Key(String),
    Index(usize),
}

/// The error of decoding `args` with [`crate::args_deserializer::ArgsDeserializer`]: a serde
/// error that remembers the reason class and the field path, so the server can answer with the
/// spec's `details` instead of serde's prose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgumentError {
    reason: ArgumentReason,
    message: String,
    /// The bounds of a number outside its type's range (`below_minimum` / `above_maximum`).
    min: Option<i64>,
    max: Option<i64>,
    /// Innermost segment first; reversed when rendered.
    path: Vec<PathSegment>,
}

impl ArgumentError {
    fn new(reason: ArgumentReason, message: String) -> Self {
        Self {
            reason,
            message,
            min: None,
            max: None,
            path: Vec::new(),
        }
    }

    /// Adds the enclosing key as the error travels out of a map value.
    pub(crate) fn within_key(mut self, key: &str) -> Self {
        self.path.push(PathSegment::Key(key.to_owned()));
        self
    }

    /// Adds the enclosing index as the error travels out of an array element.
    pub(crate) fn within_index(mut self, index: usize) -> Self {
        self.path.push(PathSegment::Index(index));
        self
    }

    /// The reason class.
    pub fn reason(&self) -> ArgumentReason {
        self.reason
    }

    /// The field path inside `args` (`"args"` for `args` itself).
    pub fn field(&self) -> String {
        let mut out = String::new();
        for segment in self.path.iter().rev() {
            match segment {
                PathSegment::Key(key) if out.is_empty() => out.push_str(key),
                PathSegment::Key(key) => {
                    out.push('.');
                    out.push_str(key);
                }
                PathSegment::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        if out.is_empty() {
            out.push_str("args");
        }
        out
    }

    /// Serde's description of the problem, without the path.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The spec's `details` object.
    pub fn details(&self) -> InvalidArgumentDetails {
        InvalidArgumentDetails {
            min: self.min,
            max: self.max,
            ..InvalidArgumentDetails::new(self.field(), self.reason)
        }
    }
}

/// The range of the integer type serde names as "expected `u32`" and the like.
fn integer_bounds(expected: &str) -> Option<(i128, i128)> {
    Some(match expected {
        "u8" => (0, u8::MAX.into()),
        "u16" => (0, u16::MAX.into()),
        "u32" => (0, u32::MAX.into()),
        "u64" => (0, u64::MAX.into()),
        "i8" => (i8::MIN.into(), i8::MAX.into()),
        "i16" => (i16::MIN.into(), i16::MAX.into()),
        "i32" => (i32::MIN.into(), i32::MAX.into()),
        "i64" => (i64::MIN.into(), i64::MAX.into()),
        _ => return None,
    })
}

/// What serde expected, in words a client developer reads: its primitive types are Rust
/// names (`u32`), which mean nothing on the wire.
fn in_words(expected: &dyn serde::de::Expected) -> String {
    let text = expected.to_string();
    match text.as_str() {
        "u8" | "u16" | "u32" | "u64" => "a whole number, 0 or more".to_owned(),
        "i8" | "i16" | "i32" | "i64" => "a whole number".to_owned(),
        "f32" | "f64" => "a number".to_owned(),
        _ => text,
    }
}

impl fmt::Display for ArgumentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field(), self.message)
    }
}

impl std::error::Error for ArgumentError {}

impl serde::de::Error for ArgumentError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self::new(ArgumentReason::InvalidValue, msg.to_string())
    }

    fn invalid_type(unexp: serde::de::Unexpected<'_>, exp: &dyn serde::de::Expected) -> Self {
        Self::new(
            ArgumentReason::Type,
            format!("invalid type: {unexp}, expected {}", in_words(exp)),
        )
    }

    fn invalid_value(unexp: serde::de::Unexpected<'_>, exp: &dyn serde::de::Expected) -> Self {
        // An integer outside its field's type (`-1` or `2^40` for a `u32` field) is a range
        // error (spec §14 #37: `countdownTimer: -1` is `below_minimum`), with the type's bound.
        let value = match unexp {
            serde::de::Unexpected::Signed(v) => Some(i128::from(v)),
            serde::de::Unexpected::Unsigned(v) => Some(i128::from(v)),
            _ => None,
        };
        if let (Some(value), Some((min, max))) = (value, integer_bounds(&exp.to_string())) {
            let fits = |b: i128| i64::try_from(b).ok();
            if value < min {
                return Self {
                    min: fits(min),
                    ..Self::new(
                        ArgumentReason::BelowMinimum,
                        format!("must be at least {min}"),
                    )
                };
            }
            if value > max {
                return Self {
                    max: fits(max),
                    ..Self::new(
                        ArgumentReason::AboveMaximum,
                        format!("must be at most {max}"),
                    )
                };
            }
        }
        Self::new(
            ArgumentReason::InvalidValue,
            format!("invalid value: {unexp}, expected {}", in_words(exp)),
        )
    }

    fn invalid_length(len: usize, exp: &dyn serde::de::Expected) -> Self {
        Self::new(
            ArgumentReason::InvalidValue,
            format!("invalid length {len}, expected {exp}"),
        )
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        Self::new(
            ArgumentReason::InvalidValue,
            format!("unknown value `{variant}`, expected one of {expected:?}"),
        )
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        Self::new(
            ArgumentReason::UnknownField,
            format!("unknown field, expected one of {expected:?}"),
        )
        .within_key(field)
    }

    fn missing_field(field: &'static str) -> Self {
        Self::new(ArgumentReason::Missing, "missing field".to_owned()).within_key(field)
    }

    fn duplicate_field(field: &'static str) -> Self {
        Self::new(ArgumentReason::InvalidValue, "duplicate field".to_owned()).within_key(field)
    }
}
