//! The "Export to record (HL7 / FHIR)" action: the signed result of the shown run, as an HL7
//! v2.5.1 ORU^R01 message or a FHIR R4 Bundle ([`crate::record_export`]), written to a file
//! the clinician names, on a worker thread. An unsigned run is refused before anything runs.

use std::path::PathBuf;

use egui::Ui;

use super::super::jobs::{Job, JobSlot};
use super::super::link::StoreLink;
use crate::record_export::{ExportOptions, RecordFormat, export_for_record};

/// Label of the button that writes the export.
pub const RECORD_BUTTON: &str = "Export to record (HL7 / FHIR)";
/// Label of the path field.
pub const RECORD_PATH_FIELD: &str = "Record export file";
/// Labels of the two formats.
pub const HL7_CHOICE: &str = "HL7 v2.5.1 ORU^R01";
pub const FHIR_CHOICE: &str = "FHIR R4 Bundle";

/// Why an unsigned run is not sent (the library says the same when asked directly).
pub fn unsigned_refusal(run_id: i64) -> String {
    format!(
        "Run {run_id} is not signed: only a signed run can be exported to the patient's record. \
         Sign the decision first."
    )
}

pub struct RecordExport {
    format: RecordFormat,
    path: String,
    /// The run and format `path` was proposed for (a new run or format gets a new proposal,
    /// unless the clinician typed their own).
    proposed_for: Option<(i64, RecordFormat)>,
    placer_order: String,
    job: JobSlot<Result<String, String>>,
    message: Option<Result<String, String>>,
}

impl Default for RecordExport {
    fn default() -> Self {
        Self {
            format: RecordFormat::Hl7V2,
            path: String::new(),
            proposed_for: None,
            placer_order: String::new(),
            job: JobSlot::default(),
            message: None,
        }
    }
}

fn default_path(run_id: i64, format: RecordFormat) -> PathBuf {
    let dir = dirs::document_dir()
        .or_else(dirs::home_dir)
        .unwrap_or_else(|| PathBuf::from("."));
    let ext = match format {
        RecordFormat::Hl7V2 => "hl7",
        RecordFormat::FhirR4 => "fhir.json",
    };
    dir.join(format!("ecgr1-run-{run_id}.{ext}"))
}

impl RecordExport {
    #[cfg(test)]
    pub fn is_running(&self) -> bool {
        self.job.is_running()
    }

    /// The outcome of the last export, once known: `Ok(summary)` or `Err(reason)`.
    #[cfg(test)]
    pub fn message(&self) -> Option<&Result<String, String>> {
        self.message.as_ref()
    }

    pub fn ui(&mut self, ui: &mut Ui, run_id: Option<i64>, signed: bool, link: Option<&StoreLink>) {
        if let Some(done) = self.job.take_done() {
            self.message = Some(done.and_then(|r| r));
        }
        ui.strong("Patient record");
        let (Some(run_id), Some(link)) = (run_id, link) else {
            ui.label(
                "An export to the record needs a stored, signed run: this run was not stored.",
            );
            return;
        };
        if self.proposed_for.map(|(r, _)| r) != Some(run_id) {
            self.message = None;
        }
        if self.proposed_for != Some((run_id, self.format)) {
            self.path = default_path(run_id, self.format).display().to_string();
            self.proposed_for = Some((run_id, self.format));
        }
        ui.horizontal(|ui| {
            ui.radio_value(&mut self.format, RecordFormat::Hl7V2, HL7_CHOICE);
            ui.radio_value(&mut self.format, RecordFormat::FhirR4, FHIR_CHOICE);
        });
        ui.horizontal(|ui| {
            let label = ui.label(format!("{RECORD_PATH_FIELD}:"));
            ui.add(egui::TextEdit::singleline(&mut self.path).desired_width(320.0))
                .labelled_by(label.id);
        });
        ui.horizontal(|ui| {
            let label = ui.label("Order number (optional):");
            ui.add(egui::TextEdit::singleline(&mut self.placer_order).desired_width(160.0))
                .labelled_by(label.id);
        });
        if !signed {
            ui.small("Only a signed run can be exported to the patient's record.");
        }
        ui.horizontal(|ui| {
            let busy = self.job.is_running();
            let clicked = ui
                .add_enabled(!busy, egui::Button::new(RECORD_BUTTON))
                .on_hover_text(
                    "The measurements (LOINC codes, UCUM units), the engine's statements, the \
                     signed decision, the engine identity and the PDF report, for the hospital's \
                     record system",
                )
                .clicked();
            if clicked {
                if signed {
                    self.start(ui.ctx(), link, run_id);
                } else {
                    self.message = Some(Err(unsigned_refusal(run_id)));
                }
            }
            if busy {
                ui.spinner();
                ui.label("writing the export…");
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
            self.message = Some(Err("name the export file first".into()));
            return;
        }
        let link = link.clone();
        let format = self.format;
        let options = ExportOptions {
            generated_at: None,
            placer_order: Some(self.placer_order.trim().to_string()).filter(|p| !p.is_empty()),
        };
        self.message = None;
        self.job.start(Job::spawn(
            ctx,
            "writing the export to the record",
            move || {
                let export =
                    export_for_record(link.store.as_ref(), &link.session, run_id, format, &options)
                        .map_err(|e| format!("cannot export run {run_id}: {e:#}"))?;
                std::fs::write(&path, &export.bytes)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                Ok(format!(
                    "Exported to {} ({}, {} measurements, signed by {}).",
                    path.display(),
                    format.name(),
                    export.measured,
                    export.signer
                ))
            },
        ));
    }
}
