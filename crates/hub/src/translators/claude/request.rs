//! Request bodies: Anthropic Messages <-> hub chat completions.
//!
//! Both directions work on the typed hub ([`crate::chat::ChatRequest`]): the Claude -> hub
//! half builds one, the hub -> Claude half reads one, and the pipeline parses a JSON hub
//! request into it only when the client half did not already build it typed. Claude's own
//! side stays `serde_json::Value`: a client's blocks are checked field by field with errors
//! that name them, and the provider body is written as the JSON it is.

mod assistant;
mod attachments;
mod content;
mod from_hub;
mod thinking;
mod to_hub;
mod tools;

pub(super) use from_hub::hub_request_to_claude;
pub(super) use to_hub::claude_request_to_hub;

use serde_json::{Map, Value};

use super::str_of;
use crate::chat::Extra;
use crate::error::TranslateError;

/// `max_tokens` when the hub request names none (Anthropic requires it).
const DEFAULT_MAX_TOKENS: u64 = 8192;
/// `max_tokens` when the hub request names none but asks for reasoning: room to think and answer.
const DEFAULT_MAX_TOKENS_THINKING: u64 = 32000;

fn block_type<'a>(block: &'a Value, path: &str) -> Result<&'a str, TranslateError> {
    if !block.is_object() {
        return Err(TranslateError::invalid(format!(
            "{path}: must be a content block object"
        )));
    }
    str_of(block, "type").ok_or_else(|| TranslateError::invalid(format!("{path}.type: required")))
}

fn required_str<'a>(v: &'a Value, key: &str, path: &str) -> Result<&'a str, TranslateError> {
    str_of(v, key)
        .ok_or_else(|| TranslateError::invalid(format!("{path}.{key}: required, must be a string")))
}

/// A required string field of the typed hub, or the error naming it.
fn required<'a>(v: Option<&'a str>, field: &str) -> Result<&'a str, TranslateError> {
    v.ok_or_else(|| TranslateError::invalid(format!("{field}: required, must be a string")))
}

/// A Claude block's `cache_control` into hub `extra`.
fn cache_control_to_extra(from: &Value) -> Extra {
    let mut extra = Map::new();
    if let Some(cc) = from.get("cache_control").filter(|v| !v.is_null()) {
        extra.insert("cache_control".into(), cc.clone());
    }
    extra
}

/// A hub part's or tool's `cache_control` into a Claude block.
fn copy_cache_control(from: &Extra, to: &mut Map<String, Value>) {
    if let Some(cc) = from.get("cache_control").filter(|v| !v.is_null()) {
        to.insert("cache_control".into(), cc.clone());
    }
}
