//! Hub request (OpenAI chat completions) -> `StreamUnifiedChatRequestWithTools`.
//!
//! The translator produces the message as JSON (see [`crate::proto`]): everything that
//! follows from the client's request. The executor adds what belongs to one HTTP request
//! (message and conversation ids, client metadata) and encodes it.
//!
//! - `system`/`developer` messages become the instruction, joined by blank lines.
//! - `user` and `assistant` turns become conversation messages (roles 1 and 2).
//! - An assistant turn's `tool_calls` travel as `tool_results` on that turn, each with the
//!   output of the `tool` message that answers it; a tool message that answers no call
//!   is refused, as OpenAI refuses it.
//! - Tools are declared as tools of an MCP server named `custom`: Cursor calls a tool
//!   `<name>` as `mcp_custom_<name>`, a name recorded in `ctx.tool_names` so answers come
//!   back under the client's own name.
//! - Tools present (and `tool_choice` not `none`): agent mode, else ask mode.
//! - `reasoning_effort` medium -> thinking level MEDIUM, high/xhigh -> HIGH.
//! - Not expressible in this request and dropped: sampling parameters, max tokens, stop
//!   sequences, `response_format`, a forced `tool_choice`, earlier turns' reasoning.
//!   Images and files are refused with a 400 rather than dropped unseen.
//! - Cursor reports no token counts: the prompt's estimate goes in `ctx.prompt_estimate`
//!   for the stream stage to report.

use serde_json::Value;
use switchyard_hub::{TranslateCtx, TranslateError};

use crate::proto::{
    ClientSideToolV2, ClientSideToolV2Call, ClientSideToolV2Result, ConversationMessage,
    CursorSetting, CursorSettingUnknown6, Instruction, McpParams, McpResult, McpTool, ModelDetails,
    Role, StreamUnifiedChatRequest, StreamUnifiedChatRequestWithTools, ThinkingLevel, ToolResult,
    UnifiedMode,
};

/// The MCP server every client tool is declared under.
pub const TOOL_SERVER: &str = "custom";

/// The name Cursor gives a declared tool.
pub fn cursor_tool_name(client: &str) -> String {
    format!("mcp_{TOOL_SERVER}_{client}")
}

/// How a hub tool-call id carries Cursor's model call id, in characters every client
/// format accepts in an id (a newline, Cursor's own separator, is not one of them).
pub const HUB_MODEL_CALL_SEPARATOR: &str = "__mc_";

/// A hub tool-call id -> (Cursor call id, model call id).
pub fn split_call_id(hub_id: &str) -> (&str, Option<&str>) {
    match hub_id.rsplit_once(HUB_MODEL_CALL_SEPARATOR) {
        Some((id, model)) if !id.is_empty() && !model.is_empty() => (id, Some(model)),
        _ => (hub_id, None),
    }
}

/// (Cursor call id, model call id) -> the id the hub and the client see.
pub fn join_call_id(id: &str, model_call_id: Option<&str>) -> String {
    match model_call_id {
        Some(m) if !m.is_empty() => format!("{id}{HUB_MODEL_CALL_SEPARATOR}{m}"),
        _ => id.to_owned(),
    }
}

pub fn hub_to_cursor(body: Value, ctx: &mut TranslateCtx) -> Result<Value, TranslateError> {
    let msg = build(&body, ctx)?;
    // Cursor reports no token counts; the stream stage reports this estimate, flagged.
    ctx.prompt_estimate = switchyard_hub::usage::estimate_prompt_tokens(&body);
    serde_json::to_value(msg)
        .map_err(|e| TranslateError::InvalidRequest(format!("cannot encode the request: {e}")))
}

/// One assistant tool call and, once a tool message answered it, its output.
struct PendingCall {
    hub_id: String,
    name: String,
    args: String,
    output: Option<String>,
}

pub fn build(
    body: &Value,
    ctx: &mut TranslateCtx,
) -> Result<StreamUnifiedChatRequestWithTools, TranslateError> {
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| TranslateError::invalid("`messages` must be an array"))?;

    let tool_choice_none = body.get("tool_choice").and_then(Value::as_str) == Some("none");
    let mut tools = Vec::new();
    if !tool_choice_none {
        for (i, t) in body
            .get("tools")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            tools.push(declare_tool(t, i, ctx)?);
        }
    }
    let agent = !tools.is_empty();
    let (instructions, mut conversation) = conversation(messages, agent)?;
    if !conversation.iter().any(|m| m.role == Role::User as i32) {
        return Err(TranslateError::invalid(
            "the conversation needs at least one user message",
        ));
    }
    if agent && let Some(last) = conversation.last_mut() {
        last.supported_tools = vec![1];
    }

    let thinking = match body.get("reasoning_effort").and_then(Value::as_str) {
        Some("medium") => ThinkingLevel::Medium,
        Some("high" | "xhigh") => ThinkingLevel::High,
        _ => ThinkingLevel::Unspecified,
    };
    Ok(StreamUnifiedChatRequestWithTools {
        request: Some(unified_request(
            conversation,
            &instructions,
            tools,
            &ctx.model,
            thinking,
        )),
    })
}

/// Hub messages -> the system/developer texts (Cursor's instruction) and the conversation;
/// each assistant turn's tool calls are closed with the `tool` messages that answer them.
fn conversation(
    messages: &[Value],
    agent: bool,
) -> Result<(Vec<String>, Vec<ConversationMessage>), TranslateError> {
    let mut instructions: Vec<String> = Vec::new();
    let mut conversation: Vec<ConversationMessage> = Vec::new();
    // The assistant turn whose tool calls the following `tool` messages answer.
    let mut open_calls: Vec<PendingCall> = Vec::new();
    let mut open_turn: Option<usize> = None;

    for (i, m) in messages.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str).unwrap_or_default();
        if role != "tool" {
            close_turn(&mut conversation, open_turn.take(), &mut open_calls);
        }
        match role {
            "system" | "developer" => {
                let text = text_of(m.get("content"), i)?;
                if !text.is_empty() {
                    instructions.push(text);
                }
            }
            "user" => conversation.push(message(Role::User, text_of(m.get("content"), i)?, agent)),
            "assistant" => {
                let text = text_of(m.get("content"), i)?;
                conversation.push(message(Role::Assistant, text, agent));
                open_calls.extend(assistant_calls(m, i)?);
                if !open_calls.is_empty() {
                    open_turn = Some(conversation.len() - 1);
                }
            }
            "tool" => answer_call(m, i, open_turn.is_some(), &mut open_calls)?,
            other => {
                return Err(TranslateError::invalid(format!(
                    "messages[{i}].role `{other}` is not one of system, developer, user, assistant, tool"
                )));
            }
        }
    }
    close_turn(&mut conversation, open_turn.take(), &mut open_calls);
    Ok((instructions, conversation))
}

/// The tool calls of hub assistant message `i`, each needing an id and a function name.
fn assistant_calls(m: &Value, i: usize) -> Result<Vec<PendingCall>, TranslateError> {
    let mut calls = Vec::new();
    for (j, call) in m
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let field = |k: &str| call.pointer(k).and_then(Value::as_str);
        let hub_id = field("/id").filter(|s| !s.is_empty()).ok_or_else(|| {
            TranslateError::invalid(format!("messages[{i}].tool_calls[{j}].id is missing"))
        })?;
        let name = field("/function/name")
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                TranslateError::invalid(format!(
                    "messages[{i}].tool_calls[{j}].function.name is missing"
                ))
            })?;
        let args = field("/function/arguments").unwrap_or("{}");
        calls.push(PendingCall {
            hub_id: hub_id.to_owned(),
            name: name.to_owned(),
            args: if args.trim().is_empty() {
                "{}".into()
            } else {
                args.to_owned()
            },
            output: None,
        });
    }
    Ok(calls)
}

/// Hub `tool` message `i`: the output of one open call of the assistant turn before it,
/// answered once.
fn answer_call(
    m: &Value,
    i: usize,
    turn_open: bool,
    open_calls: &mut [PendingCall],
) -> Result<(), TranslateError> {
    let id = m
        .get("tool_call_id")
        .and_then(Value::as_str)
        .ok_or_else(|| TranslateError::invalid(format!("messages[{i}].tool_call_id is missing")))?;
    let output = text_of(m.get("content"), i)?;
    let call = turn_open
        .then(|| open_calls.iter_mut().find(|c| c.hub_id == id))
        .flatten()
        .ok_or_else(|| {
            TranslateError::invalid(format!(
                "messages[{i}]: tool result `{id}` does not answer a tool call of the assistant turn before it"
            ))
        })?;
    if call.output.is_some() {
        return Err(TranslateError::invalid(format!(
            "messages[{i}]: tool call `{id}` is answered twice"
        )));
    }
    call.output = Some(output);
    Ok(())
}

/// The request Cursor's own client sends, with the constant fields it always sets; agent
/// mode (tools offered) or ask mode.
fn unified_request(
    conversation: Vec<ConversationMessage>,
    instructions: &[String],
    tools: Vec<McpTool>,
    model: &str,
    thinking: ThinkingLevel,
) -> StreamUnifiedChatRequest {
    let agent = !tools.is_empty();
    let mode = if agent {
        UnifiedMode::Agent
    } else {
        UnifiedMode::Chat
    };
    StreamUnifiedChatRequest {
        conversation,
        unknown_2: Some(1),
        instruction: Some(Instruction {
            instruction: Some(instructions.join("\n\n")).filter(|s| !s.is_empty()),
        }),
        unknown_4: Some(1),
        model: Some(ModelDetails {
            model_name: Some(model.to_owned()),
            empty: Some(Vec::new()),
        }),
        web_tool: Some(String::new()),
        unknown_13: Some(1),
        cursor_setting: Some(CursorSetting {
            name: Some("cursor\\aisettings".into()),
            unknown_3: Some(Vec::new()),
            unknown_6: Some(CursorSettingUnknown6 {
                unknown_1: Some(Vec::new()),
                unknown_2: Some(Vec::new()),
            }),
            unknown_8: Some(1),
            unknown_9: Some(1),
        }),
        unknown_19: Some(1),
        conversation_id: None,
        metadata: None,
        is_agentic: Some(agent),
        supported_tools: if agent { vec![1] } else { Vec::new() },
        message_ids: Vec::new(),
        mcp_tools: tools,
        large_context: Some(false),
        unknown_38: Some(0),
        unified_mode: Some(mode as i32),
        unknown_47: Some(String::new()),
        should_disable_tools: Some(!agent),
        thinking_level: Some(thinking as i32),
        unknown_51: Some(0),
        unknown_53: Some(1),
        unified_mode_name: Some(if agent { "Agent" } else { "Ask" }.into()),
    }
}

fn message(role: Role, text: String, agent: bool) -> ConversationMessage {
    let mode = if agent {
        UnifiedMode::Agent
    } else {
        UnifiedMode::Chat
    };
    ConversationMessage {
        text: Some(text),
        role: role as i32,
        bubble_id: String::new(),
        tool_results: Vec::new(),
        is_agentic: Some(agent),
        server_bubble_id: None,
        unified_mode: Some(mode as i32),
        supported_tools: Vec::new(),
    }
}

/// Puts an assistant turn's calls on it, in the order it made them, each with its output.
/// Calls that no tool message answered still travel, with an empty result: dropping them
/// would leave the model's own call out of its history.
fn close_turn(
    conversation: &mut [ConversationMessage],
    turn: Option<usize>,
    open: &mut Vec<PendingCall>,
) {
    let calls = std::mem::take(open);
    let Some(t) = turn.and_then(|turn| conversation.get_mut(turn)) else {
        return;
    };
    for (index, call) in calls.iter().enumerate() {
        let output = call.output.as_deref().unwrap_or_default();
        t.tool_results.push(result_parts(call, output, index));
    }
}

fn result_parts(call: &PendingCall, output: &str, index: usize) -> ToolResult {
    let (id, model_call_id) = split_call_id(&call.hub_id);
    let model_call_id = model_call_id.map(str::to_owned);
    let index = u32::try_from(index + 1).unwrap_or(u32::MAX);
    let cursor_name = cursor_tool_name(&call.name);
    ToolResult {
        tool_call_id: id.to_owned(),
        tool_name: cursor_name.clone(),
        tool_index: index,
        raw_args: call.args.clone(),
        result: Some(ClientSideToolV2Result {
            tool: ClientSideToolV2::Mcp as i32,
            mcp_result: Some(McpResult {
                selected_tool: call.name.clone(),
                result: output.to_owned(),
            }),
            tool_call_id: id.to_owned(),
            model_call_id: model_call_id.clone(),
            tool_index: Some(index),
        }),
        tool_call: Some(ClientSideToolV2Call {
            tool: ClientSideToolV2::Mcp as i32,
            tool_call_id: id.to_owned(),
            name: cursor_name,
            raw_args: call.args.clone(),
            is_last: false,
            is_last_alt: false,
            mcp_params: Some(McpParams {
                tools: vec![McpTool {
                    name: call.name.clone(),
                    description: None,
                    parameters: Some(call.args.clone()),
                    server_name: TOOL_SERVER.into(),
                }],
            }),
            model_call_id: model_call_id.clone(),
            tool_index: Some(index),
        }),
        model_call_id,
    }
}

fn declare_tool(t: &Value, i: usize, ctx: &mut TranslateCtx) -> Result<McpTool, TranslateError> {
    let kind = t.get("type").and_then(Value::as_str).unwrap_or("function");
    if kind != "function" {
        return Err(TranslateError::invalid(format!(
            "tools[{i}].type `{kind}` is not supported by Cursor (only function tools)"
        )));
    }
    let f = t
        .get("function")
        .ok_or_else(|| TranslateError::invalid(format!("tools[{i}].function is missing")))?;
    let name = f
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| TranslateError::invalid(format!("tools[{i}].function.name is missing")))?;
    ctx.tool_names.insert(name, &cursor_tool_name(name));
    let schema = match f.get("parameters") {
        None | Some(Value::Null) => serde_json::json!({"type": "object", "properties": {}}),
        Some(p) if p.is_object() => p.clone(),
        Some(_) => {
            return Err(TranslateError::invalid(format!(
                "tools[{i}].function.parameters must be a JSON schema object"
            )));
        }
    };
    Ok(McpTool {
        name: name.to_owned(),
        description: f
            .get("description")
            .and_then(Value::as_str)
            .filter(|d| !d.is_empty())
            .map(str::to_owned),
        parameters: Some(schema.to_string()),
        server_name: TOOL_SERVER.into(),
    })
}

/// The text of a message's content: a string, text parts, or nothing.
fn text_of(content: Option<&Value>, i: usize) -> Result<String, TranslateError> {
    match content {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(parts)) => {
            let mut text = String::new();
            for (j, p) in parts.iter().enumerate() {
                match p.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        if let Some(t) = p.get("text").and_then(Value::as_str) {
                            text.push_str(t);
                        }
                    }
                    Some(other) => {
                        return Err(TranslateError::invalid(format!(
                            "messages[{i}].content[{j}]: `{other}` parts are not supported by the Cursor provider (text only)"
                        )));
                    }
                    None => {
                        return Err(TranslateError::invalid(format!(
                            "messages[{i}].content[{j}].type is missing"
                        )));
                    }
                }
            }
            Ok(text)
        }
        Some(_) => Err(TranslateError::invalid(format!(
            "messages[{i}].content must be a string or an array of parts"
        ))),
    }
}
