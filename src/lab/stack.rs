//! A real Mercure-behind-nginx stack on loopback, built from a rendered bundle:
//! nginx with the bundle's site (public TLS from the lab CA, ports remapped), the
//! real Mercure hub running the bundle's Caddyfile (only ports and paths adapted)
//! with the keys from `mercure.env`. The lab and the integration tests both run it.
//!
//! Every server listens on 127.0.0.1 on a free port, is waited for by polling its
//! port, and is killed by PID when its guard drops; the temporary folder goes last.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::answers::Answers;
use crate::answers_file;
use crate::bundle::paths;
use crate::bundle_dir::BundleDir;
use crate::check::adapt::{self, CaddyAdapt, Http2Form, NginxAdapt};
use crate::check::tools;
use crate::formats as parse;
use crate::generate;

use super::LabError;
use super::process::{ChildGuard, STARTUP, free_port, read_lossy, start_server, wait_for_port_closed};
use super::tls::{PublicTls, public_tls};

/// The two programs the stack runs, found before anything starts.
#[derive(Debug, Clone)]
pub struct Programs {
    pub nginx: PathBuf,
    pub hub: PathBuf,
}

/// A rendered bundle in its own temporary folder (`TMP/bundle`).
pub struct Rendered {
    pub tmp: tempfile::TempDir,
    pub bundle: BundleDir,
}

impl Rendered {
    /// Renders answers-file `text` (`shown` names it in errors) with `--set`-style
    /// overrides through the same answers -> plan -> render -> write path as `render`.
    pub fn from_answers(text: &str, shown: &str, sets: &[String]) -> Result<Rendered, LabError> {
        Self::render(load_answers(text, shown, sets)?)
    }

    fn render(answers: Answers) -> Result<Rendered, LabError> {
        let tmp = tempfile::Builder::new()
            .prefix("mercure-lab.")
            .tempdir()
            .map_err(|e| LabError::Io(format!("a temporary folder: {e}")))?;
        let out = tmp.path().join("bundle");
        let writing = generate::Writing::begin(&out).map_err(|e| LabError::Render(e.to_string()))?;
        let generated = writing.generate(answers, false).map_err(|e| LabError::Render(e.to_string()))?;
        writing.write(&generated.bundle, false).map_err(|e| LabError::Render(e.to_string()))?;
        let bundle = BundleDir::open(&out).map_err(|e| LabError::Render(format!("the rendered bundle: {e}")))?;
        Ok(Rendered { tmp, bundle })
    }

    pub fn bundle_path(&self) -> PathBuf {
        self.tmp.path().join("bundle")
    }

    pub fn domain(&self) -> String {
        self.bundle.answer("domain").unwrap_or_default()
    }

    pub fn hub_port(&self) -> u16 {
        self.bundle.answer("hub.port").and_then(|p| p.parse().ok()).unwrap_or(0)
    }

    pub fn is_tls(&self) -> bool {
        self.bundle.answer("topology").as_deref() == Some("end-to-end-tls")
    }

    /// The key the hub verifies publishers with (from mercure/mercure.env).
    pub fn hub_secret(&self) -> String {
        self.hub_env().remove("MERCURE_PUBLISHER_JWT_KEY").unwrap_or_default()
    }

    /// mercure/mercure.env as systemd's `EnvironmentFile=` passes it.
    pub fn hub_env(&self) -> std::collections::BTreeMap<String, String> {
        self.bundle
            .read(paths::HUB_ENV)
            .ok()
            .and_then(|t| parse::parse_env(&t).ok())
            .map(|m| m.into_iter().collect())
            .unwrap_or_default()
    }

    /// A token file of the bundle (e.g. `tokens/subscriber.jwt`), trimmed.
    pub fn token(&self, rel: &str) -> String {
        self.bundle.read(rel).map(|t| t.trim().to_string()).unwrap_or_default()
    }

    pub fn cors_origins(&self) -> Vec<String> {
        let Ok(caddy) = self.bundle.read(paths::CADDYFILE) else { return Vec::new() };
        let Ok(tree) = parse::parse_caddyfile(&caddy) else { return Vec::new() };
        parse::caddy_mercure(&tree)
            .and_then(|m| parse::caddy_args(m, "cors_origins"))
            .map(<[String]>::to_vec)
            .unwrap_or_default()
    }
}

/// Answers-file text with overrides, validated as `render` validates a file.
fn load_answers(text: &str, shown: &str, sets: &[String]) -> Result<Answers, LabError> {
    answers_file::load(text, shown, sets)
        .map(|(answers, _)| answers)
        .map_err(|errors| LabError::Render(errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")))
}

/// The real Mercure hub running an (adapted) Caddyfile.
pub struct Hub {
    pub guard: ChildGuard,
    pub port: u16,
    pub log: PathBuf,
    pub caddyfile: PathBuf,
}

impl Hub {
    pub fn log(&self) -> String {
        read_lossy(&self.log)
    }
}

/// Starts the real hub `binary` on `port` with `caddyfile_text` (already adapted), its
/// environment read from the bundle's `mercure.env` as systemd's `EnvironmentFile=`
/// passes it, and its own storage in `dir`.
pub fn start_hub_text(
    binary: &Path,
    r: &Rendered,
    caddyfile_text: &str,
    port: u16,
    dir: &Path,
) -> Result<Hub, LabError> {
    start_hub_env(binary, r, caddyfile_text, port, dir, &unit_environment(r))
}

/// The unit's `Environment=NAME=VALUE` lines (the Go runtime's settings), as systemd passes them.
pub fn unit_environment(r: &Rendered) -> Vec<(String, String)> {
    let unit = r.bundle.read(paths::UNIT).unwrap_or_default();
    unit.lines()
        .filter_map(|l| l.strip_prefix("Environment="))
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// [`start_hub_text`] with `unit_env` as the unit's `Environment=` lines.
pub fn start_hub_env(
    binary: &Path,
    r: &Rendered,
    caddyfile_text: &str,
    port: u16,
    dir: &Path,
    unit_env: &[(String, String)],
) -> Result<Hub, LabError> {
    let io = |e: std::io::Error| LabError::Io(format!("{}: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(io)?;
    let caddyfile = dir.join("Caddyfile");
    std::fs::write(&caddyfile, caddyfile_text).map_err(io)?;
    let mut cmd = Command::new(binary);
    cmd.args(["run", "--adapter", "caddyfile", "--config"]).arg(&caddyfile).env_clear();
    cmd.envs(unit_env.iter().cloned()).envs(r.hub_env());
    // The state folder (the unit's StateDirectory) becomes the stack's folder.
    for var in ["XDG_DATA_HOME", "XDG_CONFIG_HOME", "HOME"] {
        cmd.env(var, dir);
    }
    let log = dir.join("hub.log");
    let guard = start_server("mercure hub", cmd, &log, port)?;
    Ok(Hub { guard, port, log, caddyfile })
}

/// A Caddyfile with its `tls ...` line replaced (an empty `replacement` drops it).
pub fn with_tls_line(caddyfile: &str, replacement: &str) -> String {
    match caddyfile.lines().find(|l| l.trim_start().starts_with("tls ")) {
        Some(line) => caddyfile.replace(line, replacement),
        None => caddyfile.to_string(),
    }
}

/// The mistake people make: a site address naming the host (`https://NAME:PORT`)
/// and no `default_sni`, so a client without SNI matches no site.
pub fn host_named(caddyfile: &str, port: u16) -> String {
    caddyfile
        .replace(&format!("https://:{port} {{"), &format!("https://mercure.internal:{port} {{"))
        .replace("\tdefault_sni mercure.internal\n", "\n")
}

/// The bundle's Caddyfile as the stack runs it: only the TLS folder (`tls_dir`, default
/// the bundle's), the admin endpoint (off: several hubs may run at once) and the
/// storage folder (`state_dir`) change.
pub fn hub_caddyfile(r: &Rendered, tls_dir: Option<&Path>, state_dir: &Path) -> Result<String, LabError> {
    let text = r.bundle.read(paths::CADDYFILE).map_err(LabError::Render)?;
    let tls_dir = tls_dir.map_or_else(|| r.bundle.path("mercure/tls"), Path::to_path_buf);
    let how = CaddyAdapt {
        admin: Some("off".into()),
        ..CaddyAdapt::real_hub(Some(tls_dir.to_string_lossy().into_owned()), state_dir.to_string_lossy().into_owned())
    };
    adapt::adapt_caddyfile(&text, &how).map_err(|e| LabError::Render(format!("adapting the Caddyfile: {e}")))
}

/// nginx in the foreground (single process) with one site.
pub struct Nginx {
    pub guard: ChildGuard,
    pub https_port: u16,
    pub http_port: u16,
    pub prefix: PathBuf,
}

impl Nginx {
    pub fn error_log(&self) -> String {
        read_lossy(&self.prefix.join("error.log"))
    }

    pub fn access_log(&self) -> String {
        let mut all = read_lossy(&self.prefix.join("access.log"));
        if let Ok(rd) = std::fs::read_dir(self.prefix.join("log")) {
            for e in rd.flatten() {
                all.push_str(&read_lossy(&e.path()));
            }
        }
        all
    }
}

/// The site as the stack runs it: loopback ports, the lab's public certificate, the
/// bundle's CA, logs in the prefix, and HTTP/2 in the form this nginx understands.
pub fn adapted_site(site_text: &str, r: &Rendered, public: &PublicTls, prefix: &Path, https: u16, http: u16) -> String {
    adapted_site_form(site_text, r, public, prefix, (https, http), installed_http2_form())
}

/// [`adapted_site`] with HTTP/2 in the given form (`AsRendered` keeps a site without it so).
pub fn adapted_site_form(
    site_text: &str,
    r: &Rendered,
    public: &PublicTls,
    prefix: &Path,
    (tls_port, plain_port): (u16, u16),
    http2: Http2Form,
) -> String {
    let how = NginxAdapt {
        http_listen: Some(format!("127.0.0.1:{plain_port}")),
        https_listen: Some(format!("127.0.0.1:{tls_port}")),
        public_cert: Some((public.cert.to_string_lossy().into_owned(), public.key.to_string_lossy().into_owned())),
        tls_dir: Some(r.bundle.path("mercure/tls").to_string_lossy().into_owned()),
        log_dir: Some(prefix.join("log").to_string_lossy().into_owned()),
        http2,
    };
    adapt::adapt_nginx_site(site_text, &how)
}

/// Debian 12 ships nginx 1.22, which predates `http2 on;`: sites rendered for
/// 1.25.1+ get the older spelling of the same switch, and nothing else changes.
pub fn installed_http2_form() -> Http2Form {
    match crate::host::installed_nginx_version() {
        Some(v) if v >= crate::values::NginxVersion::HTTP2_DIRECTIVE => Http2Form::AsRendered,
        _ => Http2Form::ListenParameter,
    }
}

/// `nginx -t` of the configuration `conf` in `prefix` (its error log there too).
pub fn nginx_t(nginx: &Path, prefix: &Path, conf: &Path) -> std::io::Result<Output> {
    Command::new(nginx)
        .arg("-t")
        .arg("-p")
        .arg(prefix)
        .arg("-c")
        .arg(conf)
        .arg("-e")
        .arg(prefix.join("error.log"))
        .output()
}

/// Starts `nginx` with `site_text` (the bundle's site, possibly edited by a fault) in `prefix`.
pub fn start_nginx(
    nginx: &Path,
    site_text: &str,
    r: &Rendered,
    public: &PublicTls,
    prefix: &Path,
) -> Result<Nginx, LabError> {
    start_nginx_form(nginx, site_text, r, public, prefix, installed_http2_form())
}

/// [`start_nginx`] with HTTP/2 in the given form.
pub fn start_nginx_form(
    nginx: &Path,
    site_text: &str,
    r: &Rendered,
    public: &PublicTls,
    prefix: &Path,
    http2: Http2Form,
) -> Result<Nginx, LabError> {
    let io = |e: std::io::Error| LabError::Io(format!("{}: {e}", prefix.display()));
    std::fs::create_dir_all(prefix).map_err(io)?;
    let (https_port, plain_port) = (free_port(), free_port());
    let site = adapted_site_form(site_text, r, public, prefix, (https_port, plain_port), http2);
    let conf = tools::write_nginx_wrapper(prefix, &site).map_err(io)?;
    let test = nginx_t(nginx, prefix, &conf).map_err(|e| LabError::Start(format!("cannot run nginx -t: {e}")))?;
    if !test.status.success() {
        return Err(LabError::Start(format!(
            "nginx -t refused the lab's site:\n{}",
            String::from_utf8_lossy(&test.stderr)
        )));
    }
    let mut cmd = Command::new(nginx);
    cmd.arg("-p").arg(prefix).arg("-c").arg(&conf).arg("-e").arg(prefix.join("error.log")).args(["-g", "daemon off;"]);
    let guard = start_server("nginx", cmd, &prefix.join("nginx.out"), https_port)?;
    Ok(Nginx { guard, https_port, http_port: plain_port, prefix: prefix.to_path_buf() })
}

/// The whole stack for one rendered bundle.
pub struct Stack {
    // Fields drop in declaration order: the servers are killed before their folder goes.
    pub nginx: Option<Nginx>,
    pub hub: Option<Hub>,
    pub programs: Programs,
    pub public: PublicTls,
    pub work: PathBuf,
    pub r: Rendered,
}

impl Stack {
    /// Renders answers `text` with its hub on a free port (plus `sets`), starting nothing.
    pub fn prepare(programs: Programs, text: &str, shown: &str, sets: &[String]) -> Result<Stack, LabError> {
        let hub_port = free_port();
        let mut all = vec![format!("hub.port={hub_port}")];
        all.extend(sets.iter().cloned());
        let r = Rendered::from_answers(text, shown, &all)?;
        let work = r.tmp.path().join("run");
        std::fs::create_dir_all(&work).map_err(|e| LabError::Io(format!("{}: {e}", work.display())))?;
        let public = public_tls(&work.join("public-tls"), &r.domain())?;
        Ok(Stack { nginx: None, hub: None, programs, public, work, r })
    }

    /// The folder the hub keeps its state in (the bolt database, Caddy's data).
    pub fn hub_state(&self) -> PathBuf {
        self.work.join("hub")
    }

    /// The bundle's Caddyfile as the stack runs it (see [`hub_caddyfile`]).
    pub fn hub_caddyfile(&self) -> Result<String, LabError> {
        hub_caddyfile(&self.r, None, &self.hub_state())
    }

    /// Starts the real hub with the bundle's Caddyfile on the bundle's hub port.
    pub fn start_hub(&mut self) -> Result<(), LabError> {
        let text = self.hub_caddyfile()?;
        self.start_hub_text(&text)
    }

    /// (Re)starts the hub with `text`, a Caddyfile from [`Stack::hub_caddyfile`] a fault edited.
    pub fn start_hub_text(&mut self, text: &str) -> Result<(), LabError> {
        self.stop_hub()?;
        let port = self.r.hub_port();
        self.hub = Some(start_hub_text(&self.programs.hub, &self.r, text, port, &self.hub_state())?);
        Ok(())
    }

    pub fn stop_hub(&mut self) -> Result<(), LabError> {
        if self.hub.take().is_some() && !wait_for_port_closed(self.r.hub_port(), STARTUP) {
            return Err(LabError::Start("the hub still listens after it was killed".into()));
        }
        Ok(())
    }

    /// (Re)starts nginx with `site_text` in a fresh prefix.
    pub fn start_nginx_with(&mut self, site_text: &str) -> Result<(), LabError> {
        self.start_nginx_form(site_text, installed_http2_form())
    }

    /// (Re)starts nginx with `site_text` and HTTP/2 in the given form.
    pub fn start_nginx_form(&mut self, site_text: &str, http2: Http2Form) -> Result<(), LabError> {
        self.nginx = None;
        let n = std::fs::read_dir(&self.work).map_or(0, Iterator::count);
        let prefix = self.work.join(format!("nginx-{n}"));
        self.nginx = Some(start_nginx_form(&self.programs.nginx, site_text, &self.r, &self.public, &prefix, http2)?);
        Ok(())
    }

    pub fn site_text(&self) -> Result<String, LabError> {
        self.r.bundle.read(&self.r.bundle.nginx_site).map_err(LabError::Render)
    }

    /// nginx's public port (0 before it started).
    pub fn https_port(&self) -> u16 {
        self.nginx.as_ref().map_or(0, |n| n.https_port)
    }

    /// The public hub URL as the lab reaches it (the domain, on nginx's lab port).
    pub fn public_url(&self, query: &str) -> String {
        format!("https://{}:{}/.well-known/mercure{query}", self.r.domain(), self.https_port())
    }

    /// The `--resolve` entry that sends the lab domain to nginx on loopback.
    pub fn resolve_entry(&self) -> String {
        format!("{}:{}:127.0.0.1", self.r.domain(), self.https_port())
    }
}
