//! CORS preflights through the public URL, one per origin the answers allow.

use std::time::{Duration, Instant};

use super::{Ctx, ms, tls_public};
use crate::diagnosis::Finding;
use crate::doctor::report::{Probe, ProbeResult, Reporter};
use crate::net::{Request, exchange};

impl Ctx<'_> {
    /// A CORS preflight from `origin` through the public URL.
    pub(super) async fn cors(&self, origin: &str, rep: &mut Reporter) {
        let s = self.s;
        let id = Probe::Cors(origin.to_string());
        let t = Instant::now();
        let tls = tls_public(self.tls);
        let req = Request {
            method: "OPTIONS",
            url: &s.public_url,
            host: None,
            headers: vec![
                ("Origin", origin.to_string()),
                ("Access-Control-Request-Method", "GET".into()),
                ("Access-Control-Request-Headers", "authorization,last-event-id".into()),
            ],
            body: None,
            close: true,
        };
        match exchange(&req, &s.resolver, tls.as_ref(), s.timeout, 200, Duration::from_millis(300)).await {
            Ok(x) => {
                let allow = x.head.all("access-control-allow-origin");
                let creds = x.head.header("access-control-allow-credentials").unwrap_or("");
                let detail = format!(
                    "{} Access-Control-Allow-Origin: {}",
                    x.head.status,
                    if allow.is_empty() { "(none)".into() } else { allow.join(" | ") }
                );
                match cors_finding(origin, &allow, x.head.status) {
                    None => rep.add(ProbeResult::pass(id, ms(t), format!("{detail}, credentials {creds}"))),
                    Some(f) => rep.add(ProbeResult::fail(id, ms(t), detail, vec![f])),
                }
            }
            Err(f) => rep.add(ProbeResult::fail(id, ms(t), f.to_string(), vec![])),
        }
    }
}

/// What a preflight answer from `origin` gets wrong: `allow` holds every
/// `Access-Control-Allow-Origin` value, `status` the answer's status.
fn cors_finding(origin: &str, allow: &[&str], status: u16) -> Option<Finding> {
    if allow.len() > 1 || allow.first().is_some_and(|v| v.contains(',')) {
        Some(Finding::CorsDuplicated { origin: origin.into() })
    } else if allow.first() == Some(&"*") {
        Some(Finding::CorsWildcardWithCredentials { origin: origin.into() })
    } else if allow.first() != Some(&origin) || !(200..300).contains(&status) {
        Some(Finding::CorsMissing { origin: origin.into() })
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preflight_answers_map_to_their_cors_finding() {
        let o = "https://app.example.com";
        assert_eq!(cors_finding(o, &[o], 204), None);
        // nginx and the hub both adding the header: browsers refuse two values.
        assert_eq!(cors_finding(o, &[o, o], 204), Some(Finding::CorsDuplicated { origin: o.into() }));
        assert_eq!(cors_finding(o, &["a, b"], 204), Some(Finding::CorsDuplicated { origin: o.into() }));
        assert_eq!(cors_finding(o, &["*"], 204), Some(Finding::CorsWildcardWithCredentials { origin: o.into() }));
        assert_eq!(cors_finding(o, &[], 204), Some(Finding::CorsMissing { origin: o.into() }));
        assert_eq!(cors_finding(o, &["https://other.example"], 204), Some(Finding::CorsMissing { origin: o.into() }));
        assert_eq!(cors_finding(o, &[o], 403), Some(Finding::CorsMissing { origin: o.into() }));
    }
}
