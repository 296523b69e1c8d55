//! Requests: Responses -> hub (a client such as Codex) and hub -> Responses (a provider).
//!
//! Both halves are written on the typed hub ([`crate::chat::ChatRequest`]): the Responses ->
//! hub half builds it, the hub -> Responses half reads it, so a Responses client in front of
//! a typed provider half (Claude) never goes through hub JSON.

mod content;
mod from_hub;
mod input;
mod items;
#[cfg(test)]
mod tests;
mod to_hub;
mod tools;

pub(super) use from_hub::hub_to_responses;
pub(super) use to_hub::responses_into_hub;

use self::{content::*, from_hub::*, input::*, items::*, tools::*};

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

/// The request as the hub JSON a JSON provider translator receives from the pipeline, for
/// the tests that read the translation as JSON.
#[cfg(test)]
pub(super) fn responses_to_hub(
    body: serde_json::Value,
    ctx: &mut crate::ctx::TranslateCtx,
) -> Result<serde_json::Value, crate::error::TranslateError> {
    crate::step::HubRequest::Chat(Box::new(responses_into_hub(body, ctx)?)).into_value()
}
