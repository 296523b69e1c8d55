//! One request's record: the usage row it will write and its debug trace. Whatever way the
//! request ends, including the client going away, exactly one row is written.

use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;
use switchyard_hub::{ApiError, Format, Usage};

use crate::routing::budgets::Scope;
use crate::routing::day_number;
use crate::state::app::{Account, App, Snapshot};
use crate::state::debug_log::{DebugTrace, folder_name};
use crate::state::responses::{Pending, answered};
use crate::state::usage_store::{self, UsageRow};

/// The status recorded for a request whose client disconnected first (nginx's convention).
pub const CLIENT_CLOSED: u16 = 499;

/// The error class of a request whose client disconnected first.
const CANCELLED: &str = "cancelled";

/// One request's record as it goes: fields are set through the methods below, each named
/// for the step of the request that knows the value.
pub struct Call {
    app: Arc<App>,
    /// The configuration the request started with: its prices, budgets' day and settings.
    live: Arc<Snapshot>,
    id: String,
    client: Format,
    started: Instant,
    row: UsageRow,
    /// Present when debug logs are on.
    trace: Option<DebugTrace>,
    /// The account that answered, whose daily token count the usage adds to.
    account: Option<Arc<Account>>,
    /// When the upstream that answered was asked, and when its answer ended: the time
    /// between is the upstream's, the rest is ours.
    upstream_span: (Option<Instant>, Option<Instant>),
    recorded: bool,
    /// The recorded cost, kept for the cost header once the row has gone to the writer.
    cost_usd: Option<f64>,
    /// A Responses request's part of its conversation, kept with its answer once that is
    /// known (see [`crate::state::responses`]).
    continues: Option<Pending>,
}

impl Call {
    pub fn new(app: Arc<App>, live: &Arc<Snapshot>, client: Format) -> Self {
        let ts_ms = chrono::Utc::now().timestamp_millis();
        let id = usage_store::request_id(ts_ms);
        let trace = app
            .debug
            .as_ref()
            .filter(|_| live.config.debug_logs)
            .map(|_| DebugTrace::default());
        let row = UsageRow {
            ts_ms,
            request_id: id.clone(),
            client_format: client.as_str(),
            ..UsageRow::default()
        };
        Call {
            app,
            live: live.clone(),
            id,
            client,
            started: Instant::now(),
            row,
            trace,
            account: None,
            upstream_span: (None, None),
            recorded: false,
            cost_usd: None,
            continues: None,
        }
    }

    /// A call that records nothing: what is left where a request's call was moved out to
    /// the response body that records it when the answer ends.
    pub fn detached(app: Arc<App>) -> Self {
        let live = app.snapshot();
        let mut call = Call::new(app, &live, Format::OpenAi);
        call.recorded = true;
        call.trace = None;
        call
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// The configuration the request started with.
    pub fn live(&self) -> &Snapshot {
        &self.live
    }

    /// The client key that authenticated the request, once known.
    pub fn client_key(&self) -> Option<&str> {
        self.row.client_key.as_deref()
    }

    pub fn authenticated(&mut self, client_key: Option<String>) {
        self.row.client_key = client_key;
    }

    /// What the client asked for: the model string and streaming.
    pub fn requested(&mut self, model: &str, stream: bool) {
        self.row.requested_model = model.to_owned();
        self.row.stream = stream;
    }

    /// What the endpoint asks of the model, for the row's `endpoint`.
    pub fn operation(&mut self, op: switchyard_hub::Operation) {
        self.row.operation = op;
    }

    /// The request's input, to keep with the response it gets for a later
    /// `previous_response_id`.
    pub fn continues(&mut self, pending: Pending) {
        self.continues = Some(pending);
    }

    /// Whether the answer is to be kept (so the caller need not read it otherwise).
    pub fn keeps_answer(&self) -> bool {
        self.continues.is_some()
    }

    /// The finished Responses object the client was sent: its output is kept under its id.
    pub fn responded(&mut self, response: &Value) {
        let Some(pending) = self.continues.take() else {
            return;
        };
        if let Some((id, output)) = answered(response) {
            let provider = self.row.provider.as_deref().unwrap_or_default();
            self.app.responses.remember(&id, provider, pending, output);
        }
    }

    /// Images the answer holds.
    pub fn images(&mut self, count: u64) {
        self.row.images = count;
    }

    /// Characters of text the request had spoken.
    pub fn characters(&mut self, count: u64) {
        self.row.characters = count;
    }

    /// Seconds of audio the request had heard.
    pub fn audio_seconds(&mut self, seconds: f64) {
        self.row.audio_seconds = seconds;
    }

    /// Seconds of video a video job made.
    pub fn video_seconds(&mut self, seconds: f64) {
        self.row.video_seconds = seconds;
    }

    /// The combo the model string named, if any.
    pub fn resolved(&mut self, combo: Option<String>) {
        self.row.combo = combo;
    }

    /// The target (`index` in the resolved list) now being tried.
    pub fn targeting(&mut self, index: usize, provider: &str, model: &str) {
        self.row.target_index = u32::try_from(index).unwrap_or(u32::MAX);
        self.row.provider = Some(provider.to_owned());
        self.row.upstream_model = Some(model.to_owned());
    }

    /// One more attempt, on `account`.
    pub fn attempting(&mut self, account: &str) {
        self.row.attempts += 1;
        self.row.account = Some(account.to_owned());
    }

    /// The account whose answer the client gets.
    pub fn answered_by(&mut self, account: Arc<Account>) {
        self.account = Some(account);
    }

    /// The request went upstream now.
    pub fn upstream_asked(&mut self) {
        self.upstream_span = (Some(Instant::now()), None);
    }

    /// The upstream's answer ended now.
    pub fn upstream_done(&mut self) {
        self.upstream_span.1 = Some(Instant::now());
    }

    /// Whether debug logs are on for this request (so there is a trace to fill).
    pub fn is_traced(&self) -> bool {
        self.trace.is_some()
    }

    /// Names the trace's folder once the provider's format and the model are known.
    pub fn trace_folder(&mut self, provider: Format, model: &str) {
        if let Some(t) = &mut self.trace {
            t.folder = folder_name(self.client.as_str(), provider.as_str(), model, &self.id);
        }
    }

    /// Adds a JSON file to the trace, if there is one.
    pub fn trace_json(&mut self, name: &'static str, value: &Value) {
        if let Some(t) = &mut self.trace {
            t.json(name, value);
        }
    }

    /// Adds a JSON file built only when there is a trace (so no copy is made without one).
    pub fn trace_json_with(&mut self, name: &'static str, value: impl FnOnce() -> Value) {
        if let Some(t) = &mut self.trace {
            t.json(name, &value());
        }
    }

    /// Adds a file of bytes made only when there is a trace.
    pub fn trace_raw(&mut self, name: &'static str, bytes: impl FnOnce() -> Vec<u8>) {
        if let Some(t) = &mut self.trace {
            t.raw(name, bytes());
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

    /// Records a success; returns its cost in USD when its model has a price.
    pub fn succeed(mut self, status: u16, usage: Usage, ttfb_ms: Option<f64>) -> Option<f64> {
        self.row.status = status;
        self.row.usage = usage;
        self.row.ttfb_ms = ttfb_ms;
        self.record();
        self.cost_usd
    }

    /// Records a failure; the error is also kept in the debug trace.
    pub fn fail(mut self, err: &ApiError, usage: Usage, ttfb_ms: Option<f64>) {
        self.row.status = err.status;
        self.row.error_class = Some(err.kind.as_str());
        self.row.usage = usage;
        self.row.ttfb_ms = ttfb_ms;
        let client = self.client;
        self.trace_json_with("error.json", || err.body(client));
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

    /// Ends a request whose usage row is written later by what it started (a video job's,
    /// once the job ends): its debug trace is kept, and no row is written for it here.
    pub fn hand_over(mut self) {
        self.recorded = true;
        if let (Some(mut trace), Some(logger)) = (self.trace.take(), &self.app.debug) {
            if trace.folder.is_empty() {
                trace.folder = folder_name(self.client.as_str(), "none", "none", &self.id);
            }
            logger.submit(trace);
        }
    }

    fn record(&mut self) {
        if self.recorded {
            return;
        }
        self.recorded = true;
        self.row.latency_ms = self.elapsed_ms();
        self.price();
        self.spend();
        let tokens = self.row.usage.total();
        if tokens > 0 {
            let today = day_number(
                switchyard_hub::clock::now(),
                self.live.config.routing.day_offset_secs,
            );
            if let Some(a) = &self.account {
                let mut h = a.lock_health();
                h.roll_day(today);
                h.day_tokens += tokens;
                drop(h);
                self.app.save_account(a);
            }
            if let Some(key) = &self.row.client_key {
                let offset = self.live.config.routing.day_offset_secs;
                self.app
                    .limits
                    .add_tokens(key, tokens, switchyard_hub::clock::now(), offset);
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

impl Call {
    /// Prices the row from the model catalogue: the provider's kind and the upstream model
    /// find the entry, the usage (in hub terms, the same for every format) is billed at it.
    /// A Claude account that came from a login (not an API key) is a subscription.
    fn price(&mut self) {
        let (Some(provider), Some(model)) = (&self.row.provider, &self.row.upstream_model) else {
            return;
        };
        let Some(p) = self.live.provider(provider) else {
            return;
        };
        let login = self
            .account
            .as_ref()
            .is_some_and(|a| p.kind == "claude" && a.credential.id.is_some());
        let catalogue = &self.live.config.catalogue;
        // A video is billed by its seconds, not by tokens.
        let cost = if self.row.operation == switchyard_hub::Operation::Videos {
            catalogue.video_cost(&p.kind, model, self.row.video_seconds)
        } else {
            catalogue.cost(&p.kind, model, login, &self.row.usage)
        };
        self.row.cost_usd = cost.usd;
        self.row.price_version = cost.version;
        self.row.cost_basis = Some(cost.basis.as_str());
        self.cost_usd = cost.usd;
    }
}

impl Call {
    /// Adds the row's cost to the budgets of its client key, account and provider.
    fn spend(&self) {
        let Some(usd) = self.row.cost_usd else {
            return;
        };
        let now = switchyard_hub::clock::now();
        let offset = self.live.config.routing.day_offset_secs;
        let budgets = &self.app.budgets;
        if let Some(key) = &self.row.client_key {
            budgets.add(Scope::Key, key, usd, now, offset);
        }
        if let Some(provider) = &self.row.provider {
            budgets.add(Scope::Provider, provider, usd, now, offset);
            if let Some(account) = &self.row.account {
                budgets.add(
                    Scope::Account,
                    &format!("{provider}/{account}"),
                    usd,
                    now,
                    offset,
                );
            }
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
