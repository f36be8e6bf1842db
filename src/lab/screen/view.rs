//! Draws the lab screen: the path as boxes with what each hop verifies, the faults,
//! the timeline of updates, the nginx lines that matter (changed ones highlighted),
//! and doctor's verdict with the why and the fix. Pure: state in, frame out.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::state::Screen;
use crate::deployment::Topology;
use crate::lab::faults::CLOCK_SCALE;

/// What the hop between nginx and the hub is and what each side checks.
fn hop(s: &Screen) -> (String, String) {
    let name = s.active.map(|f| f.name);
    match s.topology {
        Topology::SameHostHttp => (format!("HTTP 127.0.0.1:{}", s.ports.1), "nothing verified (loopback only)".into()),
        Topology::EndToEndTls => {
            let checks = match name {
                Some("verify-off") => "nginx verifies NOTHING (proxy_ssl_verify off)".to_string(),
                Some("no-sni") => "nginx sends no SNI".to_string(),
                _ => "nginx verifies the hub cert (private CA, mercure.internal via SNI)".to_string(),
            };
            (format!("TLS 127.0.0.1:{}", s.ports.1), checks)
        }
    }
}

fn path_lines(s: &Screen) -> Vec<Line<'static>> {
    let public = if s.active.is_some_and(|f| f.name == "http1-seven") { "HTTPS HTTP/1.1" } else { "HTTPS h2" };
    let (hop, checks) = hop(s);
    let boxed = |t: &str| format!("[ {t} ]");
    vec![
        Line::from(format!(
            "{}  --{public} :{}-->  {}  --{hop}-->  {}",
            boxed("subscriber"),
            s.ports.0,
            boxed("nginx"),
            boxed("hub")
        )),
        Line::from(format!("  browser verifies nginx's cert (lab CA, mercure-lab.test);  {checks}")),
    ]
}

fn ms(v: Option<u64>, from: u64) -> String {
    v.map_or_else(|| "never".into(), |v| format!("+{} ms", v.saturating_sub(from)))
}

pub fn view(s: &Screen, f: &mut Frame) {
    let [top, middle, bottom, help] =
        Layout::vertical([Constraint::Length(4), Constraint::Min(10), Constraint::Length(9), Constraint::Length(1)])
            .areas(f.area());
    let title = format!(
        " mercure-setup lab: {} (clock {CLOCK_SCALE}x: heartbeat 2s, nginx default timeout 3s) ",
        s.topology.as_str()
    );
    f.render_widget(Paragraph::new(path_lines(s)).block(Block::default().borders(Borders::ALL).title(title)), top);

    let [faults, timeline, config] =
        Layout::horizontal([Constraint::Length(24), Constraint::Min(40), Constraint::Length(58)]).areas(middle);
    let items: Vec<Line> = s
        .entries()
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let name = e.map_or("none", |f| f.name);
            let on = match (e, s.active) {
                (Some(a), Some(b)) => a.name == b.name,
                (None, None) => true,
                _ => false,
            };
            let text = format!("{} {name}", if on { "[x]" } else { "[ ]" });
            let style =
                if i == s.cursor { Style::default().add_modifier(Modifier::REVERSED) } else { Style::default() };
            Line::from(Span::styled(text, style))
        })
        .collect();
    f.render_widget(Paragraph::new(items).block(Block::default().borders(Borders::ALL).title(" faults ")), faults);

    let mut rows = vec![Line::from("published  via nginx   from hub    status / fault")];
    for r in &s.timeline {
        rows.push(Line::from(format!(
            "{:>7} ms {:<11} {:<11} {} / {}",
            r.published,
            ms(r.via_nginx, r.published),
            ms(r.from_hub, r.published),
            r.status,
            r.fault
        )));
    }
    f.render_widget(Paragraph::new(rows).block(Block::default().borders(Borders::ALL).title(" timeline ")), timeline);

    let lines: Vec<Line> = s
        .config
        .iter()
        .map(|(l, changed)| {
            let style = if *changed {
                Style::default().fg(Color::Yellow).add_modifier(Modifier::BOLD)
            } else {
                Style::default()
            };
            Line::from(Span::styled(format!("{}{}", if *changed { "> " } else { "  " }, l.trim()), style))
        })
        .collect();
    f.render_widget(Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(" nginx site ")), config);

    let verdict: Vec<Line> = match (&s.busy, &s.verdict) {
        (Some(b), _) => vec![Line::from(b.clone())],
        (None, Some(v)) => vec![
            Line::from(format!("symptom: {}  ({})", v.symptom, v.fault)),
            Line::from(format!("seen: {}", v.seen)),
            Line::from(format!("doctor: {}", v.doctor)),
            Line::from(format!("why: {}", v.why)),
            Line::from(format!("fix: {}", v.fix)),
        ],
        (None, None) => vec![Line::from("starting...")],
    };
    f.render_widget(
        Paragraph::new(verdict)
            .wrap(Wrap { trim: true })
            .block(Block::default().borders(Borders::ALL).title(" verdict ")),
        bottom,
    );
    f.render_widget(
        Paragraph::new("up/down choose  space toggle fault  p publish  r reconnect  t switch topology  q quit"),
        help,
    );
}
