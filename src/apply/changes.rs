//! Comparing the plan of actions with the machine: for each action, whether it is
//! already in place, what it would replace, and the bytes it would write. This is
//! what the printed plan shows and what makes a second `apply` a no-op.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use super::backup::{sha256_hex, under};
use super::nginx_conf;
use crate::install_plan::actions::{Action, Part};

/// Where apply remembers the hash of every file it installed (to tell its own files
/// from ones a person wrote, e.g. an existing `.env.local`).
pub const INSTALLED: &str = "/var/lib/mercure-setup/installed.json";

/// What an action needs here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Already as the bundle wants it.
    InPlace,
    /// To do; `replaces` says what is there now.
    Todo { replaces: String },
    /// Not done, with the reason (e.g. under `--root`, or a file a person wrote).
    Skipped(String),
}

/// An action with its status and, for writes, the contents to write.
#[derive(Debug, Clone)]
pub struct Change {
    pub action: Action,
    pub status: Status,
    pub contents: Option<Vec<u8>>,
    /// For the nginx.conf edit: the unified diff.
    pub diff: Option<String>,
}

impl Change {
    pub fn todo(&self) -> bool {
        matches!(self.status, Status::Todo { .. })
    }
}

/// The services the changes to do concern.
pub fn touched(changes: &[Change]) -> crate::install_plan::steps::Touched {
    crate::install_plan::steps::touched(changes.iter().filter(|c| c.todo()).map(|c| c.action.part()))
}

/// What the comparison needs to know about the run.
pub struct Context<'a> {
    pub root: &'a Path,
    pub bundle: &'a Path,
    pub hub_source: Option<&'a Path>,
    /// Owners are compared and set only on a real machine, not under `--root`.
    pub owners: bool,
}

/// user/group name -> id, from ROOT/etc/passwd and ROOT/etc/group.
pub fn ids(root: &Path, file: &str) -> BTreeMap<String, u32> {
    fs::read_to_string(under(root, file))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            let id = f.nth(1)?.parse().ok()?;
            Some((name.to_string(), id))
        })
        .collect()
}

fn mode_owner_differs(m: &fs::Metadata, mode: u32, owner: &str, group: &str, ctx: &Context, users: &Ids) -> bool {
    if m.mode() & 0o7777 != mode {
        return true;
    }
    ctx.owners
        && (users.users.get(owner).is_none_or(|&u| u != m.uid())
            || users.groups.get(group).is_none_or(|&g| g != m.gid()))
}

pub struct Ids {
    pub users: BTreeMap<String, u32>,
    pub groups: BTreeMap<String, u32>,
}

impl Ids {
    pub fn read(root: &Path) -> Ids {
        Ids { users: ids(root, "/etc/passwd"), groups: ids(root, "/etc/group") }
    }
}

fn describe_existing(m: &fs::Metadata) -> String {
    format!("{} {:04o} uid {} gid {}", if m.is_dir() { "folder" } else { "file" }, m.mode() & 0o7777, m.uid(), m.gid())
}

/// Compares every action with the machine under `ctx.root`.
pub fn compare(actions: &[Action], ctx: &Context) -> Result<Vec<Change>, String> {
    let ids = Ids::read(ctx.root);
    let installed: BTreeMap<String, String> = fs::read_to_string(under(ctx.root, INSTALLED))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let project_missing = |dest: &str, part: Part| {
        part == Part::Symfony && !symfony_root(dest).is_some_and(|p| under(ctx.root, &p).is_dir())
    };
    let mut out = Vec::new();
    for action in actions {
        let mut change = Change { action: action.clone(), status: Status::InPlace, contents: None, diff: None };
        let todo = |s: &str| Status::Todo { replaces: s.to_string() };
        match action {
            Action::CreateUser { user, .. } => {
                if ids.users.contains_key(user) {
                } else if ctx.owners {
                    change.status = todo("no such user");
                } else {
                    change.status = Status::Skipped("users are not created under --root".into());
                }
            }
            Action::InstallHub { dest } => {
                let real = under(ctx.root, dest);
                match ctx.hub_source {
                    None if real.is_file() => {}
                    None => return Err(format!("no hub binary at {dest}: pass --hub-binary FILE")),
                    Some(src) => {
                        let want = fs::read(src).map_err(|e| format!("reading {}: {e}", src.display()))?;
                        change.status = file_status(&real, &want, 0o755, "root", "root", ctx, &ids);
                        change.contents = Some(want);
                    }
                }
            }
            Action::Dir { path, mode, owner, group, part } => {
                if project_missing(path, *part) {
                    change.status = Status::Skipped(missing_project(path));
                } else {
                    match fs::symlink_metadata(under(ctx.root, path)) {
                        Ok(m) if m.is_dir() && !mode_owner_differs(&m, *mode, owner, group, ctx, &ids) => {}
                        Ok(m) => change.status = todo(&describe_existing(&m)),
                        Err(_) => change.status = todo("nothing"),
                    }
                }
            }
            Action::File { src, dest, owner, group, mode, part, .. } => {
                let want = fs::read(ctx.bundle.join(src)).map_err(|e| format!("reading the bundle's {src}: {e}"))?;
                let real = under(ctx.root, dest);
                if project_missing(dest, *part) {
                    change.status = Status::Skipped(missing_project(dest));
                } else {
                    change.status = file_status(&real, &want, *mode, owner, group, ctx, &ids);
                    // A Symfony file a person wrote (not one apply installed) is merged by hand.
                    if *part == Part::Symfony
                        && change.todo()
                        && real.is_file()
                        && fs::read(&real).is_ok_and(|b| installed.get(dest) != Some(&sha256_hex(&b)))
                        && fs::read(&real).is_ok_and(|b| b != want)
                    {
                        change.status = Status::Skipped(format!(
                            "{dest} exists and was not written by mercure-setup: copy the MERCURE_* lines \
                             from the bundle's {src} into it by hand"
                        ));
                    }
                }
                change.contents = Some(want);
            }
            Action::NginxLimits { path, .. } => {
                let real = under(ctx.root, path);
                let old = fs::read_to_string(&real).map_err(|e| format!("reading {path}: {e}"))?;
                let limits = action.limits().ok_or("nginx limits")?;
                if let Some(new) = nginx_conf::edit(&old, limits).map_err(|e| format!("{path}: {e}"))? {
                    change.diff = Some(nginx_conf::diff(path, &old, &new));
                    change.status = todo("two lines of the existing file");
                    change.contents = Some(new.into_bytes());
                }
            }
            Action::EnableSite { link, target } => match fs::read_link(under(ctx.root, link)) {
                Ok(t) if t == Path::new(target) => {}
                Ok(t) => change.status = todo(&format!("a link to {}", t.display())),
                Err(_) if under(ctx.root, link).exists() => change.status = todo("a file"),
                Err(_) => change.status = todo("nothing"),
            },
        }
        out.push(change);
    }
    Ok(out)
}

fn file_status(real: &PathBuf, want: &[u8], mode: u32, owner: &str, group: &str, ctx: &Context, ids: &Ids) -> Status {
    match fs::symlink_metadata(real) {
        Err(_) => Status::Todo { replaces: "nothing".into() },
        Ok(m) if !m.is_file() => Status::Todo { replaces: describe_existing(&m) },
        Ok(m) => {
            let same = fs::read(real).is_ok_and(|b| b == want);
            if same && !mode_owner_differs(&m, mode, owner, group, ctx, ids) {
                Status::InPlace
            } else if same {
                Status::Todo { replaces: format!("the same contents with {}", describe_existing(&m)) }
            } else {
                Status::Todo { replaces: format!("other contents ({})", describe_existing(&m)) }
            }
        }
    }
}

/// The Symfony project folder a Symfony path lies in (`.../config/...` or `.../.env.local`).
fn symfony_root(dest: &str) -> Option<String> {
    dest.split_once("/config/")
        .map(|(p, _)| p.to_string())
        .or_else(|| dest.strip_suffix("/.env.local").map(String::from))
}

fn missing_project(dest: &str) -> String {
    format!(
        "the Symfony project {} does not exist here yet: install the Symfony files by hand once it does",
        symfony_root(dest).unwrap_or_default()
    )
}
