//! The PostgreSQL backend: a department's shared case store.
//!
//! Every write transaction first takes the store's transaction-level advisory lock
//! (`pg_advisory_xact_lock`), so appends from any number of workstations serialise inside the
//! inserting transaction: the chain head read after the lock is the head until commit, and the
//! lock is released by the commit or rollback itself, also when a writer dies mid-transaction.

mod init;
mod open;

use std::sync::Arc;
use std::time::Duration;

use sqlx::Transaction;
use sqlx::postgres::{PgPool, PgRow, Postgres};

use super::shared::Store;
use super::sql::{Backend, SqlTx, Val};
use super::{Result, StoreError};

pub use init::{InitPostgres, InitReport, init_postgres};

/// The PostgreSQL case store.
pub type PostgresStore = Store<PostgresBackend>;

/// Key of the store's advisory lock ("ECG1"), per database.
pub(crate) const WRITE_LOCK_KEY: i64 = 0x4543_4731;

/// How long to wait for a connection before calling the server unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The server and database, for error messages.
#[derive(Debug)]
pub(crate) struct ServerName {
    pub server: String,
    pub database: String,
}

impl ServerName {
    /// Names the server in errors that mean it could not be reached or stopped answering.
    pub fn error(&self, e: sqlx::Error) -> StoreError {
        match e {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed => StoreError::Server {
                server: self.server.clone(),
                database: self.database.clone(),
                problem: e.to_string(),
            },
            sqlx::Error::Database(ref db)
                if db.code().as_deref().is_some_and(is_connection_refusal) =>
            {
                StoreError::Server {
                    server: self.server.clone(),
                    database: self.database.clone(),
                    problem: db.message().to_string(),
                }
            }
            other => StoreError::Database(other),
        }
    }
}

/// SQLSTATEs that mean the server refused the session itself (authentication, no such
/// database, too many connections, shutting down).
fn is_connection_refusal(code: &str) -> bool {
    code.starts_with("28")
        || code.starts_with("08")
        || code.starts_with("57P")
        || code == "3D000"
        || code == "53300"
}

/// An open PostgreSQL database.
#[derive(Debug)]
pub struct PostgresBackend {
    pool: PgPool,
    location: String,
    name: Arc<ServerName>,
}

/// A transaction on a pooled PostgreSQL connection.
pub struct PgTx {
    tx: Transaction<'static, Postgres>,
    name: Arc<ServerName>,
}

fn bind(
    sql: &str,
    args: &[Val<'_>],
) -> sqlx::query::Query<'static, Postgres, <Postgres as sqlx::Database>::Arguments> {
    super::sql::bound::<Postgres>(sql, args)
}

impl SqlTx for PgTx {
    type Row = PgRow;

    async fn execute(&mut self, sql: &str, args: &[Val<'_>]) -> Result<u64> {
        bind(sql, args)
            .execute(&mut *self.tx)
            .await
            .map(|r| r.rows_affected())
            .map_err(|e| self.name.error(e))
    }

    async fn fetch_all(&mut self, sql: &str, args: &[Val<'_>]) -> Result<Vec<PgRow>> {
        bind(sql, args)
            .fetch_all(&mut *self.tx)
            .await
            .map_err(|e| self.name.error(e))
    }

    async fn fetch_optional(&mut self, sql: &str, args: &[Val<'_>]) -> Result<Option<PgRow>> {
        bind(sql, args)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(|e| self.name.error(e))
    }

    async fn commit(self) -> Result<()> {
        let Self { tx, name } = self;
        tx.commit().await.map_err(|e| name.error(e))
    }
}

impl Backend for PostgresBackend {
    type Tx = PgTx;
    const FIND: &'static str = "strpos";
    const REPORT_ANSWER: &'static str = "((r.report_json)::jsonb -> 'answer')::text";

    async fn write(&self) -> Result<PgTx> {
        let tx = self.pool.begin().await.map_err(|e| self.name.error(e))?;
        let mut tx = PgTx {
            tx,
            name: Arc::clone(&self.name),
        };
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[WRITE_LOCK_KEY.into()])
            .await?;
        Ok(tx)
    }

    async fn read(&self) -> Result<PgTx> {
        let tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .map_err(|e| self.name.error(e))?;
        Ok(PgTx {
            tx,
            name: Arc::clone(&self.name),
        })
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    fn location(&self) -> &str {
        &self.location
    }
}
