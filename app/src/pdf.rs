//! A small PDF 1.4 writer for the clinical report: A4 pages in either orientation, the
//! standard Helvetica faces (no font embedding needed), text with word wrapping, rules,
//! polylines, filled boxes and RGB images (Flate-compressed). Output is deterministic: the same
//! document gives the same bytes.

use std::fmt::Write as _;
use std::io::Write as _;

/// A4 in PDF points (1/72 inch).
pub const A4_WIDTH_PT: f64 = 595.28;
pub const A4_HEIGHT_PT: f64 = 841.89;

/// Helvetica advance widths (1/1000 em) for ASCII 32..=126, from the standard AFM metrics.
const HELVETICA_WIDTHS: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278,
    278, // space../
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, // 0-9
    278, 278, 584, 584, 584, 556, 1015, // :..@
    667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667,
    611, 722, 667, 944, 667, 667, 611, // A-Z
    278, 278, 278, 469, 556, 333, // [..`
    556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, 556, 556, 333, 500,
    278, 556, 500, 722, 500, 500, 500, // a-z
    334, 260, 334, 584, // {..~
];

/// The two faces the report uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Face {
    Regular,
    Bold,
}

impl Face {
    fn resource(self) -> &'static str {
        match self {
            Self::Regular => "F1",
            Self::Bold => "F2",
        }
    }
}

/// Maps text to WinAnsi bytes; characters outside it become close ASCII spellings.
fn win_ansi(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        match c {
            ' '..='~' => out.push(c as u8),
            'μ' => out.push(0xB5),
            '–' => out.push(0x96),
            '—' => out.push(0x97),
            '‘' | '’' => out.push(b'\''),
            '“' | '”' => out.push(b'"'),
            '•' => out.push(0x95),
            '…' => out.push(0x85),
            '‰' => out.push(0x89),
            '€' => out.push(0x80),
            '™' => out.push(0x99),
            '−' | '‐' | '‑' => out.push(b'-'),
            '≈' => out.push(b'~'),
            // Latin-1 (accented letters, ·, ², ½, ...) is WinAnsi at the same code points.
            '\u{a0}'..='\u{ff}' => out.push(u8::try_from(u32::from(c)).unwrap_or(b'?')),
            '≥' => out.extend_from_slice(b">="),
            '≤' => out.extend_from_slice(b"<="),
            '→' => out.extend_from_slice(b"->"),
            '\t' => out.push(b' '),
            _ => out.push(b'?'),
        }
    }
    out
}

/// Width of `text` in points at `size` (bold approximated as 5 % wider, which is enough for wrapping).
pub fn text_width(text: &str, face: Face, size: f64) -> f64 {
    let units: f64 = win_ansi(text)
        .iter()
        .map(|&b| {
            if (32..=126).contains(&b) {
                f64::from(HELVETICA_WIDTHS[(b - 32) as usize])
            } else {
                556.0
            }
        })
        .sum();
    let bold = if face == Face::Bold { 1.05 } else { 1.0 };
    units * size / 1000.0 * bold
}

/// Splits `text` into lines no wider than `width` points. Words break at spaces; a word wider
/// than a whole line (a hash, a run of symbols) is cut between characters.
pub fn wrap(text: &str, face: Face, size: f64, width: f64) -> Vec<String> {
    let mut lines = Vec::new();
    for paragraph in text.split('\n') {
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            let candidate = if line.is_empty() {
                word.to_string()
            } else {
                format!("{line} {word}")
            };
            if text_width(&candidate, face, size) <= width {
                line = candidate;
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            for c in word.chars() {
                line.push(c);
                // A single character always stays, so every line makes progress.
                if text_width(&line, face, size) > width && line.chars().count() > 1 {
                    line.pop();
                    lines.push(std::mem::take(&mut line));
                    line.push(c);
                }
            }
        }
        lines.push(line);
    }
    lines
}

fn escape(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() + 8);
    for &b in bytes {
        match b {
            b'(' | b')' | b'\\' => {
                s.push('\\');
                s.push(b as char);
            }
            32..=126 => s.push(b as char),
            _ => {
                let _ = write!(s, "\\{b:03o}");
            }
        }
    }
    s
}

/// An RGB image placed on a page.
#[derive(Clone, Debug)]
pub struct PdfImage {
    pub width_px: u32,
    pub height_px: u32,
    /// Row-major RGB8.
    pub rgb: Vec<u8>,
}

#[derive(Debug)]
struct Page {
    width_pt: f64,
    height_pt: f64,
    content: String,
    images: Vec<usize>,
}

impl Page {
    fn sized(width_pt: f64, height_pt: f64) -> Self {
        Self {
            width_pt,
            height_pt,
            content: String::new(),
            images: Vec::new(),
        }
    }
}

/// A document under construction. Coordinates are in points from the page's top-left corner
/// (converted to PDF's bottom-left origin on output). Drawing goes to the current page: the
/// one last added, or the one chosen with [`PdfDocument::select_page`].
#[derive(Debug, Default)]
pub struct PdfDocument {
    pages: Vec<Page>,
    current: usize,
    images: Vec<PdfImage>,
    title: String,
}

fn n(v: f64) -> String {
    // Two decimals are far below a printer's resolution and keep output stable.
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

impl PdfDocument {
    pub fn new(title: &str) -> Self {
        Self {
            title: title.to_string(),
            ..Self::default()
        }
    }

    /// Adds an A4 portrait page and makes it current.
    pub fn add_page(&mut self) {
        self.add_page_sized(A4_WIDTH_PT, A4_HEIGHT_PT);
    }

    /// Adds an A4 landscape page and makes it current.
    pub fn add_landscape_page(&mut self) {
        self.add_page_sized(A4_HEIGHT_PT, A4_WIDTH_PT);
    }

    /// Adds a page of any size (points) and makes it current.
    pub fn add_page_sized(&mut self, width_pt: f64, height_pt: f64) {
        self.pages.push(Page::sized(width_pt, height_pt));
        self.current = self.pages.len() - 1;
    }

    pub fn page_count(&self) -> usize {
        self.pages.len()
    }

    /// Makes page `index` (0-based) current, e.g. to add page numbers once all pages exist.
    /// An index past the end selects the last page.
    pub fn select_page(&mut self, index: usize) {
        self.current = index.min(self.pages.len().saturating_sub(1));
    }

    /// Width and height of the current page in points (A4 portrait before any page exists).
    pub fn page_size(&self) -> (f64, f64) {
        self.pages
            .get(self.current)
            .map_or((A4_WIDTH_PT, A4_HEIGHT_PT), |p| (p.width_pt, p.height_pt))
    }

    fn page(&mut self) -> &mut Page {
        if self.pages.is_empty() {
            self.add_page();
        }
        let index = self.current.min(self.pages.len() - 1);
        &mut self.pages[index]
    }

    /// PDF's y (from the bottom) of a point `y` from the current page's top.
    fn flip(&self, y: f64) -> f64 {
        self.page_size().1 - y
    }

    /// Text with its baseline at `y` (from the top).
    pub fn text(&mut self, x: f64, y: f64, size: f64, face: Face, text: &str) {
        let line = format!(
            "BT /{} {} Tf {} {} Td ({}) Tj ET\n",
            face.resource(),
            n(size),
            n(x),
            n(self.flip(y)),
            escape(&win_ansi(text))
        );
        self.page().content.push_str(&line);
    }

    /// Text ending at `x_right` (right-aligned).
    pub fn text_right(&mut self, x_right: f64, y: f64, size: f64, face: Face, text: &str) {
        let x = x_right - text_width(text, face, size);
        self.text(x, y, size, face, text);
    }

    /// Wrapped text starting with its first baseline at `y`; returns the y below the last line.
    pub fn paragraph(
        &mut self,
        x: f64,
        y: f64,
        width: f64,
        size: f64,
        face: Face,
        text: &str,
    ) -> f64 {
        let leading = size * 1.3;
        let mut y = y;
        for line in wrap(text, face, size, width) {
            self.text(x, y, size, face, &line);
            y += leading;
        }
        y
    }

    pub fn set_fill_rgb(&mut self, r: f64, g: f64, b: f64) {
        let line = format!("{} {} {} rg\n", n(r), n(g), n(b));
        self.page().content.push_str(&line);
    }

    pub fn set_stroke_rgb(&mut self, r: f64, g: f64, b: f64) {
        let line = format!("{} {} {} RG\n", n(r), n(g), n(b));
        self.page().content.push_str(&line);
    }

    /// A filled rectangle with its top-left corner at (x, y).
    pub fn fill_rect(&mut self, x: f64, y: f64, w: f64, h: f64) {
        let line = format!("{} {} {} {} re f\n", n(x), n(self.flip(y) - h), n(w), n(h));
        self.page().content.push_str(&line);
    }

    /// The outline of a rectangle with its top-left corner at (x, y).
    pub fn stroke_rect(&mut self, x: f64, y: f64, w: f64, h: f64, width: f64) {
        let line = format!(
            "{} w {} {} {} {} re S\n",
            n(width),
            n(x),
            n(self.flip(y) - h),
            n(w),
            n(h)
        );
        self.page().content.push_str(&line);
    }

    /// Dashes for the following strokes (`on` and `off` in points); `None` for solid lines.
    pub fn set_dash(&mut self, dash: Option<(f64, f64)>) {
        let line = match dash {
            Some((on, off)) => format!("[{} {}] 0 d\n", n(on), n(off)),
            None => "[] 0 d\n".to_string(),
        };
        self.page().content.push_str(&line);
    }

    /// Round joins and butt caps (traces), or miter joins (square pulses).
    pub fn set_round_joins(&mut self, round: bool) {
        self.page()
            .content
            .push_str(if round { "0 J 1 j\n" } else { "0 J 0 j\n" });
    }

    /// Several unconnected polylines stroked as one path of the given width. Lines with fewer
    /// than two points are skipped.
    pub fn polylines(&mut self, lines: &[Vec<(f64, f64)>], width: f64) {
        let height = self.page_size().1;
        let mut path = String::new();
        for line in lines.iter().filter(|l| l.len() >= 2) {
            for (k, &(x, y)) in line.iter().enumerate() {
                let op = if k == 0 { "m" } else { "l" };
                let _ = writeln!(path, "{} {} {op}", n(x), n(height - y));
            }
        }
        if path.is_empty() {
            return;
        }
        let page = self.page();
        let _ = writeln!(page.content, "{} w", n(width));
        page.content.push_str(&path);
        page.content.push_str("S\n");
    }

    pub fn line(&mut self, x0: f64, y0: f64, x1: f64, y1: f64, width: f64) {
        let line = format!(
            "{} w {} {} m {} {} l S\n",
            n(width),
            n(x0),
            n(self.flip(y0)),
            n(x1),
            n(self.flip(y1))
        );
        self.page().content.push_str(&line);
    }

    /// Places an image with its top-left corner at (x, y), `w` × `h` points.
    pub fn image(&mut self, image: PdfImage, x: f64, y: f64, w: f64, h: f64) {
        let index = self.images.len();
        self.images.push(image);
        let line = format!(
            "q {} 0 0 {} {} {} cm /Im{index} Do Q\n",
            n(w),
            n(h),
            n(x),
            n(self.flip(y) - h)
        );
        let page = self.page();
        page.content.push_str(&line);
        page.images.push(index);
    }

    /// Serialises the document.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut objects: Vec<Vec<u8>> = Vec::new();
        // Object numbers: 1 catalog, 2 pages, 3 F1, 4 F2, 5 info, then images, then page + content pairs.
        let first_image = 6;
        let first_page = first_image + self.images.len();
        let page_ids: Vec<usize> = (0..self.pages.len()).map(|k| first_page + 2 * k).collect();
        objects.push(b"<< /Type /Catalog /Pages 2 0 R >>".to_vec());
        let kids: Vec<String> = page_ids.iter().map(|id| format!("{id} 0 R")).collect();
        objects.push(
            format!(
                "<< /Type /Pages /Kids [{}] /Count {} >>",
                kids.join(" "),
                self.pages.len()
            )
            .into_bytes(),
        );
        objects.push(
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
                .to_vec(),
        );
        objects.push(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>".to_vec());
        objects.push(
            format!(
                "<< /Title ({}) /Producer (ECG-R1 workstation {}) >>",
                escape(&win_ansi(&self.title)),
                env!("CARGO_PKG_VERSION")
            )
            .into_bytes(),
        );
        for img in &self.images {
            let data = deflate(&img.rgb);
            let mut obj = format!(
                "<< /Type /XObject /Subtype /Image /Width {} /Height {} /ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /FlateDecode /Length {} >>\nstream\n",
                img.width_px,
                img.height_px,
                data.len()
            )
            .into_bytes();
            obj.extend_from_slice(&data);
            obj.extend_from_slice(b"\nendstream");
            objects.push(obj);
        }
        for (k, page) in self.pages.iter().enumerate() {
            let xobjects: Vec<String> = page
                .images
                .iter()
                .map(|i| format!("/Im{i} {} 0 R", first_image + i))
                .collect();
            objects.push(
                format!(
                    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {} {}] /Resources << /Font << /F1 3 0 R /F2 4 0 R >> /XObject << {} >> >> /Contents {} 0 R >>",
                    n(page.width_pt),
                    n(page.height_pt),
                    xobjects.join(" "),
                    page_ids[k] + 1
                )
                .into_bytes(),
            );
            let data = deflate(page.content.as_bytes());
            let mut obj = format!(
                "<< /Filter /FlateDecode /Length {} >>\nstream\n",
                data.len()
            )
            .into_bytes();
            obj.extend_from_slice(&data);
            obj.extend_from_slice(b"\nendstream");
            objects.push(obj);
        }
        let mut out: Vec<u8> = b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n".to_vec();
        let mut offsets = Vec::with_capacity(objects.len());
        for (i, obj) in objects.iter().enumerate() {
            offsets.push(out.len());
            let _ = writeln!(out, "{} 0 obj", i + 1);
            out.extend_from_slice(obj);
            out.extend_from_slice(b"\nendobj\n");
        }
        let xref = out.len();
        let _ = write!(out, "xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
        for off in offsets {
            let _ = writeln!(out, "{off:010} 00000 n ");
        }
        let _ = write!(
            out,
            "trailer\n<< /Size {} /Root 1 0 R /Info 5 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        );
        out
    }
}

fn deflate(data: &[u8]) -> Vec<u8> {
    miniz_oxide::deflate::compress_to_vec_zlib(data, 6)
}

/// Test helpers shared with the report's tests.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod checks {
    /// Every xref entry must point at the start of its own object, or readers repair the file
    /// (or refuse it).
    pub(crate) fn assert_xref_valid(bytes: &[u8]) {
        let find_last = |needle: &[u8]| {
            bytes
                .windows(needle.len())
                .rposition(|w| w == needle)
                .unwrap()
        };
        let at = find_last(b"startxref\n") + 10;
        let digits: String = bytes[at..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .map(|&b| b as char)
            .collect();
        let xref: usize = digits.parse().unwrap();
        let table = String::from_utf8_lossy(&bytes[xref..]);
        let mut lines = table.lines();
        assert_eq!(lines.next(), Some("xref"));
        let header: Vec<usize> = lines
            .next()
            .unwrap()
            .split(' ')
            .map(|t| t.parse().unwrap())
            .collect();
        assert_eq!(header[0], 0);
        let count = header[1];
        assert_eq!(lines.next(), Some("0000000000 65535 f "));
        for object in 1..count {
            let entry = lines.next().unwrap();
            assert_eq!(
                entry.len(),
                19,
                "xref entries are 20 bytes with the newline"
            );
            assert!(entry.ends_with(" 00000 n "), "{entry}");
            let offset: usize = entry[..10].parse().unwrap();
            let expected = format!("{object} 0 obj");
            assert!(
                bytes[offset..].starts_with(expected.as_bytes()),
                "object {object} is not at offset {offset}"
            );
        }
        assert!(lines.next().unwrap().starts_with("trailer"));
        let trailer = String::from_utf8_lossy(&bytes[find_last(b"trailer")..]);
        assert!(trailer.contains(&format!("/Size {count}")));
    }

    /// The decompressed content stream of page `index`.
    pub(crate) fn inflate_stream(bytes: &[u8], index: usize) -> String {
        let mut streams = Vec::new();
        let mut from = 0;
        while let Some(k) = bytes[from..]
            .windows(25)
            .position(|w| w.starts_with(b"<< /Filter /FlateDecode /"))
        {
            let start = from + k;
            let data_at = start
                + bytes[start..]
                    .windows(7)
                    .position(|w| w == b"stream\n")
                    .unwrap()
                + 7;
            let end = data_at
                + bytes[data_at..]
                    .windows(10)
                    .position(|w| w == b"\nendstream")
                    .unwrap();
            streams.push(
                String::from_utf8(
                    miniz_oxide::inflate::decompress_to_vec_zlib(&bytes[data_at..end]).unwrap(),
                )
                .unwrap(),
            );
            from = end;
        }
        streams.swap_remove(index)
    }
}

#[cfg(test)]
mod tests {
    use super::checks::{assert_xref_valid, inflate_stream};
    use super::*;

    #[test]
    fn widths_follow_helvetica_metrics() {
        // "Hello" = H 722 + e 556 + l 222 + l 222 + o 556 = 2278 units.
        assert!((text_width("Hello", Face::Regular, 10.0) - 22.78).abs() < 1e-9);
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
    fn text_is_escaped_and_mapped() {
        assert_eq!(escape(&win_ansi("(a\\b) 5°")), "\\(a\\\\b\\) 5\\260");
        assert_eq!(win_ansi("P ≥ 0.80"), b"P >= 0.80".to_vec());
        assert_eq!(win_ansi("−30° · ü"), b"-30\xB0 \xB7 \xFC".to_vec());
    }

    #[test]
    fn document_structure_is_valid_and_deterministic() {
        let build = || {
            let mut doc = PdfDocument::new("Test");
            doc.add_page();
            doc.text(50.0, 60.0, 12.0, Face::Bold, "ECG report");
            doc.image(
                PdfImage {
                    width_px: 2,
                    height_px: 1,
                    rgb: vec![255, 0, 0, 0, 0, 255],
                },
                50.0,
                80.0,
                100.0,
                50.0,
            );
            doc.to_bytes()
        };
        let bytes = build();
        assert_eq!(bytes, build());
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.starts_with("%PDF-1.4"));
        assert!(text.trim_end().ends_with("%%EOF"));
        // The xref offset points at the xref table (byte offsets, so search the bytes).
        let at = bytes
            .windows(10)
            .rposition(|w| w == b"startxref\n")
            .unwrap()
            + 10;
        let digits: String = bytes[at..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .map(|&b| b as char)
            .collect();
        let startxref: usize = digits.parse().unwrap();
        assert!(bytes[startxref..].starts_with(b"xref"));
        assert!(text.contains("/Count 1"));
        assert!(text.contains("/Subtype /Image /Width 2 /Height 1"));
    }

    #[test]
    fn xref_offsets_point_at_their_objects_with_mixed_page_sizes() {
        let mut doc = PdfDocument::new("Mixed (pages)");
        doc.add_landscape_page();
        doc.set_stroke_rgb(0.0, 0.0, 0.0);
        doc.set_round_joins(true);
        doc.polylines(
            &[
                vec![(10.0, 10.0), (20.0, 30.0), (40.0, 5.0)],
                vec![(1.0, 1.0)],
            ],
            0.7,
        );
        doc.set_dash(Some((2.0, 2.0)));
        doc.stroke_rect(5.0, 5.0, 100.0, 50.0, 0.5);
        doc.set_dash(None);
        doc.add_page();
        doc.text_right(500.0, 100.0, 10.0, Face::Regular, "right");
        doc.image(
            PdfImage {
                width_px: 1,
                height_px: 1,
                rgb: vec![0, 0, 0],
            },
            10.0,
            10.0,
            10.0,
            10.0,
        );
        doc.select_page(0);
        doc.text(10.0, 580.0, 8.0, Face::Regular, "Page 1 of 2");
        assert_eq!(doc.page_count(), 2);
        let bytes = doc.to_bytes();
        assert_xref_valid(&bytes);
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("/MediaBox [0 0 841.89 595.28]"));
        assert!(text.contains("/MediaBox [0 0 595.28 841.89]"));
        assert!(text.contains("/Count 2"));
        // The page number went to the first (landscape) page: 595.28 - 580 = 15.28.
        let first = inflate_stream(&bytes, 0);
        assert!(first.contains("15.28 Td (Page 1 of 2) Tj"), "{first}");
        assert!(first.contains("10 585.28 m"), "{first}");
    }
}
