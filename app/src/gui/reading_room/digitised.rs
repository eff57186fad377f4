//! An image case in the reading room: the page with the digitiser's reading drawn over it
//! (toggled layers), the digitiser's report and per-lead confidence beside the measurements,
//! and the reader's corrections (a lead box, the gain, the speed), which digitise and measure
//! the page again on a worker thread.

use std::sync::Arc;

use ecgr1_engine::digitise::DigitiseOptions;
use ecgr1_engine::features::Measurements;
use ecgr1_engine::formats::EcgInput;
use ecgr1_ui::digitised_page::{
    CorrectionForm, DigitisedPageView, PageLayers, PageReading, correction_form,
    digitisation_table, layer_toggles,
};
use egui::Ui;

use super::super::jobs::{Job, JobSlot};
use super::document::{DigitisedPage, Document, digitise_page};

type Redigitised = (DigitisedPage, Result<Arc<Measurements>, String>);

/// The image view's state: which layers are drawn, the corrections being edited, and a
/// digitisation in progress.
#[derive(Default)]
pub struct DigitiseState {
    pub layers: PageLayers,
    pub form: CorrectionForm,
    job: JobSlot<Redigitised>,
    /// Why the last re-digitisation did not run or failed.
    pub error: Option<String>,
}

impl DigitiseState {
    /// A new document: its corrections start from what it was digitised with.
    pub fn reset(&mut self, doc: &Document) {
        self.form = CorrectionForm {
            options: doc
                .digitised
                .as_ref()
                .map(|p| p.options.clone())
                .unwrap_or_default(),
            editing: None,
        };
        self.error = None;
    }

    pub fn is_running(&self) -> bool {
        self.job.is_running()
    }

    /// Digitises the document's image again with `options`, and measures it again.
    pub fn start(&mut self, ctx: &egui::Context, doc: &Document, options: DigitiseOptions) {
        let input = doc.input.clone();
        self.error = None;
        self.job.start(Job::spawn(
            ctx,
            "digitising the image again",
            move || match &*input {
                EcgInput::Image(image) => digitise_page(image, options),
                EcgInput::Signal(_) => (
                    DigitisedPage {
                        options,
                        outcome: Err("a signal file is not digitised".into()),
                        notice: None,
                    },
                    Err("a signal file is not digitised".into()),
                ),
            },
        ));
    }

    /// Puts a finished digitisation into the document; true when it changed.
    pub fn receive(&mut self, doc: Option<&mut Document>) -> bool {
        let Some(done) = self.job.take_done() else {
            return false;
        };
        let (page, measurements) = match done {
            Ok(d) => d,
            Err(lost) => {
                self.error = Some(lost);
                return false;
            }
        };
        let Some(doc) = doc.filter(|d| d.digitised.is_some()) else {
            return false;
        };
        if let Err(why) = &page.outcome {
            // The earlier reading stays; the corrections stay in the form to be fixed.
            self.error = Some(why.clone());
            return false;
        }
        doc.digitised = Some(page);
        doc.measurements = measurements;
        if let Some(e) = &mut self.form.editing
            && let Some(found) = doc.digitisation().and_then(|d| {
                d.report
                    .leads
                    .iter()
                    .find(|b| b.panel.lead == e.lead && b.panel.rhythm == e.rhythm)
                    .cloned()
            })
        {
            // Keep editing the same lead, from where it now is.
            *e = found.panel;
        }
        true
    }

    /// The page with its layers, at `width` points.
    pub fn page_ui(&self, ui: &mut Ui, doc: &Document, texture: &egui::TextureHandle, width: f32) {
        let EcgInput::Image(image) = &*doc.input else {
            return;
        };
        let name = format!("ECG image {}", doc.file_name());
        let reading = doc.digitisation().map(|d| PageReading {
            report: &d.report,
            traces: &d.overlays,
        });
        ui.add(
            DigitisedPageView::new(texture.id(), [image.width, image.height], width, &name)
                .reading(reading, self.layers)
                .editing(self.form.editing.as_ref()),
        );
    }

    /// The toggles above the page.
    pub fn toggles_ui(&mut self, ui: &mut Ui, doc: &Document) {
        if doc.digitisation().is_some() {
            layer_toggles(ui, &mut self.layers);
        }
    }

    /// Beside the measurements: the digitiser's report and the corrections form. Returns the
    /// options to digitise with when the reader asks for it.
    pub fn panel_ui(&mut self, ui: &mut Ui, doc: &Document) -> Option<DigitiseOptions> {
        let page = doc.digitised.as_ref()?;
        let mut run = None;
        egui::CollapsingHeader::new("Digitisation")
            .default_open(true)
            .show(ui, |ui| {
                if let Some(notice) = &page.notice {
                    ui.colored_label(ui.visuals().warn_fg_color, notice);
                }
                match &page.outcome {
                    Ok(d) => digitisation_table(ui, &d.report),
                    Err(why) => {
                        ui.label(format!("The image could not be digitised: {why}"));
                    }
                }
                ui.separator();
                ui.label("Correct the digitiser:");
                run = correction_form(
                    ui,
                    &mut self.form,
                    doc.digitisation().map(|d| &d.report),
                    !self.job.is_running(),
                );
                if let Some(label) = self.job.label() {
                    ui.horizontal(|ui| {
                        ui.spinner();
                        ui.label(label);
                    });
                }
                if let Some(e) = &self.error {
                    ui.colored_label(
                        ui.visuals().error_fg_color,
                        format!("Not re-digitised: {e}"),
                    );
                }
            });
        run
    }
}
