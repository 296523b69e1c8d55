//! The body of a streamed answer. It pulls the upstream body frame by frame, so each event
//! reaches the client as soon as it arrives; dropping it (the client went away) drops the
//! upstream body, which cancels the upstream request.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body::{Body, Frame};
use hyper::body::Incoming;
use serde::de::IgnoredAny;
use switchyard_hub::Decoder;
use switchyard_hub::sse::{SseEvent, SseParser};
use switchyard_hub::stream::configure_decoder;
use switchyard_hub::usage::{
    chunk_text_bytes, estimate_tokens, event_may_carry_usage, merge_stream_event,
};
use switchyard_hub::wire::{self, StreamEnd};
use switchyard_hub::{
    ApiError, ErrorKind, Format, Pipeline, StreamEvent, StreamStage, TranslateCtx, Usage,
};
use tokio::time::Sleep;

use std::sync::Arc;

use crate::http::turn::Turn;
use crate::request::record::Call;
use crate::state::app::{App, InFlight};

/// Everything the proxy path hands over once the upstream has answered 200.
pub struct StreamSetup {
    pub upstream: Incoming,
    /// Splits the provider's body into events when translating (passthrough is always SSE).
    pub decoder: Box<dyn Decoder>,
    pub pipeline: Pipeline,
    pub ctx: TranslateCtx,
    pub prompt_estimate: u64,
    /// How long the upstream may pause between frames.
    pub idle: std::time::Duration,
    pub deadline: Instant,
    /// Bytes already read from the upstream before committing to it.
    pub first: Option<Bytes>,
    /// The account's concurrency slot, held until the stream ends.
    pub slot: InFlight,
}

enum Mode {
    /// Same format both sides: forward each event's bytes as they came.
    Passthrough(SseParser),
    Translate {
        decoder: Box<dyn Decoder>,
        to_hub: Option<Box<dyn StreamStage>>,
        to_client: Option<Box<dyn StreamStage>>,
    },
}

pub struct StreamBody {
    upstream: Incoming,
    mode: Mode,
    ctx: TranslateCtx,
    client: Format,
    /// How the provider's streams end (its format's registration); in passthrough the
    /// client's, which is the same format.
    end: &'static StreamEnd,
    /// The provider sent its format's last event (or its format has none to wait for): a
    /// stream that ends without it was cut short, whatever the stages would close it with.
    provider_ended: bool,
    /// A passthrough stream made its answer whole without its last event (an OpenAI
    /// finish reason: some compatible servers end there, without `[DONE]`).
    finish_seen: bool,
    /// Client bytes ready to go, gathered while the upstream has more at hand.
    out: Vec<u8>,
    /// A frame came from the upstream since the last turn given to its connection.
    gathering: bool,
    turn: Option<Turn>,
    idle: Pin<Box<Sleep>>,
    total: Pin<Box<Sleep>>,
    idle_after: std::time::Duration,
    usage: Option<Usage>,
    text_bytes: usize,
    prompt_estimate: u64,
    ttfb_ms: Option<f64>,
    /// The request's record; taken when the stream ends.
    call: Option<Call>,
    /// For the open-streams gauge, which outlives the call's record.
    app: Arc<App>,
    /// Set once the stream has ended (normally or not): no more upstream polling.
    ended: bool,
    /// The client has been sent its format's last event (passthrough).
    delivered: bool,
    _slot: InFlight,
    debug: Option<DebugStreams>,
}

#[derive(Default)]
struct DebugStreams {
    provider: Vec<u8>,
    hub: Vec<u8>,
    client: Vec<u8>,
}

impl StreamBody {
    pub fn new(setup: StreamSetup, call: Call) -> Self {
        let mode = if setup.pipeline.is_passthrough() {
            Mode::Passthrough(SseParser::new())
        } else {
            let to_hub = setup.pipeline.stream_to_hub(&setup.ctx);
            let to_client = setup.pipeline.stream_to_client(&setup.ctx);
            let mut decoder = setup.decoder;
            // Typed stages read the provider's events without a `Value` on the way.
            configure_decoder(decoder.as_mut(), to_hub.as_deref(), to_client.as_deref());
            Mode::Translate {
                decoder,
                to_hub,
                to_client,
            }
        };
        let debug = call.is_traced().then(DebugStreams::default);
        call.app().metrics.active_streams.inc();
        let mut body = StreamBody {
            app: call.app().clone(),
            upstream: setup.upstream,
            mode,
            client: setup.pipeline.client,
            end: wire::stream_end(setup.pipeline.provider),
            provider_ended: wire::stream_end(setup.pipeline.provider).ends.is_none(),
            finish_seen: false,
            ctx: setup.ctx,
            out: Vec::new(),
            // The first bytes go out with the headers, at once.
            gathering: false,
            turn: None,
            idle: Box::pin(tokio::time::sleep(setup.idle)),
            total: Box::pin(tokio::time::sleep_until(setup.deadline.into())),
            idle_after: setup.idle,
            usage: None,
            text_bytes: 0,
            prompt_estimate: setup.prompt_estimate,
            ttfb_ms: None,
            call: Some(call),
            ended: false,
            delivered: false,
            _slot: setup.slot,
            debug,
        };
        if let Some(first) = setup.first
            && let Err(e) = body.on_bytes(&first)
        {
            body.fail(e);
        }
        body
    }

    /// Handles one upstream data frame: every complete event in it becomes output.
    fn on_bytes(&mut self, bytes: &[u8]) -> Result<(), ApiError> {
        if let Some(d) = &mut self.debug {
            d.provider.extend_from_slice(bytes);
        }
        match &mut self.mode {
            Mode::Passthrough(parser) => parser.push(bytes),
            Mode::Translate { decoder, .. } => decoder.push(bytes),
        }
        let mut buf = Vec::new();
        let result = self.drain(&mut buf);
        // Events before a bad one still reach the client, ahead of the error event.
        self.emit(buf);
        result
    }

    /// Handles every complete event buffered so far.
    fn drain(&mut self, buf: &mut Vec<u8>) -> Result<(), ApiError> {
        loop {
            match &mut self.mode {
                Mode::Passthrough(parser) => {
                    let Some(ev) = parser.next_event() else {
                        return Ok(());
                    };
                    let ev = ev.map_err(|e| {
                        ApiError::bad_gateway(format!("upstream stream is malformed: {e}"))
                    })?;
                    self.pass(ev, buf)?;
                }
                Mode::Translate { decoder, .. } => {
                    let Some(ev) = decoder.next_event() else {
                        return Ok(());
                    };
                    self.translate(Some(ev?), buf)?;
                }
            }
        }
    }

    /// Forwards one event's bytes as they came, reading usage on the way. An event whose
    /// data is not JSON is not forwarded: the stream ends there with an error, as a
    /// translated one does.
    fn pass(&mut self, ev: SseEvent, buf: &mut Vec<u8>) -> Result<(), ApiError> {
        let data = ev.data.as_bytes();
        let not_json = |e: serde_json::Error| {
            ApiError::bad_gateway(format!("upstream stream event is not JSON: {e}"))
        };
        let format = self.client;
        if event_may_carry_usage(format, ev.event.as_deref(), data) {
            let parsed: serde_json::Value = serde_json::from_str(&ev.data).map_err(not_json)?;
            merge_stream_event(format, &parsed, &mut self.usage);
            // We asked for OpenAI's usage chunk on the client's behalf; it did not.
            let usage_only = parsed
                .get("choices")
                .and_then(|c| c.as_array())
                .is_some_and(Vec::is_empty);
            if format.is_openai_stream() && usage_only && !self.ctx.client_wants_usage {
                return Ok(());
            }
        } else if !ev.is_done() && !ev.data.trim_ascii_start().is_empty() {
            // Checked without building anything: a scan of bytes already in cache.
            serde_json::from_str::<IgnoredAny>(&ev.data).map_err(not_json)?;
        }
        self.text_bytes += chunk_text_bytes(data);
        if format == Format::Responses
            && let Some(call) = self.call.as_mut().filter(|c| c.keeps_answer())
            && memchr::memmem::find(data, b"\"response.completed\"").is_some()
            && let Ok(parsed) = serde_json::from_str::<serde_json::Value>(&ev.data)
            && parsed.get("type").and_then(|t| t.as_str()) == Some("response.completed")
            && let Some(response) = parsed.get("response")
        {
            call.responded(response);
        }
        if (self.end.last)(&ev) {
            self.delivered = true;
        }
        if self.end.whole.is_some_and(|whole| whole(data)) {
            self.finish_seen = true;
        }
        buf.extend_from_slice(&ev.raw);
        Ok(())
    }

    /// Runs one provider event (or, with `None`, the end of the stream) through the stages.
    fn translate(&mut self, event: Option<StreamEvent>, buf: &mut Vec<u8>) -> Result<(), ApiError> {
        let Mode::Translate {
            to_hub, to_client, ..
        } = &mut self.mode
        else {
            return Ok(());
        };
        let end = event.is_none();
        if let Some(ev) = &event
            && !self.provider_ended
        {
            self.provider_ended = self.end.ends.is_none_or(|ends| ends(ev));
        }
        let mut hub = Vec::new();
        match (to_hub.as_mut(), event) {
            (Some(stage), Some(ev)) => stage.push(ev, &mut hub)?,
            (Some(stage), None) => stage.finish(&mut hub)?,
            (None, Some(ev)) => hub.push(ev),
            (None, None) => {}
        }
        let mut client = Vec::new();
        for chunk in hub {
            // Read through the event so a typed chunk is not turned into a `Value`.
            if let Some(u) = chunk.hub_usage() {
                self.usage = Some(u);
            }
            self.text_bytes += chunk.hub_text_bytes();
            if let Some(d) = &mut self.debug {
                chunk.encode(&mut d.hub);
            }
            match to_client.as_mut() {
                Some(stage) => stage.push(chunk, &mut client)?,
                None => {
                    if !chunk.is_hub_usage_only() || self.ctx.client_wants_usage {
                        client.push(chunk);
                    }
                }
            }
        }
        if end && let Some(stage) = to_client.as_mut() {
            stage.finish(&mut client)?;
        }
        for ev in &client {
            // By the event's name: its data may be text a stage wrote, not yet a `Value`;
            // read into one only when the answer is kept.
            if self.client == Format::Responses
                && ev.event.as_deref() == Some("response.completed")
                && let Some(call) = self.call.as_mut().filter(|c| c.keeps_answer())
                && let Some(response) = ev.data.get("response")
            {
                call.responded(response);
            }
            ev.encode(buf);
        }
        Ok(())
    }

    fn emit(&mut self, buf: Vec<u8>) {
        if buf.is_empty() {
            return;
        }
        if self.ttfb_ms.is_none() {
            self.ttfb_ms = self.call.as_ref().map(Call::elapsed_ms);
        }
        if let Some(d) = &mut self.debug {
            d.client.extend_from_slice(&buf);
        }
        if self.out.is_empty() {
            self.out = buf;
        } else {
            self.out.extend_from_slice(&buf);
        }
    }
}

/// Gathered client bytes go out once they reach this much, whatever else is at hand.
const FLUSH_AT: usize = 64 * 1024;

impl StreamBody {
    fn take_out(&mut self) -> Bytes {
        Bytes::from(std::mem::take(&mut self.out))
    }

    /// The upstream ended normally: flush what is left, close the client's stream, record.
    fn finish(&mut self) {
        if let Some(call) = &mut self.call {
            call.upstream_done();
        }
        let mut buf = Vec::new();
        let rest = match &mut self.mode {
            Mode::Passthrough(parser) => match parser.finish() {
                Some(Ok(ev)) => self.pass(ev, &mut buf),
                Some(Err(e)) => Err(ApiError::bad_gateway(format!(
                    "upstream stream is malformed: {e}"
                ))),
                None => Ok(()),
            },
            Mode::Translate { decoder, .. } => match decoder.finish() {
                Ok(Some(ev)) => self.translate(Some(ev), &mut buf),
                Ok(None) => Ok(()),
                Err(e) => Err(e.into()),
            },
        };
        let cut = match self.mode {
            Mode::Passthrough(_) => !self.delivered && !self.finish_seen,
            Mode::Translate { .. } => !self.provider_ended,
        };
        // Claude Code and Codex wait for their format's last event and show nothing
        // without it: a stream cut short ends with an error event they do show.
        let rest = rest.and_then(|()| match cut {
            true => Err(ApiError::bad_gateway(format!(
                "the upstream ended its stream without {}; the answer may be incomplete",
                self.end.name
            ))),
            false => self.translate(None, &mut buf),
        });
        if let Err(e) = rest {
            self.emit(buf);
            return self.fail(e);
        }
        // `[DONE]` is Switchyard's to send when translating, and the provider's when not;
        // an OpenAI-compatible server that ended on its finish reason gets it added.
        if self.client.is_openai_stream()
            && (matches!(self.mode, Mode::Translate { .. }) || !self.delivered)
        {
            buf.extend_from_slice(b"data: [DONE]\n\n");
        }
        self.emit(buf);
        self.ended = true;
        let usage = self.usage_or_estimate();
        self.write_debug();
        if let Some(call) = self.call.take() {
            let cost_header = call.live().config.cost_header;
            let cost = call.succeed(200, usage, self.ttfb_ms);
            // An SSE comment: every client's parser skips it, and it comes after the
            // format's own end so nothing that reads the events is disturbed.
            if cost_header {
                let comment = format!(": cost-usd {}\n\n", crate::request::cost_text(cost));
                self.emit(comment.into_bytes());
            }
        }
    }

    /// The stream broke: end the client's stream with an error event in its format, record.
    fn fail(&mut self, err: ApiError) {
        self.ended = true;
        let mut events = Vec::new();
        match &mut self.mode {
            Mode::Translate {
                to_client: Some(stage),
                ..
            } => stage.fail(&err, &mut events),
            _ => events.push(err.stream_end(self.client)),
        }
        let mut buf = Vec::new();
        for ev in &events {
            ev.encode(&mut buf);
        }
        self.emit(buf);
        let usage = self.usage_or_estimate();
        self.write_debug();
        if let Some(call) = self.call.take() {
            call.fail(&err, usage, self.ttfb_ms);
        }
    }

    fn usage_or_estimate(&self) -> Usage {
        self.usage.unwrap_or(Usage {
            prompt_tokens: self.prompt_estimate,
            completion_tokens: estimate_tokens(self.text_bytes),
            estimated: true,
            ..Usage::default()
        })
    }

    /// The usage of a stream cut short: what the upstream reported so far, with what it has
    /// not reported yet estimated (the prompt from the request's size, the completion from
    /// the text passed on), and flagged as estimated when anything was.
    fn usage_so_far(&self) -> Usage {
        let mut usage = self.usage.unwrap_or_default();
        if usage.prompt_tokens == 0 {
            usage.prompt_tokens = self.prompt_estimate;
            usage.estimated = true;
        }
        if usage.completion_tokens == 0 && self.text_bytes > 0 {
            usage.completion_tokens = estimate_tokens(self.text_bytes);
            usage.estimated = true;
        }
        usage
    }

    fn write_debug(&mut self) {
        // `debug` is there only when the call has a trace to fill.
        if let (Some(d), Some(call)) = (self.debug.take(), self.call.as_mut()) {
            let hub = if matches!(self.mode, Mode::Passthrough(_)) {
                d.client.clone()
            } else {
                d.hub
            };
            call.trace_raw("4_res_provider.sse", || d.provider);
            call.trace_raw("5_res_hub.sse", || hub);
            call.trace_raw("6_res_client.sse", || d.client);
        }
    }
}

impl Body for StreamBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = &mut *self;
        loop {
            if this.ended || this.out.len() >= FLUSH_AT {
                if !this.out.is_empty() {
                    return Poll::Ready(Some(Ok(Frame::data(this.take_out()))));
                }
                if this.ended {
                    return Poll::Ready(None);
                }
            }
            if this.total.as_mut().poll(cx).is_ready() {
                this.fail(ApiError::new(
                    504,
                    ErrorKind::Timeout,
                    "the stream exceeded the total time limit",
                ));
                continue;
            }
            match Pin::new(&mut this.upstream).poll_frame(cx) {
                Poll::Pending => {
                    if this.idle.as_mut().poll(cx).is_ready() {
                        this.fail(ApiError::new(
                            504,
                            ErrorKind::Timeout,
                            "upstream went quiet mid-stream",
                        ));
                        continue;
                    }
                    if this.out.is_empty() {
                        return Poll::Pending;
                    }
                    // The upstream connection hands over one frame per turn; when the last
                    // turn brought one, it may hold more already read. One more turn lets
                    // them join this write: one write and one wake-up for the client
                    // instead of one per event. Only bytes already here wait, never the
                    // network.
                    match &this.turn {
                        None if std::mem::take(&mut this.gathering) => {
                            this.turn = Some(Turn::give(cx));
                            return Poll::Pending;
                        }
                        Some(turn) if !turn.over() => return Poll::Pending,
                        _ => {
                            this.turn = None;
                            return Poll::Ready(Some(Ok(Frame::data(this.take_out()))));
                        }
                    }
                }
                Poll::Ready(Some(Ok(frame))) => {
                    this.gathering = true;
                    this.turn = None;
                    let deadline = tokio::time::Instant::now() + this.idle_after;
                    this.idle.as_mut().reset(deadline);
                    if let Ok(data) = frame.into_data()
                        && let Err(e) = this.on_bytes(&data)
                    {
                        this.fail(e);
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    this.fail(ApiError::bad_gateway(format!(
                        "upstream stream broke off: {e}"
                    )));
                }
                Poll::Ready(None) => this.finish(),
            }
        }
    }
}

impl Drop for StreamBody {
    fn drop(&mut self) {
        self.app.metrics.active_streams.dec();
        // A client may hang up as soon as it has the stream's last event, before the
        // upstream's end of body arrives: that request succeeded, it was not cancelled.
        if self.delivered && self.call.is_some() {
            self.write_debug();
            let usage = self.usage_or_estimate();
            if let Some(call) = self.call.take() {
                call.succeed(200, usage, self.ttfb_ms);
            }
        } else if self.call.is_some() {
            // The client left mid-stream: what it was sent is still work done for it.
            self.write_debug();
            let usage = self.usage_so_far();
            if let Some(call) = self.call.take() {
                call.cancel(usage, self.ttfb_ms);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // The stream ends each format registers, as this body reads them.
    fn has_finish_reason(data: &[u8]) -> bool {
        wire::stream_end(Format::OpenAi)
            .whole
            .is_some_and(|whole| whole(data))
    }

    fn ends_stream(provider: Format, ev: &StreamEvent) -> bool {
        wire::stream_end(provider).ends.is_none_or(|ends| ends(ev))
    }

    #[test]
    fn finish_reason_is_read_from_bytes() {
        assert!(has_finish_reason(
            br#"{"choices":[{"finish_reason": "stop"}]}"#
        ));
        assert!(has_finish_reason(
            br#"{"choices":[{"finish_reason":"length"}]}"#
        ));
        assert!(!has_finish_reason(
            br#"{"choices":[{"finish_reason":null}]}"#
        ));
        assert!(!has_finish_reason(
            br#"{"choices":[{"delta":{"content":"x"}}]}"#
        ));
        assert!(!has_finish_reason(br#"{"finish_reason""#));
    }

    #[test]
    fn provider_terminal_events_are_recognised() {
        let named = |e: &'static str, d| StreamEvent::named(e, d);
        assert!(ends_stream(
            Format::Claude,
            &named("message_stop", json!({"type": "message_stop"}))
        ));
        assert!(!ends_stream(
            Format::Claude,
            &named("content_block_stop", json!({"type": "content_block_stop"}))
        ));
        assert!(ends_stream(
            Format::Responses,
            &named("response.incomplete", json!({}))
        ));
        assert!(!ends_stream(
            Format::Responses,
            &named("response.output_text.delta", json!({}))
        ));
        let gemini = json!({"candidates": [{"finishReason": "STOP"}]});
        assert!(ends_stream(
            Format::Gemini,
            &StreamEvent::hub(gemini.clone())
        ));
        assert!(ends_stream(
            Format::GeminiCli,
            &StreamEvent::hub(json!({"response": gemini}))
        ));
        assert!(!ends_stream(
            Format::Gemini,
            &StreamEvent::hub(json!({"candidates": [{}]}))
        ));
        assert!(ends_stream(
            Format::OpenAi,
            &StreamEvent::hub(json!({"choices": [{"finish_reason": "stop"}]}))
        ));
        assert!(ends_stream(
            switchyard_kiro::KIRO,
            &StreamEvent::hub(json!({}))
        ));
    }
}
