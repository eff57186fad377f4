//! The trace verifier: extracts checkable claims from a reasoning trace and checks each
//! against the measurements, so the clinician sees where the model contradicts the signal.

pub mod check;
pub mod claims;
