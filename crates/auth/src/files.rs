//! Files that may hold secrets: written atomically (a temporary file in the same directory,
//! synced, then renamed over the target) and readable by the owner only.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::AuthError;

/// Writes `bytes` to `path` atomically with mode 0600, creating the directory (0700) first.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), AuthError> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    create_private_dir(dir)?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("secret");
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(|e| AuthError::io(format!("cannot write {}", path.display()), e))
}

/// Creates `dir` (and its parents) readable by the owner only when it is new.
pub fn create_private_dir(dir: &Path) -> Result<(), AuthError> {
    if dir.exists() {
        return Ok(());
    }
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
        .map_err(|e| AuthError::io(format!("cannot create {}", dir.display()), e))
}

/// Makes an existing file readable by the owner only (a database and its journal files).
pub fn restrict(path: &Path) -> Result<(), AuthError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if path.exists() {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| AuthError::io(format!("cannot restrict {}", path.display()), e))?;
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// The user's home directory.
pub fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_atomically_with_owner_only_mode() {
        let dir = std::env::temp_dir().join(format!("sy-files-{}", std::process::id()));
        let path = dir.join("nested/creds.json");
        write_private(&path, b"{\"a\":1}").unwrap();
        write_private(&path, b"{\"a\":2}").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"{\"a\":2}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty());
        let _ = std::fs::remove_dir_all(dir);
    }
}
