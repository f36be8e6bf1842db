//! What a load test is asked to do ([`Options`]), and the run that makes of it
//! ([`RunSpec`]): bounds checked, tokens read and TLS set up before anything connects.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::error::Error;
use crate::net::{self, FlagError, ReachArgs, Resolver, TlsError, TlsTarget, Url, read_token, std_duration};
use crate::values::Duration as DurationArg;

pub const MAX_SUBSCRIBERS: u32 = 200_000;
pub const MAX_UPDATES: u32 = 100_000;
/// Largest `--subscribers` x `--updates`: bounds the per-subscriber delivery bitmaps
/// (12.5 MB in all) and the run's total work.
pub const MAX_DELIVERIES: u64 = 100_000_000;
/// Longest `--duration` accepted.
const MAX_DURATION: Duration = Duration::from_secs(3600);
/// Why the flags ask for no run: out-of-bounds numbers, unreadable files and unusable
/// TLS settings are the user's input (usage errors); rustls refusing its own
/// configuration is a failure (see [`TlsError`]).
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("--subscribers must be 1..={MAX_SUBSCRIBERS}")]
    Subscribers,
    #[error("--updates must be at most {MAX_UPDATES}")]
    Updates,
    #[error(
        "--subscribers x --updates must be at most {MAX_DELIVERIES} ({subscribers} x {updates} asks for {} deliveries): lower one of them",
        u64::from(*.subscribers) * u64::from(*.updates)
    )]
    Deliveries { subscribers: u32, updates: u32 },
    #[error("--rate must be above 0 and at most 10000 updates/s")]
    Rate,
    #[error("--duration must be above 0 and at most 1h")]
    Duration,
    #[error("--http2 needs an https:// --public-url (HTTP/2 is negotiated in TLS)")]
    Http2NeedsHttps,
    #[error(transparent)]
    Flag(#[from] FlagError),
    #[error(transparent)]
    Tls(#[from] TlsError),
}

impl From<SpecError> for Error {
    fn from(e: SpecError) -> Self {
        match e {
            SpecError::Tls(e) => e.into(),
            SpecError::Flag(e) => e.into(),
            e => Error::Usage(e.to_string()),
        }
    }
}

/// What a load test is asked to do (`loadtest`'s flags), before it is checked.
#[derive(Debug, Clone)]
pub struct Options {
    /// The public hub URL, e.g. `https://app.example.com/.well-known/mercure`.
    pub public_url: Url,
    /// A publisher JWT (the bundle's tokens/publisher.jwt).
    pub token_file: PathBuf,
    /// A subscriber JWT (default: the publisher token, which the hub also accepts for public updates).
    pub subscriber_token_file: Option<PathBuf>,
    /// Concurrent subscriptions to open.
    pub subscribers: u32,
    /// Updates to publish once the subscriptions are up.
    pub updates: u32,
    /// Updates per second.
    pub rate: f64,
    /// Hard limit for the whole run (ramp-up, publishing, draining).
    pub duration: DurationArg,
    /// Connection attempts in flight at once during ramp-up.
    pub concurrency: u32,
    /// How long one connection may take to connect and answer.
    pub connect_timeout: DurationArg,
    /// Publish here instead of the public URL (e.g. the hub directly).
    pub publish_url: Option<Url>,
    pub reach: ReachArgs,
    /// Subscribe over HTTP/2 (https only), one connection per subscriber as browser
    /// tabs of different users have; without it, HTTP/1.1.
    pub http2: bool,
    /// Print the report as JSON.
    pub json: bool,
    /// Also write the report as a self-contained HTML page with plots (no scripts, no network).
    pub report: Option<PathBuf>,
    /// Client processes to spread the subscribers over (1: this one).
    pub processes: u32,
}

/// One run, as the flags ask for it: validated, tokens read, TLS set up.
pub(super) struct RunSpec {
    pub(super) url: Url,
    pub(super) publish_url: Url,
    pub(super) tls: Option<TlsTarget>,
    pub(super) publish_tls: Option<TlsTarget>,
    pub(super) resolver: Resolver,
    pub(super) publisher_token: String,
    pub(super) subscriber_token: String,
    pub(super) subscribers: u32,
    pub(super) updates: u32,
    pub(super) rate: f64,
    pub(super) duration: Duration,
    pub(super) concurrency: u32,
    pub(super) connect_timeout: Duration,
    pub(super) json: bool,
    pub(super) http2: bool,
    pub(super) topic: String,
    /// `topic` (0.x) or `match` (a Mercure 1.0 subscriber token), see [`crate::jwt::subscribe_param_for`].
    pub(super) subscribe_param: &'static str,
}

/// TLS for `url` (None for http://), offering HTTP/2 alone in ALPN when `http2`.
fn tls_for(url: &Url, roots: Option<&rustls::RootCertStore>, http2: bool) -> Result<Option<TlsTarget>, TlsError> {
    if !url.https {
        return Ok(None);
    }
    let roots = match roots {
        Some(r) => r.clone(),
        None => net::native_roots()?,
    };
    let (mut config, _) = net::tls_config(roots, true)?;
    if http2 {
        let mut h2 = (*config).clone();
        h2.alpn_protocols = vec![b"h2".to_vec()];
        config = Arc::new(h2);
    }
    Ok(Some(TlsTarget::new(config, &url.host)?))
}

impl RunSpec {
    pub(super) fn from_options(a: &Options) -> Result<RunSpec, SpecError> {
        let url = a.public_url.clone();
        let publish_url = a.publish_url.clone().unwrap_or_else(|| url.clone());
        if a.subscribers == 0 || a.subscribers > MAX_SUBSCRIBERS {
            return Err(SpecError::Subscribers);
        }
        if a.updates > MAX_UPDATES {
            return Err(SpecError::Updates);
        }
        if u64::from(a.subscribers) * u64::from(a.updates) > MAX_DELIVERIES {
            return Err(SpecError::Deliveries { subscribers: a.subscribers, updates: a.updates });
        }
        if !(a.rate > 0.0 && a.rate <= 10_000.0) {
            return Err(SpecError::Rate);
        }
        let d = std_duration(&a.duration);
        if d.is_zero() || d > MAX_DURATION {
            return Err(SpecError::Duration);
        }
        let roots = a.reach.public_ca_pem()?.map(|pem| net::roots_from_pem(&pem, "--public-ca")).transpose()?;
        let publisher_token = read_token(&a.token_file)?;
        let subscriber_token =
            a.subscriber_token_file.as_deref().map_or_else(|| Ok(publisher_token.clone()), read_token)?;
        if a.http2 && !url.https {
            return Err(SpecError::Http2NeedsHttps);
        }
        Ok(RunSpec {
            tls: tls_for(&url, roots.as_ref(), a.http2)?,
            publish_tls: tls_for(&publish_url, roots.as_ref(), false)?,
            url,
            publish_url,
            resolver: a.reach.resolver(),
            publisher_token,
            subscribers: a.subscribers,
            updates: a.updates,
            rate: a.rate,
            duration: d,
            concurrency: a.concurrency.max(1),
            connect_timeout: std_duration(&a.connect_timeout),
            json: a.json,
            http2: a.http2,
            topic: format!("https://mercure-setup.invalid/loadtest/{}", net::publish::nonce_hex(6)),
            subscribe_param: crate::jwt::subscribe_param_for(&subscriber_token),
            subscriber_token,
        })
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(in crate::loadtest) fn args() -> Options {
        Options {
            public_url: Url::parse("http://127.0.0.1:1/.well-known/mercure").unwrap(),
            token_file: PathBuf::from("/nonexistent"),
            subscriber_token_file: None,
            subscribers: 10,
            updates: 1,
            rate: 1.0,
            duration: DurationArg::parse("10s").unwrap(),
            concurrency: 10,
            connect_timeout: DurationArg::parse("1s").unwrap(),
            publish_url: None,
            reach: ReachArgs::default(),
            http2: false,
            json: false,
            report: None,
            processes: 1,
        }
    }

    pub(in crate::loadtest) fn spec() -> RunSpec {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("t");
        std::fs::write(&token, "x\n").unwrap();
        RunSpec::from_options(&Options {
            public_url: Url::parse("https://app.example.com/.well-known/mercure").unwrap(),
            token_file: token,
            ..args()
        })
        .unwrap()
    }

    #[test]
    fn bounds_are_enforced() {
        let bad = |f: &dyn Fn(&mut Options)| {
            let mut a = args();
            f(&mut a);
            RunSpec::from_options(&a).err().map(|e| e.to_string()).unwrap_or_default()
        };
        assert!(bad(&|a| a.subscribers = 0).contains("--subscribers"));
        assert!(bad(&|a| a.subscribers = MAX_SUBSCRIBERS + 1).contains("--subscribers"));
        assert!(bad(&|a| a.updates = MAX_UPDATES + 1).contains("--updates"));
        let both = bad(&|a| {
            a.subscribers = MAX_SUBSCRIBERS;
            a.updates = MAX_UPDATES;
        });
        assert!(both.contains("--subscribers x --updates must be at most 100000000"), "{both}");
        assert!(bad(&|a| a.rate = 0.0).contains("--rate"));
        assert!(bad(&|a| a.duration = DurationArg::parse("2h").unwrap()).contains("--duration"));
        assert!(bad(&|_| {}).contains("/nonexistent"));
        // Every refusal of the flags is a usage error.
        let e = Error::from(RunSpec::from_options(&Options { subscribers: 0, ..args() }).err().unwrap());
        assert_eq!(e.exit_code(), crate::error::EXIT_USAGE);
        let e = Error::from(RunSpec::from_options(&args()).err().unwrap());
        assert_eq!(
            (e.exit_code(), e.to_string().starts_with("cannot read /nonexistent: ")),
            (crate::error::EXIT_USAGE, true)
        );
    }
}
