//! The run panel (engine, task, checkpoint, device, progress, cancel) and the result beside
//! the ECG: the AI assessment, the trace (live while the model writes), the verifier's
//! findings, the evidence a hovered sentence cites, and the decision.

use ecgr1_engine::model::ModelDType;
use ecgr1_engine::report::Task;
use ecgr1_engine::trace;
use ecgr1_ui::TraceView;
use ecgr1_ui::assessment::assessment_view;
use ecgr1_ui::trace_view::{SentenceRef, build_steps, claims_list, unplaced_claims};
use egui::Ui;

use super::super::jobs::Job;
use super::super::link::StoreLink;
use super::run::{DeviceChoice, EngineChoice, Phase};
use super::{CANCEL_BUTTON, Document, RUN_BUTTON, RUN_SHORTCUT, ReadingRoom, evidence};

/// Label of the patient identifier field shown for a file that names no patient.
pub const PATIENT_ID_FIELD: &str = "Patient ID:";
/// The engine choice for a department's inference server.
pub const REMOTE_ENGINE: &str = "Remote server";
pub const SERVER_FIELD: &str = "Server URL:";
pub const REMOTE_MODEL_FIELD: &str = "Served model:";
pub const KEY_FILE_FIELD: &str = "API key file:";

/// Where the remote engine's server is: URL, model name and the file holding its key.
fn remote_fields(ui: &mut Ui, s: &mut super::run::RunSettings) {
    for (label, value, hint) in [
        (SERVER_FIELD, &mut s.server, "http://gpu-box:8080"),
        (
            REMOTE_MODEL_FIELD,
            &mut s.remote_model,
            "the server's only model",
        ),
        (
            KEY_FILE_FIELD,
            &mut s.api_key_file,
            "none, or $ECGR1_API_KEY",
        ),
    ] {
        ui.horizontal(|ui| {
            let label = ui.label(label);
            ui.add(
                egui::TextEdit::singleline(value)
                    .hint_text(hint)
                    .desired_width(220.0),
            )
            .labelled_by(label.id);
        });
    }
    let label = ui.label("Max tokens:");
    ui.add(egui::DragValue::new(&mut s.max_tokens).range(1..=8192))
        .labelled_by(label.id);
}

impl ReadingRoom {
    pub(super) fn run_panel(&mut self, ui: &mut Ui, link: Option<&StoreLink>) {
        ui.strong("Run");
        let unlinked = self
            .doc
            .as_ref()
            .is_some_and(|d| d.case_id().is_none() && d.patient().is_some_and(|p| p.id.is_none()));
        if unlinked {
            ui.horizontal(|ui| {
                let label = ui.label(PATIENT_ID_FIELD);
                ui.add(
                    egui::TextEdit::singleline(&mut self.patient_id)
                        .hint_text("the file names no patient")
                        .desired_width(180.0),
                )
                .labelled_by(label.id)
                .on_hover_text(
                    "Stored with the case in the identity table, so this patient's ECGs are compared with each other",
                );
            });
        }
        let idle = self.active.is_none();
        ui.add_enabled_ui(idle, |ui| {
            let s = &mut self.run_settings;
            egui::ComboBox::new("run_engine", "Engine")
                .selected_text(match s.engine {
                    EngineChoice::Protocol => "Protocol (built in, rule-based)",
                    EngineChoice::Local => "Local ECG-R1 model",
                    EngineChoice::Remote => REMOTE_ENGINE,
                })
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut s.engine, EngineChoice::Protocol, "Protocol (built in, rule-based)");
                    ui.selectable_value(&mut s.engine, EngineChoice::Local, "Local ECG-R1 model");
                    ui.selectable_value(&mut s.engine, EngineChoice::Remote, REMOTE_ENGINE)
                        .on_hover_text("The department's OpenAI-compatible inference server (ecgr1 serve, vLLM, llama.cpp)");
                });
            ui.horizontal(|ui| {
                ui.label("Task:");
                ui.radio_value(&mut s.task, Task::Interpret, "Interpretation")
                    .on_hover_text("A full six-step reading with diagnostic labels");
                ui.radio_value(&mut s.task, Task::Twi, "TWI triage")
                    .on_hover_text("Is the T-wave inversion ischemic? yes/no with P(yes)");
            });
            if s.engine == EngineChoice::Remote {
                remote_fields(ui, s);
            }
            if s.engine == EngineChoice::Local {
                ui.horizontal(|ui| {
                    let label = ui.label("Checkpoint:");
                    ui.add(
                        egui::TextEdit::singleline(&mut s.checkpoint)
                            .hint_text("checkpoint directory")
                            .desired_width(220.0),
                    )
                    .labelled_by(label.id);
                    if ui
                        .add_enabled(!self.folder_dialog.is_running(), egui::Button::new("Choose folder…"))
                        .on_hover_text("Choose the model's checkpoint directory")
                        .clicked()
                    {
                        self.folder_dialog.start(Job::spawn(ui.ctx(), "choosing a folder", || {
                            rfd::FileDialog::new()
                                .set_title("Checkpoint directory")
                                .pick_folder()
                        }));
                    }
                });
                ui.horizontal(|ui| {
                    ui.label("Device:");
                    ui.radio_value(&mut s.device, DeviceChoice::Auto, "GPU if available")
                        .on_hover_text("A GPU when this build has one compiled in and one is present, else the CPU");
                    ui.radio_value(&mut s.device, DeviceChoice::Cpu, "CPU");
                });
                ui.horizontal(|ui| {
                    egui::ComboBox::new("run_dtype", "Precision")
                        .selected_text(s.dtype.map_or("default", ModelDType::name))
                        .show_ui(ui, |ui| {
                            ui.selectable_value(&mut s.dtype, None, "default")
                                .on_hover_text("f32 on the CPU, bf16 on a GPU");
                            for d in [ModelDType::F32, ModelDType::Bf16, ModelDType::F16] {
                                ui.selectable_value(&mut s.dtype, Some(d), d.name());
                            }
                        });
                    let label = ui.label("Max tokens:");
                    ui.add(egui::DragValue::new(&mut s.max_tokens).range(1..=8192))
                        .labelled_by(label.id);
                });
            }
        });
        ui.horizontal(|ui| {
            let ready = self.can_run();
            let shortcut = ui.ctx().format_shortcut(&RUN_SHORTCUT);
            let button = ui.add_enabled(ready.is_ok(), egui::Button::new(RUN_BUTTON));
            let button = match ready {
                Ok(()) => button.on_hover_text(format!("Run the engine on this ECG ({shortcut})")),
                Err(why) => button.on_disabled_hover_text(why),
            };
            if button.clicked() {
                self.start_run(ui.ctx(), link);
            }
            if let Some(active) = &mut self.active
                && ui
                    .add_enabled(!active.cancel_requested(), egui::Button::new(CANCEL_BUTTON))
                    .on_hover_text("Stop the run before the model's next token")
                    .clicked()
            {
                active.cancel();
            }
        });
        if let Some(active) = &self.active {
            let elapsed = active.started.elapsed().as_secs_f64();
            match (active.phase, active.streaming) {
                (Phase::Loading, true) if self.run_settings.engine == EngineChoice::Remote => {
                    ui.horizontal(|ui| {
                        ui.spinner();
                        ui.label(format!(
                            "Connecting to the inference server… {elapsed:.1} s"
                        ));
                    });
                }
                (Phase::Loading, true) => {
                    ui.horizontal(|ui| {
                        ui.spinner();
                        ui.label(format!("Loading the model weights… {elapsed:.1} s"));
                    });
                }
                (Phase::Loading | Phase::Running, false) => {
                    ui.horizontal(|ui| {
                        ui.spinner();
                        ui.label(format!("Running the engine… {elapsed:.1} s"));
                    });
                }
                (Phase::Running, true) => {
                    let fraction = active.tokens as f32 / active.max_tokens.max(1) as f32;
                    let rate = active
                        .tokens_per_s()
                        .map_or_else(|| "—".to_string(), |r| format!("{r:.1}"));
                    ui.add(egui::ProgressBar::new(fraction).text(format!(
                        "{} tokens · {rate} tokens/s · {elapsed:.1} s",
                        active.tokens
                    )));
                }
            }
            if active.cancel_requested() {
                ui.label("Cancelling…");
            }
        }
    }

    pub(super) fn result_panel(
        &mut self,
        ui: &mut Ui,
        link: Option<&StoreLink>,
    ) -> Option<SentenceRef> {
        if let Some(active) = &self.active {
            let parsed = trace::parse(&active.text);
            let steps = build_steps(&parsed.steps, &[]);
            ui.strong("Trace (live)");
            if steps.is_empty() && !active.text.is_empty() {
                let tail: String = {
                    let chars: Vec<char> = active.text.chars().collect();
                    chars[chars.len().saturating_sub(600)..].iter().collect()
                };
                ui.label(tail);
            }
            TraceView::new(&steps, "live_trace")
                .streaming(true)
                .show(ui);
            return None;
        }
        if self.runs.len() > 1 {
            let before = self.shown;
            let current = self
                .runs
                .get(self.shown)
                .map(|r| r.stored_note.clone())
                .unwrap_or_default();
            egui::ComboBox::new("shown_run", "Run shown")
                .selected_text(current)
                .show_ui(ui, |ui| {
                    for (k, r) in self.runs.iter().enumerate() {
                        ui.selectable_value(&mut self.shown, k, r.stored_note.clone());
                    }
                });
            if self.shown != before {
                // A decision in progress belongs to the run it was written for.
                self.decision.reset();
            }
        }
        let Some(run) = self.runs.get(self.shown) else {
            ui.label("No engine has been run on this ECG yet.");
            return None;
        };
        ui.small(run.stored_note.as_str());
        if let Some(c) = &run.comparison {
            // The verifier checked this run's serial claims against that comparison.
            ui.small(format!(
                "Read with the comparison to the prior ECG: {}",
                c.prior.label
            ));
        }
        if let Some(e) = &run.error {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                format!("Run {}: {e}", run.status),
            );
        }
        let mut hovered = None;
        if let Some(report) = &run.report {
            assessment_view(ui, report, run.verification.as_ref().map(|v| &v.summary));
            ui.strong("Trace");
            hovered = TraceView::new(&run.steps, "trace").show(ui);
            if let Some(v) = &run.verification {
                let others = unplaced_claims(&run.steps, &v.claims);
                if !others.is_empty() {
                    egui::CollapsingHeader::new(format!(
                        "Verifier findings outside the steps ({})",
                        others.len()
                    ))
                    .id_salt("unplaced_claims")
                    .show(ui, |ui| claims_list(ui, &others));
                }
            }
            if !report.summary.is_empty() {
                ui.label(report.summary.as_str());
            }
        }
        ui.separator();
        if let Some(run) = self.runs.get(self.shown) {
            self.decision.ui(ui, run, link);
            ui.separator();
            self.report_export.ui(ui, run.run_id, link);
            ui.separator();
            let signed = !run.decisions.is_empty();
            self.record_export.ui(ui, run.run_id, signed, link);
        }
        hovered
    }

    pub(super) fn highlights(&self, hovered: Option<SentenceRef>) -> Vec<ecgr1_ui::Highlight> {
        let (Some((s, k)), Some(run), Some(record)) = (
            hovered,
            self.runs.get(self.shown),
            self.doc.as_ref().and_then(Document::record),
        ) else {
            return Vec::new();
        };
        let (Some(step), Some(report)) = (run.steps.get(s), &run.report) else {
            return Vec::new();
        };
        let Some(sentence) = step.sentences.get(k) else {
            return Vec::new();
        };
        let evidence = report
            .steps
            .get(s)
            .map_or(&[][..], |t| t.evidence.as_slice());
        evidence::highlights_for(
            &sentence.text,
            evidence,
            &sentence.claims,
            record.sample_rate_hz,
            record.duration_s(),
        )
    }
}
