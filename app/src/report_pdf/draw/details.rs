//! The detail pages (A4 portrait): case and input, measurements, AI assessment, verifier,
//! decisions and signatures, provenance, and the notice box, flowing over as many pages as
//! they need.

use ecgr1_engine::features::{Measured, Measurements};
use ecgr1_engine::formats::sha256_hex;
use ecgr1_engine::report::{ASSIST_NOTICE, RiskBand};
use serde_json::Value;

use super::{
    BODY, LEADING, MARGIN, answer_text, header, human_time, meaning_explained, not_verified_reason,
    patient_line, probability_line, verifier_counts, with_unit,
};
use crate::pdf::{Face, PdfDocument, wrap};
use crate::report_pdf::{MeasuredSection, PatientSection, ReportData};

/// Text flowing down portrait pages, starting a new one when the current is full.
pub(super) struct Flow<'a> {
    doc: &'a mut PdfDocument,
    data: &'a ReportData,
    y: f64,
}

impl<'a> Flow<'a> {
    pub(super) fn new(doc: &'a mut PdfDocument, data: &'a ReportData) -> Self {
        let mut flow = Self { doc, data, y: 0.0 };
        flow.new_page();
        flow
    }

    fn new_page(&mut self) {
        self.doc.add_page();
        header(self.doc, self.data);
        self.y = 70.0;
    }

    fn right(&self) -> f64 {
        self.doc.page_size().0 - MARGIN
    }

    fn bottom(&self) -> f64 {
        self.doc.page_size().1 - 48.0
    }

    fn ensure(&mut self, height: f64) {
        if self.y + height > self.bottom() {
            self.new_page();
        }
    }

    fn heading(&mut self, text: &str) {
        self.ensure(50.0);
        self.y += 10.0;
        self.doc.set_fill_rgb(0.0, 0.0, 0.0);
        self.doc.heading(1, MARGIN, self.y, 12.0, Face::Bold, text);
        self.y += 4.0;
        let right = self.right();
        self.doc.set_stroke_rgb(0.6, 0.6, 0.6);
        self.doc.line(MARGIN, self.y, right, self.y, 0.5);
        self.y += 14.0;
    }

    fn subheading(&mut self, text: &str) {
        self.ensure(30.0);
        self.y += 4.0;
        self.doc.heading(2, MARGIN, self.y, 10.0, Face::Bold, text);
        self.y += LEADING + 2.0;
    }

    /// A wrapped paragraph at indent `indent`.
    fn para(&mut self, indent: f64, face: Face, text: &str) {
        let width = self.right() - MARGIN - indent;
        for line in wrap(text, face, BODY, width) {
            self.ensure(LEADING);
            self.doc.text(MARGIN + indent, self.y, BODY, face, &line);
            self.y += LEADING;
        }
    }

    fn gap(&mut self, points: f64) {
        self.y += points;
    }

    /// A row of cells; each column starts at its x offset and wraps within its width.
    fn row(&mut self, cells: &[(f64, f64, Face, &str)]) {
        let wrapped: Vec<Vec<String>> = cells
            .iter()
            .map(|(_, w, face, text)| wrap(text, *face, BODY, *w))
            .collect();
        let lines = wrapped.iter().map(Vec::len).max().unwrap_or(1).max(1);
        self.ensure(lines as f64 * LEADING + 3.0);
        for ((x, _, face, _), cell) in cells.iter().zip(&wrapped) {
            for (k, line) in cell.iter().enumerate() {
                self.doc
                    .text(MARGIN + x, self.y + k as f64 * LEADING, BODY, *face, line);
            }
        }
        self.y += lines as f64 * LEADING;
        let right = self.right();
        self.doc.set_stroke_rgb(0.85, 0.85, 0.85);
        self.doc.line(
            MARGIN,
            self.y - LEADING + 3.5,
            right,
            self.y - LEADING + 3.5,
            0.4,
        );
        self.y += 3.0;
    }

    /// A label and its value, the value wrapped in the column to the right.
    fn field(&mut self, label: &str, value: &str) {
        let width = self.right() - MARGIN;
        self.row(&[
            (0.0, 120.0, Face::Bold, label),
            (125.0, width - 125.0, Face::Regular, value),
        ]);
    }
}

pub(super) fn case_section(f: &mut Flow<'_>, data: &ReportData) {
    f.heading("Case, patient and input");
    f.field(
        "Case / run",
        &format!("case {}, run {}", data.run.case_id, data.run.id),
    );
    match &data.patient {
        PatientSection::Identified(p) => {
            let or_none = |v: &Option<String>| v.clone().unwrap_or_else(|| "not given".into());
            f.field("Patient name", &or_none(&p.name));
            f.field("Patient identifier", &or_none(&p.identifier));
            f.field("Birth date", &or_none(&p.birth_date));
            f.field("Sex", &or_none(&p.sex));
            f.field("Pseudonym", &p.pseudonym);
        }
        other => f.field("Patient", &patient_line(other)),
    }
    let notes = match (&data.patient, &data.input.latest_note) {
        (PatientSection::Withheld(_), Some(_)) => {
            "left out of a de-identified report (free text may identify the patient)".to_string()
        }
        (_, Some(note)) => note.clone(),
        (_, None) => "none".to_string(),
    };
    f.field("Clinical notes", &notes);
    f.field("Input file", &data.input.file_name);
    f.field(
        "Format",
        &format!(
            "{} ({}), {} bytes",
            data.input.format,
            data.input.kind,
            data.input.bytes.len()
        ),
    );
    f.field(
        "Input SHA-256",
        &format!(
            "{} (the stored bytes were re-hashed for this report and match)",
            data.input.sha256
        ),
    );
    f.field("Stored", &human_time(&data.input.created_at));
}

fn measured_row(f: &mut Flow<'_>, name: &str, m: &Measured, decimals: usize, reference: &str) {
    let value = match m.value {
        Some(v) => {
            let s = with_unit(v, decimals, &m.unit);
            match &m.reason {
                Some(caveat) => format!("{s} ({caveat})"),
                None => s,
            }
        }
        None => format!(
            "not measured: {}",
            m.reason.as_deref().unwrap_or("no value")
        ),
    };
    f.row(&[
        (0.0, 150.0, Face::Bold, name),
        (155.0, 210.0, Face::Regular, &value),
        (370.0, 125.0, Face::Regular, reference),
    ]);
}

pub(super) fn measurements_section(f: &mut Flow<'_>, data: &ReportData) {
    f.heading("Measurements");
    let m: &Measurements = match &data.measured {
        MeasuredSection::Values(m) => m,
        MeasuredSection::Unavailable(why) => {
            f.para(0.0, Face::Bold, why);
            return;
        }
    };
    let source = match &data.digitisation {
        Some(d) => format!(
            "Measured for this report on the signal digitised from the stored image and kept with the run ({} Hz, {:.1} s) by the workstation's feature database; the same values the verifier checks claims against. The {}.",
            m.sample_rate_hz,
            m.duration_s,
            crate::cli::input::measured_from_note(d)
        ),
        None => format!(
            "Measured for this report on the stored signal ({} Hz, {:.1} s) by the workstation's feature database; the same values the verifier checks claims against.",
            m.sample_rate_hz, m.duration_s
        ),
    };
    f.para(0.0, Face::Regular, &source);
    f.gap(4.0);
    f.row(&[
        (0.0, 150.0, Face::Bold, "Measurement"),
        (155.0, 210.0, Face::Bold, "Value"),
        (370.0, 125.0, Face::Bold, "Usual range"),
    ]);
    measured_row(f, "Heart rate", &m.heart_rate_bpm, 0, "60-100 bpm");
    measured_row(f, "RR interval (mean)", &m.rr_mean_ms, 0, "600-1000 ms");
    measured_row(f, "PR interval", &m.pr_ms, 0, "120-200 ms");
    measured_row(f, "QRS duration", &m.qrs_ms, 0, "< 100 ms");
    measured_row(f, "QT interval", &m.qt_ms, 0, "rate dependent");
    measured_row(f, "QTc (Bazett)", &m.qtc_bazett_ms, 0, "<= 440 ms");
    measured_row(f, "QTc (Fridericia)", &m.qtc_fridericia_ms, 0, "<= 440 ms");
    measured_row(f, "P axis", &m.p_axis_deg, 0, "0° to +75°");
    measured_row(f, "QRS axis", &m.qrs_axis_deg, 0, "-30° to +90°");
    measured_row(f, "T axis", &m.t_axis_deg, 0, "");
    let r = &m.rhythm;
    let mut rhythm = r.label.clone();
    if r.af_suggested {
        rhythm.push_str("; irregularity suggests atrial fibrillation");
    }
    if r.ventricular_ectopics + r.supraventricular_ectopics > 0 {
        rhythm = format!(
            "{rhythm}; {} ventricular and {} supraventricular ectopic beats",
            r.ventricular_ectopics, r.supraventricular_ectopics
        );
    }
    f.row(&[
        (0.0, 150.0, Face::Bold, "Rhythm"),
        (155.0, 340.0, Face::Regular, &rhythm),
    ]);
    lead_table(f, m);
    if !m.quality.is_empty() {
        f.gap(2.0);
        f.para(0.0, Face::Bold, "Signal quality notes");
        for q in &m.quality {
            let lead = q
                .lead
                .as_ref()
                .map(|l| format!(" ({l})"))
                .unwrap_or_default();
            f.para(
                10.0,
                Face::Regular,
                &format!("• {}{lead}: {}", q.kind, q.detail),
            );
        }
    }
}

/// Columns of the per-lead table: x offset and width, points.
const LEAD_COLS: [(f64, f64); 7] = [
    (0.0, 40.0),
    (45.0, 55.0),
    (105.0, 55.0),
    (165.0, 95.0),
    (265.0, 65.0),
    (335.0, 60.0),
    (400.0, 95.0),
];

/// "+1.2", "-0.5", and "0.0" rather than "-0.0".
fn st_mm(mm: f64) -> String {
    if mm.abs() < 0.05 {
        "0.0".into()
    } else {
        format!("{mm:+.1}")
    }
}

/// Per-lead amplitudes on the median beat: what ST/T and voltage claims are checked against.
fn lead_table(f: &mut Flow<'_>, m: &Measurements) {
    if m.leads.is_empty() {
        return;
    }
    f.gap(6.0);
    f.para(
        0.0,
        Face::Bold,
        "Per lead (median beat; amplitudes from the PR baseline; ST in mm at 10 mm/mV)",
    );
    let header = [
        "Lead",
        "R (mV)",
        "S (mV)",
        "Q wave",
        "ST J+60 (mm)",
        "T (mV)",
        "T wave",
    ];
    let cells: Vec<(f64, f64, Face, &str)> = LEAD_COLS
        .iter()
        .zip(header)
        .map(|(&(x, w), t)| (x, w, Face::Bold, t))
        .collect();
    f.row(&cells);
    let mv = |m: &Measured| {
        m.value
            .map_or_else(|| "-".into(), |v| format!("{:.2}", v / 1000.0))
    };
    for lead in &m.leads {
        let q = &lead.quality;
        let values: [String; 7] = if q.usable() {
            let q_wave = match (lead.q_duration_ms.value, lead.pathological_q) {
                (Some(d), Some(true)) => format!("{d:.0} ms, pathological"),
                (Some(d), _) if d >= 0.5 => format!("{d:.0} ms"),
                _ => "none".into(),
            };
            let t_wave = lead.t_polarity.map_or("-", |p| p.name()).to_string();
            [
                lead.lead.clone(),
                mv(&lead.r_amplitude_uv),
                mv(&lead.s_amplitude_uv),
                q_wave,
                lead.st_j60_uv
                    .value
                    .map_or_else(|| "-".into(), |v| st_mm(v / 100.0)),
                mv(&lead.t_amplitude_uv),
                t_wave,
            ]
        } else {
            let why = if q.lead_off { "lead off" } else { "flat lead" };
            [
                lead.lead.clone(),
                format!("not measured: {why}"),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ]
        };
        let cells: Vec<(f64, f64, Face, &str)> = LEAD_COLS
            .iter()
            .zip(&values)
            .enumerate()
            .map(|(k, (&(x, w), t))| {
                let face = if k == 0 { Face::Bold } else { Face::Regular };
                // The "not measured" note spans the value columns.
                let w = if !q.usable() && k == 1 { 400.0 } else { w };
                (x, w, face, t.as_str())
            })
            .collect();
        f.row(&cells);
    }
}

/// The comparison with the prior ECG: the serial statement and the significant changes.
pub(super) fn serial_section(f: &mut Flow<'_>, data: &ReportData) {
    let Some(c) = &data.comparison else {
        return;
    };
    f.subheading("Compared with the prior ECG");
    f.para(0.0, Face::Regular, &c.statement());
    for g in c.globals.iter().filter(|g| g.threshold.is_some()) {
        let text = match (g.prior, g.current, g.delta) {
            (Some(p), Some(n), Some(d)) => format!(
                "{p:.0} → {n:.0} {} (change {d:+.0}; criterion {}){}",
                g.unit,
                g.threshold.as_deref().unwrap_or(""),
                if g.significant { ": significant" } else { "" }
            ),
            _ => "not compared (not measured on both ECGs)".to_string(),
        };
        f.field(&g.name, &text);
    }
}

pub(super) fn assessment_section(f: &mut Flow<'_>, data: &ReportData) {
    f.heading("AI assessment");
    let e = &data.engine;
    f.field(
        "Engine",
        &format!("{} {} (device {})", e.name, e.version, e.device),
    );
    f.field("Task", &data.run.task);
    if data.run.status != "completed" {
        f.field(
            "Run status",
            &format!(
                "{}{}",
                data.run.status,
                data.run
                    .error
                    .as_ref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            ),
        );
    }
    f.field("Answer", &answer_text(data));
    f.field("Probability", &probability_line(data));
    let Some(report) = &data.report else {
        return;
    };
    if report.p_yes().is_some() {
        f.para(0.0, Face::Regular, RiskBand::thresholds_explained());
    }
    if !report.summary.is_empty() {
        f.gap(2.0);
        f.para(0.0, Face::Bold, "Summary");
        f.para(0.0, Face::Regular, &report.summary);
    }
    if !report.steps.is_empty() {
        f.subheading("Reasoning trace");
        for (k, step) in report.steps.iter().enumerate() {
            f.para(0.0, Face::Bold, &format!("Step {}: {}", k + 1, step.title));
            f.para(10.0, Face::Regular, &step.text);
            f.gap(2.0);
        }
    }
    for note in &report.input_notes {
        f.para(0.0, Face::Regular, &format!("Input note: {note}"));
    }
    for issue in &report.parse_issues {
        f.para(0.0, Face::Regular, &format!("Output problem: {issue}"));
    }
}

pub(super) fn verifier_section(f: &mut Flow<'_>, data: &ReportData) {
    f.heading("Trace verifier");
    let Some(v) = &data.verification else {
        f.para(0.0, Face::Regular, &not_verified_reason(data));
        return;
    };
    f.para(
        0.0,
        Face::Bold,
        &format!(
            "Claims in the trace checked against the measurements: {}.",
            verifier_counts(v)
        ),
    );
    let contradicted: Vec<&Value> = v["claims"]
        .as_array()
        .map(|c| c.iter().filter(|c| c["status"] == "contradicted").collect())
        .unwrap_or_default();
    if contradicted.is_empty() {
        f.para(
            0.0,
            Face::Regular,
            "No claim in the trace contradicts the measurements.",
        );
        return;
    }
    f.gap(4.0);
    f.para(0.0, Face::Bold, "Contradicted claims");
    f.row(&[
        (0.0, 215.0, Face::Bold, "Claim"),
        (220.0, 130.0, Face::Bold, "Measured"),
        (355.0, 140.0, Face::Bold, "Expected for the claim"),
    ]);
    let text = |c: &Value, k: &str| c[k].as_str().unwrap_or("-").to_string();
    for c in contradicted {
        f.row(&[
            (0.0, 215.0, Face::Regular, &text(c, "text")),
            (220.0, 130.0, Face::Regular, &text(c, "measured")),
            (355.0, 140.0, Face::Regular, &text(c, "expected")),
        ]);
    }
}

pub(super) fn decision_section(f: &mut Flow<'_>, data: &ReportData) {
    f.heading("Clinician's decision and signature");
    if data.decisions.is_empty() {
        f.para(
            0.0,
            Face::Bold,
            "Not signed: no clinician has signed a decision on this run. This report is not a signed clinical record.",
        );
        return;
    }
    for d in &data.decisions {
        let verdict = if d.kind == "agree" {
            "Agrees with the engine"
        } else {
            "Overrides the engine"
        };
        f.field(
            &format!("Decision {}", d.id),
            &format!("{verdict}; final answer: {}", d.final_answer),
        );
        f.field("Reason", &d.reason);
        f.field(
            "Signature",
            &format!(
                "{} at {}; meaning: {} ({})",
                d.signer,
                human_time(&d.signed_at),
                d.meaning,
                meaning_explained(&d.meaning)
            ),
        );
        f.gap(4.0);
    }
}

fn parameters_text(json: &str) -> String {
    match serde_json::from_str::<Value>(json) {
        Ok(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => format!("{k} = {s}"),
                other => format!("{k} = {other}"),
            })
            .collect::<Vec<_>>()
            .join(", "),
        _ => json.to_string(),
    }
}

pub(super) fn provenance_section(f: &mut Flow<'_>, data: &ReportData) {
    f.heading("Engine identity and provenance");
    let e = &data.engine;
    f.field("Engine", &format!("{} {}", e.name, e.version));
    if let Some(family) = &e.family {
        f.field("Model family", family);
    }
    if let Some(c) = &e.checkpoint {
        f.field("Checkpoint", c);
    }
    f.field(
        "Device / dtype",
        &format!("{} / {}", e.device, e.dtype.as_deref().unwrap_or("n/a")),
    );
    if e.weights_sha256.is_empty() {
        f.field(
            "Weights SHA-256",
            "none: a built-in rule-based engine has no weights",
        );
    } else {
        for (k, (file, sha)) in e.weights_sha256.iter().enumerate() {
            let label = if k == 0 { "Weights SHA-256" } else { "" };
            f.field(label, &format!("{file}: {sha}"));
        }
    }
    f.field("Parameters", &parameters_text(&data.run.parameters_json));
    f.field(
        "Run",
        &format!(
            "started {}, finished {}, by {}",
            human_time(&data.run.started_at),
            human_time(&data.run.finished_at),
            data.run.created_by
        ),
    );
    f.field(
        "Raw output SHA-256",
        &sha256_hex(data.run.raw_output.as_bytes()),
    );
}

pub(super) fn notice_box(f: &mut Flow<'_>, data: &ReportData) {
    let text = format!(
        "{ASSIST_NOTICE} The AI assessment and its probability express the engine's confidence, not a diagnosis; claims the verifier marks as contradicted disagree with the measured signal. This report was generated {} by {}; its generation is recorded in the audit history.",
        human_time(&data.generated_at),
        data.generated_by
    );
    let width = f.right() - MARGIN - 20.0;
    let lines = wrap(&text, Face::Bold, BODY, width);
    let height = lines.len() as f64 * LEADING + 14.0;
    f.ensure(height + 20.0);
    f.gap(12.0);
    let right = f.right();
    f.doc.set_stroke_rgb(0.0, 0.0, 0.0);
    f.doc.stroke_rect(MARGIN, f.y, right - MARGIN, height, 1.0);
    let mut y = f.y + 10.0 + BODY;
    for line in lines {
        f.doc.text(MARGIN + 10.0, y, BODY, Face::Bold, &line);
        y += LEADING;
    }
    f.y += height;
}
