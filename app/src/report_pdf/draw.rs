//! The report's pages. Page 1 (A4 landscape) carries the ECG at true size (25 mm/s,
//! 10 mm/mV: print at 100 %) with a one-glance summary; the following A4 portrait pages carry
//! the details. Every page has the same header (case, run, generation time) and a footer with
//! the standing notice and "Page k of N".

use ecgr1_engine::EcgRecord;
use ecgr1_engine::features::{Measured, Measurements};
use ecgr1_engine::formats::sha256_hex;
use ecgr1_engine::render::{PanelSource, RenderOptions, page_layout, trace_polylines};
use ecgr1_engine::report::{ASSIST_NOTICE, RiskBand};
use serde_json::Value;

use super::{MeasuredSection, PatientSection, ReadBack, ReportData};
use crate::pdf::{Face, PdfDocument, PdfImage, text_width, wrap};

/// Points per millimetre.
const MM: f64 = 72.0 / 25.4;
/// ECG paper colours, the same as the PNG renderer's.
const MINOR_GRID: (f64, f64, f64) = (248.0 / 255.0, 196.0 / 255.0, 196.0 / 255.0);
const MAJOR_GRID: (f64, f64, f64) = (232.0 / 255.0, 120.0 / 255.0, 120.0 / 255.0);
const MISSING_INK: (f64, f64, f64) = (150.0 / 255.0, 150.0 / 255.0, 150.0 / 255.0);
/// Where the ECG starts on page 1, points from the top.
pub const ECG_TOP_PT: f64 = 70.0;
/// Side margin of the portrait pages.
const MARGIN: f64 = 50.0;
const BODY: f64 = 9.0;
const LEADING: f64 = BODY * 1.35;

/// "2026-11-23T20:15:00.123456Z" → "2026-11-23 20:15:00 UTC"; anything else unchanged.
pub fn human_time(stamp: &str) -> String {
    let b = stamp.as_bytes();
    if b.len() >= 19 && b[10] == b'T' && stamp.is_char_boundary(19) {
        format!("{} {} UTC", &stamp[..10], &stamp[11..19])
    } else {
        stamp.to_string()
    }
}

fn header(doc: &mut PdfDocument, data: &ReportData) {
    let (w, _) = doc.page_size();
    let m = if w > 700.0 { 38.0 } else { MARGIN };
    doc.set_fill_rgb(0.0, 0.0, 0.0);
    doc.text(m, 30.0, 14.0, Face::Bold, "Clinical ECG report");
    doc.text(
        m,
        42.0,
        8.0,
        Face::Regular,
        "ECG-R1 workstation - AI-assisted reading with verification",
    );
    doc.text_right(
        w - m,
        30.0,
        11.0,
        Face::Bold,
        &format!("Case {}  ·  Run {}", data.run.case_id, data.run.id),
    );
    doc.text_right(
        w - m,
        42.0,
        8.0,
        Face::Regular,
        &format!(
            "Generated {} by {}",
            human_time(&data.generated_at),
            data.generated_by
        ),
    );
    doc.set_stroke_rgb(0.0, 0.0, 0.0);
    doc.line(m, 48.0, w - m, 48.0, 0.8);
}

fn footers(doc: &mut PdfDocument) {
    let pages = doc.page_count();
    for k in 0..pages {
        doc.select_page(k);
        let (w, h) = doc.page_size();
        let m = if w > 700.0 { 38.0 } else { MARGIN };
        doc.set_fill_rgb(0.0, 0.0, 0.0);
        doc.set_stroke_rgb(0.0, 0.0, 0.0);
        doc.line(m, h - 30.0, w - m, h - 30.0, 0.5);
        doc.text(m, h - 19.0, 7.5, Face::Regular, ASSIST_NOTICE);
        doc.text_right(
            w - m,
            h - 19.0,
            8.0,
            Face::Bold,
            &format!("Page {} of {pages}", k + 1),
        );
    }
}

/// The whole document.
pub(crate) fn document(data: &ReportData) -> PdfDocument {
    let mut doc = PdfDocument::new(&format!(
        "ECG report - case {} run {}",
        data.run.case_id, data.run.id
    ));
    doc.add_landscape_page();
    header(&mut doc, data);
    first_page(&mut doc, data);
    let mut flow = Flow::new(&mut doc, data);
    case_section(&mut flow, data);
    measurements_section(&mut flow, data);
    assessment_section(&mut flow, data);
    verifier_section(&mut flow, data);
    decision_section(&mut flow, data);
    provenance_section(&mut flow, data);
    notice_box(&mut flow, data);
    footers(&mut doc);
    doc
}

// ---------------------------------------------------------------------------------------
// Page 1: the ECG and the summary.

fn first_page(doc: &mut PdfDocument, data: &ReportData) {
    let (w, h) = doc.page_size();
    let m = 38.0;
    let patient = format!("Patient: {}", patient_line(&data.patient));
    let input = format!(
        "Input: {} ({}), stored {}",
        data.input.file_name,
        data.input.format,
        human_time(&data.input.created_at)
    );
    doc.text(m, 62.0, BODY, Face::Bold, &patient);
    // The input is on page 2 as well: leave it out here rather than overprint the patient.
    if text_width(&patient, Face::Bold, BODY) + text_width(&input, Face::Regular, BODY) + 20.0
        <= w - 2.0 * m
    {
        doc.text_right(w - m, 62.0, BODY, Face::Regular, &input);
    }
    let box_w = w - 2.0 * m;
    let box_h = 135.0 * MM;
    let bottom = match &data.read_back {
        ReadBack::Signal(record) => match draw_ecg(doc, record, ECG_TOP_PT) {
            Ok(bottom) => bottom,
            Err(problem) => {
                message_box(
                    doc,
                    m,
                    ECG_TOP_PT,
                    box_w,
                    box_h,
                    &format!("The ECG cannot be drawn: {problem}"),
                );
                ECG_TOP_PT + box_h
            }
        },
        ReadBack::Image {
            width,
            height,
            rgb,
            original,
        } => {
            let scale = (box_w / f64::from(*width)).min(box_h / f64::from(*height));
            let (iw, ih) = (f64::from(*width) * scale, f64::from(*height) * scale);
            doc.image(
                PdfImage {
                    width_px: *width,
                    height_px: *height,
                    rgb: rgb.clone(),
                },
                m + (box_w - iw) / 2.0,
                ECG_TOP_PT,
                iw,
                ih,
            );
            let caption = format!(
                "The stored image ({} x {} pixels) as the engine saw it. Not to scale: an image has no calibration, and it cannot be measured.",
                original.0, original.1
            );
            doc.text(m, ECG_TOP_PT + ih + 11.0, 8.0, Face::Regular, &caption);
            ECG_TOP_PT + ih + 14.0
        }
        ReadBack::NotReproducible(why) => {
            message_box(
                doc,
                m,
                ECG_TOP_PT,
                box_w,
                box_h,
                &format!("The ECG cannot be shown: {why}."),
            );
            ECG_TOP_PT + box_h
        }
    };
    // The summary stops above the footer; everything it leaves out is on the next pages.
    let last_baseline = h - 52.0;
    let mut y = bottom + 14.0;
    let mut cut = false;
    'summary: for (label, text) in &summary_lines(data) {
        let x = m + 92.0;
        for (k, line) in wrap(text, Face::Regular, BODY, w - m - x)
            .iter()
            .enumerate()
        {
            if y > last_baseline {
                cut = true;
                break 'summary;
            }
            if k == 0 {
                doc.text(m, y, BODY, Face::Bold, label);
            }
            doc.text(x, y, BODY, Face::Regular, line);
            y += LEADING;
        }
    }
    let more = if cut {
        "The summary continues on the next pages, with all measurements, the reasoning trace, contradicted claims, signatures and provenance."
    } else {
        "Details (all measurements, the reasoning trace, contradicted claims, signatures, provenance) follow on the next pages."
    };
    doc.text(
        m,
        y.min(last_baseline + LEADING) + 2.0,
        8.0,
        Face::Regular,
        more,
    );
}

fn message_box(doc: &mut PdfDocument, x: f64, y: f64, w: f64, h: f64, text: &str) {
    doc.set_stroke_rgb(0.5, 0.5, 0.5);
    doc.stroke_rect(x, y, w, h, 0.8);
    doc.set_fill_rgb(0.0, 0.0, 0.0);
    doc.paragraph(x + 20.0, y + h / 2.0, w - 40.0, 11.0, Face::Bold, text);
}

/// Draws the record as a 3x4 + II rhythm page at 25 mm/s and 10 mm/mV, true size, centred
/// horizontally with its top at `top`. Returns the bottom of the drawn page.
fn draw_ecg(doc: &mut PdfDocument, record: &EcgRecord, top: f64) -> Result<f64, String> {
    let options = RenderOptions::default();
    let layout = page_layout(record, &options).map_err(|e| e.to_string())?;
    let (w, _) = doc.page_size();
    let ox = (w - layout.width_mm * MM) / 2.0;
    let at = |x_mm: f64, y_mm: f64| (ox + x_mm * MM, top + y_mm * MM);

    // Grid: minor lines first so the major lines sit on top.
    let g = layout.grid;
    let squares_x = g.width.round() as i64;
    let squares_y = g.height.round() as i64;
    for major in [false, true] {
        let mut lines = Vec::new();
        for k in 0..=squares_x {
            if (k % 5 == 0) == major {
                let x = g.x + k as f64;
                lines.push(vec![at(x, g.y), at(x, g.y + g.height)]);
            }
        }
        for k in 0..=squares_y {
            if (k % 5 == 0) == major {
                let y = g.y + k as f64;
                lines.push(vec![at(g.x, y), at(g.x + g.width, y)]);
            }
        }
        let ((r, gr, b), width_mm) = if major {
            (MAJOR_GRID, 0.2)
        } else {
            (MINOR_GRID, 0.08)
        };
        doc.set_stroke_rgb(r, gr, b);
        doc.polylines(&lines, width_mm * MM);
    }

    let trace_width = 0.25 * MM;
    let clamp = |y_mm: f64| y_mm.clamp(g.y - 5.0, g.y + g.height + 5.0);
    doc.set_round_joins(true);
    let mut traces = Vec::new();
    let mut missing = Vec::new();
    for panel in &layout.panels {
        if panel.source == PanelSource::Missing {
            missing.push(vec![
                at(panel.x_mm, panel.baseline_mm),
                at(panel.x_mm + panel.width_mm, panel.baseline_mm),
            ]);
            continue;
        }
        for line in trace_polylines(record, panel, 0.1) {
            traces.push(line.into_iter().map(|(x, y)| at(x, clamp(y))).collect());
        }
    }
    doc.set_stroke_rgb(0.0, 0.0, 0.0);
    doc.polylines(&traces, trace_width);
    if !missing.is_empty() {
        doc.set_stroke_rgb(MISSING_INK.0, MISSING_INK.1, MISSING_INK.2);
        doc.set_dash(Some((2.0 * MM, 2.0 * MM)));
        doc.polylines(&missing, trace_width);
        doc.set_dash(None);
    }
    doc.set_round_joins(false);
    doc.set_stroke_rgb(0.0, 0.0, 0.0);
    let mut marks: Vec<Vec<(f64, f64)>> = layout
        .calibrations
        .iter()
        .map(|c| {
            vec![
                at(c.x_start_mm, c.baseline_mm),
                at(c.x_rise_mm, c.baseline_mm),
                at(c.x_rise_mm, c.top_mm),
                at(c.x_fall_mm, c.top_mm),
                at(c.x_fall_mm, c.baseline_mm),
                at(c.x_end_mm, c.baseline_mm),
            ]
        })
        .collect();
    marks.extend(
        layout
            .separators
            .iter()
            .map(|s| vec![at(s.x_mm, s.y_top_mm), at(s.x_mm, s.y_bottom_mm)]),
    );
    doc.polylines(&marks, trace_width);

    let label_size = ecgr1_engine::render::layout::LABEL_TEXT_MM * MM;
    for panel in &layout.panels {
        if panel.source == PanelSource::Missing {
            doc.set_fill_rgb(MISSING_INK.0, MISSING_INK.1, MISSING_INK.2);
        } else {
            doc.set_fill_rgb(0.0, 0.0, 0.0);
        }
        let (x, y) = at(panel.x_mm + 1.0, panel.row_top_mm + 1.0);
        doc.text(
            x,
            y + label_size * 0.8,
            label_size,
            Face::Bold,
            &panel.label,
        );
    }
    doc.set_fill_rgb(0.0, 0.0, 0.0);
    let (fx, fy) = at(layout.footer_x_mm, layout.footer_baseline_mm);
    doc.text(
        fx,
        fy,
        ecgr1_engine::render::layout::FOOTER_TEXT_MM * MM,
        Face::Regular,
        &format!("{}   true size: print at 100 %", layout.footer),
    );
    Ok(top + layout.height_mm * MM)
}

fn patient_line(patient: &PatientSection) -> String {
    match patient {
        PatientSection::Identified(p) => {
            let mut parts = Vec::new();
            if let Some(name) = &p.name {
                parts.push(name.clone());
            }
            if let Some(id) = &p.identifier {
                parts.push(format!("ID {id}"));
            }
            if let Some(b) = &p.birth_date {
                parts.push(format!("born {b}"));
            }
            if let Some(s) = &p.sex {
                parts.push(format!("sex {s}"));
            }
            parts.push(format!("pseudonym {}", p.pseudonym));
            parts.join("  ·  ")
        }
        PatientSection::None => "no identifying data came with the input".into(),
        PatientSection::Withheld(why) => why.clone(),
    }
}

/// "P(yes) 0.87: high probability of ischemia", "rule-based, no P(yes)", or why there is none.
fn probability_line(data: &ReportData) -> String {
    let p = data.report.as_ref().and_then(ecgr1_engine::Report::p_yes);
    match p {
        Some(p) => {
            let band = RiskBand::from_p_yes(p).map_or_else(
                || "no band (value out of range)".to_string(),
                |b| b.wording().to_string(),
            );
            format!("P(yes) {p:.2}: {band}")
        }
        None if data.engine.name == "protocol" => "rule-based, no P(yes)".into(),
        None => "no P(yes): the engine did not report one".into(),
    }
}

fn answer_text(data: &ReportData) -> String {
    match &data.report {
        Some(r) if !r.answer.is_empty() => r.answer.join("; "),
        Some(_) => "no answer".into(),
        None => format!(
            "none: the run {}{}",
            data.run.status,
            data.run
                .error
                .as_ref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        ),
    }
}

fn verifier_counts(v: &Value) -> String {
    let s = &v["summary"];
    let count = |k: &str| s[k].as_u64().unwrap_or(0);
    format!(
        "{} claims found, {} supported, {} contradicted, {} not checkable",
        count("claims"),
        count("supported"),
        count("contradicted"),
        count("uncheckable")
    )
}

fn not_verified_reason(data: &ReportData) -> String {
    match &data.read_back {
        ReadBack::Image { .. } => {
            "not verified: an image cannot be measured, so the trace cannot be checked".into()
        }
        _ => "not verified: no verifier result was stored with this run".into(),
    }
}

fn signature_line(d: &crate::store::DecisionRecord) -> String {
    let verdict = if d.kind == "agree" {
        format!("agrees with the engine (final answer: {})", d.final_answer)
    } else {
        format!("overrides the engine (final answer: {})", d.final_answer)
    };
    format!(
        "{verdict}; signed by {} at {}, meaning: {} ({})",
        d.signer,
        human_time(&d.signed_at),
        d.meaning,
        meaning_explained(&d.meaning)
    )
}

fn meaning_explained(meaning: &str) -> &'static str {
    match meaning {
        "approved" => "the signer approves this reading as the clinical result",
        "reviewed" => "the signer has reviewed this reading",
        _ => "meaning as recorded",
    }
}

fn short(m: &Measured, decimals: usize) -> String {
    m.value
        .map_or_else(|| "n/a".into(), |v| with_unit(v, decimals, &m.unit))
}

/// "72 bpm", "54°", "-12 µV".
fn with_unit(value: f64, decimals: usize, unit: &str) -> String {
    match unit {
        "deg" => format!("{value:.decimals$}°"),
        "uV" => format!("{value:.decimals$} µV"),
        "" => format!("{value:.decimals$}"),
        other => format!("{value:.decimals$} {other}"),
    }
}

fn summary_lines(data: &ReportData) -> Vec<(String, String)> {
    let measured = match &data.measured {
        MeasuredSection::Values(m) => format!(
            "HR {}  ·  PR {}  ·  QRS {}  ·  QT {}  ·  QTc {} (Bazett), {} (Fridericia)  ·  axes P/QRS/T {} / {} / {}  ·  rhythm: {}",
            short(&m.heart_rate_bpm, 0),
            short(&m.pr_ms, 0),
            short(&m.qrs_ms, 0),
            short(&m.qt_ms, 0),
            short(&m.qtc_bazett_ms, 0),
            short(&m.qtc_fridericia_ms, 0),
            short(&m.p_axis_deg, 0),
            short(&m.qrs_axis_deg, 0),
            short(&m.t_axis_deg, 0),
            m.rhythm.label
        ),
        MeasuredSection::Unavailable(why) => why.clone(),
    };
    let assessment = format!(
        "{} engine, task {}: answer {}  ·  {}",
        data.engine.name,
        data.run.task,
        answer_text(data),
        probability_line(data)
    );
    let verifier = data
        .verification
        .as_ref()
        .map_or_else(|| not_verified_reason(data), verifier_counts);
    let decision = match data.decisions.last() {
        Some(d) if data.decisions.len() == 1 => signature_line(d),
        Some(d) => format!(
            "{} decisions; latest: {}",
            data.decisions.len(),
            signature_line(d)
        ),
        None => "not signed: no clinician has signed a decision on this run".into(),
    };
    vec![
        ("Measurements".into(), measured),
        ("AI assessment".into(), assessment),
        ("Trace verifier".into(), verifier),
        ("Clinician".into(), decision),
    ]
}

// ---------------------------------------------------------------------------------------
// The detail pages.

/// Text flowing down portrait pages, starting a new one when the current is full.
struct Flow<'a> {
    doc: &'a mut PdfDocument,
    data: &'a ReportData,
    y: f64,
}

impl<'a> Flow<'a> {
    fn new(doc: &'a mut PdfDocument, data: &'a ReportData) -> Self {
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
        self.doc.text(MARGIN, self.y, 12.0, Face::Bold, text);
        self.y += 4.0;
        let right = self.right();
        self.doc.set_stroke_rgb(0.6, 0.6, 0.6);
        self.doc.line(MARGIN, self.y, right, self.y, 0.5);
        self.y += 14.0;
    }

    fn subheading(&mut self, text: &str) {
        self.ensure(30.0);
        self.y += 4.0;
        self.doc.text(MARGIN, self.y, 10.0, Face::Bold, text);
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

fn case_section(f: &mut Flow<'_>, data: &ReportData) {
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

fn measurements_section(f: &mut Flow<'_>, data: &ReportData) {
    f.heading("Measurements");
    let m: &Measurements = match &data.measured {
        MeasuredSection::Values(m) => m,
        MeasuredSection::Unavailable(why) => {
            f.para(0.0, Face::Bold, why);
            return;
        }
    };
    f.para(
        0.0,
        Face::Regular,
        &format!(
            "Measured for this report on the stored signal ({} Hz, {:.1} s) by the workstation's feature database; the same values the verifier checks claims against.",
            m.sample_rate_hz, m.duration_s
        ),
    );
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

fn assessment_section(f: &mut Flow<'_>, data: &ReportData) {
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

fn verifier_section(f: &mut Flow<'_>, data: &ReportData) {
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

fn decision_section(f: &mut Flow<'_>, data: &ReportData) {
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

fn provenance_section(f: &mut Flow<'_>, data: &ReportData) {
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

fn notice_box(f: &mut Flow<'_>, data: &ReportData) {
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
