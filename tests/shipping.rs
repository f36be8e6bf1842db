//! What the package ships beside the binary, checked with the real programs: the bash
//! completion script driven by real bash, and man pages rendered by `man`.

use std::path::Path;
use std::process::Command;

use clap::CommandFactory as _;
use mercure_setup::cli::Cli;

use crate::support::{require_tool, run, stderr, stdout};

/// Debian's default PATH, also inside a chroot.
pub const SYSTEM_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Completes the words of a command line (the last one being completed) with the
/// `mercure-setup` completion that `setup` (bash code run first) registers, as bash
/// would on <TAB>: `COMP_WORDS`/`COMP_CWORD` set, then the registered function called.
/// `prefix` runs bash another way (e.g. inside a chroot).
pub fn bash_complete(prefix: &[&str], setup: &str, words: &[&str]) -> Vec<String> {
    let script = format!(
        r#"{setup}
spec="$(complete -p mercure-setup)" || {{ echo "no completion registered for mercure-setup" >&2; exit 3; }}
fn="$(printf '%s' "$spec" | sed -E 's/.* -F ([^ ]+) .*/\1/')"
COMP_WORDS=("$@")
COMP_CWORD=$(( $# - 1 ))
COMP_LINE="$*"
COMP_POINT=${{#COMP_LINE}}
COMPREPLY=()
prev=""
[ "$COMP_CWORD" -gt 0 ] && prev="${{COMP_WORDS[COMP_CWORD-1]}}"
"$fn" mercure-setup "${{COMP_WORDS[COMP_CWORD]}}" "$prev"
printf '%s\n' "${{COMPREPLY[@]}}"
"#
    );
    let (program, pre) = match prefix.split_first() {
        Some((p, rest)) => (*p, rest.to_vec()),
        None => ("bash", Vec::new()),
    };
    let mut cmd = Command::new(program);
    cmd.args(&pre);
    if !prefix.is_empty() {
        cmd.arg("bash");
    }
    let o = cmd.arg("-c").arg(&script).arg("bash").args(words).env("PATH", SYSTEM_PATH).output().expect("bash runs");
    assert!(o.status.success(), "completing {words:?} failed: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).lines().filter(|l| !l.is_empty()).map(str::to_string).collect()
}

/// `man` on one page file with no pager and a fixed width; its text.
pub fn man_text(prefix: &[&str], args: &[&str]) -> String {
    let (program, pre): (&str, Vec<&str>) = match prefix.split_first() {
        Some((p, rest)) => (*p, [rest, &["man"]].concat()),
        None => ("man", Vec::new()),
    };
    let o = Command::new(program)
        .args(&pre)
        .args(args)
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .env("MANWIDTH", "100")
        .env("PATH", SYSTEM_PATH)
        .output()
        .expect("man runs");
    assert!(o.status.success(), "man {args:?} failed: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn write_bash_completion(dir: &Path) -> String {
    let o = run(&["completions", "bash"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let file = dir.join("mercure-setup.bash");
    std::fs::write(&file, stdout(&o)).unwrap();
    file.to_str().unwrap().to_string()
}

#[test]
fn bash_completes_subcommands_and_render_options() {
    require_tool("bash", "apt-get install bash");
    let tmp = tempfile::tempdir().unwrap();
    let setup = format!("source '{}'", write_bash_completion(tmp.path()));
    assert_eq!(bash_complete(&[], &setup, &["mercure-setup", "ren"]), ["render"]);
    let options = bash_complete(&[], &setup, &["mercure-setup", "render", "--"]);
    for want in ["--answers", "--out", "--set", "--dry-run", "--force", "--rotate-secrets", "--help"] {
        assert!(options.iter().any(|o| o == want), "{want} missing from {options:?}");
    }
    assert!(!options.iter().any(|o| o == "--topology"), "init's option offered for render: {options:?}");
    assert_eq!(bash_complete(&[], &setup, &["mercure-setup", "completions", "z"]), ["zsh"]);
    assert_eq!(bash_complete(&[], &setup, &["mercure-setup", "man", "--o"]), ["--out"]);
}

#[test]
fn man_pages_render_with_man() {
    require_tool("man", "apt-get install man-db");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("man");
    let o = run(&["man", "--out", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let main = man_text(&[], &["-l", dir.join("mercure-setup.1").to_str().unwrap()]);
    let words = main.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(words.contains("mercure-setup - Set up a Mercure hub behind nginx"), "{main}");
    // Every subcommand the binary has, as clap knows them, so a new one cannot be missed.
    let subcommands: Vec<String> =
        Cli::command().get_subcommands().filter(|s| !s.is_hide_set()).map(|s| s.get_name().to_string()).collect();
    assert!(subcommands.iter().any(|s| s == "apply") && subcommands.len() >= 11, "{subcommands:?}");
    for sub in &subcommands {
        assert!(main.contains(&format!("mercure-setup-{sub}(1)")), "main page lacks {sub}: {main}");
        let page = man_text(&[], &["-l", dir.join(format!("mercure-setup-{sub}.1")).to_str().unwrap()]);
        assert!(page.contains(&format!("mercure-setup-{sub}")), "{page}");
    }
    let render = man_text(&[], &["-l", dir.join("mercure-setup-render.1").to_str().unwrap()]);
    for option in ["--answers", "--out", "--set", "--dry-run", "--rotate-secrets"] {
        assert!(render.contains(option), "render page lacks {option}: {render}");
    }
}
