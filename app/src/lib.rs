//! The ECG-R1 workstation application: command line, GUI shell, storage and jobs.

pub mod audit;
pub mod cli;
pub mod engines;
pub mod eval;
pub mod gui;
pub mod openai;
pub mod pdf;
pub mod record_export;
pub mod remote;
pub mod report_pdf;
pub mod serve;
pub mod store;
