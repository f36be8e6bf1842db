//! Going live as data: which services a set of changed parts concerns (`Touched`) and
//! the steps that follow (daemon-reload, validate, `nginx -t`, restart or reload), in
//! order. `apply` runs them; INSTALL.md prints them.

use serde::{Deserialize, Serialize};

use super::actions::Part;

/// Which services were active (and the hub enabled) before a change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Services {
    pub hub_active: bool,
    pub hub_enabled: bool,
    pub nginx_active: bool,
}

/// What changed, by the service it concerns.
// One flag per service part, read as a set of facts.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Touched {
    pub hub: bool,
    pub hub_unit: bool,
    pub nginx: bool,
    pub nginx_unit: bool,
}

/// The services the changed `parts` concern.
pub fn touched(parts: impl IntoIterator<Item = Part>) -> Touched {
    let mut t = Touched::default();
    for part in parts {
        match part {
            Part::Hub => t.hub = true,
            Part::HubUnit => t.hub_unit = true,
            Part::Nginx => t.nginx = true,
            Part::NginxUnit => t.nginx_unit = true,
            Part::Symfony => {}
        }
    }
    t
}

/// The go-live steps for what changed, in order, each with its name.
pub fn live_steps(t: Touched, before: &Services) -> Vec<&'static str> {
    let mut s = Vec::new();
    if t.hub_unit || t.nginx_unit {
        s.push("systemctl daemon-reload");
    }
    let hub = t.hub || t.hub_unit || !before.hub_active;
    if hub {
        s.push("mercure validate");
    }
    s.push("nginx -t");
    if hub {
        s.push("systemctl enable mercure");
        s.push("systemctl restart mercure");
    }
    if t.nginx_unit || !before.nginx_active {
        s.push("systemctl restart nginx");
    } else if t.nginx {
        s.push("systemctl reload nginx");
    }
    s
}
