//! Loads one file many times, for profiling the readers (callgrind, perf) and timing them:
//! `cargo run --release -p ecgr1-engine --example load_profile -- FILE [REPEATS]`
//! `valgrind --tool=callgrind target/release/examples/load_profile FILE 20`
//!
//! `load_profile --digest DIR...` instead prints, for every file under the folders, a SHA-256
//! of the loaded result's debug form (every sample's exact value, notes, errors), so a reader
//! optimisation can be checked to change nothing: run it before and after and diff.

use std::path::{Path, PathBuf};
use std::time::Instant;

use ecgr1_engine::formats::{LoadOptions, load_path, sha256_hex};

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            files_under(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

fn digest(dirs: impl Iterator<Item = String>) -> Result<(), Box<dyn std::error::Error>> {
    let mut files = Vec::new();
    for dir in dirs {
        files_under(Path::new(&dir), &mut files)?;
    }
    files.sort();
    let options = LoadOptions::default();
    for file in files {
        let text = format!("{:?}", load_path(&file, &options));
        println!("{} {}", sha256_hex(text.as_bytes()), file.display());
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let first = args
        .next()
        .ok_or("usage: load_profile FILE [REPEATS] | --digest DIR...")?;
    if first == "--digest" {
        return digest(args);
    }
    let path = PathBuf::from(first);
    let repeats: usize = args.next().map_or(Ok(100), |r| r.parse())?;
    let options = LoadOptions::default();
    let mut times = Vec::with_capacity(repeats);
    for _ in 0..repeats.max(1) {
        let start = Instant::now();
        std::hint::black_box(load_path(&path, &options)?);
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{}: median {:.3} ms, min {:.3} ms over {} reads",
        path.display(),
        times[times.len() / 2],
        times[0],
        times.len()
    );
    Ok(())
}
