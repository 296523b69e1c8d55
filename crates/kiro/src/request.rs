//! Hub (OpenAI chat) request -> Kiro `generateAssistantResponse` body.
//!
//! Kiro answers "Improperly formed request" to anything outside a narrow shape, and says
//! no more than that. So the translation produces exactly that shape and refuses, with a
//! message naming the problem, what it cannot shape:
//!
//! - `history` then `currentMessage`, strictly alternating user / assistant, starting with a
//!   user turn and ending (the current message) with one. System, developer and tool
//!   messages are user turns; consecutive turns of one role merge; empty ones get a
//!   placeholder.
//! - Tools travel only on the current message, each with a description and an
//!   `inputSchema.json` object that has `type`, `properties` and `required`.
//! - Every `toolResults` entry answers a `toolUses` entry of the assistant turn just before
//!   it, and every tool use is answered. Without tools in the request, past tool calls and
//!   results are carried as text.
//! - Images are base64 (`png`, `jpeg`, `gif`, `webp`); image URLs become text.
//!
//! `modelId`, `origin` and `profileArn` are set again by the executor, which knows the
//! provider's model map and the account.

use base64::Engine;
use serde_json::{Map, Value, json};
use switchyard_hub::{TranslateCtx, TranslateError};

/// Kiro's own default origin: the quota of the Kiro IDE.
pub const DEFAULT_ORIGIN: &str = "AI_EDITOR";
/// Text of a user turn that carries nothing else.
pub const EMPTY_USER: &str = "continue";
/// Text of a user turn that carries only tool results.
pub const TOOL_RESULTS_ONLY: &str = "Tool results provided.";
/// Text of an assistant turn that carries nothing else.
pub const EMPTY_ASSISTANT: &str = "...";
/// Kiro refuses longer tool descriptions.
pub const MAX_TOOL_DESCRIPTION: usize = 10_240;

const IMAGE_FORMATS: [&str; 4] = ["png", "jpeg", "gif", "webp"];

#[derive(Debug)]
enum Turn {
    User {
        text: Vec<String>,
        images: Vec<Value>,
        results: Vec<Value>,
    },
    Assistant {
        text: Vec<String>,
        uses: Vec<Value>,
    },
}

impl Turn {
    fn user() -> Turn {
        Turn::User {
            text: Vec::new(),
            images: Vec::new(),
            results: Vec::new(),
        }
    }

    fn assistant() -> Turn {
        Turn::Assistant {
            text: Vec::new(),
            uses: Vec::new(),
        }
    }
}

/// The turn to add to: the last one if it has the wanted role, else a new one (so `Some`).
fn turn_for(turns: &mut Vec<Turn>, user: bool) -> Option<&mut Turn> {
    let same = matches!(
        (turns.last(), user),
        (Some(Turn::User { .. }), true) | (Some(Turn::Assistant { .. }), false)
    );
    if !same {
        turns.push(if user {
            Turn::user()
        } else {
            Turn::assistant()
        });
    }
    turns.last_mut()
}

/// The text of a `content` that may be a string or an array of parts; images are collected
/// into `images` when given, refused otherwise.
fn read_content(
    content: Option<&Value>,
    at: &str,
    mut images: Option<&mut Vec<Value>>,
) -> Result<Vec<String>, TranslateError> {
    let mut text = Vec::new();
    match content {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => text.push(s.clone()),
        Some(Value::Array(parts)) => {
            for (i, part) in parts.iter().enumerate() {
                let kind = part.get("type").and_then(Value::as_str).unwrap_or("");
                match kind {
                    "text" | "refusal" => {
                        let t = part.get(kind).and_then(Value::as_str).ok_or_else(|| {
                            TranslateError::invalid(format!(
                                "{at}.content[{i}].{kind} must be a string"
                            ))
                        })?;
                        text.push(t.to_owned());
                    }
                    "image_url" => {
                        let url = part
                            .pointer("/image_url/url")
                            .or_else(|| part.get("image_url"))
                            .and_then(Value::as_str)
                            .ok_or_else(|| {
                                TranslateError::invalid(format!(
                                    "{at}.content[{i}].image_url.url must be a string"
                                ))
                            })?;
                        match images.as_deref_mut() {
                            Some(list) => match image(url, &format!("{at}.content[{i}]"))? {
                                Some(img) => list.push(img),
                                None => text.push(format!("[Image: {url}]")),
                            },
                            None => {
                                return Err(TranslateError::invalid(format!(
                                    "{at}.content[{i}]: Kiro accepts images only in user messages"
                                )));
                            }
                        }
                    }
                    other => {
                        return Err(TranslateError::invalid(format!(
                            "{at}.content[{i}]: Kiro does not accept `{other}` content parts (only text and images)"
                        )));
                    }
                }
            }
        }
        Some(_) => {
            return Err(TranslateError::invalid(format!(
                "{at}.content must be a string or an array"
            )));
        }
    }
    Ok(text)
}

/// A base64 data URL as a Kiro image; `None` for a remote URL, which Kiro cannot fetch.
fn image(url: &str, at: &str) -> Result<Option<Value>, TranslateError> {
    let Some(rest) = url.strip_prefix("data:") else {
        if url.starts_with("http://") || url.starts_with("https://") {
            return Ok(None);
        }
        return Err(TranslateError::invalid(format!(
            "{at}: image url must be a data: or http(s): URL"
        )));
    };
    let Some((meta, data)) = rest.split_once(',') else {
        return Err(TranslateError::invalid(format!("{at}: malformed data URL")));
    };
    let Some(mime) = meta.strip_suffix(";base64") else {
        return Err(TranslateError::invalid(format!(
            "{at}: image data URLs must be base64"
        )));
    };
    let sub = mime.strip_prefix("image/").unwrap_or("");
    let format = if sub == "jpg" { "jpeg" } else { sub };
    if !IMAGE_FORMATS.contains(&format) {
        return Err(TranslateError::invalid(format!(
            "{at}: Kiro accepts png, jpeg, gif and webp images, not `{mime}`"
        )));
    }
    if base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .is_err()
    {
        return Err(TranslateError::invalid(format!(
            "{at}: image data is not valid base64"
        )));
    }
    Ok(Some(
        json!({"format": format, "source": {"bytes": data.trim()}}),
    ))
}

/// Tool definitions as Kiro `toolSpecification`s.
fn tools(hub: &Map<String, Value>) -> Result<Vec<Value>, TranslateError> {
    if hub.get("tool_choice").and_then(Value::as_str) == Some("none") {
        return Ok(Vec::new());
    }
    let Some(list) = hub.get("tools").filter(|t| !t.is_null()) else {
        return Ok(Vec::new());
    };
    let list = list
        .as_array()
        .ok_or_else(|| TranslateError::invalid("`tools` must be an array"))?;
    let mut out = Vec::new();
    let mut names = std::collections::HashSet::new();
    for (i, tool) in list.iter().enumerate() {
        let kind = tool
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("function");
        if kind != "function" {
            return Err(TranslateError::invalid(format!(
                "tools[{i}]: Kiro supports only function tools, not `{kind}`"
            )));
        }
        let f = tool
            .get("function")
            .ok_or_else(|| TranslateError::invalid(format!("tools[{i}].function is missing")))?;
        let name = f
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| {
                TranslateError::invalid(format!(
                    "tools[{i}].function.name must be a non-empty string"
                ))
            })?;
        if !names.insert(name) {
            return Err(TranslateError::invalid(format!(
                "tools[{i}]: tool `{name}` is declared twice"
            )));
        }
        let mut description = f
            .get("description")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map_or_else(|| format!("Tool: {name}"), str::to_owned);
        if description.len() > MAX_TOOL_DESCRIPTION {
            let mut cut = MAX_TOOL_DESCRIPTION;
            while !description.is_char_boundary(cut) {
                cut -= 1;
            }
            description.truncate(cut);
        }
        let schema = normalise_schema(f.get("parameters"), i)?;
        out.push(json!({"toolSpecification": {
            "name": name,
            "description": description,
            "inputSchema": {"json": schema},
        }}));
    }
    Ok(out)
}

/// A tool's parameters as Kiro accepts them: an object schema with `properties` and
/// `required` present.
fn normalise_schema(params: Option<&Value>, i: usize) -> Result<Value, TranslateError> {
    let mut schema = match params {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(o)) => o.clone(),
        Some(_) => {
            return Err(TranslateError::invalid(format!(
                "tools[{i}].function.parameters must be a JSON schema object"
            )));
        }
    };
    schema
        .entry("type")
        .or_insert_with(|| Value::String("object".into()));
    if schema.get("type").and_then(Value::as_str) == Some("object") {
        schema
            .entry("properties")
            .or_insert_with(|| Value::Object(Map::new()));
    }
    match schema.get("required") {
        None | Some(Value::Null) => {
            schema.insert("required".into(), Value::Array(Vec::new()));
        }
        Some(Value::Array(r)) if r.iter().all(Value::is_string) => {}
        Some(_) => {
            return Err(TranslateError::invalid(format!(
                "tools[{i}].function.parameters.required must be an array of property names"
            )));
        }
    }
    Ok(Value::Object(schema))
}

/// A tool call's arguments as the JSON object Kiro's `input` is.
fn tool_input(call: &Value, at: &str) -> Result<Value, TranslateError> {
    let args = call.pointer("/function/arguments");
    let parsed = match args {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(Value::String(s)) if s.trim().is_empty() => Value::Object(Map::new()),
        Some(Value::String(s)) => serde_json::from_str(s).map_err(|e| {
            TranslateError::invalid(format!("{at}.function.arguments is not valid JSON: {e}"))
        })?,
        Some(v) => v.clone(),
    };
    if parsed.is_object() {
        Ok(parsed)
    } else {
        Err(TranslateError::invalid(format!(
            "{at}.function.arguments must be a JSON object for Kiro"
        )))
    }
}

/// Reads the hub messages into turns, merging consecutive ones of the same role.
fn turns(messages: &[Value]) -> Result<Vec<Turn>, TranslateError> {
    let mut turns: Vec<Turn> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let at = format!("messages[{i}]");
        let role = m
            .get("role")
            .and_then(Value::as_str)
            .ok_or_else(|| TranslateError::invalid(format!("{at}.role must be a string")))?;
        match role {
            "system" | "developer" | "user" => {
                let mut images = Vec::new();
                let text = read_content(
                    m.get("content"),
                    &at,
                    (role == "user").then_some(&mut images),
                )?;
                if let Some(Turn::User {
                    text: t,
                    images: im,
                    ..
                }) = turn_for(&mut turns, true)
                {
                    t.extend(text);
                    im.extend(images);
                }
            }
            "assistant" => {
                let text = read_content(m.get("content"), &at, None)?;
                let uses = tool_uses(m, &at)?;
                if let Some(Turn::Assistant { text: t, uses: u }) = turn_for(&mut turns, false) {
                    t.extend(text);
                    u.extend(uses);
                }
            }
            "tool" => {
                let id = m
                    .get("tool_call_id")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| {
                        TranslateError::invalid(format!(
                            "{at}.tool_call_id must be a non-empty string"
                        ))
                    })?;
                // Kiro's tool results hold text; images a tool returned (a screenshot, say)
                // travel with the user turn the results are part of.
                let mut tool_images = Vec::new();
                let text = read_content(m.get("content"), &at, Some(&mut tool_images))?.join("\n");
                let text = if text.is_empty() {
                    "(no output)".to_owned()
                } else {
                    text
                };
                if let Some(Turn::User {
                    results, images, ..
                }) = turn_for(&mut turns, true)
                {
                    images.extend(tool_images);
                    results.push(json!({
                        "toolUseId": id,
                        "status": "success",
                        "content": [{"text": text}],
                    }));
                }
            }
            other => {
                return Err(TranslateError::invalid(format!(
                    "{at}.role `{other}` is not one of system, developer, user, assistant, tool"
                )));
            }
        }
    }
    Ok(turns)
}

/// Hub tool calls of assistant message `at` -> Kiro tool uses; each needs an id and a name.
fn tool_uses(m: &Value, at: &str) -> Result<Vec<Value>, TranslateError> {
    let mut uses = Vec::new();
    for (j, call) in m
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let at = format!("{at}.tool_calls[{j}]");
        let id = call
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                TranslateError::invalid(format!("{at}.id must be a non-empty string"))
            })?;
        let name = call
            .pointer("/function/name")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                TranslateError::invalid(format!("{at}.function.name must be a non-empty string"))
            })?;
        let input = tool_input(call, &at)?;
        uses.push(json!({"toolUseId": id, "name": name, "input": input}));
    }
    Ok(uses)
}

/// Without tools in the request, Kiro refuses tool uses and results: they become text.
fn tools_as_text(turns: &mut [Turn]) {
    for turn in turns {
        match turn {
            Turn::User { text, results, .. } => {
                for r in results.drain(..) {
                    let id = r.get("toolUseId").and_then(Value::as_str).unwrap_or("");
                    let body = r
                        .pointer("/content/0/text")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    text.push(format!("[Tool result for {id}]\n{body}"));
                }
            }
            Turn::Assistant { text, uses } => {
                for u in uses.drain(..) {
                    let name = u.get("name").and_then(Value::as_str).unwrap_or("");
                    let input = u.get("input").map(Value::to_string).unwrap_or_default();
                    text.push(format!("[Called tool {name} with input {input}]"));
                }
            }
        }
    }
}

/// Every tool result answers a tool use of the assistant turn just before it, and every
/// tool use is answered in the turn just after it.
fn check_pairs(turns: &[Turn]) -> Result<(), TranslateError> {
    let mut open: Vec<&str> = Vec::new();
    for turn in turns {
        match turn {
            Turn::Assistant { uses, .. } => {
                if let Some(id) = open.first() {
                    return Err(TranslateError::invalid(format!(
                        "tool call `{id}` has no tool result: Kiro needs one for every call, in the message right after it"
                    )));
                }
                open = uses
                    .iter()
                    .filter_map(|u| u.get("toolUseId").and_then(Value::as_str))
                    .collect();
            }
            Turn::User { results, .. } => {
                for r in results {
                    let id = r.get("toolUseId").and_then(Value::as_str).unwrap_or("");
                    let Some(pos) = open.iter().position(|o| *o == id) else {
                        return Err(TranslateError::invalid(format!(
                            "tool result `{id}` answers no tool call of the assistant message before it"
                        )));
                    };
                    open.remove(pos);
                }
                if let Some(id) = open.first() {
                    return Err(TranslateError::invalid(format!(
                        "tool call `{id}` has no tool result: Kiro needs one for every call, in the message right after it"
                    )));
                }
                open.clear();
            }
        }
    }
    match open.first() {
        Some(id) => Err(TranslateError::invalid(format!(
            "tool call `{id}` has no tool result: Kiro needs one for every call, in the message right after it"
        ))),
        None => Ok(()),
    }
}

fn user_message(
    text: &[String],
    images: Vec<Value>,
    results: Vec<Value>,
    model: &str,
) -> Map<String, Value> {
    let joined = text
        .iter()
        .map(String::as_str)
        .filter(|t| !t.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n\n");
    let content = match (joined.is_empty(), results.is_empty()) {
        (false, _) => joined,
        (true, false) => TOOL_RESULTS_ONLY.to_owned(),
        (true, true) => EMPTY_USER.to_owned(),
    };
    let mut msg = Map::new();
    msg.insert("content".into(), content.into());
    msg.insert("modelId".into(), model.into());
    msg.insert("origin".into(), DEFAULT_ORIGIN.into());
    if !images.is_empty() {
        msg.insert("images".into(), images.into());
    }
    if !results.is_empty() {
        msg.insert(
            "userInputMessageContext".into(),
            json!({ "toolResults": results }),
        );
    }
    msg
}

/// What the request's output format asks for, as an instruction: Kiro has no such field.
fn format_instruction(hub: &Map<String, Value>) -> Option<String> {
    let rf = hub.get("response_format")?;
    match rf.get("type").and_then(Value::as_str)? {
        "json_object" => Some("Respond with a single valid JSON object and nothing else.".into()),
        "json_schema" => {
            let schema = rf
                .pointer("/json_schema/schema")
                .cloned()
                .unwrap_or_default();
            Some(format!(
                "Respond with a single JSON value that matches this JSON schema, and nothing else:\n{schema}"
            ))
        }
        _ => None,
    }
}

pub fn hub_to_kiro(hub: Value, ctx: &mut TranslateCtx) -> Result<Value, TranslateError> {
    let hub = hub
        .as_object()
        .ok_or_else(|| TranslateError::invalid("request body must be a JSON object"))?;
    let messages = hub
        .get("messages")
        .and_then(Value::as_array)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| TranslateError::invalid("`messages` must be a non-empty array"))?;
    let tools = tools(hub)?;
    let mut turns = turns(messages)?;
    if tools.is_empty() {
        tools_as_text(&mut turns);
    } else {
        check_pairs(&turns)?;
    }
    if matches!(turns.first(), Some(Turn::Assistant { .. })) {
        turns.insert(0, Turn::user());
    }
    if !matches!(turns.last(), Some(Turn::User { .. })) {
        turns.push(Turn::user());
    }
    if let (Some(instruction), Some(Turn::User { text, .. })) =
        (format_instruction(hub), turns.last_mut())
    {
        text.push(instruction);
    }

    let (history, current) = history_and_current(turns, &ctx.model);
    let mut current =
        current.ok_or_else(|| TranslateError::invalid("the conversation has no user message"))?;
    if !tools.is_empty() {
        let context = current
            .entry("userInputMessageContext")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(c) = context.as_object_mut() {
            c.insert("tools".into(), tools.into());
        }
    }

    let mut state = Map::new();
    state.insert("chatTriggerType".into(), "MANUAL".into());
    state.insert(
        "conversationId".into(),
        uuid::Uuid::new_v4().to_string().into(),
    );
    state.insert(
        "currentMessage".into(),
        json!({ "userInputMessage": current }),
    );
    if !history.is_empty() {
        state.insert("history".into(), history.into());
    }
    let mut body = Map::new();
    body.insert("conversationState".into(), state.into());
    if let Some(config) = inference_config(hub)? {
        body.insert("inferenceConfig".into(), config);
    }
    let body = Value::Object(body);
    check(&body).map_err(TranslateError::invalid)?;
    Ok(body)
}

/// The turns as Kiro history entries, but the last user turn, which is the current message
/// (none if the conversation ends otherwise).
fn history_and_current(turns: Vec<Turn>, model: &str) -> (Vec<Value>, Option<Map<String, Value>>) {
    let mut history = Vec::new();
    let mut current = None;
    let count = turns.len();
    for (i, turn) in turns.into_iter().enumerate() {
        match turn {
            Turn::User {
                text,
                images,
                results,
            } => {
                let msg = user_message(&text, images, results, model);
                if i + 1 == count {
                    current = Some(msg);
                } else {
                    history.push(json!({ "userInputMessage": msg }));
                }
            }
            Turn::Assistant { text, uses } => {
                history.push(json!({ "assistantResponseMessage": assistant_message(&text, uses) }));
            }
        }
    }
    (history, current)
}

/// An assistant turn: its non-blank texts joined (Kiro refuses empty content, so a
/// placeholder stands in for none) and its tool uses.
fn assistant_message(text: &[String], uses: Vec<Value>) -> Map<String, Value> {
    let joined = text
        .iter()
        .map(String::as_str)
        .filter(|t| !t.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n\n");
    let mut msg = Map::new();
    msg.insert(
        "content".into(),
        if joined.is_empty() {
            EMPTY_ASSISTANT.to_owned()
        } else {
            joined
        }
        .into(),
    );
    if !uses.is_empty() {
        msg.insert("toolUses".into(), uses.into());
    }
    msg
}

fn inference_config(hub: &Map<String, Value>) -> Result<Option<Value>, TranslateError> {
    let mut config = Map::new();
    if let Some(v) = hub
        .get("max_completion_tokens")
        .or_else(|| hub.get("max_tokens"))
        .filter(|v| !v.is_null())
    {
        let n = v
            .as_u64()
            .filter(|n| *n > 0)
            .ok_or_else(|| TranslateError::invalid("`max_tokens` must be a positive integer"))?;
        config.insert("maxTokens".into(), n.into());
    }
    for (from, to) in [("temperature", "temperature"), ("top_p", "topP")] {
        if let Some(v) = hub.get(from).filter(|v| !v.is_null()) {
            let n = v
                .as_f64()
                .ok_or_else(|| TranslateError::invalid(format!("`{from}` must be a number")))?;
            config.insert(to.into(), json!(n));
        }
    }
    Ok((!config.is_empty()).then_some(Value::Object(config)))
}

/// Checks a finished body against the rules Kiro enforces without saying which one failed.
/// The translation above keeps them by construction; this states them once, for the body
/// that leaves, and gives every violation a name.
pub fn check(body: &Value) -> Result<(), String> {
    let state = body
        .get("conversationState")
        .ok_or("conversationState is missing")?;
    for field in ["chatTriggerType", "conversationId"] {
        if !state.get(field).is_some_and(Value::is_string) {
            return Err(format!("conversationState.{field} is missing"));
        }
    }
    let current = state
        .pointer("/currentMessage/userInputMessage")
        .ok_or("conversationState.currentMessage.userInputMessage is missing")?;
    let history = match state.get("history") {
        None => &[][..],
        Some(Value::Array(h)) => h.as_slice(),
        Some(_) => return Err("conversationState.history must be an array".into()),
    };
    let mut expect_user = true;
    let mut open: Vec<&str> = Vec::new();
    let entries = history
        .iter()
        .map(|h| (h, false))
        .chain(std::iter::once((current, true)));
    for (i, (entry, is_current)) in entries.enumerate() {
        let at = if is_current {
            "currentMessage".to_owned()
        } else {
            format!("history[{i}]")
        };
        let (user, msg) = if is_current {
            (true, entry)
        } else if let Some(m) = entry.get("userInputMessage") {
            (true, m)
        } else if let Some(m) = entry.get("assistantResponseMessage") {
            (false, m)
        } else {
            return Err(format!("{at} is neither a user nor an assistant message"));
        };
        if user != expect_user {
            return Err(format!(
                "{at}: roles must alternate user/assistant, starting with user"
            ));
        }
        expect_user = !user;
        if is_blank(msg.get("content")) {
            return Err(format!("{at}.content must be non-empty text"));
        }
        if user {
            check_user_message(&at, msg, is_current, &mut open)?;
        } else {
            open = msg
                .get("toolUses")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|u| u.get("toolUseId").and_then(Value::as_str))
                .collect();
        }
    }
    Ok(())
}

fn is_blank(v: Option<&Value>) -> bool {
    v.and_then(Value::as_str)
        .is_none_or(|c| c.trim().is_empty())
}

/// A user message: its model id, a result for every tool use still `open` (and none for
/// another), and tools only on the current message.
fn check_user_message(
    at: &str,
    msg: &Value,
    is_current: bool,
    open: &mut Vec<&str>,
) -> Result<(), String> {
    if !msg.get("modelId").is_some_and(Value::is_string) {
        return Err(format!("{at}.modelId is missing"));
    }
    let context = msg.get("userInputMessageContext");
    for r in context
        .and_then(|c| c.get("toolResults"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let id = r.get("toolUseId").and_then(Value::as_str).unwrap_or("");
        let Some(pos) = open.iter().position(|o| *o == id) else {
            return Err(format!(
                "{at}: tool result `{id}` matches no tool use of the message before"
            ));
        };
        open.remove(pos);
    }
    if let Some(id) = open.first() {
        return Err(format!("{at}: tool use `{id}` has no tool result"));
    }
    let tools = context.and_then(|c| c.get("tools"));
    if tools.is_some() && !is_current {
        return Err(format!(
            "{at}: tools are allowed only on the current message"
        ));
    }
    for (j, t) in tools
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let spec = t
            .get("toolSpecification")
            .ok_or(format!("{at}.tools[{j}].toolSpecification is missing"))?;
        if is_blank(spec.get("description")) {
            return Err(format!("{at}.tools[{j}] has an empty description"));
        }
        if !spec
            .pointer("/inputSchema/json/required")
            .is_some_and(Value::is_array)
        {
            return Err(format!(
                "{at}.tools[{j}].inputSchema.json has no `required`"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use switchyard_hub::Format;

    fn ctx() -> TranslateCtx {
        TranslateCtx::new(Format::OpenAi, crate::KIRO, "claude-sonnet-4.5", true)
    }

    fn translate(hub: Value) -> Result<Value, TranslateError> {
        let mut out = hub_to_kiro(hub, &mut ctx())?;
        // Random per request; everything else is deterministic.
        let id = out
            .pointer_mut("/conversationState/conversationId")
            .unwrap();
        assert_eq!(id.as_str().unwrap().len(), 36);
        *id = json!("<uuid>");
        Ok(out)
    }

    fn golden(name: &str, input: &str, expected: &str) {
        let input: Value = serde_json::from_str(input).unwrap();
        let expected: Value = serde_json::from_str(expected).unwrap();
        let got = translate(input).unwrap();
        assert_eq!(
            got,
            expected,
            "{name}: got\n{}",
            serde_json::to_string_pretty(&got).unwrap()
        );
    }

    #[test]
    fn golden_simple_with_system() {
        golden(
            "simple",
            include_str!("../tests/fixtures/request_simple.hub.json"),
            include_str!("../tests/fixtures/request_simple.kiro.json"),
        );
    }

    #[test]
    fn golden_tool_round_trip() {
        golden(
            "tools",
            include_str!("../tests/fixtures/request_tools.hub.json"),
            include_str!("../tests/fixtures/request_tools.kiro.json"),
        );
    }

    #[test]
    fn merges_turns_and_fills_placeholders() {
        let out = translate(json!({"model": "m", "messages": [
            {"role": "assistant", "content": "I start"},
            {"role": "user", "content": "a"},
            {"role": "user", "content": [{"type": "text", "text": "b"}]},
            {"role": "assistant", "content": ""},
            {"role": "assistant", "content": null},
        ]}))
        .unwrap();
        let s = &out["conversationState"];
        let h = s["history"].as_array().unwrap();
        assert_eq!(h.len(), 4);
        assert_eq!(h[0]["userInputMessage"]["content"], EMPTY_USER);
        assert_eq!(h[1]["assistantResponseMessage"]["content"], "I start");
        assert_eq!(h[2]["userInputMessage"]["content"], "a\n\nb");
        assert_eq!(h[3]["assistantResponseMessage"]["content"], EMPTY_ASSISTANT);
        assert_eq!(
            s["currentMessage"]["userInputMessage"]["content"],
            EMPTY_USER
        );
        check(&out).unwrap();
    }

    #[test]
    fn tool_history_without_tools_becomes_text() {
        let out = translate(json!({"model": "m", "messages": [
            {"role": "user", "content": "run it"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "Bash", "arguments": "{\"cmd\":\"ls\"}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "a.txt"},
        ]}))
        .unwrap();
        let h = &out["conversationState"]["history"];
        let a = h[1]["assistantResponseMessage"]["content"]
            .as_str()
            .unwrap();
        assert!(a.contains("Called tool Bash"), "{a}");
        assert!(h[1]["assistantResponseMessage"].get("toolUses").is_none());
        let cur = &out["conversationState"]["currentMessage"]["userInputMessage"];
        assert!(cur["content"].as_str().unwrap().contains("a.txt"));
        assert!(cur.get("userInputMessageContext").is_none());
    }

    #[test]
    fn refuses_what_kiro_would_refuse() {
        let tool = json!([{"type": "function", "function": {"name": "Bash", "parameters": {"type": "object"}}}]);
        let cases = [
            (json!({"messages": []}), "non-empty"),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "tools": tool,
                "tool_choice": "auto", "max_tokens": 0}),
                "max_tokens",
            ),
            (
                json!({"messages": [
                    {"role": "user", "content": "x"},
                    {"role": "tool", "tool_call_id": "nope", "content": "r"}], "tools": tool}),
                "answers no tool call",
            ),
            (
                json!({"messages": [
                    {"role": "user", "content": "x"},
                    {"role": "assistant", "tool_calls": [{"id": "c1", "function": {"name": "Bash", "arguments": "{}"}}]},
                    {"role": "user", "content": "and?"}], "tools": tool}),
                "has no tool result",
            ),
            (
                json!({"messages": [
                    {"role": "user", "content": "x"},
                    {"role": "assistant", "tool_calls": [{"id": "c1", "function": {"name": "Bash", "arguments": "{bad"}}]},
                    {"role": "tool", "tool_call_id": "c1", "content": "r"}], "tools": tool}),
                "not valid JSON",
            ),
            (
                json!({"messages": [{"role": "user", "content": [
                    {"type": "image_url", "image_url": {"url": "data:image/tiff;base64,AAAA"}}]}]}),
                "png, jpeg",
            ),
            (
                json!({"messages": [{"role": "user", "content": [
                    {"type": "input_audio", "input_audio": {}}]}]}),
                "input_audio",
            ),
            (
                json!({"messages": [{"role": "user", "content": "x"}],
                "tools": [{"type": "custom", "custom": {"name": "x"}}]}),
                "only function tools",
            ),
            (
                json!({"messages": [{"role": "user", "content": "x"}],
                "tools": [{"type": "function", "function": {"name": "a", "parameters": {"required": "x"}}}]}),
                "required",
            ),
            (
                json!({"messages": [{"role": "narrator", "content": "x"}]}),
                "narrator",
            ),
        ];
        for (body, needle) in cases {
            let err = translate(body.clone()).unwrap_err();
            assert!(
                matches!(&err, TranslateError::InvalidRequest(m) if m.contains(needle)),
                "{body}: {err}"
            );
        }
    }

    #[test]
    fn images_and_inference_config() {
        let out = translate(json!({"messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is this"},
            {"type": "image_url", "image_url": {"url": "data:image/jpg;base64,aGVsbG8="}},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}],
            "max_completion_tokens": 100, "temperature": 0.5, "top_p": 0.9,
            "response_format": {"type": "json_object"}}))
        .unwrap();
        let cur = &out["conversationState"]["currentMessage"]["userInputMessage"];
        assert_eq!(
            cur["images"],
            json!([{"format": "jpeg", "source": {"bytes": "aGVsbG8="}}])
        );
        let content = cur["content"].as_str().unwrap();
        assert!(content.contains("[Image: https://example.com/cat.png]"));
        assert!(content.contains("JSON object"));
        assert_eq!(
            out["inferenceConfig"],
            json!({"maxTokens": 100, "temperature": 0.5, "topP": 0.9})
        );
    }

    #[test]
    fn images_from_tool_results_join_the_user_turn() {
        let out = translate(
            json!({"tools": [{"type": "function", "function": {"name": "Shot"}}],
            "messages": [
            {"role": "user", "content": "shoot"},
            {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
                "function": {"name": "Shot", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": [
                {"type": "text", "text": "done"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,aGVsbG8="}}]}]}),
        )
        .unwrap();
        let cur = &out["conversationState"]["currentMessage"]["userInputMessage"];
        assert_eq!(cur["images"][0]["format"], "png");
        assert_eq!(
            cur["userInputMessageContext"]["toolResults"][0]["content"][0]["text"],
            "done"
        );
        assert_eq!(cur["content"], TOOL_RESULTS_ONLY);
    }

    #[test]
    fn tool_choice_none_drops_tools() {
        let out = translate(json!({"messages": [{"role": "user", "content": "x"}],
            "tools": [{"type": "function", "function": {"name": "a"}}], "tool_choice": "none"}))
        .unwrap();
        assert!(
            out.pointer(
                "/conversationState/currentMessage/userInputMessage/userInputMessageContext"
            )
            .is_none()
        );
    }

    #[test]
    fn long_descriptions_are_cut_on_a_char_boundary() {
        let long = "é".repeat(MAX_TOOL_DESCRIPTION);
        let out = translate(json!({"messages": [{"role": "user", "content": "x"}],
            "tools": [{"type": "function", "function": {"name": "a", "description": long}}]}))
        .unwrap();
        let d = out
            .pointer("/conversationState/currentMessage/userInputMessage/userInputMessageContext/tools/0/toolSpecification/description")
            .and_then(Value::as_str)
            .unwrap();
        assert!(d.len() <= MAX_TOOL_DESCRIPTION);
    }

    #[test]
    fn check_names_each_violation() {
        let ok = translate(json!({"messages": [{"role": "user", "content": "x"}]})).unwrap();
        check(&ok).unwrap();
        let mut two_users = ok.clone();
        two_users["conversationState"]["history"] =
            json!([{"userInputMessage": {"content": "a", "modelId": "m"}}]);
        assert!(check(&two_users).unwrap_err().contains("alternate"));
        let mut no_id = ok.clone();
        no_id["conversationState"]
            .as_object_mut()
            .unwrap()
            .remove("conversationId");
        assert!(check(&no_id).unwrap_err().contains("conversationId"));
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            "[a-z #=]{0,8}".prop_map(Value::String),
            prop_oneof![
                Just("user"),
                Just("assistant"),
                Just("tool"),
                Just("system"),
                Just("function"),
                Just("text"),
                Just("image_url"),
                Just("data:image/png;base64,AAAA"),
            ]
            .prop_map(|s| Value::String(s.into())),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop_oneof![
                        Just("role".to_owned()),
                        Just("content".to_owned()),
                        Just("tool_calls".to_owned()),
                        Just("tool_call_id".to_owned()),
                        Just("id".to_owned()),
                        Just("function".to_owned()),
                        Just("name".to_owned()),
                        Just("arguments".to_owned()),
                        Just("type".to_owned()),
                        Just("text".to_owned()),
                        Just("image_url".to_owned()),
                        Just("url".to_owned()),
                        Just("parameters".to_owned()),
                        "[a-z]{1,5}",
                    ],
                    inner,
                    0..5
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn arbitrary_requests_never_panic_and_pass_check(
            messages in prop::collection::vec(arb_json(), 0..6),
            tools in arb_json(),
        ) {
            let body = json!({"messages": messages, "tools": tools});
            if let Ok(out) = hub_to_kiro(body, &mut ctx()) {
                // Whatever is accepted is something Kiro accepts.
                prop_assert!(check(&out).is_ok(), "{out}");
            }
        }
    }
}
