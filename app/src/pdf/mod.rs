//! The clinical report's PDF writer, on `krilla`: A4 pages in either orientation, text in two
//! embedded (subset) DejaVu Sans Condensed faces with full Unicode, rules, polylines, boxes and
//! RGB images, written as PDF/A-2b with tagged text.
//!
//! Drawing is recorded first (so page numbers can be added once every page exists) and
//! serialised by [`PdfDocument::to_bytes`]. Output is deterministic: the same document and
//! [`DocumentInfo`] give the same bytes (krilla derives the file identifiers from the content
//! and the document id; nothing reads the clock).

mod fonts;
mod write;

pub use fonts::{Face, text_width, wrap};

/// A4 in PDF points (1/72 inch).
pub const A4_WIDTH_PT: f64 = 595.28;
pub const A4_HEIGHT_PT: f64 = 841.89;

/// An RGB image placed on a page.
#[derive(Clone, Debug)]
pub struct PdfImage {
    pub width_px: u32,
    pub height_px: u32,
    /// Row-major RGB8.
    pub rgb: Vec<u8>,
}

/// What the archival metadata says about the document. Every field comes from the caller,
/// never from the clock, so a report of the same run made with the same inputs is the same
/// file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DocumentInfo {
    pub title: String,
    /// Who the document is by (the generating user).
    pub author: Option<String>,
    /// Creation time, UTC, as the store writes it ("2026-11-24T08:30:00.000000Z"); `None`
    /// leaves the dates out.
    pub created_utc: Option<String>,
    /// A stable identifier of the document (e.g. case, run and input hash): the PDF's
    /// `/ID` and the XMP document id are derived from it.
    pub document_id: Option<String>,
    /// RFC 3066 language of the text.
    pub language: String,
}

/// What a piece of content is, for the tag tree.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Mode {
    /// Text lines become paragraphs; graphics are layout artifacts.
    Content,
    /// Page furniture (running header and footer): artifacts, not part of the reading order.
    Furniture,
    /// A figure (the ECG on paper, the stored image): everything drawn until the mode changes
    /// is one tagged figure with this alternative text.
    Figure(String),
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Op {
    Mode(Mode),
    Fill(Rgb),
    Stroke(Rgb),
    Dash(Option<(f64, f64)>),
    RoundJoins(bool),
    Text {
        x: f64,
        y: f64,
        size: f64,
        face: Face,
        text: String,
        /// Heading level (1 = top), `None` for body text.
        heading: Option<u16>,
    },
    FillRect {
        x: f64,
        y: f64,
        w: f64,
        h: f64,
    },
    StrokeRect {
        x: f64,
        y: f64,
        w: f64,
        h: f64,
        width: f64,
    },
    Polylines {
        lines: Vec<Vec<(f64, f64)>>,
        width: f64,
    },
    Image {
        index: usize,
        x: f64,
        y: f64,
        w: f64,
        h: f64,
    },
}

/// An sRGB colour, components 0–1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Rgb(pub f64, pub f64, pub f64);

#[derive(Debug)]
pub(crate) struct Page {
    pub width_pt: f64,
    pub height_pt: f64,
    pub ops: Vec<Op>,
}

/// A document under construction. Coordinates are in points from the page's top-left corner.
/// Drawing goes to the current page: the one last added, or the one chosen with
/// [`PdfDocument::select_page`].
#[derive(Debug, Default)]
pub struct PdfDocument {
    pages: Vec<Page>,
    current: usize,
    images: Vec<PdfImage>,
    info: DocumentInfo,
}

impl PdfDocument {
    pub fn new(info: DocumentInfo) -> Self {
        Self {
            info,
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
        self.pages.push(Page {
            width_pt,
            height_pt,
            ops: Vec::new(),
        });
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

    fn push(&mut self, op: Op) {
        if self.pages.is_empty() {
            self.add_page();
        }
        let index = self.current.min(self.pages.len() - 1);
        self.pages[index].ops.push(op);
    }

    /// What follows on the current page is page furniture (artifacts for assistive readers).
    pub fn furniture(&mut self) {
        self.push(Op::Mode(Mode::Furniture));
    }

    /// What follows on the current page is the document's content.
    pub fn content(&mut self) {
        self.push(Op::Mode(Mode::Content));
    }

    /// What follows on the current page, until [`PdfDocument::content`], is one figure
    /// described by `alt`.
    pub fn figure(&mut self, alt: &str) {
        self.push(Op::Mode(Mode::Figure(alt.to_string())));
    }

    /// Text with its baseline at `y` (from the top).
    pub fn text(&mut self, x: f64, y: f64, size: f64, face: Face, text: &str) {
        self.push(Op::Text {
            x,
            y,
            size,
            face,
            text: text.to_string(),
            heading: None,
        });
    }

    /// A heading of `level` (1 = top) with its baseline at `y`.
    pub fn heading(&mut self, level: u16, x: f64, y: f64, size: f64, face: Face, text: &str) {
        self.push(Op::Text {
            x,
            y,
            size,
            face,
            text: text.to_string(),
            heading: Some(level.max(1)),
        });
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
        self.push(Op::Fill(Rgb(r, g, b)));
    }

    pub fn set_stroke_rgb(&mut self, r: f64, g: f64, b: f64) {
        self.push(Op::Stroke(Rgb(r, g, b)));
    }

    /// A filled rectangle with its top-left corner at (x, y).
    pub fn fill_rect(&mut self, x: f64, y: f64, w: f64, h: f64) {
        self.push(Op::FillRect { x, y, w, h });
    }

    /// The outline of a rectangle with its top-left corner at (x, y).
    pub fn stroke_rect(&mut self, x: f64, y: f64, w: f64, h: f64, width: f64) {
        self.push(Op::StrokeRect { x, y, w, h, width });
    }

    /// Dashes for the following strokes (`on` and `off` in points); `None` for solid lines.
    pub fn set_dash(&mut self, dash: Option<(f64, f64)>) {
        self.push(Op::Dash(dash));
    }

    /// Round joins and butt caps (traces), or miter joins (square pulses).
    pub fn set_round_joins(&mut self, round: bool) {
        self.push(Op::RoundJoins(round));
    }

    /// Several unconnected polylines stroked as one path of the given width. Lines with fewer
    /// than two points are skipped.
    pub fn polylines(&mut self, lines: &[Vec<(f64, f64)>], width: f64) {
        let lines: Vec<Vec<(f64, f64)>> = lines.iter().filter(|l| l.len() >= 2).cloned().collect();
        if !lines.is_empty() {
            self.push(Op::Polylines { lines, width });
        }
    }

    pub fn line(&mut self, x0: f64, y0: f64, x1: f64, y1: f64, width: f64) {
        self.polylines(&[vec![(x0, y0), (x1, y1)]], width);
    }

    /// Places an image with its top-left corner at (x, y), `w` × `h` points.
    pub fn image(&mut self, image: PdfImage, x: f64, y: f64, w: f64, h: f64) {
        let index = self.images.len();
        self.images.push(image);
        self.push(Op::Image { index, x, y, w, h });
    }

    /// Serialises the document as PDF/A-2b.
    ///
    /// # Errors
    /// krilla refusing the document (a PDF/A rule broken, a font it cannot embed): a bug in
    /// this writer, reported rather than written as a non-conforming file.
    pub fn to_bytes(&self) -> anyhow::Result<Vec<u8>> {
        write::serialise(&self.pages, &self.images, &self.info)
    }
}

#[cfg(test)]
pub(crate) mod checks;
#[cfg(test)]
mod tests;
