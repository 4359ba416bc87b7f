//! A strict `serde_json::Value` deserializer that reports *which* argument is wrong.
//!
//! serde_json's own errors say "invalid type: string \"true\", expected a boolean" without naming
//! the field, but spec §6.6 wants `details: {field, reason}`. This deserializer walks the value
//! itself, producing [`ArgumentError`]s that carry the reason class and collect the field path on
//! their way out. It is also stricter than `serde_json::Value` in one place: a struct must be a
//! JSON object (serde would accept a positional array).

use crate::argument_error::ArgumentError;
use serde::de::value::BorrowedStrDeserializer;
use serde::de::{
    DeserializeSeed, Deserializer, EnumAccess, Error as _, MapAccess, SeqAccess, Unexpected,
    VariantAccess, Visitor,
};
use serde_json::{Map, Value};

/// Deserializes a borrowed JSON value with path-tracking errors.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ArgsDeserializer<'de>(pub(crate) &'de Value);

fn unexpected(value: &Value) -> Unexpected<'_> {
    match value {
        Value::Null => Unexpected::Unit,
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => Unexpected::Unsigned(u),
            (None, Some(i), _) => Unexpected::Signed(i),
            (None, None, Some(f)) => Unexpected::Float(f),
            (None, None, None) => Unexpected::Other("number"),
        },
        Value::String(s) => Unexpected::Str(s),
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
    }
}

impl<'de> Deserializer<'de> for ArgsDeserializer<'de> {
    type Error = ArgumentError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ArgumentError> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    visitor.visit_u64(u)
                } else if let Some(i) = n.as_i64() {
                    visitor.visit_i64(i)
                } else if let Some(f) = n.as_f64() {
                    visitor.visit_f64(f)
                } else {
                    Err(ArgumentError::invalid_type(unexpected(self.0), &visitor))
                }
            }
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Array(items) => visit_array(items, visitor),
            Value::Object(map) => visit_object(map, visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ArgumentError> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ArgumentError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ArgumentError> {
        match self.0 {
            Value::Object(map) => visit_object(map, visitor),
            other => Err(ArgumentError::invalid_type(unexpected(other), &visitor)),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ArgumentError> {
        match self.0 {
            Value::Object(map) => visit_object(map, visitor),
            other => Err(ArgumentError::invalid_type(unexpected(other), &visitor)),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ArgumentError> {
        match self.0 {
            Value::String(s) => {
                let variant = BorrowedStrDeserializer::<ArgumentError>::new(s);
                visitor.visit_enum(variant)
            }
            Value::Object(map) if map.len() == 1 => {
                let (key, value) = map.iter().next().expect("map has exactly one entry");
                visitor.visit_enum(ExternallyTagged { key, value })
            }
            Value::Object(map) => Err(ArgumentError::invalid_length(
                map.len(),
                &"an object with exactly one key",
            )),
            other => Err(ArgumentError::invalid_type(unexpected(other), &visitor)),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, ArgumentError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct identifier
    }
}

fn visit_array<'de, V: Visitor<'de>>(
    items: &'de [Value],
    visitor: V,
) -> Result<V::Value, ArgumentError> {
    let mut access = ArrayAccess {
        items: items.iter(),
        index: 0,
    };
    let value = visitor.visit_seq(&mut access)?;
    if access.items.len() == 0 {
        Ok(value)
    } else {
        Err(ArgumentError::invalid_length(
            items.len(),
            &"fewer elements in array",
        ))
    }
}

fn visit_object<'de, V: Visitor<'de>>(
    map: &'de Map<String, Value>,
    visitor: V,
) -> Result<V::Value, ArgumentError> {
    visitor.visit_map(ObjectAccess {
        entries: map.iter(),
        pending: None,
    })
}

struct ArrayAccess<'de> {
    items: std::slice::Iter<'de, Value>,
    index: usize,
}

impl<'de> SeqAccess<'de> for &mut ArrayAccess<'de> {
    type Error = ArgumentError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, ArgumentError> {
        let Some(item) = self.items.next() else {
            return Ok(None);
        };
        let index = self.index;
        self.index += 1;
        seed.deserialize(ArgsDeserializer(item))
            .map(Some)
            .map_err(|e| e.within_index(index))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct ObjectAccess<'de> {
    entries: serde_json::map::Iter<'de>,
    pending: Option<(&'de String, &'de Value)>,
}

impl<'de> MapAccess<'de> for ObjectAccess<'de> {
    type Error = ArgumentError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ArgumentError> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        self.pending = Some((key, value));
        let key_de = BorrowedStrDeserializer::<ArgumentError>::new(key);
        seed.deserialize(key_de).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, ArgumentError> {
        let (key, value) = self
            .pending
            .take()
            .ok_or_else(|| ArgumentError::custom("value requested before key"))?;
        seed.deserialize(ArgsDeserializer(value))
            .map_err(|e| e.within_key(key))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// `{"variant": value}`: serde's externally tagged enum form (used by `credential`).
struct ExternallyTagged<'de> {
    key: &'de String,
    value: &'de Value,
}

impl<'de> EnumAccess<'de> for ExternallyTagged<'de> {
    type Error = ArgumentError;
    type Variant = Self;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Self), ArgumentError> {
        let key_de = BorrowedStrDeserializer::<ArgumentError>::new(self.key);
        let variant = seed.deserialize(key_de)?;
        Ok((variant, self))
    }
}

impl<'de> VariantAccess<'de> for ExternallyTagged<'de> {
    type Error = ArgumentError;

    fn unit_variant(self) -> Result<(), ArgumentError> {
        match self.value {
            Value::Null => Ok(()),
            other => {
                Err(ArgumentError::invalid_type(unexpected(other), &"null").within_key(self.key))
            }
        }
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<S::Value, ArgumentError> {
        seed.deserialize(ArgsDeserializer(self.value))
            .map_err(|e| e.within_key(self.key))
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ArgumentError> {
        match self.value {
            Value::Array(items) => visit_array(items, visitor),
            other => Err(ArgumentError::invalid_type(unexpected(other), &visitor)),
        }
        .map_err(|e| e.within_key(self.key))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ArgumentError> {
        match self.value {
            Value::Object(map) => visit_object(map, visitor),
            other => Err(ArgumentError::invalid_type(unexpected(other), &visitor)),
        }
        .map_err(|e| e.within_key(self.key))
    }
}

/// Decodes `value` as `T` with the field-path errors of `invalid_argument` (spec §6.6), for
/// other JSON inputs that answer in the protocol's shapes (the server's HTTP API).
pub fn decode_value<T: serde::de::DeserializeOwned>(value: &Value) -> Result<T, ArgumentError> {
    <T as serde::Deserialize>::deserialize(ArgsDeserializer(value))
}
