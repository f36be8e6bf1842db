//! `mercure-setup loadtest [BUNDLE]`: its flags, with the public URL and token read from
//! the bundle unless given, turned into the run's [`loadtest::Options`].

use std::path::PathBuf;

use crate::bundle::paths;
use crate::bundle_dir::{BundleDir, LoadError};
use crate::error::Error;
use crate::loadtest;
use crate::net::ReachArgs;
use crate::plan::Plan;
use crate::values::Duration as DurationArg;

/// The bundle cannot give what the flags left out: the user's input, so a usage error
/// (answers that do not validate keep their own listing).
#[derive(Debug, thiserror::Error)]
pub enum ArgsError {
    #[error(
        "{0}\n(loadtest reads the public URL and token from a bundle: give BUNDLE, or --public-url and --token-file)"
    )]
    Bundle(#[from] LoadError),
}

impl From<ArgsError> for Error {
    fn from(e: ArgsError) -> Self {
        match e {
            ArgsError::Bundle(LoadError::Answers { errors, .. }) => Error::InvalidAnswers(errors),
            e @ ArgsError::Bundle(_) => Error::Usage(e.to_string()),
        }
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// A rendered bundle, for the public URL and the publisher token [default: .].
    #[arg(value_name = "BUNDLE")]
    pub bundle: Option<PathBuf>,
    /// The public hub URL, e.g. `https://app.example.com/.well-known/mercure` [default: from BUNDLE].
    #[arg(long, value_name = "URL", value_parser = crate::net::Url::parse)]
    pub public_url: Option<crate::net::Url>,
    /// A publisher JWT [default: BUNDLE/tokens/publisher.jwt].
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// A subscriber JWT (default: the publisher token, which the hub also accepts for public updates).
    #[arg(long, value_name = "FILE")]
    pub subscriber_token_file: Option<PathBuf>,
    /// Concurrent subscriptions to open.
    #[arg(long, default_value_t = 100)]
    pub subscribers: u32,
    /// Updates to publish once the subscriptions are up.
    #[arg(long, default_value_t = 10)]
    pub updates: u32,
    /// Updates per second.
    #[arg(long, default_value_t = 1.0)]
    pub rate: f64,
    /// Hard limit for the whole run (ramp-up, publishing, draining).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = DurationArg::parse)]
    pub duration: DurationArg,
    /// Connection attempts in flight at once during ramp-up.
    #[arg(long, default_value_t = 200)]
    pub concurrency: u32,
    /// How long one connection may take to connect and answer.
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = DurationArg::parse)]
    pub connect_timeout: DurationArg,
    /// Publish here instead of the public URL (e.g. the hub directly).
    #[arg(long, value_name = "URL", value_parser = crate::net::Url::parse)]
    pub publish_url: Option<crate::net::Url>,
    #[command(flatten)]
    pub reach: ReachArgs,
    /// Subscribe over HTTP/2 (https only), one connection per subscriber as browser
    /// tabs of different users have; without it, HTTP/1.1.
    #[arg(long)]
    pub http2: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also write the report as a self-contained HTML page with plots (no scripts, no network).
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,
    /// Spread the subscribers over this many client processes, each under its own
    /// descriptor limit, and merge their reports (for more subscribers than one
    /// process may hold connections).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub processes: u32,
}

impl Args {
    /// The run's options: what was not given is read from the bundle.
    fn resolve(self) -> Result<loadtest::Options, Error> {
        let (public_url, token_file) = match (self.public_url.clone(), self.token_file.clone()) {
            (Some(url), Some(token)) if self.bundle.is_none() => (url, token),
            (url, token) => {
                let dir = self.bundle.clone().unwrap_or_else(|| PathBuf::from("."));
                let from_bundle = || -> Result<BundleDir, ArgsError> { Ok(BundleDir::open(&dir)?) };
                let url = match url {
                    Some(u) => u,
                    None => {
                        let plan = Plan::new(from_bundle()?.answers, None);
                        crate::net::Url::parse(&plan.public_hub_url)?
                    }
                };
                let token = match token {
                    Some(t) => t,
                    None => from_bundle()?.path(paths::PUBLISHER_TOKEN),
                };
                (url, token)
            }
        };
        Ok(self.into_options(public_url, token_file))
    }

    fn into_options(self, public_url: crate::net::Url, token_file: PathBuf) -> loadtest::Options {
        let args = self;
        loadtest::Options {
            public_url,
            token_file,
            subscriber_token_file: args.subscriber_token_file,
            subscribers: args.subscribers,
            updates: args.updates,
            rate: args.rate,
            duration: args.duration,
            concurrency: args.concurrency,
            connect_timeout: args.connect_timeout,
            publish_url: args.publish_url,
            reach: args.reach,
            http2: args.http2,
            json: args.json,
            report: args.report,
            processes: args.processes,
        }
    }
}

pub fn exec(args: Args) -> Result<(), Error> {
    loadtest::run(&args.resolve()?)
}
