//! The live preview: the bundle re-rendered from the draft on every change, with
//! secret values masked, and the lines added or removed since the wizard started
//! (against the defaults, or the bundle loaded from the output folder).
//!
//! Rendering goes through `answers::Answers::from_draft`, `plan::Plan::new` and
//! `render::render` with secrets prepared once at the edge ([`PreviewEnv`]), so the
//! preview shows exactly what `render` would write, minus the secrets.

use std::collections::BTreeMap;

use crate::answers::{Answers, Draft};
use crate::bundle::paths;
use crate::jwt::SigningKey;
use crate::plan::Plan;
use crate::questions::RawValue;
use crate::render;
use crate::secrets::Secrets;
use crate::values::{JwtAlgorithm, NginxVersion};

/// Shown in place of every secret value.
pub const HIDDEN: &str = "[secret hidden]";

/// The domain the preview uses until one is typed, so the first screens show real files.
pub const PLACEHOLDER_DOMAIN: &str = "example.com";

/// What the preview renders with, made once at the edge: secrets for each JWT
/// algorithm (each with a PKI; dropped for same-host-http) and the local nginx version.
#[derive(Debug, Clone)]
pub struct PreviewEnv {
    pub hs256: Secrets,
    pub hs512: Secrets,
    pub es256: Secrets,
    /// What `nginx -v` reported, for `nginx.version: auto`.
    pub nginx: Option<NginxVersion>,
    /// The hub binary asked at start and the line it runs, for `hub.version: auto` while
    /// `hub.binary` names that binary (as `render` resolves it).
    pub hub: Option<(String, crate::values::HubLine)>,
}

impl PreviewEnv {
    /// The secrets a render with `alg` and this topology would carry.
    pub fn secrets(&self, alg: JwtAlgorithm, tls: bool) -> Secrets {
        let mut s = match alg {
            JwtAlgorithm::HS256 => self.hs256.clone(),
            JwtAlgorithm::HS512 => self.hs512.clone(),
            JwtAlgorithm::ES256 => self.es256.clone(),
        };
        if !tls {
            s.pki = None;
        }
        s
    }
}

/// One file as the preview shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewFile {
    /// The contents with every secret value replaced by [`HIDDEN`].
    pub text: String,
    pub mode: u32,
    pub secret: bool,
}

/// The preview pane's state.
#[derive(Debug, Clone, Default)]
pub struct Preview {
    /// The latest rendering that succeeded.
    pub files: BTreeMap<String, PreviewFile>,
    /// The rendering as it was when the focused question got the focus (automatic
    /// scrolling goes to what changed since).
    pub baseline: BTreeMap<String, String>,
    /// The rendering as it was when the wizard started: the marks show changes against it.
    pub origin: BTreeMap<String, String>,
    /// Why the current draft could not be rendered (the files are then older).
    pub problem: Option<String>,
    /// Whether [`PLACEHOLDER_DOMAIN`] stands in for a domain not typed yet.
    pub placeholder: bool,
    /// A file chosen with the cycle key, overriding the focused question's file.
    pub pinned: Option<String>,
    /// Lines scrolled by hand; `None` follows the changes.
    pub scroll: Option<u16>,
}

impl Preview {
    /// Re-renders from the draft; on invalid answers keeps the last good files.
    pub fn refresh(&mut self, draft: &Draft, env: &PreviewEnv) {
        let placeholder = draft.scalar("domain").is_none();
        let rendered = if placeholder {
            let mut d = draft.clone();
            d.set("domain", RawValue::Scalar(PLACEHOLDER_DOMAIN.into()), None);
            render_masked(&d, env)
        } else {
            render_masked(draft, env)
        };
        match rendered {
            Ok(files) => {
                self.files = files;
                self.problem = None;
                self.placeholder = placeholder;
            }
            Err(problem) => self.problem = Some(problem),
        }
        if self.pinned.as_ref().is_some_and(|p| !self.files.contains_key(p)) {
            self.pinned = None;
        }
    }

    /// Makes the current files the reference that automatic scrolling follows changes from.
    pub fn rebase(&mut self) {
        self.baseline = self.texts();
    }

    /// Makes the current files the reference that the change marks are against.
    pub fn set_origin(&mut self) {
        self.origin = self.texts();
    }

    fn texts(&self) -> BTreeMap<String, String> {
        self.files.iter().map(|(p, f)| (p.clone(), f.text.clone())).collect()
    }

    /// The path a [`crate::questions::Preview`] file names in the current files.
    pub fn resolve(&self, file: &str) -> Option<String> {
        if file == crate::questions::NGINX_SITE {
            return self
                .files
                .keys()
                .find(|p| p.strip_prefix(paths::NGINX_DIR).is_some_and(|r| r.starts_with('/')))
                .cloned();
        }
        self.files.contains_key(file).then(|| file.to_string())
    }

    /// The file after (or before) `current` in path order, wrapping around.
    pub fn cycle(&self, current: Option<&str>, forward: bool) -> Option<String> {
        let paths: Vec<&String> = self.files.keys().collect();
        let pos = current.and_then(|c| paths.iter().position(|p| *p == c));
        let n = paths.len();
        if n == 0 {
            return None;
        }
        let next = match (pos, forward) {
            (None, true) => 0,
            (None, false) => n - 1,
            (Some(i), true) => (i + 1) % n,
            (Some(i), false) => (i + n - 1) % n,
        };
        Some(paths[next].clone())
    }

    /// The first line to show when not scrolled by hand: a little above the first
    /// changed line from the `anchor` line on (the part the question is about), else
    /// above the anchor, else above the first change anywhere.
    pub fn auto_scroll(&self, path: &str, anchor: &str) -> u16 {
        let Some(file) = self.files.get(path) else { return 0 };
        let changed = self.changed_lines(path);
        let at = (!anchor.is_empty()).then(|| file.text.lines().position(|l| l.contains(anchor))).flatten();
        let first_change_from = |from: usize| changed.iter().skip(from).position(|c| *c).map(|i| i + from);
        let target = match at {
            Some(a) => first_change_from(a).unwrap_or(a),
            None => first_change_from(0).unwrap_or(0),
        };
        // The rows carry removed lines too: start at the row of that line (or the
        // removed lines just before it).
        let rows = self.rows(path);
        let mut row = rows.iter().position(|r| r.line.is_some_and(|l| l >= target)).unwrap_or(0);
        while row > 0 && rows[row - 1].mark == Mark::Removed {
            row -= 1;
        }
        u16::try_from(row.saturating_sub(2)).unwrap_or(u16::MAX)
    }

    /// For each line of `path`, whether it differs from the baseline.
    pub fn changed_lines(&self, path: &str) -> Vec<bool> {
        let Some(file) = self.files.get(path) else { return Vec::new() };
        let mut changed = vec![false; file.text.lines().count()];
        for row in diff_rows(&self.baseline, &self.files, path) {
            if let (Mark::Added, Some(i)) = (row.mark, row.line)
                && let Some(c) = changed.get_mut(i)
            {
                *c = true;
            }
        }
        changed
    }

    /// The lines of `path` as the preview shows them: marked added (or changed) and
    /// removed against the start of the wizard, removed lines in place.
    pub fn rows(&self, path: &str) -> Vec<Row> {
        diff_rows(&self.origin, &self.files, path)
    }
}

/// How a preview line differs from the reference rendering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Same,
    Added,
    Removed,
}

/// One line of a previewed file; `line` is its index in the current file (none for a
/// removed line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub mark: Mark,
    pub text: String,
    pub line: Option<usize>,
}

/// `path` of `files` line by line against the same file in `base` (or the one file of
/// its folder that was renamed: the nginx site follows the domain).
fn diff_rows(base: &BTreeMap<String, String>, files: &BTreeMap<String, PreviewFile>, path: &str) -> Vec<Row> {
    let Some(file) = files.get(path) else { return Vec::new() };
    let renamed = || {
        let dir = path.rsplit_once('/').map(|(d, _)| d)?;
        let mut gone =
            base.keys().filter(|p| p.rsplit_once('/').is_some_and(|(d, _)| d == dir) && !files.contains_key(*p));
        gone.next().filter(|_| gone.next().is_none()).and_then(|p| base.get(p))
    };
    let Some(old) = base.get(path).or_else(renamed) else {
        // A file the reference did not have is new as a whole.
        let mark = if base.is_empty() { Mark::Same } else { Mark::Added };
        return file.text.lines().enumerate().map(|(i, l)| Row { mark, text: l.to_string(), line: Some(i) }).collect();
    };
    let old_lines: Vec<&str> = old.lines().collect();
    let new_lines: Vec<&str> = file.text.lines().collect();
    let diff = similar::TextDiff::from_lines(old.as_str(), file.text.as_str());
    let mut rows = Vec::with_capacity(new_lines.len());
    for op in diff.ops() {
        if op.tag() != similar::DiffTag::Insert && op.tag() != similar::DiffTag::Equal {
            for i in op.old_range() {
                rows.push(Row { mark: Mark::Removed, text: old_lines.get(i).unwrap_or(&"").to_string(), line: None });
            }
        }
        let mark = if op.tag() == similar::DiffTag::Equal { Mark::Same } else { Mark::Added };
        if op.tag() != similar::DiffTag::Delete {
            for i in op.new_range() {
                rows.push(Row { mark, text: new_lines.get(i).unwrap_or(&"").to_string(), line: Some(i) });
            }
        }
    }
    rows
}

/// Renders the draft and masks secrets, or says what keeps it from rendering.
fn render_masked(draft: &Draft, env: &PreviewEnv) -> Result<BTreeMap<String, PreviewFile>, String> {
    let (answers, _) = Answers::from_draft(draft).map_err(|errors| {
        errors.first().map_or_else(|| "the answers are not valid".to_string(), |e| format!("{}: {}", e.key, e.message))
    })?;
    let mut answers = answers;
    if let Some((binary, line)) = &env.hub
        && answers.hub.version == crate::values::HubVersionChoice::Auto
        && answers.hub.binary.as_str() == binary
    {
        answers.hub.version = crate::values::HubVersionChoice::Known(*line);
    }
    let secrets = env.secrets(answers.jwt_algorithm, answers.topology.facts().private_ca);
    let plan = Plan::new(answers, env.nginx);
    let bundle = render::render(&plan, &secrets).map_err(|e| e.to_string())?;
    let values = secret_values(&secrets);
    Ok(bundle
        .files
        .into_iter()
        .map(|(path, f)| {
            let text = mask(&f.contents, &values);
            (path, PreviewFile { text, mode: f.mode, secret: f.secret })
        })
        .collect())
}

/// Every secret string a bundle can carry, longest first so that none is masked
/// only in part. Certificates are public and stay visible.
pub fn secret_values(s: &Secrets) -> Vec<&str> {
    let mut v: Vec<&str> = vec![&s.publisher_token, &s.subscriber_token];
    match &s.jwt {
        SigningKey::Hmac(secret) => v.push(secret),
        // The public half is masked too: it is only ever in secret files, as a long blob.
        SigningKey::Es256 { private_pem, public_pem } => v.extend([private_pem.as_str(), public_pem.as_str()]),
    }
    if let Some(p) = &s.pki {
        v.extend([p.ca_key.as_str(), p.hub_key.as_str()]);
    }
    v.retain(|x| !x.is_empty());
    v.sort_by_key(|x| std::cmp::Reverse(x.len()));
    v
}

/// Replaces each of `values` in `text` with [`HIDDEN`].
pub fn mask(text: &str, values: &[&str]) -> String {
    let mut out = text.to_string();
    for v in values {
        if out.contains(v) {
            out = out.replace(v, HIDDEN);
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::pki::Pki;

    pub(crate) fn env() -> PreviewEnv {
        let s = |alg: &str| Secrets {
            jwt: if alg == "ES256" {
                SigningKey::Es256 {
                    private_pem: "-----BEGIN PRIVATE KEY-----\nPRIV\n-----END PRIVATE KEY-----".into(),
                    public_pem: "-----BEGIN PUBLIC KEY-----\nPUB\n-----END PUBLIC KEY-----".into(),
                }
            } else {
                SigningKey::Hmac(format!("{alg}-secret-value-0123456789012345678901234567890123456789012345678901"))
            },
            publisher_token: format!("{alg}.publisher.token"),
            subscriber_token: format!("{alg}.subscriber.token"),
            pki: Some(Pki {
                ca_cert: "CA CERT".into(),
                ca_key: "CA KEY SECRET".into(),
                hub_cert: "HUB CERT".into(),
                hub_key: "HUB KEY SECRET".into(),
            }),
        };
        PreviewEnv { hs256: s("HS256"), hs512: s("HS512"), es256: s("ES256"), nginx: None, hub: None }
    }

    #[test]
    fn no_secret_survives_masking() {
        let env = env();
        for (alg, topology) in [("HS256", "same-host-http"), ("HS512", "end-to-end-tls"), ("ES256", "end-to-end-tls")] {
            let mut d = Draft::default();
            d.set("jwt.algorithm", RawValue::Scalar(alg.into()), None);
            d.set("topology", RawValue::Scalar(topology.into()), None);
            let mut p = Preview::default();
            p.refresh(&d, &env);
            assert!(p.placeholder && p.problem.is_none());
            let secrets = env.secrets(crate::values::JwtAlgorithm::parse(alg).unwrap(), topology != "same-host-http");
            for (path, f) in &p.files {
                for v in secret_values(&secrets) {
                    assert!(!f.text.contains(v), "{path} shows a secret");
                }
            }
            assert!(p.files["mercure/mercure.env"].text.contains(HIDDEN));
        }
    }

    #[test]
    fn every_question_previews_a_file_holding_its_anchor() {
        let mut d = Draft::default();
        d.set("topology", RawValue::Scalar("end-to-end-tls".into()), None);
        let mut p = Preview::default();
        p.refresh(&d, &env());
        for q in crate::questions::QUESTIONS {
            let path = p.resolve(q.preview.file).unwrap_or_else(|| panic!("{}: no file {}", q.key, q.preview.file));
            assert!(p.files[&path].text.contains(q.preview.anchor), "{}: {path} lacks {:?}", q.key, q.preview.anchor);
        }
    }

    #[test]
    fn changes_are_marked_against_the_baseline() {
        let env = env();
        let mut d = Draft::default();
        d.set("domain", RawValue::Scalar("a.com".into()), None);
        let mut p = Preview::default();
        p.refresh(&d, &env);
        p.rebase();
        assert!(p.changed_lines("mercure/Caddyfile").iter().all(|c| !c));
        d.set("hub.port", RawValue::Scalar("3100".into()), None);
        p.refresh(&d, &env);
        let changed = p.changed_lines("mercure/Caddyfile");
        let lines: Vec<&str> = p.files["mercure/Caddyfile"].text.lines().collect();
        let marked: Vec<&str> = lines.iter().zip(&changed).filter(|(_, c)| **c).map(|(l, _)| *l).collect();
        assert_eq!(marked, ["http://:3100 {"]);
        d.set("hub.port", RawValue::Scalar("80".into()), None);
        p.refresh(&d, &env);
        assert!(p.problem.as_deref().is_some_and(|m| m.starts_with("hub.port:")));
        assert!(p.files["mercure/Caddyfile"].text.contains("http://:3100"));
    }

    #[test]
    fn auto_previews_the_line_of_the_hub_binary_asked_at_start() {
        let mut env = env();
        env.hub = Some(("/usr/local/bin/mercure".into(), crate::values::HubLine::V1_0));
        let mut d = Draft::default();
        d.set("domain", RawValue::Scalar("a.com".into()), None);
        let mut p = Preview::default();
        p.refresh(&d, &env);
        assert!(p.files["mercure/Caddyfile"].text.contains("issuer https://a.com {"));
        // Another binary was not asked: auto stays 0.24, as render finds no hub there.
        d.set("hub.binary", RawValue::Scalar("/opt/mercure".into()), None);
        p.refresh(&d, &env);
        assert!(p.files["mercure/Caddyfile"].text.contains("publisher_jwt"));
        // A line given explicitly wins.
        d.set("hub.version", RawValue::Scalar("1.0-compat".into()), None);
        p.refresh(&d, &env);
        assert!(p.files["mercure/Caddyfile"].text.contains("protocol_version_compatibility 8"));
    }
}
