//! A request the server makes of itself: one tiny chat turn sent to one provider through
//! the same delivery as a client's (accounts in strategy order, failover, cooldowns), so
//! "test this provider" proves what a client would see, and leaves its usage row like any
//! request does.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchyard_hub::{Format, Operation, Usage};
use switchyard_provider::ClientHeaders;

use super::answer::{self, Outcome, Reply};
use super::deliver::{Delivery, Undelivered};
use super::record::Call;
use super::resolve::Target;
use crate::state::app::{App, Snapshot};

/// How a probe went.
pub struct Probe {
    pub status: u16,
    pub latency_ms: u64,
    /// The first words of the answer, when there was one.
    pub reply: Option<String>,
    pub error: Option<String>,
    pub request_id: String,
}

/// Enough for any model to say a word, few enough to cost next to nothing.
const MAX_TOKENS: u64 = 16;

/// The longest a probe waits, whatever the configured request timeout.
const PROBE_LIMIT: Duration = Duration::from_secs(30);

/// Asks `model` on the provider at `index` in `live` for a one-word answer.
pub async fn chat(app: Arc<App>, live: Arc<Snapshot>, index: usize, model: String) -> Probe {
    let started = Instant::now();
    let mut call = Call::new(app.clone(), &live, Format::OpenAi);
    let request_id = call.id().to_owned();
    call.requested(&model, false);
    call.operation(Operation::Chat);
    call.resolved(None);
    let body = json!({
        "model": model,
        "messages": [{"role": "user", "content": "Reply with the word ok."}],
        "max_tokens": MAX_TOKENS,
    });
    let headers = ClientHeaders::none(Format::OpenAi);
    let deadline = started + live.config.timeouts.total.min(PROBE_LIMIT);
    let delivery = Delivery {
        app: &app,
        live: &live,
        client: Format::OpenAi,
        op: Operation::Chat,
        stream: false,
        count: false,
        session: None,
        client_headers: &headers,
        deadline,
    };
    let reply = Reply {
        op: Operation::Chat,
        stream: false,
        client_wants_usage: false,
        prompt_estimate: 8,
        idle: live.config.timeouts.idle,
        deadline,
    };
    let target = Target {
        provider: index,
        model,
        account: None,
    };
    let outcome = match delivery.deliver(&mut call, &[target], body).await {
        Ok(delivered) => answer::answer(&mut call, delivered, &reply).await,
        Err(Undelivered::Request(e)) => Err(e),
        Err(Undelivered::Failed(failure, pipeline)) => {
            Ok(answer::failed(&mut call, &pipeline, *failure))
        }
    };
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let ttfb = Some(call.elapsed_ms());
    let (status, reply, error) = match outcome {
        Ok(Outcome::Json {
            status,
            body,
            usage,
        }) => {
            call.succeed(status, usage, ttfb);
            let text = serde_json::from_slice::<Value>(&body).ok().and_then(|v| {
                v.pointer("/choices/0/message/content")
                    .and_then(Value::as_str)
                    .map(|t| t.chars().take(200).collect::<String>())
            });
            (status, Some(text.unwrap_or_default()), None)
        }
        Ok(Outcome::Stream(_)) => {
            let err = switchyard_hub::ApiError::internal("the provider answered a stream");
            call.fail(&err, Usage::default(), ttfb);
            (err.status, None, Some(err.message))
        }
        Ok(Outcome::Failed(err, _)) | Err(err) => {
            call.fail(&err, Usage::default(), ttfb);
            (err.status, None, Some(err.message))
        }
    };
    Probe {
        status,
        latency_ms,
        reply,
        error,
        request_id,
    }
}
