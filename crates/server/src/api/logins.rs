//! OAuth logins and login imports through the API, so a browser can drive them: start a
//! login (answered with the device code to enter, or the authorisation URL to open), poll it,
//! finish a PKCE login with the address the browser ended on, and import a login file's
//! contents. The flows are the provider crates' own (`Executor::login`, the importers), run
//! with a [`LoginUi`] whose prompts are kept for the API instead of printed; the result is
//! stored as `switchyard login` and `switchyard import` store it, and taken in at once.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant, SystemTime};

use http::Request;
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};
use serde_json::json;
use switchyard_auth::import::{self, Parse};
use switchyard_auth::oauth::{LoginPrompt, LoginUi, parse_pasted};
use switchyard_hub::{ApiError, ErrorKind};
use switchyard_provider::{ClientOptions, UpstreamClient};
use tokio::sync::watch;
use utoipa::ToSchema;

use crate::api::accounts::{self, on_store, take_in};
use crate::api::audit::{self, Change};
use crate::api::{Actor, Answer, body, ok};
use crate::config::ProviderConfig;
use crate::state::app::App;

/// How long a login may wait for the person (as the terminal login does).
const LOGIN_TIMEOUT: Duration = Duration::from_secs(600);
/// How long a finished or abandoned login stays readable.
const KEEP: Duration = Duration::from_secs(900);
/// How long a start or a completion waits for the flow to move on before answering.
const STEP_WAIT: Duration = Duration::from_secs(30);

/// Starts a login.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartLogin {
    /// A configured provider's name, or a kind only one provider has.
    pub provider: String,
    /// The account's name (default: the e-mail or login the provider reports).
    pub name: Option<String>,
}

/// Finishes a PKCE login.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteLogin {
    /// The whole address the browser ended on after sign-in (or the code it shows).
    pub redirect_url: String,
}

/// Imports a login another tool holds.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportLogin {
    /// A configured provider's name, or a kind only one provider has.
    pub provider: String,
    /// The login file's contents as text (Claude Code's `.credentials.json`, Codex's
    /// `auth.json`, Gemini CLI's `oauth_creds.json`).
    pub contents: String,
    /// The account's name (default: the e-mail the file names, else `<provider>-<n>`).
    pub name: Option<String>,
}

/// Where a login is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LoginStatus {
    /// Talking to the provider before there is anything to show.
    Starting,
    /// Waiting for the person: see `authorization_url` or `user_code`.
    Waiting,
    /// Stored as `account`, and in use.
    Done,
    /// Failed: see `error`.
    Failed,
}

/// Which OAuth flow a login runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LoginFlow {
    /// Open `authorization_url`; the callback (or the pasted redirect) finishes it.
    Pkce,
    /// Open `verification_uri` and enter `user_code`; the login finishes by itself.
    DeviceCode,
}

/// A login in progress or finished.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LoginView {
    /// Poll `GET /api/logins/{id}`.
    pub id: String,
    pub provider: String,
    pub status: LoginStatus,
    pub flow: Option<LoginFlow>,
    /// PKCE: the URL to open in a browser.
    pub authorization_url: Option<String>,
    /// PKCE: where the browser is sent back to; if that cannot load, post the address to
    /// `POST /api/logins/{id}/complete`.
    pub redirect_uri: Option<String>,
    /// Device code: the code to enter.
    pub user_code: Option<String>,
    /// Device code: where to enter it.
    pub verification_uri: Option<String>,
    pub verification_uri_complete: Option<String>,
    /// When the login stops waiting (RFC 3339).
    pub expires_at: String,
    /// The stored account, once done.
    pub account: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Clone)]
enum State {
    Starting,
    Waiting(LoginPrompt),
    Done(String),
    Failed(String),
}

struct Session {
    provider: String,
    started: Instant,
    expires_at: SystemTime,
    state: watch::Receiver<State>,
    /// The last prompt shown, kept once the login is done so a poll still shows it.
    prompt: Mutex<Option<LoginPrompt>>,
    paste: tokio::sync::mpsc::UnboundedSender<String>,
}

/// The logins of this process. They live as long as the process (a restart abandons them,
/// as it would a terminal login), so they need no table.
static SESSIONS: LazyLock<Mutex<HashMap<String, Arc<Session>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn sessions() -> std::sync::MutexGuard<'static, HashMap<String, Arc<Session>>> {
    SESSIONS.lock().unwrap_or_else(|p| p.into_inner())
}

fn view(id: &str, s: &Session) -> LoginView {
    let state = s.state.borrow().clone();
    let prompt = s.prompt.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut v = LoginView {
        id: id.to_owned(),
        provider: s.provider.clone(),
        status: match &state {
            State::Starting => LoginStatus::Starting,
            State::Waiting(_) => LoginStatus::Waiting,
            State::Done(_) => LoginStatus::Done,
            State::Failed(_) => LoginStatus::Failed,
        },
        flow: None,
        authorization_url: None,
        redirect_uri: None,
        user_code: None,
        verification_uri: None,
        verification_uri_complete: None,
        expires_at: chrono::DateTime::<chrono::Utc>::from(s.expires_at).to_rfc3339(),
        account: None,
        error: None,
    };
    match prompt {
        Some(LoginPrompt::Authorize { url, redirect_uri }) => {
            v.flow = Some(LoginFlow::Pkce);
            v.authorization_url = Some(url);
            v.redirect_uri = Some(redirect_uri);
        }
        Some(LoginPrompt::DeviceCode {
            user_code,
            verification_uri,
            verification_uri_complete,
            ..
        }) => {
            v.flow = Some(LoginFlow::DeviceCode);
            v.user_code = Some(user_code);
            v.verification_uri = Some(verification_uri);
            v.verification_uri_complete = verification_uri_complete;
        }
        None => {}
    }
    match state {
        State::Done(account) => v.account = Some(account),
        State::Failed(error) => v.error = Some(error),
        State::Starting | State::Waiting(_) => {}
    }
    v
}

/// The provider a request names, as `switchyard login` and `import` find it.
fn provider(app: &App, name: &str) -> Result<ProviderConfig, ApiError> {
    crate::cli::accounts::provider(&app.snapshot().config, name)
        .cloned()
        .map_err(|e| {
            ApiError::not_found(e.to_string().lines().next().unwrap_or_default().to_owned())
                .with_code("no_such_provider")
        })
}

/// Waits until the login is past `from` (or `STEP_WAIT` has passed).
async fn moved_on(mut rx: watch::Receiver<State>, from: fn(&State) -> bool) {
    let _ = tokio::time::timeout(STEP_WAIT, rx.wait_for(|s| !from(s))).await;
}

/// Starts an OAuth login.
#[utoipa::path(
    operation_id = "start_login",
    post,
    path = "/api/logins",
    tag = "accounts",
    request_body = StartLogin,
    responses(
        (status = 201, description = "The login, waiting for the person (or already failed: see `error`)", body = LoginView),
        (status = 400, description = "A bad body", body = super::openapi::ErrorBody),
        (status = 404, description = "No such provider", body = super::openapi::ErrorBody),
    )
)]
pub async fn start(app: Arc<App>, req: Request<Incoming>, actor: Actor) -> Answer {
    let asked: StartLogin = body::read(&app, req).await?;
    let config = provider(&app, &asked.provider)?;
    let live = app.snapshot();
    let p = live
        .providers
        .iter()
        .find(|p| p.name == config.name)
        .ok_or_else(|| ApiError::internal("the provider is configured but not running"))?;
    let executor = p.executor.clone();
    let provider_name = p.name.clone();
    let id = uuid::Uuid::new_v4().simple().to_string();
    let (state_tx, state_rx) = watch::channel(State::Starting);
    let state_tx = Arc::new(state_tx);
    let (paste_tx, paste_rx) = tokio::sync::mpsc::unbounded_channel();
    let session = Arc::new(Session {
        provider: provider_name.clone(),
        started: Instant::now(),
        expires_at: switchyard_hub::clock::now() + LOGIN_TIMEOUT,
        state: state_rx.clone(),
        prompt: Mutex::new(None),
        paste: paste_tx,
    });
    {
        let mut all = sessions();
        all.retain(|_, s| s.started.elapsed() < KEEP);
        all.insert(id.clone(), session.clone());
    }
    let prompts = (session.clone(), state_tx.clone());
    let mut ui = LoginUi::new(|_| {}, paste_rx, false).with_prompt(move |p| {
        *prompts.0.prompt.lock().unwrap_or_else(|e| e.into_inner()) = Some(p.clone());
        prompts.1.send_replace(State::Waiting(p.clone()));
    });
    ui.timeout = LOGIN_TIMEOUT;
    let (task_app, login_id) = (app.clone(), id.clone());
    tokio::spawn(async move {
        let outcome = match UpstreamClient::new(&ClientOptions::default()) {
            Ok(client) => executor
                .login(&client, &ui)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let done = match outcome {
            Ok(outcome) => {
                store_login(
                    &task_app,
                    &actor,
                    &provider_name,
                    asked.name,
                    outcome.label,
                    outcome.credential,
                    "account.login",
                )
                .await
            }
            Err(e) => Err(ApiError::new(400, ErrorKind::InvalidRequest, e)),
        };
        match done {
            Ok(account) => {
                tracing::info!(login = %login_id, provider = %provider_name, account = %account.account, "login through the API done");
                state_tx.send_replace(State::Done(account.account));
            }
            Err(e) => {
                tracing::warn!(login = %login_id, provider = %provider_name, "login through the API failed: {}", e.message);
                state_tx.send_replace(State::Failed(e.message));
            }
        }
    });
    moved_on(state_rx, |s| matches!(s, State::Starting)).await;
    ok(201, &view(&id, &session))
}

/// Stores a credential a login or an import got, takes it in, and audits it.
pub(crate) async fn store_login(
    app: &Arc<App>,
    actor: &Actor,
    provider: &str,
    asked: Option<String>,
    label: Option<String>,
    credential: switchyard_auth::Credential,
    action: &'static str,
) -> Result<accounts::AccountView, ApiError> {
    let p = provider.to_owned();
    let name = on_store(app, move |store| {
        let name = crate::cli::accounts::account_name(store, &p, asked, label)
            .map_err(|e| switchyard_auth::AuthError::Invalid(e.to_string()))?;
        store.upsert(&p, &name, &credential)?;
        Ok(name)
    })
    .await?;
    take_in(app).await?;
    let after = accounts::find(app, provider, &name).await?;
    audit::record(
        app,
        actor,
        Change {
            action,
            target: format!("{provider}/{name}"),
            before: None,
            after: Some(json!(after)),
        },
    )
    .await?;
    Ok(after)
}

fn session(id: &str) -> Result<Arc<Session>, ApiError> {
    sessions().get(id).cloned().ok_or_else(|| {
        ApiError::not_found(format!(
            "no login `{id}` (logins are kept {} minutes, and not across a restart)",
            KEEP.as_secs() / 60
        ))
        .with_code("no_such_login")
    })
}

/// Reads a login: poll it until `done` or `failed`.
#[utoipa::path(
    operation_id = "get_login",
    get,
    path = "/api/logins/{id}",
    tag = "accounts",
    params(("id" = String, Path, description = "The login's id")),
    responses(
        (status = 200, description = "The login", body = LoginView),
        (status = 404, description = "No such login", body = super::openapi::ErrorBody),
    )
)]
pub fn get(id: &str) -> Answer {
    let s = session(id)?;
    ok(200, &view(id, &s))
}

/// Finishes a PKCE login with the address the browser ended on.
#[utoipa::path(
    operation_id = "complete_login",
    post,
    path = "/api/logins/{id}/complete",
    tag = "accounts",
    params(("id" = String, Path, description = "The login's id")),
    request_body = CompleteLogin,
    responses(
        (status = 200, description = "The login, done (or failed at the token exchange: see `error`)", body = LoginView),
        (status = 400, description = "The address holds no code for this login", body = super::openapi::ErrorBody),
        (status = 404, description = "No such login", body = super::openapi::ErrorBody),
        (status = 409, description = "The login is not waiting for a redirect (a device-code login, or one already finished)", body = super::openapi::ErrorBody),
    )
)]
pub async fn complete(app: Arc<App>, req: Request<Incoming>, id: &str) -> Answer {
    let asked: CompleteLogin = body::read(&app, req).await?;
    let s = session(id)?;
    let url = match s.state.borrow().clone() {
        State::Waiting(LoginPrompt::Authorize { url, .. }) => url,
        _ => {
            return Err(ApiError::new(
                409,
                ErrorKind::InvalidRequest,
                "this login is not waiting for a redirect (see GET /api/logins/{id})",
            )
            .with_code("not_waiting"));
        }
    };
    // The code must answer this login's own request: its `state` is in the URL it opened.
    let state = url
        .split_once('?')
        .map(|(_, q)| q)
        .and_then(|q| serde_urlencoded::from_str::<HashMap<String, String>>(q).ok())
        .and_then(|q| q.get("state").cloned())
        .unwrap_or_default();
    parse_pasted(&asked.redirect_url, &state).map_err(|e| body::invalid(e.to_string()))?;
    s.paste
        .send(asked.redirect_url)
        .map_err(|_| ApiError::internal("the login has stopped"))?;
    moved_on(s.state.clone(), |st| matches!(st, State::Waiting(_))).await;
    ok(200, &view(id, &s))
}

/// Imports a login file's contents, as `switchyard import` does with the file.
#[utoipa::path(
    operation_id = "import_login",
    post,
    path = "/api/accounts/import",
    tag = "accounts",
    request_body = ImportLogin,
    responses(
        (status = 201, description = "The stored account, in use", body = accounts::AccountView),
        (status = 400, description = "The contents are not a login this provider takes", body = super::openapi::ErrorBody),
        (status = 404, description = "No such provider", body = super::openapi::ErrorBody),
    )
)]
pub async fn import(app: Arc<App>, req: Request<Incoming>, actor: Actor) -> Answer {
    let asked: ImportLogin = body::read(&app, req).await?;
    let p = provider(&app, &asked.provider)?;
    let importer = import::importers()
        .into_iter()
        .find(|i| i.kind == p.kind)
        .ok_or_else(|| {
            body::invalid(format!(
                "provider `{}` (kind `{}`) has no login file to import; its accounts take an api_key",
                p.name, p.kind
            ))
        })?;
    let Parse::Bytes(parse) = importer.parse else {
        return Err(body::invalid(format!(
            "a {} login is not one file's contents; run `switchyard import {}` on the machine that holds it",
            importer.name, importer.name
        )));
    };
    let imported = parse(asked.contents.as_bytes())
        .map_err(|e| body::invalid(format!("not a {} login: {e}", importer.name)))?;
    let name = p.name.clone();
    let after = store_login(
        &app,
        &actor,
        &name,
        asked.name,
        imported.label,
        imported.credential,
        "account.import",
    )
    .await?;
    ok(201, &after)
}
