//! `check --system`: the live nginx's connection and file limits against what the
//! bundle is sized for (from `nginx.expected_subscribers`): `worker_connections` and
//! `worker_rlimit_nofile` in nginx.conf, and nginx's systemd `LimitNOFILE`; and the
//! machine's memory and kernel settings against the bundle's sizing.

use std::path::Path;

use super::{CheckResult, Outcome};
use crate::bundle_dir::BundleDir;
use crate::formats;
use crate::troubleshooting::Row;

/// nginx's `worker_connections` when `events { }` sets none.
pub const NGINX_DEFAULT_WORKER_CONNECTIONS: u64 = 512;
/// systemd's default soft `LimitNOFILE` for a service.
pub const SYSTEMD_DEFAULT_NOFILE: u64 = 1024;

/// What the system says, each value with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Live {
    pub worker_connections: (u64, String),
    /// `None` when nginx.conf does not set it (nginx then keeps the service's limit).
    pub worker_rlimit_nofile: Option<(u64, String)>,
    pub limit_nofile: (u64, String),
}

/// What the bundle needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    pub subscribers: u32,
    pub worker_connections: u64,
    pub nofile: u64,
}

impl Needs {
    pub fn of(bundle: &BundleDir) -> Needs {
        let plan = crate::plan::Plan::new(bundle.answers.clone(), None);
        Needs {
            subscribers: plan.expected_subscribers,
            worker_connections: plan.worker_connections.into(),
            nofile: plan.worker_rlimit_nofile.into(),
        }
    }
}

/// A number and where it was read (`/etc/nginx/nginx.conf:4`, or whose default it is).
pub type Sourced = (u64, String);

/// `worker_connections` and `worker_rlimit_nofile` from an nginx.conf's text.
pub fn nginx_limits(text: &str, shown: &str) -> Result<(Sourced, Option<Sourced>), String> {
    let tree = formats::parse_nginx(text).map_err(|e| format!("{shown}: {e}"))?;
    let number = |d: &formats::NginxDirective| -> Result<(u64, String), String> {
        let v = d.args.first().map_or("", String::as_str);
        v.parse()
            .map(|n| (n, format!("{shown}:{}", d.line)))
            .map_err(|_| format!("{shown}:{}: `{} {v}`", d.line, d.name))
    };
    let events = tree.iter().find(|d| d.name == "events").and_then(|d| d.block.as_deref()).unwrap_or_default();
    let connections = match events.iter().find(|d| d.name == "worker_connections") {
        Some(d) => number(d)?,
        None => (NGINX_DEFAULT_WORKER_CONNECTIONS, format!("{shown} (nginx's default)")),
    };
    let rlimit = tree.iter().find(|d| d.name == "worker_rlimit_nofile").map(number).transpose()?;
    Ok((connections, rlimit))
}

/// The last `LimitNOFILE=` (its soft part) across unit files read in systemd's order.
pub fn limit_nofile(units: &[(String, String)]) -> (u64, String) {
    let mut found = (SYSTEMD_DEFAULT_NOFILE, "systemd's default soft limit".to_string());
    for (shown, text) in units {
        for line in text.lines() {
            if let Some(v) = line.trim().strip_prefix("LimitNOFILE=") {
                let soft = v.split(':').next().unwrap_or(v).trim();
                let n = if soft == "infinity" { u64::MAX } else { soft.parse().unwrap_or(0) };
                found = (n, shown.clone());
            }
        }
    }
    found
}

/// The problems of `live` against `needs`, with the numbers (empty when enough).
pub fn problems(live: &Live, needs: Needs) -> Vec<String> {
    let mut out = Vec::new();
    let (wc, wc_at) = &live.worker_connections;
    if *wc < needs.worker_connections {
        out.push(format!(
            "worker_connections {wc} ({wc_at}), the bundle needs {} for {} subscribers (two connections each, plus pages)",
            needs.worker_connections, needs.subscribers
        ));
    }
    match &live.worker_rlimit_nofile {
        Some((n, at)) if *n < needs.nofile => {
            out.push(format!("worker_rlimit_nofile {n} ({at}), the bundle needs {}", needs.nofile));
        }
        None => out.push(format!("no worker_rlimit_nofile in nginx.conf, the bundle needs {}", needs.nofile)),
        Some(_) => {}
    }
    let (n, at) = &live.limit_nofile;
    if *n < needs.nofile {
        out.push(format!("nginx.service LimitNOFILE={n} ({at}), the bundle needs {}", needs.nofile));
    }
    out
}

/// Reads nginx.conf and nginx's systemd units below `root` and compares them with the bundle.
pub fn check(bundle: &BundleDir, root: &Path) -> CheckResult {
    let at = |p: &str| root.join(p.trim_start_matches('/'));
    let conf = "/etc/nginx/nginx.conf";
    let outcome = match std::fs::read_to_string(at(conf)) {
        Err(e) => Outcome::Failed {
            error: format!("cannot read {}: {e}", at(conf).display()),
            fix: "run `check --system` on the server, as root".into(),
        },
        Ok(text) => match nginx_limits(&text, conf) {
            Err(error) => Outcome::Failed { error, fix: "fix nginx.conf (nginx -t names the line)".into() },
            Ok((worker_connections, worker_rlimit_nofile)) => {
                let live = Live { worker_connections, worker_rlimit_nofile, limit_nofile: limit_nofile(&units(root)) };
                let needs = Needs::of(bundle);
                let found = problems(&live, needs);
                if found.is_empty() {
                    Outcome::Passed {
                        detail: format!(
                            "worker_connections {}, file limit {} cover {} subscribers",
                            live.worker_connections.0, needs.nofile, needs.subscribers
                        ),
                    }
                } else {
                    Outcome::Failed {
                        error: found.join("; "),
                        fix: format!(
                            "set worker_connections {} in events {{ }} and worker_rlimit_nofile {} in nginx.conf, install \
                             the bundle's systemd/nginx.service.d/mercure-limits.conf, then systemctl daemon-reload && \
                             systemctl restart nginx (INSTALL.md step 3; mercure-setup {})",
                            needs.worker_connections,
                            needs.nofile,
                            Row::WorkerConnections.reference()
                        ),
                    }
                }
            }
        },
    };
    CheckResult {
        id: "system-limits",
        title: "nginx's live connection and file limits".into(),
        files: vec![conf.into(), "nginx.service".into()],
        row: Some(Row::WorkerConnections),
        outcome,
    }
}

/// nginx.service and its drop-ins in the order systemd applies them (later wins).
fn units(root: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for unit in ["/lib/systemd/system/nginx.service", "/etc/systemd/system/nginx.service"] {
        if let Ok(t) = std::fs::read_to_string(root.join(unit.trim_start_matches('/'))) {
            out.push((unit.to_string(), t));
        }
    }
    // Drop-ins from every folder, sorted by file name across them (systemd's rule).
    let mut drop_ins: Vec<(String, String)> = Vec::new();
    for dir in [
        "/lib/systemd/system/nginx.service.d",
        "/run/systemd/system/nginx.service.d",
        "/etc/systemd/system/nginx.service.d",
    ] {
        let Ok(rd) = std::fs::read_dir(root.join(dir.trim_start_matches('/'))) else { continue };
        for e in rd.filter_map(Result::ok) {
            let name = e.file_name().to_string_lossy().into_owned();
            if Path::new(&name).extension().is_some_and(|x| x == "conf") {
                drop_ins.retain(|(n, _)| n != &name);
                drop_ins.push((name, format!("{dir}/{}", e.file_name().to_string_lossy())));
            }
        }
    }
    drop_ins.sort();
    for (_, path) in drop_ins {
        if let Ok(t) = std::fs::read_to_string(root.join(path.trim_start_matches('/'))) {
            out.push((path, t));
        }
    }
    out
}

/// The machine's memory and kernel settings, as /proc shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Machine {
    pub mem_total_mib: Option<u64>,
    pub somaxconn: Option<u64>,
    /// `ip_local_port_range` as (low, high).
    pub port_range: Option<(u64, u64)>,
    pub file_max: Option<u64>,
}

impl Machine {
    /// Reads /proc below `root` (a value it cannot read stays `None`, and is not compared).
    pub fn read(root: &Path) -> Machine {
        let read = |p: &str| std::fs::read_to_string(root.join(p)).ok();
        let number = |p: &str| read(p).and_then(|t| t.trim().parse::<u64>().ok());
        let mem_total_mib = read("proc/meminfo").and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        });
        let port_range = read("proc/sys/net/ipv4/ip_local_port_range").and_then(|t| {
            let mut it = t.split_whitespace().map(|v| v.parse::<u64>().ok());
            Some((it.next()??, it.next()??))
        });
        Machine {
            mem_total_mib: mem_total_mib.map(|kib| kib / 1024),
            somaxconn: number("proc/sys/net/core/somaxconn"),
            port_range,
            file_max: number("proc/sys/fs/file-max"),
        }
    }
}

/// Where `machine` falls short of `sizing` (empty when it does not).
pub fn sizing_problems(machine: &Machine, sizing: &crate::sizing::Sizing) -> Vec<String> {
    let mut out = Vec::new();
    let n = sizing.subscribers;
    if let Some(mib) = machine.mem_total_mib.filter(|m| *m < sizing.total_mib) {
        out.push(format!(
            "{mib} MiB of memory, nginx and the hub need about {} MiB for {n} subscribers",
            sizing.total_mib
        ));
    }
    if let Some(v) = machine.somaxconn.filter(|v| *v < u64::from(sizing.somaxconn)) {
        out.push(format!(
            "net.core.somaxconn {v}, {} lets a quarter of {n} subscribers reconnect at once",
            sizing.somaxconn
        ));
    }
    let ports_needed = u64::from(n) + u64::from(n) / 10;
    if let Some((low, high)) = machine.port_range.filter(|(l, h)| h.saturating_sub(*l) + 1 < ports_needed) {
        out.push(format!(
            "net.ipv4.ip_local_port_range {low} {high} holds {} nginx -> hub connections, {n} subscribers need {ports_needed}",
            high.saturating_sub(low) + 1
        ));
    }
    if let Some(v) = machine.file_max.filter(|v| *v < sizing.file_max) {
        out.push(format!("fs.file-max {v}, nginx and the hub need {}", sizing.file_max));
    }
    out
}

/// Compares this machine (its `/proc`: a staging root has none) with the bundle's sizing.
pub fn sizing_check(bundle: &BundleDir) -> CheckResult {
    let plan = crate::plan::Plan::new(bundle.answers.clone(), None);
    let found = sizing_problems(&Machine::read(Path::new("/")), &plan.sizing);
    let outcome = if found.is_empty() {
        Outcome::Passed {
            detail: format!(
                "memory and kernel settings cover {} subscribers ({} MiB for nginx and the hub)",
                plan.sizing.subscribers, plan.sizing.total_mib
            ),
        }
    } else {
        Outcome::Failed {
            error: found.join("; "),
            fix: format!(
                "give the server more memory or lower nginx.expected_subscribers, and set the kernel settings INSTALL.md \
                 lists in /etc/sysctl.d/ (then sysctl --system; mercure-setup {})",
                Row::WorkerConnections.reference()
            ),
        }
    };
    CheckResult {
        id: "system-sizing",
        title: "memory and kernel settings for the expected subscribers".into(),
        files: vec!["/proc/meminfo".into(), "/proc/sys".into()],
        row: Some(Row::WorkerConnections),
        outcome,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_machine_falls_short_of_the_sizing() {
        let sizing = crate::sizing::Sizing::for_subscribers(30_000, false);
        let small = Machine {
            mem_total_mib: Some(1024),
            somaxconn: Some(4096),
            port_range: Some((32768, 60999)),
            file_max: Some(9_223_372_036_854_775_807),
        };
        let p = sizing_problems(&small, &sizing);
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p[0].starts_with("1024 MiB of memory, nginx and the hub need about"), "{p:?}");
        assert!(p[1].contains("net.core.somaxconn 4096, 8192"), "{p:?}");
        assert!(p[2].contains("holds 28232 nginx -> hub connections, 30000 subscribers need 33000"), "{p:?}");
        let big = Machine {
            mem_total_mib: Some(16_384),
            somaxconn: Some(8192),
            port_range: Some((1024, 65535)),
            file_max: Some(200_000),
        };
        assert_eq!(sizing_problems(&big, &sizing), Vec::<String>::new());
        let few_files = Machine { file_max: Some(1000), ..big };
        assert!(sizing_problems(&few_files, &sizing)[0].starts_with("fs.file-max 1000"));
        // Nothing readable: nothing to compare.
        assert_eq!(sizing_problems(&Machine::default(), &sizing), Vec::<String>::new());
    }

    #[test]
    fn the_machine_is_read_from_proc() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("proc/sys/net/ipv4")).unwrap();
        std::fs::create_dir_all(dir.path().join("proc/sys/net/core")).unwrap();
        std::fs::create_dir_all(dir.path().join("proc/sys/fs")).unwrap();
        std::fs::write(dir.path().join("proc/meminfo"), "MemTotal:        2048000 kB\nMemFree: 1 kB\n").unwrap();
        std::fs::write(dir.path().join("proc/sys/net/ipv4/ip_local_port_range"), "32768\t60999\n").unwrap();
        std::fs::write(dir.path().join("proc/sys/net/core/somaxconn"), "4096\n").unwrap();
        std::fs::write(dir.path().join("proc/sys/fs/file-max"), "9223372036854775807\n").unwrap();
        let m = Machine::read(dir.path());
        assert_eq!(
            m,
            Machine {
                mem_total_mib: Some(2000),
                somaxconn: Some(4096),
                port_range: Some((32768, 60999)),
                file_max: Some(9_223_372_036_854_775_807)
            }
        );
    }

    const DEBIAN: &str = "user www-data;\nworker_processes auto;\nevents {\n\tworker_connections 768;\n}\nhttp {\n}\n";

    fn needs() -> Needs {
        Needs { subscribers: 1000, worker_connections: 3072, nofile: 6144 }
    }

    #[test]
    fn debians_nginx_conf_is_too_small_for_the_bundle() {
        let (wc, rlimit) = nginx_limits(DEBIAN, "/etc/nginx/nginx.conf").unwrap();
        assert_eq!(wc, (768, "/etc/nginx/nginx.conf:4".to_string()));
        assert_eq!(rlimit, None);
        let live = Live { worker_connections: wc, worker_rlimit_nofile: rlimit, limit_nofile: limit_nofile(&[]) };
        let p = problems(&live, needs());
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(
            p[0].starts_with("worker_connections 768 (/etc/nginx/nginx.conf:4), the bundle needs 3072 for 1000"),
            "{p:?}"
        );
        assert!(p[2].contains("LimitNOFILE=1024 (systemd's default soft limit), the bundle needs 6144"), "{p:?}");
    }

    #[test]
    fn raised_limits_pass() {
        let conf = "worker_rlimit_nofile 6144;\nevents {\n worker_connections 4096;\n}\n";
        let (wc, rlimit) = nginx_limits(conf, "c").unwrap();
        let units = [("drop-in".to_string(), "[Service]\nLimitNOFILE=6144:524288\n".to_string())];
        let live = Live { worker_connections: wc, worker_rlimit_nofile: rlimit, limit_nofile: limit_nofile(&units) };
        assert_eq!(problems(&live, needs()), Vec::<String>::new());
        assert_eq!(nginx_limits("events {\n}\n", "c").unwrap().0.0, NGINX_DEFAULT_WORKER_CONNECTIONS);
        assert!(nginx_limits("events {\n worker_connections many;\n}\n", "c").is_err());
    }
}
