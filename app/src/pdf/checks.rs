//! Test helpers shared with the report's tests: what poppler's tools read from a PDF, the way
//! a reader of the file sees it (the text, the metadata, the fonts).
//!
//! Needs poppler-utils (Debian: `apt-get install poppler-utils`; `.ci/run` installs it). Without
//! it the tests fail and say so.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::process::Command;

/// Runs a poppler tool on `pdf` (written to a temporary file) and returns its stdout.
pub(crate) fn poppler(tool: &str, args: &[&str], pdf: &[u8]) -> String {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(pdf).unwrap();
    file.flush().unwrap();
    let out = Command::new(tool)
        .args(args)
        .arg(file.path())
        .args(if tool == "pdftotext" {
            &["-"][..]
        } else {
            &[][..]
        })
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "`{tool}` cannot be run ({e}): install poppler-utils (Debian/Ubuntu: apt-get \
                 install -y poppler-utils) to check the PDF; CI installs it"
            )
        });
    assert!(
        out.status.success(),
        "{tool} refused the PDF: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The text of every page as `pdftotext` extracts it (in reading order, not laid out).
pub(crate) fn pdf_text(pdf: &[u8]) -> String {
    poppler("pdftotext", &[], pdf)
}

/// The XMP metadata as `pdfinfo -meta` prints it.
pub(crate) fn xmp(pdf: &[u8]) -> String {
    poppler("pdfinfo", &["-meta"], pdf)
}

/// One row per font: (name, type, embedded, subset, has ToUnicode), from `pdffonts`.
pub(crate) fn fonts(pdf: &[u8]) -> Vec<(String, String, bool, bool, bool)> {
    let listing = poppler("pdffonts", &[], pdf);
    listing
        .lines()
        .skip(2)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            // name type [type...] encoding emb sub uni object ID
            let cols: Vec<&str> = line.split_whitespace().collect();
            let n = cols.len();
            assert!(n >= 8, "unexpected pdffonts line {line:?}");
            let yes = |s: &str| s == "yes";
            (
                cols[0].to_string(),
                cols[1..n - 6].join(" "),
                yes(cols[n - 5]),
                yes(cols[n - 4]),
                yes(cols[n - 3]),
            )
        })
        .collect()
}

/// Checks what an archive's intake looks for in a PDF/A-2b file without veraPDF: the XMP
/// identification (`pdfaid:part` 2, `pdfaid:conformance` B), a tagged structure, and every
/// font embedded (as a subset) with a Unicode map.
pub(crate) fn assert_pdfa_2b(pdf: &[u8]) {
    assert!(pdf.starts_with(b"%PDF-1.7"), "PDF/A-2 is based on PDF 1.7");
    let meta = xmp(pdf);
    let has = |k: &str, v: &str| {
        meta.contains(&format!("<pdfaid:{k}>{v}</pdfaid:{k}>"))
            || meta.contains(&format!("pdfaid:{k}=\"{v}\""))
    };
    assert!(
        has("part", "2") && has("conformance", "B"),
        "no PDF/A-2b identification in the XMP metadata:\n{meta}"
    );
    let info = poppler("pdfinfo", &[], pdf);
    assert!(
        info.lines()
            .any(|l| l.starts_with("Tagged:") && l.ends_with("yes")),
        "the PDF is not tagged:\n{info}"
    );
    let fonts = fonts(pdf);
    assert!(!fonts.is_empty(), "no fonts in the PDF");
    for (name, kind, embedded, subset, unicode) in &fonts {
        assert!(
            *embedded && *subset && *unicode,
            "font {name} ({kind}): embedded {embedded}, subset {subset}, ToUnicode {unicode}"
        );
        assert!(name.contains("DejaVu"), "unexpected font {name}");
    }
}
