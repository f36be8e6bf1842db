//! `apply --root` as root against a local attacker: each test plants what an
//! unprivileged user (`nobody`, through `setpriv`) can plant in the folders it owns
//! (the Symfony project) or in a bundle, runs apply, and asserts on the victims'
//! contents, modes and owners, never on messages alone.

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::apply::{apply, hub_binary, render, staging_root};
use crate::support::{bin, free_port, run, stderr, stdout};

const NOBODY: u32 = 65534;
const DOMAIN: &str = "app.example.com";
/// What the victims hold; it must never move or change.
const SECRET: &str = "root-only secret\n";

/// A staging root whose Symfony project folder belongs to `nobody`, with two victims
/// (root's 0600 files) inside and outside the root.
struct Stage {
    tmp: tempfile::TempDir,
    root: PathBuf,
    project: PathBuf,
    hub: PathBuf,
    inside: PathBuf,
    outside: PathBuf,
}

fn stage() -> Stage {
    let tmp = tempfile::tempdir().unwrap();
    // nobody must reach its own folder inside the root.
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let root = staging_root(tmp.path(), DOMAIN);
    let project = root.join("var/www/app");
    std::fs::create_dir_all(project.join("config/packages")).unwrap();
    for d in [project.as_path(), &project.join("config"), &project.join("config/packages")] {
        std::os::unix::fs::chown(d, Some(NOBODY), Some(NOBODY)).unwrap();
    }
    let inside = root.join("etc/victim");
    let outside = tmp.path().join("outside-victim");
    for v in [&inside, &outside] {
        std::fs::write(v, SECRET).unwrap();
        std::fs::set_permissions(v, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    Stage { hub: hub_binary(), tmp, root, project, inside, outside }
}

impl Stage {
    fn bundle(&self, name: &str, sets: &[String]) -> PathBuf {
        let b = self.tmp.path().join(name);
        let mut sets = sets.to_vec();
        sets.push(format!("hub.port={}", free_port()));
        render("same-host-http-hs256-nginx122.yaml", &b, &sets);
        b
    }

    fn apply(&self, bundle: &Path, extra: &[&str]) -> Output {
        apply(bundle, &self.root, &self.hub, extra)
    }

    /// The victims are as they were: contents, mode, owner, and still regular files.
    fn victims_untouched(&self) {
        for v in [&self.inside, &self.outside] {
            let m = std::fs::symlink_metadata(v).unwrap();
            assert!(m.is_file(), "{} is no longer a file", v.display());
            assert_eq!(m.mode() & 0o7777, 0o600, "{} mode", v.display());
            assert_eq!((m.uid(), m.gid()), (0, 0), "{} owner", v.display());
            assert_eq!(std::fs::read_to_string(v).unwrap(), SECRET, "{} contents", v.display());
        }
    }
}

/// Runs `sh -c script` as `nobody`.
fn as_nobody(script: &str) -> Output {
    let o = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "sh", "-c", script])
        .output()
        .expect("setpriv (util-linux) runs");
    assert!(o.status.success(), "the attacker's `{script}` failed: {}", stderr(&o));
    o
}

/// Runs mercure-setup with `args`, killed (and the test failed) after `secs` seconds.
fn run_within(args: &[&str], secs: u64) -> Output {
    let mut child = Command::new(bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(secs) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("mercure-setup {args:?} still ran after {secs}s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().mode() & 0o7777
}

/// The system files the bundle installs (never written when apply refuses).
fn nothing_installed(root: &Path) {
    for p in ["etc/mercure", "etc/systemd/system/mercure.service", "usr/local/bin/mercure"] {
        assert!(std::fs::symlink_metadata(root.join(p)).is_err(), "{p} was installed");
    }
}

/// Attack 1: the project folder's owner swaps apply's temp files for links to root's
/// files while apply writes `.env.local` and `mercure.yaml`, 200 times.
#[test]
fn a_temp_file_swapped_for_a_link_never_redirects_a_write() {
    let s = stage();
    let b = s.bundle("b", &[]);
    let o = s.apply(&b, &["--yes"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let packages = s.project.join("config/packages");
    let stop = s.tmp.path().join("stop");
    let attacker = "import os, sys\n\
        dirs, victims, stop = sys.argv[1:3], sys.argv[3:5], sys.argv[5]\n\
        while not os.path.exists(stop):\n\
        \x20   for d in dirs:\n\
        \x20       try: names = os.listdir(d)\n\
        \x20       except OSError: continue\n\
        \x20       for n in names:\n\
        \x20           if n.startswith('.mercure-setup-') and not n.endswith('.moved'):\n\
        \x20               p = os.path.join(d, n)\n\
        \x20               try:\n\
        \x20                   os.rename(p, p + '.moved')\n\
        \x20                   os.symlink(victims[len(p) % 2], p)\n\
        \x20               except OSError: pass\n";
    let mut child = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c", attacker])
        .args([&s.project, &packages, &s.inside, &s.outside, &stop])
        .spawn()
        .expect("setpriv and /usr/bin/python3");
    let (mut ok, mut refused) = (0, 0);
    for _ in 0..200 {
        let _ = std::fs::remove_file(s.project.join(".env.local"));
        let _ = std::fs::remove_file(packages.join("mercure.yaml"));
        let o = s.apply(&b, &["--yes"]);
        if o.status.success() {
            ok += 1;
            // What apply reports as installed is the bundle's file, as a regular file.
            for (dest, src, m) in [
                (s.project.join(".env.local"), "symfony/.env.local", 0o600),
                (packages.join("mercure.yaml"), "symfony/config/packages/mercure.yaml", 0o644),
            ] {
                let meta = std::fs::symlink_metadata(&dest).unwrap();
                assert!(meta.is_file(), "{} is not a file after a successful apply", dest.display());
                assert_eq!(meta.mode() & 0o7777, m);
                assert_eq!(std::fs::read(&dest).unwrap(), std::fs::read(b.join(src)).unwrap());
            }
        } else {
            refused += 1;
        }
        s.victims_untouched();
    }
    std::fs::write(&stop, "").unwrap();
    child.wait().unwrap();
    let swapped = std::fs::read_dir(&s.project)
        .unwrap()
        .chain(std::fs::read_dir(&packages).unwrap())
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".moved"))
        .count();
    assert!(swapped > 0, "the attacker never won the race in 200 tries: the test proves nothing");
    eprintln!("200 tries: {ok} applied, {refused} refused, {swapped} temp files swapped");
    s.victims_untouched();
}

/// Attack 2: `config/jwt` is a link to a root folder; apply must neither chmod it nor
/// put the private key there.
#[test]
fn a_linked_key_folder_is_refused_before_anything_changes() {
    let s = stage();
    let b = s.bundle("b", &["jwt.algorithm=ES256".into()]);
    let victim_dir = s.root.join("etc/victim-dir");
    std::fs::create_dir(&victim_dir).unwrap();
    std::fs::set_permissions(&victim_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    as_nobody(&format!("ln -s {} {}", victim_dir.display(), s.project.join("config/jwt").display()));
    let o = s.apply(&b, &["--yes"]);
    assert!(!o.status.success(), "{}", stdout(&o));
    assert!(stderr(&o).contains("config/jwt"), "{}", stderr(&o));
    assert_eq!(mode(&victim_dir), 0o755);
    assert_eq!(std::fs::read_dir(&victim_dir).unwrap().count(), 0);
    nothing_installed(&s.root);
    s.victims_untouched();
}

/// Attack 3: a link planted where an old rollback put its temp file, and `.env.local`
/// swapped for a link before the rollback: the old file is restored in place, nowhere else.
#[test]
fn rollback_writes_only_where_it_restores() {
    let s = stage();
    let b = s.bundle("b", &[]);
    assert!(s.apply(&b, &["--yes"]).status.success());
    let first = std::fs::read(s.project.join(".env.local")).unwrap();
    let b2 = s.bundle("b", &[]);
    let o = s.apply(&b2, &["--yes"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert_ne!(std::fs::read(s.project.join(".env.local")).unwrap(), first);
    as_nobody(&format!(
        "cd {} && ln -s {} ..env.local.mercure-setup-restore && mv .env.local gone && ln -s {} .env.local",
        s.project.display(),
        s.inside.display(),
        s.outside.display()
    ));
    let o = run(&["apply", "--rollback", "--yes", "--root", s.root.to_str().unwrap()]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let env = s.project.join(".env.local");
    assert!(std::fs::symlink_metadata(&env).unwrap().is_file());
    assert_eq!(std::fs::read(&env).unwrap(), first);
    assert_eq!(mode(&env), 0o600);
    s.victims_untouched();
}

/// Attack 4: the bundle is installed only as render wrote it, from files root or the
/// caller owns that no one else can change.
#[test]
fn a_changed_linked_or_foreign_bundle_is_refused() {
    let s = stage();
    let pristine = crate::support::files_in(&s.root.join("etc"));
    // A link to root's secret where mercure.yaml should be.
    let b = s.bundle("linked", &[]);
    let yaml = b.join("symfony/config/packages/mercure.yaml");
    std::fs::remove_file(&yaml).unwrap();
    std::os::unix::fs::symlink(&s.inside, &yaml).unwrap();
    let o = s.apply(&b, &["--yes", "--accept-edits"]);
    assert!(!o.status.success() && stderr(&o).contains("symbolic link"), "{}{}", stdout(&o), stderr(&o));
    assert!(!s.project.join("config/packages/mercure.yaml").exists());

    // An edited site: refused without --accept-edits, with the edit shown.
    let b = s.bundle("edited", &[]);
    let site = b.join(format!("nginx/{DOMAIN}.conf"));
    let text = std::fs::read_to_string(&site).unwrap();
    std::fs::write(&site, text.replacen("server {", "server {\n\tinclude /etc/shadow;", 1)).unwrap();
    let o = s.apply(&b, &["--yes"]);
    assert_eq!(o.status.code(), Some(3), "{}{}", stdout(&o), stderr(&o));
    assert!(stderr(&o).contains("+\tinclude /etc/shadow;"), "{}", stderr(&o));
    nothing_installed(&s.root);
    assert!(!s.root.join(format!("etc/nginx/sites-available/{DOMAIN}.conf")).exists());
    // A dry run with --accept-edits shows the file as it would be installed.
    let o = s.apply(&b, &["--dry-run", "--accept-edits"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("| \tinclude /etc/shadow;"), "{}", stdout(&o));

    // Owned by another user, or writable by one.
    let b = s.bundle("foreign", &[]);
    let caddyfile = b.join("mercure/Caddyfile");
    std::os::unix::fs::chown(&caddyfile, Some(NOBODY), None).unwrap();
    let o = s.apply(&b, &["--yes"]);
    assert!(!o.status.success() && stderr(&o).contains("uid 65534"), "{}", stderr(&o));
    std::os::unix::fs::chown(&caddyfile, Some(0), None).unwrap();
    std::fs::set_permissions(b.join("mercure"), std::fs::Permissions::from_mode(0o777)).unwrap();
    let o = s.apply(&b, &["--yes"]);
    assert!(!o.status.success() && stderr(&o).contains("writable by other users"), "{}", stderr(&o));
    nothing_installed(&s.root);
    assert_eq!(crate::support::files_in(&s.root.join("etc")), pristine);
    s.victims_untouched();
}

/// Attack 5: a FIFO, an endless device and a huge file in the bundle: refused at once,
/// even by a dry run, with bounded memory.
#[test]
fn fifos_devices_and_huge_files_in_a_bundle_do_not_hang_apply() {
    let s = stage();
    let hub = s.hub.to_str().unwrap().to_string();
    let root = s.root.to_str().unwrap().to_string();
    for (name, plant) in [("fifo", "mkfifo"), ("zero", "ln -s /dev/zero"), ("huge", "truncate -s 1G")] {
        let b = s.bundle(name, &[]);
        let unit = b.join("systemd/mercure.service");
        std::fs::remove_file(&unit).unwrap();
        let o = Command::new("sh").arg("-c").arg(format!("{plant} {}", unit.display())).output().unwrap();
        assert!(o.status.success());
        for extra in [["--dry-run"], ["--yes"]] {
            let mut args = vec!["apply", b.to_str().unwrap(), "--root", &root, "--hub-binary", &hub];
            args.extend(extra);
            let o = run_within(&args, 30);
            assert!(!o.status.success(), "{name}: {}", stdout(&o));
        }
        nothing_installed(&s.root);
    }
}

/// Attack 6: a FIFO (and a socket-like leftover) where `.env.local` goes: refused before
/// the system files are touched, without waiting on it.
#[test]
fn a_fifo_at_a_destination_is_refused_before_anything_changes() {
    let s = stage();
    let b = s.bundle("b", &[]);
    as_nobody(&format!("mkfifo {}", s.project.join(".env.local").display()));
    let root = s.root.to_str().unwrap();
    let o = run_within(
        &["apply", b.to_str().unwrap(), "--root", root, "--hub-binary", s.hub.to_str().unwrap(), "--yes"],
        30,
    );
    assert!(!o.status.success(), "{}", stdout(&o));
    assert!(stderr(&o).contains("is a FIFO"), "{}", stderr(&o));
    nothing_installed(&s.root);
    assert!(std::fs::symlink_metadata(s.project.join(".env.local")).unwrap().file_type().is_fifo());
}

use std::os::unix::fs::FileTypeExt as _;

/// Attack 7: 30 concurrent applies of two bundles into one root: one at a time, and the
/// result is one bundle's files, never a mix.
#[test]
fn concurrent_applies_take_turns() {
    let s = stage();
    let a = s.bundle("a", &[]);
    let b = s.bundle("b", &[]);
    let root = s.root.to_str().unwrap().to_string();
    let hub = s.hub.to_str().unwrap().to_string();
    let children: Vec<_> = (0..30)
        .map(|i| {
            let bundle = if i % 2 == 0 { &a } else { &b };
            Command::new(bin())
                .args(["apply", bundle.to_str().unwrap(), "--root", &root, "--hub-binary", &hub, "--yes"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<Output> = children.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
    let mut applied = 0;
    for o in &outputs {
        if o.status.success() {
            applied += 1;
        } else {
            assert!(stderr(o).contains("another mercure-setup apply is running"), "{}", stderr(o));
            assert!(stderr(o).contains("process "), "the holder's PID: {}", stderr(o));
        }
    }
    assert!(applied >= 1);
    let installed = [
        ("etc/mercure/Caddyfile", "mercure/Caddyfile"),
        ("etc/mercure/mercure.env", "mercure/mercure.env"),
        (&format!("etc/nginx/sites-available/{DOMAIN}.conf") as &str, &format!("nginx/{DOMAIN}.conf") as &str),
        ("var/www/app/.env.local", "symfony/.env.local"),
    ]
    .map(|(dest, src)| (std::fs::read(s.root.join(dest)).unwrap(), src.to_string()));
    let from = |bundle: &Path| installed.iter().all(|(bytes, src)| *bytes == std::fs::read(bundle.join(src)).unwrap());
    assert!(from(&a) || from(&b), "the installed files mix two bundles");
    assert!(!s.root.join("var/lib/mercure-setup/apply.lock").exists(), "the lock file stays behind");
}

/// Attack 8: `--root` confines: a link in the root is resolved inside it, and a backup
/// manifest naming paths or copies outside is refused.
#[test]
fn the_staging_root_is_a_confinement() {
    let s = stage();
    let outside_dir = s.tmp.path().join("outside-dir");
    std::fs::create_dir(&outside_dir).unwrap();
    // Root's own link on the way to a destination, absolute: resolved beneath the root,
    // so the unit lands in ROOT/<target>, not in the real <target>.
    std::fs::create_dir_all(s.root.join("etc")).unwrap();
    std::os::unix::fs::symlink(&outside_dir, s.root.join("etc/systemd")).unwrap();
    let b = s.bundle("b", &[]);
    let o = s.apply(&b, &["--yes"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(std::fs::read_dir(&outside_dir).unwrap().count(), 0, "apply wrote outside the root");
    let inside = s.root.join(outside_dir.strip_prefix("/").unwrap());
    assert!(inside.join("system/mercure.service").is_file());

    // A manifest whose entries reach out of the root or out of the backup.
    let backups = s.root.join("var/lib/mercure-setup/backups");
    let name = std::fs::read_dir(&backups).unwrap().next().unwrap().unwrap().file_name();
    let manifest = backups.join(&name).join("manifest.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let evil = format!("{}/../../outside-dir/x", s.root.display());
    for tampered in [
        text.replacen("\"path\": \"/", &format!("\"path\": \"{evil}/"), 1),
        text.replacen("\"saved\": \"files/", "\"saved\": \"../../../../../../", 1),
    ] {
        assert_ne!(tampered, text);
        std::fs::write(&manifest, &tampered).unwrap();
        let before = crate::support::files_in(&s.root);
        let o = run(&["apply", "--rollback", "--yes", "--root", s.root.to_str().unwrap()]);
        assert!(!o.status.success(), "{}", stdout(&o));
        assert_eq!(crate::support::files_in(&s.root), before);
        assert_eq!(std::fs::read_dir(&outside_dir).unwrap().count(), 0);
    }
    s.victims_untouched();
}

/// Attack 9: a folder where a file goes stays with its contents; nothing is made
/// writable by others under umask 000; the undo hint keeps `--root`; a rollback dry run
/// changes nothing; a linked nginx.conf is refused and its target left alone.
#[test]
fn folders_umask_undo_hint_and_linked_nginx_conf() {
    let s = stage();
    let b = s.bundle("b", &[]);
    as_nobody(&format!("mkdir {p} && echo mine > {p}/keep", p = s.project.join(".env.local").display()));
    let o = s.apply(&b, &["--yes"]);
    assert!(!o.status.success(), "{}", stdout(&o));
    assert_eq!(std::fs::read_to_string(s.project.join(".env.local/keep")).unwrap(), "mine\n");
    nothing_installed(&s.root);
    as_nobody(&format!("rm -r {}", s.project.join(".env.local").display()));

    // umask 000: every folder and file apply makes has an explicit mode.
    let before: std::collections::BTreeSet<PathBuf> = walk(&s.root).into_iter().collect();
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "umask 000 && exec {} apply {} --root {} --hub-binary {} --yes",
            bin().display(),
            b.display(),
            s.root.display(),
            s.hub.display()
        ))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    for p in walk(&s.root).into_iter().filter(|p| !before.contains(p)) {
        let m = std::fs::symlink_metadata(&p).unwrap();
        if !m.file_type().is_symlink() {
            assert_eq!(m.mode() & 0o022, 0, "{} is {:04o} under umask 000", p.display(), m.mode() & 0o7777);
        }
    }
    let out = stdout(&o);
    let undo = out.lines().find(|l| l.contains("undo: ")).unwrap();
    assert!(undo.contains(&format!("--root {}", s.root.display())), "{undo}");

    // A rollback dry run lists and changes nothing.
    let state = crate::support::files_in(&s.root);
    let o = run(&["apply", "--rollback", "--dry-run", "--root", s.root.to_str().unwrap()]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("/etc/mercure/Caddyfile"), "{}", stdout(&o));
    assert_eq!(crate::support::files_in(&s.root), state);

    // A linked nginx.conf: refused, its target untouched.
    let fresh = stage();
    let conf = fresh.root.join("etc/nginx/nginx.conf");
    let target = fresh.root.join("etc/nginx/nginx.conf.real");
    std::fs::rename(&conf, &target).unwrap();
    std::os::unix::fs::symlink("nginx.conf.real", &conf).unwrap();
    let text = std::fs::read(&target).unwrap();
    let b = fresh.bundle("b", &[]);
    let o = fresh.apply(&b, &["--yes"]);
    assert!(!o.status.success(), "{}", stdout(&o));
    assert!(stderr(&o).contains("nginx.conf is a symbolic link"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&target).unwrap(), text);
    assert!(std::fs::symlink_metadata(&conf).unwrap().file_type().is_symlink());
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if std::fs::symlink_metadata(&p).unwrap().is_dir() {
                stack.push(p.clone());
            }
            out.push(p);
        }
    }
    out
}

/// Attack 9, preflight: a hub binary that never answers `version` is stopped, and every
/// missing prerequisite is listed at once with its staged path, exit 3.
#[test]
fn preflight_lists_everything_and_never_hangs() {
    let s = stage();
    let b = s.bundle("b", &[]);
    let sleeper = s.tmp.path().join("sleeping-hub");
    std::fs::write(&sleeper, "#!/bin/sh\nsleep 120\n").unwrap();
    std::fs::set_permissions(&sleeper, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::remove_file(s.root.join("etc/nginx/nginx.conf")).unwrap();
    std::fs::remove_dir_all(s.root.join("etc/letsencrypt")).unwrap();
    let root = s.root.to_str().unwrap();
    let started = Instant::now();
    let o = run_within(
        &["apply", b.to_str().unwrap(), "--root", root, "--hub-binary", sleeper.to_str().unwrap(), "--dry-run"],
        60,
    );
    assert_eq!(o.status.code(), Some(3), "{}{}", stdout(&o), stderr(&o));
    assert!(started.elapsed() < Duration::from_secs(40), "{:?}", started.elapsed());
    let err = stderr(&o);
    for staged in
        [format!("{root}/etc/nginx/nginx.conf"), format!("{root}/etc/letsencrypt/live/{DOMAIN}/fullchain.pem")]
    {
        assert!(err.contains(&staged), "{staged}: {err}");
    }
    assert!(err.contains("did not finish within"), "{err}");
    nothing_installed(&s.root);
}

/// The hub binary is run as root (its `version` in the preflight, then as the service):
/// a `hub.binary` in a folder the project's owner controls is refused before anything
/// runs, even in a dry run, and a staged binary the attacker owns is never executed.
#[test]
fn a_hub_binary_another_user_controls_is_never_run() {
    let s = stage();
    let marker = s.tmp.path().join("pwned");
    let evil = format!(
        "#!/bin/sh\nid > {marker}\necho pwned > {inside}\nchmod 644 {inside}\necho Mercure.rocks 0.24.2 Caddy v2.10.0\n",
        marker = marker.display(),
        inside = s.inside.display()
    );
    let root = s.root.to_str().unwrap();

    // hub.binary inside the project, planted by its owner.
    let b = s.bundle("b", &["hub.binary=/var/www/app/bin/mercure".into()]);
    let script = s.tmp.path().join("evil.sh");
    std::fs::write(&script, &evil).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    as_nobody(&format!(
        "mkdir {p}/bin && cp {script} {p}/bin/mercure",
        p = s.project.display(),
        script = script.display()
    ));
    let o = run_within(&["apply", b.to_str().unwrap(), "--root", root, "--dry-run"], 60);
    assert_eq!(o.status.code(), Some(3), "{}{}", stdout(&o), stderr(&o));
    assert!(stderr(&o).contains("whoever can write it can replace the hub binary"), "{}", stderr(&o));
    assert!(!marker.exists(), "root ran the attacker's binary");
    s.victims_untouched();

    // The staged binary in root's folder but owned by the attacker (or writable by it).
    let b = s.bundle("b2", &[]);
    let staged = s.root.join("usr/local/bin/mercure");
    std::fs::create_dir_all(staged.parent().unwrap()).unwrap();
    std::fs::write(&staged, &evil).unwrap();
    std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::chown(&staged, Some(NOBODY), Some(NOBODY)).unwrap();
    let o = run_within(&["apply", b.to_str().unwrap(), "--root", root, "--dry-run"], 60);
    assert_eq!(o.status.code(), Some(3), "{}{}", stdout(&o), stderr(&o));
    assert!(!marker.exists(), "root ran the attacker's binary");
    s.victims_untouched();
    nothing_installed_but(&s.root, "usr/local/bin/mercure");
    std::fs::remove_file(&staged).unwrap();

    // --hub-binary naming a file the attacker owns, in its own folder.
    let drop = s.tmp.path().join("drop");
    std::fs::create_dir(&drop).unwrap();
    std::os::unix::fs::chown(&drop, Some(NOBODY), Some(NOBODY)).unwrap();
    as_nobody(&format!("cp {} {}/mercure", script.display(), drop.display()));
    let given = drop.join("mercure");
    let o = run_within(
        &["apply", b.to_str().unwrap(), "--root", root, "--dry-run", "--hub-binary", given.to_str().unwrap()],
        60,
    );
    assert_eq!(o.status.code(), Some(3), "{}{}", stdout(&o), stderr(&o));
    assert!(stderr(&o).contains("--hub-binary"), "{}", stderr(&o));
    assert!(!marker.exists(), "root ran the attacker's binary");
    s.victims_untouched();
}

/// Under `--root`, a staging root below a folder another user owns is refused: that user
/// could rename the tree apply reaches by path (its scratch folder, the hub it runs).
#[test]
fn a_staging_root_another_user_can_move_is_refused() {
    let s = stage();
    let theirs = s.tmp.path().join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    std::os::unix::fs::chown(&theirs, Some(NOBODY), Some(NOBODY)).unwrap();
    std::fs::rename(&s.root, theirs.join("root")).unwrap();
    let root = theirs.join("root");
    let b = s.bundle("b", &[]);
    let o = run_within(&["apply", b.to_str().unwrap(), "--root", root.to_str().unwrap(), "--yes"], 60);
    assert_eq!(o.status.code(), Some(3), "{}{}", stdout(&o), stderr(&o));
    assert!(stderr(&o).contains("the staging root"), "{}", stderr(&o));
    nothing_installed(&root);
}

/// What apply shows of an edited bundle never includes a token, and what it shows of a
/// file another user wrote cannot drive the terminal.
#[test]
fn diffs_show_no_secret_and_no_terminal_codes() {
    let s = stage();
    let b = s.bundle("b", &[]);
    assert!(s.apply(&b, &["--yes"]).status.success());
    let token_file = b.join("tokens/publisher.jwt");
    let token = std::fs::read_to_string(&token_file).unwrap();
    std::fs::write(&token_file, format!("{}x\n", token.trim())).unwrap();
    as_nobody(&format!(
        "cd {}/config/packages && rm -f mercure.yaml && printf 'x: \\033]0;PWNED\\007\\033[2J\\n' > mercure.yaml",
        s.project.display()
    ));
    let yaml = b.join("symfony/config/packages/mercure.yaml");
    let text = std::fs::read_to_string(&yaml).unwrap();
    std::fs::write(&yaml, format!("{text}# edited\n")).unwrap();
    let o = s.apply(&b, &["--dry-run"]);
    assert_eq!(o.status.code(), Some(3), "{}{}", stdout(&o), stderr(&o));
    let all = format!("{}{}", stdout(&o), stderr(&o));
    assert!(all.contains("tokens/publisher.jwt"), "the edited token file is named: {all}");
    assert!(!all.contains(token.trim()), "the token was shown");
    assert!(!all.contains('\u{1b}') && !all.contains('\u{7}'), "raw terminal codes were shown: {all:?}");
    assert!(all.contains("\\u{1b}"), "the escape is shown escaped: {all}");
}

/// `nothing_installed`, for a root where the test itself staged `except`.
fn nothing_installed_but(root: &Path, except: &str) {
    for p in ["etc/mercure", "etc/systemd/system/mercure.service", "usr/local/bin/mercure"] {
        if p != except {
            assert!(std::fs::symlink_metadata(root.join(p)).is_err(), "{p} was installed");
        }
    }
}

/// The project's owner cannot hold the system files at the new bundle by blocking one
/// restore: a non-empty folder where `.env.local` was is left as it is (never deleted),
/// and every other path, the hub's Caddyfile among them, is still put back.
#[test]
fn a_blocked_restore_does_not_stop_the_rest_of_a_rollback() {
    let s = stage();
    let b = s.bundle("b", &[]);
    assert!(s.apply(&b, &["--yes"]).status.success());
    let caddyfile = s.root.join("etc/mercure/Caddyfile");
    let first = std::fs::read(&caddyfile).unwrap();
    let b2 = s.bundle("b2", &[]);
    let o = s.apply(&b2, &["--yes"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert_ne!(std::fs::read(&caddyfile).unwrap(), first, "the second bundle has another hub port");
    as_nobody(&format!("cd {} && mv .env.local e.old && mkdir .env.local && touch .env.local/x", s.project.display()));
    let o = run(&["apply", "--rollback", "--yes", "--root", s.root.to_str().unwrap()]);
    assert!(!o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(stderr(&o).contains(".env.local"), "the failure names the blocked path: {}", stderr(&o));
    assert_eq!(std::fs::read(&caddyfile).unwrap(), first, "the system files are back at the first bundle");
    assert!(s.project.join(".env.local/x").exists(), "the attacker's folder was not deleted");
    s.victims_untouched();
}

/// Where root keeps its lock and backups must be root's alone: with the state folder
/// left writable by everyone, whatever a user planted there (a file of theirs where the
/// lock goes) is never opened, and nothing is installed.
#[test]
fn a_state_folder_others_can_write_is_refused() {
    let s = stage();
    let state = s.root.join("var/lib/mercure-setup");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o777)).unwrap();
    as_nobody(&format!("echo planted > {}/apply.lock", state.display()));
    let b = s.bundle("b", &[]);
    let o = s.apply(&b, &["--yes"]);
    assert_eq!(o.status.code(), Some(3), "{}{}", stdout(&o), stderr(&o));
    assert!(stderr(&o).contains("var/lib/mercure-setup"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(state.join("apply.lock")).unwrap(), "planted\n");
    assert_eq!(std::fs::metadata(state.join("apply.lock")).unwrap().uid(), NOBODY);
    nothing_installed(&s.root);
    s.victims_untouched();
}
