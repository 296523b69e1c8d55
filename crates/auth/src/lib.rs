//! Credentials and the machinery that keeps them: storage in SQLite, OAuth flows (PKCE with
//! a loopback callback or a pasted URL, device code), imports of existing CLI logins, and
//! de-duplicated token refresh.
//!
//! This crate knows no provider: the provider crates describe their endpoints and quirks
//! and call the flows here. HTTP goes through [`http::HttpSend`], which the provider crate's
//! upstream client implements, so TLS setup lives in one place.

mod clock;
pub mod credential;
pub mod error;
pub mod files;
pub mod http;
pub mod import;
pub mod jwt;
pub mod oauth;
pub mod refresh;
pub mod secret;
pub mod store;

pub use credential::Credential;
pub use error::AuthError;
pub use refresh::RefreshGate;
pub use secret::{Secret, mask};
