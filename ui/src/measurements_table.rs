//! The measurements table beside the ECG: rate, intervals, corrected QT (both formulas,
//! labelled), axes and rhythm. A value that could not be measured shows "—" with the reason on
//! hover; a caveat on a measured value shows on hover too.

use ecgr1_engine::features::{Measured, Measurements};
use ecgr1_engine::record::{Annotation, AnnotationKind};
use egui::Ui;

/// One row of the table: (label, value text, hover text).
#[derive(Clone, Debug, PartialEq)]
pub struct MeasurementRow {
    pub label: &'static str,
    pub value: String,
    /// Why the value is missing, or a caveat; `None` when there is nothing to say.
    pub reason: Option<String>,
}

/// Shown in place of a value that could not be measured.
pub const UNMEASURED: &str = "—";

fn row(label: &'static str, m: &Measured, digits: usize) -> MeasurementRow {
    let value = match m.value {
        Some(v) => {
            let unit = match m.unit.as_str() {
                "deg" => "°".to_string(),
                u => format!(" {u}"),
            };
            format!("{v:.digits$}{unit}")
        }
        None => UNMEASURED.to_string(),
    };
    let reason = match (&m.value, &m.reason) {
        (None, None) => Some("not measured".to_string()),
        (_, r) => r.clone(),
    };
    MeasurementRow {
        label,
        value,
        reason,
    }
}

/// The rows shown, in reading order.
pub fn measurement_rows(m: &Measurements) -> Vec<MeasurementRow> {
    let quality: Vec<String> = m.quality.iter().map(|q| q.detail.clone()).collect();
    let rhythm_reason = (!quality.is_empty()).then(|| quality.join("\n"));
    vec![
        row("Heart rate", &m.heart_rate_bpm, 0),
        row("RR interval (mean)", &m.rr_mean_ms, 0),
        row("PR interval", &m.pr_ms, 0),
        row("QRS duration", &m.qrs_ms, 0),
        row("QT interval", &m.qt_ms, 0),
        row("QTc (Bazett)", &m.qtc_bazett_ms, 0),
        row("QTc (Fridericia)", &m.qtc_fridericia_ms, 0),
        row("P axis", &m.p_axis_deg, 0),
        row("QRS axis", &m.qrs_axis_deg, 0),
        row("T axis", &m.t_axis_deg, 0),
        MeasurementRow {
            label: "Rhythm",
            value: m.rhythm.label.clone(),
            reason: rhythm_reason,
        },
    ]
}

/// Draws the table.
pub fn measurements_table(ui: &mut Ui, m: &Measurements) {
    egui::Grid::new("measurements_table")
        .num_columns(2)
        .striped(true)
        .show(ui, |ui| {
            for r in measurement_rows(m) {
                ui.label(r.label);
                let v = ui.label(&r.value);
                if let Some(reason) = &r.reason {
                    v.on_hover_text(reason);
                }
                ui.end_row();
            }
        });
    ui.small(format!(
        "{} beats detected ({} ventricular, {} supraventricular ectopic)",
        m.beats.len(),
        m.rhythm.ventricular_ectopics,
        m.rhythm.supraventricular_ectopics
    ));
}

/// The cart's own measurements and statements, as the file carries them (DICOM, GE MUSE,
/// Philips Sierra), shown beside the workstation's; returns whether there were any.
pub fn cart_values(ui: &mut Ui, annotations: &[Annotation]) -> bool {
    let values: Vec<&Annotation> = annotations
        .iter()
        .filter(|a| a.kind == AnnotationKind::Measurement && a.value.is_some())
        .collect();
    let statements: Vec<&Annotation> = annotations
        .iter()
        .filter(|a| a.kind == AnnotationKind::Text)
        .collect();
    if values.is_empty() && statements.is_empty() {
        return false;
    }
    ui.strong("The cart's reading (from the file)");
    egui::Grid::new("cart_values")
        .num_columns(2)
        .striped(true)
        .show(ui, |ui| {
            for a in values {
                let unit = match a.unit.as_deref() {
                    Some("deg") => "°".to_string(),
                    Some(u) => format!(" {u}"),
                    None => String::new(),
                };
                let lead = a
                    .lead
                    .as_ref()
                    .map(|l| format!(" ({l})"))
                    .unwrap_or_default();
                ui.label(format!("Cart: {}{lead}", a.label));
                ui.label(format!("{:.0}{unit}", a.value.unwrap_or_default()));
                ui.end_row();
            }
        });
    for s in statements {
        ui.label(format!("Cart statement: {}", s.label));
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use ecgr1_engine::features::{Basis, Source};

    fn source() -> Source {
        Source {
            lead: None,
            basis: Basis::Median,
            sample_index: None,
            median_index: None,
        }
    }

    #[test]
    fn values_carry_units_and_missing_values_a_dash_with_the_reason() {
        let hr = Measured::some("heart_rate_bpm", 71.6, "bpm", source());
        assert_eq!(row("Heart rate", &hr, 0).value, "72 bpm");
        assert_eq!(row("Heart rate", &hr, 0).reason, None);
        let axis = Measured::some("qrs_axis_deg", 45.0, "deg", source());
        assert_eq!(row("QRS axis", &axis, 0).value, "45°");
        let pr = Measured::none("pr_ms", "ms", source(), "no P wave found");
        let r = row("PR interval", &pr, 0);
        assert_eq!(r.value, UNMEASURED);
        assert_eq!(r.reason.as_deref(), Some("no P wave found"));
    }
}
