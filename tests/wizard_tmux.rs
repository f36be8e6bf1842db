//! The real binary inside tmux at 120x40, as a new user would run it: answer the
//! topology with Enter, type a domain, press Enter through every default, check the
//! screens on the way, and find in DIR the bundle `render` gives for the saved
//! `answers.yaml` (re-rendering into the same folder changes nothing).

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::support::{bin, require_tool, run, stderr, stdout};

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

    fn wait_for(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
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
    let tmux = require_tool("tmux", "apt-get install tmux");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bundle");
    let t = Tmux { tmux, socket: format!("mercure-wizard-test-{}", std::process::id()) };
    let script =
        format!("'{}' wizard --out '{}'; echo \"wizard exited with $?\"; sleep 600", bin().display(), dir.display());
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
        tmp.path().to_str().unwrap(),
        "sh",
        "-c",
        &script,
    ]);
    assert!(o.status.success(), "tmux: {}", stderr(&o));

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
