//! Screen snapshots of the wizard (ratatui `TestBackend` + insta): every step at
//! 80x24, and the topology teaching view, its `?` text and the review at 120x40.
//! Fixed secrets and no nginx detection keep the screens stable; colours are off
//! (`NO_COLOR`), so changed lines show by their `+` gutter.

use mercure_setup::answers::Answers;
use mercure_setup::output;
use mercure_setup::plan::Plan;
use mercure_setup::questions::Step;
use mercure_setup::render::render;
use mercure_setup::values::JwtAlgorithm;
use mercure_setup::wizard::{self, Effect, Init, Msg, PreviewEnv, ReviewData, Wizard, update};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use crate::support::fixed_secrets;

/// A folder that never exists, so the review lists every file as new.
const OUT: &str = "/nonexistent/mercure-bundle";

fn env() -> PreviewEnv {
    PreviewEnv {
        hs256: fixed_secrets(JwtAlgorithm::HS256, true),
        hs512: fixed_secrets(JwtAlgorithm::HS512, true),
        es256: fixed_secrets(JwtAlgorithm::ES256, true),
        nginx: None,
    }
}

fn fresh() -> Wizard {
    Wizard::new(Init::new(
        mercure_setup::answers::Draft::default(),
        OUT.into(),
        "mercure-answers.yaml".into(),
        false,
        env(),
    ))
}

fn screen(w: &Wizard, cols: u16, rows: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(cols, rows)).unwrap();
    t.draw(|f| wizard::view(w, f)).unwrap();
    t.backend().to_string()
}

/// Answers the review effect the way `perform` would, but with fixed secrets.
fn review(w: &mut Wizard, effect: Option<Effect>) {
    let Some(Effect::Review { answers, warnings, out_dir }) = effect else { panic!("no review effect") };
    let answers: Answers = *answers;
    let secrets = fixed_secrets(answers.jwt_algorithm, answers.topology.is_tls());
    let bundle = render(&Plan::new(answers, None), &secrets).unwrap();
    let changes = output::compare(&out_dir, &bundle).unwrap();
    let data =
        ReviewData { bundle, changes, warnings, notes: vec![], stale: vec![], existing: false, state_seen: vec![] };
    assert!(update(w, Msg::Reviewed(Box::new(Ok(data)))).is_none());
}

/// Walks the same-host-http flow, snapshotting each step when it is first shown.
fn walk(mut shot: impl FnMut(&str, &Wizard)) {
    let mut w = fresh();
    shot("1-topology", &w);
    update(&mut w, Msg::Accept);
    for c in "app.example.com".chars() {
        update(&mut w, Msg::Char(c));
    }
    shot("2-domain", &w);
    let mut effect = None;
    let mut seen = vec![Step::Topology, Step::Domain];
    for _ in 0..30 {
        effect = update(&mut w, Msg::Accept);
        if !seen.contains(&w.step) && w.step != Step::Review {
            seen.push(w.step);
            let n = seen.len();
            shot(&format!("{n}-{:?}", w.step).to_lowercase(), &w);
        }
        if effect.is_some() {
            break;
        }
    }
    review(&mut w, effect);
    shot("8-review", &w);
}

#[test]
fn every_step_at_80x24() {
    walk(|name, w| insta::assert_snapshot!(format!("wizard_80x24_{name}"), screen(w, 80, 24)));
}

#[test]
fn topology_teaching_and_review_at_120x40() {
    let mut w = fresh();
    insta::assert_snapshot!("wizard_120x40_topology", screen(&w, 120, 40));
    // Choosing end-to-end TLS: the preview marks the lines that change.
    update(&mut w, Msg::ChoiceNext);
    insta::assert_snapshot!("wizard_120x40_topology_tls", screen(&w, 120, 40));
    update(&mut w, Msg::ToggleHelp);
    insta::assert_snapshot!("wizard_120x40_topology_help", screen(&w, 120, 40));
    update(&mut w, Msg::ToggleHelp);
    update(&mut w, Msg::Accept);
    for c in "app.example.com".chars() {
        update(&mut w, Msg::Char(c));
    }
    let mut effect = None;
    while effect.is_none() {
        effect = update(&mut w, Msg::Accept);
        if w.focused().is_some_and(|q| q.key == "hub.cors_origins") {
            for c in "*".chars() {
                update(&mut w, Msg::Char(c));
            }
        }
    }
    review(&mut w, effect);
    update(&mut w, Msg::Down);
    insta::assert_snapshot!("wizard_120x40_review", screen(&w, 120, 40));
}

#[test]
fn screens_show_errors_and_dialogs_at_80x24() {
    let mut w = fresh();
    update(&mut w, Msg::Accept);
    update(&mut w, Msg::Accept);
    insta::assert_snapshot!("wizard_80x24_domain_required", screen(&w, 80, 24));
    update(&mut w, Msg::Char('x'));
    update(&mut w, Msg::Quit);
    insta::assert_snapshot!("wizard_80x24_confirm_quit", screen(&w, 80, 24));
}
