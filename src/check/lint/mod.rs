//! `check`'s lints of meaning: what the files on disk make nginx and the hub do,
//! against the mistakes of the troubleshooting table (buffering, timeouts, the TLS
//! hop, CORS, hand edits). Each lint is one check citing its troubleshooting row;
//! the rules themselves are pure functions of parsed files (`site`, `edited`).

pub mod edited;
pub mod site;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::{CheckOptions, CheckResult, Outcome};
use crate::bundle::paths;
use crate::bundle_dir::BundleDir;
use crate::troubleshooting::Row;

/// One thing a lint found: where, and what it makes nginx or the hub do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The file as the user knows it (bundle-relative, or an installed path).
    pub file: String,
    /// 1-based line, when the finding is about one directive.
    pub line: Option<usize>,
    pub problem: String,
}

impl Finding {
    pub fn at(file: &str, line: usize, problem: impl Into<String>) -> Finding {
        Finding { file: file.into(), line: Some(line), problem: problem.into() }
    }

    pub fn file(file: &str, problem: impl Into<String>) -> Finding {
        Finding { file: file.into(), line: None, problem: problem.into() }
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file, self.problem),
            None => write!(f, "{}: {}", self.file, self.problem),
        }
    }
}

/// What one lint is about, as data: the report prints it and cites `row`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lint {
    /// Stable identifier for scripts (`--json`).
    pub id: &'static str,
    pub title: &'static str,
    pub row: Row,
    /// What a clean result says.
    pub passed: &'static str,
    pub fix: &'static str,
}

/// A lint's result as a check: passed, or failed with every finding and the row to read.
pub fn to_check(lint: &Lint, files: &[String], findings: &[Finding]) -> CheckResult {
    let outcome = if findings.is_empty() {
        Outcome::Passed { detail: lint.passed.into() }
    } else {
        // One finding a line: the text report indents them under the check.
        let error = findings.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
        Outcome::Failed { error, fix: format!("{} (mercure-setup {})", lint.fix, lint.row.reference()) }
    };
    CheckResult { id: lint.id, title: lint.title.into(), files: files.to_vec(), row: Some(lint.row), outcome }
}

/// Where `--system` reads the installed files: below `/`, or below a staging root.
fn system_path(options: &CheckOptions, absolute: &str) -> PathBuf {
    let root = options.root.as_deref().unwrap_or(Path::new("/"));
    root.join(absolute.trim_start_matches('/'))
}

/// Runs every lint on the bundle (and, with `--system`, on the installed site inside
/// the system's `http { }` block).
pub fn run(bundle: &BundleDir, options: &CheckOptions) -> Vec<CheckResult> {
    let mut sites = vec![site::Site::read(&bundle.nginx_site, bundle.read(&bundle.nginx_site))];
    if options.system {
        let conf = system_path(options, "/etc/nginx/nginx.conf");
        let http = std::fs::read_to_string(&conf).ok().map(|t| site::http_block(&t)).unwrap_or_default();
        for s in &mut sites {
            s.http.clone_from(&http);
        }
        let name = bundle.nginx_site.rsplit('/').next().unwrap_or_default();
        let installed = system_path(options, &format!("/etc/nginx/sites-enabled/{name}"));
        if installed.is_file() {
            let shown = installed.display().to_string();
            let mut s = site::Site::read(&shown, std::fs::read_to_string(&installed).map_err(|e| e.to_string()));
            s.http = http;
            sites.push(s);
        }
    }
    let hub = site::Hub::read(bundle);
    let files: Vec<String> = sites.iter().map(|s| s.file.clone()).collect();
    let mut out: Vec<CheckResult> = site::lint_all(&sites, &hub, bundle.wiring().hub_tls)
        .into_iter()
        .map(|(lint, findings)| {
            let mut files = files.clone();
            if [site::CORS.id, site::READ_TIMEOUT.id, site::HUB_LISTENERS.id].contains(&lint.id) {
                files.push(paths::CADDYFILE.into());
            }
            to_check(lint, &files, &findings)
        })
        .collect();
    out.push(edited::check(bundle, options.verbose));
    out
}

/// Indents every line after the first of a multi-line text (a diff inside a finding).
pub fn indent_tail(text: &str, indent: &str) -> String {
    let mut lines = text.lines();
    let mut out = lines.next().unwrap_or_default().to_string();
    for l in lines {
        let _ = write!(out, "\n{indent}{l}");
    }
    out
}
