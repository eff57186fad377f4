//! `ecgr1 store init-postgres`: prepares a department database. Connected as a superuser (or
//! a role that may create roles), it creates the owner role that owns the schema and runs its
//! migrations, the application role the workstations act through, and optionally login roles
//! that are members of the application role; then it grants the application role exactly what
//! the store needs: SELECT and INSERT everywhere, UPDATE only on a case's status, a user's
//! password and the signed audit head, and nothing that deletes or truncates.

use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};

use super::super::location::PostgresUrl;
use super::super::{Result, StoreError};
use super::open::{MIGRATOR, connect_options, server_name};

/// What to create.
#[derive(Clone, Debug)]
pub struct InitPostgres {
    /// A superuser's URL of the department database.
    pub admin: PostgresUrl,
    /// Owns the tables and runs migrations (no login needed).
    pub owner_role: String,
    /// The role workstations act through (a group: give logins membership).
    pub app_role: String,
    /// Login roles to create as members of the application role (passwords are set by the
    /// administrator, e.g. with psql's `\password`, or left to certificate / peer auth).
    pub logins: Vec<String>,
}

/// What was done.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct InitReport {
    pub database: String,
    pub server: String,
    pub owner_role: String,
    pub app_role: String,
    pub logins: Vec<String>,
    pub schema_version: i64,
}

fn check_role_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid {
            field: "role name".into(),
            problem: format!(
                "'{name}' must be 1 to 63 lowercase letters, digits or underscores, starting with a letter or underscore"
            ),
        })
    }
}

/// A double-quoted SQL identifier.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Table privileges of the application role (everything else is revoked).
const APP_UPDATABLE: [&str; 3] = ["users", "cases", "audit_head"];

pub fn init_postgres(init: &InitPostgres) -> Result<InitReport> {
    for role in [&init.owner_role, &init.app_role]
        .into_iter()
        .chain(&init.logins)
    {
        check_role_name(role)?;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(init_async(init))
}

async fn run(conn: &mut PgConnection, sql: String, name: &super::ServerName) -> Result<()> {
    conn.execute(AssertSqlSafe(sql))
        .await
        .map_err(|e| name.error(e))?;
    Ok(())
}

async fn init_async(init: &InitPostgres) -> Result<InitReport> {
    let name = server_name(&init.admin);
    let mut conn = PgConnection::connect_with(&connect_options(&init.admin)?)
        .await
        .map_err(|e| name.error(e))?;
    let (owner, app) = (ident(&init.owner_role), ident(&init.app_role));
    let create_role = |role: &str, login: bool| {
        format!(
            "DO $$ BEGIN CREATE ROLE {} {}; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$",
            ident(role),
            if login { "LOGIN" } else { "NOLOGIN" }
        )
    };
    run(&mut conn, create_role(&init.owner_role, false), &name).await?;
    run(&mut conn, create_role(&init.app_role, false), &name).await?;
    for login in &init.logins {
        run(&mut conn, create_role(login, true), &name).await?;
        // Roles and memberships belong to the cluster, not the database: an init-postgres of
        // another database of the same cluster may grant the same membership at the same
        // moment, and the loser of that race gets a unique violation, not the usual notice.
        run(
            &mut conn,
            format!(
                "DO $$ BEGIN GRANT {app} TO {}; EXCEPTION WHEN unique_violation THEN NULL; END $$",
                ident(login)
            ),
            &name,
        )
        .await?;
    }
    let database = init.admin.database();
    run(
        &mut conn,
        format!("GRANT CREATE, USAGE ON SCHEMA public TO {owner}"),
        &name,
    )
    .await?;
    run(
        &mut conn,
        format!(
            "GRANT CONNECT, TEMPORARY ON DATABASE {} TO {app}",
            ident(&database)
        ),
        &name,
    )
    .await?;
    run(
        &mut conn,
        format!("GRANT USAGE ON SCHEMA public TO {app}"),
        &name,
    )
    .await?;

    // The schema is created as the owner role, so the tables belong to it and not to the
    // superuser running this.
    run(&mut conn, format!("SET ROLE {owner}"), &name).await?;
    MIGRATOR
        .run(&mut conn)
        .await
        .map_err(|e| StoreError::Corrupt {
            path: init.admin.redacted(),
            problem: format!("could not apply the schema: {e}"),
        })?;
    run(&mut conn, "RESET ROLE".into(), &name).await?;

    let updatable = APP_UPDATABLE.join(", ");
    for sql in [
        format!("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {app}"),
        format!("GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA public TO {app}"),
        format!("REVOKE INSERT ON _sqlx_migrations FROM {app}"),
        format!("GRANT UPDATE ON {updatable} TO {app}"),
        format!("GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {app}"),
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC".to_string(),
    ] {
        run(&mut conn, sql, &name).await?;
    }
    let schema_version: i64 =
        sqlx::query_scalar("SELECT COALESCE(max(version), 0) FROM _sqlx_migrations")
            .fetch_one(&mut conn)
            .await
            .map_err(|e| name.error(e))?;
    conn.close().await.map_err(|e| name.error(e))?;
    Ok(InitReport {
        database,
        server: name.server.clone(),
        owner_role: init.owner_role.clone(),
        app_role: init.app_role.clone(),
        logins: init.logins.clone(),
        schema_version,
    })
}
