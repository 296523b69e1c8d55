//! This crate against the tester's fakes, which encode frames and answer refreshes from the
//! public wire formats without any of this crate's code.

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers outside #[test] fns fail the test by panicking"
)]

use std::collections::BTreeMap;

use serde_json::json;
use switchyard_auth::{Credential, Secret};
use switchyard_hub::Decoder;
use switchyard_kiro::KiroExecutor;
use switchyard_kiro::eventstream::EventStreamDecoder;
use switchyard_provider::executor::RefreshError;
use switchyard_provider::{ClientOptions, Executor, ProviderSettings, UpstreamClient};
use switchyard_tester::fake_kiro::{self, FakeKiroAuth};

fn executor(auth: &FakeKiroAuth) -> KiroExecutor {
    let options: BTreeMap<String, String> = [
        ("social_refresh_url".to_owned(), auth.social_url()),
        ("oidc_token_url".to_owned(), auth.oidc_url()),
    ]
    .into();
    KiroExecutor::new(ProviderSettings {
        name: "kiro".into(),
        base_url: String::new(),
        user_agent: None,
        headers: BTreeMap::new(),
        options,
    })
}

fn oauth(refresh: &str, extra: &[(&str, &str)]) -> Credential {
    Credential::OAuth {
        access: Secret::new("expired-access"),
        refresh: Some(Secret::new(refresh)),
        expires_at: None,
        extra: extra
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

fn parts(c: &Credential) -> (String, String, BTreeMap<String, String>) {
    match c {
        Credential::OAuth {
            access,
            refresh,
            extra,
            expires_at,
        } => {
            assert!(expires_at.is_some());
            (
                access.expose().to_owned(),
                refresh.as_ref().unwrap().expose().to_owned(),
                extra.clone(),
            )
        }
        Credential::ApiKey(_) => panic!("not oauth"),
    }
}

#[tokio::test]
async fn social_refresh_rotates_and_a_reused_token_is_terminal() {
    let auth = FakeKiroAuth::start().await;
    auth.grant("social-refresh-0");
    let exec = executor(&auth);
    let client = UpstreamClient::new(&ClientOptions::default()).unwrap();
    let old = oauth("social-refresh-0", &[("auth_method", "social")]);
    let new = exec.refresh(&old, &client).await.unwrap();
    let (access, refresh, extra) = parts(&new);
    assert!(access.starts_with("fake-access-"));
    assert_ne!(refresh, "social-refresh-0");
    assert_eq!(extra["profile_arn"], fake_kiro::PROFILE_ARN);
    assert_eq!(extra["auth_method"], "social");
    // The rotated token works once more; the old one is spent for good.
    exec.refresh(&new, &client).await.unwrap();
    let err = exec.refresh(&old, &client).await.unwrap_err();
    assert!(matches!(err, RefreshError::Terminal(_)), "{err:?}");
    let sent = &auth.state.requests.lock().unwrap()[0];
    assert_eq!(sent.path, "/refreshToken");
    assert_eq!(sent.body, json!({"refreshToken": "social-refresh-0"}));
}

#[tokio::test]
async fn sso_refresh_goes_to_the_regions_oidc_endpoint() {
    let auth = FakeKiroAuth::start().await;
    auth.grant("sso-refresh-0");
    let exec = executor(&auth);
    let client = UpstreamClient::new(&ClientOptions::default()).unwrap();
    let old = oauth(
        "sso-refresh-0",
        &[
            ("auth_method", "IdC"),
            ("region", "eu-west-1"),
            ("client_id", fake_kiro::OIDC_CLIENT_ID),
            ("client_secret", fake_kiro::OIDC_CLIENT_SECRET),
        ],
    );
    let new = exec.refresh(&old, &client).await.unwrap();
    let (_, refresh, extra) = parts(&new);
    assert_ne!(refresh, "sso-refresh-0");
    assert_eq!(extra["client_id"], fake_kiro::OIDC_CLIENT_ID);
    let sent = auth.state.requests.lock().unwrap()[0].clone();
    assert_eq!(sent.path, "/eu-west-1/token");
    assert_eq!(sent.body["grantType"], "refresh_token");
    let err = exec.refresh(&old, &client).await.unwrap_err();
    assert!(
        matches!(err, RefreshError::Terminal(ref m) if m.contains("invalid_grant")),
        "{err:?}"
    );

    // A wrong client secret is terminal too: the registration is unusable.
    auth.grant("sso-refresh-x");
    let bad = oauth(
        "sso-refresh-x",
        &[
            ("client_id", fake_kiro::OIDC_CLIENT_ID),
            ("client_secret", "nope"),
        ],
    );
    assert!(matches!(
        exec.refresh(&bad, &client).await,
        Err(RefreshError::Terminal(_))
    ));
}

#[tokio::test]
async fn unreachable_auth_service_is_transient() {
    let options: BTreeMap<String, String> = [(
        "social_refresh_url".to_owned(),
        "http://127.0.0.1:9/refreshToken".to_owned(),
    )]
    .into();
    let exec = KiroExecutor::new(ProviderSettings {
        name: "kiro".into(),
        base_url: String::new(),
        user_agent: None,
        headers: BTreeMap::new(),
        options,
    });
    let client = UpstreamClient::new(&ClientOptions::default()).unwrap();
    let err = exec.refresh(&oauth("r", &[]), &client).await.unwrap_err();
    assert!(matches!(err, RefreshError::Transient(_)), "{err:?}");
}

#[test]
fn decodes_the_fakes_frames_split_anywhere() {
    let mut bytes = Vec::new();
    bytes.extend(fake_kiro::event_frame(
        "assistantResponseEvent",
        &json!({"content": "héllo"}),
    ));
    bytes.extend(fake_kiro::event_frame(
        "toolUseEvent",
        &json!({"toolUseId": "t", "name": "Bash", "input": "{}", "stop": true}),
    ));
    bytes.extend(fake_kiro::exception_frame(
        "ThrottlingException",
        "Rate exceeded",
    ));
    for cut in 0..=bytes.len() {
        let mut d = EventStreamDecoder::default();
        let mut events = Vec::new();
        let mut error = None;
        for part in [&bytes[..cut], &bytes[cut..]] {
            d.push(part);
            while let Some(ev) = d.next_event() {
                match ev {
                    Ok(ev) => events.push(ev),
                    Err(e) => error = Some(e),
                }
            }
        }
        assert_eq!(events.len(), 2, "cut {cut}");
        assert_eq!(events[0].data["content"], "héllo");
        assert_eq!(events[1].event.as_deref(), Some("toolUseEvent"));
        let api = switchyard_hub::ApiError::from(error.expect("the exception frame"));
        assert_eq!(api.status, 429);
    }
}
