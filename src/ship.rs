//! What a packaged CLI ships beside its binary, generated from the clap definitions
//! so they never drift from the real options: shell completions and man pages.

use std::path::{Path, PathBuf};

use clap::Command;

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
/// subcommand of `cmd` into `dir`, and returns the files written, sorted.
pub fn write_man_pages(dir: &Path, cmd: Command) -> Result<Vec<PathBuf>, Error> {
    let failed = |e: std::io::Error| Error::Failed(format!("writing man pages to {}: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(failed)?;
    clap_mangen::generate_to(cmd, dir).map_err(failed)?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(failed)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "1"))
        .collect();
    files.sort();
    Ok(files)
}

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
    fn one_man_page_per_visible_subcommand() {
        let dir = tempfile::tempdir().unwrap();
        let files = write_man_pages(dir.path(), Cli::command()).unwrap();
        let names: Vec<String> = files.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert!(names.contains(&"mercure-setup.1".to_string()), "{names:?}");
        assert!(names.contains(&"mercure-setup-render.1".to_string()), "{names:?}");
        let subcommands = Cli::command().get_subcommands().filter(|s| !s.is_hide_set()).count();
        assert_eq!(names.len(), subcommands + 1, "{names:?}");
    }
}
