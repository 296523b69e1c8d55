//! Translators between the hub (OpenAI chat completions) and the `claude` format (Anthropic
//! Messages API, `POST /v1/messages`).
//!
//! Hub extensions read and written here (all optional, all plain JSON):
//! - assistant messages / stream deltas: `reasoning_content` (thinking text), `reasoning_signature`
//!   (the thinking block's `signature`), `redacted_reasoning` (a `redacted_thinking` block's
//!   `data`). One hub assistant message carries at most one thinking block, so a Claude assistant
//!   turn with several thinking blocks becomes several consecutive hub assistant messages, which
//!   the reverse direction merges back into one turn in the same block order.
//! - `cache_control` on hub content parts (system, user, tool and assistant text, images, files)
//!   and on hub tool definitions, so prompt-caching breakpoints survive a hub round trip.
//! - `usage.prompt_tokens_details.cache_creation_tokens`: Anthropic `cache_creation_input_tokens`
//!   (already counted in `prompt_tokens`, like `cached_tokens`).
//!
//! Mapping notes: Anthropic `input_tokens` excludes cached tokens, so hub `prompt_tokens` =
//! input + cache read + cache creation; thinking budgets and adaptive `effort` map to hub
//! `reasoning_effort` and back.

mod request;
mod response;
mod stream;
#[cfg(test)]
mod tests;
mod wire;

use serde_json::{Map, Value, json};

use crate::clock::now_nanos;

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn u64_of(v: &Value, key: &str) -> Option<u64> {
    v.get(key).and_then(Value::as_u64)
}

/// Anthropic `stop_reason` -> hub `finish_reason`.
fn stop_reason_to_finish(reason: &str) -> &'static str {
    match reason {
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        // end_turn, stop_sequence, pause_turn and anything newer.
        _ => "stop",
    }
}

/// Hub `finish_reason` -> Anthropic `stop_reason`.
fn finish_to_stop_reason(finish: &str) -> &'static str {
    match finish {
        "length" => "max_tokens",
        "tool_calls" | "function_call" => "tool_use",
        "content_filter" => "refusal",
        _ => "end_turn",
    }
}

/// An Anthropic `usage` object in hub terms.
pub(crate) fn usage_to_hub(usage: &Value) -> Value {
    ClaudeUsage::from_claude(usage).to_hub()
}

/// Token counts in Anthropic's terms.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct ClaudeUsage {
    input: u64,
    output: u64,
    cache_read: u64,
    cache_creation: u64,
}

impl ClaudeUsage {
    /// Reads an Anthropic `usage` object; absent or null fields keep `self`'s value (a
    /// `message_delta` repeats only what changed).
    fn merge_claude(&mut self, usage: &Value) {
        if let Some(n) = u64_of(usage, "input_tokens") {
            self.input = n;
        }
        if let Some(n) = u64_of(usage, "output_tokens") {
            self.output = n;
        }
        if let Some(n) = u64_of(usage, "cache_read_input_tokens") {
            self.cache_read = n;
        }
        if let Some(n) = u64_of(usage, "cache_creation_input_tokens") {
            self.cache_creation = n;
        }
    }

    fn from_claude(usage: &Value) -> ClaudeUsage {
        let mut u = ClaudeUsage::default();
        u.merge_claude(usage);
        u
    }

    /// Reads a hub (OpenAI) `usage` object.
    fn from_hub(usage: &Value) -> ClaudeUsage {
        let prompt = u64_of(usage, "prompt_tokens").unwrap_or(0);
        let details = usage.get("prompt_tokens_details");
        let cached = details
            .and_then(|d| u64_of(d, "cached_tokens"))
            .unwrap_or(0);
        let creation = details
            .and_then(|d| u64_of(d, "cache_creation_tokens"))
            .unwrap_or(0);
        ClaudeUsage {
            input: prompt.saturating_sub(cached).saturating_sub(creation),
            output: u64_of(usage, "completion_tokens").unwrap_or(0),
            cache_read: cached,
            cache_creation: creation,
        }
    }

    fn to_hub(self) -> Value {
        let prompt = self.input + self.cache_read + self.cache_creation;
        let mut details = Map::new();
        details.insert("cached_tokens".into(), json!(self.cache_read));
        if self.cache_creation > 0 {
            details.insert("cache_creation_tokens".into(), json!(self.cache_creation));
        }
        json!({
            "prompt_tokens": prompt,
            "completion_tokens": self.output,
            "total_tokens": prompt + self.output,
            "prompt_tokens_details": details,
        })
    }

    fn to_claude(self) -> Value {
        json!({
            "input_tokens": self.input,
            "cache_creation_input_tokens": self.cache_creation,
            "cache_read_input_tokens": self.cache_read,
            "output_tokens": self.output,
        })
    }
}

/// How a Claude model takes a thinking request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ThinkingMode {
    /// `thinking: {type: "adaptive"}` + `output_config.effort` (Claude 4.6 and later; the
    /// newest models refuse `enabled`).
    Adaptive,
    /// `thinking: {type: "enabled", budget_tokens}`.
    Budget,
    /// Claude 3 / 3.5 models have no extended thinking.
    Unsupported,
}

/// Guesses the thinking mode from the model id. Unknown ids (Anthropic-compatible third parties
/// such as GLM or Kimi) get the budget form, which those endpoints accept.
fn thinking_mode(model: &str) -> ThinkingMode {
    let m = model.to_ascii_lowercase();
    if m.contains("mythos") || m.contains("fable") {
        return ThinkingMode::Adaptive;
    }
    for family in ["opus-", "sonnet-", "haiku-"] {
        let Some(at) = m.find(family) else { continue };
        let rest = m.get(at + family.len()..).unwrap_or("");
        let mut parts = rest.split(['-', '.', '@', ':']);
        let major = parts
            .next()
            .filter(|p| !p.is_empty() && p.len() <= 2)
            .and_then(|p| p.parse::<u32>().ok());
        // A minor version is one or two digits; a longer number is a date stamp.
        let minor = parts
            .next()
            .filter(|p| !p.is_empty() && p.len() <= 2)
            .and_then(|p| p.parse::<u32>().ok())
            .unwrap_or(0);
        match major {
            Some(major) if major >= 5 || (major == 4 && minor >= 6) => {
                return ThinkingMode::Adaptive;
            }
            Some(major) if major >= 4 => return ThinkingMode::Budget,
            _ => {}
        }
    }
    if m.contains("claude-3-7") || m.contains("claude-3.7") {
        return ThinkingMode::Budget;
    }
    if m.contains("claude-3") || m.contains("claude-2") || m.contains("claude-instant") {
        return ThinkingMode::Unsupported;
    }
    ThinkingMode::Budget
}

/// Smallest budget Anthropic accepts.
const MIN_THINKING_BUDGET: u64 = 1024;

/// Hub `reasoning_effort` -> Anthropic `budget_tokens`.
fn effort_to_budget(effort: &str) -> u64 {
    match effort {
        "minimal" => 1024,
        "low" => 2048,
        "medium" => 8192,
        "high" => 24576,
        // xhigh, max
        _ => 32000,
    }
}

/// Hub `reasoning_effort` -> Anthropic `output_config.effort`.
fn effort_to_claude(effort: &str) -> &'static str {
    match effort {
        "minimal" | "low" => "low",
        "medium" => "medium",
        "high" => "high",
        _ => "max",
    }
}

/// Anthropic `budget_tokens` -> hub `reasoning_effort`.
fn budget_to_effort(budget: u64) -> &'static str {
    match budget {
        0..4096 => "low",
        4096..16384 => "medium",
        _ => "high",
    }
}

/// Anthropic `output_config.effort` -> hub `reasoning_effort`.
fn claude_effort_to_hub(effort: &str) -> Option<&'static str> {
    match effort {
        "low" => Some("low"),
        "medium" => Some("medium"),
        "high" => Some("high"),
        "max" | "xhigh" => Some("xhigh"),
        _ => None,
    }
}

/// A `msg_` id for a Claude client, from whatever id the hub carried.
fn claude_message_id(hub_id: Option<&str>) -> String {
    match hub_id {
        Some(id) if id.starts_with("msg_") => id.to_owned(),
        Some(id) if !id.is_empty() => {
            let clean: String = id
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            format!("msg_{}", clean.trim_start_matches("chatcmpl-"))
        }
        _ => format!("msg_{:016x}", fnv1a(now_nanos().to_le_bytes().as_slice())),
    }
}

/// A small stable hash for deterministic renames (tool names and ids).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Parses tool-call `arguments` (a JSON string) into the object Anthropic wants as `input`.
/// Empty, invalid or non-object arguments (a truncated generation, say) become `{}`: the turn
/// must still be valid for the API, and the tool result that follows explains the failure.
fn arguments_to_input(args: Option<&Value>) -> Value {
    match args {
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(v @ Value::Object(_)) => v,
            _ => json!({}),
        },
        Some(v @ Value::Object(_)) => v.clone(),
        _ => json!({}),
    }
}
