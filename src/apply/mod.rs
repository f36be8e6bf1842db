//! `mercure-setup apply`: puts a rendered bundle live on this machine. It prints the
//! plan of actions first, checks everything it can before changing anything
//! (preflight), backs up every path it touches, then verifies the result with the
//! real programs and doctor's probes, rolling everything back when a step fails.
//!
//! `lock` (one run per root) -> `verify` (the bundle, read once) -> `install_plan`
//! (pure, shared with INSTALL.md) -> `changes` (compared with the machine) ->
//! `preflight` -> `backup` + `execute`; every file access below the root goes through
//! `beneath`'s folder descriptors.

pub mod backup;
pub mod beneath;
pub mod changes;
pub mod execute;
pub mod lock;
pub mod nginx_conf;
pub mod preflight;
pub mod verify;

use std::fmt::Write as _;
use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::install_plan::actions::{self, Action};
use crate::install_plan::steps::{Services, live_steps};
use crate::plan::Plan;
use beneath::Root;
use changes::{Change, ChangeStatus};
use verify::Verified;

/// What `apply` is asked to do (the command line's flags, `cmd::apply`).
// Flags are on or off.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The bundle folder written by `render` (unused by a rollback).
    pub bundle: PathBuf,
    /// Print the plan and change nothing.
    pub dry_run: bool,
    /// Do it without asking.
    pub yes: bool,
    /// The Mercure hub binary to install (default: the one already at `hub.binary`).
    pub hub_binary: Option<PathBuf>,
    /// Obtain the public certificate with certbot (webroot) for this e-mail address.
    pub certbot: Option<String>,
    /// Apply into this staging folder instead of / (no users, owners or services).
    pub root: Option<PathBuf>,
    /// Restore this backup (empty: the newest) instead of applying.
    pub rollback: Option<String>,
    /// Install bundle files that differ from what `render` recorded.
    pub accept_edits: bool,
    /// Show the contents of the files to be written.
    pub show_content: bool,
    /// How doctor reaches the site after going live.
    pub reach: crate::net::ReachArgs,
}

/// Why `apply` stopped, besides its parts' own errors.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("apply changes system files: run it as root (sudo)")]
    NotRoot,
    #[error("--root: {0}")]
    RootUnopenable(#[source] std::io::Error),
    #[error("--root {}: {source}", .path.display())]
    RootNotFound { path: PathBuf, source: std::io::Error },
    #[error("--hub-binary {}: {source}", .path.display())]
    HubBinaryNotFound { path: PathBuf, source: std::io::Error },
    #[error("--hub-binary: {0}")]
    HubBinaryUnreadable(#[source] crate::output::OutputError),
    #[error("--hub-binary {}: no such file", .path.display())]
    NoHubBinary { path: PathBuf },
    /// Every preflight problem, listed.
    #[error(
        "preflight failed, nothing was changed:\n{}",
        .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n")
    )]
    Preflight(Vec<String>),
    #[error("no terminal to confirm on: review the plan (--dry-run), then pass --yes")]
    NoTerminal,
    #[error("cancelled: nothing was changed")]
    Cancelled,
    #[error("cannot create the backup folder: {0}")]
    BackupFolder(#[source] std::io::Error),
    #[error("--certbot writes {expected}; render with public_tls.certificate set to it")]
    CertbotCertificate { expected: String },
    /// The temporary ACME challenge server could not be set up.
    #[error(transparent)]
    AcmeServer(std::io::Error),
    #[error("cannot copy the verified bundle for doctor: {0}")]
    DoctorCopy(#[source] std::io::Error),
    /// doctor's last verdict after three runs.
    #[error("{last} (three runs)")]
    Doctor { last: String },
    #[error(transparent)]
    Execute(#[from] execute::ExecuteError),
    /// A step failed after changes began; what the rollback put back.
    #[error(
        "step `{step}` failed: {source}\nrolled back:\n{}",
        .restored.iter().map(|r| format!("  {r}")).collect::<Vec<_>>().join("\n")
    )]
    RolledBack { step: String, source: Box<ApplyError>, restored: Vec<String> },
}

/// Refusals before anything changes are preflight (exit 3), the user's flags and
/// answers usage (exit 2); a failed step is a failure (exit 1).
impl From<ApplyError> for Error {
    fn from(e: ApplyError) -> Self {
        match e {
            ApplyError::Preflight(_) => Error::Preflight(e.to_string()),
            ApplyError::NotRoot
            | ApplyError::RootUnopenable(_)
            | ApplyError::RootNotFound { .. }
            | ApplyError::HubBinaryNotFound { .. }
            | ApplyError::HubBinaryUnreadable(_)
            | ApplyError::NoHubBinary { .. }
            | ApplyError::NoTerminal
            | ApplyError::Cancelled => Error::Usage(e.to_string()),
            ApplyError::Execute(e) => e.into(),
            ApplyError::BackupFolder(_)
            | ApplyError::CertbotCertificate { .. }
            | ApplyError::AcmeServer(_)
            | ApplyError::DoctorCopy(_)
            | ApplyError::Doctor { .. }
            | ApplyError::RolledBack { .. } => Error::Failed(e.to_string()),
        }
    }
}

/// Runs `apply`.
pub fn run(args: &Options) -> Result<(), Error> {
    let real = args.root.is_none();
    let root_path = args.root.clone().unwrap_or_else(|| PathBuf::from("/"));
    if real && !preflight::is_root() {
        return Err(ApplyError::NotRoot.into());
    }
    if !real && preflight::is_root() {
        staging_root_problem(&root_path)?;
    }
    let root = Root::open(&root_path).map_err(ApplyError::RootUnopenable)?;
    // Held until this function returns: the comparison, the writes and any rollback.
    let _lock = lock::acquire(&root)?;
    if let Some(ts) = &args.rollback {
        return rollback(&root, (!ts.is_empty()).then_some(ts.as_str()), real, args);
    }
    let dir = args.bundle.as_path();
    let bundle = verify::read_bundle(
        dir,
        args.accept_edits,
        |dest| root.read(dest, crate::output::READ_CAP).ok().flatten(),
        |answers| {
            actions::actions(&Plan::new(answers.clone(), None))
                .into_iter()
                .filter_map(|a| match a {
                    Action::File { src, dest, secret, .. } => Some(verify::Wanted { rel: src, secret, dest }),
                    _ => None,
                })
                .collect()
        },
    )?;
    let plan = Plan::new(bundle.answers.clone(), None);
    let actions = actions::actions(&plan);
    let hub_source = match &args.hub_binary {
        Some(p) => {
            Some(std::fs::canonicalize(p).map_err(|source| ApplyError::HubBinaryNotFound { path: p.clone(), source })?)
        }
        None => None,
    };
    if let Some(p) = &hub_source {
        let me = verify::invoking_uid();
        let then = "change the program root runs; keep it in a folder of root's or yours, owned by root or you";
        let problem = verify::changeable_chain(p, me, "--hub-binary", then);
        if let Some(problem) = problem {
            return Err(ApplyError::Preflight(vec![problem]).into());
        }
    }
    let hub_bytes = match &hub_source {
        Some(p) => Some(
            crate::output::read_regular(p, backup::BINARY_CAP)
                .map_err(ApplyError::HubBinaryUnreadable)?
                .ok_or_else(|| ApplyError::NoHubBinary { path: p.clone() })?,
        ),
        None => None,
    };
    let ctx = changes::Context { root: &root, bundle: &bundle.files, hub: hub_bytes.as_deref(), owners: real };
    let (changes, mut problems) = changes::compare(&actions, &ctx)?;

    let hub = hub_bytes.as_deref().zip(hub_source.as_deref());
    problems.extend(preflight_problems(args, &bundle, &plan, &root, real, hub));
    let show = args.show_content || args.dry_run;
    let text = plan_text(&changes, &bundle, real, show);
    print!("{text}");
    if !problems.is_empty() {
        return Err(ApplyError::Preflight(problems).into());
    }
    let todo = changes.iter().filter(|c| c.todo()).count();
    if todo == 0 {
        println!("nothing to do: {} already matches the bundle", root_path.display());
        return Ok(());
    }
    if args.dry_run {
        println!("dry run: nothing was changed");
        return Ok(());
    }
    if !args.yes {
        confirm(&format!("Apply these {todo} changes?"))?;
    }
    Ok(go(args, &plan, &root, &bundle, &changes, real)?)
}

/// Under `--root` as root, the staging root and the folders above it must be root's or the
/// caller's alone: apply reaches its scratch and state folders there by path too, and
/// whoever could rename one of them could put their own tree (and program) in its place.
fn staging_root_problem(root_path: &Path) -> Result<(), ApplyError> {
    let canonical = std::fs::canonicalize(root_path)
        .map_err(|source| ApplyError::RootNotFound { path: root_path.to_path_buf(), source })?;
    let then = "swap the tree apply writes and runs the hub from; stage in a folder of root's or yours";
    match verify::changeable_chain(&canonical, verify::invoking_uid(), "the staging root", then) {
        Some(p) => Err(ApplyError::Preflight(vec![p])),
        None => Ok(()),
    }
}

/// The hub binary already in place, read once (regular, capped, no link followed at
/// its name): root runs it, so it must be root's and writable by root alone.
fn staged_hub(root: &Root, path: &str) -> Result<Option<Vec<u8>>, String> {
    let shown = root.show(path);
    let read = root.parent(path).and_then(|(dir, name)| match dir {
        Some(d) => d.read(name, backup::BINARY_CAP),
        None => Ok(None),
    });
    match read {
        Ok(None) => Ok(None),
        Ok(Some((_, meta))) if meta.writable_by_others() => Err(format!(
            "the hub binary {shown} is {}: root runs it, so only root may be able to change it \
             (chown root:root {shown}; chmod 755 {shown}), or pass --hub-binary FILE",
            meta.describe()
        )),
        Ok(Some((bytes, _))) => Ok(Some(bytes)),
        Err(e) => Err(format!("the hub binary cannot be read: {e}")),
    }
}

/// `folder` and the folders above it that a user other than root can change, each with
/// what it is; a folder that does not exist yet is made by apply, root's.
fn changeable_by_others(root: &Root, folder: &str) -> Vec<(String, String)> {
    let Ok(parts) = beneath::components(folder) else { return vec![] };
    let mut found = Vec::new();
    for depth in 1..=parts.len() {
        let here = format!("/{}", parts[..depth].join("/"));
        match root.dir(&here).and_then(|d| d.map(|d| d.meta()).transpose()) {
            Ok(None) => break,
            Ok(Some(meta)) if meta.writable_by_others() => found.push((root.show(&here), meta.describe())),
            Ok(Some(_)) => {}
            Err(e) => found.push((root.show(&here), e.to_string())),
        }
    }
    found
}

/// The folders holding `hub.binary` that a user other than root can change: whoever can
/// would swap the binary that root and the hub's service run.
fn hub_folder_problems(root: &Root, path: &str) -> Vec<String> {
    let Ok((folder, _)) = beneath::split(path) else { return vec![] };
    changeable_by_others(root, folder)
        .into_iter()
        .map(|(shown, what)| {
            format!(
                "{shown} is {what}: whoever can write it can replace the hub binary root runs; keep hub.binary in \
                 a folder only root can change, such as /usr/local/bin"
            )
        })
        .collect()
}

/// With `--certbot`, the ACME webroot and the folders above it: certbot, as root, writes
/// its challenge files there, following whatever link another user put in them.
fn webroot_problems(root: &Root, webroot: &str) -> Vec<String> {
    changeable_by_others(root, webroot)
        .into_iter()
        .map(|(shown, what)| {
            format!(
                "{shown} is {what}: certbot writes the ACME challenge below it as root, so only root may be able \
                 to change it (or set acme_webroot to a folder of root's, such as /var/www/letsencrypt)"
            )
        })
        .collect()
}

/// Every preflight problem at once.
fn preflight_problems(
    args: &Options,
    bundle: &Verified,
    plan: &Plan,
    root: &Root,
    real: bool,
    hub: Option<(&[u8], &Path)>,
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
    if root.lstat(actions::NGINX_CONF).ok().flatten().is_none() {
        p.push(format!("{} is missing: is nginx installed from Debian's package?", root.show(actions::NGINX_CONF)));
    }
    p.extend(hub_folder_problems(root, &plan.hub_binary));
    let staged = match hub {
        Some(_) => Ok(None),
        None => staged_hub(root, &plan.hub_binary),
    };
    let private = root.path().join(backup::STATE_DIR.trim_start_matches('/'));
    match (hub, staged) {
        (Some((bytes, source)), _) => {
            p.extend(preflight::hub_version_problem(bytes, &source.display().to_string(), &private, plan.hub));
        }
        (None, Ok(Some(bytes))) => {
            p.extend(preflight::hub_version_problem(&bytes, &root.show(&plan.hub_binary), &private, plan.hub));
        }
        (None, Ok(None)) => p.push(format!(
            "no hub binary at {}: download the Mercure release and pass --hub-binary FILE",
            root.show(&plan.hub_binary)
        )),
        (None, Err(e)) => p.push(e),
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
        let cert = root.read_following(&plan.public_certificate, crate::output::READ_CAP);
        let key = root.read_following(&plan.public_certificate_key, crate::output::READ_CAP).map(drop);
        p.extend(preflight::certificate_problem(
            cert,
            &root.show(&plan.public_certificate),
            key,
            &root.show(&plan.public_certificate_key),
            &plan.domain,
        ));
    } else {
        p.extend(webroot_problems(root, &plan.acme_webroot));
        if real && crate::host::find_program("certbot").is_none() {
            p.push("--certbot needs certbot: apt-get install certbot".into());
        }
    }
    p
}

/// The nginx version the bundle was rendered for: its answers, or for `nginx.version: auto`
/// the version the site file's first line names (what `auto` found when it was rendered).
fn rendered_nginx(bundle: &Verified, plan: &Plan) -> Option<crate::values::NginxVersion> {
    if let crate::values::NginxVersionChoice::Known(v) = plan.answers.nginx.version {
        return Some(v);
    }
    let site = std::str::from_utf8(bundle.files.get(&bundle.nginx_site)?).ok()?;
    let first = site.lines().next()?;
    let v = first.split(", nginx ").nth(1)?.split(')').next()?;
    crate::values::NginxVersion::parse(v).ok()
}

/// The installed Caddyfile, if there is one.
fn installed_caddyfile(root: &Root) -> Option<String> {
    let bytes = root.read(crate::plan::install::CADDYFILE, crate::output::READ_CAP).ok().flatten()?;
    String::from_utf8(bytes).ok()
}

/// The printed plan: every action with its status; with `show`, what each file to
/// write holds (new) or how it differs (replaced), secrets excepted.
pub fn plan_text(changes: &[Change], bundle: &Verified, real: bool, show: bool) -> String {
    let mut t = format!(
        "mercure-setup apply: {} ({})\n",
        bundle.root.display(),
        if real { "this machine" } else { "staging root, no service actions" }
    );
    let n = bundle.files.len();
    if bundle.accepted.is_empty() {
        let _ = writeln!(t, "verified: the {n} bundle files apply installs are as `render` wrote them");
    } else {
        let _ = writeln!(t, "verified: {n} bundle files; installing edits accepted in: {}", bundle.accepted.join(", "));
    }
    for (i, c) in changes.iter().enumerate() {
        let (mark, note) = match &c.status {
            ChangeStatus::InPlace => ("=", "in place".to_string()),
            ChangeStatus::Todo { replaces } => ("+", format!("replaces {replaces}")),
            ChangeStatus::Skipped(why) => ("-", format!("skipped: {why}")),
        };
        let _ = writeln!(t, "{mark} {:2}. {} [{note}]", i + 1, c.action.describe());
        if let Some(diff) = &c.diff {
            for line in diff.lines() {
                let _ = writeln!(t, "        {line}");
            }
        } else if show && c.todo() {
            t.push_str(&content_text(c));
        }
    }
    if real {
        let steps = live_steps(changes::touched(changes), &execute::services_now());
        if changes.iter().any(Change::todo) {
            let _ = writeln!(t, "then: {}; then doctor's probes", steps.join("; "));
        }
    }
    printable(&t).into_owned()
}

/// A file change's new contents, or its diff from what is there.
fn content_text(c: &Change) -> String {
    let Some(new) = &c.contents else { return String::new() };
    let secret = matches!(c.action, Action::File { secret: true, .. });
    let body = if secret {
        "(holds a secret: contents not shown)".to_string()
    } else if matches!(c.action, Action::InstallHub { .. }) {
        format!("(a program, {} bytes)", new.len())
    } else {
        match (std::str::from_utf8(new), c.current.as_deref().map(std::str::from_utf8)) {
            (Ok(new), Some(Ok(old))) if old != new => similar::TextDiff::from_lines(old, new)
                .unified_diff()
                .context_radius(2)
                .header("installed", "bundle")
                .to_string(),
            (Ok(new), _) => new.to_string(),
            (Err(_), _) => format!("(not text, {} bytes)", new.len()),
        }
    };
    indent(&body, "        | ")
}

/// Each line of `text` with `prefix` in front, for text shown inside the plan; control
/// characters escaped (see [`printable`]).
fn indent(text: &str, prefix: &str) -> String {
    text.lines().fold(String::new(), |mut out, line| {
        out.push_str(prefix);
        out.push_str(&printable(line));
        out.push('\n');
        out
    })
}

/// `text` with every control character but newline and tab escaped (`\u{1b}`): what apply
/// shows of files another user could have written (a project's `mercure.yaml`, a link's
/// target) must not drive the admin's terminal (clear it, retitle it, hide a line).
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return text.into();
    }
    text.chars()
        .map(|c| if c.is_control() && c != '\n' && c != '\t' { c.escape_debug().to_string() } else { c.to_string() })
        .collect::<String>()
        .into()
}

fn confirm(question: &str) -> Result<(), ApplyError> {
    if !std::io::stdin().is_terminal() {
        return Err(ApplyError::NoTerminal);
    }
    print!("{question} [y/N] ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    if matches!(line.trim(), "y" | "Y" | "yes") { Ok(()) } else { Err(ApplyError::Cancelled) }
}

/// Backs up and writes, then goes live; a failure rolls everything back.
fn go(
    args: &Options,
    plan: &Plan,
    root: &Root,
    bundle: &Verified,
    changes: &[Change],
    real: bool,
) -> Result<(), ApplyError> {
    let services = if real { execute::services_now() } else { Services::default() };
    let mut b = backup::Backup::create(root, &bundle.root.display().to_string(), services.clone())
        .map_err(ApplyError::BackupFolder)?;
    println!("backup: {}", b.shown());
    // The certificate comes first: the new site cannot pass `nginx -t` without it.
    let mut result = match (&args.certbot, real) {
        (Some(email), true) => certbot(root, plan, email).map_err(|e| ("certbot".to_string(), e)),
        _ => Ok(()),
    };
    if result.is_ok() {
        result =
            execute::write_changes(root, changes, &mut b, real).map_err(|e| ("writing files".to_string(), e.into()));
    }
    if result.is_ok() && real {
        for step in live_steps(changes::touched(changes), &services) {
            println!("  {step}");
            if let Err(e) = execute::live_step(step, &plan.hub_binary) {
                result = Err((step.to_string(), e.into()));
                break;
            }
        }
        if result.is_ok() {
            let state = root.path().join(backup::STATE_DIR.trim_start_matches('/'));
            result = bundle
                .private_copy(&state)
                .map_err(ApplyError::DoctorCopy)
                .and_then(|copy| doctor(args, copy.path(), plan))
                .map_err(|e| ("doctor".to_string(), e));
        }
    }
    match result {
        Ok(()) => {
            let n = changes.iter().filter(|c| c.todo()).count();
            println!(
                "applied {n} change{}; backup {} (undo: {})",
                plural(n),
                b.manifest.timestamp,
                undo_command(args, &b.manifest.timestamp)
            );
            let mut notes: Vec<&String> = changes
                .iter()
                .filter_map(|c| if let ChangeStatus::Skipped(why) = &c.status { Some(why) } else { None })
                .collect();
            notes.dedup();
            for why in notes {
                crate::ui::note(why);
            }
            Ok(())
        }
        Err((step, e)) => {
            let restored = execute::rollback(root, &b.dir, &b.manifest, real)
                .unwrap_or_else(|r| vec![format!("ROLLBACK FAILED: {r}; the backup is {}", b.shown())]);
            Err(ApplyError::RolledBack { step, source: Box::new(e), restored })
        }
    }
}

/// The command that undoes this run, safe to paste: `--root` kept, every value quoted.
fn undo_command(args: &Options, timestamp: &str) -> String {
    let mut words = vec!["mercure-setup", "apply", "--rollback", timestamp];
    let root = args.root.as_ref().map(|r| r.display().to_string());
    if let Some(r) = &root {
        words.extend(["--root", r]);
    }
    crate::install_plan::shell::command(&words)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// doctor's probes from this machine: the public name resolved to this machine.
fn doctor(args: &Options, bundle: &Path, plan: &Plan) -> Result<(), ApplyError> {
    let mut reach = args.reach.clone();
    if !reach.resolve.iter().any(|r| r.host == plan.domain && r.port == 443) {
        let addr = std::net::IpAddr::from([127, 0, 0, 1]);
        reach.resolve.push(crate::net::ResolveEntry { host: plan.domain.clone(), port: 443, addr });
    }
    let d = crate::doctor::Options {
        bundle: Some(bundle.to_path_buf()),
        reach,
        timeout: crate::values::Duration { text: "10s".into(), millis: 10_000 },
        ..crate::doctor::Options::default()
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
    Err(ApplyError::Doctor { last })
}

/// Obtains the public certificate with certbot's webroot plugin, saving a deploy hook
/// that reloads nginx so every renewal is served.
fn certbot(root: &Root, plan: &Plan, email: &str) -> Result<(), ApplyError> {
    let expected = format!("/etc/letsencrypt/live/{}/fullchain.pem", plan.domain);
    if plan.public_certificate != expected {
        return Err(ApplyError::CertbotCertificate { expected });
    }
    if root.read_following(&plan.public_certificate, crate::output::READ_CAP).is_ok() {
        return Ok(());
    }
    // Until the site is live, a small port-80 server answers the ACME challenge.
    root.make_dir(&plan.acme_webroot, 0o755).map_err(ApplyError::AcmeServer)?;
    let conf = format!(
        "server {{\n\tlisten 80;\n\tserver_name {};\n\tlocation ^~ /.well-known/acme-challenge/ {{\n\t\troot {};\n\t}}\n}}\n",
        plan.domain, plan.acme_webroot
    );
    let (conf_dir, conf_name) = beneath::split(ACME_CONF).map_err(ApplyError::AcmeServer)?;
    let conf_dir = root.make_dir(conf_dir, 0o755).map_err(ApplyError::AcmeServer)?;
    conf_dir.write(conf_name, conf.as_bytes(), 0o644, None).map_err(ApplyError::AcmeServer)?;
    let result = execute::run("nginx", &["-t", "-q"])
        .and_then(|_| execute::run("systemctl", &["reload-or-restart", "nginx"]))
        .and_then(|_| obtain(plan, email));
    let _ = conf_dir.remove(conf_name);
    let _ = execute::run("systemctl", &["reload", "nginx"]);
    Ok(result?)
}

/// The temporary ACME challenge server used by `--certbot` on the first issue.
const ACME_CONF: &str = "/etc/nginx/conf.d/mercure-setup-acme.conf";

fn obtain(plan: &Plan, email: &str) -> Result<(), execute::ExecuteError> {
    let mut args =
        vec!["certonly", "--webroot", "-w", &plan.acme_webroot, "-d", &plan.domain, "--cert-name", &plan.domain];
    args.extend(["--email", email, "--agree-tos", "-n", "--deploy-hook", "systemctl reload nginx"]);
    execute::run("certbot", &args).map(drop)
}

fn rollback(root: &Root, ts: Option<&str>, real: bool, args: &Options) -> Result<(), Error> {
    let loaded = backup::load(root, ts)?;
    let m = &loaded.manifest;
    println!("restoring backup {} ({} paths) into {}", m.timestamp, m.entries.len(), root.path().display());
    for line in backup::restore_plan(m) {
        println!("  {line}");
    }
    if args.dry_run {
        println!("dry run: nothing was changed");
        return Ok(());
    }
    if !args.yes {
        confirm("Restore these paths?")?;
    }
    let done = execute::rollback(root, &loaded.dir, m, real)?;
    println!("restored {} item{}", done.len(), plural(done.len()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{EXIT_FAILURE, EXIT_PREFLIGHT, EXIT_USAGE};

    /// Each part's error carries its exit code in its kind: refusals before anything
    /// changes exit 3, the user's input 2, a failure while changing 1; the words are
    /// those the command printed before the errors were typed.
    #[test]
    fn the_exit_code_follows_from_the_error() {
        let io = || std::io::Error::other("boom");
        let cases: Vec<(Error, i32, &str)> = vec![
            (ApplyError::NotRoot.into(), EXIT_USAGE, "apply changes system files: run it as root (sudo)"),
            (
                ApplyError::Preflight(vec!["a".into(), "b".into()]).into(),
                EXIT_PREFLIGHT,
                "preflight failed, nothing was changed:\n  - a\n  - b",
            ),
            (ApplyError::Cancelled.into(), EXIT_USAGE, "cancelled: nothing was changed"),
            (
                ApplyError::RolledBack {
                    step: "nginx -t".into(),
                    source: Box::new(ApplyError::Doctor { last: "no".into() }),
                    restored: vec!["/etc/x".into()],
                }
                .into(),
                EXIT_FAILURE,
                "step `nginx -t` failed: no (three runs)\nrolled back:\n  /etc/x",
            ),
            (
                lock::LockError::Unsafe { shown: "/var".into(), what: "mode 0777".into() }.into(),
                EXIT_PREFLIGHT,
                "/var is mode 0777: apply keeps its lock and backups beneath it, so only root may be able to change \
                 it (chown root:root /var; chmod go-w /var); nothing was changed",
            ),
            (lock::LockError::Io(io()).into(), EXIT_FAILURE, "cannot take the apply lock: boom"),
            (
                verify::VerifyError::Untrusted(["x".to_string()].into()).into(),
                EXIT_PREFLIGHT,
                "the bundle cannot be trusted, nothing was changed:\n  - x",
            ),
            (verify::VerifyError::NotUtf8 { path: "/b/a.yaml".into() }.into(), EXIT_USAGE, "/b/a.yaml is not UTF-8"),
            (backup::BackupError::BadName { name: "../x".into() }.into(), EXIT_USAGE, "`../x` is not a backup name"),
            (
                execute::ExecuteError::Backup(backup::BackupError::Tampered { path: "/etc/x".into() }).into(),
                EXIT_FAILURE,
                "backup copy of /etc/x does not match its hash",
            ),
            (
                execute::ExecuteError::PartlyRestored { total: 3, done: vec!["a".into()], failed: vec!["b".into()] }
                    .into(),
                EXIT_FAILURE,
                "1 of 3 paths could not be restored; the rest were:\n  a\nnot restored:\n  b",
            ),
            (changes::ChangesError::NoBundleFile { src: "x".into() }.into(), EXIT_USAGE, "the bundle has no x"),
        ];
        for (e, code, text) in cases {
            assert_eq!((e.exit_code(), e.to_string()), (code, text.to_string()));
        }
    }
}
