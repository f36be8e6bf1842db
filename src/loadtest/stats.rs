//! Load-test arithmetic and reporting: failure classes, percentiles, per-subscriber
//! delivery, the client's own resource use, and the table / JSON output.

use std::fmt::Write as _;

use serde::Serialize;

use crate::net::Failure;

use std::sync::atomic::{AtomicU64, Ordering};

/// The classes connection failures are counted in, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    Refused,
    /// nginx answered 502 Bad Gateway.
    BadGateway,
    OtherHttp,
    Reset,
    Timeout,
    Tls,
    Closed,
    /// This process ran out of file descriptors or local ports.
    ClientLimit,
    Other,
    /// Still waiting for a connection slot when the run ended (no `Failure` to classify).
    NotAttempted,
}

impl FailureKind {
    pub const ALL: [FailureKind; 10] = [
        FailureKind::Refused,
        FailureKind::BadGateway,
        FailureKind::OtherHttp,
        FailureKind::Reset,
        FailureKind::Timeout,
        FailureKind::Tls,
        FailureKind::Closed,
        FailureKind::ClientLimit,
        FailureKind::Other,
        FailureKind::NotAttempted,
    ];

    /// The class of a failure.
    pub fn of(f: &Failure) -> FailureKind {
        match f {
            Failure::Refused => FailureKind::Refused,
            Failure::Status(502) => FailureKind::BadGateway,
            Failure::Status(_) => FailureKind::OtherHttp,
            Failure::Reset => FailureKind::Reset,
            Failure::Timeout => FailureKind::Timeout,
            Failure::Tls(_) => FailureKind::Tls,
            Failure::Closed => FailureKind::Closed,
            Failure::ClientLimit(_) => FailureKind::ClientLimit,
            Failure::Other(_) => FailureKind::Other,
        }
    }

    /// The name reports and JSON show.
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::Refused => "refused",
            FailureKind::BadGateway => "502",
            FailureKind::OtherHttp => "other_http",
            FailureKind::Reset => "reset",
            FailureKind::Timeout => "timeout",
            FailureKind::Tls => "tls",
            FailureKind::Closed => "closed",
            FailureKind::ClientLimit => "client_limit",
            FailureKind::Other => "other",
            FailureKind::NotAttempted => "not_attempted",
        }
    }
}

/// A count per failure class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KindCounts([u32; FailureKind::ALL.len()]);

impl KindCounts {
    pub fn total(&self) -> u32 {
        self.0.iter().sum()
    }

    /// The classes with a non-zero count, in report order, by name.
    pub fn named(&self) -> Vec<(String, u32)> {
        FailureKind::ALL.into_iter().filter(|k| self[*k] > 0).map(|k| (k.name().to_string(), self[k])).collect()
    }
}

impl std::ops::Index<FailureKind> for KindCounts {
    type Output = u32;
    fn index(&self, k: FailureKind) -> &u32 {
        &self.0[k as usize]
    }
}

impl std::ops::IndexMut<FailureKind> for KindCounts {
    fn index_mut(&mut self, k: FailureKind) -> &mut u32 {
        &mut self.0[k as usize]
    }
}

/// Values below this are counted exactly (one bucket each).
const LINEAR: u64 = 128;
/// Sub-buckets per power of two above `LINEAR`: a bucket is at most 1/64 (1.6 %) wide.
const SUB: u64 = 64;
/// Largest value kept apart (larger ones share the last bucket; `max` stays exact).
const CAP: u64 = u32::MAX as u64;
/// Powers of two from `LINEAR` (2^7) up to `CAP` (2^32).
#[allow(clippy::cast_possible_truncation)]
const BUCKETS: usize = (LINEAR + (32 - 7) * SUB) as usize;

/// A latency histogram shared by every subscriber task: log-linear buckets of atomic
/// counters (fixed ~14 KiB however many samples), exact below 128 us, within 1.6 %
/// above, with the exact maximum kept apart.
pub struct Histogram {
    counts: Box<[AtomicU64]>,
    max: AtomicU64,
    total: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            max: AtomicU64::new(0),
            total: AtomicU64::new(0),
        }
    }
}

/// The bucket of `v` (at most `CAP`).
fn bucket(v: u64) -> usize {
    let v = v.min(CAP);
    if v < LINEAR {
        #[allow(clippy::cast_possible_truncation)]
        return v as usize;
    }
    let e = u64::from(v.ilog2());
    let shift = e - 6;
    let sub = (v >> shift) - SUB;
    #[allow(clippy::cast_possible_truncation)]
    let i = (LINEAR + (e - 7) * SUB + sub) as usize;
    i
}

/// The largest value bucket `i` holds.
fn bucket_high(i: usize) -> u64 {
    let i = i as u64;
    if i < LINEAR {
        return i;
    }
    let e = (i - LINEAR) / SUB + 7;
    let sub = (i - LINEAR) % SUB;
    let shift = e - 6;
    (((SUB + sub + 1) << shift) - 1).min(CAP)
}

impl Histogram {
    pub fn record(&self, v: u64) {
        self.counts[bucket(v)].fetch_add(1, Ordering::Relaxed);
        self.max.fetch_max(v, Ordering::Relaxed);
        self.total.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// The non-empty buckets as (largest value held, count), in order; the last
    /// bucket's bound is the exact maximum. For plotting the distribution.
    pub fn buckets(&self) -> Vec<(u64, u64)> {
        let max = self.max.load(Ordering::Relaxed);
        self.counts
            .iter()
            .enumerate()
            .map(|(i, c)| (bucket_high(i).min(max), c.load(Ordering::Relaxed)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    pub fn max(&self) -> Option<u64> {
        (self.count() > 0).then(|| self.max.load(Ordering::Relaxed))
    }

    /// The nearest-rank percentile `p` (0 < p <= 100): exact below 128, else the top of
    /// its bucket (at most 1.6 % above the true value), never above the maximum.
    pub fn percentile(&self, p: f64) -> Option<u64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
        let rank = (((p / 100.0) * n as f64).ceil() as u64).clamp(1, n);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c.load(Ordering::Relaxed);
            if seen >= rank {
                return Some(bucket_high(i).min(self.max.load(Ordering::Relaxed)));
            }
        }
        self.max()
    }
}

/// Delivery latency summary, in microseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Latency {
    pub samples: u64,
    pub p50_us: Option<u64>,
    pub p95_us: Option<u64>,
    pub p99_us: Option<u64>,
    pub max_us: Option<u64>,
}

impl Latency {
    pub fn from_histogram(h: &Histogram) -> Latency {
        Latency {
            samples: h.count(),
            p50_us: h.percentile(50.0),
            p95_us: h.percentile(95.0),
            p99_us: h.percentile(99.0),
            max_us: h.max(),
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
    /// Failures by class, in `FailureKind::ALL` order.
    pub failed_by_kind: Vec<(String, u32)>,
    /// Example messages of failures (one per class).
    pub failure_examples: Vec<(String, String)>,
    /// Established subscriptions that ended before the run did.
    pub dropped: u32,
    pub ramp_seconds: f64,
    pub connections_per_second: f64,
    pub published: u32,
    pub publish_failures: u32,
    /// Throwaway updates published during ramp-up (so the hub knows every subscriber).
    pub warmup_published: u32,
    pub warmup_failures: u32,
    /// The first warm-up publish failure, e.g. `HTTP 401`.
    pub warmup_failure_example: Option<String>,
    /// Why the run stopped before publishing, if it did.
    pub aborted: Option<String>,
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
    pub diagnosis: Option<crate::diagnosis::Diagnosis>,
    /// The likely cause when publishes failed.
    pub publish_diagnosis: Option<crate::diagnosis::Diagnosis>,
    // For `--report`'s plots only (kept out of the JSON, which stays a summary):
    /// The latency histogram's non-empty buckets: (largest microseconds held, count).
    #[serde(skip)]
    pub latency_buckets: Vec<(u64, u64)>,
    /// When each connection attempt ended (ms since the start) and how: `established`,
    /// a `FailureKind` name, or `dropped` for an established one that ended early.
    #[serde(skip)]
    pub connection_events: Vec<(u64, &'static str)>,
    /// For each measured update in publish order, the subscribers that received it.
    #[serde(skip)]
    pub per_update_delivered: Vec<u32>,
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

    /// Whether everything held: all connected, none dropped, every update published
    /// and delivered everywhere.
    pub fn clean(&self) -> bool {
        self.aborted.is_none()
            && self.failed == 0
            && self.dropped == 0
            && self.lost() == 0
            && self.publish_failures == 0
            && self.published == self.updates
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
            let _ = writeln!(s, "    likely cause ({}): {}", d.item.reference(), d.cause);
            let _ = writeln!(s, "    fix: {}", d.fix);
        }
        let _ = writeln!(s, "  dropped mid-run      {:>8}", self.dropped);
        let _ = writeln!(
            s,
            "  ramp-up              {:>8.1} s ({:.0} connections/s)",
            self.ramp_seconds, self.connections_per_second
        );
        if let Some(a) = &self.aborted {
            let _ = writeln!(s, "STOPPED EARLY: {a}");
        }
        let _ = writeln!(s, "updates");
        if self.warmup_failures > 0 || self.warmup_published > 0 {
            let _ = writeln!(
                s,
                "  warm-up published    {:>8} of {}{}",
                self.warmup_published,
                self.warmup_published + self.warmup_failures,
                self.warmup_failure_example
                    .as_ref()
                    .map_or(String::new(), |e| format!(" ({} failed, e.g. {e})", self.warmup_failures))
            );
        }
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
        if let Some(d) = &self.publish_diagnosis {
            let _ = writeln!(s, "    likely cause ({}): {}", d.item.reference(), d.cause);
            let _ = writeln!(s, "    fix: {}", d.fix);
        }
        // No percentage over nothing: 0 of 0 is not "100 %" delivered.
        let pct = if self.expected_deliveries > 0 {
            #[allow(clippy::cast_precision_loss)]
            let p = self.delivered as f64 * 100.0 / self.expected_deliveries as f64;
            format!("{p:.2} %")
        } else if self.published == 0 {
            "nothing was published".into()
        } else {
            "no subscriber to deliver to".into()
        };
        let _ = writeln!(s, "  delivered            {:>8} of {} ({pct})", self.delivered, self.expected_deliveries);
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
        #[allow(clippy::cast_precision_loss)]
        let f = |v: Option<u64>| v.map_or("-".to_string(), |us| format!("{:.1} ms", us as f64 / 1000.0));
        let _ = writeln!(
            s,
            "latency                p50 {}  p95 {}  p99 {}  max {}  ({} samples)",
            f(l.p50_us),
            f(l.p95_us),
            f(l.p99_us),
            f(l.max_us),
            l.samples
        );
        self.client.write_table(&mut s);
        s
    }
}

impl ClientUse {
    /// The report's `client` section.
    fn write_table(&self, s: &mut String) {
        let c = self;
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
    }
}

#[allow(clippy::cast_precision_loss)]
fn bytes_to_kib(b: u64) -> f64 {
    b as f64 / 1024.0
}

/// The client's own limits, in the words the report uses. `not_attempted`: subscribers
/// still waiting for a connection slot when `--duration` ran out.
pub fn bottlenecks(c: &ClientUse, subscribers: u32, client_limit_failures: u32, not_attempted: u32) -> Vec<String> {
    let mut out = Vec::new();
    if not_attempted > 0 {
        out.push(format!(
            "ran out of --duration during ramp-up: {not_attempted} subscriber(s) never got a connection slot; \
             raise --duration or --concurrency"
        ));
    }
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

    fn hist(values: impl IntoIterator<Item = u64>) -> Histogram {
        let h = Histogram::default();
        for v in values {
            h.record(v);
        }
        h
    }

    #[test]
    fn histogram_percentiles_are_exact_for_small_values() {
        let h = hist(1..=100);
        assert_eq!(h.percentile(50.0), Some(50));
        assert_eq!(h.percentile(95.0), Some(95));
        assert_eq!(h.percentile(99.0), Some(99));
        assert_eq!(h.percentile(100.0), Some(100));
        assert_eq!(hist([7]).percentile(99.0), Some(7));
        assert_eq!(Histogram::default().percentile(50.0), None);
        assert_eq!(Histogram::default().max(), None);
        let l = Latency::from_histogram(&hist([30, 10, 20]));
        assert_eq!((l.p50_us, l.max_us, l.samples), (Some(20), Some(30), 3));
    }

    #[test]
    fn histogram_percentiles_stay_within_a_bucket_for_large_values() {
        // 1 ms .. 10 s in 1 ms steps: the nearest-rank value is k ms.
        let h = hist((1..=10_000u64).map(|ms| ms * 1000));
        for (p, exact) in [(50.0, 5_000_000u64), (95.0, 9_500_000), (99.0, 9_900_000)] {
            let got = h.percentile(p).unwrap();
            assert!(got >= exact && got <= exact + exact / 64, "p{p}: {got} vs {exact}");
        }
        // The maximum is exact, and no percentile exceeds it.
        let h = hist([1_000, 123_457, 999_999_999]);
        assert_eq!(h.max(), Some(999_999_999));
        assert_eq!(h.percentile(100.0), Some(999_999_999));
        assert!(h.percentile(50.0).unwrap() >= 123_457 && h.percentile(50.0).unwrap() <= 123_457 + 123_457 / 64);
        // Beyond the last bucket: counted, max still exact.
        let h = hist([u64::MAX / 2]);
        assert_eq!((h.count(), h.max()), (1, Some(u64::MAX / 2)));
    }

    #[test]
    fn buckets_list_what_was_recorded() {
        let h = hist([5, 5, 200, 1_000_000]);
        let b = h.buckets();
        assert_eq!(b[0], (5, 2));
        assert_eq!(b.iter().map(|(_, n)| n).sum::<u64>(), 4);
        assert_eq!(b.last(), Some(&(1_000_000, 1)), "the last bound is the exact maximum");
        assert!(b[1].0 >= 200 && b[1].0 <= 203);
    }

    #[test]
    fn histogram_buckets_cover_every_value_in_order() {
        let mut prev = 0;
        for v in (0..5000u64).chain((13..32).map(|e| 1u64 << e)).chain([CAP - 1, CAP]) {
            let b = bucket(v);
            assert!(b < BUCKETS && b >= prev, "{v}");
            assert!(bucket_high(b) >= v, "{v}: bucket {b} ends at {}", bucket_high(b));
            assert!(b == 0 || bucket_high(b - 1) < v, "{v}");
            prev = b;
        }
    }

    #[test]
    fn failure_classes() {
        assert_eq!(FailureKind::of(&Failure::Status(502)).name(), "502");
        assert_eq!(FailureKind::of(&Failure::Status(503)).name(), "other_http");
        assert_eq!(FailureKind::of(&Failure::ClientLimit("x".into())).name(), "client_limit");
        // The discriminants index `KindCounts`: `ALL` must list them in order.
        for (i, k) in FailureKind::ALL.into_iter().enumerate() {
            assert_eq!(k as usize, i, "{k:?}");
        }
        let mut counts = KindCounts::default();
        counts[FailureKind::Reset] += 2;
        counts[FailureKind::NotAttempted] += 1;
        assert_eq!((counts.total(), counts.named()), (3, vec![("reset".into(), 2), ("not_attempted".into(), 1)]));
    }

    #[test]
    fn names_the_client_as_bottleneck() {
        let c = ClientUse { nofile_soft: 1024, nofile_hard: 1024, cores: 2, ..ClientUse::default() };
        let b = bottlenecks(&c, 5000, 3, 0);
        assert!(b[0].contains("RLIMIT_NOFILE 1024"), "{b:?}");
        assert!(b[1].contains("3 connection(s)"));
        let ok =
            ClientUse { nofile_soft: 20000, nofile_hard: 20000, cores: 2, cpu_percent: 40.0, ..ClientUse::default() };
        assert!(bottlenecks(&ok, 5000, 0, 0).is_empty());
        let slow = bottlenecks(&ok, 5000, 0, 12);
        assert!(slow[0].contains("ran out of --duration during ramp-up: 12"), "{slow:?}");
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
            latency: Latency::from_histogram(&hist([1500, 2500])),
            ..Report::default()
        };
        let t = r.to_table();
        assert!(t.contains("failed                      2   (502 2)"), "{t}");
        assert!(t.contains("lost                        1"), "{t}");
        assert!(t.contains("p50 1.5 ms"), "{t}");
        assert!(!r.clean());
    }

    #[test]
    fn nothing_published_is_not_clean_and_claims_no_percentage() {
        let r = Report {
            subscribers: 3,
            updates: 3,
            established: 3,
            warmup_failures: 2,
            warmup_failure_example: Some("HTTP 401".into()),
            ..Report::default()
        };
        assert!(!r.clean(), "0 of 3 published must fail the run");
        let t = r.to_table();
        assert!(!t.contains("100.00 %"), "{t}");
        assert!(t.contains("nothing was published"), "{t}");
        assert!(t.contains("warm-up published           0 of 2 (2 failed, e.g. HTTP 401)"), "{t}");
        let ok = Report { updates: 0, ..Report::default() };
        assert!(ok.clean(), "--updates 0 publishes nothing by request");
    }
}
