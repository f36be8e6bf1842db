//! `render` and the output folder's lock: concurrent renders into one folder take
//! turns and end with one set of secrets, runs that must not write create nothing,
//! and `render` says which nginx version `nginx.version: auto` chose.

use std::fs;
use std::process::{Command, Stdio};

use mercure_setup::bundle::paths;

use crate::support::{bin, files_in, fixture, run, stderr};

const HMAC_FIXTURE: &str = "same-host-http-hs256-nginx122.yaml";

/// The value of `key=` in an env file.
fn env_value(text: &str, key: &str) -> String {
    let prefix = format!("{key}=");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {key} in:\n{text}"))
        .trim_matches('"')
        .to_string()
}

#[test]
fn concurrent_renders_into_a_new_folder_agree_on_the_secrets() {
    let answers = fixture(HMAC_FIXTURE);
    for round in 0..4 {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("bundle");
        let spawn = || {
            Command::new(bin())
                .args(["render", "--answers", answers.to_str().unwrap(), "--out", out.to_str().unwrap()])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (spawn(), spawn());
        for o in [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()] {
            assert!(o.status.success(), "round {round}: {}", stderr(&o));
        }
        let read = |rel: &str| fs::read_to_string(out.join(rel)).unwrap();
        let hub_key = env_value(&read(paths::HUB_ENV), "MERCURE_PUBLISHER_JWT_KEY");
        let symfony_secret = env_value(&read(paths::ENV_LOCAL), "MERCURE_JWT_SECRET");
        let stored = read(paths::state::HMAC_SECRET).trim_end().to_string();
        assert_eq!(hub_key, symfony_secret, "round {round}: mercure.env and .env.local disagree");
        assert_eq!(hub_key, stored, "round {round}: mercure.env and .state disagree");
        assert_eq!(read(paths::PUBLISHER_TOKEN), read(paths::state::PUBLISHER_TOKEN), "round {round}");

        let files: Vec<String> = files_in(&out).into_keys().collect();
        assert!(files.iter().all(|f| !f.contains("mercure-setup-tmp")), "round {round}: temp files left: {files:?}");
        // The lock is held on the folder itself: no lock file in the bundle or its state.
        assert!(!files.contains(&paths::state::LOCK.to_string()), "{files:?}");
        assert!(!read(paths::state::MANIFEST).contains("lock"), "the lock is not part of the bundle");
        // The folder checks clean: nothing from one run beside the other's.
        let o = run(&["render", "--answers", answers.to_str().unwrap(), "--out", out.to_str().unwrap(), "--dry-run"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            text.lines().skip(1).take_while(|l| !l.is_empty()).all(|l| l.starts_with("unchanged")),
            "round {round}: a re-render would change files:\n{text}"
        );
    }
}

#[test]
fn the_lock_file_is_never_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("bundle");
    let answers = fixture(HMAC_FIXTURE);
    let args = ["render", "--answers", answers.to_str().unwrap(), "--out", out.to_str().unwrap()];
    assert!(run(&args).status.success());
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
    assert!(!text.contains("lock"), "{text}");
}

#[test]
fn dry_run_and_invalid_answers_create_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("new/bundle");
    let answers = fixture(HMAC_FIXTURE);
    let o = run(&["render", "--answers", answers.to_str().unwrap(), "--out", out.to_str().unwrap(), "--dry-run"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!tmp.path().join("new").exists(), "--dry-run created {}", out.display());

    let o = run(&[
        "render",
        "--answers",
        answers.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--set",
        "hub.port=not-a-port",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(!tmp.path().join("new").exists(), "invalid answers created {}", out.display());
}

#[test]
fn render_says_which_nginx_version_auto_chose() {
    let tmp = tempfile::tempdir().unwrap();
    let answers = fixture(HMAC_FIXTURE);
    let out = tmp.path().join("bundle");
    let render = |extra: &[&str]| {
        let mut args = vec!["render", "--answers", answers.to_str().unwrap(), "--out", out.to_str().unwrap()];
        args.extend_from_slice(extra);
        run(&args)
    };
    let o = render(&["--set", "nginx.version=auto", "--dry-run"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let expected = mercure_setup::host::installed_nginx().auto_note();
    assert!(stderr(&o).contains(&format!("note: {expected}\n")), "{}", stderr(&o));
    match mercure_setup::host::installed_nginx() {
        mercure_setup::host::NginxHere::Found { path, version } => {
            assert!(expected.contains(&format!("rendering for nginx {version} found at {}", path.display())));
        }
        _ => assert!(expected.contains("rendering for 1.22.1 syntax (Debian 12)"), "{expected}"),
    }
    let o = render(&["--set", "nginx.version=auto"]);
    assert!(stderr(&o).contains(&format!("note: {expected}\n")), "{}", stderr(&o));
    // A version named in the answers needs no note.
    let o = render(&[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("nginx.version auto"), "{}", stderr(&o));
}
