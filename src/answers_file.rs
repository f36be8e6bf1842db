//! The answers file on disk: YAML text -> `Draft` (with line numbers for errors),
//! `--set KEY=VALUE` overrides, and writing a commented answers file back out.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_yaml::Value;

use crate::answers::{Draft, FieldError, RawValue, SCHEMA_VERSION, Source, is_list_key};
use crate::questions::{self, QUESTIONS, suggest_key};

/// Largest answers file read (a complete one is about 3 KiB).
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// Reads answers-file text into a draft, reporting every problem at once.
pub fn parse(text: &str, path: &str) -> Result<Draft, Vec<FieldError>> {
    let at_file = |at| Some(Source::File { path: path.to_string(), at });
    let root: Value = serde_yaml::from_str(text).map_err(|e| {
        let at = e.location().map(|l| (l.line(), l.column()));
        let (line, column) = at.unwrap_or((0, 0));
        vec![FieldError {
            key: "(file)".into(),
            message: format!("not valid YAML at line {line}, column {column}: {e}"),
            source: at_file(at),
        }]
    })?;
    let positions = key_positions(text);
    let source = |key: &str| at_file(positions.get(key).copied());
    let mut errors = Vec::new();
    let mut draft = Draft::default();
    draft.set_file(path);
    let root = match root {
        Value::Mapping(m) => m,
        Value::Null => serde_yaml::Mapping::new(),
        _ => {
            return Err(vec![FieldError {
                key: "(file)".into(),
                message: "expected a mapping of keys such as `domain: app.example.com`".into(),
                source: at_file(Some((1, 1))),
            }]);
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
    if errors.is_empty() { Ok(draft) } else { Err(errors) }
}

/// Walks nested mappings into dotted keys; sections are the known key prefixes.
fn flatten(map: &serde_yaml::Mapping, prefix: &str, out: &mut Vec<(String, Value)>, err: &mut dyn FnMut(&str, String)) {
    for (k, v) in map {
        let Some(name) = k.as_str() else {
            err(prefix, format!("key {k:?} is not a plain name"));
            continue;
        };
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

/// Maps each dotted key to where it is written: (line, column), both 1-based.
/// Works for block and flow style alike, since it follows the YAML parser's events.
fn key_positions(text: &str) -> BTreeMap<String, (usize, usize)> {
    let mut recorder = KeyRecorder::default();
    // A syntax error was already reported by serde_yaml; positions are best effort.
    let _ = yaml_rust2::parser::Parser::new_from_str(text).load(&mut recorder, false);
    recorder.positions
}

/// One open YAML collection while walking the parser's events.
enum Open {
    /// A mapping, with the key whose value comes next (if a key was just read).
    Mapping {
        pending_key: Option<String>,
    },
    Sequence,
}

#[derive(Default)]
struct KeyRecorder {
    open: Vec<Open>,
    /// Dotted path of the mappings entered so far.
    path: Vec<String>,
    positions: BTreeMap<String, (usize, usize)>,
}

impl KeyRecorder {
    /// A value (scalar or collection) has started where the innermost mapping expected one.
    fn value_started(&mut self) -> Option<String> {
        match self.open.last_mut() {
            Some(Open::Mapping { pending_key }) => pending_key.take(),
            _ => None,
        }
    }
}

impl yaml_rust2::parser::MarkedEventReceiver for KeyRecorder {
    fn on_event(&mut self, ev: yaml_rust2::Event, mark: yaml_rust2::scanner::Marker) {
        use yaml_rust2::Event;
        match ev {
            Event::Scalar(value, ..) => {
                let expects_key = matches!(self.open.last(), Some(Open::Mapping { pending_key: None }));
                if expects_key {
                    let mut dotted = self.path.clone();
                    dotted.push(value.clone());
                    self.positions.entry(dotted.join(".")).or_insert((mark.line(), mark.col() + 1));
                    if let Some(Open::Mapping { pending_key }) = self.open.last_mut() {
                        *pending_key = Some(value);
                    }
                } else {
                    self.value_started();
                }
            }
            Event::MappingStart(..) => {
                if let Some(key) = self.value_started() {
                    self.path.push(key);
                } else if !self.open.is_empty() {
                    // A mapping inside a list: its keys are not answers keys.
                    self.path.push("[]".into());
                }
                self.open.push(Open::Mapping { pending_key: None });
            }
            Event::SequenceStart(..) => {
                self.value_started();
                self.open.push(Open::Sequence);
            }
            Event::MappingEnd => {
                self.open.pop();
                if !self.open.is_empty() {
                    self.path.pop();
                }
            }
            Event::SequenceEnd => {
                self.open.pop();
            }
            Event::Alias(_) => {
                self.value_started();
            }
            _ => {}
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
    let topology = draft.topology().unwrap_or(crate::values::Topology::SameHostHttp);
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
