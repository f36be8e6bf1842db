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

/// The Mercure hub release line a bundle is rendered for. Today's bundles use 0.24's
/// Caddyfile syntax (top-level `publisher_jwt` / `subscriber_jwt`, no admin health
/// endpoint); a new line is a new variant with its facts, read through the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HubLine {
    #[default]
    V0_24,
}

impl HubLine {
    pub fn facts(self) -> HubFacts {
        match self {
            Self::V0_24 => HubFacts {
                line: "0.24",
                release: "0.24.2",
                min_version: (0, 24, 0),
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
        }
    }
}

/// What a hub release line means for the files, `apply` and `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HubFacts {
    /// "0.24": how messages name the line.
    pub line: &'static str,
    /// The release INSTALL.md downloads (the one the tests run).
    pub release: &'static str,
    /// The oldest release whose Caddyfile syntax and tokens the bundle uses.
    pub min_version: (u32, u32, u32),
    /// The directives its `mercure { }` block knows (its Caddyfile documentation); the
    /// hub silently ignores any other name, so it would "do nothing" in production.
    pub known_directives: &'static [&'static str],
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
}
