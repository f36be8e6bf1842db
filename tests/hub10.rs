//! Bundles rendered for Mercure 1.0 (`hub.version` 1.0 and 1.0-compat) on the real
//! 1.0 hub behind nginx, both topologies, HS256/HS512/ES256: Symfony's Mercure
//! component publishes from the bundle's files only and a subscriber receives it
//! through nginx; private updates need the subscriber token; a token for another
//! audience or issuer, or expired, gets RFC 6750's `invalid_token`; every 401 names
//! the resource metadata URL, which nginx passes to the hub. In compatibility mode a
//! 0.x client and a 1.0 client receive the same update from one hub.

use std::time::Duration;

use mercure_setup::bundle::paths;
use mercure_setup::deployment::TokenShape;
use mercure_setup::jwt::{self, Audience, Lifetime, Role, SigningKey};
use mercure_setup::values::HubFacts;

use crate::support::stack::{HttpVersion, Stack, Subscriber, curl, urlencode};

const ALGORITHMS: [&str; 3] = ["HS256", "HS512", "ES256"];

/// The key Symfony signs with, read from the bundle as Symfony reads it.
pub fn signing_key(stack: &Stack) -> SigningKey {
    match stack.r.bundle.read(paths::SYMFONY_PRIVATE_KEY) {
        Ok(private_pem) => {
            let pair = rcgen::KeyPair::from_pem(&private_pem).expect("the bundle's ES256 key");
            SigningKey::Es256 { public_pem: pair.public_key_pem(), private_pem }
        }
        Err(_) => SigningKey::Hmac(stack.r.hub_secret()),
    }
}

fn now() -> i64 {
    i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()).unwrap()
}

/// A subscriber token signed with the bundle's key, for `issuer` and `audience`, expiring at `exp`.
pub fn subscriber_token(stack: &Stack, issuer: &str, audience: &str, exp: i64) -> String {
    let who = Audience { issuer, audience, subject: "test" };
    let life = Lifetime { issued_at: Some(now() - 60), expires: exp, id: None };
    let alg = stack.r.bundle.answers.jwt_algorithm;
    jwt::sign_shaped(&signing_key(stack), alg, Role::Subscriber, &["*"], TokenShape::Rfc9068, &who, Some(life))
        .expect("sign")
}

/// A GET of the hub through nginx with `token` in the Authorization header (if any).
fn get(stack: &Stack, query: &str, token: Option<&str>) -> String {
    let mut args = stack.curl_public_args();
    args.extend(["--http2".into(), "--max-time".into(), "2".into()]);
    if let Some(t) = token {
        args.extend(["-H".into(), format!("Authorization: Bearer {t}")]);
    }
    args.push(stack.public_url(query));
    curl(&args)
}

fn www_authenticate(response: &str) -> String {
    response.lines().find(|l| l.to_ascii_lowercase().starts_with("www-authenticate:")).unwrap_or_default().to_string()
}

fn deliver(fixture: &str) {
    for alg in ALGORITHMS {
        let stack = Stack::start(fixture, &[&format!("jwt.algorithm={alg}")]);
        let hub = stack.r.bundle.hub();
        assert!(hub.issuer_block, "{fixture} renders for 1.0");
        let ctx = format!("{fixture} {alg}");
        let domain = stack.r.domain();
        let token = stack.r.token(paths::SUBSCRIBER_TOKEN);

        // Symfony's component publishes from .env.local and mercure.yaml; the subscriber
        // receives it through nginx.
        let topic = "https://example.com/books/1";
        let mut sub = stack.subscribe(topic, HttpVersion::Http2, Some(&token));
        sub.until_subscribed();
        assert!(sub.seen[0].text.starts_with("HTTP/2 200"), "{ctx}: {}", sub.seen[0].text);
        stack.publish_ok(topic, "book {seq}", false, 1, &ctx);
        sub.expect_line(Duration::from_secs(2), "data: book 0", &ctx);

        // Private updates reach the token holder; without a token the hub answers 401
        // and names its resource metadata.
        let private_topic = "https://example.com/users/42";
        let mut authorized = stack.subscribe(private_topic, HttpVersion::Http2, Some(&token));
        authorized.until_subscribed();
        stack.publish_ok(private_topic, "secret {seq}", true, 1, &ctx);
        authorized.expect_line(Duration::from_secs(2), "data: secret 0", &format!("{ctx}: private update"));
        let query = format!("?match={}", urlencode(private_topic));
        let anonymous = get(&stack, &query, None);
        assert!(anonymous.starts_with("HTTP/2 401"), "{ctx}: {anonymous}");
        let metadata = format!("https://{domain}/.well-known/oauth-protected-resource/.well-known/mercure");
        assert!(
            www_authenticate(&anonymous).contains(&format!("resource_metadata=\"{metadata}\"")),
            "{ctx}: {anonymous}"
        );
        // nginx passes the metadata URL to the hub.
        let mut args = stack.curl_public_args();
        args.push(format!("https://{domain}:{}/.well-known/oauth-protected-resource/.well-known/mercure", {
            stack.nginx().https_port
        }));
        let meta = curl(&args);
        assert!(meta.starts_with("HTTP/2 200"), "{ctx}: {meta}");
        assert!(meta.contains(&HubFacts::audience(&domain)), "{ctx}: {meta}");

        // Wrong audience, wrong issuer, expired: RFC 6750 invalid_token on strict 1.0.
        // Compatibility mode checks neither aud nor iss for a token its key verifies (the
        // warning render prints), but still refuses an expired token.
        let (iss, aud) = (HubFacts::issuer(&domain), HubFacts::audience(&domain));
        let bad = [
            ("wrong aud", subscriber_token(&stack, &iss, "https://other.example/.well-known/mercure", now() + 600)),
            ("wrong iss", subscriber_token(&stack, "https://other.example", &aud, now() + 600)),
            ("expired", subscriber_token(&stack, &iss, &aud, now() - 120)),
        ];
        for (what, t) in &bad {
            let r = get(&stack, &query, Some(t));
            if hub.compat && *what != "expired" {
                assert!(r.starts_with("HTTP/2 200"), "{ctx}: compat mode accepts {what}: {r}");
                continue;
            }
            assert!(r.starts_with("HTTP/2 401"), "{ctx}: {what}: {r}");
            assert!(www_authenticate(&r).contains("error=\"invalid_token\""), "{ctx}: {what}: {r}");
        }
        // `?topic=` is a 0.x parameter: strict 1.0 refuses it (400), compatibility mode takes it.
        let r = get(&stack, &format!("?topic={}", urlencode(topic)), Some(&token));
        let want = if hub.compat { "HTTP/2 200" } else { "HTTP/2 400" };
        assert!(r.starts_with(want), "{ctx}: ?topic=: {r}");
    }
}

#[test]
fn strict_1_0_same_host_http_delivers_through_nginx() {
    deliver("same-host-http-hs256-hub10.yaml");
}

#[test]
fn strict_1_0_end_to_end_tls_delivers_through_nginx() {
    deliver("end-to-end-tls-es256-hub10.yaml");
}

#[test]
fn compat_same_host_http_delivers_through_nginx() {
    deliver("same-host-http-hs512-hub10compat.yaml");
}

#[test]
fn compat_end_to_end_tls_delivers_through_nginx() {
    deliver("end-to-end-tls-hs256-hub10compat.yaml");
}

/// One compatibility-mode hub, two generations of clients: a 0.x subscriber (`?topic=`,
/// a legacy token in `?authorization=`) and a 1.0 one (`?match=`, the bundle's
/// cut-over token in the Authorization header) receive the same update.
#[test]
fn compat_serves_0x_and_1_0_clients_the_same_update() {
    for fixture in ["same-host-http-hs512-hub10compat.yaml", "end-to-end-tls-hs256-hub10compat.yaml"] {
        let stack = Stack::start(fixture, &[]);
        let alg = stack.r.bundle.answers.jwt_algorithm;
        let legacy = jwt::sign(&signing_key(&stack), alg, Role::Subscriber, &["*"]).unwrap();
        let topic = "https://example.com/both";
        let mut args = stack.curl_public_args();
        args.push("--http2".into());
        args.push(stack.public_url(&format!("?topic={}&authorization={legacy}", urlencode(topic))));
        let mut old = Subscriber::start(&args);
        let mut new = stack.subscribe(topic, HttpVersion::Http2, Some(&stack.r.token(paths::SUBSCRIBER_TOKEN)));
        old.until_subscribed();
        new.until_subscribed();
        stack.publish_ok(topic, "to both", true, 1, fixture);
        for (name, s) in [("0.x", &mut old), ("1.0", &mut new)] {
            s.expect_line(Duration::from_secs(2), "data: to both", &format!("{fixture}: the {name} client"));
        }
    }
}

/// Every hub option the answers have, on both 1.0 lines: the bundle still loads on the
/// real 1.0 hub and carries a live update through nginx (anonymous subscribers included).
#[test]
fn every_hub_option_runs_on_the_1_0_hub() {
    let sets = [
        "hub.anonymous=true",
        "hub.subscriptions=true",
        "hub.cors_origins=https://admin.example.org",
        "hub.publish_origins=https://app.example.org",
        "hub.heartbeat=15s",
        "hub.history_size=50",
    ];
    for fixture in ["same-host-http-hs256-hub10.yaml", "end-to-end-tls-hs256-hub10compat.yaml"] {
        let stack = Stack::start(fixture, &sets);
        let topic = "https://example.com/open";
        let mut anonymous = stack.subscribe(topic, HttpVersion::Http1, None);
        anonymous.until_subscribed();
        assert!(anonymous.seen[0].text.starts_with("HTTP/1.1 200"), "{fixture}: {}", anonymous.seen[0].text);
        stack.publish_ok(topic, "open {seq}", false, 1, fixture);
        anonymous.expect_line(Duration::from_secs(2), "data: open 0", fixture);
    }
}
