//! Files edited since render: the bundle's manifest knows what `render` wrote, so
//! a hand edit (often a blog post's advice) is named, and shown as a diff on `-v`
//! against what the answers and the kept secrets render now.

use std::fmt::Write as _;

use super::{Finding, Lint, to_check};
use crate::bundle::paths;
use crate::bundle_dir::BundleDir;
use crate::check::{CheckResult, Outcome};
use crate::output::{self, Edited};
use crate::troubleshooting::Row;

pub const EDITED: Lint = Lint {
    id: "lint-edited",
    title: "files as render wrote them",
    row: Row::EditedByHand,
    passed: "every file holds what the last render wrote (.state/manifest.json)",
    fix: "put the change in the answers and render again, or render with --force to discard the edits; \
          `check -v` shows each edit",
};

/// The findings for what `edited_since_render` returned.
pub fn findings(edited: &[Edited]) -> Vec<Finding> {
    edited
        .iter()
        .map(|e| match e {
            Edited::Changed(rel) => Finding::file(rel, "edited since the last render"),
            Edited::Missing(rel) => Finding::file(rel, "missing (the last render wrote it)"),
        })
        .collect()
}

/// The lint as a check; `verbose` adds a unified diff per edited file (never a secret's).
pub fn check(bundle: &BundleDir, verbose: bool) -> CheckResult {
    let edited = match output::edited_since_render(&bundle.root) {
        Ok(Some(e)) => e,
        Ok(None) => {
            let outcome = Outcome::NotRun {
                reason: format!("no {} (the bundle was copied without its state)", paths::state::MANIFEST),
                install: "render into this folder again to have one".into(),
            };
            return CheckResult {
                id: EDITED.id,
                title: EDITED.title.into(),
                files: vec![paths::state::MANIFEST.into()],
                row: Some(EDITED.row),
                outcome,
            };
        }
        Err(e) => {
            return CheckResult {
                id: EDITED.id,
                title: EDITED.title.into(),
                files: vec![paths::state::MANIFEST.into()],
                row: Some(EDITED.row),
                outcome: Outcome::Failed { error: e.to_string(), fix: EDITED.fix.into() },
            };
        }
    };
    let files: Vec<String> = edited
        .iter()
        .map(|e| match e {
            Edited::Changed(r) | Edited::Missing(r) => r.clone(),
        })
        .collect();
    let mut result = to_check(&EDITED, &files, &findings(&edited));
    if verbose && let Outcome::Failed { error, .. } = &mut result.outcome {
        error.push_str(&diffs(bundle, &files));
    }
    result
}

/// A unified diff from what the bundle renders now to each file on disk.
fn diffs(bundle: &BundleDir, files: &[String]) -> String {
    let rendered = match crate::generate::generate(bundle.answers.clone(), &bundle.root, false) {
        Ok(g) => g.bundle,
        Err(e) => return format!("\n(no diff: rendering the answers again failed: {e})"),
    };
    let mut out = String::new();
    for rel in files {
        if rendered.files.get(rel).is_some_and(|f| f.secret) {
            let _ = write!(out, "\n--- a/{rel}\n+++ b/{rel}\n(secret: contents not shown)");
            continue;
        }
        let new = bundle.read(rel).unwrap_or_default();
        let old = rendered.get(rel).unwrap_or_default();
        let diff = similar::TextDiff::from_lines(old, new.as_str());
        let text = diff.unified_diff().context_radius(2).header(&format!("a/{rel}"), &format!("b/{rel}")).to_string();
        let _ = write!(out, "\n{}", text.trim_end());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_each_edited_or_missing_file() {
        let f = findings(&[Edited::Changed("nginx/a.conf".into()), Edited::Missing("mercure/Caddyfile".into())]);
        let shown: Vec<String> = f.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            ["nginx/a.conf: edited since the last render", "mercure/Caddyfile: missing (the last render wrote it)"]
        );
        assert!(findings(&[]).is_empty());
    }
}
