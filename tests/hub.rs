//! What the real hub does with the bundle's hub settings, seen through nginx as
//! browsers see it: the subscriptions API, the client address the hub logs behind
//! `trusted_proxies`, the heartbeat that keeps idle streams open, and history for
//! subscribers that reconnect.

use std::time::{Duration, Instant};

use crate::support::stack::{HttpVersion, Stack, Subscriber, curl, urlencode};

const HTTP: &str = "same-host-http-hs256-nginx122.yaml";
const TLS: &str = "end-to-end-tls-hs256-nginx122.yaml";

/// A subscriber through nginx with extra request headers.
fn subscribe_with(stack: &Stack, topic: &str, headers: &[String]) -> Subscriber {
    let mut args = stack.curl_public_args();
    args.extend([
        "--http2".into(),
        "-H".into(),
        format!("Authorization: Bearer {}", stack.r.token("tokens/subscriber.jwt")),
    ]);
    for h in headers {
        args.extend(["-H".into(), h.clone()]);
    }
    args.push(stack.public_url(&format!("?topic={}", urlencode(topic))));
    Subscriber::start(&args)
}

/// A GET through nginx with the subscriber token, returning status, headers and body.
fn get(stack: &Stack, path_and_query: &str) -> String {
    let mut args = stack.curl_public_args();
    args.extend(["-H".into(), format!("Authorization: Bearer {}", stack.r.token("tokens/subscriber.jwt"))]);
    args.push(stack.public_url(path_and_query));
    curl(&args)
}

fn subscriptions_api(fixture: &str) {
    let stack = Stack::start(fixture, &["hub.subscriptions=true"]);
    // A watcher of subscription events, then a subscriber it should hear about.
    let mut watcher = subscribe_with(&stack, "/.well-known/mercure/subscriptions{/topic}{/subscriber}", &[]);
    watcher.until_subscribed();
    let topic = "https://example.com/books/7";
    let mut reader = stack.subscribe(topic, HttpVersion::Http2, Some(&stack.r.token("tokens/subscriber.jwt")));
    reader.until_subscribed();
    let event = watcher
        .wait_line(Duration::from_secs(2), |l| l.contains(r#""active": true"#) || l.contains(r#""active":true"#));
    assert!(event.is_some(), "no connection event: {}", watcher.drain(Duration::ZERO));
    assert!(watcher.drain(Duration::ZERO).contains("books/7"), "{}", watcher.drain(Duration::ZERO));

    // The subscriptions API lists the active subscription.
    let listed = get(&stack, "/subscriptions");
    assert!(listed.starts_with("HTTP/2 200"), "{listed}");
    assert!(listed.contains("books/7") && listed.contains("\"subscriptions\""), "{listed}");
}

#[test]
fn the_subscriptions_api_works_through_nginx_when_enabled() {
    subscriptions_api(HTTP);
    subscriptions_api(TLS);
}

#[test]
fn the_subscriptions_api_is_absent_when_disabled() {
    let stack = Stack::start(HTTP, &[]);
    let listed = get(&stack, "/subscriptions");
    assert!(listed.starts_with("HTTP/2 404"), "{listed}");
}

/// The hub's access-log entry for a request whose query holds `marker`.
fn hub_log_entry(stack: &Stack, marker: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let log = stack.hub().log();
        if let Some(line) = log.lines().find(|l| l.contains("handled request") && l.contains(marker)) {
            // The bundle logs in Caddy's console format: time, level, logger, message, then JSON.
            let json = &line[line.find('{').expect("JSON fields")..];
            return serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {line}"));
        }
        assert!(Instant::now() < deadline, "no access-log entry for {marker} in the hub's log:\n{log}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The browser's own address reaches the hub's log through nginx, and a browser
/// cannot choose another one by sending `X-Forwarded-For` itself.
#[test]
fn the_hub_logs_the_browsers_address_and_x_forwarded_for_cannot_forge_it() {
    for fixture in [HTTP, TLS] {
        let stack = Stack::start(fixture, &[]);
        // The "browser" connects from 127.0.0.2, nginx from 127.0.0.1.
        for (marker, forged) in [("plain", None), ("forged", Some("6.6.6.6"))] {
            let mut args = stack.curl_public_args();
            args.extend(["--interface", "127.0.0.2", "--max-time", "1"].map(String::from));
            if let Some(addr) = forged {
                args.extend(["-H".into(), format!("X-Forwarded-For: {addr}")]);
            }
            args.push(stack.public_url(&format!("?topic={marker}")));
            let _ = curl(&args);
            let entry = hub_log_entry(&stack, &format!("topic={marker}"));
            let request = &entry["request"];
            assert_eq!(request["remote_ip"], "127.0.0.1", "{fixture}: nginx is the peer: {entry}");
            assert_eq!(request["client_ip"], "127.0.0.2", "{fixture} ({marker}): the browser's address: {entry}");
        }
    }
}

/// The liveness route answers on the hub's loopback port and stays out of its access
/// log, while ordinary requests are logged.
#[test]
fn health_checks_are_answered_but_not_logged() {
    let stack = Stack::start(HTTP, &[]);
    let health = curl(&[format!("http://127.0.0.1:{}/healthz", stack.r.hub_port())]);
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let mut args = stack.curl_public_args();
    args.extend(["--max-time", "1"].map(String::from));
    args.push(stack.public_url("?topic=after-health"));
    let _ = curl(&args);
    hub_log_entry(&stack, "topic=after-health");
    let log = stack.hub().log();
    assert!(!log.contains("/healthz"), "the health check was logged:\n{log}");
}

/// With `heartbeat` shorter than nginx's `proxy_read_timeout`, an idle stream stays
/// open past that timeout and still delivers.
#[test]
fn a_heartbeat_keeps_an_idle_stream_open_past_proxy_read_timeout() {
    let mut stack = Stack::prepare(HTTP, &["hub.heartbeat=1s"]);
    stack.start_hub();
    let site = stack.site_text().replace("proxy_read_timeout 1h;", "proxy_read_timeout 3s;");
    assert_ne!(site, stack.site_text());
    stack.start_nginx_with(&site);
    let token = stack.r.token("tokens/subscriber.jwt");
    let mut sub = stack.subscribe("idle", HttpVersion::Http2, Some(&token));
    sub.until_subscribed();
    let opened = sub.seen.len();
    // Twice the read timeout with nothing published.
    let idle = sub.drain(Duration::from_secs(6));
    let heartbeats = sub.seen[opened..].iter().filter(|l| l.text == ":").count();
    assert!(heartbeats >= 3, "{heartbeats} heartbeats in 6 s:\n{idle}");
    stack.publish_ok("idle", "still here", false, 1, "after the idle time");
    sub.expect_line(Duration::from_secs(1), "data: still here", "the idle stream was closed");
}

/// History (`history_size` > 0): a subscriber that reconnects with `Last-Event-ID`
/// receives what was published while it was away, and nothing before.
#[test]
fn a_reconnecting_subscriber_gets_what_it_missed() {
    let stack = Stack::start(HTTP, &["hub.history_size=100"]);
    let topic = "https://example.com/feed";
    let mut first = subscribe_with(&stack, topic, &[]);
    first.until_subscribed();
    stack.publish_ok(topic, "before {seq}", false, 1, "first subscription");
    first.expect_line(Duration::from_secs(1), "data: before 0", "first subscription");
    let id = first.seen.iter().rev().find(|l| l.text.starts_with("id: ")).expect("an event id").text[4..].to_string();
    drop(first);
    assert!(stack.publish(topic, "missed {seq}", false, 2).status.success());

    let mut back = subscribe_with(&stack, topic, &[format!("Last-Event-ID: {id}")]);
    back.expect_line(Duration::from_secs(2), "data: missed 1", "after reconnecting");
    let got = back.drain(Duration::ZERO);
    assert!(got.contains("data: missed 0"), "{got}");
    assert!(!got.contains("data: before 0"), "an update from before Last-Event-ID came again: {got}");
}
