//! The import drawing of `src/`, checked: no two files import each other through any
//! chain, nothing but the command line reaches into the commands, and the pure pipeline
//! (answers -> plan -> bundle) imports nothing from the edges that touch files,
//! processes, the network or the terminal. A reader can trust the layering the README's
//! code map describes because this test fails the day it stops being true.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The modules of the pure pipeline: data in, data out, no clock, randomness, files,
/// processes or terminal.
const PIPELINE: &[&str] = &[
    "alerts",
    "answers",
    "answers_file",
    "bearer",
    "bundle",
    "deployment",
    "formats",
    "install_plan",
    "jwt",
    "plan",
    "questions",
    "render",
    "schema",
    "sizing",
    "teaching",
    "tls_profile",
    "troubleshooting",
    "values",
];

/// The edges: everything that reads or writes the world, the commands, and the errors
/// the commands end with.
const EDGES: &[&str] = &[
    "apply",
    "bundle_dir",
    "check",
    "cli",
    "cmd",
    "diagnosis",
    "doctor",
    "error",
    "generate",
    "host",
    "lab",
    "loadtest",
    "net",
    "output",
    "pki",
    "random",
    "secrets",
    "ship",
    "status",
    "stdout",
    "ui",
    "wizard",
];

/// The one import from the pipeline into an edge module, and why: rendering takes the
/// secrets as its input (`render(&Plan, &Secrets)`); only `secrets`' data type is used,
/// the loading and making stay at the edge.
const PIPELINE_EXCEPTIONS: &[(&str, &str)] = &[("render", "secrets")];

/// Module path (`apply::backup`) -> source without its unit-test module.
fn modules() -> BTreeMap<String, String> {
    fn walk(dir: &Path, prefix: &[String], out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                let mut p = prefix.to_vec();
                p.push(name);
                walk(&path, &p, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let mut p = prefix.to_vec();
                if name != "mod" {
                    p.push(name);
                }
                if p.is_empty() || p == ["lib"] || p == ["main"] {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                out.insert(p.join("::"), without_unit_tests(&text).to_string());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &[], &mut out);
    out
}

/// `text` up to its unit-test module (`#[cfg(test)] mod tests`, `pub mod tests`...):
/// tests may reach anywhere (a unit test of `ship` builds the real CLI).
fn without_unit_tests(text: &str) -> &str {
    let mut from = 0;
    while let Some(at) = text[from..].find("#[cfg(test)]") {
        let start = from + at;
        let after = text[start + "#[cfg(test)]".len()..].trim_start();
        let after = ["pub(super) ", "pub(crate) ", "pub "].iter().find_map(|v| after.strip_prefix(v)).unwrap_or(after);
        if after.starts_with("mod tests") {
            return &text[..start];
        }
        from = start + 1;
    }
    text
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The paths after each `anchor` (`crate::`, `super::`) in `code`, with groups expanded
/// at any depth and across lines: `crate::a::{b, c::{d, e}}` gives `a::b`, `a::c::d`
/// and `a::c::e`. Comments are skipped (whole `//` lines and a line's tail from `// `;
/// a URL's `://` is not one).
fn paths_after(code: &str, anchor: &str) -> Vec<String> {
    let code: Vec<&str> = code
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .map(|l| l.split("// ").next().unwrap_or_default())
        .collect();
    let code = code.join("\n");
    let mut found = Vec::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find(anchor) {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + anchor.len()..];
        if !before.is_some_and(is_ident) {
            expand("", rest, &mut found);
        }
    }
    found
}

/// Reads the path at the start of `text` onto `prefix`; a `{...}` group after it is
/// split at its top-level commas and each item read the same way.
fn expand(prefix: &str, text: &str, found: &mut Vec<String>) {
    let mut path = prefix.to_string();
    let mut tail = text.trim_start();
    loop {
        let segment: String = tail.chars().take_while(|c| is_ident(*c)).collect();
        path.push_str(&segment);
        tail = &tail[segment.len()..];
        match tail.strip_prefix("::") {
            Some(t) if !segment.is_empty() => {
                path.push_str("::");
                tail = t;
            }
            _ => break,
        }
    }
    let Some(group) = tail.strip_prefix('{') else {
        found.push(path.trim_end_matches("::").to_string());
        return;
    };
    let (mut depth, mut item_start) = (0usize, 0);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                expand(&path, &group[item_start..i], found);
                return;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                expand(&path, &group[item_start..i], found);
                item_start = i + 1;
            }
            _ => {}
        }
    }
}

/// The longest module that `path` names (`apply::backup::Backup` -> `apply::backup`).
fn module_of(path: &str, modules: &BTreeMap<String, String>) -> Option<String> {
    let parts: Vec<&str> = path.split("::").collect();
    (1..=parts.len()).rev().map(|n| parts[..n].join("::")).find(|m| modules.contains_key(m))
}

fn is_within(inner: &str, outer: &str) -> bool {
    inner == outer || inner.starts_with(&format!("{outer}::"))
}

/// Each module's imports of other modules, leaving out a module's own parents and
/// children (a folder's `mod.rs` and its files are one unit).
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let modules = modules();
    let mut edges = BTreeMap::new();
    for (name, code) in &modules {
        let parent = name.rsplit_once("::").map(|(p, _)| p.to_string());
        let mut targets: Vec<String> = paths_after(code, "crate::");
        targets.extend(
            paths_after(code, "super::")
                .into_iter()
                .map(|p| parent.as_ref().map_or(p.clone(), |parent| format!("{parent}::{p}"))),
        );
        let set: BTreeSet<String> = targets
            .iter()
            .filter_map(|t| module_of(t, &modules))
            .filter(|t| !is_within(t, name) && !is_within(name, t))
            .collect();
        edges.insert(name.clone(), set);
    }
    edges
}

fn top(module: &str) -> &str {
    module.split("::").next().unwrap_or(module)
}

#[test]
fn the_parser_reads_grouped_and_relative_imports() {
    let code = "use crate::apply::{backup::Backup, lock};\nlet x = crate::plan::Plan::new(); // crate::cli\n\
                // use crate::cmd;\nuse super::beneath::Root;\nuse crate::{\n    net::{self, Url},\n    ui,\n};";
    assert_eq!(
        paths_after(code, "crate::"),
        ["apply::backup::Backup", "apply::lock", "plan::Plan::new", "net::self", "net::Url", "ui", ""]
    );
    assert_eq!(paths_after(code, "super::"), ["beneath::Root"]);
    assert_eq!(without_unit_tests("a\n#[cfg(test)]\npub(super) mod tests {}"), "a\n");
    assert_eq!(without_unit_tests("#[cfg(test)]\nuse x;\nb"), "#[cfg(test)]\nuse x;\nb");
    let modules = modules();
    assert_eq!(module_of("apply::backup::Backup", &modules).as_deref(), Some("apply::backup"));
    assert_eq!(module_of("net::self", &modules).as_deref(), Some("net"));
    assert!(modules.len() > 60, "src/ was not found: {} modules", modules.len());
    // The drawing sees the imports a reader sees: render takes the plan, apply runs the install plan.
    let edges = imports();
    assert!(edges["render"].contains("plan"), "{:?}", edges["render"]);
    assert!(edges["apply"].iter().any(|m| m.starts_with("install_plan")), "{:?}", edges["apply"]);
}

/// Depth-first search from `m`: a module met again while still on the stack closes a cycle.
fn visit<'a>(
    m: &'a str,
    edges: &'a BTreeMap<String, BTreeSet<String>>,
    state: &mut BTreeMap<&'a str, bool>,
    stack: &mut Vec<&'a str>,
) -> Option<Vec<String>> {
    match state.get(m) {
        Some(true) => return None,
        Some(false) => {
            let from = stack.iter().position(|s| *s == m).unwrap_or(0);
            return Some(stack[from..].iter().chain([&m]).map(ToString::to_string).collect());
        }
        None => {}
    }
    state.insert(m, false);
    stack.push(m);
    for next in edges.get(m).into_iter().flatten() {
        if let Some(cycle) = visit(next, edges, state, stack) {
            return Some(cycle);
        }
    }
    stack.pop();
    state.insert(m, true);
    None
}

/// A cycle in `edges`, if there is one.
fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    let mut state = BTreeMap::new();
    edges.keys().find_map(|m| visit(m, edges, &mut state, &mut Vec::new()))
}

#[test]
fn no_module_imports_itself_through_a_chain() {
    let files = imports();
    let cycle = find_cycle(&files);
    assert!(cycle.is_none(), "an import cycle between files: {}", cycle.unwrap_or_default().join(" -> "));
    // A folder and its files as one unit: `output::read` -> `error` -> `output` is a cycle too.
    let mut folders: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, targets) in &files {
        let outward = targets.iter().filter(|t| top(t) != top(module)).map(|t| top(t).to_string());
        folders.entry(top(module).to_string()).or_default().extend(outward);
    }
    let cycle = find_cycle(&folders);
    assert!(cycle.is_none(), "an import cycle between top-level modules: {}", cycle.unwrap_or_default().join(" -> "));
}

#[test]
fn only_the_command_line_reaches_into_the_commands() {
    for (module, targets) in imports() {
        if ["cli", "cmd"].contains(&top(&module)) {
            continue;
        }
        let into: Vec<_> = targets.iter().filter(|t| ["cli", "cmd"].contains(&top(t))).collect();
        assert!(into.is_empty(), "{module} imports {into:?}: commands call the library, never the reverse");
    }
}

#[test]
fn the_pipeline_imports_no_edge() {
    let modules = modules();
    let tops: BTreeSet<&str> = modules.keys().map(|m| top(m)).collect();
    for t in &tops {
        assert!(
            PIPELINE.contains(t) || EDGES.contains(t),
            "module {t} is in neither PIPELINE nor EDGES of this test: say which it is"
        );
    }
    for (module, targets) in imports() {
        if !PIPELINE.contains(&top(&module)) {
            continue;
        }
        for t in targets {
            let allowed = PIPELINE_EXCEPTIONS.contains(&(top(&module), top(&t)));
            assert!(
                !EDGES.contains(&top(&t)) || allowed,
                "{module} (pipeline) imports {t} (edge): the data flows answers -> plan -> bundle -> write/check/apply"
            );
        }
    }
}
