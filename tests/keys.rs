//! Every key of the question table round-trips a value other than its default: given
//! in an answers file or with `--set`, `render` validates it, keeps it in the
//! answers, and writes it back to the bundle's `answers.yaml`. A key the question
//! table names but the answers never read (or never write back) fails here.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use mercure_setup::answers_file;
use mercure_setup::bundle::paths;
use mercure_setup::deployment::Topology;
use mercure_setup::questions::{Basis, QUESTIONS, RawValue};
use mercure_setup::values::Domain;

use crate::support::{run, stderr};

/// The domain every case renders for (unless the case is `domain` itself).
const DOMAIN: &str = "keys.example.org";

/// A valid value for each key that is no topology's default.
const EXAMPLES: &[(&str, &str)] = &[
    ("topology", "end-to-end-tls"),
    ("domain", "other.example.net"),
    ("public_tls.certificate", "/etc/ssl/keys/fullchain.pem"),
    ("public_tls.certificate_key", "/etc/ssl/keys/privkey.pem"),
    ("public_tls.acme_webroot", "/srv/acme"),
    ("public_tls.profile", "modern"),
    ("public_tls.hsts", "31536000"),
    ("public_tls.hsts_include_subdomains", "true"),
    ("hub.port", "4123"),
    ("hub.tls_name", "hub.internal.test"),
    ("hub.admin", "off"),
    ("hub.heartbeat", "25s"),
    ("hub.history_size", "500"),
    ("hub.binary", "/opt/mercure/bin/mercure"),
    ("hub.version", "1.0-compat"),
    ("hub.user", "mercurehub"),
    ("hub.anonymous", "true"),
    ("hub.subscriptions", "true"),
    ("hub.cors_origins", "https://admin.example.org,https://ops.example.org"),
    ("hub.publish_origins", "https://app.example.org"),
    ("jwt.algorithm", "ES256"),
    ("symfony.project_dir", "/srv/app"),
    ("symfony.php_fpm", "127.0.0.1:9000"),
    ("nginx.version", "1.24.0"),
    ("nginx.expected_subscribers", "5000"),
];

fn raw(key: &str, text: &str) -> RawValue {
    if mercure_setup::answers::is_list_key(key) {
        RawValue::List(text.split(',').map(str::to_string).collect())
    } else {
        RawValue::Scalar(text.to_string())
    }
}

/// The answers file that gives `key` (nested under its section) and the domain.
fn answers_file_with(key: &str, value: &RawValue) -> String {
    let yaml_value = match value {
        RawValue::Scalar(s) => format!("\"{s}\""),
        RawValue::List(items) => {
            format!("[{}]", items.iter().map(|i| format!("\"{i}\"")).collect::<Vec<_>>().join(", "))
        }
    };
    let mut text = String::from("version: 1\n");
    if key != "domain" {
        let _ = writeln!(text, "domain: {DOMAIN}");
    }
    let _ = match key.split_once('.') {
        Some((section, leaf)) => writeln!(text, "{section}:\n  {leaf}: {yaml_value}"),
        None => writeln!(text, "{key}: {yaml_value}"),
    };
    text
}

/// What the bundle's `answers.yaml` says for `key`.
fn written_back(out: &Path, key: &str) -> RawValue {
    let text = std::fs::read_to_string(out.join(paths::ANSWERS)).unwrap();
    let draft = answers_file::parse(&text, "answers.yaml").unwrap();
    draft.given(key).unwrap_or_else(|| panic!("answers.yaml has no `{key}`:\n{text}")).clone()
}

#[test]
fn every_key_round_trips_a_value_other_than_its_default() {
    let keys: BTreeSet<&str> = QUESTIONS.iter().map(|q| q.key).collect();
    let examples: BTreeSet<&str> = EXAMPLES.iter().map(|(k, _)| *k).collect();
    assert_eq!(keys, examples, "every key in the question table needs an example here (and only those)");

    let tmp = tempfile::tempdir().unwrap();
    for (key, text) in EXAMPLES {
        let want = raw(key, text);
        let q = QUESTIONS.iter().find(|q| q.key == *key).unwrap();
        for topology in [Topology::SameHostHttp, Topology::EndToEndTls] {
            let basis = Basis { topology, domain: Some(Domain::parse(DOMAIN).unwrap()) };
            assert_ne!((q.default)(&basis), want, "{key}: the example must not be a default");
        }

        // Through an answers file.
        let file = tmp.path().join(format!("{key}.yaml"));
        std::fs::write(&file, answers_file_with(key, &want)).unwrap();
        let out = tmp.path().join(format!("{key}-file"));
        let o = run(&["render", "--answers", file.to_str().unwrap(), "--out", out.to_str().unwrap()]);
        assert!(o.status.success(), "{key} in an answers file: {}", stderr(&o));
        assert_eq!(written_back(&out, key), want, "{key}: given in an answers file");

        // Through --set (lists comma-separated), on top of a file that gives only the domain.
        let base = tmp.path().join("domain-only.yaml");
        std::fs::write(&base, format!("version: 1\ndomain: {DOMAIN}\n")).unwrap();
        let out = tmp.path().join(format!("{key}-set"));
        let set = format!("{key}={text}");
        let o = run(&["render", "--answers", base.to_str().unwrap(), "--set", &set, "--out", out.to_str().unwrap()]);
        assert!(o.status.success(), "--set {set}: {}", stderr(&o));
        assert_eq!(written_back(&out, key), want, "{key}: given with --set");
    }
}
