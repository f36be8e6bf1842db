//! The errors a command can end with, and their exit codes. An edge module's error
//! (apply, check, doctor, net...) says its kind in the `From` impl beside it; the errors
//! of the pure pipeline and of `output` and `generate` (which this module wraps, so they
//! cannot import it) are variants here, their kind in [`Error::exit_code`].

use crate::answers::FieldError;

/// Exit code for success.
pub const EXIT_OK: i32 = 0;
/// Exit code for anything that is not the user's input.
pub const EXIT_FAILURE: i32 = 1;
/// Exit code for invalid answers or usage.
pub const EXIT_USAGE: i32 = 2;
/// Exit code for `apply` refusing a machine or bundle before changing anything
/// (a missing prerequisite, an unsafe destination, an untrusted bundle).
pub const EXIT_PREFLIGHT: i32 = 3;
/// Exit code for a run the user stopped (Ctrl-C), as shells report SIGINT: 128 + 2.
pub const EXIT_INTERRUPTED: i32 = 130;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid answers ({} problem{}):\n{}", .0.len(), if .0.len() == 1 { "" } else { "s" }, list(.0))]
    InvalidAnswers(Vec<FieldError>),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Failed(String),
    #[error("{0}")]
    Preflight(String),
    /// The user stopped the run; said plainly, not as an error.
    #[error("{0}")]
    Interrupted(String),
    /// Words `explain` has nothing for.
    #[error(transparent)]
    Explain(#[from] crate::teaching::ExplainError),
    /// An answers file the user named (or the bundle's) that cannot be read.
    #[error(transparent)]
    AnswersFile(#[from] crate::output::AnswersFileError),
    #[error(transparent)]
    Generate(#[from] crate::generate::GenerateError),
    #[error(transparent)]
    Output(#[from] crate::output::OutputError),
}

fn list(errors: &[FieldError]) -> String {
    errors.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n")
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::InvalidAnswers(_) | Error::Usage(_) | Error::Explain(_) | Error::AnswersFile(_) => EXIT_USAGE,
            Error::Preflight(_) => EXIT_PREFLIGHT,
            Error::Interrupted(_) => EXIT_INTERRUPTED,
            _ => EXIT_FAILURE,
        }
    }
}
