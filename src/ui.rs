//! The flags every command shares (`--color`, `-q`, `-v`), set once from the clap
//! root, and what they change: colour on a terminal (failures red, diffs green and
//! red), notes and warnings on stderr unless `-q`, and deprecation notes for old
//! flag spellings.

use std::io::IsTerminal as _;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::AtomicBool;

use crate::error::Error;

/// When to colour: `auto` is a terminal without `NO_COLOR` and not `TERM=dumb`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorWhen {
    #[default]
    Auto,
    Always,
    Never,
}

/// The shared flags, flattened into the clap root with `global = true` so they are
/// accepted before or after any subcommand.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Global {
    /// Colour the output: auto (a terminal, unless `NO_COLOR` is set), always or never.
    #[arg(long, value_name = "WHEN", value_enum, default_value_t = ColorWhen::Auto, global = true)]
    pub color: ColorWhen,
    /// Print only errors and the result asked for (--json, a generated file): no notes, no reports.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print more: the diff of each file edited since render (check).
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

static GLOBAL: OnceLock<Global> = OnceLock::new();

/// Records the flags for the rest of the run (the first call wins).
pub fn init(global: Global) {
    let _ = GLOBAL.set(global);
}

fn global() -> Global {
    GLOBAL.get().cloned().unwrap_or_default()
}

pub fn quiet() -> bool {
    global().quiet
}

pub fn verbose() -> bool {
    global().verbose
}

/// Whether text for stdout (`stderr` false) or stderr may carry colour.
pub fn color(stderr: bool) -> bool {
    let terminal = if stderr { std::io::stderr().is_terminal() } else { std::io::stdout().is_terminal() };
    decide(global().color, terminal, std::env::var_os("NO_COLOR"), std::env::var_os("TERM"))
}

/// `--color always` beats `NO_COLOR` (asked for on this command line); `auto` honours
/// it (<https://no-color.org>: set and not empty).
fn decide(
    when: ColorWhen,
    terminal: bool,
    no_color: Option<std::ffi::OsString>,
    term: Option<std::ffi::OsString>,
) -> bool {
    match when {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto => terminal && no_color.is_none_or(|v| v.is_empty()) && term.is_none_or(|t| t != "dumb"),
    }
}

/// A note for the user, on stderr, unless `-q`.
pub fn note(text: &str) {
    if !quiet() {
        eprintln!("note: {text}");
    }
}

/// A warning, on stderr, unless `-q`.
pub fn warn(text: &str) {
    if !quiet() {
        eprintln!("{}: {text}", paint_word("warning", YELLOW, color(true)));
    }
}

/// Said on stderr when an old flag spelling was used; it still works for one release.
pub fn deprecated(old: &str, new: &str) {
    if !quiet() {
        eprintln!("note: {old} is deprecated and will be removed in the next release: use {new}");
    }
}

const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const CYAN: &str = "\x1b[36m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

fn paint_word(word: &str, style: &str, on: bool) -> String {
    if on { format!("{style}{word}{RESET}") } else { word.to_string() }
}

/// The error prefix, red when stderr may carry colour.
pub fn error_prefix() -> String {
    paint_word("error", &format!("{BOLD}{RED}"), color(true))
}

/// Colours a report for a terminal: failure lines red, unified-diff lines green and
/// red, hunk headers cyan, also when a report indents its diff. Text without colour
/// is returned unchanged.
pub fn paint(text: &str, on: bool) -> String {
    if !on {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 64);
    // The indent of the diff being read, if any.
    let mut diff: Option<usize> = None;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches('\n');
        let end = &line[body.len()..];
        let trimmed = body.trim_start();
        let indent = body.len() - trimmed.len();
        if trimmed.starts_with("--- ") || trimmed.starts_with("+++ ") {
            diff = Some(indent);
        }
        let in_diff = diff.and_then(|n| body.get(n..).filter(|_| body.len() > n && body[..n].trim().is_empty()));
        let style = match in_diff {
            Some(rest) if rest.starts_with("--- ") || rest.starts_with("+++ ") => Some(BOLD),
            Some(rest) if rest.starts_with("@@") => Some(CYAN),
            Some(rest) if rest.starts_with('+') => Some(GREEN),
            Some(rest) if rest.starts_with('-') => Some(RED),
            Some(rest) if rest.starts_with(' ') => None,
            _ => {
                diff = None;
                (trimmed.starts_with("FAILED") || trimmed.starts_with("[FAIL]") || trimmed.starts_with("FAIL:"))
                    .then_some(RED)
            }
        };
        match style {
            Some(s) => {
                out.push_str(s);
                out.push_str(body);
                out.push_str(RESET);
                out.push_str(end);
            }
            None => out.push_str(line),
        }
    }
    out
}

/// What stops a full-screen terminal or a run that watches for Ctrl-C: never the
/// user's input, so a failure (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum ScreenError {
    #[error("cannot watch for signals: {0}")]
    Signals(#[source] std::io::Error),
    #[error("cannot set up the terminal: {0}")]
    Setup(#[source] std::io::Error),
    /// Drawing or reading keys failed once the screen was up.
    #[error("terminal: {0}")]
    Io(#[source] std::io::Error),
}

impl From<ScreenError> for Error {
    fn from(e: ScreenError) -> Self {
        Error::Failed(e.to_string())
    }
}

/// A flag that SIGTERM and SIGINT set instead of ending the process, so the caller
/// can stop between steps and clean up (servers, temporary folders, the terminal).
pub fn watch_signals() -> Result<Arc<AtomicBool>, ScreenError> {
    let stop = Arc::new(AtomicBool::new(false));
    // SIGHUP keeps its default (exit): the terminal is gone, nothing to restore, and a
    // screen that outlived it would spin on the hung-up terminal's endless end of file.
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, Arc::clone(&stop)).map_err(ScreenError::Signals)?;
    }
    Ok(stop)
}

/// Enters the full-screen terminal for the wizard and the lab's screen: SIGTERM and
/// SIGINT only set the returned flag (the caller's loop checks it between keys, so the
/// terminal is always restored), and a failed start restores what it changed.
pub fn enter_screen() -> Result<(Arc<AtomicBool>, ratatui::DefaultTerminal), ScreenError> {
    let stop = watch_signals()?;
    match ratatui::try_init() {
        Ok(terminal) => Ok((stop, terminal)),
        Err(e) => {
            // Raw mode may be on already when entering the alternate screen failed.
            ratatui::restore();
            Err(ScreenError::Setup(e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_colours_only_a_terminal_without_no_color() {
        assert!(decide(ColorWhen::Auto, true, None, Some("xterm".into())));
        assert!(!decide(ColorWhen::Auto, false, None, None));
        assert!(!decide(ColorWhen::Auto, true, Some("1".into()), None));
        assert!(decide(ColorWhen::Auto, true, Some("".into()), None), "an empty NO_COLOR is unset");
        assert!(!decide(ColorWhen::Auto, true, None, Some("dumb".into())));
        assert!(decide(ColorWhen::Always, false, Some("1".into()), None));
        assert!(!decide(ColorWhen::Never, true, None, None));
    }

    #[test]
    fn failures_and_diffs_are_coloured() {
        let text = "  passed   a\n  FAILED   b [x]\n--- f\n+++ f\n@@ -1 +1 @@\n-old\n+new\n same\nsummary\n- a list\n";
        let p = paint(text, true);
        assert!(p.contains("\x1b[31m  FAILED   b [x]\x1b[0m\n"), "{p:?}");
        assert!(p.contains("\x1b[31m-old\x1b[0m\n\x1b[32m+new\x1b[0m\n"), "{p:?}");
        assert!(p.contains("\x1b[36m@@ -1 +1 @@\x1b[0m"), "{p:?}");
        assert!(p.contains("  passed   a\n"), "{p:?}");
        assert!(p.ends_with("summary\n- a list\n"), "a dash outside a diff stays plain: {p:?}");
        assert_eq!(paint(text, false), text);
        let indented = "  FAILED   x\n     --- a/f\n     +++ b/f\n     -old\n     +new\n     fix: y\n";
        let p = paint(indented, true);
        assert!(p.contains("\x1b[32m     +new\x1b[0m\n     fix: y\n"), "{p:?}");
    }
}
