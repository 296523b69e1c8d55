//! The typed hub round-trips OpenAI chat JSON: `Value -> typed -> Value` gives back what
//! came in, unknown fields at every level included; and it reads any JSON as serde's derive
//! read it (`derived.rs`), well-formed or not.

mod derived;

use proptest::prelude::*;
use serde::Serialize;
use serde::de::{Deserialize, DeserializeOwned};
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

/// A JSON object (the kind of value a field kept as `Value` but never `null` holds).
fn any_object() -> impl Strategy<Value = Value> {
    prop::collection::btree_map("[a-z_]{1,8}", any_json(), 0..4)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
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

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        count(),
        any::<i64>().prop_map(Value::from),
        (-2.0f64..2.0).prop_map(Value::from),
    ]
}

fn stop() -> impl Strategy<Value = Value> {
    prop_oneof![
        text(),
        prop::collection::vec(text(), 0..3).prop_map(Value::Array),
    ]
}

fn tool_choice() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop_oneof![Just(json!("auto")), Just(json!("required")), text()],
        object(vec![opt("function", function_call()), opt("type", text())]),
    ]
}

fn flag() -> impl Strategy<Value = Value> {
    any::<bool>().prop_map(Value::from)
}

pub(crate) fn request() -> impl Strategy<Value = Value> {
    object(vec![
        opt("max_completion_tokens", count()),
        opt("max_tokens", count()),
        req(
            "messages",
            prop::collection::vec(message(), 0..4).prop_map(Value::Array),
        ),
        opt("model", text()),
        opt("n", count()),
        opt("parallel_tool_calls", flag()),
        opt("reasoning_effort", text()),
        opt("response_format", any_object()),
        opt("stop", stop()),
        opt("stream", flag()),
        opt("stream_options", any_object()),
        opt("temperature", number()),
        opt("tool_choice", tool_choice()),
        opt(
            "tools",
            prop::collection::vec(tool(), 0..3).prop_map(Value::Array),
        ),
        opt("top_p", number()),
        opt("user", text()),
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

/// `v` with some of its nodes (counted depth first, the root being 0) replaced by other
/// JSON, or taken out of the object holding them (`None`): wrong types, missing required
/// fields, `null`s where the generators put none.
pub(crate) fn mangle(v: &mut Value, edits: &[(usize, Option<Value>)]) {
    fn walk(v: &mut Value, counter: &mut usize, edits: &[(usize, Option<Value>)]) {
        match v {
            Value::Object(m) => {
                let keys: Vec<String> = m.keys().cloned().collect();
                for k in keys {
                    *counter += 1;
                    match edits.iter().find(|(at, _)| *at == *counter) {
                        Some((_, None)) => {
                            m.remove(&k);
                        }
                        Some((_, Some(other))) => {
                            m.insert(k, other.clone());
                        }
                        None => walk(&mut m[&k], counter, edits),
                    }
                }
            }
            Value::Array(a) => {
                for item in a.iter_mut() {
                    *counter += 1;
                    match edits.iter().find(|(at, _)| *at == *counter) {
                        Some((_, Some(other))) => *item = other.clone(),
                        _ => walk(item, counter, edits),
                    }
                }
            }
            _ => {}
        }
    }
    walk(v, &mut 0, edits);
}

pub(crate) fn edits() -> impl Strategy<Value = Vec<(usize, Option<Value>)>> {
    prop::collection::vec((1usize..40, prop::option::weighted(0.8, any_json())), 0..4)
}

/// What reading `v` as `T` gives, as JSON (`Err` when it is refused).
fn read<'de, T: Deserialize<'de> + Serialize>(
    from: impl serde::Deserializer<'de, Error = serde_json::Error>,
) -> Result<Value, ()> {
    T::deserialize(from)
        .map(|t| serde_json::to_value(t).unwrap_or_default())
        .map_err(drop)
}

/// `T` (hand-written `Deserialize`) and `D` (derived) accept and refuse the same JSON, and
/// what they accept writes back the same, read from an owned `Value`, a `&Value` and text.
fn same_as_derived<T, D>(v: &Value) -> Result<(), TestCaseError>
where
    T: DeserializeOwned + Serialize,
    D: DeserializeOwned + Serialize,
{
    prop_assert_eq!(read::<T>(v.clone()), read::<D>(v.clone()), "owned {}", v);
    prop_assert_eq!(read::<T>(v), read::<D>(v), "borrowed {}", v);
    let text = v.to_string();
    let mut a = serde_json::Deserializer::from_str(&text);
    let mut b = serde_json::Deserializer::from_str(&text);
    prop_assert_eq!(read::<T>(&mut a), read::<D>(&mut b), "text {}", text);
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

    #[test]
    fn chunks_read_as_derived(mut v in chunk(), e in edits()) {
        mangle(&mut v, &e);
        same_as_derived::<ChatChunk, derived::ChatChunk>(&v)?;
    }

    #[test]
    fn requests_read_as_derived(mut v in request(), e in edits()) {
        mangle(&mut v, &e);
        same_as_derived::<ChatRequest, derived::ChatRequest>(&v)?;
    }

    #[test]
    fn responses_read_as_derived(mut v in response(), e in edits()) {
        mangle(&mut v, &e);
        same_as_derived::<ChatResponse, derived::ChatResponse>(&v)?;
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

/// A key given twice in the text: a named field is refused as the derive refused it, an
/// unknown one keeps its last value as `serde_json`'s map does.
#[test]
fn duplicate_keys_read_as_derived() {
    let named = r#"{"messages": [], "model": "a", "model": "b"}"#;
    let err = serde_json::from_str::<ChatRequest>(named).unwrap_err();
    assert!(err.to_string().contains("duplicate field `model`"), "{err}");
    assert!(serde_json::from_str::<derived::ChatRequest>(named).is_err());
    let nested = r#"{"messages": [{"role": "user", "role": "tool"}]}"#;
    assert!(serde_json::from_str::<ChatRequest>(nested).is_err());
    assert!(serde_json::from_str::<derived::ChatRequest>(nested).is_err());
    let unknown = r#"{"messages": [], "x_seed": 1, "x_seed": 2}"#;
    let typed: ChatRequest = serde_json::from_str(unknown).unwrap();
    let reference: derived::ChatRequest = serde_json::from_str(unknown).unwrap();
    assert_eq!(typed.extra["x_seed"], json!(2));
    assert_eq!(
        serde_json::to_value(&typed).unwrap(),
        serde_json::to_value(&reference).unwrap()
    );
}
