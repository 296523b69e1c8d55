//! Management changes made through one instance's API, put in force on every instance.
//! Each instance keeps its own SQLite file, so a change travels as the whole stored table of
//! its topic (aliases and combos, client keys, logged-in accounts) as the changing instance
//! holds it after the change; the others write it to their own database and put it in force
//! at once. Accounts carry credentials, so they travel sealed, and only with a cluster key.
//! An operator's reset travels as the list of accounts it reset.
//!
//! A change made while Redis is away stays on the instance that made it until the next
//! change of the same topic is published.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use switchyard_auth::store::AccountStatus;

use super::tokens::SharedCredential;
use super::{Cluster, ClusterError, Event};
use crate::state::app::App;
use crate::state::client_keys::StoredKey;
use crate::state::usage_store::{self, ResetScope};

/// What a management change is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    Routes,
    Keys,
    Accounts,
}

impl Topic {
    /// The topic of an audited action (`combo.create`, `client_key.revoke`...).
    pub fn of(action: &str) -> Option<Topic> {
        match action.split('.').next()? {
            "alias" | "combo" => Some(Topic::Routes),
            "client_key" => Some(Topic::Keys),
            "account" => Some(Topic::Accounts),
            _ => None,
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
    Reset {
        accounts: Vec<(String, String)>,
    },
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
                let Some(sealer) = &self.sealer else {
                    if !self
                        .warned_no_key
                        .swap(true, std::sync::atomic::Ordering::Relaxed)
                    {
                        tracing::warn!(
                            "cluster: account changes are not shared without SWITCHYARD_CLUSTER_KEY"
                        );
                    }
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
        };
        self.send_event(Event::Change(snapshot)).await
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
            Snapshot::Reset { accounts } => {
                for (provider, account) in accounts {
                    app.reset_accounts(&ResetScope::Account { provider, account });
                }
            }
        }
        Ok(())
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
