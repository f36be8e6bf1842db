//! `mercure-setup explain`: each topic's plain text (stdout is a pipe here) is
//! snapshot-tested, symptoms find their troubleshooting rows, and a word that is
//! neither is a usage error.

use crate::support::{run, stderr, stdout};

#[test]
fn every_topic_matches_its_snapshot() {
    for topic in ["", "same-host-http", "end-to-end-tls", "hub-versions", "troubleshooting"] {
        let args: Vec<&str> = std::iter::once("explain").chain((!topic.is_empty()).then_some(topic)).collect();
        let o = run(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        let text = stdout(&o);
        assert!(!text.contains('\x1b'), "plain text when piped");
        let name = if topic.is_empty() { "overview" } else { topic };
        insta::assert_snapshot!(format!("explain_{name}"), text);
    }
}

#[test]
fn troubleshooting_names_what_is_generated_for_every_entry() {
    let text = stdout(&run(&["explain", "troubleshooting"]));
    assert_eq!(text.matches("mercure-setup generates:").count(), 20);
    for needle in ["SSL alert number 80", "proxy_read_timeout 1h", "worker_connections", "REDACTED"] {
        assert!(text.contains(needle), "{needle}");
    }
}

#[test]
fn unknown_topic_is_a_usage_error() {
    let o = run(&["explain", "kubernetes"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("same-host-http, end-to-end-tls, hub-versions or troubleshooting"), "{err}");
    assert!(err.contains("502, 504, 401, late, 60s, cors"), "{err}");
}

/// Which hub line to choose today and what 1.0 changes for Symfony and nginx.
#[test]
fn explain_hub_versions_recommends_the_stable_release() {
    let flat = |t: String| t.split_whitespace().collect::<Vec<_>>().join(" ");
    let text = flat(stdout(&run(&["explain", "hub-versions"])));
    for needle in [
        "0.24 (0.24.2) is the stable release and the one to choose today",
        "1.0 is an alpha",
        "issuer https://DOMAIN",
        "?match=",
        "MercureBundle 0.5",
        "protocol_version_compatibility 8",
        "checks no token's aud, typ or exp",
        "oauth-protected-resource",
    ] {
        assert!(text.contains(needle), "{needle}:\n{text}");
    }
}

/// Which topology to choose, where Symfony publishes and what expires.
#[test]
fn explain_recommends() {
    let flat = |t: String| t.split_whitespace().collect::<Vec<_>>().join(" ");
    let overview = flat(stdout(&run(&["explain"])));
    assert!(overview.contains("Which to choose") && overview.contains("same-host-http is the default because"));
    let tls = flat(stdout(&run(&["explain", "end-to-end-tls"])));
    for needle in
        ["Where Symfony publishes", "reach its own public name", "valid for 397 days", "render the bundle again"]
    {
        assert!(tls.contains(needle), "{needle}:\n{tls}");
    }
}

/// `explain SYMPTOM` prints the rows whose symptom or cause has every word, each once.
#[test]
fn symptoms_find_their_rows() {
    for (words, rows) in [
        (&["502"][..], &[1, 2, 3, 4, 16][..]),
        (&["504"], &[8]),
        (&["401"], &[5, 11, 20]),
        (&["late"], &[7]),
        (&["60s"], &[8]),
        (&["cors"], &[10]),
        (&["alert", "80"], &[2]),
        (&["alert 80"], &[2]),
    ] {
        let o = run(&std::iter::once("explain").chain(words.iter().copied()).collect::<Vec<_>>());
        assert!(o.status.success(), "{words:?}: {}", stderr(&o));
        let text = stdout(&o);
        let shown: Vec<u8> =
            text.lines().filter_map(|l| l.split_once(". ").and_then(|(n, _)| n.parse().ok())).collect();
        assert_eq!(shown, rows, "{words:?}:\n{text}");
        assert!(text.contains("Fix: ") && text.contains("mercure-setup generates: "), "{text}");
    }
    insta::assert_snapshot!("explain_symptom_502", stdout(&run(&["explain", "502"])));
}
