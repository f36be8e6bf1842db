//! The lab's faults as data: each is one directive as the article or common advice
//! has it, applied as an edit to the rendered site, the hub's Caddyfile or Symfony's
//! env file, with the directive that fixes it and the troubleshooting row doctor
//! should name. Time-dependent faults are written on the lab's scaled clock.

use crate::deployment::Topology;
use crate::troubleshooting::Row;

/// The lab's clock runs this many times faster: heartbeats and timeouts are divided by it.
pub const CLOCK_SCALE: u32 = 20;

/// The hub's heartbeat in the lab: the default 40s on the scaled clock.
pub const LAB_HEARTBEAT_MS: u32 = 40_000 / CLOCK_SCALE;

/// A duration of the real clock as the lab writes it (scaled), in milliseconds.
pub const fn scaled_ms(real_secs: u32) -> u32 {
    real_secs * 1000 / CLOCK_SCALE
}

/// One edit a fault makes to a rendered file. `{port}` stands for the hub's port,
/// `{timeout}` and `{heartbeat}` for the scaled durations below.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edit {
    /// Replace the first `from` in the nginx site by `to` (one of the alternatives must be there).
    Site(&'static [(&'static str, &'static str)]),
    /// Replace the first `from` in the hub's Caddyfile by `to`.
    Caddy(&'static str, &'static str),
    /// Name the hub's site after a host and let Caddy make its own certificate (no `default_sni`).
    HostNamedHub,
    /// Symfony's `MERCURE_JWT_SECRET` replaced by another key than the hub's.
    SymfonySecret,
    /// No HTTP/2 on the public side (`http2 on;` or the `listen` parameter removed).
    NoHttp2,
}

/// What else the scenario runs for a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    /// One subscriber through nginx and one straight to the hub.
    Plain,
    /// The hub is down and a local process with a self-signed certificate holds its port.
    Impostor,
    /// Seven subscribers through nginx from one browser (at most 6 connections per origin).
    SevenSubscribers,
    /// The subscription is then left idle past the scaled read timeout.
    Idle,
    /// A browser on another origin: the CORS headers are counted.
    CrossOrigin,
}

/// One fault of the lab.
#[derive(Debug, Clone, Copy)]
pub struct Fault {
    pub name: &'static str,
    /// What it is, in a few words.
    pub title: &'static str,
    /// Where it comes from: the article, common advice.
    pub origin: &'static str,
    /// The directive(s) as people copy them.
    pub wrong: &'static str,
    /// The directive(s) that fix it (what the bundle renders).
    pub fix: &'static str,
    /// `None`: both topologies.
    pub topology: Option<Topology>,
    pub edits: &'static [Edit],
    pub setting: Setting,
    /// The troubleshooting row doctor is expected to name.
    pub row: Option<Row>,
}

/// Scaled nginx default `proxy_read_timeout` (60s) and a heartbeat longer than it (90s).
pub const READ_TIMEOUT_MS: u32 = scaled_ms(60);
pub const LONG_HEARTBEAT_MS: u32 = scaled_ms(90);
// The generated heartbeat keeps a stream alive through the default timeout; the fault's does not.
const _: () = assert!(LONG_HEARTBEAT_MS > READ_TIMEOUT_MS && LAB_HEARTBEAT_MS < READ_TIMEOUT_MS);

/// Every fault, in the order `--list-faults` and `--fault all` show them.
pub const FAULTS: &[Fault] = &[
    Fault {
        name: "websocket-upgrade",
        title: "WebSocket upgrade headers on an SSE location",
        origin: "the article's option 1",
        wrong: "proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection \"upgrade\";",
        fix: "proxy_set_header Connection \"\";",
        topology: None,
        edits: &[Edit::Site(&[(
            "proxy_set_header Connection \"\";",
            "proxy_set_header Upgrade $http_upgrade;\n        proxy_set_header Connection \"upgrade\";",
        )])],
        setting: Setting::Plain,
        row: None,
    },
    Fault {
        name: "buffering",
        title: "nginx buffering with the hub's X-Accel-Buffering ignored, HTTP/1.0 upstream",
        origin: "a caching snippet copied into a bare location (nginx's defaults otherwise)",
        wrong: "proxy_ignore_headers X-Accel-Buffering; (no proxy_buffering off, no proxy_http_version 1.1)",
        fix: "proxy_buffering off; proxy_http_version 1.1;",
        topology: None,
        edits: &[
            Edit::Site(&[("proxy_buffering off;", "proxy_ignore_headers X-Accel-Buffering;")]),
            Edit::Site(&[("proxy_http_version 1.1;", "")]),
        ],
        setting: Setting::Plain,
        row: Some(Row::Buffering),
    },
    Fault {
        name: "read-timeout",
        title: "nginx's default read timeout (60s) against a longer heartbeat (90s)",
        origin: "a location without proxy_read_timeout",
        wrong: "(no proxy_read_timeout: 60s) with heartbeat 90s",
        fix: "proxy_read_timeout 1h; (longer than twice the heartbeat)",
        topology: None,
        edits: &[
            Edit::Site(&[("proxy_read_timeout 1h;", "proxy_read_timeout {timeout}ms;")]),
            Edit::Caddy("heartbeat 2s", "heartbeat {heartbeat}ms"),
        ],
        setting: Setting::Idle,
        row: Some(Row::IdleTimeout),
    },
    Fault {
        name: "localhost-upstream",
        title: "proxy_pass to localhost (::1 and 127.0.0.1)",
        origin: "common advice",
        wrong: "proxy_pass http(s)://localhost:PORT;",
        fix: "proxy_pass http(s)://127.0.0.1:PORT; (the address the hub binds)",
        topology: None,
        edits: &[Edit::Site(&[
            ("proxy_pass http://127.0.0.1:{port};", "proxy_pass http://localhost:{port};"),
            ("proxy_pass https://127.0.0.1:{port};", "proxy_pass https://localhost:{port};"),
        ])],
        setting: Setting::Plain,
        row: Some(Row::LocalhostUpstream),
    },
    Fault {
        name: "no-sni",
        title: "no SNI to a host-named hub",
        origin: "the article's option 2 with a hub named after a host",
        wrong: "(no proxy_ssl_server_name on / proxy_ssl_name) to https://mercure.internal:PORT",
        fix: "proxy_ssl_server_name on; proxy_ssl_name mercure.internal; (and a catch-all hub with default_sni)",
        topology: Some(Topology::EndToEndTls),
        edits: &[
            Edit::Site(&[("proxy_ssl_server_name on;", "proxy_ssl_server_name off;")]),
            Edit::Site(&[("proxy_ssl_verify on;", "proxy_ssl_verify off;")]),
            Edit::HostNamedHub,
        ],
        setting: Setting::Plain,
        row: Some(Row::NoSni),
    },
    Fault {
        name: "verify-off",
        title: "proxy_ssl_verify off, with an impostor on the hub's port",
        origin: "the article's option 2",
        wrong: "proxy_ssl_verify off;",
        fix: "proxy_ssl_verify on; proxy_ssl_trusted_certificate .../ca.crt;",
        topology: Some(Topology::EndToEndTls),
        edits: &[Edit::Site(&[("proxy_ssl_verify on;", "proxy_ssl_verify off;")])],
        setting: Setting::Impostor,
        row: Some(Row::UnverifiedHop),
    },
    Fault {
        name: "cors-in-nginx",
        title: "CORS headers added by nginx on top of the hub's",
        origin: "common advice for CORS errors",
        wrong: "add_header Access-Control-Allow-Origin * always;",
        fix: "(no add_header in the location: the hub's cors_origins answers CORS)",
        topology: None,
        edits: &[Edit::Site(&[(
            "proxy_cache off;",
            "proxy_cache off;\n        add_header Access-Control-Allow-Origin * always;",
        )])],
        setting: Setting::CrossOrigin,
        row: Some(Row::Cors),
    },
    Fault {
        name: "wrong-jwt-key",
        title: "Symfony signs with another key than the hub's",
        origin: "a secret changed on one side only",
        wrong: "MERCURE_JWT_SECRET=<another key>",
        fix: "MERCURE_JWT_SECRET equal to the hub's MERCURE_PUBLISHER_JWT_KEY",
        topology: None,
        edits: &[Edit::SymfonySecret],
        setting: Setting::Plain,
        row: Some(Row::PublishRejected),
    },
    Fault {
        name: "http1-seven",
        title: "HTTP/1.1 only, seven subscribers in one browser",
        origin: "a listen line without http2",
        wrong: "listen 443 ssl; (no http2)",
        fix: "http2 on; (nginx 1.25.1+) or listen 443 ssl http2;",
        topology: None,
        edits: &[Edit::NoHttp2],
        setting: Setting::SevenSubscribers,
        row: None,
    },
];

/// Faults are told apart by name.
impl PartialEq for Fault {
    fn eq(&self, other: &Fault) -> bool {
        self.name == other.name
    }
}

impl Eq for Fault {}

impl Fault {
    pub fn applies_to(&self, topology: Topology) -> bool {
        self.topology.is_none_or(|t| t == topology)
    }

    /// The fault named `name`.
    pub fn named(name: &str) -> Option<&'static Fault> {
        FAULTS.iter().find(|f| f.name == name)
    }
}

/// Fills `{port}`, `{timeout}` and `{heartbeat}` in an edit's text.
pub fn fill(text: &str, port: u16) -> String {
    text.replace("{port}", &port.to_string())
        .replace("{timeout}", &READ_TIMEOUT_MS.to_string())
        .replace("{heartbeat}", &LONG_HEARTBEAT_MS.to_string())
}

/// A fault's edit whose line is not in the rendered file (the renderer changed under it).
#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    #[error("{fault}: none of {alternatives:?} is in the rendered site")]
    SiteLine { fault: &'static str, alternatives: &'static [(&'static str, &'static str)] },
    #[error("{fault}: the rendered site has no HTTP/2 switch")]
    NoHttp2Switch { fault: &'static str },
    #[error("{fault}: `{line}` is not in the Caddyfile")]
    CaddyLine { fault: &'static str, line: String },
}

/// The nginx site with the fault's site edits; `Err` names an edit whose line is not there.
pub fn edit_site(fault: &Fault, site: &str, port: u16) -> Result<String, FaultError> {
    let mut out = site.to_string();
    for edit in fault.edits {
        if let Edit::Site(alternatives) = edit {
            let hit = alternatives.iter().map(|(f, t)| (fill(f, port), fill(t, port))).find(|(f, _)| out.contains(f));
            let Some((from, to)) = hit else {
                return Err(FaultError::SiteLine { fault: fault.name, alternatives });
            };
            out = out.replacen(&from, &to, 1);
        }
        if *edit == Edit::NoHttp2 {
            let before = out.clone();
            out = out.replace("    http2 on;\n", "").replace(" ssl http2;", " ssl;");
            if out == before {
                return Err(FaultError::NoHttp2Switch { fault: fault.name });
            }
        }
    }
    Ok(out)
}

/// The adapted Caddyfile with the fault's hub edits.
pub fn edit_caddyfile(fault: &Fault, caddyfile: &str, port: u16) -> Result<String, FaultError> {
    let mut out = caddyfile.to_string();
    for edit in fault.edits {
        match edit {
            Edit::Caddy(from, to) => {
                let (from, to) = (fill(from, port), fill(to, port));
                if !out.contains(&from) {
                    return Err(FaultError::CaddyLine { fault: fault.name, line: from });
                }
                out = out.replacen(&from, &to, 1);
            }
            Edit::HostNamedHub => {
                out = super::stack::with_tls_line(&super::stack::host_named(&out, port), "\ttls internal");
            }
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_every_fault_names_its_fix() {
        for (i, f) in FAULTS.iter().enumerate() {
            assert!(FAULTS[i + 1..].iter().all(|g| g.name != f.name), "{} twice", f.name);
            assert!(!f.fix.is_empty() && !f.wrong.is_empty() && !f.edits.is_empty(), "{}", f.name);
        }
    }

    #[test]
    fn site_edits_fail_loudly_when_their_line_is_missing() {
        let f = Fault::named("buffering").unwrap();
        let site = "proxy_http_version 1.1;\nproxy_buffering off;\n";
        let edited = edit_site(f, site, 3000).unwrap();
        assert!(edited.contains("proxy_ignore_headers") && !edited.contains("proxy_http_version"), "{edited}");
        assert!(edit_site(f, "nothing here\n", 3000).is_err());
        let f = Fault::named("localhost-upstream").unwrap();
        let s = edit_site(f, "proxy_pass https://127.0.0.1:3000;", 3000).unwrap();
        assert_eq!(s, "proxy_pass https://localhost:3000;");
    }

    #[test]
    fn the_read_timeout_is_the_default_on_the_scaled_clock() {
        assert_eq!(READ_TIMEOUT_MS, 3000);
    }
}
