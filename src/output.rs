//! Writing a bundle to its folder: the only module that writes files, and the
//! careful reads of what a folder already holds.
//!
//! Nothing inside the output folder is trusted: a symlink anywhere on a bundle path
//! is refused (never followed), only regular files are opened (never a FIFO or a
//! device) and every read is capped. Folders and files get explicit modes whatever
//! the umask.
//!
//! A render commits in one step: all state (secrets, certificates, the manifest) is
//! written to a fresh `.state.new-*` folder that one `renameat2(RENAME_EXCHANGE)`
//! swaps with `.state`, so a crash at any moment leaves either the old or the new
//! set. The other files are staged as temp files beforehand and renamed into place
//! after that switch; the manifest accepts their old and new contents, so a crash
//! between the renames never reads as a hand edit. Leftovers of an interrupted run
//! are removed (and reported) by the next one.
//!
//! A run that writes a folder holds [`DirLock`] (`flock` on the folder itself) from
//! before it reads the stored secrets until the switch, so two runs into one folder
//! take turns instead of mixing their files.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::bundle::Bundle;
use crate::bundle::paths::{self, state};

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error(
        "refusing to overwrite {} edited by hand since the last render (use --force to overwrite, or move {} away):\n{}",
        if .0.len() == 1 { "a file" } else { "files" },
        if .0.len() == 1 { "it" } else { "them" },
        .0.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n")
    )]
    HandEdited(Vec<String>),
    #[error("{0} exists; use --force to replace it")]
    Exists(String),
    #[error("{path}: the manifest is not valid JSON ({detail}); delete it to start over")]
    Manifest { path: String, detail: String },
    #[error(
        "{dir} is being written by another mercure-setup run (it holds a lock on the folder); waited {waited}s. \
         Run again when it has finished (a crashed run holds no lock)"
    )]
    Locked { dir: String, waited: u64 },
    #[error(
        "{0} is a symbolic link: mercure-setup never follows links inside the output folder (files would be \
         written or modes changed where it points); replace it with a real folder or file"
    )]
    Symlink(String),
    #[error("{path} is {kind}, not a regular file: move it away and render again")]
    NotRegular { path: String, kind: &'static str },
    #[error("{path} is larger than {cap} bytes, far more than mercure-setup ever writes there: move it away")]
    TooLarge { path: String, cap: u64 },
}

/// How long [`DirLock::acquire`] waits for another run to finish with the folder.
/// A render holds the lock for well under a second (key generation and a few small
/// files), so waiting makes two concurrent runs simply take turns; the limit only
/// matters when the other run is stuck, and then a clear error beats hanging.
pub const LOCK_WAIT: Duration = Duration::from_secs(10);

/// Largest file a bundle path may hold when it is read back (the biggest generated
/// file is a few kilobytes).
pub const READ_CAP: u64 = 1 << 20;

/// Name prefix of the folder a render builds the new state in.
const STATE_NEW_PREFIX: &str = ".state.new-";
/// Suffix of every temp file a render stages.
const TEMP_SUFFIX: &str = ".mercure-setup-tmp";

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> OutputError + '_ {
    move |source| OutputError::Io { path: path.display().to_string(), source }
}

fn kind_of(t: fs::FileType) -> &'static str {
    if t.is_dir() {
        "a folder"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// Reads a regular file of at most `cap` bytes: `None` when it does not exist. A
/// symlink, FIFO, device or folder at `path` is an error naming it; the open never
/// follows a link and never waits on a FIFO, and the read stops at the cap.
pub fn read_regular(path: &Path, cap: u64) -> Result<Option<Vec<u8>>, OutputError> {
    use rustix::fs::OFlags;
    let flags = (OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC).bits();
    let file = match fs::OpenOptions::new().read(true).custom_flags(flags.cast_signed()).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            // ELOOP from O_NOFOLLOW: the last component is a link.
            if fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(OutputError::Symlink(path.display().to_string()));
            }
            return Err(io(path)(e));
        }
    };
    let meta = file.metadata().map_err(io(path))?;
    if !meta.is_file() {
        return Err(OutputError::NotRegular { path: path.display().to_string(), kind: kind_of(meta.file_type()) });
    }
    if meta.len() > cap {
        return Err(OutputError::TooLarge { path: path.display().to_string(), cap });
    }
    let mut bytes = Vec::new();
    file.take(cap + 1).read_to_end(&mut bytes).map_err(io(path))?;
    if bytes.len() as u64 > cap {
        return Err(OutputError::TooLarge { path: path.display().to_string(), cap });
    }
    Ok(Some(bytes))
}

/// Reads a file the user named (`--answers`, `--token-file`, `--ca`...): links are
/// followed, since the user chose the path, but only a regular file is read (never
/// a FIFO or a device, which would hang or never end), at most `cap` bytes, as UTF-8.
pub fn read_user_file(path: &Path, cap: u64) -> Result<String, OutputError> {
    use rustix::fs::OFlags;
    let flags = (OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC).bits();
    let file = fs::OpenOptions::new().read(true).custom_flags(flags.cast_signed()).open(path).map_err(io(path))?;
    let meta = file.metadata().map_err(io(path))?;
    if !meta.is_file() {
        return Err(OutputError::NotRegular { path: path.display().to_string(), kind: kind_of(meta.file_type()) });
    }
    let mut bytes = Vec::new();
    file.take(cap + 1).read_to_end(&mut bytes).map_err(io(path))?;
    if bytes.len() as u64 > cap {
        return Err(OutputError::TooLarge { path: path.display().to_string(), cap });
    }
    String::from_utf8(bytes)
        .map_err(|_| io(path)(std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text")))
}

/// Refuses a symlink at `dir/rel` or at any folder between `dir` and it (the folder
/// itself may be a link: the user named it).
pub fn refuse_symlinks(dir: &Path, rel: &str) -> Result<(), OutputError> {
    let mut path = dir.to_path_buf();
    for part in rel.split('/').filter(|p| !p.is_empty()) {
        path.push(part);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => return Err(OutputError::Symlink(path.display().to_string())),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io(&path)(e)),
        }
    }
    Ok(())
}

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
    written: Cell<bool>,
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

/// What happens to one bundle file when it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    New,
    Unchanged,
    /// Generated before and not touched since: replaced.
    Updated,
    /// Changed since the last render, or there before mercure-setup: kept without --force.
    HandEdited,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Unchanged => "unchanged",
            Status::Updated => "updated",
            Status::HandEdited => "edited by hand",
        }
    }
}

/// One file of the bundle compared with what the folder holds.
#[derive(Debug, Clone)]
pub struct Change {
    pub path: String,
    pub status: Status,
    pub mode: u32,
    pub secret: bool,
    /// The folder's current contents, when the file exists and is text.
    pub current: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Manifest {
    version: u32,
    /// Relative path -> SHA-256 of the contents last written.
    files: BTreeMap<String, String>,
    /// Relative path -> SHA-256 of what the file held before the last render changed
    /// it: a crash between that render's renames can leave either.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    previous: BTreeMap<String, String>,
}

impl Manifest {
    fn generated(&self, rel: &str, hash: &str) -> bool {
        self.files.get(rel).is_some_and(|h| h == hash) || self.previous.get(rel).is_some_and(|h| h == hash)
    }
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data).iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn read_manifest(dir: &Path) -> Result<Manifest, OutputError> {
    let path = dir.join(state::MANIFEST);
    refuse_symlinks(dir, state::MANIFEST)?;
    match read_regular(&path, READ_CAP)? {
        Some(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| OutputError::Manifest { path: path.display().to_string(), detail: e.to_string() }),
        None => Ok(Manifest::default()),
    }
}

/// Compares every bundle file with the folder, in path order. Refuses symlinks on
/// any bundle path and anything but regular files where the bundle puts files.
pub fn compare(dir: &Path, bundle: &Bundle) -> Result<Vec<Change>, OutputError> {
    refuse_symlinks(dir, state::DIR)?;
    let manifest = read_manifest(dir)?;
    let mut out = Vec::new();
    for (rel, file) in &bundle.files {
        refuse_symlinks(dir, rel)?;
        let current = read_regular(&dir.join(rel), READ_CAP)?;
        let status = match &current {
            None => Status::New,
            Some(bytes) if bytes == file.contents.as_bytes() => Status::Unchanged,
            // State was read at the start of this run and is written back from what was
            // read (or renewed), so changes there were already taken into account.
            Some(_) if paths::is_state(rel) => Status::Updated,
            Some(bytes) if manifest.generated(rel, &sha256_hex(bytes)) => Status::Updated,
            Some(_) => Status::HandEdited,
        };
        out.push(Change {
            path: rel.clone(),
            status,
            mode: file.mode,
            secret: file.secret,
            current: current.and_then(|b| String::from_utf8(b).ok()),
        });
    }
    Ok(out)
}

/// Files the last render wrote that this bundle no longer has (left in place).
pub fn stale_files(dir: &Path, bundle: &Bundle) -> Result<Vec<String>, OutputError> {
    let manifest = read_manifest(dir)?;
    Ok(manifest
        .files
        .keys()
        .filter(|p| !bundle.files.contains_key(*p) && !paths::is_state(p) && fs::symlink_metadata(dir.join(p)).is_ok())
        .cloned()
        .collect())
}

/// A bundle file that no longer holds what the last render wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edited {
    Changed(String),
    Missing(String),
}

/// The files (state excluded) whose contents differ from what the last render wrote,
/// in path order; `None` when the folder has no manifest to compare with.
pub fn edited_since_render(dir: &Path) -> Result<Option<Vec<Edited>>, OutputError> {
    refuse_symlinks(dir, state::DIR)?;
    if read_regular(&dir.join(state::MANIFEST), READ_CAP)?.is_none() {
        return Ok(None);
    }
    let manifest = read_manifest(dir)?;
    let mut out = Vec::new();
    for rel in manifest.files.keys().filter(|p| !paths::is_state(p)) {
        refuse_symlinks(dir, rel)?;
        match read_regular(&dir.join(rel), READ_CAP)? {
            None => out.push(Edited::Missing(rel.clone())),
            Some(bytes) if !manifest.generated(rel, &sha256_hex(&bytes)) => out.push(Edited::Changed(rel.clone())),
            Some(_) => {}
        }
    }
    Ok(Some(out))
}

/// A file list with a unified diff per changed file; secret contents are never shown.
pub fn dry_run_report(changes: &[Change], bundle: &Bundle) -> String {
    let mut out = String::new();
    for c in changes {
        let _ = writeln!(out, "{:<16} {:04o} {}", c.status.label(), c.mode, c.path);
    }
    for c in changes.iter().filter(|c| !matches!(c.status, Status::Unchanged)) {
        if c.secret {
            let _ = writeln!(out, "\n--- {0}\n+++ {0}\n(secret: contents not shown)", c.path);
            continue;
        }
        let new = bundle.get(&c.path).unwrap_or_default();
        let old = c.current.as_deref().unwrap_or_default();
        let diff = similar::TextDiff::from_lines(old, new);
        let _ = write!(
            out,
            "\n{}",
            diff.unified_diff().context_radius(3).header(&format!("a/{}", c.path), &format!("b/{}", c.path))
        );
    }
    out
}

fn dir_mode(bundle: &Bundle, rel_dir: &str) -> u32 {
    if rel_dir.is_empty() || rel_dir == state::DIR || bundle.dir_holds_secret(rel_dir) { 0o700 } else { 0o755 }
}

/// Every folder below `dir` that the bundle's files need (relative paths, sorted).
fn bundle_dirs(bundle: &Bundle) -> Vec<String> {
    let mut rel_dirs: Vec<String> = bundle
        .files
        .keys()
        .flat_map(|p| {
            let parts: Vec<&str> = p.split('/').collect();
            (1..parts.len()).map(move |n| parts[..n].join("/"))
        })
        .collect();
    rel_dirs.sort();
    rel_dirs.dedup();
    rel_dirs
}

/// Creates the bundle's folders outside `.state` and gives every one its mode
/// (0755, or 0700 for folders holding secrets), whatever the umask and whatever an
/// earlier run left.
fn make_dirs(dir: &Path, bundle: &Bundle) -> Result<(), OutputError> {
    for rel in bundle_dirs(bundle).into_iter().filter(|r| r != state::DIR && !paths::is_state(r)) {
        let path = dir.join(&rel);
        refuse_symlinks(dir, &rel)?;
        match fs::DirBuilder::new().mode(0o700).create(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(io(&path)(e)),
            _ => {}
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(dir_mode(bundle, &rel))).map_err(io(&path))?;
    }
    Ok(())
}

/// Writes `contents` to a new, uniquely named temp file beside `path` (so the rename
/// stays on one file system), with exactly `mode` set before anything is written.
/// Dropping the result deletes the temp file: every error path cleans up by itself.
fn write_temp(path: &Path, contents: &[u8], mode: u32) -> Result<tempfile::NamedTempFile, OutputError> {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // A dot name so a crash leftover is hidden and recognisable; cut so that a long
    // file name still leaves room for the random part and the suffix.
    let short: String = name.chars().take(64).collect();
    // Created 0600 by tempfile.
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{short}."))
        .suffix(TEMP_SUFFIX)
        .tempfile_in(parent)
        .map_err(io(parent))?;
    let shown = tmp.path().to_path_buf();
    // Exactly `mode` (no umask involved), before the contents and the rename.
    tmp.as_file().set_permissions(fs::Permissions::from_mode(mode)).map_err(io(&shown))?;
    tmp.write_all(contents).map_err(io(&shown))?;
    tmp.as_file().sync_all().map_err(io(&shown))?;
    Ok(tmp)
}

/// Renames staged temp files into place, in order. A failed rename drops the rest
/// of `staged` (and the failed temp file): no temp file is left behind.
fn commit(staged: Vec<(tempfile::NamedTempFile, PathBuf)>) -> Result<(), OutputError> {
    for (tmp, path) in staged {
        tmp.persist(&path).map_err(|e| io(&path)(e.error))?;
    }
    Ok(())
}

fn sync_dir(path: &Path) -> Result<(), OutputError> {
    fs::File::open(path).and_then(|d| d.sync_all()).map_err(io(path))
}

/// Builds the complete new state folder (`.state.new-*`, 0700): every `.state/`
/// file of the bundle and the manifest, each synced. Dropping the result deletes it.
fn build_state(dir: &Path, bundle: &Bundle, manifest: &Manifest) -> Result<tempfile::TempDir, OutputError> {
    let new = tempfile::Builder::new()
        .prefix(STATE_NEW_PREFIX)
        .permissions(fs::Permissions::from_mode(0o700))
        .tempdir_in(dir)
        .map_err(io(dir))?;
    let root = new.path();
    fs::set_permissions(root, fs::Permissions::from_mode(0o700)).map_err(io(root))?;
    let inner = |rel: &str| rel.strip_prefix(state::DIR).map(|r| r.trim_start_matches('/').to_string());
    let json = serde_json::to_string_pretty(manifest).unwrap_or_default() + "\n";
    let files = bundle
        .files
        .iter()
        .filter(|(rel, _)| paths::is_state(rel))
        .map(|(rel, f)| (rel.as_str(), f.contents.as_bytes(), f.mode))
        .chain(std::iter::once((state::MANIFEST, json.as_bytes(), 0o600)));
    for (rel, contents, mode) in files {
        let Some(sub) = inner(rel) else { continue };
        let path = root.join(&sub);
        if let Some(parent) = path.parent().filter(|p| *p != root) {
            fs::DirBuilder::new().recursive(true).mode(0o700).create(parent).map_err(io(parent))?;
            fs::set_permissions(parent, fs::Permissions::from_mode(0o700)).map_err(io(parent))?;
        }
        let mut f = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).map_err(io(&path))?;
        f.set_permissions(fs::Permissions::from_mode(mode)).map_err(io(&path))?;
        f.write_all(contents).map_err(io(&path))?;
        f.sync_all().map_err(io(&path))?;
        if let Some(parent) = path.parent() {
            sync_dir(parent)?;
        }
    }
    sync_dir(root)?;
    Ok(new)
}

/// Puts the new state folder in place of `.state` with one rename: an exchange when
/// `.state` exists (the old set then sits at the new folder's name, and goes when it
/// is dropped), else a rename that never replaces anything.
fn switch_state(dir: &Path, new: &tempfile::TempDir) -> Result<(), OutputError> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    let target = dir.join(state::DIR);
    let flags = if fs::symlink_metadata(&target).is_ok() { RenameFlags::EXCHANGE } else { RenameFlags::NOREPLACE };
    renameat_with(CWD, new.path(), CWD, &target, flags).map_err(|e| io(&target)(e.into()))?;
    sync_dir(dir)
}

/// Writes the bundle into the locked folder. Without `force`, fails before writing
/// anything if a file was edited by hand. Returns what happened to each file.
///
/// Order: stage every changed file outside `.state` as a temp file; build the whole
/// new state (with the manifest) in a fresh folder; switch it in with one rename
/// (the commit point); rename the staged files into place. A crash before the switch
/// leaves the old set, after it the new one (with the other files old or new, both
/// known to the manifest); the next run removes the leftovers.
pub fn write(lock: &DirLock, bundle: &Bundle, force: bool) -> Result<Vec<Change>, OutputError> {
    let dir = lock.dir();
    let changes = compare(dir, bundle)?;
    let edited: Vec<String> =
        changes.iter().filter(|c| c.status == Status::HandEdited).map(|c| c.path.clone()).collect();
    if !edited.is_empty() && !force {
        return Err(OutputError::HandEdited(edited));
    }
    make_dirs(dir, bundle)?;

    let old = read_manifest(dir)?;
    let mut manifest = Manifest { version: 1, ..Manifest::default() };
    let mut staged: Vec<(tempfile::NamedTempFile, PathBuf)> = Vec::new();
    for c in &changes {
        let file = &bundle.files[&c.path];
        manifest.files.insert(c.path.clone(), sha256_hex(file.contents.as_bytes()));
        if paths::is_state(&c.path) {
            continue;
        }
        if let Some(current) = &c.current
            && c.status != Status::Unchanged
        {
            manifest.previous.insert(c.path.clone(), sha256_hex(current.as_bytes()));
        } else if c.status != Status::Unchanged
            && let Some(h) = old.files.get(&c.path)
        {
            manifest.previous.insert(c.path.clone(), h.clone());
        }
        if c.status != Status::Unchanged {
            let path = dir.join(&c.path);
            // On error, `staged` is dropped and its temp files deleted.
            staged.push((write_temp(&path, file.contents.as_bytes(), file.mode)?, path));
        }
    }
    // Files the last render wrote and this one no longer does stay known as generated.
    for (rel, hash) in &old.files {
        if !bundle.files.contains_key(rel) && !paths::is_state(rel) {
            manifest.files.insert(rel.clone(), hash.clone());
        }
    }
    let new_state = build_state(dir, bundle, &manifest)?;
    switch_state(dir, &new_state)?;
    lock.written.set(true);
    // The old state now sits at the new folder's name.
    drop(new_state);
    commit(staged)?;
    fs::set_permissions(dir.join(state::DIR), fs::Permissions::from_mode(0o700)).map_err(io(&dir.join(state::DIR)))?;
    // Unchanged files keep their contents but get the mode the bundle asks for.
    for c in changes.iter().filter(|c| c.status == Status::Unchanged && !paths::is_state(&c.path)) {
        let path = dir.join(&c.path);
        let meta = fs::symlink_metadata(&path).map_err(io(&path))?;
        if meta.permissions().mode() & 0o7777 != c.mode {
            fs::set_permissions(&path, fs::Permissions::from_mode(c.mode)).map_err(io(&path))?;
        }
    }
    Ok(changes)
}

/// What a write did, for the terminal: counts, each file with its mode (state files
/// left out), files no longer generated, and where to go next.
pub fn write_summary(dir: &Path, changes: &[Change], stale: &[String]) -> String {
    let count = |s: Status| changes.iter().filter(|c| c.status == s).count();
    let mut text = format!(
        "wrote {}: {} new, {} updated, {} unchanged{}\n",
        dir.display(),
        count(Status::New),
        count(Status::Updated),
        count(Status::Unchanged),
        match count(Status::HandEdited) {
            0 => String::new(),
            n => format!(", {n} hand-edited overwritten"),
        }
    );
    for c in changes.iter().filter(|c| !paths::is_state(&c.path)) {
        let _ = writeln!(text, "  {:<16} {:04o} {}", c.status.label(), c.mode, c.path);
    }
    for path in stale {
        let _ = writeln!(text, "  no longer generated, left in place: {path}");
    }
    let _ = writeln!(text, "next: follow {}", dir.join(paths::INSTALL).display());
    text
}

/// Writes one file atomically (used for `init --output`); refuses to replace an
/// existing file unless `overwrite`.
pub fn write_single(path: &Path, contents: &str, mode: u32, overwrite: bool) -> Result<(), OutputError> {
    if fs::symlink_metadata(path).is_ok_and(|m| !m.is_file()) {
        let m = fs::symlink_metadata(path).map_err(io(path))?;
        if m.file_type().is_symlink() {
            return Err(OutputError::Symlink(path.display().to_string()));
        }
        return Err(OutputError::NotRegular { path: path.display().to_string(), kind: kind_of(m.file_type()) });
    }
    if path.exists() && !overwrite {
        return Err(OutputError::Exists(path.display().to_string()));
    }
    let tmp = write_temp(path, contents.as_bytes(), mode)?;
    if overwrite {
        tmp.persist(path).map(drop).map_err(|e| io(path)(e.error))
    } else {
        // Atomic "only if absent": a file made since the check above is not replaced.
        tmp.persist_noclobber(path).map(drop).map_err(|e| match e.error.kind() {
            std::io::ErrorKind::AlreadyExists => OutputError::Exists(path.display().to_string()),
            _ => io(path)(e.error),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(text: &str) -> Bundle {
        let mut b = Bundle::default();
        b.add("a/plain.conf", text);
        b.add_secret("s/secret.env", "KEY=1");
        b
    }

    /// Every file below `dir` (relative paths), hidden ones included.
    fn all_files(dir: &Path) -> Vec<String> {
        fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
            for entry in fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(root, &path, out);
                } else {
                    out.push(path.strip_prefix(root).unwrap().display().to_string());
                }
            }
        }
        let mut out = Vec::new();
        if dir.exists() {
            walk(dir, dir, &mut out);
        }
        out.sort();
        out
    }

    fn temp_files(dir: &Path) -> Vec<String> {
        all_files(dir).into_iter().filter(|p| p.contains("mercure-setup-tmp")).collect()
    }

    #[test]
    fn writes_modes_and_detects_hand_edits() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("out");
        let lock = DirLock::acquire(&dir).unwrap();
        let changes = write(&lock, &bundle("one"), false).unwrap();
        assert!(changes.iter().all(|c| c.status == Status::New));
        let mode = |p: &str| fs::metadata(dir.join(p)).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(""), 0o700);
        assert_eq!(mode("s/secret.env"), 0o600);
        assert_eq!(mode("s"), 0o700);
        assert_eq!(mode(".state"), 0o700);
        assert_eq!(mode("a/plain.conf"), 0o644);

        let changes = write(&lock, &bundle("two"), false).unwrap();
        assert_eq!(changes[0].status, Status::Updated);

        fs::write(dir.join("a/plain.conf"), "mine\n").unwrap();
        let err = write(&lock, &bundle("three"), false).unwrap_err();
        assert!(err.to_string().contains("a/plain.conf"), "{err}");
        assert_eq!(fs::read_to_string(dir.join("a/plain.conf")).unwrap(), "mine\n");
        write(&lock, &bundle("three"), true).unwrap();
        assert_eq!(fs::read_to_string(dir.join("a/plain.conf")).unwrap(), "three\n");
        assert_eq!(temp_files(&dir), Vec::<String>::new());
        assert_eq!(stale_files(&dir, &bundle("x")).unwrap(), Vec::<String>::new());
        // The lock is on the folder itself: no lock file.
        assert_eq!(all_files(&dir), [".state/manifest.json", "a/plain.conf", "s/secret.env"].map(String::from));
    }

    #[test]
    fn failed_staging_leaves_no_temp_file_and_writes_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("out");
        let lock = DirLock::acquire(&dir).unwrap();
        let mut b = bundle("one");
        // A file where the bundle needs a folder: staging fails after `a/plain.conf` was staged.
        fs::write(dir.join("c"), "in the way").unwrap();
        b.add("c/inside.conf", "cannot be staged");
        let err = write(&lock, &b, false).unwrap_err();
        assert!(matches!(err, OutputError::Io { .. }), "{err}");
        assert_eq!(temp_files(&dir), Vec::<String>::new());
        assert!(!dir.join("a/plain.conf").exists() && !dir.join(state::DIR).exists());
    }

    #[test]
    fn failed_rename_deletes_the_remaining_temp_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        // A non-empty folder where the first file goes: its rename fails.
        fs::create_dir_all(dir.join("busy/inside")).unwrap();
        let staged = vec![
            (write_temp(&dir.join("busy"), b"1", 0o644).unwrap(), dir.join("busy")),
            (write_temp(&dir.join("next"), b"2", 0o600).unwrap(), dir.join("next")),
        ];
        assert_eq!(temp_files(dir).len(), 2);
        assert!(commit(staged).is_err());
        assert_eq!(temp_files(dir), Vec::<String>::new());
        assert!(!dir.join("next").exists());
    }

    #[test]
    fn temp_files_have_the_final_mode_and_unique_names() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("f.env");
        let (a, b) = (write_temp(&target, b"a", 0o640).unwrap(), write_temp(&target, b"b", 0o640).unwrap());
        assert_ne!(a.path(), b.path());
        assert_eq!(fs::metadata(a.path()).unwrap().permissions().mode() & 0o7777, 0o640);
        drop((a, b));
        assert_eq!(temp_files(tmp.path()), Vec::<String>::new());
    }

    #[test]
    fn write_single_never_replaces_unless_asked() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("answers.yaml");
        write_single(&path, "one", 0o644, false).unwrap();
        assert!(matches!(write_single(&path, "two", 0o644, false), Err(OutputError::Exists(_))));
        write_single(&path, "three", 0o600, true).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "three");
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o7777, 0o600);
        assert_eq!(temp_files(tmp.path()), Vec::<String>::new());
    }

    #[test]
    fn the_lock_is_exclusive_and_released_on_drop() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("new/out");
        let held = DirLock::acquire(&dir).unwrap();
        // A second open of the lock file, as another process would do, cannot take it.
        let err = DirLock::acquire_within(&dir, Duration::from_millis(200)).unwrap_err();
        assert!(matches!(err, OutputError::Locked { .. }), "{err}");
        assert!(err.to_string().contains("another mercure-setup run"), "{err}");
        // A waiting run gets the lock once the holder is done.
        let waiter = std::thread::spawn({
            let dir = dir.clone();
            move || DirLock::acquire_within(&dir, Duration::from_secs(10)).map(drop)
        });
        std::thread::sleep(Duration::from_millis(150));
        drop(held);
        waiter.join().unwrap().unwrap();
        DirLock::acquire_within(&dir, Duration::ZERO).unwrap();
    }

    #[test]
    fn a_folder_made_by_a_run_that_wrote_nothing_is_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("new");
        drop(DirLock::acquire(&dir).unwrap());
        assert!(!dir.exists());
        let lock = DirLock::acquire(&dir).unwrap();
        write(&lock, &bundle("one"), false).unwrap();
        drop(lock);
        assert!(dir.join("a/plain.conf").exists());
        // An existing folder is never removed.
        drop(DirLock::acquire(&dir).unwrap());
        assert!(dir.exists());
    }

    #[test]
    fn reading_runs_lock_only_existing_state() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("out");
        assert!(DirLock::acquire_existing(&dir).unwrap().is_none());
        assert!(!dir.exists());
        fs::create_dir_all(dir.join(state::DIR)).unwrap();
        assert!(DirLock::acquire_existing(&dir).unwrap().is_some());
    }

    #[test]
    fn dry_run_hides_secrets() {
        let tmp = tempfile::tempdir().unwrap();
        let report = dry_run_report(&compare(tmp.path(), &bundle("x")).unwrap(), &bundle("x"));
        assert!(report.contains("+x"));
        assert!(!report.contains("KEY=1"));
        assert!(!tmp.path().join("a").exists());
    }
}
