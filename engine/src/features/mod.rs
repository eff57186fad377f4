//! The feature database: measurements made on a record, each with where it came from.
//!
//! Pipeline (all O(n) in the number of samples): measurement-only filtering of copies
//! ([`filter`]) → multi-lead QRS detection ([`detect`]) → beat typing and per-lead median
//! beats ([`beats`]) → global delineation on the median beats ([`delineate`]) → global,
//! per-lead and rhythm measurements ([`leads`], [`rhythm`]). A value that cannot be measured
//! is `None` with a reason, never a guess.

pub mod beats;
pub mod delineate;
pub mod detect;
pub mod filter;
pub mod leads;
pub mod rhythm;

#[cfg(test)]
pub(crate) mod accuracy_tests;

use serde::{Deserialize, Serialize};

use crate::record::{EcgRecord, LeadId, RecordError, StandardLead};

/// Lowest sample rate the delineation is meaningful at.
pub const MIN_SAMPLE_RATE_HZ: f64 = 100.0;
/// Shortest record measured: two beats at 40 bpm need 3 s; 2 s gives at least one RR at 60 bpm.
pub const MIN_DURATION_S: f64 = 2.0;
/// At most this many dominant beats go into a median beat (evenly spaced over the record).
pub const MAX_MEDIAN_BEATS: usize = 64;

/// What a value was measured on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// The per-lead median (representative) beat.
    Median,
    /// Individual beats (a series or one beat).
    Beats,
    /// Several leads combined (an axis, a voltage sum).
    Leads,
}

/// Where a value came from, so the GUI can draw it and a trace can cite it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Source {
    pub lead: Option<String>,
    pub basis: Basis,
    /// Sample index in the record: for a median-beat value, the same position on the
    /// reference beat (the first dominant beat used for the median).
    pub sample_index: Option<usize>,
    /// Sample index inside the median beat, for median-beat values.
    pub median_index: Option<usize>,
}

/// One measured value with its stable id, unit and provenance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    /// Stable id, e.g. "qrs_ms" or "lead.V2.t_amplitude_uv"; used as `Evidence::measurement`.
    pub id: String,
    pub value: Option<f64>,
    pub unit: String,
    pub source: Source,
    /// Why the value is missing (or, if present, a caveat).
    pub reason: Option<String>,
}

impl Measured {
    pub fn some(id: impl Into<String>, value: f64, unit: &str, source: Source) -> Self {
        let id = id.into();
        if value.is_finite() {
            Self {
                id,
                value: Some(value),
                unit: unit.to_string(),
                source,
                reason: None,
            }
        } else {
            Self::none(id, unit, source, "the computation gave a non-finite number")
        }
    }

    pub fn none(
        id: impl Into<String>,
        unit: &str,
        source: Source,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            value: None,
            unit: unit.to_string(),
            source,
            reason: Some(reason.into()),
        }
    }

    /// A value, or a missing one with the reason, from an Option.
    pub fn maybe(
        id: impl Into<String>,
        value: Option<f64>,
        unit: &str,
        source: Source,
        reason: &str,
    ) -> Self {
        match value {
            Some(v) => Self::some(id, v, unit, source),
            None => Self::none(id, unit, source, reason),
        }
    }
}

/// How a beat was typed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BeatKind {
    /// The dominant morphology, on time.
    Dominant,
    /// Different QRS morphology from the dominant template (ventricular ectopic or aberrant).
    VentricularEctopic,
    /// Dominant morphology but premature with a pause after it.
    SupraventricularEctopic,
}

/// One detected beat with its fiducial points (record sample indices).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Beat {
    /// R-peak (fiducial) sample.
    pub r_index: usize,
    pub time_s: f64,
    pub kind: BeatKind,
    /// Interval from the previous beat.
    pub rr_prev_ms: Option<f64>,
    /// Correlation of the QRS with the dominant template.
    pub template_correlation: f64,
    /// Per-beat fiducials for dominant beats: the global median-beat boundaries placed on
    /// this beat (P onset only when this beat's own P wave was found).
    pub p_onset: Option<usize>,
    pub qrs_onset: Option<usize>,
    pub qrs_offset: Option<usize>,
    pub t_offset: Option<usize>,
}

/// Global boundaries on the median beat (indices into the median beat).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MedianFiducials {
    /// Index of the R fiducial inside the median beat.
    pub r: usize,
    pub p_onset: Option<usize>,
    pub p_peak: Option<usize>,
    pub p_offset: Option<usize>,
    pub qrs_onset: Option<usize>,
    pub qrs_offset: Option<usize>,
    /// The J point equals the QRS offset.
    pub j: Option<usize>,
    pub t_peak: Option<usize>,
    pub t_offset: Option<usize>,
}

/// The per-lead median beats (kept for drawing; not serialised).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MedianBeats {
    /// Samples before the R fiducial in each median beat.
    pub pre: usize,
    /// (lead name, samples in µV relative to the PR-segment baseline).
    pub leads: Vec<(String, Vec<f64>)>,
    /// The first dominant beat used: record index of its R fiducial.
    pub reference_r: usize,
    pub beats_used: usize,
}

/// T-wave shape in one lead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TPolarity {
    Positive,
    Negative,
    Biphasic,
    Flat,
}

impl TPolarity {
    pub fn name(self) -> &'static str {
        match self {
            Self::Positive => "positive",
            Self::Negative => "negative",
            Self::Biphasic => "biphasic",
            Self::Flat => "flat",
        }
    }
}

/// Signal quality of one lead.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LeadQuality {
    pub flat: bool,
    pub lead_off: bool,
    pub noisy: bool,
    /// RMS difference between the dominant beats and their median, µV.
    pub noise_uv: Option<f64>,
    /// Fraction of samples the file marked invalid.
    pub invalid_fraction: f64,
}

impl LeadQuality {
    pub fn usable(&self) -> bool {
        !(self.flat || self.lead_off)
    }
}

/// Per-lead measurements on the median beat (amplitudes relative to the PR-segment baseline).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeadMeasurements {
    pub lead: String,
    pub quality: LeadQuality,
    pub p_amplitude_uv: Measured,
    pub q_amplitude_uv: Measured,
    pub q_duration_ms: Measured,
    pub r_amplitude_uv: Measured,
    pub r_duration_ms: Measured,
    pub s_amplitude_uv: Measured,
    pub s_duration_ms: Measured,
    pub r_prime_amplitude_uv: Measured,
    pub t_amplitude_uv: Measured,
    pub st_j_uv: Measured,
    pub st_j60_uv: Measured,
    pub st_j80_uv: Measured,
    pub t_polarity: Option<TPolarity>,
    /// Depth of a negative T wave (positive number, µV); `None` when T is not negative.
    pub t_depth_uv: Measured,
    /// Ascending / descending limb duration at half amplitude (≈ 1 symmetric, > 1.3 normal).
    pub t_symmetry_ratio: Measured,
    /// Q wave > 30 ms or deeper than 100 µV (DESIGN thresholds); not assessed in aVR.
    pub pathological_q: Option<bool>,
}

impl LeadMeasurements {
    /// Every numeric value of the lead.
    pub fn values(&self) -> [&Measured; 14] {
        [
            &self.p_amplitude_uv,
            &self.q_amplitude_uv,
            &self.q_duration_ms,
            &self.r_amplitude_uv,
            &self.r_duration_ms,
            &self.s_amplitude_uv,
            &self.s_duration_ms,
            &self.r_prime_amplitude_uv,
            &self.t_amplitude_uv,
            &self.st_j_uv,
            &self.st_j60_uv,
            &self.st_j80_uv,
            &self.t_depth_uv,
            &self.t_symmetry_ratio,
        ]
    }
}

/// The rhythm assessment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rhythm {
    /// Plain label: "sinus rhythm", "sinus bradycardia", "sinus tachycardia",
    /// "irregular rhythm suggesting atrial fibrillation", "non-sinus rhythm", "undetermined".
    pub label: String,
    pub sinus: Option<bool>,
    /// A P wave was found before every dominant QRS.
    pub p_before_every_qrs: Option<bool>,
    /// PR interval SD across beats under 20 ms.
    pub pr_consistent: Option<bool>,
    /// The median P wave in II is positive.
    pub p_upright_in_ii: Option<bool>,
    pub bradycardia: Option<bool>,
    pub tachycardia: Option<bool>,
    /// RMSSD of successive RR intervals / mean RR (dimensionless); AF suggested above 0.10
    /// together with absent P waves or a CV of RR above 0.10.
    pub irregularity_index: Measured,
    pub af_suggested: bool,
    pub ventricular_ectopics: usize,
    pub supraventricular_ectopics: usize,
}

/// A problem that made values unmeasurable or less trustworthy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QualityFlag {
    /// "flat_lead", "lead_off", "noisy_lead", "too_few_beats", "no_p_wave", ...
    pub kind: String,
    pub lead: Option<String>,
    pub detail: String,
}

/// Everything measured on one record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Measurements {
    pub sample_rate_hz: f64,
    pub duration_s: f64,
    pub heart_rate_bpm: Measured,
    pub rr_mean_ms: Measured,
    pub rr_sd_ms: Measured,
    pub pr_ms: Measured,
    pub p_ms: Measured,
    pub qrs_ms: Measured,
    pub qt_ms: Measured,
    pub qtc_bazett_ms: Measured,
    pub qtc_fridericia_ms: Measured,
    pub p_axis_deg: Measured,
    pub qrs_axis_deg: Measured,
    pub t_axis_deg: Measured,
    /// S(V1) + max(R(V5), R(V6)).
    pub sokolow_lyon_uv: Measured,
    /// R(aVL) + S(V3).
    pub cornell_uv: Measured,
    pub rhythm: Rhythm,
    pub beats: Vec<Beat>,
    pub median_fiducials: MedianFiducials,
    pub leads: Vec<LeadMeasurements>,
    pub quality: Vec<QualityFlag>,
    #[serde(skip)]
    pub median_beats: Option<MedianBeats>,
}

impl Measurements {
    /// The global values, in a fixed order.
    pub fn globals(&self) -> [&Measured; 15] {
        [
            &self.heart_rate_bpm,
            &self.rr_mean_ms,
            &self.rr_sd_ms,
            &self.pr_ms,
            &self.p_ms,
            &self.qrs_ms,
            &self.qt_ms,
            &self.qtc_bazett_ms,
            &self.qtc_fridericia_ms,
            &self.p_axis_deg,
            &self.qrs_axis_deg,
            &self.t_axis_deg,
            &self.sokolow_lyon_uv,
            &self.cornell_uv,
            &self.rhythm.irregularity_index,
        ]
    }

    pub fn lead(&self, lead: StandardLead) -> Option<&LeadMeasurements> {
        self.leads.iter().find(|l| l.lead == lead.name())
    }

    /// Looks a value up by its stable id.
    pub fn get(&self, id: &str) -> Option<&Measured> {
        self.globals().into_iter().find(|m| m.id == id).or_else(|| {
            self.leads
                .iter()
                .flat_map(LeadMeasurements::values)
                .find(|m| m.id == id)
        })
    }

    pub fn value(&self, id: &str) -> Option<f64> {
        self.get(id).and_then(|m| m.value)
    }
}

/// Why a record cannot be measured at all.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FeatureError {
    #[error("invalid record: {0}")]
    Record(#[from] RecordError),
    #[error("sample rate {0} Hz is below the {MIN_SAMPLE_RATE_HZ} Hz needed for delineation")]
    SampleRateTooLow(f64),
    #[error("record is {0:.2} s long; at least {MIN_DURATION_S} s are needed")]
    TooShort(f64),
    #[error("the record has none of the twelve standard leads")]
    NoStandardLeads,
}

/// The conditioned copy of one standard lead.
pub(crate) struct WorkLead {
    pub lead: StandardLead,
    pub samples: Vec<f64>,
    pub quality: LeadQuality,
    /// The samples the lead covers: all of them for a recording; for a lead digitised from
    /// one panel of a printed page, the panel's time window (absent outside it).
    pub window: std::ops::Range<usize>,
}

/// The span from the first to the last valid sample, and the invalid samples inside it.
fn valid_window(x: &[f64]) -> (std::ops::Range<usize>, usize) {
    let first = x.iter().position(|v| v.is_finite());
    let last = x.iter().rposition(|v| v.is_finite());
    match (first, last) {
        (Some(a), Some(b)) => {
            let inside = x[a..=b].iter().filter(|v| !v.is_finite()).count();
            (a..b + 1, inside)
        }
        _ => (0..x.len(), x.len()),
    }
}

fn ms(samples: f64, fs: f64) -> f64 {
    samples * 1000.0 / fs
}

/// Measures a record. The record is not modified; filtering happens on copies.
pub fn measure(record: &EcgRecord) -> Result<Measurements, FeatureError> {
    record.validate()?;
    let fs = record.sample_rate_hz;
    if fs < MIN_SAMPLE_RATE_HZ {
        return Err(FeatureError::SampleRateTooLow(fs));
    }
    let duration_s = record.duration_s();
    if duration_s < MIN_DURATION_S {
        return Err(FeatureError::TooShort(duration_s));
    }
    let n = record.samples_per_lead();
    // Copies of the standard leads, in the standard order, invalid samples held.
    let mut held: Vec<(StandardLead, Vec<f64>, usize)> = Vec::with_capacity(12);
    let mut windows: Vec<std::ops::Range<usize>> = Vec::with_capacity(12);
    for lead in StandardLead::STANDARD_ORDER {
        let Some(signal) = record
            .leads
            .iter()
            .find(|l| l.lead == LeadId::Standard(lead))
        else {
            continue;
        };
        let mut samples = signal.samples_uv.clone();
        // A lead present over a window of at least MIN_DURATION_S (a panel of a digitised
        // page) is judged on that window; its absent ends are not "invalid".
        let (window, inside) = valid_window(&samples);
        let held_all = filter::hold_invalid(&mut samples);
        let windowed = window.len() as f64 >= MIN_DURATION_S * fs && window.len() < n;
        let (window, invalid) = if windowed {
            let scale = n as f64 / window.len() as f64;
            (window, (inside as f64 * scale) as usize)
        } else {
            (0..n, held_all)
        };
        windows.push(window);
        held.push((lead, samples, invalid));
    }
    // Conditioned several leads at a time (interleaved; the same values as one at a time).
    for group in held.chunks_mut(filter::LANES) {
        let signals: Vec<&[f64]> = group.iter().map(|(_, s, _)| s.as_slice()).collect();
        let mut lanes = filter::interleave::<{ filter::LANES }>(&signals, n);
        filter::condition_lanes(&mut lanes, fs);
        for (lane, (_, samples, _)) in group.iter_mut().enumerate() {
            for (v, l) in samples.iter_mut().zip(&lanes) {
                *v = l[lane];
            }
        }
    }
    let mut work: Vec<WorkLead> = held
        .into_iter()
        .zip(windows)
        .map(|((lead, samples, invalid), window)| {
            let quality = leads::assess_quality(&samples, invalid, fs);
            WorkLead {
                lead,
                samples,
                quality,
                window,
            }
        })
        .collect();
    if work.is_empty() {
        return Err(FeatureError::NoStandardLeads);
    }
    let mut quality_flags = Vec::new();
    for w in &work {
        if w.quality.lead_off {
            quality_flags.push(QualityFlag {
                kind: "lead_off".into(),
                lead: Some(w.lead.name().into()),
                detail: format!(
                    "{:.0} % of samples invalid or the signal is saturated",
                    w.quality.invalid_fraction * 100.0
                ),
            });
        } else if w.quality.flat {
            quality_flags.push(QualityFlag {
                kind: "flat_lead".into(),
                lead: Some(w.lead.name().into()),
                detail: "peak-to-peak amplitude under 50 µV: no signal to measure".into(),
            });
        }
    }
    // Detection on the usable leads together.
    let all_usable: Vec<&WorkLead> = work.iter().filter(|w| w.quality.usable()).collect();
    // Beats are found and typed on the leads that cover the whole record (a digitised page's
    // rhythm strip) when there are any: a panel lead is flat outside its window.
    let whole: Vec<&WorkLead> = all_usable
        .iter()
        .copied()
        .filter(|w| w.window.len() == n)
        .collect();
    let usable = if whole.is_empty() { all_usable } else { whole };
    let r_peaks = if usable.is_empty() {
        Vec::new()
    } else {
        detect::detect_qrs(&usable, fs, n)
    };
    let typed = beats::type_beats(&usable, &r_peaks, fs);
    let mut medians = beats::median_beats(&work, &typed, fs, n);
    // Beat-to-beat noise per lead, against its own median.
    if let Some(m) = &medians {
        for (w, (_, median)) in work.iter_mut().zip(&m.leads) {
            w.quality.noise_uv = beats::beat_noise(w, median, &typed.beats, m.pre);
            w.quality.noisy = w.quality.noise_uv.is_some_and(|v| v > leads::NOISY_UV);
        }
    }
    let mut beats_out = typed.beats;
    let rr: Vec<f64> = beats_out.iter().filter_map(|b| b.rr_prev_ms).collect();
    let rr_source = Source {
        lead: None,
        basis: Basis::Beats,
        sample_index: beats_out.first().map(|b| b.r_index),
        median_index: None,
    };
    let (rr_mean, rr_sd) = mean_sd(&rr);
    let too_few = rr.len() < 2;
    if too_few {
        quality_flags.push(QualityFlag {
            kind: "too_few_beats".into(),
            lead: None,
            detail: format!(
                "{} beat(s) detected; rate and rhythm need at least 3",
                beats_out.len()
            ),
        });
    }
    let few_reason = "fewer than 3 beats detected";
    let rr_mean_m = Measured::maybe(
        "rr_mean_ms",
        (!too_few).then_some(rr_mean),
        "ms",
        rr_source.clone(),
        few_reason,
    );
    let rr_sd_m = Measured::maybe(
        "rr_sd_ms",
        (!too_few).then_some(rr_sd),
        "ms",
        rr_source.clone(),
        few_reason,
    );
    let hr_m = Measured::maybe(
        "heart_rate_bpm",
        (!too_few && rr_mean > 0.0).then(|| 60_000.0 / rr_mean),
        "bpm",
        rr_source.clone(),
        few_reason,
    );

    let delin = medians
        .as_mut()
        .map(|m| delineate::delineate(m, &work, fs, if too_few { None } else { Some(rr_mean) }));
    let (fid, lead_out, globals) = if let (Some(m), Some(d)) = (&medians, delin) {
        let lead_out = leads::measure_leads(m, &d, &work, fs);
        (d.fiducials.clone(), lead_out, Some(d))
    } else {
        quality_flags.push(QualityFlag {
            kind: "no_median_beat".into(),
            lead: None,
            detail: "no dominant beat could be averaged; intervals and amplitudes not measured"
                .into(),
        });
        (
            MedianFiducials::default(),
            work.iter()
                .map(|w| leads::unmeasured_lead(w, "no median beat"))
                .collect(),
            None,
        )
    };
    // Per-beat fiducials: the median boundaries placed on each dominant beat.
    if let Some(m) = &medians {
        for b in beats_out
            .iter_mut()
            .filter(|b| b.kind == BeatKind::Dominant)
        {
            let place = |idx: Option<usize>| {
                idx.and_then(|i| (b.r_index + i).checked_sub(m.pre))
                    .filter(|&x| x < n)
            };
            b.qrs_onset = place(fid.qrs_onset);
            b.qrs_offset = place(fid.qrs_offset);
            b.t_offset = place(fid.t_offset);
            b.p_onset = place(fid.p_onset);
        }
    }
    let reference = medians.as_ref().map_or(0, |m| m.reference_r);
    let pre = medians.as_ref().map_or(0, |m| m.pre);
    let at = |i: Option<usize>| -> Source {
        Source {
            lead: None,
            basis: Basis::Median,
            sample_index: i.and_then(|i| (reference + i).checked_sub(pre)),
            median_index: i,
        }
    };
    let interval = |id: &str, a: Option<usize>, b: Option<usize>, why: &str| -> Measured {
        let v = match (a, b) {
            (Some(a), Some(b)) if b > a => Some(ms((b - a) as f64, fs)),
            _ => None,
        };
        Measured::maybe(id, v, "ms", at(a), why)
    };
    let no_p = if fid.p_peak.is_some() {
        "the P wave merges with the preceding T wave: its onset is not measurable"
    } else {
        "no P wave found on the median beat"
    };
    let pr = interval("pr_ms", fid.p_onset, fid.qrs_onset, no_p);
    let p_ms = interval("p_ms", fid.p_onset, fid.p_offset, no_p);
    let qrs = interval(
        "qrs_ms",
        fid.qrs_onset,
        fid.qrs_offset,
        "QRS boundaries not found",
    );
    let qt = interval("qt_ms", fid.qrs_onset, fid.t_offset, "T-wave end not found");
    let rr_s = (!too_few).then_some(rr_mean / 1000.0);
    let qtc = |id: &str, power: f64| -> Measured {
        let v = qt.value.zip(rr_s).map(|(q, r)| q / r.powf(power));
        Measured::maybe(
            id,
            v,
            "ms",
            qt.source.clone(),
            "needs QT and the RR interval",
        )
    };
    let qtc_b = qtc("qtc_bazett_ms", 0.5);
    let qtc_f = qtc("qtc_fridericia_ms", 1.0 / 3.0);
    if fid.p_onset.is_none() && medians.is_some() {
        quality_flags.push(if fid.p_peak.is_some() {
            QualityFlag {
                kind: "p_on_t".into(),
                lead: None,
                detail: "the P wave rises out of the preceding T wave: PR and P duration not \
                         measured"
                    .into(),
            }
        } else {
            QualityFlag {
                kind: "no_p_wave".into(),
                lead: None,
                detail: "no P wave on the median beat: PR and P duration not measured".into(),
            }
        });
    }
    let axis_src = Source {
        lead: Some("limb leads".into()),
        basis: Basis::Leads,
        sample_index: None,
        median_index: None,
    };
    let (p_axis, qrs_axis, t_axis) = globals
        .as_ref()
        .map_or((None, None, None), |d| (d.p_axis, d.qrs_axis, d.t_axis));
    let axes_reason = "needs the limb leads and the wave boundaries";
    let p_axis_m = Measured::maybe("p_axis_deg", p_axis, "deg", axis_src.clone(), axes_reason);
    let qrs_axis_m = Measured::maybe(
        "qrs_axis_deg",
        qrs_axis,
        "deg",
        axis_src.clone(),
        axes_reason,
    );
    let t_axis_m = Measured::maybe("t_axis_deg", t_axis, "deg", axis_src, axes_reason);
    let (sokolow, cornell) = leads::voltages(&lead_out);
    let rhythm = rhythm::assess(
        &work,
        &mut beats_out,
        medians.as_ref(),
        &fid,
        hr_m.value,
        fs,
    );
    for w in &work {
        if w.quality.noisy {
            quality_flags.push(QualityFlag {
                kind: "noisy_lead".into(),
                lead: Some(w.lead.name().into()),
                detail: format!(
                    "beat-to-beat noise {:.0} µV: amplitudes in this lead are unreliable",
                    w.quality.noise_uv.unwrap_or(0.0)
                ),
            });
        }
    }
    let mut lead_out = lead_out;
    for l in &mut lead_out {
        if let Some(w) = work.iter().find(|w| w.lead.name() == l.lead) {
            l.quality = w.quality.clone();
        }
    }
    Ok(Measurements {
        sample_rate_hz: fs,
        duration_s,
        heart_rate_bpm: hr_m,
        rr_mean_ms: rr_mean_m,
        rr_sd_ms: rr_sd_m,
        pr_ms: pr,
        p_ms,
        qrs_ms: qrs,
        qt_ms: qt,
        qtc_bazett_ms: qtc_b,
        qtc_fridericia_ms: qtc_f,
        p_axis_deg: p_axis_m,
        qrs_axis_deg: qrs_axis_m,
        t_axis_deg: t_axis_m,
        sokolow_lyon_uv: sokolow,
        cornell_uv: cornell,
        rhythm,
        beats: beats_out,
        median_fiducials: fid,
        leads: lead_out,
        quality: quality_flags,
        median_beats: medians,
    })
}

/// Mean and (sample) standard deviation; (0, 0) for an empty slice.
pub(crate) fn mean_sd(x: &[f64]) -> (f64, f64) {
    if x.is_empty() {
        return (0.0, 0.0);
    }
    let mean = x.iter().sum::<f64>() / x.len() as f64;
    if x.len() < 2 {
        return (mean, 0.0);
    }
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (x.len() - 1) as f64;
    (mean, var.sqrt())
}
