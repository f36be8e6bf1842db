//! The wizard's state, its messages and the pure `update` that moves between them.
//!
//! `update` never touches the terminal or the file system: work that does (generate
//! the bundle for review, write it, save the answers) is returned as an [`Effect`]
//! and its outcome comes back as a [`Msg`].

use std::path::PathBuf;

use crate::answers::{Answers, Draft, Warning};
use crate::answers_file::{raw_from_text, raw_to_text, write_commented};
use crate::bundle::{Bundle, paths};
use crate::output::{self, Change, Status as FileStatus};
use crate::questions::{self, Kind, Question, Step};
use crate::values::Topology;

use super::preview::{Preview, PreviewEnv};

/// Which pane the arrow keys act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Form,
    Preview,
}

/// A window over the screen that takes the keys until it is closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overlay {
    /// The focused question's teaching text.
    Help { scroll: u16 },
    /// Ctrl-C with unsaved answers.
    ConfirmQuit,
    /// Enter on the review when these files were edited by hand.
    ConfirmOverwrite(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Running,
    /// Left without writing anything.
    Cancelled,
    /// Finished; the text is printed once the terminal is restored.
    Done(String),
}

/// What the edge found when generating the bundle for the review.
#[derive(Debug, Clone)]
pub struct ReviewData {
    pub bundle: Bundle,
    /// Every bundle file compared with the output folder.
    pub changes: Vec<Change>,
    pub warnings: Vec<Warning>,
    /// Secrets or certificates made anew (never their values).
    pub notes: Vec<String>,
    /// Files the last render wrote that this bundle no longer has.
    pub stale: Vec<String>,
    /// Whether the output folder already existed.
    pub existing: bool,
}

/// The review screen's state.
#[derive(Debug, Clone)]
pub struct Review {
    pub data: ReviewData,
    /// Indices into `data.changes` in display order (`.state/` last).
    pub order: Vec<usize>,
    /// Position in `order`.
    pub selected: usize,
    /// Per change: its diff against the folder, as `output::dry_run_report` gives it.
    pub diffs: Vec<Vec<String>>,
    pub scroll: u16,
}

#[derive(Debug, Clone)]
pub enum ReviewState {
    /// Waiting for [`Effect::Review`].
    Pending,
    Ready(Box<Review>),
    Failed(String),
}

/// Everything that can happen to the wizard: keys (already mapped) and effect results.
#[derive(Debug, Clone)]
pub enum Msg {
    Char(char),
    Backspace,
    Delete,
    CursorLeft,
    CursorRight,
    Home,
    End,
    ClearInput,
    /// Enter: accept the field and move on.
    Accept,
    /// Esc: back a step, or close the overlay.
    Back,
    /// Tab.
    FocusNext,
    /// Shift-Tab.
    FocusPrev,
    Up,
    Down,
    ChoiceNext,
    ChoicePrev,
    ToggleHelp,
    NextFile,
    PrevFile,
    /// Scroll the preview, the diff or the help by this many lines.
    Scroll(i16),
    /// Save only the answers file.
    Save,
    /// Ctrl-C.
    Quit,
    Yes,
    No,
    Reviewed(Box<Result<ReviewData, String>>),
    Written(Result<Vec<Change>, String>),
    Saved(Result<PathBuf, String>),
}

/// Side effects `update` asks for; [`super::perform`] carries them out.
#[derive(Debug, Clone)]
pub enum Effect {
    /// Generate the bundle (`generate::generate`) and compare it with the folder.
    Review { answers: Box<Answers>, warnings: Vec<Warning>, out_dir: PathBuf },
    /// Write the bundle with `output::write`.
    Write { bundle: Bundle, out_dir: PathBuf, force: bool },
    /// Write only the answers file with `output::write_single`.
    SaveAnswers { path: PathBuf, text: String },
}

/// The text field being edited; `cursor` counts characters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Input {
    pub text: String,
    pub cursor: usize,
}

impl Input {
    fn new(text: String) -> Input {
        let cursor = text.chars().count();
        Input { text, cursor }
    }

    fn byte_at(&self, cursor: usize) -> usize {
        self.text.char_indices().nth(cursor).map_or(self.text.len(), |(i, _)| i)
    }
}

/// How a wizard starts.
pub struct Init {
    /// Pre-filled answers (from `--answers`), or empty.
    pub draft: Draft,
    pub out_dir: PathBuf,
    /// Where the answers-only save goes.
    pub answers_path: PathBuf,
    /// `false` under `NO_COLOR`.
    pub color: bool,
    pub env: PreviewEnv,
}

/// The whole state of the wizard.
pub struct Wizard {
    pub step: Step,
    /// Index of the focused field among the step's visible questions.
    pub field: usize,
    pub pane: Pane,
    pub draft: Draft,
    pub input: Input,
    /// The validator's message for the focused field.
    pub error: Option<String>,
    pub overlay: Option<Overlay>,
    pub status: Status,
    /// A one-line message (saved, failed to write, ...), cleared by the next key.
    pub notice: Option<String>,
    pub out_dir: PathBuf,
    pub answers_path: PathBuf,
    pub color: bool,
    pub preview: Preview,
    pub review: ReviewState,
    /// The draft as last saved or written (or as loaded).
    saved: Draft,
    quit_after_save: bool,
    env: PreviewEnv,
}

/// Lines PgUp/PgDn scroll.
pub const PAGE: i16 = 10;

impl Wizard {
    pub fn new(init: Init) -> Wizard {
        let mut w = Wizard {
            step: Step::Topology,
            field: 0,
            pane: Pane::Form,
            saved: init.draft.clone(),
            draft: init.draft,
            input: Input::default(),
            error: None,
            overlay: None,
            status: Status::Running,
            notice: None,
            out_dir: init.out_dir,
            answers_path: init.answers_path,
            color: init.color,
            preview: Preview::default(),
            review: ReviewState::Pending,
            quit_after_save: false,
            env: init.env,
        };
        w.preview.refresh(&w.draft, &w.env);
        w.load_field();
        w
    }

    /// The chosen topology (the default until one is chosen).
    pub fn topology(&self) -> Topology {
        self.draft.topology().unwrap_or(Topology::SameHostHttp)
    }

    /// The visible questions of the current step.
    pub fn fields(&self) -> Vec<&'static Question> {
        questions::questions_for(self.step, self.topology()).collect()
    }

    /// The focused question (none on the review).
    pub fn focused(&self) -> Option<&'static Question> {
        self.fields().get(self.field).copied()
    }

    /// Whether the answers changed since they were loaded, saved or written.
    pub fn unsaved(&self) -> bool {
        self.draft != self.saved
    }

    /// The file the preview shows and the line to scroll to.
    pub fn preview_target(&self) -> Option<(String, &'static str)> {
        if let Some(p) = &self.preview.pinned {
            return Some((p.clone(), ""));
        }
        let q = self.focused()?;
        self.preview.resolve(q.preview.file).map(|p| (p, q.preview.anchor))
    }

    /// Loads the focused field into the input, with its error if the value was given.
    fn load_field(&mut self) {
        self.error = None;
        let Some(q) = self.focused() else {
            self.input = Input::default();
            return;
        };
        self.input = Input::new(raw_to_text(&self.draft.value(q.key)));
        if self.draft.given(q.key).is_some() {
            self.error = field_errors(&self.draft, &[q]).map(|(_, e)| e);
        }
        // Changes are highlighted relative to the answers as they are now.
        self.preview.rebase();
        self.preview.pinned = None;
        self.preview.scroll = None;
    }

    /// Stores the input in the draft: a value equal to the default is left out, so the
    /// key keeps following its default (e.g. hub.port after a topology change).
    fn store_input(&mut self) {
        let Some(q) = self.focused() else { return };
        self.draft.remove(q.key);
        let default = raw_to_text(&(q.default)(&self.draft));
        if self.input.text != default {
            self.draft.set(q.key, raw_from_text(q.key, &self.input.text), None);
        }
        self.error = None;
        self.preview.refresh(&self.draft, &self.env);
    }

    fn goto(&mut self, step: Step, field: usize) {
        self.step = step;
        self.field = field;
        self.pane = Pane::Form;
        self.load_field();
    }

    /// The key's step and index among the visible fields, if it is visible.
    fn locate(&self, key: &str) -> Option<(Step, usize)> {
        let q = questions::question(key)?;
        let index = questions::questions_for(q.step, self.topology()).position(|v| v.key == key)?;
        Some((q.step, index))
    }

    fn save_effect(&self) -> Effect {
        let header = format!(
            "mercure-setup {} answers file, saved by the wizard. Render it with:\n  \
             mercure-setup render --answers FILE --out DIR",
            env!("CARGO_PKG_VERSION")
        );
        Effect::SaveAnswers { path: self.answers_path.clone(), text: write_commented(&self.draft, &header) }
    }
}

/// The first invalid field among `fields`, by one validation of the whole draft.
fn field_errors(draft: &Draft, fields: &[&Question]) -> Option<(usize, String)> {
    let errors = Answers::from_draft(draft).err()?;
    fields.iter().enumerate().find_map(|(i, q)| errors.iter().find(|e| e.key == q.key).map(|e| (i, e.message.clone())))
}

fn next_step(step: Step) -> Step {
    let i = Step::ALL.iter().position(|s| *s == step).unwrap_or(0);
    Step::ALL.get(i + 1).copied().unwrap_or(Step::Review)
}

fn prev_step(step: Step) -> Step {
    let i = Step::ALL.iter().position(|s| *s == step).unwrap_or(0);
    Step::ALL[i.saturating_sub(1)]
}

/// Applies one message; returns the side effect to perform, if any.
pub fn update(w: &mut Wizard, msg: Msg) -> Option<Effect> {
    match msg {
        Msg::Reviewed(result) => {
            reviewed(w, *result);
            return None;
        }
        Msg::Written(result) => {
            written(w, result);
            return None;
        }
        Msg::Saved(result) => {
            saved(w, result);
            return None;
        }
        _ => {}
    }
    w.notice = None;
    if let Some(overlay) = w.overlay.clone() {
        return overlay_update(w, &overlay, msg);
    }
    match msg {
        Msg::Quit => {
            quit(w);
            None
        }
        Msg::Save => Some(w.save_effect()),
        Msg::ToggleHelp => {
            w.overlay = Some(Overlay::Help { scroll: 0 });
            None
        }
        _ if w.step == Step::Review => review_update(w, &msg),
        _ => form_update(w, &msg),
    }
}

fn quit(w: &mut Wizard) {
    if w.unsaved() {
        w.overlay = Some(Overlay::ConfirmQuit);
    } else {
        w.status = Status::Cancelled;
    }
}

fn overlay_update(w: &mut Wizard, overlay: &Overlay, msg: Msg) -> Option<Effect> {
    match (overlay, msg) {
        (Overlay::Help { scroll }, Msg::Scroll(n)) => {
            w.overlay = Some(Overlay::Help { scroll: scroll.saturating_add_signed(n) });
        }
        (Overlay::Help { scroll }, Msg::Up) => w.overlay = Some(Overlay::Help { scroll: scroll.saturating_sub(1) }),
        (Overlay::Help { scroll }, Msg::Down) => w.overlay = Some(Overlay::Help { scroll: scroll.saturating_add(1) }),
        (Overlay::Help { .. }, Msg::ToggleHelp | Msg::Accept)
        | (Overlay::Help { .. } | Overlay::ConfirmQuit | Overlay::ConfirmOverwrite(_), Msg::No | Msg::Back) => {
            w.overlay = None;
        }
        (Overlay::Help { .. } | Overlay::ConfirmOverwrite(_), Msg::Quit) => {
            w.overlay = None;
            quit(w);
        }
        // A second Ctrl-C means it.
        (Overlay::ConfirmQuit, Msg::Yes | Msg::Quit) => {
            w.overlay = None;
            w.status = Status::Cancelled;
        }
        (Overlay::ConfirmQuit, Msg::Save) => {
            w.overlay = None;
            w.quit_after_save = true;
            return Some(w.save_effect());
        }
        (Overlay::ConfirmOverwrite(_), Msg::Yes) => {
            w.overlay = None;
            if let ReviewState::Ready(r) = &w.review {
                return Some(Effect::Write { bundle: r.data.bundle.clone(), out_dir: w.out_dir.clone(), force: true });
            }
        }
        _ => {}
    }
    None
}

fn form_update(w: &mut Wizard, msg: &Msg) -> Option<Effect> {
    if w.pane == Pane::Preview {
        return preview_update(w, msg);
    }
    let q = w.focused()?;
    match msg {
        // Type-ahead: text typed on the topology screen accepts the highlighted topology
        // and goes to the domain, so "type a domain, press Enter through the defaults" works.
        Msg::Char(c) if w.step == Step::Topology && matches!(q.kind, Kind::Choice(_)) => {
            let effect = accept(w, q);
            if w.step != Step::Topology && w.focused().is_some_and(|n| matches!(n.kind, Kind::Text | Kind::List)) {
                return form_update(w, &Msg::Char(*c)).or(effect);
            }
            return effect;
        }
        Msg::Char(c) if matches!(q.kind, Kind::Text | Kind::List) => {
            let at = w.input.byte_at(w.input.cursor);
            w.input.text.insert(at, *c);
            w.input.cursor += 1;
            w.store_input();
        }
        Msg::Backspace if w.input.cursor > 0 => {
            w.input.cursor -= 1;
            let at = w.input.byte_at(w.input.cursor);
            w.input.text.remove(at);
            w.store_input();
        }
        Msg::Delete if w.input.cursor < w.input.text.chars().count() => {
            let at = w.input.byte_at(w.input.cursor);
            w.input.text.remove(at);
            w.store_input();
        }
        Msg::ClearInput => {
            w.input = Input::default();
            w.store_input();
        }
        Msg::CursorLeft => w.input.cursor = w.input.cursor.saturating_sub(1),
        Msg::CursorRight => w.input.cursor = (w.input.cursor + 1).min(w.input.text.chars().count()),
        Msg::Home => w.input.cursor = 0,
        Msg::End => w.input.cursor = w.input.text.chars().count(),
        Msg::ChoiceNext | Msg::ChoicePrev => {
            let options: &[&str] = match q.kind {
                Kind::Choice(options) => options,
                Kind::Bool => &["false", "true"],
                Kind::Text | Kind::List => return None,
            };
            let pos = options.iter().position(|o| *o == w.input.text);
            let n = options.len();
            let next = match (pos, matches!(msg, Msg::ChoiceNext)) {
                (None, _) => 0,
                (Some(i), true) => (i + 1) % n,
                (Some(i), false) => (i + n - 1) % n,
            };
            w.input = Input::new(options[next].to_string());
            w.store_input();
        }
        Msg::Accept => return accept(w, q),
        Msg::Back => back(w),
        Msg::FocusNext | Msg::Down => {
            if let Some(e) = field_errors(&w.draft, &[q]).map(|(_, e)| e) {
                w.error = Some(e);
            } else if w.field + 1 < w.fields().len() {
                w.goto(w.step, w.field + 1);
            } else if matches!(msg, Msg::FocusNext) {
                w.pane = Pane::Preview;
            }
        }
        Msg::FocusPrev | Msg::Up => {
            if w.field > 0 {
                w.goto(w.step, w.field - 1);
            } else if matches!(msg, Msg::FocusPrev) {
                w.pane = Pane::Preview;
            }
        }
        Msg::NextFile | Msg::PrevFile | Msg::Scroll(_) => return preview_update(w, msg),
        _ => {}
    }
    None
}

fn preview_update(w: &mut Wizard, msg: &Msg) -> Option<Effect> {
    let current = w.preview_target().map(|(p, _)| p);
    match msg {
        Msg::NextFile | Msg::PrevFile => {
            w.preview.pinned = w.preview.cycle(current.as_deref(), matches!(msg, Msg::NextFile));
            w.preview.scroll = Some(0);
        }
        Msg::Scroll(n) => scroll_preview(w, *n),
        Msg::Up => scroll_preview(w, -1),
        Msg::Down => scroll_preview(w, 1),
        Msg::FocusNext | Msg::Accept => {
            w.pane = Pane::Form;
            if matches!(msg, Msg::FocusNext) {
                w.goto(w.step, 0);
            }
        }
        Msg::FocusPrev => {
            w.pane = Pane::Form;
            let last = w.fields().len().saturating_sub(1);
            w.goto(w.step, last);
        }
        Msg::Back => back(w),
        _ => {}
    }
    None
}

fn scroll_preview(w: &mut Wizard, n: i16) {
    let Some((path, anchor)) = w.preview_target() else { return };
    // Manual scrolling starts from where the automatic position left the view.
    let from = w.preview.scroll.unwrap_or_else(|| w.preview.auto_scroll(&path, anchor));
    let len = w.preview.files.get(&path).map_or(0, |f| f.text.lines().count());
    let max = u16::try_from(len.saturating_sub(1)).unwrap_or(u16::MAX);
    w.preview.scroll = Some(from.saturating_add_signed(n).min(max));
}

/// Enter on a field: validate it, then move to the next field or step.
fn accept(w: &mut Wizard, q: &'static Question) -> Option<Effect> {
    let fields = w.fields();
    if let Some(e) = field_errors(&w.draft, &[q]).map(|(_, e)| e) {
        w.error = Some(e);
        return None;
    }
    if w.field + 1 < fields.len() {
        w.goto(w.step, w.field + 1);
        return None;
    }
    // Pre-filled values may be invalid in fields never focused: check the whole step.
    if let Some((i, e)) = field_errors(&w.draft, &fields) {
        w.goto(w.step, i);
        w.error = Some(e);
        return None;
    }
    let next = next_step(w.step);
    if next != Step::Review {
        w.goto(next, 0);
        return None;
    }
    match Answers::from_draft(&w.draft) {
        Ok((answers, warnings)) => {
            w.step = Step::Review;
            w.review = ReviewState::Pending;
            w.error = None;
            Some(Effect::Review { answers: Box::new(answers), warnings, out_dir: w.out_dir.clone() })
        }
        Err(errors) => {
            // Only a field of another step or one hidden by the topology can be left.
            let first = errors.first()?;
            match w.locate(&first.key) {
                Some((step, i)) => {
                    w.goto(step, i);
                    w.error = Some(first.message.clone());
                }
                None => w.notice = Some(format!("{first} (fix it in the answers file)")),
            }
            None
        }
    }
}

/// Esc: back one step, keeping everything typed (it is already in the draft).
fn back(w: &mut Wizard) {
    if w.step == Step::Topology {
        quit(w);
        return;
    }
    w.goto(prev_step(w.step), 0);
}

fn review_update(w: &mut Wizard, msg: &Msg) -> Option<Effect> {
    match msg {
        Msg::Accept => match &w.review {
            ReviewState::Ready(r) => {
                let edited: Vec<String> = r
                    .data
                    .changes
                    .iter()
                    .filter(|c| c.status == FileStatus::HandEdited)
                    .map(|c| c.path.clone())
                    .collect();
                if edited.is_empty() {
                    return Some(Effect::Write {
                        bundle: r.data.bundle.clone(),
                        out_dir: w.out_dir.clone(),
                        force: false,
                    });
                }
                w.overlay = Some(Overlay::ConfirmOverwrite(edited));
            }
            // Try again (e.g. after fixing a folder permission).
            ReviewState::Failed(_) | ReviewState::Pending => {
                if let Ok((answers, warnings)) = Answers::from_draft(&w.draft) {
                    w.review = ReviewState::Pending;
                    return Some(Effect::Review { answers: Box::new(answers), warnings, out_dir: w.out_dir.clone() });
                }
            }
        },
        Msg::Back => {
            let last = questions::questions_for(Step::Capacity, w.topology()).count().saturating_sub(1);
            w.goto(Step::Capacity, last);
        }
        Msg::Char('s') => return Some(w.save_effect()),
        Msg::Char('q') => quit(w),
        Msg::Up | Msg::Down | Msg::FocusNext | Msg::FocusPrev => {
            if let ReviewState::Ready(r) = &mut w.review {
                let n = r.order.len();
                r.selected = match msg {
                    Msg::Up | Msg::FocusPrev => r.selected.checked_sub(1).unwrap_or(n.saturating_sub(1)),
                    _ => (r.selected + 1) % n.max(1),
                };
                r.scroll = 0;
            }
        }
        Msg::Scroll(n) => {
            if let ReviewState::Ready(r) = &mut w.review {
                r.scroll = r.scroll.saturating_add_signed(*n);
            }
        }
        _ => {}
    }
    None
}

fn reviewed(w: &mut Wizard, result: Result<ReviewData, String>) {
    w.review = match result {
        Ok(data) => {
            let mut order: Vec<usize> = (0..data.changes.len()).collect();
            order.sort_by_key(|&i| (paths::is_state(&data.changes[i].path), data.changes[i].path.clone()));
            let diffs = data
                .changes
                .iter()
                .map(|c| {
                    let report = output::dry_run_report(std::slice::from_ref(c), &data.bundle);
                    // The first line repeats the listing; the diff follows a blank line.
                    report.lines().skip(2).map(str::to_string).collect()
                })
                .collect();
            ReviewState::Ready(Box::new(Review { data, order, selected: 0, diffs, scroll: 0 }))
        }
        Err(e) => ReviewState::Failed(e),
    };
}

fn written(w: &mut Wizard, result: Result<Vec<Change>, String>) {
    match result {
        Ok(changes) => {
            w.saved = w.draft.clone();
            let stale = match &w.review {
                ReviewState::Ready(r) => r.data.stale.clone(),
                _ => Vec::new(),
            };
            let text = crate::output::write_summary(&w.out_dir, &changes, &stale);
            w.status = Status::Done(text);
        }
        Err(e) => w.notice = Some(format!("nothing written: {e}")),
    }
}

fn saved(w: &mut Wizard, result: Result<PathBuf, String>) {
    match result {
        Ok(path) => {
            w.saved = w.draft.clone();
            if w.quit_after_save {
                w.status = Status::Done(format!("saved the answers to {}; no bundle written\n", path.display()));
            } else {
                w.notice = Some(format!("saved the answers to {}", path.display()));
            }
        }
        Err(e) => w.notice = Some(format!("could not save the answers: {e}")),
    }
    w.quit_after_save = false;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answers::RawValue;

    fn wizard(draft: Draft) -> Wizard {
        Wizard::new(Init {
            draft,
            out_dir: "out".into(),
            answers_path: "answers.yaml".into(),
            color: false,
            env: super::super::preview::tests::env(),
        })
    }

    fn typed(w: &mut Wizard, text: &str) {
        for c in text.chars() {
            assert!(update(w, Msg::Char(c)).is_none());
        }
    }

    #[test]
    fn enter_through_defaults_reaches_review() {
        let mut w = wizard(Draft::default());
        assert_eq!(w.step, Step::Topology);
        update(&mut w, Msg::Accept);
        assert_eq!((w.step, w.field), (Step::Domain, 0));
        update(&mut w, Msg::Accept);
        assert_eq!(w.error.as_deref(), Some("is required"), "empty domain blocks");
        typed(&mut w, "app.example.com");
        let mut effect = None;
        for _ in 0..30 {
            effect = update(&mut w, Msg::Accept);
            if effect.is_some() {
                break;
            }
        }
        assert_eq!(w.step, Step::Review);
        let Some(Effect::Review { answers, .. }) = effect else { panic!("no review effect") };
        assert_eq!(answers.domain.as_str(), "app.example.com");
        assert!(w.unsaved());
    }

    #[test]
    fn defaults_keep_following_and_typing_edits() {
        let mut w = wizard(Draft::default());
        update(&mut w, Msg::ChoiceNext);
        assert_eq!(w.topology(), Topology::EndToEndTls);
        update(&mut w, Msg::ChoiceNext);
        // Back at the default: the key is left out of the draft again.
        assert_eq!(w.draft.given("topology"), None);
        update(&mut w, Msg::Accept);
        typed(&mut w, "ab");
        update(&mut w, Msg::CursorLeft);
        update(&mut w, Msg::Char('x'));
        update(&mut w, Msg::Home);
        update(&mut w, Msg::Delete);
        assert_eq!(w.input.text, "xb");
        update(&mut w, Msg::ClearInput);
        assert_eq!(w.draft.given("domain"), None);
    }

    #[test]
    fn esc_keeps_an_invalid_value_and_enter_blocks_on_it() {
        let mut d = Draft::default();
        d.set("domain", RawValue::Scalar("a.com".into()), None);
        let mut w = wizard(d);
        for _ in 0..5 {
            update(&mut w, Msg::Accept);
        }
        assert_eq!((w.step, w.focused().map(|q| q.key)), (Step::Hub, Some("hub.port")));
        update(&mut w, Msg::ClearInput);
        typed(&mut w, "80");
        update(&mut w, Msg::Accept);
        assert!(w.error.is_some());
        assert_eq!(w.step, Step::Hub);
        update(&mut w, Msg::FocusNext);
        assert_eq!(w.field, 0, "Tab does not move past an invalid field");
        update(&mut w, Msg::Back);
        assert_eq!(w.step, Step::Domain);
        assert_eq!(w.draft.given("hub.port"), Some(&RawValue::Scalar("80".into())));
        for _ in 0..4 {
            update(&mut w, Msg::Accept);
        }
        assert_eq!(w.input.text, "80");
        assert!(w.error.is_some(), "the error shows again on return");
    }

    #[test]
    fn quit_asks_only_when_unsaved() {
        let mut w = wizard(Draft::default());
        update(&mut w, Msg::Quit);
        assert_eq!(w.status, Status::Cancelled);
        let mut w = wizard(Draft::default());
        update(&mut w, Msg::ChoiceNext);
        update(&mut w, Msg::Quit);
        assert_eq!(w.overlay, Some(Overlay::ConfirmQuit));
        update(&mut w, Msg::No);
        assert_eq!((w.overlay.clone(), w.status.clone()), (None, Status::Running));
        update(&mut w, Msg::Quit);
        let Some(Effect::SaveAnswers { path, text }) = update(&mut w, Msg::Save) else { panic!("no save") };
        assert_eq!(path, PathBuf::from("answers.yaml"));
        assert!(text.contains("topology: 'end-to-end-tls'"));
        update(&mut w, Msg::Saved(Ok(path)));
        assert!(matches!(w.status, Status::Done(_)));
    }

    #[test]
    fn help_and_file_cycling() {
        let mut w = wizard(Draft::default());
        update(&mut w, Msg::ToggleHelp);
        assert!(matches!(w.overlay, Some(Overlay::Help { .. })));
        update(&mut w, Msg::Accept);
        assert_eq!(w.overlay, None);
        assert_eq!(w.step, Step::Topology, "Enter closes the help without accepting");
        let first = w.preview_target().unwrap().0;
        assert_eq!(first, "nginx/example.com.conf");
        update(&mut w, Msg::NextFile);
        let second = w.preview_target().unwrap().0;
        assert_ne!(first, second);
        update(&mut w, Msg::PrevFile);
        assert_eq!(w.preview_target().unwrap().0, first);
    }
}
