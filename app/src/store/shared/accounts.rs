//! Users and sessions: login, adding users, setting passwords.

use std::str::FromStr;

use serde_json::json;

use super::super::clock::Clock;
use super::super::password::{hash_password, verify_password};
use super::super::sql::{Backend, RowRead, SqlTx};
use super::super::{Result, Role, Session, StoreError, roles_text};
use super::Store;
use super::chain::{Actor, Draft, append_events};

pub(crate) fn validate_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
        return Err(StoreError::Invalid {
            field: "user name".into(),
            problem: format!("'{name}' must be 1 to 128 printable characters"),
        });
    }
    Ok(())
}

pub(crate) async fn insert_user<T: SqlTx>(
    tx: &mut T,
    clock: &Clock,
    name: &str,
    roles: &[Role],
    password_hash: Option<&str>,
) -> Result<i64> {
    let id = tx
        .insert(
            "INSERT INTO users (name, password_hash, created_at) VALUES ($1, $2, $3) RETURNING id",
            &[name.into(), password_hash.into(), (&clock.now()).into()],
        )
        .await?;
    for role in roles {
        tx.execute(
            "INSERT INTO user_roles (user_id, role) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[id.into(), role.name().into()],
        )
        .await?;
    }
    Ok(id)
}

fn hash_or_invalid(password: &str) -> Result<String> {
    hash_password(password).map_err(|problem| StoreError::Invalid {
        field: "password".into(),
        problem,
    })
}

impl<B: Backend> Store<B> {
    pub(super) async fn login_async(&self, name: &str, password: Option<&str>) -> Result<Session> {
        let mut tx = self.backend.write().await?;
        let user = tx
            .fetch_optional(
                "SELECT id, password_hash, active FROM users WHERE name = $1",
                &[name.into()],
            )
            .await?
            .map(|r| Ok::<_, StoreError>((r.i64(0)?, r.opt_text(1)?, r.i64(2)?)))
            .transpose()?;
        let failed = |reason: &str| Draft {
            action: "login_failed",
            entity_type: "user",
            entity_id: Some(name.to_string()),
            reason: Some(reason.to_string()),
            ..Draft::default()
        };
        let Some((id, hash, active)) = user else {
            let unknown = Actor {
                name: name.to_string(),
                role: String::new(),
            };
            append_events(
                &mut tx,
                &self.key,
                &self.clock,
                &unknown,
                &[failed("unknown user")],
            )
            .await?;
            tx.commit().await?;
            return Err(StoreError::UnknownUser(name.to_string()));
        };
        let roles: Vec<Role> = tx
            .fetch_all(
                "SELECT role FROM user_roles WHERE user_id = $1 ORDER BY role",
                &[id.into()],
            )
            .await?
            .iter()
            .filter_map(|r| r.text(0).ok().and_then(|r| Role::from_str(&r).ok()))
            .collect();
        let actor = Actor {
            name: name.to_string(),
            role: roles_text(&roles),
        };
        if active == 0 {
            append_events(
                &mut tx,
                &self.key,
                &self.clock,
                &actor,
                &[failed("deactivated user")],
            )
            .await?;
            tx.commit().await?;
            return Err(StoreError::Inactive(name.to_string()));
        }
        let verified = match (password, hash.as_deref()) {
            (Some(given), Some(phc)) => {
                if !verify_password(given, phc) {
                    append_events(
                        &mut tx,
                        &self.key,
                        &self.clock,
                        &actor,
                        &[failed("wrong password")],
                    )
                    .await?;
                    tx.commit().await?;
                    return Err(StoreError::WrongPassword(name.to_string()));
                }
                true
            }
            _ => false,
        };
        let draft = Draft::new("login", "user", id).after(json!({ "password_verified": verified }));
        append_events(&mut tx, &self.key, &self.clock, &actor, &[draft]).await?;
        tx.commit().await?;
        Ok(Session {
            user_id: id,
            name: name.to_string(),
            roles,
            password_verified: verified,
        })
    }

    pub(super) async fn add_user_async(
        &self,
        session: &Session,
        name: &str,
        roles: &[Role],
        password: Option<&str>,
    ) -> Result<i64> {
        self.require(session, &[Role::Admin], "add users").await?;
        validate_name(name)?;
        if roles.is_empty() {
            return Err(StoreError::Invalid {
                field: "--role".into(),
                problem: "a user needs at least one role".into(),
            });
        }
        let hash = password.map(hash_or_invalid).transpose()?;
        let mut tx = self.backend.write().await?;
        let exists = tx
            .fetch_optional("SELECT id FROM users WHERE name = $1", &[name.into()])
            .await?;
        if exists.is_some() {
            return Err(StoreError::Invalid {
                field: "user name".into(),
                problem: format!("a user named '{name}' already exists"),
            });
        }
        let id = insert_user(&mut tx, &self.clock, name, roles, hash.as_deref()).await?;
        let role_names: Vec<&str> = roles.iter().map(|r| r.name()).collect();
        let draft = Draft::new("create", "user", id)
            .after(json!({ "name": name, "roles": role_names, "password_set": hash.is_some() }));
        append_events(&mut tx, &self.key, &self.clock, &session.into(), &[draft]).await?;
        tx.commit().await?;
        Ok(id)
    }

    pub(super) async fn set_password_async(
        &self,
        session: &Session,
        name: &str,
        new_password: &str,
    ) -> Result<()> {
        if session.name != name {
            self.require(session, &[Role::Admin], "set another user's password")
                .await?;
        }
        let hash = hash_or_invalid(new_password)?;
        let mut tx = self.backend.write().await?;
        let user = tx
            .fetch_optional(
                "SELECT id, password_hash FROM users WHERE name = $1",
                &[name.into()],
            )
            .await?
            .map(|r| Ok::<_, StoreError>((r.i64(0)?, r.opt_text(1)?)))
            .transpose()?;
        let Some((id, old)) = user else {
            return Err(StoreError::UnknownUser(name.to_string()));
        };
        // Changing your own existing password needs the current one (verified at login).
        if session.name == name && old.is_some() && !session.password_verified {
            return Err(StoreError::PasswordRequired {
                user: name.to_string(),
                action: "change the password".into(),
            });
        }
        tx.execute(
            "UPDATE users SET password_hash = $1 WHERE id = $2",
            &[(&hash).into(), id.into()],
        )
        .await?;
        // Hashes are never written to the history; only that the password changed.
        let draft = Draft::new("change", "user", id)
            .before(json!({ "password_set": old.is_some() }))
            .after(json!({ "password_set": true }))
            .reason("password set");
        append_events(&mut tx, &self.key, &self.clock, &session.into(), &[draft]).await?;
        tx.commit().await?;
        Ok(())
    }
}
