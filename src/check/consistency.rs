//! Cross-file consistency: the values that must agree between the nginx site, the
//! Caddyfile, the env files, the tokens and the certificate. A mismatch here is a
//! 502, a 401 or a silent "nothing arrives" in production, so each failure names
//! both files involved.

use std::collections::BTreeMap;

use crate::jwt::{self, Role, SigningKey};
use crate::troubleshooting::Row;
use crate::values::JwtAlgorithm;

use super::{CheckResult, Outcome};
use crate::bundle::paths;
use crate::bundle_dir::{BundleDir, Facts};
use crate::formats;
use crate::values::{CorsOrigin, Origin};

/// Runs every consistency check on the bundle's files, read and parsed once.
pub fn all(bundle: &BundleDir) -> Vec<CheckResult> {
    let facts = Facts::read(bundle);
    let mut out = vec![hub_address(&facts), jwt_keys(&facts), public_url(&facts)];
    if facts.wiring.hub_tls {
        out.push(hub_tls_name(&facts));
    }
    out.push(origins(&facts));
    out.push(jwt_algorithm(&facts));
    if facts.caddy.as_ref().is_ok_and(|c| c.mercure.contains_key("issuer")) {
        out.push(issuer_audience(&facts));
    }
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
    let row = row_of(id);
    let outcome = if problems.is_empty() {
        Outcome::Passed { detail: passed }
    } else {
        let fix = match row {
            Some(r) => format!("{fix} (mercure-setup {})", r.reference()),
            None => fix.into(),
        };
        Outcome::Failed { error: problems.join("; "), fix }
    };
    CheckResult { id, title: title.into(), files: files.iter().map(|f| (*f).to_string()).collect(), row, outcome }
}

/// The troubleshooting row a failed consistency check leads to in production.
fn row_of(id: &str) -> Option<Row> {
    match id {
        "hub-address" => Some(Row::SchemeMismatch),
        "jwt-keys" | "jwt-algorithm" => Some(Row::PublishRejected),
        "hub-tls-name" => Some(Row::CertificateMismatch),
        "origins" => Some(Row::Cors),
        "issuer-audience" => Some(Row::TokenRefused10),
        _ => None,
    }
}

/// nginx's `proxy_pass` scheme and port == the Caddyfile site address; loopback on both sides.
pub fn hub_address(f: &Facts) -> CheckResult {
    let files = [f.nginx_site.as_str(), paths::CADDYFILE];
    let mut problems = Vec::new();
    let mut passed = String::new();
    // The row of the first problem: what nginx shows for it in production.
    let mut first_row = None;
    match (&f.nginx, &f.caddy) {
        (Err(e), _) | (_, Err(e)) => problems.push(e.clone()),
        (Ok(n), Ok(c)) => {
            let upstream = n.proxy_pass.as_deref().and_then(formats::split_url);
            let site = c.address.as_deref().and_then(formats::split_url);
            match (upstream, site) {
                (None, _) => problems.push(format!(
                    "{}: no `proxy_pass scheme://host:port` in `location ^~ /.well-known/mercure`",
                    f.nginx_site
                )),
                (_, None) => problems.push(format!("{}: the site address is not scheme://:port", paths::CADDYFILE)),
                (Some((ns, nh, np, npath)), Some((cs, ch, cp, _))) => {
                    if ns != cs || np != cp {
                        first_row.get_or_insert(if ns == cs { Row::HubNotRunning } else { Row::SchemeMismatch });
                        problems.push(format!(
                            "{} proxies to {ns}://…:{} but {} serves {cs}://:{}",
                            f.nginx_site,
                            np.map_or("?".into(), |p| p.to_string()),
                            paths::CADDYFILE,
                            cp.map_or("?".into(), |p| p.to_string())
                        ));
                    }
                    if !npath.is_empty() {
                        first_row.get_or_insert(Row::NotTheStream);
                        problems.push(format!(
                            "{}: proxy_pass has a URI part `{npath}`, so nginx rewrites the hub's path",
                            f.nginx_site
                        ));
                    }
                    if !ch.is_empty() {
                        first_row.get_or_insert(Row::NoSiteMatched);
                        problems.push(format!(
                            "{}: site address names host `{ch}`; nginx sends the public Host, so use a catch-all `{cs}://:PORT`",
                            paths::CADDYFILE
                        ));
                    }
                    if !c.bind.contains(&nh) {
                        first_row.get_or_insert(Row::HubNotRunning);
                        problems.push(format!(
                            "{} connects to {nh} but {} binds [{}]",
                            f.nginx_site,
                            paths::CADDYFILE,
                            c.bind.join(" ")
                        ));
                    }
                    if (cs == "https") != c.has_tls {
                        first_row.get_or_insert(Row::SchemeMismatch);
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
    let mut out = result(
        "hub-address",
        "hub scheme and port agree (nginx ↔ Caddyfile)",
        &files,
        &problems,
        passed,
        "render again instead of editing one file: the port and scheme come from hub.port and topology",
    );
    if let (Some(row), Outcome::Failed { fix, .. }) = (first_row, &mut out.outcome) {
        *fix = fix.replace(&Row::SchemeMismatch.reference(), &row.reference());
        out.row = Some(row);
    }
    out
}

/// `MERCURE_JWT_SECRET` (or the ES256 private key) == the hub's publisher and subscriber keys, and the tokens verify.
pub fn jwt_keys(f: &Facts) -> CheckResult {
    let files = [paths::ENV_LOCAL, paths::HUB_ENV];
    let mut problems = Vec::new();
    match (&f.symfony_env, &f.hub_env, &f.caddy) {
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => problems.push(e.clone()),
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
                    check_symfony_key(f, symfony, p, s, alg, &mut problems);
                    check_tokens(f, hub, p, s, alg, &mut problems);
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
    f: &Facts,
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
        let probe = f.symfony_private_key.clone().and_then(|private_pem| {
            let pair =
                rcgen::KeyPair::from_pem(&private_pem).map_err(|e| format!("{}: {e}", paths::SYMFONY_PRIVATE_KEY))?;
            let key = SigningKey::Es256 { public_pem: pair.public_key_pem(), private_pem };
            jwt::sign(&key, alg, Role::Publisher, &["*"]).map_err(|e| e.to_string())
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
    f: &Facts,
    hub: &BTreeMap<String, String>,
    publisher: &str,
    subscriber: &str,
    alg: JwtAlgorithm,
    problems: &mut Vec<String>,
) {
    let sub_alg = hub.get("MERCURE_SUBSCRIBER_JWT_ALG").and_then(|a| JwtAlgorithm::parse(a).ok()).unwrap_or(alg);
    for (file, token, key, alg, grant) in [
        (paths::PUBLISHER_TOKEN, &f.publisher_token, publisher, alg, "publish"),
        (paths::SUBSCRIBER_TOKEN, &f.subscriber_token, subscriber, sub_alg, "subscribe"),
    ] {
        match token.clone().and_then(|t| jwt::verify(&t, alg, key).map_err(|e| e.to_string())) {
            Err(e) => problems.push(format!("{file} does not verify with {}: {e}", paths::HUB_ENV)),
            Ok(claims) if !grants(&claims, grant) => {
                problems.push(format!(
                    "{file} has no mercure.{grant} claim nor an authorization_details entry with action `{grant}`"
                ));
            }
            Ok(_) => {}
        }
    }
}

/// Whether a token's claims grant `action` (`publish`, `subscribe`): 0.x's `mercure`
/// claim or 1.0's `authorization_details`.
fn grants(claims: &serde_json::Value, action: &str) -> bool {
    let legacy = claims["mercure"][action].as_array().is_some();
    let details = claims["authorization_details"]
        .as_array()
        .is_some_and(|d| d.iter().any(|e| e["actions"].as_array().is_some_and(|a| a.iter().any(|x| x == action))));
    legacy || details
}

/// `MERCURE_PUBLIC_URL` is `https://<server_name>/.well-known/mercure`, and `MERCURE_URL` reaches the hub.
pub fn public_url(f: &Facts) -> CheckResult {
    let files = [paths::ENV_LOCAL, f.nginx_site.as_str()];
    let mut problems = Vec::new();
    match (&f.symfony_env, &f.nginx, &f.caddy) {
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => problems.push(e.clone()),
        (Ok(symfony), Ok(n), Ok(c)) => {
            let public = symfony.get("MERCURE_PUBLIC_URL").map(String::as_str).unwrap_or_default();
            match (formats::split_url(public), &n.server_name) {
                (None, _) => problems.push(format!("{} MERCURE_PUBLIC_URL `{public}` is not a URL", paths::ENV_LOCAL)),
                (_, None) => problems.push(format!("{}: no server_name in the HTTPS server", f.nginx_site)),
                (Some((scheme, host, port, path)), Some(name)) => {
                    if host != *name {
                        problems.push(format!(
                            "{} MERCURE_PUBLIC_URL host `{host}` is not {} server_name `{name}`",
                            paths::ENV_LOCAL,
                            f.nginx_site
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
            if f.wiring.symfony_via_public_url {
                if url != public {
                    problems.push(format!(
                        "{} MERCURE_URL should be the public URL (PHP does not trust the private CA)",
                        paths::ENV_LOCAL
                    ));
                }
            } else {
                let hub = c.address.as_deref().and_then(formats::split_url);
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
pub fn hub_tls_name(f: &Facts) -> CheckResult {
    let files = [f.nginx_site.as_str(), paths::HUB_CERT];
    let mut problems = Vec::new();
    let mut passed = String::new();
    match (&f.nginx, &f.hub_cert, &f.caddy) {
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => problems.push(e.clone()),
        (Ok(n), Ok(cert), Ok(c)) => {
            let loc = n.location.as_ref();
            let arg = |name: &str| loc.and_then(|l| formats::nginx_arg(l, name)).map(String::from);
            let sans = super::tools::subject_alt_names(cert).unwrap_or_default();
            match arg("proxy_ssl_name") {
                None => problems.push(format!(
                    "{}: no proxy_ssl_name (nginx would check the IP 127.0.0.1, which it never matches)",
                    f.nginx_site
                )),
                Some(name) if !sans.contains(&format!("DNS:{name}")) => problems.push(format!(
                    "{} proxy_ssl_name `{name}` is not in {} [{}]",
                    f.nginx_site,
                    paths::HUB_CERT,
                    sans.join(", ")
                )),
                Some(name) => passed = format!("proxy_ssl_name {name} is a DNS SAN of hub.crt; nginx verifies it"),
            }
            for (directive, want) in [("proxy_ssl_verify", "on"), ("proxy_ssl_server_name", "on")] {
                if arg(directive).as_deref() != Some(want) {
                    problems.push(format!("{}: `{directive} {want};` missing in the hub location", f.nginx_site));
                }
            }
            if !arg("proxy_ssl_trusted_certificate").is_some_and(|p| p.ends_with("/ca.crt")) {
                problems.push(format!("{}: proxy_ssl_trusted_certificate is not the bundle's ca.crt", f.nginx_site));
            }
            if let Some(sni) = &c.default_sni
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
pub fn origins(f: &Facts) -> CheckResult {
    let files = [paths::CADDYFILE];
    let mut problems = Vec::new();
    let mut count = 0;
    match &f.caddy {
        Err(e) => problems.push(e.clone()),
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

/// Mercure 1.0: the Caddyfile's `issuer` and pinned `resource_identifier` == the `iss` and
/// `aud` Symfony signs with (mercure.yaml's `jwt.claims`) and the tokens carry.
pub fn issuer_audience(f: &Facts) -> CheckResult {
    let files = [paths::CADDYFILE, paths::SYMFONY_YAML];
    let mut problems = Vec::new();
    let mut passed = String::new();
    match (&f.caddy, &f.symfony_claims) {
        (Err(e), _) | (_, Err(e)) => problems.push(e.clone()),
        (Ok(caddy), Ok(claims)) => {
            let first = |d: &str| caddy.mercure.get(d).and_then(|a| a.first()).cloned();
            let issuer = first("issuer").unwrap_or_default();
            let Some(audience) = first("resource_identifier") else {
                problems.push(format!(
                    "{} has no resource_identifier: the hub derives the audience from each request, so nginx and a \
                     loopback publisher need different tokens",
                    paths::CADDYFILE
                ));
                return result("issuer-audience", ISSUER_TITLE, &files, &problems, passed, ISSUER_FIX);
            };
            let mut compare = |what: &str, name: &str, got: Option<&str>, want: &str| match got {
                Some(g) if g != want => {
                    problems.push(format!("{what} `{name}` is {g}, the hub's is {want}"));
                }
                _ => {}
            };
            compare(paths::SYMFONY_YAML, "iss", claims.get("iss").map(String::as_str), &issuer);
            compare(paths::SYMFONY_YAML, "aud", claims.get("aud").map(String::as_str), &audience);
            for (file, token) in
                [(paths::PUBLISHER_TOKEN, &f.publisher_token), (paths::SUBSCRIBER_TOKEN, &f.subscriber_token)]
            {
                let Some(c) = token.as_ref().ok().and_then(|t| jwt::unverified_claims(t)) else { continue };
                if c.get("authorization_details").is_none() {
                    continue;
                }
                compare(file, "iss", c["iss"].as_str(), &issuer);
                compare(file, "aud", c["aud"].as_str(), &audience);
            }
            passed = format!("issuer {issuer} and audience {audience} on both sides");
        }
    }
    result("issuer-audience", ISSUER_TITLE, &files, &problems, passed, ISSUER_FIX)
}

const ISSUER_TITLE: &str = "Symfony and the tokens use the hub's issuer and audience";
const ISSUER_FIX: &str = "render again: the issuer, resource_identifier and jwt.claims come from the domain";

/// The hub's algorithm == Symfony's `jwt.algorithm` == the tokens' `alg`.
pub fn jwt_algorithm(f: &Facts) -> CheckResult {
    let files = [paths::HUB_ENV, paths::SYMFONY_YAML];
    let mut problems = Vec::new();
    let mut passed = String::new();
    match (&f.hub_env, &f.symfony_algorithm) {
        (Err(e), _) | (_, Err(e)) => problems.push(e.clone()),
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
            for (file, token) in
                [(paths::PUBLISHER_TOKEN, &f.publisher_token), (paths::SUBSCRIBER_TOKEN, &f.subscriber_token)]
            {
                if let Ok(token) = token {
                    match jwt::header_alg(token) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answers::{Answers, Draft};
    use crate::questions::RawValue;

    /// The facts of a freshly rendered bundle (in memory; nothing is written and no
    /// program runs: the nginx version is named, so none is probed).
    fn rendered(topology: &str, algorithm: &str) -> Facts {
        rendered_for(topology, algorithm, "0.24")
    }

    fn rendered_for(topology: &str, algorithm: &str, hub_version: &str) -> Facts {
        let mut d = Draft::default();
        for (key, value) in [
            ("domain", "app.example.com"),
            ("topology", topology),
            ("jwt.algorithm", algorithm),
            ("nginx.version", "1.26.2"),
            ("hub.version", hub_version),
        ] {
            d.set(key, RawValue::Scalar(value.into()), None);
        }
        let answers = Answers::from_draft(&d).unwrap().0;
        let wiring = answers.topology.facts();
        let empty = tempfile::tempdir().unwrap();
        let generated = crate::generate::generate(answers, empty.path(), false).unwrap();
        let bundle = generated.bundle;
        Facts::parse(&paths::nginx_site("app.example.com"), wiring, |rel| {
            bundle.get(rel).map(String::from).ok_or_else(|| format!("{rel}: missing"))
        })
    }

    fn http() -> Facts {
        rendered("same-host-http", "HS256")
    }

    fn tls() -> Facts {
        rendered("end-to-end-tls", "ES256")
    }

    /// The check's error, or a panic naming what it passed with.
    fn error(r: &CheckResult) -> String {
        match &r.outcome {
            Outcome::Failed { error, .. } => error.clone(),
            other => panic!("{} should fail: {other:?}", r.id),
        }
    }

    fn passes(r: &CheckResult) {
        assert!(matches!(r.outcome, Outcome::Passed { .. }), "{}: {:?}", r.id, r.outcome);
    }

    /// Sets `key` in a parsed env file.
    fn set_env(env: &mut Result<BTreeMap<String, String>, String>, key: &str, value: &str) {
        env.as_mut().unwrap().insert(key.into(), value.into());
    }

    #[test]
    fn hub_address_agrees_or_names_both_files() {
        passes(&hub_address(&http()));
        passes(&hub_address(&tls()));
        let mut f = http();
        f.nginx.as_mut().unwrap().proxy_pass = Some("http://127.0.0.1:1/".into());
        let e = error(&hub_address(&f));
        assert!(e.contains("proxies to http://…:1 but mercure/Caddyfile serves http://:"), "{e}");
        let mut f = http();
        f.caddy.as_mut().unwrap().bind = vec!["0.0.0.0".into()];
        assert!(error(&hub_address(&f)).contains("binds [0.0.0.0]"));
    }

    /// Each failure names the troubleshooting row it leads to: the port, the scheme.
    #[test]
    fn hub_address_cites_the_row_of_its_first_problem() {
        assert_eq!(hub_address(&http()).row, Some(Row::SchemeMismatch));
        let mut f = http();
        f.nginx.as_mut().unwrap().proxy_pass = Some("http://127.0.0.1:1".into());
        let r = hub_address(&f);
        assert_eq!(r.row, Some(Row::HubNotRunning));
        let Outcome::Failed { fix, .. } = &r.outcome else { panic!("{r:?}") };
        assert!(fix.ends_with(&format!("(mercure-setup {})", Row::HubNotRunning.reference())), "{fix}");
        let mut f = http();
        f.nginx.as_mut().unwrap().proxy_pass = Some("https://127.0.0.1:3000".into());
        assert_eq!(hub_address(&f).row, Some(Row::SchemeMismatch));
        assert_eq!(jwt_keys(&http()).row, Some(Row::PublishRejected));
    }

    #[test]
    fn jwt_keys_agree_or_say_which_key_differs() {
        passes(&jwt_keys(&http()));
        passes(&jwt_keys(&tls()));
        let mut f = http();
        set_env(&mut f.symfony_env, "MERCURE_JWT_SECRET", "eyJhbGciOi.eyJtZXJj.sig");
        let e = error(&jwt_keys(&f));
        assert!(e.contains("MERCURE_JWT_SECRET differs from mercure/mercure.env MERCURE_PUBLISHER_JWT_KEY"), "{e}");
        assert!(e.contains("looks like a JWT"), "{e}");
        // ES256: another render's private key does not sign what the hub verifies.
        let mut f = tls();
        f.symfony_private_key = tls().symfony_private_key;
        let e = error(&jwt_keys(&f));
        assert!(e.contains("does not match mercure/mercure.env MERCURE_PUBLISHER_JWT_KEY"), "{e}");
        let mut f = http();
        f.subscriber_token = Err("tokens/subscriber.jwt: missing".into());
        assert!(error(&jwt_keys(&f)).contains("tokens/subscriber.jwt does not verify"));
    }

    #[test]
    fn public_url_points_at_the_site_and_the_hub() {
        passes(&public_url(&http()));
        passes(&public_url(&tls()));
        let mut f = http();
        set_env(&mut f.symfony_env, "MERCURE_PUBLIC_URL", "https://other.example.com/.well-known/mercure");
        let e = error(&public_url(&f));
        assert!(e.contains("host `other.example.com` is not nginx/app.example.com.conf server_name"), "{e}");
        let mut f = tls();
        set_env(&mut f.symfony_env, "MERCURE_URL", "https://127.0.0.1:8443/.well-known/mercure");
        assert!(error(&public_url(&f)).contains("PHP does not trust the private CA"));
    }

    #[test]
    fn hub_tls_name_is_in_the_certificate_and_verified() {
        passes(&hub_tls_name(&tls()));
        let mut f = tls();
        let loc = f.nginx.as_mut().unwrap().location.as_mut().unwrap();
        loc.block.as_mut().unwrap().retain(|d| d.name != "proxy_ssl_verify");
        let e = error(&hub_tls_name(&f));
        assert!(e.contains("`proxy_ssl_verify on;` missing in the hub location"), "{e}");
        let mut f = tls();
        f.caddy.as_mut().unwrap().default_sni = Some("other.internal".into());
        assert!(error(&hub_tls_name(&f)).contains("default_sni `other.internal` is not in mercure/tls/hub.crt"));
    }

    #[test]
    fn origins_are_exact() {
        let mut f = http();
        f.caddy.as_mut().unwrap().mercure.insert("cors_origins".into(), vec!["https://editor.example.com".into()]);
        passes(&origins(&f));
        f.caddy.as_mut().unwrap().mercure.insert("cors_origins".into(), vec!["https://Editor.example.com".into()]);
        let e = error(&origins(&f));
        assert!(e.contains("must be written exactly `https://editor.example.com`"), "{e}");
        f.caddy.as_mut().unwrap().mercure.insert("cors_origins".into(), vec!["https://editor.example.com/".into()]);
        assert!(error(&origins(&f)).contains("an origin has no trailing slash"));
        f.caddy.as_mut().unwrap().mercure.insert("publish_origins".into(), vec!["*".into()]);
        assert!(error(&origins(&f)).contains("publish_origins: `*` lets any web page publish"));
    }

    #[test]
    fn jwt_algorithm_is_the_same_on_both_sides() {
        passes(&jwt_algorithm(&http()));
        passes(&jwt_algorithm(&tls()));
        let mut f = http();
        f.symfony_algorithm = Ok("hmac.sha512".into());
        let e = error(&jwt_algorithm(&f));
        assert!(
            e.contains("algorithms HS256/HS256 but symfony/config/packages/mercure.yaml says hmac.sha512 (HS512)"),
            "{e}"
        );
        assert!(e.contains("tokens/publisher.jwt is signed HS256, the hub expects HS512"), "{e}");
    }

    #[test]
    fn issuer_and_audience_agree_on_1_0() {
        for line in ["1.0", "1.0-compat"] {
            let f = rendered_for("end-to-end-tls", "ES256", line);
            passes(&issuer_audience(&f));
        }
        let mut f = rendered_for("same-host-http", "HS256", "1.0");
        passes(&issuer_audience(&f));
        if let Ok(c) = f.symfony_claims.as_mut() {
            c.insert("aud".into(), "https://other.example/.well-known/mercure".into());
        }
        let e = error(&issuer_audience(&f));
        assert!(e.contains("`aud` is https://other.example/.well-known/mercure, the hub's is https://app.example.com/.well-known/mercure"), "{e}");
        if let Ok(c) = f.caddy.as_mut() {
            c.mercure.remove("resource_identifier");
        }
        assert!(error(&issuer_audience(&f)).contains("no resource_identifier"));
    }
}
