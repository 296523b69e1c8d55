//! The `cursor` executor: `POST {base}/aiserver.v1.ChatService/StreamUnifiedChatWithTools`
//! over the Connect protocol (HTTP/2 by ALPN on TLS; HTTP/1.1 to a plain-http test fake).
//!
//! Provider options (`[providers.options]`), all optional:
//!
//! | key | default | what |
//! | --- | --- | --- |
//! | `machine_id` | the credential's `machine_id` extra, else SHA-256 of the token | the id appended to `x-cursor-checksum` |
//! | `client_version` | `3.1.0` | `x-cursor-client-version` |
//! | `client_os` | this machine's (`linux`, `macos`, `windows`) | `x-cursor-client-os` and request metadata |
//! | `client_arch` | this machine's (`x64`, `aarch64`) | `x-cursor-client-arch` and request metadata |
//! | `timezone` | `UTC` | `x-cursor-timezone` |
//! | `ghost_mode` | `true` | `x-ghost-mode` (Cursor's privacy mode) |
//! | `user_agent` | `connect-es/1.6.1` | `user-agent` (the provider's `user_agent` key is the proxy-wide default and is not used) |
//! | `refresh_url` | [`auth::DEFAULT_REFRESH_URL`](crate::auth::DEFAULT_REFRESH_URL) | where imported logins are renewed |
//! | `auth_client_id` | [`auth::DEFAULT_CLIENT_ID`](crate::auth::DEFAULT_CLIENT_ID) | the OAuth client the renewal names |
//!
//! The account's key is the Cursor access token (`user_…::` prefixes are dropped): either
//! an `api_key` in the config (never renewed), or a login imported from Cursor's
//! `state.vscdb` with `switchyard import cursor`, renewed before its JWT expires.

use std::sync::Arc;

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use prost::Message;
use serde_json::Value;
use switchyard_auth::AuthError;
use switchyard_auth::Credential;
use switchyard_auth::oauth::LoginUi;
use switchyard_hub::{ApiError, Decoder, ErrorKind, Format};
use switchyard_provider::executor::{LoginFuture, RefreshFuture, join_url};
use switchyard_provider::{
    Executor, ExecutorKind, ProviderSettings, UpstreamClient, UpstreamRequest,
};

use crate::auth::{self, RefreshEndpoint};
use crate::checksum::{bearer_token, checksum, client_key, session_id, sha256_hex};
use crate::decoder::CursorDecoder;
use crate::framing;
use crate::proto::{MessageId, Metadata, ModelDetails, StreamUnifiedChatRequestWithTools};

pub const DEFAULT_BASE_URL: &str = "https://api2.cursor.sh";
pub const CHAT_PATH: &str = "aiserver.v1.ChatService/StreamUnifiedChatWithTools";
pub const DEFAULT_CLIENT_VERSION: &str = "3.1.0";
pub const DEFAULT_USER_AGENT: &str = "connect-es/1.6.1";
/// The credential extra (and provider option) naming the machine id.
pub const MACHINE_ID: &str = "machine_id";

#[derive(Debug)]
pub struct CursorExecutor {
    settings: ProviderSettings,
    url: String,
    endpoint: RefreshEndpoint,
}

impl CursorExecutor {
    pub fn new(settings: ProviderSettings) -> Self {
        let url = join_url(&settings.base_url, CHAT_PATH);
        let endpoint = RefreshEndpoint::from_options(&settings.options);
        Self {
            settings,
            url,
            endpoint,
        }
    }

    fn option(&self, key: &str) -> Option<&str> {
        self.settings
            .options
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    fn client_os(&self) -> &str {
        self.option("client_os")
            .unwrap_or(match std::env::consts::OS {
                "macos" => "macos",
                "windows" => "windows",
                _ => "linux",
            })
    }

    fn client_arch(&self) -> &str {
        self.option("client_arch")
            .unwrap_or(match std::env::consts::ARCH {
                "aarch64" => "aarch64",
                _ => "x64",
            })
    }

    /// The machine id for `credential`: its own (imported with it), the provider's, or one
    /// derived from the token so that one account always presents the same id.
    fn machine_id(&self, credential: &Credential, token: &str) -> String {
        let own = match credential {
            Credential::OAuth { extra, .. } => extra.get(MACHINE_ID).map(String::as_str),
            Credential::ApiKey(_) => None,
        };
        own.filter(|m| !m.trim().is_empty())
            .or_else(|| self.option(MACHINE_ID))
            .map_or_else(|| sha256_hex(token), |m| m.trim().to_owned())
    }

    /// Request metadata as Cursor's Node client reports it.
    fn metadata(&self, now: chrono::DateTime<chrono::Utc>) -> Metadata {
        let os = match self.client_os() {
            "macos" => "darwin",
            "windows" => "win32",
            other => other,
        };
        let arch = match self.client_arch() {
            "aarch64" => "arm64",
            other => other,
        };
        Metadata {
            os: os.to_owned(),
            arch: arch.to_owned(),
            version: "v20.18.0".to_owned(),
            cwd: "/".to_owned(),
            timestamp: now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        }
    }

    fn headers(&self, token: &str, machine_id: &str, now_ms: u64) -> Result<HeaderMap, ApiError> {
        let mut h = HeaderMap::new();
        let mut put =
            |name: &'static str, value: String, sensitive: bool| -> Result<(), ApiError> {
                let mut v = HeaderValue::from_str(&value).map_err(|_| {
                    ApiError::internal(format!("the value of `{name}` is not a valid header value"))
                })?;
                v.set_sensitive(sensitive);
                h.insert(HeaderName::from_static(name), v);
                Ok(())
            };
        put("content-type", "application/connect+proto".into(), false)?;
        put("connect-protocol-version", "1".into(), false)?;
        // Messages may come gzipped (the decoder inflates them one by one); the HTTP body
        // itself must stay unencoded to be read as it streams.
        put("connect-accept-encoding", "gzip".into(), false)?;
        put("accept-encoding", "identity".into(), false)?;
        put("authorization", format!("Bearer {token}"), true)?;
        put("x-client-key", client_key(token), true)?;
        put("x-cursor-checksum", checksum(now_ms, machine_id), true)?;
        put("x-session-id", session_id(token), false)?;
        put(
            "x-cursor-client-version",
            self.option("client_version")
                .unwrap_or(DEFAULT_CLIENT_VERSION)
                .into(),
            false,
        )?;
        put("x-cursor-client-type", "ide".into(), false)?;
        put("x-cursor-client-os", self.client_os().into(), false)?;
        put("x-cursor-client-arch", self.client_arch().into(), false)?;
        put("x-cursor-client-device-type", "desktop".into(), false)?;
        put(
            "x-cursor-config-version",
            uuid::Uuid::new_v4().to_string(),
            false,
        )?;
        put(
            "x-cursor-timezone",
            self.option("timezone").unwrap_or("UTC").into(),
            false,
        )?;
        put(
            "x-ghost-mode",
            self.option("ghost_mode").unwrap_or("true").into(),
            false,
        )?;
        put("x-request-id", uuid::Uuid::new_v4().to_string(), false)?;
        put(
            "x-amzn-trace-id",
            format!("Root={}", uuid::Uuid::new_v4()),
            false,
        )?;
        put(
            "user-agent",
            self.option("user_agent")
                .unwrap_or(DEFAULT_USER_AGENT)
                .into(),
            false,
        )?;
        for (name, value) in &self.settings.headers {
            if let (Ok(n), Ok(v)) = (
                HeaderName::try_from(name.as_str()),
                HeaderValue::from_str(value),
            ) {
                h.insert(n, v);
            }
        }
        Ok(h)
    }
}

/// Milliseconds since the Unix epoch, the clock the checksum is built from.
pub(crate) fn now_ms() -> u64 {
    switchyard_hub::clock::now_millis()
}

inventory::submit! {
    ExecutorKind { name: "cursor", create: |s| Arc::new(CursorExecutor::new(s)) }
}

/// Fills in what belongs to one HTTP request: the model, fresh message and conversation ids,
/// and the client metadata; returns the encoded message.
pub fn finish_request(
    mut msg: StreamUnifiedChatRequestWithTools,
    model: &str,
    metadata: Metadata,
    mut new_id: impl FnMut() -> String,
) -> Vec<u8> {
    let req = msg.request.get_or_insert_default();
    let empty = req
        .model
        .as_ref()
        .and_then(|m| m.empty.clone())
        .or(Some(Vec::new()));
    req.model = Some(ModelDetails {
        model_name: Some(model.to_owned()),
        empty,
    });
    req.message_ids.clear();
    for m in &mut req.conversation {
        m.bubble_id = new_id();
        req.message_ids.push(MessageId {
            message_id: m.bubble_id.clone(),
            summary_id: None,
            role: m.role,
        });
    }
    req.conversation_id = Some(new_id());
    req.metadata = Some(metadata);
    msg.encode_to_vec()
}

impl Executor for CursorExecutor {
    fn format(&self) -> Format {
        Format::Cursor
    }

    fn build(
        &self,
        body: Value,
        model: &str,
        _stream: bool,
        credential: &Credential,
    ) -> Result<UpstreamRequest, ApiError> {
        let token = bearer_token(credential.token().expose()).to_owned();
        if token.is_empty() {
            return Err(ApiError::new(
                401,
                ErrorKind::Authentication,
                "the Cursor account has no access token (import one with `switchyard import cursor`)",
            ));
        }
        let msg: StreamUnifiedChatRequestWithTools = serde_json::from_value(body).map_err(|e| {
            ApiError::internal(format!(
                "the cursor executor needs a request translated to Cursor's format: {e}"
            ))
        })?;
        let now = chrono::Utc::now();
        let now_ms = now_ms();
        let payload = finish_request(msg, model, self.metadata(now), || {
            uuid::Uuid::new_v4().to_string()
        });
        let mut body = Vec::with_capacity(payload.len() + 5);
        framing::encode(0, &payload, &mut body).map_err(|e| {
            ApiError::new(
                413,
                ErrorKind::PayloadTooLarge,
                format!("request too large for Cursor: {e}"),
            )
        })?;
        let machine_id = self.machine_id(credential, &token);
        Ok(UpstreamRequest {
            method: Method::POST,
            url: self.url.clone(),
            headers: self.headers(&token, &machine_id, now_ms)?,
            body: body.into(),
        })
    }

    fn decoder(&self) -> Box<dyn Decoder> {
        Box::new(CursorDecoder::default())
    }

    fn always_streams(&self) -> bool {
        true
    }

    fn refresh<'a>(
        &'a self,
        credential: &'a Credential,
        client: &'a UpstreamClient,
    ) -> RefreshFuture<'a> {
        Box::pin(auth::refresh(&self.endpoint, credential, client))
    }

    fn login<'a>(&'a self, client: &'a UpstreamClient, ui: &'a LoginUi) -> LoginFuture<'a> {
        let _ = (client, ui);
        Box::pin(async {
            Err(AuthError::Invalid(
                "Cursor accounts come from the Cursor IDE: sign in there, then run `switchyard import cursor` \
                 (or give the account an api_key holding the access token)"
                    .into(),
            ))
        })
    }
}
