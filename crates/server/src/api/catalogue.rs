//! The model catalogue through the API: every entry in force (shipped in `data/models.toml`,
//! from the file's `[[models]]`, or set here) and entries set or removed here. An entry set
//! here is kept in the database, laid over the others, and prices the next request.

use std::sync::Arc;

use http::Request;
use hyper::body::Incoming;
use serde::Serialize;
use serde_json::json;
use switchyard_hub::{ApiError, ErrorKind};
use utoipa::ToSchema;

use crate::api::audit::{self, Change};
use crate::api::{Actor, Answer, body, ok, with_db};
use crate::catalogue::{ModelEntry, ModelInfo, Origin};
use crate::state::app::App;
use crate::state::usage_store;

/// USD per million tokens.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PricesView {
    pub input: f64,
    pub output: f64,
    pub cache_read: f64,
    pub cache_write: f64,
    pub reasoning: f64,
}

/// One catalogue entry in force.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ModelView {
    pub id: String,
    pub aliases: Vec<String>,
    /// The provider kinds it is served by.
    pub kinds: Vec<String>,
    pub context: u64,
    pub max_output: u64,
    pub modalities: Vec<String>,
    /// None: no price (requests are recorded without a cost).
    pub prices: Option<PricesView>,
    pub checked: String,
    pub source: String,
    /// `catalogue` (shipped), `config` (the file's `[[models]]`) or `api` (set here).
    pub origin: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ModelList {
    pub models: Vec<ModelView>,
}

fn view(m: &ModelInfo) -> ModelView {
    ModelView {
        id: m.id.clone(),
        aliases: m.aliases.clone(),
        kinds: m.kinds.clone(),
        context: m.context,
        max_output: m.max_output,
        modalities: m.modalities.clone(),
        prices: m.prices.map(|p| PricesView {
            input: p.input,
            output: p.output,
            cache_read: p.cache_read,
            cache_write: p.cache_write,
            reasoning: p.reasoning,
        }),
        checked: m.checked.clone(),
        source: m.source.clone(),
        origin: m.origin.as_str().to_owned(),
    }
}

fn in_force(app: &App) -> Vec<ModelView> {
    app.snapshot()
        .config
        .catalogue
        .models()
        .into_iter()
        .map(view)
        .collect()
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!(
        "no model `{id}` in the catalogue (see GET /api/models)"
    ))
    .with_code("no_such_model")
}

/// Lists the catalogue in force.
#[utoipa::path(
    operation_id = "list_models",
    get,
    path = "/api/models",
    tag = "models",
    responses(
        (status = 200, description = "Every catalogue entry in force, with where it comes from", body = ModelList),
    )
)]
pub async fn list(app: Arc<App>) -> Answer {
    ok(
        200,
        &ModelList {
            models: in_force(&app),
        },
    )
}

/// Reads one catalogue entry.
#[utoipa::path(
    operation_id = "get_model",
    get,
    path = "/api/models/{id}",
    tag = "models",
    params(("id" = String, Path, description = "The model id")),
    responses(
        (status = 200, description = "The entry in force", body = ModelView),
        (status = 404, description = "No such model", body = super::openapi::ErrorBody),
    )
)]
pub async fn get(app: Arc<App>, id: &str) -> Answer {
    // An entry set here for fewer kinds leaves the shipped one in force for the others:
    // the one set here is shown first.
    let mut found: Vec<ModelView> = in_force(&app).into_iter().filter(|m| m.id == id).collect();
    found.sort_by_key(|m| m.origin != Origin::Api.as_str());
    match found.into_iter().next() {
        Some(m) => ok(200, &m),
        None => Err(not_found(id)),
    }
}

/// Sets a catalogue entry (a model's limits and prices), in force for the next request.
#[utoipa::path(
    operation_id = "set_model",
    put,
    path = "/api/models/{id}",
    tag = "models",
    params(("id" = String, Path, description = "The model id")),
    request_body(content = serde_json::Value, description = "An entry as `data/models.toml` writes one: kinds, context, max_output, input, output, cache_read, cache_write, reasoning, modalities, tools, above; `id`, when given, must match the path"),
    responses(
        (status = 200, description = "The entry in force", body = ModelView),
        (status = 400, description = "An entry the catalogue would refuse", body = super::openapi::ErrorBody),
    )
)]
pub async fn put(app: Arc<App>, req: Request<Incoming>, actor: Actor, id: String) -> Answer {
    let mut asked: serde_json::Value = body::read(&app, req).await?;
    match asked.get("id").and_then(serde_json::Value::as_str) {
        Some(named) if named != id => {
            return Err(body::invalid(format!(
                "the body names `{named}`, the path `{id}`"
            )));
        }
        _ => {
            if let Some(map) = asked.as_object_mut() {
                map.insert("id".into(), json!(id));
            }
        }
    }
    let entry: ModelEntry =
        serde_json::from_value(asked).map_err(|e| body::invalid(format!("model entry: {e}")))?;
    let mut stored = with_db(&app, |conn| usage_store::load_model_overrides(conn)).await?;
    stored.retain(|e| e.id != id);
    stored.push(entry.clone());
    // Checked as the catalogue checks its own entries before anything is stored.
    (*app.snapshot().config.catalogue)
        .clone()
        .with_api_overrides(&stored)
        .map_err(|e| body::invalid(e.to_string()))?;
    let before = in_force(&app).into_iter().find(|m| m.id == id);
    let saved = entry.clone();
    with_db(&app, move |conn| {
        usage_store::save_model_override(conn, &saved)
    })
    .await?;
    apply(&app, stored).await?;
    let after = in_force(&app)
        .into_iter()
        .find(|m| m.id == id && m.origin == Origin::Api.as_str())
        .ok_or_else(|| ApiError::internal("the entry was stored but is not in force"))?;
    audit::record(
        &app,
        &actor,
        Change {
            action: "model.set",
            target: id,
            before: before.map(|b| json!(b)),
            after: Some(json!(after)),
        },
    )
    .await?;
    ok(200, &after)
}

/// Removes an entry set through the API; the shipped or file's entry (if any) is in force
/// again.
#[utoipa::path(
    operation_id = "delete_model",
    delete,
    path = "/api/models/{id}",
    tag = "models",
    params(("id" = String, Path, description = "The model id")),
    responses(
        (status = 200, description = "The entry removed", body = ModelView),
        (status = 404, description = "No entry of that id was set through the API", body = super::openapi::ErrorBody),
        (status = 409, description = "The entry is shipped or the file's", body = super::openapi::ErrorBody),
    )
)]
pub async fn delete(app: Arc<App>, actor: Actor, id: String) -> Answer {
    let mut stored = with_db(&app, |conn| usage_store::load_model_overrides(conn)).await?;
    let Some(at) = stored.iter().position(|e| e.id == id) else {
        return Err(match in_force(&app).into_iter().find(|m| m.id == id) {
            Some(_) => ApiError::new(
                409,
                ErrorKind::InvalidRequest,
                format!("model `{id}` is shipped or set in the config file; PUT replaces it here, DELETE removes only what PUT set"),
            )
            .with_code("not_set_here"),
            None => not_found(&id),
        });
    };
    let before = in_force(&app)
        .into_iter()
        .find(|m| m.id == id && m.origin == Origin::Api.as_str());
    stored.remove(at);
    let i = id.clone();
    with_db(&app, move |conn| {
        usage_store::remove_model_override(conn, &i)
    })
    .await?;
    apply(&app, stored).await?;
    audit::record(
        &app,
        &actor,
        Change {
            action: "model.delete",
            target: id.clone(),
            before: before.as_ref().map(|b| json!(b)),
            after: None,
        },
    )
    .await?;
    ok(200, &before.ok_or_else(|| not_found(&id))?)
}

async fn apply(app: &Arc<App>, stored: Vec<ModelEntry>) -> Result<(), ApiError> {
    app.apply_stored(|s| s.stored_models = stored)
        .await
        .map_err(|e| ApiError::internal(format!("the change is stored but not in force: {e}")))
}
