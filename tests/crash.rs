//! A render killed at every rename it makes (`strace -e inject=...:signal=SIGKILL`,
//! the real binary, no test hook inside it): the state is the old set or the new
//! one, never a mix; key pairs belong together (`openssl`); the next plain render
//! succeeds without a false "edited by hand" and leaves no temp files.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::support::{bin, files_in, fixture, render_fixture, require_tool, run, stderr};

const FIXTURE: &str = "end-to-end-tls-es256-cors-nginx126.yaml";
/// The state files that `--rotate-secrets` replaces, all together or not at all.
const ROTATED: &[&str] = &[
    ".state/jwt-es256-private.pem",
    ".state/jwt-es256-public.pem",
    ".state/publisher.jwt",
    ".state/subscriber.jwt",
    ".state/pki/ca.crt",
    ".state/pki/ca.key",
    ".state/pki/hub.crt",
    ".state/pki/hub.key",
];

fn openssl(args: &[&str]) -> String {
    let o = Command::new(require_tool("openssl", "apt-get install openssl")).args(args).output().unwrap();
    assert!(o.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The CA signs the hub certificate, and each key is its certificate's.
fn assert_pki_consistent(dir: &Path, ca: &str, ca_key: &str, hub: &str, hub_key: &str, when: &str) {
    let p = |rel: &str| dir.join(rel).to_str().unwrap().to_string();
    let out = openssl(&["verify", "-CAfile", &p(ca), &p(hub)]);
    assert!(out.contains(": OK"), "{when}: {out}");
    for (cert, key) in [(ca, ca_key), (hub, hub_key)] {
        let from_cert = openssl(&["x509", "-in", &p(cert), "-noout", "-pubkey"]);
        let from_key = openssl(&["pkey", "-in", &p(key), "-pubout"]);
        assert_eq!(from_cert, from_key, "{when}: {key} does not belong to {cert}");
    }
}

fn copy_dir(from: &Path, to: &Path) {
    let o = Command::new("cp").arg("-a").arg(from).arg(to).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn a_render_killed_at_any_rename_leaves_the_old_or_the_new_set() {
    let strace = require_tool("strace", "apt-get install strace");
    let tmp = tempfile::tempdir().unwrap();
    let pristine = tmp.path().join("pristine");
    render_fixture(FIXTURE, &pristine);
    let before = files_in(&pristine);
    let answers = fixture(FIXTURE);
    let mut kills = 0;
    // Each call is counted on its own by strace, so each is injected on its own.
    for syscall in ["renameat", "renameat2", "rename"] {
        for n in 1.. {
            let out = tmp.path().join(format!("{syscall}-{n}"));
            copy_dir(&pristine, &out);
            let o = Command::new(&strace)
                .args(["-f", "-qq", "-o", "/dev/null", "-e", &format!("trace={syscall}")])
                .arg("-e")
                .arg(format!("inject={syscall}:signal=SIGKILL:when={n}"))
                .arg(bin())
                .args(["render", "--answers", answers.to_str().unwrap(), "--out", out.to_str().unwrap()])
                .arg("--rotate-secrets")
                .output()
                .unwrap();
            let when = format!("killed at {syscall} #{n}");
            let killed = o.status.code() == Some(128 + 9) || o.status.code().is_none();
            if !killed {
                assert!(o.status.success(), "{syscall} #{n}: {}", String::from_utf8_lossy(&o.stderr));
                break;
            }
            kills += 1;
            // Either every rotated state file is the old one, or none is.
            let after = files_in(&out);
            let same: Vec<bool> = ROTATED.iter().map(|rel| after.get(*rel) == before.get(*rel)).collect();
            assert!(same.iter().all(|s| *s) || same.iter().all(|s| !*s), "{when}: a mixed state set: {same:?}");
            assert_pki_consistent(
                &out,
                ".state/pki/ca.crt",
                ".state/pki/ca.key",
                ".state/pki/hub.crt",
                ".state/pki/hub.key",
                &when,
            );
            // The next plain render: no false hand edit, leftovers cleaned, files consistent.
            let o = run(&["render", "--answers", answers.to_str().unwrap(), "--out", out.to_str().unwrap()]);
            assert!(o.status.success(), "{when}: the next render failed: {}", stderr(&o));
            assert!(!stderr(&o).contains("edited by hand"), "{when}: {}", stderr(&o));
            let files = files_in(&out);
            assert!(
                files.keys().all(|p| !p.contains("mercure-setup-tmp") && !p.starts_with(".state.new-")),
                "{when}: leftovers: {:?}",
                files.keys().collect::<Vec<_>>()
            );
            assert_pki_consistent(
                &out,
                "mercure/tls/ca.crt",
                ".state/pki/ca.key",
                "mercure/tls/hub.crt",
                "mercure/tls/hub.key",
                &when,
            );
            assert_eq!(files.get("mercure/tls/ca.crt"), files.get(".state/pki/ca.crt"), "{when}");
            assert_eq!(
                files.get("symfony/config/jwt/mercure-private.pem"),
                files.get(".state/jwt-es256-private.pem"),
                "{when}"
            );
            assert_eq!(files.get("tokens/publisher.jwt"), files.get(".state/publisher.jwt"), "{when}");
            fs::remove_dir_all(&out).unwrap();
        }
    }
    // The state switch and one rename per changed file outside .state (the 7 files
    // that carry rotated secrets or certificates).
    assert!(kills >= 8, "only {kills} renames were interrupted");
}
