//! The clinician's decision on a run: agree with the engine or override it with their own
//! answer and a reason, choose what the signature means, and sign with the password (asked in
//! a modal; the store checks it again). A signed run is read-only.

use egui::{RichText, Ui};

use super::super::jobs::{Job, JobSlot};
use super::super::link::StoreLink;
use super::shown::ShownRun;
use crate::store::{DecisionRecord, NewDecision, Role, SignatureMeaning, Verdict};

/// Label of the button that opens the password prompt.
pub const SIGN_BUTTON: &str = "Sign decision…";
/// Label of the password field in the prompt.
pub const PASSWORD_FIELD: &str = "Password";
/// Label of the button that signs in the prompt.
pub const CONFIRM_SIGN: &str = "Sign with password";

#[derive(Default)]
pub struct DecisionForm {
    pub agree: bool,
    pub override_answer: String,
    pub reason: String,
    pub meaning: Option<SignatureMeaning>,
    prompt_open: bool,
    password: String,
    signing: JobSlot<Result<DecisionRecord, String>>,
    pub error: Option<String>,
}

/// Why the acting user may not sign, if they may not.
pub fn cannot_sign_reason(link: Option<&StoreLink>) -> Option<String> {
    let Some(link) = link else {
        return Some("no case store is open, so nothing can be signed".into());
    };
    (!link.session.has(Role::Cardiologist)).then(|| {
        format!(
            "{} ({}) cannot sign: signing needs the cardiologist role",
            link.session.name,
            link.session.roles_text()
        )
    })
}

impl DecisionForm {
    /// Resets the form for another run.
    pub fn reset(&mut self) {
        *self = Self {
            agree: true,
            ..Self::default()
        };
    }

    pub fn is_signing(&self) -> bool {
        self.signing.is_running()
    }

    /// Takes a finished signature; on success the decision is added to the run.
    pub fn receive(&mut self, run: Option<&mut ShownRun>) -> bool {
        let Some(done) = self.signing.take_done() else {
            return false;
        };
        match done.and_then(|r| r) {
            Ok(decision) => {
                if let Some(run) = run {
                    run.decisions.push(decision);
                }
                self.prompt_open = false;
                self.password.clear();
                self.error = None;
                true
            }
            Err(e) => {
                self.password.clear();
                self.error = Some(e);
                false
            }
        }
    }

    /// Draws the decision panel for `run`.
    pub fn ui(&mut self, ui: &mut Ui, run: &ShownRun, link: Option<&StoreLink>) {
        ui.strong("Decision");
        if let Some(signed) = run.signed_text() {
            ui.label(RichText::new(signed).strong());
            ui.label("This run is signed and read-only.");
            return;
        }
        let Some(run_id) = run.run_id else {
            ui.label("This run was not stored, so it cannot be signed.");
            return;
        };
        let has_answer =
            run.report.as_ref().is_some_and(|r| !r.answer.is_empty()) && run.status == "completed";
        if !has_answer {
            self.agree = false;
        }
        ui.horizontal(|ui| {
            ui.add_enabled_ui(has_answer, |ui| {
                ui.radio_value(&mut self.agree, true, "Agree with the engine")
                    .on_disabled_hover_text("The run has no answer to agree with");
            });
            ui.radio_value(&mut self.agree, false, "Override");
        });
        if !self.agree {
            let label = ui.label("My answer:");
            ui.add(
                egui::TextEdit::singleline(&mut self.override_answer)
                    .hint_text("your own answer (labels separated by ';')"),
            )
            .labelled_by(label.id);
        }
        let label = ui.label("Reason:");
        ui.add(
            egui::TextEdit::multiline(&mut self.reason)
                .desired_rows(2)
                .hint_text("why you agree or override (required)"),
        )
        .labelled_by(label.id);
        ui.horizontal(|ui| {
            ui.label("Signature means:");
            ui.radio_value(
                &mut self.meaning,
                Some(SignatureMeaning::Reviewed),
                "Reviewed",
            )
            .on_hover_text("I have reviewed the tracing and the assessment");
            ui.radio_value(
                &mut self.meaning,
                Some(SignatureMeaning::Approved),
                "Approved",
            )
            .on_hover_text("I approve this as the final reading");
        });
        let blocker = cannot_sign_reason(link).or_else(|| {
            if self.reason.trim().is_empty() {
                Some("write a reason first".to_string())
            } else if !self.agree && self.override_answer.trim().is_empty() {
                Some("write your own answer first".to_string())
            } else if self.meaning.is_none() {
                Some("choose what the signature means first".to_string())
            } else {
                None
            }
        });
        let button = ui.add_enabled(blocker.is_none(), egui::Button::new(SIGN_BUTTON));
        let button = match &blocker {
            Some(why) => button.on_disabled_hover_text(why.as_str()),
            None => button.on_hover_text("Sign this decision; your password is asked"),
        };
        if let Some(why) = &blocker
            && cannot_sign_reason(link).is_some()
        {
            ui.colored_label(ui.visuals().warn_fg_color, why.as_str());
        }
        if button.clicked() {
            self.prompt_open = true;
            self.error = None;
        }
        if let (true, Some(link), Some(meaning)) = (self.prompt_open, link, self.meaning) {
            self.prompt(ui, link, run_id, meaning);
        } else if let Some(e) = &self.error {
            ui.colored_label(ui.visuals().error_fg_color, e.as_str());
        }
    }

    fn prompt(&mut self, ui: &Ui, link: &StoreLink, run_id: i64, meaning: SignatureMeaning) {
        let modal =
            egui::Modal::new(egui::Id::unique("sign_password_prompt")).show(ui.ctx(), |ui| {
                ui.heading("Sign decision");
                ui.label(format!(
                    "Signing as {} — meaning: {}. Enter your password to sign.",
                    link.session.name,
                    meaning.name()
                ));
                let label = ui.label(format!("{PASSWORD_FIELD}:"));
                let field = ui
                    .add(egui::TextEdit::singleline(&mut self.password).password(true))
                    .labelled_by(label.id);
                let enter = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                if let Some(e) = &self.error {
                    ui.colored_label(ui.visuals().error_fg_color, e.as_str());
                }
                ui.horizontal(|ui| {
                    let busy = self.is_signing();
                    let ready = !busy && !self.password.is_empty();
                    let clicked = ui
                        .add_enabled(ready, egui::Button::new(CONFIRM_SIGN))
                        .clicked();
                    if clicked || (enter && ready) {
                        self.start_signing(ui.ctx(), link, run_id, meaning);
                    }
                    if ui.button("Cancel signing").clicked() {
                        self.prompt_open = false;
                        self.password.clear();
                    }
                    if busy {
                        ui.spinner();
                        ui.label("signing…");
                    }
                });
            });
        if modal.should_close() && !self.signing.is_running() {
            self.prompt_open = false;
            self.password.clear();
        }
    }

    fn start_signing(
        &mut self,
        ctx: &egui::Context,
        link: &StoreLink,
        run_id: i64,
        meaning: SignatureMeaning,
    ) {
        let verdict = if self.agree {
            Verdict::Agree
        } else {
            Verdict::Override(self.override_answer.trim().to_string())
        };
        let reason = self.reason.clone();
        let password = std::mem::take(&mut self.password);
        let link = link.clone();
        self.error = None;
        self.signing
            .start(Job::spawn(ctx, "signing the decision", move || {
                link.store
                    .sign(
                        &link.session,
                        &NewDecision {
                            run_id,
                            verdict,
                            reason: &reason,
                            meaning,
                            password: &password,
                        },
                    )
                    .map_err(|e| e.to_string())
            }));
    }
}
