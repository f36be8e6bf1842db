//! `mercure-setup check DIR`: validates a rendered bundle with the real programs
//! on this machine (nginx, the Mercure hub, systemd-analyze, openssl) and checks that the
//! files agree with each other, and lints what the files mean (`lint`). Each check is
//! passed, partial (it ran on a stand-in, so part of the file went untested), failed
//! (the tool's own error line and a likely fix) or not run (tool absent, and how to
//! install it).
//!
//! The bundle is parsed from disk, never rendered again, so hand edits and partial
//! copies are caught.

pub mod adapt;
pub mod consistency;
pub mod limits;
pub mod lint;
pub mod tls_profile;
pub mod tools;

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::bundle::paths;
use crate::bundle_dir::{BundleDir, LoadError};
use crate::troubleshooting::Row;

/// How one check ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Passed {
        detail: String,
    },
    /// Ran, but on a stand-in (Caddy for the missing hub): `untested` says what it could not see.
    Partial {
        detail: String,
        untested: String,
        install: String,
    },
    Failed {
        error: String,
        fix: String,
    },
    /// Not run (the tool is absent): `skipped`, the word every command's JSON uses.
    #[serde(rename = "skipped")]
    NotRun {
        reason: String,
        install: String,
    },
}

/// One check and the bundle files it is about.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckResult {
    /// Stable identifier for scripts (`--json`).
    pub id: &'static str,
    pub title: String,
    pub files: Vec<String>,
    /// The `explain troubleshooting` row a failure of this check leads to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row: Option<Row>,
    #[serde(flatten)]
    pub outcome: Outcome,
}

impl CheckResult {
    pub fn failed(&self) -> bool {
        matches!(self.outcome, Outcome::Failed { .. })
    }
}

/// How `check` ends other than passing: not a bundle at all (a usage problem, exit 2),
/// or a bundle that is not right or a report that could not be written (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    NotABundle(#[from] LoadError),
    #[error("{n} check{} failed", plural(*.n))]
    Failed { n: usize },
    #[error("{n} check{} only partial (--strict)", plural(*.n))]
    Partial { n: usize },
    #[error("encoding JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl From<CheckError> for crate::error::Error {
    fn from(e: CheckError) -> Self {
        match e {
            CheckError::NotABundle(_) => crate::error::Error::Usage(e.to_string()),
            CheckError::Failed { .. } | CheckError::Partial { .. } | CheckError::Json(_) => {
                crate::error::Error::Failed(e.to_string())
            }
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Options of `check`.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// Test the site inside the system's nginx.conf instead of a minimal wrapper, and
    /// lint the installed site too.
    pub system: bool,
    /// Show each hand edit as a diff.
    pub verbose: bool,
    /// Where `--system` reads the installed files (default `/`), e.g. a staging root.
    pub root: Option<std::path::PathBuf>,
}

/// Everything `check` found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub bundle: String,
    /// failed if any check failed, partial if one ran on a stand-in or was skipped.
    pub status: crate::status::Status,
    pub passed: usize,
    pub partial: usize,
    pub failed: usize,
    #[serde(rename = "skipped")]
    pub not_run: usize,
    pub checks: Vec<CheckResult>,
}

impl Report {
    fn new(bundle: &Path, checks: Vec<CheckResult>) -> Report {
        let count = |f: fn(&Outcome) -> bool| checks.iter().filter(|c| f(&c.outcome)).count();
        let incomplete = count(|o| matches!(o, Outcome::Partial { .. } | Outcome::NotRun { .. }));
        Report {
            bundle: bundle.display().to_string(),
            status: crate::status::Status::of_counts(count(|o| matches!(o, Outcome::Failed { .. })), incomplete),
            passed: count(|o| matches!(o, Outcome::Passed { .. })),
            partial: count(|o| matches!(o, Outcome::Partial { .. })),
            failed: count(|o| matches!(o, Outcome::Failed { .. })),
            not_run: count(|o| matches!(o, Outcome::NotRun { .. })),
            checks,
        }
    }

    /// How the run ends: `Err` when a check failed, or (with `strict`) only ran partly.
    pub fn verdict(&self, strict: bool) -> Result<(), CheckError> {
        match (self.failed, self.partial) {
            (0, n) if n > 0 && strict => Err(CheckError::Partial { n }),
            (0, _) => Ok(()),
            (n, _) => Err(CheckError::Failed { n }),
        }
    }

    /// The human-readable report.
    pub fn to_text(&self) -> String {
        let mut out = format!("checking {}\n", self.bundle);
        for c in &self.checks {
            match &c.outcome {
                Outcome::Passed { detail } => {
                    let _ = writeln!(out, "  passed   {}: {detail}", c.title);
                }
                Outcome::Partial { detail, untested, install } => {
                    let _ = writeln!(out, "  partial  {}: {detail}", c.title);
                    let _ = writeln!(out, "           not tested: {untested}; install {install} for a full check");
                }
                Outcome::Failed { error, fix } => {
                    let _ = writeln!(out, "  FAILED   {} [{}]", c.title, c.files.join(", "));
                    let _ = writeln!(out, "           {}", lint::indent_tail(error, "           "));
                    let _ = writeln!(out, "           fix: {fix}");
                }
                Outcome::NotRun { reason, install } => {
                    let _ = writeln!(out, "  skipped  {}: {reason}; install with: {install}", c.title);
                }
            }
        }
        let _ = writeln!(
            out,
            "{} passed, {} partial, {} failed, {} skipped",
            self.passed, self.partial, self.failed, self.not_run
        );
        out
    }
}

/// `check` tied to a troubleshooting row: its failure cites the row.
fn with_row(mut check: CheckResult, row: Row) -> CheckResult {
    if let Outcome::Failed { fix, .. } = &mut check.outcome {
        let _ = write!(fix, " (mercure-setup {})", row.reference());
    }
    check.row = Some(row);
    check
}

fn tool_check(id: &'static str, title: &str, files: &[&str], outcome: Outcome) -> CheckResult {
    CheckResult { id, title: title.into(), files: files.iter().map(|f| (*f).to_string()).collect(), row: None, outcome }
}

/// Runs every check on the bundle in `dir`. `Err` only when `dir` is not a bundle.
pub fn run(dir: &Path, options: &CheckOptions) -> Result<Report, CheckError> {
    let bundle = BundleDir::open(dir)?;
    let site = bundle.nginx_site.clone();
    let mut checks = Vec::new();
    let nginx = if options.system {
        tool_check("nginx", "nginx -t (system nginx.conf)", &[&site], tools::nginx_test_system(&bundle))
    } else {
        tool_check("nginx", "nginx -t", &[&site], tools::nginx_test(&bundle, adapt::Http2Form::AsRendered))
    };
    checks.push(nginx);
    checks.push(tool_check(
        "hub-validate",
        "hub validates the Caddyfile",
        &[paths::CADDYFILE, paths::HUB_ENV],
        tools::hub_validate(&bundle),
    ));
    checks.push(with_row(
        tool_check(
            "mercure-directives",
            "mercure block directives",
            &[paths::CADDYFILE],
            tools::mercure_directives(&bundle),
        ),
        Row::IgnoredDirective,
    ));
    checks.push(tool_check(
        "systemd-verify",
        "systemd-analyze verify mercure.service",
        &[paths::UNIT],
        tools::systemd_verify_hub(&bundle),
    ));
    checks.push(tool_check(
        "systemd-verify-nginx",
        "systemd-analyze verify nginx drop-in",
        &[paths::NGINX_DROP_IN],
        tools::systemd_verify_nginx_drop_in(&bundle),
    ));
    checks.push(tool_check(
        "systemd-security",
        "systemd-analyze security",
        &[paths::UNIT],
        tools::systemd_security(&bundle),
    ));
    if bundle.wiring().private_ca {
        checks.push(tool_check(
            "hub-certificate",
            "openssl verify + hub certificate fields",
            &[paths::CA_CERT, paths::HUB_CERT],
            tools::hub_certificate(&bundle),
        ));
        checks.push(with_row(
            tool_check(
                "hub-certificate-days",
                "hub certificate days left",
                &[paths::HUB_CERT],
                tools::hub_certificate_days(&bundle, time::OffsetDateTime::now_utc()),
            ),
            Row::CertificateMismatch,
        ));
    }
    checks.extend(consistency::all(&bundle));
    checks.extend(lint::run(&bundle, options));
    if options.system {
        let root = options.root.as_deref().unwrap_or(Path::new("/"));
        checks.push(limits::check(&bundle, root));
        checks.push(limits::sizing_check(&bundle));
    }
    checks.push(tls_profile::check(&bundle));
    Ok(Report::new(dir, checks))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(outcomes: Vec<Outcome>) -> Report {
        Report::new(Path::new("b"), outcomes.into_iter().map(|o| tool_check("x", "x", &[], o)).collect())
    }

    #[test]
    fn the_verdict_follows_from_the_counts() {
        let passed = || Outcome::Passed { detail: "ok".into() };
        let partial = || Outcome::Partial { detail: "d".into(), untested: "u".into(), install: "i".into() };
        let failed = || Outcome::Failed { error: "e".into(), fix: "f".into() };
        assert!(report(vec![passed(), partial()]).verdict(false).is_ok());
        let strict = report(vec![passed(), partial()]).verdict(true).unwrap_err();
        assert!(matches!(strict, CheckError::Partial { n: 1 }));
        assert_eq!(strict.to_string(), "1 check only partial (--strict)");
        let two = report(vec![failed(), partial(), failed()]).verdict(true).unwrap_err();
        assert_eq!(two.to_string(), "2 checks failed");
        assert_eq!(crate::error::Error::from(two).exit_code(), crate::error::EXIT_FAILURE);
        // Not a bundle at all is the user's to fix.
        let none = run(Path::new("/nonexistent/bundle"), &CheckOptions::default()).err().unwrap();
        assert!(matches!(none, CheckError::NotABundle(LoadError::NotADir(_))), "{none}");
        assert_eq!(crate::error::Error::from(none).exit_code(), crate::error::EXIT_USAGE);
    }
}
