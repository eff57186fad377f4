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
    }
}
