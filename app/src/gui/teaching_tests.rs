//! Teaching rounds, driven through accessibility labels (headless, no GPU).

use egui_kittest::kittest::{NodeT, Queryable};

use super::Workspace;
use super::reading_room::tests::{
    click, enter_password, prepare_signature, run_protocol, settle, step_until, type_into,
};
use super::teaching::{COMMIT_ANSWER, CREATE_SESSION, REVEAL, SHOW_SCORES};
use super::tests::start;
use crate::store::Role;

#[test]
fn the_answer_stays_hidden_until_a_trainee_commits_and_the_round_is_scored() {
    let mut harness = start("dr_reed");
    run_protocol(&mut harness);
    prepare_signature(&mut harness);
    enter_password(&mut harness, "correct horse");
    let link = harness.state().link().unwrap().clone();
    let final_answer = link.store.decisions(&link.session, 1).unwrap()[0]
        .final_answer
        .clone();
    link.store
        .add_user(&link.session, "tess", &[Role::Trainer], None)
        .unwrap();
    link.store
        .add_user(&link.session, "ana", &[Role::Cardiologist], None)
        .unwrap();
    harness
        .state_mut()
        .set_link(link.relogin("tess", None).unwrap());
    harness.state_mut().workspace = Workspace::Teaching;
    harness.state_mut().teaching.invalidate();
    step_until(&mut harness, "the case list", |app| !app.teaching.is_busy());
    // Cases are listed by number only: no file name.
    harness.get_by_label_contains("Case 1 ·");
    assert!(
        harness
            .query_by_label_contains("waveform_ecg.dcm")
            .is_none()
    );

    let case = harness_label(&harness, "Case 1 ·");
    click(&mut harness, &case);
    type_into(&mut harness, "Set name:", "Week 1");
    click(&mut harness, CREATE_SESSION);
    step_until(&mut harness, "the first teaching case", |app| {
        !app.teaching.is_busy()
    });
    harness.get_by_label("Teaching case 1 of 1");

    // Nothing of the AI or the signature is in the tree before an answer is committed.
    assert!(harness.query_by_label_contains("AI answer:").is_none());
    assert!(
        harness
            .query_by_label_contains("Signed final answer")
            .is_none()
    );
    assert!(harness.query_by_label_contains(&final_answer).is_none());
    assert!(harness.get_by_label(REVEAL).accesskit_node().is_disabled());

    type_into(&mut harness, "Trainee:", "ana");
    type_into(&mut harness, "Answer:", &final_answer.to_uppercase());
    click(&mut harness, COMMIT_ANSWER);
    step_until(&mut harness, "the committed answer", |app| {
        !app.teaching.is_busy()
    });
    assert!(
        harness.state().teaching.error().is_none(),
        "{:?}",
        harness.state().teaching.error()
    );
    harness.get_by_label_contains("ana answered:");
    assert!(harness.query_by_label_contains("AI answer:").is_none());

    click(&mut harness, REVEAL);
    harness.get_by_label_contains("AI answer:");
    harness.get_by_label_contains(&format!("Signed final answer: {final_answer}"));
    click(&mut harness, SHOW_SCORES);
    settle(&mut harness);
    assert!(
        harness
            .query_by_label_contains("ana: 1 of 1 correct")
            .is_some(),
        "ana's answer {final_answer} scored correct; scores shown: {:?}",
        harness
            .query_all_by_label_contains(" correct")
            .map(|n| format!("{n:?}"))
            .collect::<Vec<_>>()
    );
}

fn harness_label(harness: &super::reading_room::tests::App, part: &str) -> String {
    harness
        .get_by_label_contains(part)
        .accesskit_node()
        .label()
        .unwrap_or_default()
}

#[test]
fn a_teaching_case_never_shows_the_comparison_with_the_patients_prior_ecg() {
    use ecgr1_engine::Task;
    use ecgr1_engine::features::measure;
    use ecgr1_engine::serial::{PriorEcg, SERIAL_PREFIX, compare};

    let record = super::demo_record();
    let m = measure(&record).unwrap();
    let c = compare(
        &m,
        &m,
        PriorEcg {
            label: "2026-01-05 09:30".into(),
            ..PriorEcg::default()
        },
    );
    let report = ecgr1_engine::protocol::read_measurements_with_prior(
        &m,
        "",
        Task::Interpret,
        Vec::new(),
        Some(&c),
    );
    assert!(report.raw_output.contains(SERIAL_PREFIX));
    let run = crate::store::RunRecord {
        id: 2,
        case_id: 2,
        engine_json: "{}".into(),
        task: "interpret".into(),
        parameters_json: "{}".into(),
        seed: None,
        started_at: String::new(),
        finished_at: String::new(),
        raw_output: report.raw_output.clone(),
        report_json: Some(serde_json::to_string(&report).unwrap()),
        p_yes: None,
        band: None,
        measurements_json: None,
        verifier_flags_json: None,
        comparison_json: Some(serde_json::to_string(&c).unwrap()),
        digitiser_version: None,
        digitisation_json: None,
        digitised_signal_csv: None,
        status: "completed".into(),
        error: None,
        created_by: "dr_reed".into(),
    };
    let shown = super::teaching::deidentified(crate::store::TeachingCase {
        case_id: 2,
        position: 0,
        count: 1,
        format: "png".into(),
        kind: "image".into(),
        bytes: Vec::new(),
        run: Some(run),
        signed: None,
    });
    let shown = shown.report.unwrap();
    assert!(!shown.raw_output.contains(SERIAL_PREFIX));
    assert!(shown.steps.iter().all(|s| !s.text.contains("2026-01-05")));
    assert!(!shown.summary.contains(SERIAL_PREFIX));
}
