//! `apply --root`: the plan, preflight refusals, backups, idempotence, a re-render
//! that changes only what differs, rollback, and the nginx.conf edit on Debian's own
//! nginx.conf, all into a staging root with the real hub binary and nginx.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support::{files_in, fixture, free_port, run, stderr, stdout};

/// The hub these tests install: the suite's one (0.24.2 unless `MERCURE_HUB_VERSION`
/// says otherwise), not whichever release has pinned modules in tests/hub/.
pub use crate::support::hub_binary;

/// Debian's nginx.conf as the nginx package installs it (the one on this Debian 12 machine).
fn debian_nginx_conf() -> String {
    crate::support::require_tool("nginx", "apt-get install nginx");
    std::fs::read_to_string("/etc/nginx/nginx.conf").expect("/etc/nginx/nginx.conf from Debian's nginx package")
}

/// A staging root with Debian's nginx.conf and a public certificate for `domain`.
pub fn staging_root(dir: &Path, domain: &str) -> PathBuf {
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("etc/nginx/sites-available")).unwrap();
    std::fs::create_dir_all(root.join("etc/nginx/sites-enabled")).unwrap();
    std::fs::write(root.join("etc/nginx/nginx.conf"), debian_nginx_conf()).unwrap();
    let tls = crate::support::stack::public_tls(&dir.join("public"), domain);
    let live = root.join(format!("etc/letsencrypt/live/{domain}"));
    std::fs::create_dir_all(&live).unwrap();
    std::fs::copy(&tls.cert, live.join("fullchain.pem")).unwrap();
    std::fs::copy(&tls.key, live.join("privkey.pem")).unwrap();
    root
}

pub fn render(fixture_name: &str, out: &Path, sets: &[String]) {
    let answers = fixture(fixture_name);
    let mut args = vec!["render", "--answers", answers.to_str().unwrap(), "--out", out.to_str().unwrap()];
    for s in sets {
        args.extend(["--set", s]);
    }
    let o = run(&args);
    assert!(o.status.success(), "render: {}", stderr(&o));
}

pub fn apply(bundle: &Path, root: &Path, hub: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["apply", bundle.to_str().unwrap(), "--root", root.to_str().unwrap()];
    args.extend(["--hub-binary", hub.to_str().unwrap()]);
    args.extend(extra);
    run(&args)
}

/// The staged files outside the backups and apply's own records.
fn etc_state(root: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut f = files_in(root);
    f.retain(|k, _| !k.starts_with("var/lib/mercure-setup/"));
    f
}

/// The `+` lines of the printed plan (the actions to do).
fn todo_lines(o: &Output) -> Vec<String> {
    stdout(o).lines().filter(|l| l.starts_with("+ ")).map(String::from).collect()
}

#[test]
fn staging_plan_backup_idempotence_rerender_and_rollback() {
    let hub = hub_binary();
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("bundle");
    let port = free_port();
    render("end-to-end-tls-hs256-nginx122.yaml", &bundle, &[format!("hub.port={port}")]);
    let domain = "app.example.com";
    let answers = std::fs::read_to_string(bundle.join("answers.yaml")).unwrap();
    assert!(answers.contains(domain), "fixture domain changed: {answers}");
    let root = staging_root(tmp.path(), domain);
    let pristine = files_in(&root);

    // Dry run: the whole plan with the nginx.conf diff, and nothing changed.
    let o = apply(&bundle, &root, &hub, &["--dry-run"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let plan = stdout(&o);
    assert!(plan.contains("-\tworker_connections 768;") && plan.contains("+\tworker_connections 3072;"), "{plan}");
    assert!(plan.contains("+worker_rlimit_nofile 6144;"), "{plan}");
    assert!(
        plan.contains("install mercure/mercure.env as /etc/mercure/mercure.env (root:root 0600, secret)"),
        "{plan}"
    );
    assert!(plan.contains("dry run: nothing was changed"), "{plan}");
    assert_eq!(files_in(&root), pristine, "--dry-run changed the root");
    assert!(!root.join("var").exists(), "--dry-run left folders behind (the lock's)");

    // No terminal and no --yes: exit 2, nothing changed.
    let o = apply(&bundle, &root, &hub, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--yes"), "{}", stderr(&o));
    assert_eq!(files_in(&root), pristine);

    // Apply.
    let o = apply(&bundle, &root, &hub, &["--yes"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let conf = std::fs::read_to_string(root.join("etc/nginx/nginx.conf")).unwrap();
    assert_eq!(conf.matches("events {").count(), 1, "{conf}");
    assert!(conf.contains("\tworker_connections 3072;") && conf.contains("worker_rlimit_nofile 6144;"), "{conf}");
    // Only the two lines changed.
    let before = debian_nginx_conf();
    assert_eq!(conf.lines().count(), before.lines().count() + 1);
    let site = std::fs::read_link(root.join(format!("etc/nginx/sites-enabled/{domain}.conf"))).unwrap();
    assert_eq!(site, Path::new(&format!("../sites-available/{domain}.conf")));
    let mode = |p: &str| std::fs::metadata(root.join(p)).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode("etc/mercure/mercure.env"), 0o600);
    assert_eq!(mode("etc/mercure/tls/hub.key"), 0o600);
    assert_eq!(mode("etc/mercure"), 0o750);
    assert_eq!(mode("usr/local/bin/mercure"), 0o755);
    assert_eq!(
        std::fs::read(root.join("etc/mercure/Caddyfile")).unwrap(),
        std::fs::read(bundle.join("mercure/Caddyfile")).unwrap()
    );
    // The Symfony project does not exist in the root: skipped, with a note.
    assert!(stderr(&o).contains("note: the Symfony project /var/www/app does not exist here yet"), "{}", stderr(&o));
    let backups: Vec<_> = std::fs::read_dir(root.join("var/lib/mercure-setup/backups")).unwrap().collect();
    assert_eq!(backups.len(), 1);
    let manifest = std::fs::read_to_string(backups[0].as_ref().unwrap().path().join("manifest.json")).unwrap();
    assert!(manifest.contains("\"path\": \"/etc/nginx/nginx.conf\""), "{manifest}");
    assert!(manifest.contains("\"kind\": \"absent\""), "{manifest}");
    let first = etc_state(&root);

    // Again: nothing to do, nothing changed.
    let o = apply(&bundle, &root, &hub, &["--yes"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("nothing to do"), "{}", stdout(&o));
    assert!(todo_lines(&o).is_empty(), "{}", stdout(&o));
    assert_eq!(etc_state(&root), first);

    // Re-rendered with another hub port: only the Caddyfile and the site change.
    let port2 = free_port();
    render("end-to-end-tls-hs256-nginx122.yaml", &bundle, &[format!("hub.port={port2}")]);
    let o = apply(&bundle, &root, &hub, &["--yes"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let todo = todo_lines(&o);
    assert_eq!(todo.len(), 2, "{todo:#?}");
    assert!(todo[0].contains("/etc/mercure/Caddyfile") && todo[1].contains("sites-available"), "{todo:#?}");
    let second = etc_state(&root);
    assert_ne!(second, first);

    // Rollback of the newest backup: back to the first apply's state.
    let o = run(&["apply", "--rollback", "--yes", "--root", root.to_str().unwrap()]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(etc_state(&root), first);
    // And the first backup: back to the pristine root.
    let mut names: Vec<String> = std::fs::read_dir(root.join("var/lib/mercure-setup/backups"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let o = run(&["apply", "--rollback", &names[0], "--yes", "--root", root.to_str().unwrap()]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(etc_state(&root), etc_state_of(&pristine));
}

fn etc_state_of(m: &std::collections::BTreeMap<String, Vec<u8>>) -> std::collections::BTreeMap<String, Vec<u8>> {
    m.iter().filter(|(k, _)| !k.starts_with("var/lib/mercure-setup/")).map(|(k, v)| (k.clone(), v.clone())).collect()
}

#[test]
fn preflight_refuses_with_exit_3_and_changes_nothing() {
    let hub = hub_binary();
    let tmp = tempfile::tempdir().unwrap();
    let root = staging_root(tmp.path(), "app.example.com");
    let pristine = files_in(&root);
    let refused_with = |bundle: &Path, hub: &Path, what: &str, extra: &[&str]| {
        let mut args = vec!["--yes"];
        args.extend(extra);
        let o = apply(bundle, &root, hub, &args);
        assert_eq!(o.status.code(), Some(3), "{what}: {}{}", stdout(&o), stderr(&o));
        assert!(stderr(&o).contains("preflight failed, nothing was changed"), "{what}: {}", stderr(&o));
        assert_eq!(files_in(&root), pristine, "{what} changed the root");
        stderr(&o)
    };
    let refused = |bundle: &Path, hub: &Path, what: &str| refused_with(bundle, hub, what, &[]);

    // Rendered for another nginx version than the one installed here (1.22).
    let b126 = tmp.path().join("b126");
    render("same-host-http-hs512-cors-nginx126.yaml", &b126, &[format!("hub.port={}", free_port())]);
    let e = refused(&b126, &hub, "nginx 1.26 bundle");
    assert!(e.contains("rendered for nginx 1.26"), "{e}");

    // `nginx.version: auto`: the version the site was rendered for is in its first line.
    let auto = tmp.path().join("auto");
    render(
        "same-host-http-hs256-nginx122.yaml",
        &auto,
        &["nginx.version=auto".into(), format!("hub.port={}", free_port())],
    );
    let site = auto.join("nginx/app.example.com.conf");
    let text = std::fs::read_to_string(&site).unwrap();
    assert!(text.lines().next().unwrap().contains(", nginx 1.22.1)"), "{text}");
    std::fs::write(&site, text.replacen(", nginx 1.22.1)", ", nginx 1.26.2)", 1)).unwrap();
    // The edited line differs from what render recorded: accepted, as a bundle rendered there would hold it.
    let e = refused_with(&auto, &hub, "auto bundle from an nginx 1.26 machine", &["--accept-edits"]);
    assert!(e.contains("rendered for nginx 1.26.2"), "{e}");

    // The hub port held by another program.
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let b = tmp.path().join("b");
    render("same-host-http-hs256-nginx122.yaml", &b, &[format!("hub.port={port}")]);
    let e = refused(&b, &hub, "hub port taken");
    assert!(e.contains(&format!("the hub port 127.0.0.1:{port} is taken")), "{e}");
    drop(held);

    // Not a Mercure hub binary.
    render("same-host-http-hs256-nginx122.yaml", &b, &[format!("hub.port={}", free_port())]);
    let e = refused(&b, Path::new("/bin/false"), "not a hub");
    assert!(e.contains("version` failed"), "{e}");

    // No certificate for the domain.
    let other = tmp.path().join("other");
    render(
        "same-host-http-hs256-nginx122.yaml",
        &other,
        &["domain=other.example.com".into(), format!("hub.port={}", free_port())],
    );
    let e = refused(&other, &hub, "no certificate");
    assert!(e.contains("/etc/letsencrypt/live/other.example.com/fullchain.pem") && e.contains("--certbot"), "{e}");
}

#[test]
fn a_symfony_env_file_written_by_hand_is_never_replaced() {
    let hub = hub_binary();
    let tmp = tempfile::tempdir().unwrap();
    let root = staging_root(tmp.path(), "app.example.com");
    let b = tmp.path().join("b");
    render("same-host-http-hs256-nginx122.yaml", &b, &[format!("hub.port={}", free_port())]);
    let project = root.join("var/www/app");
    std::fs::create_dir_all(project.join("config/packages")).unwrap();
    std::fs::write(project.join(".env.local"), "DATABASE_URL=mysql://x\n").unwrap();
    let o = apply(&b, &root, &hub, &["--yes"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(std::fs::read_to_string(project.join(".env.local")).unwrap(), "DATABASE_URL=mysql://x\n");
    assert!(stdout(&o).contains("copy the MERCURE_* lines"), "{}", stdout(&o));
    assert!(project.join("config/packages/mercure.yaml").is_file());
}
