//! Load-test arithmetic and reporting: failure classes, percentiles, per-subscriber
//! delivery, the client's own resource use, and the table / JSON output.

use std::fmt::Write as _;

use serde::Serialize;

use crate::doctor::net::Failure;

/// The classes connection failures are counted in.
pub const KINDS: [&str; 9] =
    ["refused", "502", "other_http", "reset", "timeout", "tls", "closed", "client_limit", "other"];

/// The index in `KINDS` of a failure.
pub fn kind_index(f: &Failure) -> usize {
    match f {
        Failure::Refused => 0,
        Failure::Status(502) => 1,
        Failure::Status(_) => 2,
        Failure::Reset => 3,
        Failure::Timeout => 4,
        Failure::Tls(_) => 5,
        Failure::Closed => 6,
        Failure::ClientLimit(_) => 7,
        Failure::Other(_) => 8,
    }
}

/// The nearest-rank percentile `p` (0 < p <= 100) of ascending `sorted`.
pub fn percentile(sorted: &[u32], p: f64) -> Option<u32> {
    if sorted.is_empty() {
        return None;
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Delivery latency summary, in microseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Latency {
    pub samples: usize,
    pub p50_us: Option<u32>,
    pub p95_us: Option<u32>,
    pub p99_us: Option<u32>,
    pub max_us: Option<u32>,
}

impl Latency {
    pub fn from_samples(mut v: Vec<u32>) -> Latency {
        v.sort_unstable();
        Latency {
            samples: v.len(),
            p50_us: percentile(&v, 50.0),
            p95_us: percentile(&v, 95.0),
            p99_us: percentile(&v, 99.0),
            max_us: v.last().copied(),
        }
    }
}

/// The whole result of a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub public_url: String,
    pub subscribers: u32,
    pub updates: u32,
    pub rate: f64,
    pub established: u32,
    pub failed: u32,
    /// Failures by class, in `KINDS` order.
    pub failed_by_kind: Vec<(String, u32)>,
    /// Example messages of failures (one per class).
    pub failure_examples: Vec<(String, String)>,
    /// Established subscriptions that ended before the run did.
    pub dropped: u32,
    pub ramp_seconds: f64,
    pub connections_per_second: f64,
    pub published: u32,
    pub publish_failures: u32,
    pub expected_deliveries: u64,
    pub delivered: u64,
    pub duplicates: u64,
    /// Subscribers that received every published update.
    pub complete_subscribers: u32,
    /// How many established subscribers lost 0, 1, 2... updates: (lost, subscribers).
    pub lost_histogram: Vec<(u32, u32)>,
    /// Updates received per established subscriber.
    pub per_subscriber_delivered: Vec<u32>,
    pub latency: Latency,
    pub client: ClientUse,
    /// The likely server-side cause when connections failed and the client had room.
    pub diagnosis: Option<crate::doctor::diagnosis::Diagnosis>,
}

/// What the load generator itself used, and whether it was the bottleneck.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClientUse {
    pub nofile_soft: u64,
    pub nofile_hard: u64,
    pub nofile_soft_before: u64,
    pub rss_before_kib: u64,
    pub rss_peak_kib: u64,
    pub rss_per_subscription_bytes: u64,
    pub cpu_percent: f64,
    pub cores: usize,
    pub scheduling_lag_max_ms: u64,
    pub bottlenecks: Vec<String>,
}

impl Report {
    pub fn lost(&self) -> u64 {
        self.expected_deliveries.saturating_sub(self.delivered)
    }

    /// Whether everything held: all connected, none dropped, every update everywhere.
    pub fn clean(&self) -> bool {
        self.failed == 0 && self.dropped == 0 && self.lost() == 0 && self.publish_failures == 0
    }

    pub fn to_table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "loadtest {}: {} subscribers, {} updates at {}/s",
            self.public_url, self.subscribers, self.updates, self.rate
        );
        let _ = writeln!(s, "connections");
        let _ = writeln!(s, "  established          {:>8}", self.established);
        let mut kinds: Vec<String> = self.failed_by_kind.iter().map(|(k, n)| format!("{k} {n}")).collect();
        if kinds.is_empty() {
            kinds.push("none".into());
        }
        let _ = writeln!(s, "  failed               {:>8}   ({})", self.failed, kinds.join(", "));
        for (k, e) in &self.failure_examples {
            let _ = writeln!(s, "    e.g. {k}: {e}");
        }
        if let Some(d) = &self.diagnosis {
            let _ = writeln!(s, "    likely cause (brief §2.{}): {}", d.item, d.cause);
            let _ = writeln!(s, "    fix: {}", d.fix);
        }
        let _ = writeln!(s, "  dropped mid-run      {:>8}", self.dropped);
        let _ = writeln!(
            s,
            "  ramp-up              {:>8.1} s ({:.0} connections/s)",
            self.ramp_seconds, self.connections_per_second
        );
        let _ = writeln!(s, "updates");
        let _ = writeln!(
            s,
            "  published            {:>8} of {}{}",
            self.published,
            self.updates,
            if self.publish_failures > 0 {
                format!(" ({} publish failures)", self.publish_failures)
            } else {
                String::new()
            }
        );
        let pct = if self.expected_deliveries == 0 {
            100.0
        } else {
            #[allow(clippy::cast_precision_loss)]
            let p = self.delivered as f64 * 100.0 / self.expected_deliveries as f64;
            p
        };
        let _ =
            writeln!(s, "  delivered            {:>8} of {} ({pct:.2} %)", self.delivered, self.expected_deliveries);
        let _ = writeln!(s, "  lost                 {:>8}", self.lost());
        let _ =
            writeln!(s, "  every update         {:>8} of {} subscribers", self.complete_subscribers, self.established);
        let hist: Vec<String> = self.lost_histogram.iter().map(|(l, n)| format!("{n} lost {l}")).collect();
        if !hist.is_empty() {
            let _ = writeln!(s, "  per subscriber       {}", hist.join(", "));
        }
        if self.duplicates > 0 {
            let _ = writeln!(s, "  duplicates           {:>8}", self.duplicates);
        }
        let l = &self.latency;
        let f = |v: Option<u32>| v.map_or("-".to_string(), |us| format!("{:.1} ms", f64::from(us) / 1000.0));
        let _ = writeln!(
            s,
            "latency                p50 {}  p95 {}  p99 {}  max {}  ({} samples)",
            f(l.p50_us),
            f(l.p95_us),
            f(l.p99_us),
            f(l.max_us),
            l.samples
        );
        let c = &self.client;
        let _ = writeln!(s, "client");
        let _ = writeln!(
            s,
            "  fd limit             {} soft (was {}), {} hard",
            c.nofile_soft, c.nofile_soft_before, c.nofile_hard
        );
        let _ = writeln!(
            s,
            "  memory               {} MiB peak RSS, {:.1} KiB per subscription",
            c.rss_peak_kib / 1024,
            bytes_to_kib(c.rss_per_subscription_bytes)
        );
        let _ = writeln!(
            s,
            "  cpu                  {:.0} % of {} cores, scheduling lag max {} ms",
            c.cpu_percent, c.cores, c.scheduling_lag_max_ms
        );
        if c.bottlenecks.is_empty() {
            let _ = writeln!(s, "  bottleneck           none in the client");
        }
        for b in &c.bottlenecks {
            let _ = writeln!(s, "  BOTTLENECK (client)  {b}");
        }
        s
    }
}

#[allow(clippy::cast_precision_loss)]
fn bytes_to_kib(b: u64) -> f64 {
    b as f64 / 1024.0
}

/// The client's own limits, in the words the report uses.
pub fn bottlenecks(c: &ClientUse, subscribers: u32, client_limit_failures: u32) -> Vec<String> {
    let mut out = Vec::new();
    let needed = u64::from(subscribers) + 64;
    if c.nofile_soft < needed {
        out.push(format!(
            "RLIMIT_NOFILE {} (hard {}) is below {subscribers} subscribers + 64: connections beyond it fail here, not on the server; \
             raise the hard limit (ulimit -Hn, LimitNOFILE) or lower --subscribers",
            c.nofile_soft, c.nofile_hard
        ));
    }
    if client_limit_failures > 0 {
        out.push(format!(
            "{client_limit_failures} connection(s) failed for lack of local resources (file descriptors or ports)"
        ));
    }
    if c.cpu_percent > 85.0 {
        out.push(format!(
            "the client used {:.0} % of all {} cores: latencies include its own scheduling",
            c.cpu_percent, c.cores
        ));
    }
    if c.scheduling_lag_max_ms > 250 {
        out.push(format!(
            "its event loop lagged up to {} ms: latencies are overstated by about that",
            c.scheduling_lag_max_ms
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 95.0), Some(95));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&v, 100.0), Some(100));
        assert_eq!(percentile(&[7], 99.0), Some(7));
        assert_eq!(percentile(&[], 50.0), None);
        let l = Latency::from_samples(vec![30, 10, 20]);
        assert_eq!((l.p50_us, l.max_us, l.samples), (Some(20), Some(30), 3));
    }

    #[test]
    fn failure_classes() {
        assert_eq!(KINDS[kind_index(&Failure::Status(502))], "502");
        assert_eq!(KINDS[kind_index(&Failure::Status(503))], "other_http");
        assert_eq!(KINDS[kind_index(&Failure::ClientLimit("x".into()))], "client_limit");
    }

    #[test]
    fn names_the_client_as_bottleneck() {
        let c = ClientUse { nofile_soft: 1024, nofile_hard: 1024, cores: 2, ..ClientUse::default() };
        let b = bottlenecks(&c, 5000, 3);
        assert!(b[0].contains("RLIMIT_NOFILE 1024"), "{b:?}");
        assert!(b[1].contains("3 connection(s)"));
        let ok =
            ClientUse { nofile_soft: 20000, nofile_hard: 20000, cores: 2, cpu_percent: 40.0, ..ClientUse::default() };
        assert!(bottlenecks(&ok, 5000, 0).is_empty());
    }

    #[test]
    fn table_shows_failures_and_latency() {
        let r = Report {
            public_url: "https://a/.well-known/mercure".into(),
            subscribers: 10,
            updates: 2,
            rate: 1.0,
            established: 8,
            failed: 2,
            failed_by_kind: vec![("502".into(), 2)],
            expected_deliveries: 16,
            delivered: 15,
            latency: Latency::from_samples(vec![1500, 2500]),
            ..Report::default()
        };
        let t = r.to_table();
        assert!(t.contains("failed                      2   (502 2)"), "{t}");
        assert!(t.contains("lost                        1"), "{t}");
        assert!(t.contains("p50 1.5 ms"), "{t}");
        assert!(!r.clean());
    }
}
