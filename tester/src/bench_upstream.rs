//! `bench-upstream`: a fast fake upstream for benchmarks. It answers from bytes prepared at
//! start-up, in the format its path names (OpenAI chat, Anthropic Messages, Responses,
//! Gemini), streaming when the body asks for it, so its own cost stays small and constant.
//!
//! Flags: `--chunks N` (stream events of text, default 20), `--chunk-delay-us D` (between
//! events), `--latency-us L` (before the answer starts).

#![expect(
    clippy::unwrap_used,
    reason = "the tester is test code: fakes and harness fail the test loudly on broken fixtures or a misbehaving server"
)]
#![expect(
    clippy::too_many_lines,
    reason = "test tooling, outside the production 100-line limit: `answers` builds the canned reply in every wire format side by side, so they can be compared at a glance"
)]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Response;
use http_body_util::{BodyExt, channel::Channel};
use serde_json::json;
use switchyard_tester::server::{FakeBody, full, serve};

struct Answers {
    chunks: usize,
    delay: Duration,
    latency: Duration,
    openai: (Bytes, Vec<Bytes>),
    claude: (Bytes, Vec<Bytes>),
    responses: (Bytes, Vec<Bytes>),
    gemini: (Bytes, Vec<Bytes>),
}

fn sse(event: Option<&str>, data: &serde_json::Value) -> Bytes {
    match event {
        Some(e) => Bytes::from(format!("event: {e}\ndata: {data}\n\n")),
        None => Bytes::from(format!("data: {data}\n\n")),
    }
}

fn answers(chunks: usize, delay: Duration, latency: Duration) -> Answers {
    let text = "Hello from the benchmark upstream";
    let openai_full = json!({"id": "chatcmpl-b", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 7, "total_tokens": 17}});
    let mut openai_stream = vec![sse(
        None,
        &json!({"id": "chatcmpl-b", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]}),
    )];
    for i in 0..chunks {
        openai_stream.push(sse(None, &json!({"id": "chatcmpl-b", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": {"content": format!("tok{i} ")}, "finish_reason": null}]})));
    }
    openai_stream.push(sse(
        None,
        &json!({"id": "chatcmpl-b", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
    ));
    openai_stream.push(sse(None, &json!({"id": "chatcmpl-b", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": chunks, "total_tokens": 10 + chunks}})));
    openai_stream.push(Bytes::from_static(b"data: [DONE]\n\n"));

    let claude_full = json!({"id": "msg_b", "type": "message", "role": "assistant", "model": "m",
        "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": null,
        "usage": {"input_tokens": 10, "output_tokens": 7}});
    let mut claude_stream = vec![
        sse(
            Some("message_start"),
            &json!({"type": "message_start", "message": {"id": "msg_b", "type": "message", "role": "assistant",
            "model": "m", "content": [], "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 10, "output_tokens": 1}}}),
        ),
        sse(
            Some("content_block_start"),
            &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
    ];
    for i in 0..chunks {
        claude_stream.push(sse(
            Some("content_block_delta"),
            &json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "text_delta", "text": format!("tok{i} ")}}),
        ));
    }
    claude_stream.push(sse(
        Some("content_block_stop"),
        &json!({"type": "content_block_stop", "index": 0}),
    ));
    claude_stream.push(sse(Some("message_delta"), &json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
        "usage": {"output_tokens": chunks}})));
    claude_stream.push(sse(Some("message_stop"), &json!({"type": "message_stop"})));

    let msg = json!({"id": "msg_b", "type": "message", "status": "completed", "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}]});
    let usage = json!({"input_tokens": 10, "output_tokens": 7, "total_tokens": 17,
        "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}});
    let responses_full = json!({"id": "resp_b", "object": "response", "created_at": 1, "status": "completed", "model": "m",
        "output": [msg], "usage": usage});
    let mut seq = 0;
    let mut ev = |name: &'static str, mut data: serde_json::Value| {
        data["type"] = json!(name);
        data["sequence_number"] = json!(seq);
        seq += 1;
        sse(Some(name), &data)
    };
    let pending = json!({"id": "resp_b", "object": "response", "created_at": 1, "status": "in_progress", "model": "m", "output": []});
    let mut responses_stream = vec![
        ev("response.created", json!({"response": pending})),
        ev("response.in_progress", json!({"response": pending})),
        ev(
            "response.output_item.added",
            json!({"output_index": 0, "item": {"id": "msg_b", "type": "message", "status": "in_progress", "role": "assistant", "content": []}}),
        ),
        ev(
            "response.content_part.added",
            json!({"item_id": "msg_b", "output_index": 0, "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}}),
        ),
    ];
    for i in 0..chunks {
        responses_stream.push(ev("response.output_text.delta", json!({"item_id": "msg_b", "output_index": 0, "content_index": 0, "delta": format!("tok{i} ")})));
    }
    responses_stream.push(ev(
        "response.output_text.done",
        json!({"item_id": "msg_b", "output_index": 0, "content_index": 0, "text": text}),
    ));
    responses_stream.push(ev("response.content_part.done", json!({"item_id": "msg_b", "output_index": 0, "content_index": 0, "part": {"type": "output_text", "text": text, "annotations": []}})));
    responses_stream.push(ev(
        "response.output_item.done",
        json!({"output_index": 0, "item": msg}),
    ));
    responses_stream.push(ev(
        "response.completed",
        json!({"response": responses_full}),
    ));

    let gemini_full = json!({"candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 7, "totalTokenCount": 17}, "modelVersion": "m"});
    let mut gemini_stream = Vec::new();
    for i in 0..chunks {
        gemini_stream.push(sse(None, &json!({"candidates": [{"content": {"role": "model", "parts": [{"text": format!("tok{i} ")}]}, "index": 0}], "modelVersion": "m"})));
    }
    gemini_stream.push(sse(None, &json!({"candidates": [{"content": {"role": "model", "parts": [{"text": ""}]}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": chunks, "totalTokenCount": 10 + chunks}, "modelVersion": "m"})));

    let b = |v: serde_json::Value| Bytes::from(v.to_string());
    Answers {
        chunks,
        delay,
        latency,
        openai: (b(openai_full), openai_stream),
        claude: (b(claude_full), claude_stream),
        responses: (b(responses_full), responses_stream),
        gemini: (b(gemini_full), gemini_stream),
    }
}

async fn answer(a: Arc<Answers>, req: http::Request<hyper::body::Incoming>) -> Response<FakeBody> {
    let path = req.uri().path().to_owned();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let (whole, events) = if path.ends_with("/chat/completions") {
        &a.openai
    } else if path.ends_with("/messages") {
        &a.claude
    } else if path.ends_with("/responses") {
        &a.responses
    } else if path.contains(":generateContent") || path.contains(":streamGenerateContent") {
        &a.gemini
    } else {
        return full(
            404,
            "application/json",
            "{\"error\":{\"message\":\"unknown path\"}}",
        );
    };
    if !a.latency.is_zero() {
        tokio::time::sleep(a.latency).await;
    }
    let stream = path.contains(":streamGenerateContent") || memchr_stream(&body);
    if !stream {
        return full(200, "application/json", whole.clone());
    }
    let (mut tx, rx) = Channel::<Bytes, std::io::Error>::new(a.chunks + 8);
    let events = events.clone();
    let delay = a.delay;
    tokio::spawn(async move {
        for ev in events {
            if tx.send_data(ev).await.is_err() {
                return;
            }
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
        }
    });
    Response::builder()
        .status(200)
        .header("content-type", "text/event-stream")
        .body(rx.boxed_unsync())
        .unwrap()
}

/// Whether the raw body asks for a stream, without parsing it.
fn memchr_stream(body: &[u8]) -> bool {
    body.windows(13).any(|w| w == b"\"stream\":true")
        || body.windows(14).any(|w| w == b"\"stream\": true")
}

fn flag(args: &[String], name: &str, default: u64) -> u64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let a = Arc::new(answers(
        flag(&args, "--chunks", 20) as usize,
        Duration::from_micros(flag(&args, "--chunk-delay-us", 0)),
        Duration::from_micros(flag(&args, "--latency-us", 0)),
    ));
    let workers = flag(&args, "--threads", 1) as usize;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.max(1))
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let addr = serve(move |req| answer(a.clone(), req)).await;
        println!("bench-upstream listening on http://{addr}");
        let _ = tokio::signal::ctrl_c().await;
    });
}
