//! Where a reasoning signature came from. Each provider family signs its own reasoning
//! (Anthropic's thinking `signature`, Gemini's `thoughtSignature`, the Responses API's
//! `encrypted_content`) and refuses any other ("Invalid signature in thinking block", the
//! error most reported by users of proxies that switch model mid-conversation). A
//! signature that reaches a client of another family is tagged with its family; one that
//! comes back is sent only to the family that issued it, and dropped for any other.
//!
//! An untagged signature in a client's body is presumed to come from the client's own
//! family: it reached the client untranslated.

use serde_json::Value;

use crate::Format;

/// Starts every tagged signature: `switchyard-sig:<family>:<signature>`. Gemini clients
/// get it base64-encoded (their signatures are bytes), which always begins
/// [`TAG_BASE64`].
pub const TAG: &str = "switchyard-sig:";
/// [`TAG`] in base64: 15 bytes encode to exactly these 20 characters, whatever follows.
pub const TAG_BASE64: &str = "c3dpdGNoeWFyZC1zaWc6";

/// Starts reasoning text carried in a Responses `encrypted_content` for a stateless client
/// (`include: ["reasoning.encrypted_content"]`) when the provider signed nothing:
/// `switchyard-text:<origin>:<base64 text>`, where the origin is the provider's family
/// (for providers that sign nothing, a family of their format's own: `openai-chat`, `kiro`).
pub const TEXT_TAG: &str = "switchyard-text:";

/// A provider family, as each format's registration names it ([`crate::wire::WireFormat`]):
/// the label its providers' reasoning carries, and whether the family signs that reasoning
/// with one key (formats of a signing family take each other's signatures). A family that
/// signs nothing belongs to one format alone (the registry refuses a second), so reasoning
/// text labelled with it is never handed to another format's provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Family {
    name: &'static str,
    signs: bool,
}

impl Family {
    pub const ANTHROPIC: Family = Family::signing("anthropic");
    pub const GOOGLE: Family = Family::signing("google");
    /// The Responses API's (`encrypted_content`). Chat completions signs nothing and has a
    /// family of its own: reasoning a Responses provider gave never reaches a chat provider.
    pub const OPENAI: Family = Family::signing("openai");

    /// A family whose providers sign reasoning with one key.
    pub const fn signing(name: &'static str) -> Family {
        Family { name, signs: true }
    }

    /// One format's own label, for a format whose providers sign nothing.
    pub const fn unsigned(name: &'static str) -> Family {
        Family { name, signs: false }
    }

    pub const fn as_str(self) -> &'static str {
        self.name
    }

    pub const fn signs(self) -> bool {
        self.signs
    }

    /// The registered signing family named `s`.
    fn parse(s: &str) -> Option<Family> {
        crate::wire::all()
            .iter()
            .map(|w| w.family)
            .find(|f| f.signs && f.name == s)
    }

    /// The family whose signatures a format carries; `None` for formats without signed
    /// reasoning of their own (chat completions, Kiro, Cursor).
    pub fn of(format: Format) -> Option<Family> {
        Some(crate::wire::family(format)).filter(|f| f.signs)
    }
}

/// A provider's signature as it goes to a client: untouched for a client of the same
/// family (or when the provider's family is unknown), else tagged with the family.
pub fn to_client(sig: &str, provider: Format, client: Format) -> String {
    match Family::of(provider) {
        Some(f) if Family::of(client) != Some(f) && !is_tagged(sig) => {
            format!("{TAG}{}:{sig}", f.as_str())
        }
        _ => sig.to_owned(),
    }
}

/// A signature from a client's body as it may go to `provider`: the provider's own
/// signature untagged, or `None` when another family issued it.
pub fn for_provider(sig: &str, client: Format, provider: Format) -> Option<String> {
    let target = Family::of(provider);
    match tagged(sig) {
        Some((family, raw)) => (Some(family) == target).then(|| raw.to_owned()),
        // A chat client's untagged signature has no known origin: kept, as before tagging.
        None if Family::of(client).is_none() => Some(sig.to_owned()),
        None => (Family::of(client) == target).then(|| sig.to_owned()),
    }
}

/// Where reasoning text came from: the provider's family, signing or not.
fn origin(provider: Format) -> &'static str {
    crate::wire::family(provider).as_str()
}

/// Reasoning text that no provider signed, wrapped with its origin so that a stateless
/// client can hand it back as `encrypted_content`.
pub fn wrap_text(text: &str, provider: Format) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(text);
    format!("{TEXT_TAG}{}:{b64}", origin(provider))
}

/// What a client's `encrypted_content` holds for `provider`.
#[derive(Debug, PartialEq, Eq)]
pub enum Carried {
    /// Not wrapped text: a signature (tagged or not), handled by [`for_provider`].
    Signature,
    /// Text wrapped by [`wrap_text`] for this provider's origin.
    OwnText(String),
    /// Text wrapped for another origin (or unreadable): never replayed.
    Foreign,
}

/// Unwraps text carried by [`wrap_text`], for the provider of the same origin only.
pub fn carried(enc: &str, provider: Format) -> Carried {
    use base64::Engine as _;
    let Some(rest) = enc.strip_prefix(TEXT_TAG) else {
        return Carried::Signature;
    };
    let Some((from, b64)) = rest.split_once(':') else {
        return Carried::Foreign;
    };
    if from != origin(provider) {
        return Carried::Foreign;
    }
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .map_or(Carried::Foreign, Carried::OwnText)
}

/// Whether `sig` carries a family tag.
pub fn is_tagged(sig: &str) -> bool {
    sig.starts_with(TAG)
}

/// The family and the provider's own signature of a tagged one.
fn tagged(sig: &str) -> Option<(Family, &str)> {
    let rest = sig.strip_prefix(TAG)?;
    let (family, raw) = rest.split_once(':')?;
    Some((Family::parse(family)?, raw))
}

/// A body passed through to a provider of the client's own format still carries the
/// signatures that other families issued on earlier turns (tagged when they reached the
/// client): they are dropped here, with the thinking they signed. Only the fields that hold
/// signatures are visited.
pub fn strip_foreign(format: Format, body: &mut Value) {
    if let Some(strip) = crate::wire::lookup(format).and_then(|w| w.strip_foreign) {
        strip(body);
    }
}

/// [`strip_foreign`] for a Claude body.
pub fn strip_claude(body: &mut Value) {
    let Some(messages) = body.get_mut("messages").and_then(Value::as_array_mut) else {
        return;
    };
    let mut dropped = false;
    for m in messages.iter_mut().filter(|m| m["role"] == "assistant") {
        if let Some(blocks) = m.get_mut("content").and_then(Value::as_array_mut) {
            let before = blocks.len();
            // Also unsigned thinking: reasoning a provider without signatures gave (chat
            // completions, Kiro, Cursor) reaches a Claude client with an empty signature,
            // which Anthropic refuses as invalid.
            blocks.retain(|b| {
                !(b["type"] == "thinking"
                    && b.get("signature")
                        .and_then(Value::as_str)
                        .is_none_or(|s| s.is_empty() || is_tagged(s)))
            });
            dropped |= blocks.len() != before;
        }
    }
    if dropped {
        thinking_off_without_signed_turn(body);
    }
}

/// With thinking on, Anthropic requires the assistant turn whose tool calls are being
/// answered to start with its signed thinking. When that thinking came from another family
/// and was dropped, thinking is turned off for this request instead of refused.
pub fn thinking_off_without_signed_turn(body: &mut Value) {
    let enabled = body
        .pointer("/thinking/type")
        .and_then(Value::as_str)
        .is_some_and(|t| t != "disabled");
    if !enabled {
        return;
    }
    let Some(messages) = body.get("messages").and_then(Value::as_array) else {
        return;
    };
    let [.., assistant, user] = messages.as_slice() else {
        return;
    };
    let answers_tools = user["role"] == "user"
        && user["content"]
            .as_array()
            .is_some_and(|c| c.iter().any(|b| b["type"] == "tool_result"));
    let first = assistant["content"]
        .as_array()
        .and_then(|c| c.first())
        .and_then(|b| b["type"].as_str());
    let starts_with_thinking = matches!(first, Some("thinking" | "redacted_thinking"));
    if assistant["role"] == "assistant"
        && answers_tools
        && !starts_with_thinking
        && let Some(obj) = body.as_object_mut()
    {
        obj.remove("thinking");
        if let Some(cfg) = obj.get_mut("output_config").and_then(Value::as_object_mut) {
            cfg.remove("effort");
        }
    }
}

/// [`strip_foreign`] for a Gemini body.
pub fn strip_gemini(body: &mut Value) {
    let Some(contents) = body.get_mut("contents").and_then(Value::as_array_mut) else {
        return;
    };
    for c in contents.iter_mut() {
        let Some(parts) = c.get_mut("parts").and_then(Value::as_array_mut) else {
            continue;
        };
        for p in parts.iter_mut() {
            let Some(obj) = p.as_object_mut() else {
                continue;
            };
            for key in ["thoughtSignature", "thought_signature"] {
                if obj
                    .get(key)
                    .and_then(Value::as_str)
                    .is_some_and(|s| s.starts_with(TAG_BASE64))
                {
                    obj.remove(key);
                }
            }
        }
        // A thought part left with neither text nor signature says nothing.
        parts.retain(|p| {
            !(p["thought"] == true
                && p.get("thoughtSignature").is_none()
                && p["text"].as_str().is_none_or(str::is_empty))
        });
    }
}

/// [`strip_foreign`] for a Responses body.
pub fn strip_responses(body: &mut Value) {
    let Some(input) = body.get_mut("input").and_then(Value::as_array_mut) else {
        return;
    };
    input.retain(|item| {
        !(item["type"] == "reasoning"
            && item
                .get("encrypted_content")
                .and_then(Value::as_str)
                .is_some_and(|e| is_tagged(e) || e.starts_with(TEXT_TAG)))
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_signature_goes_back_only_to_its_family() {
        let tagged = to_client("GSIG", Format::Gemini, Format::Claude);
        assert_eq!(tagged, "switchyard-sig:google:GSIG");
        assert_eq!(to_client("CSIG", Format::Claude, Format::Claude), "CSIG");
        assert_eq!(
            for_provider(&tagged, Format::Claude, Format::Gemini).as_deref(),
            Some("GSIG")
        );
        assert_eq!(for_provider(&tagged, Format::Claude, Format::Claude), None);
        // Untagged: the client's own family.
        assert_eq!(for_provider("CSIG", Format::Claude, Format::Gemini), None);
        assert_eq!(
            for_provider("CSIG", Format::Claude, Format::Claude).as_deref(),
            Some("CSIG")
        );
        assert_eq!(
            for_provider("G", Format::Gemini, Format::Gemini).as_deref(),
            Some("G")
        );
    }

    #[test]
    fn wrapped_text_goes_back_only_to_its_origin() {
        let w = wrap_text("let me think: a:b", Format::OpenAi);
        assert!(w.starts_with("switchyard-text:openai-chat:"));
        assert_eq!(
            carried(&w, Format::OpenAi),
            Carried::OwnText("let me think: a:b".into())
        );
        assert_eq!(carried(&w, Format::named("kiro")), Carried::Foreign);
        assert_eq!(carried(&w, Format::Claude), Carried::Foreign);
        let g = wrap_text("t", Format::Gemini);
        assert_eq!(carried(&g, Format::Gemini), Carried::OwnText("t".into()));
        assert_eq!(
            carried("switchyard-sig:google:X", Format::Gemini),
            Carried::Signature
        );
        assert_eq!(
            carried("switchyard-text:openai-chat:%%", Format::OpenAi),
            Carried::Foreign
        );
        // Passed through to a Responses provider, wrapped text is dropped like a foreign
        // signature: OpenAI could not decrypt it.
        let mut body = json!({"input": [
            {"type": "reasoning", "summary": [], "encrypted_content": g},
            {"type": "reasoning", "summary": [], "encrypted_content": "OWN"}]});
        strip_foreign(Format::Responses, &mut body);
        assert_eq!(body["input"].as_array().map(Vec::len), Some(1));
    }

    // Chat completions and the Responses API are both OpenAI's, but only the Responses API
    // signs reasoning: each registers a family of its own, so reasoning text one of them
    // gave is never replayed to the other.
    #[test]
    fn chat_and_responses_reasoning_keep_to_their_own_family() {
        assert_ne!(
            crate::wire::family(Format::OpenAi).as_str(),
            crate::wire::family(Format::Responses).as_str()
        );
        let from_responses = wrap_text("thought", Format::Responses);
        assert_eq!(carried(&from_responses, Format::OpenAi), Carried::Foreign);
        assert_eq!(
            carried(&from_responses, Format::Responses),
            Carried::OwnText("thought".into())
        );
        let from_chat = wrap_text("thought", Format::OpenAi);
        assert_eq!(carried(&from_chat, Format::Responses), Carried::Foreign);
        // A Responses signature reaching a chat client is tagged, and goes back to the
        // Responses API only.
        let sig = to_client("ENC", Format::Responses, Format::OpenAi);
        assert_eq!(sig, "switchyard-sig:openai:ENC");
        assert_eq!(for_provider(&sig, Format::OpenAi, Format::OpenAi), None);
        assert_eq!(
            for_provider(&sig, Format::OpenAi, Format::Responses).as_deref(),
            Some("ENC")
        );
    }

    #[test]
    fn passthrough_drops_foreign_thinking_and_thinking_that_needs_it() {
        let mut body = json!({"thinking": {"type": "enabled", "budget_tokens": 2000},
            "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "t", "signature": "switchyard-sig:google:X"},
                {"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]}]});
        strip_foreign(Format::Claude, &mut body);
        assert_eq!(body["messages"][1]["content"][0]["type"], "tool_use");
        assert!(body.get("thinking").is_none());
        let mut own = json!({"thinking": {"type": "enabled"}, "messages": [
            {"role": "assistant", "content": [{"type": "thinking", "thinking": "t", "signature": "S"}]}]});
        strip_foreign(Format::Claude, &mut own);
        assert_eq!(own["messages"][0]["content"][0]["signature"], "S");
        assert!(own.get("thinking").is_some());
    }

    #[test]
    fn passthrough_drops_unsigned_thinking_from_a_provider_that_signs_nothing() {
        let mut body = json!({"messages": [
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "from chat completions", "signature": ""},
                {"type": "thinking", "thinking": "no signature at all"},
                {"type": "text", "text": "answer"}]}]});
        strip_foreign(Format::Claude, &mut body);
        assert_eq!(
            body["messages"][0]["content"],
            json!([{"type": "text", "text": "answer"}])
        );
    }
}
