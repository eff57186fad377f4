//! The `ecgr1` command line. Each subcommand lives in its own module with its arguments and
//! a `run` function; output goes to the writers passed in so tests can capture it.

mod info;
mod render;

use std::ffi::OsString;
use std::io::Write;

use clap::{Parser, Subcommand};

/// ECG-R1 workstation: open 12-lead ECGs, measure them, and read them with an engine.
#[derive(Debug, Parser)]
#[command(name = "ecgr1", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what a file holds: format, rate, leads, duration, SHA-256, annotations.
    Info(info::InfoArgs),
    /// Draw a signal file on ECG paper as a PNG (3x4/6x2/12x1, 25/50 mm/s, 5/10/20 mm/mV).
    Render(render::RenderArgs),
    /// Open the workstation window (the default when no subcommand is given).
    Gui(crate::gui::GuiArgs),
}

/// Runs the command line; returns the process exit code. Errors go to `err` as one line
/// starting with "error:".
pub fn run<I, T>(args: I, out: &mut dyn Write, err: &mut dyn Write) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let rendered = e.render().to_string();
            let target: &mut dyn Write = if e.use_stderr() { err } else { out };
            let _ = target.write_all(rendered.as_bytes());
            return code;
        }
    };
    let result = match cli.command {
        Some(Command::Info(args)) => info::run(&args, out),
        Some(Command::Render(args)) => render::run(&args, out),
        Some(Command::Gui(args)) => crate::gui::run(&args),
        None => crate::gui::run(&crate::gui::GuiArgs::default()),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(err, "error: {e:#}");
            1
        }
    }
}
