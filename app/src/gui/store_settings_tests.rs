//! The case store settings window: an unreachable PostgreSQL server is named (and its password
//! never shown), and the workstation can switch to another store from the window.

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

use super::tests::step_until;
use super::{StartOptions, StoreState, WorkstationApp};
use crate::audit::AuditKey;
use crate::store::{DbLocation, KeySource, StoreConfig};

fn start_unreachable() -> Harness<'static, WorkstationApp> {
    let options = StartOptions {
        file: None,
        store: Ok(StoreConfig {
            db: DbLocation::parse("postgres://ward:hunter2@127.0.0.1:1/cardio").unwrap(),
            key: KeySource::Given(AuditKey::random().unwrap()),
            first_user: "dr_reed".into(),
            first_password: Some("correct horse".into()),
            clock: crate::store::clock::Clock::System,
        }),
        user: "dr_reed".into(),
        persisted: None,
        load_options: ecgr1_engine::formats::LoadOptions::default(),
    };
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1600.0, 1000.0))
        .build_eframe(|cc| WorkstationApp::new(&cc.egui_ctx, options));
    step_until(&mut harness, "the store to fail", |app| {
        matches!(app.store, StoreState::Unavailable(_)) && !app.reading.is_busy()
    });
    harness
}

#[test]
fn an_unreachable_server_is_named_and_its_password_never_shown() {
    let mut harness = start_unreachable();
    assert!(harness.query_by_label_contains("No case store").is_some());
    harness.get_by_label("Case store…").click();
    harness.run();
    assert!(
        harness
            .query_by_label_contains("PostgreSQL server 127.0.0.1:1, database cardio")
            .is_some()
    );
    assert!(
        harness
            .query_by_label_contains("not open: cannot open the case store postgres://ward:***@127.0.0.1:1/cardio: PostgreSQL server 127.0.0.1:1 (database cardio)")
            .is_some(),
        "the reason names the server"
    );
    assert!(harness.query_by_label_contains("hunter2").is_none());
    assert!(
        harness
            .query_by_label("postgres://ward:***@127.0.0.1:1/cardio")
            .is_some()
    );
}

#[test]
fn the_window_switches_to_another_store_and_refuses_unknown_schemes() {
    let mut harness = start_unreachable();
    harness.get_by_label("Case store…").click();
    harness.run();
    harness.get_by_label("Store location:").click();
    harness.run();
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    harness
        .get_by_label("Store location:")
        .type_text("mysql://root@db/cardio");
    harness.run();
    harness.get_by_label("Open this store").click();
    harness.run();
    assert!(
        harness
            .query_by_label_contains("unknown database scheme 'mysql'")
            .is_some()
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ward.sqlite");
    harness.get_by_label("Store location:").click();
    harness.run();
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    harness
        .get_by_label("Store location:")
        .type_text(path.to_str().unwrap());
    harness.run();
    harness.get_by_label("Open this store").click();
    step_until(&mut harness, "the new store", |app| app.link().is_some());
    let shown = format!("store {}", path.display());
    assert!(harness.query_by_label_contains(&shown).is_some());
    assert!(path.exists());
}
