//! Providers and accounts: each account's status, health, cooldown (counting down) and why,
//! today's counters, and the actions an operator takes on them.

use std::sync::Arc;

use maud::{Markup, html};
use serde_json::{Value, json};

use crate::state::app::App;

pub fn page(app: &Arc<App>) -> Markup {
    let report = app.accounts_report();
    let rows = report["accounts"].as_array().cloned().unwrap_or_default();
    html! {
        p {
            button.secondary type="button" data-url="/api/accounts/reset" data-body=(json!({"all": true}).to_string())
                data-confirm="Clear every account's cooldowns and failure counts?" data-ok="Every account reset" { "Reset every account" }
        }
        @if rows.is_empty() {
            p.muted { "No accounts: add a provider with an account to data/config.toml, or log in with `switchyard login`." }
        } @else {
            table {
                thead { tr {
                    @for h in ["provider", "account", "status", "cooldown", "last error"] { th scope="col" { (h) } }
                    @for h in ["health", "requests today", "tokens today"] { th.num scope="col" { (h) } }
                    th scope="col" { "actions" }
                } }
                tbody {
                    @for a in &rows { (row(a)) }
                }
            }
        }
    }
}

fn row(a: &Value) -> Markup {
    let text = |k: &str| a[k].as_str().unwrap_or("-").to_owned();
    let status = text("status");
    let (provider, account) = (text("provider"), text("account"));
    let until = a["cooldown_until"]
        .as_str()
        .or_else(|| a["disabled_until"].as_str());
    let per_model: Vec<(String, String)> = a["model_cooldowns"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    html! {
        tr {
            td { (provider) }
            td { (account) }
            td class=(format!("status-{status}")) { (status) }
            td {
                @if let Some(t) = until { span data-until=(t) { (t) } }
                @for (model, t) in &per_model { div { (model) ": " span data-until=(t) { (t) } } }
                @if until.is_none() && per_model.is_empty() { span.muted { "none" } }
            }
            td { (a["last_error"]["message"].as_str().unwrap_or("")) }
            td.num { (a["health"].as_f64().map(|h| format!("{h:.2}")).unwrap_or_default()) }
            td.num { (a["requests_today"]) }
            td.num { (a["tokens_today"]) }
            td {
                button.secondary type="button" data-url="/api/accounts/reset"
                    data-body=(json!({"provider": provider, "account": account}).to_string())
                    aria-label=(format!("Reset {provider}/{account}")) data-ok=(format!("{provider}/{account} reset")) { "Reset" }
            }
        }
    }
}
