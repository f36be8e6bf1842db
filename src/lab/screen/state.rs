//! The lab screen's state and its transitions: keys in, effects out (run a scenario,
//! switch topology, quit), outcomes folded in. No terminal, no processes.

use crate::deployment::Topology;
use crate::lab::faults::{FAULTS, Fault};
use crate::lab::scenario::Outcome;
use crate::troubleshooting::Row;

/// A key the screen reacts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Up,
    Down,
    /// Turn the fault under the cursor on, or off when it is the one on.
    Toggle,
    Publish,
    Reconnect,
    SwitchTopology,
    Quit,
}

/// What the edge must do after a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Re-render with this fault (none: as generated), reload nginx, publish, ask doctor.
    Run(Option<&'static Fault>),
    Switch(Topology),
    Quit,
}

/// One update on the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineRow {
    pub fault: String,
    pub published: u64,
    pub via_nginx: Option<u64>,
    pub from_hub: Option<u64>,
    pub status: String,
}

/// Doctor's verdict and the teaching for the current state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub fault: String,
    pub symptom: String,
    pub seen: String,
    pub doctor: String,
    pub why: String,
    pub fix: String,
}

/// Everything the screen shows.
#[derive(Debug, Clone)]
pub struct Screen {
    pub topology: Topology,
    pub cursor: usize,
    pub active: Option<&'static Fault>,
    pub timeline: Vec<TimelineRow>,
    pub verdict: Option<Verdict>,
    /// The nginx lines that matter, each marked when a fault changed it.
    pub config: Vec<(String, bool)>,
    /// The hop labels: nginx's public port and the hub's.
    pub ports: (u16, u16),
    pub busy: Option<String>,
}

/// How many updates the timeline keeps.
const TIMELINE: usize = 12;

impl Screen {
    pub fn new(topology: Topology) -> Screen {
        Screen {
            topology,
            cursor: 0,
            active: None,
            timeline: Vec::new(),
            verdict: None,
            config: Vec::new(),
            ports: (0, 0),
            busy: None,
        }
    }

    /// The rows of the fault list: `none` first, then this topology's faults.
    pub fn entries(&self) -> Vec<Option<&'static Fault>> {
        std::iter::once(None).chain(FAULTS.iter().filter(|f| f.applies_to(self.topology)).map(Some)).collect()
    }

    pub fn on_key(&mut self, key: Key) -> Option<Effect> {
        let n = self.entries().len();
        match key {
            Key::Up => self.cursor = self.cursor.checked_sub(1).unwrap_or(n - 1),
            Key::Down => self.cursor = (self.cursor + 1) % n,
            Key::Toggle => {
                let chosen = self.entries()[self.cursor];
                let same = matches!((chosen, self.active), (Some(a), Some(b)) if a.name == b.name);
                self.active = if same { None } else { chosen };
                return Some(Effect::Run(self.active));
            }
            Key::Publish | Key::Reconnect => return Some(Effect::Run(self.active)),
            Key::SwitchTopology => {
                let other = Topology::ALL.into_iter().find(|t| *t != self.topology).unwrap_or(self.topology);
                return Some(Effect::Switch(other));
            }
            Key::Quit => return Some(Effect::Quit),
        }
        None
    }

    /// After a switch: the new topology, nothing on.
    pub fn switched(&mut self, topology: Topology) {
        *self = Screen { timeline: std::mem::take(&mut self.timeline), ..Screen::new(topology) };
    }

    /// Folds a scenario's outcome in: its updates on the timeline, the verdict, the config.
    pub fn outcome(&mut self, o: &Outcome, config: Vec<(String, bool)>, ports: (u16, u16)) {
        for u in &o.updates {
            self.timeline.push(TimelineRow {
                fault: o.fault.clone(),
                published: u.published,
                via_nginx: u.via_nginx,
                from_hub: u.straight_from_hub,
                status: o.symptom.clone(),
            });
        }
        let extra = self.timeline.len().saturating_sub(TIMELINE);
        self.timeline.drain(..extra);
        let row = o.doctor_row.and_then(Row::from_number);
        self.verdict = Some(Verdict {
            fault: o.fault.clone(),
            symptom: o.symptom.clone(),
            seen: o.seen.clone(),
            doctor: row.map_or_else(|| "no failed probe".into(), Row::reference),
            why: row.map_or_else(String::new, |r| r.trouble().cause.to_string()),
            fix: o.fix.clone(),
        });
        self.config = config;
        self.ports = ports;
        self.busy = None;
    }
}

/// The nginx lines a learner should look at (listen, the hub location), each marked
/// when it is not in the generated site `base`.
pub fn config_lines(site: &str, base: &str) -> Vec<(String, bool)> {
    let base: std::collections::HashSet<&str> = base.lines().map(str::trim).collect();
    let mut out = Vec::new();
    let mut inside = false;
    for line in site.lines() {
        let t = line.trim();
        if t.starts_with("location ^~ /.well-known/mercure") {
            inside = true;
        }
        let wanted = inside || (t.starts_with("listen") && t.contains("ssl")) || t.starts_with("http2");
        if wanted && !t.is_empty() && !t.starts_with('#') {
            out.push((line.to_string(), !base.contains(t)));
        }
        if inside && t == "}" {
            inside = false;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toggling_a_fault_twice_runs_it_then_the_generated_config() {
        let mut s = Screen::new(Topology::SameHostHttp);
        assert_eq!(s.on_key(Key::Down), None);
        let Some(Effect::Run(Some(f))) = s.on_key(Key::Toggle) else { panic!("no run") };
        assert_eq!(f.name, s.entries()[1].unwrap().name);
        assert_eq!(s.on_key(Key::Toggle), Some(Effect::Run(None)));
        assert_eq!(s.on_key(Key::Up), None);
        assert_eq!(s.cursor, 0);
        assert_eq!(s.on_key(Key::SwitchTopology), Some(Effect::Switch(Topology::EndToEndTls)));
        assert!(!s.entries().iter().flatten().any(|f| f.name == "verify-off"));
    }

    #[test]
    fn changed_lines_are_marked() {
        let base = "listen 443 ssl;\nlocation ^~ /.well-known/mercure {\n    proxy_buffering off;\n}\n";
        let site = base.replace("proxy_buffering off;", "proxy_ignore_headers X-Accel-Buffering;");
        let lines = config_lines(&site, base);
        assert!(lines.iter().any(|(l, m)| l.contains("proxy_ignore_headers") && *m));
        assert!(lines.iter().any(|(l, m)| l.contains("listen") && !*m));
    }
}
