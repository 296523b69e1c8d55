//! The route of one request through the hub: client -> hub -> provider, and back.

use serde_json::Value;

use crate::ctx::TranslateCtx;
use crate::error::TranslateError;
use crate::format::Format;
use crate::operation::Operation;
use crate::registry::{Registry, RequestFn, ResponseFn, StreamFn};
use crate::stream::StreamStage;

/// The translators one (client, provider) pair needs, resolved before anything is sent so a
/// missing pair fails fast. When both sides speak the same format nothing is translated.
#[derive(Clone, Copy, Debug)]
pub struct Pipeline {
    pub client: Format,
    pub provider: Format,
    passthrough: bool,
    request_to_hub: Option<RequestFn>,
    request_to_provider: Option<RequestFn>,
    response_to_hub: Option<ResponseFn>,
    response_to_client: Option<ResponseFn>,
    stream_to_hub: Option<StreamFn>,
    stream_to_client: Option<StreamFn>,
}

impl Pipeline {
    /// `stream` is whether the client streams; `upstream_stream` whether the provider will
    /// (a provider that only streams answers a non-streaming client through a collector).
    pub fn new(
        registry: &Registry,
        client: Format,
        provider: Format,
        stream: bool,
        upstream_stream: bool,
    ) -> Result<Pipeline, TranslateError> {
        Self::for_op(
            registry,
            Operation::Chat,
            client,
            provider,
            stream,
            upstream_stream,
        )
    }

    /// The pipeline of an `op` request, with the translators registered for that operation.
    pub fn for_op(
        registry: &Registry,
        op: Operation,
        client: Format,
        provider: Format,
        stream: bool,
        upstream_stream: bool,
    ) -> Result<Pipeline, TranslateError> {
        let mut p = Pipeline {
            client,
            provider,
            passthrough: client == provider && stream == upstream_stream,
            request_to_hub: None,
            request_to_provider: None,
            response_to_hub: None,
            response_to_client: None,
            stream_to_hub: None,
            stream_to_client: None,
        };
        if p.passthrough {
            return Ok(p);
        }
        if client != Format::HUB {
            p.request_to_hub = Some(registry.request_for(op, client, Format::HUB)?);
            if stream {
                p.stream_to_client = Some(registry.stream_for(op, Format::HUB, client)?);
            } else {
                p.response_to_client = Some(registry.response_for(op, Format::HUB, client)?);
            }
        }
        if provider != Format::HUB {
            p.request_to_provider = Some(registry.request_for(op, Format::HUB, provider)?);
            if upstream_stream {
                p.stream_to_hub = Some(registry.stream_for(op, provider, Format::HUB)?);
            } else {
                p.response_to_hub = Some(registry.response_for(op, provider, Format::HUB)?);
            }
        }
        Ok(p)
    }

    /// Same format and the same shape (stream or not) on both sides: bodies and stream
    /// events pass through untouched.
    pub fn is_passthrough(&self) -> bool {
        self.passthrough
    }

    pub fn request_to_hub(
        &self,
        mut body: Value,
        ctx: &mut TranslateCtx,
    ) -> Result<Value, TranslateError> {
        if self.passthrough {
            // Untranslated, the body may still hold other families' signatures from turns
            // another provider answered; only those fields are visited.
            crate::provenance::strip_foreign(self.client, &mut body);
        }
        apply(self.request_to_hub, body, ctx)
    }

    pub fn request_to_provider(
        &self,
        hub: Value,
        ctx: &mut TranslateCtx,
    ) -> Result<Value, TranslateError> {
        apply(self.request_to_provider, hub, ctx)
    }

    pub fn response_to_hub(
        &self,
        body: Value,
        ctx: &TranslateCtx,
    ) -> Result<Value, TranslateError> {
        match self.response_to_hub {
            Some(f) => f(body, ctx),
            None => Ok(body),
        }
    }

    pub fn response_to_client(
        &self,
        hub: Value,
        ctx: &TranslateCtx,
    ) -> Result<Value, TranslateError> {
        match self.response_to_client {
            Some(f) => f(hub, ctx),
            None => Ok(hub),
        }
    }

    /// The provider -> hub stage, if the provider does not speak the hub format.
    pub fn stream_to_hub(&self, ctx: &TranslateCtx) -> Option<Box<dyn StreamStage>> {
        self.stream_to_hub.map(|f| f(ctx))
    }

    /// The hub -> client stage, if the client does not speak the hub format.
    pub fn stream_to_client(&self, ctx: &TranslateCtx) -> Option<Box<dyn StreamStage>> {
        self.stream_to_client.map(|f| f(ctx))
    }
}

fn apply(
    f: Option<RequestFn>,
    body: Value,
    ctx: &mut TranslateCtx,
) -> Result<Value, TranslateError> {
    match f {
        Some(f) => f(body, ctx),
        None => Ok(body),
    }
}
