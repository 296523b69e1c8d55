//! Translators between the hub and each client-facing format. Each module registers its
//! pairs with `inventory::submit!`.

mod claude;
mod gemini;
mod responses;
