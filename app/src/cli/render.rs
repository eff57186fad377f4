//! `ecgr1 render FILE -o OUT.png [--layout 3x4|6x2|12x1] [--speed 25|50] [--gain 5|10|20]
//! [--dpi N] [--rhythm-lead II]`

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use ecgr1_engine::StandardLead;
use ecgr1_engine::formats::EcgInput;

use super::input::InputArgs;
use ecgr1_engine::render::{Layout, RenderOptions, RenderedPage, render};

#[derive(Debug, Args)]
pub struct RenderArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Output PNG file.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Page layout: 3x4 (plus a rhythm strip), 6x2 or 12x1.
    #[arg(long, default_value = "3x4")]
    pub layout: Layout,
    /// Paper speed in mm/s.
    #[arg(long, default_value = "25", value_parser = ["25", "50"])]
    pub speed: String,
    /// Gain in mm/mV.
    #[arg(long, default_value = "10", value_parser = ["5", "10", "20"])]
    pub gain: String,
    /// Resolution in dots per inch.
    #[arg(long, default_value_t = 200.0)]
    pub dpi: f64,
    /// Lead of the rhythm strip under the 3x4 layout.
    #[arg(long, default_value = "II", value_parser = parse_lead)]
    pub rhythm_lead: StandardLead,
}

fn parse_lead(s: &str) -> Result<StandardLead, String> {
    StandardLead::from_label(s)
        .ok_or_else(|| format!("{s:?} is not one of the twelve standard leads"))
}

pub fn run(args: &RenderArgs, out: &mut dyn Write) -> Result<()> {
    let input = args.input.load()?;
    let record = match input {
        EcgInput::Signal(s) => s.record,
        EcgInput::Image(i) => bail!(
            "{}: already an image ({}, {}×{} px); render draws signal files",
            args.input.file.display(),
            i.provenance.format,
            i.width,
            i.height
        ),
    };
    let options = RenderOptions {
        layout: args.layout,
        speed_mm_s: args.speed.parse().context("--speed")?,
        gain_mm_mv: args.gain.parse().context("--gain")?,
        dpi: args.dpi,
        rhythm_lead: args.rhythm_lead,
        ..RenderOptions::default()
    };
    let page = render(&record, &options).with_context(|| args.input.file.display().to_string())?;
    write_png(&page, &args.output)?;
    writeln!(
        out,
        "{}: {}×{} px, {} at {} mm/s, {} mm/mV, {} dpi",
        args.output.display(),
        page.width(),
        page.height(),
        options.layout,
        options.speed_mm_s,
        options.gain_mm_mv,
        options.dpi
    )?;
    Ok(())
}

/// Writes the page as PNG.
pub fn write_png(page: &RenderedPage, output: &Path) -> Result<()> {
    let png = page.to_png()?;
    std::fs::write(output, &png).with_context(|| format!("cannot write {}", output.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ecgr1-render-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Width and height from a PNG's IHDR chunk (after checking the signature).
    fn png_size(bytes: &[u8]) -> (u32, u32) {
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n") && &bytes[12..16] == b"IHDR");
        let be = |r: std::ops::Range<usize>| u32::from_be_bytes(bytes[r].try_into().unwrap());
        (be(16..20), be(20..24))
    }

    /// A 12-lead, 10 s CSV in the workstation's own convention (time in ms, µV columns).
    fn write_csv(path: &Path) {
        use std::fmt::Write as _;
        let leads = StandardLead::STANDARD_ORDER;
        let mut text = String::from("time_ms");
        for l in leads {
            write!(text, ",{}_uV", l.name()).unwrap();
        }
        text.push('\n');
        for i in 0..5000 {
            write!(text, "{}", i * 2).unwrap();
            for (k, _) in leads.iter().enumerate() {
                let v = if i % 400 < 20 { 1000 + 50 * k } else { 0 };
                write!(text, ",{v}").unwrap();
            }
            text.push('\n');
        }
        std::fs::write(path, text).unwrap();
    }

    fn run_cli(args: &[&str]) -> (u8, String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut argv = vec!["ecgr1"];
        argv.extend_from_slice(args);
        let code = crate::cli::run(argv, &mut out, &mut err);
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn renders_a_signal_file_to_a_png_of_the_page_size() {
        let dir = temp_dir("csv");
        let input = dir.join("ecg.csv");
        write_csv(&input);
        for (args, dpi) in [
            (vec![], 200.0),
            (vec!["--dpi", "100", "--layout", "12x1"], 100.0),
        ] {
            let output = dir.join(format!("page-{dpi}.png"));
            let mut argv = vec![
                "render",
                input.to_str().unwrap(),
                "-o",
                output.to_str().unwrap(),
            ];
            argv.extend(args);
            let (code, out, err) = run_cli(&argv);
            assert_eq!(code, 0, "{err}");
            assert!(out.contains("px"), "{out}");
            let (w, h) = png_size(&std::fs::read(&output).unwrap());
            // Page = grid + 5 mm margins; 3x4 at 25 mm/s: 10 mm calibration + 250 mm of trace.
            let mm: f64 = dpi / 25.4;
            assert_eq!(w, ((250.0 + 10.0 + 10.0) * mm).ceil() as u32);
            assert!(h > w / 3 && h < 3 * w, "{w}×{h}");
        }
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn write_png_writes_the_rendered_page() {
        let dir = temp_dir("page");
        let mut record = crate::gui::demo_record();
        record.leads.truncate(2);
        let page = render(&record, &RenderOptions::default()).unwrap();
        let output = dir.join("page.png");
        write_png(&page, &output).unwrap();
        assert_eq!(
            png_size(&std::fs::read(&output).unwrap()),
            (page.width(), page.height())
        );
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn images_are_refused_with_a_clear_error() {
        let dir = temp_dir("image");
        let input = dir.join("page.png");
        let record = crate::gui::demo_record();
        let page = render(&record, &RenderOptions::default()).unwrap();
        write_png(&page, &input).unwrap();
        let (code, _, err) = run_cli(&[
            "render",
            input.to_str().unwrap(),
            "-o",
            dir.join("x.png").to_str().unwrap(),
        ]);
        assert_eq!(code, 1);
        assert!(err.contains("already an image"), "{err}");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn bad_options_are_refused_by_the_parser() {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = crate::cli::run(
            ["ecgr1", "render", "x.csv", "-o", "y.png", "--speed", "30"],
            &mut out,
            &mut err,
        );
        assert_eq!(code, 2);
        let code = crate::cli::run(
            ["ecgr1", "render", "x.csv", "-o", "y.png", "--layout", "4x3"],
            &mut out,
            &mut err,
        );
        assert_eq!(code, 2);
        let code = crate::cli::run(
            [
                "ecgr1",
                "render",
                "x.csv",
                "-o",
                "y.png",
                "--rhythm-lead",
                "V9",
            ],
            &mut out,
            &mut err,
        );
        assert_eq!(code, 2);
    }
}
