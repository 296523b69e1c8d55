//! Instruction counts of one streamed answer through the hub, for `valgrind --tool=callgrind`.
//!
//! Timings on a machine shared with other builds wander; instruction counts do not. This
//! runs one case (`cargo bench -p switchyard-hub --bench stream_cost -- <case>`, or the
//! built binary under callgrind with `--toggle-collect=stream_cost::run_once`, or
//! `stream_cost::pass_once` for `pass`: a wildcard also matches the closures inside it and
//! toggles collection off there) a fixed
//! number of times, so counts per answer are `Ir / RUNS`. A case is what the proxy does per
//! answer: `translate P C` decodes a provider stream of format P, runs it through the
//! provider -> hub and hub -> client stages and encodes the client's events; `pass C` is
//! the passthrough of the same answer in the client's format C (events parsed, checked to
//! be JSON, usage read where it may sit), the baseline the translated cost is compared to.

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "benchmark setup on fixed inputs: a failure there is a broken bench and should abort loudly"
)]

use serde::de::IgnoredAny;
use serde_json::Value;
use switchyard_hub::framing::SseDecoder;
use switchyard_hub::sse::SseParser;
use switchyard_hub::stream::{StreamEvent, configure_decoder, parse_sse_text, run_stage};
use switchyard_hub::usage::{chunk_text_bytes, event_may_carry_usage, merge_stream_event};
use switchyard_hub::{Decoder, Format, Registry, TranslateCtx};

#[path = "support/hub_stream.rs"]
mod hub_stream;

const RUNS: usize = 20;

fn ctx(client: Format, provider: Format) -> TranslateCtx {
    let mut c = TranslateCtx::new(client, provider, "bench-model", true);
    c.client_wants_usage = true;
    c
}

/// The long answer in `format`, as a provider of that format sends it.
fn long_in(registry: &Registry, format: Format) -> String {
    let hub = hub_stream::hub_long();
    if format == Format::OpenAi {
        return hub;
    }
    let mut stage = registry.stream(Format::OpenAi, format).unwrap()(&ctx(Format::OpenAi, format));
    let mut out = Vec::new();
    for ev in run_stage(stage.as_mut(), parse_sse_text(&hub).unwrap()).unwrap() {
        ev.encode(&mut out);
    }
    String::from_utf8(out).unwrap()
}

fn format(name: &str) -> Format {
    match name {
        "openai" => Format::OpenAi,
        "claude" => Format::Claude,
        "responses" => Format::Responses,
        "gemini" => Format::Gemini,
        other => panic!("no format {other}"),
    }
}

enum Case {
    Translate(Format, Format),
    Pass(Format),
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let case = match args.as_slice() {
        [t, p, c] if t == "translate" => Case::Translate(format(p), format(c)),
        [t, c] if t == "pass" => Case::Pass(format(c)),
        _ => panic!("usage: stream_cost translate <provider> <client> | pass <client>"),
    };
    let registry = Registry::load().unwrap();
    let mut total = 0usize;
    match case {
        Case::Translate(p, c) => {
            let input = long_in(&registry, p);
            for _ in 0..RUNS {
                total += run_once(&registry, p, c, input.as_bytes());
            }
        }
        Case::Pass(c) => {
            let input = long_in(&registry, c);
            for _ in 0..RUNS {
                total += pass_once(c, input.as_bytes());
            }
        }
    }
    println!("{total} bytes out over {RUNS} runs");
}

/// One translated answer, cut in 1,460-byte reads as it comes off the socket.
#[inline(never)]
fn run_once(registry: &Registry, provider: Format, client: Format, input: &[u8]) -> usize {
    let c = ctx(client, provider);
    let mut to_hub = (provider != Format::OpenAi)
        .then(|| registry.stream(provider, Format::OpenAi).unwrap()(&c));
    let mut to_client =
        (client != Format::OpenAi).then(|| registry.stream(Format::OpenAi, client).unwrap()(&c));
    let mut decoder = SseDecoder::default();
    configure_decoder(&mut decoder, to_hub.as_deref(), to_client.as_deref());
    let mut wire = Vec::with_capacity(input.len() * 2);
    let mut hub = Vec::new();
    let mut out = Vec::new();
    let mut step = |ev: Option<StreamEvent>, wire: &mut Vec<u8>| {
        match (to_hub.as_mut(), ev) {
            (Some(s), Some(ev)) => s.push(ev, &mut hub).unwrap(),
            (Some(s), None) => s.finish(&mut hub).unwrap(),
            (None, Some(ev)) => hub.push(ev),
            (None, None) => {}
        }
        for chunk in hub.drain(..) {
            match to_client.as_mut() {
                Some(s) => s.push(chunk, &mut out).unwrap(),
                None => out.push(chunk),
            }
        }
        for ev in out.drain(..) {
            ev.encode(wire);
        }
    };
    for piece in input.chunks(1460) {
        decoder.push(piece);
        while let Some(ev) = decoder.next_event() {
            step(Some(ev.unwrap()), &mut wire);
        }
    }
    if let Some(ev) = decoder.finish().unwrap() {
        step(Some(ev), &mut wire);
    }
    step(None, &mut wire);
    if let Some(s) = to_client.as_mut() {
        s.finish(&mut out).unwrap();
    }
    for ev in out.drain(..) {
        ev.encode(&mut wire);
    }
    wire.len()
}

/// One passthrough answer: what the proxy does per event when formats match.
#[inline(never)]
fn pass_once(client: Format, input: &[u8]) -> usize {
    let mut parser = SseParser::new();
    let mut usage = None;
    let mut wire = Vec::with_capacity(input.len());
    let mut text = 0usize;
    for piece in input.chunks(1460) {
        parser.push(piece);
        while let Some(ev) = parser.next_event() {
            let ev = ev.unwrap();
            let data = ev.data.as_bytes();
            if event_may_carry_usage(client, ev.event.as_deref(), data) {
                let parsed: Value = serde_json::from_str(&ev.data).unwrap();
                merge_stream_event(client, &parsed, &mut usage);
            } else if !ev.is_done() && !ev.data.trim_ascii_start().is_empty() {
                serde_json::from_str::<IgnoredAny>(&ev.data).unwrap();
            }
            text += chunk_text_bytes(data);
            wire.extend_from_slice(&ev.raw);
        }
    }
    wire.len() + text + usize::from(usage.is_some())
}
