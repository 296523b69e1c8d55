//! `POST /api/accounts`: adds an API-key account to a configured provider from the API (the
//! dashboard's "add an account" form), stored in the account store as an imported API-key
//! login is, taken in at once and audited. The key is never answered or audited: the answer
//! is the account's view, which describes a credential without showing it.

use std::sync::Arc;

use http::Request;
use hyper::body::Incoming;
use serde::Deserialize;
use switchyard_auth::{Credential, Secret};
use switchyard_hub::{ApiError, ErrorKind};
use utoipa::ToSchema;

use crate::api::accounts::{self, on_store};
use crate::api::{Actor, Answer, body, logins, ok};
use crate::state::app::App;

/// A new API-key account.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    /// A configured provider's name.
    pub provider: String,
    /// The account's name (default: `<provider>-<n>`).
    pub name: Option<String>,
    /// The provider's API key; stored, never shown again.
    pub api_key: String,
}

// By hand, so a debug print of the request can never show the key.
impl std::fmt::Debug for NewAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewAccount")
            .field("provider", &self.provider)
            .field("name", &self.name)
            .field("api_key", &"***")
            .finish()
    }
}

/// Adds an API-key account, in use at once.
#[utoipa::path(
    operation_id = "create_account",
    post,
    path = "/api/accounts",
    tag = "accounts",
    request_body = NewAccount,
    responses(
        (status = 201, description = "The stored account, in use (the key is not shown)", body = accounts::AccountView),
        (status = 400, description = "An empty or malformed key or name", body = super::openapi::ErrorBody),
        (status = 404, description = "No such provider", body = super::openapi::ErrorBody),
        (status = 409, description = "The provider has an account of that name (in the file or stored)", body = super::openapi::ErrorBody),
    )
)]
pub async fn create(app: Arc<App>, req: Request<Incoming>, actor: Actor) -> Answer {
    let asked: NewAccount = body::read(&app, req).await?;
    let live = app.snapshot();
    let provider = live
        .config
        .providers
        .iter()
        .find(|p| p.name == asked.provider)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no provider `{}` in the configuration (see GET /api/settings)",
                asked.provider
            ))
            .with_code("no_such_provider")
        })?
        .name
        .clone();
    let key = asked.api_key.trim();
    if key.is_empty() || key.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(body::invalid(
            "api_key must be the key itself: not empty, no spaces or line breaks".into(),
        ));
    }
    let name = asked
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned);
    if let Some(n) = &name {
        if n.contains('/') || n.chars().any(char::is_control) {
            return Err(body::invalid(format!(
                "account name `{n}` may not hold `/` or control characters"
            )));
        }
        let (p, n2) = (provider.clone(), n.clone());
        let stored = on_store(&app, move |s| s.find(&p, &n2)).await?;
        let in_file = live
            .providers
            .iter()
            .filter(|p| p.name == provider)
            .any(|p| p.accounts().iter().any(|a| &a.name == n));
        if stored.is_some() || in_file {
            return Err(ApiError::new(
                409,
                ErrorKind::InvalidRequest,
                format!("provider `{provider}` already has an account `{n}`; remove it first or pick another name"),
            )
            .with_code("conflict"));
        }
    }
    let after = logins::store_login(
        &app,
        &actor,
        &provider,
        name,
        None,
        Credential::ApiKey(Secret::new(key)),
        "account.create",
    )
    .await?;
    ok(201, &after)
}
