//! The ECG-R1 workstation application: command line, GUI shell, storage and jobs.

pub mod audit;
pub mod cli;
pub mod gui;
pub mod store;
