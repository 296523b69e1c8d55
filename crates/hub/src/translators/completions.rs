//! OpenAI's legacy text completions (`/v1/completions`) as a chat client: the prompt becomes
//! one user message, and `choices[].message.content` comes back as `choices[].text`,
//! streaming included. A provider that has the endpoint gets the body untouched instead.

use serde_json::{Map, Value, json};

use crate::ctx::TranslateCtx;
use crate::error::{ApiError, TranslateError};
use crate::format::Format;
use crate::stream::{StreamEvent, StreamStage};

mod wire;

/// Fields that mean the same in both requests.
const SHARED: &[&str] = &[
    "model",
    "max_tokens",
    "temperature",
    "top_p",
    "n",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "seed",
    "user",
    "stream",
    "stream_options",
];

/// The one prompt of a completions request: a string, or an array holding one string.
fn prompt(body: &Value) -> Result<&str, TranslateError> {
    let only_one = "`prompt` must be one string for this model (a batch of prompts or token ids needs a provider with /v1/completions)";
    match body.get("prompt") {
        Some(Value::String(s)) => Ok(s),
        Some(Value::Array(a)) if a.len() == 1 => a
            .first()
            .and_then(Value::as_str)
            .ok_or_else(|| TranslateError::invalid(only_one)),
        None => Err(TranslateError::invalid("missing required field `prompt`")),
        Some(_) => Err(TranslateError::invalid(only_one)),
    }
}

fn completions_request_to_hub(
    body: Value,
    _ctx: &mut TranslateCtx,
) -> Result<Value, TranslateError> {
    let text = prompt(&body)?;
    // What has no chat counterpart is refused rather than silently changing the answer.
    for field in ["suffix", "echo", "best_of", "logprobs"] {
        let set = match body.get(field) {
            None | Some(Value::Null) | Some(Value::Bool(false)) => false,
            Some(Value::Number(n)) => !(field == "best_of" && n.as_u64() == Some(1)),
            Some(_) => true,
        };
        if set {
            return Err(TranslateError::invalid(format!(
                "`{field}` is not supported for this model (it has no /v1/completions)"
            )));
        }
    }
    let mut hub = Map::new();
    for field in SHARED {
        if let Some(v) = body.get(*field) {
            hub.insert((*field).to_owned(), v.clone());
        }
    }
    hub.insert(
        "messages".into(),
        json!([{"role": "user", "content": text}]),
    );
    Ok(Value::Object(hub))
}

/// A chat finish reason as completions name it (tool calls cannot happen: no tools are sent).
fn finish_reason(reason: Option<&Value>) -> Value {
    match reason.and_then(Value::as_str) {
        None => Value::Null,
        Some(r @ ("length" | "content_filter")) => json!(r),
        Some(_) => json!("stop"),
    }
}

fn hub_response_to_completions(body: Value, ctx: &TranslateCtx) -> Result<Value, TranslateError> {
    let choices = body
        .get("choices")
        .and_then(Value::as_array)
        .ok_or_else(|| TranslateError::bad_upstream("the answer has no `choices`"))?;
    let choices: Vec<Value> = choices
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let text = c
                .pointer("/message/content")
                .and_then(Value::as_str)
                .unwrap_or("");
            json!({
                "text": text,
                "index": c.get("index").cloned().unwrap_or(json!(i)),
                "logprobs": null,
                "finish_reason": finish_reason(c.get("finish_reason")),
            })
        })
        .collect();
    let mut out = json!({
        "id": body.get("id").cloned().unwrap_or(json!("cmpl-switchyard")),
        "object": "text_completion",
        "created": body.get("created").cloned().unwrap_or(json!(0)),
        "model": body.get("model").cloned().unwrap_or_else(|| json!(ctx.model)),
        "choices": choices,
    });
    if let Some(u) = body.get("usage").filter(|u| !u.is_null()) {
        out["usage"] = u.clone();
    }
    Ok(out)
}

fn hub_stream_to_completions(ctx: &TranslateCtx) -> Box<dyn StreamStage> {
    Box::new(CompletionsStream {
        model: ctx.model.clone(),
        wants_usage: ctx.client_wants_usage,
    })
}

/// Chat chunks -> `text_completion` chunks; the `[DONE]` line is the server's, as for chat.
struct CompletionsStream {
    model: String,
    wants_usage: bool,
}

impl StreamStage for CompletionsStream {
    fn push(
        &mut self,
        event: StreamEvent,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), TranslateError> {
        let chunk = event.data;
        let choices = chunk
            .get("choices")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let usage = chunk.get("usage").filter(|u| !u.is_null()).cloned();
        let mut texts = Vec::with_capacity(choices.len());
        for (i, c) in choices.iter().enumerate() {
            let text = c
                .pointer("/delta/content")
                .and_then(Value::as_str)
                .unwrap_or("");
            let finish = finish_reason(c.get("finish_reason"));
            // A chunk that only opens the assistant's turn or carries reasoning says nothing
            // a completions client can read.
            if text.is_empty() && finish.is_null() {
                continue;
            }
            texts.push(json!({
                "text": text,
                "index": c.get("index").cloned().unwrap_or(json!(i)),
                "logprobs": null,
                "finish_reason": finish,
            }));
        }
        let usage_only = choices.is_empty() && usage.is_some();
        if texts.is_empty() && !(usage_only && self.wants_usage) {
            return Ok(());
        }
        let mut data = json!({
            "id": chunk.get("id").cloned().unwrap_or(json!("cmpl-switchyard")),
            "object": "text_completion",
            "created": chunk.get("created").cloned().unwrap_or(json!(0)),
            "model": chunk.get("model").cloned().unwrap_or_else(|| json!(self.model)),
            "choices": texts,
        });
        if let Some(u) = usage.filter(|_| self.wants_usage) {
            data["usage"] = u;
        }
        out.push(StreamEvent::hub(data));
        Ok(())
    }

    fn finish(&mut self, _out: &mut Vec<StreamEvent>) -> Result<(), TranslateError> {
        Ok(())
    }

    fn fail(&mut self, error: &ApiError, out: &mut Vec<StreamEvent>) {
        out.push(error.stream_event(Format::Completions));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> TranslateCtx {
        TranslateCtx::new(Format::Completions, Format::Claude, "m", true)
    }

    #[test]
    fn the_prompt_becomes_one_user_message() {
        let hub = completions_request_to_hub(
            json!({"model": "m", "prompt": ["Say this"], "max_tokens": 7, "stop": ["\n"]}),
            &mut ctx(),
        )
        .unwrap();
        assert_eq!(
            hub,
            json!({"model": "m", "max_tokens": 7, "stop": ["\n"],
                "messages": [{"role": "user", "content": "Say this"}]})
        );
        for bad in [
            json!({"prompt": ["a", "b"]}),
            json!({"prompt": [1, 2]}),
            json!({"prompt": "a", "suffix": "b"}),
            json!({"prompt": "a", "echo": true}),
        ] {
            assert!(
                completions_request_to_hub(bad.clone(), &mut ctx()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_answer_text_comes_back_as_text() {
        let hub = json!({"id": "chatcmpl-1", "created": 5, "model": "m", "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}});
        let out = hub_response_to_completions(hub, &ctx()).unwrap();
        assert_eq!(out["object"], "text_completion");
        assert_eq!(out["choices"][0]["text"], "hi");
        assert_eq!(out["choices"][0]["finish_reason"], "stop");
        assert_eq!(out["usage"]["total_tokens"], 4);
    }

    #[test]
    fn stream_chunks_carry_text_and_usage_only_when_asked() {
        let chunks = [
            json!({"id": "c", "choices": [{"index": 0, "delta": {"role": "assistant"}}]}),
            json!({"id": "c", "choices": [{"index": 0, "delta": {"content": "he"}}]}),
            json!({"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}),
            json!({"id": "c", "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 2}}),
        ];
        let run = |wants_usage: bool| {
            let mut c = ctx();
            c.client_wants_usage = wants_usage;
            let mut stage = hub_stream_to_completions(&c);
            let mut out = Vec::new();
            for ch in &chunks {
                stage.push(StreamEvent::hub(ch.clone()), &mut out).unwrap();
            }
            out
        };
        let plain = run(false);
        assert_eq!(plain.len(), 2);
        assert_eq!(plain[0].data["choices"][0]["text"], "he");
        assert_eq!(plain[1].data["choices"][0]["finish_reason"], "length");
        let with_usage = run(true);
        assert_eq!(with_usage.len(), 3);
        assert_eq!(with_usage[2].data["usage"]["completion_tokens"], 2);
    }
}
