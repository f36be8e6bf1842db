//! The bundle as `apply` trusts it: read once, before anything is planned, through
//! folder descriptors (a link anywhere in it is refused, never followed), regular files
//! only (a FIFO or device is never waited on), each capped, each folder and file owned
//! by root or the person running apply and writable by no one else, and each file's
//! bytes equal to what `render` recorded in `.state/manifest.json`. Everything after
//! works on these bytes, never on the folder again.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::beneath::{Dir, Meta, Root};
use crate::answers::{Answers, FieldError};
use crate::bundle::paths;
use crate::bundle::sha256_hex;

/// Largest bundle file apply reads (the biggest generated file is a few kilobytes).
pub const BUNDLE_CAP: u64 = 1 << 20;

/// Why the bundle is not installed.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("{}: {source}", .path.display())]
    NotFound { path: PathBuf, source: std::io::Error },
    /// The bundle folder cannot be opened through a descriptor.
    #[error(transparent)]
    Unopenable(std::io::Error),
    /// Folders or files someone else could change, or that are not what render wrote.
    #[error(
        "the bundle cannot be trusted, nothing was changed:\n{}",
        .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n")
    )]
    Untrusted(BTreeSet<String>),
    #[error("{} is not UTF-8", .path.display())]
    NotUtf8 { path: PathBuf },
    /// The bundle's answers file does not validate.
    #[error("{}", crate::error::Error::InvalidAnswers(.0.clone()))]
    InvalidAnswers(Vec<FieldError>),
    #[error("{}: expected exactly one {}/*.conf site file, found {found}", .root.display(), paths::NGINX_DIR)]
    SiteFiles { root: PathBuf, found: usize },
    /// Files edited since `render`, each with its diff (secrets excepted), and what to do.
    #[error("{0}")]
    Edited(String),
}

/// A bundle that cannot be trusted or was edited is refused before anything changes
/// (exit 3); one that cannot be found or read as answers is the user's input (exit 2).
impl From<VerifyError> for crate::error::Error {
    fn from(e: VerifyError) -> Self {
        use crate::error::Error;
        match e {
            VerifyError::Untrusted(_) | VerifyError::Edited(_) => Error::Preflight(e.to_string()),
            VerifyError::InvalidAnswers(errors) => Error::InvalidAnswers(errors),
            VerifyError::NotFound { .. }
            | VerifyError::Unopenable(_)
            | VerifyError::NotUtf8 { .. }
            | VerifyError::SiteFiles { .. } => Error::Usage(e.to_string()),
        }
    }
}

/// The bundle's files apply uses, read and checked.
pub struct Verified {
    /// The bundle folder, absolute (for messages and the backup's record).
    pub root: PathBuf,
    pub answers: Answers,
    /// Bundle-relative path of the nginx site file.
    pub nginx_site: String,
    /// Bundle-relative path -> bytes.
    pub files: BTreeMap<String, Vec<u8>>,
    /// Files whose bytes differ from the manifest's, accepted with `--accept-edits`.
    pub accepted: Vec<String>,
}

/// The bundle files doctor reads after going live besides those installed: they are
/// verified with the rest, and doctor reads the verified bytes (see [`Verified::private_copy`]).
const DOCTOR_READS: [&str; 4] = [paths::PUBLISHER_TOKEN, paths::SUBSCRIBER_TOKEN, paths::CA_CERT, paths::HUB_CERT];
/// Those of [`DOCTOR_READS`] that are secrets (never shown in a diff).
const DOCTOR_SECRETS: [&str; 2] = [paths::PUBLISHER_TOKEN, paths::SUBSCRIBER_TOKEN];

impl Verified {
    /// The verified files written into a new folder only root can open, inside `under`
    /// (a folder only root can change): what doctor reads after going live, so the
    /// bundle's owner cannot change what root probes with (a link to a secret where a
    /// token was, a FIFO) after it was verified.
    pub fn private_copy(&self, under: &Path) -> std::io::Result<tempfile::TempDir> {
        use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
        let copy = tempfile::Builder::new().prefix("bundle-").tempdir_in(under)?;
        for (rel, bytes) in &self.files {
            let path = copy.path().join(rel);
            if let Some(parent) = path.parent() {
                std::fs::DirBuilder::new().recursive(true).mode(0o700).create(parent)?;
            }
            let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path)?;
            std::io::Write::write_all(&mut file, bytes)?;
        }
        Ok(copy)
    }
}

#[derive(Debug, Default, Deserialize)]
struct Manifest {
    #[serde(default)]
    files: BTreeMap<String, String>,
}

/// The user who ran apply: `sudo`'s caller, else the real user.
pub fn invoking_uid() -> u32 {
    let real = std::fs::read_to_string("/proc/self/status").ok().and_then(|s| {
        s.lines().find(|l| l.starts_with("Uid:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|u| u.parse().ok())
    });
    match real {
        Some(0) | None => std::env::var("SUDO_UID").ok().and_then(|u| u.parse().ok()).unwrap_or(0),
        Some(u) => u,
    }
}

/// What is wrong with a bundle folder or file's owner and mode, with the fix.
fn owner_problem(shown: &str, meta: &Meta, me: u32, bundle: &Path) -> Option<String> {
    let fix = format!("check its contents, then `chown -R root: {b} && chmod -R go-w {b}`", b = bundle.display());
    if meta.uid != 0 && meta.uid != me {
        return Some(format!(
            "{shown} is owned by uid {}: apply installs only a bundle owned by root or by you (uid {me}), as its \
             owner could change what root installs; {fix}",
            meta.uid
        ));
    }
    (meta.mode & 0o022 != 0).then(|| {
        format!(
            "{shown} is writable by other users (mode {:04o}): they could change what root installs; {fix}",
            meta.mode
        )
    })
}

/// A folder (or file) that someone other than root or the caller could change, named as
/// `what`, with what they could then do (`then`). A sticky folder (`/tmp`) lets each user
/// rename only their own entries, so it passes.
pub fn changeable_by_others(path: &Path, me: u32, what: &str, then: &str) -> Option<String> {
    use std::os::unix::fs::MetadataExt as _;
    let m = std::fs::metadata(path).ok()?;
    let others_write = m.mode() & 0o022 != 0 && !(m.is_dir() && m.mode() & 0o1000 != 0);
    (m.uid() != 0 && m.uid() != me || others_write).then(|| {
        format!(
            "{} ({what}) can be changed by uid {} or others (mode {:04o}): whoever can could {then}",
            path.display(),
            m.uid(),
            m.mode() & 0o7777
        )
    })
}

/// The first of `path` (named `what`) and the folders above it that a user other than
/// root or the caller can change.
pub fn changeable_chain(path: &Path, me: u32, what: &str, then: &str) -> Option<String> {
    changeable_by_others(path, me, what, then).or_else(|| {
        path.ancestors().skip(1).find_map(|a| changeable_by_others(a, me, &format!("a folder above {what}"), then))
    })
}

/// Reads bundle files through descriptors, checking every folder and file on the way.
struct Reader<'a> {
    top: Dir,
    bundle: &'a Path,
    me: u32,
    problems: BTreeSet<String>,
}

impl Reader<'_> {
    fn check(&mut self, shown: &str, meta: &Meta) {
        if let Some(p) = owner_problem(shown, meta, self.me, self.bundle) {
            self.problems.insert(p);
        }
    }

    fn dir(&mut self, rel: &str) -> Option<Dir> {
        let mut cur = self.top.try_clone().ok()?;
        for part in rel.split('/').filter(|p| !p.is_empty()) {
            match cur.sub(part) {
                Ok(Some(sub)) => {
                    let meta = sub.meta().ok()?;
                    self.check(&sub.shown(), &meta);
                    cur = sub;
                }
                Ok(None) => return None,
                Err(e) => {
                    self.problems.insert(e.to_string());
                    return None;
                }
            }
        }
        Some(cur)
    }

    /// The file's bytes; `None` (with the problem noted) when it cannot be used.
    fn read(&mut self, rel: &str) -> Option<Vec<u8>> {
        self.read_if(rel, true)
    }

    /// Like [`Reader::read`]; a missing file is a problem only when `required`.
    fn read_if(&mut self, rel: &str, required: bool) -> Option<Vec<u8>> {
        let (dir, name) = rel.rsplit_once('/').unwrap_or(("", rel));
        let d = self.dir(dir)?;
        match d.read(name, BUNDLE_CAP) {
            Ok(Some((bytes, meta))) => {
                self.check(&format!("{}/{rel}", self.bundle.display()), &meta);
                Some(bytes)
            }
            Ok(None) => {
                if required {
                    self.problems.insert(format!("the bundle has no {rel}: render it again"));
                }
                None
            }
            Err(e) => {
                self.problems.insert(format!("{e}: apply reads only regular files from a bundle"));
                None
            }
        }
    }
}

/// A bundle file the actions install.
pub struct Wanted {
    pub rel: String,
    pub secret: bool,
    /// Where it is installed (an edit is shown against what is there now).
    pub dest: String,
}

/// Reads and verifies the bundle at `dir`: the answers, then every file the actions
/// install (`what_to_read` lists them from the answers). `installed` reads a
/// destination, for showing an edit.
pub fn read_bundle(
    dir: &Path,
    accept_edits: bool,
    installed: impl Fn(&str) -> Option<Vec<u8>>,
    what_to_read: impl Fn(&Answers) -> Vec<Wanted>,
) -> Result<Verified, VerifyError> {
    let root =
        std::fs::canonicalize(dir).map_err(|source| VerifyError::NotFound { path: dir.to_path_buf(), source })?;
    let me = invoking_uid();
    let then = "swap the bundle apply installs; keep the bundle in a folder of root's or yours";
    if let Some(p) = root.parent().and_then(|above| changeable_chain(above, me, "the bundle's folder", then)) {
        return Err(VerifyError::Untrusted(BTreeSet::from([p])));
    }
    let top = Root::open(&root).and_then(|r| r.top()).map_err(VerifyError::Unopenable)?;
    let mut r = Reader { top, bundle: &root, me, problems: BTreeSet::new() };
    if let Ok(meta) = r.top.meta() {
        r.check(&root.display().to_string(), &meta);
    }
    let manifest: Option<Manifest> =
        r.read_if(paths::state::MANIFEST, false).and_then(|b| serde_json::from_slice(&b).ok());
    if manifest.is_none() && !accept_edits {
        r.problems.insert(format!(
            "{}/{} is missing or unreadable: apply installs only what `render` recorded; render the bundle again",
            root.display(),
            paths::state::MANIFEST
        ));
    }
    let answers_bytes = r.read(paths::ANSWERS);
    let sites: Vec<String> = r
        .dir(paths::NGINX_DIR)
        .and_then(|d| d.list().ok())
        .unwrap_or_default()
        .into_iter()
        .filter(|n| Path::new(n).extension().is_some_and(|e| e == "conf"))
        .collect();
    if !r.problems.is_empty() {
        return Err(VerifyError::Untrusted(r.problems));
    }
    let answers_path = root.join(paths::ANSWERS);
    let text = String::from_utf8(answers_bytes.unwrap_or_default())
        .map_err(|_| VerifyError::NotUtf8 { path: answers_path.clone() })?;
    let answers = crate::answers_file::parse(&text, &answers_path.display().to_string())
        .and_then(|draft| Answers::from_draft(&draft))
        .map(|(a, _)| a)
        .map_err(VerifyError::InvalidAnswers)?;
    let [site] = sites.as_slice() else {
        return Err(VerifyError::SiteFiles { root, found: sites.len() });
    };
    let nginx_site = format!("{}/{site}", paths::NGINX_DIR);
    let mut files = BTreeMap::new();
    files.insert(paths::ANSWERS.to_string(), text.into_bytes());
    let wanted = what_to_read(&answers);
    for w in &wanted {
        if !files.contains_key(&w.rel)
            && let Some(bytes) = r.read(&w.rel)
        {
            files.insert(w.rel.clone(), bytes);
        }
    }
    if !files.contains_key(&nginx_site)
        && let Some(bytes) = r.read(&nginx_site)
    {
        files.insert(nginx_site.clone(), bytes);
    }
    for rel in DOCTOR_READS {
        if !files.contains_key(rel)
            && let Some(bytes) = r.read_if(rel, false)
        {
            files.insert(rel.to_string(), bytes);
        }
    }
    if !r.problems.is_empty() {
        return Err(VerifyError::Untrusted(r.problems));
    }
    // Every file must be as render wrote it.
    let recorded = manifest.unwrap_or_default();
    let edited: Vec<String> = files
        .iter()
        .filter(|(rel, bytes)| recorded.files.get(*rel) != Some(&sha256_hex(bytes)))
        .map(|(rel, _)| rel.clone())
        .collect();
    if !edited.is_empty() && !accept_edits {
        let mut text = String::from(
            "the bundle was changed since `render` wrote it (its files do not match .state/manifest.json); \
             nothing was changed here.\n",
        );
        for rel in &edited {
            let w = wanted.iter().find(|w| w.rel == *rel);
            let _ = writeln!(text, "  {rel}");
            // The tokens doctor reads are secrets too, though apply installs none of them.
            let secret = w.map_or_else(|| DOCTOR_SECRETS.contains(&rel.as_str()), |w| w.secret);
            text.push_str(&edit_diff(&files[rel], w, secret, &installed));
        }
        text.push_str(
            "Render the bundle again, or, having read the changes above, pass --accept-edits to install them",
        );
        return Err(VerifyError::Edited(text));
    }
    Ok(Verified { root, answers, nginx_site, files, accepted: edited })
}

/// The edited file against what is installed now (the manifest keeps hashes, not
/// contents); a secret's contents are never shown.
fn edit_diff(
    now: &[u8],
    wanted: Option<&Wanted>,
    secret: bool,
    installed: &impl Fn(&str) -> Option<Vec<u8>>,
) -> String {
    if secret {
        return "    (holds a secret: contents not shown)\n".into();
    }
    let Ok(new) = std::str::from_utf8(now) else { return "    (not text)\n".into() };
    let old = wanted.and_then(|w| installed(&w.dest)).and_then(|b| String::from_utf8(b).ok()).unwrap_or_default();
    let label = wanted.map_or("nothing", |w| w.dest.as_str());
    let diff = similar::TextDiff::from_lines(old.as_str(), new)
        .unified_diff()
        .context_radius(2)
        .header(label, "bundle")
        .to_string();
    super::indent(&diff, "    ")
}
