//! Plays a recorded [`super::PdfDocument`] into krilla: pages, paths, glyphs and images,
//! the tag tree (headings, paragraphs, figures; furniture and rules as artifacts) and the
//! archival metadata, validated as PDF/A-2b by krilla on the way out.

use std::hash::{Hash, Hasher};
use std::num::NonZeroU16;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use krilla::color::rgb;
use krilla::configure::{Archival, ConfigurationBuilder};
use krilla::geom::{PathBuilder, Point, Size, Transform};
use krilla::image::{BitsPerComponent, CustomImage, Image, ImageColorspace};
use krilla::metadata::{DateTime, Metadata};
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::{Fill, FillRule, LineCap, LineJoin, Stroke, StrokeDash};
use krilla::surface::Surface;
use krilla::tagging::{
    Artifact, ArtifactType, ContentTag, Node, SpanTag, Tag, TagGroup, TagKind, TagTree,
};
use krilla::text::{Font, GlyphId, KrillaGlyph};
use krilla::{Document, SerializeSettings};

use super::fonts::lay_out;
use super::{DocumentInfo, Face, Mode, Op, Page, PdfImage, Rgb};

/// An RGB8 image for krilla (it hashes images to share identical ones; the hash of the
/// pixels is computed once).
#[derive(Clone)]
struct RgbPixels {
    pixels: Arc<Vec<u8>>,
    size: (u32, u32),
    hash: u64,
}

impl RgbPixels {
    fn new(image: &PdfImage) -> Self {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        image.rgb.hash(&mut hasher);
        (image.width_px, image.height_px).hash(&mut hasher);
        Self {
            pixels: Arc::new(image.rgb.clone()),
            size: (image.width_px, image.height_px),
            hash: hasher.finish(),
        }
    }
}

impl Hash for RgbPixels {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.hash.hash(state);
    }
}

impl CustomImage for RgbPixels {
    fn color_channel(&self) -> &[u8] {
        &self.pixels
    }
    fn alpha_channel(&self) -> Option<&[u8]> {
        None
    }
    fn bits_per_component(&self) -> BitsPerComponent {
        BitsPerComponent::Eight
    }
    fn size(&self) -> (u32, u32) {
        self.size
    }
    fn icc_profile(&self) -> Option<&[u8]> {
        None
    }
    fn color_space(&self) -> ImageColorspace {
        ImageColorspace::Rgb
    }
}

/// "2026-11-24T08:30:00.123456Z" → a UTC date; `None` for anything else.
fn parse_utc(stamp: &str) -> Option<DateTime> {
    let b = stamp.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| stamp.get(r)?.parse::<u16>().ok();
    let small = |r: std::ops::Range<usize>| num(r).and_then(|v| u8::try_from(v).ok());
    Some(
        DateTime::new(num(0..4)?)
            .month(small(5..7)?)
            .day(small(8..10)?)
            .hour(small(11..13)?)
            .minute(small(14..16)?)
            .second(small(17..19)?)
            .utc_offset_hour(0)
            .utc_offset_minute(0),
    )
}

fn metadata(info: &DocumentInfo) -> Metadata {
    let mut m = Metadata::new()
        .title(info.title.clone())
        .language(info.language.clone())
        .creator(format!("ECG-R1 workstation {}", env!("CARGO_PKG_VERSION")))
        .producer(format!(
            "ECG-R1 workstation {} (krilla)",
            env!("CARGO_PKG_VERSION")
        ));
    if let Some(author) = &info.author {
        m = m.authors(vec![author.clone()]);
    }
    if let Some(date) = info.created_utc.as_deref().and_then(parse_utc) {
        m = m.creation_date(date);
    }
    if let Some(id) = &info.document_id {
        m = m.document_id(id.clone());
    }
    m
}

fn colour(c: Rgb) -> rgb::Color {
    let byte = |v: f64| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    rgb::Color::new(byte(c.0), byte(c.1), byte(c.2))
}

/// The graphics state a page's ops build up.
struct Pen {
    fill: Rgb,
    stroke: Rgb,
    dash: Option<(f64, f64)>,
    round: bool,
}

impl Pen {
    fn new() -> Self {
        Self {
            fill: Rgb(0.0, 0.0, 0.0),
            stroke: Rgb(0.0, 0.0, 0.0),
            dash: None,
            round: false,
        }
    }

    fn fill(&self) -> Fill {
        Fill {
            paint: colour(self.fill).into(),
            opacity: NormalizedF32::ONE,
            rule: FillRule::NonZero,
        }
    }

    fn stroke(&self, width: f64) -> Stroke {
        Stroke {
            paint: colour(self.stroke).into(),
            width: width as f32,
            miter_limit: 10.0,
            line_cap: LineCap::Butt,
            line_join: if self.round {
                LineJoin::Round
            } else {
                LineJoin::Miter
            },
            opacity: NormalizedF32::ONE,
            dash: self.dash.map(|(on, off)| StrokeDash {
                array: vec![on as f32, off as f32],
                offset: 0.0,
            }),
        }
    }
}

/// The marked-content section open on the page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Open {
    Figure,
    Artifact,
    Text,
}

/// Where the tag tree is being built: groups in reading order, and the section under way.
struct Tagger {
    nodes: Vec<Node>,
    mode: Mode,
    open: Option<Open>,
}

impl Tagger {
    fn close(&mut self, surface: &mut Surface<'_>) {
        if self.open.take().is_some() {
            surface.end_tagged();
        }
    }

    fn set_mode(&mut self, mode: Mode, surface: &mut Surface<'_>) {
        if mode != self.mode {
            self.close(surface);
            self.mode = mode;
        }
    }

    /// Opens (or keeps open) the section for graphics in the current mode.
    fn graphics(&mut self, surface: &mut Surface<'_>) {
        match self.mode.clone() {
            Mode::Figure(alt) => {
                if self.open != Some(Open::Figure) {
                    self.close(surface);
                    let id = surface.start_tagged(ContentTag::Other);
                    let mut group = TagGroup::new(Tag::Figure(Some(alt)));
                    group.push(id);
                    self.nodes.push(group.into());
                    self.open = Some(Open::Figure);
                }
            }
            Mode::Content | Mode::Furniture => {
                if self.open != Some(Open::Artifact) {
                    self.close(surface);
                    let kind = if self.mode == Mode::Furniture {
                        ArtifactType::PaginationOther
                    } else {
                        ArtifactType::Layout
                    };
                    surface.start_tagged(ContentTag::Artifact(Artifact::with_kind(kind)));
                    self.open = Some(Open::Artifact);
                }
            }
        }
    }

    /// Opens the section for one line of text: a paragraph or heading of its own in the
    /// content, part of the figure or the furniture otherwise.
    fn text(&mut self, heading: Option<u16>, surface: &mut Surface<'_>) {
        if self.mode != Mode::Content {
            self.graphics(surface);
            return;
        }
        self.close(surface);
        let id = surface.start_tagged(ContentTag::Span(SpanTag::empty()));
        let kind: TagKind = match heading.and_then(NonZeroU16::new) {
            Some(level) => Tag::Hn(level, None).into(),
            None => Tag::P.into(),
        };
        let mut group = TagGroup::new(kind);
        group.push(id);
        self.nodes.push(group.into());
        self.open = Some(Open::Text);
    }
}

fn draw_page(
    page: &Page,
    surface: &mut Surface<'_>,
    fonts: &[(Face, Font)],
    images: &[Image],
    tagger: &mut Tagger,
) {
    let mut pen = Pen::new();
    tagger.mode = Mode::Content;
    for op in &page.ops {
        match op {
            Op::Mode(mode) => tagger.set_mode(mode.clone(), surface),
            Op::Fill(c) => pen.fill = *c,
            Op::Stroke(c) => pen.stroke = *c,
            Op::Dash(d) => pen.dash = *d,
            Op::RoundJoins(r) => pen.round = *r,
            Op::Text {
                x,
                y,
                size,
                face,
                text,
                heading,
            } => {
                let laid = lay_out(text, *face);
                if laid.glyphs.is_empty() {
                    continue;
                }
                let Some((_, font)) = fonts.iter().find(|(f, _)| f == face) else {
                    continue;
                };
                let glyphs: Vec<KrillaGlyph> = laid
                    .glyphs
                    .iter()
                    .map(|g| KrillaGlyph {
                        glyph_id: GlyphId::new(g.glyph_id),
                        text_range: g.text_range.clone(),
                        x_advance: g.advance_em,
                        x_offset: 0.0,
                        y_offset: 0.0,
                        y_advance: 0.0,
                        location: None,
                    })
                    .collect();
                tagger.text(*heading, surface);
                surface.set_fill(Some(pen.fill()));
                surface.set_stroke(None);
                surface.draw_glyphs(
                    Point::from_xy(*x as f32, *y as f32),
                    &glyphs,
                    font.clone(),
                    &laid.text,
                    *size as f32,
                    false,
                );
            }
            Op::FillRect { x, y, w, h } => {
                let mut pb = PathBuilder::new();
                if let Some(rect) =
                    krilla::geom::Rect::from_xywh(*x as f32, *y as f32, *w as f32, *h as f32)
                {
                    pb.push_rect(rect);
                }
                if let Some(path) = pb.finish() {
                    tagger.graphics(surface);
                    surface.set_fill(Some(pen.fill()));
                    surface.set_stroke(None);
                    surface.draw_path(&path);
                }
            }
            Op::StrokeRect { x, y, w, h, width } => {
                let (x, y, w, h) = (*x as f32, *y as f32, *w as f32, *h as f32);
                let mut pb = PathBuilder::new();
                pb.move_to(x, y);
                pb.line_to(x + w, y);
                pb.line_to(x + w, y + h);
                pb.line_to(x, y + h);
                pb.close();
                if let Some(path) = pb.finish() {
                    tagger.graphics(surface);
                    surface.set_fill(None);
                    surface.set_stroke(Some(pen.stroke(*width)));
                    surface.draw_path(&path);
                }
            }
            Op::Polylines { lines, width } => {
                let mut pb = PathBuilder::new();
                for line in lines {
                    for (k, &(x, y)) in line.iter().enumerate() {
                        if k == 0 {
                            pb.move_to(x as f32, y as f32);
                        } else {
                            pb.line_to(x as f32, y as f32);
                        }
                    }
                }
                if let Some(path) = pb.finish() {
                    tagger.graphics(surface);
                    surface.set_fill(None);
                    surface.set_stroke(Some(pen.stroke(*width)));
                    surface.draw_path(&path);
                }
            }
            Op::Image { index, x, y, w, h } => {
                let (Some(image), Some(size)) =
                    (images.get(*index), Size::from_wh(*w as f32, *h as f32))
                else {
                    continue;
                };
                tagger.graphics(surface);
                surface.push_transform(&Transform::from_translate(*x as f32, *y as f32));
                surface.draw_image(image.clone(), size);
                surface.pop();
            }
        }
    }
    tagger.close(surface);
}

pub(super) fn serialise(
    pages: &[Page],
    images: &[PdfImage],
    info: &DocumentInfo,
) -> Result<Vec<u8>> {
    let configuration = ConfigurationBuilder::new()
        .with_archival_validator(Archival::A2_B)
        .finish()
        .map_err(|e| anyhow!("the PDF/A-2b configuration was refused: {e:?}"))?;
    let settings = SerializeSettings {
        configuration,
        enable_tagging: true,
        ..SerializeSettings::default()
    };
    let mut document = Document::new_with(settings);
    document.set_metadata(metadata(info));
    let mut fonts = Vec::new();
    for face in [Face::Regular, Face::Bold] {
        let font = Font::new(face.bytes().into(), 0)
            .with_context(|| format!("the embedded {face:?} font cannot be read"))?;
        fonts.push((face, font));
    }
    let images = images
        .iter()
        .map(|image| {
            Image::from_custom(RgbPixels::new(image), false)
                .map_err(|e| anyhow!("an image cannot be embedded in the PDF: {e}"))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut tagger = Tagger {
        nodes: Vec::new(),
        mode: Mode::Content,
        open: None,
    };
    for page in pages {
        let settings = PageSettings::from_wh(page.width_pt as f32, page.height_pt as f32)
            .ok_or_else(|| {
                anyhow!(
                    "a page of {} x {} points cannot be written",
                    page.width_pt,
                    page.height_pt
                )
            })?;
        let mut kpage = document.start_page_with(settings);
        let mut surface = kpage.surface();
        draw_page(page, &mut surface, &fonts, &images, &mut tagger);
        surface.finish();
        kpage.finish();
    }
    let mut tree = TagTree::new().with_lang(Some(info.language.clone()));
    for node in tagger.nodes {
        tree.push(node);
    }
    document.set_tag_tree(tree);
    document
        .finish()
        .map_err(|e| anyhow!("the PDF could not be written as PDF/A-2b: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_stamps_become_utc_dates() {
        assert!(parse_utc("2026-11-24T08:30:00.000000Z").is_some());
        assert!(parse_utc("2026-11-24").is_none());
        assert!(parse_utc("yesterday at noon, roughly").is_none());
    }
}
