//! `mercure-setup render [BUNDLE]`: an answers file (BUNDLE/answers.yaml unless
//! `--answers`, with `--set` overrides) validated, rendered and written into the
//! bundle folder, or compared with it (`--dry-run`).

use std::path::{Path, PathBuf};

use crate::answers::{Answers, Warning};
use crate::answers_file;
use crate::error::Error;
use crate::generate;
use crate::output;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The bundle folder to write; secrets kept here are reused on every render.
    #[arg(value_name = "BUNDLE", default_value = ".")]
    bundle: PathBuf,
    /// The answers file (YAML) [default: BUNDLE/answers.yaml, as the last render wrote it].
    #[arg(long, value_name = "FILE")]
    answers: Option<PathBuf>,
    /// The bundle folder to write, instead of BUNDLE.
    #[arg(long, value_name = "DIR", conflicts_with = "bundle")]
    out: Option<PathBuf>,
    /// Override a key by its dotted path, e.g. --set hub.port=3100 (lists: comma-separated).
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = super::candidates::answer_keys(), hide_possible_values = true)]
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
    let out = args.out.as_ref().unwrap_or(&args.bundle);
    let answers = match &args.answers {
        Some(file) => file.clone(),
        None => {
            let file = out.join(crate::bundle::paths::ANSWERS);
            if std::fs::symlink_metadata(&file).is_err() {
                return Err(Error::Usage(format!(
                    "no answers file at {}: give --answers FILE, or write one with \
                     `mercure-setup init --out {}` (or run `mercure-setup` for the wizard)",
                    file.display(),
                    file.display()
                )));
            }
            file
        }
    };
    render(args, &answers, out)
}

/// Reads and validates an answers file with `--set` overrides applied.
fn load_answers(path: &Path, sets: &[String]) -> Result<(Answers, Vec<Warning>), Error> {
    let text = crate::output::read_answers_file(path)?;
    answers_file::load(&text, &path.display().to_string(), sets).map_err(Error::InvalidAnswers)
}

/// What `auto` chose for nginx and the hub, and the warning a compatibility-mode hub needs.
fn line_notes(generated: &generate::Generated) {
    for note in [generated.nginx_note(), generated.hub_note()].into_iter().flatten() {
        crate::ui::note(&note);
    }
    if let Some(w) = generated.plan.hub.warning {
        crate::ui::warn(w);
    }
}

/// Renders `answers` into `out`; without `--answers` they were read from the bundle's
/// own answers.yaml, which this render then replaces with the resolved answers.
fn render(args: &Args, answers: &Path, out: &Path) -> Result<(), Error> {
    let (sets, dry_run, rotate, own_answers) = (&args.sets, args.dry_run, args.rotate_secrets, args.answers.is_none());
    let (answers, warnings) = load_answers(answers, sets)?;
    for w in &warnings {
        crate::ui::warn(&w.to_string());
    }
    if dry_run {
        // Reads only: no lock, so nothing is created in (or as) DIR.
        let generated = generate::generate(answers, out, rotate)?;
        line_notes(&generated);
        let changes = output::compare(out, &generated.bundle)?;
        let mut text = format!("dry run: nothing written to {}\n", out.display());
        text.push_str(&output::dry_run_report(&changes, &generated.bundle));
        return crate::stdout::print_report(&text);
    }
    let writing = generate::Writing::begin(out)?;
    if !writing.cleaned().is_empty() {
        crate::ui::note(&format!(
            "removed what an interrupted run left in {}: {}",
            out.display(),
            writing.cleaned().join(", ")
        ));
    }
    let generated = writing.generate(answers, rotate)?;
    line_notes(&generated);
    // The answers file read as input is replaced by its resolved form, even when `init`
    // or an editor wrote it: it is what was rendered, not an edit to keep.
    let mut force = args.force;
    if own_answers && !force {
        let edited: Vec<String> = output::compare(out, &generated.bundle)?
            .into_iter()
            .filter(|c| c.status == output::FileStatus::HandEdited)
            .map(|c| c.path)
            .collect();
        if edited == [crate::bundle::paths::ANSWERS] {
            crate::ui::note(&format!(
                "{} was read as the answers and is now written resolved (every key; comments are not kept)",
                out.join(crate::bundle::paths::ANSWERS).display()
            ));
            force = true;
        }
    }
    let written = writing.write(&generated.bundle, force)?;
    // Only now are the new secrets really there to speak of.
    for note in &generated.notes {
        crate::ui::note(note);
    }
    let mut text = output::write_summary(out, &written.changes, &written.stale);
    text.push_str(&sizing_text(&generated.plan.sizing_lines));
    crate::stdout::print_report(&text)
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
