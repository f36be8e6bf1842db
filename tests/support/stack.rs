//! A real Mercure-behind-nginx stack on loopback, built from a rendered bundle:
//! nginx with the bundle's site (public TLS from a throwaway CA made here, ports
//! remapped), the real Mercure hub running the bundle's Caddyfile (only ports and
//! paths adapted) with the keys from `mercure.env`, plus subscribers (curl, HTTP/2
//! or HTTP/1.1) and Symfony's publisher (php).
//!
//! Every server listens on 127.0.0.1 on a free port, is waited for by polling its
//! port, and is killed by PID when its guard drops, also when a test panics.

#![allow(dead_code)]

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mercure_setup::bundle::paths;
use mercure_setup::bundle_dir::BundleDir;
use mercure_setup::check::adapt::{self, CaddyAdapt, Http2Form, NginxAdapt};
use mercure_setup::check::tools;
use mercure_setup::formats as parse;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

use super::{ChildGuard, fixture, free_port, hub_binary, require_tool, run, stderr};

/// How long a server gets to open its port.
pub const STARTUP: Duration = Duration::from_secs(15);

/// Waits until something accepts TCP connections on 127.0.0.1:`port`.
pub fn wait_for_port(port: u16, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    false
}

/// Waits until nothing accepts connections on the port any more.
pub fn wait_for_port_closed(port: u16, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200)).is_err() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    false
}

fn log_file(path: &Path) -> (Stdio, Stdio) {
    let f = File::create(path).expect("create a log file");
    (Stdio::from(f.try_clone().expect("clone log handle")), Stdio::from(f))
}

fn read_lossy(path: &Path) -> String {
    std::fs::read(path).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
}

/// Starts `cmd` with its output in `log`, waits for `port`, panics with the log if it never opens.
fn start_server(name: &str, mut cmd: Command, log: &Path, port: u16) -> ChildGuard {
    let (out, err) = log_file(log);
    let child =
        cmd.stdin(Stdio::null()).stdout(out).stderr(err).spawn().unwrap_or_else(|e| panic!("start {name}: {e}"));
    let mut guard = ChildGuard::new(name, child);
    if !wait_for_port(port, STARTUP) {
        let status = guard.child.try_wait().ok().flatten();
        panic!("{name} did not open 127.0.0.1:{port} (exit: {status:?}); its log:\n{}", read_lossy(log));
    }
    guard
}

/// The public side's TLS: a throwaway CA (what browsers would trust) and a leaf for the domain.
pub struct PublicTls {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Makes a CA and an ECDSA P-256 certificate for `domain` signed by it, in `dir`.
pub fn public_tls(dir: &Path, domain: &str) -> PublicTls {
    std::fs::create_dir_all(dir).expect("public tls dir");
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.distinguished_name.push(DnType::CommonName, "test public CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).expect("CA cert");
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().expect("leaf key");
    let mut params = CertificateParams::new(vec![domain.to_string()]).expect("leaf params");
    // 90 days, as Let's Encrypt issues: TLS scanners hold longer lifespans against the site.
    params.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    params.not_after = params.not_before + time::Duration::days(90);
    // Path validation (sslyze's, through `cryptography`) wants the issuer's key identifier.
    params.use_authority_key_identifier_extension = true;
    let leaf = params.signed_by(&key, &issuer).expect("leaf");
    let t = PublicTls { ca: dir.join("ca.pem"), cert: dir.join("fullchain.pem"), key: dir.join("privkey.pem") };
    std::fs::write(&t.ca, ca_cert.pem()).expect("write CA");
    std::fs::write(&t.cert, leaf.pem()).expect("write cert");
    std::fs::write(&t.key, key.serialize_pem()).expect("write key");
    t
}

/// A self-signed certificate and key for an impostor on the hub's port.
pub fn self_signed(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let cert = rcgen::generate_simple_self_signed(vec![name.to_string(), "127.0.0.1".into()]).expect("self-signed");
    let (c, k) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
    std::fs::write(&c, cert.cert.pem()).expect("write cert");
    std::fs::write(&k, cert.signing_key.serialize_pem()).expect("write key");
    (c, k)
}

/// A rendered bundle in its own temporary folder.
pub struct Rendered {
    pub tmp: tempfile::TempDir,
    pub bundle: BundleDir,
}

impl Rendered {
    /// Renders `fixture` (a name in tests/fixtures) with extra `--set` overrides.
    pub fn new(fixture_name: &str, sets: &[String]) -> Rendered {
        let tmp = tempfile::tempdir().expect("tempdir");
        let out = tmp.path().join("bundle");
        let answers = fixture(fixture_name);
        let mut args = vec![
            "render",
            "--answers",
            answers.to_str().expect("utf-8 path"),
            "--out",
            out.to_str().expect("utf-8 path"),
        ];
        for s in sets {
            args.push("--set");
            args.push(s);
        }
        let o = run(&args);
        assert!(o.status.success(), "render {fixture_name} failed: {}", stderr(&o));
        let bundle = BundleDir::open(&out).expect("open the rendered bundle");
        Rendered { tmp, bundle }
    }

    pub fn domain(&self) -> String {
        self.bundle.answer("domain").expect("domain in answers.yaml")
    }

    pub fn hub_port(&self) -> u16 {
        self.bundle.answer("hub.port").and_then(|p| p.parse().ok()).expect("hub.port in answers.yaml")
    }

    /// The HMAC secret the hub verifies with (from mercure/mercure.env).
    pub fn hub_secret(&self) -> String {
        let env = parse::parse_env(&self.bundle.read(paths::HUB_ENV).expect("mercure.env")).expect("parse mercure.env");
        env["MERCURE_PUBLISHER_JWT_KEY"].clone()
    }

    pub fn token(&self, rel: &str) -> String {
        self.bundle.read(rel).expect("token").trim().to_string()
    }

    pub fn cors_origins(&self) -> Vec<String> {
        let caddy = self.bundle.read(paths::CADDYFILE).expect("Caddyfile");
        let tree = parse::parse_caddyfile(&caddy).expect("parse Caddyfile");
        parse::caddy_mercure(&tree)
            .and_then(|m| parse::caddy_args(m, "cors_origins"))
            .map(<[String]>::to_vec)
            .unwrap_or_default()
    }
}

/// The real Mercure hub running an (adapted) Caddyfile.
pub struct Hub {
    pub guard: ChildGuard,
    pub port: u16,
    pub log: PathBuf,
    pub caddyfile: PathBuf,
}

impl Hub {
    pub fn log(&self) -> String {
        read_lossy(&self.log)
    }
}

/// Starts the real hub on `port` with `caddyfile_text` (already adapted), its
/// environment read from the bundle's `mercure.env` as systemd's `EnvironmentFile=`
/// passes it, and its own storage in `dir`.
pub fn start_hub_text(r: &Rendered, caddyfile_text: &str, port: u16, dir: &Path) -> Hub {
    start_hub_env(r, caddyfile_text, port, dir, &unit_environment(r))
}

/// The unit's `Environment=NAME=VALUE` lines (the Go runtime's settings), as systemd passes them.
pub fn unit_environment(r: &Rendered) -> Vec<(String, String)> {
    let unit = r.bundle.read(paths::UNIT).expect("mercure.service");
    unit.lines()
        .filter_map(|l| l.strip_prefix("Environment="))
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// [`start_hub_text`] with `unit_env` as the unit's `Environment=` lines.
pub fn start_hub_env(r: &Rendered, caddyfile_text: &str, port: u16, dir: &Path, unit_env: &[(String, String)]) -> Hub {
    std::fs::create_dir_all(dir).expect("hub dir");
    let caddyfile = dir.join("Caddyfile");
    std::fs::write(&caddyfile, caddyfile_text).expect("write Caddyfile");
    let env = parse::parse_env(&r.bundle.read(paths::HUB_ENV).expect("mercure.env")).expect("parse mercure.env");
    let mut cmd = Command::new(hub_binary());
    cmd.args(["run", "--adapter", "caddyfile", "--config"]).arg(&caddyfile).env_clear().envs(unit_env.iter().cloned());
    cmd.envs(&env);
    // The state folder (the unit's StateDirectory) becomes the test's folder.
    for var in ["XDG_DATA_HOME", "XDG_CONFIG_HOME", "HOME"] {
        cmd.env(var, dir);
    }
    let log = dir.join("hub.log");
    let guard = start_server("mercure hub", cmd, &log, port);
    Hub { guard, port, log, caddyfile }
}

/// A Caddyfile with its `tls ...` line replaced (an empty `replacement` drops it).
pub fn with_tls_line(caddyfile: &str, replacement: &str) -> String {
    let line = caddyfile.lines().find(|l| l.trim_start().starts_with("tls ")).expect("a tls line");
    caddyfile.replace(line, replacement)
}

/// The mistake people make: a site address naming the host (`https://NAME:PORT`)
/// and no `default_sni`, so a client without SNI matches no site.
pub fn host_named(caddyfile: &str, port: u16) -> String {
    caddyfile
        .replace(&format!("https://:{port} {{"), &format!("https://mercure.internal:{port} {{"))
        .replace("\tdefault_sni mercure.internal\n", "\n")
}

/// The bundle's Caddyfile as the test runs it: only the TLS folder (`tls_dir`, default
/// the bundle's), the admin endpoint (off: several hubs run at once in the suite) and
/// the storage folder (`state_dir`) change.
pub fn hub_caddyfile(r: &Rendered, tls_dir: Option<&Path>, state_dir: &Path) -> String {
    let text = r.bundle.read(paths::CADDYFILE).expect("Caddyfile");
    let tls_dir = tls_dir.map_or_else(|| r.bundle.path("mercure/tls"), Path::to_path_buf);
    let how = CaddyAdapt {
        admin: Some("off".into()),
        ..CaddyAdapt::real_hub(Some(tls_dir.to_string_lossy().into_owned()), state_dir.to_string_lossy().into_owned())
    };
    adapt::adapt_caddyfile(&text, &how).expect("adapt the Caddyfile")
}

/// nginx in the foreground (single process) with one site.
pub struct Nginx {
    pub guard: ChildGuard,
    pub https_port: u16,
    pub http_port: u16,
    pub prefix: PathBuf,
}

impl Nginx {
    pub fn error_log(&self) -> String {
        read_lossy(&self.prefix.join("error.log"))
    }

    pub fn access_log(&self) -> String {
        let mut all = read_lossy(&self.prefix.join("access.log"));
        if let Ok(rd) = std::fs::read_dir(self.prefix.join("log")) {
            for e in rd.flatten() {
                all.push_str(&read_lossy(&e.path()));
            }
        }
        all
    }
}

/// The site as the test runs it: loopback ports, the test's public certificate, the
/// bundle's CA, logs in the prefix, and HTTP/2 in the form this nginx understands.
pub fn adapted_site(site_text: &str, r: &Rendered, public: &PublicTls, prefix: &Path, https: u16, http: u16) -> String {
    let how = NginxAdapt {
        http_listen: Some(format!("127.0.0.1:{http}")),
        https_listen: Some(format!("127.0.0.1:{https}")),
        public_cert: Some((public.cert.to_string_lossy().into_owned(), public.key.to_string_lossy().into_owned())),
        tls_dir: Some(r.bundle.path("mercure/tls").to_string_lossy().into_owned()),
        log_dir: Some(prefix.join("log").to_string_lossy().into_owned()),
        http2: installed_http2_form(),
    };
    adapt::adapt_nginx_site(site_text, &how)
}

/// Debian 12 ships nginx 1.22, which predates `http2 on;`: sites rendered for
/// 1.25.1+ get the older spelling of the same switch, and nothing else changes.
pub fn installed_http2_form() -> Http2Form {
    match mercure_setup::host::installed_nginx_version() {
        Some(v) if v >= mercure_setup::values::NginxVersion::HTTP2_DIRECTIVE => Http2Form::AsRendered,
        _ => Http2Form::ListenParameter,
    }
}

/// `nginx -t` of the configuration `conf` in `prefix` (its error log there too).
pub fn nginx_t(nginx: &Path, prefix: &Path, conf: &Path) -> Output {
    Command::new(nginx)
        .arg("-t")
        .arg("-p")
        .arg(prefix)
        .arg("-c")
        .arg(conf)
        .arg("-e")
        .arg(prefix.join("error.log"))
        .output()
        .expect("run nginx -t")
}

/// Starts nginx with `site_text` (the bundle's site, possibly edited by a fault case).
pub fn start_nginx(site_text: &str, r: &Rendered, public: &PublicTls, prefix: &Path) -> Nginx {
    let nginx = require_tool_sbin("nginx", "apt-get install nginx");
    std::fs::create_dir_all(prefix).expect("nginx prefix");
    let (https_port, plain_port) = (free_port(), free_port());
    let site = adapted_site(site_text, r, public, prefix, https_port, plain_port);
    let conf = tools::write_nginx_wrapper(prefix, &site).expect("write nginx wrapper");
    let test = nginx_t(&nginx, prefix, &conf);
    assert!(test.status.success(), "nginx -t refused the test config:\n{}", String::from_utf8_lossy(&test.stderr));
    let mut cmd = Command::new(nginx);
    cmd.arg("-p").arg(prefix).arg("-c").arg(&conf).arg("-e").arg(prefix.join("error.log")).args(["-g", "daemon off;"]);
    let guard = start_server("nginx", cmd, &prefix.join("nginx.out"), https_port);
    Nginx { guard, https_port, http_port: plain_port, prefix: prefix.to_path_buf() }
}

/// The same lookup as `support::require_tool` (which also searches the sbin folders,
/// where nginx is /usr/sbin/nginx); kept under this name for the callers.
pub fn require_tool_sbin(name: &str, install: &str) -> PathBuf {
    super::require_tool(name, install)
}

/// The whole stack for one rendered bundle.
pub struct Stack {
    // Fields drop in declaration order: the servers are killed before their folder goes.
    pub nginx: Option<Nginx>,
    pub hub: Option<Hub>,
    pub public: PublicTls,
    pub work: PathBuf,
    pub r: Rendered,
}

impl Stack {
    /// Renders `fixture` with its hub on a free port (plus `sets`) and starts the hub and nginx.
    pub fn start(fixture_name: &str, sets: &[&str]) -> Stack {
        let mut stack = Stack::prepare(fixture_name, sets);
        stack.start_hub();
        let site = stack.r.bundle.read(&stack.r.bundle.nginx_site).expect("site");
        stack.start_nginx_with(&site);
        stack
    }

    /// Renders and prepares, starting nothing (fault cases start what they need).
    pub fn prepare(fixture_name: &str, sets: &[&str]) -> Stack {
        let hub_port = free_port();
        let mut all = vec![format!("hub.port={hub_port}")];
        all.extend(sets.iter().map(|s| (*s).to_string()));
        let r = Rendered::new(fixture_name, &all);
        let work = r.tmp.path().join("run");
        std::fs::create_dir_all(&work).expect("work dir");
        let public = public_tls(&work.join("public-tls"), &r.domain());
        Stack { nginx: None, hub: None, public, work, r }
    }

    /// The folder the hub keeps its state in (the bolt database, Caddy's data).
    pub fn hub_state(&self) -> PathBuf {
        self.work.join("hub")
    }

    /// The bundle's Caddyfile as the stack runs it (see [`hub_caddyfile`]).
    pub fn hub_caddyfile(&self) -> String {
        hub_caddyfile(&self.r, None, &self.hub_state())
    }

    /// Starts the real hub with the bundle's Caddyfile on the bundle's hub port.
    pub fn start_hub(&mut self) {
        let text = self.hub_caddyfile();
        self.start_hub_text(&text);
    }

    /// (Re)starts the hub with `text`, a Caddyfile from [`Stack::hub_caddyfile`] a fault case edited.
    pub fn start_hub_text(&mut self, text: &str) {
        self.stop_hub();
        let port = self.r.hub_port();
        self.hub = Some(start_hub_text(&self.r, text, port, &self.hub_state()));
    }

    pub fn stop_hub(&mut self) {
        if self.hub.take().is_some() {
            assert!(wait_for_port_closed(self.r.hub_port(), STARTUP), "the hub still listens after kill");
        }
    }

    pub fn hub(&self) -> &Hub {
        self.hub.as_ref().expect("hub started")
    }

    /// (Re)starts nginx with `site_text` in a fresh prefix.
    pub fn start_nginx_with(&mut self, site_text: &str) {
        self.nginx = None;
        let n = std::fs::read_dir(&self.work).map_or(0, Iterator::count);
        let prefix = self.work.join(format!("nginx-{n}"));
        self.nginx = Some(start_nginx(site_text, &self.r, &self.public, &prefix));
    }

    pub fn nginx(&self) -> &Nginx {
        self.nginx.as_ref().expect("nginx started")
    }

    pub fn site_text(&self) -> String {
        self.r.bundle.read(&self.r.bundle.nginx_site).expect("site")
    }

    /// The public hub URL as the test reaches it (the domain, on nginx's test port).
    pub fn public_url(&self, query: &str) -> String {
        format!("https://{}:{}/.well-known/mercure{query}", self.r.domain(), self.nginx().https_port)
    }

    /// curl arguments that resolve the domain to nginx's loopback port and trust the test CA.
    pub fn curl_public_args(&self) -> Vec<String> {
        vec![
            "--resolve".into(),
            format!("{}:{}:127.0.0.1", self.r.domain(), self.nginx().https_port),
            "--cacert".into(),
            self.public.ca.to_string_lossy().into_owned(),
        ]
    }

    /// Subscribes through nginx over HTTPS.
    pub fn subscribe(&self, topic: &str, http: HttpVersion, token: Option<&str>) -> Subscriber {
        let mut args = self.curl_public_args();
        args.push(http.flag().into());
        if let Some(t) = token {
            args.push("-H".into());
            args.push(format!("Authorization: Bearer {t}"));
        }
        args.push(self.public_url(&format!("?topic={}", urlencode(topic))));
        Subscriber::start(&args)
    }

    /// Publishes `count` updates with Symfony's Mercure component configured from `.env.local`.
    pub fn publish(&self, topic: &str, data: &str, private: bool, count: usize) -> Output {
        publish_php(
            &self.r,
            topic,
            data,
            private,
            count,
            self.nginx.as_ref().map_or(443, |n| n.https_port),
            &self.public.ca,
        )
    }
}

/// Percent-encodes a topic for a query string.
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Runs tests/support/publish.php (Symfony Mercure + Dotenv) against the bundle's `.env.local`.
pub fn publish_php(
    r: &Rendered,
    topic: &str,
    data: &str,
    private: bool,
    count: usize,
    https_port: u16,
    ca: &Path,
) -> Output {
    let php =
        require_tool("php", "apt-get install php-cli php-symfony-mercure php-symfony-dotenv php-symfony-http-client");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/publish.php");
    Command::new(php)
        .arg(script)
        .arg(r.bundle.path(paths::ENV_LOCAL))
        .args([topic, data, if private { "1" } else { "0" }, &count.to_string(), &https_port.to_string()])
        .arg(ca)
        .arg(r.bundle.answer("symfony.project_dir").expect("symfony.project_dir in answers.yaml"))
        .stdin(Stdio::null())
        .output()
        .expect("run php")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpVersion {
    Http1,
    Http2,
}

impl HttpVersion {
    fn flag(self) -> &'static str {
        match self {
            HttpVersion::Http1 => "--http1.1",
            HttpVersion::Http2 => "--http2",
        }
    }
}

/// One line the subscriber printed and when it arrived (wall clock, comparable with PHP's microtime).
#[derive(Debug, Clone)]
pub struct Line {
    pub at: SystemTime,
    pub text: String,
}

/// A curl process holding an SSE stream open; its lines arrive on a channel.
pub struct Subscriber {
    pub guard: ChildGuard,
    lines: Receiver<Line>,
    pub seen: Vec<Line>,
    stderr_path: Option<PathBuf>,
}

impl Subscriber {
    /// Starts `curl -sS -N -i ARGS` (headers included, so the status line is visible).
    pub fn start(args: &[String]) -> Subscriber {
        let curl = require_tool("curl", "apt-get install curl");
        let mut child = Command::new(curl)
            .args(["-sS", "-N", "-i", "--max-time", "30"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start curl");
        let stdout = child.stdout.take().expect("curl stdout");
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(text) = line else { break };
                if tx.send(Line { at: SystemTime::now(), text: text.trim_end().to_string() }).is_err() {
                    break;
                }
            }
        });
        Subscriber { guard: ChildGuard::new("curl subscriber", child), lines: rx, seen: Vec::new(), stderr_path: None }
    }

    /// Waits for a line matching `pred`, up to `timeout`.
    pub fn wait_line(&mut self, timeout: Duration, pred: impl Fn(&str) -> bool) -> Option<Line> {
        if let Some(l) = self.seen.iter().find(|l| pred(&l.text)) {
            return Some(l.clone());
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if pred(&l.text) {
                        return Some(l);
                    }
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    /// The status line (e.g. `HTTP/2 200`), waiting up to `timeout`.
    pub fn status(&mut self, timeout: Duration) -> Option<String> {
        self.wait_line(timeout, |l| l.starts_with("HTTP/")).map(|l| l.text)
    }

    /// Waits until the subscription is open, failing the test otherwise: the hub
    /// registers a subscriber before it sends the response headers, so once they
    /// arrived every later update reaches it.
    pub fn until_subscribed(&mut self) {
        assert!(self.wait_open(STARTUP), "the subscription never opened: {}", self.drain(Duration::ZERO));
    }

    /// Waits until the response headers are complete (the stream is open).
    pub fn wait_open(&mut self, timeout: Duration) -> bool {
        self.status(timeout).is_some() && self.wait_line(timeout, str::is_empty).is_some()
    }

    /// Everything received so far plus what arrives within `wait`.
    pub fn drain(&mut self, wait: Duration) -> String {
        let deadline = Instant::now() + wait;
        while let Ok(l) = self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            self.seen.push(l);
        }
        self.seen.iter().map(|l| l.text.as_str()).collect::<Vec<_>>().join("\n")
    }

    /// The value of header `name` in what was received (case-insensitive).
    pub fn header(&self, name: &str) -> Option<String> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        self.seen
            .iter()
            .find(|l| l.text.to_ascii_lowercase().starts_with(&prefix))
            .map(|l| l.text[prefix.len()..].trim().to_string())
    }
}

/// Seconds since the epoch as f64 (PHP's microtime(true) scale).
pub fn epoch_secs(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// One curl request (not streaming), returning status line, headers and body as text.
pub fn curl(args: &[String]) -> String {
    let curl = require_tool("curl", "apt-get install curl");
    let o = Command::new(curl).args(["-sS", "-i", "--max-time", "10"]).args(args).output().expect("run curl");
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}
