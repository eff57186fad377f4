//! The OpenAI-compatible chat API the department's inference server speaks: the wire types
//! ([`wire`]) shared by the remote engine (the client, `crate::remote`) and `ecgr1 serve` (the
//! server, `crate::serve`), and the ECG content part the workstation adds ([`ecg_part`]).

pub mod ecg_part;
pub mod wire;

pub use ecg_part::{ECG_FORMAT, EcgPart, EcgPartError};
