//! `mercure-setup man --out DIR`: the man pages, generated from the clap definitions.

use std::path::PathBuf;

use crate::error::Error;
use crate::ship;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The folder to write into; created if missing.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

/// `root` is the whole command line (`Cli::command()`), which the output describes.
pub fn exec(args: &Args, root: clap::Command) -> Result<(), Error> {
    ship::write_man_pages(&args.out, root).map(|_| ())
}
