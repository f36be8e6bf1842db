//! The one table of questions: every answers-file key with its prompt, help line,
//! teaching text, input kind, default and visibility.
//!
//! It drives the wizard's screens, `init`'s commented answers file, the resolved
//! `answers.yaml` in the bundle and the key names accepted by `--set`.

use crate::bundle::paths;
use crate::deployment::Topology;
use crate::values::{Domain, JwtAlgorithm};

/// A value as given, before validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawValue {
    Scalar(String),
    List(Vec<String>),
}

/// What defaults may follow: the topology and the domain as far as they are known
/// (the default topology while none valid is given; no domain until a valid one is).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Basis {
    pub topology: Topology,
    pub domain: Option<Domain>,
}

/// The wizard step a question belongs to, in the order the wizard shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    Topology,
    Domain,
    Hub,
    Access,
    Jwt,
    Symfony,
    Capacity,
    Review,
}

impl Step {
    pub const ALL: [Step; 8] =
        [Step::Topology, Step::Domain, Step::Hub, Step::Access, Step::Jwt, Step::Symfony, Step::Capacity, Step::Review];

    pub fn title(self) -> &'static str {
        match self {
            Step::Topology => "Topology",
            Step::Domain => "Domain and public TLS",
            Step::Hub => "Hub",
            Step::Access => "Who may subscribe and publish",
            Step::Jwt => "JWT algorithm",
            Step::Symfony => "Symfony",
            Step::Capacity => "Capacity",
            Step::Review => "Review",
        }
    }
}

/// How a value is entered and stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One of a fixed set of words.
    Choice(&'static [&'static str]),
    /// Free text, checked by the key's validator.
    Text,
    /// `true` or `false`.
    Bool,
    /// A list of text values (comma-separated when typed on one line).
    List,
}

/// One answers-file key.
#[derive(Debug)]
pub struct Question {
    /// Dotted path in the answers file, e.g. `hub.port`.
    pub key: &'static str,
    pub step: Step,
    pub prompt: &'static str,
    /// One line shown under the field and as the comment in answers files.
    pub help: &'static str,
    /// The longer explanation behind `?` in the wizard.
    pub teach: &'static str,
    pub kind: Kind,
    /// The value used when the answers leave the key out.
    pub default: fn(&Basis) -> RawValue,
    /// Whether the key applies to the chosen topology.
    pub visible: fn(Topology) -> bool,
    /// Whether the answers must give the key (no usable default).
    pub required: bool,
    /// The file the wizard's preview shows while this question has the focus.
    pub preview: Preview,
}

/// The bundle file a question changes most, and the line the wizard's preview scrolls to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preview {
    /// Path in the bundle; [`NGINX_SITE`] stands for the site file, named after the domain.
    pub file: &'static str,
    /// Text found in the line to scroll to.
    pub anchor: &'static str,
}

/// Stands for `nginx/DOMAIN.conf` in [`Preview::file`].
pub const NGINX_SITE: &str = "nginx/DOMAIN.conf";

fn always(_: Topology) -> bool {
    true
}

/// Shown when nginx verifies the hub's certificate by name.
fn hub_tls_only(t: Topology) -> bool {
    t.facts().hub_tls
}

fn fixed(s: &str) -> RawValue {
    RawValue::Scalar(s.to_string())
}

fn empty_list(_: &Basis) -> RawValue {
    RawValue::List(Vec::new())
}

/// The domain for defaults derived from it; an invalid one is reported once, under
/// `domain`, rather than again in every path built from it.
fn domain_or_placeholder(b: &Basis) -> String {
    b.domain.as_ref().map_or_else(|| "DOMAIN".to_string(), ToString::to_string)
}

pub const TOPOLOGY_CHOICES: &[&str] = &Topology::NAMES;
pub const JWT_CHOICES: &[&str] = &JwtAlgorithm::NAMES;
pub const HUB_VERSION_CHOICES: &[&str] = &["auto", "0.24", "1.0-compat", "1.0"];
pub const TLS_PROFILE_CHOICES: &[&str] = &["intermediate", "modern"];

/// Every key of answers-file schema version 1, in file and wizard order.
pub static QUESTIONS: &[Question] = &[
    Question {
        key: "topology",
        step: Step::Topology,
        prompt: "How does nginx reach the hub?",
        help: "same-host-http: plain HTTP on loopback; end-to-end-tls: HTTPS to the hub, verified against a private CA",
        teach: "Both options put nginx on ports 80/443 with your public certificate and the hub on the same origin, \
under https://DOMAIN/.well-known/mercure. They differ only in the last hop, nginx -> hub, which never leaves this machine.\n\n\
same-host-http: nginx proxies to http://127.0.0.1:PORT. The hub binds to loopback only, so nothing outside the \
machine can reach it. Cheapest and simplest; the traffic on loopback is unencrypted, which matters only if you do not \
trust other local users.\n\n\
end-to-end-tls: nginx proxies to https://127.0.0.1:PORT and verifies the hub's certificate against a private CA that \
mercure-setup creates. It protects tokens and cookies from a local user who binds the hub's port while the hub \
restarts. It costs a certificate to renew (a re-render does it) and three nginx directives that the usual blog posts get \
wrong: proxy_ssl_server_name on (nginx sends no SNI by default), proxy_ssl_name (nginx never matches IP SANs) and \
proxy_ssl_verify on (nginx's default is off: encryption without authentication).",
        kind: Kind::Choice(TOPOLOGY_CHOICES),
        default: |_| fixed(Topology::default().as_str()),
        visible: always,
        required: false,
        preview: Preview { file: NGINX_SITE, anchor: "location ^~ /.well-known/mercure" },
    },
    Question {
        key: "domain",
        step: Step::Domain,
        prompt: "Public host name of the Symfony app",
        help: "the hub is served at https://DOMAIN/.well-known/mercure, on the same origin as the app",
        teach: "The hub lives under the app's own origin, so browsers need no CORS, a host-only mercureAuthorization \
cookie works, and the page and its EventSource share one HTTP/2 connection. A hub on a subdomain needs exact \
cors_origins, withCredentials and a parent-domain cookie; a different registrable domain cannot use the cookie at all.",
        kind: Kind::Text,
        default: |_| fixed(""),
        visible: always,
        required: true,
        preview: Preview { file: NGINX_SITE, anchor: "server_name" },
    },
    Question {
        key: "public_tls.certificate",
        step: Step::Domain,
        prompt: "Public TLS certificate (full chain)",
        help: "the certificate nginx serves on :443, usually from Let's Encrypt",
        teach: "nginx terminates the browser's TLS with this certificate. certbot writes it to \
/etc/letsencrypt/live/DOMAIN/fullchain.pem. The generated :80 server answers ACME HTTP-01 challenges from the \
webroot below, so `certbot certonly --webroot` can renew it while nginx runs.",
        kind: Kind::Text,
        default: |d| RawValue::Scalar(format!("/etc/letsencrypt/live/{}/fullchain.pem", domain_or_placeholder(d))),
        visible: always,
        required: false,
        preview: Preview { file: NGINX_SITE, anchor: "ssl_certificate " },
    },
    Question {
        key: "public_tls.certificate_key",
        step: Step::Domain,
        prompt: "Public TLS private key",
        help: "the key of the certificate above",
        teach: "certbot writes it to /etc/letsencrypt/live/DOMAIN/privkey.pem.",
        kind: Kind::Text,
        default: |d| RawValue::Scalar(format!("/etc/letsencrypt/live/{}/privkey.pem", domain_or_placeholder(d))),
        visible: always,
        required: false,
        preview: Preview { file: NGINX_SITE, anchor: "ssl_certificate_key" },
    },
    Question {
        key: "public_tls.acme_webroot",
        step: Step::Domain,
        prompt: "ACME challenge webroot",
        help: "where certbot --webroot puts HTTP-01 challenge files; served on :80 before the redirect to https",
        teach: "Let's Encrypt checks http://DOMAIN/.well-known/acme-challenge/TOKEN over plain HTTP. The :80 server \
serves that one path from this folder and redirects everything else to https.",
        kind: Kind::Text,
        default: |_| fixed("/var/www/letsencrypt"),
        visible: always,
        required: false,
        preview: Preview { file: NGINX_SITE, anchor: "acme-challenge" },
    },
    Question {
        key: "public_tls.profile",
        step: Step::Domain,
        prompt: "TLS profile of the public site",
        help: "Mozilla's intermediate profile (TLS 1.2 and 1.3) serves every browser of the last decade; modern keeps TLS 1.3 only",
        teach: "The :443 server follows Mozilla's server-side TLS guidelines (5.7), the list TLS scanners such as \
sslyze check against. intermediate: TLS 1.2 with forward-secret AEAD suites (ECDHE with AES-GCM or ChaCha20) plus \
TLS 1.3, for clients back to Android 4.4, Java 8 and Safari 9. modern: TLS 1.3 only, for clients from 2018 on \
(Firefox 63, Chrome 70, Safari 12.1, Android 10); older ones cannot connect at all, and the site is your whole app, \
not only the hub. Both limit key exchange to X25519, P-256 and P-384 and resume sessions from a shared cache without \
tickets. `mercure-setup check` flags a site edited to accept more.",
        kind: Kind::Choice(TLS_PROFILE_CHOICES),
        default: |_| fixed("intermediate"),
        visible: always,
        required: false,
        preview: Preview { file: NGINX_SITE, anchor: "ssl_protocols" },
    },
    Question {
        key: "public_tls.hsts",
        step: Step::Domain,
        prompt: "HSTS max-age (seconds)",
        help: "browsers that saw the site remember to use only https for this long (63072000 = 2 years); off sends no header",
        teach: "Strict-Transport-Security tells a browser to refuse plain http for this host for max-age seconds, so \
a network attacker cannot strip the redirect from http:// links. Two years is what Mozilla's profiles and the \
browsers' preload lists ask. Once sent it cannot be taken back before it expires: set off (or 0, which tells \
browsers to forget it) only while testing. nginx adds it to every response of the :443 server, the hub's included; \
a location with its own add_header would drop it, so keep headers at the server level.",
        kind: Kind::Text,
        default: |_| RawValue::Scalar(crate::tls_profile::Hsts::DEFAULT_MAX_AGE.to_string()),
        visible: always,
        required: false,
        preview: Preview { file: NGINX_SITE, anchor: "Strict-Transport-Security" },
    },
    Question {
        key: "public_tls.hsts_include_subdomains",
        step: Step::Domain,
        prompt: "HSTS for every subdomain too?",
        help: "adds includeSubDomains: every host under DOMAIN must then serve https, or browsers refuse it",
        teach: "includeSubDomains extends the rule to every host below the domain, including ones that serve only \
plain http today (an intranet name, a device's web page): browsers that saw the header then cannot reach them. \
Turn it on only when every subdomain has https.",
        kind: Kind::Bool,
        default: |_| fixed("false"),
        visible: always,
        required: false,
        preview: Preview { file: NGINX_SITE, anchor: "Strict-Transport-Security" },
    },
    Question {
        key: "hub.port",
        step: Step::Hub,
        prompt: "Hub port on 127.0.0.1",
        help: "loopback port the hub listens on; nginx proxies to it (not 80/443, which nginx holds)",
        teach: "The hub's site address is a catch-all (http://:PORT or https://:PORT) bound to 127.0.0.1. A site \
address naming the public domain, or Caddy's default, makes the hub try to take 80/443 from nginx and exit: \
nginx then answers 502 \"connect() failed (111: Connection refused)\".",
        kind: Kind::Text,
        default: |b| RawValue::Scalar(b.topology.facts().default_hub_port.to_string()),
        visible: always,
        required: false,
        preview: Preview { file: paths::CADDYFILE, anchor: "# Catch-all address" },
    },
    Question {
        key: "hub.tls_name",
        step: Step::Hub,
        prompt: "DNS name in the hub certificate",
        help: "nginx sends it as SNI and checks it against the certificate (proxy_ssl_name); it need not resolve",
        teach: "nginx never sends an IP address as SNI and never matches IP SANs, so proxying to https://127.0.0.1 \
needs a DNS name to verify: proxy_ssl_name NAME. The name is only compared with the certificate, never looked up, \
so an internal name such as mercure.internal is right. The certificate also carries localhost, 127.0.0.1 and ::1.",
        kind: Kind::Text,
        default: |_| fixed("mercure.internal"),
        visible: hub_tls_only,
        required: false,
        preview: Preview { file: NGINX_SITE, anchor: "proxy_ssl_name" },
    },
    Question {
        key: "hub.admin",
        step: Step::Hub,
        prompt: "Caddy admin address",
        help: "the hub's admin API (used by `mercure reload`): unix (a 0600 socket in /run/mercure), off, or loopback host:port",
        teach: "The hub is a Caddy server and opens an admin API. On TCP (Caddy's localhost:2019) any local user, \
www-data after a PHP compromise for one, can load a config that prints the JWT keys, and a second Caddy holding \
the same port makes the hub fail to start (502). `unix` puts it on a socket only the hub's user can open, in the \
unit's RuntimeDirectory. `off` also disables reloads without a restart.",
        kind: Kind::Text,
        default: |_| fixed("unix"),
        visible: always,
        required: false,
        preview: Preview { file: paths::CADDYFILE, anchor: "admin " },
    },
    Question {
        key: "hub.heartbeat",
        step: Step::Hub,
        prompt: "Heartbeat interval",
        help: "the hub sends a comment this often so idle connections stay open (nginx waits up to 1h)",
        teach: "nginx closes an upstream connection that sends nothing for proxy_read_timeout (60s by default): \
connections then drop every minute. The generated location sets 1h, and the hub's heartbeat (40s) keeps idle \
streams alive through other proxies too. Keep it at most 30m.",
        kind: Kind::Text,
        default: |_| fixed("40s"),
        visible: always,
        required: false,
        preview: Preview { file: paths::CADDYFILE, anchor: "heartbeat " },
    },
    Question {
        key: "hub.history_size",
        step: Step::Hub,
        prompt: "Updates kept for reconnecting clients",
        help: "bolt transport size: how many past updates the hub keeps for Last-Event-ID (0 keeps all)",
        teach: "A reconnecting EventSource sends Last-Event-ID and the hub replays what it missed from its bolt \
database. 0 keeps everything forever, which grows the file without bound.",
        kind: Kind::Text,
        default: |_| fixed("1000"),
        visible: always,
        required: false,
        preview: Preview { file: paths::CADDYFILE, anchor: "transport bolt" },
    },
    Question {
        key: "hub.binary",
        step: Step::Hub,
        prompt: "Hub binary",
        help: "where the Mercure hub executable is installed",
        teach: "The Mercure release archive contains one `mercure` binary; INSTALL.md copies it here.",
        kind: Kind::Text,
        default: |_| fixed("/usr/local/bin/mercure"),
        visible: always,
        required: false,
        preview: Preview { file: paths::UNIT, anchor: "ExecStart=" },
    },
    Question {
        key: "hub.version",
        step: Step::Hub,
        prompt: "Hub release line",
        help: "auto: ask hub.binary's `version` when rendering (0.24 when it is not installed); 0.24, 1.0 or 1.0-compat",
        teach: HUB_VERSIONS,
        kind: Kind::Choice(HUB_VERSION_CHOICES),
        default: |_| fixed("auto"),
        visible: always,
        required: false,
        preview: Preview { file: paths::CADDYFILE, anchor: "mercure {" },
    },
    Question {
        key: "hub.user",
        step: Step::Hub,
        prompt: "Hub service user",
        help: "dedicated system user the hub runs as",
        teach: "The hub runs as its own unprivileged user in a hardened systemd unit; INSTALL.md creates it.",
        kind: Kind::Text,
        default: |_| fixed("mercure"),
        visible: always,
        required: false,
        preview: Preview { file: paths::UNIT, anchor: "User=" },
    },
    Question {
        key: "hub.anonymous",
        step: Step::Access,
        prompt: "Allow subscribers without a JWT?",
        help: "true lets anyone subscribe to public updates; private updates always need a token",
        teach: "With anonymous off, every subscriber needs a JWT (the mercureAuthorization cookie Symfony sets, or an \
Authorization header). Turn it on when public pages subscribe without logging in.",
        kind: Kind::Bool,
        default: |_| fixed("false"),
        visible: always,
        required: false,
        preview: Preview { file: paths::CADDYFILE, anchor: "mercure {" },
    },
    Question {
        key: "hub.subscriptions",
        step: Step::Access,
        prompt: "Publish subscription events?",
        help: "enables the subscriptions API and connect/disconnect events",
        teach: "When on, the hub publishes an update each time a subscriber connects or leaves, and serves \
/.well-known/mercure/subscriptions. Useful for presence; costs one update per connection.",
        kind: Kind::Bool,
        default: |_| fixed("false"),
        visible: always,
        required: false,
        preview: Preview { file: paths::CADDYFILE, anchor: "mercure {" },
    },
    Question {
        key: "hub.cors_origins",
        step: Step::Access,
        prompt: "CORS origins",
        help: "only pages on OTHER origins need this: exact scheme://host[:port], no trailing slash",
        teach: "The app and the hub share an origin, so the app's own pages need no CORS. List other origins \
(a SPA on another host, a dev server) exactly as the browser sends them: scheme://host[:port], no path, no \
trailing slash. `*` cannot be used with cookies (withCredentials). Never add Access-Control-* headers in nginx for \
the hub: they would stack on the hub's own and browsers reject duplicates.",
        kind: Kind::List,
        default: empty_list,
        visible: always,
        required: false,
        preview: Preview { file: paths::CADDYFILE, anchor: "mercure {" },
    },
    Question {
        key: "hub.publish_origins",
        step: Step::Access,
        prompt: "Publish origins",
        help: "origins whose pages may publish with a cookie; server-side publishing does not need this",
        teach: "publish_origins only gates browsers that POST updates authenticated by the mercureAuthorization \
cookie. Symfony publishes server-side with a Bearer token and ignores it. Leave it empty unless browsers publish; \
`*` is refused.",
        kind: Kind::List,
        default: empty_list,
        visible: always,
        required: false,
        preview: Preview { file: paths::CADDYFILE, anchor: "mercure {" },
    },
    Question {
        key: "jwt.algorithm",
        step: Step::Jwt,
        prompt: "JWT algorithm",
        help: "HS256 shares one secret between Symfony and the hub; ES256 gives Symfony a private key and the hub the public one",
        teach: "HS256/HS512: one random secret (86 base64url characters) signs publisher tokens and subscriber \
cookies; Symfony and the hub must hold the very same bytes. lcobucci/jwt refuses keys shorter than 256 bits \
(HS256) or 512 bits (HS512). ES256: Symfony holds a P-256 private key, the hub only the public key, so a leaked hub \
config cannot mint tokens.",
        kind: Kind::Choice(JWT_CHOICES),
        default: |_| fixed("HS256"),
        visible: always,
        required: false,
        preview: Preview { file: paths::HUB_ENV, anchor: "MERCURE_PUBLISHER_JWT_KEY" },
    },
    Question {
        key: "symfony.project_dir",
        step: Step::Symfony,
        prompt: "Symfony project directory",
        help: "nginx serves PROJECT/public and .env.local goes to PROJECT/.env.local",
        teach: "The generated server block uses PROJECT/public as its root and sends requests through \
public/index.php to php-fpm, like Symfony's recommended nginx configuration.",
        kind: Kind::Text,
        default: |_| fixed("/var/www/app"),
        visible: always,
        required: false,
        preview: Preview { file: NGINX_SITE, anchor: "root " },
    },
    Question {
        key: "symfony.php_fpm",
        step: Step::Symfony,
        prompt: "php-fpm address",
        help: "fastcgi_pass target: unix:/run/php/php8.2-fpm.sock on Debian 12, or host:port",
        teach: "Debian 12's php8.2-fpm listens on unix:/run/php/php8.2-fpm.sock.",
        kind: Kind::Text,
        default: |_| fixed("unix:/run/php/php8.2-fpm.sock"),
        visible: always,
        required: false,
        preview: Preview { file: NGINX_SITE, anchor: "fastcgi_pass" },
    },
    Question {
        key: "nginx.version",
        step: Step::Capacity,
        prompt: "nginx version",
        help: "auto reads `nginx -v` when rendering; 1.25.1 and later use `http2 on;` instead of `listen ... http2`",
        teach: "Browsers allow only 6 HTTP/1.1 connections per host across all tabs and each EventSource holds one, \
so the public listener speaks HTTP/2. nginx before 1.25.1 (Debian 12 ships 1.22) only knows `listen 443 ssl http2;`; \
from 1.25.1 on that form is deprecated in favour of `http2 on;`.",
        kind: Kind::Text,
        default: |_| fixed("auto"),
        visible: always,
        required: false,
        preview: Preview { file: NGINX_SITE, anchor: "listen 443" },
    },
    Question {
        key: "nginx.expected_subscribers",
        step: Step::Capacity,
        prompt: "Expected concurrent subscribers",
        help: "sizes worker_connections and the file-descriptor limits (each subscriber costs nginx 2 connections)",
        teach: "Each proxied EventSource holds two nginx connections: browser -> nginx and nginx -> hub. Debian's \
worker_connections 768 caps a worker near 380 subscribers. The bundle sizes worker_connections, \
worker_rlimit_nofile and LimitNOFILE for this many.",
        kind: Kind::Text,
        default: |_| fixed("1000"),
        visible: always,
        required: false,
        preview: Preview { file: paths::NGINX_DROP_IN, anchor: "LimitNOFILE" },
    },
];

/// Looks up a question by its dotted key.
pub fn question(key: &str) -> Option<&'static Question> {
    QUESTIONS.iter().find(|q| q.key == key)
}

/// The questions of one wizard step that apply to `topology`.
pub fn questions_for(step: Step, topology: Topology) -> impl Iterator<Item = &'static Question> {
    QUESTIONS.iter().filter(move |q| q.step == step && (q.visible)(topology))
}

/// The known key closest to `unknown`, for "did you mean" hints.
pub fn suggest_key(unknown: &str) -> Option<&'static str> {
    let leaf = |k: &str| k.rsplit('.').next().unwrap_or(k).to_string();
    let unknown_leaf = leaf(unknown);
    QUESTIONS
        .iter()
        .map(|q| {
            let full = strsim::jaro_winkler(unknown, q.key);
            let by_leaf = strsim::jaro_winkler(&unknown_leaf, &leaf(q.key));
            (full.max(by_leaf), q.key)
        })
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, key)| key)
}

/// What Mercure 1.0 changes for a Symfony + nginx deployment and which line to choose
/// today: `explain hub-versions` and the wizard's `hub.version` question.
pub const HUB_VERSIONS: &str = "0.24 (0.24.2) is the stable release and the one to choose today; 1.0 is an alpha \
(1.0.0-alpha.3, August 2026) with no date for a final release. auto asks the installed hub binary which it is.\n\n\
What 1.0 changes: the keys move into an `issuer https://DOMAIN { publisher {...} subscriber {...} }` block with a \
pinned resource_identifier; tokens become RFC 9068 access tokens (header typ at+jwt, iss, aud, exp, \
authorization_details) and 0.x tokens get 401 invalid_token; subscribers name topics with ?match= (?topic= is a \
400) and send the token in the Authorization header or the __Secure-mercure_access_token cookie, never in the URL; \
errors follow RFC 6750 and point at /.well-known/oauth-protected-resource/.well-known/mercure, which nginx proxies \
to the hub. Symfony needs MercureBundle 0.5 or newer (symfony/mercure 0.8, PHP 8.2) with protocol_version '1.0'.\n\n\
1.0-compat is the step between: the 1.0 hub with protocol_version_compatibility 8 accepts 0.x clients and tokens \
as well as 1.0 ones, but then checks no token's aud, typ or exp (nor the iss of a token its key verifies). Render 1.0-compat, switch Symfony and the \
JavaScript clients, then render 1.0 (INSTALL.md: Upgrading the hub to 1.0).";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_steps_ordered() {
        let mut keys: Vec<_> = QUESTIONS.iter().map(|q| q.key).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), QUESTIONS.len());
        assert!(QUESTIONS.windows(2).all(|w| w[0].step <= w[1].step));
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest_key("hub.prot"), Some("hub.port"));
        assert_eq!(suggest_key("port"), Some("hub.port"));
        assert_eq!(suggest_key("hub.cors_origin"), Some("hub.cors_origins"));
        assert_eq!(suggest_key("zzzzzz"), None);
    }
}
