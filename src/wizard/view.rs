//! Drawing: `view(&Wizard, &mut Frame)` reads the state and lays it out; it changes
//! nothing. Two layouts: side by side from 110 columns, stacked below (80x24 works).
//! The form always has the keys; the preview is read with its own keys (PgUp/PgDn,
//! ^N/^P) and shown full screen with ^F, long lines wrapped in both.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use crate::answers_file::raw_to_text;
use crate::bundle::paths;
use crate::questions::{Kind, Question, Step};
use crate::teaching::{self, SEED_MISTAKES, wrap};

use super::preview::Mark;
use super::state::{Overlay, ReviewState, Wizard};

/// Widths from which the form and the preview sit side by side.
const WIDE: u16 = 110;

/// Styles; without colour (`NO_COLOR`) only bold and reverse remain.
struct Theme {
    accent: Style,
    dim: Style,
    error: Style,
    changed: Style,
    selected: Style,
    added: Style,
    removed: Style,
    key: Style,
}

impl Theme {
    fn new(color: bool) -> Theme {
        let bold = Style::new().add_modifier(Modifier::BOLD);
        if color {
            Theme {
                accent: bold.fg(Color::Cyan),
                dim: Style::new().fg(Color::DarkGray),
                error: bold.fg(Color::Red),
                changed: Style::new().fg(Color::Black).bg(Color::Yellow),
                selected: Style::new().add_modifier(Modifier::REVERSED),
                added: Style::new().fg(Color::Green),
                removed: Style::new().fg(Color::Red),
                key: bold.fg(Color::Cyan),
            }
        } else {
            Theme {
                accent: bold,
                dim: Style::new(),
                error: bold,
                changed: bold,
                selected: Style::new().add_modifier(Modifier::REVERSED),
                added: Style::new(),
                removed: Style::new(),
                key: bold,
            }
        }
    }
}

/// Short step names for the header.
fn short(step: Step) -> &'static str {
    match step {
        Step::Topology => "Topology",
        Step::Domain => "Domain",
        Step::Hub => "Hub",
        Step::Access => "Access",
        Step::Jwt => "JWT",
        Step::Symfony => "Symfony",
        Step::Capacity => "Capacity",
        Step::Review => "Review",
    }
}

fn step_number(step: Step) -> usize {
    Step::ALL.iter().position(|s| *s == step).unwrap_or(0) + 1
}

/// Wraps `text` under a first-line marker such as `✗ `, continuation lines indented
/// to match.
fn hang(text: &str, cols: usize, indent: &str, marker: &str) -> Vec<String> {
    let pad = " ".repeat(marker.chars().count());
    let mut lines = wrap(text, cols, &format!("{indent}{pad}"));
    if let Some(first) = lines.first_mut() {
        *first = format!("{indent}{marker}{}", first.trim_start());
    }
    lines
}

fn width(area: Rect) -> usize {
    usize::from(area.width)
}

fn to_u16(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

/// Draws the whole screen.
pub fn view(w: &Wizard, f: &mut Frame) {
    let t = Theme::new(w.color);
    let area = f.area();
    let notice_height = u16::from(w.notice.is_some());
    let [header, body, notice, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(notice_height),
        Constraint::Length(1),
    ])
    .areas(area);
    f.render_widget(Paragraph::new(header_line(w, &t, area.width)), header);
    if w.step == Step::Review {
        draw_review(w, f, body, &t);
    } else {
        // Stacked, the form takes only the lines it needs and the preview the rest.
        let needed = (w.step != Step::Topology).then(|| field_lines(w, usize::from(body.width), &t).lines.len() + 1);
        let (form, preview, wide) = split(body, needed);
        draw_form(w, f, form, &t);
        draw_preview(w, f, preview, wide, &t);
    }
    if let Some(n) = &w.notice {
        f.render_widget(Paragraph::new(Line::styled(format!(" {n}"), t.error)), notice);
    }
    f.render_widget(Paragraph::new(footer_line(w, &t, area.width)), footer);
    if let Some(overlay) = &w.overlay {
        draw_overlay(w, overlay, f, area, &t);
    }
}

fn split(area: Rect, needed: Option<usize>) -> (Rect, Rect, bool) {
    if area.width >= WIDE {
        let [l, r] = Layout::horizontal([Constraint::Percentage(52), Constraint::Percentage(48)]).areas(area);
        (l, r, true)
    } else {
        let least = (area.height / 3).max(5);
        let preview = needed.map_or(least, |n| least.max(area.height.saturating_sub(to_u16(n))));
        let [t, b] = Layout::vertical([Constraint::Min(0), Constraint::Length(preview)]).areas(area);
        (t, b, false)
    }
}

fn header_line(w: &Wizard, t: &Theme, cols: u16) -> Line<'static> {
    let mut spans = Vec::new();
    if cols >= 100 {
        spans.push(Span::styled(" mercure-setup ", t.accent));
        spans.push(Span::raw("│"));
    }
    // Narrow screens name only the current step; the others keep their number and mark.
    let named = cols >= 90;
    for (step, mark) in w.step_marks() {
        let sign = match mark {
            Some(true) => "✓",
            Some(false) => "✗",
            None => "",
        };
        let name = if named || step == w.step { format!(" {}", short(step)) } else { String::new() };
        let label = format!(" {}{name}{sign} ", step_number(step));
        let style = match (step == w.step, mark) {
            (true, _) => t.selected.add_modifier(Modifier::BOLD),
            (false, Some(false)) => t.error,
            (false, None) if step > w.step => t.dim,
            _ => Style::new(),
        };
        spans.push(Span::styled(label, style));
    }
    if let Some(editing) = &w.editing {
        spans.push(Span::raw("│ "));
        spans.push(Span::styled(editing.clone(), t.accent));
    }
    Line::from(spans)
}

fn footer_line(w: &Wizard, t: &Theme, cols: u16) -> Line<'static> {
    let wide = cols >= 100;
    let keys: Vec<(&str, &str)> = match (&w.overlay, w.step, wide) {
        (Some(Overlay::Help { .. }), _, _) => vec![("Esc", "close"), ("↑/↓ PgUp/PgDn", "scroll")],
        (Some(Overlay::Zoom { .. }), _, _) => {
            vec![("Esc", "close"), ("↑/↓ PgUp/PgDn", "scroll"), ("←/→", "other file"), ("^C", "quit")]
        }
        (Some(Overlay::ConfirmQuit), _, _) => vec![("y", "quit"), ("s", "save, then quit"), ("n", "stay")],
        (Some(Overlay::ConfirmSave), _, _) => vec![("y", "overwrite"), ("b", "write beside"), ("n", "cancel")],
        (Some(Overlay::ConfirmOverwrite(_)), _, _) => vec![("y", "overwrite"), ("n", "keep them")],
        (None, Step::Review, true) => vec![
            ("Enter", "write bundle"),
            ("s", "save answers only"),
            ("↑/↓", "file"),
            ("PgUp/PgDn", "scroll diff"),
            ("Esc", "back"),
            ("?", "help"),
            ("^C", "quit"),
        ],
        (None, Step::Review, false) => {
            vec![
                ("Enter", "write"),
                ("s", "save answers"),
                ("Esc", "back"),
                ("?", "help"),
                ("↑/↓", "file"),
                ("PgDn", "diff"),
            ]
        }
        (None, step, true) => {
            let mut k = vec![("Enter", "next"), ("Esc", "back")];
            if step == Step::Topology {
                k.extend([("←/→", "choose"), ("↑/↓", "scroll text")]);
            } else {
                k.push(("Tab/S-Tab", "field"));
            }
            if w.valid() {
                k.push(("^R", "review"));
            }
            k.extend([("?", "explain"), ("^N/^P", "file"), ("PgUp/PgDn", "scroll"), ("^F", "zoom")]);
            k.extend([("^S", "save"), ("^C", "quit")]);
            k
        }
        (None, _, false) => {
            let mut k = vec![("Enter", "next"), ("Esc", "back")];
            if w.valid() {
                k.push(("^R", "review"));
            }
            k.extend([("?", "explain"), ("^C", "quit"), ("^S", "save"), ("^F", "zoom"), ("^N", "file")]);
            k
        }
    };
    // Keys that do not fit are left out (the list puts the essential ones first)
    // rather than cut in the middle.
    let mut spans = vec![Span::raw(" ")];
    let mut used = 1;
    for (key, what) in keys {
        let len = key.chars().count() + what.chars().count() + 3;
        if used + len > usize::from(cols) + 2 {
            continue;
        }
        used += len;
        spans.push(Span::styled(key, t.key));
        spans.push(Span::raw(format!(" {what}  ")));
    }
    Line::from(spans)
}

/// The step's block with its title; returns the inner area.
fn titled_block(f: &mut Frame, area: Rect, title: String, borders: Borders, focused: bool, t: &Theme) -> Rect {
    let style = if focused { t.accent } else { Style::new().add_modifier(Modifier::BOLD) };
    let block = Block::new().borders(borders).title(Span::styled(title, style));
    let inner = block.inner(area);
    f.render_widget(block, area);
    inner
}

fn draw_form(w: &Wizard, f: &mut Frame, area: Rect, t: &Theme) {
    let title = format!(" {}/{} {} ", step_number(w.step), Step::ALL.len(), w.step.title());
    let inner = titled_block(f, area, title, Borders::TOP, true, t);
    if w.step == Step::Topology {
        draw_topology(w, f, inner, t);
    } else {
        draw_fields(w, f, inner, t);
    }
}

/// The topology step: the question, the two options side by side, and (when there is
/// room) the blog post's mistakes.
fn draw_topology(w: &Wizard, f: &mut Frame, area: Rect, t: &Theme) {
    let Some(q) = w.focused() else { return };
    let [prompt_area, cards_area] = Layout::vertical([Constraint::Length(2), Constraint::Min(0)]).areas(area);
    let chosen = w.topology();
    let cols = card_columns(cards_area, teaching::cards().count());
    let cards: Vec<Vec<Line>> = teaching::cards()
        .zip(cols.iter())
        .map(|(card, col)| card_lines(card, card.topology == chosen, width(*col).saturating_sub(1), t))
        .collect();
    let height = cards.iter().map(Vec::len).max().unwrap_or(0);
    let mistakes = mistake_lines(width(area), t);
    // The cards, a blank line and the blog post's mistakes scroll together (↑/↓).
    let total = height + 1 + mistakes.len();
    let max = total.saturating_sub(usize::from(cards_area.height));
    let scroll = usize::from(w.teach_scroll).min(max);
    let more = match (scroll > 0, scroll < max) {
        (false, false) => "",
        (false, true) => "  ↓ more: ↑/↓ scroll",
        (true, true) => "  ↑↓ more: ↑/↓ scroll",
        (true, false) => "  ↑ more above",
    };
    f.render_widget(
        Paragraph::new(vec![
            Line::styled(format!("› {}", q.prompt), t.accent),
            Line::styled(format!("  ←/→ choose · or type the domain{more}"), t.dim),
        ]),
        prompt_area,
    );
    for (lines, col) in cards.into_iter().zip(cols.iter()) {
        f.render_widget(Paragraph::new(lines).scroll((to_u16(scroll), 0)), *col);
    }
    let shown_cards = (height + 1).saturating_sub(scroll);
    let rest_y = cards_area.y.saturating_add(to_u16(shown_cards));
    if rest_y < cards_area.bottom() {
        let rest = Rect::new(area.x, rest_y, area.width, cards_area.bottom() - rest_y);
        let skip = scroll.saturating_sub(height + 1);
        f.render_widget(Paragraph::new(mistakes).scroll((to_u16(skip), 0)), rest);
    }
}

/// One column per topology card, of equal width, a blank column between them.
fn card_columns(area: Rect, n: usize) -> Vec<Rect> {
    let n = n.max(1);
    let share = Constraint::Percentage(u16::try_from(100 / n).unwrap_or(1));
    let mut constraints = Vec::new();
    for i in 0..n {
        if i > 0 {
            constraints.push(Constraint::Length(1));
        }
        constraints.push(share);
    }
    Layout::horizontal(constraints).split(area).iter().step_by(2).copied().collect()
}

fn card_lines(card: &teaching::TopologyCard, selected: bool, cols: usize, t: &Theme) -> Vec<Line<'static>> {
    let mark = if selected { "(•)" } else { "( )" };
    let title_style = if selected { t.selected.add_modifier(Modifier::BOLD) } else { Style::new() };
    let mut lines = vec![
        Line::styled(format!("{mark} {}", card.topology.as_str()), title_style),
        Line::styled(format!("    {}", card.tagline), t.dim),
    ];
    for hop in card.path {
        lines.extend(wrap(hop, cols, "  ").into_iter().map(Line::raw));
    }
    for (label, text) in [("Protects", card.protects), ("Costs", card.costs)] {
        let mut wrapped = wrap(&format!("{label}: {text}"), cols, "").into_iter();
        if let Some(first) = wrapped.next() {
            let rest = first.strip_prefix(&format!("{label}:")).unwrap_or(&first).to_string();
            lines.push(Line::from(vec![Span::styled(format!("{label}:"), t.accent), Span::raw(rest)]));
        }
        lines.extend(wrapped.map(Line::raw));
    }
    lines
}

fn mistake_lines(cols: usize, t: &Theme) -> Vec<Line<'static>> {
    let mut lines = vec![Line::styled("What a widely copied blog post gets wrong:", t.accent)];
    for m in SEED_MISTAKES {
        lines.extend(hang(m.snippet, cols, "", "✗ ").into_iter().map(|l| Line::styled(l, t.error)));
        lines.extend(wrap(m.why, cols, "  ").into_iter().map(Line::raw));
    }
    lines
}

/// The value a field shows when not focused.
fn shown_value(w: &Wizard, q: &Question) -> String {
    let v = raw_to_text(&w.draft.value(q.key));
    if v.is_empty() { "(none)".into() } else { v }
}

/// The focused step's fields as lines, with where the focused one ends and where
/// the text cursor goes (line, column).
struct FormLines {
    lines: Vec<Line<'static>>,
    focus_end: usize,
    cursor: Option<(usize, usize)>,
}

fn field_lines(w: &Wizard, cols: usize, t: &Theme) -> FormLines {
    let mut lines: Vec<Line> = Vec::new();
    let mut focus_end = 0;
    let mut cursor = None;
    for (i, q) in w.fields().into_iter().enumerate() {
        if i != w.field {
            lines
                .push(Line::from(vec![Span::styled(format!("  {}: ", q.prompt), t.dim), Span::raw(shown_value(w, q))]));
            continue;
        }
        lines.push(Line::styled(format!("› {}", q.prompt), t.accent));
        match q.kind {
            Kind::Choice(options) => lines.push(choice_line(options, &w.input.text, t)),
            Kind::Bool => lines.push(choice_line(&["false", "true"], &w.input.text, t)),
            Kind::Text | Kind::List => {
                // Long values scroll sideways so the cursor stays visible.
                let room = cols.saturating_sub(5).max(1);
                let chars: Vec<char> = w.input.text.chars().collect();
                let first = (w.input.cursor + 1).saturating_sub(room);
                let shown: String = chars.iter().skip(first).take(room).collect();
                cursor = Some((lines.len(), 4 + w.input.cursor - first));
                lines.push(Line::from(vec![Span::styled("  > ", t.accent), Span::raw(shown)]));
            }
        }
        match &w.error {
            // Every problem of the field, each under its own mark.
            Some(e) => {
                lines.extend(e.split('\n').flat_map(|m| hang(m, cols, "  ", "✗ ")).map(|l| Line::styled(l, t.error)));
            }
            None => lines.extend(wrap(q.help, cols, "    ").into_iter().map(|l| Line::styled(l, t.dim))),
        }
        if q.kind == Kind::List {
            lines.push(Line::styled("    comma-separated; empty for none", t.dim));
        }
        focus_end = lines.len();
    }
    FormLines { lines, focus_end, cursor }
}

fn draw_fields(w: &Wizard, f: &mut Frame, area: Rect, t: &Theme) {
    let form = field_lines(w, width(area), t);
    let height = usize::from(area.height);
    // Show the focused field's end, but never scroll its input line out of view.
    let mut offset = form.focus_end.saturating_sub(height);
    if let Some((line, _)) = form.cursor {
        offset = offset.min(line);
    }
    f.render_widget(Paragraph::new(form.lines).scroll((to_u16(offset), 0)), area);
    if let Some((line, col)) = form.cursor
        && w.overlay.is_none()
        && line >= offset
        && line - offset < height
    {
        f.set_cursor_position(Position::new(area.x + to_u16(col), area.y + to_u16(line - offset)));
    }
}

fn choice_line(options: &[&str], value: &str, t: &Theme) -> Line<'static> {
    let mut spans = vec![Span::raw("  ")];
    for o in options {
        if *o == value {
            spans.push(Span::styled(format!("(•) {o}"), t.selected.add_modifier(Modifier::BOLD)));
        } else {
            spans.push(Span::raw(format!("( ) {o}")));
        }
        spans.push(Span::raw("   "));
    }
    Line::from(spans)
}

/// Splits a file line to fit `cols` columns: after the last space or `/` in the second
/// half of the room, else mid-word. Continuation lines start with `↪ `, indented by `indent`
/// (at most half the room) so they read as part of the line above.
fn wrap_code(text: &str, cols: usize, indent: usize) -> Vec<String> {
    let cols = cols.max(8);
    let pad = " ".repeat(indent.min(cols / 2));
    let mut out = Vec::new();
    let mut rest: Vec<char> = text.chars().collect();
    let mut room = cols;
    while rest.len() > room {
        let cut = rest[..room]
            .iter()
            .rposition(|c| *c == ' ' || *c == '/')
            .filter(|&i| i >= room / 2)
            .map_or(room, |i| i + 1);
        let head: String = rest[..cut].iter().collect();
        out.push(head.trim_end().to_string());
        rest.drain(..cut);
        room = cols - pad.len() - 2;
    }
    out.push(rest.into_iter().collect());
    for line in out.iter_mut().skip(1) {
        *line = format!("{pad}↪ {line}");
    }
    out
}

/// Screen lines for preview rows, each with its mark in the gutter (`+` added or
/// changed, `-` removed, against the start of the wizard), long lines wrapped.
fn row_lines<'a>(
    rows: impl Iterator<Item = &'a super::Row>,
    cols: usize,
    t: &Theme,
) -> impl Iterator<Item = Line<'static>> {
    let (changed, removed) = (t.changed, t.removed);
    rows.flat_map(move |row| {
        // Terminals give a tab no fixed width; the Caddyfile is indented with them.
        let text = row.text.replace('\t', "    ");
        let (gutter, style) = match row.mark {
            Mark::Same => (" ", Style::new()),
            Mark::Added => ("+", changed),
            Mark::Removed => ("-", removed),
        };
        let indent = text.len() - text.trim_start().len();
        wrap_code(&text, cols.saturating_sub(1), indent)
            .into_iter()
            .map(move |piece| Line::from(vec![Span::styled(gutter, style), Span::styled(piece, style)]))
    })
}

fn preview_title(w: &Wizard, path: &str) -> String {
    let n = w.preview.files.keys().position(|p| p == path).map_or(0, |i| i + 1);
    format!(" preview {path} · file {n} of {} ", w.preview.files.len())
}

fn draw_preview(w: &Wizard, f: &mut Frame, area: Rect, wide: bool, t: &Theme) {
    let target = w.preview_target();
    let title = target.as_ref().map_or_else(|| " preview ".to_string(), |(path, _)| preview_title(w, path));
    let borders = if wide { Borders::TOP | Borders::LEFT } else { Borders::TOP };
    let inner = titled_block(f, area, title, borders, false, t);
    let mut lines: Vec<Line> = Vec::new();
    if let Some(p) = &w.preview.problem {
        lines.extend(
            hang(&format!("{p} (preview shows the last valid answers)"), width(inner), "", "! ")
                .into_iter()
                .map(|l| Line::styled(l, t.error)),
        );
    } else if w.preview.placeholder {
        lines.push(Line::styled(format!("(no domain yet: shown with {})", super::PLACEHOLDER_DOMAIN), t.dim));
    }
    let Some((path, anchor)) = target else {
        f.render_widget(Paragraph::new(lines), inner);
        return;
    };
    let rows = w.preview.rows(&path);
    let room = usize::from(inner.height).saturating_sub(lines.len());
    let max_scroll = rows.len().saturating_sub(room);
    let scroll = usize::from(w.preview.scroll.unwrap_or_else(|| w.preview.auto_scroll(&path, anchor))).min(max_scroll);
    lines.extend(row_lines(rows[scroll..].iter(), width(inner), t).take(room));
    f.render_widget(Paragraph::new(lines), inner);
}

/// The review's top lines: deployment alerts, what Enter does, warnings, notes.
fn review_head(review: &super::Review, cols: usize, inner_height: u16, t: &Theme) -> Vec<Line<'static>> {
    let mut head: Vec<Line> = Vec::new();
    // First, in words, what this does to a deployment made from the folder: in full
    // when there is room, else the headlines, else one line (`?` has them in full).
    let room = usize::from(inner_height) * 2 / 3;
    let full: Vec<Line> = review
        .alerts
        .iter()
        .flat_map(|a| hang(&a.to_string(), cols, "", "⚠ "))
        .map(|l| Line::styled(l, t.error))
        .collect();
    let short: Vec<Line> = review
        .alerts
        .iter()
        .flat_map(|a| hang(&a.headline, cols, "", "⚠ "))
        .map(|l| Line::styled(l, t.error))
        .collect();
    if full.len() + 2 <= room {
        head.extend(full);
    } else if short.len() + 2 <= room {
        head.extend(short);
    } else {
        let kinds: Vec<&str> = review.alerts.iter().map(|a| a.what).collect();
        let text = format!("Changes the deployment: {} (? explains)", kinds.join(", "));
        head.extend(hang(&text, cols, "", "⚠ ").into_iter().map(|l| Line::styled(l, t.error)));
    }
    head.extend(wrap(&intro(review), cols, "").into_iter().map(Line::raw));
    // What the server needs for the expected subscribers (INSTALL.md says it too).
    let a = &review.answers;
    let sizing = crate::sizing::Sizing::for_subscribers(a.nginx.expected_subscribers, a.topology.facts().hub_tls);
    for line in sizing.short_lines() {
        head.extend(hang(&line, cols, "", "• ").into_iter().map(|l| Line::styled(l, t.dim)));
    }
    for warning in &review.data.warnings {
        head.extend(hang(&warning.to_string(), cols, "", "⚠ ").into_iter().map(|l| Line::styled(l, t.error)));
    }
    for note in &review.data.notes {
        head.extend(hang(note, cols, "", "• ").into_iter().map(|l| Line::styled(l, t.dim)));
    }
    for stale in &review.data.stale {
        head.extend(
            hang(&format!("no longer generated, left in place: {stale}"), cols, "", "• ")
                .into_iter()
                .map(|l| Line::styled(l, t.dim)),
        );
    }
    head
}

fn draw_review(w: &Wizard, f: &mut Frame, area: Rect, t: &Theme) {
    let wide = area.width >= WIDE;
    let [list_area, diff_area] = if wide {
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(area)
    } else {
        Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(area)
    };
    let title = format!(" {}/{} Review: {} ", Step::ALL.len(), Step::ALL.len(), w.out_dir.display());
    let inner = titled_block(f, list_area, title, Borders::TOP, true, t);
    let review = match &w.review {
        ReviewState::Ready(r) => r,
        ReviewState::Pending => {
            f.render_widget(Paragraph::new("Generating the bundle..."), inner);
            return;
        }
        ReviewState::Failed(e) => {
            let mut lines: Vec<Line> =
                hang(e, width(inner), "", "✗ ").into_iter().map(|l| Line::styled(l, t.error)).collect();
            lines.push(Line::raw("Enter tries again; Esc goes back to the answers."));
            f.render_widget(Paragraph::new(lines), inner);
            return;
        }
    };
    let cols = width(inner);
    let head = review_head(review, cols, inner.height, t);
    let cap = if review.alerts.is_empty() { inner.height / 2 } else { inner.height * 2 / 3 };
    let head_height = to_u16(head.len()).min(cap);
    let [head_area, list] = Layout::vertical([Constraint::Length(head_height), Constraint::Min(0)]).areas(inner);
    f.render_widget(Paragraph::new(head), head_area);

    // Whole names: a row too long for the list goes on under its status.
    let mut rows: Vec<Line> = Vec::new();
    let mut selected_end = 0;
    for (pos, &i) in review.order.iter().enumerate() {
        let c = &review.data.changes[i];
        let kind = if c.path == paths::state::ES256_PUBLIC {
            " (public key)"
        } else if c.secret {
            " (secret)"
        } else {
            ""
        };
        let text = format!("{:<15}{:04o} {}{kind}", c.status.label(), c.mode, c.path);
        let style = if pos == review.selected { t.selected } else { Style::new() };
        // Continuations line up under the path.
        rows.extend(wrap_code(&text, cols, 20).into_iter().map(|l| Line::styled(l, style)));
        if pos == review.selected {
            selected_end = rows.len();
        }
    }
    let offset = selected_end.saturating_sub(usize::from(list.height));
    f.render_widget(Paragraph::new(rows).scroll((to_u16(offset), 0)), list);

    let Some(&index) = review.order.get(review.selected) else { return };
    let change = &review.data.changes[index];
    let borders = if wide { Borders::TOP | Borders::LEFT } else { Borders::TOP };
    let inner = titled_block(f, diff_area, format!(" {} ({}) ", change.path, change.status.label()), borders, false, t);
    let diff = &review.diffs[index];
    let lines: Vec<Line> = if diff.is_empty() {
        vec![Line::styled("(unchanged: nothing to write)", t.dim)]
    } else {
        diff.iter()
            .flat_map(|l| {
                let style = if l.starts_with("+++") || l.starts_with("---") || l.starts_with("@@") {
                    t.accent
                } else if l.starts_with('+') {
                    t.added
                } else if l.starts_with('-') {
                    t.removed
                } else {
                    Style::new()
                };
                // Long lines wrap, so nothing of the diff is cut off.
                let text = l.replace('\t', "    ");
                let indent = text.len() - text[1..].trim_start().len();
                wrap_code(&text, width(inner), indent).into_iter().map(move |x| Line::styled(x, style))
            })
            .collect()
    };
    let max = lines.len().saturating_sub(usize::from(inner.height));
    f.render_widget(Paragraph::new(lines).scroll((to_u16(usize::from(review.scroll).min(max)), 0)), inner);
}

/// The review's first line: how many files, and what Enter does with them.
fn intro(review: &super::Review) -> String {
    let changes = &review.data.changes;
    let files = changes.len();
    let count = |st: crate::output::FileStatus| changes.iter().filter(|c| c.status == st).count();
    if !review.data.existing {
        return format!("{files} files for a new folder. Enter writes them.");
    }
    let unchanged = count(crate::output::FileStatus::Unchanged);
    if unchanged == files {
        return format!("All {files} files are unchanged: Enter changes no file (it only confirms).");
    }
    let counts: Vec<String> = [
        crate::output::FileStatus::New,
        crate::output::FileStatus::Updated,
        crate::output::FileStatus::HandEdited,
        crate::output::FileStatus::Unchanged,
    ]
    .into_iter()
    .filter(|&st| count(st) > 0)
    .map(|st| format!("{} {}", count(st), st.label()))
    .collect();
    format!("{files} files against the folder: {}. Enter writes the changed ones.", counts.join(", "))
}

/// A rectangle of at most `w` x `h` centred in `area`.
fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(area.x + (area.width - w) / 2, area.y + (area.height - h) / 2, w, h)
}

fn draw_overlay(w: &Wizard, overlay: &Overlay, f: &mut Frame, area: Rect, t: &Theme) {
    let (rect, title, lines, scroll) = match overlay {
        Overlay::Help { scroll } => {
            let rect = centered(area, area.width.saturating_sub(4), area.height.saturating_sub(2));
            let cols = usize::from(rect.width.saturating_sub(4));
            let (title, lines) = help_lines(w, cols, t);
            (rect, title, lines, *scroll)
        }
        Overlay::Zoom { scroll } => {
            // The whole screen between header and footer, every line wrapped in full.
            let rect = Rect::new(area.x, area.y + 1, area.width, area.height.saturating_sub(2));
            let cols = usize::from(rect.width.saturating_sub(4));
            let Some((path, _)) = w.preview_target() else { return };
            let rows = w.preview.rows(&path);
            let first = usize::from(*scroll).min(rows.len().saturating_sub(1));
            let lines: Vec<Line> = row_lines(rows[first..].iter(), cols, t).collect();
            (rect, preview_title(w, &path), lines, 0)
        }
        Overlay::ConfirmSave => {
            let rect = centered(area, 70, 9);
            let cols = usize::from(rect.width.saturating_sub(4));
            let text = format!(
                "{} exists. Saving replaces it with the wizard's answers, and comments written in it are lost.",
                w.answers_path.display()
            );
            let mut lines: Vec<Line> = wrap(&text, cols, "").into_iter().map(Line::raw).collect();
            lines.push(Line::raw(""));
            lines.push(Line::from(vec![Span::styled("y", t.key), Span::raw(" overwrite it")]));
            lines.push(Line::from(vec![
                Span::styled("b", t.key),
                Span::raw(format!(" write beside it: {}", w.beside_path().display())),
            ]));
            lines.push(Line::from(vec![Span::styled("n", t.key), Span::raw(" cancel (nothing is saved)")]));
            (rect, " Replace the answers file? ".to_string(), lines, 0)
        }
        Overlay::ConfirmQuit => {
            let rect = centered(area, 64, 7);
            let cols = usize::from(rect.width.saturating_sub(4));
            let mut lines: Vec<Line> = wrap(
                &format!("Your answers are not saved. s saves them to {} first.", w.answers_path.display()),
                cols,
                "",
            )
            .into_iter()
            .map(Line::raw)
            .collect();
            lines.push(Line::raw(""));
            lines.push(Line::from(vec![
                Span::styled("y", t.key),
                Span::raw(" quit without saving   "),
                Span::styled("s", t.key),
                Span::raw(" save, then quit   "),
                Span::styled("n", t.key),
                Span::raw(" stay"),
            ]));
            (rect, " Quit? ".to_string(), lines, 0)
        }
        Overlay::ConfirmOverwrite(paths) => {
            let rect = centered(area, 70, to_u16(paths.len() + 6));
            let mut lines = vec![Line::raw("These files were edited by hand since the last render:")];
            lines.extend(paths.iter().map(|p| Line::styled(format!("  {p}"), t.error)));
            lines.push(Line::raw(""));
            lines.push(Line::from(vec![
                Span::styled("y", t.key),
                Span::raw(" overwrite them   "),
                Span::styled("n", t.key),
                Span::raw(" keep them (nothing is written)"),
            ]));
            (rect, " Overwrite hand edits? ".to_string(), lines, 0)
        }
    };
    f.render_widget(Clear, rect);
    let block = Block::bordered().title(Span::styled(title, t.accent));
    let inner = block.inner(rect);
    f.render_widget(block, rect);
    let inner = Rect::new(inner.x + 1, inner.y, inner.width.saturating_sub(2), inner.height);
    let max = lines.len().saturating_sub(usize::from(inner.height));
    f.render_widget(Paragraph::new(lines).scroll((to_u16(usize::from(scroll).min(max)), 0)), inner);
}

/// The longer teaching text behind `?`.
fn help_lines(w: &Wizard, cols: usize, t: &Theme) -> (String, Vec<Line<'static>>) {
    let Some(q) = w.focused() else {
        let mut lines: Vec<Line> = Vec::new();
        if let ReviewState::Ready(r) = &w.review {
            for a in &r.alerts {
                lines.extend(hang(&a.to_string(), cols, "", "⚠ ").into_iter().map(|l| Line::styled(l, t.error)));
            }
            if !lines.is_empty() {
                lines.push(Line::raw(""));
            }
        }
        let text = "Every file of the bundle with its mode and what writing it would do: new, updated, \
unchanged, or edited by hand since the last render (kept unless you confirm). The diff shows the change \
against the folder; secret files are never shown.\n\nEnter writes the bundle (answers.yaml included) the way \
`mercure-setup render` does: atomically, secrets 0600 in 0700 folders, state reused so secrets stay the same. \
s saves only the answers file.";
        lines.extend(wrap(text, cols, "").into_iter().map(Line::raw));
        return (" Review ".into(), lines);
    };
    let mut lines: Vec<Line> = wrap(q.teach, cols, "").into_iter().map(Line::raw).collect();
    if w.step == Step::Topology {
        lines.push(Line::raw(""));
        lines.push(Line::styled("What a widely copied blog post gets wrong, and why it fails", t.accent));
        for m in SEED_MISTAKES {
            lines.push(Line::raw(""));
            lines.extend(hang(m.snippet, cols, "", "✗ ").into_iter().map(|l| Line::styled(l, t.error)));
            lines.extend(wrap(m.why, cols, "  ").into_iter().map(Line::raw));
            lines.extend(wrap(&format!("mercure-setup renders: {}", m.instead), cols, "  ").into_iter().map(Line::raw));
        }
        lines.push(Line::raw(""));
        lines
            .push(Line::styled("More: mercure-setup explain same-host-http | end-to-end-tls | troubleshooting", t.dim));
    }
    (format!(" {} ", q.prompt), lines)
}

#[cfg(test)]
mod tests {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use super::{card_columns, wrap_code};
    use crate::deployment::Topology;
    use crate::wizard::{Init, Wizard};

    #[test]
    fn the_topology_step_shows_every_topology() {
        let w = Wizard::new(Init::new(
            crate::answers::Draft::default(),
            "out".into(),
            "answers.yaml".into(),
            false,
            crate::wizard::preview::tests::env(),
        ));
        let mut t = Terminal::new(TestBackend::new(120, 40)).unwrap();
        t.draw(|f| super::view(&w, f)).unwrap();
        let screen = t.backend().to_string();
        for topology in Topology::ALL {
            let mark = if topology == Topology::default() { "(•)" } else { "( )" };
            assert!(screen.contains(&format!("{mark} {topology}")), "{topology} missing:\n{screen}");
        }
    }

    #[test]
    fn cards_share_the_width_whatever_their_number() {
        let area = ratatui::layout::Rect::new(0, 2, 100, 20);
        for n in 1..=4 {
            let cols = card_columns(area, n);
            assert_eq!(cols.len(), n);
            assert!(cols.windows(2).all(|p| p[0].right() < p[1].x), "{cols:?}");
            assert!(cols.iter().all(|c| c.width + 4 >= 100 / u16::try_from(n).unwrap()), "{cols:?}");
        }
        // Two cards split the width as the wizard always has: halves with a blank column.
        let two = card_columns(area, 2);
        assert_eq!((two[0].width, two[1].x, two[1].width), (49, 50, 50));
    }

    #[test]
    fn wrapped_lines_keep_every_character() {
        let line = "        # Verify the hub: with nginx's default (proxy_ssl_verify off) any local user who binds";
        let pieces = wrap_code(line, 40, 8);
        assert!(pieces.iter().all(|p| p.chars().count() <= 40), "{pieces:?}");
        assert!(pieces[1..].iter().all(|p| p.starts_with("        ↪ ")), "{pieces:?}");
        let joined: Vec<&str> = pieces.iter().map(|p| p.trim_start().trim_start_matches("↪ ")).collect();
        assert_eq!(joined.join(" "), line.trim_start());
        // A path breaks after a `/`; a short line is left alone.
        assert_eq!(wrap_code("new 0644 systemd/nginx.service.d/mercure-limits.conf", 40, 4).len(), 2);
        assert_eq!(wrap_code("listen 80;", 40, 4), ["listen 80;"]);
    }
}
