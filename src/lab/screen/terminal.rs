//! The lab screen's edge: the terminal (entered and always restored), keys read and
//! turned into the state machine's keys, and its effects performed on the running lab.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ratatui::DefaultTerminal;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};

use super::state::{Effect, Key, Screen, config_lines};
use super::view::view;
use crate::deployment::Topology;
use crate::error::Error;
use crate::lab::LabError;
use crate::lab::faults::Fault;
use crate::lab::scenario::Lab;
use crate::lab::stack::Programs;

fn key_for(code: KeyCode, modifiers: KeyModifiers) -> Option<Key> {
    match code {
        // Raw mode turns Ctrl-C into a key, not a signal.
        KeyCode::Char('c') if modifiers.contains(KeyModifiers::CONTROL) => Some(Key::Quit),
        KeyCode::Up | KeyCode::Char('k') => Some(Key::Up),
        KeyCode::Down | KeyCode::Char('j') => Some(Key::Down),
        KeyCode::Char(' ') | KeyCode::Enter => Some(Key::Toggle),
        KeyCode::Char('p') => Some(Key::Publish),
        KeyCode::Char('r') => Some(Key::Reconnect),
        KeyCode::Char('t') => Some(Key::SwitchTopology),
        KeyCode::Char('q') | KeyCode::Esc => Some(Key::Quit),
        _ => None,
    }
}

/// Runs `fault` on the lab and folds the outcome into the screen.
fn run(lab: &mut Lab, screen: &mut Screen, fault: Option<&'static Fault>) -> Result<(), LabError> {
    let outcome = lab.run(fault)?;
    let base = lab.stack.site_text()?;
    let running = lab
        .stack
        .nginx
        .as_ref()
        .map(|n| std::fs::read_to_string(n.prefix.join("site.conf")).unwrap_or_default())
        .unwrap_or_default();
    // The running site is adapted (ports, paths); compare it with the generated one adapted alike.
    let base = lab.stack.nginx.as_ref().map_or(base.clone(), |n| {
        crate::lab::stack::adapted_site(&base, &lab.stack.r, &lab.stack.public, &n.prefix, n.https_port, n.http_port)
    });
    screen.outcome(&outcome, config_lines(&running, &base), (lab.stack.https_port(), lab.stack.r.hub_port()));
    Ok(())
}

/// The screen for `topology` until `q` or a signal; the lab is dropped (servers
/// killed, folder removed) before the terminal is given back.
pub fn run_screen(programs: &Programs, topology: Topology) -> Result<(), Error> {
    let (stop, mut terminal) = crate::ui::enter_screen()?;
    let result = event_loop(&mut terminal, programs, topology, &stop);
    ratatui::restore();
    result
}

fn event_loop(
    terminal: &mut DefaultTerminal,
    programs: &Programs,
    topology: Topology,
    stop: &AtomicBool,
) -> Result<(), Error> {
    let term = crate::ui::ScreenError::Io;
    let mut screen = Screen::new(topology);
    screen.busy = Some(format!("starting nginx and the hub for {}...", topology.as_str()));
    terminal.draw(|f| view(&screen, f)).map_err(term)?;
    let mut lab = Lab::start(programs.clone(), topology)?;
    run(&mut lab, &mut screen, None)?;
    while !stop.load(Ordering::Relaxed) {
        terminal.draw(|f| view(&screen, f)).map_err(term)?;
        if !event::poll(Duration::from_millis(100)).map_err(term)? {
            continue;
        }
        let Event::Key(k) = event::read().map_err(term)? else { continue };
        if k.kind != KeyEventKind::Press {
            continue;
        }
        let Some(effect) = key_for(k.code, k.modifiers).and_then(|key| screen.on_key(key)) else { continue };
        match effect {
            Effect::Quit => break,
            Effect::Run(fault) => {
                screen.busy = Some(format!(
                    "re-rendering with {}, reloading nginx, publishing, asking doctor...",
                    fault.map_or("the generated config", |f| f.name)
                ));
                terminal.draw(|f| view(&screen, f)).map_err(term)?;
                run(&mut lab, &mut screen, fault)?;
            }
            Effect::Switch(t) => {
                screen.busy = Some(format!("switching to {}...", t.as_str()));
                terminal.draw(|f| view(&screen, f)).map_err(term)?;
                drop(lab);
                lab = Lab::start(programs.clone(), t)?;
                screen.switched(t);
                run(&mut lab, &mut screen, None)?;
            }
        }
    }
    drop(lab);
    Ok(())
}
