//! The terminal loop: the only wizard code that touches the terminal. It refuses to
//! start without a TTY, sets up the edge (pre-filled answers, preview secrets), then
//! reads keys, runs `update`, performs effects and draws until the wizard ends,
//! restoring the terminal on every way out (ratatui's panic hook covers panics).

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use ratatui::DefaultTerminal;
use ratatui::crossterm::event::{self, Event, KeyEventKind};

use crate::answers::Draft;
use crate::answers_file;
use crate::error::Error;

use super::edge::{perform, preview_env};
use super::keys::msg_for_key;
use super::state::{Init, Status, Wizard, update};
use super::view::view;

/// Why the wizard did not start, and what to do instead.
pub const NO_TTY: &str = "the wizard needs a terminal (stdin and stdout must both be a TTY). Without one, \
write an answers file with `mercure-setup init --output answers.yaml`, fill in `domain`, then run \
`mercure-setup render --answers answers.yaml --out DIR`";

/// Where the bundle goes when `--out` is not given.
pub const DEFAULT_OUT: &str = "mercure-bundle";
/// Where the answers-only save goes when `--answers` is not given.
pub const DEFAULT_ANSWERS: &str = "mercure-answers.yaml";

/// `mercure-setup wizard` options.
#[derive(Debug, Default)]
pub struct Options {
    /// Pre-fill from this answers file (saving the answers writes back to it).
    pub answers: Option<PathBuf>,
    pub out: Option<PathBuf>,
}

/// Runs the wizard; returns what to print once the terminal is restored.
pub fn run(options: Options) -> Result<Option<String>, Error> {
    if !(std::io::stdin().is_terminal() && std::io::stdout().is_terminal()) {
        return Err(Error::Usage(NO_TTY.into()));
    }
    let draft = match &options.answers {
        Some(path) => load(path)?,
        None => Draft::default(),
    };
    let out_dir = options.out.unwrap_or_else(|| PathBuf::from(DEFAULT_OUT));
    let env = preview_env(&draft, &out_dir).map_err(Error::Failed)?;
    let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let mut wizard = Wizard::new(Init {
        draft,
        out_dir,
        answers_path: options.answers.unwrap_or_else(|| PathBuf::from(DEFAULT_ANSWERS)),
        color,
        env,
    });
    let mut terminal = match ratatui::try_init() {
        Ok(t) => t,
        Err(e) => {
            // Raw mode may be on already when entering the alternate screen failed.
            ratatui::restore();
            return Err(Error::Failed(format!("cannot set up the terminal: {e}")));
        }
    };
    let result = event_loop(&mut terminal, &mut wizard);
    ratatui::restore();
    result.map_err(|e| Error::Failed(format!("terminal: {e}")))?;
    Ok(match wizard.status {
        Status::Done(text) => Some(text),
        Status::Running | Status::Cancelled => None,
    })
}

fn load(path: &Path) -> Result<Draft, Error> {
    let text = crate::output::read_user_file(path, crate::answers_file::MAX_FILE_BYTES)
        .map_err(|e| Error::Usage(format!("cannot read answers file {}: {e}", path.display())))?;
    answers_file::parse(&text, &path.display().to_string()).map_err(Error::InvalidAnswers)
}

fn event_loop(terminal: &mut DefaultTerminal, wizard: &mut Wizard) -> std::io::Result<()> {
    while wizard.status == Status::Running {
        terminal.draw(|f| view(wizard, f))?;
        // A resize event needs nothing but the redraw at the top of the loop.
        if let Event::Key(key) = event::read()?
            && key.kind == KeyEventKind::Press
            && let Some(msg) = msg_for_key(wizard, key)
        {
            let mut effect = update(wizard, msg);
            while let Some(e) = effect {
                effect = update(wizard, perform(e));
            }
        }
    }
    Ok(())
}
