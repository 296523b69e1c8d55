//! The config file as written: strict serde structs (unknown keys are errors that name the
//! key and line) with each key's default. Nothing here is checked; `validate` turns it into
//! the runtime [`Config`](super::Config).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct File {
    #[serde(default)]
    pub(super) server: ServerFile,
    #[serde(default)]
    pub(super) client_keys: Vec<ClientKeyFile>,
    #[serde(default)]
    pub(super) storage: StorageFile,
    #[serde(default)]
    pub(super) debug_logs: DebugLogsFile,
    #[serde(default)]
    pub(super) timeouts: TimeoutsFile,
    #[serde(default)]
    pub(super) providers: Vec<ProviderFile>,
    #[serde(default)]
    pub(super) aliases: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) combos: Vec<ComboFile>,
    #[serde(default)]
    pub(super) routing: RoutingFile,
    /// Catalogue entries that replace or add to `data/models.toml`.
    #[serde(default)]
    pub(super) models: Vec<crate::catalogue::ModelEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ComboFile {
    pub(super) name: String,
    /// `provider/model`, or `provider/model@account` to pin an account.
    pub(super) targets: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RoutingFile {
    pub(super) strategy: Strategy,
    pub(super) sticky_limit: u32,
    pub(super) backoff_base_ms: u64,
    pub(super) backoff_max_ms: u64,
    pub(super) disable_after: u32,
    pub(super) probe_after_ms: u64,
    pub(super) session_header: String,
    pub(super) session_ttl_secs: u64,
    /// Daily counters reset at midnight in this UTC offset, e.g. "+02:00".
    pub(super) daily_reset_offset: String,
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
pub(super) struct ServerFile {
    pub(super) listen: String,
    pub(super) body_limit: usize,
    pub(super) user_agent: String,
    pub(super) admin_key: Option<String>,
    pub(super) admin_key_env: Option<String>,
    pub(super) metrics_key: Option<String>,
    pub(super) metrics_key_env: Option<String>,
    pub(super) overhead_header: bool,
    pub(super) cost_header: bool,
    pub(super) threads: usize,
    pub(super) account_reload_ms: u64,
    pub(super) busy_poll_us: u64,
    pub(super) max_connections: usize,
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
            cost_header: false,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
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
pub(super) struct ClientKeyFile {
    pub(super) id: String,
    pub(super) key: Option<String>,
    pub(super) key_env: Option<String>,
    pub(super) requests_per_minute: Option<u32>,
    pub(super) tokens_per_day: Option<u64>,
    pub(super) tokens_per_month: Option<u64>,
    pub(super) usd_per_day: Option<f64>,
    pub(super) usd_per_month: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct StorageFile {
    pub(super) database: PathBuf,
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
pub(super) struct DebugLogsFile {
    pub(super) enabled: bool,
    pub(super) dir: PathBuf,
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
pub(super) struct TimeoutsFile {
    pub(super) connect_ms: u64,
    pub(super) first_byte_ms: u64,
    pub(super) idle_ms: u64,
    pub(super) total_ms: u64,
    pub(super) client_header_ms: u64,
    pub(super) client_body_ms: u64,
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
pub(super) struct ProviderFile {
    pub(super) name: String,
    #[serde(default = "default_kind")]
    pub(super) kind: String,
    /// Spanned so that an unusable URL can be reported with its line.
    pub(super) base_url: toml::Spanned<String>,
    #[serde(default)]
    pub(super) models: Vec<String>,
    #[serde(default)]
    pub(super) accounts: Vec<AccountFile>,
    pub(super) user_agent: Option<String>,
    #[serde(default)]
    pub(super) headers: BTreeMap<String, String>,
    /// Settings only one kind of provider reads (an auth endpoint, a region, a version...).
    #[serde(default)]
    pub(super) options: BTreeMap<String, String>,
    /// Overrides `routing.strategy` for this provider.
    pub(super) strategy: Option<Strategy>,
    /// The provider limits each model separately, so a 429 cools only that model.
    #[serde(default)]
    pub(super) per_model_limits: bool,
    pub(super) usd_per_day: Option<f64>,
    pub(super) usd_per_month: Option<f64>,
}

pub(super) fn default_kind() -> String {
    "openai".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AccountFile {
    pub(super) name: String,
    pub(super) api_key_env: Option<String>,
    pub(super) api_key: Option<String>,
    #[serde(default)]
    pub(super) priority: u32,
    #[serde(default = "default_weight")]
    pub(super) weight: u32,
    pub(super) max_concurrency: Option<u32>,
    pub(super) daily_requests: Option<u64>,
    pub(super) daily_tokens: Option<u64>,
    pub(super) usd_per_day: Option<f64>,
    pub(super) usd_per_month: Option<f64>,
}

pub(super) fn default_weight() -> u32 {
    1
}
