//! `ecgr1 demo`, the README's main job: every bundled sample is read, measured, interpreted by
//! the protocol engine and verified, with no contradiction between trace and measurements.

#[test]
fn demo_reads_every_bundled_sample() {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = ecgr1_app::cli::run(["ecgr1", "demo"], &mut out, &mut err);
    let text = String::from_utf8_lossy(&out);
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&err));
    for sample in [
        "waveform_ecg.dcm",
        "synthetic_sinus.hea",
        "synthetic_sinus.edf",
        "synthetic_twi.csv",
        "synthetic_sinus_aecg.xml",
    ] {
        assert!(
            text.contains(&format!("== {sample}")),
            "{sample} missing from:\n{text}"
        );
    }
    assert!(text.contains("T-wave inversion in V1, V2, V3"), "{text}");
    assert_eq!(
        text.matches("interpret answer:").count(),
        text.matches("== ").count()
    );
    assert!(
        !text.contains(" 1 contradicted") && text.matches(" 0 contradicted").count() >= 12,
        "{text}"
    );
    assert!(text.contains("does not diagnose"));
}
