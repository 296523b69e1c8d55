//! Providers and accounts: each account's status, health, cooldown (counting down) and why,
//! today's counters, and the actions an operator takes on them (through the management API):
//! reset, enable, disable, remove, and add one (an API key, a login file, an OAuth login
//! from this browser).

use std::sync::Arc;

use maud::{Markup, html};
use serde_json::json;

use crate::api::accounts::{self, AccountSource, AccountStatusView, AccountView};
use crate::dashboard::Page;
use crate::state::app::App;

/// Every account the server knows, as the API shows it.
pub async fn all(app: &Arc<App>) -> Result<Vec<AccountView>, (u16, String)> {
    let stored = accounts::on_store(app, |s| s.list(None))
        .await
        .map_err(|e| (500, e.message))?;
    Ok(accounts::views(app, &stored))
}

pub async fn page(app: &Arc<App>) -> Page {
    let rows = all(app).await?;
    Ok(html! {
        p {
            button.secondary type="button" data-url="/api/accounts/reset" data-body=(json!({"all": true}).to_string())
                data-confirm="Clear every account's cooldowns and failure counts?" data-ok="Every account reset" { "Reset every account" }
        }
        @if rows.is_empty() {
            p.muted { "No accounts: add a provider with an account to data/config.toml, or log in with `switchyard login`." }
        } @else {
            table {
                thead { tr {
                    @for h in ["provider", "account", "source", "status", "cooldown", "last error"] { th scope="col" { (h) } }
                    @for h in ["health", "requests today", "tokens today"] { th.num scope="col" { (h) } }
                    th scope="col" { "actions" }
                } }
                tbody {
                    @for a in &rows { (row(a)) }
                }
            }
        }
        (add_forms(app))
    })
}

/// The forms that add accounts: an API key, a login file's contents, an OAuth login.
fn add_forms(app: &App) -> Markup {
    let live = app.snapshot();
    let providers: Vec<(&str, &str)> = live
        .config
        .providers
        .iter()
        .map(|p| (p.name.as_str(), p.kind.as_str()))
        .collect();
    let options = html! {
        @for (name, kind) in &providers { option value=(name) { (name) " (" (kind) ")" } }
    };
    html! {
        div.cards {
            section {
                h2 { "Add an API-key account" }
                form data-api="/api/accounts" data-ok="Account added" data-done="reload" aria-label="Add an API-key account" {
                    label { span { "Provider" } select name="provider" required { (options) } }
                    label { span { "Account name" } input name="name" size="16" placeholder="optional"; }
                    label { span { "API key" } input name="api_key" type="password" autocomplete="off" required size="28"; }
                    " " button type="submit" { "Add account" }
                }
                p.muted { "The key is stored in the database and never shown again." }
            }
            section {
                h2 { "Import a login file" }
                form data-api="/api/accounts/import" data-ok="Login imported" data-done="reload" aria-label="Import a login file" {
                    label { span { "Provider" } select name="provider" required { (options) } }
                    label { span { "Account name" } input name="name" size="16" placeholder="optional"; }
                    label.wide { span { "The file's contents (Claude Code .credentials.json, Codex auth.json, Gemini CLI oauth_creds.json)" }
                        textarea name="contents" rows="4" cols="48" required spellcheck="false" {} }
                    " " button type="submit" { "Import" }
                }
            }
            section {
                h2 { "Log in with OAuth" }
                form id="oauth-login" aria-label="Log in with OAuth" {
                    label { span { "Provider" } select name="provider" required { (options) } }
                    label { span { "Account name" } input name="name" size="16" placeholder="optional"; }
                    " " button type="submit" { "Start login" }
                }
                div id="oauth-progress" hidden {
                    div id="oauth-device" hidden {
                        p { "Open " a id="oauth-verify" target="_blank" rel="noopener noreferrer" href="#" { "the provider's page" }
                            " and enter this code:" }
                        p { output.secret-once id="oauth-code" {} " " button.secondary type="button" data-copy="#oauth-code" { "Copy code" } }
                    }
                    div id="oauth-pkce" hidden {
                        p { a id="oauth-authorize" target="_blank" rel="noopener noreferrer" href="#" { "Open the sign-in page" }
                            ". When it ends on an address that does not load, copy that whole address here:" }
                        form id="oauth-paste" aria-label="Finish the login" {
                            label { span { "Address the browser ended on" } input name="redirect_url" size="48" required; }
                            " " button type="submit" { "Finish login" }
                        }
                    }
                    p id="oauth-status" role="status" aria-live="polite" {}
                }
            }
        }
    }
}

fn status_word(s: AccountStatusView) -> (&'static str, &'static str) {
    match s {
        AccountStatusView::Ok => ("ok", "status-ok"),
        AccountStatusView::Cooling => ("cooling", "status-cooling"),
        AccountStatusView::SetAside => ("set aside", "status-warn"),
        AccountStatusView::NeedsLogin => ("needs login", "status-bad"),
        AccountStatusView::Disabled => ("disabled", "status-disabled"),
    }
}

fn row(a: &AccountView) -> Markup {
    let (word, class) = status_word(a.status);
    let name = format!("{}/{}", a.provider, a.account);
    let path = format!(
        "/api/accounts/{}/{}",
        urlencode(&a.provider),
        urlencode(&a.account)
    );
    let until = a.cooldown_until.as_deref().or(a.set_aside_until.as_deref());
    html! {
        tr {
            td { (a.provider) }
            td { (a.account) }
            td { (match a.source { AccountSource::File => "file", AccountSource::Login => "login" }) }
            td class=(class) { (word) }
            td {
                @if let Some(t) = until {
                    span data-until=(t) { (t) }
                    @if let Some(r) = &a.cooldown_reason { div.muted { (r) } }
                }
                @for (model, c) in &a.model_cooldowns {
                    div { (model) ": " span data-until=(c.until) { (c.until) }
                        @if let Some(r) = &c.reason { " " span.muted { (r) } } }
                }
                @if until.is_none() && a.model_cooldowns.is_empty() { span.muted { "none" } }
            }
            td { (a.last_error.as_ref().map(|e| e.message.as_str()).unwrap_or("")) }
            td.num { (a.health) }
            td.num { (a.requests_today) }
            td.num { (a.tokens_today) }
            td {
                button.secondary type="button" data-url="/api/accounts/reset"
                    data-body=(json!({"provider": a.provider, "account": a.account}).to_string())
                    aria-label=(format!("Reset {name}")) data-ok=(format!("{name} reset")) { "Reset" }
                @if a.source == AccountSource::Login {
                    " "
                    @if a.status == AccountStatusView::Disabled {
                        button.secondary type="button" data-url=(format!("{path}/enable")) aria-label=(format!("Enable {name}")) { "Enable" }
                    } @else {
                        button.secondary type="button" data-url=(format!("{path}/disable")) aria-label=(format!("Disable {name}")) { "Disable" }
                    }
                    " "
                    button.danger type="button" data-method="DELETE" data-url=(path) aria-label=(format!("Remove {name}"))
                        data-confirm=(format!("Remove the login {name}?")) { "Remove" }
                }
            }
        }
    }
}

fn urlencode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}
