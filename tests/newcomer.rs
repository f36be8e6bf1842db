//! The README's quick start, run as written: its commands are read from README.md
//! and run in a fresh folder, up to `apply --dry-run` (into a staging root with
//! Debian's nginx.conf, a public certificate and the suite's hub binary, the only
//! additions); the rest must at least parse. `--help` lists the same path in order.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::apply::{hub_binary, staging_root};
use crate::support::{bin, run, stderr, stdout};

/// The first `sh` code block under `## Quick start`, one command per line, comments off.
fn quick_start() -> Vec<String> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let section = readme.split("## Quick start").nth(1).expect("README has a Quick start");
    let block = section.split("```sh\n").nth(1).and_then(|b| b.split("```").next()).expect("a ```sh block");
    block
        .lines()
        .map(|l| l.split(" # ").next().unwrap_or_default().trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// A README line as the program's arguments: `sudo` dropped, words split on spaces
/// (the quick start quotes nothing).
fn words(line: &str) -> Vec<String> {
    let line = line.strip_prefix("sudo ").unwrap_or(line);
    let mut w: Vec<String> = line.split_whitespace().map(String::from).collect();
    assert_eq!(w.first().map(String::as_str), Some("mercure-setup"), "not a mercure-setup command: {line}");
    w.remove(0);
    w
}

#[test]
fn the_readme_quick_start_runs_as_written_up_to_apply_dry_run() {
    let lines = quick_start();
    let tmp = tempfile::tempdir().unwrap();
    let mut cwd: PathBuf = tmp.path().to_path_buf();
    let hub = hub_binary();
    let mut reached_dry_run = false;
    for line in &lines {
        if let Some(rest) = line.strip_prefix("mkdir ") {
            let (dir, cd) = rest.split_once(" && cd ").expect("mkdir DIR && cd DIR");
            assert_eq!(dir, cd, "{line}");
            cwd = tmp.path().join(dir);
            std::fs::create_dir(&cwd).unwrap();
            continue;
        }
        let mut args = words(line);
        let dry_run = args.first().is_some_and(|a| a == "apply") && args.iter().any(|a| a == "--dry-run");
        if reached_dry_run {
            // What comes after needs the machine itself: it must parse, as written.
            args.push("--help".into());
        } else if dry_run {
            let root = staging_root(tmp.path(), "app.example.com");
            args.extend([
                "--root".into(),
                root.display().to_string(),
                "--hub-binary".into(),
                hub.display().to_string(),
            ]);
            reached_dry_run = true;
        }
        let o = Command::new(bin()).args(&args).current_dir(&cwd).stdin(Stdio::null()).output().unwrap();
        assert!(
            o.status.success(),
            "README line `{line}` failed in {}:\n{}\n{}",
            cwd.display(),
            stdout(&o),
            stderr(&o)
        );
        if dry_run {
            assert!(stdout(&o).contains("dry run: nothing was changed"), "{}", stdout(&o));
        }
    }
    assert!(reached_dry_run, "the quick start shows `apply --dry-run`: {lines:?}");
    let all = lines.join("\n");
    for step in ["init", "render", "check", "apply --dry-run", "apply --certbot", "doctor", "loadtest"] {
        assert!(all.contains(&format!("mercure-setup {step}")), "the quick start lacks `{step}`");
    }
}

#[test]
fn help_lists_the_path_in_order_and_says_no_arguments_start_the_wizard() {
    let help = stdout(&run(&["--help"]));
    assert!(help.contains("Run with no arguments to start the wizard"), "{help}");
    let commands: Vec<&str> = help
        .split("Commands:\n")
        .nth(1)
        .unwrap()
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        commands[..7],
        ["wizard", "init", "render", "check", "apply", "doctor", "loadtest"],
        "the newcomer's order: {commands:?}"
    );
    // The same path as the README, step by step.
    let readme = quick_start().join("\n");
    for step in ["init --out answers.yaml --set domain=app.example.com", "render", "check", "apply --dry-run"] {
        assert!(help.contains(&format!("mercure-setup {step}")) && readme.contains(&format!("mercure-setup {step}")));
    }
    for sub in ["init", "render", "check", "doctor", "loadtest", "explain"] {
        let help = stdout(&run(&[sub, "--help"]));
        assert!(help.contains("Examples:\n  mercure-setup"), "{sub} --help has no examples:\n{help}");
    }
}
