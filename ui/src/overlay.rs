//! What is drawn on top of the ECG paper: beat markers from the feature database and the
//! highlighted evidence of a trace sentence. The reading room fills it; the paper view draws
//! it in the same millimetre geometry as the trace.

use ecgr1_engine::StandardLead;
use egui::Color32;

/// A detected beat (R peak), drawn as a tick above each panel showing its time.
#[derive(Clone, Debug, PartialEq)]
pub struct BeatMark {
    pub time_s: f64,
    /// Dominant (normal-template) beat; ectopic beats are drawn in a warning colour.
    pub dominant: bool,
}

/// A highlighted stretch of the recording: the evidence a hovered sentence cites.
#[derive(Clone, Debug, PartialEq)]
pub struct Highlight {
    /// The leads to highlight; empty means every lead.
    pub leads: Vec<StandardLead>,
    pub start_s: f64,
    pub end_s: f64,
    /// Why it is highlighted (shown on hover and to screen readers).
    pub label: String,
}

impl Highlight {
    pub fn covers(&self, lead: StandardLead) -> bool {
        self.leads.is_empty() || self.leads.contains(&lead)
    }
}

/// A delineation point of one beat (from the feature database), drawn as a tick at the foot
/// of each panel showing its time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FiducialKind {
    POnset,
    QrsOnset,
    /// QRS offset (the J point).
    QrsOffset,
    TOffset,
}

impl FiducialKind {
    /// The letter printed beside the tick.
    pub fn label(self) -> &'static str {
        match self {
            Self::POnset => "P",
            Self::QrsOnset => "Q",
            Self::QrsOffset => "J",
            Self::TOffset => "Te",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Fiducial {
    pub time_s: f64,
    pub kind: FiducialKind,
}

/// Everything drawn over the paper.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PaperOverlay {
    pub beats: Vec<BeatMark>,
    pub fiducials: Vec<Fiducial>,
    pub highlights: Vec<Highlight>,
}

impl PaperOverlay {
    pub fn is_empty(&self) -> bool {
        self.beats.is_empty() && self.fiducials.is_empty() && self.highlights.is_empty()
    }
}

pub(crate) const HIGHLIGHT_FILL: Color32 = Color32::from_rgba_premultiplied(40, 90, 200, 48);
pub(crate) const BEAT_INK: Color32 = Color32::from_rgb(30, 90, 200);
pub(crate) const FIDUCIAL_INK: Color32 = Color32::from_rgb(0, 140, 110);
pub(crate) const ECTOPIC_INK: Color32 = Color32::from_rgb(220, 120, 0);
