//! Hosted tools: tools the provider runs itself (OpenAI's `web_search`, `file_search`,
//! `code_interpreter`, `image_generation`; Anthropic's server tools such as
//! `web_search_20250305`; Gemini's `googleSearch`, `codeExecution`, ...). Chat completions has
//! no form for them, so the client translators carry each one through the hub as
//! `{"type": "hosted", "hosted": {"kind", "from", "tool"}}`: what it does, the client format it
//! came in, and the client's own tool object. On the way out, [`resolve`] sends it to a
//! provider of the same family untouched, translates web search between the families that
//! all have one, and refuses it (400, naming the tool) for a provider without it, instead of
//! letting the model answer as if it had searched.

use serde_json::{Value, json};

use crate::error::TranslateError;
use crate::format::Format;

/// The hub tool `type` of a hosted tool.
pub const HUB_TYPE: &str = "hosted";

/// What a hosted tool does, as far as translation cares: web search has an equivalent in
/// each family, anything else only in its own.
pub const WEB_SEARCH: &str = "web_search";

/// The hub form of `tool` if, in the `client` format, it is a hosted tool; `None` for any
/// other tool (a function, or one the client translator handles itself).
pub fn to_hub(client: Format, tool: &Value) -> Option<Value> {
    let kind = kind_of(client, tool)?;
    Some(json!({"type": HUB_TYPE, "hosted": {
        "kind": kind, "from": client.as_str(), "tool": tool,
    }}))
}

/// What a format knows of hosted tools, declared in its registration
/// ([`crate::wire::WireFormat::hosted`]). Formats of one family
/// ([`crate::wire::WireFormat::family`]) take each other's hosted tools as they are.
#[derive(Clone, Copy, Debug)]
pub struct HostedTools {
    /// The hosted kind of a tool in this format (`"web_search"`, ...); `None` for a
    /// function or a tool the client translator handles itself.
    pub kind_of: fn(&Value) -> Option<&'static str>,
    /// This format's web search tool with the options other families gave.
    pub web_search: fn(&WebSearch) -> Value,
    /// The JSON pointer to the object that holds the provider body's `tools` (`""` for the
    /// top; Gemini CLI's envelope puts them under `/request`).
    pub tools_in: &'static str,
}

/// The hosted kind of a tool in `client` format.
fn kind_of(client: Format, tool: &Value) -> Option<&'static str> {
    (hosted_tools(client)?.kind_of)(tool)
}

fn hosted_tools(format: Format) -> Option<HostedTools> {
    crate::wire::lookup(format)?.hosted
}

/// Whether `a` and `b` are formats of one family that runs hosted tools.
fn same_family(a: Format, b: Format) -> bool {
    hosted_tools(a).is_some()
        && hosted_tools(b).is_some()
        && crate::wire::family(a) == crate::wire::family(b)
}

/// The name a user knows the tool by: its own `type` (or Gemini key).
fn tool_name(hosted: &Value) -> String {
    let tool = &hosted["tool"];
    if let Some(ty) = tool.get("type").and_then(Value::as_str) {
        return ty.to_owned();
    }
    tool.as_object()
        .and_then(|o| o.keys().next())
        .cloned()
        .unwrap_or_else(|| hosted["kind"].as_str().unwrap_or("hosted").to_owned())
}

/// Takes the hosted tools out of a hub body and returns them in `provider`'s own form, to be
/// put back by [`insert`] after the provider's translator ran; refuses one the provider
/// cannot run.
pub fn take_for(provider: Format, hub: &mut Value) -> Result<Vec<Value>, TranslateError> {
    let Some(tools) = hub.get_mut("tools").and_then(Value::as_array_mut) else {
        return Ok(Vec::new());
    };
    if !tools.iter().any(is_hosted) {
        return Ok(Vec::new());
    }
    let (hosted, rest): (Vec<Value>, Vec<Value>) =
        std::mem::take(tools).into_iter().partition(is_hosted);
    *tools = rest;
    if tools.is_empty()
        && let Some(obj) = hub.as_object_mut()
    {
        // A choice among no tools is refused by some providers.
        for key in ["tools", "tool_choice", "parallel_tool_calls"] {
            obj.remove(key);
        }
    }
    let mut out = Vec::new();
    for h in &hosted {
        if let Some(tool) = resolve(&h["hosted"], provider)? {
            out.push(tool);
        }
    }
    Ok(out)
}

fn is_hosted(tool: &Value) -> bool {
    tool.get("type").and_then(Value::as_str) == Some(HUB_TYPE)
}

/// One hosted tool for `provider`: the client's own tool for its own family, web search
/// translated, `None` to leave it out, or a refusal.
fn resolve(hosted: &Value, provider: Format) -> Result<Option<Value>, TranslateError> {
    let from = hosted["from"].as_str().and_then(Format::parse);
    let tool = &hosted["tool"];
    if from.is_some_and(|f| same_family(f, provider)) {
        return Ok(Some(tool.clone()));
    }
    if hosted["kind"] == WEB_SEARCH {
        // Codex's default ("cached") web search may only read OpenAI's index: no other
        // provider can honour that, and live search is what the user turned off, so it is
        // left out rather than refused (refusing would fail every Codex request).
        if tool.get("external_web_access") == Some(&Value::Bool(false)) {
            return Ok(None);
        }
        if let Some(hosted) = hosted_tools(provider) {
            return Ok(Some((hosted.web_search)(&web_search(tool))));
        }
    }
    Err(TranslateError::invalid(format!(
        "tools: the hosted tool `{}` is not available from this provider ({}); remove it or \
         route the request to a provider that runs it",
        tool_name(hosted),
        provider.as_str()
    )))
}

/// The options web search has in more than one family.
#[derive(Debug, Default)]
pub struct WebSearch {
    pub allowed_domains: Option<Value>,
    pub blocked_domains: Option<Value>,
    pub user_location: Option<Value>,
}

fn web_search(tool: &Value) -> WebSearch {
    let non_empty = |v: Option<&Value>| {
        v.filter(|v| v.as_array().is_some_and(|a| !a.is_empty()))
            .cloned()
    };
    WebSearch {
        allowed_domains: non_empty(
            tool.get("allowed_domains")
                .or_else(|| tool.pointer("/filters/allowed_domains")),
        ),
        blocked_domains: non_empty(tool.get("blocked_domains")),
        user_location: tool
            .get("user_location")
            .filter(|l| l.get("type").and_then(Value::as_str) == Some("approximate"))
            .cloned(),
    }
}

/// Puts the resolved hosted tools into a provider body built by its translator.
pub fn insert(provider: Format, body: &mut Value, tools: Vec<Value>) {
    if tools.is_empty() {
        return;
    }
    let at = hosted_tools(provider).map_or("", |h| h.tools_in);
    let target = body.pointer_mut(at);
    let Some(obj) = target.and_then(Value::as_object_mut) else {
        return;
    };
    let list = obj
        .entry("tools")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(list) = list {
        list.extend(tools);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub_with(client: Format, tool: Value) -> Value {
        json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
            "tools": [to_hub(client, &tool).unwrap()], "tool_choice": "auto"})
    }

    #[test]
    fn web_search_goes_to_every_family_with_its_options() {
        let claude = json!({"type": "web_search_20250305", "name": "web_search", "max_uses": 3,
            "allowed_domains": ["docs.rs"]});
        let mut hub = hub_with(Format::Claude, claude.clone());
        assert_eq!(
            take_for(Format::Claude, &mut hub).unwrap(),
            std::slice::from_ref(&claude)
        );
        assert!(hub.get("tools").is_none() && hub.get("tool_choice").is_none());
        let mut hub = hub_with(Format::Claude, claude.clone());
        assert_eq!(
            take_for(Format::Responses, &mut hub).unwrap(),
            [json!({"type": "web_search", "filters": {"allowed_domains": ["docs.rs"]}})]
        );
        let mut hub = hub_with(Format::Claude, claude);
        assert_eq!(
            take_for(Format::Gemini, &mut hub).unwrap(),
            [json!({"googleSearch": {}})]
        );
        let mut hub = hub_with(Format::Gemini, json!({"google_search": {}}));
        assert_eq!(
            take_for(Format::Claude, &mut hub).unwrap(),
            [json!({"type": "web_search_20250305", "name": "web_search"})]
        );
    }

    #[test]
    fn a_provider_without_the_tool_refuses_it_by_name() {
        for provider in [Format::OpenAi, Format::named("kiro"), Format::Cursor] {
            let mut hub = hub_with(Format::Responses, json!({"type": "web_search_preview"}));
            let err = take_for(provider, &mut hub).unwrap_err().to_string();
            assert!(err.contains("`web_search_preview`"), "{err}");
        }
        let mut hub = hub_with(
            Format::Responses,
            json!({"type": "code_interpreter", "container": {"type": "auto"}}),
        );
        let err = take_for(Format::Claude, &mut hub).unwrap_err().to_string();
        assert!(err.contains("`code_interpreter`"), "{err}");
        let mut hub = hub_with(Format::Gemini, json!({"codeExecution": {}}));
        let err = take_for(Format::Responses, &mut hub)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`codeExecution`"), "{err}");
        // Codex's cached search cannot be honoured elsewhere and is left out, not refused.
        let mut hub = hub_with(
            Format::Responses,
            json!({"type": "web_search", "external_web_access": false}),
        );
        assert!(
            take_for(Format::named("kiro"), &mut hub)
                .unwrap()
                .is_empty()
        );
        assert!(
            take_for(
                Format::Claude,
                &mut hub_with(
                    Format::Responses,
                    json!({"type": "web_search", "external_web_access": false}),
                )
            )
            .unwrap()
            .is_empty()
        );
    }

    #[test]
    fn resolved_tools_go_where_each_provider_keeps_them() {
        // Gemini CLI's envelope (`request.tools`) is checked beside its registration, in
        // `switchyard-gemini`.
        let mut claude = json!({"tools": [{"name": "f"}]});
        insert(
            Format::Claude,
            &mut claude,
            vec![json!({"type": "web_search_20250305"})],
        );
        assert_eq!(claude["tools"].as_array().map(Vec::len), Some(2));
    }
}
