//! The command line: what each `switchyard` subcommand takes, and the commands other than
//! `serve` that read or change what a server keeps (accounts, usage, aliases and combos).

pub mod accounts;
pub mod keys;
pub mod report;
pub mod stored;

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use switchyard_auth::AuthError;
use switchyard_provider::client::ClientBuildError;
use switchyard_provider::executor::DuplicateKind;

use crate::config;
use crate::state::usage_store;

#[derive(Parser)]
#[command(
    name = "switchyard",
    version,
    about = "An LLM API proxy: one endpoint, every client format, many accounts"
)]
pub struct Cli {
    /// Config file; created with commented defaults when absent.
    #[arg(
        long,
        global = true,
        env = "SWITCHYARD_CONFIG",
        default_value = "data/config.toml"
    )]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the proxy (the default).
    Serve {
        /// Address to listen on, e.g. 127.0.0.1:4100 (port 0 picks a free one).
        #[arg(long, env = "SWITCHYARD_LISTEN")]
        listen: Option<String>,
    },
    /// Summarise recorded usage by day, provider, model and client key.
    Usage {
        #[arg(long, default_value_t = 30)]
        days: u32,
    },
    /// Show each account's health: cooldowns, failures and today's counters.
    Status,
    /// Aliases kept in the database (beside those in the config file).
    Alias {
        #[command(subcommand)]
        action: StoredAction,
    },
    /// Combos (ordered fallback chains) kept in the database.
    Combo {
        #[command(subcommand)]
        action: StoredAction,
    },
    /// Log an account in to a provider (Claude, Codex, Gemini Code Assist, Copilot) and
    /// store it. PROVIDER is a configured provider's name, or a kind only one has.
    Login {
        provider: String,
        /// The account's name (default: the e-mail or login the provider reports).
        #[arg(long)]
        name: Option<String>,
        /// Print the URL instead of opening a browser (also SWITCHYARD_NO_BROWSER=1).
        #[arg(long)]
        no_browser: bool,
    },
    /// List accounts (configured and stored), or disable, enable or remove a stored one.
    Accounts {
        #[command(subcommand)]
        action: Option<AccountsCommand>,
    },
    /// Client keys kept in the database (beside those in the config file): create one
    /// (its secret printed once), list them, revoke one. A running server takes a change in
    /// within a second.
    Keys {
        #[command(subcommand)]
        action: Option<KeysCommand>,
    },
    /// Import a login another tool holds: claude (Claude Code), codex (Codex CLI), gemini
    /// (Gemini CLI), kiro (Kiro IDE), cursor (Cursor IDE).
    Import {
        source: String,
        /// The tool's credentials file (Cursor: its state.vscdb), if not at its default place.
        #[arg(long)]
        path: Option<PathBuf>,
        /// The provider to store it under (default: the one provider of the right kind).
        #[arg(long)]
        provider: Option<String>,
        #[arg(long)]
        name: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum StoredAction {
    /// Create or replace NAME: an alias takes one `provider/model`, a combo one or more
    /// (`provider/model@account` pins an account).
    Set { name: String, targets: Vec<String> },
    /// Delete NAME.
    Remove { name: String },
    /// List them, from the config file and the database.
    List,
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Make a key called NAME and print its secret (only this once).
    Create {
        name: String,
        /// Requests per minute.
        #[arg(long)]
        rpm: Option<u32>,
        #[arg(long)]
        tokens_per_day: Option<u64>,
        #[arg(long)]
        tokens_per_month: Option<u64>,
        /// When the key stops working: a date (2027-01-31, 00:00 UTC) or an RFC 3339 time.
        #[arg(long)]
        expires: Option<String>,
    },
    /// Every key, the config file's and the stored ones, secrets masked (the default).
    List,
    /// Revoke the stored key ID: its next request is refused.
    Revoke { id: String },
}

#[derive(Subcommand)]
pub enum AccountsCommand {
    /// Every account and its state (the default).
    List,
    /// Stop using a stored account (`provider/name` or `name`).
    Disable { account: String },
    /// Use a disabled account again.
    Enable { account: String },
    /// Delete a stored account and its tokens.
    Remove { account: String },
    /// Clear cooldowns (per-model ones too), backoff, failure counts and the automatic
    /// set-aside of ACCOUNT (`provider/name` or `name`), of a provider's accounts
    /// (`--provider P`) or of every account (`--all`). A running server applies it within
    /// `server.account_reload_ms`, a stopped one when it starts. An account you disabled
    /// stays disabled; one that needs a login still needs it.
    Reset {
        account: Option<String>,
        #[arg(long)]
        provider: Option<String>,
        #[arg(long, conflicts_with_all = ["account", "provider"])]
        all: bool,
    },
}

/// Why a command failed; printed as `switchyard: <message>`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Serve(#[from] crate::StartError),
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Invalid(#[from] config::Invalid),
    #[error("cannot open the database {}: {source}", path.display())]
    Database {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(transparent)]
    Sql(#[from] rusqlite::Error),
    #[error("cannot open the account store {}: {source}", path.display())]
    Store { path: PathBuf, source: AuthError },
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Executors(#[from] DuplicateKind),
    #[error(transparent)]
    Client(#[from] ClientBuildError),
    #[error("cannot start the runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// What was asked cannot be done: an unknown provider or account, a name the config
    /// file owns. The message says what to do instead.
    #[error("{0}")]
    Refused(String),
}

/// Runs a command: `serve` until shutdown, the others once.
pub fn run(config: &Path, command: Command) -> Result<(), Error> {
    match command {
        Command::Serve { listen } => Ok(crate::serve(config, listen)?),
        Command::Usage { days } => report::usage(config, days),
        Command::Status => report::status(config),
        Command::Alias { action } => stored::manage(config, "alias", action),
        Command::Combo { action } => stored::manage(config, "combo", action),
        Command::Login {
            provider,
            name,
            no_browser,
        } => accounts::login(config, &provider, name, no_browser),
        Command::Accounts { action } => {
            let action = match action.unwrap_or(AccountsCommand::List) {
                AccountsCommand::List => accounts::Action::List,
                AccountsCommand::Disable { account } => accounts::Action::Disable(account),
                AccountsCommand::Enable { account } => accounts::Action::Enable(account),
                AccountsCommand::Remove { account } => accounts::Action::Remove(account),
                AccountsCommand::Reset {
                    account,
                    provider,
                    all,
                } => return accounts::reset(config, account, provider, all),
            };
            accounts::accounts(config, action)
        }
        Command::Keys { action } => match action.unwrap_or(KeysCommand::List) {
            KeysCommand::Create {
                name,
                rpm,
                tokens_per_day,
                tokens_per_month,
                expires,
            } => keys::create(
                config,
                keys::NewKey {
                    name,
                    limits: crate::routing::limits::Limits {
                        requests_per_minute: rpm,
                        tokens_per_day,
                        tokens_per_month,
                    },
                    expires,
                },
            ),
            KeysCommand::List => keys::list(config),
            KeysCommand::Revoke { id } => keys::revoke(config, &id),
        },
        Command::Import {
            source,
            path,
            provider,
            name,
        } => accounts::import(config, &source, path, provider, name),
    }
}

/// The config and the database, for the commands that read or change what a server keeps.
pub(crate) fn config_and_database(
    config_path: &Path,
) -> Result<(config::Config, rusqlite::Connection), Error> {
    let config = config::load(config_path, &config::Overrides::default())?;
    let conn = usage_store::open(&config.database).map_err(|source| Error::Database {
        path: config.database.clone(),
        source,
    })?;
    Ok((config, conn))
}
