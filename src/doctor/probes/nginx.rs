//! What nginx itself says about a failure: the lines its error log gained since the
//! probes started, and the installed site's hub location (`--nginx-conf`).

use std::io::{Read as _, Seek as _};

use super::{Ctx, hub_findings};
use crate::diagnosis::{Finding, is_hub_error_line};
use crate::doctor::report::Reporter;
use crate::formats::{self, NginxDirective};
use crate::net;
use crate::pki;

impl Ctx<'_> {
    /// Explains a 502: nginx's own error log first, then what the hub probes found,
    /// then the installed site file, else a generic pointer.
    pub(super) fn bad_gateway(&self, rep: &Reporter) -> Vec<Finding> {
        if let Some(line) = self.new_log_lines().into_iter().rev().find(|l| is_hub_error_line(l)) {
            return vec![Finding::NginxLog { line }];
        }
        let hub = hub_findings(rep);
        if !hub.is_empty() {
            return hub;
        }
        let conf = self.conf_findings();
        if !conf.is_empty() {
            return conf;
        }
        vec![Finding::BadGateway]
    }

    /// Lines nginx appended to its error log since the probes started.
    pub(super) fn new_log_lines(&self) -> Vec<String> {
        let Some(path) = &self.s.nginx_error_log else { return vec![] };
        let Ok(mut f) = std::fs::File::open(path) else { return vec![] };
        let len = f.metadata().map_or(0, |m| m.len());
        // A rotated (shorter) log is read from its start; at most the last 256 KiB.
        let start = if len < self.log_offset { 0 } else { self.log_offset }.max(len.saturating_sub(256 * 1024));
        let mut bytes = Vec::new();
        if f.seek(std::io::SeekFrom::Start(start)).is_err() || f.read_to_end(&mut bytes).is_err() {
            return vec![];
        }
        // Lossy: a non-UTF-8 byte must not hide the line that explains the 502. Redacted:
        // request lines can carry other users' JWTs (`authorization=` query parameter).
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(|l| net::redact_authorization(l.trim()))
            .filter(|l| !l.is_empty())
            .collect()
    }

    /// What the installed nginx site says about the hub location.
    pub(super) fn conf_findings(&self) -> Vec<Finding> {
        let Some(loc) = self.hub_location() else { return vec![] };
        let names = self.s.bundle_hub_cert.as_deref().and_then(|pem| pki::inspect(pem).ok()).map(|c| c.dns_names);
        location_findings(&loc, self.s.hub_tls, names.as_deref())
    }

    /// The installed site's `/.well-known/mercure` location (`--nginx-conf`), parsed as `check` parses it.
    pub(super) fn hub_location(&self) -> Option<NginxDirective> {
        let text = std::fs::read_to_string(self.s.nginx_conf.as_ref()?).ok()?;
        let tree = formats::parse_nginx(&text).ok()?;
        formats::nginx_mercure_location(&tree).cloned()
    }

    /// Which anti-buffering directives the installed hub location lacks, if known.
    pub(super) fn buffering_directives(&self) -> Option<String> {
        lacks_anti_buffering(&self.hub_location()?)
    }
}

/// What the hub location gets wrong for this deployment: a `proxy_pass` scheme that is
/// not the hub's, or a `proxy_ssl_name` the hub certificate (`cert_names`) does not carry.
fn location_findings(loc: &NginxDirective, hub_tls: bool, cert_names: Option<&[String]>) -> Vec<Finding> {
    let mut out = Vec::new();
    if let Some(pass) = formats::nginx_arg(loc, "proxy_pass") {
        let https = pass.starts_with("https://");
        if https != hub_tls {
            out.push(Finding::ProxyPassScheme { proxy_pass: pass.to_string() });
        }
    }
    if hub_tls {
        let checked = formats::nginx_arg(loc, "proxy_ssl_name").unwrap_or("127.0.0.1").to_string();
        if let Some(names) = cert_names
            && !names.contains(&checked)
        {
            out.push(Finding::CertName { checked, names: names.to_vec() });
        }
    }
    out
}

/// The anti-buffering directives `loc` lacks (`None` when it has both).
fn lacks_anti_buffering(loc: &NginxDirective) -> Option<String> {
    let mut lacks = Vec::new();
    if formats::nginx_arg(loc, "proxy_buffering") != Some("off") {
        lacks.push("`proxy_buffering off`");
    }
    if formats::nginx_arg(loc, "proxy_http_version") != Some("1.1") {
        lacks.push("`proxy_http_version 1.1`");
    }
    (!lacks.is_empty()).then(|| lacks.join(" and "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location(body: &str) -> NginxDirective {
        let site = format!("server {{ listen 443 ssl; location ^~ /.well-known/mercure {{ {body} }} }}");
        let tree = formats::parse_nginx(&site).unwrap();
        formats::nginx_mercure_location(&tree).unwrap().clone()
    }

    #[test]
    fn the_hub_location_is_read_for_buffering_and_wiring() {
        let good = location("proxy_pass http://127.0.0.1:3000; proxy_http_version 1.1; proxy_buffering off;");
        assert_eq!(lacks_anti_buffering(&good), None);
        assert!(location_findings(&good, false, None).is_empty());
        let copied = location("proxy_pass http://127.0.0.1:3000;");
        assert_eq!(
            lacks_anti_buffering(&copied).as_deref(),
            Some("`proxy_buffering off` and `proxy_http_version 1.1`")
        );
        // The hub speaks TLS but nginx sends plain HTTP.
        assert_eq!(
            location_findings(&copied, true, None),
            [Finding::ProxyPassScheme { proxy_pass: "http://127.0.0.1:3000".into() }]
        );
        // nginx checks a name the hub certificate does not carry (127.0.0.1 without proxy_ssl_name).
        let tls = location("proxy_pass https://127.0.0.1:8443; proxy_ssl_verify on;");
        let names = ["mercure-hub.internal".to_string()];
        assert_eq!(
            location_findings(&tls, true, Some(&names)),
            [Finding::CertName { checked: "127.0.0.1".into(), names: names.to_vec() }]
        );
        let with_name = location("proxy_pass https://127.0.0.1:8443; proxy_ssl_name mercure-hub.internal;");
        assert!(location_findings(&with_name, true, Some(&names)).is_empty());
    }
}
