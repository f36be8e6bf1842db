//! Backups: before `apply` changes a path, its previous state (contents, kind, mode,
//! owner, hash) is saved under `/var/lib/mercure-setup/backups/TIMESTAMP/` with a
//! manifest, together with which services were active. `restore` puts every path
//! back as it was, including removing what did not exist before. Both go through
//! `beneath`'s descriptors: a backup read or restored never follows a link, and a
//! manifest naming a path outside the root or a copy outside the backup is refused.

use std::io;

use super::beneath::{self, Dir, Kind, Root};

use serde::{Deserialize, Serialize};

use crate::bundle::sha256_hex;
use crate::install_plan::steps::Services;
use crate::output::READ_CAP;

/// Where backups live, relative to the root.
pub const BACKUPS_DIR: &str = "/var/lib/mercure-setup/backups";
/// The folder of apply's own records (backups, installed hashes, the lock), relative to the root.
pub const STATE_DIR: &str = "/var/lib/mercure-setup";
/// Root's alone, closed to others: nothing in it is theirs to read, and a scratch file
/// appearing there would tell them when apply is between its steps.
pub const STATE_DIR_MODE: u32 = 0o700;
/// Largest hub binary apply reads or backs up (the release binary is about 50 MB);
/// every other path is capped at [`READ_CAP`], configuration files being a few kilobytes.
pub const BINARY_CAP: u64 = 512 << 20;
const MANIFEST: &str = "manifest.json";
const FILES: &str = "files";

/// What a path was before `apply` touched it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Before {
    Absent,
    File {
        mode: u32,
        uid: u32,
        gid: u32,
        sha256: String,
        saved: String,
    },
    /// `id`: the folder's (device, inode) when recorded; its mode and owner go back only
    /// to that folder, never to one put at its name since.
    Dir {
        mode: u32,
        uid: u32,
        gid: u32,
        #[serde(default)]
        id: Option<(u64, u64)>,
    },
    Symlink {
        target: String,
    },
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

/// A backup folder being filled.
pub struct Backup {
    pub dir: Dir,
    files: Dir,
    pub manifest: Manifest,
}

impl Backup {
    /// Creates `BACKUPS_DIR/TIMESTAMP` (with a suffix if it exists), mode 0700: it holds secrets.
    pub fn create(root: &Root, bundle: &str, services: Services) -> io::Result<Backup> {
        let lib = root.make_dir(STATE_DIR, STATE_DIR_MODE)?;
        let base = lib.make_sub("backups", 0o700)?;
        base.set_meta(0o700, None)?;
        let stamp = timestamp_now();
        let mut found = None;
        for n in 0..100 {
            let t = if n == 0 { stamp.clone() } else { format!("{stamp}-{n}") };
            if let Some(d) = base.new_sub(&t, 0o700)? {
                found = Some((d, t));
                break;
            }
        }
        let (dir, timestamp) = found.ok_or_else(|| io::Error::other("cannot create a backup folder"))?;
        let files = dir.make_sub(FILES, 0o700)?;
        let manifest = Manifest {
            timestamp,
            bundle: bundle.into(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            services,
            created_user: None,
            entries: Vec::new(),
        };
        let b = Backup { dir, files, manifest };
        b.save()?;
        Ok(b)
    }

    /// Where the backup is, for messages.
    pub fn shown(&self) -> String {
        self.dir.shown()
    }

    /// Records `path`'s current state (once) and saves the manifest before the change is made.
    /// Records what is at `path` now; a file larger than `cap` is refused (a project
    /// folder's owner could otherwise fill the disk through the backup).
    pub fn record(&mut self, root: &Root, path: &str, cap: u64) -> io::Result<()> {
        if self.manifest.entries.iter().any(|e| e.path == path) {
            return Ok(());
        }
        let (dir, name) = root.parent(path)?;
        let meta = match &dir {
            Some(d) => d.lstat(name)?,
            None => None,
        };
        let before = match (meta, &dir) {
            (None, _) | (_, None) => Before::Absent,
            (Some(m), Some(d)) => match m.kind {
                Kind::Symlink => Before::Symlink { target: d.read_link(name)? },
                Kind::Dir => Before::Dir { mode: m.mode, uid: m.uid, gid: m.gid, id: Some(m.identity()) },
                Kind::File => {
                    let (bytes, m) =
                        d.read(name, cap)?.ok_or_else(|| io::Error::other(format!("{} vanished", root.show(path))))?;
                    let n = self.manifest.entries.len().to_string();
                    self.files.write(&n, &bytes, 0o600, None)?;
                    let saved = format!("{FILES}/{n}");
                    Before::File { mode: m.mode, uid: m.uid, gid: m.gid, sha256: sha256_hex(&bytes), saved }
                }
                other => {
                    return Err(io::Error::other(format!("{} is {}: not backed up", root.show(path), other.name())));
                }
            },
        };
        self.manifest.entries.push(Entry { path: path.into(), before });
        self.save()
    }

    pub fn save(&self) -> io::Result<()> {
        let text = serde_json::to_string_pretty(&self.manifest).map_err(io::Error::other)?;
        self.dir.write(MANIFEST, format!("{text}\n").as_bytes(), 0o600, None)
    }
}

/// A backup read back: its folder and its checked manifest.
pub struct Loaded {
    pub dir: Dir,
    pub manifest: Manifest,
}

/// Why a backup cannot be read or restored.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The backups folder (or one backup's folder) cannot be opened or listed.
    #[error(transparent)]
    Unreadable(io::Error),
    #[error("no backups in {folder}")]
    NoBackups { folder: String },
    #[error("`{name}` is not a backup name")]
    BadName { name: String },
    #[error("no backup {name}")]
    NotFound { name: String },
    #[error("backup {name}: {source}")]
    ManifestUnreadable { name: String, source: io::Error },
    #[error("backup {name} has no manifest")]
    NoManifest { name: String },
    #[error("backup {name}: bad manifest: {source}")]
    BadManifest { name: String, source: serde_json::Error },
    /// A manifest that fails [`validate`], named.
    #[error("backup {name}: {source}")]
    Invalid { name: String, source: Box<BackupError> },
    #[error("{path:?} is not an absolute path below the root")]
    NotBelowRoot { path: String },
    /// A manifest path with an empty, `.` or `..` component.
    #[error(transparent)]
    NotPlain(io::Error),
    #[error("the copy of {path} is {saved:?}, not a file of the backup")]
    CopyOutside { path: String, saved: String },
    #[error("restoring {path}: {source}")]
    Restoring { path: String, source: io::Error },
    #[error("restoring {path}: another folder was put there since the backup; its mode and owner are left as they are")]
    Replaced { path: String },
    #[error("the backup has no {FILES}/ folder")]
    NoFilesFolder,
    #[error("the backup copy of {path} is missing")]
    CopyMissing { path: String },
    #[error("backup copy of {path} does not match its hash")]
    Tampered { path: String },
}

/// A backup that cannot be read is the user's choice of backup (exit 2); restoring one
/// is reached through [`super::execute::rollback`], whose errors are failures.
impl From<BackupError> for crate::error::Error {
    fn from(e: BackupError) -> Self {
        crate::error::Error::Usage(e.to_string())
    }
}

/// Reads a backup: the named one, or the newest; its manifest must pass [`validate`].
pub fn load(root: &Root, timestamp: Option<&str>) -> Result<Loaded, BackupError> {
    let no_backups = || BackupError::NoBackups { folder: root.show(BACKUPS_DIR) };
    let base = root.dir(BACKUPS_DIR).map_err(BackupError::Unreadable)?.ok_or_else(no_backups)?;
    let name = match timestamp {
        Some(t) => {
            if t.contains('/') || t.starts_with('.') || t.is_empty() {
                return Err(BackupError::BadName { name: t.to_string() });
            }
            t.to_string()
        }
        None => {
            let mut names = base.list().map_err(BackupError::Unreadable)?;
            names.retain(|n| !n.starts_with('.'));
            names.pop().ok_or_else(no_backups)?
        }
    };
    let dir = base
        .sub(&name)
        .map_err(BackupError::Unreadable)?
        .ok_or_else(|| BackupError::NotFound { name: name.clone() })?;
    let (text, _) = dir
        .read(MANIFEST, READ_CAP)
        .map_err(|source| BackupError::ManifestUnreadable { name: name.clone(), source })?
        .ok_or_else(|| BackupError::NoManifest { name: name.clone() })?;
    let manifest: Manifest =
        serde_json::from_slice(&text).map_err(|source| BackupError::BadManifest { name: name.clone(), source })?;
    validate(&manifest).map_err(|e| BackupError::Invalid { name, source: Box::new(e) })?;
    Ok(Loaded { dir, manifest })
}

/// A manifest names only absolute plain paths (no `..`, no `.`, no empty part) and copies
/// inside the backup's own `files/` folder.
pub fn validate(m: &Manifest) -> Result<(), BackupError> {
    for e in &m.entries {
        if !e.path.starts_with('/') || e.path == "/" {
            return Err(BackupError::NotBelowRoot { path: e.path.clone() });
        }
        beneath::components(&e.path).map_err(BackupError::NotPlain)?;
        if let Before::File { saved, .. } = &e.before {
            let n = saved.strip_prefix("files/").unwrap_or_default();
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                return Err(BackupError::CopyOutside { path: e.path.clone(), saved: saved.clone() });
            }
        }
    }
    Ok(())
}

/// What a restore would do to each path, in order (last change first).
pub fn restore_plan(m: &Manifest) -> Vec<String> {
    m.entries
        .iter()
        .rev()
        .map(|e| match &e.before {
            Before::Absent => format!("remove {} (it did not exist)", e.path),
            // The target is whatever the link's maker wrote: shown escaped, never as terminal codes.
            Before::Symlink { target } => format!("link {} -> {}", e.path, super::printable(target)),
            Before::Dir { mode, uid, gid, .. } => format!("folder {} ({uid}:{gid} {:04o})", e.path, KEPT_MODE & mode),
            Before::File { mode, uid, gid, .. } => {
                format!("file {} ({uid}:{gid} {:04o}) from the backup", e.path, KEPT_MODE & mode)
            }
        })
        .collect()
}

/// The mode bits a restore puts back: never set-user-ID, set-group-ID or sticky. What
/// was recorded may be a file the project's owner planted (root's copy of it, under
/// `--root` where owners are not set, would run as root); none of apply's paths needs them.
const KEPT_MODE: u32 = 0o777;

/// What a restore did: the paths put back, and one line per path that could not be.
#[derive(Debug, Default)]
pub struct Restored {
    pub done: Vec<String>,
    pub failed: Vec<String>,
}

/// Puts every recorded path back, last change first. `chown` is false under `--root`,
/// where owners are not set. A path that cannot be restored (say, a folder the project's
/// owner put where a file was) does not stop the others: every other path, the system
/// files among them, is still put back. Err only when the backup itself is unusable.
pub fn restore(root: &Root, backup: &Dir, manifest: &Manifest, chown: bool) -> Result<Restored, BackupError> {
    validate(manifest)?;
    let files = backup.sub(FILES).map_err(BackupError::Unreadable)?;
    let mut r = Restored::default();
    for entry in manifest.entries.iter().rev() {
        match restore_entry(root, files.as_ref(), entry, chown) {
            Ok(()) => r.done.push(entry.path.clone()),
            Err(e) => r.failed.push(e.to_string()),
        }
    }
    Ok(r)
}

/// Puts one recorded path back.
fn restore_entry(root: &Root, files: Option<&Dir>, entry: &Entry, chown: bool) -> Result<(), BackupError> {
    let fail = |source: io::Error| BackupError::Restoring { path: entry.path.clone(), source };
    let (parent, name) = beneath::split(&entry.path).map_err(fail)?;
    let owner = |uid: u32, gid: u32| chown.then_some((uid, gid));
    if entry.before == Before::Absent {
        if let Some(d) = root.dir(parent).map_err(fail)? {
            match d.lstat(name).map_err(fail)? {
                // Only an empty folder goes: anything in it was not ours to remove.
                Some(m) if m.kind == Kind::Dir => {
                    let _ = d.remove(name);
                }
                Some(_) => d.remove(name).map_err(fail)?,
                None => {}
            }
        }
        return Ok(());
    }
    let d = root.make_dir(parent, 0o755).map_err(fail)?;
    let current = d.lstat(name).map_err(fail)?;
    match &entry.before {
        Before::Absent => {}
        Before::Symlink { target } => {
            if current.is_some_and(|m| m.kind == Kind::Dir) {
                d.remove(name).map_err(fail)?;
            }
            d.symlink(name, target).map_err(fail)?;
        }
        Before::Dir { mode, uid, gid, id } => {
            let replaced = || BackupError::Replaced { path: entry.path.clone() };
            // The recorded folder itself, or one made now: never one that appears meanwhile.
            let sub = if current.is_some_and(|m| m.kind == Kind::Dir) {
                let sub = d.sub(name).map_err(fail)?.ok_or_else(replaced)?;
                let now = sub.meta().map_err(fail)?.identity();
                if id.is_some_and(|id| id != now) {
                    return Err(replaced());
                }
                sub
            } else {
                if current.is_some() {
                    d.remove(name).map_err(fail)?;
                }
                d.new_sub(name, 0o700).map_err(fail)?.ok_or_else(replaced)?
            };
            sub.set_meta(KEPT_MODE & *mode, owner(*uid, *gid)).map_err(fail)?;
        }
        Before::File { mode, uid, gid, sha256, saved } => {
            let copy = saved.strip_prefix("files/").unwrap_or_default();
            let bytes = files
                .ok_or(BackupError::NoFilesFolder)?
                .read(copy, BINARY_CAP)
                .map_err(fail)?
                .ok_or_else(|| BackupError::CopyMissing { path: entry.path.clone() })?
                .0;
            if sha256_hex(&bytes) != *sha256 {
                return Err(BackupError::Tampered { path: entry.path.clone() });
            }
            if current.is_some_and(|m| m.kind == Kind::Dir) {
                d.remove(name).map_err(fail)?;
            }
            d.write(name, &bytes, KEPT_MODE & *mode, owner(*uid, *gid)).map_err(fail)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    use std::path::Path;

    /// What a project folder's owner can plant for apply to back up and later restore as
    /// root: a set-user-ID file comes back without the bit, a folder's old mode goes back
    /// only to that folder, a link's target is shown escaped.
    #[test]
    fn a_restore_gives_no_more_than_was_recorded() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        fs::create_dir_all(r.join("p/web")).unwrap();
        fs::write(r.join("p/.env.local"), "planted").unwrap();
        fs::set_permissions(r.join("p/.env.local"), fs::Permissions::from_mode(0o4755)).unwrap();
        fs::set_permissions(r.join("p/web"), fs::Permissions::from_mode(0o777)).unwrap();
        std::os::unix::fs::symlink("\u{1b}[2J", r.join("p/l")).unwrap();
        let staged = Root::open(r).unwrap();
        let mut b = Backup::create(&staged, "/b", Services::default()).unwrap();
        for p in ["/p/.env.local", "/p/web", "/p/l"] {
            b.record(&staged, p, READ_CAP).unwrap();
        }
        assert!(
            restore_plan(&b.manifest).iter().any(|l| l.ends_with("-> \\u{1b}[2J")),
            "{:?}",
            restore_plan(&b.manifest)
        );
        // Another folder (root's, 0700) takes the recorded folder's name.
        fs::rename(r.join("p/web"), r.join("p/old")).unwrap();
        fs::create_dir(r.join("p/web")).unwrap();
        fs::set_permissions(r.join("p/web"), fs::Permissions::from_mode(0o700)).unwrap();
        let loaded = load(&staged, None).unwrap();
        let restored = restore(&staged, &loaded.dir, &loaded.manifest, false).unwrap();
        assert_eq!(restored.failed.len(), 1, "{restored:?}");
        assert!(restored.failed[0].contains("another folder was put there"), "{restored:?}");
        assert_eq!(fs::metadata(r.join("p/web")).unwrap().mode() & 0o7777, 0o700);
        assert_eq!(fs::metadata(r.join("p/.env.local")).unwrap().mode() & 0o7777, 0o755);
        // A file larger than the cap is not backed up.
        fs::write(r.join("p/big"), vec![0; 100]).unwrap();
        assert!(b.record(&staged, "/p/big", 10).is_err());
    }

    #[test]
    fn record_and_restore_every_kind() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        fs::create_dir_all(r.join("etc/a")).unwrap();
        fs::write(r.join("etc/a/file"), "old").unwrap();
        fs::set_permissions(r.join("etc/a/file"), fs::Permissions::from_mode(0o640)).unwrap();
        std::os::unix::fs::symlink("x", r.join("etc/a/link")).unwrap();
        let staged = Root::open(r).unwrap();
        let mut b = Backup::create(&staged, "/b", Services::default()).unwrap();
        for p in ["/etc/a/file", "/etc/a/link", "/etc/a/new", "/etc/a/newdir", "/etc/a"] {
            b.record(&staged, p, BINARY_CAP).unwrap();
        }
        // The change.
        fs::write(r.join("etc/a/file"), "new").unwrap();
        fs::set_permissions(r.join("etc/a/file"), fs::Permissions::from_mode(0o600)).unwrap();
        fs::remove_file(r.join("etc/a/link")).unwrap();
        std::os::unix::fs::symlink("y", r.join("etc/a/link")).unwrap();
        fs::write(r.join("etc/a/new"), "n").unwrap();
        fs::create_dir(r.join("etc/a/newdir")).unwrap();

        let loaded = load(&staged, None).unwrap();
        assert_eq!(loaded.manifest, b.manifest);
        let restored = restore(&staged, &loaded.dir, &loaded.manifest, false).unwrap();
        assert_eq!((restored.done.len(), restored.failed.len()), (5, 0));
        assert_eq!(fs::read_to_string(r.join("etc/a/file")).unwrap(), "old");
        assert_eq!(fs::metadata(r.join("etc/a/file")).unwrap().mode() & 0o777, 0o640);
        assert_eq!(fs::read_link(r.join("etc/a/link")).unwrap(), Path::new("x"));
        assert!(!r.join("etc/a/new").exists() && !r.join("etc/a/newdir").exists());
        assert!(load(&staged, Some("../x")).is_err());
    }

    #[test]
    fn a_manifest_cannot_reach_outside() {
        let entry = |path: &str, saved: &str| Entry {
            path: path.into(),
            before: Before::File { mode: 0o644, uid: 0, gid: 0, sha256: String::new(), saved: saved.into() },
        };
        let m = |e: Entry| Manifest {
            timestamp: "t".into(),
            bundle: "b".into(),
            tool_version: "v".into(),
            services: Services::default(),
            created_user: None,
            entries: vec![e],
        };
        assert!(validate(&m(entry("/etc/x", "files/0"))).is_ok());
        for (path, saved) in [
            ("/etc/../x", "files/0"),
            ("etc/x", "files/0"),
            ("/", "files/0"),
            ("/etc/x", "/etc/shadow"),
            ("/etc/x", "files/../../x"),
            ("/etc/x", "files/"),
        ] {
            assert!(validate(&m(entry(path, saved))).is_err(), "{path} {saved}");
        }
    }
}
