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
                // Tests may reach anywhere: a unit test of `ship` builds the real CLI.
                let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or_default().to_string();
                out.insert(p.join("::"), code);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &[], &mut out);
    out
}

/// The path segments after each `anchor::` in `code`, expanding one level of
/// `anchor::a::{b, c::d}` into `a::b` and `a::c::d`. Comments are skipped (a line's
/// tail from `// `; a URL's `://` is not a comment).
fn paths_after(code: &str, anchor: &str) -> Vec<String> {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut found = Vec::new();
    for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
        let mut rest = line.split("// ").next().unwrap_or_default();
        while let Some(at) = rest.find(anchor) {
            let before = rest[..at].chars().next_back();
            rest = &rest[at + anchor.len()..];
            if before.is_some_and(ident) {
                continue;
            }
            let mut path = String::new();
            let mut tail = rest;
            loop {
                let seg: String = tail.chars().take_while(|c| ident(*c)).collect();
                if seg.is_empty() {
                    break;
                }
                path.push_str(&seg);
                tail = &tail[seg.len()..];
                match tail.strip_prefix("::") {
                    Some(t) => {
                        path.push_str("::");
                        tail = t;
                    }
                    None => break,
                }
            }
            if let Some(group) = tail.strip_prefix('{') {
                let inner = group.split('}').next().unwrap_or_default();
                for item in inner.split(',') {
                    let item = item.trim().split(' ').next().unwrap_or_default();
                    found.push(format!("{path}{item}"));
                }
            } else {
                found.push(path.trim_end_matches("::").to_string());
            }
        }
    }
    found
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
    let code = "use crate::apply::{backup::Backup, lock};\nlet x = crate::plan::Plan::new(); // crate::cli\n// use crate::cmd;\nuse super::beneath::Root;";
    assert_eq!(paths_after(code, "crate::"), ["apply::backup::Backup", "apply::lock", "plan::Plan::new"]);
    assert_eq!(paths_after(code, "super::"), ["beneath::Root"]);
    let modules = modules();
    assert_eq!(module_of("apply::backup::Backup", &modules).as_deref(), Some("apply::backup"));
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

#[test]
fn no_module_imports_itself_through_a_chain() {
    let edges = imports();
    let mut state = BTreeMap::new();
    for m in edges.keys() {
        let cycle = visit(m, &edges, &mut state, &mut Vec::new());
        assert!(cycle.is_none(), "an import cycle: {}", cycle.unwrap_or_default().join(" -> "));
    }
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
