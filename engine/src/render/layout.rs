//! Page geometry in millimetres: where each lead panel, calibration pulse, label and the footer
//! go. The raster renderer scales it to pixels; the GUI scales it to screen points, so both
//! draw the same page.

use crate::record::{EcgRecord, LeadId, StandardLead};

use super::{RenderError, RenderOptions};

/// Blank border around the grid, mm.
pub const MARGIN_MM: f64 = 5.0;
/// Seconds of signal one page shows, whatever the layout (ten seconds, as carts print).
pub const PAGE_SECONDS: f64 = 10.0;
/// Width of the calibration pulse, seconds (200 ms).
pub const CALIBRATION_PULSE_S: f64 = 0.2;
/// Height of the calibration pulse, millivolts.
pub const CALIBRATION_PULSE_MV: f64 = 1.0;
/// Gap between the grid and the footer line, and the footer's text height, mm.
const FOOTER_GAP_MM: f64 = 2.0;
pub const FOOTER_TEXT_MM: f64 = 3.0;
/// Height of lead labels, mm.
pub const LABEL_TEXT_MM: f64 = 3.5;
/// Fraction of a row above the baseline: ECG deflections are mostly positive (R waves).
const BASELINE_FRACTION: f64 = 0.6;

/// How leads are arranged on the page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Layout {
    /// Three rows of four 2.5 s columns (I,II,III | aVR,aVL,aVF | V1,V2,V3 | V4,V5,V6), each
    /// column the next 2.5 s of the recording, plus a 10 s rhythm strip.
    #[default]
    ThreeByFour,
    /// Six rows of two 5 s columns: limb leads (first 5 s), precordial leads (next 5 s).
    SixByTwo,
    /// Twelve rows, each lead for the full 10 s.
    TwelveByOne,
}

impl Layout {
    pub const ALL: [Layout; 3] = [Self::ThreeByFour, Self::SixByTwo, Self::TwelveByOne];

    /// The command-line spelling: "3x4", "6x2", "12x1".
    pub fn name(self) -> &'static str {
        match self {
            Self::ThreeByFour => "3x4",
            Self::SixByTwo => "6x2",
            Self::TwelveByOne => "12x1",
        }
    }

    /// Columns of lead panels (the rhythm strip not counted).
    pub fn columns(self) -> usize {
        match self {
            Self::ThreeByFour => 4,
            Self::SixByTwo => 2,
            Self::TwelveByOne => 1,
        }
    }

    /// Rows of lead panels (the rhythm strip not counted).
    pub fn lead_rows(self) -> usize {
        12 / self.columns()
    }

    pub fn has_rhythm_strip(self) -> bool {
        matches!(self, Self::ThreeByFour)
    }

    /// Panels on the page, rhythm strip included.
    pub fn panel_count(self) -> usize {
        12 + usize::from(self.has_rhythm_strip())
    }

    /// The lead shown in column `col`, row `row` (standard cart arrangement).
    fn lead_at(self, col: usize, row: usize) -> StandardLead {
        StandardLead::STANDARD_ORDER[col * self.lead_rows() + row]
    }
}

impl std::fmt::Display for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Layout {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('×', "x").as_str() {
            "3x4" | "3x4+1" | "3x4+r" => Ok(Self::ThreeByFour),
            "6x2" => Ok(Self::SixByTwo),
            "12x1" => Ok(Self::TwelveByOne),
            other => Err(format!("unknown layout {other:?}; use 3x4, 6x2 or 12x1")),
        }
    }
}

/// Where a panel's signal comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PanelSource {
    /// Recorded in the file.
    Recorded,
    /// Computed from I and II (marked with `*` on the page).
    Derived,
    /// Not in the record: drawn as a labelled dashed line, never invented.
    Missing,
}

/// One lead's strip of paper: a time window of one lead drawn from `x_mm` for `width_mm`.
#[derive(Clone, Debug, PartialEq)]
pub struct Panel {
    pub lead: StandardLead,
    /// Index of the lead in `EcgRecord::leads`, `None` when missing.
    pub record_index: Option<usize>,
    pub source: PanelSource,
    /// True for the long rhythm strip under a 3×4 layout.
    pub rhythm: bool,
    /// Text printed at the panel's top left ("II", "aVF*", "V3: lead missing").
    pub label: String,
    pub x_mm: f64,
    pub width_mm: f64,
    /// Top of the row this panel sits in, and its height.
    pub row_top_mm: f64,
    pub row_height_mm: f64,
    /// The 0 mV line.
    pub baseline_mm: f64,
    /// Time window shown, seconds from the start of the record.
    pub t_start_s: f64,
    pub t_end_s: f64,
    pub mm_per_s: f64,
    pub mm_per_mv: f64,
}

impl Panel {
    /// Horizontal page position (mm) of time `t_s` (seconds from the record's start).
    pub fn x_at(&self, t_s: f64) -> f64 {
        self.x_mm + (t_s - self.t_start_s) * self.mm_per_s
    }

    /// Vertical page position (mm, downwards) of a voltage in microvolts.
    pub fn y_at_uv(&self, uv: f64) -> f64 {
        self.baseline_mm - uv / 1000.0 * self.mm_per_mv
    }

    /// Time (s from record start) at horizontal page position `x_mm`.
    pub fn time_at(&self, x_mm: f64) -> f64 {
        self.t_start_s + (x_mm - self.x_mm) / self.mm_per_s
    }

    /// Voltage (µV) at vertical page position `y_mm`.
    pub fn uv_at(&self, y_mm: f64) -> f64 {
        (self.baseline_mm - y_mm) / self.mm_per_mv * 1000.0
    }

    /// Is the page point inside this panel's strip?
    pub fn contains(&self, x_mm: f64, y_mm: f64) -> bool {
        x_mm >= self.x_mm
            && x_mm < self.x_mm + self.width_mm
            && y_mm >= self.row_top_mm
            && y_mm < self.row_top_mm + self.row_height_mm
    }
}

/// The 1 mV calibration pulse at the start of a row, with its lead-in and lead-out.
#[derive(Clone, Debug, PartialEq)]
pub struct CalibrationPulse {
    /// Start of the flat lead-in and end of the flat lead-out.
    pub x_start_mm: f64,
    pub x_end_mm: f64,
    /// The rising and the falling edge.
    pub x_rise_mm: f64,
    pub x_fall_mm: f64,
    pub baseline_mm: f64,
    pub top_mm: f64,
}

/// A short vertical bar marking a column boundary on a row, as carts print.
#[derive(Clone, Debug, PartialEq)]
pub struct Separator {
    pub x_mm: f64,
    pub y_top_mm: f64,
    pub y_bottom_mm: f64,
}

/// An axis-aligned rectangle in page millimetres.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RectMm {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

/// The whole page in millimetres.
#[derive(Clone, Debug, PartialEq)]
pub struct PageLayout {
    pub layout: Layout,
    pub speed_mm_s: f64,
    pub gain_mm_mv: f64,
    pub width_mm: f64,
    pub height_mm: f64,
    /// The gridded area (starts on a major line; its size is a whole number of 5 mm squares).
    pub grid: RectMm,
    pub panels: Vec<Panel>,
    pub calibrations: Vec<CalibrationPulse>,
    pub separators: Vec<Separator>,
    /// Left end of the footer text's baseline.
    pub footer_x_mm: f64,
    pub footer_baseline_mm: f64,
    pub footer: String,
}

fn round_up_to_5(mm: f64) -> f64 {
    (mm / 5.0).ceil() * 5.0
}

/// Lays out `record` on a page. Checks the options and the record but allocates no pixels.
pub fn page_layout(record: &EcgRecord, options: &RenderOptions) -> Result<PageLayout, RenderError> {
    options.check()?;
    record.validate().map_err(RenderError::Record)?;
    let samples = record.samples_per_lead();
    if samples == 0 {
        return Err(RenderError::EmptyRecord);
    }
    if options.start_s >= record.duration_s() {
        return Err(RenderError::BadOption {
            option: "start",
            problem: format!(
                "{} s is at or after the end of the {:.2} s record",
                options.start_s,
                record.duration_s()
            ),
        });
    }
    let layout = options.layout;
    let speed = options.speed_mm_s;
    let gain = options.gain_mm_mv;
    let pulse_w = CALIBRATION_PULSE_S * speed;
    let cal_w = round_up_to_5(pulse_w + 5.0);
    let row_h = round_up_to_5((3.0 * gain).max(20.0));
    let column_s = PAGE_SECONDS / layout.columns() as f64;
    let col_w = column_s * speed;
    let rows = layout.lead_rows() + usize::from(layout.has_rhythm_strip());
    let grid = RectMm {
        x: MARGIN_MM,
        y: MARGIN_MM,
        width: cal_w + col_w * layout.columns() as f64,
        height: row_h * rows as f64,
    };
    let baseline_of = |row: usize| grid.y + row as f64 * row_h + row_h * BASELINE_FRACTION;

    let find = |lead: StandardLead| {
        record
            .leads
            .iter()
            .position(|l| l.lead == LeadId::Standard(lead))
    };
    let make_panel = |lead: StandardLead, row: usize, x_mm: f64, width_mm: f64, t0: f64, rhythm| {
        let record_index = find(lead);
        let source = match record_index {
            None => PanelSource::Missing,
            Some(i) if record.leads[i].derived => PanelSource::Derived,
            Some(_) => PanelSource::Recorded,
        };
        let label = match source {
            PanelSource::Recorded => lead.name().to_string(),
            PanelSource::Derived => format!("{}*", lead.name()),
            PanelSource::Missing => format!("{}: lead missing", lead.name()),
        };
        Panel {
            lead,
            record_index,
            source,
            rhythm,
            label,
            x_mm,
            width_mm,
            row_top_mm: grid.y + row as f64 * row_h,
            row_height_mm: row_h,
            baseline_mm: baseline_of(row),
            t_start_s: t0,
            t_end_s: t0 + width_mm / speed,
            mm_per_s: speed,
            mm_per_mv: gain,
        }
    };

    let traces_x = grid.x + cal_w;
    let mut panels = Vec::with_capacity(layout.panel_count());
    let mut separators = Vec::new();
    for col in 0..layout.columns() {
        let x = traces_x + col as f64 * col_w;
        let t0 = options.start_s + col as f64 * column_s;
        for row in 0..layout.lead_rows() {
            panels.push(make_panel(
                layout.lead_at(col, row),
                row,
                x,
                col_w,
                t0,
                false,
            ));
            if col > 0 {
                separators.push(Separator {
                    x_mm: x,
                    y_top_mm: baseline_of(row) - 2.5,
                    y_bottom_mm: baseline_of(row) + 2.5,
                });
            }
        }
    }
    if layout.has_rhythm_strip() {
        panels.push(make_panel(
            options.rhythm_lead,
            layout.lead_rows(),
            traces_x,
            col_w * layout.columns() as f64,
            options.start_s,
            true,
        ));
    }
    let pulse_rows = if options.calibration_pulse { rows } else { 0 };
    let calibrations = (0..pulse_rows)
        .map(|row| {
            let x_rise = grid.x + (cal_w - pulse_w) / 2.0;
            CalibrationPulse {
                x_start_mm: grid.x + 1.0,
                x_end_mm: grid.x + cal_w - 1.0,
                x_rise_mm: x_rise,
                x_fall_mm: x_rise + pulse_w,
                baseline_mm: baseline_of(row),
                top_mm: baseline_of(row) - CALIBRATION_PULSE_MV * gain,
            }
        })
        .collect();

    let footer_baseline_mm = grid.y + grid.height + FOOTER_GAP_MM + FOOTER_TEXT_MM;
    Ok(PageLayout {
        layout,
        speed_mm_s: speed,
        gain_mm_mv: gain,
        width_mm: grid.width + 2.0 * MARGIN_MM,
        height_mm: footer_baseline_mm + MARGIN_MM,
        grid,
        panels,
        calibrations,
        separators,
        footer_x_mm: grid.x,
        footer_baseline_mm,
        footer: footer_text(record, options),
    })
}

/// The settings line printed under the grid, as carts print it.
fn footer_text(record: &EcgRecord, options: &RenderOptions) -> String {
    let layout = match options.layout {
        Layout::ThreeByFour => format!("3x4 + {} rhythm", options.rhythm_lead),
        other => other.name().to_string(),
    };
    let mut parts = vec![
        format!("{} mm/s", options.speed_mm_s),
        format!("{} mm/mV", options.gain_mm_mv),
        "filters: none (signal as recorded)".to_string(),
        layout,
        format!("{} Hz, {:.1} s", record.sample_rate_hz, record.duration_s()),
    ];
    if options.start_s > 0.0 {
        parts.push(format!("from {:.2} s", options.start_s));
    }
    if record.leads.iter().any(|l| l.derived) {
        parts.push("* derived from I and II".to_string());
    }
    parts.push(record.provenance.file_name.clone());
    parts.join("   ")
}
