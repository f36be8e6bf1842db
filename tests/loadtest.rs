//! `loadtest` on the real stack: every update reaches every subscriber when nginx
//! has room, connection failures are counted by class when it does not, and the
//! client names itself as the bottleneck when its own fd limit is too low.
//! The 5,000- and 10,000-subscriber runs are capacity measurements, `#[ignore]`d
//! here: they need a raised fd limit and a release build, which
//! scripts/loadtest-stack.sh sets up, and minutes of a machine to themselves.

use std::time::{Duration, Instant};

use mercure_setup::jwt::{Role, SigningKey, sign};
use mercure_setup::values::JwtAlgorithm;

use crate::support::loadstack::{
    Limits, PeakSampler, Usage, keep_report, loadtest_args, loadtest_args_with, run_loadtest, run_loadtest_args,
    start_nginx_limited, usage_of_tree,
};
use crate::support::stack::Stack;
use crate::support::{stderr, stdout};

const HTTP: &str = "same-host-http-hs256-nginx122.yaml";
const TLS: &str = "end-to-end-tls-hs256-nginx122.yaml";

fn json(o: &std::process::Output) -> serde_json::Value {
    serde_json::from_str(&stdout(o)).unwrap_or_else(|e| panic!("loadtest --json: {e}\n{}\n{}", stdout(o), stderr(o)))
}

#[test]
fn loadtest_delivers_every_update_to_200_subscribers() {
    let stack = Stack::start(TLS, &[]);
    let o = run_loadtest(&stack, &["--subscribers", "200", "--updates", "5", "--rate", "5", "--json"], None);
    let r = json(&o);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    assert_eq!(r["established"], 200, "{r:#}");
    assert_eq!(r["failed"], 0);
    assert_eq!(r["dropped"], 0);
    assert_eq!(r["published"], 5);
    assert_eq!(r["delivered"], 1000);
    assert_eq!(r["complete_subscribers"], 200);
    assert_eq!(r["per_subscriber_delivered"].as_array().unwrap().len(), 200);
    assert!(r["latency"]["p99_us"].as_u64().is_some_and(|us| us > 0 && us < 5_000_000), "{r:#}");
    assert!(r["client"]["rss_per_subscription_bytes"].as_u64().is_some_and(|b| b > 0), "{r:#}");
    // The progress bar went to stderr, the table is the default output.
    assert!(stderr(&o).contains("established"), "{}", stderr(&o));
    let table = run_loadtest(&stack, &["--subscribers", "20", "--updates", "2", "--rate", "10"], None);
    assert!(table.status.success(), "{}", stderr(&table));
    let text = stdout(&table);
    for needle in [
        "established                20",
        "delivered                  40 of 40",
        "p50 ",
        "bottleneck           none in the client",
    ] {
        assert!(text.contains(needle), "`{needle}` not in:\n{text}");
    }
}

/// `--http2`: each subscriber its own HTTP/2 connection through nginx, as browsers do.
#[test]
fn loadtest_over_http2_delivers_every_update() {
    for fixture in [HTTP, TLS] {
        let stack = Stack::start(fixture, &[]);
        let o =
            run_loadtest(&stack, &["--http2", "--subscribers", "100", "--updates", "3", "--rate", "5", "--json"], None);
        let r = json(&o);
        assert!(o.status.success(), "{fixture}: {}\n{}", stdout(&o), stderr(&o));
        assert_eq!(r["established"], 100, "{r:#}");
        assert_eq!(r["delivered"], 300, "{r:#}");
        // nginx served them over HTTP/2 (it logs a request when its stream ends).
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = stack.nginx().access_log();
            let h2 = log.lines().filter(|l| l.contains("topic=") && l.contains("HTTP/2.0")).count();
            if h2 >= 100 {
                break;
            }
            assert!(Instant::now() < deadline, "{fixture}: {h2} HTTP/2 subscriptions in nginx's log:\n{log}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    // Plain http:// cannot negotiate HTTP/2: a usage error, before anything runs.
    let stack = Stack::start(HTTP, &[]);
    let mut args = loadtest_args(&stack);
    args[2] = hub_url(&stack);
    let o = run_loadtest_args(args, &["--http2"], None);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--http2 needs an https://"), "{}", stderr(&o));
}

#[test]
fn loadtest_counts_failures_when_nginx_runs_out_of_connections() {
    let mut stack = Stack::start(HTTP, &[]);
    // 128 connections hold about 60 proxied subscribers: the rest must be reported, by class.
    start_nginx_limited(&mut stack, Limits { workers: 1, worker_connections: 128, rlimit_nofile: None });
    // Publish the way Symfony does in this topology (MERCURE_URL on loopback), so the
    // publisher is not among those nginx turns away.
    let hub = hub_url(&stack);
    let o = run_loadtest(
        &stack,
        &[
            "--subscribers",
            "150",
            "--updates",
            "2",
            "--rate",
            "5",
            "--connect-timeout",
            "5s",
            "--publish-url",
            &hub,
            "--json",
        ],
        None,
    );
    assert!(!o.status.success(), "loadtest must fail when subscribers are refused");
    let r = json(&o);
    let established = r["established"].as_u64().unwrap();
    let failed = r["failed"].as_u64().unwrap();
    assert_eq!(established + failed, 150, "{r:#}");
    assert!(failed > 0 && established > 0, "{r:#}");
    let kinds: Vec<&str> = r["failed_by_kind"].as_array().unwrap().iter().map(|k| k[0].as_str().unwrap()).collect();
    assert!(!kinds.contains(&"client_limit"), "the client is not the bottleneck here: {r:#}");
    assert!(r["client"]["bottlenecks"].as_array().unwrap().is_empty(), "{r:#}");
    assert_eq!(r["diagnosis"]["item"], 15, "the too-many-subscribers row: {r:#}");
    assert!(stack.nginx().error_log().contains("worker_connections are not enough"), "{}", stack.nginx().error_log());
}

#[test]
fn loadtest_names_its_own_fd_limit_as_the_bottleneck() {
    let stack = Stack::start(HTTP, &[]);
    let o = run_loadtest(
        &stack,
        &["--subscribers", "300", "--updates", "1", "--connect-timeout", "5s"],
        Some("ulimit -n 200;"),
    );
    assert!(!o.status.success());
    let text = stdout(&o);
    assert!(text.contains("BOTTLENECK (client)  RLIMIT_NOFILE"), "{text}");
    assert!(text.contains("client_limit"), "{text}");
    assert!(stderr(&o).contains("the client will be the bottleneck"), "{}", stderr(&o));
}

/// A token file signed with a key the hub does not hold (a secret that differs from
/// mercure/mercure.env, troubleshooting #11), granting `role` on every topic.
fn foreign_token(stack: &Stack, role: Role) -> std::path::PathBuf {
    let key = SigningKey::Hmac("not-the-hub-key-not-the-hub-key-not-the-hub-key".into());
    let token = sign(&key, JwtAlgorithm::HS256, role, &["*"]).unwrap();
    let path = stack.work.join(format!("foreign-{role:?}.jwt"));
    std::fs::write(&path, token).unwrap();
    path
}

#[test]
fn loadtest_fails_fast_when_the_hub_rejects_the_publisher_token() {
    let stack = Stack::start(HTTP, &[]);
    let bundle = stack.r.tmp.path().join("bundle");
    let args =
        loadtest_args_with(&stack, &foreign_token(&stack, Role::Publisher), &bundle.join("tokens/subscriber.jwt"));
    let extra = ["--subscribers", "3", "--updates", "3", "--duration", "60s"];
    let t = Instant::now();
    let o = run_loadtest_args(args.clone(), &[&extra[..], &["--json"]].concat(), None);
    // Stopped once the warm-up publishes failed, not after the 60 s --duration.
    assert!(t.elapsed() < Duration::from_secs(20), "took {:?}", t.elapsed());
    assert!(!o.status.success(), "nothing was published: must not pass\n{}\n{}", stdout(&o), stderr(&o));
    let r = json(&o);
    assert_eq!(r["published"], 0, "{r:#}");
    assert!(r["warmup_failures"].as_u64().is_some_and(|n| n >= 3), "{r:#}");
    assert_eq!(r["warmup_published"], 0, "{r:#}");
    // The hub answers 401 to a publisher token it cannot verify.
    let refused = |t: &str| t.contains("HTTP 401");
    assert!(refused(r["warmup_failure_example"].as_str().unwrap()), "{r:#}");
    assert!(refused(r["aborted"].as_str().unwrap()), "{r:#}");
    assert_eq!(r["publish_diagnosis"]["item"], 11, "the publish-401 row: {r:#}");
    assert!(stderr(&o).contains("warm-up publish failed: HTTP 40"), "{}", stderr(&o));

    let o = run_loadtest_args(args, &extra, None);
    assert!(!o.status.success());
    let text = stdout(&o);
    println!("{text}");
    assert!(!text.contains("100.00 %"), "no delivery claim over nothing published:\n{text}");
    for needle in [
        "STOPPED EARLY",
        "warm-up published           0 of",
        "published                   0 of 3",
        "troubleshooting #11: Publishing answers 401",
    ] {
        assert!(text.contains(needle), "`{needle}` not in:\n{text}");
    }
    assert!(stderr(&o).contains("stopped early") && refused(&stderr(&o)), "{}", stderr(&o));
}

#[test]
fn loadtest_blames_a_rejected_subscriber_token_not_worker_connections() {
    let stack = Stack::start(HTTP, &[]);
    let bundle = stack.r.tmp.path().join("bundle");
    let args =
        loadtest_args_with(&stack, &bundle.join("tokens/publisher.jwt"), &foreign_token(&stack, Role::Subscriber));
    let o = run_loadtest_args(
        args,
        &["--subscribers", "5", "--updates", "1", "--rate", "10", "--duration", "30s", "--json"],
        None,
    );
    assert!(!o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let r = json(&o);
    assert_eq!(r["established"], 0, "{r:#}");
    assert_eq!(r["failed"], 5, "{r:#}");
    let item = r["diagnosis"]["item"].as_u64().unwrap();
    assert!(item == 5 || item == 11, "a token problem, not #{item}: {r:#}");
    assert!(r["diagnosis"]["cause"].as_str().unwrap().contains("token"), "{r:#}");
}

/// The hub's loopback URL: where Symfony publishes in the same-host-http topology.
fn hub_url(stack: &Stack) -> String {
    format!("http://127.0.0.1:{}/.well-known/mercure", stack.r.hub_port())
}

/// One capacity run: `subscribers` through the whole stack of `fixture` with nginx at
/// `limits`, publishing where Symfony does (`MERCURE_URL`). Prints and keeps a report
/// with the load test's table and the servers' memory and CPU; returns the JSON.
fn capacity(name: &str, fixture: &str, limits: Limits, subscribers: u32, http2: bool) -> serde_json::Value {
    let expected = format!("nginx.expected_subscribers={subscribers}");
    let mut stack = Stack::start(fixture, &[&expected]);
    start_nginx_limited(&mut stack, limits);
    let mut extra = vec![
        "--subscribers".to_string(),
        subscribers.to_string(),
        "--updates".into(),
        "10".into(),
        "--rate".into(),
        "2".into(),
        "--concurrency".into(),
        "200".into(),
        "--duration".into(),
        "10m".into(),
        "--json".into(),
    ];
    if http2 {
        extra.push("--http2".into());
    }
    if !stack.r.bundle.wiring().hub_tls {
        // Symfony publishes to the hub on loopback in this topology.
        extra.extend(["--publish-url".into(), hub_url(&stack)]);
    }
    let (hub_pid, nginx_pid) = (stack.hub().guard.pid(), stack.nginx().guard.pid());
    let idle = (usage_of_tree(hub_pid), usage_of_tree(nginx_pid));
    let sampler = PeakSampler::start(vec![hub_pid, nginx_pid]);
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let o = run_loadtest(&stack, &extra, None);
    let peaks = sampler.finish();
    let busy = (usage_of_tree(hub_pid), usage_of_tree(nginx_pid));
    let r = json(&o);
    let per_sub = |peak: u64, idle: u64| (peak.saturating_sub(idle)) / u64::from(subscribers.max(1));
    let line = |name: &str, peak: Usage, idle: Usage, busy: Usage| {
        format!(
            "{name}: peak RSS {} MiB ({} B per subscriber over idle), peak fds {} ({:.2} per subscriber), CPU {:.1} s\n",
            peak.rss_bytes >> 20,
            per_sub(peak.rss_bytes, idle.rss_bytes),
            peak.fds,
            f64::from(u32::try_from(peak.fds.saturating_sub(idle.fds)).unwrap_or(u32::MAX)) / f64::from(subscribers),
            busy.cpu_secs - idle.cpu_secs,
        )
    };
    let servers = format!(
        "{}{}nginx {limits:?}\n",
        line("hub  ", peaks[0], idle.0, busy.0),
        line("nginx", peaks[1], idle.1, busy.1)
    );
    let protocol = if http2 { "HTTP/2" } else { "HTTP/1.1" };
    let report = format!("{fixture}, {subscribers} {protocol} subscribers\n{servers}{r:#}\n{}", stderr(&o));
    println!("{report}");
    keep_report(name, &report);
    r
}

/// 10,000 subscribers through nginx (the generated tuning, Debian's two workers) and
/// the real hub: every update reaches every subscriber.
fn capacity_10000(name: &str, fixture: &str, http2: bool) {
    let r = capacity(name, fixture, Limits::generated(10_000), 10_000, http2);
    assert_eq!(r["established"], 10_000, "{r:#}");
    assert_eq!(r["published"], 10, "{r:#}");
    assert_eq!(r["delivered"], 100_000, "{r:#}");
}

#[test]
#[ignore = "capacity measurement: needs ulimit -n 20000 and a release build; run by scripts/loadtest-stack.sh"]
fn capacity_10000_same_host_http() {
    capacity_10000("same-host-http-10000.txt", HTTP, false);
}

#[test]
#[ignore = "capacity measurement: needs ulimit -n 20000 and a release build; run by scripts/loadtest-stack.sh"]
fn capacity_10000_same_host_http_over_http2() {
    capacity_10000("same-host-http-10000-h2.txt", HTTP, true);
}

#[test]
#[ignore = "capacity measurement: needs ulimit -n 20000 and a release build; run by scripts/loadtest-stack.sh"]
fn capacity_10000_end_to_end_tls() {
    capacity_10000("end-to-end-tls-10000.txt", TLS, false);
}

#[test]
#[ignore = "capacity measurement: needs ulimit -n 20000 and a release build; run by scripts/loadtest-stack.sh"]
fn capacity_10000_end_to_end_tls_over_http2() {
    capacity_10000("end-to-end-tls-10000-h2.txt", TLS, true);
}

/// Debian's stock nginx.conf (`worker_connections 768` per worker) turns most of
/// 5,000 subscribers away, and the report says so.
#[test]
#[ignore = "capacity measurement: needs ulimit -n 20000 and a release build; run by scripts/loadtest-stack.sh"]
fn capacity_5000_with_stock_debian_nginx() {
    let r = capacity("stock-5000.txt", HTTP, Limits::debian_stock(), 5000, false);
    assert!(r["failed"].as_u64().is_some_and(|n| n > 2000), "{r:#}");
}

#[test]
#[ignore = "benchmark of the client, 10,000 streams: needs ulimit -n 20000 and a release build; run by scripts/loadtest-stack.sh"]
fn loadtest_10000_client_benchmark() {
    // Straight to the hub, so that the client is what is measured.
    let stack = Stack::start(HTTP, &[]);
    let hub = hub_url(&stack);
    let bundle = stack.r.tmp.path().join("bundle");
    let token = bundle.join("tokens/publisher.jwt");
    let o = std::process::Command::new(crate::support::bin())
        .args(["loadtest", "--public-url", &hub, "--token-file"])
        .arg(&token)
        .args(["--subscribers", "10000", "--updates", "5", "--rate", "1", "--concurrency", "300", "--duration", "8m"])
        .output()
        .unwrap();
    let table = stdout(&o);
    println!("{table}");
    keep_report("client-10000.txt", &format!("{table}\n{}", stderr(&o)));
    assert!(table.contains("established             10000"), "{table}\n{}", stderr(&o));
}

/// Mercure 1.0: with the bundle's 1.0 subscriber token loadtest subscribes with
/// `?match=` (strict 1.0 refuses `?topic=`), in the Authorization header, and every
/// update reaches every subscriber on both 1.0 lines.
#[test]
fn loadtest_delivers_every_update_on_mercure_1_0() {
    for fixture in ["end-to-end-tls-es256-hub10.yaml", "same-host-http-hs512-hub10compat.yaml"] {
        let stack = Stack::start(fixture, &[]);
        let o = run_loadtest(&stack, &["--subscribers", "50", "--updates", "3", "--rate", "5", "--json"], None);
        let r = json(&o);
        assert!(o.status.success(), "{fixture}: {}\n{}", stdout(&o), stderr(&o));
        assert_eq!(r["established"], 50, "{fixture}: {r:#}");
        assert_eq!(r["delivered"], 150, "{fixture}: {r:#}");
        let strict = !stack.r.bundle.hub().compat;
        let log = stack.nginx().access_log();
        let param = if strict { "match=" } else { "topic=" };
        assert!(log.lines().any(|l| l.contains(param)), "{fixture}: no {param} subscription in nginx's log:\n{log}");
    }
}
