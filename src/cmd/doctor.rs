//! `mercure-setup doctor [BUNDLE]`: its flags, turned into the probes' [`doctor::Options`].

use std::path::{Path, PathBuf};

use crate::doctor;
use crate::error::Error;
use crate::net::ReachArgs;

/// The flags `doctor` takes, before they are combined with the bundle.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// A rendered bundle: URLs, ports, topology, CA and tokens are read from it
    /// [default: ., unless --public-url and --hub-url are given and . holds no bundle].
    #[arg(value_name = "BUNDLE")]
    pub bundle: Option<PathBuf>,
    /// The old spelling of BUNDLE, kept for one release.
    #[arg(long = "bundle", value_name = "DIR", hide = true, conflicts_with = "bundle")]
    pub bundle_flag: Option<PathBuf>,
    /// The public hub URL (default: `https://DOMAIN/.well-known/mercure` from the bundle).
    #[arg(long, value_name = "URL", value_parser = crate::net::Url::parse)]
    pub public_url: Option<crate::net::Url>,
    /// The hub's own URL on this machine (default: from the bundle's topology and port).
    #[arg(long, value_name = "URL", value_parser = crate::net::Url::parse)]
    pub hub_url: Option<crate::net::Url>,
    /// The private CA that signed the hub certificate (default: mercure/tls/ca.crt).
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// The name the hub certificate must carry and that is sent as SNI (default: `hub.tls_name`).
    #[arg(long, value_name = "NAME")]
    pub tls_name: Option<String>,
    /// A publisher JWT (default: tokens/publisher.jwt).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// A subscriber JWT (default: tokens/subscriber.jwt, else the publisher token).
    #[arg(long, value_name = "FILE")]
    pub subscriber_token_file: Option<PathBuf>,
    #[command(flatten)]
    pub reach: ReachArgs,
    /// Hold an idle subscription this long (e.g. 75s) to catch proxy read timeouts.
    #[arg(long, value_name = "DURATION", value_parser = crate::values::Duration::parse)]
    pub idle: Option<crate::values::Duration>,
    /// A browser origin to send a CORS preflight from (repeatable; default: `hub.cors_origins`).
    #[arg(long = "origin", value_name = "ORIGIN")]
    pub origins: Vec<String>,
    /// The installed nginx site file, to explain a 502 (default: /etc/nginx/sites-enabled/DOMAIN.conf if present).
    #[arg(long, value_name = "FILE")]
    pub nginx_conf: Option<PathBuf>,
    /// nginx's error log, read for the cause of a 502 (default: /var/log/nginx/error.log if readable).
    #[arg(long, value_name = "FILE")]
    pub nginx_error_log: Option<PathBuf>,
    /// How long each connection and response may take.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = crate::values::Duration::parse)]
    pub timeout: crate::values::Duration,
    /// Print the results as JSON for scripts.
    #[arg(long)]
    pub json: bool,
}

impl From<Args> for doctor::Options {
    fn from(args: Args) -> doctor::Options {
        let bundle = match (args.bundle, args.bundle_flag) {
            (Some(dir), _) => Some(dir),
            (None, Some(dir)) => {
                crate::ui::deprecated("doctor --bundle DIR", "doctor DIR");
                Some(dir)
            }
            // Both URLs given by hand and no bundle here: probe without one.
            (None, None) if args.public_url.is_some() && args.hub_url.is_some() && !is_bundle(Path::new(".")) => None,
            (None, None) => Some(PathBuf::from(".")),
        };
        doctor::Options {
            bundle,
            public_url: args.public_url,
            hub_url: args.hub_url,
            ca: args.ca,
            tls_name: args.tls_name,
            token_file: args.token_file,
            subscriber_token_file: args.subscriber_token_file,
            reach: args.reach,
            idle: args.idle,
            origins: args.origins,
            nginx_conf: args.nginx_conf,
            nginx_error_log: args.nginx_error_log,
            timeout: args.timeout,
            json: args.json,
        }
    }
}

/// A folder `render` wrote (it holds the resolved answers).
fn is_bundle(dir: &Path) -> bool {
    dir.join(crate::bundle::paths::ANSWERS).is_file()
}

pub fn exec(args: Args) -> Result<(), Error> {
    doctor::run(&args.into())
}
