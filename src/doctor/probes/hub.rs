//! The hub on its loopback port: does it accept connections, which scheme it speaks,
//! TLS with and without SNI (as nginx connects by default), its certificate's expiry,
//! and whether a bare GET gets a Mercure hub's answer.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use super::{Ctx, Scheme, ms};
use crate::diagnosis::Finding;
use crate::doctor::report::{Probe, ProbeResult, Reporter, Verdict};
use crate::doctor::target::Settings;
use crate::net::{self, Failure, Request, TlsFailure, TlsTarget, classify, exchange, preview};
use crate::pki;

/// `GET /mercure/health/ready` on the hub's admin API (TCP on loopback, or the unix
/// socket, which needs the hub's user or root), as one line for the hub probe's detail;
/// `None` when the admin API is off or not known.
async fn admin_ready(s: &Settings) -> Option<String> {
    use crate::values::ADMIN_SOCKET;
    let admin = s.hub_admin.as_ref().filter(|a| !a.is_off())?;
    let path = "/mercure/health/ready";
    // Caddy checks the Host of TCP admin requests against its listen address.
    let (host, answer) = if admin.is_unix() {
        let io = async {
            let mut c = tokio::net::UnixStream::connect(ADMIN_SOCKET).await?;
            admin_get(&mut c, "localhost", path).await
        };
        ("unix socket", tokio::time::timeout(Duration::from_secs(2), io).await)
    } else {
        let port = admin.port()?;
        let io = async {
            let mut c = TcpStream::connect(("127.0.0.1", port)).await?;
            admin_get(&mut c, &format!("localhost:{port}"), path).await
        };
        (admin.as_str(), tokio::time::timeout(Duration::from_secs(2), io).await)
    };
    Some(match answer {
        Ok(Ok(text)) => format!("admin {path} ({host}): {text}"),
        Ok(Err(e)) => format!("admin {path} ({host}) not reachable: {e}"),
        Err(_) => format!("admin {path} ({host}): no answer within 2 s"),
    })
}

/// One HTTP/1.1 GET on an admin connection: the status line's code and the body's start.
async fn admin_get<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    c: &mut S,
    host: &str,
    path: &str,
) -> std::io::Result<String> {
    c.write_all(format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes()).await?;
    let mut buf = Vec::new();
    c.take(4096).read_to_end(&mut buf).await?;
    let text = String::from_utf8_lossy(&buf);
    let status = text.split_whitespace().nth(1).unwrap_or("?").to_string();
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b.trim());
    Ok(format!("{status} {}", preview(body.as_bytes(), 40)))
}

/// The TLS probes of the hub, which need a hub that speaks TLS and a CA to verify it.
const TLS_PROBES: [Probe; 3] = [Probe::HubTlsSni, Probe::HubTlsNoSni, Probe::HubCertExpiry];

/// TCP, scheme, TLS with and without SNI, certificate expiry, and the hub's answer.
pub(super) async fn hub_probes(ctx: &Ctx<'_>, rep: &mut Reporter) -> Option<Scheme> {
    let s = ctx.s;
    let hub = &s.hub_url;
    let t = Instant::now();
    let addr = match s.resolver.lookup(&hub.host, hub.port).await {
        Ok(a) => a,
        Err(e) => {
            rep.add(ProbeResult::fail(Probe::HubTcp, ms(t), format!("{} does not resolve: {e}", hub.host), vec![]));
            skip_hub_dependents(s, rep, "the hub's host does not resolve");
            return None;
        }
    };
    let loopback = if addr.ip().is_loopback() { "" } else { " (not loopback: the hub should bind 127.0.0.1 only)" };
    match tokio::time::timeout(s.timeout, TcpStream::connect(addr)).await {
        Ok(Ok(_)) => rep.add(ProbeResult::pass(Probe::HubTcp, ms(t), format!("{addr} accepts connections{loopback}"))),
        Ok(Err(e)) => {
            let f = classify(&e);
            let findings = if f == Failure::Refused { vec![Finding::HubDown] } else { vec![] };
            rep.add(ProbeResult::fail(Probe::HubTcp, ms(t), format!("{addr}: {f}"), findings));
            skip_hub_dependents(s, rep, "the hub port does not accept connections");
            return None;
        }
        Err(_) => {
            rep.add(ProbeResult::fail(
                Probe::HubTcp,
                ms(t),
                format!("{addr}: no answer in {:?}", s.timeout),
                vec![Finding::HubDown],
            ));
            skip_hub_dependents(s, rep, "the hub port did not answer a TCP connection in time");
            return None;
        }
    }

    let t = Instant::now();
    let expected = if s.hub_tls { Scheme::Tls } else { Scheme::Http };
    let scheme = detect_scheme(ctx).await;
    match scheme {
        Ok(found) if found == expected => {
            rep.add(ProbeResult::pass(
                Probe::HubScheme,
                ms(t),
                format!("speaks {}, as the {} topology expects", scheme_name(found), s.topology),
            ));
        }
        Ok(found) => {
            let finding = if found == Scheme::Tls { Finding::HubSpeaksTls } else { Finding::HubSpeaksHttp };
            rep.add(ProbeResult::fail(
                Probe::HubScheme,
                ms(t),
                format!(
                    "speaks {}, but the {} topology (nginx's proxy_pass) expects {}",
                    scheme_name(found),
                    s.topology,
                    scheme_name(expected)
                ),
                vec![finding],
            ));
        }
        Err(ref e) => {
            rep.add(ProbeResult::fail(Probe::HubScheme, ms(t), format!("neither HTTP nor TLS answered: {e}"), vec![]));
        }
    }
    let scheme = scheme.ok();

    if s.hub_tls {
        tls_probes(ctx, rep, scheme).await;
    }
    hub_answer(ctx, rep, scheme).await;
    scheme
}

/// Lists the hub probes that cannot run once the port is unreachable, with the reason.
fn skip_hub_dependents(s: &Settings, rep: &mut Reporter, why: &str) {
    let tls: &[Probe] = if s.hub_tls { &TLS_PROBES } else { &[] };
    for id in std::iter::once(Probe::HubScheme).chain(tls.iter().cloned()).chain(std::iter::once(Probe::HubMercure)) {
        rep.add(ProbeResult::skip(id, why));
    }
}

fn scheme_name(s: Scheme) -> &'static str {
    match s {
        Scheme::Http => "plain HTTP",
        Scheme::Tls => "TLS",
    }
}

/// Sends a plain-text request: an HTTPS server answers "HTTP request to an HTTPS
/// server" (Go) or a TLS alert; an HTTP server answers HTTP. Silence -> try a handshake.
async fn detect_scheme(ctx: &Ctx<'_>) -> Result<Scheme, String> {
    let s = ctx.s;
    let plain = async {
        let stream = net::open(&s.hub_url, &s.resolver, None, s.timeout).await.map_err(|e| e.to_string())?;
        let mut stream = match stream {
            net::Stream::Plain(t) => t,
            net::Stream::Tls(_) => return Err("unexpected TLS stream".to_string()),
        };
        let req = format!("GET /healthz HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", s.names.domain);
        stream.write_all(req.as_bytes()).await.map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; 512];
        let mut got = 0;
        while got < buf.len() {
            match stream.read(&mut buf[got..]).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
        }
        buf.truncate(got);
        Ok(buf)
    };
    let bytes = tokio::time::timeout(Duration::from_secs(2), plain).await.unwrap_or_else(|_| Ok(Vec::new()))?;
    if let Some(scheme) = scheme_of_plain_answer(&bytes) {
        return Ok(scheme);
    }
    // No plain answer: see whether a TLS handshake gets as far as a certificate.
    let target = match &ctx.tls.hub_sni {
        Some((t, _)) => t.clone(),
        None => {
            let system = || -> Result<TlsTarget, net::TlsError> {
                let (config, _) = net::tls_config(net::native_roots()?, true)?;
                TlsTarget::new(config, &s.tls_name)
            };
            // Only shown as the probe's detail.
            system().map_err(|e| e.to_string())?
        }
    };
    match net::open(&s.hub_url, &s.resolver, Some(&target), s.timeout).await {
        Ok(_)
        | Err(Failure::Tls(
            TlsFailure::Expired | TlsFailure::UnknownIssuer | TlsFailure::NameMismatch | TlsFailure::Alert(_),
        )) => Ok(Scheme::Tls),
        Err(Failure::Tls(TlsFailure::NotTls)) => Ok(Scheme::Http),
        Err(e) => Err(format!("{e}; plain-text answer: \"{}\"", preview(&bytes, 80))),
    }
}

/// The scheme a plain-text request's answer reveals: HTTP (or Go's "HTTP request to
/// an HTTPS server"), a TLS alert record (0x15), or nothing to go by.
fn scheme_of_plain_answer(bytes: &[u8]) -> Option<Scheme> {
    if bytes.starts_with(b"HTTP/") {
        let text = String::from_utf8_lossy(bytes);
        return Some(if text.contains("HTTP request to an HTTPS server") { Scheme::Tls } else { Scheme::Http });
    }
    (bytes.first() == Some(&0x15)).then_some(Scheme::Tls)
}

async fn tls_probes(ctx: &Ctx<'_>, rep: &mut Reporter, scheme: Option<Scheme>) {
    let s = ctx.s;
    if scheme != Some(Scheme::Tls) {
        let why =
            if scheme.is_none() { "the hub's scheme could not be determined" } else { "the hub does not speak TLS" };
        for id in TLS_PROBES {
            rep.add(ProbeResult::skip(id, why));
        }
        return;
    }
    let (Some((sni, sni_rec)), Some((no_sni, no_sni_rec))) = (&ctx.tls.hub_sni, &ctx.tls.hub_no_sni) else {
        for id in TLS_PROBES {
            rep.add(ProbeResult::skip(id, "no CA to verify the hub against: give the BUNDLE or --ca FILE"));
        }
        return;
    };
    let t = Instant::now();
    let r = net::open(&s.hub_url, &s.resolver, Some(sni), s.timeout).await;
    let sni_seen = sni_rec.seen();
    let sni_info = sni_seen.as_deref().and_then(|der| pki::inspect_der(der).ok());
    match r {
        Ok(stream) => {
            let version = match &stream {
                net::Stream::Tls(t) => t.get_ref().1.protocol_version().map(|v| format!("{v:?}")).unwrap_or_default(),
                net::Stream::Plain(_) => String::new(),
            };
            rep.add(ProbeResult::pass(
                Probe::HubTlsSni,
                ms(t),
                format!("SNI {}: certificate verified against the bundle CA ({version})", s.tls_name),
            ));
        }
        Err(f) => {
            let findings = tls_findings(&f, &s.tls_name, sni_info.as_ref(), true);
            rep.add(ProbeResult::fail(Probe::HubTlsSni, ms(t), format!("SNI {}: {f}", s.tls_name), findings));
        }
    }

    let t = Instant::now();
    let no_sni_result = net::open(&s.hub_url, &s.resolver, Some(no_sni), s.timeout).await;
    // Expiry: the certificate served for SNI, else the one the no-SNI handshake saw.
    let (seen, info) = match sni_info {
        Some(i) => (sni_seen, Some(i)),
        None => {
            let seen = no_sni_rec.seen();
            let info = seen.as_deref().and_then(|der| pki::inspect_der(der).ok());
            (seen, info)
        }
    };
    match no_sni_result {
        Ok(_) => rep.add(ProbeResult::pass(
            Probe::HubTlsNoSni,
            ms(t),
            "handshake without SNI (nginx's default) gets the hub certificate",
        )),
        Err(f) => {
            let findings = tls_findings(&f, &s.tls_name, info.as_ref(), false);
            rep.add(ProbeResult::fail(Probe::HubTlsNoSni, ms(t), format!("without SNI: {f}"), findings));
        }
    }

    let t = Instant::now();
    match info {
        None => rep.add(ProbeResult::skip(Probe::HubCertExpiry, "the hub presented no certificate")),
        Some(info) => {
            let now = time::OffsetDateTime::now_utc();
            let left = info.not_after - now;
            let differs = match s.bundle_hub_cert.as_deref().map(pki::cert_der) {
                Some(Ok(der)) if Some(&der) != seen.as_ref() => " (not the bundle's mercure/tls/hub.crt)",
                _ => "",
            };
            if left.is_negative() {
                rep.add(ProbeResult::fail(
                    Probe::HubCertExpiry,
                    ms(t),
                    format!("expired on {}{differs}", info.not_after.date()),
                    vec![Finding::CertExpired { not_after: info.not_after.date().to_string() }],
                ));
            } else if left < crate::pki::RENEW_BEFORE {
                rep.add(ProbeResult::fail(
                    Probe::HubCertExpiry,
                    ms(t),
                    format!("valid until {} ({} days, under 30){differs}", info.not_after.date(), left.whole_days()),
                    vec![crate::doctor::expiry::expiry_finding(&info, now)],
                ));
            } else {
                rep.add(ProbeResult::pass(
                    Probe::HubCertExpiry,
                    ms(t),
                    format!("valid until {} ({} days){differs}", info.not_after.date(), left.whole_days()),
                ));
            }
        }
    }
}

/// What a failed handshake with the hub says. `sni`: whether `name` was sent as SNI.
pub(super) fn tls_findings(f: &Failure, name: &str, info: Option<&pki::CertInfo>, sni: bool) -> Vec<Finding> {
    match f {
        Failure::Tls(TlsFailure::Expired) => {
            vec![Finding::CertExpired {
                not_after: info.map_or_else(|| "(unknown)".into(), |i| i.not_after.date().to_string()),
            }]
        }
        Failure::Tls(TlsFailure::UnknownIssuer) => vec![Finding::CertUntrusted],
        // The hub serves a certificate for another name: the fix is the hub's certificate,
        // not nginx's proxy_ssl_name (that finding comes from the site file, `conf_findings`).
        Failure::Tls(TlsFailure::NameMismatch) => vec![Finding::HubCertName {
            tls_name: name.into(),
            names: info.map(|i| i.dns_names.clone()).unwrap_or_default(),
        }],
        Failure::Tls(TlsFailure::Alert(_)) if !sni => vec![Finding::NoSniRefused],
        Failure::Tls(TlsFailure::Alert(alert)) => vec![Finding::HubTlsAlert { alert: alert.clone() }],
        Failure::Refused => vec![Finding::HubDown],
        _ => vec![],
    }
}

/// A bare GET on the hub (Host = the public domain, as nginx sends it).
async fn hub_answer(ctx: &Ctx<'_>, rep: &mut Reporter, scheme: Option<Scheme>) {
    let s = ctx.s;
    let Some(scheme) = scheme else {
        rep.add(ProbeResult::skip(Probe::HubMercure, "the hub's scheme is unknown"));
        return;
    };
    let mut url = s.hub_url.clone();
    let tls = match scheme {
        Scheme::Http => {
            url.https = false;
            None
        }
        Scheme::Tls if rep.get(&Probe::HubTlsSni).is_some_and(|r| r.status == Verdict::Pass) => {
            url.https = true;
            ctx.tls.hub_sni.as_ref().map(|(t, _)| t.clone())
        }
        Scheme::Tls => {
            rep.add(ProbeResult::skip(Probe::HubMercure, "the hub's TLS cannot be verified"));
            return;
        }
    };
    let t = Instant::now();
    let domain = s.names.domain.clone();
    let req = Request { method: "GET", url: &url, host: Some(&domain), headers: vec![], body: None, close: true };
    let r = exchange(&req, &s.resolver, tls.as_ref(), Duration::from_secs(2), 256, Duration::from_millis(300)).await;
    let health_url = url.with_path("/healthz");
    let health =
        Request { method: "GET", url: &health_url, host: Some(&domain), headers: vec![], body: None, close: true };
    let health = match exchange(
        &health,
        &s.resolver,
        tls.as_ref(),
        Duration::from_secs(2),
        64,
        Duration::from_millis(200),
    )
    .await
    {
        Ok(x) => format!("; /healthz: {}", x.head.status),
        Err(e) => format!("; /healthz: {e}"),
    };
    let health = match admin_ready(s).await {
        Some(admin) => format!("{health}; {admin}"),
        None => health,
    };
    let path = &url.path;
    match r {
        Err(Failure::Timeout) => rep.add(ProbeResult::fail(
            Probe::HubMercure,
            ms(t),
            format!("GET {path}: no response headers within 2 s (after {} ms){health}", ms(t)),
            vec![],
        )),
        Ok(x) if matches!(x.head.status, 400 | 401 | 403) => {
            rep.add(ProbeResult::pass(
                Probe::HubMercure,
                ms(t),
                format!("GET {path} without topic or token: {} (a Mercure hub refuses it){health}", x.head.status),
            ));
        }
        Ok(x) if x.head.status == 200 && x.head.media_type() == "text/event-stream" => {
            rep.add(ProbeResult::pass(
                Probe::HubMercure,
                ms(t),
                format!("GET {path}: 200 text/event-stream (anonymous subscribers allowed){health}"),
            ));
        }
        Ok(x) if x.head.status == 200 && x.body.is_empty() && x.head.media_type().is_empty() => {
            rep.add(ProbeResult::fail(
                Probe::HubMercure,
                ms(t),
                format!("GET {path} with Host {domain}: 200 with an empty body{health}"),
                vec![Finding::NoSiteMatched],
            ));
        }
        Ok(x) => {
            let finding = Finding::NotTheStream { status: x.head.status, media_type: x.head.media_type() };
            rep.add(ProbeResult::fail(
                Probe::HubMercure,
                ms(t),
                format!(
                    "GET {path}: {} `{}`: \"{}\"{health}",
                    x.head.status,
                    x.head.media_type(),
                    preview(&x.body, 80)
                ),
                vec![finding],
            ));
        }
        Err(e) => rep.add(ProbeResult::fail(
            Probe::HubMercure,
            ms(t),
            format!("GET {path}: {e}"),
            tls_findings(&e, &s.tls_name, None, true),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_answer_tells_the_scheme() {
        assert_eq!(scheme_of_plain_answer(b"HTTP/1.1 200 OK\r\n"), Some(Scheme::Http));
        let go = b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";
        assert_eq!(scheme_of_plain_answer(go), Some(Scheme::Tls));
        assert_eq!(scheme_of_plain_answer(&[0x15, 0x03, 0x01]), Some(Scheme::Tls));
        assert_eq!(scheme_of_plain_answer(b""), None);
        assert_eq!(scheme_of_plain_answer(b"SSH-2.0"), None);
    }

    #[test]
    fn handshake_failures_name_their_cause() {
        let info = pki::CertInfo {
            not_after: time::OffsetDateTime::UNIX_EPOCH,
            dns_names: vec!["other.internal".into()],
            ip_addresses: vec![],
            subject: String::new(),
            issuer: String::new(),
            ca: None,
            basic_constraints_critical: false,
            key_cert_sign: false,
            crl_sign: false,
            digital_signature: false,
            server_auth: false,
        };
        let tls = |f: TlsFailure| Failure::Tls(f);
        assert_eq!(
            tls_findings(&tls(TlsFailure::Expired), "hub", Some(&info), true),
            [Finding::CertExpired { not_after: "1970-01-01".into() }]
        );
        assert_eq!(
            tls_findings(&tls(TlsFailure::Expired), "hub", None, true),
            [Finding::CertExpired { not_after: "(unknown)".into() }]
        );
        assert_eq!(tls_findings(&tls(TlsFailure::UnknownIssuer), "hub", None, true), [Finding::CertUntrusted]);
        assert_eq!(
            tls_findings(&tls(TlsFailure::NameMismatch), "hub", Some(&info), true),
            [Finding::HubCertName { tls_name: "hub".into(), names: vec!["other.internal".into()] }]
        );
        // An alert only without SNI: the hub refuses handshakes that name no server.
        let alert = tls(TlsFailure::Alert("HandshakeFailure".into()));
        assert_eq!(tls_findings(&alert, "hub", None, false), [Finding::NoSniRefused]);
        assert_eq!(
            tls_findings(&alert, "hub", None, true),
            [Finding::HubTlsAlert { alert: "HandshakeFailure".into() }]
        );
        assert_eq!(tls_findings(&Failure::Refused, "hub", None, true), [Finding::HubDown]);
        assert!(tls_findings(&Failure::Timeout, "hub", None, true).is_empty());
    }
}
