//! The `ecgr1` binary: with no subcommand it opens the workstation window.

use std::process::ExitCode;

fn main() -> ExitCode {
    let code = ecgr1_app::cli::run(
        std::env::args_os(),
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    );
    ExitCode::from(code)
}
