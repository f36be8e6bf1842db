//! nginx for load tests: the stack's site under a main nginx.conf whose connection
//! limits the test chooses (the bundle's tuning, or Debian's stock 768), and a helper
//! that runs `mercure-setup loadtest` against the stack.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

use mercure_setup::check::tools;

use super::stack::{Nginx, STARTUP, Stack, adapted_site, require_tool_sbin, wait_for_port};
use super::{ChildGuard, bin, free_port};

/// The main-context limits of nginx.conf under test.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub worker_connections: u32,
    /// `worker_rlimit_nofile`; None leaves the process limit as inherited (Debian's default).
    pub rlimit_nofile: Option<u32>,
}

impl Limits {
    /// Debian 12's /etc/nginx/nginx.conf: `worker_connections 768`, no rlimit.
    pub const DEBIAN_STOCK: Limits = Limits { worker_connections: 768, rlimit_nofile: None };

    /// What the bundle's INSTALL.md tells users to set for `subscribers`.
    pub fn generated(subscribers: u32) -> Limits {
        let wc = mercure_setup::plan::worker_connections_for(subscribers);
        Limits { worker_connections: wc, rlimit_nofile: Some(wc * 2) }
    }
}

/// (Re)starts the stack's nginx with its site and `limits`, in one process (so the
/// guard's kill by PID stops all of it; Debian runs one worker per core, each with
/// this many connections).
pub fn start_nginx_limited(stack: &mut Stack, limits: Limits) {
    stack.nginx = None;
    let nginx = require_tool_sbin("nginx", "apt-get install nginx");
    let prefix = stack.work.join(format!("nginx-load-{}", limits.worker_connections));
    std::fs::create_dir_all(&prefix).unwrap();
    let (tls_port, plain_port) = (free_port(), free_port());
    let site = adapted_site(&stack.site_text(), &stack.r, &stack.public, &prefix, tls_port, plain_port);
    let conf = tools::write_nginx_wrapper(&prefix, &site).unwrap();
    let text = std::fs::read_to_string(&conf).unwrap();
    let mut text =
        text.replace("worker_connections 1024;", &format!("worker_connections {};", limits.worker_connections));
    if let Some(n) = limits.rlimit_nofile {
        text = text.replace("worker_processes 1;", &format!("worker_processes 1;\nworker_rlimit_nofile {n};"));
    }
    // Access logging of thousands of long requests is not what is measured.
    text = text.replace(&format!("access_log {}/access.log;", prefix.display()), "access_log off;");
    std::fs::write(&conf, text).unwrap();
    let log = std::fs::File::create(prefix.join("nginx.out")).unwrap();
    let child = Command::new(nginx)
        .arg("-p")
        .arg(&prefix)
        .arg("-c")
        .arg(&conf)
        .arg("-e")
        .arg(prefix.join("error.log"))
        .args(["-g", "daemon off;"])
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let guard = ChildGuard::new("nginx (load)", child);
    assert!(
        wait_for_port(tls_port, STARTUP),
        "nginx did not start: {}",
        std::fs::read_to_string(prefix.join("nginx.out")).unwrap_or_default()
    );
    stack.nginx = Some(Nginx { guard, https_port: tls_port, http_port: plain_port, prefix: prefix.clone() });
}

/// The arguments that point `loadtest` at the stack's public side.
pub fn loadtest_args(stack: &Stack) -> Vec<String> {
    let bundle = stack.r.tmp.path().join("bundle");
    loadtest_args_with(stack, &bundle.join("tokens/publisher.jwt"), &bundle.join("tokens/subscriber.jwt"))
}

/// `loadtest_args` with other publisher and subscriber token files.
pub fn loadtest_args_with(stack: &Stack, publisher: &Path, subscriber: &Path) -> Vec<String> {
    vec![
        "loadtest".into(),
        "--public-url".into(),
        stack.public_url(""),
        "--token-file".into(),
        publisher.to_string_lossy().into_owned(),
        "--subscriber-token-file".into(),
        subscriber.to_string_lossy().into_owned(),
        "--resolve".into(),
        format!("{}:{}:127.0.0.1", stack.r.domain(), stack.nginx().https_port),
        "--public-ca".into(),
        stack.public.ca.to_string_lossy().into_owned(),
    ]
}

/// Runs `loadtest` with the stack's arguments plus `extra`; `shell_prefix` runs it
/// under `sh -c` (e.g. `ulimit -Hn 256;`) to give the client other limits.
pub fn run_loadtest(stack: &Stack, extra: &[&str], shell_prefix: Option<&str>) -> Output {
    run_loadtest_args(loadtest_args(stack), extra, shell_prefix)
}

/// Runs `loadtest` with `args` (from `loadtest_args_with`) plus `extra`.
pub fn run_loadtest_args(mut args: Vec<String>, extra: &[&str], shell_prefix: Option<&str>) -> Output {
    args.extend(extra.iter().map(|s| (*s).to_string()));
    let mut cmd = match shell_prefix {
        Some(prefix) => {
            let mut c = Command::new("sh");
            c.arg("-c").arg(format!("{prefix} exec \"$0\" \"$@\"")).arg(bin()).args(&args);
            c
        }
        None => {
            let mut c = Command::new(bin());
            c.args(&args);
            c
        }
    };
    cmd.stdin(Stdio::null()).output().unwrap()
}

/// Where a test's load-test reports are kept for the closing note.
pub fn keep_report(name: &str, text: &str) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("loadtest-reports");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join(name), text);
}
