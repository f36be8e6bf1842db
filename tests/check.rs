//! `mercure-setup check`: passes on a fresh bundle of every fixture, fails (exit 1)
//! naming both files when one file is edited out of step with another, explains a
//! version mismatch, fails when the public site is edited below its Mozilla TLS
//! profile, and is a usage error (exit 2) on a folder that is no bundle.

use std::path::Path;

use crate::support::{FIXTURES, fixture, hub_binary, run, stderr, stdout};

fn render(name: &str, dir: &Path, sets: &[&str]) {
    let answers = fixture(name);
    let mut args = vec!["render", "--answers", answers.to_str().unwrap(), "--out", dir.to_str().unwrap()];
    for s in sets {
        args.extend(["--set", s]);
    }
    let o = run(&args);
    assert!(o.status.success(), "render {name}: {}", stderr(&o));
}

fn check_json(dir: &Path) -> (i32, serde_json::Value) {
    let o = run(&["check", dir.to_str().unwrap(), "--json"]);
    let report = serde_json::from_str(&stdout(&o)).unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&o), stderr(&o)));
    (o.status.code().unwrap(), report)
}

fn failed(report: &serde_json::Value) -> Vec<(String, Vec<String>, String)> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "failed")
        .map(|c| {
            let files = c["files"].as_array().unwrap().iter().map(|f| f.as_str().unwrap().to_string()).collect();
            (c["id"].as_str().unwrap().to_string(), files, c["error"].as_str().unwrap().to_string())
        })
        .collect()
}

/// The failed checks other than `lint-edited`, after asserting that it names `file`:
/// every hand edit is reported as one, besides what the edit breaks.
fn failed_besides_the_edit(report: &serde_json::Value, file: &str) -> Vec<(String, Vec<String>, String)> {
    let (edited, rest): (Vec<_>, Vec<_>) = failed(report).into_iter().partition(|f| f.0 == "lint-edited");
    assert_eq!(edited.len(), 1, "the hand edit is named: {edited:?}");
    assert_eq!(edited[0].1, [file]);
    rest
}

#[test]
fn passes_on_a_fresh_bundle_of_every_fixture() {
    for name in FIXTURES {
        let tmp = tempfile::tempdir().unwrap();
        // Rendered for this machine's nginx, as `nginx.version: auto` does in production,
        // and for the real hub where `hub.binary` says it is installed.
        let hub = format!("hub.binary={}", hub_binary().display());
        render(name, tmp.path(), &["nginx.version=auto", &hub]);
        let o = run(&["check", tmp.path().to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{name}:\n{}{}", stdout(&o), stderr(&o));
        let text = stdout(&o);
        assert!(text.contains(" 0 failed, 0 skipped"), "{name}:\n{text}");
        assert!(text.contains("the Mercure hub 0.24.2"), "{name}: the real hub validated the Caddyfile:\n{text}");
        let (code, report) = check_json(tmp.path());
        assert_eq!(code, 0);
        assert!(report["passed"].as_u64().unwrap() >= 11, "{report}");
    }
}

#[test]
fn a_changed_secret_fails_naming_both_files() {
    let tmp = tempfile::tempdir().unwrap();
    render("same-host-http-hs256-nginx122.yaml", tmp.path(), &[]);
    let env_local = tmp.path().join("symfony/.env.local");
    let text =
        std::fs::read_to_string(&env_local).unwrap().replace("MERCURE_JWT_SECRET=", "MERCURE_JWT_SECRET=changed");
    std::fs::write(&env_local, text).unwrap();
    let (code, report) = check_json(tmp.path());
    assert_eq!(code, 1);
    let failed = failed(&report);
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert_eq!(
        failed[1],
        (
            "lint-edited".into(),
            vec!["symfony/.env.local".into()],
            "symfony/.env.local: edited since the last render".into()
        )
    );
    let (id, files, error) = &failed[0];
    assert_eq!(id, "jwt-keys");
    assert_eq!(files, &["symfony/.env.local", "mercure/mercure.env"]);
    assert!(error.contains("symfony/.env.local") && error.contains("mercure/mercure.env"), "{error}");
    // The human report names them too, and the process says it failed.
    let o = run(&["check", tmp.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("FAILED") && stdout(&o).contains("symfony/.env.local, mercure/mercure.env"));
    assert!(stderr(&o).contains("2 checks failed"), "{}", stderr(&o));
}

#[test]
fn a_wrong_port_in_nginx_fails_naming_both_files() {
    let tmp = tempfile::tempdir().unwrap();
    render("end-to-end-tls-hs256-nginx122.yaml", tmp.path(), &[]);
    let site = tmp.path().join("nginx/app.example.com.conf");
    let text = std::fs::read_to_string(&site).unwrap().replace("https://127.0.0.1:8443;", "https://127.0.0.1:8444;");
    std::fs::write(&site, text).unwrap();
    let (code, report) = check_json(tmp.path());
    assert_eq!(code, 1);
    let failed = failed(&report);
    let hub = failed.iter().find(|(id, _, _)| id == "hub-address").unwrap_or_else(|| panic!("{failed:?}"));
    assert_eq!(hub.1, ["nginx/app.example.com.conf", "mercure/Caddyfile"]);
    assert!(hub.2.contains(":8444") && hub.2.contains(":8443"), "{}", hub.2);
}

#[test]
fn a_proxy_ssl_name_outside_the_certificate_fails() {
    let tmp = tempfile::tempdir().unwrap();
    render("end-to-end-tls-hs256-nginx122.yaml", tmp.path(), &[]);
    let site = tmp.path().join("nginx/app.example.com.conf");
    let text = std::fs::read_to_string(&site)
        .unwrap()
        .replace("proxy_ssl_name mercure.internal;", "proxy_ssl_name hub.internal;");
    std::fs::write(&site, text).unwrap();
    let (code, report) = check_json(tmp.path());
    assert_eq!(code, 1);
    let failed = failed(&report);
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert_eq!(failed[0].0, "hub-tls-name");
    assert_eq!(failed[1].0, "lint-edited");
    assert_eq!(failed[0].1, ["nginx/app.example.com.conf", "mercure/tls/hub.crt"]);
}

#[test]
fn a_site_edited_to_weaker_tls_fails_naming_the_profile() {
    let tmp = tempfile::tempdir().unwrap();
    render("same-host-http-hs256-nginx122.yaml", tmp.path(), &[]);
    let site = tmp.path().join("nginx/app.example.com.conf");
    let text = std::fs::read_to_string(&site)
        .unwrap()
        .replace("ssl_protocols TLSv1.2 TLSv1.3;", "ssl_protocols TLSv1.1 TLSv1.2 TLSv1.3;")
        .replace(
            "ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:",
            "ssl_ciphers ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES128-GCM-SHA256:",
        );
    std::fs::write(&site, text).unwrap();
    let (code, report) = check_json(tmp.path());
    assert_eq!(code, 1);
    let failed = failed_besides_the_edit(&report, "nginx/app.example.com.conf");
    assert_eq!(failed.len(), 1, "nginx -t accepts the edit; only the profile check fails: {failed:?}");
    let (id, files, error) = &failed[0];
    assert_eq!((id.as_str(), files.as_slice()), ("tls-profile", ["nginx/app.example.com.conf".to_string()].as_slice()));
    assert!(error.contains("enables TLSv1.1, which weakens Mozilla's intermediate TLS profile"), "{error}");
    assert!(
        error.contains("accepts ECDHE-RSA-AES128-SHA, which weakens Mozilla's intermediate TLS profile"),
        "{error}"
    );

    // A bundle rendered for `modern` names its own profile.
    let tmp = tempfile::tempdir().unwrap();
    render("same-host-http-hs256-nginx122.yaml", tmp.path(), &["public_tls.profile=modern"]);
    let site = tmp.path().join("nginx/app.example.com.conf");
    let text = std::fs::read_to_string(&site).unwrap();
    assert!(text.contains("ssl_protocols TLSv1.3;") && !text.contains("ssl_ciphers"), "{text}");
    std::fs::write(&site, text.replace("ssl_protocols TLSv1.3;", "ssl_protocols TLSv1.2 TLSv1.3;")).unwrap();
    let (code, report) = check_json(tmp.path());
    assert_eq!(code, 1);
    let modern = failed_besides_the_edit(&report, "nginx/app.example.com.conf");
    assert_eq!(modern.len(), 1, "{modern:?}");
    assert!(modern[0].2.contains("enables TLSv1.2, which weakens Mozilla's modern TLS profile"), "{}", modern[0].2);

    // A location with a header of its own loses the server's Strict-Transport-Security.
    let tmp = tempfile::tempdir().unwrap();
    render("same-host-http-hs256-nginx122.yaml", tmp.path(), &[]);
    let site = tmp.path().join("nginx/app.example.com.conf");
    let text = std::fs::read_to_string(&site).unwrap();
    let edited = text.replace(
        "    location / {\n        try_files",
        "    location / {\n        add_header X-Frame-Options DENY;\n        try_files",
    );
    assert_ne!(edited, text);
    std::fs::write(&site, edited).unwrap();
    let (code, report) = check_json(tmp.path());
    assert_eq!(code, 1);
    let headers = failed_besides_the_edit(&report, "nginx/app.example.com.conf");
    assert_eq!(headers.len(), 1, "{headers:?}");
    assert!(headers[0].2.contains("location / (line "), "{}", headers[0].2);
    assert!(headers[0].2.contains("drops the server's Strict-Transport-Security"), "{}", headers[0].2);
}

#[test]
fn a_site_for_a_newer_nginx_fails_with_the_tools_own_error() {
    let Some(installed) = mercure_setup::host::installed_nginx_version() else {
        panic!("`nginx` is not installed; install it with: apt-get install nginx");
    };
    let tmp = tempfile::tempdir().unwrap();
    render("same-host-http-hs512-cors-nginx126.yaml", tmp.path(), &[]);
    let (code, report) = check_json(tmp.path());
    let nginx = report["checks"].as_array().unwrap().iter().find(|c| c["id"] == "nginx").unwrap().clone();
    if installed < mercure_setup::values::NginxVersion::HTTP2_DIRECTIVE {
        assert_eq!(code, 1);
        assert_eq!(nginx["status"], "failed");
        assert!(nginx["error"].as_str().unwrap().contains("unknown directive \"http2\""), "{nginx}");
        assert!(
            nginx["error"].as_str().unwrap().contains("nginx/shop.example.org.conf:"),
            "names the bundle file: {nginx}"
        );
        assert!(nginx["fix"].as_str().unwrap().contains("nginx.version"), "{nginx}");
    } else {
        assert_eq!(nginx["status"], "passed", "{nginx}");
    }
}

#[test]
fn a_folder_that_is_no_bundle_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let o = run(&["check", tmp.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("not a mercure-setup bundle"), "{}", stderr(&o));
    let o = run(&["check", "/nonexistent/bundle"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn a_relative_folder_is_checked_like_an_absolute_one() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bundle");
    render("end-to-end-tls-hs256-nginx122.yaml", &dir, &["nginx.version=auto"]);
    // `check .` from inside the bundle, as INSTALL.md's readers would run it.
    let o = std::process::Command::new(crate::support::bin())
        .args(["check", "."])
        .current_dir(&dir)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
}

/// Caddy standing in for a missing hub checks only part of the Caddyfile: `partial`,
/// which passes (exit 0) unless `--strict`.
#[test]
fn a_check_on_a_stand_in_is_partial_and_strict_fails_it() {
    crate::support::require_tool("caddy", "apt-get install caddy");
    let tmp = tempfile::tempdir().unwrap();
    render(
        "same-host-http-hs256-nginx122.yaml",
        tmp.path(),
        &["nginx.version=auto", "hub.binary=/nonexistent/mercure"],
    );
    // No `mercure` on this PATH, so the hub is missing and Caddy stands in.
    let check = |extra: &[&str]| {
        std::process::Command::new(crate::support::bin())
            .arg("check")
            .arg(tmp.path())
            .args(extra)
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    let o = check(&[]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("  partial  hub validates the Caddyfile:"), "{text}");
    assert!(text.contains("not tested: the `mercure { }` block"), "{text}");
    assert!(text.contains(" 1 partial, 0 failed"), "{text}");
    let o = check(&["--json"]);
    let report: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let hub = report["checks"].as_array().unwrap().iter().find(|c| c["id"] == "hub-validate").unwrap();
    assert_eq!(hub["status"], "partial", "{hub}");
    assert_eq!(report["partial"], 1);
    let o = check(&["--strict"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stderr(&o).contains("1 check only partial (--strict)"), "{}", stderr(&o));
}

/// Bundles for Mercure 1.0 pass `check` with the real 1.0 hub's `validate` (`hub.version:
/// auto` resolves to 1.0 from that binary), and a hub of the other line is named as the
/// problem rather than run on a Caddyfile it would refuse.
#[test]
fn mercure_1_0_bundles_pass_with_the_1_0_hub_and_name_a_hub_of_the_other_line() {
    use crate::support::{HUB10_FIXTURES, HUB10_RELEASE, hub_binary_of};
    let hub10 = format!("hub.binary={}", hub_binary_of(HUB10_RELEASE).display());
    for name in HUB10_FIXTURES {
        let tmp = tempfile::tempdir().unwrap();
        render(name, tmp.path(), &["nginx.version=auto", &hub10]);
        let o = run(&["check", tmp.path().to_str().unwrap()]);
        let text = stdout(&o);
        assert_eq!(o.status.code(), Some(0), "{name}:\n{text}{}", stderr(&o));
        assert!(text.contains(&format!("the Mercure hub {HUB10_RELEASE}")), "{name}:\n{text}");
        assert!(text.contains("all known to Mercure 1.0"), "{name}:\n{text}");
    }
    // auto asks the binary: the 1.0 hub gives a 1.0 bundle.
    let tmp = tempfile::tempdir().unwrap();
    render(FIXTURES[0], tmp.path(), &[&hub10]);
    let answers = std::fs::read_to_string(tmp.path().join("answers.yaml")).unwrap();
    assert!(answers.contains("version: '1.0'"), "{answers}");
    // A 0.24 bundle checked against the 1.0 hub: the mismatch is the failure.
    let tmp = tempfile::tempdir().unwrap();
    render(FIXTURES[0], tmp.path(), &["hub.version=0.24", &hub10]);
    let (code, report) = check_json(tmp.path());
    assert_eq!(code, 1);
    let failed = failed(&report);
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        failed[0].2.contains("refuses this bundle's Caddyfile") && failed[0].2.contains("hub.version=1.0"),
        "{failed:?}"
    );
}
