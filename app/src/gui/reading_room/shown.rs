//! The run shown in the reading room: a run just finished, or a stored run of the open case,
//! with its verification, its trace as the view draws it, and its signed decisions.

use ecgr1_engine::features::Measurements;
use ecgr1_engine::report::Report;
use ecgr1_engine::serial::SerialComparison;
use ecgr1_engine::verify::{Verification, verify_report_with_prior};
use ecgr1_ui::TraceStepView;
use ecgr1_ui::trace_view::build_steps;

use super::run::{Ended, RunDone, Stored};
use crate::store::{DecisionRecord, RunRecord};

pub struct ShownRun {
    pub run_id: Option<i64>,
    /// "completed", "cancelled" or "failed".
    pub status: String,
    pub error: Option<String>,
    pub report: Option<Report>,
    pub verification: Option<Verification>,
    pub steps: Vec<TraceStepView>,
    /// Signed decisions, oldest first; a signed run is read-only.
    pub decisions: Vec<DecisionRecord>,
    /// Where the run was stored, or why not.
    pub stored_note: String,
    /// The comparison with the prior ECG the reading was made with.
    pub comparison: Option<SerialComparison>,
}

fn steps_of(report: Option<&Report>, verification: Option<&Verification>) -> Vec<TraceStepView> {
    report.map_or_else(Vec::new, |r| {
        build_steps(
            &r.steps,
            verification.map_or(&[][..], |v| v.claims.as_slice()),
        )
    })
}

impl ShownRun {
    /// A run that has just ended; returns it and the case it was stored on.
    pub fn from_done(done: RunDone) -> (Self, Option<i64>) {
        let (status, error, report) = match done.ended {
            Ended::Completed(r) => ("completed", None, Some(*r)),
            Ended::Cancelled => ("cancelled", Some("cancelled by the user".to_string()), None),
            Ended::Failed(e) => ("failed", Some(e), None),
        };
        let (run_id, case_id, stored_note) = match done.stored {
            Stored::Yes { case_id, run_id } => (
                Some(run_id),
                Some(case_id),
                format!("Stored: case {case_id}, run {run_id}"),
            ),
            Stored::No(why) => (None, None, format!("Not stored: {why}")),
            Stored::Failed(e) => (None, None, format!("Storing failed: {e}")),
        };
        let steps = steps_of(report.as_ref(), done.verification.as_ref());
        (
            Self {
                run_id,
                status: status.into(),
                error,
                report,
                verification: done.verification,
                steps,
                decisions: Vec::new(),
                stored_note,
                comparison: done.comparison,
            },
            case_id,
        )
    }

    /// A stored run. Its trace is checked again against the measurements of the stored input
    /// (the verifier is deterministic, so this gives the flags stored with it).
    pub fn from_record(
        record: &RunRecord,
        decisions: Vec<DecisionRecord>,
        measurements: Option<&Measurements>,
    ) -> Self {
        let report: Option<Report> = record
            .report_json
            .as_deref()
            .and_then(|j| serde_json::from_str(j).ok());
        let comparison: Option<SerialComparison> = record
            .comparison_json
            .as_deref()
            .and_then(|j| serde_json::from_str(j).ok());
        let verification = report
            .as_ref()
            .zip(measurements)
            .map(|(r, m)| verify_report_with_prior(r, m, comparison.as_ref()));
        let steps = steps_of(report.as_ref(), verification.as_ref());
        Self {
            run_id: Some(record.id),
            status: record.status.clone(),
            error: record.error.clone(),
            report,
            verification,
            steps,
            decisions,
            stored_note: format!(
                "Run {} by {} at {}",
                record.id, record.created_by, record.started_at
            ),
            comparison,
        }
    }

    /// The latest signature, if the run is signed.
    pub fn signature(&self) -> Option<&DecisionRecord> {
        self.decisions.last()
    }

    /// "Signed by X at T (meaning)".
    pub fn signed_text(&self) -> Option<String> {
        self.signature().map(|d| {
            format!(
                "Signed by {} at {} ({}): {} \"{}\"; reason: {}",
                d.signer,
                d.signed_at,
                d.meaning,
                if d.kind == "agree" {
                    "agreed with"
                } else {
                    "overrode with"
                },
                d.final_answer,
                d.reason
            )
        })
    }
}
