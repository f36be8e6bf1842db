//! `mercure-setup render`: an answers file (with `--set` overrides) validated, rendered
//! and written into the bundle folder, or compared with it (`--dry-run`).

use std::path::{Path, PathBuf};

use crate::answers::{Answers, Warning};
use crate::answers_file;
use crate::error::Error;
use crate::generate;
use crate::output;

#[derive(Debug, clap::Args)]
pub struct Args {
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
}

pub fn exec(args: &Args) -> Result<(), Error> {
    render(&args.answers, &args.out, &args.sets, args.dry_run, args.force, args.rotate_secrets)
}

/// Reads and validates an answers file with `--set` overrides applied.
fn load_answers(path: &Path, sets: &[String]) -> Result<(Answers, Vec<Warning>), Error> {
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
        return crate::stdout::print(&text);
    }
    let writing = generate::Writing::begin(out)?;
    if !writing.cleaned().is_empty() {
        eprintln!("note: removed what an interrupted run left in {}: {}", out.display(), writing.cleaned().join(", "));
    }
    let generated = writing.generate(answers, rotate)?;
    if let Some(note) = generated.nginx_note() {
        eprintln!("note: {note}");
    }
    let written = writing.write(&generated.bundle, force)?;
    // Only now are the new secrets really there to speak of.
    for note in &generated.notes {
        eprintln!("note: {note}");
    }
    let mut text = output::write_summary(out, &written.changes, &written.stale);
    text.push_str(&sizing_text(&generated.plan.sizing_lines));
    crate::stdout::print(&text)
}

/// What the server needs for the expected subscribers, after the list of files.
fn sizing_text(lines: &[String]) -> String {
    lines.iter().fold(String::new(), |mut out, l| {
        out.push_str("sizing: ");
        out.push_str(l);
        out.push('\n');
        out
    })
}
