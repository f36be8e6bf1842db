//! Comparing the plan of actions with the machine: for each action, whether it is
//! already in place, what it would replace, and the bytes it would write; and every
//! destination that cannot be written safely (a link, FIFO, socket or device where a
//! file or folder goes, a folder where a file goes), all listed at once before
//! anything changes. This is what the printed plan shows and what makes a second
//! `apply` a no-op.

use std::collections::BTreeMap;

use super::backup::BINARY_CAP;
use super::beneath::{Kind, Meta, Root};
use super::nginx_conf;
use crate::install_plan::actions::{Action, Part};
use crate::install_plan::steps::Touched;
use crate::output::READ_CAP;

/// Where apply remembers the hash of every file it installed (to tell its own files
/// from ones a person wrote, e.g. an existing `.env.local`).
pub const INSTALLED: &str = "/var/lib/mercure-setup/installed.json";

/// What an action needs here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeStatus {
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
    pub status: ChangeStatus,
    pub contents: Option<Vec<u8>>,
    /// What the destination holds now, when it is a file that differs.
    pub current: Option<Vec<u8>>,
    /// For the nginx.conf edit: the unified diff.
    pub diff: Option<String>,
    /// The folder at a `Dir` action's path when compared (device, inode), `None` when
    /// none was: its owner and mode are set only on that folder, never on one put there since.
    pub found: Option<(u64, u64)>,
}

impl Change {
    pub fn todo(&self) -> bool {
        matches!(self.status, ChangeStatus::Todo { .. })
    }
}

/// The services the changes to do concern.
pub fn touched(changes: &[Change]) -> Touched {
    crate::install_plan::steps::touched(changes.iter().filter(|c| c.todo()).map(|c| c.action.part()))
}

/// What the comparison needs to know about the run.
pub struct Context<'a> {
    pub root: &'a Root,
    /// The bundle's files, read and verified (bundle-relative path -> bytes).
    pub bundle: &'a BTreeMap<String, Vec<u8>>,
    /// The hub binary given with `--hub-binary`, read.
    pub hub: Option<&'a [u8]>,
    /// Owners are compared and set only on a real machine, not under `--root`.
    pub owners: bool,
}

/// user/group name -> id, from ROOT/etc/passwd and ROOT/etc/group.
pub fn ids(root: &Root, file: &str) -> BTreeMap<String, u32> {
    let bytes = root.read(file, READ_CAP).ok().flatten().unwrap_or_default();
    String::from_utf8_lossy(&bytes)
        .lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            let id = f.nth(1)?.parse().ok()?;
            Some((name.to_string(), id))
        })
        .collect()
}

fn mode_owner_differs(m: &Meta, mode: u32, owner: &str, group: &str, ctx: &Context, users: &Ids) -> bool {
    if m.mode != mode {
        return true;
    }
    ctx.owners
        && (users.users.get(owner).is_none_or(|&u| u != m.uid) || users.groups.get(group).is_none_or(|&g| g != m.gid))
}

pub struct Ids {
    pub users: BTreeMap<String, u32>,
    pub groups: BTreeMap<String, u32>,
}

impl Ids {
    pub fn read(root: &Root) -> Ids {
        Ids { users: ids(root, "/etc/passwd"), groups: ids(root, "/etc/group") }
    }
}

/// Why `path` cannot take `want` (a file, a folder, or a link for `Kind::Symlink`).
fn dest_problem(root: &Root, path: &str, want: Kind) -> Option<String> {
    let meta = match root.lstat(path) {
        Ok(m) => m?,
        Err(e) => return Some(e.to_string()),
    };
    let fits = match want {
        Kind::Symlink => matches!(meta.kind, Kind::Symlink | Kind::File),
        k => meta.kind == k,
    };
    (!fits).then(|| {
        format!(
            "{} is {} where {} goes: move it away (mercure-setup never follows, opens, or deletes it)",
            root.show(path),
            meta.kind.name(),
            if want == Kind::Dir { "a folder" } else { "a file" }
        )
    })
}

/// Why the plan cannot be compared with the machine at all (exit 2, nothing changed).
#[derive(Debug, thiserror::Error)]
pub enum ChangesError {
    /// A path below the root cannot be read or opened.
    #[error(transparent)]
    Unreadable(std::io::Error),
    #[error("the bundle has no {src}")]
    NoBundleFile { src: String },
    #[error("{path} is not UTF-8 text")]
    NotUtf8 { path: String },
    /// An nginx limits action without its limits (never made by the plan).
    #[error("nginx limits")]
    NoLimits,
    #[error("{path}: {source}")]
    NginxConf { path: String, source: nginx_conf::NginxConfError },
}

/// A comparison that cannot be made stops apply before anything changes, as a usage error (exit 2).
impl From<ChangesError> for crate::error::Error {
    fn from(e: ChangesError) -> Self {
        crate::error::Error::Usage(e.to_string())
    }
}

/// Compares every action with the machine under `ctx.root`: the changes, and every
/// destination problem (nothing may change when there is one).
// One arm per kind of action, each short; split, they would share half the state.
#[allow(clippy::too_many_lines)]
pub fn compare(actions: &[Action], ctx: &Context) -> Result<(Vec<Change>, Vec<String>), ChangesError> {
    let root = ctx.root;
    let ids = Ids::read(root);
    let installed: BTreeMap<String, String> = root
        .read(INSTALLED, READ_CAP)
        .map_err(ChangesError::Unreadable)?
        .and_then(|t| serde_json::from_slice(&t).ok())
        .unwrap_or_default();
    let mut problems = Vec::new();
    let project_missing = |dest: &str, part: Part, problems: &mut Vec<String>| {
        if part != Part::Symfony {
            return false;
        }
        let Some(project) = symfony_root(dest) else { return true };
        match root.lstat(&project) {
            Ok(Some(m)) if m.kind == Kind::Dir => false,
            Ok(None) => true,
            Ok(Some(m)) => {
                let p = format!("the Symfony project {} is {}, not a folder", root.show(&project), m.kind.name());
                if !problems.contains(&p) {
                    problems.push(p);
                }
                true
            }
            Err(e) => {
                problems.push(e.to_string());
                true
            }
        }
    };
    let mut out = Vec::new();
    for action in actions {
        let mut change = Change {
            action: action.clone(),
            status: ChangeStatus::InPlace,
            contents: None,
            current: None,
            diff: None,
            found: None,
        };
        let todo = |s: &str| ChangeStatus::Todo { replaces: s.to_string() };
        let bundle_file =
            |src: &str| ctx.bundle.get(src).cloned().ok_or_else(|| ChangesError::NoBundleFile { src: src.to_string() });
        match action {
            Action::CreateUser { user, .. } => {
                if ids.users.contains_key(user) {
                } else if ctx.owners {
                    change.status = todo("no such user");
                } else {
                    change.status = ChangeStatus::Skipped("users are not created under --root".into());
                }
            }
            Action::InstallHub { dest } => {
                problems.extend(dest_problem(root, dest, Kind::File));
                match ctx.hub {
                    None if root.lstat(dest).ok().flatten().is_some_and(|m| m.kind == Kind::File) => {}
                    // Preflight names the missing binary.
                    None => {}
                    Some(want) => {
                        file_status(&mut change, root, dest, want, 0o755, ("root", "root"), ctx, &ids, BINARY_CAP);
                        change.current = None;
                        change.contents = Some(want.to_vec());
                    }
                }
            }
            Action::Dir { path, mode, owner, group, part } => {
                if project_missing(path, *part, &mut problems) {
                    change.status = ChangeStatus::Skipped(missing_project(path));
                } else if let Some(p) = dest_problem(root, path, Kind::Dir) {
                    problems.push(p);
                } else {
                    match root.lstat(path) {
                        Ok(Some(m)) if !mode_owner_differs(&m, *mode, owner, group, ctx, &ids) => {}
                        Ok(Some(m)) => {
                            change.status = todo(&m.describe());
                            change.found = Some(m.identity());
                        }
                        _ => change.status = todo("nothing"),
                    }
                }
            }
            Action::File { src, dest, owner, group, mode, part, .. } => {
                let want = bundle_file(src)?;
                if project_missing(dest, *part, &mut problems) {
                    change.status = ChangeStatus::Skipped(missing_project(dest));
                } else if let Some(p) = dest_problem(root, dest, Kind::File) {
                    problems.push(p);
                } else {
                    file_status(&mut change, root, dest, &want, *mode, (owner, group), ctx, &ids, READ_CAP);
                    // A Symfony file a person wrote (not one apply installed) is merged by hand.
                    let hash = change.current.as_deref().map(crate::bundle::sha256_hex);
                    // (One too large to read back is a person's too.)
                    let exists = root.lstat(dest).ok().flatten().is_some();
                    if *part == Part::Symfony
                        && change.todo()
                        && exists
                        && change.current.as_ref().is_none_or(|c| *c != want)
                        && installed.get(dest) != hash.as_ref()
                    {
                        change.status = ChangeStatus::Skipped(format!(
                            "{dest} exists and was not written by mercure-setup: copy the MERCURE_* lines \
                             from the bundle's {src} into it by hand"
                        ));
                    }
                }
                change.contents = Some(want);
            }
            Action::NginxLimits { path, .. } => {
                if let Some(p) = dest_problem(root, path, Kind::File) {
                    problems.push(if root.lstat(path).ok().flatten().is_some_and(|m| m.kind == Kind::Symlink) {
                        format!(
                            "{} is a symbolic link: mercure-setup edits nginx.conf only as a file of its own, \
                             so that the edit is backed up and undone as one (a link may point anywhere); replace \
                             the link by the file it points to, or make the edit the plan shows by hand",
                            root.show(path)
                        )
                    } else {
                        p
                    });
                    continue;
                }
                // Preflight names a missing nginx.conf.
                let Some(old) = root.read(path, READ_CAP).map_err(ChangesError::Unreadable)? else { continue };
                let old = String::from_utf8(old).map_err(|_| ChangesError::NotUtf8 { path: path.clone() })?;
                let limits = action.limits().ok_or(ChangesError::NoLimits)?;
                let edited = nginx_conf::edit(&old, limits)
                    .map_err(|source| ChangesError::NginxConf { path: path.clone(), source })?;
                if let Some(new) = edited {
                    change.diff = Some(nginx_conf::diff(path, &old, &new));
                    change.status = todo("two lines of the existing file");
                    change.contents = Some(new.into_bytes());
                }
            }
            Action::EnableSite { link, target } => {
                if let Some(p) = dest_problem(root, link, Kind::Symlink) {
                    problems.push(p);
                } else {
                    let (dir, name) = root.parent(link).map_err(ChangesError::Unreadable)?;
                    match (root.lstat(link).ok().flatten().map(|m| m.kind), dir) {
                        (Some(Kind::Symlink), Some(d)) => match d.read_link(name) {
                            Ok(t) if t == *target => {}
                            Ok(t) => change.status = todo(&format!("a link to {t}")),
                            Err(e) => return Err(ChangesError::Unreadable(e)),
                        },
                        (Some(_), _) => change.status = todo("a file"),
                        (None, _) => change.status = todo("nothing"),
                    }
                }
            }
        }
        out.push(change);
    }
    Ok((out, problems))
}

#[allow(clippy::too_many_arguments)]
fn file_status(
    change: &mut Change,
    root: &Root,
    dest: &str,
    want: &[u8],
    mode: u32,
    (owner, group): (&str, &str),
    ctx: &Context,
    ids: &Ids,
    cap: u64,
) {
    let Ok(Some(m)) = root.lstat(dest) else {
        change.status = ChangeStatus::Todo { replaces: "nothing".into() };
        return;
    };
    let current = root.read(dest, cap).ok().flatten();
    let same = current.as_deref() == Some(want);
    change.status = if same && !mode_owner_differs(&m, mode, owner, group, ctx, ids) {
        ChangeStatus::InPlace
    } else if same {
        ChangeStatus::Todo { replaces: format!("the same contents with {}", m.describe()) }
    } else {
        ChangeStatus::Todo { replaces: format!("other contents ({})", m.describe()) }
    };
    change.current = current;
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
