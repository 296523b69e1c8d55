//! Imports of logins other tools already hold (Claude Code, Codex, Gemini CLI...). Each
//! provider crate registers an [`Importer`] for its own files with `inventory::submit!`, so a
//! new provider adds its importer without touching the command.

use std::path::{Path, PathBuf};

use crate::credential::Credential;
use crate::error::AuthError;

/// A login read from another tool's files.
#[derive(Clone, Debug)]
pub struct Imported {
    pub credential: Credential,
    /// A name for the account, when the file tells one (an e-mail address).
    pub label: Option<String>,
}

pub struct Importer {
    /// What the user types: `switchyard import <name>`.
    pub name: &'static str,
    /// The provider kind whose accounts it fills.
    pub kind: &'static str,
    /// Where the tool keeps its login by default (environment variables considered).
    pub default_path: fn() -> Option<PathBuf>,
    /// Reads the file's bytes.
    pub parse: fn(&[u8]) -> Result<Imported, AuthError>,
}

inventory::collect!(Importer);

/// Every importer linked into this binary, by name.
pub fn importers() -> Vec<&'static Importer> {
    let mut v: Vec<_> = inventory::iter::<Importer>.into_iter().collect();
    v.sort_by_key(|i| i.name);
    v
}

pub fn find(name: &str) -> Option<&'static Importer> {
    inventory::iter::<Importer>
        .into_iter()
        .find(|i| i.name == name)
}

/// Reads and parses the importer's file at `path`, or at its default place.
pub fn run(importer: &Importer, path: Option<&Path>) -> Result<(PathBuf, Imported), AuthError> {
    let path = match path {
        Some(p) => p.to_owned(),
        None => (importer.default_path)().ok_or_else(|| {
            AuthError::Invalid(format!(
                "cannot tell where {} keeps its login; pass --path",
                importer.name
            ))
        })?,
    };
    let bytes = std::fs::read(&path)
        .map_err(|e| AuthError::io(format!("cannot read {}", path.display()), e))?;
    let imported = (importer.parse)(&bytes)
        .map_err(|e| AuthError::Invalid(format!("{}: {e}", path.display())))?;
    Ok((path, imported))
}

/// `$VAR` if set, else `~/<rest>`.
pub fn env_or_home(var: &str, rest: &str) -> Option<PathBuf> {
    if let Some(v) = std::env::var_os(var).filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(v));
    }
    crate::files::home().map(|h| h.join(rest))
}
