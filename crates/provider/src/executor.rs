//! The executor contract: how a request in a provider's format becomes an HTTP request to
//! that provider. Executors register with `inventory::submit!` under a kind name that the
//! config's `kind` key selects.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method};
use serde_json::Value;
use switchyard_auth::oauth::LoginUi;
use switchyard_auth::{AuthError, Credential};
use switchyard_hub::framing::SseDecoder;
use switchyard_hub::{ApiError, Decoder, Format, Operation};

use crate::client::UpstreamClient;
use crate::failure::Failure;
use crate::forward::ClientHeaders;

/// A provider as configured, before any account is chosen.
#[derive(Clone, Debug)]
pub struct ProviderSettings {
    pub name: String,
    pub base_url: String,
    pub user_agent: Option<String>,
    /// Extra headers sent with every request (non-secret; e.g. OpenRouter's `HTTP-Referer`).
    pub headers: BTreeMap<String, String>,
    /// Settings only this kind of provider reads (auth endpoints, region, versions...).
    pub options: BTreeMap<String, String>,
}

impl ProviderSettings {
    /// A kind-specific setting, or `default` when the config leaves it out.
    pub fn option(&self, key: &str, default: &str) -> String {
        self.options
            .get(key)
            .cloned()
            .unwrap_or_else(|| default.to_owned())
    }

    /// A setting in seconds (`refresh_lead_secs = "600"`), or `default`.
    pub fn option_secs(&self, key: &str, default: Duration) -> Duration {
        self.options
            .get(key)
            .and_then(|v| v.trim().parse().ok())
            .map_or(default, Duration::from_secs)
    }
}

/// An HTTP request ready to send upstream.
#[derive(Debug)]
pub struct UpstreamRequest {
    pub method: Method,
    pub url: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

pub trait Executor: Send + Sync + std::fmt::Debug {
    /// The wire format this provider speaks.
    fn format(&self) -> Format;

    /// Shapes a body already in the provider's format (model, provider-specific rules) and
    /// builds the request for `model` with `credential`.
    fn build(
        &self,
        body: Value,
        model: &str,
        stream: bool,
        credential: &Credential,
    ) -> Result<UpstreamRequest, ApiError>;

    /// The format this provider takes `op` requests in, or `None` when it has no endpoint
    /// for `op` (an operation that can go as chat, [`Operation::via_chat`], then does).
    fn serves(&self, op: Operation) -> Option<Format> {
        (op == Operation::Chat).then(|| self.format())
    }

    /// Builds the request for an `op` request whose body is already in
    /// [`Executor::serves`]'s format. Chat is [`Executor::build`]; a provider that
    /// serves another operation says so in `serves` and builds it here.
    fn build_for(
        &self,
        op: Operation,
        body: Value,
        model: &str,
        stream: bool,
        credential: &Credential,
    ) -> Result<UpstreamRequest, ApiError> {
        if op == Operation::Chat {
            return self.build(body, model, stream, credential);
        }
        Err(
            ApiError::invalid_request(format!("model `{model}` cannot serve {op}"))
                .with_code("unsupported_endpoint"),
        )
    }

    /// Builds the head of a request whose body goes upstream as the client sent it
    /// ([`Operation::raw_body`]: speech, transcriptions, image edits): the URL and headers
    /// for `model`, with `content_type` the body's own (a multipart boundary included). The
    /// server attaches the body, streamed, so `body` here stays empty.
    fn build_raw(
        &self,
        op: Operation,
        model: &str,
        content_type: &http::HeaderValue,
        credential: &Credential,
    ) -> Result<UpstreamRequest, ApiError> {
        let _ = (content_type, credential);
        Err(
            ApiError::invalid_request(format!("model `{model}` cannot serve {op}"))
                .with_code("unsupported_endpoint"),
        )
    }

    /// The executor's fetching of what a long-running job produced, for a provider that
    /// runs such jobs (OpenAI's and Gemini's videos); `None` for the rest.
    fn job_fetching(&self) -> Option<&dyn FetchesJobs> {
        None
    }

    /// Whether this provider has its own token-counting endpoint. A count request for a
    /// provider without one is answered with a local estimate, flagged as such.
    fn counts_tokens(&self) -> bool {
        false
    }

    /// Builds the token-counting request for a chat body already in [`Executor::format`]
    /// (the body a generate request would send), reshaped into the counting endpoint's own
    /// body. The answer names the count as `input_tokens` (Anthropic) or `totalTokens`
    /// (Gemini, Code Assist).
    fn build_count(
        &self,
        body: Value,
        model: &str,
        credential: &Credential,
    ) -> Result<UpstreamRequest, ApiError> {
        let _ = (body, credential);
        Err(
            ApiError::invalid_request(format!("model `{model}` has no token-counting endpoint"))
                .with_code("unsupported_endpoint"),
        )
    }

    /// The request that lists the models an account may use (`GET .../models`), where the
    /// provider's API has one; `None` where it has not (Codex, Kiro, Cursor, Code Assist).
    /// The server reads the answer by its shape (`data[]` or Gemini's `models[]`).
    fn list_models(&self, credential: &Credential) -> Option<Result<UpstreamRequest, ApiError>> {
        let _ = credential;
        None
    }

    /// Ties a built request to the client's conversation, for providers that route or cache
    /// by a session id (Codex's `session_id`). Most have nothing to add.
    fn add_session(&self, _session: &str, _headers: &mut HeaderMap) {}

    /// Adds the client's own headers (its beta flags, API version; see [`ClientHeaders`]) to
    /// a built request. The server calls it only when the body goes out in the client's own
    /// format. By default each is set unless the executor set it itself, and flag lists are
    /// merged with the provider's.
    fn forward(&self, client: &ClientHeaders, headers: &mut HeaderMap) {
        client.insert_missing(headers);
    }

    /// How this provider's stream body splits into events (SSE unless it says otherwise).
    fn decoder(&self) -> Box<dyn Decoder> {
        Box::new(SseDecoder::default())
    }

    /// Renews an OAuth credential. The server calls it through a de-duplicating gate, before
    /// expiry (see [`Executor::refresh_lead`]) and once after a 401; executors whose accounts
    /// use plain API keys keep the default.
    fn refresh<'a>(
        &'a self,
        credential: &'a Credential,
        client: &'a UpstreamClient,
    ) -> RefreshFuture<'a> {
        let _ = (credential, client);
        Box::pin(async { Err(RefreshError::NotSupported) })
    }

    /// How long before expiry a credential is renewed.
    fn refresh_lead(&self) -> Duration {
        Duration::from_secs(300)
    }

    /// The executor's response store, for a provider that keeps the responses it gives
    /// (OpenAI's Responses API with `store` on); `None` for the rest, which get the
    /// conversation a `previous_response_id` stands for instead.
    fn response_store(&self) -> Option<&dyn StoresResponses> {
        None
    }

    /// Whether this provider answers only as a stream, so a client's non-streaming request
    /// is sent as a stream and the answer collected here.
    fn always_streams(&self) -> bool {
        false
    }

    /// Whether `credential` must be renewed before it is used: by default an OAuth token
    /// within [`Executor::refresh_lead`] of its expiry. Providers that derive more from the
    /// grant (a Copilot token, a Code Assist project) also ask when that is missing.
    fn needs_refresh(&self, credential: &Credential) -> bool {
        credential.is_oauth() && credential.expires_within(self.refresh_lead())
    }

    /// Whether refreshes of this provider's accounts must run one at a time: rotating,
    /// single-use refresh tokens of one client can revoke each other's family when renewed
    /// at once (Codex).
    fn refresh_serially(&self) -> bool {
        false
    }

    /// The executor's endpoint learning, for a provider that serves some models on another
    /// endpoint and learns which from its answers (Copilot); `None` for the rest, which
    /// send every model in [`Executor::format`].
    fn endpoint_learning(&self) -> Option<&dyn LearnsEndpoint> {
        None
    }

    /// Classifies an upstream error answer to a request sent with `credential`. Executors read
    /// their provider's own hints here (a quota reset time, an endpoint to use instead for
    /// `model`, a subscription that serves only its own client).
    fn classify(
        &self,
        model: &str,
        credential: &Credential,
        status: u16,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Failure {
        let _ = (model, credential);
        Failure::from_response(status, headers, body)
    }

    /// Logs an account in interactively (`switchyard login`).
    fn login<'a>(&'a self, client: &'a UpstreamClient, ui: &'a LoginUi) -> LoginFuture<'a> {
        let _ = (client, ui);
        Box::pin(async {
            Err(AuthError::Invalid(
                "this provider has no login; give its accounts an api_key in the config".into(),
            ))
        })
    }
}

/// An optional capability of an executor (see [`Executor::endpoint_learning`]): the format
/// a model is sent in can change after an upstream answer, when the provider refuses the
/// model on one endpoint and points at another. The server then translates the request
/// once more and tries the target again, and keeps what was learned across restarts.
pub trait LearnsEndpoint: Send + Sync {
    /// The format a request for `model` is sent in now.
    fn format_for(&self, model: &str) -> Format;

    /// Takes back a format learned for `model` before a restart.
    fn restore(&self, model: &str, format: Format);
}

/// An optional capability of an executor (see [`Executor::job_fetching`]): GETs on the
/// provider's API for what a long-running job needs after it started.
pub trait FetchesJobs: Send + Sync {
    /// Builds a GET with `credential` for a video's status or its bytes: `target` is a path
    /// under the base URL (`videos/{id}`, a Gemini operation name) or an absolute URL the
    /// provider gave (a Veo video's download URI), which [`fetch_url`] keeps to the base
    /// URL's origin so a key never goes to a host the configuration did not name.
    fn build_fetch(
        &self,
        target: &str,
        credential: &Credential,
    ) -> Result<UpstreamRequest, ApiError>;
}

/// An optional capability of an executor (see [`Executor::response_store`]): the provider
/// keeps the responses it gives, so a Responses request may name one it gave in
/// `previous_response_id` and be sent as it came. It has nothing to do but be there.
pub trait StoresResponses: Send + Sync {}

/// What a login produced: the credential, and a name for the account when the provider
/// tells one (an e-mail address).
#[derive(Clone, Debug)]
pub struct LoginOutcome {
    pub credential: Credential,
    pub label: Option<String>,
}

pub type LoginFuture<'a> =
    Pin<Box<dyn Future<Output = Result<LoginOutcome, AuthError>> + Send + 'a>>;

pub type RefreshFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Credential, RefreshError>> + Send + 'a>>;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RefreshError {
    #[error("this provider's credentials are not refreshed")]
    NotSupported,
    /// The grant is gone (`invalid_grant`, `refresh_token_reused`...): the account needs a
    /// new login and is never retried in a loop.
    #[error("login needed: {0}")]
    Terminal(String),
    /// Worth trying again later (network, 5xx).
    #[error("refresh failed: {0}")]
    Transient(String),
}

impl From<AuthError> for RefreshError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Terminal(m) => RefreshError::Terminal(m),
            other => RefreshError::Transient(other.to_string()),
        }
    }
}

/// A kind of executor, found by name at start-up.
pub struct ExecutorKind {
    pub name: &'static str,
    pub create: fn(ProviderSettings) -> Arc<dyn Executor>,
}

inventory::collect!(ExecutorKind);

#[derive(Debug, thiserror::Error)]
#[error("two executors are registered under the kind `{0}`")]
pub struct DuplicateKind(pub &'static str);

/// Every executor kind linked into this binary, by name.
pub fn kinds() -> Result<HashMap<&'static str, &'static ExecutorKind>, DuplicateKind> {
    let mut map = HashMap::new();
    for kind in inventory::iter::<ExecutorKind> {
        if map.insert(kind.name, kind).is_some() {
            return Err(DuplicateKind(kind.name));
        }
    }
    Ok(map)
}

/// Joins a base URL and a path with exactly one slash between them.
pub fn join_url(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

/// The URL of `target` on the API at `base`: a path is joined to it; an absolute URL must
/// share its scheme, host and port (an upstream that named another host gets no key).
pub fn fetch_url(base: &str, target: &str) -> Result<String, ApiError> {
    if !target.contains("://") {
        return Ok(join_url(base, target));
    }
    let origin = |u: &str| {
        u.parse::<http::Uri>().ok().and_then(|u| {
            Some((
                u.scheme_str()?.to_owned(),
                u.authority()?.as_str().to_owned(),
            ))
        })
    };
    match (origin(base), origin(target)) {
        (Some(b), Some(t)) if b == t => Ok(target.to_owned()),
        _ => Err(ApiError::bad_gateway(
            "the provider named a download address outside its own API",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_with_one_slash() {
        assert_eq!(join_url("http://x/v1/", "/chat"), "http://x/v1/chat");
        assert_eq!(join_url("http://x/v1", "chat"), "http://x/v1/chat");
    }

    #[test]
    fn fetches_stay_on_the_base_urls_origin() {
        let base = "https://api.example.com/v1beta";
        assert_eq!(
            fetch_url(base, "operations/abc").unwrap(),
            "https://api.example.com/v1beta/operations/abc"
        );
        let same = "https://api.example.com/v1beta/files/x:download?alt=media";
        assert_eq!(fetch_url(base, same).unwrap(), same);
        assert!(fetch_url(base, "https://evil.example.net/files/x").is_err());
        assert!(fetch_url(base, "http://api.example.com/v1beta/files/x").is_err());
    }
}
