//! The reading room: a cardiologist opens an ECG (a file or the bundled sample) and reads it
//! on ECG paper with layout, speed and gain controls.
//!
//! Files are read on a worker thread ([`super::jobs`]), so the frame loop never waits on the
//! disk.

use ecgr1_engine::formats::{EcgInput, LoadOptions, load_path};
use ecgr1_engine::{EcgRecord, PatientInfo};
use ecgr1_ui::{EcgPaperView, PaperSettings, paper_toolbar};
use std::path::{Path, PathBuf};

use super::demo_record;
use super::jobs::{Job, JobSlot};
use super::link::StoreLink;

/// Bundled samples tried at start-up, in order of preference.
pub const SAMPLE_FILES: [&str; 4] = [
    "waveform_ecg.dcm",
    "synthetic_sinus.hea",
    "synthetic_sinus.edf",
    "synthetic_sinus.csv",
];

/// The `assets/samples` folder: next to the working directory (running from the repository
/// root) or next to the source tree the binary was built from.
pub fn samples_dir() -> Option<PathBuf> {
    let candidates = [
        PathBuf::from("assets/samples"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/samples"),
    ];
    candidates.into_iter().find(|p| p.is_dir())
}

/// Largest texture side used to show an image input (bigger images are subsampled).
const MAX_TEXTURE_SIDE: u32 = 4096;

/// What the window shows.
enum Shown {
    Nothing,
    Signal {
        record: Box<EcgRecord>,
        patient: PatientInfo,
        /// Set when this is the in-memory synthetic signal, with the reasons no sample was read.
        synthetic: Option<String>,
    },
    Image {
        name: String,
        size: [usize; 2],
        pixels: Vec<u8>,
        texture: Option<egui::TextureHandle>,
    },
}

/// What a load produced, sent back from the worker thread.
enum Loaded {
    Input(PathBuf, Box<EcgInput>),
    Synthetic(String),
    Failed(String),
}

fn load_file(path: &Path) -> Loaded {
    match load_path(path, &LoadOptions::default()) {
        Ok(input) => Loaded::Input(path.to_path_buf(), Box::new(input)),
        Err(e) => Loaded::Failed(e.to_string()),
    }
}

/// The first readable bundled sample, or the synthetic signal with the reasons none was read.
fn load_sample() -> Loaded {
    let Some(dir) = samples_dir() else {
        return Loaded::Synthetic("assets/samples was not found".to_string());
    };
    let mut reasons = Vec::new();
    for name in SAMPLE_FILES {
        let path = dir.join(name);
        if !path.exists() {
            reasons.push(format!("{name}: not present"));
            continue;
        }
        match load_path(&path, &LoadOptions::default()) {
            Ok(input) => return Loaded::Input(path, Box::new(input)),
            Err(e) => reasons.push(e.to_string()),
        }
    }
    Loaded::Synthetic(reasons.join("; "))
}

pub struct ReadingRoom {
    settings: PaperSettings,
    shown: Shown,
    path_text: String,
    error: Option<String>,
    pending: JobSlot<Loaded>,
}

impl ReadingRoom {
    pub fn new(ctx: &egui::Context, file: Option<PathBuf>) -> Self {
        let mut app = Self {
            settings: PaperSettings::default(),
            shown: Shown::Nothing,
            path_text: file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            error: None,
            pending: JobSlot::default(),
        };
        app.start_load(ctx, file);
        app
    }

    /// Whether a file is being read.
    pub fn is_busy(&self) -> bool {
        self.pending.is_running()
    }

    /// Reads `file` (or the bundled sample when `None`) on a worker thread.
    fn start_load(&mut self, ctx: &egui::Context, file: Option<PathBuf>) {
        let label = match &file {
            Some(p) => format!("reading {}", p.display()),
            None => "reading the bundled sample".to_string(),
        };
        self.pending
            .start(Job::spawn(ctx, label, move || match file {
                Some(path) => load_file(&path),
                None => load_sample(),
            }));
    }

    fn receive(&mut self) {
        let Some(done) = self.pending.take_done() else {
            return;
        };
        let loaded = match done {
            Ok(loaded) => loaded,
            Err(e) => Loaded::Failed(e),
        };
        match loaded {
            Loaded::Input(path, input) => {
                self.error = None;
                self.path_text = path.display().to_string();
                self.shown = match *input {
                    EcgInput::Signal(s) => Shown::Signal {
                        record: Box::new(s.record),
                        patient: s.patient,
                        synthetic: None,
                    },
                    EcgInput::Image(image) => match image.decode_rgb() {
                        Ok(rgb) => {
                            let (w, h) = rgb.dimensions();
                            let step = w.max(h).div_ceil(MAX_TEXTURE_SIDE).max(1);
                            let (tw, th) = (w.div_ceil(step), h.div_ceil(step));
                            let mut pixels = Vec::with_capacity((tw * th * 3) as usize);
                            for y in (0..h).step_by(step as usize) {
                                for x in (0..w).step_by(step as usize) {
                                    pixels.extend_from_slice(&rgb.get_pixel(x, y).0);
                                }
                            }
                            Shown::Image {
                                name: image.provenance.file_name.clone(),
                                size: [tw as usize, th as usize],
                                pixels,
                                texture: None,
                            }
                        }
                        Err(e) => {
                            self.error = Some(e.to_string());
                            Shown::Nothing
                        }
                    },
                };
            }
            Loaded::Synthetic(reasons) => {
                self.error = None;
                self.shown = Shown::Signal {
                    record: Box::new(demo_record()),
                    patient: PatientInfo::default(),
                    synthetic: Some(reasons),
                };
            }
            Loaded::Failed(e) => self.error = Some(e),
        }
    }

    fn file_bar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.strong("ECG-R1 workstation");
            ui.separator();
            let label = ui.label("File:");
            let edit = ui
                .add(
                    egui::TextEdit::singleline(&mut self.path_text)
                        .hint_text("path to an ECG file (WFDB, EDF, DICOM, aECG, CSV, PNG, JPEG)")
                        .desired_width(420.0),
                )
                .labelled_by(label.id);
            let enter = edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            let busy = self.pending.is_running();
            if ui
                .add_enabled(!busy, egui::Button::new("Open"))
                .on_hover_text("Open the file named in the path field")
                .clicked()
                || (enter && !busy)
            {
                let path = PathBuf::from(self.path_text.trim());
                if path.as_os_str().is_empty() {
                    self.error = Some("type the path of an ECG file first".to_string());
                } else {
                    self.start_load(ui.ctx(), Some(path));
                }
            }
            if ui
                .add_enabled(!busy, egui::Button::new("Open sample"))
                .on_hover_text("Open the bundled sample ECG")
                .clicked()
            {
                self.start_load(ui.ctx(), None);
            }
            if let Some(label) = self.pending.label() {
                ui.spinner();
                ui.label(label);
            }
        });
    }

    fn status_bar(&self, ui: &mut egui::Ui) {
        if let Some(e) = &self.error {
            ui.colored_label(ui.visuals().error_fg_color, format!("Error: {e}"));
        }
        match &self.shown {
            Shown::Signal {
                record,
                patient,
                synthetic,
            } => {
                if let Some(reasons) = synthetic {
                    ui.colored_label(
                        ui.visuals().warn_fg_color,
                        "Synthetic demo signal: no bundled sample file could be read.",
                    )
                    .on_hover_text(reasons.as_str());
                }
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
                ui.label(format!(
                    "{}  ·  {}  ·  {} Hz  ·  {:.1} s  ·  leads {}  ·  SHA-256 {sha}…{}",
                    record.provenance.file_name,
                    record.provenance.format,
                    record.sample_rate_hz,
                    record.duration_s(),
                    leads.join(" "),
                    if patient.is_empty() {
                        ""
                    } else {
                        "  ·  patient data present (not shown)"
                    }
                ));
                for note in &record.processing_notes {
                    ui.small(note);
                }
            }
            Shown::Image { name, size, .. } => {
                ui.label(format!(
                    "{name}  ·  image {}×{} shown  ·  an image carries no signal: it can be read by the model, not measured",
                    size[0], size[1]
                ));
            }
            Shown::Nothing => {}
        }
    }
}

impl ReadingRoom {
    /// Draws the reading room into `ui`. `link` is the case store, once open.
    pub fn ui(&mut self, ui: &mut egui::Ui, _link: Option<&StoreLink>) {
        self.receive();
        egui::Panel::top("reading_room_file_bar").show(ui, |ui| {
            self.file_bar(ui);
            if matches!(self.shown, Shown::Signal { .. }) {
                paper_toolbar(ui, &mut self.settings);
            }
        });
        egui::Panel::bottom("reading_room_status_bar").show(ui, |ui| self.status_bar(ui));
        egui::CentralPanel::default().show(ui, |ui| {
            let settings = &self.settings;
            match &mut self.shown {
                Shown::Signal { record, .. } => {
                    egui::ScrollArea::both().show(ui, |ui| {
                        ui.add(EcgPaperView::new(record, settings));
                    });
                }
                Shown::Image {
                    name,
                    size,
                    pixels,
                    texture,
                } => {
                    let tex = texture.get_or_insert_with(|| {
                        let image = egui::ColorImage::from_rgb(*size, pixels);
                        ui.ctx()
                            .load_texture(name.clone(), image, egui::TextureOptions::LINEAR)
                    });
                    egui::ScrollArea::both().show(ui, |ui| {
                        let width = ui.available_width();
                        let scale = width / size[0].max(1) as f32;
                        ui.add(
                            egui::Image::new(&*tex)
                                .fit_to_exact_size(egui::vec2(width, size[1] as f32 * scale))
                                .alt_text(format!("ECG image {name}")),
                        );
                    });
                }
                Shown::Nothing => {
                    if !self.pending.is_running() {
                        ui.label("Open an ECG file to begin.");
                    }
                }
            }
        });
    }
}
