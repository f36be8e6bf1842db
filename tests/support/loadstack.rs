//! nginx for load tests: the stack's site under a main nginx.conf whose connection
//! limits the test chooses (the bundle's tuning, or Debian's stock 768), and a helper
//! that runs `mercure-setup loadtest` against the stack.

#![allow(dead_code)]

use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use mercure_setup::check::tools;

use super::stack::{Nginx, STARTUP, Stack, adapted_site, require_tool_sbin, wait_for_port};
use super::{ChildGuard, bin, free_port};

/// The main-context limits of nginx.conf under test.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Worker processes; 1 runs nginx as one process (no master).
    pub workers: u32,
    pub worker_connections: u32,
    /// `worker_rlimit_nofile`; None leaves the process limit as inherited (Debian's default).
    pub rlimit_nofile: Option<u32>,
}

/// Debian's `worker_processes auto`: one worker per core.
fn auto_workers() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| u32::try_from(n.get()).unwrap_or(1))
}

impl Limits {
    /// Debian 12's /etc/nginx/nginx.conf: `worker_processes auto`, `worker_connections 768`, no rlimit.
    pub fn debian_stock() -> Limits {
        Limits { workers: auto_workers(), worker_connections: 768, rlimit_nofile: None }
    }

    /// Debian's nginx.conf with what the bundle's INSTALL.md tells users to set for `subscribers`.
    pub fn generated(subscribers: u32) -> Limits {
        let wc = mercure_setup::sizing::worker_connections_for(subscribers);
        Limits { workers: auto_workers(), worker_connections: wc, rlimit_nofile: Some(wc * 2) }
    }
}

/// (Re)starts the stack's nginx with its site and `limits`: one process, or a master
/// and its workers in their own process group (which the guard kills as a whole).
pub fn start_nginx_limited(stack: &mut Stack, limits: Limits) {
    let site = stack.site_text();
    start_nginx_limited_site(stack, limits, &site);
}

/// [`start_nginx_limited`] with `site_text` instead of the bundle's site.
pub fn start_nginx_limited_site(stack: &mut Stack, limits: Limits, site_text: &str) {
    stack.nginx = None;
    let nginx = require_tool_sbin("nginx", "apt-get install nginx");
    let prefix = stack.work.join(format!("nginx-load-{}", limits.worker_connections));
    std::fs::create_dir_all(&prefix).unwrap();
    let (tls_port, plain_port) = (free_port(), free_port());
    let site = adapted_site(site_text, &stack.r, &stack.public, &prefix, tls_port, plain_port);
    let conf = tools::write_nginx_wrapper(&prefix, &site).unwrap();
    let text = std::fs::read_to_string(&conf).unwrap();
    let mut text =
        text.replace("worker_connections 1024;", &format!("worker_connections {};", limits.worker_connections));
    if limits.workers > 1 {
        text = text
            .replace("master_process off;", "master_process on;")
            .replace("worker_processes 1;", &format!("worker_processes {};", limits.workers));
    }
    if let Some(n) = limits.rlimit_nofile {
        text = text.replace("master_process", &format!("worker_rlimit_nofile {n};\nmaster_process"));
    }
    // Access logging of thousands of long requests is not what is measured.
    text = text.replace(&format!("access_log {}/access.log;", prefix.display()), "access_log off;");
    std::fs::write(&conf, text).unwrap();
    let log = std::fs::File::create(prefix.join("nginx.out")).unwrap();
    let child = Command::new(nginx)
        .process_group(0)
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
    let guard = ChildGuard::group("nginx (load)", child);
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
    keep_report_bytes(name, text.as_bytes());
}

/// [`keep_report`] for a binary file (the hub's heap profile).
pub fn keep_report_bytes(name: &str, bytes: &[u8]) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("loadtest-reports");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join(name), bytes);
}

/// Resident memory and CPU time of a process and all its descendants, read from /proc.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    pub rss_bytes: u64,
    pub cpu_secs: f64,
    /// Open file descriptors, summed over the tree.
    pub fds: u64,
}

/// `getconf NAME` as a number (page size, clock ticks).
fn getconf(name: &str) -> u64 {
    let o = Command::new("getconf").arg(name).output().unwrap();
    String::from_utf8_lossy(&o.stdout).trim().parse().unwrap()
}

/// The usage of `root` and its descendants now.
pub fn usage_of_tree(root: u32) -> Usage {
    // (pid, ppid, cpu ticks, rss pages) of every process.
    let mut procs = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // The command name is in parentheses and may hold spaces: fields start after it.
        let Some((head, rest)) = stat.rsplit_once(") ") else { continue };
        let Ok(pid) = head.split_once(' ').map_or("", |(p, _)| p).parse::<u32>() else { continue };
        let f: Vec<&str> = rest.split_whitespace().collect();
        let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        // After the name: state(0) ppid(1) ... utime(11) stime(12) ... rss(21).
        procs.push((pid, u32::try_from(num(1)).unwrap_or(0), num(11) + num(12), num(21)));
    }
    let tree = descendants(root, &procs.iter().map(|p| (p.0, p.1)).collect::<Vec<_>>());
    let (page, ticks) = (getconf("PAGESIZE"), getconf("CLK_TCK"));
    let mine = procs.iter().filter(|p| tree.contains(&p.0));
    let (cpu, rss) = mine.fold((0, 0), |(c, r), p| (c + p.2, r + p.3));
    let fds =
        tree.iter().map(|pid| std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count) as u64).sum();
    #[allow(clippy::cast_precision_loss)]
    Usage { rss_bytes: rss * page, cpu_secs: cpu as f64 / ticks as f64, fds }
}

/// `root` and its descendants among `procs` (pid, parent pid).
fn descendants(root: u32, procs: &[(u32, u32)]) -> Vec<u32> {
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(procs.iter().filter(|p| p.1 == parent).map(|p| p.0));
        i += 1;
    }
    tree
}

/// The pids of `root` and its descendants now.
pub fn tree_pids(root: u32) -> Vec<u32> {
    let mut procs = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        let Some((_, rest)) = stat.rsplit_once(") ") else { continue };
        let parent = rest.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0);
        procs.push((pid, parent));
    }
    descendants(root, &procs)
}

/// Memory of a process tree from `/proc/PID/smaps_rollup`, in bytes, summed over the
/// tree: `pss` charges pages shared by nginx's master and workers once, `private` is
/// what the processes alone hold (dirty and clean), `anon` the heap and stacks.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Rollup {
    pub rss: u64,
    pub pss: u64,
    pub private: u64,
    pub anon: u64,
}

pub fn rollup_of_tree(root: u32) -> Rollup {
    let mut r = Rollup::default();
    for pid in tree_pids(root) {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) else { continue };
        for line in text.lines() {
            let mut it = line.split_whitespace();
            let (Some(key), Some(kb)) = (it.next(), it.next().and_then(|v| v.parse::<u64>().ok())) else { continue };
            match key {
                "Rss:" => r.rss += kb * 1024,
                "Pss:" => r.pss += kb * 1024,
                "Private_Clean:" | "Private_Dirty:" => r.private += kb * 1024,
                "Anonymous:" => r.anon += kb * 1024,
                _ => {}
            }
        }
    }
    r
}

/// The hub's Go runtime, from the pprof endpoints of Caddy's admin API (`addr`,
/// host:port on loopback): goroutines, and `runtime.MemStats` in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct GoMem {
    pub goroutines: u64,
    pub heap_alloc: u64,
    pub heap_inuse: u64,
    pub stack_inuse: u64,
    pub sys: u64,
    pub next_gc: u64,
    pub num_gc: u64,
}

/// GET `path` from Caddy's admin API at `addr`: the body of a 200 answer.
pub fn admin_get(addr: &str, path: &str) -> Option<Vec<u8>> {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(30))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut all = Vec::new();
    s.read_to_end(&mut all).ok()?;
    let end = all.windows(4).position(|w| w == b"\r\n\r\n")?;
    all.starts_with(b"HTTP/1.0 200").then(|| all[end + 4..].to_vec())
}

pub fn go_mem(addr: &str) -> Option<GoMem> {
    let g = String::from_utf8(admin_get(addr, "/debug/pprof/goroutine?debug=1")?).ok()?;
    let goroutines = g.lines().next()?.strip_prefix("goroutine profile: total ")?.trim().parse().ok()?;
    let heap = String::from_utf8(admin_get(addr, "/debug/pprof/heap?debug=1")?).ok()?;
    // `# HeapInuse = 123` lines; `# Stack = inuse / sys`.
    let stat = |name: &str| {
        heap.lines()
            .find_map(|l| l.strip_prefix(&format!("# {name} = ")))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Some(GoMem {
        goroutines,
        heap_alloc: stat("HeapAlloc"),
        heap_inuse: stat("HeapInuse"),
        stack_inuse: stat("Stack"),
        sys: stat("Sys"),
        next_gc: stat("NextGC"),
        num_gc: stat("NumGC"),
    })
}

/// Samples the peak resident memory and descriptor count of process trees while a
/// load test runs.
pub struct PeakSampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: std::thread::JoinHandle<Vec<Usage>>,
}

impl PeakSampler {
    pub fn start(roots: Vec<u32>) -> PeakSampler {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut peaks = vec![Usage::default(); roots.len()];
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                for (peak, root) in peaks.iter_mut().zip(&roots) {
                    let now = usage_of_tree(*root);
                    peak.rss_bytes = peak.rss_bytes.max(now.rss_bytes);
                    peak.fds = peak.fds.max(now.fds);
                }
                std::thread::sleep(std::time::Duration::from_millis(250));
            }
            peaks
        });
        PeakSampler { stop, handle }
    }

    /// The peak resident bytes and descriptors of each tree, in the order given to `start`.
    pub fn finish(self) -> Vec<Usage> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.handle.join().unwrap()
    }
}
