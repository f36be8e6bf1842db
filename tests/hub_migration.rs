//! The migration INSTALL.md describes, run on the real hubs behind nginx: a 0.24 bundle
//! on 0.24.2, rendered again for 1.0-compat (whose cut-over tokens the running 0.24.2
//! hub already accepts) and run on the 1.0 hub, the client switched to 1.0 (`?match=`,
//! the cut-over token), then rendered for strict 1.0. `render --dry-run` shows each
//! change first. One subscriber stays connected throughout, reconnecting with
//! `Last-Event-ID` after each hub restart as browsers' `EventSource` does, and receives
//! every update, in order, once.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mercure_setup::bundle::paths;
use mercure_setup::bundle_dir::BundleDir;

use crate::support::stack::{Stack, urlencode};
use crate::support::{require_tool, run, stderr, stdout};

const TOPIC: &str = "https://example.com/migration";

/// How the client subscribes: where (curl's connection arguments and the hub URL, which
/// follow nginx's test port), the query parameter and its bearer token.
#[derive(Clone)]
struct ClientWay {
    base: Vec<String>,
    url: String,
    param: &'static str,
    token: String,
}

impl ClientWay {
    fn new(stack: &Stack, param: &'static str) -> ClientWay {
        let mut base = stack.curl_public_args();
        base.push("--http2".into());
        ClientWay { base, url: stack.public_url(""), param, token: stack.r.token(paths::SUBSCRIBER_TOKEN) }
    }
}

#[derive(Default)]
struct Seen {
    data: Vec<String>,
    last_id: Option<String>,
    connections: usize,
}

/// A subscriber that reconnects when its stream ends, sending the last event id it saw.
struct Reconnecting {
    way: Arc<Mutex<ClientWay>>,
    seen: Arc<Mutex<Seen>>,
    child: Arc<Mutex<Option<Child>>>,
    stop: Arc<Mutex<bool>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Reconnecting {
    fn start(way: ClientWay) -> Reconnecting {
        let curl = require_tool("curl", "apt-get install curl");
        let way = Arc::new(Mutex::new(way));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let child: Arc<Mutex<Option<Child>>> = Arc::new(Mutex::new(None));
        let stop = Arc::new(Mutex::new(false));
        let (w, s, c, st) = (way.clone(), seen.clone(), child.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !*st.lock().unwrap() {
                let ClientWay { base, url, param, token } = w.lock().unwrap().clone();
                let mut cmd = Command::new(&curl);
                cmd.args(["-sS", "-N", "--http2", "--max-time", "120"]).args(&base);
                cmd.args(["-H", &format!("Authorization: Bearer {token}")]);
                if let Some(id) = s.lock().unwrap().last_id.clone() {
                    cmd.args(["-H", &format!("Last-Event-ID: {id}")]);
                }
                cmd.arg(format!("{url}?{param}={}", urlencode(TOPIC)));
                let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
                let out = child.stdout.take().unwrap();
                *c.lock().unwrap() = Some(child);
                s.lock().unwrap().connections += 1;
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    let mut seen = s.lock().unwrap();
                    if let Some(id) = line.strip_prefix("id: ") {
                        seen.last_id = Some(id.to_string());
                    } else if let Some(d) = line.strip_prefix("data: ") {
                        seen.data.push(d.to_string());
                    }
                }
                if let Some(mut child) = c.lock().unwrap().take() {
                    let _ = child.kill();
                    let _ = child.wait();
                }
                // EventSource waits before reconnecting; long enough that the updates
                // published right after a restart come from the hub's history.
                std::thread::sleep(Duration::from_millis(1500));
            }
        });
        Reconnecting { way, seen, child, stop, thread: Some(thread) }
    }

    fn wait_for(&self, data: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if self.seen.lock().unwrap().data.iter().any(|d| d == data) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("`{data}` never arrived; received: {:?}", self.seen.lock().unwrap().data);
    }
}

impl Drop for Reconnecting {
    fn drop(&mut self) {
        *self.stop.lock().unwrap() = true;
        if let Some(child) = self.child.lock().unwrap().as_mut() {
            let _ = child.kill();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `render --dry-run` for `line` lists what changes (and says what it would write), then
/// the render itself; the stack then reads the new bundle.
fn render_for(stack: &mut Stack, line: &str, expect_in_diff: &[&str]) {
    let dir = stack.r.bundle.root.clone();
    let answers = dir.join(paths::ANSWERS);
    let set = format!("hub.version={line}");
    let (a, d) = (answers.to_str().unwrap(), dir.to_str().unwrap());
    let dry = run(&["render", "--answers", a, "--out", d, "--set", &set, "--dry-run"]);
    assert!(dry.status.success(), "{}", stderr(&dry));
    let text = stdout(&dry);
    for needle in expect_in_diff.iter().chain(&["updated          0644 mercure/Caddyfile"]) {
        assert!(text.contains(needle), "--dry-run for {line} lacks `{needle}`:\n{text}");
    }
    let o = run(&["render", "--answers", a, "--out", d, "--set", &set]);
    assert!(o.status.success(), "{}", stderr(&o));
    if line == "1.0-compat" {
        assert!(stderr(&o).contains("warning: hub.version 1.0-compat"), "{}", stderr(&o));
    }
    stack.r.bundle = BundleDir::open(&dir).expect("the bundle");
    assert_eq!(stack.r.bundle.hub().line, line);
}

/// Restarts the hub (with the bundle's Caddyfile, on its line's binary) and nginx (on
/// a new test port, which the client follows, keeping its way of subscribing).
fn restart(stack: &mut Stack, client: &Reconnecting) {
    stack.start_hub();
    let site = stack.site_text();
    stack.start_nginx_with(&site);
    let mut way = client.way.lock().unwrap();
    let (param, token) = (way.param, way.token.clone());
    *way = ClientWay { param, token, ..ClientWay::new(stack, param) };
}

/// POSTs an update straight to the hub with a bundle token, as INSTALL.md's smoke test does.
fn publish_with_token(stack: &Stack, token: &str, data: &str) {
    let curl = require_tool("curl", "apt-get install curl");
    let url = format!("http://127.0.0.1:{}/.well-known/mercure", stack.r.hub_port());
    let o = Command::new(curl)
        .args(["-sS", "-f", "-H", &format!("Authorization: Bearer {token}")])
        .args(["-d", &format!("topic={TOPIC}"), "-d", &format!("data={data}"), &url])
        .output()
        .unwrap();
    assert!(o.status.success(), "publish {data}: {}{}", stdout(&o), stderr(&o));
}

fn publish_symfony(stack: &Stack, data: &str) {
    let o = stack.publish(TOPIC, data, false, 1);
    assert!(o.status.success(), "Symfony publish {data}: {}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn migrating_to_1_0_loses_no_update() {
    let mut stack = Stack::start("same-host-http-hs256-nginx122.yaml", &["hub.version=0.24"]);
    let client = Reconnecting::start(ClientWay::new(&stack, "topic"));

    // 0.24.2, a 0.x client.
    std::thread::sleep(Duration::from_millis(500));
    publish_symfony(&stack, "u0");
    client.wait_for("u0");

    // 1.0-compat rendered while 0.24.2 still runs: its cut-over token already publishes there.
    render_for(&mut stack, "1.0-compat", &["+\t\tprotocol_version_compatibility 8", "+\t\tissuer https://"]);
    publish_with_token(&stack, &stack.r.token(paths::PUBLISHER_TOKEN), "u1");
    client.wait_for("u1");
    // The 1.0 hub in compatibility mode; the 0.x client reconnects and keeps working.
    restart(&mut stack, &client);
    publish_symfony(&stack, "u2");
    client.wait_for("u2");

    // The client moves to 1.0: ?match= and the cut-over token in the header.
    *client.way.lock().unwrap() = ClientWay::new(&stack, "match");
    if let Some(c) = client.child.lock().unwrap().as_mut() {
        let _ = c.kill();
    }
    publish_symfony(&stack, "u3");
    client.wait_for("u3");

    // Strict 1.0: Symfony's mercure.yaml switches to protocol_version 1.0.
    render_for(&mut stack, "1.0", &["-\t\tprotocol_version_compatibility 8", "+            protocol_version: '1.0'"]);
    restart(&mut stack, &client);
    publish_symfony(&stack, "u4");
    client.wait_for("u4");

    let seen = client.seen.lock().unwrap();
    assert_eq!(seen.data, ["u0", "u1", "u2", "u3", "u4"], "every update once, in order");
    assert!(seen.connections >= 4, "the client reconnected after each restart: {}", seen.connections);
}
