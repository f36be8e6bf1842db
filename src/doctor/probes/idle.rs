//! The idle hold: a subscription kept open without traffic for `--idle`, which a
//! too-short proxy or hub timeout closes.

use std::time::{Duration, Instant};

use super::stream::{publish, subscribe_task};
use super::{SubMsg, ms};
use crate::diagnosis::Finding;
use crate::doctor::report::{Probe, ProbeResult};
use crate::doctor::target::Settings;
use crate::net::{self, TlsTarget, preview};

/// Holds a subscription idle for `idle`; fails if the path closes it sooner.
pub(super) async fn idle_probe(
    s: Settings,
    public: Option<TlsTarget>,
    hub: Option<TlsTarget>,
    idle: Duration,
) -> ProbeResult {
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
