//! Property test: random valid answers files (both topologies, every algorithm,
//! domains up to 253 characters with 63-character labels, port edges, origin
//! lists, odd but valid paths, both TLS profiles, HSTS on and off) are rendered, and the real programs accept every
//! one: `nginx -t`, `systemd-analyze verify`, Symfony's Dotenv (php) and the real
//! Mercure hub's `validate`. The programs run in batches (all sites in one
//! `nginx -t`, all units in one `systemd-analyze verify`, all env files in one php
//! run); a failing case is shrunk (proptest) and printed as an answers file.
//!
//! `MERCURE_SETUP_PROPERTY_CASES` sets the number of cases (default 500).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};

use mercure_setup::answers::{Answers, Draft, is_list_key};
use mercure_setup::answers_file;
use mercure_setup::bundle::paths;
use mercure_setup::bundle_dir::BundleDir;
use mercure_setup::check::adapt::{self, Http2Form, NginxAdapt};
use mercure_setup::check::tools;
use mercure_setup::formats::parse_env;
use mercure_setup::plan::{Plan, install};
use mercure_setup::questions::RawValue;
use mercure_setup::secrets::{self, StoredState};

use crate::support::require_tool;

/// The real Mercure hub the bundle targets (built by `scripts/mercure-hub.sh`).
const HUB: &str = "/root/.cache/mercure-setup/hub/0.24.2/mercure";

/// One generated answers file: key -> text, as `--set` would give it.
type Case = Vec<(&'static str, String)>;

fn label(len: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = String> {
    len.prop_flat_map(|n| {
        let edge = proptest::sample::select(('a'..='z').chain('0'..='9').collect::<Vec<_>>());
        let inner = proptest::sample::select(('a'..='z').chain('0'..='9').chain(['-']).collect::<Vec<_>>());
        (edge.clone(), proptest::collection::vec(inner, n.saturating_sub(2)), edge).prop_map(move |(a, mid, b)| {
            let mut s = String::from(a);
            s.extend(mid);
            if n > 1 {
                s.push(b);
            }
            s
        })
    })
}

/// A domain of 2-5 labels; some long ones reach 253 characters with 63-character labels.
fn domain() -> impl Strategy<Value = String> {
    let short = (proptest::collection::vec(label(1..=20), 1..=3), label(2..=10));
    let long = (proptest::collection::vec(label(40..=63), 1..=3), label(2..=63));
    prop_oneof![3 => short, 1 => long, 1 => Just((vec!["a".repeat(63); 3], "b".repeat(61)))].prop_map(
        |(mut labels, tld)| {
            // The last label must not look like a number (an IP address).
            let tld = format!("x{}", &tld[1..]);
            let mut total: usize = tld.len();
            labels.retain(|l| {
                total += l.len() + 1;
                total <= 253
            });
            labels.push(tld);
            labels.join(".")
        },
    )
}

fn port() -> impl Strategy<Value = u16> {
    prop_oneof![Just(1024u16), Just(1025), Just(65534), Just(65535), 1024u16..=65535]
}

fn path() -> impl Strategy<Value = String> {
    let first = proptest::sample::select(
        ('a'..='z').chain('A'..='Z').chain('0'..='9').chain(['_', '.', '+', '@']).collect::<Vec<_>>(),
    );
    let rest = proptest::sample::select(
        ('a'..='z').chain('A'..='Z').chain('0'..='9').chain(['_', '.', '+', '@', '-']).collect::<Vec<_>>(),
    );
    let segment = (first, proptest::collection::vec(rest, 0..=15)).prop_map(|(f, r)| {
        let s: String = std::iter::once(f).chain(r).collect();
        if s == "." || s == ".." { "x".to_string() } else { s }
    });
    proptest::collection::vec(segment, 1..=5).prop_map(|segs| format!("/{}", segs.join("/")))
}

fn origin() -> impl Strategy<Value = String> {
    (prop::bool::ANY, domain(), proptest::option::of(1u16..=65535)).prop_map(|(https, host, port)| {
        let scheme = if https { "https" } else { "http" };
        match port {
            Some(p) if p != if https { 443 } else { 80 } => format!("{scheme}://{host}:{p}"),
            _ => format!("{scheme}://{host}"),
        }
    })
}

fn heartbeat() -> impl Strategy<Value = String> {
    prop_oneof![
        (1u32..=1800).prop_map(|n| format!("{n}s")),
        (1u32..=30).prop_map(|n| format!("{n}m")),
        (1u32..=1_800_000).prop_map(|n| format!("{n}ms")),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    let head = (
        prop_oneof![Just("same-host-http"), Just("end-to-end-tls")],
        domain(),
        prop_oneof![Just("HS256"), Just("HS512"), Just("ES256")],
        port(),
        prop_oneof![Just("unix".to_string()), Just("off".to_string()), port().prop_map(|p| format!("localhost:{p}"))],
        heartbeat(),
        prop_oneof![Just(0u32), Just(1), Just(10_000_000), 0u32..=10_000_000],
        domain(),
    );
    let tail = (
        (path(), path(), path(), path(), path()),
        prop_oneof![
            path().prop_map(|p| format!("unix:{p}")),
            port().prop_map(|p| format!("127.0.0.1:{p}")),
            port().prop_map(|p| format!("[::1]:{p}")),
        ],
        proptest::collection::vec(prop_oneof![9 => origin(), 1 => Just("*".to_string())], 0..=3),
        proptest::collection::vec(origin(), 0..=3),
        (prop::bool::ANY, prop::bool::ANY),
        prop_oneof![Just(1u32), Just(1_000_000), 1u32..=1_000_000],
        prop_oneof![Just("1.18"), Just("1.22.1")],
        "[a-z_][a-z0-9_-]{0,20}",
    );
    let public_tls = (
        prop_oneof![Just("intermediate"), Just("modern")],
        prop_oneof![
            Just("off".to_string()),
            Just("0".to_string()),
            Just("63072000".to_string()),
            (1u32..=999_999_999).prop_map(|n| n.to_string()),
        ],
        prop::bool::ANY,
    );
    (head, tail, public_tls)
        .prop_filter("ports must differ", |((_, _, _, port, admin, ..), (_, fpm, ..), _)| {
            let admin_port = admin.strip_prefix("localhost:").map(|p| p.parse::<u16>().unwrap());
            let fpm_port = fpm
                .rsplit_once(':')
                .and_then(|(h, p)| (!h.starts_with("unix")).then(|| p.parse::<u16>().ok()).flatten());
            admin_port != Some(*port) && fpm_port != Some(*port) && (admin_port.is_none() || admin_port != fpm_port)
        })
        .prop_filter("not root", |(_, tail, _)| tail.7 != "root")
        .prop_map(|(head, tail, (profile, hsts, subdomains))| {
            let (topology, domain, alg, port, admin, heartbeat, history, tls_name) = head;
            let ((cert, key, webroot, binary, project), fpm, cors, publish, (anon, subs), subscribers, nginx, user) =
                tail;
            vec![
                ("topology", topology.to_string()),
                ("domain", domain),
                ("public_tls.certificate", cert),
                ("public_tls.certificate_key", key),
                ("public_tls.acme_webroot", webroot),
                ("public_tls.profile", profile.to_string()),
                ("public_tls.hsts", hsts),
                ("public_tls.hsts_include_subdomains", subdomains.to_string()),
                ("hub.port", port.to_string()),
                ("hub.tls_name", tls_name),
                ("hub.admin", admin),
                ("hub.heartbeat", heartbeat),
                ("hub.history_size", history.to_string()),
                ("hub.binary", binary),
                ("hub.user", user),
                ("hub.anonymous", anon.to_string()),
                ("hub.subscriptions", subs.to_string()),
                ("hub.cors_origins", cors.join(",")),
                ("hub.publish_origins", publish.join(",")),
                ("jwt.algorithm", alg.to_string()),
                ("symfony.project_dir", project),
                ("symfony.php_fpm", fpm),
                ("nginx.version", nginx.to_string()),
                ("nginx.expected_subscribers", subscribers.to_string()),
            ]
        })
}

fn draft(case: &Case) -> Draft {
    let mut d = Draft::default();
    for (key, value) in case {
        let raw = if is_list_key(key) {
            RawValue::List(value.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect())
        } else {
            RawValue::Scalar(value.clone())
        };
        d.set(key, raw, None);
    }
    d
}

/// The case as an answers file, to paste into `render --answers`.
fn answers_file_text(case: &Case) -> String {
    answers_file::write_commented(&draft(case), "a generated case the real programs refused")
}

/// Renders a case (real secrets) into `dir`, as `render` writes it.
fn render_case(case: &Case, dir: &Path) -> Result<Answers, String> {
    let (answers, _) = Answers::from_draft(&draft(case)).map_err(|e| {
        format!(
            "the generator made invalid answers: {}",
            e.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
        )
    })?;
    let (secrets, _) = secrets::prepare(&answers, StoredState::default(), false, time::OffsetDateTime::now_utc())
        .map_err(|e| e.to_string())?;
    let plan = Plan::new(answers.clone(), None);
    let bundle = mercure_setup::render::render(&plan, &secrets).map_err(|e| e.to_string())?;
    for (rel, file) in &bundle.files {
        let path = dir.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, &file.contents).unwrap();
    }
    Ok(answers)
}

/// Why each case failed (index -> message); empty when every program accepted every case.
fn check_batch(cases: &[Case], work: &Path) -> BTreeMap<usize, String> {
    let mut failed = BTreeMap::new();
    let mut dirs = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let dir = work.join(format!("case-{i}"));
        match render_case(case, &dir) {
            Ok(_) => dirs.push((i, dir)),
            Err(e) => {
                failed.insert(i, e);
            }
        }
    }
    for (i, e) in nginx_batch(&dirs, &work.join("nginx")) {
        failed.entry(i).or_insert(e);
    }
    for (i, e) in systemd_batch(&dirs, &work.join("systemd")) {
        failed.entry(i).or_insert(e);
    }
    for (i, e) in dotenv_batch(&dirs) {
        failed.entry(i).or_insert(e);
    }
    for (i, e) in hub_validate_batch(&dirs, &work.join("hub")) {
        failed.entry(i).or_insert(e);
    }
    failed
}

/// All sites in one `nginx -t` (sites with the same domain go to later rounds);
/// a refused batch is halved until each refused site is found.
fn nginx_batch(dirs: &[(usize, PathBuf)], work: &Path) -> Vec<(usize, String)> {
    let nginx = require_tool("nginx", "apt-get install nginx");
    let mut pending: Vec<(usize, PathBuf, BundleDir)> =
        dirs.iter().map(|(i, d)| (*i, d.clone(), BundleDir::open(d).unwrap())).collect();
    let mut failed = Vec::new();
    let mut round = 0;
    while !pending.is_empty() {
        round += 1;
        let prefix = work.join(format!("round-{round}"));
        fs::create_dir_all(&prefix).unwrap();
        let cert = tools::throwaway_certificate("batch.example.com", &prefix).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        let (now, later): (Vec<_>, Vec<_>) =
            pending.into_iter().partition(|(_, _, b)| seen.insert(b.answers.domain.to_string()));
        pending = later;
        let sites: Vec<(usize, String)> = now
            .iter()
            .map(|(i, dir, bundle)| {
                let how = NginxAdapt {
                    http_listen: Some("127.0.0.1:18080".into()),
                    https_listen: Some("127.0.0.1:18443".into()),
                    public_cert: Some((cert.0.display().to_string(), cert.1.display().to_string())),
                    tls_dir: Some(dir.join(paths::TLS_DIR).display().to_string()),
                    log_dir: Some(prefix.join("log").display().to_string()),
                    http2: Http2Form::AsRendered,
                };
                (*i, adapt::adapt_nginx_site(&fs::read_to_string(dir.join(&bundle.nginx_site)).unwrap(), &how))
            })
            .collect();
        bisect_nginx(&nginx, &prefix, &sites, &mut failed);
    }
    failed
}

fn nginx_t(nginx: &Path, prefix: &Path, sites: &[(usize, String)]) -> Result<(), String> {
    let text: String = sites.iter().map(|(_, t)| t.as_str()).collect();
    let conf = tools::write_nginx_wrapper(prefix, &text).unwrap();
    let o = crate::support::stack::nginx_t(nginx, prefix, &conf);
    if o.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&o.stderr).trim().to_string()) }
}

fn bisect_nginx(nginx: &Path, prefix: &Path, sites: &[(usize, String)], failed: &mut Vec<(usize, String)>) {
    match nginx_t(nginx, prefix, sites) {
        Ok(()) => {}
        Err(e) if sites.len() == 1 => failed.push((sites[0].0, format!("nginx -t: {e}"))),
        Err(_) => {
            let (a, b) = sites.split_at(sites.len() / 2);
            bisect_nginx(nginx, prefix, a, failed);
            bisect_nginx(nginx, prefix, b, failed);
        }
    }
}

/// All hub units in one `systemd-analyze verify`, each staged as `check` stages it
/// (the real `ExecStart` checked first, then pointed at a binary that exists).
fn systemd_batch(dirs: &[(usize, PathBuf)], work: &Path) -> Vec<(usize, String)> {
    let analyze = require_tool("systemd-analyze", "apt-get install systemd");
    fs::create_dir_all(work).unwrap();
    let mut failed = Vec::new();
    let mut units = Vec::new();
    for (i, dir) in dirs {
        let bundle = BundleDir::open(dir).unwrap();
        match tools::stage_unit(&bundle, dir) {
            Ok((unit, _)) => {
                let named = work.join(format!("mercure-{i}.service"));
                fs::rename(unit, &named).unwrap();
                units.push((*i, named));
            }
            Err(e) => failed.push((*i, format!("ExecStart: {e}"))),
        }
    }
    for chunk in units.chunks(100) {
        let o = Command::new(&analyze).arg("verify").args(chunk.iter().map(|(_, u)| u)).output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        for (i, unit) in chunk {
            let name = unit.file_name().unwrap().to_string_lossy().into_owned();
            let lines: Vec<&str> =
                text.lines().filter(|l| l.contains(&format!("{name}:")) || l.contains(&format!("{name} "))).collect();
            if !lines.is_empty() {
                failed.push((*i, format!("systemd-analyze verify: {}", lines.join("\n"))));
            }
        }
        if !o.status.success() && failed.is_empty() {
            for (i, _) in chunk {
                failed.push((*i, format!("systemd-analyze verify failed: {text}")));
            }
        }
    }
    failed
}

/// Every `.env.local` and `mercure.env` through Symfony's Dotenv in one php run.
const DOTENV_PHP: &str = r"
require_once 'Symfony/Component/Dotenv/autoload.php';
$d = new Symfony\Component\Dotenv\Dotenv();
$out = [];
for ($i = 1; $i < count($argv); $i += 2) {
    try {
        $out[] = ['local' => $d->parse(file_get_contents($argv[$i]), $argv[$i]),
                  'hub' => $d->parse(file_get_contents($argv[$i + 1]), $argv[$i + 1])];
    } catch (\Throwable $e) {
        $out[] = ['error' => $e->getMessage()];
    }
}
echo json_encode($out);
";

fn dotenv_batch(dirs: &[(usize, PathBuf)]) -> Vec<(usize, String)> {
    let php = require_tool("php", "apt-get install php-cli php-symfony-dotenv");
    let mut cmd = Command::new(php);
    cmd.args(["-r", DOTENV_PHP, "--"]);
    for (_, dir) in dirs {
        cmd.arg(dir.join(paths::ENV_LOCAL)).arg(dir.join(paths::HUB_ENV));
    }
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "php: {}", String::from_utf8_lossy(&o.stderr));
    let parsed: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    let mut failed = Vec::new();
    for ((i, dir), v) in dirs.iter().zip(parsed) {
        let ours = parse_env(&fs::read_to_string(dir.join(paths::HUB_ENV)).unwrap()).unwrap();
        let local = parse_env(&fs::read_to_string(dir.join(paths::ENV_LOCAL)).unwrap()).unwrap();
        let problem = if let Some(e) = v.get("error") {
            Some(format!("Dotenv: {e}"))
        } else if v["hub"]["MERCURE_PUBLISHER_JWT_KEY"].as_str()
            != ours.get("MERCURE_PUBLISHER_JWT_KEY").map(String::as_str)
        {
            Some("Dotenv reads another hub key than the bundle holds".to_string())
        } else if ["MERCURE_URL", "MERCURE_PUBLIC_URL"]
            .iter()
            .any(|k| v["local"][k].as_str() != local.get(*k).map(String::as_str))
        {
            Some("Dotenv reads other URLs than the bundle holds".to_string())
        } else {
            None
        };
        if let Some(p) = problem {
            failed.push((*i, p));
        }
    }
    failed
}

/// The Caddyfile with what this machine needs for the real hub's `validate`:
/// certificate, data and admin-socket paths inside the case's folder.
fn adapt_for_hub(text: &str, dir: &Path) -> String {
    text.replace(install::TLS_DIR, &dir.join(paths::TLS_DIR).display().to_string())
        .replace(install::DATA_DIR, &dir.join("data").display().to_string())
        .replace(mercure_setup::values::ADMIN_SOCKET, &dir.join("admin.sock").display().to_string())
}

/// The real hub's `validate` for every case, two at a time.
fn hub_validate_batch(dirs: &[(usize, PathBuf)], work: &Path) -> Vec<(usize, String)> {
    assert!(Path::new(HUB).is_file(), "the Mercure hub is not built; run scripts/mercure-hub.sh 0.24.2");
    fs::create_dir_all(work).unwrap();
    let one = |(i, dir): &(usize, PathBuf)| -> Option<(usize, String)> {
        fs::create_dir_all(dir.join("data")).unwrap();
        let file = dir.join("Caddyfile.hub");
        fs::write(&file, adapt_for_hub(&fs::read_to_string(dir.join(paths::CADDYFILE)).unwrap(), dir)).unwrap();
        let env = parse_env(&fs::read_to_string(dir.join(paths::HUB_ENV)).unwrap()).unwrap();
        let o = Command::new(HUB)
            .args(["validate", "--adapter", "caddyfile", "--config"])
            .arg(&file)
            .envs(env)
            .env("XDG_DATA_HOME", dir)
            .env("XDG_CONFIG_HOME", dir)
            .output()
            .unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        (!o.status.success() || !text.contains("Valid configuration")).then(|| {
            (
                *i,
                format!(
                    "mercure validate: {}",
                    text.lines().filter(|l| l.contains("rror")).collect::<Vec<_>>().join("\n")
                ),
            )
        })
    };
    let (a, b) = dirs.split_at(dirs.len() / 2);
    std::thread::scope(|s| {
        let first = s.spawn(|| a.iter().filter_map(one).collect::<Vec<_>>());
        let mut out: Vec<_> = b.iter().filter_map(one).collect();
        out.extend(first.join().unwrap());
        out
    })
}

#[test]
fn random_valid_answers_are_accepted_by_the_real_programs() {
    let n: usize = std::env::var("MERCURE_SETUP_PROPERTY_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(500);
    let strategy = case();
    let mut runner = TestRunner::new(Config::default());
    let mut trees: Vec<_> = (0..n).map(|_| strategy.new_tree(&mut runner).unwrap()).collect();
    let cases: Vec<Case> = trees.iter().map(ValueTree::current).collect();
    let tls = cases.iter().filter(|c| c[0].1 == "end-to-end-tls").count();
    let long = cases.iter().filter(|c| c[1].1.len() > 200).count();
    assert!(tls > 0 && tls < n && long > 0, "the generator must cover both topologies and long domains");
    let work = tempfile::tempdir().unwrap();
    let failed = check_batch(&cases, work.path());
    let Some((&first, why)) = failed.iter().next() else { return };

    // Shrink the first failing case: keep each simpler version that still fails.
    let tree = &mut trees[first];
    let mut last_why = why.clone();
    let mut round = 0;
    let fails = |case: &Case, round: usize| -> Option<String> {
        let dir = work.path().join(format!("shrink-{round}"));
        check_batch(std::slice::from_ref(case), &dir).into_values().next()
    };
    while tree.simplify() {
        round += 1;
        match fails(&tree.current(), round) {
            Some(why) => last_why = why,
            None => {
                if !tree.complicate() {
                    break;
                }
            }
        }
        if round > 150 {
            break;
        }
    }
    let mut report = format!("{} of {n} generated answers files were refused; the first, shrunk:\n\n", failed.len());
    report.push_str(&answers_file_text(&tree.current()));
    let _ = write!(report, "\nwhy: {last_why}\n\nall failures:\n");
    for (i, why) in &failed {
        let _ = writeln!(report, "  case {i} (domain {}): {}", cases[*i][1].1, why.lines().next().unwrap_or(""));
    }
    panic!("{report}");
}
