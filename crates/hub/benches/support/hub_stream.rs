//! The long hub-format answer the stream benchmarks share (included with `#[path]` by
//! `hub.rs` and `stream_cost.rs`), so both measure the same 1,000-delta stream.

use serde_json::{Value, json};
use switchyard_hub::stream::StreamEvent;

/// A long answer in the hub format: role, 1,000 text deltas, finish, usage.
pub fn hub_long() -> String {
    let mut out = Vec::new();
    let chunk = |delta: Value, finish: Value| {
        json!({"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    StreamEvent::hub(chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    ))
    .encode(&mut out);
    for i in 0..1000 {
        StreamEvent::hub(chunk(
            json!({"content": format!("token {i} of the answer ")}),
            Value::Null,
        ))
        .encode(&mut out);
    }
    StreamEvent::hub(chunk(json!({}), json!("stop"))).encode(&mut out);
    StreamEvent::hub(json!({"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "choices": [], "usage": {"prompt_tokens": 1000, "completion_tokens": 3000, "total_tokens": 4000}}))
    .encode(&mut out);
    out.extend_from_slice(b"data: [DONE]\n\n");
    String::from_utf8(out).unwrap()
}
