//! Hostile input and odd output folders, through the real binary: each test
//! reproduces an attack or a fault and asserts the promise (exit 2 naming the key
//! and nothing created; no symlink followed; explicit modes; no hang on FIFOs or
//! endless files; leftovers of a crash cleaned and reported).

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::support::{bin, files_in, fixture, render_fixture, run, stderr};

const FIXTURE: &str = "end-to-end-tls-es256-cors-nginx126.yaml";

fn render(out: &Path, extra: &[&str]) -> Output {
    let answers = fixture(FIXTURE);
    let mut args = vec!["render", "--answers", answers.to_str().unwrap(), "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    run(&args)
}

/// Runs the binary under coreutils `timeout`: a hang is a failure, not a stuck suite.
fn run_bounded(args: &[&str], shell_prefix: &str) -> Output {
    let quoted: Vec<String> = args.iter().map(|a| format!("'{}'", a.replace('\'', "'\\''"))).collect();
    let script = format!("{shell_prefix} exec timeout 20 '{}' {}", bin().display(), quoted.join(" "));
    let o = Command::new("sh").args(["-c", &script]).stdin(Stdio::null()).output().unwrap();
    assert_ne!(o.status.code(), Some(124), "mercure-setup hung: {args:?}");
    o
}

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn shell_and_systemd_syntax_in_paths_is_refused_naming_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let victim = tmp.path().join("victim");
    fs::write(&victim, "keep me").unwrap();
    let cases = [
        ("symfony.project_dir", format!("/srv/x&>{}&", victim.display())),
        ("symfony.project_dir", "/srv/$(id)".into()),
        ("hub.binary", "/usr/bin/%p".into()),
        ("hub.binary", "/usr/bin/mercure;reboot".into()),
        ("hub.binary", "/opt/m|tee".into()),
        ("public_tls.acme_webroot", "/var/www/(x)".into()),
        ("public_tls.acme_webroot", "/var/www/*".into()),
        ("public_tls.acme_webroot", "/var/www/~root".into()),
        ("public_tls.certificate", "/etc/ssl/a<b".into()),
        ("symfony.php_fpm", "unix:/run/php/%i.sock".into()),
    ];
    for (key, value) in cases {
        let set = format!("{key}={value}");
        let o = render(&out, &["--set", &set]);
        assert_eq!(o.status.code(), Some(2), "{set}: {}", stderr(&o));
        assert!(stderr(&o).contains(&format!("--set {key}:")), "{set}: {}", stderr(&o));
        assert!(!out.exists(), "{set}: a refused render created {}", out.display());
    }
    assert_eq!(fs::read_to_string(&victim).unwrap(), "keep me");
}

#[test]
fn values_that_would_fail_later_are_refused_at_validation() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    for (set, expect) in [
        ("symfony.php_fpm=a:b:9000", "is not an IP address or host name"),
        ("hub.cors_origins=https://x.example.com:443", "omit the default port 443"),
        ("hub.publish_origins=http://x.example.com:80", "omit the default port 80"),
        ("domain=foo", "no dot"),
        ("domain=localhost", "only names this machine"),
        ("domain=https://x.example.com", "host only, no scheme"),
    ] {
        let o = render(&out, &["--set", set]);
        assert_eq!(o.status.code(), Some(2), "{set}: {}", stderr(&o));
        assert!(stderr(&o).contains(expect), "{set}: {}", stderr(&o));
        assert!(!out.exists());
    }
    // A 200 kB path (the answers file itself stays under its 1 MiB cap) is refused
    // with a short message; a bigger file is refused as a file.
    let answers = tmp.path().join("a.yaml");
    fs::write(&answers, format!("domain: app.example.com\nhub:\n  binary: /{}\n", "a".repeat(200_000))).unwrap();
    let o = run(&["render", "--answers", answers.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("hub.binary") && stderr(&o).len() < 2000, "{}", stderr(&o).len());
    fs::write(&answers, format!("domain: app.example.com\nhub:\n  binary: /{}\n", "a".repeat(2_000_000))).unwrap();
    let o = run(&["render", "--answers", answers.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("larger than"), "{}", stderr(&o));
    assert!(!out.exists());
}

#[test]
fn a_253_character_domain_renders_with_short_file_names() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let domain = format!("{0}.{0}.{0}.{1}", "a".repeat(63), "b".repeat(61));
    assert_eq!(domain.len(), 253);
    let set = format!("domain={domain}");
    let o = render(&out, &["--set", &set]);
    assert!(o.status.success(), "{}", stderr(&o));
    for rel in files_in(&out).keys() {
        assert!(rel.split('/').all(|part| part.len() <= 255), "{rel}");
    }
    let site = fs::read_dir(out.join("nginx")).unwrap().next().unwrap().unwrap().path();
    let text = fs::read_to_string(site).unwrap();
    // Too long for nginx's default server-name hash: an exact regex instead.
    assert!(text.contains(&format!("server_name \"~^{}$\";", domain.replace('.', "\\."))), "{text}");
    // nginx names are a short hash: no variable near variables_hash_bucket_size.
    assert!(text.lines().any(|l| l.starts_with("map $args $mercure_") && l.len() < 60), "{text}");
}

#[test]
fn every_problem_is_reported_in_one_run() {
    let tmp = tempfile::tempdir().unwrap();
    let answers = tmp.path().join("a.yaml");
    fs::write(&answers, "domian: a.example.com\ndomain: a..com\nhub:\n  port: 80\n  heartbeat: 0s\n").unwrap();
    let out = tmp.path().join("out");
    let o = run(&["render", "--answers", answers.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    for expect in [
        "a.yaml:1:1: domian: unknown key",
        "a.yaml:2:1: domain:",
        "a.yaml:4:3: hub.port:",
        "a.yaml:5:3: hub.heartbeat:",
    ] {
        assert!(err.contains(expect), "{expect} missing from:\n{err}");
    }
    assert!(!out.exists());
}

#[test]
fn symlinks_inside_the_output_folder_are_never_followed() {
    for link in ["tokens", ".state", "mercure/tls", "nginx", "symfony/config"] {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        render_fixture(FIXTURE, &out);
        let elsewhere = tmp.path().join("shared");
        fs::create_dir(&elsewhere).unwrap();
        fs::set_permissions(&elsewhere, fs::Permissions::from_mode(0o755)).unwrap();
        let moved = tmp.path().join("moved");
        fs::rename(out.join(link), &moved).unwrap();
        symlink(&elsewhere, out.join(link)).unwrap();
        let before = files_in(&out);
        for extra in [&[][..], &["--force"][..], &["--rotate-secrets", "--force"][..], &["--dry-run"][..]] {
            let o = render(&out, extra);
            assert_eq!(o.status.code(), Some(1), "{link} {extra:?}: {}", stderr(&o));
            assert!(
                stderr(&o).contains(&format!("{} is a symbolic link", out.join(link).display())),
                "{link}: {}",
                stderr(&o)
            );
        }
        assert_eq!(fs::read_dir(&elsewhere).unwrap().count(), 0, "{link}: something was written through the link");
        assert_eq!(mode(&elsewhere), 0o755, "{link}: the link's target was chmod-ed");
        assert_eq!(files_in(&out).keys().collect::<Vec<_>>(), before.keys().collect::<Vec<_>>());
    }
}

#[test]
fn modes_are_explicit_whatever_the_umask() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("deep/er/out");
    let answers = fixture(FIXTURE);
    let o =
        run_bounded(&["render", "--answers", answers.to_str().unwrap(), "--out", out.to_str().unwrap()], "umask 000;");
    assert!(o.status.success(), "{}", stderr(&o));
    let mut checked = 0;
    let mut stack = vec![tmp.path().join("deep")];
    while let Some(dir) = stack.pop() {
        assert_eq!(mode(&dir) & 0o022, 0, "{} is writable by others", dir.display());
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let m = mode(&path);
            assert_eq!(m & 0o022, 0, "{} is {m:o}", path.display());
            checked += 1;
            if path.is_dir() {
                stack.push(path);
            }
        }
    }
    assert!(checked > 20);
    assert_eq!(mode(&out), 0o700);
    for dir in ["nginx", "systemd", "systemd/nginx.service.d", "symfony/config/packages"] {
        assert_eq!(mode(&out.join(dir)), 0o755, "{dir}");
    }
    // Folders holding a secret (symfony/config/jwt has the ES256 key) are 0700.
    for dir in [".state", ".state/pki", "tokens", "mercure/tls", "symfony/config", "symfony/config/jwt"] {
        assert_eq!(mode(&out.join(dir)), 0o700, "{dir}");
    }
    // A folder an earlier run (or umask) left 0777 is put right.
    fs::set_permissions(out.join("systemd"), fs::Permissions::from_mode(0o777)).unwrap();
    assert!(render(&out, &[]).status.success());
    assert_eq!(mode(&out.join("systemd")), 0o755);
}

#[test]
fn fifos_and_endless_files_never_hang_or_grow_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    render_fixture(FIXTURE, &out);
    let answers = fixture(FIXTURE);
    let args = ["render", "--answers", answers.to_str().unwrap(), "--out", out.to_str().unwrap()];
    for rel in ["nginx/news.example.net.conf", ".state/pki/ca.key", ".state/manifest.json", "tokens/publisher.jwt"] {
        let path = out.join(rel);
        let saved = fs::read(&path).unwrap();
        fs::remove_file(&path).unwrap();
        let made = Command::new("mkfifo").arg(&path).status().unwrap();
        assert!(made.success());
        for extra in [&[][..], &["--dry-run"][..]] {
            let all: Vec<&str> = args.iter().copied().chain(extra.iter().copied()).collect();
            let o = run_bounded(&all, "");
            assert_eq!(o.status.code(), Some(1), "{rel}: {}", stderr(&o));
            assert!(stderr(&o).contains("is a FIFO, not a regular file"), "{rel}: {}", stderr(&o));
        }
        fs::remove_file(&path).unwrap();
        fs::write(&path, saved).unwrap();
    }
    // /dev/zero as the answers file, and linked in as a state file.
    let o = run_bounded(&["render", "--answers", "/dev/zero", "--out", out.to_str().unwrap()], "ulimit -v 1000000;");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("is a device"), "{}", stderr(&o));
    let key = out.join(".state/pki/hub.key");
    fs::remove_file(&key).unwrap();
    symlink("/dev/zero", &key).unwrap();
    let o = run_bounded(&args, "ulimit -v 1000000;");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("is a symbolic link"), "{}", stderr(&o));
}

#[test]
fn refused_and_failed_renders_create_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    // Refused at validation: no folder.
    let o = render(&out, &["--set", "hub.port=80"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!out.exists());
    // Refused for a hand edit: nothing added, nothing changed.
    render_fixture(FIXTURE, &out);
    fs::write(out.join("systemd/mercure.service"), "mine\n").unwrap();
    let before = files_in(&out);
    let o = render(&out, &["--set", "hub.port=9443"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("edited by hand"), "{}", stderr(&o));
    assert_eq!(files_in(&out), before);
    // --out under a regular file: refused, the file untouched.
    let file_parent = tmp.path().join("afile");
    fs::write(&file_parent, "x").unwrap();
    let o = render(&file_parent.join("out"), &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(fs::read_to_string(&file_parent).unwrap(), "x");
}

#[test]
fn leftovers_of_an_interrupted_run_are_removed_and_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    render_fixture(FIXTURE, &out);
    fs::write(out.join("tokens/.publisher.jwt.AbC123.mercure-setup-tmp"), "secret copy").unwrap();
    fs::create_dir(out.join(".state.new-XyZ789")).unwrap();
    fs::write(out.join(".state.new-XyZ789/ca.key"), "half-written").unwrap();
    let o = render(&out, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("note: removed what an interrupted run left in"), "{err}");
    assert!(err.contains(".state.new-XyZ789") && err.contains("tokens/.publisher.jwt.AbC123.mercure-setup-tmp"));
    assert!(files_in(&out).keys().all(|p| !p.contains("mercure-setup-tmp") && !p.contains(".state.new-")));
    // A second render finds nothing to clean and nothing to change.
    let o = render(&out, &[]);
    assert!(!stderr(&o).contains("interrupted"), "{}", stderr(&o));
}

#[test]
fn check_does_not_hang_on_a_fifo_in_the_bundle() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    render_fixture(FIXTURE, &out);
    let env = out.join("mercure/mercure.env");
    fs::remove_file(&env).unwrap();
    assert!(Command::new("mkfifo").arg(&env).status().unwrap().success());
    let o = run_bounded(&["check", out.to_str().unwrap()], "");
    assert_ne!(o.status.code(), Some(0), "{}", stderr(&o));
    let all = format!("{}{}", crate::support::stdout(&o), stderr(&o));
    assert!(all.contains("is a FIFO, not a regular file"), "{all}");
    // A user-named answers file may be a link (the user chose it); /dev/zero may not.
    let link = tmp.path().join("answers-link.yaml");
    symlink(fixture(FIXTURE), &link).unwrap();
    let o = run(&["render", "--answers", link.to_str().unwrap(), "--out", tmp.path().join("o2").to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
}
