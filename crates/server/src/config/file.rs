//! The config file as written: strict serde structs (unknown keys are errors that name the
//! key and line) with each key's default. Nothing here is checked; `validate` turns it into
//! the runtime [`Config`](super::Config).

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct File {
    /// The listener, keys for the admin API and metrics, and serving threads.
    #[serde(default)]
    pub(super) server: ServerFile,
    /// Keys clients send (`Authorization: Bearer`, `x-api-key` or `x-goog-api-key`). With none,
    /// only clients on this machine (loopback) are served.
    #[serde(default)]
    pub(super) client_keys: Vec<ClientKeyFile>,
    /// Where the SQLite database (usage, stored accounts, state) lives.
    #[serde(default)]
    pub(super) storage: StorageFile,
    /// Numbered per-request folders with every stage of a request and its answer.
    #[serde(default)]
    pub(super) debug_logs: DebugLogsFile,
    /// Upstream and client timeouts, in milliseconds.
    #[serde(default)]
    pub(super) timeouts: TimeoutsFile,
    /// The upstreams: one entry per provider, each with its accounts.
    #[serde(default)]
    pub(super) providers: Vec<ProviderFile>,
    /// Model names clients may send, each standing for one `provider/model`.
    #[serde(default)]
    pub(super) aliases: BTreeMap<String, String>,
    /// Ordered fallback chains clients name as their model.
    #[serde(default)]
    pub(super) combos: Vec<ComboFile>,
    /// How accounts are picked and what failures cost them.
    #[serde(default)]
    pub(super) routing: RoutingFile,
    /// Catalogue entries that replace or add to `data/models.toml`.
    #[serde(default)]
    pub(super) models: Vec<crate::catalogue::ModelEntry>,
    /// Several instances sharing cooldowns, limits, tokens and management changes through
    /// Redis. Without `redis_url` the instance runs alone.
    #[serde(default)]
    pub(super) cluster: ClusterFile,
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub(super) struct ClusterFile {
    /// The Redis server the instances share (`redis://host:6379/0`). Tokens shared through it
    /// are sealed with the key in `SWITCHYARD_CLUSTER_KEY`.
    pub(super) redis_url: Option<String>,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ComboFile {
    /// The name clients send as their model.
    pub(super) name: String,
    /// `provider/model`, or `provider/model@account` to pin an account.
    pub(super) targets: Vec<String>,
    /// The order its targets are tried in: `order` (as written), `cheapest`, `fastest` or
    /// `round-robin`.
    #[serde(default)]
    pub(super) strategy: TargetStrategy,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RoutingFile {
    /// How a provider orders its accounts (a provider's `strategy` overrides it).
    pub(super) strategy: Strategy,
    /// The order the targets of a wildcard (`*/claude-*`) are tried in: `order` (providers
    /// in config order), `cheapest`, `fastest` or `round-robin` (each request starts at the
    /// next matching provider; the turns are counted per model string the client sends).
    pub(super) wildcard_strategy: TargetStrategy,
    /// `round-robin`: requests an account serves in a row before the next takes over.
    pub(super) sticky_limit: u32,
    /// Cooldown after a 429 (or 401/403) with no reset hint; it doubles with each failure.
    pub(super) backoff_base_ms: u64,
    /// The longest such cooldown.
    pub(super) backoff_max_ms: u64,
    /// Consecutive failures after which an account is set aside.
    pub(super) disable_after: u32,
    /// How long a set-aside account waits before one request probes it again.
    pub(super) probe_after_ms: u64,
    /// Requests carrying the same value in this header stay on one account.
    pub(super) session_header: String,
    /// How long a session keeps its account after its last request.
    pub(super) session_ttl_secs: u64,
    /// Daily counters reset at midnight in this UTC offset, e.g. "+02:00".
    pub(super) daily_reset_offset: String,
}

impl Default for RoutingFile {
    fn default() -> Self {
        Self {
            strategy: Strategy::Priority,
            wildcard_strategy: TargetStrategy::Order,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
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

/// The order in which a combo's (or a wildcard's) targets are tried.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TargetStrategy {
    /// As written (a wildcard: providers in config order).
    #[default]
    Order,
    /// Among the healthy targets that fit the request (context window, tools, images),
    /// the lowest expected cost first (catalogue prices × estimated tokens).
    Cheapest,
    /// Among the healthy targets that fit the request, the shortest measured time to the
    /// first byte first; targets not yet measured come first, in order.
    Fastest,
    /// Each request starts at the next target in turn, the others following in written
    /// order as its fallbacks (targets whose accounts are all down go last).
    RoundRobin,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub(super) struct ServerFile {
    /// Address and port to listen on (port 0 picks a free one); also `--listen`.
    pub(super) listen: String,
    /// Largest request body in bytes; a larger one gets 413.
    pub(super) body_limit: usize,
    /// `User-Agent` sent upstream unless a provider sets its own.
    pub(super) user_agent: String,
    /// The admin key itself (prefer `admin_key_env`); opens `/api/accounts` and `/metrics`.
    pub(super) admin_key: Option<String>,
    /// The environment variable holding the admin key.
    pub(super) admin_key_env: Option<String>,
    /// A Bearer key for `GET /metrics` only (prefer `metrics_key_env`). With no key of
    /// any kind, only loopback clients read the metrics.
    pub(super) metrics_key: Option<String>,
    /// The environment variable holding the metrics key.
    pub(super) metrics_key_env: Option<String>,
    /// Send `x-switchyard-overhead-us` (time spent in the proxy) on answers.
    pub(super) overhead_header: bool,
    /// Send `x-switchyard-cost-usd` on non-streaming answers and a final `: cost-usd`
    /// comment on streams.
    pub(super) cost_header: bool,
    /// Serving threads, each with its own runtime and listener.
    #[schemars(extend("x-default-text" = "one per core"))]
    pub(super) threads: usize,
    /// How often logins, aliases, combos and `accounts reset` requests made while the
    /// server runs are taken in.
    pub(super) account_reload_ms: u64,
    /// After traffic, poll sockets this long before sleeping (0: never poll).
    pub(super) busy_poll_us: u64,
    /// Client connections open at once; a further one gets a 503 and is closed.
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

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ClientKeyFile {
    /// The key's name, recorded in the usage table.
    pub(super) id: String,
    /// The key itself (prefer `key_env`).
    pub(super) key: Option<String>,
    /// The environment variable holding the key.
    pub(super) key_env: Option<String>,
    /// Requests a minute; beyond it a 429 with `Retry-After`.
    pub(super) requests_per_minute: Option<u32>,
    /// Tokens a day (from `routing.daily_reset_offset` midnight); beyond it a 429.
    pub(super) tokens_per_day: Option<u64>,
    /// Tokens a calendar month (in the routing offset); beyond it a 429.
    pub(super) tokens_per_month: Option<u64>,
    pub(super) usd_per_day: Option<f64>,
    pub(super) usd_per_month: Option<f64>,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub(super) struct StorageFile {
    /// The SQLite database file.
    pub(super) database: PathBuf,
}

impl Default for StorageFile {
    fn default() -> Self {
        Self {
            database: "data/switchyard.db".into(),
        }
    }
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub(super) struct DebugLogsFile {
    /// Write the numbered per-request folders (credentials masked).
    pub(super) enabled: bool,
    /// Where they go.
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

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub(super) struct TimeoutsFile {
    /// Connecting to an upstream.
    pub(super) connect_ms: u64,
    /// From sending a request upstream to its answer's first byte.
    pub(super) first_byte_ms: u64,
    /// Between two chunks of an upstream stream.
    pub(super) idle_ms: u64,
    /// A whole upstream request, stream included.
    pub(super) total_ms: u64,
    /// A client's request headers must arrive within this, from when its connection
    /// opens or its previous answer went out.
    pub(super) client_header_ms: u64,
    /// A client's request body may pause this long (then 408).
    pub(super) client_body_ms: u64,
    pub(super) keepalive_ms: u64,
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
            // Well inside the 60 s idle limit of common load balancers and clients.
            keepalive_ms: 15_000,
        }
    }
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ProviderFile {
    /// The provider's name in model strings (`name/model`).
    pub(super) name: String,
    /// The wire format and login: `openai`, `openai-responses`, `claude`, `gemini`, `kiro`,
    /// `cursor`, `codex`, `gemini-cli` or `copilot`.
    #[serde(default = "default_kind")]
    pub(super) kind: String,
    /// The provider's API root, e.g. `https://api.openai.com/v1`.
    // Spanned so that an unusable URL can be reported with its line.
    #[schemars(with = "String")]
    pub(super) base_url: toml::Spanned<String>,
    /// Models listed by `GET /v1/models` and matched by bare names and wildcards (any model
    /// the provider serves works as `provider/model`).
    #[serde(default)]
    pub(super) models: Vec<String>,
    /// Accounts with API keys (logins live in the database: `switchyard login`, `import`).
    #[serde(default)]
    pub(super) accounts: Vec<AccountFile>,
    /// `User-Agent` for this provider (default: `server.user_agent`).
    pub(super) user_agent: Option<String>,
    /// Extra headers sent with every request to this provider.
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

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct AccountFile {
    /// The account's name (unique within its provider; `@name` pins it in a combo).
    pub(super) name: String,
    /// The environment variable holding the key; an unset one skips the account (named in
    /// the 503 a client gets and in `switchyard accounts`).
    pub(super) api_key_env: Option<String>,
    /// The key itself (prefer `api_key_env`); none for a local server that wants no key.
    pub(super) api_key: Option<String>,
    /// `priority` strategy: lower is tried first.
    #[serde(default)]
    pub(super) priority: u32,
    /// `weighted` strategy: share of requests (at least 1).
    #[serde(default = "default_weight")]
    pub(super) weight: u32,
    /// Requests in flight at once on this account.
    pub(super) max_concurrency: Option<u32>,
    /// Requests a day (from `routing.daily_reset_offset` midnight).
    pub(super) daily_requests: Option<u64>,
    /// Tokens a day.
    pub(super) daily_tokens: Option<u64>,
    pub(super) usd_per_day: Option<f64>,
    pub(super) usd_per_month: Option<f64>,
}

pub(super) fn default_weight() -> u32 {
    1
}
