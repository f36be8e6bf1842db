//! The bundle: every file a render produces, in memory, keyed by its path
//! relative to the output folder, with its mode and whether it holds a secret.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use sha2::{Digest as _, Sha256};

/// The SHA-256 of `data` in lowercase hex: how the manifest records a file's contents,
/// and the root of the short names in [`paths::domain_hash`].
pub fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data).iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Every path inside the bundle folder, relative to it: the one list that `render`
/// writes, `secrets` reads back, `output` protects, and `check`, `doctor` and the
/// wizard look at.
pub mod paths {
    pub const INSTALL: &str = "INSTALL.md";
    pub const ANSWERS: &str = "answers.yaml";
    /// Folder of the nginx site file (one `DOMAIN.conf`).
    pub const NGINX_DIR: &str = "nginx";
    pub const NGINX_DROP_IN: &str = "systemd/nginx.service.d/mercure-limits.conf";
    pub const UNIT: &str = "systemd/mercure.service";
    pub const CADDYFILE: &str = "mercure/Caddyfile";
    pub const HUB_ENV: &str = "mercure/mercure.env";
    pub const ENV_LOCAL: &str = "symfony/.env.local";
    pub const SYMFONY_YAML: &str = "symfony/config/packages/mercure.yaml";
    pub const SYMFONY_PRIVATE_KEY: &str = "symfony/config/jwt/mercure-private.pem";
    /// The files installed to `plan::install::TLS_DIR`.
    pub const TLS_DIR: &str = "mercure/tls";
    pub const CA_CERT: &str = "mercure/tls/ca.crt";
    pub const HUB_CERT: &str = "mercure/tls/hub.crt";
    pub const HUB_KEY: &str = "mercure/tls/hub.key";
    pub const PUBLISHER_TOKEN: &str = "tokens/publisher.jwt";
    pub const SUBSCRIBER_TOKEN: &str = "tokens/subscriber.jwt";

    /// The nginx site file for `domain`: `nginx/DOMAIN.conf` (see [`site_name`]).
    pub fn nginx_site(domain: &str) -> String {
        format!("{NGINX_DIR}/{}.conf", site_name(domain))
    }

    /// Longest domain used as is in file names (`DOMAIN.mercure.access.log` must fit
    /// the 255-byte limit of a file name).
    const SITE_NAME_MAX: usize = 200;

    /// The domain when it fits in a file name with a suffix, else its first 180
    /// characters and a hash of the whole (two long domains never share a name).
    pub fn site_name(domain: &str) -> String {
        if domain.len() <= SITE_NAME_MAX {
            return domain.to_string();
        }
        let head: String = domain.chars().take(180).collect();
        format!("{}-{}", head.trim_end_matches(['.', '-']), domain_hash(domain))
    }

    /// 12 hex digits of the domain's SHA-256: short, collision-free nginx names
    /// (`map` variables must fit `variables_hash_bucket_size`, and `a-b.x` and
    /// `a.b.x` must not both become `a_b_x`).
    pub fn domain_hash(domain: &str) -> String {
        let mut hex = super::sha256_hex(domain.as_bytes());
        hex.truncate(12);
        hex
    }

    /// Whether `rel` lies in the state folder (kept between renders, not installed).
    pub fn is_state(rel: &str) -> bool {
        rel.strip_prefix(state::DIR).is_some_and(|rest| rest.starts_with('/'))
    }

    /// Where the state that must survive a re-render is kept (secrets, manifest, lock).
    pub mod state {
        pub const DIR: &str = ".state";
        pub const HMAC_SECRET: &str = ".state/jwt-hmac.secret";
        pub const ES256_PRIVATE: &str = ".state/jwt-es256-private.pem";
        pub const ES256_PUBLIC: &str = ".state/jwt-es256-public.pem";
        pub const PUBLISHER_TOKEN: &str = ".state/publisher.jwt";
        pub const SUBSCRIBER_TOKEN: &str = ".state/subscriber.jwt";
        pub const CA_CERT: &str = ".state/pki/ca.crt";
        pub const CA_KEY: &str = ".state/pki/ca.key";
        pub const HUB_CERT: &str = ".state/pki/hub.crt";
        pub const HUB_KEY: &str = ".state/pki/hub.key";
        pub const MANIFEST: &str = ".state/manifest.json";
        /// Held (`flock`) by a run from reading the state until the manifest is written.
        /// Never part of a bundle.
        pub const LOCK: &str = ".state/lock";
    }
}

/// One generated file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleFile {
    pub contents: String,
    pub mode: u32,
    /// Secret files are 0600, their folders 0700, and their contents are never printed.
    pub secret: bool,
}

/// Sorted map of relative path -> file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bundle {
    pub files: BTreeMap<String, BundleFile>,
}

impl Bundle {
    pub fn add(&mut self, path: impl Into<String>, contents: impl Into<String>) {
        self.insert(path, contents, 0o644, false);
    }

    pub fn add_secret(&mut self, path: impl Into<String>, contents: impl Into<String>) {
        self.insert(path, contents, 0o600, true);
    }

    fn insert(&mut self, path: impl Into<String>, contents: impl Into<String>, mode: u32, secret: bool) {
        let mut contents = contents.into();
        if !contents.ends_with('\n') {
            contents.push('\n');
        }
        self.files.insert(path.into(), BundleFile { contents, mode, secret });
    }

    pub fn get(&self, path: &str) -> Option<&str> {
        self.files.get(path).map(|f| f.contents.as_str())
    }

    /// Whether a folder (relative path) holds a secret file anywhere below it.
    pub fn dir_holds_secret(&self, dir: &str) -> bool {
        let prefix = format!("{dir}/");
        self.files.iter().any(|(p, f)| f.secret && p.starts_with(&prefix))
    }
}
