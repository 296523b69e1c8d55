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
    /// How the login is read.
    pub parse: Parse,
}

/// How an importer reads its login.
#[derive(Clone, Copy)]
pub enum Parse {
    /// From the file's bytes (a JSON login file). Errors are prefixed with the path.
    Bytes(fn(&[u8]) -> Result<Imported, AuthError>),
    /// From the path itself, for logins a byte slice cannot hold: a SQLite database, or a
    /// file that names others beside it. Errors name the files they are about.
    Path(fn(&Path) -> Result<Imported, AuthError>),
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
    let imported = match importer.parse {
        Parse::Bytes(parse) => {
            let bytes = std::fs::read(&path)
                .map_err(|e| AuthError::io(format!("cannot read {}", path.display()), e))?;
            parse(&bytes).map_err(|e| AuthError::Invalid(format!("{}: {e}", path.display())))?
        }
        Parse::Path(parse) => parse(&path)?,
    };
    Ok((path, imported))
}

/// `$VAR` if set, else `~/<rest>`.
pub fn env_or_home(var: &str, rest: &str) -> Option<PathBuf> {
    if let Some(v) = std::env::var_os(var).filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(v));
    }
    crate::files::home().map(|h| h.join(rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_bytes(bytes: &[u8]) -> Result<Imported, AuthError> {
        let token = std::str::from_utf8(bytes)
            .map_err(|_| AuthError::Invalid("not text".into()))?
            .trim();
        if token.is_empty() {
            return Err(AuthError::Invalid("empty".into()));
        }
        Ok(Imported {
            credential: Credential::ApiKey(crate::Secret::new(token)),
            label: None,
        })
    }

    fn from_path(path: &Path) -> Result<Imported, AuthError> {
        Ok(Imported {
            credential: Credential::ApiKey(crate::Secret::new("from-path")),
            label: path.file_name().map(|n| n.to_string_lossy().into_owned()),
        })
    }

    fn nowhere() -> Option<PathBuf> {
        None
    }

    #[test]
    fn bytes_and_path_importers_both_run() {
        let dir = std::env::temp_dir().join(format!("switchyard-import-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("login.txt");
        std::fs::write(&file, "tok-1\n").unwrap();

        let bytes = Importer {
            name: "t-bytes",
            kind: "t",
            default_path: nowhere,
            parse: Parse::Bytes(from_bytes),
        };
        let (at, got) = run(&bytes, Some(&file)).unwrap();
        assert_eq!(at, file);
        assert_eq!(got.credential.token().expose(), "tok-1");
        std::fs::write(&file, "").unwrap();
        let err = run(&bytes, Some(&file)).unwrap_err().to_string();
        assert!(err.contains("login.txt") && err.contains("empty"), "{err}");
        let err = run(&bytes, None).unwrap_err().to_string();
        assert!(err.contains("--path"), "{err}");

        // A path importer is handed the path, even of a file it reads otherwise.
        let path = Importer {
            name: "t-path",
            kind: "t",
            default_path: nowhere,
            parse: Parse::Path(from_path),
        };
        let (_, got) = run(&path, Some(&dir.join("state.db"))).unwrap();
        assert_eq!(got.label.as_deref(), Some("state.db"));
    }
}
