//! The terminal loop: the only wizard code that touches the terminal. It refuses to
//! start without a TTY, sets up the edge (pre-filled answers, preview secrets), then
//! reads keys, runs `update`, performs effects and draws until the wizard ends,
//! restoring the terminal on every way out: ratatui's panic hook covers panics, and
//! SIGTERM and SIGINT only set a flag the loop checks between keys; SIGHUP ends it.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ratatui::DefaultTerminal;
use ratatui::crossterm::event::{self, Event, KeyEventKind};

use crate::error::Error;

use super::edge::{StartError, perform, start};
use super::keys::msg_for_key;
use super::state::{RunState, Wizard, update};
use super::view::view;

/// Where the bundle goes when `--out` is not given.
pub const DEFAULT_OUT: &str = "mercure-bundle";
/// Where the answers-only save goes when `--answers` is not given.
pub const DEFAULT_ANSWERS: &str = "mercure-answers.yaml";

/// `mercure-setup wizard` options.
#[derive(Debug, Default)]
pub struct Options {
    /// Edit this answers file (saving the answers asks before replacing it).
    pub answers: Option<PathBuf>,
    pub out: Option<PathBuf>,
}

/// What the wizard says when it ends without writing or saving anything.
pub const QUIT_NOTHING_WRITTEN: &str = "quit the wizard: nothing was written";

/// Runs the wizard; returns what to print once the terminal is restored. Quitting
/// without writing or saving (q, Ctrl-C, a signal) exits 130 and says so.
pub fn run(options: Options) -> Result<Option<String>, Error> {
    if !(std::io::stdin().is_terminal() && std::io::stdout().is_terminal()) {
        return Err(StartError::NoTerminal.into());
    }
    let out_dir = options.out.unwrap_or_else(|| PathBuf::from(DEFAULT_OUT));
    let color = crate::ui::color(false);
    let init = start(options.answers.as_deref(), &out_dir, Path::new(DEFAULT_ANSWERS), color)?;
    let mut wizard = Wizard::new(init);
    let (stop, mut terminal) = crate::ui::enter_screen()?;
    let result = event_loop(&mut terminal, &mut wizard, &stop);
    ratatui::restore();
    result.map_err(crate::ui::ScreenError::Io)?;
    match wizard.status {
        RunState::Done(text) => Ok(Some(text)),
        // Stopped by the user: exit 130 as an interrupted program does, with no "error:".
        RunState::Running => Err(Error::Interrupted("stopped by a signal: nothing was written".into())),
        RunState::Cancelled => Err(Error::Interrupted(QUIT_NOTHING_WRITTEN.into())),
    }
}

fn event_loop(terminal: &mut DefaultTerminal, wizard: &mut Wizard, stop: &AtomicBool) -> std::io::Result<()> {
    while wizard.status == RunState::Running && !stop.load(Ordering::Relaxed) {
        terminal.draw(|f| view(wizard, f))?;
        // Waiting in short slices lets a signal end the loop (and restore the terminal).
        while !event::poll(Duration::from_millis(100))? {
            if stop.load(Ordering::Relaxed) {
                return Ok(());
            }
        }
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
