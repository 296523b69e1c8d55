//! Routing: the aliases and combos in force, where each comes from, and each combo's targets
//! in the order they are tried.

use std::sync::Arc;

use maud::{Markup, html};

use crate::api::preview::{self, Preview};
use crate::state::app::App;

pub fn page(app: &Arc<App>, query: Option<&str>) -> Markup {
    let live = app.snapshot();
    let routes = &live.routes;
    let asked = query
        .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .and_then(|pairs| {
            pairs
                .into_iter()
                .find(|(k, _)| k == "model")
                .map(|(_, v)| v)
        })
        .filter(|m| !m.trim().is_empty());
    let answer = asked.as_deref().map(|m| preview::preview(app, m.trim()));
    let from_file = |name: &str| {
        live.config.aliases.contains_key(name) || live.config.combos.contains_key(name)
    };
    html! {
        section {
            h2 { "Which account would serve a model now" }
            form method="get" action="/ui/routing" {
                label { span { "Model" } input name="model" value=(asked.as_deref().unwrap_or("")) size="32" placeholder="provider/model, alias or combo"; }
                " " button type="submit" { "Preview" }
            }
            @match &answer {
                Some(Ok(p)) => (preview_table(p)),
                Some(Err(e)) => p.status-bad role="alert" { (e.message) },
                None => {}
            }
        }
        h2 { "Aliases" }
        @if routes.aliases.is_empty() {
            p.muted { "No aliases." }
        } @else {
            table {
                thead { tr { th scope="col" { "alias" } th scope="col" { "target" } th scope="col" { "from" } } }
                tbody {
                    @for (name, target) in &routes.aliases {
                        tr { td { (name) } td { (target) } td { (if from_file(name) { "file" } else { "database" }) } }
                    }
                }
            }
        }
        h2 { "Combos" }
        @if routes.combos.is_empty() {
            p.muted { "No combos." }
        } @else {
            table {
                thead { tr { th scope="col" { "combo" } th scope="col" { "targets, in order" } th scope="col" { "from" } } }
                tbody {
                    @for (name, targets) in &routes.combos {
                        tr {
                            td { (name) }
                            td { ol { @for t in targets {
                                li { (t.provider) "/" (t.model) @if let Some(a) = &t.account { "@" (a) } }
                            } } }
                            td { (if from_file(name) { "file" } else { "database" }) }
                        }
                    }
                }
            }
        }
    }
}

fn preview_table(p: &Preview) -> Markup {
    html! {
        p id="preview-first" {
            @match &p.first {
                Some(first) => { "Served now by " strong { (first) } }
                None => span.status-bad { "No account can take it now." }
            }
        }
        table {
            thead { tr { th scope="col" { "target" } th scope="col" { "ready, in order" } th scope="col" { "out" } } }
            tbody {
                @for t in &p.targets {
                    tr {
                        td { (t.provider) "/" (t.model) @if let Some(a) = &t.pinned_account { "@" (a) } }
                        td { (t.ready.join(", ")) }
                        td { @for o in &t.out {
                            div { (o.account) ": " (o.reason) @if let Some(u) = &o.until { " until " span data-until=(u) { (u) } } }
                        } }
                    }
                }
            }
        }
    }
}
