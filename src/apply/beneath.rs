//! Files beneath a root folder, reached only through folder descriptors, the way dpkg
//! and systemd-tmpfiles write as root where other users can write: each folder is
//! opened relative to its parent with `O_NOFOLLOW`, what was opened is checked with
//! `fstat`, a file is created under a random name with `O_EXCL`, given its owner and
//! mode on its descriptor, synced, and renamed within the same folder descriptor. A
//! path string is never reopened between a check and a use, and nothing resolves
//! outside the root (`--root` is a confinement).
//!
//! A symbolic link on the way to a path is followed only when root made it in a folder
//! only root can change (Debian's `/var/run`, an admin's `/var/www -> /srv/www`), and
//! then within the root: an absolute target starts again at the root, `..` stops there.
//! A link, FIFO, socket or device where a file or folder goes is never followed or
//! opened.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read as _, Write as _};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Gid, Mode, OFlags, Stat, Uid};
use rustix::io::Errno;

/// How many links a walk follows before it gives up (the kernel's own limit is 40).
const MAX_LINKS: usize = 16;

/// What is at a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Fifo,
    Socket,
    Device,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::File => "a file",
            Kind::Dir => "a folder",
            Kind::Symlink => "a symbolic link",
            Kind::Fifo => "a FIFO",
            Kind::Socket => "a socket",
            Kind::Device => "a device",
        }
    }
}

/// `lstat` of a path: its kind, permission bits, owner and identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub kind: Kind,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    dev: u64,
    ino: u64,
}

impl Meta {
    pub fn of(st: &Stat) -> Meta {
        let kind = match FileType::from_raw_mode(st.st_mode) {
            FileType::RegularFile => Kind::File,
            FileType::Directory => Kind::Dir,
            FileType::Symlink => Kind::Symlink,
            FileType::Fifo => Kind::Fifo,
            FileType::Socket => Kind::Socket,
            _ => Kind::Device,
        };
        Meta {
            kind,
            mode: st.st_mode & 0o7777,
            uid: st.st_uid,
            gid: st.st_gid,
            size: u64::try_from(st.st_size).unwrap_or(0),
            dev: st.st_dev,
            ino: st.st_ino,
        }
    }

    /// e.g. `file 0644 uid 0 gid 0`, for the printed plan.
    pub fn describe(&self) -> String {
        let kind = match self.kind {
            Kind::File => "file",
            Kind::Dir => "folder",
            other => other.name(),
        };
        format!("{kind} {:04o} uid {} gid {}", self.mode, self.uid, self.gid)
    }

    /// Whether a user other than root can change what this folder holds.
    /// Which file this is (device and inode): the same name may later hold another.
    pub fn identity(&self) -> (u64, u64) {
        (self.dev, self.ino)
    }

    pub fn writable_by_others(&self) -> bool {
        self.uid != 0 || self.mode & 0o022 != 0
    }
}

fn other(msg: String) -> io::Error {
    io::Error::other(msg)
}

fn errno(path: &str) -> impl FnOnce(Errno) -> io::Error + '_ {
    move |e| io::Error::new(io::Error::from(e).kind(), format!("{path}: {e}"))
}

/// The components of an absolute or relative path: refused when one is empty, `.` or `..`
/// (a path apply writes is always spelled out in full).
pub fn components(path: &str) -> io::Result<Vec<&str>> {
    let rel = path.trim_start_matches('/');
    if rel.is_empty() {
        return Ok(Vec::new());
    }
    let parts: Vec<&str> = rel.split('/').collect();
    if parts.iter().any(|p| p.is_empty() || *p == "." || *p == ".." || p.contains('\0')) {
        return Err(other(format!("{path}: not a plain path (an empty, `.` or `..` component)")));
    }
    Ok(parts)
}

/// The root everything is resolved beneath: `/` on a machine, `--root DIR` when staging.
pub struct Root {
    fd: OwnedFd,
    path: PathBuf,
}

/// An open folder beneath the root, with its path on the machine for messages.
pub struct Dir {
    fd: OwnedFd,
    /// The path as the machine sees it, starting at the root (`/etc/mercure`).
    pub path: String,
    /// The root's own path, to show where a staged path really is.
    shown_root: PathBuf,
}

/// A followed link must have been made by root in a folder no one else can change.
fn trusted_link(dir: &Meta, link: &Meta) -> bool {
    link.uid == 0 && dir.uid == 0 && (dir.mode & 0o022 == 0 || dir.mode & 0o1000 != 0)
}

const DIR_FLAGS: OFlags = OFlags::RDONLY.union(OFlags::DIRECTORY).union(OFlags::NOFOLLOW).union(OFlags::CLOEXEC);

impl Root {
    /// Opens the root folder itself (the path the admin gave is taken as is).
    pub fn open(path: &Path) -> io::Result<Root> {
        let fd = rustix::fs::open(path, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| io::Error::new(io::Error::from(e).kind(), format!("{}: {e}", path.display())))?;
        Ok(Root { fd, path: path.to_path_buf() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn try_clone(&self) -> io::Result<Root> {
        Ok(Root { fd: self.fd.try_clone()?, path: self.path.clone() })
    }

    /// Where `path` (absolute on the machine) is, for messages: the staged path under `--root`.
    pub fn show(&self, path: &str) -> String {
        show(&self.path, path)
    }

    /// The root folder itself.
    pub fn top(&self) -> io::Result<Dir> {
        Ok(Dir { fd: self.fd.try_clone()?, path: String::new(), shown_root: self.path.clone() })
    }

    /// Opens the folder `path`; `Ok(None)` when it (or a folder above it) does not exist.
    pub fn dir(&self, path: &str) -> io::Result<Option<Dir>> {
        match self.walk(path, None) {
            Ok(d) => Ok(Some(d)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Opens the folder `path`, creating what is missing: new folders get `mode` (root's,
    /// whatever the umask).
    pub fn make_dir(&self, path: &str, mode: u32) -> io::Result<Dir> {
        self.walk(path, Some(mode))
    }

    /// The folder holding `path` and the last component's name.
    pub fn parent<'p>(&self, path: &'p str) -> io::Result<(Option<Dir>, &'p str)> {
        let (dir, name) = split(path)?;
        Ok((self.dir(dir)?, name))
    }

    /// What is at `path` (not following a link there); `None` when nothing is.
    pub fn lstat(&self, path: &str) -> io::Result<Option<Meta>> {
        let (dir, name) = self.parent(path)?;
        match dir {
            Some(d) => d.lstat(name),
            None => Ok(None),
        }
    }

    /// Reads the regular file `path`, at most `cap` bytes; `None` when it does not exist.
    pub fn read(&self, path: &str, cap: u64) -> io::Result<Option<Vec<u8>>> {
        let (dir, name) = self.parent(path)?;
        match dir {
            Some(d) => Ok(d.read(name, cap)?.map(|(b, _)| b)),
            None => Ok(None),
        }
    }

    /// Reads a file the system keeps, following links within the root (the certificate
    /// that `/etc/letsencrypt/live/` links to `../../archive/`), regular only and capped.
    pub fn read_following(&self, path: &str, cap: u64) -> io::Result<Vec<u8>> {
        use rustix::fs::ResolveFlags;
        let rel = components(path)?.join("/");
        let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
        let fd = rustix::fs::openat2(&self.fd, rel.as_str(), flags, Mode::empty(), ResolveFlags::IN_ROOT)
            .map_err(errno(&self.show(path)))?;
        read_fd(fd, &self.show(path), cap)
    }

    fn walk(&self, path: &str, create: Option<u32>) -> io::Result<Dir> {
        let mut stack: Vec<(OwnedFd, String)> = vec![(self.fd.try_clone()?, String::new())];
        let mut todo: VecDeque<String> = components(path)?.into_iter().map(String::from).collect();
        let mut links = 0;
        while let Some(name) = todo.pop_front() {
            if name == ".." {
                if stack.len() > 1 {
                    stack.pop();
                }
                continue;
            }
            if name.is_empty() || name == "." {
                continue;
            }
            let (cur, cur_path) = stack.last().ok_or_else(|| other("empty walk".into()))?;
            let here = format!("{cur_path}/{name}");
            let opened = match rustix::fs::openat(cur, name.as_str(), DIR_FLAGS, Mode::empty()) {
                Err(Errno::NOENT) if create.is_some() => {
                    let mode = create.unwrap_or(0o755);
                    let created = match rustix::fs::mkdirat(cur, name.as_str(), Mode::from_raw_mode(0o700)) {
                        Ok(()) => true,
                        Err(Errno::EXIST) => false,
                        Err(e) => return Err(errno(&self.show(&here))(e)),
                    };
                    let fd = rustix::fs::openat(cur, name.as_str(), DIR_FLAGS, Mode::empty())
                        .map_err(|e| self.not_a_dir(cur, &name, &here, e))?;
                    if created {
                        rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode)).map_err(errno(&self.show(&here)))?;
                    }
                    fd
                }
                Ok(fd) => fd,
                Err(e @ (Errno::LOOP | Errno::NOTDIR)) => {
                    let dir_meta = Meta::of(&rustix::fs::fstat(cur).map_err(errno(&self.show(cur_path)))?);
                    let st = rustix::fs::statat(cur, name.as_str(), AtFlags::SYMLINK_NOFOLLOW)
                        .map_err(errno(&self.show(&here)))?;
                    let meta = Meta::of(&st);
                    if meta.kind == Kind::Symlink && trusted_link(&dir_meta, &meta) && links < MAX_LINKS {
                        links += 1;
                        let target =
                            rustix::fs::readlinkat(cur, name.as_str(), Vec::new()).map_err(errno(&self.show(&here)))?;
                        let target = target.to_string_lossy().into_owned();
                        if target.starts_with('/') {
                            stack.truncate(1);
                        }
                        for part in target.split('/').rev() {
                            todo.push_front(part.to_string());
                        }
                        continue;
                    }
                    return Err(self.not_a_dir(cur, &name, &here, e));
                }
                Err(e) => return Err(errno(&self.show(&here))(e)),
            };
            stack.push((opened, here));
        }
        let (fd, path) = stack.pop().ok_or_else(|| other("empty walk".into()))?;
        Ok(Dir { fd, path, shown_root: self.path.clone() })
    }

    fn not_a_dir(&self, cur: &OwnedFd, name: &str, here: &str, e: Errno) -> io::Error {
        match rustix::fs::statat(cur, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => {
                let kind = Meta::of(&st).kind;
                let why = if kind == Kind::Symlink {
                    " that root did not make in a folder only root can change: mercure-setup never follows it"
                } else {
                    ""
                };
                other(format!("{} is {}{why} where a folder is expected; move it away", self.show(here), kind.name()))
            }
            Err(_) => errno(&self.show(here))(e),
        }
    }
}

fn show(root: &Path, path: &str) -> String {
    if root == Path::new("/") {
        if path.is_empty() { "/".into() } else { path.to_string() }
    } else {
        format!("{}{path}", root.display())
    }
}

/// `path` as its folder and last component.
pub fn split(path: &str) -> io::Result<(&str, &str)> {
    components(path)?;
    path.rsplit_once('/').filter(|(_, n)| !n.is_empty()).ok_or_else(|| other(format!("{path}: no file name")))
}

fn read_fd(fd: OwnedFd, shown: &str, cap: u64) -> io::Result<Vec<u8>> {
    let meta = Meta::of(&rustix::fs::fstat(&fd).map_err(errno(shown))?);
    if meta.kind != Kind::File {
        return Err(other(format!("{shown} is {}, not a regular file", meta.kind.name())));
    }
    if meta.size > cap {
        return Err(other(format!("{shown} is larger than {cap} bytes")));
    }
    let mut bytes = Vec::new();
    File::from(fd).take(cap + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(other(format!("{shown} is larger than {cap} bytes")));
    }
    Ok(bytes)
}

/// A fresh name for a temp file: nobody can guess it, and `O_EXCL` refuses one that exists.
fn temp_name() -> io::Result<String> {
    use std::fmt::Write as _;
    let mut bytes = [0u8; 12];
    crate::random::fill(&mut bytes).map_err(|e| other(e.to_string()))?;
    Ok(bytes.iter().fold(".mercure-setup-".to_string(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    }))
}

impl Dir {
    fn show(&self, name: &str) -> String {
        show(&self.shown_root, &format!("{}/{name}", self.path))
    }

    /// This folder's own path on the machine (`/` for the root).
    pub fn path_of(&self, name: &str) -> String {
        format!("{}/{name}", self.path)
    }

    /// `fstat` of the folder itself.
    pub fn meta(&self) -> io::Result<Meta> {
        Ok(Meta::of(&rustix::fs::fstat(&self.fd).map_err(errno(&self.show("")))?))
    }

    /// What is at `name` (a link is not followed); `None` when nothing is.
    pub fn lstat(&self, name: &str) -> io::Result<Option<Meta>> {
        match rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(Meta::of(&st))),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(errno(&self.show(name))(e)),
        }
    }

    /// Opens the folder `name` in this one, not following a link.
    pub fn sub(&self, name: &str) -> io::Result<Option<Dir>> {
        match rustix::fs::openat(&self.fd, name, DIR_FLAGS, Mode::empty()) {
            Ok(fd) => Ok(Some(Dir { fd, path: self.path_of(name), shown_root: self.shown_root.clone() })),
            Err(Errno::NOENT) => Ok(None),
            Err(e @ (Errno::LOOP | Errno::NOTDIR)) => match self.lstat(name)? {
                Some(m) => Err(other(format!("{} is {} where a folder is expected", self.show(name), m.kind.name()))),
                None => Err(errno(&self.show(name))(e)),
            },
            Err(e) => Err(errno(&self.show(name))(e)),
        }
    }

    /// Reads the regular file `name` (never a link, FIFO or device: the open does not
    /// follow and does not wait), at most `cap` bytes, with its `fstat`.
    pub fn read(&self, name: &str, cap: u64) -> io::Result<Option<(Vec<u8>, Meta)>> {
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
        let fd = match rustix::fs::openat(&self.fd, name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(None),
            Err(Errno::LOOP) => {
                return Err(other(format!("{} is a symbolic link, not a regular file", self.show(name))));
            }
            Err(e) => return Err(errno(&self.show(name))(e)),
        };
        let meta = Meta::of(&rustix::fs::fstat(&fd).map_err(errno(&self.show(name)))?);
        Ok(Some((read_fd(fd, &self.show(name), cap)?, meta)))
    }

    /// The names in this folder.
    pub fn list(&self) -> io::Result<Vec<String>> {
        let mut dir = rustix::fs::Dir::read_from(&self.fd).map_err(errno(&self.show("")))?;
        let mut names = Vec::new();
        while let Some(entry) = dir.read() {
            let entry = entry.map_err(errno(&self.show("")))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name != "." && name != ".." {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    /// Sets the folder's own mode (and owner) on its descriptor.
    pub fn set_meta(&self, mode: u32, owner: Option<(u32, u32)>) -> io::Result<()> {
        set_meta(&self.fd, mode, owner).map_err(|e| other(format!("{}: {e}", self.show(""))))
    }

    /// Installs `bytes` as `name`: a new file under a random name (`O_EXCL`, never a link),
    /// owner and mode set on its descriptor, synced, then renamed over `name` within this
    /// folder. A folder at `name` is never replaced (the rename fails).
    pub fn write(&self, name: &str, bytes: &[u8], mode: u32, owner: Option<(u32, u32)>) -> io::Result<()> {
        let shown = self.show(name);
        let fail = |e: io::Error| other(format!("writing {shown}: {e}"));
        let tmp = temp_name()?;
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&self.fd, tmp.as_str(), flags, Mode::from_raw_mode(0o600))
            .map_err(|e| fail(e.into()))?;
        let result = (|| -> io::Result<()> {
            let mut file = File::from(fd);
            file.write_all(bytes)?;
            set_meta(&file, mode, owner)?;
            file.sync_all()?;
            rustix::fs::renameat(&self.fd, tmp.as_str(), &self.fd, name)?;
            // The name now holds the file written above, not something put in its place.
            let ours = Meta::of(&rustix::fs::fstat(&file)?);
            let there = Meta::of(&rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW)?);
            if (there.dev, there.ino) != (ours.dev, ours.ino) {
                return Err(other("it was replaced while being written".into()));
            }
            rustix::fs::fsync(&self.fd)?;
            Ok(())
        })();
        if result.is_err() {
            let _ = rustix::fs::unlinkat(&self.fd, tmp.as_str(), AtFlags::empty());
        }
        result.map_err(fail)
    }

    /// Makes `name` a symbolic link to `target`: made under a random name, then renamed
    /// over what is there (never a folder).
    pub fn symlink(&self, name: &str, target: &str) -> io::Result<()> {
        let shown = self.show(name);
        let tmp = temp_name()?;
        rustix::fs::symlinkat(target, &self.fd, tmp.as_str()).map_err(errno(&shown))?;
        if let Err(e) = rustix::fs::renameat(&self.fd, tmp.as_str(), &self.fd, name) {
            let _ = rustix::fs::unlinkat(&self.fd, tmp.as_str(), AtFlags::empty());
            return Err(errno(&shown)(e));
        }
        Ok(())
    }

    /// The target of the link `name`.
    pub fn read_link(&self, name: &str) -> io::Result<String> {
        let t = rustix::fs::readlinkat(&self.fd, name, Vec::new()).map_err(errno(&self.show(name)))?;
        Ok(t.to_string_lossy().into_owned())
    }

    /// Removes `name`: a file or link, or an empty folder (a folder with anything in it stays).
    pub fn remove(&self, name: &str) -> io::Result<()> {
        let flags = match self.lstat(name)? {
            None => return Ok(()),
            Some(m) if m.kind == Kind::Dir => AtFlags::REMOVEDIR,
            Some(_) => AtFlags::empty(),
        };
        rustix::fs::unlinkat(&self.fd, name, flags).map_err(errno(&self.show(name)))
    }

    /// Creates the folder `name` with `mode`; `None` when something is already there.
    pub fn new_sub(&self, name: &str, mode: u32) -> io::Result<Option<Dir>> {
        match rustix::fs::mkdirat(&self.fd, name, Mode::from_raw_mode(0o700)) {
            Ok(()) => {
                let d = self.sub(name)?.ok_or_else(|| other(format!("{} vanished", self.show(name))))?;
                d.set_meta(mode, None)?;
                Ok(Some(d))
            }
            Err(Errno::EXIST) => Ok(None),
            Err(e) => Err(errno(&self.show(name))(e)),
        }
    }

    pub fn try_clone(&self) -> io::Result<Dir> {
        Ok(Dir { fd: self.fd.try_clone()?, path: self.path.clone(), shown_root: self.shown_root.clone() })
    }

    /// Where this folder is, for messages (the staged path under `--root`).
    pub fn shown(&self) -> String {
        show(&self.shown_root, &self.path)
    }

    /// Opens (or creates, with `mode`) the folder `name` in this one.
    pub fn make_sub(&self, name: &str, mode: u32) -> io::Result<Dir> {
        match rustix::fs::mkdirat(&self.fd, name, Mode::from_raw_mode(0o700)) {
            Ok(()) => {
                let d = self.sub(name)?.ok_or_else(|| other(format!("{} vanished", self.show(name))))?;
                d.set_meta(mode, None)?;
                Ok(d)
            }
            Err(Errno::EXIST) => self.sub(name)?.ok_or_else(|| other(format!("{} vanished", self.show(name)))),
            Err(e) => Err(errno(&self.show(name))(e)),
        }
    }

    /// Whether `name` is the file open as `file` (not something put in its place).
    pub fn same_file(&self, name: &str, file: &File) -> io::Result<bool> {
        let ours = Meta::of(&rustix::fs::fstat(file)?);
        Ok(self.lstat(name)?.is_some_and(|m| (m.dev, m.ino) == (ours.dev, ours.ino)))
    }

    /// Takes an exclusive `flock` on the file `name` (created 0600 if missing), without
    /// waiting; `Ok(None)` when another process holds it.
    pub fn try_lock(&self, name: &str) -> io::Result<Option<File>> {
        use rustix::fs::FlockOperation;
        let flags = OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd =
            rustix::fs::openat(&self.fd, name, flags, Mode::from_raw_mode(0o600)).map_err(errno(&self.show(name)))?;
        if Meta::of(&rustix::fs::fstat(&fd).map_err(errno(&self.show(name)))?).kind != Kind::File {
            return Err(other(format!("{} is not a regular file", self.show(name))));
        }
        match rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(Some(File::from(fd))),
            Err(Errno::WOULDBLOCK) => Ok(None),
            Err(e) => Err(errno(&self.show(name))(e)),
        }
    }
}

/// Owner first (a `chown` clears set-id bits), then mode, both on the descriptor.
fn set_meta(fd: impl AsFd, mode: u32, owner: Option<(u32, u32)>) -> io::Result<()> {
    if let Some((uid, gid)) = owner {
        rustix::fs::fchown(&fd, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))?;
    }
    rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn plain_paths_only() {
        assert_eq!(components("/etc/a").unwrap(), ["etc", "a"]);
        for bad in ["/etc/../x", "/etc//x", "/./x", "/x/"] {
            assert!(components(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn writes_with_mode_whatever_is_there_and_never_replaces_a_folder() {
        let t = tempfile::tempdir().unwrap();
        let root = Root::open(t.path()).unwrap();
        let d = root.make_dir("/a/b", 0o750).unwrap();
        assert_eq!(std::fs::metadata(t.path().join("a")).unwrap().permissions().mode() & 0o7777, 0o750);
        d.write("f", b"x", 0o640, None).unwrap();
        assert_eq!(std::fs::read(t.path().join("a/b/f")).unwrap(), b"x");
        assert_eq!(std::fs::metadata(t.path().join("a/b/f")).unwrap().permissions().mode() & 0o7777, 0o640);
        // A link where the file goes is replaced by the file; its target is untouched.
        std::fs::write(t.path().join("victim"), "v").unwrap();
        std::os::unix::fs::symlink(t.path().join("victim"), t.path().join("a/b/g")).unwrap();
        d.write("g", b"new", 0o600, None).unwrap();
        assert_eq!(std::fs::read(t.path().join("victim")).unwrap(), b"v");
        assert!(std::fs::symlink_metadata(t.path().join("a/b/g")).unwrap().is_file());
        // A folder where the file goes stays, contents and all.
        std::fs::create_dir(t.path().join("a/b/h")).unwrap();
        std::fs::write(t.path().join("a/b/h/keep"), "k").unwrap();
        assert!(d.write("h", b"x", 0o600, None).is_err());
        assert_eq!(std::fs::read(t.path().join("a/b/h/keep")).unwrap(), b"k");
        let leftovers: Vec<_> = d.list().unwrap().into_iter().filter(|n| n.starts_with(".mercure")).collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn links_are_followed_only_within_the_root() {
        let t = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("real")).unwrap();
        std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        // Made by root (these tests run as root in CI) in a folder only root writes.
        std::os::unix::fs::symlink("/real", t.path().join("abs")).unwrap();
        std::os::unix::fs::symlink(outside.path(), t.path().join("out")).unwrap();
        std::os::unix::fs::symlink("../../..", t.path().join("real/up")).unwrap();
        let root = Root::open(t.path()).unwrap();
        if crate::apply::preflight::is_root() {
            root.make_dir("/abs/x", 0o755).unwrap();
            assert!(t.path().join("real/x").is_dir());
            // An absolute target starts again at the root: `outside` is looked up inside it.
            assert!(root.dir("/out").unwrap().is_none());
            let up = root.dir("/real/up").unwrap().unwrap();
            assert_eq!(up.path, "");
            assert!(up.meta().unwrap().kind == Kind::Dir);
            up.write("f", b"x", 0o644, None).unwrap();
            assert!(t.path().join("f").is_file(), "`..` stops at the root");
        }
        // A link in a folder someone else can write is never followed.
        std::fs::set_permissions(t.path().join("real"), std::fs::Permissions::from_mode(0o777)).unwrap();
        std::os::unix::fs::symlink("/", t.path().join("real/l")).unwrap();
        let e = root.make_dir("/real/l/x", 0o755).err().unwrap().to_string();
        assert!(e.contains("is a symbolic link"), "{e}");
    }
}
