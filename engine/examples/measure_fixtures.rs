//! Prints the global measurements of every feature fixture (the cart recording exported from
//! pydicom's waveform_ecg.dcm and the synthetic records) as one JSON object per line, for
//! scripts/compare_neurokit2.py:
//! `cargo run --release -p ecgr1-engine --example measure_fixtures`

use std::path::PathBuf;

use ecgr1_engine::features::measure;
use ecgr1_engine::formats::Format;
use ecgr1_engine::record::{EcgRecord, LeadId, LeadSignal, Provenance};
use serde_json::{Value, json};

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

fn load() -> Result<Vec<(String, EcgRecord)>, Box<dyn std::error::Error>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/features");
    let mut out = Vec::new();
    let cart: Value = serde_json::from_str(&std::fs::read_to_string(
        dir.join("waveform_ecg_rhythm.json"),
    )?)?;
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
    out.push((
        "waveform_ecg (cart)".to_string(),
        record(cart["sample_rate_hz"].as_f64().unwrap_or(0.0), leads),
    ));
    let index: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("synthetic/index.json"))?)?;
    for r in index.as_array().ok_or("index")? {
        let bytes = std::fs::read(
            dir.join("synthetic")
                .join(r["file"].as_str().unwrap_or_default()),
        )?;
        let n = r["samples"].as_u64().unwrap_or(0) as usize;
        let names = r["leads"].as_array().ok_or("leads")?;
        if bytes.len() != 2 * n * names.len() {
            return Err("synthetic file size does not match its index".into());
        }
        let leads = names
            .iter()
            .enumerate()
            .map(|(li, name)| {
                let s = (0..n)
                    .map(|k| {
                        let o = 2 * (li * n + k);
                        f64::from(i16::from_le_bytes([bytes[o], bytes[o + 1]]))
                    })
                    .collect();
                (name.as_str().unwrap_or_default().to_string(), s)
            })
            .collect();
        out.push((
            r["name"].as_str().unwrap_or_default().to_string(),
            record(r["sample_rate_hz"].as_f64().unwrap_or(0.0), leads),
        ));
    }
    Ok(out)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for (name, rec) in load()? {
        let m = measure(&rec)?;
        let line = json!({
            "record": name,
            "heart_rate_bpm": m.heart_rate_bpm.value,
            "pr_ms": m.pr_ms.value,
            "qrs_ms": m.qrs_ms.value,
            "qt_ms": m.qt_ms.value,
            "qtc_bazett_ms": m.qtc_bazett_ms.value,
            "r_peaks": m.beats.iter().map(|b| b.r_index).collect::<Vec<_>>(),
            "rhythm": m.rhythm.label,
        });
        println!("{line}");
    }
    Ok(())
}
