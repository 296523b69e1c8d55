//! The hub format (OpenAI chat completions) as Rust types: request, message, tool, tool
//! call, response and stream chunk.
//!
//! Translators used to build and read `serde_json::Value` trees; a stream stage built one
//! per event twice (parse, then the chunk it wrote). These types let a stage read a chunk
//! and write one without an intermediate tree. Every struct keeps the fields it does not
//! name in `extra` (`#[serde(flatten)]`), so what a client or provider sent that the hub
//! does not model (new fields, `logprobs`, vendor extensions) survives a round trip. They
//! are read in one pass by hand-written impls (`chat/de.rs`), written by serde's derive, and
//! turned into a `Value` by moving their parts (`chat/into_value.rs`).
//!
//! Field order follows the alphabet on purpose: `serde_json`'s `Map` (no `preserve_order`)
//! writes keys sorted, so a typed value with no extras serialises to the very bytes the
//! `Value` it replaces did. Fields a provider may send as `null` are [`Nullable`], so an
//! explicit `null` comes back as `null` rather than disappearing.

mod chunk;
mod de;
mod into_value;
mod request;
#[cfg(test)]
pub(crate) mod tests;

pub use chunk::{ChatChunk, ChatUsage, ChunkChoice, Delta};
pub use request::{
    ChatRequest, ChatResponse, Content, FunctionCall, FunctionDef, Message, NamedToolChoice, Part,
    ResponseChoice, Stop, Tool, ToolCall, ToolChoice,
};

pub(crate) use de::WHOLE_VALUE;
pub use into_value::IntoValue;
use serde_json::{Map, Value};

/// Unknown fields, kept as they came.
pub type Extra = Map<String, Value>;

/// A field that may be absent (`None`), `null` (`Some(None)`) or set.
pub type Nullable<T> = Option<Option<T>>;

/// The set value of a [`Nullable`] field.
pub(crate) fn set<T>(field: &Nullable<T>) -> Option<&T> {
    field.as_ref().and_then(Option::as_ref)
}
