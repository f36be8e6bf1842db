//! A bundle's files read and parsed once into the values that must agree across them
//! (the nginx site, the Caddyfile, the env files, the tokens, the hub certificate and
//! Symfony's mercure.yaml). The consistency checks are pure functions of these facts.
//!
//! A file that cannot be read or parsed is kept as its error, so each check that
//! needs it reports it, and checks that do not are unaffected.

use std::collections::BTreeMap;

use super::BundleDir;
use crate::bundle::paths;
use crate::deployment::TopologyFacts;
use crate::formats::{self, NginxDirective};

/// What the nginx site says about the hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NginxFacts {
    /// The HTTPS server's `server_name`, an exact-match regex read back as the name it matches.
    pub server_name: Option<String>,
    /// `proxy_pass` of the hub location.
    pub proxy_pass: Option<String>,
    /// The `location ^~ /.well-known/mercure` block.
    pub location: Option<NginxDirective>,
}

/// What the Caddyfile says about the hub's site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaddyFacts {
    /// The site address, e.g. `http://:3000`.
    pub address: Option<String>,
    pub bind: Vec<String>,
    /// Whether the site has a `tls` directive.
    pub has_tls: bool,
    pub default_sni: Option<String>,
    /// The `mercure { }` block's directives and their arguments.
    pub mercure: BTreeMap<String, Vec<String>>,
}

/// Everything the consistency checks compare, read from a bundle once.
#[derive(Debug, Clone)]
pub struct Facts {
    /// Bundle-relative path of the nginx site file (messages name it).
    pub nginx_site: String,
    /// How the bundle's topology wires nginx, the hub and Symfony.
    pub wiring: TopologyFacts,
    pub nginx: Result<NginxFacts, String>,
    pub caddy: Result<CaddyFacts, String>,
    /// symfony/.env.local.
    pub symfony_env: Result<BTreeMap<String, String>, String>,
    /// mercure/mercure.env.
    pub hub_env: Result<BTreeMap<String, String>, String>,
    /// mercure/tls/hub.crt (PEM).
    pub hub_cert: Result<String, String>,
    /// symfony/config/jwt/mercure-private.pem (ES256 only).
    pub symfony_private_key: Result<String, String>,
    pub publisher_token: Result<String, String>,
    pub subscriber_token: Result<String, String>,
    /// `mercure.hubs.default.jwt.algorithm` in Symfony's mercure.yaml, e.g. `hmac.sha256`.
    pub symfony_algorithm: Result<String, String>,
    /// `mercure.hubs.default.jwt.claims` in Symfony's mercure.yaml (the Symfony bundle 0.5's
    /// `iss`, `sub`, `client_id`, `aud`); empty when it sets none.
    pub symfony_claims: Result<BTreeMap<String, String>, String>,
}

impl Facts {
    /// Reads and parses the bundle's files.
    pub fn read(bundle: &BundleDir) -> Facts {
        Facts::parse(&bundle.nginx_site, bundle.wiring(), |rel| bundle.read(rel))
    }

    /// Parses the files `read` returns by bundle-relative path (errors name the file).
    pub fn parse(nginx_site: &str, wiring: TopologyFacts, read: impl Fn(&str) -> Result<String, String>) -> Facts {
        let env = |rel: &str| read(rel).and_then(|t| formats::parse_env(&t).map_err(|e| format!("{rel}: {e}")));
        Facts {
            nginx_site: nginx_site.to_string(),
            wiring,
            nginx: read(nginx_site).and_then(|t| nginx_facts(&t, nginx_site)),
            caddy: read(paths::CADDYFILE).and_then(|t| caddy_facts(&t)),
            symfony_env: env(paths::ENV_LOCAL),
            hub_env: env(paths::HUB_ENV),
            hub_cert: read(paths::HUB_CERT),
            symfony_private_key: read(paths::SYMFONY_PRIVATE_KEY),
            publisher_token: read(paths::PUBLISHER_TOKEN),
            subscriber_token: read(paths::SUBSCRIBER_TOKEN),
            symfony_algorithm: read(paths::SYMFONY_YAML).and_then(|t| symfony_algorithm(&t)),
            symfony_claims: read(paths::SYMFONY_YAML).and_then(|t| symfony_claims(&t)),
        }
    }
}

fn nginx_facts(text: &str, site: &str) -> Result<NginxFacts, String> {
    let tree = formats::parse_nginx(text).map_err(|e| format!("{site}: {e}"))?;
    // A long domain is written as an exact regex (`"~^a\.b$"`), which nginx keeps out
    // of its server-name hash; read it back as the name it matches.
    let server_name = formats::nginx_https_server(&tree).and_then(|s| formats::nginx_arg(s, "server_name")).map(|n| {
        let n = n.trim_matches('"');
        n.strip_prefix("~^").and_then(|r| r.strip_suffix('$')).map_or_else(|| n.to_string(), |r| r.replace("\\.", "."))
    });
    let location = formats::nginx_mercure_location(&tree).cloned();
    let proxy_pass = location.as_ref().and_then(|l| formats::nginx_arg(l, "proxy_pass")).map(String::from);
    Ok(NginxFacts { server_name, proxy_pass, location })
}

fn caddy_facts(text: &str) -> Result<CaddyFacts, String> {
    let tree = formats::parse_caddyfile(text).map_err(|e| format!("{}: {e}", paths::CADDYFILE))?;
    let site = formats::caddy_site(&tree);
    let mercure = formats::caddy_mercure(&tree)
        .and_then(|m| m.block.as_ref())
        .map(|b| b.iter().filter_map(|e| Some((e.tokens.first()?.clone(), e.tokens[1..].to_vec()))).collect())
        .unwrap_or_default();
    Ok(CaddyFacts {
        address: site.and_then(|s| s.tokens.first().cloned()),
        bind: site.and_then(|s| formats::caddy_args(s, "bind")).map(<[String]>::to_vec).unwrap_or_default(),
        has_tls: site.and_then(|s| formats::caddy_args(s, "tls")).is_some(),
        default_sni: formats::caddy_globals(&tree)
            .and_then(|g| formats::caddy_args(g, "default_sni"))
            .and_then(|a| a.first().cloned()),
        mercure,
    })
}

fn symfony_algorithm(text: &str) -> Result<String, String> {
    let v: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| format!("{}: {e}", paths::SYMFONY_YAML))?;
    v["mercure"]["hubs"]["default"]["jwt"]["algorithm"]
        .as_str()
        .map(String::from)
        .ok_or_else(|| format!("{}: no mercure.hubs.default.jwt.algorithm", paths::SYMFONY_YAML))
}

fn symfony_claims(text: &str) -> Result<BTreeMap<String, String>, String> {
    let v: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| format!("{}: {e}", paths::SYMFONY_YAML))?;
    let claims = v["mercure"]["hubs"]["default"]["jwt"]["claims"].as_mapping().cloned().unwrap_or_default();
    Ok(claims.into_iter().filter_map(|(k, v)| Some((k.as_str()?.to_string(), v.as_str()?.to_string()))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deployment::Topology;

    #[test]
    fn each_file_is_parsed_or_kept_as_its_error() {
        let files: BTreeMap<&str, &str> = [
            ("nginx/a.conf", "server {\n listen 443 ssl;\n server_name \"~^a\\.b$\";\n location ^~ /.well-known/mercure {\n  proxy_pass http://127.0.0.1:3000;\n }\n}\n"),
            (paths::CADDYFILE, "{\n\tdefault_sni hub.internal\n}\nhttp://:3000 {\n\tbind 127.0.0.1\n\tmercure {\n\t\tcors_origins https://x.example\n\t}\n}\n"),
            (paths::ENV_LOCAL, "MERCURE_URL=\"http://127.0.0.1:3000/.well-known/mercure\"\n"),
            (paths::HUB_ENV, "no equals sign\n"),
            (paths::SYMFONY_YAML, "mercure:\n  hubs:\n    default:\n      jwt:\n        algorithm: 'hmac.sha256'\n"),
        ]
        .into_iter()
        .collect();
        let f = Facts::parse("nginx/a.conf", Topology::SameHostHttp.facts(), |rel| {
            files.get(rel).map(|t| (*t).to_string()).ok_or(format!("{rel}: missing"))
        });
        let n = f.nginx.unwrap();
        assert_eq!(n.server_name.as_deref(), Some("a.b"));
        assert_eq!(n.proxy_pass.as_deref(), Some("http://127.0.0.1:3000"));
        let c = f.caddy.unwrap();
        assert_eq!(
            (c.address.as_deref(), c.bind, c.has_tls),
            (Some("http://:3000"), vec!["127.0.0.1".to_string()], false)
        );
        assert_eq!(c.default_sni.as_deref(), Some("hub.internal"));
        assert_eq!(c.mercure["cors_origins"], ["https://x.example"]);
        assert_eq!(f.symfony_env.unwrap()["MERCURE_URL"], "http://127.0.0.1:3000/.well-known/mercure");
        assert_eq!(f.hub_env.unwrap_err(), "mercure/mercure.env: line 1: no `=`");
        assert_eq!(f.symfony_algorithm.unwrap(), "hmac.sha256");
        assert_eq!(f.publisher_token.unwrap_err(), format!("{}: missing", paths::PUBLISHER_TOKEN));
    }
}
