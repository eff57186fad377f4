//! The report's two faces (DejaVu Sans Condensed, regular and bold, from the `dejavu` crate:
//! Bitstream Vera licence, free to embed and redistribute), their metrics, and laying text out
//! as glyphs. Widths for wrapping and the glyphs drawn come from the same advance table, so a
//! line measured to fit is the line printed. No shaping beyond one glyph per character (the
//! report is Latin text, numbers and a few symbols); kerning is not applied.

use std::sync::LazyLock;

use skrifa::instance::{LocationRef, Size};
use skrifa::{FontRef, MetadataProvider};

/// The two faces the report uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Face {
    Regular,
    Bold,
}

impl Face {
    /// The font file, embedded in the binary.
    pub(super) fn bytes(self) -> &'static [u8] {
        match self {
            Self::Regular => dejavu::sans_condensed::regular(),
            Self::Bold => dejavu::sans_condensed::bold(),
        }
    }
}

/// What is printed for a character the face has no glyph for (PDF/A forbids drawing the
/// `.notdef` glyph, and a silent blank would hide that something was replaced).
const REPLACEMENT: char = '?';

/// One laid-out glyph: its id in the face, its advance in em, and the bytes of the text it
/// stands for.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct PlacedGlyph {
    pub glyph_id: u32,
    pub advance_em: f32,
    pub text_range: std::ops::Range<usize>,
}

/// A line ready to draw: the text as printed (characters without a glyph replaced) and its
/// glyphs.
#[derive(Clone, Debug)]
pub(super) struct LaidOut {
    pub text: String,
    pub glyphs: Vec<PlacedGlyph>,
}

struct FaceMetrics {
    font: Option<FontRef<'static>>,
    units_per_em: f32,
}

impl FaceMetrics {
    fn load(face: Face) -> Self {
        // The fonts are compiled in; a parse failure would be a broken build of the `dejavu`
        // crate, and then every width falls back to half an em rather than panicking.
        let font = FontRef::new(face.bytes()).ok();
        let units_per_em = font.as_ref().map_or(2048.0, |f| {
            f32::from(
                f.metrics(Size::unscaled(), LocationRef::default())
                    .units_per_em,
            )
        });
        Self { font, units_per_em }
    }

    /// Glyph id and advance (em) of `c`, `None` when the face has no glyph for it.
    fn glyph(&self, c: char) -> Option<(u32, f32)> {
        let font = self.font.as_ref()?;
        let gid = font.charmap().map(c)?;
        if gid.to_u32() == 0 {
            return None;
        }
        let advance = font
            .glyph_metrics(Size::unscaled(), LocationRef::default())
            .advance_width(gid)
            .unwrap_or(self.units_per_em / 2.0);
        Some((gid.to_u32(), advance / self.units_per_em))
    }
}

static REGULAR: LazyLock<FaceMetrics> = LazyLock::new(|| FaceMetrics::load(Face::Regular));
static BOLD: LazyLock<FaceMetrics> = LazyLock::new(|| FaceMetrics::load(Face::Bold));

fn metrics(face: Face) -> &'static FaceMetrics {
    match face {
        Face::Regular => &REGULAR,
        Face::Bold => &BOLD,
    }
}

/// Lays `text` out in `face`: tabs and other control characters print as spaces, characters
/// the face lacks as [`REPLACEMENT`].
pub(super) fn lay_out(text: &str, face: Face) -> LaidOut {
    let m = metrics(face);
    let mut printed = String::with_capacity(text.len());
    let mut glyphs = Vec::with_capacity(text.len());
    for c in text.chars() {
        let c = if c.is_control() { ' ' } else { c };
        let (c, found) = match m.glyph(c) {
            Some(g) => (c, Some(g)),
            None => (REPLACEMENT, m.glyph(REPLACEMENT)),
        };
        let start = printed.len();
        printed.push(c);
        if let Some((glyph_id, advance_em)) = found {
            glyphs.push(PlacedGlyph {
                glyph_id,
                advance_em,
                text_range: start..printed.len(),
            });
        }
    }
    LaidOut {
        text: printed,
        glyphs,
    }
}

/// Width of `text` in points at `size`.
pub fn text_width(text: &str, face: Face, size: f64) -> f64 {
    let em: f32 = lay_out(text, face)
        .glyphs
        .iter()
        .map(|g| g.advance_em)
        .sum();
    f64::from(em) * size
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
