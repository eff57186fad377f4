//! The delta table of a serial comparison: each global value on the prior and the current
//! ECG with its change and criterion (significant changes marked), each lead's ST level and
//! T amplitude on both, and the significant changes in words.

use ecgr1_engine::serial::{SerialComparison, ValueDelta};
use egui::{RichText, Ui};

use crate::measurements_table::UNMEASURED;

fn value(v: Option<f64>, unit: &str) -> String {
    match (v, unit) {
        (Some(v), "deg") => format!("{v:.0}°"),
        (Some(v), "uV") => format!("{:.2} mV", v / 1000.0),
        (Some(v), unit) => format!("{v:.0} {unit}"),
        (None, _) => UNMEASURED.to_string(),
    }
}

fn change(v: Option<f64>, unit: &str) -> String {
    match (v, unit) {
        (Some(v), "deg") => format!("{v:+.0}°"),
        (Some(v), "uV") => format!("{:+.2} mV", v / 1000.0),
        (Some(v), unit) => format!("{v:+.0} {unit}"),
        (None, _) => UNMEASURED.to_string(),
    }
}

/// The text of one global row: (name, prior, current, change, criterion and verdict).
pub fn global_row(g: &ValueDelta) -> [String; 5] {
    let criterion = match (&g.threshold, g.significant) {
        (Some(t), true) => format!("{t}: significant"),
        (Some(t), false) => t.clone(),
        (None, _) => String::new(),
    };
    [
        g.name.clone(),
        value(g.prior, &g.unit),
        value(g.current, &g.unit),
        change(g.delta, &g.unit),
        criterion,
    ]
}

/// Draws the delta table of `c`.
pub fn serial_table(ui: &mut Ui, c: &SerialComparison) {
    if c.unchanged() {
        ui.label("No significant change by the serial criteria.");
    } else {
        for x in &c.changes {
            ui.label(
                RichText::new(format!("Significant: {}", x.text))
                    .color(ui.visuals().warn_fg_color)
                    .strong(),
            );
        }
    }
    egui::Grid::new("serial_globals")
        .num_columns(5)
        .striped(true)
        .show(ui, |ui| {
            for h in ["", "prior", "current", "change", "criterion"] {
                ui.strong(h);
            }
            ui.end_row();
            for g in &c.globals {
                let [name, prior, current, delta, criterion] = global_row(g);
                ui.label(name);
                ui.label(prior);
                ui.label(current);
                if g.significant {
                    ui.label(
                        RichText::new(delta)
                            .color(ui.visuals().warn_fg_color)
                            .strong(),
                    );
                } else {
                    ui.label(delta);
                }
                ui.label(criterion);
                ui.end_row();
            }
        });
    ui.add_space(6.0);
    egui::Grid::new("serial_leads")
        .num_columns(8)
        .striped(true)
        .show(ui, |ui| {
            for h in [
                "lead", "ST prior", "ST now", "ΔST", "T prior", "T now", "ΔT", "",
            ] {
                ui.strong(h);
            }
            ui.end_row();
            for l in &c.leads {
                ui.label(&l.lead);
                ui.label(value(l.st_j_prior_uv, "uV"));
                ui.label(value(l.st_j_current_uv, "uV"));
                ui.label(change(l.st_j_delta_uv, "uV"));
                ui.label(value(l.t_prior_uv, "uV"));
                ui.label(value(l.t_current_uv, "uV"));
                ui.label(change(l.t_delta_uv, "uV"));
                let mut flags = Vec::new();
                if l.new_t_inversion {
                    flags.push("new T inversion");
                }
                if l.new_st_elevation {
                    flags.push("new ST elevation");
                }
                if l.new_st_depression {
                    flags.push("new ST depression");
                }
                ui.label(flags.join(", "));
                ui.end_row();
            }
        });
    if !c.not_compared.is_empty() {
        ui.small(format!("Not compared: {}", c.not_compared.join("; ")));
    }
}
