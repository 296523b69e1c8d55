//! The usage API's reads: aggregates by time bucket and dimension, and the request log a page
//! at a time. Hour and day buckets read the `usage_hourly` rollup (a million rows summed from
//! the table take seconds); minute buckets read the rows themselves over the short ranges
//! their bucket limit allows. Pages are keyset (`(ts_ms, id)` below the cursor), so a deep
//! page costs what the first does and rows written meanwhile neither repeat nor shift others.

use rusqlite::types::Value as Sql;
use rusqlite::{Connection, Row, params_from_iter};
use serde::Serialize;
use utoipa::ToSchema;

/// What a report is narrowed to; every field set must match.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Inclusive, epoch ms.
    pub from_ms: Option<i64>,
    /// Exclusive, epoch ms.
    pub to_ms: Option<i64>,
    pub provider: Option<String>,
    pub account: Option<String>,
    /// The model the client asked for.
    pub model: Option<String>,
    /// The model the provider was asked for.
    pub upstream_model: Option<String>,
    pub client_key: Option<String>,
    pub client_format: Option<String>,
    pub status: Option<u16>,
    /// Only failures (status 400 and over), or only successes.
    pub errors: Option<bool>,
}

/// A dimension aggregates can be grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dim {
    Provider,
    Account,
    Model,
    UpstreamModel,
    ClientKey,
    ClientFormat,
    Status,
}

impl Dim {
    pub const ALL: [Dim; 7] = [
        Dim::Provider,
        Dim::Account,
        Dim::Model,
        Dim::UpstreamModel,
        Dim::ClientKey,
        Dim::ClientFormat,
        Dim::Status,
    ];

    /// Its name in the API (`group_by=`, and the keys of an answer's `group`).
    pub fn name(self) -> &'static str {
        match self {
            Dim::Provider => "provider",
            Dim::Account => "account",
            Dim::Model => "model",
            Dim::UpstreamModel => "upstream_model",
            Dim::ClientKey => "client_key",
            Dim::ClientFormat => "client_format",
            Dim::Status => "status",
        }
    }

    pub fn parse(name: &str) -> Option<Dim> {
        Dim::ALL.into_iter().find(|d| d.name() == name)
    }

    /// Its column in `usage`; absent values read as '' as in the rollup.
    fn raw(self) -> &'static str {
        match self {
            Dim::Provider => "coalesce(provider, '')",
            Dim::Account => "coalesce(account, '')",
            Dim::Model => "requested_model",
            Dim::UpstreamModel => "coalesce(upstream_model, '')",
            Dim::ClientKey => "coalesce(client_key, '')",
            Dim::ClientFormat => "client_format",
            Dim::Status => "status",
        }
    }

    /// Its column in `usage`, for filters.
    fn column(self) -> &'static str {
        match self {
            Dim::Model => "requested_model",
            d => d.name(),
        }
    }

    /// Its column in `usage_hourly`.
    fn rollup(self) -> &'static str {
        self.name()
    }
}

/// Where an aggregate reads from: the rows, or the hourly rollup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Rows,
    Hourly,
}

impl Source {
    /// The table, its time column, and each measure's expression in the order
    /// [`AggregateRow`] reads them. A new measure (a cost sum) is one more entry in each.
    fn parts(self) -> (&'static str, &'static str, [&'static str; 8]) {
        match self {
            Source::Rows => (
                "usage",
                "ts_ms",
                [
                    "count(*)",
                    "sum(status >= 400)",
                    "sum(prompt_tokens)",
                    "sum(completion_tokens)",
                    "sum(cached_tokens)",
                    "sum(reasoning_tokens)",
                    "sum(latency_ms)",
                    "max(latency_ms)",
                ],
            ),
            Source::Hourly => (
                "usage_hourly",
                "hour_ms",
                [
                    "sum(requests)",
                    "sum(errors)",
                    "sum(prompt_tokens)",
                    "sum(completion_tokens)",
                    "sum(cached_tokens)",
                    "sum(reasoning_tokens)",
                    "sum(latency_sum_ms)",
                    "max(latency_max_ms)",
                ],
            ),
        }
    }
}

/// One bucket of one group.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AggregateRow {
    /// The bucket's start, epoch ms (UTC).
    #[serde(rename = "start_ms")]
    pub bucket_ms: i64,
    /// The group's value of each `group_by` dimension, in its order; `None` where the
    /// requests had none (no provider was resolved, no client key was used).
    #[serde(skip)]
    pub group: Vec<Option<String>>,
    pub requests: u64,
    /// Requests answered with a status of 400 or more (client disconnects, 499, included).
    pub errors: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached_tokens: u64,
    pub reasoning_tokens: u64,
    pub avg_latency_ms: f64,
    pub max_latency_ms: f64,
}

/// Appends `filter`'s conditions (on `time`, and on the columns `column` names) to `sql`.
fn narrow(
    sql: &mut String,
    args: &mut Vec<Sql>,
    filter: &Filter,
    time: &str,
    column: impl Fn(Dim) -> &'static str,
) {
    let mut and = |sql: &mut String, cond: String, arg: Sql| {
        sql.push_str(if args.is_empty() { " WHERE " } else { " AND " });
        sql.push_str(&cond);
        args.push(arg);
    };
    if let Some(from) = filter.from_ms {
        and(sql, format!("{time} >= ?"), Sql::Integer(from));
    }
    if let Some(to) = filter.to_ms {
        and(sql, format!("{time} < ?"), Sql::Integer(to));
    }
    let texts = [
        (Dim::Provider, &filter.provider),
        (Dim::Account, &filter.account),
        (Dim::Model, &filter.model),
        (Dim::UpstreamModel, &filter.upstream_model),
        (Dim::ClientKey, &filter.client_key),
        (Dim::ClientFormat, &filter.client_format),
    ];
    for (dim, value) in texts {
        if let Some(v) = value {
            and(sql, format!("{} = ?", column(dim)), Sql::Text(v.clone()));
        }
    }
    if let Some(status) = filter.status {
        and(sql, "status = ?".into(), Sql::Integer(i64::from(status)));
    }
    if let Some(errors) = filter.errors {
        let op = if errors { ">=" } else { "<" };
        and(sql, format!("status {op} ?"), Sql::Integer(400));
    }
}

/// Sums of every bucket of `bucket_ms` (a whole number of hours for [`Source::Hourly`]) in
/// `filter`'s range, per group of `group_by`, oldest first; at most `max_rows` rows, and
/// `None` when there would be more.
pub fn aggregate(
    conn: &Connection,
    source: Source,
    bucket_ms: i64,
    filter: &Filter,
    group_by: &[Dim],
    max_rows: usize,
) -> rusqlite::Result<Option<Vec<AggregateRow>>> {
    let (sql, args) = aggregate_sql(source, bucket_ms, filter, group_by, max_rows);
    let n = group_by.len();
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params_from_iter(args), |r| aggregate_row(r, n))?;
    let rows = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    Ok((rows.len() <= max_rows).then_some(rows))
}

/// The statement [`aggregate`] runs, and its arguments.
fn aggregate_sql(
    source: Source,
    bucket_ms: i64,
    filter: &Filter,
    group_by: &[Dim],
    max_rows: usize,
) -> (String, Vec<Sql>) {
    let (table, time, measures) = source.parts();
    let dims: Vec<&str> = group_by
        .iter()
        .map(|d| match source {
            Source::Rows => d.raw(),
            Source::Hourly => d.rollup(),
        })
        .collect();
    // Hour buckets of the rollup are its own `hour_ms`: grouped by it (and dimensions in the
    // primary key's order) SQLite reads the groups in key order instead of sorting them all.
    let whole_hours = source == Source::Hourly && bucket_ms == 3_600_000;
    let mut select = vec![if whole_hours {
        format!("{time} AS bucket")
    } else {
        format!("({time} / ?) * ? AS bucket")
    }];
    select.extend(dims.iter().map(|d| (*d).to_owned()));
    select.extend(measures.iter().map(|m| (*m).to_owned()));
    let mut sql = format!("SELECT {} FROM {table}", select.join(", "));
    let mut args = if whole_hours {
        Vec::new()
    } else {
        vec![Sql::Integer(bucket_ms), Sql::Integer(bucket_ms)]
    };
    let mut conds = Vec::new();
    narrow(&mut sql, &mut conds, filter, time, |d| match source {
        Source::Rows => d.column(),
        Source::Hourly => d.rollup(),
    });
    args.extend(conds);
    let order: Vec<String> = (1..=group_by.len() + 1).map(|i| i.to_string()).collect();
    sql.push_str(&format!(
        " GROUP BY {0} ORDER BY {0} LIMIT {1}",
        order.join(", "),
        max_rows + 1
    ));
    (sql, args)
}

fn aggregate_row(r: &Row<'_>, dims: usize) -> rusqlite::Result<AggregateRow> {
    let mut group = Vec::with_capacity(dims);
    for i in 1..=dims {
        let v = match r.get_ref(i)? {
            rusqlite::types::ValueRef::Integer(n) => Some(n.to_string()),
            rusqlite::types::ValueRef::Text(t) => {
                Some(String::from_utf8_lossy(t).into_owned()).filter(|s| !s.is_empty())
            }
            _ => None,
        };
        group.push(v);
    }
    let count = |i: usize| -> rusqlite::Result<u64> {
        Ok(r.get::<_, Option<i64>>(dims + i)?.unwrap_or(0).max(0) as u64)
    };
    let requests = count(1)?;
    let latency_sum: f64 = r.get::<_, Option<f64>>(dims + 7)?.unwrap_or(0.0);
    Ok(AggregateRow {
        bucket_ms: r.get(0)?,
        group,
        requests,
        errors: count(2)?,
        prompt_tokens: count(3)?,
        completion_tokens: count(4)?,
        cached_tokens: count(5)?,
        reasoning_tokens: count(6)?,
        avg_latency_ms: if requests > 0 {
            latency_sum / requests as f64
        } else {
            0.0
        },
        max_latency_ms: r.get::<_, Option<f64>>(dims + 8)?.unwrap_or(0.0),
    })
}

/// One request's usage row, as the request log shows it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RequestRow {
    /// The row's id; with `ts_ms` it orders the log.
    pub id: i64,
    /// The id the proxy answered with in `x-request-id`.
    pub request_id: String,
    /// When the request arrived, epoch ms.
    pub ts_ms: i64,
    /// The same instant, RFC 3339 UTC.
    pub at: String,
    /// The id of the client key that authenticated it (never the key itself).
    pub client_key: Option<String>,
    pub client_format: String,
    pub provider: Option<String>,
    pub account: Option<String>,
    /// The model the client asked for (an alias or combo name included).
    pub model: String,
    pub upstream_model: Option<String>,
    pub stream: bool,
    pub status: u16,
    pub error_class: Option<String>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached_tokens: u64,
    pub reasoning_tokens: u64,
    /// The token counts are the proxy's estimate (the provider reported none).
    pub tokens_estimated: bool,
    pub latency_ms: f64,
    pub ttfb_ms: Option<f64>,
    pub combo: Option<String>,
    /// Which target of the resolved list answered (or failed last).
    pub target_index: u32,
    /// Upstream attempts, across accounts and targets.
    pub attempts: u32,
}

const ROW_COLUMNS: &str = "id, request_id, ts_ms, client_key, client_format, provider, account,
    requested_model, upstream_model, stream, status, error_class, prompt_tokens,
    completion_tokens, cached_tokens, reasoning_tokens, tokens_estimated, latency_ms, ttfb_ms,
    combo, target_index, attempts";

fn request_row(r: &Row<'_>) -> rusqlite::Result<RequestRow> {
    let ts_ms: i64 = r.get(2)?;
    let n = |i: usize| -> rusqlite::Result<u64> { Ok(r.get::<_, i64>(i)?.max(0) as u64) };
    Ok(RequestRow {
        id: r.get(0)?,
        request_id: r.get(1)?,
        ts_ms,
        at: chrono::DateTime::from_timestamp_millis(ts_ms)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_default(),
        client_key: r.get(3)?,
        client_format: r.get(4)?,
        provider: r.get(5)?,
        account: r.get(6)?,
        model: r.get(7)?,
        upstream_model: r.get(8)?,
        stream: r.get(9)?,
        status: u16::try_from(r.get::<_, i64>(10)?).unwrap_or(0),
        error_class: r.get(11)?,
        prompt_tokens: n(12)?,
        completion_tokens: n(13)?,
        cached_tokens: n(14)?,
        reasoning_tokens: n(15)?,
        tokens_estimated: r.get(16)?,
        latency_ms: r.get(17)?,
        ttfb_ms: r.get(18)?,
        combo: r.get(19)?,
        target_index: r.get(20)?,
        attempts: r.get(21)?,
    })
}

/// Up to `limit` rows matching `filter`, newest first, strictly older than `before`
/// (`(ts_ms, id)` of the previous page's last row).
pub fn requests_page(
    conn: &Connection,
    filter: &Filter,
    before: Option<(i64, i64)>,
    limit: u32,
) -> rusqlite::Result<Vec<RequestRow>> {
    let (sql, args) = requests_sql(filter, before, limit);
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params_from_iter(args), request_row)?;
    rows.collect()
}

/// The statement [`requests_page`] runs, and its arguments.
fn requests_sql(filter: &Filter, before: Option<(i64, i64)>, limit: u32) -> (String, Vec<Sql>) {
    let mut sql = format!("SELECT {ROW_COLUMNS} FROM usage");
    let mut args = Vec::new();
    narrow(&mut sql, &mut args, filter, "ts_ms", Dim::column);
    if let Some((ts, id)) = before {
        sql.push_str(if args.is_empty() { " WHERE " } else { " AND " });
        sql.push_str("(ts_ms, id) < (?, ?)");
        args.extend([Sql::Integer(ts), Sql::Integer(id)]);
    }
    sql.push_str(" ORDER BY ts_ms DESC, id DESC LIMIT ?");
    args.push(Sql::Integer(i64::from(limit)));
    (sql, args)
}

/// The statement [`request_by_id`] runs.
fn by_id_sql() -> String {
    format!("SELECT {ROW_COLUMNS} FROM usage WHERE request_id = ?1 ORDER BY id LIMIT 1")
}

/// The row of the request answered with `request_id`.
pub fn request_by_id(conn: &Connection, request_id: &str) -> rusqlite::Result<Option<RequestRow>> {
    let mut stmt = conn.prepare(&by_id_sql())?;
    let mut rows = stmt.query_map([request_id], request_row)?;
    rows.next().transpose()
}

#[cfg(test)]
mod tests {
    use super::super::{UsageRow, insert, open};
    use super::*;

    const HOUR: i64 = 3_600_000;

    /// 600 rows over 5 hours, across two providers, three keys (one absent) and a few
    /// statuses: enough that every group and bucket holds several rows.
    fn rows(start: i64) -> Vec<UsageRow> {
        (0..600)
            .map(|i: i64| UsageRow {
                ts_ms: start + i * 30_000,
                request_id: format!("{i:032x}"),
                client_key: ["k1", "k2", ""]
                    .get(i as usize % 3)
                    .filter(|k| !k.is_empty())
                    .map(|k| (*k).to_owned()),
                client_format: ["openai", "claude"][i as usize % 2],
                provider: Some(["p1", "p2"][i as usize / 2 % 2].to_owned()),
                account: Some(format!("a{}", i % 4)),
                requested_model: "m".into(),
                upstream_model: Some("um".into()),
                status: [200, 200, 200, 429, 500][i as usize % 5],
                usage: switchyard_hub::Usage {
                    prompt_tokens: 10 + i as u64,
                    completion_tokens: 5,
                    cached_tokens: 2,
                    reasoning_tokens: 1,
                    ..Default::default()
                },
                latency_ms: (i % 7) as f64 * 10.0,
                ..UsageRow::default()
            })
            .collect()
    }

    fn db(label: &str) -> (std::path::PathBuf, Connection) {
        let dir = std::env::temp_dir().join(format!("sy-reports-{label}-{}", uuid::Uuid::new_v4()));
        let conn = open(&dir.join("u.db")).unwrap();
        (dir, conn)
    }

    #[test]
    fn the_rollup_sums_what_the_rows_sum() {
        let (dir, mut conn) = db("rollup");
        let start = 1_700_000_000_000 / HOUR * HOUR;
        let rows = rows(start);
        // In two batches, so the writer both inserts and adds to existing rollup rows.
        insert(&mut conn, &rows[..250], &[], &[]).unwrap();
        insert(&mut conn, &rows[250..], &[], &[]).unwrap();
        let filters = [
            Filter::default(),
            Filter {
                provider: Some("p1".into()),
                errors: Some(true),
                ..Filter::default()
            },
            Filter {
                client_key: Some("k2".into()),
                status: Some(200),
                from_ms: Some(start + HOUR),
                to_ms: Some(start + 3 * HOUR),
                ..Filter::default()
            },
        ];
        let groupings: [&[Dim]; 3] = [&[], &[Dim::Provider, Dim::Status], &Dim::ALL];
        for filter in &filters {
            for group in groupings {
                for bucket in [HOUR, 24 * HOUR] {
                    let from_rows =
                        aggregate(&conn, Source::Rows, bucket, filter, group, 10_000).unwrap();
                    let from_rollup =
                        aggregate(&conn, Source::Hourly, bucket, filter, group, 10_000).unwrap();
                    assert!(from_rows.as_ref().is_some_and(|r| !r.is_empty()));
                    assert_eq!(from_rows, from_rollup, "{filter:?} {group:?}");
                }
            }
        }
        let all = aggregate(&conn, Source::Hourly, HOUR, &Filter::default(), &[], 100)
            .unwrap()
            .unwrap();
        assert_eq!(all.len(), 5);
        assert_eq!(all.iter().map(|r| r.requests).sum::<u64>(), 600);
        assert_eq!(all.iter().map(|r| r.errors).sum::<u64>(), 240);
        // Too many rows for the cap: None, not a truncated answer.
        assert_eq!(
            aggregate(
                &conn,
                Source::Hourly,
                HOUR,
                &Filter::default(),
                &Dim::ALL,
                10
            )
            .unwrap(),
            None
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_migration_fills_the_rollup_from_rows_written_before_it() {
        let (dir, mut conn) = db("migrate");
        let start = 1_700_000_000_000 / HOUR * HOUR;
        insert(&mut conn, &rows(start), &[], &[]).unwrap();
        // Back to before the rollup, as a database from an older release is.
        let before = super::super::schema::MIGRATIONS
            .iter()
            .position(|m| m.contains("CREATE TABLE usage_hourly"))
            .unwrap();
        // The migrations from the rollup's on run again, so each of them (the index and
        // trigger changes after it) must be one that can.
        conn.execute_batch(
            "DROP TABLE usage_hourly; DROP INDEX IF EXISTS usage_request_id;
             DROP INDEX IF EXISTS usage_key_ts; DROP INDEX IF EXISTS usage_provider_ts;
             DROP INDEX IF EXISTS usage_model_ts;",
        )
        .unwrap();
        conn.pragma_update(None, "user_version", before as i64)
            .unwrap();
        drop(conn);
        let conn = open(&dir.join("u.db")).unwrap();
        let f = Filter::default();
        assert_eq!(
            aggregate(&conn, Source::Rows, HOUR, &f, &Dim::ALL, 10_000).unwrap(),
            aggregate(&conn, Source::Hourly, HOUR, &f, &Dim::ALL, 10_000).unwrap()
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    /// SQLite's plan for `sql`, one line per step.
    fn plan(conn: &Connection, sql: &str, args: Vec<Sql>) -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let steps = stmt
            .query_map(params_from_iter(args), |r| r.get::<_, String>(3))
            .unwrap();
        steps.map(Result::unwrap).collect::<Vec<_>>().join("\n")
    }

    /// Every query the usage API runs reads through an index that matches its filter and
    /// order, so a page or an aggregate costs what it returns, not the table's size: the
    /// indexes the writer keeps up are exactly the ones these need.
    #[test]
    fn every_api_query_reads_through_an_index() {
        let (dir, conn) = db("plans");
        let page = |filter: Filter, before| {
            let (sql, args) = requests_sql(&filter, before, 51);
            plan(&conn, &sql, args)
        };
        let pages = [
            (Filter::default(), None, "usage_ts"),
            (Filter::default(), Some((1, 2)), "usage_ts"),
            (
                Filter {
                    from_ms: Some(1),
                    to_ms: Some(2),
                    errors: Some(true),
                    ..Filter::default()
                },
                None,
                "usage_ts",
            ),
            (
                Filter {
                    provider: Some("gemini".into()),
                    errors: Some(true),
                    ..Filter::default()
                },
                Some((1, 2)),
                "usage_provider_ts",
            ),
            (
                Filter {
                    client_key: Some("judy".into()),
                    ..Filter::default()
                },
                None,
                "usage_key_ts",
            ),
            (
                Filter {
                    model: Some("gpt-5".into()),
                    ..Filter::default()
                },
                None,
                "usage_model_ts",
            ),
        ];
        for (filter, before, index) in pages {
            let p = page(filter.clone(), before);
            assert!(
                p.contains(&format!("USING INDEX {index} ")) || p.ends_with(index),
                "{filter:?}: {p}"
            );
            // Read in the page's order: no sort of every matching row.
            assert!(!p.contains("TEMP B-TREE"), "{filter:?}: {p}");
        }
        let p = plan(&conn, &by_id_sql(), vec![Sql::Text("ab".into())]);
        assert!(
            p.contains("USING INDEX usage_request_id (request_id=?)"),
            "{p}"
        );
        let range = Filter {
            from_ms: Some(1),
            to_ms: Some(2),
            ..Filter::default()
        };
        let (sql, args) = aggregate_sql(Source::Rows, 60_000, &range, &[Dim::Provider], 10);
        let p = plan(&conn, &sql, args);
        assert!(
            p.contains("SEARCH usage USING INDEX usage_ts (ts_ms>? AND ts_ms<?)"),
            "{p}"
        );
        let (sql, args) = aggregate_sql(Source::Hourly, HOUR, &range, &[Dim::Provider], 10);
        let p = plan(&conn, &sql, args);
        assert!(!p.contains("TEMP B-TREE"), "{p}");
        let (sql, args) = aggregate_sql(Source::Hourly, HOUR, &range, &Dim::ALL, 10);
        let p = plan(&conn, &sql, args);
        assert!(
            p.contains("SEARCH usage_hourly USING PRIMARY KEY (hour_ms>? AND hour_ms<?)"),
            "{p}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn pages_walk_every_row_once_newest_first() {
        let (dir, mut conn) = db("pages");
        let start = 1_700_000_000_000;
        let mut rows = rows(start);
        // Rows sharing one instant: the id breaks the tie.
        for r in &mut rows[100..110] {
            r.ts_ms = start;
        }
        insert(&mut conn, &rows, &[], &[]).unwrap();
        let filter = Filter {
            provider: Some("p2".into()),
            ..Filter::default()
        };
        let mut seen = Vec::new();
        let mut before = None;
        loop {
            let page = requests_page(&conn, &filter, before, 7).unwrap();
            let Some(last) = page.last() else { break };
            before = Some((last.ts_ms, last.id));
            seen.extend(page.iter().map(|r| (r.ts_ms, r.id, r.provider.clone())));
        }
        assert_eq!(seen.len(), 300);
        assert!(seen.windows(2).all(|w| (w[0].0, w[0].1) > (w[1].0, w[1].1)));
        assert!(seen.iter().all(|r| r.2.as_deref() == Some("p2")));
        let one = request_by_id(&conn, &format!("{:032x}", 5))
            .unwrap()
            .unwrap();
        assert_eq!((one.prompt_tokens, one.status), (15, 200));
        assert_eq!(request_by_id(&conn, "nope").unwrap(), None);
        let _ = std::fs::remove_dir_all(dir);
    }
}
