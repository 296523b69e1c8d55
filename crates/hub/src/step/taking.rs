//! A `Deserializer` over `&mut Value` that moves each string out of the tree as it reads it
//! and leaves everything else in place.
//!
//! Reading an owned `Value` moves its strings but takes the tree apart, so a refused body is
//! gone before the error can say where it failed; reading a `&Value` keeps the body but
//! copies every string (a request's text, its tool schemas). Taking the strings and keeping
//! the skeleton gets both: no copies, and a body still there for [`super::parse_chat`] to
//! read again for the path (a failure never depends on a string's text, so the second read
//! fails where the first did).

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Error, Value};

use crate::chat::WHOLE_VALUE;

/// Reads the value it points at, taking its strings (they are left empty).
pub(super) struct Taking<'de>(pub(super) &'de mut Value);

impl<'de> Deserializer<'de> for Taking<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => (&*n).deserialize_any(visitor),
            Value::String(s) => visitor.visit_string(std::mem::take(s)),
            Value::Array(items) => {
                let len = items.len();
                let mut seq = TakingSeq(items.iter_mut());
                let out = visitor.visit_seq(&mut seq)?;
                match seq.0.len() {
                    0 => Ok(out),
                    _ => Err(Error::invalid_length(len, &"fewer elements in array")),
                }
            }
            Value::Object(map) => visitor.visit_map(TakingMap {
                entries: map.iter_mut(),
                value: None,
            }),
        }
    }

    /// `null` is `None`; anything else is read as the value inside.
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    /// A `Value` asked for whole ([`WHOLE_VALUE`]) moves out, keys and all (`null` is left):
    /// reading it never fails, so the second read of a refused body needs nothing of it.
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        if name == WHOLE_VALUE {
            visitor.visit_newtype_struct(std::mem::take(self.0))
        } else {
            visitor.visit_newtype_struct(self)
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

struct TakingSeq<'de>(std::slice::IterMut<'de, Value>);

impl<'de> SeqAccess<'de> for TakingSeq<'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        self.0
            .next()
            .map(|v| seed.deserialize(Taking(v)))
            .transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

/// An object's entries: keys lent (a named key costs no allocation), values taken from.
struct TakingMap<'de> {
    entries: serde_json::map::IterMut<'de>,
    value: Option<&'de mut Value>,
}

impl<'de> MapAccess<'de> for TakingMap<'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some(value);
        seed.deserialize(BorrowedStrDeserializer::new(key))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        match self.value.take() {
            Some(v) => seed.deserialize(Taking(v)),
            None => Err(Error::custom("a map value was read before its key")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}
