//! `mercure-setup loadtest`: opens N concurrent subscriptions through the public URL
//! (one tokio task and one small buffer each), publishes M updates, and reports
//! connection failures by class, delivery per subscriber and latency percentiles,
//! and whether the client itself (its fd limit, CPU, event loop) was the bottleneck.
//!
//! Bounded: at most `MAX_SUBSCRIBERS` subscriptions, `MAX_UPDATES` updates,
//! `MAX_DELIVERIES` subscriptions x updates (memory: one bit per update and
//! subscriber, latencies in one shared fixed-size histogram), and a hard
//! `--duration` after which everything is stopped and reported.

mod client;
mod diagnosis;
mod processes;
pub mod report;
mod run;
mod spec;
pub mod stats;

use std::time::Duration;

pub use client::rss_kib;
pub use spec::{MAX_DELIVERIES, MAX_SUBSCRIBERS, MAX_UPDATES, Options};

use crate::error::Error;
use client::FD_RESERVE;
use spec::RunSpec;
use stats::ClientUse;

/// Why a load test did not run or did not pass. Only a report path that would
/// overwrite another file and `--report` with `--processes` are the user's input
/// (usage errors); everything else is a failure.
#[derive(Debug, thiserror::Error)]
pub enum LoadtestError {
    #[error("--report cannot be combined with --processes (one report per process)")]
    ReportWithProcesses,
    #[error("--report {}: the file exists and is not a mercure-setup loadtest report; choose another name", .path.display())]
    NotAReport { path: std::path::PathBuf },
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("encoding JSON: {0}")]
    Json(#[source] serde_json::Error),
    #[error("writing the report {}: {source}", .path.display())]
    WriteReport { path: std::path::PathBuf, source: std::io::Error },
    /// plotters' error, as its `Debug` text (its drawing errors are generic over the backend).
    #[error("drawing the report: {0}")]
    Draw(String),
    #[error("cannot find this program: {0}")]
    NoProgram(#[source] std::io::Error),
    #[error("cannot make a temporary folder: {0}")]
    TempDir(#[source] std::io::Error),
    #[error("a load-test process panicked")]
    ChildPanicked,
    #[error("cannot start a load-test process: {0}")]
    ChildStart(#[source] std::io::Error),
    #[error("a load-test process printed no report ({source}): {stdout}")]
    ChildNoReport { source: serde_json::Error, stdout: String },
    #[error("loadtest stopped early: {why}")]
    StoppedEarly { why: String },
    #[error(
        "loadtest: {failed} connection(s) failed, {dropped} dropped, {published} of {updates} update(s) published, {lost} update deliveries lost"
    )]
    Incomplete { failed: u32, dropped: u32, published: u32, updates: u32, lost: u64 },
    /// The merged counts of several processes, as their JSON reports give them.
    #[error(
        "loadtest: {failed} connection(s) failed, {dropped} dropped, {delivered} of {expected} update deliveries arrived (over {processes} processes)"
    )]
    IncompleteProcesses { failed: String, dropped: String, delivered: String, expected: String, processes: usize },
}

impl From<LoadtestError> for Error {
    fn from(e: LoadtestError) -> Self {
        match e {
            LoadtestError::ReportWithProcesses | LoadtestError::NotAReport { .. } => Error::Usage(e.to_string()),
            _ => Error::Failed(e.to_string()),
        }
    }
}

/// Runs `loadtest`; Ok only when every subscription held and every update was
/// published and arrived everywhere.
pub fn run(args: &Options) -> Result<(), Error> {
    if args.processes > 1 {
        if args.report.is_some() {
            return Err(LoadtestError::ReportWithProcesses.into());
        }
        // Validated once here, so that a bad flag is one usage error, not one per child.
        RunSpec::from_options(args)?;
        return processes::run(args.subscribers, args.processes, args.json);
    }
    let spec = RunSpec::from_options(args)?;
    if let Some(path) = &args.report {
        report::check_path(path)?;
    }
    // Raise the soft fd limit to the hard one first: the default 1024 would make the
    // client, not the server, refuse connections.
    let (soft_before, hard) = rlimit::Resource::NOFILE.get().unwrap_or((0, 0));
    let soft = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(soft_before);
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores)
        .enable_all()
        .build()
        .map_err(LoadtestError::Runtime)?;
    let client = ClientUse {
        nofile_soft: soft,
        nofile_hard: hard,
        nofile_soft_before: soft_before,
        cores,
        ..ClientUse::default()
    };
    if soft < u64::from(spec.subscribers) + FD_RESERVE {
        eprintln!(
            "warning: this process may open only {soft} files (hard limit {hard}); {} subscribers need about {}: \
             the client will be the bottleneck",
            spec.subscribers,
            u64::from(spec.subscribers) + FD_RESERVE
        );
    }
    let report = runtime.block_on(run::drive(spec, client));
    if args.json {
        // The status word every command's JSON uses, beside the report's own fields.
        let status = crate::status::Status::of_counts(usize::from(!report.clean()), 0);
        let mut doc = serde_json::json!({ "status": status });
        if let (Some(doc), serde_json::Value::Object(fields)) =
            (doc.as_object_mut(), serde_json::to_value(&report).map_err(LoadtestError::Json)?)
        {
            doc.extend(fields);
        }
        let text = serde_json::to_string_pretty(&doc).map_err(LoadtestError::Json)? + "\n";
        crate::stdout::print(&text)?;
    } else {
        crate::stdout::print_report(&report.to_table())?;
    }
    runtime.shutdown_timeout(Duration::from_secs(1));
    if let Some(path) = &args.report {
        report::write(path, &report, args)?;
    }
    if report.clean() {
        Ok(())
    } else if let Some(why) = &report.aborted {
        Err(LoadtestError::StoppedEarly { why: why.clone() }.into())
    } else {
        Err(LoadtestError::Incomplete {
            failed: report.failed,
            dropped: report.dropped,
            published: report.published,
            updates: report.updates,
            lost: report.lost(),
        }
        .into())
    }
}
