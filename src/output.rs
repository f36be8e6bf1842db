//! Writing a bundle to its folder: the only module that writes files.
//!
//! Writes are atomic (temp file with its final mode, then rename), files edited by
//! hand since the last render are kept unless forced, and a manifest of hashes in
//! `.state/manifest.json` tells generated content from hand edits.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::bundle::Bundle;
use crate::secrets::paths;

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
    let path = dir.join(paths::MANIFEST);
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
            Some(_) if rel.starts_with(&format!("{}/", paths::DIR)) => Status::Updated,
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
    if rel_dir.is_empty() || rel_dir == paths::DIR || bundle.dir_holds_secret(rel_dir) { 0o700 } else { 0o755 }
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
    rel_dirs.push(paths::DIR.to_string());
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

fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.mercure-setup-tmp"))
}

/// Writes `contents` to a temp file beside `path` with `mode` already set.
fn write_temp(path: &Path, contents: &[u8], mode: u32) -> Result<PathBuf, OutputError> {
    let tmp = temp_path(path);
    let _ = fs::remove_file(&tmp);
    let mut f = fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(&tmp).map_err(io(&tmp))?;
    // The umask may have cleared bits of `mode`; set it exactly before the rename.
    f.set_permissions(fs::Permissions::from_mode(mode)).map_err(io(&tmp))?;
    f.write_all(contents).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    Ok(tmp)
}

/// Writes the bundle. Without `force`, fails before writing anything if a file was
/// edited by hand. Returns what happened to each file.
pub fn write(dir: &Path, bundle: &Bundle, force: bool) -> Result<Vec<Change>, OutputError> {
    let changes = compare(dir, bundle)?;
    let edited: Vec<String> =
        changes.iter().filter(|c| c.status == Status::HandEdited).map(|c| c.path.clone()).collect();
    if !edited.is_empty() && !force {
        return Err(OutputError::HandEdited(edited));
    }
    make_dirs(dir, bundle)?;

    let mut manifest = read_manifest(dir)?;
    manifest.version = 1;
    let mut staged = Vec::new();
    let mut stage = |rel: &str, contents: &[u8], mode: u32| -> Result<(), OutputError> {
        let path = dir.join(rel);
        let tmp = write_temp(&path, contents, mode)?;
        staged.push((tmp, path));
        Ok(())
    };
    let mut result = Ok(());
    for c in &changes {
        let file = &bundle.files[&c.path];
        manifest.files.insert(c.path.clone(), sha256_hex(file.contents.as_bytes()));
        if c.status != Status::Unchanged {
            result = stage(&c.path, file.contents.as_bytes(), file.mode);
            if result.is_err() {
                break;
            }
        }
    }
    if result.is_ok() {
        let json = serde_json::to_string_pretty(&manifest).unwrap_or_default();
        result = stage(paths::MANIFEST, json.as_bytes(), 0o600);
    }
    if let Err(e) = result {
        for (tmp, _) in &staged {
            let _ = fs::remove_file(tmp);
        }
        return Err(e);
    }
    for (tmp, path) in &staged {
        fs::rename(tmp, path).map_err(io(path))?;
    }
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
    for c in changes.iter().filter(|c| !c.path.starts_with(&format!("{}/", paths::DIR))) {
        let _ = writeln!(text, "  {:<16} {:04o} {}", c.status.label(), c.mode, c.path);
    }
    for path in stale {
        let _ = writeln!(text, "  no longer generated, left in place: {path}");
    }
    let _ = writeln!(text, "next: follow {}", dir.join("INSTALL.md").display());
    text
}

/// Writes one file atomically (used for `init --output`); refuses to replace an
/// existing file unless `overwrite`.
pub fn write_single(path: &Path, contents: &str, mode: u32, overwrite: bool) -> Result<(), OutputError> {
    if path.exists() && !overwrite {
        return Err(OutputError::Exists(path.display().to_string()));
    }
    let tmp = write_temp(path, contents.as_bytes(), mode)?;
    fs::rename(&tmp, path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io(path)(e)
    })
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

    #[test]
    fn writes_modes_and_detects_hand_edits() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("out");
        let changes = write(&dir, &bundle("one"), false).unwrap();
        assert!(changes.iter().all(|c| c.status == Status::New));
        let mode = |p: &str| fs::metadata(dir.join(p)).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode("s/secret.env"), 0o600);
        assert_eq!(mode("s"), 0o700);
        assert_eq!(mode(".state"), 0o700);
        assert_eq!(mode("a/plain.conf"), 0o644);

        let changes = write(&dir, &bundle("two"), false).unwrap();
        assert_eq!(changes[0].status, Status::Updated);

        fs::write(dir.join("a/plain.conf"), "mine\n").unwrap();
        let err = write(&dir, &bundle("three"), false).unwrap_err();
        assert!(err.to_string().contains("a/plain.conf"), "{err}");
        assert_eq!(fs::read_to_string(dir.join("a/plain.conf")).unwrap(), "mine\n");
        write(&dir, &bundle("three"), true).unwrap();
        assert_eq!(fs::read_to_string(dir.join("a/plain.conf")).unwrap(), "three\n");
        let leftovers: Vec<_> = fs::read_dir(dir.join("a")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(leftovers.len(), 1, "temp files left: {leftovers:?}");
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
