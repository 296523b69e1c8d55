//! A borrowed reading of one hub chunk, whatever form its payload is in.
//!
//! The hub -> client stages (Claude, Responses, Gemini) read the same few fields of every
//! hub chunk: id, model, created, the first choices' delta strings, tool-call fragments,
//! the finish reason and, once, usage. Reading those through `serde_json::Value` meant a
//! tree per event (built from text, or from the typed chunk a provider stage wrote).
//! [`ChunkView::read`] borrows them instead: from the typed [`ChatChunk`] directly, from
//! JSON text with a borrowing deserialiser that skips what it does not name, and only from
//! a `Value` when the payload already is one.
//!
//! It reads exactly what the `Value` code read: a field of an unexpected type counts as
//! absent. Text whose fields do not fit the borrowed structs (a number where a string is
//! expected, say) is read again field by field from the `Value`, so such a chunk gives the
//! same view either way.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;

use super::Payload;
use crate::chat::{ChatChunk, ChunkChoice, Delta, ToolCall, set};

/// See the module header.
#[derive(Debug, Default, Deserialize)]
pub struct ChunkView<'a> {
    #[serde(borrow, default, deserialize_with = "cow")]
    pub id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "cow")]
    pub model: Option<Cow<'a, str>>,
    #[serde(default)]
    pub created: Option<u64>,
    /// Empty when `choices` is absent or not an array.
    #[serde(borrow, default, deserialize_with = "choices")]
    pub choices: Vec<ChoiceView<'a>>,
    /// The chunk's `usage` as it came (`null` is none); it comes once per stream.
    #[serde(default)]
    pub usage: Option<Value>,
    /// An error object some OpenAI-compatible servers send inside the stream.
    #[serde(default)]
    pub error: Option<Value>,
}

/// One choice: its index, delta and finish reason.
#[derive(Debug, Default, Deserialize)]
pub struct ChoiceView<'a> {
    #[serde(default)]
    pub index: Option<u64>,
    /// `None` when absent, `null` or not an object.
    #[serde(borrow, default)]
    pub delta: Option<DeltaView<'a>>,
    #[serde(borrow, default, deserialize_with = "cow")]
    pub finish_reason: Option<Cow<'a, str>>,
}

/// The strings of a delta a client stage turns into its events.
#[derive(Debug, Default, Deserialize)]
pub struct DeltaView<'a> {
    #[serde(borrow, default, deserialize_with = "cow")]
    pub content: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "cow")]
    pub reasoning_content: Option<Cow<'a, str>>,
    /// What some OpenAI-compatible servers (OpenRouter, vLLM) name `reasoning_content`.
    #[serde(borrow, default, deserialize_with = "cow")]
    pub reasoning: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "cow")]
    pub reasoning_signature: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "cow")]
    pub redacted_reasoning: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "cow")]
    pub refusal: Option<Cow<'a, str>>,
    /// `None` when absent or not an array.
    #[serde(borrow, default)]
    pub tool_calls: Option<Vec<ToolCallView<'a>>>,
}

/// One tool-call fragment. An element of `tool_calls` that is not an object reads as one
/// with no fields.
#[derive(Debug, Default, Deserialize)]
pub struct ToolCallView<'a> {
    #[serde(default)]
    pub index: Option<u64>,
    #[serde(borrow, default, deserialize_with = "cow")]
    pub id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub function: Option<FunctionView<'a>>,
}

/// A tool call's `function`.
#[derive(Debug, Default, Deserialize)]
pub struct FunctionView<'a> {
    #[serde(borrow, default, deserialize_with = "cow")]
    pub name: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "cow")]
    pub arguments: Option<Cow<'a, str>>,
}

/// A string field, borrowed from the text when it has no escapes. (`Option<Cow<str>>`
/// alone is always read owned: serde borrows only a bare `Cow<str>`.)
pub(crate) fn cow<'de: 'a, 'a, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Cow<'a, str>>, D::Error> {
    #[derive(Deserialize)]
    struct Bare<'a>(#[serde(borrow)] Cow<'a, str>);
    Ok(Option::<Bare<'a>>::deserialize(d)?.map(|b| b.0))
}

/// `choices` must be an array (or `null`) for the borrowed read; anything else goes to the
/// `Value` reading, which treats it as no choices.
fn choices<'de: 'a, 'a, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<ChoiceView<'a>>, D::Error> {
    Ok(Option::<Vec<ChoiceView<'a>>>::deserialize(d)?.unwrap_or_default())
}

impl<'a> ChunkView<'a> {
    /// Reads a hub chunk's payload: see the module header.
    pub fn read(data: &'a Payload) -> ChunkView<'a> {
        if let Some(chunk) = data.chunk() {
            return ChunkView::from_chunk(chunk);
        }
        if let Some(view) = data.text().and_then(|t| serde_json::from_str(t).ok()) {
            return view;
        }
        ChunkView::from_value(data)
    }

    /// The first choice, whatever its index.
    pub fn first(&self) -> Option<&ChoiceView<'a>> {
        self.choices.first()
    }

    /// The choice with index 0 (a choice without an index counts as 0).
    pub fn choice_zero(&self) -> Option<&ChoiceView<'a>> {
        self.choices.iter().find(|c| c.index.unwrap_or(0) == 0)
    }

    fn from_chunk(c: &'a ChatChunk) -> ChunkView<'a> {
        ChunkView {
            id: borrowed(c.id.as_ref()),
            model: borrowed(c.model.as_ref()),
            created: c.created,
            choices: c.choices.iter().map(ChoiceView::from_chunk).collect(),
            usage: c.usage().and_then(|u| serde_json::to_value(u).ok()),
            error: c.extra.get("error").filter(|e| !e.is_null()).cloned(),
        }
    }

    fn from_value(v: &'a Value) -> ChunkView<'a> {
        ChunkView {
            id: str_of(v, "id"),
            model: str_of(v, "model"),
            created: v.get("created").and_then(Value::as_u64),
            choices: v
                .get("choices")
                .and_then(Value::as_array)
                .map(|c| c.iter().map(ChoiceView::from_value).collect())
                .unwrap_or_default(),
            usage: v.get("usage").filter(|u| !u.is_null()).cloned(),
            error: v.get("error").filter(|e| !e.is_null()).cloned(),
        }
    }
}

impl<'a> ChoiceView<'a> {
    fn from_chunk(c: &'a ChunkChoice) -> ChoiceView<'a> {
        ChoiceView {
            index: c.index,
            delta: c.delta().map(DeltaView::from_chunk),
            finish_reason: borrowed(set(&c.finish_reason)),
        }
    }

    fn from_value(v: &'a Value) -> ChoiceView<'a> {
        ChoiceView {
            index: v.get("index").and_then(Value::as_u64),
            delta: v
                .get("delta")
                .filter(|d| d.is_object())
                .map(DeltaView::from_value),
            finish_reason: str_of(v, "finish_reason"),
        }
    }
}

impl<'a> DeltaView<'a> {
    fn from_chunk(d: &'a Delta) -> DeltaView<'a> {
        DeltaView {
            content: borrowed(set(&d.content)),
            reasoning_content: borrowed(set(&d.reasoning_content)),
            reasoning: d
                .extra
                .get("reasoning")
                .and_then(Value::as_str)
                .map(Cow::Borrowed),
            reasoning_signature: borrowed(set(&d.reasoning_signature)),
            redacted_reasoning: borrowed(set(&d.redacted_reasoning)),
            refusal: borrowed(set(&d.refusal)),
            tool_calls: set(&d.tool_calls)
                .map(|t| t.iter().map(ToolCallView::from_chunk).collect()),
        }
    }

    fn from_value(v: &'a Value) -> DeltaView<'a> {
        DeltaView {
            content: str_of(v, "content"),
            reasoning_content: str_of(v, "reasoning_content"),
            reasoning: str_of(v, "reasoning"),
            reasoning_signature: str_of(v, "reasoning_signature"),
            redacted_reasoning: str_of(v, "redacted_reasoning"),
            refusal: str_of(v, "refusal"),
            tool_calls: v
                .get("tool_calls")
                .and_then(Value::as_array)
                .map(|t| t.iter().map(ToolCallView::from_value).collect()),
        }
    }
}

impl<'a> ToolCallView<'a> {
    /// The function's name, if any.
    pub fn name(&self) -> Option<&str> {
        self.function.as_ref()?.name.as_deref()
    }

    /// The arguments fragment, if any.
    pub fn arguments(&self) -> Option<&str> {
        self.function.as_ref()?.arguments.as_deref()
    }

    fn from_chunk(t: &'a ToolCall) -> ToolCallView<'a> {
        ToolCallView {
            index: t.index,
            id: borrowed(t.id.as_ref()),
            function: t.function.as_ref().map(|f| FunctionView {
                name: borrowed(f.name.as_ref()),
                arguments: borrowed(f.arguments.as_ref()),
            }),
        }
    }

    fn from_value(v: &'a Value) -> ToolCallView<'a> {
        let f = v.get("function").filter(|f| f.is_object());
        ToolCallView {
            index: v.get("index").and_then(Value::as_u64),
            id: str_of(v, "id"),
            function: f.map(|f| FunctionView {
                name: str_of(f, "name"),
                arguments: str_of(f, "arguments"),
            }),
        }
    }
}

fn borrowed(s: Option<&String>) -> Option<Cow<'_, str>> {
    s.map(|s| Cow::Borrowed(s.as_str()))
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<Cow<'a, str>> {
    v.get(key).and_then(Value::as_str).map(Cow::Borrowed)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// What a stage reads out of a view, as plain values to compare.
    fn fields(v: &ChunkView<'_>) -> Value {
        let s = |c: &Option<Cow<'_, str>>| c.as_deref().map(str::to_owned);
        json!({
            "id": s(&v.id), "model": s(&v.model), "created": v.created,
            "usage": v.usage, "error": v.error,
            "choices": v.choices.iter().map(|c| json!({
                "index": c.index, "finish": s(&c.finish_reason),
                "delta": c.delta.as_ref().map(|d| json!({
                    "content": s(&d.content), "rc": s(&d.reasoning_content),
                    "r": s(&d.reasoning), "sig": s(&d.reasoning_signature),
                    "red": s(&d.redacted_reasoning), "refusal": s(&d.refusal),
                    "tools": d.tool_calls.as_ref().map(|t| t.iter().map(|t| json!({
                        "index": t.index, "id": s(&t.id), "has_f": t.function.is_some(),
                        "name": t.name(), "args": t.arguments(),
                    })).collect::<Vec<_>>()),
                })),
            })).collect::<Vec<_>>(),
        })
    }

    fn all_forms(chunk: &Value) -> Vec<Payload> {
        let mut forms = vec![
            Payload::from(chunk.clone()),
            Payload::from_json_text(chunk.to_string()),
        ];
        if let Ok(typed) = serde_json::from_value::<ChatChunk>(chunk.clone()) {
            forms.push(Payload::from_chunk(typed));
        }
        forms
    }

    /// Text, typed chunk and `Value` read alike, escapes, nulls and odd types included.
    #[test]
    fn every_payload_form_reads_the_same() {
        let chunks = [
            json!({"id": "c1", "model": "m", "created": 5, "object": "chat.completion.chunk",
                "choices": [{"index": 0, "finish_reason": null, "logprobs": null,
                    "delta": {"role": "assistant", "content": "a \"q\" \n\u{e9}",
                        "reasoning_content": "r", "reasoning_signature": "s",
                        "redacted_reasoning": "x", "refusal": "no", "extra": [1],
                        "tool_calls": [{"index": 1, "id": "call_1", "type": "function",
                            "function": {"name": "f", "arguments": "{\"a\":"}},
                            {"index": 2}]}}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}}),
            json!({"choices": [{"index": 1, "delta": {"reasoning": "via reasoning"}},
                {"delta": {"content": ""}, "finish_reason": "stop"}], "usage": null}),
            json!({"choices": [], "usage": {"total_tokens": 4}}),
            json!({"error": {"message": "boom"}}),
            // Odd types: the text is read again through the `Value`, which skips them.
            json!({"id": 7, "created": "now", "choices": "none"}),
            json!({"choices": [{"index": "0", "delta": "text", "finish_reason": 3}]}),
            json!({"choices": [{"delta": {"content": 5, "tool_calls": [3, {"function": "f"}]}}]}),
            json!({"choices": [{"delta": {"tool_calls": {"index": 0}}}]}),
            json!("not a chunk"),
        ];
        for chunk in chunks {
            let want = fields(&ChunkView::from_value(&chunk));
            for p in all_forms(&chunk) {
                assert_eq!(fields(&ChunkView::read(&p)), want, "{chunk}");
            }
        }
    }

    /// The hub -> client stages write the same bytes whether the decoder hands them `Value`s,
    /// checked text or typed hub chunks; every event they write as text is exactly what a
    /// `Value` of it would write.
    #[test]
    fn client_stages_write_the_same_bytes_from_every_payload_form() {
        use crate::framing::{Decoder, SseDecoder};
        use crate::stream::{ReadAs, configure_decoder};
        use crate::{Format, Registry, TranslateCtx};
        let odd = concat!(
            "data: {\"id\":\"chatcmpl-odd\",\"created\":\"x\",\"choices\":[{\"index\":0,",
            "\"delta\":{\"content\":\"a\\n\\\"b\\u00e9\",\"reasoning\":\"hm\",",
            "\"tool_calls\":[{\"index\":0,\"id\":\"c1\",\"function\":{\"name\":\"f\",",
            "\"arguments\":\"{}\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"content\":7,\"refusal\":\"no\"},",
            "\"finish_reason\":\"length\"}]}\n\n",
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}\n\n",
            "data: {\"error\":{\"message\":\"boom\"}}\n\n",
            "data: [DONE]\n\n",
        );
        let registry = Registry::load().unwrap();
        for sse in [
            include_str!("../../tests/fixtures/claude/hub_stream_reasoning.sse"),
            include_str!("../../tests/fixtures/claude/hub_stream_tools.sse"),
            include_str!("../../tests/fixtures/responses/hub_custom_tool.sse"),
            include_str!("../../tests/fixtures/responses/hub_length.sse"),
            include_str!("../../tests/fixtures/responses/hub_parallel_tools.sse"),
            include_str!("../../tests/fixtures/responses/hub_reasoning_text.sse"),
            odd,
        ] {
            for client in [Format::Claude, Format::Responses] {
                let run = |as_: ReadAs| {
                    let mut ctx = TranslateCtx::new(client, Format::OpenAi, "m", true);
                    ctx.client_wants_usage = true;
                    // Each answer mints its own id; the three runs must be one answer.
                    ctx.answer_id = "fixed".into();
                    let mut stage = registry.stream(Format::OpenAi, client).unwrap()(&ctx);
                    let mut d = SseDecoder::default();
                    configure_decoder(&mut d, None, Some(stage.as_ref()));
                    if as_ != ReadAs::HubChunk {
                        d.keep_text(as_ == ReadAs::Text);
                    }
                    d.push(sse.as_bytes());
                    let mut events = Vec::new();
                    while let Some(ev) = d.next_event() {
                        stage.push(ev.unwrap(), &mut events).unwrap();
                    }
                    stage.finish(&mut events).unwrap();
                    let mut wire = Vec::new();
                    for ev in &events {
                        if let Some(text) = ev.data.text() {
                            let value: Value = serde_json::from_str(text).unwrap();
                            assert_eq!(text, value.to_string());
                        }
                        ev.encode(&mut wire);
                    }
                    String::from_utf8(wire).unwrap()
                };
                let by_value = run(ReadAs::Value);
                // A stream with no `created` is stamped with the clock: compare only those
                // that name it.
                if sse.contains("\"created\":1") || sse.contains("\"created\": 1") {
                    assert_eq!(run(ReadAs::Text), by_value, "{client:?} {sse}");
                    assert_eq!(run(ReadAs::HubChunk), by_value, "{client:?} {sse}");
                } else {
                    let lines = |w: &str| w.lines().count();
                    assert_eq!(lines(&run(ReadAs::Text)), lines(&by_value));
                    assert_eq!(lines(&run(ReadAs::HubChunk)), lines(&by_value));
                }
                assert!(by_value.contains("data: "));
            }
        }
    }

    #[test]
    fn text_without_escapes_is_borrowed() {
        let p = Payload::from_json_text(r#"{"choices":[{"delta":{"content":"hi"}}]}"#);
        let v = ChunkView::read(&p);
        let content = v.first().and_then(|c| c.delta.as_ref()?.content.as_ref());
        assert!(matches!(content, Some(Cow::Borrowed("hi"))));
    }

    #[test]
    fn choice_zero_is_the_one_with_index_zero_or_none() {
        let p = Payload::from(json!({"choices": [{"index": 1}, {"finish_reason": "stop"}]}));
        let v = ChunkView::read(&p);
        assert_eq!(v.first().and_then(|c| c.index), Some(1));
        assert_eq!(
            v.choice_zero().and_then(|c| c.finish_reason.as_deref()),
            Some("stop")
        );
    }
}
