//! The deployment's shape: which topology links nginx to the hub and which hub release
//! line the files are written for, each with the facts the rest of the tool reads
//! (templates, secrets, check, apply, the wizard) instead of the name.
//!
//! A new topology that needs no new fact is a variant, its name and its facts here, its
//! question text in `questions` and its card in `teaching`.

use std::fmt;

use serde::Serialize;

/// Which way nginx talks to the hub on the loopback interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Topology {
    /// `proxy_pass http://127.0.0.1:PORT`: plain HTTP on loopback. The `topology` question's
    /// default, and what defaults follow while the given topology is not valid.
    #[default]
    SameHostHttp,
    /// `proxy_pass https://127.0.0.1:PORT`, verified against a private CA.
    EndToEndTls,
}

impl Topology {
    /// Every topology, in the order the wizard and `explain` show them.
    pub const ALL: [Topology; 2] = [Self::SameHostHttp, Self::EndToEndTls];

    /// Their names, as the answers file spells them (the `topology` question's choices).
    pub const NAMES: [&'static str; Self::ALL.len()] = {
        let mut names = [""; Self::ALL.len()];
        let mut i = 0;
        while i < names.len() {
            names[i] = Self::ALL[i].as_str();
            i += 1;
        }
        names
    };

    pub fn parse(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| format!("`{}` is not a topology: use {}", s.escape_debug(), Self::NAMES.join(" or ")))
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SameHostHttp => "same-host-http",
            Self::EndToEndTls => "end-to-end-tls",
        }
    }

    /// What this topology means for every file and check. The rest of the tool reads
    /// these facts, never the topology's name, so a new topology is a new arm here.
    pub fn facts(self) -> TopologyFacts {
        match self {
            Self::SameHostHttp => TopologyFacts {
                hub_tls: false,
                private_ca: false,
                symfony_via_public_url: false,
                default_hub_port: 3000,
            },
            Self::EndToEndTls => {
                TopologyFacts { hub_tls: true, private_ca: true, symfony_via_public_url: true, default_hub_port: 8443 }
            }
        }
    }
}

/// How nginx, the hub and Symfony are wired for one topology.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TopologyFacts {
    /// The hub serves HTTPS on loopback and nginx verifies it (`proxy_ssl_verify`,
    /// `proxy_ssl_name`); otherwise plain HTTP.
    pub hub_tls: bool,
    /// The bundle carries a private CA and the hub certificate it signs (`tls/`).
    pub private_ca: bool,
    /// Symfony publishes through the public URL (so PHP needs no private CA), not to
    /// the hub on loopback.
    pub symfony_via_public_url: bool,
    pub default_hub_port: u16,
}

impl TopologyFacts {
    /// The scheme nginx and local clients use to reach the hub.
    pub fn hub_scheme(self) -> &'static str {
        if self.hub_tls { "https" } else { "http" }
    }
}

impl fmt::Display for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The Mercure hub release line a bundle is rendered for: 0.24's Caddyfile syntax and
/// tokens, 1.0's (an `issuer` block, RFC 9068 tokens with `aud` and `exp`), or 1.0 in
/// compatibility mode, which also accepts 0.x clients during a migration. A new line is a
/// new variant with its facts, read through the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum HubLine {
    #[default]
    #[serde(rename = "0.24")]
    V0_24,
    #[serde(rename = "1.0")]
    V1_0,
    /// 1.0 with `protocol_version_compatibility 8`: the migration step between the two.
    #[serde(rename = "1.0-compat")]
    V1_0Compat,
}

/// The directives a 1.0 hub's `mercure { }` block knows (its `caddy/mercure.go`): any
/// other name is an error there, and `publisher_jwt` / `subscriber_jwt` work only in
/// compatibility mode.
const V1_DIRECTIVES: &[&str] = &[
    "issuer",
    "resource_identifier",
    "public_urls",
    "publisher_jwks_url",
    "subscriber_jwks_url",
    "anonymous",
    "publish_origins",
    "cors_origins",
    "cookie_name",
    "subscriptions",
    "heartbeat",
    "write_timeout",
    "dispatch_timeout",
    "max_request_body_size",
    "transport",
    "transport_url",
    "topic_matcher_cache",
    "subscriber_list_cache_size",
    "protocol_version_compatibility",
    "playground",
    "debugger",
    "name",
];

impl HubLine {
    /// Every line, in the order the wizard and `explain` show them.
    pub const ALL: [HubLine; 3] = [Self::V0_24, Self::V1_0Compat, Self::V1_0];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::V0_24 => "0.24",
            Self::V1_0 => "1.0",
            Self::V1_0Compat => "1.0-compat",
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        Self::ALL.into_iter().find(|l| l.as_str() == s).ok_or_else(|| {
            format!("`{}` is not a hub release line: use 0.24, 1.0, 1.0-compat or auto", s.escape_debug())
        })
    }

    /// The line a hub binary of `version` runs strictly: 1.x for 1.0 (its alphas
    /// included), 0.24 below. Compatibility mode is a choice, never detected.
    pub fn of_release(version: (u32, u32, u32)) -> HubLine {
        if version.0 >= 1 { Self::V1_0 } else { Self::V0_24 }
    }

    /// Whether a hub binary of `version` can load a bundle written for this line; the
    /// error says why not (for apply's preflight and `check`).
    pub fn accepts(self, version: (u32, u32, u32)) -> Result<(), ReleaseMismatch> {
        self.facts().accepts(version)
    }

    pub fn facts(self) -> HubFacts {
        match self {
            Self::V0_24 => HubFacts {
                line: "0.24",
                release: "0.24.2",
                min_version: (0, 24, 0),
                below_version: Some((1, 0, 0)),
                issuer_block: false,
                compat: false,
                tokens: TokenShape::Legacy,
                query_token: true,
                subscribe_param: "topic",
                bearer_errors: false,
                warning: None,
                known_directives: &[
                    "publisher_jwt",
                    "subscriber_jwt",
                    "publisher_jwks_url",
                    "subscriber_jwks_url",
                    "anonymous",
                    "publish_origins",
                    "cors_origins",
                    "cookie_name",
                    "subscriptions",
                    "heartbeat",
                    "write_timeout",
                    "dispatch_timeout",
                    "transport",
                    "transport_url",
                    "topic_selector_cache",
                    "subscriber_list_cache_size",
                    "protocol_version_compatibility",
                    "demo",
                    "ui",
                    "name",
                ],
            },
            Self::V1_0 => HubFacts {
                line: "1.0",
                release: "1.0.0-alpha.3",
                min_version: (1, 0, 0),
                below_version: None,
                issuer_block: true,
                compat: false,
                tokens: TokenShape::Rfc9068,
                query_token: false,
                subscribe_param: "match",
                bearer_errors: true,
                known_directives: V1_DIRECTIVES,
                warning: None,
            },
            Self::V1_0Compat => HubFacts {
                line: "1.0-compat",
                release: "1.0.0-alpha.3",
                min_version: (1, 0, 0),
                below_version: None,
                issuer_block: true,
                compat: true,
                tokens: TokenShape::CutOver,
                query_token: true,
                subscribe_param: "match",
                bearer_errors: true,
                known_directives: V1_DIRECTIVES,
                warning: Some(COMPAT_WARNING),
            },
        }
    }
}

impl fmt::Display for HubLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `hub.version` as answered: a line, or `auto`, which the edge resolves by asking
/// `hub.binary version` at render time (0.24 when the binary is absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HubVersionChoice {
    #[default]
    Auto,
    Known(HubLine),
}

impl HubVersionChoice {
    pub fn parse(s: &str) -> Result<Self, String> {
        if s == "auto" { Ok(Self::Auto) } else { HubLine::parse(s).map(Self::Known) }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Known(l) => l.as_str(),
        }
    }

    /// The line files are written for: `auto` left unresolved (no binary asked) is 0.24.
    pub fn line(self) -> HubLine {
        match self {
            Self::Auto => HubLine::V0_24,
            Self::Known(l) => l,
        }
    }
}

impl Serialize for HubVersionChoice {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The claims the bundle's tokens carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TokenShape {
    /// `{"mercure": {"publish": [...]}}` with header `typ: JWT`: Mercure 0.x.
    Legacy,
    /// RFC 9068: header `typ: at+jwt`, `iss`, `aud`, `exp`, `authorization_details`.
    Rfc9068,
    /// RFC 9068 plus the `mercure` claim: accepted by 0.24.2 and strict 1.0 alike.
    CutOver,
}

/// What a hub release line means for the files, `apply` and `check`.
// Flat booleans are what Tera's `{% if %}` reads most simply.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HubFacts {
    /// "0.24", "1.0", "1.0-compat": how messages name the line (the answers' spelling).
    pub line: &'static str,
    /// The release INSTALL.md downloads (the one the tests run).
    pub release: &'static str,
    /// The oldest release whose Caddyfile syntax and tokens the bundle uses.
    pub min_version: (u32, u32, u32),
    /// The first release that refuses the bundle's Caddyfile (1.0 refuses 0.x's
    /// top-level `publisher_jwt`), if any.
    pub below_version: Option<(u32, u32, u32)>,
    /// The keys sit in an `issuer https://DOMAIN { publisher {...} subscriber {...} }`
    /// block with a pinned `resource_identifier`.
    pub issuer_block: bool,
    /// `protocol_version_compatibility 8`: 0.x clients still work, and the hub no
    /// longer checks any token's `aud`, `typ` or `exp`.
    pub compat: bool,
    pub tokens: TokenShape,
    /// A subscriber may still pass its token in the `authorization` query parameter,
    /// so logs must redact it.
    pub query_token: bool,
    /// The query parameter subscribers name topics with (`topic` on 0.x, `match` on 1.0).
    pub subscribe_param: &'static str,
    /// 401/403/400 answers carry RFC 6750 `WWW-Authenticate: Bearer error=...`.
    pub bearer_errors: bool,
    /// The directives its `mercure { }` block knows (its Caddyfile documentation); the
    /// hub silently ignores any other name, so it would "do nothing" in production.
    pub known_directives: &'static [&'static str],
    /// What `render` and INSTALL.md must warn about for this line.
    pub warning: Option<&'static str>,
}

/// Compatibility mode's cost, said wherever it is rendered.
pub const COMPAT_WARNING: &str = "hub.version 1.0-compat: with protocol_version_compatibility 8 the hub checks no \
token's aud, typ or exp, nor the iss of a token its key verifies (a token for another hub, or without expiry, is \
accepted); use it only while clients move to 1.0, then render hub.version 1.0";

/// Why a hub binary cannot load a bundle written for a release line; the text
/// completes "the hub binary X ..." (apply refuses, `check` fails).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReleaseMismatch {
    #[error("is version {version}; this bundle (hub.version {line}) needs {}.{}.{} or newer", .min.0, .min.1, .min.2)]
    TooOld { version: String, line: &'static str, min: (u32, u32, u32) },
    #[error(
        "is version {version}, which refuses this bundle's Caddyfile (hub.version {line}, written for {line}.x): \
         render it for the installed hub with --set hub.version={}",
        .installed.as_str()
    )]
    Refuses { version: String, line: &'static str, installed: HubLine },
}

impl HubFacts {
    /// Whether a hub binary of `version` can load a bundle written for this line, the
    /// error completing "the hub binary X ..." (apply's preflight: `release_problem`).
    pub fn accepts(self, version: (u32, u32, u32)) -> Result<(), ReleaseMismatch> {
        let (min, (a, b, c)) = (self.min_version, version);
        let version = format!("{a}.{b}.{c}");
        if (a, b, c) < min {
            return Err(ReleaseMismatch::TooOld { version, line: self.line, min });
        }
        if let Some(below) = self.below_version
            && (a, b, c) >= below
        {
            return Err(ReleaseMismatch::Refuses {
                version,
                line: self.line,
                installed: HubLine::of_release((a, b, c)),
            });
        }
        Ok(())
    }

    /// The pinned `resource_identifier`, the `aud` every 1.0 token must carry.
    pub fn audience(domain: &str) -> String {
        format!("https://{domain}/.well-known/mercure")
    }

    /// The trusted issuer name, the `iss` every 1.0 token must carry.
    pub fn issuer(domain: &str) -> String {
        format!("https://{domain}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_to_every_topology() {
        assert_eq!(Topology::NAMES.len(), Topology::ALL.len());
        for (t, name) in Topology::ALL.into_iter().zip(Topology::NAMES) {
            assert_eq!(Topology::parse(name), Ok(t));
        }
        let e = Topology::parse("other").unwrap_err();
        assert_eq!(e, "`other` is not a topology: use same-host-http or end-to-end-tls");
    }

    #[test]
    fn hub_lines_parse_and_accept_their_releases() {
        for l in HubLine::ALL {
            assert_eq!(HubLine::parse(l.as_str()), Ok(l));
            assert_eq!(HubVersionChoice::parse(l.as_str()), Ok(HubVersionChoice::Known(l)));
            assert_eq!(l.facts().line, l.as_str());
        }
        assert_eq!(HubVersionChoice::parse("auto"), Ok(HubVersionChoice::Auto));
        assert_eq!(HubVersionChoice::Auto.line(), HubLine::V0_24);
        assert!(HubLine::parse("1").unwrap_err().contains("0.24, 1.0, 1.0-compat or auto"));
        assert_eq!(HubLine::of_release((0, 24, 2)), HubLine::V0_24);
        assert_eq!(HubLine::of_release((1, 0, 0)), HubLine::V1_0);
        assert_eq!(HubLine::V0_24.accepts((0, 24, 2)), Ok(()));
        assert!(HubLine::V0_24.accepts((0, 23, 9)).unwrap_err().to_string().contains("needs 0.24.0 or newer"));
        let e = HubLine::V0_24.accepts((1, 0, 0)).unwrap_err();
        assert!(matches!(e, ReleaseMismatch::Refuses { installed: HubLine::V1_0, .. }), "{e}");
        assert!(e.to_string().contains("--set hub.version=1.0"), "{e}");
        assert_eq!(HubLine::V1_0.accepts((1, 0, 0)), Ok(()));
        assert_eq!(HubLine::V1_0Compat.accepts((1, 2, 0)), Ok(()));
        assert!(HubLine::V1_0.accepts((0, 24, 2)).unwrap_err().to_string().contains("needs 1.0.0 or newer"));
        // 1.0 refuses the legacy key directives outside compatibility mode.
        assert!(!HubLine::V1_0.facts().known_directives.contains(&"publisher_jwt"));
        assert!(HubLine::V1_0.facts().known_directives.contains(&"issuer"));
    }
}
