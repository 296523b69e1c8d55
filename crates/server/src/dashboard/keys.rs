//! Client keys: make one (its secret shown once, here only), see each key's limits and
//! usage, revoke one. Changes go through `/api/keys`.

use std::sync::Arc;

use maud::{Markup, html};

use crate::api::keys::{self, KeyView};
use crate::dashboard::Page;
use crate::state::app::App;

pub async fn page(app: &Arc<App>) -> Page {
    let keys = keys::views(app).await.map_err(|e| (500, e.message))?;
    Ok(html! {
        section {
            h2 { "Make a key" }
            form data-api="/api/keys" data-show="secret" data-ok="Key made: copy its secret now" aria-label="Make a client key" {
                label { span { "Name" } input name="name" required size="20"; }
                label { span { "Requests per minute" } input name="limits.requests_per_minute" data-number inputmode="numeric" size="8"; }
                label { span { "Tokens per day" } input name="limits.tokens_per_day" data-number inputmode="numeric" size="10"; }
                label { span { "Expires (YYYY-MM-DD)" } input name="expires_at" size="12"; }
                " " button type="submit" { "Make key" }
                p { output.secret-once id="new-secret" data-result hidden aria-live="polite" {} }
            }
            p.muted { "The secret is shown once, here; only its hash is stored. Reload the page to see the key listed." }
        }
        @if keys.is_empty() {
            p.muted { "No client keys: only clients on this machine are served." }
        } @else {
            table {
                thead { tr {
                    @for h in ["id", "name", "source", "key", "status", "expires", "limits"] { th scope="col" { (h) } }
                    @for h in ["tokens today", "tokens this month"] { th.num scope="col" { (h) } }
                    th scope="col" { "actions" }
                } }
                tbody { @for k in &keys { (row(k)) } }
            }
        }
    })
}

fn word<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn row(k: &KeyView) -> Markup {
    let status = word(&k.status);
    let source = word(&k.source);
    let limits = [
        k.limits.requests_per_minute.map(|n| format!("{n}/min")),
        k.limits.tokens_per_day.map(|n| format!("{n} tokens/day")),
        k.limits
            .tokens_per_month
            .map(|n| format!("{n} tokens/month")),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(", ");
    html! {
        tr {
            td { (k.id) }
            td { (k.name) }
            td { (source) }
            td { code { (k.display) } }
            td class=(if status == "active" { "status-ok" } else { "status-bad" }) { (status) }
            td { (k.expires_at.as_deref().unwrap_or("never")) }
            td { (if limits.is_empty() { "none".to_owned() } else { limits }) }
            td.num { (k.usage.tokens_today) }
            td.num { (k.usage.tokens_this_month) }
            td {
                @if source == "database" && status == "active" {
                    button.danger type="button" data-url=(format!("/api/keys/{}/revoke", k.id))
                        aria-label=(format!("Revoke {}", k.name)) data-confirm=(format!("Revoke the key {}?", k.name)) { "Revoke" }
                }
            }
        }
    }
}
