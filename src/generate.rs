//! One render for one output folder, end to end: answers -> plan (with the nginx
//! version found here) -> secrets (reused from the folder's state or made) -> bundle.
//!
//! `render` and the wizard both call this, so they produce the same files.

use std::path::Path;

use time::OffsetDateTime;

use crate::answers::Answers;
use crate::bundle::Bundle;
use crate::host;
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
}

/// The plan for answers on this machine (reads `nginx -v` only for `auto`).
pub fn plan_here(answers: Answers) -> Plan {
    let detected = match answers.nginx.version {
        NginxVersionChoice::Auto => host::installed_nginx_version(),
        NginxVersionChoice::Known(_) => None,
    };
    Plan::new(answers, detected)
}

/// Renders the bundle for `out_dir`, reusing the secrets a previous render left there.
pub fn generate(answers: Answers, out_dir: &Path, rotate_secrets: bool) -> Result<Generated, GenerateError> {
    let stored = StoredState::read(out_dir)?;
    let (secrets, notes) = secrets::prepare(&answers, stored, rotate_secrets, OffsetDateTime::now_utc())?;
    let plan = plan_here(answers);
    let bundle = render::render(&plan, &secrets)?;
    Ok(Generated { plan, bundle, notes })
}
