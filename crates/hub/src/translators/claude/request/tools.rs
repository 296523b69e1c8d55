//! Tools and tool choice both ways, and the names and ids Anthropic accepts.

use serde_json::{Map, Value, json};

use super::{cache_control_to_extra, copy_cache_control, required, required_str};
use crate::chat::{ChatRequest, FunctionCall, FunctionDef, NamedToolChoice, Tool, ToolChoice};
use crate::ctx::TranslateCtx;
use crate::error::TranslateError;
use crate::format::Format;
use crate::translators::claude::{fnv1a, str_of};

fn bash_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "command": {"type": "string", "description": "The bash command to run."},
            "restart": {"type": "boolean", "description": "Restart the bash session."}
        }
    })
}

fn text_editor_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "command": {"type": "string", "enum": ["view", "create", "str_replace", "insert", "undo_edit"]},
            "path": {"type": "string"},
            "file_text": {"type": "string"},
            "old_str": {"type": "string"},
            "new_str": {"type": "string"},
            "insert_line": {"type": "integer"},
            "insert_text": {"type": "string"},
            "view_range": {"type": "array", "items": {"type": "integer"}}
        },
        "required": ["command", "path"]
    })
}

/// Client tools become hub function tools. Anthropic's versioned client tools with a fixed
/// schema (bash, text editor) become functions with that schema; server tools (web search,
/// web fetch, code execution) travel as hub `hosted` tools (`crate::hosted`); others (tool
/// search, memory, ...) are left out.
pub(super) fn tools_to_hub(tools: &Value) -> Result<Vec<Tool>, TranslateError> {
    let Value::Array(tools) = tools else {
        return Err(TranslateError::invalid("tools: must be an array"));
    };
    let mut out = Vec::with_capacity(tools.len());
    for (i, t) in tools.iter().enumerate() {
        let path = format!("tools[{i}]");
        if !t.is_object() {
            return Err(TranslateError::invalid(format!(
                "{path}: must be an object"
            )));
        }
        if let Some(tool) = tool_to_hub(t, &path)? {
            out.push(tool);
        }
    }
    Ok(out)
}

fn tool_to_hub(t: &Value, path: &str) -> Result<Option<Tool>, TranslateError> {
    let (name, description, parameters) = match str_of(t, "type") {
        None | Some("custom") => {
            let name = required_str(t, "name", path)?;
            let schema = match t.get("input_schema") {
                Some(s @ Value::Object(_)) => s.clone(),
                None | Some(Value::Null) => json!({"type": "object", "properties": {}}),
                Some(_) => {
                    return Err(TranslateError::invalid(format!(
                        "{path}.input_schema: must be an object"
                    )));
                }
            };
            (name, str_of(t, "description").map(str::to_owned), schema)
        }
        Some(ty) if ty.starts_with("bash_") => (
            str_of(t, "name").unwrap_or("bash"),
            Some("Run a command in a persistent bash shell session.".to_owned()),
            bash_schema(),
        ),
        Some(ty) if ty.starts_with("text_editor_") => (
            str_of(t, "name").unwrap_or("str_replace_based_edit_tool"),
            Some(
                "View, create and edit text files. Commands: view, create, str_replace, insert, undo_edit."
                    .to_owned(),
            ),
            text_editor_schema(),
        ),
        Some(_) => return crate::hosted::to_hub(Format::Claude, t).map(hosted_tool).transpose(),
    };
    if name.is_empty() {
        return Err(TranslateError::invalid(format!(
            "{path}.name: must not be empty"
        )));
    }
    let function = FunctionDef {
        description,
        name: name.to_owned(),
        parameters: Some(Some(parameters)),
        strict: (t.get("strict").and_then(Value::as_bool) == Some(true)).then_some(true),
        extra: Map::new(),
    };
    Ok(Some(Tool {
        function: Some(function),
        kind: "function".to_owned(),
        extra: cache_control_to_extra(t),
    }))
}

/// A hosted tool's hub form as a typed tool.
fn hosted_tool(v: Value) -> Result<Tool, TranslateError> {
    serde_json::from_value(v).map_err(|e| TranslateError::invalid(format!("tools: {e}")))
}

pub(super) fn tool_choice_to_hub(tc: &Value) -> Result<(ToolChoice, Option<bool>), TranslateError> {
    if !tc.is_object() {
        return Err(TranslateError::invalid("tool_choice: must be an object"));
    }
    let mode = |m: &str| ToolChoice::Mode(m.to_owned());
    let choice = match str_of(tc, "type") {
        Some("auto") => mode("auto"),
        Some("any") => mode("required"),
        Some("none") => mode("none"),
        Some("tool") => {
            let name = required_str(tc, "name", "tool_choice")?;
            ToolChoice::Named(NamedToolChoice {
                function: Some(FunctionCall {
                    name: Some(name.to_owned()),
                    ..FunctionCall::default()
                }),
                kind: Some("function".to_owned()),
                extra: Map::new(),
            })
        }
        Some(other) => {
            return Err(TranslateError::invalid(format!(
                "tool_choice.type: unsupported value `{other}` (expected auto, any, tool or none)"
            )));
        }
        None => return Err(TranslateError::invalid("tool_choice.type: required")),
    };
    let parallel = match tc.get("disable_parallel_tool_use") {
        Some(Value::Bool(true)) => Some(false),
        _ => None,
    };
    Ok((choice, parallel))
}

/// Inserts `tools` and the matching `tool_choice`; returns whether a tool is forced.
pub(super) fn insert_tools_to_claude(
    out: &mut Map<String, Value>,
    req: &ChatRequest,
    tools: Vec<Value>,
    ctx: &mut TranslateCtx,
) -> Result<bool, TranslateError> {
    if tools.is_empty() {
        return Ok(false);
    }
    let mut forced_tool = false;
    let parallel = req.parallel_tool_calls;
    if let Some(mut choice) = hub_tool_choice(req.tool_choice.as_ref(), ctx)? {
        forced_tool = matches!(str_of(&choice, "type"), Some("any" | "tool"));
        if parallel == Some(false)
            && let Some(obj) = choice.as_object_mut()
            && obj.get("type").and_then(Value::as_str) != Some("none")
        {
            obj.insert("disable_parallel_tool_use".into(), Value::Bool(true));
        }
        out.insert("tool_choice".into(), choice);
    } else if parallel == Some(false) {
        out.insert(
            "tool_choice".into(),
            json!({"type": "auto", "disable_parallel_tool_use": true}),
        );
    }
    out.insert("tools".into(), Value::Array(tools));
    Ok(forced_tool)
}

pub(super) fn hub_tools_to_claude(
    tools: &[Tool],
    ctx: &mut TranslateCtx,
) -> Result<Vec<Value>, TranslateError> {
    let mut out = Vec::with_capacity(tools.len());
    for (i, t) in tools.iter().enumerate() {
        let path = format!("tools[{i}]");
        if t.kind != "function" {
            return Err(TranslateError::invalid(format!(
                "{path}.type: `{}` tools cannot be sent to this provider; only function tools are supported",
                t.kind
            )));
        }
        let f = t.function.as_ref().ok_or_else(|| {
            TranslateError::invalid(format!("{path}.function: required, must be an object"))
        })?;
        let mut schema = match crate::chat::set(&f.parameters) {
            Some(s @ Value::Object(_)) => s.clone(),
            None => json!({"type": "object", "properties": {}}),
            Some(_) => {
                return Err(TranslateError::invalid(format!(
                    "{path}.function.parameters: must be an object"
                )));
            }
        };
        if let Some(obj) = schema.as_object_mut()
            && !obj.contains_key("type")
        {
            obj.insert("type".into(), json!("object"));
        }
        let mut tool = Map::new();
        tool.insert("name".into(), Value::String(claude_tool_name(&f.name, ctx)));
        if let Some(d) = f.description.as_deref().filter(|d| !d.is_empty()) {
            tool.insert("description".into(), json!(d));
        }
        tool.insert("input_schema".into(), schema);
        copy_cache_control(&t.extra, &mut tool);
        out.push(Value::Object(tool));
    }
    Ok(out)
}

fn hub_tool_choice(
    choice: Option<&ToolChoice>,
    ctx: &mut TranslateCtx,
) -> Result<Option<Value>, TranslateError> {
    match choice {
        None => Ok(None),
        Some(ToolChoice::Mode(s)) => match s.as_str() {
            "auto" => Ok(Some(json!({"type": "auto"}))),
            "required" => Ok(Some(json!({"type": "any"}))),
            "none" => Ok(Some(json!({"type": "none"}))),
            other => Err(TranslateError::invalid(format!(
                "tool_choice: unsupported value `{other}` (expected auto, required or none)"
            ))),
        },
        Some(ToolChoice::Named(named)) => {
            let name = required(
                named.function.as_ref().and_then(|f| f.name.as_deref()),
                "tool_choice.function.name",
            )?;
            Ok(Some(
                json!({"type": "tool", "name": claude_tool_name(name, ctx)}),
            ))
        }
    }
}

fn is_valid_claude_name(name: &str, max: usize) -> bool {
    !name.is_empty()
        && name.len() <= max
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn sanitize_claude_name(name: &str, max: usize) -> String {
    let mut clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let suffix = format!("_{:08x}", fnv1a(name.as_bytes()) & 0xffff_ffff);
    if clean.is_empty() || clean.len() + suffix.len() > max {
        clean.truncate(max.saturating_sub(suffix.len()));
    }
    clean.push_str(&suffix);
    clean
}

/// The name a tool goes upstream under: Anthropic requires `^[a-zA-Z0-9_-]{1,128}$`. Renames
/// are recorded so the response side restores the client's exact name.
pub(super) fn claude_tool_name(name: &str, ctx: &mut TranslateCtx) -> String {
    let mapped = ctx.tool_names.provider_name(name);
    if mapped != name || is_valid_claude_name(name, 128) {
        return mapped.to_owned();
    }
    let clean = sanitize_claude_name(name, 128);
    ctx.tool_names.insert(name, &clean);
    clean
}

/// Anthropic tool-use ids must match `^[a-zA-Z0-9_-]+$`; ids minted by other providers may not.
/// The rewrite is deterministic, so a `tool_use` and its `tool_result` keep matching.
pub(super) fn claude_tool_id(id: &str) -> String {
    if is_valid_claude_name(id, usize::MAX) {
        id.to_owned()
    } else {
        sanitize_claude_name(id, usize::MAX)
    }
}
