//! Finding the two programs the lab runs: nginx and the Mercure hub, and saying
//! exactly how to get whichever is missing.

use std::path::{Path, PathBuf};

use super::LabError;
use super::stack::Programs;

/// How to install nginx, for the error that says it is missing.
pub const NGINX_HOW: &str =
    "install it (Debian/Ubuntu: `sudo apt-get install nginx`; nothing of the system's nginx is used or changed)";

/// How to get the hub, for the error that says it is missing.
pub const HUB_HOW: &str = "download a Mercure release for Linux (the lab is tested with 0.24.2) from \
https://github.com/dunglas/mercure/releases, unpack the archive and pass `--hub-binary PATH/mercure`, or put \
`mercure` on PATH";

/// nginx from PATH (or the sbin folders) and the hub from `hub_binary` or PATH.
pub fn find_programs(hub_binary: Option<&Path>) -> Result<Programs, LabError> {
    let nginx = crate::host::find_program("nginx")
        .ok_or_else(|| LabError::Missing(format!("the lab runs nginx, which is not on PATH: {NGINX_HOW}")))?;
    let hub = match hub_binary {
        Some(p) if p.is_file() => p.to_path_buf(),
        Some(p) => return Err(LabError::Missing(format!("--hub-binary {}: no such file; {HUB_HOW}", p.display()))),
        None => crate::host::find_program("mercure").ok_or_else(|| {
            LabError::Missing(format!("the lab runs the Mercure hub, and `mercure` is not on PATH: {HUB_HOW}"))
        })?,
    };
    Ok(Programs { nginx, hub: absolute(hub) })
}

fn absolute(p: PathBuf) -> PathBuf {
    std::path::absolute(&p).unwrap_or(p)
}
