//! `ecgr1 store init-postgres` (prepare a department database: roles, schema, grants) and
//! `ecgr1 store migrate --from sqlite:PATH --to postgres://…` (copy a workstation's history
//! into it, verifying both chains).

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};

use super::store_args::{PasswordArgs, login_name};
use crate::store::{
    CaseStore, DbLocation, ImportReport, ImportSource, InitPostgres, KeySource, PostgresStore,
    SqliteStore, Store, StoreConfig, init_postgres, sql::Backend,
};

#[derive(Debug, Args)]
pub struct StoreCmdArgs {
    #[command(subcommand)]
    pub command: StoreCommand,
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Prepare a department PostgreSQL database (run once, as a superuser): an owner role that
    /// owns the schema, an application role with SELECT/INSERT only (UPDATE only on case
    /// status, passwords and the signed audit head; never DELETE or TRUNCATE), the schema,
    /// and optionally login roles for the workstations.
    InitPostgres {
        /// A superuser's URL of the (existing) department database: postgres://postgres@HOST/DB.
        #[arg(long, value_name = "URL")]
        db: String,
        /// The role that owns the tables and runs migrations.
        #[arg(long, default_value = "ecgr1_owner", value_name = "ROLE")]
        owner_role: String,
        /// The role workstations act through.
        #[arg(long, default_value = "ecgr1_app", value_name = "ROLE")]
        app_role: String,
        /// Create this login role as a member of the application role (repeatable). Set its
        /// password with psql's \password, or use certificate or peer authentication.
        #[arg(long = "login", value_name = "ROLE")]
        logins: Vec<String>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Copy a workstation's SQLite history into another store (a department's PostgreSQL
    /// database), re-chained under the destination's key; verifies both chains.
    Migrate {
        /// The workstation's store: sqlite:PATH or a path.
        #[arg(long, value_name = "PATH")]
        from: String,
        /// The workstation's audit key.
        #[arg(long, value_name = "PATH")]
        from_key: PathBuf,
        /// The destination: postgres://USER@HOST/DB (or another SQLite path).
        #[arg(long, value_name = "URL")]
        to: String,
        /// The destination's audit key (default: $ECGR1_KEY, else <config dir>/ecgr1/audit.key).
        #[arg(long, value_name = "PATH")]
        to_key: Option<PathBuf>,
        /// The acting user in the destination (an admin; default: $USER).
        #[arg(long, value_name = "NAME")]
        user: Option<String>,
        #[command(flatten)]
        password: PasswordArgs,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: &StoreCmdArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<()> {
    match &args.command {
        StoreCommand::InitPostgres {
            db,
            owner_role,
            app_role,
            logins,
            json,
        } => {
            let DbLocation::Postgres(admin) = DbLocation::parse(db)? else {
                bail!("--db {db}: init-postgres needs a postgres://SUPERUSER@HOST/DB URL");
            };
            let report = init_postgres(&InitPostgres {
                admin,
                owner_role: owner_role.clone(),
                app_role: app_role.clone(),
                logins: logins.clone(),
            })?;
            if *json {
                writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
            } else {
                writeln!(
                    out,
                    "prepared database {} on {}: schema version {} owned by {}, workstations act through {}{}",
                    report.database,
                    report.server,
                    report.schema_version,
                    report.owner_role,
                    report.app_role,
                    if report.logins.is_empty() {
                        String::new()
                    } else {
                        format!(" (logins: {})", report.logins.join(", "))
                    }
                )?;
            }
            Ok(())
        }
        StoreCommand::Migrate {
            from,
            from_key,
            to,
            to_key,
            user,
            password,
            json,
        } => {
            let DbLocation::File(source) = DbLocation::parse(from)? else {
                bail!("--from {from}: the source must be an SQLite file (sqlite:PATH or a path)");
            };
            let destination = DbLocation::parse(to)?;
            let key = match to_key
                .clone()
                .or_else(|| std::env::var_os("ECGR1_KEY").map(PathBuf::from))
                .or_else(StoreConfig::default_key_path)
            {
                Some(path) => KeySource::File(path),
                None => bail!("no config directory on this system; pass --to-key PATH"),
            };
            let user = match user {
                Some(u) => u.clone(),
                None => login_name()?,
            };
            let password = password.read()?;
            let config = StoreConfig {
                db: destination.clone(),
                key,
                first_user: user.clone(),
                first_password: password.clone(),
                clock: crate::store::clock::Clock::System,
            };
            let source = ImportSource {
                path: source,
                key: from_key.clone(),
            };
            let report = match destination {
                DbLocation::Postgres(_) => copy(
                    &PostgresStore::open(&config)?,
                    &user,
                    password.as_deref(),
                    &source,
                    err,
                )?,
                DbLocation::File(_) | DbLocation::Memory => copy(
                    &SqliteStore::open(&config)?,
                    &user,
                    password.as_deref(),
                    &source,
                    err,
                )?,
            };
            if *json {
                writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
            } else {
                let rows: Vec<String> = report
                    .rows
                    .iter()
                    .map(|(t, n)| format!("{n} {t}"))
                    .collect();
                writeln!(
                    out,
                    "copied {} ({} events, source head event {} hash {}) into {}: {}",
                    report.source,
                    report.source_events,
                    report.source_head_seq,
                    report.source_head_hash,
                    report.destination,
                    rows.join(", ")
                )?;
                writeln!(
                    out,
                    "both chains verified: the copy is events {}..{} of {} (event {} records the source head)",
                    report.first_seq,
                    report.import_seq,
                    report.destination_events,
                    report.import_seq
                )?;
            }
            Ok(())
        }
    }
}

fn copy<B: Backend>(
    store: &Store<B>,
    user: &str,
    password: Option<&str>,
    source: &ImportSource,
    err: &mut dyn Write,
) -> Result<ImportReport> {
    for notice in store.notices() {
        writeln!(err, "note: {notice}")?;
    }
    let session = store.login(user, password)?;
    store.import_sqlite(&session, source).with_context(|| {
        format!(
            "copying {} into {}",
            source.path.display(),
            store.location()
        )
    })
}
