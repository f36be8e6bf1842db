//! The client measuring itself: its file-descriptor limit, memory, CPU time and event
//! loop lag, so a report can say when the bottleneck was this machine, not the server.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// File descriptors kept for the publisher, the runtime and stdio.
pub(super) const FD_RESERVE: u64 = 64;

/// Measures how late a 10 ms timer fires: a busy client delays every event it reads.
pub(super) async fn lag_monitor(max_ms: Arc<AtomicU64>) {
    loop {
        let t = Instant::now();
        tokio::time::sleep(Duration::from_millis(10)).await;
        let late = u64::try_from(t.elapsed().saturating_sub(Duration::from_millis(10)).as_millis()).unwrap_or(u64::MAX);
        max_ms.fetch_max(late, Ordering::Relaxed);
    }
}

/// This process's resident memory, from /proc (0 where unavailable).
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time used by this process so far (user + system), from /proc.
pub(super) fn cpu_seconds() -> f64 {
    // Fields 14 and 15 of /proc/self/stat, in clock ticks; Linux's USER_HZ is 100.
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0.0 };
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_resource_use() {
        assert!(rss_kib() > 0);
        // Busy work shows up in the CPU time (kept in 10 ms ticks): poll until it does.
        let before = cpu_seconds();
        let give_up = Instant::now() + Duration::from_secs(10);
        let mut spin = 0u64;
        while cpu_seconds() <= before && Instant::now() < give_up {
            for i in 0..100_000u64 {
                spin = std::hint::black_box(spin.wrapping_add(i));
            }
        }
        assert!(cpu_seconds() > before, "no CPU time counted after busy work ({before} s before)");
    }
}
