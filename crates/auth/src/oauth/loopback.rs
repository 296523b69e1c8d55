//! The receiving end of an authorization-code login: a one-shot HTTP listener on the
//! redirect URI's loopback port, and the paste fallback for machines whose browser cannot
//! reach it.

use std::time::Duration;

use oauth2::url::Url;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Mutex;
use tokio::sync::mpsc::UnboundedReceiver;

use super::Pkce;
use crate::error::AuthError;

/// What a login asks the person to do, for a front end that shows it its own way (the
/// management API answers it as JSON; the terminal gets the same through `say`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoginPrompt {
    /// Open `url` and sign in. The browser ends on `redirect_uri`; when that cannot load
    /// (another machine), the address it ended on is pasted back.
    Authorize { url: String, redirect_uri: String },
    /// Open `verification_uri` and enter `user_code`.
    DeviceCode {
        user_code: String,
        verification_uri: String,
        verification_uri_complete: Option<String>,
        expires_in: Duration,
    },
}

/// Where a front end takes [`LoginPrompt`]s.
type PromptSink = Box<dyn Fn(&LoginPrompt) + Send + Sync>;

/// How a login talks to the person doing it.
pub struct LoginUi {
    say: Box<dyn Fn(&str) + Send + Sync>,
    prompt: Option<PromptSink>,
    pasted: Mutex<UnboundedReceiver<String>>,
    /// Whether to try opening URLs in a browser.
    pub open_browser: bool,
    /// How long to wait for the person before giving up.
    pub timeout: Duration,
}

impl LoginUi {
    /// `say` shows a message; `pasted` delivers lines the person types (closed when there is
    /// no terminal).
    pub fn new(
        say: impl Fn(&str) + Send + Sync + 'static,
        pasted: UnboundedReceiver<String>,
        open_browser: bool,
    ) -> Self {
        LoginUi {
            say: Box::new(say),
            prompt: None,
            pasted: Mutex::new(pasted),
            open_browser,
            timeout: Duration::from_secs(600),
        }
    }

    /// Also hands each [`LoginPrompt`] to `prompt`.
    #[must_use]
    pub fn with_prompt(mut self, prompt: impl Fn(&LoginPrompt) + Send + Sync + 'static) -> Self {
        self.prompt = Some(Box::new(prompt));
        self
    }

    pub fn say(&self, text: &str) {
        (self.say)(text);
    }

    /// Tells a front end what the person must do now (the text for a terminal is said
    /// separately).
    pub fn prompt(&self, prompt: LoginPrompt) {
        if let Some(p) = &self.prompt {
            p(&prompt);
        }
    }

    /// The next non-empty line the person typed, or `None` once input is closed.
    pub async fn next_line(&self) -> Option<String> {
        let mut rx = self.pasted.lock().await;
        loop {
            let line = rx.recv().await?;
            if !line.trim().is_empty() {
                return Some(line.trim().to_owned());
            }
        }
    }

    /// Opens `url` in the desktop's browser when asked to; failure is fine, the URL is shown.
    pub fn open(&self, url: &str) {
        if !self.open_browser {
            return;
        }
        let opener = if cfg!(target_os = "macos") {
            "open"
        } else if cfg!(windows) {
            "explorer"
        } else {
            "xdg-open"
        };
        let _ = std::process::Command::new(opener)
            .arg(url)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
    }
}

/// Binds the redirect URI's port on loopback when its host is a loopback name. Port 0 picks
/// a free port, and the returned URI names it.
pub(super) async fn bind(redirect_uri: &str) -> (Option<TcpListener>, String) {
    let Ok(mut url) = Url::parse(redirect_uri) else {
        return (None, redirect_uri.to_owned());
    };
    let loopback = matches!(
        url.host_str(),
        Some("localhost" | "127.0.0.1" | "[::1]" | "::1")
    );
    if !loopback || url.scheme() != "http" {
        return (None, redirect_uri.to_owned());
    }
    let port = url.port().unwrap_or(80);
    match TcpListener::bind(("127.0.0.1", port)).await {
        Ok(l) => {
            if port == 0
                && let Ok(addr) = l.local_addr()
            {
                let _ = url.set_port(Some(addr.port()));
            }
            (Some(l), url.to_string())
        }
        Err(e) => {
            tracing::warn!("cannot listen on 127.0.0.1:{port} for the login callback: {e}");
            (None, redirect_uri.to_owned())
        }
    }
}

/// Waits for the authorization code: from the callback, from a pasted line, or not at all
/// once the time is up.
pub(super) async fn wait_for_code(
    listener: Option<TcpListener>,
    pkce: &Pkce,
    ui: &LoginUi,
) -> Result<String, AuthError> {
    let path = Url::parse(&pkce.redirect_uri)
        .map(|u| u.path().to_owned())
        .unwrap_or_else(|_| "/".into());
    let callback = async {
        match listener {
            Some(l) => accept_callback(l, &path, &pkce.state).await,
            None => std::future::pending().await,
        }
    };
    let pasted = async {
        loop {
            let Some(line) = ui.next_line().await else {
                // No terminal: only the callback can answer.
                return std::future::pending().await;
            };
            match parse_pasted(&line, &pkce.state) {
                Ok(code) => return Ok::<_, AuthError>(code),
                Err(e) => ui.say(&format!("{e}; paste the whole address again:")),
            }
        }
    };
    tokio::select! {
        r = callback => r,
        r = pasted => r,
        () = tokio::time::sleep(ui.timeout) => Err(AuthError::Invalid(format!(
            "no login callback within {} s", ui.timeout.as_secs()
        ))),
    }
}

/// The code in what the person pasted: the whole callback URL (or its query), Anthropic's
/// `code#state`, or the bare code.
pub fn parse_pasted(text: &str, state: &str) -> Result<String, AuthError> {
    let text = text.trim();
    let query = if let Some((_, q)) = text.split_once('?') {
        Some(q.split('#').next().unwrap_or_default())
    } else if text.contains("code=") {
        Some(text)
    } else {
        None
    };
    if let Some(q) = query {
        return code_from_query(q, state);
    }
    let (code, got_state) = match text.split_once('#') {
        Some((c, s)) => (c, Some(s)),
        None => (text, None),
    };
    if got_state.is_some_and(|s| s != state) {
        return Err(AuthError::Invalid(
            "the pasted code belongs to another login attempt (state differs)".into(),
        ));
    }
    if code.is_empty() || code.chars().any(char::is_whitespace) {
        return Err(AuthError::Invalid("that does not look like a code".into()));
    }
    Ok(code.to_owned())
}

fn code_from_query(query: &str, state: &str) -> Result<String, AuthError> {
    let mut code = None;
    let mut got_state = None;
    let mut error = None;
    let mut description = None;
    for (k, v) in oauth2::url::form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "code" => code = Some(v.into_owned()),
            "state" => got_state = Some(v.into_owned()),
            "error" => error = Some(v.into_owned()),
            "error_description" => description = Some(v.into_owned()),
            _ => {}
        }
    }
    if let Some(e) = error {
        return Err(AuthError::Invalid(format!(
            "the provider refused the login: {e}{}",
            description.map(|d| format!(" ({d})")).unwrap_or_default()
        )));
    }
    if got_state.as_deref() != Some(state) {
        return Err(AuthError::Invalid(
            "the callback belongs to another login attempt (state differs)".into(),
        ));
    }
    code.filter(|c| !c.is_empty())
        .ok_or_else(|| AuthError::Invalid("the callback carries no code".into()))
}

const PAGE_OK: &str = "<!doctype html><title>Switchyard</title><p>Login complete. You can close this tab and return to the terminal.</p>";

async fn accept_callback(
    listener: TcpListener,
    path: &str,
    state: &str,
) -> Result<String, AuthError> {
    loop {
        let Ok((mut sock, _)) = listener.accept().await else {
            continue;
        };
        let Some(target) = read_target(&mut sock).await else {
            continue;
        };
        let (req_path, query) = target.split_once('?').unwrap_or((&target, ""));
        if req_path != path {
            // Browsers also ask for /favicon.ico and the like.
            respond(&mut sock, "404 Not Found", "<p>Not found.</p>").await;
            continue;
        }
        match code_from_query(query, state) {
            Ok(code) => {
                respond(&mut sock, "200 OK", PAGE_OK).await;
                return Ok(code);
            }
            Err(e) => {
                let page = format!("<p>Login failed: {}</p>", html_escape(&e.to_string()));
                respond(&mut sock, "400 Bad Request", &page).await;
                if query.contains("error=") {
                    return Err(e);
                }
            }
        }
    }
}

/// The request target of one HTTP/1.1 GET, read with a size and time limit.
async fn read_target(sock: &mut tokio::net::TcpStream) -> Option<String> {
    let mut buf = Vec::with_capacity(1024);
    let read = async {
        let mut chunk = [0u8; 1024];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
            let n = sock.read(&mut chunk).await.ok()?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(chunk.get(..n)?);
        }
        Some(())
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .ok()??;
    let head = String::from_utf8_lossy(&buf);
    let line = head.lines().next()?;
    let mut parts = line.split_whitespace();
    (parts.next()? == "GET").then_some(())?;
    parts.next().map(str::to_owned)
}

async fn respond(sock: &mut tokio::net::TcpStream, status: &str, page: &str) {
    let res = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
        page.len()
    );
    let _ = sock.write_all(res.as_bytes()).await;
    let _ = sock.shutdown().await;
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pasted_forms_are_understood() {
        let st = "st-1";
        assert_eq!(
            parse_pasted(
                "http://localhost:1455/auth/callback?code=abc&state=st-1",
                st
            )
            .unwrap(),
            "abc"
        );
        assert_eq!(parse_pasted("code=abc&state=st-1", st).unwrap(), "abc");
        assert_eq!(parse_pasted("abc#st-1", st).unwrap(), "abc");
        assert_eq!(parse_pasted("  abc  ", st).unwrap(), "abc");
        assert!(parse_pasted("abc#other", st).is_err());
        assert!(parse_pasted("http://x/cb?code=abc&state=other", st).is_err());
        assert!(parse_pasted("http://x/cb?error=access_denied&state=st-1", st).is_err());
    }

    #[tokio::test]
    async fn callback_is_received_on_loopback() {
        let (listener, redirect) = bind("http://127.0.0.1:0/callback").await;
        assert!(!redirect.contains(":0/"), "{redirect}");
        let pkce = Pkce {
            url: String::new(),
            redirect_uri: redirect.clone(),
            state: "s1".into(),
            verifier: crate::Secret::new("v"),
        };
        let (_tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let ui = LoginUi::new(|_| {}, rx, false);
        let url = Url::parse(&redirect).unwrap();
        let port = url.port().unwrap();
        let browser = tokio::spawn(async move {
            for target in ["/favicon.ico", "/callback?code=c-42&state=s1"] {
                let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .unwrap();
                s.write_all(format!("GET {target} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes())
                    .await
                    .unwrap();
                let mut out = String::new();
                let _ = s.read_to_string(&mut out).await;
            }
        });
        let code = wait_for_code(listener, &pkce, &ui).await.unwrap();
        assert_eq!(code, "c-42");
        browser.await.unwrap();
    }
}
