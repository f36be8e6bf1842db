//! One render for one output folder, end to end: answers -> plan (with the nginx
//! version found here) -> secrets (reused from the folder's state or made) -> bundle.
//!
//! `render` and the wizard both call this, so they produce the same files, and both
//! write through [`Writing`]: the folder locked, the bundle generated from its state,
//! then written, in that order.

use std::path::Path;

use time::OffsetDateTime;

use crate::answers::Answers;
use crate::bundle::Bundle;
use crate::host::{self, HubHere, NginxHere};
use crate::output::{self, DirLock, FileChange, OutputError};
use crate::plan::Plan;
use crate::render::{self, RenderError};
use crate::secrets::{self, SecretsError, StoredState};
use crate::values::{HubVersionChoice, NginxVersionChoice};

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error(transparent)]
    Render(#[from] RenderError),
}

/// A rendered bundle and what was made anew on the way.
pub struct Generated {
    pub plan: Plan,
    pub bundle: Bundle,
    /// Secrets or certificates made in this run (never their values).
    pub notes: Vec<String>,
    /// What `nginx.version: auto` found here; `None` when the answers name a version.
    pub nginx_here: Option<NginxHere>,
    /// What `hub.version: auto` found here; `None` when the answers name a line.
    pub hub_here: Option<HubHere>,
}

impl Generated {
    /// Which nginx version `auto` chose and why, for a `note:` line (`None` when the
    /// answers name a version).
    pub fn nginx_note(&self) -> Option<String> {
        self.nginx_here.as_ref().map(NginxHere::auto_note)
    }

    /// Which hub line `auto` chose and why, for a `note:` line.
    pub fn hub_note(&self) -> Option<String> {
        self.hub_here.as_ref().map(HubHere::auto_note)
    }
}

/// Resolves `hub.version: auto` by asking `hub.binary version` (the edge; the renderer
/// only reads the line). The resolved line is what the bundle's answers.yaml records, so
/// `check`, `doctor` and `apply` read the line the files were written for.
pub fn resolve_hub_line(mut answers: Answers) -> (Answers, Option<HubHere>) {
    if answers.hub.version != HubVersionChoice::Auto {
        return (answers, None);
    }
    let here = host::installed_hub(std::path::Path::new(answers.hub.binary.as_str()));
    answers.hub.version = HubVersionChoice::Known(here.line());
    (answers, Some(here))
}

/// The plan for answers on this machine (looks for nginx only for `auto`), with
/// what that lookup found.
pub fn plan_here(answers: Answers) -> (Plan, Option<NginxHere>) {
    let here = match answers.nginx.version {
        NginxVersionChoice::Auto => Some(host::installed_nginx()),
        NginxVersionChoice::Known(_) => None,
    };
    let plan = Plan::new(answers, here.as_ref().and_then(NginxHere::version));
    (plan, here)
}

/// Renders the bundle for `out_dir`, reusing the secrets a previous render left there.
///
/// A caller that writes the result must hold [`crate::output::DirLock`] on `out_dir`
/// from before this call until `output::write` returns, so the secrets read here are
/// still the folder's when the bundle is written.
pub fn generate(answers: Answers, out_dir: &Path, rotate_secrets: bool) -> Result<Generated, GenerateError> {
    let (answers, hub_here) = resolve_hub_line(answers);
    let stored = StoredState::read(out_dir)?;
    let (secrets, notes) = secrets::prepare(&answers, stored, rotate_secrets, OffsetDateTime::now_utc())?;
    let (plan, nginx_here) = plan_here(answers);
    let bundle = render::render(&plan, &secrets)?;
    Ok(Generated { plan, bundle, notes, nginx_here, hub_here })
}

/// One write of a bundle into its folder, the folder locked from before its state is
/// read ([`Writing::generate`]) until the new bundle is in place ([`Writing::write`]),
/// so a concurrent render or wizard into the folder waits its turn.
pub struct Writing {
    lock: DirLock,
}

/// What [`Writing::write`] did.
pub struct Written {
    pub changes: Vec<FileChange>,
    /// Files the previous render wrote that this bundle no longer has (left in place).
    pub stale: Vec<String>,
}

impl Writing {
    /// Locks `out_dir` (creating it when missing), cleaning what an interrupted run left.
    pub fn begin(out_dir: &Path) -> Result<Writing, OutputError> {
        Ok(Writing { lock: DirLock::acquire(out_dir)? })
    }

    /// What an interrupted run had left and the lock removed, for a `note:` line.
    pub fn cleaned(&self) -> &[String] {
        self.lock.cleaned()
    }

    /// [`generate`] from the locked folder's state.
    pub fn generate(&self, answers: Answers, rotate_secrets: bool) -> Result<Generated, GenerateError> {
        generate(answers, self.lock.dir(), rotate_secrets)
    }

    /// Writes `bundle` (see [`output::write`]) and releases the folder.
    pub fn write(self, bundle: &Bundle, force: bool) -> Result<Written, OutputError> {
        // Listed from the manifest as it was before this write.
        let stale = output::stale_files(self.lock.dir(), bundle)?;
        let changes = output::write(&self.lock, bundle, force)?;
        Ok(Written { changes, stale })
    }
}
