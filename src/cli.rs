//! The command line's root: the clap definition of `mercure-setup` and its
//! subcommands, dispatch to each command's `exec` (`cmd`), and the single place that
//! turns errors into messages and exit codes.

use clap::{CommandFactory as _, Parser, Subcommand};

use crate::cmd;
use crate::error::{EXIT_OK, Error};

#[derive(Debug, Parser)]
#[command(
    name = "mercure-setup",
    version,
    about = "Set up a Mercure hub behind nginx for a Symfony app, correctly the first time"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Probe a running deployment and explain each failure (cause and fix).
    Doctor(cmd::doctor::Args),
    /// Open many subscriptions through the public URL, publish, and report delivery and latency.
    Loadtest(cmd::loadtest::Args),
    /// Write a commented answers file (every key, its default and why).
    Init(cmd::init::Args),
    /// Validate an answers file and write the deployment bundle.
    Render(cmd::render::Args),
    /// Check a rendered bundle with the real programs (nginx, Caddy, systemd-analyze, openssl) and cross-file consistency.
    Check(cmd::check::Args),
    /// Answer the questions in a terminal wizard that explains each choice, then write the bundle.
    Wizard(cmd::wizard::Args),
    /// Put a rendered bundle live on this machine: plan, preflight, backups, verify or roll back.
    Apply(cmd::apply::Args),

    /// Run a topology on loopback with the real nginx and hub, break it one directive at a time, and show what happens.
    Lab(cmd::lab::Args),

    /// Explain the two topologies and which to choose, or find troubleshooting rows by symptom.
    Explain(cmd::explain::Args),

    /// Print shell completions for bash, zsh or fish.
    #[command(after_help = "e.g. mercure-setup completions bash > /etc/bash_completion.d/mercure-setup")]
    Completions(cmd::completions::Args),
    /// Write the man pages (mercure-setup.1 and one per subcommand) into DIR, for packagers.
    Man(cmd::man::Args),
    /// Print the answers file's JSON Schema, for editors that check and complete YAML.
    Schema,
}

/// Runs the command line and returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap exits 0 for --help/--version and 2 for usage errors.
            let _ = e.print();
            return e.exit_code();
        }
    };
    match run(cli) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Some(Command::Init(args)) => cmd::init::exec(args),
        Some(Command::Render(args)) => cmd::render::exec(&args),
        Some(Command::Check(args)) => cmd::check::exec(&args),
        Some(Command::Doctor(args)) => cmd::doctor::exec(args),
        Some(Command::Loadtest(args)) => cmd::loadtest::exec(args),
        Some(Command::Wizard(args)) => cmd::wizard::exec(args),
        Some(Command::Explain(args)) => cmd::explain::exec(&args),
        Some(Command::Lab(args)) => cmd::lab::exec(&args),
        Some(Command::Completions(args)) => cmd::completions::exec(&args, Cli::command()),
        Some(Command::Man(args)) => cmd::man::exec(&args, Cli::command()),
        Some(Command::Schema) => cmd::schema::exec(),
        Some(Command::Apply(args)) => cmd::apply::exec(args),
        // No command: the wizard on a terminal, else the same no-TTY error pointing to `render`.
        None => cmd::wizard::exec(cmd::wizard::Args::default()),
    }
}
