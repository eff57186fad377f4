//! Pixel-measuring tests: render known signals and measure the page.

use super::*;
use crate::record::LeadId;
use crate::record::test_support::record_with;

const RATE: f64 = 500.0;

/// A 12-lead, 10 s record where every lead is `f(sample index)` µV.
fn record_of(f: impl Fn(usize) -> f64) -> EcgRecord {
    let mut rec = record_with(&StandardLead::STANDARD_ORDER, 5000, RATE);
    for lead in &mut rec.leads {
        lead.samples_uv = (0..5000).map(&f).collect();
    }
    rec
}

/// 0 µV for the first half of every second, 1 mV for the second half.
fn square_wave(i: usize) -> f64 {
    if i % 500 >= 250 { 1000.0 } else { 0.0 }
}

fn opts(layout: Layout, speed: f64, gain: f64, dpi: f64) -> RenderOptions {
    RenderOptions {
        layout,
        speed_mm_s: speed,
        gain_mm_mv: gain,
        dpi,
        ..RenderOptions::default()
    }
}

fn page(rec: &EcgRecord, o: &RenderOptions) -> RenderedPage {
    render(rec, o).unwrap_or_else(|e| panic!("{e}"))
}

/// Ink darkness of a pixel: black trace ink is dark in red, the pink grid is not.
fn ink(page: &RenderedPage, x: u32, y: u32) -> f64 {
    let [r, _, _] = page.pixel(x, y).unwrap_or([255; 3]);
    if r < 200 { f64::from(255 - r) } else { 0.0 }
}

/// Darkness-weighted centre of the ink in column `x` between rows `y0..y1`.
fn ink_centre_y(page: &RenderedPage, x: u32, y0: u32, y1: u32) -> f64 {
    let (mut sum, mut weight) = (0.0, 0.0);
    for y in y0..y1 {
        let w = ink(page, x, y);
        sum += w * f64::from(y);
        weight += w;
    }
    assert!(weight > 0.0, "no ink in column {x} rows {y0}..{y1}");
    sum / weight
}

/// Centres of the runs of ink along row `y` between columns `x0..x1`.
fn ink_runs_x(page: &RenderedPage, y: u32, x0: u32, x1: u32) -> Vec<f64> {
    let mut runs = Vec::new();
    let (mut sum, mut weight) = (0.0, 0.0);
    for x in x0..x1 {
        let w = ink(page, x, y);
        if w > 0.0 {
            sum += w * f64::from(x);
            weight += w;
        } else if weight > 0.0 {
            runs.push(sum / weight);
            (sum, weight) = (0.0, 0.0);
        }
    }
    if weight > 0.0 {
        runs.push(sum / weight);
    }
    runs
}

#[test]
fn calibration_pulse_is_one_millivolt_tall_at_every_gain_and_dpi() {
    let rec = record_of(|_| 0.0);
    for dpi in [150.0, 300.0] {
        for gain in [5.0, 10.0, 20.0] {
            let p = page(&rec, &opts(Layout::ThreeByFour, 25.0, gain, dpi));
            for cal in &p.layout.calibrations {
                let top_col = p.px(f64::midpoint(cal.x_rise_mm, cal.x_fall_mm)) as u32;
                let base_col = p.px(f64::midpoint(cal.x_start_mm, cal.x_rise_mm)) as u32;
                let window = p.px(3.0) as u32;
                let top_guess = p.px(cal.top_mm) as u32;
                let base_guess = p.px(cal.baseline_mm) as u32;
                let top = ink_centre_y(&p, top_col, top_guess - window, top_guess + window);
                let base = ink_centre_y(&p, base_col, base_guess - window, base_guess + window);
                let expected = gain * p.px_per_mm; // 1 mV × gain mm/mV
                assert!(
                    (base - top - expected).abs() <= 1.0,
                    "dpi {dpi} gain {gain}: pulse {:.2} px tall, expected {expected:.2}",
                    base - top
                );
                // Counting dark rows on the rising edge gives the height plus one stroke width.
                let edge_col = p.px(cal.x_rise_mm).round() as u32;
                let dark_rows = (top_guess - window..base_guess + window)
                    .filter(|&y| (edge_col - 1..=edge_col + 1).any(|x| ink(&p, x, y) > 128.0))
                    .count() as f64;
                let stroke = (TRACE_WIDTH_MM * p.px_per_mm).max(1.0);
                assert!(
                    (dark_rows - expected - stroke).abs() <= 2.0,
                    "dpi {dpi} gain {gain}: {dark_rows} dark rows, expected {expected:.1} + {stroke:.1}"
                );
            }
        }
    }
}

#[test]
fn one_second_spans_speed_millimetres() {
    let rec = record_of(square_wave);
    for (speed, dpi) in [(25.0, 200.0), (50.0, 200.0), (25.0, 96.0)] {
        let p = page(&rec, &opts(Layout::TwelveByOne, speed, 10.0, dpi));
        let panel = &p.layout.panels[1];
        assert_eq!(panel.lead, StandardLead::II);
        // Halfway up the square wave only its vertical edges carry ink.
        let y = p.y_px_at(panel, 500.0).round() as u32;
        let x0 = p.px(panel.x_mm + 5.0) as u32;
        let x1 = p.px(panel.x_mm + panel.width_mm) as u32 - 2;
        let edges = ink_runs_x(&p, y, x0, x1);
        assert!(
            edges.len() >= 12,
            "{speed} mm/s: found {} edges",
            edges.len()
        );
        let one_second = speed * p.px_per_mm;
        for pair in edges.windows(3) {
            assert!(
                (pair[2] - pair[0] - one_second).abs() <= 1.0,
                "{speed} mm/s at {dpi} dpi: edges {:.2} px apart, expected {one_second:.2}",
                pair[2] - pair[0]
            );
        }
        // And the edges are where the geometry says (rising edge at 0.5 s after the start).
        let rising = p.x_px_at(panel, 0.499);
        assert!(
            edges.iter().any(|e| (e - rising).abs() <= 1.0),
            "no edge at {rising:.1}: {edges:?}"
        );
    }
}

#[test]
fn grid_lines_are_one_and_five_millimetres_apart() {
    let rec = record_of(|_| 0.0);
    for dpi in [150.0, 300.0] {
        let p = page(&rec, &opts(Layout::ThreeByFour, 25.0, 10.0, dpi));
        let g = p.layout.grid;
        // Half a millimetre off the horizontal lines, away from labels, traces and ticks. A minor
        // line is never darker than its colour (green 196); a major one always is somewhere.
        let y = p.px(g.y + 12.5).round() as u32;
        let x0 = p.px(g.x + 12.2) as u32;
        let x1 = p.px(g.x + g.width - 1.0) as u32;
        let mut all = Vec::new();
        let mut major = Vec::new();
        let (mut sum, mut weight, mut min_green) = (0.0, 0.0, 255u8);
        for x in x0..x1 {
            let [_, gr, _] = p.pixel(x, y).unwrap_or([255; 3]);
            if gr < 250 {
                let w = f64::from(255 - gr);
                sum += w * f64::from(x);
                weight += w;
                min_green = min_green.min(gr);
            } else if weight > 0.0 {
                all.push(sum / weight);
                if min_green < 194 {
                    major.push(sum / weight);
                }
                (sum, weight, min_green) = (0.0, 0.0, 255);
            }
        }
        let mm = p.px_per_mm;
        assert!(all.len() > 200, "{} lines", all.len());
        for pair in all.windows(2) {
            assert!(
                (pair[1] - pair[0] - mm).abs() <= 1.0,
                "minor spacing {pair:?} at {dpi}"
            );
        }
        assert!(major.len() > 40);
        for pair in major.windows(2) {
            assert!(
                (pair[1] - pair[0] - 5.0 * mm).abs() <= 1.0,
                "major spacing {pair:?}"
            );
        }
        // Four minor lines between majors (the scan may start and end between majors).
        assert!(
            all.len().abs_diff(major.len() * 5) <= 8,
            "{} vs {}",
            all.len(),
            major.len()
        );
    }
}

#[test]
fn same_input_gives_same_bytes() {
    let rec = record_of(|i| (i as f64 * 0.05).sin() * 800.0);
    let o = RenderOptions::default();
    let a = page(&rec, &o).to_png().unwrap();
    let b = page(&rec, &o).to_png().unwrap();
    assert_eq!(a, b);
    assert!(a.starts_with(b"\x89PNG"));
    let other = page(
        &rec,
        &RenderOptions {
            gain_mm_mv: 20.0,
            ..o
        },
    );
    assert_ne!(a, other.to_png().unwrap());
}

#[test]
fn layouts_have_the_expected_panels() {
    let rec = record_of(|_| 0.0);
    let l = page_layout(&rec, &RenderOptions::default()).unwrap();
    assert_eq!(l.panels.len(), 13);
    let names: Vec<&str> = l.panels.iter().map(|p| p.label.as_str()).collect();
    assert_eq!(
        names,
        [
            "I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6", "II"
        ]
    );
    // Columns show consecutive 2.5 s windows; the rhythm strip the whole 10 s.
    assert_eq!(l.panels[3].t_start_s, 2.5);
    assert_eq!(l.panels[11].t_start_s, 7.5);
    assert!(l.panels[12].rhythm && l.panels[12].t_end_s == 10.0);
    assert_eq!(l.calibrations.len(), 4);
    let six = page_layout(&rec, &opts(Layout::SixByTwo, 25.0, 10.0, 200.0)).unwrap();
    assert_eq!(six.panels.len(), 12);
    assert_eq!(six.calibrations.len(), 6);
    assert_eq!(six.panels[6].lead, StandardLead::V1);
    assert_eq!(six.panels[6].t_start_s, 5.0);
    let twelve = page_layout(&rec, &opts(Layout::TwelveByOne, 25.0, 10.0, 200.0)).unwrap();
    assert_eq!(twelve.panels.len(), 12);
    assert!(twelve.panels.iter().all(|p| p.t_end_s == 10.0));
    let v5 = page_layout(
        &rec,
        &RenderOptions {
            rhythm_lead: StandardLead::V5,
            ..RenderOptions::default()
        },
    )
    .unwrap();
    assert_eq!(v5.panels[12].lead, StandardLead::V5);
}

#[test]
fn pixels_map_back_to_time_and_voltage() {
    let rec = record_of(|_| 0.0);
    let p = page(&rec, &RenderOptions::default());
    let panel = &p.layout.panels[4];
    let (found, t, uv) = p
        .locate(p.x_px_at(panel, 3.1), p.y_px_at(panel, 400.0))
        .unwrap();
    assert_eq!(found.lead, StandardLead::AVL);
    assert!((t - 3.1).abs() < 1e-9 && (uv - 400.0).abs() < 1e-6);
}

#[test]
fn nan_samples_leave_a_gap() {
    let rec = record_of(|i| {
        if (500..1000).contains(&i) {
            f64::NAN
        } else {
            0.0
        }
    });
    let p = page(&rec, &opts(Layout::TwelveByOne, 25.0, 10.0, 200.0));
    let panel = &p.layout.panels[1];
    let y = p.y_px_at(panel, 0.0).round() as u32;
    let dark_at = |t: f64| {
        let x = p.x_px_at(panel, t).round() as u32;
        (y - 2..=y + 2).map(|yy| ink(&p, x, yy)).fold(0.0, f64::max)
    };
    assert!(dark_at(0.5) > 128.0);
    assert!(dark_at(1.5) == 0.0, "gap is inked");
    assert!(dark_at(2.5) > 128.0);
}

#[test]
fn missing_leads_are_labelled_not_invented() {
    let mut rec = record_of(|_| 0.0);
    rec.leads
        .retain(|l| l.lead != LeadId::Standard(StandardLead::V3));
    let p = page(&rec, &RenderOptions::default());
    let panel = p
        .layout
        .panels
        .iter()
        .find(|p| p.lead == StandardLead::V3)
        .unwrap();
    assert_eq!(panel.source, PanelSource::Missing);
    assert_eq!(panel.label, "V3: lead missing");
    // The dashed placeholder is grey, never trace ink.
    let y = p.y_px_at(panel, 0.0).round() as u32;
    let x0 = p.x_px_at(panel, panel.t_start_s + 0.5) as u32;
    for x in x0..x0 + 100 {
        assert!(ink(&p, x, y) < 128.0);
    }
}

#[test]
fn derived_leads_are_marked() {
    let mut rec = record_of(|_| 0.0);
    rec.leads[2].derived = true;
    let l = page_layout(&rec, &RenderOptions::default()).unwrap();
    assert_eq!(l.panels[2].label, "III*");
    assert!(l.footer.contains("derived"));
}

#[test]
fn unusable_inputs_are_clear_errors() {
    let empty = record_with(&[StandardLead::II], 0, RATE);
    assert_eq!(
        render(&empty, &RenderOptions::default()).err(),
        Some(RenderError::EmptyRecord)
    );
    let rec = record_of(|_| 0.0);
    for bad in [f64::NAN, 0.0, 1e6] {
        let err = render(
            &rec,
            &RenderOptions {
                dpi: bad,
                ..RenderOptions::default()
            },
        )
        .err();
        assert!(
            matches!(err, Some(RenderError::BadOption { option: "dpi", .. })),
            "{err:?}"
        );
    }
    let err = render(
        &rec,
        &RenderOptions {
            speed_mm_s: f64::INFINITY,
            ..RenderOptions::default()
        },
    )
    .err();
    assert!(matches!(
        err,
        Some(RenderError::BadOption {
            option: "speed",
            ..
        })
    ));
    let huge = opts(Layout::TwelveByOne, 50.0, 20.0, 1200.0);
    let err = render(&rec, &huge).err();
    assert!(
        matches!(err, Some(RenderError::PageTooLarge { .. })),
        "{err:?}"
    );
    let mut bad_rate = rec.clone();
    bad_rate.sample_rate_hz = 0.0;
    assert!(matches!(
        render(&bad_rate, &RenderOptions::default()),
        Err(RenderError::Record(_))
    ));
    let late = RenderOptions {
        start_s: 60.0,
        ..RenderOptions::default()
    };
    assert!(matches!(
        render(&rec, &late),
        Err(RenderError::BadOption {
            option: "start",
            ..
        })
    ));
}

#[test]
fn extreme_values_do_not_break_the_page() {
    let rec = record_of(|i| match i % 3 {
        0 => 1e300,
        1 => -1e300,
        _ => f64::INFINITY,
    });
    let p = page(&rec, &RenderOptions::default());
    assert_eq!(
        p.rgba().len() as u64,
        u64::from(p.width()) * u64::from(p.height()) * 4
    );
}

#[test]
fn long_fast_records_are_decimated_to_two_points_per_bucket() {
    let mut rec = record_with(&[StandardLead::II], 100_000, 10_000.0);
    rec.leads[0].samples_uv = (0..100_000).map(|i| ((i % 7) as f64) * 100.0).collect();
    let l = page_layout(&rec, &opts(Layout::TwelveByOne, 25.0, 10.0, 200.0)).unwrap();
    let panel = &l.panels[1];
    let bucket = 25.4 / 200.0;
    let lines = trace_polylines(&rec, panel, bucket);
    let points: usize = lines.iter().map(Vec::len).sum();
    let buckets = (panel.width_mm / bucket).ceil() as usize + 1;
    assert!(
        points <= 2 * buckets,
        "{points} points for {buckets} buckets"
    );
    // Extremes survive the decimation.
    let ys: Vec<f64> = lines.iter().flatten().map(|p| p.1).collect();
    let lowest = ys.iter().copied().fold(f64::MIN, f64::max);
    assert!((lowest - panel.y_at_uv(0.0)).abs() < 1e-9);
}
