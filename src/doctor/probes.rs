//! The probes, in order: the hub port and its scheme, TLS with and without SNI,
//! certificate expiry, the hub's own answer, the public subscription, publishing
//! (direct and the way Symfony does), delivery time, CORS preflights and an idle
//! hold. Every probe that can run does; one that cannot says why (skip).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{Read as _, Seek as _};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::bundle::paths;
use crate::bundle_dir::Facts;
use crate::check::Outcome;
use crate::check::consistency;
use crate::diagnosis::{Finding, is_hub_error_line};
use crate::doctor::report::{Probe, ProbeResult, Reporter, Status};
use crate::doctor::target::Settings;
use crate::formats::{self, NginxDirective};
use crate::jwt::{self, Role, SigningKey};
use crate::net::{
    self, Endpoint, Failure, Head, Request, SseEvent, Subscription, TlsFailure, TlsTarget, Url, classify, exchange,
    preview,
};
use crate::pki;

/// An update must reach the public subscription this fast, else something buffers.
const DELIVERY_LIMIT: Duration = Duration::from_secs(1);
/// How long to keep waiting for a late update, to tell "late" from "lost".
const DELIVERY_WAIT: Duration = Duration::from_secs(5);

/// The TLS probes of the hub, which need a hub that speaks TLS and a CA to verify it.
const TLS_PROBES: [Probe; 3] = [Probe::HubTlsSni, Probe::HubTlsNoSni, Probe::HubCertExpiry];

/// What the hub port speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Http,
    Tls,
}

/// What a subscription task reports.
#[derive(Debug)]
enum SubMsg {
    Head(Head, Vec<u8>),
    Event(SseEvent, Instant),
    Ended(Instant, Option<Failure>),
    Failed(Failure),
}

fn ms(since: Instant) -> u128 {
    since.elapsed().as_millis()
}

/// TLS settings the probes use, built once.
struct Tls {
    /// Hub, verified against the bundle CA with SNI = `tls_name`.
    hub_sni: Option<(TlsTarget, std::sync::Arc<net::RecordingVerifier>)>,
    hub_no_sni: Option<(TlsTarget, std::sync::Arc<net::RecordingVerifier>)>,
    /// The public side; `None` for an `http://` public URL (no TLS is attempted there).
    public: Result<Option<TlsTarget>, String>,
}

fn build_tls(s: &Settings) -> Result<Tls, String> {
    let hub = |sni: bool| -> Result<Option<_>, String> {
        let Some(pem) = s.ca_pem.as_ref().filter(|_| s.hub_url.https) else { return Ok(None) };
        let roots = net::roots_from_pem(pem, "the hub CA")?;
        let (config, rec) = net::tls_config(roots, sni)?;
        Ok(Some((TlsTarget::new(config, &s.tls_name)?, rec)))
    };
    let public = (|| {
        if !s.public_url.https {
            return Ok(None);
        }
        let roots = match &s.public_ca_pem {
            Some(pem) => net::roots_from_pem(pem, "--public-ca")?,
            None => net::native_roots()?,
        };
        let (config, _) = net::tls_config(roots, true)?;
        TlsTarget::new(config, &s.public_url.host).map(Some)
    })();
    Ok(Tls { hub_sni: hub(true)?, hub_no_sni: hub(false)?, public })
}

/// Runs every probe, reporting each as it completes.
pub async fn run_all(s: &Settings, rep: &mut Reporter) {
    let log_offset = s.nginx_error_log.as_ref().and_then(|p| std::fs::metadata(p).ok()).map_or(0, |m| m.len());
    let tls = match build_tls(s) {
        Ok(t) => t,
        Err(e) => {
            rep.add(ProbeResult::fail(Probe::TlsSetup, 0, e, vec![]));
            return;
        }
    };
    let ctx = Ctx { s, tls: &tls, log_offset };
    let nonce = net::publish::nonce_hex(6);

    secrets_probe(s, rep);
    let scheme = hub_probes(&ctx, rep).await;
    let hub_tls_ok = hub_tls_usable(s, rep, scheme);

    // The public subscription first, so the updates published next can reach it.
    let topic = format!("https://mercure-setup.invalid/doctor/{nonce}");
    let (mut rx, sub_started) = match &tls.public {
        Ok(_) => (Some(ctx.subscribe(&topic, s.timeout * 3 + DELIVERY_WAIT)), Instant::now()),
        Err(_) => (None, Instant::now()),
    };
    let mut head = None;
    let mut early_events = Vec::new();
    // Some hubs send headers only with the first event: wait briefly, then publish anyway.
    if let Some(rx) = rx.as_mut() {
        wait_head(rx, Duration::from_millis(700), &mut head, &mut early_events).await;
    }

    let mut published: Vec<(String, String, Instant)> = Vec::new();
    let direct_data = format!("doctor-direct-{nonce}");
    let direct = ctx.publish_direct(&topic, &direct_data, hub_tls_ok, rep).await;
    if let Some(t) = direct {
        published.push(("direct".into(), direct_data, t));
    }

    // The subscription's verdict.
    let mut sub_ok = false;
    match (rx.as_mut(), &tls.public) {
        (Some(rx), _) => {
            wait_head(rx, s.timeout, &mut head, &mut early_events).await;
            sub_ok = ctx.report_subscription(head.as_ref(), ms(sub_started), !published.is_empty(), rep);
        }
        (None, Err(e)) => {
            rep.add(ProbeResult::fail(Probe::PublicSubscribe, 0, format!("public TLS setup: {e}"), vec![]));
        }
        (None, Ok(_)) => {}
    }

    // The idle hold runs alongside the rest; it reports last.
    let idle = match s.idle {
        Some(d) if sub_ok => Some(tokio::spawn(idle_probe(s.clone(), tls_public(&tls), tls_hub(&tls, hub_tls_ok), d))),
        Some(_) => {
            rep.add(ProbeResult::skip(Probe::PublicIdle, "needs a working public subscription"));
            None
        }
        None => None,
    };

    let symfony_data = format!("doctor-symfony-{nonce}");
    if let Some(t) = ctx.publish_symfony(&topic, &symfony_data, hub_tls_ok, rep).await {
        published.push(("via MERCURE_URL".into(), symfony_data, t));
    }

    match rx.as_mut() {
        // A subscription still waiting for its headers may be held in a buffer: still measure.
        Some(rx) if (sub_ok || head.is_none()) && !published.is_empty() => {
            ctx.delivery(rx, &published, early_events, rep).await;
        }
        _ => rep.add(ProbeResult::skip(Probe::PublicDelivery, "needs a working subscription and an accepted publish")),
    }

    for origin in &s.origins {
        ctx.cors(origin, rep).await;
    }

    if let Some(task) = idle {
        match task.await {
            Ok(r) => rep.add(r),
            Err(e) => rep.add(ProbeResult::fail(Probe::PublicIdle, 0, format!("probe crashed: {e}"), vec![])),
        }
    }
}

/// TLS for the public URL: `None` for an `http://` URL (or when its setup failed).
fn tls_public(tls: &Tls) -> Option<TlsTarget> {
    tls.public.as_ref().ok().cloned().flatten()
}

/// TLS for the hub URL: `None` for an `http://` hub URL (`hub_sni` is only built for https).
fn tls_hub(tls: &Tls, usable: bool) -> Option<TlsTarget> {
    if usable { tls.hub_sni.as_ref().map(|(t, _)| t.clone()) } else { None }
}

/// Why the hub cannot be used at all, from the hub probes already reported.
fn hub_unusable(s: &Settings, rep: &Reporter) -> Option<&'static str> {
    let failed = |id: Probe| rep.get(&id).is_some_and(|r| r.status != Status::Pass);
    if failed(Probe::HubTcp) {
        Some("the hub port does not accept connections (hub.tcp)")
    } else if failed(Probe::HubScheme) {
        Some("the hub does not speak the scheme the bundle expects (hub.scheme)")
    } else if s.hub_tls && failed(Probe::HubTlsSni) {
        Some("the hub's TLS certificate does not verify (hub.tls.sni), so no token is sent to it")
    } else if s.hub_tls && s.ca_pem.is_none() {
        Some("no CA to verify the hub against (pass --bundle or --ca FILE), so no token is sent to it")
    } else {
        None
    }
}

/// Whether requests to the hub can go over verified TLS (or need none).
fn hub_tls_usable(s: &Settings, rep: &Reporter, scheme: Option<Scheme>) -> bool {
    !s.hub_tls || (scheme == Some(Scheme::Tls) && rep.get(&Probe::HubTlsSni).is_some_and(|r| r.status == Status::Pass))
}

async fn wait_head(
    rx: &mut mpsc::Receiver<SubMsg>,
    wait: Duration,
    head: &mut Option<Result<(Head, Vec<u8>), Failure>>,
    events: &mut Vec<(SseEvent, Instant)>,
) {
    if head.is_some() {
        return;
    }
    let deadline = tokio::time::Instant::now() + wait;
    while let Ok(Some(msg)) = tokio::time::timeout_at(deadline, rx.recv()).await {
        match msg {
            SubMsg::Head(h, first) => {
                *head = Some(Ok((h, first)));
                return;
            }
            SubMsg::Failed(f) | SubMsg::Ended(_, Some(f)) => {
                *head = Some(Err(f));
                return;
            }
            SubMsg::Ended(_, None) => {
                *head = Some(Err(Failure::Closed));
                return;
            }
            SubMsg::Event(e, t) => events.push((e, t)),
        }
    }
}

/// The bundle's JWT keys agree: `check`'s jwt-keys on the bundle (both hub keys, the
/// algorithms, the ES256 pair, a JWT pasted as the secret, the tokens).
fn secrets_probe(s: &Settings, rep: &mut Reporter) {
    let Some(bundle) = &s.bundle else { return };
    let t = Instant::now();
    let r = consistency::jwt_keys(&Facts::read(bundle));
    match r.outcome {
        Outcome::Passed { detail } => {
            let detail = if s.algorithm.is_some_and(|a| !a.is_hmac()) {
                format!(
                    "{} signs what the hub's publisher and subscriber keys (ES256) verify; both tokens verify",
                    paths::SYMFONY_PRIVATE_KEY
                )
            } else {
                detail
            };
            rep.add(ProbeResult::pass(Probe::BundleSecrets, ms(t), detail));
        }
        Outcome::Failed { error, .. } => rep.add(ProbeResult::fail(
            Probe::BundleSecrets,
            ms(t),
            error.clone(),
            vec![Finding::BundleKeys { problems: error }],
        )),
        Outcome::NotRun { reason, .. } => rep.add(ProbeResult::skip(Probe::BundleSecrets, reason)),
    }
}

/// The probes shared state: settings, TLS and where the nginx error log started.
struct Ctx<'a> {
    s: &'a Settings,
    tls: &'a Tls,
    log_offset: u64,
}

/// TCP, scheme, TLS with and without SNI, certificate expiry, and the hub's answer.
async fn hub_probes(ctx: &Ctx<'_>, rep: &mut Reporter) -> Option<Scheme> {
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
    if bytes.starts_with(b"HTTP/") {
        let text = String::from_utf8_lossy(&bytes);
        return Ok(if text.contains("HTTP request to an HTTPS server") { Scheme::Tls } else { Scheme::Http });
    }
    if bytes.first() == Some(&0x15) {
        return Ok(Scheme::Tls);
    }
    // No plain answer: see whether a TLS handshake gets as far as a certificate.
    let target = match &ctx.tls.hub_sni {
        Some((t, _)) => t.clone(),
        None => {
            let (config, _) = net::tls_config(net::native_roots()?, true)?;
            TlsTarget::new(config, &s.tls_name)?
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
            rep.add(ProbeResult::skip(id, "no CA to verify the hub against: pass --bundle or --ca FILE"));
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
            } else {
                let soon =
                    if left < crate::pki::RENEW_BEFORE { "; renew: render again and install mercure/tls/" } else { "" };
                rep.add(ProbeResult::pass(
                    Probe::HubCertExpiry,
                    ms(t),
                    format!("valid until {} ({} days){differs}{soon}", info.not_after.date(), left.whole_days()),
                ));
            }
        }
    }
}

/// What a failed handshake with the hub says. `sni`: whether `name` was sent as SNI.
fn tls_findings(f: &Failure, name: &str, info: Option<&pki::CertInfo>, sni: bool) -> Vec<Finding> {
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
        Scheme::Tls if rep.get(&Probe::HubTlsSni).is_some_and(|r| r.status == Status::Pass) => {
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

/// Starts a subscription through the public URL; its head, events and end arrive on the channel.
/// The head may take up to `head_wait` (some hubs send it with the first event only).
fn subscribe_task(s: &Settings, tls: Option<TlsTarget>, topic: &str, head_wait: Duration) -> mpsc::Receiver<SubMsg> {
    let (tx, rx) = mpsc::channel(64);
    let url = s.public_url.with_query("topic", topic);
    let resolver = s.resolver.clone();
    let token = s.subscriber_token.clone();
    let timeout = s.timeout;
    tokio::spawn(async move {
        let stream = match net::open(&url, &resolver, tls.as_ref(), timeout).await {
            Ok(st) => st,
            Err(f) => {
                let _ = tx.send(SubMsg::Failed(f)).await;
                return;
            }
        };
        // A long wait: some hubs send the head only with the first event, published later.
        let request = Subscription::request(stream, &url, token.as_deref(), false);
        let mut sub = match tokio::time::timeout(head_wait, request).await.unwrap_or(Err(Failure::Timeout)) {
            Ok(sub) => sub,
            Err(f) => {
                let _ = tx.send(SubMsg::Failed(f)).await;
                return;
            }
        };
        if !sub.is_event_stream() {
            let first = sub.first_bytes(200, Duration::from_millis(500)).await;
            let _ = tx.send(SubMsg::Head(sub.head().clone(), first)).await;
            return;
        }
        if tx.send(SubMsg::Head(sub.head().clone(), Vec::new())).await.is_err() {
            return;
        }
        let mut buf = Vec::with_capacity(4096);
        loop {
            let read = sub.next_events(&mut buf).await;
            let now = Instant::now();
            match read {
                Ok(Some(events)) => {
                    for ev in events {
                        if tx.send(SubMsg::Event(ev, now)).await.is_err() {
                            return;
                        }
                    }
                }
                Ok(None) => {
                    let _ = tx.send(SubMsg::Ended(now, None)).await;
                    return;
                }
                Err(f) => {
                    let _ = tx.send(SubMsg::Ended(now, Some(f))).await;
                    return;
                }
            }
        }
    });
    rx
}

/// Publishes one update with `token`; the hub's answer (head and first bytes), or the failure.
async fn publish(
    url: &Url,
    host: Option<&str>,
    tls: Option<&TlsTarget>,
    s: &Settings,
    token: &str,
    topic: &str,
    data: &str,
) -> Result<(Head, Vec<u8>), Failure> {
    let to =
        Endpoint { url: url.clone(), host: host.map(String::from), tls: tls.cloned(), resolver: s.resolver.clone() };
    let x = net::publish_once(&to, token, topic, data, s.timeout).await?;
    Ok((x.head, x.body))
}

impl Ctx<'_> {
    fn subscribe(&self, topic: &str, head_wait: Duration) -> mpsc::Receiver<SubMsg> {
        subscribe_task(self.s, tls_public(self.tls), topic, head_wait)
    }

    /// Publishes straight to the hub with the bundle's publisher token.
    async fn publish_direct(&self, topic: &str, data: &str, hub_tls_ok: bool, rep: &mut Reporter) -> Option<Instant> {
        let s = self.s;
        let Some(token) = &s.publisher_token else {
            rep.add(ProbeResult::skip(Probe::PublishDirect, "no publisher token: pass --bundle or --token-file FILE"));
            return None;
        };
        if !hub_tls_ok {
            let why = hub_unusable(s, rep).unwrap_or("the hub's TLS cannot be verified, so no token is sent to it");
            rep.add(ProbeResult::skip(Probe::PublishDirect, why));
            return None;
        }
        let t = Instant::now();
        let tls = tls_hub(self.tls, true);
        let domain = s.names.domain.clone();
        match publish(&s.hub_url, Some(&domain), tls.as_ref(), s, token, topic, data).await {
            Ok((h, body)) if h.status == 200 => {
                rep.add(ProbeResult::pass(
                    Probe::PublishDirect,
                    ms(t),
                    format!("hub {} accepted the update ({})", s.hub_url, preview(&body, 60)),
                ));
                Some(t)
            }
            Ok((h, body)) => {
                let findings = match h.status {
                    401 | 403 => vec![Finding::PublishRejected { status: h.status }],
                    400 if String::from_utf8_lossy(&body).contains("HTTPS server") => vec![Finding::HubSpeaksTls],
                    _ => vec![],
                };
                rep.add(ProbeResult::fail(
                    Probe::PublishDirect,
                    ms(t),
                    format!("hub {}: {} \"{}\"", s.hub_url, h.status, preview(&body, 80)),
                    findings,
                ));
                None
            }
            Err(f) => {
                let findings = Self::hub_findings(rep);
                rep.add(ProbeResult::fail(Probe::PublishDirect, ms(t), format!("hub {}: {f}", s.hub_url), findings));
                None
            }
        }
    }

    /// Publishes to `MERCURE_URL` with a token signed by `MERCURE_JWT_SECRET`, as Symfony would.
    async fn publish_symfony(&self, topic: &str, data: &str, hub_tls_ok: bool, rep: &mut Reporter) -> Option<Instant> {
        let s = self.s;
        let Some(url) = s.symfony_url() else {
            if s.bundle.is_some() {
                rep.add(ProbeResult::skip(Probe::PublishSymfony, "symfony/.env.local has no MERCURE_URL"));
            }
            return None;
        };
        let url = match url {
            Ok(u) => u,
            Err(e) => {
                rep.add(ProbeResult::fail(
                    Probe::PublishSymfony,
                    0,
                    format!("MERCURE_URL in symfony/.env.local: {e}"),
                    vec![],
                ));
                return None;
            }
        };
        // A publish-everything token never crosses a network in clear text.
        if !url.https && !url.is_loopback_host() {
            rep.add(ProbeResult::skip(
                Probe::PublishSymfony,
                format!(
                    "MERCURE_URL {url} is plain HTTP to another host: doctor does not send a publish token over it"
                ),
            ));
            return None;
        }
        let (token, how, es256) = match symfony_token(s) {
            Ok(Some(t)) => t,
            Ok(None) => {
                rep.add(ProbeResult::skip(Probe::PublishSymfony, "no key or token to sign with"));
                return None;
            }
            Err(e) => {
                rep.add(ProbeResult::fail(Probe::PublishSymfony, 0, e, vec![]));
                return None;
            }
        };
        let tls = if !url.https {
            None
        } else if url.host == s.public_url.host && url.port == s.public_url.port {
            tls_public(self.tls)
        } else if url.is_loopback_host() && url.port == s.hub_url.port && hub_tls_ok {
            tls_hub(self.tls, true)
        } else {
            tls_public(self.tls)
        };
        let t = Instant::now();
        match publish(&url, None, tls.as_ref(), s, &token, topic, data).await {
            Ok((h, body)) if h.status == 200 => {
                rep.add(ProbeResult::pass(
                    Probe::PublishSymfony,
                    ms(t),
                    format!("{url} accepted an update {how} ({})", preview(&body, 60)),
                ));
                Some(t)
            }
            Ok((h, body)) => {
                let findings = match h.status {
                    401 | 403 if es256 => vec![Finding::SymfonyKeyRejected { status: h.status }],
                    401 | 403 => vec![Finding::SymfonySecretRejected { status: h.status }],
                    502 => self.bad_gateway(rep),
                    400 if String::from_utf8_lossy(&body).contains("HTTPS server") => vec![Finding::HubSpeaksTls],
                    _ => vec![],
                };
                rep.add(ProbeResult::fail(
                    Probe::PublishSymfony,
                    ms(t),
                    format!("{url} {how}: {} \"{}\"", h.status, preview(&body, 80)),
                    findings,
                ));
                None
            }
            Err(f) => {
                // MERCURE_URL on the hub's own port fails for the hub's reasons.
                let findings =
                    if url.port == s.hub_url.port && url.is_loopback_host() { Self::hub_findings(rep) } else { vec![] };
                rep.add(ProbeResult::fail(Probe::PublishSymfony, ms(t), format!("{url} {how}: {f}"), findings));
                None
            }
        }
    }

    /// The hub-side findings made so far (they explain later failures too).
    fn hub_findings(rep: &Reporter) -> Vec<Finding> {
        rep.findings()
            .into_iter()
            .filter(|f| {
                matches!(
                    f,
                    Finding::HubDown
                        | Finding::HubSpeaksHttp
                        | Finding::HubSpeaksTls
                        | Finding::NoSniRefused
                        | Finding::CertUntrusted
                        | Finding::CertExpired { .. }
                        | Finding::CertName { .. }
                        | Finding::HubCertName { .. }
                        | Finding::HubTlsAlert { .. }
                        | Finding::NoSiteMatched
                )
            })
            .collect()
    }

    /// Explains a 502: nginx's own error log first, then what the hub probes found,
    /// then the installed site file, else a generic pointer.
    fn bad_gateway(&self, rep: &Reporter) -> Vec<Finding> {
        if let Some(line) = self.new_log_lines().into_iter().rev().find(|l| is_hub_error_line(l)) {
            return vec![Finding::NginxLog { line }];
        }
        let hub = Self::hub_findings(rep);
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
    fn new_log_lines(&self) -> Vec<String> {
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
    fn conf_findings(&self) -> Vec<Finding> {
        let Some(loc) = self.hub_location() else { return vec![] };
        let mut out = Vec::new();
        if let Some(pass) = formats::nginx_arg(&loc, "proxy_pass") {
            let https = pass.starts_with("https://");
            if https != self.s.hub_tls {
                out.push(Finding::ProxyPassScheme { proxy_pass: pass.to_string() });
            }
        }
        if self.s.hub_tls {
            let names = self.s.bundle_hub_cert.as_deref().and_then(|pem| pki::inspect(pem).ok()).map(|c| c.dns_names);
            let checked = formats::nginx_arg(&loc, "proxy_ssl_name").unwrap_or("127.0.0.1").to_string();
            if let Some(names) = names
                && !names.contains(&checked)
            {
                out.push(Finding::CertName { checked, names });
            }
        }
        out
    }

    /// Reports the subscription's head; true when it is the event stream.
    fn report_subscription(
        &self,
        head: Option<&Result<(Head, Vec<u8>), Failure>>,
        elapsed: u128,
        published: bool,
        rep: &mut Reporter,
    ) -> bool {
        let url = &self.s.public_url;
        match head {
            Some(Ok((h, _))) if h.status == 200 && h.media_type() == "text/event-stream" => {
                let via = h.header("server").map(|v| format!(" (server: {v})")).unwrap_or_default();
                rep.add(ProbeResult::pass(
                    Probe::PublicSubscribe,
                    elapsed,
                    format!("{url}: 200 text/event-stream{via}"),
                ));
                true
            }
            Some(Ok((h, first))) => {
                let findings = match h.status {
                    502 => self.bad_gateway(rep),
                    400 if String::from_utf8_lossy(first).contains("HTTPS server") => vec![Finding::HubSpeaksTls],
                    504 => vec![Finding::IdleTimeout { after_ms: elapsed }],
                    200 if first.is_empty() && h.media_type().is_empty() => vec![Finding::NoSiteMatched],
                    status => vec![Finding::NotTheStream { status, media_type: h.media_type() }],
                };
                let ctype = if h.media_type().is_empty() { "no Content-Type".to_string() } else { h.media_type() };
                rep.add(ProbeResult::fail(
                    Probe::PublicSubscribe,
                    elapsed,
                    format!("{url}: {} {}, {ctype}, body \"{}\"", h.status, h.reason, preview(first, 120)),
                    findings,
                ));
                false
            }
            Some(Err(f)) => {
                let hint = match f {
                    Failure::Tls(_) => " (for a private or staging public certificate pass --public-ca FILE)",
                    Failure::Refused => " (is nginx running, and does --resolve point at it?)",
                    _ => "",
                };
                rep.add(ProbeResult::fail(Probe::PublicSubscribe, elapsed, format!("{url}: {f}{hint}"), vec![]));
                false
            }
            // Headers held back while updates were published: something buffers (troubleshooting #7).
            None if published => {
                let lacks =
                    self.buffering_directives().map(|l| format!("; the hub location lacks {l}")).unwrap_or_default();
                rep.add(ProbeResult::fail(
                    Probe::PublicSubscribe,
                    elapsed,
                    format!(
                        "{url}: no response headers within {:?} although updates were published{lacks}",
                        self.s.timeout
                    ),
                    vec![Finding::Buffering],
                ));
                false
            }
            None => {
                rep.add(ProbeResult::fail(
                    Probe::PublicSubscribe,
                    elapsed,
                    format!(
                        "{url}: no response headers within {:?}, and nothing was published to trigger them \
                         (some hubs send the headers with the first update)",
                        self.s.timeout
                    ),
                    vec![],
                ));
                false
            }
        }
    }

    /// Waits for each accepted update on the public subscription.
    async fn delivery(
        &self,
        rx: &mut mpsc::Receiver<SubMsg>,
        published: &[(String, String, Instant)],
        early: Vec<(SseEvent, Instant)>,
        rep: &mut Reporter,
    ) {
        let t = Instant::now();
        let mut arrived: HashMap<String, Instant> = early.into_iter().map(|(e, at)| (e.data, at)).collect();
        let mut ended = None;
        let last_deadline = published.iter().map(|(_, _, at)| *at + DELIVERY_WAIT).max().unwrap_or_else(Instant::now);
        let deadline = tokio::time::Instant::from_std(last_deadline);
        while !published.iter().all(|(_, d, _)| arrived.contains_key(d)) && ended.is_none() {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(SubMsg::Event(e, at))) => {
                    arrived.entry(e.data).or_insert(at);
                }
                Ok(Some(SubMsg::Ended(at, f))) => ended = Some((at, f)),
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        let mut parts = Vec::new();
        let mut ok = true;
        for (label, data, sent) in published {
            match arrived.get(data) {
                Some(at) => {
                    let lat = at.saturating_duration_since(*sent);
                    ok &= lat <= DELIVERY_LIMIT;
                    parts.push(format!("{label} {} ms", lat.as_millis()));
                }
                None => {
                    ok = false;
                    parts.push(format!("{label} not delivered within {} s", DELIVERY_WAIT.as_secs()));
                }
            }
        }
        let mut detail = parts.join(", ");
        if let Some((at, f)) = ended {
            let _ = write!(
                detail,
                "; the stream ended after {} ms ({})",
                at.duration_since(t).as_millis(),
                f.map_or("closed".into(), |f| f.to_string())
            );
        }
        if ok {
            rep.add(ProbeResult::pass(
                Probe::PublicDelivery,
                ms(t),
                format!("updates reached the public subscription: {detail}"),
            ));
        } else {
            let mut findings = vec![Finding::Buffering];
            if let Some(lacks) = self.buffering_directives() {
                let _ = write!(detail, "; the hub location lacks {lacks}");
            }
            findings.dedup();
            rep.add(ProbeResult::fail(
                Probe::PublicDelivery,
                ms(t),
                format!("limit {} ms: {detail}", DELIVERY_LIMIT.as_millis()),
                findings,
            ));
        }
    }

    /// The installed site's `/.well-known/mercure` location (`--nginx-conf`), parsed as `check` parses it.
    fn hub_location(&self) -> Option<NginxDirective> {
        let text = std::fs::read_to_string(self.s.nginx_conf.as_ref()?).ok()?;
        let tree = formats::parse_nginx(&text).ok()?;
        formats::nginx_mercure_location(&tree).cloned()
    }

    /// Which anti-buffering directives the installed hub location lacks, if known.
    fn buffering_directives(&self) -> Option<String> {
        let loc = self.hub_location()?;
        let mut lacks = Vec::new();
        if formats::nginx_arg(&loc, "proxy_buffering") != Some("off") {
            lacks.push("`proxy_buffering off`");
        }
        if formats::nginx_arg(&loc, "proxy_http_version") != Some("1.1") {
            lacks.push("`proxy_http_version 1.1`");
        }
        (!lacks.is_empty()).then(|| lacks.join(" and "))
    }

    /// A CORS preflight from `origin` through the public URL.
    async fn cors(&self, origin: &str, rep: &mut Reporter) {
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
                let finding = if allow.len() > 1 || allow.first().is_some_and(|v| v.contains(',')) {
                    Some(Finding::CorsDuplicated { origin: origin.into() })
                } else if allow.first() == Some(&"*") {
                    Some(Finding::CorsWildcardWithCredentials { origin: origin.into() })
                } else if allow.first() != Some(&origin) || !(200..300).contains(&x.head.status) {
                    Some(Finding::CorsMissing { origin: origin.into() })
                } else {
                    None
                };
                match finding {
                    None => rep.add(ProbeResult::pass(id, ms(t), format!("{detail}, credentials {creds}"))),
                    Some(f) => rep.add(ProbeResult::fail(id, ms(t), detail, vec![f])),
                }
            }
            Err(f) => rep.add(ProbeResult::fail(id, ms(t), f.to_string(), vec![])),
        }
    }
}

/// Holds a subscription idle for `idle`; fails if the path closes it sooner.
async fn idle_probe(s: Settings, public: Option<TlsTarget>, hub: Option<TlsTarget>, idle: Duration) -> ProbeResult {
    let t = Instant::now();
    let topic = format!("https://mercure-setup.invalid/doctor/idle-{}", net::publish::nonce_hex(6));
    let mut rx = subscribe_task(&s, public.clone(), &topic, idle);
    // One update so hubs that send headers with the first event answer at once: sent as
    // soon as the hub has answered (it then knows the subscriber), or after 300 ms without an answer.
    let mut first = tokio::time::timeout(Duration::from_millis(300), rx.recv()).await.ok().flatten();
    if let Some(token) = &s.publisher_token {
        let (url, tls, host) = if hub.is_some() || !s.hub_tls {
            (s.hub_url.clone(), hub.clone(), Some(s.names.domain.clone()))
        } else {
            (s.public_url.clone(), public.clone(), None)
        };
        let _ = publish(&url, host.as_deref(), tls.as_ref(), &s, token, &topic, "doctor-idle-hello").await;
    }
    let deadline = tokio::time::Instant::from_std(t + idle);
    let mut comments_or_events = 0u32;
    let mut streaming = false;
    loop {
        let msg = match first.take() {
            Some(msg) => Ok(Some(msg)),
            None => tokio::time::timeout_at(deadline, rx.recv()).await,
        };
        match msg {
            Err(_) if streaming => {
                return ProbeResult::pass(
                    Probe::PublicIdle,
                    ms(t),
                    format!("an idle subscription stayed open for {} s ({comments_or_events} events)", idle.as_secs()),
                );
            }
            Err(_) => {
                return ProbeResult::fail(
                    Probe::PublicIdle,
                    ms(t),
                    "no response headers while idle".to_string(),
                    vec![],
                );
            }
            Ok(Some(SubMsg::Head(h, _))) if h.status == 200 && h.media_type() == "text/event-stream" => {
                streaming = true;
            }
            Ok(Some(SubMsg::Head(h, first))) => {
                let after = ms(t);
                let findings = if h.status == 504 {
                    vec![Finding::IdleTimeout { after_ms: after }]
                } else {
                    vec![Finding::NotTheStream { status: h.status, media_type: h.media_type() }]
                };
                return ProbeResult::fail(
                    Probe::PublicIdle,
                    after,
                    format!("{} after {after} ms: \"{}\"", h.status, preview(&first, 80)),
                    findings,
                );
            }
            Ok(Some(SubMsg::Event(..))) => comments_or_events += 1,
            Ok(Some(SubMsg::Ended(at, f))) => {
                let after = at.duration_since(t).as_millis();
                let how = f.map_or_else(|| "closed".to_string(), |f| f.to_string());
                return ProbeResult::fail(
                    Probe::PublicIdle,
                    after,
                    format!("the idle subscription ended after {after} ms ({how}), before {} s", idle.as_secs()),
                    vec![Finding::IdleTimeout { after_ms: after }],
                );
            }
            Ok(Some(SubMsg::Failed(f))) => return ProbeResult::fail(Probe::PublicIdle, ms(t), f.to_string(), vec![]),
            Ok(None) => {
                return ProbeResult::fail(
                    Probe::PublicIdle,
                    ms(t),
                    "the subscription task stopped".to_string(),
                    vec![],
                );
            }
        }
    }
}

/// When doctor's own publish tokens expire: five minutes out, long enough for a run, and
/// worthless to whoever might read one later.
fn probe_token_expiry() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp() + 300
}

/// The token Symfony would publish with: signed with `MERCURE_JWT_SECRET` (HMAC) or
/// with symfony/config/jwt/mercure-private.pem (ES256); else the bundle's publisher token.
/// Returns the token, how it was made, and whether it is ES256.
fn symfony_token(s: &Settings) -> Result<Option<(String, &'static str, bool)>, String> {
    let sym = s.symfony.as_ref();
    match s.algorithm {
        Some(alg) if alg.is_hmac() => {
            let Some(secret) = sym.and_then(|y| y.secret.clone()) else { return Ok(None) };
            let t = jwt::sign_until(&SigningKey::Hmac(secret), alg, Role::Publisher, &["*"], probe_token_expiry())
                .map_err(|e| format!("cannot sign with MERCURE_JWT_SECRET: {e}"))?;
            Ok(Some((t, "signed with MERCURE_JWT_SECRET", false)))
        }
        Some(alg) => {
            let Some(private_pem) = sym.and_then(|y| y.private_pem.clone()) else { return Ok(None) };
            let key = paths::SYMFONY_PRIVATE_KEY;
            let pair = rcgen::KeyPair::from_pem(&private_pem).map_err(|e| format!("{key}: {e}"))?;
            let signing = SigningKey::Es256 { public_pem: pair.public_key_pem(), private_pem };
            let t = jwt::sign_until(&signing, alg, Role::Publisher, &["*"], probe_token_expiry())
                .map_err(|e| format!("cannot sign with {key}: {e}"))?;
            Ok(Some((t, "signed with symfony/config/jwt/mercure-private.pem (ES256)", true)))
        }
        None => Ok(s.publisher_token.clone().map(|t| (t, "with the publisher token", false))),
    }
}
