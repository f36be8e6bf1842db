//! The key map: one pure function from a key press (and what has the focus) to a
//! message. Nothing else in the wizard looks at keys.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::questions::{Kind, Step};

use super::state::{Msg, Overlay, PAGE, Wizard};

/// Maps a key press to a message, or `None` for keys that do nothing here.
pub fn msg_for_key(w: &Wizard, key: KeyEvent) -> Option<Msg> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    // Keys that mean the same everywhere.
    match key.code {
        KeyCode::Char('c') if ctrl => return Some(Msg::Quit),
        KeyCode::Char('s') if ctrl => return Some(Msg::Save),
        KeyCode::Char('n') if ctrl => return Some(Msg::NextFile),
        KeyCode::Char('p') if ctrl => return Some(Msg::PrevFile),
        KeyCode::Char('r') if ctrl => return Some(Msg::JumpReview),
        KeyCode::Char('f') if ctrl => return Some(Msg::Zoom),
        KeyCode::F(1) => return Some(Msg::ToggleHelp),
        KeyCode::F(2) => return Some(Msg::NextFile),
        KeyCode::F(3) => return Some(Msg::Zoom),
        KeyCode::PageUp => return Some(Msg::Scroll(-PAGE)),
        KeyCode::PageDown => return Some(Msg::Scroll(PAGE)),
        _ if ctrl && key.code != KeyCode::Char('u') => return None,
        _ => {}
    }
    if let Some(overlay) = &w.overlay {
        return match (overlay, key.code) {
            (_, KeyCode::Esc) => Some(Msg::Back),
            (Overlay::Help { .. }, KeyCode::Char('?') | KeyCode::Enter) => Some(Msg::ToggleHelp),
            (Overlay::Zoom { .. }, KeyCode::Char('z') | KeyCode::Enter) => Some(Msg::Zoom),
            (Overlay::Zoom { .. }, KeyCode::Right | KeyCode::Char('n')) => Some(Msg::NextFile),
            (Overlay::Zoom { .. }, KeyCode::Left | KeyCode::Char('p')) => Some(Msg::PrevFile),
            (Overlay::Help { .. } | Overlay::Zoom { .. }, KeyCode::Up) => Some(Msg::Up),
            (Overlay::Help { .. } | Overlay::Zoom { .. }, KeyCode::Down) => Some(Msg::Down),
            (Overlay::Help { .. } | Overlay::Zoom { .. }, _) => None,
            (_, KeyCode::Char('y' | 'Y')) => Some(Msg::Yes),
            (_, KeyCode::Char('n' | 'N')) => Some(Msg::No),
            (Overlay::ConfirmQuit, KeyCode::Char('s' | 'S')) => Some(Msg::Save),
            (Overlay::ConfirmSave, KeyCode::Char('b' | 'B')) => Some(Msg::SaveBeside),
            _ => None,
        };
    }
    match key.code {
        KeyCode::Enter => return Some(Msg::Accept),
        KeyCode::Esc => return Some(Msg::Back),
        KeyCode::Tab => return Some(Msg::FocusNext),
        KeyCode::BackTab => return Some(Msg::FocusPrev),
        // No answer contains `?`, so it can open the help even while typing.
        KeyCode::Char('?') => return Some(Msg::ToggleHelp),
        KeyCode::Up => return Some(Msg::Up),
        KeyCode::Down => return Some(Msg::Down),
        _ => {}
    }
    if w.step == Step::Review {
        return match key.code {
            KeyCode::Char('s') => Some(Msg::Char('s')),
            KeyCode::Char('q') => Some(Msg::Char('q')),
            _ => None,
        };
    }
    match w.focused().map(|q| q.kind) {
        Some(Kind::Choice(_) | Kind::Bool) => match key.code {
            KeyCode::Left => Some(Msg::ChoicePrev),
            KeyCode::Right | KeyCode::Char(' ') => Some(Msg::ChoiceNext),
            // Typing on the first screen starts the domain (`update` accepts the topology first).
            KeyCode::Char(c) if w.step == Step::Topology && !key.modifiers.contains(KeyModifiers::ALT) => {
                Some(Msg::Char(c))
            }
            _ => None,
        },
        Some(Kind::Text | Kind::List) => match key.code {
            KeyCode::Char('u') if ctrl => Some(Msg::ClearInput),
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::ALT) => Some(Msg::Char(c)),
            KeyCode::Backspace => Some(Msg::Backspace),
            KeyCode::Delete => Some(Msg::Delete),
            KeyCode::Left => Some(Msg::CursorLeft),
            KeyCode::Right => Some(Msg::CursorRight),
            KeyCode::Home => Some(Msg::Home),
            KeyCode::End => Some(Msg::End),
            _ => None,
        },
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answers::Draft;
    use crate::wizard::state::{Init, update};

    fn wizard() -> Wizard {
        Wizard::new(Init::new(
            Draft::default(),
            "out".into(),
            "a.yaml".into(),
            false,
            crate::wizard::preview::tests::env(),
        ))
    }

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn ctrl(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
    }

    #[test]
    fn keys_depend_on_the_field_kind() {
        let mut w = wizard();
        // Topology is a choice: arrows choose, letters start the domain (type-ahead).
        assert!(matches!(msg_for_key(&w, key(KeyCode::Right)), Some(Msg::ChoiceNext)));
        assert!(matches!(msg_for_key(&w, key(KeyCode::Char('a'))), Some(Msg::Char('a'))));
        update(&mut w, Msg::Accept);
        // Domain is text: arrows move the cursor, letters type.
        assert!(matches!(msg_for_key(&w, key(KeyCode::Right)), Some(Msg::CursorRight)));
        assert!(matches!(msg_for_key(&w, key(KeyCode::Char('a'))), Some(Msg::Char('a'))));
        assert!(matches!(msg_for_key(&w, ctrl('u')), Some(Msg::ClearInput)));
        assert!(matches!(msg_for_key(&w, key(KeyCode::Char('?'))), Some(Msg::ToggleHelp)));
    }

    #[test]
    fn global_and_overlay_keys() {
        let mut w = wizard();
        assert!(matches!(msg_for_key(&w, ctrl('c')), Some(Msg::Quit)));
        assert!(matches!(msg_for_key(&w, ctrl('s')), Some(Msg::Save)));
        assert!(matches!(msg_for_key(&w, ctrl('n')), Some(Msg::NextFile)));
        assert!(matches!(msg_for_key(&w, key(KeyCode::Enter)), Some(Msg::Accept)));
        assert!(matches!(msg_for_key(&w, key(KeyCode::Esc)), Some(Msg::Back)));
        assert!(matches!(msg_for_key(&w, key(KeyCode::BackTab)), Some(Msg::FocusPrev)));
        assert!(msg_for_key(&w, ctrl('x')).is_none());
        w.overlay = Some(Overlay::ConfirmQuit);
        assert!(matches!(msg_for_key(&w, key(KeyCode::Char('y'))), Some(Msg::Yes)));
        assert!(matches!(msg_for_key(&w, key(KeyCode::Char('s'))), Some(Msg::Save)));
        assert!(msg_for_key(&w, key(KeyCode::Enter)).is_none());
        let release = KeyEvent { kind: KeyEventKind::Release, ..key(KeyCode::Enter) };
        w.overlay = None;
        assert!(msg_for_key(&w, release).is_none());
    }

    #[test]
    fn zoom_and_save_dialog_keys() {
        let mut w = wizard();
        assert!(matches!(msg_for_key(&w, ctrl('f')), Some(Msg::Zoom)));
        assert!(matches!(msg_for_key(&w, ctrl('r')), Some(Msg::JumpReview)));
        update(&mut w, Msg::Zoom);
        assert!(matches!(w.overlay, Some(Overlay::Zoom { .. })));
        assert!(matches!(msg_for_key(&w, key(KeyCode::Char('n'))), Some(Msg::NextFile)));
        assert!(matches!(msg_for_key(&w, key(KeyCode::Down)), Some(Msg::Down)));
        assert!(msg_for_key(&w, key(KeyCode::Char('y'))).is_none(), "no dialog answer in the zoomed view");
        assert!(matches!(msg_for_key(&w, key(KeyCode::Esc)), Some(Msg::Back)));
        w.overlay = Some(Overlay::ConfirmSave);
        assert!(matches!(msg_for_key(&w, key(KeyCode::Char('b'))), Some(Msg::SaveBeside)));
        assert!(matches!(msg_for_key(&w, key(KeyCode::Char('y'))), Some(Msg::Yes)));
    }
}
