//! The wizard's state, its messages and the pure `update` that moves between them.
//!
//! `update` never touches the terminal or the file system: work that does (generate
//! the bundle for review, write it, save the answers) is returned as an [`Effect`]
//! and its outcome comes back as a [`Msg`].

use std::path::PathBuf;

use crate::alerts::{Alert, deployment_alerts};
use crate::answers::{Answers, Draft, Warning};
use crate::answers_file::{raw_from_text, raw_to_text, write_commented};
use crate::bundle::{Bundle, paths};
use crate::deployment::Topology;
use crate::output::{self, FileChange, FileStatus};
use crate::questions::{self, Kind, Question, Step};

use super::preview::{Preview, PreviewEnv};

/// A window over the screen that takes the keys until it is closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overlay {
    /// The focused question's teaching text.
    Help { scroll: u16 },
    /// Ctrl-C with unsaved answers.
    ConfirmQuit,
    /// Enter on the review when these files were edited by hand.
    ConfirmOverwrite(Vec<String>),
    /// Saving the answers would replace a file that is already there (its comments
    /// would be lost): overwrite, write beside it, or keep it.
    ConfirmSave,
    /// The previewed file full screen, long lines wrapped; `scroll` counts file rows.
    Zoom { scroll: u16 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunState {
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
    pub changes: Vec<FileChange>,
    pub warnings: Vec<Warning>,
    /// Secrets or certificates made anew (never their values).
    pub notes: Vec<String>,
    /// Files the last render wrote that this bundle no longer has.
    pub stale: Vec<String>,
    /// Whether the output folder already existed.
    pub existing: bool,
    /// The folder's `.state/` files (path, contents) as they were when the bundle was
    /// generated: the write refuses to go ahead if they changed since.
    pub state_seen: Vec<(String, Vec<u8>)>,
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
    /// The answers the bundle was generated from (the write generates again from them).
    pub answers: Answers,
    /// In words, what this write changes for a deployment already made from the folder:
    /// another topology, another hub address, new keys. Shown at the top of the review.
    pub alerts: Vec<Alert>,
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
    /// In the save dialog: write beside the existing answers file instead.
    SaveBeside,
    /// Straight to the review (once every answer is valid).
    JumpReview,
    /// Show the previewed file full screen (or close that view).
    Zoom,
    /// Ctrl-C.
    Quit,
    Yes,
    No,
    Reviewed(Box<Result<ReviewData, String>>),
    Written(Result<Vec<FileChange>, WriteFailure>),
    Saved(Result<PathBuf, String>),
}

/// Side effects `update` asks for; [`super::perform`] carries them out.
#[derive(Debug, Clone)]
pub enum Effect {
    /// Generate the bundle (`generate::generate`) and compare it with the folder.
    Review { answers: Box<Answers>, warnings: Vec<Warning>, out_dir: PathBuf },
    /// Write the reviewed bundle with `output::write`, under the folder's lock, after
    /// checking that the folder's state is still what the review saw (and generating
    /// again from `answers` to compare).
    Write { bundle: Bundle, answers: Box<Answers>, state_seen: Vec<(String, Vec<u8>)>, out_dir: PathBuf, force: bool },
    /// Write only the answers file with `output::write_single`; replaces an existing
    /// file only when `overwrite`.
    SaveAnswers { path: PathBuf, text: String, overwrite: bool },
}

/// Why a write did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteFailure {
    /// The folder changed between the review and the write: review again.
    Changed(String),
    Other(String),
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
    /// Pre-filled answers (from `--answers`, or the bundle in `--out`), or empty.
    pub draft: Draft,
    pub out_dir: PathBuf,
    /// Where the answers-only save goes.
    pub answers_path: PathBuf,
    /// `false` under `NO_COLOR`.
    pub color: bool,
    pub env: PreviewEnv,
    /// What is being edited, for the header ("editing ./bundle"); `None` for a new bundle.
    pub editing: Option<String>,
    /// The answers of the bundle already in `out_dir` (its `answers.yaml`), which the
    /// review compares with to warn about changes that affect a deployment.
    pub deployed: Option<Answers>,
    /// Whether `answers_path` exists: saving then asks before replacing it.
    pub answers_exists: bool,
}

impl Init {
    /// A wizard for a new bundle: nothing loaded, nothing deployed.
    pub fn new(draft: Draft, out_dir: PathBuf, answers_path: PathBuf, color: bool, env: PreviewEnv) -> Init {
        Init { draft, out_dir, answers_path, color, env, editing: None, deployed: None, answers_exists: false }
    }
}

/// The whole state of the wizard.
pub struct Wizard {
    pub step: Step,
    /// Index of the focused field among the step's visible questions.
    pub field: usize,
    pub draft: Draft,
    pub input: Input,
    /// The validator's message for the focused field.
    pub error: Option<String>,
    pub overlay: Option<Overlay>,
    pub status: RunState,
    /// A one-line message (saved, failed to write, ...), cleared by the next key.
    pub notice: Option<String>,
    pub out_dir: PathBuf,
    pub answers_path: PathBuf,
    pub color: bool,
    pub preview: Preview,
    pub review: ReviewState,
    /// What is being edited ("./bundle", "answers.yaml"), for the header.
    pub editing: Option<String>,
    /// The furthest step reached (every step when resuming), for the step tabs.
    pub reached: Step,
    /// Lines the topology step's teaching text is scrolled by.
    pub teach_scroll: u16,
    /// The draft as last saved or written (or as loaded).
    saved: Draft,
    quit_after_save: bool,
    env: PreviewEnv,
    deployed: Option<Answers>,
    /// Saving asks first while this is set (the answers file exists and is the user's).
    ask_before_save: bool,
    /// The answers the pending review was asked for.
    reviewing: Option<Answers>,
}

/// Lines PgUp/PgDn scroll.
pub const PAGE: i16 = 10;

impl Wizard {
    pub fn new(init: Init) -> Wizard {
        let resumed = init.deployed.is_some() || init.editing.is_some();
        let mut w = Wizard {
            step: Step::Topology,
            field: 0,
            saved: init.draft.clone(),
            draft: init.draft,
            input: Input::default(),
            error: None,
            overlay: None,
            status: RunState::Running,
            notice: None,
            out_dir: init.out_dir,
            answers_path: init.answers_path,
            color: init.color,
            preview: Preview::default(),
            review: ReviewState::Pending,
            quit_after_save: false,
            env: init.env,
            editing: init.editing,
            reached: if resumed { Step::Review } else { Step::Topology },
            teach_scroll: 0,
            deployed: init.deployed,
            ask_before_save: init.answers_exists,
            reviewing: None,
        };
        w.preview.refresh(&w.draft, &w.env);
        // Changes are marked against the answers as they were at the start: the
        // defaults, or the loaded bundle.
        w.preview.set_origin();
        w.load_field();
        w
    }

    /// Whether every answer is valid, so the review can be shown.
    pub fn valid(&self) -> bool {
        Answers::from_draft(&self.draft).is_ok()
    }

    /// Per step of the wizard: `Some(true)` done, `Some(false)` has an invalid answer,
    /// `None` not reached yet.
    pub fn step_marks(&self) -> Vec<(Step, Option<bool>)> {
        let errors = Answers::from_draft(&self.draft).err().unwrap_or_default();
        Step::ALL
            .iter()
            .map(|&step| {
                if step == Step::Review {
                    return (step, None);
                }
                let bad = questions::questions_for(step, self.topology()).any(|q| {
                    errors.iter().any(|e| e.key == q.key) && (step < self.reached || self.draft.given(q.key).is_some())
                });
                let mark = if bad {
                    Some(false)
                } else if step < self.reached
                    || (step == self.reached && self.reached == Step::Capacity && self.step == Step::Review)
                {
                    Some(true)
                } else {
                    None
                };
                (step, mark)
            })
            .collect()
    }

    /// The chosen topology (the default until one is chosen).
    pub fn topology(&self) -> Topology {
        self.draft.topology().unwrap_or_default()
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
        // Automatic scrolling follows what changes from here on.
        self.preview.rebase();
        self.preview.pinned = None;
        self.preview.scroll = None;
    }

    /// Stores the input in the draft: a value equal to the default is left out, so the
    /// key keeps following its default (e.g. hub.port after a topology change).
    fn store_input(&mut self) {
        let Some(q) = self.focused() else { return };
        self.draft.remove(q.key);
        let default = raw_to_text(&(q.default)(&self.draft.basis()));
        if self.input.text != default {
            self.draft.set(q.key, raw_from_text(q.key, &self.input.text), None);
        }
        self.error = None;
        self.preview.refresh(&self.draft, &self.env);
    }

    fn goto(&mut self, step: Step, field: usize) {
        self.step = step;
        self.field = field;
        if step > self.reached {
            self.reached = step;
        }
        self.load_field();
    }

    /// The key's step and index among the visible fields, if it is visible.
    fn locate(&self, key: &str) -> Option<(Step, usize)> {
        let q = questions::question(key)?;
        let index = questions::questions_for(q.step, self.topology()).position(|v| v.key == key)?;
        Some((q.step, index))
    }

    fn answers_text(&self) -> String {
        let header = format!(
            "mercure-setup {} answers file, saved by the wizard. Render it with:\n  \
             mercure-setup render --answers FILE BUNDLE",
            env!("CARGO_PKG_VERSION")
        );
        write_commented(&self.draft, &header)
    }

    /// Ctrl-S, `s`: save the answers, asking first when that would replace a file.
    fn request_save(&mut self) -> Option<Effect> {
        if self.ask_before_save {
            self.overlay = Some(Overlay::ConfirmSave);
            return None;
        }
        Some(Effect::SaveAnswers { path: self.answers_path.clone(), text: self.answers_text(), overwrite: true })
    }

    /// Where "write beside it" saves: `NAME.wizard.yaml` next to the answers file.
    pub fn beside_path(&self) -> PathBuf {
        let stem = self.answers_path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        self.answers_path.with_file_name(format!("{stem}.wizard.yaml"))
    }

    /// Asks the edge for the review of the current answers.
    fn review_effect(&mut self, answers: Answers, warnings: Vec<Warning>) -> Effect {
        self.step = Step::Review;
        self.reached = Step::Review;
        self.review = ReviewState::Pending;
        self.error = None;
        self.reviewing = Some(answers.clone());
        Effect::Review { answers: Box::new(answers), warnings, out_dir: self.out_dir.clone() }
    }
}

/// The first invalid field among `fields`, by one validation of the whole draft,
/// with every problem of that field (one per line).
fn field_errors(draft: &Draft, fields: &[&Question]) -> Option<(usize, String)> {
    let errors = Answers::from_draft(draft).err()?;
    fields.iter().enumerate().find_map(|(i, q)| {
        let mine: Vec<&str> = errors.iter().filter(|e| e.key == q.key).map(|e| e.message.as_str()).collect();
        (!mine.is_empty()).then(|| (i, mine.join("\n")))
    })
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
        return overlay_update(w, &overlay, &msg);
    }
    match msg {
        Msg::Quit => {
            quit(w);
            None
        }
        Msg::Save => w.request_save(),
        Msg::ToggleHelp => {
            w.overlay = Some(Overlay::Help { scroll: 0 });
            None
        }
        Msg::Zoom if w.step != Step::Review => {
            // Full screen from where the side pane is.
            let scroll = w
                .preview_target()
                .map_or(0, |(path, anchor)| w.preview.scroll.unwrap_or_else(|| w.preview.auto_scroll(&path, anchor)));
            w.overlay = Some(Overlay::Zoom { scroll });
            None
        }
        Msg::JumpReview if w.step != Step::Review => jump_review(w),
        _ if w.step == Step::Review => review_update(w, &msg),
        _ => form_update(w, &msg),
    }
}

fn quit(w: &mut Wizard) {
    if w.unsaved() {
        w.overlay = Some(Overlay::ConfirmQuit);
    } else {
        w.status = RunState::Cancelled;
    }
}

fn overlay_update(w: &mut Wizard, overlay: &Overlay, msg: &Msg) -> Option<Effect> {
    match (overlay, msg) {
        (Overlay::Help { scroll } | Overlay::Zoom { scroll }, Msg::Scroll(_) | Msg::Up | Msg::Down) => {
            let n = match msg {
                Msg::Scroll(n) => *n,
                Msg::Up => -1,
                _ => 1,
            };
            let scroll = scroll.saturating_add_signed(n);
            w.overlay = Some(match overlay {
                Overlay::Zoom { .. } => {
                    let rows = w.preview_target().map_or(0, |(path, _)| w.preview.rows(&path).len());
                    Overlay::Zoom { scroll: scroll.min(u16::try_from(rows.saturating_sub(1)).unwrap_or(u16::MAX)) }
                }
                _ => Overlay::Help { scroll },
            });
        }
        (Overlay::Zoom { .. }, Msg::NextFile | Msg::PrevFile) => {
            let current = w.preview_target().map(|(p, _)| p);
            w.preview.pinned = w.preview.cycle(current.as_deref(), matches!(msg, Msg::NextFile));
            w.overlay = Some(Overlay::Zoom { scroll: 0 });
        }
        (Overlay::Help { .. }, Msg::ToggleHelp | Msg::Accept)
        | (Overlay::Zoom { .. }, Msg::Zoom | Msg::Accept)
        | (
            Overlay::Help { .. }
            | Overlay::Zoom { .. }
            | Overlay::ConfirmQuit
            | Overlay::ConfirmOverwrite(_)
            | Overlay::ConfirmSave,
            Msg::No | Msg::Back,
        ) => {
            w.overlay = None;
            if matches!(overlay, Overlay::ConfirmSave) {
                w.quit_after_save = false;
            }
        }
        (
            Overlay::Help { .. } | Overlay::Zoom { .. } | Overlay::ConfirmOverwrite(_) | Overlay::ConfirmSave,
            Msg::Quit,
        ) => {
            w.overlay = None;
            w.quit_after_save = false;
            quit(w);
        }
        // A second Ctrl-C means it.
        (Overlay::ConfirmQuit, Msg::Yes | Msg::Quit) => {
            w.overlay = None;
            w.status = RunState::Cancelled;
        }
        (Overlay::ConfirmQuit, Msg::Save) => {
            w.overlay = None;
            w.quit_after_save = true;
            return w.request_save();
        }
        (Overlay::ConfirmSave, Msg::Yes | Msg::Save) => {
            w.overlay = None;
            return Some(Effect::SaveAnswers { path: w.answers_path.clone(), text: w.answers_text(), overwrite: true });
        }
        (Overlay::ConfirmSave, Msg::SaveBeside) => {
            w.overlay = None;
            return Some(Effect::SaveAnswers { path: w.beside_path(), text: w.answers_text(), overwrite: false });
        }
        (Overlay::ConfirmOverwrite(_), Msg::Yes) => {
            w.overlay = None;
            return write_effect(w, true);
        }
        _ => {}
    }
    None
}

fn form_update(w: &mut Wizard, msg: &Msg) -> Option<Effect> {
    let q = w.focused()?;
    match msg {
        // Type-ahead: text typed on the topology screen accepts the highlighted topology
        // and starts the domain afresh (replacing one loaded before), so "type a domain,
        // press Enter through the defaults" works.
        Msg::Char(c) if w.step == Step::Topology && matches!(q.kind, Kind::Choice(_)) => {
            let effect = accept(w, q);
            if w.step != Step::Topology && w.focused().is_some_and(|n| matches!(n.kind, Kind::Text | Kind::List)) {
                w.input = Input::default();
                w.store_input();
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
        // The topology step has one field: the arrows scroll its teaching text.
        Msg::Up | Msg::Down if w.step == Step::Topology => {
            w.teach_scroll = w.teach_scroll.saturating_add_signed(if matches!(msg, Msg::Up) { -1 } else { 1 });
        }
        // Tab past the last field goes on to the next step, as Enter does.
        Msg::FocusNext if w.field + 1 >= w.fields().len() => return accept(w, q),
        Msg::FocusNext | Msg::Down => {
            if let Some(e) = field_errors(&w.draft, &[q]).map(|(_, e)| e) {
                w.error = Some(e);
            } else if w.field + 1 < w.fields().len() {
                w.goto(w.step, w.field + 1);
            }
        }
        Msg::FocusPrev | Msg::Up => {
            if w.field > 0 {
                w.goto(w.step, w.field - 1);
            } else if matches!(msg, Msg::FocusPrev) {
                // Shift-Tab on a step's first field: the previous step's last field.
                if w.step == Step::Topology {
                    w.notice = Some("this is the first question".into());
                } else {
                    let step = prev_step(w.step);
                    let last = questions::questions_for(step, w.topology()).count().saturating_sub(1);
                    w.goto(step, last);
                }
            }
        }
        Msg::NextFile | Msg::PrevFile => {
            let current = w.preview_target().map(|(p, _)| p);
            w.preview.pinned = w.preview.cycle(current.as_deref(), matches!(msg, Msg::NextFile));
            w.preview.scroll = Some(0);
        }
        Msg::Scroll(n) => scroll_preview(w, *n),
        _ => {}
    }
    None
}

fn scroll_preview(w: &mut Wizard, n: i16) {
    let Some((path, anchor)) = w.preview_target() else { return };
    // Manual scrolling starts from where the automatic position left the view.
    let from = w.preview.scroll.unwrap_or_else(|| w.preview.auto_scroll(&path, anchor));
    let len = w.preview.rows(&path).len();
    let max = u16::try_from(len.saturating_sub(1)).unwrap_or(u16::MAX);
    w.preview.scroll = Some(from.saturating_add_signed(n).min(max));
}

/// Ctrl-R: the review, when every answer is valid; else the first invalid field.
fn jump_review(w: &mut Wizard) -> Option<Effect> {
    match Answers::from_draft(&w.draft) {
        Ok((answers, warnings)) => Some(w.review_effect(answers, warnings)),
        Err(errors) => {
            let first = errors.first()?;
            match w.locate(&first.key) {
                Some((step, i)) => {
                    w.goto(step, i);
                    w.error = field_errors(&w.draft, &[w.focused()?]).map(|(_, e)| e);
                    w.notice = Some("not every answer is valid yet: fix this one first".into());
                }
                None => w.notice = Some(format!("{first} (fix it in the answers file)")),
            }
            None
        }
    }
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
        Ok((answers, warnings)) => Some(w.review_effect(answers, warnings)),
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

fn write_effect(w: &Wizard, force: bool) -> Option<Effect> {
    let ReviewState::Ready(r) = &w.review else { return None };
    Some(Effect::Write {
        bundle: r.data.bundle.clone(),
        answers: Box::new(r.answers.clone()),
        state_seen: r.data.state_seen.clone(),
        out_dir: w.out_dir.clone(),
        force,
    })
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
                    return write_effect(w, false);
                }
                w.overlay = Some(Overlay::ConfirmOverwrite(edited));
            }
            // Try again (e.g. after fixing a folder permission, or after the folder changed).
            ReviewState::Failed(_) | ReviewState::Pending => {
                if let Ok((answers, warnings)) = Answers::from_draft(&w.draft) {
                    return Some(w.review_effect(answers, warnings));
                }
            }
        },
        Msg::Back => {
            let last = questions::questions_for(Step::Capacity, w.topology()).count().saturating_sub(1);
            w.goto(Step::Capacity, last);
        }
        Msg::Char('s') => return w.request_save(),
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
    let answers = w.reviewing.take();
    w.review = match (result, answers) {
        (Ok(data), Some(answers)) => {
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
            let alerts = deployment_alerts(w.deployed.as_ref(), &answers, &data.notes, data.existing);
            ReviewState::Ready(Box::new(Review { data, order, selected: 0, diffs, scroll: 0, answers, alerts }))
        }
        (Ok(_), None) => ReviewState::Failed("no review was asked for".into()),
        (Err(e), _) => ReviewState::Failed(e),
    };
}

fn written(w: &mut Wizard, result: Result<Vec<FileChange>, WriteFailure>) {
    match result {
        Ok(changes) => {
            w.saved = w.draft.clone();
            let stale = match &w.review {
                ReviewState::Ready(r) => r.data.stale.clone(),
                _ => Vec::new(),
            };
            let text = crate::output::write_summary(&w.out_dir, &changes, &stale);
            w.status = RunState::Done(text);
        }
        // What was reviewed is no longer what would be written: show why, Enter reviews again.
        Err(WriteFailure::Changed(e)) => w.review = ReviewState::Failed(e),
        Err(WriteFailure::Other(e)) => w.notice = Some(format!("nothing written: {e}")),
    }
}

fn saved(w: &mut Wizard, result: Result<PathBuf, String>) {
    match result {
        Ok(path) => {
            w.saved = w.draft.clone();
            if path == w.answers_path {
                // Replaced once with the user's say-so: later saves in this run go there too.
                w.ask_before_save = false;
            }
            if w.quit_after_save {
                w.status = RunState::Done(format!("saved the answers to {}; no bundle written\n", path.display()));
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
    use crate::questions::RawValue;

    fn wizard(draft: Draft) -> Wizard {
        Wizard::new(Init::new(draft, "out".into(), "answers.yaml".into(), false, super::super::preview::tests::env()))
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
        let domain_fields = crate::questions::questions_for(Step::Domain, Topology::default()).count();
        for _ in 0..=domain_fields {
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
        for _ in 0..domain_fields {
            update(&mut w, Msg::Accept);
        }
        assert_eq!(w.input.text, "80");
        assert!(w.error.is_some(), "the error shows again on return");
    }

    #[test]
    fn quit_asks_only_when_unsaved() {
        let mut w = wizard(Draft::default());
        update(&mut w, Msg::Quit);
        assert_eq!(w.status, RunState::Cancelled);
        let mut w = wizard(Draft::default());
        update(&mut w, Msg::ChoiceNext);
        update(&mut w, Msg::Quit);
        assert_eq!(w.overlay, Some(Overlay::ConfirmQuit));
        update(&mut w, Msg::No);
        assert_eq!((w.overlay.clone(), w.status.clone()), (None, RunState::Running));
        update(&mut w, Msg::Quit);
        let Some(Effect::SaveAnswers { path, text, .. }) = update(&mut w, Msg::Save) else { panic!("no save") };
        assert_eq!(path, PathBuf::from("answers.yaml"));
        assert!(text.contains("topology: 'end-to-end-tls'"));
        update(&mut w, Msg::Saved(Ok(path)));
        assert!(matches!(w.status, RunState::Done(_)));
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
