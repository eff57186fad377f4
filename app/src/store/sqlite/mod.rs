//! The SQLite backend (sqlx, WAL, one connection per process): the workstation's embedded
//! store.
//!
//! Every write transaction is `BEGIN IMMEDIATE`: the write lock is taken before the chain's
//! last hash is read, so two processes appending at once serialise.

mod open;

use std::time::Duration;

use sqlx::Transaction;
use sqlx::sqlite::{Sqlite, SqlitePool, SqliteRow};

use super::shared::Store;
use super::sql::{Backend, SqlTx, Val};
use super::{Result, StoreConfig};

pub use open::APPLICATION_ID;

/// The SQLite case store.
pub type SqliteStore = Store<SqliteBackend>;

/// How long a writer waits for another process's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_mins(1);

/// Opens (creating if new) a SQLite store; see [`SqliteStore::open`].
pub fn open_sqlite(config: &StoreConfig) -> Result<SqliteStore> {
    SqliteStore::open(config)
}

/// An open SQLite database.
#[derive(Debug)]
pub struct SqliteBackend {
    pool: SqlitePool,
    location: String,
}

/// A transaction on the SQLite connection.
pub struct SqliteTx(Transaction<'static, Sqlite>);

fn bind(
    sql: &str,
    args: &[Val<'_>],
) -> sqlx::query::Query<'static, Sqlite, <Sqlite as sqlx::Database>::Arguments> {
    super::sql::bound::<Sqlite>(sql, args)
}

impl SqlTx for SqliteTx {
    type Row = SqliteRow;

    async fn execute(&mut self, sql: &str, args: &[Val<'_>]) -> Result<u64> {
        Ok(bind(sql, args).execute(&mut *self.0).await?.rows_affected())
    }

    async fn fetch_all(&mut self, sql: &str, args: &[Val<'_>]) -> Result<Vec<SqliteRow>> {
        Ok(bind(sql, args).fetch_all(&mut *self.0).await?)
    }

    async fn fetch_optional(&mut self, sql: &str, args: &[Val<'_>]) -> Result<Option<SqliteRow>> {
        Ok(bind(sql, args).fetch_optional(&mut *self.0).await?)
    }

    async fn commit(self) -> Result<()> {
        Ok(self.0.commit().await?)
    }
}

impl Backend for SqliteBackend {
    type Tx = SqliteTx;
    const FIND: &'static str = "instr";
    const REPORT_ANSWER: &'static str = "json_extract(r.report_json, '$.answer')";

    async fn write(&self) -> Result<SqliteTx> {
        Ok(SqliteTx(self.pool.begin_with("BEGIN IMMEDIATE").await?))
    }

    async fn read(&self) -> Result<SqliteTx> {
        // A deferred transaction reads one snapshot of the WAL.
        Ok(SqliteTx(self.pool.begin().await?))
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    fn location(&self) -> &str {
        &self.location
    }
}
