//! A writer for the small JSON objects stream stages send once per delta.
//!
//! A client stream is mostly one event per delta (`content_block_delta`,
//! `response.output_text.delta`), a handful of fields around one string. Building a
//! `Value` for each, or running serde's serializer over a struct, cost more than the
//! translation itself; writing the bytes straight out costs an escape of the string.
//!
//! The caller writes keys in sorted order: `serde_json`'s `Map` writes keys sorted, so the
//! text is the very bytes a `Value` of the same event would give (the client stages' tests
//! check every event they write against that).

/// One JSON object being written. Keys are trusted constants (no escaping); string values
/// are escaped.
pub(crate) struct JsonObject {
    buf: Vec<u8>,
    /// Whether the object being written has no field yet (one flag per open level).
    empty: Vec<bool>,
}

impl JsonObject {
    /// An object with room for about `hint` bytes.
    pub(crate) fn with_capacity(hint: usize) -> Self {
        let mut buf = Vec::with_capacity(hint);
        buf.push(b'{');
        Self {
            buf,
            empty: vec![true],
        }
    }

    fn key(&mut self, key: &'static str) {
        if let Some(empty) = self.empty.last_mut() {
            if !*empty {
                self.buf.push(b',');
            }
            *empty = false;
        }
        self.buf.push(b'"');
        self.buf.extend_from_slice(key.as_bytes());
        self.buf.extend_from_slice(b"\":");
    }

    pub(crate) fn str(&mut self, key: &'static str, value: &str) -> &mut Self {
        self.key(key);
        // Writing into memory cannot fail; an empty string keeps the JSON whole if it did.
        if serde_json::to_writer(&mut self.buf, value).is_err() {
            self.buf.extend_from_slice(b"\"\"");
        }
        self
    }

    pub(crate) fn uint(&mut self, key: &'static str, value: u64) -> &mut Self {
        self.key(key);
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        let mut n = value;
        loop {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.buf.extend_from_slice(&digits[at..]);
        self
    }

    /// A value written as given: a constant such as `[]`, or compact JSON serialised once
    /// for several events.
    pub(crate) fn raw(&mut self, key: &'static str, json: &str) -> &mut Self {
        self.key(key);
        self.buf.extend_from_slice(json.as_bytes());
        self
    }

    /// Opens an object under `key`; [`Self::close`] ends it.
    pub(crate) fn open(&mut self, key: &'static str) -> &mut Self {
        self.key(key);
        self.buf.push(b'{');
        self.empty.push(true);
        self
    }

    pub(crate) fn close(&mut self) -> &mut Self {
        self.buf.push(b'}');
        self.empty.pop();
        self
    }

    /// The object's text, every open level closed.
    pub(crate) fn finish(&mut self) -> String {
        while !self.empty.is_empty() {
            self.close();
        }
        // Constants and serde's escaped strings are UTF-8.
        String::from_utf8(std::mem::take(&mut self.buf)).unwrap_or_else(|_| "{}".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    #[test]
    fn writes_what_a_value_writes() {
        let text = JsonObject::with_capacity(8)
            .open("delta")
            .str("text", "a \"quote\"\n\u{e9}\u{1}")
            .str("type", "text_delta")
            .close()
            .uint("index", 0)
            .uint("n", u64::MAX)
            .raw("logprobs", "[]")
            .open("empty")
            .close()
            .str("type", "content_block_delta")
            .finish();
        let want = json!({
            "delta": {"text": "a \"quote\"\n\u{e9}\u{1}", "type": "text_delta"},
            "index": 0, "n": u64::MAX, "logprobs": [], "empty": {}, "type": "content_block_delta",
        });
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), want);
        assert_eq!(
            JsonObject::with_capacity(0).open("a").finish(),
            r#"{"a":{}}"#
        );
    }
}
