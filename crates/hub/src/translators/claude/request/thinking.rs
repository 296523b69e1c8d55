//! Reasoning and output format both ways: Claude `thinking` / `output_config` <-> hub
//! `reasoning_effort` / `response_format`.

use serde_json::{Map, Value, json};

use super::DEFAULT_MAX_TOKENS_THINKING;
use super::from_hub::Turn;
use crate::chat::ChatRequest;
use crate::error::TranslateError;
use crate::translators::claude::{
    MIN_THINKING_BUDGET, ThinkingMode, budget_to_effort, claude_effort_to_hub, effort_to_budget,
    effort_to_claude, str_of, thinking_mode, u64_of,
};

pub(super) fn reasoning_effort_to_hub(
    thinking: Option<&Value>,
    output_config: Option<&Value>,
) -> Result<Option<&'static str>, TranslateError> {
    let effort = match output_config.and_then(|o| o.get("effort")) {
        None | Some(Value::Null) => None,
        Some(Value::String(e)) => Some(claude_effort_to_hub(e).ok_or_else(|| {
            TranslateError::invalid(format!(
                "output_config.effort: unsupported value `{e}` (expected low, medium, high or max)"
            ))
        })?),
        Some(_) => {
            return Err(TranslateError::invalid(
                "output_config.effort: must be a string",
            ));
        }
    };
    let Some(thinking) = thinking.filter(|t| !t.is_null()) else {
        return Ok(effort);
    };
    match str_of(thinking, "type") {
        Some("enabled") => {
            let budget = u64_of(thinking, "budget_tokens").unwrap_or(MIN_THINKING_BUDGET);
            Ok(Some(budget_to_effort(budget)))
        }
        // Anthropic's default effort is high.
        Some("adaptive") => Ok(Some(effort.unwrap_or("high"))),
        Some("disabled") => Ok(None),
        Some(other) => Err(TranslateError::invalid(format!(
            "thinking.type: unsupported value `{other}` (expected enabled, adaptive or disabled)"
        ))),
        None => Err(TranslateError::invalid("thinking.type: required")),
    }
}

pub(super) fn output_format_to_hub(format: &Value) -> Result<Value, TranslateError> {
    match str_of(format, "type") {
        Some("json_schema") => {
            let schema = format
                .get("schema")
                .filter(|s| s.is_object())
                .ok_or_else(|| {
                    TranslateError::invalid("output_format.schema: required, must be an object")
                })?;
            Ok(json!({
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": schema, "strict": true},
            }))
        }
        Some(other) => Err(TranslateError::invalid(format!(
            "output_format.type: unsupported value `{other}` (expected json_schema)"
        ))),
        None => Err(TranslateError::invalid("output_format.type: required")),
    }
}

/// The hub `reasoning_effort`, checked; `none` and absent are `None`.
pub(super) fn reasoning_effort(req: &ChatRequest) -> Result<Option<&str>, TranslateError> {
    match req.reasoning_effort.as_deref() {
        None | Some("none") => Ok(None),
        Some(e @ ("minimal" | "low" | "medium" | "high" | "xhigh" | "max")) => Ok(Some(e)),
        Some(other) => Err(TranslateError::invalid(format!(
            "reasoning_effort: unsupported value `{other}` (expected none, minimal, low, medium, high or xhigh)"
        ))),
    }
}

/// Turns thinking on the way `model` takes it (adaptive with an effort, or a token budget
/// below `max_tokens`); returns whether it is on.
pub(super) fn insert_thinking(
    out: &mut Map<String, Value>,
    output_config: &mut Map<String, Value>,
    model: &str,
    effort: &str,
    explicit_max: Option<u64>,
) -> bool {
    match thinking_mode(model) {
        ThinkingMode::Adaptive => {
            out.insert("thinking".into(), json!({"type": "adaptive"}));
            output_config.insert("effort".into(), json!(effort_to_claude(effort)));
            true
        }
        ThinkingMode::Budget => {
            let max = explicit_max.unwrap_or(DEFAULT_MAX_TOKENS_THINKING);
            // budget_tokens must be at least 1024 and below max_tokens.
            if max > MIN_THINKING_BUDGET {
                let budget = effort_to_budget(effort).min(max - 1);
                out.insert(
                    "thinking".into(),
                    json!({"type": "enabled", "budget_tokens": budget}),
                );
                true
            } else {
                false
            }
        }
        ThinkingMode::Unsupported => false,
    }
}

/// Hub `response_format`: a JSON schema goes in `output_config.format`; JSON-object mode has
/// no Anthropic switch and becomes a system instruction.
pub(super) fn apply_response_format(
    req: &ChatRequest,
    output_config: &mut Map<String, Value>,
    system: &mut Vec<Value>,
) -> Result<(), TranslateError> {
    let Some(rf) = req.response_format.as_ref().filter(|rf| !rf.is_null()) else {
        return Ok(());
    };
    match str_of(rf, "type") {
        Some("json_schema") => {
            let schema = rf
                .get("json_schema")
                .and_then(|j| j.get("schema"))
                .filter(|s| s.is_object())
                .ok_or_else(|| {
                    TranslateError::invalid(
                        "response_format.json_schema.schema: required, must be an object",
                    )
                })?;
            output_config.insert(
                "format".into(),
                json!({"type": "json_schema", "schema": schema}),
            );
        }
        Some("json_object") => system.push(json!({
            "type": "text",
            "text": "Respond with a single valid JSON object and nothing else.",
        })),
        Some("text") | None => {}
        Some(other) => {
            return Err(TranslateError::invalid(format!(
                "response_format.type: unsupported value `{other}`"
            )));
        }
    }
    Ok(())
}

/// With thinking on, Anthropic requires the assistant turn whose tool calls are being answered
/// to start with a thinking block. History from elsewhere (or an unsigned replay) has none, and
/// then thinking must stay off for this request.
pub(super) fn last_tool_turn_lacks_thinking(turns: &[Turn]) -> bool {
    let mut iter = turns.iter().rev();
    let Some(last) = iter.next() else {
        return false;
    };
    if last.role != "user"
        || !last
            .blocks
            .iter()
            .any(|b| str_of(b, "type") == Some("tool_result"))
    {
        return false;
    }
    let Some(assistant) = iter.next().filter(|t| t.role == "assistant") else {
        return false;
    };
    !assistant
        .blocks
        .first()
        .is_some_and(|b| matches!(str_of(b, "type"), Some("thinking" | "redacted_thinking")))
}
