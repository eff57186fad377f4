//! The "Report" action: the clinical PDF of the shown run ([`crate::report_pdf`]) written to a
//! file the clinician names, on a worker thread.

use std::path::PathBuf;

use egui::Ui;

use super::super::jobs::{Job, JobSlot};
use super::super::link::StoreLink;
use crate::report_pdf::{ReportOptions, build_report_pdf};

/// Label of the button that writes the report.
pub const REPORT_BUTTON: &str = "Save report PDF";
/// Label of the path field.
pub const REPORT_PATH_FIELD: &str = "Report file";

#[derive(Default)]
pub struct ReportExport {
    path: String,
    /// The run `path` was proposed for (a new run gets a new proposal).
    proposed_for: Option<i64>,
    deidentified: bool,
    job: JobSlot<Result<String, String>>,
    message: Option<Result<String, String>>,
}

/// Where a run's report goes unless the clinician says otherwise.
fn default_path(run_id: i64) -> PathBuf {
    let dir = dirs::document_dir()
        .or_else(dirs::home_dir)
        .unwrap_or_else(|| PathBuf::from("."));
    dir.join(format!("ecgr1-run-{run_id}.pdf"))
}

impl ReportExport {
    #[cfg(test)]
    pub fn is_running(&self) -> bool {
        self.job.is_running()
    }

    /// The outcome of the last save, once known: `Ok(summary)` or `Err(reason)`.
    #[cfg(test)]
    pub fn message(&self) -> Option<&Result<String, String>> {
        self.message.as_ref()
    }

    pub fn ui(&mut self, ui: &mut Ui, run_id: Option<i64>, link: Option<&StoreLink>) {
        if let Some(done) = self.job.take_done() {
            self.message = Some(done.and_then(|r| r));
        }
        ui.strong("Report");
        let (Some(run_id), Some(link)) = (run_id, link) else {
            ui.label("A report needs a stored run: this run was not stored.");
            return;
        };
        if self.proposed_for != Some(run_id) {
            self.path = default_path(run_id).display().to_string();
            self.proposed_for = Some(run_id);
            self.message = None;
        }
        ui.horizontal(|ui| {
            let label = ui.label(format!("{REPORT_PATH_FIELD}:"));
            ui.add(egui::TextEdit::singleline(&mut self.path).desired_width(320.0))
                .labelled_by(label.id);
        });
        ui.checkbox(
            &mut self.deidentified,
            "De-identified (no patient identity, no notes)",
        );
        ui.horizontal(|ui| {
            let busy = self.job.is_running();
            let clicked = ui
                .add_enabled(!busy, egui::Button::new(REPORT_BUTTON))
                .on_hover_text(
                    "The ECG on paper, measurements, the AI assessment, the verifier summary, \
                     decisions and signatures, engine identity and the standing notice, as PDF",
                )
                .clicked();
            if clicked {
                self.start(ui.ctx(), link, run_id);
            }
            if busy {
                ui.spinner();
                ui.label("writing the report…");
            }
        });
        match &self.message {
            Some(Ok(m)) => {
                ui.label(m.as_str());
            }
            Some(Err(e)) => {
                ui.colored_label(ui.visuals().error_fg_color, e.as_str());
            }
            None => {}
        }
    }

    fn start(&mut self, ctx: &egui::Context, link: &StoreLink, run_id: i64) {
        let path = PathBuf::from(self.path.trim());
        if path.as_os_str().is_empty() {
            self.message = Some(Err("name the report file first".into()));
            return;
        }
        let link = link.clone();
        let options = ReportOptions {
            deidentified: self.deidentified,
            generated_at: None,
        };
        self.message = None;
        self.job
            .start(Job::spawn(ctx, "writing the report", move || {
                let pdf = build_report_pdf(link.store.as_ref(), &link.session, run_id, &options)
                    .map_err(|e| format!("cannot make the report of run {run_id}: {e:#}"))?;
                std::fs::write(&path, &pdf.bytes)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                Ok(format!("Wrote {} ({} pages).", path.display(), pdf.pages))
            }));
    }
}
