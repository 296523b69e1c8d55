//! The usage API: aggregates by time bucket and dimension (`GET /api/usage/aggregate`), the
//! request log a page at a time (`GET /api/requests`), one request's row, and the debug-log
//! files of that request when debug logs were on. Everything here reads; nothing is audited.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use switchyard_hub::{ApiError, ErrorKind};
use utoipa::{IntoParams, ToSchema};

use crate::api::{Answer, body, ok, with_db};
use crate::http::respond;
use crate::state::app::App;
use crate::state::usage_store::reports::{self, AggregateRow, Dim, Filter, RequestRow, Source};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 86_400_000;
/// More buckets than a chart can show; a range that needs more asks for a coarser bucket.
/// (A day of minutes, two months of hours, five years of days.)
const MAX_BUCKETS: i64 = 2_000;
/// Rows of one aggregate answer (buckets times groups), so a `group_by=client_key` over a
/// busy range answers in bounded memory and time.
const MAX_ROWS: usize = 20_000;
/// The latest instant accepted: the end of year 9999.
const MAX_MS: i64 = 253_402_300_799_999;
/// Request-log page size: default and most.
const PAGE: u32 = 50;
const MAX_PAGE: u32 = 500;

/// The filters both endpoints take, with each endpoint's own fields before them.
macro_rules! usage_query {
    ($(#[$doc:meta])* $name:ident { $($(#[$fdoc:meta])* $field:ident: $ty:ty,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Deserialize, IntoParams)]
        #[serde(deny_unknown_fields)]
        #[into_params(parameter_in = Query)]
        pub struct $name {
            $($(#[$fdoc])* $field: $ty,)*
            /// Start of the range, inclusive: RFC 3339 (`2026-12-01T00:00:00Z`) or epoch ms.
            from: Option<String>,
            /// End of the range, exclusive: RFC 3339 or epoch ms.
            to: Option<String>,
            /// Only this provider's requests.
            provider: Option<String>,
            /// Only this account's requests.
            account: Option<String>,
            /// Only requests for this model, as the client named it (alias or combo included).
            model: Option<String>,
            /// Only requests sent upstream for this model.
            upstream_model: Option<String>,
            /// Only requests made with this client key (its id).
            client_key: Option<String>,
            /// Only requests in this client format (`openai`, `claude`, `responses`, `gemini`).
            client_format: Option<String>,
            /// Only requests answered with this HTTP status.
            status: Option<u16>,
            /// `true`: only failures (status 400 and over); `false`: only successes.
            errors: Option<bool>,
        }

        impl $name {
            fn filter(&self) -> Result<Filter, ApiError> {
                Ok(Filter {
                    from_ms: self.from.as_deref().map(|v| instant("from", v)).transpose()?,
                    to_ms: self.to.as_deref().map(|v| instant("to", v)).transpose()?,
                    provider: self.provider.clone(),
                    account: self.account.clone(),
                    model: self.model.clone(),
                    upstream_model: self.upstream_model.clone(),
                    client_key: self.client_key.clone(),
                    client_format: self.client_format.clone(),
                    status: self.status,
                    errors: self.errors,
                })
            }
        }
    };
}

usage_query! {
    /// `GET /api/usage/aggregate`'s query.
    AggregateQuery {
        /// `minute`, `hour` (default) or `day`; buckets are UTC.
        bucket: Option<String>,
        /// Comma-separated dimensions to group by: any of `provider`, `account`, `model`,
        /// `upstream_model`, `client_key`, `client_format`, `status`.
        group_by: Option<String>,
    }
}

usage_query! {
    /// `GET /api/requests`'s query.
    RequestsQuery {
        /// Rows per page (default 50, at most 500).
        limit: Option<u32>,
        /// The previous page's `next_cursor`: rows older than its last.
        cursor: Option<String>,
    }
}

fn refuse(code: &'static str, message: String) -> ApiError {
    ApiError::new(400, ErrorKind::InvalidRequest, message).with_code(code)
}

/// An instant given as epoch milliseconds or RFC 3339.
fn instant(name: &str, value: &str) -> Result<i64, ApiError> {
    let ms = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        value.parse::<i64>().ok()
    } else {
        chrono::DateTime::parse_from_rfc3339(value)
            .ok()
            .map(|t| t.timestamp_millis())
    };
    ms.filter(|ms| (0..=MAX_MS).contains(ms)).ok_or_else(|| {
        refuse(
            "invalid_time",
            format!(
                "`{name}` must be RFC 3339 (2026-12-01T00:00:00Z) or epoch milliseconds, between 1970 and 9999; got {value:?}"
            ),
        )
    })
}

/// One bucket of one group.
#[derive(Debug, Serialize, ToSchema)]
pub struct Bucket {
    /// The bucket's start, RFC 3339 UTC.
    pub start: String,
    /// The group's value of each `group_by` dimension (null where the requests had none:
    /// no provider resolved, no client key); empty without `group_by`.
    #[schema(value_type = Object)]
    pub group: Map<String, Value>,
    #[serde(flatten)]
    pub sums: AggregateRow,
}

/// Usage summed per time bucket and group.
#[derive(Debug, Serialize, ToSchema)]
pub struct Aggregate {
    /// `minute`, `hour` or `day`.
    pub bucket: String,
    /// The range summed, widened to whole buckets: `from` inclusive, `to` exclusive.
    pub from: String,
    pub to: String,
    pub group_by: Vec<String>,
    /// Buckets that had requests, oldest first (within a bucket, ordered by group).
    pub buckets: Vec<Bucket>,
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// Requests, errors, tokens and latency per time bucket, grouped by any dimensions.
#[utoipa::path(
    get,
    path = "/api/usage/aggregate",
    tag = "usage",
    params(AggregateQuery),
    responses(
        (status = 200, description = "Sums per bucket and group. Without `from`, the range is the last hour (minute buckets), day (hour) or 30 days (day) up to `to` (default now); both ends are widened to whole buckets.", body = Aggregate),
        (status = 400, description = "A bad bucket, dimension, time or filter; more than 2,000 buckets or 20,000 rows", body = super::openapi::ErrorBody),
        (status = 401, description = "No or wrong admin key", body = super::openapi::ErrorBody),
    )
)]
pub async fn aggregate(app: Arc<App>, query: Option<&str>) -> Answer {
    let q: AggregateQuery = body::query(query)?;
    let (name, bucket, default_span) = match q.bucket.as_deref().unwrap_or("hour") {
        "minute" => ("minute", MINUTE, HOUR),
        "hour" => ("hour", HOUR, DAY),
        "day" => ("day", DAY, 30 * DAY),
        other => {
            return Err(refuse(
                "invalid_bucket",
                format!("`bucket` must be minute, hour or day; got {other:?}"),
            ));
        }
    };
    let dims = group_by(q.group_by.as_deref().unwrap_or_default())?;
    let mut filter = q.filter()?;
    let now = crate::routing::epoch_ms(switchyard_hub::clock::now());
    let to = filter.to_ms.unwrap_or(now);
    // Widened to whole buckets, so the first and last are not partial sums of the range.
    let to = to.div_euclid(bucket) * bucket + if to % bucket == 0 { 0 } else { bucket };
    let from = filter
        .from_ms
        .unwrap_or(to - default_span)
        .div_euclid(bucket)
        * bucket;
    if from >= to {
        return Err(refuse(
            "invalid_range",
            format!(
                "`from` ({}) must be before `to` ({})",
                rfc3339(from),
                rfc3339(to)
            ),
        ));
    }
    let buckets = (to - from) / bucket;
    if buckets > MAX_BUCKETS {
        return Err(refuse(
            "too_many_buckets",
            format!(
                "that range holds {buckets} {name} buckets, more than {MAX_BUCKETS}: narrow `from`..`to` or use a coarser `bucket`"
            ),
        ));
    }
    (filter.from_ms, filter.to_ms) = (Some(from), Some(to));
    // The rollup holds hours; minute buckets read the rows (at most 2,000 minutes of them).
    let source = if bucket >= HOUR {
        Source::Hourly
    } else {
        Source::Rows
    };
    let grouped = dims.clone();
    let rows = with_db(&app, move |conn| {
        reports::aggregate(conn, source, bucket, &filter, &grouped, MAX_ROWS)
    })
    .await?
    .ok_or_else(|| {
        refuse(
            "too_many_rows",
            format!(
                "the answer would hold more than {MAX_ROWS} rows: narrow the range, use a coarser bucket, group by fewer dimensions or filter"
            ),
        )
    })?;
    let buckets = rows
        .into_iter()
        .map(|sums| {
            let group = dims
                .iter()
                .zip(&sums.group)
                .map(|(d, v)| {
                    let v = match (d, v) {
                        (_, None) => Value::Null,
                        (Dim::Status, Some(s)) => s.parse::<u16>().map_or(Value::Null, Value::from),
                        (_, Some(s)) => Value::String(s.clone()),
                    };
                    (d.name().to_owned(), v)
                })
                .collect();
            Bucket {
                start: rfc3339(sums.bucket_ms),
                group,
                sums,
            }
        })
        .collect();
    ok(
        200,
        &Aggregate {
            bucket: name.into(),
            from: rfc3339(from),
            to: rfc3339(to),
            group_by: dims.iter().map(|d| d.name().to_owned()).collect(),
            buckets,
        },
    )
}

/// `provider,model` as dimensions, each once.
fn group_by(list: &str) -> Result<Vec<Dim>, ApiError> {
    let mut dims = Vec::new();
    for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let dim = Dim::parse(name).ok_or_else(|| {
            let known: Vec<&str> = Dim::ALL.iter().map(|d| d.name()).collect();
            refuse(
                "invalid_group_by",
                format!("cannot group by {name:?}: use any of {}", known.join(", ")),
            )
        })?;
        if dims.contains(&dim) {
            return Err(refuse(
                "invalid_group_by",
                format!("{name:?} is named twice in `group_by`"),
            ));
        }
        dims.push(dim);
    }
    Ok(dims)
}

/// A page of the request log, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct RequestsPage {
    pub requests: Vec<RequestRow>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// `(ts_ms, id)` of a page's last row, as the cursor shows it.
fn cursor(row: &RequestRow) -> String {
    format!("{}.{}", row.ts_ms, row.id)
}

fn parse_cursor(text: &str) -> Result<(i64, i64), ApiError> {
    text.split_once('.')
        .and_then(|(ts, id)| Some((ts.parse().ok()?, id.parse().ok()?)))
        .ok_or_else(|| {
            refuse(
                "invalid_cursor",
                format!("`cursor` must be a previous page's `next_cursor`; got {text:?}"),
            )
        })
}

/// The request log, newest first, a page at a time.
#[utoipa::path(
    get,
    path = "/api/requests",
    tag = "usage",
    params(RequestsQuery),
    responses(
        (status = 200, description = "A page of requests, newest first. Pages are keyset-paged on (time, id): every row older than the first page's newest is returned exactly once, whatever is written meanwhile.", body = RequestsPage),
        (status = 400, description = "A bad cursor, time or filter", body = super::openapi::ErrorBody),
        (status = 401, description = "No or wrong admin key", body = super::openapi::ErrorBody),
    )
)]
pub async fn requests(app: Arc<App>, query: Option<&str>) -> Answer {
    let q: RequestsQuery = body::query(query)?;
    let filter = q.filter()?;
    let limit = q.limit.unwrap_or(PAGE).clamp(1, MAX_PAGE);
    let before = q.cursor.as_deref().map(parse_cursor).transpose()?;
    // One row more than the page says whether there is a next page.
    let mut rows = with_db(&app, move |conn| {
        reports::requests_page(conn, &filter, before, limit + 1)
    })
    .await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = more.then(|| rows.last().map(cursor)).flatten();
    ok(
        200,
        &RequestsPage {
            requests: rows,
            next_cursor,
        },
    )
}

/// A request id as the proxy makes them (32 hex digits); anything else is refused before
/// it reaches the database or a file name.
fn checked_id(id: &str) -> Result<&str, ApiError> {
    if !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        Ok(id)
    } else {
        Err(refuse(
            "invalid_request_id",
            "a request id is the `x-request-id` the proxy answered with (hex digits)".into(),
        ))
    }
}

async fn row_of(app: &Arc<App>, id: &str) -> Result<RequestRow, ApiError> {
    let id = checked_id(id)?.to_owned();
    let wanted = id.clone();
    with_db(app, move |conn| reports::request_by_id(conn, &wanted))
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no request {id} in the log (its row is written a moment after it ends)"
            ))
            .with_code("no_such_request")
        })
}

/// One request's full row.
#[utoipa::path(
    get,
    path = "/api/requests/{request_id}",
    tag = "usage",
    params(("request_id" = String, Path, description = "The `x-request-id` the proxy answered with")),
    responses(
        (status = 200, description = "The request's usage row", body = RequestRow),
        (status = 400, description = "Not a request id", body = super::openapi::ErrorBody),
        (status = 404, description = "No such request in the log", body = super::openapi::ErrorBody),
    )
)]
pub async fn request(app: Arc<App>, id: &str) -> Answer {
    ok(200, &row_of(&app, id).await?)
}

/// One debug-log file.
#[derive(Debug, Serialize, ToSchema)]
pub struct DebugFile {
    pub name: String,
    pub bytes: u64,
}

/// A request's debug-log files.
#[derive(Debug, Serialize, ToSchema)]
pub struct DebugFiles {
    pub request_id: String,
    /// The folder under the debug-log directory that holds them.
    pub folder: String,
    pub files: Vec<DebugFile>,
}

/// The request's debug-log folder: named `<UTC time>_<formats>_<model>_<first 8 of the id>`
/// by the debug logger, at a time between the request's arrival and its end. The id's
/// prefix alone could match another request's folder; the time window cannot.
fn find_folder(dir: &Path, row: &RequestRow) -> std::io::Result<Option<PathBuf>> {
    let short: String = row.request_id.chars().take(8).collect();
    let suffix = format!("_{short}");
    let earliest = row.ts_ms - 2_000;
    let latest = row.ts_ms + row.latency_ms.ceil() as i64 + 2_000;
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if !name.ends_with(&suffix) || !entry.file_type()?.is_dir() {
            continue;
        }
        let at = name
            .split('_')
            .next()
            .and_then(|t| chrono::NaiveDateTime::parse_from_str(t, "%Y%m%dT%H%M%S%.3fZ").ok())
            .map(|t| t.and_utc().timestamp_millis());
        if at.is_some_and(|at| (earliest..=latest).contains(&at)) {
            return Ok(Some(entry.path()));
        }
    }
    Ok(None)
}

fn list_files(folder: &Path) -> std::io::Result<Vec<DebugFile>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(folder)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        if let (true, Ok(name)) = (meta.is_file(), entry.file_name().into_string()) {
            files.push(DebugFile {
                name,
                bytes: meta.len(),
            });
        }
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

/// Runs file-system work off the serving thread.
async fn on_disk<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("the file task failed: {e}")))?
        .map_err(|e| ApiError::internal(format!("cannot read the debug logs: {e}")))
}

/// The request's row and its debug-log folder, or a 404 that says why there is none.
pub async fn debug_folder(app: &Arc<App>, id: &str) -> Result<(RequestRow, PathBuf), ApiError> {
    let row = row_of(app, id).await?;
    let dir = app.snapshot().config.logs_dir.clone();
    let wanted = row.clone();
    let folder = on_disk(move || find_folder(&dir, &wanted)).await?;
    match folder {
        Some(f) => Ok((row, f)),
        None => Err(ApiError::not_found(format!(
            "request {} has no debug logs: they are written only while debug logs are on ([debug_logs] enabled), a moment after the request ends",
            row.request_id
        ))
        .with_code("no_debug_logs")),
    }
}

/// The request's debug-log files, when debug logs were on for it.
#[utoipa::path(
    get,
    path = "/api/requests/{request_id}/debug",
    tag = "usage",
    params(("request_id" = String, Path, description = "The `x-request-id` the proxy answered with")),
    responses(
        (status = 200, description = "The files of the request's debug-log folder (secrets in them were masked when they were written)", body = DebugFiles),
        (status = 400, description = "Not a request id", body = super::openapi::ErrorBody),
        (status = 404, description = "No such request, or no debug logs for it", body = super::openapi::ErrorBody),
    )
)]
pub async fn debug_list(app: Arc<App>, id: &str) -> Answer {
    let (row, folder) = debug_folder(&app, id).await?;
    let name = folder
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let files = on_disk(move || list_files(&folder)).await?;
    ok(
        200,
        &DebugFiles {
            request_id: row.request_id,
            folder: name,
            files,
        },
    )
}

/// One of the request's debug-log files, as written.
#[utoipa::path(
    get,
    path = "/api/requests/{request_id}/debug/{file}",
    tag = "usage",
    params(
        ("request_id" = String, Path, description = "The `x-request-id` the proxy answered with"),
        ("file" = String, Path, description = "A file name from the request's debug listing"),
    ),
    responses(
        (status = 200, description = "The file: JSON, or a stream's raw text", content_type = "application/json", body = String),
        (status = 400, description = "Not a request id, or not a plain file name", body = super::openapi::ErrorBody),
        (status = 404, description = "No such request, debug logs or file", body = super::openapi::ErrorBody),
    )
)]
pub async fn debug_file(app: Arc<App>, id: &str, file: &str) -> Answer {
    // Only a plain name of the folder's own files: no separators, no `..`, nothing hidden.
    if file.is_empty()
        || file.len() > 255
        || file.starts_with('.')
        || file.contains(['/', '\\', '%', '\0'])
    {
        return Err(refuse(
            "invalid_file_name",
            format!("{file:?} is not a file name from the request's debug listing"),
        ));
    }
    let (_, folder) = debug_folder(&app, id).await?;
    let name = file.to_owned();
    let found = on_disk(move || {
        let listed = list_files(&folder)?.into_iter().any(|f| f.name == name);
        if listed {
            std::fs::read(folder.join(&name)).map(Some)
        } else {
            Ok(None)
        }
    })
    .await?;
    let Some(bytes) = found else {
        return Err(ApiError::not_found(format!(
            "request {id} has no debug file {file:?}; see GET /api/requests/{id}/debug"
        ))
        .with_code("no_such_file"));
    };
    let content_type = if file.ends_with(".json") {
        "application/json"
    } else {
        "text/plain; charset=utf-8"
    };
    Ok(respond::bytes(200, content_type, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_are_epoch_ms_or_rfc3339_within_bounds() {
        assert_eq!(instant("from", "1700000000000").unwrap(), 1_700_000_000_000);
        assert_eq!(
            instant("from", "2026-12-01T00:00:00Z").unwrap(),
            1_796_083_200_000
        );
        assert_eq!(
            instant("from", "2026-12-01T01:00:00+01:00").unwrap(),
            1_796_083_200_000
        );
        for bad in [
            "",
            "yesterday",
            "-5",
            "99999999999999999999",
            "2026-13-01T00:00:00Z",
        ] {
            assert_eq!(instant("from", bad).unwrap_err().status, 400, "{bad}");
        }
    }

    #[test]
    fn group_by_takes_known_dimensions_once() {
        assert_eq!(
            group_by("provider, model,status").unwrap(),
            [Dim::Provider, Dim::Model, Dim::Status]
        );
        assert!(group_by("").unwrap().is_empty());
        assert_eq!(group_by("provider,provider").unwrap_err().status, 400);
        assert_eq!(group_by("colour").unwrap_err().status, 400);
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        assert_eq!(
            parse_cursor("1700000000000.42").unwrap(),
            (1_700_000_000_000, 42)
        );
        for bad in ["", "42", "a.b", "1.2.3"] {
            assert_eq!(parse_cursor(bad).unwrap_err().status, 400, "{bad}");
        }
    }

    #[test]
    fn a_debug_folder_is_found_by_id_prefix_and_time() {
        let dir =
            std::env::temp_dir().join(format!("switchyard-debug-find-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        // The logger's own name for a folder made now, and one with the same id prefix from
        // an hour earlier (another request whose id starts alike).
        let name =
            crate::state::debug_log::folder_name("openai", "claude", "m", "abcdef0123456789");
        std::fs::create_dir_all(dir.join(&name)).unwrap();
        std::fs::create_dir_all(dir.join("20200101T000000.000Z_openai_claude_m_abcdef01")).unwrap();
        let row = RequestRow {
            id: 1,
            request_id: "abcdef0123456789".into(),
            ts_ms: chrono::Utc::now().timestamp_millis() - 10,
            at: String::new(),
            client_key: None,
            client_format: "openai".into(),
            provider: None,
            account: None,
            model: "m".into(),
            upstream_model: None,
            stream: false,
            status: 200,
            error_class: None,
            prompt_tokens: 0,
            completion_tokens: 0,
            cached_tokens: 0,
            reasoning_tokens: 0,
            tokens_estimated: false,
            latency_ms: 20.0,
            ttfb_ms: None,
            combo: None,
            target_index: 0,
            attempts: 1,
        };
        assert_eq!(find_folder(&dir, &row).unwrap(), Some(dir.join(&name)));
        let later = RequestRow {
            ts_ms: row.ts_ms + 3_600_000,
            ..row.clone()
        };
        assert_eq!(find_folder(&dir, &later).unwrap(), None);
        assert_eq!(find_folder(&dir.join("absent"), &row).unwrap(), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ClusterQuery {
    /// How many minutes up to now (1 to 1440; default 60).
    pub minutes: Option<u32>,
}

/// The whole cluster's requests per minute.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterMinutes {
    /// Oldest first; the current minute is last.
    pub minutes: Vec<crate::cluster::Minute>,
}

/// Requests, errors, tokens and cost per minute across every instance of the cluster (each
/// instance's own figures are in `/api/usage/aggregate`), for the overview in cluster mode.
#[utoipa::path(
    operation_id = "cluster_minutes",
    get,
    path = "/api/usage/cluster",
    tag = "usage",
    params(ClusterQuery),
    responses(
        (status = 200, description = "One entry per minute, oldest first", body = ClusterMinutes),
        (status = 400, description = "A bad number of minutes", body = super::openapi::ErrorBody),
        (status = 404, description = "This instance does not run in cluster mode", body = super::openapi::ErrorBody),
        (status = 503, description = "Redis is unreachable", body = super::openapi::ErrorBody),
    )
)]
pub async fn cluster_minutes(query: Option<&str>) -> Answer {
    let q: ClusterQuery = body::query(query)?;
    let count = q.minutes.unwrap_or(60);
    if !(1..=1440).contains(&count) {
        return Err(body::invalid("`minutes` must be 1 to 1440".into()));
    }
    let Some(cluster) = crate::cluster::active() else {
        return Err(ApiError::not_found(
            "this instance does not run in cluster mode (cluster.redis_url)",
        )
        .with_code("not_clustered"));
    };
    match cluster.minutes(count).await {
        Ok(minutes) => ok(200, &ClusterMinutes { minutes }),
        Err(e) => Err(ApiError::new(
            503,
            ErrorKind::Upstream,
            format!("the cluster's figures are unavailable: {e}"),
        )),
    }
}
