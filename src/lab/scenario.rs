//! One lab scenario: the stack with a fault applied (or none), subscribers through
//! nginx and straight to the hub, updates published as Symfony publishes them, what
//! arrived where and when, the symptom read from those facts, and doctor's verdict.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::mpsc;

use super::LabError;
use super::faults::{self, Edit, Fault, LAB_HEARTBEAT_MS, READ_TIMEOUT_MS, Setting};
use super::stack::{Programs, Stack};
use crate::bundle::paths;
use crate::deployment::Topology;
use crate::jwt::{self, Role, SigningKey};
use crate::net::{self, Failure, Request, ResolveEntry, Resolver, Subscription, TlsTarget, Url};
use crate::values::JwtAlgorithm;

/// The lab's public domain: a reserved test name (RFC 2606) that the lab's clients
/// resolve to nginx on loopback themselves, so nothing in /etc/hosts changes.
pub const LAB_DOMAIN: &str = "mercure-lab.test";
/// A second origin, for the CORS fault (the hub's `cors_origins`).
pub const OTHER_ORIGIN: &str = "https://admin.mercure-lab.test";
/// How many updates each scenario publishes.
const UPDATES: usize = 3;
/// Later than this through nginx than straight from the hub is "late".
pub const LATE_MS: u64 = 500;
/// A browser opens at most this many HTTP/1.1 connections per origin.
pub const BROWSER_CONNECTIONS: usize = 6;
/// What a subscription that got no response head in time failed with.
const NO_HEAD: &str = "no response head within";
/// How long a response head or an update may take before it counts as never.
const WAIT: Duration = Duration::from_secs(3);

/// When one update was published and when it arrived (ms from the start of the scenario).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct UpdateTimes {
    pub published: u64,
    pub via_nginx: Option<u64>,
    pub straight_from_hub: Option<u64>,
}

/// What the scenario saw, before it is read as a symptom.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Observed {
    /// The status of the subscription through nginx, or why there was none.
    pub status: Option<u16>,
    pub failure: Option<String>,
    /// The status of the last publish.
    pub publish_status: Option<u16>,
    pub updates: Vec<UpdateTimes>,
    /// The stream through nginx ended this long after it opened (the hub's stayed open).
    pub closed_after_ms: Option<u64>,
    /// An impostor on the hub's port received a subscriber's token or served the stream.
    pub impostor_reached: bool,
    /// `Access-Control-Allow-Origin` headers on a cross-origin preflight through nginx.
    pub cors_allow_origin_headers: usize,
    /// The protocol the browser-like client negotiated with nginx.
    pub protocol: String,
    /// Subscribers that never got a connection (the browser's per-origin limit).
    pub queued_subscribers: usize,
    /// nginx's error-log lines about the upstream.
    pub upstream_errors: Vec<String>,
}

/// One scenario's result, as `lab --json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub fault: String,
    pub symptom: String,
    /// The facts the symptom was read from, in words.
    pub seen: String,
    /// The troubleshooting row doctor named for this state (the fault's, when doctor named it).
    pub doctor_row: Option<u8>,
    /// Every row doctor named.
    pub doctor_rows: Vec<u8>,
    pub fix: String,
    pub updates: Vec<UpdateTimes>,
    pub observed: Observed,
}

/// Reads the symptom from what was observed: the first that applies of a hijacked
/// hop, a refused or failed subscription, a refused publish, duplicated CORS headers,
/// a queued subscriber, a dropped stream, late updates, an upstream refusal in the log.
pub fn symptom(o: &Observed) -> (String, String) {
    if o.impostor_reached {
        return ("insecure".into(), "a process holding the hub's port received the token and served the stream".into());
    }
    let held = o.updates.iter().filter(|u| u.straight_from_hub.is_some() && u.via_nginx.is_none()).count();
    if let Some(f) = o.failure.as_deref().filter(|f| f.starts_with(NO_HEAD) && held > 0) {
        return ("late".into(), format!("nginx held the stream back ({f}) while the hub sent {held} update(s)"));
    }
    if let Some(f) = &o.failure {
        let s = if f.contains("refused") { "refused" } else { "failed" };
        return (s.into(), format!("the subscription through nginx failed: {f}"));
    }
    if let Some(s) = o.status.filter(|s| *s != 200) {
        let log = o.upstream_errors.last().map(|l| format!("; nginx: {l}")).unwrap_or_default();
        return (s.to_string(), format!("the subscription through nginx answered {s}{log}"));
    }
    if let Some(s) = o.publish_status.filter(|s| *s != 200) {
        return (s.to_string(), format!("publishing answered {s}"));
    }
    if o.cors_allow_origin_headers > 1 {
        return (
            "cors".into(),
            format!(
                "{} Access-Control-Allow-Origin headers on one response: browsers refuse it",
                o.cors_allow_origin_headers
            ),
        );
    }
    if o.queued_subscribers > 0 {
        return (
            "blocked".into(),
            format!(
                "over {} a browser's {BROWSER_CONNECTIONS} connections per origin are held by streams: {} subscriber(s) never connect",
                o.protocol, o.queued_subscribers
            ),
        );
    }
    if let Some(ms) = o.closed_after_ms {
        return ("dropped".into(), format!("nginx ended the idle stream after {ms} ms; the hub's own stayed open"));
    }
    if held > 0 {
        return ("late".into(), format!("{held} update(s) sent by the hub never came out of nginx within {WAIT:?}"));
    }
    let slow = o
        .updates
        .iter()
        .filter_map(|u| Some(u.via_nginx?.saturating_sub(u.straight_from_hub?)))
        .filter(|d| *d > LATE_MS)
        .max();
    if let Some(d) = slow {
        return ("late".into(), format!("through nginx up to {d} ms after the hub sent it"));
    }
    if let Some(l) = o.upstream_errors.iter().find(|l| l.contains("connect() failed")) {
        return ("refused".into(), format!("nginx retried another address after: {l}"));
    }
    if o.updates.iter().any(|u| u.via_nginx.is_none()) {
        return ("dropped".into(), "an update never arrived through nginx".into());
    }
    ("none".into(), "every update arrived through nginx as soon as from the hub".into())
}

/// The answers the lab renders for `topology`: the lab domain, the scaled heartbeat and
/// a second origin for CORS; everything else is the tool's default.
pub fn lab_answers(topology: Topology) -> (String, Vec<String>) {
    let text = format!("version: 1\ntopology: {}\ndomain: {LAB_DOMAIN}\n", topology.as_str());
    let sets = vec![format!("hub.heartbeat={}s", LAB_HEARTBEAT_MS / 1000), format!("hub.cors_origins={OTHER_ORIGIN}")];
    (text, sets)
}

/// A running lab: one topology's stack and the hub's current Caddyfile.
pub struct Lab {
    pub topology: Topology,
    pub stack: Stack,
    hub_text: Option<String>,
}

impl Lab {
    /// Renders the lab's bundle for `topology` and starts the hub and nginx.
    pub fn start(programs: Programs, topology: Topology) -> Result<Lab, LabError> {
        let (text, sets) = lab_answers(topology);
        let stack = Stack::prepare(programs, &text, "(lab answers)", &sets)?;
        let mut lab = Lab { topology, stack, hub_text: None };
        lab.apply(None)?;
        Ok(lab)
    }

    /// Re-renders the state for `fault` (none: the bundle as generated): the hub
    /// restarted only when its Caddyfile changes, nginx always restarted with the site.
    pub fn apply(&mut self, fault: Option<&Fault>) -> Result<(), LabError> {
        let port = self.stack.r.hub_port();
        let caddy = self.stack.hub_caddyfile()?;
        let caddy = match fault {
            Some(f) => faults::edit_caddyfile(f, &caddy, port)?,
            None => caddy,
        };
        if fault.is_some_and(|f| f.setting == Setting::Impostor) {
            self.stack.stop_hub()?;
            self.hub_text = None;
        } else if self.hub_text.as_deref() != Some(&caddy) || self.stack.hub.is_none() {
            self.stack.start_hub_text(&caddy)?;
            self.hub_text = Some(caddy);
        }
        self.set_symfony_secret(fault.is_some_and(|f| f.edits.contains(&Edit::SymfonySecret)))?;
        let site = self.stack.site_text()?;
        let site = match fault {
            Some(f) => faults::edit_site(f, &site, port)?,
            None => site,
        };
        if fault.is_some_and(|f| f.edits.contains(&Edit::NoHttp2)) {
            // Kept as edited: the adaptation for an older nginx would add HTTP/2 back.
            self.stack.start_nginx_form(&site, crate::check::adapt::Http2Form::AsRendered)
        } else {
            self.stack.start_nginx_with(&site)
        }
    }

    /// Symfony's `.env.local` with its own secret (`wrong`: another key than the hub's).
    fn set_symfony_secret(&self, wrong: bool) -> Result<(), LabError> {
        let path = self.stack.r.bundle.path(paths::ENV_LOCAL);
        let io = |e: std::io::Error| LabError::Io(format!("{}: {e}", path.display()));
        let text = std::fs::read_to_string(&path).map_err(io)?;
        let secret = if wrong { "0".repeat(64) } else { self.stack.r.hub_secret() };
        let out: String = text
            .lines()
            .map(|l| {
                if l.starts_with("MERCURE_JWT_SECRET=") {
                    format!("MERCURE_JWT_SECRET={secret}\n")
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        std::fs::write(&path, out).map_err(io)
    }

    /// Runs one scenario: applies `fault`, observes, asks doctor, and reads the symptom.
    pub fn run(&mut self, fault: Option<&Fault>) -> Result<Outcome, LabError> {
        self.apply(fault)?;
        let setting = fault.map_or(Setting::Plain, |f| f.setting);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| LabError::Start(format!("cannot start the async runtime: {e}")))?;
        let ctx = Ctx::new(self)?;
        if setting == Setting::Impostor {
            runtime.block_on(start_impostor(self.stack.r.hub_port(), ctx.impostor.clone()))?;
        }
        let mut observed = runtime.block_on(observe(&ctx, setting));
        observed.impostor_reached |= ctx.impostor.reached();
        observed.upstream_errors = upstream_errors(&self.stack);
        // Doctor runs outside the lab's runtime (it has its own), while the impostor still listens.
        let rows = self.doctor(setting)?;
        drop(runtime);
        let (symptom, seen) = symptom(&observed);
        let expected = fault.and_then(|f| f.row).map(crate::troubleshooting::Row::number);
        let doctor_row = expected.filter(|r| rows.contains(r)).or_else(|| rows.first().copied());
        let name = fault.map_or("none", |f| f.name).to_string();
        let fix = fault.map_or_else(|| "(the bundle as generated)".to_string(), |f| f.fix.to_string());
        Ok(Outcome {
            fault: name,
            symptom,
            seen,
            doctor_row,
            doctor_rows: rows,
            fix,
            updates: observed.updates.clone(),
            observed,
        })
    }

    /// doctor on the lab's state (quietly): the troubleshooting rows its failed probes named.
    fn doctor(&self, setting: Setting) -> Result<Vec<u8>, LabError> {
        let Some(nginx) = &self.stack.nginx else { return Ok(Vec::new()) };
        let entry = ResolveEntry::parse(&self.stack.resolve_entry()).map_err(|e| LabError::Usage(e.to_string()))?;
        let public = Url::parse(&self.stack.public_url("")).map_err(|e| LabError::Usage(e.to_string()))?;
        let idle = (setting == Setting::Idle).then(|| {
            let ms = u64::from(READ_TIMEOUT_MS) * 3 / 2;
            crate::values::Duration { text: format!("{ms}ms"), millis: ms }
        });
        let options = crate::doctor::Options {
            bundle: Some(self.stack.r.bundle_path()),
            public_url: Some(public),
            reach: net::ReachArgs { resolve: vec![entry], public_ca: Some(self.stack.public.ca.clone()) },
            idle,
            nginx_conf: Some(nginx.prefix.join("site.conf")),
            nginx_error_log: Some(nginx.prefix.join("error.log")),
            timeout: crate::values::Duration { text: "3s".into(), millis: 3000 },
            ..crate::doctor::Options::default()
        };
        let results = crate::doctor::probe_quietly(&options).map_err(|e| LabError::Start(format!("doctor: {e}")))?;
        let mut rows = Vec::new();
        for r in results.iter().filter(|r| r.status == crate::doctor::report::Verdict::Fail) {
            for d in &r.diagnoses {
                if !rows.contains(&d.item.number()) {
                    rows.push(d.item.number());
                }
            }
        }
        Ok(rows)
    }
}

/// nginx's error-log lines about its upstream (what a 502 says).
fn upstream_errors(stack: &Stack) -> Vec<String> {
    let log = stack.nginx.as_ref().map(super::stack::Nginx::error_log).unwrap_or_default();
    log.lines()
        .filter(|l| l.contains("upstream") && (l.contains("[error]") || l.contains("[crit]") || l.contains("[info]")))
        .filter(|l| !l.contains("client closed") && !l.contains("client prematurely"))
        .map(|l| {
            // After nginx's `*N ` connection number.
            let l = l
                .split_once(" *")
                .map_or(l, |(_, rest)| rest.trim_start_matches(|c: char| c.is_ascii_digit()).trim_start());
            net::redact_authorization(l.split(", client:").next().unwrap_or(l))
        })
        .collect()
}

/// Where and how the scenario's clients connect.
struct Ctx {
    start: Instant,
    public: Url,
    public_tls: TlsTarget,
    resolver: Resolver,
    hub: Url,
    hub_tls: Option<TlsTarget>,
    subscriber_token: String,
    publish: net::Endpoint,
    publish_token: Result<String, jwt::JwtError>,
    impostor: Arc<Impostor>,
}

impl Ctx {
    fn new(lab: &Lab) -> Result<Ctx, LabError> {
        fn bad(e: impl std::fmt::Display) -> LabError {
            LabError::Start(e.to_string())
        }
        let s = &lab.stack;
        let domain = s.r.domain();
        let public_ca = std::fs::read_to_string(&s.public.ca).map_err(|e| LabError::Io(e.to_string()))?;
        let (config, _) =
            net::tls_config(net::roots_from_pem(&public_ca, "the lab CA").map_err(bad)?, true).map_err(bad)?;
        // A browser offers HTTP/2 and HTTP/1.1.
        let mut config = (*config).clone();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let public_tls = TlsTarget::new(Arc::new(config), &domain).map_err(bad)?;
        let port = s.r.hub_port();
        let tls_name = s.r.bundle.answer("hub.tls_name").unwrap_or_else(|| "mercure.internal".into());
        let mut resolver = Resolver {
            entries: vec![ResolveEntry { host: domain.clone(), port: s.https_port(), addr: [127, 0, 0, 1].into() }],
        };
        let (hub, hub_tls) = if lab.topology == Topology::EndToEndTls {
            let ca = s.r.bundle.read(paths::CA_CERT).map_err(bad)?;
            let (c, _) = net::tls_config(net::roots_from_pem(&ca, "the hub CA").map_err(bad)?, true).map_err(bad)?;
            resolver.entries.push(ResolveEntry { host: tls_name.clone(), port, addr: [127, 0, 0, 1].into() });
            (format!("https://{tls_name}:{port}"), Some(TlsTarget::new(c, &tls_name).map_err(bad)?))
        } else {
            (format!("http://127.0.0.1:{port}"), None)
        };
        let hub = Url::parse(&format!("{hub}/.well-known/mercure")).map_err(bad)?;
        let public = Url::parse(&s.public_url("")).map_err(bad)?;
        // Symfony publishes to MERCURE_URL: loopback for plain HTTP, the public URL over TLS.
        let env = s.r.bundle.read(paths::ENV_LOCAL).map_err(bad)?;
        let env = crate::formats::parse_env(&env).map_err(bad)?;
        let publish = if lab.topology == Topology::EndToEndTls {
            net::Endpoint {
                url: public.clone(),
                host: None,
                tls: Some(public_tls_h1(&public_tls)),
                resolver: resolver.clone(),
            }
        } else {
            net::Endpoint { url: hub.clone(), host: None, tls: None, resolver: resolver.clone() }
        };
        let secret = env.get("MERCURE_JWT_SECRET").cloned().unwrap_or_default();
        let publish_token = jwt::sign(&SigningKey::Hmac(secret), JwtAlgorithm::HS256, Role::Publisher, &["*"]);
        Ok(Ctx {
            start: Instant::now(),
            public,
            public_tls,
            resolver,
            hub,
            hub_tls,
            subscriber_token: s.r.token("tokens/subscriber.jwt"),
            publish,
            publish_token,
            impostor: Arc::new(Impostor::default()),
        })
    }

    fn ms(&self, at: Instant) -> u64 {
        u64::try_from(at.duration_since(self.start).as_millis()).unwrap_or(u64::MAX)
    }
}

/// The public TLS target offering HTTP/1.1 only (for publishing and the preflight).
fn public_tls_h1(t: &TlsTarget) -> TlsTarget {
    let mut c = (*t.config).clone();
    c.alpn_protocols = vec![b"http/1.1".to_vec()];
    TlsTarget { config: Arc::new(c), name: t.name.clone() }
}

/// What a subscriber task reports.
enum Event {
    Open { status: u16, protocol: String },
    Failed(String),
    Data(String, Instant),
    Closed(Instant),
}

/// Opens one subscription and reports its head, its updates and its end on `tx`.
async fn subscribe(
    url: Url,
    resolver: Resolver,
    tls: Option<TlsTarget>,
    token: String,
    tx: mpsc::UnboundedSender<Event>,
) {
    let stream = match net::open(&url, &resolver, tls.as_ref(), WAIT).await {
        Ok(s) => s,
        Err(e) => {
            let _ = tx.send(Event::Failed(e.to_string()));
            return;
        }
    };
    let h2 = matches!(&stream, net::Stream::Tls(s) if s.get_ref().1.alpn_protocol() == Some(b"h2"));
    let protocol = if h2 { "HTTP/2" } else { "HTTP/1.1" }.to_string();
    let mut sub = match Subscription::request(stream, &url, Some(&token), h2).await {
        Ok(s) => s,
        Err(e) => {
            let _ = tx.send(Event::Failed(e.to_string()));
            return;
        }
    };
    let _ = tx.send(Event::Open { status: sub.head().status, protocol });
    let mut buf = Vec::new();
    loop {
        match sub.next_events(&mut buf).await {
            Ok(Some(events)) => {
                for e in events {
                    let _ = tx.send(Event::Data(e.data, Instant::now()));
                }
            }
            Ok(None) | Err(_) => {
                let _ = tx.send(Event::Closed(Instant::now()));
                return;
            }
        }
    }
}

/// Waits for the first `Open` or `Failed` on `rx`, keeping other events.
async fn wait_open(
    rx: &mut mpsc::UnboundedReceiver<Event>,
    kept: &mut Vec<Event>,
) -> Option<Result<(u16, String), String>> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(Event::Open { status, protocol })) => return Some(Ok((status, protocol))),
            Ok(Some(Event::Failed(f))) => return Some(Err(f)),
            Ok(Some(e)) => kept.push(e),
            Ok(None) | Err(_) => return None,
        }
    }
}

/// Drains `rx` into `kept` for up to `wait`, or until `done` holds for what was kept.
async fn collect(
    rx: &mut mpsc::UnboundedReceiver<Event>,
    kept: &mut Vec<Event>,
    wait: Duration,
    done: impl Fn(&[Event]) -> bool,
) {
    let deadline = tokio::time::Instant::now() + wait;
    while !done(kept) {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(e)) => kept.push(e),
            Ok(None) | Err(_) => return,
        }
    }
}

fn arrival(ctx: &Ctx, kept: &[Event], data: &str) -> Option<u64> {
    kept.iter().find_map(|e| match e {
        Event::Data(d, at) if d == data => Some(ctx.ms(*at)),
        _ => None,
    })
}

fn closed(ctx: &Ctx, kept: &[Event]) -> Option<u64> {
    kept.iter().find_map(|e| if let Event::Closed(at) = e { Some(ctx.ms(*at)) } else { None })
}

async fn observe(ctx: &Ctx, setting: Setting) -> Observed {
    let mut o = Observed::default();
    let topic = format!("lab-{}", net::publish::nonce_hex(4));
    let public = ctx.public.with_query("topic", &topic);
    let hub = ctx.hub.with_query("topic", &topic);
    // Straight to the hub: the control that proves each update was sent.
    let (dtx, mut drx) = mpsc::unbounded_channel();
    let mut direct = Vec::new();
    if setting != Setting::Impostor {
        tokio::spawn(subscribe(hub, ctx.resolver.clone(), ctx.hub_tls.clone(), ctx.subscriber_token.clone(), dtx));
        let _ = wait_open(&mut drx, &mut direct).await;
    }
    // Through nginx, as a browser: over HTTP/1.1 each stream holds one of its 6 connections.
    let browsers = if setting == Setting::SevenSubscribers { BROWSER_CONNECTIONS + 1 } else { 1 };
    let mut streams = Vec::new();
    let mut held_connections = 0;
    for _ in 0..browsers {
        if held_connections >= BROWSER_CONNECTIONS {
            o.queued_subscribers += 1;
            continue;
        }
        let (tx, mut rx) = mpsc::unbounded_channel();
        tokio::spawn(subscribe(
            public.clone(),
            ctx.resolver.clone(),
            Some(ctx.public_tls.clone()),
            ctx.subscriber_token.clone(),
            tx,
        ));
        let mut kept = Vec::new();
        match wait_open(&mut rx, &mut kept).await {
            Some(Ok((status, protocol))) => {
                o.status = Some(status);
                // Over HTTP/2 a browser multiplexes every stream on one connection.
                if protocol == "HTTP/1.1" || held_connections == 0 {
                    held_connections += 1;
                }
                o.protocol = protocol;
            }
            Some(Err(f)) => o.failure = Some(f),
            None => o.failure = o.failure.take().or(Some(format!("{NO_HEAD} {WAIT:?}"))),
        }
        streams.push((rx, kept));
    }
    if o.failure.as_deref() == Some(&format!("{NO_HEAD} {WAIT:?}")) && o.status.is_some() {
        o.failure = None;
    }
    let opened = Instant::now();
    for i in 0..UPDATES {
        let data = format!("lab update {i}");
        let published = Instant::now();
        o.publish_status = Some(match &ctx.publish_token {
            Ok(token) => match net::publish_once(&ctx.publish, token, &topic, &data, WAIT).await {
                Ok(x) => x.head.status,
                Err(Failure::Status(s)) => s,
                Err(_) => 0,
            },
            Err(_) => 0,
        });
        collect(&mut drx, &mut direct, Duration::from_millis(200), |_| false).await;
        o.updates.push(UpdateTimes { published: ctx.ms(published), via_nginx: None, straight_from_hub: None });
    }
    let last = |kept: &[Event]| arrival(ctx, kept, &format!("lab update {}", UPDATES - 1)).is_some();
    collect(&mut drx, &mut direct, WAIT, last).await;
    for (rx, kept) in &mut streams {
        collect(rx, kept, WAIT, last).await;
    }
    if setting == Setting::Idle {
        // Idle past the scaled read timeout: does nginx end the stream before the hub speaks?
        let until = Duration::from_millis(u64::from(READ_TIMEOUT_MS) * 3 / 2).saturating_sub(opened.elapsed());
        for (rx, kept) in &mut streams {
            collect(rx, kept, until, |k| closed(ctx, k).is_some()).await;
        }
        let open_at = ctx.ms(opened);
        o.closed_after_ms = streams.first().and_then(|(_, k)| closed(ctx, k)).map(|c| c.saturating_sub(open_at));
    }
    if setting == Setting::CrossOrigin {
        o.cors_allow_origin_headers = preflight(ctx, &public).await;
    }
    for (i, u) in o.updates.iter_mut().enumerate() {
        let data = format!("lab update {i}");
        u.straight_from_hub = arrival(ctx, &direct, &data);
        // The last subscriber through nginx stands for all (the 7th when six are queued ahead).
        u.via_nginx = streams.iter().rev().find_map(|(_, k)| arrival(ctx, k, &data));
        if streams.iter().any(|(_, k)| k.iter().any(|e| matches!(e, Event::Data(d, _) if d == "impostor"))) {
            o.impostor_reached = true;
        }
    }
    o
}

/// A CORS preflight from the other origin through nginx: how many Allow-Origin headers came back.
async fn preflight(ctx: &Ctx, url: &Url) -> usize {
    let req = Request {
        method: "OPTIONS",
        url,
        host: None,
        headers: vec![
            ("Origin", OTHER_ORIGIN.to_string()),
            ("Access-Control-Request-Method", "GET".into()),
            ("Access-Control-Request-Headers", "authorization".into()),
        ],
        body: None,
        close: true,
    };
    let tls = public_tls_h1(&ctx.public_tls);
    match net::exchange(&req, &ctx.resolver, Some(&tls), WAIT, 0, Duration::from_millis(200)).await {
        Ok(x) => x.head.all("access-control-allow-origin").len(),
        Err(_) => 0,
    }
}

/// A process on the hub's port with a self-signed certificate, as another local user
/// could start while the hub restarts: it records whether a bearer token reached it.
#[derive(Default)]
pub struct Impostor {
    got_token: std::sync::atomic::AtomicBool,
}

impl Impostor {
    fn reached(&self) -> bool {
        self.got_token.load(std::sync::atomic::Ordering::Relaxed)
    }
}

async fn start_impostor(port: u16, seen: Arc<Impostor>) -> Result<(), LabError> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let bad = |e: String| LabError::Start(format!("the impostor: {e}"));
    let cert = rcgen::generate_simple_self_signed(vec!["mercure.internal".into()]).map_err(|e| bad(e.to_string()))?;
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(net::tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .map_err(|e| bad(e.to_string()))?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.map_err(|e| bad(e.to_string()))?;
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, seen) = (acceptor.clone(), seen.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let mut head = Vec::new();
                let mut chunk = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65_536 {
                    match tls.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&chunk[..n]),
                    }
                }
                if String::from_utf8_lossy(&head).to_ascii_lowercase().contains("authorization: bearer ") {
                    seen.got_token.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                let body = b"data: impostor\n\n";
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                let _ = tls.write_all(answer.as_bytes()).await;
                let _ = tls.write_all(body).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(via: Option<u64>, direct: Option<u64>) -> UpdateTimes {
        UpdateTimes { published: 0, via_nginx: via, straight_from_hub: direct }
    }

    #[test]
    fn symptoms_come_from_the_facts() {
        let ok = Observed {
            status: Some(200),
            publish_status: Some(200),
            updates: vec![update(Some(5), Some(4))],
            ..Observed::default()
        };
        assert_eq!(symptom(&ok).0, "none");
        let held = Observed { updates: vec![update(None, Some(4))], ..ok.clone() };
        assert_eq!(symptom(&held).0, "late");
        let no_head = Observed { status: None, failure: Some(format!("{NO_HEAD} 3s")), ..held.clone() };
        assert_eq!(symptom(&no_head).0, "late");
        let slow = Observed { updates: vec![update(Some(900), Some(4))], ..ok.clone() };
        assert_eq!(symptom(&slow).0, "late");
        assert_eq!(symptom(&Observed { status: Some(502), ..ok.clone() }).0, "502");
        assert_eq!(symptom(&Observed { publish_status: Some(401), ..ok.clone() }).0, "401");
        assert_eq!(symptom(&Observed { closed_after_ms: Some(3000), ..ok.clone() }).0, "dropped");
        assert_eq!(symptom(&Observed { impostor_reached: true, ..ok.clone() }).0, "insecure");
        assert_eq!(symptom(&Observed { cors_allow_origin_headers: 2, ..ok.clone() }).0, "cors");
        assert_eq!(symptom(&Observed { queued_subscribers: 1, ..ok }).0, "blocked");
    }
}
