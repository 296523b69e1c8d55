//! Translators between the hub (OpenAI chat completions) and the OpenAI Responses API
//! (`POST /v1/responses`), the only wire API Codex CLI speaks and the one behind the openai
//! SDKs' `responses.*` helpers.
//!
//! Decisions a reader needs to know (both directions):
//!
//! - `instructions`, `system` and `developer` messages become hub `system` messages. Going to a
//!   Responses provider, the leading system messages become `instructions` and later ones
//!   `developer` messages (some Responses backends refuse the `system` role inside `input`).
//! - Consecutive assistant-side items (`reasoning`, assistant `message`, `function_call`,
//!   `custom_tool_call`) fold into one hub assistant message; a `reasoning` item always starts
//!   a new one unless the current one is still empty, so each hub message carries at most one
//!   reasoning text + signature.
//! - Custom (freeform) tools such as Codex's `apply_patch` become hub function tools with one
//!   string parameter `input` (the grammar, if any, goes into its description). Their calls
//!   travel through the hub with the arguments `{"input":"<raw input>"}`, and
//!   `custom_tool_call` history items are rewritten the same way. Which names are custom is
//!   remembered in `ctx.tool_names` under private keys that contain NUL characters (no real
//!   tool name does), so the response and stream translators turn those calls back into
//!   `custom_tool_call` items with `response.custom_tool_call_input.*` events.
//! - Namespace tools (`{"type":"namespace","name":ns,"tools":[...]}`) are flattened to function
//!   tools named `<ns>__<name>`; the pair is remembered the same way, so calls go back out as
//!   `function_call` items with `namespace` and the short `name`.
//! - Hosted tools (`web_search`, `file_search`, `code_interpreter`, `image_generation`) travel
//!   as hub `hosted` tools (`crate::hosted`); the rest the hub cannot express (`tool_search`,
//!   `mcp`, `computer_use_preview`, ...) are dropped, and so are history items of hosted tools. `item_reference`,
//!   `previous_response_id`, `conversation` and `background` need server-side storage and are
//!   refused with `InvalidRequest`; any other unknown item or content type is refused too.
//! - Reasoning: a `reasoning` item's summary text (else its `content` reasoning text) becomes
//!   the hub `reasoning_content`; its `encrypted_content` becomes `reasoning_signature`, so a
//!   signature produced by another provider (an Anthropic thinking signature, say) round-trips
//!   through Codex verbatim. Anthropic redacted thinking (`redacted_reasoning`) travels as a
//!   reasoning item with an empty summary whose `encrypted_content` is
//!   [`REDACTED_PREFIX`]` + data`.
//! - For a Responses *provider*, OpenAI binds encrypted reasoning to its item id, so the hub
//!   signature is `<item id>|<encrypted_content>` (several items: joined by one space); only
//!   signatures of that shape are replayed as `reasoning` items, others (which OpenAI could
//!   not decrypt) are left out.
//! - `max_output_tokens` <-> hub `max_tokens` (hub -> Responses also reads
//!   `max_completion_tokens`); `reasoning.effort` <-> `reasoning_effort`; `text.format` <->
//!   `response_format`; `prompt_cache_key` and `service_tier` are kept. `store`, `include`, `client_metadata`,
//!   `metadata`, `text.verbosity`, `reasoning.summary`, `truncation`, `user`
//!   and `safety_identifier` are not sent to the hub.
//! - An `input_image` given only by `file_id` becomes a hub `file` part `{file_id}` (the hub
//!   has no image-by-id); `input_file` keeps `file_data`, `file_id`, `filename` and `file_url`
//!   inside the hub `file` part. Codex's remote compaction (`compaction_trigger`, `compaction`
//!   and `context_compaction` items) is handled in [`compaction`]; OpenAI-encrypted summaries
//!   no other provider can read are dropped; other unknown items are refused.
//! - A finish reason `length` is status `incomplete` with `incomplete_details.reason`
//!   `max_output_tokens` (and `content_filter` likewise); the stream then ends with
//!   `response.incomplete` instead of `response.completed`.
//! - Streams to a client: one output item per reasoning run, text run and tool call. A
//!   reasoning item closes when text or a tool call starts (or when it already has a
//!   signature and more reasoning comes); tool-call items stay open until the finish chunk,
//!   since hub fragments of parallel calls may interleave. The terminal event waits for the
//!   usage chunk (or `finish()`), and `fail()` ends with `response.failed` whose
//!   `error.code` Codex understands (`rate_limit_exceeded`, `server_is_overloaded`, ...).
//! - Streams from a provider: hub tool-call indices are assigned in the order the calls
//!   appear; items that arrive without deltas (only `output_item.done`) are not lost, and
//!   text already streamed is not sent twice. A stream that ends before `response.completed`
//!   is a `BadUpstream` error, as it is for Codex itself.

pub mod compaction;
mod request;
mod response;
mod stream;
#[cfg(test)]
mod tests;
mod wire;
mod written;

use serde_json::{Value, json};

use crate::ctx::{ToolNameMap, unique_suffix};

/// Prefix of `encrypted_content` for Anthropic redacted thinking carried through a Responses
/// client (`redacted_reasoning` in the hub).
pub const REDACTED_PREFIX: &str = "switchyard.redacted:";

// Private keys in `ToolNameMap`. They contain NUL, which no tool name does, so they can never
// shadow a real rename made by another translator.
const CUSTOM_KEY: &str = "\u{0}responses.custom\u{0}";
const NAMESPACE_KEY: &str = "\u{0}responses.namespace\u{0}";
const NAMESPACE_VALUE: &str = "\u{0}responses.namespace-of\u{0}";

/// Remembers that the hub function tool `name` stands for a Responses custom tool.
fn mark_custom(map: &mut ToolNameMap, name: &str) {
    let key = format!("{CUSTOM_KEY}{name}");
    let value = format!("{key}\u{0}");
    map.insert(&key, &value);
}

fn is_custom(map: &ToolNameMap, name: &str) -> bool {
    let key = format!("{CUSTOM_KEY}{name}");
    map.provider_name(&key) != key
}

/// Remembers that the hub function tool `flat` stands for tool `name` in namespace `ns`.
fn mark_namespace(map: &mut ToolNameMap, flat: &str, ns: &str, name: &str) {
    let key = format!("{NAMESPACE_KEY}{flat}");
    let value = format!("{NAMESPACE_VALUE}{ns}\u{0}{name}");
    map.insert(&key, &value);
}

/// The (namespace, name) a flattened hub tool name stands for, if it was a namespace tool.
fn namespace_of(map: &ToolNameMap, flat: &str) -> Option<(String, String)> {
    let key = format!("{NAMESPACE_KEY}{flat}");
    let value = map.provider_name(&key);
    let (ns, name) = value.strip_prefix(NAMESPACE_VALUE)?.split_once('\u{0}')?;
    Some((ns.to_owned(), name.to_owned()))
}

fn flat_name(ns: &str, name: &str) -> String {
    format!("{ns}__{name}")
}

/// Hub arguments of a custom tool call: the raw input wrapped as `{"input": ...}`.
fn custom_args(input: &str) -> String {
    json!({ "input": input }).to_string()
}

/// The raw input of a custom tool call back from hub arguments. Arguments that are not the
/// `{"input": "<string>"}` wrapper are passed on as they are.
fn custom_input(args: &str) -> String {
    match serde_json::from_str::<Value>(args) {
        Ok(Value::Object(o)) => match o.get("input") {
            Some(Value::String(s)) => s.clone(),
            _ => args.to_owned(),
        },
        Ok(Value::String(s)) => s,
        _ => args.to_owned(),
    }
}

/// JSON-escapes `s` without the surrounding quotes, for streaming it inside a JSON string.
fn json_escape(s: &str) -> String {
    let quoted = Value::String(s.to_owned()).to_string();
    quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or_default()
        .to_owned()
}

/// Hub reasoning signature for one reasoning item of a Responses provider.
fn provider_signature(id: &str, encrypted: &str) -> String {
    format!("{id}|{encrypted}")
}

/// The (item id, encrypted content) pairs of a hub signature made by [`provider_signature`],
/// or `None` when the signature came from elsewhere.
fn parse_provider_signature(sig: &str) -> Option<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    for token in sig.split_whitespace() {
        let (id, enc) = token.split_once('|')?;
        if enc.is_empty() {
            return None;
        }
        pairs.push((id.to_owned(), enc.to_owned()));
    }
    (!pairs.is_empty()).then_some(pairs)
}

/// Responses `usage` -> hub `usage`.
pub(crate) fn usage_to_hub(u: &Value) -> Option<Value> {
    u.as_object()?;
    let n = |p: &str| u.pointer(p).and_then(Value::as_u64).unwrap_or(0);
    let input = n("/input_tokens");
    let output = n("/output_tokens");
    let total = u
        .get("total_tokens")
        .and_then(Value::as_u64)
        .unwrap_or(input.saturating_add(output));
    Some(json!({
        "prompt_tokens": input,
        "completion_tokens": output,
        "total_tokens": total,
        "prompt_tokens_details": { "cached_tokens": n("/input_tokens_details/cached_tokens") },
        "completion_tokens_details": {
            "reasoning_tokens": n("/output_tokens_details/reasoning_tokens"),
        },
    }))
}

/// Hub `usage` -> Responses `usage`.
fn usage_from_hub(u: &Value) -> Option<Value> {
    u.as_object()?;
    let n = |p: &str| u.pointer(p).and_then(Value::as_u64).unwrap_or(0);
    let input = n("/prompt_tokens");
    let output = n("/completion_tokens");
    let total = u
        .get("total_tokens")
        .and_then(Value::as_u64)
        .unwrap_or(input.saturating_add(output));
    Some(json!({
        "input_tokens": input,
        "input_tokens_details": { "cached_tokens": n("/prompt_tokens_details/cached_tokens") },
        "output_tokens": output,
        "output_tokens_details": {
            "reasoning_tokens": n("/completion_tokens_details/reasoning_tokens"),
        },
        "total_tokens": total,
    }))
}

/// Status and `incomplete_details` of a response that ended with a hub finish reason.
fn status_of(finish: Option<&str>) -> (&'static str, Value) {
    match finish {
        Some("length") => ("incomplete", json!({ "reason": "max_output_tokens" })),
        Some("content_filter") => ("incomplete", json!({ "reason": "content_filter" })),
        _ => ("completed", Value::Null),
    }
}

/// Hub finish reason of a Responses status (`incomplete_details` gives the reason).
fn finish_of(status: &str, incomplete: Option<&Value>, any_tool_call: bool) -> &'static str {
    match status {
        "incomplete" => match incomplete
            .and_then(|d| d.get("reason"))
            .and_then(Value::as_str)
        {
            Some("content_filter") => "content_filter",
            _ => "length",
        },
        _ if any_tool_call => "tool_calls",
        _ => "stop",
    }
}

/// Ids for one response and its items, derived from the hub id so logs line up.
#[derive(Debug, Clone)]
struct Ids {
    base: String,
}

impl Ids {
    fn new(hub_id: Option<&str>) -> Self {
        let raw = hub_id.unwrap_or_default();
        let raw = ["chatcmpl-", "chatcmpl_", "resp_", "resp-", "msg_", "msg-"]
            .iter()
            .find_map(|p| raw.strip_prefix(p))
            .unwrap_or(raw);
        let base: String = raw
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(48)
            .collect();
        let base = if base.is_empty() {
            unique_suffix()
        } else {
            base
        };
        Self { base }
    }

    fn response(&self) -> String {
        format!("resp_{}", self.base)
    }

    fn item(&self, prefix: &str, index: usize) -> String {
        format!("{prefix}_{}{index:02}", self.base)
    }

    fn call(&self, index: usize) -> String {
        format!("call_{}{index:02}", self.base)
    }
}

fn non_empty_str<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}
