//! The audit key: 32 random bytes in a file outside the database, readable only by its owner.
//!
//! The key is created once, when a new database is created. For an existing database a missing
//! key is an error, never a reason to make a new one: a new key would leave the existing history
//! unverifiable and so hide tampering.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Key length in bytes.
pub const KEY_LEN: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "audit key file {path} is missing, but the database {db} already holds an audit history \
         signed with a key; restore the key file (or point to it with --key / ECGR1_KEY). \
         A new key is never generated for an existing database because the history could no longer be verified"
    )]
    Missing { path: PathBuf, db: String },
    #[error("audit key file {path}: {problem}")]
    Invalid { path: PathBuf, problem: String },
    #[error("audit key file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("audit key: the system random generator failed: {0}")]
    Random(String),
}

/// The HMAC key of the audit chain.
#[derive(Clone)]
pub struct AuditKey([u8; KEY_LEN]);

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey(<hidden>)")
    }
}

impl AuditKey {
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(bytes)
    }

    pub fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// A fresh random key (not written anywhere).
    pub fn random() -> Result<Self, KeyError> {
        let mut bytes = [0u8; KEY_LEN];
        getrandom::fill(&mut bytes).map_err(|e| KeyError::Random(e.to_string()))?;
        Ok(Self(bytes))
    }

    /// Reads a key file: exactly 32 bytes, and on Unix not readable by group or others.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let io = |source| KeyError::Io {
            path: path.to_path_buf(),
            source,
        };
        let meta = fs::metadata(path).map_err(io)?;
        if meta.len() != KEY_LEN as u64 {
            return Err(KeyError::Invalid {
                path: path.to_path_buf(),
                problem: format!(
                    "the file is {} bytes long; an audit key is exactly {KEY_LEN} bytes",
                    meta.len()
                ),
            });
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(KeyError::Invalid {
                    path: path.to_path_buf(),
                    problem: format!(
                        "permissions {mode:o} let other users read the key; run `chmod 600 {}`",
                        path.display()
                    ),
                });
            }
        }
        let bytes = fs::read(path).map_err(io)?;
        let key: [u8; KEY_LEN] = bytes.as_slice().try_into().map_err(|_| KeyError::Invalid {
            path: path.to_path_buf(),
            problem: format!("expected {KEY_LEN} bytes, read {}", bytes.len()),
        })?;
        Ok(Self(key))
    }

    /// Creates a new key file with mode 0600 (fails if the file already exists).
    pub fn create(path: &Path) -> Result<Self, KeyError> {
        let io = |source| KeyError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).map_err(io)?;
        }
        let key = Self::random()?;
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(io)?;
        file.write_all(&key.0).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_key_round_trips_and_is_private() {
        let dir = std::env::temp_dir().join(format!("ecgr1-key-{}", std::process::id()));
        let path = dir.join("audit.key");
        let _ = fs::remove_file(&path);
        let key = AuditKey::create(&path).unwrap();
        assert_eq!(AuditKey::load(&path).unwrap().bytes(), key.bytes());
        assert!(AuditKey::create(&path).is_err(), "never overwrites a key");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
            let err = AuditKey::load(&path).unwrap_err().to_string();
            assert!(err.contains("chmod 600"), "{err}");
        }
        fs::write(&path, b"short").unwrap();
        assert!(
            AuditKey::load(&path)
                .unwrap_err()
                .to_string()
                .contains("exactly 32 bytes")
        );
        let _ = fs::remove_dir_all(&dir);
    }
}
