//! Command-line interface: argument definitions (clap), one function per command,
//! and the single place that turns errors into messages and exit codes.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

use crate::answers::{Answers, Draft, Warning};
use crate::answers_file;
use crate::error::{EXIT_OK, Error};
use crate::generate;
use crate::output;
use crate::questions::RawValue;
use crate::values::Topology;

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
    Doctor(crate::doctor::DoctorArgs),
    /// Open many subscriptions through the public URL, publish, and report delivery and latency.
    Loadtest(crate::loadtest::LoadtestArgs),
    /// Write a commented answers file (every key, its default and why).
    Init {
        /// Topology to pre-select: same-host-http or end-to-end-tls.
        #[arg(long, value_parser = Topology::parse)]
        topology: Option<Topology>,
        /// Write to FILE instead of standard output.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Overwrite FILE if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Validate an answers file and write the deployment bundle.
    Render {
        /// The answers file (YAML).
        #[arg(long, value_name = "FILE")]
        answers: PathBuf,
        /// The bundle folder; secrets kept here are reused on every render.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Override a key by its dotted path, e.g. --set hub.port=3100 (lists: comma-separated).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Write nothing: list the files and show a diff against DIR.
        #[arg(long)]
        dry_run: bool,
        /// Overwrite files edited by hand since the last render.
        #[arg(long)]
        force: bool,
        /// Make new JWT keys, tokens and certificates instead of reusing them.
        #[arg(long)]
        rotate_secrets: bool,
    },
    /// Check a rendered bundle with the real programs (nginx, Caddy, systemd-analyze, openssl) and cross-file consistency.
    Check {
        /// The bundle folder written by `render`.
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        /// Test the nginx site inside this machine's /etc/nginx/nginx.conf instead of a minimal wrapper.
        #[arg(long)]
        system: bool,
        /// Print the report as JSON (for scripts).
        #[arg(long)]
        json: bool,
        /// Show each file edited since render as a diff.
        #[arg(short, long)]
        verbose: bool,
        /// Fail (exit 1) when a check ran only on a stand-in (`partial`), e.g. Caddy for a missing hub.
        #[arg(long)]
        strict: bool,
        /// With --system: read the installed site, nginx.conf and nginx's systemd units below DIR
        /// instead of / (a staging root, as `apply --root` writes); `nginx -t` still uses this machine's.
        #[arg(long, value_name = "DIR", requires = "system")]
        root: Option<PathBuf>,
    },
    /// Answer the questions in a terminal wizard that explains each choice, then write the bundle.
    Wizard {
        /// Edit this answers file (saving only the answers asks before replacing it).
        #[arg(long, value_name = "FILE")]
        answers: Option<PathBuf>,
        /// The bundle folder [default: mercure-bundle]; a bundle already there is edited:
        /// its answers.yaml is loaded, and the review warns about changes to the deployment.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Put a rendered bundle live on this machine: plan, preflight, backups, verify or roll back.
    Apply(crate::apply::ApplyArgs),

    /// Explain the two topologies and which to choose, or find troubleshooting rows by symptom.
    Explain {
        /// same-host-http, end-to-end-tls or troubleshooting, or a symptom (502, 504, 401, late, 60s, cors,
        /// alert 80); an overview without one.
        #[arg(value_name = "TOPIC|SYMPTOM")]
        topic: Vec<String>,
    },

    /// Print shell completions for bash, zsh or fish.
    #[command(after_help = "e.g. mercure-setup completions bash > /etc/bash_completion.d/mercure-setup")]
    Completions {
        /// bash, zsh or fish.
        #[arg(value_name = "SHELL")]
        shell: crate::ship::Shell,
    },
    /// Write the man pages (mercure-setup.1 and one per subcommand) into DIR, for packagers.
    Man {
        /// The folder to write into; created if missing.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
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
        Some(Command::Init { topology, output, force }) => init(topology, output.as_deref(), force),
        Some(Command::Render { answers, out, sets, dry_run, force, rotate_secrets }) => {
            render(&answers, &out, &sets, dry_run, force, rotate_secrets)
        }
        Some(Command::Check { dir, system, json, verbose, strict, root }) => {
            check(&dir, &crate::check::CheckOptions { system, verbose, root }, json, strict)
        }
        Some(Command::Doctor(args)) => crate::doctor::run(&args),
        Some(Command::Loadtest(args)) => crate::loadtest::run(&args),
        Some(Command::Wizard { answers, out }) => wizard(answers, out),
        Some(Command::Explain { topic }) => explain(&topic),
        Some(Command::Completions { shell }) => print_stdout(&crate::ship::completions(shell)),
        Some(Command::Man { out }) => crate::ship::write_man_pages(&out).map(|_| ()),
        Some(Command::Schema) => print_stdout(&crate::schema::schema_text()),
        Some(Command::Apply(args)) => crate::apply::run(&args),
        // No command: the wizard on a terminal, else the same no-TTY error pointing to `render`.
        None => wizard(None, None),
    }
}

fn init(topology: Option<Topology>, output: Option<&Path>, force: bool) -> Result<(), Error> {
    let mut draft = Draft::default();
    if let Some(t) = topology {
        draft.set("topology", RawValue::Scalar(t.as_str().into()), None);
    }
    // The modeline comes first: yaml-language-server reads it from the file's top.
    let header = format!(
        "{}\nmercure-setup {} answers file. Fill in `domain`, uncomment what you want to change, then:\n  \
         mercure-setup render --answers FILE --out DIR\n\
         (Editors check this file against the schema above, which the Debian package installs;\n\
         elsewhere: mercure-setup schema > answers.schema.json, and point the first line at it.)",
        crate::schema::modeline(),
        env!("CARGO_PKG_VERSION")
    );
    let text = answers_file::write_commented(&draft, &header);
    match output {
        Some(path) => Ok(output::write_single(path, &text, 0o644, force)?),
        None => print_stdout(&text),
    }
}

/// Reads and validates an answers file with `--set` overrides applied.
pub fn load_answers(path: &Path, sets: &[String]) -> Result<(Answers, Vec<Warning>), Error> {
    // A regular file of at most 1 MiB: never a FIFO, a device or a runaway file.
    let text = output::read_user_file(path, answers_file::MAX_FILE_BYTES)
        .map_err(|e| Error::Usage(format!("cannot read answers file {}: {e}", path.display())))?;
    let shown = path.display().to_string();
    let answers_file::Parsed { mut draft, mut errors, read_through } = answers_file::parse_all(&text, &shown);
    if let Err(e) = answers_file::apply_sets(&mut draft, sets) {
        errors.extend(e);
    }
    // Every problem at once: the values that were read are validated too, except
    // keys already reported (their default would only add a second message).
    match Answers::from_draft(&draft) {
        Ok(ok) if errors.is_empty() => Ok(ok),
        Ok(_) => Err(Error::InvalidAnswers(errors)),
        Err(more) => {
            if read_through {
                let reported: Vec<String> = errors.iter().map(|e| e.key.clone()).collect();
                errors.extend(more.into_iter().filter(|e| !reported.contains(&e.key)));
            }
            Err(Error::InvalidAnswers(errors))
        }
    }
}

fn render(answers: &Path, out: &Path, sets: &[String], dry_run: bool, force: bool, rotate: bool) -> Result<(), Error> {
    let (answers, warnings) = load_answers(answers, sets)?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    if dry_run {
        // Reads only: no lock, so nothing is created in (or as) DIR.
        let generated = generate::generate(answers, out, rotate)?;
        if let Some(note) = generated.nginx_note() {
            eprintln!("note: {note}");
        }
        let changes = output::compare(out, &generated.bundle)?;
        let mut text = format!("dry run: nothing written to {}\n", out.display());
        text.push_str(&output::dry_run_report(&changes, &generated.bundle));
        return print_stdout(&text);
    }
    // Held from before the stored secrets are read until the manifest is renamed, so a
    // concurrent render or wizard into DIR waits its turn instead of mixing files.
    let lock = output::DirLock::acquire(out)?;
    if !lock.cleaned().is_empty() {
        eprintln!("note: removed what an interrupted run left in {}: {}", out.display(), lock.cleaned().join(", "));
    }
    let generated = generate::generate(answers, out, rotate)?;
    if let Some(note) = generated.nginx_note() {
        eprintln!("note: {note}");
    }
    // Stale files are listed from the manifest as it was before this write.
    let stale = output::stale_files(out, &generated.bundle)?;
    let changes = output::write(&lock, &generated.bundle, force)?;
    drop(lock);
    // Only now are the new secrets really there to speak of.
    for note in &generated.notes {
        eprintln!("note: {note}");
    }
    let text = output::write_summary(out, &changes, &stale);
    print_stdout(&text)
}

/// `check`: prints the report; any failed check makes the exit code 1.
fn check(dir: &Path, options: &crate::check::CheckOptions, json: bool, strict: bool) -> Result<(), Error> {
    // Not a bundle at all is a usage problem (exit 2), unlike a failed check (exit 1).
    let report = crate::check::run(dir, options).map_err(|e| Error::Usage(e.to_string()))?;
    let text = if json {
        let mut j = serde_json::to_string_pretty(&report).map_err(|e| Error::Failed(format!("encoding JSON: {e}")))?;
        j.push('\n');
        j
    } else {
        report.to_text()
    };
    print_stdout(&text)?;
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    match (report.failed, report.partial) {
        (0, 0) => Ok(()),
        (0, n) if strict => Err(Error::Failed(format!("{n} check{} only partial (--strict)", plural(n)))),
        (0, _) => Ok(()),
        (n, _) => Err(Error::Failed(format!("{n} check{} failed", plural(n)))),
    }
}

/// `wizard` (and no command): runs the terminal wizard, then prints what it wrote.
fn wizard(answers: Option<PathBuf>, out: Option<PathBuf>) -> Result<(), Error> {
    match crate::wizard::run(crate::wizard::Options { answers, out })? {
        Some(text) => print_stdout(&text),
        None => Ok(()),
    }
}

/// `explain`: the teaching text, with bold headings only on a terminal without `NO_COLOR`.
fn explain(words: &[String]) -> Result<(), Error> {
    use std::io::IsTerminal as _;
    let styled = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    print_stdout(&crate::teaching::explain_words(words, styled).map_err(Error::Usage)?)
}

/// Prints to stdout; a closed pipe (e.g. `| head`) is not an error.
fn print_stdout(text: &str) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Error::Failed(format!("writing to stdout: {e}"))),
        _ => Ok(()),
    }
}

/// How `doctor`, `loadtest` and `apply` reach the public side before DNS and a public
/// certificate are in place: curl-style overrides and an extra trusted CA.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ReachArgs {
    /// Connect to ADDR for HOST:PORT, like curl (repeatable), to test before DNS points here.
    #[arg(long = "resolve", value_name = "HOST:PORT:ADDR", value_parser = crate::net::ResolveEntry::parse)]
    pub resolve: Vec<crate::net::ResolveEntry>,
    /// Trust this CA for the public side too (a private or staging certificate). Verification stays on.
    #[arg(long, value_name = "FILE")]
    pub public_ca: Option<PathBuf>,
}

impl ReachArgs {
    /// The resolver with every `--resolve` entry.
    pub fn resolver(&self) -> crate::net::Resolver {
        crate::net::Resolver { entries: self.resolve.clone() }
    }

    /// The `--public-ca` file's PEM text, if one was given.
    pub fn public_ca_pem(&self) -> Result<Option<String>, Error> {
        self.public_ca
            .as_ref()
            .map(|p| {
                output::read_user_file(p, output::READ_CAP)
                    .map_err(|e| Error::Usage(format!("cannot read {}: {e}", p.display())))
            })
            .transpose()
    }
}

/// A duration flag's value (`5s`, `2m`, `1500ms`, parsed by clap with
/// `values::Duration::parse`) as a `std::time::Duration`.
pub fn std_duration(d: &crate::values::Duration) -> std::time::Duration {
    std::time::Duration::from_millis(d.millis)
}

/// A JWT read from a `--token-file`, surrounding whitespace removed.
pub fn read_token(path: &Path) -> Result<String, Error> {
    output::read_user_file(path, 64 * 1024)
        .map(|t| t.trim().to_string())
        .map_err(|e| Error::Usage(format!("cannot read {}: {e}", path.display())))
}
