//! Measures the synthetic 10 s, 12-lead, 500 Hz fixture (`sinus_75bpm`) many times, for
//! profiling the feature pipeline (callgrind, perf):
//! `cargo build --release -p ecgr1-engine --example measure_profile`
//! `valgrind --tool=callgrind target/release/examples/measure_profile 20`
//!
//! `measure_profile --digest` instead prints, for every feature fixture and every bundled
//! sample, a SHA-256 of the full debug form of its measurements (every value, fiducial and
//! median-beat sample), so an optimisation can be checked to change nothing: run it before and
//! after and diff.

use std::path::{Path, PathBuf};
use std::time::Instant;

use ecgr1_engine::features::measure;
use ecgr1_engine::formats::{EcgInput, Format, LoadOptions, load_path, sha256_hex};
use ecgr1_engine::record::{EcgRecord, LeadId, LeadSignal, Provenance};
use serde_json::Value;

fn record(fs: f64, leads: Vec<(String, Vec<f64>)>) -> EcgRecord {
    EcgRecord {
        sample_rate_hz: fs,
        leads: leads
            .into_iter()
            .map(|(n, s)| LeadSignal::new(LeadId::from_label(&n), n, s))
            .collect(),
        acquisition_time: None,
        device: None,
        provenance: Provenance {
            format: Format::Csv,
            file_name: "fixture".into(),
            sha256: String::new(),
            byte_len: 0,
        },
        annotations: Vec::new(),
        representative_beats: None,
        processing_notes: Vec::new(),
    }
}

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/features")
}

/// The synthetic fixtures (12 leads as little-endian i16 µV, lead after lead) by name.
fn synthetic() -> Result<Vec<(String, EcgRecord)>, Box<dyn std::error::Error>> {
    let dir = fixtures_dir().join("synthetic");
    let index: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("index.json"))?)?;
    let mut out = Vec::new();
    for r in index.as_array().ok_or("index")? {
        let bytes = std::fs::read(dir.join(r["file"].as_str().unwrap_or_default()))?;
        let names = r["leads"].as_array().ok_or("leads")?;
        let n = bytes.len() / 2 / names.len().max(1);
        let leads = names
            .iter()
            .enumerate()
            .map(|(li, name)| {
                let s = bytes[2 * li * n..2 * (li + 1) * n]
                    .chunks_exact(2)
                    .map(|c| f64::from(i16::from_le_bytes([c[0], c[1]])))
                    .collect();
                (name.as_str().unwrap_or_default().to_string(), s)
            })
            .collect();
        let fs = r["sample_rate_hz"].as_f64().unwrap_or(0.0);
        out.push((
            r["name"].as_str().unwrap_or_default().to_string(),
            record(fs, leads),
        ));
    }
    Ok(out)
}

fn cart() -> Result<EcgRecord, Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(fixtures_dir().join("waveform_ecg_rhythm.json"))?;
    let cart: Value = serde_json::from_str(&text)?;
    let leads = cart["leads"]
        .as_array()
        .ok_or("leads")?
        .iter()
        .map(|l| {
            let s = l["samples_uv"].as_array().map_or_else(Vec::new, |a| {
                a.iter().map(|x| x.as_f64().unwrap_or(f64::NAN)).collect()
            });
            (l["name"].as_str().unwrap_or_default().to_string(), s)
        })
        .collect();
    Ok(record(
        cart["sample_rate_hz"].as_f64().unwrap_or(0.0),
        leads,
    ))
}

fn digest() -> Result<(), Box<dyn std::error::Error>> {
    let mut records = vec![("waveform_ecg (cart)".to_string(), cart()?)];
    records.extend(synthetic()?);
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/samples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&samples)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    files.sort();
    for file in files {
        if let Ok(EcgInput::Signal(s)) = load_path(&file, &LoadOptions::default()) {
            records.push((file.display().to_string(), s.record));
        }
    }
    for (name, rec) in records {
        let text = format!("{:?}", measure(&rec));
        println!("{} {name}", sha256_hex(text.as_bytes()));
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arg = std::env::args().nth(1);
    if arg.as_deref() == Some("--digest") {
        return digest();
    }
    let repeats: usize = arg.map_or(Ok(200), |r| r.parse())?;
    let rec = synthetic()?
        .into_iter()
        .find(|(name, _)| name == "sinus_75bpm")
        .ok_or("sinus_75bpm missing from the synthetic index")?
        .1;
    let mut times = Vec::with_capacity(repeats);
    for _ in 0..repeats.max(1) {
        let start = Instant::now();
        std::hint::black_box(measure(std::hint::black_box(&rec))?);
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "measure sinus_75bpm: median {:.3} ms, min {:.3} ms over {} runs",
        times[times.len() / 2],
        times[0],
        times.len()
    );
    Ok(())
}
