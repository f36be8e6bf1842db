//! `mercure-setup apply`: its flags, turned into [`apply::Options`].

use std::path::PathBuf;

use crate::apply;
use crate::error::Error;
use crate::net::ReachArgs;

/// The flags `apply` takes.
// Flags are on or off.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Clone, Default, clap::Args)]
#[command(
    after_help = "Examples:\n  sudo mercure-setup apply --dry-run                 # in the bundle folder: the plan, nothing changed\n  \
    sudo mercure-setup apply --certbot you@example.com # install, obtain the certificate, verify or roll back\n  \
    sudo mercure-setup apply --rollback                # restore the newest backup\n  \
    mercure-setup apply ./bundle --root /tmp/stage --dry-run   # staged, as any user\n\n\
    Exit status: 0 applied (or nothing to do, or a dry run); 1 a step failed and everything \
    was rolled back, or another apply is running on the same root; 2 invalid answers or usage; 3 refused before \
    changing anything (a missing prerequisite, an unsafe destination, or a bundle that cannot be trusted)."
)]
pub struct Args {
    /// The bundle folder written by `render` (default: the current folder).
    #[arg(value_name = "BUNDLE", default_value = ".")]
    pub bundle: PathBuf,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do it without asking (needed when there is no terminal to ask on).
    #[arg(long)]
    pub yes: bool,
    /// The Mercure hub binary to install (default: the one already at `hub.binary`).
    #[arg(long, value_name = "FILE")]
    pub hub_binary: Option<PathBuf>,
    /// Obtain the public certificate with certbot (webroot) for this e-mail address.
    #[arg(long, value_name = "EMAIL")]
    pub certbot: Option<String>,
    /// Apply into this staging folder instead of / (no users, owners or services).
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Restore the backup TIMESTAMP (default: the newest) instead of applying; with
    /// --dry-run, show what it would restore.
    #[arg(long, value_name = "TIMESTAMP", num_args = 0..=1, default_missing_value = "", conflicts_with_all = ["hub_binary", "certbot", "accept_edits"])]
    pub rollback: Option<String>,
    /// Install bundle files that differ from what `render` recorded (shown first).
    #[arg(long)]
    pub accept_edits: bool,
    /// Show the contents of the files to be written (--dry-run shows them too).
    #[arg(long)]
    pub show_content: bool,
    #[command(flatten)]
    pub reach: ReachArgs,
}

pub fn exec(args: Args) -> Result<(), Error> {
    apply::run(&apply::Options {
        bundle: args.bundle,
        dry_run: args.dry_run,
        yes: args.yes,
        hub_binary: args.hub_binary,
        certbot: args.certbot,
        root: args.root,
        rollback: args.rollback,
        accept_edits: args.accept_edits,
        show_content: args.show_content,
        reach: args.reach,
    })
}
