//! The teaching text shared by the wizard and `mercure-setup explain`: the two
//! topologies side by side, the mistakes of the widely copied blog post the tool
//! teaches against, and the symptom -> cause -> fix table of 502s and friends.
//!
//! Kept as data so the wizard can lay it out in columns and `explain` as plain text;
//! the per-question texts stay in `questions` (the one table of questions).

use std::fmt::Write as _;

use crate::questions;
use crate::values::Topology;

/// One of the two ways nginx reaches the hub, as the topology step compares them.
#[derive(Debug)]
pub struct TopologyCard {
    pub topology: Topology,
    /// A few words under the name.
    pub tagline: &'static str,
    /// The path of a subscriber's request, one hop per line.
    pub path: &'static [&'static str],
    pub protects: &'static str,
    pub costs: &'static str,
    /// The directives mercure-setup renders for it.
    pub generates: &'static [&'static str],
}

pub const SAME_HOST_HTTP: TopologyCard = TopologyCard {
    topology: Topology::SameHostHttp,
    tagline: "plain HTTP on loopback",
    path: &["browser =HTTPS/2=> nginx :443", "nginx --HTTP/1.1--> 127.0.0.1:PORT", "hub: http://:PORT, bind 127.0.0.1"],
    protects: "The hub listens on loopback only: nothing outside this machine can reach it, \
and the public side is TLS like the rest of the app.",
    costs: "Nothing to renew. Tokens and cookies cross loopback unencrypted, so a local user who \
binds the port while the hub restarts would receive them.",
    generates: &[
        "nginx: proxy_pass http://127.0.0.1:PORT;",
        "Caddyfile: http://:PORT { bind 127.0.0.1 }",
        "Caddyfile: auto_https off",
    ],
};

pub const END_TO_END_TLS: TopologyCard = TopologyCard {
    topology: Topology::EndToEndTls,
    tagline: "HTTPS to the hub, verified",
    path: &[
        "browser =HTTPS/2=> nginx :443",
        "nginx =HTTPS, verified=> 127.0.0.1:PORT",
        "hub: https://:PORT, tls hub.crt hub.key",
    ],
    protects: "nginx checks the hub's certificate against a private CA made for this bundle, so a \
process squatting on the port while the hub restarts gets no tokens or cookies.",
    costs: "A private CA and a hub certificate to renew (a re-render does it), and three nginx \
directives that blog posts get wrong.",
    generates: &[
        "nginx: proxy_pass https://127.0.0.1:PORT;",
        "nginx: proxy_ssl_verify on; proxy_ssl_trusted_certificate ca.crt;",
        "nginx: proxy_ssl_server_name on; proxy_ssl_name NAME;",
        "Caddyfile: https://:PORT, auto_https disable_redirects, default_sni NAME",
    ],
};

/// Both cards, in the order the wizard shows them.
pub const TOPOLOGIES: [&TopologyCard; 2] = [&SAME_HOST_HTTP, &END_TO_END_TLS];

/// The card for a topology.
pub fn card(topology: Topology) -> &'static TopologyCard {
    match topology {
        Topology::SameHostHttp => &SAME_HOST_HTTP,
        Topology::EndToEndTls => &END_TO_END_TLS,
    }
}

/// Something the seed article (a widely copied post on Mercure 502s) tells readers to do.
#[derive(Debug)]
pub struct Mistake {
    /// The configuration as the article shows it.
    pub snippet: &'static str,
    /// Why it fails.
    pub why: &'static str,
    /// What mercure-setup renders instead.
    pub instead: &'static str,
    /// The topology it matters for; `None` for both.
    pub topology: Option<Topology>,
}

pub const SEED_MISTAKES: &[Mistake] = &[
    Mistake {
        snippet: "proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection \"upgrade\";",
        why: "That is the WebSocket handshake. Server-sent events are a plain long GET with nothing to \
upgrade; what the stream needs is HTTP/1.1 with an empty Connection header, buffering off and a read \
timeout longer than the heartbeat, none of which the snippet sets, so events arrive late or in bursts.",
        instead: "proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_buffering off; \
proxy_cache off; proxy_read_timeout 1h;",
        topology: None,
    },
    Mistake {
        snippet: "proxy_ssl_verify off;",
        why: "Encryption without authentication (and nginx's default anyway): nginx hands subscribers' \
JWTs and cookies to whatever answers on the port, such as a local user's process bound to it while \
the hub restarts.",
        instead: "proxy_ssl_verify on; proxy_ssl_trusted_certificate /etc/mercure/tls/ca.crt; \
proxy_ssl_verify_depth 1; with a private CA made for the bundle.",
        topology: Some(Topology::EndToEndTls),
    },
    Mistake {
        snippet: "proxy_pass https://127.0.0.1:8082/...;  (no proxy_ssl_server_name)",
        why: "nginx sends no SNI by default, so a Caddy site named after a host refuses the handshake: \
502 \"SSL_do_handshake() failed ... SSL alert number 80\". nginx also never matches IP SANs, so \
verifying https://127.0.0.1 needs a DNS name.",
        instead: "proxy_ssl_server_name on; proxy_ssl_name NAME; a hub certificate for DNS:NAME, a \
catch-all https://:PORT site and default_sni NAME.",
        topology: Some(Topology::EndToEndTls),
    },
    Mistake {
        snippet: "cors_origins *  publish_origins *",
        why: "The hub is on the app's own origin, which needs no CORS at all; `*` is refused by browsers \
with cookies (withCredentials), and publish_origins * lets any web page publish with a visitor's cookie.",
        instead: "no cors_origins unless you list other origins exactly (scheme://host[:port]); \
publish_origins empty, `*` refused.",
        topology: None,
    },
];

/// One row of the symptom -> cause -> fix table.
#[derive(Debug)]
pub struct Trouble {
    pub symptom: &'static str,
    pub cause: &'static str,
    pub fix: &'static str,
    /// What the generated bundle does so the symptom does not occur.
    pub generated: &'static str,
}

/// How user-facing text points at troubleshooting row `item` (numbered from 1, as
/// `mercure-setup explain troubleshooting` prints them): number and symptom.
pub fn troubleshooting_ref(item: u8) -> String {
    let symptom = usize::from(item).checked_sub(1).and_then(|i| TROUBLESHOOTING.get(i)).map_or("", |t| t.symptom);
    format!("explain troubleshooting #{item}: {symptom}")
}

pub const TROUBLESHOOTING: &[Trouble] = &[
    Trouble {
        symptom: "502, nginx logs `connect() failed (111: Connection refused)`",
        cause: "The hub is not running. Its site address was the public domain or the default localhost, so \
Caddy tried to bind 80/443 (held by nginx) and exited; or https://name:PORT still opened a redirect \
listener on :80; or admin port 2019 was taken by another Caddy; or the bolt database path was not writable.",
        fix: "A catch-all http://:PORT or https://:PORT site, bind 127.0.0.1, auto_https off or \
disable_redirects, a unique admin address, an explicit bolt path.",
        generated: "Caddyfile with a catch-all site bound to 127.0.0.1, `auto_https off` (same-host-http) or \
`auto_https disable_redirects` (end-to-end-tls), `admin` from hub.admin (refused when it equals hub.port), \
and `transport bolt { path /var/lib/mercure/mercure.db }` inside the unit's StateDirectory.",
    },
    Trouble {
        symptom: "502, `SSL_do_handshake() failed ... SSL alert number 80`",
        cause: "nginx sent no SNI (its default) to a Caddy site named after a host.",
        fix: "A catch-all site, proxy_ssl_server_name on with proxy_ssl_name NAME, Caddy default_sni.",
        generated: "`https://:PORT` (catch-all), `proxy_ssl_server_name on; proxy_ssl_name NAME;` in the nginx \
location and `default_sni NAME` in the Caddyfile.",
    },
    Trouble {
        symptom: "502, `upstream SSL certificate does not match \"127.0.0.1\"` or `... verify error`",
        cause: "The name nginx checks or the CA it trusts does not fit the hub's certificate.",
        fix: "proxy_ssl_name set to a DNS name in the certificate, the CA file trusted, the right depth.",
        generated: "A private CA and a hub certificate for DNS:NAME, localhost, 127.0.0.1 and ::1; nginx gets \
`proxy_ssl_name NAME`, `proxy_ssl_trusted_certificate /etc/mercure/tls/ca.crt` and \
`proxy_ssl_verify_depth 1`.",
    },
    Trouble {
        symptom: "400 `Client sent an HTTP request to an HTTPS server`, or 502 `... wrong version number`",
        cause: "proxy_pass http:// to a hub whose site address lacks http:// (Caddy made it HTTPS), or \
proxy_pass https:// to a plain-HTTP hub.",
        fix: "The same scheme on both sides.",
        generated: "Both the proxy_pass scheme and the hub's site address come from the one topology answer, \
so they always agree.",
    },
    Trouble {
        symptom: "EventSource: MIME type `text/plain` or `text/html`, not `text/event-stream`",
        cause: "The response is not the stream: 401 (auth), 400 (no topic), 404 because nginx rewrote the \
path, an nginx error page, or Symfony answered because the location did not match.",
        fix: "location ^~ /.well-known/mercure and proxy_pass without a URI part.",
        generated: "`location ^~ /.well-known/mercure` with `proxy_pass` and no URI part, ahead of the PHP \
locations; INSTALL.md's curl smoke test shows the status code before a browser hides it.",
    },
    Trouble {
        symptom: "200 with an empty body; publishes \"succeed\" but nothing arrives",
        cause: "The request reached Caddy but no site matched its Host (a host-named site address).",
        fix: "A catch-all site address.",
        generated: "A catch-all `http://:PORT` or `https://:PORT` site; nginx passes `Host $host` unchanged.",
    },
    Trouble {
        symptom: "Events arrive late or in bursts",
        cause: "Buffering somewhere: a CDN, gzip on text/event-stream, or nginx told to ignore the hub's \
`X-Accel-Buffering: no` (`proxy_ignore_headers`), which otherwise turns nginx's own buffering off.",
        fix: "proxy_http_version 1.1, an empty Connection header, proxy_buffering off, proxy_cache off; never \
gzip text/event-stream.",
        generated: "`proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_buffering off; \
proxy_cache off;` in the hub location, no `encode` in the hub's site, and INSTALL.md says to keep \
text/event-stream out of gzip_types.",
    },
    Trouble {
        symptom: "Connections drop every 60 seconds",
        cause: "proxy_read_timeout (60s by default) shorter than the hub's heartbeat, or the heartbeat off.",
        fix: "Keep proxy_read_timeout at least twice the heartbeat.",
        generated: "`proxy_read_timeout 1h` and `heartbeat 40s`; hub.heartbeat is refused when 0 or above 30m.",
    },
    Trouble {
        symptom: "Every stream reconnects every 10 minutes",
        cause: "The hub's write_timeout (600s) ends streams by design; harmless unless the JWT expired \
meanwhile.",
        fix: "Nothing to fix; give subscriber cookies a lifetime longer than a reconnect.",
        generated: "The default write_timeout is kept; EventSource reconnects with Last-Event-ID and the bolt \
history (hub.history_size updates) replays what it missed.",
    },
    Trouble {
        symptom: "CORS errors in the browser console",
        cause: "The hub on another origin without exact cors_origins, `*` with credentials, or nginx adding \
its own Access-Control-* headers on top of the hub's.",
        fix: "Same origin, exact origins (scheme://host[:port], no slash or path), no CORS headers in nginx.",
        generated: "The hub on the app's own origin; cors_origins only as you list them, each validated as an \
exact origin, `*` warned about; no Access-Control-* header in the nginx site.",
    },
    Trouble {
        symptom: "Publishing answers 401",
        cause: "The hub's key is not MERCURE_JWT_SECRET, a JWT was pasted where the secret belongs, the \
algorithms differ, or the token's mercure.publish does not cover the topic. Caddy logs the reason only \
at debug level.",
        fix: "One key and one algorithm on both sides, publish: '*'.",
        generated: "One secret from the OS random source written to both mercure.env (hub) and .env.local \
(Symfony), the same algorithm on both sides, `publish: '*'` in mercure.yaml, and tokens/publisher.jwt for \
INSTALL.md's curl test.",
    },
    Trouble {
        symptom: "Symfony: `Key provided is shorter than 256 bits`",
        cause: "lcobucci/jwt needs at least 32 bytes for HS256 and 64 for HS512.",
        fix: "A longer random secret.",
        generated: "An 86-character base64url secret (512 bits), enough for HS512, reused on every re-render.",
    },
    Trouble {
        symptom: "A directive in the mercure block \"does nothing\"",
        cause: "Mercure 0.x silently ignores unknown directives (use_forwarded_headers, jwt_secret, ...).",
        fix: "Only directives the hub knows.",
        generated: "Only Mercure 0.24 directives: publisher_jwt, subscriber_jwt, transport, anonymous, \
subscriptions, cors_origins, publish_origins, heartbeat.",
    },
    Trouble {
        symptom: "JWTs show up in access logs",
        cause: "Mercure 0.x accepts the token in the `authorization` query parameter, and nginx logs the \
query string.",
        fix: "A log format that redacts it. nginx's error log still records the whole request line when the \
upstream fails (a 502 while the hub restarts) and cannot be redacted: prefer the mercureAuthorization cookie \
(Symfony sets it) or an Authorization header to the query parameter, and keep the error log unreadable to \
other users (ls -l /var/log/nginx/error.log: no read bit for others).",
        generated: "A `log_format` for the hub location that replaces the authorization value with REDACTED, \
a Caddy log filter that does the same, and UMask=0027 in nginx's systemd drop-in so that the log files nginx \
creates are not readable by other users.",
    },
    Trouble {
        symptom: "Subscribers beyond a few hundred fail",
        cause: "Each proxied subscriber costs nginx two connections; Debian's worker_connections 768 caps one \
worker at about 380.",
        fix: "Raise worker_connections, worker_rlimit_nofile (at least twice) and LimitNOFILE.",
        generated: "worker_connections and worker_rlimit_nofile sized from nginx.expected_subscribers (INSTALL.md \
shows where they go), a systemd drop-in raising nginx's LimitNOFILE, and LimitNOFILE=1048576 for the hub.",
    },
];

/// A topic of `mercure-setup explain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    SameHostHttp,
    EndToEndTls,
    Troubleshooting,
}

impl Topic {
    pub const ALL: [Topic; 3] = [Topic::SameHostHttp, Topic::EndToEndTls, Topic::Troubleshooting];

    pub fn as_str(self) -> &'static str {
        match self {
            Topic::SameHostHttp => "same-host-http",
            Topic::EndToEndTls => "end-to-end-tls",
            Topic::Troubleshooting => "troubleshooting",
        }
    }

    pub fn parse(s: &str) -> Result<Topic, String> {
        Topic::ALL.into_iter().find(|t| t.as_str() == s).ok_or_else(|| {
            format!("`{}` is not a topic: use same-host-http, end-to-end-tls or troubleshooting", s.escape_debug())
        })
    }
}

/// Width `explain` wraps its text to.
const WIDTH: usize = 78;

/// Word-wraps `text` to `width` columns, every line starting with `indent`.
pub fn wrap(text: &str, width: usize, indent: &str) -> Vec<String> {
    let mut lines = Vec::new();
    for para in text.split('\n') {
        let mut line = String::from(indent);
        let mut empty = true;
        for word in para.split_whitespace() {
            if !empty && line.chars().count() + 1 + word.chars().count() > width {
                lines.push(std::mem::replace(&mut line, String::from(indent)));
                empty = true;
            }
            if !empty {
                line.push(' ');
            }
            line.push_str(word);
            empty = false;
        }
        lines.push(line.trim_end().to_string());
    }
    lines
}

/// Writes text for a terminal or a pipe; only headings are styled, and only when asked.
struct Out {
    text: String,
    styled: bool,
}

impl Out {
    fn heading(&mut self, title: &str) {
        if self.styled {
            let _ = writeln!(self.text, "\x1b[1m{title}\x1b[0m");
        } else {
            let _ = writeln!(self.text, "{title}\n{}", "=".repeat(title.chars().count()));
        }
    }

    fn subheading(&mut self, title: &str) {
        if self.styled {
            let _ = writeln!(self.text, "\n\x1b[1m{title}\x1b[0m");
        } else {
            let _ = writeln!(self.text, "\n{title}");
        }
    }

    fn para(&mut self, text: &str, indent: &str) {
        for line in wrap(text, WIDTH, indent) {
            let _ = writeln!(self.text, "{line}");
        }
    }

    /// A bullet whose continuation lines align under its text.
    fn bullet(&mut self, text: &str) {
        for (i, line) in wrap(text, WIDTH - 2, "    ").into_iter().enumerate() {
            let line = if i == 0 { format!("  - {}", line.trim_start()) } else { line };
            let _ = writeln!(self.text, "{line}");
        }
    }
}

/// The full text of `explain TOPIC`, or of the overview when no topic is given.
/// `styled` adds bold headings (for a terminal without `NO_COLOR`).
pub fn explain(topic: Option<Topic>, styled: bool) -> String {
    let mut out = Out { text: String::new(), styled };
    match topic {
        None => overview(&mut out),
        Some(Topic::SameHostHttp) => topology(&mut out, Topology::SameHostHttp),
        Some(Topic::EndToEndTls) => topology(&mut out, Topology::EndToEndTls),
        Some(Topic::Troubleshooting) => troubleshooting(&mut out),
    }
    out.text
}

fn overview(out: &mut Out) {
    out.heading("Two ways for nginx to reach the Mercure hub");
    if let Some(q) = questions::question("topology") {
        out.text.push('\n');
        out.para(q.teach, "");
    }
    for c in TOPOLOGIES {
        out.subheading(&format!("{}: {}", c.topology.as_str(), c.tagline));
        for hop in c.path {
            out.para(hop, "    ");
        }
        out.para(&format!("Protects: {}", c.protects), "  ");
        out.para(&format!("Costs: {}", c.costs), "  ");
    }
    mistakes(out, None);
    out.subheading("More");
    for t in Topic::ALL {
        out.para(&format!("mercure-setup explain {}", t.as_str()), "  ");
    }
}

fn topology(out: &mut Out, topology: Topology) {
    let c = card(topology);
    out.heading(&format!("{}: {}", topology.as_str(), c.tagline));
    out.subheading("The path of a request");
    for hop in c.path {
        out.para(hop, "  ");
    }
    out.subheading("What it protects against");
    out.para(c.protects, "  ");
    out.subheading("What it costs");
    out.para(c.costs, "  ");
    out.subheading("What mercure-setup generates");
    for g in c.generates {
        out.bullet(g);
    }
    let other = match topology {
        Topology::SameHostHttp => Topology::EndToEndTls,
        Topology::EndToEndTls => Topology::SameHostHttp,
    };
    mistakes(out, Some(topology));
    out.subheading("See also");
    out.para(&format!("mercure-setup explain {}", other.as_str()), "  ");
    out.para("mercure-setup explain troubleshooting", "  ");
}

/// The seed article's mistakes that apply to `topology` (all of them for `None`).
fn mistakes(out: &mut Out, topology: Option<Topology>) {
    out.subheading("Mistakes a widely copied blog post makes, and why they fail");
    for m in SEED_MISTAKES.iter().filter(|m| topology.is_none() || m.topology.is_none() || m.topology == topology) {
        out.text.push('\n');
        out.para(&format!("The post: {}", m.snippet), "  ");
        out.para(&format!("Why it fails: {}", m.why), "    ");
        out.para(&format!("mercure-setup renders: {}", m.instead), "    ");
    }
}

fn troubleshooting(out: &mut Out) {
    out.heading("Troubleshooting: symptom -> cause -> fix");
    out.text.push('\n');
    out.para(
        "Each entry names what the bundle mercure-setup renders does so that it does not happen. \
`mercure-setup check DIR` tests a rendered bundle with the real programs.",
        "",
    );
    for (i, t) in TROUBLESHOOTING.iter().enumerate() {
        out.subheading(&format!("{}. {}", i + 1, t.symptom));
        out.para(&format!("Cause: {}", t.cause), "   ");
        out.para(&format!("Fix: {}", t.fix), "   ");
        out.para(&format!("mercure-setup generates: {}", t.generated), "   ");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_keeps_width_and_words() {
        let lines = wrap("aaa bbb ccc ddd", 8, "  ");
        assert_eq!(lines, ["  aaa", "  bbb", "  ccc", "  ddd"]);
        assert_eq!(wrap("one two\n\nthree", 80, ""), ["one two", "", "three"]);
    }

    #[test]
    fn plain_text_has_no_escapes_and_fits() {
        for topic in [None, Some(Topic::SameHostHttp), Some(Topic::EndToEndTls), Some(Topic::Troubleshooting)] {
            let text = explain(topic, false);
            assert!(!text.contains('\x1b'));
            // Long unbreakable directives may overflow; prose must not.
            assert!(text.lines().filter(|l| l.chars().count() > WIDTH).count() <= 2, "{text}");
        }
        assert!(explain(None, true).contains("\x1b[1m"));
    }

    #[test]
    fn troubleshooting_covers_every_symptom() {
        assert_eq!(TROUBLESHOOTING.len(), 15);
        assert_eq!(Topic::parse("troubleshooting"), Ok(Topic::Troubleshooting));
        assert!(Topic::parse("x").is_err());
    }
}
