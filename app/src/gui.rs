//! The workstation window (eframe, glow renderer): three workspaces over one case store —
//! the reading room (cardiologist), the auditor view and teaching rounds (trainer).
//!
//! The frame loop never blocks: files, engine runs and database work run on worker threads
//! ([`jobs`]) and report back through channels.

pub mod auditor;
#[cfg(test)]
mod auditor_tests;
mod demo;
pub mod jobs;
pub mod link;
pub(crate) mod reading_room;
pub mod settings;
#[cfg(test)]
mod snapshot_tests;
pub mod store_settings;
#[cfg(test)]
mod store_settings_tests;
pub mod teaching;
#[cfg(test)]
mod teaching_tests;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

use clap::Args;

use crate::cli::store_args::{DbArgs, login_name};
use crate::store::StoreConfig;

pub use demo::demo_record;
use jobs::{Job, JobSlot};
use link::{StoreLink, open_store};
pub use reading_room::{ReadingRoom, SAMPLE_FILES, samples_dir};

#[derive(Debug, Default, Args)]
pub struct GuiArgs {
    /// An ECG file to open instead of the bundled sample.
    pub file: Option<PathBuf>,
    /// How to read FILE and the files opened in the window.
    #[command(flatten)]
    pub read: crate::cli::input::ReadArgs,
    #[command(flatten)]
    pub db: DbArgs,
    /// The acting user (default: the login name from $USER). Signing asks for the password.
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
}

/// The three workspaces, one per kind of user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workspace {
    ReadingRoom,
    Auditor,
    Teaching,
}

impl Workspace {
    pub const ALL: [Self; 3] = [Self::ReadingRoom, Self::Auditor, Self::Teaching];

    pub fn title(self) -> &'static str {
        match self {
            Self::ReadingRoom => "Reading room",
            Self::Auditor => "Auditor",
            Self::Teaching => "Teaching rounds",
        }
    }
}

/// The case store: being opened, open, or not available (with the reason shown).
enum StoreState {
    Opening(JobSlot<Result<(StoreLink, Vec<String>), String>>),
    Open(StoreLink),
    Unavailable(String),
}

/// How the window starts.
pub struct StartOptions {
    pub file: Option<PathBuf>,
    /// The store to open, or why there is none.
    pub store: Result<StoreConfig, String>,
    pub user: String,
    /// What the window remembered from its last start (eframe storage).
    pub persisted: Option<settings::PersistedState>,
    /// How files opened in the window are read (`--units`, `--sample-rate`).
    pub load_options: ecgr1_engine::formats::LoadOptions,
}

impl StartOptions {
    /// The start options of `ecgr1 gui`; fails on reading options that make no sense.
    pub fn from_args(args: &GuiArgs) -> anyhow::Result<Self> {
        let user = args
            .user
            .clone()
            .or_else(|| login_name().ok())
            .unwrap_or_else(|| "clinician".to_string());
        let store = args
            .db
            .db_location()
            .and_then(|db| {
                Ok(StoreConfig {
                    key: args.db.key_source(&db)?,
                    db,
                    first_user: user.clone(),
                    first_password: None,
                    clock: crate::store::clock::Clock::System,
                })
            })
            .map_err(|e| format!("{e:#}"));
        Ok(Self {
            file: args.file.clone(),
            store,
            user,
            persisted: None,
            load_options: args.read.load_options()?,
        })
    }
}

pub struct WorkstationApp {
    workspace: Workspace,
    store: StoreState,
    /// The store configuration in use (to reopen it elsewhere from the settings window).
    store_config: Option<StoreConfig>,
    store_settings: store_settings::StoreSettings,
    user: String,
    /// Messages from opening the store (a new database, its first user, ...).
    store_notices: Vec<String>,
    reading: ReadingRoom,
    auditor: auditor::AuditorView,
    teaching: teaching::TeachingView,
}

impl WorkstationApp {
    pub fn new(ctx: &egui::Context, options: StartOptions) -> Self {
        let store_config = options.store.as_ref().ok().cloned();
        let store = match options.store {
            Ok(config) => Self::start_opening(ctx, config, options.user.clone()),
            Err(e) => StoreState::Unavailable(e),
        };
        let persisted = options.persisted.unwrap_or_default();
        // A file named on the command line wins over what was open last time.
        let (file, case) = match (options.file, &persisted.open) {
            (Some(f), _) => (Some(f), None),
            (None, Some(settings::OpenItem::File(f))) if f.is_file() => (Some(f.clone()), None),
            (None, Some(settings::OpenItem::Case(id))) => (None, Some(*id)),
            (None, _) => (None, None),
        };
        let mut reading = ReadingRoom::new(ctx, file, options.load_options);
        reading.set_paper_settings(persisted.paper());
        if let Some(run) = persisted.run.clone() {
            reading.set_run_settings(run);
        }
        if let Some(case) = case {
            reading.prefer_case(case);
        }
        Self {
            workspace: persisted.workspace(),
            store,
            store_config,
            store_settings: store_settings::StoreSettings::default(),
            user: options.user,
            store_notices: Vec::new(),
            reading,
            auditor: auditor::AuditorView::default(),
            teaching: teaching::TeachingView::default(),
        }
    }

    fn start_opening(ctx: &egui::Context, config: StoreConfig, user: String) -> StoreState {
        let mut slot = JobSlot::default();
        slot.start(Job::spawn(ctx, "opening the case store", move || {
            open_store(&config, &user)
        }));
        StoreState::Opening(slot)
    }

    /// What the store settings window shows.
    fn store_status(&self) -> store_settings::StoreStatus {
        let (location, kind) = match &self.store_config {
            Some(config) => store_settings::StoreStatus::describe(&config.db),
            None => ("none".to_string(), "no store configured".to_string()),
        };
        let state = match &self.store {
            StoreState::Opening(_) => Ok(None),
            StoreState::Open(link) => Ok(Some(link.session.name.clone())),
            StoreState::Unavailable(e) => Err(e.clone()),
        };
        store_settings::StoreStatus {
            location,
            kind,
            state,
        }
    }

    /// Switches to the store at `db` (the audit key stays the one in use).
    fn reopen_store(&mut self, ctx: &egui::Context, db: crate::store::DbLocation) {
        let key = match &self.store_config {
            Some(config) => Ok(config.key.clone()),
            None => crate::cli::store_args::DbArgs::default()
                .key_source(&db)
                .map_err(|e| format!("{e:#}")),
        };
        let key = match key {
            Ok(key) => key,
            Err(e) => {
                self.store = StoreState::Unavailable(e);
                return;
            }
        };
        // The field shows a URL's password as ***: unchanged, it means the one in use.
        let db = match &self.store_config {
            Some(config) if config.db.describe() == db.describe() => config.db.clone(),
            _ => db,
        };
        let config = StoreConfig {
            db,
            key,
            first_user: self.user.clone(),
            first_password: None,
            clock: crate::store::clock::Clock::System,
        };
        self.store_config = Some(config.clone());
        self.store = Self::start_opening(ctx, config, self.user.clone());
        self.auditor.invalidate();
        self.teaching.invalidate();
    }

    /// The reading room (the benchmark watches it for the first drawn ECG).
    pub fn reading_room(&self) -> &ReadingRoom {
        &self.reading
    }

    /// The open store, if any.
    pub fn link(&self) -> Option<&StoreLink> {
        match &self.store {
            StoreState::Open(link) => Some(link),
            _ => None,
        }
    }

    /// Acts as another user on the same store (tests switch users this way).
    #[cfg(test)]
    pub(crate) fn set_link(&mut self, link: StoreLink) {
        self.store = StoreState::Open(link);
        self.auditor.invalidate();
    }

    fn receive_store(&mut self) {
        let StoreState::Opening(slot) = &mut self.store else {
            return;
        };
        let Some(done) = slot.take_done() else { return };
        self.store = match done.and_then(|r| r) {
            Ok((link, notices)) => {
                self.store_notices = notices;
                StoreState::Open(link)
            }
            Err(e) => StoreState::Unavailable(e),
        };
    }

    fn workspace_bar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.strong("ECG-R1 workstation");
            ui.separator();
            for ws in Workspace::ALL {
                if ui
                    .selectable_value(&mut self.workspace, ws, ws.title())
                    .clicked()
                {
                    // Runs and signatures may have been added since the lists were read.
                    match ws {
                        Workspace::Auditor => self.auditor.invalidate(),
                        Workspace::Teaching => self.teaching.invalidate(),
                        Workspace::ReadingRoom => {}
                    }
                }
            }
            ui.separator();
            match &self.store {
                StoreState::Opening(slot) => {
                    ui.spinner();
                    ui.label(slot.label().unwrap_or("opening the case store"));
                }
                StoreState::Open(link) => {
                    ui.label(format!(
                        "{} ({})  ·  store {}",
                        link.session.name,
                        link.session.roles_text(),
                        link.location
                    ))
                    .on_hover_text(self.store_notices.join("\n"));
                }
                StoreState::Unavailable(e) => {
                    ui.colored_label(
                        ui.visuals().warn_fg_color,
                        "No case store: reading works, storing and signing do not",
                    )
                    .on_hover_text(e.as_str());
                }
            }
            if ui
                .button("Case store…")
                .on_hover_text("Which store this workstation uses, and why it is not open")
                .clicked()
            {
                let status = self.store_status();
                self.store_settings.show_for(&status);
            }
        });
    }
}

impl WorkstationApp {
    /// What to remember for the next start.
    pub fn persisted(&self) -> settings::PersistedState {
        settings::PersistedState::capture(
            self.workspace,
            self.reading.paper_settings(),
            self.reading.open_item(),
            self.reading.run_settings(),
        )
    }
}

impl eframe::App for WorkstationApp {
    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, settings::STORAGE_KEY, &self.persisted());
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.show(ui);
    }
}

impl WorkstationApp {
    /// Draws one frame of the whole window into `ui` (eframe calls this through `App::ui`;
    /// the frame-time benchmark calls it directly).
    pub fn show(&mut self, ui: &mut egui::Ui) {
        self.receive_store();
        egui::Panel::top("workspace_bar").show(ui, |ui| self.workspace_bar(ui));
        let status = self.store_status();
        if let Some(db) = self.store_settings.ui(ui.ctx(), &status) {
            self.reopen_store(ui.ctx(), db);
        }
        let link = match &self.store {
            StoreState::Open(link) => Some(link),
            _ => None,
        };
        match self.workspace {
            Workspace::ReadingRoom => self.reading.ui(ui, link),
            Workspace::Auditor => self.auditor.ui(ui, link),
            Workspace::Teaching => self.teaching.ui(ui, link),
        }
    }
}

pub fn run(args: &GuiArgs) -> anyhow::Result<()> {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("ECG-R1 workstation")
            .with_inner_size([1400.0, 900.0]),
        ..eframe::NativeOptions::default()
    };
    let mut start = StartOptions::from_args(args)?;
    eframe::run_native(
        "ECG-R1 workstation",
        options,
        Box::new(move |cc| {
            start.persisted = cc
                .storage
                .and_then(|s| eframe::get_value(s, settings::STORAGE_KEY));
            Ok(Box::new(WorkstationApp::new(&cc.egui_ctx, start)))
        }),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the workstation window: {e}"))
}
