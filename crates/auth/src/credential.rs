use std::collections::BTreeMap;
use std::time::SystemTime;

use crate::secret::Secret;

/// What an account presents to its provider. `Debug` shows the extras' names only: an SSO
/// client secret travels among them.
#[derive(Clone)]
pub enum Credential {
    ApiKey(Secret),
    OAuth {
        access: Secret,
        refresh: Option<Secret>,
        expires_at: Option<SystemTime>,
        /// Provider-specific values that travel with the token: account id, project id,
        /// profile ARN, region, an SSO client's id and secret...
        extra: BTreeMap<String, String>,
    },
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::ApiKey(k) => f.debug_tuple("ApiKey").field(k).finish(),
            Credential::OAuth {
                access,
                refresh,
                expires_at,
                extra,
            } => f
                .debug_struct("OAuth")
                .field("access", access)
                .field("refresh", refresh)
                .field("expires_at", expires_at)
                .field("extra", &extra.keys().collect::<Vec<_>>())
                .finish(),
        }
    }
}

impl Credential {
    /// The token that goes on the wire (as a bearer token or an API-key header).
    pub fn token(&self) -> &Secret {
        match self {
            Credential::ApiKey(k) => k,
            Credential::OAuth { access, .. } => access,
        }
    }

    /// Whether the credential expires within `lead` and should be refreshed first.
    pub fn expires_within(&self, lead: std::time::Duration) -> bool {
        match self {
            Credential::ApiKey(_) => false,
            Credential::OAuth { expires_at, .. } => {
                expires_at.is_some_and(|at| at <= crate::clock::now() + lead)
            }
        }
    }

    /// A provider-specific value (`account_id`, `project_id`...), if this is an OAuth
    /// credential that carries it.
    pub fn extra(&self, key: &str) -> Option<&str> {
        match self {
            Credential::ApiKey(_) => None,
            Credential::OAuth { extra, .. } => extra.get(key).map(String::as_str),
        }
    }

    pub fn refresh_token(&self) -> Option<&Secret> {
        match self {
            Credential::ApiKey(_) => None,
            Credential::OAuth { refresh, .. } => refresh.as_ref(),
        }
    }

    pub fn expires_at(&self) -> Option<SystemTime> {
        match self {
            Credential::ApiKey(_) => None,
            Credential::OAuth { expires_at, .. } => *expires_at,
        }
    }

    pub fn is_oauth(&self) -> bool {
        matches!(self, Credential::OAuth { .. })
    }

    /// Whether two credentials carry the same access token (a refresh changes it).
    pub fn same_token(&self, other: &Credential) -> bool {
        self.token().matches(other.token().expose().as_bytes())
    }
}

#[cfg(test)]
mod debug_tests {
    use super::*;

    #[test]
    fn debug_output_holds_no_secret() {
        let c = Credential::OAuth {
            access: Secret::new("access-token-secret-1"),
            refresh: Some(Secret::new("refresh-token-secret-1")),
            expires_at: None,
            extra: [("client_secret".to_owned(), "sso-client-secret-1".to_owned())].into(),
        };
        let text = format!("{c:?}");
        for secret in [
            "access-token-secret-1",
            "refresh-token-secret-1",
            "sso-client-secret-1",
        ] {
            assert!(!text.contains(secret), "{text}");
        }
        assert!(text.contains("client_secret"));
    }
}
