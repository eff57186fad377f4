//! Parser for ECG-R1-format output: `<think>` holding `**Step N: Title**` sections, an
//! optional narrative, then `<answer>label; label</answer>`. Used by every engine, so the
//! protocol engine and the model produce reports the same way. Malformed output is never an
//! error: whatever can be recovered is returned, and each problem is listed in `issues`.

use std::fmt::Write as _;

use crate::report::TraceStep;

/// The six step titles ECG-R1 writes, in order.
pub const STEP_TITLES: [&str; 6] = [
    "Technical, Rate & Rhythm",
    "Conduction, Axis & Intervals",
    "Chamber Hypertrophy & Voltage",
    "Ischemia, Infarction & Mimics",
    "Electrolytes & QT",
    "Final Medical Reasoning",
];

/// What a trace parses into.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ParsedTrace {
    /// Steps in the order written (evidence left empty; engines attach their own).
    pub steps: Vec<TraceStep>,
    /// Step numbers as written, parallel to `steps`.
    pub step_numbers: Vec<u32>,
    /// The narrative between `</think>` and `<answer>`.
    pub summary: String,
    /// Answer labels split on ';' (trimmed, empties dropped).
    pub answer: Vec<String>,
    pub issues: Vec<String>,
}

/// Parses one `**Step N: Title**` heading line; returns (N, title).
fn step_heading(line: &str) -> Option<(u32, String)> {
    let t = line.trim();
    let inner = t.strip_prefix("**")?.strip_suffix("**")?;
    let rest = inner.trim().strip_prefix("Step")?.trim_start();
    let (num, title) = rest.split_once(':')?;
    let n = num.trim().parse().ok()?;
    Some((n, title.trim().to_string()))
}

/// Splits the body of `<think>` into steps; text before the first heading is returned apart.
fn split_steps(body: &str) -> (String, Vec<(u32, TraceStep)>) {
    let mut preamble = String::new();
    let mut steps: Vec<(u32, TraceStep)> = Vec::new();
    for line in body.lines() {
        if let Some((n, title)) = step_heading(line) {
            steps.push((
                n,
                TraceStep {
                    title,
                    text: String::new(),
                    evidence: Vec::new(),
                },
            ));
        } else if let Some((_, step)) = steps.last_mut() {
            if !step.text.is_empty() {
                step.text.push('\n');
            }
            step.text.push_str(line);
        } else {
            preamble.push_str(line);
            preamble.push('\n');
        }
    }
    for (_, s) in &mut steps {
        s.text = s.text.trim().to_string();
    }
    (preamble.trim().to_string(), steps)
}

/// Parses ECG-R1-format text.
pub fn parse(raw: &str) -> ParsedTrace {
    let mut issues = Vec::new();
    let think_opens = raw.matches("<think>").count();
    let think_closes = raw.matches("</think>").count();
    let answer_opens = raw.matches("<answer>").count();
    let answer_closes = raw.matches("</answer>").count();
    if think_opens == 0 {
        issues.push("missing <think> tag".to_string());
    }
    if think_opens > 1 {
        issues.push(format!("<think> appears {think_opens} times"));
    }
    if think_closes > 1 {
        issues.push(format!("</think> appears {think_closes} times"));
    }
    if answer_opens > 1 {
        issues.push(format!(
            "<answer> appears {answer_opens} times; the first is used"
        ));
    }
    // The think body: from after <think> (or the start) to </think> (or <answer>, or the end).
    let body_start = raw.find("<think>").map_or(0, |i| i + "<think>".len());
    let answer_at = raw.find("<answer>");
    let body_end = if let Some(i) = raw[body_start..].find("</think>") {
        body_start + i
    } else {
        issues.push("missing </think> tag (output truncated or malformed)".to_string());
        answer_at.filter(|&a| a >= body_start).unwrap_or(raw.len())
    };
    let body = &raw[body_start..body_end];
    let (preamble, numbered) = split_steps(body);
    if numbered.is_empty() {
        issues.push("no **Step N: Title** sections in the reasoning".to_string());
    }
    let mut seen = std::collections::BTreeSet::new();
    for (k, (n, _)) in numbered.iter().enumerate() {
        if !seen.insert(*n) {
            issues.push(format!("step {n} appears more than once"));
        } else if *n as usize != k + 1 {
            issues.push(format!(
                "step {n} is out of order (expected step {})",
                k + 1
            ));
        }
    }
    let after_think = if think_closes > 0 {
        raw.find("</think>")
            .map_or(raw.len(), |i| i + "</think>".len())
    } else {
        body_end
    };
    let mut answer = Vec::new();
    let summary_end;
    if let Some(a) = raw[after_think..].find("<answer>").map(|i| i + after_think) {
        summary_end = a;
        let content_start = a + "<answer>".len();
        let content = if let Some(e) = raw[content_start..].find("</answer>") {
            &raw[content_start..content_start + e]
        } else {
            issues.push("missing </answer> tag (output truncated)".to_string());
            &raw[content_start..]
        };
        answer = content
            .split([';', '\n'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        if answer.is_empty() {
            issues.push("empty <answer>".to_string());
        }
    } else {
        summary_end = raw.len();
        issues.push("missing <answer> tag".to_string());
    }
    if answer_closes > answer_opens {
        issues.push("</answer> without a matching <answer>".to_string());
    }
    let mut summary = raw[after_think.min(summary_end)..summary_end]
        .trim()
        .to_string();
    if summary.is_empty() && !preamble.is_empty() {
        summary = preamble;
    }
    let (step_numbers, steps) = numbered.into_iter().unzip();
    ParsedTrace {
        steps,
        step_numbers,
        summary,
        answer,
        issues,
    }
}

/// Writes steps, narrative and answer in ECG-R1 format (the inverse of [`parse`]).
pub fn write(steps: &[(String, String)], summary: &str, answer: &[String]) -> String {
    let mut out = String::from("<think>\n");
    for (k, (title, text)) in steps.iter().enumerate() {
        let _ = write!(out, "**Step {}: {title}**\n{}\n\n", k + 1, text.trim());
    }
    out.push_str("</think>\n");
    if !summary.trim().is_empty() {
        out.push_str(summary.trim());
        out.push('\n');
    }
    let _ = write!(out, "<answer>{}</answer>", answer.join("; "));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "<think>\n**Step 1: Technical, Rate & Rhythm**\nSinus rhythm at 61 bpm.\n\n**Step 2: Conduction, Axis & Intervals**\nPR 158 ms.\nQRS 70 ms.\n</think>\nA normal tracing.\n<answer>sinus rhythm; normal ECG</answer>";

    #[test]
    fn well_formed_output_parses_cleanly() {
        let p = parse(GOOD);
        assert!(p.issues.is_empty(), "{:?}", p.issues);
        assert_eq!(p.steps.len(), 2);
        assert_eq!(p.steps[0].title, "Technical, Rate & Rhythm");
        assert_eq!(p.steps[1].text, "PR 158 ms.\nQRS 70 ms.");
        assert_eq!(p.summary, "A normal tracing.");
        assert_eq!(p.answer, vec!["sinus rhythm", "normal ECG"]);
    }

    #[test]
    fn write_then_parse_round_trips() {
        let steps = vec![
            (
                "Technical, Rate & Rhythm".to_string(),
                "Rate 70 bpm.".to_string(),
            ),
            ("Final Medical Reasoning".to_string(), "Normal.".to_string()),
        ];
        let raw = write(&steps, "Narrative.", &["yes".to_string()]);
        let p = parse(&raw);
        assert!(p.issues.is_empty(), "{:?}", p.issues);
        assert_eq!(p.steps.len(), 2);
        assert_eq!(p.steps[1].text, "Normal.");
        assert_eq!(p.answer, vec!["yes"]);
        assert_eq!(p.summary, "Narrative.");
    }

    #[test]
    fn truncated_output_is_reported() {
        let p = parse("<think>\n**Step 1: Technical, Rate & Rhythm**\nSinus rhythm at");
        assert!(p.issues.iter().any(|i| i.contains("</think>")));
        assert!(p.issues.iter().any(|i| i.contains("missing <answer>")));
        assert_eq!(p.steps.len(), 1);
        assert_eq!(p.steps[0].text, "Sinus rhythm at");
        assert!(p.answer.is_empty());
    }

    #[test]
    fn missing_and_duplicated_tags_are_reported() {
        let p = parse("**Step 1: A**\nx\n</think><answer>yes</answer>");
        assert!(p.issues.iter().any(|i| i == "missing <think> tag"));
        assert_eq!(p.answer, vec!["yes"]);
        let p = parse(
            "<think><think>\n**Step 1: A**\nx\n</think><answer>no</answer><answer>yes</answer>",
        );
        assert!(
            p.issues
                .iter()
                .any(|i| i.contains("<think> appears 2 times"))
        );
        assert!(
            p.issues
                .iter()
                .any(|i| i.contains("<answer> appears 2 times"))
        );
        assert_eq!(p.answer, vec!["no"]);
    }

    #[test]
    fn empty_answer_and_unclosed_answer() {
        let p = parse("<think>\n**Step 1: A**\nx\n</think>\n<answer>  ; </answer>");
        assert!(p.issues.iter().any(|i| i == "empty <answer>"));
        let p = parse("<think>\n**Step 1: A**\nx\n</think>\n<answer>yes");
        assert!(p.issues.iter().any(|i| i.contains("missing </answer>")));
        assert_eq!(p.answer, vec!["yes"]);
    }

    #[test]
    fn steps_out_of_order_or_repeated() {
        let p = parse(
            "<think>\n**Step 1: A**\nx\n**Step 3: C**\ny\n**Step 3: C**\nz\n</think><answer>a</answer>",
        );
        assert!(p.issues.iter().any(|i| i.contains("out of order")));
        assert!(p.issues.iter().any(|i| i.contains("more than once")));
        let p = parse("<think>free text only</think><answer>a</answer>");
        assert!(p.issues.iter().any(|i| i.contains("no **Step")));
        assert_eq!(p.summary, "free text only");
    }

    #[test]
    fn garbage_never_panics() {
        for s in [
            "",
            "<",
            "</think><think>",
            "<answer>",
            "**Step x: y**",
            "<think>**Step 1:**</think></answer>",
        ] {
            let _ = parse(s);
        }
    }
}
