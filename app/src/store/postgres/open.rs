//! Opening a PostgreSQL store: connect (naming the server when it cannot be reached), bring
//! the schema up to date when this role may, then the shared bootstrap (key and first user)
//! under the store's advisory lock.

use std::str::FromStr;
use std::sync::Arc;

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};

use super::super::location::PostgresUrl;
use super::super::{DbLocation, Result, StoreConfig, StoreError};
use super::{CONNECT_TIMEOUT, PostgresBackend, PostgresStore, ServerName};

pub(super) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections per process: the GUI's worker threads share one store.
const MAX_CONNECTIONS: u32 = 4;

impl PostgresStore {
    /// Connects, applies pending migrations (when this role owns the schema; otherwise asks for
    /// `ecgr1 store init-postgres`), loads or creates the audit key, and creates the first user
    /// of a new database.
    pub fn open(config: &StoreConfig) -> Result<Self> {
        let DbLocation::Postgres(url) = &config.db else {
            return Err(StoreError::Invalid {
                field: "--db".into(),
                problem: format!("{} is not a PostgreSQL URL", config.db.describe()),
            });
        };
        Self::open_with(config, || async {
            let backend = connect(url).await?;
            let existed = migrate_if_needed(&backend, url).await?;
            Ok((backend, existed))
        })
    }
}

pub(crate) fn server_name(url: &PostgresUrl) -> ServerName {
    ServerName {
        server: url.server(),
        database: url.database(),
    }
}

pub(crate) fn connect_options(url: &PostgresUrl) -> Result<PgConnectOptions> {
    PgConnectOptions::from_str(url.connect_str())
        .map(|o| o.application_name("ecgr1"))
        .map_err(|e| StoreError::Invalid {
            field: "--db".into(),
            problem: format!("{}: {e}", url.redacted()),
        })
}

pub(crate) async fn connect_pool(url: &PostgresUrl, max: u32) -> Result<PgPool> {
    let name = server_name(url);
    let options = connect_options(url)?;
    // One direct connection first: the pool retries a refused connection until its timeout and
    // then reports only that it timed out, where this names the actual refusal (no server,
    // wrong password, no such database) at once.
    match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&options)).await {
        Ok(Ok(probe)) => probe.close().await.map_err(|e| name.error(e))?,
        Ok(Err(e)) => return Err(name.error(e)),
        Err(_) => {
            return Err(StoreError::Server {
                server: name.server,
                database: name.database,
                problem: format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
            });
        }
    }
    PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(CONNECT_TIMEOUT)
        .connect_with(options)
        .await
        .map_err(|e| name.error(e))
}

async fn connect(url: &PostgresUrl) -> Result<PostgresBackend> {
    let pool = connect_pool(url, MAX_CONNECTIONS).await?;
    Ok(PostgresBackend {
        pool,
        location: url.redacted(),
        name: Arc::new(server_name(url)),
    })
}

/// The schema versions applied, or `None` when the database has no ecgr1 schema yet.
async fn applied_versions(pool: &PgPool, name: &ServerName) -> Result<Option<Vec<i64>>> {
    let exists: Option<String> =
        sqlx::query_scalar("SELECT CAST(to_regclass('_sqlx_migrations') AS TEXT)")
            .fetch_one(pool)
            .await
            .map_err(|e| name.error(e))?;
    if exists.is_none() {
        return Ok(None);
    }
    let versions: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(pool)
            .await
            .map_err(|e| name.error(e))?;
    Ok(Some(versions))
}

/// Applies pending migrations when there are any; returns whether the schema existed before.
/// sqlx's migrator holds a session advisory lock while it works, so concurrent first opens
/// apply the schema once.
async fn migrate_if_needed(backend: &PostgresBackend, url: &PostgresUrl) -> Result<bool> {
    let name = &backend.name;
    let applied = applied_versions(&backend.pool, name).await?;
    let supported = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    if let Some(found) = applied
        .as_ref()
        .and_then(|v| v.last().copied())
        .filter(|v| *v > supported)
    {
        return Err(StoreError::NewerSchema {
            path: url.redacted(),
            found,
            supported,
        });
    }
    let current = applied
        .as_ref()
        .is_some_and(|v| MIGRATOR.iter().all(|m| v.contains(&m.version)));
    if current {
        return Ok(true);
    }
    MIGRATOR.run(&backend.pool).await.map_err(|e| {
        let problem = e.to_string();
        if problem.contains("permission denied") {
            StoreError::SchemaMissing {
                db: url.redacted(),
                user: url.user().unwrap_or("this role").to_string(),
            }
        } else {
            StoreError::Corrupt {
                path: url.redacted(),
                problem: format!("could not apply the schema: {problem}"),
            }
        }
    })?;
    Ok(applied.is_some())
}
