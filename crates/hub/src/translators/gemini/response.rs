//! Whole (non-streaming) responses: Gemini `GenerateContentResponse` <-> hub
//! `chat.completion`.

use serde_json::{Map, Value, json};

use super::{
    ModelPartsOpts, call_id, field, field_str, finish_to_gemini, finish_to_hub, id_seed,
    model_parts, read_model_parts, usage_to_gemini, usage_to_hub,
};
use crate::clock::now_secs;
use crate::ctx::TranslateCtx;
use crate::error::TranslateError;

fn bad(msg: impl Into<String>) -> TranslateError {
    TranslateError::BadUpstream(msg.into())
}

/// The message of a Gemini `{"error": {...}}` body.
pub(super) fn upstream_error_message(body: &Value) -> Option<String> {
    let err = body.get("error")?;
    Some(
        err.get("message")
            .and_then(Value::as_str)
            .map_or_else(|| err.to_string(), str::to_owned),
    )
}

/// A Gemini provider response -> hub `chat.completion`.
pub fn gemini_response_to_hub(body: Value, ctx: &TranslateCtx) -> Result<Value, TranslateError> {
    if !body.is_object() {
        return Err(bad("Gemini response is not a JSON object"));
    }
    if let Some(msg) = upstream_error_message(&body) {
        return Err(bad(format!("Gemini error: {msg}")));
    }
    let response_id = field_str(&body, "responseId");
    let seed = id_seed(response_id);
    let mut calls_seen = 0usize;
    let mut next_id = |_: usize| {
        let id = call_id(&seed, calls_seen);
        calls_seen += 1;
        id
    };
    let restore = |n: &str| ctx.tool_names.client_name(n).to_owned();

    let mut choices = Vec::new();
    let candidates = field(&body, "candidates")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for (i, cand) in candidates.iter().enumerate() {
        let index = cand
            .get("index")
            .and_then(Value::as_u64)
            .unwrap_or(i as u64);
        let parts = cand
            .get("content")
            .and_then(|c| field(c, "parts"))
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let turn = read_model_parts(parts, &mut next_id, &restore);
        let has_calls = !turn.tool_calls.is_empty();
        let finish = finish_to_hub(field_str(cand, "finishReason").unwrap_or("STOP"), has_calls);
        let mut message = Map::new();
        message.insert("role".into(), "assistant".into());
        let content = if turn.text.is_empty() && (has_calls || finish == "content_filter") {
            Value::Null
        } else {
            turn.text.into()
        };
        message.insert("content".into(), content);
        if !turn.reasoning.is_empty() {
            message.insert("reasoning_content".into(), turn.reasoning.into());
        }
        if let Some(sig) = turn.signature {
            message.insert("reasoning_signature".into(), sig.into());
        }
        if has_calls {
            message.insert("tool_calls".into(), Value::Array(turn.tool_calls));
        }
        choices.push(json!({
            "index": index,
            "message": message,
            "finish_reason": finish,
        }));
    }
    if choices.is_empty() {
        let blocked = body
            .get("promptFeedback")
            .and_then(|f| field(f, "blockReason"))
            .is_some();
        if !blocked {
            return Err(bad("Gemini response has no candidates"));
        }
        choices.push(json!({
            "index": 0,
            "message": {"role": "assistant", "content": null},
            "finish_reason": "content_filter",
        }));
    }

    let mut hub = Map::new();
    hub.insert(
        "id".into(),
        format!("chatcmpl-{}", response_id.unwrap_or(&seed)).into(),
    );
    hub.insert("object".into(), "chat.completion".into());
    hub.insert("created".into(), now_secs().into());
    hub.insert(
        "model".into(),
        field_str(&body, "modelVersion")
            .unwrap_or(&ctx.model)
            .into(),
    );
    hub.insert("choices".into(), Value::Array(choices));
    if let Some(usage) = field(&body, "usageMetadata").and_then(usage_to_hub) {
        hub.insert("usage".into(), usage);
    }
    Ok(Value::Object(hub))
}

/// A hub `chat.completion` -> Gemini response for a Gemini client.
pub fn hub_response_to_gemini(body: Value, ctx: &TranslateCtx) -> Result<Value, TranslateError> {
    if !body.is_object() {
        return Err(bad("hub response is not a JSON object"));
    }
    let choices = match body.get("choices") {
        Some(Value::Array(c)) => c.as_slice(),
        _ => return Err(bad("hub response has no `choices` array")),
    };
    let identity = |n: &str| n.to_owned();
    let tag = |s: &str| Some(crate::provenance::to_client(s, ctx.provider, ctx.client));
    let opts = ModelPartsOpts {
        rename: &identity,
        with_ids: true,
        sentinel: false,
        sig: &tag,
    };
    let mut candidates = Vec::new();
    for (i, choice) in choices.iter().enumerate() {
        let message = choice.get("message").unwrap_or(&Value::Null);
        let parts = model_parts(message, &opts);
        let finish = choice
            .get("finish_reason")
            .and_then(Value::as_str)
            .unwrap_or("stop");
        candidates.push(candidate(
            choice
                .get("index")
                .and_then(Value::as_u64)
                .unwrap_or(i as u64),
            parts,
            finish_to_gemini(finish),
        ));
    }
    let mut out = Map::new();
    out.insert("candidates".into(), Value::Array(candidates));
    if let Some(meta) = body.get("usage").and_then(usage_to_gemini) {
        out.insert("usageMetadata".into(), meta);
    }
    out.insert(
        "modelVersion".into(),
        body.get("model")
            .and_then(Value::as_str)
            .unwrap_or(&ctx.model)
            .into(),
    );
    if let Some(id) = body.get("id").and_then(Value::as_str) {
        out.insert("responseId".into(), id.into());
    }
    Ok(Value::Object(out))
}

/// One Gemini candidate. A blocked candidate with nothing to show has no `content`, as
/// Gemini's own; any other gets at least an empty text part.
pub(super) fn candidate(index: u64, mut parts: Vec<Value>, finish: &str) -> Value {
    let mut cand = Map::new();
    if parts.is_empty() && finish != "STOP" && finish != "MAX_TOKENS" {
        // Blocked: no content.
    } else {
        if parts.is_empty() {
            parts.push(json!({"text": ""}));
        }
        cand.insert("content".into(), json!({"role": "model", "parts": parts}));
    }
    cand.insert("finishReason".into(), finish.into());
    cand.insert("index".into(), index.into());
    Value::Object(cand)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::Format;

    #[test]
    fn gemini_function_calls_and_usage_to_hub() {
        let body = json!({
            "candidates": [{"content": {"role": "model", "parts": [
                {"text": "plan", "thought": true},
                {"text": "Checking."},
                {"functionCall": {"name": "Read_File", "args": {"p": 1}}, "thoughtSignature": "SIG"},
                {"functionCall": {"name": "ls", "args": {}}}
            ]}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5, "thoughtsTokenCount": 3,
                              "cachedContentTokenCount": 4, "totalTokenCount": 18},
            "modelVersion": "gemini-2.5-pro", "responseId": "resp1"
        });
        let mut ctx = TranslateCtx::new(Format::OpenAi, Format::Gemini, "gemini-2.5-pro", false);
        ctx.tool_names.insert("Read File", "Read_File");
        let hub = gemini_response_to_hub(body, &ctx).unwrap();
        let seed = super::super::hash8("resp1");
        assert_eq!(hub["id"], "chatcmpl-resp1");
        assert_eq!(hub["model"], "gemini-2.5-pro");
        assert_eq!(
            hub["choices"][0],
            json!({"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": "Checking.", "reasoning_content": "plan",
            "reasoning_signature": "SIG",
            "tool_calls": [
                {"id": format!("call_{seed}_0"), "type": "function",
                 "function": {"name": "Read File", "arguments": "{\"p\":1}"},
                 "extra_content": {"google": {"thought_signature": "SIG"}}},
                {"id": format!("call_{seed}_1"), "type": "function",
                 "function": {"name": "ls", "arguments": "{}"}}
            ]}})
        );
        assert_eq!(
            hub["usage"],
            json!({"prompt_tokens": 10, "completion_tokens": 8, "total_tokens": 18,
                   "prompt_tokens_details": {"cached_tokens": 4},
                   "completion_tokens_details": {"reasoning_tokens": 3}})
        );
    }

    #[test]
    fn finish_reasons_and_blocks() {
        let ctx = TranslateCtx::new(Format::OpenAi, Format::Gemini, "m", false);
        for (gemini, hub) in [
            ("MAX_TOKENS", "length"),
            ("SAFETY", "content_filter"),
            ("RECITATION", "content_filter"),
            ("PROHIBITED_CONTENT", "content_filter"),
            ("MALFORMED_FUNCTION_CALL", "stop"),
            ("OTHER", "stop"),
        ] {
            let body = json!({"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": gemini}]});
            let out = gemini_response_to_hub(body, &ctx).unwrap();
            assert_eq!(out["choices"][0]["finish_reason"], hub, "{gemini}");
        }
        let blocked = json!({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 3}});
        let out = gemini_response_to_hub(blocked, &ctx).unwrap();
        assert_eq!(out["choices"][0]["finish_reason"], "content_filter");
        assert_eq!(out["usage"]["prompt_tokens"], 3);
        assert!(matches!(
            gemini_response_to_hub(json!({"candidates": []}), &ctx),
            Err(TranslateError::BadUpstream(_))
        ));
        assert!(matches!(
            gemini_response_to_hub(json!({"error": {"code": 429, "message": "quota"}}), &ctx),
            Err(TranslateError::BadUpstream(m)) if m.contains("quota")
        ));
    }

    #[test]
    fn hub_response_to_gemini_client() {
        let hub = json!({
            "id": "msg_1", "object": "chat.completion", "model": "claude-sonnet-5",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": "Let me look.",
                "reasoning_content": "think", "reasoning_signature": "CLAUDE_SIG",
                "tool_calls": [{"id": "toolu_9", "type": "function",
                    "function": {"name": "Bash", "arguments": "{\"cmd\":\"ls\"}"}}]
            }}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 9, "total_tokens": 16,
                      "completion_tokens_details": {"reasoning_tokens": 4},
                      "prompt_tokens_details": {"cached_tokens": 2}}
        });
        let ctx = TranslateCtx::new(Format::Gemini, Format::Claude, "claude-sonnet-5", false);
        let out = hub_response_to_gemini(hub, &ctx).unwrap();
        assert_eq!(
            out,
            json!({
                "candidates": [{"content": {"role": "model", "parts": [
                    {"text": "think", "thought": true},
                    {"text": "Let me look."},
                    {"functionCall": {"name": "Bash", "args": {"cmd": "ls"}, "id": "toolu_9"},
                     "thoughtSignature": "c3dpdGNoeWFyZC1zaWc6YW50aHJvcGljOkNMQVVERV9TSUc="}
                ]}, "finishReason": "STOP", "index": 0}],
                "usageMetadata": {"promptTokenCount": 7, "candidatesTokenCount": 5,
                    "thoughtsTokenCount": 4, "cachedContentTokenCount": 2, "totalTokenCount": 16},
                "modelVersion": "claude-sonnet-5",
                "responseId": "msg_1"
            })
        );
    }

    #[test]
    fn hub_response_signature_without_calls_goes_on_the_thought() {
        let hub = json!({"choices": [{"finish_reason": "length", "message": {
            "role": "assistant", "content": "partial", "reasoning_content": "r", "reasoning_signature": "S"}}]});
        let ctx = TranslateCtx::new(Format::Gemini, Format::Claude, "m", false);
        let out = hub_response_to_gemini(hub, &ctx).unwrap();
        assert_eq!(
            out["candidates"][0],
            json!({"content": {"role": "model", "parts": [
                {"text": "r", "thought": true, "thoughtSignature": "c3dpdGNoeWFyZC1zaWc6YW50aHJvcGljOlM="}, {"text": "partial"}]},
                "finishReason": "MAX_TOKENS", "index": 0})
        );
        assert_eq!(out["modelVersion"], "m");
        assert!(hub_response_to_gemini(json!({"x": 1}), &ctx).is_err());
    }
}
