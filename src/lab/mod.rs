//! `mercure-setup lab`: a disposable deployment of one topology on loopback, rendered
//! through the same answers -> plan -> render path as `render`, run with the real
//! nginx and hub as the user's own processes in a temporary folder, and broken on
//! purpose one directive at a time (the faults people copy) to show the symptom,
//! doctor's verdict and the fix. The integration tests run the same stack.

pub mod faults;
pub mod process;
pub mod programs;
pub mod scenario;
pub mod screen;
pub mod stack;
pub mod tls;

pub use programs::find_programs;
pub use stack::{Programs, Stack};

/// What can stop the lab.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// nginx or the hub is not installed: how to get it.
    #[error("{0}")]
    Missing(String),
    #[error("{0}")]
    Usage(String),
    #[error("lab: name a topology: {}", crate::deployment::Topology::NAMES.join(" or "))]
    NoTopology,
    #[error("--fault {name}: no such fault; `lab --list-faults` names them")]
    NoSuchFault { name: String },
    #[error("--fault {name}: only for the other topology (see --list-faults)")]
    OtherTopology { name: String },
    /// Ctrl-C or SIGTERM between scenarios.
    #[error("lab: interrupted; its servers are stopped and its folder removed")]
    Interrupted,
    #[error("cannot render the lab's bundle: {0}")]
    Render(String),
    /// A fault's edit no longer fits the rendered files.
    #[error("cannot render the lab's bundle: {0}")]
    Fault(#[from] faults::FaultError),
    #[error("{0}")]
    Start(String),
    #[error("{0}")]
    Io(String),
}

impl From<LabError> for crate::error::Error {
    fn from(e: LabError) -> Self {
        match e {
            LabError::Missing(_)
            | LabError::Usage(_)
            | LabError::NoTopology
            | LabError::NoSuchFault { .. }
            | LabError::OtherTopology { .. } => crate::error::Error::Usage(e.to_string()),
            _ => crate::error::Error::Failed(e.to_string()),
        }
    }
}
