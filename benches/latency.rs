//! Benchmark: publish-to-receive latency of 200 updates published by Symfony's
//! Mercure component, received through nginx with the generated config vs
//! subscribing to the real Mercure hub directly, on the same real
//! stack the end-to-end tests use, for both topologies.
//!
//! Run with `cargo bench --bench latency`. Prints p50 and p99 of both paths and
//! their ratio (target: under 1.2). Both subscribers receive the same updates at
//! the same time, so the comparison is not skewed by load changing between runs.

// The shared test support fails by panicking, as tests do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Duration;

use support::stack::{HttpVersion, Stack, Subscriber, epoch_secs};

const UPDATES: usize = 200;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    // Nearest-rank percentile.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// Latencies in ms of every `data: bench SEQ T` line the subscriber printed.
fn latencies(sub: &mut Subscriber) -> Vec<f64> {
    sub.drain(Duration::from_secs(2));
    let mut out: Vec<f64> = sub
        .seen
        .iter()
        .filter_map(|l| {
            let rest = l.text.strip_prefix("data: bench ")?;
            let sent: f64 = rest.split_whitespace().nth(1)?.parse().ok()?;
            Some((epoch_secs(l.at) - sent) * 1000.0)
        })
        .collect();
    out.sort_by(f64::total_cmp);
    out
}

fn topology(fixture: &str) {
    let stack = Stack::start(fixture, &[]);
    let token = stack.r.token("tokens/subscriber.jwt");
    let topic = "https://example.com/bench";
    let mut via_nginx = stack.subscribe(topic, HttpVersion::Http2, Some(&token));
    let hub_port = stack.r.hub_port();
    let mut direct_args = vec!["-H".to_string(), format!("Authorization: Bearer {token}")];
    if stack.r.bundle.wiring().hub_tls {
        let name = stack.r.bundle.answer("hub.tls_name").unwrap();
        direct_args.extend([
            "--resolve".into(),
            format!("{name}:{hub_port}:127.0.0.1"),
            "--cacert".into(),
            stack.r.bundle.path("mercure/tls/ca.crt").to_string_lossy().into_owned(),
            format!("https://{name}:{hub_port}/.well-known/mercure?topic={}", support::stack::urlencode(topic)),
        ]);
    } else {
        direct_args.push(format!(
            "http://127.0.0.1:{hub_port}/.well-known/mercure?topic={}",
            support::stack::urlencode(topic)
        ));
    }
    let mut direct = Subscriber::start(&direct_args);
    via_nginx.until_subscribed();
    direct.until_subscribed();

    let published = stack.publish(topic, "bench {seq} {t}", false, UPDATES);
    assert!(published.status.success(), "publish: {}", String::from_utf8_lossy(&published.stderr));
    let nginx = latencies(&mut via_nginx);
    let hub = latencies(&mut direct);
    assert_eq!(nginx.len(), UPDATES, "updates received through nginx");
    assert_eq!(hub.len(), UPDATES, "updates received from the hub directly");
    let (n50, n99, h50, h99) =
        (percentile(&nginx, 50.0), percentile(&nginx, 99.0), percentile(&hub, 50.0), percentile(&hub, 99.0));
    println!(
        "{fixture}: {UPDATES} updates\n  through nginx: p50 {n50:.2} ms  p99 {n99:.2} ms\n  hub directly:  p50 {h50:.2} ms  \
         p99 {h99:.2} ms\n  ratio nginx/direct: p50 {:.2}  p99 {:.2}  (target < 1.2)",
        n50 / h50,
        n99 / h99
    );
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument picks one topology.
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    for fixture in ["same-host-http-hs256-nginx122.yaml", "end-to-end-tls-hs256-nginx122.yaml"] {
        if filter.as_deref().is_none_or(|f| fixture.contains(f)) {
            topology(fixture);
        }
    }
}
