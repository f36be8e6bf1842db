//! The answers file's JSON Schema (draft-07, what yaml-language-server reads),
//! generated from the question table: keys, types, choices, defaults and help come
//! from `questions`; this module adds only the shape of each free-text value.
//!
//! `render` stays the authority: the schema accepts every file `render` accepts and
//! rejects the same key names, types and choices; rules a pattern cannot state
//! (e.g. the heartbeat's upper bound, port clashes) are left to `render`.

use std::fmt::Write as _;

use serde_json::{Map, Value, json};

use crate::answers::SCHEMA_VERSION;
use crate::deployment::Topology;
use crate::questions::{self, Basis, Kind, QUESTIONS, Question, RawValue};

/// Where the Debian package installs the schema (the `init` modeline points here).
pub const INSTALLED_PATH: &str = "/usr/share/mercure-setup/answers.schema.json";

/// The first line `init` writes, so yaml-language-server (VS Code, Neovim, Helix...)
/// checks and completes the file against the installed schema, with no network.
pub fn modeline() -> String {
    format!("yaml-language-server: $schema={INSTALLED_PATH}")
}

/// 1024-65535, leading zeros allowed (as `render` reads digits).
const PORT_1024: &str = "0*(10[2-9][0-9]|1[1-9][0-9]{2}|[2-9][0-9]{3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])";

/// 1-65535, leading zeros allowed.
const PORT_ANY: &str = "0*([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])";

/// A heartbeat above zero and at most 30 minutes, in ms, s or m (an hour is too long).
const HEARTBEAT: &str =
    "0*([1-9][0-9]{0,5}|1[0-7][0-9]{5}|1800000)ms|0*([1-9][0-9]{0,2}|1[0-7][0-9]{2}|1800)s|0*([1-9]|[12][0-9]|30)m";

/// `auto`, or an nginx version from 1.18 on (major.minor or major.minor.patch).
const NGINX_VERSION: &str =
    r"auto|0*1\.0*(1[89]|[2-9][0-9]|[1-9][0-9]{2,})(\.[0-9]+)?|0*([2-9]|[1-9][0-9]+)\.[0-9]+(\.[0-9]+)?";

/// An RFC 1123 host name whose last label is not all digits (that would be an IP address).
const HOST_NAME: &str = r"(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*(?![0-9]+$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?";

/// `true`/`false` and the YAML 1.1 spellings `render` also reads, in any case.
const BOOL_TEXT: &str = "^([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]|[Yy][Ee][Ss]|[Nn][Oo]|[Oo][Nn]|[Oo][Ff][Ff])$";

/// The shape of one key's value beyond its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Text matching a pattern (anchored here).
    Text(&'static str),
    /// A whole number within a range, written as a number or as digits (matching the pattern).
    Count { min: u32, max: u32, digits: &'static str },
    /// A list of origins; `wildcard`: whether `*` is allowed.
    Origins { wildcard: bool },
    /// Fully described by the question's kind (choices, booleans).
    Kind,
}

/// An absolute path of letters, digits and `/ . _ - + @` (at most 4095 characters), no
/// `..` component, no component starting with `-` or longer than 255 characters.
fn abs_path() -> String {
    r"(?=.{1,4095}$)/(?!(.*/)?\.\.(/|$))(?!(.*/)?-)(?!.*[^/]{256})[A-Za-z0-9/._+@-]*".to_string()
}

/// The shape of each key; a unit test keeps it in step with the question table.
fn shape(key: &str) -> Option<Shape> {
    Some(match key {
        "topology"
        | "jwt.algorithm"
        | "hub.anonymous"
        | "hub.subscriptions"
        | "hub.version"
        | "public_tls.profile"
        | "public_tls.hsts_include_subdomains" => Shape::Kind,
        // A number of seconds or `off`: a count whose text may also be the word.
        "public_tls.hsts" => Shape::Count { min: 0, max: 999_999_999, digits: "off|0*[0-9]{1,9}" },
        "domain" => Shape::Text("public_host"),
        "hub.tls_name" => Shape::Text("host"),
        "public_tls.certificate"
        | "public_tls.certificate_key"
        | "public_tls.acme_webroot"
        | "hub.binary"
        | "symfony.project_dir" => Shape::Text("path"),
        "hub.port" => Shape::Count { min: 1024, max: 65535, digits: PORT_1024 },
        "hub.admin" => Shape::Text("admin"),
        "hub.heartbeat" => Shape::Text("duration"),
        "hub.history_size" => Shape::Count { min: 0, max: 10_000_000, digits: "0*([0-9]{1,7}|10000000)" },
        "hub.user" => Shape::Text("user"),
        "hub.cors_origins" => Shape::Origins { wildcard: true },
        "hub.publish_origins" => Shape::Origins { wildcard: false },
        "symfony.php_fpm" => Shape::Text("fastcgi"),
        "nginx.version" => Shape::Text("nginx"),
        "nginx.expected_subscribers" => Shape::Count { min: 1, max: 1_000_000, digits: "0*([1-9][0-9]{0,5}|1000000)" },
        _ => return None,
    })
}

/// The anchored pattern for a named text shape.
fn pattern(name: &str) -> String {
    let body = match name {
        "host" => HOST_NAME.to_string(),
        // With a dot, and not a name for this machine (localhost, *.localhost).
        "public_host" => format!(
            r"(?=[^.]*\.)(?![Ll][Oo][Cc][Aa][Ll][Hh][Oo][Ss][Tt]$)(?!.*\.[Ll][Oo][Cc][Aa][Ll][Hh][Oo][Ss][Tt]$){HOST_NAME}"
        ),
        "path" => abs_path(),
        "admin" => format!(r"unix|off|(localhost|127\.0\.0\.1|\[::1\]):{PORT_1024}"),
        "duration" => HEARTBEAT.to_string(),
        "user" => "(?!root$)[a-z_][a-z0-9_-]{0,31}".to_string(),
        "fastcgi" => format!(r"unix:{}|(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):{PORT_ANY}", abs_path()),
        "nginx" => NGINX_VERSION.to_string(),
        other => other.to_string(),
    };
    format!("^({body})$")
}

fn origin_pattern(wildcard: bool) -> String {
    // Browsers leave out the scheme's default port, so spelling it out never matches.
    let origin = format!(
        r"[Hh][Tt][Tt][Pp][Ss]://[A-Za-z0-9.-]+(:(?!0*443$){PORT_ANY})?|[Hh][Tt][Tt][Pp]://[A-Za-z0-9.-]+(:(?!0*80$){PORT_ANY})?"
    );
    if wildcard { format!(r"^(\*|{origin})$") } else { format!("^({origin})$") }
}

/// A raw default as the JSON value an answers file would hold.
fn json_default(q: &Question, raw: &RawValue) -> Value {
    match (raw, shape(q.key)) {
        (RawValue::List(items), _) => json!(items),
        (RawValue::Scalar(s), _) if q.kind == Kind::Bool => json!(s == "true"),
        (RawValue::Scalar(s), Some(Shape::Count { .. })) => s.parse::<u64>().map_or_else(|_| json!(s), |n| json!(n)),
        (RawValue::Scalar(s), _) => json!(s),
    }
}

/// The default for the empty answers file, and a note when it follows other answers.
fn default_of(q: &Question) -> (Value, Option<String>) {
    let plain = (q.default)(&Basis::default());
    let text = crate::answers_file::raw_to_text;
    let per_topology: Vec<(Topology, RawValue)> =
        Topology::ALL.iter().map(|&topology| (topology, (q.default)(&Basis { topology, domain: None }))).collect();
    let note = if text(&plain).contains("DOMAIN") {
        Some("DOMAIN stands for the `domain` answer".to_string())
    } else if per_topology.iter().any(|(_, d)| *d != plain) {
        let each: Vec<String> = per_topology.iter().map(|(t, d)| format!("{} with {t}", text(d))).collect();
        Some(format!("the default is {}", each.join(" and ")))
    } else {
        None
    };
    (json_default(q, &plain), note)
}

/// The schema of one key's value.
fn property(q: &Question) -> Value {
    let shape = shape(q.key).unwrap_or(Shape::Kind);
    let mut p = match (q.kind, shape) {
        (Kind::Choice(choices), _) => {
            let mut values: Vec<Value> = choices.iter().map(|c| json!(c)).collect();
            if !q.required {
                values.push(Value::Null);
            }
            json!({ "enum": values })
        }
        (Kind::Bool, _) => json!({ "type": ["boolean", "string", "null"], "pattern": BOOL_TEXT }),
        (Kind::List, Shape::Origins { wildcard }) => json!({
            "type": ["array", "null"],
            "items": { "type": "string", "pattern": origin_pattern(wildcard) },
        }),
        (_, Shape::Count { min, max, digits }) => json!({
            "type": ["integer", "string", "null"],
            "minimum": min,
            "maximum": max,
            "pattern": pattern(digits),
        }),
        (_, Shape::Text(name)) => json!({ "type": ["string", "null"], "pattern": pattern(name) }),
        (Kind::List, _) => json!({ "type": ["array", "null"], "items": { "type": "string" } }),
        (Kind::Text, _) => json!({ "type": ["string", "null"] }),
    };
    let obj = p.as_object_mut().expect("a property is an object");
    if q.required {
        // A required key given empty (`domain:`) is an error, not "use the default".
        if let Some(Value::Array(types)) = obj.get_mut("type") {
            types.retain(|t| t != "null");
        }
        obj.insert("minLength".into(), json!(1));
    }
    let mut description = q.help.to_string();
    let shown_for: Vec<&str> = Topology::ALL.iter().filter(|&&t| (q.visible)(t)).map(|t| t.as_str()).collect();
    if shown_for.len() < Topology::ALL.len() {
        let _ = write!(description, " ({} only)", shown_for.join(", "));
    }
    if !q.required {
        let (default, note) = default_of(q);
        obj.insert("default".into(), default);
        if let Some(note) = note {
            description.push_str("; ");
            description.push_str(&note);
        }
    }
    obj.insert("title".into(), json!(q.prompt));
    obj.insert("description".into(), json!(description));
    p
}

/// The whole schema as a JSON value.
pub fn schema() -> Value {
    let mut root = Map::new();
    let mut required = Vec::new();
    root.insert(
        "version".into(),
        json!({
            "title": "Answers-file version",
            "description": format!("the answers-file format this file is written for; this mercure-setup reads {SCHEMA_VERSION}"),
            "enum": [SCHEMA_VERSION, SCHEMA_VERSION.to_string()],
        }),
    );
    let mut sections: Vec<(&str, Map<String, Value>, Vec<&str>)> = Vec::new();
    // `render` also reads a dotted key at the top (`hub.port: 3100`); as patterns,
    // editors validate them without offering both spellings.
    let mut dotted = Map::new();
    for q in QUESTIONS {
        let (section, name) = q.key.rsplit_once('.').unwrap_or(("", q.key));
        if section.is_empty() {
            root.insert(name.into(), property(q));
            if q.required {
                required.push(name);
            }
            continue;
        }
        dotted.insert(format!("^{}$", q.key.replace('.', r"\.")), property(q));
        if sections.last().is_none_or(|(s, ..)| *s != section) {
            sections.push((section, Map::new(), Vec::new()));
        }
        let (_, props, req) = sections.last_mut().expect("just pushed");
        props.insert(name.into(), property(q));
        if q.required {
            req.push(name);
        }
    }
    for (section, props, req) in sections {
        let mut s = json!({
            "type": ["object", "null"],
            "description": format!("the {section}.* answers"),
            "properties": props,
            "additionalProperties": false,
        });
        if !req.is_empty() {
            s["required"] = json!(req);
        }
        root.insert(section.into(), s);
    }
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": format!("file://{INSTALLED_PATH}"),
        "title": "mercure-setup answers file",
        "description": format!(
            "Answers for `mercure-setup render --answers FILE` (answers-file version {SCHEMA_VERSION}). \
             `render` checks every value; this schema checks keys, types and choices as you type."
        ),
        "type": "object",
        "properties": root,
        "patternProperties": dotted,
        "required": required,
        "additionalProperties": false,
    })
}

/// The schema as pretty-printed JSON with a final newline.
pub fn schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&schema()).expect("the schema is plain JSON");
    text.push('\n');
    text
}

/// The schema of a dotted answers key, for tests and tools.
pub fn property_of(key: &str) -> Option<Value> {
    questions::question(key)?;
    let (section, name) = key.rsplit_once('.').unwrap_or(("", key));
    let s = schema();
    let props = if section.is_empty() { &s["properties"] } else { &s["properties"][section]["properties"] };
    props.get(name).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_question_has_a_shape_and_no_shape_is_stale() {
        for q in QUESTIONS {
            assert!(shape(q.key).is_some(), "{} has no shape in schema.rs", q.key);
        }
        let s = schema();
        let mut listed = Vec::new();
        for (k, v) in s["properties"].as_object().unwrap() {
            match v.get("properties").and_then(Value::as_object) {
                Some(inner) => listed.extend(inner.keys().map(|n| format!("{k}.{n}"))),
                None if k != "version" => listed.push(k.clone()),
                None => {}
            }
        }
        let mut table: Vec<String> = QUESTIONS.iter().map(|q| q.key.to_string()).collect();
        listed.sort();
        table.sort();
        assert_eq!(listed, table, "schema keys and question table keys differ");
    }

    #[test]
    fn defaults_are_the_question_tables() {
        for q in QUESTIONS.iter().filter(|q| !q.required) {
            let p = property_of(q.key).unwrap();
            let text = match &p["default"] {
                Value::String(s) => s.clone(),
                Value::Bool(b) => b.to_string(),
                Value::Number(n) => n.to_string(),
                Value::Array(items) => items.iter().map(|i| i.as_str().unwrap()).collect::<Vec<_>>().join(", "),
                other => panic!("{}: unexpected default {other}", q.key),
            };
            let want = crate::answers_file::raw_to_text(&(q.default)(&Basis::default()));
            assert_eq!(text, want, "{}", q.key);
        }
        assert!(property_of("hub.port").unwrap()["description"].as_str().unwrap().contains("8443 with end-to-end-tls"));
        assert!(property_of("public_tls.certificate").unwrap()["description"].as_str().unwrap().contains("DOMAIN"));
        assert_eq!(property_of("jwt.algorithm").unwrap()["enum"], json!(["HS256", "HS512", "ES256", null]));
        assert_eq!(schema()["required"], json!(["domain"]));
    }

    #[test]
    fn descriptions_are_the_help_lines() {
        for q in QUESTIONS {
            let p = property_of(q.key).unwrap();
            assert!(p["description"].as_str().unwrap().starts_with(q.help), "{}", q.key);
            assert_eq!(p["title"], json!(q.prompt));
        }
    }
}
