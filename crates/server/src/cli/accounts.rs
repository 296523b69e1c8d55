//! `switchyard login`, `switchyard accounts` and `switchyard import`: accounts kept in the
//! database beside the usage table. Nothing here prints a secret.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use switchyard_auth::Credential;
use switchyard_auth::import;
use switchyard_auth::oauth::LoginUi;
use switchyard_auth::store::{AccountStatus, Store, StoredAccount};
use switchyard_provider::{ClientOptions, Executor, ProviderSettings, UpstreamClient};

use crate::cli::Error;
use crate::config::{self, Config, ProviderConfig};

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
fn provider<'a>(config: &'a Config, name: &str) -> Result<&'a ProviderConfig, Error> {
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
fn account_name(
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
    say(&format!(
        "Logged in: account `{name}` of provider `{}` is stored in {}. A running server takes it in within `server.account_reload_ms` (5 s by default).",
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
    match status {
        Some(status) => {
            store.set_status(account.id, status, None)?;
            say(&format!("{label} is now {}", status.as_str()));
        }
        None => {
            store.remove(account.id)?;
            say(&format!("{label} removed"));
        }
    }
    say("A running server takes the change in within `server.account_reload_ms` (5 s by default).");
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
    if config.providers.iter().all(|p| p.accounts.is_empty()) && stored.is_empty() {
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
