//! The AI assessment: the answer, the risk band in probabilistic words with its thresholds on
//! hover, the verifier's summary, and the standing notice that the assessment assists and
//! does not diagnose.

use ecgr1_engine::report::{ASSIST_NOTICE, Report, RiskBand, Task};
use ecgr1_engine::verify::VerifySummary;
use egui::{Color32, RichText, Ui};

/// The probabilistic statement for a report, e.g. "high probability of ischemic T-wave
/// inversion, P(yes) = 0.86"; for a rule-based engine, says that there is no P(yes).
pub fn band_wording(report: &Report) -> String {
    match (report.p_yes(), report.band) {
        (Some(p), Some(band)) => match report.task {
            Task::Twi => format!(
                "{} probability of ischemic T-wave inversion, P(yes) = {p:.2}",
                band.name()
            ),
            Task::Interpret => format!("{}, P(yes) = {p:.2}", band.wording()),
        },
        (Some(p), None) => format!("P(yes) = {p:.2} (outside 0–1: no band)"),
        (None, _) if report.engine.name == "protocol" => "rule-based, no P(yes)".to_string(),
        (None, _) => "no P(yes): the answer could not be scored".to_string(),
    }
}

/// The verifier's counts in words.
pub fn verifier_wording(summary: Option<&VerifySummary>) -> String {
    match summary {
        Some(s) => format!(
            "Verifier: {} claims found, {} supported, {} contradicted, {} not checkable",
            s.claims, s.supported, s.contradicted, s.uncheckable
        ),
        None => "Verifier: not run (no measurements to check the trace against)".to_string(),
    }
}

/// Which engine wrote the report, as the audit record keeps it: name and version, model family,
/// precision (with the quantisation of a quantised checkpoint, e.g. "f32, language model q8_0"),
/// device, and the first weight file's SHA-256 (the rest, and the checkpoint, on hover).
pub fn engine_wording(report: &Report) -> String {
    let e = &report.engine;
    let mut parts = vec![format!("{} {}", e.name, e.version)];
    parts.extend(e.family.iter().cloned());
    parts.extend(e.dtype.iter().cloned());
    if !e.device.is_empty() {
        parts.push(e.device.clone());
    }
    if let Some((file, sha)) = e.weights_sha256.first() {
        let short: String = sha.chars().take(12).collect();
        let more = e.weights_sha256.len() - 1;
        parts.push(if more == 0 {
            format!("{file} {short}…")
        } else {
            format!("{file} {short}… (+{more} more files)")
        });
    }
    format!("Engine: {}", parts.join(" · "))
}

/// The checkpoint and every weight file's full SHA-256, one per line.
pub fn engine_details(report: &Report) -> String {
    let e = &report.engine;
    let mut lines: Vec<String> = e
        .checkpoint
        .iter()
        .map(|c| format!("checkpoint {c}"))
        .collect();
    lines.extend(
        e.weights_sha256
            .iter()
            .map(|(file, sha)| format!("{file}  SHA-256 {sha}")),
    );
    if lines.is_empty() {
        lines.push("built-in engine: no weights".to_string());
    }
    lines.join("\n")
}

fn band_colour(band: Option<RiskBand>) -> Color32 {
    match band {
        Some(RiskBand::High) => Color32::from_rgb(190, 40, 40),
        Some(RiskBand::Intermediate) => Color32::from_rgb(200, 130, 0),
        Some(RiskBand::Low) => Color32::from_rgb(30, 130, 60),
        None => Color32::GRAY,
    }
}

/// Draws the assessment of `report`.
pub fn assessment_view(ui: &mut Ui, report: &Report, verifier: Option<&VerifySummary>) {
    ui.group(|ui| {
        ui.strong("AI assessment");
        let answer = if report.answer.is_empty() {
            "(no answer)".to_string()
        } else {
            report.answer.join("; ")
        };
        ui.label(format!("Answer: {answer}"));
        ui.label(
            RichText::new(band_wording(report))
                .strong()
                .color(band_colour(report.band)),
        )
        .on_hover_text(RiskBand::thresholds_explained());
        let v = ui.label(verifier_wording(verifier));
        if verifier.is_some_and(|s| s.contradicted > 0) {
            v.on_hover_text("Contradicted claims are marked in the trace next to their sentence.");
        }
        for issue in &report.parse_issues {
            ui.small(format!("Output problem: {issue}"));
        }
        for note in &report.input_notes {
            ui.small(format!("Note: {note}"));
        }
        ui.small(engine_wording(report))
            .on_hover_text(engine_details(report));
        ui.label(RichText::new(ASSIST_NOTICE).italics());
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use ecgr1_engine::report::{AnswerScore, EngineIdentity, Timings};
    use egui_kittest::Harness;
    use egui_kittest::kittest::Queryable;

    fn report(engine: &str, task: Task, p_yes: Option<f64>) -> Report {
        let score = p_yes.and_then(|p| AnswerScore::from_masses(p, 1.0 - p));
        Report {
            engine: EngineIdentity {
                name: engine.into(),
                ..EngineIdentity::default()
            },
            task,
            steps: Vec::new(),
            summary: String::new(),
            answer: vec!["yes".into()],
            raw_output: String::new(),
            score,
            band: p_yes.and_then(RiskBand::from_p_yes),
            parse_issues: Vec::new(),
            input_notes: Vec::new(),
            timings: Timings::default(),
        }
    }

    #[test]
    fn the_band_is_worded_as_a_probability() {
        assert_eq!(
            band_wording(&report("ecg-r1", Task::Twi, Some(0.86))),
            "high probability of ischemic T-wave inversion, P(yes) = 0.86"
        );
        assert_eq!(
            band_wording(&report("ecg-r1", Task::Interpret, Some(0.5))),
            "intermediate probability of ischemia, P(yes) = 0.50"
        );
        assert_eq!(
            band_wording(&report("protocol", Task::Twi, None)),
            "rule-based, no P(yes)"
        );
        assert!(band_wording(&report("ecg-r1", Task::Twi, None)).starts_with("no P(yes)"));
    }

    #[test]
    fn the_view_shows_answer_band_verifier_and_notice() {
        let r = report("ecg-r1", Task::Twi, Some(0.1));
        let summary = VerifySummary {
            claims: 4,
            supported: 2,
            contradicted: 1,
            uncheckable: 1,
        };
        let harness = Harness::new_ui(|ui| assessment_view(ui, &r, Some(&summary)));
        harness.get_by_label("Answer: yes");
        harness.get_by_label("low probability of ischemic T-wave inversion, P(yes) = 0.10");
        harness
            .get_by_label("Verifier: 4 claims found, 2 supported, 1 contradicted, 1 not checkable");
        harness.get_by_label(ASSIST_NOTICE);
        harness.get_by_label("Engine: ecg-r1 ");
    }

    #[test]
    fn the_engine_line_names_family_precision_device_and_weights() {
        let mut r = report("ecg-r1", Task::Twi, Some(0.9));
        r.engine = EngineIdentity {
            name: "ecg-r1".into(),
            version: "0.1.0".into(),
            family: Some("ecg-r1".into()),
            checkpoint: Some("/models/ecg-r1-8b-q8".into()),
            weights_sha256: vec![
                ("model-q8_0.gguf".into(), "ab".repeat(32)),
                ("model.safetensors".into(), "cd".repeat(32)),
            ],
            device: "cpu".into(),
            dtype: Some("f32, language model q8_0".into()),
        };
        assert_eq!(
            engine_wording(&r),
            "Engine: ecg-r1 0.1.0 · ecg-r1 · f32, language model q8_0 · cpu · \
             model-q8_0.gguf abababababab… (+1 more files)"
        );
        let details = engine_details(&r);
        assert!(
            details.starts_with("checkpoint /models/ecg-r1-8b-q8\n"),
            "{details}"
        );
        assert!(details.contains(&format!("model.safetensors  SHA-256 {}", "cd".repeat(32))));
        r.engine = EngineIdentity {
            name: "protocol".into(),
            version: "0.1.0".into(),
            device: "cpu".into(),
            ..EngineIdentity::default()
        };
        assert_eq!(engine_wording(&r), "Engine: protocol 0.1.0 · cpu");
        assert_eq!(engine_details(&r), "built-in engine: no weights");
    }
}
