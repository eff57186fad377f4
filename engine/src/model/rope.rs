//! Rotary position embeddings: the 3-D (temporal, height, width) position ids of the reference
//! `get_rope_index`, the multimodal cos/sin tables of the text decoder and the 2-D tables of the
//! vision tower. Angles are computed in f32 exactly as the reference does (position × inverse
//! frequency, both f32).

/// Inverse frequencies `1 / base^(2i/dim)` for `i < dim/2`, in f32 like the reference.
pub fn inv_freq(dim: usize, base: f64) -> Vec<f32> {
    let base = base as f32;
    (0..dim / 2)
        .map(|i| 1.0 / base.powf((2 * i) as f32 / dim as f32))
        .collect()
}

/// 3-D positions of a prompt: text tokens advance all three components together; each run of
/// image tokens gets (t, h, w) grid positions offset by the position reached so far, after which
/// text resumes at the largest position used plus one. `image_grids` are the (t, h, w) patch
/// grids of the images in order; `merge` is the spatial merge size.
///
/// Returns the positions and the next free position (the reference's `max + 1`, from which
/// decoding continues one position per token).
pub fn rope_positions(
    ids: &[u32],
    image_token_id: u32,
    image_grids: &[[usize; 3]],
    merge: usize,
) -> Result<(Vec<[i64; 3]>, i64), String> {
    let mut out = Vec::with_capacity(ids.len());
    let mut current: i64 = 0;
    let mut grids = image_grids.iter();
    let mut i = 0;
    while i < ids.len() {
        if ids[i] != image_token_id {
            out.push([current; 3]);
            current += 1;
            i += 1;
            continue;
        }
        let run = ids[i..]
            .iter()
            .take_while(|&&t| t == image_token_id)
            .count();
        let &[t, h, w] = grids
            .next()
            .ok_or_else(|| "more image-token runs in the prompt than images".to_string())?;
        let (lt, lh, lw) = (t, h / merge, w / merge);
        if lt * lh * lw != run {
            return Err(format!(
                "an image run of {run} tokens does not match its grid {t}×{h}×{w} merged by {merge}"
            ));
        }
        for ti in 0..lt {
            for hi in 0..lh {
                for wi in 0..lw {
                    out.push([
                        current + ti as i64,
                        current + hi as i64,
                        current + wi as i64,
                    ]);
                }
            }
        }
        // For images (t = 1) this is the reference's max(h, w) / merge; the max over all three
        // also covers videos as older transformers did.
        current += lt.max(lh).max(lw) as i64;
        i += run;
    }
    if grids.next().is_some() {
        return Err("fewer image-token runs in the prompt than images".to_string());
    }
    Ok((out, current))
}

/// How the rotary half-dimensions of the text decoder are shared among the temporal, height and
/// width position components.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MropeLayout {
    /// Qwen2-VL: three consecutive chunks of `mrope_section` half-dimensions (T…T H…H W…W).
    Chunked,
    /// Qwen3-VL: interleaved T H W T H W …: half-dimension `j` takes H when `j % 3 == 1` and
    /// `j < 3 × section[1]`, W when `j % 3 == 2` and `j < 3 × section[2]`, T otherwise (the
    /// reference's `recomposition_frequencies`).
    Interleaved,
}

/// Which position component (0 = T, 1 = H, 2 = W) drives each of the `half` rotary
/// half-dimensions.
pub fn mrope_axes(half: usize, section: [usize; 3], layout: MropeLayout) -> Vec<usize> {
    (0..half)
        .map(|j| match layout {
            MropeLayout::Chunked => {
                if j < section[0] {
                    0
                } else if j < section[0] + section[1] {
                    1
                } else {
                    2
                }
            }
            MropeLayout::Interleaved => {
                if j % 3 == 1 && j < 3 * section[1] {
                    1
                } else if j % 3 == 2 && j < 3 * section[2] {
                    2
                } else {
                    0
                }
            }
        })
        .collect()
}

/// cos and sin halves (`[tokens, head_dim/2]`, row-major) for the text decoder: half-dimension
/// `j` takes its angle from the temporal, height or width position as [`mrope_axes`] says.
pub fn mrope_tables(
    positions: &[[i64; 3]],
    inv_freq: &[f32],
    section: [usize; 3],
    layout: MropeLayout,
) -> (Vec<f32>, Vec<f32>) {
    let half = inv_freq.len();
    let axis = mrope_axes(half, section, layout);
    let mut cos = Vec::with_capacity(positions.len() * half);
    let mut sin = Vec::with_capacity(positions.len() * half);
    for p in positions {
        for j in 0..half {
            let angle = p[axis[j]] as f32 * inv_freq[j];
            cos.push(angle.cos());
            sin.push(angle.sin());
        }
    }
    (cos, sin)
}

/// (row, column) patch position of every patch in processed order: merge blocks row-major, then
/// the merge×merge patches inside each block.
pub fn vision_patch_positions(grid: [usize; 3], merge: usize) -> Vec<(usize, usize)> {
    let [t, h, w] = grid;
    let mut out = Vec::with_capacity(t * h * w);
    for _ in 0..t {
        for bh in 0..h / merge {
            for bw in 0..w / merge {
                for ih in 0..merge {
                    for iw in 0..merge {
                        out.push((bh * merge + ih, bw * merge + iw));
                    }
                }
            }
        }
    }
    out
}

/// cos and sin halves (`[patches, head_dim/2]`) for the vision tower: the first quarter of the
/// head rotates with the row, the second with the column.
pub fn vision_tables(positions: &[(usize, usize)], inv_freq: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let q = inv_freq.len();
    let mut cos = Vec::with_capacity(positions.len() * 2 * q);
    let mut sin = Vec::with_capacity(positions.len() * 2 * q);
    for &(r, c) in positions {
        for pos in [r, c] {
            for f in inv_freq {
                let angle = pos as f32 * f;
                cos.push(angle.cos());
                sin.push(angle.sin());
            }
        }
    }
    (cos, sin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_then_image_then_text() {
        // 2 text tokens, a 1×4×6 grid merged by 2 (6 tokens), 2 text tokens.
        let ids = [1, 2, 9, 9, 9, 9, 9, 9, 3, 4];
        let (pos, next) = rope_positions(&ids, 9, &[[1, 4, 6]], 2).unwrap();
        assert_eq!(pos[0], [0, 0, 0]);
        assert_eq!(pos[1], [1, 1, 1]);
        assert_eq!(pos[2], [2, 2, 2]);
        assert_eq!(pos[3], [2, 2, 3]);
        assert_eq!(pos[5], [2, 3, 2]);
        assert_eq!(pos[7], [2, 3, 4]);
        // Text resumes at 2 + max(2, 3) = 5.
        assert_eq!(pos[8], [5, 5, 5]);
        assert_eq!(next, 7);
        assert!(rope_positions(&ids, 9, &[], 2).is_err());
        assert!(rope_positions(&ids, 9, &[[1, 4, 4]], 2).is_err());
    }

    #[test]
    fn interleaved_layout_matches_the_reference_recomposition() {
        // Qwen3-VL's [24, 20, 20] over 64 half-dimensions: T H W T H W … up to 60, then T.
        let axes = mrope_axes(64, [24, 20, 20], MropeLayout::Interleaved);
        assert_eq!(&axes[..7], &[0, 1, 2, 0, 1, 2, 0]);
        assert_eq!(&axes[57..], &[0, 1, 2, 0, 0, 0, 0]);
        assert_eq!(axes.iter().filter(|&&a| a == 1).count(), 20);
        assert_eq!(axes.iter().filter(|&&a| a == 2).count(), 20);
        let chunked = mrope_axes(8, [2, 3, 3], MropeLayout::Chunked);
        assert_eq!(chunked, vec![0, 0, 1, 1, 1, 2, 2, 2]);
    }

    #[test]
    fn vision_positions_follow_merge_blocks() {
        let p = vision_patch_positions([1, 2, 4], 2);
        assert_eq!(&p[..6], &[(0, 0), (0, 1), (1, 0), (1, 1), (0, 2), (0, 3)]);
    }
}
