//! What `doctor` probes: settings read from a bundle (answers.yaml through the same
//! validation and plan as `render`, the CA, tokens and env files beside it),
//! overridden by flags.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::bundle::paths;
use crate::bundle_dir::{BundleDir, LoadError};
use crate::deployment::{HubFacts, HubLine, Topology};
use crate::diagnosis::Names;
use crate::error::Error;
use crate::formats;
use crate::net::{FlagError, ReachArgs, Resolver, Url, UrlError, read_token, std_duration};
use crate::plan::Plan;
use crate::values::JwtAlgorithm;

/// Why the flags and bundle name nothing doctor can probe: all the user's input, so
/// usage errors (answers that do not validate keep their own listing).
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error(transparent)]
    Bundle(#[from] LoadError),
    #[error(transparent)]
    Url(#[from] UrlError),
    #[error("doctor needs a BUNDLE (default: the current folder) or --public-url URL")]
    NoPublicUrl,
    #[error("doctor needs a BUNDLE (default: the current folder) or --hub-url URL")]
    NoHubUrl,
    #[error("--hub-url {hub_url}: give the hub path, e.g. /.well-known/mercure")]
    NoHubPath { hub_url: Url },
    #[error(transparent)]
    Flag(#[from] FlagError),
}

impl From<TargetError> for Error {
    fn from(e: TargetError) -> Self {
        match e {
            TargetError::Bundle(LoadError::Answers { errors, .. }) => Error::InvalidAnswers(errors),
            TargetError::Url(e) => e.into(),
            TargetError::Flag(e) => e.into(),
            e => Error::Usage(e.to_string()),
        }
    }
}

/// What a doctor run is asked to probe (`doctor`'s flags, or `apply` after it goes
/// live), before it is combined with the bundle.
#[derive(Debug, Clone)]
pub struct Options {
    /// A rendered bundle: URLs, ports, topology, CA and tokens are read from it.
    pub bundle: Option<PathBuf>,
    /// The public hub URL (default: `https://DOMAIN/.well-known/mercure` from the bundle).
    pub public_url: Option<Url>,
    /// The hub's own URL on this machine (default: from the bundle's topology and port).
    pub hub_url: Option<Url>,
    /// The private CA that signed the hub certificate (default: mercure/tls/ca.crt).
    pub ca: Option<PathBuf>,
    /// The name the hub certificate must carry and that is sent as SNI (default: `hub.tls_name`).
    pub tls_name: Option<String>,
    /// A publisher JWT (default: tokens/publisher.jwt).
    pub token_file: Option<PathBuf>,
    /// A subscriber JWT (default: tokens/subscriber.jwt, else the publisher token).
    pub subscriber_token_file: Option<PathBuf>,
    pub reach: ReachArgs,
    /// Hold an idle subscription this long (e.g. 75s) to catch proxy read timeouts.
    pub idle: Option<crate::values::Duration>,
    /// A browser origin to send a CORS preflight from (repeatable; default: `hub.cors_origins`).
    pub origins: Vec<String>,
    /// The installed nginx site file, to explain a 502 (default: /etc/nginx/sites-enabled/DOMAIN.conf if present).
    pub nginx_conf: Option<PathBuf>,
    /// nginx's error log, read for the cause of a 502 (default: /var/log/nginx/error.log if readable).
    pub nginx_error_log: Option<PathBuf>,
    /// How long each connection and response may take.
    pub timeout: crate::values::Duration,
    /// Print the results as JSON for scripts.
    pub json: bool,
}

impl Default for Options {
    /// No bundle and no flags, with the command line's default `--timeout`.
    fn default() -> Self {
        Options {
            bundle: None,
            public_url: None,
            hub_url: None,
            ca: None,
            tls_name: None,
            token_file: None,
            subscriber_token_file: None,
            reach: ReachArgs::default(),
            idle: None,
            origins: Vec::new(),
            nginx_conf: None,
            nginx_error_log: None,
            timeout: crate::values::Duration { text: "5s".into(), millis: 5_000 },
            json: false,
        }
    }
}

/// `MERCURE_URL` and the signing key from symfony/.env.local.
#[derive(Debug, Clone)]
pub struct SymfonyEnv {
    pub mercure_url: String,
    /// `MERCURE_JWT_SECRET` (HMAC only; ES256 keeps a key file instead).
    pub secret: Option<String>,
    /// symfony/config/jwt/mercure-private.pem (ES256), if the bundle has it.
    pub private_pem: Option<String>,
}

/// Everything the probes need, resolved.
#[derive(Debug, Clone)]
pub struct Settings {
    pub names: Names,
    pub topology: String,
    pub public_url: Url,
    pub hub_url: Url,
    pub hub_tls: bool,
    pub tls_name: String,
    pub ca_pem: Option<String>,
    pub bundle_hub_cert: Option<String>,
    pub publisher_token: Option<String>,
    pub subscriber_token: Option<String>,
    pub public_ca_pem: Option<String>,
    pub resolver: Resolver,
    pub idle: Option<Duration>,
    pub origins: Vec<String>,
    pub symfony: Option<SymfonyEnv>,
    /// The bundle, opened as `check` opens it (its files are compared by `bundle.secrets`).
    pub bundle: Option<BundleDir>,
    pub algorithm: Option<JwtAlgorithm>,
    /// The public URL the bundle was rendered for (`MERCURE_URL` may name it).
    pub bundle_public_url: Option<String>,
    /// The hub release line the bundle was rendered for (0.24 without a bundle): how to
    /// subscribe (`topic=` or `match=`), which tokens to sign, how to read refusals.
    pub hub: HubFacts,
    /// The hub's admin API from the bundle (`hub.admin`), where doctor reads
    /// `/mercure/health/ready`; `None` without a bundle.
    pub hub_admin: Option<crate::values::AdminAddress>,
    /// A 1.0 hub's trusted issuer and audience (for the domain).
    pub hub_issuer: String,
    pub hub_audience: String,
    pub nginx_conf: Option<PathBuf>,
    pub nginx_error_log: Option<PathBuf>,
    pub timeout: Duration,
    pub json: bool,
}

fn read(path: &Path) -> Result<String, TargetError> {
    crate::output::read_user_file(path, crate::output::READ_CAP)
        .map_err(crate::net::flags::unreadable(path))
        .map_err(TargetError::Flag)
}

fn read_optional(path: &Path) -> Option<String> {
    crate::output::read_user_file(path, crate::output::READ_CAP).ok()
}

impl Settings {
    /// Why a 1.0 hub refused a request with `query` and `token`, from its answer.
    pub fn bearer_cause(
        &self,
        head: &crate::net::Head,
        query: &str,
        token: Option<&str>,
    ) -> Option<crate::bearer::Cause> {
        if !self.hub.bearer_errors {
            return None;
        }
        let expected = crate::bearer::Expected {
            hub: self.hub,
            issuer: &self.hub_issuer,
            audience: &self.hub_audience,
            now: time::OffsetDateTime::now_utc().unix_timestamp(),
        };
        crate::bearer::explain(head.status, head.header("www-authenticate"), query, token, &expected)
    }

    // One linear read of the bundle and flags; splitting it would only scatter the defaults.
    #[allow(clippy::too_many_lines)]
    pub fn resolve(args: &Options) -> Result<Settings, TargetError> {
        let bundle = match &args.bundle {
            Some(dir) => Some(BundleDir::open(dir)?),
            None => None,
        };
        // The nginx version only changes syntax, never a URL or port.
        let plan = bundle.as_ref().map(|b| Plan::new(b.answers.clone(), None));
        let bundle_file = |rel: &str| bundle.as_ref().map(|b| b.path(rel));

        let public_url = match (&args.public_url, &plan) {
            (Some(u), _) => u.clone(),
            (None, Some(p)) => Url::parse(&p.public_hub_url)?,
            (None, None) => return Err(TargetError::NoPublicUrl),
        };
        let hub_url = match (&args.hub_url, &plan) {
            (Some(u), _) => u.clone(),
            (None, Some(p)) => Url::parse(&format!("{}/.well-known/mercure", p.hub_upstream))?,
            (None, None) => return Err(TargetError::NoHubUrl),
        };
        if hub_url.path == "/" {
            return Err(TargetError::NoHubPath { hub_url });
        }
        let hub_tls = hub_url.https;
        let tls_name =
            args.tls_name.clone().or_else(|| plan.as_ref().map(|p| p.hub_tls_name.clone())).unwrap_or_else(|| {
                if hub_url.host.parse::<std::net::IpAddr>().is_ok() { "localhost".into() } else { hub_url.host.clone() }
            });

        let ca_pem = match (&args.ca, bundle_file(paths::CA_CERT)) {
            (Some(p), _) => Some(read(p)?),
            (None, Some(p)) if hub_tls => read_optional(&p),
            _ => None,
        };
        let bundle_hub_cert = bundle_file(paths::HUB_CERT).and_then(|p| read_optional(&p));
        let publisher_token = match (&args.token_file, bundle_file(paths::PUBLISHER_TOKEN)) {
            (Some(p), _) => Some(read_token(p)?),
            (None, Some(p)) => read_optional(&p).map(|t| t.trim().to_string()),
            _ => None,
        };
        let subscriber_token = match (&args.subscriber_token_file, bundle_file(paths::SUBSCRIBER_TOKEN)) {
            (Some(p), _) => Some(read_token(p)?),
            (None, Some(p)) => read_optional(&p).map(|t| t.trim().to_string()),
            _ => None,
        }
        .or_else(|| publisher_token.clone());
        let public_ca_pem = args.reach.public_ca_pem()?;
        let resolver = args.reach.resolver();
        let idle = args.idle.as_ref().map(std_duration);
        let timeout = std_duration(&args.timeout);
        let origins = if args.origins.is_empty() {
            plan.as_ref().map(|p| p.cors_origins.iter().filter(|o| *o != "*").cloned().collect()).unwrap_or_default()
        } else {
            args.origins.clone()
        };
        let symfony = match bundle.as_ref().map(|b| b.read(paths::ENV_LOCAL)) {
            Some(Ok(text)) => {
                // A file that does not parse is reported by `bundle.secrets`.
                let mut env = formats::parse_env(&text).unwrap_or_default();
                env.remove("MERCURE_URL").map(|mercure_url| SymfonyEnv {
                    mercure_url,
                    secret: env.remove("MERCURE_JWT_SECRET"),
                    private_pem: bundle_file(paths::SYMFONY_PRIVATE_KEY).and_then(|p| read_optional(&p)),
                })
            }
            _ => None,
        };
        let domain = plan.as_ref().map_or_else(|| public_url.host.clone(), |p| p.domain.clone());
        let nginx_conf = args.nginx_conf.clone().or_else(|| {
            let installed = PathBuf::from(format!("/etc/nginx/sites-enabled/{domain}.conf"));
            installed.is_file().then_some(installed)
        });
        let nginx_error_log = args.nginx_error_log.clone().or_else(|| {
            let default = PathBuf::from("/var/log/nginx/error.log");
            std::fs::File::open(&default).is_ok().then_some(default)
        });
        let names = Names {
            site_file: paths::nginx_site(&domain),
            domain,
            hub_port: hub_url.port,
            tls_name: tls_name.clone(),
            tls: hub_tls,
            heartbeat: plan.as_ref().map_or_else(|| "40s".into(), |p| p.hub_heartbeat.clone()),
        };
        let (hub_issuer, hub_audience) = (HubFacts::issuer(&names.domain), HubFacts::audience(&names.domain));
        Ok(Settings {
            names,
            topology: plan.as_ref().map_or_else(
                // Without a bundle, the topology whose hub speaks the URL's scheme.
                || Topology::ALL.into_iter().find(|t| t.facts().hub_tls == hub_tls).unwrap_or_default().to_string(),
                |p| p.topology.to_string(),
            ),
            public_url,
            hub_url,
            hub_tls,
            tls_name,
            ca_pem,
            bundle_hub_cert,
            publisher_token,
            subscriber_token,
            public_ca_pem,
            resolver,
            idle,
            origins,
            symfony,
            bundle,
            algorithm: plan.as_ref().map(|p| p.answers.jwt_algorithm),
            bundle_public_url: plan.as_ref().map(|p| p.public_hub_url.clone()),
            hub: plan.as_ref().map_or_else(|| HubLine::V0_24.facts(), |p| p.hub),
            hub_admin: plan.as_ref().map(|p| p.answers.hub.admin.clone()),
            hub_issuer,
            hub_audience,
            nginx_conf,
            nginx_error_log,
            timeout,
            json: args.json,
        })
    }

    /// Where Symfony publishes: `MERCURE_URL`, except that the bundle's public URL
    /// becomes `--public-url` (so `--resolve`/test ports apply to it too).
    pub fn symfony_url(&self) -> Option<Result<Url, UrlError>> {
        let s = self.symfony.as_ref()?;
        if self.bundle_public_url.as_deref() == Some(s.mercure_url.as_str()) {
            return Some(Ok(self.public_url.clone()));
        }
        Some(Url::parse(&s.mercure_url))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_alone_are_enough_and_required() {
        let args = Options {
            public_url: Some(Url::parse("https://app.example.com:8443/.well-known/mercure").unwrap()),
            hub_url: Some(Url::parse("http://127.0.0.1:3000/.well-known/mercure").unwrap()),
            reach: ReachArgs {
                resolve: vec![crate::net::ResolveEntry::parse("app.example.com:8443:127.0.0.1").unwrap()],
                public_ca: None,
            },
            idle: Some(crate::values::Duration::parse("75s").unwrap()),
            ..Options::default()
        };
        let s = Settings::resolve(&args).unwrap();
        assert!(!s.hub_tls);
        assert_eq!(s.idle, Some(Duration::from_secs(75)));
        assert_eq!(s.names.hub_port, 3000);
        assert_eq!(s.topology, "same-host-http");
        let err = Settings::resolve(&Options::default()).unwrap_err();
        assert_eq!(err.to_string(), "doctor needs a BUNDLE (default: the current folder) or --public-url URL");
        assert_eq!(Error::from(err).exit_code(), crate::error::EXIT_USAGE);
        let no_path = Options { hub_url: Some(Url::parse("http://127.0.0.1:3000").unwrap()), ..args.clone() };
        let err = Settings::resolve(&no_path).unwrap_err();
        assert_eq!(err.to_string(), "--hub-url http://127.0.0.1:3000/: give the hub path, e.g. /.well-known/mercure");
        let unreadable = Options { token_file: Some(PathBuf::from("/nonexistent/token")), ..args };
        let err = Error::from(Settings::resolve(&unreadable).unwrap_err());
        assert!(err.to_string().starts_with("cannot read /nonexistent/token: "), "{err}");
        assert_eq!(err.exit_code(), crate::error::EXIT_USAGE);
    }
}
