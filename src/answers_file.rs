//! The answers file on disk: YAML text -> `Draft` (with line numbers for errors),
//! `--set KEY=VALUE` overrides, and writing a commented answers file back out.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_yaml::Value;

use crate::answers::{Draft, FieldError, RawValue, SCHEMA_VERSION, Source, is_list_key};
use crate::questions::{self, QUESTIONS, suggest_key};

/// Reads answers-file text into a draft, reporting every problem at once.
pub fn parse(text: &str, path: &str) -> Result<Draft, Vec<FieldError>> {
    let root: Value = serde_yaml::from_str(text).map_err(|e| {
        let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
        vec![FieldError {
            key: "(file)".into(),
            message: format!("not valid YAML at line {line}, column {column}: {e}"),
            source: Some(Source::File { path: path.to_string(), line }),
        }]
    })?;
    let lines = key_lines(text);
    let source = |key: &str| lines.get(key).map(|&line| Source::File { path: path.to_string(), line });
    let mut errors = Vec::new();
    let mut draft = Draft::default();
    let root = match root {
        Value::Mapping(m) => m,
        Value::Null => serde_yaml::Mapping::new(),
        _ => {
            return Err(vec![FieldError {
                key: "(file)".into(),
                message: "expected a mapping of keys such as `domain: app.example.com`".into(),
                source: Some(Source::File { path: path.to_string(), line: 1 }),
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
        match to_raw(q.key, &value) {
            Ok(Some(raw)) => draft.set(q.key, raw, source(q.key)),
            Ok(None) => {}
            Err(message) => errors.push(FieldError { key, message, source: source(q.key) }),
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
    scalar_text(v).map(|s| Some(RawValue::Scalar(s))).ok_or_else(|| "expected a single value".into())
}

/// Maps each dotted key to the line it is written on (block-style YAML).
fn key_lines(text: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    let mut stack: Vec<(usize, String)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('-') {
            continue;
        }
        let indent = line.len() - trimmed.len();
        let Some((name, _)) = trimmed.split_once(':') else { continue };
        let name = name.trim().trim_matches(|c| c == '"' || c == '\'');
        while stack.last().is_some_and(|(ind, _)| *ind >= indent) {
            stack.pop();
        }
        let key = match stack.last() {
            Some((_, parent)) => format!("{parent}.{name}"),
            None => name.to_string(),
        };
        out.entry(key.clone()).or_insert(i + 1);
        stack.push((indent, key));
    }
    out
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
                "a.yaml:5: nginx: is a section: expected nested keys",
                "a.yaml:3: hub.prot: unknown key; did you mean `hub.port`?",
                "a.yaml:4: hub.port: expected a single value",
            ]
        );
    }

    #[test]
    fn syntax_errors_name_line_and_column() {
        let err = parse("domain: a.com\nhub: [\n", "a.yaml").unwrap_err();
        assert!(err[0].to_string().starts_with("a.yaml:3: (file): not valid YAML at line 3"), "{}", err[0]);
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
