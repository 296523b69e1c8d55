//! Translators between the hub and each client-facing format. Each module registers its
//! pairs with `inventory::submit!`.

pub(crate) mod claude;
pub(crate) mod gemini;
pub(crate) mod responses;
