//! Video jobs kept in the database (`video_jobs`): a job outlives the request that started
//! it and the process that served it, so its provider, account, upstream id and state are
//! written before the client hears of it, and read back by whoever asks next (a client's
//! poll, the background poller after a restart).

use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, params};
use switchyard_hub::ApiError;

use crate::api::with_db;
use crate::state::app::App;

/// Where a job stands, in the Videos API's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Queued,
    InProgress,
    Completed,
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::InProgress => "in_progress",
            Status::Completed => "completed",
            Status::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Status {
        match s {
            "queued" => Status::Queued,
            "in_progress" => Status::InProgress,
            "completed" => Status::Completed,
            _ => Status::Failed,
        }
    }

    pub fn is_done(self) -> bool {
        matches!(self, Status::Completed | Status::Failed)
    }
}

/// One job as stored.
#[derive(Debug, Clone)]
pub struct Job {
    /// Switchyard's id (`video_` and 32 hex digits): what the client polls.
    pub id: String,
    /// The client key id that started it: only that key sees it.
    pub client_key: Option<String>,
    /// `openai`, `gemini` (the Developer API's operations) or `vertex` (google-genai's).
    pub client_format: String,
    pub requested_model: String,
    pub provider: String,
    pub account: String,
    pub upstream_model: String,
    /// `openai` or `gemini`: how the upstream is polled.
    pub upstream_format: String,
    /// The upstream's video id, or its operation name.
    pub upstream_id: String,
    pub prompt: String,
    pub seconds: f64,
    /// `WIDTHxHEIGHT`.
    pub size: String,
    pub status: Status,
    pub progress: u8,
    /// Where a Veo video is downloaded from (on the provider's API).
    pub video_uri: Option<String>,
    pub error: Option<String>,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub completed_ms: Option<i64>,
}

const COLUMNS: &str = "id, client_key, client_format, requested_model, provider, account,
    upstream_model, upstream_format, upstream_id, prompt, seconds, size, status, progress,
    video_uri, error, created_ms, updated_ms, completed_ms";

fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<Job> {
    let status: String = r.get(12)?;
    let progress: i64 = r.get(13)?;
    Ok(Job {
        id: r.get(0)?,
        client_key: r.get(1)?,
        client_format: r.get(2)?,
        requested_model: r.get(3)?,
        provider: r.get(4)?,
        account: r.get(5)?,
        upstream_model: r.get(6)?,
        upstream_format: r.get(7)?,
        upstream_id: r.get(8)?,
        prompt: r.get(9)?,
        seconds: r.get(10)?,
        size: r.get(11)?,
        status: Status::parse(&status),
        progress: u8::try_from(progress.clamp(0, 100)).unwrap_or(0),
        video_uri: r.get(14)?,
        error: r.get(15)?,
        created_ms: r.get(16)?,
        updated_ms: r.get(17)?,
        completed_ms: r.get(18)?,
    })
}

fn insert_row(conn: &Connection, j: &Job) -> rusqlite::Result<()> {
    conn.execute(
        &format!(
            "INSERT INTO video_jobs ({COLUMNS}) VALUES
             (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)"
        ),
        params![
            j.id,
            j.client_key,
            j.client_format,
            j.requested_model,
            j.provider,
            j.account,
            j.upstream_model,
            j.upstream_format,
            j.upstream_id,
            j.prompt,
            j.seconds,
            j.size,
            j.status.as_str(),
            i64::from(j.progress),
            j.video_uri,
            j.error,
            j.created_ms,
            j.updated_ms,
            j.completed_ms,
        ],
    )?;
    Ok(())
}

/// Writes a new job.
pub async fn insert(app: &Arc<App>, job: Job) -> Result<(), ApiError> {
    with_db(app, move |conn| insert_row(conn, &job)).await
}

/// The job `id`, if there is one.
pub async fn load(app: &Arc<App>, id: &str) -> Result<Option<Job>, ApiError> {
    let id = id.to_owned();
    with_db(app, move |conn| {
        conn.query_row(
            &format!("SELECT {COLUMNS} FROM video_jobs WHERE id = ?1"),
            [id],
            read,
        )
        .optional()
    })
    .await
}

/// The jobs not yet done, oldest first.
pub async fn open_jobs(app: &Arc<App>) -> Result<Vec<Job>, ApiError> {
    with_db(app, |conn| {
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM video_jobs WHERE status IN ('queued', 'in_progress')
             ORDER BY created_ms"
        ))?;
        let rows = stmt.query_map([], read)?;
        rows.collect()
    })
    .await
}

/// Saves what a poll learned. Returns whether this save is the one that finished the job
/// and its usage row is still to be written: of two pollers that both saw it finish (a
/// client and the background poller), only one is told so.
pub async fn save(app: &Arc<App>, job: Job) -> Result<bool, ApiError> {
    with_db(app, move |conn| {
        let tx = conn.transaction()?;
        tx.execute(
            "UPDATE video_jobs SET status = ?2, progress = ?3, video_uri = ?4, error = ?5,
                 updated_ms = ?6, completed_ms = ?7
             WHERE id = ?1",
            params![
                job.id,
                job.status.as_str(),
                i64::from(job.progress),
                job.video_uri,
                job.error,
                job.updated_ms,
                job.completed_ms,
            ],
        )?;
        let first = job.status.is_done()
            && tx.execute(
                "UPDATE video_jobs SET recorded = 1 WHERE id = ?1 AND recorded = 0",
                [&job.id],
            )? == 1;
        tx.commit()?;
        Ok(first)
    })
    .await
}
