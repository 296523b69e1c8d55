//! One request's record: the usage row it will write and its debug trace. Whatever way the
//! request ends, including the client going away, exactly one row is written.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use switchyard_hub::{ApiError, Format, Usage};

use crate::routing::day_number;
use crate::state::app::{Account, App};
use crate::state::debug_log::DebugTrace;
use crate::state::usage_store::UsageRow;

/// The status recorded for a request whose client disconnected first (nginx's convention).
pub const CLIENT_CLOSED: u16 = 499;

/// The error class of a request whose client disconnected first.
const CANCELLED: &str = "cancelled";

pub struct Call {
    pub app: Arc<App>,
    pub id: String,
    pub client: Format,
    pub started: Instant,
    pub row: UsageRow,
    /// Present when debug logs are on.
    pub trace: Option<DebugTrace>,
    /// The account that answered, whose daily token count the usage adds to.
    pub account: Option<Arc<Account>>,
    /// When the upstream that answered was asked, and when its answer ended: the time
    /// between is the upstream's, the rest is ours.
    pub upstream_span: (Option<Instant>, Option<Instant>),
    recorded: bool,
}

impl Call {
    pub fn new(app: Arc<App>, client: Format) -> Self {
        // A random v4 id from the thread's fast generator: ids need to be unique, not secret,
        // and `new_v4` would cost a getrandom system call per request.
        let id = uuid::Builder::from_random_bytes(fastrand::u128(..).to_le_bytes())
            .into_uuid()
            .simple()
            .to_string();
        let trace = app.debug.as_ref().map(|_| DebugTrace::default());
        let row = UsageRow {
            ts_ms: chrono::Utc::now().timestamp_millis(),
            request_id: id.clone(),
            client_format: client.as_str(),
            ..UsageRow::default()
        };
        Call {
            app,
            id,
            client,
            started: Instant::now(),
            row,
            trace,
            account: None,
            upstream_span: (None, None),
            recorded: false,
        }
    }

    pub fn elapsed_ms(&self) -> f64 {
        self.started.elapsed().as_secs_f64() * 1000.0
    }

    /// Time spent in the proxy: all of it but the answering upstream's span.
    pub fn overhead(&self) -> Option<std::time::Duration> {
        let (Some(start), Some(end)) = self.upstream_span else {
            return None;
        };
        Some(
            self.started
                .elapsed()
                .saturating_sub(end.saturating_duration_since(start)),
        )
    }

    /// Records a success.
    pub fn succeed(mut self, status: u16, usage: Usage, ttfb_ms: Option<f64>) {
        self.row.status = status;
        self.row.usage = usage;
        self.row.ttfb_ms = ttfb_ms;
        self.record();
    }

    /// Records a failure; the error is also kept in the debug trace.
    pub fn fail(mut self, err: &ApiError, usage: Usage, ttfb_ms: Option<f64>) {
        self.row.status = err.status;
        self.row.error_class = Some(err.kind.as_str());
        self.row.usage = usage;
        self.row.ttfb_ms = ttfb_ms;
        if let Some(t) = &mut self.trace {
            t.json("error.json", &err.body(self.client));
        }
        self.record();
    }

    /// Records a request whose client went away mid-answer, with the usage of what it was
    /// sent, so cancelled work still counts against limits and cost.
    pub fn cancel(mut self, usage: Usage, ttfb_ms: Option<f64>) {
        self.row.status = CLIENT_CLOSED;
        self.row.error_class = Some(CANCELLED);
        self.row.usage = usage;
        self.row.ttfb_ms = ttfb_ms;
        self.record();
    }

    fn record(&mut self) {
        if self.recorded {
            return;
        }
        self.recorded = true;
        self.row.latency_ms = self.elapsed_ms();
        let tokens = self.row.usage.total();
        if tokens > 0 {
            let today = day_number(SystemTime::now(), self.app.config.routing.day_offset_secs);
            if let Some(a) = &self.account {
                let mut h = a.lock_health();
                h.roll_day(today);
                h.day_tokens += tokens;
                drop(h);
                self.app.save_account(a);
            }
            if let Some(key) = &self.row.client_key {
                let offset = self.app.config.routing.day_offset_secs;
                self.app
                    .limits
                    .add_tokens(key, tokens, SystemTime::now(), offset);
            }
        }
        let overhead = self.overhead().map(|d| d.as_secs_f64());
        self.app.metrics.record(&self.row, overhead);
        self.app.usage.record(std::mem::take(&mut self.row));
        if let (Some(mut trace), Some(logger)) = (self.trace.take(), &self.app.debug) {
            if trace.folder.is_empty() {
                trace.folder = crate::state::debug_log::folder_name(
                    self.client.as_str(),
                    "none",
                    "none",
                    &self.id,
                );
            }
            logger.submit(trace);
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        if !self.recorded {
            self.row.status = CLIENT_CLOSED;
            self.row.error_class = Some(CANCELLED);
            self.record();
        }
    }
}
