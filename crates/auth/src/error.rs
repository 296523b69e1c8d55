/// Everything that can go wrong with credentials. Messages never carry a secret.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("credential store: {0}")]
    Store(#[from] rusqlite::Error),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    /// The grant is gone (`invalid_grant`, `refresh_token_reused`, a revoked token...): only
    /// a new login helps, so nothing retries it.
    #[error("login needed: {0}")]
    Terminal(String),
    /// Worth trying again later (network, rate limit, 5xx).
    #[error("{0}")]
    Transient(String),
    /// Input that cannot be used: an import file, a pasted URL, a setting.
    #[error("{0}")]
    Invalid(String),
}

impl AuthError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        AuthError::Io {
            context: context.into(),
            source,
        }
    }
}
