//! Subscribing through the public URL and publishing (to the hub directly, and to
//! `MERCURE_URL` as Symfony does), then timing each update's delivery.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::tokens::symfony_token;
use super::{Ctx, DELIVERY_LIMIT, DELIVERY_WAIT, SubMsg, hub_findings, hub_unusable, ms, tls_hub, tls_public};
use crate::diagnosis::Finding;
use crate::doctor::report::{Probe, ProbeResult, Reporter};
use crate::doctor::target::Settings;
use crate::net::{self, Endpoint, Failure, Head, SseEvent, Subscription, TlsTarget, Url, preview};

/// Waits up to `wait` for the subscription's head, keeping events that come first.
pub(super) async fn wait_head(
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

/// Starts a subscription through the public URL; its head, events and end arrive on the channel.
/// The head may take up to `head_wait` (some hubs send it with the first event only).
pub(super) fn subscribe_task(
    s: &Settings,
    tls: Option<TlsTarget>,
    topic: &str,
    head_wait: Duration,
) -> mpsc::Receiver<SubMsg> {
    let (tx, rx) = mpsc::channel(64);
    // `topic=` on 0.x, `match=` on 1.0 (where `topic=` is a 400).
    let url = s.public_url.with_query(s.hub.subscribe_param, topic);
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
pub(super) async fn publish(
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
    pub(super) fn subscribe(&self, topic: &str, head_wait: Duration) -> mpsc::Receiver<SubMsg> {
        subscribe_task(self.s, tls_public(self.tls), topic, head_wait)
    }

    /// Publishes straight to the hub with the bundle's publisher token.
    pub(super) async fn publish_direct(
        &self,
        topic: &str,
        data: &str,
        hub_tls_ok: bool,
        rep: &mut Reporter,
    ) -> Option<Instant> {
        let s = self.s;
        let Some(token) = &s.publisher_token else {
            rep.add(ProbeResult::skip(
                Probe::PublishDirect,
                "no publisher token: give the BUNDLE or --token-file FILE",
            ));
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
                let cause = s.bearer_cause(&h, "", Some(token));
                let findings = match h.status {
                    _ if cause.is_some() => cause.map(|cause| Finding::TokenRefused { cause }).into_iter().collect(),
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
                let findings = hub_findings(rep);
                rep.add(ProbeResult::fail(Probe::PublishDirect, ms(t), format!("hub {}: {f}", s.hub_url), findings));
                None
            }
        }
    }

    /// Publishes to `MERCURE_URL` with a token signed by `MERCURE_JWT_SECRET`, as Symfony would.
    pub(super) async fn publish_symfony(
        &self,
        topic: &str,
        data: &str,
        hub_tls_ok: bool,
        rep: &mut Reporter,
    ) -> Option<Instant> {
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
                    if url.port == s.hub_url.port && url.is_loopback_host() { hub_findings(rep) } else { vec![] };
                rep.add(ProbeResult::fail(Probe::PublishSymfony, ms(t), format!("{url} {how}: {f}"), findings));
                None
            }
        }
    }

    /// Reports the subscription's head; true when it is the event stream.
    pub(super) fn report_subscription(
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
                let query = url.path.split_once('?').map_or("", |(_, q)| q);
                let cause = self.s.bearer_cause(h, query, self.s.subscriber_token.as_deref());
                let findings = match h.status {
                    _ if cause.is_some() => cause.map(|cause| Finding::TokenRefused { cause }).into_iter().collect(),
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
    pub(super) async fn delivery(
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
}
