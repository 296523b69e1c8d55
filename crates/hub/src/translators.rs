//! Translators between the hub and each client-facing format. Each module registers its
//! pairs with `inventory::submit!`. The Gemini pair is also public: the `gemini-cli`
//! envelope (in the gemini provider crate) wraps it and calls it directly.

pub(crate) mod claude;
pub mod gemini;
pub(crate) mod responses;
