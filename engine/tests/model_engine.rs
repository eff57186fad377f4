//! The local model engine end to end on the tiny Qwen2-VL checkpoint: a report from an image with
//! streamed tokens, P(yes) from the softmax and the band, cancellation, and clear errors.

// Test code throughout: a failed unwrap is a failed test (clippy's in-test allowance does not
// reach helper functions of an integration test crate).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc;

use ecgr1_engine::formats::{EcgImage, EcgInput, Format, LoadOptions, load_path};
use ecgr1_engine::model::{
    GenerationEvent, LocalModelEngine, LocalModelOptions, ModelDType, StopReason,
};
use ecgr1_engine::record::{EcgRecord, LeadId, LeadSignal, Provenance, StandardLead};
use ecgr1_engine::report::{Engine, EngineError, Request, RiskBand, Task};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/model")
}

fn engine(max_new_tokens: usize) -> LocalModelEngine {
    let mut opts = LocalModelOptions::new(fixtures().join("qwen2vl-tiny").display().to_string());
    opts.dtype = Some(ModelDType::F32);
    opts.prefer_gpu = false;
    opts.generation.max_new_tokens = max_new_tokens;
    LocalModelEngine::load(opts).unwrap()
}

fn image() -> EcgImage {
    match load_path(&fixtures().join("ecg_small.png"), &LoadOptions::default()).unwrap() {
        EcgInput::Image(i) => i,
        EcgInput::Signal(_) => panic!("an image"),
    }
}

#[test]
fn twi_report_with_streamed_tokens_and_softmax_score() {
    let mut eng = engine(12);
    let (tx, rx) = mpsc::channel();
    eng.set_stream(Some(tx));
    let img = image();
    let report = eng
        .run(&Request {
            record: None,
            image: Some(&img),
            notes: "Male, 64 years. Chest pain for 2 hours. History of hypertension.",
            task: Task::Twi,
        })
        .unwrap();
    let events: Vec<GenerationEvent> = rx.try_iter().collect();
    let streamed: String = events
        .iter()
        .filter_map(|e| match e {
            GenerationEvent::Token { text, .. } => Some(text.as_str()),
            GenerationEvent::Finished(_) => None,
        })
        .collect();
    let tokens = events
        .iter()
        .filter(|e| matches!(e, GenerationEvent::Token { .. }))
        .count();
    assert_eq!(Some(tokens), report.timings.generated_tokens);
    assert!(matches!(
        events.last(),
        Some(GenerationEvent::Finished(StopReason::MaxTokens))
    ));
    assert_eq!(streamed, report.raw_output);
    // The random model writes no <answer>: that is reported, and P(yes) is read after
    // appending <answer>, from the real softmax.
    assert!(
        report
            .parse_issues
            .iter()
            .any(|i| i.contains("no <answer>")),
        "{:?}",
        report.parse_issues
    );
    assert!(report.parse_issues.iter().any(|i| i.contains("cut off")));
    let score = report.score.expect("a score");
    assert!(score.yes_mass > 0.0 && score.no_mass > 0.0);
    assert!((score.p_yes - score.yes_mass / (score.yes_mass + score.no_mass)).abs() < 1e-12);
    assert_eq!(report.band, RiskBand::from_p_yes(score.p_yes));
    assert_eq!(report.engine.family.as_deref(), Some("qwen2-vl"));
    assert_eq!(report.engine.dtype.as_deref(), Some("f32"));
    assert_eq!(report.engine.weights_sha256.len(), 1);
    assert_eq!(report.engine.weights_sha256[0].1.len(), 64);
    assert!(report.input_notes[0].contains("visual tokens"));
}

#[test]
fn cancellation_from_another_thread_stops_the_run() {
    let mut eng = engine(2048);
    let (tx, rx) = mpsc::channel();
    eng.set_stream(Some(tx));
    let flag = eng.cancel_flag();
    // Cancel as soon as the first token arrives.
    let watcher = std::thread::spawn(move || {
        if rx.recv().is_ok() {
            flag.store(true, Ordering::Relaxed);
        }
        rx.iter().count()
    });
    let img = image();
    let r = eng.run(&Request {
        record: None,
        image: Some(&img),
        notes: "",
        task: Task::Twi,
    });
    drop(eng);
    let later = watcher.join().unwrap();
    assert!(matches!(r, Err(EngineError::Cancelled)), "{r:?}");
    // The run stopped long before its 2048-token budget. (That it stops before the very next
    // token is checked deterministically in generate's unit tests; here the watcher thread's
    // scheduling decides how many tokens pass before the flag is set.)
    assert!(later < 2000, "{later} tokens after cancelling");
}

#[test]
fn a_signal_alone_is_drawn_on_paper_for_the_model_and_no_input_is_refused() {
    let mut eng = engine(4);
    let EcgInput::Signal(signal) = load_path(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/samples/synthetic_twi.csv"),
        &LoadOptions::default(),
    )
    .unwrap() else {
        panic!("the sample is a signal file");
    };
    let report = eng
        .run(&Request {
            record: Some(&signal.record),
            image: None,
            notes: "",
            task: Task::Twi,
        })
        .unwrap();
    assert!(
        report.input_notes[0].contains("rendered to ECG paper"),
        "{:?}",
        report.input_notes
    );
    let p = report.p_yes().unwrap();
    assert_eq!(report.band, RiskBand::from_p_yes(p));
    // A record that cannot be drawn is a clear input error, not a panic.
    let empty = EcgRecord {
        sample_rate_hz: 500.0,
        leads: vec![LeadSignal::new(
            LeadId::Standard(StandardLead::I),
            "I",
            Vec::new(),
        )],
        acquisition_time: None,
        device: None,
        provenance: Provenance {
            format: Format::Csv,
            file_name: "x.csv".into(),
            sha256: String::new(),
            byte_len: 0,
        },
        annotations: Vec::new(),
        representative_beats: None,
        processing_notes: Vec::new(),
    };
    let r = eng.run(&Request {
        record: Some(&empty),
        image: None,
        notes: "",
        task: Task::Twi,
    });
    match r {
        Err(EngineError::Input(m)) => assert!(m.contains("cannot draw"), "{m}"),
        other => panic!("expected an input error, got {other:?}"),
    }
    let r = eng.run(&Request {
        record: None,
        image: None,
        notes: "",
        task: Task::Interpret,
    });
    assert!(matches!(r, Err(EngineError::NoInput)));
}

/// ECG-R1 reads the signal through its tower: nothing is drawn on paper, and the report says
/// what was done to the record on the way (limb leads derived, resampled, zero-padded).
#[test]
fn ecgr1_reads_the_signal_itself_and_says_what_was_done_to_it() {
    let mut opts = LocalModelOptions::new(fixtures().join("ecgr1-tiny").display().to_string());
    opts.dtype = Some(ModelDType::F32);
    opts.prefer_gpu = false;
    opts.generation.max_new_tokens = 3;
    let mut eng = LocalModelEngine::load(opts).unwrap();
    // 4 s at 250 Hz with only I, II and V1–V6: III, aVR, aVL, aVF must be derived.
    let leads = [
        StandardLead::I,
        StandardLead::II,
        StandardLead::V1,
        StandardLead::V2,
        StandardLead::V3,
        StandardLead::V4,
        StandardLead::V5,
        StandardLead::V6,
    ];
    let record = EcgRecord {
        sample_rate_hz: 250.0,
        leads: leads
            .iter()
            .enumerate()
            .map(|(k, l)| {
                let uv = (0..1000)
                    .map(|t| 300.0 * ((t as f64) * 0.05 + k as f64).sin())
                    .collect();
                LeadSignal::new(LeadId::Standard(*l), l.name(), uv)
            })
            .collect(),
        acquisition_time: None,
        device: None,
        provenance: Provenance {
            format: Format::Csv,
            file_name: "eight.csv".into(),
            sha256: String::new(),
            byte_len: 0,
        },
        annotations: Vec::new(),
        representative_beats: None,
        processing_notes: Vec::new(),
    };
    let report = eng
        .run(&Request {
            record: Some(&record),
            image: None,
            notes: "",
            task: Task::Twi,
        })
        .unwrap();
    let notes = report.input_notes.join("\n");
    assert!(notes.contains("ECG tower"), "{notes}");
    assert!(notes.contains("resampled from 250 Hz"), "{notes}");
    assert!(notes.contains("zero-padded"), "{notes}");
    assert!(notes.contains("III"), "{notes}");
    assert!(!notes.contains("rendered"), "{notes}");
    let p = report.p_yes().unwrap();
    assert_eq!(report.band, RiskBand::from_p_yes(p));
    assert_eq!(report.engine.family.as_deref(), Some("ecg-r1"));
    let r = eng.run(&Request {
        record: None,
        image: None,
        notes: "",
        task: Task::Twi,
    });
    assert!(matches!(r, Err(EngineError::NoInput)));
}
