//! Reconfiguration while the server runs: the config file watched (a burst of events from
//! one save is taken as one change), checked before it is taken in, and refused with the
//! error kept for `GET /api/settings` when it is invalid; and the database watched for
//! changes by the CLI (`alias`, `combo`, `accounts`, `login`, `import`) so they apply within
//! a second.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher};

use crate::config::{self, ConfigError, Overrides};
use crate::state::app::App;
use crate::state::snapshot::{ReloadSource, ReloadStatus};
use crate::state::usage_store;

/// How long the file must be quiet after an event before it is read: editors save in
/// several steps (truncate, write, rename), and reading half-way would see a broken file.
const SETTLE: Duration = Duration::from_millis(100);

/// The longest a change waits for quiet: a file rewritten without pause is still read this
/// often, so a change is seen within a second whatever else goes on.
const SETTLE_AT_MOST: Duration = Duration::from_millis(300);

/// How often the database is asked whether another connection changed it. The question
/// (`PRAGMA data_version`) costs no read of any table, so a CLI change applies within
/// this plus the reload itself.
const DATABASE_POLL: Duration = Duration::from_millis(250);

/// Watches `path` (through its directory, so a file replaced by a rename is still seen) and
/// applies each valid change. Runs until the task is dropped; when the watch cannot start,
/// logs why and returns (the server keeps running on the configuration it has).
pub async fn watch_config(app: Arc<App>, path: PathBuf, overrides: Overrides) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let name = path.file_name().map(ToOwned::to_owned);
    let handler = move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        let ours = event.paths.iter().any(|p| p.file_name() == name.as_deref());
        if ours && !matches!(event.kind, EventKind::Access(_)) {
            let _ = tx.send(());
        }
    };
    let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(d) => d.to_owned(),
        None => PathBuf::from("."),
    };
    let mut watcher = match notify::recommended_watcher(handler) {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!("config file changes are not watched: {e}");
            return;
        }
    };
    if let Err(e) = watcher.watch(&dir, RecursiveMode::NonRecursive) {
        tracing::warn!(dir = %dir.display(), "config file changes are not watched: {e}");
        return;
    }
    let mut last_text = std::fs::read_to_string(&path).ok();
    while rx.recv().await.is_some() {
        // Let the burst end: wait until no event came for SETTLE, or SETTLE_AT_MOST.
        let until = tokio::time::Instant::now() + SETTLE_AT_MOST;
        while let Ok(Some(())) = tokio::time::timeout(SETTLE, rx.recv()).await {
            if tokio::time::Instant::now() >= until {
                break;
            }
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            // Removed or half-replaced: the next event brings the new file.
            continue;
        };
        if last_text.as_deref() == Some(text.as_str()) {
            continue;
        }
        apply_file(&app, &path, &text, &overrides).await;
        last_text = Some(text);
    }
    drop(watcher);
}

/// Checks `text` as the config file and, when valid, puts it in force; either way the
/// outcome becomes the reload status.
pub async fn apply_file(app: &App, path: &Path, text: &str, overrides: &Overrides) {
    let parsed = config::parse(text, path, overrides, &|name| std::env::var(name).ok());
    let mut sources = app.reconfigure.lock().await;
    let next = match parsed {
        Ok(next) => next,
        Err(e) => {
            let error = without_source(&e, &sources.file);
            tracing::error!(
                "config file change refused, the configuration in force stays: {error}"
            );
            app.set_reload_status(ReloadStatus::now(
                ReloadSource::File,
                Some(error),
                Vec::new(),
            ));
            return;
        }
    };
    let restart_needed = sources.file.restart_needed(&next);
    let previous = std::mem::replace(&mut sources.file, next);
    match app.rebuild(&sources) {
        Ok(()) => {
            for w in &sources.file.warnings {
                tracing::warn!("{w}");
            }
            if !restart_needed.is_empty() {
                tracing::warn!(
                    settings = %restart_needed.join(", "),
                    "config file changed settings that take effect after a restart"
                );
            }
            tracing::info!(
                providers = app.snapshot().providers.len(),
                "config file change taken in"
            );
            app.set_reload_status(ReloadStatus::now(ReloadSource::File, None, restart_needed));
        }
        Err(e) => {
            sources.file = previous;
            let error = e.to_string();
            tracing::error!(
                "config file change refused, the configuration in force stays: {error}"
            );
            app.set_reload_status(ReloadStatus::now(
                ReloadSource::File,
                Some(error),
                Vec::new(),
            ));
        }
    }
}

/// A config error to log and report: the parser quotes the offending source line, which
/// may hold a key, so those lines are left out, and the secrets in force are scrubbed
/// from what remains.
fn without_source(e: &ConfigError, running: &config::Config) -> String {
    let text = e.to_string();
    let quoted = |line: &str| {
        let t = line.trim_start();
        let digits = t.trim_start_matches(|c: char| c.is_ascii_digit());
        digits.trim_start().starts_with('|')
    };
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| !quoted(l) && !l.trim().is_empty())
        .collect();
    let mut message = kept.join(" ");
    for secret in App::secrets(running) {
        if secret.len() >= 4 {
            message = message.replace(&secret, "****");
        }
    }
    message
}

/// Whether another connection changed the database since the last call: SQLite's
/// `data_version` moves on each commit made by another connection.
pub struct DatabaseWatch {
    conn: Mutex<rusqlite::Connection>,
    last: Mutex<Option<i64>>,
}

impl DatabaseWatch {
    pub fn open(path: &Path) -> rusqlite::Result<Self> {
        Ok(DatabaseWatch {
            conn: Mutex::new(usage_store::open(path)?),
            last: Mutex::new(None),
        })
    }

    /// True on the first call, then whenever the database changed since the previous one.
    pub fn changed(&self) -> bool {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let Ok(version) = conn.query_row("PRAGMA data_version", [], |r| r.get::<_, i64>(0)) else {
            return true;
        };
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        last.replace(version) != Some(version)
    }

    pub fn poll_interval() -> Duration {
        DATABASE_POLL
    }
}
