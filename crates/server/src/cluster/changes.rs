//! Management changes made through one instance's API, put in force on every instance.
//! Each instance keeps its own SQLite file, so a change travels as the whole stored table of
//! its topic (aliases and combos, client keys, logged-in accounts, providers, settings,
//! model catalogue entries) as the changing instance holds it after the change; the others
//! write it to their own database and put it in force at once. Accounts and providers carry
//! credentials, so they travel sealed, and only with a cluster key. An operator's reset
//! travels as the list of accounts it reset.
//!
//! Catching up: besides the event, Redis keeps each topic's last table with a sequence
//! number (Redis's own clock in milliseconds, never lower than the last one plus one, so it
//! keeps rising across a Redis restart that lost everything). Each instance remembers the
//! number it last applied per topic, and on every (re)connection applies the tables newer
//! than that. A change made while Redis was away is remembered as pending and published on
//! reconnection: the last table published of a topic wins, so two instances that changed
//! the same topic while cut off from each other end with the one that reconnected last.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use switchyard_auth::store::AccountStatus;

use super::tokens::SharedCredential;
use super::{Cluster, ClusterError, Envelope, Event, PREFIX};

/// Keeps a topic's last table and publishes it under the next sequence number: Redis's
/// clock in milliseconds, or the last number plus one when that is not later (KEYS: the
/// sequence, the hash of tables, the channel; ARGV: the topic, the envelope as JSON with
/// its `seq` still 0, which the script replaces).
const TABLE_SCRIPT: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
local seq = math.max(last + 1, now)
local digits = string.format('%d', seq)
redis.call('SET', KEYS[1], digits)
local msg = string.gsub(ARGV[2], '"seq":0', '"seq":' .. digits, 1)
redis.call('HSET', KEYS[2], ARGV[1], msg)
redis.call('PUBLISH', KEYS[3], msg)
return seq
"#;

fn seq_key() -> String {
    format!("{PREFIX}tables:seq")
}

fn tables_key() -> String {
    format!("{PREFIX}tables")
}
use crate::state::app::App;
use crate::state::client_keys::StoredKey;
use crate::state::usage_store::{self, ResetScope};

/// What a management change is about.
/// Declared in the order tables are applied when catching up: providers before the
/// accounts and routes that name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Topic {
    Providers,
    Settings,
    Models,
    Routes,
    Keys,
    Accounts,
}

impl Topic {
    /// The topic of an audited action (`combo.create`, `client_key.revoke`...).
    pub fn of(action: &str) -> Option<Topic> {
        match action {
            "provider.create" | "provider.update" | "provider.delete" => Some(Topic::Providers),
            "settings.update" => Some(Topic::Settings),
            "model.set" | "model.delete" => Some(Topic::Models),
            _ => match action.split('.').next()? {
                "alias" | "combo" => Some(Topic::Routes),
                "client_key" => Some(Topic::Keys),
                "account" => Some(Topic::Accounts),
                _ => None,
            },
        }
    }

    /// Its field in the Redis hash of last tables.
    pub(super) fn name(self) -> &'static str {
        match self {
            Topic::Providers => "providers",
            Topic::Settings => "settings",
            Topic::Models => "models",
            Topic::Routes => "routes",
            Topic::Keys => "keys",
            Topic::Accounts => "accounts",
        }
    }
}

/// One topic's stored table, as the changing instance holds it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "topic", rename_all = "snake_case")]
pub enum Snapshot {
    Routes {
        aliases: Vec<(String, String)>,
        combos: Vec<(String, Vec<String>)>,
    },
    Keys {
        keys: Vec<SharedKey>,
    },
    /// `Vec<SharedAccount>` as JSON, sealed.
    Accounts {
        sealed: String,
    },
    /// `Vec<(name, definition)>` as JSON, sealed: definitions may hold API keys.
    Providers {
        sealed: String,
    },
    Settings {
        settings: crate::config::overrides::Overrides,
    },
    Models {
        models: Vec<crate::catalogue::ModelEntry>,
    },
    Reset {
        accounts: Vec<(String, String)>,
    },
}

impl Snapshot {
    /// The topic whose whole table it carries; a reset carries none.
    pub(super) fn topic(&self) -> Option<Topic> {
        match self {
            Snapshot::Routes { .. } => Some(Topic::Routes),
            Snapshot::Keys { .. } => Some(Topic::Keys),
            Snapshot::Accounts { .. } => Some(Topic::Accounts),
            Snapshot::Providers { .. } => Some(Topic::Providers),
            Snapshot::Settings { .. } => Some(Topic::Settings),
            Snapshot::Models { .. } => Some(Topic::Models),
            Snapshot::Reset { .. } => None,
        }
    }
}

/// A stored client key: its secret only as the hash the key table checks against.
#[derive(Debug, Serialize, Deserialize)]
pub struct SharedKey {
    id: String,
    name: String,
    hash: [u8; 32],
    last4: String,
    created_ms: i64,
    expires_ms: Option<i64>,
    revoked_ms: Option<i64>,
    limits: crate::routing::limits::Limits,
    #[serde(default)]
    budget: crate::routing::budgets::Budget,
}

impl From<StoredKey> for SharedKey {
    fn from(k: StoredKey) -> Self {
        SharedKey {
            id: k.id,
            name: k.name,
            hash: k.hash,
            last4: k.last4,
            created_ms: k.created_ms,
            expires_ms: k.expires_ms,
            revoked_ms: k.revoked_ms,
            limits: k.limits,
            budget: k.budget,
        }
    }
}

impl From<SharedKey> for StoredKey {
    fn from(k: SharedKey) -> Self {
        StoredKey {
            id: k.id,
            name: k.name,
            hash: k.hash,
            last4: k.last4,
            created_ms: k.created_ms,
            expires_ms: k.expires_ms,
            revoked_ms: k.revoked_ms,
            limits: k.limits,
            budget: k.budget,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct SharedAccount {
    provider: String,
    name: String,
    status: String,
    credential: SharedCredential,
}

fn status(s: &str) -> AccountStatus {
    match s {
        "needs_login" => AccountStatus::NeedsLogin,
        "disabled" => AccountStatus::Disabled,
        _ => AccountStatus::Active,
    }
}

const ACCOUNTS_BINDING: &str = "switchyard:accounts";
const PROVIDERS_BINDING: &str = "switchyard:providers";

/// The accounts an `account.reset` change names in its answer.
pub fn reset_accounts(after: Option<&serde_json::Value>) -> Vec<(String, String)> {
    let rows = after
        .and_then(|v| v.get("reset"))
        .and_then(|v| v.as_array())
        .map(Vec::as_slice)
        .unwrap_or_default();
    rows.iter()
        .filter_map(|r| {
            Some((
                r.get("provider")?.as_str()?.to_owned(),
                r.get("account")?.as_str()?.to_owned(),
            ))
        })
        .collect()
}

fn db_error(e: impl std::fmt::Display) -> ClusterError {
    ClusterError::Database(e.to_string())
}

/// Runs `f` on a fresh connection to this instance's database, off the serving threads.
async fn with_db<T: Send + 'static>(
    app: &App,
    f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T> + Send + 'static,
) -> Result<T, ClusterError> {
    let path = app.snapshot().config.database.clone();
    tokio::task::spawn_blocking(move || f(&usage_store::open(&path)?))
        .await
        .map_err(db_error)?
        .map_err(db_error)
}

/// [`with_db`] for writes that need a transaction.
async fn with_db_mut<T: Send + 'static>(
    app: &App,
    f: impl FnOnce(&mut rusqlite::Connection) -> rusqlite::Result<T> + Send + 'static,
) -> Result<T, ClusterError> {
    let path = app.snapshot().config.database.clone();
    tokio::task::spawn_blocking(move || f(&mut usage_store::open(&path)?))
        .await
        .map_err(db_error)?
        .map_err(db_error)
}

impl Cluster {
    /// Publishes `topic`'s stored table as this instance holds it now.
    pub(super) async fn publish_change(&self, topic: Topic) -> Result<(), ClusterError> {
        let Some(app) = self.app() else {
            return Ok(());
        };
        let snapshot = match topic {
            Topic::Routes => {
                let (aliases, combos) = with_db(&app, usage_store::load_routes).await?;
                Snapshot::Routes { aliases, combos }
            }
            Topic::Keys => {
                let keys = with_db(&app, usage_store::load_keys).await?;
                Snapshot::Keys {
                    keys: keys.into_iter().map(SharedKey::from).collect(),
                }
            }
            Topic::Accounts => {
                let Some(sealer) = self.sealer_or_warn() else {
                    return Ok(());
                };
                let Some(store) = app.credentials.store.clone() else {
                    return Ok(());
                };
                let rows = tokio::task::spawn_blocking(move || store.list(None))
                    .await
                    .map_err(db_error)?
                    .map_err(db_error)?;
                let shared: Vec<SharedAccount> = rows
                    .iter()
                    .map(|a| SharedAccount {
                        provider: a.provider.clone(),
                        name: a.name.clone(),
                        status: a.status.as_str().to_owned(),
                        credential: SharedCredential::from(&a.credential),
                    })
                    .collect();
                let sealed = sealer.seal(ACCOUNTS_BINDING, &serde_json::to_vec(&shared)?)?;
                Snapshot::Accounts { sealed }
            }
            Topic::Providers => {
                let Some(sealer) = self.sealer_or_warn() else {
                    return Ok(());
                };
                let rows = with_db(&app, usage_store::load_providers).await?;
                let sealed = sealer.seal(PROVIDERS_BINDING, &serde_json::to_vec(&rows)?)?;
                Snapshot::Providers { sealed }
            }
            Topic::Settings => Snapshot::Settings {
                settings: with_db(&app, usage_store::load_overrides).await?,
            },
            Topic::Models => Snapshot::Models {
                models: with_db(&app, usage_store::load_model_overrides).await?,
            },
        };
        self.send_table(topic, snapshot).await
    }

    /// The cluster key, or a warning (once) that credentials are not shared without it.
    fn sealer_or_warn(&self) -> Option<&super::seal::Sealer> {
        if self.sealer.is_none()
            && !self
                .warned_no_key
                .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            tracing::warn!(
                "cluster: account and provider changes are not shared without SWITCHYARD_CLUSTER_KEY"
            );
        }
        self.sealer.as_ref()
    }

    /// Keeps `snapshot` as `topic`'s last table in Redis under a new sequence number and
    /// publishes it, in one step (a script), so the table kept and the event sent agree.
    async fn send_table(&self, topic: Topic, snapshot: Snapshot) -> Result<(), ClusterError> {
        let text = serde_json::to_string(&Envelope {
            from: self.id.clone(),
            seq: 0,
            event: Event::Change(snapshot),
        })?;
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(TABLE_SCRIPT)
            .arg(3)
            .arg(seq_key())
            .arg(tables_key())
            .arg(super::channel())
            .arg(topic.name())
            .arg(text);
        let seq: u64 = self.link.run(cmd).await?;
        self.note_applied(topic, seq);
        Ok(())
    }

    /// Records that this instance holds `topic`'s table numbered `seq`; false when it held
    /// that one or a later one already.
    pub(super) fn note_applied(&self, topic: Topic, seq: u64) -> bool {
        let mut applied = self
            .tables_applied
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let held = applied.entry(topic).or_insert(0);
        if seq <= *held {
            return false;
        }
        *held = seq;
        true
    }

    /// Remembers that `topic` changed here while Redis could not be told.
    pub(super) fn pend(&self, topic: Topic) {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(topic);
    }

    /// On (re)connection: publishes what changed here while Redis was away, then applies
    /// the tables other instances published since this one last heard.
    pub(super) async fn catch_up(&self) {
        let pending: Vec<Topic> =
            std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()))
                .into_iter()
                .collect();
        for (i, topic) in pending.iter().enumerate() {
            if let Err(e) = self.publish_change(*topic).await {
                for t in &pending[i..] {
                    self.pend(*t);
                }
                self.link.failed(&e);
                return;
            }
            tracing::info!(
                "cluster: {} changed here while redis was away, published",
                topic.name()
            );
        }
        let tables: std::collections::HashMap<String, String> = match self
            .link
            .run(redis::cmd("HGETALL").arg(tables_key()).clone())
            .await
        {
            Ok(t) => t,
            Err(e) => {
                self.link.failed(&e);
                return;
            }
        };
        let Some(app) = self.app() else { return };
        let mut newer: Vec<(Topic, Snapshot)> = Vec::new();
        for text in tables.values() {
            let Ok(envelope) = serde_json::from_str::<Envelope>(text) else {
                continue;
            };
            let Event::Change(snapshot) = envelope.event else {
                continue;
            };
            let Some(topic) = snapshot.topic() else {
                continue;
            };
            if self.note_applied(topic, envelope.seq) && envelope.from != self.id {
                newer.push((topic, snapshot));
            }
        }
        newer.sort_by_key(|(t, _)| *t);
        for (_, snapshot) in newer {
            self.apply_change(app.clone(), snapshot).await;
        }
    }

    pub(super) async fn publish_reset(
        &self,
        accounts: Vec<(String, String)>,
    ) -> Result<(), ClusterError> {
        self.forget_health(&accounts).await?;
        self.send_event(Event::Change(Snapshot::Reset { accounts }))
            .await
    }

    /// Writes another instance's change to this instance's database and puts it in force.
    pub(super) async fn apply_change(&self, app: Arc<App>, snapshot: Snapshot) {
        let what = match &snapshot {
            Snapshot::Routes { .. } => "aliases and combos",
            Snapshot::Keys { .. } => "client keys",
            Snapshot::Accounts { .. } => "accounts",
            Snapshot::Reset { .. } => "account reset",
            Snapshot::Providers { .. } => "providers",
            Snapshot::Settings { .. } => "settings",
            Snapshot::Models { .. } => "model catalogue entries",
        };
        match self.apply(&app, snapshot).await {
            Ok(()) => tracing::info!("cluster: {what} changed on another instance, applied"),
            Err(e) => {
                tracing::warn!("cluster: cannot apply {what} changed on another instance: {e}")
            }
        }
    }

    async fn apply(&self, app: &Arc<App>, snapshot: Snapshot) -> Result<(), ClusterError> {
        match snapshot {
            Snapshot::Routes { aliases, combos } => {
                let (a, c) = (aliases.clone(), combos.clone());
                with_db(app, move |conn| {
                    let (old_aliases, old_combos) = usage_store::load_routes(conn)?;
                    for name in old_aliases
                        .iter()
                        .map(|x| &x.0)
                        .chain(old_combos.iter().map(|x| &x.0))
                    {
                        if !a.iter().any(|x| &x.0 == name) && !c.iter().any(|x| &x.0 == name) {
                            usage_store::remove_route(conn, name)?;
                        }
                    }
                    for (name, target) in &a {
                        usage_store::save_route(conn, name, "alias", std::slice::from_ref(target))?;
                    }
                    for (name, steps) in &c {
                        usage_store::save_route(conn, name, "combo", steps)?;
                    }
                    Ok(())
                })
                .await?;
                if let Err(e) = app
                    .apply_stored(|s| s.stored_routes = (aliases, combos))
                    .await
                {
                    tracing::warn!("aliases and combos from the cluster not in force: {e}");
                }
            }
            Snapshot::Keys { keys } => {
                let keys: Vec<StoredKey> = keys.into_iter().map(StoredKey::from).collect();
                let stored = with_db(app, move |conn| {
                    for k in &keys {
                        match usage_store::load_key(conn, &k.id)? {
                            None => usage_store::insert_key(conn, k)?,
                            Some(mine) => {
                                usage_store::update_key(conn, k)?;
                                if let (None, Some(at)) = (mine.revoked_ms, k.revoked_ms) {
                                    usage_store::revoke_key(conn, &k.id, at)?;
                                }
                            }
                        }
                    }
                    usage_store::load_keys(conn)
                })
                .await?;
                app.client_keys.set_stored(stored);
            }
            Snapshot::Accounts { sealed } => self.apply_accounts(app, &sealed).await?,
            Snapshot::Providers { sealed } => self.apply_providers(app, &sealed).await?,
            Snapshot::Settings { settings } => {
                let stored = settings.clone();
                with_db_mut(app, move |conn| usage_store::save_overrides(conn, &stored)).await?;
                app.apply_stored(|s| s.stored_settings = settings)
                    .await
                    .map_err(db_error)?;
            }
            Snapshot::Models { models } => {
                let stored = models.clone();
                with_db(app, move |conn| {
                    for old in usage_store::load_model_overrides(conn)? {
                        if !stored.iter().any(|m| m.id == old.id) {
                            usage_store::remove_model_override(conn, &old.id)?;
                        }
                    }
                    for m in &stored {
                        usage_store::save_model_override(conn, m)?;
                    }
                    Ok(())
                })
                .await?;
                app.apply_stored(|s| s.stored_models = models)
                    .await
                    .map_err(db_error)?;
            }
            Snapshot::Reset { accounts } => {
                for (provider, account) in accounts {
                    app.reset_accounts(&ResetScope::Account { provider, account });
                }
            }
        }
        Ok(())
    }

    async fn apply_providers(&self, app: &Arc<App>, sealed: &str) -> Result<(), ClusterError> {
        let Some(sealer) = &self.sealer else {
            return Ok(());
        };
        let theirs: Vec<(String, serde_json::Value)> =
            serde_json::from_slice(&sealer.open(PROVIDERS_BINDING, sealed)?)?;
        let now = crate::routing::epoch_ms(switchyard_hub::clock::now());
        let stored = with_db(app, move |conn| {
            for (name, _) in usage_store::load_providers(conn)? {
                if !theirs.iter().any(|(n, _)| *n == name) {
                    usage_store::remove_provider(conn, &name)?;
                }
            }
            for (name, definition) in &theirs {
                usage_store::save_provider(conn, name, definition, now)?;
            }
            usage_store::load_providers(conn)
        })
        .await?;
        let file = app.reconfigure.lock().await.file.clone();
        let checked = crate::start::checked_providers(&stored, &file);
        app.apply_stored(|s| s.stored_providers = checked)
            .await
            .map_err(db_error)
    }

    async fn apply_accounts(&self, app: &Arc<App>, sealed: &str) -> Result<(), ClusterError> {
        let Some(sealer) = &self.sealer else {
            return Ok(());
        };
        let Some(store) = app.credentials.store.clone() else {
            return Ok(());
        };
        let theirs: Vec<SharedAccount> =
            serde_json::from_slice(&sealer.open(ACCOUNTS_BINDING, sealed)?)?;
        let rows = tokio::task::spawn_blocking(move || {
            let mine = store.list(None)?;
            for a in &theirs {
                let credential: switchyard_auth::Credential = a.credential.clone().into();
                let want = status(&a.status);
                let known = mine
                    .iter()
                    .find(|m| m.provider == a.provider && m.name == a.name);
                let (id, now) = match known {
                    Some(m) if m.credential.same_token(&credential) => (m.id, m.status),
                    _ => (
                        store.upsert(&a.provider, &a.name, &credential)?,
                        AccountStatus::Active,
                    ),
                };
                if now != want {
                    store.set_status(id, want, None)?;
                }
            }
            for m in &mine {
                if !theirs
                    .iter()
                    .any(|a| a.provider == m.provider && a.name == m.name)
                {
                    store.remove(m.id)?;
                }
            }
            store.list(None)
        })
        .await
        .map_err(db_error)?
        .map_err(db_error)?;
        for p in &app.snapshot().providers {
            if p.sync_stored(&rows) {
                tracing::info!(provider = %p.name, accounts = p.accounts().len(), "cluster: stored accounts changed");
            }
        }
        Ok(())
    }
}
