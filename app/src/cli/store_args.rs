//! Options shared by every command that opens the case store, and the acting user.
//!
//! Passwords never come from the command line (argv is visible to other users): they are read
//! from the first line of standard input (`--password-stdin`), from a file readable only by the
//! user (`--password-file`), or from the `ECGR1_PASSWORD` environment variable.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;

use crate::audit::AuditKey;
use crate::store::{DbLocation, DynStore, KeySource, Session, StoreConfig, open_store};

/// Where the store and its key are.
#[derive(Clone, Debug, Default, Args)]
pub struct DbArgs {
    /// The database: an SQLite file path (or sqlite:PATH), or a department's PostgreSQL
    /// database as postgres://USER@HOST/DB (default: $ECGR1_DB, else
    /// <data dir>/ecgr1/ecgr1.sqlite). `:memory:` opens a throwaway store.
    #[arg(long, value_name = "PATH|URL")]
    pub db: Option<String>,
    /// The audit key file (default: $ECGR1_KEY, else <config dir>/ecgr1/audit.key). Created
    /// (mode 0600) only together with a new database.
    #[arg(long, value_name = "PATH")]
    pub key: Option<PathBuf>,
}

/// How the acting user proves who they are.
#[derive(Clone, Debug, Default, Args)]
pub struct PasswordArgs {
    /// Read the acting user's password from the first line of standard input.
    #[arg(long)]
    pub password_stdin: bool,
    /// Read the acting user's password from the first line of this file.
    #[arg(long, value_name = "PATH", conflicts_with = "password_stdin")]
    pub password_file: Option<PathBuf>,
}

/// `--db`, `--key`, the acting `--user` and the password options.
#[derive(Clone, Debug, Default, Args)]
pub struct StoreArgs {
    #[command(flatten)]
    pub location: DbArgs,
    /// The acting user (default: the login name from $USER).
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    #[command(flatten)]
    pub password: PasswordArgs,
}

/// The login name of the person at the keyboard.
pub fn login_name() -> Result<String> {
    ["USER", "USERNAME", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.trim().is_empty()))
        .ok_or_else(|| anyhow!("cannot tell the login name ($USER is not set); pass --user NAME"))
}

fn first_line(reader: &mut dyn BufRead, source: &str) -> Result<String> {
    let mut line = String::new();
    reader
        .read_line(&mut line)
        .with_context(|| format!("reading the password from {source}"))?;
    let line = line.trim_end_matches(['\n', '\r']).to_string();
    if line.is_empty() {
        bail!("no password on {source}");
    }
    Ok(line)
}

impl PasswordArgs {
    /// The password, if one was supplied by any of the three ways.
    pub fn read(&self) -> Result<Option<String>> {
        if self.password_stdin {
            let stdin = std::io::stdin();
            return first_line(&mut stdin.lock(), "standard input").map(Some);
        }
        if let Some(path) = &self.password_file {
            let file = std::fs::File::open(path)
                .with_context(|| format!("password file {}", path.display()))?;
            return first_line(
                &mut std::io::BufReader::new(file),
                &path.display().to_string(),
            )
            .map(Some);
        }
        Ok(std::env::var("ECGR1_PASSWORD")
            .ok()
            .filter(|p| !p.is_empty()))
    }
}

impl DbArgs {
    pub fn db_location(&self) -> Result<DbLocation> {
        if let Some(db) = self.db.clone().or_else(|| std::env::var("ECGR1_DB").ok()) {
            return Ok(DbLocation::parse(&db)?);
        }
        StoreConfig::default_db_path()
            .map(DbLocation::File)
            .ok_or_else(|| anyhow!("no data directory on this system; pass --db PATH"))
    }

    pub fn key_source(&self, db: &DbLocation) -> Result<KeySource> {
        if let Some(key) = self
            .key
            .clone()
            .or_else(|| std::env::var_os("ECGR1_KEY").map(PathBuf::from))
        {
            return Ok(KeySource::File(key));
        }
        if *db == DbLocation::Memory {
            // Nothing outlives an in-memory store, so neither should its key.
            return Ok(KeySource::Given(AuditKey::random()?));
        }
        StoreConfig::default_key_path()
            .map(KeySource::File)
            .ok_or_else(|| anyhow!("no config directory on this system; pass --key PATH"))
    }

    /// Opens the store; notices (a new database, its first user, a new key) go to `err`.
    pub fn open(
        &self,
        first_user: &str,
        first_password: Option<String>,
        err: &mut dyn Write,
    ) -> Result<DynStore> {
        let db = self.db_location()?;
        let config = StoreConfig {
            key: self.key_source(&db)?,
            db: db.clone(),
            first_user: first_user.to_string(),
            first_password,
            clock: crate::store::clock::Clock::System,
        };
        let store = open_store(&config)
            .with_context(|| format!("opening the case store {}", db.describe()))?;
        for notice in store.notices() {
            writeln!(err, "note: {notice}")?;
        }
        Ok(store)
    }
}

impl StoreArgs {
    pub fn acting_user(&self) -> Result<String> {
        match &self.user {
            Some(u) => Ok(u.clone()),
            None => login_name(),
        }
    }

    /// Opens the store and logs the acting user in (verifying the password when one is given).
    pub fn open_and_login(
        &self,
        err: &mut dyn Write,
    ) -> Result<(DynStore, Session, Option<String>)> {
        let user = self.acting_user()?;
        let password = self.password.read()?;
        let store = self.location.open(&user, password.clone(), err)?;
        let session = store.login(&user, password.as_deref())?;
        Ok((store, session, password))
    }
}
