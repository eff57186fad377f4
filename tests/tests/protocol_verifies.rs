//! The protocol engine writes its trace from the measurements, so the verifier must find its
//! claims supported: a contradiction here is a bug in the engine's wording or in the verifier.

// Test helpers outside #[test] functions may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use ecgr1_engine::features::measure;
use ecgr1_engine::formats::{EcgInput, LoadOptions, load_path};
use ecgr1_engine::protocol::ProtocolEngine;
use ecgr1_engine::report::{Engine, Request, Task};
use ecgr1_engine::verify::{ClaimStatus, verify_report};

#[test]
fn protocol_traces_on_every_sample_contradict_nothing() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/samples");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if !matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("hea" | "edf" | "csv" | "dcm" | "xml")
        ) {
            continue;
        }
        let EcgInput::Signal(signal) = load_path(&path, &LoadOptions::default()).unwrap() else {
            continue;
        };
        let measurements = measure(&signal.record).unwrap();
        for task in [Task::Interpret, Task::Twi] {
            for notes in ["", "chest pain for two hours, on digoxin"] {
                let request = Request {
                    record: Some(&signal.record),
                    image: None,
                    notes,
                    task,
                };
                let report = ProtocolEngine::new().run(&request).unwrap();
                let v = verify_report(&report, &measurements);
                let contradicted: Vec<_> = v
                    .claims
                    .iter()
                    .filter(|c| c.status == ClaimStatus::Contradicted)
                    .collect();
                assert!(
                    contradicted.is_empty(),
                    "{} ({task:?}): the verifier contradicts the protocol engine:\n{contradicted:#?}",
                    path.display()
                );
                assert!(
                    v.summary.supported >= 5,
                    "{}: only {} claims supported",
                    path.display(),
                    v.summary.supported
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 8, "too few samples checked ({checked})");
}
