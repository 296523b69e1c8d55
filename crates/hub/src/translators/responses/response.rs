//! Whole (non-streaming) responses: Responses -> hub (a provider) and hub -> Responses (a
//! client).

use serde_json::{Map, Value, json};

use super::{
    Ids, REDACTED_PREFIX, custom_args, custom_input, finish_of, flat_name, is_custom, namespace_of,
    non_empty_str, provider_signature, status_of, usage_from_hub, usage_to_hub,
};
use crate::clock::now_secs;
use crate::ctx::{ToolNameMap, TranslateCtx};
use crate::error::TranslateError;

fn bad(message: impl Into<String>) -> TranslateError {
    TranslateError::BadUpstream(message.into())
}

// ---------------------------------------------------------------------------------------------
// Responses -> hub
// ---------------------------------------------------------------------------------------------

pub(super) fn responses_to_hub(body: Value, ctx: &TranslateCtx) -> Result<Value, TranslateError> {
    let obj = body
        .as_object()
        .ok_or_else(|| bad("a Responses body must be a JSON object"))?;
    let status = obj
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or("completed");
    if let Some(err) = obj.get("error").filter(|e| e.is_object()) {
        let message = err
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("the response failed");
        let code = err.get("code").and_then(Value::as_str).unwrap_or("error");
        return Err(bad(format!("{code}: {message}")));
    }
    if status == "failed" || status == "cancelled" {
        return Err(bad(format!("the response ended with status `{status}`")));
    }
    let output = obj
        .get("output")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("a Responses body needs an `output` array"))?;

    let items = OutputItems::collect(output, &ctx.tool_names);
    let finish = finish_of(
        status,
        obj.get("incomplete_details"),
        !items.tool_calls.is_empty(),
    );
    let message = items.into_message();

    let mut hub = Map::new();
    hub.insert(
        "id".into(),
        obj.get("id").cloned().unwrap_or_else(|| json!("resp")),
    );
    hub.insert("object".into(), "chat.completion".into());
    hub.insert(
        "created".into(),
        obj.get("created_at")
            .and_then(Value::as_u64)
            .unwrap_or_else(now_secs)
            .into(),
    );
    hub.insert(
        "model".into(),
        obj.get("model")
            .filter(|m| m.is_string())
            .cloned()
            .unwrap_or_else(|| ctx.model.clone().into()),
    );
    hub.insert(
        "choices".into(),
        json!([{ "index": 0, "message": message, "finish_reason": finish }]),
    );
    if let Some(usage) = obj.get("usage").and_then(usage_to_hub) {
        hub.insert("usage".into(), usage);
    }
    Ok(Value::Object(hub))
}

/// What a Responses `output` array holds, gathered into the pieces of one hub message.
#[derive(Default)]
struct OutputItems {
    text: String,
    refusal: String,
    reasoning: Vec<String>,
    signatures: Vec<String>,
    tool_calls: Vec<Value>,
}

impl OutputItems {
    fn collect(output: &[Value], names: &ToolNameMap) -> Self {
        let mut items = OutputItems::default();
        for item in output {
            match item.get("type").and_then(Value::as_str) {
                Some("message") => items.message(item),
                Some("reasoning") => {
                    let t = reasoning_text(item);
                    if !t.is_empty() {
                        items.reasoning.push(t);
                    }
                    if let Some(enc) = non_empty_str(item, "encrypted_content") {
                        let id = item.get("id").and_then(Value::as_str).unwrap_or_default();
                        items.signatures.push(provider_signature(id, enc));
                    }
                }
                Some("function_call") => {
                    let arguments = match item.get("arguments") {
                        Some(Value::String(s)) => s.clone(),
                        Some(Value::Null) | None => "{}".to_owned(),
                        Some(other) => other.to_string(),
                    };
                    items.tool_calls.push(hub_tool_call(item, names, arguments));
                }
                Some("custom_tool_call") => {
                    let input = item
                        .get("input")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    items
                        .tool_calls
                        .push(hub_tool_call(item, names, custom_args(input)));
                }
                // Hosted tool calls (web search, ...) ran on the provider; nothing to hand on.
                _ => {}
            }
        }
        items
    }

    /// A `message` item's output text and refusal parts.
    fn message(&mut self, item: &Value) {
        for part in item
            .get("content")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            match part.get("type").and_then(Value::as_str) {
                Some("output_text") => self
                    .text
                    .push_str(part.get("text").and_then(Value::as_str).unwrap_or_default()),
                Some("refusal") => self.refusal.push_str(
                    part.get("refusal")
                        .and_then(Value::as_str)
                        .unwrap_or_default(),
                ),
                _ => {}
            }
        }
    }

    /// The hub assistant message: content is null when only tool calls or a refusal came.
    fn into_message(self) -> Map<String, Value> {
        let mut message = Map::new();
        message.insert("role".into(), "assistant".into());
        message.insert(
            "content".into(),
            if self.text.is_empty() && (!self.tool_calls.is_empty() || !self.refusal.is_empty()) {
                Value::Null
            } else {
                Value::String(self.text)
            },
        );
        if !self.refusal.is_empty() {
            message.insert("refusal".into(), self.refusal.into());
        }
        if !self.reasoning.is_empty() {
            message.insert(
                "reasoning_content".into(),
                self.reasoning.join("\n\n").into(),
            );
        }
        if !self.signatures.is_empty() {
            message.insert(
                "reasoning_signature".into(),
                self.signatures.join(" ").into(),
            );
        }
        if !self.tool_calls.is_empty() {
            message.insert("tool_calls".into(), Value::Array(self.tool_calls));
        }
        message
    }
}

/// Summary texts of a reasoning item (its raw `content` text when it has no summary).
pub(super) fn reasoning_text(item: &Value) -> String {
    let texts = |key: &str| -> String {
        item.get(key)
            .and_then(Value::as_array)
            .map(|parts| {
                parts
                    .iter()
                    .filter_map(|p| p.get("text").and_then(Value::as_str))
                    .collect::<Vec<_>>()
                    .join("\n\n")
            })
            .unwrap_or_default()
    };
    let summary = texts("summary");
    if summary.is_empty() {
        texts("content")
    } else {
        summary
    }
}

/// The hub name of a call item's tool: a namespaced call is flattened like its tool was.
pub(super) fn item_tool_name(item: &Value) -> String {
    let name = item.get("name").and_then(Value::as_str).unwrap_or_default();
    match non_empty_str(item, "namespace") {
        Some(ns) => flat_name(ns, name),
        None => name.to_owned(),
    }
}

fn hub_tool_call(item: &Value, names: &ToolNameMap, arguments: String) -> Value {
    let id = non_empty_str(item, "call_id")
        .or_else(|| non_empty_str(item, "id"))
        .unwrap_or_default();
    let name = item_tool_name(item);
    json!({
        "id": id,
        "type": "function",
        "function": { "name": names.client_name(&name), "arguments": arguments },
    })
}

// ---------------------------------------------------------------------------------------------
// hub -> Responses
// ---------------------------------------------------------------------------------------------

pub(super) fn hub_to_responses(hub: Value, ctx: &TranslateCtx) -> Result<Value, TranslateError> {
    let obj = hub
        .as_object()
        .ok_or_else(|| bad("a hub response must be a JSON object"))?;
    let ids = Ids::new(Some(&ctx.answer_id));
    let choice = obj
        .get("choices")
        .and_then(Value::as_array)
        .and_then(|c| c.first());
    let message = choice.and_then(|c| c.get("message"));
    let finish = choice
        .and_then(|c| c.get("finish_reason"))
        .and_then(Value::as_str);

    let mut output: Vec<Value> = Vec::new();
    if let Some(m) = message {
        push_reasoning_items(m, &ids, ctx, &mut output);
        push_message_item(m, &ids, &mut output);
        push_call_items(m, &ids, &ctx.tool_names, &mut output);
    }
    if ctx.compaction {
        // The answer to a compaction trigger is its summary, as the one `compaction` item.
        let summary: String = output
            .iter()
            .filter(|i| i["type"] == "message")
            .flat_map(|i| i["content"].as_array().into_iter().flatten())
            .filter_map(|p| p["text"].as_str())
            .collect();
        output = vec![super::compaction::item(ids.item("cmp", 0), &summary)];
    }

    let (status, incomplete) = status_of(finish);
    let usage = obj
        .get("usage")
        .and_then(usage_from_hub)
        .unwrap_or(Value::Null);
    let created = obj
        .get("created")
        .and_then(Value::as_u64)
        .unwrap_or_else(now_secs);
    let model = obj
        .get("model")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .unwrap_or(&ctx.model);
    Ok(response_object(ResponseParts {
        id: &ids.response(),
        created,
        model,
        status,
        incomplete,
        error: Value::Null,
        output,
        usage,
    }))
}

/// The hub message's reasoning (text and signature) and redacted reasoning, each as a
/// `reasoning` item.
fn push_reasoning_items(m: &Value, ids: &Ids, ctx: &TranslateCtx, output: &mut Vec<Value>) {
    let reasoning = m
        .get("reasoning_content")
        .or_else(|| m.get("reasoning"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let signature = non_empty_str(m, "reasoning_signature");
    if !reasoning.is_empty() || signature.is_some() {
        let encrypted = match signature {
            Some(s) => Some(crate::provenance::to_client(s, ctx.provider, ctx.client)),
            None if ctx.carry_reasoning => {
                Some(crate::provenance::wrap_text(reasoning, ctx.provider))
            }
            None => None,
        };
        output.push(reasoning_item(
            ids.item("rs", output.len()),
            reasoning,
            encrypted,
        ));
    }
    if let Some(data) = non_empty_str(m, "redacted_reasoning") {
        output.push(reasoning_item(
            ids.item("rs", output.len()),
            "",
            Some(format!("{REDACTED_PREFIX}{data}")),
        ));
    }
}

/// The hub message's text and refusal as one `message` item, if it has either.
fn push_message_item(m: &Value, ids: &Ids, output: &mut Vec<Value>) {
    let text = match m.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    };
    let refusal = non_empty_str(m, "refusal");
    if text.is_empty() && refusal.is_none() {
        return;
    }
    let mut content = Vec::new();
    if !text.is_empty() {
        content.push(output_text(&text));
    }
    if let Some(r) = refusal {
        content.push(json!({ "type": "refusal", "refusal": r }));
    }
    output.push(json!({
        "id": ids.item("msg", output.len()),
        "type": "message",
        "status": "completed",
        "role": "assistant",
        "content": content,
    }));
}

/// The hub message's tool calls as `function_call` (or, for custom tools,
/// `custom_tool_call`) items.
fn push_call_items(m: &Value, ids: &Ids, names: &ToolNameMap, output: &mut Vec<Value>) {
    for (k, call) in m
        .get("tool_calls")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let f = call.get("function");
        let name = f
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let args = match f.and_then(|f| f.get("arguments")) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        let call_id = non_empty_str(call, "id")
            .map(str::to_owned)
            .unwrap_or_else(|| ids.call(k));
        let prefix = if is_custom(names, name) { "ctc" } else { "fc" };
        output.push(call_item(
            names,
            ids.item(prefix, output.len()),
            &call_id,
            name,
            &args,
            "completed",
        ));
    }
}

pub(super) struct ResponseParts<'a> {
    pub id: &'a str,
    pub created: u64,
    pub model: &'a str,
    pub status: &'a str,
    pub incomplete: Value,
    pub error: Value,
    pub output: Vec<Value>,
    pub usage: Value,
}

/// A `response` object with the fields clients (and the SDKs' typed models) expect.
pub(super) fn response_object(p: ResponseParts<'_>) -> Value {
    json!({
        "id": p.id,
        "object": "response",
        "created_at": p.created,
        "status": p.status,
        "background": false,
        "error": p.error,
        "incomplete_details": p.incomplete,
        "instructions": null,
        "max_output_tokens": null,
        "model": p.model,
        "output": p.output,
        "parallel_tool_calls": true,
        "previous_response_id": null,
        "reasoning": { "effort": null, "summary": null },
        "store": false,
        "temperature": null,
        "text": { "format": { "type": "text" } },
        "tool_choice": "auto",
        "tools": [],
        "top_p": null,
        "truncation": "disabled",
        "usage": p.usage,
        "metadata": {},
    })
}

pub(super) fn output_text(text: &str) -> Value {
    json!({ "type": "output_text", "text": text, "annotations": [], "logprobs": [] })
}

pub(super) fn reasoning_item(id: String, text: &str, encrypted: Option<String>) -> Value {
    let summary = if text.is_empty() {
        json!([])
    } else {
        json!([{ "type": "summary_text", "text": text }])
    };
    let mut item = Map::new();
    item.insert("id".into(), id.into());
    item.insert("type".into(), "reasoning".into());
    item.insert("summary".into(), summary);
    if let Some(enc) = encrypted {
        item.insert("encrypted_content".into(), enc.into());
    }
    Value::Object(item)
}

/// A `function_call` item, or a `custom_tool_call` item for a custom tool (its input taken
/// back out of the `{"input": ...}` wrapper), or a namespaced `function_call`.
pub(super) fn call_item(
    names: &ToolNameMap,
    id: String,
    call_id: &str,
    name: &str,
    args: &str,
    status: &str,
) -> Value {
    if is_custom(names, name) {
        return json!({
            "id": id,
            "type": "custom_tool_call",
            "status": status,
            "call_id": call_id,
            "name": name,
            "input": custom_input(args),
        });
    }
    // A finished call with no arguments at all still needs valid JSON.
    let arguments = if args.trim().is_empty() && status != "in_progress" {
        "{}"
    } else {
        args
    };
    let mut item = Map::new();
    item.insert("id".into(), id.into());
    item.insert("type".into(), "function_call".into());
    item.insert("status".into(), status.into());
    item.insert("call_id".into(), call_id.into());
    match namespace_of(names, name) {
        Some((ns, short)) => {
            item.insert("namespace".into(), ns.into());
            item.insert("name".into(), short.into());
        }
        None => {
            item.insert("name".into(), name.into());
        }
    }
    item.insert("arguments".into(), arguments.into());
    Value::Object(item)
}
