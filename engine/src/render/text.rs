//! Text on rendered pages: glyph outlines of the Hack font (the monospace font egui ships)
//! turned into tiny-skia paths, so labels are anti-aliased like the traces and the output
//! stays deterministic.

use skrifa::instance::{LocationRef, Size};
use skrifa::outline::{DrawSettings, OutlinePen};
use skrifa::{FontRef, MetadataProvider};
use tiny_skia::{FillRule, Paint, PathBuilder, Pixmap, Transform};

/// Collects a glyph's outline into a path, moving it to the pen position and flipping y
/// (font outlines point up, pixels point down).
struct GlyphPen<'a> {
    path: &'a mut PathBuilder,
    x: f32,
    baseline: f32,
}

impl OutlinePen for GlyphPen<'_> {
    fn move_to(&mut self, x: f32, y: f32) {
        self.path.move_to(self.x + x, self.baseline - y);
    }
    fn line_to(&mut self, x: f32, y: f32) {
        self.path.line_to(self.x + x, self.baseline - y);
    }
    fn quad_to(&mut self, cx0: f32, cy0: f32, x: f32, y: f32) {
        self.path.quad_to(
            self.x + cx0,
            self.baseline - cy0,
            self.x + x,
            self.baseline - y,
        );
    }
    fn curve_to(&mut self, cx0: f32, cy0: f32, cx1: f32, cy1: f32, x: f32, y: f32) {
        self.path.cubic_to(
            self.x + cx0,
            self.baseline - cy0,
            self.x + cx1,
            self.baseline - cy1,
            self.x + x,
            self.baseline - y,
        );
    }
    fn close(&mut self) {
        self.path.close();
    }
}

fn font() -> Option<FontRef<'static>> {
    FontRef::new(epaint_default_fonts::HACK_REGULAR).ok()
}

/// Draws `text` with its baseline's left end at (`x`, `baseline`), em size `size_px`.
/// Characters the font lacks are skipped (their advance kept). Returns the text's width.
pub fn draw_text(
    pixmap: &mut Pixmap,
    text: &str,
    x: f32,
    baseline: f32,
    size_px: f32,
    color: (u8, u8, u8),
) -> f32 {
    let Some(font) = font() else {
        return 0.0;
    };
    let size = Size::new(size_px);
    let outlines = font.outline_glyphs();
    let metrics = font.glyph_metrics(size, LocationRef::default());
    let charmap = font.charmap();
    let mut path = PathBuilder::new();
    let mut pen_x = x;
    for ch in text.chars() {
        let Some(gid) = charmap.map(ch) else {
            pen_x += size_px * 0.6;
            continue;
        };
        if let Some(glyph) = outlines.get(gid) {
            let mut pen = GlyphPen {
                path: &mut path,
                x: pen_x,
                baseline,
            };
            // A glyph that fails to draw is left out rather than failing the page.
            let _ = glyph.draw(
                DrawSettings::unhinted(size, LocationRef::default()),
                &mut pen,
            );
        }
        pen_x += metrics.advance_width(gid).unwrap_or(size_px * 0.6);
    }
    if let Some(path) = path.finish() {
        let mut paint = Paint::default();
        paint.set_color_rgba8(color.0, color.1, color.2, 255);
        paint.anti_alias = true;
        pixmap.fill_path(
            &path,
            &paint,
            FillRule::Winding,
            Transform::identity(),
            None,
        );
    }
    pen_x - x
}
