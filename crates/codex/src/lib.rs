//! The executor for the ChatGPT backend that Codex uses with a ChatGPT subscription
//! (`POST {base}/responses`, base `https://chatgpt.com/backend-api/codex`). It speaks the
//! Responses format with stricter rules than OpenAI's API: it only streams, stores nothing,
//! wants `instructions`, and refuses sampling parameters. Accounts log in with ChatGPT
//! (see [`oauth`]); their refresh tokens rotate and are single-use, so refreshes of this
//! provider's accounts run one at a time.

pub mod oauth;

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use serde_json::{Map, Value, json};
use switchyard_auth::Credential;
use switchyard_auth::oauth::LoginUi;
use switchyard_hub::{ApiError, Format};
use switchyard_provider::executor::join_url;
use switchyard_provider::failure::reset_hint;
use switchyard_provider::request::{base_headers, object_mut, post_json, secret_value};
use switchyard_provider::{
    Executor, ExecutorKind, Failure, LoginFuture, ProviderSettings, RefreshFuture, UpstreamClient,
    UpstreamRequest,
};

pub const USER_AGENT: &str = "codex_cli_rs/0.146.0";
pub const ORIGINATOR: &str = "codex_cli_rs";
pub const VERSION: &str = "0.146.0";
/// Sent when the client gave none: the backend requires the field.
pub const INSTRUCTIONS: &str = "You are a helpful coding assistant.";

/// Parameters the backend refuses ("Unsupported parameter").
const REJECTED: &[&str] = &[
    "temperature",
    "top_p",
    "frequency_penalty",
    "presence_penalty",
    "logprobs",
    "top_logprobs",
    "n",
    "seed",
    "max_tokens",
    "max_output_tokens",
    "max_completion_tokens",
    "user",
    "prompt_cache_retention",
    "metadata",
    "stream_options",
    "safety_identifier",
    "truncation",
    "background",
    "previous_response_id",
];

const EFFORTS: &[&str] = &["none", "minimal", "low", "medium", "high", "xhigh"];

#[derive(Debug)]
pub struct CodexExecutor {
    settings: ProviderSettings,
    url: String,
    user_agent: String,
    originator: String,
    version: String,
    instructions: String,
    oauth: oauth::OAuthSettings,
}

impl CodexExecutor {
    pub fn new(settings: ProviderSettings) -> Self {
        CodexExecutor {
            url: join_url(&settings.base_url, "responses"),
            user_agent: settings.option("codex_user_agent", USER_AGENT),
            originator: settings.option("originator", ORIGINATOR),
            version: settings.option("version", VERSION),
            instructions: settings.option("instructions", INSTRUCTIONS),
            oauth: oauth::OAuthSettings::from(&settings),
            settings,
        }
    }
}

inventory::submit! {
    ExecutorKind { name: "codex", create: |s| Arc::new(CodexExecutor::new(s)) }
}

/// `gpt-5-codex-high` -> (`gpt-5-codex`, `high`).
fn split_effort(model: &str) -> (&str, Option<&str>) {
    for e in EFFORTS {
        if let Some(base) = model.strip_suffix(e).and_then(|m| m.strip_suffix('-'))
            && !base.is_empty()
        {
            return (base, Some(e));
        }
    }
    (model, None)
}

/// Applies the backend's body rules to a Responses body.
pub fn shape_body(
    body: &mut Map<String, Value>,
    model: &str,
    instructions: &str,
) -> Result<(), ApiError> {
    let (model, suffix_effort) = split_effort(model);
    body.insert("model".into(), Value::String(model.to_owned()));
    body.insert("stream".into(), Value::Bool(true));
    body.insert("store".into(), Value::Bool(false));
    if !body.get("instructions").is_some_and(Value::is_string) {
        body.insert(
            "instructions".into(),
            Value::String(instructions.to_owned()),
        );
    }
    match body.get_mut("input") {
        Some(Value::String(text)) => {
            let text = std::mem::take(text);
            body.insert(
                "input".into(),
                json!([{"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}]),
            );
        }
        Some(Value::Array(items)) if !items.is_empty() => {
            unstored_input(items);
            if items.is_empty() {
                return Err(ApiError::invalid_request(
                    "`input` holds only references to stored items, which this provider does not keep",
                ));
            }
        }
        _ => {
            return Err(ApiError::invalid_request(
                "`input` must be a non-empty list for this provider",
            ));
        }
    }
    for k in REJECTED {
        body.remove(*k);
    }
    keep_service_tier(body);
    let effort = body
        .pointer_mut_effort()
        .or_else(|| {
            body.get("reasoning_effort")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .or_else(|| suffix_effort.map(str::to_owned));
    body.remove("reasoning_effort");
    if let Some(effort) = effort {
        let reasoning = body.entry("reasoning").or_insert_with(|| json!({}));
        if let Some(r) = reasoning.as_object_mut() {
            r.insert("effort".into(), Value::String(effort.clone()));
            r.entry("summary").or_insert_with(|| json!("auto"));
        }
        if effort != "none" {
            let include = body.entry("include").or_insert_with(|| json!([]));
            if let Some(list) = include.as_array_mut()
                && !list.iter().any(|v| v == "reasoning.encrypted_content")
            {
                list.push(json!("reasoning.encrypted_content"));
            }
        }
    }
    Ok(())
}

/// The backend takes `service_tier` `priority` (Codex's "fast" mode) and `default`, and
/// refuses every other value with "Unsupported service_tier" (`auto`, `flex`, `scale`,
/// `fast`). `fast` is Codex's config name for `priority`; the values that only mean "no
/// preference" are left out, which the backend serves as its default.
fn keep_service_tier(body: &mut Map<String, Value>) {
    let tier = match body.get("service_tier").and_then(Value::as_str) {
        Some("priority" | "fast") => Some("priority"),
        Some("default") => Some("default"),
        _ => None,
    };
    match tier {
        Some(t) => {
            body.insert("service_tier".into(), Value::String(t.to_owned()));
        }
        None => {
            body.remove("service_tier");
        }
    }
}

/// Input as a backend that stores nothing takes it (`store: false`): it refuses the `system`
/// role ("System messages are not allowed"; `developer` means the same), and answers 404 to
/// an `item_reference` or an item `id` (`rs_…`, `msg_…`), since no item was ever kept to point
/// to. Content, `call_id`s and encrypted reasoning stay.
fn unstored_input(items: &mut Vec<Value>) {
    items.retain(|item| item.get("type").and_then(Value::as_str) != Some("item_reference"));
    for item in items.iter_mut().filter_map(Value::as_object_mut) {
        item.remove("id");
        if item.get("role").and_then(Value::as_str) == Some("system") {
            item.insert("role".into(), Value::String("developer".into()));
        }
    }
}

trait EffortOf {
    fn pointer_mut_effort(&self) -> Option<String>;
}

impl EffortOf for Map<String, Value> {
    fn pointer_mut_effort(&self) -> Option<String> {
        self.get("reasoning")?
            .get("effort")?
            .as_str()
            .map(str::to_owned)
    }
}

/// The backend's quota answer: `{"error": {"type": "usage_limit_reached", "resets_at": <unix
/// s>}}` or `resets_in_seconds`, as the time to wait.
pub fn usage_limit_wait(body: &[u8]) -> Option<Duration> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let e = v.get("error")?;
    let kind = e
        .get("type")
        .or_else(|| e.get("code"))
        .and_then(Value::as_str)?;
    if kind != "usage_limit_reached" {
        return None;
    }
    if let Some(at) = e.get("resets_at").and_then(Value::as_u64) {
        let now = switchyard_hub::clock::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        return Some(Duration::from_secs(at.saturating_sub(now).max(1)));
    }
    e.get("resets_in_seconds")
        .and_then(Value::as_u64)
        .map(|s| Duration::from_secs(s.max(1)))
}

impl Executor for CodexExecutor {
    fn format(&self) -> Format {
        Format::Responses
    }

    fn build(
        &self,
        mut body: Value,
        model: &str,
        _stream: bool,
        credential: &Credential,
    ) -> Result<UpstreamRequest, ApiError> {
        shape_body(object_mut(&mut body)?, model, &self.instructions)?;
        let mut headers = base_headers(&self.settings, true);
        headers.insert(
            http::header::AUTHORIZATION,
            secret_value("Bearer ", credential.token())?,
        );
        let mut set = |name: &'static str, value: &str| {
            if let Ok(v) = HeaderValue::from_str(value) {
                headers.insert(name, v);
            }
        };
        set("user-agent", &self.user_agent);
        set("originator", &self.originator);
        set("version", &self.version);
        set("openai-beta", "responses=experimental");
        if let Some(id) = credential.extra("account_id") {
            set("chatgpt-account-id", id);
        }
        post_json(self.url.clone(), headers, &body)
    }

    fn always_streams(&self) -> bool {
        true
    }

    /// The ChatGPT backend keys its prompt cache by conversation: Codex sends `session_id`,
    /// so a conversation that reaches Codex through Switchyard keeps its cache too.
    fn add_session(&self, session: &str, headers: &mut HeaderMap) {
        if let Ok(v) = HeaderValue::from_str(session) {
            headers.insert("session_id", v);
        }
    }

    fn classify(
        &self,
        _model: &str,
        _credential: &Credential,
        status: u16,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Failure {
        let hint = if status == 429 {
            usage_limit_wait(&body).or_else(|| reset_hint(headers, &[]))
        } else {
            reset_hint(headers, &[])
        };
        Failure::from_status(status, body, hint)
    }

    fn refresh<'a>(
        &'a self,
        credential: &'a Credential,
        client: &'a UpstreamClient,
    ) -> RefreshFuture<'a> {
        Box::pin(oauth::refresh(&self.oauth, credential, client))
    }

    fn refresh_lead(&self) -> Duration {
        self.oauth.refresh_lead
    }

    fn refresh_serially(&self) -> bool {
        true
    }

    fn login<'a>(&'a self, client: &'a UpstreamClient, ui: &'a LoginUi) -> LoginFuture<'a> {
        Box::pin(oauth::login(&self.oauth, client, ui))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_auth::Secret;

    fn exec() -> CodexExecutor {
        CodexExecutor::new(ProviderSettings {
            name: "codex".into(),
            base_url: "https://chatgpt.com/backend-api/codex".into(),
            user_agent: Some("switchyard/0.1".into()),
            headers: Default::default(),
            options: Default::default(),
        })
    }

    fn cred() -> Credential {
        Credential::OAuth {
            access: Secret::new("at-secret-123456"),
            refresh: None,
            expires_at: None,
            extra: [("account_id".to_owned(), "acct-7".to_owned())].into(),
        }
    }

    #[test]
    fn a_session_becomes_session_id_unless_it_cannot_be_a_header() {
        let mut headers = HeaderMap::new();
        exec().add_session("bad\nvalue", &mut headers);
        assert!(headers.is_empty());
        exec().add_session("9f0c", &mut headers);
        assert_eq!(headers["session_id"], "9f0c");
    }

    #[test]
    fn service_tier_stays_where_the_backend_takes_it() {
        let tier = |t: Value| {
            let body = json!({"input": "hi", "service_tier": t});
            let req = exec().build(body, "gpt-5-codex", false, &cred()).unwrap();
            let b: Value = serde_json::from_slice(&req.body).unwrap();
            b.get("service_tier").cloned()
        };
        assert_eq!(tier(json!("priority")), Some(json!("priority")));
        assert_eq!(tier(json!("fast")), Some(json!("priority")));
        assert_eq!(tier(json!("default")), Some(json!("default")));
        assert_eq!(tier(json!("flex")), None);
        assert_eq!(tier(json!("auto")), None);
        assert_eq!(tier(json!(3)), None);
    }

    #[test]
    fn body_rules_are_applied() {
        let body = json!({"input": "hi", "stream": false, "store": true, "temperature": 0.2,
            "max_output_tokens": 10, "metadata": {"a": 1}, "user": "u", "reasoning_effort": "low"});
        let req = exec().build(body, "gpt-5-codex", false, &cred()).unwrap();
        assert_eq!(req.url, "https://chatgpt.com/backend-api/codex/responses");
        let b: Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(b["stream"], true);
        assert_eq!(b["store"], false);
        assert_eq!(b["instructions"], INSTRUCTIONS);
        assert_eq!(b["input"][0]["content"][0]["text"], "hi");
        for k in [
            "temperature",
            "max_output_tokens",
            "metadata",
            "user",
            "reasoning_effort",
        ] {
            assert!(b.get(k).is_none(), "{k}");
        }
        assert_eq!(b["reasoning"]["effort"], "low");
        assert_eq!(b["include"], json!(["reasoning.encrypted_content"]));
        assert_eq!(req.headers["chatgpt-account-id"], "acct-7");
        assert_eq!(req.headers["authorization"], "Bearer at-secret-123456");
        assert_eq!(req.headers["originator"], ORIGINATOR);
        assert_eq!(req.headers["accept"], "text/event-stream");
    }

    #[test]
    fn effort_suffix_moves_into_reasoning() {
        let req = exec()
            .build(
                json!({"input": [{"role": "user", "content": "x"}], "instructions": "mine"}),
                "gpt-5-high",
                true,
                &cred(),
            )
            .unwrap();
        let b: Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(b["model"], "gpt-5");
        assert_eq!(b["reasoning"], json!({"effort": "high", "summary": "auto"}));
        assert_eq!(b["instructions"], "mine");
        assert!(
            exec()
                .build(json!({"input": []}), "gpt-5", true, &cred())
                .is_err()
        );
    }

    #[test]
    fn input_of_only_references_is_refused_here() {
        let mut body = json!({"input": [{"type": "item_reference", "id": "msg_1"}]});
        let obj = body.as_object_mut().unwrap();
        let e = shape_body(obj, "gpt-5-codex", "i").unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.contains("stored items"), "{}", e.message);
    }

    #[test]
    fn usage_limit_gives_a_precise_wait() {
        let now = switchyard_hub::clock::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let body = format!(
            r#"{{"error":{{"type":"usage_limit_reached","message":"limit","resets_at":{}}}}}"#,
            now + 120
        );
        let f = exec().classify("m", &cred(), 429, &HeaderMap::new(), Bytes::from(body));
        let wait = f.retry_after.unwrap().as_secs();
        assert!((118..=120).contains(&wait), "{wait}");
        assert!(f.fallback());
        let body = r#"{"error":{"type":"usage_limit_reached","resets_in_seconds":42}}"#;
        assert_eq!(
            usage_limit_wait(body.as_bytes()),
            Some(Duration::from_secs(42))
        );
        assert_eq!(
            usage_limit_wait(br#"{"error":{"type":"rate_limit"}}"#),
            None
        );
    }
}
