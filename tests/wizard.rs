//! Wizard flows without a terminal: scripted messages through `update`, effects
//! performed by `wizard::perform` against a temporary folder, and the written bundle
//! compared with what the real `render` command produced for the same answers and
//! the same stored secrets.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mercure_setup::answers::{Answers, Draft};
use mercure_setup::answers_file;
use mercure_setup::bundle::{Bundle, paths};
use mercure_setup::questions::{self, Step};
use mercure_setup::values::Topology;
use mercure_setup::wizard::{self, Effect, Init, Msg, Overlay, RunState, Wizard, update};

use crate::support::{fixture, run, stderr};

pub fn wizard_for(draft: Draft, out_dir: &Path, answers_path: PathBuf) -> Wizard {
    let env = wizard::preview_env(&draft, out_dir).unwrap();
    Wizard::new(Init::new(draft, out_dir.to_path_buf(), answers_path, false, env))
}

fn typed(w: &mut Wizard, text: &str) {
    for c in text.chars() {
        assert!(update(w, Msg::Char(c)).is_none());
    }
}

/// Sends a message and performs effects until one is a write (returned unperformed).
fn send(w: &mut Wizard, msg: Msg) -> Option<Effect> {
    let mut effect = update(w, msg);
    while let Some(e) = effect {
        if matches!(e, Effect::Write { .. }) {
            return Some(e);
        }
        effect = update(w, wizard::perform(e));
    }
    None
}

/// Presses Enter until the review is ready; panics if it takes more than `max`.
fn enter_to_review(w: &mut Wizard, max: usize) {
    for _ in 0..max {
        assert!(send(w, Msg::Accept).is_none());
        assert!(w.error.is_none(), "{:?}: {:?}", w.focused().map(|q| q.key), w.error);
        if w.step == Step::Review {
            assert!(matches!(w.review, wizard::ReviewState::Ready(_)), "review not ready");
            return;
        }
    }
    panic!("no review after {max} Enters; at {:?}", w.step);
}

/// Enter on the review: returns the bundle the wizard asks to write, and the effect.
fn final_bundle(w: &mut Wizard) -> (Bundle, Effect) {
    match send(w, Msg::Accept) {
        Some(e @ Effect::Write { .. }) => {
            let Effect::Write { bundle, .. } = &e else { unreachable!() };
            (bundle.clone(), e)
        }
        other => panic!("expected a write, got {other:?}"),
    }
}

/// Renders `answers` into `dir` with the real binary (which stores the secrets there).
fn render_into(answers: &Path, dir: &Path) {
    let o = run(&["render", "--answers", answers.to_str().unwrap(), "--out", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// Every file of `dir` except the manifest, as `render` left it.
fn folder(dir: &Path) -> BTreeMap<String, String> {
    // The manifest and the folder's lock belong to the folder, not to a bundle.
    crate::support::files_in(dir)
        .into_iter()
        .filter(|(rel, _)| ![paths::state::MANIFEST, paths::state::LOCK].contains(&rel.as_str()))
        .map(|(rel, bytes)| (rel, String::from_utf8(bytes).unwrap()))
        .collect()
}

fn files(b: &Bundle) -> BTreeMap<String, String> {
    b.files.iter().map(|(p, f)| (p.clone(), f.contents.clone())).collect()
}

/// Performs the write effect and checks the summary.
fn write(w: &mut Wizard, effect: Effect) -> String {
    let msg = wizard::perform(effect);
    assert!(update(w, msg).is_none());
    match &w.status {
        RunState::Done(text) => text.clone(),
        other => panic!("not done: {other:?} {:?}", w.notice),
    }
}

#[test]
fn same_host_http_typed_equals_render() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bundle");
    let answers = tmp.path().join("answers.yaml");
    std::fs::write(&answers, "domain: app.example.com\n").unwrap();
    render_into(&answers, &dir);

    let mut w = wizard_for(Draft::default(), &dir, tmp.path().join("saved.yaml"));
    // Typing on the topology screen accepts the highlighted topology and starts the domain.
    typed(&mut w, "app.example.com");
    assert_eq!(w.step, Step::Domain);
    assert_eq!(w.input.text, "app.example.com");
    enter_to_review(&mut w, 25);
    let (bundle, effect) = final_bundle(&mut w);
    assert!(matches!(effect, Effect::Write { force: false, .. }));
    assert_eq!(files(&bundle), folder(&dir), "the wizard's bundle differs from render's");
    let summary = write(&mut w, effect);
    assert!(summary.contains("0 new, 0 updated"), "{summary}");
    assert!(!w.unsaved());
}

#[test]
fn end_to_end_tls_typed_equals_render() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bundle");
    let answers = tmp.path().join("answers.yaml");
    std::fs::write(
        &answers,
        "topology: end-to-end-tls\ndomain: shop.example.org\nhub:\n  tls_name: hub.shop.internal\njwt:\n  algorithm: ES256\n",
    )
    .unwrap();
    render_into(&answers, &dir);

    let mut w = wizard_for(Draft::default(), &dir, tmp.path().join("saved.yaml"));
    send(&mut w, Msg::ChoiceNext);
    assert_eq!(w.topology().as_str(), "end-to-end-tls");
    // The preview follows the choice: the nginx location now verifies the hub.
    let site = &w.preview.files["nginx/example.com.conf"].text;
    assert!(site.contains("proxy_ssl_verify on;"));
    send(&mut w, Msg::Accept);
    typed(&mut w, "shop.example.org");
    for _ in questions::questions_for(Step::Domain, Topology::EndToEndTls) {
        send(&mut w, Msg::Accept);
    }
    assert_eq!(w.step, Step::Hub);
    let keys: Vec<&str> = w.fields().iter().map(|q| q.key).collect();
    assert!(keys.contains(&"hub.tls_name"), "TLS name is asked for end-to-end-tls: {keys:?}");
    while w.focused().map(|q| q.key) != Some("hub.tls_name") {
        send(&mut w, Msg::Accept);
    }
    send(&mut w, Msg::ClearInput);
    typed(&mut w, "hub.shop.internal");
    while w.step != Step::Jwt {
        send(&mut w, Msg::Accept);
    }
    send(&mut w, Msg::ChoicePrev);
    assert_eq!(w.input.text, "ES256");
    enter_to_review(&mut w, 10);
    let (bundle, _) = final_bundle(&mut w);
    assert_eq!(files(&bundle), folder(&dir));
    assert!(bundle.get("nginx/shop.example.org.conf").unwrap().contains("proxy_ssl_name hub.shop.internal;"));
}

#[test]
fn invalid_input_blocks_until_corrected() {
    let tmp = tempfile::tempdir().unwrap();
    let mut w = wizard_for(Draft::default(), &tmp.path().join("b"), tmp.path().join("a.yaml"));
    send(&mut w, Msg::Accept);
    typed(&mut w, "app.example.com");
    while w.step != Step::Hub {
        send(&mut w, Msg::Accept);
    }
    send(&mut w, Msg::ClearInput);
    typed(&mut w, "443");
    send(&mut w, Msg::Accept);
    let error = w.error.clone().expect("port 443 is refused");
    assert!(error.contains("443"), "{error}");
    assert_eq!(w.focused().unwrap().key, "hub.port", "Enter did not move on");
    // The preview keeps the last valid rendering and says why.
    assert!(w.preview.problem.as_deref().unwrap().starts_with("hub.port"));
    send(&mut w, Msg::Backspace);
    send(&mut w, Msg::Backspace);
    send(&mut w, Msg::Backspace);
    typed(&mut w, "3100");
    assert!(w.preview.problem.is_none());
    send(&mut w, Msg::Accept);
    assert_eq!(w.focused().unwrap().key, "hub.admin");
    enter_to_review(&mut w, 20);
    let wizard::ReviewState::Ready(r) = &w.review else { panic!() };
    assert!(r.data.bundle.get("mercure/Caddyfile").unwrap().contains("http://:3100 {"));
    assert!(!r.data.existing);
}

#[test]
fn esc_goes_back_from_an_invalid_field_keeping_it() {
    let tmp = tempfile::tempdir().unwrap();
    let mut w = wizard_for(Draft::default(), &tmp.path().join("b"), tmp.path().join("a.yaml"));
    send(&mut w, Msg::Accept);
    typed(&mut w, "app example.com");
    send(&mut w, Msg::Accept);
    assert!(w.error.as_deref().unwrap().contains("a space"), "{:?}", w.error);
    send(&mut w, Msg::Back);
    assert_eq!((w.step, w.error.as_deref()), (Step::Topology, None));
    send(&mut w, Msg::Accept);
    assert_eq!(w.step, Step::Domain);
    assert_eq!(w.input.text, "app example.com", "what was typed is kept");
    assert!(w.error.is_some(), "and still flagged");
    send(&mut w, Msg::Home);
    for _ in 0..3 {
        send(&mut w, Msg::CursorRight);
    }
    send(&mut w, Msg::Delete);
    typed(&mut w, ".");
    assert_eq!(w.input.text, "app.example.com");
    send(&mut w, Msg::Accept);
    assert_eq!(w.focused().unwrap().key, "public_tls.certificate");
    assert_eq!(w.input.text, "/etc/letsencrypt/live/app.example.com/fullchain.pem", "defaults follow the domain");
}

#[test]
fn prefilled_answers_pass_straight_to_the_same_bundle() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bundle");
    let name = "end-to-end-tls-es256-cors-nginx126.yaml";
    render_into(&fixture(name), &dir);
    let text = std::fs::read_to_string(fixture(name)).unwrap();
    let draft = answers_file::parse(&text, name).unwrap();
    let expected = Answers::from_draft(&draft).unwrap().0;
    let mut w = wizard_for(draft, &dir, fixture(name));
    assert!(!w.unsaved(), "nothing changed yet");
    assert_eq!(w.topology().as_str(), "end-to-end-tls");
    enter_to_review(&mut w, 25);
    assert_eq!(Answers::from_draft(&w.draft).unwrap().0, expected);
    let (bundle, effect) = final_bundle(&mut w);
    assert_eq!(files(&bundle), folder(&dir));
    let summary = write(&mut w, effect);
    assert!(summary.contains(" 0 new, 0 updated"), "{summary}");
}

#[test]
fn hand_edited_files_need_confirmation() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bundle");
    render_into(&fixture("same-host-http-hs256-nginx122.yaml"), &dir);
    std::fs::write(dir.join("INSTALL.md"), "my notes\n").unwrap();
    let text = std::fs::read_to_string(dir.join("answers.yaml")).unwrap();
    let draft = answers_file::parse(&text, "answers.yaml").unwrap();
    let mut w = wizard_for(draft, &dir, tmp.path().join("a.yaml"));
    enter_to_review(&mut w, 25);
    assert!(send(&mut w, Msg::Accept).is_none(), "no write without confirmation");
    assert_eq!(w.overlay, Some(Overlay::ConfirmOverwrite(vec!["INSTALL.md".into()])));
    send(&mut w, Msg::No);
    assert_eq!(std::fs::read_to_string(dir.join("INSTALL.md")).unwrap(), "my notes\n");
    send(&mut w, Msg::Accept);
    let effect = send(&mut w, Msg::Yes);
    assert!(matches!(effect, Some(Effect::Write { force: true, .. })), "no forced write");
    let summary = write(&mut w, effect.unwrap());
    assert!(summary.contains("1 hand-edited overwritten"), "{summary}");
    assert_ne!(std::fs::read_to_string(dir.join("INSTALL.md")).unwrap(), "my notes\n");
}

#[test]
fn save_writes_only_the_answers_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bundle");
    let saved = tmp.path().join("answers.yaml");
    let mut w = wizard_for(Draft::default(), &dir, saved.clone());
    send(&mut w, Msg::ChoiceNext);
    send(&mut w, Msg::Accept);
    typed(&mut w, "app.example.com");
    assert!(w.unsaved());
    // Ctrl-C with unsaved answers asks; `s` saves, then quits.
    send(&mut w, Msg::Quit);
    assert_eq!(w.overlay, Some(Overlay::ConfirmQuit));
    send(&mut w, Msg::Save);
    assert!(matches!(&w.status, RunState::Done(t) if t.contains("saved the answers")), "{:?}", w.status);
    assert!(!dir.exists(), "no bundle written");
    let draft = answers_file::parse(&std::fs::read_to_string(&saved).unwrap(), "answers.yaml").unwrap();
    let (a, _) = Answers::from_draft(&draft).unwrap();
    assert_eq!((a.domain.as_str(), a.topology.as_str()), ("app.example.com", "end-to-end-tls"));
}

#[test]
fn without_a_terminal_it_points_to_render() {
    for args in [&[][..], &["wizard", "--out", "/nonexistent/x"][..]] {
        let o = run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = stderr(&o);
        assert!(err.contains("init --out answers.yaml") && err.contains("mercure-setup render"), "{err}");
        assert!(err.contains("TTY"), "{err}");
    }
}

/// The wizard as `mercure-setup wizard [--answers FILE] --out DIR` starts it.
fn started(answers: Option<&Path>, dir: &Path, default_answers: &Path) -> Wizard {
    Wizard::new(wizard::start(answers, dir, default_answers, false).unwrap())
}

fn ready(w: &Wizard) -> &wizard::Review {
    match &w.review {
        wizard::ReviewState::Ready(r) => r,
        other => panic!("review not ready: {other:?}"),
    }
}

#[test]
fn resuming_a_bundle_enters_through_to_nothing_changed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bundle");
    render_into(&fixture("end-to-end-tls-es256-cors-nginx126.yaml"), &dir);
    let before = folder(&dir);
    let mut w = started(None, &dir, &tmp.path().join("mercure-answers.yaml"));
    assert_eq!(w.editing.as_deref(), Some(format!("editing {}", dir.display()).as_str()));
    assert_eq!(w.topology().as_str(), "end-to-end-tls", "the bundle's answers, not the defaults");
    assert!(!w.unsaved());
    // Every mark says nothing changed yet.
    let site = w.preview.resolve(mercure_setup::questions::NGINX_SITE).unwrap();
    assert!(w.preview.rows(&site).iter().all(|r| r.mark == wizard::Mark::Same));
    enter_to_review(&mut w, 30);
    let r = ready(&w);
    assert_eq!(r.alerts, Vec::new(), "no deployment change to warn about");
    assert_eq!(r.data.notes, Vec::<String>::new(), "no new key");
    let changed: Vec<&str> = r
        .data
        .changes
        .iter()
        .filter(|c| c.status != mercure_setup::output::FileStatus::Unchanged)
        .map(|c| c.path.as_str())
        .collect();
    assert_eq!(changed, Vec::<&str>::new(), "only unchanged files");
    let (_, effect) = final_bundle(&mut w);
    let summary = write(&mut w, effect);
    assert!(summary.contains(" 0 new, 0 updated"), "{summary}");
    assert_eq!(folder(&dir), before, "the folder (ES256 key included) is as it was");
}

#[test]
fn resuming_warns_about_topology_address_and_new_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bundle");
    render_into(&fixture("end-to-end-tls-es256-cors-nginx126.yaml"), &dir);
    let mut w = started(None, &dir, &tmp.path().join("mercure-answers.yaml"));
    send(&mut w, Msg::ChoicePrev);
    assert_eq!(w.topology().as_str(), "same-host-http");
    send(&mut w, Msg::Accept);
    send(&mut w, Msg::ClearInput);
    typed(&mut w, "new.example.net");
    while w.step != Step::Jwt {
        send(&mut w, Msg::Accept);
    }
    send(&mut w, Msg::ChoiceNext);
    assert_eq!(w.input.text, "HS256");
    enter_to_review(&mut w, 20);
    let alerts: Vec<String> = ready(&w).alerts.iter().map(ToString::to_string).collect();
    let alerts = alerts.join("\n");
    for text in [
        "Switches the topology from end-to-end-tls to same-host-http",
        "Changes the public hub address to https://new.example.net/.well-known/mercure",
        "Changes the address nginx reaches the hub at",
        "Switches the JWT algorithm from ES256 to HS256",
        "Makes new keys (made a new HS256 JWT key",
    ] {
        assert!(alerts.contains(text), "no {text:?} in:\n{alerts}");
    }
}

#[test]
fn answers_file_is_named_and_saving_asks_before_replacing_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bundle");
    let mine = tmp.path().join("mine.yaml");
    let original = "# my notes\ndomain: app.example.com\n";
    std::fs::write(&mine, original).unwrap();
    let mut w = started(Some(&mine), &dir, &tmp.path().join("unused.yaml"));
    assert_eq!(w.editing.as_deref(), Some(format!("editing {}", mine.display()).as_str()));
    send(&mut w, Msg::ChoiceNext);
    assert!(send(&mut w, Msg::Save).is_none());
    assert_eq!(w.overlay, Some(Overlay::ConfirmSave), "Ctrl-S asks first");
    send(&mut w, Msg::No);
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), original);
    // Beside it: the user's file is kept, comments and all.
    send(&mut w, Msg::Save);
    send(&mut w, Msg::SaveBeside);
    let beside = tmp.path().join("mine.wizard.yaml");
    assert!(std::fs::read_to_string(&beside).unwrap().contains("topology: 'end-to-end-tls'"));
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), original);
    // Overwriting, once confirmed, is not asked again.
    send(&mut w, Msg::Save);
    assert_eq!(w.overlay, Some(Overlay::ConfirmSave));
    send(&mut w, Msg::Yes);
    assert!(std::fs::read_to_string(&mine).unwrap().contains("topology: 'end-to-end-tls'"));
    send(&mut w, Msg::ChoiceNext);
    send(&mut w, Msg::Save);
    assert_eq!(w.overlay, None);
    assert!(std::fs::read_to_string(&mine).unwrap().contains("topology: 'same-host-http'"));
}

#[test]
fn a_render_between_review_and_write_is_not_undone() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bundle");
    render_into(&fixture("same-host-http-hs256-nginx122.yaml"), &dir);
    let mut w = started(None, &dir, &tmp.path().join("a.yaml"));
    enter_to_review(&mut w, 30);
    let (_, effect) = final_bundle(&mut w);
    // Another run rotates the secrets after the review.
    let answers = dir.join("answers.yaml");
    let o =
        run(&["render", "--answers", answers.to_str().unwrap(), "--out", dir.to_str().unwrap(), "--rotate-secrets"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rotated = folder(&dir);
    assert!(update(&mut w, wizard::perform(effect)).is_none());
    let wizard::ReviewState::Failed(e) = &w.review else { panic!("the write went ahead: {:?}", w.status) };
    assert!(e.contains("changed since the review"), "{e}");
    assert_eq!(folder(&dir), rotated, "the rotation is kept");
    assert_eq!(w.status, RunState::Running);
    // Enter reviews again, against the rotated state; that write goes ahead.
    assert!(send(&mut w, Msg::Accept).is_none());
    assert!(ready(&w).data.notes.is_empty());
    let (_, effect) = final_bundle(&mut w);
    let summary = write(&mut w, effect);
    assert!(summary.contains(" 0 new, 0 updated"), "{summary}");
    assert_eq!(folder(&dir), rotated);
}

#[test]
fn shift_tab_on_a_first_field_goes_back_a_field_and_typing_types() {
    let tmp = tempfile::tempdir().unwrap();
    let mut w = wizard_for(Draft::default(), &tmp.path().join("b"), tmp.path().join("a.yaml"));
    send(&mut w, Msg::FocusPrev);
    assert_eq!((w.step, w.notice.as_deref()), (Step::Topology, Some("this is the first question")));
    send(&mut w, Msg::Accept);
    typed(&mut w, "app.example.com");
    while w.step != Step::Hub {
        send(&mut w, Msg::FocusNext);
    }
    assert_eq!(w.field, 0, "Tab past a step's last field goes on to the next step");
    send(&mut w, Msg::FocusPrev);
    assert_eq!((w.step, w.focused().unwrap().key), (Step::Domain, "public_tls.hsts_include_subdomains"));
    for key in ["public_tls.hsts", "public_tls.profile", "public_tls.acme_webroot"] {
        send(&mut w, Msg::FocusPrev);
        assert_eq!(w.focused().unwrap().key, key);
    }
    typed(&mut w, "/x");
    assert_eq!(w.input.text, "/var/www/letsencrypt/x", "typing still types");
    send(&mut w, Msg::FocusPrev);
    assert_eq!(w.focused().unwrap().key, "public_tls.certificate_key");
}

#[test]
fn typing_on_the_topology_step_replaces_the_domain() {
    let tmp = tempfile::tempdir().unwrap();
    let mut d = Draft::default();
    d.set("domain", mercure_setup::questions::RawValue::Scalar("app.example.com".into()), None);
    let mut w = wizard_for(d, &tmp.path().join("b"), tmp.path().join("a.yaml"));
    typed(&mut w, "prod.example.com");
    assert_eq!((w.step, w.input.text.as_str()), (Step::Domain, "prod.example.com"));
    assert_eq!(w.draft.scalar("domain"), Some("prod.example.com"));
}

#[test]
fn every_error_of_a_field_shows_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let mut w = wizard_for(Draft::default(), &tmp.path().join("b"), tmp.path().join("a.yaml"));
    send(&mut w, Msg::Accept);
    typed(&mut w, "app.example.com");
    while w.focused().unwrap().key != "hub.cors_origins" {
        send(&mut w, Msg::Accept);
    }
    typed(&mut w, "https://a.test/, https://b.test/x");
    send(&mut w, Msg::Accept);
    let e = w.error.clone().expect("refused");
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(lines.len(), 2, "{e}");
    assert!(lines[0].contains("https://a.test/") && lines[0].contains("trailing slash"), "{e}");
    assert!(lines[1].contains("https://b.test/x") && lines[1].contains("path"), "{e}");
}

#[test]
fn ctrl_r_jumps_to_the_review_once_every_answer_is_valid() {
    let tmp = tempfile::tempdir().unwrap();
    let mut w = wizard_for(Draft::default(), &tmp.path().join("b"), tmp.path().join("a.yaml"));
    assert!(send(&mut w, Msg::JumpReview).is_none());
    assert_eq!((w.step, w.focused().unwrap().key), (Step::Domain, "domain"), "the missing answer first");
    assert!(w.notice.is_some());
    typed(&mut w, "app.example.com");
    assert!(send(&mut w, Msg::JumpReview).is_none());
    assert_eq!(w.step, Step::Review);
    assert!(!ready(&w).data.existing);
    // The steps passed over are marked done.
    let marks: Vec<Option<bool>> = w.step_marks().into_iter().map(|(_, m)| m).collect();
    assert_eq!(&marks[..7], &[Some(true); 7]);
}

#[test]
fn out_naming_a_regular_file_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("bundle");
    std::fs::write(&file, "").unwrap();
    let Err(e) = wizard::start(None, &file, &tmp.path().join("a.yaml"), false) else { panic!("accepted") };
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("is a file, not a folder"), "{e}");
}
