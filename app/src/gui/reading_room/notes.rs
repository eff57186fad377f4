//! The patient history notes: typed before a run (they go to the engine and become the case's
//! first version when the run is stored), then saved as new versions; earlier versions are
//! listed with their author and time. Read-only once the case is signed.

use egui::Ui;

use super::super::jobs::{Job, JobSlot};
use super::super::link::StoreLink;
use crate::store::NoteVersion;

/// Label of the notes field.
pub const NOTES_FIELD: &str = "Patient history notes";
/// Label of the save button.
pub const SAVE_NOTES: &str = "Save notes version";

#[derive(Default)]
pub struct NotesEditor {
    pub text: String,
    pub versions: Vec<NoteVersion>,
    saving: JobSlot<Result<Vec<NoteVersion>, String>>,
    /// The case the job in `saving` is about: its answer is dropped if another case is open.
    saving_for: Option<i64>,
    pub error: Option<String>,
}

impl NotesEditor {
    /// Shows a case's stored versions (the latest becomes the editable text).
    pub fn set_versions(&mut self, versions: Vec<NoteVersion>) {
        self.text = versions.last().map(|v| v.text.clone()).unwrap_or_default();
        self.versions = versions;
        self.error = None;
    }

    pub fn clear(&mut self) {
        self.set_versions(Vec::new());
    }

    fn latest(&self) -> &str {
        self.versions.last().map_or("", |v| v.text.as_str())
    }

    /// Re-reads a case's versions (after a run stored the notes as its first version).
    pub fn reload(&mut self, ctx: &egui::Context, link: &StoreLink, case_id: i64) {
        self.saving_for = Some(case_id);
        let link = link.clone();
        self.saving
            .start(Job::spawn(ctx, "reading the notes", move || {
                link.store
                    .notes(&link.session, case_id)
                    .map_err(|e| e.to_string())
            }));
    }

    /// Takes a finished save or reload for `open_case` (the case now shown).
    pub fn receive(&mut self, open_case: Option<i64>) {
        if let Some(done) = self.saving.take_done() {
            if self.saving_for != open_case {
                return;
            }
            match done.and_then(|r| r) {
                Ok(versions) => self.set_versions(versions),
                Err(e) => self.error = Some(e),
            }
        }
    }

    /// Draws the editor. `case_id` is the stored case (saving needs one); `read_only` when
    /// the case is signed.
    pub fn ui(
        &mut self,
        ui: &mut Ui,
        link: Option<&StoreLink>,
        case_id: Option<i64>,
        read_only: bool,
    ) {
        let label = ui.label(format!("{NOTES_FIELD}:"));
        ui.add_enabled(
            !read_only,
            egui::TextEdit::multiline(&mut self.text)
                .desired_rows(3)
                .desired_width(f32::INFINITY)
                .hint_text("history, symptoms, medication (e.g. chest pain, on digoxin)"),
        )
        .labelled_by(label.id)
        .on_disabled_hover_text("The case is signed: its notes are read-only");
        match (case_id, link) {
            (Some(case_id), Some(link)) if !read_only => {
                let changed = self.text.trim() != self.latest().trim();
                let busy = self.saving.is_running();
                if ui
                    .add_enabled(changed && !busy, egui::Button::new(SAVE_NOTES))
                    .on_hover_text("Store the notes as a new version (earlier versions are kept)")
                    .on_disabled_hover_text("Edit the notes to save a new version")
                    .clicked()
                {
                    self.saving_for = Some(case_id);
                    let link = link.clone();
                    let text = self.text.clone();
                    self.saving
                        .start(Job::spawn(ui.ctx(), "saving the notes", move || {
                            link.store
                                .add_note(&link.session, case_id, &text)
                                .and_then(|_| link.store.notes(&link.session, case_id))
                                .map_err(|e| e.to_string())
                        }));
                }
            }
            (None, _) => {
                ui.small(
                    "The notes go to the engine and are stored with the case when you run it.",
                );
            }
            _ => {}
        }
        if let Some(e) = &self.error {
            ui.colored_label(ui.visuals().error_fg_color, e.as_str());
        }
        if !self.versions.is_empty() {
            egui::CollapsingHeader::new(format!("Earlier versions ({})", self.versions.len()))
                .id_salt("notes_versions")
                .show(ui, |ui| {
                    for v in self.versions.iter().rev() {
                        ui.label(format!(
                            "Version {} by {} at {}",
                            v.version, v.author, v.created_at
                        ));
                        ui.small(&v.text);
                        ui.separator();
                    }
                });
        }
    }
}
