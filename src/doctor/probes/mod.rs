//! The probes, in order: the hub port and its scheme, TLS with and without SNI,
//! certificate expiry, the hub's own answer, the public subscription, publishing
//! (direct and the way Symfony does), delivery time, CORS preflights and an idle
//! hold. Every probe that can run does; one that cannot says why (skip).
//!
//! One file per family: [`hub`] (port, scheme, TLS, the hub's answer), [`stream`]
//! (subscribing, publishing, delivery), [`nginx`] (what its error log and site file
//! say about a failure), [`cors`], [`idle`] and [`tokens`] (the bundle's keys, and
//! signing as Symfony would).

mod cors;
mod hub;
mod idle;
mod nginx;
mod stream;
mod tokens;

use std::time::{Duration, Instant};

use crate::diagnosis::Finding;
use crate::doctor::report::{Probe, ProbeResult, Reporter, Verdict};
use crate::doctor::target::Settings;
use crate::net::{self, Failure, Head, SseEvent, TlsTarget};

/// An update must reach the public subscription this fast, else something buffers.
const DELIVERY_LIMIT: Duration = Duration::from_secs(1);
/// How long to keep waiting for a late update, to tell "late" from "lost".
const DELIVERY_WAIT: Duration = Duration::from_secs(5);

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
    public: Result<Option<TlsTarget>, net::TlsError>,
}

fn build_tls(s: &Settings) -> Result<Tls, net::TlsError> {
    let hub = |sni: bool| -> Result<Option<_>, net::TlsError> {
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
            rep.add(ProbeResult::fail(Probe::TlsSetup, 0, e.to_string(), vec![]));
            return;
        }
    };
    let ctx = Ctx { s, tls: &tls, log_offset };
    let nonce = net::publish::nonce_hex(6);

    tokens::secrets_probe(s, rep);
    if let Some(r) = super::expiry::bundle_cert(s.bundle_hub_cert.as_deref(), time::OffsetDateTime::now_utc()) {
        rep.add(r);
    }
    let scheme = hub::hub_probes(&ctx, rep).await;
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
        stream::wait_head(rx, Duration::from_millis(700), &mut head, &mut early_events).await;
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
            stream::wait_head(rx, s.timeout, &mut head, &mut early_events).await;
            sub_ok = ctx.report_subscription(head.as_ref(), ms(sub_started), !published.is_empty(), rep);
        }
        (None, Err(e)) => {
            rep.add(ProbeResult::fail(Probe::PublicSubscribe, 0, format!("public TLS setup: {e}"), vec![]));
        }
        (None, Ok(_)) => {}
    }

    // The idle hold runs alongside the rest; it reports last.
    let idle = match s.idle {
        Some(d) if sub_ok => {
            Some(tokio::spawn(idle::idle_probe(s.clone(), tls_public(&tls), tls_hub(&tls, hub_tls_ok), d)))
        }
        Some(_) => {
            rep.add(ProbeResult::skip(Probe::PublicIdle, "needs a working public subscription"));
            None
        }
        None => {
            let why =
                "held only with --idle DURATION (e.g. --idle 75s): an idle subscription catches proxy read timeouts";
            rep.not_asked(&Probe::PublicIdle, why);
            None
        }
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
    let failed = |id: Probe| rep.get(&id).is_some_and(|r| r.status != Verdict::Pass);
    if failed(Probe::HubTcp) {
        Some("the hub port does not accept connections (hub.tcp)")
    } else if failed(Probe::HubScheme) {
        Some("the hub does not speak the scheme the bundle expects (hub.scheme)")
    } else if s.hub_tls && failed(Probe::HubTlsSni) {
        Some("the hub's TLS certificate does not verify (hub.tls.sni), so no token is sent to it")
    } else if s.hub_tls && s.ca_pem.is_none() {
        Some("no CA to verify the hub against (give the BUNDLE or --ca FILE), so no token is sent to it")
    } else {
        None
    }
}

/// Whether requests to the hub can go over verified TLS (or need none).
fn hub_tls_usable(s: &Settings, rep: &Reporter, scheme: Option<Scheme>) -> bool {
    !s.hub_tls || (scheme == Some(Scheme::Tls) && rep.get(&Probe::HubTlsSni).is_some_and(|r| r.status == Verdict::Pass))
}

/// The probes shared state: settings, TLS and where the nginx error log started.
struct Ctx<'a> {
    s: &'a Settings,
    tls: &'a Tls,
    log_offset: u64,
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
                    | Finding::CertExpiresSoon { .. }
                    | Finding::CertName { .. }
                    | Finding::HubCertName { .. }
                    | Finding::HubTlsAlert { .. }
                    | Finding::NoSiteMatched
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnosis::Names;

    #[test]
    fn hub_findings_keep_only_what_explains_later_failures() {
        let names = Names {
            domain: "app.example.com".into(),
            site_file: "nginx/app.example.com.conf".into(),
            hub_port: 3000,
            tls_name: String::new(),
            tls: false,
            heartbeat: String::new(),
        };
        let mut rep = Reporter::new(names, true);
        rep.add(ProbeResult::fail(Probe::HubTcp, 1, "refused", vec![Finding::HubDown]));
        rep.add(ProbeResult::fail(Probe::PublishDirect, 1, "401", vec![Finding::PublishRejected { status: 401 }]));
        assert_eq!(hub_findings(&rep), [Finding::HubDown]);
    }
}
