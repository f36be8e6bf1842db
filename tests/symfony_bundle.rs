//! Symfony's side of a rendered bundle, read by `MercureBundle` 0.5.0's own configuration
//! tree (`Configuration.php` from the release archive in the shared upstream folder,
//! extracted at test time; Debian's php-symfony-config processes it): the `mercure.yaml`
//! of every line is accepted, the 1.0 one with `protocol_version: '1.0'` and the
//! claims the 1.0 hub checks. Publishing with Debian's Symfony Mercure component to the
//! real 1.0 hub is in `hub10`.

use std::path::PathBuf;
use std::process::Command;

use mercure_setup::bundle::paths;

use crate::support::stack::Rendered;
use crate::support::{FIXTURES, HUB10_FIXTURES, require_tool, stderr, stdout};

const BUNDLE_ARCHIVE: &str = "mercure-bundle-0.5.0.tar.gz";

/// `MercureBundle` 0.5.0's `src/`, extracted from the upstream archive into `dir`.
fn bundle_src(dir: &std::path::Path) -> PathBuf {
    let upstream = std::env::var_os("MERCURE_UPSTREAM")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/upstream"), PathBuf::from);
    let archive = upstream.join(BUNDLE_ARCHIVE);
    assert!(
        archive.is_file(),
        "{} is missing: the shared upstream folder beside the checkout holds it",
        archive.display()
    );
    let o = Command::new(require_tool("tar", "apt-get install tar"))
        .arg("-xzf")
        .arg(&archive)
        .arg("-C")
        .arg(dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "tar: {}", stderr(&o));
    dir.join("mercure-bundle-0.5.0/src")
}

/// The processed configuration as JSON, or the bundle's error.
fn process(src: &std::path::Path, yaml: &std::path::Path) -> Result<serde_json::Value, String> {
    let php = require_tool("php", "apt-get install php-cli php-symfony-config php-symfony-yaml");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/bundle_config.php");
    let o = Command::new(php).arg(script).arg(src).arg(yaml).output().unwrap();
    if o.status.success() {
        Ok(serde_json::from_str(&stdout(&o)).unwrap_or_else(|e| panic!("{e}: {}", stdout(&o))))
    } else {
        Err(format!("{}{}", stdout(&o), stderr(&o)))
    }
}

#[test]
fn mercure_bundle_0_5_accepts_every_rendered_mercure_yaml() {
    let tmp = tempfile::tempdir().unwrap();
    let src = bundle_src(tmp.path());
    for name in FIXTURES.iter().chain(HUB10_FIXTURES) {
        let r = Rendered::new(name, &[]);
        let yaml = r.bundle.path(paths::SYMFONY_YAML);
        let config = process(&src, &yaml).unwrap_or_else(|e| panic!("{name}: MercureBundle 0.5.0 refused it: {e}"));
        let hub = &config["hubs"]["default"];
        let facts = r.bundle.hub();
        if facts.tokens == mercure_setup::deployment::TokenShape::Rfc9068 {
            let domain = r.domain();
            assert_eq!(hub["protocol_version"], "1.0", "{name}");
            assert_eq!(hub["jwt"]["claims"]["iss"], format!("https://{domain}"), "{name}");
            assert_eq!(hub["jwt"]["claims"]["aud"], format!("https://{domain}/.well-known/mercure"), "{name}");
            assert!(hub["jwt"]["claims"]["sub"].is_string() && hub["jwt"]["claims"]["client_id"].is_string(), "{name}");
        } else {
            // 0.24 and compatibility mode keep the 0.x protocol (the bundle's default).
            assert_eq!(hub["protocol_version"], "0.x", "{name}");
        }
        assert_eq!(hub["jwt"]["publish"], serde_json::json!(["*"]), "{name}");
    }
}

/// The tree does refuse what it does not know: the check above can fail.
#[test]
fn mercure_bundle_0_5_refuses_an_unknown_protocol_version() {
    let tmp = tempfile::tempdir().unwrap();
    let src = bundle_src(tmp.path());
    let r = Rendered::new(HUB10_FIXTURES[0], &[]);
    let text =
        r.bundle.read(paths::SYMFONY_YAML).unwrap().replace("protocol_version: '1.0'", "protocol_version: '2.0'");
    let yaml = tmp.path().join("mercure.yaml");
    std::fs::write(&yaml, text).unwrap();
    let e = process(&src, &yaml).unwrap_err();
    assert!(e.contains("protocol_version") && e.contains("2.0"), "{e}");
}
