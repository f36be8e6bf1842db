//! Probe results and how they are shown: one line per probe as it completes (mark,
//! timing, what was seen), each failure followed by its diagnosis; or JSON.

use std::fmt::{self, Write as _};

use serde::{Serialize, Serializer};

use crate::diagnosis::{Diagnosis, Finding, Names};
use crate::error::Error;

/// In JSON the words every command uses: passed, failed, skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Verdict {
    #[serde(rename = "passed")]
    Pass,
    #[serde(rename = "failed")]
    Fail,
    /// Could not run (its precondition failed or it does not apply); never a pass.
    #[serde(rename = "skipped")]
    Skip,
}

/// What a probe checks. Reports and JSON show its id (`hub.tcp`, `cors ORIGIN`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// Building the TLS configurations the other probes use.
    TlsSetup,
    BundleSecrets,
    /// The bundle's hub certificate: days left.
    BundleCertExpiry,
    HubTcp,
    HubScheme,
    HubTlsSni,
    HubTlsNoSni,
    HubCertExpiry,
    HubMercure,
    PublicSubscribe,
    PublishDirect,
    PublishSymfony,
    PublicDelivery,
    PublicIdle,
    /// A CORS preflight from this origin.
    Cors(String),
}

impl Probe {
    /// The id reports and JSON show.
    pub fn id(&self) -> std::borrow::Cow<'static, str> {
        let id = match self {
            Probe::TlsSetup => "tls.setup",
            Probe::BundleSecrets => "bundle.secrets",
            Probe::BundleCertExpiry => "bundle.cert.expiry",
            Probe::HubTcp => "hub.tcp",
            Probe::HubScheme => "hub.scheme",
            Probe::HubTlsSni => "hub.tls.sni",
            Probe::HubTlsNoSni => "hub.tls.no-sni",
            Probe::HubCertExpiry => "hub.cert.expiry",
            Probe::HubMercure => "hub.mercure",
            Probe::PublicSubscribe => "public.subscribe",
            Probe::PublishDirect => "publish.direct",
            Probe::PublishSymfony => "publish.symfony",
            Probe::PublicDelivery => "public.delivery",
            Probe::PublicIdle => "public.idle",
            Probe::Cors(origin) => return format!("cors {origin}").into(),
        };
        id.into()
    }
}

impl fmt::Display for Probe {
    /// Padded like a string, so reports can align ids in a column.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.id())
    }
}

impl Serialize for Probe {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.id())
    }
}

/// One probe's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeResult {
    pub id: Probe,
    pub status: Verdict,
    pub millis: u128,
    pub detail: String,
    #[serde(skip)]
    pub findings: Vec<Finding>,
    pub diagnoses: Vec<Diagnosis>,
}

impl ProbeResult {
    pub fn pass(id: Probe, millis: u128, detail: impl Into<String>) -> Self {
        ProbeResult { id, status: Verdict::Pass, millis, detail: detail.into(), findings: vec![], diagnoses: vec![] }
    }

    pub fn fail(id: Probe, millis: u128, detail: impl Into<String>, findings: Vec<Finding>) -> Self {
        ProbeResult { id, status: Verdict::Fail, millis, detail: detail.into(), findings, diagnoses: vec![] }
    }

    pub fn skip(id: Probe, detail: impl Into<String>) -> Self {
        ProbeResult { id, status: Verdict::Skip, millis: 0, detail: detail.into(), findings: vec![], diagnoses: vec![] }
    }
}

/// Formats one result as the human report shows it.
pub fn format_result(r: &ProbeResult) -> String {
    let mark = match r.status {
        Verdict::Pass => "[ok]  ",
        Verdict::Fail => "[FAIL]",
        Verdict::Skip => "[skip]",
    };
    let timing = if r.status == Verdict::Skip { String::new() } else { format!("{} ms", r.millis) };
    let mut s = format!("{mark} {:<18} {timing:>8}  {}\n", r.id, r.detail);
    for d in &r.diagnoses {
        let _ = writeln!(s, "       cause ({}): {}", d.item.reference(), d.cause);
        let _ = writeln!(s, "       fix: {}", d.fix);
    }
    s
}

/// Collects results, printing each as it arrives unless the output is JSON.
pub struct Reporter {
    pub names: Names,
    pub json: bool,
    pub results: Vec<ProbeResult>,
    /// The first failure to write to stdout; the probes go on, the run reports it.
    pub print_error: Option<Error>,
}

impl Reporter {
    pub fn new(names: Names, json: bool) -> Self {
        Reporter { names, json, results: Vec::new(), print_error: None }
    }

    /// Prints `text` now (the human report coloured and silenced by `-q`, JSON as is);
    /// a failed write is kept for the end of the run.
    pub fn print(&mut self, text: &str) {
        let printed = if self.json { crate::stdout::print(text) } else { crate::stdout::print_report(text) };
        if let Err(e) = printed {
            self.print_error.get_or_insert(e);
        }
    }

    pub fn header(&mut self, text: &str) {
        if !self.json {
            self.print(&format!("{text}\n"));
        }
    }

    pub fn add(&mut self, mut r: ProbeResult) {
        let mut seen = Vec::new();
        for f in &r.findings {
            let d = f.diagnose(&self.names);
            if !seen.contains(&d) {
                seen.push(d);
            }
        }
        r.diagnoses = seen;
        if !self.json {
            self.print(&format_result(&r));
        }
        self.results.push(r);
    }

    pub fn count(&self, s: Verdict) -> usize {
        self.results.iter().filter(|r| r.status == s).count()
    }

    pub fn get(&self, id: &Probe) -> Option<&ProbeResult> {
        self.results.iter().find(|r| r.id == *id)
    }

    /// Every finding so far, for explaining later failures.
    pub fn findings(&self) -> Vec<Finding> {
        self.results.iter().flat_map(|r| r.findings.iter().cloned()).collect()
    }

    pub fn summary(&self) -> String {
        format!(
            "{} passed, {} failed, {} skipped",
            self.count(Verdict::Pass),
            self.count(Verdict::Fail),
            self.count(Verdict::Skip)
        )
    }

    pub fn to_json(&self, target: &serde_json::Value) -> String {
        let status = crate::status::Status::of_counts(self.count(Verdict::Fail), self.count(Verdict::Skip));
        let doc = serde_json::json!({
            "status": status,
            "target": target,
            "probes": self.results,
            "passed": self.count(Verdict::Pass),
            "failed": self.count(Verdict::Fail),
            "skipped": self.count(Verdict::Skip),
        });
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_carry_their_diagnosis() {
        let names = Names {
            domain: "app.example.com".into(),
            site_file: "nginx/app.example.com.conf".into(),
            hub_port: 3000,
            tls_name: "mercure.internal".into(),
            tls: false,
            heartbeat: "40s".into(),
        };
        let mut rep = Reporter::new(names, true);
        rep.add(ProbeResult::pass(Probe::HubTcp, 1, "ok"));
        rep.add(ProbeResult::fail(Probe::PublicDelivery, 1200, "late", vec![Finding::Buffering, Finding::Buffering]));
        rep.add(ProbeResult::skip(Probe::HubTlsSni, "plain HTTP topology"));
        assert_eq!(rep.summary(), "1 passed, 1 failed, 1 skipped");
        let text = format_result(&rep.results[1]);
        assert!(text.starts_with("[FAIL] public.delivery"), "{text}");
        assert_eq!(text.matches("fix:").count(), 1, "duplicates are shown once: {text}");
        assert!(text.contains("proxy_buffering off"));
        let json: serde_json::Value = serde_json::from_str(&rep.to_json(&serde_json::json!({}))).unwrap();
        assert_eq!(json["failed"], 1);
        assert_eq!(json["probes"][1]["diagnoses"][0]["item"], 7);
        assert_eq!(json["probes"][2]["status"], "skipped");
        assert_eq!(json["probes"][2]["id"], "hub.tls.sni");
        assert_eq!(format!("[{:<8}]", Probe::Cors("o".into())), "[cors o  ]");
    }
}
