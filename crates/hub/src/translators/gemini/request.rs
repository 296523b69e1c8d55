//! Requests: Gemini `GenerateContentRequest` <-> hub chat completion request.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value, json};

use super::schema::{self, Converted};
use super::{
    ModelPartsOpts, call_id, content_texts, field, field_str, gemini_media_to_hub,
    hub_part_to_gemini, is_gemini3_plus, is_valid_name, model_parts, read_model_parts,
    sanitize_name,
};
use crate::ctx::TranslateCtx;
use crate::error::TranslateError;
use crate::format::Format;

// =======================================================================================
// Gemini -> hub

/// A Gemini client request -> hub request. The model comes from `ctx.model`.
pub fn gemini_request_to_hub(body: Value, ctx: &mut TranslateCtx) -> Result<Value, TranslateError> {
    if !body.is_object() {
        return Err(TranslateError::invalid(
            "request body must be a JSON object",
        ));
    }
    let mut hub = Map::new();
    hub.insert("model".into(), ctx.model.clone().into());
    let mut messages = Vec::new();

    if let Some(sys) = field(&body, "systemInstruction") {
        let text = system_text(sys)?;
        if !text.is_empty() {
            messages.push(json!({"role": "system", "content": text}));
        }
    }

    let contents = match field(&body, "contents") {
        Some(Value::Array(c)) => c.as_slice(),
        Some(_) => return Err(TranslateError::invalid("`contents` must be an array")),
        None => return Err(TranslateError::invalid("`contents` is required")),
    };
    // Calls of the latest model turn not yet answered: (hub id, name).
    let mut pending: Vec<(String, String)> = Vec::new();
    for (ci, content) in contents.iter().enumerate() {
        if !content.is_object() {
            return Err(TranslateError::invalid(format!(
                "contents[{ci}] must be an object"
            )));
        }
        let parts = match field(content, "parts") {
            Some(Value::Array(p)) => p.as_slice(),
            None | Some(Value::Null) => &[],
            Some(_) => {
                return Err(TranslateError::invalid(format!(
                    "contents[{ci}].parts must be an array"
                )));
            }
        };
        let role = content
            .get("role")
            .and_then(Value::as_str)
            .unwrap_or("user");
        if role == "model" || role == "assistant" {
            let seed = format!("c{ci}");
            let turn = read_model_parts(parts, &mut |n| call_id(&seed, n), &|n: &str| n.to_owned());
            pending = turn
                .tool_calls
                .iter()
                .filter_map(|c| {
                    Some((
                        c.get("id")?.as_str()?.to_owned(),
                        c.pointer("/function/name")?.as_str()?.to_owned(),
                    ))
                })
                .collect();
            if let Some(msg) = assistant_message(turn) {
                messages.push(msg);
            }
        } else {
            user_content_to_hub(ci, parts, &mut pending, &mut messages)?;
        }
    }
    hub.insert("messages".into(), Value::Array(messages));

    if let Some(tools) = field(&body, "tools") {
        let tools = tools_to_hub(tools)?;
        if !tools.is_empty() {
            hub.insert("tools".into(), Value::Array(tools));
        }
    }
    if let Some(choice) = field(&body, "toolConfig")
        .and_then(|t| field(t, "functionCallingConfig"))
        .and_then(tool_choice_to_hub)
    {
        hub.insert("tool_choice".into(), choice);
    }
    if let Some(config) = field(&body, "generationConfig") {
        generation_config_to_hub(config, &mut hub)?;
    }
    if ctx.stream {
        hub.insert("stream".into(), true.into());
        hub.insert("stream_options".into(), json!({"include_usage": true}));
    }
    Ok(Value::Object(hub))
}

fn system_text(sys: &Value) -> Result<String, TranslateError> {
    let parts = match sys {
        Value::String(s) => return Ok(s.clone()),
        Value::Object(_) => match field(sys, "parts") {
            Some(Value::Array(p)) => p.as_slice(),
            None => &[],
            Some(_) => {
                return Err(TranslateError::invalid(
                    "`systemInstruction.parts` must be an array",
                ));
            }
        },
        Value::Null => &[],
        _ => {
            return Err(TranslateError::invalid(
                "`systemInstruction` must be a Content object",
            ));
        }
    };
    let texts: Vec<&str> = parts
        .iter()
        .filter_map(|p| p.get("text").and_then(Value::as_str))
        .collect();
    Ok(texts.join("\n"))
}

fn assistant_message(turn: super::ModelTurn) -> Option<Value> {
    if turn.text.is_empty()
        && turn.reasoning.is_empty()
        && turn.tool_calls.is_empty()
        && turn.signature.is_none()
    {
        return None;
    }
    let mut msg = Map::new();
    msg.insert("role".into(), "assistant".into());
    let content = if turn.text.is_empty() && !turn.tool_calls.is_empty() {
        Value::Null
    } else {
        turn.text.into()
    };
    msg.insert("content".into(), content);
    if !turn.reasoning.is_empty() {
        msg.insert("reasoning_content".into(), turn.reasoning.into());
    }
    if let Some(sig) = turn.signature {
        msg.insert("reasoning_signature".into(), sig.into());
    }
    if !turn.tool_calls.is_empty() {
        msg.insert("tool_calls".into(), Value::Array(turn.tool_calls));
    }
    Some(Value::Object(msg))
}

fn user_content_to_hub(
    ci: usize,
    parts: &[Value],
    pending: &mut Vec<(String, String)>,
    messages: &mut Vec<Value>,
) -> Result<(), TranslateError> {
    let mut tool_messages = Vec::new();
    let mut user_parts: Vec<Value> = Vec::new();
    for (pi, part) in parts.iter().enumerate() {
        if let Some(fr) = field(part, "functionResponse") {
            let name = fr.get("name").and_then(Value::as_str).ok_or_else(|| {
                TranslateError::invalid(format!(
                    "contents[{ci}].parts[{pi}].functionResponse.name is required"
                ))
            })?;
            let wanted_id = fr.get("id").and_then(Value::as_str);
            let at = wanted_id
                .and_then(|id| pending.iter().position(|(pid, _)| pid == id))
                .or_else(|| pending.iter().position(|(_, n)| n == name));
            let output = function_output(fr.get("response"));
            match at {
                Some(at) => {
                    let (id, _) = pending.remove(at);
                    tool_messages.push(json!({
                        "role": "tool",
                        "tool_call_id": id,
                        "content": output,
                    }));
                }
                // No call to answer: keep the result as plain user text.
                None => user_parts.push(json!({
                    "type": "text",
                    "text": format!("Result of function `{name}`: {output}"),
                })),
            }
            if let Some(Value::Array(media)) = fr.get("parts") {
                user_parts.extend(media.iter().filter_map(gemini_media_to_hub));
            }
        } else if let Some(text) = part.get("text").and_then(Value::as_str) {
            user_parts.push(json!({"type": "text", "text": text}));
        } else if let Some(media) = gemini_media_to_hub(part) {
            user_parts.push(media);
        }
    }
    messages.extend(tool_messages);
    match user_parts.as_slice() {
        [] => {}
        [only] if only.get("type").and_then(Value::as_str) == Some("text") => {
            let text = only.get("text").cloned().unwrap_or_default();
            messages.push(json!({"role": "user", "content": text}));
        }
        _ => messages.push(json!({"role": "user", "content": user_parts})),
    }
    Ok(())
}

/// A `functionResponse.response` -> hub tool message text. `{"result": "<text>"}` and
/// `{"output": "<text>"}` unwrap to the text (the shape hub -> Gemini wraps text in).
fn function_output(response: Option<&Value>) -> String {
    match response {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(o)) if o.len() == 1 => match o.iter().next() {
            Some((k, Value::String(s))) if k == "result" || k == "output" => s.clone(),
            _ => Value::Object(o.clone()).to_string(),
        },
        Some(v) => v.to_string(),
    }
}

fn tools_to_hub(tools: &Value) -> Result<Vec<Value>, TranslateError> {
    let Value::Array(tools) = tools else {
        return Err(TranslateError::invalid("`tools` must be an array"));
    };
    let mut out = Vec::new();
    for (ti, tool) in tools.iter().enumerate() {
        // Built-in tools (googleSearch, codeExecution, urlContext, ...) travel as hub
        // `hosted` tools, one per key.
        for (key, v) in tool.as_object().into_iter().flatten() {
            if let Some(hosted) = crate::hosted::to_hub(Format::Gemini, &json!({ key: v })) {
                out.push(hosted);
            }
        }
        let Some(decls) = field(tool, "functionDeclarations") else {
            continue;
        };
        let Value::Array(decls) = decls else {
            return Err(TranslateError::invalid(format!(
                "tools[{ti}].functionDeclarations must be an array"
            )));
        };
        for (di, decl) in decls.iter().enumerate() {
            let name = decl.get("name").and_then(Value::as_str).ok_or_else(|| {
                TranslateError::invalid(format!(
                    "tools[{ti}].functionDeclarations[{di}].name is required"
                ))
            })?;
            let parameters = if let Some(js) = field(decl, "parametersJsonSchema") {
                js.clone()
            } else if let Some(p) = field(decl, "parameters") {
                schema::from_gemini(p)
            } else {
                json!({"type": "object", "properties": {}})
            };
            let mut function = Map::new();
            function.insert("name".into(), name.into());
            if let Some(d) = decl.get("description").and_then(Value::as_str) {
                function.insert("description".into(), d.into());
            }
            function.insert("parameters".into(), parameters);
            out.push(json!({"type": "function", "function": function}));
        }
    }
    Ok(out)
}

fn tool_choice_to_hub(config: &Value) -> Option<Value> {
    let mode = field_str(config, "mode")?.to_ascii_uppercase();
    let names: Vec<&str> = field(config, "allowedFunctionNames")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    Some(match mode.as_str() {
        "NONE" => "none".into(),
        "ANY" => match names.as_slice() {
            [] => "required".into(),
            [one] => json!({"type": "function", "function": {"name": one}}),
            many => json!({
                "type": "allowed_tools",
                "allowed_tools": {
                    "mode": "required",
                    "tools": many
                        .iter()
                        .map(|n| json!({"type": "function", "function": {"name": n}}))
                        .collect::<Vec<_>>(),
                },
            }),
        },
        "AUTO" | "VALIDATED" => "auto".into(),
        _ => return None,
    })
}

fn generation_config_to_hub(
    config: &Value,
    hub: &mut Map<String, Value>,
) -> Result<(), TranslateError> {
    if !config.is_object() {
        return Err(TranslateError::invalid(
            "`generationConfig` must be an object",
        ));
    }
    for (gemini, openai) in [
        ("temperature", "temperature"),
        ("topP", "top_p"),
        ("topK", "top_k"),
        ("maxOutputTokens", "max_tokens"),
        ("candidateCount", "n"),
        ("presencePenalty", "presence_penalty"),
        ("frequencyPenalty", "frequency_penalty"),
        ("seed", "seed"),
    ] {
        if let Some(v) = field(config, gemini).filter(|v| v.is_number()) {
            hub.insert(openai.into(), v.clone());
        }
    }
    if let Some(stop) = field(config, "stopSequences") {
        match stop {
            Value::Array(s) if !s.is_empty() => {
                hub.insert("stop".into(), stop.clone());
            }
            Value::String(_) => {
                hub.insert("stop".into(), json!([stop]));
            }
            _ => {}
        }
    }
    let mime = field_str(config, "responseMimeType").unwrap_or("");
    if mime == "application/json" {
        let schema = field(config, "responseJsonSchema")
            .cloned()
            .or_else(|| field(config, "responseSchema").map(schema::from_gemini));
        let format = match schema {
            Some(schema) => json!({
                "type": "json_schema",
                "json_schema": {"name": "response", "schema": schema},
            }),
            None => json!({"type": "json_object"}),
        };
        hub.insert("response_format".into(), format);
    }
    if let Some(effort) = field(config, "thinkingConfig").and_then(effort_from_thinking) {
        hub.insert("reasoning_effort".into(), effort.into());
    }
    Ok(())
}

/// `thinkingConfig` -> hub `reasoning_effort`. Budgets: 0 none, up to 1024 low, up to 8192
/// medium, above high; -1 (dynamic) medium. `includeThoughts` alone means medium.
fn effort_from_thinking(tc: &Value) -> Option<&'static str> {
    if let Some(level) = field_str(tc, "thinkingLevel") {
        return Some(match level.to_ascii_lowercase().as_str() {
            "minimal" => "minimal",
            "low" => "low",
            "medium" => "medium",
            "high" => "high",
            _ => return None,
        });
    }
    if let Some(budget) = field(tc, "thinkingBudget").and_then(Value::as_i64) {
        return Some(match budget {
            0 => "none",
            b if b < 0 => "medium",
            1..=1024 => "low",
            1025..=8192 => "medium",
            _ => "high",
        });
    }
    (field(tc, "includeThoughts").and_then(Value::as_bool) == Some(true)).then_some("medium")
}

// =======================================================================================
// hub -> Gemini

/// A hub request -> Gemini request body (no model: it goes in the URL).
pub fn hub_request_to_gemini(body: Value, ctx: &mut TranslateCtx) -> Result<Value, TranslateError> {
    let Some(messages) = body.get("messages") else {
        return Err(TranslateError::invalid("`messages` is required"));
    };
    let Value::Array(messages) = messages else {
        return Err(TranslateError::invalid("`messages` must be an array"));
    };
    let tools = match body.get("tools") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(t)) => t.as_slice(),
        Some(_) => return Err(TranslateError::invalid("`tools` must be an array")),
    };

    let renames = plan_renames(&body, messages, tools, &ctx.tool_names);
    for (client, provider) in &renames {
        ctx.tool_names.insert(client, provider);
    }
    let names = ctx.tool_names.clone();
    let rename = move |n: &str| names.provider_name(n).to_owned();
    let sentinel = is_gemini3_plus(&ctx.model);

    let mut out = Map::new();
    let (client, provider) = (ctx.client, ctx.provider);
    let sig = move |s: &str| crate::provenance::for_provider(s, client, provider);
    let (system_parts, contents) = messages_to_contents(messages, &rename, sentinel, &sig)?;
    out.insert("contents".into(), Value::Array(contents));
    if !system_parts.is_empty() {
        out.insert("systemInstruction".into(), json!({"parts": system_parts}));
    }

    let declarations = function_declarations(tools, &rename)?;
    let has_tools = !declarations.is_empty();
    if has_tools {
        out.insert(
            "tools".into(),
            json!([{"functionDeclarations": declarations}]),
        );
        if let Some(config) = body
            .get("tool_choice")
            .and_then(|c| tool_config(c, &rename))
        {
            out.insert(
                "toolConfig".into(),
                json!({"functionCallingConfig": config}),
            );
        }
    }

    let config = generation_config(&body, &ctx.model)?;
    if !config.is_empty() {
        out.insert("generationConfig".into(), Value::Object(config));
    }
    Ok(Value::Object(out))
}

/// Hub messages -> the `systemInstruction` parts (leading system/developer messages) and
/// the `contents` turns; later system messages become user turns.
fn messages_to_contents(
    messages: &[Value],
    rename: &dyn Fn(&str) -> String,
    sentinel: bool,
    sig: &dyn Fn(&str) -> Option<String>,
) -> Result<(Vec<Value>, Vec<Value>), TranslateError> {
    let mut system_parts: Vec<Value> = Vec::new();
    let mut contents: Vec<Value> = Vec::new();
    // hub tool call id -> client function name.
    let mut call_names: HashMap<String, String> = HashMap::new();
    let mut leading = true;

    for (mi, msg) in messages.iter().enumerate() {
        let role = msg
            .get("role")
            .and_then(Value::as_str)
            .ok_or_else(|| TranslateError::invalid(format!("messages[{mi}].role is required")))?;
        match role {
            "system" | "developer" => {
                let parts: Vec<Value> = content_texts(msg.get("content"))
                    .into_iter()
                    .map(|t| json!({"text": t}))
                    .collect();
                if leading {
                    system_parts.extend(parts);
                } else {
                    push_content(&mut contents, "user", parts);
                }
            }
            "user" => {
                leading = false;
                let parts = user_parts(msg.get("content"), mi)?;
                push_content(&mut contents, "user", parts);
            }
            "assistant" => {
                leading = false;
                if let Some(Value::Array(calls)) = msg.get("tool_calls") {
                    for call in calls {
                        if let (Some(id), Some(name)) = (
                            call.get("id").and_then(Value::as_str),
                            call.pointer("/function/name").and_then(Value::as_str),
                        ) {
                            call_names.insert(id.to_owned(), name.to_owned());
                        }
                    }
                }
                let parts = model_parts(
                    msg,
                    &ModelPartsOpts {
                        rename,
                        with_ids: false,
                        sentinel,
                        sig,
                    },
                );
                push_content(&mut contents, "model", parts);
            }
            "tool" | "function" => {
                leading = false;
                let parts = tool_message_parts(msg, mi, &call_names, rename)?;
                push_content(&mut contents, "user", parts);
            }
            other => {
                return Err(TranslateError::invalid(format!(
                    "messages[{mi}].role `{other}` is not supported"
                )));
            }
        }
    }
    Ok((system_parts, contents))
}

/// A hub tool result -> a `functionResponse` under the called function's name (from the
/// call it answers, else the message's `name`), or plain text when no name is known; media
/// in the result follow as their own parts.
fn tool_message_parts(
    msg: &Value,
    mi: usize,
    call_names: &HashMap<String, String>,
    rename: &dyn Fn(&str) -> String,
) -> Result<Vec<Value>, TranslateError> {
    let name = msg
        .get("tool_call_id")
        .and_then(Value::as_str)
        .and_then(|id| call_names.get(id))
        .map(String::as_str)
        .or_else(|| msg.get("name").and_then(Value::as_str));
    let (text, media) = tool_output(msg.get("content"), mi)?;
    let mut parts = Vec::new();
    match name {
        Some(name) => parts.push(json!({"functionResponse": {
            "name": rename(name),
            "response": response_object(&text),
        }})),
        None => {
            let id = msg
                .get("tool_call_id")
                .and_then(Value::as_str)
                .unwrap_or("");
            parts.push(json!({"text": format!("Tool result ({id}): {text}")}));
        }
    }
    parts.extend(media);
    Ok(parts)
}

/// Every function name the request uses; invalid ones get a Gemini name that collides with
/// no other name. Returns (client name, Gemini name) pairs to record.
fn plan_renames(
    body: &Value,
    messages: &[Value],
    tools: &[Value],
    existing: &crate::ctx::ToolNameMap,
) -> Vec<(String, String)> {
    let mut names: Vec<&str> = Vec::new();
    for tool in tools {
        if let Some(n) = tool.pointer("/function/name").and_then(Value::as_str) {
            names.push(n);
        }
    }
    if let Some(n) = body
        .get("tool_choice")
        .and_then(|c| c.pointer("/function/name"))
        .and_then(Value::as_str)
    {
        names.push(n);
    }
    for msg in messages {
        if let Some(Value::Array(calls)) = msg.get("tool_calls") {
            names.extend(
                calls
                    .iter()
                    .filter_map(|c| c.pointer("/function/name").and_then(Value::as_str)),
            );
        }
        if let Some(n) = msg.pointer("/function_call/name").and_then(Value::as_str) {
            names.push(n);
        }
        if matches!(
            msg.get("role").and_then(Value::as_str),
            Some("tool" | "function")
        ) && let Some(n) = msg.get("name").and_then(Value::as_str)
        {
            names.push(n);
        }
    }
    let mut taken: HashSet<String> = names
        .iter()
        .filter(|n| is_valid_name(n))
        .map(|n| (*n).to_owned())
        .collect();
    let mut done: HashSet<&str> = HashSet::new();
    let mut renames = Vec::new();
    for name in names {
        if is_valid_name(name) || !done.insert(name) {
            continue;
        }
        let already = existing.provider_name(name);
        if already != name && is_valid_name(already) {
            taken.insert(already.to_owned());
            continue;
        }
        let new = sanitize_name(name, &taken);
        taken.insert(new.clone());
        renames.push((name.to_owned(), new));
    }
    renames
}

/// Appends parts to the last content when it has the same role (Gemini wants turns to
/// alternate), else starts a new content. Empty part lists are dropped.
fn push_content(contents: &mut Vec<Value>, role: &str, parts: Vec<Value>) {
    if parts.is_empty() {
        return;
    }
    if let Some(last) = contents.last_mut()
        && last.get("role").and_then(Value::as_str) == Some(role)
        && let Some(Value::Array(existing)) = last.get_mut("parts")
    {
        existing.extend(parts);
        return;
    }
    contents.push(json!({"role": role, "parts": parts}));
}

fn user_parts(content: Option<&Value>, mi: usize) -> Result<Vec<Value>, TranslateError> {
    match content {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(if s.is_empty() {
            Vec::new()
        } else {
            vec![json!({"text": s})]
        }),
        Some(Value::Array(parts)) => Ok(parts.iter().filter_map(hub_part_to_gemini).collect()),
        Some(_) => Err(TranslateError::invalid(format!(
            "messages[{mi}].content must be a string or an array"
        ))),
    }
}

/// A hub tool message's content -> (text, extra media parts).
fn tool_output(content: Option<&Value>, mi: usize) -> Result<(String, Vec<Value>), TranslateError> {
    match content {
        None | Some(Value::Null) => Ok((String::new(), Vec::new())),
        Some(Value::String(s)) => Ok((s.clone(), Vec::new())),
        Some(Value::Array(parts)) => {
            let mut texts = Vec::new();
            let mut media = Vec::new();
            for p in parts {
                match p.get("type").and_then(Value::as_str) {
                    Some("text") | None => {
                        if let Some(t) = p.get("text").and_then(Value::as_str) {
                            texts.push(t);
                        }
                    }
                    _ => media.extend(hub_part_to_gemini(p)),
                }
            }
            Ok((texts.join("\n"), media))
        }
        Some(_) => Err(TranslateError::invalid(format!(
            "messages[{mi}].content must be a string or an array"
        ))),
    }
}

/// Tool output text -> `functionResponse.response`, which must be an object: JSON object text
/// is sent as that object, anything else as `{"result": <text>}`.
fn response_object(text: &str) -> Value {
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => v,
        _ => json!({"result": text}),
    }
}

fn function_declarations(
    tools: &[Value],
    rename: &dyn Fn(&str) -> String,
) -> Result<Vec<Value>, TranslateError> {
    let mut out = Vec::new();
    for (ti, tool) in tools.iter().enumerate() {
        if tool
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("function")
            != "function"
        {
            continue;
        }
        let function = tool
            .get("function")
            .ok_or_else(|| TranslateError::invalid(format!("tools[{ti}].function is required")))?;
        let name = function
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                TranslateError::invalid(format!("tools[{ti}].function.name is required"))
            })?;
        let mut decl = Map::new();
        decl.insert("name".into(), rename(name).into());
        if let Some(d) = function.get("description").and_then(Value::as_str) {
            decl.insert("description".into(), d.into());
        }
        let params = function.get("parameters").unwrap_or(&Value::Null);
        if !schema::is_empty_object(params) {
            match schema::to_gemini(params) {
                Converted::Subset(s) => decl.insert("parameters".into(), s),
                Converted::JsonSchema(s) => decl.insert("parametersJsonSchema".into(), s),
            };
        }
        out.push(Value::Object(decl));
    }
    Ok(out)
}

fn tool_config(choice: &Value, rename: &dyn Fn(&str) -> String) -> Option<Value> {
    match choice {
        Value::String(s) => Some(match s.as_str() {
            "none" => json!({"mode": "NONE"}),
            "required" | "any" => json!({"mode": "ANY"}),
            "auto" => json!({"mode": "AUTO"}),
            _ => return None,
        }),
        Value::Object(_) => {
            if let Some(name) = choice.pointer("/function/name").and_then(Value::as_str) {
                return Some(json!({"mode": "ANY", "allowedFunctionNames": [rename(name)]}));
            }
            let allowed = choice.get("allowed_tools")?;
            let names: Vec<String> = allowed
                .get("tools")
                .and_then(Value::as_array)
                .map(|t| {
                    t.iter()
                        .filter_map(|t| t.pointer("/function/name").and_then(Value::as_str))
                        .map(rename)
                        .collect()
                })
                .unwrap_or_default();
            match allowed.get("mode").and_then(Value::as_str) {
                Some("required") if !names.is_empty() => {
                    Some(json!({"mode": "ANY", "allowedFunctionNames": names}))
                }
                Some("required") => Some(json!({"mode": "ANY"})),
                _ => Some(json!({"mode": "AUTO"})),
            }
        }
        _ => None,
    }
}

fn generation_config(body: &Value, model: &str) -> Result<Map<String, Value>, TranslateError> {
    let mut config = Map::new();
    for (openai, gemini) in [
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("top_k", "topK"),
        ("n", "candidateCount"),
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
        ("seed", "seed"),
    ] {
        if let Some(v) = body.get(openai).filter(|v| v.is_number()) {
            config.insert(gemini.into(), v.clone());
        }
    }
    if let Some(v) = body
        .get("max_completion_tokens")
        .or_else(|| body.get("max_tokens"))
        .filter(|v| v.is_u64())
    {
        config.insert("maxOutputTokens".into(), v.clone());
    }
    match body.get("stop") {
        Some(Value::String(s)) => {
            config.insert("stopSequences".into(), json!([s]));
        }
        Some(Value::Array(s)) if !s.is_empty() => {
            config.insert("stopSequences".into(), Value::Array(s.clone()));
        }
        _ => {}
    }
    if let Some(format) = body.get("response_format") {
        match format.get("type").and_then(Value::as_str) {
            Some("json_object") => {
                config.insert("responseMimeType".into(), "application/json".into());
            }
            Some("json_schema") => {
                config.insert("responseMimeType".into(), "application/json".into());
                let schema = format
                    .pointer("/json_schema/schema")
                    .filter(|s| s.is_object())
                    .ok_or_else(|| {
                        TranslateError::invalid(
                            "`response_format.json_schema.schema` must be an object",
                        )
                    })?;
                match schema::to_gemini(schema) {
                    Converted::Subset(s) => config.insert("responseSchema".into(), s),
                    Converted::JsonSchema(s) => config.insert("responseJsonSchema".into(), s),
                };
            }
            _ => {}
        }
    }
    if let Some(effort) = body.get("reasoning_effort").and_then(Value::as_str)
        && let Some(tc) = thinking_config(effort, model)
    {
        config.insert("thinkingConfig".into(), tc);
    }
    Ok(config)
}

/// Hub `reasoning_effort` -> `thinkingConfig`: `thinkingLevel` for Gemini 3+ (flash models
/// take minimal/low/medium/high, others low/high), else `thinkingBudget` none 0 (128 on
/// pro models, which cannot turn thinking off), minimal 512, low 1024, medium 8192,
/// high 24576, xhigh 32768.
fn thinking_config(effort: &str, model: &str) -> Option<Value> {
    let effort = effort.to_ascii_lowercase();
    let off = effort == "none";
    let is_flash = model.contains("flash");
    if is_gemini3_plus(model) {
        let level = match (effort.as_str(), is_flash) {
            ("none" | "minimal", true) => "minimal",
            ("low", _) | ("none" | "minimal", false) => "low",
            ("medium", true) => "medium",
            ("medium" | "high" | "xhigh", _) => "high",
            _ => return None,
        };
        return Some(json!({"thinkingLevel": level, "includeThoughts": !off}));
    }
    let budget = match effort.as_str() {
        "none" if model.contains("pro") => 128,
        "none" => 0,
        "minimal" => 512,
        "low" => 1024,
        "medium" => 8192,
        "high" => 24576,
        "xhigh" => 32768,
        _ => return None,
    };
    Some(json!({"thinkingBudget": budget, "includeThoughts": !off}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::Format;

    fn ctx(model: &str) -> TranslateCtx {
        TranslateCtx::new(Format::OpenAi, Format::Gemini, model, false)
    }

    #[test]
    fn hub_text_conversation_to_gemini() {
        let hub = json!({
            "model": "gemini-2.5-flash",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": [{"type": "text", "text": "No emojis.", "cache_control": {"type": "ephemeral"}}]},
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "hello"},
                {"role": "user", "content": "again"},
                {"role": "system", "content": "mid-conversation note"}
            ],
            "temperature": 0.2, "top_p": 0.9, "max_tokens": 100, "stop": "END", "stream": true
        });
        let mut c = ctx("gemini-2.5-flash");
        let out = hub_request_to_gemini(hub, &mut c).unwrap();
        assert_eq!(
            out,
            json!({
                "contents": [
                    {"role": "user", "parts": [{"text": "hi"}]},
                    {"role": "model", "parts": [{"text": "hello"}]},
                    {"role": "user", "parts": [{"text": "again"}, {"text": "mid-conversation note"}]}
                ],
                "systemInstruction": {"parts": [{"text": "Be brief."}, {"text": "No emojis."}]},
                "generationConfig": {"temperature": 0.2, "topP": 0.9, "maxOutputTokens": 100, "stopSequences": ["END"]}
            })
        );
        assert!(c.tool_names.is_empty());
    }

    #[test]
    fn tool_round_trip_and_renames() {
        let long = format!("mcp__server__{}", "x".repeat(70));
        let hub = json!({
            "messages": [
                {"role": "user", "content": "read it"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "toolu_1", "type": "function", "function": {"name": "Read File", "arguments": "{\"path\":\"a\"}"}},
                    {"id": "toolu_2", "type": "function", "function": {"name": long, "arguments": ""}}
                ]},
                {"role": "tool", "tool_call_id": "toolu_1", "content": "file text"},
                {"role": "tool", "tool_call_id": "toolu_2", "content": "{\"ok\":true}"}
            ],
            "tools": [
                {"type": "function", "function": {"name": "Read File", "description": "d", "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"], "additionalProperties": false}}},
                {"type": "function", "function": {"name": long, "parameters": {"type": "object", "properties": {}}}},
                {"type": "function", "function": {"name": "Read_File", "parameters": {"type": "object"}}}
            ],
            "tool_choice": {"type": "function", "function": {"name": "Read File"}}
        });
        let mut c = ctx("gemini-2.5-pro");
        let out = hub_request_to_gemini(hub, &mut c).unwrap();
        let read = c.tool_names.provider_name("Read File").to_owned();
        let long_name = c.tool_names.provider_name(&long).to_owned();
        // "Read_File" is taken by a real tool, so "Read File" gets a hashed name.
        assert!(read.starts_with("Read_File_") && read.len() == "Read_File_".len() + 8);
        assert!(long_name.len() == 64 && is_valid_name(&long_name));
        assert_eq!(c.tool_names.client_name(&read), "Read File");
        assert_eq!(c.tool_names.client_name(&long_name), long);
        assert_eq!(
            out["contents"][1],
            json!({"role": "model", "parts": [
                {"functionCall": {"name": read, "args": {"path": "a"}}},
                {"functionCall": {"name": long_name, "args": {}}}
            ]})
        );
        assert_eq!(
            out["contents"][2],
            json!({"role": "user", "parts": [
                {"functionResponse": {"name": read, "response": {"result": "file text"}}},
                {"functionResponse": {"name": long_name, "response": {"ok": true}}}
            ]})
        );
        let decls = &out["tools"][0]["functionDeclarations"];
        assert_eq!(
            decls[0],
            json!({"name": read, "description": "d", "parameters": {
                "type": "OBJECT", "properties": {"path": {"type": "STRING"}}, "required": ["path"]
            }})
        );
        assert_eq!(decls[1], json!({"name": long_name}));
        assert_eq!(decls[2], json!({"name": "Read_File"}));
        assert_eq!(
            out["toolConfig"],
            json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [read]}})
        );
    }

    #[test]
    fn signatures_are_replayed_and_gemini3_gets_the_sentinel() {
        let hub = json!({"messages": [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": "ok", "reasoning_content": "thinking", "reasoning_signature": "SIG",
             "tool_calls": [{"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "a", "content": "1"},
            {"role": "assistant", "content": null,
             "tool_calls": [{"id": "b", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "b", "content": "2"}
        ], "reasoning_effort": "high"});
        let mut c = ctx("gemini-3-pro-preview");
        let out = hub_request_to_gemini(hub, &mut c).unwrap();
        assert_eq!(
            out["contents"][1]["parts"],
            json!([
                {"text": "thinking", "thought": true},
                {"text": "ok"},
                {"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "c3dpdGNoeWFyZC1zaWc6U0lH"}
            ])
        );
        assert_eq!(
            out["contents"][3]["parts"][0]["thoughtSignature"],
            "skip_thought_signature_validator"
        );
        assert_eq!(
            out["generationConfig"]["thinkingConfig"],
            json!({"thinkingLevel": "high", "includeThoughts": true})
        );
    }

    #[test]
    fn multimodal_user_parts() {
        let hub = json!({"messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is this"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg?x=1"}},
            {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"}},
            {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}
        ]}]});
        let out = hub_request_to_gemini(hub, &mut ctx("gemini-2.5-flash")).unwrap();
        assert_eq!(
            out["contents"][0]["parts"],
            json!([
                {"text": "what is this"},
                {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
                {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/cat.jpg?x=1"}},
                {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}},
                {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}}
            ])
        );
    }

    #[test]
    fn structured_output_and_thinking_budget() {
        let hub = json!({"messages": [{"role": "user", "content": "x"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "r", "schema": {
                "type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"], "additionalProperties": false}}},
            "reasoning_effort": "low", "n": 2, "max_completion_tokens": 50});
        let out = hub_request_to_gemini(hub, &mut ctx("gemini-2.5-flash")).unwrap();
        assert_eq!(
            out["generationConfig"],
            json!({
                "candidateCount": 2,
                "maxOutputTokens": 50,
                "responseMimeType": "application/json",
                "responseSchema": {"type": "OBJECT", "properties": {"a": {"type": "INTEGER"}}, "required": ["a"]},
                "thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": true}
            })
        );
        let hub = json!({"messages": [], "response_format": {"type": "json_object"}, "reasoning_effort": "none"});
        let out = hub_request_to_gemini(hub, &mut ctx("gemini-2.5-flash")).unwrap();
        assert_eq!(
            out["generationConfig"],
            json!({"responseMimeType": "application/json", "thinkingConfig": {"thinkingBudget": 0, "includeThoughts": false}})
        );
    }

    #[test]
    fn hub_request_errors_name_the_field() {
        let e = hub_request_to_gemini(json!({}), &mut ctx("m")).unwrap_err();
        assert_eq!(
            e,
            TranslateError::InvalidRequest("`messages` is required".into())
        );
        let e = hub_request_to_gemini(json!({"messages": [{"content": "x"}]}), &mut ctx("m"))
            .unwrap_err();
        assert_eq!(
            e,
            TranslateError::InvalidRequest("messages[0].role is required".into())
        );
    }

    #[test]
    fn gemini_request_with_snake_case_and_tools() {
        let body = json!({
            "system_instruction": {"parts": [{"text": "sys"}]},
            "contents": [
                {"role": "user", "parts": [{"text": "weather?"}]},
                {"role": "model", "parts": [
                    {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "S1"},
                    {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}}
                ]},
                {"role": "user", "parts": [
                    {"functionResponse": {"name": "get_weather", "response": {"result": "sunny"}}},
                    {"functionResponse": {"name": "get_weather", "response": {"temp": 20}}}
                ]}
            ],
            "tools": [{"functionDeclarations": [
                {"name": "get_weather", "description": "w", "parameters_json_schema": {"type": "object", "properties": {"city": {"type": "string"}}}},
                {"name": "g2", "parameters": {"type": "OBJECT", "properties": {"n": {"type": "INTEGER", "nullable": true}}}}
            ]}, {"googleSearch": {}}],
            "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}},
            "generation_config": {"temperature": 1, "max_output_tokens": 64, "stop_sequences": ["x"],
                "thinking_config": {"thinking_budget": 2048, "include_thoughts": true},
                "response_mime_type": "application/json"}
        });
        let mut c = TranslateCtx::new(Format::Gemini, Format::Claude, "claude-x", true);
        let hub = gemini_request_to_hub(body, &mut c).unwrap();
        assert_eq!(
            hub,
            json!({
                "model": "claude-x",
                "messages": [
                    {"role": "system", "content": "sys"},
                    {"role": "user", "content": "weather?"},
                    {"role": "assistant", "content": null, "reasoning_signature": "S1", "tool_calls": [
                        {"id": "call_c1_0", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
                         "extra_content": {"google": {"thought_signature": "S1"}}},
                        {"id": "call_c1_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}}
                    ]},
                    {"role": "tool", "tool_call_id": "call_c1_0", "content": "sunny"},
                    {"role": "tool", "tool_call_id": "call_c1_1", "content": "{\"temp\":20}"}
                ],
                "tools": [
                    {"type": "function", "function": {"name": "get_weather", "description": "w", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}},
                    {"type": "function", "function": {"name": "g2", "parameters": {"type": "object", "properties": {"n": {"type": ["integer", "null"]}}}}},
                    {"type": "hosted", "hosted": {"kind": "web_search", "from": "gemini", "tool": {"googleSearch": {}}}}
                ],
                "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
                "temperature": 1, "max_tokens": 64, "stop": ["x"],
                "response_format": {"type": "json_object"},
                "reasoning_effort": "medium",
                "stream": true, "stream_options": {"include_usage": true}
            })
        );
    }

    #[test]
    fn gemini_request_multimodal_and_thoughts() {
        let body = json!({"contents": [
            {"parts": [
                {"text": "look"},
                {"inlineData": {"mimeType": "image/jpeg", "data": "/9j/"}},
                {"fileData": {"mimeType": "application/pdf", "fileUri": "https://generativelanguage.googleapis.com/v1beta/files/abc"}},
                {"file_data": {"file_uri": "https://example.com/x.png"}}
            ]},
            {"role": "model", "parts": [
                {"text": "hmm", "thought": true, "thoughtSignature": "T"},
                {"text": "A cat."}
            ]},
            {"role": "user", "parts": [{"functionResponse": {"name": "orphan", "response": {"x": 1}}}]}
        ]});
        let hub = gemini_request_to_hub(body, &mut ctx("m")).unwrap();
        assert_eq!(
            hub["messages"],
            json!([
                {"role": "user", "content": [
                    {"type": "text", "text": "look"},
                    {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/"}},
                    {"type": "file", "file": {"file_url": "https://generativelanguage.googleapis.com/v1beta/files/abc", "mime_type": "application/pdf"}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/x.png"}}
                ]},
                {"role": "assistant", "content": "A cat.", "reasoning_content": "hmm", "reasoning_signature": "T"},
                {"role": "user", "content": "Result of function `orphan`: {\"x\":1}"}
            ])
        );
    }

    #[test]
    fn gemini_request_errors_name_the_field() {
        let e = gemini_request_to_hub(json!({}), &mut ctx("m")).unwrap_err();
        assert_eq!(
            e,
            TranslateError::InvalidRequest("`contents` is required".into())
        );
        let e = gemini_request_to_hub(json!({"contents": [{"parts": "x"}]}), &mut ctx("m"))
            .unwrap_err();
        assert_eq!(
            e,
            TranslateError::InvalidRequest("contents[0].parts must be an array".into())
        );
    }

    #[test]
    fn tool_choice_modes() {
        let r = |c: Value| tool_config(&c, &|n: &str| n.to_owned());
        assert_eq!(r(json!("none")), Some(json!({"mode": "NONE"})));
        assert_eq!(r(json!("required")), Some(json!({"mode": "ANY"})));
        assert_eq!(r(json!("auto")), Some(json!({"mode": "AUTO"})));
        assert_eq!(
            r(
                json!({"type": "allowed_tools", "allowed_tools": {"mode": "required", "tools": [{"type": "function", "function": {"name": "a"}}]}})
            ),
            Some(json!({"mode": "ANY", "allowedFunctionNames": ["a"]}))
        );
        assert_eq!(
            tool_choice_to_hub(&json!({"mode": "ANY", "allowedFunctionNames": ["a", "b"]})),
            Some(
                json!({"type": "allowed_tools", "allowed_tools": {"mode": "required", "tools": [
                {"type": "function", "function": {"name": "a"}}, {"type": "function", "function": {"name": "b"}}]}})
            )
        );
        assert_eq!(
            tool_choice_to_hub(&json!({"mode": "NONE"})),
            Some(json!("none"))
        );
    }
}
