//! `POST /api/accounts/reset`: an operator clears an account's cooldowns, backoff, failure
//! count and set-aside, because a provider's hint (hours) can outlast the quota it guarded
//! and cooldowns survive restarts.

use std::net::SocketAddr;
use std::sync::Arc;

use http::{Request, Response};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde_json::{Value, json};
use switchyard_hub::{ApiError, ErrorKind};

use crate::http::respond::{self, Body};
use crate::state::app::App;
use crate::state::usage_store::ResetScope;

/// What a well-formed body looks like, for every refusal.
const SHAPE: &str =
    r#"send {"provider": "...", "account": "..."}, {"provider": "..."} or {"all": true}"#;

/// Far more than any well-formed request needs.
const BODY_LIMIT: usize = 16 * 1024;

/// Answers an authorized reset request.
pub async fn handle(app: Arc<App>, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    let scope = match read_scope(req.into_body(), app.snapshot().config.timeouts.client_body).await
    {
        Ok(s) => s,
        Err(e) => return respond::error(&e, switchyard_hub::Format::OpenAi),
    };
    let done = app.reset_accounts(&scope);
    if done.is_empty() {
        let err = ApiError::not_found(format!(
            "no account in use matches {scope}; an account disabled with `switchyard accounts disable` is not in use and is not reset (see GET /api/accounts)"
        ))
        .with_code("no_such_account");
        return respond::error(&err, switchyard_hub::Format::OpenAi);
    }
    let names: Vec<String> = done.iter().map(|(p, a, _)| format!("{p}/{a}")).collect();
    tracing::info!(by = "admin api", peer = %peer, scope = %scope, accounts = %names.join(" "), "accounts reset");
    let rows: Vec<Value> = done
        .iter()
        .map(|(p, a, needs_login)| json!({"provider": p, "account": a, "needs_login": needs_login}))
        .collect();
    respond::json(200, &json!({ "reset": rows }))
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
