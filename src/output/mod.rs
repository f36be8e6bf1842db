//! Bundle folders on disk: reading what a folder holds without trusting it
//! ([`read`]), one run at a time ([`lock`]), what the last render wrote ([`manifest`]),
//! and writing a bundle so a crash leaves the old set or the new one ([`write`]).
//! `apply`, `ship` and `check` write elsewhere (the live system, man pages, staging
//! folders) with their own code.
//!
//! Nothing inside the output folder is trusted: a symlink anywhere on a bundle path
//! is refused (never followed), only regular files are opened (never a FIFO or a
//! device) and every read is capped. Folders and files get explicit modes whatever
//! the umask.

mod lock;
mod manifest;
mod read;
mod write;

use std::fs;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

pub use lock::{DirLock, LOCK_WAIT};
pub use manifest::{Edited, FileChange, FileStatus, compare, dry_run_report, edited_since_render, stale_files};
pub use read::{AnswersFileError, READ_CAP, read_answers_file, read_regular, read_user_file, refuse_symlinks};
pub use write::{write, write_single, write_summary};

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

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;
    use std::time::Duration;

    use super::write::{commit, write_temp};
    use super::*;
    use crate::bundle::Bundle;
    use crate::bundle::paths::state;

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
        assert!(changes.iter().all(|c| c.status == FileStatus::New));
        let mode = |p: &str| fs::metadata(dir.join(p)).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(""), 0o700);
        assert_eq!(mode("s/secret.env"), 0o600);
        assert_eq!(mode("s"), 0o700);
        assert_eq!(mode(".state"), 0o700);
        assert_eq!(mode("a/plain.conf"), 0o644);

        let changes = write(&lock, &bundle("two"), false).unwrap();
        assert_eq!(changes[0].status, FileStatus::Updated);

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
