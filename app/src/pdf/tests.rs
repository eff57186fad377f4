use super::checks::{assert_pdfa_2b, fonts, pdf_text};
use super::*;

fn info() -> DocumentInfo {
    DocumentInfo {
        title: "Test".into(),
        author: Some("alice".into()),
        created_utc: Some("2026-11-24T08:30:00.000000Z".into()),
        document_id: Some("test-document".into()),
        language: "en".into(),
    }
}

#[test]
fn widths_come_from_the_embedded_face() {
    // DejaVu Sans Condensed: 'H' is wider than 'l', bold wider than regular, and a width
    // scales with the size.
    let h = text_width("H", Face::Regular, 10.0);
    let l = text_width("l", Face::Regular, 10.0);
    assert!(h > l && l > 0.0, "H {h}, l {l}");
    assert!(text_width("Hello", Face::Bold, 10.0) > text_width("Hello", Face::Regular, 10.0));
    let w10 = text_width("Hello", Face::Regular, 10.0);
    assert!((text_width("Hello", Face::Regular, 20.0) - 2.0 * w10).abs() < 1e-9);
    // Characters outside WinAnsi have real glyphs now.
    assert!(text_width("≥", Face::Regular, 10.0) > 0.0);
}

#[test]
fn wrapping_respects_the_width() {
    let lines = wrap(
        "the quick brown fox jumps over the lazy dog",
        Face::Regular,
        10.0,
        80.0,
    );
    assert!(lines.len() > 1);
    assert!(
        lines
            .iter()
            .all(|l| text_width(l, Face::Regular, 10.0) <= 80.0)
    );
    assert_eq!(
        lines.join(" "),
        "the quick brown fox jumps over the lazy dog"
    );
    let hash = "0123456789abcdef".repeat(4);
    let lines = wrap(&format!("sha {hash} end"), Face::Regular, 10.0, 100.0);
    assert!(
        lines
            .iter()
            .all(|l| text_width(l, Face::Regular, 10.0) <= 100.0)
    );
    assert_eq!(lines.concat().replace(' ', ""), format!("sha{hash}end"));
    assert_eq!(lines[0], "sha");
}

#[test]
fn missing_glyphs_and_control_characters_are_replaced_visibly() {
    // DejaVu has no CJK: the character prints as '?' rather than as the forbidden .notdef.
    let laid = fonts::lay_out("a\u{4e2d}\tb", Face::Regular);
    assert_eq!(laid.text, "a? b");
    assert_eq!(laid.glyphs.len(), 4);
    assert!(laid.glyphs.iter().all(|g| g.glyph_id != 0));
}

fn sample_document() -> PdfDocument {
    let mut doc = PdfDocument::new(info());
    doc.add_landscape_page();
    doc.furniture();
    doc.text(10.0, 20.0, 8.0, Face::Regular, "running header");
    doc.content();
    doc.heading(1, 50.0, 60.0, 12.0, Face::Bold, "ECG report");
    doc.text(
        50.0,
        80.0,
        10.0,
        Face::Regular,
        "Zoë Müller-Łukasiewicz: ST ≥ 1 mm, T ≤ −0.1 mV, 150 µV, P(yes) ≥ 0.80 → high",
    );
    doc.figure("a test figure");
    doc.set_stroke_rgb(1.0, 0.0, 0.0);
    doc.set_round_joins(true);
    doc.polylines(
        &[
            vec![(10.0, 100.0), (20.0, 130.0), (40.0, 105.0)],
            vec![(1.0, 1.0)],
        ],
        0.7,
    );
    doc.set_dash(Some((2.0, 2.0)));
    doc.stroke_rect(5.0, 150.0, 100.0, 50.0, 0.5);
    doc.set_dash(None);
    doc.image(
        PdfImage {
            width_px: 2,
            height_px: 1,
            rgb: vec![255, 0, 0, 0, 0, 255],
        },
        200.0,
        150.0,
        100.0,
        50.0,
    );
    doc.content();
    doc.add_page();
    doc.fill_rect(10.0, 10.0, 20.0, 20.0);
    doc.text_right(500.0, 100.0, 10.0, Face::Regular, "right");
    doc.select_page(0);
    doc.furniture();
    doc.text(10.0, 580.0, 8.0, Face::Bold, "Page 1 of 2");
    doc
}

#[test]
fn the_document_is_deterministic_pdfa_with_unicode_text() {
    let doc = sample_document();
    assert_eq!(doc.page_count(), 2);
    let bytes = doc.to_bytes().unwrap();
    assert_eq!(
        bytes,
        sample_document().to_bytes().unwrap(),
        "same document, same bytes"
    );
    assert_pdfa_2b(&bytes);
    let text = pdf_text(&bytes);
    for needle in [
        "ECG report",
        "Zoë Müller-Łukasiewicz: ST ≥ 1 mm, T ≤ −0.1 mV, 150 µV, P(yes) ≥ 0.80 → high",
        "right",
        "Page 1 of 2",
    ] {
        assert!(text.contains(needle), "{needle:?} not in {text:?}");
    }
    let faces: Vec<String> = fonts(&bytes).into_iter().map(|f| f.0).collect();
    assert_eq!(faces.len(), 2, "{faces:?}");
    assert!(
        faces
            .iter()
            .any(|f| f.ends_with("DejaVuSansCondensed-Bold")),
        "{faces:?}"
    );
    // The document id and the creation date come from the caller, not the clock.
    let meta = checks::xmp(&bytes);
    assert!(meta.contains("2026-11-24T08:30:00"), "{meta}");
    let mut other = sample_document();
    other.info.document_id = Some("another document".into());
    assert_ne!(other.to_bytes().unwrap(), bytes);
}
