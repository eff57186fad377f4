//! The case store settings window: which store the workstation uses (an SQLite file or a
//! department's PostgreSQL database), whether it is open, and why not. A password in a URL is
//! never shown: the window shows the location with `***` in its place.

use crate::store::DbLocation;

/// What the window shows about the store in use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreStatus {
    /// The location as shown to people (no password).
    pub location: String,
    /// "SQLite file", "in-memory SQLite" or "PostgreSQL server HOST:PORT, database DB".
    pub kind: String,
    /// `Err` with the reason when the store could not be opened; `Ok(None)` while opening.
    pub state: Result<Option<String>, String>,
}

impl StoreStatus {
    pub fn describe(db: &DbLocation) -> (String, String) {
        let kind = match db {
            DbLocation::Memory => "in-memory SQLite (nothing is kept)".to_string(),
            DbLocation::File(_) => "SQLite file on this workstation".to_string(),
            DbLocation::Postgres(url) => format!(
                "PostgreSQL server {}, database {}",
                url.server(),
                url.database()
            ),
        };
        (db.describe(), kind)
    }
}

/// The window's own state.
#[derive(Debug, Default)]
pub struct StoreSettings {
    pub open: bool,
    /// The location being typed.
    draft: String,
    /// Why the typed location is not one.
    problem: Option<String>,
}

impl StoreSettings {
    /// Opens the window with the current location in the field.
    pub fn show_for(&mut self, status: &StoreStatus) {
        self.open = true;
        self.draft.clone_from(&status.location);
        self.problem = None;
    }

    /// Draws the window; returns a location the user asked to switch to.
    pub fn ui(&mut self, ctx: &egui::Context, status: &StoreStatus) -> Option<DbLocation> {
        if !self.open {
            return None;
        }
        let mut chosen = None;
        let mut open = self.open;
        egui::Window::new("Case store")
            .open(&mut open)
            .collapsible(false)
            .resizable(false)
            .show(ctx, |ui| {
                egui::Grid::new("store_status").num_columns(2).show(ui, |ui| {
                    ui.label("In use");
                    ui.monospace(&status.location);
                    ui.end_row();
                    ui.label("Kind");
                    ui.label(&status.kind);
                    ui.end_row();
                    ui.label("State");
                    match &status.state {
                        Ok(Some(user)) => ui.label(format!("open, acting as {user}")),
                        Ok(None) => ui.label("opening…"),
                        Err(e) => ui.colored_label(ui.visuals().error_fg_color, format!("not open: {e}")),
                    };
                    ui.end_row();
                });
                ui.separator();
                ui.label("Use another store: a file path (or sqlite:PATH), or postgres://USER@HOST/DB");
                ui.horizontal(|ui| {
                    let label = ui.label("Store location:");
                    ui.add(
                        egui::TextEdit::singleline(&mut self.draft)
                            .desired_width(420.0)
                            .hint_text("postgres://ward@db.hospital.org/cardiology"),
                    )
                    .labelled_by(label.id)
                    .on_hover_text(
                        "Keep passwords out of the URL: PostgreSQL reads PGPASSWORD or ~/.pgpass. The audit key stays in its file.",
                    );
                });
                if let Some(problem) = &self.problem {
                    ui.colored_label(ui.visuals().error_fg_color, problem);
                }
                if ui.button("Open this store").clicked() {
                    match DbLocation::parse(self.draft.trim()) {
                        Ok(db) => {
                            self.draft = db.describe();
                            self.problem = None;
                            chosen = Some(db);
                        }
                        Err(e) => self.problem = Some(e.to_string()),
                    }
                }
            });
        self.open = open;
        chosen
    }
}
