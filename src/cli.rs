//! The command line's root: the clap definition of `mercure-setup` and its
//! subcommands, dispatch to each command's `exec` (`cmd`), and the single place that
//! turns errors into messages and exit codes.

use clap::{CommandFactory as _, Parser, Subcommand};

use crate::cmd;
use crate::error::{EXIT_OK, Error};

/// The path from nothing to live, shown under `--help`.
const EXAMPLES: &str = "\
Run with no arguments to start the wizard (on a terminal).

From nothing to live (every command takes the bundle folder first, default: .):
  mercure-setup                          # the wizard: questions, then the bundle
or, by hand:
  mkdir app.example.com && cd app.example.com
  mercure-setup init --out answers.yaml --set domain=app.example.com
  mercure-setup render                   # reads ./answers.yaml, writes the bundle
  mercure-setup check                    # the real programs and the lints
  sudo mercure-setup apply --dry-run     # what would change on this machine
  sudo mercure-setup apply --certbot you@example.com
  mercure-setup doctor                   # probes the live hub, names each cause
  mercure-setup loadtest --subscribers 2000

Exit status: 0 success; 1 a check, probe or step failed; 2 invalid answers or
usage; 3 apply refused before changing anything; 130 stopped (Ctrl-C).
More: mercure-setup explain, mercure-setup explain 502, man mercure-setup";

#[derive(Debug, Parser)]
#[command(
    name = "mercure-setup",
    version,
    about = "Set up a Mercure hub behind nginx for a Symfony app, correctly the first time",
    after_help = EXAMPLES
)]
pub struct Cli {
    #[command(flatten)]
    pub global: crate::ui::Global,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The commands in the order a newcomer uses them.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Answer the questions in a terminal wizard that explains each choice, then write the bundle.
    Wizard(cmd::wizard::Args),
    /// Write a commented answers file (every key, its default and why).
    #[command(after_help = "Examples:\n  mercure-setup init --out answers.yaml --set domain=app.example.com\n  \
                            mercure-setup init --topology end-to-end-tls > answers.yaml")]
    Init(cmd::init::Args),
    /// Validate the answers and write the deployment bundle (BUNDLE/answers.yaml unless --answers).
    #[command(
        after_help = "Examples:\n  mercure-setup render                      # in a bundle folder: its answers.yaml\n  \
                            mercure-setup render ./bundle --answers answers.yaml --set hub.port=3100\n  \
                            mercure-setup render --dry-run            # a diff, nothing written"
    )]
    Render(cmd::render::Args),
    /// Check a rendered bundle with the real programs (nginx, the hub, systemd-analyze, openssl), its consistency and meaning.
    #[command(after_help = "Examples:\n  mercure-setup check\n  mercure-setup check ./bundle --json\n  \
                            mercure-setup check -v --system              # with this machine's nginx.conf; diffs of hand edits")]
    Check(cmd::check::Args),
    /// Put a rendered bundle live on this machine: plan, preflight, backups, verify or roll back.
    Apply(cmd::apply::Args),
    /// Probe a running deployment and explain each failure (cause and fix).
    #[command(after_help = "Examples:\n  mercure-setup doctor\n  mercure-setup doctor ./bundle --idle 75s\n  \
                            mercure-setup doctor --resolve app.example.com:443:203.0.113.7   # before DNS points here")]
    Doctor(cmd::doctor::Args),
    /// Open many subscriptions through the public URL, publish, and report delivery and latency.
    #[command(
        after_help = "Examples:\n  mercure-setup loadtest --subscribers 2000 --updates 20 --report loadtest.html\n  \
                            mercure-setup loadtest --public-url https://app.example.com/.well-known/mercure --token-file publisher.jwt"
    )]
    Loadtest(cmd::loadtest::Args),

    /// Run a topology on loopback with the real nginx and hub, break it one directive at a time, and show what happens.
    #[command(
        after_help = "Examples:\n  mercure-setup lab same-host-http              # the screen: toggle faults, watch updates\n  \
                            mercure-setup lab end-to-end-tls --fault all   # a table: each fault, its symptom, doctor's row\n  \
                            mercure-setup lab --list-faults"
    )]
    Lab(cmd::lab::Args),

    /// Explain the two topologies and which to choose, or find troubleshooting rows by symptom.
    #[command(
        after_help = "Examples:\n  mercure-setup explain\n  mercure-setup explain troubleshooting\n  mercure-setup explain 502"
    )]
    Explain(cmd::explain::Args),

    /// Print shell completions for bash, zsh or fish.
    #[command(after_help = "e.g. mercure-setup completions bash > /etc/bash_completion.d/mercure-setup")]
    Completions(cmd::completions::Args),
    /// Write the man pages (mercure-setup.1 and one per subcommand) into DIR, for packagers.
    Man(cmd::man::Args),
    /// Print the answers file's JSON Schema, for editors that check and complete YAML.
    Schema,
}

/// The whole command line as clap sees it, for parsing, completions and man pages.
pub fn command() -> clap::Command {
    Cli::command()
}

/// Runs the command line and returns the process exit code.
pub fn main() -> i32 {
    let parsed = command().try_get_matches().and_then(|m| <Cli as clap::FromArgMatches>::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            // clap exits 0 for --help/--version and 2 for usage errors.
            let _ = e.print();
            return e.exit_code();
        }
    };
    crate::ui::init(cli.global.clone());
    match run(cli) {
        Ok(()) => EXIT_OK,
        // Stopped by the user: said plainly, as the shell would not call it an error.
        Err(e @ Error::Interrupted(_)) => {
            eprintln!("{e}");
            e.exit_code()
        }
        Err(e) => {
            eprintln!("{}: {e}", crate::ui::error_prefix());
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
        Some(Command::Completions(args)) => cmd::completions::exec(&args, command()),
        Some(Command::Man(args)) => cmd::man::exec(&args, command()),
        Some(Command::Schema) => cmd::schema::exec(),
        Some(Command::Apply(args)) => cmd::apply::exec(args),
        // No command: the wizard on a terminal, else the same no-TTY error pointing to `render`.
        None => cmd::wizard::exec(cmd::wizard::Args::default()),
    }
}
