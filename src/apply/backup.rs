//! Backups: before `apply` changes a path, its previous state (contents, kind, mode,
//! owner, hash) is saved under `/var/lib/mercure-setup/backups/TIMESTAMP/` with a
//! manifest, together with which services were active. `restore` puts every path
//! back as it was, including removing what did not exist before.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::install_plan::steps::Services;
use sha2::{Digest as _, Sha256};

/// Where backups live, relative to the root.
pub const BACKUPS_DIR: &str = "var/lib/mercure-setup/backups";
const MANIFEST: &str = "manifest.json";

/// What a path was before `apply` touched it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Before {
    Absent,
    File { mode: u32, uid: u32, gid: u32, sha256: String, saved: String },
    Dir { mode: u32, uid: u32, gid: u32 },
    Symlink { target: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The absolute path on the machine (without the `--root` prefix).
    pub path: String,
    pub before: Before,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub timestamp: String,
    pub bundle: String,
    pub tool_version: String,
    /// The services' state before the change, restored on rollback.
    pub services: Services,
    /// Whether this apply created the hub's system user.
    pub created_user: Option<String>,
    pub entries: Vec<Entry>,
}

/// A backup folder being filled.
pub struct Backup {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    Sha256::digest(bytes).iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// `path` (absolute) under `root`.
pub fn under(root: &Path, path: &str) -> PathBuf {
    root.join(path.trim_start_matches('/'))
}

/// A UTC timestamp for a folder name, e.g. `20261202T051500Z`.
pub fn timestamp_now() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}

impl Backup {
    /// Creates `BACKUPS_DIR/TIMESTAMP` (with a suffix if it exists), mode 0700: it holds secrets.
    pub fn create(root: &Path, bundle: &str, services: Services) -> io::Result<Backup> {
        let base = under(root, BACKUPS_DIR);
        fs::create_dir_all(&base)?;
        fs::set_permissions(&base, fs::Permissions::from_mode(0o700))?;
        let stamp = timestamp_now();
        let (dir, timestamp) = (0..100)
            .map(|n| if n == 0 { stamp.clone() } else { format!("{stamp}-{n}") })
            .find_map(|t| {
                let d = base.join(&t);
                fs::create_dir(&d).ok().map(|()| (d, t))
            })
            .ok_or_else(|| io::Error::other("cannot create a backup folder"))?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;
        let manifest = Manifest {
            timestamp,
            bundle: bundle.into(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            services,
            created_user: None,
            entries: Vec::new(),
        };
        let b = Backup { dir, manifest };
        b.save()?;
        Ok(b)
    }

    /// Records `path`'s current state (once) and saves the manifest before the change is made.
    pub fn record(&mut self, root: &Path, path: &str) -> io::Result<()> {
        if self.manifest.entries.iter().any(|e| e.path == path) {
            return Ok(());
        }
        let real = under(root, path);
        let before = match fs::symlink_metadata(&real) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Before::Absent,
            Err(e) => return Err(e),
            Ok(m) if m.file_type().is_symlink() => {
                Before::Symlink { target: fs::read_link(&real)?.to_string_lossy().into_owned() }
            }
            Ok(m) if m.is_dir() => Before::Dir { mode: m.mode() & 0o7777, uid: m.uid(), gid: m.gid() },
            Ok(m) => {
                let bytes = fs::read(&real)?;
                let saved = format!("files/{}", self.manifest.entries.len());
                let dest = self.dir.join(&saved);
                fs::create_dir_all(self.dir.join("files"))?;
                fs::write(&dest, &bytes)?;
                fs::set_permissions(&dest, fs::Permissions::from_mode(0o600))?;
                Before::File { mode: m.mode() & 0o7777, uid: m.uid(), gid: m.gid(), sha256: sha256_hex(&bytes), saved }
            }
        };
        self.manifest.entries.push(Entry { path: path.into(), before });
        self.save()
    }

    pub fn save(&self) -> io::Result<()> {
        let text = serde_json::to_string_pretty(&self.manifest).map_err(io::Error::other)?;
        let tmp = self.dir.join(".manifest.tmp");
        fs::write(&tmp, text + "\n")?;
        fs::rename(tmp, self.dir.join(MANIFEST))
    }
}

/// Reads a backup: the named one, or the newest.
pub fn load(root: &Path, timestamp: Option<&str>) -> Result<(PathBuf, Manifest), String> {
    let base = under(root, BACKUPS_DIR);
    let name = match timestamp {
        Some(t) => {
            if t.contains('/') || t.starts_with('.') {
                return Err(format!("`{t}` is not a backup name"));
            }
            t.to_string()
        }
        None => {
            let mut names: Vec<String> = fs::read_dir(&base)
                .map_err(|e| format!("no backups in {}: {e}", base.display()))?
                .filter_map(Result::ok)
                .filter(|e| e.path().join(MANIFEST).is_file())
                .filter_map(|e| e.file_name().into_string().ok())
                .collect();
            names.sort();
            names.pop().ok_or_else(|| format!("no backups in {}", base.display()))?
        }
    };
    let dir = base.join(&name);
    let text = fs::read_to_string(dir.join(MANIFEST)).map_err(|e| format!("backup {name}: {e}"))?;
    let manifest = serde_json::from_str(&text).map_err(|e| format!("backup {name}: bad manifest: {e}"))?;
    Ok((dir, manifest))
}

/// Puts every recorded path back, last change first; returns the paths restored.
/// `chown` is false under `--root`, where owners are not set.
pub fn restore(root: &Path, dir: &Path, manifest: &Manifest, chown: bool) -> Result<Vec<String>, String> {
    let mut done = Vec::new();
    for entry in manifest.entries.iter().rev() {
        let real = under(root, &entry.path);
        let fail = |e: io::Error| format!("restoring {}: {e}", entry.path);
        let current = fs::symlink_metadata(&real).ok();
        match &entry.before {
            Before::Absent => match current {
                Some(m) if m.is_dir() => {
                    // Only an empty folder goes: anything in it was not ours to remove.
                    let _ = fs::remove_dir(&real);
                }
                Some(_) => fs::remove_file(&real).map_err(fail)?,
                None => {}
            },
            Before::Symlink { target } => {
                if current.is_some() {
                    remove_any(&real).map_err(fail)?;
                }
                std::os::unix::fs::symlink(target, &real).map_err(fail)?;
            }
            Before::Dir { mode, uid, gid } => {
                if current.as_ref().is_some_and(|m| !m.is_dir()) {
                    remove_any(&real).map_err(fail)?;
                }
                fs::create_dir_all(&real).map_err(fail)?;
                set_meta(&real, *mode, *uid, *gid, chown).map_err(fail)?;
            }
            Before::File { mode, uid, gid, sha256, saved } => {
                let bytes = fs::read(dir.join(saved)).map_err(fail)?;
                if sha256_hex(&bytes) != *sha256 {
                    return Err(format!("backup copy of {} does not match its hash", entry.path));
                }
                if current.as_ref().is_some_and(|m| m.is_dir() || m.file_type().is_symlink()) {
                    remove_any(&real).map_err(fail)?;
                }
                let tmp = real.with_file_name(format!(
                    ".{}.mercure-setup-restore",
                    real.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
                ));
                fs::write(&tmp, &bytes).map_err(fail)?;
                set_meta(&tmp, *mode, *uid, *gid, chown).map_err(fail)?;
                fs::rename(&tmp, &real).map_err(fail)?;
            }
        }
        done.push(entry.path.clone());
    }
    Ok(done)
}

fn remove_any(p: &Path) -> io::Result<()> {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(p),
        Ok(_) => fs::remove_file(p),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Sets mode (and owner, when `chown`).
pub fn set_meta(p: &Path, mode: u32, uid: u32, gid: u32, chown: bool) -> io::Result<()> {
    if chown {
        std::os::unix::fs::chown(p, Some(uid), Some(gid))?;
    }
    fs::set_permissions(p, fs::Permissions::from_mode(mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_and_restore_every_kind() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        fs::create_dir_all(r.join("etc/a")).unwrap();
        fs::write(r.join("etc/a/file"), "old").unwrap();
        fs::set_permissions(r.join("etc/a/file"), fs::Permissions::from_mode(0o640)).unwrap();
        std::os::unix::fs::symlink("x", r.join("etc/a/link")).unwrap();
        let mut b = Backup::create(r, "/b", Services::default()).unwrap();
        for p in ["/etc/a/file", "/etc/a/link", "/etc/a/new", "/etc/a/newdir", "/etc/a"] {
            b.record(r, p).unwrap();
        }
        // The change.
        fs::write(r.join("etc/a/file"), "new").unwrap();
        fs::set_permissions(r.join("etc/a/file"), fs::Permissions::from_mode(0o600)).unwrap();
        fs::remove_file(r.join("etc/a/link")).unwrap();
        std::os::unix::fs::symlink("y", r.join("etc/a/link")).unwrap();
        fs::write(r.join("etc/a/new"), "n").unwrap();
        fs::create_dir(r.join("etc/a/newdir")).unwrap();

        let (dir, m) = load(r, None).unwrap();
        assert_eq!(m, b.manifest);
        let restored = restore(r, &dir, &m, false).unwrap();
        assert_eq!(restored.len(), 5);
        assert_eq!(fs::read_to_string(r.join("etc/a/file")).unwrap(), "old");
        assert_eq!(fs::metadata(r.join("etc/a/file")).unwrap().mode() & 0o777, 0o640);
        assert_eq!(fs::read_link(r.join("etc/a/link")).unwrap(), Path::new("x"));
        assert!(!r.join("etc/a/new").exists() && !r.join("etc/a/newdir").exists());
        assert!(load(r, Some("../x")).is_err());
    }
}
