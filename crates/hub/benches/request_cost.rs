//! Instruction counts of one translated request, for `valgrind --tool=callgrind`.
//!
//! The request side of [`stream_cost`](stream_cost.rs): `request C P` takes a Claude
//! Code-sized request (~120 KB, `support/workload.rs`) in client format C, and does what the
//! proxy does with it per attempt: parse the bytes, client -> hub -> provider through a
//! [`Pipeline`], serialise the provider's body. Run the built binary under callgrind with
//! `--toggle-collect='*request_cost::run_once*'`; counts per request are `Ir / RUNS`.

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "benchmark setup on fixed inputs: a failure there is a broken bench and should abort loudly"
)]

use serde_json::Value;
use switchyard_hub::{Format, Pipeline, Registry, TranslateCtx};

#[path = "support/workload.rs"]
mod workload;

const RUNS: usize = 20;

fn ctx(client: Format, provider: Format) -> TranslateCtx {
    TranslateCtx::new(client, provider, "claude-sonnet-4-5", true)
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

/// One request through a pipeline, as JSON.
fn translate(registry: &Registry, client: Format, provider: Format, body: Value) -> Value {
    let p = Pipeline::new(registry, client, provider, true, true).unwrap();
    let mut c = ctx(client, provider);
    let hub = p.request_to_hub(body, &mut c).unwrap();
    p.request_to_provider(hub, &mut c).unwrap()
}

/// The large request in `client`'s format, as that client sends it.
fn large_in(registry: &Registry, client: Format) -> Vec<u8> {
    let claude = workload::claude_code_large();
    let body = match client {
        Format::Claude => claude,
        Format::OpenAi => workload::hub_large(registry),
        _ => translate(registry, Format::Claude, client, claude),
    };
    serde_json::to_vec(&body).unwrap()
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let (client, provider) = match args.as_slice() {
        [t, c, p] if t == "request" => (format(c), format(p)),
        _ => panic!("usage: request_cost request <client> <provider>"),
    };
    let registry = Registry::load().unwrap();
    let input = large_in(&registry, client);
    let mut total = 0usize;
    for _ in 0..RUNS {
        total += run_once(&registry, client, provider, &input);
    }
    println!("{total} bytes out over {RUNS} runs");
}

/// One request: parse, translate, serialise.
#[inline(never)]
fn run_once(registry: &Registry, client: Format, provider: Format, input: &[u8]) -> usize {
    let body: Value = serde_json::from_slice(input).unwrap();
    let out = translate(registry, client, provider, body);
    serde_json::to_vec(&out).unwrap().len()
}
