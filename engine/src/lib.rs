//! ECG-R1 workstation engine: pure computation, no I/O beyond reading the files it is given.
//!
//! file → [`formats`] → [`record::EcgRecord`] → measurements → [`report::Engine`] → [`report::Report`]

pub mod digitise;
pub mod display_filter;
pub mod dsp;
pub mod eval;
pub mod features;
pub mod formats;
pub mod model;
pub mod protocol;
pub mod record;
pub mod render;
pub mod report;
pub mod serial;
pub mod trace;
pub mod verify;

#[cfg(test)]
mod test_rng;

pub use formats::{
    EcgInput, Format, FormatError, FormatErrorKind, LoadOptions, SignalInput, load_path,
};
pub use record::{
    EcgRecord, LeadId, LeadSignal, ModelSignal, PatientInfo, PersonName, StandardLead,
};
pub use report::{Engine, EngineError, Report, Request, RiskBand, Task};
