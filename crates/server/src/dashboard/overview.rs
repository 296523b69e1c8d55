//! The overview: requests, errors and tokens over a chosen range, the top models, providers
//! and keys, fallbacks and cooldowns, and the proxy's own overhead from its metrics; in
//! cluster mode also the whole cluster's requests per minute.

use std::collections::HashMap;
use std::sync::Arc;

use maud::{Markup, html};
use rusqlite::{Connection, params};

use crate::api::with_db;
use crate::dashboard::Page;
use crate::dashboard::chart::{self, Bar};
use crate::state::app::App;

mod days;

pub use days::DayCache;

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
    let today = now.div_euclid(days::DAY_MS) * days::DAY_MS;
    let (held, database) = (app.clone(), app.snapshot().config.database.clone());
    let figures = with_db(app, move |conn| {
        figures(
            conn,
            from,
            width,
            Some((&held.overview_days, &database, today)),
        )
    })
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
    let cluster = cluster_minutes().await;
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
        @if let Some(cluster) = &cluster {
            section #cluster-minutes { (cluster) }
        }
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

/// The whole cluster's requests per minute over the last hour (every instance's, from the
/// figures `/api/usage/cluster` serves), beside this instance's own charts; `None` in
/// single-machine mode. Redis away: a note saying so instead of a chart.
async fn cluster_minutes() -> Option<Markup> {
    let cluster = crate::cluster::active()?;
    Some(match cluster.minutes(60).await {
        Ok(minutes) => {
            let bars: Vec<Bar> = minutes
                .iter()
                .map(|m| Bar {
                    label: chrono::DateTime::from_timestamp_millis(m.ts_ms)
                        .unwrap_or_default()
                        .format("%m-%d %H:%M")
                        .to_string(),
                    value: m.requests as f64,
                    errors: m.errors as f64,
                })
                .collect();
            let total: u64 = minutes.iter().map(|m| m.requests).sum();
            html! {
                (chart::bars("Cluster requests per minute, last hour, all instances (errors in red)", "requests", &bars))
                p.muted { (total) " requests across the cluster in the last hour" }
            }
        }
        Err(e) => html! {
            p.muted { "The cluster's figures are unavailable: " (e.to_string()) }
        },
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

/// The range's figures: from the `usage_hourly` rollup when buckets are whole hours (a day
/// or more: summing a million raw rows takes seconds), from the rows themselves for the last
/// hour's minute buckets (a few thousand rows at most, found by the `ts_ms` index).
fn figures(
    conn: &mut Connection,
    from: i64,
    width: i64,
    cache: Option<(&DayCache, &std::path::Path, i64)>,
) -> rusqlite::Result<Figures> {
    let fallbacks = fallbacks(conn, from)?;
    if width % HOUR_MS == 0 && from % HOUR_MS == 0 {
        from_rollup(conn, from, width, fallbacks, cache)
    } else {
        from_rows(conn, from, width, fallbacks)
    }
}

const HOUR_MS: i64 = 3_600_000;

/// Requests served after more than one attempt. The rollup does not keep attempts; the
/// partial index `usage_fallbacks` holds only those rows, so this counts a few thousand
/// index entries rather than scanning the range.
fn fallbacks(conn: &Connection, from: i64) -> rusqlite::Result<i64> {
    conn.prepare_cached("SELECT count(*) FROM usage WHERE attempts > 1 AND ts_ms >= ?1")?
        .query_row(params![from], |r| r.get(0))
}

/// The range's figures from the rollup: past whole days from `cache` when given (see
/// `days`), the rest folded now.
fn from_rollup(
    conn: &mut Connection,
    from: i64,
    width: i64,
    fallbacks: i64,
    cache: Option<(&DayCache, &std::path::Path, i64)>,
) -> rusqlite::Result<Figures> {
    let folded = match cache {
        Some((cache, database, today)) => cache.range(conn, database, from, today)?,
        None => days::fold(conn, from, i64::MAX)?,
    };
    let mut buckets: HashMap<i64, (i64, i64, i64, i64)> = HashMap::new();
    for (hour, (requests, errors, tokens)) in folded.hours {
        let b = buckets.entry((hour - from) / width).or_default();
        b.1 += requests;
        b.2 += errors;
        b.3 += tokens;
    }
    let buckets: Vec<(i64, i64, i64, i64)> = buckets
        .into_iter()
        .map(|(i, b)| (i, b.1, b.2, b.3))
        .collect();
    Ok(Figures {
        totals: totals(&buckets, fallbacks),
        buckets,
        top: folded.tops.map(|top| {
            let mut v: Vec<(String, i64, i64, i64)> = top
                .into_iter()
                .map(|(name, (n, tokens, errors))| (name, n, tokens, errors))
                .collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            v.truncate(5);
            v
        }),
    })
}

fn totals(buckets: &[(i64, i64, i64, i64)], fallbacks: i64) -> (i64, i64, i64, i64) {
    let (n, e, t) = buckets
        .iter()
        .fold((0, 0, 0), |t, b| (t.0 + b.1, t.1 + b.2, t.2 + b.3));
    (n, e, t, fallbacks)
}

fn from_rows(
    conn: &Connection,
    from: i64,
    width: i64,
    fallbacks: i64,
) -> rusqlite::Result<Figures> {
    let mut stmt = conn.prepare_cached(
        "SELECT (ts_ms - ?1) / ?2, count(*), sum(status >= 400),
                sum(prompt_tokens + completion_tokens)
         FROM usage WHERE ts_ms >= ?1 GROUP BY 1",
    )?;
    let buckets: Vec<(i64, i64, i64, i64)> = stmt
        .query_map(params![from, width], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let top = |column: &str| -> rusqlite::Result<Vec<(String, i64, i64, i64)>> {
        let sql = format!(
            "SELECT coalesce({column}, '-'), count(*), sum(prompt_tokens + completion_tokens),
                    sum(status >= 400)
             FROM usage WHERE ts_ms >= ?1 GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5"
        );
        conn.prepare_cached(&sql)?
            .query_map(params![from], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?
            .collect()
    };
    Ok(Figures {
        totals: totals(&buckets, fallbacks),
        buckets,
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

    const ROLLUP: &str = "DELETE FROM usage_hourly;
         INSERT INTO usage_hourly
             SELECT (ts_ms / 3600000) * 3600000, coalesce(provider, ''), coalesce(account, ''),
                    requested_model, coalesce(upstream_model, ''), coalesce(client_key, ''),
                    client_format, status, count(*), sum(status >= 400), sum(prompt_tokens),
                    sum(completion_tokens), sum(cached_tokens), sum(reasoning_tokens),
                    sum(latency_ms), max(latency_ms)
             FROM usage GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;";

    fn row(conn: &Connection, i: i64, ts_ms: i64) {
        conn.execute(
            "INSERT INTO usage (ts_ms, request_id, client_key, client_format, provider,
                account, requested_model, stream, status, prompt_tokens,
                completion_tokens, cached_tokens, reasoning_tokens, tokens_estimated,
                latency_ms, attempts)
             VALUES (?1, ?2, ?3, 'openai', ?4, 'a', ?5, 0, ?6, ?7, 5, 0, 0, 0, 1.0, ?8)",
            params![
                ts_ms,
                format!("r{i}"),
                ["k1", "k2", "k3"].get(i as usize % 4).copied(),
                ["p1", "p2"][i as usize % 2],
                ["m1", "m2", "m3", "m4", "m5", "m6", "m7"][i as usize % 7],
                [200, 200, 429, 500][i as usize % 4],
                10 + i,
                1 + i % 3,
            ],
        )
        .unwrap();
    }

    fn same(mut a: Figures, mut b: Figures) {
        a.buckets.sort_unstable();
        b.buckets.sort_unstable();
        assert_eq!(a.buckets, b.buckets);
        assert_eq!(a.totals, b.totals);
        assert_eq!(a.top, b.top);
    }

    /// The overview with past days cached equals the one folded afresh, before and after
    /// a row lands late in a cached day.
    #[test]
    fn cached_days_give_the_figures_a_fresh_fold_gives() {
        let dir = std::env::temp_dir().join(format!("sy-overview-days-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("u.db");
        let mut conn = crate::state::usage_store::open(&path).unwrap();
        let start = 1_700_000_000_000 / days::DAY_MS * days::DAY_MS;
        let today = start + 4 * days::DAY_MS;
        {
            let tx = conn.transaction().unwrap();
            for i in 0..1200_i64 {
                row(&tx, i, start + i * 337_000);
            }
            tx.commit().unwrap();
        }
        conn.execute_batch(ROLLUP).unwrap();
        let cache = DayCache::default();
        let check = |conn: &mut Connection| -> i64 {
            let mut requests = 0;
            for (from, width) in [
                (start, days::DAY_MS),
                (start, HOUR_MS),
                (start + 7 * HOUR_MS, HOUR_MS),
            ] {
                // Twice: the second reads the days the first kept.
                for _ in 0..2 {
                    let cached =
                        from_rollup(conn, from, width, 3, Some((&cache, &path, today))).unwrap();
                    let fresh = from_rollup(conn, from, width, 3, None).unwrap();
                    if from == start {
                        requests = fresh.totals.0;
                    }
                    same(cached, fresh);
                }
            }
            requests
        };
        assert_eq!(check(&mut conn), 1200);
        // A request that started on the second day is written now (as the writer would,
        // rollup and all): the cached second day is read again.
        row(&conn, 5000, start + days::DAY_MS + 5 * HOUR_MS);
        conn.execute_batch(ROLLUP).unwrap();
        assert_eq!(check(&mut conn), 1201);
        // And rows of today leave the past days as they are, and are counted.
        row(&conn, 5001, today + HOUR_MS);
        conn.execute_batch(ROLLUP).unwrap();
        assert_eq!(check(&mut conn), 1202);
        let _ = std::fs::remove_dir_all(dir);
    }

    /// The rollup read gives the figures the rows give, for hourly and daily buckets.
    #[test]
    fn the_rollup_gives_the_figures_the_rows_give() {
        let dir = std::env::temp_dir().join(format!("sy-overview-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut conn = crate::state::usage_store::open(&dir.join("u.db")).unwrap();
        let start = 1_700_000_000_000 / 86_400_000 * 86_400_000;
        {
            let tx = conn.transaction().unwrap();
            for i in 0..900_i64 {
                tx.execute(
                    "INSERT INTO usage (ts_ms, request_id, client_key, client_format, provider,
                        account, requested_model, stream, status, prompt_tokens,
                        completion_tokens, cached_tokens, reasoning_tokens, tokens_estimated,
                        latency_ms, attempts)
                     VALUES (?1, ?2, ?3, 'openai', ?4, 'a', ?5, 0, ?6, ?7, 5, 0, 0, 0, 1.0, ?8)",
                    params![
                        start + i * 337_000,
                        format!("r{i}"),
                        ["k1", "k2", "k3"].get(i as usize % 4).copied(),
                        ["p1", "p2"][i as usize % 2],
                        ["m1", "m2", "m3", "m4", "m5", "m6", "m7"][i as usize % 7],
                        [200, 200, 429, 500][i as usize % 4],
                        10 + i,
                        1 + i % 3,
                    ],
                )
                .unwrap();
            }
            tx.commit().unwrap();
        }
        // Rows loaded in bulk, past the writer (which keeps the rollup as it writes): the
        // rollup is built from them as the rollup's migration builds it.
        conn.execute_batch(
            "DELETE FROM usage_hourly;
             INSERT INTO usage_hourly
                 SELECT (ts_ms / 3600000) * 3600000, coalesce(provider, ''), coalesce(account, ''),
                        requested_model, coalesce(upstream_model, ''), coalesce(client_key, ''),
                        client_format, status, count(*), sum(status >= 400), sum(prompt_tokens),
                        sum(completion_tokens), sum(cached_tokens), sum(reasoning_tokens),
                        sum(latency_ms), max(latency_ms)
                 FROM usage GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;",
        )
        .unwrap();
        for width in [HOUR_MS, 24 * HOUR_MS] {
            let mut rollup = from_rollup(&mut conn, start, width, 7, None).unwrap();
            let mut rows = from_rows(&conn, start, width, 7).unwrap();
            rollup.buckets.sort_unstable();
            rows.buckets.sort_unstable();
            assert!(rows.buckets.len() > 1);
            assert_eq!(rollup.buckets, rows.buckets);
            assert_eq!(rollup.totals, rows.totals);
            assert_eq!(rollup.top, rows.top);
        }
        // Every third request needed a second attempt or more.
        assert_eq!(fallbacks(&conn, start).unwrap(), 600);
        assert_eq!(
            figures(&mut conn, start, HOUR_MS, None).unwrap().totals.3,
            600
        );
        let _ = std::fs::remove_dir_all(dir);
    }

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
