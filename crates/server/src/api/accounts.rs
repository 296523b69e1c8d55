//! `GET /api/accounts`: every account in use with its status, health, cooldowns and today's
//! counters.

use std::sync::Arc;

use crate::api::{Answer, ok};
use crate::state::app::App;

/// Lists the accounts in use.
#[utoipa::path(
    get,
    path = "/api/accounts",
    tag = "accounts",
    responses(
        (status = 200, description = "Every account in use, with status, health, cooldowns and today's counters", body = serde_json::Value),
        (status = 401, description = "No or wrong admin key", body = super::openapi::ErrorBody),
        (status = 403, description = "The admin API is off (no admin key configured)", body = super::openapi::ErrorBody),
    )
)]
pub fn list(app: &Arc<App>) -> Answer {
    ok(200, &app.accounts_report())
}
