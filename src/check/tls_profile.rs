//! Whether the public site still meets the Mozilla TLS profile the bundle was rendered
//! for: a hand edit that enables a protocol or a TLS 1.2 cipher suite the profile
//! rejects, or that drops `ssl_protocols`, `ssl_ciphers` or `ssl_ecdh_curve` so that
//! nginx's and OpenSSL's wider defaults apply again, fails with the profile's name.
//! So does a location whose own `add_header` drops the server's Strict-Transport-Security.

use super::{CheckResult, Outcome};
use crate::bundle_dir::BundleDir;
use crate::formats::{self, NginxDirective};
use crate::tls_profile::{self, TlsProfile};

/// The check of the bundle's site against the profile in its answers.
pub fn check(bundle: &BundleDir) -> CheckResult {
    let site = &bundle.nginx_site;
    let profile = bundle.answers.public_tls.profile;
    let hsts = bundle.answers.public_tls.hsts.max_age().is_some();
    let outcome = match bundle.read(site).and_then(|text| problems(&text, profile, hsts)) {
        Ok(found) if found.is_empty() => Outcome::Passed {
            detail: format!(
                "the :443 server's protocols, cipher suites and groups meet {}{}",
                profile.title(),
                if hsts { "; every location sends Strict-Transport-Security" } else { "" }
            ),
        },
        Ok(found) => Outcome::Failed {
            error: found.join("; "),
            fix: format!(
                "restore the ssl_* and add_header lines as rendered (render again), and keep other headers at the \
                 server level; public_tls.profile chooses the profile ({} now)",
                profile.as_str()
            ),
        },
        Err(e) => Outcome::Failed { error: e, fix: "render again instead of editing the site file".into() },
    };
    CheckResult {
        id: "tls-profile",
        title: format!("public TLS meets {}", profile.title()),
        files: vec![site.clone()],
        // A weaker profile is no Mercure symptom of the troubleshooting table.
        row: None,
        outcome,
    }
}

/// What in `site` (an nginx site file) weakens `profile`, or with `hsts` keeps the
/// Strict-Transport-Security header from a response; empty when nothing does.
pub fn problems(site: &str, profile: TlsProfile, hsts: bool) -> Result<Vec<String>, String> {
    let tree = formats::parse_nginx(site).map_err(|e| e.to_string())?;
    let server = formats::nginx_https_server(&tree).ok_or("no server block listens with `ssl`")?;
    let title = profile.title();
    let mut out = Vec::new();

    let protocols = effective(&tree, server, "ssl_protocols");
    match protocols {
        None => out.push(format!(
            "no ssl_protocols, so nginx's default also accepts TLSv1 and TLSv1.1, which weakens {title}"
        )),
        Some(d) => {
            for v in d.args.iter().filter(|v| !profile.protocols().contains(&v.as_str())) {
                out.push(format!("ssl_protocols (line {}) enables {v}, which weakens {title}", d.line));
            }
        }
    }

    // The suites matter only where TLS 1.2 is on; `modern` renders no list.
    let tls12 = protocols.is_none_or(|d| d.args.iter().any(|v| v != "TLSv1.3"));
    if tls12 && !profile.accepted_ciphers().is_empty() {
        match effective(&tree, server, "ssl_ciphers") {
            None => out.push(format!(
                "no ssl_ciphers, so OpenSSL's default list accepts CBC, CCM, ARIA and Camellia suites, which weakens \
                 {title}"
            )),
            Some(d) => {
                for suite in d.args.iter().flat_map(|a| added_suites(a)) {
                    if profile.accepted_ciphers().contains(&suite) {
                        continue;
                    }
                    let what = if is_suite_name(suite) {
                        format!("accepts {suite}")
                    } else {
                        format!("names `{suite}`, an OpenSSL keyword whose suites depend on the OpenSSL version")
                    };
                    out.push(format!("ssl_ciphers (line {}) {what}, which weakens {title}", d.line));
                }
            }
        }
    }

    match effective(&tree, server, "ssl_ecdh_curve") {
        None => {
            out.push(format!("no ssl_ecdh_curve, so OpenSSL also offers X448 and secp521r1, which weakens {title}"));
        }
        Some(d) => {
            for group in d.args.iter().flat_map(|a| a.split(':')) {
                if group == "auto" {
                    out.push(format!(
                        "ssl_ecdh_curve (line {}) is auto, so OpenSSL also offers X448 and secp521r1, which weakens \
                         {title}",
                        d.line
                    ));
                } else if !tls_profile::CURVES.contains(&group) {
                    out.push(format!("ssl_ecdh_curve (line {}) offers {group}, which weakens {title}", d.line));
                }
            }
        }
    }
    if hsts {
        hsts_gaps(server, &mut out);
    }
    Ok(out)
}

fn is_hsts(d: &NginxDirective) -> bool {
    d.name == "add_header" && d.args.first().is_some_and(|h| h.eq_ignore_ascii_case("Strict-Transport-Security"))
}

/// Where the server's Strict-Transport-Security header does not reach: nginx inherits
/// `add_header` only into blocks that set none of their own.
fn hsts_gaps(server: &NginxDirective, out: &mut Vec<String>) {
    let block = server.block.as_deref().unwrap_or_default();
    if !block.iter().any(is_hsts) {
        out.push("no add_header Strict-Transport-Security in the :443 server although public_tls.hsts is on".into());
        return;
    }
    own_headers(block, out);
}

/// Blocks below `blocks` with an `add_header` of their own but no Strict-Transport-Security.
fn own_headers(blocks: &[NginxDirective], out: &mut Vec<String>) {
    for b in blocks {
        let Some(inner) = &b.block else { continue };
        if inner.iter().any(|d| d.name == "add_header") && !inner.iter().any(is_hsts) {
            out.push(format!(
                "{} {} (line {}) has its own add_header, so nginx drops the server's Strict-Transport-Security \
                 there",
                b.name,
                b.args.join(" "),
                b.line
            ));
        }
        own_headers(inner, out);
    }
}

/// The directive that applies to the server: its own, else the one at the file's top
/// level (the `http` context the site is included in).
fn effective<'a>(tree: &'a [NginxDirective], server: &'a NginxDirective, name: &str) -> Option<&'a NginxDirective> {
    let own = server.block.as_deref().unwrap_or_default().iter().find(|d| d.name == name);
    own.or_else(|| tree.iter().find(|d| d.name == name))
}

/// The entries of an OpenSSL cipher string that add suites: `!X` and `-X` remove,
/// `+X` only reorders, `@STRENGTH` and `@SECLEVEL=n` are commands.
fn added_suites(list: &str) -> impl Iterator<Item = &str> {
    list.split([':', ',', ' ']).filter(|e| !e.is_empty() && !e.starts_with(['!', '-', '+', '@']))
}

/// A single suite's name (`ECDHE-RSA-AES128-GCM-SHA256`) rather than a keyword
/// (`HIGH`, `ECDHE+AESGCM`, `DEFAULT`) that OpenSSL expands to several.
fn is_suite_name(entry: &str) -> bool {
    entry.contains('-') && !entry.contains('+')
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTERMEDIATE: &str = "server {\n    listen 443 ssl;\n    ssl_protocols TLSv1.2 TLSv1.3;\n    \
        ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305;\n    \
        ssl_ecdh_curve X25519:prime256v1:secp384r1;\n}\n";
    const MODERN: &str =
        "server {\n    listen 443 ssl;\n    ssl_protocols TLSv1.3;\n    ssl_ecdh_curve X25519:prime256v1;\n}\n";

    fn edited(site: &str, from: &str, to: &str) -> String {
        assert!(site.contains(from), "{from}");
        site.replace(from, to)
    }

    #[test]
    fn the_rendered_lines_pass() {
        assert_eq!(problems(INTERMEDIATE, TlsProfile::Intermediate, false), Ok(vec![]));
        assert_eq!(problems(MODERN, TlsProfile::Modern, false), Ok(vec![]));
        // Removing suites or listing the profile's DHE ones stays within it.
        let fewer = edited(INTERMEDIATE, "ECDHE-ECDSA-AES128", "DHE-RSA-AES256-GCM-SHA384:!aNULL:-ECDHE-ECDSA-AES128");
        assert_eq!(problems(&fewer, TlsProfile::Intermediate, false), Ok(vec![]));
        // A modern site is also an intermediate one: without TLS 1.2 no suite list applies.
        assert_eq!(problems(MODERN, TlsProfile::Intermediate, false), Ok(vec![]));
    }

    #[test]
    fn old_protocols_are_named() {
        let site = edited(INTERMEDIATE, "TLSv1.2 TLSv1.3", "TLSv1 TLSv1.1 TLSv1.2 TLSv1.3");
        assert_eq!(
            problems(&site, TlsProfile::Intermediate, false).unwrap(),
            [
                "ssl_protocols (line 3) enables TLSv1, which weakens Mozilla's intermediate TLS profile",
                "ssl_protocols (line 3) enables TLSv1.1, which weakens Mozilla's intermediate TLS profile",
            ]
        );
        let site = edited(MODERN, "TLSv1.3", "TLSv1.2 TLSv1.3");
        assert_eq!(
            problems(&site, TlsProfile::Modern, false).unwrap(),
            ["ssl_protocols (line 3) enables TLSv1.2, which weakens Mozilla's modern TLS profile"]
        );
    }

    #[test]
    fn rejected_suites_and_keywords_are_named() {
        let site = edited(INTERMEDIATE, "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-ECDSA-AES128-SHA:HIGH:!MD5");
        let found = problems(&site, TlsProfile::Intermediate, false).unwrap();
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(
            found[0],
            "ssl_ciphers (line 4) accepts ECDHE-ECDSA-AES128-SHA, which weakens Mozilla's intermediate TLS profile"
        );
        assert!(found[1].starts_with("ssl_ciphers (line 4) names `HIGH`, an OpenSSL keyword"), "{}", found[1]);
    }

    #[test]
    fn missing_lines_fall_back_to_wider_defaults() {
        let site = "server {\n    listen 443 ssl;\n}\n";
        let found = problems(site, TlsProfile::Intermediate, false).unwrap();
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found[0].starts_with("no ssl_protocols"), "{}", found[0]);
        assert!(found[1].starts_with("no ssl_ciphers"), "{}", found[1]);
        assert!(found[2].starts_with("no ssl_ecdh_curve"), "{}", found[2]);
        // The file's top level is the http context the server inherits from.
        let inherited = format!("ssl_protocols TLSv1.3;\nssl_ecdh_curve X25519;\n{site}");
        assert_eq!(problems(&inherited, TlsProfile::Modern, false), Ok(vec![]));
    }

    #[test]
    fn other_groups_are_named() {
        let auto = edited(INTERMEDIATE, "X25519:prime256v1:secp384r1", "auto");
        assert!(
            problems(&auto, TlsProfile::Intermediate, false).unwrap()[0]
                .contains("is auto, so OpenSSL also offers X448")
        );
        let site = edited(INTERMEDIATE, "X25519:prime256v1:secp384r1", "X25519:X448:secp521r1");
        assert_eq!(
            problems(&site, TlsProfile::Intermediate, false).unwrap(),
            [
                "ssl_ecdh_curve (line 5) offers X448, which weakens Mozilla's intermediate TLS profile",
                "ssl_ecdh_curve (line 5) offers secp521r1, which weakens Mozilla's intermediate TLS profile",
            ]
        );
    }

    #[test]
    fn hsts_must_reach_every_location() {
        let server = "server {\n    listen 443 ssl;\n    ssl_protocols TLSv1.3;\n    ssl_ecdh_curve X25519;\n";
        let header = "    add_header Strict-Transport-Security \"max-age=63072000\" always;\n";
        let rendered = format!("{server}{header}    location / {{\n        try_files $uri /index.php;\n    }}\n}}\n");
        assert_eq!(problems(&rendered, TlsProfile::Modern, true), Ok(vec![]));
        let missing = rendered.replace(header, "");
        assert_eq!(
            problems(&missing, TlsProfile::Modern, true).unwrap(),
            ["no add_header Strict-Transport-Security in the :443 server although public_tls.hsts is on"]
        );
        assert_eq!(problems(&missing, TlsProfile::Modern, false), Ok(vec![]), "HSTS off: no header wanted");
        let cors = rendered.replace("try_files", "add_header Access-Control-Allow-Origin *;\n        try_files");
        assert_eq!(
            problems(&cors, TlsProfile::Modern, true).unwrap(),
            ["location / (line 6) has its own add_header, so nginx drops the server's Strict-Transport-Security there"]
        );
        let repeated = cors.replace("try_files", &format!("{}try_files", header.trim_start()));
        assert_eq!(problems(&repeated, TlsProfile::Modern, true), Ok(vec![]), "the location repeats it");
    }

    #[test]
    fn a_site_without_tls_server_is_an_error() {
        assert!(problems("server {\n    listen 80;\n}\n", TlsProfile::Intermediate, false).is_err());
    }
}
