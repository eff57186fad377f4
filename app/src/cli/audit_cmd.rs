//! `ecgr1 audit verify` and `ecgr1 audit export --format csv|json [--from] [--to]
//! [--deidentified] [-o FILE]`.
//!
//! `verify` writes nothing to the store (no login event), so it also runs on a history whose
//! tail no longer matches its head, where the store refuses new writes.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;

use super::store_args::{DbArgs, StoreArgs, login_name};
use crate::audit::AuditEvent;
use crate::store::{CaseStore, DbLocation};

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Csv,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Re-compute the chain; name the first broken or missing event. Exit status 1 if broken.
    Verify {
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        location: DbArgs,
    },
    /// Export audit events (the export itself is recorded).
    Export {
        #[arg(long, value_enum)]
        format: ExportFormat,
        /// From this UTC date or time (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ), inclusive.
        #[arg(long, value_name = "DATE")]
        from: Option<String>,
        /// Up to this UTC date or time, inclusive.
        #[arg(long, value_name = "DATE")]
        to: Option<String>,
        /// Only events about this case.
        #[arg(long = "case", value_name = "ID")]
        case_id: Option<i64>,
        /// Leave out identifying patient fields.
        #[arg(long)]
        deidentified: bool,
        /// Write to this file instead of standard output.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
        #[command(flatten)]
        store: StoreArgs,
    },
}

pub fn run(args: &AuditArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<()> {
    match &args.command {
        AuditCommand::Verify { json, location } => {
            if let DbLocation::File(path) = location.db_location()?
                && !path.exists()
            {
                bail!("no database at {}: nothing to verify", path.display());
            }
            let user = login_name().unwrap_or_else(|_| "ecgr1".into());
            let store = location.open(&user, None, err)?;
            verify(store.as_ref(), *json, out)
        }
        AuditCommand::Export {
            format,
            from,
            to,
            case_id,
            deidentified,
            output,
            store,
        } => {
            let filter = super::history::filter(*case_id, None, from.as_deref(), to.as_deref())?;
            let (store, session, _) = store.open_and_login(err)?;
            let events = store.export_audit(&session, &filter, *deidentified)?;
            let mut text = Vec::new();
            match format {
                ExportFormat::Json => {
                    serde_json::to_writer_pretty(&mut text, &events)?;
                    text.push(b'\n');
                }
                ExportFormat::Csv => write_csv(&events, &mut text),
            }
            match output {
                Some(path) => {
                    std::fs::write(path, &text)
                        .with_context(|| format!("writing {}", path.display()))?;
                    writeln!(
                        err,
                        "exported {} events to {}",
                        events.len(),
                        path.display()
                    )?;
                }
                None => out.write_all(&text)?,
            }
            Ok(())
        }
    }
}

fn verify(store: &dyn CaseStore, as_json: bool, out: &mut dyn Write) -> Result<()> {
    let v = store.verify_audit()?;
    if as_json {
        let value = json!({
            "intact": v.is_intact(),
            "events_checked": v.events,
            "last_seq": v.last_seq,
            "first_break": v.first_break.as_ref().map(|b| json!({
                "seq": b.seq(),
                "detail": b,
                "message": b.to_string(),
            })),
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
    }
    match &v.first_break {
        None => {
            if !as_json {
                writeln!(
                    out,
                    "audit history intact: {} events, chain and signed head verified",
                    v.events
                )?;
            }
            Ok(())
        }
        Some(b) => {
            if !as_json {
                writeln!(out, "audit history BROKEN at event {}: {b}", b.seq())?;
            }
            bail!("audit verification failed at event {}: {b}", b.seq())
        }
    }
}

fn csv_field(text: &str, out: &mut Vec<u8>) {
    if text.contains([',', '"', '\n', '\r']) {
        out.push(b'"');
        out.extend_from_slice(text.replace('"', "\"\"").as_bytes());
        out.push(b'"');
    } else {
        out.extend_from_slice(text.as_bytes());
    }
}

/// CSV with a header row; NULL is an empty field.
pub fn write_csv(events: &[AuditEvent], out: &mut Vec<u8>) {
    out.extend_from_slice(
        b"seq,at,actor,role,action,entity_type,entity_id,before_json,after_json,reason\n",
    );
    for e in events {
        let fields: [&str; 10] = [
            &e.seq.to_string(),
            &e.at,
            &e.actor,
            &e.role,
            &e.action,
            &e.entity_type,
            e.entity_id.as_deref().unwrap_or(""),
            e.before_json.as_deref().unwrap_or(""),
            e.after_json.as_deref().unwrap_or(""),
            e.reason.as_deref().unwrap_or(""),
        ];
        for (i, f) in fields.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            csv_field(f, out);
        }
        out.push(b'\n');
    }
}
