//! `mercure-setup completions SHELL`: the completion script, generated from the clap
//! definitions.

use crate::error::Error;
use crate::ship::{self, Shell};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// bash, zsh or fish.
    #[arg(value_name = "SHELL")]
    shell: Shell,
}

/// `root` is the whole command line (`Cli::command()`), which the output describes.
pub fn exec(args: &Args, root: clap::Command) -> Result<(), Error> {
    crate::stdout::print(&ship::completions(args.shell, root))
}
