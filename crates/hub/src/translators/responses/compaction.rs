//! Codex's remote compaction (`x-codex-beta-features: remote_compaction_v2`): Codex ends a
//! request's `input` with `{"type": "compaction_trigger"}` and expects exactly one
//! `{"type": "compaction", "encrypted_content"}` output item back, which it keeps at the end of
//! its new, shorter history. OpenAI encrypts that summary; a provider of another format has
//! neither the trigger nor the item. For those the trigger becomes a last user turn asking for
//! a handoff summary, the answer's text comes back as a `compaction` item whose
//! `encrypted_content` is that summary marked as the proxy's own, and the item, sent back on
//! later turns, becomes a system turn carrying the summary (for any provider, a Responses
//! one included, since OpenAI could not decrypt it).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

/// Starts a summary the proxy wrote: `switchyard-compaction:<base64 summary>`.
pub(super) const PREFIX: &str = "switchyard-compaction:";

/// Item types that carry a compaction summary.
pub(super) const ITEMS: &[&str] = &["compaction", "compaction_summary", "context_compaction"];

/// What the model is asked when a provider has no compaction of its own.
pub(super) const PROMPT: &str = "Context checkpoint: write a handoff summary of this \
conversation so far for another model that will continue the work. Include the user's goals, \
what has been done and decided, the current state (files, commands, results that matter) and \
what remains to do. Answer with the summary only; do not call tools.";

/// How the summary is introduced when it comes back as a system turn.
const INTRO: &str = "Earlier turns of this conversation were compacted. Summary of the \
conversation so far:\n\n";

pub(super) fn wrap(summary: &str) -> String {
    format!("{PREFIX}{}", BASE64.encode(summary))
}

/// The summary the proxy wrote into a compaction item's `encrypted_content`; `None` for
/// OpenAI's own (encrypted) summaries.
pub(super) fn summary(item: &Value) -> Option<String> {
    let enc = item
        .get("encrypted_content")?
        .as_str()?
        .strip_prefix(PREFIX)?;
    let bytes = BASE64.decode(enc).ok()?;
    String::from_utf8(bytes).ok()
}

/// The system turn a summary becomes.
pub(super) fn system_text(summary: &str) -> String {
    format!("{INTRO}{summary}")
}

/// A body passed through to a Responses provider: the proxy's own compaction items (written
/// when another provider answered the trigger) become developer messages, which any
/// Responses backend reads; OpenAI could not decrypt them.
pub fn own_items_to_messages(body: &mut Value) {
    let Some(input) = body.get_mut("input").and_then(Value::as_array_mut) else {
        return;
    };
    for item in input.iter_mut() {
        let ty = item.get("type").and_then(Value::as_str).unwrap_or_default();
        if !ITEMS.contains(&ty) {
            continue;
        }
        if let Some(s) = summary(item) {
            *item = json!({"type": "message", "role": "developer",
                "content": [{"type": "input_text", "text": system_text(&s)}]});
        }
    }
}

/// The output item that carries the summary back to the client.
pub(super) fn item(id: String, summary: &str) -> Value {
    json!({"id": id, "type": "compaction", "encrypted_content": wrap(summary)})
}
