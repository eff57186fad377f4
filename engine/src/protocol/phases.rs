//! The five phases of the reading protocol, with the thresholds of DESIGN.md §2:
//! rate < 60 / 60–100 / > 100 bpm; PR 120–200 ms; QRS < 100 normal, 100–120 incomplete
//! block, > 120 wide; LVH: SV1 + RV5/6 > 35 mm, R(I) > 15 mm, R(aVL) > 11 mm; ST elevation
//! ≥ 1 mm limb / ≥ 2 mm precordial; pathological Q > 30 ms or > 0.1 mV; QTc ≤ 440 ms normal.
//! Additional cut-offs used here are named where they are used.

use super::{NoteContext, Reading, StepWriter, ev, ev_flag, ev_note};
use crate::features::{LeadMeasurements, Measured, Measurements, TPolarity};
use crate::record::StandardLead;

// DESIGN.md thresholds.
const BRADY_BPM: f64 = 60.0;
const TACHY_BPM: f64 = 100.0;
const PR_MIN_MS: f64 = 120.0;
const PR_MAX_MS: f64 = 200.0;
const QRS_NORMAL_MS: f64 = 100.0;
const QRS_WIDE_MS: f64 = 120.0;
const SOKOLOW_UV: f64 = 3500.0;
const R_I_UV: f64 = 1500.0;
const R_AVL_UV: f64 = 1100.0;
pub(crate) const STE_LIMB_UV: f64 = 100.0;
pub(crate) const STE_PRECORDIAL_UV: f64 = 200.0;
const QTC_NORMAL_MS: f64 = 440.0;
// Further conventional cut-offs (not in DESIGN.md; stated in the trace where used).
/// ST depression at J+60 of at least 0.5 mm.
pub(crate) const STD_UV: f64 = -50.0;
/// A "deep" inverted T wave: at least 2 mm.
const DEEP_T_UV: f64 = 200.0;
/// Symmetric T: ascending/descending half-amplitude limb ratio within this range.
const SYMMETRIC_T: (f64, f64) = (0.77, 1.3);
/// A T inversion counts from 1 mm deep.
const TWI_UV: f64 = 100.0;
const QTC_MARKED_MS: f64 = 500.0;
const QTC_SHORT_MS: f64 = 350.0;
const P_TALL_UV: f64 = 250.0;
const P_WIDE_MS: f64 = 120.0;
const PEAKED_T_PRECORDIAL_UV: f64 = 1000.0;
const PEAKED_T_LIMB_UV: f64 = 600.0;

/// Lead orders in which neighbours are anatomically contiguous (Cabrera limb order and the
/// precordial sequence).
const CONTIGUOUS: [&[&str]; 2] = [
    &["aVL", "I", "II", "aVF", "III"],
    &["V1", "V2", "V3", "V4", "V5", "V6"],
];

pub(crate) fn contiguous(leads: &[&str]) -> bool {
    CONTIGUOUS.iter().any(|seq| {
        seq.windows(2)
            .any(|w| leads.contains(&w[0]) && leads.contains(&w[1]))
    })
}

fn mv(uv: f64) -> String {
    format!("{:.2} mV", uv / 1000.0)
}

fn val(m: &Measured) -> String {
    match (m.value, m.unit.as_str()) {
        (Some(v), "uV") => mv(v),
        (Some(v), "deg") => format!("{v:.0}°"),
        (Some(v), "ratio") => format!("{v:.2}"),
        (Some(v), unit) => format!("{v:.0} {unit}"),
        (None, _) => "not measurable".to_string(),
    }
}

fn why(m: &Measured) -> String {
    m.reason
        .clone()
        .unwrap_or_else(|| "not measured".to_string())
}

pub(crate) fn is_precordial(lead: &str) -> bool {
    lead.starts_with('V')
}

/// Shared findings used by both tasks.
struct Findings<'a> {
    m: &'a Measurements,
    rbbb: bool,
    lbbb: bool,
    ivcd: bool,
    incomplete: bool,
    pre_excitation: bool,
    lvh: bool,
    strain_leads: Vec<&'a str>,
    ste: Vec<&'a LeadMeasurements>,
    std: Vec<&'a LeadMeasurements>,
    q: Vec<&'a LeadMeasurements>,
    twi: Vec<&'a LeadMeasurements>,
    /// Isolated inversion in V1 or III: a normal variant, reported but not counted.
    variant_twi: Vec<&'a LeadMeasurements>,
}

fn lead(m: &Measurements, l: StandardLead) -> Option<&LeadMeasurements> {
    m.lead(l).filter(|x| x.quality.usable())
}

fn amp(m: &Measurements, l: StandardLead, f: fn(&LeadMeasurements) -> &Measured) -> Option<f64> {
    lead(m, l).and_then(|x| f(x).value)
}

pub(crate) fn inverted(l: &LeadMeasurements) -> bool {
    l.t_polarity == Some(TPolarity::Negative) && l.t_depth_uv.value.is_some_and(|d| d >= TWI_UV)
}

fn findings(m: &Measurements) -> Findings<'_> {
    let qrs = m.qrs_ms.value;
    let v1_r = amp(m, StandardLead::V1, |l| &l.r_amplitude_uv).unwrap_or(0.0);
    let v1_s = amp(m, StandardLead::V1, |l| &l.s_amplitude_uv)
        .unwrap_or(0.0)
        .abs();
    let v1_rp = amp(m, StandardLead::V1, |l| &l.r_prime_amplitude_uv).unwrap_or(0.0);
    let lateral_positive = [StandardLead::I, StandardLead::V6].iter().any(|&l| {
        let r = amp(m, l, |x| &x.r_amplitude_uv).unwrap_or(0.0);
        let s = amp(m, l, |x| &x.s_amplitude_uv).unwrap_or(0.0).abs();
        r > s
    });
    let rbbb_shape = v1_rp > 0.0 || v1_r > v1_s;
    let lbbb_shape = !rbbb_shape && v1_s > v1_r && lateral_positive;
    let wide = qrs.is_some_and(|q| q > QRS_WIDE_MS);
    let mid = qrs.is_some_and(|q| (QRS_NORMAL_MS..=QRS_WIDE_MS).contains(&q));
    let usable: Vec<&LeadMeasurements> = m.leads.iter().filter(|l| l.quality.usable()).collect();
    let sokolow = m.sokolow_lyon_uv.value.is_some_and(|v| v > SOKOLOW_UV);
    let r_i = amp(m, StandardLead::I, |l| &l.r_amplitude_uv).is_some_and(|v| v > R_I_UV);
    let r_avl = amp(m, StandardLead::AVL, |l| &l.r_amplitude_uv).is_some_and(|v| v > R_AVL_UV);
    let lvh = sokolow || r_i || r_avl;
    let strain_leads = if lvh {
        usable
            .iter()
            .filter(|l| ["I", "aVL", "V5", "V6"].contains(&l.lead.as_str()) && inverted(l))
            .map(|l| l.lead.as_str())
            .collect()
    } else {
        Vec::new()
    };
    let ste = usable
        .iter()
        .copied()
        .filter(|l| l.lead != "aVR")
        .filter(|l| {
            let th = if is_precordial(&l.lead) {
                STE_PRECORDIAL_UV
            } else {
                STE_LIMB_UV
            };
            l.st_j_uv.value.is_some_and(|v| v >= th)
        })
        .collect();
    let std = usable
        .iter()
        .copied()
        .filter(|l| l.lead != "aVR" && l.st_j60_uv.value.is_some_and(|v| v <= STD_UV))
        .collect();
    let q = usable
        .iter()
        .copied()
        .filter(|l| l.pathological_q == Some(true) && l.lead != "aVR")
        .collect();
    let all_twi: Vec<&LeadMeasurements> = usable
        .iter()
        .copied()
        .filter(|l| l.lead != "aVR" && inverted(l))
        .collect();
    // T inversion in V1 alone (V2 upright) or in III alone (aVF upright) is a normal variant.
    let has = |name: &str| all_twi.iter().any(|l| l.lead == name);
    let (variant_twi, twi): (Vec<_>, Vec<_>) = all_twi
        .iter()
        .copied()
        .partition(|l| (l.lead == "V1" && !has("V2")) || (l.lead == "III" && !has("aVF")));
    Findings {
        m,
        rbbb: wide && rbbb_shape,
        lbbb: wide && lbbb_shape,
        ivcd: wide && !rbbb_shape && !lbbb_shape,
        incomplete: mid,
        pre_excitation: m.pr_ms.value.is_some_and(|p| p < PR_MIN_MS)
            && qrs.is_some_and(|q| q >= 110.0),
        lvh,
        strain_leads,
        ste,
        std,
        q,
        twi,
        variant_twi,
    }
}

/// The bundle branch block the protocol reads in the QRS (a wide QRS with the V1 and I/V6
/// morphology of `findings`), shared with the serial comparison so both read it alike.
pub(crate) fn bundle_branch_block(m: &Measurements) -> Option<super::BundleBranchBlock> {
    let f = findings(m);
    if f.rbbb {
        Some(super::BundleBranchBlock::Right)
    } else if f.lbbb {
        Some(super::BundleBranchBlock::Left)
    } else {
        None
    }
}

fn names<'a>(ls: &[&'a LeadMeasurements]) -> Vec<&'a str> {
    ls.iter().map(|l| l.lead.as_str()).collect()
}

/// Phase 1: technical quality, rate and rhythm.
fn step_rate_rhythm(m: &Measurements) -> StepWriter {
    let mut s = StepWriter::default();
    if m.quality.is_empty() {
        s.say(
            format!(
                "Signal quality is adequate: none of the {} leads is flat, disconnected or noisy.",
                m.leads.len()
            ),
            [ev_flag(
                "quality",
                None,
                Some(0.0),
                "no flat, lead-off or noisy lead",
            )],
        );
    } else {
        for q in &m.quality {
            let where_ = q
                .lead
                .as_deref()
                .map(|l| format!(" in {l}"))
                .unwrap_or_default();
            s.say(
                format!(
                    "Quality: {}{where_} ({}).",
                    q.kind.replace('_', " "),
                    q.detail
                ),
                [ev_flag(
                    &format!("quality.{}", q.kind),
                    q.lead.as_deref(),
                    None,
                    &q.detail,
                )],
            );
        }
    }
    let hr = &m.heart_rate_bpm;
    match hr.value {
        Some(v) => {
            let cat = if v < BRADY_BPM {
                "below 60 bpm: bradycardia"
            } else if v > TACHY_BPM {
                "above 100 bpm: tachycardia"
            } else {
                "within 60–100 bpm"
            };
            s.say(
                format!("Heart rate is {v:.0} bpm, {cat}."),
                [ev(hr, "< 60 brady, 60–100 normal, > 100 bpm tachy")],
            );
        }
        None => s.say(
            format!("Heart rate cannot be measured: {}.", why(hr)),
            [ev(hr, "")],
        ),
    }
    let r = &m.rhythm;
    let mut criteria = Vec::new();
    if let Some(p) = r.p_before_every_qrs {
        criteria.push(if p {
            "a P wave precedes every QRS"
        } else {
            "not every QRS has a P wave before it"
        });
    }
    if let Some(p) = r.pr_consistent {
        criteria.push(if p { "PR is constant" } else { "PR varies" });
    }
    if let Some(p) = r.p_upright_in_ii {
        criteria.push(if p {
            "P is upright in II"
        } else {
            "P is not upright in II"
        });
    }
    let crit = if criteria.is_empty() {
        "no P-wave criteria could be assessed".to_string()
    } else {
        criteria.join(", ")
    };
    s.say(
        format!("Rhythm: {} ({crit}).", r.label),
        [
            ev_flag(
                "rhythm.sinus",
                Some("II"),
                r.sinus.map(f64::from),
                "P before every QRS, constant PR, upright P in II",
            ),
            ev(&m.pr_ms, ""),
        ],
    );
    let irr = &r.irregularity_index;
    if let Some(v) = irr.value {
        let verdict = if r.af_suggested {
            "irregular, and without consistent P waves this suggests atrial fibrillation"
        } else if v > 0.10 {
            "irregular"
        } else {
            "regular"
        };
        s.say(
            format!("The RR irregularity index is {v:.2}: {verdict}."),
            [ev(irr, "> 0.10 irregular"), ev(&m.rr_sd_ms, "")],
        );
    }
    if r.ventricular_ectopics > 0 || r.supraventricular_ectopics > 0 {
        s.say(
            format!(
                "Ectopy: {} ventricular and {} supraventricular ectopic beat(s) among {} beats.",
                r.ventricular_ectopics,
                r.supraventricular_ectopics,
                m.beats.len()
            ),
            [
                ev_flag(
                    "rhythm.ventricular_ectopics",
                    None,
                    Some(r.ventricular_ectopics as f64),
                    "QRS correlation with the dominant template < 0.85",
                ),
                ev_flag(
                    "rhythm.supraventricular_ectopics",
                    None,
                    Some(r.supraventricular_ectopics as f64),
                    "RR < 85 % of median followed by a pause",
                ),
            ],
        );
    }
    s
}

/// Phase 2: conduction, axis and intervals.
fn step_conduction(
    f: &Findings<'_>,
    ctx: &NoteContext,
    notes_used: &mut Vec<String>,
) -> StepWriter {
    let m = f.m;
    let mut s = StepWriter::default();
    let pr = &m.pr_ms;
    match pr.value {
        Some(v) if v > PR_MAX_MS => s.say(
            format!("PR is {v:.0} ms, above 200 ms: first-degree AV block."),
            [ev(pr, "120–200 ms")],
        ),
        Some(v) if v < PR_MIN_MS => s.say(
            format!("PR is {v:.0} ms, below 120 ms: short PR."),
            [ev(pr, "120–200 ms")],
        ),
        Some(v) => s.say(
            format!("PR is {v:.0} ms, within 120–200 ms."),
            [ev(pr, "120–200 ms")],
        ),
        None => s.say(format!("PR cannot be measured: {}.", why(pr)), [ev(pr, "")]),
    }
    let qrs = &m.qrs_ms;
    match qrs.value {
        Some(v) => {
            let cat = if v > QRS_WIDE_MS {
                "wide (> 120 ms)"
            } else if v >= QRS_NORMAL_MS {
                "100–120 ms: incomplete block or intraventricular delay"
            } else {
                "normal (< 100 ms)"
            };
            s.say(
                format!("QRS duration is {v:.0} ms, {cat}."),
                [ev(qrs, "< 100 normal, 100–120 incomplete, > 120 wide")],
            );
        }
        None => s.say(
            format!("QRS duration cannot be measured: {}.", why(qrs)),
            [ev(qrs, "")],
        ),
    }
    let v1 = m.lead(StandardLead::V1);
    let v1_ev = v1
        .map(|l| {
            vec![
                ev(&l.r_amplitude_uv, ""),
                ev(&l.s_amplitude_uv, ""),
                ev(&l.r_prime_amplitude_uv, ""),
            ]
        })
        .unwrap_or_default();
    if f.rbbb {
        s.say("With a wide QRS and a dominant or secondary R wave in V1 the morphology is right bundle branch block.", v1_ev.clone());
    } else if f.lbbb {
        s.say("With a wide QRS, a dominant S in V1 and a positive QRS in I/V6 the morphology is left bundle branch block.", v1_ev.clone());
    } else if f.ivcd {
        s.say("The wide QRS fits neither bundle branch block pattern: nonspecific intraventricular conduction delay.", v1_ev.clone());
    }
    if f.pre_excitation {
        s.say(
            "A short PR with a broad QRS raises pre-excitation.",
            [ev(pr, "< 120 ms"), ev(qrs, ">= 110 ms")],
        );
    }
    if ctx.known_lbbb && !f.lbbb {
        s.say("The clinical note reports a known LBBB, which the measured QRS does not show; the reasoning treats LBBB as a possible secondary cause.", [ev_note("LBBB"), ev(qrs, "> 120 ms")]);
        notes_used.push("note \"known LBBB\" added LBBB as a secondary cause".into());
    }
    if ctx.paced {
        s.say("The clinical note mentions pacing; this engine does not detect pacing spikes, so a paced rhythm is taken from the note.", [ev_note("pacing")]);
        notes_used.push("note mentioning pacing added a paced rhythm as a secondary cause".into());
    }
    let axis = &m.qrs_axis_deg;
    match axis.value {
        Some(a) => {
            let cat = if (-30.0..=90.0).contains(&a) {
                "normal (−30° to +90°)"
            } else if (-90.0..-30.0).contains(&a) {
                "left axis deviation (< −30°)"
            } else if a > 90.0 && a <= 180.0 {
                "right axis deviation (> +90°)"
            } else {
                "extreme axis (−90° to −180°)"
            };
            s.say(
                format!("The frontal QRS axis is {a:.0}°, {cat}."),
                [ev(axis, "−30° to +90°")],
            );
        }
        None => s.say(
            format!("The QRS axis cannot be measured: {}.", why(axis)),
            [ev(axis, "")],
        ),
    }
    for a in [&m.p_axis_deg, &m.t_axis_deg] {
        if a.value.is_some() {
            s.say(
                format!(
                    "{} axis {}.",
                    if a.id.starts_with('p') { "P" } else { "T" },
                    val(a)
                ),
                [ev(a, "")],
            );
        }
    }
    s
}

/// Phase 3: chamber hypertrophy and voltage.
fn step_hypertrophy(f: &Findings<'_>) -> StepWriter {
    let m = f.m;
    let mut s = StepWriter::default();
    let sok = &m.sokolow_lyon_uv;
    match sok.value {
        Some(v) => s.say(
            format!(
                "Sokolow–Lyon voltage (SV1 + RV5/6) is {}, {} 3.5 mV.",
                mv(v),
                if v > SOKOLOW_UV { "above" } else { "not above" }
            ),
            [ev(sok, "> 3.5 mV (35 mm)")],
        ),
        None => s.say(
            format!("Sokolow–Lyon voltage cannot be computed: {}.", why(sok)),
            [ev(sok, "")],
        ),
    }
    for (l, th, label) in [
        (StandardLead::I, R_I_UV, "1.5 mV"),
        (StandardLead::AVL, R_AVL_UV, "1.1 mV"),
    ] {
        if let Some(x) = m.lead(l)
            && let Some(v) = x.r_amplitude_uv.value
        {
            s.say(
                format!(
                    "R in {} is {}, {} {label}.",
                    l.name(),
                    mv(v),
                    if v > th { "above" } else { "not above" }
                ),
                [ev(&x.r_amplitude_uv, &format!("> {label}"))],
            );
        }
    }
    if m.cornell_uv.value.is_some() {
        s.say(format!("Cornell voltage (R aVL + S V3) is {} (reference > 2.8 mV men, > 2.0 mV women; sex not used).", val(&m.cornell_uv)), [ev(&m.cornell_uv, "> 2.8 mV men / > 2.0 mV women")]);
    }
    if f.lvh {
        s.say(
            "Voltage criteria for left ventricular hypertrophy are met.",
            [ev(sok, "> 3.5 mV")],
        );
        if !f.strain_leads.is_empty() {
            s.say(
                format!("T-wave inversion in the lateral leads {} with LVH voltage is the strain pattern.", f.strain_leads.join(", ")),
                f.strain_leads.iter().filter_map(|n| m.leads.iter().find(|l| l.lead == *n)).map(|l| ev(&l.t_depth_uv, ">= 0.1 mV")).collect::<Vec<_>>(),
            );
        }
    } else {
        s.say(
            "No voltage criterion for left ventricular hypertrophy is met.",
            [
                ev(sok, "> 3.5 mV"),
                ev_flag(
                    "lvh",
                    None,
                    Some(0.0),
                    "SV1+RV5/6 > 3.5 mV, R(I) > 1.5 mV, R(aVL) > 1.1 mV",
                ),
            ],
        );
    }
    if let Some(ii) = m.lead(StandardLead::II)
        && let Some(p) = ii.p_amplitude_uv.value
        && p > P_TALL_UV
    {
        s.say(
            format!(
                "P in II is {}, above 0.25 mV: right atrial abnormality.",
                mv(p)
            ),
            [ev(&ii.p_amplitude_uv, "> 0.25 mV")],
        );
    }
    if let Some(p) = m.p_ms.value
        && p > P_WIDE_MS
    {
        s.say(
            format!("P duration is {p:.0} ms, above 120 ms: left atrial abnormality."),
            [ev(&m.p_ms, "> 120 ms")],
        );
    }
    s
}

fn lead_list(ls: &[&LeadMeasurements], f: fn(&LeadMeasurements) -> &Measured) -> String {
    ls.iter()
        .map(|l| format!("{} {}", l.lead, val(f(l))))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Phase 4 for a full reading: ischaemia, infarction and mimics.
fn step_ischemia(f: &Findings<'_>) -> StepWriter {
    let mut s = StepWriter::default();
    let ste_names = names(&f.ste);
    if f.ste.is_empty() {
        s.say(
            "No ST elevation reaches 1 mm in a limb lead or 2 mm in a precordial lead.",
            f.m.leads
                .iter()
                .filter(|l| l.quality.usable())
                .map(|l| {
                    ev(
                        &l.st_j_uv,
                        if is_precordial(&l.lead) {
                            ">= 0.2 mV"
                        } else {
                            ">= 0.1 mV"
                        },
                    )
                })
                .take(12)
                .collect::<Vec<_>>(),
        );
    } else {
        let contig = contiguous(&ste_names);
        s.say(
            format!(
                "ST elevation at J: {}{}.",
                lead_list(&f.ste, |l| &l.st_j_uv),
                if contig {
                    ", in contiguous leads"
                } else {
                    ", not in contiguous leads"
                }
            ),
            f.ste
                .iter()
                .map(|l| {
                    ev(
                        &l.st_j_uv,
                        if is_precordial(&l.lead) {
                            ">= 0.2 mV"
                        } else {
                            ">= 0.1 mV"
                        },
                    )
                })
                .collect::<Vec<_>>(),
        );
    }
    if !f.std.is_empty() {
        s.say(
            format!(
                "ST depression at J+60 ms: {}.",
                lead_list(&f.std, |l| &l.st_j60_uv)
            ),
            f.std
                .iter()
                .map(|l| ev(&l.st_j60_uv, "<= −0.05 mV"))
                .collect::<Vec<_>>(),
        );
    }
    let q_names = names(&f.q);
    if f.q.is_empty() {
        s.say(
            "No pathological Q waves (> 30 ms or > 0.1 mV).",
            [ev_flag(
                "pathological_q",
                None,
                Some(0.0),
                "> 30 ms or > 0.1 mV",
            )],
        );
    } else {
        s.say(
            format!(
                "Q waves meeting the pathological threshold in {}{}.",
                lead_list(&f.q, |l| &l.q_amplitude_uv),
                if contiguous(&q_names) {
                    " (contiguous leads)"
                } else {
                    " (isolated, not contiguous)"
                }
            ),
            f.q.iter()
                .flat_map(|l| {
                    [
                        ev(&l.q_duration_ms, "> 30 ms"),
                        ev(&l.q_amplitude_uv, "deeper than 0.1 mV"),
                    ]
                })
                .collect::<Vec<_>>(),
        );
    }
    if f.twi.is_empty() {
        s.say(
            "No T-wave inversion of 1 mm or more outside aVR.",
            [ev_flag(
                "t_inversion",
                None,
                Some(0.0),
                "negative T >= 0.1 mV",
            )],
        );
    } else {
        s.say(
            format!(
                "T-wave inversion in {}.",
                lead_list(&f.twi, |l| &l.t_depth_uv)
            ),
            f.twi
                .iter()
                .map(|l| ev(&l.t_depth_uv, ">= 0.1 mV"))
                .collect::<Vec<_>>(),
        );
    }
    if !f.variant_twi.is_empty() {
        s.say(
            format!(
                "T inversion in {} alone is a normal variant and is not counted.",
                names(&f.variant_twi).join(" and ")
            ),
            f.variant_twi
                .iter()
                .map(|l| ev(&l.t_depth_uv, "isolated V1 or III"))
                .collect::<Vec<_>>(),
        );
    }
    let mimics = mimic_list(f, &NoteContext::default());
    if !mimics.is_empty() && (!f.twi.is_empty() || !f.std.is_empty() || !f.ste.is_empty()) {
        s.say(
            format!(
                "Repolarisation changes may be secondary to {}.",
                mimics.join(", ")
            ),
            [
                ev(&f.m.qrs_ms, "> 120 ms"),
                ev(&f.m.sokolow_lyon_uv, "> 3.5 mV"),
            ],
        );
    }
    s
}

fn mimic_list(f: &Findings<'_>, ctx: &NoteContext) -> Vec<&'static str> {
    let mut v = Vec::new();
    if f.lbbb || ctx.known_lbbb {
        v.push("left bundle branch block");
    }
    if f.rbbb || ctx.known_rbbb {
        v.push("right bundle branch block");
    }
    if f.ivcd {
        v.push("intraventricular conduction delay");
    }
    if !f.strain_leads.is_empty() || (ctx.lvh && !f.twi.is_empty()) {
        v.push("LVH with strain");
    }
    if f.pre_excitation || ctx.pre_excitation {
        v.push("pre-excitation");
    }
    if ctx.paced {
        v.push("paced rhythm");
    }
    v
}

/// Phase 5: electrolytes and QT.
fn step_qt(f: &Findings<'_>, ctx: &NoteContext, notes_used: &mut Vec<String>) -> StepWriter {
    let m = f.m;
    let mut s = StepWriter::default();
    let qt = &m.qt_ms;
    let b = &m.qtc_bazett_ms;
    match (qt.value, b.value) {
        (Some(q), Some(c)) => {
            let cat = if c > QTC_MARKED_MS {
                "markedly prolonged (> 500 ms)"
            } else if c > QTC_NORMAL_MS {
                "prolonged (> 440 ms)"
            } else if c < QTC_SHORT_MS {
                "short (< 350 ms)"
            } else {
                "normal (≤ 440 ms)"
            };
            s.say(
                format!(
                    "QT is {q:.0} ms; QTc is {c:.0} ms by Bazett and {} by Fridericia: {cat}.",
                    val(&m.qtc_fridericia_ms)
                ),
                [
                    ev(qt, ""),
                    ev(b, "<= 440 ms"),
                    ev(&m.qtc_fridericia_ms, "<= 440 ms"),
                ],
            );
        }
        _ => s.say(
            format!("QT cannot be measured: {}.", why(qt)),
            [ev(qt, ""), ev(b, "")],
        ),
    }
    let peaked: Vec<&LeadMeasurements> = m
        .leads
        .iter()
        .filter(|l| l.quality.usable())
        .filter(|l| {
            let th = if is_precordial(&l.lead) {
                PEAKED_T_PRECORDIAL_UV
            } else {
                PEAKED_T_LIMB_UV
            };
            l.t_amplitude_uv.value.is_some_and(|v| v > th)
        })
        .collect();
    if peaked.is_empty() {
        s.say(
            "No tall peaked T waves suggesting hyperkalaemia.",
            [ev_flag(
                "t_amplitude_max",
                None,
                None,
                "> 1.0 mV precordial, > 0.6 mV limb",
            )],
        );
    } else {
        s.say(
            format!(
                "Tall T waves in {}: consider hyperkalaemia.",
                lead_list(&peaked, |l| &l.t_amplitude_uv)
            ),
            peaked
                .iter()
                .map(|l| ev(&l.t_amplitude_uv, "> 1.0 mV precordial, > 0.6 mV limb"))
                .collect::<Vec<_>>(),
        );
    }
    if ctx.digoxin {
        let text = if f.std.is_empty() {
            "The note mentions digoxin; no ST depression is measured, so no digoxin effect is seen."
        } else {
            "The note mentions digoxin: the ST depression is read as a possible digoxin (scooping) effect rather than ischaemia."
        };
        s.say(text, [ev_note("digoxin"), ev(&m.qtc_bazett_ms, "")]);
        notes_used.push("note \"digoxin\" changed how ST depression is read".into());
    }
    s
}

/// The full reading (`interpret`).
pub(crate) fn interpret(m: &Measurements, ctx: &NoteContext) -> Reading {
    let f = findings(m);
    let mut notes_used = Vec::new();
    let s1 = step_rate_rhythm(m);
    let s2 = step_conduction(&f, ctx, &mut notes_used);
    let s3 = step_hypertrophy(&f);
    let s4 = step_ischemia(&f);
    let s5 = step_qt(&f, ctx, &mut notes_used);
    let mut labels: Vec<String> = Vec::new();
    let r = &m.rhythm;
    if r.af_suggested {
        labels.push("atrial fibrillation (suggested)".into());
    } else if r.label != "undetermined" {
        labels.push(r.label.clone());
    }
    if r.ventricular_ectopics > 0 {
        labels.push("premature ventricular complexes".into());
    }
    if r.supraventricular_ectopics > 0 {
        labels.push("premature atrial complexes".into());
    }
    if m.pr_ms.value.is_some_and(|p| p > PR_MAX_MS) {
        labels.push("first-degree AV block".into());
    }
    if f.rbbb {
        labels.push("right bundle branch block".into());
    } else if f.lbbb {
        labels.push("left bundle branch block".into());
    } else if f.ivcd {
        labels.push("nonspecific intraventricular conduction delay".into());
    } else if f.incomplete {
        labels.push("incomplete bundle branch block or intraventricular delay".into());
    }
    if f.pre_excitation {
        labels.push("possible pre-excitation".into());
    }
    if let Some(a) = m.qrs_axis_deg.value {
        if (-90.0..-30.0).contains(&a) {
            labels.push("left axis deviation".into());
        } else if a > 90.0 && a <= 180.0 {
            labels.push("right axis deviation".into());
        } else if !(-30.0..=90.0).contains(&a) {
            labels.push("extreme axis deviation".into());
        }
    }
    if f.lvh {
        labels.push(if f.strain_leads.is_empty() {
            "left ventricular hypertrophy".into()
        } else {
            "left ventricular hypertrophy with strain".into()
        });
    }
    if !f.ste.is_empty() && contiguous(&names(&f.ste)) {
        labels.push(format!("ST elevation in {}", names(&f.ste).join(", ")));
    }
    if !f.std.is_empty() {
        labels.push(format!("ST depression in {}", names(&f.std).join(", ")));
    }
    if !f.q.is_empty() && contiguous(&names(&f.q)) {
        labels.push(format!(
            "pathological Q waves in {}",
            names(&f.q).join(", ")
        ));
    }
    if !f.twi.is_empty() {
        labels.push(format!("T-wave inversion in {}", names(&f.twi).join(", ")));
    }
    if let Some(c) = m.qtc_bazett_ms.value {
        if c > QTC_NORMAL_MS {
            labels.push("prolonged QT".into());
        } else if c < QTC_SHORT_MS {
            labels.push("short QT".into());
        }
    }
    let normal_rhythm = matches!(r.label.as_str(), "sinus rhythm");
    if normal_rhythm && labels.len() == 1 && m.quality.is_empty() {
        labels.push("normal ECG".into());
    }
    if labels.is_empty() {
        labels.push("no reliable reading (see quality)".into());
    }
    let mut s6 = StepWriter::default();
    s6.say(
        format!("Putting the phases together: {}.", labels.join("; ")),
        [
            ev(&m.heart_rate_bpm, ""),
            ev(&m.qrs_ms, ""),
            ev(&m.qtc_bazett_ms, ""),
        ],
    );
    if ctx.chest_pain && (f.ste.is_empty() && f.std.is_empty() && f.twi.is_empty()) {
        s6.say("The note reports chest pain, but this tracing shows no ST or T change; a normal ECG does not exclude an acute coronary syndrome, so serial ECGs are advised.", [ev_note("chest pain")]);
        notes_used.push("note \"chest pain\" added a caution to the final reasoning".into());
    } else if ctx.chest_pain {
        s6.say("With the chest pain in the note, the ST/T changes above deserve urgent clinical correlation.", [ev_note("chest pain")]);
        notes_used.push("note \"chest pain\" raised the urgency of the ST/T findings".into());
    }
    let summary = format!("Protocol reading from measurements: {}.", labels.join("; "));
    Reading {
        steps: vec![s1, s2, s3, s4, s5, s6],
        summary,
        answer: labels,
        notes_used,
    }
}

/// The T-wave-inversion triage (`twi`): is the inversion ischaemic? yes/no.
pub(crate) fn twi(m: &Measurements, ctx: &NoteContext) -> Reading {
    let f = findings(m);
    let mut notes_used = Vec::new();
    let s1 = step_rate_rhythm(m);
    let s2 = step_conduction(&f, ctx, &mut notes_used);
    let s3 = step_hypertrophy(&f);
    let s5 = step_qt(&f, ctx, &mut notes_used);
    let mut s4 = StepWriter::default();
    let twi_names = names(&f.twi);
    if f.twi.is_empty() {
        s4.say(
            "No lead outside aVR has a T wave inverted by 1 mm or more.",
            m.leads
                .iter()
                .filter(|l| l.quality.usable())
                .map(|l| ev(&l.t_amplitude_uv, "negative, >= 0.1 mV deep"))
                .collect::<Vec<_>>(),
        );
    } else {
        let detail: Vec<String> = f
            .twi
            .iter()
            .map(|l| {
                let sym =
                    l.t_symmetry_ratio
                        .value
                        .map_or("symmetry not measurable".to_string(), |r| {
                            if (SYMMETRIC_T.0..=SYMMETRIC_T.1).contains(&r) {
                                format!("symmetric, limb ratio {r:.2}")
                            } else {
                                format!("asymmetric, limb ratio {r:.2}")
                            }
                        });
                format!("{} {} deep ({sym})", l.lead, val(&l.t_depth_uv))
            })
            .collect();
        s4.say(
            format!("T-wave inversion in {}.", detail.join("; ")),
            f.twi
                .iter()
                .flat_map(|l| {
                    [
                        ev(&l.t_depth_uv, ">= 0.1 mV"),
                        ev(&l.t_symmetry_ratio, "0.77–1.3 symmetric"),
                    ]
                })
                .collect::<Vec<_>>(),
        );
    }
    let deep_sym: Vec<&LeadMeasurements> = f
        .twi
        .iter()
        .copied()
        .filter(|l| l.t_depth_uv.value.is_some_and(|d| d >= DEEP_T_UV))
        .filter(|l| {
            l.t_symmetry_ratio
                .value
                .is_some_and(|r| (SYMMETRIC_T.0..=SYMMETRIC_T.1).contains(&r))
        })
        .collect();
    let deep_sym_contig = contiguous(&names(&deep_sym));
    if deep_sym_contig {
        s4.say(format!("Deep (≥ 2 mm) symmetric inversion in contiguous leads {}: a primary, ischaemic pattern.", names(&deep_sym).join(", ")), deep_sym.iter().map(|l| ev(&l.t_depth_uv, ">= 0.2 mV, symmetric")).collect::<Vec<_>>());
    } else if !f.twi.is_empty() {
        s4.say(
            "The inversion is not deep and symmetric in two contiguous leads.",
            f.twi
                .iter()
                .map(|l| ev(&l.t_symmetry_ratio, "0.77–1.3 and >= 0.2 mV deep"))
                .collect::<Vec<_>>(),
        );
    }
    let v2 = m.lead(StandardLead::V2);
    let v3 = m.lead(StandardLead::V3);
    let wellens = match (v2, v3) {
        (Some(a), Some(b)) => [a, b].iter().all(|l| {
            (inverted(l) || l.t_polarity == Some(TPolarity::Biphasic))
                && l.pathological_q != Some(true)
                && l.st_j_uv.value.is_some_and(|v| v < STE_LIMB_UV)
        }),
        _ => false,
    };
    if wellens {
        let ls = [v2, v3];
        s4.say("V2 and V3 both show inverted or biphasic T waves without Q waves or significant ST elevation: a Wellens-like pattern (proximal LAD).", ls.iter().flatten().flat_map(|l| [ev(&l.t_amplitude_uv, "negative or biphasic"), ev(&l.st_j_uv, "< 0.1 mV"), ev(&l.q_duration_ms, "<= 30 ms")]).collect::<Vec<_>>());
    }
    let std_contig = contiguous(&names(&f.std));
    if std_contig {
        s4.say(
            format!(
                "ST depression in contiguous leads {}: a primary pattern.",
                names(&f.std).join(", ")
            ),
            f.std
                .iter()
                .map(|l| ev(&l.st_j60_uv, "<= −0.05 mV"))
                .collect::<Vec<_>>(),
        );
    } else {
        s4.say(
            "No ST depression of 0.5 mm in two contiguous leads.",
            [ev_flag(
                "st_depression",
                None,
                Some(f.std.len() as f64),
                "<= −0.05 mV at J+60 in 2 contiguous leads",
            )],
        );
    }
    // Secondary causes.
    let mut secondary = mimic_list(&f, ctx);
    if ctx.digoxin && !f.std.is_empty() {
        secondary.push("digoxin effect");
    }
    if ctx.known_lbbb || ctx.known_rbbb || ctx.lvh || ctx.pre_excitation || ctx.paced {
        notes_used.push("the clinical note added a secondary cause of T inversion".into());
    }
    if secondary.is_empty() {
        s4.say("No secondary cause (bundle branch block, LVH with strain, pre-excitation, paced rhythm, digoxin) is present.", [ev(&m.qrs_ms, "> 120 ms"), ev(&m.sokolow_lyon_uv, "> 3.5 mV"), ev(&m.pr_ms, "< 120 ms")]);
    } else {
        s4.say(
            format!(
                "Secondary causes of T inversion present: {}.",
                secondary.join(", ")
            ),
            [
                ev(&m.qrs_ms, "> 120 ms"),
                ev(&m.sokolow_lyon_uv, "> 3.5 mV"),
            ],
        );
    }
    let contiguous_twi = contiguous(&twi_names);
    let mut primary = deep_sym_contig || wellens || std_contig;
    let mut s6 = StepWriter::default();
    if ctx.chest_pain && !primary && contiguous_twi {
        primary = true;
        s6.say(
            format!("The note reports chest pain: in that context T inversion in contiguous leads ({}) is treated as a primary pattern even though it is not deep and symmetric.", twi_names.join(", ")),
            [ev_note("chest pain")],
        );
        notes_used.push(
            "note \"chest pain\" changed the decision: contiguous T inversion counted as primary"
                .into(),
        );
    }
    let (answer, reason) = if f.twi.is_empty() {
        (
            "no",
            "there is no T-wave inversion to call ischaemic".to_string(),
        )
    } else if primary && secondary.is_empty() {
        (
            "yes",
            "a primary pattern is present and no secondary cause explains it".to_string(),
        )
    } else if primary && wellens {
        (
            "yes",
            format!(
                "the Wellens-like pattern in V2–V3 is not explained by {}",
                secondary.join(", ")
            ),
        )
    } else if primary {
        (
            "no",
            format!(
                "the inversion is better explained by {}",
                secondary.join(", ")
            ),
        )
    } else if !secondary.is_empty() {
        (
            "no",
            format!(
                "the inversion is explained by {}, and no primary pattern is present",
                secondary.join(", ")
            ),
        )
    } else {
        ("no", "the inversion shows no primary ischaemic pattern (not deep and symmetric in contiguous leads, no Wellens pattern, no contiguous ST depression)".to_string())
    };
    s6.say(
        format!(
            "Decision: {answer}, because {reason}. This is a rule-based answer with no probability."
        ),
        f.twi
            .iter()
            .map(|l| ev(&l.t_depth_uv, ">= 0.1 mV"))
            .chain([ev_flag(
                "twi.primary_pattern",
                None,
                Some(f64::from(u8::from(primary))),
                "deep symmetric contiguous TWI, Wellens-like V2–V3, or contiguous ST depression",
            )])
            .collect::<Vec<_>>(),
    );
    let summary = format!("T-wave inversion triage: {answer} — {reason}.");
    Reading {
        steps: vec![s1, s2, s3, s4, s5, s6],
        summary,
        answer: vec![answer.to_string()],
        notes_used,
    }
}
