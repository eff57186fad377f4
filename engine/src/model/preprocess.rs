//! Image preprocessing identical to transformers' `Qwen2VLImageProcessor` (PIL backend):
//! smart resize to multiples of patch × merge within the pixel budget, bicubic resampling exactly
//! as Pillow does it (fixed-point, separable, antialiased, rounding to 8 bits after each pass),
//! rescale by 1/255, CLIP mean/std normalisation, temporal duplication and the patch order the
//! vision tower expects.

use std::path::Path;

use serde_json::Value;

use super::ModelError;

/// The image processor settings of a checkpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageProcessorConfig {
    pub min_pixels: u64,
    pub max_pixels: u64,
    pub patch_size: usize,
    pub merge_size: usize,
    pub temporal_patch_size: usize,
    pub image_mean: [f32; 3],
    pub image_std: [f32; 3],
    pub rescale_factor: f64,
    pub do_resize: bool,
    pub do_rescale: bool,
    pub do_normalize: bool,
}

const OPENAI_CLIP_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
// The reference's decimal constants, kept verbatim (numpy rounds them to f32 the same way).
#[allow(clippy::excessive_precision)]
const OPENAI_CLIP_STD: [f32; 3] = [0.268_629_54, 0.261_302_58, 0.275_777_11];

impl Default for ImageProcessorConfig {
    /// `Qwen2VLImageProcessor`'s documented defaults.
    fn default() -> Self {
        Self {
            min_pixels: 56 * 56,
            max_pixels: 28 * 28 * 1280,
            patch_size: 14,
            merge_size: 2,
            temporal_patch_size: 2,
            image_mean: OPENAI_CLIP_MEAN,
            image_std: OPENAI_CLIP_STD,
            rescale_factor: 1.0 / 255.0,
            do_resize: true,
            do_rescale: true,
            do_normalize: true,
        }
    }
}

impl ImageProcessorConfig {
    /// Qwen3-VL's published processor settings (patch 16, merge 2, mean = std = 0.5, pixel budget
    /// 65 536 to 16 777 216), the fallback for a Qwen3-VL checkpoint whose files omit a field:
    /// transformers would fall back to Qwen2-VL's values, which do not fit Qwen3-VL's patch size.
    pub fn qwen3vl() -> Self {
        Self {
            min_pixels: 65_536,
            max_pixels: 16_777_216,
            patch_size: 16,
            image_mean: [0.5; 3],
            image_std: [0.5; 3],
            ..Self::default()
        }
    }
}

/// Largest resized image accepted, in pixels (the budget can be raised by a config, not beyond).
const MAX_RESIZED_PIXELS: u64 = 64 * 1024 * 1024;

impl ImageProcessorConfig {
    /// Reads `preprocessor_config.json` (flat, older checkpoints) or the `image_processor` section
    /// of `processor_config.json` (transformers 5.x); Qwen2-VL's defaults when neither exists.
    pub fn from_dir(dir: &Path) -> Result<Self, ModelError> {
        Self::from_dir_with_defaults(dir, &Self::default())
    }

    /// Like [`Self::from_dir`], with `defaults` for whatever the files leave out.
    pub fn from_dir_with_defaults(dir: &Path, defaults: &Self) -> Result<Self, ModelError> {
        let pre = dir.join("preprocessor_config.json");
        let proc = dir.join("processor_config.json");
        let (path, value) = if pre.is_file() {
            let v = read_json(&pre)?;
            (pre, v)
        } else if proc.is_file() {
            let v = read_json(&proc)?;
            match v.get("image_processor") {
                Some(ip) if ip.is_object() => (proc, ip.clone()),
                _ => return Ok(defaults.clone()),
            }
        } else {
            return Ok(defaults.clone());
        };
        Self::from_value_with_defaults(&path.display().to_string(), &value, defaults)
    }

    /// Parses the image processor fields. The pixel budget is spelled `min_pixels`/`max_pixels`
    /// (top level or inside `size`) or `size.shortest_edge`/`size.longest_edge`; all are pixel
    /// counts.
    pub fn from_value(file: &str, v: &Value) -> Result<Self, ModelError> {
        Self::from_value_with_defaults(file, v, &Self::default())
    }

    /// Like [`Self::from_value`], with `defaults` for the fields `v` leaves out.
    pub fn from_value_with_defaults(
        file: &str,
        v: &Value,
        defaults: &Self,
    ) -> Result<Self, ModelError> {
        let mut c = defaults.clone();
        let size = v.get("size");
        let count = |name: &str, x: &Value| -> Result<u64, ModelError> {
            x.as_u64()
                .filter(|n| *n > 0 && *n <= MAX_RESIZED_PIXELS)
                .ok_or_else(|| {
                    ModelError::config(file, name, format!("expected a pixel count, found {x}"))
                })
        };
        if let Some((k, x)) = pick(&[
            ("min_pixels", Some(v)),
            ("min_pixels", size),
            ("shortest_edge", size),
        ]) {
            c.min_pixels = count(&k, x)?;
        }
        if let Some((k, x)) = pick(&[
            ("max_pixels", Some(v)),
            ("max_pixels", size),
            ("longest_edge", size),
        ]) {
            c.max_pixels = count(&k, x)?;
        }
        if c.min_pixels > c.max_pixels {
            return Err(ModelError::config(
                file,
                "min_pixels",
                format!("{} exceeds max_pixels {}", c.min_pixels, c.max_pixels),
            ));
        }
        let small = |name: &str, default: usize| -> Result<usize, ModelError> {
            match v.get(name).filter(|x| !x.is_null()) {
                None => Ok(default),
                Some(x) => x
                    .as_u64()
                    .filter(|n| (1..=1024).contains(n))
                    .map(|n| n as usize)
                    .ok_or_else(|| {
                        ModelError::config(file, name, format!("expected 1..=1024, found {x}"))
                    }),
            }
        };
        c.patch_size = small("patch_size", c.patch_size)?;
        c.merge_size = small("merge_size", c.merge_size)?;
        c.temporal_patch_size = small("temporal_patch_size", c.temporal_patch_size)?;
        let triple = |name: &str, default: [f32; 3]| -> Result<[f32; 3], ModelError> {
            match v.get(name).filter(|x| !x.is_null()) {
                None => Ok(default),
                Some(x) => {
                    let vals: Vec<f32> = x
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(Value::as_f64)
                                .map(|f| f as f32)
                                .collect()
                        })
                        .unwrap_or_default();
                    match vals[..] {
                        [a, b, c] if [a, b, c].iter().all(|f| f.is_finite()) => Ok([a, b, c]),
                        _ => Err(ModelError::config(
                            file,
                            name,
                            format!("expected three numbers, found {x}"),
                        )),
                    }
                }
            }
        };
        c.image_mean = triple("image_mean", c.image_mean)?;
        c.image_std = triple("image_std", c.image_std)?;
        if c.image_std.contains(&0.0) {
            return Err(ModelError::config(
                file,
                "image_std",
                "a standard deviation is zero",
            ));
        }
        if let Some(x) = v.get("rescale_factor").and_then(Value::as_f64) {
            c.rescale_factor = x;
        }
        let flag =
            |name: &str, default: bool| v.get(name).and_then(Value::as_bool).unwrap_or(default);
        c.do_resize = flag("do_resize", defaults.do_resize);
        c.do_rescale = flag("do_rescale", defaults.do_rescale);
        c.do_normalize = flag("do_normalize", defaults.do_normalize);
        Ok(c)
    }

    /// Side length every resized dimension is a multiple of.
    pub fn factor(&self) -> usize {
        self.patch_size * self.merge_size
    }
}

/// The first of `keys` (each looked up in its object) that is present and not null.
fn pick<'v>(keys: &[(&str, Option<&'v Value>)]) -> Option<(String, &'v Value)> {
    keys.iter().find_map(|(k, obj)| {
        obj.and_then(|o| o.get(*k))
            .filter(|x| !x.is_null())
            .map(|x| ((*k).to_string(), x))
    })
}

fn read_json(path: &Path) -> Result<Value, ModelError> {
    let text = std::fs::read_to_string(path).map_err(|e| ModelError::file(path, e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| ModelError::file(path, format!("not valid JSON: {e}")))
}

/// `smart_resize` of the reference: both sides multiples of `factor`, pixel count within
/// [min, max], aspect ratio kept as closely as possible. Python's `round` rounds half to even.
pub fn smart_resize(
    height: usize,
    width: usize,
    factor: usize,
    min_pixels: u64,
    max_pixels: u64,
) -> Result<(usize, usize), ModelError> {
    if height == 0 || width == 0 || factor == 0 {
        return Err(ModelError::Image(format!(
            "cannot resize a {width}×{height} image"
        )));
    }
    let (h, w, f) = (height as f64, width as f64, factor as f64);
    if h.max(w) / h.min(w) > 200.0 {
        return Err(ModelError::Image(format!(
            "aspect ratio of {width}×{height} exceeds 200 (the processor refuses it)"
        )));
    }
    let mut h_bar = (h / f).round_ties_even() * f;
    let mut w_bar = (w / f).round_ties_even() * f;
    if h_bar * w_bar > max_pixels as f64 {
        let beta = ((h * w) / max_pixels as f64).sqrt();
        h_bar = f.max((h / beta / f).floor() * f);
        w_bar = f.max((w / beta / f).floor() * f);
    } else if h_bar * w_bar < min_pixels as f64 {
        let beta = (min_pixels as f64 / (h * w)).sqrt();
        h_bar = (h * beta / f).ceil() * f;
        w_bar = (w * beta / f).ceil() * f;
    }
    if h_bar * w_bar > MAX_RESIZED_PIXELS as f64 {
        return Err(ModelError::Image(format!(
            "resized size {w_bar}×{h_bar} is too large"
        )));
    }
    Ok((h_bar as usize, w_bar as usize))
}

/// Pillow's bicubic filter (a = -0.5).
fn bicubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// Pillow's fixed-point precision for 8-bit images.
const PRECISION_BITS: u32 = 32 - 8 - 2;

/// Per output pixel: first input index and fixed-point weights (Pillow's `precompute_coeffs`
/// followed by `normalize_coeffs_8bpc`).
fn coefficients(in_size: usize, out_size: usize) -> Vec<(usize, Vec<i32>)> {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = 2.0 * filterscale;
    let mut out = Vec::with_capacity(out_size);
    for xx in 0..out_size {
        let center = (xx as f64 + 0.5) * scale;
        let ss = 1.0 / filterscale;
        // Pillow truncates toward zero after adding 0.5 (a C cast).
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64).max(0) as usize;
        let n = xmax.saturating_sub(xmin);
        let mut k: Vec<f64> = (0..n)
            .map(|x| bicubic((x as f64 + xmin as f64 - center + 0.5) * ss))
            .collect();
        let ww: f64 = k.iter().sum();
        if ww != 0.0 {
            for w in &mut k {
                *w /= ww;
            }
        }
        let fixed = k
            .iter()
            .map(|&w| {
                let scaled = w * f64::from(1u32 << PRECISION_BITS);
                if w < 0.0 {
                    (scaled - 0.5) as i32
                } else {
                    (scaled + 0.5) as i32
                }
            })
            .collect();
        out.push((xmin, fixed));
    }
    out
}

fn clip8(acc: i32) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Resizes an RGB8 image (row-major, 3 bytes a pixel) with Pillow's bicubic resampling: the
/// horizontal pass first, then the vertical, each rounded to 8 bits. A pass whose size does not
/// change is skipped, as Pillow does.
pub fn resize_bicubic_rgb8(
    src: &[u8],
    width: usize,
    height: usize,
    new_width: usize,
    new_height: usize,
) -> Vec<u8> {
    let mut cur = src.to_vec();
    let mut cur_w = width;
    if new_width != width {
        let coeffs = coefficients(width, new_width);
        let mut out = vec![0u8; new_width * height * 3];
        for y in 0..height {
            let row = &cur[y * width * 3..(y + 1) * width * 3];
            for (xx, (xmin, k)) in coeffs.iter().enumerate() {
                for c in 0..3 {
                    let mut acc: i32 = 1 << (PRECISION_BITS - 1);
                    for (i, w) in k.iter().enumerate() {
                        acc = acc.wrapping_add(i32::from(row[(xmin + i) * 3 + c]).wrapping_mul(*w));
                    }
                    out[(y * new_width + xx) * 3 + c] = clip8(acc);
                }
            }
        }
        cur = out;
        cur_w = new_width;
    }
    if new_height != height {
        let coeffs = coefficients(height, new_height);
        let mut out = vec![0u8; cur_w * new_height * 3];
        for (yy, (ymin, k)) in coeffs.iter().enumerate() {
            for x in 0..cur_w {
                for c in 0..3 {
                    let mut acc: i32 = 1 << (PRECISION_BITS - 1);
                    for (i, w) in k.iter().enumerate() {
                        acc = acc.wrapping_add(
                            i32::from(cur[((ymin + i) * cur_w + x) * 3 + c]).wrapping_mul(*w),
                        );
                    }
                    out[(yy * cur_w + x) * 3 + c] = clip8(acc);
                }
            }
        }
        cur = out;
    }
    cur
}

/// The processed image: `pixel_values` is `[patches, channels × temporal × patch × patch]`
/// row-major; `grid_thw` is (temporal, height, width) in patches.
#[derive(Clone, Debug, PartialEq)]
pub struct ProcessedImage {
    pub pixel_values: Vec<f32>,
    pub patches: usize,
    pub patch_dim: usize,
    pub grid_thw: [usize; 3],
    pub resized_width: usize,
    pub resized_height: usize,
}

impl ProcessedImage {
    /// Number of `<|image_pad|>` tokens this image becomes (patches / merge²).
    pub fn token_count(&self, merge_size: usize) -> usize {
        self.patches / (merge_size * merge_size)
    }
}

/// Runs the whole preprocessing on an RGB8 image.
pub fn preprocess_rgb8(
    rgb: &[u8],
    width: usize,
    height: usize,
    cfg: &ImageProcessorConfig,
) -> Result<ProcessedImage, ModelError> {
    if rgb.len() != width * height * 3 {
        return Err(ModelError::Image(format!(
            "{} bytes do not make a {width}×{height} RGB image",
            rgb.len()
        )));
    }
    let factor = cfg.factor();
    let (rh, rw) = if cfg.do_resize {
        smart_resize(height, width, factor, cfg.min_pixels, cfg.max_pixels)?
    } else {
        (height, width)
    };
    if rh % factor != 0 || rw % factor != 0 {
        return Err(ModelError::Image(format!(
            "{rw}×{rh} is not a multiple of {factor} (resizing is disabled in the processor config)"
        )));
    }
    let resized = if (rw, rh) == (width, height) {
        rgb.to_vec()
    } else {
        resize_bicubic_rgb8(rgb, width, height, rw, rh)
    };
    // Channel-first floats: rescale in f64 then cast (as numpy does), normalise in f32.
    let plane = rw * rh;
    let mut chw = vec![0f32; 3 * plane];
    for (i, px) in resized.chunks_exact(3).enumerate() {
        for c in 0..3 {
            let mut v = if cfg.do_rescale {
                (f64::from(px[c]) * cfg.rescale_factor) as f32
            } else {
                f32::from(px[c])
            };
            if cfg.do_normalize {
                v = (v - cfg.image_mean[c]) / cfg.image_std[c];
            }
            chw[c * plane + i] = v;
        }
    }
    let (p, m, t) = (cfg.patch_size, cfg.merge_size, cfg.temporal_patch_size);
    let (gh, gw) = (rh / p, rw / p);
    let patch_dim = 3 * t * p * p;
    let patches = gh * gw;
    let mut out = Vec::with_capacity(patches * patch_dim);
    // Order: merge blocks row-major, then the m×m patches inside a block, then channel,
    // temporal copy, row and column inside the patch.
    for bh in 0..gh / m {
        for bw in 0..gw / m {
            for ih in 0..m {
                for iw in 0..m {
                    let (py, px) = ((bh * m + ih) * p, (bw * m + iw) * p);
                    for c in 0..3 {
                        for _ in 0..t {
                            for r in 0..p {
                                let row = c * plane + (py + r) * rw + px;
                                out.extend_from_slice(&chw[row..row + p]);
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(ProcessedImage {
        pixel_values: out,
        patches,
        patch_dim,
        grid_thw: [1, gh, gw],
        resized_width: rw,
        resized_height: rh,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smart_resize_matches_the_reference_cases() {
        // Values checked against transformers' smart_resize.
        assert_eq!(smart_resize(180, 320, 28, 3136, 6272).unwrap(), (56, 84));
        assert_eq!(smart_resize(40, 50, 28, 3136, 6272).unwrap(), (56, 84));
        // Half-way cases round to even like Python: 42/28 = 1.5 -> 2, 70/28 = 2.5 -> 2.
        assert_eq!(smart_resize(42, 70, 28, 1, 1_000_000).unwrap(), (56, 56));
        assert!(smart_resize(1, 500, 28, 3136, 6272).is_err());
        assert!(smart_resize(0, 5, 28, 3136, 6272).is_err());
    }

    #[test]
    fn reads_every_pixel_budget_spelling() {
        let flat = serde_json::json!({"min_pixels": 100, "max_pixels": 2000});
        let c = ImageProcessorConfig::from_value("p", &flat).unwrap();
        assert_eq!((c.min_pixels, c.max_pixels), (100, 2000));
        let nested = serde_json::json!({"size": {"shortest_edge": 300, "longest_edge": 4000}});
        let c = ImageProcessorConfig::from_value("p", &nested).unwrap();
        assert_eq!((c.min_pixels, c.max_pixels), (300, 4000));
        let old = serde_json::json!({"size": {"min_pixels": 5, "max_pixels": 6}});
        let c = ImageProcessorConfig::from_value("p", &old).unwrap();
        assert_eq!((c.min_pixels, c.max_pixels), (5, 6));
        let bad = serde_json::json!({"min_pixels": 10, "max_pixels": 5});
        assert!(ImageProcessorConfig::from_value("p", &bad).is_err());
    }

    #[test]
    fn qwen3vl_defaults_fill_what_the_file_omits() {
        let partial = serde_json::json!({"size": {"longest_edge": 786_432}});
        let c = ImageProcessorConfig::from_value_with_defaults(
            "p",
            &partial,
            &ImageProcessorConfig::qwen3vl(),
        )
        .unwrap();
        assert_eq!((c.patch_size, c.factor()), (16, 32));
        assert_eq!(c.image_mean, [0.5; 3]);
        assert_eq!((c.min_pixels, c.max_pixels), (65_536, 786_432));
    }

    #[test]
    fn resizing_a_flat_image_keeps_it_flat() {
        let src = vec![77u8; 10 * 7 * 3];
        let out = resize_bicubic_rgb8(&src, 10, 7, 23, 4);
        assert_eq!(out.len(), 23 * 4 * 3);
        assert!(out.iter().all(|&v| v == 77));
    }
}
