//! Translators between the hub and each client-facing format (for chat, and for the other
//! operations in `embeddings` and `images`). Each format registers itself, translators
//! included, with one `inventory::submit!` of a `WireFormat` in its own `wire.rs`. The Gemini pair is also public: the `gemini-cli`
//! envelope (in the gemini provider crate) wraps it and calls it directly.

pub(crate) mod claude;
pub(crate) mod completions;
pub(crate) mod embeddings;
pub mod gemini;
pub(crate) mod images;
mod openai;
pub(crate) mod responses;
