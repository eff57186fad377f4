//! Measurement-only preprocessing: zero-phase biquad filters (O(n), no allocation per sample).
//!
//! These filters work on copies owned by the measurement pipeline; the record itself, and
//! what the model sees, is never filtered.

/// A second-order section in direct form II transposed, normalised so a0 = 1.
#[derive(Clone, Copy, Debug)]
pub struct Biquad {
    b0: f64,
    b1: f64,
    b2: f64,
    a1: f64,
    a2: f64,
}

impl Biquad {
    fn normalised(b: [f64; 3], a: [f64; 3]) -> Self {
        Self {
            b0: b[0] / a[0],
            b1: b[1] / a[0],
            b2: b[2] / a[0],
            a1: a[1] / a[0],
            a2: a[2] / a[0],
        }
    }

    /// Butterworth (Q = 1/√2) low-pass at `cut_hz` (RBJ cookbook).
    pub fn low_pass(cut_hz: f64, fs: f64) -> Self {
        let w0 = 2.0 * std::f64::consts::PI * cut_hz / fs;
        let (s, c) = w0.sin_cos();
        let alpha = s / (2.0 * std::f64::consts::FRAC_1_SQRT_2);
        Self::normalised(
            [(1.0 - c) / 2.0, 1.0 - c, (1.0 - c) / 2.0],
            [1.0 + alpha, -2.0 * c, 1.0 - alpha],
        )
    }

    /// Butterworth high-pass at `cut_hz`.
    pub fn high_pass(cut_hz: f64, fs: f64) -> Self {
        let w0 = 2.0 * std::f64::consts::PI * cut_hz / fs;
        let (s, c) = w0.sin_cos();
        let alpha = s / (2.0 * std::f64::consts::FRAC_1_SQRT_2);
        Self::normalised(
            [f64::midpoint(1.0, c), -(1.0 + c), f64::midpoint(1.0, c)],
            [1.0 + alpha, -2.0 * c, 1.0 - alpha],
        )
    }

    /// Notch at `f_hz` with quality factor `q` (bandwidth f/q).
    pub fn notch(f_hz: f64, q: f64, fs: f64) -> Self {
        let w0 = 2.0 * std::f64::consts::PI * f_hz / fs;
        let (s, c) = w0.sin_cos();
        let alpha = s / (2.0 * q);
        Self::normalised([1.0, -2.0 * c, 1.0], [1.0 + alpha, -2.0 * c, 1.0 - alpha])
    }

    fn dc_gain(&self) -> f64 {
        let den = 1.0 + self.a1 + self.a2;
        if den.abs() < 1e-15 {
            0.0
        } else {
            (self.b0 + self.b1 + self.b2) / den
        }
    }

    /// One pass over `x` in the given direction, starting from the steady state for a
    /// constant input equal to the first sample seen (so edges do not ring).
    ///
    /// `x` holds `L` independent signals interleaved sample by sample (lane `l` of every
    /// element is one signal). Each lane gets exactly the arithmetic of a single-signal pass
    /// (same operations, same order, so the same bits); running several together lets their
    /// recursions overlap in the CPU instead of one waiting on its own latency chain.
    fn pass<const L: usize>(&self, x: &mut [[f64; L]], forward: bool) {
        let Some(&first) = (if forward { x.first() } else { x.last() }) else {
            return;
        };
        let g = self.dc_gain();
        let mut z1 = first.map(|first| g * first - self.b0 * first);
        let mut z2 = first.map(|first| self.b2 * first - self.a2 * g * first);
        let mut step = |v: &mut [f64; L]| {
            for l in 0..L {
                let input = v[l];
                let y = self.b0 * input + z1[l];
                z1[l] = self.b1 * input - self.a1 * y + z2[l];
                z2[l] = self.b2 * input - self.a2 * y;
                v[l] = y;
            }
        };
        if forward {
            x.iter_mut().for_each(&mut step);
        } else {
            x.iter_mut().rev().for_each(&mut step);
        }
    }

    /// Zero-phase filtering (forward then backward), in place.
    pub fn filtfilt(&self, x: &mut [f64]) {
        self.filtfilt_lanes(x.as_chunks_mut::<1>().0);
    }

    /// Zero-phase filtering of `L` interleaved signals (see [`Self::pass`]), in place.
    pub fn filtfilt_lanes<const L: usize>(&self, x: &mut [[f64; L]]) {
        self.pass(x, true);
        self.pass(x, false);
    }
}

/// Signals filtered together, interleaved (see [`Biquad::pass`]): enough independent
/// recursions to keep the floating-point units busy.
pub const LANES: usize = 4;

/// Lanes `0..signals.len()` of an interleaved buffer of `n` samples filled from `signals`
/// (at most `L` of them, each at least `n` long); unused lanes are zero.
pub fn interleave<const L: usize>(signals: &[&[f64]], n: usize) -> Vec<[f64; L]> {
    let mut out = vec![[0.0; L]; n];
    for (lane, signal) in signals.iter().enumerate().take(L) {
        for (o, &v) in out.iter_mut().zip(signal.iter()) {
            o[lane] = v;
        }
    }
    out
}

/// Replaces NaN/infinite samples by the last finite value (0 before the first) and returns
/// how many there were. Lead-off detection uses the count.
pub fn hold_invalid(x: &mut [f64]) -> usize {
    let mut last = x.iter().copied().find(|v| v.is_finite()).unwrap_or(0.0);
    let mut count = 0;
    for v in x.iter_mut() {
        if v.is_finite() {
            last = *v;
        } else {
            *v = last;
            count += 1;
        }
    }
    count
}

/// The measurement signal: baseline wander removed (0.5 Hz high-pass), 50 and 60 Hz notched,
/// band-limited to 100 Hz (or 0.4 × the sample rate when that is lower). In place.
pub fn condition_for_measurement(x: &mut [f64], fs: f64) {
    condition_lanes(x.as_chunks_mut::<1>().0, fs);
}

/// [`condition_for_measurement`] of `L` interleaved signals at once (same values per lane).
pub fn condition_lanes<const L: usize>(x: &mut [[f64; L]], fs: f64) {
    Biquad::high_pass(0.5, fs).filtfilt_lanes(x);
    for mains in [50.0, 60.0] {
        if fs > 2.5 * mains {
            Biquad::notch(mains, 25.0, fs).filtfilt_lanes(x);
        }
    }
    let cut = (0.4 * fs).min(100.0);
    Biquad::low_pass(cut, fs).filtfilt_lanes(x);
}

/// The detection signal of up to `L` leads, added into `energy` lead after lead (in the
/// order given): 5–20 Hz band (zero phase), then the squared central difference. Every
/// signal must be as long as `energy`.
pub fn add_qrs_energy<const L: usize>(signals: &[&[f64]], fs: f64, energy: &mut [f64]) {
    let n = energy.len();
    let mut band = interleave::<L>(signals, n);
    Biquad::high_pass(5.0, fs).filtfilt_lanes(&mut band);
    Biquad::low_pass(20.0_f64.min(0.4 * fs), fs).filtfilt_lanes(&mut band);
    // Each energy[i] gets the leads' terms in the order given, as one lead at a time would.
    let lanes = signals.len().min(L);
    for (e, w) in energy.iter_mut().skip(1).zip(band.windows(3)) {
        for (next, prev) in w[2].iter().zip(&w[0]).take(lanes) {
            let d = (next - prev) * 0.5;
            *e += d * d;
        }
    }
}

/// Centred moving average over `width` samples (running sum, O(n)); writes into `out`.
pub fn moving_average(x: &[f64], width: usize, out: &mut [f64]) {
    let n = x.len();
    let width = width.max(1);
    let half = width / 2;
    let mut prefix = 0.0;
    // out[i] = mean of x[i-half ..= i+half'] clipped to the signal.
    let mut lo = 0usize;
    let mut hi = 0usize; // exclusive
    for (i, o) in out.iter_mut().enumerate().take(n) {
        let want_hi = (i + width - half).min(n);
        let want_lo = i.saturating_sub(half);
        while hi < want_hi {
            prefix += x[hi];
            hi += 1;
        }
        while lo < want_lo {
            prefix -= x[lo];
            lo += 1;
        }
        *o = prefix / (hi - lo).max(1) as f64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(f: f64, fs: f64, n: usize, amp: f64) -> Vec<f64> {
        (0..n)
            .map(|i| amp * (2.0 * std::f64::consts::PI * f * i as f64 / fs).sin())
            .collect()
    }

    fn rms(x: &[f64]) -> f64 {
        (x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64).sqrt()
    }

    #[test]
    fn notch_removes_mains_and_keeps_qrs_band() {
        let fs = 500.0;
        let mut hum = sine(50.0, fs, 5000, 100.0);
        condition_for_measurement(&mut hum, fs);
        assert!(
            rms(&hum[500..4500]) < 2.0,
            "50 Hz left: {}",
            rms(&hum[500..4500])
        );
        let mut qrs_band = sine(15.0, fs, 5000, 100.0);
        condition_for_measurement(&mut qrs_band, fs);
        assert!((rms(&qrs_band[500..4500]) - 70.7).abs() < 3.0);
    }

    #[test]
    fn baseline_wander_is_removed() {
        let fs = 500.0;
        let mut wander = sine(0.1, fs, 5000, 500.0);
        condition_for_measurement(&mut wander, fs);
        assert!(
            rms(&wander[500..4500]) < 40.0,
            "{}",
            rms(&wander[500..4500])
        );
    }

    #[test]
    fn interleaved_filtering_equals_one_signal_at_a_time() {
        let fs = 500.0;
        let signals: Vec<Vec<f64>> = (0..3)
            .map(|k| {
                let mut s = sine(1.3 + k as f64, fs, 2000, 300.0);
                for (i, v) in s.iter_mut().enumerate() {
                    *v += ((i * (7 + k)) % 13) as f64 - 6.0 + 50.0 * k as f64;
                }
                s
            })
            .collect();
        let refs: Vec<&[f64]> = signals.iter().map(Vec::as_slice).collect();
        let mut lanes = interleave::<LANES>(&refs, 2000);
        condition_lanes(&mut lanes, fs);
        let mut energy_lanes = vec![0.0; 2000];
        add_qrs_energy::<LANES>(&refs, fs, &mut energy_lanes);
        let mut energy_one = vec![0.0; 2000];
        for (k, s) in signals.iter().enumerate() {
            let mut one = s.clone();
            condition_for_measurement(&mut one, fs);
            let lane: Vec<f64> = lanes.iter().map(|v| v[k]).collect();
            assert_eq!(lane, one, "lane {k}");
            add_qrs_energy::<1>(&[s], fs, &mut energy_one);
        }
        assert_eq!(energy_lanes, energy_one);
    }

    #[test]
    fn invalid_samples_are_held_and_counted() {
        let mut x = vec![f64::NAN, 1.0, f64::INFINITY, 3.0];
        assert_eq!(hold_invalid(&mut x), 2);
        assert_eq!(x, vec![1.0, 1.0, 1.0, 3.0]);
    }

    #[test]
    fn moving_average_is_centred() {
        let x = [0.0, 0.0, 3.0, 0.0, 0.0];
        let mut out = [0.0; 5];
        moving_average(&x, 3, &mut out);
        assert_eq!(out, [0.0, 1.0, 1.0, 1.0, 0.0]);
    }
}
