//! The ECG record model every reader produces and every consumer reads.
//!
//! Samples are stored as physical values in microvolts (`f64`, so that 32-bit ADC values
//! survive the gain division without losing an ADC unit). Patient-identifying data lives in
//! [`PatientInfo`], never in [`EcgRecord`], so a de-identified view is simply a record
//! without its `PatientInfo`.

use serde::{Deserialize, Serialize};

/// The twelve standard leads of a resting ECG.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum StandardLead {
    I,
    II,
    III,
    #[serde(rename = "aVR")]
    AVR,
    #[serde(rename = "aVL")]
    AVL,
    #[serde(rename = "aVF")]
    AVF,
    V1,
    V2,
    V3,
    V4,
    V5,
    V6,
}

impl StandardLead {
    /// The conventional display order: I, II, III, aVR, aVL, aVF, V1–V6.
    pub const STANDARD_ORDER: [StandardLead; 12] = [
        Self::I,
        Self::II,
        Self::III,
        Self::AVR,
        Self::AVL,
        Self::AVF,
        Self::V1,
        Self::V2,
        Self::V3,
        Self::V4,
        Self::V5,
        Self::V6,
    ];

    /// The order ECG-R1 was trained on (MIMIC-IV-ECG): note aVF before aVL.
    pub const ECG_R1_ORDER: [StandardLead; 12] = [
        Self::I,
        Self::II,
        Self::III,
        Self::AVR,
        Self::AVF,
        Self::AVL,
        Self::V1,
        Self::V2,
        Self::V3,
        Self::V4,
        Self::V5,
        Self::V6,
    ];

    /// The conventional printed name ("aVR", "V1").
    pub fn name(self) -> &'static str {
        match self {
            Self::I => "I",
            Self::II => "II",
            Self::III => "III",
            Self::AVR => "aVR",
            Self::AVL => "aVL",
            Self::AVF => "aVF",
            Self::V1 => "V1",
            Self::V2 => "V2",
            Self::V3 => "V3",
            Self::V4 => "V4",
            Self::V5 => "V5",
            Self::V6 => "V6",
        }
    }

    /// Is this a limb (frontal-plane) lead?
    pub fn is_limb(self) -> bool {
        matches!(
            self,
            Self::I | Self::II | Self::III | Self::AVR | Self::AVL | Self::AVF
        )
    }

    /// Recognises the many ways files spell a lead: "II", "ECG II", "Lead II", "V1-Ref",
    /// "MDC_ECG_LEAD_AVR", "avr", "-aVR" is *not* accepted (an inverted lead is another signal).
    pub fn from_label(label: &str) -> Option<Self> {
        let mut s = label.trim().to_ascii_uppercase();
        for prefix in [
            "MDC_ECG_LEAD_",
            "ECG LEAD ",
            "ECG_",
            "ECG ",
            "LEAD ",
            "LEAD_",
            "EKG ",
        ] {
            if let Some(rest) = s.strip_prefix(prefix) {
                s = rest.trim().to_string();
            }
        }
        for suffix in ["-REF", "-REF.", " REF", "-CZ", "-WCT"] {
            if let Some(rest) = s.strip_suffix(suffix) {
                s = rest.trim().to_string();
            }
        }
        let lead = match s.as_str() {
            "I" | "1" => Self::I,
            "II" | "2" => Self::II,
            "III" | "3" => Self::III,
            "AVR" => Self::AVR,
            "AVL" => Self::AVL,
            "AVF" => Self::AVF,
            "V1" => Self::V1,
            "V2" => Self::V2,
            "V3" => Self::V3,
            "V4" => Self::V4,
            "V5" => Self::V5,
            "V6" => Self::V6,
            _ => return None,
        };
        Some(lead)
    }
}

impl std::fmt::Display for StandardLead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a channel of a file is: one of the twelve standard leads, or something else we keep
/// and label (a Frank lead, a respiration channel, V7, ...).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LeadId {
    Standard(StandardLead),
    Other(String),
}

impl LeadId {
    pub fn from_label(label: &str) -> Self {
        StandardLead::from_label(label)
            .map_or_else(|| Self::Other(label.trim().to_string()), Self::Standard)
    }

    pub fn name(&self) -> &str {
        match self {
            Self::Standard(l) => l.name(),
            Self::Other(s) => s,
        }
    }

    pub fn standard(&self) -> Option<StandardLead> {
        match self {
            Self::Standard(l) => Some(*l),
            Self::Other(_) => None,
        }
    }
}

impl std::fmt::Display for LeadId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How the file's stored numbers map to physical values, as the file declared it.
/// physical = (stored - baseline) / gain, in `units`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Stored units per physical unit (WFDB "ADC gain", DICOM 1/sensitivity, ...).
    pub gain: f64,
    /// Stored value that corresponds to 0 physical units.
    pub baseline: f64,
    /// The physical unit as written in the file ("mV", "uV", "µV").
    pub units: String,
}

/// One channel of a recording.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeadSignal {
    pub lead: LeadId,
    /// The label exactly as written in the file.
    pub source_label: String,
    /// Physical values in microvolts; NaN marks a sample the file declared invalid.
    pub samples_uv: Vec<f64>,
    /// Source calibration; `None` when the file stores physical values directly (CSV).
    pub calibration: Option<Calibration>,
    /// True when this lead was computed from others (Einthoven/Goldberger), not recorded.
    pub derived: bool,
}

impl LeadSignal {
    pub fn new(lead: LeadId, source_label: impl Into<String>, samples_uv: Vec<f64>) -> Self {
        Self {
            lead,
            source_label: source_label.into(),
            samples_uv,
            calibration: None,
            derived: false,
        }
    }
}

/// The file format a record or an image was read from (the readers live in `crate::formats`,
/// which depends on this module, not the other way round).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Wfdb,
    Edf,
    EdfPlus,
    Dicom,
    Aecg,
    /// GE MUSE / MAC "RestingECG" XML.
    Muse,
    /// Philips Sierra ECG XML (PageWriter TC).
    Sierra,
    /// SCP-ECG (EN 1064 / ISO 11073-91064).
    Scp,
    Csv,
    Png,
    Jpeg,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Self::Wfdb => "wfdb",
            Self::Edf => "edf",
            Self::EdfPlus => "edf+",
            Self::Dicom => "dicom",
            Self::Aecg => "hl7-aecg",
            Self::Muse => "ge-muse",
            Self::Sierra => "philips-sierra",
            Self::Scp => "scp-ecg",
            Self::Csv => "csv",
            Self::Png => "png",
            Self::Jpeg => "jpeg",
        }
    }

    pub fn is_image(self) -> bool {
        matches!(self, Self::Png | Self::Jpeg)
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a record came from. The original bytes are kept by the caller (the store); the
/// record carries their hash so every derived artefact can be traced back to them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    pub format: Format,
    pub file_name: String,
    /// SHA-256 of the original bytes, lowercase hex. For WFDB, of the header and data files
    /// concatenated in that order.
    pub sha256: String,
    pub byte_len: u64,
}

/// What kind of thing an annotation found in a file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnnotationKind {
    /// A measurement the recording device made (e.g. "QRS duration = 75 ms").
    Measurement,
    /// A fiducial point at a sample position (e.g. "R peak", "QRS onset").
    Fiducial,
    /// Free text (interpretation statements, EDF+ annotations).
    Text,
}

/// A measurement, fiducial point or statement carried by the file itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Annotation {
    pub kind: AnnotationKind,
    pub label: String,
    pub value: Option<f64>,
    pub unit: Option<String>,
    /// Sample index (at the record's sample rate) the annotation refers to, if any.
    pub sample_index: Option<usize>,
    /// Lead it refers to, if it is lead-specific.
    pub lead: Option<String>,
}

impl Annotation {
    /// A value the recording device measured, over the whole record or in one lead.
    pub fn measurement(label: &str, value: f64, unit: &str, lead: Option<&str>) -> Self {
        Self {
            kind: AnnotationKind::Measurement,
            label: label.to_string(),
            value: Some(value),
            unit: Some(unit.to_string()),
            sample_index: None,
            lead: lead.map(str::to_string),
        }
    }

    /// A statement (free text) the file carries, such as the cart's interpretation.
    pub fn statement(text: String) -> Self {
        Self {
            kind: AnnotationKind::Text,
            label: text,
            value: None,
            unit: None,
            sample_index: None,
            lead: None,
        }
    }
}

/// A set of representative (median/average) beats carried by the file, e.g. the DICOM
/// "median beat" multiplex group. Kept apart from the rhythm data it summarises.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RepresentativeBeats {
    pub sample_rate_hz: f64,
    pub leads: Vec<LeadSignal>,
}

/// A person's name in its parts. Its stored form is DICOM's person name,
/// `Family^Given^Middle^Prefix^Suffix` (trailing empty parts left out): what
/// [`PatientInfo::name`] holds whenever the file gave the name in parts (DICOM PN, MUSE and
/// Sierra last/first name, SCP-ECG tags 0/1, aECG `<family>`/`<given>`), what the store keeps
/// and what the record export reads its parts from. A name the file gave as one string has no
/// caret and no parts: which word is the given name is not known, so it stays whole.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PersonName {
    pub family: String,
    pub given: String,
    pub middle: String,
    pub prefix: String,
    pub suffix: String,
}

impl PersonName {
    /// A name from its family and given parts, as the vendors' formats give them.
    pub fn from_family_given(family: Option<&str>, given: Option<&str>) -> Self {
        Self {
            family: family.unwrap_or_default().trim().to_string(),
            given: given.unwrap_or_default().trim().to_string(),
            ..Self::default()
        }
    }

    /// The parts of a stored name; `None` for a name kept as one string (no caret). In a DICOM
    /// PN with `=`-separated groups (alphabetic=ideographic=phonetic) the first group is read.
    pub fn parse(stored: &str) -> Option<Self> {
        let alphabetic = stored.split('=').next().unwrap_or(stored);
        if !alphabetic.contains('^') {
            return None;
        }
        let mut parts = alphabetic.split('^').map(|p| p.trim().to_string());
        let mut next = || parts.next().unwrap_or_default();
        Some(Self {
            family: next(),
            given: next(),
            middle: next(),
            prefix: next(),
            suffix: next(),
        })
    }

    /// The parts in DICOM order, trailing empty ones left out.
    pub fn parts(&self) -> Vec<&str> {
        let mut parts = vec![
            self.family.as_str(),
            self.given.as_str(),
            self.middle.as_str(),
            self.prefix.as_str(),
            self.suffix.as_str(),
        ];
        while parts.last().is_some_and(|p| p.is_empty()) {
            parts.pop();
        }
        parts
    }

    /// The stored form, `None` when every part is empty. A name with only a family part is
    /// stored as that part alone: the caret would add nothing.
    pub fn stored(&self) -> Option<String> {
        let parts = self.parts();
        (!parts.is_empty()).then(|| parts.join("^"))
    }

    /// The stored form of a name as a file wrote it: a DICOM-style PN keeps its parts (each
    /// trimmed), a name without carets is kept whole; `None` when nothing is left.
    pub fn normalise(written: &str) -> Option<String> {
        match Self::parse(written) {
            Some(name) => name.stored(),
            None => Some(written.trim().to_string()).filter(|n| !n.is_empty()),
        }
    }
}

/// Patient-identifying data, kept out of [`EcgRecord`] on purpose.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PatientInfo {
    /// The name: parts joined with carets when the file gave parts ([`PersonName`]), else the
    /// one string the file wrote.
    pub name: Option<String>,
    pub id: Option<String>,
    pub birth_date: Option<String>,
    pub sex: Option<String>,
}

impl PatientInfo {
    /// The name's parts, when the file gave them (see [`PersonName`]).
    pub fn person_name(&self) -> Option<PersonName> {
        self.name.as_deref().and_then(PersonName::parse)
    }

    pub fn is_empty(&self) -> bool {
        self.name.is_none() && self.id.is_none() && self.birth_date.is_none() && self.sex.is_none()
    }
}

/// A multi-lead ECG recording with its provenance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EcgRecord {
    pub sample_rate_hz: f64,
    /// Channels in file order (derived leads appended after the recorded ones).
    pub leads: Vec<LeadSignal>,
    /// Acquisition time as the file gave it (ISO 8601 where it could be parsed).
    pub acquisition_time: Option<String>,
    pub device: Option<String>,
    pub provenance: Provenance,
    pub annotations: Vec<Annotation>,
    pub representative_beats: Option<RepresentativeBeats>,
    /// Plain-language notes on what was done to the data on the way in (derivations,
    /// resampling of channels recorded at other rates, ...).
    pub processing_notes: Vec<String>,
}

/// How a derived limb lead is computed from leads I and II.
/// `rule(I, II)` for every sample: one limb lead from I and II.
fn combine(i: &[f64], ii: &[f64], rule: impl Fn(f64, f64) -> f64) -> Vec<f64> {
    i.iter().zip(ii).map(|(&i, &ii)| rule(i, ii)).collect()
}

/// A problem with a record's structure (rather than with a file's bytes).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RecordError {
    #[error("sample rate {0} Hz is not a positive finite number")]
    BadSampleRate(f64),
    #[error("record has no leads")]
    NoLeads,
    #[error(
        "lead {lead} has {len} samples but lead {first} has {first_len}; all leads must be equally long"
    )]
    UnequalLengths {
        first: String,
        first_len: usize,
        lead: String,
        len: usize,
    },
    #[error("lead {0} appears more than once")]
    DuplicateLead(String),
    #[error("missing lead(s) {0}: cannot build the 12-lead input")]
    MissingLeads(String),
    #[error("cannot resample: {0}")]
    Resample(String),
}

impl EcgRecord {
    /// Whether this record was digitised from an ECG image (its provenance is an image format:
    /// no other reader gives one).
    pub fn is_digitised(&self) -> bool {
        matches!(self.provenance.format, Format::Png | Format::Jpeg)
    }

    /// Checks the invariants every consumer relies on: a positive rate, at least one lead,
    /// equal lengths, no standard lead twice.
    pub fn validate(&self) -> Result<(), RecordError> {
        if !(self.sample_rate_hz.is_finite() && self.sample_rate_hz > 0.0) {
            return Err(RecordError::BadSampleRate(self.sample_rate_hz));
        }
        let Some(first) = self.leads.first() else {
            return Err(RecordError::NoLeads);
        };
        let mut seen = std::collections::HashSet::new();
        for lead in &self.leads {
            if lead.samples_uv.len() != first.samples_uv.len() {
                return Err(RecordError::UnequalLengths {
                    first: first.lead.to_string(),
                    first_len: first.samples_uv.len(),
                    lead: lead.lead.to_string(),
                    len: lead.samples_uv.len(),
                });
            }
            if let LeadId::Standard(s) = lead.lead
                && !seen.insert(s)
            {
                return Err(RecordError::DuplicateLead(s.to_string()));
            }
        }
        Ok(())
    }

    /// Number of samples per lead.
    pub fn samples_per_lead(&self) -> usize {
        self.leads.first().map_or(0, |l| l.samples_uv.len())
    }

    pub fn duration_s(&self) -> f64 {
        self.samples_per_lead() as f64 / self.sample_rate_hz
    }

    pub fn lead(&self, which: StandardLead) -> Option<&LeadSignal> {
        self.leads
            .iter()
            .find(|l| l.lead == LeadId::Standard(which))
    }

    /// Names of the leads that were computed rather than recorded.
    pub fn derived_leads(&self) -> Vec<String> {
        self.leads
            .iter()
            .filter(|l| l.derived)
            .map(|l| l.lead.to_string())
            .collect()
    }

    /// Standard leads absent from the record.
    pub fn missing_standard_leads(&self) -> Vec<StandardLead> {
        StandardLead::STANDARD_ORDER
            .into_iter()
            .filter(|l| self.lead(*l).is_none())
            .collect()
    }

    /// When the file carries I and II but not some of III, aVR, aVL, aVF, computes those by
    /// Einthoven's and Goldberger's relations and marks them derived:
    /// III = II − I, aVR = −(I + II)/2, aVL = I − II/2, aVF = II − I/2.
    /// Returns the names of the leads derived.
    pub fn derive_limb_leads(&mut self) -> Vec<StandardLead> {
        let (Some(i), Some(ii)) = (self.lead(StandardLead::I), self.lead(StandardLead::II)) else {
            return Vec::new();
        };
        let limb = [
            StandardLead::III,
            StandardLead::AVR,
            StandardLead::AVL,
            StandardLead::AVF,
        ];
        if limb.iter().all(|&l| self.lead(l).is_some()) {
            return Vec::new(); // nothing to derive
        }
        let (i, ii) = (&i.samples_uv, &ii.samples_uv);
        let mut signals = Vec::new();
        for lead in limb {
            if self.lead(lead).is_some() {
                continue;
            }
            // Each rule is its own loop: through a function pointer the rule was an indirect
            // call per sample, a fifth of an aECG read (measured). The arithmetic is the same.
            let samples = match lead {
                StandardLead::III => combine(i, ii, |i, ii| ii - i),
                StandardLead::AVR => combine(i, ii, |i, ii| -(i + ii) / 2.0),
                StandardLead::AVL => combine(i, ii, |i, ii| i - ii / 2.0),
                _ => combine(i, ii, |i, ii| ii - i / 2.0),
            };
            let mut signal = LeadSignal::new(LeadId::Standard(lead), lead.name(), samples);
            signal.derived = true;
            signals.push(signal);
        }
        let derived: Vec<StandardLead> = signals
            .iter()
            .filter_map(|s| match s.lead {
                LeadId::Standard(l) => Some(l),
                LeadId::Other(_) => None,
            })
            .collect();
        self.leads.extend(signals);
        if !derived.is_empty() {
            let names: Vec<&str> = derived.iter().map(|l| l.name()).collect();
            self.processing_notes.push(format!(
                "lead(s) {} derived from I and II (Einthoven/Goldberger)",
                names.join(", ")
            ));
        }
        derived
    }

    /// The twelve standard leads in the given order, or the list of those missing.
    pub fn leads_in_order(&self, order: &[StandardLead]) -> Result<Vec<&LeadSignal>, RecordError> {
        let mut out = Vec::with_capacity(order.len());
        let mut missing = Vec::new();
        for lead in order {
            match self.lead(*lead) {
                Some(s) => out.push(s),
                None => missing.push(lead.name()),
            }
        }
        if missing.is_empty() {
            Ok(out)
        } else {
            Err(RecordError::MissingLeads(missing.join(", ")))
        }
    }

    /// A copy with every lead resampled to `target_hz` (anti-aliased, see [`crate::dsp::resample`]).
    pub fn resampled(&self, target_hz: f64) -> Result<EcgRecord, RecordError> {
        if !(target_hz.is_finite() && target_hz > 0.0) {
            return Err(RecordError::BadSampleRate(target_hz));
        }
        let mut out = self.clone();
        if (target_hz - self.sample_rate_hz).abs() < 1e-9 {
            return Ok(out);
        }
        for lead in &mut out.leads {
            lead.samples_uv =
                crate::dsp::resample(&lead.samples_uv, self.sample_rate_hz, target_hz)
                    .map_err(RecordError::Resample)?;
        }
        out.sample_rate_hz = target_hz;
        out.annotations.iter_mut().for_each(|a| {
            if let Some(ix) = a.sample_index {
                a.sample_index =
                    Some((ix as f64 * target_hz / self.sample_rate_hz).round() as usize);
            }
        });
        out.processing_notes.push(format!(
            "resampled from {} Hz to {} Hz",
            self.sample_rate_hz, target_hz
        ));
        Ok(out)
    }
}

/// The fixed-shape signal tensor ECG-R1's ECG-CoCa tower reads: 12 leads in training order,
/// 500 Hz, 5000 samples each, in millivolts, NaN/inf replaced by 0, zero-padded or cut.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSignal {
    /// Row-major `[12][5000]`, millivolts.
    pub data_mv: Vec<f32>,
    pub leads: usize,
    pub samples: usize,
    /// What was done to get here (resampled, padded, cut, derived leads, non-finite zeroed).
    pub notes: Vec<String>,
}

impl ModelSignal {
    pub const RATE_HZ: f64 = 500.0;
    pub const SAMPLES: usize = 5000;

    /// Builds the model input from a record. Limb leads missing but derivable from I and II
    /// are derived; any other missing lead is an error naming it.
    pub fn from_record(record: &EcgRecord) -> Result<Self, RecordError> {
        record.validate()?;
        let mut rec = record.clone();
        let before_notes = rec.processing_notes.len();
        rec.derive_limb_leads();
        let mut notes: Vec<String> = rec.processing_notes[before_notes..].to_vec();
        if record.leads.iter().any(|l| l.derived) {
            notes.push(format!(
                "derived lead(s) in the file's record: {}",
                record.derived_leads().join(", ")
            ));
        }
        if (rec.sample_rate_hz - Self::RATE_HZ).abs() > 1e-9 {
            notes.push(format!(
                "resampled from {} Hz to 500 Hz",
                rec.sample_rate_hz
            ));
            rec = rec.resampled(Self::RATE_HZ)?;
        }
        let leads = rec.leads_in_order(&StandardLead::ECG_R1_ORDER)?;
        let n = rec.samples_per_lead();
        if n < Self::SAMPLES {
            notes.push(format!(
                "zero-padded from {n} to {} samples ({:.2} s of signal)",
                Self::SAMPLES,
                n as f64 / Self::RATE_HZ
            ));
        } else if n > Self::SAMPLES {
            notes.push(format!(
                "cut from {n} to {} samples (first 10 s used)",
                Self::SAMPLES
            ));
        }
        let mut data_mv = vec![0.0f32; 12 * Self::SAMPLES];
        let mut non_finite = 0usize;
        for (row, lead) in leads.iter().enumerate() {
            for (t, &v) in lead.samples_uv.iter().take(Self::SAMPLES).enumerate() {
                if v.is_finite() {
                    data_mv[row * Self::SAMPLES + t] = (v / 1000.0) as f32;
                } else {
                    non_finite += 1;
                }
            }
        }
        if non_finite > 0 {
            notes.push(format!("{non_finite} non-finite sample(s) set to 0"));
        }
        Ok(Self {
            data_mv,
            leads: 12,
            samples: Self::SAMPLES,
            notes,
        })
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    /// A record with the given leads, each a distinct ramp, for structural tests.
    pub fn record_with(leads: &[StandardLead], n: usize, rate: f64) -> EcgRecord {
        EcgRecord {
            sample_rate_hz: rate,
            leads: leads
                .iter()
                .enumerate()
                .map(|(k, l)| {
                    LeadSignal::new(
                        LeadId::Standard(*l),
                        l.name(),
                        (0..n).map(|t| (k * 1000 + t) as f64).collect(),
                    )
                })
                .collect(),
            acquisition_time: None,
            device: None,
            provenance: Provenance {
                format: Format::Csv,
                file_name: "test.csv".into(),
                sha256: String::new(),
                byte_len: 0,
            },
            annotations: Vec::new(),
            representative_beats: None,
            processing_notes: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::record_with;
    use super::*;

    #[test]
    fn labels_are_recognised_in_common_spellings() {
        for (label, lead) in [
            ("II", StandardLead::II),
            ("ECG II", StandardLead::II),
            ("Lead II", StandardLead::II),
            ("V1-Ref", StandardLead::V1),
            ("MDC_ECG_LEAD_AVR", StandardLead::AVR),
            ("avl", StandardLead::AVL),
            ("aVF", StandardLead::AVF),
        ] {
            assert_eq!(StandardLead::from_label(label), Some(lead), "{label}");
        }
        assert_eq!(StandardLead::from_label("V7"), None);
        assert_eq!(StandardLead::from_label("-aVR"), None);
        assert_eq!(LeadId::from_label("Resp"), LeadId::Other("Resp".into()));
    }

    #[test]
    fn limb_leads_follow_einthoven_and_goldberger() {
        use StandardLead::*;
        let mut rec = record_with(&[I, II, V1, V2, V3, V4, V5, V6], 4, 500.0);
        rec.leads[0].samples_uv = vec![100.0, 200.0, -50.0, 0.0];
        rec.leads[1].samples_uv = vec![300.0, 100.0, 50.0, 10.0];
        let derived = rec.derive_limb_leads();
        assert_eq!(derived, vec![III, AVR, AVL, AVF]);
        assert_eq!(
            rec.lead(III).map(|l| l.samples_uv.clone()),
            Some(vec![200.0, -100.0, 100.0, 10.0])
        );
        assert_eq!(rec.lead(AVR).map(|l| l.samples_uv[0]), Some(-200.0));
        assert_eq!(rec.lead(AVL).map(|l| l.samples_uv[0]), Some(-50.0));
        assert_eq!(rec.lead(AVF).map(|l| l.samples_uv[0]), Some(250.0));
        assert_eq!(rec.derived_leads(), vec!["III", "aVR", "aVL", "aVF"]);
        assert!(rec.validate().is_ok());
    }

    #[test]
    fn model_signal_uses_training_order_and_pads() {
        let rec = record_with(&StandardLead::STANDARD_ORDER, 3000, 500.0);
        let sig = ModelSignal::from_record(&rec).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(sig.data_mv.len(), 12 * 5000);
        // Row 4 is aVF, which is index 5 in the standard order: ramp offset 5000 µV = 5 mV.
        assert!((sig.data_mv[4 * 5000] - 5.0).abs() < 1e-6);
        assert!((sig.data_mv[5 * 5000] - 4.0).abs() < 1e-6);
        assert_eq!(sig.data_mv[4 * 5000 + 4000], 0.0);
        assert!(sig.notes.iter().any(|n| n.contains("zero-padded")));
    }

    #[test]
    fn model_signal_names_missing_leads() {
        let rec = record_with(&[StandardLead::I, StandardLead::V1], 10, 500.0);
        let err = ModelSignal::from_record(&rec).err();
        assert!(matches!(err, Some(RecordError::MissingLeads(ref s)) if s.contains("II")));
    }

    #[test]
    fn person_names_keep_their_parts_and_one_string_stays_whole() {
        let pn = PersonName::parse(" Doe ^ John ^^ Dr. =ドウ^ジョン").unwrap_or_default();
        assert_eq!(pn.family, "Doe");
        assert_eq!(pn.given, "John");
        assert_eq!(pn.prefix, "Dr.");
        assert_eq!(pn.parts(), vec!["Doe", "John", "", "Dr."]);
        assert_eq!(
            PersonName::normalise("Doe^Jane^^^").as_deref(),
            Some("Doe^Jane")
        );
        assert_eq!(
            PersonName::normalise(" Anonymous ").as_deref(),
            Some("Anonymous")
        );
        assert_eq!(PersonName::normalise("^^"), None);
        assert_eq!(PersonName::parse("Jane Roe"), None);
        let name = PersonName::from_family_given(None, Some("Anna"));
        assert_eq!(name.stored().as_deref(), Some("^Anna"));
        let patient = PatientInfo {
            name: PersonName::from_family_given(Some("Müller"), Some("Anna")).stored(),
            ..PatientInfo::default()
        };
        assert_eq!(patient.name.as_deref(), Some("Müller^Anna"));
        assert_eq!(patient.person_name().map(|p| p.given), Some("Anna".into()));
    }

    #[test]
    fn unequal_lengths_are_rejected() {
        let mut rec = record_with(&[StandardLead::I, StandardLead::II], 10, 500.0);
        rec.leads[1].samples_uv.pop();
        assert!(matches!(
            rec.validate(),
            Err(RecordError::UnequalLengths { .. })
        ));
    }
}
