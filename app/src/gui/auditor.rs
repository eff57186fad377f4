//! The auditor's workspace: every stored run with filters, a run's raw output beside its parsed
//! trace, its signatures and audit events, the chain's verification status, and export.
//!
//! Read-only by construction: nothing here calls a store method that writes, except export,
//! which the store audits. All database work runs on worker threads.

use egui::{RichText, Ui};
use serde::Deserialize;

use super::jobs::{Job, JobSlot};
use super::link::StoreLink;
use crate::audit::{AuditEvent, Verification};
use crate::cli::audit_cmd::write_csv;
use crate::store::clock::{Bound, parse_bound};
use crate::store::{DecisionRecord, HistoryFilter, RunRecord, WorklistFilter};
use ecgr1_engine::report::Report;
use ecgr1_ui::TraceView;
use ecgr1_ui::trace_view::build_steps;

/// Label of the chain verification button.
pub const VERIFY_CHAIN: &str = "Verify chain";
/// Label of the export button.
pub const EXPORT_BUTTON: &str = "Export history";
/// Label of the export path field.
pub const EXPORT_PATH_FIELD: &str = "Export file";

/// One stored run as the auditor's list shows it.
#[derive(Clone, Debug)]
pub struct AuditRow {
    pub run: RunRecord,
    pub file_name: String,
    /// "protocol 0.1.0", "qwen2-vl …" (from the stored engine identity).
    pub engine: String,
    pub decisions: Vec<DecisionRecord>,
    /// Claims the verifier found contradicted by the measurements, as stored with the run.
    pub contradicted: usize,
}

impl AuditRow {
    pub fn signature(&self) -> Option<&DecisionRecord> {
        self.decisions.last()
    }
}

/// The verifier's result as stored with a run (see `cli::verify::verification_json`).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct StoredFlags {
    #[serde(default)]
    pub claims: Vec<StoredClaim>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct StoredClaim {
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub measured: Option<String>,
    #[serde(default)]
    pub expected: Option<String>,
}

impl StoredFlags {
    fn parse(json: Option<&str>) -> Self {
        json.and_then(|j| serde_json::from_str(j).ok())
            .unwrap_or_default()
    }

    fn contradicted(&self) -> impl Iterator<Item = &StoredClaim> {
        self.claims.iter().filter(|c| c.status == "contradicted")
    }
}

fn engine_label(engine_json: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(engine_json).unwrap_or_default();
    let text = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
    let name = [text("family"), text("name"), text("version")]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if name.is_empty() {
        "unknown engine".into()
    } else {
        name
    }
}

/// Every stored run, newest first (reads the worklist, then each case's runs and decisions).
pub fn load_rows(link: &StoreLink) -> Result<Vec<AuditRow>, String> {
    let store = &link.store;
    let session = &link.session;
    let cases = store
        .worklist(session, &WorklistFilter::default())
        .map_err(|e| format!("cannot list the cases: {e}"))?;
    let mut rows = Vec::new();
    for case in cases {
        let runs = store
            .case_runs(session, case.case_id)
            .map_err(|e| format!("cannot list the runs of case {}: {e}", case.case_id))?;
        for run in runs {
            let decisions = store
                .decisions(session, run.id)
                .map_err(|e| format!("cannot read the decisions on run {}: {e}", run.id))?;
            let contradicted = StoredFlags::parse(run.verifier_flags_json.as_deref())
                .contradicted()
                .count();
            rows.push(AuditRow {
                engine: engine_label(&run.engine_json),
                file_name: case.file_name.clone(),
                run,
                decisions,
                contradicted,
            });
        }
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r.run.id));
    Ok(rows)
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DecisionChoice {
    #[default]
    Any,
    Agree,
    Override,
    Unsigned,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ExportFormat {
    #[default]
    Csv,
    Json,
}

/// The auditor's filters over the run list.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    /// Who ran or signed it (exact user name; empty for anyone).
    pub user: String,
    /// `YYYY-MM-DD` or a full UTC time; empty for no bound.
    pub from: String,
    pub to: String,
    /// A part of the engine's name.
    pub engine: String,
    /// "high", "intermediate", "low", "none" (no band), or empty for any.
    pub band: String,
    pub decision: DecisionChoice,
    pub flagged_only: bool,
}

impl AuditFilter {
    /// The rows that pass, or why the filter itself is wrong.
    pub fn apply<'a>(&self, rows: &'a [AuditRow]) -> Result<Vec<&'a AuditRow>, String> {
        let bound = |text: &str, b: Bound| {
            let t = text.trim();
            (!t.is_empty()).then(|| parse_bound(t, b)).transpose()
        };
        let from = bound(&self.from, Bound::Start).map_err(|e| format!("From: {e}"))?;
        let to = bound(&self.to, Bound::End).map_err(|e| format!("To: {e}"))?;
        let user = self.user.trim();
        let engine = self.engine.trim().to_lowercase();
        Ok(rows
            .iter()
            .filter(|r| {
                user.is_empty()
                    || r.run.created_by == user
                    || r.decisions.iter().any(|d| d.signer == user)
            })
            .filter(|r| from.as_ref().is_none_or(|f| r.run.started_at >= *f))
            .filter(|r| to.as_ref().is_none_or(|t| r.run.started_at <= *t))
            .filter(|r| engine.is_empty() || r.engine.to_lowercase().contains(&engine))
            .filter(|r| match self.band.as_str() {
                "" => true,
                "none" => r.run.band.is_none(),
                b => r.run.band.as_deref() == Some(b),
            })
            .filter(|r| match self.decision {
                DecisionChoice::Any => true,
                DecisionChoice::Unsigned => r.decisions.is_empty(),
                DecisionChoice::Agree => r.signature().is_some_and(|d| d.kind == "agree"),
                DecisionChoice::Override => r.signature().is_some_and(|d| d.kind == "override"),
            })
            .filter(|r| !self.flagged_only || r.contradicted > 0)
            .collect())
    }
}

/// What the auditor sees of one run.
pub struct RunDetail {
    pub row: AuditRow,
    pub report: Option<Report>,
    pub flags: StoredFlags,
    pub events: Vec<AuditEvent>,
}

fn load_detail(link: &StoreLink, row: AuditRow) -> Result<RunDetail, String> {
    let events = link
        .store
        .history(
            &link.session,
            &HistoryFilter {
                case_id: Some(row.run.case_id),
                ..HistoryFilter::default()
            },
        )
        .map_err(|e| format!("cannot read the history of case {}: {e}", row.run.case_id))?;
    let report = row
        .run
        .report_json
        .as_deref()
        .and_then(|j| serde_json::from_str(j).ok());
    let flags = StoredFlags::parse(row.run.verifier_flags_json.as_deref());
    Ok(RunDetail {
        row,
        report,
        flags,
        events,
    })
}

/// Writes the audit events matching `filter` to `path`; returns a one-line summary.
pub fn export_history(
    link: &StoreLink,
    filter: &HistoryFilter,
    format: ExportFormat,
    deidentified: bool,
    path: &std::path::Path,
) -> Result<String, String> {
    let events = link
        .store
        .export_audit(&link.session, filter, deidentified)
        .map_err(|e| format!("cannot export the history: {e}"))?;
    let mut text = Vec::new();
    match format {
        ExportFormat::Csv => write_csv(&events, &mut text),
        ExportFormat::Json => {
            serde_json::to_writer_pretty(&mut text, &events)
                .map_err(|e| format!("cannot encode the history: {e}"))?;
            text.push(b'\n');
        }
    }
    std::fs::write(path, &text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(format!(
        "Exported {} events to {}{}.",
        events.len(),
        path.display(),
        if deidentified { " (de-identified)" } else { "" }
    ))
}

#[derive(Default)]
pub struct AuditorView {
    pub filter: AuditFilter,
    rows: Vec<AuditRow>,
    loaded: bool,
    loading: JobSlot<Result<Vec<AuditRow>, String>>,
    selected: Option<i64>,
    detail: Option<RunDetail>,
    detail_job: JobSlot<Result<RunDetail, String>>,
    chain: Option<Result<Verification, String>>,
    chain_job: JobSlot<Result<Verification, String>>,
    export_path: String,
    export_format: ExportFormat,
    deidentified: bool,
    export_job: JobSlot<Result<String, String>>,
    export_message: Option<Result<String, String>>,
    error: Option<String>,
}

impl AuditorView {
    pub fn rows(&self) -> &[AuditRow] {
        &self.rows
    }

    pub fn is_busy(&self) -> bool {
        self.loading.is_running()
            || self.detail_job.is_running()
            || self.chain_job.is_running()
            || self.export_job.is_running()
    }

    pub fn chain(&self) -> Option<&Result<Verification, String>> {
        self.chain.as_ref()
    }

    pub fn export_message(&self) -> Option<&Result<String, String>> {
        self.export_message.as_ref()
    }

    /// Marks the run list and chain status stale: they are read again when next shown.
    pub fn invalidate(&mut self) {
        self.loaded = false;
    }

    /// Re-reads the run list (the auditor's "Refresh"; also on first show).
    pub fn refresh(&mut self, ctx: &egui::Context, link: &StoreLink) {
        let link = link.clone();
        self.loading
            .start(Job::spawn(ctx, "reading the stored runs", move || {
                load_rows(&link)
            }));
    }

    fn verify_chain(&mut self, ctx: &egui::Context, link: &StoreLink) {
        let link = link.clone();
        self.chain_job
            .start(Job::spawn(ctx, "verifying the audit chain", move || {
                link.store
                    .verify_audit()
                    .map_err(|e| format!("cannot verify the chain: {e}"))
            }));
    }

    fn receive(&mut self) {
        if let Some(done) = self.loading.take_done() {
            self.loaded = true;
            match done.and_then(|r| r) {
                Ok(rows) => {
                    self.rows = rows;
                    self.error = None;
                }
                Err(e) => self.error = Some(e),
            }
        }
        if let Some(done) = self.detail_job.take_done() {
            match done.and_then(|r| r) {
                Ok(d) => self.detail = Some(d),
                Err(e) => self.error = Some(e),
            }
        }
        if let Some(done) = self.chain_job.take_done() {
            self.chain = Some(done.and_then(|r| r));
        }
        if let Some(done) = self.export_job.take_done() {
            self.export_message = Some(done.and_then(|r| r));
        }
    }

    pub fn ui(&mut self, ui: &mut Ui, link: Option<&StoreLink>) {
        self.receive();
        let Some(link) = link else {
            egui::CentralPanel::default().show(ui, |ui| {
                ui.label("The auditor view needs the case store, which is not open.");
            });
            return;
        };
        if !self.loaded && !self.loading.is_running() {
            self.refresh(ui.ctx(), link);
            self.verify_chain(ui.ctx(), link);
        }
        egui::Panel::top("auditor_chain").show(ui, |ui| self.chain_bar(ui, link));
        egui::Panel::left("auditor_runs")
            .default_size(430.0)
            .resizable(true)
            .show(ui, |ui| self.run_list(ui, link));
        egui::Panel::bottom("auditor_export").show(ui, |ui| self.export_bar(ui, link));
        egui::CentralPanel::default().show(ui, |ui| self.detail_view(ui));
    }

    fn chain_bar(&mut self, ui: &mut Ui, link: &StoreLink) {
        ui.horizontal_wrapped(|ui| {
            ui.label(format!(
                "Read-only review as {} ({})",
                link.session.name,
                link.session.roles_text()
            ));
            ui.separator();
            let busy = self.chain_job.is_running();
            if ui
                .add_enabled(!busy, egui::Button::new(VERIFY_CHAIN))
                .on_hover_text(
                    "Recompute every link of the audit chain and compare with the signed head",
                )
                .clicked()
            {
                self.verify_chain(ui.ctx(), link);
            }
            if busy {
                ui.spinner();
            }
            match &self.chain {
                Some(Ok(v)) if v.is_intact() => {
                    ui.colored_label(
                        egui::Color32::from_rgb(40, 150, 60),
                        format!(
                            "Audit chain intact: {} events, head at event {}",
                            v.events, v.last_seq
                        ),
                    );
                }
                Some(Ok(v)) => {
                    if let Some(b) = &v.first_break {
                        ui.colored_label(
                            ui.visuals().error_fg_color,
                            format!("Audit chain BROKEN at event {}: {b}", b.seq()),
                        );
                    }
                }
                Some(Err(e)) => {
                    ui.colored_label(ui.visuals().error_fg_color, e.as_str());
                }
                None => {}
            }
        });
    }

    fn run_list(&mut self, ui: &mut Ui, link: &StoreLink) {
        ui.heading("Runs");
        let f = &mut self.filter;
        egui::Grid::new("auditor_filters")
            .num_columns(2)
            .show(ui, |ui| {
                for (label, value, hint) in [
                    ("User:", &mut f.user, "who ran or signed"),
                    ("From:", &mut f.from, "YYYY-MM-DD"),
                    ("To:", &mut f.to, "YYYY-MM-DD"),
                    ("Engine:", &mut f.engine, "protocol, qwen…"),
                ] {
                    let l = ui.label(label);
                    ui.add(egui::TextEdit::singleline(value).hint_text(hint))
                        .labelled_by(l.id);
                    ui.end_row();
                }
                let l = ui.label("Band:");
                egui::ComboBox::from_id_salt("auditor_band")
                    .selected_text(if f.band.is_empty() {
                        "any"
                    } else {
                        f.band.as_str()
                    })
                    .show_ui(ui, |ui| {
                        for b in ["", "high", "intermediate", "low", "none"] {
                            ui.selectable_value(
                                &mut f.band,
                                b.to_string(),
                                if b.is_empty() { "any" } else { b },
                            );
                        }
                    })
                    .response
                    .labelled_by(l.id);
                ui.end_row();
                let l = ui.label("Decision:");
                egui::ComboBox::from_id_salt("auditor_decision")
                    .selected_text(format!("{:?}", f.decision).to_lowercase())
                    .show_ui(ui, |ui| {
                        for (d, name) in [
                            (DecisionChoice::Any, "any"),
                            (DecisionChoice::Agree, "agree"),
                            (DecisionChoice::Override, "override"),
                            (DecisionChoice::Unsigned, "unsigned"),
                        ] {
                            ui.selectable_value(&mut f.decision, d, name);
                        }
                    })
                    .response
                    .labelled_by(l.id);
                ui.end_row();
            });
        ui.checkbox(&mut f.flagged_only, "Only runs with contradicted claims");
        ui.horizontal(|ui| {
            if ui
                .add_enabled(!self.loading.is_running(), egui::Button::new("Refresh"))
                .clicked()
            {
                self.refresh(ui.ctx(), link);
            }
            if self.loading.is_running() {
                ui.spinner();
            }
        });
        if let Some(e) = &self.error {
            ui.colored_label(ui.visuals().error_fg_color, e.as_str());
        }
        ui.separator();
        let shown = match self.filter.apply(&self.rows) {
            Ok(rows) => rows,
            Err(e) => {
                ui.colored_label(ui.visuals().error_fg_color, e);
                return;
            }
        };
        ui.small(format!("{} of {} runs", shown.len(), self.rows.len()));
        let mut clicked = None;
        egui::ScrollArea::vertical().show(ui, |ui| {
            for row in shown {
                let signed = match row.signature() {
                    Some(d) => format!("signed by {} ({}, {})", d.signer, d.kind, d.meaning),
                    None => "unsigned".to_string(),
                };
                let text = format!(
                    "Run {} · case {} · {} · {} · {} · band {} · {}{}",
                    row.run.id,
                    row.run.case_id,
                    row.file_name,
                    row.engine,
                    row.run.status,
                    row.run.band.as_deref().unwrap_or("none"),
                    signed,
                    if row.contradicted > 0 {
                        format!(" · {} contradicted", row.contradicted)
                    } else {
                        String::new()
                    }
                );
                let selected = self.selected == Some(row.run.id);
                if ui.selectable_label(selected, text).clicked() {
                    clicked = Some(row.clone());
                }
            }
        });
        if let Some(row) = clicked {
            self.selected = Some(row.run.id);
            self.detail = None;
            let link = link.clone();
            self.detail_job.start(Job::spawn(
                ui.ctx(),
                "reading the run's history",
                move || load_detail(&link, row),
            ));
        }
    }

    fn detail_view(&self, ui: &mut Ui) {
        let Some(d) = &self.detail else {
            if self.detail_job.is_running() {
                ui.spinner();
            } else {
                ui.label("Select a run to review it.");
            }
            return;
        };
        let run = &d.row.run;
        ui.heading(format!("Run {} of case {}", run.id, run.case_id));
        ui.label(format!(
            "{} · task {} · {} · started {} by {} · finished {}",
            d.row.engine, run.task, run.status, run.started_at, run.created_by, run.finished_at
        ));
        if let Some(report) = &d.report {
            // The engine as stored with the run: family, precision (and quantisation), device and
            // the weights' SHA-256 (all of them on hover).
            ui.small(ecgr1_ui::assessment::engine_wording(report))
                .on_hover_text(ecgr1_ui::assessment::engine_details(report));
        }
        if let Some(e) = &run.error {
            ui.colored_label(ui.visuals().warn_fg_color, format!("Error: {e}"));
        }
        match (run.p_yes, &run.band) {
            (Some(p), Some(b)) => ui.label(format!("P(yes) = {p:.2}, band {b}")),
            _ => ui.label("No P(yes) (rule-based engine, or no answer)"),
        };
        if d.row.decisions.is_empty() {
            ui.label(RichText::new("Not signed").strong());
        }
        for dec in &d.row.decisions {
            ui.label(
                RichText::new(format!(
                    "Signed by {} at {} ({}): {} \"{}\"; reason: {}",
                    dec.signer, dec.signed_at, dec.meaning, dec.kind, dec.final_answer, dec.reason
                ))
                .strong(),
            );
        }
        ui.separator();
        ui.columns(2, |cols| {
            cols[0].strong("Raw output (exactly as the engine wrote it)");
            egui::ScrollArea::vertical()
                .id_salt("auditor_raw")
                .max_height(360.0)
                .show(&mut cols[0], |ui| {
                    ui.add(
                        egui::Label::new(RichText::new(run.raw_output.as_str()).monospace()).wrap(),
                    );
                });
            cols[1].strong("Parsed trace");
            egui::ScrollArea::vertical()
                .id_salt("auditor_parsed")
                .max_height(360.0)
                .show(&mut cols[1], |ui| match &d.report {
                    Some(report) => {
                        let steps = build_steps(&report.steps, &[]);
                        TraceView::new(&steps, "auditor_trace").show(ui);
                        ui.label(format!("Answer: {}", report.answer.join("; ")));
                        for issue in &report.parse_issues {
                            ui.colored_label(ui.visuals().warn_fg_color, issue.as_str());
                        }
                    }
                    None => {
                        ui.label("No parsed report is stored for this run.");
                    }
                });
        });
        ui.separator();
        let contradicted: Vec<_> = d.flags.contradicted().collect();
        ui.strong(format!(
            "Verifier flags as stored: {} claims, {} contradicted",
            d.flags.claims.len(),
            contradicted.len()
        ));
        for c in contradicted {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                format!(
                    "[{}] {} — measured {}; expected {}",
                    c.kind,
                    c.text,
                    c.measured.as_deref().unwrap_or("—"),
                    c.expected.as_deref().unwrap_or("—")
                ),
            );
        }
        ui.separator();
        egui::CollapsingHeader::new(format!(
            "Audit events of case {} ({})",
            run.case_id,
            d.events.len()
        ))
        .id_salt("auditor_events")
        .show(ui, |ui| {
            for e in &d.events {
                ui.small(format!(
                    "#{} {} {} ({}) {} {} {}",
                    e.seq,
                    e.at,
                    e.actor,
                    e.role,
                    e.action,
                    e.entity_type,
                    e.entity_id.as_deref().unwrap_or("")
                ));
            }
        });
    }

    fn export_bar(&mut self, ui: &mut Ui, link: &StoreLink) {
        ui.horizontal_wrapped(|ui| {
            let l = ui.label(format!("{EXPORT_PATH_FIELD}:"));
            ui.add(
                egui::TextEdit::singleline(&mut self.export_path)
                    .hint_text("path of the CSV or JSON file to write")
                    .desired_width(300.0),
            )
            .labelled_by(l.id);
            ui.radio_value(&mut self.export_format, ExportFormat::Csv, "CSV");
            ui.radio_value(&mut self.export_format, ExportFormat::Json, "JSON");
            ui.checkbox(&mut self.deidentified, "De-identified");
            let busy = self.export_job.is_running();
            if ui
                .add_enabled(!busy, egui::Button::new(EXPORT_BUTTON))
                .on_hover_text("Write the audit events matching the user and date filters (the export is itself audited)")
                .clicked()
            {
                self.start_export(ui.ctx(), link);
            }
            match &self.export_message {
                Some(Ok(m)) => {
                    ui.label(m.as_str());
                }
                Some(Err(e)) => {
                    ui.colored_label(ui.visuals().error_fg_color, e.as_str());
                }
                None => {}
            }
        });
    }

    fn start_export(&mut self, ctx: &egui::Context, link: &StoreLink) {
        let path = std::path::PathBuf::from(self.export_path.trim());
        if path.as_os_str().is_empty() {
            self.export_message = Some(Err("name the export file first".into()));
            return;
        }
        let bound = |text: &str, b: Bound| {
            let t = text.trim();
            (!t.is_empty()).then(|| parse_bound(t, b)).transpose()
        };
        let filter = match (
            bound(&self.filter.from, Bound::Start),
            bound(&self.filter.to, Bound::End),
        ) {
            (Ok(from), Ok(to)) => HistoryFilter {
                case_id: None,
                user: Some(self.filter.user.trim().to_string()).filter(|u| !u.is_empty()),
                from,
                to,
            },
            (Err(e), _) | (_, Err(e)) => {
                self.export_message = Some(Err(e));
                return;
            }
        };
        let (format, deidentified, link) = (self.export_format, self.deidentified, link.clone());
        self.export_message = None;
        self.export_job
            .start(Job::spawn(ctx, "exporting the history", move || {
                export_history(&link, &filter, format, deidentified, &path)
            }));
    }
}
