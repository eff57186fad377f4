//! The input-file arguments every command that opens an ECG shares.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use ecgr1_engine::formats::csv::{CsvOptions, CsvUnits};
use ecgr1_engine::formats::{EcgInput, LoadOptions, load_path};

#[derive(Debug, Clone, Args)]
pub struct InputArgs {
    /// The ECG file: WFDB (.hea/.dat or record name), EDF/EDF+, DICOM, HL7 aECG XML, CSV, PNG or JPEG.
    pub file: PathBuf,
    /// Sample rate of a CSV file that has no time column.
    #[arg(long = "sample-rate", value_name = "HZ")]
    pub sample_rate_hz: Option<f64>,
    /// Units of a CSV file whose header does not say (uV, mV or V; default uV).
    #[arg(long, value_name = "UNITS")]
    pub units: Option<String>,
}

impl InputArgs {
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

    pub fn load(&self) -> Result<EcgInput> {
        Ok(load_path(&self.file, &self.load_options()?)?)
    }
}

/// The signal an input carries: a signal file's record, or an image's record digitised from
/// its pixels (its processing notes say so and name the digitiser's version). `Err` says why
/// an image could not be digitised (it then stays an input for the model only).
pub fn signal_of(input: &EcgInput) -> Result<ecgr1_engine::EcgRecord> {
    match input {
        EcgInput::Signal(s) => Ok(s.record.clone()),
        EcgInput::Image(i) => {
            let d = ecgr1_engine::digitise::digitise_image(
                i,
                &ecgr1_engine::digitise::DigitiseOptions::default(),
            )
            .map_err(|e| {
                anyhow::anyhow!(
                    "{}: the image could not be digitised, so it cannot be measured: {e}",
                    i.provenance.file_name
                )
            })?;
            let mut record = d.record;
            record.processing_notes.push(format!(
                "measurements come from the digitised image (layout {}, mean confidence {:.2}, gain {}, speed {})",
                d.report.layout,
                d.report.mean_confidence(),
                d.report
                    .gain_mm_mv
                    .map_or("from the pulse, no grid".into(), |g| format!("{g} mm/mV")),
                d.report
                    .speed_mm_s
                    .map_or("from the 10 s row, no grid".into(), |s| format!("{s} mm/s")),
            ));
            Ok(record)
        }
    }
}
