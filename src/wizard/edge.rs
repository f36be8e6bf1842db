//! The wizard's side effects on files: the preview's secrets (read or made once, at
//! start), and performing each [`Effect`] with the same functions `render` uses
//! (`generate::generate`, `output::compare`, `output::write`, `output::write_single`).
//!
//! No terminal here, so tests drive whole flows through `update` and this.

use std::path::Path;

use time::OffsetDateTime;

use crate::answers::{Answers, Draft, RawValue, Warning};
use crate::generate;
use crate::host;
use crate::output;
use crate::secrets::{self, Secrets, StoredState};
use crate::values::{Domain, JwtAlgorithm};

use super::preview::{PLACEHOLDER_DOMAIN, PreviewEnv};
use super::state::{Effect, Msg, ReviewData};

/// Prepares what the preview renders with: the secrets stored in `out_dir` (or new
/// ones) for each JWT algorithm, and the local nginx version. Done once, at start.
pub fn preview_env(draft: &Draft, out_dir: &Path) -> Result<PreviewEnv, String> {
    let stored = StoredState::read(out_dir).map_err(|e| e.to_string())?;
    let now = OffsetDateTime::now_utc();
    let make = |alg: JwtAlgorithm| -> Result<Secrets, String> {
        let answers = stand_in(draft, alg)?;
        secrets::prepare(&answers, stored.clone(), false, now).map(|(s, _)| s).map_err(|e| e.to_string())
    };
    let hs256 = make(JwtAlgorithm::HS256)?;
    let mut hs512 = make(JwtAlgorithm::HS512)?;
    let mut es256 = make(JwtAlgorithm::ES256)?;
    // One CA for all three, so switching algorithms does not change the certificates shown.
    hs512.pki.clone_from(&hs256.pki);
    es256.pki.clone_from(&hs256.pki);
    Ok(PreviewEnv { hs256, hs512, es256, nginx: host::installed_nginx_version() })
}

/// Answers good enough to make preview secrets with: end-to-end TLS (so there is a
/// PKI to show), the draft's domain and hub TLS name when they are valid.
fn stand_in(draft: &Draft, alg: JwtAlgorithm) -> Result<Answers, String> {
    let mut d = Draft::default();
    let set = |d: &mut Draft, key: &'static str, value: &str| d.set(key, RawValue::Scalar(value.into()), None);
    set(&mut d, "topology", "end-to-end-tls");
    set(&mut d, "jwt.algorithm", alg.as_str());
    let valid = |key: &str| draft.scalar(key).filter(|s| Domain::parse(s).is_ok());
    set(&mut d, "domain", valid("domain").unwrap_or(PLACEHOLDER_DOMAIN));
    if let Some(name) = valid("hub.tls_name") {
        set(&mut d, "hub.tls_name", name);
    }
    Answers::from_draft(&d)
        .map(|(a, _)| a)
        .map_err(|e| e.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))
}

/// Performs one effect and returns its outcome as a message for `update`.
pub fn perform(effect: Effect) -> Msg {
    match effect {
        Effect::Review { answers, warnings, out_dir } => Msg::Reviewed(Box::new(review(*answers, warnings, &out_dir))),
        Effect::Write { bundle, out_dir, force } => Msg::Written(
            // The folder's lock, as `render` takes it: another run into the same folder
            // waits (or this one does), so the files written are all from one bundle.
            output::DirLock::acquire(&out_dir)
                .and_then(|lock| output::write(&lock, &bundle, force))
                .map_err(|e| e.to_string()),
        ),
        Effect::SaveAnswers { path, text } => {
            // The answers file is the user's own: saving replaces it, as an editor would.
            Msg::Saved(output::write_single(&path, &text, 0o644, true).map(|()| path).map_err(|e| e.to_string()))
        }
    }
}

/// Generates the bundle exactly as `render` would and compares it with the folder.
fn review(answers: Answers, warnings: Vec<Warning>, out_dir: &Path) -> Result<ReviewData, String> {
    // Reads the state under the lock when there is state (a write in progress is never
    // read half-done), but creates nothing: the folder is only made when the user writes.
    let lock = output::DirLock::acquire_existing(out_dir).map_err(|e| e.to_string())?;
    let generated = generate::generate(answers, out_dir, false).map_err(|e| e.to_string())?;
    let changes = output::compare(out_dir, &generated.bundle).map_err(|e| e.to_string())?;
    let stale = output::stale_files(out_dir, &generated.bundle).map_err(|e| e.to_string())?;
    drop(lock);
    Ok(ReviewData {
        bundle: generated.bundle,
        changes,
        warnings,
        notes: generated.notes,
        stale,
        existing: out_dir.exists(),
    })
}
