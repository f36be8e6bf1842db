//! What a packaged CLI ships beside its binary, generated from the clap definitions
//! so they never drift from the real options: shell completions and man pages.

use std::path::{Path, PathBuf};

use clap::Command;
use clap_mangen::roff;

use crate::error::Error;

/// The shells `completions` writes for (the ones Debian packages completions for).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// The completion script for `shell`, for the command line `cmd` (`Cli::command()`).
pub fn completions(shell: Shell, mut cmd: Command) -> String {
    let generator = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    if shell == Shell::Bash {
        return bash_completion(cmd);
    }
    let mut out = Vec::new();
    clap_complete::generate(generator, &mut cmd, BIN, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

const BIN: &str = "mercure-setup";

/// `clap_complete`'s bash script spells its internal states two ways when the
/// command's name has a `-` (clap-rs/clap#6421), so nothing after a subcommand
/// completes. Generated for `mercure_setup` the states agree; only the final
/// `complete` lines name the real command.
fn bash_completion(mut cmd: Command) -> String {
    let mut out = Vec::new();
    clap_complete::generate(clap_complete::Shell::Bash, &mut cmd, "mercure_setup", &mut out);
    String::from_utf8_lossy(&out).replace(" mercure_setup\n", &format!(" {BIN}\n"))
}

/// Writes `mercure-setup.1` and `mercure-setup-SUBCOMMAND.1` for each visible
/// subcommand of `cmd` into `dir`, and returns the files written, sorted. Each page
/// has clap's sections (NAME, SYNOPSIS, DESCRIPTION, OPTIONS) and ours: EXAMPLES (the
/// command's examples from `--help`), EXIT STATUS, FILES and ENVIRONMENT.
pub fn write_man_pages(dir: &Path, cmd: Command) -> Result<Vec<PathBuf>, Error> {
    let failed = |e: std::io::Error| Error::Failed(format!("writing man pages to {}: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(failed)?;
    let mut root = cmd.disable_help_subcommand(true);
    root.build();
    let mut pages = vec![root.clone()];
    pages.extend(root.get_subcommands().filter(|s| !s.is_hide_set()).cloned());
    let mut files = Vec::new();
    for page in pages {
        let man = clap_mangen::Man::new(page.clone());
        let path = dir.join(man.get_filename());
        let mut out = Vec::new();
        man_page(&man, &page, &mut out).map_err(failed)?;
        std::fs::write(&path, out).map_err(failed)?;
        files.push(path);
    }
    files.sort();
    Ok(files)
}

/// One page: clap's sections, then ours.
fn man_page(man: &clap_mangen::Man, cmd: &Command, w: &mut Vec<u8>) -> std::io::Result<()> {
    man.render_title(w)?;
    man.render_name_section(w)?;
    man.render_synopsis_section(w)?;
    man.render_description_section(w)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(w)?;
    }
    if cmd.has_subcommands() {
        man.render_subcommands_section(w)?;
    }
    // The root's `--help` ends with the exit status, which has its own section here.
    let help = cmd.get_after_help().map(ToString::to_string).unwrap_or_default();
    let examples = help.split("Exit status:").next().unwrap_or_default();
    let examples = examples.trim_start_matches("Examples:\n").trim_start_matches("e.g. ").trim();
    let name = cmd.get_name();
    let sub = if name == BIN { None } else { Some(name) };
    let mut roff = roff::Roff::new();
    if !examples.is_empty() {
        roff.control("SH", ["EXAMPLES"]).control("nf", []).text([roff::roman(examples)]).control("fi", []);
    }
    roff.control("SH", ["EXIT STATUS"]).text([roff::roman(exit_status(sub))]);
    roff.control("SH", ["FILES"]).text([roff::roman(files(sub))]);
    roff.control("SH", ["ENVIRONMENT"]).text([roff::roman(ENVIRONMENT)]);
    roff.to_writer(w)?;
    if cmd.get_version().is_some() {
        man.render_version_section(w)?;
    }
    Ok(())
}

fn exit_status(sub: Option<&str>) -> String {
    let mut s =
        String::from("0 success. 1 a check, probe or step failed (or anything that is not the input's fault). ");
    s.push_str("2 invalid answers or usage: the message names the key and the line, and nothing was changed.");
    match sub {
        Some("apply") | None => s.push_str(
            " 3 (apply) refused before changing anything: a missing prerequisite, an unsafe destination, \
             or a bundle that differs from what render recorded; 1 from apply means a step failed and \
             everything was rolled back.",
        ),
        Some("check") => s.push_str(" With --strict, a check that ran only on a stand-in (partial) is a failure."),
        Some("doctor") => s.push_str(" 1 also when a probe could not run (skipped)."),
        _ => {}
    }
    if matches!(sub, Some("wizard") | None) {
        s.push_str(" 130 the wizard was quit (Ctrl-C, q, or a signal) before it wrote anything.");
    }
    s
}

fn files(sub: Option<&str>) -> &'static str {
    match sub {
        Some("init") => "answers.yaml: the answers file written with --out (every key, its default and why).",
        Some("render" | "wizard") => {
            "BUNDLE/answers.yaml: the answers render reads (without --answers) and writes back resolved. \
             BUNDLE/INSTALL.md: the go-live steps. BUNDLE/.state/ (0700): secrets, the private CA and the \
             manifest of what was written, reused by every render into the same folder."
        }
        Some("check") => {
            "BUNDLE/: the files as render wrote them, compared with BUNDLE/.state/manifest.json. With --system: \
             /etc/nginx/nginx.conf, /etc/nginx/sites-enabled/, nginx's systemd units."
        }
        Some("apply") => {
            "BUNDLE/ and its manifest. /etc/nginx/sites-available/DOMAIN.conf, /etc/nginx/nginx.conf, \
             /etc/mercure/, /etc/systemd/system/mercure.service: what is installed. \
             /var/lib/mercure-setup/backups/TIMESTAMP/: what each apply replaced (for --rollback). \
             /var/lib/mercure-setup/apply.lock: one apply at a time."
        }
        Some("doctor") => {
            "BUNDLE/answers.yaml, BUNDLE/tokens/, BUNDLE/mercure/tls/ca.crt: what is probed and with which \
             tokens. /etc/nginx/sites-enabled/DOMAIN.conf and /var/log/nginx/error.log, read to explain a 502."
        }
        Some("loadtest") => "BUNDLE/answers.yaml and BUNDLE/tokens/publisher.jwt: the public URL and the token.",
        _ => {
            "BUNDLE/: the deployment bundle every command takes as its first argument (default: the current \
             folder). /usr/share/mercure-setup/answers.schema.json: the answers file's schema (Debian package)."
        }
    }
}

const ENVIRONMENT: &str = "NO_COLOR: when set and not empty, no colour (as --color never) unless --color always. \
TERM: dumb turns colour off. PATH: where nginx, systemd-analyze, openssl, caddy and the mercure hub are found \
(then /usr/sbin and /sbin). SSL_CERT_FILE, SSL_CERT_DIR: extra trust for the public side (doctor, loadtest). \
SUDO_UID: under sudo, apply trusts bundles owned by that user.";

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;
    use crate::cli::Cli;

    #[test]
    fn completions_name_every_visible_subcommand() {
        let bash = completions(Shell::Bash, Cli::command());
        for sub in Cli::command().get_subcommands().filter(|s| !s.is_hide_set()) {
            assert!(bash.contains(sub.get_name()), "{} missing", sub.get_name());
        }
        // The script registers for the real name only.
        assert_eq!(bash.matches(" -o default mercure-setup\n").count(), 2, "{bash}");
        assert!(!bash.contains(" mercure_setup\n"));
        assert!(completions(Shell::Zsh, Cli::command()).starts_with("#compdef mercure-setup"));
        assert!(completions(Shell::Fish, Cli::command()).contains("complete -c mercure-setup"));
    }

    #[test]
    fn completions_offer_topics_topologies_and_answer_keys() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let script = completions(shell, crate::cli::command());
            for word in ["troubleshooting", "502", "cors", "end-to-end-tls", "same-host-http", "hub.port", "domain"] {
                assert!(script.contains(word), "{shell:?} completion lacks {word}");
            }
            for q in crate::questions::QUESTIONS {
                assert!(script.contains(q.key), "{shell:?} completion lacks the key {}", q.key);
            }
        }
        let bash = completions(Shell::Bash, crate::cli::command());
        assert!(
            bash.contains("same-host-http end-to-end-tls hub-versions troubleshooting 502 504 401 late 60s cors"),
            "explain"
        );
        assert!(
            bash.contains("--topology)\n                    COMPREPLY=($(compgen -W \"same-host-http end-to-end-tls\""),
            "init"
        );
    }

    #[test]
    fn one_man_page_per_visible_subcommand() {
        let dir = tempfile::tempdir().unwrap();
        let files = write_man_pages(dir.path(), Cli::command()).unwrap();
        let names: Vec<String> = files.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert!(names.contains(&"mercure-setup.1".to_string()), "{names:?}");
        assert!(names.contains(&"mercure-setup-render.1".to_string()), "{names:?}");
        let subcommands = Cli::command().get_subcommands().filter(|s| !s.is_hide_set()).count();
        assert_eq!(names.len(), subcommands + 1, "{names:?}");
        for file in &files {
            let page = std::fs::read_to_string(file).unwrap();
            for section in [".SH NAME", ".SH SYNOPSIS", ".SH \"EXIT STATUS\"", ".SH FILES", ".SH ENVIRONMENT"] {
                assert!(page.contains(section), "{} lacks {section}", file.display());
            }
        }
        let root = std::fs::read_to_string(dir.path().join("mercure-setup.1")).unwrap();
        assert!(root.contains(".SH EXAMPLES") && root.contains("mercure\\-setup render"), "{root}");
        assert!(root.contains("130"), "{root}");
        let apply = std::fs::read_to_string(dir.path().join("mercure-setup-apply.1")).unwrap();
        assert!(apply.contains("/var/lib/mercure\\-setup/backups"), "{apply}");
        let render = std::fs::read_to_string(dir.path().join("mercure-setup-render.1")).unwrap();
        assert!(render.contains(".SH EXAMPLES") && render.contains("\\-\\-dry\\-run"), "{render}");
        assert!(render.contains("NO_COLOR"), "{render}");
    }
}
