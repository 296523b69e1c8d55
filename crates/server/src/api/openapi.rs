//! The OpenAPI 3.1 document of the management API, generated from the handlers' annotations
//! and types (so it cannot drift from the code) and served at `GET /api/openapi.json`.

use std::sync::LazyLock;

use serde::Serialize;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::http::respond::{self, Body};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Switchyard management API",
        description = "Operate a running Switchyard: accounts, routing, client keys, settings, usage and the audit log. Every route but this document takes the admin key (server.admin_key_env) as a Bearer token or x-api-key."
    ),
    paths(
        super::accounts::list,
        super::account_add::create,
        super::accounts::get,
        super::accounts::enable,
        super::accounts::disable,
        super::accounts::remove,
        super::logins::start,
        super::logins::get,
        super::logins::complete,
        super::logins::import,
        super::routes::list_aliases,
        super::routes::create_alias,
        super::routes::get_alias,
        super::routes::update_alias,
        super::routes::delete_alias,
        super::routes::list_combos,
        super::routes::create_combo,
        super::routes::get_combo,
        super::routes::update_combo,
        super::routes::delete_combo,
        super::routes::reorder_combo,
        super::providers::list,
        super::providers::create,
        super::providers::get,
        super::providers::update,
        super::providers::patch,
        super::providers::delete,
        super::providers::test,
        super::models::stored,
        super::models::refresh,
        super::catalogue::list,
        super::catalogue::get,
        super::catalogue::put,
        super::catalogue::delete,
        super::settings::get,
        super::settings::update,
        super::reset::handle,
        super::preview::handle,
        super::audit::list,
        super::keys::list,
        super::keys::create,
        super::keys::read,
        super::keys::update,
        super::keys::delete,
        super::keys::revoke,
        super::usage::aggregate,
        super::usage::cluster_minutes,
        super::usage::requests,
        super::usage::request,
        super::usage::debug_list,
        super::usage::debug_file,
    ),
    modifiers(&AdminKey),
    security(("admin_key" = []), ("admin_key_header" = [])),
    tags(
        (name = "accounts", description = "Provider accounts: status, cooldowns, resets"),
        (name = "routing", description = "Aliases and combos (the file's read only, the database's) and where a model goes now"),
        (name = "providers", description = "Providers: the file's read only, the API's stored and in force at once; a one-request test"),
        (name = "models", description = "The model catalogue in force (set and removed here too), and each provider's own model list, fetched and stored with the time"),
        (name = "settings", description = "The configuration in force and where each value came from"),
        (name = "audit", description = "Who changed what"),
        (name = "keys", description = "Client keys: made with a secret shown once, limited, expired, revoked"),
        (name = "usage", description = "Usage aggregates, the request log and its debug logs"),
    )
)]
pub struct ApiDoc;

/// Every error the API answers, in the OpenAI error shape.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    pub message: String,
    /// `invalid_request_error`, `authentication_error`, `not_found_error`...
    #[serde(rename = "type")]
    pub kind: String,
    /// A stable code for scripts (`unknown_route`, `invalid_body`...), when there is one.
    pub code: Option<String>,
}

struct AdminKey;

impl Modify for AdminKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "admin_key_header",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("x-api-key"))),
        );
    }
}

/// The document as served, built once.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"cannot build the OpenAPI document: {e}\"}}"))
});

pub fn document() -> http::Response<Body> {
    respond::bytes(200, "application/json", DOCUMENT.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_openapi_3_1_and_lists_every_route() {
        let doc: serde_json::Value = serde_json::from_str(&DOCUMENT).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{doc}");
        for path in [
            "/api/accounts",
            "/api/accounts/reset",
            "/api/audit",
            "/api/keys",
            "/api/keys/{id}",
            "/api/keys/{id}/revoke",
            "/api/usage/aggregate",
            "/api/requests",
            "/api/requests/{request_id}",
            "/api/requests/{request_id}/debug",
            "/api/requests/{request_id}/debug/{file}",
            "/api/accounts/{provider}/{account}",
            "/api/accounts/{provider}/{account}/enable",
            "/api/accounts/import",
            "/api/logins",
            "/api/logins/{id}/complete",
            "/api/aliases/{name}",
            "/api/combos/{name}/order",
            "/api/settings",
        ] {
            assert!(doc["paths"].get(path).is_some(), "{path} missing");
        }
    }

    #[test]
    fn operation_ids_are_unique() {
        let doc: serde_json::Value = serde_json::from_str(&DOCUMENT).unwrap();
        let mut ids: Vec<&str> = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|item| item.as_object().unwrap().values())
            .filter_map(|op| op["operationId"].as_str())
            .collect();
        let all = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), all, "{ids:?}");
    }
}
