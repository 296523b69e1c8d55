//! The request half of a translator, and the hub request between a pipeline's two halves.
//!
//! A format whose translators read and build the typed hub ([`ChatRequest`]) registers them
//! as [`RequestStep::IntoHub`] / [`RequestStep::OutOfHub`]; the rest still take and give
//! `serde_json::Value`. Between the halves the request is a [`HubRequest`]: whichever form the
//! client half produced, turned into the other only when the provider half needs it, so a
//! request is parsed into the typed hub at most once, and never when both halves are typed.

mod taking;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::chat::{ChatRequest, IntoValue, Tool};
use crate::ctx::TranslateCtx;
use crate::error::TranslateError;
use crate::format::Format;
use taking::Taking;

pub type RequestFn = fn(Value, &mut TranslateCtx) -> Result<Value, TranslateError>;
/// A client format's request into the typed hub.
pub type IntoHubFn = fn(Value, &mut TranslateCtx) -> Result<ChatRequest, TranslateError>;
/// The typed hub request into a provider format.
pub type OutOfHubFn = fn(ChatRequest, &mut TranslateCtx) -> Result<Value, TranslateError>;

/// One request translator, in whichever form it is written.
#[derive(Clone, Copy, Debug)]
pub enum RequestStep {
    Json(RequestFn),
    IntoHub(IntoHubFn),
    OutOfHub(OutOfHubFn),
}

impl RequestStep {
    pub fn apply(
        self,
        body: HubRequest,
        ctx: &mut TranslateCtx,
    ) -> Result<HubRequest, TranslateError> {
        Ok(match self {
            RequestStep::Json(f) => HubRequest::Json(f(body.into_value()?, ctx)?),
            RequestStep::IntoHub(f) => HubRequest::Chat(Box::new(f(body.into_value()?, ctx)?)),
            RequestStep::OutOfHub(f) => HubRequest::Json(f(body.into_chat()?, ctx)?),
        })
    }

    /// [`apply`](Self::apply) to a JSON body, for a JSON answer.
    pub fn apply_json(self, body: Value, ctx: &mut TranslateCtx) -> Result<Value, TranslateError> {
        self.apply(HubRequest::Json(body), ctx)?.into_value()
    }
}

/// A request in the hub format, as JSON or typed.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum HubRequest {
    Json(Value),
    Chat(Box<ChatRequest>),
}

impl HubRequest {
    /// The request as JSON: the very `Value` a JSON translator built from the same fields
    /// (`serde_json`'s map sorts keys, so field order does not show). A typed request's
    /// strings move into it ([`IntoValue`]) rather than being copied.
    pub fn into_value(self) -> Result<Value, TranslateError> {
        Ok(match self {
            HubRequest::Json(v) => v,
            HubRequest::Chat(c) => (*c).into_value(),
        })
    }

    /// The request typed; a body that is not a chat request is refused naming the field.
    pub fn into_chat(self) -> Result<ChatRequest, TranslateError> {
        match self {
            HubRequest::Chat(c) => Ok(*c),
            HubRequest::Json(v) => parse_chat(v),
        }
    }

    /// Takes the hosted tools out for `provider`, as [`crate::hosted::take_for`] does for a
    /// JSON body, and returns them in the provider's form.
    pub fn take_hosted(&mut self, provider: Format) -> Result<Vec<Value>, TranslateError> {
        match self {
            HubRequest::Json(v) => crate::hosted::take_for(provider, v),
            HubRequest::Chat(c) => take_hosted(provider, c),
        }
    }
}

/// Parses a JSON hub request; the error names where it failed (`messages[2].role: ...`).
///
/// The body's strings move into the request ([`Taking`]) and its skeleton stays, so a
/// refused body can be read again with `serde_path_to_error` for the path: tracking it costs
/// a `String` per key passed (most of a parse, measured), paid only when the body is refused.
pub fn parse_chat(mut v: Value) -> Result<ChatRequest, TranslateError> {
    ChatRequest::deserialize(Taking(&mut v)).map_err(|e| refusal(&v, e))
}

/// Why the body `v` was refused with `e`, naming the field. `v` has lost the strings read
/// before the failure, so the message is `e`'s (it quotes what was there); only the path
/// comes from reading `v` again.
#[cold]
fn refusal(v: &Value, e: serde_json::Error) -> TranslateError {
    let path = match serde_path_to_error::deserialize::<_, ChatRequest>(v) {
        Err(again) => again.path().to_string(),
        // Not reached (a failure never depends on a string's text); `e` is still the answer.
        Ok(_) => ".".to_owned(),
    };
    if path == "." {
        TranslateError::invalid(format!("request body: {e}"))
    } else {
        TranslateError::invalid(format!("{path}: {e}"))
    }
}

fn take_hosted(provider: Format, chat: &mut ChatRequest) -> Result<Vec<Value>, TranslateError> {
    let Some(tools) = chat.tools.as_mut() else {
        return Ok(Vec::new());
    };
    if !tools.iter().any(is_hosted) {
        return Ok(Vec::new());
    }
    let (hosted, rest): (Vec<Tool>, Vec<Tool>) =
        std::mem::take(tools).into_iter().partition(is_hosted);
    *tools = rest;
    if tools.is_empty() {
        // As take_for: a choice among no tools is refused by some providers.
        chat.tools = None;
        chat.tool_choice = None;
        chat.parallel_tool_calls = None;
    }
    let mut only_hosted = Value::Object(
        [("tools".to_owned(), hosted.into_value())]
            .into_iter()
            .collect(),
    );
    crate::hosted::take_for(provider, &mut only_hosted)
}

fn is_hosted(tool: &Tool) -> bool {
    tool.kind == crate::hosted::HUB_TYPE
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::registry::Registry;

    /// A JSON hub request that is not a chat request is refused naming the field.
    #[test]
    fn parse_errors_name_the_field() {
        let err = parse_chat(json!({"messages": [{"role": "user"}, {"role": 5}]})).unwrap_err();
        assert!(err.to_string().contains("messages[1].role"), "{err}");
        let err = parse_chat(json!([1])).unwrap_err();
        assert!(err.to_string().contains("request body"), "{err}");
    }

    /// The message quotes the value refused, though the body's strings were taken while
    /// reading it: `model` (read before `n`) and the refused string itself.
    #[test]
    fn parse_errors_quote_what_was_refused() {
        let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
            "n": "ten"});
        let err = parse_chat(body).unwrap_err().to_string();
        assert!(err.contains("n: invalid type: string \"ten\""), "{err}");
        let body =
            json!({"messages": [{"role": "user", "content": [{"type": "text", "text": 1}]}]});
        let err = parse_chat(body).unwrap_err().to_string();
        assert!(
            err.contains("messages[0].content[0].text: invalid type: integer `1`"),
            "{err}"
        );
        // `response_format` and the unknown `logprobs` moved out whole before `stop` failed.
        let body = json!({"messages": [], "logprobs": {"top": [1]},
            "response_format": {"type": "json_object"}, "stop": 5});
        let err = parse_chat(body).unwrap_err().to_string();
        assert!(err.starts_with("stop: invalid type: integer `5`"), "{err}");
    }

    proptest::proptest! {
        /// `parse_chat` (strings taken from the body) reads what reading an owned `Value`
        /// reads, and refuses what it refuses.
        #[test]
        fn parse_chat_reads_as_from_value(
            mut v in crate::chat::tests::request(),
            e in crate::chat::tests::edits(),
        ) {
            crate::chat::tests::mangle(&mut v, &e);
            let owned = serde_json::from_value::<ChatRequest>(v.clone()).map_err(drop);
            proptest::prop_assert_eq!(parse_chat(v).map_err(drop), owned);
        }
    }

    /// Hosted tools leave a typed request as they leave a JSON one, with the choice among
    /// no tools gone.
    #[test]
    fn hosted_tools_leave_typed_and_json_alike() {
        let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
            "tool_choice": "auto", "parallel_tool_calls": false,
            "tools": [{"type": "hosted", "hosted": {"kind": "web_search", "from": "claude",
                "tool": {"type": "web_search_20250305", "name": "web_search"}}}]});
        let mut json_form = HubRequest::Json(body.clone());
        let mut typed = HubRequest::Chat(Box::new(parse_chat(body).unwrap()));
        let a = json_form.take_hosted(Format::Claude).unwrap();
        let b = typed.take_hosted(Format::Claude).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 1);
        assert_eq!(json_form.into_value().unwrap(), typed.into_value().unwrap());
    }

    /// A Claude client's request reaches a JSON provider translator (Gemini) as the same
    /// body whether the hub between them is typed or went through JSON.
    #[test]
    fn typed_hub_feeds_json_translators_unchanged() {
        let registry = Registry::load().unwrap();
        let claude = json!({"model": "m", "max_tokens": 100, "temperature": 1,
            "system": [{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
            "messages": [{"role": "user", "content": "hi"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]}],
            "tools": [{"name": "f", "input_schema": {"type": "object"}}]});
        let ctx = || TranslateCtx::new(Format::Claude, Format::Gemini, "m", false);
        let into = registry.request(Format::Claude, Format::OpenAi).unwrap();
        let out = registry.request(Format::OpenAi, Format::Gemini).unwrap();
        let typed = into.apply(HubRequest::Json(claude), &mut ctx()).unwrap();
        assert!(matches!(typed, HubRequest::Chat(_)));
        let hub = typed.clone().into_value().unwrap();
        assert_eq!(hub["temperature"], json!(1), "an integer stays an integer");
        let via_json = out.apply_json(hub, &mut ctx()).unwrap();
        let via_typed = out.apply(typed, &mut ctx()).unwrap().into_value().unwrap();
        assert_eq!(via_json, via_typed);
    }
}
