//! The `render` and `init` commands as a user runs them: exit codes, messages,
//! what lands in the output folder, and what a re-render keeps.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::support::{files_in, fixture, render_fixture, run, stderr, stdout};

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn render_args<'a>(answers: &'a str, out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["render", "--answers", answers, "--out", out];
    args.extend_from_slice(extra);
    args
}

#[test]
fn init_writes_every_key_with_its_help() {
    let o = run(&["init", "--topology", "end-to-end-tls"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    for q in mercure_setup::questions::QUESTIONS {
        let leaf = q.key.rsplit('.').next().unwrap();
        assert!(text.contains(&format!("{leaf}:")), "init output lacks {}", q.key);
        assert!(text.contains(q.help), "init output lacks the help of {}", q.key);
    }
    assert!(text.contains("topology: 'end-to-end-tls'"));

    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("answers.yaml");
    let f = file.to_str().unwrap();
    assert!(run(&["init", "--out", f]).status.success());
    fs::write(&file, "mine").unwrap();
    let o = run(&["init", "--out", f]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    assert_eq!(fs::read_to_string(&file).unwrap(), "mine");
}

#[test]
fn init_output_needs_only_a_domain_to_render() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("answers.yaml");
    assert!(run(&["init", "--output", file.to_str().unwrap()]).status.success());
    let text = fs::read_to_string(&file).unwrap().replace("domain:   # required", "domain: app.example.com");
    fs::write(&file, text).unwrap();
    let out = tmp.path().join("bundle");
    let o = run(&render_args(file.to_str().unwrap(), out.to_str().unwrap(), &[]));
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn render_writes_the_bundle_with_secret_modes() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("bundle");
    let o =
        run(&render_args(fixture("end-to-end-tls-hs256-nginx122.yaml").to_str().unwrap(), out.to_str().unwrap(), &[]));
    assert!(o.status.success(), "{}", stderr(&o));
    for (path, want) in [
        ("INSTALL.md", 0o644),
        ("answers.yaml", 0o644),
        ("nginx/app.example.com.conf", 0o644),
        ("systemd/nginx.service.d/mercure-limits.conf", 0o644),
        ("systemd/mercure.service", 0o644),
        ("mercure/Caddyfile", 0o644),
        ("mercure/mercure.env", 0o600),
        ("mercure/tls/ca.crt", 0o644),
        ("mercure/tls/hub.crt", 0o644),
        ("mercure/tls/hub.key", 0o600),
        ("symfony/.env.local", 0o600),
        ("symfony/config/packages/mercure.yaml", 0o644),
        ("tokens/publisher.jwt", 0o600),
        ("tokens/subscriber.jwt", 0o600),
        (".state/pki/ca.key", 0o600),
        (".state", 0o700),
        ("tokens", 0o700),
    ] {
        assert_eq!(mode(&out.join(path)), want, "{path}");
    }
    // Secrets never reach the terminal.
    let secret = fs::read_to_string(out.join(".state/jwt-hmac.secret")).unwrap();
    let secret = secret.trim();
    assert!(secret.len() >= 64);
    let env = fs::read_to_string(out.join("mercure/mercure.env")).unwrap();
    assert!(env.contains(&format!("MERCURE_PUBLISHER_JWT_KEY={secret}\n")));
    for text in [stdout(&o), stderr(&o)] {
        assert!(!text.contains(secret), "secret printed");
        assert!(!text.contains("PRIVATE KEY"), "key printed");
    }
    // The server's size for the expected subscribers (1000 in this fixture), TLS to the hub.
    let sizing = mercure_setup::sizing::Sizing::for_subscribers(1000, true);
    let text = stdout(&o);
    assert!(
        text.contains(&format!("sizing: memory: about {} MiB for nginx and the hub at 1000", sizing.total_mib)),
        "{text}"
    );
    assert!(text.contains("sizing: kernel: net.core.somaxconn = 4096"), "{text}");
    let unit = fs::read_to_string(out.join("systemd/mercure.service")).unwrap();
    assert!(unit.contains(&format!("\nEnvironment=GOMEMLIMIT={}MiB\n", sizing.hub_memory_limit_mib)), "{unit}");
}

#[test]
fn rerender_keeps_secrets_and_rotation_replaces_them() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("bundle");
    let answers = fixture("end-to-end-tls-es256-cors-nginx126.yaml");
    let (a, o) = (answers.to_str().unwrap(), out.to_str().unwrap());
    assert!(run(&render_args(a, o, &[])).status.success());
    let first = files_in(&out);

    let again = run(&render_args(a, o, &[]));
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(stdout(&again).contains(" 0 new, 0 updated,"), "{}", stdout(&again));
    assert_eq!(files_in(&out), first, "a re-render changed files");

    assert!(run(&render_args(a, o, &["--rotate-secrets"])).status.success());
    let rotated = files_in(&out);
    for path in [
        "mercure/mercure.env",
        "mercure/tls/ca.crt",
        "mercure/tls/hub.crt",
        "mercure/tls/hub.key",
        "symfony/config/jwt/mercure-private.pem",
        "tokens/publisher.jwt",
    ] {
        assert_ne!(rotated[path], first[path], "{path} kept after --rotate-secrets");
    }
    assert_eq!(rotated["mercure/Caddyfile"], first["mercure/Caddyfile"]);
}

#[test]
fn expiring_hub_certificate_is_renewed_and_the_ca_kept() {
    use mercure_setup::pki;
    use mercure_setup::values::Domain;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("bundle");
    render_fixture("end-to-end-tls-hs256-nginx122.yaml", &out);
    let ca = fs::read_to_string(out.join(".state/pki/ca.crt")).unwrap();
    let ca_key = fs::read_to_string(out.join(".state/pki/ca.key")).unwrap();
    // A certificate issued 380 days ago has about 17 days left.
    let then = time::OffsetDateTime::now_utc() - time::Duration::days(380);
    let (old_cert, old_key) =
        pki::new_hub_cert(&ca, &ca_key, &Domain::parse("mercure.internal").unwrap(), then).unwrap();
    fs::write(out.join(".state/pki/hub.crt"), &old_cert).unwrap();
    fs::write(out.join(".state/pki/hub.key"), &old_key).unwrap();

    let o =
        run(&render_args(fixture("end-to-end-tls-hs256-nginx122.yaml").to_str().unwrap(), out.to_str().unwrap(), &[]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("issued a new hub certificate"), "{}", stderr(&o));
    let new_cert = fs::read_to_string(out.join("mercure/tls/hub.crt")).unwrap();
    assert_ne!(new_cert.trim(), old_cert.trim());
    let info = pki::inspect(&new_cert).unwrap();
    assert!(info.not_after - time::OffsetDateTime::now_utc() > time::Duration::days(300));
    assert_eq!(fs::read_to_string(out.join(".state/pki/ca.crt")).unwrap(), ca);
}

#[test]
fn hand_edited_files_are_kept_without_force() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("bundle");
    render_fixture("same-host-http-hs256-nginx122.yaml", &out);
    let site = out.join("nginx/app.example.com.conf");
    fs::write(&site, "# my own tuning\n").unwrap();
    let before = files_in(&out);

    let answers = fixture("same-host-http-hs256-nginx122.yaml");
    let (a, o) = (answers.to_str().unwrap(), out.to_str().unwrap());
    let refused = run(&render_args(a, o, &["--set", "hub.port=3100"]));
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).contains("nginx/app.example.com.conf"), "{}", stderr(&refused));
    assert_eq!(files_in(&out), before, "a refused render changed files");

    let forced = run(&render_args(a, o, &["--set", "hub.port=3100", "--force"]));
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert!(fs::read_to_string(&site).unwrap().contains("proxy_pass http://127.0.0.1:3100;"));
}

#[test]
fn dry_run_shows_a_diff_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("bundle");
    render_fixture("same-host-http-hs256-nginx122.yaml", &out);
    let before = files_in(&out);
    let answers = fixture("same-host-http-hs256-nginx122.yaml");
    let o =
        run(&render_args(answers.to_str().unwrap(), out.to_str().unwrap(), &["--set", "hub.port=3100", "--dry-run"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("updated          0644 nginx/app.example.com.conf"), "{text}");
    assert!(text.contains("-        proxy_pass http://127.0.0.1:3000;"), "{text}");
    assert!(text.contains("+        proxy_pass http://127.0.0.1:3100;"), "{text}");
    assert!(text.contains("(secret: contents not shown)"), "{text}");
    let secret = String::from_utf8(before[".state/jwt-hmac.secret"].clone()).unwrap();
    assert!(!text.contains(secret.trim()));
    assert_eq!(files_in(&out), before);
}

/// Renders `yaml` into a fresh folder and expects exit 2 with each of `expected` in stderr.
fn assert_rejected(yaml: &str, sets: &[&str], expected: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let answers = tmp.path().join("answers.yaml");
    fs::write(&answers, yaml).unwrap();
    let out = tmp.path().join("bundle");
    let mut extra = Vec::new();
    for s in sets {
        extra.extend(["--set", s]);
    }
    let o = run(&render_args(answers.to_str().unwrap(), out.to_str().unwrap(), &extra));
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{yaml:?}: {err}");
    for e in expected {
        assert!(err.contains(e), "{yaml:?}: expected {e:?} in:\n{err}");
    }
    assert!(!out.exists(), "{yaml:?}: the output folder was created");
}

#[test]
fn bad_input_names_the_key_and_line_and_writes_nothing() {
    assert_rejected(
        "domain: a.com;include /etc/passwd\n",
        &[],
        &[
            "invalid answers (1 problem)",
            "answers.yaml:1:1: domain: `a.com;include /etc/passwd` contains `;`, which is not allowed",
        ],
    );
    assert_rejected(
        "domain: a.com\nhub:\n  cors_origins:\n    - \"https://b.com\\nadd_header X 1\"\n",
        &[],
        &["answers.yaml:3:3: hub.cors_origins: `https://b.com\\nadd_header X 1` contains a newline"],
    );
    assert_rejected(
        "domain: a.com\nhub:\n  cors_origins: [https://b.com/]\n",
        &[],
        &["answers.yaml:3:3: hub.cors_origins: `https://b.com/` ends with `/`"],
    );
    assert_rejected(
        "domain: a.com\nhub:\n  port: 80\n",
        &[],
        &["answers.yaml:3:3: hub.port: 80 is nginx's public port"],
    );
    assert_rejected(
        "domain: a.com\nhub:\n  prot: 3100\n",
        &[],
        &["answers.yaml:3:3: hub.prot: unknown key; did you mean `hub.port`?"],
    );
    assert_rejected(
        "domain: a.com\nhub:\n  port: [1, 2]\n",
        &[],
        &["answers.yaml:3:3: hub.port: expected a single value"],
    );
    assert_rejected("domain: a.com\nhub: [\n", &[], &["answers.yaml:3:1: (file): not valid YAML at line 3"]);
    assert_rejected(
        "domain: a.com\nhub:\n  publish_origins: ['*']\n",
        &[],
        &["hub.publish_origins: `*` would let any web page publish"],
    );
    assert_rejected("domain: a.com\n", &["hub.port=443"], &["--set hub.port: 443 is nginx's public port"]);
    assert_rejected("domain: a.com\n", &["hub.admn=off"], &["--set hub.admn: unknown key; did you mean `hub.admin`?"]);
}

#[test]
fn every_problem_is_reported_at_once() {
    assert_rejected(
        "topology: same-host-tls\ndomain: -bad-\nhub:\n  port: 70000\n  heartbeat: 2h\njwt:\n  algorithm: RS256\n",
        &[],
        &[
            "invalid answers (5 problems)",
            "answers.yaml:1:1: topology:",
            "answers.yaml:2:1: domain:",
            "answers.yaml:4:3: hub.port:",
            "answers.yaml:5:3: hub.heartbeat:",
            "answers.yaml:7:3: jwt.algorithm:",
        ],
    );
}

#[test]
fn wildcard_cors_renders_with_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let answers = tmp.path().join("answers.yaml");
    fs::write(&answers, "domain: a.com\nhub:\n  cors_origins: ['*']\n").unwrap();
    let out = tmp.path().join("bundle");
    let o = run(&render_args(answers.to_str().unwrap(), out.to_str().unwrap(), &[]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("warning: hub.cors_origins: `*`"), "{}", stderr(&o));
}

#[test]
fn missing_answers_file_is_a_usage_error() {
    let o = run(&["render", "--answers", "/nonexistent/answers.yaml", "--out", "/tmp/unused-mercure-bundle"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cannot read answers file /nonexistent/answers.yaml"));
}

#[test]
fn resolved_answers_file_renders_the_same_bundle() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("bundle");
    render_fixture("same-host-http-hs512-cors-nginx126.yaml", &out);
    let before = files_in(&out);
    let resolved = out.join("answers.yaml");
    let o = run(&render_args(resolved.to_str().unwrap(), out.to_str().unwrap(), &[]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(files_in(&out), before);
}
