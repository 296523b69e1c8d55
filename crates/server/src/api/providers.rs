//! Providers through the API. The config file's are listed as `file` and refused on change
//! (409: the file is the user's); the API's are stored in the database as the JSON form of
//! a `[[providers]]` table, checked exactly as the file's are, and put in force at once (the
//! snapshot is rebuilt; unchanged providers keep their accounts' state). A provider can be
//! tested with one tiny request, which is recorded like any other.

use std::sync::Arc;

use http::Request;
use hyper::body::Incoming;
use serde::Serialize;
use serde_json::{Value, json};
use switchyard_hub::{ApiError, ErrorKind};
use utoipa::ToSchema;

use crate::api::audit::{self, Change};
use crate::api::routes::RouteSource;
use crate::api::{Actor, Answer, body, mask, ok, with_db};
use crate::config::{self, ProviderConfig};
use crate::state::app::App;
use crate::state::usage_store;

/// One account of a provider, its key masked.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProviderAccountView {
    pub name: String,
    /// The key's first characters, or null when the account sends none.
    pub key: Option<String>,
}

/// A provider as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProviderView {
    pub name: String,
    /// The wire format and login: `openai`, `claude`, `gemini`...
    pub kind: String,
    pub base_url: String,
    pub models: Vec<String>,
    /// Accounts with API keys declared with the provider (logins are under /api/accounts).
    pub accounts: Vec<ProviderAccountView>,
    pub strategy: String,
    pub source: RouteSource,
    /// False for a stored provider the server does not run: the file declares the same
    /// name, or the definition no longer passes its checks (see `error`).
    pub in_force: bool,
    pub error: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderList {
    pub providers: Vec<ProviderView>,
}

/// How a test request went.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderTest {
    pub provider: String,
    pub model: String,
    /// True when the provider answered the request.
    pub ok: bool,
    /// The status the client would have seen.
    pub status: u16,
    /// From sending to the whole answer, in milliseconds.
    pub latency_ms: u64,
    /// The provider's answer text (a few words at most), when it answered.
    pub reply: Option<String>,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// The usage row the test left (`GET /api/requests/{id}`).
    pub request_id: String,
}

fn view(p: &ProviderConfig, source: RouteSource) -> ProviderView {
    ProviderView {
        name: p.name.clone(),
        kind: p.kind.clone(),
        base_url: p.base_url.clone(),
        models: p.models.clone(),
        accounts: p
            .accounts
            .iter()
            .map(|a| ProviderAccountView {
                name: a.name.clone(),
                key: (!a.key.is_empty()).then(|| mask(a.key.expose())),
            })
            .collect(),
        strategy: serde_json::to_value(p.strategy)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        source,
        in_force: true,
        error: None,
    }
}

/// Every provider: the file's, then the stored ones.
pub async fn views(app: &Arc<App>) -> Result<Vec<ProviderView>, ApiError> {
    let stored = with_db(app, |conn| usage_store::load_providers(conn)).await?;
    let live = app.snapshot();
    let sources = app.reconfigure.lock().await;
    let file = &sources.file;
    let mut out: Vec<ProviderView> = file
        .providers
        .iter()
        .map(|p| view(p, RouteSource::File))
        .collect();
    let env = |name: &str| std::env::var(name).ok();
    for (name, definition) in &stored {
        let mut v = match config::stored_provider(definition, file, &env) {
            Ok((p, _)) => view(&p, RouteSource::Database),
            Err(e) => ProviderView {
                name: name.clone(),
                kind: String::new(),
                base_url: String::new(),
                models: Vec::new(),
                accounts: Vec::new(),
                strategy: String::new(),
                source: RouteSource::Database,
                in_force: false,
                error: Some(e.0),
            },
        };
        if file.providers.iter().any(|p| &p.name == name) {
            v.in_force = false;
            v.error = Some("the config file declares a provider of the same name".into());
        } else if v.error.is_none() {
            v.in_force = live.provider(name).is_some();
        }
        out.push(v);
    }
    Ok(out)
}

fn not_found(name: &str) -> ApiError {
    ApiError::not_found(format!(
        "no provider named `{name}` (see GET /api/providers)"
    ))
    .with_code("no_such_provider")
}

fn conflict(message: String, code: &'static str) -> ApiError {
    ApiError::new(409, ErrorKind::InvalidRequest, message).with_code(code)
}

/// Lists the providers, the file's and the database's.
#[utoipa::path(
    operation_id = "list_providers",
    get,
    path = "/api/providers",
    tag = "providers",
    responses(
        (status = 200, description = "Every provider, keys masked", body = ProviderList),
        (status = 401, description = "No or wrong admin key", body = super::openapi::ErrorBody),
    )
)]
pub async fn list(app: Arc<App>) -> Answer {
    ok(
        200,
        &ProviderList {
            providers: views(&app).await?,
        },
    )
}

/// Reads one provider.
#[utoipa::path(
    operation_id = "get_provider",
    get,
    path = "/api/providers/{name}",
    tag = "providers",
    params(("name" = String, Path, description = "The provider")),
    responses(
        (status = 200, description = "The provider, keys masked", body = ProviderView),
        (status = 404, description = "No such provider", body = super::openapi::ErrorBody),
    )
)]
pub async fn get(app: Arc<App>, name: &str) -> Answer {
    match views(&app).await?.into_iter().find(|p| p.name == name) {
        Some(p) => ok(200, &p),
        None => Err(not_found(name)),
    }
}

/// Creates a provider, in force at once.
#[utoipa::path(
    operation_id = "create_provider",
    post,
    path = "/api/providers",
    tag = "providers",
    request_body(content = serde_json::Value, description = "A `[[providers]]` table as JSON: name, kind, base_url, models, accounts (name, api_key or api_key_env, priority, weight...), headers, options, strategy"),
    responses(
        (status = 201, description = "The provider, in force", body = ProviderView),
        (status = 400, description = "A definition the config file would refuse", body = super::openapi::ErrorBody),
        (status = 409, description = "The name is taken", body = super::openapi::ErrorBody),
    )
)]
pub async fn create(app: Arc<App>, req: Request<Incoming>, actor: Actor) -> Answer {
    let definition: Value = body::read(&app, req).await?;
    let name = definition
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| body::invalid("a provider needs a `name`".into()))?
        .to_owned();
    save(app, actor, name, definition, true).await
}

/// Replaces a stored provider's definition (its accounts keep their state when their
/// settings did not change).
#[utoipa::path(
    operation_id = "update_provider",
    put,
    path = "/api/providers/{name}",
    tag = "providers",
    params(("name" = String, Path, description = "The provider")),
    request_body(content = serde_json::Value, description = "The whole new definition; `name`, when given, must match the path"),
    responses(
        (status = 200, description = "The provider, in force", body = ProviderView),
        (status = 400, description = "A definition the config file would refuse", body = super::openapi::ErrorBody),
        (status = 404, description = "No such stored provider", body = super::openapi::ErrorBody),
        (status = 409, description = "The provider is defined in the config file", body = super::openapi::ErrorBody),
    )
)]
pub async fn update(app: Arc<App>, req: Request<Incoming>, actor: Actor, name: String) -> Answer {
    let mut definition: Value = body::read(&app, req).await?;
    match definition.get("name").and_then(Value::as_str) {
        Some(n) if n != name => {
            return Err(body::invalid(format!(
                "the body names `{n}`, the path `{name}`; a provider is renamed by creating the new one and deleting the old"
            )));
        }
        Some(_) => {}
        None => {
            if let Some(map) = definition.as_object_mut() {
                map.insert("name".into(), Value::String(name.clone()));
            }
        }
    }
    save(app, actor, name, definition, false).await
}

/// Changes some fields of a stored provider: the body is a JSON merge patch (RFC 7396) over
/// its stored definition, so a change of base URL or models keeps the accounts and their keys
/// (which no answer shows, so a client could not send them back whole).
#[utoipa::path(
    operation_id = "patch_provider",
    patch,
    path = "/api/providers/{name}",
    tag = "providers",
    params(("name" = String, Path, description = "The provider")),
    request_body(content = serde_json::Value, description = "The fields to change (`null` removes one); `name` cannot change"),
    responses(
        (status = 200, description = "The provider, in force", body = ProviderView),
        (status = 400, description = "A definition the config file would refuse", body = super::openapi::ErrorBody),
        (status = 404, description = "No such stored provider", body = super::openapi::ErrorBody),
        (status = 409, description = "The provider is defined in the config file", body = super::openapi::ErrorBody),
    )
)]
pub async fn patch(app: Arc<App>, req: Request<Incoming>, actor: Actor, name: String) -> Answer {
    let changes: Value = body::read(&app, req).await?;
    if !changes.is_object() {
        return Err(body::invalid("a provider patch is a JSON object".into()));
    }
    if let Some(n) = changes.get("name").and_then(Value::as_str)
        && n != name
    {
        return Err(body::invalid(format!(
            "the body names `{n}`, the path `{name}`; a provider is renamed by creating the new one and deleting the old"
        )));
    }
    let n = name.clone();
    let stored = with_db(&app, move |conn| usage_store::load_providers(conn))
        .await?
        .into_iter()
        .find(|(s, _)| *s == n)
        .map(|(_, d)| d);
    let Some(mut definition) = stored else {
        // The file's get their 409 from `save`; anything else is unknown.
        let file = app.reconfigure.lock().await.file.clone();
        if file.providers.iter().any(|p| p.name == name) {
            return save(app, actor, name, changes, false).await;
        }
        return Err(not_found(&name));
    };
    merge_patch(&mut definition, changes);
    save(app, actor, name, definition, false).await
}

/// RFC 7396: objects merge key by key, `null` removes, anything else replaces.
fn merge_patch(target: &mut Value, patch: Value) {
    let Value::Object(changes) = patch else {
        *target = patch;
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    if let Value::Object(map) = target {
        for (k, v) in changes {
            if v.is_null() {
                map.remove(&k);
            } else {
                merge_patch(map.entry(k).or_insert(Value::Null), v);
            }
        }
    }
}

/// Checks, stores, puts in force and audits a definition.
async fn save(
    app: Arc<App>,
    actor: Actor,
    name: String,
    definition: Value,
    creating: bool,
) -> Answer {
    if !definition.is_object() {
        return Err(body::invalid("a provider is a JSON object".into()));
    }
    let file = app.reconfigure.lock().await.file.clone();
    if file.providers.iter().any(|p| p.name == name) {
        return Err(conflict(
            format!(
                "provider `{name}` is defined in the config file {}; change it there",
                file.file.display()
            ),
            "defined_in_file",
        ));
    }
    let env = |var: &str| std::env::var(var).ok();
    let (checked, warnings) =
        config::stored_provider(&definition, &file, &env).map_err(|e| body::invalid(e.0))?;
    if !app.kinds.contains_key(checked.kind.as_str()) {
        let mut known: Vec<_> = app.kinds.keys().copied().collect();
        known.sort_unstable();
        return Err(body::invalid(format!(
            "provider `{name}`: unknown kind `{}` (known: {})",
            checked.kind,
            known.join(", ")
        )));
    }
    let before = views(&app).await?.into_iter().find(|p| p.name == name);
    match (&before, creating) {
        (Some(_), true) => {
            return Err(conflict(
                format!(
                    "a provider named `{name}` exists; change it with PUT /api/providers/{name}"
                ),
                "conflict",
            ));
        }
        (None, false) => return Err(not_found(&name)),
        _ => {}
    }
    let (n, d) = (name.clone(), definition);
    let now = crate::routing::epoch_ms(switchyard_hub::clock::now());
    with_db(&app, move |conn| {
        usage_store::save_provider(conn, &n, &d, now)
    })
    .await?;
    apply(&app).await?;
    for w in warnings {
        tracing::warn!("{w}");
    }
    let after = views(&app)
        .await?
        .into_iter()
        .find(|p| p.name == name)
        .ok_or_else(|| ApiError::internal("the provider was stored but is not listed"))?;
    audit::record(
        &app,
        &actor,
        Change {
            action: if creating {
                "provider.create"
            } else {
                "provider.update"
            },
            target: name,
            before: before.map(|b| json!(b)),
            after: Some(json!(after)),
        },
    )
    .await?;
    ok(if creating { 201 } else { 200 }, &after)
}

/// Deletes a stored provider; requests already running on it finish.
#[utoipa::path(
    operation_id = "delete_provider",
    delete,
    path = "/api/providers/{name}",
    tag = "providers",
    params(("name" = String, Path, description = "The provider")),
    responses(
        (status = 200, description = "The provider removed", body = ProviderView),
        (status = 404, description = "No such stored provider", body = super::openapi::ErrorBody),
        (status = 409, description = "The provider is defined in the config file", body = super::openapi::ErrorBody),
    )
)]
pub async fn delete(app: Arc<App>, actor: Actor, name: String) -> Answer {
    let before = views(&app)
        .await?
        .into_iter()
        .find(|p| p.name == name)
        .ok_or_else(|| not_found(&name))?;
    if before.source == RouteSource::File {
        return Err(conflict(
            format!("provider `{name}` is defined in the config file; remove it there"),
            "defined_in_file",
        ));
    }
    let n = name.clone();
    with_db(&app, move |conn| usage_store::remove_provider(conn, &n)).await?;
    apply(&app).await?;
    audit::record(
        &app,
        &actor,
        Change {
            action: "provider.delete",
            target: name,
            before: Some(json!(before)),
            after: None,
        },
    )
    .await?;
    ok(200, &before)
}

/// Sends one tiny chat request to the provider (its first listed model, or `?model=`) the
/// way a client's would go, pinned to this provider, and says how it went.
#[utoipa::path(
    operation_id = "test_provider",
    post,
    path = "/api/providers/{name}/test",
    tag = "providers",
    params(
        ("name" = String, Path, description = "The provider"),
        ("model" = Option<String>, Query, description = "The model to ask (default: the provider's first listed model)"),
    ),
    responses(
        (status = 200, description = "How the request went (a provider's failure is `ok: false`, not an error)", body = ProviderTest),
        (status = 400, description = "No model to ask", body = super::openapi::ErrorBody),
        (status = 404, description = "No such provider in force", body = super::openapi::ErrorBody),
    )
)]
pub async fn test(app: Arc<App>, name: &str, query: Option<&str>) -> Answer {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct TestQuery {
        model: Option<String>,
    }
    let q: TestQuery = body::query(query)?;
    let live = app.snapshot();
    let (index, provider) = live
        .providers
        .iter()
        .enumerate()
        .find(|(_, p)| p.name == name)
        .ok_or_else(|| not_found(name))?;
    let model = match q.model.or_else(|| provider.models.first().cloned()) {
        Some(m) => m,
        None => {
            return Err(body::invalid(format!(
                "provider `{name}` lists no models; name one with ?model="
            )));
        }
    };
    let probe = crate::request::probe::chat(app.clone(), live, index, model.clone()).await;
    ok(
        200,
        &ProviderTest {
            provider: name.to_owned(),
            model,
            ok: probe.error.is_none(),
            status: probe.status,
            latency_ms: probe.latency_ms,
            reply: probe.reply,
            error: probe.error,
            request_id: probe.request_id,
        },
    )
}

/// Reads the stored providers again and puts them in force.
async fn apply(app: &Arc<App>) -> Result<(), ApiError> {
    let stored = with_db(app, |conn| usage_store::load_providers(conn)).await?;
    let file = app.reconfigure.lock().await.file.clone();
    let checked = crate::start::checked_providers(&stored, &file);
    app.apply_stored(|s| s.stored_providers = checked)
        .await
        .map_err(|e| ApiError::internal(format!("the change is stored but not in force: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_merge_patch_keeps_what_it_does_not_name() {
        let mut d = json!({"name": "x", "base_url": "http://a", "models": ["m"],
            "accounts": [{"name": "k", "api_key": "secret"}], "options": {"a": 1, "b": 2}});
        merge_patch(
            &mut d,
            json!({"base_url": "http://b", "models": ["n", "o"], "options": {"a": null, "c": 3}}),
        );
        assert_eq!(
            d,
            json!({"name": "x", "base_url": "http://b", "models": ["n", "o"],
                "accounts": [{"name": "k", "api_key": "secret"}], "options": {"b": 2, "c": 3}})
        );
    }
}
