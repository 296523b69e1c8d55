//! Starting the server: the config and the database read, the writers and the listener
//! started, the [`App`] built, and served until a shutdown signal; then the writers drained.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::state::app::{self, App};
use crate::state::snapshot::{Reconfigure, ReloadSource, ReloadStatus};
use crate::state::{debug_log, usage_store};
use crate::{config, http::serve, reload, routing};

/// Why the server could not start (or stop cleanly).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("cannot start the runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("cannot open the usage database {}: {source}", path.display())]
    Database {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("cannot read {what}: {source}")]
    Read {
        what: &'static str,
        source: rusqlite::Error,
    },
    #[error("cannot start the usage writer: {0}")]
    UsageWriter(#[source] std::io::Error),
    #[error("cannot start debug logs in {}: {source}", dir.display())]
    DebugLogs {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    LocalAddr(std::io::Error),
    #[error("cannot start a serving thread: {0}")]
    Thread(#[source] std::io::Error),
    #[error(transparent)]
    Build(#[from] app::StartError),
    /// The task that drains the writers at shutdown did not finish.
    #[error(transparent)]
    Drain(#[from] tokio::task::JoinError),
}

impl Error {
    /// Reading `what` from the database failed.
    fn read(what: &'static str) -> impl FnOnce(rusqlite::Error) -> Error {
        move |source| Error::Read { what, source }
    }
}

/// Runs the proxy with the config at `config_path` (and `listen` over its address) until a
/// shutdown signal, and returns once every request has ended and every row is written.
pub fn serve(config_path: &Path, listen: Option<String>) -> Result<(), Error> {
    let overrides = config::Overrides { listen };
    let config = load_config(config_path, &overrides)?;
    let watched = (config_path.to_owned(), overrides.clone());
    // One current-thread runtime per serving thread (default: one per core), each with its
    // own listener on the same port (SO_REUSEPORT: the kernel spreads connections) and its
    // own upstream pool, so a request's client and upstream connections live on one thread
    // and never hand over across cores (the costliest part of a proxied request on a
    // virtual machine). This thread serves the first listener and holds the shared work.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    runtime.block_on(async move {
        let mut conn = usage_store::open(&config.database).map_err(|source| Error::Database {
            path: config.database.clone(),
            source,
        })?;
        let (stored_routes, stored_providers, stored_settings, stored_models) =
            stored_sources(&conn)?;
        let saved = saved_states(&mut conn)?;
        let learned =
            usage_store::load_learned_formats(&conn).map_err(Error::read("learned formats"))?;
        let used = used_so_far(&conn, config.routing.day_offset_secs)?;
        let stored_keys = usage_store::load_keys(&conn).map_err(Error::read("client keys"))?;
        let (usage, usage_writer) =
            usage_store::start(conn, writer_options()).map_err(Error::UsageWriter)?;
        let (debug, debug_writer) = debug_logs(&config)?;
        let listen = config.listen;
        let listen_error = |source| Error::Listen {
            addr: listen,
            source,
        };
        let mut others = serve::listeners(listen, config.threads.max(1)).map_err(listen_error)?;
        let first = others.remove(0);
        let addr = first.local_addr().map_err(Error::LocalAddr)?;
        let listener = tokio::net::TcpListener::from_std(first).map_err(listen_error)?;
        let stored_providers = checked_providers(&stored_providers, &config);
        let sources = Reconfigure {
            file: config,
            stored_routes: stored_routes.clone(),
            stored_providers,
            stored_settings,
            stored_models,
        };
        let app = Arc::new(app::build(usage, debug, &saved, sources)?);
        restore_learned(&app.snapshot(), &learned);
        app.client_keys.set_stored(stored_keys);
        seed_used(&app, used);
        announce(&app, addr);

        // Video jobs a previous run left open are polled on from here too.
        let (reload, watch, videos) = (
            tokio::spawn(watch_database(app.clone(), stored_routes)),
            tokio::spawn(reload::watch_config(app.clone(), watched.0, watched.1)),
            tokio::spawn(crate::request::video::poll_open_jobs(app.clone())),
        );
        let cluster = crate::cluster::start(&app);
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let workers = spawn_workers(&app, others, stopped)?;
        serve::run(app.clone(), listener, async move {
            serve::shutdown_signal().await;
            let _ = stop.send(true);
        })
        .await;
        let running = Running {
            workers,
            tasks: [reload, watch, videos],
            cluster,
            app,
        };
        shut_down(running, usage_writer, debug_writer).await
    })
}

/// Tokens and spending counted so far today and this month, to seed limits and budgets.
struct Used {
    now: std::time::SystemTime,
    offset: i32,
    tokens_today: Vec<(String, u64)>,
    tokens_this_month: Vec<(String, u64)>,
    spent_today: Vec<(&'static str, String, f64)>,
    spent_this_month: Vec<(&'static str, String, f64)>,
}

fn used_so_far(conn: &rusqlite::Connection, offset: i32) -> Result<Used, Error> {
    let now = switchyard_hub::clock::now();
    let day_start = routing::day_end(now, offset) - std::time::Duration::from_secs(86_400);
    let day_start = routing::epoch_ms(day_start);
    let month_start = routing::epoch_ms(routing::month_bounds(now, offset).0);
    Ok(Used {
        now,
        offset,
        tokens_today: usage_store::tokens_by_key_since(conn, day_start)
            .map_err(Error::read("today's usage"))?,
        tokens_this_month: usage_store::tokens_by_key_since(conn, month_start)
            .map_err(Error::read("this month's usage"))?,
        spent_today: usage_store::cost_since(conn, day_start).map_err(Error::read("spending"))?,
        spent_this_month: usage_store::cost_since(conn, month_start)
            .map_err(Error::read("spending"))?,
    })
}

fn seed_used(app: &App, used: Used) {
    app.limits.seed(
        routing::day_number(used.now, used.offset),
        used.tokens_today,
        routing::month_number(used.now, used.offset),
        used.tokens_this_month,
    );
    seed_budgets(app, &used.spent_today, &used.spent_this_month, used.now);
}

/// The debug logger and its writer, when debug logs are on.
fn debug_logs(
    config: &config::Config,
) -> Result<
    (
        Option<debug_log::DebugLogger>,
        Option<debug_log::DebugWriter>,
    ),
    Error,
> {
    if !config.debug_logs {
        return Ok((None, None));
    }
    let (logger, writer) =
        debug_log::DebugLogger::start(config.logs_dir.clone(), App::secrets(config)).map_err(
            |source| Error::DebugLogs {
                dir: config.logs_dir.clone(),
                source,
            },
        )?;
    Ok((Some(logger), Some(writer)))
}

/// One serving thread per listener after the first, each stopping when `stopped` turns true.
fn spawn_workers(
    app: &Arc<App>,
    listeners: Vec<std::net::TcpListener>,
    stopped: tokio::sync::watch::Receiver<bool>,
) -> Result<Vec<std::thread::JoinHandle<Result<(), Error>>>, Error> {
    let mut workers = Vec::new();
    for (i, listener) in listeners.into_iter().enumerate() {
        let (app, mut stopped) = (app.clone(), stopped.clone());
        let worker = std::thread::Builder::new()
            .name(format!("serve-{}", i + 1))
            .spawn(move || {
                serve_thread(i + 1, app, listener, async move {
                    let _ = stopped.wait_for(|s| *s).await;
                })
            })
            .map_err(Error::Thread)?;
        workers.push(worker);
    }
    Ok(workers)
}

/// Logs what was loaded and prints the listening line.
fn announce(app: &App, addr: SocketAddr) {
    if !app.client_keys.any() {
        tracing::warn!("no client keys configured: only loopback clients are served");
    }
    let pairs: Vec<String> = app
        .registry
        .pairs()
        .iter()
        .map(|(a, b)| format!("{a}->{b}"))
        .collect();
    tracing::info!(
        providers = app.snapshot().providers.len(),
        translators = %pairs.join(" "),
        debug_logs = app.debug.is_some(),
        "ready"
    );
    // The one line tests and scripts read to learn the port.
    println!("switchyard listening on http://{addr}");
}

/// What runs once the first listener has stopped serving, to be stopped in order.
struct Running {
    workers: Vec<std::thread::JoinHandle<Result<(), Error>>>,
    /// The config and database watchers and the video poller.
    tasks: [tokio::task::JoinHandle<()>; 3],
    cluster: Option<crate::cluster::Running>,
    app: Arc<App>,
}

/// Waits for the other serving threads, stops the background tasks, then lets the writers
/// drain.
async fn shut_down(
    running: Running,
    usage_writer: usage_store::UsageWriter,
    debug_writer: Option<debug_log::DebugWriter>,
) -> Result<(), Error> {
    let Running {
        workers,
        tasks,
        cluster,
        app,
    } = running;
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
    for task in tasks {
        task.abort();
        let _ = task.await;
    }
    crate::cluster::stop(cluster).await;
    drop(app);
    // Every request has ended; the writers drain their queues and stop.
    tokio::task::spawn_blocking(move || {
        usage_writer.close();
        if let Some(w) = debug_writer {
            w.close();
        }
    })
    .await
    .map_err(Error::from)
}

/// Loads the config (writing the commented default on first start) and says what a new
/// user needs to hear: that the file was created, and how to add a provider to it.
fn load_config(config_path: &Path, overrides: &config::Overrides) -> Result<config::Config, Error> {
    let created = !config_path.exists();
    let config = config::load(config_path, overrides)?;
    let path = config_path.display();
    if created {
        eprintln!(
            "switchyard: created {path} with every setting commented out at its default.\n\
             switchyard: to add a provider, uncomment one of its [[providers]] examples (openai, \
             claude, gemini, openai-responses, ...), export the key variable its account names \
             (e.g. OPENAI_API_KEY) and restart; or `switchyard login <provider>` for a \
             subscription. See docs/src/getting-started.md."
        );
    }
    for w in &config.warnings {
        tracing::warn!("{w}");
    }
    if config.providers.is_empty() {
        tracing::warn!(
            "no providers are configured: every model request fails until one is added to {path}"
        );
    }
    Ok(config)
}

/// What the management API and the CLI keep in the database beside the file: aliases and
/// combos, providers (unchecked yet), and settings.
type StoredSources = (
    usage_store::StoredRoutes,
    Vec<(String, serde_json::Value)>,
    config::overrides::Overrides,
    Vec<crate::catalogue::ModelEntry>,
);

fn stored_sources(conn: &rusqlite::Connection) -> Result<StoredSources, Error> {
    Ok((
        usage_store::load_routes(conn).map_err(Error::read("stored routes"))?,
        usage_store::load_providers(conn).map_err(Error::read("stored providers"))?,
        usage_store::load_overrides(conn).map_err(Error::read("stored settings"))?,
        usage_store::load_model_overrides(conn).map_err(Error::read("stored models"))?,
    ))
}

/// The sources a server starts from: the file, and the routes, providers (checked as the
/// file's are), settings and catalogue entries the management API stored. The CLI builds
/// from it too, so its provider list is the server's.
pub fn stored_reconfigure(
    conn: &rusqlite::Connection,
    config: config::Config,
) -> Result<Reconfigure, Error> {
    let (stored_routes, stored_providers, stored_settings, stored_models) = stored_sources(conn)?;
    let stored_providers = checked_providers(&stored_providers, &config);
    Ok(Reconfigure {
        file: config,
        stored_routes,
        stored_providers,
        stored_settings,
        stored_models,
    })
}

/// The providers the management API stored, checked as the file's are; one that no longer
/// passes (a hand edit, a stricter check in a newer version) is left out with a warning.
pub fn checked_providers(
    stored: &[(String, serde_json::Value)],
    file: &config::Config,
) -> Vec<config::ProviderConfig> {
    let env = |name: &str| std::env::var(name).ok();
    let mut out = Vec::new();
    for (name, definition) in stored {
        match config::stored_provider(definition, file, &env) {
            Ok((p, warnings)) => {
                for w in warnings {
                    tracing::warn!("{w}");
                }
                out.push(p);
            }
            Err(e) => tracing::warn!("stored provider `{name}` is left out: {}", e.0),
        }
    }
    out
}

/// Gives providers that learn endpoints (Copilot) what they had learned before.
fn restore_learned(live: &app::Snapshot, learned: &[(String, String, String)]) {
    for (name, model, format) in learned {
        let provider = live.provider(name);
        let learning = provider.and_then(|p| p.executor.endpoint_learning());
        if let (Some(l), Some(f)) = (learning, switchyard_hub::Format::parse(format)) {
            l.restore(model, f);
        }
    }
}

/// The accounts' saved state, once the resets asked for while no server ran
/// (`switchyard accounts reset`) are applied to it.
fn saved_states(
    conn: &mut rusqlite::Connection,
) -> Result<Vec<usage_store::AccountStateRow>, Error> {
    for scope in usage_store::apply_pending_resets(conn).map_err(Error::read("account resets"))? {
        tracing::info!(by = "cli", scope = %scope, "accounts reset at start-up");
    }
    usage_store::load_account_states(conn).map_err(Error::read("account state"))
}

/// One serving thread: its own current-thread runtime and upstream pool, serving
/// `listener` until `shutdown`.
fn serve_thread(
    lane: usize,
    app: Arc<App>,
    listener: std::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), Error> {
    switchyard_provider::client::enter_lane(lane);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener).map_err(Error::LocalAddr)?;
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

/// Takes in what other processes (the CLI) change in the database while the server runs.
async fn watch_database(app: Arc<App>, routes: usage_store::StoredRoutes) {
    tokio::join!(
        reload_stored(app.clone(), routes),
        reload_keys(app.clone()),
        crate::catalogue::discovery::refresh_daily(app)
    );
}

/// Takes in logins added, renewed or removed (`switchyard login`, `import`, `accounts`) and
/// aliases and combos set or removed (`switchyard alias`, `combo`) while the server runs, and
/// applies the resets `switchyard accounts reset` asked for (this server's state in memory is
/// what counts: editing the database alone would be overwritten). `routes` is what the
/// database held when the alias and combo table in force was built.
async fn reload_stored(app: Arc<App>, mut routes: usage_store::StoredRoutes) {
    let store = app.credentials.store.clone();
    let started = app.snapshot();
    let conn = usage_store::open(&started.config.database)
        .inspect_err(|e| {
            tracing::warn!(
                "`switchyard accounts reset`, `alias` and `combo` changes are not read: {e}"
            );
        })
        .ok()
        .map(|c| Arc::new(std::sync::Mutex::new(c)));
    let watch = reload::DatabaseWatch::open(&started.config.database)
        .inspect_err(|e| {
            tracing::warn!(
                "database changes are read every {:?} only: {e}",
                started.config.account_reload
            )
        })
        .ok();
    // A full reload at least every `account_reload`; in between, one as soon as another
    // connection (the CLI) changed the database.
    let every = (started.config.account_reload.as_millis()
        / reload::DatabaseWatch::poll_interval().as_millis().max(1))
    .max(1);
    drop(started);
    let mut tick = tokio::time::interval(reload::DatabaseWatch::poll_interval());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ticks: u128 = 0;
    loop {
        tick.tick().await;
        ticks += 1;
        let changed = watch.as_ref().is_some_and(reload::DatabaseWatch::changed);
        if !changed && !ticks.is_multiple_of(every) {
            continue;
        }
        if let Some(store) = store.clone()
            && let Ok(Ok(rows)) = tokio::task::spawn_blocking(move || store.list(None)).await
        {
            for p in &app.snapshot().providers {
                if p.sync_stored(&rows) {
                    tracing::info!(provider = %p.name, accounts = p.accounts().len(), "stored accounts changed");
                }
            }
        }
        if let Some(conn) = &conn {
            reload_routes(&app, conn.clone(), &mut routes).await;
            apply_requested_resets(&app, conn.clone()).await;
        }
    }
}

/// How often the database is asked whether it changed, for client keys created, changed or
/// revoked with `switchyard keys` (the API puts its own changes in force at once).
const KEYS_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// Takes in stored client keys changed by another process: when the database's
/// `data_version` moved (any commit by another connection, usage rows included), the keys
/// are read again and, if they differ, the serving table is swapped.
async fn reload_keys(app: Arc<App>) {
    let conn = match usage_store::open(&app.snapshot().config.database) {
        Ok(c) => Arc::new(std::sync::Mutex::new(c)),
        Err(e) => {
            tracing::warn!("client keys changed with `switchyard keys` are not read: {e}");
            return;
        }
    };
    let mut seen = None;
    let mut tick = tokio::time::interval(KEYS_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let (c, a) = (conn.clone(), app.clone());
        let read = move || {
            // A poisoned lock only means an earlier turn panicked; the connection is still sound.
            let guard = c.lock().unwrap_or_else(|p| p.into_inner());
            let version = usage_store::data_version(&guard)?;
            if Some(version) == seen {
                return Ok((version, false));
            }
            let changed = a
                .client_keys
                .reload_stored(|| usage_store::load_keys(&guard))?;
            Ok::<_, rusqlite::Error>((version, changed))
        };
        match tokio::task::spawn_blocking(read).await {
            Ok(Ok((version, changed))) => {
                seen = Some(version);
                if changed {
                    tracing::info!("stored client keys changed");
                }
            }
            Ok(Err(e)) => tracing::warn!("cannot read stored client keys: {e}"),
            Err(_) => return,
        }
    }
}

/// Reads the stored aliases and combos and, when they differ from `last`, puts a new table in
/// force (the config file's entries keep precedence; a stored entry that does not fit is
/// skipped with a warning). When the database cannot be read, the table in force stays.
async fn reload_routes(
    app: &App,
    conn: Arc<std::sync::Mutex<rusqlite::Connection>>,
    last: &mut usage_store::StoredRoutes,
) {
    let read = move || {
        // A poisoned lock only means an earlier turn panicked; the connection is still sound.
        let guard = conn.lock().unwrap_or_else(|p| p.into_inner());
        usage_store::load_routes(&guard)
    };
    let stored = match tokio::task::spawn_blocking(read).await {
        Ok(Ok(stored)) => stored,
        Ok(Err(e)) => {
            tracing::warn!("cannot read stored aliases and combos: {e}");
            return;
        }
        Err(_) => return,
    };
    if stored == *last {
        return;
    }
    let mut sources = app.reconfigure.lock().await;
    sources.stored_routes = stored.clone();
    let result = app.rebuild(&sources);
    let error = result.as_ref().err().map(ToString::to_string);
    app.set_reload_status(ReloadStatus::now(ReloadSource::Database, error, Vec::new()));
    match result {
        Ok(()) => {
            let live = app.snapshot();
            tracing::info!(
                aliases = live.routes.aliases.len(),
                combos = live.routes.combos.len(),
                "stored aliases and combos changed"
            );
        }
        Err(e) => tracing::warn!("stored aliases and combos not taken in: {e}"),
    }
    *last = stored;
}

/// Applies pending reset requests to the accounts in memory, queues their new state for
/// saving, and forgets the requests.
async fn apply_requested_resets(app: &App, conn: Arc<std::sync::Mutex<rusqlite::Connection>>) {
    let c = conn.clone();
    let pending = move || {
        // A poisoned lock only means an earlier turn panicked; the connection is still sound.
        let guard = c.lock().unwrap_or_else(|p| p.into_inner());
        usage_store::pending_resets(&guard)
    };
    let (scopes, last) = match tokio::task::spawn_blocking(pending).await {
        Ok(Ok(found)) => found,
        Ok(Err(e)) => {
            tracing::warn!("cannot read account reset requests: {e}");
            return;
        }
        Err(_) => return,
    };
    if scopes.is_empty() {
        return;
    }
    for scope in &scopes {
        let done = app.reset_accounts(scope);
        let names: Vec<String> = done.iter().map(|(p, a, _)| format!("{p}/{a}")).collect();
        tracing::info!(by = "cli", scope = %scope, accounts = %names.join(" "), "accounts reset");
    }
    let forgotten = tokio::task::spawn_blocking(move || {
        let guard = conn.lock().unwrap_or_else(|p| p.into_inner());
        usage_store::forget_resets(&guard, last)
    })
    .await;
    if let Ok(Err(e)) = forgotten {
        tracing::warn!("cannot clear applied account reset requests: {e}");
    }
}

/// Seeds the dollar budgets with what the usage table says was spent today and this month.
fn seed_budgets(
    app: &app::App,
    today: &[(&'static str, String, f64)],
    month: &[(&'static str, String, f64)],
    now: std::time::SystemTime,
) {
    use crate::routing::budgets::Scope;
    let offset = app.snapshot().config.routing.day_offset_secs;
    let (day_n, month_n) = (
        routing::day_number(now, offset),
        routing::month_number(now, offset),
    );
    let scope = |s: &str| match s {
        "key" => Scope::Key,
        "account" => Scope::Account,
        _ => Scope::Provider,
    };
    for (s, name, month_usd) in month {
        let day_usd = today
            .iter()
            .find(|(t, n, _)| t == s && n == name)
            .map_or(0.0, |t| t.2);
        app.budgets
            .seed(scope(s), name, day_n, day_usd, month_n, *month_usd);
    }
}
