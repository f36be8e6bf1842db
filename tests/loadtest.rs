//! `loadtest` on the real stack: every update reaches every subscriber when nginx
//! has room, connection failures are counted by class when it does not, and the
//! client names itself as the bottleneck when its own fd limit is too low.
//! The 5,000- and 10,000-subscriber runs are capacity measurements, `#[ignore]`d
//! here: they need a raised fd limit and a release build, which
//! scripts/loadtest-stack.sh sets up, and minutes of a machine to themselves.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use mercure_setup::jwt::{Role, SigningKey, sign};
use mercure_setup::values::JwtAlgorithm;

use crate::support::loadstack::{
    GoMem, Limits, PeakSampler, Rollup, admin_get, go_mem, keep_report, keep_report_bytes, loadtest_args,
    loadtest_args_with, rollup_of_tree, run_loadtest, run_loadtest_args, start_nginx_limited, start_nginx_limited_site,
    usage_of_tree,
};
use crate::support::stack::{Stack, start_hub_env, unit_environment};
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

/// `--processes`: the subscribers spread over child processes, one merged report.
#[test]
fn loadtest_spreads_subscribers_over_processes() {
    let stack = Stack::start(HTTP, &[]);
    let hub = hub_url(&stack);
    let args = ["--subscribers", "150", "--processes", "3", "--updates", "3", "--rate", "5", "--publish-url", &hub];
    let o = run_loadtest(&stack, &[&args[..], &["--json"]].concat(), None);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let r = json(&o);
    assert_eq!(r["subscribers"], 150, "{r:#}");
    assert_eq!(r["established"], 150, "{r:#}");
    // Each process published its 3 updates to its own 50 subscribers.
    assert_eq!(r["published"], 9, "{r:#}");
    assert_eq!(r["delivered"], 450, "{r:#}");
    let each: Vec<u64> =
        r["processes"].as_array().unwrap().iter().map(|p| p["established"].as_u64().unwrap()).collect();
    assert_eq!(each, vec![50, 50, 50], "{r:#}");
    let table = run_loadtest(&stack, &args, None);
    assert!(table.status.success(), "{}", stderr(&table));
    assert!(stdout(&table).contains("processes                  3"), "{}", stdout(&table));
    let o = run_loadtest(&stack, &["--processes", "2", "--report", "r.html"], None);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
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

/// Which bundle a capacity run serves: today's on main (the tuning below stripped
/// from the rendered files) or the tuned one, so that one run compares both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    Main,
    Tuned,
}

/// The nginx directives the tuned bundle renders for the subscriber location and
/// that main's did not: the `Main` variant drops their lines from the site.
const SITE_TUNING: &[&str] = &["ssl_buffer_size", "proxy_buffer_size"];
/// The unit's `Environment=` variables for the Go runtime that main's did not set.
const UNIT_TUNING: &[&str] = &["GOMEMLIMIT"];

/// The site as main rendered it: the tuned site without the `SITE_TUNING` lines.
fn untuned_site(site: &str) -> String {
    for d in SITE_TUNING {
        assert!(site.lines().any(|l| l.trim_start().starts_with(&format!("{d} "))), "{d} is no longer rendered");
    }
    let tuning = |l: &str| SITE_TUNING.iter().any(|d| l.trim_start().starts_with(&format!("{d} ")));
    site.lines().filter(|l| !tuning(l)).flat_map(|l| [l, "\n"]).collect()
}

/// Subscribers for the capacity runs: 10,000 unless `MERCURE_CAPACITY_SUBSCRIBERS` says
/// otherwise (scripts/capacity.sh uses it for quicker or larger runs).
fn capacity_subscribers() -> u32 {
    std::env::var("MERCURE_CAPACITY_SUBSCRIBERS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000)
}

/// Memory of both servers while every subscriber is connected and idle between updates.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
struct Plateau {
    nginx: Rollup,
    hub: Rollup,
    go: GoMem,
}

/// Takes one [`Plateau`] once the hub holds a connection per subscriber (plus
/// `baseline_fds`) and a second has passed, so the ramp-up's garbage is not counted.
fn plateau_watch(
    hub_pid: u32,
    nginx_pid: u32,
    admin: String,
    want_fds: u64,
) -> (std::sync::Arc<std::sync::atomic::AtomicBool>, std::thread::JoinHandle<Option<Plateau>>) {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    let handle = std::thread::spawn(move || {
        while !flag.load(std::sync::atomic::Ordering::Relaxed) {
            if usage_of_tree(hub_pid).fds >= want_fds {
                std::thread::sleep(Duration::from_secs(1));
                let go = go_mem(&admin).unwrap_or_default();
                return Some(Plateau { nginx: rollup_of_tree(nginx_pid), hub: rollup_of_tree(hub_pid), go });
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        None
    });
    (stop, handle)
}

/// What one capacity run measured, per subscriber in bytes (deltas over the idle servers).
#[derive(Debug, Clone, serde::Serialize)]
struct Measured {
    variant: String,
    path: String,
    subscribers: u32,
    established: u64,
    delivered: u64,
    p50_us: u64,
    p99_us: u64,
    /// nginx's proportional set size (shared pages charged once) at the plateau.
    nginx_pss: u64,
    /// The hub's resident set at the plateau.
    hub_rss: u64,
    /// Both peak resident sets, sampled every 250 ms through the run (ramp-up included).
    nginx_peak_rss: u64,
    hub_peak_rss: u64,
    hub_heap_inuse: u64,
    hub_stack_inuse: u64,
    hub_goroutines_per_subscriber: f64,
    hub_gc_goal: u64,
    idle: Plateau,
    plateau: Option<Plateau>,
    nginx_fds: u64,
    hub_fds: u64,
}

impl Measured {
    fn both(&self) -> u64 {
        self.nginx_pss + self.hub_rss
    }
}

/// One capacity run: `subscribers` through the whole stack of `fixture` (the `variant`
/// bundle) with nginx at `limits`, publishing where Symfony does (`MERCURE_URL`), the
/// hub's admin API on a loopback port for its pprof endpoints. Prints and keeps a
/// report with the load test's JSON and the servers' memory; returns the figures.
#[allow(clippy::too_many_lines, clippy::cast_precision_loss)]
fn capacity(name: &str, fixture: &str, limits: Limits, subscribers: u32, http2: bool, variant: Variant) -> Measured {
    let expected = format!("nginx.expected_subscribers={subscribers}");
    let mut stack = Stack::prepare(fixture, &[&expected]);
    let admin = format!("127.0.0.1:{}", crate::support::free_port());
    let caddyfile = stack.hub_caddyfile();
    assert!(caddyfile.contains("\tadmin off\n"), "{caddyfile}");
    let caddyfile = caddyfile.replace("\tadmin off\n", &format!("\tadmin {admin}\n"));
    let mut env = unit_environment(&stack.r);
    if variant == Variant::Main {
        for v in UNIT_TUNING {
            assert!(env.iter().any(|(k, _)| k == v), "{v} is no longer in the unit");
        }
        env.retain(|(k, _)| !UNIT_TUNING.contains(&k.as_str()));
    }
    stack.hub = Some(start_hub_env(&stack.r, &caddyfile, stack.r.hub_port(), &stack.hub_state(), &env));
    let site = match variant {
        Variant::Main => untuned_site(&stack.site_text()),
        Variant::Tuned => stack.site_text(),
    };
    start_nginx_limited_site(&mut stack, limits, &site);
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
    // Let both servers settle (Caddy's first GCs, nginx's workers) before the baseline.
    std::thread::sleep(Duration::from_secs(2));
    let idle = (usage_of_tree(hub_pid), usage_of_tree(nginx_pid));
    let idle_plateau = Plateau {
        nginx: rollup_of_tree(nginx_pid),
        hub: rollup_of_tree(hub_pid),
        go: go_mem(&admin).unwrap_or_default(),
    };
    assert!(idle_plateau.go.goroutines > 0, "no pprof from the hub's admin API at {admin}");
    let sampler = PeakSampler::start(vec![hub_pid, nginx_pid]);
    let (stop, watch) = plateau_watch(hub_pid, nginx_pid, admin.clone(), idle.0.fds + u64::from(subscribers));
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let o = run_loadtest(&stack, &extra, None);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let plateau = watch.join().unwrap();
    let peaks = sampler.finish();
    let mut r = json(&o);
    // One count per subscriber: too long for the report.
    r["per_subscriber_delivered"] = serde_json::Value::Null;
    let n = u64::from(subscribers.max(1));
    let per = |now: u64, before: u64| now.saturating_sub(before) / n;
    let (nginx_pss, hub_rss) =
        plateau.map_or((0, 0), |p| (per(p.nginx.pss, idle_plateau.nginx.pss), per(p.hub.rss, idle_plateau.hub.rss)));
    let go = plateau.map(|p| p.go).unwrap_or_default();
    let m = Measured {
        variant: format!("{variant:?}").to_lowercase(),
        path: format!("{fixture} {}", if http2 { "HTTP/2" } else { "HTTP/1.1" }),
        subscribers,
        established: r["established"].as_u64().unwrap_or(0),
        delivered: r["delivered"].as_u64().unwrap_or(0),
        p50_us: r["latency"]["p50_us"].as_u64().unwrap_or(0),
        p99_us: r["latency"]["p99_us"].as_u64().unwrap_or(0),
        nginx_pss,
        hub_rss,
        nginx_peak_rss: per(peaks[1].rss_bytes, idle.1.rss_bytes),
        hub_peak_rss: per(peaks[0].rss_bytes, idle.0.rss_bytes),
        hub_heap_inuse: per(go.heap_inuse, idle_plateau.go.heap_inuse),
        hub_stack_inuse: per(go.stack_inuse, idle_plateau.go.stack_inuse),
        hub_goroutines_per_subscriber: go.goroutines.saturating_sub(idle_plateau.go.goroutines) as f64 / n as f64,
        hub_gc_goal: go.next_gc,
        idle: idle_plateau,
        plateau,
        nginx_fds: peaks[1].fds,
        hub_fds: peaks[0].fds,
    };
    // The hub's heap profile, for `go tool pprof -top` (scripts/capacity.sh).
    if let Some(profile) = admin_get(&admin, "/debug/pprof/heap") {
        keep_report_bytes(&format!("{name}.heap.pb.gz"), &profile);
    }
    let report = format!(
        "{} {subscribers} subscribers, {variant:?} bundle, nginx {limits:?}\n{}\n{r:#}\n{}",
        m.path,
        serde_json::to_string_pretty(&m).unwrap(),
        stderr(&o)
    );
    println!("{report}");
    keep_report(&format!("{name}.txt"), &report);
    keep_report(&format!("{name}.json"), &serde_json::to_string_pretty(&m).unwrap());
    m
}

/// `subscribers` (10,000 by default) through nginx (the generated tuning, Debian's two
/// workers) and the real hub, first with main's bundle and then with the tuned one:
/// every update reaches every subscriber in both, and the memory each subscriber costs
/// is printed side by side.
#[allow(clippy::cast_precision_loss)]
fn capacity_compare(name: &str, fixture: &str, http2: bool) {
    let n = capacity_subscribers();
    let runs: Vec<Measured> = [Variant::Main, Variant::Tuned]
        .into_iter()
        .map(|v| capacity(&format!("{name}-{n}-{v:?}").to_lowercase(), fixture, Limits::generated(n), n, http2, v))
        .collect();
    let kb = |b: u64| format!("{:.1}", b as f64 / 1024.0);
    let mut table = format!("{}, {n} subscribers: per subscriber      main     tuned\n", runs[0].path);
    let mut row = |label: &str, f: &dyn Fn(&Measured) -> String| {
        let _ = writeln!(table, "  {label:<36}{:>9} {:>9}", f(&runs[0]), f(&runs[1]));
    };
    row("nginx KB (PSS, idle plateau)", &|m| kb(m.nginx_pss));
    row("hub KB (RSS, idle plateau)", &|m| kb(m.hub_rss));
    row("both KB", &|m| kb(m.both()));
    row("both KB (peak RSS over the run)", &|m| kb(m.nginx_peak_rss + m.hub_peak_rss));
    row("hub heap in use KB", &|m| kb(m.hub_heap_inuse));
    row("hub goroutine stacks KB", &|m| kb(m.hub_stack_inuse));
    row("hub goroutines", &|m| format!("{:.2}", m.hub_goroutines_per_subscriber));
    row("latency p99 ms", &|m| format!("{:.1}", m.p99_us as f64 / 1000.0));
    row("delivered", &|m| m.delivered.to_string());
    println!("{table}");
    keep_report(&format!("{name}-{n}-compare.txt"), &table);
    for m in &runs {
        assert_eq!(m.established, u64::from(n), "{m:#?}");
        assert_eq!(m.delivered, u64::from(n) * 10, "{m:#?}");
    }
}

#[test]
#[ignore = "capacity measurement, not a check: minutes of a quiet machine, ulimit -n 20000 and a release build (scripts/loadtest-stack.sh sets them up and runs it); the same path at small sizes runs in CI (loadtest_*)"]
fn capacity_10000_same_host_http() {
    capacity_compare("same-host-http", HTTP, false);
}

#[test]
#[ignore = "capacity measurement, not a check: minutes of a quiet machine, ulimit -n 20000 and a release build (scripts/loadtest-stack.sh sets them up and runs it); the same path at small sizes runs in CI (loadtest_*)"]
fn capacity_10000_same_host_http_over_http2() {
    capacity_compare("same-host-http-h2", HTTP, true);
}

#[test]
#[ignore = "capacity measurement, not a check: minutes of a quiet machine, ulimit -n 20000 and a release build (scripts/loadtest-stack.sh sets them up and runs it); the same path at small sizes runs in CI (loadtest_*)"]
fn capacity_10000_end_to_end_tls() {
    capacity_compare("end-to-end-tls", TLS, false);
}

#[test]
#[ignore = "capacity measurement, not a check: minutes of a quiet machine, ulimit -n 20000 and a release build (scripts/loadtest-stack.sh sets them up and runs it); the same path at small sizes runs in CI (loadtest_*)"]
fn capacity_10000_end_to_end_tls_over_http2() {
    capacity_compare("end-to-end-tls-h2", TLS, true);
}

/// Debian's stock nginx.conf (`worker_connections 768` per worker) turns most of
/// 5,000 subscribers away, and the report says so.
#[test]
#[ignore = "capacity measurement, not a check: minutes of a quiet machine, ulimit -n 20000 and a release build (scripts/loadtest-stack.sh sets them up and runs it); the same path at small sizes runs in CI (loadtest_*)"]
fn capacity_5000_with_stock_debian_nginx() {
    let m = capacity("stock-5000", HTTP, Limits::debian_stock(), 5000, false, Variant::Tuned);
    assert!(m.established < 3000, "{m:#?}");
}

/// The descriptor limit of process `pid` (its soft `Max open files`).
fn nofile_of(pid: u32) -> u64 {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap_or_default();
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3)?.parse().ok())
        .unwrap_or(0)
}

/// Where this machine stops: `MERCURE_CEILING_SUBSCRIBERS` (24,000 by default, more
/// than one process may hold here) through the tuned same-host-http stack over
/// HTTP/1.1, the client spread over `--processes 3`. Reports who ran out first: the
/// hub's or an nginx worker's descriptors (their figures against their limits), the
/// ephemeral ports of the nginx -> hub hop, or memory.
#[test]
#[ignore = "capacity measurement, not a check: finds where this machine stops (24,000 subscribers, minutes, all its descriptors); run by scripts/loadtest-stack.sh ceiling"]
fn capacity_ceiling() {
    let n: u32 = std::env::var("MERCURE_CEILING_SUBSCRIBERS").ok().and_then(|v| v.parse().ok()).unwrap_or(24_000);
    let expected = format!("nginx.expected_subscribers={n}");
    let mut stack = Stack::start(HTTP, &[&expected]);
    start_nginx_limited(&mut stack, Limits::generated(n));
    let (hub_pid, nginx_pid) = (stack.hub().guard.pid(), stack.nginx().guard.pid());
    let hub_limit = nofile_of(hub_pid);
    let workers: Vec<u32> = crate::support::loadstack::tree_pids(nginx_pid).into_iter().skip(1).collect();
    let worker_limits: Vec<u64> = workers.iter().map(|p| nofile_of(*p)).collect();
    let idle = usage_of_tree(hub_pid);
    let per_worker_peak = std::sync::Arc::new(std::sync::Mutex::new(vec![0u64; workers.len()]));
    let sampler = PeakSampler::start(vec![hub_pid, nginx_pid]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watch = {
        let (stop, peaks, workers) = (stop.clone(), per_worker_peak.clone(), workers.clone());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for (i, w) in workers.iter().enumerate() {
                    let fds = std::fs::read_dir(format!("/proc/{w}/fd")).map_or(0, Iterator::count) as u64;
                    let mut p = peaks.lock().unwrap();
                    p[i] = p[i].max(fds);
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        })
    };
    let hub = hub_url(&stack);
    let count = n.to_string();
    let o = run_loadtest(
        &stack,
        &[
            "--subscribers",
            &count,
            "--processes",
            "3",
            "--updates",
            "5",
            "--rate",
            "1",
            "--concurrency",
            "200",
            "--connect-timeout",
            "20s",
            "--duration",
            "10m",
            "--publish-url",
            &hub,
            "--json",
        ],
        None,
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    watch.join().unwrap();
    let peaks = sampler.finish();
    let r = json(&o);
    let established = r["established"].as_u64().unwrap_or(0);
    let worker_peaks = per_worker_peak.lock().unwrap().clone();
    let hub_log = stack.hub().log();
    let nginx_log = stack.nginx().error_log();
    let emfile =
        |t: &str| t.lines().filter(|l| l.contains("too many open files") || l.contains("Too many open files")).count();
    let ports = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap_or_default();
    let mut first = Vec::new();
    if peaks[0].fds + 8 >= hub_limit || emfile(&hub_log) > 0 {
        first.push(format!(
            "the hub's descriptors: {} of {hub_limit} ({} accept errors logged)",
            peaks[0].fds,
            emfile(&hub_log)
        ));
    }
    for (i, (peak, limit)) in worker_peaks.iter().zip(&worker_limits).enumerate() {
        if peak + 8 >= *limit {
            first.push(format!("nginx worker {i}'s descriptors: {peak} of {limit}"));
        }
    }
    if emfile(&nginx_log) > 0 {
        first.push(format!("nginx logged {} `Too many open files`", emfile(&nginx_log)));
    }
    if nginx_log.contains("(99: Cannot assign requested address)") {
        first.push(format!("ephemeral ports of the nginx -> hub hop ({})", ports.trim()));
    }
    let report = format!(
        "ceiling run: {n} subscribers, 3 client processes\nestablished {established}, failed {}, by kind {}\n\
         hub: peak fds {} (limit {hub_limit}, idle {}), peak RSS {} MiB\nnginx workers: peak fds {worker_peaks:?} (limits \
         {worker_limits:?}), peak RSS {} MiB\nip_local_port_range {}\nfirst limit(s): {}\n{r:#}\n{}",
        r["failed"],
        r["failed_by_kind"],
        peaks[0].fds,
        idle.fds,
        peaks[0].rss_bytes >> 20,
        peaks[1].rss_bytes >> 20,
        ports.trim(),
        if first.is_empty() { "none reached".to_string() } else { first.join("; ") },
        stderr(&o)
    );
    println!("{report}");
    keep_report(&format!("ceiling-{n}.txt"), &report);
    assert!(established > 0, "{report}");
    // Subscribers were turned away only if a limit was reached, and the report names it.
    assert!(established == u64::from(n) || !first.is_empty(), "{report}");
}

#[test]
#[ignore = "benchmark of the load client itself, 10,000 streams: a measurement needing ulimit -n 20000 and a release build; run by scripts/loadtest-stack.sh client"]
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
