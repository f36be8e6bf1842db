//! End to end, per topology and JWT algorithm, on the real stack (nginx 1.22 and the
//! real Mercure hub, see `support::stack`): subscribers over HTTP/2 and
//! HTTP/1.1 through nginx receive what Symfony's Mercure component publishes from
//! the bundle's `.env.local`, within 1 s; private updates need the subscriber
//! token; CORS preflights honour `cors_origins`; the hub location's access log
//! does not keep JWTs.

use std::time::Duration;

use crate::support::stack::{HttpVersion, Stack, curl, epoch_secs};

const ORIGIN: &str = "https://admin.example.org";

fn topology(fixture: &str) {
    let stack = Stack::start(fixture, &[&format!("hub.cors_origins={ORIGIN}")]);
    let token = stack.r.token("tokens/subscriber.jwt");
    let topic = "https://example.com/books/1";

    // Both protocols, the way browsers connect to the public URL.
    let mut h2 = stack.subscribe(topic, HttpVersion::Http2, Some(&token));
    let mut h1 = stack.subscribe(topic, HttpVersion::Http1, Some(&token));
    for (sub, want) in [(&mut h2, "HTTP/2 200"), (&mut h1, "HTTP/1.1 200")] {
        sub.until_subscribed();
        assert!(sub.seen[0].text.starts_with(want), "status line: {}", sub.seen[0].text);
        assert_eq!(sub.header("content-type").as_deref(), Some("text/event-stream"), "{}", sub.drain(Duration::ZERO));
    }

    // Symfony publishes; `{t}` is the publish time, so delivery time is measured end to end.
    stack.publish_ok(topic, "book {t}", false, 1, "public update");
    for (sub, name) in [(&mut h2, "HTTP/2"), (&mut h1, "HTTP/1.1")] {
        let line = sub
            .wait_line(Duration::from_secs(2), |l| l.starts_with("data: book "))
            .unwrap_or_else(|| panic!("{name} subscriber got no update: {}", sub.drain(Duration::ZERO)));
        let sent: f64 = line.text["data: book ".len()..].parse().expect("timestamp in the data");
        let latency = epoch_secs(line.at) - sent;
        assert!(latency < 1.0, "{name}: update took {latency:.3}s");
    }

    // A private update reaches a subscriber holding tokens/subscriber.jwt...
    let private_topic = "https://example.com/users/42";
    let mut authorized = stack.subscribe(private_topic, HttpVersion::Http2, Some(&token));
    authorized.until_subscribed();
    stack.publish_ok(private_topic, "secret {seq}", true, 1, "private update");
    authorized.expect_line(Duration::from_secs(1), "data: secret 0", "private update to the token holder");
    // ...and without a token: with `anonymous: false` the hub refuses the subscription;
    // with `anonymous: true` it is open, but a private update never reaches it.
    let mut anonymous = stack.subscribe(private_topic, HttpVersion::Http2, None);
    if stack.r.bundle.answer("hub.anonymous").as_deref() == Some("true") {
        anonymous.until_subscribed();
        assert!(anonymous.seen[0].text.starts_with("HTTP/2 200"), "anonymous subscriber: {}", anonymous.seen[0].text);
        stack.publish_ok(private_topic, "secret again", true, 1, "second private update");
        assert!(authorized.wait_line(Duration::from_secs(1), |l| l == "data: secret again").is_some());
        assert!(
            anonymous.wait_line(Duration::from_millis(300), |l| l.starts_with("data: secret")).is_none(),
            "a private update reached an anonymous subscriber"
        );
    } else {
        let refused = anonymous.status(Duration::from_secs(5)).unwrap_or_default();
        assert!(refused.starts_with("HTTP/2 401"), "anonymous subscriber: {refused}");
    }

    // CORS preflight: the configured origin is allowed; another is not.
    let preflight = |origin: &str| {
        let mut args = stack.curl_public_args();
        args.extend(
            ["-X", "OPTIONS", "-H", &format!("Origin: {origin}"), "-H", "Access-Control-Request-Method: GET"]
                .map(String::from),
        );
        args.extend(["-H", "Access-Control-Request-Headers: authorization"].map(String::from));
        args.push(stack.public_url(&format!("?topic={topic}")));
        curl(&args).to_ascii_lowercase()
    };
    let allowed = preflight(ORIGIN);
    // The hub answers a preflight with 204 No Content.
    assert!(allowed.starts_with("http/2 204"), "{allowed}");
    let acao: Vec<&str> = allowed.lines().filter(|l| l.starts_with("access-control-allow-origin:")).collect();
    // Exactly one: nginx adds none of its own on top of the hub's (troubleshooting #10).
    assert_eq!(acao, [format!("access-control-allow-origin: {ORIGIN}").as_str()], "{allowed}");
    let other = preflight("https://evil.example.net");
    assert!(
        !other.contains("access-control-allow-origin: https://evil.example.net"),
        "another origin was allowed: {other}"
    );

    // A JWT in the query string is redacted in the hub location's access log.
    let mut args = stack.curl_public_args();
    args.push(stack.public_url(&format!("?topic=x&authorization={token}")));
    args.extend(["--max-time", "1"].map(String::from));
    let _ = curl(&args);
    // nginx writes the line when the request ends: poll for it.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut log = stack.nginx().access_log();
    while !log.contains("authorization=REDACTED") && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        log = stack.nginx().access_log();
    }
    assert!(log.contains("authorization=REDACTED"), "access log: {log}");
    assert!(!log.contains(&token), "the subscriber JWT reached the access log");
}

#[test]
fn same_host_http_delivers_through_nginx() {
    topology("same-host-http-hs256-nginx122.yaml");
}

#[test]
fn end_to_end_tls_delivers_through_nginx() {
    topology("end-to-end-tls-hs256-nginx122.yaml");
}

#[test]
fn same_host_http_with_hs512_delivers_through_nginx() {
    topology("same-host-http-hs512-cors-nginx126.yaml");
}

/// The ES256 public key reaches the hub from `mercure.env` as a multi-line quoted
/// value, as systemd's `EnvironmentFile=` passes it; Symfony signs with the private key.
#[test]
fn end_to_end_tls_with_es256_delivers_through_nginx() {
    topology("end-to-end-tls-es256-cors-nginx126.yaml");
}
