//! `/api/providers/{name}/models`: a provider's own model list (discovery, see
//! `catalogue::discovery`), as last stored and refreshed on demand.

use std::sync::Arc;

use switchyard_hub::ApiError;

use crate::api::audit::{self, Change};
use crate::api::{Actor, Answer, ok, with_db};
use crate::catalogue::discovery::{self, ProviderModels};
use crate::state::app::{App, Provider};

fn provider(app: &App, name: &str) -> Result<Arc<Provider>, ApiError> {
    app.snapshot()
        .providers
        .iter()
        .find(|p| p.name == name)
        .cloned()
        .ok_or_else(|| {
            ApiError::not_found(format!("no provider named `{name}` is configured"))
                .with_code("provider_not_found")
        })
}

/// The provider's model list as last fetched.
#[utoipa::path(
    operation_id = "get_provider_models",
    get,
    path = "/api/providers/{name}/models",
    tag = "models",
    params(("name" = String, Path, description = "The provider's name")),
    responses(
        (status = 200, description = "The list as last fetched, each model marked priced or not", body = ProviderModels),
        (status = 404, description = "No such provider, or its list was never fetched", body = super::openapi::ErrorBody),
    )
)]
pub async fn stored(app: Arc<App>, name: &str) -> Answer {
    let p = provider(&app, name)?;
    let lists = with_db(&app, |conn| discovery::load(conn)).await?;
    let Some((_, fetched_ms, models)) = lists.into_iter().find(|(n, _, _)| *n == p.name) else {
        return Err(ApiError::not_found(format!(
            "the model list of provider `{name}` was never fetched; POST /api/providers/{name}/models/refresh"
        ))
        .with_code("never_fetched"));
    };
    ok(
        200,
        &discovery::view(
            &app.snapshot().config.catalogue,
            &p.name,
            &p.kind,
            fetched_ms,
            models,
        ),
    )
}

/// Fetches the provider's model list now (with one of its accounts), stores it with the
/// time, and answers it.
#[utoipa::path(
    operation_id = "refresh_provider_models",
    post,
    path = "/api/providers/{name}/models/refresh",
    tag = "models",
    params(("name" = String, Path, description = "The provider's name")),
    responses(
        (status = 200, description = "The list just fetched, each model marked priced or not", body = ProviderModels),
        (status = 400, description = "The provider's API has no model list (Codex, Kiro, Cursor, Code Assist)", body = super::openapi::ErrorBody),
        (status = 404, description = "No such provider", body = super::openapi::ErrorBody),
        (status = 502, description = "The provider refused or garbled its list", body = super::openapi::ErrorBody),
        (status = 503, description = "No account of the provider can be used", body = super::openapi::ErrorBody),
    )
)]
pub async fn refresh(app: Arc<App>, actor: Actor, name: &str) -> Answer {
    let p = provider(&app, name)?;
    let list = discovery::refresh(&app, &p).await?;
    tracing::info!(by = %actor.0, provider = %p.name, models = list.models.len(), "model list refreshed");
    let ids: Vec<&str> = list.models.iter().map(|m| m.model.id.as_str()).collect();
    audit::record(
        &app,
        &actor,
        Change {
            action: "provider.models_refresh",
            target: p.name.clone(),
            before: None,
            after: Some(serde_json::json!({"fetched_at": list.fetched_at, "models": ids})),
        },
    )
    .await?;
    ok(200, &list)
}
