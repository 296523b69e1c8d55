//! Providers: every provider in force or stored, where it comes from (the file's read-only,
//! the API's editable), a form that creates one, a test button per provider (one tiny request:
//! ok, status, latency, error) and the provider's own model list beside the models it is
//! configured with. Changes go through `/api/providers`; keys are only ever shown masked.

use std::collections::HashMap;
use std::sync::Arc;

use maud::{Markup, html};

use crate::api::providers::{self, ProviderView};
use crate::api::routes::RouteSource;
use crate::api::with_db;
use crate::catalogue::discovery::{self, ProviderModels};
use crate::dashboard::Page;
use crate::state::app::App;

pub async fn page(app: &Arc<App>) -> Page {
    let list = providers::views(app).await.map_err(|e| (500, e.message))?;
    let stored = with_db(app, |conn| discovery::load(conn))
        .await
        .map_err(|e| (500, e.message))?;
    let catalogue = &app.snapshot().config.catalogue;
    let discovered: HashMap<String, ProviderModels> = stored
        .into_iter()
        .filter_map(|(name, fetched_ms, models)| {
            let kind = list.iter().find(|p| p.name == name)?.kind.clone();
            let view = discovery::view(catalogue, &name, &kind, fetched_ms, models);
            Some((name, view))
        })
        .collect();
    let mut kinds: Vec<&str> = app.kinds.keys().copied().collect();
    kinds.sort_unstable();
    let file = app.snapshot().config.file.display().to_string();
    Ok(html! {
        p.muted {
            "Providers from the file (" code { (file) } ") are changed there; the rest are kept in the database and change here, in force at once."
        }
        @if list.is_empty() {
            p.muted { "No providers yet: create one below." }
        } @else {
            table id="providers" {
                thead { tr {
                    @for h in ["provider", "kind", "base URL", "configured models", "its model list", "accounts", "from", "test", "actions"] {
                        th scope="col" { (h) }
                    }
                } }
                tbody { @for (i, p) in list.iter().enumerate() { (row(i, p, discovered.get(&p.name))) } }
            }
        }
        section {
            h2 { "New provider" }
            form data-api="/api/providers" data-ok="Provider created" data-done="reload" aria-label="New provider" {
                label { span { "Name" } input name="name" required size="14" pattern="[A-Za-z0-9_.\\-]+"; }
                label { span { "Kind (wire format and login)" }
                    select name="kind" required {
                        @for k in &kinds {
                            @if *k == "openai" { option value=(k) selected { (k) } } @else { option value=(k) { (k) } }
                        }
                    }
                }
                label { span { "Base URL" } input name="base_url" type="url" required size="32" placeholder="https://api.example.com/v1"; }
                label { span { "Models, comma-separated" } input name="models" data-list size="28"; }
                label { span { "Account name" } input name="accounts[0].name" size="12" placeholder="optional"; }
                label { span { "API key" } input name="accounts[0].api_key" type="password" autocomplete="off" size="24"; }
                " " button type="submit" { "Create provider" }
            }
            p.muted { "The key is stored in the database and never shown again; more accounts are added on the accounts page." }
        }
    })
}

fn row(i: usize, p: &ProviderView, discovered: Option<&ProviderModels>) -> Markup {
    let path = format!("/api/providers/{}", urlencode(&p.name));
    let editable = p.source == RouteSource::Database;
    html! {
        tr {
            td { (p.name) }
            td { (p.kind) }
            td { code { (p.base_url) } }
            td { (p.models.join(", ")) }
            td {
                @match discovered {
                    Some(d) => {
                        div.muted { (d.models.len()) " models, fetched " (d.fetched_at) }
                        details {
                            summary { "Show" }
                            ul.models { @for m in &d.models {
                                li { (m.model.id) @if !m.priced { " " span.muted { "(no price)" } } }
                            } }
                        }
                    }
                    None => span.muted { "not fetched" },
                }
                button.secondary.small type="button" data-url=(format!("{path}/models/refresh"))
                    aria-label=(format!("Refresh the model list of {}", p.name)) data-ok="Model list fetched" { "Refresh" }
            }
            td { @for a in &p.accounts {
                div { (a.name) ": " code { (a.key.as_deref().unwrap_or("no key")) } }
            } }
            td {
                (match p.source { RouteSource::File => "from file", RouteSource::Database => "database" })
                @if !p.in_force { div.status-bad { "not in force" @if let Some(e) = &p.error { ": " (e) } } }
            }
            td {
                button.secondary type="button" data-test=(format!("{path}/test")) data-out=(format!("test-{i}"))
                    aria-label=(format!("Test {}", p.name)) { "Test" }
                output id=(format!("test-{i}")) aria-live="polite" {}
            }
            td {
                @if editable {
                    form data-api=(path) data-method="PATCH" data-ok=(format!("Provider {} changed", p.name)) data-done="reload"
                        aria-label=(format!("Edit provider {}", p.name)) {
                        input name="base_url" type="url" value=(p.base_url) size="18" required aria-label=(format!("Base URL of {}", p.name));
                        input name="models" data-list value=(p.models.join(", ")) size="12" aria-label=(format!("Models of {}, comma-separated", p.name));
                        " " button.secondary type="submit" { "Save" }
                    }
                    button.danger type="button" data-method="DELETE" data-url=(path) aria-label=(format!("Delete provider {}", p.name))
                        data-confirm=(format!("Delete the provider {}?", p.name)) data-ok=(format!("Provider {} deleted", p.name)) { "Delete" }
                } @else {
                    span.muted { "edit in the file" }
                }
            }
        }
    }
}

fn urlencode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}
