//! `/api/keys`: client keys made, listed, changed and revoked while the server runs, so
//! handing a teammate or a script its own key (with its own limits and expiry) needs no
//! edit of the config file and no restart. A new key's secret is answered once and stored
//! only as its SHA-256; the config file's keys are listed beside them, read-only.

use std::sync::Arc;

use http::Request;
use hyper::body::Incoming;
use serde::{Deserialize, Deserializer, Serialize};
use switchyard_hub::{ApiError, ErrorKind};
use utoipa::ToSchema;

use crate::api::audit::{self, Change};
use crate::api::{Actor, Answer, body, mask, ok, with_db};
use crate::config::ClientKey;
use crate::routing::budgets::{Budget, Scope};
use crate::routing::epoch_ms;
use crate::routing::limits::Limits;
use crate::state::app::App;
use crate::state::client_keys::{StoredKey, generate_id, generate_secret, hash};
use crate::state::usage_store;

/// `POST /api/keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    /// Who or what the key is for.
    pub name: String,
    #[serde(default)]
    pub limits: Limits,
    /// Dollar caps per day and per calendar month; past one, requests get a 429 naming it
    /// and when it resets.
    #[serde(default)]
    pub budget: Budget,
    /// When the key stops working: RFC 3339, or a date (`2027-01-31`, meaning 00:00 UTC).
    pub expires_at: Option<String>,
}

/// `PATCH /api/keys/{id}`: the fields given change, the others stay.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyChange {
    pub name: Option<String>,
    /// Replaces the key's limits whole: a limit left out is removed.
    pub limits: Option<Limits>,
    /// Replaces the key's dollar budget whole: a cap left out is removed.
    pub budget: Option<Budget>,
    /// RFC 3339 or a date; `null` removes the expiry.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub expires_at: Option<Option<String>>,
}

/// A field that is present, even as `null`, reads as `Some`; an absent one as `None`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Declared in the config file: changed there, not through the API.
    File,
    /// Made through the API or `switchyard keys create`.
    Database,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Active,
    Revoked,
    Expired,
}

/// Tokens used, as the limits count them.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyUsage {
    pub tokens_today: u64,
    pub tokens_this_month: u64,
    /// Dollars spent, as the budgets count them.
    pub usd_today: f64,
    pub usd_this_month: f64,
}

/// One client key, without its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    /// What usage rows and limits name the key by.
    pub id: String,
    pub name: String,
    pub source: Source,
    /// Enough of the secret to tell keys apart (`sk-sy-****abcd`).
    pub display: String,
    pub status: Status,
    /// RFC 3339, UTC; absent for the config file's keys.
    pub created_at: Option<String>,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
    pub limits: Limits,
    pub budget: Budget,
    pub usage: KeyUsage,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    pub keys: Vec<KeyView>,
}

/// The answer to `POST /api/keys`: the only time the secret is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    /// Give this to the client; it cannot be shown again.
    pub secret: String,
    pub key: KeyView,
}

/// Lists every client key: the config file's, then the stored ones, oldest first.
#[utoipa::path(
    get,
    path = "/api/keys",
    tag = "keys",
    responses(
        (status = 200, description = "Every client key, secrets masked, with today's and this month's tokens", body = KeyList),
        (status = 401, description = "No or wrong admin key", body = super::openapi::ErrorBody),
    )
)]
pub async fn list(app: Arc<App>) -> Answer {
    ok(
        200,
        &KeyList {
            keys: views(&app).await?,
        },
    )
}

/// Every client key as the API shows it: the config file's, then the stored ones.
pub async fn views(app: &Arc<App>) -> Result<Vec<KeyView>, ApiError> {
    let stored = with_db(app, |conn| usage_store::load_keys(conn)).await?;
    let now = now_ms();
    let mut keys: Vec<KeyView> = app
        .snapshot()
        .config
        .client_keys
        .iter()
        .map(|k| file_view(app, k))
        .collect();
    keys.extend(stored.iter().map(|k| stored_view(app, k, now)));
    Ok(keys)
}

/// Reads one client key.
#[utoipa::path(
    get,
    path = "/api/keys/{id}",
    tag = "keys",
    params(("id" = String, Path, description = "The key's id")),
    responses(
        (status = 200, description = "The key, secret masked", body = KeyView),
        (status = 404, description = "No key has this id", body = super::openapi::ErrorBody),
    )
)]
pub async fn read(app: Arc<App>, id: String) -> Answer {
    if let Some(k) = file_key(&app, &id) {
        return ok(200, &file_view(&app, &k));
    }
    let key = stored(&app, id).await?;
    ok(200, &stored_view(&app, &key, now_ms()))
}

/// Creates a key; its secret is in this answer and nowhere else.
#[utoipa::path(
    post,
    path = "/api/keys",
    tag = "keys",
    request_body = NewKey,
    responses(
        (status = 201, description = "The key made, with its secret (shown this once)", body = CreatedKey),
        (status = 400, description = "A body of another shape, an empty name, a limit of 0 or a bad date", body = super::openapi::ErrorBody),
    )
)]
pub async fn create(app: Arc<App>, req: Request<Incoming>, actor: Actor) -> Answer {
    let new: NewKey = body::read(&app, req).await?;
    let name = check_name(&new.name)?;
    check_limits(&new.limits)?;
    check_budget(&new.budget)?;
    let expires_ms = new.expires_at.as_deref().map(parse_time).transpose()?;
    let secret = generate_secret().map_err(no_randomness)?;
    let mut id = generate_id().map_err(no_randomness)?;
    while file_key(&app, &id).is_some() {
        id = generate_id().map_err(no_randomness)?;
    }
    let key = StoredKey {
        id,
        name,
        hash: hash(secret.as_bytes()),
        last4: secret.chars().skip(secret.chars().count() - 4).collect(),
        created_ms: now_ms(),
        expires_ms,
        revoked_ms: None,
        limits: new.limits,
        budget: new.budget,
    };
    let (a, k) = (app.clone(), key.clone());
    with_db(&app, move |conn| {
        usage_store::insert_key(conn, &k)?;
        a.client_keys
            .reload_stored(|| usage_store::load_keys(conn))
            .map(drop)
    })
    .await?;
    let view = stored_view(&app, &key, now_ms());
    tracing::info!(by = %actor.0, id = %key.id, "client key created");
    audit::record(
        &app,
        &actor,
        change("client_key.create", &key.id, None, Some(&view)),
    )
    .await?;
    ok(201, &CreatedKey { secret, key: view })
}

/// Changes a stored key's name, limits or expiry, in force for the next request.
#[utoipa::path(
    patch,
    path = "/api/keys/{id}",
    tag = "keys",
    params(("id" = String, Path, description = "The key's id")),
    request_body = KeyChange,
    responses(
        (status = 200, description = "The key as changed", body = KeyView),
        (status = 400, description = "A body of another shape, nothing to change, a limit of 0, a budget not above $0 or a bad date", body = super::openapi::ErrorBody),
        (status = 404, description = "No key has this id", body = super::openapi::ErrorBody),
        (status = 409, description = "A config file key (change it in the file), or a revoked key", body = super::openapi::ErrorBody),
    )
)]
pub async fn update(app: Arc<App>, req: Request<Incoming>, actor: Actor, id: String) -> Answer {
    refuse_file_key(&app, &id)?;
    let patch: KeyChange = body::read(&app, req).await?;
    if patch.name.is_none()
        && patch.limits.is_none()
        && patch.budget.is_none()
        && patch.expires_at.is_none()
    {
        return Err(body::invalid(
            "nothing to change: send `name`, `limits`, `budget` or `expires_at`".into(),
        ));
    }
    if let Some(budget) = &patch.budget {
        check_budget(budget)?;
    }
    let name = patch.name.as_deref().map(check_name).transpose()?;
    if let Some(limits) = &patch.limits {
        check_limits(limits)?;
    }
    let expires = match &patch.expires_at {
        None => None,
        Some(None) => Some(None),
        Some(Some(t)) => Some(Some(parse_time(t)?)),
    };
    let before = stored(&app, id).await?;
    if before.revoked_ms.is_some() {
        return Err(conflict(
            format!("key `{}` is revoked", before.id),
            "key_revoked",
        ));
    }
    let mut after = before.clone();
    if let Some(name) = name {
        after.name = name;
    }
    if let Some(limits) = patch.limits {
        after.limits = limits;
    }
    if let Some(budget) = patch.budget {
        after.budget = budget;
    }
    if let Some(expires) = expires {
        after.expires_ms = expires;
    }
    let (a, k) = (app.clone(), after.clone());
    with_db(&app, move |conn| {
        usage_store::update_key(conn, &k)?;
        a.client_keys
            .reload_stored(|| usage_store::load_keys(conn))
            .map(drop)
    })
    .await?;
    let now = now_ms();
    let (old, new) = (
        stored_view(&app, &before, now),
        stored_view(&app, &after, now),
    );
    audit::record(
        &app,
        &actor,
        change("client_key.update", &after.id, Some(&old), Some(&new)),
    )
    .await?;
    ok(200, &new)
}

/// Revokes a stored key: its next request is refused with 401 `key revoked`. The key stays
/// listed, so its usage keeps a name. `DELETE /api/keys/{id}` does the same.
#[utoipa::path(
    post,
    path = "/api/keys/{id}/revoke",
    tag = "keys",
    params(("id" = String, Path, description = "The key's id")),
    responses(
        (status = 200, description = "The key, revoked (revoking twice changes nothing)", body = KeyView),
        (status = 404, description = "No key has this id", body = super::openapi::ErrorBody),
        (status = 409, description = "A config file key: remove it from the file", body = super::openapi::ErrorBody),
    )
)]
pub async fn revoke(app: Arc<App>, actor: Actor, id: String) -> Answer {
    refuse_file_key(&app, &id)?;
    let (a, at) = (app.clone(), now_ms());
    let found = with_db(&app, move |conn| {
        let Some(before) = usage_store::load_key(conn, &id)? else {
            return Ok(None);
        };
        usage_store::revoke_key(conn, &before.id, at)?;
        a.client_keys
            .reload_stored(|| usage_store::load_keys(conn))?;
        Ok(usage_store::load_key(conn, &before.id)?.map(|after| (before, after)))
    })
    .await?;
    let Some((before, after)) = found else {
        return Err(unknown());
    };
    let now = now_ms();
    let (old, new) = (
        stored_view(&app, &before, now),
        stored_view(&app, &after, now),
    );
    if before.revoked_ms.is_none() {
        tracing::info!(by = %actor.0, id = %after.id, "client key revoked");
        audit::record(
            &app,
            &actor,
            change("client_key.revoke", &after.id, Some(&old), Some(&new)),
        )
        .await?;
    }
    ok(200, &new)
}

/// `DELETE /api/keys/{id}`: revokes the key (see [`revoke`]).
#[utoipa::path(
    delete,
    path = "/api/keys/{id}",
    tag = "keys",
    params(("id" = String, Path, description = "The key's id")),
    responses(
        (status = 200, description = "The key, revoked; it stays listed so its usage keeps a name", body = KeyView),
        (status = 404, description = "No key has this id", body = super::openapi::ErrorBody),
        (status = 409, description = "A config file key: remove it from the file", body = super::openapi::ErrorBody),
    )
)]
pub async fn delete(app: Arc<App>, actor: Actor, id: String) -> Answer {
    revoke(app, actor, id).await
}

fn change(
    action: &'static str,
    id: &str,
    before: Option<&KeyView>,
    after: Option<&KeyView>,
) -> Change {
    let json = |v: Option<&KeyView>| v.and_then(|v| serde_json::to_value(v).ok());
    Change {
        action,
        target: id.to_owned(),
        before: json(before),
        after: json(after),
    }
}

fn now_ms() -> i64 {
    epoch_ms(switchyard_hub::clock::now())
}

fn rfc3339(ms: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.to_rfc3339())
}

fn usage(app: &App, id: &str) -> KeyUsage {
    let (tokens_today, tokens_this_month) = app.limits.used(
        id,
        switchyard_hub::clock::now(),
        app.snapshot().config.routing.day_offset_secs,
    );
    let (usd_today, usd_this_month) = app.budgets.spent(
        Scope::Key,
        id,
        switchyard_hub::clock::now(),
        app.snapshot().config.routing.day_offset_secs,
    );
    KeyUsage {
        tokens_today,
        tokens_this_month,
        usd_today,
        usd_this_month,
    }
}

fn file_key(app: &App, id: &str) -> Option<ClientKey> {
    app.snapshot()
        .config
        .client_keys
        .iter()
        .find(|k| k.id == id)
        .cloned()
}

fn file_view(app: &App, k: &ClientKey) -> KeyView {
    KeyView {
        id: k.id.clone(),
        name: k.id.clone(),
        source: Source::File,
        display: mask(k.key.expose()),
        status: Status::Active,
        created_at: None,
        expires_at: None,
        revoked_at: None,
        limits: k.limits(),
        budget: k.budget,
        usage: usage(app, &k.id),
    }
}

fn stored_view(app: &App, k: &StoredKey, now_ms: i64) -> KeyView {
    let status = if k.revoked_ms.is_some() {
        Status::Revoked
    } else if k.expired(now_ms) {
        Status::Expired
    } else {
        Status::Active
    };
    KeyView {
        id: k.id.clone(),
        name: k.name.clone(),
        source: Source::Database,
        display: k.display(),
        status,
        created_at: rfc3339(k.created_ms),
        expires_at: k.expires_ms.and_then(rfc3339),
        revoked_at: k.revoked_ms.and_then(rfc3339),
        limits: k.limits,
        budget: k.budget,
        usage: usage(app, &k.id),
    }
}

/// The stored key `id`, or a 404.
async fn stored(app: &Arc<App>, id: String) -> Result<StoredKey, ApiError> {
    with_db(app, move |conn| usage_store::load_key(conn, &id))
        .await?
        .ok_or_else(unknown)
}

fn unknown() -> ApiError {
    ApiError::not_found("no client key has this id; see GET /api/keys").with_code("no_such_key")
}

fn conflict(message: String, code: &'static str) -> ApiError {
    ApiError::new(409, ErrorKind::InvalidRequest, message).with_code(code)
}

fn refuse_file_key(app: &App, id: &str) -> Result<(), ApiError> {
    match file_key(app, id) {
        Some(_) => Err(conflict(
            format!("key `{id}` is declared in the config file; change or remove it there"),
            "key_from_file",
        )),
        None => Ok(()),
    }
}

fn no_randomness(e: getrandom::Error) -> ApiError {
    ApiError::internal(format!("the system's random source failed: {e}"))
}

/// A key's name: trimmed, not empty, at most 200 characters, no control characters.
pub fn check_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(body::invalid(
            "`name` must be 1 to 200 characters, none of them control characters".into(),
        ));
    }
    Ok(name.to_owned())
}

/// A limit of 0 would make a key that can never be used; revoke it instead.
pub fn check_limits(limits: &Limits) -> Result<(), ApiError> {
    let zero = limits.requests_per_minute == Some(0)
        || limits.tokens_per_day == Some(0)
        || limits.tokens_per_month == Some(0);
    if zero {
        return Err(body::invalid(
            "a limit must be at least 1 (leave it out for no limit)".into(),
        ));
    }
    Ok(())
}

/// A budget of $0 or less (or not a number) would stop the key at once; revoke it instead.
pub fn check_budget(budget: &Budget) -> Result<(), ApiError> {
    let bad = [budget.usd_per_day, budget.usd_per_month]
        .into_iter()
        .flatten()
        .any(|usd| !(usd.is_finite() && usd > 0.0));
    if bad {
        return Err(body::invalid(
            "a budget must be a number of dollars above 0 (leave it out for no budget)".into(),
        ));
    }
    Ok(())
}

/// An expiry as RFC 3339 (`2027-01-31T12:00:00Z`) or a date (`2027-01-31`, 00:00 UTC), in
/// milliseconds since the epoch.
pub fn parse_time(text: &str) -> Result<i64, ApiError> {
    let text = text.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp_millis());
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
        .ok_or_else(|| {
            body::invalid(format!(
                "`expires_at` must be an RFC 3339 time (2027-01-31T12:00:00Z) or a date (2027-01-31), not `{text}`"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_takes_rfc3339_or_a_date_and_nothing_else() {
        assert_eq!(parse_time("1970-01-02").unwrap(), 86_400_000);
        assert_eq!(parse_time("1970-01-01T00:00:01Z").unwrap(), 1000);
        assert_eq!(parse_time("1970-01-01T01:00:00+01:00").unwrap(), 0);
        for bad in ["", "tomorrow", "2027-13-01", "1700000000"] {
            assert_eq!(parse_time(bad).unwrap_err().status, 400, "{bad}");
        }
    }

    #[test]
    fn a_change_tells_a_null_expiry_from_an_absent_one() {
        let c: KeyChange = serde_json::from_str(r#"{"expires_at": null}"#).unwrap();
        assert_eq!(c.expires_at, Some(None));
        let c: KeyChange = serde_json::from_str(r#"{"name": "x"}"#).unwrap();
        assert_eq!(c.expires_at, None);
        assert!(serde_json::from_str::<KeyChange>(r#"{"secret": "x"}"#).is_err());
        assert!(serde_json::from_str::<NewKey>(r#"{"name": "x", "limits": {"rpm": 1}}"#).is_err());
    }

    #[test]
    fn names_and_limits_are_checked() {
        assert_eq!(check_name("  ci bot ").unwrap(), "ci bot");
        for bad in ["", "   ", "a\nb"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_name(&"x".repeat(201)).is_err());
        let zero = Limits {
            tokens_per_day: Some(0),
            ..Limits::default()
        };
        assert!(check_limits(&zero).is_err());
        assert!(check_limits(&Limits::default()).is_ok());
    }
}
