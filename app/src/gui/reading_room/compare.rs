//! "Compare with prior": the open case beside the same patient's earlier ECG. The store links
//! the two through the identifier in its identity table ([`crate::store::CaseStore::prior_case`]);
//! this view reads the prior case's stored input, measures it, compares the measurements and
//! draws both tracings with the same layout, gain and speed, lead under lead, above the delta
//! table. A run started while the comparison is open is given it, so the protocol engine's
//! trace says what changed and the verifier checks any engine's serial claims.

use std::sync::Arc;

use ecgr1_engine::features::Measurements;
use ecgr1_engine::serial::{PriorEcg, SerialComparison, compare};
use ecgr1_ui::serial_table::serial_table;
use ecgr1_ui::{EcgPaperView, PaperSettings};
use egui::Ui;

use super::document::{Document, open_stored};
use crate::gui::jobs::{Job, JobSlot};
use crate::gui::link::StoreLink;
use crate::store::{PriorCase, Role};

/// Label of the button that opens the comparison.
pub const COMPARE_BUTTON: &str = "Compare with prior";
/// Label of the button that closes it.
pub const CLOSE_COMPARE_BUTTON: &str = "Close comparison";

/// The prior ECG read and compared.
pub struct Comparing {
    pub prior_case: PriorCase,
    pub prior: Document,
    pub comparison: Arc<SerialComparison>,
}

/// How the trace names the prior case: its acquisition time, else the date it was stored.
fn label_of(prior: &PriorCase) -> String {
    prior
        .acquisition_time
        .clone()
        .unwrap_or_else(|| prior.created_at.clone())
}

/// Whether this user may be told of a prior case (never a trainer; see `prior_case`).
pub fn may_look_up(link: &StoreLink) -> bool {
    [Role::Cardiologist, Role::Auditor, Role::Admin]
        .iter()
        .any(|r| link.session.has(*r))
}

/// Reads the prior case and compares the current measurements with it (on a worker).
fn read_prior(
    link: &StoreLink,
    prior_case: PriorCase,
    current: &Measurements,
) -> Result<Comparing, String> {
    let input = link
        .store
        .case_input(&link.session, prior_case.case_id)
        .map_err(|e| e.to_string())?;
    // A prior page is measured as its own newest run read it (its corrections included).
    let prior_runs = link
        .store
        .case_runs(&link.session, prior_case.case_id)
        .map_err(|e| e.to_string())?;
    let prior = open_stored(
        prior_case.case_id,
        &input.format,
        &input.file_name,
        input.bytes,
        &prior_runs,
    )?;
    let prior_m = prior.measurements.as_ref().map_err(|why| {
        format!(
            "the prior ECG (case {}) cannot be measured: {why}",
            prior_case.case_id
        )
    })?;
    let comparison = compare(
        prior_m,
        current,
        PriorEcg {
            label: label_of(&prior_case),
            acquisition_time: prior_case.acquisition_time.clone(),
            sha256: input.sha256,
        },
    );
    Ok(Comparing {
        prior_case,
        prior,
        comparison: Arc::new(comparison),
    })
}

/// The comparison's state in the reading room.
#[derive(Default)]
pub struct CompareState {
    /// The patient's prior case, when the open case has one.
    pub offered: Option<PriorCase>,
    reading: JobSlot<Result<Comparing, String>>,
    pub open: Option<Comparing>,
    pub error: Option<String>,
}

impl CompareState {
    /// A new ECG is shown: forget the old comparison, offer `prior` if there is one.
    pub fn reset(&mut self, prior: Option<PriorCase>) {
        *self = Self {
            offered: prior,
            ..Self::default()
        };
    }

    pub fn comparison(&self) -> Option<Arc<SerialComparison>> {
        self.open.as_ref().map(|c| Arc::clone(&c.comparison))
    }

    pub fn receive(&mut self) {
        if let Some(done) = self.reading.take_done() {
            match done.and_then(|r| r) {
                Ok(c) => {
                    self.open = Some(c);
                    self.error = None;
                }
                Err(e) => self.error = Some(e),
            }
        }
    }

    fn start(&mut self, ctx: &egui::Context, link: &StoreLink, current: Arc<Measurements>) {
        let Some(prior) = self.offered.clone() else {
            return;
        };
        let link = link.clone();
        self.reading.start(Job::spawn(
            ctx,
            format!("reading the prior ECG (case {})", prior.case_id),
            move || read_prior(&link, prior, &current),
        ));
    }

    /// The offer ("Compare with prior: case 3 of …") with its button, or the close button.
    pub fn offer_ui(
        &mut self,
        ui: &mut Ui,
        link: Option<&StoreLink>,
        current: Option<Arc<Measurements>>,
    ) {
        let Some(prior) = self.offered.clone() else {
            return;
        };
        ui.horizontal(|ui| {
            if self.open.is_some() {
                if ui.button(CLOSE_COMPARE_BUTTON).clicked() {
                    self.open = None;
                }
                return;
            }
            ui.label(format!(
                "This patient has a prior ECG: case {} of {}.",
                prior.case_id,
                label_of(&prior)
            ));
            let ready = link.is_some() && current.is_some() && !self.reading.is_running();
            let button = ui
                .add_enabled(ready, egui::Button::new(COMPARE_BUTTON))
                .on_hover_text(
                    "Both tracings lead by lead with the same layout, gain and speed, and the changes in the measurements; a run started now says what changed",
                );
            if button.clicked()
                && let (Some(link), Some(current)) = (link, current)
            {
                self.start(ui.ctx(), link, current);
            }
            if let Some(label) = self.reading.label() {
                ui.spinner();
                ui.label(label);
            }
        });
        if let Some(e) = &self.error {
            ui.colored_label(ui.visuals().error_fg_color, format!("Comparison: {e}"));
        }
    }
}

/// Draws the comparison: the statement, the prior and the current tracing with the same
/// settings, then the delta table.
pub fn compare_view(ui: &mut Ui, c: &Comparing, current: &Document, settings: &PaperSettings) {
    ui.heading(format!(
        "Compared with the ECG of {} (case {})",
        c.comparison.prior.label, c.prior_case.case_id
    ));
    ui.label(c.comparison.statement());
    let (Some(prior), Some(now)) = (c.prior.record(), current.record()) else {
        ui.label("Both ECGs must be signals to be drawn side by side.");
        return;
    };
    // The same layout, gain and speed for both: one settings value drawn twice.
    let mut settings = settings.clone();
    settings.calipers = false;
    ui.strong(format!("Prior: {}", c.comparison.prior.label));
    ui.add(EcgPaperView::new(prior, &settings));
    ui.strong("Current");
    ui.add(EcgPaperView::new(now, &settings));
    ui.separator();
    serial_table(ui, &c.comparison);
}
