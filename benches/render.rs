//! Benchmark: wall time of a whole `mercure-setup render` process re-rendering a
//! folder that already holds its state (the common repeat-deployment case).
//!
//! Run with `cargo bench --bench render`. Reports the median and spread of 50 runs
//! per fixture; the target is a median under 20 ms.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const RUNS: usize = 50;
const FIXTURES: &[&str] = &["same-host-http-hs256-nginx122.yaml", "end-to-end-tls-es256-cors-nginx126.yaml"];

fn render(answers: &Path, out: &Path) -> Duration {
    let start = Instant::now();
    let status = Command::new(env!("CARGO_BIN_EXE_mercure-setup"))
        .args(["render", "--answers"])
        .arg(answers)
        .arg("--out")
        .arg(out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("mercure-setup runs");
    let elapsed = start.elapsed();
    assert!(status.success(), "render failed for {}", answers.display());
    elapsed
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    println!("render process wall time, {RUNS} runs each, existing state (ms)");
    println!("{:<44} {:>8} {:>8} {:>8}", "fixture", "min", "median", "p90");
    for name in FIXTURES {
        let tmp = tempfile::tempdir().expect("temp dir");
        let out = tmp.path().join("bundle");
        let answers = fixtures.join(name);
        // The first render makes the secrets and certificates; later ones reuse them.
        render(&answers, &out);
        for _ in 0..3 {
            render(&answers, &out);
        }
        let mut times: Vec<Duration> = (0..RUNS).map(|_| render(&answers, &out)).collect();
        times.sort();
        println!(
            "{:<44} {:>8.2} {:>8.2} {:>8.2}",
            name,
            millis(times[0]),
            millis(times[RUNS / 2]),
            millis(times[RUNS * 9 / 10])
        );
    }
}
