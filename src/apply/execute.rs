//! Carrying out the changes (each path backed up first), going live (daemon-reload,
//! hub validate, `nginx -t`, start or reload what changed, doctor's probes) and, when
//! a step fails, putting every backed-up path and the services back as they were.

use std::collections::BTreeMap;
use std::fs;
use std::process::Command;

use super::backup::{self, BINARY_CAP, Backup, Manifest};
use super::beneath::{self, Dir, Root};
use super::changes::{Change, INSTALLED, Ids};
use crate::bundle::sha256_hex;
use crate::install_plan::actions::Action;
use crate::install_plan::steps::Services;
use crate::output::READ_CAP;
use crate::plan::install;

/// The hub's systemd unit name.
pub const HUB_SERVICE: &str = "mercure";
pub const NGINX_SERVICE: &str = "nginx";

/// Why writing the changes, a go-live step or a rollback failed.
#[derive(Debug, thiserror::Error)]
pub enum ExecuteError {
    /// A program could not be started.
    #[error("{program}: {source}")]
    Spawn { program: String, source: std::io::Error },
    /// A program ran and failed; `output` is its own error output.
    #[error("`{command}` failed: {output}")]
    Program { command: String, output: String },
    /// One action's path could not be backed up or written.
    #[error("{action}: {source}")]
    Action { action: String, source: std::io::Error },
    #[error("no user {name} on this machine")]
    NoUser { name: String },
    #[error("no group {name} on this machine")]
    NoGroup { name: String },
    #[error("nothing to write for {dest}")]
    NothingToWrite { dest: String },
    /// A file could not be written below the root.
    #[error(transparent)]
    Write(std::io::Error),
    /// The record of installed files could not be backed up or written.
    #[error("{INSTALLED}: {0}")]
    Installed(#[source] std::io::Error),
    #[error(transparent)]
    InstalledJson(serde_json::Error),
    #[error("the hub is not active after its restart:\n{journal}")]
    HubNotActive { journal: String },
    /// An installed file `mercure validate` needs could not be read.
    #[error("{path}: {source}")]
    Unreadable { path: &'static str, source: std::io::Error },
    #[error("{path}: {source}")]
    BadEnv { path: &'static str, source: crate::formats::FormatError },
    /// The throwaway folder for `mercure validate` could not be made.
    #[error(transparent)]
    Scratch(std::io::Error),
    #[error("mercure validate rejects {path}: {line}")]
    HubRejects { path: &'static str, line: String },
    /// The backup itself is unusable.
    #[error(transparent)]
    Backup(#[from] backup::BackupError),
    /// Some paths could not be restored; the rest were.
    #[error(
        "{} of {total} paths could not be restored; the rest were:\n  {}\nnot restored:\n  {}",
        .failed.len(),
        .done.join("\n  "),
        .failed.join("\n  ")
    )]
    PartlyRestored { total: usize, done: Vec<String>, failed: Vec<String> },
}

/// Nothing here is the user's input: every error is a failure (exit 1).
impl From<ExecuteError> for crate::error::Error {
    fn from(e: ExecuteError) -> Self {
        crate::error::Error::Failed(e.to_string())
    }
}

/// Runs a program; Err carries its own error output.
pub fn run(program: &str, args: &[&str]) -> Result<String, ExecuteError> {
    let out = Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|source| ExecuteError::Spawn { program: program.to_string(), source })?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if out.status.success() {
        Ok(text)
    } else {
        Err(ExecuteError::Program { command: format!("{program} {}", args.join(" ")), output: text.trim().to_string() })
    }
}

fn systemctl_is(what: &str, unit: &str) -> bool {
    Command::new("systemctl")
        .args([what, "--quiet", unit])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Which services are active (and the hub enabled) now.
pub fn services_now() -> Services {
    Services {
        hub_active: systemctl_is("is-active", HUB_SERVICE),
        hub_enabled: systemctl_is("is-enabled", HUB_SERVICE),
        nginx_active: systemctl_is("is-active", NGINX_SERVICE),
    }
}

/// Writes every change that is to do, recording each path in the backup first. Every
/// write goes through `beneath`: folders opened without following links, files made
/// under a random name and renamed within their folder.
pub fn write_changes(root: &Root, changes: &[Change], backup: &mut Backup, owners: bool) -> Result<(), ExecuteError> {
    for c in changes.iter().filter(|c| c.todo()) {
        let fail = |source: std::io::Error| ExecuteError::Action { action: c.action.describe(), source };
        if let Some(dest) = c.action.dest() {
            let cap = if matches!(c.action, Action::InstallHub { .. }) { BINARY_CAP } else { READ_CAP };
            backup.record(root, dest, cap).map_err(fail)?;
        }
        match &c.action {
            Action::CreateUser { user, home } => {
                run("useradd", &["--system", "--home-dir", home, "--shell", "/usr/sbin/nologin", user])?;
                backup.manifest.created_user = Some(user.clone());
                backup.save().map_err(fail)?;
            }
            Action::Dir { path, owner, group, mode, .. } => {
                let ids = owner_ids(root, owner, group, owners)?;
                set_dir_meta(root, path, c.found, *mode, ids).map_err(fail)?;
            }
            Action::InstallHub { dest } => write_file(root, dest, c, 0o755, ("root", "root"), owners)?,
            Action::File { dest, owner, group, mode, .. } => write_file(root, dest, c, *mode, (owner, group), owners)?,
            Action::NginxLimits { path, .. } => {
                let mode = root.lstat(path).ok().flatten().map_or(0o644, |m| m.mode);
                write_file(root, path, c, mode, ("root", "root"), owners)?;
            }
            Action::EnableSite { link, target } => {
                let (dir, name) = beneath::split(link).map_err(fail)?;
                root.make_dir(dir, 0o755).and_then(|d| d.symlink(name, target)).map_err(fail)?;
            }
        }
    }
    remember_installed(root, changes, backup)
}

/// Gives the folder `path` its owner and mode, but only the folder the plan saw there
/// (`found`), or one made now when there was none. In a folder another user can write
/// (the Symfony project), whatever was put in its place since (a folder of root's moved
/// there, say) is refused, never handed over; in one only root can change, a folder made
/// since is root's own doing (`--certbot` makes the ACME webroot first).
fn set_dir_meta(
    root: &Root,
    path: &str,
    found: Option<(u64, u64)>,
    mode: u32,
    ids: Option<(u32, u32)>,
) -> std::io::Result<()> {
    let (parent, name) = beneath::split(path)?;
    let parent = root.make_dir(parent, 0o755)?;
    let replaced = || std::io::Error::other(format!("{} was replaced since the plan was made", root.show(path)));
    let dir = match found {
        Some(id) => {
            let d = parent.sub(name)?.ok_or_else(replaced)?;
            if d.meta()?.identity() != id {
                return Err(replaced());
            }
            d
        }
        None => match parent.new_sub(name, 0o700)? {
            Some(new) => new,
            None if !parent.meta()?.writable_by_others() => parent.sub(name)?.ok_or_else(replaced)?,
            None => return Err(replaced()),
        },
    };
    dir.set_meta(mode, ids)
}

fn owner_ids(root: &Root, owner: &str, group: &str, owners: bool) -> Result<Option<(u32, u32)>, ExecuteError> {
    if !owners {
        return Ok(None);
    }
    let ids = Ids::read(root);
    let uid = *ids.users.get(owner).ok_or_else(|| ExecuteError::NoUser { name: owner.to_string() })?;
    let gid = *ids.groups.get(group).ok_or_else(|| ExecuteError::NoGroup { name: group.to_string() })?;
    Ok(Some((uid, gid)))
}

/// The file through its folder's descriptor: temp file, owner and mode, one rename.
fn write_file(
    root: &Root,
    dest: &str,
    c: &Change,
    mode: u32,
    (owner, group): (&str, &str),
    owners: bool,
) -> Result<(), ExecuteError> {
    let bytes = c.contents.as_deref().ok_or_else(|| ExecuteError::NothingToWrite { dest: dest.to_string() })?;
    let ids = owner_ids(root, owner, group, owners)?;
    let (dir, name) = beneath::split(dest).map_err(ExecuteError::Write)?;
    root.make_dir(dir, 0o755).and_then(|d| d.write(name, bytes, mode, ids)).map_err(ExecuteError::Write)
}

/// Records the hash of every file now installed, so a later apply knows its own files.
fn remember_installed(root: &Root, changes: &[Change], backup: &mut Backup) -> Result<(), ExecuteError> {
    let fail = ExecuteError::Installed;
    let mut map: BTreeMap<String, String> =
        root.read(INSTALLED, READ_CAP).ok().flatten().and_then(|t| serde_json::from_slice(&t).ok()).unwrap_or_default();
    let before = map.clone();
    for c in changes {
        if let (Action::File { dest, .. }, Some(b)) = (&c.action, &c.contents)
            && matches!(c.status, super::changes::ChangeStatus::Todo { .. } | super::changes::ChangeStatus::InPlace)
        {
            map.insert(dest.clone(), sha256_hex(b));
        }
    }
    if map == before {
        return Ok(());
    }
    backup.record(root, INSTALLED, READ_CAP).map_err(fail)?;
    let text = serde_json::to_string_pretty(&map).map_err(ExecuteError::InstalledJson)?;
    let (dir, name) = beneath::split(INSTALLED).map_err(fail)?;
    root.make_dir(dir, 0o755).and_then(|d| d.write(name, format!("{text}\n").as_bytes(), 0o644, None)).map_err(fail)
}

/// Runs one go-live step.
pub fn live_step(step: &str, hub_binary: &str) -> Result<(), ExecuteError> {
    match step {
        "mercure validate" => validate_hub(hub_binary),
        "nginx -t" => run("nginx", &["-t", "-q"]).map(drop),
        "systemctl restart mercure" => {
            run("systemctl", &["restart", HUB_SERVICE])?;
            // Type=notify: restart returns once the hub is ready, or has failed.
            if systemctl_is("is-active", HUB_SERVICE) {
                Ok(())
            } else {
                Err(ExecuteError::HubNotActive { journal: journal(HUB_SERVICE) })
            }
        }
        other => {
            let words: Vec<&str> = other.split_whitespace().collect();
            run(words[0], &words[1..]).map(drop)
        }
    }
}

fn journal(unit: &str) -> String {
    run("journalctl", &["-u", unit, "-n", "8", "--no-pager", "-o", "cat"]).unwrap_or_default()
}

/// `mercure validate` on the installed Caddyfile with the installed environment, except
/// that the history database is a throwaway one: validate opens it, and the running hub
/// holds (and owns) the real one.
fn validate_hub(hub_binary: &str) -> Result<(), ExecuteError> {
    let read =
        |path: &'static str| fs::read_to_string(path).map_err(|source| ExecuteError::Unreadable { path, source });
    let caddyfile = read(install::CADDYFILE)?;
    let env_text = read(install::ENV_FILE)?;
    let env = crate::formats::parse_env(&env_text)
        .map_err(|source| ExecuteError::BadEnv { path: install::ENV_FILE, source })?;
    let tmp = tempfile::tempdir().map_err(ExecuteError::Scratch)?;
    let db = format!("{}/mercure.db", install::DATA_DIR);
    let copy = caddyfile.replace(&db, &tmp.path().join("validate.db").to_string_lossy());
    let file = tmp.path().join("Caddyfile");
    fs::write(&file, copy).map_err(ExecuteError::Scratch)?;
    let out = Command::new(hub_binary)
        .args(["validate", "--config"])
        .arg(&file)
        .args(["--adapter", "caddyfile"])
        .envs(&env)
        .env("XDG_DATA_HOME", tmp.path())
        .env("XDG_CONFIG_HOME", tmp.path())
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|source| ExecuteError::Spawn { program: hub_binary.to_string(), source })?;
    if out.status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&out.stderr);
    let line = text.lines().rev().find(|l| l.contains("Error") || l.contains("error")).unwrap_or("").to_string();
    Err(ExecuteError::HubRejects { path: install::CADDYFILE, line })
}

/// Puts the services back as the manifest found them.
pub fn restore_services(m: &Manifest) -> Vec<String> {
    let mut notes = Vec::new();
    let mut note = |r: Result<String, ExecuteError>, what: &str| match r {
        Ok(_) => notes.push(what.to_string()),
        Err(e) => notes.push(format!("{what} FAILED: {e}")),
    };
    note(run("systemctl", &["daemon-reload"]), "systemctl daemon-reload");
    if m.services.hub_active {
        note(run("systemctl", &["restart", HUB_SERVICE]), "hub restarted (it was running)");
    } else {
        note(run("systemctl", &["stop", HUB_SERVICE]), "hub stopped (it was not running)");
    }
    if !m.services.hub_enabled {
        let _ = run("systemctl", &["disable", "--quiet", HUB_SERVICE]);
    }
    if m.services.nginx_active {
        note(run("systemctl", &["restart", NGINX_SERVICE]), "nginx restarted with the previous configuration");
    }
    notes
}

/// Restores files and (on a real machine) services from a backup; returns what was done.
/// The services are put back even when a path could not be: the system files were.
pub fn rollback(root: &Root, dir: &Dir, m: &Manifest, real: bool) -> Result<Vec<String>, ExecuteError> {
    let restored = backup::restore(root, dir, m, real)?;
    let mut done = restored.done;
    if real {
        done.extend(restore_services(m));
    }
    if restored.failed.is_empty() {
        return Ok(done);
    }
    Err(ExecuteError::PartlyRestored { total: m.entries.len(), done, failed: restored.failed })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn mode(p: &std::path::Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn a_folder_gets_its_mode_only_if_it_is_the_one_the_plan_saw() {
        let t = tempfile::tempdir().unwrap();
        fs::set_permissions(t.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let root = Root::open(t.path()).unwrap();
        // Nothing there when compared: made now.
        set_dir_meta(&root, "/p/jwt", None, 0o700, None).unwrap();
        assert_eq!(mode(&t.path().join("p/jwt")), 0o700);
        // The folder the plan saw: changed.
        let seen = root.lstat("/p/jwt").unwrap().unwrap().identity();
        set_dir_meta(&root, "/p/jwt", Some(seen), 0o750, None).unwrap();
        assert_eq!(mode(&t.path().join("p/jwt")), 0o750);
        // Another folder put in its place since: left as it is.
        fs::rename(t.path().join("p/jwt"), t.path().join("p/old")).unwrap();
        fs::create_dir(t.path().join("p/jwt")).unwrap();
        fs::set_permissions(t.path().join("p/jwt"), fs::Permissions::from_mode(0o755)).unwrap();
        let e = set_dir_meta(&root, "/p/jwt", Some(seen), 0o700, None).unwrap_err().to_string();
        assert!(e.contains("was replaced since the plan"), "{e}");
        assert_eq!(mode(&t.path().join("p/jwt")), 0o755);
        // One that appeared where nothing was, in a folder others can write: refused.
        if crate::apply::preflight::is_root() {
            fs::set_permissions(t.path().join("p"), fs::Permissions::from_mode(0o777)).unwrap();
            assert!(set_dir_meta(&root, "/p/jwt", None, 0o700, None).is_err());
            assert_eq!(mode(&t.path().join("p/jwt")), 0o755);
        }
    }
}
