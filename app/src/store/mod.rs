//! The case store: cases, ECG inputs, notes, engine runs, decisions, teaching sessions, users
//! and the tamper-evident audit history.
//!
//! Callers use the [`CaseStore`] trait. Its logic (roles, records, the audit chain) is written
//! once in `shared/` over the [`sql::Backend`] seam; `sqlite/` (the workstation's embedded
//! store) and `postgres/` (a department's shared store) each bring their connection, write
//! lock and migrations. [`open_store`] picks one from the [`DbLocation`]. The trait is
//! synchronous: each store drives sqlx on its own small tokio runtime, so the CLI and the GUI's
//! worker thread call it directly. Do not call it from inside an async task.
//!
//! Roles are enforced here, not in the UI: every write checks the acting [`Session`]'s roles,
//! and a refused attempt is itself written to the audit history before the error is returned.

pub mod clock;
mod import;
mod location;
pub mod password;
pub mod postgres;
mod shared;
pub mod sql;
mod sqlite;

use std::path::PathBuf;

use ecgr1_engine::formats::EcgInput;
use ecgr1_engine::report::{EngineIdentity, Report, Task};
use serde::Serialize;

use crate::audit::{AuditEvent, AuditKey, KeyError, Verification};

pub use import::{ImportReport, ImportSource};
pub use location::{DbLocation, LocationError, PostgresUrl};
pub use postgres::{InitPostgres, InitReport, PostgresStore, init_postgres};
pub use shared::Store;
pub use sqlite::{APPLICATION_ID, SqliteStore, open_sqlite};

/// A store of either backend, as callers hold it.
pub type DynStore = Box<dyn CaseStore + Send + Sync>;

/// Opens the store the configuration names: SQLite for a path or `:memory:`, PostgreSQL for a
/// `postgres://` URL.
pub fn open_store(config: &StoreConfig) -> Result<DynStore> {
    Ok(match &config.db {
        DbLocation::Memory | DbLocation::File(_) => Box::new(SqliteStore::open(config)?),
        DbLocation::Postgres(_) => Box::new(PostgresStore::open(config)?),
    })
}

/// Largest original input stored (SQLite's own BLOB limit is 1 GB; PostgreSQL's is 1 GB).
pub const MAX_INPUT_BYTES: usize = 256 * 1024 * 1024;

/// What a user may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Runs engines, writes notes, signs decisions.
    Cardiologist,
    /// Reads everything, writes nothing.
    Auditor,
    /// Creates de-identified case sets and teaching sessions.
    Trainer,
    /// Manages users.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::Cardiologist,
        Role::Auditor,
        Role::Trainer,
        Role::Admin,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Cardiologist => "cardiologist",
            Self::Auditor => "auditor",
            Self::Trainer => "trainer",
            Self::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| {
                format!("unknown role '{s}' (expected cardiologist, auditor, trainer or admin)")
            })
    }
}

/// The acting user, after [`CaseStore::login`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub user_id: i64,
    pub name: String,
    pub roles: Vec<Role>,
    /// Whether a password was given and verified at login.
    pub password_verified: bool,
}

impl Session {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Roles as stored in audit events: comma-separated, sorted.
    pub fn roles_text(&self) -> String {
        roles_text(&self.roles)
    }
}

pub(crate) fn roles_text(roles: &[Role]) -> String {
    let mut names: Vec<&str> = roles.iter().map(|r| r.name()).collect();
    names.sort_unstable();
    names.dedup();
    names.join(",")
}

/// Where the audit key comes from.
#[derive(Clone, Debug)]
pub enum KeySource {
    /// A key file; created (mode 0600) only when the database is new.
    File(PathBuf),
    /// A key held in memory (tests, benchmarks).
    Given(AuditKey),
}

/// How to open a store.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    pub db: DbLocation,
    pub key: KeySource,
    /// The user created when the database is new (as cardiologist and admin).
    pub first_user: String,
    /// That user's password, if one was supplied when creating the database.
    pub first_password: Option<String>,
    /// Where stored times come from: the system clock, except in tests.
    pub clock: clock::Clock,
}

impl StoreConfig {
    /// Default database path: `<data dir>/ecgr1/ecgr1.sqlite`.
    pub fn default_db_path() -> Option<PathBuf> {
        dirs::data_dir().map(|d| d.join("ecgr1").join("ecgr1.sqlite"))
    }

    /// Default key path: `<config dir>/ecgr1/audit.key` (outside the database and its folder).
    pub fn default_key_path() -> Option<PathBuf> {
        dirs::config_dir().map(|d| d.join("ecgr1").join("audit.key"))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path} is not an ecgr1 database: {problem}; the file was not modified")]
    NotADatabase { path: String, problem: String },
    #[error(
        "{path} is an SQLite database of another application (tables: {tables}); the file was not modified"
    )]
    Foreign { path: String, tables: String },
    #[error(
        "{path} was written by a newer ecgr1 (schema version {found}; this build knows up to {supported}); \
         upgrade ecgr1 to open it. The file was not modified"
    )]
    NewerSchema {
        path: String,
        found: i64,
        supported: i64,
    },
    #[error("{path} is damaged: {problem}")]
    Corrupt { path: String, problem: String },
    #[error("PostgreSQL server {server} (database {database}): {problem}")]
    Server {
        server: String,
        database: String,
        problem: String,
    },
    #[error(
        "{db} has no ecgr1 schema yet (or an older one) and {user} may not create it: a database administrator \
         runs `ecgr1 store init-postgres --db postgres://SUPERUSER@HOST/DB` once"
    )]
    SchemaMissing { db: String, user: String },
    #[error(transparent)]
    Location(#[from] LocationError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(
        "the audit key {key} does not belong to the database {db} (key id {found}, the database expects {expected})"
    )]
    WrongKey {
        key: String,
        db: String,
        found: String,
        expected: String,
    },
    #[error(
        "the audit history does not match its signed head ({problem}); nothing was written. Run `ecgr1 audit verify`"
    )]
    ChainInconsistent { problem: String },
    #[error(
        "permission denied: {user} ({roles}) may not {action}; this needs the {needs} role. The attempt was recorded in the audit history"
    )]
    PermissionDenied {
        user: String,
        roles: String,
        action: String,
        needs: String,
    },
    #[error("unknown user '{0}' (an admin adds users with `ecgr1 user add NAME --role ROLE`)")]
    UnknownUser(String),
    #[error("user '{0}' is deactivated")]
    Inactive(String),
    #[error("wrong password for user '{0}'; the attempt was recorded in the audit history")]
    WrongPassword(String),
    #[error(
        "{user} must confirm with a password to {action} (give it on stdin with --password-stdin or in ECGR1_PASSWORD)"
    )]
    PasswordRequired { user: String, action: String },
    #[error("{0} has no password yet; set one with `ecgr1 user passwd` before signing")]
    NoPasswordSet(String),
    #[error("{entity} {id} does not exist")]
    NotFound { entity: &'static str, id: String },
    #[error("{field}: {problem}")]
    Invalid { field: String, problem: String },
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database schema migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// What happened to an engine run.
#[derive(Clone, Copy, Debug)]
pub enum RunOutcome<'a> {
    Completed(&'a Report),
    Failed(&'a str),
    Cancelled,
}

/// One engine run with its full provenance.
#[derive(Clone, Debug)]
pub struct NewRun<'a> {
    pub engine: &'a EngineIdentity,
    pub task: Task,
    /// Engine parameters (decoding settings, device, ...), as JSON.
    pub parameters: serde_json::Value,
    pub seed: Option<i64>,
    /// UTC start and end (see [`clock::now_utc`]); `None` means "now".
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub outcome: RunOutcome<'a>,
    /// The feature-database measurements the run saw, as JSON.
    pub measurements: Option<serde_json::Value>,
    /// The trace verifier's flags, as JSON.
    pub verifier_flags: Option<serde_json::Value>,
    /// The serial comparison with the patient's prior ECG the reading was made with (JSON of
    /// `ecgr1_engine::serial::SerialComparison`), if any.
    pub comparison: Option<serde_json::Value>,
    /// When the input is an image: the signal digitised from it, which the measurements and
    /// the verifier read (the image itself stays the case's input, what a model saw).
    pub digitisation: Option<RunDigitisation>,
}

/// What a run measured when its input was an image: the digitised signal with the
/// digitiser's version and report.
#[derive(Clone, Debug, PartialEq)]
pub struct RunDigitisation {
    /// [`ecgr1_engine::digitise::DIGITISER_VERSION`] of the digitiser that read the page.
    pub digitiser_version: String,
    /// JSON of the [`ecgr1_engine::digitise::DigitisationReport`].
    pub report: serde_json::Value,
    /// The digitised record as the project's CSV ([`ecgr1_engine::formats::csv::write`]).
    pub signal_csv: String,
}

/// A new case from one analysed input: the input, its patient, the notes and the run.
#[derive(Clone, Debug)]
pub struct NewAnalysis<'a> {
    /// The original file bytes, exactly as read (for WFDB: header then data).
    pub input_bytes: &'a [u8],
    pub input: &'a EcgInput,
    /// The clinician's notes (history) given with the request; empty for none.
    pub notes: &'a str,
    pub run: NewRun<'a>,
}

/// Ids created by [`CaseStore::record_analysis`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct AnalysisIds {
    pub case_id: i64,
    pub ecg_input_id: i64,
    pub patient_id: Option<i64>,
    pub run_id: i64,
}

/// Agree with the engine, or override it with the clinician's own answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Agree,
    Override(String),
}

/// What a signature means (21 CFR 11.50).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureMeaning {
    Reviewed,
    Approved,
}

impl SignatureMeaning {
    pub fn name(self) -> &'static str {
        match self {
            Self::Reviewed => "reviewed",
            Self::Approved => "approved",
        }
    }
}

impl std::str::FromStr for SignatureMeaning {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "reviewed" => Ok(Self::Reviewed),
            "approved" => Ok(Self::Approved),
            other => Err(format!(
                "unknown signature meaning '{other}' (expected reviewed or approved)"
            )),
        }
    }
}

/// A clinician's decision on a run, signed with their password.
#[derive(Clone, Debug)]
pub struct NewDecision<'a> {
    pub run_id: i64,
    pub verdict: Verdict,
    pub reason: &'a str,
    pub meaning: SignatureMeaning,
    /// The signer's password, checked again at signing.
    pub password: &'a str,
}

/// A stored decision.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DecisionRecord {
    pub id: i64,
    pub run_id: i64,
    pub case_id: i64,
    pub kind: String,
    pub final_answer: String,
    pub reason: String,
    pub meaning: String,
    pub signed_at: String,
    pub signer: String,
}

/// A stored run (the columns a reviewer needs; the report is the JSON as stored).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunRecord {
    pub id: i64,
    pub case_id: i64,
    pub engine_json: String,
    pub task: String,
    pub parameters_json: String,
    pub seed: Option<i64>,
    pub started_at: String,
    pub finished_at: String,
    pub raw_output: String,
    pub report_json: Option<String>,
    pub p_yes: Option<f64>,
    pub band: Option<String>,
    pub measurements_json: Option<String>,
    pub verifier_flags_json: Option<String>,
    /// The serial comparison with the prior ECG, as stored (see [`NewRun::comparison`]).
    pub comparison_json: Option<String>,
    /// For an image input: the digitiser's version, its report (JSON) and the digitised signal
    /// (CSV) the run measured (see [`NewRun::digitisation`]).
    pub digitiser_version: Option<String>,
    pub digitisation_json: Option<String>,
    pub digitised_signal_csv: Option<String>,
    pub status: String,
    pub error: Option<String>,
    pub created_by: String,
}

/// Identifying fields of a patient (reading them is audited).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PatientIdentity {
    pub patient_id: i64,
    pub pseudonym: String,
    pub name: Option<String>,
    pub identifier: Option<String>,
    pub birth_date: Option<String>,
    pub sex: Option<String>,
}

/// The patient's most recent earlier case, as the reading room offers it for comparison.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PriorCase {
    pub case_id: i64,
    pub created_at: String,
    pub file_name: String,
    /// The acquisition time the prior file gave, if any.
    pub acquisition_time: Option<String>,
}

/// Which audit events to list.
#[derive(Clone, Debug, Default)]
pub struct HistoryFilter {
    /// Events about this case and everything in it (input, notes, runs, decisions).
    pub case_id: Option<i64>,
    /// Events by this actor.
    pub user: Option<String>,
    /// Inclusive bounds, as stored (see [`clock::parse_bound`]).
    pub from: Option<String>,
    pub to: Option<String>,
}

/// The original input of a run's case, exactly as stored (see [`CaseStore::input_bytes`]).
#[derive(Clone, Debug, PartialEq)]
pub struct StoredInput {
    pub ecg_input_id: i64,
    pub case_id: i64,
    pub patient_id: Option<i64>,
    pub file_name: String,
    /// [`ecgr1_engine::Format::name`] of the input as first read ("csv", "wfdb", "png", ...).
    pub format: String,
    /// "signal" or "image".
    pub kind: String,
    /// Lowercase hex SHA-256 of `bytes` as computed when the input was stored.
    pub sha256: String,
    pub sample_rate_hz: Option<f64>,
    pub metadata_json: String,
    pub created_at: String,
    /// For WFDB: the header followed by its data file.
    pub bytes: Vec<u8>,
    /// The latest version of the case's clinical notes, if any.
    pub latest_note: Option<String>,
}

/// How far a case has got, as the worklist shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseProgress {
    /// No completed engine run yet (a failed or cancelled run leaves it unread).
    Unread,
    /// At least one completed run, no signed decision.
    Run,
    /// A decision on one of its runs has been signed.
    Signed,
}

impl CaseProgress {
    pub const ALL: [Self; 3] = [Self::Unread, Self::Run, Self::Signed];

    pub fn name(self) -> &'static str {
        match self {
            Self::Unread => "unread",
            Self::Run => "run",
            Self::Signed => "signed",
        }
    }
}

/// Which cases the worklist shows. Empty fields do not filter.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WorklistFilter {
    /// Matched (case-insensitively) against the file name, the case id ("12" or "#12") and
    /// the latest notes text.
    pub search: String,
    pub progress: Option<CaseProgress>,
    /// The band of the latest completed run.
    pub band: Option<ecgr1_engine::RiskBand>,
    /// Inclusive bounds on the case's creation time, as stored (see [`clock::parse_bound`]).
    pub from: Option<String>,
    pub to: Option<String>,
    /// Most rows returned (0 means [`WORKLIST_DEFAULT_LIMIT`]).
    pub limit: usize,
}

/// Rows returned when the filter gives no limit.
pub const WORKLIST_DEFAULT_LIMIT: usize = 500;

/// One case in the worklist.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WorklistRow {
    pub case_id: i64,
    pub created_at: String,
    pub file_name: String,
    pub format: String,
    /// "signal" or "image".
    pub kind: String,
    pub progress: CaseProgress,
    pub runs: i64,
    /// Latest completed run: its band, P(yes) and answer labels.
    pub band: Option<String>,
    pub p_yes: Option<f64>,
    pub answer: Vec<String>,
    /// Latest signed decision: who, when, and what it means.
    pub signed_by: Option<String>,
    pub signed_at: Option<String>,
    /// The latest notes version's text (empty when there are no notes).
    pub notes: String,
}

/// One version of a case's notes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NoteVersion {
    pub version: i64,
    pub text: String,
    pub author: String,
    pub created_at: String,
}

/// A case's stored original input, exactly as it was read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseInput {
    pub ecg_input_id: i64,
    pub file_name: String,
    pub format: String,
    /// "signal" or "image".
    pub kind: String,
    pub sha256: String,
    pub bytes: Vec<u8>,
}

/// One case of a teaching session, for showing to trainees (see [`CaseStore::teaching_case`]).
#[derive(Clone, Debug, PartialEq)]
pub struct TeachingCase {
    pub case_id: i64,
    /// Zero-based position in the session's case set, and the set's size.
    pub position: usize,
    pub count: usize,
    pub format: String,
    /// "signal" or "image".
    pub kind: String,
    /// The original bytes. The caller must show them de-identified (the signal only, with no
    /// patient fields, file name or acquisition time).
    pub bytes: Vec<u8>,
    /// The latest completed run (its trace, answer and band are revealed after answers).
    pub run: Option<RunRecord>,
    /// The latest signed decision on any of the case's runs.
    pub signed: Option<DecisionRecord>,
}

/// The storage interface every backend implements.
pub trait CaseStore {
    /// Messages about what opening did (a new database, its first user, a new key file).
    fn notices(&self) -> &[String];

    /// The database as shown to people: a path, or a URL without its password.
    fn location(&self) -> String;

    /// Chooses the acting user. A wrong password fails (and is audited); no password gives a
    /// session that can read and write but not sign. Every login is audited.
    fn login(&self, name: &str, password: Option<&str>) -> Result<Session>;

    /// Admin: adds a user with one or more roles and an optional password.
    fn add_user(
        &self,
        session: &Session,
        name: &str,
        roles: &[Role],
        password: Option<&str>,
    ) -> Result<i64>;

    /// Sets a password: an admin for anyone, any user for themself.
    fn set_password(&self, session: &Session, name: &str, new_password: &str) -> Result<()>;

    /// Cardiologist: stores case, input, patient, notes and run with their audit events, all
    /// in one transaction.
    fn record_analysis(&self, session: &Session, analysis: &NewAnalysis<'_>)
    -> Result<AnalysisIds>;

    /// Cardiologist: another run on an existing case.
    fn record_run(&self, session: &Session, case_id: i64, run: &NewRun<'_>) -> Result<i64>;

    /// Cardiologist: a new version of the case notes; returns the version number.
    fn add_note(&self, session: &Session, case_id: i64, text: &str) -> Result<i64>;

    /// Cardiologist with password: signs a decision on a run.
    fn sign(&self, session: &Session, decision: &NewDecision<'_>) -> Result<DecisionRecord>;

    /// Any role: one run.
    fn run_record(&self, session: &Session, run_id: i64) -> Result<RunRecord>;

    /// Any role: the decisions on a run, oldest first.
    fn decisions(&self, session: &Session, run_id: i64) -> Result<Vec<DecisionRecord>>;

    /// Any role except trainer: a patient's identifying fields (audited as a view).
    fn patient_identity(&self, session: &Session, patient_id: i64) -> Result<PatientIdentity>;

    /// Trainer: a named, de-identified set of cases.
    fn create_case_set(&self, session: &Session, name: &str, case_ids: &[i64]) -> Result<i64>;

    /// Trainer: a teaching session over a case set.
    fn create_teaching_session(
        &self,
        session: &Session,
        case_set_id: i64,
        title: &str,
    ) -> Result<i64>;

    /// Anyone but an auditor: a trainee's committed answer.
    fn record_trainee_answer(
        &self,
        session: &Session,
        teaching_session_id: i64,
        case_id: i64,
        answer: &str,
    ) -> Result<i64>;

    /// Any role: audit events matching the filter, in sequence order.
    fn history(&self, session: &Session, filter: &HistoryFilter) -> Result<Vec<AuditEvent>>;

    /// Any role: events for export. The export is itself audited; `deidentified` replaces
    /// the values of identifying fields with a marker.
    fn export_audit(
        &self,
        session: &Session,
        filter: &HistoryFilter,
        deidentified: bool,
    ) -> Result<Vec<AuditEvent>>;

    /// Re-computes the whole chain and compares its end with the signed head.
    fn verify_audit(&self) -> Result<Verification>;

    /// Any role: the original input of the case a run belongs to, with its stored SHA-256
    /// (the caller re-hashes the bytes to check them).
    fn input_bytes(&self, session: &Session, run_id: i64) -> Result<StoredInput>;

    /// Any role: records that a clinical report of a run was produced (an `export` event on
    /// entity `report`, id = the run); `details` says what it holds (hash, pages, identity).
    fn record_report_export(
        &self,
        session: &Session,
        run_id: i64,
        details: serde_json::Value,
    ) -> Result<()>;

    // --- Reading room queries ---

    /// Any role: cases newest first, filtered.
    fn worklist(&self, session: &Session, filter: &WorklistFilter) -> Result<Vec<WorklistRow>>;

    /// Any role: a case's runs, oldest first.
    fn case_runs(&self, session: &Session, case_id: i64) -> Result<Vec<RunRecord>>;

    /// Any role: every version of a case's notes, oldest first.
    fn notes(&self, session: &Session, case_id: i64) -> Result<Vec<NoteVersion>>;

    /// Cardiologist, auditor or admin (never a trainer, whose de-identified sets must not
    /// reveal that two cases are one patient's): the most recent earlier signal case of the
    /// same patient, linked by the identifier in the identity table.
    fn prior_case(&self, session: &Session, case_id: i64) -> Result<Option<PriorCase>>;

    /// Any role except trainer (the bytes may identify the patient): a case's original input.
    /// Audited as a view.
    fn case_input(&self, session: &Session, case_id: i64) -> Result<CaseInput>;

    // --- Teaching rounds ---

    /// Trainer, cardiologist or admin (not an auditor): the case at `position` of a teaching
    /// session's set, with its latest run and signed decision. Audited as a view; the bytes
    /// are for de-identified display only.
    fn teaching_case(
        &self,
        session: &Session,
        teaching_session_id: i64,
        position: usize,
    ) -> Result<TeachingCase>;
}
