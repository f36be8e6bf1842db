//! The lints of the nginx site's hub location, read as nginx reads it: a directive
//! applies from the innermost of location, server and `http { }` that sets it. Each
//! rule is a pure function of the parsed site and of what the hub's Caddyfile says
//! (its heartbeat, its CORS origins).

use crate::bundle::paths;
use crate::bundle_dir::BundleDir;
use crate::formats::{self, NginxDirective};
use crate::troubleshooting::Row;

use super::{Finding, Lint};

pub const LOCATION: Lint = Lint {
    id: "lint-hub-location",
    title: "hub location passes requests to the hub unchanged",
    row: Row::NotTheStream,
    passed: "`location ^~ /.well-known/mercure` with a proxy_pass that has no URI part",
    fix: "write `location ^~ /.well-known/mercure` and proxy_pass without a path (render again)",
};

pub const LOCALHOST: Lint = Lint {
    id: "lint-upstream-address",
    title: "proxy_pass names the address the hub binds",
    row: Row::LocalhostUpstream,
    passed: "proxy_pass names an address, not `localhost`",
    fix: "proxy_pass to 127.0.0.1:PORT, the address in the Caddyfile's `bind`",
};

pub const BUFFERING: Lint = Lint {
    id: "lint-buffering",
    title: "nothing buffers, compresses or caches the event stream",
    row: Row::Buffering,
    passed: "proxy_buffering off; no proxy_ignore_headers X-Accel-Buffering, gzip of text/event-stream or proxy_cache",
    fix: "in the hub location: proxy_buffering off; proxy_cache off; no proxy_ignore_headers X-Accel-Buffering; \
          keep text/event-stream out of gzip_types",
};

pub const UPSTREAM_HTTP: Lint = Lint {
    id: "lint-upstream-http",
    title: "HTTP/1.1 to the hub, no WebSocket headers",
    row: Row::Buffering,
    passed: "proxy_http_version 1.1 and no Upgrade or Connection \"upgrade\" header",
    fix: "proxy_http_version 1.1; proxy_set_header Connection \"\"; and no Upgrade header: server-sent events are \
          a plain long GET",
};

pub const READ_TIMEOUT: Lint = Lint {
    id: "lint-read-timeout",
    title: "proxy_read_timeout outlasts the hub's heartbeat",
    row: Row::IdleTimeout,
    passed: "proxy_read_timeout is at least twice the hub's heartbeat",
    fix: "proxy_read_timeout at least twice the heartbeat (the bundle renders 1h), and a heartbeat that is not 0",
};

pub const SNI: Lint = Lint {
    id: "lint-tls-sni",
    title: "nginx names the hub on the TLS hop (SNI)",
    row: Row::NoSni,
    passed: "proxy_ssl_server_name on with a proxy_ssl_name",
    fix: "proxy_ssl_server_name on; proxy_ssl_name NAME; (NAME is hub.tls_name, a DNS name in hub.crt)",
};

pub const VERIFY: Lint = Lint {
    id: "lint-tls-verify",
    title: "nginx verifies the hub's certificate",
    row: Row::UnverifiedHop,
    passed: "proxy_ssl_verify on with a trusted CA",
    fix: "proxy_ssl_verify on; proxy_ssl_trusted_certificate /etc/mercure/tls/ca.crt; proxy_ssl_verify_depth 1;",
};

pub const ACCESS_LOG: Lint = Lint {
    id: "lint-access-log",
    title: "subscribers' JWTs stay out of the access log",
    row: Row::JwtInLogs,
    passed: "the hub location logs with a format that leaves out the query string's authorization",
    fix: "log the hub location with the bundle's redacting log_format (render again), or `access_log off;`",
};

pub const HUB_LISTENERS: Lint = Lint {
    id: "lint-hub-listeners",
    title: "the hub binds only its own port",
    row: Row::HubNotRunning,
    passed: "no redirect listener on :80 (auto_https off or disable_redirects)",
    fix: "`auto_https disable_redirects` in the Caddyfile's global options (render again)",
};

pub const FORWARDED_FOR: Lint = Lint {
    id: "lint-forwarded-for",
    title: "the hub sees the client's own address",
    row: Row::ForgedClientAddress,
    passed: "X-Forwarded-For is $remote_addr alone",
    fix: "proxy_set_header X-Forwarded-For $remote_addr;",
};

pub const CORS: Lint = Lint {
    id: "lint-cors",
    title: "CORS is the hub's alone, with exact origins",
    row: Row::Cors,
    passed: "no Access-Control-* header added by nginx; no `*` in cors_origins or publish_origins",
    fix: "remove nginx's add_header Access-Control-* lines (the hub answers CORS itself) and list exact origins \
          in hub.cors_origins instead of `*`",
};

/// One nginx site file, parsed, with the `http { }` block it is included in (when known).
#[derive(Debug, Clone)]
pub struct Site {
    pub file: String,
    pub tree: Result<Vec<NginxDirective>, String>,
    /// The directives of nginx.conf's `http { }` block, the outermost scope.
    pub http: Vec<NginxDirective>,
}

impl Site {
    pub fn read(file: &str, text: Result<String, String>) -> Site {
        let tree = text.and_then(|t| formats::parse_nginx(&t).map_err(|e| format!("{file}: {e}")));
        Site { file: file.into(), tree, http: Vec::new() }
    }

    pub fn parse(file: &str, text: &str) -> Site {
        Site::read(file, Ok(text.to_string()))
    }
}

/// The directives of the top-level `http { }` block of an nginx.conf (empty if none).
pub fn http_block(text: &str) -> Vec<NginxDirective> {
    formats::parse_nginx(text)
        .ok()
        .and_then(|tree| tree.into_iter().find(|d| d.name == "http").and_then(|d| d.block))
        .unwrap_or_default()
}

/// What the hub's Caddyfile says that the site lints compare with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hub {
    /// The heartbeat in milliseconds (0: off) and where it is set; `None` when unreadable.
    pub heartbeat: Option<(u64, String)>,
    /// `cors_origins` and `publish_origins` lines that allow any origin: (directive, line).
    pub wildcard_origins: Vec<(String, usize)>,
    /// An HTTPS site without `auto_https off` or `disable_redirects`: Caddy then also
    /// binds :80 for redirects, which nginx holds, and the hub exits. The site's line.
    pub redirect_listener: Option<usize>,
    /// A strict Mercure 1.0 hub (an `issuer` block, no `protocol_version_compatibility`)
    /// ignores `?authorization=`, so no subscriber has a reason to put a JWT in the URL.
    pub no_query_tokens: bool,
}

/// Mercure's heartbeat when the Caddyfile sets none.
pub const DEFAULT_HEARTBEAT: &str = "40s";

impl Hub {
    /// Reads the bundle's Caddyfile, and its env file for a `{env.NAME}` heartbeat.
    pub fn read(bundle: &BundleDir) -> Hub {
        let env = bundle.read(paths::HUB_ENV).ok().and_then(|t| formats::parse_env(&t).ok()).unwrap_or_default();
        bundle.read(paths::CADDYFILE).map(|t| Hub::parse(&t, &env)).unwrap_or_default()
    }

    pub fn parse(caddyfile: &str, env: &std::collections::BTreeMap<String, String>) -> Hub {
        let Ok(tree) = formats::parse_caddyfile(caddyfile) else { return Hub::default() };
        let Some(mercure) = formats::caddy_mercure(&tree) else { return Hub::default() };
        let entry = mercure.block.iter().flatten().find(|e| e.tokens.first().is_some_and(|t| t == "heartbeat"));
        let (value, shown) = match entry.and_then(|e| Some((e.tokens.get(1)?.clone(), e.line))) {
            None => (DEFAULT_HEARTBEAT.to_string(), format!("{DEFAULT_HEARTBEAT}, Mercure's default")),
            Some((written, line)) => match written.strip_prefix("{env.").and_then(|n| n.strip_suffix('}')) {
                Some(name) => {
                    let v = env.get(name).cloned().unwrap_or_default();
                    let shown = format!("{v}, {name} in {} for {}:{line}", paths::HUB_ENV, paths::CADDYFILE);
                    (v, shown)
                }
                None => (written.clone(), format!("{written}, {}:{line}", paths::CADDYFILE)),
            },
        };
        let heartbeat = formats::go_duration_ms(&value).map(|ms| (ms, shown));
        let wildcard_origins = mercure
            .block
            .iter()
            .flatten()
            .filter(|e| {
                e.tokens.first().is_some_and(|t| t == "cors_origins" || t == "publish_origins")
                    && e.tokens[1..].iter().any(|o| o == "*")
            })
            .map(|e| (e.tokens[0].clone(), e.line))
            .collect();
        let https_site =
            formats::caddy_site(&tree).filter(|e| e.tokens.first().is_some_and(|a| a.starts_with("https://")));
        let auto_https = formats::caddy_globals(&tree)
            .and_then(|g| formats::caddy_args(g, "auto_https"))
            .and_then(|a| a.first().cloned());
        let redirect_listener =
            https_site.filter(|_| !matches!(auto_https.as_deref(), Some("off" | "disable_redirects"))).map(|e| e.line);
        let has = |name: &str| mercure.block.iter().flatten().any(|e| e.tokens.first().is_some_and(|t| t == name));
        let no_query_tokens = has("issuer") && !has("protocol_version_compatibility");
        Hub { heartbeat, wildcard_origins, redirect_listener, no_query_tokens }
    }
}

/// The hub location and the scopes it inherits from, innermost first.
struct Scope<'a> {
    location: &'a NginxDirective,
    levels: Vec<&'a [NginxDirective]>,
}

impl<'a> Scope<'a> {
    fn of(site: &'a Site) -> Option<Scope<'a>> {
        let tree = site.tree.as_ref().ok()?;
        let (server, location) = formats::nginx_mercure_scope(tree)?;
        // The site file is included inside `http { }`: its top level is http-level too.
        let levels =
            [location.block.as_deref(), server.block.as_deref(), Some(tree.as_slice()), Some(site.http.as_slice())];
        Some(Scope { location, levels: levels.into_iter().flatten().collect() })
    }

    /// The directive that applies: the first `name` of the innermost level that sets it.
    fn get(&self, name: &str) -> Option<&'a NginxDirective> {
        self.levels.iter().find_map(|level| level.iter().find(|d| d.name == name))
    }

    /// Array-like directives (`add_header`, `proxy_set_header`): nginx takes every one of
    /// the innermost level that has any, and none from outer levels.
    fn all(&self, name: &str) -> Vec<&'a NginxDirective> {
        self.levels
            .iter()
            .map(|level| level.iter().filter(|d| d.name == name).collect::<Vec<_>>())
            .find(|found| !found.is_empty())
            .unwrap_or_default()
    }

    fn arg(&self, name: &str) -> Option<(&'a str, usize)> {
        self.get(name).and_then(|d| d.args.first().map(|a| (a.as_str(), d.line)))
    }

    /// `proxy_pass`'s URL split, when it is a literal URL (no variables).
    fn upstream(&self) -> Option<(String, String, Option<u16>, String, usize)> {
        let (url, line) = self.arg("proxy_pass")?;
        if url.contains('$') {
            return None;
        }
        let (scheme, host, port, path) = formats::split_url(url)?;
        Some((scheme, host, port, path, line))
    }
}

/// One lint rule: what it finds in one site, given what the hub says.
type Rule = fn(&Site, &Hub) -> Vec<Finding>;

/// Every site lint over every site, in report order; the TLS lints only when the
/// bundle or a site proxies to the hub over TLS.
pub fn lint_all(sites: &[Site], hub: &Hub, hub_tls: bool) -> Vec<(&'static Lint, Vec<Finding>)> {
    let tls =
        hub_tls || sites.iter().any(|s| Scope::of(s).and_then(|sc| sc.upstream()).is_some_and(|u| u.0 == "https"));
    let mut rules: Vec<(&'static Lint, Rule)> = vec![
        (&LOCATION, location as Rule),
        (&LOCALHOST, localhost as Rule),
        (&BUFFERING, buffering as Rule),
        (&UPSTREAM_HTTP, upstream_http as Rule),
        (&READ_TIMEOUT, read_timeout as Rule),
    ];
    if tls {
        rules.push((&SNI, sni as Rule));
        rules.push((&VERIFY, verify as Rule));
    }
    rules.push((&HUB_LISTENERS, hub_listeners as Rule));
    rules.push((&FORWARDED_FOR, forwarded_for as Rule));
    rules.push((&CORS, cors as Rule));
    rules.push((&ACCESS_LOG, access_log as Rule));
    rules
        .into_iter()
        .map(|(lint, rule)| {
            let mut findings: Vec<Finding> = sites.iter().flat_map(|s| rule(s, hub)).collect();
            // The Caddyfile's findings come once, whatever the number of sites.
            findings.dedup();
            (lint, findings)
        })
        .collect()
}

/// `location ^~ /.well-known/mercure` exists, and `proxy_pass` has no URI part.
pub fn location(site: &Site, _: &Hub) -> Vec<Finding> {
    let f = site.file.as_str();
    if let Err(e) = &site.tree {
        return vec![Finding::file(f, format!("cannot be read: {e}"))];
    }
    let Some(scope) = Scope::of(site) else {
        return vec![Finding::file(
            f,
            "no `location ^~ /.well-known/mercure` in any server: Symfony answers the hub's URL",
        )];
    };
    let mut out = Vec::new();
    let loc = scope.location;
    if loc.args.first().map(String::as_str) != Some("^~") {
        out.push(Finding::at(
            f,
            loc.line,
            format!(
                "`location {}` without `^~`: a regex location (PHP, static files) can take the hub's requests",
                loc.args.join(" ")
            ),
        ));
    }
    match (scope.get("proxy_pass"), scope.upstream()) {
        (None, _) => out.push(Finding::at(f, loc.line, "the hub location has no proxy_pass")),
        (Some(_), Some((_, _, _, path, line))) if !path.is_empty() => out.push(Finding::at(
            f,
            line,
            format!(
                "proxy_pass has a URI part `{path}`: nginx rewrites the path the hub sees (404, or the wrong stream)"
            ),
        )),
        _ => {}
    }
    out
}

/// `proxy_pass` to `localhost` tries `::1`, where the hub does not listen.
pub fn localhost(site: &Site, _: &Hub) -> Vec<Finding> {
    let Some(scope) = Scope::of(site) else { return Vec::new() };
    match scope.upstream() {
        Some((_, host, _, _, line)) if host.eq_ignore_ascii_case("localhost") => vec![Finding::at(
            &site.file,
            line,
            "proxy_pass to `localhost`: nginx tries ::1 too, where the hub (bound to 127.0.0.1) refuses",
        )],
        _ => Vec::new(),
    }
}

/// `proxy_buffering on`, `proxy_ignore_headers X-Accel-Buffering`, gzip of the stream, a proxy cache.
pub fn buffering(site: &Site, _: &Hub) -> Vec<Finding> {
    let Some(scope) = Scope::of(site) else { return Vec::new() };
    let f = site.file.as_str();
    let mut out = Vec::new();
    match scope.arg("proxy_buffering") {
        Some(("off", _)) => {}
        Some((v, line)) => {
            out.push(Finding::at(f, line, format!("proxy_buffering {v}: nginx holds events in its buffer")));
        }
        // Only the hub's `X-Accel-Buffering: no` then stops nginx's default buffering.
        None => out.push(Finding::at(
            f,
            scope.location.line,
            "no proxy_buffering off: nginx buffers (its default) unless the hub's X-Accel-Buffering: no gets through",
        )),
    }
    if let Some(d) = scope.get("proxy_ignore_headers")
        && d.args.iter().any(|a| a.eq_ignore_ascii_case("X-Accel-Buffering"))
    {
        out.push(Finding::at(
            f,
            d.line,
            "proxy_ignore_headers X-Accel-Buffering: nginx ignores the hub's `X-Accel-Buffering: no` and buffers",
        ));
    }
    if let Some(("on", line)) = scope.arg("gzip") {
        let types = scope.get("gzip_types").map(|d| d.args.clone()).unwrap_or_default();
        if types.iter().any(|t| t == "text/event-stream" || t == "*") {
            out.push(Finding::at(
                f,
                line,
                "gzip on with gzip_types covering text/event-stream: events wait for a gzip block to fill",
            ));
        }
    }
    if let Some((cache, line)) = scope.arg("proxy_cache")
        && cache != "off"
    {
        out.push(Finding::at(f, line, format!("proxy_cache {cache}: a cache holds the stream back")));
    }
    out
}

/// HTTP/1.0 to the hub (nginx's default), or the WebSocket handshake headers.
pub fn upstream_http(site: &Site, _: &Hub) -> Vec<Finding> {
    let Some(scope) = Scope::of(site) else { return Vec::new() };
    let f = site.file.as_str();
    let mut out = Vec::new();
    match scope.arg("proxy_http_version") {
        None => out.push(Finding::at(
            f,
            scope.location.line,
            "no proxy_http_version 1.1: nginx speaks HTTP/1.0 to the hub (its default)",
        )),
        Some(("1.0", line)) => out.push(Finding::at(f, line, "proxy_http_version 1.0: use 1.1 for the stream")),
        Some(_) => {}
    }
    for d in scope.all("proxy_set_header") {
        let (Some(name), value) = (d.args.first(), d.args.get(1).map_or("", String::as_str)) else { continue };
        if name.eq_ignore_ascii_case("Upgrade") {
            out.push(Finding::at(
                f,
                d.line,
                format!("proxy_set_header Upgrade {value}: WebSocket advice, not for server-sent events"),
            ));
        } else if name.eq_ignore_ascii_case("Connection") && value.to_ascii_lowercase().contains("upgrade") {
            out.push(Finding::at(
                f,
                d.line,
                format!("proxy_set_header Connection \"{value}\": WebSocket advice; the stream wants Connection \"\""),
            ));
        }
    }
    out
}

/// `proxy_read_timeout` (60s when unset) under twice the heartbeat, or the heartbeat off.
pub fn read_timeout(site: &Site, hub: &Hub) -> Vec<Finding> {
    let Some(scope) = Scope::of(site) else { return Vec::new() };
    let Some((heartbeat, written)) = &hub.heartbeat else { return Vec::new() };
    if *heartbeat == 0 {
        return vec![Finding::file(
            paths::CADDYFILE,
            format!(
                "the hub's heartbeat is off ({written}), so nginx drops every idle stream after proxy_read_timeout"
            ),
        )];
    }
    let (timeout, shown, line) = match scope.arg("proxy_read_timeout") {
        Some((t, line)) => (formats::nginx_time_ms(t), format!("proxy_read_timeout {t}"), line),
        None => (Some(60_000), "no proxy_read_timeout (nginx's default 60s)".into(), scope.location.line),
    };
    match timeout {
        Some(ms) if ms < heartbeat.saturating_mul(2) => vec![Finding::at(
            &site.file,
            line,
            format!("{shown} is under twice the hub's heartbeat ({written}): idle streams are dropped"),
        )],
        None => vec![Finding::at(&site.file, line, format!("{shown}: not an nginx time"))],
        Some(_) => Vec::new(),
    }
}

/// On a TLS hop: SNI on and a name to send.
pub fn sni(site: &Site, _: &Hub) -> Vec<Finding> {
    let Some(scope) = Scope::of(site) else { return Vec::new() };
    if scope.upstream().is_none_or(|u| u.0 != "https") {
        return Vec::new();
    }
    let f = site.file.as_str();
    let mut out = Vec::new();
    match scope.arg("proxy_ssl_server_name") {
        Some(("on", _)) => {}
        Some((v, line)) => out.push(Finding::at(f, line, format!("proxy_ssl_server_name {v}: nginx sends no SNI"))),
        None => out.push(Finding::at(
            f,
            scope.location.line,
            "no proxy_ssl_server_name on: nginx sends no SNI (its default), the hub refuses the handshake",
        )),
    }
    if scope.get("proxy_ssl_name").is_none() {
        out.push(Finding::at(
            f,
            scope.location.line,
            "no proxy_ssl_name: nginx would check the certificate against 127.0.0.1, which it never matches",
        ));
    }
    out
}

/// On a TLS hop: the hub's certificate verified.
pub fn verify(site: &Site, _: &Hub) -> Vec<Finding> {
    let Some(scope) = Scope::of(site) else { return Vec::new() };
    if scope.upstream().is_none_or(|u| u.0 != "https") {
        return Vec::new();
    }
    match scope.arg("proxy_ssl_verify") {
        Some(("on", _)) => Vec::new(),
        Some((v, line)) => vec![Finding::at(
            &site.file,
            line,
            format!("proxy_ssl_verify {v}: any process on the hub's port receives subscribers' JWTs and cookies"),
        )],
        None => vec![Finding::at(
            &site.file,
            scope.location.line,
            "no proxy_ssl_verify on (nginx's default is off): the hub's certificate is not checked",
        )],
    }
}

/// `X-Forwarded-For` built from the browser's own header.
pub fn forwarded_for(site: &Site, _: &Hub) -> Vec<Finding> {
    let Some(scope) = Scope::of(site) else { return Vec::new() };
    scope
        .all("proxy_set_header")
        .into_iter()
        .filter(|d| {
            d.args.first().is_some_and(|n| n.eq_ignore_ascii_case("X-Forwarded-For"))
                && d.args
                    .get(1)
                    .is_some_and(|v| v.contains("$proxy_add_x_forwarded_for") || v.contains("$http_x_forwarded_for"))
        })
        .map(|d| {
            Finding::at(
                &site.file,
                d.line,
                format!("X-Forwarded-For {}: a browser-sent header chooses the address the hub logs", d.args[1]),
            )
        })
        .collect()
}

/// An HTTPS hub site that also opens Caddy's redirect listener on :80 (held by nginx).
pub fn hub_listeners(_: &Site, hub: &Hub) -> Vec<Finding> {
    hub.redirect_listener
        .map(|line| {
            Finding::at(
                paths::CADDYFILE,
                line,
                "an https:// site without `auto_https disable_redirects`: Caddy also binds :80, which nginx holds, \
                 so the hub exits at start",
            )
        })
        .into_iter()
        .collect()
}

/// The hub location's access log writes the query string (where subscribers may put
/// their JWT): nginx's `combined` format, or a `log_format` with `$request`,
/// `$request_uri`, `$args` or `$query_string`.
pub fn access_log(site: &Site, hub: &Hub) -> Vec<Finding> {
    let Some(scope) = Scope::of(site) else { return Vec::new() };
    if hub.no_query_tokens {
        return Vec::new();
    }
    let logs = scope.all("access_log");
    if logs.is_empty() {
        return vec![Finding::at(
            &site.file,
            scope.location.line,
            "no access_log in the hub location: nginx.conf's (combined format) logs the query string, JWTs included",
        )];
    }
    let formats: Vec<&NginxDirective> =
        scope.levels.iter().flat_map(|l| l.iter()).filter(|d| d.name == "log_format").collect();
    let mut out = Vec::new();
    for d in logs {
        if d.args.first().is_some_and(|a| a == "off") {
            continue;
        }
        let name = d.args.get(1).map_or("combined", String::as_str);
        let leaks = if name == "combined" {
            true
        } else {
            match formats.iter().find(|f| f.args.first().is_some_and(|n| n == name)) {
                Some(f) => f.args[1..].iter().any(|part| logs_query(part)),
                // Defined elsewhere (conf.d): cannot tell.
                None => false,
            }
        };
        if leaks {
            out.push(Finding::at(
                &site.file,
                d.line,
                format!(
                    "access_log with format `{name}` logs the query string: `?authorization=` JWTs end up in the log"
                ),
            ));
        }
    }
    out
}

/// Whether a log format string writes the raw query string.
fn logs_query(format: &str) -> bool {
    format.split('$').skip(1).any(|rest| {
        let name: String =
            rest.trim_start_matches('{').chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        matches!(name.as_str(), "request" | "request_uri" | "args" | "query_string" | "arg_authorization")
    })
}

/// Access-Control-* headers added by nginx; `*` in the hub's origins.
pub fn cors(site: &Site, hub: &Hub) -> Vec<Finding> {
    let mut out = Vec::new();
    if let Some(scope) = Scope::of(site) {
        for d in scope.all("add_header").into_iter().chain(scope.all("more_set_headers")) {
            if d.args.first().is_some_and(|h| h.to_ascii_lowercase().contains("access-control-")) {
                out.push(Finding::at(
                    &site.file,
                    d.line,
                    format!(
                        "{} {}: nginx adds CORS headers on top of the hub's, and browsers refuse duplicates",
                        d.name, d.args[0]
                    ),
                ));
            }
        }
    }
    for (directive, line) in &hub.wildcard_origins {
        out.push(Finding::at(
            paths::CADDYFILE,
            *line,
            format!("{directive} *: any web page may use visitors' cookies (and `*` fails with credentials)"),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hub location as the bundle renders it (end-to-end-tls).
    const GOOD: &str = "server {\n listen 443 ssl;\n location ^~ /.well-known/mercure {\n  \
        proxy_pass https://127.0.0.1:8443;\n  proxy_ssl_verify on;\n  proxy_ssl_trusted_certificate /etc/mercure/tls/ca.crt;\n  \
        proxy_ssl_server_name on;\n  proxy_ssl_name mercure.internal;\n  proxy_http_version 1.1;\n  \
        proxy_set_header Connection \"\";\n  proxy_set_header Host $host;\n  proxy_buffering off;\n  proxy_cache off;\n  \
        proxy_read_timeout 1h;\n  access_log /l redacted;\n }\n}\n";

    fn hub() -> Hub {
        Hub { heartbeat: Some((40_000, "40s, Mercure's default".into())), ..Hub::default() }
    }

    fn run(rule: fn(&Site, &Hub) -> Vec<Finding>, text: &str) -> Vec<String> {
        rule(&Site::parse("site.conf", text), &hub()).iter().map(ToString::to_string).collect()
    }

    fn edited(from: &str, to: &str) -> String {
        assert!(GOOD.contains(from), "{from}");
        GOOD.replace(from, to)
    }

    #[test]
    fn the_rendered_location_passes_every_rule() {
        for rule in
            [location, localhost, buffering, upstream_http, read_timeout, sni, verify, cors, access_log, forwarded_for]
        {
            assert_eq!(run(rule, GOOD), Vec::<String>::new());
        }
    }

    #[test]
    fn location_without_caret_or_with_a_uri_part() {
        let f = run(location, &edited("^~ /.well-known/mercure", "/.well-known/mercure"));
        assert_eq!(f.len(), 1);
        assert!(f[0].starts_with("site.conf:3: `location /.well-known/mercure` without `^~`"), "{f:?}");
        let f = run(location, &edited("8443;", "8443/.well-known/mercure;"));
        assert!(f[0].starts_with("site.conf:4: proxy_pass has a URI part `/.well-known/mercure`"), "{f:?}");
        assert_eq!(run(location, "server {\n}\n").len(), 1);
        // A variable in proxy_pass is not read as a URI part.
        assert!(run(location, &edited("https://127.0.0.1:8443", "https://$hub")).is_empty());
    }

    #[test]
    fn localhost_upstream() {
        let f = run(localhost, &edited("127.0.0.1:8443", "localhost:8443"));
        assert_eq!(f.len(), 1);
        assert!(f[0].contains("`localhost`"));
    }

    #[test]
    fn buffering_gzip_cache_and_ignored_header() {
        assert_eq!(run(buffering, &edited("proxy_buffering off", "proxy_buffering on")).len(), 1);
        assert!(run(buffering, &edited("  proxy_buffering off;\n", ""))[0].contains("no proxy_buffering off"));
        assert_eq!(run(buffering, &edited("proxy_cache off", "proxy_cache hub")).len(), 1);
        let f = run(buffering, &edited("proxy_cache off;", "proxy_ignore_headers X-Accel-Buffering Expires;"));
        assert!(f[0].contains("X-Accel-Buffering"), "{f:?}");
        // gzip from the server level reaches the location; text/html alone is harmless.
        let gz = GOOD.replace(" listen 443 ssl;\n", " listen 443 ssl;\n gzip on;\n gzip_types text/event-stream;\n");
        assert_eq!(
            run(buffering, &gz),
            ["site.conf:3: gzip on with gzip_types covering text/event-stream: events wait for a gzip block to fill"]
        );
        assert!(run(buffering, &gz.replace("text/event-stream", "text/css")).is_empty());
        // Inherited from nginx.conf's http block (`--system`).
        let mut site = Site::parse("s", GOOD);
        site.http = http_block("http {\n gzip on;\n gzip_types *;\n}\n");
        assert_eq!(buffering(&site, &hub()).len(), 1);
    }

    #[test]
    fn http_version_and_websocket_headers() {
        assert_eq!(run(upstream_http, &edited("  proxy_http_version 1.1;\n", "")).len(), 1);
        assert_eq!(run(upstream_http, &edited("1.1", "1.0")).len(), 1);
        let ws = edited("Connection \"\"", "Upgrade $http_upgrade;\n  proxy_set_header Connection \"upgrade\"");
        let f = run(upstream_http, &ws);
        assert_eq!(f.len(), 2, "{f:?}");
        assert!(f[1].contains("Connection \"upgrade\""));
    }

    #[test]
    fn read_timeout_against_the_heartbeat() {
        assert_eq!(run(read_timeout, &edited("1h", "30s")).len(), 1);
        assert_eq!(run(read_timeout, &edited("1h", "79s")).len(), 1);
        assert!(run(read_timeout, &edited("1h", "80")).is_empty());
        let f = run(read_timeout, &edited("  proxy_read_timeout 1h;\n", ""));
        assert!(f[0].contains("nginx's default 60s"), "{f:?}");
        let off = Hub { heartbeat: Some((0, "0s".into())), ..hub() };
        assert_eq!(read_timeout(&Site::parse("s", GOOD), &off).len(), 1);
    }

    #[test]
    fn tls_hop_sni_and_verification() {
        assert_eq!(run(sni, &edited("  proxy_ssl_server_name on;\n", "")).len(), 1);
        assert_eq!(run(sni, &edited("  proxy_ssl_name mercure.internal;\n", "")).len(), 1);
        assert_eq!(run(verify, &edited("proxy_ssl_verify on", "proxy_ssl_verify off")).len(), 1);
        assert_eq!(run(verify, &edited("  proxy_ssl_verify on;\n", "")).len(), 1);
        // Plain HTTP has no TLS hop to check.
        let http = edited("https://127.0.0.1:8443", "http://127.0.0.1:3000").replace("  proxy_ssl_verify on;\n", "");
        assert!(run(verify, &http).is_empty() && run(sni, &http).is_empty());
    }

    #[test]
    fn cors_headers_and_wildcard_origins() {
        let f = run(cors, &edited("proxy_cache off;", "add_header Access-Control-Allow-Origin *;"));
        assert_eq!(f.len(), 1);
        // A location's own add_header hides the server's (nginx inheritance).
        let server_level =
            GOOD.replace(" listen 443 ssl;\n", " listen 443 ssl;\n add_header Access-Control-Allow-Origin *;\n");
        assert_eq!(run(cors, &server_level).len(), 1);
        assert!(run(cors, &server_level.replace("proxy_cache off;", "add_header X-Frame-Options DENY;")).is_empty());
        let caddy = "http://:3000 {\n\tmercure {\n\t\tcors_origins *\n\t\tpublish_origins *\n\t}\n}\n";
        let hub = Hub::parse(caddy, &std::collections::BTreeMap::new());
        assert_eq!(hub.wildcard_origins, [("cors_origins".to_string(), 3), ("publish_origins".to_string(), 4)]);
        assert_eq!(cors(&Site::parse("s", GOOD), &hub).len(), 2);
    }

    #[test]
    fn access_log_formats_that_log_the_query_string() {
        let fmt = "log_format redacted '$remote_addr \"$request_method $uri?$redacted_args\"';\n";
        let good = format!("{fmt}{GOOD}");
        assert!(run(access_log, &good).is_empty(), "{:?}", run(access_log, &good));
        assert!(run(access_log, &good.replace("access_log /l redacted", "access_log off")).is_empty());
        // nginx's default format, a format with $request, and no access_log at all.
        assert_eq!(run(access_log, &good.replace("/l redacted", "/l")).len(), 1);
        assert_eq!(run(access_log, &good.replace("$uri?$redacted_args", "$request")).len(), 1);
        assert!(run(access_log, &edited("  access_log /l redacted;\n", ""))[0].contains("no access_log"));
        assert!(logs_query("${request_uri}") && logs_query("x $args") && !logs_query("$uri $request_method"));
    }

    #[test]
    fn an_https_hub_without_disable_redirects_binds_port_80() {
        let caddy = "{\n\tauto_https disable_redirects\n}\nhttps://:8443 {\n\tmercure {\n\t}\n}\n";
        let env = std::collections::BTreeMap::new();
        assert!(hub_listeners(&Site::parse("s", GOOD), &Hub::parse(caddy, &env)).is_empty());
        let bare = Hub::parse(&caddy.replace("\tauto_https disable_redirects\n", ""), &env);
        assert_eq!(bare.redirect_listener, Some(3));
        assert_eq!(hub_listeners(&Site::parse("s", GOOD), &bare).len(), 1);
        // Plain HTTP opens no redirect listener.
        assert_eq!(Hub::parse("http://:3000 {\n\tmercure {\n\t}\n}\n", &env).redirect_listener, None);
    }

    #[test]
    fn forwarded_for_from_the_browser() {
        let own = edited("proxy_set_header Host $host;", "proxy_set_header X-Forwarded-For $remote_addr;");
        assert!(run(forwarded_for, &own).is_empty());
        let appended = own.replace("$remote_addr", "$proxy_add_x_forwarded_for");
        assert!(run(forwarded_for, &appended)[0].contains("$proxy_add_x_forwarded_for"));
    }

    #[test]
    fn heartbeat_from_the_caddyfile_or_its_env() {
        let env: std::collections::BTreeMap<String, String> = [("HB".to_string(), "15s".to_string())].into();
        let default = Hub::parse("http://:3000 {\n\tmercure {\n\t}\n}\n", &env).heartbeat;
        assert_eq!(default, Some((40_000, "40s, Mercure's default".into())));
        let caddy = "http://:3000 {\n\tmercure {\n\t\theartbeat {env.HB}\n\t}\n}\n";
        let from_env = Hub::parse(caddy, &env).heartbeat;
        assert_eq!(from_env, Some((15_000, "15s, HB in mercure/mercure.env for mercure/Caddyfile:3".into())));
        let written = Hub::parse(&caddy.replace("{env.HB}", "1m"), &env).heartbeat;
        assert_eq!(written, Some((60_000, "1m, mercure/Caddyfile:3".into())));
    }

    #[test]
    fn only_a_strict_1_0_hub_has_no_query_tokens() {
        let env = std::collections::BTreeMap::new();
        let block = |inner: &str| format!("http://:3000 {{\n\tmercure {{\n{inner}\t}}\n}}\n");
        let legacy = block("\t\tpublisher_jwt k HS256\n");
        let strict = block("\t\tissuer https://a.com {\n\t\t\tpublisher {\n\t\t\t\tjwt k HS256\n\t\t\t}\n\t\t}\n");
        let compat = strict.replace("\t}\n}\n", "\t\tprotocol_version_compatibility 8\n\t}\n}\n");
        assert!(!Hub::parse(&legacy, &env).no_query_tokens);
        assert!(Hub::parse(&strict, &env).no_query_tokens);
        assert!(!Hub::parse(&compat, &env).no_query_tokens, "{compat}");
    }
}
