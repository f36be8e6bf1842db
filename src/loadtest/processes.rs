//! `loadtest --processes N`: the subscribers spread over N child runs of this same
//! program, each a process with its own descriptor limit (one process cannot hold
//! more connections than its hard `RLIMIT_NOFILE`), merged into one report.
//!
//! Each child is an ordinary `loadtest --json` run with its share of the subscribers
//! and its own random topic, so it publishes the updates its subscribers await; the
//! hub fans out the same number of deliveries as one run would. A barrier (a folder
//! each child marks once its subscribers are up) holds every child's publishing until
//! all of them hold their subscribers, so that the servers carry all at once.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::LoadtestError;
use crate::error::Error;

/// The arguments of this invocation for one child: `--processes`, `--report` and
/// `--json` dropped, `--subscribers` set to `share`, `--json` added.
pub fn child_args(args: &[String], share: u32) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let name = a.split_once('=').map_or(a.as_str(), |(n, _)| n);
        let takes_value = matches!(name, "--processes" | "--report" | "--subscribers");
        if takes_value || name == "--json" {
            if takes_value && !a.contains('=') {
                it.next();
            }
            continue;
        }
        out.push(a.clone());
    }
    out.extend(["--subscribers".into(), share.to_string(), "--json".into()]);
    out
}

/// Names the barrier folder and the number of processes, for the children.
const BARRIER_ENV: &str = "MERCURE_SETUP_LOADTEST_BARRIER";

/// A child's wait at the barrier: marks this process as ready, then waits until all
/// are (or `deadline`). Nothing to wait for outside `--processes`.
pub(super) async fn barrier(deadline: Instant) {
    let Ok(value) = std::env::var(BARRIER_ENV) else { return };
    let Some((count, dir)) = value.split_once(':') else { return };
    let Ok(count) = count.parse::<usize>() else { return };
    let dir = Path::new(dir);
    let _ = std::fs::write(dir.join(std::process::id().to_string()), b"");
    while Instant::now() < deadline {
        if std::fs::read_dir(dir).map_or(0, Iterator::count) >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `total` subscribers over `n` processes, the first ones taking the remainder.
pub fn shares(total: u32, n: u32) -> Vec<u32> {
    let n = n.clamp(1, total.max(1));
    (0..n).map(|i| total / n + u32::from(i < total % n)).collect()
}

/// Runs the children at once and merges their JSON reports; Ok only when every child
/// succeeded.
pub fn run(subscribers: u32, processes: u32, json_out: bool) -> Result<(), Error> {
    let exe = std::env::current_exe().map_err(LoadtestError::NoProgram)?;
    // The loadtest subcommand and its flags, as given.
    let given: Vec<String> = std::env::args().skip(1).collect();
    let barrier = tempfile::tempdir().map_err(LoadtestError::TempDir)?;
    let parts = shares(subscribers, processes);
    let env = format!("{}:{}", parts.len(), barrier.path().display());
    let children: Vec<_> = parts
        .into_iter()
        .map(|share| {
            let args = child_args(&given, share);
            let (exe, env) = (exe.clone(), env.clone());
            std::thread::spawn(move || {
                Command::new(exe)
                    .args(&args)
                    .env(BARRIER_ENV, env)
                    .stdin(Stdio::null())
                    .stderr(Stdio::inherit())
                    .output()
            })
        })
        .collect();
    let mut reports = Vec::new();
    let mut ok = true;
    for child in children {
        let out = child.join().map_err(|_| LoadtestError::ChildPanicked)?.map_err(LoadtestError::ChildStart)?;
        ok &= out.status.success();
        let report: Value = serde_json::from_slice(&out.stdout).map_err(|source| LoadtestError::ChildNoReport {
            source,
            stdout: String::from_utf8_lossy(&out.stdout).trim().to_string(),
        })?;
        reports.push(report);
    }
    let mut merged = merge(&reports);
    // The merged run's own status word: any child that failed fails the whole run.
    merged["status"] = json!(crate::status::Status::of_counts(usize::from(!ok), 0));
    let text = if json_out {
        serde_json::to_string_pretty(&merged).map_err(LoadtestError::Json)? + "\n"
    } else {
        table(&merged)
    };
    crate::stdout::print(&text)?;
    if ok {
        Ok(())
    } else {
        Err(LoadtestError::IncompleteProcesses {
            failed: merged["failed"].to_string(),
            dropped: merged["dropped"].to_string(),
            delivered: merged["delivered"].to_string(),
            expected: merged["expected_deliveries"].to_string(),
            processes: reports.len(),
        }
        .into())
    }
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// One report from the children's: counts summed, per-class failures summed, latency
/// percentiles the highest of any process (an upper bound: the histograms stay in
/// the children), and each child's summary under `processes`.
pub fn merge(reports: &[Value]) -> Value {
    let Some(first) = reports.first() else { return Value::Null };
    let mut m = first.clone();
    let sum = |key: &str| reports.iter().map(|r| u(&r[key])).sum::<u64>();
    for key in [
        "subscribers",
        "published",
        "publish_failures",
        "warmup_published",
        "warmup_failures",
        "established",
        "failed",
        "dropped",
        "expected_deliveries",
        "delivered",
        "duplicates",
        "complete_subscribers",
    ] {
        m[key] = json!(sum(key));
    }
    m["updates"] = json!(reports.iter().map(|r| u(&r["updates"])).sum::<u64>());
    let mut kinds: Vec<(String, u64)> = Vec::new();
    for r in reports {
        for pair in r["failed_by_kind"].as_array().into_iter().flatten() {
            let (name, n) = (pair[0].as_str().unwrap_or("other").to_string(), u(&pair[1]));
            match kinds.iter_mut().find(|k| k.0 == name) {
                Some(k) => k.1 += n,
                None => kinds.push((name, n)),
            }
        }
    }
    m["failed_by_kind"] = json!(kinds);
    m["per_subscriber_delivered"] = Value::Array(
        reports.iter().flat_map(|r| r["per_subscriber_delivered"].as_array().cloned().unwrap_or_default()).collect(),
    );
    m["latency"]["samples"] = json!(reports.iter().map(|r| u(&r["latency"]["samples"])).sum::<u64>());
    for p in ["p50_us", "p95_us", "p99_us", "max_us"] {
        m["latency"][p] =
            reports.iter().filter_map(|r| r["latency"][p].as_u64()).max().map_or(Value::Null, |v| json!(v));
    }
    let max_f = |key: &str| reports.iter().filter_map(|r| r[key].as_f64()).fold(0.0, f64::max);
    m["ramp_seconds"] = json!(max_f("ramp_seconds"));
    m["connections_per_second"] =
        json!(reports.iter().filter_map(|r| r["connections_per_second"].as_f64()).sum::<f64>());
    for key in ["aborted", "diagnosis", "publish_diagnosis", "warmup_failure_example"] {
        m[key] = reports.iter().map(|r| &r[key]).find(|v| !v.is_null()).cloned().unwrap_or(Value::Null);
    }
    m["processes"] = Value::Array(
        reports
            .iter()
            .map(|r| {
                json!({
                    "subscribers": r["subscribers"],
                    "established": r["established"],
                    "failed": r["failed"],
                    "delivered": r["delivered"],
                    "p99_us": r["latency"]["p99_us"],
                    "nofile_soft": r["client"]["nofile_soft"],
                    "rss_peak_kib": r["client"]["rss_peak_kib"],
                    "bottlenecks": r["client"]["bottlenecks"],
                })
            })
            .collect(),
    );
    m
}

/// The merged report as text.
#[allow(clippy::cast_precision_loss)]
fn table(m: &Value) -> String {
    let ms = |v: &Value| v.as_u64().map_or("-".to_string(), |us| format!("{:.1} ms", us as f64 / 1000.0));
    let mut t = format!(
        "processes                  {}\nsubscribers                {}\nestablished                {}\nfailed                     {}\n",
        m["processes"].as_array().map_or(0, Vec::len),
        m["subscribers"],
        m["established"],
        m["failed"],
    );
    for pair in m["failed_by_kind"].as_array().into_iter().flatten() {
        if u(&pair[1]) > 0 {
            let _ = writeln!(t, "  {:<24} {}", pair[0].as_str().unwrap_or(""), pair[1]);
        }
    }
    let _ = write!(
        t,
        "dropped                    {}\npublished                  {} of {}\ndelivered                  {} of {}\n\
         p50 (highest of any process) {}\np99 (highest of any process) {}\n",
        m["dropped"],
        m["published"],
        m["updates"],
        m["delivered"],
        m["expected_deliveries"],
        ms(&m["latency"]["p50_us"]),
        ms(&m["latency"]["p99_us"]),
    );
    for (i, p) in m["processes"].as_array().into_iter().flatten().enumerate() {
        let _ = writeln!(
            t,
            "process {i}: {} of {} established, fd limit {}, p99 {}",
            p["established"],
            p["subscribers"],
            p["nofile_soft"],
            ms(&p["p99_us"])
        );
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_spread_the_remainder() {
        assert_eq!(shares(10, 3), vec![4, 3, 3]);
        assert_eq!(shares(2, 4), vec![1, 1]);
        assert_eq!(shares(30_000, 2), vec![15_000, 15_000]);
    }

    #[test]
    fn child_args_replace_the_count_and_ask_for_json() {
        let args: Vec<String> = [
            "loadtest",
            "--public-url",
            "https://a/",
            "--subscribers",
            "9",
            "--processes=3",
            "--report",
            "r.html",
            "--rate",
            "2",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            child_args(&args, 3),
            ["loadtest", "--public-url", "https://a/", "--rate", "2", "--subscribers", "3", "--json"].map(String::from)
        );
    }

    #[test]
    fn merge_sums_counts_and_keeps_the_worst_latency() {
        let a = json!({"subscribers": 2, "updates": 3, "established": 2, "failed": 0, "delivered": 6,
            "expected_deliveries": 6, "failed_by_kind": [["refused", 0]], "per_subscriber_delivered": [3, 3],
            "latency": {"samples": 6, "p50_us": 10, "p95_us": 20, "p99_us": 30, "max_us": 40}, "client": {}});
        let b = json!({"subscribers": 2, "updates": 3, "established": 1, "failed": 1, "delivered": 3,
            "expected_deliveries": 3, "failed_by_kind": [["refused", 1]], "per_subscriber_delivered": [3],
            "latency": {"samples": 3, "p50_us": 15, "p95_us": 16, "p99_us": 17, "max_us": 50}, "client": {}});
        let m = merge(&[a, b]);
        assert_eq!(m["subscribers"], 4);
        assert_eq!(m["established"], 3);
        assert_eq!(m["failed"], 1);
        assert_eq!(m["delivered"], 9);
        assert_eq!(m["failed_by_kind"], json!([["refused", 1]]));
        assert_eq!(m["per_subscriber_delivered"], json!([3, 3, 3]));
        assert_eq!(m["latency"]["p99_us"], 30);
        assert_eq!(m["latency"]["max_us"], 50);
        assert_eq!(m["processes"].as_array().unwrap().len(), 2);
        assert!(table(&m).contains("established                3"), "{}", table(&m));
    }
}
