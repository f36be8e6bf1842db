//! The public site as an administrator would audit it: the rendered :443 server on the
//! real nginx, scanned by sslyze (pinned in `.ci/install-deps`) against Mozilla's
//! profile the answers chose, for both topologies; and its Strict-Transport-Security
//! header on every kind of response, or on none when switched off.
//!
//! The scan trusts the test CA (`--certinfo_ca_file`) and sends the bundle's domain as
//! SNI, so the test certificate (ECDSA P-256, 90 days, as Let's Encrypt issues) meets
//! the profile's certificate rules too: no finding is ignored. An ECDSA certificate
//! only negotiates the ECDSA suites, so one scan serves an RSA certificate as well.

use std::path::Path;
use std::process::Command;

use crate::support::require_tool;
use crate::support::stack::{PublicTls, Stack, curl};

const SAME_HOST: &str = "same-host-http-hs256-nginx122.yaml";
const END_TO_END: &str = "end-to-end-tls-hs256-nginx122.yaml";

/// What `sslyze --mozilla_config=PROFILE` said about the stack's nginx, and whether it
/// found the server compliant (its exit status).
fn scan(stack: &Stack, profile: &str) -> (bool, String) {
    let sslyze = require_tool("sslyze", "python3 -m pip install 'sslyze==6.3.1'");
    // HOST:PORT{IP}: connect to loopback, send the domain as SNI and check it against the certificate.
    let target = format!("{}:{}{{127.0.0.1}}", stack.r.domain(), stack.nginx().https_port);
    let o = Command::new(sslyze)
        .arg(format!("--mozilla_config={profile}"))
        .arg("--certinfo_ca_file")
        .arg(&stack.public.ca)
        .arg(&target)
        .output()
        .expect("run sslyze");
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    // Any other failure (no connection, a crash) is no verdict at all.
    assert!(
        text.contains("COMPLIANCE AGAINST TLS CONFIGURATION"),
        "sslyze gave no compliance verdict for {target}:\n{text}"
    );
    (o.status.success(), text)
}

/// The compliance part of sslyze's report (the findings, one per line).
fn verdict(text: &str) -> &str {
    text.find("COMPLIANCE AGAINST TLS CONFIGURATION").map_or(text, |at| &text[at..])
}

fn meets_profile(fixture: &str, profile: &str) {
    let mut stack = Stack::prepare(fixture, &[&format!("public_tls.profile={profile}")]);
    let site = stack.site_text();
    stack.start_nginx_with(&site);
    let (compliant, text) = scan(&stack, profile);
    assert!(compliant, "{fixture} with public_tls.profile={profile} fails Mozilla's {profile} profile:\n{text}");
    assert!(verdict(&text).contains("OK - Compliant"), "{text}");
}

#[test]
fn same_host_http_meets_the_intermediate_profile() {
    meets_profile(SAME_HOST, "intermediate");
}

#[test]
fn same_host_http_meets_the_modern_profile() {
    meets_profile(SAME_HOST, "modern");
}

#[test]
fn end_to_end_tls_meets_the_intermediate_profile() {
    meets_profile(END_TO_END, "intermediate");
}

#[test]
fn end_to_end_tls_meets_the_modern_profile() {
    meets_profile(END_TO_END, "modern");
}

/// A CA and an RSA 2048 certificate for `domain` (90 days), made with the openssl CLI:
/// the intermediate profile also allows RSA, whose suites an ECDSA scan never reaches.
fn rsa_public_tls(dir: &Path, domain: &str) -> PublicTls {
    let openssl = require_tool("openssl", "apt-get install openssl");
    std::fs::create_dir_all(dir).unwrap();
    let t = PublicTls { ca: dir.join("ca.pem"), cert: dir.join("fullchain.pem"), key: dir.join("privkey.pem") };
    let ext = dir.join("leaf.ext");
    std::fs::write(&ext, format!("subjectAltName=DNS:{domain}\nextendedKeyUsage=serverAuth\n")).unwrap();
    let (ca_key, csr) = (dir.join("ca.key"), dir.join("leaf.csr"));
    let steps: [Vec<&std::ffi::OsStr>; 3] = [
        vec![
            "req".as_ref(),
            "-x509".as_ref(),
            "-newkey".as_ref(),
            "ec".as_ref(),
            "-pkeyopt".as_ref(),
            "ec_paramgen_curve:prime256v1".as_ref(),
            "-nodes".as_ref(),
            "-days".as_ref(),
            "90".as_ref(),
            "-subj".as_ref(),
            "/CN=test RSA public CA".as_ref(),
            "-addext".as_ref(),
            "keyUsage=critical,keyCertSign,cRLSign".as_ref(),
            "-keyout".as_ref(),
            ca_key.as_os_str(),
            "-out".as_ref(),
            t.ca.as_os_str(),
        ],
        vec![
            "req".as_ref(),
            "-newkey".as_ref(),
            "rsa:2048".as_ref(),
            "-nodes".as_ref(),
            "-subj".as_ref(),
            "/CN=test".as_ref(),
            "-keyout".as_ref(),
            t.key.as_os_str(),
            "-out".as_ref(),
            csr.as_os_str(),
        ],
        vec![
            "x509".as_ref(),
            "-req".as_ref(),
            "-in".as_ref(),
            csr.as_os_str(),
            "-CA".as_ref(),
            t.ca.as_os_str(),
            "-CAkey".as_ref(),
            ca_key.as_os_str(),
            "-CAcreateserial".as_ref(),
            "-days".as_ref(),
            "90".as_ref(),
            "-extfile".as_ref(),
            ext.as_os_str(),
            "-out".as_ref(),
            t.cert.as_os_str(),
        ],
    ];
    for args in steps {
        let o = Command::new(&openssl).args(&args).output().unwrap();
        assert!(o.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    }
    t
}

#[test]
fn an_rsa_certificate_meets_the_intermediate_profile() {
    let mut stack = Stack::prepare(SAME_HOST, &[]);
    stack.public = rsa_public_tls(&stack.work.join("rsa-tls"), &stack.r.domain());
    let site = stack.site_text();
    stack.start_nginx_with(&site);
    let (compliant, text) = scan(&stack, "intermediate");
    assert!(compliant, "the site with an RSA certificate fails Mozilla's intermediate profile:\n{text}");
    assert!(text.contains("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"), "the scan negotiated the RSA suites:\n{text}");
}

/// The scan is a real gate: the site without its suite and group lines (OpenSSL's
/// defaults, as before the profile was rendered) fails it, naming what it accepts.
#[test]
fn the_scan_fails_a_site_on_openssl_defaults() {
    let mut stack = Stack::prepare(SAME_HOST, &[]);
    let site = stack.site_text();
    let weakened: String = site
        .lines()
        .filter(|l| !l.trim_start().starts_with("ssl_ciphers ") && !l.trim_start().starts_with("ssl_ecdh_curve "))
        .flat_map(|l| [l, "\n"])
        .collect();
    assert_ne!(weakened, site, "the rendered site has ssl_ciphers and ssl_ecdh_curve lines");
    stack.start_nginx_with(&weakened);
    let (compliant, text) = scan(&stack, "intermediate");
    assert!(!compliant, "a site on OpenSSL's default suites passed the scan:\n{text}");
    let found = verdict(&text);
    assert!(found.contains("* ciphers:") && found.contains("CBC"), "{found}");
    assert!(found.contains("* tls_curves:") && found.contains("X448"), "{found}");
}

/// The Strict-Transport-Security lines of one HTTPS response from the stack.
fn hsts_headers(stack: &Stack, path: &str) -> (String, Vec<String>) {
    let mut args = stack.curl_public_args();
    args.push(format!("https://{}:{}{path}", stack.r.domain(), stack.nginx().https_port));
    let response = curl(&args);
    let status = response.lines().next().unwrap_or_default().trim().to_string();
    let headers = response
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.to_ascii_lowercase().starts_with("strict-transport-security:"))
        .map(|l| l["strict-transport-security:".len()..].trim().to_string())
        .collect();
    (status, headers)
}

/// Paths that reach each kind of response of the public server: the hub's own answer
/// through the Mercure location (401: no token), the Symfony front controller (502
/// here: no php-fpm runs) and the 404 for other PHP files.
const PATHS: &[(&str, &str)] =
    &[("/.well-known/mercure", "HTTP/2 401"), ("/", "HTTP/2 502"), ("/other.php", "HTTP/2 404")];

fn assert_hsts(stack: &Stack, want: Option<&str>) {
    for (path, status) in PATHS {
        let (got_status, headers) = hsts_headers(stack, path);
        assert_eq!(&got_status, status, "{path}");
        match want {
            Some(value) => assert_eq!(headers, [value], "{path}: one Strict-Transport-Security header"),
            None => assert!(headers.is_empty(), "{path}: HSTS is off but the response has {headers:?}"),
        }
    }
}

#[test]
fn hsts_reaches_every_response_of_the_public_server() {
    let stack = Stack::start(SAME_HOST, &[]);
    assert_hsts(&stack, Some("max-age=63072000"));
    // Browsers ignore the header over plain HTTP: the :80 server does not send it.
    let http = curl(&[format!("http://127.0.0.1:{}/", stack.nginx().http_port)]);
    assert!(http.starts_with("HTTP/1.1 301"), "{http}");
    assert!(!http.to_ascii_lowercase().contains("strict-transport-security"), "{http}");

    let stack = Stack::start(END_TO_END, &["public_tls.hsts=31536000", "public_tls.hsts_include_subdomains=true"]);
    assert_hsts(&stack, Some("max-age=31536000; includeSubDomains"));
}

#[test]
fn hsts_off_sends_no_header() {
    let stack = Stack::start(SAME_HOST, &["public_tls.hsts=off"]);
    assert_hsts(&stack, None);
}
