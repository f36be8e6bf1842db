//! `mercure-setup check DIR`: validates a rendered bundle with the real programs
//! on this machine (nginx, the Mercure hub, systemd-analyze, openssl) and checks that the
//! files agree with each other. Each check is passed, failed (the tool's own error
//! line and a likely fix) or not run (tool absent, and how to install it).
//!
//! The bundle is parsed from disk, never rendered again, so hand edits and partial
//! copies are caught.

pub mod adapt;
pub mod consistency;
pub mod tls_profile;
pub mod tools;

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::bundle::paths;
use crate::bundle_dir::{BundleDir, LoadError};

/// How one check ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Passed { detail: String },
    Failed { error: String, fix: String },
    NotRun { reason: String, install: String },
}

/// One check and the bundle files it is about.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckResult {
    /// Stable identifier for scripts (`--json`).
    pub id: &'static str,
    pub title: String,
    pub files: Vec<String>,
    #[serde(flatten)]
    pub outcome: Outcome,
}

impl CheckResult {
    pub fn failed(&self) -> bool {
        matches!(self.outcome, Outcome::Failed { .. })
    }
}

/// Options of `check`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CheckOptions {
    /// Test the site inside the system's nginx.conf instead of a minimal wrapper.
    pub system: bool,
}

/// Everything `check` found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub bundle: String,
    pub passed: usize,
    pub failed: usize,
    pub not_run: usize,
    pub checks: Vec<CheckResult>,
}

impl Report {
    fn new(bundle: &Path, checks: Vec<CheckResult>) -> Report {
        let count = |f: fn(&Outcome) -> bool| checks.iter().filter(|c| f(&c.outcome)).count();
        Report {
            bundle: bundle.display().to_string(),
            passed: count(|o| matches!(o, Outcome::Passed { .. })),
            failed: count(|o| matches!(o, Outcome::Failed { .. })),
            not_run: count(|o| matches!(o, Outcome::NotRun { .. })),
            checks,
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
                Outcome::Failed { error, fix } => {
                    let _ = writeln!(out, "  FAILED   {} [{}]", c.title, c.files.join(", "));
                    let _ = writeln!(out, "           {error}");
                    let _ = writeln!(out, "           fix: {fix}");
                }
                Outcome::NotRun { reason, install } => {
                    let _ = writeln!(out, "  not run  {}: {reason}; install with: {install}", c.title);
                }
            }
        }
        let _ = writeln!(out, "{} passed, {} failed, {} not run", self.passed, self.failed, self.not_run);
        out
    }
}

fn tool_check(id: &'static str, title: &str, files: &[&str], outcome: Outcome) -> CheckResult {
    CheckResult { id, title: title.into(), files: files.iter().map(|f| (*f).to_string()).collect(), outcome }
}

/// Runs every check on the bundle in `dir`. `Err` only when `dir` is not a bundle.
pub fn run(dir: &Path, options: CheckOptions) -> Result<Report, LoadError> {
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
    checks.push(tool_check(
        "mercure-directives",
        "mercure block directives",
        &[paths::CADDYFILE],
        tools::mercure_directives(&bundle),
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
    }
    checks.extend(consistency::all(&bundle));
    checks.push(tls_profile::check(&bundle));
    Ok(Report::new(dir, checks))
}
