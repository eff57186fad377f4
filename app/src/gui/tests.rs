//! Window-level tests driven through accessibility labels (headless, no GPU).

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

use super::{StartOptions, WorkstationApp};
use crate::audit::AuditKey;
use crate::store::{DbLocation, KeySource, StoreConfig};

/// A window over a fresh in-memory store, acting as `user` (the store's first user).
pub(crate) fn start(user: &str) -> Harness<'static, WorkstationApp> {
    start_at(
        DbLocation::Memory,
        KeySource::Given(AuditKey::random().unwrap()),
        user,
    )
}

/// A window over the store at `db`, acting as `user` (created, with the password
/// "correct horse", when the store is new).
pub(crate) fn start_at(
    db: DbLocation,
    key: KeySource,
    user: &str,
) -> Harness<'static, WorkstationApp> {
    let options = StartOptions {
        file: None,
        store: Ok(StoreConfig {
            db,
            key,
            first_user: user.to_string(),
            first_password: Some("correct horse".to_string()),
            clock: crate::store::clock::Clock::System,
        }),
        user: user.to_string(),
        persisted: None,
        load_options: ecgr1_engine::formats::LoadOptions::default(),
    };
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1600.0, 1000.0))
        .build_eframe(|cc| WorkstationApp::new(&cc.egui_ctx, options));
    settle(&mut harness);
    harness
}

/// Steps frames (spinners keep repainting) until `done` holds, then runs to a settled frame.
pub(crate) fn step_until(
    harness: &mut Harness<'static, WorkstationApp>,
    what: &str,
    done: impl Fn(&WorkstationApp) -> bool,
) {
    // Generous: on a loaded 2-core machine, hashing the first user's password (argon2) while
    // other tests run can take seconds.
    let deadline = std::time::Instant::now() + std::time::Duration::from_mins(1);
    while std::time::Instant::now() < deadline {
        harness.step();
        if done(harness.state()) {
            harness.run();
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("timed out waiting for {what}");
}

/// Waits until the background jobs of start-up (store, sample) have reported.
pub(crate) fn settle(harness: &mut Harness<'static, WorkstationApp>) {
    step_until(harness, "the store and the sample", |app| {
        app.link().is_some() && !app.reading.is_busy()
    });
}

#[test]
fn the_window_opens_the_store_and_shows_the_sample() {
    let harness = start("dr_reed");
    harness.get_by_label("Reading room");
    harness.get_by_label("Auditor");
    harness.get_by_label("Teaching rounds");
    assert!(
        harness
            .query_by_label_contains("dr_reed (admin,cardiologist)")
            .is_some()
    );
    assert!(
        harness
            .query_by_label_contains("waveform_ecg.dcm")
            .is_some()
    );
}

#[test]
fn without_a_store_reading_still_works_and_says_so() {
    let options = StartOptions {
        file: None,
        store: Err("no data directory".to_string()),
        user: "dr_reed".to_string(),
        persisted: None,
        load_options: ecgr1_engine::formats::LoadOptions::default(),
    };
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1600.0, 1000.0))
        .build_eframe(|cc| WorkstationApp::new(&cc.egui_ctx, options));
    step_until(&mut harness, "the sample", |app| !app.reading.is_busy());
    assert!(harness.query_by_label_contains("No case store").is_some());
    assert!(
        harness
            .query_by_label_contains("waveform_ecg.dcm")
            .is_some()
    );
}
