//! The typed hub request -> an Anthropic Messages body: the request's own fields and the
//! turns (message content in `content.rs`, tools in `tools.rs`, thinking in `thinking.rs`).

use serde_json::{Map, Value, json};

use super::content::{hub_assistant_blocks, hub_system_blocks, hub_tool_result, hub_user_blocks};
use super::thinking::{
    apply_response_format, insert_thinking, last_tool_turn_lacks_thinking, reasoning_effort,
};
use super::tools::{hub_tools_to_claude, insert_tools_to_claude};
use super::{DEFAULT_MAX_TOKENS, DEFAULT_MAX_TOKENS_THINKING};
use crate::chat::{ChatRequest, Message};
use crate::ctx::TranslateCtx;
use crate::error::TranslateError;
use crate::translators::claude::str_of;

/// One Anthropic turn being assembled; consecutive hub messages of the same role merge into it.
pub(super) struct Turn {
    pub(super) role: &'static str,
    pub(super) blocks: Vec<Value>,
}

pub(in crate::translators::claude) fn hub_request_to_claude(
    req: ChatRequest,
    ctx: &mut TranslateCtx,
) -> Result<Value, TranslateError> {
    let model = if ctx.model.is_empty() {
        req.model
            .clone()
            .ok_or_else(|| TranslateError::invalid("model: required, must be a string"))?
    } else {
        ctx.model.clone()
    };
    if req.n.is_some_and(|n| n > 1) {
        return Err(TranslateError::invalid(
            "n: this provider returns one choice per request; n must be 1",
        ));
    }
    let tools = match &req.tools {
        None => Vec::new(),
        Some(t) => hub_tools_to_claude(t, ctx)?,
    };
    let (mut system, turns) = hub_messages_to_claude(&req.messages, !tools.is_empty(), ctx)?;

    let mut out = Map::new();
    out.insert("model".into(), Value::String(model.clone()));
    // Tool choice first: forcing a tool rules out thinking.
    let forced_tool = insert_tools_to_claude(&mut out, &req, tools, ctx)?;
    let mut output_config = Map::new();
    let thinking_on = thinking_and_limit(
        &mut out,
        &mut output_config,
        &req,
        &model,
        forced_tool,
        &turns,
    )?;
    insert_sampling_to_claude(&mut out, &req, thinking_on);
    let stop = stop_sequences(&req);
    if !stop.is_empty() {
        out.insert("stop_sequences".into(), Value::Array(stop));
    }
    apply_response_format(&req, &mut output_config, &mut system)?;
    if !output_config.is_empty() {
        out.insert("output_config".into(), Value::Object(output_config));
    }
    if !system.is_empty() {
        out.insert("system".into(), system_value(system));
    }
    let turns = turns
        .into_iter()
        .map(|t| json!({"role": t.role, "content": t.blocks}))
        .collect();
    out.insert("messages".into(), Value::Array(turns));
    if let Some(user) = req.user.as_deref().filter(|u| !u.is_empty()) {
        out.insert("metadata".into(), json!({"user_id": user}));
    }
    if req.stream == Some(true) {
        out.insert("stream".into(), Value::Bool(true));
    }
    let mut out = Value::Object(out);
    crate::provenance::thinking_off_without_signed_turn(&mut out);
    Ok(out)
}

/// Thinking (when asked for, no tool is forced and the history allows it) and `max_tokens`,
/// which must leave room for it; returns whether thinking is on.
fn thinking_and_limit(
    out: &mut Map<String, Value>,
    output_config: &mut Map<String, Value>,
    req: &ChatRequest,
    model: &str,
    forced_tool: bool,
    turns: &[Turn],
) -> Result<bool, TranslateError> {
    let effort = reasoning_effort(req)?;
    let explicit_max = req.max_completion_tokens.or(req.max_tokens);
    let thinking_on = match effort {
        Some(effort) if !forced_tool && !last_tool_turn_lacks_thinking(turns) => {
            insert_thinking(out, output_config, model, effort, explicit_max)
        }
        _ => false,
    };
    let max_tokens = explicit_max.unwrap_or(if thinking_on {
        DEFAULT_MAX_TOKENS_THINKING
    } else {
        DEFAULT_MAX_TOKENS
    });
    out.insert("max_tokens".into(), json!(max_tokens));
    Ok(thinking_on)
}

/// Hub `messages` -> the Anthropic system blocks and the alternating user/assistant turns.
/// Without tools, tool calls and results in the history become text.
fn hub_messages_to_claude(
    messages: &[Message],
    has_tools: bool,
    ctx: &mut TranslateCtx,
) -> Result<(Vec<Value>, Vec<Turn>), TranslateError> {
    let mut system: Vec<Value> = Vec::new();
    let mut turns: Vec<Turn> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        message_to_claude(m, i, &mut system, &mut turns, ctx)?;
    }
    for turn in &mut turns {
        if turn.role == "user" {
            // Anthropic wants a turn's tool results before anything else in it.
            let (mut results, rest): (Vec<Value>, Vec<Value>) = std::mem::take(&mut turn.blocks)
                .into_iter()
                .partition(|b| str_of(b, "type") == Some("tool_result"));
            results.extend(rest);
            turn.blocks = results;
        }
    }
    trim_final_assistant(&mut turns);
    if !has_tools {
        tool_blocks_to_text(&mut turns);
    }
    if turns.is_empty() {
        return Err(TranslateError::invalid(
            "messages: at least one user or assistant message with content is required",
        ));
    }
    Ok((system, turns))
}

fn message_to_claude(
    m: &Message,
    i: usize,
    system: &mut Vec<Value>,
    turns: &mut Vec<Turn>,
    ctx: &mut TranslateCtx,
) -> Result<(), TranslateError> {
    let path = format!("messages[{i}].content");
    let content = m.content();
    match m.role.as_str() {
        "system" | "developer" => system.extend(hub_system_blocks(content, &path)?),
        "user" => push_turn(turns, "user", hub_user_blocks(content, &path)?),
        "assistant" => push_turn(
            turns,
            "assistant",
            hub_assistant_blocks(m, &format!("messages[{i}]"), ctx)?,
        ),
        "tool" => push_turn(
            turns,
            "user",
            vec![hub_tool_result(m, &format!("messages[{i}]"))?],
        ),
        "function" => {
            return Err(TranslateError::invalid(format!(
                "messages[{i}].role: legacy `function` messages are not supported; use `tool` messages"
            )));
        }
        other => {
            return Err(TranslateError::invalid(format!(
                "messages[{i}].role: unsupported role `{other}`"
            )));
        }
    }
    Ok(())
}

/// Sampling: Anthropic's temperature range is 0..=1; with thinking on only the defaults are
/// allowed (top_p >= 0.95), and recent models refuse temperature and top_p together.
fn insert_sampling_to_claude(out: &mut Map<String, Value>, req: &ChatRequest, thinking_on: bool) {
    let temperature = req
        .temperature
        .as_ref()
        .and_then(serde_json::Number::as_f64);
    let top_p = req.top_p.as_ref().and_then(serde_json::Number::as_f64);
    if !thinking_on && let Some(t) = temperature {
        out.insert("temperature".into(), json!(t.clamp(0.0, 1.0)));
    }
    if let Some(p) = top_p
        && ((thinking_on && p >= 0.95) || (!thinking_on && temperature.is_none()))
    {
        out.insert("top_p".into(), json!(p.clamp(0.0, 1.0)));
    }
}

/// Hub `stop` (a string or an array) -> `stop_sequences`, without the whitespace-only ones
/// Anthropic refuses.
fn stop_sequences(req: &ChatRequest) -> Vec<Value> {
    req.stop
        .as_ref()
        .map(|s| s.sequences())
        .unwrap_or_default()
        .iter()
        .filter(|s| !s.trim().is_empty())
        .map(|s| Value::String(s.clone()))
        .collect()
}

/// The `system` field: a plain string when it is one text block without cache control,
/// else the blocks.
fn system_value(system: Vec<Value>) -> Value {
    let plain = system.len() == 1
        && system
            .first()
            .is_some_and(|b| b.get("cache_control").is_none());
    match system.first().and_then(|b| str_of(b, "text")) {
        Some(text) if plain => Value::String(text.to_owned()),
        _ => Value::Array(system),
    }
}

fn push_turn(turns: &mut Vec<Turn>, role: &'static str, blocks: Vec<Value>) {
    if blocks.is_empty() {
        return;
    }
    match turns.last_mut() {
        Some(last) if last.role == role => last.blocks.extend(blocks),
        _ => turns.push(Turn { role, blocks }),
    }
}

/// Anthropic refuses a final assistant (prefill) turn that ends in whitespace.
fn trim_final_assistant(turns: &mut Vec<Turn>) {
    let Some(last) = turns.last_mut() else { return };
    if last.role != "assistant" {
        return;
    }
    if let Some(block) = last.blocks.last_mut()
        && str_of(block, "type") == Some("text")
        && let Some(Value::String(text)) = block.get_mut("text")
    {
        let trimmed = text.trim_end().len();
        text.truncate(trimmed);
    }
    last.blocks.retain(|b| {
        str_of(b, "type") != Some("text") || str_of(b, "text").is_some_and(|t| !t.is_empty())
    });
    if last.blocks.is_empty() {
        turns.pop();
    }
}

/// Anthropic refuses `tool_use` / `tool_result` blocks in a request that defines no tools (an
/// OpenAI client may drop its tools on a final turn); such history is replayed as text.
fn tool_blocks_to_text(turns: &mut [Turn]) {
    for block in turns.iter_mut().flat_map(|t| t.blocks.iter_mut()) {
        let text = match str_of(block, "type") {
            Some("tool_use") => format!(
                "[called tool `{}` with input {}]",
                str_of(block, "name").unwrap_or(""),
                block.get("input").cloned().unwrap_or(Value::Null)
            ),
            Some("tool_result") => {
                let content = match block.get("content") {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Array(items)) => items
                        .iter()
                        .filter_map(|b| str_of(b, "text"))
                        .collect::<Vec<_>>()
                        .join("\n"),
                    _ => String::new(),
                };
                format!(
                    "[result of tool call {}]\n{content}",
                    str_of(block, "tool_use_id").unwrap_or("")
                )
            }
            _ => continue,
        };
        *block = json!({"type": "text", "text": text});
    }
}
