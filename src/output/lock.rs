//! One run per output folder: an exclusive lock held from before the stored state is
//! read until the new state is in place, and the cleanup of what an interrupted run left.
//!
//! A run that writes a folder holds [`DirLock`] (`flock` on the folder itself) from
//! before it reads the stored secrets until the switch, so two runs into one folder
//! take turns instead of mixing their files.

use std::cell::Cell;
use std::fs;
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{OutputError, STATE_NEW_PREFIX, TEMP_SUFFIX, io};
use crate::bundle::paths::state;

/// How long [`DirLock::acquire`] waits for another run to finish with the folder.
/// A render holds the lock for well under a second (key generation and a few small
/// files), so waiting makes two concurrent runs simply take turns; the limit only
/// matters when the other run is stuck, and then a clear error beats hanging.
pub const LOCK_WAIT: Duration = Duration::from_secs(10);

/// An exclusive lock on an output folder (`flock` on the folder itself, through
/// [`fs::File::try_lock`]). Held from before the stored state is read until the
/// bundle is written; released when dropped, and by the OS when the process dies,
/// so a crash never leaves the folder locked. A folder this lock created is removed
/// again when the run ends without writing the bundle.
#[derive(Debug)]
pub struct DirLock {
    dir: PathBuf,
    _file: fs::File,
    /// The folder did not exist before this run.
    created: bool,
    /// A bundle was written: keep the folder.
    pub(super) written: Cell<bool>,
    /// Leftovers of an interrupted run, removed when the lock was taken.
    cleaned: Vec<String>,
}

impl DirLock {
    /// Creates `dir` (0700, its missing parents 0755) when missing and takes the lock,
    /// waiting up to [`LOCK_WAIT`] for another run holding it.
    pub fn acquire(dir: &Path) -> Result<DirLock, OutputError> {
        DirLock::acquire_within(dir, LOCK_WAIT)
    }

    /// [`DirLock::acquire`] with a chosen wait.
    pub fn acquire_within(dir: &Path, wait: Duration) -> Result<DirLock, OutputError> {
        let created = !dir.exists();
        if created {
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                fs::DirBuilder::new().recursive(true).mode(0o755).create(parent).map_err(io(parent))?;
            }
            match fs::DirBuilder::new().mode(0o700).create(dir) {
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(io(dir)(e)),
                _ => {}
            }
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io(dir))?;
        }
        let file = fs::File::open(dir).map_err(io(dir))?;
        let start = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(fs::TryLockError::WouldBlock) if start.elapsed() < wait => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(fs::TryLockError::WouldBlock) => {
                    return Err(OutputError::Locked { dir: dir.display().to_string(), waited: wait.as_secs() });
                }
                Err(fs::TryLockError::Error(e)) => return Err(io(dir)(e)),
            }
        }
        let mut lock =
            DirLock { dir: dir.to_path_buf(), _file: file, created, written: Cell::new(false), cleaned: Vec::new() };
        lock.cleaned = clean_leftovers(dir)?;
        Ok(lock)
    }

    /// Takes the lock only when `dir/.state` already exists (creating nothing):
    /// for runs that only read the state, like the wizard's review, which must not
    /// create the folder before the user says so. A folder without state has nothing
    /// to read half-written.
    pub fn acquire_existing(dir: &Path) -> Result<Option<DirLock>, OutputError> {
        if dir.join(state::DIR).is_dir() { DirLock::acquire(dir).map(Some) } else { Ok(None) }
    }

    /// The locked folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Files and folders an interrupted run had left, removed when the lock was taken
    /// (relative paths), for a `note:` line.
    pub fn cleaned(&self) -> &[String] {
        &self.cleaned
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        // A refused or failed first render leaves nothing behind.
        if self.created && !self.written.get() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Removes what an interrupted render left in `dir`: staged temp files (which may
/// hold secret copies) and unfinished or superseded state folders. Never follows links.
fn clean_leftovers(dir: &Path) -> Result<Vec<String>, OutputError> {
    fn walk(root: &Path, dir: &Path, depth: usize, out: &mut Vec<String>) -> Result<(), OutputError> {
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io(dir)(e)),
        };
        for entry in entries {
            let entry = entry.map_err(io(dir))?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let t = entry.file_type().map_err(io(&path))?;
            let rel = path.strip_prefix(root).unwrap_or(&path).display().to_string();
            if depth == 0 && t.is_dir() && name.starts_with(STATE_NEW_PREFIX) {
                fs::remove_dir_all(&path).map_err(io(&path))?;
                out.push(rel);
            } else if !t.is_dir() && name.starts_with('.') && name.ends_with(TEMP_SUFFIX) {
                fs::remove_file(&path).map_err(io(&path))?;
                out.push(rel);
            } else if t.is_dir() && depth < 6 {
                walk(root, &path, depth + 1, out)?;
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, dir, 0, &mut out)?;
    out.sort();
    Ok(out)
}
