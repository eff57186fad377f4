//! The SQLite implementation of [`CaseStore`] (sqlx, WAL, one connection per process).
//!
//! Every operation runs in one `BEGIN IMMEDIATE` transaction together with its audit events:
//! the write lock is taken before the chain's last hash is read, so two processes appending at
//! once serialise, and a crash leaves either the whole operation with its events or nothing.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use ecgr1_engine::formats::{EcgInput, sha256_hex};
use serde_json::{Value, json};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Connection, Row};

use super::clock::{Clock, now_utc};
use super::password::{hash_password, verify_password};
use super::{
    AnalysisIds, CaseStore, DbLocation, DecisionRecord, HistoryFilter, KeySource, NewAnalysis,
    NewDecision, NewRun, PatientIdentity, Result, Role, RunOutcome, RunRecord, Session,
    StoreConfig, StoreError, StoredInput, Verdict, roles_text,
};
use super::{
    CaseInput, CaseProgress, NoteVersion, PriorCase, TeachingCase, WorklistFilter, WorklistRow,
};
use crate::audit::{AuditEvent, AuditKey, Chain, GENESIS, HASH_LEN, Head, Verification, Verifier};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// `PRAGMA application_id` of an ecgr1 store ("ECG1").
pub const APPLICATION_ID: i64 = 0x4543_4731;

/// How long a writer waits for another process's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_mins(1);

/// Rows read per page when verifying the chain (bounds memory for any history length).
const VERIFY_PAGE: i64 = 20_000;

/// An audit event before it is numbered, timed and chained.
#[derive(Clone, Debug, Default)]
pub(crate) struct Draft {
    pub action: &'static str,
    pub entity_type: &'static str,
    pub entity_id: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub reason: Option<String>,
}

impl Draft {
    fn new(
        action: &'static str,
        entity_type: &'static str,
        entity_id: impl std::fmt::Display,
    ) -> Self {
        Self {
            action,
            entity_type,
            entity_id: Some(entity_id.to_string()),
            ..Self::default()
        }
    }
    fn after(mut self, value: Value) -> Self {
        self.after = Some(value);
        self
    }
    fn before(mut self, value: Value) -> Self {
        self.before = Some(value);
        self
    }
    fn reason(mut self, text: impl Into<String>) -> Self {
        self.reason = Some(text.into());
        self
    }
}

/// Who an event is attributed to.
#[derive(Clone, Debug)]
pub(crate) struct Actor {
    pub name: String,
    pub role: String,
}

impl From<&Session> for Actor {
    fn from(s: &Session) -> Self {
        Self {
            name: s.name.clone(),
            role: s.roles_text(),
        }
    }
}

/// The SQLite case store.
#[derive(Debug)]
pub struct SqliteStore {
    rt: tokio::runtime::Runtime,
    pool: SqlitePool,
    key: AuditKey,
    location: String,
    notices: Vec<String>,
    clock: Clock,
}

/// Opens (creating if new) a SQLite store; see [`SqliteStore::open`].
pub fn open_sqlite(config: &StoreConfig) -> Result<SqliteStore> {
    SqliteStore::open(config)
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

impl SqliteStore {
    /// Opens the database, refusing foreign, damaged or newer files before touching them, runs
    /// migrations, loads (or, for a new database only, creates) the audit key, and creates the
    /// first user when there is none.
    pub fn open(config: &StoreConfig) -> Result<Self> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()?;
        let location = config.db.describe();
        let (pool, notices, key) = rt.block_on(open_async(config, &location))?;
        Ok(Self {
            rt,
            pool,
            key,
            location,
            notices,
            clock: config.clock.clone(),
        })
    }

    /// Closes the connection cleanly (checkpointing the WAL into the main file).
    pub fn close(self) {
        let Self { rt, pool, .. } = self;
        rt.block_on(pool.close());
    }

    /// The database location as given.
    pub fn location(&self) -> &str {
        &self.location
    }

    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// Refuses (and audits the refusal of) an action the session's roles do not allow.
    async fn require(&self, session: &Session, any_of: &[Role], action: &str) -> Result<()> {
        if any_of.iter().any(|r| session.has(*r)) {
            return Ok(());
        }
        let needs = any_of
            .iter()
            .map(|r| r.name())
            .collect::<Vec<_>>()
            .join(" or ");
        let mut conn = self.pool.acquire().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let draft = Draft {
            action: "permission_denied",
            entity_type: "permission",
            entity_id: None,
            after: Some(json!({ "attempted": action, "needs": needs })),
            reason: Some(format!("{} may not {action}", session.name)),
            ..Draft::default()
        };
        append_events(&mut tx, &self.key, &self.clock, &session.into(), &[draft]).await?;
        tx.commit().await?;
        Err(StoreError::PermissionDenied {
            user: session.name.clone(),
            roles: session.roles_text(),
            action: action.to_string(),
            needs,
        })
    }

    /// Appends `count` synthetic events in transactions of `batch` (benchmark and stress
    /// tests). Returns the last sequence number written.
    pub fn append_synthetic(&self, session: &Session, count: u64, batch: u64) -> Result<i64> {
        self.block_on(async {
            let actor = Actor::from(session);
            let mut last = 0;
            let mut done = 0;
            let mut conn = self.pool.acquire().await?;
            while done < count {
                let n = batch.min(count - done).max(1);
                let drafts: Vec<Draft> = (0..n)
                    .map(|i| {
                        Draft::new("synthetic", "benchmark", done + i)
                            .after(json!({ "n": done + i }))
                    })
                    .collect();
                let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
                last = append_events(&mut tx, &self.key, &self.clock, &actor, &drafts).await?;
                tx.commit().await?;
                done += n;
            }
            Ok(last)
        })
    }

    /// Plain inserts of the same rows without the chain (benchmark baseline), into a scratch
    /// table that is dropped afterwards.
    pub fn baseline_plain_inserts(&self, count: u64, batch: u64) -> Result<()> {
        self.block_on(async {
            let mut conn = self.pool.acquire().await?;
            sqlx::query(
                "CREATE TEMP TABLE IF NOT EXISTS bench_plain (seq INTEGER PRIMARY KEY, at TEXT, actor TEXT, \
                 role TEXT, action TEXT, entity_type TEXT, entity_id TEXT, before_json TEXT, after_json TEXT, \
                 reason TEXT, hash BLOB)",
            )
            .execute(&mut *conn)
            .await?;
            let mut done = 0;
            while done < count {
                let n = batch.min(count - done).max(1);
                let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
                for i in done..done + n {
                    sqlx::query(
                        "INSERT INTO bench_plain (at, actor, role, action, entity_type, entity_id, after_json, hash) \
                         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    )
                    .bind(now_utc())
                    .bind("bench")
                    .bind("admin,cardiologist")
                    .bind("synthetic")
                    .bind("benchmark")
                    .bind(i.to_string())
                    .bind(json!({ "n": i }).to_string())
                    .bind(&GENESIS[..])
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                done += n;
            }
            sqlx::query("DROP TABLE bench_plain").execute(&mut *conn).await?;
            Ok(())
        })
    }

    /// Reads every audit event in order (the benchmark baseline for verification: the same
    /// reads without the HMACs). Returns the number of rows and of bytes encoded.
    pub fn read_all_events(&self) -> Result<(u64, u64)> {
        self.block_on(async {
            let mut conn = self.pool.acquire().await?;
            let mut after = 0i64;
            let (mut rows, mut bytes) = (0u64, 0u64);
            let mut buf = Vec::new();
            loop {
                let page = read_page(&mut conn, after).await?;
                if page.is_empty() {
                    break;
                }
                for (event, _) in &page {
                    buf.clear();
                    crate::audit::encode_event(event, &mut buf);
                    bytes += buf.len() as u64;
                    rows += 1;
                    after = event.seq;
                }
            }
            Ok((rows, bytes))
        })
    }
}

async fn open_async(
    config: &StoreConfig,
    location: &str,
) -> Result<(SqlitePool, Vec<String>, AuditKey)> {
    let mut notices = Vec::new();
    let base = SqliteConnectOptions::new()
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT)
        .synchronous(SqliteSynchronous::Normal);
    let (options, existed) = match &config.db {
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
    MIGRATOR.run(&pool).await.map_err(|e| StoreError::Corrupt {
        path: location.into(),
        problem: format!("could not apply the schema: {e}"),
    })?;

    let mut conn = pool.acquire().await?;
    let events: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM audit_events) + (SELECT count(*) FROM audit_head)",
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| corrupt_or(location, e))?;
    let key = match &config.key {
        KeySource::Given(key) => key.clone(),
        KeySource::File(path) => {
            if path.exists() {
                AuditKey::load(path)?
            } else if events == 0 {
                let key = AuditKey::create(path)?;
                notices.push(format!(
                    "created the audit key {} (keep it safe and separate from the database: without it the history cannot be verified)",
                    path.display()
                ));
                key
            } else {
                return Err(crate::audit::KeyError::Missing {
                    path: path.clone(),
                    db: location.into(),
                }
                .into());
            }
        }
    };
    let key_id = Chain::new(&key).key_id();
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    let stored: Option<String> =
        sqlx::query_scalar("SELECT value FROM store_meta WHERE key = 'audit_key_id'")
            .fetch_optional(&mut *tx)
            .await?;
    match stored {
        Some(expected) if expected != key_id => {
            return Err(StoreError::WrongKey {
                key: match &config.key {
                    KeySource::File(p) => p.display().to_string(),
                    KeySource::Given(_) => "given in memory".into(),
                },
                db: location.into(),
                found: key_id,
                expected,
            });
        }
        Some(_) => {}
        None => {
            sqlx::query("INSERT INTO store_meta (key, value) VALUES ('audit_key_id', ?)")
                .bind(&key_id)
                .execute(&mut *tx)
                .await?;
        }
    }
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&mut *tx)
        .await?;
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
    drop(conn);
    Ok((pool, notices, key))
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
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )
    .fetch_all(&mut conn)
    .await
    .map_err(|e| corrupt_or(location, e))?;
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

fn validate_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
        return Err(StoreError::Invalid {
            field: "user name".into(),
            problem: format!("'{name}' must be 1 to 128 printable characters"),
        });
    }
    Ok(())
}

async fn insert_user(
    conn: &mut SqliteConnection,
    clock: &Clock,
    name: &str,
    roles: &[Role],
    password_hash: Option<&str>,
) -> Result<i64> {
    let id = sqlx::query("INSERT INTO users (name, password_hash, created_at) VALUES (?, ?, ?)")
        .bind(name)
        .bind(password_hash)
        .bind(clock.now())
        .execute(&mut *conn)
        .await?
        .last_insert_rowid();
    for role in roles {
        sqlx::query("INSERT OR IGNORE INTO user_roles (user_id, role) VALUES (?, ?)")
            .bind(id)
            .bind(role.name())
            .execute(&mut *conn)
            .await?;
    }
    Ok(id)
}

/// Appends events to the chain inside the caller's (IMMEDIATE) transaction and moves the
/// signed head. Refuses to write when the table's end and the head disagree, so a truncated
/// tail is never papered over by new events. Returns the last sequence number.
pub(crate) async fn append_events(
    conn: &mut SqliteConnection,
    key: &AuditKey,
    clock: &Clock,
    actor: &Actor,
    drafts: &[Draft],
) -> Result<i64> {
    let mut chain = Chain::new(key);
    let last: Option<(i64, Vec<u8>)> =
        sqlx::query_as("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut *conn)
            .await?;
    let head: Option<(i64, Vec<u8>, Vec<u8>)> =
        sqlx::query_as("SELECT seq, hash, mac FROM audit_head WHERE id = 1")
            .fetch_optional(&mut *conn)
            .await?;
    let (mut seq, mut prev) = match (last, head) {
        (None, None) => (0, GENESIS),
        (Some((seq, hash)), Some((head_seq, head_hash, mac))) => {
            let hash: [u8; HASH_LEN] =
                hash.as_slice()
                    .try_into()
                    .map_err(|_| StoreError::ChainInconsistent {
                        problem: format!("event {seq} has a malformed hash"),
                    })?;
            let head_ok = head_seq == seq
                && head_hash.as_slice() == hash.as_slice()
                && chain.head_mac(head_seq, &hash).as_slice() == mac.as_slice();
            if !head_ok {
                return Err(StoreError::ChainInconsistent {
                    problem: format!(
                        "the history ends at event {seq} but the signed head names event {head_seq}"
                    ),
                });
            }
            (seq, hash)
        }
        (None, Some((head_seq, ..))) => {
            return Err(StoreError::ChainInconsistent {
                problem: format!("the history is empty but the signed head names event {head_seq}"),
            });
        }
        (Some((seq, _)), None) => {
            return Err(StoreError::ChainInconsistent {
                problem: format!("the history has {seq} events but no signed head"),
            });
        }
    };
    for draft in drafts {
        seq += 1;
        let event = AuditEvent {
            seq,
            at: clock.now(),
            actor: actor.name.clone(),
            role: actor.role.clone(),
            action: draft.action.to_string(),
            entity_type: draft.entity_type.to_string(),
            entity_id: draft.entity_id.clone(),
            before_json: draft.before.as_ref().map(Value::to_string),
            after_json: draft.after.as_ref().map(Value::to_string),
            reason: draft.reason.clone(),
        };
        let hash = chain.link(&prev, &event);
        sqlx::query(
            "INSERT INTO audit_events (seq, at, actor, role, action, entity_type, entity_id, \
             before_json, after_json, reason, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(event.seq)
        .bind(&event.at)
        .bind(&event.actor)
        .bind(&event.role)
        .bind(&event.action)
        .bind(&event.entity_type)
        .bind(&event.entity_id)
        .bind(&event.before_json)
        .bind(&event.after_json)
        .bind(&event.reason)
        .bind(&hash[..])
        .execute(&mut *conn)
        .await?;
        prev = hash;
    }
    let mac = chain.head_mac(seq, &prev);
    sqlx::query(
        "INSERT INTO audit_head (id, seq, hash, mac) VALUES (1, ?, ?, ?) \
         ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, mac = excluded.mac",
    )
    .bind(seq)
    .bind(&prev[..])
    .bind(&mac[..])
    .execute(&mut *conn)
    .await?;
    Ok(seq)
}

type IdentityRow = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

type EventRow = (
    i64,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Vec<u8>,
);

fn event_from_row(row: EventRow) -> (AuditEvent, Vec<u8>) {
    let (
        seq,
        at,
        actor,
        role,
        action,
        entity_type,
        entity_id,
        before_json,
        after_json,
        reason,
        hash,
    ) = row;
    (
        AuditEvent {
            seq,
            at,
            actor,
            role,
            action,
            entity_type,
            entity_id,
            before_json,
            after_json,
            reason,
        },
        hash,
    )
}

async fn read_page(conn: &mut SqliteConnection, after: i64) -> Result<Vec<(AuditEvent, Vec<u8>)>> {
    let rows: Vec<EventRow> = sqlx::query_as(
        "SELECT seq, at, actor, role, action, entity_type, entity_id, before_json, after_json, reason, hash \
         FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?",
    )
    .bind(after)
    .bind(VERIFY_PAGE)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(event_from_row).collect())
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    // Serialising plain data structs (strings, numbers, vectors) cannot fail.
    serde_json::to_string(value)
        .unwrap_or_else(|e| json!({ "serialisation_error": e.to_string() }).to_string())
}

fn run_status(outcome: &RunOutcome<'_>) -> &'static str {
    match outcome {
        RunOutcome::Completed(_) => "completed",
        RunOutcome::Failed(_) => "failed",
        RunOutcome::Cancelled => "cancelled",
    }
}

async fn insert_run(
    conn: &mut SqliteConnection,
    clock: &Clock,
    user_id: i64,
    case_id: i64,
    run: &NewRun<'_>,
) -> Result<(i64, Value)> {
    let now = clock.now();
    let started = run.started_at.clone().unwrap_or_else(|| now.clone());
    let finished = run.finished_at.clone().unwrap_or(now);
    let (raw_output, report_json, p_yes, band, error) = match &run.outcome {
        RunOutcome::Completed(report) => {
            if report.task != run.task {
                return Err(StoreError::Invalid {
                    field: "run.task".into(),
                    problem: format!(
                        "the report is for task {} but the run says {}",
                        report.task.name(),
                        run.task.name()
                    ),
                });
            }
            (
                report.raw_output.clone(),
                Some(to_json(report)),
                report.p_yes().filter(|p| (0.0..=1.0).contains(p)),
                report.band.map(ecgr1_engine::report::RiskBand::name),
                None,
            )
        }
        RunOutcome::Failed(message) => (
            String::new(),
            None,
            None,
            None,
            Some((*message).to_string()),
        ),
        RunOutcome::Cancelled => (
            String::new(),
            None,
            None,
            None,
            Some("cancelled".to_string()),
        ),
    };
    let status = run_status(&run.outcome);
    let engine_json = to_json(run.engine);
    let id = sqlx::query(
        "INSERT INTO runs (case_id, engine_json, task, parameters_json, seed, started_at, finished_at, \
         raw_output, report_json, p_yes, band, measurements_json, verifier_flags_json, status, error, created_by, \
         comparison_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(case_id)
    .bind(&engine_json)
    .bind(run.task.name())
    .bind(run.parameters.to_string())
    .bind(run.seed)
    .bind(&started)
    .bind(&finished)
    .bind(&raw_output)
    .bind(&report_json)
    .bind(p_yes)
    .bind(band)
    .bind(run.measurements.as_ref().map(Value::to_string))
    .bind(run.verifier_flags.as_ref().map(Value::to_string))
    .bind(status)
    .bind(&error)
    .bind(user_id)
    .bind(run.comparison.as_ref().map(Value::to_string))
    .execute(&mut *conn)
    .await?
    .last_insert_rowid();
    // The event records the run's identity and outcome; the full output stays in the run row,
    // which triggers make immutable, and is bound to the event by the raw output's SHA-256.
    let after = json!({
        "case_id": case_id,
        "engine": run.engine.name,
        "engine_version": run.engine.version,
        "weights_sha256": run.engine.weights_sha256,
        "task": run.task.name(),
        "status": status,
        "p_yes": p_yes,
        "band": band,
        "seed": run.seed,
        "raw_output_sha256": sha256_hex(raw_output.as_bytes()),
        "report_sha256": report_json.as_ref().map(|r| sha256_hex(r.as_bytes())),
        "error": error,
    });
    let mut after = after;
    if let Some(c) = &run.comparison {
        // The event names the prior ECG and the changes found; the full comparison is in the
        // run row, bound to the event by its SHA-256.
        after["comparison"] = json!({
            "prior_sha256": c["prior"]["sha256"],
            "changes": c["changes"].as_array().map(|a| a.iter().map(|x| x["kind"].clone()).collect::<Vec<_>>()),
            "comparison_sha256": sha256_hex(c.to_string().as_bytes()),
        });
    }
    Ok((id, after))
}

async fn case_exists(conn: &mut SqliteConnection, case_id: i64) -> Result<()> {
    let found: Option<i64> = sqlx::query_scalar("SELECT id FROM cases WHERE id = ?")
        .bind(case_id)
        .fetch_optional(&mut *conn)
        .await?;
    found.map(|_| ()).ok_or(StoreError::NotFound {
        entity: "case",
        id: case_id.to_string(),
    })
}

fn new_pseudonym() -> Result<String> {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).map_err(|e| StoreError::Invalid {
        field: "pseudonym".into(),
        problem: format!("random generator failed: {e}"),
    })?;
    Ok(format!("P-{}", hex::encode(bytes)))
}

fn describe_input(input: &EcgInput) -> (&'static str, Option<f64>, Value, Value) {
    match input {
        EcgInput::Signal(s) => {
            let r = &s.record;
            (
                "signal",
                Some(r.sample_rate_hz),
                json!(
                    r.leads
                        .iter()
                        .map(|l| l.lead.to_string())
                        .collect::<Vec<_>>()
                ),
                json!({
                    "file_sha256": r.provenance.sha256,
                    "byte_len": r.provenance.byte_len,
                    "samples_per_lead": r.samples_per_lead(),
                    "duration_s": r.duration_s(),
                    "acquisition_time": r.acquisition_time,
                    "device": r.device,
                    "processing_notes": r.processing_notes,
                }),
            )
        }
        EcgInput::Image(i) => (
            "image",
            None,
            json!([]),
            json!({
                "file_sha256": i.provenance.sha256,
                "byte_len": i.provenance.byte_len,
                "width_px": i.width,
                "height_px": i.height,
            }),
        ),
    }
}

fn provenance_file_name(input: &EcgInput) -> &str {
    match input {
        EcgInput::Signal(s) => &s.record.provenance.file_name,
        EcgInput::Image(i) => &i.provenance.file_name,
    }
}

impl CaseStore for SqliteStore {
    fn notices(&self) -> &[String] {
        &self.notices
    }

    fn login(&self, name: &str, password: Option<&str>) -> Result<Session> {
        self.block_on(async {
            let mut conn = self.pool.acquire().await?;
            let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
            let user: Option<(i64, Option<String>, i64)> =
                sqlx::query_as("SELECT id, password_hash, active FROM users WHERE name = ?")
                    .bind(name)
                    .fetch_optional(&mut *tx)
                    .await?;
            let failed = |reason: &str| Draft {
                action: "login_failed",
                entity_type: "user",
                entity_id: Some(name.to_string()),
                reason: Some(reason.to_string()),
                ..Draft::default()
            };
            let unknown = Actor {
                name: name.to_string(),
                role: String::new(),
            };
            let Some((id, hash, active)) = user else {
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
            let roles: Vec<String> =
                sqlx::query_scalar("SELECT role FROM user_roles WHERE user_id = ? ORDER BY role")
                    .bind(id)
                    .fetch_all(&mut *tx)
                    .await?;
            let roles: Vec<Role> = roles
                .iter()
                .filter_map(|r| Role::from_str(r).ok())
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
            let draft =
                Draft::new("login", "user", id).after(json!({ "password_verified": verified }));
            append_events(&mut tx, &self.key, &self.clock, &actor, &[draft]).await?;
            tx.commit().await?;
            Ok(Session {
                user_id: id,
                name: name.to_string(),
                roles,
                password_verified: verified,
            })
        })
    }

    fn add_user(
        &self,
        session: &Session,
        name: &str,
        roles: &[Role],
        password: Option<&str>,
    ) -> Result<i64> {
        self.block_on(async {
            self.require(session, &[Role::Admin], "add users").await?;
            validate_name(name)?;
            if roles.is_empty() {
                return Err(StoreError::Invalid {
                    field: "--role".into(),
                    problem: "a user needs at least one role".into(),
                });
            }
            let hash = match password {
                Some(p) => Some(hash_password(p).map_err(|problem| StoreError::Invalid {
                    field: "password".into(),
                    problem,
                })?),
                None => None,
            };
            let mut conn = self.pool.acquire().await?;
            let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
            let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE name = ?")
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_some() {
                return Err(StoreError::Invalid {
                    field: "user name".into(),
                    problem: format!("a user named '{name}' already exists"),
                });
            }
            let id = insert_user(&mut tx, &self.clock, name, roles, hash.as_deref()).await?;
            let role_names: Vec<&str> = roles.iter().map(|r| r.name()).collect();
            let draft = Draft::new("create", "user", id).after(
                json!({ "name": name, "roles": role_names, "password_set": hash.is_some() }),
            );
            append_events(&mut tx, &self.key, &self.clock, &session.into(), &[draft]).await?;
            tx.commit().await?;
            Ok(id)
        })
    }

    fn set_password(&self, session: &Session, name: &str, new_password: &str) -> Result<()> {
        self.block_on(async {
            if session.name != name {
                self.require(session, &[Role::Admin], "set another user's password")
                    .await?;
            }
            let hash = hash_password(new_password).map_err(|problem| StoreError::Invalid {
                field: "password".into(),
                problem,
            })?;
            let mut conn = self.pool.acquire().await?;
            let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
            let user: Option<(i64, Option<String>)> =
                sqlx::query_as("SELECT id, password_hash FROM users WHERE name = ?")
                    .bind(name)
                    .fetch_optional(&mut *tx)
                    .await?;
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
            sqlx::query("UPDATE users SET password_hash = ? WHERE id = ?")
                .bind(&hash)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            // Hashes are never written to the history; only that the password changed.
            let draft = Draft::new("change", "user", id)
                .before(json!({ "password_set": old.is_some() }))
                .after(json!({ "password_set": true }))
                .reason("password set");
            append_events(&mut tx, &self.key, &self.clock, &session.into(), &[draft]).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn record_analysis(
        &self,
        session: &Session,
        analysis: &NewAnalysis<'_>,
    ) -> Result<AnalysisIds> {
        self.block_on(async {
            self.require(session, &[Role::Cardiologist], "store an engine run")
                .await?;
            if analysis.input_bytes.len() > super::MAX_INPUT_BYTES {
                return Err(StoreError::Invalid {
                    field: "input".into(),
                    problem: format!(
                        "{} bytes is larger than the {} bytes the store accepts",
                        analysis.input_bytes.len(),
                        super::MAX_INPUT_BYTES
                    ),
                });
            }
            let actor = Actor::from(session);
            let now = self.clock.now();
            let mut conn = self.pool.acquire().await?;
            let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
            let mut drafts = Vec::new();

            // Patient: reuse one with the same identifier, else a new pseudonym.
            let patient_id = match analysis.input {
                EcgInput::Signal(s) if !s.patient.is_empty() => {
                    let p = &s.patient;
                    let existing: Option<i64> = match &p.id {
                        Some(identifier) => sqlx::query_scalar(
                            "SELECT patient_id FROM patient_identity WHERE identifier = ? LIMIT 1",
                        )
                        .bind(identifier)
                        .fetch_optional(&mut *tx)
                        .await?,
                        None => None,
                    };
                    if let Some(id) = existing {
                        Some(id)
                    } else {
                        let pseudonym = new_pseudonym()?;
                        let id = sqlx::query("INSERT INTO patients (pseudonym, created_at) VALUES (?, ?)")
                            .bind(&pseudonym)
                            .bind(&now)
                            .execute(&mut *tx)
                            .await?
                            .last_insert_rowid();
                        sqlx::query(
                            "INSERT INTO patient_identity (patient_id, name, identifier, birth_date, sex) VALUES (?, ?, ?, ?, ?)",
                        )
                        .bind(id)
                        .bind(&p.name)
                        .bind(&p.id)
                        .bind(&p.birth_date)
                        .bind(&p.sex)
                        .execute(&mut *tx)
                        .await?;
                        drafts.push(Draft::new("create", "patient", id).after(json!({ "pseudonym": pseudonym })));
                        drafts.push(Draft::new("create", "patient_identity", id).after(json!({
                            "name": p.name, "identifier": p.id, "birth_date": p.birth_date, "sex": p.sex,
                        })));
                        Some(id)
                    }
                }
                _ => None,
            };

            let (kind, sample_rate, leads, metadata) = describe_input(analysis.input);
            let sha256 = sha256_hex(analysis.input_bytes);
            let file_name = provenance_file_name(analysis.input);
            let input_id = sqlx::query(
                "INSERT INTO ecg_inputs (file_name, format, kind, sha256, original, sample_rate_hz, leads_json, \
                 metadata_json, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(file_name)
            .bind(analysis.input.format().name())
            .bind(kind)
            .bind(&sha256)
            .bind(analysis.input_bytes)
            .bind(sample_rate)
            .bind(leads.to_string())
            .bind(metadata.to_string())
            .bind(&now)
            .bind(session.user_id)
            .execute(&mut *tx)
            .await?
            .last_insert_rowid();
            drafts.push(Draft::new("create", "ecg_input", input_id).after(json!({
                "file_name": file_name,
                "format": analysis.input.format().name(),
                "kind": kind,
                "sha256": sha256,
                "bytes": analysis.input_bytes.len(),
                "sample_rate_hz": sample_rate,
                "leads": leads,
            })));

            let case_id = sqlx::query(
                "INSERT INTO cases (patient_id, ecg_input_id, status, created_at, created_by) VALUES (?, ?, 'open', ?, ?)",
            )
            .bind(patient_id)
            .bind(input_id)
            .bind(&now)
            .bind(session.user_id)
            .execute(&mut *tx)
            .await?
            .last_insert_rowid();
            drafts.push(Draft::new("create", "case", case_id).after(json!({
                "patient_id": patient_id, "ecg_input_id": input_id, "status": "open",
            })));

            if !analysis.notes.is_empty() {
                let note_id = sqlx::query(
                    "INSERT INTO notes (case_id, version, text, author, created_at) VALUES (?, 1, ?, ?, ?)",
                )
                .bind(case_id)
                .bind(analysis.notes)
                .bind(session.user_id)
                .bind(&now)
                .execute(&mut *tx)
                .await?
                .last_insert_rowid();
                drafts.push(Draft::new("create", "note", note_id).after(json!({
                    "case_id": case_id, "version": 1, "text": analysis.notes,
                })));
            }

            let (run_id, run_after) = insert_run(&mut tx, &self.clock, session.user_id, case_id, &analysis.run).await?;
            drafts.push(Draft::new("create", "run", run_id).after(run_after));
            append_events(&mut tx, &self.key, &self.clock, &actor, &drafts).await?;
            tx.commit().await?;
            Ok(AnalysisIds {
                case_id,
                ecg_input_id: input_id,
                patient_id,
                run_id,
            })
        })
    }

    fn record_run(&self, session: &Session, case_id: i64, run: &NewRun<'_>) -> Result<i64> {
        self.block_on(async {
            self.require(session, &[Role::Cardiologist], "store an engine run")
                .await?;
            let mut conn = self.pool.acquire().await?;
            let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
            case_exists(&mut tx, case_id).await?;
            let (run_id, after) =
                insert_run(&mut tx, &self.clock, session.user_id, case_id, run).await?;
            append_events(
                &mut tx,
                &self.key,
                &self.clock,
                &session.into(),
                &[Draft::new("create", "run", run_id).after(after)],
            )
            .await?;
            tx.commit().await?;
            Ok(run_id)
        })
    }

    fn add_note(&self, session: &Session, case_id: i64, text: &str) -> Result<i64> {
        self.block_on(async {
            self.require(session, &[Role::Cardiologist], "write clinical notes")
                .await?;
            let mut conn = self.pool.acquire().await?;
            let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
            case_exists(&mut tx, case_id).await?;
            let previous: Option<(i64, String)> = sqlx::query_as(
                "SELECT version, text FROM notes WHERE case_id = ? ORDER BY version DESC LIMIT 1",
            )
            .bind(case_id)
            .fetch_optional(&mut *tx)
            .await?;
            let version = previous.as_ref().map_or(1, |(v, _)| v + 1);
            let note_id = sqlx::query(
                "INSERT INTO notes (case_id, version, text, author, created_at) VALUES (?, ?, ?, ?, ?)",
            )
            .bind(case_id)
            .bind(version)
            .bind(text)
            .bind(session.user_id)
            .bind(self.clock.now())
            .execute(&mut *tx)
            .await?
            .last_insert_rowid();
            let mut draft = Draft::new(if previous.is_some() { "change" } else { "create" }, "note", note_id)
                .after(json!({ "case_id": case_id, "version": version, "text": text }));
            if let Some((v, old)) = previous {
                draft = draft.before(json!({ "case_id": case_id, "version": v, "text": old }));
            }
            append_events(&mut tx, &self.key, &self.clock, &session.into(), &[draft]).await?;
            tx.commit().await?;
            Ok(version)
        })
    }

    fn sign(&self, session: &Session, decision: &NewDecision<'_>) -> Result<DecisionRecord> {
        self.block_on(async {
            self.require(session, &[Role::Cardiologist], "sign decisions")
                .await?;
            let reason = decision.reason.trim();
            if reason.is_empty() {
                return Err(StoreError::Invalid {
                    field: "--reason".into(),
                    problem: "a signed decision needs a reason".into(),
                });
            }
            let mut conn = self.pool.acquire().await?;
            let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
            let hash: Option<String> =
                sqlx::query_scalar("SELECT password_hash FROM users WHERE id = ?")
                    .bind(session.user_id)
                    .fetch_one(&mut *tx)
                    .await?;
            let Some(hash) = hash else {
                return Err(StoreError::NoPasswordSet(session.name.clone()));
            };
            if !verify_password(decision.password, &hash) {
                let draft = Draft {
                    action: "sign_refused",
                    entity_type: "run",
                    entity_id: Some(decision.run_id.to_string()),
                    reason: Some("wrong password".into()),
                    ..Draft::default()
                };
                append_events(&mut tx, &self.key, &self.clock, &session.into(), &[draft]).await?;
                tx.commit().await?;
                return Err(StoreError::WrongPassword(session.name.clone()));
            }
            let run: Option<(i64, String, Option<String>)> =
                sqlx::query_as("SELECT case_id, status, report_json FROM runs WHERE id = ?")
                    .bind(decision.run_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some((case_id, status, report_json)) = run else {
                return Err(StoreError::NotFound {
                    entity: "run",
                    id: decision.run_id.to_string(),
                });
            };
            let (kind, final_answer) = match &decision.verdict {
                Verdict::Agree => {
                    let report: Option<ecgr1_engine::report::Report> =
                        report_json.as_deref().and_then(|j| serde_json::from_str(j).ok());
                    let Some(report) = report.filter(|_| status == "completed") else {
                        return Err(StoreError::Invalid {
                            field: "--agree".into(),
                            problem: format!(
                                "run {} has no answer to agree with (status {status}); use --override LABEL",
                                decision.run_id
                            ),
                        });
                    };
                    ("agree", report.answer.join("; "))
                }
                Verdict::Override(label) => {
                    let label = label.trim();
                    if label.is_empty() {
                        return Err(StoreError::Invalid {
                            field: "--override".into(),
                            problem: "the overriding answer is empty".into(),
                        });
                    }
                    ("override", label.to_string())
                }
            };
            let signed_at = self.clock.now();
            let id = sqlx::query(
                "INSERT INTO decisions (run_id, case_id, kind, final_answer, reason, meaning, signed_at, signer) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(decision.run_id)
            .bind(case_id)
            .bind(kind)
            .bind(&final_answer)
            .bind(reason)
            .bind(decision.meaning.name())
            .bind(&signed_at)
            .bind(session.user_id)
            .execute(&mut *tx)
            .await?
            .last_insert_rowid();
            let old_status: String = sqlx::query_scalar("SELECT status FROM cases WHERE id = ?")
                .bind(case_id)
                .fetch_one(&mut *tx)
                .await?;
            sqlx::query("UPDATE cases SET status = 'signed' WHERE id = ?")
                .bind(case_id)
                .execute(&mut *tx)
                .await?;
            let drafts = [
                Draft::new("sign", "decision", id)
                    .after(json!({
                        "run_id": decision.run_id,
                        "case_id": case_id,
                        "kind": kind,
                        "final_answer": final_answer,
                        "meaning": decision.meaning.name(),
                        "signed_at": signed_at,
                        "signer": session.name,
                    }))
                    .reason(reason),
                Draft::new("change", "case", case_id)
                    .before(json!({ "status": old_status }))
                    .after(json!({ "status": "signed" }))
                    .reason(format!("decision {id} signed")),
            ];
            append_events(&mut tx, &self.key, &self.clock, &session.into(), &drafts).await?;
            tx.commit().await?;
            Ok(DecisionRecord {
                id,
                run_id: decision.run_id,
                case_id,
                kind: kind.into(),
                final_answer,
                reason: reason.into(),
                meaning: decision.meaning.name().into(),
                signed_at,
                signer: session.name.clone(),
            })
        })
    }

    fn run_record(&self, _session: &Session, run_id: i64) -> Result<RunRecord> {
        self.block_on(async {
            let mut conn = self.pool.acquire().await?;
            let row = sqlx::query(
                "SELECT r.*, u.name AS creator FROM runs r JOIN users u ON u.id = r.created_by WHERE r.id = ?",
            )
            .bind(run_id)
            .fetch_optional(&mut *conn)
            .await?
            .ok_or(StoreError::NotFound {
                entity: "run",
                id: run_id.to_string(),
            })?;
            run_record_from_row(&row)
        })
    }

    fn decisions(&self, _session: &Session, run_id: i64) -> Result<Vec<DecisionRecord>> {
        self.block_on(async {
            let mut conn = self.pool.acquire().await?;
            let rows = sqlx::query(
                "SELECT d.*, u.name AS signer_name FROM decisions d JOIN users u ON u.id = d.signer \
                 WHERE d.run_id = ? ORDER BY d.id",
            )
            .bind(run_id)
            .fetch_all(&mut *conn)
            .await?;
            rows.iter()
                .map(|row| {
                    Ok(DecisionRecord {
                        id: row.try_get("id")?,
                        run_id: row.try_get("run_id")?,
                        case_id: row.try_get("case_id")?,
                        kind: row.try_get("kind")?,
                        final_answer: row.try_get("final_answer")?,
                        reason: row.try_get("reason")?,
                        meaning: row.try_get("meaning")?,
                        signed_at: row.try_get("signed_at")?,
                        signer: row.try_get("signer_name")?,
                    })
                })
                .collect()
        })
    }

    fn patient_identity(&self, session: &Session, patient_id: i64) -> Result<PatientIdentity> {
        self.block_on(async {
            self.require(
                session,
                &[Role::Cardiologist, Role::Auditor, Role::Admin],
                "view identifying patient data",
            )
            .await?;
            let mut conn = self.pool.acquire().await?;
            let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
            let row: Option<IdentityRow> = sqlx::query_as(
                "SELECT p.pseudonym, i.name, i.identifier, i.birth_date, i.sex FROM patients p \
                     LEFT JOIN patient_identity i ON i.patient_id = p.id WHERE p.id = ?",
            )
            .bind(patient_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((pseudonym, name, identifier, birth_date, sex)) = row else {
                return Err(StoreError::NotFound {
                    entity: "patient",
                    id: patient_id.to_string(),
                });
            };
            append_events(
                &mut tx,
                &self.key,
                &self.clock,
                &session.into(),
                &[Draft::new("view_identity", "patient_identity", patient_id)],
            )
            .await?;
            tx.commit().await?;
            Ok(PatientIdentity {
                patient_id,
                pseudonym,
                name,
                identifier,
                birth_date,
                sex,
            })
        })
    }

    fn create_case_set(&self, session: &Session, name: &str, case_ids: &[i64]) -> Result<i64> {
        self.block_on(async {
            self.require(session, &[Role::Trainer], "create case sets")
                .await?;
            let mut conn = self.pool.acquire().await?;
            let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
            for case_id in case_ids {
                case_exists(&mut tx, *case_id).await?;
            }
            let id = sqlx::query(
                "INSERT INTO case_sets (name, created_at, created_by) VALUES (?, ?, ?)",
            )
            .bind(name)
            .bind(self.clock.now())
            .bind(session.user_id)
            .execute(&mut *tx)
            .await?
            .last_insert_rowid();
            for (position, case_id) in case_ids.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO case_set_items (case_set_id, position, case_id) VALUES (?, ?, ?)",
                )
                .bind(id)
                .bind(position as i64)
                .bind(case_id)
                .execute(&mut *tx)
                .await?;
            }
            append_events(
                &mut tx,
                &self.key,
                &self.clock,
                &session.into(),
                &[Draft::new("create", "case_set", id)
                    .after(json!({ "name": name, "case_ids": case_ids }))],
            )
            .await?;
            tx.commit().await?;
            Ok(id)
        })
    }

    fn create_teaching_session(
        &self,
        session: &Session,
        case_set_id: i64,
        title: &str,
    ) -> Result<i64> {
        self.block_on(async {
            self.require(session, &[Role::Trainer], "create teaching sessions")
                .await?;
            let mut conn = self.pool.acquire().await?;
            let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
            let found: Option<i64> = sqlx::query_scalar("SELECT id FROM case_sets WHERE id = ?")
                .bind(case_set_id)
                .fetch_optional(&mut *tx)
                .await?;
            if found.is_none() {
                return Err(StoreError::NotFound {
                    entity: "case set",
                    id: case_set_id.to_string(),
                });
            }
            let id = sqlx::query(
                "INSERT INTO teaching_sessions (case_set_id, title, created_at, created_by) VALUES (?, ?, ?, ?)",
            )
            .bind(case_set_id)
            .bind(title)
            .bind(self.clock.now())
            .bind(session.user_id)
            .execute(&mut *tx)
            .await?
            .last_insert_rowid();
            append_events(
                &mut tx,
                &self.key,
                &self.clock,
                &session.into(),
                &[Draft::new("create", "teaching_session", id)
                    .after(json!({ "case_set_id": case_set_id, "title": title }))],
            )
            .await?;
            tx.commit().await?;
            Ok(id)
        })
    }

    fn record_trainee_answer(
        &self,
        session: &Session,
        teaching_session_id: i64,
        case_id: i64,
        answer: &str,
    ) -> Result<i64> {
        self.block_on(async {
            self.require(
                session,
                &[Role::Cardiologist, Role::Trainer, Role::Admin],
                "answer in a teaching session",
            )
            .await?;
            let mut conn = self.pool.acquire().await?;
            let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
            let in_set: Option<i64> = sqlx::query_scalar(
                "SELECT i.case_id FROM teaching_sessions t JOIN case_set_items i ON i.case_set_id = t.case_set_id \
                 WHERE t.id = ? AND i.case_id = ?",
            )
            .bind(teaching_session_id)
            .bind(case_id)
            .fetch_optional(&mut *tx)
            .await?;
            if in_set.is_none() {
                return Err(StoreError::NotFound {
                    entity: "case in teaching session",
                    id: format!("{case_id} in session {teaching_session_id}"),
                });
            }
            let id = sqlx::query(
                "INSERT INTO trainee_answers (session_id, case_id, trainee, answer, answered_at) VALUES (?, ?, ?, ?, ?)",
            )
            .bind(teaching_session_id)
            .bind(case_id)
            .bind(session.user_id)
            .bind(answer)
            .bind(self.clock.now())
            .execute(&mut *tx)
            .await?
            .last_insert_rowid();
            append_events(
                &mut tx,
                &self.key,
                &self.clock,
                &session.into(),
                &[Draft::new("create", "trainee_answer", id).after(json!({
                    "session_id": teaching_session_id, "case_id": case_id, "answer": answer,
                }))],
            )
            .await?;
            tx.commit().await?;
            Ok(id)
        })
    }

    fn history(&self, _session: &Session, filter: &HistoryFilter) -> Result<Vec<AuditEvent>> {
        self.block_on(async {
            let mut conn = self.pool.acquire().await?;
            let rows: Vec<EventRow> = sqlx::query_as(
                "SELECT seq, at, actor, role, action, entity_type, entity_id, before_json, after_json, reason, hash \
                 FROM audit_events WHERE (?1 IS NULL OR actor = ?1) AND (?2 IS NULL OR at >= ?2) \
                 AND (?3 IS NULL OR at <= ?3) AND (?4 IS NULL \
                   OR (entity_type = 'case' AND entity_id = CAST(?4 AS TEXT)) \
                   OR (entity_type = 'run' AND entity_id IN (SELECT CAST(id AS TEXT) FROM runs WHERE case_id = ?4)) \
                   OR (entity_type = 'report' AND entity_id IN (SELECT CAST(id AS TEXT) FROM runs WHERE case_id = ?4)) \
                   OR (entity_type = 'note' AND entity_id IN (SELECT CAST(id AS TEXT) FROM notes WHERE case_id = ?4)) \
                   OR (entity_type = 'decision' AND entity_id IN (SELECT CAST(id AS TEXT) FROM decisions WHERE case_id = ?4)) \
                   OR (entity_type = 'ecg_input' AND entity_id IN (SELECT CAST(ecg_input_id AS TEXT) FROM cases WHERE id = ?4))) \
                 ORDER BY seq",
            )
            .bind(&filter.user)
            .bind(&filter.from)
            .bind(&filter.to)
            .bind(filter.case_id)
            .fetch_all(&mut *conn)
            .await?;
            Ok(rows.into_iter().map(|r| event_from_row(r).0).collect())
        })
    }

    fn export_audit(
        &self,
        session: &Session,
        filter: &HistoryFilter,
        deidentified: bool,
    ) -> Result<Vec<AuditEvent>> {
        let mut events = self.history(session, filter)?;
        if deidentified {
            for event in &mut events {
                deidentify(event);
            }
        }
        self.block_on(async {
            let mut conn = self.pool.acquire().await?;
            let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
            let draft = Draft {
                action: "export",
                entity_type: "audit_events",
                entity_id: None,
                after: Some(json!({
                    "events": events.len(),
                    "deidentified": deidentified,
                    "case_id": filter.case_id,
                    "user": filter.user,
                    "from": filter.from,
                    "to": filter.to,
                })),
                ..Draft::default()
            };
            append_events(&mut tx, &self.key, &self.clock, &session.into(), &[draft]).await?;
            tx.commit().await?;
            Ok::<_, StoreError>(())
        })?;
        Ok(events)
    }

    fn verify_audit(&self) -> Result<Verification> {
        self.block_on(async {
            let mut conn = self.pool.acquire().await?;
            // One read transaction so the walk and the head are a consistent snapshot even
            // while another process appends.
            let mut tx = conn.begin().await?;
            let mut verifier = Verifier::new(&self.key);
            let mut after = 0i64;
            'pages: loop {
                let page = read_page(&mut tx, after).await?;
                if page.is_empty() {
                    break;
                }
                after = page.last().map_or(after, |(e, _)| e.seq);
                if !verifier.feed_page(&page) {
                    break 'pages;
                }
            }
            if verifier.mismatch_seq().is_some() {
                // Tell a reorder from an edit: does any stored event belong at the break?
                let mut after = 0i64;
                'search: loop {
                    let page = read_page(&mut tx, after).await?;
                    if page.is_empty() {
                        break;
                    }
                    for (event, hash) in &page {
                        after = event.seq;
                        if verifier.candidate_for_break(event, hash) {
                            break 'search;
                        }
                    }
                }
            }
            let head: Option<(i64, Vec<u8>, Vec<u8>)> =
                sqlx::query_as("SELECT seq, hash, mac FROM audit_head WHERE id = 1")
                    .fetch_optional(&mut *tx)
                    .await?;
            tx.commit().await?;
            let head = head.map(|(seq, hash, mac)| Head { seq, hash, mac });
            Ok(verifier.finish(head.as_ref()))
        })
    }

    fn input_bytes(&self, _session: &Session, run_id: i64) -> Result<StoredInput> {
        self.block_on(async {
            let mut conn = self.pool.acquire().await?;
            let row = sqlx::query(
                "SELECT i.id AS input_id, c.id AS case_id, c.patient_id, i.file_name, i.format, i.kind, \
                 i.sha256, i.sample_rate_hz, i.metadata_json, i.created_at, i.original, \
                 (SELECT n.text FROM notes n WHERE n.case_id = c.id ORDER BY n.version DESC LIMIT 1) AS latest_note \
                 FROM runs r JOIN cases c ON c.id = r.case_id JOIN ecg_inputs i ON i.id = c.ecg_input_id \
                 WHERE r.id = ?",
            )
            .bind(run_id)
            .fetch_optional(&mut *conn)
            .await?
            .ok_or(StoreError::NotFound {
                entity: "run",
                id: run_id.to_string(),
            })?;
            Ok(StoredInput {
                ecg_input_id: row.try_get("input_id")?,
                case_id: row.try_get("case_id")?,
                patient_id: row.try_get("patient_id")?,
                file_name: row.try_get("file_name")?,
                format: row.try_get("format")?,
                kind: row.try_get("kind")?,
                sha256: row.try_get("sha256")?,
                sample_rate_hz: row.try_get("sample_rate_hz")?,
                metadata_json: row.try_get("metadata_json")?,
                created_at: row.try_get("created_at")?,
                bytes: row.try_get("original")?,
                latest_note: row.try_get("latest_note")?,
            })
        })
    }

    fn record_report_export(&self, session: &Session, run_id: i64, details: Value) -> Result<()> {
        self.block_on(async {
            let mut conn = self.pool.acquire().await?;
            let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
            let found: Option<i64> = sqlx::query_scalar("SELECT id FROM runs WHERE id = ?")
                .bind(run_id)
                .fetch_optional(&mut *tx)
                .await?;
            if found.is_none() {
                return Err(StoreError::NotFound {
                    entity: "run",
                    id: run_id.to_string(),
                });
            }
            append_events(
                &mut tx,
                &self.key,
                &self.clock,
                &session.into(),
                &[Draft::new("export", "report", run_id).after(details)],
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    // --- Reading room queries ---

    fn worklist(&self, _session: &Session, filter: &WorklistFilter) -> Result<Vec<WorklistRow>> {
        let search = filter.search.trim().trim_start_matches('#').to_lowercase();
        let limit = match filter.limit {
            0 => super::WORKLIST_DEFAULT_LIMIT,
            n => n,
        };
        self.block_on(async {
            let mut conn = self.pool.acquire().await?;
            // One row per case with its latest completed run, latest signed decision and
            // latest notes; the filters then apply to those derived columns.
            let rows = sqlx::query(
                "SELECT * FROM (SELECT c.id AS case_id, c.created_at, i.file_name, i.format, i.kind, \
                   (SELECT COUNT(*) FROM runs r WHERE r.case_id = c.id) AS runs, \
                   (SELECT COUNT(*) FROM runs r WHERE r.case_id = c.id AND r.status = 'completed') AS completed, \
                   (SELECT r.band FROM runs r WHERE r.case_id = c.id AND r.status = 'completed' ORDER BY r.id DESC LIMIT 1) AS band, \
                   (SELECT r.p_yes FROM runs r WHERE r.case_id = c.id AND r.status = 'completed' ORDER BY r.id DESC LIMIT 1) AS p_yes, \
                   (SELECT json_extract(r.report_json, '$.answer') FROM runs r WHERE r.case_id = c.id AND r.status = 'completed' ORDER BY r.id DESC LIMIT 1) AS answer_json, \
                   (SELECT u.name FROM decisions d JOIN users u ON u.id = d.signer WHERE d.case_id = c.id ORDER BY d.id DESC LIMIT 1) AS signed_by, \
                   (SELECT d.signed_at FROM decisions d WHERE d.case_id = c.id ORDER BY d.id DESC LIMIT 1) AS signed_at, \
                   COALESCE((SELECT n.text FROM notes n WHERE n.case_id = c.id ORDER BY n.version DESC LIMIT 1), '') AS notes \
                 FROM cases c JOIN ecg_inputs i ON i.id = c.ecg_input_id) w \
                 WHERE (?1 = '' OR instr(lower(w.file_name), ?1) > 0 OR CAST(w.case_id AS TEXT) = ?1 \
                        OR instr(lower(w.notes), ?1) > 0) \
                   AND (?2 IS NULL OR w.band = ?2) \
                   AND (?3 IS NULL OR w.created_at >= ?3) AND (?4 IS NULL OR w.created_at <= ?4) \
                   AND (?5 IS NULL \
                        OR (?5 = 'signed' AND w.signed_by IS NOT NULL) \
                        OR (?5 = 'run' AND w.signed_by IS NULL AND w.completed > 0) \
                        OR (?5 = 'unread' AND w.signed_by IS NULL AND w.completed = 0)) \
                 ORDER BY w.created_at DESC, w.case_id DESC LIMIT ?6",
            )
            .bind(&search)
            .bind(filter.band.map(ecgr1_engine::RiskBand::name))
            .bind(&filter.from)
            .bind(&filter.to)
            .bind(filter.progress.map(CaseProgress::name))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&mut *conn)
            .await?;
            rows.iter()
                .map(|row| {
                    let runs: i64 = row.try_get("runs")?;
                    let completed: i64 = row.try_get("completed")?;
                    let signed_by: Option<String> = row.try_get("signed_by")?;
                    let progress = if signed_by.is_some() {
                        CaseProgress::Signed
                    } else if completed > 0 {
                        CaseProgress::Run
                    } else {
                        CaseProgress::Unread
                    };
                    let answer_json: Option<String> = row.try_get("answer_json")?;
                    Ok(WorklistRow {
                        case_id: row.try_get("case_id")?,
                        created_at: row.try_get("created_at")?,
                        file_name: row.try_get("file_name")?,
                        format: row.try_get("format")?,
                        kind: row.try_get("kind")?,
                        progress,
                        runs,
                        band: row.try_get("band")?,
                        p_yes: row.try_get("p_yes")?,
                        answer: answer_json
                            .and_then(|j| serde_json::from_str(&j).ok())
                            .unwrap_or_default(),
                        signed_by,
                        signed_at: row.try_get("signed_at")?,
                        notes: row.try_get("notes")?,
                    })
                })
                .collect()
        })
    }

    fn case_runs(&self, _session: &Session, case_id: i64) -> Result<Vec<RunRecord>> {
        self.block_on(async {
            let mut conn = self.pool.acquire().await?;
            case_exists(&mut conn, case_id).await?;
            let rows = sqlx::query(
                "SELECT r.*, u.name AS creator FROM runs r JOIN users u ON u.id = r.created_by \
                 WHERE r.case_id = ? ORDER BY r.id",
            )
            .bind(case_id)
            .fetch_all(&mut *conn)
            .await?;
            rows.iter().map(run_record_from_row).collect()
        })
    }

    fn notes(&self, _session: &Session, case_id: i64) -> Result<Vec<NoteVersion>> {
        self.block_on(async {
            let mut conn = self.pool.acquire().await?;
            case_exists(&mut conn, case_id).await?;
            let rows: Vec<(i64, String, String, String)> = sqlx::query_as(
                "SELECT n.version, n.text, u.name, n.created_at FROM notes n JOIN users u ON u.id = n.author \
                 WHERE n.case_id = ? ORDER BY n.version",
            )
            .bind(case_id)
            .fetch_all(&mut *conn)
            .await?;
            Ok(rows
                .into_iter()
                .map(|(version, text, author, created_at)| NoteVersion {
                    version,
                    text,
                    author,
                    created_at,
                })
                .collect())
        })
    }

    fn prior_case(&self, session: &Session, case_id: i64) -> Result<Option<PriorCase>> {
        self.block_on(async {
            self.require(
                session,
                &[Role::Cardiologist, Role::Auditor, Role::Admin],
                "look up a patient's prior ECG",
            )
            .await?;
            let mut conn = self.pool.acquire().await?;
            case_exists(&mut conn, case_id).await?;
            let row: Option<(i64, String, String, String)> = sqlx::query_as(
                "SELECT p.id, p.created_at, i.file_name, i.metadata_json FROM cases c \
                 JOIN cases p ON p.patient_id = c.patient_id AND p.id < c.id \
                 JOIN ecg_inputs i ON i.id = p.ecg_input_id \
                 WHERE c.id = ? AND c.patient_id IS NOT NULL AND i.kind = 'signal' \
                 ORDER BY p.id DESC LIMIT 1",
            )
            .bind(case_id)
            .fetch_optional(&mut *conn)
            .await?;
            Ok(row.map(|(case_id, created_at, file_name, metadata)| {
                let acquisition_time = serde_json::from_str::<Value>(&metadata)
                    .ok()
                    .and_then(|m| m["acquisition_time"].as_str().map(str::to_string));
                PriorCase {
                    case_id,
                    created_at,
                    file_name,
                    acquisition_time,
                }
            }))
        })
    }

    fn case_input(&self, session: &Session, case_id: i64) -> Result<CaseInput> {
        self.block_on(async {
            self.require(
                session,
                &[Role::Cardiologist, Role::Auditor, Role::Admin],
                "read a case's original input (it may identify the patient)",
            )
            .await?;
            let mut conn = self.pool.acquire().await?;
            let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
            let row: Option<(i64, String, String, String, String, Vec<u8>)> = sqlx::query_as(
                "SELECT i.id, i.file_name, i.format, i.kind, i.sha256, i.original FROM cases c \
                 JOIN ecg_inputs i ON i.id = c.ecg_input_id WHERE c.id = ?",
            )
            .bind(case_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((ecg_input_id, file_name, format, kind, sha256, bytes)) = row else {
                return Err(StoreError::NotFound {
                    entity: "case",
                    id: case_id.to_string(),
                });
            };
            append_events(
                &mut tx,
                &self.key,
                &self.clock,
                &session.into(),
                &[Draft::new("view", "ecg_input", ecg_input_id)
                    .after(json!({ "case_id": case_id }))],
            )
            .await?;
            tx.commit().await?;
            Ok(CaseInput {
                ecg_input_id,
                file_name,
                format,
                kind,
                sha256,
                bytes,
            })
        })
    }

    fn teaching_case(
        &self,
        session: &Session,
        teaching_session_id: i64,
        position: usize,
    ) -> Result<TeachingCase> {
        let (mut case, signed_run) = self.block_on(async {
            self.require(
                session,
                &[Role::Trainer, Role::Cardiologist, Role::Admin],
                "view teaching cases",
            )
            .await?;
            let mut conn = self.pool.acquire().await?;
            let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
            let items: Vec<i64> = sqlx::query_scalar(
                "SELECT i.case_id FROM teaching_sessions t JOIN case_set_items i ON i.case_set_id = t.case_set_id \
                 WHERE t.id = ? ORDER BY i.position",
            )
            .bind(teaching_session_id)
            .fetch_all(&mut *tx)
            .await?;
            let Some(&case_id) = items.get(position) else {
                return Err(StoreError::NotFound {
                    entity: "case in teaching session",
                    id: format!("position {position} of session {teaching_session_id}"),
                });
            };
            let (format, kind, bytes): (String, String, Vec<u8>) = sqlx::query_as(
                "SELECT i.format, i.kind, i.original FROM cases c JOIN ecg_inputs i ON i.id = c.ecg_input_id \
                 WHERE c.id = ?",
            )
            .bind(case_id)
            .fetch_one(&mut *tx)
            .await?;
            let run = sqlx::query(
                "SELECT r.*, u.name AS creator FROM runs r JOIN users u ON u.id = r.created_by \
                 WHERE r.case_id = ? AND r.status = 'completed' ORDER BY r.id DESC LIMIT 1",
            )
            .bind(case_id)
            .fetch_optional(&mut *tx)
            .await?
            .as_ref()
            .map(run_record_from_row)
            .transpose()?;
            let signed: Option<i64> = sqlx::query_scalar(
                "SELECT d.run_id FROM decisions d WHERE d.case_id = ? ORDER BY d.id DESC LIMIT 1",
            )
            .bind(case_id)
            .fetch_optional(&mut *tx)
            .await?;
            append_events(
                &mut tx,
                &self.key,
                &self.clock,
                &session.into(),
                &[Draft::new("view", "teaching_case", case_id).after(json!({
                    "session_id": teaching_session_id, "position": position,
                }))],
            )
            .await?;
            tx.commit().await?;
            let case = TeachingCase {
                case_id,
                position,
                count: items.len(),
                format,
                kind,
                bytes,
                run,
                signed: None,
            };
            Ok::<_, StoreError>((case, signed))
        })?;
        if let Some(run_id) = signed_run {
            case.signed = self.decisions(session, run_id)?.pop();
        }
        Ok(case)
    }
}

fn run_record_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<RunRecord> {
    Ok(RunRecord {
        id: row.try_get("id")?,
        case_id: row.try_get("case_id")?,
        engine_json: row.try_get("engine_json")?,
        task: row.try_get("task")?,
        parameters_json: row.try_get("parameters_json")?,
        seed: row.try_get("seed")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        raw_output: row.try_get("raw_output")?,
        report_json: row.try_get("report_json")?,
        p_yes: row.try_get("p_yes")?,
        band: row.try_get("band")?,
        measurements_json: row.try_get("measurements_json")?,
        verifier_flags_json: row.try_get("verifier_flags_json")?,
        comparison_json: row.try_get("comparison_json")?,
        status: row.try_get("status")?,
        error: row.try_get("error")?,
        created_by: row.try_get("creator")?,
    })
}

/// Replaces identifying values in an exported event with a marker.
fn deidentify(event: &mut AuditEvent) {
    if event.entity_type == "patient_identity" {
        let mark = |v: &Option<String>| {
            v.as_ref()
                .map(|_| r#"{"redacted":"identifying fields"}"#.to_string())
        };
        event.before_json = mark(&event.before_json);
        event.after_json = mark(&event.after_json);
    }
}
