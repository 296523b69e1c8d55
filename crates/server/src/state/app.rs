//! The shared state every request reads: what lives as long as the process (the upstream
//! client, the usage writer, metrics, client limits, sessions) and the [`Snapshot`] of what
//! may change while it runs, swapped whole so a request keeps the one it started with.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Instant;

use arc_swap::ArcSwap;
use switchyard_auth::store::{AccountStatus, Store, StoredAccount};
use switchyard_auth::{Credential, Secret};
use switchyard_hub::Registry;
use switchyard_provider::executor::ExecutorKind;
use switchyard_provider::{ClientOptions, Executor, UpstreamClient};

use crate::config::{AccountConfig, Config, ProviderConfig, Strategy};
use crate::routing::health::Health;
use crate::routing::limits::ClientLimits;
use crate::routing::{epoch_ms, from_epoch_ms};
use crate::state::client_keys::KeyTable;
use crate::state::credentials::{Credentials, Live};
use crate::state::debug_log::DebugLogger;
use crate::state::metrics::Metrics;
pub use crate::state::snapshot::Snapshot;
use crate::state::snapshot::{self, Reconfigure, ReloadStatus};
use crate::state::usage_store::{AccountState, AccountStateRow, ResetScope, UsageSink};

pub struct App {
    pub registry: Registry,
    pub client: UpstreamClient,
    pub usage: UsageSink,
    pub debug: Option<DebugLogger>,
    pub limits: ClientLimits,
    /// Dollars spent per client key, account and provider, against their budgets.
    pub budgets: crate::routing::budgets::Budgets,
    /// The client keys in force: the config file's and the stored ones.
    pub client_keys: KeyTable,
    pub metrics: Metrics,
    /// Each target's time to first byte, for the `fastest` target strategy.
    pub latencies: crate::routing::latency::Latencies,
    /// Where each `round-robin` combo's next request starts.
    pub rotations: crate::routing::rotation::Rotations,
    /// Responses answered in the Responses format, for `previous_response_id` (in memory).
    pub responses: crate::state::responses::ResponseStore,
    /// (session id, provider) -> (account, last use), so a conversation stays on one account.
    sessions: Mutex<HashMap<(String, String), (usize, Instant)>>,
    pub credentials: Credentials,
    /// Room for `server.max_connections` open client connections, shared by every serving
    /// thread so the cap holds for the process, not per thread.
    pub open_connections: Arc<tokio::sync::Semaphore>,
    /// Signed-in dashboard sessions.
    pub ui_sessions: crate::dashboard::session::Sessions,
    /// The overview's folded past days, which never change once over.
    pub overview_days: crate::dashboard::overview::DayCache,
    /// When this configuration was put in force (start-up, for now).
    pub started: std::time::SystemTime,
    /// What may change while the server runs: a request loads it once at intake.
    live: ArcSwap<Snapshot>,
    /// The executor kinds linked in, to build providers added while the server runs.
    pub(crate) kinds: HashMap<&'static str, &'static ExecutorKind>,
    /// The sources the snapshot in force was built from; held while a new one is built, so
    /// changes from the file, the database and the API are applied one at a time.
    pub(crate) reconfigure: tokio::sync::Mutex<Reconfigure>,
    /// How the last reload of the config file (or the database) went.
    reload_status: Mutex<Option<ReloadStatus>>,
}

pub struct Provider {
    pub name: String,
    /// The executor kind (`claude`, `openai`, ...), which the model catalogue is keyed by.
    pub kind: String,
    /// What it was built from: a rebuild keeps a provider whose settings did not change.
    pub config: ProviderConfig,
    pub models: Vec<String>,
    pub executor: Arc<dyn Executor>,
    /// Swapped whole when logins are added or removed while the server runs.
    pub(crate) accounts: RwLock<Arc<Vec<Arc<Account>>>>,
    pub strategy: Strategy,
    pub per_model_limits: bool,
    /// Configured accounts left out because their key variable is unset.
    pub unset_keys: Vec<crate::config::UnsetKey>,
    pub(crate) rotation: Mutex<Rotation>,
}

/// Round-robin position: the account in use and how many requests it has had in a row.
#[derive(Default)]
pub struct Rotation {
    pub current: usize,
    pub uses: u32,
}

pub struct Account {
    /// Position within its provider.
    pub index: usize,
    pub provider: String,
    pub name: String,
    pub credential: Live,
    pub priority: u32,
    pub weight: u32,
    pub max_concurrency: Option<u32>,
    pub daily_requests: Option<u64>,
    pub daily_tokens: Option<u64>,
    health: Mutex<Health>,
    pub in_flight: AtomicU32,
    /// Waiting in the usage writer's queue to be saved.
    state_queued: AtomicBool,
    /// [`status_key`] of the state last queued: a change is saved at once, not within a second.
    queued_status: AtomicU64,
}

impl Provider {
    /// The accounts as they are now.
    pub fn accounts(&self) -> Arc<Vec<Arc<Account>>> {
        self.accounts
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Takes in the logins the store holds now: new ones join (with fresh state), removed or
    /// disabled ones leave, one that needed a login and has a new one is replaced. Accounts
    /// that did not change keep their state.
    pub fn sync_stored(&self, stored: &[StoredAccount]) -> bool {
        let current = self.accounts();
        let mine: Vec<&StoredAccount> = stored
            .iter()
            .filter(|a| a.provider == self.name && a.status != AccountStatus::Disabled)
            .collect();
        let mut next_index = current.iter().map(|a| a.index + 1).max().unwrap_or(0);
        let mut changed = false;
        let mut accounts: Vec<Arc<Account>> = Vec::with_capacity(current.len());
        for a in current.iter() {
            let Some(id) = a.credential.id else {
                accounts.push(a.clone());
                continue;
            };
            match mine.iter().find(|row| row.id == id) {
                Some(row)
                    if a.credential.needs_login()
                        && row.status == AccountStatus::Active
                        && a.credential.relogged_by(row.updated) =>
                {
                    accounts.push(Arc::new(Account::stored(a.index, row)));
                    changed = true;
                }
                Some(_) => accounts.push(a.clone()),
                None => changed = true,
            }
        }
        for row in mine {
            let known = accounts
                .iter()
                .any(|a| a.credential.id == Some(row.id) || a.name == row.name);
            if !known {
                accounts.push(Arc::new(Account::stored(next_index, row)));
                next_index += 1;
                changed = true;
            }
        }
        if changed {
            *self.accounts.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(accounts);
        }
        changed
    }

    pub fn lock_rotation(&self) -> MutexGuard<'_, Rotation> {
        self.rotation.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Account {
    pub(crate) fn configured(index: usize, provider: &str, a: &AccountConfig) -> Self {
        let credential = Live::new(Credential::ApiKey(a.key.clone()), None, false);
        Account {
            index,
            provider: provider.to_owned(),
            name: a.name.clone(),
            credential,
            priority: a.priority,
            weight: a.weight,
            max_concurrency: a.max_concurrency,
            daily_requests: a.daily_requests,
            daily_tokens: a.daily_tokens,
            health: Mutex::new(Health::default()),
            in_flight: AtomicU32::new(0),
            state_queued: AtomicBool::new(false),
            queued_status: AtomicU64::new(0),
        }
    }

    /// A logged-in account from the store.
    pub(crate) fn stored(index: usize, a: &StoredAccount) -> Self {
        let needs_login = a.status == AccountStatus::NeedsLogin;
        Account {
            index,
            provider: a.provider.clone(),
            name: a.name.clone(),
            credential: Live::new(a.credential.clone(), Some(a.id), needs_login),
            priority: 0,
            weight: 1,
            max_concurrency: None,
            daily_requests: None,
            daily_tokens: None,
            health: Mutex::new(Health::default()),
            in_flight: AtomicU32::new(0),
            state_queued: AtomicBool::new(false),
            queued_status: AtomicU64::new(0),
        }
    }

    pub fn lock_health(&self) -> MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes one of the account's concurrency slots, if it has one free.
    pub fn acquire(self: &Arc<Self>) -> Option<InFlight> {
        let max = self.max_concurrency.unwrap_or(u32::MAX);
        self.in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| InFlight(self.clone(), None))
    }

    /// The row that keeps this account's state across restarts.
    pub fn state_row(&self) -> AccountStateRow {
        let h = self.lock_health();
        AccountStateRow {
            provider: self.provider.clone(),
            account: self.name.clone(),
            cooldown_until_ms: h.cooldown_until.map(epoch_ms),
            model_cooldowns: h
                .model_cooldowns
                .iter()
                .map(|(m, t)| (m.clone(), epoch_ms(*t)))
                .collect(),
            cooldown_reasons: h
                .cooldown_reasons
                .iter()
                .map(|(m, r)| (m.clone(), r.clone()))
                .collect(),
            backoff_level: h.backoff_level,
            consecutive_failures: h.consecutive_failures,
            disabled_until_ms: h.disabled_until.map(epoch_ms),
            last_error: h
                .last_error
                .as_ref()
                .map(|(t, m)| (epoch_ms(*t), m.clone())),
            day: h.day,
            day_requests: h.day_requests,
            day_tokens: h.day_tokens,
        }
    }

    pub(crate) fn restore(&self, row: &AccountStateRow) {
        let mut h = self.lock_health();
        h.cooldown_until = row.cooldown_until_ms.map(from_epoch_ms);
        h.model_cooldowns = row
            .model_cooldowns
            .iter()
            .map(|(m, t)| (m.clone(), from_epoch_ms(*t)))
            .collect();
        h.cooldown_reasons = row.cooldown_reasons.iter().cloned().collect();
        h.backoff_level = row.backoff_level;
        h.consecutive_failures = row.consecutive_failures;
        h.disabled_until = row.disabled_until_ms.map(from_epoch_ms);
        h.last_error = row.last_error.clone().map(|(t, m)| (from_epoch_ms(t), m));
        h.day = row.day;
        h.day_requests = row.day_requests;
        h.day_tokens = row.day_tokens;
        self.queued_status.store(status_key(&h), Ordering::Relaxed);
    }
}

impl AccountState for Account {
    fn take_state(&self) -> AccountStateRow {
        self.state_queued.store(false, Ordering::Release);
        self.state_row()
    }
}

/// What routing decides by: cooldowns and failure status, not the day's counters. A hash is
/// enough to tell that it changed.
fn status_key(h: &Health) -> u64 {
    use std::hash::BuildHasher;
    // Fixed-seeded foldhash: compared only with this process's earlier keys, and SipHash
    // (`DefaultHasher`) cost ~500 instructions a request here.
    let state = foldhash::fast::FixedState::default();
    let mut hasher = state.build_hasher();
    (
        h.cooldown_until,
        h.disabled_until,
        h.backoff_level,
        h.consecutive_failures,
    )
        .hash(&mut hasher);
    // The map's order is arbitrary: combine its entries' hashes in an order-free way.
    let models = h
        .model_cooldowns
        .iter()
        .fold(0u64, |acc, entry| acc.wrapping_add(state.hash_one(entry)));
    models.hash(&mut hasher);
    hasher.finish()
}

/// One request in flight on an account; dropping it frees the slot (and, in cluster mode,
/// the account's cluster-wide slot with it).
pub struct InFlight(Arc<Account>, Option<crate::cluster::Slot>);

impl InFlight {
    /// Holds the account's cluster-wide slot as long as this one.
    pub fn share(&mut self, slot: Option<crate::cluster::Slot>) {
        self.1 = slot;
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Registry(#[from] switchyard_hub::registry::RegistryError),
    #[error("{0}")]
    Executors(#[from] switchyard_provider::executor::DuplicateKind),
    #[error("provider `{provider}`: unknown kind `{kind}` (known: {known})")]
    UnknownKind {
        provider: String,
        kind: String,
        known: String,
    },
    #[error("{0}")]
    Client(#[from] switchyard_provider::client::ClientBuildError),
    #[error("cannot open the account store: {0}")]
    Store(#[from] switchyard_auth::AuthError),
}

/// Builds the app from its `sources` (the config file and what the database holds), with
/// the accounts' `saved` state restored.
pub fn build(
    usage: UsageSink,
    debug: Option<DebugLogger>,
    saved: &[AccountStateRow],
    sources: Reconfigure,
) -> Result<App, StartError> {
    let registry = Registry::load()?;
    let kinds = switchyard_provider::executor::kinds()?;
    let config = &sources.file;
    let store = Arc::new(Store::open(&config.database)?);
    let stored = store.list(None)?;
    let (effective, routes) = sources.effective();
    for a in &stored {
        if !effective.providers.iter().any(|p| p.name == a.provider) {
            tracing::warn!(
                "account `{}` belongs to provider `{}`, which the config does not declare; it is not used",
                a.name,
                a.provider
            );
        }
    }
    let live = snapshot::build(None, effective, routes, &kinds, &stored)?;
    for row in saved {
        if let Some(a) = live
            .providers
            .iter()
            .filter(|p| p.name == row.provider)
            .flat_map(|p| p.accounts().iter().cloned().collect::<Vec<_>>())
            .find(|a| a.name == row.account)
        {
            a.restore(row);
        }
    }
    let client = UpstreamClient::new(&ClientOptions {
        connect_timeout: config.timeouts.connect,
        lanes: config.threads.max(1),
        ..ClientOptions::default()
    })?;
    let mut metrics = Metrics::default();
    metrics.register_usage(usage.stats());
    let open_connections = Arc::new(tokio::sync::Semaphore::new(config.max_connections));
    let client_keys = KeyTable::new(&config.client_keys);
    Ok(App {
        registry,
        client,
        usage,
        debug,
        limits: ClientLimits::default(),
        budgets: crate::routing::budgets::Budgets::default(),
        client_keys,
        metrics,
        latencies: Default::default(),
        rotations: Default::default(),
        responses: Default::default(),
        sessions: Mutex::new(HashMap::new()),
        credentials: Credentials::new(Some(store)),
        open_connections,
        ui_sessions: Default::default(),
        overview_days: Default::default(),
        started: switchyard_hub::clock::now(),
        live: ArcSwap::from_pointee(live),
        kinds,
        reconfigure: tokio::sync::Mutex::new(sources),
        reload_status: Mutex::new(None),
    })
}

impl App {
    /// What is in force now: providers, routes, keys and settings. A request loads it once
    /// and keeps it for its whole life, so a swap never changes a request half-way.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.live.load_full()
    }

    /// Puts `next` in force for requests that start from now on.
    pub(crate) fn swap(&self, next: Snapshot) {
        self.live.store(Arc::new(next));
    }

    /// How the last reload of the config file or the stored configuration went (none yet:
    /// nothing changed since start-up), for `GET /api/settings`.
    pub fn reload_status(&self) -> Option<ReloadStatus> {
        self.reload_status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Builds a snapshot from `sources` (the caller holds [`App::reconfigure`]), reusing
    /// what did not change, and puts it in force. When it cannot be built (a provider of an
    /// unknown kind, the store unreadable), the snapshot in force stays.
    pub(crate) fn rebuild(&self, sources: &Reconfigure) -> Result<(), StartError> {
        let prev = self.snapshot();
        let (config, routes) = sources.effective();
        let config = config.with_process_of(&prev.config);
        // Logins are read only for providers that are new: the others keep theirs.
        let new_provider = config
            .providers
            .iter()
            .any(|p| prev.provider(&p.name).is_none());
        let stored = match &self.credentials.store {
            Some(store) if new_provider => store.list(None)?,
            _ => Vec::new(),
        };
        let next = snapshot::build(Some(&prev), config, routes, &self.kinds, &stored)?;
        if let Some(debug) = &self.debug {
            debug.set_secrets(App::secrets(&next.config));
        }
        if next.config.client_keys != prev.config.client_keys {
            self.client_keys.set_file(&next.config.client_keys);
        }
        self.swap(next);
        Ok(())
    }

    /// Changes one of the stored sources as `change` says (the management API or another
    /// instance changed it), rebuilds with the rest as it is, and reports how it went.
    pub(crate) async fn apply_stored(
        &self,
        change: impl FnOnce(&mut Reconfigure),
    ) -> Result<(), StartError> {
        let mut sources = self.reconfigure.lock().await;
        change(&mut sources);
        let result = self.rebuild(&sources);
        let error = result.as_ref().err().map(ToString::to_string);
        self.set_reload_status(ReloadStatus::now(
            snapshot::ReloadSource::Api,
            error,
            Vec::new(),
        ));
        result
    }

    pub(crate) fn set_reload_status(&self, status: ReloadStatus) {
        *self.reload_status.lock().unwrap_or_else(|p| p.into_inner()) = Some(status);
    }

    /// Clears the routing penalties of every account in use that `scope` covers and queues
    /// their state for saving, so a restart keeps the reset. Accounts the user disabled are
    /// not in use, so they stay disabled; one that needs a login still needs it (the reset
    /// does not touch credentials). Returns (provider, account, needs login) of each.
    pub fn reset_accounts(&self, scope: &ResetScope) -> Vec<(String, String, bool)> {
        let mut done = Vec::new();
        for p in &self.snapshot().providers {
            for a in p.accounts().iter() {
                if !scope.covers(&a.provider, &a.name) {
                    continue;
                }
                a.lock_health().reset();
                self.save_account(a);
                done.push((
                    a.provider.clone(),
                    a.name.clone(),
                    a.credential.needs_login(),
                ));
            }
        }
        done
    }

    /// The account a session last used with `provider`, while the session is fresh.
    /// Sessions are keyed by provider name: a provider keeps its name, not its position,
    /// across reconfigurations.
    pub fn session_account(
        &self,
        session: &str,
        provider: &str,
        ttl: std::time::Duration,
    ) -> Option<usize> {
        let sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let (account, at) = sessions.get(&(session.to_owned(), provider.to_owned()))?;
        (at.elapsed() < ttl).then_some(*account)
    }

    pub fn remember_session(
        &self,
        session: &str,
        provider: &str,
        account: usize,
        ttl: std::time::Duration,
    ) {
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        // Bounded: drop stale sessions when the map grows.
        if sessions.len() >= 10_000 {
            sessions.retain(|_, (_, at)| at.elapsed() < ttl);
        }
        sessions.insert(
            (session.to_owned(), provider.to_owned()),
            (account, Instant::now()),
        );
    }

    /// Queues an account's state for saving, off the request path. The writer saves the
    /// newest state once per batch at most, and counters-only changes once a second: a
    /// success costs no record of its own.
    pub fn save_account(&self, account: &Arc<Account>) {
        let key = status_key(&account.lock_health());
        let urgent = account.queued_status.swap(key, Ordering::Relaxed) != key;
        if urgent && let Some(cluster) = crate::cluster::active() {
            cluster.account_changed(account);
        }
        let newly = !account.state_queued.swap(true, Ordering::AcqRel);
        if newly || urgent {
            let queued = newly.then(|| account.clone() as Arc<dyn AccountState>);
            self.usage.record_state(queued, urgent);
        }
    }

    /// Every configured secret, for scrubbing debug logs.
    pub fn secrets(config: &Config) -> Vec<String> {
        let accounts = config
            .providers
            .iter()
            .flat_map(|p| &p.accounts)
            .map(|a| &a.key);
        let clients = config.client_keys.iter().map(|k| &k.key);
        accounts
            .chain(clients)
            .map(Secret::expose)
            .map(str::to_owned)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use switchyard_hub::Format;

    // Registration happens at link time; this proves the binary links every piece.
    #[test]
    fn every_translator_and_executor_is_linked() {
        let registry = switchyard_hub::Registry::load().unwrap();
        for f in [Format::Claude, Format::Responses, Format::Gemini] {
            for (from, to) in [(f, Format::OpenAi), (Format::OpenAi, f)] {
                assert!(registry.request(from, to).is_ok(), "{from}->{to} request");
                assert!(registry.response(from, to).is_ok(), "{from}->{to} response");
                assert!(registry.stream(from, to).is_ok(), "{from}->{to} stream");
            }
        }
        // Provider-only formats: requests go out, answers come back as streams.
        for f in [switchyard_kiro::KIRO, Format::Cursor] {
            assert!(
                registry.request(Format::OpenAi, f).is_ok(),
                "openai->{f} request"
            );
            assert!(
                registry.stream(f, Format::OpenAi).is_ok(),
                "{f}->openai stream"
            );
        }
        let kinds = switchyard_provider::executor::kinds().unwrap();
        for (from, to) in [
            (Format::GeminiCli, Format::OpenAi),
            (Format::OpenAi, Format::GeminiCli),
        ] {
            assert!(registry.request(from, to).is_ok(), "{from}->{to} request");
            assert!(registry.response(from, to).is_ok(), "{from}->{to} response");
            assert!(registry.stream(from, to).is_ok(), "{from}->{to} stream");
        }
        for k in [
            "openai",
            "openai-responses",
            "claude",
            "gemini",
            "kiro",
            "cursor",
            "gemini-cli",
            "codex",
            "copilot",
        ] {
            assert!(kinds.contains_key(k), "executor kind {k}");
        }
        let importers: Vec<_> = switchyard_auth::import::importers()
            .iter()
            .map(|i| i.name)
            .collect();
        assert_eq!(importers, ["claude", "codex", "cursor", "gemini", "kiro"]);
    }

    // One place per format: every format the binary speaks is registered exactly once,
    // whole (the registry checks each part when it loads), and every executor speaks a
    // registered format.
    #[test]
    fn every_format_has_one_whole_registration() {
        let mut names: Vec<_> = switchyard_hub::wire::all()
            .iter()
            .map(|w| w.format.as_str())
            .collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "claude",
                "completions",
                "cursor",
                "gemini",
                "gemini-cli",
                "kiro",
                "openai",
                "responses"
            ]
        );
        assert!(switchyard_hub::Registry::load().is_ok());
        use switchyard_hub::{WireFormat, wire};
        for w in wire::all() {
            let clients = !w.routes.is_empty();
            let provider_only = ["cursor", "gemini-cli", "kiro"].contains(&w.format.as_str());
            assert_eq!(clients, !provider_only, "{} routes", w.format);
            // Hosted tools pass as they are within a family: one that signs names it.
            assert!(
                w.hosted.is_none() || w.family.signs(),
                "{} family",
                w.format
            );
        }
        let names = |keep: &dyn Fn(&WireFormat) -> bool| {
            let mut v: Vec<_> = wire::all()
                .iter()
                .filter(|w| keep(w))
                .map(|w| w.format.as_str())
                .collect();
            v.sort_unstable();
            v
        };
        // Only binary streams (and legacy completions, only passed through) simply end.
        assert_eq!(
            names(&|w| w.stream_end.ends.is_none()),
            ["completions", "cursor", "kiro"]
        );
        assert_eq!(
            names(&|w| w.hosted.is_some()),
            ["claude", "gemini", "gemini-cli", "responses"]
        );
        assert_eq!(
            names(&|w| w.routes.paths.iter().any(|r| r.websocket)),
            ["responses"]
        );
        assert_eq!(
            wire::model_list("/v1/models", |_| false),
            Some(Format::OpenAi)
        );
        assert_eq!(
            wire::model_list("/models", |h| h == "anthropic-version"),
            Some(Format::Claude)
        );
        assert_eq!(
            wire::model_list("/v1beta/models", |_| false),
            Some(Format::Gemini)
        );
        let settings = switchyard_provider::executor::ProviderSettings {
            name: "p".into(),
            base_url: String::new(),
            user_agent: None,
            headers: Default::default(),
            options: Default::default(),
        };
        for (name, kind) in switchyard_provider::executor::kinds().unwrap() {
            let format = (kind.create)(settings.clone()).format();
            assert!(
                switchyard_hub::wire::lookup(format).is_some(),
                "executor {name} speaks {format}, which is not registered"
            );
        }
    }
}
