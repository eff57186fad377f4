//! The seam between the shared store logic and a database: a transaction that runs SQL with
//! bound values ([`SqlTx`]), the rows it returns ([`RowRead`]) and the backend that opens write
//! and read transactions ([`Backend`]).
//!
//! The shared logic writes each statement once, with `$1`-style placeholders that both SQLite
//! and PostgreSQL accept, and binds every value; SQL text is never built from data. The few
//! expressions the two dialects spell differently are constants of the backend.

use sqlx::{AssertSqlSafe, ColumnIndex, Database, Decode, Encode, Row, Type};

use super::{Result, StoreError};

/// A value bound to a placeholder.
#[derive(Clone, Copy, Debug)]
pub enum Val<'a> {
    Int(Option<i64>),
    Real(Option<f64>),
    Text(Option<&'a str>),
    Blob(&'a [u8]),
}

impl From<i64> for Val<'_> {
    fn from(v: i64) -> Self {
        Self::Int(Some(v))
    }
}
impl From<Option<i64>> for Val<'_> {
    fn from(v: Option<i64>) -> Self {
        Self::Int(v)
    }
}
impl From<Option<f64>> for Val<'_> {
    fn from(v: Option<f64>) -> Self {
        Self::Real(v)
    }
}
impl<'a> From<&'a str> for Val<'a> {
    fn from(v: &'a str) -> Self {
        Self::Text(Some(v))
    }
}
impl<'a> From<&'a String> for Val<'a> {
    fn from(v: &'a String) -> Self {
        Self::Text(Some(v))
    }
}
impl<'a> From<Option<&'a str>> for Val<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Self::Text(v)
    }
}
impl<'a> From<&'a Option<String>> for Val<'a> {
    fn from(v: &'a Option<String>) -> Self {
        Self::Text(v.as_deref())
    }
}
impl<'a> From<&'a [u8]> for Val<'a> {
    fn from(v: &'a [u8]) -> Self {
        Self::Blob(v)
    }
}

/// A query of `sql` with `args` bound in order, for either backend's driver. Only the
/// store's own constant SQL reaches here; every value is bound, never spliced into the text.
pub(crate) fn bound<DB>(
    sql: &str,
    args: &[Val<'_>],
) -> sqlx::query::Query<'static, DB, DB::Arguments>
where
    DB: Database,
    Option<i64>: for<'t> Encode<'t, DB> + Type<DB>,
    Option<f64>: for<'t> Encode<'t, DB> + Type<DB>,
    for<'a> Option<&'a str>: Encode<'a, DB> + Type<DB>,
    for<'a> &'a [u8]: Encode<'a, DB> + Type<DB>,
{
    let mut query = sqlx::query(AssertSqlSafe(sql.to_string()));
    for arg in args {
        query = match *arg {
            Val::Int(v) => query.bind(v),
            Val::Real(v) => query.bind(v),
            Val::Text(v) => query.bind(v),
            Val::Blob(v) => query.bind(v),
        };
    }
    query
}

/// A column by name or by position.
#[derive(Clone, Copy, Debug)]
pub enum Col<'a> {
    Name(&'a str),
    At(usize),
}

impl<'a> From<&'a str> for Col<'a> {
    fn from(v: &'a str) -> Self {
        Self::Name(v)
    }
}
impl From<usize> for Col<'_> {
    fn from(v: usize) -> Self {
        Self::At(v)
    }
}

/// Typed reads from a result row.
pub trait RowRead {
    fn i64<'a>(&self, col: impl Into<Col<'a>>) -> Result<i64>;
    fn opt_i64<'a>(&self, col: impl Into<Col<'a>>) -> Result<Option<i64>>;
    fn opt_f64<'a>(&self, col: impl Into<Col<'a>>) -> Result<Option<f64>>;
    fn text<'a>(&self, col: impl Into<Col<'a>>) -> Result<String>;
    fn opt_text<'a>(&self, col: impl Into<Col<'a>>) -> Result<Option<String>>;
    fn blob<'a>(&self, col: impl Into<Col<'a>>) -> Result<Vec<u8>>;
}

fn get<'a, R, T>(row: &R, col: Col<'a>) -> Result<T>
where
    R: Row,
    usize: ColumnIndex<R>,
    &'a str: ColumnIndex<R>,
    T: for<'r> Decode<'r, R::Database> + Type<R::Database>,
{
    Ok(match col {
        Col::Name(name) => row.try_get(name)?,
        Col::At(i) => row.try_get(i)?,
    })
}

impl<R> RowRead for R
where
    R: Row,
    usize: ColumnIndex<R>,
    for<'a> &'a str: ColumnIndex<R>,
    i64: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    f64: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    String: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    Vec<u8>: for<'r> Decode<'r, R::Database> + Type<R::Database>,
{
    fn i64<'a>(&self, col: impl Into<Col<'a>>) -> Result<i64> {
        get(self, col.into())
    }
    fn opt_i64<'a>(&self, col: impl Into<Col<'a>>) -> Result<Option<i64>> {
        get(self, col.into())
    }
    fn opt_f64<'a>(&self, col: impl Into<Col<'a>>) -> Result<Option<f64>> {
        get(self, col.into())
    }
    fn text<'a>(&self, col: impl Into<Col<'a>>) -> Result<String> {
        get(self, col.into())
    }
    fn opt_text<'a>(&self, col: impl Into<Col<'a>>) -> Result<Option<String>> {
        get(self, col.into())
    }
    fn blob<'a>(&self, col: impl Into<Col<'a>>) -> Result<Vec<u8>> {
        get(self, col.into())
    }
}

/// One open transaction. Dropping it without [`SqlTx::commit`] rolls it back.
// The store drives these futures on its own current-thread runtime only, so they need no
// `Send` bound (which is what the lint is about).
#[allow(async_fn_in_trait)]
pub trait SqlTx {
    type Row: RowRead;

    /// Runs a statement; returns the number of rows it changed.
    async fn execute(&mut self, sql: &str, args: &[Val<'_>]) -> Result<u64>;
    async fn fetch_all(&mut self, sql: &str, args: &[Val<'_>]) -> Result<Vec<Self::Row>>;
    async fn fetch_optional(&mut self, sql: &str, args: &[Val<'_>]) -> Result<Option<Self::Row>>;
    async fn commit(self) -> Result<()>;

    async fn fetch_one(&mut self, sql: &str, args: &[Val<'_>]) -> Result<Self::Row> {
        self.fetch_optional(sql, args)
            .await?
            .ok_or(StoreError::Database(sqlx::Error::RowNotFound))
    }

    /// Runs an `INSERT … RETURNING id` and returns the id.
    async fn insert(&mut self, sql: &str, args: &[Val<'_>]) -> Result<i64> {
        self.fetch_one(sql, args).await?.i64(0)
    }
}

/// A database the shared store logic runs on.
#[allow(async_fn_in_trait)]
pub trait Backend: std::fmt::Debug + Send + Sync + 'static {
    type Tx: SqlTx;

    /// The function giving the 1-based position of a substring, 0 when absent:
    /// `FIND(haystack, needle)`.
    const FIND: &'static str;
    /// An expression giving the JSON text of the answer labels of the report in
    /// `r.report_json`.
    const REPORT_ANSWER: &'static str;

    /// A transaction that holds the database's write lock from its first statement, so the
    /// chain's head read in it stays the head until it commits.
    async fn write(&self) -> Result<Self::Tx>;
    /// A read-only transaction over one consistent snapshot.
    async fn read(&self) -> Result<Self::Tx>;
    /// Closes the connections cleanly.
    async fn close(&self);
    /// The database as shown to people (a path, or a URL without its password).
    fn location(&self) -> &str;
}
