//! The shared, immutable state every request reads.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use switchyard_auth::store::{AccountStatus, Store};
use switchyard_auth::{Credential, Secret};
use switchyard_hub::Registry;
use switchyard_provider::{ClientOptions, Executor, ProviderSettings, UpstreamClient};

use crate::config::Config;
use crate::credentials::{Credentials, Live};
use crate::debug_log::DebugLogger;
use crate::usage_store::UsageSink;

pub struct App {
    pub config: Config,
    pub registry: Registry,
    pub providers: Vec<Provider>,
    pub client: UpstreamClient,
    pub usage: UsageSink,
    pub debug: Option<DebugLogger>,
    pub credentials: Credentials,
}

pub struct Provider {
    pub name: String,
    pub models: Vec<String>,
    pub executor: Arc<dyn Executor>,
    pub accounts: Vec<Account>,
    /// Where the next request starts in `accounts`, so load spreads across them.
    next: AtomicUsize,
}

pub struct Account {
    pub name: String,
    pub credential: Live,
}

impl Provider {
    /// Accounts in the order this request should try them.
    pub fn rotation(&self) -> impl Iterator<Item = &Account> {
        let n = self.accounts.len().max(1);
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        self.accounts
            .iter()
            .cycle()
            .skip(start)
            .take(self.accounts.len())
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

pub fn build(
    config: Config,
    usage: UsageSink,
    debug: Option<DebugLogger>,
) -> Result<App, StartError> {
    let registry = Registry::load()?;
    let kinds = switchyard_provider::executor::kinds()?;
    let store = Arc::new(Store::open(&config.database)?);
    let stored = store.list(None)?;
    for a in &stored {
        if !config.providers.iter().any(|p| p.name == a.provider) {
            tracing::warn!(
                "account `{}` belongs to provider `{}`, which the config does not declare; it is not used",
                a.name,
                a.provider
            );
        }
    }
    let mut providers = Vec::new();
    for p in &config.providers {
        let Some(kind) = kinds.get(p.kind.as_str()) else {
            let mut known: Vec<_> = kinds.keys().copied().collect();
            known.sort();
            return Err(StartError::UnknownKind {
                provider: p.name.clone(),
                kind: p.kind.clone(),
                known: known.join(", "),
            });
        };
        let executor = (kind.create)(ProviderSettings {
            name: p.name.clone(),
            base_url: p.base_url.clone(),
            user_agent: Some(p.user_agent.clone()),
            headers: p.headers.clone(),
            options: p.options.clone(),
        });
        providers.push(Provider {
            name: p.name.clone(),
            models: p.models.clone(),
            executor,
            accounts: p
                .accounts
                .iter()
                .map(|a| Account {
                    name: a.name.clone(),
                    credential: Live::new(Credential::ApiKey(a.key.clone()), None, false),
                })
                .chain(
                    stored
                        .iter()
                        .filter(|a| a.provider == p.name && a.status != AccountStatus::Disabled)
                        .filter(|a| !p.accounts.iter().any(|c| c.name == a.name))
                        .map(|a| Account {
                            name: a.name.clone(),
                            credential: Live::new(
                                a.credential.clone(),
                                Some(a.id),
                                a.status == AccountStatus::NeedsLogin,
                            ),
                        }),
                )
                .collect(),
            next: AtomicUsize::new(0),
        });
    }
    let client = UpstreamClient::new(&ClientOptions {
        connect_timeout: config.timeouts.connect,
        ..ClientOptions::default()
    })?;
    Ok(App {
        config,
        registry,
        providers,
        client,
        usage,
        debug,
        credentials: Credentials::new(Some(store)),
    })
}

impl App {
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
        assert_eq!(importers, ["claude", "codex", "gemini"]);
    }
}
