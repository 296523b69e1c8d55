//! Settings: every value in force with where it came from (file, environment, command line,
//! default, database), secrets masked, and when the configuration was loaded with the last
//! refused reload. It shows `GET /api/settings`'s view; nothing here changes a value, since
//! the management API has no settings update.

use std::sync::Arc;

use maud::{Markup, html};
use serde_json::Value;

use crate::api::settings::{self, Setting, SettingSource};
use crate::dashboard::Page;
use crate::state::app::App;

pub async fn page(app: &Arc<App>) -> Page {
    let view = settings::view(app).await.map_err(|e| (500, e.message))?;
    Ok(html! {
        section {
            p { "Config file: " code { (view.file) } }
            p { "Loaded " span id="loaded-at" { (view.reload.loaded_at) } }
            @match &view.reload.last_error {
                Some(e) => p.status-bad role="alert" { "The last reload was refused (the configuration above kept serving): " (e) },
                None => p.muted { "No reload has been refused." }
            }
            p.muted {
                "Routing and timeout settings change here (kept in the database, over the file's "
                "value; an empty value gives the setting back to the file). Anything else changes in "
                "the file or its " code { "SWITCHYARD_*" } " variable. Secrets are masked."
            }
            form data-api="/api/settings" data-method="PATCH" data-pair="" data-ok="Setting changed" data-done="reload" aria-label="Change a setting" {
                label { span { "Setting" } select name="key" { @for k in crate::config::overrides::KEYS { option value=(k) { (k) } } } }
                label { span { "Value" } input name="value" size="16" placeholder="empty: the file's"; }
                " " button type="submit" { "Change" }
            }
        }
        table id="settings" {
            thead { tr { @for h in ["setting", "value", "from"] { th scope="col" { (h) } } } }
            tbody { @for s in &view.settings { (row(s)) } }
        }
    })
}

fn row(s: &Setting) -> Markup {
    let from = match s.source {
        SettingSource::File => "file",
        SettingSource::Environment => "environment",
        SettingSource::CommandLine => "command line",
        SettingSource::Default => "default",
        SettingSource::Database => "database",
    };
    html! {
        tr {
            td { code { (s.key) } }
            td {
                @match &s.value {
                    Value::Null => span.muted { "none" },
                    Value::String(v) => (v),
                    v @ (Value::Array(_) | Value::Object(_)) => pre { (serde_json::to_string_pretty(v).unwrap_or_default()) },
                    v => (v.to_string()),
                }
            }
            td { (from) }
        }
    }
}
