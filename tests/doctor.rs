//! `doctor` on the real stack (nginx + the real Mercure hub): it passes every probe
//! on a correct deployment of both topologies and every algorithm, and for each
//! injected fault it fails the probe that sees it and prints the matching diagnosis.

use std::path::PathBuf;

use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType};

use crate::support::stack::{Rendered, Stack, host_named, hub_caddyfile, self_signed, with_tls_line};
use crate::support::{run, stderr, stdout};

const TLS: &str = "end-to-end-tls-hs256-nginx122.yaml";
const HTTP: &str = "same-host-http-hs256-nginx122.yaml";
const ES256: &str = "end-to-end-tls-es256-cors-nginx126.yaml";

/// What doctor printed, split into one block per probe (its line plus diagnosis lines).
struct Doctor {
    ok: bool,
    out: String,
}

impl Doctor {
    fn block(&self, id: &str) -> String {
        let mut lines = self.out.lines().skip_while(|l| !(l.starts_with('[') && l[7..].trim_start().starts_with(id)));
        let Some(first) = lines.next() else { panic!("no `{id}` probe in:\n{}", self.out) };
        let mut block = first.to_string();
        for l in lines.take_while(|l| l.starts_with("       ")) {
            block.push('\n');
            block.push_str(l);
        }
        block
    }

    fn passed(&self, id: &str) {
        let b = self.block(id);
        assert!(b.starts_with("[ok]"), "`{id}` should pass:\n{b}\n\nfull output:\n{}", self.out);
    }

    /// Asserts probe `id` failed with a diagnosis of troubleshooting row `item` whose text contains `needle`.
    fn failed(&self, id: &str, item: u8, needle: &str) {
        let b = self.block(id);
        assert!(b.starts_with("[FAIL]"), "`{id}` should fail:\n{b}\n\nfull output:\n{}", self.out);
        let row = mercure_setup::troubleshooting::Row::from_number(item).expect("a troubleshooting row");
        let marker = format!("cause ({})", row.reference());
        // A cause is given in full once; a later probe it explains refers to that probe.
        let referred = b.lines().find_map(|l| {
            let rest = l.trim().strip_prefix("cause: the same as for ")?;
            let (probe, reference) = rest.split_once(" above (")?;
            (reference.strip_suffix(')') == Some(row.reference().as_str())).then(|| probe.to_string())
        });
        let b = match referred {
            Some(probe) => self.block(&probe),
            None => b,
        };
        assert!(b.contains(&marker), "`{id}` lacks the #{item} diagnosis:\n{b}\n\nfull output:\n{}", self.out);
        assert!(b.contains(needle), "`{id}` diagnosis lacks `{needle}`:\n{b}");
        assert!(!self.ok, "doctor exited 0 with a failed probe");
    }
}

fn bundle_dir(stack: &Stack) -> PathBuf {
    stack.r.tmp.path().join("bundle")
}

/// Runs `doctor --bundle` against the stack: the public URL on nginx's test port,
/// resolved to loopback, trusting the test's public CA, with nginx's own logs.
fn doctor(stack: &Stack, extra: &[&str]) -> Doctor {
    doctor_at(stack, &stack.public_url(""), extra)
}

/// `doctor` as above, with `public` as the public URL.
fn doctor_at(stack: &Stack, public: &str, extra: &[&str]) -> Doctor {
    let n = stack.nginx();
    let bundle = bundle_dir(stack);
    let resolve = format!("{}:{}:127.0.0.1", stack.r.domain(), n.https_port);
    let public = public.to_string();
    let ca = stack.public.ca.to_string_lossy().into_owned();
    let log = n.prefix.join("error.log").to_string_lossy().into_owned();
    let conf = n.prefix.join("site.conf").to_string_lossy().into_owned();
    let mut args = vec![
        "doctor",
        "--bundle",
        bundle.to_str().unwrap(),
        "--public-url",
        &public,
        "--resolve",
        &resolve,
        "--public-ca",
        &ca,
        "--nginx-error-log",
        &log,
        "--nginx-conf",
        &conf,
    ];
    args.extend_from_slice(extra);
    let o = run(&args);
    let out = stdout(&o);
    eprintln!("{out}{}", stderr(&o));
    Doctor { ok: o.status.success(), out }
}

fn all_pass(d: &Doctor) {
    assert!(d.ok && d.out.contains(" 0 failed, 0 skipped"), "doctor should pass everything:\n{}", d.out);
}

#[test]
fn doctor_passes_a_correct_same_host_http_deployment() {
    let stack = Stack::start(HTTP, &[]);
    let d = doctor(&stack, &["--idle", "2s"]);
    all_pass(&d);
    for id in [
        "bundle.secrets",
        "hub.tcp",
        "hub.scheme",
        "hub.mercure",
        "public.subscribe",
        "publish.direct",
        "publish.symfony",
        "public.delivery",
        "public.idle",
    ] {
        d.passed(id);
    }
    assert!(!d.out.contains("hub.tls"), "no TLS probes for plain HTTP on loopback:\n{}", d.out);
}

#[test]
fn doctor_passes_a_correct_end_to_end_tls_deployment_and_speaks_json() {
    let stack = Stack::start(TLS, &["hub.cors_origins=https://admin.example.com"]);
    let d = doctor(&stack, &[]);
    all_pass(&d);
    for id in [
        "bundle.cert.expiry",
        "hub.tls.sni",
        "hub.tls.no-sni",
        "hub.cert.expiry",
        "publish.symfony",
        "public.delivery",
        "cors https://admin.example.com",
    ] {
        d.passed(id);
    }
    let d = doctor(&stack, &["--json"]);
    let v: serde_json::Value = serde_json::from_str(&d.out).expect("doctor --json prints JSON");
    assert_eq!(v["failed"], 0, "{}", d.out);
    assert_eq!(v["target"]["topology"], "end-to-end-tls");
    assert!(v["probes"].as_array().unwrap().iter().all(|p| p["status"] == "passed" && p["millis"].is_u64()));
}

#[test]
fn doctor_diagnoses_a_hub_that_is_down() {
    let mut stack = Stack::prepare(HTTP, &[]);
    stack.start_nginx_with(&stack.site_text());
    let d = doctor(&stack, &[]);
    d.failed("hub.tcp", 1, "mercure/Caddyfile");
    d.failed("public.subscribe", 1, "Connection refused");
    // Every probe that can still run does: Symfony's publish is tried and fails too.
    assert!(d.block("publish.symfony").starts_with("[FAIL]"), "{}", d.out);
}

#[test]
fn doctor_diagnoses_a_plain_http_hub_where_nginx_expects_tls() {
    let mut stack = Stack::prepare(TLS, &[]);
    let port = stack.r.hub_port();
    let caddy = with_tls_line(&stack.hub_caddyfile(), "");
    let plain = caddy.replace(&format!("https://:{port} {{"), &format!("http://:{port} {{"));
    stack.start_hub_text(&plain);
    stack.start_nginx_with(&stack.site_text());
    let d = doctor(&stack, &[]);
    d.failed("hub.scheme", 4, &format!("https://:{port}"));
    d.failed("public.subscribe", 4, "wrong version number");
}

#[test]
fn doctor_diagnoses_a_tls_hub_where_nginx_expects_plain_http() {
    let mut stack = Stack::prepare(HTTP, &[]);
    let port = stack.r.hub_port();
    // The classic mistake: the site address lacks `http://`, so Caddy serves HTTPS.
    let caddy = stack
        .hub_caddyfile()
        .replace(&format!("http://:{port} {{"), &format!("https://:{port} {{\n\ttls internal"))
        .replace("auto_https off", "auto_https disable_redirects");
    stack.start_hub_text(&caddy);
    stack.start_nginx_with(&stack.site_text());
    let d = doctor(&stack, &[]);
    d.failed("hub.scheme", 4, &format!("http://:{port}"));
    d.failed("public.subscribe", 4, "Client sent an HTTP request to an HTTPS server");
}

#[test]
fn doctor_diagnoses_a_host_named_hub_and_nginx_without_sni() {
    let mut stack = Stack::prepare(TLS, &[]);
    let port = stack.r.hub_port();
    // A host-named site with a certificate Caddy manages itself, and no default_sni.
    let named = with_tls_line(&host_named(&stack.hub_caddyfile(), port), "\ttls internal");
    stack.start_hub_text(&named);
    // nginx's default: no SNI.
    let site = stack.site_text().replace("proxy_ssl_server_name on;", "proxy_ssl_server_name off;");
    stack.start_nginx_with(&site);
    let d = doctor(&stack, &[]);
    d.failed("hub.tls.no-sni", 2, "default_sni mercure.internal");
    d.failed("public.subscribe", 2, "alert number 80");
}

#[test]
fn doctor_diagnoses_a_wrong_proxy_ssl_name() {
    let mut stack = Stack::prepare(TLS, &[]);
    stack.start_hub();
    let site = stack.site_text().replace("proxy_ssl_name mercure.internal;", "proxy_ssl_name wrong.internal;");
    stack.start_nginx_with(&site);
    let d = doctor(&stack, &[]);
    // The hub itself is fine: only the public side fails, and nginx's log names the cause.
    d.passed("hub.tls.sni");
    d.failed("public.subscribe", 3, "proxy_ssl_name mercure.internal");
    assert!(d.block("public.subscribe").contains("does not match"), "{}", d.out);
}

/// A hub certificate signed by the bundle's CA that expired yesterday.
fn expired_hub_cert(stack: &Stack) -> PathBuf {
    let now = time::OffsetDateTime::now_utc();
    hub_cert(stack, "expired-tls", "mercure.internal", now - time::Duration::days(1))
}

/// A hub certificate for `name` (and 127.0.0.1) signed by the bundle's CA, in `work/DIR`.
fn hub_cert(stack: &Stack, dir: &str, name: &str, not_after: time::OffsetDateTime) -> PathBuf {
    let b = &stack.r.bundle;
    let ca_key = KeyPair::from_pem(&b.read(".state/pki/ca.key").unwrap()).unwrap();
    let issuer = Issuer::from_ca_cert_pem(&b.read(".state/pki/ca.crt").unwrap(), ca_key).unwrap();
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut p = CertificateParams::default();
    p.distinguished_name.push(DnType::CommonName, name);
    p.subject_alt_names =
        vec![SanType::DnsName(name.try_into().unwrap()), SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into())];
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    p.not_before = not_after - time::Duration::days(400);
    p.not_after = not_after;
    let cert = p.signed_by(&key, &issuer).unwrap();
    let dir = stack.work.join(dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("hub.crt"), cert.pem()).unwrap();
    std::fs::write(dir.join("hub.key"), key.serialize_pem()).unwrap();
    dir
}

#[test]
fn doctor_diagnoses_an_expired_hub_certificate() {
    let mut stack = Stack::prepare(TLS, &[]);
    let dir = expired_hub_cert(&stack);
    stack.start_hub_text(&hub_caddyfile(&stack.r, Some(&dir), &stack.hub_state()));
    stack.start_nginx_with(&stack.site_text());
    let d = doctor(&stack, &[]);
    d.failed("hub.tls.sni", 3, "mercure-setup render");
    d.failed("hub.cert.expiry", 3, "expired on");
    d.failed("public.subscribe", 3, "verify error");
}

#[test]
fn doctor_diagnoses_an_untrusted_hub_certificate() {
    let mut stack = Stack::prepare(TLS, &[]);
    let dir = stack.work.join("untrusted-tls");
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = self_signed(&dir, "mercure.internal");
    std::fs::rename(cert, dir.join("hub.crt")).unwrap();
    std::fs::rename(key, dir.join("hub.key")).unwrap();
    stack.start_hub_text(&hub_caddyfile(&stack.r, Some(&dir), &stack.hub_state()));
    stack.start_nginx_with(&stack.site_text());
    let d = doctor(&stack, &[]);
    d.failed("hub.tls.sni", 3, "mercure/tls/ca.crt");
    assert!(d.block("hub.cert.expiry").contains("not the bundle's mercure/tls/hub.crt"), "{}", d.out);
    d.failed("public.subscribe", 3, "mercure/tls/ca.crt");
}

#[test]
fn doctor_diagnoses_buffering_in_nginx() {
    let mut stack = Stack::prepare(HTTP, &[]);
    stack.start_hub();
    // The hub's `X-Accel-Buffering: no` turns nginx's buffering off unless nginx is
    // told to ignore it, as copied caching snippets do.
    let site = stack
        .site_text()
        .replace("proxy_buffering off;", "proxy_ignore_headers X-Accel-Buffering;")
        .replace("proxy_http_version 1.1;", "");
    stack.start_nginx_with(&site);
    let d = doctor(&stack, &[]);
    // Through an HTTP/1.0 upstream with buffering on, not even the headers come out
    // while the hub streams: the subscription hangs and the updates stay in nginx.
    d.failed("public.subscribe", 7, "proxy_buffering off");
    d.failed("public.delivery", 7, "proxy_buffering off");
    assert!(
        d.block("public.delivery")
            .contains("the hub location lacks `proxy_buffering off` and `proxy_http_version 1.1`"),
        "{}",
        d.out
    );
}

#[test]
fn doctor_idle_catches_a_short_proxy_read_timeout() {
    let mut stack = Stack::prepare(HTTP, &[]);
    stack.start_hub();
    let site = stack.site_text().replace("proxy_read_timeout 1h;", "proxy_read_timeout 5s;");
    stack.start_nginx_with(&site);
    let d = doctor(&stack, &["--idle", "8s"]);
    d.passed("public.delivery");
    d.failed("public.idle", 8, "proxy_read_timeout 1h");
    let after: String =
        d.block("public.idle").split("ended after ").nth(1).unwrap().chars().take_while(char::is_ascii_digit).collect();
    let after: u64 = after.parse().unwrap();
    assert!((4500..8000).contains(&after), "closed after {after} ms, expected about 5 s:\n{}", d.out);
}

#[test]
fn doctor_diagnoses_a_symfony_secret_that_differs_from_the_hubs() {
    let stack = Stack::start(TLS, &[]);
    let env = bundle_dir(&stack).join("symfony/.env.local");
    let text = std::fs::read_to_string(&env).unwrap();
    let line = text.lines().find(|l| l.starts_with("MERCURE_JWT_SECRET=")).unwrap().to_string();
    std::fs::write(&env, text.replace(&line, &format!("MERCURE_JWT_SECRET={}", "x".repeat(64)))).unwrap();
    let d = doctor(&stack, &[]);
    d.failed("bundle.secrets", 11, "mercure/mercure.env");
    d.failed("publish.symfony", 11, "MERCURE_JWT_SECRET");
    // The hub and the bundle's own token are fine.
    d.passed("publish.direct");
    d.passed("public.delivery");
}

#[test]
fn doctor_diagnoses_a_hub_certificate_for_another_name() {
    let mut stack = Stack::prepare(TLS, &[]);
    // Signed by the bundle's CA, valid, but for another hub.tls_name.
    let later = time::OffsetDateTime::now_utc() + time::Duration::days(300);
    let dir = hub_cert(&stack, "other-name-tls", "other.internal", later);
    stack.start_hub_text(&hub_caddyfile(&stack.r, Some(&dir), &stack.hub_state()));
    stack.start_nginx_with(&stack.site_text());
    let d = doctor(&stack, &[]);
    // The fix is the hub's certificate, not nginx's proxy_ssl_name (which is right).
    d.failed(
        "hub.tls.sni",
        3,
        "install mercure/tls/hub.crt and hub.key from the render whose hub.tls_name is mercure.internal",
    );
    let b = d.block("hub.tls.sni");
    assert!(b.contains("other.internal") && !b.contains("set `proxy_ssl_name"), "{b}");
    // Through nginx too: its log says the right name was checked, so the advice is the certificate.
    d.failed("public.subscribe", 3, "from the render whose hub.tls_name is mercure.internal");
    assert!(!d.block("public.subscribe").contains("set `proxy_ssl_name"), "{}", d.out);
    // Expiry still reads the certificate the hub served.
    assert!(d.block("hub.cert.expiry").contains("not the bundle's mercure/tls/hub.crt"), "{}", d.out);
}

/// `doctor` on a bundle only (nothing runs): the hub and public URLs point at a closed port.
fn doctor_offline(bundle: &std::path::Path) -> Doctor {
    let closed = crate::support::free_port();
    let hub = format!("http://127.0.0.1:{closed}/.well-known/mercure");
    let o = run(&[
        "doctor",
        "--bundle",
        bundle.to_str().unwrap(),
        "--hub-url",
        &hub,
        "--public-url",
        &hub,
        "--timeout",
        "1s",
    ]);
    let out = stdout(&o);
    eprintln!("{out}{}", stderr(&o));
    Doctor { ok: o.status.success(), out }
}

#[test]
fn doctor_checks_an_es256_bundle_and_signs_like_symfony() {
    // Live: the hub verifies what doctor signs with Symfony's private key.
    let stack = Stack::start(ES256, &[]);
    all_pass(&doctor(&stack, &[]));
    drop(stack);

    // Offline, the parts that need no hub.
    let r = Rendered::new(ES256, &[]);
    let bundle = r.tmp.path().join("bundle");
    let d = doctor_offline(&bundle);
    d.passed("bundle.secrets");
    assert!(
        d.block("publish.symfony").contains("signed with symfony/config/jwt/mercure-private.pem (ES256)"),
        "{}",
        d.out
    );
    // A hub that is down: every hub probe is listed, skipped with the reason.
    d.failed("hub.tcp", 1, "mercure/Caddyfile");
    for id in ["hub.scheme", "hub.mercure"] {
        assert!(d.block(id).contains("does not accept connections"), "{}", d.out);
    }

    // Another private key: the pair no longer matches the hub's public key.
    let other = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    std::fs::write(bundle.join("symfony/config/jwt/mercure-private.pem"), other.serialize_pem()).unwrap();
    let d = doctor_offline(&bundle);
    d.failed("bundle.secrets", 11, "symfony/config/jwt/");
    assert!(d.block("bundle.secrets").contains("mercure-private.pem"), "{}", d.out);
}

#[test]
fn doctor_speaks_plain_http_to_an_http_public_url() {
    let stack = Stack::start(HTTP, &[]);
    // The hub itself is a plain-HTTP listener: an http:// public URL must not try TLS there.
    let public = format!("http://127.0.0.1:{}/.well-known/mercure", stack.r.hub_port());
    let d = doctor_at(&stack, &public, &[]);
    all_pass(&d);
    d.passed("public.subscribe");
    d.passed("public.delivery");
}

#[test]
fn doctor_redacts_tokens_that_nginx_logged() {
    let mut stack = Stack::prepare(HTTP, &[]);
    stack.start_nginx_with(&stack.site_text());
    // A JWT in the query (Mercure 0.x's `authorization` parameter) lands in nginx's error log.
    let secret = "eyJhbGciOiJIUzI1NiJ9.eyJzZWNyZXQiOnRydWV9.c2lnbmF0dXJlLXNob3VsZC1uZXZlci1wcmludA";
    let public = stack.public_url(&format!("?authorization={secret}"));
    let log = stack.nginx().prefix.join("error.log");
    let d = doctor_at(&stack, &public, &[]);
    assert!(std::fs::read_to_string(&log).unwrap().contains(secret), "nginx should have logged the token");
    d.failed("public.subscribe", 1, "authorization=REDACTED");
    assert!(!d.out.contains(secret), "the token was printed:\n{}", d.out);
    let d = doctor_at(&stack, &public, &["--json"]);
    assert!(d.out.contains("authorization=REDACTED") && !d.out.contains(secret), "{}", d.out);
}

/// Mercure 1.0: doctor subscribes with `?match=` and the Authorization header and signs
/// 1.0 tokens, so a correct deployment passes on both 1.0 lines and topologies; a
/// subscriber token the hub refuses is explained from its RFC 6750 answer and the
/// token's claims (wrong `aud` with the audience the hub expects, wrong `iss`, expired,
/// a 0.x token).
#[test]
fn doctor_speaks_mercure_1_0_and_names_why_a_token_is_refused() {
    use crate::hub10::subscriber_token;
    for fixture in crate::support::HUB10_FIXTURES {
        let stack = Stack::start(fixture, &[]);
        let d = doctor(&stack, &[]);
        all_pass(&d);
        d.passed("public.delivery");
    }
    let stack = Stack::start("same-host-http-hs256-hub10.yaml", &[]);
    let domain = stack.r.domain();
    let (iss, aud) = (format!("https://{domain}"), format!("https://{domain}/.well-known/mercure"));
    let now =
        i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()).unwrap();
    let key = crate::hub10::signing_key(&stack);
    let legacy = mercure_setup::jwt::sign(
        &key,
        stack.r.bundle.answers.jwt_algorithm,
        mercure_setup::jwt::Role::Subscriber,
        &["*"],
    )
    .unwrap();
    for (token, needle) in [
        (
            subscriber_token(&stack, &iss, "https://other.example/.well-known/mercure", now + 600),
            format!("expects the audience {aud}"),
        ),
        (subscriber_token(&stack, "https://other.example", &aud, now + 600), format!("trusts the issuer {iss}")),
        (subscriber_token(&stack, &iss, &aud, now - 60), "the token expired".to_string()),
        (legacy, "a Mercure 0.x token".to_string()),
    ] {
        let file = stack.r.tmp.path().join("subscriber.jwt");
        std::fs::write(&file, token).unwrap();
        let d = doctor(&stack, &["--subscriber-token-file", file.to_str().unwrap()]);
        d.failed("public.subscribe", 20, &needle);
    }
}

/// The hub probe reads the admin API's `/mercure/health/ready` where the bundle's
/// `hub.admin` reaches it (0.24.2 and 1.0 both serve it).
#[test]
fn doctor_reads_the_admin_health_endpoint() {
    for fixture in [HTTP, "same-host-http-hs256-hub10.yaml"] {
        let admin = crate::support::free_port();
        let mut stack = Stack::prepare(fixture, &[&format!("hub.admin=localhost:{admin}")]);
        let text = stack.hub_caddyfile();
        assert!(text.contains("admin off"), "{text}");
        stack.start_hub_text(&text.replace("admin off", &format!("admin localhost:{admin}")));
        let site = stack.site_text();
        stack.start_nginx_with(&site);
        let d = doctor(&stack, &[]);
        all_pass(&d);
        let b = d.block("hub.mercure");
        assert!(
            b.contains(&format!("admin /mercure/health/ready (localhost:{admin}): 200")) && b.contains("ok"),
            "{fixture}:\n{b}"
        );
    }
}
