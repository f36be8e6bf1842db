//! The integration tests' view of the lab's stack (`mercure_setup::lab::stack`, one
//! code path with `mercure-setup lab`): the same rendered bundle, nginx and real hub,
//! with test-style helpers that fail the test instead of returning errors, plus what
//! only the tests use: curl subscribers (HTTP/2 or HTTP/1.1) and Symfony's publisher (php).
//!
//! Every server listens on 127.0.0.1 on a free port, is waited for by polling its
//! port, and is killed by PID when its guard drops, also when a test panics.

#![allow(dead_code, unused_imports)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mercure_setup::bundle::paths;
use mercure_setup::lab::stack as lab;

pub use mercure_setup::lab::process::{STARTUP, wait_for_port};
pub use mercure_setup::lab::stack::{Hub, Nginx, adapted_site, host_named, installed_http2_form, with_tls_line};
pub use mercure_setup::lab::tls::PublicTls;

use super::{ChildGuard, fixture, hub_binary, hub_binary_for, require_tool};

/// Makes a CA and a certificate for `domain` signed by it, in `dir`.
pub fn public_tls(dir: &Path, domain: &str) -> PublicTls {
    mercure_setup::lab::tls::public_tls(dir, domain).expect("public TLS")
}

/// A self-signed certificate and key for an impostor on the hub's port.
pub fn self_signed(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    mercure_setup::lab::tls::self_signed(dir, name).expect("self-signed certificate")
}

/// A rendered bundle in its own temporary folder.
pub struct Rendered;

impl Rendered {
    /// Renders `fixture` (a name in tests/fixtures) with extra `--set` overrides.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(fixture_name: &str, sets: &[String]) -> lab::Rendered {
        let path = fixture(fixture_name);
        let text = std::fs::read_to_string(&path).expect("read the fixture");
        lab::Rendered::from_answers(&text, &path.display().to_string(), sets)
            .unwrap_or_else(|e| panic!("render {fixture_name} failed: {e}"))
    }
}

/// The bundle's Caddyfile as the test runs it (see `lab::hub_caddyfile`).
pub fn hub_caddyfile(r: &lab::Rendered, tls_dir: Option<&Path>, state_dir: &Path) -> String {
    lab::hub_caddyfile(r, tls_dir, state_dir).expect("adapt the Caddyfile")
}

/// Starts the real hub on `port` with `caddyfile_text` (already adapted).
pub fn start_hub_text(r: &lab::Rendered, caddyfile_text: &str, port: u16, dir: &Path) -> Hub {
    start_hub_env(r, caddyfile_text, port, dir, &unit_environment(r))
}

pub use mercure_setup::lab::stack::unit_environment;

/// [`start_hub_text`] with `unit_env` as the unit's `Environment=` lines.
pub fn start_hub_env(
    r: &lab::Rendered,
    caddyfile_text: &str,
    port: u16,
    dir: &Path,
    unit_env: &[(String, String)],
) -> Hub {
    let binary = hub_binary_for(r.bundle.answers.hub.version.line());
    lab::start_hub_env(&binary, r, caddyfile_text, port, dir, unit_env).unwrap_or_else(|e| panic!("{e}"))
}

/// `nginx -t` of the configuration `conf` in `prefix` (its error log there too).
pub fn nginx_t(nginx: &Path, prefix: &Path, conf: &Path) -> Output {
    lab::nginx_t(nginx, prefix, conf).expect("run nginx -t")
}

/// Starts nginx with `site_text` (the bundle's site, possibly edited by a fault case).
pub fn start_nginx(site_text: &str, r: &lab::Rendered, public: &PublicTls, prefix: &Path) -> Nginx {
    let nginx = require_tool_sbin("nginx", "apt-get install nginx");
    lab::start_nginx(&nginx, site_text, r, public, prefix).unwrap_or_else(|e| panic!("{e}"))
}

/// The same lookup as `support::require_tool` (which also searches the sbin folders,
/// where nginx is /usr/sbin/nginx); kept under this name for the callers.
pub fn require_tool_sbin(name: &str, install: &str) -> PathBuf {
    super::require_tool(name, install)
}

/// The lab's stack with test-style methods (they panic with the cause).
pub struct Stack(pub lab::Stack);

impl std::ops::Deref for Stack {
    type Target = lab::Stack;
    fn deref(&self) -> &lab::Stack {
        &self.0
    }
}

impl std::ops::DerefMut for Stack {
    fn deref_mut(&mut self) -> &mut lab::Stack {
        &mut self.0
    }
}

impl Stack {
    /// Renders `fixture` with its hub on a free port (plus `sets`) and starts the hub and nginx.
    pub fn start(fixture_name: &str, sets: &[&str]) -> Stack {
        let mut stack = Stack::prepare(fixture_name, sets);
        stack.start_hub();
        let site = stack.site_text();
        stack.start_nginx_with(&site);
        stack
    }

    /// Renders and prepares, starting nothing (fault cases start what they need).
    pub fn prepare(fixture_name: &str, sets: &[&str]) -> Stack {
        let programs = lab::Programs { nginx: require_tool_sbin("nginx", "apt-get install nginx"), hub: hub_binary() };
        let path = fixture(fixture_name);
        let text = std::fs::read_to_string(&path).expect("read the fixture");
        let sets: Vec<String> = sets.iter().map(|s| (*s).to_string()).collect();
        let stack = lab::Stack::prepare(programs, &text, &path.display().to_string(), &sets)
            .unwrap_or_else(|e| panic!("prepare the stack for {fixture_name}: {e}"));
        Stack(stack)
    }

    pub fn hub_caddyfile(&self) -> String {
        self.0.hub_caddyfile().expect("adapt the Caddyfile")
    }

    /// Starts the hub of the release line the bundle is rendered for now (a test may
    /// render it again for another line, as a migration does).
    pub fn start_hub(&mut self) {
        self.0.programs.hub = hub_binary_for(self.0.r.bundle.answers.hub.version.line());
        self.0.start_hub().unwrap_or_else(|e| panic!("{e}"));
    }

    pub fn start_hub_text(&mut self, text: &str) {
        self.0.programs.hub = hub_binary_for(self.0.r.bundle.answers.hub.version.line());
        self.0.start_hub_text(text).unwrap_or_else(|e| panic!("{e}"));
    }

    pub fn stop_hub(&mut self) {
        self.0.stop_hub().unwrap_or_else(|e| panic!("{e}"));
    }

    pub fn hub(&self) -> &Hub {
        self.0.hub.as_ref().expect("hub started")
    }

    pub fn start_nginx_with(&mut self, site_text: &str) {
        self.0.start_nginx_with(site_text).unwrap_or_else(|e| panic!("{e}"));
    }

    pub fn nginx(&self) -> &Nginx {
        self.0.nginx.as_ref().expect("nginx started")
    }

    pub fn site_text(&self) -> String {
        self.0.site_text().expect("site")
    }

    /// curl arguments that resolve the domain to nginx's loopback port and trust the test CA.
    pub fn curl_public_args(&self) -> Vec<String> {
        vec!["--resolve".into(), self.resolve_entry(), "--cacert".into(), self.public.ca.to_string_lossy().into_owned()]
    }

    /// Subscribes through nginx over HTTPS.
    pub fn subscribe(&self, topic: &str, http: HttpVersion, token: Option<&str>) -> Subscriber {
        let mut args = self.curl_public_args();
        args.push(http.flag().into());
        if let Some(t) = token {
            args.push("-H".into());
            args.push(format!("Authorization: Bearer {t}"));
        }
        // `?topic=` on 0.x, `?match=` on 1.0 (where `?topic=` is a 400).
        let param = self.r.bundle.hub().subscribe_param;
        args.push(self.public_url(&format!("?{param}={}", urlencode(topic))));
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

    /// [`Self::publish`], failing the test (`ctx` first, then PHP's stderr) unless it succeeded.
    pub fn publish_ok(&self, topic: &str, data: &str, private: bool, count: usize, ctx: &str) {
        let published = self.publish(topic, data, private, count);
        assert!(published.status.success(), "{ctx}: publish failed: {}", String::from_utf8_lossy(&published.stderr));
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
    r: &lab::Rendered,
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

    /// Waits for the line `expected`, failing the test (`ctx` first, then everything
    /// received) when it does not come within `timeout`.
    pub fn expect_line(&mut self, timeout: Duration, expected: &str, ctx: &str) {
        assert!(
            self.wait_line(timeout, |l| l == expected).is_some(),
            "{ctx}: no `{expected}` within {timeout:?}: {}",
            self.drain(Duration::ZERO)
        );
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
