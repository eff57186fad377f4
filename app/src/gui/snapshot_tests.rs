//! PNG snapshots of the three workspaces, rendered with wgpu (on a machine without a GPU
//! through a software Vulkan driver, Mesa's lavapipe, which `.ci/run` installs). Compared with
//! `app/tests/snapshots/*.png`; `UPDATE_SNAPSHOTS=1 cargo test -p ecgr1-app snapshot` writes
//! new ones after a deliberate change.
//!
//! Each picture shows a workspace in use — a signed protocol reading, the auditor reviewing it,
//! a teaching case waiting for the trainee's answer — over a store with a stepping clock and a
//! fixed audit key, and the sample opened by a path relative to the crate, so nothing in the
//! pictures depends on the day, the machine or the checkout's folder.

use egui_kittest::kittest::{NodeT, Queryable};
use egui_kittest::{Harness, SnapshotOptions};

use super::auditor_tests::switch_to_auditor;
use super::reading_room::tests::{
    App, click, enter_password, prepare_signature, run_protocol, settle, step_until, type_into,
};
use super::teaching::CREATE_SESSION;
use super::{StartOptions, Workspace, WorkstationApp};
use crate::audit::AuditKey;
use crate::store::clock::Clock;
use crate::store::{DbLocation, KeySource, Role, StoreConfig};

/// 2026-03-02T09:00:00Z: the stepping clock's first reading.
const CLOCK_START: i64 = 1_772_442_000;

/// lavapipe and GPU drivers anti-alias a little differently: a small colour tolerance, and a
/// handful of pixels may differ outright (a shifted line of text changes thousands).
fn options() -> SnapshotOptions {
    SnapshotOptions::new().threshold(1.5).max_failed_pixels(200)
}

/// A 1280×800 window over a fresh in-memory store with a stepping clock, the sample opened,
/// a protocol reading run and signed by dr_reed.
fn signed_sample() -> App {
    let options = StartOptions {
        // Relative to the crate (the test's working folder), so the path field reads the same
        // in every checkout.
        file: Some("../assets/samples/waveform_ecg.dcm".into()),
        store: Ok(StoreConfig {
            db: DbLocation::Memory,
            key: KeySource::Given(AuditKey::from_bytes([7; 32])),
            first_user: "dr_reed".into(),
            first_password: Some("correct horse".into()),
            clock: Clock::stepping(CLOCK_START),
        }),
        user: "dr_reed".into(),
        persisted: None,
        load_options: ecgr1_engine::formats::LoadOptions::default(),
    };
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .wgpu()
        .build_eframe(|cc| WorkstationApp::new(&cc.egui_ctx, options));
    step_until(&mut harness, "the store and the sample", |app| {
        app.link().is_some() && !app.reading.is_busy()
    });
    run_protocol(&mut harness);
    prepare_signature(&mut harness);
    enter_password(&mut harness, "correct horse");
    harness
}

#[test]
fn snapshot_of_the_reading_room_with_a_signed_reading() {
    let mut harness = signed_sample();
    // The proposed report path is under the user's documents folder: name it plainly.
    click(&mut harness, "Report file:");
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    harness
        .get_by_label("Report file:")
        .type_text("ecgr1-run-1.pdf");
    settle(&mut harness);
    // Leave the field, so no text cursor is pictured.
    harness.key_press(egui::Key::Escape);
    settle(&mut harness);
    harness.run();
    harness.snapshot_options("reading_room", &options());
}

#[test]
fn snapshot_of_the_auditor_reviewing_the_signed_run() {
    let mut harness = signed_sample();
    switch_to_auditor(&mut harness);
    harness.get_by_label_contains("Run 1 · case 1").click();
    step_until(&mut harness, "the run's detail", |app| {
        !app.auditor.is_busy()
    });
    harness.run();
    harness.snapshot_options("auditor", &options());
}

#[test]
fn snapshot_of_a_teaching_case_before_the_answer_is_committed() {
    let mut harness = signed_sample();
    let link = harness.state().link().cloned().expect("store open");
    link.store
        .add_user(&link.session, "tess", &[Role::Trainer], None)
        .expect("trainer added");
    harness
        .state_mut()
        .set_link(link.relogin("tess", None).expect("trainer login"));
    harness.state_mut().workspace = Workspace::Teaching;
    harness.state_mut().teaching.invalidate();
    step_until(&mut harness, "the case list", |app| !app.teaching.is_busy());
    let case = harness
        .get_by_label_contains("Case 1 ·")
        .accesskit_node()
        .label()
        .unwrap_or_default();
    click(&mut harness, &case);
    type_into(&mut harness, "Set name:", "Week 1");
    click(&mut harness, CREATE_SESSION);
    step_until(&mut harness, "the first teaching case", |app| {
        !app.teaching.is_busy()
    });
    harness.run();
    harness.snapshot_options("teaching", &options());
}
