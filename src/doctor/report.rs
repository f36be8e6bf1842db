//! Probe results and how they are shown: one line per probe as it completes (mark,
//! timing, what was seen), each failure followed by its diagnosis, given in full the
//! first time and referred to after; a summary that lists each cause once with the
//! probes it explains, and what was not tested and why; or JSON.

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
    /// What to try, when the failure has a likely next step (a name that does not resolve).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl ProbeResult {
    pub fn pass(id: Probe, millis: u128, detail: impl Into<String>) -> Self {
        ProbeResult {
            id,
            status: Verdict::Pass,
            millis,
            detail: detail.into(),
            findings: vec![],
            diagnoses: vec![],
            hint: None,
        }
    }

    pub fn fail(id: Probe, millis: u128, detail: impl Into<String>, findings: Vec<Finding>) -> Self {
        ProbeResult {
            id,
            status: Verdict::Fail,
            millis,
            detail: detail.into(),
            findings,
            diagnoses: vec![],
            hint: None,
        }
    }

    pub fn skip(id: Probe, detail: impl Into<String>) -> Self {
        ProbeResult {
            id,
            status: Verdict::Skip,
            millis: 0,
            detail: detail.into(),
            findings: vec![],
            diagnoses: vec![],
            hint: None,
        }
    }
}

/// Formats one result as the human report shows it, every diagnosis in full.
pub fn format_result(r: &ProbeResult) -> String {
    format_result_after(r, &[])
}

/// Formats one result; a diagnosis already given for an earlier probe is referred to.
fn format_result_after(r: &ProbeResult, earlier: &[Cause]) -> String {
    let mark = match r.status {
        Verdict::Pass => "[ok]  ",
        Verdict::Fail => "[FAIL]",
        Verdict::Skip => "[skip]",
    };
    let timing = if r.status == Verdict::Skip { String::new() } else { format!("{} ms", r.millis) };
    let mut s = format!("{mark} {:<18} {timing:>8}  {}\n", r.id, r.detail);
    for d in &r.diagnoses {
        match earlier.iter().find(|c| c.diagnosis == *d) {
            Some(c) => {
                let _ = writeln!(s, "       cause: the same as for {} above ({})", c.probes[0], d.item.reference());
            }
            None => {
                let _ = writeln!(s, "       cause ({}): {}", d.item.reference(), d.cause);
                let _ = writeln!(s, "       fix: {}", d.fix);
            }
        }
    }
    if let Some(hint) = &r.hint {
        let _ = writeln!(s, "       hint: {hint}");
    }
    s
}

/// One diagnosis and the probes whose failure it explains.
#[derive(Debug, Clone, Serialize)]
pub struct Cause {
    #[serde(flatten)]
    pub diagnosis: Diagnosis,
    pub probes: Vec<String>,
}

/// A probe that did not run, or that runs only when asked, and why.
#[derive(Debug, Clone, Serialize)]
pub struct NotTested {
    pub id: String,
    pub why: String,
}

/// The host and port a failure could not resolve, from the URL its detail starts with.
fn unresolved_host(detail: &str) -> Option<(String, u16)> {
    let dns = ["failed to lookup address", "does not resolve", "Name or service not known", "name resolution"];
    if !dns.iter().any(|m| detail.contains(m)) {
        return None;
    }
    let (scheme, rest) = detail.split_once("://")?;
    let authority: String = rest.chars().take_while(|c| !matches!(c, '/' | ' ')).collect();
    let default = if scheme.ends_with("https") { 443 } else { 80 };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.parse().unwrap_or(default)),
        None => (authority, default),
    };
    (!host.is_empty()).then_some((host, port))
}

/// Collects results, printing each as it arrives unless the output is JSON.
pub struct Reporter {
    pub names: Names,
    pub json: bool,
    pub results: Vec<ProbeResult>,
    /// Each diagnosis once, in the order first seen, with the probes it explains.
    pub causes: Vec<Cause>,
    /// Probes that run only when asked (`--idle`), and why they did not.
    pub opt_in: Vec<NotTested>,
    /// The first failure to write to stdout; the probes go on, the run reports it.
    pub print_error: Option<Error>,
}

impl Reporter {
    pub fn new(names: Names, json: bool) -> Self {
        Reporter { names, json, results: Vec::new(), causes: Vec::new(), opt_in: Vec::new(), print_error: None }
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
        if r.status == Verdict::Fail
            && r.hint.is_none()
            && let Some((host, port)) = unresolved_host(&r.detail)
        {
            r.hint = Some(format!(
                "{host} does not resolve from here; to test before DNS points at this server, \
                 pass --resolve {host}:{port}:SERVER_IP (as curl does)"
            ));
        }
        if !self.json {
            let text = format_result_after(&r, &self.causes);
            self.print(&text);
        }
        for d in &r.diagnoses {
            match self.causes.iter_mut().find(|c| c.diagnosis == *d) {
                Some(c) => c.probes.push(r.id.id().into_owned()),
                None => self.causes.push(Cause { diagnosis: d.clone(), probes: vec![r.id.id().into_owned()] }),
            }
        }
        self.results.push(r);
    }

    /// Records a probe that runs only when asked, and how to ask.
    pub fn not_asked(&mut self, id: &Probe, why: &str) {
        self.opt_in.push(NotTested { id: id.id().into_owned(), why: why.into() });
    }

    /// Every probe that did not run (skipped, with its reason) or was not asked for.
    pub fn not_tested(&self) -> Vec<NotTested> {
        let skipped = self.results.iter().filter(|r| r.status == Verdict::Skip);
        skipped
            .map(|r| NotTested { id: r.id.id().into_owned(), why: r.detail.clone() })
            .chain(self.opt_in.clone())
            .collect()
    }

    /// The end of the human report: each cause once with the probes it explains, what
    /// was not tested and why, and the counts.
    pub fn closing(&self) -> String {
        let mut out = String::new();
        let shared: Vec<&Cause> = self.causes.iter().filter(|c| c.probes.len() > 1).collect();
        if !shared.is_empty() {
            out.push_str("causes:\n");
            for c in shared {
                let _ = writeln!(
                    out,
                    "  {}: {} ({})",
                    c.probes.join(", "),
                    first_sentence(&c.diagnosis.cause),
                    c.diagnosis.item.reference()
                );
            }
        }
        let not_tested = self.not_tested();
        if !not_tested.is_empty() {
            out.push_str("not tested:\n");
            for n in &not_tested {
                let _ = writeln!(out, "  {:<18} {}", n.id, n.why);
            }
        }
        let _ = writeln!(out, "{}", self.summary());
        out
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
            "causes": self.causes,
            "not_tested": self.not_tested(),
            "target": target,
            "probes": self.results,
            "passed": self.count(Verdict::Pass),
            "failed": self.count(Verdict::Fail),
            "skipped": self.count(Verdict::Skip),
        });
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    }
}

/// The cause up to its first full stop, for the one-line summary.
fn first_sentence(text: &str) -> &str {
    text.split_once(". ").map_or(text, |(first, _)| first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Names {
        Names {
            domain: "app.example.com".into(),
            site_file: "nginx/app.example.com.conf".into(),
            hub_port: 3000,
            tls_name: "mercure.internal".into(),
            tls: false,
            heartbeat: "40s".into(),
        }
    }

    #[test]
    fn a_cause_is_given_once_and_a_summary_lists_its_probes_and_what_was_not_tested() {
        let mut rep = Reporter::new(names(), true);
        rep.add(ProbeResult::fail(Probe::HubTcp, 1, "refused", vec![Finding::HubDown]));
        rep.add(ProbeResult::skip(Probe::HubScheme, "the hub port does not accept connections"));
        rep.add(ProbeResult::fail(Probe::PublishDirect, 1, "refused", vec![Finding::HubDown]));
        rep.not_asked(&Probe::PublicIdle, "held only with --idle DURATION");
        let first = format_result_after(&rep.results[0], &[]);
        let second = format_result_after(&rep.results[2], &rep.causes[..0]);
        assert!(first.contains("fix:") && second.contains("fix:"));
        let later = format_result_after(&rep.results[2], &rep.causes);
        assert!(!later.contains("fix:") && later.contains("the same as for hub.tcp above"), "{later}");
        let closing = rep.closing();
        assert!(closing.contains("causes:\n  hub.tcp, publish.direct: the hub is not running"), "{closing}");
        assert!(closing.contains("not tested:\n  hub.scheme         the hub port does not accept connections\n"));
        assert!(closing.contains("  public.idle        held only with --idle DURATION\n"), "{closing}");
    }

    #[test]
    fn a_name_that_does_not_resolve_hints_at_resolve() {
        let mut rep = Reporter::new(names(), true);
        let detail = "https://app.example.com/.well-known/mercure: failed to lookup address information: Name or service not known";
        rep.add(ProbeResult::fail(Probe::PublicSubscribe, 1, detail, vec![]));
        let hint = rep.results[0].hint.as_deref().unwrap();
        assert!(hint.contains("--resolve app.example.com:443:SERVER_IP"), "{hint}");
        assert_eq!(
            unresolved_host("http://h.example:8080/x: h.example does not resolve"),
            Some(("h.example".into(), 8080))
        );
        assert_eq!(unresolved_host("https://h/x: connection refused"), None);
    }

    #[test]
    fn failures_carry_their_diagnosis() {
        let mut rep = Reporter::new(names(), true);
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
        assert_eq!(json["not_tested"][0]["id"], "hub.tls.sni");
        assert_eq!(json["causes"][0]["probes"][0], "public.delivery");
        assert_eq!(format!("[{:<8}]", Probe::Cors("o".into())), "[cors o  ]");
    }
}
