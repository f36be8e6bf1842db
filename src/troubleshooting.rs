//! The symptom -> cause -> fix table that `mercure-setup explain troubleshooting`
//! prints, and that every diagnosis (doctor, loadtest) points at by its `Row`: a
//! diagnosis names its row by type, and the row's number and symptom come from here.

use serde::{Serialize, Serializer};

/// One row of the symptom -> cause -> fix table.
#[derive(Debug)]
pub struct Trouble {
    pub symptom: &'static str,
    pub cause: &'static str,
    pub fix: &'static str,
    /// What the generated bundle does so the symptom does not occur.
    pub generated: &'static str,
}

/// A row of the troubleshooting table; its discriminant is the number
/// `explain troubleshooting` prints (from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Row {
    HubNotRunning = 1,
    NoSni = 2,
    CertificateMismatch = 3,
    SchemeMismatch = 4,
    NotTheStream = 5,
    NoSiteMatched = 6,
    Buffering = 7,
    IdleTimeout = 8,
    WriteTimeout = 9,
    Cors = 10,
    PublishRejected = 11,
    ShortKey = 12,
    IgnoredDirective = 13,
    JwtInLogs = 14,
    WorkerConnections = 15,
    LocalhostUpstream = 16,
    UnverifiedHop = 17,
    EditedByHand = 18,
    ForgedClientAddress = 19,
    TokenRefused10 = 20,
}

impl Row {
    /// Every row, in the order (and with the numbers) `explain troubleshooting` prints them.
    pub const ALL: [Row; 20] = [
        Row::HubNotRunning,
        Row::NoSni,
        Row::CertificateMismatch,
        Row::SchemeMismatch,
        Row::NotTheStream,
        Row::NoSiteMatched,
        Row::Buffering,
        Row::IdleTimeout,
        Row::WriteTimeout,
        Row::Cors,
        Row::PublishRejected,
        Row::ShortKey,
        Row::IgnoredDirective,
        Row::JwtInLogs,
        Row::WorkerConnections,
        Row::LocalhostUpstream,
        Row::UnverifiedHop,
        Row::EditedByHand,
        Row::ForgedClientAddress,
        Row::TokenRefused10,
    ];

    /// The row's number, as printed.
    pub fn number(self) -> u8 {
        self as u8
    }

    /// The row numbered `n` (from 1), if there is one.
    pub fn from_number(n: u8) -> Option<Row> {
        Row::ALL.into_iter().find(|r| r.number() == n)
    }

    /// How user-facing text points at this row: number and symptom.
    pub fn reference(self) -> String {
        format!("explain troubleshooting #{}: {}", self.number(), self.trouble().symptom)
    }

    /// The row's text.
    // One match arm per row: the table reads top to bottom as `explain` prints it.
    #[allow(clippy::too_many_lines)]
    pub fn trouble(self) -> Trouble {
        match self {
            Row::HubNotRunning => Trouble {
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
            Row::NoSni => Trouble {
                symptom: "502, `SSL_do_handshake() failed ... SSL alert number 80`",
                cause: "nginx sent no SNI (its default) to a Caddy site named after a host.",
                fix: "A catch-all site, proxy_ssl_server_name on with proxy_ssl_name NAME, Caddy default_sni.",
                generated: "`https://:PORT` (catch-all), `proxy_ssl_server_name on; proxy_ssl_name NAME;` in the nginx \
        location and `default_sni NAME` in the Caddyfile.",
            },
            Row::CertificateMismatch => Trouble {
                symptom: "502, `upstream SSL certificate does not match \"127.0.0.1\"` or `... verify error`",
                cause: "The name nginx checks or the CA it trusts does not fit the hub's certificate, or that \
        certificate expired (nothing renews the private CA's certificates by themselves).",
                fix: "proxy_ssl_name set to a DNS name in the certificate, the CA file trusted, the right depth; \
        an expiring certificate reissued by rendering again, then applied.",
                generated: "A private CA and a hub certificate for DNS:NAME, localhost, 127.0.0.1 and ::1; nginx gets \
        `proxy_ssl_name NAME`, `proxy_ssl_trusted_certificate /etc/mercure/tls/ca.crt` and \
        `proxy_ssl_verify_depth 1`.",
            },
            Row::SchemeMismatch => Trouble {
                symptom: "400 `Client sent an HTTP request to an HTTPS server`, or 502 `... wrong version number`",
                cause: "proxy_pass http:// to a hub whose site address lacks http:// (Caddy made it HTTPS), or \
        proxy_pass https:// to a plain-HTTP hub.",
                fix: "The same scheme on both sides.",
                generated: "Both the proxy_pass scheme and the hub's site address come from the one topology answer, \
        so they always agree.",
            },
            Row::NotTheStream => Trouble {
                symptom: "EventSource: MIME type `text/plain` or `text/html`, not `text/event-stream`",
                cause: "The response is not the stream: 401 (auth), 400 (no topic), 404 because nginx rewrote the \
        path, an nginx error page, or Symfony answered because the location did not match.",
                fix: "location ^~ /.well-known/mercure and proxy_pass without a URI part.",
                generated: "`location ^~ /.well-known/mercure` with `proxy_pass` and no URI part, ahead of the PHP \
        locations; INSTALL.md's curl smoke test shows the status code before a browser hides it.",
            },
            Row::NoSiteMatched => Trouble {
                symptom: "200 with an empty body; publishes \"succeed\" but nothing arrives",
                cause: "The request reached Caddy but no site matched its Host (a host-named site address).",
                fix: "A catch-all site address.",
                generated: "A catch-all `http://:PORT` or `https://:PORT` site; nginx passes `Host $host` unchanged.",
            },
            Row::Buffering => Trouble {
                symptom: "Events arrive late or in bursts",
                cause: "Buffering somewhere: a CDN, gzip on text/event-stream, a proxy cache, or nginx told to ignore \
        the hub's `X-Accel-Buffering: no` (`proxy_ignore_headers`), which otherwise turns nginx's own buffering off. \
        Advice written for WebSockets (`Upgrade`, `Connection \"upgrade\"`) or nginx's default HTTP/1.0 upstream \
        does not fit a server-sent event stream, which is a plain long GET.",
                fix: "proxy_http_version 1.1, an empty Connection header, proxy_buffering off, proxy_cache off; never \
        gzip text/event-stream.",
                generated: "`proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_buffering off; \
        proxy_cache off;` in the hub location, no `encode` in the hub's site, and INSTALL.md says to keep \
        text/event-stream out of gzip_types.",
            },
            Row::IdleTimeout => Trouble {
                symptom: "Connections drop every 60 seconds",
                cause: "proxy_read_timeout (60s by default) shorter than the hub's heartbeat, or the heartbeat off: \
        nginx logs `upstream timed out (110: Connection timed out)`, and answers 504 if no byte came before it.",
                fix: "Keep proxy_read_timeout at least twice the heartbeat.",
                generated: "`proxy_read_timeout 1h` and `heartbeat 40s`; hub.heartbeat is refused when 0 or above 30m.",
            },
            Row::WriteTimeout => Trouble {
                symptom: "Every stream reconnects every 10 minutes",
                cause: "The hub's write_timeout (600s) ends streams by design; harmless unless the JWT expired \
        meanwhile.",
                fix: "Nothing to fix; give subscriber cookies a lifetime longer than a reconnect.",
                generated: "The default write_timeout is kept; EventSource reconnects with Last-Event-ID and the bolt \
        history (hub.history_size updates) replays what it missed.",
            },
            Row::Cors => Trouble {
                symptom: "CORS errors in the browser console",
                cause: "The hub on another origin without exact cors_origins, `*` with credentials, or nginx adding \
        its own Access-Control-* headers on top of the hub's.",
                fix: "Same origin, exact origins (scheme://host[:port], no slash or path), no CORS headers in nginx.",
                generated: "The hub on the app's own origin; cors_origins only as you list them, each validated as an \
        exact origin, `*` warned about; no Access-Control-* header in the nginx site.",
            },
            Row::PublishRejected => Trouble {
                symptom: "Publishing answers 401",
                cause: "The hub's key is not MERCURE_JWT_SECRET, a JWT was pasted where the secret belongs, the \
        algorithms differ, or the token's mercure.publish does not cover the topic. Caddy logs the reason only \
        at debug level.",
                fix: "One key and one algorithm on both sides, publish: '*'.",
                generated: "One secret from the OS random source written to both mercure.env (hub) and .env.local \
        (Symfony), the same algorithm on both sides, `publish: '*'` in mercure.yaml, and tokens/publisher.jwt for \
        INSTALL.md's curl test.",
            },
            Row::ShortKey => Trouble {
                symptom: "Symfony: `Key provided is shorter than 256 bits`",
                cause: "lcobucci/jwt needs at least 32 bytes for HS256 and 64 for HS512.",
                fix: "A longer random secret.",
                generated: "An 86-character base64url secret (512 bits), enough for HS512, reused on every re-render.",
            },
            Row::IgnoredDirective => Trouble {
                symptom: "A directive in the mercure block \"does nothing\"",
                cause: "Mercure 0.x silently ignores unknown directives (use_forwarded_headers, jwt_secret, ...).",
                fix: "Only directives the hub knows.",
                generated: "Only Mercure 0.24 directives: publisher_jwt, subscriber_jwt, transport, anonymous, \
        subscriptions, cors_origins, publish_origins, heartbeat.",
            },
            Row::JwtInLogs => Trouble {
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
            Row::WorkerConnections => Trouble {
                symptom: "Subscribers beyond a few hundred fail",
                cause: "Each proxied subscriber costs nginx two connections; Debian's worker_connections 768 caps one \
        worker at about 380.",
                fix: "Raise worker_connections, worker_rlimit_nofile (at least twice) and LimitNOFILE.",
                generated: "worker_connections and worker_rlimit_nofile sized from nginx.expected_subscribers (INSTALL.md \
        shows where they go), a systemd drop-in raising nginx's LimitNOFILE, and LimitNOFILE=1048576 for the hub.",
            },
            Row::LocalhostUpstream => Trouble {
                symptom: "Some requests 502, nginx logs `connect() failed` to upstream `[::1]:PORT`",
                cause: "proxy_pass names `localhost`, which resolves to ::1 and 127.0.0.1; the hub listens on \
        127.0.0.1 only, so every try of ::1 is refused (and the name is resolved once, when nginx starts).",
                fix: "proxy_pass to 127.0.0.1:PORT, the address the hub binds.",
                generated: "`proxy_pass` to 127.0.0.1 and the hub's `bind 127.0.0.1`, both from hub.port.",
            },
            Row::UnverifiedHop => Trouble {
                symptom: "No error, but nginx would hand tokens to any process on the hub's port",
                cause: "proxy_ssl_verify is off by default (and blog posts turn it off to silence a handshake error), so the TLS \
        hop to the hub is encrypted but not authenticated: any local user who binds the port while the hub \
        restarts receives every request.",
                fix: "proxy_ssl_verify on, with the CA that issued the hub's certificate trusted and its name checked.",
                generated: "A private CA; `proxy_ssl_verify on; proxy_ssl_trusted_certificate /etc/mercure/tls/ca.crt; \
        proxy_ssl_verify_depth 1;` with `proxy_ssl_name NAME`.",
            },
            Row::EditedByHand => Trouble {
                symptom: "`render` refuses a file edited by hand, or a render undoes a fix",
                cause: "A bundle file was changed after mercure-setup wrote it, often with advice from a blog post \
        that brings back a row above; the next render keeps the edit (refuses) or, with --force, undoes it.",
                fix: "Put the change in the answers (`--set KEY=VALUE`) and render again; `check -v` shows each \
        edit as a diff.",
                generated: "A manifest of every file written (.state/manifest.json); render, check and apply compare \
        the files with it.",
            },
            Row::ForgedClientAddress => Trouble {
                symptom: "The hub logs client addresses that a browser chose",
                cause: "`X-Forwarded-For $proxy_add_x_forwarded_for` appends nginx's view to whatever the browser \
        sent, and the hub trusts nginx (trusted_proxies), so it takes the first, forged, address.",
                fix: "proxy_set_header X-Forwarded-For $remote_addr.",
                generated: "`proxy_set_header X-Forwarded-For $remote_addr;` and `trusted_proxies` limited to \
        loopback.",
            },
            Row::TokenRefused10 => Trouble {
                symptom: "Mercure 1.0 answers 401 invalid_token, 403 insufficient_scope or 400",
                cause: "The 1.0 hub checks RFC 9068 tokens: `iss` must be its issuer, `aud` its resource identifier \
        (which it derives from each request unless pinned), `exp` must be in the future, and a 0.x token (the \
        `mercure` claim) is refused. `?topic=` is a 400; `public_urls` on nginx's hop makes every answer 421. The \
        WWW-Authenticate header names the error and the resource_metadata URL.",
                fix: "Tokens with the hub's iss and aud and an exp (MercureBundle 0.5 with protocol_version 1.0 and \
        jwt.claims), subscribers with ?match= and the Authorization header or cookie; hub.version 1.0-compat while \
        0.x clients remain.",
                generated: "A literal `issuer https://DOMAIN` block and a pinned resource_identifier, mercure.yaml's \
        jwt.claims with the same iss and aud, 1.0 tokens with exp in tokens/, and nginx passing \
        /.well-known/oauth-protected-resource/.well-known/mercure to the hub.",
            },
        }
    }
}

/// The rows a symptom names: `#N` or `N` is row N; otherwise every word of `query`
/// (case-insensitive, whole words: `502`, `60s`, `alert 80`) must appear in the row's
/// symptom or cause.
pub fn find(query: &str) -> Vec<Row> {
    let query = query.trim();
    if let Some(row) = query.trim_start_matches('#').parse().ok().and_then(Row::from_number) {
        return vec![row];
    }
    let wanted = words(query);
    if wanted.is_empty() {
        return Vec::new();
    }
    Row::ALL
        .into_iter()
        .filter(|row| {
            let t = row.trouble();
            let have = words(&format!("{} {}", t.symptom, t.cause));
            wanted.iter().all(|w| have.contains(w))
        })
        .collect()
}

/// Lower-case words: runs of letters and digits (`60s`, `502`, `cors`).
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

/// Reports and JSON carry the row's number, as `explain troubleshooting` prints it.
impl Serialize for Row {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.number())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_numbered_in_order_from_one() {
        for (i, row) in Row::ALL.into_iter().enumerate() {
            assert_eq!(usize::from(row.number()), i + 1, "{row:?}");
            assert_eq!(Row::from_number(row.number()), Some(row));
        }
        assert_eq!(Row::from_number(0), None);
        assert_eq!(Row::from_number(21), None);
        assert_eq!(serde_json::to_string(&Row::Buffering).unwrap(), "7");
        assert_eq!(Row::Buffering.reference(), "explain troubleshooting #7: Events arrive late or in bursts");
    }

    #[test]
    fn symptoms_find_rows_by_code_or_word() {
        let numbers = |q: &str| find(q).into_iter().map(Row::number).collect::<Vec<_>>();
        assert_eq!(numbers("502"), [1, 2, 3, 4, 16]);
        assert_eq!(numbers("504"), [8]);
        assert_eq!(numbers("401"), [5, 11, 20]);
        assert_eq!(numbers("late"), [7]);
        assert_eq!(numbers("60s"), [8]);
        assert_eq!(numbers("cors"), [10]);
        assert_eq!(numbers("CORS"), [10]);
        assert_eq!(numbers("alert 80"), [2]);
        assert_eq!(numbers("#7"), [7]);
        assert_eq!(numbers("7"), [7]);
        assert_eq!(numbers("websockets"), [7]);
        assert!(find("kubernetes").is_empty() && find("").is_empty() && find("#99").is_empty());
    }
}
