//! `GET /api/settings`: the configuration in force, each value with where it came from (the
//! file, a `SWITCHYARD_*` variable, the command line, the default, or the database), secrets
//! masked, so an operator can tell why the server behaves as it does without reading three
//! places; and `PATCH /api/settings`, which changes routing and timeout settings in force at
//! once (kept in the database, laid over the file's; `null` gives a key back to the file).

use std::sync::Arc;
use std::time::Duration;

use http::Request;
use hyper::body::Incoming;
use serde::Serialize;
use serde_json::{Value, json};
use switchyard_hub::ApiError;
use utoipa::ToSchema;

use crate::api::audit::{self, Change};
use crate::api::{Actor, Answer, body, mask, ok, with_db};
use crate::config::ENV_PREFIX;
use crate::config::overrides::{self, Overrides};
use crate::state::app::App;
use crate::state::usage_store;

/// Where a value in force came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SettingSource {
    File,
    /// A `SWITCHYARD_*` variable (or, for a key, the variable the file names).
    Environment,
    /// `--listen`.
    CommandLine,
    Default,
    /// Set through the API or the CLI and kept in the database.
    Database,
}

/// One value in force.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Setting {
    /// As the config file spells it (`timeouts.connect_ms`).
    pub key: String,
    /// Secrets are masked (`****` and at most the last four characters).
    pub value: Value,
    pub source: SettingSource,
}

/// How the configuration in force was loaded.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReloadStatus {
    /// When the configuration in force was put in force (RFC 3339): start-up, or the last
    /// reload that was taken in.
    pub loaded_at: String,
    /// What the last reload came from (`file`, `database`, `api`), if any happened.
    pub last_source: Option<String>,
    /// The last reload, when it was refused, and why; the configuration before it kept
    /// serving. No key is quoted in it.
    pub last_error: Option<String>,
    /// Settings the file changed that take effect only after a restart.
    pub restart_needed: Vec<String>,
}

/// The configuration in force.
#[derive(Debug, Serialize, ToSchema)]
pub struct SettingsView {
    /// The config file.
    pub file: String,
    pub settings: Vec<Setting>,
    pub reload: ReloadStatus,
}

/// What the file says, to tell a value the file set from a default.
struct FileText(toml::Table);

impl FileText {
    fn has(&self, key: &str) -> bool {
        let mut parts = key.split('.');
        let Some(first) = parts.next() else {
            return false;
        };
        let mut v = self.0.get(first);
        for p in parts {
            v = v.and_then(|t| t.get(p));
        }
        v.is_some()
    }
}

fn ms(d: Duration) -> Value {
    json!(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The source of `key`, overridable by `SWITCHYARD_<env>` when `env` is given.
fn source(file: &FileText, key: &str, env: Option<&str>) -> SettingSource {
    let set = |name: &str| std::env::var_os(format!("{ENV_PREFIX}{name}")).is_some();
    if env.is_some_and(set) {
        SettingSource::Environment
    } else if file.has(key) {
        SettingSource::File
    } else {
        SettingSource::Default
    }
}

fn settings(app: &App, file: &FileText, stored_routes: usize, stored: &Overrides) -> Vec<Setting> {
    let mut out = Vec::new();
    server(app, file, &mut out);
    rest(app, file, stored_routes, &mut out);
    for s in &mut out {
        if stored.contains_key(&s.key) {
            s.source = SettingSource::Database;
        }
    }
    out
}

fn adder(out: &mut Vec<Setting>) -> impl FnMut(&str, Value, SettingSource) + '_ {
    |key: &str, value: Value, source: SettingSource| {
        out.push(Setting {
            key: key.to_owned(),
            value,
            source,
        });
    }
}

/// The server's, the storage's and the timeouts' values, most of which a variable overrides.
fn server(app: &App, file: &FileText, out: &mut Vec<Setting>) {
    let c = &app.snapshot().config;
    let mut add = adder(out);
    let listen_source = match source(file, "server.listen", Some("LISTEN")) {
        SettingSource::Environment => SettingSource::Environment,
        from => {
            let in_file = file
                .0
                .get("server")
                .and_then(|s| s.get("listen"))
                .and_then(toml::Value::as_str)
                .unwrap_or("127.0.0.1:4100");
            if in_file.parse().ok() == Some(c.listen) {
                from
            } else {
                SettingSource::CommandLine
            }
        }
    };
    add("server.listen", json!(c.listen.to_string()), listen_source);
    for (key, env, value) in [
        ("server.body_limit", "BODY_LIMIT", json!(c.body_limit)),
        ("server.threads", "THREADS", json!(c.threads)),
        (
            "server.max_connections",
            "MAX_CONNECTIONS",
            json!(c.max_connections),
        ),
        (
            "server.account_reload_ms",
            "ACCOUNT_RELOAD_MS",
            ms(c.account_reload),
        ),
        (
            "server.busy_poll_us",
            "BUSY_POLL_US",
            json!(u64::try_from(c.busy_poll.as_micros()).unwrap_or(u64::MAX)),
        ),
        (
            "storage.database",
            "DATABASE",
            json!(c.database.display().to_string()),
        ),
        ("debug_logs.enabled", "DEBUG_LOGS", json!(c.debug_logs)),
        (
            "debug_logs.dir",
            "LOGS_DIR",
            json!(c.logs_dir.display().to_string()),
        ),
        (
            "timeouts.connect_ms",
            "CONNECT_TIMEOUT_MS",
            ms(c.timeouts.connect),
        ),
        (
            "timeouts.first_byte_ms",
            "FIRST_BYTE_TIMEOUT_MS",
            ms(c.timeouts.first_byte),
        ),
        ("timeouts.idle_ms", "IDLE_TIMEOUT_MS", ms(c.timeouts.idle)),
        (
            "timeouts.total_ms",
            "TOTAL_TIMEOUT_MS",
            ms(c.timeouts.total),
        ),
        (
            "timeouts.client_header_ms",
            "CLIENT_HEADER_TIMEOUT_MS",
            ms(c.timeouts.client_header),
        ),
        (
            "timeouts.client_body_ms",
            "CLIENT_BODY_TIMEOUT_MS",
            ms(c.timeouts.client_body),
        ),
    ] {
        add(key, value, source(file, key, Some(env)));
    }
}

/// The keys (masked), routing, client keys, providers and route counts.
fn rest(app: &App, file: &FileText, stored_routes: usize, out: &mut Vec<Setting>) {
    let c = &app.snapshot().config;
    let mut add = adder(out);
    add(
        "server.overhead_header",
        json!(c.overhead_header),
        source(file, "server.overhead_header", None),
    );
    for (key, secret) in [
        ("server.admin_key", &c.admin_key),
        ("server.metrics_key", &c.metrics_key),
    ] {
        let from = if file.has(key) {
            SettingSource::File
        } else if file.has(&format!("{key}_env")) {
            SettingSource::Environment
        } else {
            SettingSource::Default
        };
        add(key, json!(secret.as_ref().map(|s| mask(s.expose()))), from);
    }
    let r = &c.routing;
    for (key, value) in [
        ("routing.sticky_limit", json!(r.sticky_limit)),
        ("routing.backoff_base_ms", ms(r.backoff_base)),
        ("routing.backoff_max_ms", ms(r.backoff_max)),
        ("routing.disable_after", json!(r.disable_after)),
        ("routing.probe_after_ms", ms(r.probe_after)),
        ("routing.session_header", json!(r.session_header)),
        ("routing.session_ttl_secs", json!(r.session_ttl.as_secs())),
        (
            "routing.daily_reset_offset",
            json!(format!(
                "{}{:02}:{:02}",
                if r.day_offset_secs < 0 { '-' } else { '+' },
                r.day_offset_secs.unsigned_abs() / 3600,
                r.day_offset_secs.unsigned_abs() % 3600 / 60
            )),
        ),
    ] {
        add(key, value, source(file, key, None));
    }
    let client_keys: Vec<Value> = c
        .client_keys
        .iter()
        .map(|k| {
            json!({"id": k.id, "key": mask(k.key.expose()), "requests_per_minute": k.requests_per_minute,
                "tokens_per_day": k.tokens_per_day, "tokens_per_month": k.tokens_per_month})
        })
        .collect();
    add(
        "client_keys",
        json!(client_keys),
        source(file, "client_keys", None),
    );
    let providers: Vec<Value> = c
        .providers
        .iter()
        .map(|p| {
            let accounts: Vec<Value> = p
                .accounts
                .iter()
                .map(|a| json!({"name": a.name, "key": mask(a.key.expose()), "priority": a.priority, "weight": a.weight}))
                .collect();
            json!({"name": p.name, "kind": p.kind, "base_url": p.base_url, "models": p.models,
                "per_model_limits": p.per_model_limits, "accounts": accounts})
        })
        .collect();
    add(
        "providers",
        json!(providers),
        source(file, "providers", None),
    );
    add(
        "aliases",
        json!(c.aliases.len()),
        source(file, "aliases", None),
    );
    add(
        "combos",
        json!(c.combos.len()),
        source(file, "combos", None),
    );
    add(
        "stored_routes",
        json!(stored_routes),
        SettingSource::Database,
    );
}

/// The configuration in force, as the API shows it.
pub async fn view(app: &Arc<App>) -> Result<SettingsView, ApiError> {
    let path = app.snapshot().config.file.clone();
    // The file as it is now; a file that no longer parses shows every value as a default
    // (the values are still those in force).
    let text = tokio::task::spawn_blocking(move || std::fs::read_to_string(path))
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let file = FileText(toml::from_str(&text).unwrap_or_default());
    let stored = with_db(app, |conn| usage_store::load_routes(conn)).await?;
    let overrides = app.reconfigure.lock().await.stored_settings.clone();
    let started = chrono::DateTime::<chrono::Utc>::from(app.started).to_rfc3339();
    let last = app.reload_status();
    let view = SettingsView {
        file: app.snapshot().config.file.display().to_string(),
        settings: settings(app, &file, stored.0.len() + stored.1.len(), &overrides),
        reload: ReloadStatus {
            loaded_at: last
                .as_ref()
                .filter(|s| s.ok)
                .map_or(started, |s| s.at.clone()),
            last_source: last.as_ref().and_then(|s| {
                serde_json::to_value(s.source)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
            }),
            last_error: last.as_ref().and_then(|s| s.error.clone()),
            restart_needed: last
                .map(|s| s.restart_needed.iter().map(|k| (*k).to_owned()).collect())
                .unwrap_or_default(),
        },
    };
    Ok(view)
}

/// Reads the configuration in force.
#[utoipa::path(
    operation_id = "get_settings",
    get,
    path = "/api/settings",
    tag = "settings",
    responses(
        (status = 200, description = "Every value in force with its source; secrets masked", body = SettingsView),
        (status = 401, description = "No or wrong admin key", body = super::openapi::ErrorBody),
    )
)]
pub async fn get(app: Arc<App>) -> Answer {
    ok(200, &view(&app).await?)
}

/// Changes routing and timeout settings, in force at once for requests that start from
/// now on.
#[utoipa::path(
    operation_id = "update_settings",
    patch,
    path = "/api/settings",
    tag = "settings",
    request_body(content = serde_json::Value, description = "Setting keys as the file spells them (`routing.sticky_limit`, `timeouts.total_ms`...) to new values; `null` gives a key back to the file"),
    responses(
        (status = 200, description = "Every value in force with its source", body = SettingsView),
        (status = 400, description = "A key that cannot be changed here, or a value that does not fit", body = super::openapi::ErrorBody),
    )
)]
pub async fn update(app: Arc<App>, req: Request<Incoming>, actor: Actor) -> Answer {
    let asked: serde_json::Map<String, Value> = body::read(&app, req).await?;
    let (before, file) = {
        let sources = app.reconfigure.lock().await;
        (sources.stored_settings.clone(), sources.file.clone())
    };
    let mut next = before.clone();
    for (key, value) in asked {
        if !overrides::KEYS.contains(&key.as_str()) {
            return Err(body::invalid(format!(
                "`{key}` cannot be changed through the API (these can: {})",
                overrides::KEYS.join(", ")
            )));
        }
        if value.is_null() {
            next.remove(&key);
        } else {
            next.insert(key, value);
        }
    }
    overrides::apply(&mut file.clone(), &next).map_err(|e| body::invalid(e.0))?;
    let stored = next.clone();
    with_db(&app, move |conn| usage_store::save_overrides(conn, &stored)).await?;
    app.apply_stored(|s| s.stored_settings = next.clone())
        .await
        .map_err(|e| ApiError::internal(format!("stored but not in force: {e}")))?;
    audit::record(
        &app,
        &actor,
        Change {
            action: "settings.update",
            target: "settings".into(),
            before: Some(json!(before)),
            after: Some(json!(next)),
        },
    )
    .await?;
    ok(200, &view(&app).await?)
}
