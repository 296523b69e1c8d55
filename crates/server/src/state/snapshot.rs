//! The part of the running state that may change without a restart (providers with their
//! accounts, aliases and combos, client keys, routing and timeout settings), held as one
//! immutable [`Snapshot`] that the [`App`](crate::state::app::App) swaps whole. A rebuild
//! reuses every provider and account that did not change (the same `Arc`), so their health,
//! cooldowns, in-flight counts, rotation and learned endpoints carry over.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use serde::Serialize;
use switchyard_auth::store::{AccountStatus, StoredAccount};
use switchyard_provider::ProviderSettings;
use switchyard_provider::executor::ExecutorKind;

use crate::config::{Config, ProviderConfig, Routes};
use crate::state::app::{Account, Provider, Rotation, StartError};
use crate::state::usage_store::StoredRoutes;

/// What a request sees for its whole life. `config` is the effective configuration: the
/// file's merged with what the database holds; its process-level settings (listener,
/// threads, database...) stay those the process started with.
pub struct Snapshot {
    pub config: Config,
    /// In config order; a request's targets index into this list.
    pub providers: Vec<Arc<Provider>>,
    pub routes: Routes,
}

impl Snapshot {
    pub fn provider(&self, name: &str) -> Option<&Arc<Provider>> {
        self.providers.iter().find(|p| p.name == name)
    }
}

/// The sources a snapshot is built from: the last valid config file and what the database
/// holds. Kept so a change to one source rebuilds with the others as they are.
pub struct Reconfigure {
    /// The config file as last read and found valid (process settings as at start-up).
    pub file: Config,
    pub stored_routes: StoredRoutes,
    /// Providers created through the API; the file wins a name both define.
    pub stored_providers: Vec<ProviderConfig>,
    /// Routing and timeout settings changed through the API, laid over the file's.
    pub stored_settings: crate::config::overrides::Overrides,
    /// Model catalogue entries set through the API, laid over the shipped and file's ones.
    pub stored_models: Vec<crate::catalogue::ModelEntry>,
}

impl Reconfigure {
    /// The file's configuration with the stored providers added, and the route table it
    /// makes with the stored aliases and combos (warnings about stored entries logged).
    pub fn effective(&self) -> (Config, Routes) {
        let mut config = self.file.clone();
        if let Err(e) = crate::config::overrides::apply(&mut config, &self.stored_settings) {
            tracing::warn!("stored settings are left out: {}", e.0);
        }
        if !self.stored_models.is_empty() {
            match (*config.catalogue)
                .clone()
                .with_api_overrides(&self.stored_models)
            {
                Ok(c) => config.catalogue = std::sync::Arc::new(c),
                Err(e) => tracing::warn!("stored model entries are left out: {e}"),
            }
        }
        for p in &self.stored_providers {
            if config.providers.iter().any(|f| f.name == p.name) {
                tracing::warn!(
                    "stored provider `{}` is shadowed by the config file",
                    p.name
                );
                continue;
            }
            config.providers.push(p.clone());
        }
        let (routes, warnings) =
            config.routes_with(self.stored_routes.0.clone(), self.stored_routes.1.clone());
        for w in warnings {
            tracing::warn!("{w}");
        }
        (config, routes)
    }
}

/// Where a reload came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReloadSource {
    /// The config file changed.
    File,
    /// The database changed (the CLI or another process).
    Database,
    /// The management API changed something.
    Api,
}

/// How the last reload went, for `GET /api/settings`.
#[derive(Debug, Clone, Serialize)]
pub struct ReloadStatus {
    /// When it happened (RFC 3339).
    pub at: String,
    pub source: ReloadSource,
    /// Whether the change was taken in; when not, the configuration before it keeps serving.
    pub ok: bool,
    /// Why it was refused (a config error names the key; no secret is in it).
    pub error: Option<String>,
    /// Changed settings (by their key in the file) that take effect only after a restart.
    pub restart_needed: Vec<&'static str>,
}

impl ReloadStatus {
    pub fn now(
        source: ReloadSource,
        error: Option<String>,
        restart_needed: Vec<&'static str>,
    ) -> Self {
        ReloadStatus {
            at: chrono::Utc::now().to_rfc3339(),
            source,
            ok: error.is_none(),
            error,
            restart_needed,
        }
    }
}

/// Builds the snapshot for `config` and `routes`. With `prev`, a provider whose settings
/// are unchanged is reused whole; a changed one keeps its executor (and what it learned)
/// when only its accounts or models changed, and every account whose settings are the
/// same. `stored` (the logins the store holds) feeds providers that are new.
pub fn build(
    prev: Option<&Snapshot>,
    config: Config,
    routes: Routes,
    kinds: &HashMap<&'static str, &'static ExecutorKind>,
    stored: &[StoredAccount],
) -> Result<Snapshot, StartError> {
    let mut providers = Vec::with_capacity(config.providers.len());
    for p in &config.providers {
        let old = prev.and_then(|s| s.provider(&p.name));
        if let Some(old) = old.filter(|o| o.config == *p) {
            providers.push(old.clone());
            continue;
        }
        providers.push(Arc::new(provider(old.map(|o| &**o), p, kinds, stored)?));
    }
    Ok(Snapshot {
        config,
        providers,
        routes,
    })
}

/// One provider built anew, reusing what `old` (the provider of that name in force) has
/// that still fits.
fn provider(
    old: Option<&Provider>,
    p: &ProviderConfig,
    kinds: &HashMap<&'static str, &'static ExecutorKind>,
    stored: &[StoredAccount],
) -> Result<Provider, StartError> {
    let same_executor = |o: &Provider| {
        o.config.kind == p.kind
            && o.config.base_url == p.base_url
            && o.config.user_agent == p.user_agent
            && o.config.headers == p.headers
            && o.config.options == p.options
    };
    let executor = match old.filter(|o| same_executor(o)) {
        Some(o) => o.executor.clone(),
        None => {
            let Some(kind) = kinds.get(p.kind.as_str()) else {
                let mut known: Vec<_> = kinds.keys().copied().collect();
                known.sort();
                return Err(StartError::UnknownKind {
                    provider: p.name.clone(),
                    kind: p.kind.clone(),
                    known: known.join(", "),
                });
            };
            (kind.create)(ProviderSettings {
                name: p.name.clone(),
                base_url: p.base_url.clone(),
                user_agent: Some(p.user_agent.clone()),
                headers: p.headers.clone(),
                options: p.options.clone(),
            })
        }
    };
    let accounts = match old {
        Some(o) => carried_accounts(o, p),
        None => fresh_accounts(p, stored),
    };
    let rotation = old.map_or_else(Rotation::default, |o| {
        let r = o.lock_rotation();
        Rotation {
            current: r.current,
            uses: r.uses,
        }
    });
    Ok(Provider {
        name: p.name.clone(),
        kind: p.kind.clone(),
        config: p.clone(),
        models: p.models.clone(),
        executor,
        accounts: RwLock::new(Arc::new(accounts)),
        strategy: p.strategy,
        per_model_limits: p.per_model_limits,
        unset_keys: p.unset_keys.clone(),
        rotation: Mutex::new(rotation),
    })
}

/// A new provider's accounts: configured ones first, then the logins the store holds.
fn fresh_accounts(p: &ProviderConfig, stored: &[StoredAccount]) -> Vec<Arc<Account>> {
    let configured = p
        .accounts
        .iter()
        .enumerate()
        .map(|(i, a)| Arc::new(Account::configured(i, &p.name, a)));
    let logged_in = stored
        .iter()
        .filter(|a| a.provider == p.name && a.status != AccountStatus::Disabled)
        .filter(|a| !p.accounts.iter().any(|c| c.name == a.name))
        .enumerate()
        .map(|(i, a)| Arc::new(Account::stored(p.accounts.len() + i, a)));
    configured.chain(logged_in).collect()
}

/// A changed provider's accounts: each configured account whose settings are unchanged is
/// the same `Arc` as before (new ones get positions after every kept one, so positions stay
/// unique), and the logins it had stay (their changes come through `sync_stored`).
fn carried_accounts(old: &Provider, p: &ProviderConfig) -> Vec<Arc<Account>> {
    let current = old.accounts();
    let mut kept: Vec<Arc<Account>> = Vec::with_capacity(p.accounts.len() + current.len());
    let mut added = Vec::new();
    for a in &p.accounts {
        let unchanged = old.config.accounts.iter().any(|o| o == a);
        match current
            .iter()
            .find(|c| c.credential.id.is_none() && c.name == a.name)
            .filter(|_| unchanged)
        {
            Some(c) => kept.push(c.clone()),
            None => added.push(a),
        }
    }
    let logins = current
        .iter()
        .filter(|c| c.credential.id.is_some())
        .filter(|c| !p.accounts.iter().any(|a| a.name == c.name));
    kept.extend(logins.cloned());
    let first = kept.iter().map(|a| a.index + 1).max().unwrap_or(0);
    for (index, a) in (first..).zip(added) {
        kept.push(Arc::new(Account::configured(index, &p.name, a)));
    }
    kept
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::{Overrides, parse};

    fn config(text: &str) -> Config {
        parse(
            text,
            Path::new("config.toml"),
            &Overrides::default(),
            &|name| (name == "K").then(|| "sk-test-key".to_owned()),
        )
        .unwrap()
    }

    const TWO: &str = r#"
[[providers]]
name = "a"
kind = "openai"
base_url = "http://127.0.0.1:9/v1"
models = ["m"]
[[providers.accounts]]
name = "one"
api_key_env = "K"
[[providers.accounts]]
name = "two"
api_key_env = "K"
[[providers]]
name = "b"
kind = "openai"
base_url = "http://127.0.0.1:9/v1"
models = ["m"]
[[providers.accounts]]
name = "x"
api_key_env = "K"
"#;

    fn snapshot(prev: Option<&Snapshot>, text: &str) -> Snapshot {
        let kinds = switchyard_provider::executor::kinds().unwrap();
        let c = config(text);
        let (routes, _) = c.routes_with(Vec::new(), Vec::new());
        build(prev, c, routes, &kinds, &[]).unwrap()
    }

    #[test]
    fn a_rebuild_keeps_what_did_not_change() {
        let first = snapshot(None, TWO);
        let a_before = first.provider("a").unwrap().clone();
        let one_before = a_before.accounts()[0].clone();
        one_before
            .in_flight
            .store(3, std::sync::atomic::Ordering::Relaxed);
        // `b` drops its account and `a` gains a model and a third account; a new provider
        // `c` joins.
        let changed = TWO
            .replace(
                "models = [\"m\"]\n[[providers.accounts]]\nname = \"x\"\napi_key_env = \"K\"\n",
                "models = [\"m\"]\n",
            )
            .replacen("models = [\"m\"]", "models = [\"m\", \"n\"]", 1)
            + "[[providers.accounts]]\nname = \"three\"\napi_key_env = \"K\"\n"
            + "[[providers]]\nname = \"c\"\nkind = \"claude\"\nbase_url = \"http://127.0.0.1:9\"\nmodels = [\"m\"]\n";
        let next = snapshot(Some(&first), &changed);
        let b = next.provider("b").unwrap();
        assert!(
            b.accounts().iter().any(|a| a.name == "three"),
            "third account went to the last provider"
        );
        assert!(!b.accounts().iter().any(|a| a.name == "x"));
        // `a` changed (a model), so it is a new provider, but its executor and both
        // unchanged accounts are the same objects.
        let a = next.provider("a").unwrap();
        assert!(!Arc::ptr_eq(a, &a_before));
        assert_eq!(a.models, ["m", "n"]);
        assert!(Arc::ptr_eq(&a.executor, &a_before.executor));
        let accounts = a.accounts();
        assert!(Arc::ptr_eq(&accounts[0], &one_before));
        assert_eq!(
            accounts[0]
                .in_flight
                .load(std::sync::atomic::Ordering::Relaxed),
            3
        );
        assert!(Arc::ptr_eq(&accounts[1], &a_before.accounts()[1]));
        assert!(next.provider("c").is_some());
        // Rebuilt with nothing changed: every provider is the same object.
        let same = snapshot(Some(&next), &changed);
        for (p, q) in same.providers.iter().zip(&next.providers) {
            assert!(Arc::ptr_eq(p, q), "{}", p.name);
        }
    }

    #[test]
    fn a_changed_account_starts_fresh_and_positions_stay_unique() {
        let first = snapshot(None, TWO);
        let changed = TWO.replacen(
            "name = \"one\"\napi_key_env = \"K\"",
            "name = \"one\"\napi_key_env = \"K\"\npriority = 4",
            1,
        );
        let next = snapshot(Some(&first), &changed);
        let a = next.provider("a").unwrap();
        let before = first.provider("a").unwrap().accounts();
        let after = a.accounts();
        let one = after.iter().find(|x| x.name == "one").unwrap();
        assert!(!Arc::ptr_eq(one, &before[0]));
        assert_eq!(one.priority, 4);
        let mut indexes: Vec<usize> = after.iter().map(|x| x.index).collect();
        indexes.sort_unstable();
        indexes.dedup();
        assert_eq!(indexes.len(), after.len());
    }
}
