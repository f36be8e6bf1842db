//! The real binary inside tmux at 120x40, as a new user would run it: answer the
//! topology with Enter, type a domain, press Enter through every default, check the
//! screens on the way, and find in DIR the bundle `render` gives for the saved
//! `answers.yaml` (re-rendering into the same folder changes nothing). Then: resuming
//! an end-to-end-tls/ES256 bundle and pressing Enter through changes no file; Ctrl-C
//! says nothing was written (exit 130, no "error"); SIGTERM leaves the alternate screen.
//! And a newcomer's whole path: `mercure-setup` alone, then the printed next steps up
//! to `apply --dry-run` into a staging root.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::support::{bin, free_port, render_fixture, require_tool, run, stderr, stdout};

/// A tmux server of our own (its own socket), killed when the test ends.
struct Tmux {
    tmux: std::path::PathBuf,
    socket: String,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> Output {
        Command::new(&self.tmux).args(["-L", &self.socket]).args(args).env("TERM", "xterm-256color").output().unwrap()
    }

    fn screen(&self) -> String {
        stdout(&self.cmd(&["capture-pane", "-p", "-t", "wizard"]))
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "wizard"];
        args.extend(keys);
        assert!(self.cmd(&args).status.success());
    }

    /// Waits until the screen satisfies `ok` and has settled (the same 100 ms later),
    /// so a frame caught half drawn is never taken for the next screen.
    fn wait_for(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if ok(&s) {
                std::thread::sleep(Duration::from_millis(100));
                if self.screen() == s {
                    return s;
                }
                continue;
            }
            assert!(start.elapsed() < Duration::from_secs(20), "timed out waiting for {what}; screen:\n{s}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

fn read(dir: &Path, rel: &str) -> String {
    std::fs::read_to_string(dir.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn new_user_enters_through_defaults_in_tmux() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bundle");
    let script =
        format!("'{}' wizard --out '{}'; echo \"wizard exited with $?\"; sleep 600", bin().display(), dir.display());
    let t = Tmux::start(&script, tmp.path());

    let s = t.wait_for("the topology step", |s| s.contains("How does nginx reach the hub?"));
    for text in [
        "(•) same-host-http",
        "( ) end-to-end-tls",
        "Protects:",
        "Costs:",
        "proxy_ssl_verify off;",
        "proxy_pass http://127.0.0.1:3000;",
        "preview nginx/example.com.conf",
    ] {
        assert!(s.contains(text), "topology screen lacks {text:?}:\n{s}");
    }
    // As a new user would: type the domain straight away, then Enter through the defaults.
    t.keys(&["-l", "app.example.com"]);
    t.wait_for("the domain field", |s| s.contains("› Public host name of the Symfony app"));
    t.wait_for("the typed domain in the preview", |s| s.contains("server_name app.example.com;"));

    let mut review = None;
    for _ in 0..25 {
        let before = t.screen();
        t.keys(&["Enter"]);
        let s = t.wait_for("the next field", |s| s != before);
        assert!(!s.contains('✗'), "a default was refused:\n{s}");
        if s.contains("Enter write bundle") {
            review = Some(s);
            break;
        }
    }
    let s = review.expect("Enter through the defaults reaches the review");
    for text in
        ["8/8 Review", "files for a new folder", "0600 mercure/mercure.env (secret)", "0644 answers.yaml", "new"]
    {
        assert!(s.contains(text), "review screen lacks {text:?}:\n{s}");
    }
    assert!(!dir.exists(), "nothing written before the final Enter");
    t.keys(&["Enter"]);
    let s = t.wait_for("the wizard to exit", |s| s.contains("wizard exited with"));
    assert!(s.contains("wizard exited with 0"), "{s}");
    assert!(s.contains(&format!("wrote {}:", dir.display())), "{s}");

    // The bundle is in DIR, secrets 0600, and `render` with the saved answers agrees.
    let mode = std::fs::metadata(dir.join("mercure/mercure.env")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(read(&dir, "answers.yaml").contains("domain: 'app.example.com'"));
    let answers = dir.join("answers.yaml");
    let other = tmp.path().join("other");
    let o = run(&["render", "--answers", answers.to_str().unwrap(), "--out", other.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    for rel in [
        "answers.yaml",
        "INSTALL.md",
        "nginx/app.example.com.conf",
        "mercure/Caddyfile",
        "systemd/mercure.service",
        "systemd/nginx.service.d/mercure-limits.conf",
        "symfony/config/packages/mercure.yaml",
    ] {
        assert_eq!(read(&dir, rel), read(&other, rel), "{rel} differs from render's");
    }
    // Same folder, same stored secrets: re-rendering changes nothing at all.
    let o = run(&["render", "--answers", answers.to_str().unwrap(), "--out", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains(": 0 new, 0 updated,"), "{}", stdout(&o));
}

impl Tmux {
    /// Starts `script` (sh) in a new 120x40 session named `wizard` in `cwd`.
    fn start(script: &str, cwd: &Path) -> Tmux {
        let tmux = require_tool("tmux", "apt-get install tmux");
        let t = Tmux { tmux, socket: format!("mercure-wizard-test-{}-{}", std::process::id(), free_port()) };
        let o = t.cmd(&[
            "new-session",
            "-d",
            "-s",
            "wizard",
            "-x",
            "120",
            "-y",
            "40",
            "-c",
            cwd.to_str().unwrap(),
            "sh",
            "-c",
            script,
        ]);
        assert!(o.status.success(), "tmux: {}", stderr(&o));
        t
    }

    /// Whether the pane shows the alternate screen (a full-screen program is drawing).
    fn alternate_on(&self) -> bool {
        stdout(&self.cmd(&["display-message", "-p", "-t", "wizard", "#{alternate_on}"])).trim() == "1"
    }
}

/// The folder's files, the manifest and the lock left out.
fn bundle_files(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut files = crate::support::files_in(dir);
    files.retain(|rel, _| rel != ".state/manifest.json" && rel != ".state/lock");
    files
}

#[test]
fn resuming_an_end_to_end_tls_es256_bundle_changes_nothing_in_tmux() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bundle");
    render_fixture("end-to-end-tls-es256-cors-nginx126.yaml", &dir);
    let before = bundle_files(&dir);
    let script = format!("'{}' wizard --out bundle; echo \"wizard exited with $?\"; sleep 600", bin().display());
    let t = Tmux::start(&script, tmp.path());
    let s = t.wait_for("the topology step", |s| s.contains("How does nginx reach the hub?"));
    for text in ["editing ./bundle", "(•) end-to-end-tls", "1 Topology✓", "7 Capacity✓"] {
        assert!(s.contains(text), "resumed screen lacks {text:?}:\n{s}");
    }
    let mut review = None;
    for _ in 0..30 {
        let before = t.screen();
        t.keys(&["Enter"]);
        let s = t.wait_for("the next field", |s| s != before);
        // A refused answer marks its step ✗ in the tab bar (the teaching text uses ✗ too).
        let tabs = s.lines().next().unwrap_or_default();
        assert!(!tabs.contains('✗'), "a loaded answer was refused:\n{s}");
        if s.contains("Enter write bundle") {
            review = Some(s);
            break;
        }
    }
    let s = review.expect("Enter through the loaded answers reaches the review");
    assert!(s.contains("files are unchanged: Enter changes no file"), "{s}");
    for text in ["⚠", "made a new", "HS256", "same-host-http"] {
        assert!(!s.contains(text), "the review shows {text:?}:\n{s}");
    }
    assert!(s.contains("0600 .state/jwt-es256-public.pem (public key)"), "{s}");
    t.keys(&["Enter"]);
    let s = t.wait_for("the wizard to exit", |s| s.contains("wizard exited with"));
    assert!(s.contains("wizard exited with 0"), "{s}");
    assert!(s.contains(": 0 new, 0 updated,"), "{s}");
    assert_eq!(bundle_files(&dir), before, "only unchanged files: same ES256 key, same everything");
}

#[test]
fn quitting_says_nothing_was_written_and_sigterm_restores_the_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let pid_file = tmp.path().join("pid");
    // The shell ignores SIGINT, so a Ctrl-C pressed once too often cannot end the script.
    let script = format!(
        "trap '' INT; '{bin}' wizard --out one; echo \"first exited with $?\"; read go; \
         sh -c 'echo $$ > {pid}; exec \"$0\" wizard --out two' '{bin}'; echo \"second exited with $?\"; sleep 600",
        bin = bin().display(),
        pid = pid_file.display()
    );
    let t = Tmux::start(&script, tmp.path());
    t.wait_for("the topology step", |s| s.contains("How does nginx reach the hub?"));
    // Ctrl-C on the first step quits; nothing was typed, so no dialog. Under this
    // suite's load a key sent by tmux right after the first frame is sometimes never
    // seen: press it again, as a person would, until the wizard exits.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !t.screen().contains("first exited with") {
        assert!(Instant::now() < deadline, "Ctrl-C never quit the wizard:\n{}", t.screen());
        t.keys(&["C-c"]);
        std::thread::sleep(Duration::from_millis(700));
    }
    let s = t.wait_for("the first wizard to exit", |s| s.contains("first exited with"));
    assert!(s.contains("first exited with 130"), "{s}");
    assert!(s.contains("nothing was written"), "{s}");
    assert!(!s.to_lowercase().contains("error"), "quitting is not an error: {s}");
    // The second wizard starts on Enter, so no Escape meant for the first reaches it.
    t.keys(&["Enter"]);
    t.wait_for("the second wizard", |s| s.contains("How does nginx reach the hub?"));
    assert!(t.alternate_on());
    let pid = std::fs::read_to_string(&pid_file).unwrap().trim().to_string();
    let o = std::process::Command::new("kill").args(["-TERM", &pid]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let s = t.wait_for("the second wizard to exit", |s| s.contains("second exited with"));
    assert!(s.contains("second exited with 130"), "{s}");
    assert!(s.contains("stopped by a signal: nothing was written"), "{s}");
    assert!(!t.alternate_on(), "the terminal is back from the alternate screen:\n{s}");
    assert!(!tmp.path().join("one").exists() && !tmp.path().join("two").exists());
}

/// Closing the terminal (an SSH session dropped) ends the wizard: it must not outlive
/// the terminal reading its end of file forever.
#[test]
fn a_hung_up_terminal_ends_the_wizard() {
    let tmp = tempfile::tempdir().unwrap();
    let pid_file = tmp.path().join("pid");
    let script = format!(
        "sh -c 'echo $$ > {pid}; exec \"$0\" wizard --out one' '{bin}'; sleep 600",
        bin = bin().display(),
        pid = pid_file.display()
    );
    let t = Tmux::start(&script, tmp.path());
    t.wait_for("the topology step", |s| s.contains("How does nginx reach the hub?"));
    let pid = std::fs::read_to_string(&pid_file).unwrap().trim().to_string();
    drop(t);
    let gone = |pid: &str| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map_or(true, |stat| stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z')))
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !gone(&pid) {
        assert!(Instant::now() < deadline, "the wizard (pid {pid}) outlived its terminal");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A newcomer with only `--help` and the README: `mercure-setup` alone starts the
/// wizard; Enter through it after typing the domain; then, in the same shell, the
/// commands the wizard printed as next steps, as printed (`sudo` left out, a staging
/// root and the suite's hub added to `apply`), up to `apply --dry-run`.
#[test]
fn a_newcomer_goes_from_the_wizard_to_apply_dry_run_in_tmux() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let root = crate::apply::staging_root(tmp.path(), "app.example.com");
    let hub = crate::apply::hub_binary();
    let help = stdout(&run(&["--help"]));
    assert!(help.contains("Run with no arguments to start the wizard"), "{help}");
    // On PATH as after installing the package; the shell stays for the next commands.
    let bin_dir = bin().parent().unwrap().to_path_buf();
    let script = format!(
        "export PATH='{}':\"$PATH\"; mercure-setup; echo \"wizard exited with $?\"; exec sh",
        bin_dir.display()
    );
    let t = Tmux::start(&script, &work);
    t.wait_for("the topology step", |s| s.contains("How does nginx reach the hub?"));
    t.keys(&["-l", "app.example.com"]);
    t.wait_for("the typed domain in the preview", |s| s.contains("server_name app.example.com;"));
    for _ in 0..25 {
        let before = t.screen();
        t.keys(&["Enter"]);
        if t.wait_for("the next field", |s| s != before).contains("Enter write bundle") {
            break;
        }
    }
    t.keys(&["Enter"]);
    let s = t.wait_for("the wizard to exit", |s| s.contains("wizard exited with"));
    assert!(s.contains("wizard exited with 0"), "{s}");
    // The next steps, as the wizard printed them.
    let next: Vec<String> = s
        .lines()
        .skip_while(|l| !l.starts_with("next: "))
        .take(3)
        .map(|l| l.trim_start_matches("next: ").trim().to_string())
        .collect();
    assert_eq!(next.len(), 3, "{s}");
    assert_eq!(next[0], "mercure-setup check mercure-bundle", "{s}");
    assert_eq!(next[1], "sudo mercure-setup apply mercure-bundle --dry-run", "{s}");
    assert!(next[2].starts_with("sudo mercure-setup apply mercure-bundle --certbot EMAIL"), "{s}");
    t.keys(&["-l", &format!("{} > check.out 2>&1; echo \"check exited with $?\"", next[0])]);
    t.keys(&["Enter"]);
    // The typed line holds the words too; the answer is a line of its own.
    let s = t.wait_for("check to finish", |s| s.lines().any(|l| l.starts_with("check exited with")));
    let out = std::fs::read_to_string(work.join("check.out")).unwrap();
    assert!(s.lines().any(|l| l == "check exited with 0"), "{s}\n{out}");
    let apply = format!(
        "{} --root '{}' --hub-binary '{}' > apply.out 2>&1; echo \"apply exited with $?\"",
        next[1].trim_start_matches("sudo "),
        root.display(),
        hub.display()
    );
    t.keys(&["-l", &apply]);
    t.keys(&["Enter"]);
    let s = t.wait_for("apply to finish", |s| s.lines().any(|l| l.starts_with("apply exited with")));
    let out = std::fs::read_to_string(work.join("apply.out")).unwrap();
    assert!(s.lines().any(|l| l == "apply exited with 0"), "{s}\n{out}");
    assert!(out.contains("dry run: nothing was changed"), "{out}");
    assert!(out.contains("nginx/app.example.com.conf"), "{out}");
}
