//! Pure rewrites that let this machine's programs load a bundle's files: the
//! Caddyfile for the real Mercure hub (ports and paths only) or for plain Caddy 2.6
//! (no Mercure module), and the nginx site with test ports, certificates and paths. `check` and the test suite share them, so
//! what the tests prove is what `check` runs.
//!
//! Every rewrite keeps the line count where it can, so a tool's `file:line` in an
//! error points at the same line of the bundle's own file.

use std::fmt::Write as _;

use crate::plan::install;

/// Why a rendered Caddyfile cannot be adapted or read: it does not parse, or it lost
/// its `mercure { }` block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdaptError {
    #[error("{0}")]
    Format(#[from] crate::formats::FormatError),
    #[error("the Caddyfile has no `mercure {{ }}` block in its site")]
    NoMercureInSite,
    #[error("the Caddyfile has no `mercure {{` block")]
    NoMercureBlock,
    #[error("the `mercure {{` block is never closed")]
    Unclosed,
}

/// The directive names inside the Caddyfile's `mercure { }` block, with their lines
/// (only the block's own level: `transport bolt { path ... }` yields `transport`).
pub fn mercure_directives(caddyfile: &str) -> Result<Vec<(String, usize)>, AdaptError> {
    let tree = crate::formats::parse_caddyfile(caddyfile)?;
    let block = crate::formats::caddy_mercure(&tree).ok_or(AdaptError::NoMercureInSite)?;
    Ok(block.block.iter().flatten().filter_map(|e| e.tokens.first().map(|t| (t.clone(), e.line))).collect())
}

/// What becomes of the `mercure { }` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MercureBlock {
    /// Kept as rendered, for the real Mercure hub (a Caddy build with the module).
    Keep,
    /// `handle /.well-known/mercure* { respond 200 }`, for Debian's plain Caddy 2.6,
    /// which has no Mercure module (nor `trusted_proxies`, which goes too).
    Respond200,
}

/// How to adapt a rendered Caddyfile to run on this machine, unprivileged: only the
/// site port, the TLS file folder, the admin endpoint and the hub's storage folder
/// can change; everything else is kept, so what runs is what the bundle says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaddyAdapt {
    pub mercure: MercureBlock,
    /// Replaces the folder of the `tls` certificate and key (the bundle's `mercure/tls`).
    pub tls_dir: Option<String>,
    /// Replaces the port of the site address.
    pub port: Option<u16>,
    /// Replaces the `admin` global option (tests run several hubs at once).
    pub admin: Option<String>,
    /// Replaces the hub's state folder (`/var/lib/mercure`) in storage paths.
    pub data_dir: Option<String>,
}

impl CaddyAdapt {
    /// What plain Caddy 2.6's `caddy validate` needs and nothing more.
    pub fn caddy_stand_in(tls_dir: Option<String>) -> CaddyAdapt {
        CaddyAdapt { mercure: MercureBlock::Respond200, tls_dir, port: None, admin: None, data_dir: None }
    }

    /// The real hub reading the bundle's files where they are, keeping its state in `data_dir`.
    pub fn real_hub(tls_dir: Option<String>, data_dir: String) -> CaddyAdapt {
        CaddyAdapt { mercure: MercureBlock::Keep, tls_dir, port: None, admin: None, data_dir: Some(data_dir) }
    }
}

/// Rewrites a rendered Caddyfile as `how` says, keeping the line count (so a hub
/// error's line number points at the bundle's own file) and every other line.
pub fn adapt_caddyfile(text: &str, how: &CaddyAdapt) -> Result<String, AdaptError> {
    let mut out = String::new();
    let mut lines = text.lines();
    let mut found = false;
    while let Some(line) = lines.next() {
        let trimmed = line.trim();
        let indent = &line[..line.len() - line.trim_start().len()];
        if trimmed == "mercure {" {
            found = true;
            if how.mercure == MercureBlock::Respond200 {
                let skipped = skip_block(&mut lines)?;
                let _ = writeln!(out, "{indent}handle /.well-known/mercure* {{\n{indent}\trespond 200\n{indent}}}");
                // Pad so later line numbers still match the bundle's file.
                for _ in 3..skipped {
                    out.push('\n');
                }
                continue;
            }
        }
        if how.mercure == MercureBlock::Respond200 && trimmed.starts_with("trusted_proxies ") {
            let _ = writeln!(out, "{indent}# trusted_proxies: not in Caddy 2.6, removed for this check");
            continue;
        }
        if how.mercure == MercureBlock::Respond200
            && let Some(matcher) = trimmed.strip_prefix("log_skip ")
        {
            // Caddy 2.6 spells it `skip_log` (renamed in 2.8).
            let _ = writeln!(out, "{indent}skip_log {matcher}");
            continue;
        }
        if let (Some(admin), true) = (&how.admin, trimmed.starts_with("admin ")) {
            let _ = writeln!(out, "{indent}admin {admin}");
            continue;
        }
        if let (Some(dir), true) = (&how.tls_dir, trimmed.starts_with("tls ")) {
            let files: Vec<String> = trimmed
                .split_whitespace()
                .skip(1)
                .map(|p| format!("{dir}/{}", p.rsplit('/').next().unwrap_or(p)))
                .collect();
            let _ = writeln!(out, "{indent}tls {}", files.join(" "));
            continue;
        }
        if let Some(port) = how.port
            && indent.is_empty()
            && trimmed.ends_with('{')
            && let Some((scheme, _)) = trimmed.split_once("://:")
        {
            let _ = writeln!(out, "{scheme}://:{port} {{");
            continue;
        }
        if let Some(dir) = &how.data_dir
            && line.contains(install::DATA_DIR)
        {
            let _ = writeln!(out, "{}", line.replace(install::DATA_DIR, dir));
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    if !found {
        return Err(AdaptError::NoMercureBlock);
    }
    Ok(out)
}

/// Consumes the lines of a block whose opening line was just read, up to its
/// closing brace; returns how many lines the block held, opening line included.
fn skip_block<'a>(lines: &mut impl Iterator<Item = &'a str>) -> Result<usize, AdaptError> {
    let mut depth = 1;
    let mut count = 1;
    for inner in lines {
        count += 1;
        let t = inner.trim();
        if t.ends_with('{') {
            depth += 1;
        } else if t == "}" {
            depth -= 1;
            if depth == 0 {
                return Ok(count);
            }
        }
    }
    Err(AdaptError::Unclosed)
}

/// How the nginx site's HTTP/2 switch is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Http2Form {
    /// Keep the file's own form (what `check` does: a mismatch is a real failure).
    AsRendered,
    /// Rewrite `listen ... ssl;` + `http2 on;` into `listen ... ssl http2;`, for
    /// testing a file rendered for nginx >= 1.25.1 on an older nginx.
    ListenParameter,
}

/// How to adapt the nginx site for a test run on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NginxAdapt {
    /// `listen` address for the port-80 server, e.g. `127.0.0.1:18080`; IPv6 listeners are dropped.
    pub http_listen: Option<String>,
    /// `listen` address for the port-443 server.
    pub https_listen: Option<String>,
    /// Public certificate and key (the bundle's Let's Encrypt paths do not exist yet).
    pub public_cert: Option<(String, String)>,
    /// Replaces [`install::TLS_DIR`] (where `ca.crt` will be installed).
    pub tls_dir: Option<String>,
    /// Replaces [`install::NGINX_LOG_DIR`] in `access_log`.
    pub log_dir: Option<String>,
    pub http2: Http2Form,
}

impl NginxAdapt {
    /// Changes nothing: the site exactly as rendered.
    pub fn as_rendered() -> NginxAdapt {
        NginxAdapt {
            http_listen: None,
            https_listen: None,
            public_cert: None,
            tls_dir: None,
            log_dir: None,
            http2: Http2Form::AsRendered,
        }
    }
}

/// Rewrites the site file line by line, keeping its line count.
pub fn adapt_nginx_site(text: &str, how: &NginxAdapt) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        let indent = &line[..line.len() - line.trim_start().len()];
        let args: Vec<&str> = trimmed.trim_end_matches(';').split_whitespace().collect();
        let new = match args.as_slice() {
            ["listen", addr, rest @ ..] => {
                let ipv6 = addr.starts_with('[');
                let port = addr.rsplit(':').next().unwrap_or(addr);
                let target = if port == "80" { &how.http_listen } else { &how.https_listen };
                let mut rest: Vec<&str> = rest.to_vec();
                if how.http2 == Http2Form::ListenParameter && rest.contains(&"ssl") && !rest.contains(&"http2") {
                    rest.push("http2");
                }
                let params: String = rest.iter().flat_map(|r| [" ", r]).collect();
                match target {
                    Some(_) if ipv6 => Some(format!("{indent}# {trimmed} (IPv6 listener dropped for the test)")),
                    Some(t) => Some(format!("{indent}listen {t}{params};")),
                    None if how.http2 == Http2Form::ListenParameter => Some(format!("{indent}listen {addr}{params};")),
                    None => None,
                }
            }
            ["http2", "on"] if how.http2 == Http2Form::ListenParameter => {
                Some(format!("{indent}# http2 on; (moved into `listen` for this nginx)"))
            }
            ["ssl_certificate", _] => how.public_cert.as_ref().map(|(c, _)| format!("{indent}ssl_certificate {c};")),
            ["ssl_certificate_key", _] => {
                how.public_cert.as_ref().map(|(_, k)| format!("{indent}ssl_certificate_key {k};"))
            }
            _ => None,
        };
        let mut new = new.unwrap_or_else(|| line.to_string());
        if let Some(dir) = &how.tls_dir {
            new = new.replace(install::TLS_DIR, dir);
        }
        if let Some(dir) = &how.log_dir
            && trimmed.starts_with("access_log")
        {
            new = new.replace(install::NGINX_LOG_DIR, dir);
        }
        out.push_str(&new);
        out.push('\n');
    }
    out
}

/// A complete nginx.conf around one site file, for `nginx -t` or a foreground
/// test run: single process (so killing its PID stops it), every writable path
/// under `prefix`, and a `fastcgi_params` beside it for the site's relative include.
pub fn nginx_wrapper_conf(prefix: &str, site: &str) -> String {
    format!(
        "# Test wrapper written by mercure-setup: the site file is included as in /etc/nginx/nginx.conf.\n\
         worker_processes 1;\n\
         master_process off;\n\
         pid {prefix}/nginx.pid;\n\
         error_log {prefix}/error.log info;\n\
         events {{\n    worker_connections 1024;\n}}\n\
         http {{\n\
         \x20   default_type application/octet-stream;\n\
         \x20   access_log {prefix}/access.log;\n\
         \x20   client_body_temp_path {prefix}/client_body;\n\
         \x20   proxy_temp_path {prefix}/proxy;\n\
         \x20   fastcgi_temp_path {prefix}/fastcgi;\n\
         \x20   uwsgi_temp_path {prefix}/uwsgi;\n\
         \x20   scgi_temp_path {prefix}/scgi;\n\
         \x20   include {site};\n\
         }}\n"
    )
}

/// A minimal `fastcgi_params` for the wrapper when the system has none.
pub const FASTCGI_PARAMS: &str = "fastcgi_param QUERY_STRING $query_string;\n\
fastcgi_param REQUEST_METHOD $request_method;\n\
fastcgi_param CONTENT_TYPE $content_type;\n\
fastcgi_param CONTENT_LENGTH $content_length;\n\
fastcgi_param SCRIPT_NAME $fastcgi_script_name;\n\
fastcgi_param REQUEST_URI $request_uri;\n\
fastcgi_param SERVER_PROTOCOL $server_protocol;\n\
fastcgi_param HTTPS $https if_not_empty;\n\
fastcgi_param REMOTE_ADDR $remote_addr;\n\
fastcgi_param SERVER_NAME $server_name;\n";

#[cfg(test)]
mod tests {
    use super::*;

    const CADDY: &str = "{\n\tadmin localhost:2019\n\tservers {\n\t\ttrusted_proxies static 127.0.0.1/32\n\t}\n}\n\
                         https://:8443 {\n\tbind 127.0.0.1\n\ttls /etc/mercure/tls/hub.crt /etc/mercure/tls/hub.key\n\
                         \tmercure {\n\t\tpublisher_jwt {env.K} HS256\n\t\ttransport bolt {\n\t\t\tpath /var/lib/mercure/mercure.db\n\t\t}\n\
                         \t\theartbeat 40s\n\t}\n\trespond \"Not Found\" 404\n}\n";

    #[test]
    fn caddy_stand_in_keeps_lines_and_everything_else() {
        let how = CaddyAdapt {
            port: Some(9000),
            admin: Some("off".into()),
            ..CaddyAdapt::caddy_stand_in(Some("/tmp/b/tls".into()))
        };
        let out = adapt_caddyfile(CADDY, &how).unwrap();
        assert_eq!(out.lines().count(), CADDY.lines().count());
        assert!(out.contains("\thandle /.well-known/mercure* {\n\t\trespond 200\n\t}\n"));
        assert!(!out.contains("publisher_jwt") && !out.contains("trusted_proxies static"));
        assert!(out.contains("https://:9000 {") && out.contains("admin off"));
        assert!(out.contains("tls /tmp/b/tls/hub.crt /tmp/b/tls/hub.key"));
        assert!(out.contains("respond \"Not Found\" 404"));
        assert_eq!(adapt_caddyfile("x {\n}\n", &CaddyAdapt::caddy_stand_in(None)), Err(AdaptError::NoMercureBlock));
        let open = "https:// {\n\tmercure {\n\t\tanonymous\n";
        assert_eq!(adapt_caddyfile(open, &CaddyAdapt::caddy_stand_in(None)), Err(AdaptError::Unclosed));
    }

    /// For the real hub only the port, TLS folder, admin endpoint and storage folder
    /// change: every other line is byte for byte the bundle's.
    #[test]
    fn real_hub_adaptation_changes_only_ports_and_paths() {
        let how = CaddyAdapt {
            port: Some(9000),
            admin: Some("off".into()),
            ..CaddyAdapt::real_hub(Some("/tmp/b/tls".into()), "/tmp/state".into())
        };
        let out = adapt_caddyfile(CADDY, &how).unwrap();
        let changed: Vec<(&str, &str)> = CADDY.lines().zip(out.lines()).filter(|(a, b)| a != b).collect();
        assert_eq!(
            changed,
            [
                ("\tadmin localhost:2019", "\tadmin off"),
                ("https://:8443 {", "https://:9000 {"),
                (
                    "\ttls /etc/mercure/tls/hub.crt /etc/mercure/tls/hub.key",
                    "\ttls /tmp/b/tls/hub.crt /tmp/b/tls/hub.key"
                ),
                ("\t\t\tpath /var/lib/mercure/mercure.db", "\t\t\tpath /tmp/state/mercure.db"),
            ]
        );
        assert_eq!(out.lines().count(), CADDY.lines().count());
    }

    #[test]
    fn mercure_block_directives() {
        let names: Vec<String> = mercure_directives(CADDY).unwrap().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["publisher_jwt", "transport", "heartbeat"]);
    }

    #[test]
    fn nginx_adaptation() {
        let site = "server {\n    listen 80;\n    listen [::]:80;\n}\nserver {\n    listen 443 ssl;\n    http2 on;\n    \
                    ssl_certificate /etc/le/f.pem;\n    proxy_ssl_trusted_certificate /etc/mercure/tls/ca.crt;\n    \
                    access_log /var/log/nginx/x.log fmt;\n}\n";
        let how = NginxAdapt {
            http_listen: Some("127.0.0.1:1080".into()),
            https_listen: Some("127.0.0.1:1443".into()),
            public_cert: Some(("/t/c.pem".into(), "/t/k.pem".into())),
            tls_dir: Some("/b/tls".into()),
            log_dir: Some("/t/log".into()),
            http2: Http2Form::ListenParameter,
        };
        let out = adapt_nginx_site(site, &how);
        assert_eq!(out.lines().count(), site.lines().count());
        assert!(out.contains("listen 127.0.0.1:1080;\n    # listen [::]:80;"));
        assert!(out.contains("listen 127.0.0.1:1443 ssl http2;\n    # http2 on;"));
        assert!(out.contains("ssl_certificate /t/c.pem;") && out.contains("/b/tls/ca.crt;"));
        assert!(out.contains("access_log /t/log/x.log fmt;"));
        let same = NginxAdapt::as_rendered();
        assert_eq!(adapt_nginx_site(site, &same), site);
    }
}
