//! The worklist: stored cases, newest first, searched and filtered in the store on a worker
//! thread. Clicking a case opens it.

use ecgr1_engine::RiskBand;
use egui::{RichText, Ui};
use std::fmt::Write as _;

use super::super::jobs::{Job, JobSlot};
use super::super::link::StoreLink;
use crate::store::clock::{Bound, parse_bound};
use crate::store::{CaseProgress, WorklistFilter, WorklistRow};

/// Label of the search field.
pub const SEARCH_FIELD: &str = "Search cases";

#[derive(Default)]
pub struct Worklist {
    pub filter: WorklistFilter,
    from_text: String,
    to_text: String,
    pub rows: Vec<WorklistRow>,
    /// The filter the rows were fetched with.
    fetched: Option<WorklistFilter>,
    job: JobSlot<Result<Vec<WorklistRow>, String>>,
    /// Set when the rows are stale (a run was stored, a case signed).
    stale: bool,
    pub error: Option<String>,
    /// Whether the first fetch has come back.
    pub loaded: bool,
}

impl Worklist {
    pub fn mark_stale(&mut self) {
        self.stale = true;
    }

    pub fn is_busy(&self) -> bool {
        self.job.is_running()
    }

    /// Takes fetched rows and starts a fetch when the filter changed or the rows are stale.
    pub fn update(&mut self, ctx: &egui::Context, link: Option<&StoreLink>) {
        if let Some(done) = self.job.take_done() {
            self.loaded = true;
            match done.and_then(|r| r) {
                Ok(rows) => {
                    self.rows = rows;
                    self.error = None;
                }
                Err(e) => self.error = Some(e),
            }
        }
        let Some(link) = link else { return };
        if self.job.is_running() {
            return;
        }
        if self.stale || self.fetched.as_ref() != Some(&self.filter) {
            self.stale = false;
            self.fetched = Some(self.filter.clone());
            let link = link.clone();
            let filter = self.filter.clone();
            self.job
                .start(Job::spawn(ctx, "reading the worklist", move || {
                    link.store
                        .worklist(&link.session, &filter)
                        .map_err(|e| e.to_string())
                }));
        }
    }

    /// The case after `current` in the list (the first when none is open).
    pub fn next_case(&self, current: Option<i64>) -> Option<i64> {
        let pos = current.and_then(|c| self.rows.iter().position(|r| r.case_id == c));
        match pos {
            Some(p) => self.rows.get(p + 1).map(|r| r.case_id),
            None => self.rows.first().map(|r| r.case_id),
        }
    }

    /// Draws the panel; returns the case the user clicked.
    pub fn ui(
        &mut self,
        ui: &mut Ui,
        link: Option<&StoreLink>,
        open_case: Option<i64>,
    ) -> Option<i64> {
        ui.heading("Worklist");
        if link.is_none() {
            ui.label("The worklist needs a case store.");
            return None;
        }
        let label = ui.label(format!("{SEARCH_FIELD}:"));
        ui.add(
            egui::TextEdit::singleline(&mut self.filter.search)
                .hint_text("file name, case id or notes"),
        )
        .labelled_by(label.id);
        egui::ComboBox::new("worklist_status", "Status")
            .selected_text(self.filter.progress.map_or("any", CaseProgress::name))
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut self.filter.progress, None, "any");
                for p in CaseProgress::ALL {
                    ui.selectable_value(&mut self.filter.progress, Some(p), p.name());
                }
            });
        egui::ComboBox::new("worklist_band", "Band")
            .selected_text(self.filter.band.map_or("any", RiskBand::name))
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut self.filter.band, None, "any");
                for b in [RiskBand::High, RiskBand::Intermediate, RiskBand::Low] {
                    ui.selectable_value(&mut self.filter.band, Some(b), b.name());
                }
            });
        ui.horizontal(|ui| {
            let from = ui.label("From:");
            ui.add(
                egui::TextEdit::singleline(&mut self.from_text)
                    .hint_text("YYYY-MM-DD")
                    .desired_width(90.0),
            )
            .labelled_by(from.id);
            let to = ui.label("To:");
            ui.add(
                egui::TextEdit::singleline(&mut self.to_text)
                    .hint_text("YYYY-MM-DD")
                    .desired_width(90.0),
            )
            .labelled_by(to.id);
        });
        let mut date_error = None;
        for (text, bound, slot) in [
            (&self.from_text, Bound::Start, &mut self.filter.from),
            (&self.to_text, Bound::End, &mut self.filter.to),
        ] {
            let t = text.trim();
            if t.is_empty() {
                *slot = None;
            } else {
                match parse_bound(t, bound) {
                    Ok(b) => *slot = Some(b),
                    Err(e) => date_error = Some(e),
                }
            }
        }
        if let Some(e) = date_error {
            ui.colored_label(ui.visuals().error_fg_color, e);
        }
        if let Some(e) = &self.error {
            ui.colored_label(ui.visuals().error_fg_color, e.as_str());
        }
        if self.is_busy() {
            ui.spinner();
        }
        ui.separator();
        let mut clicked = None;
        egui::ScrollArea::vertical().show(ui, |ui| {
            if self.loaded && self.rows.is_empty() {
                ui.label("No cases match.");
            }
            for row in &self.rows {
                let title = format!(
                    "Case {} · {} · {}",
                    row.case_id,
                    row.file_name,
                    row.progress.name()
                );
                let mut detail = row
                    .created_at
                    .get(..16)
                    .unwrap_or(&row.created_at)
                    .replace('T', " ");
                if let Some(band) = &row.band {
                    let _ = write!(detail, " · band {band}");
                }
                if !row.answer.is_empty() {
                    let _ = write!(detail, " · {}", row.answer.join("; "));
                }
                let selected = open_case == Some(row.case_id);
                let text = RichText::new(format!("{title}\n{detail}"));
                let r = ui.selectable_label(selected, text);
                let r = match &row.signed_by {
                    Some(who) => r.on_hover_text(format!(
                        "signed by {who} at {}",
                        row.signed_at.as_deref().unwrap_or("?")
                    )),
                    None => r.on_hover_text("Open this case (Ctrl+N or J: next case)"),
                };
                if r.clicked() {
                    clicked = Some(row.case_id);
                }
            }
        });
        clicked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(case_id: i64) -> WorklistRow {
        WorklistRow {
            case_id,
            created_at: String::new(),
            file_name: String::new(),
            format: String::new(),
            kind: String::new(),
            progress: CaseProgress::Run,
            runs: 1,
            band: None,
            p_yes: None,
            answer: Vec::new(),
            signed_by: None,
            signed_at: None,
            notes: String::new(),
        }
    }

    #[test]
    fn next_case_walks_the_list_from_the_open_case() {
        let list = Worklist {
            rows: vec![row(5), row(3), row(1)],
            ..Worklist::default()
        };
        assert_eq!(list.next_case(None), Some(5));
        assert_eq!(list.next_case(Some(5)), Some(3));
        assert_eq!(list.next_case(Some(1)), None);
        assert_eq!(list.next_case(Some(42)), Some(5));
    }
}
