//! Trace/grid separation by colour and intensity.
//!
//! Paper is the brightest level on the page; the trace is printed in dark ink; grid lines are
//! lighter than the ink (pink or red on colour pages, mid-grey on black-and-white copies).
//! Everything is measured relative to the paper level so a dim photo or a grey scan behaves
//! like a clean render.

use image::{GrayImage, Luma, RgbImage};

/// Ink is darker than this share of the paper level (the major grid of a colour page sits at
/// ≈ 60 %, the trace at ≈ 0 %).
const INK_LEVEL: f64 = 0.45;
/// On a colour page, grey pixels darker than this share of paper are ink too.
const GREY_INK_LEVEL: f64 = 0.8;

/// The page reduced to what the later steps need.
#[derive(Clone, Debug)]
pub(crate) struct Planes {
    pub width: u32,
    pub height: u32,
    /// 255 where a pixel is trace (or text) ink, 0 elsewhere.
    pub ink: GrayImage,
    /// How much darker than paper each non-ink pixel is (0–255): the grid, for its pitch.
    pub grid_weight: Vec<f32>,
    /// How much darker than paper each pixel is in its brightest channel (0–255), for
    /// sub-pixel trace positions: the ink's darkness, little of a red grid's.
    pub darkness: GrayImage,
    /// Is the page printed in colour (a reddish grid)?
    pub colour: bool,
    /// The paper's luminance.
    pub paper_level: f64,
}

fn luminance(p: [u8; 3]) -> f64 {
    0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2])
}

/// The level below which `fraction` of the sampled luminances lie.
/// A pixel's brightest channel: black ink darkens every channel, a red grid line hardly
/// the red one, so the darkness read from this channel is the ink's, with little of the grid
/// under it (on a grey page it is the luminance).
fn brightest(p: [u8; 3]) -> u8 {
    p[0].max(p[1]).max(p[2])
}

fn percentile(hist: &[u64; 256], fraction: f64) -> f64 {
    let total: u64 = hist.iter().sum();
    let target = (total as f64 * fraction) as u64;
    let mut acc = 0;
    for (level, &count) in hist.iter().enumerate() {
        acc += count;
        if acc > target {
            return level as f64;
        }
    }
    255.0
}

/// Classifies every pixel of `image`.
pub(crate) fn separate(image: &RgbImage, thin_strokes: bool) -> Planes {
    let (width, height) = image.dimensions();
    let mut hist = [0u64; 256];
    let mut brightest_hist = [0u64; 256];
    let mut reddish = 0u64;
    let mut non_paper = 0u64;
    for p in image.pixels() {
        let l = luminance(p.0);
        hist[l.round().clamp(0.0, 255.0) as usize] += 1;
        brightest_hist[usize::from(brightest(p.0))] += 1;
    }
    // Paper: the bright end of the page (most of a page is paper).
    let paper_level = percentile(&hist, 0.75).max(percentile(&hist, 0.95) - 10.0);
    let redness = |p: [u8; 3]| f64::from(p[0]) - f64::midpoint(f64::from(p[1]), f64::from(p[2]));
    for p in image.pixels() {
        if luminance(p.0) < paper_level - 25.0 {
            non_paper += 1;
            if redness(p.0) > 25.0 {
                reddish += 1;
            }
        }
    }
    let colour = non_paper > 0 && reddish * 5 > non_paper;
    let paper_brightest =
        percentile(&brightest_hist, 0.75).max(percentile(&brightest_hist, 0.95) - 10.0);
    let ink_level = paper_level * INK_LEVEL;
    let grey_ink_level = paper_level * GREY_INK_LEVEL;
    let mut ink = GrayImage::new(width, height);
    let mut grid_weight = vec![0.0f32; (width as usize) * (height as usize)];
    let mut darkness = GrayImage::new(width, height);
    for (i, (x, y, p)) in image.enumerate_pixels().enumerate() {
        let l = luminance(p.0);
        let dark = paper_brightest - f64::from(brightest(p.0));
        darkness.put_pixel(x, y, Luma([dark.clamp(0.0, 255.0) as u8]));
        // At low resolution a stroke is about a pixel wide and half covers most pixels it
        // crosses: on a colour page such grey pixels are ink too (the grid is red).
        let grey_ink = thin_strokes
            && colour
            && l < grey_ink_level
            && redness(p.0) < 12.0 + 0.1 * (paper_level - l);
        if l < ink_level || grey_ink {
            ink.put_pixel(x, y, Luma([255]));
        } else {
            grid_weight[i] = (paper_level - l).max(0.0) as f32;
        }
    }
    Planes {
        width,
        height,
        ink,
        grid_weight,
        darkness,
        colour,
        paper_level,
    }
}

/// Column sums (`by_column`) or row sums of the grid weight, inside `region` (x0, y0, x1, y1).
pub(crate) fn grid_projection(planes: &Planes, by_column: bool) -> Vec<f64> {
    let (w, h) = (planes.width as usize, planes.height as usize);
    let mut out = vec![0.0; if by_column { w } else { h }];
    for y in 0..h {
        let row = &planes.grid_weight[y * w..(y + 1) * w];
        if by_column {
            for (o, &v) in out.iter_mut().zip(row) {
                *o += f64::from(v);
            }
        } else {
            out[y] = row.iter().map(|&v| f64::from(v)).sum();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn black_ink_on_a_pink_grid_is_told_apart() {
        let mut img = RgbImage::from_pixel(40, 40, Rgb([255, 255, 255]));
        for y in 0..40 {
            img.put_pixel(10, y, Rgb([232, 120, 120]));
        }
        for x in 0..40 {
            img.put_pixel(x, 20, Rgb([0, 0, 0]));
        }
        let p = separate(&img, false);
        assert!(p.colour);
        assert_eq!(p.ink.get_pixel(5, 20).0[0], 255);
        assert_eq!(p.ink.get_pixel(10, 5).0[0], 0);
        assert!(p.grid_weight[5 * 40 + 10] > 80.0);
        assert_eq!(p.grid_weight[5 * 40 + 11], 0.0);
    }
}
