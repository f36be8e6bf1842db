//! `mercure-setup loadtest`: opens N concurrent subscriptions through the public URL
//! (one tokio task and one small buffer each), publishes M updates, and reports
//! connection failures by class, delivery per subscriber and latency percentiles,
//! and whether the client itself (its fd limit, CPU, event loop) was the bottleneck.
//!
//! Bounded: at most `MAX_SUBSCRIBERS` subscriptions, `MAX_UPDATES` updates,
//! `MAX_DELIVERIES` subscriptions x updates (memory: one bit per update and
//! subscriber, latencies in one shared fixed-size histogram), and a hard
//! `--duration` after which everything is stopped and reported.

pub mod report;
pub mod stats;

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, watch};

use crate::cli::{ReachArgs, read_token, std_duration};
use crate::diagnosis::{Diagnosis, Finding, Names};
use crate::error::Error;
use crate::net::{self, Endpoint, Failure, Resolver, Subscription, TlsTarget, Url};
use crate::values::Duration as DurationArg;
use stats::{ClientUse, FailureKind, Histogram, KindCounts, Latency, Report};

pub const MAX_SUBSCRIBERS: u32 = 200_000;
pub const MAX_UPDATES: u32 = 100_000;
/// Largest `--subscribers` x `--updates`: bounds the per-subscriber delivery bitmaps
/// (12.5 MB in all) and the run's total work.
pub const MAX_DELIVERIES: u64 = 100_000_000;
/// Longest `--duration` accepted.
const MAX_DURATION: Duration = Duration::from_secs(3600);
/// File descriptors kept for the publisher, the runtime and stdio.
const FD_RESERVE: u64 = 64;
/// How long undelivered updates are awaited after the last publish.
const DRAIN: Duration = Duration::from_secs(5);
/// Warm-up publishes (one a second) that may all fail before the run stops: the
/// measured updates could not be published either.
const WARMUP_TRIES: u32 = 3;

#[derive(Debug, Clone, clap::Args)]
pub struct LoadtestArgs {
    /// The public hub URL, e.g. `https://app.example.com/.well-known/mercure`.
    #[arg(long, value_name = "URL", value_parser = Url::parse)]
    pub public_url: Url,
    /// A publisher JWT (the bundle's tokens/publisher.jwt).
    #[arg(long, value_name = "FILE")]
    pub token_file: PathBuf,
    /// A subscriber JWT (default: the publisher token, which the hub also accepts for public updates).
    #[arg(long, value_name = "FILE")]
    pub subscriber_token_file: Option<PathBuf>,
    /// Concurrent subscriptions to open.
    #[arg(long, default_value_t = 100)]
    pub subscribers: u32,
    /// Updates to publish once the subscriptions are up.
    #[arg(long, default_value_t = 10)]
    pub updates: u32,
    /// Updates per second.
    #[arg(long, default_value_t = 1.0)]
    pub rate: f64,
    /// Hard limit for the whole run (ramp-up, publishing, draining).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = DurationArg::parse)]
    pub duration: DurationArg,
    /// Connection attempts in flight at once during ramp-up.
    #[arg(long, default_value_t = 200)]
    pub concurrency: u32,
    /// How long one connection may take to connect and answer.
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = DurationArg::parse)]
    pub connect_timeout: DurationArg,
    /// Publish here instead of the public URL (e.g. the hub directly).
    #[arg(long, value_name = "URL", value_parser = Url::parse)]
    pub publish_url: Option<Url>,
    #[command(flatten)]
    pub reach: ReachArgs,
    /// Subscribe over HTTP/2 (https only), one connection per subscriber as browser
    /// tabs of different users have; without it, HTTP/1.1.
    #[arg(long)]
    pub http2: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also write the report as a self-contained HTML page with plots (no scripts, no network).
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,
}

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

struct Plan {
    url: Url,
    publish_url: Url,
    tls: Option<TlsTarget>,
    publish_tls: Option<TlsTarget>,
    resolver: Resolver,
    publisher_token: String,
    subscriber_token: String,
    subscribers: u32,
    updates: u32,
    rate: f64,
    duration: Duration,
    concurrency: u32,
    connect_timeout: Duration,
    json: bool,
    http2: bool,
    topic: String,
}

/// TLS for `url` (None for http://), offering HTTP/2 alone in ALPN when `http2`.
fn tls_for(url: &Url, roots: Option<&rustls::RootCertStore>, http2: bool) -> Result<Option<TlsTarget>, Error> {
    if !url.https {
        return Ok(None);
    }
    let roots = match roots {
        Some(r) => r.clone(),
        None => net::native_roots().map_err(Error::Usage)?,
    };
    let (mut config, _) = net::tls_config(roots, true).map_err(Error::Failed)?;
    if http2 {
        let mut h2 = (*config).clone();
        h2.alpn_protocols = vec![b"h2".to_vec()];
        config = Arc::new(h2);
    }
    Ok(Some(TlsTarget::new(config, &url.host).map_err(Error::Usage)?))
}

impl Plan {
    fn from_args(a: &LoadtestArgs) -> Result<Plan, Error> {
        let url = a.public_url.clone();
        let publish_url = a.publish_url.clone().unwrap_or_else(|| url.clone());
        if a.subscribers == 0 || a.subscribers > MAX_SUBSCRIBERS {
            return Err(Error::Usage(format!("--subscribers must be 1..={MAX_SUBSCRIBERS}")));
        }
        if a.updates > MAX_UPDATES {
            return Err(Error::Usage(format!("--updates must be at most {MAX_UPDATES}")));
        }
        if u64::from(a.subscribers) * u64::from(a.updates) > MAX_DELIVERIES {
            return Err(Error::Usage(format!(
                "--subscribers x --updates must be at most {MAX_DELIVERIES} ({} x {} asks for {} deliveries): lower one of them",
                a.subscribers,
                a.updates,
                u64::from(a.subscribers) * u64::from(a.updates)
            )));
        }
        if !(a.rate > 0.0 && a.rate <= 10_000.0) {
            return Err(Error::Usage("--rate must be above 0 and at most 10000 updates/s".into()));
        }
        let d = std_duration(&a.duration);
        if d.is_zero() || d > MAX_DURATION {
            return Err(Error::Usage("--duration must be above 0 and at most 1h".into()));
        }
        let roots = a
            .reach
            .public_ca_pem()?
            .map(|pem| net::roots_from_pem(&pem, "--public-ca"))
            .transpose()
            .map_err(Error::Usage)?;
        let publisher_token = read_token(&a.token_file)?;
        let subscriber_token =
            a.subscriber_token_file.as_deref().map_or_else(|| Ok(publisher_token.clone()), read_token)?;
        if a.http2 && !url.https {
            return Err(Error::Usage("--http2 needs an https:// --public-url (HTTP/2 is negotiated in TLS)".into()));
        }
        Ok(Plan {
            tls: tls_for(&url, roots.as_ref(), a.http2)?,
            publish_tls: tls_for(&publish_url, roots.as_ref(), false)?,
            url,
            publish_url,
            resolver: a.reach.resolver(),
            publisher_token,
            subscriber_token,
            subscribers: a.subscribers,
            updates: a.updates,
            rate: a.rate,
            duration: d,
            concurrency: a.concurrency.max(1),
            connect_timeout: std_duration(&a.connect_timeout),
            json: a.json,
            http2: a.http2,
            topic: format!("https://mercure-setup.invalid/loadtest/{}", net::publish::nonce_hex(6)),
        })
    }

    /// The names the troubleshooting advice uses. The hub port is known only when publishing
    /// to it directly on loopback.
    fn names(&self) -> Names {
        Names {
            domain: self.url.host.clone(),
            site_file: crate::bundle::paths::nginx_site(&self.url.host),
            hub_port: if self.publish_url.is_loopback_host() { self.publish_url.port } else { 0 },
            tls_name: String::new(),
            tls: self.publish_url.is_loopback_host() && self.publish_url.https,
            heartbeat: String::new(),
        }
    }

    fn diagnose(&self, f: &Finding) -> Diagnosis {
        let mut d = f.diagnose(&self.names());
        if self.names().hub_port == 0 {
            // Advice written for a known port: say "its port" rather than ":0".
            for text in [&mut d.cause, &mut d.fix] {
                *text = text.replace("127.0.0.1:0", "its loopback port").replace(":0`", ":PORT`");
            }
        }
        d
    }
}

/// Runs `loadtest`; Ok only when every subscription held and every update was
/// published and arrived everywhere.
pub fn run(args: &LoadtestArgs) -> Result<(), Error> {
    let plan = Plan::from_args(args)?;
    if let Some(path) = &args.report {
        report::check_path(path)?;
    }
    // Raise the soft fd limit to the hard one first: the default 1024 would make the
    // client, not the server, refuse connections.
    let (soft_before, hard) = rlimit::Resource::NOFILE.get().unwrap_or((0, 0));
    let soft = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(soft_before);
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores)
        .enable_all()
        .build()
        .map_err(|e| Error::Failed(format!("cannot start the async runtime: {e}")))?;
    let client = ClientUse {
        nofile_soft: soft,
        nofile_hard: hard,
        nofile_soft_before: soft_before,
        cores,
        ..ClientUse::default()
    };
    if soft < u64::from(plan.subscribers) + FD_RESERVE {
        eprintln!(
            "warning: this process may open only {soft} files (hard limit {hard}); {} subscribers need about {}: \
             the client will be the bottleneck",
            plan.subscribers,
            u64::from(plan.subscribers) + FD_RESERVE
        );
    }
    let report = runtime.block_on(drive(plan, client));
    let text = if args.json {
        serde_json::to_string_pretty(&report).map_err(|e| Error::Failed(format!("encoding JSON: {e}")))? + "\n"
    } else {
        report.to_table()
    };
    crate::doctor::report::print_out(&text);
    runtime.shutdown_timeout(Duration::from_secs(1));
    if let Some(path) = &args.report {
        report::write(path, &report, args)?;
    }
    if report.clean() {
        Ok(())
    } else if let Some(why) = &report.aborted {
        Err(Error::Failed(format!("loadtest stopped early: {why}")))
    } else {
        Err(Error::Failed(format!(
            "loadtest: {} connection(s) failed, {} dropped, {} of {} update(s) published, {} update deliveries lost",
            report.failed,
            report.dropped,
            report.published,
            report.updates,
            report.lost()
        )))
    }
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
async fn drive(plan: Plan, mut client: ClientUse) -> Report {
    let plan = Arc::new(plan);
    let shared = Arc::new(Shared::default());
    let start = Instant::now();
    let hard_deadline = start + plan.duration;
    client.rss_before_kib = rss_kib();
    let cpu_before = cpu_seconds();
    let lag = Arc::new(AtomicU64::new(0));
    let lag_task = tokio::spawn(lag_monitor(lag.clone()));
    let (stop_tx, stop_rx) = watch::channel(false);
    let clock = Instant::now();

    // Ramp-up: every subscriber is its own task; the semaphore bounds handshakes in flight.
    let gate = Arc::new(Semaphore::new(plan.concurrency as usize));
    let mut tasks = Vec::with_capacity(plan.subscribers as usize);
    for _ in 0..plan.subscribers {
        tasks.push(tokio::spawn(subscriber(plan.clone(), shared.clone(), gate.clone(), stop_rx.clone(), clock)));
    }
    let warmup = tokio::spawn(warmup(plan.clone(), shared.clone()));
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
        if ramp_end.is_none() && done >= plan.subscribers {
            ramp_end = Some(start.elapsed());
            peak_rss = rss_kib();
        }
        if last_line.elapsed() >= Duration::from_millis(if std::io::stderr().is_terminal() { 200 } else { 2000 }) {
            progress_line(&plan, &shared, start);
            last_line = Instant::now();
        }
        if shared.warmup_gave_up.load(Ordering::Relaxed) {
            break RampEnd::PublishFailing;
        }
        if done >= plan.subscribers && warmed >= est {
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
    progress_line(&plan, &shared, start);
    eprintln!();
    let ramp = ramp_end.unwrap_or_else(|| start.elapsed());
    let warmup_failure = shared.warmup_failure.lock().map(|f| f.clone()).unwrap_or_default();

    let mut publishing = Publishing::default();
    let mut aborted = None;
    if ended == RampEnd::PublishFailing {
        let failed = shared.warmup_failed.load(Ordering::Relaxed);
        let f = warmup_failure.clone().unwrap_or(Failure::Other("no answer".into()));
        let why = format!(
            "all {failed} warm-up publishes to {} failed ({f}), so no update could be measured",
            plan.publish_url
        );
        eprintln!("loadtest: {why}");
        aborted = Some(why);
        publishing.first_failure = Some(f);
    } else {
        // Publishing at the requested rate, then draining: until every subscriber has
        // every published update, or the grace time ends.
        let mut sender = publisher(&plan);
        publishing = publish_all(&mut sender, plan.updates, plan.rate, hard_deadline, clock, plan.json).await;
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
    let mut report = summarize(&plan, results, client, ramp, &publishing, ended == RampEnd::Deadline);
    report.latency = Latency::from_histogram(&shared.latency);
    report.latency_buckets = shared.latency.buckets();
    report.warmup_published = shared.warmup_published.load(Ordering::Relaxed);
    report.warmup_failures = shared.warmup_failed.load(Ordering::Relaxed);
    report.warmup_failure_example = warmup_failure.map(|f| f.to_string());
    report.aborted = aborted;
    report
}

fn progress_line(plan: &Plan, shared: &Shared, start: Instant) {
    let done = shared.finished_attempts.load(Ordering::Relaxed);
    let est = shared.established.load(Ordering::Relaxed);
    let failed = shared.failed.load(Ordering::Relaxed);
    let width = 30usize;
    let filled = (done as usize * width / (plan.subscribers.max(1) as usize)).min(width);
    let bar = format!("{}{}", "#".repeat(filled), "-".repeat(width - filled));
    let secs = start.elapsed().as_secs_f64().max(0.001);
    let rate = f64::from(est) / secs;
    let line = format!("[{bar}] {est}/{} established, {failed} failed, {rate:.0}/s, {secs:.1} s", plan.subscribers);
    if std::io::stderr().is_terminal() {
        eprint!("\r{line}");
    } else {
        eprintln!("{line}");
    }
}

/// The likely cause of failed subscriptions (a troubleshooting row), from their classes.
fn connection_diagnosis(
    plan: &Plan,
    by_kind: &KindCounts,
    established: u32,
    statuses: &[u16],
    client_is_bottleneck: bool,
) -> Option<Diagnosis> {
    // The hub (or nginx) refused the subscriber's token: the stream is a 401/403 (troubleshooting #5, key #11).
    if let Some(&status) = statuses.iter().find(|s| matches!(s, 401 | 403)) {
        return Some(plan.diagnose(&Finding::NotTheStream { status, media_type: String::new() }));
    }
    // Nothing got through nginx at all: it has no hub to talk to.
    if established == 0 && by_kind[FailureKind::BadGateway] > 0 {
        return Some(plan.diagnose(&Finding::HubDown));
    }
    // Some subscriptions held and the rest were closed, reset or answered 502 while the
    // client had room: nginx ran out of worker connections.
    let server_side = by_kind[FailureKind::BadGateway] + by_kind[FailureKind::Reset] + by_kind[FailureKind::Closed];
    if established > 0 && server_side > 0 && !client_is_bottleneck {
        return Some(plan.diagnose(&Finding::TooFewWorkerConnections));
    }
    if let Some(&status) = statuses.iter().find(|&&s| s != 502) {
        return Some(plan.diagnose(&Finding::NotTheStream { status, media_type: String::new() }));
    }
    None
}

/// The likely cause of failed publishes.
fn publish_diagnosis(plan: &Plan, f: &Failure, established: u32) -> Option<Diagnosis> {
    match f {
        Failure::Status(status @ (401 | 403)) => Some(plan.diagnose(&Finding::PublishRejected { status: *status })),
        Failure::Status(502) if established == 0 => Some(plan.diagnose(&Finding::HubDown)),
        Failure::Status(502) => Some(plan.diagnose(&Finding::TooFewWorkerConnections)),
        Failure::Refused if plan.publish_url.is_loopback_host() => Some(plan.diagnose(&Finding::HubDown)),
        _ => None,
    }
}

fn summarize(
    plan: &Plan,
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
    let mut per_update = vec![0u32; plan.updates as usize];
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
        stats::bottlenecks(&client, plan.subscribers, by_kind[FailureKind::ClientLimit], not_attempted);
    let ramp_seconds = ramp.as_secs_f64();
    let diagnosis = connection_diagnosis(plan, &by_kind, established, &statuses, !client.bottlenecks.is_empty());
    let publish_diagnosis = publishing.first_failure.as_ref().and_then(|f| publish_diagnosis(plan, f, established));
    Report {
        public_url: plan.url.to_string(),
        subscribers: plan.subscribers,
        updates: plan.updates,
        rate: plan.rate,
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
async fn connect(plan: &Plan, permit: tokio::sync::SemaphorePermit<'_>) -> Result<Subscription, Failure> {
    let stream = net::open(&plan.url, &plan.resolver, plan.tls.as_ref(), plan.connect_timeout).await?;
    drop(permit);
    let url = plan.url.with_query("topic", &plan.topic);
    let subscribe = async {
        let sub = Subscription::request(stream, &url, Some(&plan.subscriber_token), plan.http2).await?;
        sub.refusal().map_or(Ok(sub), Err)
    };
    tokio::time::timeout(plan.connect_timeout, subscribe).await.unwrap_or(Err(Failure::Timeout))
}

/// One subscription: connect (bounded by the gate), subscribe, then count updates until stopped.
async fn subscriber(
    plan: Arc<Plan>,
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
            c = connect(&plan, permit) => c.map_err(Some),
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
    result.received = vec![0; (plan.updates as usize).div_ceil(64)];
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
async fn warmup(plan: Arc<Plan>, shared: Arc<Shared>) {
    let mut publisher = publisher(&plan);
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
fn publisher(plan: &Plan) -> net::Publisher {
    let to = Endpoint {
        url: plan.publish_url.clone(),
        host: None,
        tls: plan.publish_tls.clone(),
        resolver: plan.resolver.clone(),
    };
    net::Publisher::new(to, plan.publisher_token.clone(), plan.topic.clone(), plan.connect_timeout)
}

/// Measures how late a 10 ms timer fires: a busy client delays every event it reads.
async fn lag_monitor(max_ms: Arc<AtomicU64>) {
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
fn cpu_seconds() -> f64 {
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
    use crate::troubleshooting::Row;

    fn args() -> LoadtestArgs {
        LoadtestArgs {
            public_url: Url::parse("http://127.0.0.1:1/.well-known/mercure").unwrap(),
            token_file: PathBuf::from("/nonexistent"),
            subscriber_token_file: None,
            subscribers: 10,
            updates: 1,
            rate: 1.0,
            duration: DurationArg::parse("10s").unwrap(),
            concurrency: 10,
            connect_timeout: DurationArg::parse("1s").unwrap(),
            publish_url: None,
            reach: ReachArgs::default(),
            http2: false,
            json: false,
            report: None,
        }
    }

    #[test]
    fn bounds_are_enforced() {
        let bad = |f: &dyn Fn(&mut LoadtestArgs)| {
            let mut a = args();
            f(&mut a);
            Plan::from_args(&a).err().map(|e| e.to_string()).unwrap_or_default()
        };
        assert!(bad(&|a| a.subscribers = 0).contains("--subscribers"));
        assert!(bad(&|a| a.subscribers = MAX_SUBSCRIBERS + 1).contains("--subscribers"));
        assert!(bad(&|a| a.updates = MAX_UPDATES + 1).contains("--updates"));
        let both = bad(&|a| {
            a.subscribers = MAX_SUBSCRIBERS;
            a.updates = MAX_UPDATES;
        });
        assert!(both.contains("--subscribers x --updates must be at most 100000000"), "{both}");
        assert!(bad(&|a| a.rate = 0.0).contains("--rate"));
        assert!(bad(&|a| a.duration = DurationArg::parse("2h").unwrap()).contains("--duration"));
        assert!(bad(&|_| {}).contains("/nonexistent"));
    }

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

    fn plan() -> Plan {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("t");
        std::fs::write(&token, "x\n").unwrap();
        Plan::from_args(&LoadtestArgs {
            public_url: Url::parse("https://app.example.com/.well-known/mercure").unwrap(),
            token_file: token,
            ..args()
        })
        .unwrap()
    }

    #[test]
    fn connection_failures_get_the_matching_advice() {
        let p = plan();
        let kinds = |pairs: &[(FailureKind, u32)]| {
            let mut k = KindCounts::default();
            for &(kind, n) in pairs {
                k[kind] = n;
            }
            k
        };
        let item = |d: Option<Diagnosis>| d.map(|d| d.item);
        // Rejected subscriber token: the stream is a 401, not a capacity problem.
        assert_eq!(
            item(connection_diagnosis(&p, &kinds(&[(FailureKind::OtherHttp, 10)]), 0, &[401], false)),
            Some(Row::NotTheStream)
        );
        assert_eq!(
            item(connection_diagnosis(
                &p,
                &kinds(&[(FailureKind::OtherHttp, 4), (FailureKind::BadGateway, 2)]),
                4,
                &[403, 502],
                false
            )),
            Some(Row::NotTheStream)
        );
        // Only 502s and nothing established: no hub behind nginx.
        assert_eq!(
            item(connection_diagnosis(&p, &kinds(&[(FailureKind::BadGateway, 10)]), 0, &[502], false)),
            Some(Row::HubNotRunning)
        );
        // Some held, the rest 502/reset/closed: worker connections.
        assert_eq!(
            item(connection_diagnosis(
                &p,
                &kinds(&[(FailureKind::BadGateway, 5), (FailureKind::Reset, 2), (FailureKind::Closed, 1)]),
                60,
                &[502],
                false
            )),
            Some(Row::WorkerConnections)
        );
        // ... but not when the client itself was the limit.
        assert_eq!(item(connection_diagnosis(&p, &kinds(&[(FailureKind::Reset, 5)]), 60, &[], true)), None);
        assert_eq!(item(connection_diagnosis(&p, &kinds(&[(FailureKind::Refused, 10)]), 0, &[], false)), None);
        assert_eq!(
            item(connection_diagnosis(&p, &kinds(&[(FailureKind::OtherHttp, 10)]), 0, &[404], false)),
            Some(Row::NotTheStream)
        );
        // Publish failures.
        assert_eq!(item(publish_diagnosis(&p, &Failure::Status(401), 10)), Some(Row::PublishRejected));
        assert_eq!(item(publish_diagnosis(&p, &Failure::Status(502), 0)), Some(Row::HubNotRunning));
        let d = publish_diagnosis(&p, &Failure::Status(502), 0).unwrap();
        assert!(!d.cause.contains("127.0.0.1:0"), "{}", d.cause);
    }

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
