//! `mercure-setup check [BUNDLE]`: the bundle checked with the real programs, for cross-file
//! consistency and for the meaning of its directives; any failed check makes the exit
//! code 1 (a partial one too with `--strict`).

use std::path::PathBuf;

use crate::check::{CheckError, CheckOptions};
use crate::error::Error;

// Each flag is an independent switch of the command line, not a state machine in disguise.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The bundle folder written by `render`.
    #[arg(value_name = "BUNDLE", default_value = ".")]
    dir: PathBuf,
    /// Test the nginx site inside this machine's /etc/nginx/nginx.conf instead of a minimal wrapper.
    #[arg(long)]
    system: bool,
    /// Print the report as JSON (for scripts).
    #[arg(long)]
    json: bool,
    /// Fail (exit 1) when a check ran only on a stand-in (`partial`), e.g. Caddy for a missing hub.
    #[arg(long)]
    strict: bool,
    /// With --system: read the installed site, nginx.conf and nginx's systemd units below DIR
    /// instead of / (a staging root, as `apply --root` writes); `nginx -t` still uses this machine's.
    #[arg(long, value_name = "DIR", requires = "system")]
    root: Option<PathBuf>,
}

pub fn exec(args: &Args) -> Result<(), Error> {
    let options = CheckOptions { system: args.system, verbose: crate::ui::verbose(), root: args.root.clone() };
    let report = crate::check::run(&args.dir, &options)?;
    if args.json {
        let mut j = serde_json::to_string_pretty(&report).map_err(CheckError::Json)?;
        j.push('\n');
        crate::stdout::print(&j)?;
    } else {
        crate::stdout::print_report(&report.to_text())?;
    }
    Ok(report.verdict(args.strict)?)
}
