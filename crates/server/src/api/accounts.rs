//! Provider accounts through the API: every account with its status, health, cooldowns (and
//! the hint each came from), today's counters and token expiry; one account; enabling,
//! disabling and removing a stored login. These change the same rows as `switchyard
//! accounts enable|disable|remove` (the account store), and the running server takes the
//! change in at once instead of on its next reload turn.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;
use serde_json::json;
use switchyard_auth::store::{AccountStatus, Store, StoredAccount};
use switchyard_hub::{ApiError, ErrorKind};
use utoipa::ToSchema;

use crate::api::audit::{self, Change};
use crate::api::{Actor, Answer, ok};
use crate::routing::day_number;
use crate::routing::health::Unavailable;
use crate::state::app::{Account, App, Provider};

/// Every account of the configured providers.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountList {
    pub accounts: Vec<AccountView>,
}

/// Where an account is declared, and so where it is changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountSource {
    /// In the config file, with an API key: edited there, not through the API.
    File,
    /// Stored in the database by a login or an import.
    Login,
}

/// What an account presents upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthKind {
    ApiKey,
    Oauth,
}

/// Whether an account takes requests now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatusView {
    /// Offered to requests.
    Ok,
    /// Cooling down after a failure (see `cooldown_until` and `cooldown_reason`).
    Cooling,
    /// Set aside after too many failures in a row; one probe goes through after
    /// `set_aside_until`.
    SetAside,
    /// Its grant is gone: log in again (or import) to use it.
    NeedsLogin,
    /// Switched off by the user (`POST .../enable` brings it back).
    Disabled,
}

/// A cooldown and why it was set.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Cooldown {
    /// RFC 3339, UTC.
    pub until: String,
    /// The failure and the hint it came from: `429 retry-after 7200 s` (the provider's
    /// hint) or `429 backoff 4 s` (Switchyard's own backoff).
    pub reason: Option<String>,
}

/// The last upstream failure.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LastError {
    pub at: String,
    pub message: String,
}

/// One account as the API shows it. Holds no secret: a credential is described (its kind
/// and expiry), never shown.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AccountView {
    pub provider: String,
    pub account: String,
    pub source: AccountSource,
    /// The config file declaring it, for a `file` account.
    pub file: Option<String>,
    pub auth: AuthKind,
    pub status: AccountStatusView,
    /// Whether the running server holds the account now. A login enabled or added with the
    /// CLI is held from the server's next reload turn (`server.account_reload_ms`).
    pub in_use: bool,
    /// Why a stored login is disabled or needs a login, when the store says.
    pub status_reason: Option<String>,
    /// 100 for an account with nothing against it, less for each recent trouble.
    pub health: i64,
    /// The account-wide cooldown's end, while one runs.
    pub cooldown_until: Option<String>,
    /// Why the account-wide cooldown was set.
    pub cooldown_reason: Option<String>,
    /// Cooldowns of single models (providers that limit each model separately), by model.
    pub model_cooldowns: BTreeMap<String, Cooldown>,
    /// The end of the automatic set-aside after failures in a row, while it runs.
    pub set_aside_until: Option<String>,
    pub backoff_level: u32,
    pub consecutive_failures: u32,
    pub last_error: Option<LastError>,
    /// Requests sent through the account today; in cluster mode the whole cluster's (the
    /// other instances' as of their last exchange, at most a fraction of a second old).
    pub requests_today: u64,
    /// Tokens the account served today; in cluster mode the whole cluster's, as above.
    pub tokens_today: u64,
    pub daily_requests_limit: Option<u64>,
    pub daily_tokens_limit: Option<u64>,
    pub in_flight: u32,
    /// When the OAuth access token expires (it is renewed on use); absent for API keys.
    pub token_expires_at: Option<String>,
}

/// The answer to a removal: the account as it was.
#[derive(Debug, Serialize, ToSchema)]
pub struct Removed {
    pub removed: AccountView,
}

fn iso(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339()
}

fn view(app: &App, p: &Provider, a: &Account) -> AccountView {
    let now = switchyard_hub::clock::now();
    let today = day_number(now, app.snapshot().config.routing.day_offset_secs);
    let credential = a.credential.get();
    let file_account = a.credential.id.is_none();
    let (others_requests, others_tokens) =
        crate::cluster::active().map_or((0, 0), |c| c.others_today(a, today));
    let mut h = a.lock_health();
    h.roll_day(today);
    let status = if a.credential.needs_login() {
        AccountStatusView::NeedsLogin
    } else {
        match h.check("", now) {
            Ok(()) => AccountStatusView::Ok,
            Err(Unavailable::Disabled(_)) => AccountStatusView::SetAside,
            Err(_) => AccountStatusView::Cooling,
        }
    };
    let active = |t: &SystemTime| *t > now;
    AccountView {
        provider: p.name.clone(),
        account: a.name.clone(),
        source: if file_account {
            AccountSource::File
        } else {
            AccountSource::Login
        },
        file: file_account.then(|| app.snapshot().config.file.display().to_string()),
        auth: if credential.is_oauth() {
            AuthKind::Oauth
        } else {
            AuthKind::ApiKey
        },
        status,
        in_use: true,
        status_reason: None,
        health: h.score(now),
        cooldown_until: h.cooldown_until.filter(active).map(iso),
        cooldown_reason: h
            .cooldown_until
            .filter(active)
            .and_then(|_| h.cooldown_reasons.get("").cloned()),
        model_cooldowns: h
            .model_cooldowns
            .iter()
            .filter(|(_, t)| active(t))
            .map(|(m, t)| {
                let cooldown = Cooldown {
                    until: iso(*t),
                    reason: h.cooldown_reasons.get(m).cloned(),
                };
                (m.clone(), cooldown)
            })
            .collect(),
        set_aside_until: h.disabled_until.filter(active).map(iso),
        backoff_level: h.backoff_level,
        consecutive_failures: h.consecutive_failures,
        last_error: h.last_error.as_ref().map(|(t, m)| LastError {
            at: iso(*t),
            message: m.clone(),
        }),
        requests_today: h.day_requests + others_requests,
        tokens_today: h.day_tokens + others_tokens,
        daily_requests_limit: a.daily_requests,
        daily_tokens_limit: a.daily_tokens,
        in_flight: a.in_flight.load(std::sync::atomic::Ordering::Relaxed),
        token_expires_at: credential.expires_at().map(iso),
    }
}

/// A stored login the server does not hold (the user disabled it).
fn stored_view(row: &StoredAccount) -> AccountView {
    AccountView {
        provider: row.provider.clone(),
        account: row.name.clone(),
        source: AccountSource::Login,
        file: None,
        auth: if row.credential.is_oauth() {
            AuthKind::Oauth
        } else {
            AuthKind::ApiKey
        },
        status: match row.status {
            AccountStatus::Disabled => AccountStatusView::Disabled,
            AccountStatus::NeedsLogin => AccountStatusView::NeedsLogin,
            AccountStatus::Active => AccountStatusView::Ok,
        },
        in_use: false,
        status_reason: row.status_reason.clone(),
        health: 100,
        cooldown_until: None,
        cooldown_reason: None,
        model_cooldowns: BTreeMap::new(),
        set_aside_until: None,
        backoff_level: 0,
        consecutive_failures: 0,
        last_error: None,
        requests_today: 0,
        tokens_today: 0,
        daily_requests_limit: None,
        daily_tokens_limit: None,
        in_flight: 0,
        token_expires_at: row.credential.expires_at().map(iso),
    }
}

/// Every account of the configured providers: those in use, then stored logins out of use.
pub fn views(app: &App, stored: &[StoredAccount]) -> Vec<AccountView> {
    let mut out = Vec::new();
    for p in &app.snapshot().providers {
        let live = p.accounts();
        for a in live.iter() {
            let mut v = view(app, p, a);
            if let Some(row) = stored.iter().find(|r| Some(r.id) == a.credential.id) {
                v.status_reason = row.status_reason.clone();
            }
            out.push(v);
        }
        for row in stored.iter().filter(|r| r.provider == p.name) {
            let held = live
                .iter()
                .any(|a| a.credential.id == Some(row.id) || a.name == row.name);
            if !held {
                out.push(stored_view(row));
            }
        }
    }
    out
}

fn store(app: &App) -> Result<Arc<Store>, ApiError> {
    app.credentials
        .store
        .clone()
        .ok_or_else(|| ApiError::internal("the account store is not open"))
}

/// Runs `f` on the account store off the serving thread (it is SQLite).
pub async fn on_store<T: Send + 'static>(
    app: &App,
    f: impl FnOnce(&Store) -> Result<T, switchyard_auth::AuthError> + Send + 'static,
) -> Result<T, ApiError> {
    let store = store(app)?;
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| ApiError::internal(format!("the account store task failed: {e}")))?
        .map_err(|e| ApiError::internal(format!("account store: {e}")))
}

/// Has every provider take in the store's logins now (what the reload loop does on its
/// next turn), so an API change is in force when its answer arrives.
pub async fn take_in(app: &App) -> Result<Vec<StoredAccount>, ApiError> {
    let rows = on_store(app, |s| s.list(None)).await?;
    for p in &app.snapshot().providers {
        if p.sync_stored(&rows) {
            tracing::info!(provider = %p.name, accounts = p.accounts().len(), "stored accounts changed");
        }
    }
    Ok(rows)
}

/// Path segments arrive percent-encoded (an e-mail address as an account name).
pub fn decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                let value = hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0);
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn no_such(provider: &str, account: &str) -> ApiError {
    ApiError::not_found(format!(
        "no account `{account}` of provider `{provider}` (see GET /api/accounts)"
    ))
    .with_code("no_such_account")
}

pub(crate) async fn find(
    app: &App,
    provider: &str,
    account: &str,
) -> Result<AccountView, ApiError> {
    let stored = on_store(app, |s| s.list(None)).await?;
    views(app, &stored)
        .into_iter()
        .find(|v| v.provider == provider && v.account == account)
        .ok_or_else(|| no_such(provider, account))
}

/// Lists the accounts of the configured providers.
#[utoipa::path(
    operation_id = "list_accounts",
    get,
    path = "/api/accounts",
    tag = "accounts",
    responses(
        (status = 200, description = "Every account, with status, health, cooldowns (and their reasons), today's counters and token expiry", body = AccountList),
        (status = 401, description = "No or wrong admin key", body = super::openapi::ErrorBody),
        (status = 403, description = "The admin API is off (no admin key configured)", body = super::openapi::ErrorBody),
    )
)]
pub async fn list(app: Arc<App>) -> Answer {
    let stored = on_store(&app, |s| s.list(None)).await?;
    ok(
        200,
        &AccountList {
            accounts: views(&app, &stored),
        },
    )
}

/// Reads one account.
#[utoipa::path(
    operation_id = "get_account",
    get,
    path = "/api/accounts/{provider}/{account}",
    tag = "accounts",
    params(
        ("provider" = String, Path, description = "The provider's name"),
        ("account" = String, Path, description = "The account's name"),
    ),
    responses(
        (status = 200, description = "The account", body = AccountView),
        (status = 404, description = "No such account", body = super::openapi::ErrorBody),
    )
)]
pub async fn get(app: Arc<App>, provider: &str, account: &str) -> Answer {
    ok(200, &find(&app, provider, account).await?)
}

/// What can be done to a stored login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Enable,
    Disable,
    Remove,
}

/// The stored login `provider/account`, or why it cannot be changed: a file account
/// answers 409 naming the file.
async fn stored_login(app: &App, provider: &str, account: &str) -> Result<StoredAccount, ApiError> {
    let (p, a) = (provider.to_owned(), account.to_owned());
    if let Some(row) = on_store(app, move |s| s.find(&p, &a)).await? {
        return Ok(row);
    }
    let in_file = app
        .snapshot()
        .config
        .providers
        .iter()
        .filter(|p| p.name == provider)
        .any(|p| p.accounts.iter().any(|a| a.name == account));
    if in_file {
        return Err(ApiError::new(
            409,
            ErrorKind::InvalidRequest,
            format!(
                "account `{account}` of provider `{provider}` is declared in the config file {}; change it there",
                app.snapshot().config.file.display()
            ),
        )
        .with_code("declared_in_file"));
    }
    Err(no_such(provider, account))
}

async fn change(app: Arc<App>, actor: Actor, provider: &str, account: &str, what: Verb) -> Answer {
    let row = stored_login(&app, provider, account).await?;
    let before = find(&app, provider, account).await?;
    let id = row.id;
    let action = match what {
        Verb::Enable => "account.enable",
        Verb::Disable => "account.disable",
        Verb::Remove => "account.remove",
    };
    on_store(&app, move |s| match what {
        Verb::Enable => s.set_status(id, AccountStatus::Active, None).map(|_| ()),
        Verb::Disable => s
            .set_status(
                id,
                AccountStatus::Disabled,
                Some("disabled through the API"),
            )
            .map(|_| ()),
        Verb::Remove => s.remove(id).map(|_| ()),
    })
    .await?;
    let stored = take_in(&app).await?;
    let after = views(&app, &stored)
        .into_iter()
        .find(|v| v.provider == provider && v.account == account);
    tracing::info!(by = "admin api", account = %format!("{provider}/{account}"), "{action}");
    audit::record(
        &app,
        &actor,
        Change {
            action,
            target: format!("{provider}/{account}"),
            before: Some(json!(before)),
            after: after.as_ref().map(|a| json!(a)),
        },
    )
    .await?;
    match after {
        Some(after) => ok(200, &after),
        None => ok(200, &Removed { removed: before }),
    }
}

/// Uses a disabled stored login again (as `switchyard accounts enable`).
#[utoipa::path(
    operation_id = "enable_account",
    post,
    path = "/api/accounts/{provider}/{account}/enable",
    tag = "accounts",
    params(
        ("provider" = String, Path, description = "The provider's name"),
        ("account" = String, Path, description = "The account's name"),
    ),
    responses(
        (status = 200, description = "The account, enabled and in use", body = AccountView),
        (status = 404, description = "No such account", body = super::openapi::ErrorBody),
        (status = 409, description = "The account is declared in the config file", body = super::openapi::ErrorBody),
    )
)]
pub async fn enable(app: Arc<App>, actor: Actor, provider: &str, account: &str) -> Answer {
    change(app, actor, provider, account, Verb::Enable).await
}

/// Stops using a stored login (as `switchyard accounts disable`); requests in flight on it
/// finish.
#[utoipa::path(
    operation_id = "disable_account",
    post,
    path = "/api/accounts/{provider}/{account}/disable",
    tag = "accounts",
    params(
        ("provider" = String, Path, description = "The provider's name"),
        ("account" = String, Path, description = "The account's name"),
    ),
    responses(
        (status = 200, description = "The account, disabled", body = AccountView),
        (status = 404, description = "No such account", body = super::openapi::ErrorBody),
        (status = 409, description = "The account is declared in the config file", body = super::openapi::ErrorBody),
    )
)]
pub async fn disable(app: Arc<App>, actor: Actor, provider: &str, account: &str) -> Answer {
    change(app, actor, provider, account, Verb::Disable).await
}

/// Deletes a stored login and its tokens (as `switchyard accounts remove`).
#[utoipa::path(
    operation_id = "remove_account",
    delete,
    path = "/api/accounts/{provider}/{account}",
    tag = "accounts",
    params(
        ("provider" = String, Path, description = "The provider's name"),
        ("account" = String, Path, description = "The account's name"),
    ),
    responses(
        (status = 200, description = "The account as it was before removal", body = Removed),
        (status = 404, description = "No such account", body = super::openapi::ErrorBody),
        (status = 409, description = "The account is declared in the config file: remove it there", body = super::openapi::ErrorBody),
    )
)]
pub async fn remove(app: Arc<App>, actor: Actor, provider: &str, account: &str) -> Answer {
    change(app, actor, provider, account, Verb::Remove).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_percent_decoded() {
        assert_eq!(decode("dev%40example.com"), "dev@example.com");
        assert_eq!(decode("a%2Fb%20c"), "a/b c");
        assert_eq!(decode("100%"), "100%");
        assert_eq!(decode("%zz"), "%zz");
    }
}
