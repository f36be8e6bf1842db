//! The answers file on disk: YAML text -> `Draft` (with line numbers for errors),
//! `--set KEY=VALUE` overrides, and writing a commented answers file back out.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_yaml::Value;

use crate::answers::{Answers, Draft, FieldError, SCHEMA_VERSION, Source, Warning, is_list_key};
use crate::questions::{self, QUESTIONS, RawValue, suggest_key};

/// Largest answers file read (a complete one is about 3 KiB).
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// Deepest nesting read: the answers file is two levels deep plus a list, so
/// anything deeper is a mistake, refused before the YAML library recurses into it.
const MAX_DEPTH: usize = 8;

/// Reads answers-file text into a draft, reporting every problem at once.
pub fn parse(text: &str, path: &str) -> Result<Draft, Vec<FieldError>> {
    let parsed = parse_all(text, path);
    if parsed.errors.is_empty() { Ok(parsed.draft) } else { Err(parsed.errors) }
}

/// An answers file as far as it could be read.
pub struct Parsed {
    /// Every key that could be read.
    pub draft: Draft,
    /// The problems with the others (or with the whole file).
    pub errors: Vec<FieldError>,
    /// The file was read through; `false` when a problem stopped the reading, so
    /// the draft is empty and checking it would only add false "is required" errors.
    pub read_through: bool,
}

/// Reads answers-file text into a draft of every key that could be read, and the
/// problems with the others, so that validation can report its own problems too.
pub fn parse_all(text: &str, path: &str) -> Parsed {
    let stopped = |draft, errors| Parsed { draft, errors, read_through: false };
    let at_file = |at| Some(Source::File { path: path.to_string(), at });
    let file_error =
        |at: (usize, usize), message: String| FieldError { key: "(file)".into(), message, source: at_file(Some(at)) };
    let mut draft = Draft::default();
    draft.set_file(path);
    // A UTF-8 byte order mark is not part of the YAML (editors on Windows add it).
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if let Some((at, c)) = control_char(text) {
        let what = if c == '\0' { "a NUL byte".to_string() } else { format!("control character U+{:04X}", c as u32) };
        return stopped(
            draft,
            vec![file_error(at, format!("contains {what}, which YAML does not allow; save the file as plain text"))],
        );
    }
    // Flow brackets are counted on the raw text first: the YAML parsers take time
    // quadratic in their depth.
    let scan = match flow_too_deep(text) {
        Some(at) => Scan { too_deep: Some(at), ..Scan::default() },
        None => scan_events(text),
    };
    if let Some(at) = scan.too_deep {
        return stopped(
            draft,
            vec![file_error(
                at,
                format!(
                    "nested more than {MAX_DEPTH} levels deep; an answers file has sections with keys, and lists of origins"
                ),
            )],
        );
    }
    let mut errors = scan_errors(&scan, path);
    if !errors.is_empty() {
        // serde_yaml would stop at the first duplicate, without the right line.
        return stopped(draft, errors);
    }
    let root: Value = match serde_yaml::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            let at = e.location().map(|l| (l.line(), l.column()));
            let (line, column) = at.unwrap_or((1, 1));
            let mut message = e.to_string();
            // serde_yaml appends " at line L column C"; the prefix already says where.
            if let Some(i) = message.find(" at line ") {
                message.truncate(i);
            }
            let (line, column) = (line.max(1), column.max(1));
            let shown = show_syntax_error(text, line, column, &message);
            return stopped(
                draft,
                vec![file_error(
                    (line, column),
                    format!("not valid YAML at line {line}, column {column}: {message}{shown}"),
                )],
            );
        }
    };
    let positions = scan.positions;
    let source = |key: &str| at_file(positions.get(key).copied());
    let root = match root {
        Value::Mapping(m) => m,
        Value::Null => serde_yaml::Mapping::new(),
        _ => {
            return stopped(
                draft,
                vec![file_error((1, 1), "expected a mapping of keys such as `domain: app.example.com`".into())],
            );
        }
    };
    let mut flat = Vec::new();
    flatten(&root, "", &mut flat, &mut |key, message| {
        errors.push(FieldError { key: key.to_string(), message, source: source(key) });
    });
    for (key, value) in flat {
        if key == "version" {
            if scalar_text(&value).as_deref() != Some(&SCHEMA_VERSION.to_string()) {
                errors.push(FieldError {
                    key,
                    message: format!("this mercure-setup reads answers-file version {SCHEMA_VERSION}"),
                    source: source("version"),
                });
            }
            continue;
        }
        let Some(q) = questions::question(&key) else {
            let hint = suggest_key(&key).map(|k| format!("; did you mean `{k}`?")).unwrap_or_default();
            let src = source(&key);
            errors.push(FieldError { message: format!("unknown key{hint}"), key, source: src });
            continue;
        };
        let Some(src) = source(q.key) else { continue };
        match to_raw(q.key, &value) {
            Ok(Some(raw)) => draft.set(q.key, raw, Some(src)),
            Ok(None) => draft.set_empty(q.key, src),
            Err(message) => errors.push(FieldError { key, message, source: Some(src) }),
        }
    }
    Parsed { draft, errors, read_through: true }
}

/// Where flow collections (`[`, `{`) first nest deeper than [`MAX_DEPTH`], outside
/// quotes and comments.
fn flow_too_deep(text: &str) -> Option<(usize, usize)> {
    let mut depth = 0usize;
    for (i, line) in text.lines().enumerate() {
        let (mut single, mut double, mut prev_space) = (false, false, true);
        for (j, c) in line.chars().enumerate() {
            match c {
                '\'' if !double => single = !single,
                '"' if !single => double = !double,
                '#' if !single && !double && prev_space => break,
                '[' | '{' if !single && !double => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Some((i + 1, j + 1));
                    }
                }
                ']' | '}' if !single && !double => depth = depth.saturating_sub(1),
                _ => {}
            }
            prev_space = c == ' ' || c == '\t';
        }
    }
    None
}

/// The problems the event scan found (duplicates, tags, complex keys), each with its line.
fn scan_errors(scan: &Scan, path: &str) -> Vec<FieldError> {
    let at_file = |at| Some(Source::File { path: path.to_string(), at: Some(at) });
    let mut errors: Vec<FieldError> = Vec::new();
    for (key, at, first) in &scan.duplicates {
        errors.push(FieldError {
            key: key.clone(),
            message: format!("is given twice (first at line {first}); keep one"),
            source: at_file(*at),
        });
    }
    for (key, at, tag) in &scan.tags {
        errors.push(FieldError {
            key: key.clone(),
            message: format!("has the YAML tag `{tag}`; write plain values (no `!!binary`, `!!str` or other tags)"),
            source: at_file(*at),
        });
    }
    for (parent, at) in &scan.complex_keys {
        errors.push(FieldError {
            key: if parent.is_empty() { "(file)".into() } else { parent.clone() },
            message: "a key must be a plain name such as `domain`, not a list or a mapping".into(),
            source: at_file(*at),
        });
    }
    errors
}

/// The first character YAML refuses (control characters other than tab and line
/// breaks), with its 1-based line and column.
fn control_char(text: &str) -> Option<((usize, usize), char)> {
    let (mut line, mut column) = (1, 1);
    for c in text.chars() {
        if c.is_control() && !matches!(c, '\t' | '\n' | '\r') {
            return Some(((line, column), c));
        }
        if c == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    None
}

/// Walks nested mappings into dotted keys; sections are the known key prefixes.
fn flatten(map: &serde_yaml::Mapping, prefix: &str, out: &mut Vec<(String, Value)>, err: &mut dyn FnMut(&str, String)) {
    for (k, v) in map {
        // Complex keys (lists, mappings) were reported from the scan, with their line.
        let Some(name) = scalar_text(k) else { continue };
        let name = name.as_str();
        let key = if prefix.is_empty() { name.to_string() } else { format!("{prefix}.{name}") };
        let is_section = QUESTIONS.iter().any(|q| q.key.starts_with(&format!("{key}.")));
        match v {
            Value::Mapping(inner) if is_section => flatten(inner, &key, out, err),
            Value::Null if is_section => {}
            _ if is_section => err(&key, "is a section: expected nested keys".into()),
            _ => out.push((key, v.clone())),
        }
    }
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Converts one YAML value to a raw value of the key's shape; `None` for null (use the default).
fn to_raw(key: &str, v: &Value) -> Result<Option<RawValue>, String> {
    if v.is_null() {
        return Ok(None);
    }
    if is_list_key(key) {
        let Value::Sequence(items) = v else {
            return Err("expected a list, e.g. [https://admin.example.com]".into());
        };
        let items: Option<Vec<String>> = items.iter().map(scalar_text).collect();
        return items.map(|i| Some(RawValue::List(i))).ok_or_else(|| "list entries must be plain values".into());
    }
    if key == "nginx.version" && v.is_number() {
        // Unquoted, YAML reads 1.20 as the number 1.2.
        let read = scalar_text(v).unwrap_or_default();
        return Err(format!("write the version quoted, e.g. '1.20': unquoted, YAML reads it as the number {read}"));
    }
    scalar_text(v).map(|s| Some(RawValue::Scalar(s))).ok_or_else(|| "expected a single value".into())
}

/// What one pass over the YAML parser's events finds: where each dotted key is
/// written (line, column; 1-based), and the problems `serde_yaml` would report badly
/// or not at all. Works for block and flow style alike, and needs no recursion, so
/// deep nesting is found before `serde_yaml` recurses into it.
/// The offending line with a caret under `column`, and a hint for the two mistakes
/// behind most YAML syntax errors in a hand-written file: a tab, and a key indented
/// differently from its neighbours.
fn show_syntax_error(text: &str, line: usize, column: usize, message: &str) -> String {
    let Some(source) = text.lines().nth(line - 1) else { return String::new() };
    // Tabs are shown as one space so the caret lines up; the hint says where they were.
    let shown: String = source.chars().map(|c| if c == '\t' { ' ' } else { c }).collect();
    let caret = " ".repeat(column.saturating_sub(1).min(shown.chars().count()));
    let mut out = format!("\n      {line} | {shown}\n      {} | {caret}^", " ".repeat(line.to_string().len()));
    let indent: String = source.chars().take_while(|c| c.is_whitespace()).collect();
    if indent.contains('\t') || (source.contains('\t') && message.contains("cannot start any token")) {
        out.push_str("\n    hint: YAML indents with spaces, never tabs: replace the tab on this line with spaces");
    } else if text.lines().any(|l| l.starts_with('\t')) {
        out.push_str("\n    hint: the file indents some lines with tabs; YAML allows only spaces");
    } else if ["mapping values are not allowed", "did not find expected key", "block mapping", "indentation"]
        .iter()
        .any(|m| message.contains(m))
    {
        out.push_str(
            "\n    hint: a section's keys are indented by the same number of spaces (e.g. two) under it, \
             and `key: value` holds one value; compare this line's indentation with the line above",
        );
    }
    out
}

#[derive(Default)]
struct Scan {
    positions: BTreeMap<String, (usize, usize)>,
    /// Dotted key, where it is repeated, the line it was first given on.
    duplicates: Vec<(String, (usize, usize), usize)>,
    /// Dotted key (of the value), where, the tag as written.
    tags: Vec<(String, (usize, usize), String)>,
    /// Dotted key of the enclosing mapping, where the complex key starts.
    complex_keys: Vec<(String, (usize, usize))>,
    too_deep: Option<(usize, usize)>,
}

fn scan_events(text: &str) -> Scan {
    let mut recorder = KeyRecorder::default();
    // A syntax error is reported by serde_yaml afterwards; this scan is best effort.
    let _ = yaml_rust2::parser::Parser::new_from_str(text).load(&mut recorder, false);
    recorder.scan
}

/// One open YAML collection while walking the parser's events.
enum Open {
    /// A mapping, with the key whose value comes next (if a key was just read).
    Mapping {
        pending_key: Option<String>,
        /// A complex key (a collection) is being read: its events are not values.
        complex: usize,
    },
    Sequence,
}

#[derive(Default)]
struct KeyRecorder {
    open: Vec<Open>,
    /// Dotted path of the mappings entered so far.
    path: Vec<String>,
    scan: Scan,
}

impl KeyRecorder {
    /// A value (scalar or collection) has started where the innermost mapping expected one.
    fn value_started(&mut self) -> Option<String> {
        match self.open.last_mut() {
            Some(Open::Mapping { pending_key, complex: 0 }) => pending_key.take(),
            _ => None,
        }
    }

    fn dotted(&self, key: Option<&str>) -> String {
        let mut parts = self.path.clone();
        parts.extend(key.map(str::to_string));
        parts.join(".")
    }

    /// In the key of a complex key: nested events belong to that key.
    fn in_complex_key(&self) -> bool {
        self.open.iter().any(|o| matches!(o, Open::Mapping { complex, .. } if *complex > 0))
    }

    fn start_collection(&mut self, mark: (usize, usize), is_mapping: bool) {
        if self.open.len() >= MAX_DEPTH && self.scan.too_deep.is_none() {
            self.scan.too_deep = Some(mark);
        }
        if self.in_complex_key() {
            if let Some(Open::Mapping { complex, .. }) =
                self.open.iter_mut().rev().find(|o| matches!(o, Open::Mapping { complex, .. } if *complex > 0))
            {
                *complex += 1;
            }
            return;
        }
        let expects_key = matches!(self.open.last(), Some(Open::Mapping { pending_key: None, complex: 0 }));
        if expects_key {
            // A list or mapping used as a key.
            self.scan.complex_keys.push((self.dotted(None), mark));
            if let Some(Open::Mapping { complex, .. }) = self.open.last_mut() {
                *complex = 1;
            }
            return;
        }
        let key = self.value_started();
        if is_mapping {
            match key {
                Some(key) => self.path.push(key),
                // A mapping inside a list: its keys are not answers keys.
                None if !self.open.is_empty() => self.path.push("[]".into()),
                None => {}
            }
            self.open.push(Open::Mapping { pending_key: None, complex: 0 });
        } else {
            self.open.push(Open::Sequence);
        }
    }

    fn end_collection(&mut self) {
        if let Some(Open::Mapping { complex, pending_key }) =
            self.open.iter_mut().rev().find(|o| matches!(o, Open::Mapping { complex, .. } if *complex > 0))
        {
            *complex -= 1;
            if *complex == 0 {
                // The complex key is complete; its value follows under a placeholder name.
                *pending_key = Some("[]".into());
            }
            return;
        }
        if let Some(Open::Mapping { .. }) = self.open.pop()
            && !self.open.is_empty()
        {
            self.path.pop();
        }
    }
}

impl yaml_rust2::parser::MarkedEventReceiver for KeyRecorder {
    fn on_event(&mut self, ev: yaml_rust2::Event, mark: yaml_rust2::scanner::Marker) {
        use yaml_rust2::Event;
        let at = (mark.line(), mark.col() + 1);
        match ev {
            Event::Scalar(value, _, _, tag) => {
                if self.in_complex_key() {
                    return;
                }
                let expects_key = matches!(self.open.last(), Some(Open::Mapping { pending_key: None, complex: 0 }));
                if expects_key {
                    let dotted = self.dotted(Some(&value));
                    if let Some(first) = self.scan.positions.get(&dotted) {
                        self.scan.duplicates.push((dotted.clone(), at, first.0));
                    } else {
                        self.scan.positions.insert(dotted, at);
                    }
                    if let Some(Open::Mapping { pending_key, .. }) = self.open.last_mut() {
                        *pending_key = Some(value);
                    }
                } else {
                    let key = self.value_started();
                    if let Some(tag) = tag {
                        let owner = match key {
                            Some(k) => self.dotted(Some(&k)),
                            None => self.dotted(None),
                        };
                        let written = if tag.handle == "tag:yaml.org,2002:" || tag.handle == "!!" {
                            format!("!!{}", tag.suffix)
                        } else {
                            format!("{}{}", tag.handle, tag.suffix)
                        };
                        self.scan.tags.push((owner, at, written));
                    }
                }
            }
            Event::MappingStart(..) => self.start_collection(at, true),
            Event::SequenceStart(..) => self.start_collection(at, false),
            Event::MappingEnd | Event::SequenceEnd => self.end_collection(),
            Event::Alias(_) if !self.in_complex_key() => {
                self.value_started();
            }
            _ => {}
        }
    }
}

/// Answers-file `text` (`shown` names it) with `--set` overrides, validated: every problem
/// at once. The values that were read are validated too, except keys already reported
/// (their default would only add a second message).
pub fn load(text: &str, shown: &str, sets: &[String]) -> Result<(Answers, Vec<Warning>), Vec<FieldError>> {
    let Parsed { mut draft, mut errors, read_through } = parse_all(text, shown);
    if let Err(e) = apply_sets(&mut draft, sets) {
        errors.extend(e);
    }
    match Answers::from_draft(&draft) {
        Ok(ok) if errors.is_empty() => Ok(ok),
        Ok(_) => Err(errors),
        Err(more) => {
            if read_through {
                let reported: Vec<String> = errors.iter().map(|e| e.key.clone()).collect();
                errors.extend(more.into_iter().filter(|e| !reported.contains(&e.key)));
            }
            Err(errors)
        }
    }
}

/// Applies `--set KEY=VALUE` overrides; lists are comma-separated (`[]` for empty).
pub fn apply_sets(draft: &mut Draft, sets: &[String]) -> Result<(), Vec<FieldError>> {
    let mut errors = Vec::new();
    for set in sets {
        let Some((key, value)) = set.split_once('=') else {
            errors.push(FieldError {
                key: set.clone(),
                message: "expected KEY=VALUE, e.g. --set hub.port=3100".into(),
                source: Some(Source::Set),
            });
            continue;
        };
        let Some(q) = questions::question(key) else {
            let hint = suggest_key(key).map(|k| format!("; did you mean `{k}`?")).unwrap_or_default();
            errors.push(FieldError {
                key: key.to_string(),
                message: format!("unknown key{hint}"),
                source: Some(Source::Set),
            });
            continue;
        };
        draft.set(q.key, raw_from_text(q.key, value), Some(Source::Set));
    }
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

/// Text typed on one line (in `--set` or a wizard field) as a raw value of the key's shape.
pub fn raw_from_text(key: &str, text: &str) -> RawValue {
    if is_list_key(key) {
        let text = text.trim();
        let inner = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')).unwrap_or(text);
        RawValue::List(inner.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect())
    } else {
        RawValue::Scalar(text.to_string())
    }
}

/// A raw value as one line of text (the inverse of `raw_from_text`).
pub fn raw_to_text(value: &RawValue) -> String {
    match value {
        RawValue::Scalar(s) => s.clone(),
        RawValue::List(items) => items.join(", "),
    }
}

/// Writes a commented answers file: every key in table order, with its help line.
/// Keys the draft gives are written as values; the others as commented-out
/// defaults, so that leaving them alone keeps following the defaults.
pub fn write_commented(draft: &Draft, header: &str) -> String {
    let topology = draft.topology().unwrap_or_default();
    let mut out = String::new();
    for line in header.lines() {
        let _ = writeln!(out, "{}", format!("# {line}").trim_end());
    }
    let _ = writeln!(out, "version: {SCHEMA_VERSION}");
    let mut section = "";
    for q in QUESTIONS {
        let (sec, name) = q.key.rsplit_once('.').unwrap_or(("", q.key));
        if sec != section {
            let _ = writeln!(out, "\n{sec}:");
            section = sec;
        }
        let indent = if sec.is_empty() { "" } else { "  " };
        if sec.is_empty() {
            out.push('\n');
        }
        let _ = writeln!(out, "{indent}# {}", q.help);
        if !(q.visible)(topology) {
            let _ = writeln!(out, "{indent}# (used by the other topology only)");
        }
        match draft.given(q.key) {
            Some(v) => {
                let _ = writeln!(out, "{indent}{name}: {}", yaml_value(v));
            }
            None if q.required => {
                let _ = writeln!(out, "{indent}{name}:   # required");
            }
            None => {
                let _ = writeln!(out, "{indent}# {name}: {}", yaml_value(&draft.value(q.key)));
            }
        }
    }
    out
}

/// Quotes every string: validated values carry no quotes, and YAML would read
/// `*`, `off`, `1.20` or `yes` as something else when plain.
fn yaml_value(v: &RawValue) -> String {
    let quote = |s: &str| {
        if s.parse::<u64>().is_ok() || s == "true" || s == "false" {
            s.to_string()
        } else {
            format!("'{}'", s.replace('\'', "''"))
        }
    };
    match v {
        RawValue::Scalar(s) => quote(s),
        RawValue::List(items) => format!("[{}]", items.iter().map(|s| quote(s)).collect::<Vec<_>>().join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answers::Answers;

    #[test]
    fn reads_nested_keys_with_lines() {
        let text = "version: 1\ndomain: a.com\nhub:\n  port: 3100\n  cors_origins:\n    - https://x.com\n";
        let d = parse(text, "a.yaml").unwrap();
        assert_eq!(d.given("hub.port"), Some(&RawValue::Scalar("3100".into())));
        assert_eq!(d.given("hub.cors_origins"), Some(&RawValue::List(vec!["https://x.com".into()])));
    }

    #[test]
    fn unknown_keys_and_type_errors_name_the_line() {
        let text = "domain: a.com\nhub:\n  prot: 3100\n  port: [1, 2]\nnginx: 3\n";
        let errs: Vec<String> = parse(text, "a.yaml").unwrap_err().iter().map(ToString::to_string).collect();
        assert_eq!(
            errs,
            [
                "a.yaml:5:1: nginx: is a section: expected nested keys",
                "a.yaml:3:3: hub.prot: unknown key; did you mean `hub.port`?",
                "a.yaml:4:3: hub.port: expected a single value",
            ]
        );
    }

    #[test]
    fn flow_style_and_empty_keys_have_positions_too() {
        let errs = |text: &str| -> Vec<String> {
            let d = match parse(text, "a.yaml") {
                Ok(d) => d,
                Err(e) => return e.iter().map(ToString::to_string).collect(),
            };
            Answers::from_draft(&d).unwrap_err().iter().map(ToString::to_string).collect()
        };
        assert_eq!(
            errs("domain: a.com\njwt: {algorithm: RS256}\n"),
            ["a.yaml:2:7: jwt.algorithm: `RS256` is not supported: use HS256, HS512 or ES256"]
        );
        assert_eq!(errs("domain:\n"), ["a.yaml:1:1: domain: is required"]);
        assert_eq!(errs("hub: {port: 3100}\n"), ["a.yaml: domain: is required"]);
        assert_eq!(
            errs("domain: a.com\nnginx:\n  version: 1.20\n"),
            [
                "a.yaml:3:3: nginx.version: write the version quoted, e.g. '1.20': unquoted, YAML reads it as the number 1.2"
            ]
        );
        let list = "domain: a.com\nhub:\n  cors_origins:\n    - https://a.com\n    - https://b.com/\n";
        assert_eq!(
            errs(list),
            [
                "a.yaml:3:3: hub.cors_origins: `https://b.com/` ends with `/`: an origin has no trailing slash (browsers send none, so it would never match)"
            ]
        );
    }

    #[test]
    fn syntax_errors_name_line_and_column() {
        let err = parse("domain: a.com\nhub: [\n", "a.yaml").unwrap_err();
        assert!(err[0].to_string().starts_with("a.yaml:3:1: (file): not valid YAML at line 3"), "{}", err[0]);
    }

    #[test]
    fn syntax_errors_show_the_line_a_caret_and_a_hint() {
        let err = errors("domain: a.example.com\nhub:\n\tport: 3000\n");
        assert_eq!(
            err,
            [
                "a.yaml:3:1: (file): not valid YAML at line 3, column 1: found character that cannot start any token\n      \
              3 |  port: 3000\n        | ^\n    hint: YAML indents with spaces, never tabs: replace the tab on this \
              line with spaces"
            ]
        );
        let err = errors("domain: a.example.com\nhub:\n  port: 3000\n   heartbeat: 40s\n");
        assert!(err[0].contains("\n      4 |    heartbeat: 40s\n        |             ^\n"), "{}", err[0]);
        assert!(err[0].contains("hint: a section's keys are indented by the same number of spaces"), "{}", err[0]);
    }

    fn errors(text: &str) -> Vec<String> {
        parse(text, "a.yaml").unwrap_err().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn odd_yaml_gets_plain_messages_at_the_right_line() {
        // A byte order mark is ignored.
        assert!(parse("\u{feff}domain: a.example.com\n", "a.yaml").is_ok());
        assert_eq!(
            errors("domain: a.example.com\nhub:\n  port: 3000\n  port: 3001\n"),
            ["a.yaml:4:3: hub.port: is given twice (first at line 3); keep one"]
        );
        assert_eq!(
            errors("domain: a.example.com\nhub:\n  port: 30\u{0}00\n"),
            ["a.yaml:3:11: (file): contains a NUL byte, which YAML does not allow; save the file as plain text"]
        );
        assert_eq!(
            errors("domain: a.example.com\n? [a, b]\n: x\n"),
            ["a.yaml:2:3: (file): a key must be a plain name such as `domain`, not a list or a mapping"]
        );
        assert_eq!(
            errors("domain: !!binary YS5leGFtcGxlLmNvbQ==\n"),
            [
                "a.yaml:1:18: domain: has the YAML tag `!!binary`; write plain values (no `!!binary`, `!!str` or other tags)"
            ]
        );
        let deep = format!("domain: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        let start = std::time::Instant::now();
        assert!(errors(&deep)[0].contains("nested more than 8 levels"));
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
        // Brackets inside quotes and comments do not count.
        assert!(parse("domain: '[[[[[[[[[[[[' # {{{{{{{{{{{\n", "a.yaml").is_ok());
    }

    #[test]
    fn every_problem_is_reported_with_the_readable_values() {
        let parsed = parse_all("domian: a.example.com\nhub:\n  port: 80\n  heartbeat: 0s\n", "a.yaml");
        assert!(parsed.read_through);
        assert_eq!(parsed.errors.len(), 1);
        let more = Answers::from_draft(&parsed.draft).unwrap_err();
        let keys: Vec<_> = more.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["domain", "hub.port", "hub.heartbeat"]);
    }

    #[test]
    fn sets_override_and_split_lists() {
        let mut d = parse("domain: a.com\n", "a.yaml").unwrap();
        apply_sets(&mut d, &["hub.port=3100".into(), "hub.cors_origins=https://x.com, https://y.com".into()]).unwrap();
        let (a, _) = Answers::from_draft(&d).unwrap();
        assert_eq!(a.hub.port.get(), 3100);
        assert_eq!(a.hub.cors_origins.len(), 2);
        let err = apply_sets(&mut d, &["hub.prot=1".into()]).unwrap_err();
        assert_eq!(err[0].to_string(), "--set hub.prot: unknown key; did you mean `hub.port`?");
    }

    #[test]
    fn template_comments_out_defaults() {
        let mut d = Draft::default();
        d.set("topology", RawValue::Scalar("end-to-end-tls".into()), None);
        let text = write_commented(&d, "init");
        assert!(text.contains("\ntopology: 'end-to-end-tls'\n"), "{text}");
        assert!(text.contains("\n  # port: 8443\n"), "{text}");
        assert!(text.contains("\ndomain:   # required\n"), "{text}");
        let errs = parse(&text, "init.yaml").map(|d| Answers::from_draft(&d).unwrap_err()).unwrap();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].key, "domain");
    }

    #[test]
    fn commented_file_round_trips() {
        let mut d = parse("domain: a.com\nhub:\n  cors_origins: ['*']\nnginx:\n  version: '1.20'\n", "a").unwrap();
        apply_sets(&mut d, &[]).unwrap();
        let (a, _) = Answers::from_draft(&d).unwrap();
        let text = write_commented(&a.to_draft(), "test");
        let (b, _) = Answers::from_draft(&parse(&text, "b").unwrap()).unwrap();
        assert_eq!(a, b);
    }
}
