//! Micro-benchmarks of the Kiro pieces, in MB/s of input: the AWS event-stream decoder, the
//! Kiro -> hub stream stage behind it, and the hub -> Kiro request translator.
//!
//! `cargo bench -p switchyard-kiro --bench kiro` (or `cargo xtask bench --micro`).

#![expect(
    clippy::unwrap_used,
    reason = "benchmark setup on fixed fixtures: a failure there is a broken bench and should abort loudly"
)]

use std::sync::LazyLock;

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use divan::counter::BytesCount;
use divan::{Bencher, black_box};
use serde_json::{Value, json};
use switchyard_hub::{Decoder, Format, Registry, TranslateCtx};
use switchyard_kiro::{EventStreamDecoder, KIRO};

#[path = "../../hub/benches/support/workload.rs"]
mod workload;

fn main() {
    divan::main();
}

static REGISTRY: LazyLock<Registry> = LazyLock::new(|| Registry::load().unwrap());

fn event(kind: &str, payload: Value) -> Vec<u8> {
    let mut msg = Message::new(payload.to_string().into_bytes());
    for (k, v) in [
        (":message-type", "event"),
        (":event-type", kind),
        (":content-type", "application/json"),
    ] {
        msg = msg.add_header(Header::new(k, HeaderValue::String(v.to_owned().into())));
    }
    let mut out = Vec::new();
    write_message_to(&msg, &mut out).unwrap();
    out
}

/// The recorded fixture: text, a tool call in fragments, metering, usage, stop.
const RECORDED: &[u8] = include_bytes!("../tests/fixtures/text_and_tool.bin");

/// A long answer as Kiro streams it: 1,000 text events, a tool call in 20 fragments, then
/// metering, context usage and the stop.
static LONG: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let mut out = Vec::new();
    for i in 0..1000 {
        out.extend(event(
            "assistantResponseEvent",
            json!({"content": format!("token {i} of the answer ")}),
        ));
    }
    for i in 0..20 {
        out.extend(event(
            "toolUseEvent",
            json!({"name": "Bash", "toolUseId": "tooluse_bench", "input": format!("{{\"part{i}\":1,")}),
        ));
    }
    out.extend(event(
        "toolUseEvent",
        json!({"name": "Bash", "toolUseId": "tooluse_bench", "stop": true}),
    ));
    out.extend(event(
        "meteringEvent",
        json!({"unit": "credit", "unitPlural": "credits", "usage": 0.04}),
    ));
    out.extend(event(
        "contextUsageEvent",
        json!({"contextUsagePercentage": 12.5}),
    ));
    out.extend(event("messageStopEvent", json!({})));
    out
});

fn input(name: &str) -> &'static [u8] {
    match name {
        "recorded" => RECORDED,
        _ => LONG.as_slice(),
    }
}

/// The decoder alone, fed in 1,460-byte reads.
#[divan::bench(args = ["recorded", "long"])]
fn decoder(bencher: Bencher, name: &str) {
    let bytes = input(name);
    bencher.counter(BytesCount::new(bytes.len())).bench(|| {
        let mut d = EventStreamDecoder::default();
        let mut n = 0usize;
        for chunk in black_box(bytes).chunks(1460) {
            d.push(chunk);
            while let Some(ev) = d.next_event() {
                ev.unwrap();
                n += 1;
            }
        }
        d.finish().unwrap();
        n
    });
}

/// Decoder plus the Kiro -> hub stage, hub chunks encoded as SSE: the whole provider side.
#[divan::bench(args = ["recorded", "long"])]
fn stream(bencher: Bencher, name: &str) {
    let bytes = input(name);
    let make = REGISTRY.stream(KIRO, Format::OpenAi).unwrap();
    let ctx = TranslateCtx::new(Format::OpenAi, KIRO, "claude-sonnet-4.5", true);
    bencher.counter(BytesCount::new(bytes.len())).bench(|| {
        let mut d = EventStreamDecoder::default();
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
        stage.finish(&mut events).unwrap();
        for e in events.drain(..) {
            e.encode(&mut wire);
        }
        wire
    });
}

/// hub -> Kiro on a small request and on a Claude Code-sized one.
#[divan::bench(args = ["fixture", "large"])]
fn request(bencher: Bencher, name: &str) {
    let body: Value = match name {
        "fixture" => {
            serde_json::from_str(include_str!("../tests/fixtures/request_tools.hub.json")).unwrap()
        }
        _ => workload::hub_large(&REGISTRY),
    };
    let f = REGISTRY.request(Format::OpenAi, KIRO).unwrap();
    bencher
        .counter(BytesCount::new(body.to_string().len()))
        .with_inputs(|| {
            (
                body.clone(),
                TranslateCtx::new(Format::OpenAi, KIRO, "claude-sonnet-4.5", true),
            )
        })
        .bench_values(|(body, mut ctx)| f.apply_json(body, &mut ctx).unwrap());
}
