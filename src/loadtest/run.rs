//! One load test run: every subscriber a task behind a connection gate, a warm-up
//! until the hub knows them all, the measured updates at the asked rate, a drain, and
//! the per-subscriber results summed into a [`Report`].

use std::io::IsTerminal as _;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, watch};

use super::client::{cpu_seconds, lag_monitor, rss_kib};
use super::diagnosis::{connection_diagnosis, publish_diagnosis};
use super::report;
use super::spec::RunSpec;
use super::stats::{self, ClientUse, FailureKind, Histogram, KindCounts, Latency, Report};
use crate::net::{self, Endpoint, Failure, Subscription};

/// How long undelivered updates are awaited after the last publish.
const DRAIN: Duration = Duration::from_secs(5);
/// Warm-up publishes (one a second) that may all fail before the run stops: the
/// measured updates could not be published either.
const WARMUP_TRIES: u32 = 3;

/// Counters the subscriber tasks update and the progress line reads.
#[derive(Default)]
struct Shared {
    finished_attempts: AtomicU32,
    established: AtomicU32,
    failed: AtomicU32,
    /// Established subscribers that have received at least one event (so the hub knows them).
    warmed: AtomicU32,
    stop_warmup: AtomicBool,
    /// Measured updates received, over all subscribers (ends the drain early).
    deliveries: AtomicU64,
    /// Delivery latencies of every subscriber, in microseconds.
    latency: Histogram,
    warmup_published: AtomicU32,
    warmup_failed: AtomicU32,
    /// The first warm-up publish failure.
    warmup_failure: Mutex<Option<Failure>>,
    /// Set when `WARMUP_TRIES` warm-up publishes failed and none succeeded.
    warmup_gave_up: AtomicBool,
}

/// How one subscription attempt ended.
enum Outcome {
    Established,
    Failed(Failure),
    /// Still waiting for a connection slot when the run ended.
    NotAttempted,
}

/// What one subscriber saw.
struct SubResult {
    outcome: Outcome,
    /// Bit per measured update (allocated once established).
    received: Vec<u64>,
    /// Distinct measured updates received.
    delivered: u32,
    duplicates: u64,
    dropped: Option<Failure>,
    /// When connecting ended, and when an established stream dropped (us since the start).
    ended_at_us: u64,
    dropped_at_us: u64,
}

/// Why the ramp-up ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RampEnd {
    /// Every attempt finished and every established subscriber saw an event.
    Ready,
    Deadline,
    /// Every warm-up publish failed.
    PublishFailing,
}

#[allow(clippy::too_many_lines)]
pub(super) async fn drive(spec: RunSpec, mut client: ClientUse) -> Report {
    let spec = Arc::new(spec);
    let shared = Arc::new(Shared::default());
    let start = Instant::now();
    let hard_deadline = start + spec.duration;
    client.rss_before_kib = rss_kib();
    let cpu_before = cpu_seconds();
    let lag = Arc::new(AtomicU64::new(0));
    let lag_task = tokio::spawn(lag_monitor(lag.clone()));
    let (stop_tx, stop_rx) = watch::channel(false);
    let clock = Instant::now();

    // Ramp-up: every subscriber is its own task; the semaphore bounds handshakes in flight.
    let gate = Arc::new(Semaphore::new(spec.concurrency as usize));
    let mut tasks = Vec::with_capacity(spec.subscribers as usize);
    for _ in 0..spec.subscribers {
        tasks.push(tokio::spawn(subscriber(spec.clone(), shared.clone(), gate.clone(), stop_rx.clone(), clock)));
    }
    let warmup = tokio::spawn(warmup(spec.clone(), shared.clone()));
    // Progress goes to stderr, so it never mixes with the table or JSON on stdout.
    let mut last_line = Instant::now();
    let mut ramp_end = None;
    let mut peak_rss = 0;
    let ended = loop {
        tokio::time::sleep_until(tokio::time::Instant::from_std(
            (Instant::now() + Duration::from_millis(100)).min(hard_deadline),
        ))
        .await;
        let done = shared.finished_attempts.load(Ordering::Relaxed);
        let est = shared.established.load(Ordering::Relaxed);
        let warmed = shared.warmed.load(Ordering::Relaxed);
        if ramp_end.is_none() && done >= spec.subscribers {
            ramp_end = Some(start.elapsed());
            peak_rss = rss_kib();
        }
        if last_line.elapsed() >= Duration::from_millis(if std::io::stderr().is_terminal() { 200 } else { 2000 }) {
            progress_line(&spec, &shared, start);
            last_line = Instant::now();
        }
        if shared.warmup_gave_up.load(Ordering::Relaxed) {
            break RampEnd::PublishFailing;
        }
        if done >= spec.subscribers && warmed >= est {
            break RampEnd::Ready;
        }
        if Instant::now() >= hard_deadline {
            break RampEnd::Deadline;
        }
    };
    // A warm-up publish in flight may take up to two connect timeouts: the deadline is hard.
    shared.stop_warmup.store(true, Ordering::Relaxed);
    warmup.abort();
    let _ = warmup.await;
    progress_line(&spec, &shared, start);
    eprintln!();
    let ramp = ramp_end.unwrap_or_else(|| start.elapsed());
    // Under `--processes`, publish only once every process holds its subscribers.
    super::processes::barrier(hard_deadline).await;
    let warmup_failure = shared.warmup_failure.lock().map(|f| f.clone()).unwrap_or_default();

    let mut publishing = Publishing::default();
    let mut aborted = None;
    if ended == RampEnd::PublishFailing {
        let failed = shared.warmup_failed.load(Ordering::Relaxed);
        let f = warmup_failure.clone().unwrap_or(Failure::Other("no answer".into()));
        let why = format!(
            "all {failed} warm-up publishes to {} failed ({f}), so no update could be measured",
            spec.publish_url
        );
        eprintln!("loadtest: {why}");
        aborted = Some(why);
        publishing.first_failure = Some(f);
    } else {
        // Publishing at the requested rate, then draining: until every subscriber has
        // every published update, or the grace time ends.
        let mut sender = publisher(&spec);
        publishing = publish_all(&mut sender, spec.updates, spec.rate, hard_deadline, clock, spec.json).await;
        let drain_end = (Instant::now() + DRAIN).min(hard_deadline);
        let expected = u64::from(publishing.published) * u64::from(shared.established.load(Ordering::Relaxed));
        while Instant::now() < drain_end && shared.deliveries.load(Ordering::Relaxed) < expected {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let _ = stop_tx.send(true);
    peak_rss = peak_rss.max(rss_kib());
    let mut results = Vec::with_capacity(tasks.len());
    for t in tasks {
        if let Ok(r) = t.await {
            results.push(r);
        }
    }
    lag_task.abort();
    let wall = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_before;
    #[allow(clippy::cast_precision_loss)]
    let cpu_percent = if wall > 0.0 { cpu / wall / client.cores as f64 * 100.0 } else { 0.0 };
    client.cpu_percent = cpu_percent;
    client.rss_peak_kib = peak_rss;
    client.scheduling_lag_max_ms = lag.load(Ordering::Relaxed);
    let mut report = summarize(&spec, results, client, ramp, &publishing, ended == RampEnd::Deadline);
    report.latency = Latency::from_histogram(&shared.latency);
    report.latency_buckets = shared.latency.buckets();
    report.warmup_published = shared.warmup_published.load(Ordering::Relaxed);
    report.warmup_failures = shared.warmup_failed.load(Ordering::Relaxed);
    report.warmup_failure_example = warmup_failure.map(|f| f.to_string());
    report.aborted = aborted;
    report
}

fn progress_line(spec: &RunSpec, shared: &Shared, start: Instant) {
    let done = shared.finished_attempts.load(Ordering::Relaxed);
    let est = shared.established.load(Ordering::Relaxed);
    let failed = shared.failed.load(Ordering::Relaxed);
    let width = 30usize;
    let filled = (done as usize * width / (spec.subscribers.max(1) as usize)).min(width);
    let bar = format!("{}{}", "#".repeat(filled), "-".repeat(width - filled));
    let secs = start.elapsed().as_secs_f64().max(0.001);
    let rate = f64::from(est) / secs;
    let line = format!("[{bar}] {est}/{} established, {failed} failed, {rate:.0}/s, {secs:.1} s", spec.subscribers);
    if std::io::stderr().is_terminal() {
        eprint!("\r{line}");
    } else {
        eprintln!("{line}");
    }
}

fn summarize(
    spec: &RunSpec,
    results: Vec<SubResult>,
    mut client: ClientUse,
    ramp: Duration,
    publishing: &Publishing,
    ran_out_of_time: bool,
) -> Report {
    let published = publishing.published;
    let mut by_kind = KindCounts::default();
    let mut examples: Vec<(String, String)> = Vec::new();
    let mut statuses = Vec::new();
    let mut established = 0u32;
    let mut dropped = 0u32;
    let mut delivered = 0u64;
    let mut duplicates = 0u64;
    let mut complete = 0u32;
    let mut per_sub = Vec::new();
    let mut lost_hist = std::collections::BTreeMap::<u32, u32>::new();
    let mut events = Vec::with_capacity(results.len());
    let mut per_update = vec![0u32; spec.updates as usize];
    for r in results {
        match r.outcome {
            Outcome::Established => {
                events.push((r.ended_at_us / 1000, report::ESTABLISHED));
                if r.dropped.is_some() {
                    events.push((r.dropped_at_us / 1000, report::DROPPED));
                }
                for (seq, count) in per_update.iter_mut().enumerate() {
                    if r.received.get(seq / 64).is_some_and(|w| w & (1 << (seq % 64)) != 0) {
                        *count += 1;
                    }
                }
                established += 1;
                delivered += u64::from(r.delivered);
                duplicates += r.duplicates;
                per_sub.push(r.delivered);
                let lost = published.saturating_sub(r.delivered);
                *lost_hist.entry(lost).or_default() += 1;
                if lost == 0 {
                    complete += 1;
                }
                if r.dropped.is_some() {
                    dropped += 1;
                }
            }
            Outcome::Failed(f) => {
                if let Failure::Status(s) = f
                    && !statuses.contains(&s)
                {
                    statuses.push(s);
                }
                let k = FailureKind::of(&f);
                events.push((r.ended_at_us / 1000, k.name()));
                by_kind[k] += 1;
                if !examples.iter().any(|(n, _)| n == k.name()) {
                    examples.push((k.name().to_string(), f.to_string()));
                }
            }
            Outcome::NotAttempted => by_kind[FailureKind::NotAttempted] += 1,
        }
    }
    let failed = by_kind.total();
    let rss_delta = client.rss_peak_kib.saturating_sub(client.rss_before_kib) * 1024;
    client.rss_per_subscription_bytes = if established > 0 { rss_delta / u64::from(established) } else { 0 };
    // Subscribers never tried count against the client only when the duration ran out.
    let not_attempted = if ran_out_of_time { by_kind[FailureKind::NotAttempted] } else { 0 };
    client.bottlenecks =
        stats::bottlenecks(&client, spec.subscribers, by_kind[FailureKind::ClientLimit], not_attempted);
    let ramp_seconds = ramp.as_secs_f64();
    let diagnosis = connection_diagnosis(spec, &by_kind, established, &statuses, !client.bottlenecks.is_empty());
    let publish_diagnosis = publishing.first_failure.as_ref().and_then(|f| publish_diagnosis(spec, f, established));
    Report {
        public_url: spec.url.to_string(),
        subscribers: spec.subscribers,
        updates: spec.updates,
        rate: spec.rate,
        established,
        failed,
        failed_by_kind: by_kind.named(),
        failure_examples: examples,
        dropped,
        ramp_seconds,
        connections_per_second: if ramp_seconds > 0.0 { f64::from(established) / ramp_seconds } else { 0.0 },
        published,
        publish_failures: publishing.failures,
        expected_deliveries: u64::from(published) * u64::from(established),
        delivered,
        duplicates,
        complete_subscribers: complete,
        lost_histogram: lost_hist.into_iter().collect(),
        per_subscriber_delivered: per_sub,
        client,
        diagnosis,
        publish_diagnosis,
        connection_events: events,
        per_update_delivered: if published > 0 { per_update } else { Vec::new() },
        ..Report::default()
    }
}

/// Opens one subscription: TCP (and TLS) under the gate's permit, then the GET and a
/// response head that is the event stream.
async fn connect(spec: &RunSpec, permit: tokio::sync::SemaphorePermit<'_>) -> Result<Subscription, Failure> {
    let stream = net::open(&spec.url, &spec.resolver, spec.tls.as_ref(), spec.connect_timeout).await?;
    drop(permit);
    let url = spec.url.with_query(spec.subscribe_param, &spec.topic);
    let subscribe = async {
        let sub = Subscription::request(stream, &url, Some(&spec.subscriber_token), spec.http2).await?;
        sub.refusal().map_or(Ok(sub), Err)
    };
    tokio::time::timeout(spec.connect_timeout, subscribe).await.unwrap_or(Err(Failure::Timeout))
}

/// One subscription: connect (bounded by the gate), subscribe, then count updates until stopped.
async fn subscriber(
    spec: Arc<RunSpec>,
    shared: Arc<Shared>,
    gate: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
    clock: Instant,
) -> SubResult {
    let mut result = SubResult {
        outcome: Outcome::Established,
        received: Vec::new(),
        delivered: 0,
        duplicates: 0,
        dropped: None,
        ended_at_us: 0,
        dropped_at_us: 0,
    };
    let since_start = || u64::try_from(clock.elapsed().as_micros()).unwrap_or(u64::MAX);
    let permit = tokio::select! {
        p = gate.acquire() => p.ok(),
        _ = stop.wait_for(|&s| s) => None,
    };
    let connected = match permit {
        None => Err(None),
        Some(permit) => tokio::select! {
            c = connect(&spec, permit) => c.map_err(Some),
            _ = stop.wait_for(|&s| s) => Err(Some(Failure::Timeout)),
        },
    };
    shared.finished_attempts.fetch_add(1, Ordering::Relaxed);
    result.ended_at_us = since_start();
    let mut events = match connected {
        Ok(c) => {
            shared.established.fetch_add(1, Ordering::Relaxed);
            c
        }
        Err(f) => {
            shared.failed.fetch_add(1, Ordering::Relaxed);
            result.outcome = f.map_or(Outcome::NotAttempted, Outcome::Failed);
            return result;
        }
    };
    result.received = vec![0; (spec.updates as usize).div_ceil(64)];
    let mut buf = Vec::with_capacity(512);
    let mut warmed = false;
    loop {
        let read = tokio::select! {
            r = events.next_events(&mut buf) => r,
            _ = stop.wait_for(|&s| s) => break,
        };
        // An over-long line or event ends this subscription rather than growing without bound.
        let events = match read {
            Ok(Some(events)) => events,
            Ok(None) => {
                result.dropped = Some(Failure::Closed);
                break;
            }
            Err(failure) => {
                result.dropped = Some(failure);
                break;
            }
        };
        let now_us = u64::try_from(clock.elapsed().as_micros()).unwrap_or(u64::MAX);
        for ev in events {
            if !warmed {
                warmed = true;
                shared.warmed.fetch_add(1, Ordering::Relaxed);
            }
            let Some(rest) = ev.data.strip_prefix("lt ") else { continue };
            let mut parts = rest.split(' ');
            let (Some(Ok(seq)), Some(Ok(sent))) =
                (parts.next().map(str::parse::<usize>), parts.next().map(str::parse::<u64>))
            else {
                continue;
            };
            let (word, bit) = (seq / 64, 1u64 << (seq % 64));
            let Some(w) = result.received.get_mut(word) else { continue };
            if *w & bit != 0 {
                result.duplicates += 1;
                continue;
            }
            *w |= bit;
            result.delivered += 1;
            shared.deliveries.fetch_add(1, Ordering::Relaxed);
            shared.latency.record(now_us.saturating_sub(sent));
        }
    }
    if result.dropped.is_some() {
        result.dropped_at_us = since_start();
    }
    result
}

/// Publishes a throwaway update every second during ramp-up, so hubs that send
/// headers only with the first event answer, and so measured updates start only
/// once every subscriber is known to the hub. Counts its failures, and gives up
/// (`warmup_gave_up`) when the first `WARMUP_TRIES` all failed.
async fn warmup(spec: Arc<RunSpec>, shared: Arc<Shared>) {
    let mut publisher = publisher(&spec);
    while !shared.stop_warmup.load(Ordering::Relaxed) {
        match publisher.publish("warmup").await {
            Ok(()) => {
                shared.warmup_published.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                let n = shared.warmup_failed.fetch_add(1, Ordering::Relaxed) + 1;
                if let Ok(mut first) = shared.warmup_failure.lock()
                    && first.is_none()
                {
                    // On stderr, so also with --json: the report counts the rest.
                    eprintln!("warm-up publish failed: {e} (further failures are counted in the report)");
                    *first = Some(e);
                }
                if n >= WARMUP_TRIES && shared.warmup_published.load(Ordering::Relaxed) == 0 {
                    shared.warmup_gave_up.store(true, Ordering::Relaxed);
                    return;
                }
            }
        }
        for _ in 0..10 {
            if shared.stop_warmup.load(Ordering::Relaxed) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// What publishing the measured updates did.
#[derive(Debug, Default)]
struct Publishing {
    published: u32,
    failures: u32,
    first_failure: Option<Failure>,
}

/// Something measured updates are published through (a stand-in in unit tests).
trait Publish {
    async fn publish(&mut self, data: &str) -> Result<(), Failure>;
}

/// Publishes `updates` measured updates at `rate` per second; neither the pacing nor
/// a slow publish runs past `deadline`.
async fn publish_all(
    sender: &mut impl Publish,
    updates: u32,
    rate: f64,
    deadline: Instant,
    clock: Instant,
    quiet: bool,
) -> Publishing {
    let mut out = Publishing::default();
    let hard = tokio::time::Instant::from_std(deadline);
    let interval = Duration::from_secs_f64(1.0 / rate);
    let mut next = tokio::time::Instant::now();
    for seq in 0..updates {
        tokio::time::sleep_until(next.min(hard)).await;
        if tokio::time::Instant::now() >= hard {
            break;
        }
        next += interval;
        let micros = u64::try_from(clock.elapsed().as_micros()).unwrap_or(u64::MAX);
        let Ok(result) = tokio::time::timeout_at(hard, sender.publish(&format!("lt {seq} {micros}"))).await else {
            break;
        };
        match result {
            Ok(()) => out.published += 1,
            Err(e) => {
                out.failures += 1;
                if !quiet {
                    eprintln!("publish {seq} failed: {e}");
                }
                out.first_failure.get_or_insert(e);
            }
        }
    }
    out
}

impl Publish for net::Publisher {
    async fn publish(&mut self, data: &str) -> Result<(), Failure> {
        net::Publisher::publish(self, data).await
    }
}

/// A publisher to the run's topic at `--publish-url` (else the public URL).
fn publisher(spec: &RunSpec) -> net::Publisher {
    let to = Endpoint {
        url: spec.publish_url.clone(),
        host: None,
        tls: spec.publish_tls.clone(),
        resolver: spec.resolver.clone(),
    };
    net::Publisher::new(to, spec.publisher_token.clone(), spec.topic.clone(), spec.connect_timeout)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts publishes; answers each with `answer`, after `delay`.
    struct StandIn {
        calls: u32,
        delay: Duration,
        answer: Result<(), Failure>,
    }

    impl Publish for StandIn {
        async fn publish(&mut self, _: &str) -> Result<(), Failure> {
            self.calls += 1;
            tokio::time::sleep(self.delay).await;
            self.answer.clone()
        }
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap()
    }

    #[test]
    fn publishing_never_runs_past_the_duration() {
        // --rate 0.01 means one update every 100 s: the 300 ms deadline ends the run.
        let mut p = StandIn { calls: 0, delay: Duration::ZERO, answer: Ok(()) };
        let t = Instant::now();
        let out = rt().block_on(publish_all(&mut p, 5, 0.01, t + Duration::from_millis(300), t, true));
        assert!(t.elapsed() < Duration::from_secs(2), "took {:?}", t.elapsed());
        assert_eq!((out.published, p.calls), (1, 1));
        // A publish slower than the time left is cut off, not waited for.
        let mut slow = StandIn { calls: 0, delay: Duration::from_secs(60), answer: Ok(()) };
        let t = Instant::now();
        let out = rt().block_on(publish_all(&mut slow, 3, 100.0, t + Duration::from_millis(300), t, true));
        assert!(t.elapsed() < Duration::from_secs(2), "took {:?}", t.elapsed());
        assert_eq!(out.published, 0);
        // Failures are counted, and the first one is kept for the diagnosis.
        let mut refused = StandIn { calls: 0, delay: Duration::ZERO, answer: Err(Failure::Status(401)) };
        let t = Instant::now();
        let out = rt().block_on(publish_all(&mut refused, 3, 1000.0, t + Duration::from_secs(10), t, true));
        assert_eq!((out.published, out.failures, out.first_failure), (0, 3, Some(Failure::Status(401))));
    }
}
