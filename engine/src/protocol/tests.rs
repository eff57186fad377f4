use super::*;
use crate::features::TPolarity;
use crate::features::accuracy_tests::cart_fixture;
use crate::formats::{EcgImage, Format};
use crate::record::Provenance;

fn cart_measurements() -> Measurements {
    let (rec, _) = cart_fixture();
    features::measure(&rec).unwrap_or_else(|e| panic!("{e}"))
}

fn set_twi(m: &mut Measurements, lead: &str, depth: f64, symmetry: f64) {
    let l = m
        .leads
        .iter_mut()
        .find(|l| l.lead == lead)
        .unwrap_or_else(|| panic!("{lead}"));
    l.t_polarity = Some(TPolarity::Negative);
    l.t_amplitude_uv.value = Some(-depth);
    l.t_depth_uv.value = Some(depth);
    l.t_depth_uv.reason = None;
    l.t_symmetry_ratio.value = Some(symmetry);
}

#[test]
fn interpret_writes_six_grounded_steps_and_parses_back() {
    let (rec, _) = cart_fixture();
    let mut engine = ProtocolEngine::new();
    let req = Request {
        record: Some(&rec),
        image: None,
        notes: "",
        task: Task::Interpret,
    };
    let r = engine.run(&req).unwrap_or_else(|e| panic!("{e}"));
    assert!(r.parse_issues.is_empty(), "{:?}", r.parse_issues);
    assert_eq!(r.steps.len(), 6);
    for (s, t) in r.steps.iter().zip(trace::STEP_TITLES) {
        assert_eq!(s.title, t);
        assert!(!s.text.is_empty());
        assert!(!s.evidence.is_empty(), "step {t} has no evidence");
    }
    assert!(
        r.raw_output
            .starts_with("<think>\n**Step 1: Technical, Rate & Rhythm**")
    );
    assert!(r.raw_output.ends_with("</answer>"));
    assert!(
        r.answer.iter().any(|a| a == "sinus rhythm"),
        "{:?}",
        r.answer
    );
    assert!(r.score.is_none() && r.band.is_none());
    // Every cited measurement id exists in the measurements (or is a documented flag/note).
    let m = cart_measurements();
    for e in r.steps.iter().flat_map(|s| &s.evidence) {
        if e.measurement.contains("_ms")
            || e.measurement.contains("_uv")
            || e.measurement.contains("_deg")
        {
            assert!(
                m.get(&e.measurement).is_some(),
                "unknown id {}",
                e.measurement
            );
        }
    }
    assert_eq!(r.engine.name, "protocol");
}

#[test]
fn twi_has_no_probability_and_answers_no_on_a_normal_tracing() {
    let m = cart_measurements();
    let r = read_measurements(&m, "", Task::Twi, Vec::new());
    assert_eq!(r.answer, vec!["no"]);
    assert!(r.p_yes().is_none() && r.band.is_none());
    assert!(r.input_notes.iter().any(|n| n == NO_PROBABILITY_NOTE));
    assert!(r.parse_issues.is_empty());
}

#[test]
fn deep_symmetric_contiguous_inversion_is_ischaemic() {
    let mut m = cart_measurements();
    set_twi(&mut m, "V3", 350.0, 1.0);
    set_twi(&mut m, "V4", 300.0, 1.05);
    let r = read_measurements(&m, "", Task::Twi, Vec::new());
    assert_eq!(r.answer, vec!["yes"], "{}", r.raw_output);
    assert!(r.steps[3].text.contains("V3"));
    assert!(
        r.steps[3]
            .evidence
            .iter()
            .any(|e| e.measurement == "lead.V3.t_depth_uv" && e.value == Some(350.0))
    );
}

#[test]
fn a_known_lbbb_note_turns_the_answer_and_says_so() {
    let mut m = cart_measurements();
    set_twi(&mut m, "V5", 300.0, 1.0);
    set_twi(&mut m, "V6", 300.0, 1.0);
    let without = read_measurements(&m, "", Task::Twi, Vec::new());
    assert_eq!(without.answer, vec!["yes"]);
    let with = read_measurements(&m, "known LBBB", Task::Twi, Vec::new());
    assert_eq!(with.answer, vec!["no"], "{}", with.raw_output);
    assert!(with.input_notes.iter().any(|n| n.contains("LBBB")));
    assert!(with.raw_output.contains("known LBBB"));
}

#[test]
fn chest_pain_note_lowers_the_bar_and_the_trace_says_so() {
    let mut m = cart_measurements();
    set_twi(&mut m, "V5", 150.0, 2.0);
    set_twi(&mut m, "V6", 150.0, 2.0);
    let without = read_measurements(&m, "", Task::Twi, Vec::new());
    assert_eq!(without.answer, vec!["no"]);
    let with = read_measurements(&m, "55-year-old with chest pain", Task::Twi, Vec::new());
    assert_eq!(with.answer, vec!["yes"]);
    assert!(with.steps[5].text.contains("chest pain"));
    assert!(with.input_notes.iter().any(|n| n.contains("chest pain")));
}

#[test]
fn an_image_alone_is_refused_plainly() {
    let image = EcgImage {
        bytes: Vec::new(),
        width: 10,
        height: 10,
        provenance: Provenance {
            format: Format::Png,
            file_name: "x.png".into(),
            sha256: String::new(),
            byte_len: 0,
        },
    };
    let mut engine = ProtocolEngine::new();
    let req = Request {
        record: None,
        image: Some(&image),
        notes: "",
        task: Task::Twi,
    };
    let r = engine.run(&req).unwrap_or_else(|e| panic!("{e}"));
    assert!(r.answer.is_empty());
    assert!(
        r.input_notes
            .iter()
            .any(|n| n.contains("cannot measure an image"))
    );
    let req = Request {
        record: None,
        image: None,
        notes: "",
        task: Task::Twi,
    };
    assert!(matches!(engine.run(&req), Err(EngineError::NoInput)));
}

#[test]
fn notes_are_recognised_as_words() {
    let c = NoteContext::parse("On Digoxin; known LBBB. ACS ruled out?");
    assert!(c.digoxin && c.known_lbbb && c.chest_pain);
    assert!(!NoteContext::parse("tacsimilar").chest_pain);
}
