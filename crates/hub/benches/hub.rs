//! Micro-benchmarks of the hub's translators and its SSE codec, in MB/s of input.
//!
//! `cargo bench -p switchyard-hub --bench hub` (or `cargo xtask bench --micro` for every
//! crate's table). Inputs are the recorded fixtures, a Claude Code-sized request (~120 KB:
//! a long system prompt, 18 tools, 40 tool-using turns) and a long generated stream.

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "benchmark setup on fixed fixtures: a failure there is a broken bench and should abort loudly"
)]

use std::sync::LazyLock;

use divan::counter::BytesCount;
use divan::{Bencher, black_box};
use serde_json::Value;
use switchyard_hub::framing::SseDecoder;
use switchyard_hub::sse::SseParser;
use switchyard_hub::stream::parse_sse_text;
use switchyard_hub::{Decoder, Format, HubRequest, Registry, TranslateCtx};

#[path = "support/hub_stream.rs"]
mod hub_stream;
#[path = "support/workload.rs"]
mod workload;

fn main() {
    divan::main();
}

static REGISTRY: LazyLock<Registry> = LazyLock::new(|| Registry::load().unwrap());

macro_rules! fixture {
    ($path:literal) => {
        include_str!(concat!("../tests/fixtures/", $path))
    };
}

static CLAUDE_CODE_LARGE: LazyLock<Value> = LazyLock::new(workload::claude_code_large);
static HUB_LARGE: LazyLock<Value> = LazyLock::new(|| workload::hub_large(&REGISTRY));

fn ctx(client: Format, provider: Format) -> TranslateCtx {
    let mut c = TranslateCtx::new(client, provider, "bench-model", true);
    c.client_wants_usage = true;
    c
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// (from, to, body) for each request case.
fn request_case(name: &str) -> (Format, Format, Value) {
    match name {
        "claude->hub fixture" => (
            Format::Claude,
            Format::OpenAi,
            parse(fixture!("claude/claude_code_request.json")),
        ),
        "claude->hub large" => (Format::Claude, Format::OpenAi, CLAUDE_CODE_LARGE.clone()),
        "hub->claude fixture" => (
            Format::OpenAi,
            Format::Claude,
            parse(fixture!("claude/hub_request.json")),
        ),
        "hub->claude large" => (Format::OpenAi, Format::Claude, HUB_LARGE.clone()),
        "responses->hub fixture" => (
            Format::Responses,
            Format::OpenAi,
            parse(fixture!("responses/codex_request.json")),
        ),
        "hub->responses fixture" => (
            Format::OpenAi,
            Format::Responses,
            parse(fixture!("responses/hub_request.json")),
        ),
        "hub->responses large" => (Format::OpenAi, Format::Responses, HUB_LARGE.clone()),
        "gemini->hub fixture" => (
            Format::Gemini,
            Format::OpenAi,
            parse(fixture!("gemini/request_genai_sdk.json")),
        ),
        "hub->gemini fixture" => (
            Format::OpenAi,
            Format::Gemini,
            parse(fixture!("gemini/hub_request_claude_code.json")),
        ),
        "hub->gemini large" => (Format::OpenAi, Format::Gemini, HUB_LARGE.clone()),
        other => panic!("no request case {other}"),
    }
}

const REQUESTS: &[&str] = &[
    "claude->hub fixture",
    "claude->hub large",
    "hub->claude fixture",
    "hub->claude large",
    "responses->hub fixture",
    "hub->responses fixture",
    "hub->responses large",
    "gemini->hub fixture",
    "hub->gemini fixture",
    "hub->gemini large",
];

/// One request translator on an already parsed body (the server parses once).
#[divan::bench(args = REQUESTS)]
fn request(bencher: Bencher, name: &str) {
    let (from, to, body) = request_case(name);
    let f = REGISTRY.request(from, to).unwrap();
    let bytes = body.to_string().len();
    bencher
        .counter(BytesCount::new(bytes))
        .with_inputs(|| (body.clone(), ctx(from, to)))
        .bench_values(|(body, mut c)| f.apply(HubRequest::Json(body), &mut c).unwrap());
}

/// What the server does with a translated request body: parse, client -> hub -> provider,
/// serialise.
#[divan::bench(args = ["claude->claude large", "claude->responses large", "claude->gemini large"])]
fn request_path(bencher: Bencher, name: &str) {
    let to = match name {
        "claude->claude large" => Format::Claude,
        "claude->responses large" => Format::Responses,
        _ => Format::Gemini,
    };
    let text = CLAUDE_CODE_LARGE.to_string();
    let to_hub = REGISTRY.request(Format::Claude, Format::OpenAi).unwrap();
    let to_provider = REGISTRY.request(Format::OpenAi, to).unwrap();
    bencher.counter(BytesCount::new(text.len())).bench(|| {
        let mut c = ctx(Format::Claude, to);
        let body: Value = serde_json::from_slice(black_box(text.as_bytes())).unwrap();
        let hub = to_hub.apply(HubRequest::Json(body), &mut c).unwrap();
        let out = to_provider.apply(hub, &mut c).unwrap();
        serde_json::to_vec(&out).unwrap()
    });
}

/// A long answer in the hub format: role, 1,000 text deltas, finish, usage.
static HUB_LONG: LazyLock<String> = LazyLock::new(hub_stream::hub_long);

/// The long hub stream turned into `format` by our own stage, as a provider would send it.
fn long_in(format: Format) -> String {
    let mut stage = REGISTRY.stream(Format::OpenAi, format).unwrap()(&ctx(Format::OpenAi, format));
    let events = parse_sse_text(&HUB_LONG).unwrap();
    let mut out = Vec::new();
    for ev in switchyard_hub::stream::run_stage(stage.as_mut(), events).unwrap() {
        ev.encode(&mut out);
    }
    String::from_utf8(out).unwrap()
}

static CLAUDE_LONG: LazyLock<String> = LazyLock::new(|| long_in(Format::Claude));
static RESPONSES_LONG: LazyLock<String> = LazyLock::new(|| long_in(Format::Responses));
static GEMINI_LONG: LazyLock<String> = LazyLock::new(|| long_in(Format::Gemini));

fn stream_case(name: &str) -> (Format, Format, &'static str) {
    match name {
        "claude->hub tool_use" => (
            Format::Claude,
            Format::OpenAi,
            fixture!("claude/stream_tool_use.sse"),
        ),
        "claude->hub thinking" => (
            Format::Claude,
            Format::OpenAi,
            fixture!("claude/stream_thinking.sse"),
        ),
        "claude->hub long" => (Format::Claude, Format::OpenAi, CLAUDE_LONG.as_str()),
        "hub->claude tools" => (
            Format::OpenAi,
            Format::Claude,
            fixture!("claude/hub_stream_tools.sse"),
        ),
        "hub->claude long" => (Format::OpenAi, Format::Claude, HUB_LONG.as_str()),
        "responses->hub reasoning" => (
            Format::Responses,
            Format::OpenAi,
            fixture!("responses/upstream_reasoning_text.sse"),
        ),
        "responses->hub tools" => (
            Format::Responses,
            Format::OpenAi,
            fixture!("responses/upstream_parallel_tools.sse"),
        ),
        "responses->hub long" => (Format::Responses, Format::OpenAi, RESPONSES_LONG.as_str()),
        "hub->responses tools" => (
            Format::OpenAi,
            Format::Responses,
            fixture!("responses/hub_parallel_tools.sse"),
        ),
        "hub->responses long" => (Format::OpenAi, Format::Responses, HUB_LONG.as_str()),
        "gemini->hub tools" => (
            Format::Gemini,
            Format::OpenAi,
            fixture!("gemini/stream_tools.sse"),
        ),
        "gemini->hub long" => (Format::Gemini, Format::OpenAi, GEMINI_LONG.as_str()),
        "hub->gemini tools" => (
            Format::OpenAi,
            Format::Gemini,
            fixture!("gemini/hub_stream_tools.sse"),
        ),
        "hub->gemini long" => (Format::OpenAi, Format::Gemini, HUB_LONG.as_str()),
        other => panic!("no stream case {other}"),
    }
}

const STREAMS: &[&str] = &[
    "claude->hub tool_use",
    "claude->hub thinking",
    "claude->hub long",
    "hub->claude tools",
    "hub->claude long",
    "responses->hub reasoning",
    "responses->hub tools",
    "responses->hub long",
    "hub->responses tools",
    "hub->responses long",
    "gemini->hub tools",
    "gemini->hub long",
    "hub->gemini tools",
    "hub->gemini long",
];

/// A whole recorded stream through one stage as the server runs it: SSE bytes in, events
/// decoded, translated, and encoded back to SSE.
#[divan::bench(args = STREAMS)]
fn stream(bencher: Bencher, name: &str) {
    let (from, to, text) = stream_case(name);
    let make = REGISTRY.stream(from, to).unwrap();
    let c = ctx(from, to);
    bencher.counter(BytesCount::new(text.len())).bench(|| {
        let mut decoder = SseDecoder::default();
        let mut stage = make(&c);
        decoder.push(black_box(text.as_bytes()));
        let mut events = Vec::new();
        let mut wire = Vec::with_capacity(text.len() * 2);
        while let Some(ev) = decoder.next_event() {
            stage.push(ev.unwrap(), &mut events).unwrap();
            for out in events.drain(..) {
                out.encode(&mut wire);
            }
        }
        if let Some(ev) = decoder.finish().unwrap() {
            stage.push(ev, &mut events).unwrap();
        }
        stage.finish(&mut events).unwrap();
        for out in events.drain(..) {
            out.encode(&mut wire);
        }
        wire
    });
}

/// Every recorded SSE fixture plus the long streams: the parser's input in the wild.
static SSE_CORPUS: LazyLock<String> = LazyLock::new(|| {
    [
        fixture!("claude/stream_text.sse"),
        fixture!("claude/stream_thinking.sse"),
        fixture!("claude/stream_tool_use.sse"),
        fixture!("claude/hub_stream_tools.sse"),
        fixture!("responses/upstream_reasoning_text.sse"),
        fixture!("responses/upstream_parallel_tools.sse"),
        fixture!("gemini/stream_tools.sse"),
        HUB_LONG.as_str(),
        CLAUDE_LONG.as_str(),
        RESPONSES_LONG.as_str(),
        GEMINI_LONG.as_str(),
    ]
    .join("\n\n")
});

/// The SSE parser alone, fed in 1,460-byte reads (one TCP segment each).
#[divan::bench]
fn sse_parser(bencher: Bencher) {
    let text = SSE_CORPUS.as_bytes();
    bencher.counter(BytesCount::new(text.len())).bench(|| {
        let mut p = SseParser::new();
        let mut n = 0usize;
        for chunk in black_box(text).chunks(1460) {
            p.push(chunk);
            while let Some(ev) = p.next_event() {
                n += ev.unwrap().data.len();
            }
        }
        if let Some(ev) = p.finish() {
            n += ev.unwrap().data.len();
        }
        n
    });
}

/// SSE parser plus JSON: the provider-side decoder every SSE provider uses.
#[divan::bench]
fn sse_decoder(bencher: Bencher) {
    let text = SSE_CORPUS.as_bytes();
    bencher.counter(BytesCount::new(text.len())).bench(|| {
        let mut d = SseDecoder::default();
        let mut n = 0usize;
        for chunk in black_box(text).chunks(1460) {
            d.push(chunk);
            while let Some(ev) = d.next_event() {
                n += usize::from(ev.unwrap().event.is_some());
            }
        }
        n
    });
}
