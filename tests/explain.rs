//! `mercure-setup explain`: each topic's plain text (stdout is a pipe here) is
//! snapshot-tested, and an unknown topic is a usage error.

use crate::support::{run, stderr, stdout};

#[test]
fn every_topic_matches_its_snapshot() {
    for topic in ["", "same-host-http", "end-to-end-tls", "troubleshooting"] {
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
    assert_eq!(text.matches("mercure-setup generates:").count(), 15);
    for needle in ["SSL alert number 80", "proxy_read_timeout 1h", "worker_connections", "REDACTED"] {
        assert!(text.contains(needle), "{needle}");
    }
}

#[test]
fn unknown_topic_is_a_usage_error() {
    let o = run(&["explain", "websockets"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("same-host-http, end-to-end-tls or troubleshooting"));
}
