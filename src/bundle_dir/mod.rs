//! Reading a rendered bundle back from disk (`check`, `doctor`, `apply`): the folder,
//! its validated answers and its files; `facts` parses the files once into what the
//! consistency checks compare.
//!
//! The bundle is read as it is on disk instead of rendered again: the point is to
//! catch a bundle that was edited by hand or copied incompletely.

pub mod facts;

use std::path::{Path, PathBuf};

use crate::answers::Answers;
use crate::answers_file;
use crate::bundle::paths;
use crate::deployment::{HubFacts, TopologyFacts};

pub use facts::Facts;

/// Why a folder cannot be checked at all (as opposed to a check that fails).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{0} is not a folder")]
    NotADir(PathBuf),
    #[error("{dir} is not a mercure-setup bundle: {missing} is missing (render one with `mercure-setup render`)")]
    NotABundle { dir: PathBuf, missing: String },
    #[error("{dir}: expected exactly one nginx/*.conf site file, found {found}")]
    NginxSite { dir: PathBuf, found: usize },
    #[error("cannot read {path}: {detail}")]
    Read { path: PathBuf, detail: String },
    #[error("{} is not valid answers:\n{}", .path.display(), .errors.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n"))]
    Answers { path: PathBuf, errors: Vec<crate::answers::FieldError> },
}

/// A bundle folder on disk.
#[derive(Debug, Clone)]
pub struct BundleDir {
    pub root: PathBuf,
    /// The resolved answers the bundle was rendered from (no secrets), validated
    /// the same way `render` validates them.
    pub answers: Answers,
    /// Bundle-relative path of the nginx site file, e.g. `nginx/app.example.com.conf`.
    pub nginx_site: String,
}

impl BundleDir {
    /// Opens DIR: it must hold `answers.yaml`, `mercure/Caddyfile` and one nginx site.
    pub fn open(dir: &Path) -> Result<BundleDir, LoadError> {
        if !dir.is_dir() {
            return Err(LoadError::NotADir(dir.to_path_buf()));
        }
        for required in [paths::ANSWERS, paths::CADDYFILE] {
            if !dir.join(required).is_file() {
                return Err(LoadError::NotABundle { dir: dir.to_path_buf(), missing: required.into() });
            }
        }
        let read_dir = std::fs::read_dir(dir.join(paths::NGINX_DIR))
            .map_err(|_| LoadError::NotABundle { dir: dir.to_path_buf(), missing: format!("{}/", paths::NGINX_DIR) })?;
        let sites: Vec<String> = read_dir
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| Path::new(n).extension().is_some_and(|e| e == "conf"))
            .collect();
        let [site] = sites.as_slice() else {
            return Err(LoadError::NginxSite { dir: dir.to_path_buf(), found: sites.len() });
        };
        let answers_path = dir.join(paths::ANSWERS);
        let text = crate::output::read_user_file(&answers_path, crate::output::READ_CAP)
            .map_err(|e| LoadError::Read { path: answers_path.clone(), detail: e.to_string() })?;
        let answers = answers_file::parse(&text, &answers_path.display().to_string())
            .and_then(|draft| Answers::from_draft(&draft))
            .map(|(answers, _)| answers)
            .map_err(|errors| LoadError::Answers { path: answers_path.clone(), errors })?;
        // Absolute, because tools run with other working folders (nginx -p) read these paths.
        let root = std::fs::canonicalize(dir)
            .map_err(|e| LoadError::Read { path: dir.to_path_buf(), detail: e.to_string() })?;
        Ok(BundleDir { root, answers, nginx_site: format!("{}/{site}", paths::NGINX_DIR) })
    }

    /// Absolute path of a bundle-relative file.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Reads a bundle-relative file, with an error naming it.
    pub fn read(&self, rel: &str) -> Result<String, String> {
        // Only regular files, capped: a FIFO or /dev/zero in a bundle must not hang `check`.
        crate::output::read_user_file(&self.path(rel), crate::output::READ_CAP).map_err(|e| format!("{rel}: {e}"))
    }

    /// An answer by its dotted key (`hub.port`), as text; `None` for an unknown key.
    pub fn answer(&self, dotted: &str) -> Option<String> {
        crate::questions::question(dotted)?;
        Some(answers_file::raw_to_text(&self.answers.to_draft().value(dotted)))
    }

    /// How the bundle's topology wires nginx, the hub and Symfony.
    pub fn wiring(&self) -> TopologyFacts {
        self.answers.topology.facts()
    }

    /// The hub release line the bundle was rendered for (`hub.version` in its answers,
    /// which `render` resolves; an unresolved `auto` is 0.24, as `render` would write).
    pub fn hub(&self) -> HubFacts {
        self.answers.hub.version.line().facts()
    }
}
