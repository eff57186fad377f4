//! `ecgr1 bench-audit [--events N]`: append N chained audit events, open the database, and
//! verify the chain, each against a baseline measured in the same run (plain INSERTs of the
//! same rows without the chain; reading the rows without HMACs; raw HMAC-SHA-256 over the
//! same encoded bytes). Target: verification at least 200,000 events/s.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, bail};
use clap::Args;

use crate::audit::{AuditEvent, AuditKey, Chain, GENESIS, encode_event};
use crate::store::clock::now_utc;
use crate::store::{CaseStore, DbLocation, KeySource, SqliteStore, StoreConfig};

/// The verification speed the issue asks for.
pub const VERIFY_TARGET_EVENTS_PER_S: f64 = 200_000.0;

#[derive(Debug, Args)]
pub struct BenchAuditArgs {
    /// How many events to append.
    #[arg(long, default_value_t = 100_000)]
    pub events: u64,
    /// Events per transaction while appending.
    #[arg(long, default_value_t = 1_000)]
    pub batch: u64,
    /// Folder for the scratch database (default: the system temp folder); removed afterwards.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

fn rate(n: u64, secs: f64) -> f64 {
    n as f64 / secs.max(1e-9)
}

pub fn run(args: &BenchAuditArgs, out: &mut dyn Write) -> Result<()> {
    if args.events == 0 || args.events > 10_000_000 {
        bail!("--events must be between 1 and 10,000,000");
    }
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(std::env::temp_dir)
        .join(format!("ecgr1-bench-audit-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = bench(args, &dir, out);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn bench(args: &BenchAuditArgs, dir: &std::path::Path, out: &mut dyn Write) -> Result<()> {
    let n = args.events;
    let key = AuditKey::random()?;
    let config = StoreConfig {
        db: DbLocation::File(dir.join("bench.sqlite")),
        key: KeySource::Given(key.clone()),
        first_user: "bench".into(),
        first_password: None,
        clock: crate::store::clock::Clock::System,
    };
    let store = SqliteStore::open(&config)?;
    let session = store.login("bench", None)?;

    let t = Instant::now();
    store.baseline_plain_inserts(n, args.batch)?;
    let plain_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    store.append_synthetic(&session, n, args.batch)?;
    let append_s = t.elapsed().as_secs_f64();
    drop(store);

    let t = Instant::now();
    let store = SqliteStore::open(&config)?;
    let open_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let (rows, bytes) = store.read_all_events()?;
    let read_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let verification = store.verify_audit()?;
    let verify_s = t.elapsed().as_secs_f64();
    if let Some(b) = &verification.first_break {
        bail!("the benchmark chain does not verify: {b}");
    }

    // Raw HMAC-SHA-256 over events shaped like the stored ones, all in memory.
    let sample: Vec<AuditEvent> = (0..n.min(100_000))
        .map(|i| AuditEvent {
            seq: i as i64 + 1,
            at: now_utc(),
            actor: "bench".into(),
            role: "admin,cardiologist".into(),
            action: "synthetic".into(),
            entity_type: "benchmark".into(),
            entity_id: Some(i.to_string()),
            before_json: None,
            after_json: Some(format!("{{\"n\":{i}}}")),
            reason: None,
        })
        .collect();
    let mut chain = Chain::new(&key);
    let mut buf = Vec::new();
    let encoded: Vec<Vec<u8>> = sample
        .iter()
        .map(|e| {
            buf.clear();
            encode_event(e, &mut buf);
            buf.clone()
        })
        .collect();
    let t = Instant::now();
    let mut prev = GENESIS;
    for bytes in &encoded {
        prev = chain.raw_mac(&prev, bytes);
    }
    let hmac_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut prev2 = GENESIS;
    for e in &sample {
        prev2 = chain.link(&prev2, e);
    }
    let link_s = t.elapsed().as_secs_f64();
    std::hint::black_box((prev, prev2));
    let hmac_n = sample.len() as u64;

    let append_rate = rate(n, append_s);
    let plain_rate = rate(n, plain_s);
    let verify_rate = rate(verification.events, verify_s);
    let read_rate = rate(rows, read_s);
    let hmac_rate = rate(hmac_n, hmac_s);
    writeln!(
        out,
        "audit chain benchmark: {n} events, {} per transaction, {:.0} bytes per encoded event",
        args.batch,
        bytes as f64 / rows.max(1) as f64
    )?;
    writeln!(
        out,
        "append (chained):       {append_rate:>12.0} events/s  ({append_s:.3} s)"
    )?;
    writeln!(
        out,
        "  baseline plain INSERT {plain_rate:>12.0} events/s  -> chained append runs at {:.2}x the plain rate",
        append_rate / plain_rate
    )?;
    writeln!(out, "open {n}-event db:      {:>9.1} ms", open_s * 1e3)?;
    writeln!(
        out,
        "verify (chain + head):  {verify_rate:>12.0} events/s  ({verify_s:.3} s)  target {VERIFY_TARGET_EVENTS_PER_S:.0}: {}",
        if verify_rate >= VERIFY_TARGET_EVENTS_PER_S {
            "met"
        } else {
            "NOT met"
        }
    )?;
    writeln!(
        out,
        "  baseline read rows    {read_rate:>12.0} events/s  -> verify runs at {:.2}x the read rate",
        verify_rate / read_rate
    )?;
    writeln!(
        out,
        "  baseline raw HMAC     {hmac_rate:>12.0} events/s  -> verify runs at {:.2}x raw HMAC-SHA-256 ({} events in memory; encode+HMAC {:.0} events/s)",
        verify_rate / hmac_rate,
        hmac_n,
        rate(hmac_n, link_s)
    )?;
    Ok(())
}
