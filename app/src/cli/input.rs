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
