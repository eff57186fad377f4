//! The case store's logic, written once over any [`Backend`]: roles, the records, the audit
//! chain. Every write runs in one backend write transaction together with its audit events,
//! so a crash leaves either the whole operation with its events or nothing.

mod accounts;
pub(crate) mod bootstrap;
mod cases;
pub(crate) mod chain;
mod reading;
mod teaching;

use serde_json::{Value, json};

use super::clock::{Clock, now_utc};
use super::sql::{Backend, SqlTx};
use super::{
    AnalysisIds, CaseInput, CaseStore, DecisionRecord, HistoryFilter, NewAnalysis, NewDecision,
    NewRun, NoteVersion, PatientIdentity, PriorCase, Result, Role, RunRecord, Session, StoreError,
    StoredInput, TeachingCase, WorklistFilter, WorklistRow,
};
use crate::audit::{AuditEvent, AuditKey, GENESIS, Verification};
use chain::{Actor, Draft, append_events, read_page};

/// A case store on one backend. The [`CaseStore`] methods are synchronous: the store drives
/// sqlx on its own small tokio runtime, so the CLI and the GUI's worker threads call it
/// directly. Do not call it from inside an async task.
#[derive(Debug)]
pub struct Store<B: Backend> {
    rt: tokio::runtime::Runtime,
    backend: B,
    key: AuditKey,
    notices: Vec<String>,
    clock: Clock,
}

impl<B: Backend> Store<B> {
    /// A store over an opened, migrated and bootstrapped backend.
    pub(crate) fn from_parts(
        rt: tokio::runtime::Runtime,
        backend: B,
        key: AuditKey,
        notices: Vec<String>,
        clock: Clock,
    ) -> Self {
        Self {
            rt,
            backend,
            key,
            notices,
            clock,
        }
    }

    /// Opens a store: `connect` reaches the database and brings its schema up to date
    /// (returning whether it existed before), then the shared bootstrap finds the key and the
    /// first user.
    pub(crate) fn open_with<F, Fut>(config: &super::StoreConfig, connect: F) -> Result<Self>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<(B, bool)>>,
    {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (backend, key, notices) = rt.block_on(async {
            let (backend, existed) = connect().await?;
            let mut notices = Vec::new();
            let key = bootstrap::bootstrap(&backend, config, existed, &mut notices).await?;
            Ok::<_, StoreError>((backend, key, notices))
        })?;
        Ok(Self::from_parts(
            rt,
            backend,
            key,
            notices,
            config.clock.clone(),
        ))
    }

    /// Closes the connections cleanly (for SQLite: checkpointing the WAL into the main file).
    pub fn close(self) {
        let Self { rt, backend, .. } = self;
        rt.block_on(backend.close());
    }

    /// The database as shown to people (a path, or a URL without its password).
    pub fn location(&self) -> &str {
        self.backend.location()
    }

    pub(crate) fn backend(&self) -> &B {
        &self.backend
    }

    pub(crate) fn key(&self) -> &AuditKey {
        &self.key
    }

    pub(crate) fn clock_now(&self) -> String {
        self.clock.now()
    }

    pub(crate) async fn verify_audit_now(&self) -> Result<Verification> {
        self.verify_audit_async().await
    }

    pub(crate) fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
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
        let mut tx = self.backend.write().await?;
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
            while done < count {
                let n = batch.min(count - done).max(1);
                let drafts: Vec<Draft> = (0..n)
                    .map(|i| {
                        Draft::new("synthetic", "benchmark", done + i)
                            .after(json!({ "n": done + i }))
                    })
                    .collect();
                let mut tx = self.backend.write().await?;
                last = append_events(&mut tx, &self.key, &self.clock, &actor, &drafts).await?;
                tx.commit().await?;
                done += n;
            }
            Ok(last)
        })
    }

    /// Plain inserts of the same rows without the chain (benchmark baseline), into a
    /// temporary table that is dropped afterwards.
    pub fn baseline_plain_inserts(&self, count: u64, batch: u64) -> Result<()> {
        self.block_on(async {
            let mut done = 0;
            while done < count {
                let n = batch.min(count - done).max(1);
                let mut tx = self.backend.write().await?;
                // Temporary tables belong to one connection; creating it in every transaction
                // keeps the baseline right whichever pooled connection runs it.
                tx.execute(
                    "CREATE TEMP TABLE IF NOT EXISTS bench_plain (seq BIGINT PRIMARY KEY, at TEXT, actor TEXT, \
                     role TEXT, action TEXT, entity_type TEXT, entity_id TEXT, before_json TEXT, after_json TEXT, \
                     reason TEXT, hash BYTEA)",
                    &[],
                )
                .await?;
                for i in done..done + n {
                    let (at, id, after) = (now_utc(), i.to_string(), json!({ "n": i }).to_string());
                    tx.execute(
                        "INSERT INTO bench_plain (seq, at, actor, role, action, entity_type, entity_id, after_json, hash) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                        &[
                            (i as i64).into(),
                            (&at).into(),
                            "bench".into(),
                            "admin,cardiologist".into(),
                            "synthetic".into(),
                            "benchmark".into(),
                            (&id).into(),
                            (&after).into(),
                            (&GENESIS[..]).into(),
                        ],
                    )
                    .await?;
                }
                if done + n >= count {
                    tx.execute("DROP TABLE bench_plain", &[]).await?;
                }
                tx.commit().await?;
                done += n;
            }
            Ok(())
        })
    }

    /// Reads every audit event in order (the benchmark baseline for verification: the same
    /// reads without the HMACs). Returns the number of rows and of bytes encoded.
    pub fn read_all_events(&self) -> Result<(u64, u64)> {
        self.block_on(async {
            let mut tx = self.backend.read().await?;
            let mut after = 0i64;
            let (mut rows, mut bytes) = (0u64, 0u64);
            let mut buf = Vec::new();
            loop {
                let page = read_page(&mut tx, after).await?;
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
            tx.commit().await?;
            Ok((rows, bytes))
        })
    }
}

impl<B: Backend> CaseStore for Store<B> {
    fn notices(&self) -> &[String] {
        &self.notices
    }

    fn location(&self) -> String {
        self.backend.location().to_string()
    }

    fn login(&self, name: &str, password: Option<&str>) -> Result<Session> {
        self.block_on(self.login_async(name, password))
    }

    fn add_user(
        &self,
        session: &Session,
        name: &str,
        roles: &[Role],
        password: Option<&str>,
    ) -> Result<i64> {
        self.block_on(self.add_user_async(session, name, roles, password))
    }

    fn set_password(&self, session: &Session, name: &str, new_password: &str) -> Result<()> {
        self.block_on(self.set_password_async(session, name, new_password))
    }

    fn record_analysis(
        &self,
        session: &Session,
        analysis: &NewAnalysis<'_>,
    ) -> Result<AnalysisIds> {
        self.block_on(self.record_analysis_async(session, analysis))
    }

    fn record_run(&self, session: &Session, case_id: i64, run: &NewRun<'_>) -> Result<i64> {
        self.block_on(self.record_run_async(session, case_id, run))
    }

    fn add_note(&self, session: &Session, case_id: i64, text: &str) -> Result<i64> {
        self.block_on(self.add_note_async(session, case_id, text))
    }

    fn sign(&self, session: &Session, decision: &NewDecision<'_>) -> Result<DecisionRecord> {
        self.block_on(self.sign_async(session, decision))
    }

    fn run_record(&self, _session: &Session, run_id: i64) -> Result<RunRecord> {
        self.block_on(self.run_record_async(run_id))
    }

    fn decisions(&self, _session: &Session, run_id: i64) -> Result<Vec<DecisionRecord>> {
        self.block_on(self.decisions_async(run_id))
    }

    fn patient_identity(&self, session: &Session, patient_id: i64) -> Result<PatientIdentity> {
        self.block_on(self.patient_identity_async(session, patient_id))
    }

    fn create_case_set(&self, session: &Session, name: &str, case_ids: &[i64]) -> Result<i64> {
        self.block_on(self.create_case_set_async(session, name, case_ids))
    }

    fn create_teaching_session(
        &self,
        session: &Session,
        case_set_id: i64,
        title: &str,
    ) -> Result<i64> {
        self.block_on(self.create_teaching_session_async(session, case_set_id, title))
    }

    fn record_trainee_answer(
        &self,
        session: &Session,
        teaching_session_id: i64,
        case_id: i64,
        answer: &str,
    ) -> Result<i64> {
        self.block_on(self.record_trainee_answer_async(
            session,
            teaching_session_id,
            case_id,
            answer,
        ))
    }

    fn history(&self, _session: &Session, filter: &HistoryFilter) -> Result<Vec<AuditEvent>> {
        self.block_on(self.history_async(filter))
    }

    fn export_audit(
        &self,
        session: &Session,
        filter: &HistoryFilter,
        deidentified: bool,
    ) -> Result<Vec<AuditEvent>> {
        self.block_on(self.export_audit_async(session, filter, deidentified))
    }

    fn verify_audit(&self) -> Result<Verification> {
        self.block_on(self.verify_audit_async())
    }

    fn input_bytes(&self, _session: &Session, run_id: i64) -> Result<StoredInput> {
        self.block_on(self.input_bytes_async(run_id))
    }

    fn record_report_export(&self, session: &Session, run_id: i64, details: Value) -> Result<()> {
        self.block_on(self.record_report_export_async(session, run_id, details))
    }

    fn worklist(&self, _session: &Session, filter: &WorklistFilter) -> Result<Vec<WorklistRow>> {
        self.block_on(self.worklist_async(filter))
    }

    fn case_runs(&self, _session: &Session, case_id: i64) -> Result<Vec<RunRecord>> {
        self.block_on(self.case_runs_async(case_id))
    }

    fn notes(&self, _session: &Session, case_id: i64) -> Result<Vec<NoteVersion>> {
        self.block_on(self.notes_async(case_id))
    }

    fn prior_case(&self, session: &Session, case_id: i64) -> Result<Option<PriorCase>> {
        self.block_on(self.prior_case_async(session, case_id))
    }

    fn case_input(&self, session: &Session, case_id: i64) -> Result<CaseInput> {
        self.block_on(self.case_input_async(session, case_id))
    }

    fn teaching_case(
        &self,
        session: &Session,
        teaching_session_id: i64,
        position: usize,
    ) -> Result<TeachingCase> {
        self.block_on(self.teaching_case_async(session, teaching_session_id, position))
    }
}
