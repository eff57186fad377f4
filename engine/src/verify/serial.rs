//! Serial claims: what a trace says about change since the prior ECG ("unchanged from
//! prior", "new T-wave inversion in V2–V4", "the QRS has widened"), checked against the
//! [`SerialComparison`] of the two ECGs. Without a comparison every such claim is
//! uncheckable: the workstation never guesses what the prior ECG showed.
//!
//! A sentence is serial when it refers to an earlier ECG or to change ("prior", "previous",
//! "compared with", "new", "unchanged", "no change", "interval change", "since"). Within it:
//! - "unchanged", "no (significant|interval) change", "stable", "similar to": the topics it
//!   names (T waves, ST, QRS, QTc, axis, bundle branch block) — or, when it names none, every
//!   topic — must show no significant change;
//! - "new" + T-wave inversion / ST elevation / ST depression / bundle branch block: the
//!   comparison must show that change (in at least half of the leads named, when leads are
//!   named); "no new …" claims its absence;
//! - QRS "widened/wider/broader", QTc "lengthened/longer", axis "shifted/shift": the matching
//!   change must be present (or absent when negated).

use crate::record::StandardLead;
use crate::serial::{ChangeKind, SerialComparison};

use super::check::{CheckedClaim, ClaimStatus};
use super::claims::{ClaimKind, find_word, negated_before, normalise, parse_leads, sentences};

/// What a serial sentence claims.
#[derive(Clone, Debug, PartialEq)]
enum SerialClaim {
    /// No significant change in these kinds of change (all kinds when `topics` is empty).
    Unchanged { topics: Vec<ChangeKind> },
    /// This change happened (or, negated, did not), optionally in these leads.
    Change {
        kind: ChangeKind,
        negated: bool,
        leads: Vec<StandardLead>,
        /// For a bundle branch block: "left" or "right" when said.
        side: Option<&'static str>,
    },
}

const SERIAL_MARKERS: [&str; 16] = [
    "prior",
    "previous",
    "earlier",
    "last ecg",
    "old ecg",
    "compared with",
    "compared to",
    "comparison",
    "since",
    "new ",
    "newly",
    "unchanged",
    "no change",
    "interval change",
    "serial",
    "before",
];

const UNCHANGED_WORDS: [&str; 7] = [
    "unchanged",
    "no change",
    "no significant change",
    "no interval change",
    "no new change",
    "stable",
    "similar to",
];

fn topics_in(s: &str) -> Vec<ChangeKind> {
    let mut t = Vec::new();
    if s.contains("t wave") || s.contains("t inversion") || s.contains("twi") {
        t.push(ChangeKind::NewTInversion);
    }
    if s.contains("st segment")
        || s.contains("st elevation")
        || s.contains("st depression")
        || find_word(s, "st").is_some()
    {
        t.push(ChangeKind::NewStElevation);
        t.push(ChangeKind::NewStDepression);
    }
    if s.contains("qtc") || find_word(s, "qt").is_some() {
        t.push(ChangeKind::QtcLengthened);
    }
    if find_word(s, "qrs").is_some() && !s.contains("qrs axis") {
        t.push(ChangeKind::QrsWidened);
    }
    if s.contains("axis") {
        t.push(ChangeKind::AxisShift);
    }
    if s.contains("bundle branch") || s.contains("bbb") {
        t.push(ChangeKind::NewBundleBranchBlock);
    }
    t
}

fn extract_sentence(sentence: &str) -> Vec<SerialClaim> {
    let s = normalise(sentence);
    if !SERIAL_MARKERS.iter().any(|m| s.contains(m)) {
        return Vec::new();
    }
    let mut out = Vec::new();
    if UNCHANGED_WORDS.iter().any(|w| s.contains(w)) {
        out.push(SerialClaim::Unchanged {
            topics: topics_in(&s),
        });
        return out;
    }
    let new_kinds: [(&[&str], ChangeKind); 4] = [
        (
            &[
                "t wave inversion",
                "inverted t",
                "t inversion",
                "twi",
                "t waves inverted",
            ],
            ChangeKind::NewTInversion,
        ),
        (&["st elevation"], ChangeKind::NewStElevation),
        (&["st depression"], ChangeKind::NewStDepression),
        (
            &["bundle branch block", "lbbb", "rbbb"],
            ChangeKind::NewBundleBranchBlock,
        ),
    ];
    if s.contains("new") {
        for (words, kind) in new_kinds {
            let Some(word) = words.iter().find(|w| s.contains(*w)) else {
                continue;
            };
            let side = (kind == ChangeKind::NewBundleBranchBlock)
                .then(|| {
                    if s.contains("lbbb") || s.contains("left bundle") {
                        Some("left")
                    } else if s.contains("rbbb") || s.contains("right bundle") {
                        Some("right")
                    } else {
                        None
                    }
                })
                .flatten();
            out.push(SerialClaim::Change {
                kind,
                negated: negated_before(&s, word),
                leads: parse_leads(sentence),
                side,
            });
        }
    }
    let grown: [(&str, &[&str], ChangeKind); 3] = [
        (
            "qrs",
            &["widened", "wider", "broader", "broadened", "lengthened"],
            ChangeKind::QrsWidened,
        ),
        (
            "qt",
            &["lengthened", "longer", "more prolonged", "increased"],
            ChangeKind::QtcLengthened,
        ),
        (
            "axis",
            &["shifted", "shift", "rotated"],
            ChangeKind::AxisShift,
        ),
    ];
    for (topic, words, kind) in grown {
        let about = if topic == "axis" {
            s.contains("axis")
        } else if topic == "qrs" {
            find_word(&s, "qrs").is_some() && !s.contains("qrs axis")
        } else {
            s.contains("qtc") || find_word(&s, "qt").is_some()
        };
        if !about {
            continue;
        }
        if let Some(word) = words.iter().find(|w| s.contains(*w)) {
            out.push(SerialClaim::Change {
                kind,
                negated: negated_before(&s, word),
                leads: Vec::new(),
                side: None,
            });
        }
    }
    out
}

fn kind_words(kind: ChangeKind) -> &'static str {
    match kind {
        ChangeKind::QrsWidened => "QRS widening >= 20 ms",
        ChangeKind::QtcLengthened => "QTc lengthening >= 30 ms",
        ChangeKind::NewTInversion => "new T inversion >= 1 mm in two contiguous leads",
        ChangeKind::NewStElevation => "new ST elevation in two contiguous leads",
        ChangeKind::NewStDepression => "new ST depression in two contiguous leads",
        ChangeKind::NewBundleBranchBlock => "a bundle branch block absent before",
        ChangeKind::AxisShift => "QRS axis shift >= 30°",
    }
}

fn changes_text(c: &SerialComparison, kinds: &[ChangeKind]) -> String {
    let found: Vec<&str> = c
        .changes
        .iter()
        .filter(|x| kinds.is_empty() || kinds.contains(&x.kind))
        .map(|x| x.text.as_str())
        .collect();
    if found.is_empty() {
        "no significant change".to_string()
    } else {
        found.join(", ")
    }
}

/// Leads newly showing the change, from the per-lead deltas.
fn new_in(c: &SerialComparison, kind: ChangeKind) -> Vec<String> {
    c.leads
        .iter()
        .filter(|l| match kind {
            ChangeKind::NewTInversion => l.new_t_inversion,
            ChangeKind::NewStElevation => l.new_st_elevation,
            ChangeKind::NewStDepression => l.new_st_depression,
            _ => false,
        })
        .map(|l| l.lead.clone())
        .collect()
}

fn check(claim: &SerialClaim, c: &SerialComparison) -> (bool, String, String) {
    match claim {
        SerialClaim::Unchanged { topics } => (
            !c.changes
                .iter()
                .any(|x| topics.is_empty() || topics.contains(&x.kind)),
            changes_text(c, topics),
            "no significant serial change".to_string(),
        ),
        SerialClaim::Change {
            kind: ChangeKind::NewBundleBranchBlock,
            negated,
            side,
            ..
        } => {
            let change = c
                .changes
                .iter()
                .find(|x| x.kind == ChangeKind::NewBundleBranchBlock);
            let matches_side = change.is_some_and(|x| {
                side.is_none_or(|s| {
                    x.bundle_branch_block
                        .is_some_and(|b| b.name().starts_with(s))
                })
            });
            let measured = change.map_or_else(
                || "no new bundle branch block".to_string(),
                |x| x.text.clone(),
            );
            (
                matches_side != *negated,
                measured,
                kind_words(ChangeKind::NewBundleBranchBlock).into(),
            )
        }
        SerialClaim::Change {
            kind,
            negated,
            leads,
            ..
        } => {
            let present = c.has(*kind);
            let lead_based = matches!(
                kind,
                ChangeKind::NewTInversion
                    | ChangeKind::NewStElevation
                    | ChangeKind::NewStDepression
            );
            let newly = new_in(c, *kind);
            let ok = if *negated {
                if leads.is_empty() || !lead_based {
                    !present
                } else {
                    leads.iter().all(|l| !newly.iter().any(|n| n == l.name()))
                }
            } else if leads.is_empty() || !lead_based {
                present
            } else {
                let hits = leads
                    .iter()
                    .filter(|l| newly.iter().any(|n| n == l.name()))
                    .count();
                present && hits * 2 >= leads.len()
            };
            let measured = if lead_based {
                if newly.is_empty() {
                    format!("no lead newly shows it ({})", changes_text(c, &[*kind]))
                } else {
                    format!("newly in {}", newly.join(", "))
                }
            } else {
                changes_text(c, &[*kind])
            };
            (ok, measured, kind_words(*kind).to_string())
        }
    }
}

/// Extracts the serial claims of a trace and checks each against the comparison
/// (uncheckable when there is none).
pub fn check_serial(trace: &str, comparison: Option<&SerialComparison>) -> Vec<CheckedClaim> {
    let mut out = Vec::new();
    for sentence in sentences(trace) {
        for claim in extract_sentence(&sentence) {
            let leads = match &claim {
                SerialClaim::Change { leads, .. } => leads.clone(),
                SerialClaim::Unchanged { .. } => Vec::new(),
            };
            let (status, measured, expected) = match comparison {
                None => (
                    ClaimStatus::Uncheckable,
                    Some("no prior ECG was compared".to_string()),
                    None,
                ),
                Some(c) => {
                    let (ok, measured, expected) = check(&claim, c);
                    (
                        if ok {
                            ClaimStatus::Supported
                        } else {
                            ClaimStatus::Contradicted
                        },
                        Some(measured),
                        Some(expected),
                    )
                }
            };
            out.push(CheckedClaim {
                text: sentence.clone(),
                kind: ClaimKind::Serial,
                status,
                measured,
                expected,
                leads,
            });
        }
    }
    out
}
