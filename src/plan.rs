//! Answers -> Plan: every value the templates need, derived once (URLs, schemes,
//! nginx syntax for its version, connection limits, install paths).
//!
//! Pure: the nginx version found on the machine is passed in by the caller.

use serde::Serialize;

use crate::answers::{Answers, PublicTls};
use crate::deployment::{HubFacts, TopologyFacts};
use crate::tls_profile;
use crate::values::{CorsOrigin, NginxVersion, NginxVersionChoice, Origin};

/// Where the files are installed on the server; INSTALL.md and the configs agree on these.
pub mod install {
    pub const MERCURE_DIR: &str = "/etc/mercure";
    pub const CADDYFILE: &str = "/etc/mercure/Caddyfile";
    pub const ENV_FILE: &str = "/etc/mercure/mercure.env";
    pub const TLS_DIR: &str = "/etc/mercure/tls";
    pub const DATA_DIR: &str = "/var/lib/mercure";
    pub const NGINX_LOG_DIR: &str = "/var/log/nginx";
    pub const UNIT: &str = "/etc/systemd/system/mercure.service";
    pub const NGINX_DROP_IN: &str = "/etc/systemd/system/nginx.service.d/mercure-limits.conf";
}

/// The hub's read timeout in nginx; the heartbeat is validated to be at most half of it.
pub const PROXY_READ_TIMEOUT: &str = "1h";

/// Everything the templates read.
// Flat booleans are what Tera's `{% if %}` reads most simply.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    #[serde(skip)]
    pub answers: Answers,
    pub tool_version: &'static str,
    /// The topology's name, for the files' header comments only; everything else reads `wiring`.
    pub topology: &'static str,
    /// How nginx, the hub and Symfony are wired (templates read `hub_tls`, `private_ca`, ...).
    #[serde(flatten)]
    pub wiring: TopologyFacts,
    /// The hub release line the files are written for (templates read `hub.issuer_block`, ...).
    pub hub: HubFacts,
    /// The 1.0 hub's trusted issuer (`iss`) and pinned resource identifier (`aud`).
    pub hub_issuer: String,
    pub hub_audience: String,
    pub domain: String,
    pub public_certificate: String,
    pub public_certificate_key: String,
    pub acme_webroot: String,
    /// The public server's TLS settings (`ssl_*` directives).
    pub tls: TlsPlan,
    pub hub_port: u16,
    pub hub_scheme: &'static str,
    /// `proxy_pass` target, without a URI part so nginx passes path and query unchanged.
    pub hub_upstream: String,
    pub hub_tls_name: String,
    pub hub_admin: String,
    pub hub_admin_off: bool,
    /// The admin API is a unix socket in the unit's `RuntimeDirectory`.
    pub hub_admin_socket: bool,
    pub hub_heartbeat: String,
    pub hub_history_size: u32,
    pub hub_binary: String,
    pub hub_user: String,
    pub hub_anonymous: bool,
    pub hub_subscriptions: bool,
    pub cors_origins: Vec<String>,
    pub publish_origins: Vec<String>,
    pub jwt_algorithm: &'static str,
    pub jwt_hmac: bool,
    pub symfony_algorithm: &'static str,
    pub project_dir: String,
    pub php_fpm: String,
    pub nginx_version: String,
    /// nginx >= 1.25.1 spells HTTP/2 as `http2 on;` instead of `listen ... http2`.
    pub nginx_http2_directive: bool,
    pub worker_connections: u32,
    pub worker_rlimit_nofile: u32,
    pub expected_subscribers: u32,
    /// Memory, descriptors and kernel settings for `expected_subscribers`.
    pub sizing: crate::sizing::Sizing,
    /// The same in words (INSTALL.md, `render`, the wizard's review).
    pub sizing_lines: Vec<String>,
    pub public_hub_url: String,
    /// Where Symfony publishes: loopback for plain HTTP, the public URL for TLS
    /// (so PHP's HTTP client needs no private CA).
    pub symfony_mercure_url: String,
    pub proxy_read_timeout: &'static str,
    /// `server_name`'s argument: the domain, or for a long one an exact regex, which
    /// nginx matches without its server-name hash (whose default 64-byte buckets
    /// hold names up to 46 characters; `nginx -t` fails on longer ones).
    pub nginx_server_name: String,
    /// nginx names that must be unique per site (http-level `log_format` and `map`).
    pub nginx_name: String,
    pub nginx_site_file: String,
    /// The domain, shortened when too long for a file name: names the site and log files.
    pub site_name: String,
    pub paths: InstallPaths,
}

/// The public server's TLS: Mozilla's profile as nginx directives. Every directive it
/// renders exists in each nginx the answers accept (1.18 on), so none follows `nginx.version`.
#[derive(Debug, Clone, Serialize)]
pub struct TlsPlan {
    /// The profile's name (`intermediate`, `modern`), for the comments.
    pub profile: &'static str,
    pub guidelines: &'static str,
    /// `ssl_protocols`' arguments.
    pub protocols: String,
    /// `ssl_ciphers`' argument; empty for a profile without TLS 1.2 (no line rendered).
    pub ciphers: String,
    /// `ssl_ecdh_curve`'s argument.
    pub curves: String,
    /// `ssl_session_cache`'s argument.
    pub session_cache: &'static str,
    /// The `Strict-Transport-Security` value; `None`: no header.
    pub hsts: Option<String>,
}

/// One session cache zone for every site mercure-setup renders: nginx shares a zone
/// between servers that declare the same name and size. 10 MB hold about 40000 sessions.
pub const SSL_SESSION_CACHE: &str = "shared:mercure_tls:10m";

impl TlsPlan {
    pub fn new(tls: &PublicTls) -> TlsPlan {
        let profile = tls.profile;
        let subdomains = if tls.hsts_include_subdomains { "; includeSubDomains" } else { "" };
        TlsPlan {
            hsts: tls.hsts.max_age().map(|age| format!("max-age={age}{subdomains}")),
            profile: profile.as_str(),
            guidelines: tls_profile::GUIDELINES,
            protocols: profile.protocols().join(" "),
            ciphers: profile.rendered_ciphers().join(":"),
            curves: tls_profile::CURVES.join(":"),
            session_cache: SSL_SESSION_CACHE,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct InstallPaths {
    pub mercure_dir: &'static str,
    pub caddyfile: &'static str,
    pub env_file: &'static str,
    pub tls_dir: &'static str,
    pub data_dir: &'static str,
    pub nginx_log_dir: &'static str,
    pub unit: &'static str,
    pub nginx_drop_in: &'static str,
}

/// Longest name nginx's default `server_names_hash_bucket_size` (64) holds: an
/// entry takes the name plus 10 bytes rounded up to 8, and a bucket keeps 8 more.
pub const SERVER_NAME_HASH_MAX: usize = 46;

/// The domain for `server_name`: as is when it fits the default hash bucket, else
/// `"~^app\.example\.com$"`, matched as a regex outside the hash.
pub fn nginx_server_name(domain: &str) -> String {
    if domain.len() <= SERVER_NAME_HASH_MAX {
        domain.to_string()
    } else {
        format!("\"~^{}$\"", domain.replace('.', "\\."))
    }
}

impl Plan {
    /// Derives the plan; `detected` is the nginx version found on this machine, if any.
    pub fn new(answers: Answers, detected: Option<NginxVersion>) -> Plan {
        let nginx_version = match answers.nginx.version {
            NginxVersionChoice::Known(v) => v,
            NginxVersionChoice::Auto => detected.unwrap_or(NginxVersion::FALLBACK),
        };
        let wiring = answers.topology.facts();
        let hub_scheme = wiring.hub_scheme();
        let port = answers.hub.port.get();
        let domain = answers.domain.to_string();
        let public_hub_url = format!("https://{domain}/.well-known/mercure");
        let symfony_mercure_url = if wiring.symfony_via_public_url {
            public_hub_url.clone()
        } else {
            format!("{hub_scheme}://127.0.0.1:{port}/.well-known/mercure")
        };
        let sizing = crate::sizing::Sizing::for_subscribers(answers.nginx.expected_subscribers, wiring.hub_tls);
        let h = &answers.hub;
        Plan {
            tool_version: env!("CARGO_PKG_VERSION"),
            topology: answers.topology.as_str(),
            wiring,
            hub: answers.hub.version.line().facts(),
            hub_issuer: HubFacts::issuer(&domain),
            hub_audience: HubFacts::audience(&domain),
            public_certificate: answers.public_tls.certificate.as_str().into(),
            public_certificate_key: answers.public_tls.certificate_key.as_str().into(),
            acme_webroot: answers.public_tls.acme_webroot.as_str().into(),
            tls: TlsPlan::new(&answers.public_tls),
            hub_port: port,
            hub_scheme,
            hub_upstream: format!("{hub_scheme}://127.0.0.1:{port}"),
            hub_tls_name: h.tls_name.to_string(),
            hub_admin: h.admin.caddy_value(),
            hub_admin_socket: h.admin.is_unix(),
            hub_admin_off: h.admin.is_off(),
            hub_heartbeat: h.heartbeat.text.clone(),
            hub_history_size: h.history_size,
            hub_binary: h.binary.as_str().into(),
            hub_user: h.user.as_str().into(),
            hub_anonymous: h.anonymous,
            hub_subscriptions: h.subscriptions,
            cors_origins: h.cors_origins.iter().map(CorsOrigin::as_str).map(String::from).collect(),
            publish_origins: h.publish_origins.iter().map(Origin::as_str).map(String::from).collect(),
            jwt_algorithm: answers.jwt_algorithm.as_str(),
            jwt_hmac: answers.jwt_algorithm.is_hmac(),
            symfony_algorithm: answers.jwt_algorithm.symfony_name(),
            project_dir: answers.symfony.project_dir.as_str().into(),
            php_fpm: answers.symfony.php_fpm.as_str().into(),
            nginx_version: nginx_version.to_string(),
            nginx_http2_directive: nginx_version >= NginxVersion::HTTP2_DIRECTIVE,
            worker_connections: sizing.worker_connections,
            worker_rlimit_nofile: u32::try_from(sizing.nginx_files).unwrap_or(u32::MAX),
            expected_subscribers: answers.nginx.expected_subscribers,
            sizing,
            sizing_lines: sizing.lines(),
            public_hub_url,
            symfony_mercure_url,
            proxy_read_timeout: PROXY_READ_TIMEOUT,
            nginx_server_name: nginx_server_name(&domain),
            nginx_name: crate::bundle::paths::domain_hash(&domain),
            site_name: crate::bundle::paths::site_name(&domain),
            nginx_site_file: crate::bundle::paths::nginx_site(&domain),
            domain,
            paths: InstallPaths {
                mercure_dir: install::MERCURE_DIR,
                caddyfile: install::CADDYFILE,
                env_file: install::ENV_FILE,
                tls_dir: install::TLS_DIR,
                data_dir: install::DATA_DIR,
                nginx_log_dir: install::NGINX_LOG_DIR,
                unit: install::UNIT,
                nginx_drop_in: install::NGINX_DROP_IN,
            },
            answers,
        }
    }
}
