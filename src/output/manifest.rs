//! What the last render wrote (`.state/manifest.json`: each file's SHA-256), and each
//! bundle file compared with the folder: new, unchanged, generated and replaceable,
//! or edited by hand.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::OutputError;
use super::read::{READ_CAP, read_regular, refuse_symlinks};
use crate::bundle::paths::{self, state};
use crate::bundle::{Bundle, sha256_hex};

/// What happens to one bundle file when it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileStatus {
    New,
    Unchanged,
    /// Generated before and not touched since: replaced.
    Updated,
    /// Changed since the last render, or there before mercure-setup: kept without --force.
    HandEdited,
}

impl FileStatus {
    pub fn label(self) -> &'static str {
        match self {
            FileStatus::New => "new",
            FileStatus::Unchanged => "unchanged",
            FileStatus::Updated => "updated",
            FileStatus::HandEdited => "edited by hand",
        }
    }
}

/// One file of the bundle compared with what the folder holds.
#[derive(Debug, Clone)]
pub struct FileChange {
    pub path: String,
    pub status: FileStatus,
    pub mode: u32,
    pub secret: bool,
    /// The folder's current contents, when the file exists and is text.
    pub current: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct RenderManifest {
    pub(super) version: u32,
    /// Relative path -> SHA-256 of the contents last written.
    pub(super) files: BTreeMap<String, String>,
    /// Relative path -> SHA-256 of what the file held before the last render changed
    /// it: a crash between that render's renames can leave either.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) previous: BTreeMap<String, String>,
}

impl RenderManifest {
    fn generated(&self, rel: &str, hash: &str) -> bool {
        self.files.get(rel).is_some_and(|h| h == hash) || self.previous.get(rel).is_some_and(|h| h == hash)
    }
}

pub(super) fn read_manifest(dir: &Path) -> Result<RenderManifest, OutputError> {
    let path = dir.join(state::MANIFEST);
    refuse_symlinks(dir, state::MANIFEST)?;
    match read_regular(&path, READ_CAP)? {
        Some(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| OutputError::Manifest { path: path.display().to_string(), detail: e.to_string() }),
        None => Ok(RenderManifest::default()),
    }
}

/// Compares every bundle file with the folder, in path order. Refuses symlinks on
/// any bundle path and anything but regular files where the bundle puts files.
pub fn compare(dir: &Path, bundle: &Bundle) -> Result<Vec<FileChange>, OutputError> {
    refuse_symlinks(dir, state::DIR)?;
    let manifest = read_manifest(dir)?;
    let mut out = Vec::new();
    for (rel, file) in &bundle.files {
        refuse_symlinks(dir, rel)?;
        let current = read_regular(&dir.join(rel), READ_CAP)?;
        let status = match &current {
            None => FileStatus::New,
            Some(bytes) if bytes == file.contents.as_bytes() => FileStatus::Unchanged,
            // State was read at the start of this run and is written back from what was
            // read (or renewed), so changes there were already taken into account.
            Some(_) if paths::is_state(rel) => FileStatus::Updated,
            Some(bytes) if manifest.generated(rel, &sha256_hex(bytes)) => FileStatus::Updated,
            Some(_) => FileStatus::HandEdited,
        };
        out.push(FileChange {
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
pub fn dry_run_report(changes: &[FileChange], bundle: &Bundle) -> String {
    let mut out = String::new();
    for c in changes {
        let _ = writeln!(out, "{:<16} {:04o} {}", c.status.label(), c.mode, c.path);
    }
    for c in changes.iter().filter(|c| !matches!(c.status, FileStatus::Unchanged)) {
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
