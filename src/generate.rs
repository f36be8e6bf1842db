//! One render for one output folder, end to end: answers -> plan (with the nginx
//! version found here) -> secrets (reused from the folder's state or made) -> bundle.
//!
//! `render` and the wizard both call this, so they produce the same files.

use std::path::Path;

use time::OffsetDateTime;

use crate::answers::Answers;
use crate::bundle::Bundle;
use crate::host::{self, NginxHere};
use crate::plan::Plan;
use crate::render::{self, RenderError};
use crate::secrets::{self, SecretsError, StoredState};
use crate::values::NginxVersionChoice;

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
}

impl Generated {
    /// Which nginx version `auto` chose and why, for a `note:` line (`None` when the
    /// answers name a version).
    pub fn nginx_note(&self) -> Option<String> {
        self.nginx_here.as_ref().map(NginxHere::auto_note)
    }
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
    let stored = StoredState::read(out_dir)?;
    let (secrets, notes) = secrets::prepare(&answers, stored, rotate_secrets, OffsetDateTime::now_utc())?;
    let (plan, nginx_here) = plan_here(answers);
    let bundle = render::render(&plan, &secrets)?;
    Ok(Generated { plan, bundle, notes, nginx_here })
}
