//! Cross-file consistency: the values that must agree between the nginx site, the
//! Caddyfile, the env files, the tokens and the certificate. A mismatch here is a
//! 502, a 401 or a silent "nothing arrives" in production, so each failure names
//! both files involved.

use std::collections::BTreeMap;

use crate::jwt::{self, Role, SigningKey};
use crate::values::JwtAlgorithm;

use super::parse::{self, BundleDir};
use super::{CheckResult, Outcome};
use crate::bundle::paths;
use crate::values::{CorsOrigin, Origin};

/// Runs every consistency check.
pub fn all(bundle: &BundleDir) -> Vec<CheckResult> {
    let mut out = vec![hub_address(bundle), jwt_keys(bundle), public_url(bundle)];
    if bundle.is_tls() {
        out.push(hub_tls_name(bundle));
    }
    out.push(origins(bundle));
    out.push(jwt_algorithm(bundle));
    out
}

fn result(
    id: &'static str,
    title: &str,
    files: &[&str],
    problems: &[String],
    passed: String,
    fix: &str,
) -> CheckResult {
    let outcome = if problems.is_empty() {
        Outcome::Passed { detail: passed }
    } else {
        Outcome::Failed { error: problems.join("; "), fix: fix.into() }
    };
    CheckResult { id, title: title.into(), files: files.iter().map(|f| (*f).to_string()).collect(), outcome }
}

/// What the nginx site says about the hub.
struct NginxFacts {
    server_name: Option<String>,
    proxy_pass: Option<String>,
    location: Option<parse::NginxDirective>,
}

fn nginx_facts(bundle: &BundleDir) -> Result<NginxFacts, String> {
    let text = bundle.read(&bundle.nginx_site)?;
    let tree = parse::parse_nginx(&text).map_err(|e| format!("{}: {e}", bundle.nginx_site))?;
    // A long domain is written as an exact regex (`"~^a\.b$"`), which nginx keeps out
    // of its server-name hash; read it back as the name it matches.
    let server_name = parse::nginx_https_server(&tree).and_then(|s| parse::nginx_arg(s, "server_name")).map(|n| {
        let n = n.trim_matches('"');
        n.strip_prefix("~^").and_then(|r| r.strip_suffix('$')).map_or_else(|| n.to_string(), |r| r.replace("\\.", "."))
    });
    let location = parse::nginx_mercure_location(&tree).cloned();
    let proxy_pass = location.as_ref().and_then(|l| parse::nginx_arg(l, "proxy_pass")).map(String::from);
    Ok(NginxFacts { server_name, proxy_pass, location })
}

/// What the Caddyfile says about the hub's site.
struct CaddyFacts {
    address: Option<String>,
    bind: Vec<String>,
    has_tls: bool,
    default_sni: Option<String>,
    mercure: BTreeMap<String, Vec<String>>,
}

fn caddy_facts(bundle: &BundleDir) -> Result<CaddyFacts, String> {
    let text = bundle.read(paths::CADDYFILE)?;
    let tree = parse::parse_caddyfile(&text).map_err(|e| format!("{}: {e}", paths::CADDYFILE))?;
    let site = parse::caddy_site(&tree);
    let mercure = parse::caddy_mercure(&tree)
        .and_then(|m| m.block.as_ref())
        .map(|b| b.iter().filter_map(|e| Some((e.tokens.first()?.clone(), e.tokens[1..].to_vec()))).collect())
        .unwrap_or_default();
    Ok(CaddyFacts {
        address: site.and_then(|s| s.tokens.first().cloned()),
        bind: site.and_then(|s| parse::caddy_args(s, "bind")).map(<[String]>::to_vec).unwrap_or_default(),
        has_tls: site.and_then(|s| parse::caddy_args(s, "tls")).is_some(),
        default_sni: parse::caddy_globals(&tree)
            .and_then(|g| parse::caddy_args(g, "default_sni"))
            .and_then(|a| a.first().cloned()),
        mercure,
    })
}

fn env(bundle: &BundleDir, rel: &str) -> Result<BTreeMap<String, String>, String> {
    parse::parse_env(&bundle.read(rel)?).map_err(|e| format!("{rel}: {e}"))
}

/// nginx's `proxy_pass` scheme and port == the Caddyfile site address; loopback on both sides.
pub fn hub_address(bundle: &BundleDir) -> CheckResult {
    let files = [bundle.nginx_site.as_str(), paths::CADDYFILE];
    let mut problems = Vec::new();
    let mut passed = String::new();
    match (nginx_facts(bundle), caddy_facts(bundle)) {
        (Err(e), _) | (_, Err(e)) => problems.push(e),
        (Ok(n), Ok(c)) => {
            let upstream = n.proxy_pass.as_deref().and_then(parse::split_url);
            let site = c.address.as_deref().and_then(parse::split_url);
            match (upstream, site) {
                (None, _) => problems.push(format!(
                    "{}: no `proxy_pass scheme://host:port` in `location ^~ /.well-known/mercure`",
                    bundle.nginx_site
                )),
                (_, None) => problems.push(format!("{}: the site address is not scheme://:port", paths::CADDYFILE)),
                (Some((ns, nh, np, npath)), Some((cs, ch, cp, _))) => {
                    if ns != cs || np != cp {
                        problems.push(format!(
                            "{} proxies to {ns}://…:{} but {} serves {cs}://:{}",
                            bundle.nginx_site,
                            np.map_or("?".into(), |p| p.to_string()),
                            paths::CADDYFILE,
                            cp.map_or("?".into(), |p| p.to_string())
                        ));
                    }
                    if !npath.is_empty() {
                        problems.push(format!(
                            "{}: proxy_pass has a URI part `{npath}`, so nginx rewrites the hub's path",
                            bundle.nginx_site
                        ));
                    }
                    if !ch.is_empty() {
                        problems.push(format!(
                            "{}: site address names host `{ch}`; nginx sends the public Host, so use a catch-all `{cs}://:PORT`",
                            paths::CADDYFILE
                        ));
                    }
                    if !c.bind.contains(&nh) {
                        problems.push(format!(
                            "{} connects to {nh} but {} binds [{}]",
                            bundle.nginx_site,
                            paths::CADDYFILE,
                            c.bind.join(" ")
                        ));
                    }
                    if (cs == "https") != c.has_tls {
                        problems.push(format!(
                            "{}: scheme {cs} but `tls` is {}",
                            paths::CADDYFILE,
                            if c.has_tls { "set" } else { "missing" }
                        ));
                    }
                    passed = format!("nginx proxies to {ns}://{nh}:{}, the hub's site address", np.unwrap_or(0));
                }
            }
        }
    }
    result(
        "hub-address",
        "hub scheme and port agree (nginx ↔ Caddyfile)",
        &files,
        &problems,
        passed,
        "render again instead of editing one file: the port and scheme come from hub.port and topology",
    )
}

/// `MERCURE_JWT_SECRET` (or the ES256 private key) == the hub's publisher and subscriber keys, and the tokens verify.
pub fn jwt_keys(bundle: &BundleDir) -> CheckResult {
    let files = [paths::ENV_LOCAL, paths::HUB_ENV];
    let mut problems = Vec::new();
    match (env(bundle, paths::ENV_LOCAL), env(bundle, paths::HUB_ENV), caddy_facts(bundle)) {
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => problems.push(e),
        (Ok(symfony), Ok(hub), Ok(caddy)) => {
            // The Caddyfile reads the keys from the environment: the names must exist.
            for directive in ["publisher_jwt", "subscriber_jwt"] {
                for arg in caddy.mercure.get(directive).into_iter().flatten() {
                    if let Some(name) = arg.strip_prefix("{env.").and_then(|a| a.strip_suffix('}'))
                        && !hub.contains_key(name)
                    {
                        problems.push(format!(
                            "{} `{directive}` reads {name}, which {} does not set",
                            paths::CADDYFILE,
                            paths::HUB_ENV
                        ));
                    }
                }
            }
            let publisher = hub.get("MERCURE_PUBLISHER_JWT_KEY");
            let subscriber = hub.get("MERCURE_SUBSCRIBER_JWT_KEY");
            let alg_name = hub.get("MERCURE_PUBLISHER_JWT_ALG").map_or("", String::as_str);
            match (publisher, subscriber, JwtAlgorithm::parse(alg_name).ok()) {
                (Some(p), Some(s), Some(alg)) => {
                    check_symfony_key(bundle, &symfony, p, s, alg, &mut problems);
                    check_tokens(bundle, &hub, p, s, alg, &mut problems);
                }
                _ => problems.push(format!(
                    "{} lacks MERCURE_PUBLISHER_JWT_KEY / MERCURE_SUBSCRIBER_JWT_KEY / a known MERCURE_PUBLISHER_JWT_ALG",
                    paths::HUB_ENV
                )),
            }
        }
    }
    result(
        "jwt-keys",
        "Symfony's JWT key matches the hub's publisher and subscriber keys",
        &files,
        &problems,
        "MERCURE_JWT_SECRET signs what the hub's publisher and subscriber keys verify; both tokens verify".into(),
        "render again (secrets are kept in .state/); never paste a JWT where the secret belongs",
    )
}

fn check_symfony_key(
    bundle: &BundleDir,
    symfony: &BTreeMap<String, String>,
    publisher: &str,
    subscriber: &str,
    alg: JwtAlgorithm,
    problems: &mut Vec<String>,
) {
    if alg == JwtAlgorithm::ES256 {
        if !symfony.contains_key("MERCURE_JWT_SECRET_FILE") {
            problems.push(format!("{} has no MERCURE_JWT_SECRET_FILE for the ES256 private key", paths::ENV_LOCAL));
            return;
        }
        // Symfony signs with the private key; the hub must verify that signature.
        let probe = bundle.read(paths::SYMFONY_PRIVATE_KEY).and_then(|private_pem| {
            let pair =
                rcgen::KeyPair::from_pem(&private_pem).map_err(|e| format!("{}: {e}", paths::SYMFONY_PRIVATE_KEY))?;
            let key = SigningKey::Es256 { public_pem: pair.public_key_pem(), private_pem };
            jwt::sign(&key, alg, Role::Publisher, &["*"])
        });
        match probe {
            Err(e) => problems.push(e),
            Ok(token) => {
                for (name, key) in
                    [("MERCURE_PUBLISHER_JWT_KEY", publisher), ("MERCURE_SUBSCRIBER_JWT_KEY", subscriber)]
                {
                    if let Err(e) = jwt::verify(&token, alg, key) {
                        problems.push(format!(
                            "{} (MERCURE_JWT_SECRET_FILE) does not match {} {name}: {e}",
                            paths::SYMFONY_PRIVATE_KEY,
                            paths::HUB_ENV
                        ));
                    }
                }
            }
        }
        return;
    }
    match symfony.get("MERCURE_JWT_SECRET") {
        None => problems.push(format!("{} has no MERCURE_JWT_SECRET", paths::ENV_LOCAL)),
        Some(secret) => {
            for (name, key) in [("MERCURE_PUBLISHER_JWT_KEY", publisher), ("MERCURE_SUBSCRIBER_JWT_KEY", subscriber)] {
                if secret != key {
                    problems.push(format!(
                        "{} MERCURE_JWT_SECRET differs from {} {name} (publishing gets 401)",
                        paths::ENV_LOCAL,
                        paths::HUB_ENV
                    ));
                }
            }
            if secret.split('.').count() == 3 && secret.starts_with("ey") {
                problems.push(format!("{} MERCURE_JWT_SECRET looks like a JWT, not a secret", paths::ENV_LOCAL));
            }
        }
    }
}

fn check_tokens(
    bundle: &BundleDir,
    hub: &BTreeMap<String, String>,
    publisher: &str,
    subscriber: &str,
    alg: JwtAlgorithm,
    problems: &mut Vec<String>,
) {
    let sub_alg = hub.get("MERCURE_SUBSCRIBER_JWT_ALG").and_then(|a| JwtAlgorithm::parse(a).ok()).unwrap_or(alg);
    for (file, key, alg, grant) in [
        (paths::PUBLISHER_TOKEN, publisher, alg, "publish"),
        (paths::SUBSCRIBER_TOKEN, subscriber, sub_alg, "subscribe"),
    ] {
        match bundle.read(file).map_err(|e| e.clone()).and_then(|t| jwt::verify(&t, alg, key)) {
            Err(e) => problems.push(format!("{file} does not verify with {}: {e}", paths::HUB_ENV)),
            Ok(claims) if claims["mercure"][grant].as_array().is_none() => {
                problems.push(format!("{file} has no mercure.{grant} claim"));
            }
            Ok(_) => {}
        }
    }
}

/// `MERCURE_PUBLIC_URL` is `https://<server_name>/.well-known/mercure`, and `MERCURE_URL` reaches the hub.
pub fn public_url(bundle: &BundleDir) -> CheckResult {
    let files = [paths::ENV_LOCAL, bundle.nginx_site.as_str()];
    let mut problems = Vec::new();
    match (env(bundle, paths::ENV_LOCAL), nginx_facts(bundle), caddy_facts(bundle)) {
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => problems.push(e),
        (Ok(symfony), Ok(n), Ok(c)) => {
            let public = symfony.get("MERCURE_PUBLIC_URL").map(String::as_str).unwrap_or_default();
            match (parse::split_url(public), &n.server_name) {
                (None, _) => problems.push(format!("{} MERCURE_PUBLIC_URL `{public}` is not a URL", paths::ENV_LOCAL)),
                (_, None) => problems.push(format!("{}: no server_name in the HTTPS server", bundle.nginx_site)),
                (Some((scheme, host, port, path)), Some(name)) => {
                    if host != *name {
                        problems.push(format!(
                            "{} MERCURE_PUBLIC_URL host `{host}` is not {} server_name `{name}`",
                            paths::ENV_LOCAL,
                            bundle.nginx_site
                        ));
                    }
                    if scheme != "https" || port.is_some_and(|p| p != 443) || path != "/.well-known/mercure" {
                        problems.push(format!(
                            "{} MERCURE_PUBLIC_URL must be https://{name}/.well-known/mercure (the location nginx serves)",
                            paths::ENV_LOCAL
                        ));
                    }
                }
            }
            let url = symfony.get("MERCURE_URL").map(String::as_str).unwrap_or_default();
            if bundle.is_tls() {
                if url != public {
                    problems.push(format!(
                        "{} MERCURE_URL should be the public URL (PHP does not trust the private CA)",
                        paths::ENV_LOCAL
                    ));
                }
            } else {
                let hub = c.address.as_deref().and_then(parse::split_url);
                let want = hub.map(|(_, _, p, _)| format!("http://127.0.0.1:{}/.well-known/mercure", p.unwrap_or(0)));
                if want.as_deref() != Some(url) {
                    problems.push(format!(
                        "{} MERCURE_URL `{url}` is not the hub {} serves ({})",
                        paths::ENV_LOCAL,
                        paths::CADDYFILE,
                        want.unwrap_or_default()
                    ));
                }
            }
        }
    }
    result(
        "public-url",
        "MERCURE_PUBLIC_URL and MERCURE_URL point at the nginx site and the hub",
        &files,
        &problems,
        "MERCURE_PUBLIC_URL is the nginx server_name's hub location; MERCURE_URL reaches the hub".into(),
        "render again instead of editing .env.local: both URLs come from `domain` and hub.port",
    )
}

/// `proxy_ssl_name` is a DNS name in the hub certificate, and nginx verifies it.
pub fn hub_tls_name(bundle: &BundleDir) -> CheckResult {
    let files = [bundle.nginx_site.as_str(), paths::HUB_CERT];
    let mut problems = Vec::new();
    let mut passed = String::new();
    match (nginx_facts(bundle), bundle.read(paths::HUB_CERT), caddy_facts(bundle)) {
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => problems.push(e),
        (Ok(n), Ok(cert), Ok(c)) => {
            let loc = n.location.as_ref();
            let arg = |name: &str| loc.and_then(|l| parse::nginx_arg(l, name)).map(String::from);
            let sans = super::tools::subject_alt_names(&cert).unwrap_or_default();
            match arg("proxy_ssl_name") {
                None => problems.push(format!(
                    "{}: no proxy_ssl_name (nginx would check the IP 127.0.0.1, which it never matches)",
                    bundle.nginx_site
                )),
                Some(name) if !sans.contains(&format!("DNS:{name}")) => problems.push(format!(
                    "{} proxy_ssl_name `{name}` is not in {} [{}]",
                    bundle.nginx_site,
                    paths::HUB_CERT,
                    sans.join(", ")
                )),
                Some(name) => passed = format!("proxy_ssl_name {name} is a DNS SAN of hub.crt; nginx verifies it"),
            }
            for (directive, want) in [("proxy_ssl_verify", "on"), ("proxy_ssl_server_name", "on")] {
                if arg(directive).as_deref() != Some(want) {
                    problems.push(format!("{}: `{directive} {want};` missing in the hub location", bundle.nginx_site));
                }
            }
            if !arg("proxy_ssl_trusted_certificate").is_some_and(|p| p.ends_with("/ca.crt")) {
                problems
                    .push(format!("{}: proxy_ssl_trusted_certificate is not the bundle's ca.crt", bundle.nginx_site));
            }
            if let Some(sni) = c.default_sni
                && !sans.contains(&format!("DNS:{sni}"))
            {
                problems.push(format!("{} default_sni `{sni}` is not in {}", paths::CADDYFILE, paths::HUB_CERT));
            }
        }
    }
    result(
        "hub-tls-name",
        "nginx verifies the hub certificate by a name it carries",
        &files,
        &problems,
        passed,
        "render again: hub.tls_name sets proxy_ssl_name and reissues the certificate",
    )
}

/// `cors_origins` / `publish_origins` are exactly `scheme://host[:port]` (the hub refuses to start otherwise).
pub fn origins(bundle: &BundleDir) -> CheckResult {
    let files = [paths::CADDYFILE];
    let mut problems = Vec::new();
    let mut count = 0;
    match caddy_facts(bundle) {
        Err(e) => problems.push(e),
        Ok(c) => {
            for (directive, wildcard) in [("cors_origins", true), ("publish_origins", false)] {
                for o in c.mercure.get(directive).into_iter().flatten() {
                    count += 1;
                    let parsed = if wildcard {
                        CorsOrigin::parse(o).map(|p| p.as_str().to_string())
                    } else if o == "*" {
                        Err("`*` lets any web page publish with a visitor's cookie".into())
                    } else {
                        Origin::parse(o).map(|p| p.as_str().to_string())
                    };
                    match parsed {
                        Err(e) => problems.push(format!("{} {directive}: {e}", paths::CADDYFILE)),
                        Ok(norm) if norm != *o => problems.push(format!(
                            "{} {directive}: `{o}` must be written exactly `{norm}` (the hub compares bytes)",
                            paths::CADDYFILE
                        )),
                        Ok(_) => {}
                    }
                }
            }
        }
    }
    result(
        "origins",
        "origins are exactly scheme://host[:port]",
        &files,
        &problems,
        format!("{count} origin(s), all well-formed"),
        "fix hub.cors_origins / hub.publish_origins in the answers and render again",
    )
}

/// The hub's algorithm == Symfony's `jwt.algorithm` == the tokens' `alg`.
pub fn jwt_algorithm(bundle: &BundleDir) -> CheckResult {
    let files = [paths::HUB_ENV, paths::SYMFONY_YAML];
    let mut problems = Vec::new();
    let mut passed = String::new();
    let symfony = bundle.read(paths::SYMFONY_YAML).and_then(|t| {
        let v: serde_yaml::Value = serde_yaml::from_str(&t).map_err(|e| format!("{}: {e}", paths::SYMFONY_YAML))?;
        v["mercure"]["hubs"]["default"]["jwt"]["algorithm"]
            .as_str()
            .map(String::from)
            .ok_or_else(|| format!("{}: no mercure.hubs.default.jwt.algorithm", paths::SYMFONY_YAML))
    });
    match (env(bundle, paths::HUB_ENV), symfony) {
        (Err(e), _) | (_, Err(e)) => problems.push(e),
        (Ok(hub), Ok(symfony)) => {
            let publisher = hub.get("MERCURE_PUBLISHER_JWT_ALG").cloned().unwrap_or_default();
            let subscriber = hub.get("MERCURE_SUBSCRIBER_JWT_ALG").cloned().unwrap_or_default();
            let expected = match symfony.as_str() {
                "hmac.sha256" => "HS256",
                "hmac.sha512" => "HS512",
                "ecdsa.sha256" => "ES256",
                _ => "?",
            };
            if publisher != expected || subscriber != expected {
                problems.push(format!(
                    "{} algorithms {publisher}/{subscriber} but {} says {symfony} ({expected})",
                    paths::HUB_ENV,
                    paths::SYMFONY_YAML
                ));
            }
            for file in [paths::PUBLISHER_TOKEN, paths::SUBSCRIBER_TOKEN] {
                if let Ok(token) = bundle.read(file) {
                    match jwt::header_alg(&token) {
                        Ok(alg) if alg == expected => {}
                        Ok(alg) => problems.push(format!("{file} is signed {alg}, the hub expects {expected}")),
                        Err(e) => problems.push(format!("{file}: {e}")),
                    }
                }
            }
            passed = format!("{expected} on both sides ({symfony})");
        }
    }
    result(
        "jwt-algorithm",
        "the JWT algorithm is the same on both sides",
        &files,
        &problems,
        passed,
        "set jwt.algorithm in the answers and render again (it changes both files and the tokens)",
    )
}
