//! One `apply` (or rollback) at a time per root: an exclusive `flock` on
//! `ROOT/var/lib/mercure-setup/apply.lock`, taken before the bundle is compared with the
//! machine and held until the run ends, rollback included. The file holds the holder's
//! PID for the message a second run prints; it is removed, still locked, at the end,
//! with the folders taking it made (when nothing else went in them): a run that
//! changes nothing leaves no trace.

use std::fs::File;
use std::io::{Seek as _, Write as _};

use super::backup::{STATE_DIR, STATE_DIR_MODE};
use super::beneath::{Dir, Root};

const NAME: &str = "apply.lock";

/// Why the lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("cannot take the apply lock: {0}")]
    Io(#[source] std::io::Error),
    #[error(
        "another mercure-setup apply is running on {root} ({holder} holds {file}): wait for it to finish; \
         a run that was killed holds no lock"
    )]
    Held { root: String, holder: String, file: String },
    #[error("cannot take the apply lock: its file keeps changing")]
    KeepsChanging,
    /// The state folder, or one above it, can be changed by another user.
    #[error(
        "{shown} is {what}: apply keeps its lock and backups beneath it, so only root may be able to change \
         it (chown root:root {shown}; chmod go-w {shown}); nothing was changed"
    )]
    Unsafe { shown: String, what: String },
}

/// An unsafe state folder is refused before anything changes (exit 3); anything else
/// is a failure (exit 1), a lock held by another run included.
impl From<LockError> for crate::error::Error {
    fn from(e: LockError) -> Self {
        match e {
            LockError::Unsafe { .. } => crate::error::Error::Preflight(e.to_string()),
            LockError::Io(_) | LockError::Held { .. } | LockError::KeepsChanging => {
                crate::error::Error::Failed(e.to_string())
            }
        }
    }
}

/// The held lock; dropping it removes the file and releases the lock.
pub struct ApplyLock {
    dir: Dir,
    file: File,
    root: Root,
    /// The folders on the way that did not exist before, deepest first.
    made: Vec<&'static str>,
}

/// Takes the lock, or says which process holds it.
pub fn acquire(root: &Root) -> Result<ApplyLock, LockError> {
    let fail = LockError::Io;
    let made: Vec<&'static str> = ["/var/lib/mercure-setup", "/var/lib", "/var"]
        .into_iter()
        .filter(|p| root.lstat(p).ok().flatten().is_none())
        .collect();
    let dir = root.make_dir(STATE_DIR, STATE_DIR_MODE).map_err(fail)?;
    if super::preflight::is_root() {
        untouchable_by_others(root)?;
        // A state folder made 0755 by an older release is closed now.
        dir.set_meta(STATE_DIR_MODE, None).map_err(fail)?;
    }
    let root = root.try_clone().map_err(fail)?;
    // A run that removes the file between another's open and lock leaves that one holding
    // a lock on a removed file: the lock counts only while the name is still that file.
    for _ in 0..10 {
        let Some(mut file) = dir.try_lock(NAME).map_err(fail)? else {
            let mut pid = String::new();
            if let Ok(Some((bytes, _))) = dir.read(NAME, 64) {
                pid = String::from_utf8_lossy(&bytes).trim().to_string();
            }
            let holder = if pid.is_empty() { "another process".to_string() } else { format!("process {pid}") };
            return Err(LockError::Held {
                root: root.path().display().to_string(),
                holder,
                file: root.show(&format!("{STATE_DIR}/{NAME}")),
            });
        };
        if dir.same_file(NAME, &file).map_err(fail)? {
            file.set_len(0).map_err(fail)?;
            file.rewind().map_err(fail)?;
            writeln!(file, "{}", std::process::id()).map_err(fail)?;
            return Ok(ApplyLock { dir, file, root, made });
        }
    }
    Err(LockError::KeepsChanging)
}

/// Root keeps its lock, backups and scratch files in the state folder: a user who could
/// change it, or a folder above it, could plant a link or a hard link where root writes.
fn untouchable_by_others(root: &Root) -> Result<(), LockError> {
    for path in ["/var", "/var/lib", STATE_DIR] {
        let meta = root.dir(path).and_then(|d| d.map(|d| d.meta()).transpose());
        match meta {
            Ok(Some(m)) if m.writable_by_others() => {
                return Err(LockError::Unsafe { shown: root.show(path), what: m.describe() });
            }
            Ok(_) => {}
            Err(e) => return Err(LockError::Io(e)),
        }
    }
    Ok(())
}

impl Drop for ApplyLock {
    fn drop(&mut self) {
        // Removed while still locked; the lock goes with `file` right after.
        let _ = self.dir.remove(NAME);
        let _ = self.file.flush();
        for path in &self.made {
            // Only an empty folder goes (backups stay).
            if let Ok((Some(parent), name)) = self.root.parent(path) {
                let _ = parent.remove(name);
            }
        }
    }
}
