//! `ecgr1 bench-audit [--events N] [--db postgres://…]`: append N chained audit events, open
//! the database, and verify the chain, each against a baseline measured in the same run (plain
//! INSERTs of the same rows without the chain; reading the rows without HMACs; raw
//! HMAC-SHA-256 over the same encoded bytes). Target: verification at least 200,000 events/s.
//!
//! With `--db postgres://…` (a scratch database: the benchmark's events cannot be deleted) it
//! also measures appends/s with 1, 4 and 8 concurrent writers, one event per transaction, and
//! verify events/s, on PostgreSQL and on a scratch SQLite file side by side in the same run.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, bail};
use clap::Args;

use crate::audit::{AuditEvent, AuditKey, Chain, GENESIS, encode_event};
use crate::store::clock::now_utc;
use crate::store::sql::Backend;
use crate::store::{
    CaseStore, DbLocation, KeySource, PostgresStore, SqliteStore, Store, StoreConfig,
};

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
    /// Also compare concurrent writers on this scratch PostgreSQL database (it must hold no
    /// history yet) with SQLite: postgres://USER@HOST/DB.
    #[arg(long, value_name = "URL")]
    pub db: Option<String>,
    /// Events per configuration in the concurrent-writer comparison.
    #[arg(long, default_value_t = 2_000)]
    pub concurrent_events: u64,
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
    let result = bench(args, &dir, out).and_then(|()| match &args.db {
        Some(db) => concurrent(args, db, &dir, out),
        None => Ok(()),
    });
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

/// Appends/s with `writers` threads, each with its own store (its own connection), appending
/// one event per transaction; returns the rate and the time taken.
fn writers_rate<B: Backend>(
    open: &(dyn Fn() -> crate::store::Result<Store<B>> + Sync),
    writers: u64,
    total: u64,
) -> Result<f64> {
    let per_writer = (total / writers).max(1);
    let stores: Vec<Store<B>> = (0..writers).map(|_| open()).collect::<Result<_, _>>()?;
    let t = Instant::now();
    std::thread::scope(|scope| {
        let handles: Vec<_> = stores
            .iter()
            .map(|store| {
                scope.spawn(move || {
                    let session = store.login("bench", None)?;
                    store.append_synthetic(&session, per_writer, 1)
                })
            })
            .collect();
        for h in handles {
            h.join()
                .map_err(|_| anyhow::anyhow!("a benchmark writer panicked"))??;
        }
        Ok::<_, anyhow::Error>(())
    })?;
    // Each writer's login is an event too.
    Ok(rate(
        per_writer * writers + writers,
        t.elapsed().as_secs_f64(),
    ))
}

/// Verify events/s over the whole chain.
fn verify_rate<B: Backend>(store: &Store<B>) -> Result<f64> {
    let t = Instant::now();
    let v = store.verify_audit()?;
    if let Some(b) = &v.first_break {
        bail!("the benchmark chain does not verify: {b}");
    }
    Ok(rate(v.events, t.elapsed().as_secs_f64()))
}

fn concurrent(
    args: &BenchAuditArgs,
    db: &str,
    dir: &std::path::Path,
    out: &mut dyn Write,
) -> Result<()> {
    let DbLocation::Postgres(url) = DbLocation::parse(db)? else {
        bail!("--db {db}: the concurrent comparison needs a postgres:// URL");
    };
    let key = AuditKey::random()?;
    let config = |db: DbLocation| StoreConfig {
        db,
        key: KeySource::Given(key.clone()),
        first_user: "bench".into(),
        first_password: None,
        clock: crate::store::clock::Clock::System,
    };
    let pg_config = config(DbLocation::Postgres(url.clone()));
    let sqlite_config = config(DbLocation::File(dir.join("concurrent.sqlite")));
    let pg_open = || PostgresStore::open(&pg_config);
    let sqlite_open = || SqliteStore::open(&sqlite_config);
    let first = pg_open().map_err(|e| anyhow::anyhow!("{e}"))?;
    let existing = first.verify_audit()?.events;
    if existing > 1 {
        bail!(
            "{} already holds {existing} audit events; bench-audit writes synthetic events that can never be deleted, so point it at a scratch database",
            url.redacted()
        );
    }
    let n = args.concurrent_events;
    writeln!(
        out,
        "\nconcurrent writers ({n} events per configuration, one event per transaction), PostgreSQL {} beside SQLite (scratch file):",
        url.redacted()
    )?;
    writeln!(
        out,
        "writers  sqlite appends/s  postgres appends/s  postgres/sqlite"
    )?;
    for writers in [1u64, 4, 8] {
        let sqlite = writers_rate(&sqlite_open, writers, n)?;
        let pg = writers_rate(&pg_open, writers, n)?;
        writeln!(
            out,
            "{writers:>7}  {sqlite:>16.0}  {pg:>18.0}  {:>14.2}x",
            pg / sqlite
        )?;
    }
    let sqlite_verify = verify_rate(&sqlite_open()?)?;
    let pg_verify = verify_rate(&first)?;
    writeln!(
        out,
        "verify   {sqlite_verify:>16.0}  {pg_verify:>18.0}  {:>14.2}x   (events/s over each whole chain)",
        pg_verify / sqlite_verify
    )?;
    Ok(())
}
