//! The real tools accept every fixture's output: nginx, the Mercure hub,
//! systemd-analyze, openssl, Symfony's Dotenv (php) and `PyJWT` (python) each load
//! what `render` wrote for every fixture in `support::FIXTURES`. The runners are
//! the library's own (`mercure_setup::check`), so `check` runs exactly this.

use std::process::Command;

use mercure_setup::bundle::paths;
use mercure_setup::bundle_dir::BundleDir;
use mercure_setup::check::adapt;
use mercure_setup::check::{Outcome, tools};
use mercure_setup::deployment::HubLine;
use mercure_setup::formats as parse;

use crate::support::stack::{installed_http2_form, require_tool_sbin};
use crate::support::{FIXTURES, hub_binary, render_fixture, require_tool};

/// Renders every fixture once into its own temporary folder.
fn rendered() -> Vec<(&'static str, tempfile::TempDir, BundleDir)> {
    FIXTURES
        .iter()
        .map(|name| {
            let tmp = tempfile::tempdir().unwrap();
            let dir = tmp.path().join("bundle");
            render_fixture(name, &dir);
            let bundle = BundleDir::open(&dir).unwrap();
            (*name, tmp, bundle)
        })
        .collect()
}

fn assert_passed(fixture: &str, what: &str, outcome: &Outcome) {
    match outcome {
        Outcome::Passed { .. } => {}
        Outcome::NotRun { reason, install } => panic!("{fixture}: {what} not run: {reason}. Install with: {install}"),
        Outcome::Partial { detail, untested, install } => {
            panic!("{fixture}: {what} partial: {detail}; not tested: {untested}. Install: {install}")
        }
        Outcome::Failed { error, fix } => panic!("{fixture}: {what} failed: {error}\n(fix: {fix})"),
    }
}

fn hub_env(bundle: &BundleDir) -> std::collections::BTreeMap<String, String> {
    parse::parse_env(&bundle.read(paths::HUB_ENV).unwrap()).unwrap()
}

#[test]
fn nginx_t_accepts_every_fixture() {
    require_tool_sbin("nginx", "apt-get install nginx");
    for (name, _tmp, bundle) in rendered() {
        // Sites rendered for nginx >= 1.25.1 say `http2 on;`, which Debian 12's 1.22
        // does not know; only that spelling is changed for this nginx.
        let form = installed_http2_form();
        assert_passed(name, "nginx -t", &tools::nginx_test(&bundle, form));
    }
}

#[test]
fn the_real_hub_validates_every_fixture() {
    let hub = hub_binary();
    for (name, _tmp, bundle) in rendered() {
        let outcome = tools::real_hub_validate(&bundle, &hub);
        assert_passed(name, "mercure validate", &outcome);
        let Outcome::Passed { detail } = outcome else { unreachable!() };
        assert!(detail.contains("Mercure hub 0.24.2"), "{detail}");
    }
    // The check can fail: the hub refuses a key it cannot use.
    let (_, _tmp, bundle) = rendered().remove(0);
    let env = bundle.path(paths::HUB_ENV);
    let text = std::fs::read_to_string(&env).unwrap();
    let broken: String = text
        .lines()
        .map(|l| if l.starts_with("MERCURE_PUBLISHER_JWT_KEY=") { "MERCURE_PUBLISHER_JWT_KEY=" } else { l })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&env, broken).unwrap();
    match tools::real_hub_validate(&bundle, &hub) {
        Outcome::Failed { error, .. } => assert!(error.contains("JWT key"), "{error}"),
        other => panic!("an empty publisher key passed: {other:?}"),
    }
}

/// Without the hub installed, `check` still validates the rest of the Caddyfile with
/// Debian's Caddy (the `mercure` block stood in for) and reports it as partial, not passed.
#[test]
fn without_the_hub_caddy_checks_the_rest_and_says_so() {
    require_tool("caddy", "apt-get install caddy");
    for (name, _tmp, bundle) in rendered() {
        let outcome = tools::hub_validate(&bundle);
        let Outcome::Partial { detail, untested, .. } = outcome else { panic!("{name}: {outcome:?}") };
        assert!(detail.contains("the Mercure hub is not installed"), "{detail}");
        assert!(untested.contains("mercure { }"), "{untested}");
    }
}

#[test]
fn mercure_block_holds_only_known_directives() {
    for (name, _tmp, bundle) in rendered() {
        let caddyfile = bundle.read(paths::CADDYFILE).unwrap();
        let names = adapt::mercure_directives(&caddyfile).unwrap();
        assert!(names.len() >= 4, "{name}: suspiciously few directives: {names:?}");
        for (directive, line) in names {
            assert!(
                HubLine::default().facts().known_directives.contains(&directive.as_str()),
                "{name}: `{directive}` (line {line}) is not a Mercure 0.24 directive"
            );
        }
        assert_passed(name, "mercure directives", &tools::mercure_directives(&bundle));
    }
    // The check can fail: a directive the hub silently ignores is caught.
    let (_, _tmp, bundle) = rendered().remove(0);
    let path = bundle.path(paths::CADDYFILE);
    let text =
        std::fs::read_to_string(&path).unwrap().replace("\t\theartbeat", "\t\tuse_forwarded_headers\n\t\theartbeat");
    std::fs::write(&path, text).unwrap();
    assert!(
        matches!(tools::mercure_directives(&bundle), Outcome::Failed { error, .. } if error.contains("use_forwarded_headers"))
    );
}

#[test]
fn systemd_analyze_verify_prints_nothing_for_both_units() {
    require_tool("systemd-analyze", "apt-get install systemd");
    for (name, _tmp, bundle) in rendered() {
        // ExecStart is pointed at an existing binary in the staged copy (the hub is not installed here).
        assert_passed(name, "verify mercure.service", &tools::systemd_verify_hub(&bundle));
        assert_passed(name, "verify nginx drop-in", &tools::systemd_verify_nginx_drop_in(&bundle));
    }
}

#[test]
fn systemd_security_rates_the_hub_unit_ok() {
    require_tool("systemd-analyze", "apt-get install systemd");
    for (name, _tmp, bundle) in rendered() {
        let tmp = tempfile::tempdir().unwrap();
        let (unit, _) = tools::stage_unit(&bundle, tmp.path()).unwrap();
        let exposure = tools::systemd_exposure(&unit).unwrap_or_else(|o| panic!("{name}: {o:?}"));
        assert!(exposure <= 2.0, "{name}: exposure {exposure} > 2.0");
    }
}

/// `openssl x509 -text` of a certificate: an independent reading of its fields.
fn x509_text(path: &std::path::Path) -> String {
    let o = Command::new("openssl").args(["x509", "-noout", "-text", "-in"]).arg(path).output().unwrap();
    assert!(o.status.success());
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The value lines under an extension heading in `openssl x509 -text`.
fn extension(text: &str, heading: &str) -> String {
    let mut lines = text.lines().skip_while(|l| !l.trim().starts_with(heading));
    let head = lines.next().unwrap_or_else(|| panic!("no {heading} in:\n{text}"));
    format!("{} | {}", head.trim(), lines.next().unwrap_or_default().trim())
}

#[test]
fn openssl_verifies_the_hub_certificate_with_the_specified_fields() {
    require_tool("openssl", "apt-get install openssl");
    let mut tls_fixtures = 0;
    for (name, _tmp, bundle) in rendered().into_iter().filter(|(_, _, b)| b.wiring().private_ca) {
        tls_fixtures += 1;
        let (ca, hub) = (bundle.path(paths::CA_CERT), bundle.path(paths::HUB_CERT));
        let o = Command::new("openssl").arg("verify").arg("-CAfile").arg(&ca).arg(&hub).output().unwrap();
        assert!(o.status.success(), "{name}: {}", String::from_utf8_lossy(&o.stdout));
        assert!(String::from_utf8_lossy(&o.stdout).trim().ends_with(": OK"));

        let tls_name = bundle.answer("hub.tls_name").unwrap();
        let ca_text = x509_text(&ca);
        assert_eq!(
            extension(&ca_text, "X509v3 Basic Constraints"),
            "X509v3 Basic Constraints: critical | CA:TRUE, pathlen:0"
        );
        assert_eq!(extension(&ca_text, "X509v3 Key Usage"), "X509v3 Key Usage: critical | Certificate Sign, CRL Sign");
        assert!(ca_text.contains("ASN1 OID: prime256v1"), "{name}: CA is not P-256");
        let hub_text = x509_text(&hub);
        assert_eq!(extension(&hub_text, "X509v3 Basic Constraints"), "X509v3 Basic Constraints: critical | CA:FALSE");
        assert_eq!(extension(&hub_text, "X509v3 Key Usage"), "X509v3 Key Usage: critical | Digital Signature");
        assert!(extension(&hub_text, "X509v3 Extended Key Usage").ends_with("| TLS Web Server Authentication"));
        assert_eq!(
            extension(&hub_text, "X509v3 Subject Alternative Name"),
            format!(
                "X509v3 Subject Alternative Name: | DNS:{tls_name}, DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1"
            )
        );
        assert!(hub_text.contains("ASN1 OID: prime256v1"), "{name}: hub key is not P-256");
        assert_passed(name, "hub certificate", &tools::hub_certificate(&bundle));
    }
    assert!(tls_fixtures >= 2, "the fixtures must cover end-to-end-tls");
}

/// Parses `.env.local` and `mercure.env` with Symfony's Dotenv; prints both as JSON,
/// and for ES256 the public half of the private key `.env.local` points at.
const DOTENV_PHP: &str = r"
require_once 'Symfony/Component/Dotenv/autoload.php';
$d = new Symfony\Component\Dotenv\Dotenv();
$local = $d->parse(file_get_contents($argv[1]), $argv[1]);
$hub = $d->parse(file_get_contents($argv[2]), $argv[2]);
$derived = null;
if (isset($argv[3])) {
    $derived = openssl_pkey_get_details(openssl_pkey_get_private(file_get_contents($argv[3])))['key'];
}
echo json_encode(['local' => $local, 'hub' => $hub, 'derived_public' => $derived]);
";

#[test]
fn symfony_dotenv_yields_exactly_the_hub_secret() {
    let php = require_tool("php", "apt-get install php-cli php-symfony-dotenv");
    for (name, _tmp, bundle) in rendered() {
        let hmac = bundle.answer("jwt.algorithm").unwrap() != "ES256";
        let mut cmd = Command::new(&php);
        cmd.args(["-r", DOTENV_PHP, "--"]).arg(bundle.path(paths::ENV_LOCAL)).arg(bundle.path(paths::HUB_ENV));
        if !hmac {
            cmd.arg(bundle.path(paths::SYMFONY_PRIVATE_KEY));
        }
        let o = cmd.output().unwrap();
        assert!(
            o.status.success(),
            "{name}: php: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let hub_key = v["hub"]["MERCURE_PUBLISHER_JWT_KEY"].as_str().unwrap();
        assert_eq!(v["hub"]["MERCURE_SUBSCRIBER_JWT_KEY"].as_str().unwrap(), hub_key, "{name}");
        if hmac {
            let secret = v["local"]["MERCURE_JWT_SECRET"].as_str().unwrap();
            // Byte for byte the secret the bundle keeps, as Dotenv hands it to Symfony.
            let stored = bundle.read(".state/jwt-hmac.secret").unwrap();
            assert_eq!(secret, stored.trim_end(), "{name}: Dotenv changed the secret");
            assert_eq!(secret, hub_key, "{name}: .env.local and mercure.env disagree");
            assert!(secret.len() >= 64, "{name}: secret shorter than 64 characters");
        } else {
            let file = v["local"]["MERCURE_JWT_SECRET_FILE"].as_str().unwrap();
            assert!(file.ends_with("/config/jwt/mercure-private.pem"), "{name}: {file}");
            assert_eq!(v["derived_public"].as_str().unwrap().trim(), hub_key.trim(), "{name}: key pair halves differ");
        }
    }
}

/// Verifies a token with `PyJWT`, printing its claims.
const PYJWT: &str = r#"
import json, os, sys, jwt
claims = jwt.decode(os.environ["TOKEN"], os.environ["KEY"], algorithms=[os.environ["ALG"]])
print(json.dumps(claims))
"#;

#[test]
fn pyjwt_verifies_the_tokens_with_the_hub_key() {
    let python = require_tool("python3", "apt-get install python3-pip && pip install PyJWT cryptography");
    for (name, _tmp, bundle) in rendered() {
        let env = hub_env(&bundle);
        for (token_file, key_var, alg_var, grant) in [
            (paths::PUBLISHER_TOKEN, "MERCURE_PUBLISHER_JWT_KEY", "MERCURE_PUBLISHER_JWT_ALG", "publish"),
            (paths::SUBSCRIBER_TOKEN, "MERCURE_SUBSCRIBER_JWT_KEY", "MERCURE_SUBSCRIBER_JWT_ALG", "subscribe"),
        ] {
            let run = |key: &str| {
                Command::new(&python)
                    .args(["-c", PYJWT])
                    .env("TOKEN", bundle.read(token_file).unwrap().trim())
                    .env("KEY", key)
                    .env("ALG", &env[alg_var])
                    .output()
                    .unwrap()
            };
            let o = run(&env[key_var]);
            assert!(o.status.success(), "{name} {token_file}: {}", String::from_utf8_lossy(&o.stderr));
            let claims: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            assert_eq!(claims["mercure"][grant], serde_json::json!(["*"]), "{name} {token_file}");
            // And a wrong key is refused, so the verification above means something.
            if env[alg_var] != "ES256" {
                assert!(!run("x".repeat(64).as_str()).status.success(), "{name}: PyJWT accepted a wrong key");
            }
        }
    }
}
