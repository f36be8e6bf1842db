//! Runners for the real programs: `nginx -t`, `caddy validate`, `systemd-analyze
//! verify` / `security`, `openssl verify`, plus the certificate inspection that
//! goes with the last. Each returns an [`Outcome`]: the tool's own error line and a
//! likely fix when it fails, or how to install it when it is absent.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::Outcome;
use super::adapt::{self, CaddyAdapt, Http2Form, NginxAdapt};
use crate::bundle::paths;
use crate::bundle_dir::BundleDir;
use crate::host::find_program;

/// A program `check` runs, and how to get it.
#[derive(Debug, Clone, Copy)]
pub struct Tool {
    pub program: &'static str,
    pub install: &'static str,
}

pub const NGINX: Tool = Tool { program: "nginx", install: "apt-get install nginx" };
pub const CADDY: Tool = Tool { program: "caddy", install: "apt-get install caddy" };
pub const HUB: Tool =
    Tool { program: "mercure", install: "the Mercure hub release binary, as the bundle's INSTALL.md says" };
pub const SYSTEMD_ANALYZE: Tool = Tool { program: "systemd-analyze", install: "apt-get install systemd" };
pub const OPENSSL: Tool = Tool { program: "openssl", install: "apt-get install openssl" };

/// The highest `systemd-analyze security` exposure accepted for the hub unit.
pub const MAX_EXPOSURE: f64 = 2.0;

/// What a finished program printed.
#[derive(Debug, Clone)]
pub struct Ran {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// stdout and stderr together, trimmed.
    pub fn output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr).trim().to_string()
    }
}

/// Runs `tool` with `args`; `Err` is the "not run" outcome when it is absent.
pub fn run<S: AsRef<OsStr>>(tool: Tool, args: &[S], env: &[(&str, &Path)]) -> Result<Ran, Outcome> {
    let Some(program) = find_program(tool.program) else {
        return Err(not_installed(tool));
    };
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().map_err(|e| Outcome::Failed {
        error: format!("{} could not be started: {e}", tool.program),
        fix: format!("check that {} is executable", tool.program),
    })?;
    Ok(Ran {
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// The "not run" outcome for an absent tool.
pub fn not_installed(tool: Tool) -> Outcome {
    Outcome::NotRun {
        reason: format!("`{}` is not installed on this machine", tool.program),
        install: tool.install.into(),
    }
}

/// The line of a tool's output that says what went wrong.
fn error_line(text: &str, markers: &[&str]) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    lines
        .iter()
        .find(|l| markers.iter().any(|m| l.contains(m)))
        .or(lines.last())
        .map_or_else(|| "(no output)".to_string(), |l| (*l).to_string())
}

/// Why a tool could not be prepared or asked: shown in the check's failed row.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("{0}")]
    Certificate(#[from] rcgen::Error),
    #[error("{0}")]
    Write(#[from] std::io::Error),
    /// The system nginx.conf has no `http { }` block to put the site in.
    #[error("no `http {{ }}` block found")]
    NoHttpBlock,
    #[error("{} could not be started: {source}", .program.display())]
    NotStarted {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{} version` failed: {stderr}", .program.display())]
    VersionFailed { program: PathBuf, stderr: String },
}

fn io_failed(what: &str, e: &dyn std::fmt::Display) -> Outcome {
    Outcome::Failed { error: format!("{what}: {e}"), fix: "check that the temporary folder is writable".into() }
}

/// A self-signed certificate for `domain`, standing in for the public (Let's Encrypt) one.
pub fn throwaway_certificate(domain: &str, dir: &Path) -> Result<(PathBuf, PathBuf), ToolError> {
    let cert = rcgen::generate_simple_self_signed(vec![domain.to_string()])?;
    let (c, k) = (dir.join("public.crt"), dir.join("public.key"));
    std::fs::write(&c, cert.cert.pem())?;
    std::fs::write(&k, cert.signing_key.serialize_pem())?;
    Ok((c, k))
}

/// Writes `site.conf`, the wrapper `nginx.conf`, `fastcgi_params` and the temp
/// folders into `prefix`; returns the path of `nginx.conf`.
pub fn write_nginx_wrapper(prefix: &Path, site_text: &str) -> std::io::Result<PathBuf> {
    for d in ["client_body", "proxy", "fastcgi", "uwsgi", "scgi", "log"] {
        std::fs::create_dir_all(prefix.join(d))?;
    }
    let site = prefix.join("site.conf");
    std::fs::write(&site, site_text)?;
    let params = std::fs::read_to_string("/etc/nginx/fastcgi_params").unwrap_or_else(|_| adapt::FASTCGI_PARAMS.into());
    std::fs::write(prefix.join("fastcgi_params"), params)?;
    let conf = prefix.join("nginx.conf");
    std::fs::write(&conf, adapt::nginx_wrapper_conf(&prefix.to_string_lossy(), &site.to_string_lossy()))?;
    Ok(conf)
}

/// The adaptation `check` applies for `nginx -t` outside `--system`: loopback high
/// ports (nothing is bound by `-t`, but the file must not depend on 80/443 being
/// free), a throwaway public certificate, the bundle's CA and a temp log folder.
pub fn nginx_check_adaptation(bundle: &BundleDir, prefix: &Path, cert: (&Path, &Path)) -> NginxAdapt {
    NginxAdapt {
        http_listen: Some("127.0.0.1:18080".into()),
        https_listen: Some("127.0.0.1:18443".into()),
        public_cert: Some((cert.0.to_string_lossy().into_owned(), cert.1.to_string_lossy().into_owned())),
        tls_dir: Some(bundle.path(paths::TLS_DIR).to_string_lossy().into_owned()),
        log_dir: Some(prefix.join("log").to_string_lossy().into_owned()),
        http2: Http2Form::AsRendered,
    }
}

/// A staging folder that only its owner can enter, whatever the umask: `check`
/// runs `nginx -t` as root on what it stages, so no other user may add an
/// `include` or `load_module` line in the meantime.
fn private_tempdir() -> std::io::Result<tempfile::TempDir> {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::Builder::new()
        .prefix(".mercure-setup-check.")
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()?;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))?;
    Ok(dir)
}

/// `nginx -t` of the bundle's site inside a minimal wrapper nginx.conf.
pub fn nginx_test(bundle: &BundleDir, http2: Http2Form) -> Outcome {
    let Some(_) = find_program(NGINX.program) else { return not_installed(NGINX) };
    let tmp = match private_tempdir() {
        Ok(t) => t,
        Err(e) => return io_failed("temporary folder", &e),
    };
    let domain = bundle.answers.domain.to_string();
    let cert = match throwaway_certificate(&domain, tmp.path()) {
        Ok(c) => c,
        Err(e) => return io_failed("throwaway certificate", &e),
    };
    let site = match bundle.read(&bundle.nginx_site) {
        Ok(s) => s,
        Err(e) => return io_failed("reading the site", &e),
    };
    let mut how = nginx_check_adaptation(bundle, tmp.path(), (&cert.0, &cert.1));
    how.http2 = http2;
    let conf = match write_nginx_wrapper(tmp.path(), &adapt::adapt_nginx_site(&site, &how)) {
        Ok(c) => c,
        Err(e) => return io_failed("writing the wrapper config", &e),
    };
    let error_log = tmp.path().join("error.log");
    let args = [
        OsStr::new("-t"),
        OsStr::new("-p"),
        tmp.path().as_os_str(),
        OsStr::new("-c"),
        conf.as_os_str(),
        OsStr::new("-e"),
        error_log.as_os_str(),
    ];
    nginx_outcome(run(NGINX, &args, &[]), &tmp.path().join("site.conf"), &bundle.nginx_site, "a minimal wrapper")
}

/// `nginx -t` of the system's nginx.conf with the bundle's site added to its `http`
/// block (instead of any installed copy of the same file), paths unchanged except
/// files that are not installed yet.
pub fn nginx_test_system(bundle: &BundleDir) -> Outcome {
    let Some(_) = find_program(NGINX.program) else { return not_installed(NGINX) };
    let system_conf = Path::new("/etc/nginx/nginx.conf");
    let Ok(text) = std::fs::read_to_string(system_conf) else {
        return Outcome::Failed {
            error: format!("cannot read {}", system_conf.display()),
            fix: "run `check --system` as root on the server, or drop --system to test the site in a wrapper".into(),
        };
    };
    let tmp = match private_tempdir() {
        Ok(t) => t,
        Err(e) => return io_failed("temporary folder", &e),
    };
    let site_name = bundle.nginx_site.trim_start_matches(&format!("{}/", paths::NGINX_DIR)).to_string();
    let site = match bundle.read(&bundle.nginx_site) {
        Ok(s) => s,
        Err(e) => return io_failed("reading the site", &e),
    };
    let domain = bundle.answers.domain.to_string();
    let mut how = NginxAdapt::as_rendered();
    // Files that go live with the bundle may not be installed yet: stand in for them.
    let tree = crate::formats::parse_nginx(&site).unwrap_or_default();
    let installed = |name: &str| {
        crate::formats::nginx_find(&tree, name)
            .first()
            .and_then(|d| d.args.first())
            .is_none_or(|p| Path::new(p).is_file())
    };
    if !installed("ssl_certificate") || !installed("ssl_certificate_key") {
        match throwaway_certificate(&domain, tmp.path()) {
            Ok((c, k)) => how.public_cert = Some((c.to_string_lossy().into(), k.to_string_lossy().into())),
            Err(e) => return io_failed("throwaway certificate", &e),
        }
    }
    if !installed("proxy_ssl_trusted_certificate") {
        how.tls_dir = Some(bundle.path(paths::TLS_DIR).to_string_lossy().into_owned());
    }
    let site_path = tmp.path().join(&site_name);
    let conf = match system_wrapper(&text, &site_path, &site_name) {
        Ok(c) => c,
        Err(e) => return io_failed("adapting /etc/nginx/nginx.conf", &e),
    };
    let conf_path = tmp.path().join("nginx.conf");
    // The site's relative `include fastcgi_params;` resolves next to the -c file.
    let params = std::fs::read_to_string("/etc/nginx/fastcgi_params").unwrap_or_else(|_| adapt::FASTCGI_PARAMS.into());
    if let Err(e) = std::fs::write(&site_path, adapt::adapt_nginx_site(&site, &how))
        .and_then(|()| std::fs::write(&conf_path, conf))
        .and_then(|()| std::fs::write(tmp.path().join("fastcgi_params"), params))
    {
        return io_failed("writing the test config", &e);
    }
    let args = [OsStr::new("-t"), OsStr::new("-c"), conf_path.as_os_str()];
    nginx_outcome(run(NGINX, &args, &[]), &site_path, &bundle.nginx_site, "the system's nginx.conf")
}

/// The system nginx.conf with relative includes made absolute, globbed includes
/// expanded without any installed copy of the bundle's site, and the site included
/// at the end of the `http` block.
fn system_wrapper(text: &str, site: &Path, site_name: &str) -> Result<String, ToolError> {
    let mut out = String::new();
    let mut depth = 0usize;
    let mut in_http = false;
    let mut added = false;
    for line in text.lines() {
        let code = line.split('#').next().unwrap_or("").trim();
        let words: Vec<&str> = code.trim_end_matches(';').split_whitespace().collect();
        if let ["include", pattern] = words.as_slice() {
            let pattern =
                if pattern.starts_with('/') { (*pattern).to_string() } else { format!("/etc/nginx/{pattern}") };
            out.push_str(&expand_include(&pattern, site_name));
            continue;
        }
        let opens = code.matches('{').count();
        let closes = code.matches('}').count();
        let new_depth = (depth + opens).saturating_sub(closes);
        if in_http && new_depth == 0 && !added {
            // This line closes the `http` block: the site goes just before it.
            let _ = writeln!(out, "    include {};", site.display());
            added = true;
            in_http = false;
        }
        if words.first() == Some(&"http") && depth == 0 && new_depth > 0 {
            in_http = true;
        }
        depth = new_depth;
        out.push_str(line);
        out.push('\n');
    }
    if added { Ok(out) } else { Err(ToolError::NoHttpBlock) }
}

/// `include` lines for a pattern, skipping a file with the bundle's site name.
fn expand_include(pattern: &str, skip: &str) -> String {
    let Some((dir, file_glob)) = pattern.rsplit_once('/') else { return format!("include {pattern};\n") };
    if !file_glob.contains('*') {
        return format!("include {pattern};\n");
    }
    let (prefix, suffix) = file_glob.split_once('*').unwrap_or((file_glob, ""));
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(Result::ok).filter_map(|e| e.file_name().into_string().ok()).collect())
        .unwrap_or_default();
    names.retain(|n| n.starts_with(prefix) && n.ends_with(suffix) && n != skip);
    names.sort();
    names.iter().fold(String::new(), |mut out, n| {
        let _ = writeln!(out, "include {dir}/{n};");
        out
    })
}

fn nginx_outcome(ran: Result<Ran, Outcome>, staged_site: &Path, bundle_site: &str, wrapper: &str) -> Outcome {
    let ran = match ran {
        Ok(r) => r,
        Err(o) => return o,
    };
    let text = ran.output().replace(&*staged_site.to_string_lossy(), bundle_site);
    if ran.success {
        return Outcome::Passed { detail: format!("nginx -t accepts {bundle_site} inside {wrapper}") };
    }
    let error = error_line(&text, &["[emerg]", "[crit]", "[alert]"]);
    Outcome::Failed { fix: nginx_fix(&error), error }
}

/// The likely fix for an `nginx -t` error line.
pub fn nginx_fix(error: &str) -> String {
    if error.contains("unknown directive \"http2\"") || error.contains("invalid parameter \"http2\"") {
        "the site was rendered for another nginx version than this one: set `nginx.version: auto` (or what \
         `nginx -v` prints) and render again"
            .into()
    } else if error.contains("duplicate") || error.contains("conflicting") {
        "another file already defines this name: remove the old copy of the site from sites-enabled, or the \
         duplicate `log_format`/`map`"
            .into()
    } else if error.contains("cannot load certificate") || error.contains("No such file") {
        "a file the site names is missing: install it (INSTALL.md) or fix the path in the answers".into()
    } else {
        "fix the line named above in the site file (or the answers it came from) and render again".into()
    }
}

/// The Mercure hub `check` validates with: the answers' `hub.binary` when it is
/// installed there, else `mercure` on `PATH`.
pub fn hub_program(bundle: &BundleDir) -> Option<PathBuf> {
    bundle.answer("hub.binary").map(PathBuf::from).filter(|p| p.is_file()).or_else(|| find_program(HUB.program))
}

/// The version a Mercure hub binary reports (`mercure version`: "Mercure.rocks 0.24.2
/// Caddy v2.11.3 ..."), or its first line when it says something else.
pub fn hub_version(program: &Path) -> Result<String, ToolError> {
    let out = Command::new(program)
        .arg("version")
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|source| ToolError::NotStarted { program: program.to_path_buf(), source })?;
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next().unwrap_or_default().trim();
    if !out.status.success() || first.is_empty() {
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(ToolError::VersionFailed { program: program.to_path_buf(), stderr });
    }
    Ok(first.strip_prefix("Mercure.rocks ").and_then(|v| v.split_whitespace().next()).unwrap_or(first).to_string())
}

/// The hub's Caddyfile validated by the real hub when it is installed (`mercure
/// validate`, `mercure { }` block intact, keys from `mercure.env` as systemd passes
/// them); otherwise by Debian's Caddy with the block stood in for, and said so.
pub fn hub_validate(bundle: &BundleDir) -> Outcome {
    match hub_program(bundle) {
        Some(program) => real_hub_validate(bundle, &program),
        None => match caddy_stand_in_validate(bundle) {
            Outcome::Passed { detail } => Outcome::Partial {
                detail: format!(
                    "the Mercure hub is not installed (hub.binary, or `mercure` on PATH), so Debian's Caddy \
                     checked the rest: {detail}"
                ),
                untested: "the `mercure { }` block and the JWT keys it reads".into(),
                install: HUB.install.into(),
            },
            Outcome::NotRun { .. } => Outcome::NotRun {
                reason: "neither the Mercure hub (hub.binary, or `mercure` on PATH) nor Caddy is installed".into(),
                install: HUB.install.into(),
            },
            other @ (Outcome::Failed { .. } | Outcome::Partial { .. }) => other,
        },
    }
}

/// `mercure validate` on the bundle's Caddyfile, only ports and paths adapted
/// (see [`adapt::CaddyAdapt::real_hub`]).
pub fn real_hub_validate(bundle: &BundleDir, program: &Path) -> Outcome {
    let version = match hub_version(program) {
        Ok(v) => v,
        Err(e) => return Outcome::Failed { error: e.to_string(), fix: "install a working Mercure hub binary".into() },
    };
    // A hub of another release line would refuse (or misread) the Caddyfile for reasons
    // that say nothing about the bundle: name the mismatch instead.
    let line = bundle.answers.hub.version.line();
    if let Some(release) = crate::host::parse_hub_version(&format!("Mercure.rocks {version}"))
        && let Err(why) = line.accepts(release)
    {
        return Outcome::Failed {
            error: format!("the hub {} {why}", program.display()),
            fix: format!(
                "validate with a Mercure {} hub (set hub.binary to it), or render the bundle for this hub",
                line.facts().release
            ),
        };
    }
    let (text, env) = match (bundle.read(paths::CADDYFILE), bundle.read(paths::HUB_ENV)) {
        (Ok(t), Ok(e)) => (t, e),
        (Err(e), _) | (_, Err(e)) => return io_failed("reading the hub's files", &e),
    };
    let env = match crate::formats::parse_env(&env) {
        Ok(env) => env,
        Err(e) => {
            return Outcome::Failed {
                error: format!("{}: {e}", paths::HUB_ENV),
                fix: "render the bundle again: systemd could not read this file either".into(),
            };
        }
    };
    let tmp = match tempfile::tempdir() {
        Ok(t) => t,
        Err(e) => return io_failed("temporary folder", &e),
    };
    let state = tmp.path().to_string_lossy().into_owned();
    let tls_dir = bundle.wiring().private_ca.then(|| bundle.path(paths::TLS_DIR).to_string_lossy().into_owned());
    let adapted = match adapt::adapt_caddyfile(&text, &CaddyAdapt::real_hub(tls_dir, state)) {
        Ok(a) => a,
        Err(e) => {
            return Outcome::Failed {
                error: format!("{}: {e}", paths::CADDYFILE),
                fix: "render the bundle again: the hub needs its `mercure { }` block".into(),
            };
        }
    };
    let file = tmp.path().join("Caddyfile");
    if let Err(e) = std::fs::write(&file, adapted) {
        return io_failed("writing the adapted Caddyfile", &e);
    }
    let mut cmd = Command::new(program);
    cmd.args([OsStr::new("validate"), OsStr::new("--adapter"), OsStr::new("caddyfile"), OsStr::new("--config")])
        .arg(&file)
        .stdin(std::process::Stdio::null())
        .env_clear()
        .envs(&env)
        // The hub's own storage stays in the throwaway folder, not in the user's home.
        .env("XDG_DATA_HOME", tmp.path())
        .env("XDG_CONFIG_HOME", tmp.path())
        .env("HOME", tmp.path());
    let out = match cmd.output() {
        Ok(o) => o,
        Err(e) => return io_failed("running the hub", &e),
    };
    let output = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if out.status.success() {
        return Outcome::Passed {
            detail: format!("the Mercure hub {version} ({}) accepts the Caddyfile and its keys", program.display()),
        };
    }
    let error = error_line(&output.replace(&*file.to_string_lossy(), paths::CADDYFILE), &["Error:", "error"]);
    let fix = if error.contains("loading certificate") || error.contains("tls") {
        "the hub certificate or key cannot be loaded: render again to reissue them".into()
    } else if error.contains("JWT") || error.contains("jwt") || error.contains("key") {
        format!("the hub cannot load its JWT keys from {}: render the bundle again", paths::HUB_ENV)
    } else {
        format!("fix the Caddyfile line named above (or the answers it came from) and render again (hub {version})")
    };
    Outcome::Failed { error: format!("hub {version}: {error}"), fix }
}

/// `caddy validate` of the Caddyfile adapted for plain Caddy 2.6 (see [`adapt::CaddyAdapt::caddy_stand_in`]).
fn caddy_stand_in_validate(bundle: &BundleDir) -> Outcome {
    let Some(_) = find_program(CADDY.program) else { return not_installed(CADDY) };
    let text = match bundle.read(paths::CADDYFILE) {
        Ok(t) => t,
        Err(e) => return io_failed("reading the Caddyfile", &e),
    };
    let tls_dir = bundle.wiring().private_ca.then(|| bundle.path(paths::TLS_DIR).to_string_lossy().into_owned());
    let adapted = match adapt::adapt_caddyfile(&text, &CaddyAdapt::caddy_stand_in(tls_dir)) {
        Ok(a) => a,
        Err(e) => {
            return Outcome::Failed {
                error: format!("{}: {e}", paths::CADDYFILE),
                fix: "render the bundle again: the hub needs its `mercure { }` block".into(),
            };
        }
    };
    let tmp = match private_tempdir() {
        Ok(t) => t,
        Err(e) => return io_failed("temporary folder", &e),
    };
    let file = tmp.path().join("Caddyfile");
    if let Err(e) = std::fs::write(&file, adapted) {
        return io_failed("writing the adapted Caddyfile", &e);
    }
    let args = [
        OsStr::new("validate"),
        OsStr::new("--config"),
        file.as_os_str(),
        OsStr::new("--adapter"),
        OsStr::new("caddyfile"),
    ];
    // Caddy writes its storage under XDG folders; keep that out of the user's home.
    let env = [("XDG_DATA_HOME", tmp.path()), ("XDG_CONFIG_HOME", tmp.path())];
    match run(CADDY, &args, &env) {
        Err(o) => o,
        Ok(r) if r.success => Outcome::Passed {
            detail: "caddy validate accepts the Caddyfile (mercure block stood in for by `respond 200`, \
                     trusted_proxies dropped: Caddy 2.6 has neither)"
                .into(),
        },
        Ok(r) => {
            let error = error_line(&r.output().replace(&*file.to_string_lossy(), paths::CADDYFILE), &["Error:"]);
            let fix = if error.contains("loading certificate") || error.contains("tls") {
                "the hub certificate or key cannot be loaded: render again to reissue them".into()
            } else {
                "fix the Caddyfile line named above (or the answers it came from) and render again".into()
            };
            Outcome::Failed { error, fix }
        }
    }
}

/// Every directive in the `mercure { }` block is one the hub's release line knows.
pub fn mercure_directives(bundle: &BundleDir) -> Outcome {
    let hub = bundle.hub();
    let text = match bundle.read(paths::CADDYFILE) {
        Ok(t) => t,
        Err(e) => return io_failed("reading the Caddyfile", &e),
    };
    match adapt::mercure_directives(&text) {
        Err(e) => Outcome::Failed { error: e.to_string(), fix: "render the bundle again".into() },
        Ok(names) => {
            let unknown: Vec<String> = names
                .iter()
                .filter(|(n, _)| !hub.known_directives.contains(&n.as_str()))
                .map(|(n, line)| format!("`{n}` (line {line})"))
                .collect();
            if unknown.is_empty() {
                Outcome::Passed { detail: format!("{} directives, all known to Mercure {}", names.len(), hub.line) }
            } else {
                Outcome::Failed {
                    error: format!(
                        "unknown in Mercure {}, silently ignored by the hub: {}",
                        hub.line,
                        unknown.join(", ")
                    ),
                    fix: "remove them; see the Mercure docs for the supported directives".into(),
                }
            }
        }
    }
}

/// The hub unit staged for `systemd-analyze`, with `ExecStart` pointing at a binary
/// that exists (before go-live the hub binary usually is not installed yet).
pub fn stage_unit(bundle: &BundleDir, dir: &Path) -> Result<(PathBuf, Option<String>), String> {
    let text = bundle.read(paths::UNIT)?;
    let binary = text
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .and_then(|l| l.split_whitespace().next())
        .ok_or("the unit has no ExecStart=")?
        .to_string();
    // The real command lines, before any stand-in: systemd expands `%` specifiers, so a
    // `%` or anything outside a plain path would run something else than rendered.
    for line in text.lines().filter(|l| l.starts_with("ExecStart=") || l.starts_with("ExecReload=")) {
        if line.contains('%') {
            return Err(format!("`{line}`: systemd would expand the `%` specifier; hub.binary must be a plain path"));
        }
    }
    crate::values::AbsPath::parse(&binary).map_err(|e| format!("ExecStart= binary: {e}"))?;
    let (text, note) = if Path::new(&binary).is_file() {
        (text, None)
    } else {
        let stand_in =
            ["/usr/bin/true", "/bin/true"].into_iter().find(|p| Path::new(p).is_file()).unwrap_or("/bin/true");
        (
            text.replace(&binary, stand_in),
            Some(format!("{binary} is not installed here, so ExecStart was pointed at {stand_in} for the check")),
        )
    };
    let path = dir.join("mercure.service");
    std::fs::write(&path, text).map_err(|e| e.to_string())?;
    Ok((path, note))
}

/// `systemd-analyze verify` of a staged unit: any output at all is a failure,
/// because verify exits 0 on warnings that systemd would act on.
fn verify_unit(unit: &Path, label: &str, note: Option<String>) -> Outcome {
    match run(SYSTEMD_ANALYZE, &[OsStr::new("verify"), unit.as_os_str()], &[]) {
        Err(o) => o,
        Ok(r) => {
            let dir = unit.parent().map(|d| format!("{}/", d.display())).unwrap_or_default();
            let text = r.output().replace(&dir, "");
            if text.is_empty() && r.success {
                let mut detail = format!("systemd-analyze verify prints nothing for {label}");
                if let Some(n) = note {
                    let _ = write!(detail, " ({n})");
                }
                Outcome::Passed { detail }
            } else {
                Outcome::Failed {
                    error: error_line(&text, &[":"]),
                    fix: format!("fix the line named above in {label} (or the answers it came from) and render again"),
                }
            }
        }
    }
}

/// `systemd-analyze verify` of `systemd/mercure.service`.
pub fn systemd_verify_hub(bundle: &BundleDir) -> Outcome {
    let Some(_) = find_program(SYSTEMD_ANALYZE.program) else { return not_installed(SYSTEMD_ANALYZE) };
    let tmp = match private_tempdir() {
        Ok(t) => t,
        Err(e) => return io_failed("temporary folder", &e),
    };
    match stage_unit(bundle, tmp.path()) {
        Ok((unit, note)) => verify_unit(&unit, paths::UNIT, note),
        Err(e) => Outcome::Failed { error: format!("{}: {e}", paths::UNIT), fix: "render the bundle again".into() },
    }
}

/// `systemd-analyze verify` of the nginx drop-in, attached to a stub nginx.service
/// (the drop-in is what is being checked, not the distribution's unit).
pub fn systemd_verify_nginx_drop_in(bundle: &BundleDir) -> Outcome {
    let Some(_) = find_program(SYSTEMD_ANALYZE.program) else { return not_installed(SYSTEMD_ANALYZE) };
    let staged = || -> std::io::Result<(tempfile::TempDir, PathBuf)> {
        let tmp = private_tempdir()?;
        let unit = tmp.path().join("nginx.service");
        let stand_in =
            ["/usr/bin/true", "/bin/true"].into_iter().find(|p| Path::new(p).is_file()).unwrap_or("/bin/true");
        std::fs::write(&unit, format!("[Unit]\nDescription=nginx stand-in\n\n[Service]\nExecStart={stand_in}\n"))?;
        std::fs::create_dir_all(tmp.path().join("nginx.service.d"))?;
        std::fs::copy(bundle.path(paths::NGINX_DROP_IN), tmp.path().join("nginx.service.d/mercure-limits.conf"))?;
        Ok((tmp, unit))
    };
    match staged() {
        Ok((_tmp, unit)) => verify_unit(&unit, paths::NGINX_DROP_IN, None),
        Err(e) => io_failed(paths::NGINX_DROP_IN, &e),
    }
}

/// The overall exposure `systemd-analyze security --offline=yes` gives the hub unit.
pub fn systemd_exposure(unit: &Path) -> Result<f64, Outcome> {
    let r = run(SYSTEMD_ANALYZE, &[OsStr::new("security"), OsStr::new("--offline=yes"), unit.as_os_str()], &[])?;
    let text = r.output();
    text.lines()
        .find_map(|l| l.split("Overall exposure level for").nth(1))
        .and_then(|rest| rest.split(':').nth(1))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| Outcome::Failed {
            error: error_line(&text, &["rror", "ailed"]),
            fix: "systemd-analyze security needs systemd 250 or later for --offline".into(),
        })
}

/// The hub unit's exposure is at most [`MAX_EXPOSURE`].
pub fn systemd_security(bundle: &BundleDir) -> Outcome {
    let Some(_) = find_program(SYSTEMD_ANALYZE.program) else { return not_installed(SYSTEMD_ANALYZE) };
    let tmp = match private_tempdir() {
        Ok(t) => t,
        Err(e) => return io_failed("temporary folder", &e),
    };
    let unit = match stage_unit(bundle, tmp.path()) {
        Ok((u, _)) => u,
        Err(e) => return Outcome::Failed { error: e, fix: "render the bundle again".into() },
    };
    match systemd_exposure(&unit) {
        Err(o) => o,
        Ok(x) if x <= MAX_EXPOSURE => {
            Outcome::Passed { detail: format!("exposure {x:.1} (at most {MAX_EXPOSURE:.1} is OK)") }
        }
        Ok(x) => Outcome::Failed {
            error: format!("overall exposure level for mercure.service: {x:.1}, above {MAX_EXPOSURE:.1}"),
            fix: "restore the hardening lines removed from the unit (render again), see `systemd-analyze security`"
                .into(),
        },
    }
}

/// The hub certificate's days left: failed when expired or under 30 days.
pub fn hub_certificate_days(bundle: &BundleDir, now: time::OffsetDateTime) -> Outcome {
    let info = match bundle.read(paths::HUB_CERT).and_then(|pem| crate::pki::inspect(&pem).map_err(|e| e.to_string())) {
        Ok(i) => i,
        Err(e) => return Outcome::Failed { error: e, fix: "render again to reissue the hub certificate".into() },
    };
    match crate::pki::hub_cert_expiry(&info, now) {
        Ok(detail) => Outcome::Passed { detail },
        Err(error) => Outcome::Failed {
            error: error.to_string(),
            fix: "render the bundle again (it reissues a hub certificate that expires within 30 days), then apply it"
                .into(),
        },
    }
}

/// `openssl verify -CAfile ca.crt hub.crt`, then the certificates' fields.
pub fn hub_certificate(bundle: &BundleDir) -> Outcome {
    let Some(_) = find_program(OPENSSL.program) else { return not_installed(OPENSSL) };
    let (ca, hub) = (bundle.path(paths::CA_CERT), bundle.path(paths::HUB_CERT));
    let args = [OsStr::new("verify"), OsStr::new("-CAfile"), ca.as_os_str(), hub.as_os_str()];
    match run(OPENSSL, &args, &[]) {
        Err(o) => return o,
        Ok(r) if !r.success => {
            return Outcome::Failed {
                error: error_line(&r.output().replace(&format!("{}/", bundle.root.display()), ""), &["error"]),
                fix: "the hub certificate was not issued by this CA (or expired): render again to reissue it".into(),
            };
        }
        Ok(_) => {}
    }
    let name = bundle.answers.hub.tls_name.to_string();
    let problems = match (bundle.read(paths::CA_CERT), bundle.read(paths::HUB_CERT)) {
        (Ok(ca), Ok(hub)) => certificate_problems(&ca, &hub, &name),
        (Err(e), _) | (_, Err(e)) => vec![e],
    };
    if problems.is_empty() {
        Outcome::Passed {
            detail: format!(
                "openssl verify OK; SANs DNS:{name}, DNS:localhost, IP:127.0.0.1, IP:::1; CA and leaf usages right"
            ),
        }
    } else {
        Outcome::Failed {
            error: problems.join("; "),
            fix: "render again (a changed hub.tls_name reissues the certificate)".into(),
        }
    }
}

/// The DNS and IP SANs of a certificate in `openssl` notation (`DNS:x`, `IP:127.0.0.1`).
pub fn subject_alt_names(pem: &str) -> Result<Vec<String>, crate::pki::PkiError> {
    let info = crate::pki::inspect(pem)?;
    let dns = info.dns_names.iter().map(|d| format!("DNS:{d}"));
    Ok(dns.chain(info.ip_addresses.iter().map(|a| format!("IP:{a}"))).collect())
}

/// What is wrong with the CA and hub certificate against what pki.rs issues (empty when right).
pub fn certificate_problems(ca_pem: &str, hub_pem: &str, tls_name: &str) -> Vec<String> {
    let mut problems = Vec::new();
    match crate::pki::inspect(ca_pem) {
        Err(e) => problems.push(format!("ca.crt: {e}")),
        Ok(f) => {
            if f.ca != Some((true, Some(0))) || !f.basic_constraints_critical {
                problems.push(format!("ca.crt: basicConstraints must be critical CA:TRUE, pathlen:0 (is {:?})", f.ca));
            }
            if !(f.key_cert_sign && f.crl_sign) {
                problems.push("ca.crt: keyUsage must include keyCertSign and cRLSign".into());
            }
        }
    }
    match crate::pki::inspect(hub_pem) {
        Err(e) => problems.push(format!("hub.crt: {e}")),
        Ok(f) => {
            if f.ca.is_some_and(|(ca, _)| ca) {
                problems.push("hub.crt: must be CA:FALSE".into());
            }
            if !f.digital_signature {
                problems.push("hub.crt: keyUsage must include digitalSignature".into());
            }
            if !f.server_auth {
                problems.push("hub.crt: extendedKeyUsage must include serverAuth".into());
            }
        }
    }
    match subject_alt_names(hub_pem) {
        Err(e) => problems.push(format!("hub.crt: {e}")),
        Ok(sans) => {
            let want = [format!("DNS:{tls_name}"), "DNS:localhost".into(), "IP:127.0.0.1".into(), "IP:::1".into()];
            if sans != want {
                problems.push(format!("hub.crt SANs are [{}], expected [{}]", sans.join(", "), want.join(", ")));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_error_line() {
        let out =
            "nginx: [emerg] unknown directive \"http2\" in /x/site.conf:35\nnginx: configuration file test failed";
        assert_eq!(error_line(out, &["[emerg]"]), "nginx: [emerg] unknown directive \"http2\" in /x/site.conf:35");
        assert!(nginx_fix(out).contains("nginx.version"));
        assert_eq!(error_line("", &["x"]), "(no output)");
    }

    #[test]
    fn staging_folders_are_private_whatever_the_umask() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = private_tempdir().unwrap();
        // tempfile's own default (0777 minus the umask) would give 0755 here.
        assert_eq!(std::fs::metadata(dir.path()).unwrap().permissions().mode() & 0o7777, 0o700);
    }

    #[test]
    fn system_wrapper_adds_the_site_to_http() {
        let conf =
            "user www-data;\nevents {\n\tworker_connections 768;\n}\nhttp {\n\tinclude mime.types;\n\tgzip on;\n}\n";
        let out = system_wrapper(conf, Path::new("/tmp/s.conf"), "s.conf").unwrap();
        assert!(out.contains("include /etc/nginx/mime.types;"));
        assert!(out.contains("gzip on;\n    include /tmp/s.conf;\n}\n"));
        assert!(system_wrapper("events {}\n", Path::new("/x"), "x").is_err());
    }
}
