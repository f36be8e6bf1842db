//! The wizard's side effects on files: what it starts from (an answers file, or the
//! bundle already in the output folder), the preview's secrets (read or made once, at
//! start), and performing each [`Effect`] with the same functions `render` uses
//! (`generate::generate`, `output::compare`, `output::write`, `output::write_single`).
//!
//! No terminal here, so tests drive whole flows through `update` and this.

use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use crate::answers::{Answers, Draft, FieldError, Warning};
use crate::answers_file;
use crate::bundle::paths;
use crate::deployment::Topology;
use crate::error::Error;
use crate::generate;
use crate::host;
use crate::output;
use crate::questions::RawValue;
use crate::secrets::{self, Secrets, StoredState};
use crate::values::{Domain, JwtAlgorithm};

use super::preview::{PLACEHOLDER_DOMAIN, PreviewEnv};
use super::state::{Effect, Init, Msg, ReviewData, WriteFailure};

/// What the wizard starts from. With `--answers FILE`, that file; else, when `out_dir`
/// holds a bundle, its `answers.yaml` (so re-running the wizard edits the bundle
/// instead of starting from the defaults); else the defaults. The bundle's answers
/// are also what the review compares with.
pub fn start(answers: Option<&Path>, out_dir: &Path, answers_default: &Path, color: bool) -> Result<Init, Error> {
    if out_dir.exists() && !out_dir.is_dir() {
        return Err(StartError::OutIsAFile { out: out_dir.to_path_buf() }.into());
    }
    let bundle_answers = out_dir.join(paths::ANSWERS);
    let deployed_draft = if bundle_answers.is_file() { Some(load(&bundle_answers)?) } else { None };
    let deployed = deployed_draft.as_ref().and_then(|d| Answers::from_draft(d).ok()).map(|(a, _)| a);
    let (draft, editing) = match (answers, deployed_draft) {
        (Some(file), Some(_)) => (load(file)?, Some(format!("editing {} → {}", file.display(), shown_dir(out_dir)))),
        (Some(file), None) => (load(file)?, Some(format!("editing {}", file.display()))),
        (None, Some(d)) => (d, Some(format!("editing {}", shown_dir(out_dir)))),
        (None, None) => (Draft::default(), None),
    };
    let answers_path = answers.map_or_else(|| answers_default.to_path_buf(), Path::to_path_buf);
    let env = preview_env(&draft, out_dir)?;
    Ok(Init {
        draft,
        out_dir: out_dir.to_path_buf(),
        answers_exists: answers_path.exists(),
        answers_path,
        color,
        env,
        editing,
        deployed,
    })
}

/// A relative folder as `./bundle`, so it reads as a path.
fn shown_dir(dir: &Path) -> String {
    if dir.is_relative() && !dir.starts_with(".") && !dir.starts_with("..") {
        format!("./{}", dir.display())
    } else {
        dir.display().to_string()
    }
}

fn load(path: &Path) -> Result<Draft, Error> {
    let text = crate::output::read_answers_file(path)?;
    answers_file::parse(&text, &path.display().to_string()).map_err(Error::InvalidAnswers)
}

/// The folder's `.state/` files (the lock left out), path and contents, in path order.
pub fn folder_state(out_dir: &Path) -> Result<Vec<(String, Vec<u8>)>, String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) -> std::io::Result<()> {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let path: PathBuf = entry?.path();
            if path.is_dir() {
                walk(root, &path, out)?;
            } else {
                let rel = path.strip_prefix(root).unwrap_or(&path).display().to_string();
                if rel != paths::state::LOCK {
                    out.push((rel, std::fs::read(&path)?));
                }
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(out_dir, &out_dir.join(paths::state::DIR), &mut out).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    out.sort();
    Ok(out)
}

/// Why the wizard did not start, and what to do instead.
pub const NO_TTY: &str = "the wizard needs a terminal (stdin and stdout must both be a TTY). Without one, \
write an answers file in the bundle folder with `mercure-setup init --out answers.yaml --set domain=DOMAIN`, \
then run `mercure-setup render` there";

/// Why the wizard cannot start: no terminal, a file where the bundle's folder should be, or the
/// preview cannot be prepared (not the user's answers: those are only a draft yet).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// stdin or stdout is not a terminal.
    #[error("{}", NO_TTY)]
    NoTerminal,
    #[error("--out {}: is a file, not a folder; name the bundle's folder (it is made if missing)", .out.display())]
    OutIsAFile { out: PathBuf },
    /// The folder's stored secrets cannot be read, or new ones cannot be made.
    #[error("{0}")]
    Secrets(#[from] secrets::SecretsError),
    /// The stand-in answers the preview secrets are made with do not validate.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    StandIn(Vec<FieldError>),
}

impl From<StartError> for Error {
    fn from(e: StartError) -> Self {
        match e {
            StartError::NoTerminal | StartError::OutIsAFile { .. } => Error::Usage(e.to_string()),
            StartError::Secrets(_) | StartError::StandIn(_) => Error::Failed(e.to_string()),
        }
    }
}

/// Prepares what the preview renders with: the secrets stored in `out_dir` (or new
/// ones) for each JWT algorithm, and the local nginx version. Done once, at start.
pub fn preview_env(draft: &Draft, out_dir: &Path) -> Result<PreviewEnv, StartError> {
    let stored = StoredState::read(out_dir)?;
    let now = OffsetDateTime::now_utc();
    let make = |alg: JwtAlgorithm| -> Result<Secrets, StartError> {
        let answers = stand_in(draft, alg).map_err(StartError::StandIn)?;
        Ok(secrets::prepare(&answers, stored.clone(), false, now)?.0)
    };
    let hs256 = make(JwtAlgorithm::HS256)?;
    let mut hs512 = make(JwtAlgorithm::HS512)?;
    let mut es256 = make(JwtAlgorithm::ES256)?;
    // One CA for all three, so switching algorithms does not change the certificates shown.
    hs512.pki.clone_from(&hs256.pki);
    es256.pki.clone_from(&hs256.pki);
    // `hub.version: auto` asks hub.binary once, here, for the binary the draft names.
    let binary = crate::answers_file::raw_to_text(&draft.value("hub.binary"));
    let hub = match host::installed_hub(Path::new(&binary)) {
        host::HubHere::Found { line, .. } => Some((binary, line)),
        _ => None,
    };
    Ok(PreviewEnv { hs256, hs512, es256, nginx: host::installed_nginx_version(), hub })
}

/// Answers good enough to make preview secrets with: a topology with a private CA (so
/// there is a PKI to show), the draft's domain and hub TLS name when they are valid.
fn stand_in(draft: &Draft, alg: JwtAlgorithm) -> Result<Answers, Vec<FieldError>> {
    let mut d = Draft::default();
    let set = |d: &mut Draft, key: &'static str, value: &str| d.set(key, RawValue::Scalar(value.into()), None);
    let with_pki = Topology::ALL.into_iter().find(|t| t.facts().private_ca).unwrap_or_default();
    set(&mut d, "topology", with_pki.as_str());
    set(&mut d, "jwt.algorithm", alg.as_str());
    let valid = |key: &str| draft.scalar(key).filter(|s| Domain::parse(s).is_ok());
    set(&mut d, "domain", valid("domain").unwrap_or(PLACEHOLDER_DOMAIN));
    if let Some(name) = valid("hub.tls_name") {
        set(&mut d, "hub.tls_name", name);
    }
    Answers::from_draft(&d).map(|(a, _)| a)
}

/// Performs one effect and returns its outcome as a message for `update`.
pub fn perform(effect: Effect) -> Msg {
    match effect {
        Effect::Review { answers, warnings, out_dir } => Msg::Reviewed(Box::new(review(*answers, warnings, &out_dir))),
        Effect::Write { bundle, answers, state_seen, out_dir, force } => {
            Msg::Written(write(&bundle, *answers, &state_seen, &out_dir, force))
        }
        Effect::SaveAnswers { path, text, overwrite } => {
            // `update` asked the user before an existing file is replaced.
            Msg::Saved(output::write_single(&path, &text, 0o644, overwrite).map(|()| path).map_err(|e| e.to_string()))
        }
    }
}

/// Writes the reviewed bundle, under the folder's lock as `render` takes it, only if
/// the folder is still as the review found it: its state (secrets, manifest) unchanged,
/// and generating again from the same answers gives the same bundle. Otherwise another
/// run (say `render --rotate-secrets`) wrote in between, and writing what was reviewed
/// would silently undo it.
fn write(
    bundle: &crate::bundle::Bundle,
    answers: Answers,
    state_seen: &[(String, Vec<u8>)],
    out_dir: &Path,
    force: bool,
) -> Result<Vec<output::FileChange>, WriteFailure> {
    let other = |e: &dyn std::fmt::Display| WriteFailure::Other(e.to_string());
    let writing = generate::Writing::begin(out_dir).map_err(|e| other(&e))?;
    let changed = |what: &str| {
        WriteFailure::Changed(format!(
            "{} changed since the review ({what}; another mercure-setup run wrote it?): nothing written. \
             Enter reviews again with what the folder holds now.",
            out_dir.display()
        ))
    };
    if folder_state(out_dir).map_err(|e| other(&e))? != state_seen {
        return Err(changed("its secrets or manifest"));
    }
    let again = writing.generate(answers, false).map_err(|e| other(&e))?;
    // With nothing made anew the generation is fully determined by the stored state, so
    // it must give the reviewed files (it may differ only in secrets made at random).
    if again.notes.is_empty() && again.bundle.files != bundle.files {
        return Err(changed("the bundle it gives now differs"));
    }
    writing.write(bundle, force).map(|w| w.changes).map_err(|e| other(&e))
}

/// Generates the bundle exactly as `render` would and compares it with the folder.
fn review(answers: Answers, warnings: Vec<Warning>, out_dir: &Path) -> Result<ReviewData, String> {
    // Reads the state under the lock when there is state (a write in progress is never
    // read half-done), but creates nothing: the folder is only made when the user writes.
    let lock = output::DirLock::acquire_existing(out_dir).map_err(|e| e.to_string())?;
    let generated = generate::generate(answers, out_dir, false).map_err(|e| e.to_string())?;
    let changes = output::compare(out_dir, &generated.bundle).map_err(|e| e.to_string())?;
    let stale = output::stale_files(out_dir, &generated.bundle).map_err(|e| e.to_string())?;
    let state_seen = folder_state(out_dir)?;
    drop(lock);
    Ok(ReviewData {
        bundle: generated.bundle,
        changes,
        warnings,
        notes: generated.notes,
        stale,
        existing: out_dir.exists(),
        state_seen,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{EXIT_FAILURE, EXIT_USAGE};

    #[test]
    fn the_start_error_decides_the_exit_code() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("bundle");
        std::fs::write(&file, "").unwrap();
        let e = start(None, &file, &tmp.path().join("a.yaml"), false).err().unwrap();
        assert_eq!(e.exit_code(), EXIT_USAGE);
        assert!(
            e.to_string()
                .ends_with("bundle: is a file, not a folder; name the bundle's folder (it is made if missing)")
        );
        let e = Error::from(StartError::NoTerminal);
        assert_eq!((e.exit_code(), e.to_string().as_str()), (EXIT_USAGE, NO_TTY));
        let e = Error::from(StartError::StandIn(Vec::new()));
        assert_eq!(e.exit_code(), EXIT_FAILURE);
    }
}
