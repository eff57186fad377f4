//! Extraction of checkable claims from a reasoning trace (ECG-R1's `<think>` text, or any
//! free-text reading): numbers with units, normal/abnormal words, and lead lists.
//!
//! The extractor is deliberately conservative: it reports what a sentence clearly states and
//! leaves the rest alone, because a false "contradicted" flag costs a clinician's trust.

use serde::Serialize;

use crate::record::StandardLead;

/// What a claim is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimKind {
    HeartRate,
    Rhythm,
    PrInterval,
    QrsDuration,
    QtInterval,
    Qtc,
    Axis,
    BundleBranchBlock,
    Hypertrophy,
    StElevation,
    StDepression,
    TWaveInversion,
    PathologicalQ,
    /// A statement about change since the prior ECG ("unchanged from prior", "new inversion"),
    /// checked against the serial comparison (see [`super::serial`]).
    Serial,
}

impl ClaimKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::HeartRate => "heart_rate",
            Self::Rhythm => "rhythm",
            Self::PrInterval => "pr_interval",
            Self::QrsDuration => "qrs_duration",
            Self::QtInterval => "qt_interval",
            Self::Qtc => "qtc",
            Self::Axis => "axis",
            Self::BundleBranchBlock => "bundle_branch_block",
            Self::Hypertrophy => "hypertrophy",
            Self::StElevation => "st_elevation",
            Self::StDepression => "st_depression",
            Self::TWaveInversion => "t_wave_inversion",
            Self::PathologicalQ => "pathological_q",
            Self::Serial => "serial",
        }
    }
}

/// A word the claim uses to characterise the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Qualifier {
    Normal,
    Prolonged,
    Short,
    Wide,
    Narrow,
    Bradycardia,
    Tachycardia,
    LeftDeviation,
    RightDeviation,
    Sinus,
    AtrialFibrillation,
    AtrialFlutter,
    Irregular,
    Regular,
    Left,
    Right,
    Incomplete,
}

/// One checkable statement.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Claim {
    /// The sentence (or clause) it came from, as written.
    pub text: String,
    pub kind: ClaimKind,
    /// The stated number in canonical units: bpm, ms, degrees, or mm (10 mm = 1 mV).
    pub value: Option<f64>,
    /// An upper bound when the text gave a range ("QRS 80–100 ms").
    pub value_high: Option<f64>,
    pub qualifier: Option<Qualifier>,
    pub leads: Vec<StandardLead>,
    /// "no ST elevation", "without bundle branch block".
    pub negated: bool,
}

/// Splits a trace into sentences: at newlines, semicolons, and full stops followed by a space
/// and not preceded by a digit-dot-digit (so "0.12 s" stays whole).
pub fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let boundary = match c {
            '\n' | ';' => true,
            '.' => {
                let next = chars.get(i + 1).copied();
                let prev = if i > 0 {
                    chars.get(i - 1).copied()
                } else {
                    None
                };
                let next_is_digit = next.is_some_and(|n| n.is_ascii_digit());
                let prev_is_digit = prev.is_some_and(|p| p.is_ascii_digit());
                !(prev_is_digit && next_is_digit) && next.is_none_or(char::is_whitespace)
            }
            _ => false,
        };
        if boundary {
            if c == '.' {
                current.push(c);
            }
            push_sentence(&mut out, &mut current);
        } else {
            current.push(c);
        }
    }
    push_sentence(&mut out, &mut current);
    out
}

fn push_sentence(out: &mut Vec<String>, current: &mut String) {
    let s = current.trim().trim_start_matches(['-', '*', '•']).trim();
    let s = s.trim_matches('*').trim();
    if s.chars().any(char::is_alphanumeric) {
        out.push(s.to_string());
    }
    current.clear();
}

/// Normalises a sentence for matching: lower case, dashes and degree signs unified, ECG
/// abbreviations spaced out.
pub(crate) fn normalise(s: &str) -> String {
    s.to_lowercase()
        .replace(['–', '—', '‐', '−'], "-")
        .replace("st-segment", "st segment")
        .replace("st-elevation", "st elevation")
        .replace("st-depression", "st depression")
        .replace("t-wave", "t wave")
        .replace("q-wave", "q wave")
        .replace('°', " degrees ")
        .replace("µv", "uv")
        .replace(['(', ')', ','], " , ")
        .replace(':', " : ")
        .replace('=', " = ")
}

/// Extracts every claim from a trace.
pub fn extract(text: &str) -> Vec<Claim> {
    sentences(text)
        .iter()
        .flat_map(|s| extract_sentence(s))
        .collect()
}

fn extract_sentence(sentence: &str) -> Vec<Claim> {
    let norm = normalise(sentence);
    let mut claims = Vec::new();
    let mut push =
        |kind, value: Option<(f64, Option<f64>)>, qualifier, leads: Vec<StandardLead>, negated| {
            claims.push(Claim {
                text: sentence.to_string(),
                kind,
                value: value.map(|v| v.0),
                value_high: value.and_then(|v| v.1),
                qualifier,
                leads,
                negated,
            });
        };

    // Heart rate.
    if let Some(v) = number_near(
        &norm,
        &[
            "heart rate",
            "ventricular rate",
            "rate of",
            "rate is",
            "rate",
        ],
        &["bpm", "beats per minute", "/min", "beats/min"],
    )
    .or_else(|| number_before_unit(&norm, &["bpm", "beats per minute", "beats/min"]))
    {
        push(ClaimKind::HeartRate, Some(v), None, Vec::new(), false);
    } else if let Some(q) = first_word(
        &norm,
        &[
            ("tachycardi", Qualifier::Tachycardia),
            ("bradycardi", Qualifier::Bradycardia),
            ("normal rate", Qualifier::Normal),
            ("rate is normal", Qualifier::Normal),
        ],
    ) {
        push(
            ClaimKind::HeartRate,
            None,
            Some(q),
            Vec::new(),
            negated_before(&norm, q_word(q)),
        );
    }

    // Rhythm.
    for (word, q) in [
        ("atrial fibrillation", Qualifier::AtrialFibrillation),
        ("atrial flutter", Qualifier::AtrialFlutter),
        ("sinus rhythm", Qualifier::Sinus),
        ("sinus tachycardia", Qualifier::Sinus),
        ("sinus bradycardia", Qualifier::Sinus),
        ("irregularly irregular", Qualifier::Irregular),
    ] {
        if norm.contains(word) {
            push(
                ClaimKind::Rhythm,
                None,
                Some(q),
                Vec::new(),
                negated_before(&norm, word),
            );
            break;
        }
    }

    // Intervals.
    let qtc_keys = ["qtc", "corrected qt"];
    let interval_specs: [(ClaimKind, &[&str]); 4] = [
        (ClaimKind::PrInterval, &["pr interval", "pr "]),
        (
            ClaimKind::QrsDuration,
            &["qrs duration", "qrs complex", "qrs width", "qrs "],
        ),
        (ClaimKind::Qtc, &qtc_keys),
        (ClaimKind::QtInterval, &["qt interval", "qt "]),
    ];
    for (kind, keys) in interval_specs {
        let Some(pos) = keys.iter().filter_map(|k| find_word(&norm, k)).min() else {
            continue;
        };
        // "qt " must not be the start of "qtc", and "QRS axis" is not a duration.
        if kind == ClaimKind::QtInterval && qtc_keys.iter().any(|k| norm[pos..].starts_with(k)) {
            continue;
        }
        if norm[pos..]
            .split_whitespace()
            .nth(1)
            .is_some_and(|w| w.starts_with("axis"))
        {
            continue;
        }
        let tail = clause_from(&norm, pos);
        let value = duration_ms_in(tail);
        let qualifier = first_word(
            tail,
            &[
                ("prolonged", Qualifier::Prolonged),
                ("long", Qualifier::Prolonged),
                ("short", Qualifier::Short),
                ("wide", Qualifier::Wide),
                ("broad", Qualifier::Wide),
                ("narrow", Qualifier::Narrow),
                ("normal", Qualifier::Normal),
                ("within normal", Qualifier::Normal),
            ],
        )
        .or_else(|| {
            // "wide QRS", "prolonged QTc": the adjective before the noun.
            let head = &norm[..pos];
            let last = head.split_whitespace().last().unwrap_or("");
            match last {
                "prolonged" | "long" => Some(Qualifier::Prolonged),
                "short" => Some(Qualifier::Short),
                "wide" | "broad" => Some(Qualifier::Wide),
                "narrow" => Some(Qualifier::Narrow),
                "normal" => Some(Qualifier::Normal),
                _ => None,
            }
        });
        if value.is_some() || qualifier.is_some() {
            push(kind, value, qualifier, Vec::new(), false);
        }
    }
    if norm.contains("first-degree av block")
        || norm.contains("first degree av block")
        || norm.contains("1st degree av block")
    {
        push(
            ClaimKind::PrInterval,
            None,
            Some(Qualifier::Prolonged),
            Vec::new(),
            negated_before(&norm, "degree av block"),
        );
    }

    // Axis (the QRS axis; P and T axes are other measurements).
    if let Some(pos) = find_word(&norm, "axis")
        .filter(|&p| !matches!(norm[..p].split_whitespace().last(), Some("p" | "t")))
    {
        let around = &norm[pos.saturating_sub(40)..];
        let q = if norm.contains("left axis deviation") || norm.contains("leftward axis") {
            Some(Qualifier::LeftDeviation)
        } else if norm.contains("right axis deviation") || norm.contains("rightward axis") {
            Some(Qualifier::RightDeviation)
        } else if norm.contains("normal axis")
            || around.contains("axis is normal")
            || around.contains("normal qrs axis")
        {
            Some(Qualifier::Normal)
        } else {
            None
        };
        let value = signed_number_before(clause_from(&norm, pos), &["degrees", "deg"]);
        if value.is_some() || q.is_some() {
            push(
                ClaimKind::Axis,
                value.map(|v| (v, None)),
                q,
                Vec::new(),
                false,
            );
        }
    }

    // Bundle branch block.
    for (words, q) in [
        (&["right bundle branch block", "rbbb"][..], Qualifier::Right),
        (&["left bundle branch block", "lbbb"][..], Qualifier::Left),
        (&["bundle branch block", "bbb"][..], Qualifier::Normal),
    ] {
        if let Some(word) = words.iter().find(|w| find_word(&norm, w).is_some()) {
            let incomplete = norm.contains(&format!("incomplete {word}"));
            let qualifier = if q == Qualifier::Normal {
                None
            } else {
                Some(q)
            };
            let negated = negated_before(&norm, word);
            claims_push_bbb(&mut push, qualifier, incomplete, negated);
            break;
        }
    }

    // Hypertrophy.
    for (words, q) in [
        (
            &["left ventricular hypertrophy", "lvh"][..],
            Qualifier::Left,
        ),
        (
            &["right ventricular hypertrophy", "rvh"][..],
            Qualifier::Right,
        ),
    ] {
        if let Some(word) = words.iter().find(|w| find_word(&norm, w).is_some()) {
            let value = number_before_unit(&norm, &["mm"]);
            push(
                ClaimKind::Hypertrophy,
                value,
                Some(q),
                Vec::new(),
                negated_before(&norm, word),
            );
        }
    }

    // ST deviation, T inversion, Q waves: with their leads.
    let lead_specs: [(ClaimKind, &[&str]); 4] = [
        (
            ClaimKind::StElevation,
            &[
                "st elevation",
                "st segment elevation",
                "elevated st",
                "st elevations",
            ],
        ),
        (
            ClaimKind::StDepression,
            &[
                "st depression",
                "st segment depression",
                "depressed st",
                "st depressions",
            ],
        ),
        (
            ClaimKind::TWaveInversion,
            &[
                "t wave inversion",
                "t waves inversion",
                "inverted t wave",
                "t wave inversions",
                "twi",
                "inverted t waves",
                "t waves are inverted",
                "t waves inverted",
                "negative t wave",
            ],
        ),
        (
            ClaimKind::PathologicalQ,
            &["pathological q", "pathologic q", "q waves", "q wave"],
        ),
    ];
    for (kind, words) in lead_specs {
        let Some((pos, word)) = words
            .iter()
            .filter_map(|w| find_word(&norm, w).map(|p| (p, *w)))
            .min_by_key(|(p, _)| *p)
        else {
            continue;
        };
        let tail = clause_from(&norm, pos);
        let mut leads = parse_leads(tail);
        if leads.is_empty() {
            // "in V1-V3, the T waves are inverted": leads before the phrase.
            leads = parse_leads(&norm[..pos]);
        }
        let value = if matches!(
            kind,
            ClaimKind::StElevation | ClaimKind::StDepression | ClaimKind::TWaveInversion
        ) {
            amplitude_mm_in(&norm)
        } else {
            None
        };
        push(kind, value, None, leads, negated_before(&norm, word));
    }
    claims
}

fn claims_push_bbb(
    push: &mut impl FnMut(
        ClaimKind,
        Option<(f64, Option<f64>)>,
        Option<Qualifier>,
        Vec<StandardLead>,
        bool,
    ),
    side: Option<Qualifier>,
    incomplete: bool,
    negated: bool,
) {
    let qualifier = if incomplete {
        Some(Qualifier::Incomplete)
    } else {
        side
    };
    push(
        ClaimKind::BundleBranchBlock,
        None,
        qualifier,
        Vec::new(),
        negated,
    );
}

fn q_word(q: Qualifier) -> &'static str {
    match q {
        Qualifier::Tachycardia => "tachycardi",
        Qualifier::Bradycardia => "bradycardi",
        _ => "normal",
    }
}

/// Finds `word` at a word boundary.
pub(crate) fn find_word(hay: &str, word: &str) -> Option<usize> {
    let mut start = 0;
    while let Some(rel) = hay[start..].find(word) {
        let pos = start + rel;
        let before_ok = pos == 0
            || !hay[..pos]
                .chars()
                .next_back()
                .is_some_and(char::is_alphanumeric);
        let end = pos + word.len();
        let after_ok = word.ends_with(' ')
            || end >= hay.len()
            || !hay[end..].chars().next().is_some_and(char::is_alphanumeric)
            || word.ends_with('i')
            || word.ends_with('q');
        if before_ok && after_ok {
            return Some(pos);
        }
        start = pos + word.len().max(1);
        if start >= hay.len() {
            break;
        }
    }
    None
}

/// The rest of the clause starting at `pos` (up to a sentence-internal break that starts a new
/// topic: " but ", " whereas ", " while ").
fn clause_from(s: &str, pos: usize) -> &str {
    let tail = &s[pos..];
    let end = [" but ", " whereas ", " while ", " although ", " however "]
        .iter()
        .filter_map(|b| tail.find(b))
        .min()
        .unwrap_or(tail.len());
    &tail[..end]
}

/// Is the phrase at `word` negated by a preceding "no", "without", "not", "absent", "negative for"?
pub(crate) fn negated_before(s: &str, word: &str) -> bool {
    let Some(pos) = s.find(word) else {
        return false;
    };
    let head = &s[..pos];
    // Look back within the same clause, across list commas and parentheses ("no secondary
    // cause (bundle branch block, LVH with strain …)" negates every item), up to ten words.
    let clause_start = [" but ", " whereas ", " while ", " although ", " however "]
        .iter()
        .filter_map(|b| head.rfind(b).map(|p| p + b.len()))
        .max()
        .unwrap_or(0);
    let window: Vec<&str> = head[clause_start..]
        .split_whitespace()
        .filter(|w| *w != ",")
        .collect();
    let recent = &window[window.len().saturating_sub(10)..];
    recent.iter().any(|w| {
        matches!(
            *w,
            "no" | "without"
                | "not"
                | "absent"
                | "absence"
                | "neither"
                | "nor"
                | "negative"
                | "denies"
                | "excluded"
        )
    }) || s[pos..]
        .split_whitespace()
        .take(6)
        .any(|w| matches!(w, "absent" | "excluded"))
}

fn first_word(s: &str, table: &[(&str, Qualifier)]) -> Option<Qualifier> {
    table
        .iter()
        .filter_map(|(w, q)| find_word(s, w).map(|p| (p, *q)))
        .min_by_key(|(p, _)| *p)
        .map(|(_, q)| q)
}

/// Tokens with their numeric values (a token "160ms" yields 160 and unit "ms").
fn tokens(s: &str) -> Vec<(String, Option<f64>)> {
    let mut out = Vec::new();
    for raw in s.split_whitespace() {
        let t = raw.trim_matches(|c: char| c == '.' || c == ',' || c == '~' || c == '≈');
        // Split a number glued to its unit ("160ms", "+60").
        let split = t
            .char_indices()
            .find(|(i, c)| {
                !(c.is_ascii_digit() || *c == '.' || (*i == 0 && (*c == '-' || *c == '+')))
            })
            .map_or(t.len(), |(i, _)| i);
        let (num, unit) = t.split_at(split);
        match num.parse::<f64>() {
            Ok(v) if !num.is_empty() && num != "-" && num != "+" => {
                out.push((num.to_string(), Some(v)));
                if !unit.is_empty() {
                    // A range glued together: "80-100" splits into 80 and "-100".
                    if let Some(rest) = unit.strip_prefix('-')
                        && let Ok(hi) = rest.trim_end_matches(char::is_alphabetic).parse::<f64>()
                    {
                        out.push(("-".into(), None));
                        out.push((hi.to_string(), Some(hi)));
                        let u = rest.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.');
                        if !u.is_empty() {
                            out.push((u.to_string(), None));
                        }
                    } else {
                        out.push((unit.to_string(), None));
                    }
                }
            }
            _ => out.push((t.to_string(), None)),
        }
    }
    out
}

/// A number (or range) followed within two tokens by one of `units`.
fn number_before_unit(s: &str, units: &[&str]) -> Option<(f64, Option<f64>)> {
    let toks = tokens(s);
    for (i, (_, v)) in toks.iter().enumerate() {
        let Some(v) = v else { continue };
        let (hi, j) = range_end(&toks, i);
        let rest: Vec<&str> = toks[j + 1..(j + 4).min(toks.len())]
            .iter()
            .map(|t| t.0.as_str())
            .collect();
        let joined = rest.join(" ");
        if units.iter().any(|u| joined.starts_with(u)) {
            return Some((*v, hi));
        }
    }
    None
}

/// For a number at `i`, an upper end of a range ("80 - 100", "80 to 100") and the index of the
/// last number token.
fn range_end(toks: &[(String, Option<f64>)], i: usize) -> (Option<f64>, usize) {
    if let (Some(sep), Some(next)) = (toks.get(i + 1), toks.get(i + 2))
        && (sep.0 == "-" || sep.0 == "to")
        && let Some(hi) = next.1
    {
        return (Some(hi), i + 2);
    }
    (None, i)
}

/// A number shortly after one of `keys`, optionally with one of `units` after it.
fn number_near(s: &str, keys: &[&str], units: &[&str]) -> Option<(f64, Option<f64>)> {
    let pos = keys.iter().filter_map(|k| find_word(s, k)).min()?;
    let tail = clause_from(s, pos);
    let toks = tokens(tail);
    for (i, (_, v)) in toks.iter().enumerate().take(8) {
        if let Some(v) = v {
            let (hi, j) = range_end(&toks, i);
            let next = toks.get(j + 1).map_or("", |t| t.0.as_str());
            if units.is_empty()
                || units
                    .iter()
                    .any(|u| next.starts_with(u.trim_start_matches('/')))
                || next.is_empty()
                || *v >= 20.0
            {
                return Some((*v, hi));
            }
        }
    }
    None
}

/// A duration in ms from the clause: "160 ms", "0.16 s", "160-180 ms"; bare numbers ≥ 20 are
/// read as ms (the way readings write "PR 160"), bare numbers < 2 as seconds.
fn duration_ms_in(s: &str) -> Option<(f64, Option<f64>)> {
    let toks = tokens(s);
    for (i, (_, v)) in toks.iter().enumerate().take(10) {
        let Some(v) = *v else { continue };
        let (hi, j) = range_end(&toks, i);
        let unit = toks.get(j + 1).map_or("", |t| t.0.as_str());
        let scale = match unit {
            u if u.starts_with("ms") || u.starts_with("msec") || u.starts_with("millisecond") => {
                1.0
            }
            "s" | "sec" | "second" | "seconds" => 1000.0,
            _ if v >= 20.0 => 1.0,
            _ if v > 0.0 && v < 2.0 => 1000.0,
            _ => continue,
        };
        return Some((v * scale, hi.map(|h| h * scale)));
    }
    None
}

/// A signed number before "degrees".
fn signed_number_before(s: &str, units: &[&str]) -> Option<f64> {
    number_before_unit(s, units).map(|v| v.0)
}

/// An amplitude in mm (1 mV = 10 mm, 1 mm = 100 µV) stated in the sentence, if any.
fn amplitude_mm_in(s: &str) -> Option<(f64, Option<f64>)> {
    let toks = tokens(s);
    for (i, (_, v)) in toks.iter().enumerate() {
        let Some(v) = *v else { continue };
        let (hi, j) = range_end(&toks, i);
        let unit = toks.get(j + 1).map_or("", |t| t.0.as_str());
        let scale = match unit {
            "mm" => 1.0,
            "mv" => 10.0,
            "uv" => 0.01,
            _ => continue,
        };
        return Some((v * scale, hi.map(|h| h * scale)));
    }
    None
}

/// Anatomical lead groups as readers name them.
const LEAD_GROUPS: &[(&str, &[StandardLead])] = {
    use StandardLead::{AVF, AVL, AVR, I, II, III, V1, V2, V3, V4, V5, V6};
    &[
        ("inferolateral", &[II, III, AVF, I, AVL, V5, V6]),
        ("anterolateral", &[V3, V4, V5, V6, I, AVL]),
        ("anteroseptal", &[V1, V2, V3, V4]),
        ("high lateral", &[I, AVL]),
        ("inferior", &[II, III, AVF]),
        ("lateral", &[I, AVL, V5, V6]),
        ("septal", &[V1, V2]),
        ("anterior", &[V3, V4]),
        ("precordial", &[V1, V2, V3, V4, V5, V6]),
        ("chest leads", &[V1, V2, V3, V4, V5, V6]),
        ("limb leads", &[I, II, III, AVR, AVL, AVF]),
    ]
};

/// Leads named in a clause: single leads, ranges ("V1-V4", "V1 to V4", "V2–V3", "v1-4"), and
/// groups ("inferior leads"). Returned in standard order without duplicates.
pub fn parse_leads(s: &str) -> Vec<StandardLead> {
    let mut text = normalise(s);
    let mut found = Vec::new();
    // Longer group names come first in the table; a matched name is cut out of the text so
    // "inferolateral" does not also count as "lateral".
    for (name, leads) in LEAD_GROUPS {
        if let Some(p) = find_word(&text, name) {
            found.extend_from_slice(leads);
            text.replace_range(p..p + name.len(), " ");
        }
    }
    merge(found, &parse_lead_tokens(&text))
}

fn merge(mut a: Vec<StandardLead>, b: &[StandardLead]) -> Vec<StandardLead> {
    a.extend_from_slice(b);
    let mut out: Vec<StandardLead> = StandardLead::STANDARD_ORDER
        .into_iter()
        .filter(|l| a.contains(l))
        .collect();
    out.dedup();
    out
}

fn parse_lead_tokens(s: &str) -> Vec<StandardLead> {
    let cleaned = s
        .replace(['/', ','], " , ")
        .replace(" to ", " - ")
        .replace(" through ", " - ")
        .replace(" and ", " , ");
    let spaced = cleaned.replace('-', " - ");
    let words: Vec<&str> = spaced.split_whitespace().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let Some(lead) = lead_token(words[i]) else {
            i += 1;
            continue;
        };
        // A range "V1 - V4" or "V1 - 4".
        if words.get(i + 1) == Some(&"-")
            && let Some(next) = words.get(i + 2)
        {
            let end = lead_token(next).or_else(|| precordial_number(next));
            if let (Some(a), Some(b)) = (precordial_index(lead), end.and_then(precordial_index)) {
                let (lo, hi) = (a.min(b), a.max(b));
                out.extend(
                    StandardLead::STANDARD_ORDER[6 + lo..=6 + hi]
                        .iter()
                        .copied(),
                );
                i += 3;
                continue;
            }
        }
        out.push(lead);
        i += 1;
    }
    out
}

fn lead_token(w: &str) -> Option<StandardLead> {
    let w = w.trim_matches(|c: char| !c.is_alphanumeric());
    // In prose a bare digit is a number ("2 mm"), never lead II.
    if w.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    StandardLead::from_label(w)
}

fn precordial_number(w: &str) -> Option<StandardLead> {
    match w.trim_matches(|c: char| !c.is_alphanumeric()) {
        "1" => Some(StandardLead::V1),
        "2" => Some(StandardLead::V2),
        "3" => Some(StandardLead::V3),
        "4" => Some(StandardLead::V4),
        "5" => Some(StandardLead::V5),
        "6" => Some(StandardLead::V6),
        _ => None,
    }
}

fn precordial_index(l: StandardLead) -> Option<usize> {
    StandardLead::STANDARD_ORDER[6..]
        .iter()
        .position(|x| *x == l)
}

#[cfg(test)]
mod tests {
    use super::*;
    use StandardLead::{AVF, AVL, AVR, I, II, III, V1, V2, V3, V4, V5, V6};

    fn only(text: &str, kind: ClaimKind) -> Claim {
        let claims: Vec<Claim> = extract(text)
            .into_iter()
            .filter(|c| c.kind == kind)
            .collect();
        assert_eq!(claims.len(), 1, "{text}: {claims:#?}");
        claims.into_iter().next().unwrap()
    }

    #[test]
    fn sentences_keep_decimals_together() {
        let s = sentences("PR interval is 0.16 s. QRS is 90 ms; QT 400 ms\nRate 72 bpm.");
        assert_eq!(
            s,
            vec![
                "PR interval is 0.16 s.",
                "QRS is 90 ms",
                "QT 400 ms",
                "Rate 72 bpm."
            ]
        );
    }

    #[test]
    fn rates_and_rhythms() {
        let c = only(
            "The heart rate is approximately 72 bpm.",
            ClaimKind::HeartRate,
        );
        assert_eq!(c.value, Some(72.0));
        let c = only(
            "Ventricular rate 110 beats per minute",
            ClaimKind::HeartRate,
        );
        assert_eq!(c.value, Some(110.0));
        let c = only("Sinus tachycardia is present.", ClaimKind::Rhythm);
        assert_eq!(c.qualifier, Some(Qualifier::Sinus));
        let c = only("The rhythm is atrial fibrillation", ClaimKind::Rhythm);
        assert_eq!(c.qualifier, Some(Qualifier::AtrialFibrillation));
        let c = only("There is no atrial fibrillation.", ClaimKind::Rhythm);
        assert!(c.negated);
    }

    #[test]
    fn intervals_with_units_and_ranges() {
        assert_eq!(
            only("PR interval is 0.16 s.", ClaimKind::PrInterval).value,
            Some(160.0)
        );
        assert_eq!(
            only("PR interval 160ms", ClaimKind::PrInterval).value,
            Some(160.0)
        );
        let c = only("QRS duration is 80-100 ms, normal.", ClaimKind::QrsDuration);
        assert_eq!((c.value, c.value_high), (Some(80.0), Some(100.0)));
        let c = only("The QRS complex is wide at 140 ms", ClaimKind::QrsDuration);
        assert_eq!((c.value, c.qualifier), (Some(140.0), Some(Qualifier::Wide)));
        let c = only("QTc is prolonged (480 ms).", ClaimKind::Qtc);
        assert_eq!(
            (c.value, c.qualifier),
            (Some(480.0), Some(Qualifier::Prolonged))
        );
        assert!(
            extract("QTc is prolonged (480 ms).")
                .iter()
                .all(|c| c.kind != ClaimKind::QtInterval)
        );
        let c = only("QT interval 400 ms", ClaimKind::QtInterval);
        assert_eq!(c.value, Some(400.0));
        let c = only("First-degree AV block.", ClaimKind::PrInterval);
        assert_eq!(c.qualifier, Some(Qualifier::Prolonged));
    }

    #[test]
    fn axis_values_and_words() {
        let c = only("The QRS axis is +60°.", ClaimKind::Axis);
        assert_eq!(c.value, Some(60.0));
        let c = only("Left axis deviation (-45 degrees).", ClaimKind::Axis);
        assert_eq!(
            (c.value, c.qualifier),
            (Some(-45.0), Some(Qualifier::LeftDeviation))
        );
        assert_eq!(
            only("Normal axis.", ClaimKind::Axis).qualifier,
            Some(Qualifier::Normal)
        );
    }

    #[test]
    fn conduction_and_hypertrophy() {
        let c = only(
            "Complete right bundle branch block.",
            ClaimKind::BundleBranchBlock,
        );
        assert_eq!(c.qualifier, Some(Qualifier::Right));
        let c = only("No bundle branch block.", ClaimKind::BundleBranchBlock);
        assert!(c.negated);
        let c = only("Incomplete RBBB pattern", ClaimKind::BundleBranchBlock);
        assert_eq!(c.qualifier, Some(Qualifier::Incomplete));
        let c = only(
            "Voltage criteria for LVH are met (Sokolow-Lyon 38 mm).",
            ClaimKind::Hypertrophy,
        );
        assert_eq!(
            (c.value, c.qualifier, c.negated),
            (Some(38.0), Some(Qualifier::Left), false)
        );
        assert!(
            only(
                "There is no evidence of left ventricular hypertrophy.",
                ClaimKind::Hypertrophy
            )
            .negated
        );
    }

    #[test]
    fn st_and_t_claims_with_leads() {
        let c = only("ST elevation of 2 mm in V2–V4.", ClaimKind::StElevation);
        assert_eq!(c.leads, vec![V2, V3, V4]);
        assert_eq!(c.value, Some(2.0));
        let c = only(
            "ST-segment depression in leads II, III and aVF",
            ClaimKind::StDepression,
        );
        assert_eq!(c.leads, vec![II, III, AVF]);
        let c = only(
            "T-wave inversion in the inferior leads.",
            ClaimKind::TWaveInversion,
        );
        assert_eq!(c.leads, vec![II, III, AVF]);
        let c = only(
            "Inverted T waves in V1 to V3, depth 0.3 mV.",
            ClaimKind::TWaveInversion,
        );
        assert_eq!((c.leads.clone(), c.value), (vec![V1, V2, V3], Some(3.0)));
        let c = only(
            "In V1-V3 the T waves are inverted.",
            ClaimKind::TWaveInversion,
        );
        assert_eq!(c.leads, vec![V1, V2, V3]);
        let c = only("No ST elevation.", ClaimKind::StElevation);
        assert!(c.negated && c.leads.is_empty());
        let c = only(
            "Pathological Q waves in II, III, aVF.",
            ClaimKind::PathologicalQ,
        );
        assert_eq!(c.leads, vec![II, III, AVF]);
        let c = only(
            "T wave inversion in lateral leads I, aVL",
            ClaimKind::TWaveInversion,
        );
        assert_eq!(c.leads, vec![I, AVL, V5, V6]);
    }

    #[test]
    fn axes_and_lists_are_not_misread() {
        assert!(
            extract("The frontal QRS axis is 49°, normal.")
                .iter()
                .all(|c| c.kind == ClaimKind::Axis)
        );
        assert!(extract("P axis 76°. T axis 59°.").is_empty());
        let claims = extract(
            "No secondary cause (bundle branch block, LVH with strain, paced rhythm) is present.",
        );
        assert_eq!(claims.len(), 2, "{claims:#?}");
        assert!(claims.iter().all(|c| c.negated), "{claims:#?}");
    }

    #[test]
    fn lead_groups_and_ranges() {
        assert_eq!(parse_leads("v1-4"), vec![V1, V2, V3, V4]);
        assert_eq!(
            parse_leads("inferolateral leads"),
            vec![I, II, III, AVL, AVF, V5, V6]
        );
        assert_eq!(parse_leads("high lateral"), vec![I, AVL]);
        assert_eq!(parse_leads("aVR and V1"), vec![AVR, V1]);
        assert!(parse_leads("in this patient").is_empty());
    }
}
