//! Credentials and the machinery that keeps them fresh.

pub mod credential;
pub mod refresh;
pub mod secret;

pub use credential::Credential;
pub use refresh::RefreshGate;
pub use secret::{Secret, mask};
