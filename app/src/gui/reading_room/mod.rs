//! The reading room: a cardiologist picks a case from the worklist (or opens a file, or reads
//! the bundled sample), reads it on ECG paper beside its measurements, writes the history
//! notes, runs an engine and watches its trace arrive, checks the verifier's findings, and
//! signs a decision.
//!
//! Files, measurements, engine runs and store queries all run on worker threads
//! ([`super::jobs`], [`run::ActiveRun`]); the frame loop only polls.

pub(crate) mod compare;
pub(crate) mod decision;
mod digitised;
#[cfg(test)]
mod digitised_tests;
pub(crate) mod document;
mod evidence;
mod notes;
mod record_export;
#[cfg(test)]
mod record_export_tests;
#[cfg(test)]
mod remote_tests;
mod report_export;
pub mod run;
mod run_panel;
mod shown;
#[cfg(test)]
pub(crate) mod tests;
mod worklist;

use std::path::PathBuf;

use ecgr1_engine::EcgRecord;
use ecgr1_engine::display_filter::DisplayFilters;
use ecgr1_engine::formats::{EcgInput, LoadOptions};
use ecgr1_ui::measurements_table::{cart_values, measurements_table};
use ecgr1_ui::paper::Caliper;
use ecgr1_ui::{EcgPaperView, PaperOverlay, PaperSettings, paper_toolbar};
use egui::{Key, KeyboardShortcut, Modifiers, Ui};

use super::jobs::{Job, JobSlot};
use super::link::StoreLink;
use crate::store::{NoteVersion, PriorCase};
use decision::DecisionForm;
use document::{Document, Origin, open_file, open_sample, open_stored};
pub use document::{SAMPLE_FILES, samples_dir};
use notes::NotesEditor;
use record_export::RecordExport;
use report_export::ReportExport;
pub use run::RunSettings;
use run::{ActiveRun, EngineChoice, RunInput};
use shown::ShownRun;
use worklist::Worklist;

pub const OPEN_SHORTCUT: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::O);
pub const RUN_SHORTCUT: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::R);
pub const NEXT_SHORTCUT: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::N);

/// Points the centre needs above and around the page besides the page itself (the caliper
/// line, the scroll area's margins), when the trace is sized to the space the page leaves.
const PAPER_CHROME: f32 = 48.0;
/// Label of the run button.
pub const RUN_BUTTON: &str = "Run engine";
/// Label of the cancel button.
pub const CANCEL_BUTTON: &str = "Cancel run";

/// A stored case's runs (each with its decisions, its trace checked again) and notes.
struct CaseData {
    runs: Vec<ShownRun>,
    notes: Vec<NoteVersion>,
}

/// What opening produced, sent back from the worker.
struct Opened {
    doc: Document,
    case: Option<CaseData>,
    /// The same patient's earlier case, offered for comparison.
    prior: Option<PriorCase>,
}

/// Reads a stored case: its input, runs, decisions and notes.
fn open_case(link: &StoreLink, case_id: i64) -> Result<Opened, String> {
    let (store, session) = (&link.store, &link.session);
    let input = store
        .case_input(session, case_id)
        .map_err(|e| e.to_string())?;
    let stored_runs = store
        .case_runs(session, case_id)
        .map_err(|e| e.to_string())?;
    let doc = open_stored(
        case_id,
        &input.format,
        &input.file_name,
        input.bytes,
        &stored_runs,
    )?;
    let measurements = doc.measurements.as_ref().ok();
    let runs = stored_runs
        .into_iter()
        .map(|r| {
            let decisions = store.decisions(session, r.id).map_err(|e| e.to_string())?;
            Ok(ShownRun::from_record(
                &r,
                decisions,
                measurements.map(AsRef::as_ref),
            ))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let notes = store.notes(session, case_id).map_err(|e| e.to_string())?;
    // A trainer is never told that two cases are one patient's (not even by a refusal).
    let prior = if compare::may_look_up(link) {
        store
            .prior_case(session, case_id)
            .map_err(|e| e.to_string())?
    } else {
        None
    };
    Ok(Opened {
        doc,
        case: Some(CaseData { runs, notes }),
        prior,
    })
}

pub struct ReadingRoom {
    settings: PaperSettings,
    doc: Option<Document>,
    texture: Option<egui::TextureHandle>,
    path_text: String,
    error: Option<String>,
    opening: JobSlot<Result<Opened, String>>,
    file_dialog: JobSlot<Option<PathBuf>>,
    folder_dialog: JobSlot<Option<PathBuf>>,
    worklist: Worklist,
    notes: NotesEditor,
    run_settings: RunSettings,
    active: Option<ActiveRun>,
    /// The open case's runs (a run just finished is added last).
    runs: Vec<ShownRun>,
    shown: usize,
    decision: DecisionForm,
    report_export: ReportExport,
    record_export: RecordExport,
    overlay: PaperOverlay,
    /// Set at a start without a file: the sample is shown until the worklist arrives, and
    /// replaced by the newest stored case when the store has cases (and the user has not
    /// opened or run anything meanwhile).
    newest_case_pending: bool,
    /// The case open at the last start, reopened in place of the newest.
    preferred_case: Option<i64>,
    /// The display-filtered copy of the open record, with the filters it was made with.
    filtered: Option<(DisplayFilters, EcgRecord)>,
    caliper: Option<Caliper>,
    compare: compare::CompareState,
    /// An image's digitisation: layers drawn, corrections, a re-digitisation in progress.
    digitise: digitised::DigitiseState,
    /// How opened files are read (the window's `--units`, `--sample-rate`).
    load_options: LoadOptions,
    /// A patient identifier typed for a file that carries none: the case is stored under it,
    /// so this patient's later ECGs are compared with this one.
    patient_id: String,
}

impl ReadingRoom {
    /// A reading room that reads the files it opens with `load_options`.
    pub fn new(ctx: &egui::Context, file: Option<PathBuf>, load_options: LoadOptions) -> Self {
        let mut room = Self {
            load_options,
            patient_id: String::new(),
            settings: PaperSettings::default(),
            doc: None,
            texture: None,
            path_text: file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            error: None,
            opening: JobSlot::default(),
            file_dialog: JobSlot::default(),
            folder_dialog: JobSlot::default(),
            worklist: Worklist::default(),
            notes: NotesEditor::default(),
            run_settings: RunSettings::default(),
            active: None,
            runs: Vec::new(),
            shown: 0,
            decision: DecisionForm::default(),
            report_export: ReportExport::default(),
            record_export: RecordExport::default(),
            overlay: PaperOverlay::default(),
            newest_case_pending: false,
            preferred_case: None,
            filtered: None,
            caliper: None,
            compare: compare::CompareState::default(),
            digitise: digitised::DigitiseState::default(),
        };
        if let Some(path) = file {
            room.open_path(ctx, path);
        } else {
            room.open_the_sample(ctx);
            room.newest_case_pending = true;
        }
        room
    }

    pub fn paper_settings(&self) -> &PaperSettings {
        &self.settings
    }

    pub fn set_paper_settings(&mut self, settings: PaperSettings) {
        self.settings = settings;
    }

    /// Opens this stored case (instead of the newest) once the worklist has arrived, if it
    /// is still in the store.
    pub fn prefer_case(&mut self, case_id: i64) {
        self.preferred_case = Some(case_id);
    }

    /// What is open, for the window to reopen at the next start (the sample and the
    /// synthetic signal are not remembered).
    pub fn open_item(&self) -> Option<crate::gui::settings::OpenItem> {
        use crate::gui::settings::OpenItem;
        match &self.doc.as_ref()?.origin {
            Origin::Case(id) => Some(OpenItem::Case(*id)),
            Origin::File(p) => Some(OpenItem::File(p.clone())),
            Origin::Sample(_) | Origin::Synthetic(_) => None,
        }
    }

    /// The run panel's settings, for the window to keep between starts.
    pub fn run_settings(&self) -> &RunSettings {
        &self.run_settings
    }

    pub fn set_run_settings(&mut self, settings: RunSettings) {
        self.run_settings = settings;
    }

    /// Whether an ECG signal is open (and so drawn on the paper at the next frame).
    pub fn shows_signal(&self) -> bool {
        self.doc.as_ref().is_some_and(|d| d.record().is_some())
    }

    /// Whether a file or case is being read.
    pub fn is_busy(&self) -> bool {
        self.opening.is_running()
    }

    /// Whether an engine run is in progress.
    pub fn is_running(&self) -> bool {
        self.active.is_some()
    }

    #[cfg(test)]
    fn shown_run(&self) -> Option<&ShownRun> {
        self.runs.get(self.shown)
    }

    #[cfg(test)]
    fn active_run(&self) -> Option<&ActiveRun> {
        self.active.as_ref()
    }

    /// Opening another ECG while a run is in progress would attach its result to the wrong
    /// ECG, so it is refused with the reason.
    fn may_open(&mut self) -> bool {
        self.newest_case_pending = false;
        if self.decision.is_signing() {
            self.error = Some("a decision is being signed: wait a moment".into());
            return false;
        }
        if self.active.is_some() {
            self.error = Some(
                "a run is in progress: wait for it or cancel it before opening another ECG".into(),
            );
            return false;
        }
        true
    }

    fn open_path(&mut self, ctx: &egui::Context, path: PathBuf) {
        if !self.may_open() {
            return;
        }
        self.path_text = path.display().to_string();
        let options = self.load_options.clone();
        self.opening.start(Job::spawn(
            ctx,
            format!("reading {}", path.display()),
            move || {
                open_file(&path, Origin::File(path.clone()), &options).map(|doc| Opened {
                    doc,
                    case: None,
                    prior: None,
                })
            },
        ));
    }

    fn open_the_sample(&mut self, ctx: &egui::Context) {
        if !self.may_open() {
            return;
        }
        self.opening
            .start(Job::spawn(ctx, "reading the bundled sample", || {
                open_sample().map(|doc| Opened {
                    doc,
                    case: None,
                    prior: None,
                })
            }));
    }

    fn open_stored_case(&mut self, ctx: &egui::Context, link: &StoreLink, case_id: i64) {
        if !self.may_open() {
            return;
        }
        let link = link.clone();
        self.opening.start(Job::spawn(
            ctx,
            format!("opening case {case_id}"),
            move || open_case(&link, case_id),
        ));
    }

    fn receive(&mut self, ctx: &egui::Context, link: Option<&StoreLink>) {
        if let Some(done) = self.opening.take_done() {
            match done.and_then(|r| r) {
                Ok(opened) => self.show(opened),
                Err(e) => self.error = Some(e),
            }
        }
        if let Some(Ok(Some(path))) = self.file_dialog.take_done() {
            self.open_path(ctx, path);
        }
        if let Some(Ok(Some(dir))) = self.folder_dialog.take_done() {
            self.run_settings.checkpoint = dir.display().to_string();
        }
        if let Some(active) = &mut self.active
            && let Some(done) = active.poll()
        {
            self.active = None;
            let (shown, case_id) = ShownRun::from_done(done);
            if let (Some(case_id), Some(doc)) = (case_id, &mut self.doc) {
                if doc.case_id().is_none() {
                    // The run created the case: later runs and notes go to it.
                    doc.origin = Origin::Case(case_id);
                    if let Some(link) = link {
                        self.notes.reload(ctx, link, case_id);
                    }
                }
                self.worklist.mark_stale();
            }
            self.runs.push(shown);
            self.shown = self.runs.len() - 1;
            self.decision.reset();
        }
        if self.digitise.receive(self.doc.as_mut())
            && let Some(doc) = &self.doc
        {
            // The beats and delineation of the new reading.
            self.overlay.beats = doc.beat_marks();
            self.overlay.fiducials = doc.fiducials();
        }
        self.compare.receive();
        self.notes
            .receive(self.doc.as_ref().and_then(Document::case_id));
        if self.decision.receive(self.runs.get_mut(self.shown)) {
            self.worklist.mark_stale();
        }
    }

    fn show(&mut self, opened: Opened) {
        self.error = None;
        self.filtered = None;
        self.caliper = None;
        self.texture = None;
        self.path_text = match &opened.doc.origin {
            Origin::File(p) | Origin::Sample(p) => p.display().to_string(),
            Origin::Case(id) => format!("case {id}: {}", opened.doc.file_name()),
            Origin::Synthetic(_) => String::new(),
        };
        self.overlay = PaperOverlay {
            beats: opened.doc.beat_marks(),
            fiducials: opened.doc.fiducials(),
            highlights: Vec::new(),
        };
        self.compare.reset(opened.prior);
        if let Some(case) = opened.case {
            self.notes.set_versions(case.notes);
            self.runs = case.runs;
        } else {
            self.notes.clear();
            self.runs.clear();
        }
        self.shown = self.runs.len().saturating_sub(1);
        self.decision.reset();
        self.digitise.reset(&opened.doc);
        self.doc = Some(opened.doc);
    }

    fn start_run(&mut self, ctx: &egui::Context, link: Option<&StoreLink>) {
        self.newest_case_pending = false;
        let Some(doc) = &self.doc else { return };
        if self.active.is_some() {
            return;
        }
        let input = match &*doc.input {
            EcgInput::Signal(s)
                if doc.case_id().is_none()
                    && s.patient.id.is_none()
                    && !self.patient_id.trim().is_empty() =>
            {
                let mut s = s.clone();
                s.patient.id = Some(self.patient_id.trim().to_string());
                std::sync::Arc::new(EcgInput::Signal(s))
            }
            _ => doc.input.clone(),
        };
        self.active = Some(ActiveRun::start(
            ctx,
            RunInput {
                settings: self.run_settings.clone(),
                notes: self.notes.text.clone(),
                input,
                bytes: doc.bytes.clone(),
                link: link.cloned(),
                case_id: doc.case_id(),
                comparison: self.compare.comparison(),
                digitised: doc.digitisation().cloned(),
            },
        ));
    }

    fn can_run(&self) -> Result<(), &'static str> {
        if self.doc.is_none() {
            return Err("open an ECG first");
        }
        if self.active.is_some() {
            return Err("a run is in progress");
        }
        if self.opening.is_running() {
            return Err("an ECG is being opened");
        }
        if self.digitise.is_running() {
            return Err("the image is being digitised again");
        }
        if self.run_settings.engine == EngineChoice::Local
            && self.run_settings.checkpoint.trim().is_empty()
        {
            return Err("choose the checkpoint directory of the local model first");
        }
        if self.run_settings.engine == EngineChoice::Remote
            && self.run_settings.server.trim().is_empty()
        {
            return Err("enter the inference server's URL first");
        }
        Ok(())
    }

    fn pick_file(&mut self, ctx: &egui::Context) {
        if self.file_dialog.is_running() {
            return;
        }
        // The native dialog blocks its thread until the user answers: never the frame loop.
        self.file_dialog
            .start(Job::spawn(ctx, "choosing a file", || {
                rfd::FileDialog::new()
                    .set_title("Open an ECG")
                    .add_filter(
                        "ECG files",
                        &[
                            "hea", "dat", "edf", "dcm", "xml", "scp", "csv", "png", "jpg", "jpeg",
                        ],
                    )
                    .pick_file()
            }));
    }

    fn shortcuts(&mut self, ui: &Ui, link: Option<&StoreLink>) {
        let ctx = ui.ctx().clone();
        let typing = ctx.egui_wants_keyboard_input();
        let (open, run, next) = ctx.input_mut(|i| {
            (
                i.consume_shortcut(&OPEN_SHORTCUT),
                i.consume_shortcut(&RUN_SHORTCUT),
                i.consume_shortcut(&NEXT_SHORTCUT)
                    || (!typing && i.consume_key(Modifiers::NONE, Key::J)),
            )
        });
        if open {
            self.pick_file(&ctx);
        }
        if run && self.can_run().is_ok() {
            self.start_run(&ctx, link);
        }
        if next
            && let Some(link) = link
            && let Some(case) = self
                .worklist
                .next_case(self.doc.as_ref().and_then(Document::case_id))
        {
            self.open_stored_case(&ctx, link, case);
        }
        let dropped = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .find_map(|f| (!f.path().as_os_str().is_empty()).then(|| f.path().to_path_buf()))
        });
        if let Some(path) = dropped {
            self.open_path(&ctx, path);
        }
    }
}

impl ReadingRoom {
    fn file_bar(&mut self, ui: &mut Ui) {
        let ctx = ui.ctx().clone();
        ui.horizontal(|ui| {
            let busy = self.opening.is_running() || self.active.is_some();
            if ui
                .add_enabled(!busy, egui::Button::new("Open…"))
                .on_hover_text(format!(
                    "Open an ECG file with the system dialog ({}); you can also drop a file on the window",
                    ctx.format_shortcut(&OPEN_SHORTCUT)
                ))
                .clicked()
            {
                self.pick_file(&ctx);
            }
            let label = ui.label("File:");
            let edit = ui
                .add(
                    egui::TextEdit::singleline(&mut self.path_text)
                        .hint_text("path to an ECG file (WFDB, EDF, DICOM, aECG, CSV, PNG, JPEG)")
                        .desired_width(360.0),
                )
                .labelled_by(label.id);
            let enter = edit.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter));
            if ui
                .add_enabled(!busy, egui::Button::new("Open path"))
                .on_hover_text("Open the file named in the path field")
                .clicked()
                || (enter && !busy)
            {
                let path = PathBuf::from(self.path_text.trim());
                if path.as_os_str().is_empty() {
                    self.error = Some("type the path of an ECG file first".to_string());
                } else {
                    self.open_path(&ctx, path);
                }
            }
            if ui
                .add_enabled(!busy, egui::Button::new("Open sample"))
                .on_hover_text("Open the bundled sample ECG")
                .clicked()
            {
                self.open_the_sample(&ctx);
            }
            if let Some(label) = self.opening.label() {
                ui.spinner();
                ui.label(label);
            }
        });
    }

    fn status_bar(&self, ui: &mut Ui) {
        if let Some(e) = &self.error {
            ui.colored_label(ui.visuals().error_fg_color, format!("Error: {e}"));
        }
        let Some(doc) = &self.doc else { return };
        if let Origin::Synthetic(reasons) = &doc.origin {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                "Synthetic demo signal: no bundled sample file could be read.",
            )
            .on_hover_text(reasons.as_str());
        }
        match (doc.record(), &doc.image) {
            (Some(record), _) => {
                let leads: Vec<String> = record
                    .leads
                    .iter()
                    .map(|l| {
                        if l.derived {
                            format!("{}*", l.lead)
                        } else {
                            l.lead.to_string()
                        }
                    })
                    .collect();
                let sha = record.provenance.sha256.get(..12).unwrap_or("—");
                let patient = doc.patient().is_some_and(|p| !p.is_empty());
                ui.label(format!(
                    "{}  ·  {}  ·  {} Hz  ·  {:.1} s  ·  leads {}  ·  SHA-256 {sha}…{}",
                    record.provenance.file_name,
                    record.provenance.format,
                    record.sample_rate_hz,
                    record.duration_s(),
                    leads.join(" "),
                    if patient {
                        "  ·  patient data present (not shown)"
                    } else {
                        ""
                    }
                ));
                for note in &record.processing_notes {
                    ui.small(note);
                }
            }
            (None, Some(image)) => match doc.digitisation() {
                Some(d) => {
                    ui.label(format!(
                        "{}  ·  image {}×{} shown  ·  digitised: {} leads at {} Hz; the measurements read the digitised signal, a model reads the image",
                        doc.file_name(),
                        image.size[0],
                        image.size[1],
                        d.record.leads.len(),
                        d.record.sample_rate_hz
                    ));
                }
                None => {
                    ui.label(format!(
                        "{}  ·  image {}×{} shown  ·  not digitised: it can be read by the model, not measured",
                        doc.file_name(),
                        image.size[0],
                        image.size[1]
                    ));
                }
            },
            (None, None) => {}
        }
    }

    fn measurements_panel(&mut self, ui: &mut Ui) {
        let Some(doc) = &self.doc else { return };
        egui::CollapsingHeader::new("Measurements")
            .default_open(true)
            .show(ui, |ui| {
                match &doc.measurements {
                    Ok(m) => measurements_table(ui, m),
                    Err(why) => {
                        ui.label(format!("Not measured: {why}"));
                    }
                }
                if let Some(record) = doc.record() {
                    ui.separator();
                    cart_values(ui, &record.annotations);
                }
            });
        if let Some(options) = self.digitise.panel_ui(ui, doc) {
            self.digitise.start(ui.ctx(), doc, options);
        }
    }

    /// Draws the reading room into `ui`. `link` is the case store, once open.
    pub fn ui(&mut self, ui: &mut Ui, link: Option<&StoreLink>) {
        self.receive(&ui.ctx().clone(), link);
        self.shortcuts(ui, link);
        self.worklist.update(ui.ctx(), link);
        if self.newest_case_pending
            && self.worklist.loaded
            && !self.opening.is_running()
            && let Some(link) = link
        {
            // The sample is only for a store with no cases.
            let preferred = self
                .preferred_case
                .take()
                .filter(|id| self.worklist.rows.iter().any(|r| r.case_id == *id));
            if let Some(case) = preferred.or_else(|| self.worklist.rows.first().map(|r| r.case_id))
            {
                self.open_stored_case(ui.ctx(), link, case);
            }
            self.newest_case_pending = false;
        }

        egui::Panel::top("reading_room_file_bar").show(ui, |ui| {
            self.file_bar(ui);
            if self.doc.as_ref().is_some_and(|d| d.record().is_some()) {
                paper_toolbar(ui, &mut self.settings);
            }
        });
        egui::Panel::bottom("reading_room_status_bar").show(ui, |ui| self.status_bar(ui));
        let open_case = self.doc.as_ref().and_then(Document::case_id);
        let mut clicked = None;
        egui::Panel::left("reading_room_worklist")
            .resizable(true)
            .default_size(300.0)
            .show(ui, |ui| {
                clicked = self.worklist.ui(ui, link, open_case);
            });
        if let (Some(case), Some(link)) = (clicked, link) {
            self.open_stored_case(ui.ctx(), link, case);
        }
        let mut hovered = None;
        egui::Panel::right("reading_room_side")
            .resizable(true)
            .default_size(460.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    self.measurements_panel(ui);
                    ui.separator();
                    let signed = self.runs.iter().any(|r| r.signature().is_some());
                    let case_id = self.doc.as_ref().and_then(Document::case_id);
                    self.notes.ui(ui, link, case_id, signed);
                    ui.separator();
                    self.run_panel(ui, link);
                });
            });
        egui::CentralPanel::default().show(ui, |ui| {
            let current = self
                .doc
                .as_ref()
                .and_then(|d| d.measurements.as_ref().ok().cloned());
            self.compare.offer_ui(ui, link, current);
            // The trace and the AI assessment take the lower part of the centre, the ECG the
            // upper part, each as wide as the window allows.
            let trace_height = (ui.available_height() * 0.42).max(160.0);
            // In a narrow window the page, fitted to the width, is shorter than the part above
            // the trace: the trace takes at least what the page cannot use, so no gap opens
            // under the page.
            let page_height = self
                .compare
                .open
                .is_none()
                .then(|| self.doc.as_ref().and_then(Document::record))
                .flatten()
                .and_then(|r| {
                    EcgPaperView::new(r, &self.settings)
                        .natural_height(ui.ctx(), ui.available_width())
                });
            let min_trace = page_height.map_or(160.0, |page| {
                (ui.available_height() - page - PAPER_CHROME).max(160.0)
            });
            egui::Panel::bottom("reading_room_trace")
                .resizable(true)
                .default_size(trace_height.max(min_trace))
                .min_size(min_trace)
                .show(ui, |ui| {
                    egui::ScrollArea::vertical()
                        .id_salt("reading_room_trace_scroll")
                        .show(ui, |ui| {
                            hovered = self.result_panel(ui, link);
                        });
                });
            self.overlay.highlights = self.highlights(hovered);
            if let (Some(c), Some(doc)) = (&self.compare.open, &self.doc) {
                egui::ScrollArea::both().show(ui, |ui| {
                    compare::compare_view(ui, c, doc, &self.settings);
                });
            } else {
                self.paper(ui);
            }
        });
    }

    fn paper(&mut self, ui: &mut Ui) {
        let Some(doc) = &self.doc else {
            if !self.opening.is_running() {
                ui.label("Open an ECG file to begin.");
            }
            return;
        };
        if let Some(record) = doc.record() {
            let filters = self.settings.filters;
            let shown = if filters.any() {
                // The filtered copy is for the screen only, made once per document and
                // filter set (about a millisecond per 10 s, 12-lead record).
                if self.filtered.as_ref().is_none_or(|(f, _)| *f != filters) {
                    self.filtered = Some((filters, filters.apply(record)));
                }
                self.filtered.as_ref().map_or(record, |(_, r)| r)
            } else {
                record
            };
            if let Some(c) = &self.caliper {
                ui.label(format!("Caliper: {}", c.reading()));
            }
            let height = ui.available_height();
            egui::ScrollArea::both().show(ui, |ui| {
                ui.add(
                    EcgPaperView::new(shown, &self.settings)
                        .fit_within_height(height)
                        .overlay(&self.overlay)
                        .caliper(&mut self.caliper),
                );
            });
        } else if let Some(image) = &doc.image {
            let name = doc.file_name().to_string();
            let tex = self.texture.get_or_insert_with(|| {
                let pixels = egui::ColorImage::from_rgb(image.size, &image.pixels);
                ui.ctx()
                    .load_texture(name.clone(), pixels, egui::TextureOptions::LINEAR)
            });
            if doc.digitisation().is_some() {
                ui.label(
                    "Image input: the measurements read the signal digitised from it (drawn over it); the model engine reads the image.",
                );
            } else {
                ui.label(
                    "Image input: shown as it is. It could not be digitised, so it cannot be measured; the model engine can read it.",
                );
            }
            self.digitise.toggles_ui(ui, doc);
            egui::ScrollArea::both().show(ui, |ui| {
                let width = ui.available_width() * self.settings.zoom;
                self.digitise.page_ui(ui, doc, tex, width);
            });
        }
    }
}
