//! `POST /api/accounts/reset`: an operator clears an account's cooldowns, backoff, failure
//! count and set-aside, because a provider's hint (hours) can outlast the quota it guarded
//! and cooldowns survive restarts.

use std::net::SocketAddr;
use std::sync::Arc;

use http::Request;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde_json::{Value, json};
use switchyard_hub::{ApiError, ErrorKind};

use crate::api::audit::{self, Change};
use crate::api::{Actor, Answer, ok};
use crate::state::app::App;
use crate::state::usage_store::ResetScope;

/// What a well-formed body looks like, for every refusal.
const SHAPE: &str =
    r#"send {"provider": "...", "account": "..."}, {"provider": "..."} or {"all": true}"#;

/// Far more than any well-formed request needs.
const BODY_LIMIT: usize = 16 * 1024;

/// Clears the cooldowns, backoff, failure count and set-aside of the accounts named.
#[utoipa::path(
    operation_id = "reset_accounts",
    post,
    path = "/api/accounts/reset",
    tag = "accounts",
    request_body(content = serde_json::Value, description = r#"{"provider": "...", "account": "..."}, {"provider": "..."} or {"all": true}"#),
    responses(
        (status = 200, description = "The accounts reset", body = serde_json::Value),
        (status = 400, description = "A body of another shape", body = super::openapi::ErrorBody),
        (status = 404, description = "No account in use matches", body = super::openapi::ErrorBody),
    )
)]
pub async fn handle(
    app: Arc<App>,
    req: Request<Incoming>,
    peer: SocketAddr,
    actor: Actor,
) -> Answer {
    let scope = read_scope(req.into_body(), app.snapshot().config.timeouts.client_body).await?;
    let done = app.reset_accounts(&scope);
    if done.is_empty() {
        return Err(ApiError::not_found(format!(
            "no account in use matches {scope}; an account disabled with `switchyard accounts disable` is not in use and is not reset (see GET /api/accounts)"
        ))
        .with_code("no_such_account"));
    }
    let names: Vec<String> = done.iter().map(|(p, a, _)| format!("{p}/{a}")).collect();
    tracing::info!(by = "admin api", peer = %peer, scope = %scope, accounts = %names.join(" "), "accounts reset");
    let rows: Vec<Value> = done
        .iter()
        .map(|(p, a, needs_login)| json!({"provider": p, "account": a, "needs_login": needs_login}))
        .collect();
    let answer = json!({ "reset": rows });
    let change = Change {
        action: "account.reset",
        target: scope.audit_target(),
        before: None,
        after: Some(answer.clone()),
    };
    audit::record(&app, &actor, change).await?;
    ok(200, &answer)
}

async fn read_scope(body: Incoming, pause: std::time::Duration) -> Result<ResetScope, ApiError> {
    let collected = tokio::time::timeout(pause, Limited::new(body, BODY_LIMIT).collect())
        .await
        .map_err(|_| ApiError::new(408, ErrorKind::Timeout, "the request body stopped arriving"))?
        .map_err(|e| bad(format!("cannot read the body: {e}")))?;
    let value: Value = serde_json::from_slice(&collected.to_bytes())
        .map_err(|e| bad(format!("the body is not JSON ({e}): {SHAPE}")))?;
    parse_scope(&value)
}

fn bad(message: String) -> ApiError {
    ApiError::new(400, ErrorKind::InvalidRequest, message).with_code("invalid_reset")
}

/// `{"provider", "account"}`, `{"provider"}` or `{"all": true}`, and nothing else.
fn parse_scope(v: &Value) -> Result<ResetScope, ApiError> {
    const SHAPE: &str =
        r#"send {"provider": "...", "account": "..."}, {"provider": "..."} or {"all": true}"#;
    let obj = v
        .as_object()
        .ok_or_else(|| bad(format!("the body must be a JSON object: {SHAPE}")))?;
    if let Some(k) = obj
        .keys()
        .find(|k| !matches!(k.as_str(), "provider" | "account" | "all"))
    {
        return Err(bad(format!("unknown field `{k}`: {SHAPE}")));
    }
    let text = |key: &str| -> Result<Option<String>, ApiError> {
        match obj.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.clone())),
            Some(_) => Err(bad(format!("`{key}` must be a non-empty string: {SHAPE}"))),
        }
    };
    let (provider, account) = (text("provider")?, text("account")?);
    match (obj.get("all"), provider, account) {
        (Some(Value::Bool(true)), None, None) => Ok(ResetScope::All),
        (Some(_), _, _) => Err(bad(format!("`all` must be true and stand alone: {SHAPE}"))),
        (None, Some(provider), Some(account)) => Ok(ResetScope::Account { provider, account }),
        (None, Some(p), None) => Ok(ResetScope::Provider(p)),
        (None, None, _) => Err(bad(format!("name a provider, or ask for all: {SHAPE}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_shapes_parse_and_everything_else_is_refused() {
        assert_eq!(parse_scope(&json!({"all": true})).unwrap(), ResetScope::All);
        assert_eq!(
            parse_scope(&json!({"provider": "p"})).unwrap(),
            ResetScope::Provider("p".into())
        );
        assert_eq!(
            parse_scope(&json!({"provider": "p", "account": "a"})).unwrap(),
            ResetScope::Account {
                provider: "p".into(),
                account: "a".into()
            }
        );
        for bad in [
            json!({}),
            json!([]),
            json!({"all": false}),
            json!({"all": true, "provider": "p"}),
            json!({"account": "a"}),
            json!({"provider": 3}),
            json!({"provider": ""}),
            json!({"provider": "p", "acount": "a"}),
        ] {
            assert_eq!(parse_scope(&bad).unwrap_err().status, 400, "{bad}");
        }
    }
}
