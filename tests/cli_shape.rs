//! One shape for every command: the bundle is the first argument and defaults to the
//! current folder; the same status words in every `--json`; the global `--color`,
//! `-q` and `-v`; old flag spellings still work, hidden, with a note on stderr.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::support::{bin, render_fixture, run, stderr, stdout};

/// Runs the binary in `cwd` with `args`, no stdin, and `NO_COLOR` unset.
fn run_in(cwd: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .current_dir(cwd)
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .output()
        .expect("the mercure-setup binary runs")
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", stdout(o), stderr(o)))
}

/// Every value of a `status` key anywhere in `v`.
fn statuses(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                if k == "status"
                    && let Some(s) = v.as_str()
                {
                    out.push(s.to_string());
                }
                statuses(v, out);
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| statuses(v, out)),
        _ => {}
    }
}

/// The public name points at 127.0.0.1:443, where nothing listens: the probes fail
/// fast instead of asking DNS for example.com.
const RESOLVE: &str = "app.example.com:443:127.0.0.1";

#[test]
fn every_command_takes_the_bundle_first_defaulting_to_the_current_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("bundle");
    render_fixture("same-host-http-hs256-nginx122.yaml", &bundle);
    let b = bundle.to_str().unwrap();

    // render: BUNDLE/answers.yaml is read, the same folder written; nothing changes.
    for (cwd, args) in [(bundle.as_path(), vec!["render"]), (tmp.path(), vec!["render", b])] {
        let o = run_in(cwd, &args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        assert!(stdout(&o).contains(": 0 new, 0 updated,"), "{args:?}: {}", stdout(&o));
    }
    let o = run_in(&bundle, &["render", "--dry-run"]);
    assert!(o.status.success() && stdout(&o).starts_with("dry run: nothing written to ."), "{}", stdout(&o));

    // check: the same report for `.` and the path.
    let here = json(&run_in(&bundle, &["check", "--json"]));
    let there = json(&run_in(tmp.path(), &["check", b, "--json"]));
    assert_eq!(here["bundle"], ".");
    assert_eq!(here["checks"], there["checks"]);

    // doctor and loadtest read the URLs and tokens from the bundle.
    for (cwd, bundle_arg) in [(bundle.as_path(), None), (tmp.path(), Some(b))] {
        let mut args = vec!["doctor", "--json", "--timeout", "2s", "--resolve", RESOLVE];
        args.extend(bundle_arg);
        let v = json(&run_in(cwd, &args));
        assert_eq!(v["target"]["domain"], "app.example.com", "{v}");
        assert_eq!(v["target"]["public_url"], "https://app.example.com/.well-known/mercure", "{v}");

        let mut args = vec!["loadtest", "--json", "--subscribers", "1", "--updates", "1"];
        args.extend(["--duration", "20s", "--connect-timeout", "2s", "--resolve", RESOLVE]);
        args.extend(bundle_arg);
        let o = run_in(cwd, &args);
        let v = json(&o);
        assert_eq!(v["public_url"], "https://app.example.com/.well-known/mercure", "{v}");
        assert_eq!(v["status"], "failed", "nothing listens there: {v}");
    }

    // apply: the plan of the bundle in the current folder, into a staging root.
    let root = tmp.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    let here = run_in(&bundle, &["apply", "--dry-run", "--root", root.to_str().unwrap()]);
    let there = run_in(tmp.path(), &["apply", b, "--dry-run", "--root", root.to_str().unwrap()]);
    assert!(stdout(&here).contains("app.example.com"), "{}\n{}", stdout(&here), stderr(&here));
    assert_eq!(stdout(&here), stdout(&there));
    assert_eq!(here.status.code(), there.status.code());

    // Not a bundle: a usage error naming the folder, for each command that needs one.
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let o = run_in(&empty, &["render"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).starts_with("error: no answers file at ./answers.yaml"), "{}", stderr(&o));
    assert!(stderr(&o).contains("init --out"), "{}", stderr(&o));
    let o = run_in(&empty, &["render", "--answers", "missing.yaml"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("cannot read answers file missing.yaml"), "{}", stderr(&o));
    for args in [&["check"][..], &["doctor"], &["loadtest"]] {
        let o = run_in(&empty, args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("not a mercure-setup bundle"), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn every_json_report_speaks_the_same_status_words() {
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("bundle");
    render_fixture("same-host-http-hs256-nginx122.yaml", &bundle);
    let runs: [&[&str]; 3] = [
        &["check", "--json"],
        &["doctor", "--json", "--timeout", "2s", "--resolve", RESOLVE],
        &[
            "loadtest",
            "--json",
            "--subscribers",
            "1",
            "--updates",
            "1",
            "--connect-timeout",
            "2s",
            "--resolve",
            RESOLVE,
        ],
    ];
    let mut seen = std::collections::BTreeSet::new();
    for args in runs {
        let v = json(&run_in(&bundle, args));
        let top = v["status"].as_str().unwrap_or_else(|| panic!("{args:?}: no top-level status: {v}"));
        let mut all = Vec::new();
        statuses(&v, &mut all);
        for s in all {
            assert!(
                mercure_setup::status::Status::ALL.contains(&s.as_str()),
                "{args:?}: `{s}` is not one of the words"
            );
            seen.insert(s);
        }
        seen.insert(top.to_string());
    }
    // The run covered more than one word: a vocabulary, not one constant.
    assert!(seen.contains("failed") && seen.contains("passed"), "{seen:?}");
}

#[test]
fn old_spellings_still_work_with_a_deprecation_note() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("answers.yaml");
    let o = run(&["init", "--output", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(file.exists());
    assert!(stderr(&o).contains("init --output is deprecated") && stderr(&o).contains("--out"), "{}", stderr(&o));

    let bundle = tmp.path().join("bundle");
    render_fixture("same-host-http-hs256-nginx122.yaml", &bundle);
    let o = run(&["doctor", "--bundle", bundle.to_str().unwrap(), "--json", "--timeout", "2s", "--resolve", RESOLVE]);
    assert_eq!(json(&o)["target"]["domain"], "app.example.com");
    assert!(stderr(&o).contains("doctor --bundle DIR is deprecated"), "{}", stderr(&o));

    for (sub, old) in [("init", "--output"), ("doctor", "--bundle")] {
        let help = stdout(&run(&[sub, "--help"]));
        assert!(!help.contains(old), "{sub} --help shows {old}:\n{help}");
    }
}

#[test]
fn init_set_fills_in_a_key_and_render_reads_the_bundles_answers() {
    let tmp = tempfile::tempdir().unwrap();
    let o = run_in(tmp.path(), &["init", "--out", "answers.yaml", "--set", "domain=shop.example.org"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run_in(tmp.path(), &["render"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(tmp.path().join("nginx/shop.example.org.conf").is_file());
    assert!(stderr(&o).contains("was read as the answers"), "{}", stderr(&o));
    // An unknown key in --set is refused like render's, naming it.
    let o = run_in(tmp.path(), &["init", "--set", "hub.prot=1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("hub.prot"), "{}", stderr(&o));
    // Another file edited by hand still stops the render.
    let site = tmp.path().join("nginx/shop.example.org.conf");
    std::fs::write(&site, "# mine\n").unwrap();
    let o = run_in(tmp.path(), &["render"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&site).unwrap(), "# mine\n");
}

#[test]
fn global_flags_colour_silence_and_reach_every_command() {
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("bundle");
    render_fixture("same-host-http-hs256-nginx122.yaml", &bundle);
    // A hand edit the lints catch, so check fails.
    let site = bundle.join("nginx/app.example.com.conf");
    let text = std::fs::read_to_string(&site).unwrap().replace("proxy_buffering off;", "proxy_buffering on;");
    std::fs::write(&site, text).unwrap();

    let o = run_in(&bundle, &["check", "--color", "always"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("\x1b[31m  FAILED"), "{}", stdout(&o));
    assert!(stderr(&o).contains("\x1b[1m\x1b[31merror\x1b[0m:"), "{}", stderr(&o));
    // auto: not a terminal here, so no colour; never: none either.
    for args in [&["check"][..], &["check", "--color", "never"]] {
        let o = run_in(&bundle, args);
        assert!(!stdout(&o).contains('\x1b') && !stderr(&o).contains('\x1b'), "{}", stdout(&o));
    }
    // -v shows the hand edit as a coloured diff; -q prints only the error.
    let o = run_in(&bundle, &["--color=always", "check", "-v"]);
    assert!(stdout(&o).contains("\x1b[32m           +        proxy_buffering on;\x1b[0m"), "{}", stdout(&o));
    let o = run_in(&bundle, &["check", "-q"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty(), "{}", stdout(&o));
    assert!(stderr(&o).starts_with("error: "), "{}", stderr(&o));
    // -q keeps what was asked for: JSON.
    assert!(json(&run_in(&bundle, &["check", "-q", "--json"]))["status"] == "failed");

    // Every subcommand accepts the three flags.
    let root = mercure_setup::cli::command();
    for sub in root.get_subcommands().map(clap::Command::get_name).filter(|s| *s != "help") {
        for flags in [&["--color", "never", "-q"][..], &["-v"]] {
            let mut args = vec![sub];
            args.extend(flags);
            args.push("--help");
            let o = run(&args);
            assert!(o.status.success(), "{sub} {flags:?}: {}", stderr(&o));
        }
    }
}

#[test]
fn a_tab_in_the_answers_shows_the_line_a_caret_and_a_hint() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("answers.yaml"), "domain: app.example.com\nhub:\n\tport: 3000\n").unwrap();
    let o = run_in(tmp.path(), &["render"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("answers.yaml:3:1:") && err.contains("      3 |  port: 3000\n        | ^\n"), "{err}");
    assert!(err.contains("hint: YAML indents with spaces, never tabs"), "{err}");
    assert!(!tmp.path().join("nginx").exists(), "nothing written");
}
