//! Philips Sierra ECG XML (PageWriter TC carts, TraceMaster): `restingecgdata` documents of
//! versions 1.03–1.04.02, read top to bottom with roxmltree.
//!
//! - `documentinfo`: `documenttype` SierraECG or PhilipsECG and `documentversion`;
//! - `dataacquisition`: acquisition `date`/`time` attributes, the cart (`machine`), and
//!   `signalcharacteristics`: `samplingrate` (Hz), `signalresolution` (µV per count);
//! - `parsedwaveforms`: `leadlabels`, `numberofleads`, `durationperchannel` (ms),
//!   `dataencoding` Base64 and `compressmethod` (`XLI` or uncompressed 16-bit little-endian
//!   samples lead after lead);
//! - `repbeats`: the representative beats (Base64 16-bit samples per `repbeat`);
//! - `patient/generalpatientdata` → [`PatientInfo`]; `interpretations/interpretation`: the
//!   cart's `globalmeasurements` and its `statement`s, kept as annotations.
//!
//! **XLI** (Philips' waveform compression): per lead an 8-byte header (compressed size, i32
//! LE; two bytes unused; the first second-difference residual, i16 LE), then LZW with fixed
//! 10-bit codes, most significant bit first, no clear code, the table growing to code 1022.
//! The decompressed bytes hold 16-bit values as all high bytes then all low bytes; the first
//! two are samples, every later one is a second-difference residual + 64, used one sample late
//! (sample k = 2·s(k−1) − s(k−2) − residual). In XLI files the cart stores III, aVR, aVL and
//! aVF as residuals against the values derived from I and II: III = II − I − r, aVR =
//! −r − ⌊(I + II)/2⌋, aVL = ⌊(I − III)/2⌋ − r, aVF = ⌊(II + III)/2⌋ − r.

use base64::Engine as _;
use roxmltree::{Document, Node};

use super::{
    Format, FormatError, FormatErrorKind, MAX_CHANNELS, MAX_TOTAL_SAMPLES, SignalInput, sha256_hex,
};
use crate::record::{
    Annotation, Calibration, EcgRecord, LeadId, LeadSignal, PatientInfo, PersonName, Provenance,
    RepresentativeBeats,
};

/// Does the start of a file look like a Sierra ECG document?
pub fn looks_like_sierra(head: &str) -> bool {
    let t = head.trim_start_matches('\u{feff}').trim_start();
    t.starts_with('<') && head.contains("<restingecgdata")
}

const VERSIONS: [&str; 4] = ["1.03", "1.04", "1.04.01", "1.04.02"];
/// LZW code width and the last code the table may assign.
const LZW_BITS: u32 = 10;
const LZW_MAX_CODE: usize = (1 << LZW_BITS) - 2;

/// The cart's global measurements this reader keeps: (element, label, unit).
const MEASUREMENTS: [(&str, &str, &str); 9] = [
    ("heartrate", "Ventricular rate", "bpm"),
    ("atrialrate", "Atrial rate", "bpm"),
    ("print", "PR interval", "ms"),
    ("qrsdur", "QRS duration", "ms"),
    ("qtint", "QT interval", "ms"),
    ("qtcb", "QTc (Bazett)", "ms"),
    ("pfrontaxis", "P axis", "deg"),
    ("qrsfrontaxis", "QRS axis", "deg"),
    ("tfrontaxis", "T axis", "deg"),
];

struct Ctx<'a> {
    file: &'a str,
}

impl Ctx<'_> {
    fn err(&self, kind: FormatErrorKind, field: &str, problem: impl Into<String>) -> FormatError {
        FormatError::new(self.file, kind, field, problem)
    }
}

/// The first descendant element called `name` (Sierra nests its elements deeply and
/// irregularly across versions, as the reference reader also assumes).
fn find<'a, 'i>(node: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    node.descendants()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

fn text<'a>(node: Node<'a, '_>, name: &str) -> Option<&'a str> {
    find(node, name)
        .and_then(|c| c.text())
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

fn parse_number(ctx: &Ctx<'_>, value: &str, field: &str) -> Result<f64, FormatError> {
    let v: f64 = value.trim().parse().map_err(|_| {
        ctx.err(
            FormatErrorKind::Invalid,
            field,
            format!("'{value}' is not a number"),
        )
    })?;
    if v.is_finite() {
        Ok(v)
    } else {
        Err(ctx.err(FormatErrorKind::NonFinite, field, format!("'{value}'")))
    }
}

fn required<'a>(
    ctx: &Ctx<'_>,
    value: Option<&'a str>,
    field: &str,
) -> Result<&'a str, FormatError> {
    value.ok_or_else(|| ctx.err(FormatErrorKind::Invalid, field, "missing"))
}

fn base64_bytes(ctx: &Ctx<'_>, text: &str, field: &str) -> Result<Vec<u8>, FormatError> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    // Decoded bytes are 3/4 of the text; each sample takes at least a byte of XLI.
    if compact.len() / 4 * 3 > MAX_TOTAL_SAMPLES * 2 {
        return Err(ctx.err(
            FormatErrorKind::TooLarge,
            field,
            format!("more than {MAX_TOTAL_SAMPLES} samples in the file"),
        ));
    }
    base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|e| ctx.err(FormatErrorKind::Invalid, field, format!("not base64: {e}")))
}

/// LZW with fixed 10-bit codes, MSB first, as XLI writes it. Stops at the end of the data or
/// at a code above the table's range; a code beyond the next free one is corrupt data.
fn lzw_decode(data: &[u8], limit: usize) -> Result<Vec<u8>, String> {
    let mut table: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
    let mut out = Vec::new();
    let mut previous: Vec<u8> = Vec::new();
    let (mut bit_buffer, mut bit_count, mut offset) = (0u32, 0u32, 0usize);
    loop {
        while bit_count <= 24 && offset < data.len() {
            bit_buffer |= u32::from(data[offset]) << (24 - bit_count);
            bit_count += 8;
            offset += 1;
        }
        if bit_count < LZW_BITS {
            break;
        }
        let code = (bit_buffer >> (32 - LZW_BITS)) as usize;
        bit_buffer <<= LZW_BITS;
        bit_count -= LZW_BITS;
        if code > LZW_MAX_CODE {
            break;
        }
        let entry = if code < table.len() {
            table[code].clone()
        } else if code == table.len() && !previous.is_empty() {
            let mut e = previous.clone();
            e.push(previous[0]);
            e
        } else {
            return Err(format!("LZW code {code} before it was defined"));
        };
        if !previous.is_empty() && table.len() <= LZW_MAX_CODE {
            let mut next = previous.clone();
            next.push(entry[0]);
            table.push(next);
        }
        if out.len() + entry.len() > limit {
            return Err(format!("decompresses to more than {limit} bytes"));
        }
        out.extend_from_slice(&entry);
        previous = entry;
    }
    Ok(out)
}

/// Undoes XLI's byte split and second-difference coding.
fn xli_samples(bytes: &[u8], first_residual: i16) -> Vec<i32> {
    let half = bytes.len() / 2;
    let values: Vec<i32> = (0..half)
        .map(|i| i32::from(i16::from_be_bytes([bytes[i], bytes[half + i]])))
        .collect();
    let mut out = values.clone();
    if values.len() < 2 {
        return out;
    }
    let (mut x, mut y, mut residual) = (values[0], values[1], i32::from(first_residual));
    for (sample, &value) in out.iter_mut().zip(&values).skip(2) {
        // 16-bit arithmetic, as the carts compute it.
        let z = i32::from((2 * y - x - residual) as i16);
        residual = value - 64;
        *sample = z;
        x = y;
        y = z;
    }
    out
}

/// Splits the XLI stream into leads.
fn xli_decode(ctx: &Ctx<'_>, data: &[u8], leads: usize) -> Result<Vec<Vec<i32>>, FormatError> {
    let mut out = Vec::with_capacity(leads);
    let mut offset = 0usize;
    let mut budget = MAX_TOTAL_SAMPLES * 2;
    while offset < data.len() {
        let field = format!("parsedwaveforms XLI block {}", out.len() + 1);
        let Some(header) = data.get(offset..offset + 8) else {
            return Err(ctx.err(
                FormatErrorKind::Truncated,
                &field,
                format!("{} bytes left, an XLI header has 8", data.len() - offset),
            ));
        };
        let size = i32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let first = i16::from_le_bytes([header[6], header[7]]);
        let size = usize::try_from(size).map_err(|_| {
            ctx.err(
                FormatErrorKind::Invalid,
                &field,
                format!("negative compressed size {size}"),
            )
        })?;
        offset += 8;
        let Some(chunk) = data.get(offset..offset + size) else {
            return Err(ctx.err(
                FormatErrorKind::Truncated,
                &field,
                format!(
                    "declares {size} compressed bytes, {} are left",
                    data.len() - offset
                ),
            ));
        };
        offset += size;
        let mut bytes =
            lzw_decode(chunk, budget).map_err(|e| ctx.err(FormatErrorKind::Invalid, &field, e))?;
        budget -= bytes.len();
        if bytes.len() % 2 == 1 {
            bytes.push(0);
        }
        out.push(xli_samples(&bytes, first));
        if out.len() > MAX_CHANNELS {
            return Err(ctx.err(
                FormatErrorKind::TooLarge,
                &field,
                format!("more than {MAX_CHANNELS} leads"),
            ));
        }
    }
    if out.len() < leads {
        return Err(ctx.err(
            FormatErrorKind::Inconsistent,
            "parsedwaveforms",
            format!(
                "numberofleads is {leads} but the XLI data holds {}",
                out.len()
            ),
        ));
    }
    Ok(out)
}

/// Rebuilds III, aVR, aVL and aVF from the residuals an XLI file stores for them.
fn restore_limb_leads(
    ctx: &Ctx<'_>,
    labels: &[String],
    leads: &mut [Vec<i32>],
) -> Result<(), FormatError> {
    let at = |name: &str| labels.iter().position(|l| l == name);
    let (Some(i), Some(ii), Some(iii), Some(avr), Some(avl), Some(avf)) = (
        at("I"),
        at("II"),
        at("III"),
        at("aVR"),
        at("aVL"),
        at("aVF"),
    ) else {
        return Err(ctx.err(
            FormatErrorKind::Unsupported,
            "parsedwaveforms leadlabels",
            "XLI data without all six limb leads (I, II, III, aVR, aVL, aVF)",
        ));
    };
    let n = leads[i].len();
    if [ii, iii, avr, avl, avf]
        .iter()
        .any(|&k| leads[k].len() != n)
    {
        return Err(ctx.err(
            FormatErrorKind::Inconsistent,
            "parsedwaveforms",
            "the limb leads decompress to different lengths",
        ));
    }
    // 16-bit arithmetic, as the carts compute it.
    let wrap = |v: i32| i32::from(v as i16);
    let (l1, l2) = (leads[i].clone(), leads[ii].clone());
    let l3: Vec<i32> = l1
        .iter()
        .zip(&l2)
        .zip(&leads[iii])
        .map(|((&a, &b), &r)| wrap(b - a - r))
        .collect();
    leads[avr] = l1
        .iter()
        .zip(&l2)
        .zip(&leads[avr])
        .map(|((&a, &b), &r)| wrap(-r - (a + b).div_euclid(2)))
        .collect();
    leads[avl] = l1
        .iter()
        .zip(&l3)
        .zip(&leads[avl])
        .map(|((&a, &c), &r)| wrap((a - c).div_euclid(2) - r))
        .collect();
    leads[avf] = l2
        .iter()
        .zip(&l3)
        .zip(&leads[avf])
        .map(|((&b, &c), &r)| wrap((b + c).div_euclid(2) - r))
        .collect();
    leads[iii] = l3;
    Ok(())
}

fn to_signal(label: &str, counts: &[i32], uv_per_count: f64) -> LeadSignal {
    let samples = counts
        .iter()
        .map(|&c| f64::from(c) * uv_per_count)
        .collect();
    let mut s = LeadSignal::new(LeadId::from_label(label), label, samples);
    s.calibration = Some(Calibration {
        gain: 1.0 / uv_per_count,
        baseline: 0.0,
        units: "uV".into(),
    });
    s
}

fn repbeats(
    ctx: &Ctx<'_>,
    root: Node<'_, '_>,
    uv_per_count: f64,
) -> Result<Option<RepresentativeBeats>, FormatError> {
    let Some(reps) = find(root, "repbeats") else {
        return Ok(None);
    };
    let rate = match reps.attribute("samplespersec") {
        Some(v) => parse_number(ctx, v, "repbeats samplespersec")?,
        None => return Ok(None),
    };
    let resolution = match reps.attribute("resolution") {
        Some(v) => parse_number(ctx, v, "repbeats resolution")?,
        None => uv_per_count,
    };
    if rate <= 0.0 || resolution <= 0.0 {
        return Err(ctx.err(
            FormatErrorKind::Invalid,
            "repbeats",
            format!("samplespersec {rate} / resolution {resolution} must be positive"),
        ));
    }
    let mut leads = Vec::new();
    for (k, beat) in reps
        .children()
        .filter(|c| c.is_element() && c.tag_name().name() == "repbeat")
        .enumerate()
    {
        let field = format!("repbeat {}", k + 1);
        let label = required(
            ctx,
            beat.attribute("leadname"),
            &format!("{field} leadname"),
        )?;
        let data = find(beat, "waveform").unwrap_or(beat).text().unwrap_or("");
        let bytes = base64_bytes(ctx, data, &format!("{field} waveform"))?;
        if bytes.len() % 2 == 1 {
            return Err(ctx.err(
                FormatErrorKind::Truncated,
                &format!("{field} waveform"),
                "odd number of bytes for 16-bit samples",
            ));
        }
        let counts: Vec<i32> = bytes
            .chunks_exact(2)
            .map(|b| i32::from(i16::from_le_bytes([b[0], b[1]])))
            .collect();
        leads.push(to_signal(label, &counts, resolution));
    }
    if leads.is_empty() {
        return Ok(None);
    }
    let n = leads[0].samples_uv.len();
    if leads.iter().any(|l| l.samples_uv.len() != n) {
        return Err(ctx.err(
            FormatErrorKind::Inconsistent,
            "repbeats",
            "representative beats of different lengths",
        ));
    }
    Ok(Some(RepresentativeBeats {
        sample_rate_hz: rate,
        leads,
    }))
}

fn cart_annotations(ctx: &Ctx<'_>, root: Node<'_, '_>) -> Result<Vec<Annotation>, FormatError> {
    let mut out = Vec::new();
    let Some(interp) = find(root, "interpretation") else {
        return Ok(out);
    };
    if let Some(g) = find(interp, "globalmeasurements") {
        for (name, label, unit) in MEASUREMENTS {
            // Philips writes "Failed" for a value the cart could not measure.
            let Some(t) = text(g, name).filter(|t| t.parse::<f64>().is_ok()) else {
                continue;
            };
            let value = parse_number(ctx, t, &format!("globalmeasurements {name}"))?;
            out.push(Annotation::measurement(label, value, unit, None));
        }
    }
    for s in interp
        .children()
        .filter(|c| c.is_element() && c.tag_name().name() == "statement")
    {
        let words: Vec<&str> = ["leftstatement", "rightstatement"]
            .iter()
            .filter_map(|n| text(s, n))
            .collect();
        if !words.is_empty() {
            out.push(Annotation::statement(words.join(" ")));
        }
    }
    Ok(out)
}

fn patient(root: Node<'_, '_>) -> PatientInfo {
    let Some(p) = find(root, "generalpatientdata") else {
        return PatientInfo::default();
    };
    let name = PersonName::from_family_given(text(p, "lastname"), text(p, "firstname")).stored();
    PatientInfo {
        name,
        id: text(p, "patientid").map(str::to_string),
        birth_date: text(p, "dateofbirth").map(str::to_string),
        sex: text(p, "sex").map(str::to_string),
    }
}

/// Reads a Philips Sierra ECG XML document.
pub fn read(bytes: &[u8], file_name: &str) -> Result<SignalInput, FormatError> {
    let ctx = Ctx { file: file_name };
    let xml: std::borrow::Cow<'_, str> = std::str::from_utf8(bytes).map_or_else(
        |_| {
            bytes
                .iter()
                .map(|&b| char::from(b))
                .collect::<String>()
                .into()
        },
        std::borrow::Cow::Borrowed,
    );
    let doc = Document::parse(&xml)
        .map_err(|e| ctx.err(FormatErrorKind::Invalid, "XML", e.to_string()))?;
    let root = doc.root_element();
    if root.tag_name().name() != "restingecgdata" {
        return Err(ctx.err(
            FormatErrorKind::Unrecognised,
            "root element",
            format!("<{}> is not <restingecgdata>", root.tag_name().name()),
        ));
    }
    let doc_type = text(root, "documenttype").unwrap_or("");
    let version = text(root, "documentversion").unwrap_or("");
    if !matches!(doc_type, "SierraECG" | "PhilipsECG") || !VERSIONS.contains(&version) {
        return Err(ctx.err(
            FormatErrorKind::Unsupported,
            "documentinfo",
            format!("{doc_type} {version} (this reader knows SierraECG/PhilipsECG 1.03–1.04.02)"),
        ));
    }
    let signal = find(root, "signalcharacteristics")
        .ok_or_else(|| ctx.err(FormatErrorKind::Invalid, "signalcharacteristics", "missing"))?;
    let rate = parse_number(
        &ctx,
        required(&ctx, text(signal, "samplingrate"), "samplingrate")?,
        "samplingrate",
    )?;
    if rate <= 0.0 || rate > 100_000.0 {
        return Err(ctx.err(
            FormatErrorKind::Invalid,
            "samplingrate",
            format!("{rate} Hz is not a usable sample rate"),
        ));
    }
    let uv_per_count = match text(signal, "signalresolution") {
        Some(t) => parse_number(&ctx, t, "signalresolution")?,
        None => {
            return Err(ctx.err(
                FormatErrorKind::Invalid,
                "signalresolution",
                "missing: the samples cannot be scaled to microvolts",
            ));
        }
    };
    if uv_per_count <= 0.0 {
        return Err(ctx.err(
            FormatErrorKind::Invalid,
            "signalresolution",
            format!("{uv_per_count} µV per count is not a positive scale"),
        ));
    }
    let waves = find(root, "parsedwaveforms")
        .ok_or_else(|| ctx.err(FormatErrorKind::Invalid, "parsedwaveforms", "missing"))?;
    let labels: Vec<String> = required(
        &ctx,
        waves.attribute("leadlabels"),
        "parsedwaveforms leadlabels",
    )?
    .split_whitespace()
    .map(str::to_string)
    .collect();
    let count = match waves.attribute("numberofleads") {
        Some(v) => parse_number(&ctx, v, "parsedwaveforms numberofleads")? as usize,
        None => labels.len(),
    };
    if count == 0 || count > labels.len() || count > MAX_CHANNELS {
        return Err(ctx.err(
            FormatErrorKind::Inconsistent,
            "parsedwaveforms numberofleads",
            format!("{count} leads but {} lead labels", labels.len()),
        ));
    }
    let labels = &labels[..count];
    let encoding = waves.attribute("dataencoding").unwrap_or("Base64");
    if encoding != "Base64" {
        return Err(ctx.err(
            FormatErrorKind::Unsupported,
            "parsedwaveforms dataencoding",
            format!("'{encoding}' (only Base64)"),
        ));
    }
    let data = base64_bytes(&ctx, waves.text().unwrap_or(""), "parsedwaveforms")?;
    let compression = waves
        .attribute("compressmethod")
        .or_else(|| waves.attribute("compression"))
        .unwrap_or("Uncompressed");
    let mut leads: Vec<Vec<i32>> = match compression {
        "XLI" => {
            let mut leads = xli_decode(&ctx, &data, count)?;
            leads.truncate(count);
            restore_limb_leads(&ctx, labels, &mut leads)?;
            leads
        }
        "Uncompressed" => {
            let duration_ms = parse_number(
                &ctx,
                required(
                    &ctx,
                    waves.attribute("durationperchannel"),
                    "parsedwaveforms durationperchannel",
                )?,
                "parsedwaveforms durationperchannel",
            )?;
            let per_lead = (duration_ms * rate / 1000.0).round() as usize;
            if per_lead * count * 2 != data.len() {
                return Err(ctx.err(
                    FormatErrorKind::Inconsistent,
                    "parsedwaveforms durationperchannel",
                    format!(
                        "{count} leads of {per_lead} samples need {} bytes, the data holds {}",
                        per_lead * count * 2,
                        data.len()
                    ),
                ));
            }
            data.chunks_exact(per_lead * 2)
                .map(|lead| {
                    lead.chunks_exact(2)
                        .map(|b| i32::from(i16::from_le_bytes([b[0], b[1]])))
                        .collect()
                })
                .collect()
        }
        other => {
            return Err(ctx.err(
                FormatErrorKind::Unsupported,
                "parsedwaveforms compressmethod",
                format!("'{other}' (XLI or uncompressed)"),
            ));
        }
    };
    // XLI blocks may run past the recorded duration; every lead keeps the common length.
    let n = leads.iter().map(Vec::len).min().unwrap_or(0);
    let mut notes = Vec::new();
    if leads.iter().any(|l| l.len() != n) {
        notes.push(format!("leads cut to their common length of {n} samples"));
    }
    for l in &mut leads {
        l.truncate(n);
    }
    let acquisition = find(root, "dataacquisition");
    let acquisition_time = acquisition.and_then(|a| {
        let date = a.attribute("date")?;
        Some(match a.attribute("time") {
            Some(t) => format!("{date}T{t}"),
            None => date.to_string(),
        })
    });
    let device = acquisition.and_then(|a| find(a, "machine")).map(|m| {
        let model = m
            .attribute("machineid")
            .or_else(|| m.text())
            .unwrap_or("")
            .trim();
        format!("Philips {model}").trim().to_string()
    });
    let mut record = EcgRecord {
        sample_rate_hz: rate,
        leads: labels
            .iter()
            .zip(&leads)
            .map(|(label, counts)| to_signal(label, counts, uv_per_count))
            .collect(),
        acquisition_time,
        device,
        provenance: Provenance {
            format: Format::Sierra,
            file_name: file_name.to_string(),
            sha256: sha256_hex(bytes),
            byte_len: bytes.len() as u64,
        },
        annotations: cart_annotations(&ctx, root)?,
        representative_beats: repbeats(&ctx, root, uv_per_count)?,
        processing_notes: notes,
    };
    record.validate().map_err(|e| {
        ctx.err(
            FormatErrorKind::Inconsistent,
            "parsedwaveforms",
            e.to_string(),
        )
    })?;
    record.derive_limb_leads();
    Ok(SignalInput {
        record,
        patient: patient(root),
    })
}

#[cfg(test)]
mod tests;
