//! What every backend does once its schema is current: find the audit key (creating it only
//! for a history that is still empty), check it belongs to the database, and create the first
//! user of a new database. All of it runs under the database's write lock, so any number of
//! processes opening a new database at once agree on one key and one first user.

use serde_json::json;

use super::super::password::hash_password;
use super::super::sql::{Backend, RowRead, SqlTx};
use super::super::{KeySource, Result, Role, StoreConfig, StoreError, roles_text};
use super::accounts::{insert_user, validate_name};
use super::chain::{Actor, Draft, append_events};
use crate::audit::{AuditKey, Chain, KeyError};

/// Loads or creates the key, checks it, and creates the first user; returns the key and the
/// notices to show. `existed` says whether the database was there before this open.
pub(crate) async fn bootstrap<B: Backend>(
    backend: &B,
    config: &StoreConfig,
    existed: bool,
    notices: &mut Vec<String>,
) -> Result<AuditKey> {
    let location = backend.location().to_string();
    let mut tx = backend.write().await?;
    let events = tx
        .fetch_one(
            "SELECT (SELECT count(*) FROM audit_events) + (SELECT count(*) FROM audit_head)",
            &[],
        )
        .await?
        .i64(0)?;
    let key = match &config.key {
        KeySource::Given(key) => key.clone(),
        KeySource::File(path) => {
            if path.exists() {
                AuditKey::load(path)?
            } else if events == 0 {
                match AuditKey::create(path) {
                    Ok(key) => {
                        notices.push(format!(
                            "created the audit key {} (keep it safe and separate from the database: without it the history cannot be verified)",
                            path.display()
                        ));
                        key
                    }
                    // Another process on this machine created it a moment ago.
                    Err(KeyError::Io { source, .. })
                        if source.kind() == std::io::ErrorKind::AlreadyExists =>
                    {
                        std::thread::sleep(std::time::Duration::from_millis(50));
                        AuditKey::load(path)?
                    }
                    Err(e) => return Err(e.into()),
                }
            } else {
                return Err(KeyError::Missing {
                    path: path.clone(),
                    db: location,
                }
                .into());
            }
        }
    };
    let key_id = Chain::new(&key).key_id();
    let stored = tx
        .fetch_optional(
            "SELECT value FROM store_meta WHERE key = 'audit_key_id'",
            &[],
        )
        .await?
        .map(|r| r.text(0))
        .transpose()?;
    match stored {
        Some(expected) if expected != key_id => {
            return Err(StoreError::WrongKey {
                key: match &config.key {
                    KeySource::File(p) => p.display().to_string(),
                    KeySource::Given(_) => "given in memory".into(),
                },
                db: location,
                found: key_id,
                expected,
            });
        }
        Some(_) => {}
        None => {
            tx.execute(
                "INSERT INTO store_meta (key, value) VALUES ('audit_key_id', $1)",
                &[(&key_id).into()],
            )
            .await?;
        }
    }
    let users = tx
        .fetch_one("SELECT count(*) FROM users", &[])
        .await?
        .i64(0)?;
    if users == 0 {
        let name = config.first_user.trim();
        validate_name(name)?;
        let roles = [Role::Cardiologist, Role::Admin];
        let hash = match &config.first_password {
            Some(p) => Some(hash_password(p).map_err(|problem| StoreError::Invalid {
                field: "password".into(),
                problem,
            })?),
            None => None,
        };
        let id = insert_user(&mut tx, &config.clock, name, &roles, hash.as_deref()).await?;
        let actor = Actor {
            name: name.to_string(),
            role: roles_text(&roles),
        };
        let draft = Draft::new("create", "user", id)
            .after(json!({ "name": name, "roles": ["cardiologist", "admin"], "password_set": hash.is_some() }))
            .reason("first user of a new database");
        append_events(&mut tx, &key, &config.clock, &actor, &[draft]).await?;
        notices.push(format!(
            "{} database {location}: created the first user '{name}' as cardiologist and admin{}",
            if existed { "empty" } else { "new" },
            if hash.is_some() {
                ""
            } else {
                " (no password yet: set one with `ecgr1 user passwd` before signing)"
            }
        ));
    }
    tx.commit().await?;
    Ok(key)
}
