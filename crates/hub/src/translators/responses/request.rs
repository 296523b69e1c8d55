//! Requests: Responses -> hub (a client such as Codex) and hub -> Responses (a provider).
//!
//! The hub -> Responses half reads the typed hub ([`crate::chat::ChatRequest`]); the
//! Responses -> hub half still builds JSON.

mod content;
mod from_hub;
mod input;
mod items;
mod to_hub;

pub(super) use from_hub::hub_to_responses;
pub(super) use to_hub::responses_to_hub;

use self::{content::*, from_hub::*, input::*, items::*, to_hub::*};

use super::{
    REDACTED_PREFIX, custom_args, flat_name, mark_custom, mark_namespace, parse_provider_signature,
};

/// History items of hosted tools the hub cannot express; they are left out.
pub(super) const DROPPED_ITEMS: &[&str] = &[
    "web_search_call",
    "file_search_call",
    "computer_call",
    "computer_call_output",
    "image_generation_call",
    "code_interpreter_call",
    "mcp_list_tools",
    "mcp_approval_request",
    "mcp_approval_response",
    "mcp_call",
    "tool_search_call",
    "tool_search_output",
];
