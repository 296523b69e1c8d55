//! The typed hub round-trips OpenAI chat JSON: `Value -> typed -> Value` gives back what
//! came in, unknown fields at every level included.

use proptest::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::*;

/// Any JSON, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1.0e9f64..1.0e9).prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Fields no version of the hub knows (`x_` keeps them clear of the named ones).
fn unknown() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map("x_[a-z_]{1,8}", any_json(), 0..3)
        .prop_map(|m| m.into_iter().collect())
}

/// An object of `fields` (each present or not) plus unknown fields.
fn object(
    fields: Vec<BoxedStrategy<Option<(&'static str, Value)>>>,
) -> impl Strategy<Value = Value> {
    (fields, unknown()).prop_map(|(fields, mut extra)| {
        for (k, v) in fields.into_iter().flatten() {
            extra.insert(k.to_owned(), v);
        }
        Value::Object(extra)
    })
}

fn opt(
    key: &'static str,
    s: impl Strategy<Value = Value> + 'static,
) -> BoxedStrategy<Option<(&'static str, Value)>> {
    prop::option::of(s.prop_map(move |v| (key, v))).boxed()
}

fn req(
    key: &'static str,
    s: impl Strategy<Value = Value> + 'static,
) -> BoxedStrategy<Option<(&'static str, Value)>> {
    s.prop_map(move |v| Some((key, v))).boxed()
}

fn text() -> impl Strategy<Value = Value> {
    "[ -~]{0,16}".prop_map(Value::from)
}

/// A string or an explicit `null`.
fn text_or_null() -> impl Strategy<Value = Value> {
    prop_oneof![Just(Value::Null), text()]
}

fn count() -> impl Strategy<Value = Value> {
    any::<u32>().prop_map(Value::from)
}

fn function_call() -> impl Strategy<Value = Value> {
    object(vec![opt("arguments", text()), opt("name", text())])
}

fn tool_call() -> impl Strategy<Value = Value> {
    object(vec![
        opt("function", function_call()),
        opt("id", text()),
        opt("index", count()),
        opt("type", Just(json!("function"))),
    ])
}

fn tool_calls_or_null() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        prop::collection::vec(tool_call(), 0..3).prop_map(Value::Array),
    ]
}

fn usage() -> impl Strategy<Value = Value> {
    object(vec![
        opt("completion_tokens", count()),
        opt("completion_tokens_details", any_json()),
        opt("prompt_tokens", count()),
        opt("prompt_tokens_details", any_json()),
        opt("total_tokens", count()),
    ])
}

fn usage_or_null() -> impl Strategy<Value = Value> {
    prop_oneof![Just(Value::Null), usage()]
}

fn delta() -> impl Strategy<Value = Value> {
    object(vec![
        opt("content", text_or_null()),
        opt("reasoning_content", text_or_null()),
        opt("reasoning_signature", text_or_null()),
        opt("redacted_reasoning", text_or_null()),
        opt("refusal", text_or_null()),
        opt("role", text_or_null()),
        opt("tool_calls", tool_calls_or_null()),
    ])
}

fn chunk() -> impl Strategy<Value = Value> {
    let choice = object(vec![
        opt("delta", prop_oneof![Just(Value::Null), delta().boxed()]),
        opt("finish_reason", text_or_null()),
        opt("index", count()),
    ]);
    object(vec![
        req(
            "choices",
            prop::collection::vec(choice, 0..3).prop_map(Value::Array),
        ),
        opt("created", count()),
        opt("id", text()),
        opt("model", text()),
        opt("object", Just(json!("chat.completion.chunk"))),
        opt("usage", usage_or_null()),
    ])
}

fn part() -> impl Strategy<Value = Value> {
    object(vec![
        opt("text", text()),
        req(
            "type",
            prop_oneof![Just(json!("text")), Just(json!("image_url")), text()],
        ),
    ])
}

fn content() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        text(),
        prop::collection::vec(part(), 0..3).prop_map(Value::Array),
    ]
}

fn message() -> impl Strategy<Value = Value> {
    object(vec![
        opt("content", content()),
        opt("name", text()),
        opt("reasoning_content", text_or_null()),
        req(
            "role",
            prop_oneof![
                Just(json!("system")),
                Just(json!("user")),
                Just(json!("assistant")),
                Just(json!("tool")),
            ],
        ),
        opt("tool_call_id", text()),
        opt("tool_calls", tool_calls_or_null()),
    ])
}

fn tool() -> impl Strategy<Value = Value> {
    let function = object(vec![
        opt("description", text()),
        req("name", text()),
        opt("parameters", any_json()),
        opt("strict", any::<bool>().prop_map(Value::from)),
    ]);
    object(vec![
        opt("function", function),
        req("type", prop_oneof![Just(json!("function")), text()]),
    ])
}

fn request() -> impl Strategy<Value = Value> {
    object(vec![
        req(
            "messages",
            prop::collection::vec(message(), 0..4).prop_map(Value::Array),
        ),
        opt("model", text()),
        opt("stream", any::<bool>().prop_map(Value::from)),
        opt(
            "tools",
            prop::collection::vec(tool(), 0..3).prop_map(Value::Array),
        ),
    ])
}

fn response() -> impl Strategy<Value = Value> {
    let choice = object(vec![
        opt("finish_reason", text_or_null()),
        opt("index", count()),
        opt("message", message()),
    ]);
    object(vec![
        req(
            "choices",
            prop::collection::vec(choice, 0..3).prop_map(Value::Array),
        ),
        opt("created", count()),
        opt("id", text()),
        opt("model", text()),
        opt("object", Just(json!("chat.completion"))),
        opt("usage", usage_or_null()),
    ])
}

/// `Value -> T -> Value`, and the bytes `T` writes are the bytes the `Value` writes when
/// nothing unknown is in the way of the key order.
fn round_trip<T: DeserializeOwned + Serialize>(v: &Value) -> Result<(), TestCaseError> {
    let typed: T =
        serde_json::from_value(v.clone()).map_err(|e| TestCaseError::fail(format!("{e}: {v}")))?;
    let back = serde_json::to_value(&typed).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&back, v);
    // Parsing from text goes through the same fields as from a `Value` (compared with the
    // text parsed as a `Value`: serde_json reads floats back to the nearest few ulps only).
    let text = v.to_string();
    let from_text: T =
        serde_json::from_str(&text).map_err(|e| TestCaseError::fail(format!("{e}: {v}")))?;
    let expected: Value =
        serde_json::from_str(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(
        serde_json::to_value(&from_text).unwrap_or_default(),
        expected
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn chunks_round_trip(v in chunk()) {
        round_trip::<ChatChunk>(&v)?;
    }

    #[test]
    fn requests_round_trip(v in request()) {
        round_trip::<ChatRequest>(&v)?;
    }

    #[test]
    fn responses_round_trip(v in response()) {
        round_trip::<ChatResponse>(&v)?;
    }
}

/// Without unknown fields a typed chunk writes the same bytes as its `Value`: the envelope
/// every stream stage sends, its usage chunk, and a tool-call delta.
#[test]
fn typed_chunks_write_the_bytes_values_do() {
    let chunks = [
        json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 7, "model": "m",
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]}),
        json!({"id": "c", "object": "chat.completion.chunk", "created": 7, "model": "m",
            "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5,
                "prompt_tokens_details": {"cached_tokens": 1}}}),
        json!({"id": "c", "object": "chat.completion.chunk", "created": 7, "model": "m",
            "choices": [{"index": 0, "finish_reason": null, "delta": {"tool_calls": [
                {"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": ""}}]}}]}),
    ];
    for v in chunks {
        let typed: ChatChunk = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(serde_json::to_string(&typed).unwrap(), v.to_string(), "{v}");
    }
}

#[test]
fn null_and_absent_stay_apart() {
    let typed: Delta = serde_json::from_value(json!({"content": null})).unwrap();
    assert_eq!(typed.content, Some(None));
    assert_eq!(typed.content(), None);
    let typed: Delta = serde_json::from_value(json!({})).unwrap();
    assert_eq!(typed.content, None);
    assert_eq!(serde_json::to_value(&typed).unwrap(), json!({}));
}

#[test]
fn reasoning_reads_either_name() {
    let d: Delta = serde_json::from_value(json!({"reasoning": "hm"})).unwrap();
    assert_eq!(d.reasoning(), Some("hm"));
    let d: Delta =
        serde_json::from_value(json!({"reasoning_content": "a", "reasoning": "b"})).unwrap();
    assert_eq!(d.reasoning(), Some("a"));
}
