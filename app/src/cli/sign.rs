//! `ecgr1 sign RUN --agree|--override LABEL --reason TEXT [--meaning reviewed|approved]`

use std::io::Write;

use anyhow::{Result, anyhow};
use clap::Args;

use super::store_args::StoreArgs;
use crate::store::{NewDecision, SignatureMeaning, Verdict};

#[derive(Debug, Args)]
pub struct SignArgs {
    /// The run id (printed by `ecgr1 analyze --db`).
    pub run: i64,
    /// Agree with the engine's answer.
    #[arg(
        long,
        conflicts_with = "override_label",
        required_unless_present = "override_label"
    )]
    pub agree: bool,
    /// Override the engine with your own answer.
    #[arg(long = "override", value_name = "LABEL")]
    pub override_label: Option<String>,
    /// Why (required; kept with the signature).
    #[arg(long)]
    pub reason: String,
    /// What the signature means.
    #[arg(long, default_value = "reviewed", value_parser = parse_meaning)]
    pub meaning: SignatureMeaning,
    #[command(flatten)]
    pub store: StoreArgs,
}

fn parse_meaning(s: &str) -> Result<SignatureMeaning, String> {
    s.parse()
}

pub fn run(args: &SignArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<()> {
    let (store, session, password) = args.store.open_and_login(err)?;
    let password = password.ok_or_else(|| {
        anyhow!(
            "signing needs your password: give it with --password-stdin, --password-file PATH or $ECGR1_PASSWORD"
        )
    })?;
    let verdict = match &args.override_label {
        Some(label) => Verdict::Override(label.clone()),
        None => Verdict::Agree,
    };
    let decision = store.sign(
        &session,
        &NewDecision {
            run_id: args.run,
            verdict,
            reason: &args.reason,
            meaning: args.meaning,
            password: &password,
        },
    )?;
    writeln!(
        out,
        "signed decision {} on run {} (case {}): {} \"{}\" — {} by {} at {}",
        decision.id,
        decision.run_id,
        decision.case_id,
        decision.kind,
        decision.final_answer,
        decision.meaning,
        decision.signer,
        decision.signed_at
    )?;
    Ok(())
}
