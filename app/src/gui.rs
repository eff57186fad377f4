//! The workstation window (eframe). Minimal shell until the GUI issue lands.

use clap::Args;

#[derive(Debug, Default, Args)]
pub struct GuiArgs {}

pub fn run(_args: &GuiArgs) -> anyhow::Result<()> {
    anyhow::bail!("the workstation window is not built into this version")
}
