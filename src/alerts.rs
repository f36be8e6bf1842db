//! What writing new answers changes for a deployment made from the old ones, in
//! words: the warnings the wizard's review shows before a bundle is replaced.

use crate::answers::Answers;

/// One change that matters to a deployment made from the folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// What changes, in a word or two (for a one-line summary on small screens).
    pub what: &'static str,
    /// What changes, in a few words (shown alone when the screen is small).
    pub headline: String,
    /// What to do about it.
    pub detail: String,
}

impl std::fmt::Display for Alert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.headline, self.detail)
    }
}

/// In words, what writing `new` changes for a deployment made from `old` (and the
/// keys the generation made anew in a folder that already had a bundle).
pub fn deployment_alerts(old: Option<&Answers>, new: &Answers, notes: &[String], existing: bool) -> Vec<Alert> {
    let alert =
        |what: &'static str, headline: String, detail: &str| Alert { what, headline, detail: detail.to_string() };
    let mut out = Vec::new();
    if let Some(old) = old {
        if old.topology != new.topology {
            out.push(alert(
                "topology",
                format!("Switches the topology from {} to {}", old.topology.as_str(), new.topology.as_str()),
                "the nginx site and the hub's Caddyfile change together, so install both before reloading \
                 (see INSTALL.md)",
            ));
        }
        if old.domain != new.domain {
            out.push(alert(
                "public address",
                format!("Changes the public hub address to https://{}/.well-known/mercure", new.domain),
                &format!(
                    "it was https://{}/.well-known/mercure; the Symfony app and every subscriber must use the new one",
                    old.domain
                ),
            ));
        }
        let inner = |a: &Answers| {
            let wiring = a.topology.facts();
            let host = if wiring.hub_tls { a.hub.tls_name.to_string() } else { "127.0.0.1".into() };
            format!("{}://{host}:{}", wiring.hub_scheme(), a.hub.port)
        };
        if inner(old) != inner(new) {
            out.push(alert(
                "hub address",
                format!("Changes the address nginx reaches the hub at to {}", inner(new)),
                &format!("it was {}; reload nginx and restart the hub together", inner(old)),
            ));
        }
        if old.jwt_algorithm != new.jwt_algorithm {
            out.push(alert(
                "JWT algorithm",
                format!(
                    "Switches the JWT algorithm from {} to {}",
                    old.jwt_algorithm.as_str(),
                    new.jwt_algorithm.as_str()
                ),
                "the Symfony app's Mercure settings change with it",
            ));
        }
    }
    if existing && !notes.is_empty() {
        out.push(alert(
            "new keys",
            format!("Makes new keys ({})", notes.join("; ")),
            "tokens and certificates made with the old ones stop working once this is installed",
        ));
    }
    out
}
