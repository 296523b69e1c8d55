//! Getting a request answered: each target in turn, each of its accounts in the order the
//! strategy gives, one [`Attempt`] at a time, with what every failure costs its account.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;
use switchyard_hub::{ApiError, ErrorKind, Format, Operation, Pipeline, TranslateCtx};
use switchyard_provider::failure::FailureClass;
use switchyard_provider::{ClientHeaders, Failure};

use crate::request::attempt::{Answer, Attempt};
use crate::request::hygiene;
use crate::request::record::Call;
use crate::request::resolve::Target;
use crate::request::walk::{Walk, Walked};
use crate::routing::budgets::{Budget, Scope};
use crate::routing::day_number;
use crate::routing::select::{self, Ordered, Want};
use crate::state::app::{Account, App, InFlight, Provider, Snapshot};

/// An upstream that answered with success, and what is needed to read its answer.
pub struct Delivered<'a> {
    pub pipeline: Pipeline,
    pub ctx: TranslateCtx,
    pub provider: &'a Provider,
    pub slot: InFlight,
    pub answer: Answer,
}

pub enum Undelivered {
    /// The request itself is wrong (bad translation input, say): nothing was tried.
    Request(ApiError),
    /// Every target and account failed; the first meaningful failure.
    Failed(Box<Failure>, Pipeline),
}

impl From<ApiError> for Undelivered {
    fn from(e: ApiError) -> Self {
        Undelivered::Request(e)
    }
}

impl From<switchyard_hub::TranslateError> for Undelivered {
    fn from(e: switchyard_hub::TranslateError) -> Self {
        Undelivered::Request(e.into())
    }
}

/// What every attempt of one request shares.
pub struct Delivery<'a> {
    pub app: &'a App,
    /// What was in force when the request came in; its providers serve the whole request.
    pub live: &'a Snapshot,
    pub client: Format,
    /// What the endpoint asks for; a target may serve it as chat (see [`Delivery::route`]).
    pub op: Operation,
    /// Whether the client asked for a stream.
    pub stream: bool,
    /// The client's conversation id, for session affinity.
    pub session: Option<&'a str>,
    pub client_headers: &'a ClientHeaders,
    pub deadline: Instant,
    /// A token count: sent to each target's counting endpoint instead of generating.
    pub count: bool,
}

/// How one target went.
enum TargetTried<'a> {
    Delivered(Box<Delivered<'a>>),
    /// Every account failed (or the prompt is too long for this model): the first failure.
    Failed(Box<Failure>, Pipeline),
    /// No account could take the request at all.
    Unavailable(Box<Failure>, Pipeline),
    /// The request itself is wrong: no other target is tried.
    Stop(Box<Failure>, Pipeline),
}

/// The request translated for one target.
struct Prepared {
    pipeline: Pipeline,
    ctx: TranslateCtx,
    body: Value,
    /// Whether the upstream is asked for a stream (some providers only stream).
    upstream_stream: bool,
}

/// Chat's part of the shared walk: one [`Attempt`] per account with the translated body,
/// which the target's last account takes instead of a copy.
struct ChatWalk<'d, 'a> {
    delivery: &'d Delivery<'a>,
    pipeline: &'d Pipeline,
    op: Operation,
    stream: bool,
    forwarded: Option<&'d ClientHeaders>,
}

impl Walk for ChatWalk<'_, '_> {
    type Prepared = Option<Value>;
    type Done = Answer;

    async fn attempt(
        &mut self,
        call: &mut Call,
        provider: &Provider,
        account: &Arc<Account>,
        target: &Target,
        body: &mut Option<Value>,
        last: bool,
    ) -> Result<Answer, Failure> {
        let this = if last { body.take() } else { body.clone() };
        let Some(this) = this else {
            return Err(Failure::request(ApiError::internal(
                "the request body was already sent",
            )));
        };
        let d = self.delivery;
        let attempt = Attempt {
            app: d.app,
            provider,
            account,
            model: &target.model,
            pipeline: self.pipeline,
            op: self.op,
            stream: self.stream,
            session: d.session,
            forwarded: self.forwarded,
            deadline: d.deadline,
            timeouts: d.live.config.timeouts,
            count: d.count,
        };
        let sent = Instant::now();
        let answer = attempt.run(call, this).await?;
        // Headers in hand: the time to first byte the `fastest` strategy ranks by.
        d.app
            .latencies
            .observe(&provider.name, &target.model, sent.elapsed());
        Ok(answer)
    }
}

impl<'a> Delivery<'a> {
    /// Tries each target in order and, within it, each account the strategy offers, until
    /// one answers with success. What each failure costs its account is recorded on the way.
    pub async fn deliver(
        &self,
        call: &mut Call,
        targets: &[Target],
        mut body: Value,
    ) -> Result<Delivered<'a>, Undelivered> {
        let mut first_failure: Option<(Failure, Pipeline)> = None;
        for (index, target) in targets.iter().enumerate() {
            let provider = self
                .live
                .providers
                .get(target.provider)
                .ok_or_else(|| ApiError::internal("resolved provider is missing"))?;
            call.targeting(index, &provider.name, &target.model);
            let Some((op, mut format)) = self.route(provider, &target.model) else {
                // `keep_serving` left out every target that cannot serve the endpoint.
                continue;
            };
            // A provider that learns endpoints (Copilot) may learn from a refusal that this
            // model lives on another one: the target is then tried once more in the new
            // format. Any other provider gets one try per target.
            let learning = provider
                .executor
                .endpoint_learning()
                .filter(|_| op == Operation::Chat);
            let tries = if learning.is_some() { 2 } else { 1 };
            for _ in 0..tries {
                // The client's body is translated anew for each try; only the last may take
                // it instead of a copy.
                let last = index + 1 == targets.len() && learning.is_none();
                let this = if last {
                    std::mem::take(&mut body)
                } else {
                    body.clone()
                };
                match self
                    .try_target(call, provider, target, (op, format), this)
                    .await?
                {
                    TargetTried::Delivered(d) => return Ok(*d),
                    TargetTried::Failed(failure, pipeline)
                    | TargetTried::Unavailable(failure, pipeline) => {
                        first_failure.get_or_insert((*failure, pipeline));
                    }
                    TargetTried::Stop(failure, pipeline) => {
                        return Err(Undelivered::Failed(failure, pipeline));
                    }
                }
                match learning.map(|l| l.format_for(&target.model)) {
                    Some(learned) if learned != format => {
                        self.app.usage.record_learned(
                            &provider.name,
                            &target.model,
                            learned.as_str(),
                        );
                        format = learned;
                    }
                    _ => break,
                }
            }
        }
        let (mut failure, pipeline) =
            first_failure.ok_or_else(|| ApiError::internal("no target to try"))?;
        // When every account on every target is cooling down, say when the first one is back.
        if let Some(until) = earliest_free(self.live, targets) {
            let wait = until
                .duration_since(switchyard_hub::clock::now())
                .unwrap_or_default();
            failure.retry_after = Some(wait.max(Duration::from_secs(1)));
        }
        Err(Undelivered::Failed(Box::new(failure), pipeline))
    }

    /// The operation a target is asked for and the format it goes out in: the endpoint's
    /// own when the provider has that endpoint, else chat for an operation that can go as
    /// chat; `None` when the provider cannot serve it at all.
    fn route(&self, provider: &Provider, model: &str) -> Option<(Operation, Format)> {
        if self.count {
            // Counted on the chat body in the provider's own format.
            return provider
                .executor
                .counts_tokens()
                .then(|| (Operation::Chat, provider.executor.format()));
        }
        if self.op != Operation::Chat {
            if let Some(f) = provider.executor.serves(self.op) {
                return Some((self.op, f));
            }
            if !self.op.via_chat() {
                return None;
            }
        }
        let format = provider
            .executor
            .endpoint_learning()
            .map_or_else(|| provider.executor.format(), |l| l.format_for(model));
        Some((Operation::Chat, format))
    }

    /// Translates the request for one target and tries its accounts in the strategy's order.
    async fn try_target(
        &self,
        call: &mut Call,
        provider: &'a Provider,
        target: &Target,
        (op, format): (Operation, Format),
        body: Value,
    ) -> Result<TargetTried<'a>, Undelivered> {
        let Prepared {
            pipeline,
            ctx,
            body,
            upstream_stream,
        } = self.prepare(call, provider, target, (op, format), body)?;
        let forwarded = self.client_headers.for_format(pipeline.provider);
        let mut walk = ChatWalk {
            delivery: self,
            pipeline: &pipeline,
            op,
            stream: upstream_stream,
            forwarded,
        };
        let mut body = Some(body);
        let walked = self
            .walk_accounts(call, provider, target, format, &mut walk, &mut body)
            .await;
        Ok(match walked {
            Walked::Done(answer, slot) => TargetTried::Delivered(Box::new(Delivered {
                pipeline,
                ctx,
                provider,
                slot,
                answer,
            })),
            Walked::Failed(f) => TargetTried::Failed(Box::new(f), pipeline),
            Walked::Unavailable(f) => TargetTried::Unavailable(Box::new(f), pipeline),
            Walked::Stop(f) => TargetTried::Stop(Box::new(f), pipeline),
        })
    }

    /// The client's body translated into `format` for `target`, by way of the hub.
    fn prepare(
        &self,
        call: &mut Call,
        provider: &Provider,
        target: &Target,
        (op, format): (Operation, Format),
        mut body: Value,
    ) -> Result<Prepared, Undelivered> {
        if self.client == Format::Responses
            && let Some(id) = body.get("previous_response_id").and_then(Value::as_str)
            && !(provider.executor.response_store().is_some()
                && self.app.responses.upstream_has(id, &provider.name))
        {
            crate::state::responses::expand(&self.app.responses, &mut body)?;
        }
        let upstream_stream = self.stream
            || (op == Operation::Chat && !self.count && provider.executor.always_streams());
        let pipeline = Pipeline::for_op(
            &self.app.registry,
            op,
            self.client,
            format,
            self.stream,
            upstream_stream,
        )?;
        let mut ctx = TranslateCtx::new(
            self.client,
            pipeline.provider,
            target.model.clone(),
            upstream_stream,
        );
        let hub = pipeline.request_to_hub(body, &mut ctx)?;
        call.trace_folder(pipeline.provider, &target.model);
        call.trace_json_with("2_req_hub.json", || {
            serde_json::to_value(&hub).unwrap_or_default()
        });
        let mut body = pipeline.request_to_provider(hub, &mut ctx)?;
        if let Some(info) = self
            .live
            .config
            .catalogue
            .find(&provider.kind, &target.model)
            && let Some(asked) =
                hygiene::clamp_max_tokens(pipeline.provider, &mut body, info.max_output)
        {
            tracing::debug!(
                model = %target.model,
                asked,
                max = info.max_output,
                "output limit lowered to the model's maximum"
            );
        }
        Ok(Prepared {
            pipeline,
            ctx,
            body,
            upstream_stream,
        })
    }

    /// The provider's accounts in the order the strategy tries them for `target`.
    pub(super) fn order(&self, provider: &Provider, target: &Target) -> Ordered {
        let now = switchyard_hub::clock::now();
        let routing = &self.live.config.routing;
        select::order(
            provider,
            &Want {
                model: &target.model,
                pin: target.account.as_deref(),
                preferred: self.session.and_then(|s| {
                    self.app
                        .session_account(s, &provider.name, routing.session_ttl)
                }),
                now,
                today: day_number(now, routing.day_offset_secs),
                day_offset_secs: routing.day_offset_secs,
                sticky_limit: routing.sticky_limit,
                // A token count is not a turn of a round-robin provider.
                peek: self.count,
            },
        )
    }

    /// An account answered: its health, its session affinity, and the call's record.
    pub(super) fn succeeded(
        &self,
        call: &mut Call,
        provider: &Provider,
        account: &Arc<Account>,
        model: &str,
    ) {
        account.lock_health().on_success(model);
        self.app.save_account(account);
        if let Some(s) = self.session {
            let ttl = self.live.config.routing.session_ttl;
            self.app
                .remember_session(s, &provider.name, account.index, ttl);
            if let Some(cluster) = crate::cluster::active() {
                cluster.session_used(s, &provider.name, &account.name, ttl);
            }
        }
        call.answered_by(account.clone());
    }

    /// What a failure costs its account (a cooldown, a set-aside), saved and logged.
    pub(super) fn charge(
        &self,
        call: &Call,
        provider: &Provider,
        account: &Arc<Account>,
        model: &str,
        failure: &Failure,
    ) {
        let penalty = account.lock_health().on_failure(
            failure,
            model,
            provider.per_model_limits,
            &self.live.config.routing,
            switchyard_hub::clock::now(),
        );
        if penalty.cooldown.is_some() {
            self.app.metrics.cooldown(&provider.name, &account.name);
        }
        self.app.save_account(account);
        tracing::warn!(
            request_id = %call.id(), provider = %provider.name, account = %account.name,
            model = %model, status = failure.error.status, class = failure.class.as_str(),
            cooldown_ms = penalty.cooldown.map(|d| d.as_millis() as u64), disabled = penalty.disabled,
            "upstream attempt failed: {}", failure.error.message
        );
    }
}

/// Leaves out the targets whose provider cannot serve `op` at all; none left is the
/// client's error (400), naming the model and the endpoint.
pub fn keep_serving(
    live: &Snapshot,
    targets: &mut Vec<Target>,
    op: Operation,
    requested: &str,
    path: &str,
) -> Result<(), ApiError> {
    if op.via_chat() {
        return Ok(());
    }
    let serves = |t: &Target| {
        live.providers
            .get(t.provider)
            .is_some_and(|p| p.executor.serves(op).is_some())
    };
    let first = targets.first().cloned();
    targets.retain(serves);
    match first {
        Some(t) if targets.is_empty() => {
            let provider = live
                .providers
                .get(t.provider)
                .map_or("", |p| p.name.as_str());
            let shown = if requested == t.model {
                format!("`{requested}`")
            } else {
                format!("`{requested}` (`{provider}/{}`)", t.model)
            };
            Err(ApiError::invalid_request(format!(
                "model {shown} cannot serve {path}: its provider has no {op} endpoint"
            ))
            .with_code("unsupported_endpoint"))
        }
        _ => Ok(()),
    }
}

/// What a failed attempt means for the rest of its target.
pub(super) enum Verdict {
    /// Try the target's next account.
    Next,
    /// Give up on this target with this failure; the next target may serve.
    Failed(Failure),
    /// The request itself is wrong: no other target is tried.
    Stop(Failure),
}

/// Judges a failed attempt by its class; `first` keeps the first failure worth reporting.
pub(super) fn judge(
    provider: &Provider,
    model: &str,
    format: Format,
    failure: Failure,
    first: &mut Option<Failure>,
) -> Verdict {
    match failure.class {
        // The provider has learned that this model lives on another endpoint: not the
        // request's fault, and the target is tried again in the new format.
        FailureClass::Request
            if provider
                .executor
                .endpoint_learning()
                .is_some_and(|l| l.format_for(model) != format) =>
        {
            Verdict::Failed(first.take().unwrap_or(failure))
        }
        // The request is the problem: another account would say the same.
        FailureClass::Request => Verdict::Stop(failure),
        // Every account here would refuse it alike; this refusal says why.
        FailureClass::NotServed => Verdict::Failed(failure),
        // Another model (the next target) may take a longer prompt.
        FailureClass::ContextOverflow => Verdict::Failed(first.take().unwrap_or(failure)),
        _ => {
            first.get_or_insert(failure);
            Verdict::Next
        }
    }
}

/// The failure for a target none of whose accounts could take the request.
pub(super) fn unavailable(
    provider: &Provider,
    model: &str,
    earliest: Option<SystemTime>,
) -> Failure {
    let accounts = provider.accounts();
    let (status, kind, what) = if accounts.is_empty() {
        (503, ErrorKind::Upstream, "has no usable account")
    } else if accounts.iter().all(|a| a.credential.needs_login()) {
        (
            503,
            ErrorKind::Authentication,
            "needs a new login for every account (run `switchyard login` or `switchyard import`)",
        )
    } else if earliest.is_some() {
        (
            429,
            ErrorKind::RateLimited,
            "has every account cooling down or at its limit",
        )
    } else {
        (503, ErrorKind::Overloaded, "has every account busy")
    };
    let mut message = format!("provider `{}` {what} for `{model}`", provider.name);
    if accounts.is_empty() {
        // The usual first-run mistake: the key's variable was not exported where the server
        // runs. Its name is not a secret, and it is the one thing the user needs to know.
        for unset in &provider.unset_keys {
            message.push_str(&format!(
                "; account `{}` is skipped because the environment variable {} is not set where the server runs",
                unset.account, unset.var
            ));
        }
    }
    Failure {
        error: ApiError::new(status, kind, message).with_code("no_account_available"),
        upstream_body: None,
        class: FailureClass::RateLimit,
        retry_after: earliest.and_then(|t| t.duration_since(switchyard_hub::clock::now()).ok()),
    }
}

/// The dollar budgets a provider and its configured accounts carry, checked before an
/// upstream is asked: a spent one is a 429 that names it and says when it resets.
pub(super) struct Budgets<'a> {
    app: &'a App,
    provider: &'a Provider,
    config: &'a crate::config::ProviderConfig,
    now: SystemTime,
    day_offset_secs: i32,
}

impl<'a> Budgets<'a> {
    pub(super) fn of(app: &'a App, live: &Snapshot, provider: &'a Provider) -> Self {
        Budgets {
            app,
            provider,
            config: &provider.config,
            now: switchyard_hub::clock::now(),
            day_offset_secs: live.config.routing.day_offset_secs,
        }
    }

    pub(super) fn provider(&self) -> Result<(), Failure> {
        if !self.config.budget.is_set() {
            return Ok(());
        }
        self.check(Scope::Provider, &self.provider.name, &self.config.budget)
    }

    pub(super) fn account(&self, name: &str) -> Result<(), Failure> {
        let Some(a) = self
            .config
            .accounts
            .iter()
            .find(|a| a.name == name)
            .filter(|a| a.budget.is_set())
        else {
            return Ok(());
        };
        let id = format!("{}/{name}", self.provider.name);
        self.check(Scope::Account, &id, &a.budget)
    }

    fn check(&self, scope: Scope, name: &str, budget: &Budget) -> Result<(), Failure> {
        let offset = self.day_offset_secs;
        self.app
            .budgets
            .check(scope, name, budget, self.now, offset)
            .map_err(|error| Failure {
                retry_after: error.retry_after.map(Duration::from_secs),
                error,
                upstream_body: None,
                class: FailureClass::RateLimit,
            })
    }
}

/// When the first account of any target frees up, if none can take a request now.
pub(super) fn earliest_free(live: &Snapshot, targets: &[Target]) -> Option<SystemTime> {
    let now = switchyard_hub::clock::now();
    let mut earliest: Option<SystemTime> = None;
    for t in targets {
        let provider = live.providers.get(t.provider)?;
        for a in provider.accounts().iter() {
            if t.account.as_deref().is_some_and(|p| p != a.name) {
                continue;
            }
            match a.lock_health().check(&t.model, now) {
                Ok(()) => return None,
                Err(why) => {
                    let until = why.until()?;
                    earliest = Some(earliest.map_or(until, |e| e.min(until)));
                }
            }
        }
    }
    earliest
}
