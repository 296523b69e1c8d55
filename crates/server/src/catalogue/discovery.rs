//! Discovery: each provider's own list of the models it serves (OpenAI-compatible
//! `GET /models`, Anthropic `GET /v1/models`, Gemini `models.list`, Copilot `GET /models`),
//! fetched with one of its accounts, stored with the time it was fetched, refreshed on demand
//! (`POST /api/providers/{name}/models/refresh`, `switchyard models --refresh`) and daily in
//! the background. A discovered model the catalogue does not know still routes (any model
//! goes as `provider/model`); `switchyard models` flags it "no price".

use std::time::Duration;

use rusqlite::{Connection, params};
use serde::Serialize;
use serde_json::Value;
use switchyard_hub::{ApiError, ErrorKind};
use utoipa::ToSchema;

use crate::routing::epoch_ms;
use crate::state::app::{App, Provider};
use crate::state::credentials;

/// How often the background task refreshes a provider's list.
pub const EVERY: Duration = Duration::from_secs(24 * 3600);

/// Pages followed at most: every provider answers its whole list in one or two today.
const MAX_PAGES: usize = 20;

/// One model a provider listed, with the limits its list gives (Anthropic, Gemini and
/// Copilot say; OpenAI does not).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Discovered {
    pub id: String,
    pub display_name: Option<String>,
    pub context: Option<u64>,
    pub max_output: Option<u64>,
}

/// A provider's stored list.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ProviderModels {
    pub provider: String,
    /// When it was fetched, RFC 3339 UTC.
    pub fetched_at: String,
    pub models: Vec<ListedModel>,
}

/// A discovered model as the API and `switchyard models` show it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ListedModel {
    #[serde(flatten)]
    pub model: Discovered,
    /// Whether the catalogue prices it; unpriced models route, and their usage has no cost.
    pub priced: bool,
}

/// Reads one page of a model list in any of the shapes the providers answer: `data[]` with
/// `id` (OpenAI, Anthropic, Copilot) or `models[]` with `name` = `models/<id>` (Gemini).
pub fn parse(body: &Value) -> Result<Vec<Discovered>, String> {
    let u = |v: Option<&Value>| v.and_then(Value::as_u64);
    let s = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    if let Some(data) = body.get("data").and_then(Value::as_array) {
        return Ok(data
            .iter()
            .filter_map(|m| {
                let id = m.get("id")?.as_str()?.to_owned();
                let limits = m.pointer("/capabilities/limits");
                Some(Discovered {
                    display_name: s(m.get("display_name")).or_else(|| s(m.get("name"))),
                    context: u(m.get("max_input_tokens"))
                        .or_else(|| u(m.get("context_window")))
                        .or_else(|| u(limits.and_then(|l| l.get("max_context_window_tokens")))),
                    max_output: u(m.get("max_tokens"))
                        .or_else(|| u(limits.and_then(|l| l.get("max_output_tokens")))),
                    id,
                })
            })
            .collect());
    }
    if let Some(models) = body.get("models").and_then(Value::as_array) {
        return Ok(models
            .iter()
            .filter_map(|m| {
                let name = m.get("name")?.as_str()?;
                Some(Discovered {
                    id: name.strip_prefix("models/").unwrap_or(name).to_owned(),
                    display_name: s(m.get("displayName")),
                    context: u(m.get("inputTokenLimit")),
                    max_output: u(m.get("outputTokenLimit")),
                })
            })
            .collect());
    }
    // An empty Gemini list is `{}`.
    if body.as_object().is_some_and(|o| o.is_empty()) {
        return Ok(Vec::new());
    }
    Err("the answer is not a model list (no `data` or `models` array)".into())
}

/// The query that asks for the page after `body`, if the list says there is one: Anthropic's
/// `has_more` and `last_id`, Gemini's `nextPageToken`.
fn next_page(body: &Value) -> Option<(&'static str, String)> {
    if body.get("has_more").and_then(Value::as_bool) == Some(true) {
        let last = body.get("last_id")?.as_str()?;
        return Some(("after_id", last.to_owned()));
    }
    let token = body.get("nextPageToken")?.as_str()?;
    (!token.is_empty()).then(|| ("pageToken", token.to_owned()))
}

fn upstream(status: u16, message: String) -> ApiError {
    ApiError::new(status, ErrorKind::Upstream, message).with_code("model_list_failed")
}

/// Asks `provider` for its models with the first account that can, every page of them.
pub async fn fetch(app: &App, provider: &Provider) -> Result<Vec<Discovered>, ApiError> {
    let accounts = provider.accounts();
    let mut last_error = None;
    for account in accounts.iter().filter(|a| !a.credential.needs_login()) {
        let credential = match credentials::fresh(app, provider, account).await {
            Ok(c) => c,
            Err(f) => {
                last_error = Some(f.error);
                continue;
            }
        };
        let Some(first) = provider.executor.list_models(&credential) else {
            return Err(ApiError::invalid_request(format!(
                "provider `{}` (kind `{}`) has no model list in its API",
                provider.name, provider.kind
            ))
            .with_code("no_model_list"));
        };
        let first = first?;
        let mut models = Vec::new();
        let mut url = first.url.clone();
        for _ in 0..MAX_PAGES {
            let mut req = http::Request::builder()
                .method(first.method.clone())
                .uri(&url);
            for (name, value) in &first.headers {
                req = req.header(name, value);
            }
            let req = req
                .body(Vec::new())
                .map_err(|e| ApiError::internal(format!("cannot build the list request: {e}")))?;
            let res = app.client.fetch(req).await.map_err(|e| {
                upstream(
                    502,
                    format!("provider `{}`: model list: {e}", provider.name),
                )
            })?;
            let status = res.status().as_u16();
            let body: Value = serde_json::from_slice(res.body()).unwrap_or(Value::Null);
            if !(200..300).contains(&status) {
                // The upstream's own words, without anything it echoed beyond a line.
                let said = body
                    .pointer("/error/message")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .chars()
                    .take(200)
                    .collect::<String>();
                return Err(upstream(
                    502,
                    format!(
                        "provider `{}` answered its model list with {status}: {said}",
                        provider.name
                    ),
                ));
            }
            models.extend(
                parse(&body)
                    .map_err(|e| upstream(502, format!("provider `{}`: {e}", provider.name)))?,
            );
            match next_page(&body) {
                Some((key, value)) => {
                    let sep = if first.url.contains('?') { '&' } else { '?' };
                    url = format!("{}{sep}{key}={}", first.url, encode(&value));
                }
                None => return Ok(models),
            }
        }
        return Ok(models);
    }
    Err(last_error.unwrap_or_else(|| {
        ApiError::new(
            503,
            ErrorKind::Upstream,
            format!(
                "provider `{}` has no usable account to list its models with",
                provider.name
            ),
        )
        .with_code("no_account_available")
    }))
}

/// Percent-encodes a page token for a query string.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Replaces `provider`'s stored list with `models`, fetched at `fetched_ms`.
pub fn store(
    conn: &mut Connection,
    provider: &str,
    fetched_ms: i64,
    models: &[Discovered],
) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    tx.execute(
        "DELETE FROM provider_models WHERE provider = ?1",
        [provider],
    )?;
    {
        let mut insert = tx.prepare(
            "INSERT OR REPLACE INTO provider_models
                 (provider, model, display_name, context, max_output, fetched_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for m in models {
            insert.execute(params![
                provider,
                m.id,
                m.display_name,
                m.context.map(|n| i64::try_from(n).unwrap_or(i64::MAX)),
                m.max_output.map(|n| i64::try_from(n).unwrap_or(i64::MAX)),
                fetched_ms
            ])?;
        }
    }
    tx.execute(
        "INSERT INTO provider_model_fetches (provider, fetched_ms) VALUES (?1, ?2)
         ON CONFLICT (provider) DO UPDATE SET fetched_ms = ?2",
        params![provider, fetched_ms],
    )?;
    tx.commit()
}

/// Every stored list: (provider, fetched_ms, models), providers by name.
pub fn load(conn: &Connection) -> rusqlite::Result<Vec<(String, i64, Vec<Discovered>)>> {
    let mut fetches =
        conn.prepare("SELECT provider, fetched_ms FROM provider_model_fetches ORDER BY provider")?;
    let lists: Vec<(String, i64)> = fetches
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut models = conn.prepare(
        "SELECT model, display_name, context, max_output FROM provider_models
         WHERE provider = ?1 ORDER BY model",
    )?;
    let mut out = Vec::new();
    for (provider, fetched_ms) in lists {
        let list = models
            .query_map([&provider], |r| {
                Ok(Discovered {
                    id: r.get(0)?,
                    display_name: r.get(1)?,
                    context: r.get::<_, Option<i64>>(2)?.map(|n| n.max(0) as u64),
                    max_output: r.get::<_, Option<i64>>(3)?.map(|n| n.max(0) as u64),
                })
            })?
            .collect::<Result<_, _>>()?;
        out.push((provider, fetched_ms, list));
    }
    Ok(out)
}

/// A stored or fresh list as the API shows it, each model marked priced or not.
pub fn view(
    catalogue: &super::Catalogue,
    provider: &str,
    kind: &str,
    fetched_ms: i64,
    models: Vec<Discovered>,
) -> ProviderModels {
    ProviderModels {
        provider: provider.to_owned(),
        fetched_at: chrono::DateTime::from_timestamp_millis(fetched_ms)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_default(),
        models: models
            .into_iter()
            .map(|m| ListedModel {
                priced: catalogue
                    .find(kind, &m.id)
                    .is_some_and(|i| i.prices.is_some()),
                model: m,
            })
            .collect(),
    }
}

/// Fetches `provider`'s list and stores it: what the refresh route and the daily task do.
pub async fn refresh(
    app: &std::sync::Arc<App>,
    provider: &Provider,
) -> Result<ProviderModels, ApiError> {
    let mut models = fetch(app, provider).await?;
    // By id, as a stored list reads back.
    models.sort_by(|a, b| a.id.cmp(&b.id));
    models.dedup_by(|a, b| a.id == b.id);
    let fetched_ms = epoch_ms(switchyard_hub::clock::now());
    let (name, stored) = (provider.name.clone(), models.clone());
    crate::api::with_db(app, move |conn| store(conn, &name, fetched_ms, &stored)).await?;
    Ok(view(
        &app.snapshot().config.catalogue,
        &provider.name,
        &provider.kind,
        fetched_ms,
        models,
    ))
}

/// Refreshes each provider whose API has a model list once its stored list is a day old
/// (a list never fetched waits an hour after start, so a server started briefly, a test
/// say, asks nothing of its providers it was not asked to).
pub async fn refresh_daily(app: std::sync::Arc<App>) {
    let started = std::time::Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if started.elapsed() < Duration::from_secs(3600) {
            continue;
        }
        let fetched = crate::api::with_db(&app, |conn| load(conn))
            .await
            .unwrap_or_default();
        let now = epoch_ms(switchyard_hub::clock::now());
        for provider in &app.snapshot().providers {
            let last = fetched
                .iter()
                .find(|(p, _, _)| *p == provider.name)
                .map(|(_, t, _)| *t);
            let due = last.is_none_or(|t| now - t >= EVERY.as_millis() as i64);
            let has_list = provider
                .accounts()
                .iter()
                .find(|a| !a.credential.needs_login())
                .is_some_and(|a| provider.executor.list_models(&a.credential.get()).is_some());
            if !(due && has_list) {
                continue;
            }
            match refresh(&app, provider).await {
                Ok(list) => tracing::info!(
                    provider = %provider.name,
                    models = list.models.len(),
                    "model list refreshed"
                ),
                Err(e) => tracing::warn!(
                    provider = %provider.name,
                    "model list refresh failed: {}",
                    e.message
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_providers_list_shape_is_read() {
        let openai = json!({"object": "list", "data": [{"id": "gpt-4.1", "object": "model", "created": 1, "owned_by": "openai"}]});
        assert_eq!(
            parse(&openai).unwrap(),
            [Discovered {
                id: "gpt-4.1".into(),
                display_name: None,
                context: None,
                max_output: None
            }]
        );
        let anthropic = json!({"data": [{"type": "model", "id": "claude-x", "display_name": "Claude X",
            "created_at": "2025-01-01T00:00:00Z", "max_input_tokens": 200000, "max_tokens": 64000}],
            "has_more": true, "first_id": "claude-x", "last_id": "claude-x"});
        let m = &parse(&anthropic).unwrap()[0];
        assert_eq!(
            (m.display_name.as_deref(), m.context, m.max_output),
            (Some("Claude X"), Some(200_000), Some(64_000))
        );
        assert_eq!(next_page(&anthropic), Some(("after_id", "claude-x".into())));
        let gemini = json!({"models": [{"name": "models/gemini-2.5-pro", "displayName": "Gemini 2.5 Pro",
            "inputTokenLimit": 1048576, "outputTokenLimit": 65536}], "nextPageToken": "a b"});
        let m = &parse(&gemini).unwrap()[0];
        assert_eq!(
            (m.id.as_str(), m.context),
            ("gemini-2.5-pro", Some(1_048_576))
        );
        assert_eq!(next_page(&gemini), Some(("pageToken", "a b".into())));
        assert_eq!(encode("a b/="), "a%20b%2F%3D");
        let copilot = json!({"data": [{"id": "gpt-5", "name": "GPT-5", "capabilities":
            {"limits": {"max_context_window_tokens": 400000, "max_output_tokens": 128000}}}]});
        let m = &parse(&copilot).unwrap()[0];
        assert_eq!((m.context, m.max_output), (Some(400_000), Some(128_000)));
        assert!(parse(&json!({})).unwrap().is_empty());
        assert!(parse(&json!({"error": "x"})).is_err());
    }
}
