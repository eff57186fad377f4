//! Opening an SQLite store: refusing foreign, damaged or newer files before touching them,
//! creating and migrating a new one safely while other processes open it too, then the shared
//! bootstrap (key and first user).

use std::path::Path;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Connection, Row};

use super::super::{DbLocation, Result, StoreConfig, StoreError};
use super::{BUSY_TIMEOUT, SqliteBackend, SqliteStore};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// `PRAGMA application_id` of an ecgr1 store ("ECG1").
pub const APPLICATION_ID: i64 = 0x4543_4731;

impl SqliteStore {
    /// Opens the database, refusing foreign, damaged or newer files before touching them, runs
    /// migrations, loads (or, for a new database only, creates) the audit key, and creates the
    /// first user when there is none.
    pub fn open(config: &StoreConfig) -> Result<Self> {
        let location = config.db.describe();
        Self::open_with(config, || connect(&config.db, &location))
    }
}

impl SqliteBackend {
    /// Connects to an existing store file (for copying it elsewhere).
    pub(crate) async fn connect_existing(path: &Path, location: &str) -> Result<Self> {
        if !path.is_file() {
            return Err(StoreError::NotADatabase {
                path: location.into(),
                problem: "there is no such file".into(),
            });
        }
        Ok(connect(&DbLocation::File(path.to_path_buf()), location)
            .await?
            .0)
    }
}

/// Connects and brings the schema up to date; returns whether the file existed before.
async fn connect(db: &DbLocation, location: &str) -> Result<(SqliteBackend, bool)> {
    let base = SqliteConnectOptions::new()
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT)
        .synchronous(SqliteSynchronous::Normal);
    let (options, existed) = match db {
        DbLocation::Memory => (base.in_memory(true), false),
        DbLocation::File(path) => {
            let existed = path.exists();
            if existed {
                if path.is_dir() {
                    return Err(StoreError::NotADatabase {
                        path: location.into(),
                        problem: "it is a directory".into(),
                    });
                }
                if let Some(problem) = sqlite_header_problem(path)? {
                    return Err(StoreError::NotADatabase {
                        path: location.into(),
                        problem,
                    });
                }
                preflight(path, location).await?;
            } else if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)?;
            }
            (
                base.filename(path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal),
                existed,
            )
        }
        DbLocation::Postgres(url) => {
            return Err(StoreError::Invalid {
                field: "--db".into(),
                problem: format!("{} is a PostgreSQL database, not SQLite", url.redacted()),
            });
        }
    };
    // One connection: SQLite allows one writer anyway, and `:memory:` is per connection.
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_with(options)
        .await
        .map_err(|e| corrupt_or(location, e))?;
    migrate(&pool, location).await?;
    Ok((
        SqliteBackend {
            pool,
            location: location.to_string(),
        },
        existed,
    ))
}

/// Applies pending migrations inside one `BEGIN IMMEDIATE` transaction. The migrator creates
/// its bookkeeping table before it applies anything; done outside a transaction, another
/// process opening the same new file at that moment would see a half-made schema (taking the
/// file for another application's) or apply the schema a second time. Under the write lock,
/// every other opener waits and then finds the schema complete.
async fn migrate(pool: &SqlitePool, location: &str) -> Result<()> {
    let schema_problem = |e: &dyn std::fmt::Display| StoreError::Corrupt {
        path: location.into(),
        problem: format!("could not apply the schema: {e}"),
    };
    let mut tx = pool
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(|e| corrupt_or(location, e))?;
    MIGRATOR
        .run(&mut *tx)
        .await
        .map_err(|e| schema_problem(&e))?;
    tx.commit().await.map_err(|e| schema_problem(&e))?;
    Ok(())
}

fn sqlite_header_problem(path: &Path) -> Result<Option<String>> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut header = [0u8; 16];
    let mut read = 0;
    while read < header.len() {
        let n = file.read(&mut header[read..])?;
        if n == 0 {
            break;
        }
        read += n;
    }
    if read == 0 {
        return Ok(None);
    }
    if read < 16 || &header != b"SQLite format 3\0" {
        return Ok(Some(
            "it does not start with the SQLite file header (not an SQLite file, or its first page is damaged)"
                .into(),
        ));
    }
    Ok(None)
}

/// Inspects an existing file read-only before anything can write to it.
async fn preflight(path: &Path, location: &str) -> Result<()> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .busy_timeout(BUSY_TIMEOUT);
    let mut conn = SqliteConnection::connect_with(&options)
        .await
        .map_err(|e| corrupt_or(location, e))?;
    let app_id: i64 = sqlx::query_scalar("PRAGMA application_id")
        .fetch_one(&mut conn)
        .await
        .map_err(|e| corrupt_or(location, e))?;
    let tables: Vec<String> = sqlx::query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )
    .fetch_all(&mut conn)
    .await
    .map_err(|e| corrupt_or(location, e))?
    .iter()
    .map(|r| r.try_get(0))
    .collect::<Result<_, _>>()?;
    if tables.is_empty() {
        return Ok(());
    }
    let has_migrations = tables.iter().any(|t| t == "_sqlx_migrations");
    if app_id != APPLICATION_ID {
        // A database from before application_id was set would still carry our migrations
        // table and audit table; anything else belongs to someone else.
        if !(has_migrations && tables.iter().any(|t| t == "audit_events")) {
            let mut listed: Vec<&str> = tables.iter().map(String::as_str).take(8).collect();
            if tables.len() > 8 {
                listed.push("…");
            }
            return Err(StoreError::Foreign {
                path: location.into(),
                tables: listed.join(", "),
            });
        }
    }
    let supported = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    if has_migrations {
        let found: Option<i64> = sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations")
            .fetch_one(&mut conn)
            .await
            .map_err(|e| corrupt_or(location, e))?;
        if let Some(found) = found.filter(|v| *v > supported) {
            return Err(StoreError::NewerSchema {
                path: location.into(),
                found,
                supported,
            });
        }
    }
    let integrity: String = sqlx::query_scalar("PRAGMA quick_check(1)")
        .fetch_one(&mut conn)
        .await
        .map_err(|e| corrupt_or(location, e))?;
    if integrity != "ok" {
        return Err(StoreError::Corrupt {
            path: location.into(),
            problem: format!("SQLite integrity check: {integrity}"),
        });
    }
    conn.close().await.map_err(|e| corrupt_or(location, e))?;
    Ok(())
}

/// Maps SQLite's "not a database" / "malformed" errors to a clear message naming the file.
fn corrupt_or(location: &str, e: sqlx::Error) -> StoreError {
    let text = e.to_string();
    if text.contains("not a database") || text.contains("malformed") || text.contains("corrupt") {
        StoreError::Corrupt {
            path: location.into(),
            problem: text,
        }
    } else {
        StoreError::Database(e)
    }
}
