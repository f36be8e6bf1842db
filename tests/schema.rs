//! `mercure-setup schema` checked by an independent validator (Python's `jsonschema`):
//! every example and fixture answers file is valid, and the schema gives the same
//! verdict as `render` on key names, types and choices, both ways.

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::support::{require_tool, run, stderr, stdout};

/// Validates each (name, YAML text) with Python's jsonschema against the schema the
/// binary prints; returns name -> first error (None when valid).
fn schema_verdicts(docs: &[(String, String)]) -> Vec<(String, Option<String>)> {
    let python = require_tool("python3", "apt-get install python3");
    let o = run(&["schema"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let schema: Value = serde_json::from_str(&stdout(&o)).expect("schema is JSON");
    // YAML is read by the tool's own YAML reader (YAML 1.2, like yaml-language-server);
    // the schema is what is under test, not Python's YAML 1.1 reading of `off`.
    let instances: Vec<Value> = docs
        .iter()
        .map(|(name, text)| {
            let v: Value = serde_yaml::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            json!({ "name": name, "doc": v })
        })
        .collect();
    let input = json!({ "schema": schema, "docs": instances }).to_string();
    let script = r#"
import json, sys
try:
    import jsonschema
except ImportError:
    sys.exit("python3 has no jsonschema; install it with: python3 -m pip install 'jsonschema>=4'")
data = json.load(sys.stdin)
cls = jsonschema.validators.validator_for(data["schema"])
cls.check_schema(data["schema"])
v = cls(data["schema"])
out = []
for d in data["docs"]:
    errs = sorted(v.iter_errors(d["doc"]), key=lambda e: list(e.path))
    out.append([d["name"], ("/".join(map(str, errs[0].path)) + ": " + errs[0].message) if errs else None])
print(json.dumps(out))
"#;
    let mut child = Command::new(python)
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), input.as_bytes()).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "python jsonschema failed: {}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// `render --dry-run`'s verdict on an answers text: None when accepted, else its stderr.
fn render_verdict(dir: &Path, name: &str, text: &str) -> Option<String> {
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(&file, text).unwrap();
    let out = dir.join("bundle");
    let o = run(&["render", "--dry-run", "--answers", file.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    match o.status.code() {
        Some(0) => None,
        Some(2) => Some(stderr(&o)),
        other => panic!("render {name}: exit {other:?}: {}", stderr(&o)),
    }
}

fn yaml_files(dir: &Path) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| (p.display().to_string(), std::fs::read_to_string(&p).unwrap()))
        .collect();
    out.sort();
    out
}

#[test]
fn examples_fixtures_and_init_output_are_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut docs = yaml_files(&root.join("examples"));
    docs.extend(yaml_files(&root.join("tests/fixtures")));
    assert!(docs.len() >= 6, "{docs:?}");
    // What `init` writes, once the one required key is filled in.
    for topology in ["same-host-http", "end-to-end-tls"] {
        let text = stdout(&run(&["init", "--topology", topology]));
        assert!(text.starts_with("# yaml-language-server: $schema=/usr/share/mercure-setup/answers.schema.json\n"));
        docs.push((format!("init {topology}"), text.replace("domain:   # required", "domain: app.example.com")));
    }
    for (name, verdict) in schema_verdicts(&docs) {
        assert_eq!(verdict, None, "{name} is valid for render but not for the schema");
    }
}

/// Answers files on each structural point: (name, text, accepted). `render` and the
/// schema must both give the expected verdict.
const CASES: &[(&str, &str, bool)] = &[
    // Accepted by both.
    ("minimal", "domain: app.example.com\n", true),
    ("version string", "version: '1'\ndomain: app.example.com\n", true),
    ("empty sections", "domain: app.example.com\nhub:\njwt:\n", true),
    ("nulls keep defaults", "domain: app.example.com\nhub:\n  port:\n  cors_origins:\njwt:\n  algorithm:\n", true),
    ("port as text", "domain: app.example.com\nhub:\n  port: '3100'\n", true),
    ("yaml 1.1 booleans", "domain: app.example.com\nhub:\n  anonymous: yes\n  subscriptions: 'Off'\n", true),
    ("wildcard cors", "domain: app.example.com\nhub:\n  cors_origins: ['*', 'https://a.example.com:8443']\n", true),
    (
        "counts as text",
        "domain: app.example.com\nhub:\n  history_size: '0'\nnginx:\n  expected_subscribers: '5000'\n",
        true,
    ),
    ("admin off", "domain: app.example.com\nhub:\n  admin: 'off'\n  port: 3100\n", true),
    ("php-fpm tcp", "domain: app.example.com\nsymfony:\n  php_fpm: 127.0.0.1:9000\n", true),
    ("tls choice", "topology: end-to-end-tls\ndomain: app.example.com\njwt:\n  algorithm: ES256\n", true),
    ("dotted key at the top", "domain: app.example.com\nhub.port: 3100\n", true),
    ("admin on a unix socket", "domain: app.example.com\nhub:\n  admin: unix\n", true),
    ("odd but allowed path", "domain: app.example.com\nsymfony:\n  project_dir: /srv/app-1/v2.0_x+y@z/\n", true),
    (
        "limits accepted",
        "domain: app.example.com\nhub:\n  heartbeat: 30m\n  port: 65535\nnginx:\n  version: '1.18'\n",
        true,
    ),
    // Rejected by both: key names.
    ("unknown top-level key", "domain: app.example.com\nports: 3\n", false),
    ("unknown key in a section", "domain: app.example.com\nhub:\n  prot: 3100\n", false),
    ("unknown section", "domain: app.example.com\ncaddy:\n  admin: 'off'\n", false),
    ("missing domain", "hub:\n  port: 3100\n", false),
    ("empty domain", "domain:\n", false),
    // Rejected by both: types.
    ("section as a scalar", "domain: app.example.com\nhub: 3\n", false),
    ("section as a list", "domain: app.example.com\njwt: [HS256]\n", false),
    ("scalar as a list", "domain: app.example.com\nhub:\n  port: [3100]\n", false),
    ("scalar as a mapping", "domain: app.example.com\nhub:\n  heartbeat: {s: 40}\n", false),
    ("list as a scalar", "domain: app.example.com\nhub:\n  cors_origins: https://a.example.com\n", false),
    (
        "list of mappings",
        "domain: app.example.com\nhub:\n  publish_origins:\n    - {origin: https://a.example.com}\n",
        false,
    ),
    ("bool as a number", "domain: app.example.com\nhub:\n  anonymous: 1\n", false),
    ("bool as a word", "domain: app.example.com\nhub:\n  anonymous: maybe\n", false),
    ("port as a bool", "domain: app.example.com\nhub:\n  port: true\n", false),
    ("port as a float", "domain: app.example.com\nhub:\n  port: 3100.5\n", false),
    ("unquoted nginx version", "domain: app.example.com\nnginx:\n  version: 1.26\n", false),
    ("domain as a number", "domain: 12\n", false),
    ("root as a list", "- domain: app.example.com\n", false),
    // Rejected by both: choices.
    ("unknown topology", "topology: same-host-https\ndomain: app.example.com\n", false),
    ("unknown algorithm", "domain: app.example.com\njwt:\n  algorithm: RS256\n", false),
    ("algorithm in lower case", "domain: app.example.com\njwt:\n  algorithm: hs256\n", false),
    ("future version", "version: 2\ndomain: app.example.com\n", false),
    // Rejected by both: values a pattern states.
    ("port below 1024", "domain: app.example.com\nhub:\n  port: 443\n", false),
    ("relative path", "domain: app.example.com\nhub:\n  binary: bin/mercure\n", false),
    ("path with ..", "domain: app.example.com\nsymfony:\n  project_dir: /var/www/../app\n", false),
    ("heartbeat unit", "domain: app.example.com\nhub:\n  heartbeat: 40sec\n", false),
    ("root user", "domain: app.example.com\nhub:\n  user: root\n", false),
    ("origin with slash", "domain: app.example.com\nhub:\n  cors_origins: ['https://a.example.com/']\n", false),
    ("publish wildcard", "domain: app.example.com\nhub:\n  publish_origins: ['*']\n", false),
    ("admin off loopback", "domain: app.example.com\nhub:\n  admin: 0.0.0.0:2019\n", false),
    ("ip as domain", "domain: 192.0.2.1\n", false),
    ("subscribers zero", "domain: app.example.com\nnginx:\n  expected_subscribers: 0\n", false),
    ("path with a space", "domain: app.example.com\nhub:\n  binary: /usr/local/bin/my mercure\n", false),
    ("path with a % specifier", "domain: app.example.com\nhub:\n  binary: /usr/bin/%p\n", false),
    ("path component like an option", "domain: app.example.com\nsymfony:\n  project_dir: /srv/-rf\n", false),
    (
        "origin with its default port",
        "domain: app.example.com\nhub:\n  cors_origins: ['https://a.example.com:443']\n",
        false,
    ),
    ("domain without a dot", "domain: intranet\n", false),
    ("localhost as domain", "domain: app.localhost\n", false),
    ("php-fpm host not a name", "domain: app.example.com\nsymfony:\n  php_fpm: a_b:9000\n", false),
    ("heartbeat zero", "domain: app.example.com\nhub:\n  heartbeat: 0s\n", false),
    ("heartbeat over 30m", "domain: app.example.com\nhub:\n  heartbeat: 1h\n", false),
    ("nginx before 1.18", "domain: app.example.com\nnginx:\n  version: '1.16.1'\n", false),
    ("php-fpm port too big", "domain: app.example.com\nsymfony:\n  php_fpm: 127.0.0.1:70000\n", false),
    ("origin port too big", "domain: app.example.com\nhub:\n  cors_origins: ['https://a.example.com:70000']\n", false),
];

#[test]
fn schema_and_render_agree_on_keys_types_and_choices() {
    let tmp = tempfile::tempdir().unwrap();
    let docs: Vec<(String, String)> = CASES.iter().map(|(n, t, _)| ((*n).to_string(), (*t).to_string())).collect();
    let verdicts = schema_verdicts(&docs);
    let mut wrong = Vec::new();
    for ((name, text, accepted), (_, schema)) in CASES.iter().zip(&verdicts) {
        let render = render_verdict(tmp.path(), &name.replace(' ', "-"), text);
        if render.is_none() != *accepted || schema.is_none() != *accepted {
            wrong.push(format!(
                "{name} (expected {}):\n  render: {render:?}\n  schema: {schema:?}",
                if *accepted { "valid" } else { "invalid" }
            ));
        }
    }
    assert!(wrong.is_empty(), "render or the schema gave another verdict:\n{}", wrong.join("\n"));
}
