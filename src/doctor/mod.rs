//! `mercure-setup doctor`: probes a running deployment (hub port, scheme, TLS,
//! public subscription, publishing, delivery, CORS, idle timeouts) and explains each
//! failure with the cause and fix from the troubleshooting table.
//!
//! The async runtime lives only here and in `loadtest`; the rest of the tool stays
//! synchronous. The HTTP client both commands share is `crate::net`.

pub mod expiry;
pub mod probes;
pub mod report;
pub mod target;

pub use target::Options;

use crate::error::Error;
use report::Reporter;
use target::Settings;

/// Why doctor could not probe or did not pass; both failures, not the user's input
/// (what the flags and bundle get wrong is a [`target::TargetError`]).
#[derive(Debug, thiserror::Error)]
pub enum DoctorError {
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("doctor: {failed} probe(s) failed, {skipped} could not run")]
    ProbesFailed { failed: usize, skipped: usize },
}

impl From<DoctorError> for Error {
    fn from(e: DoctorError) -> Self {
        Error::Failed(e.to_string())
    }
}

/// Runs every probe without printing and returns the results, for callers that show
/// the verdict themselves (the lab).
pub fn probe_quietly(options: &Options) -> Result<Vec<report::ProbeResult>, Error> {
    let settings = Settings::resolve(&Options { json: true, ..options.clone() })?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(DoctorError::Runtime)?;
    let mut rep = Reporter::new(settings.names.clone(), true);
    runtime.block_on(probes::run_all(&settings, &mut rep));
    Ok(rep.results)
}

/// Runs `doctor`; Ok only when every probe passed.
pub fn run(options: &Options) -> Result<(), Error> {
    let settings = Settings::resolve(options)?;
    // One thread is plenty for a handful of sequential probes.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(DoctorError::Runtime)?;
    let mut rep = Reporter::new(settings.names.clone(), settings.json);
    rep.header(&format!(
        "mercure-setup doctor: {} ({}), hub {}, public {}",
        settings.names.domain, settings.topology, settings.hub_url, settings.public_url
    ));
    runtime.block_on(probes::run_all(&settings, &mut rep));
    if settings.json {
        let target = serde_json::json!({
            "domain": settings.names.domain,
            "topology": settings.topology,
            "hub_url": settings.hub_url.to_string(),
            "public_url": settings.public_url.to_string(),
            "tls_name": settings.tls_name,
        });
        let json = format!("{}\n", rep.to_json(&target));
        rep.print(&json);
    } else {
        let closing = rep.closing();
        rep.print(&closing);
    }
    if let Some(e) = rep.print_error.take() {
        return Err(e);
    }
    let failed = rep.count(report::Verdict::Fail);
    let skipped = rep.count(report::Verdict::Skip);
    if failed + skipped == 0 { Ok(()) } else { Err(DoctorError::ProbesFailed { failed, skipped }.into()) }
}
