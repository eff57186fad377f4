//! egui views and widgets of the ECG-R1 workstation. They draw data handed to them and report
//! what the user did; they own no application state and do no I/O.

pub mod assessment;
pub mod digitised_page;
pub mod measurements_table;
pub mod overlay;
pub mod paper;
pub mod serial_table;
pub mod toolbar;
pub mod trace_view;

pub use overlay::{BeatMark, Fiducial, FiducialKind, Highlight, PaperOverlay};
pub use paper::{EcgPaperView, PaperSettings};
pub use toolbar::{SCREEN_DPI, TRUE_SIZE, paper_toolbar};
pub use trace_view::{TraceStepView, TraceView};

#[cfg(test)]
mod tests;
