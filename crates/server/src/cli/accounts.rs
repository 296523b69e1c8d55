//! `switchyard login`, `switchyard accounts` (list, disable, enable, remove, reset) and
//! `switchyard import`: accounts kept in the database beside the usage table. Nothing here prints a secret.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use switchyard_auth::Credential;
use switchyard_auth::import;
use switchyard_auth::oauth::LoginUi;
use switchyard_auth::store::{AccountStatus, Store, StoredAccount};
use switchyard_provider::{ClientOptions, Executor, ProviderSettings, UpstreamClient};

use serde_json::json;

use crate::api::audit::Change;
use crate::cli::Error;
use crate::config::{self, Config, ProviderConfig};
use crate::state::usage_store::{self, ResetScope};

fn load(config_path: &Path) -> Result<Config, Error> {
    config::load(config_path, &config::Overrides::default()).map_err(Error::from)
}

fn open_store(config: &Config) -> Result<Store, Error> {
    Store::open(&config.database).map_err(|source| Error::Store {
        path: config.database.clone(),
        source,
    })
}

/// The configured provider called `name`, or the only one of kind `name`.
pub(crate) fn provider<'a>(config: &'a Config, name: &str) -> Result<&'a ProviderConfig, Error> {
    if let Some(p) = config.providers.iter().find(|p| p.name == name) {
        return Ok(p);
    }
    let of_kind: Vec<_> = config.providers.iter().filter(|p| p.kind == name).collect();
    match of_kind.as_slice() {
        [one] => Ok(one),
        [] => Err(Error::Refused(format!(
            "no provider `{name}` in the config; declare one first, e.g.\n\n[[providers]]\nname = \"{name}\"\nkind = \"{name}\"\nbase_url = \"...\"\n\n(see README: Provider accounts and login)"
        ))),
        many => Err(Error::Refused(format!(
            "several providers are of kind `{name}` ({}); name one",
            many.iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

fn executor(p: &ProviderConfig) -> Result<Arc<dyn Executor>, Error> {
    let kinds = switchyard_provider::executor::kinds()?;
    let kind = kinds.get(p.kind.as_str()).ok_or_else(|| {
        Error::Refused(format!("provider `{}`: unknown kind `{}`", p.name, p.kind))
    })?;
    Ok((kind.create)(ProviderSettings {
        name: p.name.clone(),
        base_url: p.base_url.clone(),
        user_agent: Some(p.user_agent.clone()),
        headers: p.headers.clone(),
        options: p.options.clone(),
    }))
}

/// A name for a new account: the one asked for, the provider's label, or `<provider>-<n>`.
pub(crate) fn account_name(
    store: &Store,
    provider: &str,
    asked: Option<String>,
    label: Option<String>,
) -> Result<String, Error> {
    if let Some(n) = asked.or(label).filter(|n| !n.trim().is_empty()) {
        return Ok(n.trim().to_owned());
    }
    let taken = store.list(Some(provider))?;
    let mut n = taken.len() + 1;
    while taken.iter().any(|a| a.name == format!("{provider}-{n}")) {
        n += 1;
    }
    Ok(format!("{provider}-{n}"))
}

fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(Error::Runtime)
}

fn say(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

pub fn login(
    config_path: &Path,
    provider_name: &str,
    name: Option<String>,
    no_browser: bool,
) -> Result<(), Error> {
    let config = load(config_path)?;
    let p = provider(&config, provider_name)?;
    let exec = executor(p)?;
    let store = open_store(&config)?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    // Lines typed at the terminal: a pasted callback URL or code.
    std::thread::spawn(move || {
        for line in std::io::stdin().lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let open = !no_browser && std::env::var_os("SWITCHYARD_NO_BROWSER").is_none();
    let ui = LoginUi::new(say, rx, open);
    let rt = runtime()?;
    let outcome = rt.block_on(async {
        let client = UpstreamClient::new(&ClientOptions::default())?;
        exec.login(&client, &ui).await.map_err(Error::from)
    })?;
    let name = account_name(&store, &p.name, name, outcome.label)?;
    store.upsert(&p.name, &name, &outcome.credential)?;
    crate::cli::audit(
        &config,
        Change {
            action: "account.login",
            target: format!("{}/{name}", p.name),
            before: None,
            after: Some(json!({"provider": p.name, "account": name})),
        },
    )?;
    say(&format!(
        "Logged in: account `{name}` of provider `{}` is stored in {}. A running server takes it in within a second.",
        p.name,
        config.database.display()
    ));
    rt.shutdown_background();
    Ok(())
}

pub fn import(
    config_path: &Path,
    source: &str,
    path: Option<PathBuf>,
    provider_name: Option<String>,
    name: Option<String>,
) -> Result<(), Error> {
    let importer = import::find(source).ok_or_else(|| {
        let known: Vec<_> = import::importers().iter().map(|i| i.name).collect();
        Error::Refused(format!(
            "no importer `{source}` (known: {})",
            known.join(", ")
        ))
    })?;
    let config = load(config_path)?;
    let p = match provider_name {
        Some(n) => provider(&config, &n)?,
        None => provider(&config, importer.kind)?,
    };
    if p.kind != importer.kind {
        return Err(Error::Refused(format!(
            "provider `{}` is of kind `{}`; a {source} login belongs to a `{}` provider",
            p.name, p.kind, importer.kind
        )));
    }
    let (from, imported) = import::run(importer, path.as_deref())?;
    let store = open_store(&config)?;
    let name = account_name(&store, &p.name, name, imported.label)?;
    store.upsert(&p.name, &name, &imported.credential)?;
    crate::cli::audit(
        &config,
        Change {
            action: "account.import",
            target: format!("{}/{name}", p.name),
            before: None,
            after: Some(json!({"provider": p.name, "account": name, "from": source})),
        },
    )?;
    say(&format!(
        "Imported {} as account `{name}` of provider `{}`. It is refreshed by Switchyard from now on; \
         the other tool may have to log in again once the refresh token rotates.",
        from.display(),
        p.name
    ));
    Ok(())
}

/// What `switchyard accounts` may do.
pub enum Action {
    List,
    Disable(String),
    Enable(String),
    Remove(String),
}

pub fn accounts(config_path: &Path, action: Action) -> Result<(), Error> {
    let config = load(config_path)?;
    let store = open_store(&config)?;
    let (spec, status) = match action {
        Action::List => {
            print!("{}", list(&config, &store)?);
            return Ok(());
        }
        Action::Disable(s) => (s, Some(AccountStatus::Disabled)),
        Action::Enable(s) => (s, Some(AccountStatus::Active)),
        Action::Remove(s) => (s, None),
    };
    let account = find(&store, &spec)?;
    let label = format!("{}/{}", account.provider, account.name);
    let before = Some(json!({"status": account.status.as_str()}));
    let change = match status {
        Some(status) => {
            store.set_status(account.id, status, None)?;
            say(&format!("{label} is now {}", status.as_str()));
            Change {
                action: if status == AccountStatus::Disabled {
                    "account.disable"
                } else {
                    "account.enable"
                },
                target: label,
                before,
                after: Some(json!({"status": status.as_str()})),
            }
        }
        None => {
            store.remove(account.id)?;
            say(&format!("{label} removed"));
            Change {
                action: "account.remove",
                target: label,
                before,
                after: None,
            }
        }
    };
    crate::cli::audit(&config, change)?;
    say("A running server takes the change in within a second.");
    Ok(())
}

/// `provider/name`, or a name only one provider has.
fn find(store: &Store, spec: &str) -> Result<StoredAccount, Error> {
    let all = store.list(None)?;
    let matches: Vec<_> = all
        .into_iter()
        .filter(|a| format!("{}/{}", a.provider, a.name) == spec || a.name == spec)
        .collect();
    match matches.len() {
        1 => matches
            .into_iter()
            .next()
            .ok_or_else(|| Error::Refused("no such account".to_owned())),
        0 => Err(Error::Refused(format!(
            "no stored account `{spec}` (see `switchyard accounts`)"
        ))),
        _ => Err(Error::Refused(format!(
            "`{spec}` names several accounts; use provider/name"
        ))),
    }
}

fn list(config: &Config, store: &Store) -> Result<String, Error> {
    let stored = store.list(None)?;
    let mut out = format!(
        "{:<14}  {:<28}  {:<7}  {:<7}  {:<12}  {}\n",
        "provider", "account", "source", "auth", "status", "token expires"
    );
    for p in &config.providers {
        for a in &p.accounts {
            out.push_str(&format!(
                "{:<14}  {:<28}  {:<7}  {:<7}  {:<12}  {}\n",
                p.name, a.name, "config", "api key", "active", "-"
            ));
        }
        for u in &p.unset_keys {
            out.push_str(&format!(
                "{:<14}  {:<28}  {:<7}  {:<7}  {:<12}  {}  (skipped: environment variable {} is not set)\n",
                p.name, u.account, "config", "api key", "key unset", "-", u.var
            ));
        }
    }
    for a in &stored {
        let auth = if a.credential.is_oauth() {
            "oauth"
        } else {
            "api key"
        };
        let mut status = a.status.as_str().to_owned();
        if !config.providers.iter().any(|p| p.name == a.provider) {
            status.push_str(" (provider not configured)");
        }
        let mut line = format!(
            "{:<14}  {:<28}  {:<7}  {:<7}  {:<12}  {}",
            a.provider,
            a.name,
            "store",
            auth,
            status,
            expiry(&a.credential)
        );
        if let Some(r) = &a.status_reason {
            line.push_str(&format!("  ({r})"));
        }
        out.push_str(&line);
        out.push('\n');
    }
    if config
        .providers
        .iter()
        .all(|p| p.accounts.is_empty() && p.unset_keys.is_empty())
        && stored.is_empty()
    {
        out.push_str(
            "(no accounts: add api keys to the config, or `switchyard login <provider>`)\n",
        );
    }
    Ok(out)
}

fn expiry(c: &Credential) -> String {
    let Some(at) = c.expires_at() else {
        return "-".into();
    };
    let human = |secs: u64| {
        if secs >= 86_400 {
            format!("{}d{}h", secs / 86_400, secs % 86_400 / 3600)
        } else if secs >= 3600 {
            format!("{}h{}m", secs / 3600, secs % 3600 / 60)
        } else {
            format!("{}m{}s", secs / 60, secs % 60)
        }
    };
    match at.duration_since(switchyard_hub::clock::now()) {
        Ok(left) => format!("in {}", human(left.as_secs())),
        Err(e) => format!("{} ago (renewed on use)", human(e.duration().as_secs())),
    }
}

/// An account a reset may cover, with why it might not take effect.
struct Candidate {
    provider: String,
    name: String,
    status: AccountStatus,
}

/// Every account a server would hold: the config's and the store's, for configured providers.
fn candidates(config: &Config, store: &Store) -> Result<Vec<Candidate>, Error> {
    let mut out: Vec<Candidate> = config
        .providers
        .iter()
        .flat_map(|p| {
            p.accounts.iter().map(|a| Candidate {
                provider: p.name.clone(),
                name: a.name.clone(),
                status: AccountStatus::Active,
            })
        })
        .collect();
    for a in store.list(None)? {
        let configured = config.providers.iter().any(|p| p.name == a.provider);
        let shadowed = out
            .iter()
            .any(|c| c.provider == a.provider && c.name == a.name);
        if configured && !shadowed {
            out.push(Candidate {
                provider: a.provider,
                name: a.name,
                status: a.status,
            });
        }
    }
    Ok(out)
}

/// `switchyard accounts reset ACCOUNT | --provider P | --all`.
///
/// It records a reset request in the database rather than editing the saved state alone: a
/// running server holds its accounts' state in memory and saves it over the database, so an
/// edit would be overwritten. The server's account reload loop applies the request (within
/// `server.account_reload_ms`) and a stopped server applies it when it starts; the saved
/// state is also cleared at once, so `switchyard status` shows the reset meanwhile. This
/// works the same whether or not a server runs, with no need to reach its address or hold
/// its admin key.
pub fn reset(
    config_path: &Path,
    account: Option<String>,
    provider_name: Option<String>,
    all: bool,
) -> Result<(), Error> {
    let (config, mut conn) = crate::cli::config_and_database(config_path)?;
    let store = open_store(&config)?;
    let candidates = candidates(&config, &store)?;
    let scope = match (account, provider_name, all) {
        (None, None, true) => ResetScope::All,
        (None, Some(p), false) => ResetScope::Provider(provider(&config, &p)?.name.clone()),
        (Some(spec), p, false) => {
            let (p, name) = match (spec.split_once('/'), p) {
                (Some((sp, n)), None) => (Some(provider(&config, sp)?.name.clone()), n.to_owned()),
                (Some(_), Some(_)) => {
                    return Err(Error::Refused(
                        "name the account as provider/name or with --provider, not both".into(),
                    ));
                }
                (None, Some(p)) => (Some(provider(&config, &p)?.name.clone()), spec.clone()),
                (None, None) => (None, spec.clone()),
            };
            let found: Vec<&Candidate> = candidates
                .iter()
                .filter(|c| c.name == name && p.as_ref().is_none_or(|p| *p == c.provider))
                .collect();
            match found.as_slice() {
                [one] if one.status == AccountStatus::Disabled => {
                    return Err(Error::Refused(format!(
                        "{}/{} is disabled: a reset does not enable it (`switchyard accounts enable {}/{}` does)",
                        one.provider, one.name, one.provider, one.name
                    )));
                }
                [one] => ResetScope::Account {
                    provider: one.provider.clone(),
                    account: one.name.clone(),
                },
                [] => {
                    return Err(Error::Refused(format!(
                        "no account `{spec}` (see `switchyard accounts`)"
                    )));
                }
                _ => {
                    return Err(Error::Refused(format!(
                        "`{spec}` names several accounts; use provider/name"
                    )));
                }
            }
        }
        _ => {
            return Err(Error::Refused(
                "name an account (provider/name or name), --provider P, or --all".into(),
            ));
        }
    };
    let covered: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| scope.covers(&c.provider, &c.name))
        .collect();
    if covered.iter().all(|c| c.status == AccountStatus::Disabled) {
        return Err(Error::Refused(format!(
            "no account in use matches {scope} (see `switchyard accounts`)"
        )));
    }
    let now = crate::routing::epoch_ms(switchyard_hub::clock::now());
    usage_store::request_reset(&mut conn, &scope, now)?;
    crate::api::audit::write(
        &conn,
        "cli",
        Change {
            action: "account.reset",
            target: scope.audit_target(),
            before: None,
            after: Some(json!({"requested": true})),
        },
    )?;
    for c in covered {
        let label = format!("{}/{}", c.provider, c.name);
        match c.status {
            AccountStatus::Active => say(&format!("reset {label}")),
            AccountStatus::NeedsLogin => say(&format!(
                "reset {label} (it still needs `switchyard login {}`)",
                c.provider
            )),
            AccountStatus::Disabled => say(&format!("left {label} as is: it is disabled")),
        }
    }
    say("A running server applies the reset within a second; a stopped one when it starts.");
    Ok(())
}
