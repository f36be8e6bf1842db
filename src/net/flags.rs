//! Flags several network commands share (`doctor`, `loadtest`, `apply`), as cargo keeps
//! its `command_prelude` below the commands: how to reach the public side before DNS
//! and a public certificate are in place, a token read from `--token-file`, and a
//! duration flag as a `std::time::Duration`.

use std::path::{Path, PathBuf};

use super::{ResolveEntry, Resolver};
use crate::output::{self, OutputError};

/// A file a shared flag names cannot be read: the user's input, so a usage error.
#[derive(Debug, thiserror::Error)]
pub enum FlagError {
    #[error("cannot read {}: {source}", .path.display())]
    Unreadable { path: PathBuf, source: OutputError },
}

impl From<FlagError> for crate::error::Error {
    fn from(e: FlagError) -> Self {
        crate::error::Error::Usage(e.to_string())
    }
}

/// The error for a file the user named that could not be read.
pub fn unreadable(path: &Path) -> impl FnOnce(OutputError) -> FlagError + '_ {
    |source| FlagError::Unreadable { path: path.to_path_buf(), source }
}

/// How `doctor`, `loadtest` and `apply` reach the public side before DNS and a public
/// certificate are in place: curl-style overrides and an extra trusted CA.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ReachArgs {
    /// Connect to ADDR for HOST:PORT, like curl (repeatable), to test before DNS points here.
    #[arg(long = "resolve", value_name = "HOST:PORT:ADDR", value_parser = ResolveEntry::parse)]
    pub resolve: Vec<ResolveEntry>,
    /// Trust this CA for the public side too (a private or staging certificate). Verification stays on.
    #[arg(long, value_name = "FILE")]
    pub public_ca: Option<PathBuf>,
}

impl ReachArgs {
    /// The resolver with every `--resolve` entry.
    pub fn resolver(&self) -> Resolver {
        Resolver { entries: self.resolve.clone() }
    }

    /// The `--public-ca` file's PEM text, if one was given.
    pub fn public_ca_pem(&self) -> Result<Option<String>, FlagError> {
        self.public_ca.as_ref().map(|p| output::read_user_file(p, output::READ_CAP).map_err(unreadable(p))).transpose()
    }
}

/// A duration flag's value (`5s`, `2m`, `1500ms`, parsed by clap with
/// `values::Duration::parse`) as a `std::time::Duration`.
pub fn std_duration(d: &crate::values::Duration) -> std::time::Duration {
    std::time::Duration::from_millis(d.millis)
}

/// A JWT read from a `--token-file`, surrounding whitespace removed.
pub fn read_token(path: &Path) -> Result<String, FlagError> {
    output::read_user_file(path, 64 * 1024).map(|t| t.trim().to_string()).map_err(unreadable(path))
}
