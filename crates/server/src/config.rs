//! Configuration in two stages: a strict file format (`file`, with `env` overrides), then
//! one validation (`validate`) into the immutable runtime [`Config`] defined here.

mod env;
mod file;
pub mod overrides;
pub mod reference;
mod validate;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use switchyard_auth::Secret;

use env::apply_env;
use file::File;
pub use file::{Strategy, TargetStrategy};
pub use validate::check_model;
pub use validate::stored_provider;
use validate::validate;
use validate::{check_alias, combo_targets};

/// The file written on first start: every key, commented, at its default.
pub const DEFAULT_FILE: &str = include_str!("../../../data/config.example.toml");

pub const ENV_PREFIX: &str = "SWITCHYARD_";

/// The validated runtime configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub body_limit: usize,
    pub client_keys: Vec<ClientKey>,
    pub database: PathBuf,
    /// Cluster mode's Redis (see `crate::cluster`); none: this instance runs alone.
    pub redis_url: Option<String>,
    pub debug_logs: bool,
    pub logs_dir: PathBuf,
    pub timeouts: Timeouts,
    pub providers: Vec<ProviderConfig>,
    /// Alias name -> `provider/model`.
    pub aliases: BTreeMap<String, String>,
    pub combos: BTreeMap<String, Vec<ComboTarget>>,
    /// Combos whose targets are not tried as written (`strategy = "cheapest"`...).
    pub combo_strategies: BTreeMap<String, TargetStrategy>,
    pub routing: Routing,
    pub admin_key: Option<Secret>,
    /// Opens `GET /metrics` (as does the admin key).
    pub metrics_key: Option<Secret>,
    /// Send `x-switchyard-overhead-us` on answers.
    pub overhead_header: bool,
    /// Send `x-switchyard-cost-usd` on non-streaming answers and a final `: cost-usd` comment
    /// on streams.
    pub cost_header: bool,
    /// The model catalogue with the file's `[[models]]` applied.
    pub catalogue: std::sync::Arc<crate::catalogue::Catalogue>,
    /// Serving threads, each with its own runtime and listener (default: one per core).
    pub threads: usize,
    /// How often logins added or removed while the server runs are taken in.
    pub account_reload: Duration,
    /// How long the runtime polls its sockets after traffic before sleeping (zero: never).
    pub busy_poll: Duration,
    /// Client connections open at once; more are refused with a 503.
    pub max_connections: usize,
    /// What a provider that sets no `user_agent` or `strategy` gets (`server.user_agent`,
    /// `routing.strategy`), kept for providers defined through the management API.
    pub provider_defaults: (String, Strategy),
    /// Problems that do not stop start-up (an account whose key variable is unset).
    pub warnings: Vec<String>,
    /// The file this was read from: what the management API names as the source of the
    /// accounts, aliases and combos declared there.
    pub file: PathBuf,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClientKey {
    pub id: String,
    pub key: Secret,
    pub requests_per_minute: Option<u32>,
    pub tokens_per_day: Option<u64>,
    /// A monthly token budget (calendar month, in the routing offset).
    pub tokens_per_month: Option<u64>,
    /// Dollar budgets (see `routing::budgets`).
    pub budget: crate::routing::budgets::Budget,
}

impl ClientKey {
    /// The limits it is admitted under (as stored keys' are).
    pub fn limits(&self) -> crate::routing::limits::Limits {
        crate::routing::limits::Limits {
            requests_per_minute: self.requests_per_minute,
            tokens_per_day: self.tokens_per_day,
            tokens_per_month: self.tokens_per_month,
        }
    }
}

/// One step of a combo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComboTarget {
    pub provider: String,
    pub model: String,
    pub account: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// The order a wildcard's targets are tried in.
    pub wildcard_strategy: TargetStrategy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// How long a stream waits for its upstream's first byte before the client is sent
    /// its headers and a keep-alive comment, and then again between comments; `None`
    /// (`keepalive_ms = 0`) sends none.
    pub keepalive: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq)]
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
    pub budget: crate::routing::budgets::Budget,
    /// Accounts left out because their `api_key_env` variable is unset: named in the 503 a
    /// client gets and in `switchyard accounts`, so the fix is visible where it is needed.
    pub unset_keys: Vec<UnsetKey>,
}

/// A configured account whose key variable is not set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsetKey {
    pub account: String,
    pub var: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AccountConfig {
    pub name: String,
    pub key: Secret,
    pub priority: u32,
    pub weight: u32,
    pub max_concurrency: Option<u32>,
    pub daily_requests: Option<u64>,
    pub daily_tokens: Option<u64>,
    pub budget: crate::routing::budgets::Budget,
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
    let mut config = validate(file, env, text).map_err(invalid)?;
    config.file = path.to_owned();
    Ok(config)
}

/// The names a request's model string may be looked up under: the config file's aliases and
/// combos plus those kept in the database. A running server swaps it whole when the stored
/// ones change, so a request keeps the table it started with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Routes {
    /// Alias name -> `provider/model`.
    pub aliases: BTreeMap<String, String>,
    pub combos: BTreeMap<String, Vec<ComboTarget>>,
    /// Combos tried in an order other than as written (stored combos are tried as written).
    pub combo_strategies: BTreeMap<String, TargetStrategy>,
    pub wildcard_strategy: TargetStrategy,
}

impl Config {
    /// The config file's aliases and combos plus those kept in the database (`switchyard
    /// alias`, `switchyard combo`). The config file wins a name both define; an entry that no
    /// longer fits the config (its provider is gone) is skipped with a warning.
    pub fn routes_with(
        &self,
        aliases: Vec<(String, String)>,
        combos: Vec<(String, Vec<String>)>,
    ) -> (Routes, Vec<String>) {
        let mut routes = Routes {
            aliases: self.aliases.clone(),
            combos: self.combos.clone(),
            combo_strategies: self.combo_strategies.clone(),
            wildcard_strategy: self.routing.wildcard_strategy,
        };
        let mut warnings = Vec::new();
        let in_file =
            |name: &str| self.aliases.contains_key(name) || self.combos.contains_key(name);
        for (alias, target) in aliases {
            if in_file(&alias) {
                warnings.push(format!(
                    "stored alias `{alias}` is shadowed by the config file"
                ));
                continue;
            }
            match check_alias(&alias, &target, &self.providers) {
                Ok(()) => {
                    routes.aliases.insert(alias, target);
                }
                Err(e) => warnings.push(format!("stored {e}; skipped")),
            }
        }
        for (name, steps) in combos {
            if in_file(&name) {
                warnings.push(format!(
                    "stored combo `{name}` is shadowed by the config file"
                ));
                continue;
            }
            match combo_targets(&name, &steps, &self.providers) {
                Ok(targets) => {
                    routes.combos.insert(name, targets);
                }
                Err(e) => warnings.push(format!("stored {e}; skipped")),
            }
        }
        (routes, warnings)
    }

    /// The settings read once when the process starts (listener, threads, database, limits
    /// on connections and bodies, the upstream connect timeout, debug logs), by the name of
    /// their key, that differ between `self` and `next`: changing them needs a restart.
    pub fn restart_needed(&self, next: &Config) -> Vec<&'static str> {
        let mut changed = Vec::new();
        let mut check = |differs: bool, key: &'static str| {
            if differs {
                changed.push(key);
            }
        };
        check(self.listen != next.listen, "server.listen");
        check(self.threads != next.threads, "server.threads");
        check(self.database != next.database, "storage.database");
        check(
            self.max_connections != next.max_connections,
            "server.max_connections",
        );
        check(self.body_limit != next.body_limit, "server.body_limit");
        check(self.busy_poll != next.busy_poll, "server.busy_poll_us");
        check(
            self.account_reload != next.account_reload,
            "server.account_reload_ms",
        );
        check(self.logs_dir != next.logs_dir, "debug_logs.dir");
        check(self.debug_logs != next.debug_logs, "debug_logs.enabled");
        check(
            self.timeouts.connect != next.timeouts.connect,
            "timeouts.connect",
        );
        check(
            self.timeouts.client_header != next.timeouts.client_header,
            "timeouts.client_header",
        );
        check(self.redis_url != next.redis_url, "cluster.redis_url");
        changed
    }

    /// `self` with the process-level settings (see [`Config::restart_needed`]) of `running`,
    /// so a snapshot built while the server runs describes the process as it is.
    pub fn with_process_of(mut self, running: &Config) -> Config {
        self.listen = running.listen;
        self.threads = running.threads;
        self.database.clone_from(&running.database);
        self.max_connections = running.max_connections;
        self.body_limit = running.body_limit;
        self.busy_poll = running.busy_poll;
        self.account_reload = running.account_reload;
        self.logs_dir.clone_from(&running.logs_dir);
        self.debug_logs = running.debug_logs;
        self.timeouts.connect = running.timeouts.connect;
        self.timeouts.client_header = running.timeouts.client_header;
        self.redis_url.clone_from(&running.redis_url);
        self
    }

    /// Checks an alias or a combo before it is stored.
    pub fn check_stored(&self, name: &str, steps: &[String]) -> Result<(), Invalid> {
        match steps {
            [one] if !one.contains('@') => check_alias(name, one, &self.providers),
            _ => self.check_combo(name, steps),
        }
    }

    /// Checks a combo before it is stored, even one of a single target (which
    /// [`Config::check_stored`] would check as an alias, whose names may hold '/').
    pub fn check_combo(&self, name: &str, steps: &[String]) -> Result<(), Invalid> {
        combo_targets(name, steps, &self.providers).map(|_| ())
    }
}

#[cfg(test)]
mod tests;
