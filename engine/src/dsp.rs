//! Small signal-processing helpers shared by the readers, the renderer and the measurements.

/// Half-width of the resampling kernel in zero crossings of the (lower) cutoff sinc.
const RESAMPLE_ZERO_CROSSINGS: f64 = 16.0;
/// Kaiser window shape; 8.6 gives ≈ 90 dB stop-band rejection.
const KAISER_BETA: f64 = 8.6;
/// The low-pass cutoff as a fraction of the lower Nyquist frequency; the margin keeps the
/// transition band below Nyquist so nothing aliases.
const CUTOFF_FRACTION: f64 = 0.92;
/// Refuse to produce more than this many samples from one call (protects against absurd rates).
const MAX_OUTPUT_SAMPLES: usize = 200_000_000;

/// Resamples `x` from `from_hz` to `to_hz` with a Kaiser-windowed sinc kernel whose cutoff is
/// below the lower of the two Nyquist frequencies (so downsampling is anti-aliased).
/// NaN samples are treated as 0 inside the kernel. The output has
/// `round(len * to_hz / from_hz)` samples, aligned so that output sample k is at time k / to_hz.
pub fn resample(x: &[f64], from_hz: f64, to_hz: f64) -> Result<Vec<f64>, String> {
    if !(from_hz.is_finite() && from_hz > 0.0 && to_hz.is_finite() && to_hz > 0.0) {
        return Err(format!(
            "rates must be positive and finite (from {from_hz} Hz to {to_hz} Hz)"
        ));
    }
    let ratio = to_hz / from_hz;
    let out_len_f = (x.len() as f64 * ratio).round();
    if out_len_f > MAX_OUTPUT_SAMPLES as f64 {
        return Err(format!(
            "{out_len_f} output samples exceed the limit of {MAX_OUTPUT_SAMPLES}"
        ));
    }
    let out_len = out_len_f as usize;
    if x.is_empty() || (ratio - 1.0).abs() < 1e-12 {
        return Ok(x.to_vec());
    }
    // Cutoff in cycles per *input* sample.
    let cutoff = 0.5 * ratio.min(1.0) * CUTOFF_FRACTION;
    let half_width = RESAMPLE_ZERO_CROSSINGS / (2.0 * cutoff); // in input samples
    let i0 = bessel_i0(KAISER_BETA);
    let n = x.len() as isize;
    let mut out = Vec::with_capacity(out_len);
    for k in 0..out_len {
        let centre = k as f64 / ratio;
        let lo = (centre - half_width).ceil() as isize;
        let hi = (centre + half_width).floor() as isize;
        let mut acc = 0.0;
        let mut norm = 0.0;
        for j in lo.max(0)..=hi.min(n - 1) {
            let d = j as f64 - centre;
            let w = kaiser(d / half_width, i0) * sinc(2.0 * cutoff * d) * 2.0 * cutoff;
            let v = x[j as usize];
            if v.is_finite() {
                acc += w * v;
            }
            norm += w;
        }
        // Normalising by the kernel's sum keeps DC gain exactly 1, including at the edges
        // where part of the kernel falls outside the signal.
        out.push(if norm.abs() > 1e-12 { acc / norm } else { 0.0 });
    }
    Ok(out)
}

fn sinc(x: f64) -> f64 {
    if x.abs() < 1e-12 {
        1.0
    } else {
        let px = std::f64::consts::PI * x;
        px.sin() / px
    }
}

/// Kaiser window at normalised position `t` in [-1, 1].
fn kaiser(t: f64, i0_beta: f64) -> f64 {
    if t.abs() > 1.0 {
        0.0
    } else {
        bessel_i0(KAISER_BETA * (1.0 - t * t).sqrt()) / i0_beta
    }
}

/// Modified Bessel function of the first kind, order 0 (power series; converges fast for the
/// arguments a Kaiser window uses).
fn bessel_i0(x: f64) -> f64 {
    let mut sum = 1.0;
    let mut term = 1.0;
    let half = x / 2.0;
    for k in 1..64 {
        term *= half / k as f64;
        let t2 = term * term;
        sum += t2;
        if t2 < sum * 1e-17 {
            break;
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f64, rate: f64, n: usize) -> Vec<f64> {
        (0..n)
            .map(|t| (2.0 * std::f64::consts::PI * freq * t as f64 / rate).sin())
            .collect()
    }

    #[test]
    fn upsampling_preserves_an_in_band_sine() {
        let x = sine(10.0, 250.0, 2500);
        let y = resample(&x, 250.0, 500.0).unwrap_or_default();
        assert_eq!(y.len(), 5000);
        let expected = sine(10.0, 500.0, 5000);
        // Away from the edges the error is tiny.
        let max_err = y[200..4800]
            .iter()
            .zip(&expected[200..4800])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(max_err < 1e-3, "max error {max_err}");
    }

    #[test]
    fn downsampling_removes_components_above_the_new_nyquist() {
        // 400 Hz at 1000 Hz would alias to 100 Hz at 500 Hz sampling; it must be filtered out.
        let x = sine(400.0, 1000.0, 10_000);
        let y = resample(&x, 1000.0, 500.0).unwrap_or_default();
        assert_eq!(y.len(), 5000);
        let rms = (y[500..4500].iter().map(|v| v * v).sum::<f64>() / 4000.0).sqrt();
        assert!(rms < 1e-3, "aliased energy remains: rms {rms}");
    }

    #[test]
    fn dc_gain_is_one_everywhere() {
        let x = vec![3.5; 1000];
        let y = resample(&x, 360.0, 500.0).unwrap_or_default();
        assert!(y.iter().all(|v| (v - 3.5).abs() < 1e-9));
    }

    #[test]
    fn bad_rates_are_errors() {
        assert!(resample(&[1.0], 0.0, 500.0).is_err());
        assert!(resample(&[1.0], f64::NAN, 500.0).is_err());
    }
}
