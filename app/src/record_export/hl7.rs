//! The result as an HL7 v2.5.1 ORU^R01 message: MSH, SFT (the workstation), PID, ORC, OBR
//! (with the clinical notes and the standing notice as NTEs), then one OBX per measurement
//! (LOINC, UCUM), the engine's statements, P(yes) and band, the verifier's counts, the signed
//! decision, the engine identity and the PDF report as an ED value.
//!
//! Segments end with a carriage return, as the standard says. Every text value is escaped
//! (`\F\ \S\ \T\ \R\ \E\` for `| ^ & ~ \`); line breaks in free text become repetitions.

use base64::Engine as _;

use super::content::{RecordContent, utc_seconds};

const LOCAL: &str = "L";

/// Escapes one component (or subcomponent) of a field: the five delimiters, and control
/// characters (which would end a segment or corrupt the message) as spaces.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\E\\"),
            '|' => out.push_str("\\F\\"),
            '^' => out.push_str("\\S\\"),
            '&' => out.push_str("\\T\\"),
            '~' => out.push_str("\\R\\"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Free text over several lines: each line escaped, lines as repetitions of the field.
pub fn escape_lines(text: &str) -> String {
    text.lines()
        .map(|l| escape(l.trim_end()))
        .collect::<Vec<_>>()
        .join("~")
}

/// Reverses [`escape`] (for the tests and for reading a message back).
pub fn unescape(text: &str) -> String {
    text.replace("\\F\\", "|")
        .replace("\\S\\", "^")
        .replace("\\T\\", "&")
        .replace("\\R\\", "~")
        .replace("\\E\\", "\\")
}

/// "2026-11-24T08:30:00.000000Z" → "20261124083000+0000".
fn dtm(stamp: &str) -> String {
    utc_seconds(stamp).map_or_else(String::new, |s| {
        format!("{}+0000", s[..19].replace(['-', ':', 'T'], ""))
    })
}

/// "1960-02-03" → "19600203"; anything not a date is left out rather than sent wrong.
fn date(text: &str) -> String {
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    if digits.len() == 8 {
        digits
    } else {
        String::new()
    }
}

/// HL7 table 0001.
fn sex(text: Option<&str>) -> &'static str {
    match text.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
        Some("f" | "female") => "F",
        Some("m" | "male") => "M",
        Some("o" | "other") => "O",
        _ => "U",
    }
}

/// A segment from (field number, value) pairs; the fields between stay empty.
fn segment(name: &str, fields: &[(usize, String)]) -> String {
    let last = fields.iter().map(|(k, _)| *k).max().unwrap_or(0);
    let mut values = vec![String::new(); last];
    for (k, v) in fields {
        values[k - 1].clone_from(v);
    }
    let mut out = name.to_string();
    for v in values {
        out.push('|');
        out.push_str(&v);
    }
    out
}

fn ce(code: &str, text: &str, system: &str) -> String {
    format!("{}^{}^{system}", escape(code), escape(text))
}

/// A number as HL7 NM: no exponent, no trailing zeros.
fn nm(value: f64, decimals: usize) -> String {
    let s = format!("{value:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

struct Observations {
    segments: Vec<String>,
}

impl Observations {
    fn push(&mut self, fields: Vec<(usize, String)>, notes: &[String]) {
        let set_id = self
            .segments
            .iter()
            .filter(|s| s.starts_with("OBX|"))
            .count()
            + 1;
        let mut fields = fields;
        fields.push((1, set_id.to_string()));
        self.segments.push(segment("OBX", &fields));
        for (k, note) in notes.iter().enumerate() {
            self.segments.push(segment(
                "NTE",
                &[
                    (1, (k + 1).to_string()),
                    (2, "L".into()),
                    (3, escape_lines(note)),
                ],
            ));
        }
    }
}

/// The ORU^R01 message.
pub fn message(c: &RecordContent) -> Vec<u8> {
    let version = env!("CARGO_PKG_VERSION");
    let generated = dtm(&c.generated_at);
    let observed = dtm(&c.observed_at);
    let mut segments = vec![
        format!(
            "MSH|^~\\&|ECGR1||||{generated}||ORU^R01^ORU_R01|{}|P|2.5.1||||||UNICODE UTF-8",
            c.message_id
        ),
        segment(
            "SFT",
            &[
                (1, "ECG-R1 workstation".into()),
                (2, escape(version)),
                (3, "ecgr1".into()),
                (4, escape(version)),
            ],
        ),
    ];
    let mut name = c.name_parts();
    // DICOM person names run family^given^middle^prefix^suffix, HL7 XPN family^given^
    // middle^suffix^prefix.
    if name.len() >= 5 {
        name.swap(3, 4);
    }
    let xpn = name
        .iter()
        .take(5)
        .map(|p| escape(p))
        .collect::<Vec<_>>()
        .join("^");
    segments.push(segment(
        "PID",
        &[
            (1, "1".into()),
            (3, format!("{}^^^^MR", escape(&c.patient_identifier))),
            (5, xpn),
            (
                7,
                c.patient
                    .birth_date
                    .as_deref()
                    .map(date)
                    .unwrap_or_default(),
            ),
            (8, sex(c.patient.sex.as_deref()).into()),
        ],
    ));
    let placer = c.placer_order.as_deref().map(escape).unwrap_or_default();
    let filler = format!("{}^ECGR1", escape(&c.filler_order));
    let signer = escape(&c.decision.signer);
    segments.push(segment(
        "ORC",
        &[
            (1, "RE".into()),
            (2, placer.clone()),
            (3, filler.clone()),
            (5, "CM".into()),
        ],
    ));
    segments.push(segment(
        "OBR",
        &[
            (1, "1".into()),
            (2, placer),
            (3, filler),
            (4, ce("11524-6", "EKG study", "LN")),
            (7, observed.clone()),
            (22, generated.clone()),
            (24, "EC".into()),
            (25, "F".into()),
            (32, signer.clone()),
        ],
    ));
    let mut nte = Vec::new();
    if let Some(notes) = &c.clinical_notes {
        nte.push(format!("Clinical notes: {notes}"));
    }
    nte.push(ecgr1_engine::report::ASSIST_NOTICE.to_string());
    for (k, note) in nte.iter().enumerate() {
        segments.push(segment(
            "NTE",
            &[
                (1, (k + 1).to_string()),
                (2, "L".into()),
                (3, escape_lines(note)),
            ],
        ));
    }

    let mut obx = Observations {
        segments: Vec::new(),
    };
    let final_ = |fields: &mut Vec<(usize, String)>| {
        fields.push((11, "F".into()));
        fields.push((14, observed.clone()));
    };
    for o in &c.observations {
        let code = ce(o.coding.loinc, o.coding.display, "LN");
        let units = ce(o.coding.ucum, o.coding.ucum, "UCUM");
        let mut fields = vec![(2, "NM".to_string()), (3, code), (6, units)];
        if let Some((low, high)) = o.coding.range {
            fields.push((7, format!("{}-{}", nm(low, 0), nm(high, 0))));
        }
        if let Some(method) = o.coding.method {
            fields.push((17, ce(&method.to_uppercase(), method, LOCAL)));
        }
        match &o.value {
            Ok(v) => {
                fields.push((5, nm(*v, 1)));
                final_(&mut fields);
                obx.push(fields, &[]);
            }
            Err(why) => {
                // "X": the result cannot be obtained; the reason follows as a note.
                fields.push((11, "X".into()));
                fields.push((14, observed.clone()));
                obx.push(fields, &[format!("not measured: {why}")]);
            }
        }
    }
    if let Some(qtcf) = &c.qtc_fridericia {
        let mut fields = vec![
            (2, "NM".to_string()),
            (3, ce("ECGR1-QTCF", "QTc by Fridericia", LOCAL)),
            (6, ce("ms", "ms", "UCUM")),
            (17, ce("FRIDERICIA", "Fridericia", LOCAL)),
        ];
        match qtcf {
            Ok(v) => {
                fields.push((5, nm(*v, 1)));
                final_(&mut fields);
                obx.push(fields, &[]);
            }
            Err(why) => {
                fields.push((11, "X".into()));
                obx.push(fields, &[format!("not measured: {why}")]);
            }
        }
    }
    let text = |code: &str, display: &str, sub: Option<usize>, value: &str| {
        let mut fields = vec![
            (2, "TX".to_string()),
            (3, ce(code, display, LOCAL)),
            (5, escape_lines(value)),
            (11, "F".into()),
        ];
        if let Some(sub) = sub {
            fields.push((4, sub.to_string()));
        }
        fields
    };
    if let Some(rhythm) = &c.rhythm {
        obx.push(text("ECGR1-RHYTHM", "Rhythm", None, rhythm), &[]);
    }
    for (k, statement) in c.statements.iter().enumerate() {
        obx.push(
            text(
                "ECGR1-STATEMENT",
                "Engine interpretation statement",
                Some(k + 1),
                statement,
            ),
            &[],
        );
    }
    if let Some(summary) = &c.summary {
        obx.push(text("ECGR1-SUMMARY", "Engine summary", None, summary), &[]);
    }
    if let Some(p) = c.p_yes {
        let mut fields = vec![
            (2, "NM".to_string()),
            (
                3,
                ce("ECGR1-PYES", "Engine probability of ischemia P(yes)", LOCAL),
            ),
            (5, nm(p, 3)),
            (6, ce("1", "1", "UCUM")),
            (11, "F".into()),
        ];
        fields.push((7, "0-1".into()));
        obx.push(fields, &[]);
    }
    if let Some(band) = c.band {
        obx.push(
            text("ECGR1-BAND", "Engine risk band", None, band.wording()),
            &[],
        );
    }
    if let Some(v) = &c.verifier {
        obx.push(text("ECGR1-VERIFIER", "Trace verifier", None, v), &[]);
    }
    let d = &c.decision;
    let mut decision = text(
        "ECGR1-DECISION",
        "Clinician's signed decision",
        None,
        &format!(
            "{}; final answer: {}; reason: {}; signed by {} at {}, meaning: {}",
            c.verdict(),
            d.final_answer,
            d.reason,
            d.signer,
            utc_seconds(&d.signed_at).unwrap_or_else(|| d.signed_at.clone()),
            d.meaning
        ),
    );
    decision.push((14, dtm(&d.signed_at)));
    decision.push((16, signer.clone()));
    obx.push(decision, &[]);
    let mut final_answer = text("ECGR1-FINAL", "Signed final answer", None, &d.final_answer);
    final_answer[0].1 = "ST".into();
    final_answer.push((16, signer));
    obx.push(final_answer, &[]);
    let mut engine = text(
        "ECGR1-ENGINE",
        "Interpretation engine",
        None,
        &c.engine_line(),
    );
    engine[0].1 = "ST".into();
    obx.push(engine, &[]);
    for (k, (file, sha)) in c.engine.weights_sha256.iter().enumerate() {
        let mut weights = text(
            "ECGR1-WEIGHTS",
            "Engine weights SHA-256",
            Some(k + 1),
            &format!("{file} {sha}"),
        );
        weights[0].1 = "ST".into();
        obx.push(weights, &[]);
    }
    let pdf = base64::engine::general_purpose::STANDARD.encode(&c.pdf);
    obx.push(
        vec![
            (2, "ED".to_string()),
            (
                3,
                ce("ECGR1-REPORT", "Clinical ECG report (PDF/A-2b)", LOCAL),
            ),
            (5, format!("ECGR1^AP^PDF^Base64^{pdf}")),
            (11, "F".into()),
        ],
        &[],
    );
    segments.extend(obx.segments);
    let mut out = segments.join("\r");
    out.push('\r');
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_delimiter_is_escaped_and_comes_back() {
        let text = r"O'Brien | Smith ^ Anne & Mary ~ back\slash";
        let escaped = escape(text);
        assert_eq!(
            escaped,
            r"O'Brien \F\ Smith \S\ Anne \T\ Mary \R\ back\E\slash"
        );
        assert!(!escaped.contains(['|', '^', '&', '~']));
        assert_eq!(unescape(&escaped), text);
        // A segment terminator inside a value would end the segment.
        assert_eq!(escape("a\rb\nc"), "a b c");
        assert_eq!(escape_lines("one|\ntwo~"), r"one\F\~two\R\");
    }

    #[test]
    fn times_dates_and_numbers_take_hl7_forms() {
        assert_eq!(dtm("2026-11-24T08:30:00.000000Z"), "20261124083000+0000");
        assert_eq!(dtm("not a time"), "");
        assert_eq!(date("1960-02-03"), "19600203");
        assert_eq!(date("sometime in 1960"), "");
        assert_eq!(nm(72.0, 1), "72");
        assert_eq!(nm(412.46, 1), "412.5");
        assert_eq!(nm(-30.0, 0), "-30");
        assert_eq!(sex(Some("female")), "F");
        assert_eq!(sex(None), "U");
        assert_eq!(
            segment("OBR", &[(1, "1".into()), (4, "x".into())]),
            "OBR|1|||x"
        );
    }
}
