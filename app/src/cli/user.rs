//! `ecgr1 user add NAME --role ROLE…` and `ecgr1 user passwd [NAME]`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};

use super::store_args::StoreArgs;
use crate::store::Role;

#[derive(Debug, Args)]
pub struct UserArgs {
    #[command(subcommand)]
    pub command: UserCommand,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user (admin only). A user may hold several roles: repeat --role.
    Add {
        name: String,
        /// cardiologist, auditor, trainer or admin.
        #[arg(long = "role", required = true, value_parser = parse_role)]
        roles: Vec<Role>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Set a password (your own, or anyone's as admin). The new password comes from
    /// --new-password-file or $ECGR1_NEW_PASSWORD; changing your own existing password also
    /// needs the current one (--password-stdin / --password-file / $ECGR1_PASSWORD).
    Passwd {
        /// Whose password (default: the acting user).
        name: Option<String>,
        /// Read the new password from the first line of this file.
        #[arg(long, value_name = "PATH")]
        new_password_file: Option<PathBuf>,
        #[command(flatten)]
        store: StoreArgs,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}

pub fn run(args: &UserArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<()> {
    match &args.command {
        UserCommand::Add { name, roles, store } => {
            let (store, session, _) = store.open_and_login(err)?;
            let id = store.add_user(&session, name, roles, None)?;
            let names: Vec<&str> = roles.iter().map(|r| r.name()).collect();
            writeln!(
                out,
                "added user '{name}' (id {id}) as {}",
                names.join(" and ")
            )?;
            if roles.contains(&Role::Cardiologist) {
                writeln!(
                    out,
                    "'{name}' must set a password (`ecgr1 user passwd --user {name}`) before signing"
                )?;
            }
            Ok(())
        }
        UserCommand::Passwd {
            name,
            new_password_file,
            store,
        } => {
            let new_password = match new_password_file {
                Some(path) => std::fs::read_to_string(path)
                    .with_context(|| format!("new password file {}", path.display()))?
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_string(),
                None => std::env::var("ECGR1_NEW_PASSWORD").unwrap_or_default(),
            };
            if new_password.is_empty() {
                bail!(
                    "no new password: give it in --new-password-file PATH or $ECGR1_NEW_PASSWORD"
                );
            }
            let (store, session, _) = store.open_and_login(err)?;
            let target = name.clone().unwrap_or_else(|| session.name.clone());
            store.set_password(&session, &target, &new_password)?;
            writeln!(out, "password set for '{target}'")?;
            Ok(())
        }
    }
}
