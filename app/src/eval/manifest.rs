//! The evaluation manifest: a CSV with a header row naming the columns `file`, `image`,
//! `notes` and `label` (any order; `file` or `image` per row, `label` required). Paths are
//! relative to the manifest's folder. For yes/no tasks `label` is `yes` or `no`; for
//! interpretation it holds the reference labels separated by `;`.

use std::path::{Path, PathBuf};

/// One case to evaluate.
#[derive(Clone, Debug, PartialEq)]
pub struct ManifestRow {
    /// 1-based line number in the manifest (for messages).
    pub line: usize,
    pub file: Option<PathBuf>,
    pub image: Option<PathBuf>,
    pub notes: String,
    pub labels: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{file}: cannot read: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: line {line}: {problem}")]
    Invalid {
        file: String,
        line: usize,
        problem: String,
    },
}

/// Splits one CSV line into fields, honouring double quotes ("a, b" and doubled "" inside).
fn split_csv_line(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut in_quotes = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, in_quotes) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', true) => in_quotes = false,
            ('"', false) if field.trim().is_empty() => {
                field.clear();
                in_quotes = true;
            }
            (',', false) => fields.push(std::mem::take(&mut field).trim().to_string()),
            _ => field.push(c),
        }
    }
    if in_quotes {
        return Err("unterminated quoted field".into());
    }
    fields.push(field.trim().to_string());
    Ok(fields)
}

pub fn read_manifest(path: &Path) -> Result<Vec<ManifestRow>, ManifestError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Io {
        file: name.clone(),
        source,
    })?;
    parse_manifest(&text, &name, path.parent().unwrap_or(Path::new(".")))
}

pub fn parse_manifest(
    text: &str,
    name: &str,
    base: &Path,
) -> Result<Vec<ManifestRow>, ManifestError> {
    let invalid = |line: usize, problem: String| ManifestError::Invalid {
        file: name.to_string(),
        line,
        problem,
    };
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_start_matches('\u{feff}')))
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    let Some((header_line, header)) = lines.next() else {
        return Err(invalid(
            1,
            "the manifest is empty (expected a header row: file,image,notes,label)".into(),
        ));
    };
    let columns: Vec<String> = split_csv_line(header)
        .map_err(|e| invalid(header_line, e))?
        .into_iter()
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let col = |n: &str| columns.iter().position(|c| c == n);
    let (file_col, image_col, notes_col) = (col("file"), col("image"), col("notes"));
    let Some(label_col) = col("label") else {
        return Err(invalid(
            header_line,
            format!("no 'label' column in the header ({})", columns.join(",")),
        ));
    };
    if file_col.is_none() && image_col.is_none() {
        return Err(invalid(
            header_line,
            "the header needs a 'file' or an 'image' column".into(),
        ));
    }
    let mut rows = Vec::new();
    for (line, text) in lines {
        let fields = split_csv_line(text).map_err(|e| invalid(line, e))?;
        if fields.len() != columns.len() {
            return Err(invalid(
                line,
                format!("{} fields, the header has {}", fields.len(), columns.len()),
            ));
        }
        let get = |c: Option<usize>| c.map(|i| fields[i].clone()).filter(|s| !s.is_empty());
        let file = get(file_col).map(|f| base.join(f));
        let image = get(image_col).map(|f| base.join(f));
        if file.is_none() && image.is_none() {
            return Err(invalid(line, "neither 'file' nor 'image' is given".into()));
        }
        let labels: Vec<String> = fields[label_col]
            .split(';')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if labels.is_empty() {
            return Err(invalid(line, "the 'label' field is empty".into()));
        }
        rows.push(ManifestRow {
            line,
            file,
            image,
            notes: get(notes_col).unwrap_or_default(),
            labels,
        });
    }
    if rows.is_empty() {
        return Err(invalid(header_line, "the manifest lists no cases".into()));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_quoted_notes_and_relative_paths() {
        let text = "file,notes,label\na.hea,\"chest pain, 2 h\",yes\n# a comment\nb.edf,,no\n";
        let rows = parse_manifest(text, "m.csv", Path::new("/data")).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].file.as_deref(), Some(Path::new("/data/a.hea")));
        assert_eq!(rows[0].notes, "chest pain, 2 h");
        assert_eq!(rows[1].labels, vec!["no"]);
        assert_eq!(rows[1].line, 4);
    }

    #[test]
    fn errors_name_the_line() {
        let err = parse_manifest("file,label\na.hea\n", "m.csv", Path::new("."))
            .unwrap_err()
            .to_string();
        assert_eq!(err, "m.csv: line 2: 1 fields, the header has 2");
        let err = parse_manifest("file\na.hea\n", "m.csv", Path::new("."))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no 'label' column"), "{err}");
        let err = parse_manifest("file,label\na.hea,\n", "m.csv", Path::new("."))
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2: the 'label' field is empty"), "{err}");
    }
}
