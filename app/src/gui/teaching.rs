//! Teaching rounds: a trainer builds a set of stored cases, then shows them one by one,
//! de-identified. Each trainee (or the room) commits an answer before the AI's trace, band and
//! the signed final answer are revealed; at the end the session is scored.
//!
//! De-identification is by construction: a case is shown only as the signal re-read from its
//! stored bytes, with the patient fields dropped and the file name and acquisition time
//! replaced; cases are named by their position in the set.

use std::collections::BTreeMap;

use ecgr1_engine::EcgRecord;
use ecgr1_engine::report::Report;
use ecgr1_ui::trace_view::build_steps;
use ecgr1_ui::{EcgPaperView, PaperSettings, TraceView};
use egui::{RichText, Ui};

use super::jobs::{Job, JobSlot};
use super::link::StoreLink;
use super::reading_room::document::open_stored;
use crate::store::{DecisionRecord, TeachingCase, WorklistFilter, WorklistRow};

pub const CREATE_SESSION: &str = "Create set and start session";
pub const COMMIT_ANSWER: &str = "Commit answer";
pub const REVEAL: &str = "Reveal the AI and the signed answer";
pub const NEXT_CASE: &str = "Next case";
pub const SHOW_SCORES: &str = "Show scores";
/// Who answers when no trainee name is typed.
pub const THE_ROOM: &str = "the room";

/// A case as the trainees see it.
pub struct ShownCase {
    pub case: TeachingCase,
    /// The de-identified signal, or why it cannot be shown.
    pub record: Result<EcgRecord, String>,
    pub report: Option<Report>,
}

pub(super) fn deidentified(case: TeachingCase) -> ShownCase {
    let label = format!("Teaching case {} of {}", case.position + 1, case.count);
    let record = if case.kind == "signal" {
        open_stored(case.case_id, &case.format, &label, case.bytes.clone(), &[]).and_then(|doc| {
            let mut record = doc
                .record()
                .cloned()
                .ok_or_else(|| format!("{label}: no signal"))?;
            record.provenance.file_name.clone_from(&label);
            record.acquisition_time = None;
            record.device = None;
            Ok(record)
        })
    } else {
        Err(format!(
            "{label} is an image: images can carry printed patient details, so they are not shown in teaching rounds"
        ))
    };
    let report = case
        .run
        .as_ref()
        .and_then(|r| r.report_json.as_deref())
        .and_then(|j| serde_json::from_str::<Report>(j).ok())
        // A serial sentence would tell the trainees that another case is this patient's.
        .map(|r| ecgr1_engine::serial::without_serial(&r));
    ShownCase {
        case,
        record,
        report,
    }
}

/// One committed answer.
#[derive(Clone, Debug, PartialEq)]
pub struct CommittedAnswer {
    pub trainee: String,
    pub case_id: i64,
    pub position: usize,
    pub answer: String,
}

/// Answer labels compared without case, spacing or order ("Sinus rhythm; LVH" = "lvh,sinus rhythm").
fn labels(text: &str) -> Vec<String> {
    let mut l: Vec<String> = text
        .split([';', ','])
        .map(|s| {
            s.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_lowercase()
        })
        .filter(|s| !s.is_empty())
        .collect();
    l.sort();
    l.dedup();
    l
}

/// A trainee's score.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraineeScore {
    pub trainee: String,
    pub correct: usize,
    pub scored: usize,
}

/// The session's result.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionScore {
    pub trainees: Vec<TraineeScore>,
    /// (position, misses), most missed first; only cases someone missed.
    pub most_missed: Vec<(usize, usize)>,
    /// Positions with no signed final answer: their answers were not scored.
    pub unscored: Vec<usize>,
}

/// Scores answers against the signed final answers (`finals[position]`, `None` = unsigned).
pub fn score(
    answers: &[CommittedAnswer],
    finals: &BTreeMap<usize, Option<String>>,
) -> SessionScore {
    let mut trainees: BTreeMap<&str, TraineeScore> = BTreeMap::new();
    let mut misses: BTreeMap<usize, usize> = BTreeMap::new();
    for a in answers {
        let Some(Some(truth)) = finals.get(&a.position) else {
            continue;
        };
        let entry = trainees.entry(&a.trainee).or_insert_with(|| TraineeScore {
            trainee: a.trainee.clone(),
            correct: 0,
            scored: 0,
        });
        entry.scored += 1;
        if labels(&a.answer) == labels(truth) {
            entry.correct += 1;
        } else {
            *misses.entry(a.position).or_default() += 1;
        }
    }
    let mut most_missed: Vec<(usize, usize)> = misses.into_iter().collect();
    most_missed.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    SessionScore {
        trainees: trainees.into_values().collect(),
        most_missed,
        unscored: finals
            .iter()
            .filter(|(_, f)| f.is_none())
            .map(|(p, _)| *p)
            .collect(),
    }
}

/// The teaching session in progress.
struct Round {
    session_id: i64,
    count: usize,
    position: usize,
    shown: Option<ShownCase>,
    revealed: bool,
    answers: Vec<CommittedAnswer>,
    /// Signed final answers of the cases seen so far.
    finals: BTreeMap<usize, Option<String>>,
    finished: bool,
}

#[derive(Default)]
pub struct TeachingView {
    cases: Vec<WorklistRow>,
    loaded: bool,
    loading: JobSlot<Result<Vec<WorklistRow>, String>>,
    picked: Vec<i64>,
    set_name: String,
    creating: JobSlot<Result<(i64, usize), String>>,
    round: Option<Round>,
    fetching: JobSlot<Result<ShownCase, String>>,
    trainee: String,
    answer: String,
    committing: JobSlot<Result<CommittedAnswer, String>>,
    settings: PaperSettings,
    error: Option<String>,
}

impl TeachingView {
    pub fn is_busy(&self) -> bool {
        self.loading.is_running()
            || self.creating.is_running()
            || self.fetching.is_running()
            || self.committing.is_running()
    }

    pub fn invalidate(&mut self) {
        self.loaded = false;
    }

    /// Cases chosen for the set (tests pick them this way too).
    pub fn pick(&mut self, case_id: i64) {
        if !self.picked.contains(&case_id) {
            self.picked.push(case_id);
        }
    }

    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    fn receive(&mut self, ctx: &egui::Context, link: &StoreLink) {
        if let Some(done) = self.loading.take_done() {
            self.loaded = true;
            match done.and_then(|r| r) {
                Ok(rows) => self.cases = rows,
                Err(e) => self.error = Some(e),
            }
        }
        if let Some(done) = self.creating.take_done() {
            match done.and_then(|r| r) {
                Ok((session_id, count)) => {
                    self.round = Some(Round {
                        session_id,
                        count,
                        position: 0,
                        shown: None,
                        revealed: false,
                        answers: Vec::new(),
                        finals: BTreeMap::new(),
                        finished: false,
                    });
                    self.fetch(ctx, link, session_id, 0);
                }
                Err(e) => self.error = Some(e),
            }
        }
        if let Some(done) = self.fetching.take_done() {
            match done.and_then(|r| r) {
                Ok(shown) => {
                    if let Some(round) = &mut self.round {
                        round.finals.insert(
                            shown.case.position,
                            shown.case.signed.as_ref().map(|d| d.final_answer.clone()),
                        );
                        round.position = shown.case.position;
                        round.revealed = false;
                        round.shown = Some(shown);
                    }
                }
                Err(e) => self.error = Some(e),
            }
        }
        if let Some(done) = self.committing.take_done() {
            match done.and_then(|r| r) {
                Ok(a) => {
                    if let Some(round) = &mut self.round {
                        round.answers.push(a);
                    }
                    self.answer.clear();
                    self.error = None;
                }
                Err(e) => self.error = Some(e),
            }
        }
    }

    fn fetch(&mut self, ctx: &egui::Context, link: &StoreLink, session_id: i64, position: usize) {
        let link = link.clone();
        self.fetching
            .start(Job::spawn(ctx, "reading the teaching case", move || {
                link.store
                    .teaching_case(&link.session, session_id, position)
                    .map(deidentified)
                    .map_err(|e| e.to_string())
            }));
    }

    pub fn ui(&mut self, ui: &mut Ui, link: Option<&StoreLink>) {
        let Some(link) = link else {
            egui::CentralPanel::default().show(ui, |ui| {
                ui.label("Teaching rounds need the case store, which is not open.");
            });
            return;
        };
        self.receive(ui.ctx(), link);
        egui::CentralPanel::default().show(ui, |ui| {
            egui::ScrollArea::vertical()
                .id_salt("teaching_page")
                .show(ui, |ui| {
                    if let Some(e) = &self.error {
                        ui.colored_label(ui.visuals().error_fg_color, e.as_str());
                    }
                    if self.round.is_some() {
                        self.round_ui(ui, link);
                    } else {
                        self.builder_ui(ui, link);
                    }
                });
        });
    }

    fn builder_ui(&mut self, ui: &mut Ui, link: &StoreLink) {
        if !self.loaded && !self.loading.is_running() {
            let l = link.clone();
            self.loading
                .start(Job::spawn(ui.ctx(), "reading the cases", move || {
                    l.store
                        .worklist(&l.session, &WorklistFilter::default())
                        .map_err(|e| format!("cannot list the cases: {e}"))
                }));
        }
        ui.heading("Build a teaching set");
        ui.label("Cases are shown de-identified: by number, signal only, no patient fields, file names or notes.");
        let l = ui.label("Set name:");
        ui.add(
            egui::TextEdit::singleline(&mut self.set_name)
                .hint_text("e.g. Ischaemia round, week 3"),
        )
        .labelled_by(l.id);
        if self.loading.is_running() {
            ui.spinner();
        }
        egui::ScrollArea::vertical()
            .max_height(400.0)
            .show(ui, |ui| {
                for row in &self.cases {
                    let mut on = self.picked.contains(&row.case_id);
                    let text = format!(
                        "Case {} · {} · {} · band {} · {}",
                        row.case_id,
                        row.created_at.get(..10).unwrap_or(&row.created_at),
                        row.kind,
                        row.band.as_deref().unwrap_or("none"),
                        if row.signed_by.is_some() {
                            "signed"
                        } else {
                            "not signed (answers will not be scored)"
                        }
                    );
                    if ui.checkbox(&mut on, text).changed() {
                        if on {
                            self.picked.push(row.case_id);
                        } else {
                            self.picked.retain(|c| *c != row.case_id);
                        }
                    }
                }
                if self.loaded && self.cases.is_empty() {
                    ui.label(
                        "No stored cases yet: run an engine on an ECG in the reading room first.",
                    );
                }
            });
        let blocker = if self.picked.is_empty() {
            Some("pick at least one case")
        } else if self.set_name.trim().is_empty() {
            Some("name the set")
        } else {
            None
        };
        let button = ui.add_enabled(
            blocker.is_none() && !self.creating.is_running(),
            egui::Button::new(CREATE_SESSION),
        );
        if let Some(why) = blocker {
            button.clone().on_disabled_hover_text(why);
        }
        if button.clicked() {
            let (l, name, ids) = (
                link.clone(),
                self.set_name.trim().to_string(),
                self.picked.clone(),
            );
            self.error = None;
            self.creating
                .start(Job::spawn(ui.ctx(), "creating the session", move || {
                    let set = l
                        .store
                        .create_case_set(&l.session, &name, &ids)
                        .map_err(|e| format!("cannot create the case set: {e}"))?;
                    let session = l
                        .store
                        .create_teaching_session(&l.session, set, &name)
                        .map_err(|e| format!("cannot start the session: {e}"))?;
                    Ok((session, ids.len()))
                }));
        }
    }

    fn round_ui(&mut self, ui: &mut Ui, link: &StoreLink) {
        let Some(round) = &mut self.round else { return };
        if round.finished {
            Self::scores_ui(ui, round);
            return;
        }
        let Some(shown) = &round.shown else {
            ui.spinner();
            return;
        };
        let position = shown.case.position;
        ui.heading(format!("Teaching case {} of {}", position + 1, round.count));
        match &shown.record {
            Ok(record) => {
                egui::ScrollArea::vertical()
                    .id_salt("teaching_paper")
                    .max_height(420.0)
                    .show(ui, |ui| {
                        ui.add(EcgPaperView::new(record, &self.settings));
                    });
            }
            Err(e) => {
                ui.colored_label(ui.visuals().warn_fg_color, e.as_str());
            }
        }
        ui.separator();
        let committed: Vec<&CommittedAnswer> = round
            .answers
            .iter()
            .filter(|a| a.position == position)
            .collect();
        ui.horizontal(|ui| {
            let l = ui.label("Trainee:");
            ui.add(
                egui::TextEdit::singleline(&mut self.trainee)
                    .hint_text(THE_ROOM)
                    .desired_width(160.0),
            )
            .labelled_by(l.id);
            let l = ui.label("Answer:");
            ui.add(
                egui::TextEdit::singleline(&mut self.answer)
                    .hint_text("labels separated by ';' (or yes/no)")
                    .desired_width(320.0),
            )
            .labelled_by(l.id);
            let ready =
                !self.answer.trim().is_empty() && !self.committing.is_running() && !round.revealed;
            if ui
                .add_enabled(ready, egui::Button::new(COMMIT_ANSWER))
                .clicked()
            {
                let l = link.clone();
                let trainee = self.trainee.trim().to_string();
                let answer = self.answer.trim().to_string();
                let (session_id, case_id) = (round.session_id, shown.case.case_id);
                self.committing
                    .start(Job::spawn(ui.ctx(), "committing the answer", move || {
                        // A named trainee answers as themself (their own user, audited); the
                        // room answers as the trainer.
                        let (who, session) = if trainee.is_empty() || trainee == l.session.name {
                            (THE_ROOM.to_string(), l.session.clone())
                        } else {
                            let s = l
                                .store
                                .login(&trainee, None)
                                .map_err(|e| format!("trainee '{trainee}': {e}"))?;
                            (trainee.clone(), s)
                        };
                        l.store
                            .record_trainee_answer(&session, session_id, case_id, &answer)
                            .map_err(|e| format!("cannot record the answer: {e}"))?;
                        Ok(CommittedAnswer {
                            trainee: who,
                            case_id,
                            position,
                            answer,
                        })
                    }));
            }
        });
        for a in &committed {
            ui.label(format!("{} answered: {}", a.trainee, a.answer));
        }
        let can_reveal = !committed.is_empty();
        let reveal = ui.add_enabled(can_reveal && !round.revealed, egui::Button::new(REVEAL));
        if !can_reveal {
            reveal
                .clone()
                .on_disabled_hover_text("commit at least one answer first");
        }
        if reveal.clicked() {
            round.revealed = true;
        }
        if round.revealed {
            Self::revealed_ui(ui, shown);
        }
        ui.separator();
        let last = position + 1 >= round.count;
        if !last {
            if ui
                .add_enabled(
                    round.revealed && !self.fetching.is_running(),
                    egui::Button::new(NEXT_CASE),
                )
                .clicked()
            {
                let id = round.session_id;
                self.fetch(ui.ctx(), link, id, position + 1);
            }
        } else if ui
            .add_enabled(round.revealed, egui::Button::new(SHOW_SCORES))
            .clicked()
        {
            round.finished = true;
        }
    }

    /// Only ever called after the answers are in: before that, none of this is drawn at all.
    fn revealed_ui(ui: &mut Ui, shown: &ShownCase) {
        match &shown.report {
            Some(report) => {
                ui.label(
                    RichText::new(format!("AI answer: {}", report.answer.join("; "))).strong(),
                );
                ui.label(ecgr1_ui::assessment::band_wording(report));
                let steps = build_steps(&report.steps, &[]);
                TraceView::new(&steps, "teaching_trace").show(ui);
            }
            None => {
                ui.label("No engine run is stored for this case.");
            }
        }
        match &shown.case.signed {
            Some(DecisionRecord {
                final_answer,
                signer,
                meaning,
                ..
            }) => {
                ui.label(
                    RichText::new(format!(
                        "Signed final answer: {final_answer} ({signer}, {meaning})"
                    ))
                    .strong(),
                );
            }
            None => {
                ui.label("No signed final answer: this case is not scored.");
            }
        }
    }

    fn scores_ui(ui: &mut Ui, round: &Round) {
        ui.heading("Scores");
        let s = score(&round.answers, &round.finals);
        for t in &s.trainees {
            ui.label(format!(
                "{}: {} of {} correct",
                t.trainee, t.correct, t.scored
            ));
        }
        if s.trainees.is_empty() {
            ui.label("No answer could be scored.");
        }
        if !s.most_missed.is_empty() {
            ui.strong("Most often missed");
            for (p, n) in &s.most_missed {
                ui.label(format!("Teaching case {}: missed {n} time(s)", p + 1));
            }
        }
        for p in &s.unscored {
            ui.label(format!(
                "Teaching case {}: not scored (no signed final answer)",
                p + 1
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(trainee: &str, position: usize, text: &str) -> CommittedAnswer {
        CommittedAnswer {
            trainee: trainee.into(),
            case_id: position as i64 + 10,
            position,
            answer: text.into(),
        }
    }

    #[test]
    fn scores_compare_labels_not_spelling_and_skip_unsigned_cases() {
        let finals = BTreeMap::from([
            (0, Some("sinus rhythm; LVH".to_string())),
            (1, Some("yes".to_string())),
            (2, None),
        ]);
        let answers = [
            answer("ana", 0, "lvh,  Sinus rhythm"),
            answer("ana", 1, "no"),
            answer("ana", 2, "yes"),
            answer("ben", 0, "sinus rhythm"),
            answer("ben", 1, "Yes"),
            answer("the room", 1, "no"),
        ];
        let s = score(&answers, &finals);
        assert_eq!(
            s.trainees,
            vec![
                TraineeScore {
                    trainee: "ana".into(),
                    correct: 1,
                    scored: 2
                },
                TraineeScore {
                    trainee: "ben".into(),
                    correct: 1,
                    scored: 2
                },
                TraineeScore {
                    trainee: "the room".into(),
                    correct: 0,
                    scored: 1
                },
            ]
        );
        assert_eq!(s.most_missed, vec![(1, 2), (0, 1)]);
        assert_eq!(s.unscored, vec![2]);
    }
}
