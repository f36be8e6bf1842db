//! `mercure-setup apply`: puts a rendered bundle live on this machine. It prints the
//! plan of actions first, checks everything it can before changing anything
//! (preflight), backs up every path it touches, then verifies the result with the
//! real programs and doctor's probes, rolling everything back when a step fails.
//!
//! `install_plan` (pure, shared with INSTALL.md) -> `changes` (compared with the
//! machine) -> `preflight` -> `backup` + `execute`.

pub mod backup;
pub mod changes;
pub mod execute;
pub mod nginx_conf;
pub mod preflight;

use std::fmt::Write as _;
use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};

use crate::bundle_dir::{BundleDir, LoadError};
use crate::error::Error;
use crate::install_plan::actions;
use crate::install_plan::steps::{Services, live_steps};
use crate::plan::Plan;
use changes::{Change, Status};

/// The flags `apply` takes.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ApplyArgs {
    /// The bundle folder written by `render`.
    #[arg(value_name = "BUNDLE", required_unless_present = "rollback")]
    pub bundle: Option<PathBuf>,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do it without asking (needed when there is no terminal to ask on).
    #[arg(long)]
    pub yes: bool,
    /// The Mercure hub binary to install (default: the one already at `hub.binary`).
    #[arg(long, value_name = "FILE")]
    pub hub_binary: Option<PathBuf>,
    /// Obtain the public certificate with certbot (webroot) for this e-mail address.
    #[arg(long, value_name = "EMAIL")]
    pub certbot: Option<String>,
    /// Apply into this staging folder instead of / (no users, owners or services).
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Restore the backup TIMESTAMP (default: the newest) instead of applying.
    #[arg(long, value_name = "TIMESTAMP", num_args = 0..=1, default_missing_value = "", conflicts_with_all = ["dry_run", "hub_binary", "certbot"])]
    pub rollback: Option<String>,
    #[command(flatten)]
    pub reach: crate::cli::ReachArgs,
}

/// Runs `apply`.
pub fn run(args: &ApplyArgs) -> Result<(), Error> {
    let real = args.root.is_none();
    let root = args.root.clone().unwrap_or_else(|| PathBuf::from("/"));
    if real && !preflight::is_root() {
        return Err(Error::Usage("apply changes system files: run it as root (sudo)".into()));
    }
    if let Some(ts) = &args.rollback {
        return rollback(&root, (!ts.is_empty()).then_some(ts.as_str()), real, args.yes);
    }
    let dir = args.bundle.as_deref().ok_or_else(|| Error::Usage("apply needs the BUNDLE folder".into()))?;
    let bundle = BundleDir::open(dir).map_err(|e| match e {
        LoadError::Answers { errors, .. } => Error::InvalidAnswers(errors),
        e => Error::Usage(e.to_string()),
    })?;
    let plan = Plan::new(bundle.answers.clone(), None);
    let actions = actions::actions(&plan);
    let hub_source = match &args.hub_binary {
        Some(p) => {
            Some(std::fs::canonicalize(p).map_err(|e| Error::Usage(format!("--hub-binary {}: {e}", p.display())))?)
        }
        None => None,
    };
    let ctx = changes::Context { root: &root, bundle: &bundle.root, hub_source: hub_source.as_deref(), owners: real };
    let changes = changes::compare(&actions, &ctx).map_err(Error::Usage)?;

    let problems = preflight_problems(args, &bundle, &plan, &root, real, hub_source.as_deref());
    let mut text = plan_text(&changes, &bundle.root, real);
    print!("{text}");
    text.clear();
    if !problems.is_empty() {
        let list = problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n");
        return Err(Error::Usage(format!("preflight failed, nothing was changed:\n{list}")));
    }
    let todo = changes.iter().filter(|c| c.todo()).count();
    if todo == 0 {
        println!("nothing to do: {} already matches the bundle", root.display());
        return Ok(());
    }
    if args.dry_run {
        println!("dry run: nothing was changed");
        return Ok(());
    }
    if !args.yes {
        confirm(&format!("Apply these {todo} changes?"))?;
    }
    go(args, &plan, &root, &bundle.root, &changes, real)
}

/// Every preflight problem at once.
fn preflight_problems(
    args: &ApplyArgs,
    bundle: &BundleDir,
    plan: &Plan,
    root: &Path,
    real: bool,
    hub: Option<&Path>,
) -> Vec<String> {
    let mut p = Vec::new();
    if real && !preflight::has_systemd() {
        p.push(
            "systemd is not running here (no /run/systemd/system): apply starts the hub as a systemd service".into(),
        );
    }
    match crate::host::installed_nginx() {
        crate::host::NginxHere::NotFound => {
            if real {
                p.push("nginx is not installed: apt-get install nginx".into());
            }
        }
        crate::host::NginxHere::Unreadable { path } => {
            p.push(format!("{} does not report its version", path.display()));
        }
        crate::host::NginxHere::Found { version, .. } => {
            if let Some(rendered) = rendered_nginx(bundle, plan) {
                p.extend(preflight::nginx_version_problem(version, rendered));
            }
        }
    }
    if !backup::under(root, actions::NGINX_CONF).is_file() {
        p.push(format!("{} is missing: is nginx installed from Debian's package?", actions::NGINX_CONF));
    }
    let hub_bin = hub.map_or_else(|| backup::under(root, &plan.hub_binary), Path::to_path_buf);
    if hub_bin.is_file() {
        p.extend(preflight::hub_version_problem(&hub_bin, plan.hub));
    } else {
        p.push(format!(
            "no hub binary at {}: download the Mercure release and pass --hub-binary FILE",
            plan.hub_binary
        ));
    }
    // The running hub holds its own port and admin address; anything else holding them is a conflict.
    let hub_active = real && execute::services_now().hub_active;
    let installed = installed_caddyfile(root);
    let hub_has = |needle: &str| hub_active && installed.as_deref().is_some_and(|c| c.contains(needle));
    if !hub_has(&format!(":{} {{", plan.hub_port)) && !preflight::port_free(plan.hub_port) {
        p.push(format!("the hub port 127.0.0.1:{} is taken by another program (ss -ltnp shows which)", plan.hub_port));
    }
    if let Some(port) = plan.answers.hub.admin.port()
        && !hub_has(&format!("admin {}", plan.hub_admin))
        && !preflight::port_free(port)
    {
        p.push(format!("the hub admin address {} is taken by another program", plan.hub_admin));
    }
    if args.certbot.is_none() {
        let cert = backup::under(root, &plan.public_certificate);
        let key = backup::under(root, &plan.public_certificate_key);
        p.extend(preflight::certificate_problem(&cert, &key, &plan.domain));
    } else if real && crate::host::find_program("certbot").is_none() {
        p.push("--certbot needs certbot: apt-get install certbot".into());
    }
    p
}

/// The nginx version the bundle was rendered for: its answers, or for `nginx.version: auto`
/// the version the site file's first line names (what `auto` found when it was rendered).
fn rendered_nginx(bundle: &BundleDir, plan: &Plan) -> Option<crate::values::NginxVersion> {
    if let crate::values::NginxVersionChoice::Known(v) = plan.answers.nginx.version {
        return Some(v);
    }
    let site = bundle.read(&bundle.nginx_site).ok()?;
    let first = site.lines().next()?;
    let v = first.split(", nginx ").nth(1)?.split(')').next()?;
    crate::values::NginxVersion::parse(v).ok()
}

/// The installed Caddyfile, if there is one.
fn installed_caddyfile(root: &Path) -> Option<String> {
    std::fs::read_to_string(backup::under(root, crate::plan::install::CADDYFILE)).ok()
}

/// The printed plan: every action with its status.
pub fn plan_text(changes: &[Change], bundle: &Path, real: bool) -> String {
    let mut t = format!(
        "mercure-setup apply: {} ({})\n",
        bundle.display(),
        if real { "this machine" } else { "staging root, no service actions" }
    );
    for (i, c) in changes.iter().enumerate() {
        let (mark, note) = match &c.status {
            Status::InPlace => ("=", "in place".to_string()),
            Status::Todo { replaces } => ("+", format!("replaces {replaces}")),
            Status::Skipped(why) => ("-", format!("skipped: {why}")),
        };
        let _ = writeln!(t, "{mark} {:2}. {} [{note}]", i + 1, c.action.describe());
        if let Some(diff) = &c.diff {
            for line in diff.lines() {
                let _ = writeln!(t, "        {line}");
            }
        }
    }
    if real {
        let steps = live_steps(changes::touched(changes), &execute::services_now());
        if changes.iter().any(Change::todo) {
            let _ = writeln!(t, "then: {}; then doctor's probes", steps.join("; "));
        }
    }
    t
}

fn confirm(question: &str) -> Result<(), Error> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::Usage("no terminal to confirm on: review the plan (--dry-run), then pass --yes".into()));
    }
    print!("{question} [y/N] ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    if matches!(line.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err(Error::Usage("cancelled: nothing was changed".into()))
    }
}

/// Backs up and writes, then goes live; a failure rolls everything back.
fn go(args: &ApplyArgs, plan: &Plan, root: &Path, bundle: &Path, changes: &[Change], real: bool) -> Result<(), Error> {
    let services = if real { execute::services_now() } else { Services::default() };
    let mut b = backup::Backup::create(root, &bundle.display().to_string(), services.clone())
        .map_err(|e| Error::Failed(format!("cannot create the backup folder: {e}")))?;
    println!("backup: {}", b.dir.display());
    // The certificate comes first: the new site cannot pass `nginx -t` without it.
    let mut result = match (&args.certbot, real) {
        (Some(email), true) => certbot(plan, email).map_err(|e| ("certbot".to_string(), e)),
        _ => Ok(()),
    };
    if result.is_ok() {
        result = execute::write_changes(root, changes, &mut b, real).map_err(|e| ("writing files".to_string(), e));
    }
    if result.is_ok() && real {
        for step in live_steps(changes::touched(changes), &services) {
            println!("  {step}");
            if let Err(e) = execute::live_step(step, &plan.hub_binary) {
                result = Err((step.to_string(), e));
                break;
            }
        }
        if result.is_ok() {
            result = doctor(args, bundle, plan).map_err(|e| ("doctor".to_string(), e));
        }
    }
    match result {
        Ok(()) => {
            let n = changes.iter().filter(|c| c.todo()).count();
            println!(
                "applied {n} change{}; backup {} (undo: mercure-setup apply --rollback {})",
                plural(n),
                b.manifest.timestamp,
                b.manifest.timestamp
            );
            let mut notes: Vec<&String> = changes
                .iter()
                .filter_map(|c| if let Status::Skipped(why) = &c.status { Some(why) } else { None })
                .collect();
            notes.dedup();
            for why in notes {
                println!("note: {why}");
            }
            Ok(())
        }
        Err((step, e)) => {
            let restored = execute::rollback(root, &b.dir, &b.manifest, real)
                .unwrap_or_else(|r| vec![format!("ROLLBACK FAILED: {r}; the backup is {}", b.dir.display())]);
            Err(Error::Failed(format!(
                "step `{step}` failed: {e}\nrolled back:\n{}",
                restored.iter().map(|r| format!("  {r}")).collect::<Vec<_>>().join("\n")
            )))
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// doctor's probes from this machine: the public name resolved to this machine.
fn doctor(args: &ApplyArgs, bundle: &Path, plan: &Plan) -> Result<(), String> {
    let mut reach = args.reach.clone();
    if !reach.resolve.iter().any(|r| r.host == plan.domain && r.port == 443) {
        let addr = std::net::IpAddr::from([127, 0, 0, 1]);
        reach.resolve.push(crate::net::ResolveEntry { host: plan.domain.clone(), port: 443, addr });
    }
    let d = crate::doctor::DoctorArgs {
        bundle: Some(bundle.to_path_buf()),
        reach,
        timeout: crate::values::Duration { text: "10s".into(), millis: 10_000 },
        ..crate::doctor::DoctorArgs::default()
    };
    // Right after a (re)start is the slowest moment (old nginx workers draining, caches cold):
    // a deployment passes within three runs, a broken one fails all three.
    let mut last = String::new();
    for run in 1..=3 {
        std::thread::sleep(std::time::Duration::from_millis(500 * run));
        match crate::doctor::run(&d) {
            Ok(()) => return Ok(()),
            Err(e) => {
                last = e.to_string();
                if run < 3 {
                    println!("  doctor run {run} failed ({last}); probing again");
                }
            }
        }
    }
    Err(format!("{last} (three runs)"))
}

/// Obtains the public certificate with certbot's webroot plugin, saving a deploy hook
/// that reloads nginx so every renewal is served.
fn certbot(plan: &Plan, email: &str) -> Result<(), String> {
    let expected = format!("/etc/letsencrypt/live/{}/fullchain.pem", plan.domain);
    if plan.public_certificate != expected {
        return Err(format!("--certbot writes {expected}; render with public_tls.certificate set to it"));
    }
    if Path::new(&plan.public_certificate).is_file() {
        return Ok(());
    }
    // Until the site is live, a small port-80 server answers the ACME challenge.
    std::fs::create_dir_all(&plan.acme_webroot).map_err(|e| format!("{}: {e}", plan.acme_webroot))?;
    let conf = format!(
        "server {{\n\tlisten 80;\n\tserver_name {};\n\tlocation ^~ /.well-known/acme-challenge/ {{\n\t\troot {};\n\t}}\n}}\n",
        plan.domain, plan.acme_webroot
    );
    std::fs::write(ACME_CONF, conf).map_err(|e| format!("{ACME_CONF}: {e}"))?;
    let result = execute::run("nginx", &["-t", "-q"])
        .and_then(|_| execute::run("systemctl", &["reload-or-restart", "nginx"]))
        .and_then(|_| obtain(plan, email));
    let _ = std::fs::remove_file(ACME_CONF);
    let _ = execute::run("systemctl", &["reload", "nginx"]);
    result
}

/// The temporary ACME challenge server used by `--certbot` on the first issue.
const ACME_CONF: &str = "/etc/nginx/conf.d/mercure-setup-acme.conf";

fn obtain(plan: &Plan, email: &str) -> Result<(), String> {
    let mut args =
        vec!["certonly", "--webroot", "-w", &plan.acme_webroot, "-d", &plan.domain, "--cert-name", &plan.domain];
    args.extend(["--email", email, "--agree-tos", "-n", "--deploy-hook", "systemctl reload nginx"]);
    execute::run("certbot", &args).map(drop)
}

fn rollback(root: &Path, ts: Option<&str>, real: bool, yes: bool) -> Result<(), Error> {
    let (dir, m) = backup::load(root, ts).map_err(Error::Usage)?;
    println!("restoring backup {} ({} paths) into {}", m.timestamp, m.entries.len(), root.display());
    for e in &m.entries {
        println!("  {}", e.path);
    }
    if !yes {
        confirm("Restore these paths?")?;
    }
    let done = execute::rollback(root, &dir, &m, real).map_err(Error::Failed)?;
    println!("restored {} item{}", done.len(), plural(done.len()));
    Ok(())
}
