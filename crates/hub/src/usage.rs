//! Token usage as the hub reports it, and estimates for when a provider reports none.

use serde_json::Value;

use crate::format::Format;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Input tokens read from a prompt cache (part of `prompt_tokens`).
    pub cached_tokens: u64,
    /// Input tokens written to a prompt cache (part of `prompt_tokens`; Anthropic bills them
    /// above the input price).
    pub cache_write_tokens: u64,
    /// Output tokens spent reasoning (part of `completion_tokens`).
    pub reasoning_tokens: u64,
    /// True when the numbers are our estimate rather than the provider's count.
    pub estimated: bool,
}

impl Usage {
    /// Reads an OpenAI chat `usage` object. A hub usage object may carry the hub extension
    /// `"estimated": true` when the provider reported no counts and its stage estimated them
    /// (Kiro without `metricsEvent`); the flag is kept so the usage row says so.
    pub fn from_openai(usage: &Value) -> Option<Usage> {
        let obj = usage.as_object()?;
        let n = |v: Option<&Value>| v.and_then(Value::as_u64).unwrap_or(0);
        Some(Usage {
            prompt_tokens: n(obj.get("prompt_tokens")),
            completion_tokens: n(obj.get("completion_tokens")),
            cached_tokens: n(usage.pointer("/prompt_tokens_details/cached_tokens")),
            cache_write_tokens: n(usage.pointer("/prompt_tokens_details/cache_creation_tokens")),
            reasoning_tokens: n(usage.pointer("/completion_tokens_details/reasoning_tokens")),
            estimated: obj
                .get("estimated")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        })
    }

    /// [`Usage::from_openai`] of a typed hub usage, read as it is.
    pub fn from_chat(usage: &crate::chat::ChatUsage) -> Usage {
        let completion_detail = |key| {
            crate::chat::set(&usage.completion_tokens_details)
                .and_then(|d| d.get(key))
                .and_then(Value::as_u64)
        };
        Usage {
            prompt_tokens: usage.prompt_tokens.unwrap_or(0),
            completion_tokens: usage.completion_tokens.unwrap_or(0),
            cached_tokens: usage.prompt_detail("cached_tokens").unwrap_or(0),
            cache_write_tokens: usage.prompt_detail("cache_creation_tokens").unwrap_or(0),
            reasoning_tokens: completion_detail("reasoning_tokens").unwrap_or(0),
            estimated: usage
                .extra
                .get("estimated")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        }
    }

    pub fn total(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }
}

/// Where a format's answers carry usage, declared by each format in its
/// [`crate::wire::WireFormat`].
#[derive(Clone, Copy, Debug)]
pub struct UsageReading {
    /// The usage a whole response body reports.
    pub from_response: fn(&Value) -> Option<Usage>,
    /// Whether a raw stream event (its name, its data) may carry usage, judged without
    /// parsing it, so passthrough streams parse only the few events that do.
    pub event_may_carry: fn(Option<&str>, &[u8]) -> bool,
    /// The usage a parsed stream event reports, given what earlier events reported (the
    /// last report wins; Anthropic splits input and output over two events).
    pub from_event: fn(&Value, Option<&Usage>) -> Option<Usage>,
}

impl UsageReading {
    /// OpenAI's `usage` object, also used by the formats that borrow its shape.
    pub const OPENAI: UsageReading = UsageReading {
        from_response: |body| body.get("usage").and_then(Usage::from_openai),
        event_may_carry: |_, data| chunk_has_usage(data),
        from_event: |data, _| data.get("usage").and_then(Usage::from_openai),
    };
}

/// The usage a whole response body in `format` reports.
pub fn from_response(format: Format, body: &Value) -> Option<Usage> {
    (crate::wire::usage(format).from_response)(body)
}

/// The usage a whole response body reports, read from its bytes without building the rest
/// of the document (passthrough answers are forwarded as they came). The body must still be
/// valid JSON.
pub fn from_response_bytes(
    format: Format,
    bytes: &[u8],
) -> Result<Option<Usage>, serde_json::Error> {
    #[derive(serde::Deserialize)]
    struct UsageFields {
        usage: Option<Value>,
        #[serde(rename = "usageMetadata")]
        usage_metadata: Option<Value>,
    }
    let fields: UsageFields = serde_json::from_slice(bytes)?;
    let mut only = serde_json::Map::new();
    if let Some(u) = fields.usage {
        only.insert("usage".into(), u);
    }
    if let Some(u) = fields.usage_metadata {
        only.insert("usageMetadata".into(), u);
    }
    Ok(from_response(format, &Value::Object(only)))
}

/// Whether a raw stream event in `format` may carry usage, judged without parsing it, so
/// passthrough streams parse only the few events that do.
pub fn event_may_carry_usage(format: Format, event: Option<&str>, data: &[u8]) -> bool {
    (crate::wire::usage(format).event_may_carry)(event, data)
}

/// Folds the usage a stream event in `format` reports into `acc`.
pub fn merge_stream_event(format: Format, data: &Value, acc: &mut Option<Usage>) {
    if let Some(found) = (crate::wire::usage(format).from_event)(data, acc.as_ref()) {
        *acc = Some(found);
    }
}

/// Whether raw JSON names Gemini's `usageMetadata`, found without parsing it.
pub fn mentions_usage_metadata(data: &[u8]) -> bool {
    finder(USAGE_METADATA).find(data).is_some()
}

/// A rough token count for text: about four bytes per token for English and code.
pub fn estimate_tokens(bytes: usize) -> u64 {
    (bytes as u64).div_ceil(4)
}

/// Estimates the prompt tokens of a request body by the size of every string in it.
pub fn estimate_prompt_tokens(body: &Value) -> u64 {
    fn text_bytes(v: &Value) -> usize {
        match v {
            Value::String(s) => s.len(),
            Value::Array(a) => a.iter().map(text_bytes).sum(),
            Value::Object(o) => o.values().map(text_bytes).sum(),
            _ => 0,
        }
    }
    estimate_tokens(text_bytes(body))
}

/// Byte searchers built once: building one per search costs more than the search.
fn finder(i: usize) -> &'static memchr::memmem::Finder<'static> {
    static FINDERS: std::sync::LazyLock<[memchr::memmem::Finder<'static>; NEEDLES.len()]> =
        std::sync::LazyLock::new(|| NEEDLES.map(memchr::memmem::Finder::new));
    // Callers pass the constants below, all in range.
    &FINDERS[i]
}

const USAGE_OBJECT: usize = 0;
const USAGE_OBJECT_SPACED: usize = 1;
const USAGE_METADATA: usize = 2;
/// Where the text keys of [`chunk_text_bytes`] start in [`NEEDLES`].
const TEXT_KEYS: std::ops::Range<usize> = 3..10;
const NEEDLES: [&[u8]; 10] = [
    b"\"usage\":{",
    b"\"usage\": {",
    b"\"usageMetadata\"",
    // OpenAI chunk fields, then Anthropic, Responses and Gemini ones, for passthrough streams.
    b"\"content\":\"",
    b"\"reasoning_content\":\"",
    b"\"arguments\":\"",
    b"\"text\":\"",
    b"\"thinking\":\"",
    b"\"partial_json\":\"",
    b"\"delta\":\"",
];

/// Whether an OpenAI stream chunk's raw JSON carries a non-null usage object. Checked on raw
/// bytes so passthrough streams need not parse chunks that carry none.
pub fn chunk_has_usage(data: &[u8]) -> bool {
    finder(USAGE_OBJECT).find(data).is_some() || finder(USAGE_OBJECT_SPACED).find(data).is_some()
}

/// Bytes of generated text in a stream chunk's raw JSON (text, reasoning and tool-argument
/// strings), for estimating completion tokens when the provider reports none.
pub fn chunk_text_bytes(data: &[u8]) -> usize {
    let mut total = 0;
    for i in TEXT_KEYS {
        let key = finder(i);
        let mut rest = data;
        while let Some(at) = key.find(rest) {
            rest = rest.get(at + key.needle().len()..).unwrap_or_default();
            let len = json_string_len(rest);
            total += len;
            rest = rest.get(len..).unwrap_or_default();
        }
    }
    total
}

/// Length of a JSON string body up to (not including) its closing unescaped quote.
fn json_string_len(s: &[u8]) -> usize {
    let mut escaped = false;
    for (i, &b) in s.iter().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' => escaped = true,
            b'"' => return i,
            _ => {}
        }
    }
    s.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn estimated_usage_is_flagged() {
        let u = Usage::from_openai(
            &json!({"prompt_tokens": 3, "completion_tokens": 4, "estimated": true}),
        )
        .unwrap();
        assert!(u.estimated);
        assert!(
            !Usage::from_openai(&json!({"prompt_tokens": 3}))
                .unwrap()
                .estimated
        );
    }

    #[test]
    fn reads_openai_usage_with_details() {
        let u = Usage::from_openai(&json!({
            "prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15,
            "prompt_tokens_details": {"cached_tokens": 4},
            "completion_tokens_details": {"reasoning_tokens": 2}
        }))
        .unwrap();
        assert_eq!(
            (
                u.prompt_tokens,
                u.completion_tokens,
                u.cached_tokens,
                u.reasoning_tokens
            ),
            (10, 5, 4, 2)
        );
        assert!(!u.estimated);
        assert_eq!(Usage::from_openai(&Value::Null), None);
        let est = Usage::from_openai(&json!({"prompt_tokens": 3, "estimated": true})).unwrap();
        assert!(est.estimated);
    }

    #[test]
    fn sniffs_usage_and_text_in_raw_chunks() {
        assert!(chunk_has_usage(
            br#"{"choices":[],"usage":{"prompt_tokens":1}}"#
        ));
        assert!(!chunk_has_usage(
            br#"{"choices":[{"delta":{}}],"usage":null}"#
        ));
        let chunk = br#"{"choices":[{"delta":{"content":"he said \"hi\""}}]}"#;
        assert_eq!(chunk_text_bytes(chunk), r#"he said \"hi\""#.len());
    }

    #[test]
    fn reads_usage_in_every_format() {
        let claude =
            json!({"usage": {"input_tokens": 5, "output_tokens": 2, "cache_read_input_tokens": 4}});
        let u = from_response(Format::Claude, &claude).unwrap();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.cached_tokens),
            (9, 2, 4)
        );
        let gemini = json!({"usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 4, "thoughtsTokenCount": 1}});
        let u = from_response(Format::Gemini, &gemini).unwrap();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.reasoning_tokens),
            (3, 5, 1)
        );
        let responses = json!({"usage": {"input_tokens": 8, "output_tokens": 3, "output_tokens_details": {"reasoning_tokens": 2}}});
        let u = from_response(Format::Responses, &responses).unwrap();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.reasoning_tokens),
            (8, 3, 2)
        );
        assert!(from_response(Format::Claude, &json!({})).is_none());
    }

    #[test]
    fn usage_is_read_from_bytes_without_the_rest() {
        let body = br#"{"id":"x","choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":4,"completion_tokens":2}}"#;
        let u = from_response_bytes(Format::OpenAi, body).unwrap().unwrap();
        assert_eq!((u.prompt_tokens, u.completion_tokens), (4, 2));
        let gemini =
            br#"{"candidates":[],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":1}}"#;
        assert_eq!(
            from_response_bytes(Format::Gemini, gemini)
                .unwrap()
                .unwrap()
                .prompt_tokens,
            3
        );
        assert!(
            from_response_bytes(Format::OpenAi, b"{\"id\":1}")
                .unwrap()
                .is_none()
        );
        assert!(from_response_bytes(Format::OpenAi, b"{broken").is_err());
    }

    #[test]
    fn claude_stream_usage_is_assembled_from_start_and_delta() {
        let mut acc = None;
        merge_stream_event(
            Format::Claude,
            &json!({"type": "message_start", "message": {"usage": {"input_tokens": 12, "output_tokens": 1}}}),
            &mut acc,
        );
        merge_stream_event(
            Format::Claude,
            &json!({"type": "message_delta", "usage": {"output_tokens": 30}}),
            &mut acc,
        );
        let u = acc.unwrap();
        assert_eq!((u.prompt_tokens, u.completion_tokens), (12, 30));
        assert!(event_may_carry_usage(
            Format::Claude,
            Some("message_delta"),
            b"{}"
        ));
        assert!(!event_may_carry_usage(
            Format::Claude,
            Some("content_block_delta"),
            b"{}"
        ));
    }

    #[test]
    fn estimates_from_every_string() {
        let body = json!({"model": "m", "messages": [{"role": "user", "content": "abcdefgh"}]});
        // "m" + "user" + "abcdefgh" = 13 bytes
        assert_eq!(estimate_prompt_tokens(&body), 4);
    }
}
