//! `Deserialize` for the hub types in one pass over the input.
//!
//! Serde's derive buffers: a struct with a `#[serde(flatten)]` field copies every key it does
//! not name into its private `Content` tree before turning them into `extra`, and an
//! `#[serde(untagged)]` enum copies its whole input into that tree to try each variant in
//! turn, at every nesting level (a message's parts, each part's extras...). The impls here
//! read each key once: a named field is parsed where it stands, any other key goes straight
//! into `extra`, and the untagged enums look at the input's kind (string, array, object)
//! instead of trying variants.
//!
//! What is accepted is what the derive accepted: the same defaults and required fields,
//! `null` kept apart from absent in [`Nullable`](super::Nullable) fields, a named key given
//! twice refused (`duplicate field`), an unknown key given twice kept last (as
//! `serde_json`'s map does). Errors are more precise than the derive's: a bad part inside
//! `content` names the part's field instead of "did not match any variant".

use std::fmt;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::{Content, Stop, ToolChoice};

/// A map key as the input gives it: borrowed where it can be (text without escapes, a
/// `&Value`), owned where it already is (an owned `Value`), so an unknown key moves into
/// `extra` without a copy and a named one is matched without an allocation.
pub(crate) enum Key<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl Key<'_> {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Key::Borrowed(s) => s,
            Key::Owned(s) => s,
        }
    }

    pub(crate) fn into_string(self) -> String {
        match self {
            Key::Borrowed(s) => s.to_owned(),
            Key::Owned(s) => s,
        }
    }
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_identifier(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
        Ok(Key::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
        Ok(Key::Owned(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
        Ok(Key::Owned(v))
    }
}

/// The name under which a reader may hand a whole `Value` over at once (the reader of
/// `parse_chat`, `step/taking.rs`, moves it out of the body); other readers take it for an
/// ordinary newtype and give the value inside.
pub(crate) const WHOLE_VALUE: &str = "$switchyard::whole_value";

/// Reads a `Value` kept as it came (an unknown field's, a schema), asking for it whole.
pub(crate) struct WholeValue;

impl<'de> DeserializeSeed<'de> for WholeValue {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_newtype_struct(WHOLE_VALUE, WholeValueVisitor)
    }
}

struct WholeValueVisitor;

impl<'de> Visitor<'de> for WholeValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
}

/// `Deserialize` for a hub struct from its field list; every field of the struct must be
/// listed (the struct literal it builds does not compile otherwise), `extra` excepted.
///
/// `field: mode`, or `field as "key": mode` when the JSON key is not the field's name:
/// - `default`: absent is `Default::default()` (`None`, an empty list), `null` reads as
///   the type reads it (`None` for an `Option`);
/// - `nullable`: a [`Nullable`](super::Nullable): absent `None`, `null` `Some(None)`;
/// - `required`: absent is an error (`missing field`);
/// - `or(f)`: absent is `f()`;
/// - `value` / `nullable_value`: `default` / `nullable` for a `Value` kept as it came, read
///   through [`WholeValue`] (as unknown fields are).
macro_rules! deserialize_hub_struct {
    ($ty:ident { $($field:ident $(as $key:literal)?: $mode:ident $(($default:path))?),* $(,)? }) => {
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct FieldsVisitor;

                impl<'de> serde::de::Visitor<'de> for FieldsVisitor {
                    type Value = $ty;

                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str(concat!("struct ", stringify!($ty)))
                    }

                    fn visit_map<A: serde::de::MapAccess<'de>>(
                        self,
                        mut map: A,
                    ) -> Result<$ty, A::Error> {
                        use serde::de::Error as _;
                        $(let mut $field = None;)*
                        let mut extra = $crate::chat::Extra::new();
                        while let Some(key) = map.next_key::<$crate::chat::de::Key<'de>>()? {
                            $(
                                if key.as_str() == deserialize_hub_struct!(@key $field $($key)?) {
                                    if $field.is_some() {
                                        return Err(A::Error::duplicate_field(
                                            deserialize_hub_struct!(@key $field $($key)?),
                                        ));
                                    }
                                    $field = Some(deserialize_hub_struct!(@read map, $mode));
                                    continue;
                                }
                            )*
                            let value = map.next_value_seed($crate::chat::de::WholeValue)?;
                            extra.insert(key.into_string(), value);
                        }
                        Ok($ty {
                            $($field: deserialize_hub_struct!(
                                @finish $field, deserialize_hub_struct!(@key $field $($key)?),
                                $mode $(($default))?
                            ),)*
                            extra,
                        })
                    }
                }

                d.deserialize_map(FieldsVisitor)
            }
        }
    };
    // A `Value` field's `null` is `None` (absent for `value`, `Some(None)` for
    // `nullable_value`), as reading an `Option<Value>` gives.
    (@read $map:ident, value) => { $crate::chat::de::non_null($map.next_value_seed($crate::chat::de::WholeValue)?) };
    (@read $map:ident, nullable_value) => { deserialize_hub_struct!(@read $map, value) };
    (@read $map:ident, $mode:ident) => { $map.next_value()? };
    (@key $field:ident) => { stringify!($field) };
    (@key $field:ident $key:literal) => { $key };
    (@finish $v:ident, $key:expr, default) => { $v.unwrap_or_default() };
    (@finish $v:ident, $key:expr, value) => { $v.unwrap_or_default() };
    (@finish $v:ident, $key:expr, nullable_value) => { $v };
    // The value read is the `Option` inside: `null` is `Some(None)`.
    (@finish $v:ident, $key:expr, nullable) => { $v };
    (@finish $v:ident, $key:expr, required) => {
        $v.ok_or_else(|| A::Error::missing_field($key))?
    };
    (@finish $v:ident, $key:expr, or($default:path)) => { $v.unwrap_or_else($default) };
}

pub(crate) use deserialize_hub_struct;

/// `None` for `null`, as `Option<Value>` reads it.
pub(crate) fn non_null(v: Value) -> Option<Value> {
    (!v.is_null()).then_some(v)
}

/// `Content`: a string is `Text`, an array is `Parts`.
impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ContentVisitor)
    }
}

struct ContentVisitor;

impl<'de> Visitor<'de> for ContentVisitor {
    type Value = Content;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("message content: a string or an array of parts")
    }

    fn visit_str<E>(self, v: &str) -> Result<Content, E> {
        Ok(Content::Text(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Content, E> {
        Ok(Content::Text(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Content, A::Error> {
        Deserialize::deserialize(SeqAccessDeserializer::new(seq)).map(Content::Parts)
    }
}

/// `Stop`: a string is `One`, an array is `Many`.
impl<'de> Deserialize<'de> for Stop {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StopVisitor)
    }
}

struct StopVisitor;

impl<'de> Visitor<'de> for StopVisitor {
    type Value = Stop;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("stop: a string or an array of strings")
    }

    fn visit_str<E>(self, v: &str) -> Result<Stop, E> {
        Ok(Stop::One(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Stop, E> {
        Ok(Stop::One(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Stop, A::Error> {
        Deserialize::deserialize(SeqAccessDeserializer::new(seq)).map(Stop::Many)
    }
}

/// `ToolChoice`: a string is a `Mode`, an object `Named`.
impl<'de> Deserialize<'de> for ToolChoice {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ToolChoiceVisitor)
    }
}

struct ToolChoiceVisitor;

impl<'de> Visitor<'de> for ToolChoiceVisitor {
    type Value = ToolChoice;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("tool_choice: a string or an object")
    }

    fn visit_str<E>(self, v: &str) -> Result<ToolChoice, E> {
        Ok(ToolChoice::Mode(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<ToolChoice, E> {
        Ok(ToolChoice::Mode(v))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ToolChoice, A::Error> {
        Deserialize::deserialize(MapAccessDeserializer::new(map)).map(ToolChoice::Named)
    }
}
