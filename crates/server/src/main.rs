//! `switchyard`: an LLM API proxy. `serve` runs it; `usage` summarises what it recorded.

// Translating a stream allocates a few small JSON values per event; mimalloc takes about
// a third off the proxy's CPU per translated stream (`cargo xtask bench`, cpu/req). Its
// `no_thp` build keeps huge pages out, which otherwise added ~30 MB at 1,000 open streams.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod accounts_cli;
mod app;
mod busy_poll;
mod call;
mod client_auth;
mod config;
mod credentials;
mod debug_log;
mod deliver;
mod metrics;
mod models;
mod proxy;
mod respond;
mod routes;
mod routing;
mod serve;
mod stream_body;
mod turn;
mod usage_store;

// Executor crates register themselves; naming them keeps the linker from dropping them.
use switchyard_claude as _;
use switchyard_codex as _;
use switchyard_copilot as _;
use switchyard_cursor as _;
use switchyard_gemini as _;
use switchyard_kiro as _;
use switchyard_openai as _;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "switchyard",
    version,
    about = "An LLM API proxy: one endpoint, every client format, many accounts"
)]
struct Cli {
    /// Config file; created with commented defaults when absent.
    #[arg(
        long,
        global = true,
        env = "SWITCHYARD_CONFIG",
        default_value = "data/config.toml"
    )]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
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
        action: RouteAction,
    },
    /// Combos (ordered fallback chains) kept in the database.
    Combo {
        #[command(subcommand)]
        action: RouteAction,
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
enum RouteAction {
    /// Create or replace NAME: an alias takes one `provider/model`, a combo one or more
    /// (`provider/model@account` pins an account).
    Set { name: String, targets: Vec<String> },
    /// Delete NAME.
    Remove { name: String },
    /// List them, from the config file and the database.
    List,
}

#[derive(Subcommand)]
enum AccountsCommand {
    /// Every account and its state (the default).
    List,
    /// Stop using a stored account (`provider/name` or `name`).
    Disable { account: String },
    /// Use a disabled account again.
    Enable { account: String },
    /// Delete a stored account and its tokens.
    Remove { account: String },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SWITCHYARD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Serve { listen: None }) {
        Command::Serve { listen } => serve(&cli.config, listen),
        Command::Usage { days } => usage(&cli.config, days),
        Command::Status => status(&cli.config),
        Command::Alias { action } => routes(&cli.config, "alias", action),
        Command::Combo { action } => routes(&cli.config, "combo", action),
        Command::Login {
            provider,
            name,
            no_browser,
        } => accounts_cli::login(&cli.config, &provider, name, no_browser),
        Command::Accounts { action } => {
            let action = match action.unwrap_or(AccountsCommand::List) {
                AccountsCommand::List => accounts_cli::Action::List,
                AccountsCommand::Disable { account } => accounts_cli::Action::Disable(account),
                AccountsCommand::Enable { account } => accounts_cli::Action::Enable(account),
                AccountsCommand::Remove { account } => accounts_cli::Action::Remove(account),
            };
            accounts_cli::accounts(&cli.config, action)
        }
        Command::Import {
            source,
            path,
            provider,
            name,
        } => accounts_cli::import(&cli.config, &source, path, provider, name),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("switchyard: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(config_path: &std::path::Path, listen: Option<String>) -> Result<(), String> {
    let overrides = config::Overrides { listen };
    let mut config = config::load(config_path, &overrides).map_err(|e| e.to_string())?;
    for w in &config.warnings {
        tracing::warn!("{w}");
    }
    // One current-thread runtime per serving thread (default: one per core), each with its
    // own listener on the same port (SO_REUSEPORT: the kernel spreads connections) and its
    // own upstream pool, so a request's client and upstream connections live on one thread
    // and never hand over across cores (the costliest part of a proxied request on a
    // virtual machine). This thread serves the first listener and holds the shared work.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async move {
        let conn = usage_store::open(&config.database)
            .map_err(|e| format!("cannot open the usage database {}: {e}", config.database.display()))?;
        let (aliases, combos) = usage_store::load_routes(&conn).map_err(|e| format!("cannot read stored routes: {e}"))?;
        for w in config.add_stored(aliases, combos) {
            tracing::warn!("{w}");
        }
        let saved = usage_store::load_account_states(&conn).map_err(|e| format!("cannot read account state: {e}"))?;
        let learned = usage_store::load_learned_formats(&conn).map_err(|e| format!("cannot read learned formats: {e}"))?;
        let now = std::time::SystemTime::now();
        let offset = config.routing.day_offset_secs;
        let day_start = routing::day_end(now, offset) - std::time::Duration::from_secs(86_400);
        let used_today = usage_store::tokens_by_key_since(&conn, routing::epoch_ms(day_start))
            .map_err(|e| format!("cannot read today's usage: {e}"))?;
        let month_start = routing::month_bounds(now, offset).0;
        let used_this_month = usage_store::tokens_by_key_since(&conn, routing::epoch_ms(month_start))
            .map_err(|e| format!("cannot read this month's usage: {e}"))?;
        let (usage, usage_writer) = usage_store::start(conn, writer_options())
            .map_err(|e| format!("cannot start the usage writer: {e}"))?;
        let (debug, debug_writer) = if config.debug_logs {
            let (logger, writer) = debug_log::DebugLogger::start(config.logs_dir.clone(), app::App::secrets(&config))
                .map_err(|e| format!("cannot start debug logs in {}: {e}", config.logs_dir.display()))?;
            (Some(logger), Some(writer))
        } else {
            (None, None)
        };
        let threads = config.threads.max(1);
        let listen_error = |e: std::io::Error| format!("cannot listen on {}: {e}", config.listen);
        let mut others = serve::listeners(config.listen, threads).map_err(listen_error)?;
        let first = others.remove(0);
        let addr = first.local_addr().map_err(|e| e.to_string())?;
        let listener = tokio::net::TcpListener::from_std(first).map_err(|e| e.to_string())?;
        let app = Arc::new(app::build(config, usage, debug, &saved).map_err(|e| e.to_string())?);
        for (name, model, format) in &learned {
            let provider = app.providers.iter().find(|p| &p.name == name);
            if let (Some(p), Some(f)) = (provider, switchyard_hub::Format::parse(format)) {
                p.executor.restore_format(model, f);
            }
        }
        app.limits.seed(
            routing::day_number(now, offset),
            used_today,
            routing::month_number(now, offset),
            used_this_month,
        );

        if app.config.client_keys.is_empty() {
            tracing::warn!("no client keys configured: only loopback clients are served");
        }
        let pairs: Vec<String> = app.registry.pairs().iter().map(|(a, b)| format!("{a}->{b}")).collect();
        tracing::info!(providers = app.providers.len(), translators = %pairs.join(" "), debug_logs = app.debug.is_some(), "ready");
        // The one line tests and scripts read to learn the port.
        println!("switchyard listening on http://{addr}");

        let reload = tokio::spawn(reload_accounts(app.clone()));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut workers = Vec::new();
        for (i, listener) in others.into_iter().enumerate() {
            let (app, mut stopped) = (app.clone(), stopped.clone());
            let worker = std::thread::Builder::new()
                .name(format!("serve-{}", i + 1))
                .spawn(move || serve_thread(i + 1, app, listener, async move {
                    let _ = stopped.wait_for(|s| *s).await;
                }))
                .map_err(|e| format!("cannot start a serving thread: {e}"))?;
            workers.push(worker);
        }
        drop(stopped);
        serve::run(app.clone(), listener, async move {
            serve::shutdown_signal().await;
            let _ = stop.send(true);
        })
        .await;
        // The other threads finish their open requests too.
        let joined = tokio::task::spawn_blocking(move || {
            for w in workers {
                if let Ok(Err(e)) = w.join() {
                    tracing::error!("serving thread: {e}");
                }
            }
        });
        let _ = joined.await;
        // The reload task holds the app (and through it the usage sink): stop it first so
        // the writers can drain and stop.
        reload.abort();
        let _ = reload.await;
        drop(app);
        // Every request has ended; the writers drain their queues and stop.
        tokio::task::spawn_blocking(move || {
            usage_writer.close();
            if let Some(w) = debug_writer {
                w.close();
            }
        })
        .await
        .map_err(|e| e.to_string())
    })
}

/// One serving thread: its own current-thread runtime and upstream pool, serving
/// `listener` until `shutdown`.
fn serve_thread(
    lane: usize,
    app: Arc<app::App>,
    listener: std::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), String> {
    switchyard_provider::client::enter_lane(lane);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener).map_err(|e| e.to_string())?;
        serve::run(app, listener, shutdown).await;
        Ok(())
    })
}

/// The usage writer's options. Two environment variables exist for tests only, to play a
/// slow disk: `SWITCHYARD_TEST_USAGE_ROWS_PER_SEC` holds the writer to that many rows a
/// second, `SWITCHYARD_TEST_USAGE_QUEUE_BYTES` shrinks its queue's budget.
fn writer_options() -> usage_store::WriterOptions {
    let num = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    let mut options = usage_store::WriterOptions::default();
    if let Some(rate) = num("SWITCHYARD_TEST_USAGE_ROWS_PER_SEC") {
        options.rows_per_sec = u32::try_from(rate).ok();
    }
    if let Some(bytes) = num("SWITCHYARD_TEST_USAGE_QUEUE_BYTES") {
        options.queue_bytes = usize::try_from(bytes).unwrap_or(options.queue_bytes);
    }
    options
}

/// The config and the database, for the commands that read or change what a server keeps.
fn config_and_database(
    config_path: &std::path::Path,
) -> Result<(config::Config, rusqlite::Connection), String> {
    let config =
        config::load(config_path, &config::Overrides::default()).map_err(|e| e.to_string())?;
    let conn = usage_store::open(&config.database).map_err(|e| {
        format!(
            "cannot open the database {}: {e}",
            config.database.display()
        )
    })?;
    Ok((config, conn))
}

/// Takes in logins added, renewed or removed (`switchyard login`, `import`, `accounts`)
/// while the server runs.
async fn reload_accounts(app: Arc<app::App>) {
    let Some(store) = app.credentials.store.clone() else {
        return;
    };
    let mut tick = tokio::time::interval(app.config.account_reload);
    tick.tick().await;
    loop {
        tick.tick().await;
        let store = store.clone();
        let Ok(Ok(rows)) = tokio::task::spawn_blocking(move || store.list(None)).await else {
            continue;
        };
        for p in &app.providers {
            if p.sync_stored(&rows) {
                tracing::info!(provider = %p.name, accounts = p.accounts().len(), "stored accounts changed");
            }
        }
    }
}

fn usage(config_path: &std::path::Path, days: u32) -> Result<(), String> {
    let (_, conn) = config_and_database(config_path)?;
    let text = usage_store::summary(&conn, days).map_err(|e| e.to_string())?;
    print!("{text}");
    Ok(())
}

fn status(config_path: &std::path::Path) -> Result<(), String> {
    let (config, conn) = config_and_database(config_path)?;
    let saved = usage_store::load_account_states(&conn).map_err(|e| e.to_string())?;
    let now = std::time::SystemTime::now();
    let today = routing::day_number(now, config.routing.day_offset_secs);
    let when = |ms: Option<i64>| {
        ms.map(routing::from_epoch_ms)
            .filter(|t| *t > now)
            .map(|t| {
                chrono::DateTime::<chrono::Utc>::from(t)
                    .format("%H:%M:%SZ")
                    .to_string()
            })
    };
    println!(
        "{:<12}  {:<12}  {:<9}  {:<10}  {:>7}  {:>8}  {:>9}  {:>10}  last error",
        "provider", "account", "status", "until", "backoff", "failures", "req today", "tok today"
    );
    for p in &config.providers {
        for a in &p.accounts {
            let row = saved
                .iter()
                .find(|r| r.provider == p.name && r.account == a.name);
            let default = usage_store::AccountStateRow::default();
            let r = row.unwrap_or(&default);
            let (status, until) = match (when(r.disabled_until_ms), when(r.cooldown_until_ms)) {
                (Some(t), _) => ("disabled", t),
                (None, Some(t)) => ("cooling", t),
                (None, None) => ("ok", "-".to_owned()),
            };
            let (req, tok) = if r.day == today {
                (r.day_requests, r.day_tokens)
            } else {
                (0, 0)
            };
            println!(
                "{:<12}  {:<12}  {:<9}  {:<10}  {:>7}  {:>8}  {:>9}  {:>10}  {}",
                p.name,
                a.name,
                status,
                until,
                r.backoff_level,
                r.consecutive_failures,
                req,
                tok,
                r.last_error.as_ref().map_or("-", |e| e.1.as_str()),
            );
        }
    }
    Ok(())
}

/// `switchyard alias|combo set|remove|list`: the database's aliases and combos. A running
/// server reads them at start-up.
fn routes(config_path: &std::path::Path, kind: &str, action: RouteAction) -> Result<(), String> {
    let (config, conn) = config_and_database(config_path)?;
    match action {
        RouteAction::Set { name, targets } => {
            if kind == "alias" && targets.len() != 1 {
                return Err("an alias takes exactly one `provider/model`".into());
            }
            if config.aliases.contains_key(&name) || config.combos.contains_key(&name) {
                return Err(format!(
                    "`{name}` is defined in the config file; change it there"
                ));
            }
            config.check_stored(&name, &targets)?;
            usage_store::save_route(&conn, &name, kind, &targets).map_err(|e| e.to_string())?;
            println!("{kind} `{name}` -> {}", targets.join(", "));
        }
        RouteAction::Remove { name } => {
            if !usage_store::remove_route(&conn, &name).map_err(|e| e.to_string())? {
                return Err(format!("no stored {kind} named `{name}`"));
            }
            println!("removed {kind} `{name}`");
        }
        RouteAction::List => {
            let (aliases, combos) = usage_store::load_routes(&conn).map_err(|e| e.to_string())?;
            if kind == "alias" {
                for (name, target) in &config.aliases {
                    println!("{name} -> {target}  (config)");
                }
                for (name, target) in aliases {
                    println!("{name} -> {target}  (database)");
                }
            } else {
                for (name, steps) in &config.combos {
                    let steps: Vec<String> = steps
                        .iter()
                        .map(|t| {
                            format!(
                                "{}/{}{}",
                                t.provider,
                                t.model,
                                t.account
                                    .as_ref()
                                    .map(|a| format!("@{a}"))
                                    .unwrap_or_default()
                            )
                        })
                        .collect();
                    println!("{name} -> {}  (config)", steps.join(", "));
                }
                for (name, steps) in combos {
                    println!("{name} -> {}  (database)", steps.join(", "));
                }
            }
        }
    }
    Ok(())
}
