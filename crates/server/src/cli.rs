//! The command line: what each `switchyard` subcommand takes, and the commands other than
//! `serve` that read or change what a server keeps (accounts, usage, aliases and combos).

pub mod accounts;
pub mod keys;
pub mod models;
pub mod replay;
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
        /// How many days back to summarise, today included.
        #[arg(long, default_value_t = 30)]
        days: u32,
    },
    /// Show each account's health: cooldowns, failures and today's counters.
    Status,
    /// Check the config file (every key, value and name it refers to) and print its
    /// warnings; fails when `serve` would refuse to start with it.
    Check,
    /// The model catalogue: context window, max output, prices (USD per million tokens)
    /// and where each entry came from; then each provider's own model list as last fetched
    /// (models the catalogue does not price are flagged "no price").
    Models {
        /// Fetch every provider's model list first (OpenAI-compatible, Anthropic, Gemini
        /// and Copilot APIs have one), with its configured or logged-in accounts.
        #[arg(long)]
        refresh: bool,
    },
    /// Re-run the translators offline on one request's debug-log folder (logs/...) and
    /// print where today's output differs from the recording; exits 1 on a difference.
    Replay {
        /// The request's folder, written with `debug_logs.enabled`.
        dir: PathBuf,
        /// Also copy the folder into the golden cases `cargo test` replays, under this name.
        #[arg(long, value_name = "NAME")]
        save_fixture: Option<String>,
        /// Where golden cases are kept.
        #[arg(long, default_value = "tester/fixtures/replay")]
        fixtures: PathBuf,
    },
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
        /// A configured provider's name, or a kind only one provider has (claude, codex,
        /// gemini-cli, copilot).
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
        /// The tool whose login to import: claude, codex, gemini, kiro or cursor.
        source: String,
        /// The tool's credentials file (Cursor: its state.vscdb), if not at its default place.
        #[arg(long)]
        path: Option<PathBuf>,
        /// The provider to store it under (default: the one provider of the right kind).
        #[arg(long)]
        provider: Option<String>,
        /// The account's name (default: the e-mail or login the tool's file names).
        #[arg(long)]
        name: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum StoredAction {
    /// Create or replace NAME: an alias takes one `provider/model`, a combo one or more
    /// (`provider/model@account` pins an account).
    Set {
        /// The name clients send as their model.
        name: String,
        /// `provider/model` steps in the order to try them (`@account` pins one account).
        targets: Vec<String>,
    },
    /// Delete NAME.
    Remove {
        /// The alias or combo to delete.
        name: String,
    },
    /// List them, from the config file and the database.
    List,
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Make a key called NAME and print its secret (only this once).
    Create {
        /// A name to tell the key by (who or what uses it).
        name: String,
        /// Requests per minute.
        #[arg(long)]
        rpm: Option<u32>,
        /// Tokens (prompt and completion) per day.
        #[arg(long)]
        tokens_per_day: Option<u64>,
        /// Tokens per calendar month.
        #[arg(long)]
        tokens_per_month: Option<u64>,
        /// Dollars per day (at catalogue prices); past it, a 429 until the day resets.
        #[arg(long, value_name = "USD")]
        budget_daily: Option<f64>,
        /// Dollars per calendar month.
        #[arg(long, value_name = "USD")]
        budget_monthly: Option<f64>,
        /// When the key stops working: a date (2027-01-31, 00:00 UTC) or an RFC 3339 time.
        #[arg(long)]
        expires: Option<String>,
    },
    /// Every key, the config file's and the stored ones, secrets masked (the default).
    List,
    /// Revoke the stored key ID: its next request is refused.
    Revoke {
        /// The key's id, as `switchyard keys list` shows it.
        id: String,
    },
}

#[derive(Subcommand)]
pub enum AccountsCommand {
    /// Every account and its state (the default).
    List,
    /// Stop using a stored account (`provider/name` or `name`).
    Disable {
        /// `provider/name`, or a name only one provider has.
        account: String,
    },
    /// Use a disabled account again.
    Enable {
        /// `provider/name`, or a name only one provider has.
        account: String,
    },
    /// Delete a stored account and its tokens.
    Remove {
        /// `provider/name`, or a name only one provider has.
        account: String,
    },
    /// Clear cooldowns (per-model ones too), backoff, failure counts and the automatic
    /// set-aside of ACCOUNT (`provider/name` or `name`), of a provider's accounts
    /// (`--provider P`) or of every account (`--all`). A running server applies it within
    /// `server.account_reload_ms`, a stopped one when it starts. An account you disabled
    /// stays disabled; one that needs a login still needs it.
    Reset {
        /// The account to reset: `provider/name`, or a name only one provider has.
        account: Option<String>,
        /// Reset every account of this provider.
        #[arg(long)]
        provider: Option<String>,
        /// Reset every account of every provider.
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
        Command::Check => check(config),
        Command::Models { refresh } => models::run(config, refresh),
        Command::Replay {
            dir,
            save_fixture,
            fixtures,
        } => replay::run(&dir, save_fixture.as_deref(), &fixtures),
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
                budget_daily,
                budget_monthly,
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
                    budget: crate::routing::budgets::Budget {
                        usd_per_day: budget_daily,
                        usd_per_month: budget_monthly,
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

/// `switchyard check`: loads the config as `serve` would, without creating it or opening
/// the database, so a file (or a documentation snippet) can be checked on its own.
fn check(path: &Path) -> Result<(), Error> {
    if !path.exists() {
        return Err(Error::Refused(format!(
            "{} does not exist (`switchyard serve` creates it with commented defaults)",
            path.display()
        )));
    }
    let config = config::load(path, &config::Overrides::default())?;
    for w in &config.warnings {
        println!("warning: {w}");
    }
    println!(
        "{}: ok ({} providers, {} aliases, {} combos)",
        path.display(),
        config.providers.len(),
        config.aliases.len(),
        config.combos.len()
    );
    Ok(())
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

/// Writes the audit row of a change made at the command line (actor `cli`), as the API
/// writes its own, so `GET /api/audit` shows every change whoever made it.
pub(crate) fn audit(
    config: &config::Config,
    change: crate::api::audit::Change,
) -> Result<(), Error> {
    let conn = usage_store::open(&config.database).map_err(|source| Error::Database {
        path: config.database.clone(),
        source,
    })?;
    crate::api::audit::write(&conn, "cli", change)?;
    Ok(())
}

/// Where the command-line reference page lives, relative to the workspace root.
pub const REFERENCE_PAGE: &str = "docs/src/reference/cli.md";

/// The command-line reference page: every command's `--help`, as clap renders it.
pub fn reference_markdown() -> String {
    use clap::CommandFactory;
    fn walk(cmd: &mut clap::Command, path: &str, out: &mut String) {
        // The page must not depend on the environment it was generated in.
        *cmd = cmd.clone().mut_args(|a| a.hide_env_values(true));
        let help = cmd.render_long_help().to_string();
        out.push_str(&format!(
            "\n## `{path}`\n\n```text\n{}\n```\n",
            help.trim_end()
        ));
        for sub in cmd.get_subcommands_mut() {
            let name = format!("{path} {}", sub.get_name());
            walk(sub, &name, out);
        }
    }
    let mut out = String::from(
        "# Command line\n\n<!-- Generated from crates/server/src/cli.rs by the test \
         `cli::tests::committed_reference_is_current`; do not edit by hand. Regenerate: \
         SWITCHYARD_BLESS_DOCS=1 cargo test --workspace --lib reference -->\n",
    );
    let mut cli = Cli::command().disable_help_subcommand(true);
    walk(&mut cli, "switchyard", &mut out);
    out
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// The committed command-line page is what clap renders today.
    #[test]
    fn committed_reference_is_current() {
        crate::config::reference::assert_page_current(
            super::REFERENCE_PAGE,
            &super::reference_markdown(),
            "the command line",
        );
    }

    /// Every argument of every subcommand says what it is in `--help`.
    #[test]
    fn every_argument_has_a_description() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&super::Cli::command(), "switchyard", &mut missing);
        assert!(
            missing.is_empty(),
            "arguments without a description: {missing:?}"
        );
    }
}
