//! The request log (filters, newest first, and a live tail) and one request's page: its usage
//! row and, when debug logs were on, the six numbered stages side by side with a diff between
//! what the client sent and what went to the provider — the translation inspector.

use std::path::Path;
use std::sync::Arc;

use maud::{Markup, html};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Deserialize;
use similar::{ChangeTag, TextDiff};

use crate::api::with_db;
use crate::dashboard::Page;
use crate::state::app::App;

/// The filters the log takes, from its form (empty fields are no filter).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Filters {
    provider: String,
    account: String,
    model: String,
    client_key: String,
    client_format: String,
    status: String,
}

struct Row {
    ts_ms: i64,
    request_id: String,
    client_format: String,
    provider: Option<String>,
    account: Option<String>,
    model: String,
    status: i64,
    tokens: i64,
    latency_ms: f64,
}

/// Rows one page shows.
const PAGE_ROWS: u32 = 100;

pub async fn log(app: &Arc<App>, query: Option<&str>) -> Page {
    let f: Filters = serde_urlencoded::from_str(query.unwrap_or_default())
        .map_err(|e| (400, format!("bad filter: {e}")))?;
    let status: Option<i64> = match f.status.trim() {
        "" => None,
        s => Some(
            s.parse()
                .map_err(|_| (400, format!("status `{s}` is not a number")))?,
        ),
    };
    let opt = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
    let args = (
        opt(&f.provider),
        opt(&f.account),
        opt(&f.model),
        opt(&f.client_key),
        opt(&f.client_format),
        status,
    );
    let rows = with_db(app, move |conn| recent(conn, &args))
        .await
        .map_err(|e| (500, e.message))?;
    Ok(html! {
        form method="get" action="/ui/requests" aria-label="Filters" {
            @for (name, label, value) in [("provider", "Provider", &f.provider), ("account", "Account", &f.account), ("model", "Model", &f.model), ("client_key", "Client key", &f.client_key), ("client_format", "Client format", &f.client_format), ("status", "Status", &f.status)] {
                label { span { (label) } input name=(name) value=(value) size="14"; }
            }
            button type="submit" { "Filter" }
        }
        h2 { "Live " span.muted id="live-status" { "connecting" } }
        p.muted { "New requests appear here as they finish, whatever the filters." }
        table {
            thead { (header()) }
            tbody id="live-tail" data-source="/ui/live" {}
        }
        h2 { "Recent" }
        @if rows.is_empty() {
            p.muted { "No requests match." }
        } @else {
            table {
                thead { (header()) }
                tbody {
                    @for r in &rows {
                        tr {
                            td { a href=(format!("/ui/requests/{}", r.request_id)) { (time(r.ts_ms)) } }
                            td { (r.client_format) }
                            td { (r.provider.as_deref().unwrap_or("-")) }
                            td { (r.account.as_deref().unwrap_or("-")) }
                            td { (r.model) }
                            td.num class=(if r.status >= 400 { "status-bad" } else { "status-ok" }) { (r.status) }
                            td.num { (r.tokens) }
                            td.num { (format!("{:.1} ms", r.latency_ms)) }
                        }
                    }
                }
            }
        }
    })
}

fn header() -> Markup {
    html! {
        tr {
            @for h in ["time (UTC)", "client", "provider", "account", "model"] { th scope="col" { (h) } }
            @for h in ["status", "tokens", "latency"] { th.num scope="col" { (h) } }
        }
    }
}

type FilterArgs = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
);

fn recent(conn: &mut Connection, f: &FilterArgs) -> rusqlite::Result<Vec<Row>> {
    let mut stmt = conn.prepare_cached(
        "SELECT ts_ms, request_id, client_format, provider, account, requested_model, status,
                prompt_tokens + completion_tokens, latency_ms
         FROM usage
         WHERE (?1 IS NULL OR provider = ?1) AND (?2 IS NULL OR account = ?2)
           AND (?3 IS NULL OR requested_model = ?3) AND (?4 IS NULL OR client_key = ?4)
           AND (?5 IS NULL OR client_format = ?5) AND (?6 IS NULL OR status = ?6)
         ORDER BY ts_ms DESC, id DESC LIMIT ?7",
    )?;
    stmt.query_map(params![f.0, f.1, f.2, f.3, f.4, f.5, PAGE_ROWS], |r| {
        Ok(Row {
            ts_ms: r.get(0)?,
            request_id: r.get(1)?,
            client_format: r.get(2)?,
            provider: r.get(3)?,
            account: r.get(4)?,
            model: r.get(5)?,
            status: r.get(6)?,
            tokens: r.get(7)?,
            latency_ms: r.get(8)?,
        })
    })?
    .collect()
}

fn time(ts_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ts_ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
        .unwrap_or_default()
}

/// The stages a request's debug folder may hold, in the order a request lives them.
const STAGES: [(&str, &str); 6] = [
    ("1_req_client", "1 · client request"),
    ("2_req_hub", "2 · hub request"),
    ("3_req_provider", "3 · provider request"),
    ("4_res_provider", "4 · provider response"),
    ("5_res_hub", "5 · hub response"),
    ("6_res_client", "6 · client response"),
];

pub async fn one(app: &Arc<App>, request_id: &str) -> Page {
    let id = request_id.to_owned();
    let row = with_db(app, move |conn| row_of(conn, &id))
        .await
        .map_err(|e| (500, e.message))?
        .ok_or((404, format!("no request `{request_id}` in the usage log")))?;
    let files = match crate::api::usage::debug_folder(app, request_id).await {
        // Reading a few files is blocking work: off the serving thread.
        Ok((_, folder)) => tokio::task::spawn_blocking(move || read_stages(&folder))
            .await
            .unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    let text_of = |stem: &str| {
        files
            .iter()
            .find(|(name, _)| name.starts_with(stem) && !name.contains("headers"))
            .map(|(_, t)| t.as_str())
    };
    Ok(html! {
        section {
            table {
                tbody {
                    @for (k, v) in &row {
                        tr { th scope="row" { (k) } td { (v) } }
                    }
                }
            }
        }
        @if files.is_empty() {
            p.muted { "No debug files for this request: turn on debug_logs.enabled to keep the six stages of each request." }
        } @else {
            h2 { "What the client sent against what went to the provider" }
            @match (text_of("1_req_client"), text_of("3_req_provider")) {
                (Some(a), Some(b)) => (diff(a, b)),
                _ => p.muted { "One of the two requests was not recorded." },
            }
            h2 { "Stages" }
            div.stages {
                @for (stem, label) in STAGES {
                    @for (name, text) in files.iter().filter(|(n, _)| n.starts_with(stem)) {
                        section {
                            h3 { (label) " " span.muted { (name) } }
                            pre tabindex="0" { (text) }
                        }
                    }
                }
                @for (name, text) in files.iter().filter(|(n, _)| n.starts_with("error")) {
                    section { h3 { "error " span.muted { (name) } } pre tabindex="0" { (text) } }
                }
            }
        }
    })
}

fn row_of(
    conn: &mut Connection,
    request_id: &str,
) -> rusqlite::Result<Option<Vec<(String, String)>>> {
    let mut stmt = conn.prepare_cached("SELECT * FROM usage WHERE request_id = ?1 LIMIT 1")?;
    let names: Vec<String> = stmt.column_names().map(str::to_owned).collect();
    stmt.query_row([request_id], |r| {
        let mut out = Vec::with_capacity(names.len());
        for (i, name) in names.iter().enumerate() {
            let v: rusqlite::types::Value = r.get(i)?;
            let shown = match v {
                rusqlite::types::Value::Null => "-".to_owned(),
                rusqlite::types::Value::Integer(n) if name == "ts_ms" => time(n),
                rusqlite::types::Value::Integer(n) => n.to_string(),
                rusqlite::types::Value::Real(x) => format!("{x:.2}"),
                rusqlite::types::Value::Text(t) => t,
                rusqlite::types::Value::Blob(b) => format!("{} bytes", b.len()),
            };
            out.push((name.clone(), shown));
        }
        Ok(out)
    })
    .optional()
}

/// The folder's files, JSON pretty-printed, largest kept to a readable size.
fn read_stages(folder: &Path) -> Vec<(String, String)> {
    const SHOWN: usize = 256 * 1024;
    let mut files: Vec<(String, String)> = std::fs::read_dir(folder)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_owned();
            let bytes = std::fs::read(e.path()).ok()?;
            let text = match serde_json::from_slice::<serde_json::Value>(&bytes) {
                Ok(v) => serde_json::to_string_pretty(&v).unwrap_or_default(),
                Err(_) => String::from_utf8_lossy(&bytes).into_owned(),
            };
            let text = if text.len() > SHOWN {
                let cut = text.floor_char_boundary(SHOWN);
                format!("{}\n… ({} bytes more)", &text[..cut], text.len() - cut)
            } else {
                text
            };
            Some((name, text))
        })
        .collect();
    files.sort();
    files
}

/// A line diff of two texts: removed lines marked `-`, added `+`.
fn diff(a: &str, b: &str) -> Markup {
    let d = TextDiff::from_lines(a, b);
    html! {
        pre.diff tabindex="0" aria-label="Diff: lines starting with minus were in the client's request only, plus in the provider's only" {
            @for change in d.iter_all_changes() {
                @match change.tag() {
                    ChangeTag::Delete => span.del { "- " (change.value()) },
                    ChangeTag::Insert => span.add { "+ " (change.value()) },
                    ChangeTag::Equal => span { "  " (change.value()) },
                }
            }
        }
    }
}
