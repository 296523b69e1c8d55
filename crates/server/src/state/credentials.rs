//! Accounts' credentials at run time: a fresh credential before each attempt (renewed ahead
//! of expiry), one renewal after a 401, and accounts whose grant is gone taken out of
//! rotation. Every renewal of one account goes through one gate, so any number of requests
//! that find it due cause exactly one call to the token endpoint; providers with rotating
//! single-use refresh tokens also renew one account at a time.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use http::Response;
use hyper::body::Incoming;
use switchyard_auth::store::{AccountStatus, Store};
use switchyard_auth::{Credential, RefreshGate};
use switchyard_hub::{ApiError, ErrorKind};
use switchyard_provider::failure::FailureClass;
use switchyard_provider::{Failure, RefreshError};

use crate::state::app::{Account, App, Provider};

/// One account's credential as it is now.
pub struct Live {
    /// Its row in the accounts table, when it came from there (refreshes are written back).
    pub id: Option<i64>,
    current: RwLock<Credential>,
    needs_login: AtomicBool,
    /// When this process found the grant gone (epoch ms; 0: it was so when loaded). A store
    /// row of the account that is active again and was written after this is a new login;
    /// one written before is a read that has not yet seen the change.
    needs_login_since_ms: std::sync::atomic::AtomicI64,
}

impl Live {
    pub fn new(credential: Credential, id: Option<i64>, needs_login: bool) -> Self {
        Live {
            id,
            current: RwLock::new(credential),
            needs_login: AtomicBool::new(needs_login),
            needs_login_since_ms: std::sync::atomic::AtomicI64::new(0),
        }
    }

    pub fn get(&self) -> Credential {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set(&self, credential: Credential) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = credential;
    }

    pub fn needs_login(&self) -> bool {
        self.needs_login.load(Ordering::Acquire)
    }

    /// Whether a store row last written at `updated` can hold a login newer than the grant
    /// this account lost.
    pub fn relogged_by(&self, updated: std::time::SystemTime) -> bool {
        crate::routing::epoch_ms(updated) > self.needs_login_since_ms.load(Ordering::Acquire)
    }
}

/// The refresh machinery every request shares.
#[derive(Default)]
pub struct Credentials {
    gate: RefreshGate<String, Credential, RefreshError>,
    serial: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    pub store: Option<Arc<Store>>,
}

impl Credentials {
    pub fn new(store: Option<Arc<Store>>) -> Self {
        Credentials {
            store,
            ..Credentials::default()
        }
    }

    fn serial_lock(&self, provider: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.serial.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(provider.to_owned()).or_default().clone()
    }
}

/// Why a refresh is asked for.
enum Reason {
    /// The credential is (nearly) expired, or lacks what the provider derives from it.
    Due,
    /// The upstream refused this token with 401.
    Rejected(Credential),
}

/// The credential to use for this attempt, renewed first when it is due. An account that
/// needs a new login, or whose renewal failed with no usable token left, is skipped with a
/// failure that lets the next account try.
pub async fn fresh(
    app: &App,
    provider: &Provider,
    account: &Account,
) -> Result<Credential, Failure> {
    let live = &account.credential;
    if live.needs_login() {
        return Err(needs_login(provider, account));
    }
    let current = live.get();
    if !provider.executor.needs_refresh(&current) {
        return Ok(current);
    }
    match refresh(app, provider, account, Reason::Due).await {
        Ok(c) => Ok(c),
        Err(RefreshError::Terminal(_)) => Err(needs_login(provider, account)),
        Err(RefreshError::NotSupported) => Ok(current),
        Err(RefreshError::Transient(m)) => {
            let still_valid =
                !current.token().is_empty() && !current.expires_within(std::time::Duration::ZERO);
            if still_valid {
                Ok(current)
            } else {
                Err(Failure {
                    error: ApiError::new(
                        502,
                        ErrorKind::Upstream,
                        format!(
                            "cannot renew the credential of account `{}` of provider `{}`: {m}",
                            account.name, provider.name
                        ),
                    ),
                    upstream_body: None,
                    class: FailureClass::Transient,
                    retry_after: None,
                })
            }
        }
    }
}

/// After a 401 for `used`: renews the credential once (unless another request already has)
/// and returns it for one more try on the same account.
async fn reauthorize(
    app: &App,
    provider: &Provider,
    account: &Account,
    used: &Credential,
) -> Option<Credential> {
    if used.refresh_token().is_none() || account.credential.needs_login() {
        return None;
    }
    refresh(app, provider, account, Reason::Rejected(used.clone()))
        .await
        .ok()
}

/// Sends the request once more with a renewed credential when the upstream answered `sent`
/// with 401 and a renewal was possible; otherwise `sent` as it was.
pub async fn again_after_401<F, Fut>(
    app: &App,
    provider: &Provider,
    account: &Account,
    used: &Credential,
    sent: Result<Response<Incoming>, Failure>,
    resend: F,
) -> Result<Response<Incoming>, Failure>
where
    F: FnOnce(Credential) -> Fut,
    Fut: Future<Output = Result<Response<Incoming>, Failure>>,
{
    if !matches!(&sent, Ok(res) if res.status() == http::StatusCode::UNAUTHORIZED) {
        return sent;
    }
    match reauthorize(app, provider, account, used).await {
        Some(renewed) => {
            drop(sent);
            resend(renewed).await
        }
        None => sent,
    }
}

async fn refresh(
    app: &App,
    provider: &Provider,
    account: &Account,
    reason: Reason,
) -> Result<Credential, RefreshError> {
    let key = format!("{}/{}", provider.name, account.name);
    let live = &account.credential;
    let shared_key = key.clone();
    app.credentials
        .gate
        .run(key, || async move {
            let _turn = match provider.executor.refresh_serially() {
                true => Some(app.credentials.serial_lock(&provider.name).lock_owned().await),
                false => None,
            };
            // A refresh that finished while this one waited may have done the work.
            let current = live.get();
            let due = match &reason {
                Reason::Due => provider.executor.needs_refresh(&current),
                Reason::Rejected(used) => current.same_token(used),
            };
            if !due {
                return Ok(current);
            }
            if live.needs_login() {
                return Err(RefreshError::Terminal("the account needs a new login".into()));
            }
            let renew = || provider.executor.refresh(&current, &app.client);
            let result = match crate::cluster::active() {
                Some(cluster) => {
                    let still_due = |c: &Credential| match &reason {
                        Reason::Due => provider.executor.needs_refresh(c),
                        Reason::Rejected(used) => c.same_token(used),
                    };
                    cluster.refresh_once(&shared_key, |c| !still_due(c), renew).await
                }
                None => renew().await,
            };
            match &result {
                Ok(new) => {
                    live.set(new.clone());
                    tracing::info!(provider = %provider.name, account = %account.name, "credential renewed");
                    if let (Some(store), Some(id)) = (app.credentials.store.clone(), live.id) {
                        let new = new.clone();
                        let written = tokio::task::spawn_blocking(move || store.update_credential(id, &new)).await;
                        if !matches!(written, Ok(Ok(()))) {
                            tracing::error!(provider = %provider.name, account = %account.name, "cannot store the renewed credential");
                        }
                    }
                }
                Err(RefreshError::Terminal(m)) => {
                    live.needs_login_since_ms.store(
                        crate::routing::epoch_ms(switchyard_hub::clock::now()),
                        Ordering::Release,
                    );
                    live.needs_login.store(true, Ordering::Release);
                    tracing::warn!(provider = %provider.name, account = %account.name, "account needs a new login: {m}");
                    if let (Some(store), Some(id)) = (app.credentials.store.clone(), live.id) {
                        let reason = m.clone();
                        let _ = tokio::task::spawn_blocking(move || {
                            store.set_status(id, AccountStatus::NeedsLogin, Some(&reason))
                        })
                        .await;
                    }
                }
                Err(e) => {
                    tracing::warn!(provider = %provider.name, account = %account.name, "credential renewal failed: {e}");
                }
            }
            result
        })
        .await
}

fn needs_login(provider: &Provider, account: &Account) -> Failure {
    Failure {
        error: ApiError::new(
            503,
            ErrorKind::Upstream,
            format!(
                "account `{}` of provider `{}` needs a new login: run `switchyard login {}`",
                account.name, provider.name, provider.name
            ),
        )
        .with_code("needs_login"),
        upstream_body: None,
        class: FailureClass::Auth,
        retry_after: None,
    }
}
