use std::path::PathBuf;

/// What can go wrong in this crate outside a request (requests fail with the hub's errors).
#[derive(Debug, thiserror::Error)]
pub enum KiroError {
    /// A Kiro login file that cannot be imported. The message never quotes the file.
    #[error("cannot import the Kiro login from {path}: {message}")]
    Import { path: PathBuf, message: String },
}
