//! Writing a bundle into its locked folder. A render commits in one step: all state
//! (secrets, certificates, the manifest) is written to a fresh `.state.new-*` folder
//! that one `renameat2(RENAME_EXCHANGE)` swaps with `.state`, so a crash at any moment
//! leaves either the old or the new set. The other files are staged as temp files
//! beforehand and renamed into place after that switch; the manifest accepts their old
//! and new contents, so a crash between the renames never reads as a hand edit.
//! Leftovers of an interrupted run are removed (and reported) by the next one.

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use super::lock::DirLock;
use super::manifest::{FileChange, FileStatus, RenderManifest, compare, read_manifest};
use super::read::refuse_symlinks;
use super::{OutputError, STATE_NEW_PREFIX, TEMP_SUFFIX, io, kind_of};
use crate::bundle::paths::{self, state};
use crate::bundle::{Bundle, sha256_hex};

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
pub(super) fn write_temp(path: &Path, contents: &[u8], mode: u32) -> Result<tempfile::NamedTempFile, OutputError> {
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
pub(super) fn commit(staged: Vec<(tempfile::NamedTempFile, PathBuf)>) -> Result<(), OutputError> {
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
fn build_state(dir: &Path, bundle: &Bundle, manifest: &RenderManifest) -> Result<tempfile::TempDir, OutputError> {
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
pub fn write(lock: &DirLock, bundle: &Bundle, force: bool) -> Result<Vec<FileChange>, OutputError> {
    let dir = lock.dir();
    let changes = compare(dir, bundle)?;
    let edited: Vec<String> =
        changes.iter().filter(|c| c.status == FileStatus::HandEdited).map(|c| c.path.clone()).collect();
    if !edited.is_empty() && !force {
        return Err(OutputError::HandEdited(edited));
    }
    make_dirs(dir, bundle)?;

    let old = read_manifest(dir)?;
    let mut manifest = RenderManifest { version: 1, ..RenderManifest::default() };
    let mut staged: Vec<(tempfile::NamedTempFile, PathBuf)> = Vec::new();
    for c in &changes {
        let file = &bundle.files[&c.path];
        manifest.files.insert(c.path.clone(), sha256_hex(file.contents.as_bytes()));
        if paths::is_state(&c.path) {
            continue;
        }
        if let Some(current) = &c.current
            && c.status != FileStatus::Unchanged
        {
            manifest.previous.insert(c.path.clone(), sha256_hex(current.as_bytes()));
        } else if c.status != FileStatus::Unchanged
            && let Some(h) = old.files.get(&c.path)
        {
            manifest.previous.insert(c.path.clone(), h.clone());
        }
        if c.status != FileStatus::Unchanged {
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
    for c in changes.iter().filter(|c| c.status == FileStatus::Unchanged && !paths::is_state(&c.path)) {
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
pub fn write_summary(dir: &Path, changes: &[FileChange], stale: &[String]) -> String {
    let count = |s: FileStatus| changes.iter().filter(|c| c.status == s).count();
    let mut text = format!(
        "wrote {}: {} new, {} updated, {} unchanged{}\n",
        dir.display(),
        count(FileStatus::New),
        count(FileStatus::Updated),
        count(FileStatus::Unchanged),
        match count(FileStatus::HandEdited) {
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
    // The commands themselves, in order: a newcomer copies them (INSTALL.md has the why).
    let d = dir.display();
    let _ = writeln!(text, "next: mercure-setup check {d}");
    let _ = writeln!(text, "      sudo mercure-setup apply {d} --dry-run");
    let _ = writeln!(
        text,
        "      sudo mercure-setup apply {d} --certbot EMAIL   (every step: {})",
        dir.join(paths::INSTALL).display()
    );
    text
}

/// Writes one file atomically (used for `init --out`); refuses to replace an
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
