//! `mercure-setup check DIR`: the bundle checked with the real programs and for
//! cross-file consistency; any failed check makes the exit code 1.

use std::path::{Path, PathBuf};

use crate::error::Error;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The bundle folder written by `render`.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// Test the nginx site inside this machine's /etc/nginx/nginx.conf instead of a minimal wrapper.
    #[arg(long)]
    system: bool,
    /// Print the report as JSON (for scripts).
    #[arg(long)]
    json: bool,
}

pub fn exec(args: &Args) -> Result<(), Error> {
    check(&args.dir, args.system, args.json)
}

/// `check`: prints the report; any failed check makes the exit code 1.
fn check(dir: &Path, system: bool, json: bool) -> Result<(), Error> {
    // Not a bundle at all is a usage problem (exit 2), unlike a failed check (exit 1).
    let report =
        crate::check::run(dir, crate::check::CheckOptions { system }).map_err(|e| Error::Usage(e.to_string()))?;
    let text = if json {
        let mut j = serde_json::to_string_pretty(&report).map_err(|e| Error::Failed(format!("encoding JSON: {e}")))?;
        j.push('\n');
        j
    } else {
        report.to_text()
    };
    crate::stdout::print(&text)?;
    match report.failed {
        0 => Ok(()),
        n => Err(Error::Failed(format!("{n} check{} failed", if n == 1 { "" } else { "s" }))),
    }
}
