//! Answers: the raw draft (key -> text, as typed or read) and the validated
//! `Answers` built from it, with every problem reported at once.
//!
//! The draft is a flat map keyed by the dotted paths of the question table rather
//! than a serde struct, so the answers file, `--set` and each wizard field share one
//! representation and one validator, and unknown keys get "did you mean" hints.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::questions::{self, Basis, Kind, RawValue};
use crate::tls_profile::{Hsts, TlsProfile};
use crate::values::{
    AbsPath, AdminAddress, CorsOrigin, Domain, Duration, FastcgiAddress, HubVersionChoice, JwtAlgorithm,
    NginxVersionChoice, Origin, Port, Topology, UnixUser, parse_bool, parse_count, parse_public_domain,
    parse_publish_origin,
};

/// Schema version of the answers file this build reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

/// Where a value came from, so an error can point at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An answers file, at a key's line and column (1-based) when it is written there.
    File { path: String, at: Option<(usize, usize)> },
    /// A `--set KEY=VALUE` argument.
    Set,
}

/// One problem with the answers, naming its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub key: String,
    pub message: String,
    pub source: Option<Source>,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Some(Source::File { path, at: Some((line, column)) }) => {
                write!(f, "{path}:{line}:{column}: {}: {}", self.key, self.message)
            }
            Some(Source::File { path, at: None }) => write!(f, "{path}: {}: {}", self.key, self.message),
            Some(Source::Set) => write!(f, "--set {}: {}", self.key, self.message),
            None => write!(f, "{}: {}", self.key, self.message),
        }
    }
}

/// The answers as given: only the keys the user set, each with where it came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Draft {
    values: BTreeMap<&'static str, (RawValue, Option<Source>)>,
    /// Where keys given without a value (`domain:`) were written.
    empty: BTreeMap<&'static str, Source>,
    /// The answers file, for problems with keys it does not mention at all.
    file: Option<String>,
}

impl Draft {
    /// Sets a known key. Keys must come from the question table.
    pub fn set(&mut self, key: &'static str, value: RawValue, source: Option<Source>) {
        self.values.insert(key, (value, source));
    }

    /// Records a key written without a value: it keeps its default, but a problem
    /// with it can still point at the line.
    pub fn set_empty(&mut self, key: &'static str, source: Source) {
        self.empty.insert(key, source);
    }

    /// Names the answers file the draft was read from.
    pub fn set_file(&mut self, path: &str) {
        self.file = Some(path.to_string());
    }

    pub fn remove(&mut self, key: &str) {
        self.values.remove(key);
    }

    /// The value given for `key`, if any.
    pub fn given(&self, key: &str) -> Option<&RawValue> {
        self.values.get(key).map(|(v, _)| v)
    }

    /// The value given for `key`, or the question's default.
    pub fn value(&self, key: &str) -> RawValue {
        if let Some(v) = self.given(key) {
            return v.clone();
        }
        questions::question(key).map_or(RawValue::Scalar(String::new()), |q| (q.default)(&self.basis()))
    }

    /// What defaults follow, from the given topology and domain (never from defaults).
    pub fn basis(&self) -> Basis {
        Basis {
            topology: self.topology().unwrap_or_default(),
            domain: self.scalar("domain").and_then(|s| Domain::parse(s).ok()),
        }
    }

    /// A scalar that was given (not a default), if any.
    pub fn scalar(&self, key: &str) -> Option<&str> {
        match self.given(key)? {
            RawValue::Scalar(s) if !s.is_empty() => Some(s),
            _ => None,
        }
    }

    /// The topology: the given one if valid, the default if none is given, `None` for
    /// an invalid one. Defaults follow it.
    pub fn topology(&self) -> Option<Topology> {
        match self.given("topology") {
            None => Some(Topology::default()),
            Some(RawValue::Scalar(s)) => Topology::parse(s).ok(),
            Some(RawValue::List(_)) => None,
        }
    }

    fn source(&self, key: &str) -> Option<Source> {
        self.values
            .get(key)
            .and_then(|(_, s)| s.clone())
            .or_else(|| self.empty.get(key).cloned())
            .or_else(|| self.file.as_ref().map(|path| Source::File { path: path.clone(), at: None }))
    }
}

/// Something valid but worth a second look, printed before rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub key: &'static str,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublicTls {
    pub certificate: AbsPath,
    pub certificate_key: AbsPath,
    pub acme_webroot: AbsPath,
    pub profile: TlsProfile,
    pub hsts: Hsts,
    pub hsts_include_subdomains: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hub {
    pub port: Port,
    pub tls_name: Domain,
    pub admin: AdminAddress,
    pub heartbeat: Duration,
    pub history_size: u32,
    pub binary: AbsPath,
    /// The release line the files are written for; `auto` is resolved at render time.
    pub version: HubVersionChoice,
    pub user: UnixUser,
    pub anonymous: bool,
    pub subscriptions: bool,
    pub cors_origins: Vec<CorsOrigin>,
    pub publish_origins: Vec<Origin>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Symfony {
    pub project_dir: AbsPath,
    pub php_fpm: FastcgiAddress,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NginxAnswers {
    pub version: NginxVersionChoice,
    pub expected_subscribers: u32,
}

/// Validated answers: every field holds a value that is safe to render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answers {
    pub topology: Topology,
    pub domain: Domain,
    pub public_tls: PublicTls,
    pub hub: Hub,
    pub jwt_algorithm: JwtAlgorithm,
    pub symfony: Symfony,
    pub nginx: NginxAnswers,
}

/// Longest heartbeat that still leaves the generated 1h `proxy_read_timeout` at least twice as long.
const MAX_HEARTBEAT_MS: u64 = 30 * 60 * 1000;

/// Collects typed fields and errors while validating a draft.
struct Checker<'a> {
    draft: &'a Draft,
    errors: Vec<FieldError>,
}

impl Checker<'_> {
    fn error(&mut self, key: &str, message: String) {
        self.errors.push(FieldError { key: key.to_string(), message, source: self.draft.source(key) });
    }

    /// Parses a scalar key (given or default) with `parse`.
    fn scalar<T>(&mut self, key: &'static str, parse: impl Fn(&str) -> Result<T, String>) -> Option<T> {
        match self.draft.value(key) {
            RawValue::Scalar(s) if s.is_empty() && questions::question(key).is_some_and(|q| q.required) => {
                self.error(key, "is required".into());
                None
            }
            RawValue::Scalar(s) => parse(&s).map_err(|e| self.error(key, e)).ok(),
            RawValue::List(_) => {
                self.error(key, "expected a single value, not a list".into());
                None
            }
        }
    }

    /// Parses each entry of a list key, reporting every bad entry.
    fn list<T>(&mut self, key: &'static str, parse: impl Fn(&str) -> Result<T, String>) -> Option<Vec<T>> {
        let RawValue::List(items) = self.draft.value(key) else {
            self.error(key, "expected a list, e.g. [https://admin.example.com]".into());
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        for item in &items {
            match parse(item) {
                Ok(v) => out.push(v),
                Err(e) => {
                    ok = false;
                    self.error(key, e);
                }
            }
        }
        ok.then_some(out)
    }
}

/// Every answers key and the field it fills, once: how `from_draft` parses the key
/// (`scalar` or `list`, with its parser) and how `to_draft` writes the field back.
/// A field parsed here but never put into [`Answers`] is dead code (a compile error
/// under the lints), and a key here that the question table lacks fails its unit test.
macro_rules! answer_fields {
    ($( $field:ident: $ty:ty = $how:ident($key:literal, $parse:expr) => |$a:ident| $write:expr; )*) => {
        /// Each key's value as parsed; `None` where it had a problem (reported once).
        struct Parsed {
            $( $field: Option<$ty>, )*
        }

        impl Parsed {
            fn read(c: &mut Checker<'_>) -> Parsed {
                Parsed { $( $field: c.$how($key, $parse), )* }
            }
        }

        impl Answers {
            /// Every key with its value as the answers file writes it, in table order.
            fn fields(&self) -> Vec<(&'static str, RawValue)> {
                vec![ $( ($key, { let $a = self; $write }), )* ]
            }
        }
    };
}

answer_fields! {
    topology: Topology = scalar("topology", Topology::parse) => |a| text(a.topology);
    domain: Domain = scalar("domain", parse_public_domain) => |a| text(&a.domain);
    certificate: AbsPath = scalar("public_tls.certificate", AbsPath::parse) => |a| text(a.public_tls.certificate.as_str());
    certificate_key: AbsPath =
        scalar("public_tls.certificate_key", AbsPath::parse) => |a| text(a.public_tls.certificate_key.as_str());
    acme_webroot: AbsPath = scalar("public_tls.acme_webroot", crate::values::parse_web_dir) => |a| text(a.public_tls.acme_webroot.as_str());
    tls_profile: TlsProfile = scalar("public_tls.profile", TlsProfile::parse) => |a| text(a.public_tls.profile);
    hsts: Hsts = scalar("public_tls.hsts", Hsts::parse) => |a| text(a.public_tls.hsts);
    hsts_include_subdomains: bool =
        scalar("public_tls.hsts_include_subdomains", parse_bool) => |a| text(a.public_tls.hsts_include_subdomains);
    port: Port = scalar("hub.port", Port::parse) => |a| text(a.hub.port);
    tls_name: Domain = scalar("hub.tls_name", Domain::parse) => |a| text(&a.hub.tls_name);
    admin: AdminAddress = scalar("hub.admin", AdminAddress::parse) => |a| text(a.hub.admin.as_str());
    heartbeat: Duration = scalar("hub.heartbeat", parse_heartbeat) => |a| text(&a.hub.heartbeat.text);
    history_size: u32 = scalar("hub.history_size", |s| parse_count(s, 0..=10_000_000)) => |a| text(a.hub.history_size);
    binary: AbsPath = scalar("hub.binary", AbsPath::parse) => |a| text(a.hub.binary.as_str());
    hub_version: HubVersionChoice = scalar("hub.version", HubVersionChoice::parse) => |a| text(a.hub.version.as_str());
    user: UnixUser = scalar("hub.user", UnixUser::parse) => |a| text(a.hub.user.as_str());
    anonymous: bool = scalar("hub.anonymous", parse_bool) => |a| text(a.hub.anonymous);
    subscriptions: bool = scalar("hub.subscriptions", parse_bool) => |a| text(a.hub.subscriptions);
    cors_origins: Vec<CorsOrigin> =
        list("hub.cors_origins", CorsOrigin::parse) => |a| items(a.hub.cors_origins.iter().map(CorsOrigin::as_str));
    publish_origins: Vec<Origin> =
        list("hub.publish_origins", parse_publish_origin) => |a| items(a.hub.publish_origins.iter().map(Origin::as_str));
    jwt_algorithm: JwtAlgorithm = scalar("jwt.algorithm", JwtAlgorithm::parse) => |a| text(a.jwt_algorithm.as_str());
    project_dir: AbsPath = scalar("symfony.project_dir", crate::values::parse_web_dir) => |a| text(a.symfony.project_dir.as_str());
    php_fpm: FastcgiAddress = scalar("symfony.php_fpm", FastcgiAddress::parse) => |a| text(a.symfony.php_fpm.as_str());
    nginx_version: NginxVersionChoice = scalar("nginx.version", NginxVersionChoice::parse) => |a| match a.nginx.version {
        NginxVersionChoice::Auto => text("auto"),
        NginxVersionChoice::Known(v) => text(v),
    };
    expected_subscribers: u32 =
        scalar("nginx.expected_subscribers", |s| parse_count(s, 1..=1_000_000)) => |a| text(a.nginx.expected_subscribers);
}

fn text(v: impl fmt::Display) -> RawValue {
    RawValue::Scalar(v.to_string())
}

fn items<'a>(v: impl Iterator<Item = &'a str>) -> RawValue {
    RawValue::List(v.map(str::to_string).collect())
}

/// A heartbeat the generated nginx timeouts outlast.
fn parse_heartbeat(s: &str) -> Result<Duration, String> {
    let d = Duration::parse(s)?;
    if d.millis == 0 {
        return Err("0 disables the heartbeat, and idle connections then drop at proxy timeouts".into());
    }
    if d.millis > MAX_HEARTBEAT_MS {
        return Err(format!(
            "`{s}` is longer than 30m; nginx's proxy_read_timeout (1h) must stay at least twice the heartbeat"
        ));
    }
    Ok(d)
}

impl Answers {
    /// Validates a draft, returning the answers and warnings, or every problem found.
    pub fn from_draft(draft: &Draft) -> Result<(Answers, Vec<Warning>), Vec<FieldError>> {
        let mut c = Checker { draft, errors: Vec::new() };
        let p = Parsed::read(&mut c);

        // The hub, its admin API and php-fpm each need their own loopback port.
        if let (Some(port), Some(admin)) = (p.port, &p.admin)
            && admin.port() == Some(port.get())
        {
            c.error("hub.admin", format!("uses port {port}, which is hub.port; the hub would fail to start"));
        }
        if let Some(fpm) = p.php_fpm.as_ref().and_then(FastcgiAddress::loopback_port) {
            if p.port.is_some_and(|port| port.get() == fpm) {
                c.error("symfony.php_fpm", format!("uses port {fpm}, which is hub.port"));
            }
            if p.admin.as_ref().and_then(AdminAddress::port) == Some(fpm) {
                c.error("symfony.php_fpm", format!("uses port {fpm}, which is the hub's admin port (hub.admin)"));
            }
        }

        // Every field was parsed above so that all problems are reported together;
        // only now does the first missing one stop the build.
        let answers = (|| {
            Some(Answers {
                topology: p.topology?,
                domain: p.domain?,
                public_tls: PublicTls {
                    certificate: p.certificate?,
                    certificate_key: p.certificate_key?,
                    acme_webroot: p.acme_webroot?,
                    profile: p.tls_profile?,
                    hsts: p.hsts?,
                    hsts_include_subdomains: p.hsts_include_subdomains?,
                },
                hub: Hub {
                    port: p.port?,
                    tls_name: p.tls_name?,
                    admin: p.admin?,
                    heartbeat: p.heartbeat?,
                    history_size: p.history_size?,
                    binary: p.binary?,
                    version: p.hub_version?,
                    user: p.user?,
                    anonymous: p.anonymous?,
                    subscriptions: p.subscriptions?,
                    cors_origins: p.cors_origins?,
                    publish_origins: p.publish_origins?,
                },
                jwt_algorithm: p.jwt_algorithm?,
                symfony: Symfony { project_dir: p.project_dir?, php_fpm: p.php_fpm? },
                nginx: NginxAnswers { version: p.nginx_version?, expected_subscribers: p.expected_subscribers? },
            })
        })();
        let answers = match answers {
            Some(a) if c.errors.is_empty() => a,
            _ => return Err(c.errors),
        };
        let warnings = answers.warnings();
        Ok((answers, warnings))
    }

    fn warnings(&self) -> Vec<Warning> {
        let mut out = Vec::new();
        if self.hub.cors_origins.iter().any(CorsOrigin::is_wildcard) {
            out.push(Warning {
                key: "hub.cors_origins",
                message: "`*` lets any web page read updates its visitors may subscribe to, and browsers refuse it with cookies (withCredentials); list exact origins instead".into(),
            });
        }
        if self.hub.history_size == 0 {
            out.push(Warning {
                key: "hub.history_size",
                message: "0 keeps every update: the hub's bolt database (/var/lib/mercure/mercure.db) then grows without limit; set the number of updates to keep for reconnecting clients (e.g. 1000)".into(),
            });
        }
        if self.public_tls.hsts_include_subdomains && self.public_tls.hsts.max_age().is_none() {
            out.push(Warning {
                key: "public_tls.hsts_include_subdomains",
                message: "has no effect while public_tls.hsts is off: no Strict-Transport-Security header is sent"
                    .into(),
            });
        }
        let own = format!("https://{}", self.domain);
        if self.hub.cors_origins.iter().any(|o| o.as_str() == own) {
            out.push(Warning {
                key: "hub.cors_origins",
                message: format!("{own} is the hub's own origin and needs no CORS entry"),
            });
        }
        out
    }

    /// Every key with its value, defaults filled in: the resolved answers file.
    pub fn to_draft(&self) -> Draft {
        let mut d = Draft::default();
        for (key, value) in self.fields() {
            d.set(key, value, None);
        }
        d
    }
}

/// Whether a key holds a list (so `--set` and the wizard split on commas).
pub fn is_list_key(key: &str) -> bool {
    questions::question(key).is_some_and(|q| q.kind == Kind::List)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(pairs: &[(&'static str, &str)]) -> Draft {
        let mut d = Draft::default();
        for (k, v) in pairs {
            let value = if is_list_key(k) {
                RawValue::List(v.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect())
            } else {
                RawValue::Scalar((*v).to_string())
            };
            d.set(k, value, None);
        }
        d
    }

    #[test]
    fn defaults_follow_topology_and_domain() {
        let (a, w) =
            Answers::from_draft(&draft(&[("domain", "app.example.com"), ("topology", "end-to-end-tls")])).unwrap();
        assert!(w.is_empty());
        assert_eq!(a.hub.port.get(), 8443);
        assert_eq!(a.public_tls.certificate.as_str(), "/etc/letsencrypt/live/app.example.com/fullchain.pem");
        let (a, _) = Answers::from_draft(&draft(&[("domain", "app.example.com")])).unwrap();
        assert_eq!(a.hub.port.get(), 3000);
    }

    #[test]
    fn every_error_is_reported() {
        let errors = Answers::from_draft(&draft(&[
            ("domain", "a.com;include /etc/passwd"),
            ("hub.port", "80"),
            ("hub.cors_origins", "https://a.com/,https://b.com/x"),
            ("hub.publish_origins", "*"),
        ]))
        .unwrap_err();
        let keys: Vec<_> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["domain", "hub.port", "hub.cors_origins", "hub.cors_origins", "hub.publish_origins"]);
    }

    #[test]
    fn missing_domain_and_port_clash() {
        let errors = Answers::from_draft(&draft(&[("hub.port", "2019"), ("hub.admin", "localhost:2019")])).unwrap_err();
        let text: Vec<_> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            ["domain: is required", "hub.admin: uses port 2019, which is hub.port; the hub would fail to start"]
        );
    }

    #[test]
    fn wildcard_cors_warns() {
        let (_, w) = Answers::from_draft(&draft(&[("domain", "a.com"), ("hub.cors_origins", "*")])).unwrap();
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].key, "hub.cors_origins");
    }

    #[test]
    fn unlimited_history_warns() {
        let (_, w) = Answers::from_draft(&draft(&[("domain", "a.com"), ("hub.history_size", "0")])).unwrap();
        assert_eq!(w.len(), 1);
        assert!(w[0].message.contains("grows without limit"), "{}", w[0]);
    }

    #[test]
    fn public_tls_keys() {
        let (a, w) = Answers::from_draft(&draft(&[("domain", "a.com")])).unwrap();
        assert!(w.is_empty());
        assert_eq!(a.public_tls.profile, TlsProfile::Intermediate);
        assert_eq!(a.public_tls.hsts.max_age(), Some(63_072_000));
        assert!(!a.public_tls.hsts_include_subdomains);
        let errors = Answers::from_draft(&draft(&[
            ("domain", "a.com"),
            ("public_tls.profile", "old"),
            ("public_tls.hsts", "2 years"),
            ("public_tls.hsts_include_subdomains", "maybe"),
        ]))
        .unwrap_err();
        let keys: Vec<_> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["public_tls.profile", "public_tls.hsts", "public_tls.hsts_include_subdomains"]);
        let (_, w) = Answers::from_draft(&draft(&[
            ("domain", "a.com"),
            ("public_tls.hsts", "0"),
            ("public_tls.hsts_include_subdomains", "true"),
        ]))
        .unwrap();
        assert_eq!(w.iter().map(|w| w.key).collect::<Vec<_>>(), ["public_tls.hsts_include_subdomains"]);
    }

    #[test]
    fn every_question_has_a_field_in_table_order() {
        let (a, _) = Answers::from_draft(&draft(&[("domain", "a.com")])).unwrap();
        let keys: Vec<&str> = a.fields().into_iter().map(|(k, _)| k).collect();
        let questions: Vec<&str> = questions::QUESTIONS.iter().map(|q| q.key).collect();
        assert_eq!(keys, questions);
    }

    #[test]
    fn round_trip_through_draft() {
        let (a, _) =
            Answers::from_draft(&draft(&[("domain", "a.com"), ("hub.cors_origins", "https://x.com")])).unwrap();
        let (b, _) = Answers::from_draft(&a.to_draft()).unwrap();
        assert_eq!(a, b);
    }
}
