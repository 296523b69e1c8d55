//! Answering the client once an upstream has: a stream handed to the client as it comes, a
//! stream collected into one answer for a client that asked for one, or a whole answer
//! passed through untouched or translated; and the answers made here (token counts, and
//! the error when every upstream failed).

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Response;
use hyper::body::Incoming;
use serde_json::Value;
use switchyard_hub::collect::Collector;
use switchyard_hub::usage::{self, estimate_prompt_tokens, estimate_tokens};
use switchyard_hub::{ApiError, Decoder, Format, Operation, Pipeline, TranslateCtx, Usage};
use switchyard_provider::Failure;

use crate::http::respond::{self, Body};
use crate::http::stream_body::StreamSetup;
use crate::request::attempt::{Answer, Parsed, read_upstream};
use crate::request::deliver::Delivered;
use crate::request::record::Call;
use crate::state::app::{InFlight, Provider};

/// How the request ends; `request::handle` turns it into a response and a usage row.
pub enum Outcome {
    /// Boxed: the setup is several hundred bytes, and every future that holds an `Outcome`
    /// would otherwise carry (and copy) that much for the whole-body case too.
    Stream(Box<StreamSetup>),
    Json {
        status: u16,
        body: Bytes,
        usage: Usage,
    },
    /// An error, with the response to send (an upstream's own body, or ours rendered).
    Failed(ApiError, Response<Body>),
}

/// What the client asked of the answer, beyond its body.
pub struct Reply {
    /// The endpoint's operation: what the answer holds besides text (vectors, images).
    pub op: Operation,
    pub stream: bool,
    /// `stream_options.include_usage`: a usage chunk at the end of an OpenAI stream.
    pub client_wants_usage: bool,
    /// Prompt tokens guessed from the body's size, used when the provider reports none:
    /// it costs nothing, where walking a large body would cost every request.
    pub prompt_estimate: u64,
    pub idle: Duration,
    pub deadline: Instant,
}

/// A count_tokens request, answered here with an estimate.
pub fn count_tokens(client: Format, body: &Value) -> Outcome {
    let tokens = estimate_prompt_tokens(body);
    let usage = Usage {
        prompt_tokens: tokens,
        estimated: true,
        ..Usage::default()
    };
    let answer = match client {
        Format::Gemini => serde_json::json!({"totalTokens": tokens}),
        _ => serde_json::json!({"input_tokens": tokens}),
    };
    Outcome::Json {
        status: 200,
        body: Bytes::from(answer.to_string()),
        usage,
    }
}

/// A count the provider's own counting endpoint answered, in the client's format: passed
/// through when the formats match, else its number in the client's shape.
pub fn counted(client: Format, delivered: Delivered<'_>) -> Result<Outcome, ApiError> {
    let Answer::Whole { status, body, .. } = delivered.answer else {
        return Err(ApiError::internal(
            "a token count was answered with a stream",
        ));
    };
    let v: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_gateway(format!("the token count answer is not JSON: {e}")))?;
    let tokens = ["input_tokens", "totalTokens"]
        .iter()
        .find_map(|k| v.get(*k).and_then(Value::as_u64))
        .ok_or_else(|| ApiError::bad_gateway("the token count answer holds no count"))?;
    let usage = Usage {
        prompt_tokens: tokens,
        ..Usage::default()
    };
    let body = if delivered.pipeline.is_passthrough() {
        body
    } else {
        let answer = match client {
            Format::Gemini => serde_json::json!({"totalTokens": tokens}),
            _ => serde_json::json!({"input_tokens": tokens}),
        };
        Bytes::from(answer.to_string())
    };
    Ok(Outcome::Json {
        status,
        body,
        usage,
    })
}

/// Answers the client from a delivered upstream answer.
pub async fn answer(
    call: &mut Call,
    delivered: Delivered<'_>,
    reply: &Reply,
) -> Result<Outcome, ApiError> {
    let Delivered {
        pipeline,
        mut ctx,
        provider,
        slot,
        answer,
    } = delivered;
    ctx.client_wants_usage = reply.client_wants_usage;
    let answering = Answering {
        pipeline,
        ctx,
        provider,
        reply,
    };
    match answer {
        Answer::Stream { res, first } if reply.stream => Ok(answering.stream(res, first, slot)),
        Answer::Stream { res, first } => answering.collect(call, res, first, slot).await,
        Answer::Whole {
            status,
            body,
            parsed,
        } => {
            drop(slot);
            answering.whole(call, status, body, parsed)
        }
    }
}

/// What answering needs from the delivery.
struct Answering<'a> {
    pipeline: Pipeline,
    ctx: TranslateCtx,
    provider: &'a Provider,
    reply: &'a Reply,
}

impl Answering<'_> {
    /// The stream goes to the client as it comes (see `StreamBody`).
    fn stream(self, res: Response<Incoming>, first: Bytes, slot: InFlight) -> Outcome {
        Outcome::Stream(Box::new(StreamSetup {
            upstream: res.into_body(),
            first: Some(first),
            decoder: self.provider.executor.decoder(),
            pipeline: self.pipeline,
            ctx: self.ctx,
            prompt_estimate: self.reply.prompt_estimate,
            idle: self.reply.idle,
            deadline: self.reply.deadline,
            slot,
        }))
    }

    /// The provider only streams; the client asked for one answer.
    async fn collect(
        self,
        call: &mut Call,
        res: Response<Incoming>,
        first: Bytes,
        slot: InFlight,
    ) -> Result<Outcome, ApiError> {
        let status = res.status().as_u16();
        let rest = read_upstream(res.into_body(), self.reply.idle, self.reply.deadline)
            .await
            .map_err(|f| f.error)?;
        call.upstream_done();
        drop(slot);
        let bytes = Bytes::from([first, rest].concat());
        call.trace_raw("4_res_provider.sse", || bytes.to_vec());
        let hub = collect_stream(
            &self.pipeline,
            &self.ctx,
            self.provider.executor.decoder(),
            &bytes,
        )?;
        let usage = hub
            .get("usage")
            .and_then(Usage::from_openai)
            .unwrap_or_else(|| Usage {
                prompt_tokens: self.reply.prompt_estimate,
                completion_tokens: estimate_tokens(hub.to_string().len()),
                estimated: true,
                ..Usage::default()
            });
        call.trace_json("5_res_hub.json", &hub);
        let body = Bytes::from(
            self.pipeline
                .response_to_client(hub, &self.ctx)?
                .to_string(),
        );
        call.trace_raw("6_res_client.json", || body.to_vec());
        Ok(Outcome::Json {
            status,
            body,
            usage,
        })
    }

    /// A whole answer, already read and parsed as far as it needs.
    fn whole(
        self,
        call: &mut Call,
        status: u16,
        bytes: Bytes,
        parsed: Parsed,
    ) -> Result<Outcome, ApiError> {
        call.trace_raw("4_res_provider.json", || bytes.to_vec());
        // Vectors and images are not generated tokens: only chat answers are counted by size.
        let generated = if self.reply.op.via_chat() {
            estimate_tokens(bytes.len())
        } else {
            0
        };
        let estimate = |reported: Option<Usage>| {
            reported.unwrap_or_else(|| Usage {
                prompt_tokens: self.reply.prompt_estimate,
                completion_tokens: generated,
                estimated: true,
                ..Usage::default()
            })
        };
        let (body, usage) = match parsed {
            // Same format on both sides: the upstream's bytes go out untouched, and only the
            // usage is read from them.
            Parsed::Usage(reported) => {
                let usage = estimate(reported);
                call.trace_raw("5_res_hub.json", || bytes.to_vec());
                (bytes, usage)
            }
            Parsed::Json(provider_json) => {
                let usage = estimate(usage::from_response(self.pipeline.provider, &provider_json));
                let hub = self.pipeline.response_to_hub(provider_json, &self.ctx)?;
                call.trace_json("5_res_hub.json", &hub);
                (
                    Bytes::from(
                        self.pipeline
                            .response_to_client(hub, &self.ctx)?
                            .to_string(),
                    ),
                    usage,
                )
            }
        };
        call.trace_raw("6_res_client.json", || body.to_vec());
        if self.reply.op == Operation::Images {
            call.images(count_images(self.pipeline.client, &body));
        }
        Ok(Outcome::Json {
            status,
            body,
            usage,
        })
    }
}

/// The images an answer to the client holds: OpenAI's `data[]`, Imagen's `predictions[]`,
/// or Gemini's inline image parts.
fn count_images(client: Format, body: &[u8]) -> u64 {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return 0;
    };
    let len = |p: &str| v.pointer(p).and_then(Value::as_array).map_or(0, Vec::len);
    let n = match client {
        Format::Gemini if v.get("predictions").is_some() => len("/predictions"),
        Format::Gemini => v
            .get("candidates")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| c.pointer("/content/parts").and_then(Value::as_array))
            .flatten()
            .filter(|p| p.get("inlineData").is_some())
            .count(),
        _ => len("/data"),
    };
    n as u64
}

/// Decodes a whole provider stream into hub chunks and collects them into one hub answer.
pub(crate) fn collect_stream(
    pipeline: &Pipeline,
    ctx: &TranslateCtx,
    mut decoder: Box<dyn Decoder>,
    bytes: &[u8],
) -> Result<Value, ApiError> {
    let mut to_hub = pipeline.stream_to_hub(ctx);
    let mut events = Vec::new();
    decoder.push(bytes);
    while let Some(ev) = decoder.next_event() {
        events.push(ev?);
    }
    events.extend(decoder.finish()?);
    let mut hub = Vec::new();
    match to_hub.as_mut() {
        Some(stage) => {
            for ev in events {
                stage.push(ev, &mut hub)?;
            }
            stage.finish(&mut hub)?;
        }
        None => hub = events,
    }
    let mut collector = Collector::default();
    for chunk in &hub {
        collector.push(&chunk.data);
    }
    Ok(collector.finish())
}

/// The response for a request every account failed: the upstream's own status and body
/// when the client speaks the provider's format, else the error in the client's format.
pub fn failed(call: &mut Call, pipeline: &Pipeline, failure: Failure) -> Outcome {
    if let Some(body) = &failure.upstream_body {
        call.trace_raw("4_res_provider.json", || body.to_vec());
    }
    let mut error = failure.error;
    if let Some(after) = failure.retry_after {
        let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
        error.retry_after = Some(secs.max(1));
    }
    let res = match &failure.upstream_body {
        Some(body)
            if pipeline.is_passthrough() && serde_json::from_slice::<Value>(body).is_ok() =>
        {
            respond::with_retry_after(
                respond::bytes(error.status, "application/json", body.clone()),
                error.retry_after,
            )
        }
        _ => respond::error(&error, pipeline.client),
    };
    Outcome::Failed(error, res)
}
