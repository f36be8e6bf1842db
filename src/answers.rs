//! Answers: the raw draft (key -> text, as typed or read) and the validated
//! `Answers` built from it, with every problem reported at once.
//!
//! The draft is a flat map keyed by the dotted paths of the question table rather
//! than a serde struct, so the answers file, `--set` and each wizard field share one
//! representation and one validator, and unknown keys get "did you mean" hints.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::questions::{self, Basis, Kind, QUESTIONS, RawValue};
use crate::values::{
    AbsPath, AdminAddress, CorsOrigin, Domain, Duration, FastcgiAddress, JwtAlgorithm, NginxVersionChoice, Origin,
    Port, Topology, UnixUser, parse_bool, parse_count, parse_public_domain, parse_publish_origin,
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
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hub {
    pub port: Port,
    pub tls_name: Domain,
    pub admin: AdminAddress,
    pub heartbeat: Duration,
    pub history_size: u32,
    pub binary: AbsPath,
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

impl Answers {
    /// Validates a draft, returning the answers and warnings, or every problem found.
    pub fn from_draft(draft: &Draft) -> Result<(Answers, Vec<Warning>), Vec<FieldError>> {
        let mut c = Checker { draft, errors: Vec::new() };
        let topology = c.scalar("topology", Topology::parse);
        let domain = c.scalar("domain", parse_public_domain);
        let certificate = c.scalar("public_tls.certificate", AbsPath::parse);
        let certificate_key = c.scalar("public_tls.certificate_key", AbsPath::parse);
        let acme_webroot = c.scalar("public_tls.acme_webroot", AbsPath::parse);
        let port = c.scalar("hub.port", Port::parse);
        let tls_name = c.scalar("hub.tls_name", Domain::parse);
        let admin = c.scalar("hub.admin", AdminAddress::parse);
        let heartbeat = c.scalar("hub.heartbeat", |s| {
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
        });
        let history_size = c.scalar("hub.history_size", |s| parse_count(s, 0..=10_000_000));
        let binary = c.scalar("hub.binary", AbsPath::parse);
        let user = c.scalar("hub.user", UnixUser::parse);
        let anonymous = c.scalar("hub.anonymous", parse_bool);
        let subscriptions = c.scalar("hub.subscriptions", parse_bool);
        let cors_origins = c.list("hub.cors_origins", CorsOrigin::parse);
        let publish_origins = c.list("hub.publish_origins", parse_publish_origin);
        let jwt_algorithm = c.scalar("jwt.algorithm", JwtAlgorithm::parse);
        let project_dir = c.scalar("symfony.project_dir", AbsPath::parse);
        let php_fpm = c.scalar("symfony.php_fpm", FastcgiAddress::parse);
        let version = c.scalar("nginx.version", NginxVersionChoice::parse);
        let expected_subscribers = c.scalar("nginx.expected_subscribers", |s| parse_count(s, 1..=1_000_000));

        // The hub, its admin API and php-fpm each need their own loopback port.
        if let (Some(port), Some(admin)) = (port, &admin)
            && admin.port() == Some(port.get())
        {
            c.error("hub.admin", format!("uses port {port}, which is hub.port; the hub would fail to start"));
        }
        if let Some(fpm) = php_fpm.as_ref().and_then(FastcgiAddress::loopback_port) {
            if port.is_some_and(|p| p.get() == fpm) {
                c.error("symfony.php_fpm", format!("uses port {fpm}, which is hub.port"));
            }
            if admin.as_ref().and_then(AdminAddress::port) == Some(fpm) {
                c.error("symfony.php_fpm", format!("uses port {fpm}, which is the hub's admin port (hub.admin)"));
            }
        }

        // Every field was parsed above so that all problems are reported together;
        // only now does the first missing one stop the build.
        let answers = (|| {
            Some(Answers {
                topology: topology?,
                domain: domain?,
                public_tls: PublicTls {
                    certificate: certificate?,
                    certificate_key: certificate_key?,
                    acme_webroot: acme_webroot?,
                },
                hub: Hub {
                    port: port?,
                    tls_name: tls_name?,
                    admin: admin?,
                    heartbeat: heartbeat?,
                    history_size: history_size?,
                    binary: binary?,
                    user: user?,
                    anonymous: anonymous?,
                    subscriptions: subscriptions?,
                    cors_origins: cors_origins?,
                    publish_origins: publish_origins?,
                },
                jwt_algorithm: jwt_algorithm?,
                symfony: Symfony { project_dir: project_dir?, php_fpm: php_fpm? },
                nginx: NginxAnswers { version: version?, expected_subscribers: expected_subscribers? },
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
        for q in QUESTIONS {
            let value = self.raw_value(q.key);
            d.set(q.key, value, None);
        }
        d
    }

    fn raw_value(&self, key: &str) -> RawValue {
        let s = |v: &dyn fmt::Display| RawValue::Scalar(v.to_string());
        let list = |v: Vec<&str>| RawValue::List(v.into_iter().map(str::to_string).collect());
        let h = &self.hub;
        match key {
            "topology" => s(&self.topology),
            "domain" => s(&self.domain),
            "public_tls.certificate" => s(&self.public_tls.certificate.as_str()),
            "public_tls.certificate_key" => s(&self.public_tls.certificate_key.as_str()),
            "public_tls.acme_webroot" => s(&self.public_tls.acme_webroot.as_str()),
            "hub.port" => s(&h.port),
            "hub.tls_name" => s(&h.tls_name),
            "hub.admin" => s(&h.admin.as_str()),
            "hub.heartbeat" => s(&h.heartbeat.text),
            "hub.history_size" => s(&h.history_size),
            "hub.binary" => s(&h.binary.as_str()),
            "hub.user" => s(&h.user.as_str()),
            "hub.anonymous" => s(&h.anonymous),
            "hub.subscriptions" => s(&h.subscriptions),
            "hub.cors_origins" => list(h.cors_origins.iter().map(CorsOrigin::as_str).collect()),
            "hub.publish_origins" => list(h.publish_origins.iter().map(Origin::as_str).collect()),
            "jwt.algorithm" => s(&self.jwt_algorithm.as_str()),
            "symfony.project_dir" => s(&self.symfony.project_dir.as_str()),
            "symfony.php_fpm" => s(&self.symfony.php_fpm.as_str()),
            "nginx.version" => match self.nginx.version {
                NginxVersionChoice::Auto => s(&"auto"),
                NginxVersionChoice::Known(v) => s(&v),
            },
            "nginx.expected_subscribers" => s(&self.nginx.expected_subscribers),
            _ => RawValue::Scalar(String::new()),
        }
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
    fn round_trip_through_draft() {
        let (a, _) =
            Answers::from_draft(&draft(&[("domain", "a.com"), ("hub.cors_origins", "https://x.com")])).unwrap();
        let (b, _) = Answers::from_draft(&a.to_draft()).unwrap();
        assert_eq!(a, b);
    }
}
