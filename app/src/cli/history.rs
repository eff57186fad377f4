//! `ecgr1 history [--case ID] [--user NAME] [--from DATE] [--to DATE] [--json]`
//!
//! `--user` here filters by who acted; the acting user of this command is `--as NAME`
//! (default: the login name).

use std::io::Write;

use anyhow::Result;
use clap::Args;

use super::store_args::{DbArgs, PasswordArgs, StoreArgs};
use crate::audit::AuditEvent;
use crate::store::HistoryFilter;
use crate::store::clock::{Bound, parse_bound};

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Only events about this case (its input, notes, runs and decisions included).
    #[arg(long = "case", value_name = "ID")]
    pub case_id: Option<i64>,
    /// Only events by this user.
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// From this UTC date or time (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ), inclusive.
    #[arg(long, value_name = "DATE")]
    pub from: Option<String>,
    /// Up to this UTC date or time, inclusive.
    #[arg(long, value_name = "DATE")]
    pub to: Option<String>,
    /// Print JSON (an array of events).
    #[arg(long)]
    pub json: bool,
    /// The acting user (default: the login name).
    #[arg(long = "as", value_name = "NAME")]
    pub acting_user: Option<String>,
    #[command(flatten)]
    pub location: DbArgs,
    #[command(flatten)]
    pub password: PasswordArgs,
}

/// Builds the filter from the shared date options.
pub fn filter(
    case_id: Option<i64>,
    user: Option<String>,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<HistoryFilter> {
    Ok(HistoryFilter {
        case_id,
        user,
        from: from
            .map(|f| parse_bound(f, Bound::Start).map_err(|e| anyhow::anyhow!("--from: {e}")))
            .transpose()?,
        to: to
            .map(|t| parse_bound(t, Bound::End).map_err(|e| anyhow::anyhow!("--to: {e}")))
            .transpose()?,
    })
}

pub fn run(args: &HistoryArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<()> {
    let filter = filter(
        args.case_id,
        args.user.clone(),
        args.from.as_deref(),
        args.to.as_deref(),
    )?;
    let store_args = StoreArgs {
        location: args.location.clone(),
        user: args.acting_user.clone(),
        password: args.password.clone(),
    };
    let (store, session, _) = store_args.open_and_login(err)?;
    let events = store.history(&session, &filter)?;
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&events)?)?;
    } else {
        for event in &events {
            write_line(event, out)?;
        }
        writeln!(out, "{} events", events.len())?;
    }
    Ok(())
}

fn write_line(e: &AuditEvent, out: &mut dyn Write) -> Result<()> {
    write!(
        out,
        "#{} {} {} [{}] {} {}",
        e.seq, e.at, e.actor, e.role, e.action, e.entity_type
    )?;
    if let Some(id) = &e.entity_id {
        write!(out, " {id}")?;
    }
    if let Some(reason) = &e.reason {
        write!(out, " — {reason}")?;
    }
    if let Some(before) = &e.before_json {
        write!(out, " before={before}")?;
    }
    if let Some(after) = &e.after_json {
        write!(out, " after={after}")?;
    }
    writeln!(out)?;
    Ok(())
}
