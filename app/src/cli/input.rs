//! The reading options and input-file arguments every command that opens an ECG shares.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use ecgr1_engine::EcgRecord;
use ecgr1_engine::digitise::{DigitisationReport, DigitiseOptions, Digitised, digitise_image};
use ecgr1_engine::formats::csv::{self, CsvOptions, CsvUnits};
use ecgr1_engine::formats::{EcgImage, EcgInput, LoadOptions, load_bytes, load_path};

use crate::store::{RunDigitisation, RunRecord};

/// How to read a file whose own header leaves something open. Every command that reads an
/// ECG file flattens this one struct, so they all take the same options.
#[derive(Debug, Clone, Default, Args)]
pub struct ReadArgs {
    /// Sample rate of a CSV file that has no time column.
    #[arg(long = "sample-rate", value_name = "HZ")]
    pub sample_rate_hz: Option<f64>,
    /// Units of a CSV file whose header does not say (uV, mV or V; default uV).
    #[arg(long, value_name = "UNITS")]
    pub units: Option<String>,
}

impl ReadArgs {
    pub fn load_options(&self) -> Result<LoadOptions> {
        let units = match &self.units {
            None => None,
            Some(u) => match CsvUnits::parse(u) {
                Some(units) => Some(units),
                None => bail!("--units {u}: expected uV, mV or V"),
            },
        };
        Ok(LoadOptions {
            csv: CsvOptions {
                units,
                sample_rate_hz: self.sample_rate_hz,
            },
        })
    }

    /// Reads `path` with these options.
    pub fn load(&self, path: &Path) -> Result<EcgInput> {
        Ok(load_path(path, &self.load_options()?)?)
    }
}

/// One input file and the options to read it.
#[derive(Debug, Clone, Args)]
pub struct InputArgs {
    /// The ECG file: WFDB (.hea/.dat or record name), EDF/EDF+, DICOM, HL7 aECG XML, GE MUSE XML,
    /// Philips Sierra XML, SCP-ECG, CSV, PNG or JPEG.
    pub file: PathBuf,
    #[command(flatten)]
    pub read: ReadArgs,
}

impl InputArgs {
    pub fn load_options(&self) -> Result<LoadOptions> {
        self.read.load_options()
    }

    pub fn load(&self) -> Result<EcgInput> {
        self.read.load(&self.file)
    }
}

/// The signal an input carries: a signal file's record, or an image's record digitised from
/// its pixels (its processing notes say so and name the digitiser's version). `Err` says why
/// an image could not be digitised (it then stays an input for the model only).
pub fn signal_of(input: &EcgInput) -> Result<EcgRecord> {
    match input {
        EcgInput::Signal(s) => Ok(s.record.clone()),
        EcgInput::Image(i) => Ok(digitise_for_measuring(i, &DigitiseOptions::default())?.record),
    }
}

/// Digitises an image for measuring it: the record's processing notes say that the
/// measurements come from the digitised page, with its layout, scales and mean confidence.
pub fn digitise_for_measuring(image: &EcgImage, options: &DigitiseOptions) -> Result<Digitised> {
    let mut d = digitise_image(image, options).map_err(|e| {
        anyhow::anyhow!(
            "{}: the image could not be digitised, so it cannot be measured: {e}",
            image.provenance.file_name
        )
    })?;
    let note = measured_from_note(&d.report);
    d.record.processing_notes.push(note);
    Ok(d)
}

/// The sentence every output that shows measurements of a digitised page carries: digitiser,
/// layout, gain and speed with how each was found, and the mean confidence.
pub fn measured_from_note(r: &DigitisationReport) -> String {
    format!(
        "measurements come from the digitised image ({}, layout {}, gain {}, speed {}, mean confidence {:.2})",
        r.digitiser_version,
        r.layout,
        r.gain_text(),
        r.speed_text(),
        r.mean_confidence()
    )
}

/// What a stored run keeps of a digitisation: the digitiser's version, its report and the
/// digitised signal (CSV).
pub fn run_digitisation(d: &Digitised) -> RunDigitisation {
    RunDigitisation {
        digitiser_version: d.report.digitiser_version.clone(),
        report: serde_json::to_value(&d.report).unwrap_or(serde_json::Value::Null),
        signal_csv: String::from_utf8_lossy(&csv::write(&d.record)).into_owned(),
    }
}

/// The digitiser's report a run on an image stored, if the page was digitised.
pub fn stored_digitisation(run: &RunRecord) -> Result<Option<DigitisationReport>> {
    run.digitisation_json
        .as_deref()
        .map(|text| {
            serde_json::from_str(text).with_context(|| {
                format!(
                    "the stored digitisation report of run {} is not readable",
                    run.id
                )
            })
        })
        .transpose()
}

/// The digitised signal a run on an image stored (what its measurements and verifier read),
/// read back; `None` when the run kept none.
pub fn stored_digitised_signal(run: &RunRecord) -> Result<Option<EcgRecord>> {
    let Some(text) = &run.digitised_signal_csv else {
        return Ok(None);
    };
    let unreadable = || {
        format!(
            "the stored digitised signal of run {} cannot be read back",
            run.id
        )
    };
    match load_bytes(text.as_bytes(), "digitised.csv", &LoadOptions::default())
        .with_context(unreadable)?
    {
        EcgInput::Signal(s) => Ok(Some(s.record)),
        EcgInput::Image(_) => Err(anyhow::anyhow!("{}: it is not a signal", unreadable())),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use crate::cli::{Cli, run_captured};

    /// The subcommands that open an ECG file named on their command line.
    const READERS: [&str; 8] = [
        "info", "convert", "measure", "analyze", "verify", "render", "compare", "gui",
    ];

    #[test]
    fn every_command_that_reads_an_ecg_file_takes_the_same_reading_options() {
        let cli = Cli::command();
        let mut seen = Vec::new();
        for sub in cli.get_subcommands() {
            let reads = sub.get_arguments().any(|a| {
                a.is_positional() && matches!(a.get_id().as_str(), "file" | "prior" | "current")
            });
            if !reads {
                continue;
            }
            seen.push(sub.get_name().to_string());
            for (id, long) in [("sample_rate_hz", "sample-rate"), ("units", "units")] {
                let arg = sub
                    .get_arguments()
                    .find(|a| a.get_id() == id)
                    .unwrap_or_else(|| panic!("{} lacks --{long}", sub.get_name()));
                assert_eq!(arg.get_long(), Some(long), "{}", sub.get_name());
            }
        }
        seen.sort();
        let mut expected: Vec<String> = READERS.iter().map(|s| (*s).to_string()).collect();
        expected.sort();
        assert_eq!(seen, expected);
    }

    #[test]
    fn measure_reads_a_csv_with_the_given_rate_and_units() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let sample = crate::gui::samples_dir()
            .unwrap_or_else(|| panic!("assets/samples"))
            .join("synthetic_sinus.csv");
        let text = std::fs::read_to_string(&sample).unwrap_or_else(|e| panic!("{e}"));
        // The same recording without its time column, in millivolts, with no units in the header.
        let mut lines = text.lines();
        let header = lines.next().unwrap_or_default();
        let names: Vec<&str> = header
            .split(',')
            .skip(1)
            .map(|h| h.trim_end_matches("_uV"))
            .collect();
        let mut out = names.join(",");
        out.push('\n');
        for line in lines {
            let cells: Vec<String> = line
                .split(',')
                .skip(1)
                .map(|c| format!("{}", c.parse::<f64>().unwrap_or_default() / 1000.0))
                .collect();
            out.push_str(&cells.join(","));
            out.push('\n');
        }
        let bare = dir.path().join("bare.csv");
        std::fs::write(&bare, out).unwrap_or_else(|e| panic!("{e}"));
        let rate = |args: &[&str]| -> serde_json::Value {
            let (code, out, err) = run_captured(args);
            assert_eq!(code, 0, "{err}");
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
        };
        let original = rate(&["ecgr1", "measure", &sample.display().to_string(), "--json"]);
        let bare_path = bare.display().to_string();
        let read = rate(&[
            "ecgr1",
            "measure",
            &bare_path,
            "--sample-rate",
            "500",
            "--units",
            "mV",
            "--json",
        ]);
        assert_eq!(read["sample_rate_hz"], 500.0);
        assert_eq!(read["heart_rate_bpm"], original["heart_rate_bpm"]);
        assert_eq!(read["qrs_ms"], original["qrs_ms"]);
        // A bad unit is refused by name.
        let (code, _, err) = run_captured(&["ecgr1", "measure", &bare_path, "--units", "furlong"]);
        assert_eq!(code, 1);
        assert!(err.contains("--units furlong"), "{err}");
    }
}
