//! Reader for HL7 annotated ECG (aECG, HL7 v3 "AnnotatedECG") XML, the FDA's format.
//!
//! AnnotatedECG → component → series → component → sequenceSet → component → sequence.
//! One sequence (code TIME_ABSOLUTE or TIME_RELATIVE) gives the sampling increment; every
//! other sequence is a lead (code MDC_ECG_LEAD_*) whose value is an SLIST_PQ:
//! `physical = origin + scale × digit`. The RHYTHM series becomes the record's leads, a derived
//! series (representative beats) its representative beats, and the series' annotationSet its
//! annotations.
//!
//! Elements are matched by local name, so files with or without the `urn:hl7-org:v3` default
//! namespace read the same.

use roxmltree::{Document, Node, ParsingOptions};

use super::{
    FormatError, FormatErrorKind, MAX_CHANNELS, MAX_TOTAL_SAMPLES, SignalInput, sha256_hex,
};
use crate::record::{
    Annotation, AnnotationKind, Calibration, EcgRecord, Format, LeadId, LeadSignal, PatientInfo,
    PersonName, Provenance, RepresentativeBeats,
};

/// aECG files larger than this are refused before parsing: the XML tree costs several times
/// the file size, and 10 minutes of 12 leads at 1 kHz is well under 64 MB.
pub const MAX_AECG_BYTES: usize = 128 * 1024 * 1024;
/// XML nodes a document may hold (digits are one text node per lead, so real files have few).
const MAX_XML_NODES: u32 = 2_000_000;

struct Ctx<'f> {
    file: &'f str,
}

impl Ctx<'_> {
    fn err(
        &self,
        kind: FormatErrorKind,
        field: impl Into<String>,
        problem: impl Into<String>,
    ) -> FormatError {
        FormatError::new(self.file, kind, field, problem)
    }
}

/// Reads an aECG document held in memory.
pub fn read(bytes: &[u8], file_name: &str) -> Result<SignalInput, FormatError> {
    let ctx = Ctx { file: file_name };
    if bytes.len() > MAX_AECG_BYTES {
        return Err(ctx.err(
            FormatErrorKind::TooLarge,
            "file",
            format!(
                "{} bytes exceeds the aECG limit of {MAX_AECG_BYTES} bytes",
                bytes.len()
            ),
        ));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        ctx.err(
            FormatErrorKind::Invalid,
            "XML encoding",
            format!("not UTF-8: {e}"),
        )
    })?;
    let text = text.trim_start_matches('\u{feff}');
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_XML_NODES,
        ..ParsingOptions::default()
    };
    let doc = Document::parse_with_options(text, options)
        .map_err(|e| ctx.err(FormatErrorKind::Invalid, "XML", e.to_string()))?;
    let root = doc.root_element();
    if root.tag_name().name() != "AnnotatedECG" {
        return Err(ctx.err(
            FormatErrorKind::Invalid,
            "AnnotatedECG",
            format!(
                "root element is <{}>, not <AnnotatedECG>",
                root.tag_name().name()
            ),
        ));
    }
    let series: Vec<Node<'_, '_>> = children(root, "component")
        .flat_map(|c| children(c, "series"))
        .collect();
    let Some(rhythm) = series
        .iter()
        .find(|s| code_of(**s).as_deref() == Some("RHYTHM"))
        .or_else(|| series.first())
        .copied()
    else {
        return Err(ctx.err(
            FormatErrorKind::Invalid,
            "series",
            "the document has no component/series",
        ));
    };
    let Some(set) = children(rhythm, "component")
        .flat_map(|c| children(c, "sequenceSet"))
        .next()
    else {
        return Err(ctx.err(
            FormatErrorKind::Invalid,
            "sequenceSet",
            "the rhythm series has no component/sequenceSet",
        ));
    };
    let mut budget = MAX_TOTAL_SAMPLES;
    let (rate, leads) = read_sequence_set(set, "rhythm", &mut budget, &ctx)?;

    let mut notes = Vec::new();
    let representative_beats = match children(rhythm, "derivation")
        .flat_map(|d| children(d, "derivedSeries"))
        .flat_map(|d| children(d, "component"))
        .flat_map(|c| children(c, "sequenceSet"))
        .next()
    {
        Some(set) => {
            let (rate, leads) = read_sequence_set(set, "derived series", &mut budget, &ctx)?;
            Some(RepresentativeBeats {
                sample_rate_hz: rate,
                leads,
            })
        }
        None => None,
    };
    if series.len() > 1 {
        notes.push(format!(
            "{} series in the file; the {} one was read",
            series.len(),
            code_of(rhythm).unwrap_or_else(|| "first".into())
        ));
    }
    let annotations = read_annotations(rhythm, &mut notes);

    let mut record = EcgRecord {
        sample_rate_hz: rate,
        leads,
        acquisition_time: effective_time(root).or_else(|| effective_time(rhythm)),
        device: device(rhythm),
        provenance: Provenance {
            format: Format::Aecg,
            file_name: file_name.to_string(),
            sha256: sha256_hex(bytes),
            byte_len: bytes.len() as u64,
        },
        annotations,
        representative_beats,
        processing_notes: notes,
    };
    record.validate().map_err(|e| {
        ctx.err(
            FormatErrorKind::Inconsistent,
            "sequence code",
            e.to_string(),
        )
    })?;
    record.derive_limb_leads();
    Ok(SignalInput {
        record,
        patient: patient(root),
    })
}

fn children<'a, 'input: 'a>(
    node: Node<'a, 'input>,
    name: &'static str,
) -> impl Iterator<Item = Node<'a, 'input>> + 'a {
    node.children()
        .filter(move |c| c.is_element() && c.tag_name().name() == name)
}

fn child<'a, 'input: 'a>(node: Node<'a, 'input>, name: &'static str) -> Option<Node<'a, 'input>> {
    children(node, name).next()
}

/// The `code` attribute of a node's `<code>` child.
fn code_of(node: Node<'_, '_>) -> Option<String> {
    child(node, "code")
        .and_then(|c| c.attribute("code"))
        .map(|s| s.trim().to_string())
}

/// The xsi:type of a node, whatever prefix the file bound the XSI namespace to.
fn xsi_type<'a>(node: Node<'a, '_>) -> Option<&'a str> {
    node.attributes()
        .find(|a| a.name() == "type")
        .map(|a| a.value())
}

/// Microvolts per unit for the units aECG files use on voltages.
fn microvolts_per(unit: &str) -> Option<f64> {
    match unit.trim() {
        "uV" | "µV" | "μV" | "microvolt" => Some(1.0),
        "mV" | "millivolt" => Some(1000.0),
        "V" => Some(1.0e6),
        "nV" => Some(1.0e-3),
        _ => None,
    }
}

fn number(text: Option<&str>, ctx: &Ctx<'_>, field: &str) -> Result<f64, FormatError> {
    let Some(text) = text else {
        return Err(ctx.err(FormatErrorKind::Invalid, field, "has no value attribute"));
    };
    let v: f64 = text.trim().parse().map_err(|_| {
        ctx.err(
            FormatErrorKind::Invalid,
            field,
            format!("'{text}' is not a number"),
        )
    })?;
    if v.is_finite() {
        Ok(v)
    } else {
        Err(ctx.err(
            FormatErrorKind::NonFinite,
            field,
            format!("'{text}' is not finite"),
        ))
    }
}

/// Sample rate and leads of one sequenceSet, its sequences read in file order (the first
/// problem met is the one reported); `budget` is what remains of the sample limit.
fn read_sequence_set(
    set: Node<'_, '_>,
    what: &str,
    budget: &mut usize,
    ctx: &Ctx<'_>,
) -> Result<(f64, Vec<LeadSignal>), FormatError> {
    let mut rate = None;
    let mut leads = Vec::new();
    for sequence in children(set, "component").flat_map(|c| children(c, "sequence")) {
        let code = code_of(sequence).unwrap_or_default();
        let value = child(sequence, "value");
        if code.starts_with("TIME_ABSOLUTE") || code.starts_with("TIME_RELATIVE") {
            if let Some(increment) = value.and_then(|v| child(v, "increment")) {
                rate = Some(sample_rate(increment, what, &code, ctx)?);
            }
            continue;
        }
        let Some(value) = value else {
            continue;
        };
        if leads.len() >= MAX_CHANNELS {
            return Err(ctx.err(
                FormatErrorKind::TooLarge,
                format!("{what} sequenceSet"),
                format!("more than {MAX_CHANNELS} lead sequences"),
            ));
        }
        leads.push(read_lead(&code, value, budget, ctx)?);
    }
    let Some(rate) = rate else {
        return Err(ctx.err(
            FormatErrorKind::Invalid,
            format!("increment of {what} sequenceSet"),
            "no TIME_ABSOLUTE or TIME_RELATIVE sequence with an increment, so the sample rate is unknown",
        ));
    };
    if leads.is_empty() {
        return Err(ctx.err(
            FormatErrorKind::Invalid,
            format!("{what} sequenceSet"),
            "no lead sequences",
        ));
    }
    if let Some(bad) = leads
        .iter()
        .find(|l| l.samples_uv.len() != leads[0].samples_uv.len())
    {
        return Err(ctx.err(
            FormatErrorKind::Inconsistent,
            format!("digits of lead {}", bad.source_label),
            format!(
                "{} samples, but lead {} has {}",
                bad.samples_uv.len(),
                leads[0].source_label,
                leads[0].samples_uv.len()
            ),
        ));
    }
    Ok((rate, leads))
}

/// The sample rate from a time sequence's `<increment>`.
fn sample_rate(
    increment: Node<'_, '_>,
    what: &str,
    code: &str,
    ctx: &Ctx<'_>,
) -> Result<f64, FormatError> {
    let field = format!("increment of {what} {code}");
    let step = number(increment.attribute("value"), ctx, &field)?;
    let unit = increment.attribute("unit").unwrap_or("s");
    let seconds = match unit {
        "s" => step,
        "ms" => step / 1e3,
        "us" => step / 1e6,
        other => {
            return Err(ctx.err(
                FormatErrorKind::Unsupported,
                format!("increment unit of {what} {code}"),
                format!("unit '{other}' (s, ms or us expected)"),
            ));
        }
    };
    if !(seconds > 0.0 && 1.0 / seconds <= 1.0e6) {
        return Err(ctx.err(
            FormatErrorKind::Invalid,
            field,
            format!("{step} {unit} is not a plausible sampling interval"),
        ));
    }
    Ok(1.0 / seconds)
}

/// One lead sequence: an SLIST_PQ whose digits, scaled, are the samples in µV.
fn read_lead(
    code: &str,
    value: Node<'_, '_>,
    budget: &mut usize,
    ctx: &Ctx<'_>,
) -> Result<LeadSignal, FormatError> {
    let name = if code.is_empty() { "(no code)" } else { code };
    let kind = xsi_type(value).unwrap_or_default();
    if !kind.ends_with("SLIST_PQ") {
        return Err(ctx.err(
            FormatErrorKind::Unsupported,
            format!("value of lead {name}"),
            format!("xsi:type '{kind}' (only SLIST_PQ sample lists are supported)"),
        ));
    }
    let Some(scale) = child(value, "scale") else {
        return Err(ctx.err(
            FormatErrorKind::Invalid,
            format!("scale of lead {name}"),
            "missing",
        ));
    };
    let scale_value = number(
        scale.attribute("value"),
        ctx,
        &format!("scale of lead {name}"),
    )?;
    let units = scale.attribute("unit").unwrap_or("").trim().to_string();
    let Some(uv_per_unit) = microvolts_per(&units) else {
        return Err(ctx.err(
            FormatErrorKind::Unsupported,
            format!("scale unit of lead {name}"),
            format!("unit '{units}' is not a voltage (uV, mV or V expected)"),
        ));
    };
    if scale_value == 0.0 {
        return Err(ctx.err(
            FormatErrorKind::Invalid,
            format!("scale of lead {name}"),
            "scale is zero",
        ));
    }
    let origin_uv = match child(value, "origin") {
        Some(origin) => {
            let v = number(
                origin.attribute("value"),
                ctx,
                &format!("origin of lead {name}"),
            )?;
            let unit = origin.attribute("unit").unwrap_or(&units);
            let Some(factor) = microvolts_per(unit) else {
                return Err(ctx.err(
                    FormatErrorKind::Unsupported,
                    format!("origin unit of lead {name}"),
                    format!("unit '{unit}' is not a voltage (uV, mV or V expected)"),
                ));
            };
            v * factor
        }
        None => 0.0,
    };
    let digits = child(value, "digits")
        .and_then(|d| d.text())
        .unwrap_or_default();
    let problem = |kind, what: String| ctx.err(kind, format!("digits of lead {name}"), what);
    // Counted before allocating: the sample limit covers every lead of the file together.
    let count = digits.split_ascii_whitespace().count();
    if count > *budget {
        return Err(problem(
            FormatErrorKind::TooLarge,
            format!("{count} samples exceed the limit of {MAX_TOTAL_SAMPLES} samples per record"),
        ));
    }
    *budget -= count;
    // Every digit is checked to be an integer before any is scaled, so a token that is not a
    // number is reported before a digit that scales out of range.
    let mut samples = Vec::with_capacity(count);
    for (k, token) in digits.split_ascii_whitespace().enumerate() {
        let Ok(digit) = token.parse::<i64>() else {
            return Err(problem(
                FormatErrorKind::Invalid,
                format!("value {} '{token}' is not an integer", k + 1),
            ));
        };
        samples.push(digit as f64);
    }
    let scale_uv = scale_value * uv_per_unit;
    let tokens = digits.split_ascii_whitespace();
    for (k, (sample, token)) in samples.iter_mut().zip(tokens).enumerate() {
        *sample = origin_uv + scale_uv * *sample;
        if !sample.is_finite() {
            let digit = token.parse::<i64>().unwrap_or_default();
            return Err(problem(
                FormatErrorKind::NonFinite,
                format!("value {} '{digit}' scales to a non-finite voltage", k + 1),
            ));
        }
    }
    if samples.is_empty() {
        return Err(problem(FormatErrorKind::Invalid, "no samples".into()));
    }
    let mut lead = LeadSignal::new(LeadId::from_label(code), code, samples);
    // physical = (stored − baseline) / gain in the scale's units.
    lead.calibration = Some(Calibration {
        gain: 1.0 / scale_value,
        baseline: -(origin_uv / uv_per_unit) / scale_value,
        units,
    });
    Ok(lead)
}

/// Lead named by an annotation's supporting region of interest, if any.
fn annotation_lead(annotation: Node<'_, '_>) -> Option<String> {
    children(annotation, "support")
        .flat_map(|s| children(s, "supportingROI"))
        .flat_map(|r| children(r, "component"))
        .flat_map(|c| children(c, "boundary"))
        .filter_map(code_of)
        .find(|c| c.starts_with("MDC_ECG_LEAD_"))
        .map(|c| LeadId::from_label(&c).to_string())
}

/// Measurements (PQ values) and statements (ST/CD values) of the series' annotation sets.
fn read_annotations(series: Node<'_, '_>, notes: &mut Vec<String>) -> Vec<Annotation> {
    let mut out = Vec::new();
    let mut skipped = 0usize;
    let sets = children(series, "subjectOf").flat_map(|s| children(s, "annotationSet"));
    for annotation in sets.flat_map(|s| {
        s.descendants()
            .filter(|n| n.tag_name().name() == "annotation")
    }) {
        let Some(value) = child(annotation, "value") else {
            continue;
        };
        let label = code_of(annotation).unwrap_or_default();
        let lead = annotation_lead(annotation);
        let kind = xsi_type(value).unwrap_or_default();
        let entry = if kind.ends_with("PQ") {
            match value.attribute("value").map(|v| v.trim().parse::<f64>()) {
                Some(Ok(v)) if v.is_finite() => Annotation {
                    kind: AnnotationKind::Measurement,
                    label,
                    value: Some(v),
                    unit: value.attribute("unit").map(str::to_string),
                    sample_index: None,
                    lead,
                },
                _ => {
                    skipped += 1;
                    continue;
                }
            }
        } else {
            let text = value
                .attribute("displayName")
                .or_else(|| value.attribute("code"))
                .or_else(|| value.text())
                .map(str::trim)
                .unwrap_or_default();
            if text.is_empty() {
                continue;
            }
            Annotation {
                kind: AnnotationKind::Text,
                label: if label.is_empty() {
                    text.to_string()
                } else {
                    format!("{label}: {text}")
                },
                value: None,
                unit: None,
                sample_index: None,
                lead,
            }
        };
        out.push(entry);
    }
    if skipped > 0 {
        notes.push(format!(
            "{skipped} annotation(s) with a non-numeric measurement value were left out"
        ));
    }
    out
}

/// HL7 TS "YYYYMMDDHHMMSS.fff±ZZZZ" → ISO 8601 (local time, offset dropped) where it parses.
fn iso_timestamp(ts: &str) -> String {
    let core = ts.split(['+', '-']).next().unwrap_or(ts).trim();
    let (main, frac) = core.split_once('.').unwrap_or((core, ""));
    if !main.bytes().all(|b| b.is_ascii_digit()) || main.len() < 8 {
        return ts.to_string();
    }
    let mut s = format!("{}-{}-{}", &main[..4], &main[4..6], &main[6..8]);
    if main.len() >= 12 {
        let sec = main.get(12..14).unwrap_or("00");
        s = format!("{s}T{}:{}:{sec}", &main[8..10], &main[10..12]);
        if !frac.is_empty() && frac.bytes().all(|b| b.is_ascii_digit()) {
            s.push('.');
            s.push_str(frac);
        }
    }
    s
}

fn effective_time(node: Node<'_, '_>) -> Option<String> {
    let et = child(node, "effectiveTime")?;
    let value = child(et, "low")
        .or_else(|| child(et, "center"))
        .and_then(|n| n.attribute("value"))
        .or_else(|| et.attribute("value"))?;
    Some(iso_timestamp(value))
}

fn device(series: Node<'_, '_>) -> Option<String> {
    let dev = children(series, "author")
        .flat_map(|a| children(a, "seriesAuthor"))
        .next()?;
    let text_of = |n: Node<'_, '_>| {
        n.text()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
    };
    let mut parts = Vec::new();
    if let Some(org) = child(dev, "manufacturerOrganization").and_then(|o| child(o, "name")) {
        parts.extend(text_of(org));
    }
    if let Some(model) = dev
        .descendants()
        .find(|n| n.tag_name().name() == "manufacturerModelName")
    {
        parts.extend(text_of(model));
    }
    (!parts.is_empty()).then(|| parts.join(" "))
}

fn patient(root: Node<'_, '_>) -> PatientInfo {
    let Some(subject) = root
        .descendants()
        .find(|n| n.tag_name().name() == "trialSubject")
    else {
        return PatientInfo::default();
    };
    let id = child(subject, "id")
        .and_then(|i| i.attribute("extension").or_else(|| i.attribute("root")))
        .map(str::to_string);
    let person = child(subject, "subjectDemographicPerson");
    let name = person.and_then(|p| child(p, "name")).and_then(|n| {
        // A name is either plain text or <given>/<family> parts (kept as parts).
        let part = |tag: &str| {
            let words: Vec<&str> = n
                .children()
                .filter(|c| c.is_element() && c.tag_name().name() == tag)
                .filter_map(|c| c.text())
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .collect();
            (!words.is_empty()).then(|| words.join(" "))
        };
        let (family, given) = (part("family"), part("given"));
        if family.is_some() || given.is_some() {
            return PersonName::from_family_given(family.as_deref(), given.as_deref()).stored();
        }
        let text: Vec<&str> = n
            .descendants()
            .filter(Node::is_text)
            .filter_map(|d| d.text())
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .collect();
        (!text.is_empty()).then(|| text.join(" "))
    });
    PatientInfo {
        name,
        id,
        birth_date: person
            .and_then(|p| child(p, "birthTime"))
            .and_then(|b| b.attribute("value"))
            .map(iso_timestamp),
        sex: person
            .and_then(|p| child(p, "administrativeGenderCode"))
            .and_then(|g| g.attribute("code"))
            .map(str::to_string),
    }
}

#[cfg(test)]
mod tests;
