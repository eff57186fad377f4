//! `ecgr1 report RUN --pdf OUT.pdf` end to end: analyze --db stores a run, sign signs it,
//! report writes the PDF; the pages are rendered back to PNG with poppler's `pdftoppm` and
//! their text read with `pdftotext`, so the test sees what a reader of the PDF sees.
//!
//! Needs poppler-utils (Debian: `apt-get install poppler-utils`; `.ci/run` installs it). Without
//! it the test fails and says so: a report that was never looked at must not pass.

// Test helpers outside #[test] functions may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

fn poppler(tool: &str) -> Command {
    let found = Command::new(tool).arg("-v").output();
    assert!(
        found.is_ok(),
        "`{tool}` is not on PATH: install poppler-utils (Debian/Ubuntu: apt-get install -y poppler-utils) \
         to check the rendered report pages; CI installs it"
    );
    Command::new(tool)
}

/// Renders every page to PNG at `dpi`; returns the images in page order.
fn render_pages(pdf: &Path, dpi: u32, dir: &Path) -> Vec<image::RgbImage> {
    let prefix = dir.join("page");
    let status = poppler("pdftoppm")
        .args(["-png", "-r", &dpi.to_string()])
        .arg(pdf)
        .arg(&prefix)
        .status()
        .unwrap();
    assert!(status.success(), "pdftoppm failed on {}", pdf.display());
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "png")
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("page"))
        })
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| image::open(p).unwrap().to_rgb8())
        .collect()
}

fn pdf_text(pdf: &Path) -> String {
    let out = poppler("pdftotext")
        .args(["-layout"])
        .arg(pdf)
        .arg("-")
        .output()
        .unwrap();
    assert!(out.status.success(), "pdftotext failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Counts pixels of the ECG paper's grid colour (pink to red) and of the trace ink (near
/// black) in a rectangle of the page.
fn count_colours(img: &image::RgbImage, x0: u32, y0: u32, x1: u32, y1: u32) -> (usize, usize) {
    let (mut grid, mut ink) = (0, 0);
    for y in y0..y1.min(img.height()) {
        for x in x0..x1.min(img.width()) {
            let [r, g, b] = img.get_pixel(x, y).0;
            let (r, g, b) = (i32::from(r), i32::from(g), i32::from(b));
            if r > 200 && r - g > 30 && r - b > 30 && (g - b).abs() < 25 {
                grid += 1;
            }
            if r < 90 && g < 90 && b < 90 {
                ink += 1;
            }
        }
    }
    (grid, ink)
}

struct Store {
    _dir: tempfile::TempDir,
    root: PathBuf,
    db: String,
    key: String,
    pw: String,
}

impl Store {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        std::fs::write(root.join("pw"), "correct horse battery staple\n").unwrap();
        let s = |p: &str| root.join(p).to_str().unwrap().to_string();
        Self {
            db: s("store.sqlite"),
            key: s("audit.key"),
            pw: s("pw"),
            root,
            _dir: dir,
        }
    }

    fn args<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut v = args.to_vec();
        v.extend_from_slice(&[
            "--db",
            &self.db,
            "--key",
            &self.key,
            "--user",
            "alice",
            "--password-file",
            &self.pw,
        ]);
        v
    }

    /// Analyses `file` with the protocol engine into the store; returns the run id.
    fn analyze(&self, file: &str, task: &str) -> String {
        let (code, out, err) = support::cli(&self.args(&[
            "analyze",
            file,
            "--task",
            task,
            "--notes",
            "chest pain",
            "--json",
        ]));
        assert_eq!(code, 0, "{err}");
        let report: serde_json::Value = serde_json::from_str(&out).unwrap();
        report["run_id"].as_i64().unwrap().to_string()
    }
}

#[test]
fn signed_run_report_renders_with_the_ecg_on_paper_and_the_key_texts() {
    let store = Store::new();
    let run = store.analyze(&support::sample("synthetic_twi.csv"), "twi");
    let (code, _, err) = support::cli(&store.args(&[
        "sign",
        &run,
        "--agree",
        "--reason",
        "primary pattern confirmed",
        "--meaning",
        "approved",
    ]));
    assert_eq!(code, 0, "{err}");

    let pdf = store.root.join("report.pdf");
    let (code, out, err) =
        support::cli(&store.args(&["report", &run, "--pdf", pdf.to_str().unwrap()]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("wrote") && out.contains("pages"), "{out}");

    // Pages: 1 landscape (the ECG), then portrait detail pages; A4 at 50 dpi.
    let pages_dir = store.root.join("pages");
    std::fs::create_dir(&pages_dir).unwrap();
    let pages = render_pages(&pdf, 50, &pages_dir);
    assert!((2..=6).contains(&pages.len()), "{} pages", pages.len());
    // A4 is 297 x 210 mm: 584.7 x 413.4 px at 50 dpi (poppler rounds up).
    let size = |img: &image::RgbImage| (img.width(), img.height());
    assert_eq!(size(&pages[0]), (585, 414), "page 1 is A4 landscape");
    for page in &pages[1..] {
        assert_eq!(size(page), (414, 585), "detail pages are A4 portrait");
    }

    // The ECG at 150 dpi: the grid and the traces where the layout puts them.
    let hi_dir = store.root.join("hi");
    std::fs::create_dir(&hi_dir).unwrap();
    let hi = render_pages(&pdf, 150, &hi_dir);
    let page1 = &hi[0];
    let px = |mm: f64| (mm * 150.0 / 25.4) as u32;
    // Page is 297 mm wide, the ECG page 270 mm, centred: its grid starts 13.5 + 5 mm from the
    // left; the ECG starts 70 pt (24.7 mm) from the top, its grid 5 mm below that.
    let grid_left = 18.5;
    let grid_top = 70.0 * 25.4 / 72.0 + 5.0;
    // First row (leads I, aVR, V1, V4), a 20 mm x 20 mm window in lead I's panel.
    let (grid, ink) = count_colours(
        page1,
        px(grid_left + 15.0),
        px(grid_top + 5.0),
        px(grid_left + 35.0),
        px(grid_top + 25.0),
    );
    assert!(grid > 2000, "grid pixels in lead I's panel: {grid}");
    assert!(ink > 50, "trace pixels in lead I's panel: {ink}");
    // The rhythm strip (4th row, 90-120 mm below the grid top).
    let (grid, ink) = count_colours(
        page1,
        px(grid_left + 15.0),
        px(grid_top + 92.0),
        px(grid_left + 250.0),
        px(grid_top + 118.0),
    );
    assert!(grid > 20_000, "grid pixels in the rhythm strip: {grid}");
    assert!(ink > 1000, "trace pixels in the rhythm strip: {ink}");
    // The margin left of the grid is plain paper.
    let (grid, ink) = count_colours(page1, 0, px(grid_top), px(10.0), px(grid_top + 100.0));
    assert_eq!((grid, ink), (0, 0), "nothing in the left margin");
    // The detail pages have no ECG grid.
    let (grid, _) = count_colours(&hi[1], 0, 0, hi[1].width(), hi[1].height());
    assert!(grid < 200, "grid colour on a detail page: {grid}");

    let text = pdf_text(&pdf);
    let (_, info_out, _) = support::cli(&["info", &support::sample("synthetic_twi.csv"), "--json"]);
    let info: serde_json::Value = serde_json::from_str(&info_out).unwrap();
    let sha = info["sha256"].as_str().unwrap();
    for needle in [
        "Clinical ECG report",
        &format!("Run {run}"),
        "Page 1 of",
        "rule-based, no P(yes)",
        "claims found",
        "supported",
        "contradicted",
        "meaning: approved",
        "alice",
        "primary pattern confirmed",
        "Decision support only: this assessment assists and does not diagnose. The physician decides.",
        sha,
        "synthetic_twi.csv",
        "QTc (Bazett)",
        "QTc (Fridericia)",
        "Heart rate",
        "25 mm/s",
        "10 mm/mV",
        "Per lead",
        "ST J+60 (mm)",
        "chest pain",
    ] {
        assert!(
            text.contains(needle),
            "{needle:?} is not in the report text:\n{text}"
        );
    }
    assert!(!text.contains("Not signed"), "a signed run says not signed");
}

#[test]
fn unsigned_image_run_says_its_measurements_come_from_the_digitised_image() {
    let store = Store::new();
    let png = store.root.join("ecg.png");
    let (code, _, err) = support::cli(&[
        "render",
        &support::sample("synthetic_sinus.csv"),
        "-o",
        png.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let run = store.analyze(png.to_str().unwrap(), "interpret");
    let pdf = store.root.join("image.pdf");
    let (code, out, err) = support::cli(&store.args(&[
        "report",
        &run,
        "--pdf",
        pdf.to_str().unwrap(),
        "--deidentified",
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("includes patient identity"), "{out}");
    // Lines wrap where the page ends them: compare with single spaces.
    let text = pdf_text(&pdf)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for needle in [
        "Not signed",
        "measurements come from the digitised image (ecgr1-digitise/",
        "gain 10 mm/mV, from the calibration pulse",
        "speed 25 mm/s, from a 10 s row's length on the grid",
        "mean confidence",
        "Measured for this report on the signal digitised from the stored image and kept with the run",
        "Heart rate",
        "rule-based, no P(yes)",
        "ecg.png",
    ] {
        assert!(text.contains(needle), "{needle:?} is not in:\n{text}");
    }
    assert!(!text.contains("an image cannot be measured"), "{text}");
    // The embedded image shows the rendered paper: grid and ink on page 1.
    let dir = store.root.join("pages");
    std::fs::create_dir(&dir).unwrap();
    let pages = render_pages(&pdf, 100, &dir);
    let p = &pages[0];
    let (grid, ink) = count_colours(p, 0, p.height() / 6, p.width(), p.height() * 3 / 4);
    assert!(grid > 5000 && ink > 500, "grid {grid}, ink {ink}");
}

#[test]
fn unknown_run_and_bad_stores_fail_clearly() {
    let store = Store::new();
    let run = store.analyze(&support::sample("synthetic_sinus.csv"), "interpret");
    let out_pdf = store.root.join("x.pdf");
    let out_s = out_pdf.to_str().unwrap();

    let (code, _, err) = support::cli(&store.args(&["report", "999", "--pdf", out_s]));
    assert_eq!(code, 1);
    assert!(err.contains("run 999 does not exist"), "{err}");
    assert!(!out_pdf.exists(), "no file for a failed report");

    let missing = store.root.join("nowhere.sqlite");
    let (code, _, err) = support::cli(&[
        "report",
        &run,
        "--pdf",
        out_s,
        "--db",
        missing.to_str().unwrap(),
        "--key",
        &store.key,
        "--user",
        "alice",
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("does not exist") && err.contains("nowhere.sqlite"),
        "{err}"
    );
    assert!(!missing.exists(), "a report must not create a store");

    let broken = store.root.join("broken.sqlite");
    std::fs::write(
        &broken,
        b"this is not a database, just some text that is long enough",
    )
    .unwrap();
    let (code, _, err) = support::cli(&[
        "report",
        &run,
        "--pdf",
        out_s,
        "--db",
        broken.to_str().unwrap(),
        "--key",
        &store.key,
        "--user",
        "alice",
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("broken.sqlite") && err.contains("not an ecgr1 database"),
        "{err}"
    );
    assert!(!out_pdf.exists());
}

#[test]
fn wfdb_record_is_read_back_from_its_stored_header_and_data() {
    let store = Store::new();
    let run = store.analyze(&support::sample("synthetic_sinus.hea"), "interpret");
    let pdf = store.root.join("wfdb.pdf");
    let (code, _, err) =
        support::cli(&store.args(&["report", &run, "--pdf", pdf.to_str().unwrap()]));
    assert_eq!(code, 0, "{err}");
    let text = pdf_text(&pdf);
    assert!(!text.contains("cannot be shown"), "{text}");
    assert!(
        text.contains("Heart rate") && text.contains("70 bpm"),
        "{text}"
    );
    assert!(text.contains("wfdb"), "{text}");
    let dir = store.root.join("pages");
    std::fs::create_dir(&dir).unwrap();
    let pages = render_pages(&pdf, 60, &dir);
    let p = &pages[0];
    let (grid, ink) = count_colours(p, 0, p.height() / 5, p.width(), p.height() * 3 / 4);
    assert!(grid > 5000 && ink > 500, "grid {grid}, ink {ink}");
}
