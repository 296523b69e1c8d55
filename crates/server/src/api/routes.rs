//! Aliases and combos through the API. The file's are listed as `file` and refused on change
//! (409: the file is the user's); the API's are stored in the database `routes` table, the
//! same rows `switchyard alias` and `switchyard combo` write, and put in force at once: the
//! routing table is rebuilt and swapped, so a request in flight keeps the table it started
//! with.

use std::sync::Arc;

use http::Request;
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};
use serde_json::json;
use switchyard_hub::{ApiError, ErrorKind};
use utoipa::ToSchema;

use crate::api::audit::{self, Change};
use crate::api::{Actor, Answer, body, ok, with_db};
use crate::config::ComboTarget;
use crate::state::app::App;
use crate::state::usage_store::{self, StoredRoutes};

/// Where an alias or combo is defined, and so where it is changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RouteSource {
    /// The config file: changed there.
    File,
    /// The database: changed through the API or the CLI.
    Database,
}

/// An alias: a model name that stands for one `provider/model`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AliasView {
    pub name: String,
    /// `provider/model`.
    pub target: String,
    pub source: RouteSource,
    /// False for a stored alias the server skips (its provider is gone from the config).
    pub in_force: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AliasList {
    pub aliases: Vec<AliasView>,
}

/// A new alias.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAlias {
    /// The model name clients will send.
    pub name: String,
    /// `provider/model` of a configured provider.
    pub target: String,
}

/// An alias's new target.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AliasUpdate {
    pub target: String,
}

/// A combo: an ordered fallback chain of targets.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ComboView {
    pub name: String,
    /// `provider/model`, or `provider/model@account` to pin an account; tried in order.
    pub targets: Vec<String>,
    pub source: RouteSource,
    /// False for a stored combo the server skips (a provider or account it names is gone).
    pub in_force: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ComboList {
    pub combos: Vec<ComboView>,
}

/// A new combo.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCombo {
    pub name: String,
    pub targets: Vec<String>,
}

/// A combo's new targets.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComboUpdate {
    pub targets: Vec<String>,
}

/// A combo's targets in a new order: `order[i]` is the current position of the target
/// that goes to position `i` (`[1, 0]` swaps two).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComboOrder {
    pub order: Vec<usize>,
}

/// An alias or a combo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Alias,
    Combo,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Alias => "alias",
            Kind::Combo => "combo",
        }
    }

    /// Its collection's path.
    fn path(self) -> &'static str {
        match self {
            Kind::Alias => "/api/aliases",
            Kind::Combo => "/api/combos",
        }
    }
}

fn step(t: &ComboTarget) -> String {
    let account = t
        .account
        .as_ref()
        .map(|a| format!("@{a}"))
        .unwrap_or_default();
    format!("{}/{}{account}", t.provider, t.model)
}

async fn stored(app: &Arc<App>) -> Result<StoredRoutes, ApiError> {
    with_db(app, |conn| usage_store::load_routes(conn)).await
}

/// Every alias and combo, the file's and the database's, as the list endpoints show them
/// (the dashboard's routing page reads the same views).
pub async fn views(app: &Arc<App>) -> Result<(Vec<AliasView>, Vec<ComboView>), ApiError> {
    let stored = stored(app).await?;
    Ok((aliases(app, &stored), combos(app, &stored)))
}

fn aliases(app: &App, stored: &StoredRoutes) -> Vec<AliasView> {
    let live = app.snapshot();
    let routes = &live.routes;
    let file = live.config.aliases.iter().map(|(name, target)| AliasView {
        name: name.clone(),
        target: target.clone(),
        source: RouteSource::File,
        in_force: true,
    });
    let db = stored
        .0
        .iter()
        .filter(|(name, _)| !in_file(app, name))
        .map(|(name, target)| AliasView {
            name: name.clone(),
            target: target.clone(),
            source: RouteSource::Database,
            in_force: routes.aliases.get(name) == Some(target),
        });
    file.chain(db).collect()
}

fn combos(app: &App, stored: &StoredRoutes) -> Vec<ComboView> {
    let live = app.snapshot();
    let routes = &live.routes;
    let file = live.config.combos.iter().map(|(name, targets)| ComboView {
        name: name.clone(),
        targets: targets.iter().map(step).collect(),
        source: RouteSource::File,
        in_force: true,
    });
    let db = stored
        .1
        .iter()
        .filter(|(name, _)| !in_file(app, name))
        .map(|(name, steps)| ComboView {
            name: name.clone(),
            targets: steps.clone(),
            source: RouteSource::Database,
            in_force: routes
                .combos
                .get(name)
                .is_some_and(|t| t.iter().map(step).eq(steps.iter().cloned())),
        });
    file.chain(db).collect()
}

fn in_file(app: &App, name: &str) -> bool {
    let live = app.snapshot();
    live.config.aliases.contains_key(name) || live.config.combos.contains_key(name)
}

fn not_found(kind: Kind, name: &str) -> ApiError {
    ApiError::not_found(format!(
        "no {} named `{name}` (see GET {})",
        kind.as_str(),
        kind.path()
    ))
    .with_code(match kind {
        Kind::Alias => "no_such_alias",
        Kind::Combo => "no_such_combo",
    })
}

fn conflict(message: String) -> ApiError {
    ApiError::new(409, ErrorKind::InvalidRequest, message).with_code("conflict")
}

fn from_file(app: &App, kind: Kind, name: &str) -> ApiError {
    conflict(format!(
        "{} `{name}` is defined in the config file {}; change it there",
        kind.as_str(),
        app.snapshot().config.file.display()
    ))
    .with_code("defined_in_file")
}

/// Rebuilds the alias and combo table from the file and the database and puts it in force.
async fn apply(app: &Arc<App>) -> Result<StoredRoutes, ApiError> {
    let stored = stored(app).await?;
    app.apply_stored(|s| s.stored_routes = stored.clone())
        .await
        .map_err(|e| ApiError::internal(format!("the change is stored but not in force: {e}")))?;
    Ok(stored)
}

/// The stored definition of `name`: (kind, steps).
fn find(stored: &StoredRoutes, name: &str) -> Option<(Kind, Vec<String>)> {
    if let Some((_, t)) = stored.0.iter().find(|(n, _)| n == name) {
        return Some((Kind::Alias, vec![t.clone()]));
    }
    stored
        .1
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, s)| (Kind::Combo, s.clone()))
}

fn view(kind: Kind, name: &str, app: &App, stored: &StoredRoutes) -> serde_json::Value {
    match kind {
        Kind::Alias => json!(aliases(app, stored).into_iter().find(|a| a.name == name)),
        Kind::Combo => json!(combos(app, stored).into_iter().find(|c| c.name == name)),
    }
}

/// Checks and stores `name` -> `steps`, puts it in force and audits it.
async fn save(
    app: Arc<App>,
    actor: Actor,
    kind: Kind,
    name: String,
    steps: Vec<String>,
    action: &'static str,
) -> Answer {
    let creating = action.ends_with(".create");
    if in_file(&app, &name) {
        return Err(from_file(&app, kind, &name));
    }
    if kind == Kind::Alias && steps.iter().any(|s| s.contains('@')) {
        return Err(body::invalid(format!(
            "alias `{name}`: a target pins no account (`@`); use a combo for that"
        )));
    }
    match kind {
        Kind::Alias => app.snapshot().config.check_stored(&name, &steps),
        Kind::Combo => app.snapshot().config.check_combo(&name, &steps),
    }
    .map_err(|e| body::invalid(e.0))?;
    let before = stored(&app).await?;
    let existing = find(&before, &name);
    match (&existing, creating) {
        (Some((k, _)), true) => {
            return Err(conflict(format!(
                "a {} named `{name}` exists; change it with PUT {}/{name}",
                k.as_str(),
                k.path()
            )));
        }
        (Some((k, _)), false) if *k != kind => return Err(not_found(kind, &name)),
        (None, false) => return Err(not_found(kind, &name)),
        _ => {}
    }
    let before_view = existing.as_ref().map(|_| view(kind, &name, &app, &before));
    let (n, s, k) = (name.clone(), steps.clone(), kind.as_str());
    with_db(&app, move |conn| usage_store::save_route(conn, &n, k, &s)).await?;
    let after = apply(&app).await?;
    let after_view = view(kind, &name, &app, &after);
    audit::record(
        &app,
        &actor,
        Change {
            action,
            target: name,
            before: before_view,
            after: Some(after_view.clone()),
        },
    )
    .await?;
    ok(if creating { 201 } else { 200 }, &after_view)
}

/// Lists the aliases, the file's and the database's.
#[utoipa::path(
    get,
    path = "/api/aliases",
    tag = "routing",
    responses(
        (status = 200, description = "Every alias", body = AliasList),
        (status = 401, description = "No or wrong admin key", body = super::openapi::ErrorBody),
    )
)]
pub async fn list_aliases(app: Arc<App>) -> Answer {
    let stored = stored(&app).await?;
    ok(
        200,
        &AliasList {
            aliases: aliases(&app, &stored),
        },
    )
}

/// Creates an alias, in force at once.
#[utoipa::path(
    post,
    path = "/api/aliases",
    tag = "routing",
    request_body = NewAlias,
    responses(
        (status = 201, description = "The alias, in force", body = AliasView),
        (status = 400, description = "A bad name or target", body = super::openapi::ErrorBody),
        (status = 409, description = "The name is taken (by the file, or by a stored alias or combo)", body = super::openapi::ErrorBody),
    )
)]
pub async fn create_alias(app: Arc<App>, req: Request<Incoming>, actor: Actor) -> Answer {
    let new: NewAlias = body::read(&app, req).await?;
    save(
        app,
        actor,
        Kind::Alias,
        new.name,
        vec![new.target],
        "alias.create",
    )
    .await
}

/// Reads one alias.
#[utoipa::path(
    get,
    path = "/api/aliases/{name}",
    tag = "routing",
    params(("name" = String, Path, description = "The alias")),
    responses(
        (status = 200, description = "The alias", body = AliasView),
        (status = 404, description = "No such alias", body = super::openapi::ErrorBody),
    )
)]
pub async fn get_alias(app: Arc<App>, name: &str) -> Answer {
    let stored = stored(&app).await?;
    match aliases(&app, &stored).into_iter().find(|a| a.name == name) {
        Some(a) => ok(200, &a),
        None => Err(not_found(Kind::Alias, name)),
    }
}

/// Points a stored alias at a new target.
#[utoipa::path(
    put,
    path = "/api/aliases/{name}",
    tag = "routing",
    params(("name" = String, Path, description = "The alias")),
    request_body = AliasUpdate,
    responses(
        (status = 200, description = "The alias, in force", body = AliasView),
        (status = 400, description = "A bad target", body = super::openapi::ErrorBody),
        (status = 404, description = "No such alias", body = super::openapi::ErrorBody),
        (status = 409, description = "The alias is defined in the config file", body = super::openapi::ErrorBody),
    )
)]
pub async fn update_alias(
    app: Arc<App>,
    req: Request<Incoming>,
    actor: Actor,
    name: String,
) -> Answer {
    let update: AliasUpdate = body::read(&app, req).await?;
    save(
        app,
        actor,
        Kind::Alias,
        name,
        vec![update.target],
        "alias.update",
    )
    .await
}

/// Deletes a stored alias.
#[utoipa::path(
    delete,
    path = "/api/aliases/{name}",
    tag = "routing",
    params(("name" = String, Path, description = "The alias")),
    responses(
        (status = 200, description = "The alias as it was", body = AliasView),
        (status = 404, description = "No such alias", body = super::openapi::ErrorBody),
        (status = 409, description = "The alias is defined in the config file", body = super::openapi::ErrorBody),
    )
)]
pub async fn delete_alias(app: Arc<App>, actor: Actor, name: String) -> Answer {
    delete(app, actor, Kind::Alias, name).await
}

async fn delete(app: Arc<App>, actor: Actor, kind: Kind, name: String) -> Answer {
    if in_file(&app, &name) {
        return Err(from_file(&app, kind, &name));
    }
    let before = stored(&app).await?;
    match find(&before, &name) {
        Some((k, _)) if k == kind => {}
        _ => return Err(not_found(kind, &name)),
    }
    let before_view = view(kind, &name, &app, &before);
    let n = name.clone();
    with_db(&app, move |conn| usage_store::remove_route(conn, &n)).await?;
    apply(&app).await?;
    audit::record(
        &app,
        &actor,
        Change {
            action: match kind {
                Kind::Alias => "alias.delete",
                Kind::Combo => "combo.delete",
            },
            target: name,
            before: Some(before_view.clone()),
            after: None,
        },
    )
    .await?;
    ok(200, &before_view)
}

/// Lists the combos, the file's and the database's.
#[utoipa::path(
    get,
    path = "/api/combos",
    tag = "routing",
    responses(
        (status = 200, description = "Every combo", body = ComboList),
        (status = 401, description = "No or wrong admin key", body = super::openapi::ErrorBody),
    )
)]
pub async fn list_combos(app: Arc<App>) -> Answer {
    let stored = stored(&app).await?;
    ok(
        200,
        &ComboList {
            combos: combos(&app, &stored),
        },
    )
}

/// Creates a combo, in force at once.
#[utoipa::path(
    post,
    path = "/api/combos",
    tag = "routing",
    request_body = NewCombo,
    responses(
        (status = 201, description = "The combo, in force", body = ComboView),
        (status = 400, description = "A bad name or target", body = super::openapi::ErrorBody),
        (status = 409, description = "The name is taken (by the file, or by a stored alias or combo)", body = super::openapi::ErrorBody),
    )
)]
pub async fn create_combo(app: Arc<App>, req: Request<Incoming>, actor: Actor) -> Answer {
    let new: NewCombo = body::read(&app, req).await?;
    save(
        app,
        actor,
        Kind::Combo,
        new.name,
        new.targets,
        "combo.create",
    )
    .await
}

/// Reads one combo.
#[utoipa::path(
    get,
    path = "/api/combos/{name}",
    tag = "routing",
    params(("name" = String, Path, description = "The combo")),
    responses(
        (status = 200, description = "The combo", body = ComboView),
        (status = 404, description = "No such combo", body = super::openapi::ErrorBody),
    )
)]
pub async fn get_combo(app: Arc<App>, name: &str) -> Answer {
    let stored = stored(&app).await?;
    match combos(&app, &stored).into_iter().find(|c| c.name == name) {
        Some(c) => ok(200, &c),
        None => Err(not_found(Kind::Combo, name)),
    }
}

/// Replaces a stored combo's targets.
#[utoipa::path(
    put,
    path = "/api/combos/{name}",
    tag = "routing",
    params(("name" = String, Path, description = "The combo")),
    request_body = ComboUpdate,
    responses(
        (status = 200, description = "The combo, in force", body = ComboView),
        (status = 400, description = "A bad target", body = super::openapi::ErrorBody),
        (status = 404, description = "No such combo", body = super::openapi::ErrorBody),
        (status = 409, description = "The combo is defined in the config file", body = super::openapi::ErrorBody),
    )
)]
pub async fn update_combo(
    app: Arc<App>,
    req: Request<Incoming>,
    actor: Actor,
    name: String,
) -> Answer {
    let update: ComboUpdate = body::read(&app, req).await?;
    save(
        app,
        actor,
        Kind::Combo,
        name,
        update.targets,
        "combo.update",
    )
    .await
}

/// Deletes a stored combo.
#[utoipa::path(
    delete,
    path = "/api/combos/{name}",
    tag = "routing",
    params(("name" = String, Path, description = "The combo")),
    responses(
        (status = 200, description = "The combo as it was", body = ComboView),
        (status = 404, description = "No such combo", body = super::openapi::ErrorBody),
        (status = 409, description = "The combo is defined in the config file", body = super::openapi::ErrorBody),
    )
)]
pub async fn delete_combo(app: Arc<App>, actor: Actor, name: String) -> Answer {
    delete(app, actor, Kind::Combo, name).await
}

/// Reorders a stored combo's targets.
#[utoipa::path(
    post,
    path = "/api/combos/{name}/order",
    tag = "routing",
    params(("name" = String, Path, description = "The combo")),
    request_body = ComboOrder,
    responses(
        (status = 200, description = "The combo in its new order, in force", body = ComboView),
        (status = 400, description = "`order` is not a permutation of the targets' positions", body = super::openapi::ErrorBody),
        (status = 404, description = "No such combo", body = super::openapi::ErrorBody),
        (status = 409, description = "The combo is defined in the config file", body = super::openapi::ErrorBody),
    )
)]
pub async fn reorder_combo(
    app: Arc<App>,
    req: Request<Incoming>,
    actor: Actor,
    name: String,
) -> Answer {
    let order: ComboOrder = body::read(&app, req).await?;
    if in_file(&app, &name) {
        return Err(from_file(&app, Kind::Combo, &name));
    }
    let Some((Kind::Combo, steps)) = find(&stored(&app).await?, &name) else {
        return Err(not_found(Kind::Combo, &name));
    };
    let mut sorted = order.order.clone();
    sorted.sort_unstable();
    if !sorted.iter().copied().eq(0..steps.len()) {
        return Err(body::invalid(format!(
            "`order` must name each of the {} targets' positions (0 to {}) once",
            steps.len(),
            steps.len().saturating_sub(1)
        )));
    }
    let reordered: Vec<String> = order
        .order
        .iter()
        .filter_map(|&i| steps.get(i).cloned())
        .collect();
    save(app, actor, Kind::Combo, name, reordered, "combo.reorder").await
}
