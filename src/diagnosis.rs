//! Diagnoses: each `Finding` a `doctor` probe or a `loadtest` run can make maps to
//! the likely cause and the exact fix, in terms of the bundle's files, under its row of
//! the troubleshooting table (`troubleshooting::Row`), so every failure prints advice
//! the user can act on.

use serde::Serialize;

use crate::troubleshooting::Row;

/// The names the advice refers to, taken from the bundle (or defaults without one).
#[derive(Debug, Clone)]
pub struct Names {
    pub domain: String,
    /// `nginx/DOMAIN.conf`.
    pub site_file: String,
    pub hub_port: u16,
    pub tls_name: String,
    pub tls: bool,
    pub heartbeat: String,
}

impl Names {
    fn site_address(&self) -> String {
        format!("{}://:{}", if self.tls { "https" } else { "http" }, self.hub_port)
    }
}

/// Something a probe found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// Nothing listens on the hub port.
    HubDown,
    /// The bundle expects plain HTTP but the hub speaks TLS (Caddy made the site HTTPS).
    HubSpeaksTls,
    /// The bundle expects TLS but the hub speaks plain HTTP.
    HubSpeaksHttp,
    /// The hub refuses a handshake without SNI: a host-named site.
    NoSniRefused,
    /// The certificate the hub serves for SNI `tls_name` does not name it: the hub runs
    /// a certificate from another render (or another `hub.tls_name`).
    HubCertName {
        tls_name: String,
        names: Vec<String>,
    },
    /// The hub answers a handshake with SNI `tls_name` with a TLS alert: no site or
    /// certificate for that name.
    HubTlsAlert {
        alert: String,
    },
    /// The hub certificate does not name what nginx checks (`proxy_ssl_name`).
    CertName {
        checked: String,
        names: Vec<String>,
    },
    /// The hub certificate is not signed by the CA nginx trusts.
    CertUntrusted,
    CertExpired {
        not_after: String,
    },
    /// The hub certificate expires within 30 days; nothing renews it by itself.
    CertExpiresSoon {
        not_after: String,
        days_left: i64,
    },
    /// The response is not the event stream.
    NotTheStream {
        status: u16,
        media_type: String,
    },
    /// Caddy answered 200 with nothing: no site matched the Host header.
    NoSiteMatched,
    /// An update arrived late or not at all: something buffers.
    Buffering,
    /// The stream closed while idle: a proxy read timeout shorter than the heartbeat.
    IdleTimeout {
        after_ms: u128,
    },
    CorsMissing {
        origin: String,
    },
    CorsDuplicated {
        origin: String,
    },
    CorsWildcardWithCredentials {
        origin: String,
    },
    /// A Mercure 1.0 hub refused a token or request, for the cause its RFC 6750 answer
    /// and the token show.
    TokenRefused {
        cause: crate::bearer::Cause,
    },
    /// The hub refused a publish made with the bundle's publisher token.
    PublishRejected {
        status: u16,
    },
    /// The hub refused a publish signed with Symfony's `MERCURE_JWT_SECRET`.
    SymfonySecretRejected {
        status: u16,
    },
    /// The hub refused a publish signed with symfony/config/jwt/mercure-private.pem (ES256).
    SymfonyKeyRejected {
        status: u16,
    },
    /// The bundle's JWT keys disagree (`check`'s jwt-keys: env files, ES256 pair, tokens).
    BundleKeys {
        problems: String,
    },
    /// nginx proxies to a scheme other than the hub's.
    ProxyPassScheme {
        proxy_pass: String,
    },
    /// nginx's error log names the cause of a 502 that the hub probes did not explain.
    NginxLog {
        line: String,
    },
    /// A 502 whose cause no probe pinned down.
    BadGateway,
    /// Too few nginx worker connections for the subscribers.
    TooFewWorkerConnections,
}

/// A likely cause and its fix, with the troubleshooting row it belongs to (shown, and
/// serialized, as the row's number).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnosis {
    pub item: Row,
    pub cause: String,
    pub fix: String,
}

fn d(item: Row, cause: String, fix: String) -> Diagnosis {
    Diagnosis { item, cause, fix }
}

impl Finding {
    // The table is one match on purpose: each row reads as symptom -> cause -> fix.
    #[allow(clippy::too_many_lines)]
    pub fn diagnose(&self, n: &Names) -> Diagnosis {
        let site = &n.site_file;
        let addr = n.site_address();
        let port = n.hub_port;
        match self {
            Finding::HubDown => d(
                Row::HubNotRunning,
                format!(
                    "the hub is not running on 127.0.0.1:{port} (nginx logs `connect() failed (111: Connection refused)` and answers 502). \
                     Usually it exited at start: a host-named or `localhost` site address made it bind 80/443 (held by nginx), \
                     a redirect listener on :80, the admin port already taken by another Caddy, or an unwritable bolt database"
                ),
                format!(
                    "install mercure/Caddyfile from the bundle (catch-all `{addr}`, `bind 127.0.0.1`, `auto_https {}`, a unique `admin`, \
                     `transport bolt {{ path /var/lib/mercure/mercure.db }}`) and mercure/mercure.env, then `systemctl restart mercure`; \
                     `journalctl -u mercure -e` names the exact reason",
                    if n.tls { "disable_redirects" } else { "off" }
                ),
            ),
            Finding::HubSpeaksTls => d(
                Row::SchemeMismatch,
                format!(
                    "the hub serves HTTPS on port {port} but the bundle (and nginx's `proxy_pass http://127.0.0.1:{port}`) expects plain HTTP: \
                     its site address lacks `http://`, so Caddy made it HTTPS and answers `400 Client sent an HTTP request to an HTTPS server`"
                ),
                format!(
                    "use the bundle's mercure/Caddyfile: site address `http://:{port}` with `auto_https off`, then `systemctl restart mercure`"
                ),
            ),
            Finding::HubSpeaksHttp => d(
                Row::SchemeMismatch,
                format!(
                    "the hub serves plain HTTP on port {port} but nginx's `proxy_pass https://127.0.0.1:{port}` expects TLS: \
                     nginx logs `SSL_do_handshake() failed ... wrong version number` and answers 502"
                ),
                format!(
                    "use the bundle's mercure/Caddyfile: site address `https://:{port}` with `tls /etc/mercure/tls/hub.crt /etc/mercure/tls/hub.key` \
                     (install mercure/tls/hub.crt and hub.key there), then `systemctl restart mercure`"
                ),
            ),
            Finding::NoSniRefused => d(
                Row::NoSni,
                "the hub refuses a TLS handshake without SNI (alert 80, internal_error): its site address names a host, and nginx sends no SNI \
                 by default, so nginx logs `SSL_do_handshake() failed ... SSL alert number 80` and answers 502"
                    .into(),
                format!(
                    "use the bundle's mercure/Caddyfile (catch-all `{addr}` with `default_sni {}`), and keep `proxy_ssl_server_name on;` \
                     `proxy_ssl_name {};` in the hub location of {site}",
                    n.tls_name, n.tls_name
                ),
            ),
            Finding::HubCertName { tls_name, names } => d(
                Row::CertificateMismatch,
                format!(
                    "the certificate the hub serves does not name `{tls_name}` (it names {}): the hub runs a certificate \
                     from another render or for another hub.tls_name, so nginx (`proxy_ssl_name {tls_name}`) logs \
                     `upstream SSL certificate does not match \"{tls_name}\"` and answers 502",
                    if names.is_empty() { "nothing usable".to_string() } else { names.join(", ") }
                ),
                format!(
                    "install mercure/tls/hub.crt and hub.key from the render whose hub.tls_name is {tls_name} to /etc/mercure/tls/ \
                     (or render again with hub.tls_name {tls_name}), then `systemctl restart mercure`"
                ),
            ),
            Finding::HubTlsAlert { alert } => d(
                Row::NoSni,
                format!(
                    "the hub refuses a TLS handshake even with SNI `{}` ({alert}): it has no site or certificate for that name \
                     (a site address naming another host, or the certificate files failed to load)",
                    n.tls_name
                ),
                format!(
                    "use the bundle's mercure/Caddyfile (catch-all `{addr}` with `tls /etc/mercure/tls/hub.crt /etc/mercure/tls/hub.key` \
                     and `default_sni {}`), install mercure/tls/hub.crt and hub.key there, then `systemctl restart mercure`; \
                     `journalctl -u mercure -e` shows why a certificate did not load",
                    n.tls_name
                ),
            ),
            Finding::CertName { checked, names } => d(
                Row::CertificateMismatch,
                format!(
                    "the hub certificate does not name `{checked}` (it names {}): nginx logs `upstream SSL certificate does not match \"{checked}\"` and answers 502",
                    if names.is_empty() { "nothing usable".to_string() } else { names.join(", ") }
                ),
                format!(
                    "set `proxy_ssl_name {};` (a DNS name in mercure/tls/hub.crt) with `proxy_ssl_server_name on;` in the hub location of {site}, \
                     as the bundle renders it, then `nginx -t && systemctl reload nginx`",
                    n.tls_name
                ),
            ),
            Finding::CertUntrusted => d(
                Row::CertificateMismatch,
                "the hub's certificate is not signed by the CA nginx trusts (nginx logs `upstream SSL certificate verify error` and answers 502)".into(),
                format!(
                    "install mercure/tls/ca.crt, hub.crt and hub.key from the same render to /etc/mercure/tls/ (nginx's \
                     `proxy_ssl_trusted_certificate /etc/mercure/tls/ca.crt;` in {site}), restart the hub and reload nginx"
                ),
            ),
            Finding::CertExpired { not_after } => d(
                Row::CertificateMismatch,
                format!("the hub certificate expired on {not_after}; nginx refuses it (`upstream SSL certificate verify error`) and answers 502"),
                "run `mercure-setup render BUNDLE` again (it reissues a hub certificate that expires within 30 days), \
                 install the new mercure/tls/hub.crt and hub.key to /etc/mercure/tls/ and `systemctl restart mercure`"
                    .into(),
            ),
            Finding::CertExpiresSoon { not_after, days_left } => d(
                Row::CertificateMismatch,
                format!("the hub certificate expires on {not_after}, in {days_left} days; nothing renews it, and then nginx refuses it and answers 502"),
                "run `mercure-setup render BUNDLE` again (it reissues a hub certificate that expires within 30 days), \
                 then `mercure-setup apply BUNDLE` (or install mercure/tls/hub.crt and hub.key to /etc/mercure/tls/ and `systemctl restart mercure`)"
                    .into(),
            ),
            Finding::NotTheStream { status, media_type } => {
                let why = match status {
                    401 | 403 => "the hub refused the subscriber's token (401/403): the token is missing, expired, or signed with another key",
                    400 => "the hub says the request is malformed (400): usually a missing `topic`",
                    404 => "404: nginx rewrote or stripped the path, or the hub location did not match and Symfony answered",
                    502..=504 => "nginx could not get the stream from the hub",
                    _ => "the response is not the hub's stream: an nginx error page, or Symfony answered because the hub location did not match",
                };
                d(
                    Row::NotTheStream,
                    format!(
                        "EventSource would refuse this response (status {status}, type `{}`): {why}",
                        if media_type.is_empty() { "none" } else { media_type }
                    ),
                    format!(
                        "keep the bundle's `location ^~ /.well-known/mercure` with `proxy_pass` and no URI part in {site}; \
                         subscribe with a token from tokens/subscriber.jwt (signed with the key in mercure/mercure.env)"
                    ),
                )
            }
            Finding::NoSiteMatched => d(
                Row::NoSiteMatched,
                "the hub answered 200 with an empty body: the request reached Caddy but no site matched its Host header (a host-named site address)".into(),
                format!("use the bundle's mercure/Caddyfile with the catch-all site address `{addr}`, then `systemctl restart mercure`"),
            ),
            Finding::Buffering => d(
                Row::Buffering,
                "the update did not reach the public subscription within 1 s: something buffers the stream \
                 (nginx `proxy_buffering` on with the hub's `X-Accel-Buffering: no` ignored by \
                 `proxy_ignore_headers`, gzip on text/event-stream, a CDN)"
                    .into(),
                format!(
                    "in the hub location of {site} keep `proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_buffering off; proxy_cache off;`, \
                     drop any `proxy_ignore_headers X-Accel-Buffering` that applies to it, and never add text/event-stream to gzip_types; \
                     then `nginx -t && systemctl reload nginx`"
                ),
            ),
            Finding::IdleTimeout { after_ms } => d(
                Row::IdleTimeout,
                format!(
                    "an idle subscription was closed after {:.1} s: a proxy read timeout (nginx `proxy_read_timeout`, default 60 s) \
                     is shorter than the hub heartbeat ({})",
                    ms_to_s(*after_ms),
                    n.heartbeat
                ),
                format!(
                    "keep `proxy_read_timeout 1h;` in the hub location of {site} (at least twice the heartbeat) and never disable the heartbeat; \
                     then `nginx -t && systemctl reload nginx`"
                ),
            ),
            Finding::CorsMissing { origin } => d(
                Row::Cors,
                format!("the preflight from {origin} got no matching Access-Control-Allow-Origin: the hub running does not list it in cors_origins"),
                format!(
                    "add {origin} to hub.cors_origins in answers.yaml (exact scheme://host[:port], no slash or path), render again, \
                     install mercure/Caddyfile and restart the hub"
                ),
            ),
            Finding::CorsDuplicated { origin } => d(
                Row::Cors,
                format!("the preflight from {origin} got Access-Control-Allow-Origin more than once: nginx adds its own CORS headers on top of the hub's"),
                format!("remove every `add_header Access-Control-*` from the hub location of {site}: the hub sends its own"),
            ),
            Finding::CorsWildcardWithCredentials { origin } => d(
                Row::Cors,
                format!("the preflight from {origin} got `Access-Control-Allow-Origin: *`, which browsers refuse with credentials (cookies)"),
                "list exact origins in hub.cors_origins in answers.yaml instead of `*`, render again and install mercure/Caddyfile".into(),
            ),
            Finding::TokenRefused { cause } => d(Row::TokenRefused10, cause.to_string(), cause.fix()),
            Finding::PublishRejected { status } => d(
                Row::PublishRejected,
                format!(
                    "the hub refused the bundle's publisher token ({status}): the hub runs with another key than mercure/mercure.env, \
                     another algorithm, or the token's mercure.publish does not cover the topic (the reason is logged only at Caddy debug level)"
                ),
                "install the bundle's mercure/mercure.env to /etc/mercure/mercure.env and `systemctl restart mercure`; use tokens/publisher.jwt from the same render".into(),
            ),
            Finding::SymfonySecretRejected { status } => d(
                Row::PublishRejected,
                format!(
                    "the hub refused a token signed with MERCURE_JWT_SECRET from symfony/.env.local ({status}): Symfony's key is not the hub's \
                     (or a JWT was pasted where the secret belongs)"
                ),
                "set MERCURE_JWT_SECRET in the app's .env.local to MERCURE_PUBLISHER_JWT_KEY of /etc/mercure/mercure.env: install symfony/.env.local \
                 and mercure/mercure.env from the same render, then clear Symfony's cache"
                    .into(),
            ),
            Finding::SymfonyKeyRejected { status } => d(
                Row::PublishRejected,
                format!(
                    "the hub refused an ES256 token signed with symfony/config/jwt/mercure-private.pem ({status}): the hub's \
                     MERCURE_PUBLISHER_JWT_KEY is not that key's public half, or MERCURE_PUBLISHER_JWT_ALG is not ES256"
                ),
                "install symfony/config/jwt/mercure-private.pem (MERCURE_JWT_SECRET_FILE in the app's .env.local) and \
                 mercure/mercure.env from the same render, restart the hub (`systemctl restart mercure`) and clear Symfony's cache"
                    .into(),
            ),
            Finding::BundleKeys { problems } => d(
                Row::PublishRejected,
                format!("the bundle's JWT keys disagree, so publishes will get 401: {problems}"),
                "render again (secrets are kept in the bundle's .state/) and install symfony/.env.local, symfony/config/jwt/ (ES256) \
                 and mercure/mercure.env from that one render; never paste a JWT where the secret belongs"
                    .into(),
            ),
            Finding::ProxyPassScheme { proxy_pass } => d(
                Row::SchemeMismatch,
                format!(
                    "nginx proxies with `proxy_pass {proxy_pass}` but the hub speaks {}",
                    if n.tls { "TLS" } else { "plain HTTP" }
                ),
                format!("install {site} from the bundle: `proxy_pass {}://127.0.0.1:{port};`", if n.tls { "https" } else { "http" }),
            ),
            Finding::NginxLog { line } => {
                let (item, cause, fix) = explain_nginx_log(line, n);
                d(item, format!("{cause}; nginx logged: {}", crate::net::redact_authorization(line)), fix)
            }
            Finding::BadGateway => d(
                Row::HubNotRunning,
                "nginx answered 502 but the hub probes passed: nginx could not use the hub (look in /var/log/nginx/error.log, \
                 or pass --nginx-error-log)"
                    .into(),
                format!("compare the hub location of the installed site with {site} from the bundle, and install the bundle's version"),
            ),
            Finding::TooFewWorkerConnections => d(
                Row::WorkerConnections,
                "nginx ran out of worker connections: each proxied subscriber holds two (browser and hub); Debian's worker_connections 768 caps a worker near 380".into(),
                "set `worker_connections` and `worker_rlimit_nofile` in /etc/nginx/nginx.conf as INSTALL.md says, and install \
                 systemd/nginx.service.d/mercure-limits.conf (LimitNOFILE), then restart nginx"
                    .into(),
            ),
        }
    }
}

/// The cause and fix for a known nginx error-log line (the strings the troubleshooting rows quote).
fn explain_nginx_log(line: &str, n: &Names) -> (Row, String, String) {
    let site = &n.site_file;
    if line.contains("111: Connection refused") {
        let d = Finding::HubDown.diagnose(n);
        return (d.item, "the hub is not running".into(), d.fix);
    }
    if line.contains("alert number 80") {
        let d = Finding::NoSniRefused.diagnose(n);
        return (d.item, "nginx sent no SNI and the hub's host-named site refused the handshake".into(), d.fix);
    }
    if line.contains("does not match") {
        // nginx checked the right name (hub.tls_name): the hub's certificate is the wrong one.
        let checked = line.split("does not match \"").nth(1).and_then(|r| r.split('"').next());
        if checked == Some(n.tls_name.as_str()) {
            let d = Finding::HubCertName { tls_name: n.tls_name.clone(), names: Vec::new() }.diagnose(n);
            return (
                d.item,
                format!("nginx checks `{}` (hub.tls_name) but the hub's certificate does not name it", n.tls_name),
                d.fix,
            );
        }
        let d = Finding::CertName { checked: String::new(), names: Vec::new() }.diagnose(n);
        return (
            d.item,
            "the name nginx checks (proxy_ssl_name, else the proxy_pass host) is not in the hub certificate".into(),
            d.fix,
        );
    }
    if line.contains("wrong version number") {
        let d = Finding::HubSpeaksHttp.diagnose(n);
        return (d.item, "nginx speaks TLS to a hub serving plain HTTP".into(), d.fix);
    }
    if line.contains("certificate has expired") {
        let d = Finding::CertExpired { not_after: "(see the log)".into() }.diagnose(n);
        return (d.item, "the hub certificate expired".into(), d.fix);
    }
    if line.contains("verify error") || line.contains("certificate verify failed") {
        let d = Finding::CertUntrusted.diagnose(n);
        return (d.item, "nginx could not verify the hub certificate against its trusted CA".into(), d.fix);
    }
    if line.contains("worker_connections are not enough") {
        let d = Finding::TooFewWorkerConnections.diagnose(n);
        return (d.item, "nginx ran out of worker connections".into(), d.fix);
    }
    if line.contains("timed out") {
        let d = Finding::IdleTimeout { after_ms: 0 }.diagnose(n);
        return (d.item, "nginx's proxy_read_timeout expired".into(), d.fix);
    }
    (
        Row::HubNotRunning,
        "nginx could not use the hub".into(),
        format!("compare the installed site with {site} from the bundle"),
    )
}

/// Whether an nginx error-log line is one `explain_nginx_log` knows about the hub upstream.
pub fn is_hub_error_line(line: &str) -> bool {
    [
        "111: Connection refused",
        "alert number 80",
        "does not match",
        "wrong version number",
        "verify error",
        "certificate verify failed",
        "certificate has expired",
        "worker_connections are not enough",
        "upstream timed out",
    ]
    .iter()
    .any(|p| line.contains(p))
}

#[allow(clippy::cast_precision_loss)]
fn ms_to_s(ms: u128) -> f64 {
    ms as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(tls: bool) -> Names {
        Names {
            domain: "app.example.com".into(),
            site_file: "nginx/app.example.com.conf".into(),
            hub_port: 8443,
            tls_name: "mercure.internal".into(),
            tls,
            heartbeat: "40s".into(),
        }
    }

    #[test]
    fn each_finding_maps_to_its_troubleshooting_row_and_names_the_bundle_files() {
        let n = names(true);
        let cases: Vec<(Finding, Row, &str)> = vec![
            (Finding::HubDown, Row::HubNotRunning, "mercure/Caddyfile"),
            (Finding::NoSniRefused, Row::NoSni, "proxy_ssl_name mercure.internal"),
            (
                Finding::CertName { checked: "x".into(), names: vec![] },
                Row::CertificateMismatch,
                "proxy_ssl_name mercure.internal",
            ),
            (
                Finding::HubCertName { tls_name: "mercure.internal".into(), names: vec!["other.internal".into()] },
                Row::CertificateMismatch,
                "install mercure/tls/hub.crt and hub.key from the render whose hub.tls_name is mercure.internal",
            ),
            (Finding::HubTlsAlert { alert: "internal_error".into() }, Row::NoSni, "default_sni mercure.internal"),
            (Finding::SymfonyKeyRejected { status: 401 }, Row::PublishRejected, "mercure-private.pem"),
            (Finding::BundleKeys { problems: "x".into() }, Row::PublishRejected, "mercure/mercure.env"),
            (Finding::CertUntrusted, Row::CertificateMismatch, "mercure/tls/ca.crt"),
            (Finding::CertExpired { not_after: "2020-01-01".into() }, Row::CertificateMismatch, "mercure-setup render"),
            (
                Finding::CertExpiresSoon { not_after: "2030-01-01".into(), days_left: 12 },
                Row::CertificateMismatch,
                "mercure-setup apply",
            ),
            (Finding::HubSpeaksHttp, Row::SchemeMismatch, "https://:8443"),
            (Finding::HubSpeaksTls, Row::SchemeMismatch, "http://:8443"),
            (
                Finding::NotTheStream { status: 404, media_type: "text/html".into() },
                Row::NotTheStream,
                "location ^~ /.well-known/mercure",
            ),
            (Finding::NoSiteMatched, Row::NoSiteMatched, "catch-all"),
            (Finding::Buffering, Row::Buffering, "proxy_buffering off"),
            (Finding::IdleTimeout { after_ms: 5000 }, Row::IdleTimeout, "proxy_read_timeout 1h"),
            (Finding::CorsDuplicated { origin: "https://a.example".into() }, Row::Cors, "add_header"),
            (Finding::SymfonySecretRejected { status: 401 }, Row::PublishRejected, "MERCURE_JWT_SECRET"),
            (Finding::TooFewWorkerConnections, Row::WorkerConnections, "worker_connections"),
        ];
        for (finding, item, needle) in cases {
            let dg = finding.diagnose(&n);
            assert_eq!(dg.item, item, "{finding:?}");
            assert!(dg.fix.contains(needle) || dg.cause.contains(needle), "{finding:?}: {dg:?}");
        }
        assert!(Finding::IdleTimeout { after_ms: 5000 }.diagnose(&n).cause.contains("5.0 s"));
    }

    #[test]
    fn nginx_log_lines_pick_the_cause() {
        let n = names(true);
        let line = "2024/05/01 10:00:00 [error] 7#7: *1 upstream SSL certificate does not match \"wrong.internal\" while SSL handshaking to upstream";
        assert!(is_hub_error_line(line));
        let dg = Finding::NginxLog { line: line.into() }.diagnose(&n);
        assert_eq!(dg.item, Row::CertificateMismatch);
        assert!(dg.fix.contains("proxy_ssl_name mercure.internal"), "{dg:?}");
        // The right name checked: the hub's certificate is what to replace.
        let dg = Finding::NginxLog { line: line.replace("wrong.internal", "mercure.internal") }.diagnose(&n);
        assert!(
            dg.fix.contains("hub.crt and hub.key from the render") && !dg.fix.contains("set `proxy_ssl_name"),
            "{dg:?}"
        );
        let dg = Finding::NginxLog {
            line: "SSL_do_handshake() failed (SSL: error:0A00010B:SSL routines::wrong version number)".into(),
        }
        .diagnose(&n);
        assert_eq!(dg.item, Row::SchemeMismatch);
        assert!(!is_hub_error_line("[notice] signal process started"));
        // A logged request line can carry another user's JWT: never printed.
        let line = "connect() failed (111: Connection refused) while connecting to upstream, request: \"GET /.well-known/mercure?topic=t&AUTHORIZATION=eyJhbGciOi.x.y HTTP/1.1\"";
        let dg = Finding::NginxLog { line: line.into() }.diagnose(&n);
        assert!(!dg.cause.contains("eyJ") && dg.cause.contains("authorization=REDACTED HTTP/1.1"), "{dg:?}");
    }
}
