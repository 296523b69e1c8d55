//! Routing: the aliases and combos in force, where each comes from, and each combo's targets
//! in the order they are tried.

use std::sync::Arc;

use maud::{Markup, html};

use crate::state::app::App;

pub fn page(app: &Arc<App>) -> Markup {
    let routes = app.routes();
    let from_file =
        |name: &str| app.config.aliases.contains_key(name) || app.config.combos.contains_key(name);
    html! {
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
