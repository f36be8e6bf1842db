//! Benchmark: time from a key press to a finished frame in the wizard at 120x40,
//! including the preview re-render (validate the draft, plan, render every template,
//! mask secrets, diff the shown file) that every edit triggers.
//!
//! Run with `cargo bench --bench wizard`. Types into the domain field and deletes
//! again, alternating, so every key changes the bundle; reports min/median/p90 over
//! 1000 key presses. The target is a median under 5 ms.

use std::time::{Duration, Instant};

use mercure_setup::answers::Draft;
use mercure_setup::wizard::{self, Init, Msg, Wizard, msg_for_key, update};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

const PRESSES: usize = 1000;

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = tmp.path().join("bundle");
    let draft = Draft::default();
    // The same edge setup the terminal loop does: secrets made once for the preview.
    let env = wizard::preview_env(&draft, &out).expect("preview secrets");
    let mut w = Wizard::new(Init::new(draft, out, "a.yaml".into(), true, env));
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).expect("test backend");
    // To the domain field, then a domain to edit the end of.
    update(&mut w, Msg::Accept);
    for c in "app.example.com".chars() {
        update(&mut w, Msg::Char(c));
    }
    let keys =
        [KeyEvent::new(KeyCode::Char('x'), KeyModifiers::NONE), KeyEvent::new(KeyCode::Backspace, KeyModifiers::NONE)];
    let mut press = |key: KeyEvent| -> Duration {
        let start = Instant::now();
        if let Some(msg) = msg_for_key(&w, key) {
            let effect = update(&mut w, msg);
            assert!(effect.is_none(), "typing has no side effects");
        }
        terminal.draw(|f| wizard::view(&w, f)).expect("draw");
        start.elapsed()
    };
    for i in 0..50 {
        press(keys[i % 2]);
    }
    let mut times: Vec<Duration> = (0..PRESSES).map(|i| press(keys[i % 2])).collect();
    times.sort();
    println!("wizard key press -> finished frame at 120x40, preview re-rendered, {PRESSES} presses (ms)");
    println!(
        "min {:.3}  median {:.3}  p90 {:.3}  max {:.3}",
        millis(times[0]),
        millis(times[PRESSES / 2]),
        millis(times[PRESSES * 9 / 10]),
        millis(times[PRESSES - 1])
    );
}
