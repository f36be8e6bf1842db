//! Writing a bundle to its folder: the only module that writes files.
//!
//! Writes are atomic (a uniquely named temp file beside the target, with its final
//! mode, then rename; deleted on any error), files edited by hand since the last
//! render are kept unless forced, and a manifest of hashes in `.state/manifest.json`
//! tells generated content from hand edits.
//!
//! A run that writes a folder holds [`DirLock`] (`.state/lock`) from before it reads
//! the stored secrets until the manifest is renamed, so two runs into one folder take
//! turns instead of mixing their files.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
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
        "{dir} is being written by another mercure-setup run (it holds {lock}); waited {waited}s. \
         Run again when it has finished (a crashed run holds no lock)"
    )]
    Locked { dir: String, lock: String, waited: u64 },
}

/// How long [`DirLock::acquire`] waits for another run to finish with the folder.
/// A render holds the lock for well under a second (key generation and a few small
/// files), so waiting makes two concurrent runs simply take turns; the limit only
/// matters when the other run is stuck, and then a clear error beats hanging.
pub const LOCK_WAIT: Duration = Duration::from_secs(10);

/// An exclusive lock on an output folder (`DIR/.state/lock`, `flock`-style through
/// [`fs::File::try_lock`]). Held from before the stored state is read until the
/// bundle is written; released when dropped, and by the OS when the process dies,
/// so a crash never leaves the folder locked. The lock file is never part of a bundle
/// (not in the manifest, never reported as stale or hand-edited) and is left in place.
#[derive(Debug)]
pub struct DirLock {
    dir: PathBuf,
    _file: fs::File,
}

impl DirLock {
    /// Creates `dir` and `dir/.state` (0700) when missing and takes the lock, waiting
    /// up to [`LOCK_WAIT`] for another run holding it.
    pub fn acquire(dir: &Path) -> Result<DirLock, OutputError> {
        DirLock::acquire_within(dir, LOCK_WAIT)
    }

    /// [`DirLock::acquire`] with a chosen wait.
    pub fn acquire_within(dir: &Path, wait: Duration) -> Result<DirLock, OutputError> {
        if !dir.exists() {
            fs::create_dir_all(dir).map_err(io(dir))?;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io(dir))?;
        }
        let state_dir = dir.join(state::DIR);
        match fs::DirBuilder::new().mode(0o700).create(&state_dir) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(io(&state_dir)(e)),
            _ => {}
        }
        let path = dir.join(state::LOCK);
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(io(&path))?;
        let start = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(DirLock { dir: dir.to_path_buf(), _file: file }),
                Err(fs::TryLockError::WouldBlock) if start.elapsed() < wait => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(fs::TryLockError::WouldBlock) => {
                    return Err(OutputError::Locked {
                        dir: dir.display().to_string(),
                        lock: path.display().to_string(),
                        waited: wait.as_secs(),
                    });
                }
                Err(fs::TryLockError::Error(e)) => return Err(io(&path)(e)),
            }
        }
    }

    /// Takes the lock only when `dir/.state` already exists (creating nothing else):
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
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> OutputError + '_ {
    move |source| OutputError::Io { path: path.display().to_string(), source }
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
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data).iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn read_manifest(dir: &Path) -> Result<Manifest, OutputError> {
    let path = dir.join(state::MANIFEST);
    match fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map_err(|e| OutputError::Manifest { path: path.display().to_string(), detail: e.to_string() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest::default()),
        Err(e) => Err(io(&path)(e)),
    }
}

/// Compares every bundle file with the folder, in path order.
pub fn compare(dir: &Path, bundle: &Bundle) -> Result<Vec<Change>, OutputError> {
    let manifest = read_manifest(dir)?;
    let mut out = Vec::new();
    for (rel, file) in &bundle.files {
        let path = dir.join(rel);
        let current = match fs::read(&path) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io(&path)(e)),
        };
        let status = match &current {
            None => Status::New,
            Some(bytes) if bytes == file.contents.as_bytes() => Status::Unchanged,
            // State was read at the start of this run and is written back from what was
            // read (or renewed), so changes there were already taken into account.
            Some(_) if paths::is_state(rel) => Status::Updated,
            Some(bytes) if manifest.files.get(rel).is_some_and(|h| *h == sha256_hex(bytes)) => Status::Updated,
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
    Ok(manifest.files.keys().filter(|p| !bundle.files.contains_key(*p) && dir.join(p).exists()).cloned().collect())
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

/// Creates `dir` and the bundle's sub-folders; folders holding secrets become 0700.
fn make_dirs(dir: &Path, bundle: &Bundle) -> Result<(), OutputError> {
    if !dir.exists() {
        fs::create_dir_all(dir).map_err(io(dir))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(dir_mode(bundle, ""))).map_err(io(dir))?;
    }
    let mut rel_dirs: Vec<String> = bundle
        .files
        .keys()
        .flat_map(|p| {
            let parts: Vec<&str> = p.split('/').collect();
            (1..parts.len()).map(move |n| parts[..n].join("/"))
        })
        .collect();
    // The manifest lives in .state even when the bundle carries no other state.
    rel_dirs.push(state::DIR.to_string());
    rel_dirs.sort();
    rel_dirs.dedup();
    for rel in rel_dirs {
        let path = dir.join(&rel);
        if !path.exists() {
            fs::create_dir(&path).map_err(io(&path))?;
        }
        let mode = dir_mode(bundle, &rel);
        if mode == 0o700 {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).map_err(io(&path))?;
        }
    }
    Ok(())
}

/// Writes `contents` to a new, uniquely named temp file beside `path` (so the rename
/// stays on one file system), with exactly `mode` set before anything is written.
/// Dropping the result deletes the temp file: every error path cleans up by itself.
fn write_temp(path: &Path, contents: &[u8], mode: u32) -> Result<tempfile::NamedTempFile, OutputError> {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // Created 0600 by tempfile; a dot name so a crash leftover is hidden and recognisable.
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".mercure-setup-tmp")
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

/// Writes the bundle into the locked folder. Without `force`, fails before writing
/// anything if a file was edited by hand. Returns what happened to each file.
///
/// Every changed file is first written to a temp file; only when all of them (and
/// the manifest) are ready are they renamed into place, the manifest last. On any
/// error the temp files not yet renamed are deleted.
pub fn write(lock: &DirLock, bundle: &Bundle, force: bool) -> Result<Vec<Change>, OutputError> {
    let dir = lock.dir();
    let changes = compare(dir, bundle)?;
    let edited: Vec<String> =
        changes.iter().filter(|c| c.status == Status::HandEdited).map(|c| c.path.clone()).collect();
    if !edited.is_empty() && !force {
        return Err(OutputError::HandEdited(edited));
    }
    make_dirs(dir, bundle)?;

    let mut manifest = read_manifest(dir)?;
    manifest.version = 1;
    let mut staged: Vec<(tempfile::NamedTempFile, PathBuf)> = Vec::new();
    for c in &changes {
        let file = &bundle.files[&c.path];
        manifest.files.insert(c.path.clone(), sha256_hex(file.contents.as_bytes()));
        if c.status != Status::Unchanged {
            let path = dir.join(&c.path);
            // On error, `staged` is dropped and its temp files deleted.
            staged.push((write_temp(&path, file.contents.as_bytes(), file.mode)?, path));
        }
    }
    let json = serde_json::to_string_pretty(&manifest).unwrap_or_default();
    let manifest_path = dir.join(state::MANIFEST);
    staged.push((write_temp(&manifest_path, json.as_bytes(), 0o600)?, manifest_path));
    commit(staged)?;
    // Unchanged files keep their contents but get the mode the bundle asks for.
    for c in changes.iter().filter(|c| c.status == Status::Unchanged) {
        let path = dir.join(&c.path);
        let meta = fs::metadata(&path).map_err(io(&path))?;
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
        assert_eq!(mode(".state/lock"), 0o600);
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
        // The lock file is the folder's, not the bundle's: not in the manifest, not stale.
        assert!(!read_manifest(&dir).unwrap().files.contains_key(state::LOCK));
        assert_eq!(stale_files(&dir, &bundle("x")).unwrap(), Vec::<String>::new());
        assert_eq!(
            all_files(&dir),
            [".state/lock", ".state/manifest.json", "a/plain.conf", "s/secret.env"].map(String::from)
        );
    }

    #[test]
    fn failed_staging_leaves_no_temp_file_and_writes_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("out");
        let lock = DirLock::acquire(&dir).unwrap();
        let mut b = bundle("one");
        // A valid name whose temp name (".NAME.XXXXXX.mercure-setup-tmp") is too long:
        // staging fails after `a/plain.conf` was staged.
        b.add(format!("b/{}", "x".repeat(240)), "too long to stage");
        let err = write(&lock, &b, false).unwrap_err();
        assert!(matches!(err, OutputError::Io { .. }), "{err}");
        assert_eq!(temp_files(&dir), Vec::<String>::new());
        assert!(!dir.join("a/plain.conf").exists() && !dir.join(state::MANIFEST).exists());
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
