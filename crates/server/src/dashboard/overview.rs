//! The overview: requests, errors and tokens over a chosen range, the top models, providers
//! and keys, fallbacks and cooldowns, and the proxy's own overhead from its metrics.

use std::sync::Arc;

use maud::{Markup, html};
use rusqlite::{Connection, params};

use crate::api::with_db;
use crate::dashboard::Page;
use crate::dashboard::chart::{self, Bar};
use crate::state::app::App;

/// The ranges offered: (query value, label, span in ms, bucket width in ms).
const RANGES: [(&str, &str, i64, i64); 4] = [
    ("1h", "1 hour", 3_600_000, 60_000),
    ("24h", "24 hours", 86_400_000, 3_600_000),
    ("7d", "7 days", 7 * 86_400_000, 3_600_000),
    ("30d", "30 days", 30 * 86_400_000, 86_400_000),
];

struct Figures {
    buckets: Vec<(i64, i64, i64, i64)>,
    totals: (i64, i64, i64, i64),
    top: [Vec<(String, i64, i64, i64)>; 3],
}

pub async fn page(app: &Arc<App>, query: Option<&str>) -> Page {
    let chosen = query
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("range=")))
        .unwrap_or("24h");
    let &(key, label, span, width) = RANGES.iter().find(|r| r.0 == chosen).ok_or((
        400,
        format!("unknown range `{chosen}`: use 1h, 24h, 7d or 30d"),
    ))?;
    let now = crate::routing::epoch_ms(switchyard_hub::clock::now());
    // Buckets end at the next boundary after now, so the newest bucket is the current one.
    let end = (now / width + 1) * width;
    let from = end - span;
    let figures = with_db(app, move |conn| figures(conn, from, width))
        .await
        .map_err(|e| (500, e.message))?;
    let bars: Vec<Bar> = (0..span / width)
        .map(|i| {
            let found = figures.buckets.iter().find(|b| b.0 == i);
            let at = chrono::DateTime::from_timestamp_millis(from + i * width).unwrap_or_default();
            let label = if width >= 86_400_000 {
                at.format("%m-%d").to_string()
            } else {
                at.format("%m-%d %H:%M").to_string()
            };
            Bar {
                label,
                value: found.map_or(0.0, |b| b.1 as f64),
                errors: found.map_or(0.0, |b| b.2 as f64),
            }
        })
        .collect();
    let token_bars: Vec<Bar> = bars
        .iter()
        .enumerate()
        .map(|(i, b)| Bar {
            label: b.label.clone(),
            value: figures
                .buckets
                .iter()
                .find(|x| x.0 == i as i64)
                .map_or(0.0, |x| x.3 as f64),
            errors: 0.0,
        })
        .collect();
    let cooling = crate::dashboard::accounts::all(app)
        .await?
        .iter()
        .filter(|a| a.in_use && a.status != crate::api::accounts::AccountStatusView::Ok)
        .count();
    let (requests, errors, tokens, fallbacks) = figures.totals;
    let overhead = overhead_percentiles(&app.metrics.render());
    Ok(html! {
        nav.tabs aria-label="Range" {
            @for (k, l, _, _) in RANGES {
                a href=(format!("/ui/?range={k}")) aria-current=[(k == key).then_some("true")] { (l) }
            }
        }
        div.cards {
            div.card { div.value { (requests) } div.label { "requests, last " (label) } }
            div.card { div.value { (errors) } div.label { "errors" } }
            div.card { div.value { (tokens) } div.label { "tokens" } }
            div.card { div.value { (fallbacks) } div.label { "served after a fallback" } }
            div.card { div.value { (cooling) } div.label { "accounts cooling or set aside now" } }
            @for (name, v) in &overhead {
                div.card { div.value { (format!("{:.0} µs", v * 1e6)) } div.label { "proxy overhead " (name) } }
            }
        }
        section { (chart::bars("Requests (errors in red)", "requests", &bars)) }
        section { (chart::bars("Tokens", "tokens", &token_bars)) }
        div.cards {
            @for (title, rows) in [("Top models", &figures.top[0]), ("Top providers", &figures.top[1]), ("Top client keys", &figures.top[2])] {
                section {
                    h2 { (title) }
                    (top_table(rows))
                }
            }
        }
    })
}

fn top_table(rows: &[(String, i64, i64, i64)]) -> Markup {
    html! {
        @if rows.is_empty() {
            p.muted { "No requests in this range." }
        } @else {
            table {
                thead { tr { th scope="col" { "name" } th.num scope="col" { "requests" } th.num scope="col" { "tokens" } th.num scope="col" { "errors" } } }
                tbody {
                    @for (name, n, tokens, errors) in rows {
                        tr { td { (name) } td.num { (n) } td.num { (tokens) } td.num { (errors) } }
                    }
                }
            }
        }
    }
}

fn figures(conn: &mut Connection, from: i64, width: i64) -> rusqlite::Result<Figures> {
    let mut stmt = conn.prepare_cached(
        "SELECT (ts_ms - ?1) / ?2, count(*), sum(status >= 400),
                sum(prompt_tokens + completion_tokens), sum(attempts > 1)
         FROM usage WHERE ts_ms >= ?1 GROUP BY 1",
    )?;
    let buckets: Vec<(i64, i64, i64, i64, i64)> = stmt
        .query_map(params![from, width], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let totals = buckets.iter().fold((0, 0, 0, 0), |t, b| {
        (t.0 + b.1, t.1 + b.2, t.2 + b.3, t.3 + b.4)
    });
    let top = |column: &str| -> rusqlite::Result<Vec<(String, i64, i64, i64)>> {
        let sql = format!(
            "SELECT coalesce({column}, '-'), count(*), sum(prompt_tokens + completion_tokens),
                    sum(status >= 400)
             FROM usage WHERE ts_ms >= ?1 GROUP BY 1 ORDER BY 2 DESC LIMIT 5"
        );
        conn.prepare(&sql)?
            .query_map(params![from], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?
            .collect()
    };
    Ok(Figures {
        buckets: buckets.iter().map(|b| (b.0, b.1, b.2, b.3)).collect(),
        totals,
        top: [
            top("requested_model")?,
            top("provider")?,
            top("client_key")?,
        ],
    })
}

/// p50, p90 and p99 of `switchyard_overhead_seconds`, read from the metrics text: the upper
/// bound of the first bucket holding that share of observations.
fn overhead_percentiles(metrics: &str) -> Vec<(&'static str, f64)> {
    let buckets: Vec<(f64, f64)> = metrics
        .lines()
        .filter_map(|l| l.strip_prefix("switchyard_overhead_seconds_bucket{le=\""))
        .filter_map(|rest| {
            let (le, count) = rest.split_once("\"} ")?;
            Some((le.parse().ok()?, count.trim().parse().ok()?))
        })
        .collect();
    let Some(&(_, total)) = buckets.last() else {
        return Vec::new();
    };
    if total == 0.0 {
        return Vec::new();
    }
    [("p50", 0.5), ("p90", 0.9), ("p99", 0.99)]
        .into_iter()
        .filter_map(|(name, q)| {
            buckets
                .iter()
                .find(|(le, n)| *n >= q * total && le.is_finite())
                .map(|(le, _)| (name, *le))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_the_overhead_buckets() {
        let text = "switchyard_overhead_seconds_bucket{le=\"0.000001\"} 0\n\
                    switchyard_overhead_seconds_bucket{le=\"0.000002\"} 50\n\
                    switchyard_overhead_seconds_bucket{le=\"0.000004\"} 95\n\
                    switchyard_overhead_seconds_bucket{le=\"0.000008\"} 100\n\
                    switchyard_overhead_seconds_bucket{le=\"+Inf\"} 100\n";
        let p = overhead_percentiles(text);
        assert_eq!(
            p,
            vec![("p50", 0.000002), ("p90", 0.000004), ("p99", 0.000008)]
        );
        assert!(overhead_percentiles("").is_empty());
    }
}
