//! Screen snapshots of the wizard (ratatui `TestBackend` + insta): every step at
//! 80x24 and 60x15, the topology teaching view, its `?` text and the review at
//! 120x40, a resumed bundle's review with its warnings at the three sizes, the
//! full-screen preview, the dialogs and a field's errors.
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
        hub: None,
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
    review_with(w, effect, vec![], false);
}

fn review_with(w: &mut Wizard, effect: Option<Effect>, notes: Vec<String>, existing: bool) {
    let Some(Effect::Review { answers, warnings, out_dir }) = effect else { panic!("no review effect") };
    let answers: Answers = *answers;
    let secrets = fixed_secrets(answers.jwt_algorithm, answers.topology.facts().private_ca);
    let bundle = render(&Plan::new(answers, None), &secrets).unwrap();
    let changes = output::compare(&out_dir, &bundle).unwrap();
    let data = ReviewData { bundle, changes, warnings, notes, stale: vec![], existing, state_seen: vec![] };
    assert!(update(w, Msg::Reviewed(Box::new(Ok(data)))).is_none());
}

/// A wizard resumed from a bundle made with end-to-end TLS and ES256.
fn resumed() -> Wizard {
    let name = "end-to-end-tls-es256-cors-nginx126.yaml";
    let text = std::fs::read_to_string(crate::support::fixture(name)).unwrap();
    let draft = mercure_setup::answers_file::parse(&text, name).unwrap();
    let deployed = Answers::from_draft(&draft).unwrap().0;
    let mut init = Init::new(draft, OUT.into(), "mercure-answers.yaml".into(), false, env());
    init.editing = Some("editing ./bundle".into());
    init.deployed = Some(deployed);
    Wizard::new(init)
}

/// Enter until the wizard asks for the review.
fn enter_until_review(w: &mut Wizard) -> Effect {
    for _ in 0..40 {
        if let Some(e) = update(w, Msg::Accept) {
            return e;
        }
    }
    panic!("no review; at {:?} {:?}", w.step, w.error)
}

/// Walks the same-host-http flow, snapshotting each step when it is first shown.
fn walk(shot: impl FnMut(&str, &Wizard)) {
    walk_from(fresh(), shot);
}

fn walk_from(w: Wizard, mut shot: impl FnMut(&str, &Wizard)) {
    let mut w = w;
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

#[test]
fn every_step_at_60x15() {
    walk(|name, w| insta::assert_snapshot!(format!("wizard_60x15_{name}"), screen(w, 60, 15)));
}

#[test]
fn resumed_bundle_warns_at_the_top_of_the_review() {
    let mut w = resumed();
    let s = screen(&w, 120, 40);
    assert!(s.contains("editing ./bundle"), "{s}");
    assert!(s.contains("(•) end-to-end-tls"), "{s}");
    insta::assert_snapshot!("wizard_120x40_resumed_topology", s);
    // Back to the default topology and HS256: a deployment-breaking change.
    update(&mut w, Msg::ChoicePrev);
    while w.step != Step::Jwt {
        update(&mut w, Msg::Accept);
    }
    update(&mut w, Msg::ChoiceNext);
    let effect = enter_until_review(&mut w);
    review_with(&mut w, Some(effect), vec!["made a new HS256 JWT key".into()], true);
    for (cols, rows) in [(120, 40), (80, 24), (60, 15)] {
        let s = screen(&w, cols, rows);
        let warned = s.contains("⚠ Switches the topology") || s.contains("⚠ Changes the deployment: topology,");
        assert!(warned, "{cols}x{rows}:\n{s}");
        insta::assert_snapshot!(format!("wizard_{cols}x{rows}_resumed_review"), s);
    }
}

#[test]
fn a_line_longer_than_the_preview_is_readable_in_full_at_120x40() {
    let mut w = fresh();
    update(&mut w, Msg::ChoiceNext);
    let site = &w.preview.files["nginx/example.com.conf"].text;
    let long = site.lines().find(|l| l.contains("# Verify the hub")).unwrap().trim();
    assert!(long.len() > 57, "the line is longer than the pane");
    let s = screen(&w, 120, 40);
    let pane: String = s
        .lines()
        .filter_map(|l| l.split('│').nth(1))
        .map(|l| l.trim_matches(|c| c == '"' || c == ' ' || c == '+' || c == '↪'))
        .collect::<Vec<_>>()
        .join(" ");
    assert!(pane.contains(long), "not in full in the side pane: {long:?}\n{s}");
    // ^F: the file full screen, every line in full.
    update(&mut w, Msg::Zoom);
    insta::assert_snapshot!("wizard_120x40_zoom", screen(&w, 120, 40));
    update(&mut w, Msg::Back);
    assert_eq!(w.overlay, None);
}

#[test]
fn errors_dialogs_and_small_screens() {
    let mut w = fresh();
    update(&mut w, Msg::Accept);
    for c in "app.example.com".chars() {
        update(&mut w, Msg::Char(c));
    }
    // At 40x10 the focused input stays in view.
    let s = screen(&w, 40, 10);
    assert!(s.contains("> app.example.com"), "{s}");
    while w.focused().is_some_and(|q| q.key != "hub.cors_origins") {
        update(&mut w, Msg::Accept);
    }
    for c in "https://a.test/, https://b.test/x".chars() {
        update(&mut w, Msg::Char(c));
    }
    update(&mut w, Msg::Accept);
    insta::assert_snapshot!("wizard_80x24_all_errors", screen(&w, 80, 24));
    let mut w = resumed();
    w.overlay = None;
    let mut init = Init::new(w.draft.clone(), OUT.into(), "answers.yaml".into(), false, env());
    init.answers_exists = true;
    init.editing = Some("editing answers.yaml".into());
    let mut w = Wizard::new(init);
    update(&mut w, Msg::Save);
    insta::assert_snapshot!("wizard_80x24_confirm_save", screen(&w, 80, 24));
}
