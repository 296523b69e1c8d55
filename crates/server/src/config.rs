//! Configuration in two stages: a strict file format (unknown keys are errors that name the
//! key and line), then one validation into the immutable runtime [`Config`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use switchyard_auth::Secret;

/// The file written on first start: every key, commented, at its default.
pub const DEFAULT_FILE: &str = include_str!("../../../data/config.example.toml");

pub const ENV_PREFIX: &str = "SWITCHYARD_";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    server: ServerFile,
    #[serde(default)]
    client_keys: Vec<ClientKeyFile>,
    #[serde(default)]
    storage: StorageFile,
    #[serde(default)]
    debug_logs: DebugLogsFile,
    #[serde(default)]
    timeouts: TimeoutsFile,
    #[serde(default)]
    providers: Vec<ProviderFile>,
    #[serde(default)]
    aliases: BTreeMap<String, String>,
    #[serde(default)]
    combos: Vec<ComboFile>,
    #[serde(default)]
    routing: RoutingFile,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ComboFile {
    name: String,
    /// `provider/model`, or `provider/model@account` to pin an account.
    targets: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RoutingFile {
    strategy: Strategy,
    sticky_limit: u32,
    backoff_base_ms: u64,
    backoff_max_ms: u64,
    disable_after: u32,
    probe_after_ms: u64,
    session_header: String,
    session_ttl_secs: u64,
    /// Daily counters reset at midnight in this UTC offset, e.g. "+02:00".
    daily_reset_offset: String,
}

impl Default for RoutingFile {
    fn default() -> Self {
        Self {
            strategy: Strategy::Priority,
            sticky_limit: 3,
            backoff_base_ms: 1_000,
            backoff_max_ms: 300_000,
            disable_after: 3,
            probe_after_ms: 60_000,
            session_header: "x-session-id".into(),
            session_ttl_secs: 3_600,
            daily_reset_offset: "+00:00".into(),
        }
    }
}

/// How a provider orders its accounts for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Lowest `priority` first (fill-first).
    Priority,
    /// Rotate, staying on one account for `sticky_limit` requests.
    RoundRobin,
    /// Fewest recent failures first.
    LeastErrors,
    /// Random, in proportion to `weight`.
    Weighted,
    /// Highest health score first.
    Health,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct ServerFile {
    listen: String,
    body_limit: usize,
    user_agent: String,
    admin_key: Option<String>,
    admin_key_env: Option<String>,
    metrics_key: Option<String>,
    metrics_key_env: Option<String>,
    overhead_header: bool,
    threads: usize,
    account_reload_ms: u64,
    busy_poll_us: u64,
    max_connections: usize,
}

impl Default for ServerFile {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:4100".into(),
            body_limit: 10 * 1024 * 1024,
            user_agent: concat!("switchyard/", env!("CARGO_PKG_VERSION")).into(),
            admin_key: None,
            admin_key_env: None,
            metrics_key: None,
            metrics_key_env: None,
            overhead_header: false,
            threads: 1,
            account_reload_ms: 5_000,
            busy_poll_us: 250,
            // Well under the usual descriptor limits (the server also needs descriptors for
            // upstream connections, the database and logs), and far above what a team's
            // coding clients keep open.
            max_connections: 4096,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientKeyFile {
    id: String,
    key: Option<String>,
    key_env: Option<String>,
    requests_per_minute: Option<u32>,
    tokens_per_day: Option<u64>,
    tokens_per_month: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct StorageFile {
    database: PathBuf,
}

impl Default for StorageFile {
    fn default() -> Self {
        Self {
            database: "data/switchyard.db".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct DebugLogsFile {
    enabled: bool,
    dir: PathBuf,
}

impl Default for DebugLogsFile {
    fn default() -> Self {
        Self {
            enabled: false,
            dir: "logs".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct TimeoutsFile {
    connect_ms: u64,
    first_byte_ms: u64,
    idle_ms: u64,
    total_ms: u64,
    client_header_ms: u64,
    client_body_ms: u64,
}

impl Default for TimeoutsFile {
    fn default() -> Self {
        Self {
            connect_ms: 10_000,
            first_byte_ms: 120_000,
            idle_ms: 120_000,
            total_ms: 1_800_000,
            client_header_ms: 30_000,
            client_body_ms: 30_000,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderFile {
    name: String,
    #[serde(default = "default_kind")]
    kind: String,
    /// Spanned so that an unusable URL can be reported with its line.
    base_url: toml::Spanned<String>,
    #[serde(default)]
    models: Vec<String>,
    #[serde(default)]
    accounts: Vec<AccountFile>,
    user_agent: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// Settings only one kind of provider reads (an auth endpoint, a region, a version...).
    #[serde(default)]
    options: BTreeMap<String, String>,
    /// Overrides `routing.strategy` for this provider.
    strategy: Option<Strategy>,
    /// The provider limits each model separately, so a 429 cools only that model.
    #[serde(default)]
    per_model_limits: bool,
}

fn default_kind() -> String {
    "openai".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountFile {
    name: String,
    api_key_env: Option<String>,
    api_key: Option<String>,
    #[serde(default)]
    priority: u32,
    #[serde(default = "default_weight")]
    weight: u32,
    max_concurrency: Option<u32>,
    daily_requests: Option<u64>,
    daily_tokens: Option<u64>,
}

fn default_weight() -> u32 {
    1
}

/// The validated runtime configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub body_limit: usize,
    pub client_keys: Vec<ClientKey>,
    pub database: PathBuf,
    pub debug_logs: bool,
    pub logs_dir: PathBuf,
    pub timeouts: Timeouts,
    pub providers: Vec<ProviderConfig>,
    /// Alias name -> `provider/model`.
    pub aliases: BTreeMap<String, String>,
    pub combos: BTreeMap<String, Vec<ComboTarget>>,
    pub routing: Routing,
    pub admin_key: Option<Secret>,
    /// Opens `GET /metrics` (as does the admin key).
    pub metrics_key: Option<Secret>,
    /// Send `x-switchyard-overhead-us` on answers.
    pub overhead_header: bool,
    /// Runtime worker threads (default one: see `serve`).
    pub threads: usize,
    /// How often logins added or removed while the server runs are taken in.
    pub account_reload: Duration,
    /// How long the runtime polls its sockets after traffic before sleeping (zero: never).
    pub busy_poll: Duration,
    /// Client connections open at once; more are refused with a 503.
    pub max_connections: usize,
    /// Problems that do not stop start-up (an account whose key variable is unset).
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct ClientKey {
    pub id: String,
    pub key: Secret,
    pub requests_per_minute: Option<u32>,
    pub tokens_per_day: Option<u64>,
    /// A monthly token budget (calendar month, in the routing offset).
    pub tokens_per_month: Option<u64>,
}

/// One step of a combo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComboTarget {
    pub provider: String,
    pub model: String,
    pub account: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Routing {
    pub sticky_limit: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub disable_after: u32,
    pub probe_after: Duration,
    pub session_header: String,
    pub session_ttl: Duration,
    /// Seconds east of UTC where the day for daily limits begins.
    pub day_offset_secs: i32,
}

#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    pub first_byte: Duration,
    pub idle: Duration,
    pub total: Duration,
    /// How long a client may take to send a request's headers, from when its connection
    /// opens (or its previous answer went out).
    pub client_header: Duration,
    /// How long a client's request body may go without a byte arriving.
    pub client_body: Duration,
}

#[derive(Debug, Clone)]
pub struct ProviderConfig {
    pub name: String,
    pub kind: String,
    pub base_url: String,
    pub models: Vec<String>,
    pub accounts: Vec<AccountConfig>,
    pub user_agent: String,
    pub headers: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
    pub strategy: Strategy,
    pub per_model_limits: bool,
}

#[derive(Debug, Clone)]
pub struct AccountConfig {
    pub name: String,
    pub key: Secret,
    pub priority: u32,
    pub weight: u32,
    pub max_concurrency: Option<u32>,
    pub daily_requests: Option<u64>,
    pub daily_tokens: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the default config to {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: {source}")]
    Invalid { path: PathBuf, source: Invalid },
}

/// One thing wrong in the config (or a stored alias or combo): the message names the key
/// and says what it must be.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

/// Values from the command line and environment that override the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<String>,
}

/// Loads `path`, writing the commented default file there first if it does not exist.
pub fn load(path: &Path, overrides: &Overrides) -> Result<Config, ConfigError> {
    if !path.exists() {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| ConfigError::Write {
                path: path.into(),
                source,
            })?;
        }
        std::fs::write(path, DEFAULT_FILE).map_err(|source| ConfigError::Write {
            path: path.into(),
            source,
        })?;
    }
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.into(),
        source,
    })?;
    parse(&text, path, overrides, &|name| std::env::var(name).ok())
}

/// Parses and validates config text; `env` looks up environment variables.
pub fn parse(
    text: &str,
    path: &Path,
    overrides: &Overrides,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let mut file: File = toml::from_str(text).map_err(|e| ConfigError::Parse {
        path: path.into(),
        message: e.to_string().trim_end().to_owned(),
    })?;
    let invalid = |source: Invalid| ConfigError::Invalid {
        path: path.into(),
        source,
    };
    apply_env(&mut file, env).map_err(invalid)?;
    if let Some(listen) = &overrides.listen {
        file.server.listen = listen.clone();
    }
    validate(file, env, text).map_err(invalid)
}

/// `SWITCHYARD_*` variables override single file values.
fn apply_env(file: &mut File, env: &dyn Fn(&str) -> Option<String>) -> Result<(), Invalid> {
    let var = |name: &str| env(&format!("{ENV_PREFIX}{name}"));
    fn num<T: std::str::FromStr>(name: &str, v: String) -> Result<T, Invalid> {
        v.trim()
            .parse()
            .map_err(|_| Invalid(format!("{ENV_PREFIX}{name}={v:?} is not a valid number")))
    }
    if let Some(v) = var("LISTEN") {
        file.server.listen = v;
    }
    if let Some(v) = var("ACCOUNT_RELOAD_MS") {
        file.server.account_reload_ms = num("ACCOUNT_RELOAD_MS", v)?;
    }
    if let Some(v) = var("BUSY_POLL_US") {
        file.server.busy_poll_us = num("BUSY_POLL_US", v)?;
    }
    if let Some(v) = var("THREADS") {
        file.server.threads = num("THREADS", v)?;
    }
    if let Some(v) = var("BODY_LIMIT") {
        file.server.body_limit = num("BODY_LIMIT", v)?;
    }
    if let Some(v) = var("MAX_CONNECTIONS") {
        file.server.max_connections = num("MAX_CONNECTIONS", v)?;
    }
    if let Some(v) = var("DATABASE") {
        file.storage.database = v.into();
    }
    if let Some(v) = var("DEBUG_LOGS") {
        file.debug_logs.enabled = match v.trim() {
            "1" | "true" | "yes" | "on" => true,
            "0" | "false" | "no" | "off" | "" => false,
            _ => {
                return Err(Invalid(format!(
                    "{ENV_PREFIX}DEBUG_LOGS={v:?} is not a boolean (use 1 or 0)"
                )));
            }
        };
    }
    if let Some(v) = var("LOGS_DIR") {
        file.debug_logs.dir = v.into();
    }
    let t = &mut file.timeouts;
    for (name, slot) in [
        ("CONNECT_TIMEOUT_MS", &mut t.connect_ms),
        ("FIRST_BYTE_TIMEOUT_MS", &mut t.first_byte_ms),
        ("IDLE_TIMEOUT_MS", &mut t.idle_ms),
        ("TOTAL_TIMEOUT_MS", &mut t.total_ms),
        ("CLIENT_HEADER_TIMEOUT_MS", &mut t.client_header_ms),
        ("CLIENT_BODY_TIMEOUT_MS", &mut t.client_body_ms),
    ] {
        if let Some(v) = var(name) {
            *slot = num(name, v)?;
        }
    }
    Ok(())
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(0, |before| before.matches('\n').count())
        + 1
}

/// A provider's `base_url` must be usable as the start of every request URL: an absolute
/// `http://` or `https://` URL with a host and, if it names one, a port from 1 to 65535.
/// Anything less would start without complaint and fail every request with a 502.
fn check_base_url(url: &str) -> Result<(), Invalid> {
    let Some(rest) = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
    else {
        return Err(Invalid("must start with http:// or https://".into()));
    };
    if rest.split(['/', '?', '#']).next().is_none_or(str::is_empty) {
        return Err(Invalid("has no host".into()));
    }
    let uri: http::Uri = url
        .parse()
        .map_err(|e| Invalid(format!("is not a valid URL ({e})")))?;
    let authority = uri
        .authority()
        .map(http::uri::Authority::as_str)
        .unwrap_or("");
    // Any user info comes before the host and port.
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let (host, port) = match host_port.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((host, rest)) => (host, rest.strip_prefix(':')),
            None => return Err(Invalid("has an unclosed [ in its host".into())),
        },
        None => match host_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        },
    };
    if host.is_empty() {
        return Err(Invalid("has no host".into()));
    }
    if let Some(port) = port.filter(|p| !p.is_empty()) {
        match port.parse::<u16>() {
            Ok(n) if n > 0 => {}
            _ => {
                return Err(Invalid(format!(
                    "has port {port}, not a number from 1 to 65535"
                )));
            }
        }
    }
    Ok(())
}

fn validate(
    file: File,
    env: &dyn Fn(&str) -> Option<String>,
    text: &str,
) -> Result<Config, Invalid> {
    let mut warnings = Vec::new();
    let listen: SocketAddr = file.server.listen.parse().map_err(|_| {
        Invalid(format!(
            "server.listen = {:?} is not an address like 127.0.0.1:4100",
            file.server.listen
        ))
    })?;
    if file.server.threads == 0 {
        return Err(Invalid("server.threads must be at least 1".into()));
    }
    if file.server.body_limit == 0 {
        return Err(Invalid("server.body_limit must be greater than 0".into()));
    }
    if file.server.max_connections == 0 {
        return Err(Invalid("server.max_connections must be at least 1".into()));
    }

    let mut client_keys = Vec::new();
    for k in file.client_keys {
        let key = match (k.key, k.key_env) {
            (Some(key), None) => key,
            (None, Some(var)) => env(&var).ok_or_else(|| {
                Invalid(format!(
                    "client key `{}`: environment variable {var} is not set",
                    k.id
                ))
            })?,
            _ => {
                return Err(Invalid(format!(
                    "client key `{}`: set exactly one of `key` or `key_env`",
                    k.id
                )));
            }
        };
        if key.is_empty() {
            return Err(Invalid(format!("client key `{}` is empty", k.id)));
        }
        if client_keys.iter().any(|c: &ClientKey| c.id == k.id) {
            return Err(Invalid(format!("client key id `{}` is used twice", k.id)));
        }
        client_keys.push(ClientKey {
            id: k.id,
            key: Secret::new(key),
            requests_per_minute: k.requests_per_minute,
            tokens_per_day: k.tokens_per_day,
            tokens_per_month: k.tokens_per_month,
        });
    }

    let mut providers: Vec<ProviderConfig> = Vec::new();
    for p in file.providers {
        check_name("provider", &p.name)?;
        if providers.iter().any(|q| q.name == p.name) {
            return Err(Invalid(format!("provider `{}` is declared twice", p.name)));
        }
        let base_url_line = line_of(text, p.base_url.span().start);
        let base_url = p.base_url.into_inner();
        check_base_url(&base_url).map_err(|e| {
            Invalid(format!(
                "line {base_url_line}: provider `{}`: base_url {base_url:?} {e}",
                p.name
            ))
        })?;
        for m in &p.models {
            check_model(m).map_err(|e| Invalid(format!("provider `{}`: {e}", p.name)))?;
        }
        let mut accounts = Vec::new();
        for a in p.accounts {
            let key = match (a.api_key, a.api_key_env) {
                (Some(_), Some(_)) => {
                    return Err(Invalid(format!(
                        "provider `{}` account `{}`: set only one of `api_key` or `api_key_env`",
                        p.name, a.name
                    )));
                }
                (Some(key), None) => key,
                (None, Some(var)) => match env(&var) {
                    Some(key) if !key.is_empty() => key,
                    _ => {
                        warnings.push(format!(
                            "provider `{}` account `{}`: environment variable {var} is not set; the account is skipped",
                            p.name, a.name
                        ));
                        continue;
                    }
                },
                // A local server that wants no key.
                (None, None) => String::new(),
            };
            if a.weight == 0 {
                return Err(Invalid(format!(
                    "provider `{}` account `{}`: weight must be at least 1",
                    p.name, a.name
                )));
            }
            if accounts.iter().any(|b: &AccountConfig| b.name == a.name) {
                return Err(Invalid(format!(
                    "provider `{}` declares account `{}` twice",
                    p.name, a.name
                )));
            }
            accounts.push(AccountConfig {
                name: a.name,
                key: Secret::new(key),
                priority: a.priority,
                weight: a.weight,
                max_concurrency: a.max_concurrency,
                daily_requests: a.daily_requests,
                daily_tokens: a.daily_tokens,
            });
        }
        if accounts.is_empty() {
            warnings.push(format!("provider `{}` has no usable account", p.name));
        }
        providers.push(ProviderConfig {
            name: p.name,
            kind: p.kind,
            base_url,
            models: p.models,
            accounts,
            user_agent: p
                .user_agent
                .unwrap_or_else(|| file.server.user_agent.clone()),
            headers: p.headers,
            options: p.options,
            strategy: p.strategy.unwrap_or(file.routing.strategy),
            per_model_limits: p.per_model_limits,
        });
    }

    for (alias, target) in &file.aliases {
        check_alias(alias, target, &providers)?;
    }
    let mut combos = BTreeMap::new();
    for c in file.combos {
        if file.aliases.contains_key(&c.name) || combos.contains_key(&c.name) {
            return Err(Invalid(format!(
                "combo `{}` is declared twice or clashes with an alias",
                c.name
            )));
        }
        let targets = combo_targets(&c.name, &c.targets, &providers)?;
        combos.insert(c.name, targets);
    }

    let r = file.routing;
    if r.backoff_base_ms == 0 || r.backoff_max_ms < r.backoff_base_ms {
        return Err(Invalid(
            "routing.backoff_base_ms must be > 0 and at most routing.backoff_max_ms".into(),
        ));
    }
    let routing = Routing {
        sticky_limit: r.sticky_limit.max(1),
        backoff_base: Duration::from_millis(r.backoff_base_ms),
        backoff_max: Duration::from_millis(r.backoff_max_ms),
        disable_after: r.disable_after,
        probe_after: Duration::from_millis(r.probe_after_ms),
        session_header: r.session_header.to_ascii_lowercase(),
        session_ttl: Duration::from_secs(r.session_ttl_secs),
        day_offset_secs: parse_offset(&r.daily_reset_offset).ok_or_else(|| {
            Invalid(format!(
                "routing.daily_reset_offset {:?} must look like +02:00 or -05:30",
                r.daily_reset_offset
            ))
        })?,
    };
    let admin_key = server_secret(
        "admin_key",
        file.server.admin_key,
        file.server.admin_key_env,
        env,
    )?;
    let metrics_key = server_secret(
        "metrics_key",
        file.server.metrics_key,
        file.server.metrics_key_env,
        env,
    )?;

    let t = file.timeouts;
    for (name, v) in [
        ("connect_ms", t.connect_ms),
        ("first_byte_ms", t.first_byte_ms),
        ("idle_ms", t.idle_ms),
        ("total_ms", t.total_ms),
        ("client_header_ms", t.client_header_ms),
        ("client_body_ms", t.client_body_ms),
    ] {
        if v == 0 {
            return Err(Invalid(format!("timeouts.{name} must be greater than 0")));
        }
    }

    Ok(Config {
        listen,
        body_limit: file.server.body_limit,
        client_keys,
        database: file.storage.database,
        debug_logs: file.debug_logs.enabled,
        logs_dir: file.debug_logs.dir,
        timeouts: Timeouts {
            connect: Duration::from_millis(t.connect_ms),
            first_byte: Duration::from_millis(t.first_byte_ms),
            idle: Duration::from_millis(t.idle_ms),
            total: Duration::from_millis(t.total_ms),
            client_header: Duration::from_millis(t.client_header_ms),
            client_body: Duration::from_millis(t.client_body_ms),
        },
        providers,
        aliases: file.aliases,
        combos,
        routing,
        admin_key,
        metrics_key,
        overhead_header: file.server.overhead_header,
        threads: file.server.threads,
        account_reload: Duration::from_millis(file.server.account_reload_ms.max(100)),
        // Beyond a few milliseconds polling only burns CPU: no peer answers that slowly
        // and still benefits from a faster wake-up.
        busy_poll: Duration::from_micros(file.server.busy_poll_us.min(10_000)),
        max_connections: file.server.max_connections,
        warnings,
    })
}

/// A key of `[server]` given as `<name> = "..."` or `<name>_env = "VAR"`.
fn server_secret(
    name: &str,
    value: Option<String>,
    var: Option<String>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Secret>, Invalid> {
    let key = match (value, var) {
        (Some(k), None) => k,
        (None, Some(var)) => env(&var).ok_or_else(|| {
            Invalid(format!(
                "server.{name}_env: environment variable {var} is not set"
            ))
        })?,
        (None, None) => return Ok(None),
        (Some(_), Some(_)) => {
            return Err(Invalid(format!(
                "set only one of server.{name} or server.{name}_env"
            )));
        }
    };
    if key.is_empty() {
        return Err(Invalid(format!("server.{name} is empty")));
    }
    Ok(Some(Secret::new(key)))
}

fn check_alias(alias: &str, target: &str, providers: &[ProviderConfig]) -> Result<(), Invalid> {
    check_model(alias).map_err(|e| Invalid(format!("alias: {e}")))?;
    let Some((provider, model)) = target.split_once('/') else {
        return Err(Invalid(format!(
            "alias `{alias}` = {target:?} must be `provider/model`"
        )));
    };
    check_model(model).map_err(|e| Invalid(format!("alias `{alias}`: {e}")))?;
    if !providers.iter().any(|p| p.name == provider) {
        return Err(Invalid(format!(
            "alias `{alias}` points to unknown provider `{provider}`"
        )));
    }
    Ok(())
}

/// A combo's steps, `provider/model` or `provider/model@account`, checked against the
/// providers.
fn combo_targets(
    name: &str,
    steps: &[String],
    providers: &[ProviderConfig],
) -> Result<Vec<ComboTarget>, Invalid> {
    if name.contains('/') {
        return Err(Invalid(format!("combo name {name:?} must not contain '/'")));
    }
    check_model(name).map_err(|e| Invalid(format!("combo: {e}")))?;
    if steps.is_empty() {
        return Err(Invalid(format!("combo `{name}` has no targets")));
    }
    let mut targets = Vec::new();
    for t in steps {
        let (spec, account) = match t.rsplit_once('@') {
            Some((spec, account)) => (spec, Some(account.to_owned())),
            None => (t.as_str(), None),
        };
        let Some((provider, model)) = spec.split_once('/') else {
            return Err(Invalid(format!(
                "combo `{name}` target {t:?} must be `provider/model`"
            )));
        };
        check_model(model).map_err(|e| Invalid(format!("combo `{name}`: {e}")))?;
        let Some(p) = providers.iter().find(|p| p.name == provider) else {
            return Err(Invalid(format!(
                "combo `{name}` target {t:?} names unknown provider `{provider}`"
            )));
        };
        // Logged-in accounts live in the database, so only configured ones can be checked.
        if let Some(a) = &account
            && !p.accounts.is_empty()
            && !p.accounts.iter().any(|x| &x.name == a)
        {
            return Err(Invalid(format!(
                "combo `{name}` target {t:?} pins unknown account `{a}`"
            )));
        }
        targets.push(ComboTarget {
            provider: provider.to_owned(),
            model: model.to_owned(),
            account,
        });
    }
    Ok(targets)
}

impl Config {
    /// Adds the aliases and combos kept in the database (`switchyard alias`, `switchyard
    /// combo`). The config file wins a name both define; an entry that no longer fits the
    /// config (its provider is gone) is skipped with a warning.
    pub fn add_stored(
        &mut self,
        aliases: Vec<(String, String)>,
        combos: Vec<(String, Vec<String>)>,
    ) -> Vec<String> {
        let mut warnings = Vec::new();
        for (alias, target) in aliases {
            if self.aliases.contains_key(&alias) || self.combos.contains_key(&alias) {
                warnings.push(format!(
                    "stored alias `{alias}` is shadowed by the config file"
                ));
                continue;
            }
            match check_alias(&alias, &target, &self.providers) {
                Ok(()) => {
                    self.aliases.insert(alias, target);
                }
                Err(e) => warnings.push(format!("stored {e}; skipped")),
            }
        }
        for (name, steps) in combos {
            if self.aliases.contains_key(&name) || self.combos.contains_key(&name) {
                warnings.push(format!(
                    "stored combo `{name}` is shadowed by the config file"
                ));
                continue;
            }
            match combo_targets(&name, &steps, &self.providers) {
                Ok(targets) => {
                    self.combos.insert(name, targets);
                }
                Err(e) => warnings.push(format!("stored {e}; skipped")),
            }
        }
        warnings
    }

    /// Checks an alias or a combo before it is stored.
    pub fn check_stored(&self, name: &str, steps: &[String]) -> Result<(), Invalid> {
        match steps {
            [one] if !one.contains('@') => check_alias(name, one, &self.providers),
            _ => combo_targets(name, steps, &self.providers).map(|_| ()),
        }
    }
}

/// "+02:00" -> 7200.
fn parse_offset(s: &str) -> Option<i32> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, s.get(1..)?),
        b'-' => (-1, s.get(1..)?),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 14 && m < 60).then_some(sign * (h * 3600 + m * 60))
}

fn check_name(what: &str, name: &str) -> Result<(), Invalid> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Invalid(format!(
            "{what} name {name:?} must be 1-64 characters of letters, digits, '-', '_' or '.'"
        )))
    }
}

/// A model string: printable, no path tricks, bounded.
pub fn check_model(model: &str) -> Result<(), Invalid> {
    if model.is_empty() || model.len() > 256 {
        return Err(Invalid(format!(
            "model name {model:?} must be 1-256 characters"
        )));
    }
    // Empty segments too: an absolute path (`/etc/x`) or `a//b` is never a model id.
    if model
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
        || model
            .split('/')
            .any(|seg| seg.is_empty() || seg == ".." || seg == ".")
    {
        return Err(Invalid(format!(
            "model name {model:?} contains characters that are not allowed"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_with(text: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse(
            text,
            Path::new("config.toml"),
            &Overrides::default(),
            &move |n| vars.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()),
        )
    }

    #[test]
    fn default_file_parses_to_defaults() {
        let c = parse_with(DEFAULT_FILE, &[]).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:4100");
        assert!(!c.debug_logs);
        assert!(c.client_keys.is_empty());
        assert_eq!(c.database, PathBuf::from("data/switchyard.db"));
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let err =
            parse_with("[server]\nlisten = \"127.0.0.1:1\"\nlisten_port = 3\n", &[]).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("line 3"), "{msg}");
        assert!(msg.contains("listen_port"), "{msg}");
    }

    #[test]
    fn mistyped_value_names_line() {
        let err = parse_with("[server]\nbody_limit = \"big\"\n", &[]).unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }

    #[test]
    fn env_overrides_and_account_keys_from_env() {
        let text = r#"
[[providers]]
name = "groq"
base_url = "https://api.groq.com/openai/v1"
models = ["llama"]
[[providers.accounts]]
name = "a"
api_key_env = "GROQ_KEY"
[[providers.accounts]]
name = "b"
api_key_env = "MISSING"
[aliases]
fast = "groq/llama"
"#;
        let c = parse_with(
            text,
            &[
                ("GROQ_KEY", "gsk-1"),
                ("SWITCHYARD_LISTEN", "0.0.0.0:9"),
                ("SWITCHYARD_DEBUG_LOGS", "1"),
            ],
        )
        .unwrap();
        assert_eq!(c.listen.to_string(), "0.0.0.0:9");
        assert!(c.debug_logs);
        assert_eq!(c.providers[0].accounts.len(), 1);
        assert_eq!(c.providers[0].accounts[0].key.expose(), "gsk-1");
        assert!(c.warnings.iter().any(|w| w.contains("MISSING")));
    }

    #[test]
    fn unusable_base_urls_are_refused_with_key_and_line() {
        for (url, why) in [
            ("http://", "has no host"),
            ("http://exa mple.com/v1", "is not a valid URL"),
            ("http://example.com:99999/v1", "has port 99999"),
            ("http://example.com:0/v1", "has port 0"),
            ("https://[::1/v1", "not a valid URL"),
            ("ftp://example.com", "must start with http:// or https://"),
            ("example.com/v1", "must start with http:// or https://"),
        ] {
            let text = format!(
                "[server]\nlisten = \"127.0.0.1:1\"\n\n[[providers]]\nname = \"p\"\nbase_url = \"{url}\"\n"
            );
            let err = parse_with(&text, &[]).unwrap_err().to_string();
            assert!(err.contains("line 6"), "{url}: {err}");
            assert!(err.contains("base_url"), "{url}: {err}");
            assert!(err.contains("provider `p`"), "{url}: {err}");
            assert!(err.contains(why), "{url}: {err}");
        }
        for url in [
            "http://127.0.0.1:8080",
            "https://api.groq.com/openai/v1",
            "http://[::1]:11434/v1/",
            "http://localhost:65535",
            "http://host:/v1",
        ] {
            let text = format!("[[providers]]\nname = \"p\"\nbase_url = \"{url}\"\n");
            let c = parse_with(&text, &[]).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(c.providers[0].base_url, url);
        }
    }

    #[test]
    fn client_limits_default_and_come_from_file_or_env() {
        let c = parse_with("", &[]).unwrap();
        assert_eq!(c.max_connections, 4096);
        assert_eq!(c.timeouts.client_header, Duration::from_secs(30));
        assert_eq!(c.timeouts.client_body, Duration::from_secs(30));
        let c = parse_with(
            "[server]\nmax_connections = 10\n[timeouts]\nclient_body_ms = 500\n",
            &[("SWITCHYARD_CLIENT_HEADER_TIMEOUT_MS", "300")],
        )
        .unwrap();
        assert_eq!(c.max_connections, 10);
        assert_eq!(c.timeouts.client_header, Duration::from_millis(300));
        assert_eq!(c.timeouts.client_body, Duration::from_millis(500));
        assert!(parse_with("", &[("SWITCHYARD_MAX_CONNECTIONS", "0")]).is_err());
        assert!(parse_with("[timeouts]\nclient_body_ms = 0\n", &[]).is_err());
    }

    #[test]
    fn rejects_bad_values() {
        assert!(parse_with("[aliases]\nx = \"nope/m\"\n", &[]).is_err());
        assert!(
            parse_with(
                "[[providers]]\nname = \"a/b\"\nbase_url = \"http://x\"\n",
                &[]
            )
            .is_err()
        );
        assert!(parse_with("[[providers]]\nname = \"a\"\nbase_url = \"ftp://x\"\n", &[]).is_err());
        assert!(parse_with("[server]\nlisten = \"nowhere\"\n", &[]).is_err());
        assert!(parse_with("", &[("SWITCHYARD_BODY_LIMIT", "lots")]).is_err());
    }

    #[test]
    fn combos_routing_and_limits_parse_and_are_checked() {
        let base = r#"
[routing]
strategy = "round-robin"
daily_reset_offset = "+02:00"
[[providers]]
name = "a"
base_url = "http://x"
[[providers.accounts]]
name = "one"
api_key = "k"
priority = 2
daily_requests = 10
[[combos]]
name = "coding"
targets = ["a/m1", "a/m2@one"]
"#;
        let c = parse_with(base, &[]).unwrap();
        assert_eq!(c.routing.day_offset_secs, 7200);
        assert_eq!(c.providers[0].strategy, Strategy::RoundRobin);
        assert_eq!(
            c.combos["coding"][1],
            ComboTarget {
                provider: "a".into(),
                model: "m2".into(),
                account: Some("one".into())
            }
        );
        assert_eq!(c.providers[0].accounts[0].daily_requests, Some(10));
        assert!(parse_with(&base.replace("coding", "cod/ing"), &[]).is_err());
        assert!(parse_with(&base.replace("a/m2@one", "a/m2@two"), &[]).is_err());
        assert!(parse_with(&base.replace("a/m1", "b/m1"), &[]).is_err());
        assert!(parse_with(&base.replace("\"+02:00\"", "\"2h\""), &[]).is_err());
        assert!(parse_with(&base.replace("round-robin", "random"), &[]).is_err());
    }

    #[test]
    fn model_names_are_checked() {
        assert!(check_model("openai/gpt-4.1").is_ok());
        assert!(check_model("../etc/passwd").is_err());
        assert!(check_model("a\nb").is_err());
        assert!(check_model("").is_err());
        assert!(check_model("/etc/passwd").is_err());
        assert!(check_model("a//b").is_err());
        assert!(check_model("a/").is_err());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;
        use proptest::strategy::Strategy;

        /// Keys and section headers of the real format, so generated text gets past the
        /// TOML syntax and into the typed and validating stages.
        const SECTIONS: &[&str] = &[
            "[server]",
            "[[client_keys]]",
            "[storage]",
            "[debug_logs]",
            "[timeouts]",
            "[[providers]]",
            "[[providers.accounts]]",
            "[providers.options]",
            "[providers.headers]",
            "[aliases]",
            "[[combos]]",
            "[routing]",
            "[nope]",
        ];
        const KEYS: &[&str] = &[
            "listen",
            "body_limit",
            "user_agent",
            "admin_key",
            "admin_key_env",
            "metrics_key",
            "metrics_key_env",
            "overhead_header",
            "busy_poll_us",
            "id",
            "key",
            "key_env",
            "requests_per_minute",
            "tokens_per_day",
            "database",
            "enabled",
            "dir",
            "connect_ms",
            "first_byte_ms",
            "idle_ms",
            "total_ms",
            "name",
            "kind",
            "base_url",
            "models",
            "api_key",
            "api_key_env",
            "priority",
            "weight",
            "max_concurrency",
            "daily_requests",
            "daily_tokens",
            "strategy",
            "per_model_limits",
            "targets",
            "sticky_limit",
            "backoff_base_ms",
            "backoff_max_ms",
            "disable_after",
            "probe_after_ms",
            "session_header",
            "session_ttl_secs",
            "daily_reset_offset",
            "fast",
            "\"quoted key\"",
        ];

        fn toml_string() -> impl Strategy<Value = String> {
            prop_oneof![
                "[a-z0-9/:.@*+-]{0,24}",
                ".{0,24}",
                Just("127.0.0.1:4100".to_owned()),
                Just("http://127.0.0.1:1/v1".to_owned()),
                Just("+02:00".to_owned()),
                Just("round-robin".to_owned()),
                Just("a/m".to_owned()),
            ]
            .prop_map(|s| format!("{:?}", s))
        }

        fn toml_value() -> impl Strategy<Value = String> {
            let leaf = prop_oneof![
                toml_string(),
                any::<i64>().prop_map(|n| n.to_string()),
                any::<u64>().prop_map(|n| n.to_string()),
                any::<bool>().prop_map(|b| b.to_string()),
                any::<f64>().prop_map(|f| format!("{f:?}")),
                Just("1979-05-27T07:32:00Z".to_owned()),
            ];
            leaf.prop_recursive(2, 8, 4, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4)
                        .prop_map(|v| format!("[{}]", v.join(", "))),
                    prop::collection::vec((prop::sample::select(KEYS), inner), 0..3).prop_map(
                        |kv| {
                            let body: Vec<String> =
                                kv.into_iter().map(|(k, v)| format!("{k} = {v}")).collect();
                            format!("{{ {} }}", body.join(", "))
                        }
                    ),
                ]
            })
        }

        fn toml_line() -> impl Strategy<Value = String> {
            prop_oneof![
                3 => (prop::sample::select(KEYS), toml_value()).prop_map(|(k, v)| format!("{k} = {v}")),
                1 => prop::sample::select(SECTIONS).prop_map(str::to_owned),
                1 => ".{0,30}",
                1 => Just(String::new()),
            ]
        }

        fn parse_text(text: &str) -> Result<Config, ConfigError> {
            parse(
                text,
                Path::new("config.toml"),
                &Overrides::default(),
                &|name| (name == "SET").then(|| "value".to_owned()),
            )
        }

        fn name() -> impl Strategy<Value = String> {
            "[a-z][a-z0-9_.-]{0,11}"
        }

        fn model() -> impl Strategy<Value = String> {
            "[a-z0-9][a-z0-9.:_-]{0,15}(/[a-z0-9][a-z0-9._-]{0,8})?"
        }

        /// A provider: name, kind, models, accounts (name, key).
        type GenProvider = (String, String, Vec<String>, Vec<(String, String)>);

        fn provider() -> impl Strategy<Value = GenProvider> {
            (
                name(),
                prop::sample::select(&["openai", "claude", "gemini", "kiro"][..]),
                prop::collection::vec(model(), 0..4),
                prop::collection::vec((name(), "[ -~]{1,40}"), 0..3),
            )
                .prop_map(|(n, k, m, a)| (n, k.to_owned(), m, a))
        }

        fn quote(s: &str) -> String {
            // TOML basic strings take JSON's escapes for everything printable ASCII.
            serde_json::Value::String(s.to_owned()).to_string()
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(1000))]

            #[test]
            fn arbitrary_text_never_panics(text in ".{0,600}") {
                let _ = parse_text(&text);
            }

            #[test]
            fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
                // The file is read as UTF-8 first: invalid files are a read error, not a parse.
                if let Ok(text) = std::str::from_utf8(&bytes) {
                    let _ = parse_text(text);
                }
                let _ = parse_text(&String::from_utf8_lossy(&bytes));
            }

            #[test]
            fn toml_shaped_text_never_panics(lines in prop::collection::vec(toml_line(), 0..30)) {
                let text = lines.join("\n");
                if let Err(e) = parse_text(&text) {
                    // Every refusal says where or what.
                    prop_assert!(e.to_string().starts_with("config.toml: "), "{e}");
                }
            }

            #[test]
            fn valid_generated_configs_parse(
                providers in prop::collection::vec(provider(), 0..4),
                listen_port in any::<u16>(),
                strategy in prop::sample::select(&["priority", "round-robin", "least-errors", "weighted", "health"][..]),
                offset in (any::<bool>(), 0i32..=14, 0i32..60),
                client_keys in prop::collection::vec("[ -~]{1,30}", 0..3),
                admin in proptest::option::of("[ -~]{1,30}"),
            ) {
                // Names must be unique; the generator may repeat them.
                let mut seen = std::collections::BTreeSet::new();
                let providers: Vec<GenProvider> = providers
                    .into_iter()
                    .filter(|p| seen.insert(p.0.clone()))
                    .map(|(n, k, m, a)| {
                        let mut names = std::collections::BTreeSet::new();
                        let a = a.into_iter().filter(|(an, _)| names.insert(an.clone())).collect();
                        (n, k, m, a)
                    })
                    .collect();
                let mut text = format!(
                    "[server]\nlisten = \"127.0.0.1:{listen_port}\"\n",
                );
                if let Some(a) = &admin {
                    text.push_str(&format!("admin_key = {}\n", quote(a)));
                }
                let sign = if offset.0 { '+' } else { '-' };
                text.push_str(&format!(
                    "[routing]\nstrategy = \"{strategy}\"\ndaily_reset_offset = \"{sign}{:02}:{:02}\"\n",
                    offset.1, offset.2
                ));
                for (i, k) in client_keys.iter().enumerate() {
                    text.push_str(&format!("[[client_keys]]\nid = \"c{i}\"\nkey = {}\n", quote(k)));
                }
                let mut aliases = Vec::new();
                let mut combo_targets = Vec::new();
                for (i, (n, kind, models, accounts)) in providers.iter().enumerate() {
                    let list: Vec<String> = models.iter().map(|m| quote(m)).collect();
                    text.push_str(&format!(
                        "[[providers]]\nname = {}\nkind = \"{kind}\"\nbase_url = \"http://127.0.0.1:{}/v1\"\nmodels = [{}]\n",
                        quote(n), 1000 + i, list.join(", ")
                    ));
                    for (an, key) in accounts {
                        text.push_str(&format!("[[providers.accounts]]\nname = {}\napi_key = {}\n", quote(an), quote(key)));
                    }
                    if let Some(m) = models.first() {
                        aliases.push((format!("alias{i}"), format!("{n}/{m}")));
                        combo_targets.push(match accounts.first() {
                            Some((an, _)) => format!("{n}/{m}@{an}"),
                            None => format!("{n}/{m}"),
                        });
                    }
                }
                if !aliases.is_empty() {
                    text.push_str("[aliases]\n");
                    for (a, t) in &aliases {
                        text.push_str(&format!("{a} = {}\n", quote(t)));
                    }
                }
                if !combo_targets.is_empty() {
                    let list: Vec<String> = combo_targets.iter().map(|t| quote(t)).collect();
                    text.push_str(&format!("[[combos]]\nname = \"chain\"\ntargets = [{}]\n", list.join(", ")));
                }
                let c = match parse_text(&text) {
                    Ok(c) => c,
                    Err(e) => return Err(TestCaseError::fail(format!("{e}\n{text}"))),
                };
                prop_assert_eq!(c.listen.port(), listen_port);
                prop_assert!(c.listen.ip().is_loopback());
                prop_assert_eq!(c.providers.len(), providers.len());
                for (got, (n, kind, models, accounts)) in c.providers.iter().zip(&providers) {
                    prop_assert_eq!(&got.name, n);
                    prop_assert_eq!(&got.kind, kind);
                    prop_assert_eq!(&got.models, models);
                    prop_assert_eq!(got.accounts.len(), accounts.len());
                    for (a, (an, key)) in got.accounts.iter().zip(accounts) {
                        prop_assert_eq!(&a.name, an);
                        prop_assert_eq!(a.key.expose(), key.as_str());
                    }
                }
                prop_assert_eq!(c.aliases.len(), aliases.len());
                prop_assert_eq!(c.combos.get("chain").map_or(0, Vec::len), combo_targets.len());
                prop_assert_eq!(c.client_keys.len(), client_keys.len());
                prop_assert_eq!(c.admin_key.as_ref().map(|k| k.expose().to_owned()), admin);
                // Secrets never show in the config's Debug form.
                let debug = format!("{c:?}");
                for (_, _, _, accounts) in &providers {
                    for (_, key) in accounts.iter().filter(|(_, k)| k.len() >= 8) {
                        prop_assert!(!debug.contains(key.as_str()), "account key in Debug");
                    }
                }
            }

            #[test]
            fn check_model_never_panics(model in ".{0,300}") {
                let _ = check_model(&model);
            }

            #[test]
            fn control_characters_whitespace_and_backslashes_are_refused(
                before in "[a-z0-9/.-]{0,12}",
                bad in prop_oneof![
                    (0u32..0x20).prop_map(|c| char::from_u32(c).unwrap_or('\0')),
                    (0x7fu32..0xa0).prop_map(|c| char::from_u32(c).unwrap_or('\0')),
                    prop::sample::select(&['\\', ' ', '\u{a0}', '\u{2028}', '\u{2029}', '\u{3000}', '\u{85}', '\u{200a}'][..]),
                ],
                after in "[a-z0-9/.-]{0,12}",
            ) {
                let model = format!("{before}{bad}{after}");
                prop_assert!(check_model(&model).is_err(), "{model:?} accepted");
            }

            #[test]
            fn dot_segments_and_empty_segments_are_refused(
                segments in prop::collection::vec("[a-z0-9._-]{1,6}", 0..5),
                trick in prop::sample::select(&["..", ".", ""][..]),
                at in any::<prop::sample::Index>(),
            ) {
                let mut segments = segments;
                let i = at.index(segments.len() + 1);
                segments.insert(i, trick.to_owned());
                let model = segments.join("/");
                prop_assert!(check_model(&model).is_err(), "{model:?} accepted");
            }

            #[test]
            fn accepted_models_are_bounded_and_printable(model in ".{0,300}") {
                if check_model(&model).is_ok() {
                    prop_assert!(!model.is_empty() && model.len() <= 256);
                    prop_assert!(!model.chars().any(|c| c.is_control() || c.is_whitespace() || c == '\\'));
                    prop_assert!(model.split('/').all(|s| !matches!(s, "" | "." | "..")));
                }
            }
        }
    }
}
