//! Routing: the aliases and combos in force and where each comes from, with the forms that
//! create, edit, reorder and delete the database's (through `/api/aliases` and
//! `/api/combos`); the file's are shown read-only, since the file is the user's to edit. And
//! the "which account would serve model X now" preview.

use std::sync::Arc;

use maud::{Markup, html};
use serde_json::json;

use crate::api::preview::{self, Preview};
use crate::api::routes::{self, AliasView, ComboView, RouteSource};
use crate::dashboard::Page;
use crate::state::app::App;

pub async fn page(app: &Arc<App>, query: Option<&str>) -> Page {
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
    let (aliases, combos) = routes::views(app).await.map_err(|e| (500, e.message))?;
    let file = app.snapshot().config.file.display().to_string();
    Ok(html! {
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
        p.muted {
            "Entries from the file (" code { (file) } ") are changed there; the rest are kept in the database and change here, in force at once."
        }
        h2 { "Aliases" }
        @if aliases.is_empty() {
            p.muted { "No aliases." }
        } @else {
            table {
                thead { tr { @for h in ["alias", "target", "from", "actions"] { th scope="col" { (h) } } } }
                tbody { @for a in &aliases { (alias_row(a)) } }
            }
        }
        section {
            h3 { "New alias" }
            form data-api="/api/aliases" data-ok="Alias created" data-done="reload" aria-label="New alias" {
                label { span { "Name clients send" } input name="name" required size="20"; }
                label { span { "Target (provider/model)" } input name="target" required size="32"; }
                " " button type="submit" { "Create alias" }
            }
        }
        h2 { "Combos" }
        @if combos.is_empty() {
            p.muted { "No combos." }
        } @else {
            table {
                thead { tr { @for h in ["combo", "targets, in the order tried", "from", "actions"] { th scope="col" { (h) } } } }
                tbody { @for c in &combos { (combo_row(c)) } }
            }
        }
        section {
            h3 { "New combo" }
            form data-api="/api/combos" data-ok="Combo created" data-done="reload" aria-label="New combo" {
                label { span { "Name clients send" } input name="name" required size="20"; }
                label { span { "Targets, one per line, first tried first (provider/model or provider/model@account)" }
                    textarea name="targets" data-list rows="3" cols="40" required {} }
                " " button type="submit" { "Create combo" }
            }
        }
    })
}

fn source(s: RouteSource, in_force: bool) -> Markup {
    html! {
        (match s { RouteSource::File => "file", RouteSource::Database => "database" })
        @if !in_force { " " span.status-bad { "(not in force: a provider or account it names is gone)" } }
    }
}

fn alias_row(a: &AliasView) -> Markup {
    let path = format!("/api/aliases/{}", urlencode(&a.name));
    html! {
        tr {
            td { (a.name) }
            td { (a.target) }
            td { (source(a.source, a.in_force)) }
            td {
                @if a.source == RouteSource::Database {
                    form data-api=(path) data-method="PUT" data-ok=(format!("Alias {} changed", a.name)) data-done="reload"
                        aria-label=(format!("Edit alias {}", a.name)) {
                        input name="target" value=(a.target) size="28" required aria-label=(format!("New target of {}", a.name));
                        " " button.secondary type="submit" { "Save" }
                    }
                    button.danger type="button" data-method="DELETE" data-url=(path) aria-label=(format!("Delete alias {}", a.name))
                        data-confirm=(format!("Delete the alias {}?", a.name)) data-ok=(format!("Alias {} deleted", a.name)) { "Delete" }
                } @else {
                    span.muted { "edit in the file" }
                }
            }
        }
    }
}

fn combo_row(c: &ComboView) -> Markup {
    let path = format!("/api/combos/{}", urlencode(&c.name));
    let editable = c.source == RouteSource::Database;
    let n = c.targets.len();
    html! {
        tr {
            td { (c.name) }
            td {
                ol {
                    @for (i, t) in c.targets.iter().enumerate() {
                        li {
                            span.target { (t) }
                            @if editable && n > 1 {
                                @if i > 0 {
                                    " " button.secondary.small type="button" data-url=(format!("{path}/order")) data-body=(swap(n, i - 1).to_string())
                                        aria-label=(format!("Move {t} up in {}", c.name)) data-ok="Order saved" { "↑" }
                                }
                                @if i + 1 < n {
                                    " " button.secondary.small type="button" data-url=(format!("{path}/order")) data-body=(swap(n, i).to_string())
                                        aria-label=(format!("Move {t} down in {}", c.name)) data-ok="Order saved" { "↓" }
                                }
                            }
                        }
                    }
                }
            }
            td { (source(c.source, c.in_force)) }
            td {
                @if editable {
                    form data-api=(path) data-method="PUT" data-ok=(format!("Combo {} changed", c.name)) data-done="reload"
                        aria-label=(format!("Edit combo {}", c.name)) {
                        textarea name="targets" data-list rows=(n.max(2)) cols="32" required aria-label=(format!("Targets of {}, one per line", c.name)) {
                            (c.targets.join("\n"))
                        }
                        " " button.secondary type="submit" { "Save" }
                    }
                    button.danger type="button" data-method="DELETE" data-url=(path) aria-label=(format!("Delete combo {}", c.name))
                        data-confirm=(format!("Delete the combo {}?", c.name)) data-ok=(format!("Combo {} deleted", c.name)) { "Delete" }
                } @else {
                    span.muted { "edit in the file" }
                }
            }
        }
    }
}

/// The `POST /api/combos/{name}/order` body that swaps targets `i` and `i + 1` of `n`.
fn swap(n: usize, i: usize) -> serde_json::Value {
    let mut order: Vec<usize> = (0..n).collect();
    order.swap(i, i + 1);
    json!({ "order": order })
}

fn urlencode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_move_swaps_two_neighbours() {
        assert_eq!(swap(3, 0), json!({"order": [1, 0, 2]}));
        assert_eq!(swap(3, 1), json!({"order": [0, 2, 1]}));
    }
}
