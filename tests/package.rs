//! The Debian package from `scripts/package.sh`, installed with `dpkg -i` into a copy
//! of a fresh Debian 12 root (debootstrap, `scripts/debian-root.sh`) and used there as
//! a user would: the command from PATH, its man pages, bash completion on <TAB>.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::shipping::{SYSTEM_PATH, bash_complete, man_text};
use crate::support::{require_tool, run, stderr, stdout};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs a script of the repository; its last stdout line is the path it made.
fn script_path(name: &str) -> PathBuf {
    let o = Command::new("bash").arg(repo().join("scripts").join(name)).output().unwrap();
    assert!(o.status.success(), "scripts/{name} failed:\n{}", stderr(&o));
    PathBuf::from(stdout(&o).lines().last().expect("a path on the last line").trim())
}

/// Runs `args` inside the root folder as root, with Debian's PATH; panics with its output on failure.
fn in_root(root: &Path, args: &[&str]) -> String {
    let o = Command::new("chroot")
        .arg(root)
        .args(args)
        .env_clear()
        .env("PATH", SYSTEM_PATH)
        .env("HOME", "/root")
        .env("LANG", "C.UTF-8")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output()
        .unwrap();
    assert!(o.status.success(), "{args:?} in the Debian root failed:\n{}\n{}", stdout(&o), stderr(&o));
    stdout(&o)
}

#[test]
fn deb_installs_on_a_fresh_debian_12_root_and_works_from_path() {
    for (tool, install) in [
        ("dpkg-deb", "apt-get install dpkg"),
        ("debootstrap", "apt-get install debootstrap"),
        ("chroot", "apt-get install coreutils"),
        ("objdump", "apt-get install binutils"),
    ] {
        require_tool(tool, install);
    }
    let deb = script_path("package.sh");
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(deb.file_name().unwrap().to_string_lossy(), format!("mercure-setup_{version}_amd64.deb"));
    assert!(deb.exists(), "{deb:?}");
    let contents = Command::new("dpkg-deb").arg("--contents").arg(&deb).output().unwrap();
    let listing = stdout(&contents);
    for path in [
        "./usr/bin/mercure-setup",
        "./usr/share/man/man1/mercure-setup.1.gz",
        "./usr/share/man/man1/mercure-setup-render.1.gz",
        "./usr/share/bash-completion/completions/mercure-setup",
        "./usr/share/zsh/vendor-completions/_mercure-setup",
        "./usr/share/fish/vendor_completions.d/mercure-setup.fish",
        "./usr/share/doc/mercure-setup/copyright",
        "./usr/share/doc/mercure-setup/README.md.gz",
        "./usr/share/mercure-setup/answers.schema.json",
    ] {
        assert!(listing.lines().any(|l| l.ends_with(path)), "{path} not in the package:\n{listing}");
    }
    // Owned by root in the archive, whoever built it.
    assert!(listing.lines().all(|l| l.contains(" root/root ")), "{listing}");

    let fresh = script_path("debian-root.sh");
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let cp = Command::new("cp").arg("-a").arg(&fresh).arg(&root).status().unwrap();
    assert!(cp.success(), "copying {fresh:?}");
    assert!(in_root(&root, &["sh", "-c", "command -v mercure-setup || echo absent"]).contains("absent"));
    std::fs::copy(&deb, root.join("tmp/mercure-setup.deb")).unwrap();
    in_root(&root, &["dpkg", "-i", "/tmp/mercure-setup.deb"]);

    assert_eq!(in_root(&root, &["sh", "-c", "command -v mercure-setup"]).trim(), "/usr/bin/mercure-setup");
    assert_eq!(in_root(&root, &["mercure-setup", "--version"]).trim(), format!("mercure-setup {version}"));
    // The installed schema is the one the binary prints, at the path `init` names.
    assert_eq!(
        std::fs::read_to_string(root.join("usr/share/mercure-setup/answers.schema.json")).unwrap(),
        stdout(&run(&["schema"]))
    );
    let init = in_root(&root, &["mercure-setup", "init"]);
    assert!(init.starts_with("# yaml-language-server: $schema=/usr/share/mercure-setup/answers.schema.json\n"));

    let chroot = ["chroot", root.to_str().unwrap()];
    let main = man_text(&chroot, &["mercure-setup"]);
    assert!(main.contains("mercure-setup-render(1)"), "{main}");
    let render = man_text(&chroot, &["mercure-setup-render"]);
    for option in ["--answers", "--out", "--dry-run"] {
        assert!(render.contains(option), "man mercure-setup-render lacks {option}:\n{render}");
    }

    // bash-completion loads the script on first <TAB>, as an interactive shell would.
    let setup = "source /usr/share/bash-completion/bash_completion; _completion_loader mercure-setup";
    assert_eq!(bash_complete(&chroot, setup, &["mercure-setup", "ren"]), ["render"]);
    let options = bash_complete(&chroot, setup, &["mercure-setup", "render", "--"]);
    for want in ["--answers", "--out", "--set", "--dry-run", "--force", "--rotate-secrets"] {
        assert!(options.iter().any(|o| o == want), "{want} missing from {options:?}");
    }

    // And it leaves nothing behind when removed.
    in_root(&root, &["dpkg", "--purge", "mercure-setup"]);
    assert!(!root.join("usr/bin/mercure-setup").exists());
    assert!(!root.join("usr/share/mercure-setup").exists());
}
