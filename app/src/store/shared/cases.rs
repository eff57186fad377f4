//! Writing the clinical record: a new case from an analysed input, further runs, note
//! versions, and signed decisions.

use ecgr1_engine::formats::{EcgInput, sha256_hex};
use serde_json::{Value, json};

use super::super::clock::Clock;
use super::super::password::verify_password;
use super::super::sql::{Backend, RowRead, SqlTx};
use super::super::{
    AnalysisIds, DecisionRecord, MAX_INPUT_BYTES, NewAnalysis, NewDecision, NewRun, Result, Role,
    RunOutcome, Session, StoreError, Verdict,
};
use super::Store;
use super::chain::{Actor, Draft, append_events};

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> String {
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

pub(crate) async fn case_exists<T: SqlTx>(tx: &mut T, case_id: i64) -> Result<()> {
    let found = tx
        .fetch_optional("SELECT id FROM cases WHERE id = $1", &[case_id.into()])
        .await?;
    found.map(|_| ()).ok_or(StoreError::NotFound {
        entity: "case",
        id: case_id.to_string(),
    })
}

async fn insert_run<T: SqlTx>(
    tx: &mut T,
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
    let parameters = run.parameters.to_string();
    let measurements = run.measurements.as_ref().map(Value::to_string);
    let flags = run.verifier_flags.as_ref().map(Value::to_string);
    let comparison = run.comparison.as_ref().map(Value::to_string);
    if run.digitisation.is_some() {
        image_case(tx, case_id).await?;
    }
    let digitisation = run.digitisation.as_ref();
    let digitiser_version = digitisation.map(|d| d.digitiser_version.clone());
    let digitisation_json = digitisation.map(|d| d.report.to_string());
    let signal_csv = digitisation.map(|d| d.signal_csv.clone());
    let id = tx
        .insert(
            "INSERT INTO runs (case_id, engine_json, task, parameters_json, seed, started_at, finished_at, \
             raw_output, report_json, p_yes, band, measurements_json, verifier_flags_json, status, error, created_by, \
             comparison_json, digitiser_version, digitisation_json, digitised_signal_csv) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20) \
             RETURNING id",
            &[
                case_id.into(),
                (&engine_json).into(),
                run.task.name().into(),
                (&parameters).into(),
                run.seed.into(),
                (&started).into(),
                (&finished).into(),
                (&raw_output).into(),
                (&report_json).into(),
                p_yes.into(),
                band.into(),
                (&measurements).into(),
                (&flags).into(),
                status.into(),
                (&error).into(),
                user_id.into(),
                (&comparison).into(),
                (&digitiser_version).into(),
                (&digitisation_json).into(),
                (&signal_csv).into(),
            ],
        )
        .await?;
    // The event records the run's identity and outcome; the full output stays in the run row,
    // which the database keeps immutable, and is bound to the event by the raw output's SHA-256.
    let mut after = json!({
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
    if let Some(c) = &run.comparison {
        // The event names the prior ECG and the changes found; the full comparison is in the
        // run row, bound to the event by its SHA-256 (of the same text the row holds).
        after["comparison"] = comparison_event(c);
    }
    if let (Some(version), Some(report), Some(csv)) =
        (&digitiser_version, &digitisation_json, &signal_csv)
    {
        // The event names the digitiser and binds the stored report and signal by their
        // SHA-256 (of the same text the row holds).
        after["digitisation"] = json!({
            "digitiser_version": version,
            "report_sha256": sha256_hex(report.as_bytes()),
            "signal_sha256": sha256_hex(csv.as_bytes()),
        });
    }
    Ok((id, after))
}

/// A digitised signal belongs only to a case whose input is an image.
async fn image_case<T: SqlTx>(tx: &mut T, case_id: i64) -> Result<()> {
    let row = tx
        .fetch_optional(
            "SELECT i.kind FROM cases c JOIN ecg_inputs i ON i.id = c.ecg_input_id WHERE c.id = $1",
            &[case_id.into()],
        )
        .await?;
    match row.map(|r| r.text(0)).transpose()? {
        Some(kind) if kind == "image" => Ok(()),
        Some(kind) => Err(StoreError::Invalid {
            field: "run.digitisation".into(),
            problem: format!(
                "case {case_id}'s input is a {kind}, not an image: only an image is digitised"
            ),
        }),
        None => Err(StoreError::NotFound {
            entity: "case",
            id: case_id.to_string(),
        }),
    }
}

/// What a run's audit event says of its serial comparison: the prior ECG's SHA-256, the kinds
/// of the changes found, and the SHA-256 of the comparison's JSON text. Part of the chained
/// event, so the same on every backend.
fn comparison_event(c: &Value) -> Value {
    json!({
        "prior_sha256": c["prior"]["sha256"],
        "changes": c["changes"]
            .as_array()
            .map(|a| a.iter().map(|x| x["kind"].clone()).collect::<Vec<_>>()),
        "comparison_sha256": sha256_hex(c.to_string().as_bytes()),
    })
}

/// A new patient pseudonym: random, except on a stepping clock (tests, fixtures), where it is
/// derived from the clock's reading so that stored cases and their exports are the same on
/// every run. A stepping reading is never repeated, so neither is the pseudonym.
fn new_pseudonym(clock: &Clock, now: &str) -> Result<String> {
    if matches!(clock, Clock::Stepping(_)) {
        let digest = sha256_hex(format!("pseudonym|{now}").as_bytes());
        return Ok(format!("P-{}", &digest[..12]));
    }
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

/// Reuses the patient with the same identifier, else creates one with a new pseudonym.
async fn find_or_create_patient<T: SqlTx>(
    tx: &mut T,
    input: &EcgInput,
    clock: &Clock,
    now: &str,
    drafts: &mut Vec<Draft>,
) -> Result<Option<i64>> {
    let EcgInput::Signal(s) = input else {
        return Ok(None);
    };
    if s.patient.is_empty() {
        return Ok(None);
    }
    let p = &s.patient;
    if let Some(identifier) = &p.id {
        let existing = tx
            .fetch_optional(
                "SELECT patient_id FROM patient_identity WHERE identifier = $1 LIMIT 1",
                &[identifier.into()],
            )
            .await?;
        if let Some(row) = existing {
            return Ok(Some(row.i64(0)?));
        }
    }
    let pseudonym = new_pseudonym(clock, now)?;
    let id = tx
        .insert(
            "INSERT INTO patients (pseudonym, created_at) VALUES ($1, $2) RETURNING id",
            &[(&pseudonym).into(), now.into()],
        )
        .await?;
    tx.execute(
        "INSERT INTO patient_identity (patient_id, name, identifier, birth_date, sex) VALUES ($1, $2, $3, $4, $5)",
        &[
            id.into(),
            (&p.name).into(),
            (&p.id).into(),
            (&p.birth_date).into(),
            (&p.sex).into(),
        ],
    )
    .await?;
    drafts.push(Draft::new("create", "patient", id).after(json!({ "pseudonym": pseudonym })));
    drafts.push(Draft::new("create", "patient_identity", id).after(json!({
        "name": p.name, "identifier": p.id, "birth_date": p.birth_date, "sex": p.sex,
    })));
    Ok(Some(id))
}

impl<B: Backend> Store<B> {
    pub(super) async fn record_analysis_async(
        &self,
        session: &Session,
        analysis: &NewAnalysis<'_>,
    ) -> Result<AnalysisIds> {
        self.require(session, &[Role::Cardiologist], "store an engine run")
            .await?;
        if analysis.input_bytes.len() > MAX_INPUT_BYTES {
            return Err(StoreError::Invalid {
                field: "input".into(),
                problem: format!(
                    "{} bytes is larger than the {MAX_INPUT_BYTES} bytes the store accepts",
                    analysis.input_bytes.len(),
                ),
            });
        }
        let actor = Actor::from(session);
        let now = self.clock.now();
        let mut tx = self.backend.write().await?;
        let mut drafts = Vec::new();
        let patient_id =
            find_or_create_patient(&mut tx, analysis.input, &self.clock, &now, &mut drafts).await?;

        let (kind, sample_rate, leads, metadata) = describe_input(analysis.input);
        let sha256 = sha256_hex(analysis.input_bytes);
        let file_name = provenance_file_name(analysis.input);
        let format = analysis.input.format().name();
        let (leads_text, metadata_text) = (leads.to_string(), metadata.to_string());
        let input_id = tx
            .insert(
                "INSERT INTO ecg_inputs (file_name, format, kind, sha256, original, sample_rate_hz, leads_json, \
                 metadata_json, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
                &[
                    file_name.into(),
                    format.into(),
                    kind.into(),
                    (&sha256).into(),
                    analysis.input_bytes.into(),
                    sample_rate.into(),
                    (&leads_text).into(),
                    (&metadata_text).into(),
                    (&now).into(),
                    session.user_id.into(),
                ],
            )
            .await?;
        drafts.push(Draft::new("create", "ecg_input", input_id).after(json!({
            "file_name": file_name,
            "format": format,
            "kind": kind,
            "sha256": sha256,
            "bytes": analysis.input_bytes.len(),
            "sample_rate_hz": sample_rate,
            "leads": leads,
        })));

        let case_id = tx
            .insert(
                "INSERT INTO cases (patient_id, ecg_input_id, status, created_at, created_by) \
                 VALUES ($1, $2, 'open', $3, $4) RETURNING id",
                &[
                    patient_id.into(),
                    input_id.into(),
                    (&now).into(),
                    session.user_id.into(),
                ],
            )
            .await?;
        drafts.push(Draft::new("create", "case", case_id).after(json!({
            "patient_id": patient_id, "ecg_input_id": input_id, "status": "open",
        })));

        if !analysis.notes.is_empty() {
            let note_id = tx
                .insert(
                    "INSERT INTO notes (case_id, version, text, author, created_at) \
                     VALUES ($1, 1, $2, $3, $4) RETURNING id",
                    &[
                        case_id.into(),
                        analysis.notes.into(),
                        session.user_id.into(),
                        (&now).into(),
                    ],
                )
                .await?;
            drafts.push(Draft::new("create", "note", note_id).after(json!({
                "case_id": case_id, "version": 1, "text": analysis.notes,
            })));
        }

        let (run_id, run_after) = insert_run(
            &mut tx,
            &self.clock,
            session.user_id,
            case_id,
            &analysis.run,
        )
        .await?;
        drafts.push(Draft::new("create", "run", run_id).after(run_after));
        append_events(&mut tx, &self.key, &self.clock, &actor, &drafts).await?;
        tx.commit().await?;
        Ok(AnalysisIds {
            case_id,
            ecg_input_id: input_id,
            patient_id,
            run_id,
        })
    }

    pub(super) async fn record_run_async(
        &self,
        session: &Session,
        case_id: i64,
        run: &NewRun<'_>,
    ) -> Result<i64> {
        self.require(session, &[Role::Cardiologist], "store an engine run")
            .await?;
        let mut tx = self.backend.write().await?;
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
    }

    pub(super) async fn add_note_async(
        &self,
        session: &Session,
        case_id: i64,
        text: &str,
    ) -> Result<i64> {
        self.require(session, &[Role::Cardiologist], "write clinical notes")
            .await?;
        let mut tx = self.backend.write().await?;
        case_exists(&mut tx, case_id).await?;
        let previous = tx
            .fetch_optional(
                "SELECT version, text FROM notes WHERE case_id = $1 ORDER BY version DESC LIMIT 1",
                &[case_id.into()],
            )
            .await?
            .map(|r| Ok::<_, StoreError>((r.i64(0)?, r.text(1)?)))
            .transpose()?;
        let version = previous.as_ref().map_or(1, |(v, _)| v + 1);
        let note_id = tx
            .insert(
                "INSERT INTO notes (case_id, version, text, author, created_at) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
                &[
                    case_id.into(),
                    version.into(),
                    text.into(),
                    session.user_id.into(),
                    (&self.clock.now()).into(),
                ],
            )
            .await?;
        let mut draft = Draft::new(
            if previous.is_some() {
                "change"
            } else {
                "create"
            },
            "note",
            note_id,
        )
        .after(json!({ "case_id": case_id, "version": version, "text": text }));
        if let Some((v, old)) = previous {
            draft = draft.before(json!({ "case_id": case_id, "version": v, "text": old }));
        }
        append_events(&mut tx, &self.key, &self.clock, &session.into(), &[draft]).await?;
        tx.commit().await?;
        Ok(version)
    }

    pub(super) async fn sign_async(
        &self,
        session: &Session,
        decision: &NewDecision<'_>,
    ) -> Result<DecisionRecord> {
        self.require(session, &[Role::Cardiologist], "sign decisions")
            .await?;
        let reason = decision.reason.trim();
        if reason.is_empty() {
            return Err(StoreError::Invalid {
                field: "--reason".into(),
                problem: "a signed decision needs a reason".into(),
            });
        }
        let mut tx = self.backend.write().await?;
        let hash = tx
            .fetch_one(
                "SELECT password_hash FROM users WHERE id = $1",
                &[session.user_id.into()],
            )
            .await?
            .opt_text(0)?;
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
        let run = tx
            .fetch_optional(
                "SELECT case_id, status, report_json FROM runs WHERE id = $1",
                &[decision.run_id.into()],
            )
            .await?
            .map(|r| Ok::<_, StoreError>((r.i64(0)?, r.text(1)?, r.opt_text(2)?)))
            .transpose()?;
        let Some((case_id, status, report_json)) = run else {
            return Err(StoreError::NotFound {
                entity: "run",
                id: decision.run_id.to_string(),
            });
        };
        let (kind, final_answer) = match &decision.verdict {
            Verdict::Agree => {
                let report: Option<ecgr1_engine::report::Report> = report_json
                    .as_deref()
                    .and_then(|j| serde_json::from_str(j).ok());
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
        let id = tx
            .insert(
                "INSERT INTO decisions (run_id, case_id, kind, final_answer, reason, meaning, signed_at, signer) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                &[
                    decision.run_id.into(),
                    case_id.into(),
                    kind.into(),
                    (&final_answer).into(),
                    reason.into(),
                    decision.meaning.name().into(),
                    (&signed_at).into(),
                    session.user_id.into(),
                ],
            )
            .await?;
        let old_status = tx
            .fetch_one("SELECT status FROM cases WHERE id = $1", &[case_id.into()])
            .await?
            .text(0)?;
        tx.execute(
            "UPDATE cases SET status = 'signed' WHERE id = $1",
            &[case_id.into()],
        )
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
    }
}
