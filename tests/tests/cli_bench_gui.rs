//! `ecgr1 bench-gui` runs the real window's frame loop headless and reports both targets with
//! their baselines (the figures themselves are for the README, not asserted).

#[test]
fn bench_gui_reports_frame_time_and_launch_against_baselines() {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = ecgr1_app::cli::run(["ecgr1", "bench-gui", "--frames", "3"], &mut out, &mut err);
    let text = String::from_utf8_lossy(&out);
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&err));
    assert!(text.contains("12 leads, 1000 Hz, 10.0 s"), "{text}");
    assert!(text.contains("workstation   median"), "{text}");
    assert!(text.contains("ratio naive / workstation"), "{text}");
    assert!(text.contains("launch to first drawn ECG"), "{text}");
}

#[test]
fn bench_gui_refuses_an_image() {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let image = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/model/ecg_small.png");
    let code = ecgr1_app::cli::run(
        ["ecgr1", "bench-gui", "--frames", "1", "--file", image],
        &mut out,
        &mut err,
    );
    assert_ne!(code, 0);
    assert!(String::from_utf8_lossy(&err).contains("no signal to draw"));
}
