//! Benchmark: measuring a 10 s, 12-lead, 500 Hz record (the synthetic 75 bpm fixture), many
//! times on one core, then neurokit2's `ecg_process` on the same record in the same run
//! (python3 subprocess; skipped with a message when python3 or neurokit2 is absent).
//!
//! `cargo bench -p ecgr1-engine --bench measure`

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use ecgr1_engine::features::measure;
use ecgr1_engine::formats::Format;
use ecgr1_engine::record::{EcgRecord, LeadId, LeadSignal, Provenance};

const NEUROKIT_SCRIPT: &str = r#"
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import numpy as np
import neurokit2 as nk
data = np.loadtxt(sys.argv[1], delimiter=",")  # samples x 12, µV
fs = float(sys.argv[2])
ii = data[:, 1] / 1000.0
nk.ecg_process(ii, sampling_rate=fs)  # warm-up (imports, caches)
runs = []
for _ in range(5):
    t = time.perf_counter(); nk.ecg_process(ii, sampling_rate=fs); runs.append(time.perf_counter() - t)
all_runs = []
for _ in range(2):
    t = time.perf_counter()
    for k in range(data.shape[1]):
        nk.ecg_process(data[:, k] / 1000.0, sampling_rate=fs)
    all_runs.append(time.perf_counter() - t)
print(json.dumps({"version": nk.__version__, "lead_ii_ms": 1000 * float(np.median(runs)), "all_leads_ms": 1000 * float(np.median(all_runs))}))
"#;

fn load() -> Result<EcgRecord, Box<dyn std::error::Error>> {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/features/synthetic");
    let bytes = std::fs::read(dir.join("sinus_75bpm.i16"))?;
    let names = [
        "I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6",
    ];
    let n = bytes.len() / 2 / names.len();
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
            LeadSignal::new(LeadId::from_label(name), *name, s)
        })
        .collect();
    Ok(EcgRecord {
        sample_rate_hz: 500.0,
        leads,
        acquisition_time: None,
        device: None,
        provenance: Provenance {
            format: Format::Csv,
            file_name: "sinus_75bpm".into(),
            sha256: String::new(),
            byte_len: 0,
        },
        annotations: Vec::new(),
        representative_beats: None,
        processing_notes: Vec::new(),
    })
}

fn neurokit(rec: &EcgRecord) -> Result<(String, f64, f64), String> {
    let path = std::env::temp_dir().join(format!("ecgr1-bench-{}.csv", std::process::id()));
    let n = rec.samples_per_lead();
    let mut csv = String::with_capacity(n * 12 * 8);
    for k in 0..n {
        let row: Vec<String> = rec
            .leads
            .iter()
            .map(|l| format!("{:.1}", l.samples_uv[k]))
            .collect();
        csv.push_str(&row.join(","));
        csv.push('\n');
    }
    std::fs::write(&path, csv).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    // One core on both sides: numpy/scipy may otherwise start BLAS/OpenMP threads.
    let out = Command::new("python3")
        .env("OMP_NUM_THREADS", "1")
        .env("OPENBLAS_NUM_THREADS", "1")
        .env("MKL_NUM_THREADS", "1")
        .arg("-c")
        .arg(NEUROKIT_SCRIPT)
        .arg(&path)
        .arg(rec.sample_rate_hz.to_string())
        .output();
    let _ = std::fs::remove_file(&path);
    let out = out.map_err(|e| format!("python3 not available ({e})"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().last().unwrap_or("unknown error");
        return Err(format!(
            "neurokit2 not usable: {last} (pip install -r scripts/requirements-features.txt)"
        ));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("unreadable neurokit2 output: {e}"))?;
    Ok((
        v["version"].as_str().unwrap_or("?").to_string(),
        v["lead_ii_ms"].as_f64().unwrap_or(f64::NAN),
        v["all_leads_ms"].as_f64().unwrap_or(f64::NAN),
    ))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rec = load()?;
    println!(
        "record: {} leads x {} samples at {} Hz ({:.1} s)",
        rec.leads.len(),
        rec.samples_per_lead(),
        rec.sample_rate_hz,
        rec.duration_s()
    );
    for _ in 0..20 {
        std::hint::black_box(measure(&rec)?);
    }
    let mut times = Vec::new();
    let started = Instant::now();
    while times.len() < 2000 && (started.elapsed().as_secs_f64() < 3.0 || times.len() < 50) {
        let t = Instant::now();
        std::hint::black_box(measure(std::hint::black_box(&rec))?);
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    let p95 = times[(times.len() * 95) / 100];
    println!(
        "ecgr1 measure (one core): median {median:.3} ms, mean {mean:.3} ms, p95 {p95:.3} ms per record over {} runs (target < 5 ms)",
        times.len()
    );
    match neurokit(&rec) {
        Ok((version, lead_ii, all)) => {
            let leads = rec.leads.len();
            println!(
                "neurokit2 {version} ecg_process (one core): {lead_ii:.1} ms for lead II alone, {all:.1} ms for the {leads} leads one by one"
            );
            println!(
                "ratio per record ({leads} leads on both sides): {:.0}x (target >= 50x)",
                all / median
            );
            println!(
                "ratio per lead ({:.3} ms per lead here vs {:.1} ms per lead there): {:.0}x; our whole {leads}-lead record vs neurokit2 on lead II alone: {:.0}x",
                median / leads as f64,
                all / leads as f64,
                all / median,
                lead_ii / median
            );
        }
        Err(e) => println!("neurokit2 comparison skipped: {e}"),
    }
    Ok(())
}
