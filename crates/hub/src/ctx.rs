use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::format::Format;

/// Per-request state shared by the request, response and stream translators of one request.
///
/// Request translation may rename things the provider cannot accept (tool names, for one);
/// the response side must undo exactly that, so the map travels with the request.
#[derive(Debug, Clone)]
pub struct TranslateCtx {
    pub client: Format,
    pub provider: Format,
    /// The model name sent upstream.
    pub model: String,
    pub stream: bool,
    /// Whether the client asked for a usage chunk at the end of an OpenAI stream.
    pub client_wants_usage: bool,
    pub tool_names: ToolNameMap,
    /// The prompt's size in tokens, estimated by a request translator whose provider reports
    /// no usage (Cursor), so its stream stage can report an estimate flagged as one.
    pub prompt_estimate: u64,
    /// The client sent one item in a format that also has a batch shape (Gemini's
    /// `:embedContent` beside `:batchEmbedContents`), so its answer is one item too.
    pub single_item: bool,
    /// The client asked for embeddings as base64 (`encoding_format: "base64"`) from a
    /// provider that only sends floats.
    pub base64_embeddings: bool,
    /// A stateless Responses client asked for `include: ["reasoning.encrypted_content"]`:
    /// every reasoning item it gets carries `encrypted_content`, unsigned reasoning text
    /// wrapped with its origin (`provenance::wrap_text`).
    pub carry_reasoning: bool,
    /// A Responses client asked for a compaction (`compaction_trigger`) that the provider
    /// answers with a summary: the answer goes back as one `compaction` item.
    pub compaction: bool,
    /// Minted once per request: the ids a translator gives the answer (a translated
    /// Responses id and its items) are built from it, not from the upstream's id, because
    /// an upstream may give every answer the same id and Switchyard keys kept responses
    /// (`previous_response_id`) by the id the client was sent. The streamed and the whole
    /// answer of one request agree.
    pub answer_id: String,
}

impl TranslateCtx {
    pub fn new(client: Format, provider: Format, model: impl Into<String>, stream: bool) -> Self {
        Self {
            client,
            provider,
            model: model.into(),
            stream,
            client_wants_usage: false,
            tool_names: ToolNameMap::default(),
            prompt_estimate: 0,
            single_item: false,
            base64_embeddings: false,
            carry_reasoning: false,
            compaction: false,
            answer_id: unique_suffix(),
        }
    }
}

/// A short string no other call in this process (nor an earlier one: it starts with the
/// time) returns.
pub(crate) fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = crate::clock::now_nanos();
    format!("{t:x}{n:x}")
}

/// A reversible map between the tool names a client uses and the names a provider accepts.
#[derive(Debug, Clone, Default)]
pub struct ToolNameMap {
    to_provider: HashMap<String, String>,
    to_client: HashMap<String, String>,
}

impl ToolNameMap {
    /// Records that `client` is sent upstream as `provider`.
    pub fn insert(&mut self, client: &str, provider: &str) {
        self.to_provider
            .insert(client.to_owned(), provider.to_owned());
        self.to_client
            .insert(provider.to_owned(), client.to_owned());
    }

    pub fn provider_name<'a>(&'a self, client: &'a str) -> &'a str {
        self.to_provider.get(client).map_or(client, String::as_str)
    }

    pub fn client_name<'a>(&'a self, provider: &'a str) -> &'a str {
        self.to_client
            .get(provider)
            .map_or(provider, String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.to_provider.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_names_map_both_ways_and_default_to_identity() {
        let mut m = ToolNameMap::default();
        m.insert("mcp__srv__Read File", "mcp__srv__Read_File");
        assert_eq!(
            m.provider_name("mcp__srv__Read File"),
            "mcp__srv__Read_File"
        );
        assert_eq!(m.client_name("mcp__srv__Read_File"), "mcp__srv__Read File");
        assert_eq!(m.client_name("Bash"), "Bash");
    }
}
