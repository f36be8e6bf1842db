//! `loadtest --report FILE.html` from a real 200-subscriber run, opened in Debian's
//! headless Chromium: no console errors, no network requests from the page, and the
//! page and its plots carry the run's own numbers. A control page with a script error
//! and an image to fetch proves both detectors see what they look for.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::loadstack::{Limits, keep_report, run_loadtest, start_nginx_limited};
use crate::support::stack::Stack;
use crate::support::{require_tool, stderr, stdout};

/// What one headless Chromium load of a local page showed.
struct Load {
    dom: String,
    /// Console messages Chromium logged for the page.
    console: Vec<String>,
    /// URLs the page itself asked the network for (the browser's own background
    /// requests, e.g. component updates, are not the page's).
    page_requests: Vec<String>,
}

fn chromium_base(profile: &Path) -> Command {
    let chromium = require_tool("chromium", "apt-get install chromium");
    let mut c = Command::new(chromium);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    c
}

fn load(page: &Path) -> Load {
    let tmp = tempfile::tempdir().unwrap();
    let netlog = tmp.path().join("net.json");
    let o = chromium_base(&tmp.path().join("profile"))
        .args(["--enable-logging=stderr", "--v=0"])
        .arg(format!("--log-net-log={}", netlog.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(o.status.success(), "chromium failed: {}", stderr(&o));
    let console = stderr(&o).lines().filter(|l| l.contains(":CONSOLE")).map(str::to_string).collect();
    let log: Value =
        serde_json::from_str(&std::fs::read_to_string(&netlog).unwrap()).expect("chromium's net log is JSON");
    let start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"].as_u64().expect("net log constants");
    let page_requests = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"].as_u64() == Some(start_job))
        .filter(|e| e["params"]["network_isolation_key"].as_str().is_some_and(|k| k.starts_with("file://")))
        .filter_map(|e| e["params"]["url"].as_str().map(str::to_string))
        .collect();
    Load { dom: stdout(&o), console, page_requests }
}

fn screenshot(page: &Path, png: &Path) {
    let tmp = tempfile::tempdir().unwrap();
    let o = chromium_base(&tmp.path().join("profile"))
        .arg(format!("--screenshot={}", png.display()))
        .arg("--window-size=1000,2700")
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(o.status.success() && png.exists(), "chromium --screenshot failed: {}", stderr(&o));
}

#[test]
fn the_checks_see_console_errors_and_requests() {
    let tmp = tempfile::tempdir().unwrap();
    let page = tmp.path().join("control.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><html><body><script>console.error('control-error');</script>\
         <img src=\"http://127.0.0.1:9/control.png\"></body></html>",
    )
    .unwrap();
    let l = load(&page);
    assert!(l.console.iter().any(|c| c.contains("control-error")), "{:?}", l.console);
    assert_eq!(l.page_requests, ["http://127.0.0.1:9/control.png"]);
}

fn ms(v: &Value) -> String {
    #[allow(clippy::cast_precision_loss)]
    let ms = v.as_u64().unwrap() as f64 / 1000.0;
    format!("{ms:.1} ms")
}

#[test]
fn report_of_a_200_subscriber_run_opens_offline_with_the_runs_numbers() {
    let stack = Stack::start("end-to-end-tls-hs256-nginx122.yaml", &[]);
    let tmp = tempfile::tempdir().unwrap();
    let page: PathBuf = tmp.path().join("report.html");
    let o = run_loadtest(
        &stack,
        &["--subscribers", "200", "--updates", "5", "--rate", "5", "--json", "--report", page.to_str().unwrap()],
        None,
    );
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let r: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let html = std::fs::read_to_string(&page).unwrap();
    keep_report("report-200.html", &html);

    let l = load(&page);
    assert!(l.console.is_empty(), "console messages: {:#?}", l.console);
    assert!(l.page_requests.is_empty(), "the report asked the network for {:?}", l.page_requests);

    let dom = &l.dom;
    assert_eq!(dom.matches("<svg").count(), 3, "three plots");
    assert!(!dom.contains("<script"), "no scripts");
    let lat = &r["latency"];
    let (p50, p95, p99) = (ms(&lat["p50_us"]), ms(&lat["p95_us"]), ms(&lat["p99_us"]));
    for (id, want) in [
        ("established", r["established"].to_string()),
        ("p50", p50.clone()),
        ("p99", p99.clone()),
        ("samples", lat["samples"].to_string()),
        ("delivered", format!("{} of {} (100.00 %)", r["delivered"], r["expected_deliveries"])),
    ] {
        assert!(dom.contains(&format!("id=\"r-{id}\">{want}<")), "r-{id} is not {want}");
    }
    assert_eq!(r["established"], 200);
    // The plots' own text: the percentile markers, each class's total, the expected deliveries.
    let svgs: String = dom.split("<svg").skip(1).collect::<Vec<_>>().join("<svg");
    for want in [
        format!("p50 {p50}"),
        format!("p95 {p95}"),
        format!("p99 {p99}"),
        "established: 200".to_string(),
        "200 established, 0 failed, 0 dropped".to_string(),
        "5 updates to 200 subscribers: fewest 200, 0 lost in all".to_string(),
        "established subscribers: 200".to_string(),
    ] {
        assert!(svgs.contains(&want), "the plots lack `{want}`");
    }
    // The run's parameters and the diagnosis text.
    assert!(dom.contains("<th>subscribers</th><td>200</td>"));
    assert!(dom.contains("<th>rate</th><td>5 updates/s</td>"));
    // A clean run has nothing to diagnose, unless the client itself was short of CPU
    // (a busy machine): then the page says so, as the table does.
    let bottlenecks = r["client"]["bottlenecks"].as_array().unwrap();
    if bottlenecks.is_empty() {
        assert!(dom.contains("Nothing to diagnose"));
    }
    for b in bottlenecks {
        let text = b.as_str().unwrap().replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
        assert!(dom.contains(&format!("Bottleneck in the client: {text}")), "{text}");
    }

    let png = Path::new(env!("CARGO_TARGET_TMPDIR")).join("loadtest-reports/report-200.png");
    screenshot(&page, &png);
    assert!(std::fs::metadata(&png).unwrap().len() > 10_000);
}

#[test]
fn report_of_a_saturated_nginx_plots_failures_by_kind_and_the_diagnosis() {
    let mut stack = Stack::start("same-host-http-hs256-nginx122.yaml", &[]);
    // 128 worker connections hold about 60 proxied subscribers: the rest fail.
    start_nginx_limited(&mut stack, Limits { workers: 1, worker_connections: 128, rlimit_nofile: None });
    let hub = format!("http://127.0.0.1:{}/.well-known/mercure", stack.r.hub_port());
    let tmp = tempfile::tempdir().unwrap();
    let page = tmp.path().join("report.html");
    let o = run_loadtest(
        &stack,
        &[
            "--subscribers",
            "150",
            "--updates",
            "3",
            "--rate",
            "5",
            "--connect-timeout",
            "5s",
            "--publish-url",
            &hub,
            "--json",
            "--report",
            page.to_str().unwrap(),
        ],
        None,
    );
    assert!(!o.status.success(), "subscribers were refused: the run fails");
    let r: Value = serde_json::from_str(&stdout(&o)).unwrap();
    keep_report("report-saturated.html", &std::fs::read_to_string(&page).unwrap());
    let l = load(&page);
    assert!(l.console.is_empty(), "console messages: {:#?}", l.console);
    assert!(l.page_requests.is_empty(), "the report asked the network for {:?}", l.page_requests);
    let svgs: String = l.dom.split("<svg").skip(1).collect::<Vec<_>>().join("<svg");
    assert!(svgs.contains(&format!("established: {}", r["established"])), "established total not plotted");
    for kind in r["failed_by_kind"].as_array().unwrap() {
        let (name, n) = (kind[0].as_str().unwrap(), &kind[1]);
        assert!(svgs.contains(&format!("{name}: {n}")), "failure class `{name}: {n}` not plotted");
    }
    let d = &r["diagnosis"];
    let cause = d["cause"].as_str().unwrap();
    let escaped = cause.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
    assert!(l.dom.contains(&escaped), "the diagnosis is not on the page: {cause}");
    assert!(l.dom.contains(&format!("entry {}", d["item"])), "the troubleshooting entry is not named");
    assert!(l.dom.contains("FAIL:"));
    screenshot(&page, &Path::new(env!("CARGO_TARGET_TMPDIR")).join("loadtest-reports/report-saturated.png"));
}
