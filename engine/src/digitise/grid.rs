//! Grid pitch: the period of the grid lines in the column and row projections, from their
//! autocorrelation (computed through the power spectrum with rustfft).
//!
//! The projection of a 1 mm / 5 mm grid repeats every 5 mm, with a smaller peak at every
//! millimetre. The first strong autocorrelation peak gives the period roughly; when peaks at a
//! fifth of it are present it is the 5 mm period; otherwise the page's plausible size decides
//! whether the lines are 1 mm or 5 mm apart. The period is then refined on a peak many periods
//! out, so the pitch comes out to a small fraction of a pixel.

use rustfft::FftPlanner;
use rustfft::num_complex::Complex;

/// A page is between these many millimetres on its long side (A5 to long rhythm printouts).
const PLAUSIBLE_PAGE_MM: (f64, f64) = (120.0, 900.0);
/// Normalised autocorrelation a periodic grid reaches at its period (paper noise and traces
/// stay well below).
const MIN_PERIODICITY: f64 = 0.15;

/// The grid spacing found in one direction.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Pitch {
    pub px_per_mm: f64,
    /// Normalised autocorrelation at the 5 mm period (how clearly periodic the grid is).
    pub periodicity: f64,
    /// Were 1 mm lines seen between the 5 mm lines?
    pub minor_lines: bool,
}

/// Unbiased, mean-removed autocorrelation of `x`, normalised to 1 at lag 0.
fn autocorrelation(x: &[f64]) -> Vec<f64> {
    let n = x.len();
    let mean = x.iter().sum::<f64>() / n.max(1) as f64;
    let size = (2 * n).next_power_of_two();
    let mut buf: Vec<Complex<f64>> = (0..size)
        .map(|i| Complex::new(if i < n { x[i] - mean } else { 0.0 }, 0.0))
        .collect();
    let mut planner = FftPlanner::new();
    planner.plan_fft_forward(size).process(&mut buf);
    for v in &mut buf {
        *v = Complex::new(v.norm_sqr(), 0.0);
    }
    planner.plan_fft_inverse(size).process(&mut buf);
    let zero = buf[0].re.max(f64::MIN_POSITIVE) / n as f64;
    (0..n).map(|k| buf[k].re / (n - k) as f64 / zero).collect()
}

/// Parabolic peak position around the local maximum nearest `guess` (searched ±`radius`).
fn peak_near(ac: &[f64], guess: f64, radius: f64) -> Option<(f64, f64)> {
    let lo = (guess - radius).floor().max(1.0) as usize;
    let hi = ((guess + radius).ceil() as usize).min(ac.len().saturating_sub(2));
    if lo >= hi {
        return None;
    }
    let k = (lo..=hi).max_by(|&a, &b| ac[a].total_cmp(&ac[b]))?;
    if k == 0 || k + 1 >= ac.len() {
        return None;
    }
    let (a, b, c) = (ac[k - 1], ac[k], ac[k + 1]);
    let denom = a - 2.0 * b + c;
    let offset = if denom.abs() > 1e-12 {
        (0.5 * (a - c) / denom).clamp(-0.5, 0.5)
    } else {
        0.0
    };
    Some((k as f64 + offset, b))
}

/// The grid pitch along a projection of `page_len_px` pixels, `None` when no grid is seen.
pub(crate) fn pitch(projection: &[f64], page_len_px: usize) -> Option<Pitch> {
    let n = projection.len();
    if n < 64 {
        return None;
    }
    let ac = autocorrelation(projection);
    let max_lag = n / 3;
    // Peaks are chosen on a 3-lag average: a period that is not a whole number of pixels
    // (5 mm = 29.5 px at 150 dpi) splits its peak over two lags when the lines are drawn on
    // whole pixels, and either half alone can fall below a whole multiple's peak (10 mm =
    // 59.06 px), which would be taken for the period.
    let smooth: Vec<f64> = (0..ac.len())
        .map(|i| {
            let lo = i.saturating_sub(1);
            let hi = (i + 1).min(ac.len() - 1);
            ac[lo..=hi].iter().sum::<f64>() / (hi - lo + 1) as f64
        })
        .collect();
    // The first strong local maximum: at least 2 px out, clear of lag 0's own slope.
    let mut k = 2;
    while k < max_lag && smooth[k] < smooth[k - 1] {
        k += 1;
    }
    let strongest = |v: &[f64]| (k..max_lag).map(|i| v[i]).fold(f64::NEG_INFINITY, f64::max);
    if !strongest(&ac).is_finite() || strongest(&ac) < MIN_PERIODICITY {
        return None;
    }
    let floor = strongest(&smooth);
    let first = (k..max_lag).find(|&i| {
        smooth[i] >= smooth[i - 1] && smooth[i] >= smooth[i + 1] && smooth[i] >= 0.6 * floor
    })?;
    let (period, strength) = peak_near(&ac, first as f64, 1.0)?;
    // Is `period` the 5 mm period with 1 mm lines inside it, or a single kind of line?
    let fifth = period / 5.0;
    let minor = fifth >= 1.8
        && peak_near(&ac, fifth, 0.6).is_some_and(|(p, v)| {
            let dip = ac[((p * 0.5).round() as usize).max(1)];
            (p - fifth).abs() < 0.5 && v > dip + 0.05
        });
    let five_mm = if minor {
        period
    } else {
        let as_one_mm = page_len_px as f64 / period;
        if (PLAUSIBLE_PAGE_MM.0..=PLAUSIBLE_PAGE_MM.1).contains(&as_one_mm) {
            period * 5.0
        } else {
            period
        }
    };
    // Refine on a far peak: each doubling keeps the guess well inside the peak.
    let mut refined = five_mm;
    let mut m = 1.0;
    while refined * m * 2.0 < max_lag as f64 {
        m *= 2.0;
        let (p, _) = peak_near(&ac, refined * m, (refined * 0.2).max(1.0))?;
        refined = p / m;
    }
    Some(Pitch {
        px_per_mm: refined / 5.0,
        periodicity: strength,
        minor_lines: minor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A projection of a grid with a major line every 5 mm and minor lines in between.
    fn grid(px_per_mm: f64, len: usize) -> Vec<f64> {
        // Anti-aliased lines: coverage falls off linearly within a pixel of each line.
        (0..len)
            .map(|i| {
                let x = i as f64 + 0.5;
                let minor = (x / px_per_mm - (x / px_per_mm).round()).abs() * px_per_mm;
                let major_mm = x / px_per_mm / 5.0;
                let major = (major_mm - major_mm.round()).abs() * 5.0 * px_per_mm;
                100.0 * (1.2 - major).clamp(0.0, 1.0) + 40.0 * (0.8 - minor).clamp(0.0, 1.0)
            })
            .collect()
    }

    #[test]
    fn pitch_is_found_to_a_fraction_of_a_percent() {
        for ppm in [3.937, 5.9, 7.874, 11.811] {
            let len = (270.0 * ppm) as usize;
            let p = pitch(&grid(ppm, len), len).unwrap_or_else(|| panic!("{ppm}"));
            assert!((p.px_per_mm - ppm).abs() / ppm < 0.005, "{ppm}: {p:?}");
            assert!(p.minor_lines);
        }
    }

    #[test]
    fn a_flat_projection_has_no_grid() {
        let mut rng = crate::test_rng::XorShift::new(99);
        let flat: Vec<f64> = (0..1000).map(|_| (rng.next_u64() % 100) as f64).collect();
        assert!(pitch(&flat, 1000).is_none());
    }
}
