//! The report's pages. Page 1 (A4 landscape) carries the ECG at true size (25 mm/s,
//! 10 mm/mV: print at 100 %) with a one-glance summary; the following A4 portrait pages carry
//! the details. Every page has the same header (case, run, generation time) and a footer with
//! the standing notice and "Page k of N".

mod details;
mod paper;

use ecgr1_engine::features::Measured;
use ecgr1_engine::report::{ASSIST_NOTICE, RiskBand};
use serde_json::Value;

use self::details::{
    Flow, assessment_section, case_section, decision_section, measurements_section, notice_box,
    provenance_section, serial_section, verifier_section,
};
use self::paper::draw_ecg;
use super::{MeasuredSection, PatientSection, ReadBack, ReportData};
use crate::cli::input::measured_from_note;
use crate::pdf::{DocumentInfo, Face, PdfDocument, PdfImage, text_width, wrap};

/// Points per millimetre.
const MM: f64 = 72.0 / 25.4;
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
    doc.furniture();
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
    doc.content();
}

fn footers(doc: &mut PdfDocument) {
    let pages = doc.page_count();
    for k in 0..pages {
        doc.select_page(k);
        let (w, h) = doc.page_size();
        let m = if w > 700.0 { 38.0 } else { MARGIN };
        doc.furniture();
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
        doc.content();
    }
}

/// The whole document.
pub(crate) fn document(data: &ReportData) -> PdfDocument {
    let mut doc = PdfDocument::new(DocumentInfo {
        title: format!("ECG report – case {} run {}", data.run.case_id, data.run.id),
        author: Some(data.generated_by.clone()),
        created_utc: Some(data.generated_at.clone()),
        // One identity per run and input: every report of the run is a version of one
        // document (the instance id in the XMP differs when the content does).
        document_id: Some(format!(
            "ecgr1 report case {} run {} input {}",
            data.run.case_id, data.run.id, data.input.sha256
        )),
        language: "en".into(),
    });
    doc.add_landscape_page();
    header(&mut doc, data);
    first_page(&mut doc, data);
    let mut flow = Flow::new(&mut doc, data);
    case_section(&mut flow, data);
    measurements_section(&mut flow, data);
    serial_section(&mut flow, data);
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
            doc.figure(&format!(
                "The stored ECG image, {} x {} pixels, as the engine saw it",
                original.0, original.1
            ));
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
            doc.content();
            let caption = match &data.digitisation {
                Some(d) => format!(
                    "The stored image ({} x {} pixels) as the engine saw it, not to scale. The {}.",
                    original.0,
                    original.1,
                    measured_from_note(d)
                ),
                None => format!(
                    "The stored image ({} x {} pixels) as the engine saw it. Not to scale: an image has no calibration, and it cannot be measured.",
                    original.0, original.1
                ),
            };
            let mut y = ECG_TOP_PT + ih + 11.0;
            for line in wrap(&caption, Face::Regular, 8.0, box_w) {
                doc.text(m, y, 8.0, Face::Regular, &line);
                y += 10.0;
            }
            y + 3.0
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
            // The band the run stored; the published cut-offs when it stored none.
            let stored = data.report.as_ref().and_then(|r| r.band);
            let band = stored.or_else(|| RiskBand::from_p_yes(p)).map_or_else(
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

pub(crate) fn verifier_counts(v: &Value) -> String {
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
        ReadBack::Image { .. } if data.digitisation.is_none() => {
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
