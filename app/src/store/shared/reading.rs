//! Reading the record: runs, decisions, identities, inputs, the worklist and the audit history.

use serde_json::{Value, json};

use super::super::sql::{Backend, RowRead, SqlTx};
use super::super::{
    CaseInput, CaseProgress, DecisionRecord, HistoryFilter, NoteVersion, PatientIdentity,
    PriorCase, Result, Role, RunRecord, Session, StoreError, StoredInput, WORKLIST_DEFAULT_LIMIT,
    WorklistFilter, WorklistRow,
};
use super::Store;
use super::cases::case_exists;
use super::chain::{self, Draft, EVENT_COLUMNS, append_events, event_from_row};
use crate::audit::{AuditEvent, Verification};

/// The run columns every run query selects (with the creator's name).
pub(crate) const RUN_SELECT: &str =
    "SELECT r.*, u.name AS creator FROM runs r JOIN users u ON u.id = r.created_by";

pub(crate) fn run_record_from_row(row: &impl RowRead) -> Result<RunRecord> {
    Ok(RunRecord {
        id: row.i64("id")?,
        case_id: row.i64("case_id")?,
        engine_json: row.text("engine_json")?,
        task: row.text("task")?,
        parameters_json: row.text("parameters_json")?,
        seed: row.opt_i64("seed")?,
        started_at: row.text("started_at")?,
        finished_at: row.text("finished_at")?,
        raw_output: row.text("raw_output")?,
        report_json: row.opt_text("report_json")?,
        p_yes: row.opt_f64("p_yes")?,
        band: row.opt_text("band")?,
        measurements_json: row.opt_text("measurements_json")?,
        verifier_flags_json: row.opt_text("verifier_flags_json")?,
        comparison_json: row.opt_text("comparison_json")?,
        digitiser_version: row.opt_text("digitiser_version")?,
        digitisation_json: row.opt_text("digitisation_json")?,
        digitised_signal_csv: row.opt_text("digitised_signal_csv")?,
        status: row.text("status")?,
        error: row.opt_text("error")?,
        created_by: row.text("creator")?,
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

impl<B: Backend> Store<B> {
    pub(super) async fn run_record_async(&self, run_id: i64) -> Result<RunRecord> {
        let mut tx = self.backend.read().await?;
        let sql = format!("{RUN_SELECT} WHERE r.id = $1");
        let row = tx
            .fetch_optional(&sql, &[run_id.into()])
            .await?
            .ok_or(StoreError::NotFound {
                entity: "run",
                id: run_id.to_string(),
            })?;
        run_record_from_row(&row)
    }

    pub(super) async fn decisions_async(&self, run_id: i64) -> Result<Vec<DecisionRecord>> {
        let mut tx = self.backend.read().await?;
        let rows = tx
            .fetch_all(
                "SELECT d.*, u.name AS signer_name FROM decisions d JOIN users u ON u.id = d.signer \
                 WHERE d.run_id = $1 ORDER BY d.id",
                &[run_id.into()],
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(DecisionRecord {
                    id: row.i64("id")?,
                    run_id: row.i64("run_id")?,
                    case_id: row.i64("case_id")?,
                    kind: row.text("kind")?,
                    final_answer: row.text("final_answer")?,
                    reason: row.text("reason")?,
                    meaning: row.text("meaning")?,
                    signed_at: row.text("signed_at")?,
                    signer: row.text("signer_name")?,
                })
            })
            .collect()
    }

    pub(super) async fn patient_identity_async(
        &self,
        session: &Session,
        patient_id: i64,
    ) -> Result<PatientIdentity> {
        self.require(
            session,
            &[Role::Cardiologist, Role::Auditor, Role::Admin],
            "view identifying patient data",
        )
        .await?;
        let mut tx = self.backend.write().await?;
        let row = tx
            .fetch_optional(
                "SELECT p.pseudonym, i.name, i.identifier, i.birth_date, i.sex FROM patients p \
                 LEFT JOIN patient_identity i ON i.patient_id = p.id WHERE p.id = $1",
                &[patient_id.into()],
            )
            .await?;
        let Some(row) = row else {
            return Err(StoreError::NotFound {
                entity: "patient",
                id: patient_id.to_string(),
            });
        };
        let identity = PatientIdentity {
            patient_id,
            pseudonym: row.text(0)?,
            name: row.opt_text(1)?,
            identifier: row.opt_text(2)?,
            birth_date: row.opt_text(3)?,
            sex: row.opt_text(4)?,
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
        Ok(identity)
    }

    pub(super) async fn history_async(&self, filter: &HistoryFilter) -> Result<Vec<AuditEvent>> {
        let mut tx = self.backend.read().await?;
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM audit_events WHERE ($1 IS NULL OR actor = $1) AND ($2 IS NULL OR at >= $2) \
             AND ($3 IS NULL OR at <= $3) AND ($4 IS NULL \
               OR (entity_type = 'case' AND entity_id = CAST($4 AS TEXT)) \
               OR (entity_type = 'run' AND entity_id IN (SELECT CAST(id AS TEXT) FROM runs WHERE case_id = $4)) \
               OR (entity_type = 'report' AND entity_id IN (SELECT CAST(id AS TEXT) FROM runs WHERE case_id = $4)) \
               OR (entity_type = 'note' AND entity_id IN (SELECT CAST(id AS TEXT) FROM notes WHERE case_id = $4)) \
               OR (entity_type = 'decision' AND entity_id IN (SELECT CAST(id AS TEXT) FROM decisions WHERE case_id = $4)) \
               OR (entity_type = 'ecg_input' AND entity_id IN (SELECT CAST(ecg_input_id AS TEXT) FROM cases WHERE id = $4))) \
             ORDER BY seq"
        );
        let rows = tx
            .fetch_all(
                &sql,
                &[
                    (&filter.user).into(),
                    (&filter.from).into(),
                    (&filter.to).into(),
                    filter.case_id.into(),
                ],
            )
            .await?;
        rows.iter()
            .map(|r| event_from_row(r).map(|(e, _)| e))
            .collect()
    }

    pub(super) async fn export_audit_async(
        &self,
        session: &Session,
        filter: &HistoryFilter,
        deidentified: bool,
    ) -> Result<Vec<AuditEvent>> {
        let mut events = self.history_async(filter).await?;
        if deidentified {
            for event in &mut events {
                deidentify(event);
            }
        }
        let mut tx = self.backend.write().await?;
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
        Ok(events)
    }

    pub(super) async fn verify_audit_async(&self) -> Result<Verification> {
        let mut tx = self.backend.read().await?;
        let verification = chain::verify(&mut tx, &self.key).await?;
        tx.commit().await?;
        Ok(verification)
    }

    pub(super) async fn input_bytes_async(&self, run_id: i64) -> Result<StoredInput> {
        let mut tx = self.backend.read().await?;
        let row = tx
            .fetch_optional(
                "SELECT i.id AS input_id, c.id AS case_id, c.patient_id, i.file_name, i.format, i.kind, \
                 i.sha256, i.sample_rate_hz, i.metadata_json, i.created_at, i.original, \
                 (SELECT n.text FROM notes n WHERE n.case_id = c.id ORDER BY n.version DESC LIMIT 1) AS latest_note \
                 FROM runs r JOIN cases c ON c.id = r.case_id JOIN ecg_inputs i ON i.id = c.ecg_input_id \
                 WHERE r.id = $1",
                &[run_id.into()],
            )
            .await?
            .ok_or(StoreError::NotFound {
                entity: "run",
                id: run_id.to_string(),
            })?;
        Ok(StoredInput {
            ecg_input_id: row.i64("input_id")?,
            case_id: row.i64("case_id")?,
            patient_id: row.opt_i64("patient_id")?,
            file_name: row.text("file_name")?,
            format: row.text("format")?,
            kind: row.text("kind")?,
            sha256: row.text("sha256")?,
            sample_rate_hz: row.opt_f64("sample_rate_hz")?,
            metadata_json: row.text("metadata_json")?,
            created_at: row.text("created_at")?,
            bytes: row.blob("original")?,
            latest_note: row.opt_text("latest_note")?,
        })
    }

    pub(super) async fn record_report_export_async(
        &self,
        session: &Session,
        run_id: i64,
        details: Value,
    ) -> Result<()> {
        let mut tx = self.backend.write().await?;
        let found = tx
            .fetch_optional("SELECT id FROM runs WHERE id = $1", &[run_id.into()])
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
    }

    pub(super) async fn worklist_async(&self, filter: &WorklistFilter) -> Result<Vec<WorklistRow>> {
        let search = filter.search.trim().trim_start_matches('#').to_lowercase();
        let limit = match filter.limit {
            0 => WORKLIST_DEFAULT_LIMIT,
            n => n,
        };
        let (find, answer) = (B::FIND, B::REPORT_ANSWER);
        // One row per case with its latest completed run, latest signed decision and latest
        // notes; the filters then apply to those derived columns.
        let sql = format!(
            "SELECT * FROM (SELECT c.id AS case_id, c.created_at, i.file_name, i.format, i.kind, \
               (SELECT COUNT(*) FROM runs r WHERE r.case_id = c.id) AS runs, \
               (SELECT COUNT(*) FROM runs r WHERE r.case_id = c.id AND r.status = 'completed') AS completed, \
               (SELECT r.band FROM runs r WHERE r.case_id = c.id AND r.status = 'completed' ORDER BY r.id DESC LIMIT 1) AS band, \
               (SELECT r.p_yes FROM runs r WHERE r.case_id = c.id AND r.status = 'completed' ORDER BY r.id DESC LIMIT 1) AS p_yes, \
               (SELECT {answer} FROM runs r WHERE r.case_id = c.id AND r.status = 'completed' ORDER BY r.id DESC LIMIT 1) AS answer_json, \
               (SELECT u.name FROM decisions d JOIN users u ON u.id = d.signer WHERE d.case_id = c.id ORDER BY d.id DESC LIMIT 1) AS signed_by, \
               (SELECT d.signed_at FROM decisions d WHERE d.case_id = c.id ORDER BY d.id DESC LIMIT 1) AS signed_at, \
               COALESCE((SELECT n.text FROM notes n WHERE n.case_id = c.id ORDER BY n.version DESC LIMIT 1), '') AS notes \
             FROM cases c JOIN ecg_inputs i ON i.id = c.ecg_input_id) w \
             WHERE ($1 = '' OR {find}(lower(w.file_name), $1) > 0 OR CAST(w.case_id AS TEXT) = $1 \
                    OR {find}(lower(w.notes), $1) > 0) \
               AND ($2 IS NULL OR w.band = $2) \
               AND ($3 IS NULL OR w.created_at >= $3) AND ($4 IS NULL OR w.created_at <= $4) \
               AND ($5 IS NULL \
                    OR ($5 = 'signed' AND w.signed_by IS NOT NULL) \
                    OR ($5 = 'run' AND w.signed_by IS NULL AND w.completed > 0) \
                    OR ($5 = 'unread' AND w.signed_by IS NULL AND w.completed = 0)) \
             ORDER BY w.created_at DESC, w.case_id DESC LIMIT $6"
        );
        let mut tx = self.backend.read().await?;
        let rows = tx
            .fetch_all(
                &sql,
                &[
                    (&search).into(),
                    filter.band.map(ecgr1_engine::RiskBand::name).into(),
                    (&filter.from).into(),
                    (&filter.to).into(),
                    filter.progress.map(CaseProgress::name).into(),
                    i64::try_from(limit).unwrap_or(i64::MAX).into(),
                ],
            )
            .await?;
        rows.iter()
            .map(|row| {
                let runs = row.i64("runs")?;
                let completed = row.i64("completed")?;
                let signed_by = row.opt_text("signed_by")?;
                let progress = if signed_by.is_some() {
                    CaseProgress::Signed
                } else if completed > 0 {
                    CaseProgress::Run
                } else {
                    CaseProgress::Unread
                };
                let answer_json = row.opt_text("answer_json")?;
                Ok(WorklistRow {
                    case_id: row.i64("case_id")?,
                    created_at: row.text("created_at")?,
                    file_name: row.text("file_name")?,
                    format: row.text("format")?,
                    kind: row.text("kind")?,
                    progress,
                    runs,
                    band: row.opt_text("band")?,
                    p_yes: row.opt_f64("p_yes")?,
                    answer: answer_json
                        .and_then(|j| serde_json::from_str(&j).ok())
                        .unwrap_or_default(),
                    signed_by,
                    signed_at: row.opt_text("signed_at")?,
                    notes: row.text("notes")?,
                })
            })
            .collect()
    }

    pub(super) async fn case_runs_async(&self, case_id: i64) -> Result<Vec<RunRecord>> {
        let mut tx = self.backend.read().await?;
        case_exists(&mut tx, case_id).await?;
        let sql = format!("{RUN_SELECT} WHERE r.case_id = $1 ORDER BY r.id");
        let rows = tx.fetch_all(&sql, &[case_id.into()]).await?;
        rows.iter().map(run_record_from_row).collect()
    }

    pub(super) async fn notes_async(&self, case_id: i64) -> Result<Vec<NoteVersion>> {
        let mut tx = self.backend.read().await?;
        case_exists(&mut tx, case_id).await?;
        let rows = tx
            .fetch_all(
                "SELECT n.version, n.text, u.name, n.created_at FROM notes n JOIN users u ON u.id = n.author \
                 WHERE n.case_id = $1 ORDER BY n.version",
                &[case_id.into()],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(NoteVersion {
                    version: r.i64(0)?,
                    text: r.text(1)?,
                    author: r.text(2)?,
                    created_at: r.text(3)?,
                })
            })
            .collect()
    }

    pub(super) async fn prior_case_async(
        &self,
        session: &Session,
        case_id: i64,
    ) -> Result<Option<PriorCase>> {
        self.require(
            session,
            &[Role::Cardiologist, Role::Auditor, Role::Admin],
            "look up a patient's prior ECG",
        )
        .await?;
        let mut tx = self.backend.read().await?;
        case_exists(&mut tx, case_id).await?;
        let row = tx
            .fetch_optional(
                "SELECT p.id, p.created_at, i.file_name, i.metadata_json FROM cases c \
                 JOIN cases p ON p.patient_id = c.patient_id AND p.id < c.id \
                 JOIN ecg_inputs i ON i.id = p.ecg_input_id \
                 WHERE c.id = $1 AND c.patient_id IS NOT NULL AND i.kind = 'signal' \
                 ORDER BY p.id DESC LIMIT 1",
                &[case_id.into()],
            )
            .await?;
        tx.commit().await?;
        row.map(|r| {
            let acquisition_time = serde_json::from_str::<Value>(&r.text(3)?)
                .ok()
                .and_then(|m| m["acquisition_time"].as_str().map(str::to_string));
            Ok(PriorCase {
                case_id: r.i64(0)?,
                created_at: r.text(1)?,
                file_name: r.text(2)?,
                acquisition_time,
            })
        })
        .transpose()
    }

    pub(super) async fn case_input_async(
        &self,
        session: &Session,
        case_id: i64,
    ) -> Result<CaseInput> {
        self.require(
            session,
            &[Role::Cardiologist, Role::Auditor, Role::Admin],
            "read a case's original input (it may identify the patient)",
        )
        .await?;
        let mut tx = self.backend.write().await?;
        let row = tx
            .fetch_optional(
                "SELECT i.id, i.file_name, i.format, i.kind, i.sha256, i.original FROM cases c \
                 JOIN ecg_inputs i ON i.id = c.ecg_input_id WHERE c.id = $1",
                &[case_id.into()],
            )
            .await?;
        let Some(row) = row else {
            return Err(StoreError::NotFound {
                entity: "case",
                id: case_id.to_string(),
            });
        };
        let input = CaseInput {
            ecg_input_id: row.i64(0)?,
            file_name: row.text(1)?,
            format: row.text(2)?,
            kind: row.text(3)?,
            sha256: row.text(4)?,
            bytes: row.blob(5)?,
        };
        append_events(
            &mut tx,
            &self.key,
            &self.clock,
            &session.into(),
            &[Draft::new("view", "ecg_input", input.ecg_input_id)
                .after(json!({ "case_id": case_id }))],
        )
        .await?;
        tx.commit().await?;
        Ok(input)
    }
}
