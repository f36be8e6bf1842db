//! The teaching text shared by the wizard and `mercure-setup explain`: the
//! topologies side by side, the mistakes of the widely copied blog post the tool
//! teaches against, and the layout of the symptom -> cause -> fix table of 502s and
//! friends (its rows live in `troubleshooting`).
//!
//! Kept as data so the wizard can lay it out in columns and `explain` as plain text;
//! the per-question texts stay in `questions` (the one table of questions).

use std::fmt::Write as _;

use crate::deployment::Topology;
use crate::questions;
use crate::troubleshooting::Row;

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
    /// Which situation it is for, in one paragraph.
    pub choose_when: &'static str,
    /// Where Symfony sends its publishes (`MERCURE_URL`) and what that needs.
    pub publishes: &'static str,
    /// What expires, when, and how it is renewed.
    pub expires: &'static str,
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
    choose_when: "For a hub on the same machine as nginx whose other users you trust: a VPS that runs this \
app alone, reached by you and a deploy user. Nothing outside the machine can reach the hub, nothing expires, and \
there is no TLS hop for nginx to get wrong.",
    publishes: "Symfony publishes straight to the hub on loopback (MERCURE_URL=http://127.0.0.1:PORT/.well-known/mercure): \
a publish depends on neither DNS nor the public certificate. Browsers subscribe through the public URL \
(MERCURE_PUBLIC_URL=https://DOMAIN/.well-known/mercure).",
    expires: "Only the smoke-test tokens in tokens/, 7 days after the render that made them (a re-render makes new \
ones). The JWT secret does not expire, Symfony signs a fresh token for each publish, and certbot renews the public \
certificate.",
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
    choose_when: "For a machine shared with users or services you do not fully trust (several apps, CI runners, \
shared hosting), or a policy that wants every hop encrypted: a process that binds the hub's port while the hub \
restarts gets no tokens or cookies, because nginx verifies the hub's certificate. It costs a certificate to renew.",
    publishes: "Symfony publishes through the public URL (MERCURE_URL=https://DOMAIN/.well-known/mercure), so PHP \
needs no private CA; the server must therefore reach its own public name. When DNS or the firewall does not let it \
(no NAT hairpin), map DOMAIN to 127.0.0.1 in /etc/hosts: nginx answers there with the public certificate.",
    expires: "The hub certificate is valid for 397 days from the render that issued it, and nothing renews it by \
itself: expired, it is a 502 (nginx refuses the handshake). `check` and `doctor` show its days left and fail under \
30. In those 30 days, render the bundle again (a render reissues a hub certificate that expires within 30 days, \
keeping the CA), then apply it. The private CA lasts 3650 days and is replaced when it would expire within a hub \
certificate's lifetime (nginx then needs the new ca.crt too). The smoke-test tokens in tokens/ expire 7 days \
after the render.",
};

/// Why `same-host-http` is what `init` and the wizard pick unless told otherwise.
pub const DEFAULT_REASON: &str = "same-host-http is the default because, with the hub on the same machine, the \
hop from nginx to the hub never leaves it: binding 127.0.0.1 already keeps everyone outside away, and TLS on \
loopback protects only against other local users. It has the fewest parts that can break: no certificate that \
expires into a 502, no SNI or verification directives, and Symfony publishes without going out to the public \
name. Pick end-to-end-tls when the machine's other users are the risk.";

/// Every topology's card, in the order the wizard and `explain` show them.
pub fn cards() -> impl Iterator<Item = &'static TopologyCard> {
    Topology::ALL.into_iter().map(card)
}

/// The card for a topology.
pub fn card(topology: Topology) -> &'static TopologyCard {
    match topology {
        Topology::SameHostHttp => &SAME_HOST_HTTP,
        Topology::EndToEndTls => &END_TO_END_TLS,
    }
}

/// What both topologies put in front of the app: the public server's TLS and HSTS,
/// and the answers that change them.
pub const PUBLIC_SIDE: &str = "Both topologies serve the app's whole origin from nginx's :443 server, which follows \
Mozilla's intermediate TLS profile (TLS 1.2 and 1.3, forward-secret AEAD suites only, X25519, P-256 and P-384 key \
exchange) and sends Strict-Transport-Security with a two-year max-age. public_tls.profile: modern keeps TLS 1.3 \
only; public_tls.hsts sets the max-age in seconds (off sends no header); public_tls.hsts_include_subdomains: true \
extends it to every subdomain. `mercure-setup check` flags a site edited to accept what the profile rejects.";

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

/// A topic of `mercure-setup explain`: a topology, the hub release lines, or the
/// troubleshooting table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    Topology(Topology),
    HubVersions,
    Troubleshooting,
}

impl Topic {
    /// Every topic, topologies first.
    pub fn all() -> impl Iterator<Item = Topic> {
        Topology::ALL.into_iter().map(Topic::Topology).chain([Topic::HubVersions, Topic::Troubleshooting])
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Topology(t) => t.as_str(),
            Topic::HubVersions => "hub-versions",
            Topic::Troubleshooting => "troubleshooting",
        }
    }

    pub fn parse(s: &str) -> Result<Topic, ExplainError> {
        Topic::all().find(|t| t.as_str() == s).ok_or_else(|| ExplainError::NotATopic { word: s.to_string() })
    }
}

/// The topics as a sentence: `a, b, c or d`.
fn topic_names() -> String {
    let names: Vec<&str> = Topic::all().map(Topic::as_str).collect();
    let (last, rest) = names.split_last().unwrap_or((&"", &[]));
    format!("{} or {last}", rest.join(", "))
}

/// Words `explain` has nothing for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExplainError {
    #[error("`{}` is not a topic: use {}", .word.escape_debug(), topic_names())]
    NotATopic { word: String },
    #[error(
        "`{}` is neither a topic nor a word of a troubleshooting row: use {}, or a symptom such as 502, 504, \
         401, late, 60s, cors or \"alert 80\"",
        .words.escape_debug(),
        topic_names()
    )]
    NoMatch { words: String },
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
        Some(Topic::Topology(t)) => topology(&mut out, t),
        Some(Topic::HubVersions) => hub_versions(&mut out),
        Some(Topic::Troubleshooting) => troubleshooting(&mut out),
    }
    out.text
}

fn hub_versions(out: &mut Out) {
    out.heading("Mercure hub release lines: 0.24, 1.0-compat, 1.0");
    out.text.push('\n');
    out.para(questions::HUB_VERSIONS, "");
    out.subheading("Choose it");
    out.para("hub.version in the answers file, or: mercure-setup render --set hub.version=1.0-compat ...", "  ");
}

fn overview(out: &mut Out) {
    out.heading("Two ways for nginx to reach the Mercure hub");
    if let Some(q) = questions::question("topology") {
        out.text.push('\n');
        out.para(q.teach, "");
    }
    for c in cards() {
        out.subheading(&format!("{}: {}", c.topology.as_str(), c.tagline));
        for hop in c.path {
            out.para(hop, "    ");
        }
        out.para(&format!("Protects: {}", c.protects), "  ");
        out.para(&format!("Costs: {}", c.costs), "  ");
    }
    out.subheading("Which to choose");
    for c in cards() {
        out.text.push('\n');
        out.para(&format!("{}: {}", c.topology.as_str(), c.choose_when), "  ");
    }
    out.text.push('\n');
    out.para(DEFAULT_REASON, "  ");
    out.subheading("The public side: TLS profile and HSTS");
    out.para(PUBLIC_SIDE, "  ");
    mistakes(out, None);
    out.subheading("More");
    for t in Topic::all() {
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
    out.subheading("When to choose it");
    out.para(c.choose_when, "  ");
    if topology == Topology::SameHostHttp {
        out.text.push('\n');
        out.para(DEFAULT_REASON, "  ");
    }
    out.subheading("Where Symfony publishes");
    out.para(c.publishes, "  ");
    out.subheading("What expires, and when");
    out.para(c.expires, "  ");
    out.subheading("What mercure-setup generates");
    for g in c.generates {
        out.bullet(g);
    }
    mistakes(out, Some(topology));
    out.subheading("See also");
    for other in Topology::ALL.into_iter().filter(|&t| t != topology) {
        out.para(&format!("mercure-setup explain {}", other.as_str()), "  ");
    }
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

/// What `explain WORDS...` shows: a topic, or the troubleshooting rows that match a
/// symptom (`502`, `alert 80`, `cors`, `#7`); `Err` for words that are neither.
pub fn explain_words(words: &[String], styled: bool) -> Result<String, ExplainError> {
    let query = words.join(" ");
    if query.is_empty() {
        return Ok(explain(None, styled));
    }
    if let Ok(topic) = Topic::parse(&query) {
        return Ok(explain(Some(topic), styled));
    }
    let rows = crate::troubleshooting::find(&query);
    if rows.is_empty() {
        return Err(ExplainError::NoMatch { words: query });
    }
    let mut out = Out { text: String::new(), styled };
    out.heading(&format!("Troubleshooting rows for `{query}`"));
    for row in rows {
        troubleshooting_row(&mut out, row);
    }
    out.subheading("See also");
    out.para("mercure-setup explain troubleshooting (every row)", "  ");
    Ok(out.text)
}

fn troubleshooting_row(out: &mut Out, row: Row) {
    let t = row.trouble();
    out.subheading(&format!("{}. {}", row.number(), t.symptom));
    out.para(&format!("Cause: {}", t.cause), "   ");
    out.para(&format!("Fix: {}", t.fix), "   ");
    out.para(&format!("mercure-setup generates: {}", t.generated), "   ");
}

fn troubleshooting(out: &mut Out) {
    out.heading("Troubleshooting: symptom -> cause -> fix");
    out.text.push('\n');
    out.para(
        "Each entry names what the bundle mercure-setup renders does so that it does not happen. \
`mercure-setup check DIR` tests a rendered bundle with the real programs.",
        "",
    );
    for row in Row::ALL {
        troubleshooting_row(out, row);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_that_name_nothing_list_every_topic() {
        let e = explain_words(&["zzz".to_string()], false).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`zzz` is neither a topic nor a word of a troubleshooting row: use same-host-http, end-to-end-tls, \
             hub-versions or troubleshooting, or a symptom such as 502, 504, 401, late, 60s, cors or \"alert 80\""
        );
        assert_eq!(
            Topic::parse("zzz").unwrap_err().to_string(),
            "`zzz` is not a topic: use same-host-http, end-to-end-tls, hub-versions or troubleshooting"
        );
    }

    #[test]
    fn wrap_keeps_width_and_words() {
        let lines = wrap("aaa bbb ccc ddd", 8, "  ");
        assert_eq!(lines, ["  aaa", "  bbb", "  ccc", "  ddd"]);
        assert_eq!(wrap("one two\n\nthree", 80, ""), ["one two", "", "three"]);
    }

    #[test]
    fn plain_text_has_no_escapes_and_fits() {
        for topic in std::iter::once(None).chain(Topic::all().map(Some)) {
            let text = explain(topic, false);
            assert!(!text.contains('\x1b'));
            // Long unbreakable directives may overflow; prose must not.
            assert!(text.lines().filter(|l| l.chars().count() > WIDTH).count() <= 2, "{text}");
        }
        assert!(explain(None, true).contains("\x1b[1m"));
    }

    /// The durations the text states are the ones the code uses.
    #[test]
    fn expiry_text_states_the_real_lifetimes() {
        let hub = format!("valid for {} days", crate::pki::HUB_VALIDITY.whole_days());
        assert!(END_TO_END_TLS.expires.contains(&hub), "{hub}");
        let ca = format!("lasts {} days", crate::pki::CA_VALIDITY.whole_days());
        assert!(END_TO_END_TLS.expires.contains(&ca), "{ca}");
        let renew = format!("fail under {}", crate::pki::RENEW_BEFORE.whole_days());
        assert!(END_TO_END_TLS.expires.contains(&renew), "{renew}");
        let install = include_str!("../templates/INSTALL.md.tera");
        assert!(
            install.contains(&hub)
                && install.contains(&format!("fail under {}", crate::pki::RENEW_BEFORE.whole_days()))
        );
        let tokens = format!("{} days", crate::secrets::TOKEN_LIFETIME.whole_days());
        for c in cards() {
            assert!(c.expires.contains(&tokens), "{tokens}");
        }
    }

    #[test]
    fn symptoms_find_their_rows() {
        let words = |q: &str| q.split(' ').map(String::from).collect::<Vec<_>>();
        let text = explain_words(&words("alert 80"), false).unwrap();
        assert!(text.contains("2. 502, `SSL_do_handshake() failed"), "{text}");
        assert!(explain_words(&words("troubleshooting"), false).unwrap().contains("18. "));
        assert!(
            explain_words(&words("kubernetes"), false)
                .unwrap_err()
                .to_string()
                .contains("same-host-http, end-to-end-tls, hub-versions or")
        );
        assert_eq!(explain_words(&[], false).unwrap(), explain(None, false));
    }

    #[test]
    fn the_wizards_hub_step_teaches_the_hub_versions() {
        let q = questions::question("hub.version").unwrap();
        assert_eq!(q.teach, questions::HUB_VERSIONS);
        assert_eq!(q.step, questions::Step::Hub);
        assert!(explain(Some(Topic::HubVersions), false).contains("0.24 (0.24.2) is the stable release"));
    }

    #[test]
    fn troubleshooting_covers_every_symptom() {
        assert_eq!(Row::ALL.len(), 20);
        assert_eq!(Topic::parse("troubleshooting"), Ok(Topic::Troubleshooting));
        assert_eq!(
            Topic::parse("x").unwrap_err().to_string(),
            "`x` is not a topic: use same-host-http, end-to-end-tls, hub-versions or troubleshooting"
        );
    }

    #[test]
    fn every_topology_has_its_card_and_topic() {
        let shown: Vec<Topology> = cards().map(|c| c.topology).collect();
        assert_eq!(shown, Topology::ALL);
        for t in Topology::ALL {
            assert_eq!(Topic::parse(t.as_str()), Ok(Topic::Topology(t)));
            assert!(explain(None, false).contains(&format!("{}: {}", t.as_str(), card(t).tagline)));
        }
    }
}
