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

/// Runs `loadtest`; Ok only when every subscription held and every update was
/// published and arrived everywhere.
pub fn run(args: &Options) -> Result<(), Error> {
    if args.processes > 1 {
        if args.report.is_some() {
            return Err(Error::Usage("--report cannot be combined with --processes (one report per process)".into()));
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
        .map_err(|e| Error::Failed(format!("cannot start the async runtime: {e}")))?;
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
        if let (Some(doc), serde_json::Value::Object(fields)) = (
            doc.as_object_mut(),
            serde_json::to_value(&report).map_err(|e| Error::Failed(format!("encoding JSON: {e}")))?,
        ) {
            doc.extend(fields);
        }
        let text = serde_json::to_string_pretty(&doc).map_err(|e| Error::Failed(format!("encoding JSON: {e}")))? + "\n";
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
        Err(Error::Failed(format!("loadtest stopped early: {why}")))
    } else {
        Err(Error::Failed(format!(
            "loadtest: {} connection(s) failed, {} dropped, {} of {} update(s) published, {} update deliveries lost",
            report.failed,
            report.dropped,
            report.published,
            report.updates,
            report.lost()
        )))
    }
}
