//! Micro-benchmarks of the Cursor pieces, in MB/s of input: the Connect frame decoder (with
//! protobuf and gzip), the Cursor -> hub stream stage behind it, and the hub -> Cursor
//! request translator with its protobuf encoding.
//!
//! `cargo bench -p switchyard-cursor --bench cursor` (or `cargo xtask bench --micro`).

#![expect(
    clippy::unwrap_used,
    reason = "benchmark setup on fixed fixtures: a failure there is a broken bench and should abort loudly"
)]

use std::io::Write;
use std::sync::LazyLock;

use divan::counter::BytesCount;
use divan::{Bencher, black_box};
use prost::Message;
use serde_json::Value;
use switchyard_cursor::decoder::CursorDecoder;
use switchyard_cursor::framing::{self, FLAG_COMPRESSED, FLAG_END_STREAM};
use switchyard_cursor::proto::{
    ClientSideToolV2Call, Metadata, StreamUnifiedChatRequestWithTools, StreamUnifiedChatResponse,
    StreamUnifiedChatResponseWithTools,
};
use switchyard_hub::{Decoder, Format, Registry, TranslateCtx};

#[path = "../../hub/benches/support/workload.rs"]
mod workload;

fn main() {
    divan::main();
}

static REGISTRY: LazyLock<Registry> = LazyLock::new(|| Registry::load().unwrap());

/// The recorded fixture: thinking, text (gzip and zlib frames), two interleaved tool calls.
const RECORDED: &[u8] = include_bytes!("../tests/fixtures/text_and_tools.bin");

fn frame(msg: &StreamUnifiedChatResponseWithTools, gzip: bool, out: &mut Vec<u8>) {
    let payload = msg.encode_to_vec();
    if gzip {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(&payload).unwrap();
        framing::encode(FLAG_COMPRESSED, &e.finish().unwrap(), out).unwrap();
    } else {
        framing::encode(0, &payload, out).unwrap();
    }
}

/// A long answer: 1,000 text frames, a tool call in 20 fragments, the end-of-stream message.
fn long(gzip: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..1000 {
        let msg = StreamUnifiedChatResponseWithTools {
            response: Some(StreamUnifiedChatResponse {
                text: format!("token {i} of the answer "),
                ..Default::default()
            }),
            ..Default::default()
        };
        frame(&msg, gzip, &mut out);
    }
    for i in 0..20 {
        let msg = StreamUnifiedChatResponseWithTools {
            tool_call: Some(ClientSideToolV2Call {
                tool_call_id: "call_bench".into(),
                name: "mcp_custom_Bash".into(),
                raw_args: format!("{{\"part{i}\":1,"),
                is_last: i == 19,
                ..Default::default()
            }),
            ..Default::default()
        };
        frame(&msg, gzip, &mut out);
    }
    framing::encode(FLAG_END_STREAM, b"{}", &mut out).unwrap();
    out
}

static LONG: LazyLock<Vec<u8>> = LazyLock::new(|| long(false));
static LONG_GZIP: LazyLock<Vec<u8>> = LazyLock::new(|| long(true));

fn input(name: &str) -> &'static [u8] {
    match name {
        "recorded" => RECORDED,
        "long" => LONG.as_slice(),
        _ => LONG_GZIP.as_slice(),
    }
}

fn ctx() -> TranslateCtx {
    let mut ctx = TranslateCtx::new(Format::OpenAi, Format::Cursor, "claude-4-sonnet", true);
    for t in ["Bash", "read_file"] {
        ctx.tool_names.insert(t, &format!("mcp_custom_{t}"));
    }
    ctx
}

/// The decoder alone (frames, decompression, protobuf), fed in 1,460-byte reads.
#[divan::bench(args = ["recorded", "long", "long gzip"])]
fn decoder(bencher: Bencher, name: &str) {
    let bytes = input(name);
    bencher.counter(BytesCount::new(bytes.len())).bench(|| {
        let mut d = CursorDecoder::default();
        let mut n = 0usize;
        for chunk in black_box(bytes).chunks(1460) {
            d.push(chunk);
            while let Some(ev) = d.next_event() {
                ev.unwrap();
                n += 1;
            }
        }
        n + usize::from(d.finish().unwrap().is_some())
    });
}

/// Decoder plus the Cursor -> hub stage, hub chunks encoded as SSE.
#[divan::bench(args = ["recorded", "long", "long gzip"])]
fn stream(bencher: Bencher, name: &str) {
    let bytes = input(name);
    let make = REGISTRY.stream(Format::Cursor, Format::OpenAi).unwrap();
    let ctx = ctx();
    bencher.counter(BytesCount::new(bytes.len())).bench(|| {
        let mut d = CursorDecoder::default();
        let mut stage = make(&ctx);
        let mut events = Vec::new();
        let mut wire = Vec::new();
        for chunk in black_box(bytes).chunks(1460) {
            d.push(chunk);
            while let Some(ev) = d.next_event() {
                stage.push(ev.unwrap(), &mut events).unwrap();
                for e in events.drain(..) {
                    e.encode(&mut wire);
                }
            }
        }
        if let Some(ev) = d.finish().unwrap() {
            stage.push(ev, &mut events).unwrap();
        }
        stage.finish(&mut events).unwrap();
        for e in events.drain(..) {
            e.encode(&mut wire);
        }
        wire
    });
}

fn request_body(name: &str) -> Value {
    match name {
        "fixture" => {
            serde_json::from_str(include_str!("../tests/fixtures/request_agent.json")).unwrap()
        }
        _ => workload::hub_large(&REGISTRY),
    }
}

/// hub -> Cursor: the translator alone.
#[divan::bench(args = ["fixture", "large"])]
fn request(bencher: Bencher, name: &str) {
    let body = request_body(name);
    let f = REGISTRY.request(Format::OpenAi, Format::Cursor).unwrap();
    bencher
        .counter(BytesCount::new(body.to_string().len()))
        .with_inputs(|| (body.clone(), ctx()))
        .bench_values(|(body, mut ctx)| f.apply_json(body, &mut ctx).unwrap());
}

/// hub -> Cursor as the executor sends it: translated, protobuf-encoded and framed.
#[divan::bench(args = ["fixture", "large"])]
fn request_encoded(bencher: Bencher, name: &str) {
    let body = request_body(name);
    let f = REGISTRY.request(Format::OpenAi, Format::Cursor).unwrap();
    bencher
        .counter(BytesCount::new(body.to_string().len()))
        .with_inputs(|| (body.clone(), ctx()))
        .bench_values(|(body, mut ctx)| {
            let value = f.apply_json(body, &mut ctx).unwrap();
            let msg: StreamUnifiedChatRequestWithTools = serde_json::from_value(value).unwrap();
            let payload = switchyard_cursor::executor::finish_request(
                msg,
                "claude-4-sonnet",
                Metadata::default(),
                || "00000000-0000-4000-8000-000000000000".to_owned(),
            );
            let mut out = Vec::with_capacity(payload.len() + 5);
            framing::encode(0, &payload, &mut out).unwrap();
            out
        });
}
