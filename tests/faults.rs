//! The fault matrix on the real stack: each case shows what users see
//! (status, body, the nginx error-log line) with the configs people copy (the
//! seed's locations) or a broken hub, and that the generated bundle on the same
//! stack passes the probe. Where reality differs from common advice, the test asserts
//! reality and says so.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use mercure_setup::bundle::paths;
use mercure_setup::values::Domain;

use crate::support::stack::{
    HttpVersion, STARTUP, Stack, Subscriber, curl, host_named, hub_caddyfile, self_signed, wait_for_port, with_tls_line,
};
use crate::support::{ChildGuard, require_tool};

const TLS: &str = "end-to-end-tls-hs256-nginx122.yaml";
const HTTP: &str = "same-host-http-hs256-nginx122.yaml";

/// The seed article's "option 2" location: TLS to the hub without verification or SNI.
fn seed_option2(port: u16) -> String {
    format!(
        "    location /.well-known/mercure {{\n\
         \x20       proxy_pass https://127.0.0.1:{port}/.well-known/mercure;\n\
         \x20       proxy_ssl_verify off;\n\
         \x20       proxy_http_version 1.1;\n\
         \x20       proxy_set_header Connection \"\";\n\
         \x20       proxy_set_header Host $http_host;\n\
         \x20       proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n\
         \x20       proxy_set_header X-Forwarded-Proto $scheme;\n\
         \x20   }}\n"
    )
}

/// The site with its hub location replaced by `block`.
fn with_location(site: &str, block: &str) -> String {
    let lines: Vec<&str> = site.lines().collect();
    let start = lines.iter().position(|l| l.trim() == "location ^~ /.well-known/mercure {").expect("hub location");
    let end = start + lines[start..].iter().position(|l| *l == "    }").expect("end of the hub location");
    let mut out = lines[..start].join("\n");
    out.push('\n');
    out.push_str(block);
    out.push_str(&lines[end + 1..].join("\n"));
    out.push('\n');
    out
}

/// The generated site with one line of its hub location rewritten.
fn with_line(site: &str, from: &str, to: &str) -> String {
    assert!(site.contains(from), "`{from}` not in the site");
    site.replacen(from, to, 1)
}

/// A subscriber request through nginx that returns at once (not streaming).
fn request(stack: &Stack) -> String {
    let mut args = stack.curl_public_args();
    args.extend(["--max-time", "3", "-H"].map(String::from));
    args.push(format!("Authorization: Bearer {}", stack.r.token("tokens/subscriber.jwt")));
    args.push(stack.public_url("?topic=probe"));
    curl(&args)
}

/// The probe every generated bundle passes: a subscription through nginx receives an update.
fn probe_passes(stack: &Stack) {
    let token = stack.r.token("tokens/subscriber.jwt");
    let mut sub = stack.subscribe("probe", HttpVersion::Http2, Some(&token));
    sub.until_subscribed();
    assert!(sub.seen[0].text.starts_with("HTTP/2 200"), "{}", sub.seen[0].text);
}

fn assert_status(response: &str, status: &str) {
    let first = response.lines().next().unwrap_or_default();
    assert!(first.starts_with(status), "expected {status}, got:\n{response}");
}

fn error_log_has(stack: &Stack, needle: &str) {
    let log = stack.nginx().error_log();
    assert!(log.contains(needle), "nginx error log lacks `{needle}`:\n{log}");
}

#[test]
fn seed_location_against_a_host_named_hub() {
    let mut stack = Stack::prepare(TLS, &[]);
    let port = stack.r.hub_port();
    // A host-named site address (what people write) and no default_sni.
    let host_named = host_named(&stack.hub_caddyfile(), port);
    let seed_site = with_location(&stack.site_text(), &seed_option2(port));

    // With the certificate Caddy manages itself (Mercure's default for a named
    // SERVER_NAME), nginx's SNI-less handshake finds no certificate: alert 80.
    stack.start_hub_text(&with_tls_line(&host_named, "\ttls internal"));
    stack.start_nginx_with(&seed_site);
    assert_status(&request(&stack), "HTTP/2 502");
    error_log_has(&stack, "SSL alert number 80");

    // Reality differs from common advice when the certificate is loaded from files
    // (`tls hub.crt hub.key`, as the bundle does): the hub's Caddy serves it even without
    // SNI, the handshake succeeds, and then no site matches the public Host header:
    // an empty 200 (troubleshooting #6), not alert 80.
    stack.start_hub_text(&host_named);
    let response = request(&stack);
    assert_status(&response, "HTTP/2 200");
    assert!(response.contains("content-length: 0"), "{response}");

    // The generated location sends SNI (proxy_ssl_name), and the generated hub is catch-all.
    stack.start_hub();
    stack.start_nginx_with(&stack.site_text());
    probe_passes(&stack);
}

/// A local process on the hub's port with a self-signed certificate, logging what it is sent.
fn impostor(dir: &Path, port: u16) -> (ChildGuard, std::path::PathBuf) {
    let python = require_tool("python3", "apt-get install python3");
    let (cert, key) = self_signed(dir, "impostor");
    let log = dir.join("impostor.log");
    let script = r#"
import socket, ssl, sys
port, cert, key, log = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen()
while True:
    conn, _ = srv.accept()
    try:
        tls = ctx.wrap_socket(conn, server_side=True)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = tls.recv(4096)
            if not chunk:
                break
            data += chunk
        with open(log, "ab") as f:
            f.write(data)
        tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 16\r\n\r\ndata: impostor\n\n")
        tls.close()
    except Exception as e:
        with open(log, "ab") as f:
            f.write(("handshake failed: %s\n" % e).encode())
"#;
    let child = Command::new(python)
        .args(["-c", script, &port.to_string()])
        .args([&cert, &key, &log])
        .spawn()
        .expect("start the impostor");
    let guard = ChildGuard::new("impostor", child);
    assert!(wait_for_port(port, STARTUP), "impostor did not listen");
    (guard, log)
}

#[test]
fn seed_location_hands_the_token_to_an_impostor_the_generated_one_refuses() {
    let mut stack = Stack::prepare(TLS, &[]);
    let port = stack.r.hub_port();
    // The hub is down (restarting); another local user's process took its port.
    let (_impostor, log) = impostor(&stack.work, port);
    let token = stack.r.token("tokens/subscriber.jwt");

    stack.start_nginx_with(&with_location(&stack.site_text(), &seed_option2(port)));
    let response = request(&stack);
    assert_status(&response, "HTTP/2 200");
    assert!(response.contains("data: impostor"), "{response}");
    let seen = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(seen.contains(&format!("Bearer {token}")), "the impostor did not get the token: {seen}");

    std::fs::write(&log, "").unwrap();
    stack.start_nginx_with(&stack.site_text());
    let response = request(&stack);
    assert_status(&response, "HTTP/2 502");
    error_log_has(&stack, "upstream SSL certificate verify error");
    let seen = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!seen.contains("Bearer"), "the generated location leaked the token: {seen}");
}

#[test]
fn https_to_a_plain_hub_and_http_to_a_tls_hub() {
    // proxy_pass https:// to a plain-HTTP hub: 502, wrong version number.
    let mut stack = Stack::prepare(HTTP, &[]);
    stack.start_hub();
    let port = stack.r.hub_port();
    let site = with_line(
        &stack.site_text(),
        &format!("proxy_pass http://127.0.0.1:{port};"),
        &format!("proxy_pass https://127.0.0.1:{port};"),
    );
    stack.start_nginx_with(&site);
    assert_status(&request(&stack), "HTTP/2 502");
    error_log_has(&stack, "wrong version number");
    stack.start_nginx_with(&stack.site_text());
    probe_passes(&stack);

    // proxy_pass http:// to a TLS hub: Caddy answers 400 itself.
    let mut stack = Stack::prepare(TLS, &[]);
    stack.start_hub();
    let port = stack.r.hub_port();
    let site = with_line(
        &stack.site_text(),
        &format!("proxy_pass https://127.0.0.1:{port};"),
        &format!("proxy_pass http://127.0.0.1:{port};"),
    );
    stack.start_nginx_with(&site);
    let response = request(&stack);
    assert_status(&response, "HTTP/2 400");
    assert!(response.contains("Client sent an HTTP request to an HTTPS server"), "{response}");
    stack.start_nginx_with(&stack.site_text());
    probe_passes(&stack);
}

#[test]
fn hub_down_is_a_502_with_connection_refused() {
    let mut stack = Stack::prepare(HTTP, &[]);
    stack.start_nginx_with(&stack.site_text());
    assert_status(&request(&stack), "HTTP/2 502");
    error_log_has(&stack, "connect() failed (111");
    stack.start_hub();
    probe_passes(&stack);
}

/// Reality differs from common advice: the hub sends `X-Accel-Buffering: no` with every
/// subscription, so even a bare `proxy_pass` (buffering on, HTTP/1.0 upstream) streams
/// updates at once. They are held back only when nginx ignores that header (as copied
/// caching snippets do with `proxy_ignore_headers`); the bundle's `proxy_buffering off`
/// keeps the stream unbuffered even then.
#[test]
fn buffering_holds_updates_back_only_when_nginx_ignores_the_hubs_header() {
    let mut stack = Stack::prepare(HTTP, &[]);
    stack.start_hub();
    let port = stack.r.hub_port();
    let token = stack.r.token("tokens/subscriber.jwt");
    let bare =
        format!("    location ^~ /.well-known/mercure {{\n        proxy_pass http://127.0.0.1:{port};\n    }}\n");
    let ignoring = format!(
        "    location ^~ /.well-known/mercure {{\n        proxy_pass http://127.0.0.1:{port};\n        \
         proxy_ignore_headers X-Accel-Buffering;\n    }}\n"
    );
    let generated_ignoring = with_line(
        &stack.site_text(),
        "proxy_buffering off;",
        "proxy_buffering off;\n        proxy_ignore_headers X-Accel-Buffering;",
    );
    for (n, (site, held_back)) in [
        (with_location(&stack.site_text(), &bare), false),
        (with_location(&stack.site_text(), &ignoring), true),
        (generated_ignoring, false),
    ]
    .into_iter()
    .enumerate()
    {
        stack.start_nginx_with(&site);
        let topic = format!("buffered-{n}");
        let mut through_nginx = stack.subscribe(&topic, HttpVersion::Http2, Some(&token));
        // A control subscriber straight to the hub's site proves each update was sent.
        let mut direct = Subscriber::start(&[
            "-H".into(),
            format!("Authorization: Bearer {token}"),
            format!("http://127.0.0.1:{port}/.well-known/mercure?topic={topic}"),
        ]);
        direct.until_subscribed();
        if !held_back {
            through_nginx.until_subscribed();
        }
        stack.publish_ok(&topic, "late {seq}", false, 1, &format!("case {n}"));
        assert!(direct.wait_line(Duration::from_secs(1), |l| l == "data: late 0").is_some(), "the hub did not send it");
        let delivered = through_nginx.wait_line(Duration::from_secs(1), |l| l == "data: late 0").is_some();
        assert_eq!(delivered, !held_back, "case {n}: delivered within 1 s: {}", through_nginx.drain(Duration::ZERO));
        if held_back {
            // It was held in nginx's buffer: ending the upstream stream lets it out.
            stack.stop_hub();
            assert!(
                through_nginx.wait_line(Duration::from_secs(5), |l| l == "data: late 0").is_some(),
                "the update never came out of nginx: {}",
                through_nginx.drain(Duration::ZERO)
            );
            stack.start_hub();
        }
    }
}

#[test]
fn a_hub_certificate_for_another_name_is_refused() {
    let mut stack = Stack::prepare(TLS, &[]);
    // Same private CA, but a certificate for another name than proxy_ssl_name.
    let b = &stack.r.bundle;
    let (cert, key) = mercure_setup::pki::new_hub_cert(
        &b.read(".state/pki/ca.crt").unwrap(),
        &b.read(".state/pki/ca.key").unwrap(),
        &Domain::parse("other.internal").unwrap(),
        time::OffsetDateTime::now_utc(),
    )
    .unwrap();
    let other = stack.work.join("other-tls");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("hub.crt"), cert).unwrap();
    std::fs::write(other.join("hub.key"), key).unwrap();
    let caddy = hub_caddyfile(&stack.r, Some(&other), &stack.hub_state());
    stack.start_hub_text(&caddy);
    stack.start_nginx_with(&stack.site_text());
    assert_status(&request(&stack), "HTTP/2 502");
    error_log_has(&stack, "upstream SSL certificate does not match \"mercure.internal\"");
    // The bundle's own certificate passes.
    stack.start_hub();
    probe_passes(&stack);
    assert!(stack.r.bundle.path(paths::HUB_CERT).is_file());
}
