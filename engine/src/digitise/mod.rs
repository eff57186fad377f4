//! ECG image digitisation: a PNG/JPEG of a printed 12-lead page becomes a calibrated
//! [`EcgRecord`] (500 Hz, µV, each lead present only over the time its panel shows) and a
//! [`DigitisationReport`] saying how every scale was decided.
//!
//! Steps, a file each: [`pixels`] (ink/grid separation) → [`deskew`] (Hough + projection
//! sharpness) → [`grid`] (pitch from the projections' autocorrelation) → [`labels`] (text
//! removal by connected components) → [`rows`] (baselines) → [`pulse`] (the 1 mV pulse) →
//! [`trace`] (dynamic-programming path per row) → [`assemble`] (panels, leads, checks).
//! [`snr`] scores a digitised record against the signal it was drawn from (the PhysioNet
//! Challenge 2024 metric).
//!
//! When a page cannot be digitised the error says exactly why; the image then stays an input
//! for the model only.

mod assemble;
mod boundary;
mod deskew;
mod grid;
mod labels;
mod pixels;
mod pulse;
mod rows;
pub mod snr;
mod trace;

use image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::formats::image::EcgImage;
use crate::record::{EcgRecord, StandardLead};
use crate::render::Layout;

pub use deskew::MAX_SKEW_DEG;

/// Identifies the digitiser's method in stored runs; bump the last number whenever a change
/// can alter the digitised signal.
pub const DIGITISER_VERSION: &str = concat!("ecgr1-digitise/", env!("CARGO_PKG_VERSION"), "+2");
/// Sample rate of every digitised record.
pub const OUTPUT_RATE_HZ: f64 = 500.0;
/// Paper speeds and gains a page is snapped to when measured within [`SNAP_TOLERANCE`].
pub const STANDARD_SPEEDS_MM_S: [f64; 2] = [25.0, 50.0];
pub const STANDARD_GAINS_MM_MV: [f64; 5] = [2.5, 5.0, 10.0, 20.0, 40.0];
pub const SNAP_TOLERANCE: f64 = 0.08;

/// What the caller knows about the page (all optional: found on the page when absent).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DigitiseOptions {
    /// Gain printed on the page (mm/mV); used when the page has no calibration pulse, and in
    /// place of the pulse when given.
    pub gain_mm_mv: Option<f64>,
    /// Paper speed printed on the page (mm/s), in place of the one measured on the grid.
    pub speed_mm_s: Option<f64>,
    /// Layout, when the page's rows are ambiguous ("3x4", "6x2", "12x1").
    pub layout: Option<String>,
    /// Lead panels a reader placed by hand, read in place of the ones found.
    #[serde(default)]
    pub lead_boxes: Vec<LeadPanel>,
}

impl DigitiseOptions {
    /// The options that read a page as `report` says it was read: the gain and speed it was
    /// told, the layout it read, and the lead boxes a reader placed. Digitising the same image
    /// with them (by the same digitiser version) gives the same signal, so a stored reading
    /// can be reopened with its corrections.
    pub fn that_read(report: &DigitisationReport) -> Self {
        Self {
            gain_mm_mv: report
                .gain_mm_mv
                .filter(|_| report.gain_source == GainSource::Stated),
            speed_mm_s: report
                .speed_mm_s
                .filter(|_| report.speed_source == SpeedSource::Stated),
            // Stating the layout that was read changes nothing (it is checked against the
            // rows found), and a 3×4 page with two rhythm strips can only be read stated.
            layout: Some(report.layout.clone()),
            lead_boxes: report
                .leads
                .iter()
                .filter(|b| b.corrected)
                .map(|b| b.panel.clone())
                .collect(),
        }
    }
}

/// Where one lead's panel is on the levelled page: the box its trace is read in and its 0 mV
/// line. The digitiser finds one per lead ([`LeadBox::panel`]); a reader corrects one by
/// placing it by hand ([`DigitiseOptions::lead_boxes`]), and the panel's time window then
/// follows from its columns and the page's time scale.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeadPanel {
    pub lead: StandardLead,
    /// True for a long rhythm strip (its lead as the digitiser named it).
    pub rhythm: bool,
    pub x_px: f64,
    pub y_px: f64,
    pub width_px: f64,
    pub height_px: f64,
    /// The 0 mV line (px).
    pub zero_y_px: f64,
}

/// How the paper speed (time scale) was decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpeedSource {
    /// A row holds 10 s; its length measured on the grid gave the speed, snapped to 25 or 50.
    RowLengthOnGrid,
    /// The caller stated it.
    Stated,
    /// No grid: a row holds 10 s, so pixels per second come from its length (no mm scale).
    RowLengthNoGrid,
}

impl SpeedSource {
    /// How the speed was decided, in words ("from a 10 s row's length on the grid").
    pub fn describe(self) -> &'static str {
        match self {
            Self::RowLengthOnGrid => "from a 10 s row's length on the grid",
            Self::Stated => "as stated",
            Self::RowLengthNoGrid => "from a 10 s row's length, no grid",
        }
    }
}

/// How the gain (voltage scale) was decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GainSource {
    /// The 1 mV calibration pulse's height (snapped to a standard gain when on a grid).
    CalibrationPulse,
    /// The caller stated it; the grid gives millimetres.
    Stated,
}

impl GainSource {
    /// How the gain was decided, in words ("from the calibration pulse").
    pub fn describe(self) -> &'static str {
        match self {
            Self::CalibrationPulse => "from the calibration pulse",
            Self::Stated => "as stated",
        }
    }
}

impl DigitisationReport {
    /// The gain and how it was found, in words ("10 mm/mV, from the calibration pulse").
    pub fn gain_text(&self) -> String {
        self.gain_mm_mv.map_or_else(
            || "gain from the 1 mV pulse's height (no grid)".to_string(),
            |g| format!("{g} mm/mV, {}", self.gain_source.describe()),
        )
    }

    /// The paper speed and how it was found, in words.
    pub fn speed_text(&self) -> String {
        self.speed_mm_s.map_or_else(
            || "time from a 10 s row's length (no grid)".to_string(),
            |s| format!("{s} mm/s, {}", self.speed_source.describe()),
        )
    }
}

/// The grid found.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct GridFound {
    pub px_per_mm_x: f64,
    pub px_per_mm_y: f64,
    /// Were 1 mm lines seen between the 5 mm lines?
    pub minor_lines: bool,
}

/// The calibration pulse found (medians over the rows that have one).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PulseFound {
    pub rows_with_pulse: usize,
    pub height_px: f64,
    pub width_px: f64,
    /// On the grid: its height (mm, = the gain in mm/mV) and its width (mm).
    pub height_mm: Option<f64>,
    pub width_mm: Option<f64>,
    /// Boxes in the levelled page's pixels: (x, y, width, height) per row.
    pub boxes_px: Vec<[f64; 4]>,
}

/// Where one lead's panel is and how sure the digitiser is of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeadBox {
    /// The panel in the levelled page's pixels (stored flat, beside the fields below).
    #[serde(flatten)]
    pub panel: LeadPanel,
    /// Time the panel shows, seconds from the page's start.
    pub t_start_s: f64,
    pub t_end_s: f64,
    /// Share of the panel's columns where the trace was found.
    pub coverage: f64,
    /// 0–1: coverage, lowered when the path had to guess across gaps.
    pub confidence: f64,
    /// Placed by a reader ([`DigitiseOptions::lead_boxes`]), not found.
    #[serde(default)]
    pub corrected: bool,
}

/// Everything the digitiser decided, for the report, the store and the GUI.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DigitisationReport {
    pub digitiser_version: String,
    pub image_width_px: u32,
    pub image_height_px: u32,
    pub colour_page: bool,
    /// The page was turned back by this much (clockwise positive) before reading it.
    pub rotation_corrected_deg: f64,
    pub grid: Option<GridFound>,
    pub calibration_pulse: Option<PulseFound>,
    pub gain_mm_mv: Option<f64>,
    pub gain_source: GainSource,
    pub px_per_mv: f64,
    pub speed_mm_s: Option<f64>,
    pub speed_source: SpeedSource,
    pub px_per_s: f64,
    /// "3x4", "6x2" or "12x1".
    pub layout: String,
    pub rhythm_leads: Vec<StandardLead>,
    pub leads: Vec<LeadBox>,
    /// RMS of I + III − II over the samples where all three are present, µV, and as a share
    /// of lead II's RMS (a consistency check: near 0 on a correct digitisation).
    pub einthoven_residual_uv: Option<f64>,
    pub einthoven_relative: Option<f64>,
    pub text_components_removed: usize,
    pub notes: Vec<String>,
}

impl DigitisationReport {
    /// The mean confidence over the leads found.
    pub fn mean_confidence(&self) -> f64 {
        if self.leads.is_empty() {
            return 0.0;
        }
        self.leads.iter().map(|l| l.confidence).sum::<f64>() / self.leads.len() as f64
    }

    /// A point of the levelled page in the original image's pixels.
    pub fn to_original(&self, x: f64, y: f64) -> (f64, f64) {
        let (cx, cy) = (
            f64::from(self.image_width_px) / 2.0,
            f64::from(self.image_height_px) / 2.0,
        );
        // The levelled page is the original turned by −rotation; undo that.
        let (s, c) = self.rotation_corrected_deg.to_radians().sin_cos();
        let (dx, dy) = (x - cx, y - cy);
        (cx + dx * c - dy * s, cy + dx * s + dy * c)
    }
}

/// One lead's digitised trace in the levelled page's pixels, for drawing over the image.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceOverlay {
    pub lead: StandardLead,
    pub rhythm: bool,
    pub points_px: Vec<(f32, f32)>,
}

/// A digitised page.
#[derive(Clone, Debug)]
pub struct Digitised {
    pub record: EcgRecord,
    pub report: DigitisationReport,
    pub overlays: Vec<TraceOverlay>,
}

/// Why a page could not be digitised.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DigitiseError {
    #[error("cannot decode the image: {0}")]
    Decode(String),
    #[error(
        "the page is rotated by {deg:.1}°, beyond the {MAX_SKEW_DEG}° the digitiser corrects; scan or photograph it straight"
    )]
    TooSkewed { deg: f64 },
    #[error("no ECG trace found on the page")]
    NoTrace,
    #[error(
        "no grid and no calibration pulse: the page has no scale for voltage, so it cannot be measured"
    )]
    NoScale,
    #[error(
        "no calibration pulse found and no gain stated: give the gain printed on the page (mm/mV)"
    )]
    NoGain,
    #[error("unknown layout: {0}")]
    UnknownLayout(String),
    #[error("bad option {option}: {problem}")]
    BadOption {
        option: &'static str,
        problem: String,
    },
}

/// Digitises a page image (the record's provenance is the image's).
pub fn digitise_image(
    image: &EcgImage,
    options: &DigitiseOptions,
) -> Result<Digitised, DigitiseError> {
    let rgb = image
        .decode_rgb()
        .map_err(|e| DigitiseError::Decode(e.to_string()))?;
    let mut out = digitise(&rgb, options)?;
    out.record.provenance = image.provenance.clone();
    out.record.processing_notes.insert(
        0,
        format!(
            "digitised from the image {} (sha256 {}) by {}",
            image.provenance.file_name, image.provenance.sha256, DIGITISER_VERSION
        ),
    );
    Ok(out)
}

/// Digitises decoded pixels.
pub fn digitise(image: &RgbImage, options: &DigitiseOptions) -> Result<Digitised, DigitiseError> {
    for (option, value) in [("gain", options.gain_mm_mv), ("speed", options.speed_mm_s)] {
        if let Some(v) = value
            && !(v.is_finite() && v > 0.0 && v <= 200.0)
        {
            return Err(DigitiseError::BadOption {
                option,
                problem: format!("{v} is not a positive scale"),
            });
        }
    }
    let layout = match &options.layout {
        None => None,
        Some(s) => Some(
            s.parse::<Layout>()
                .map_err(|problem| DigitiseError::BadOption {
                    option: "layout",
                    problem,
                })?,
        ),
    };
    if image.width() < 64 || image.height() < 64 {
        return Err(DigitiseError::NoTrace);
    }
    let first = pixels::separate(image, false);
    let rotation = deskew::estimate_rotation(image, first.paper_level);
    if rotation.abs() > MAX_SKEW_DEG {
        return Err(DigitiseError::TooSkewed { deg: rotation });
    }
    let levelled = deskew::level(image, rotation);
    let page = levelled.as_ref().unwrap_or(image);
    let planes = if levelled.is_some() {
        pixels::separate(page, false)
    } else {
        first
    };
    assemble::read_page(page, planes, rotation, layout, options)
}

#[cfg(test)]
mod correction_tests;
#[cfg(test)]
mod independent_tests;
#[cfg(test)]
mod tests;
