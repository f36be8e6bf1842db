//! Shared test helpers: the binary under test, fixtures, real tools, free ports and
//! processes that are stopped by PID when the test ends.

#![allow(dead_code)]

pub mod loadstack;
pub mod stack;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mercure_setup::jwt::SigningKey;
use mercure_setup::pki::Pki;
use mercure_setup::secrets::Secrets;
use mercure_setup::values::JwtAlgorithm;

/// The `mercure-setup` binary built for this test run.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mercure-setup"))
}

/// A file under `tests/fixtures/`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// The fixture answers files, each rendered and checked by the suites.
pub const FIXTURES: &[&str] = &[
    "same-host-http-hs256-nginx122.yaml",
    "same-host-http-hs512-cors-nginx126.yaml",
    "end-to-end-tls-hs256-nginx122.yaml",
    "end-to-end-tls-es256-cors-nginx126.yaml",
];

/// Runs the binary with `args` and no stdin.
pub fn run(args: &[&str]) -> Output {
    Command::new(bin()).args(args).stdin(std::process::Stdio::null()).output().expect("the mercure-setup binary runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Renders a fixture into `dir` with the real binary; panics with its stderr on failure.
pub fn render_fixture(name: &str, dir: &Path) {
    let o = run(&["render", "--answers", fixture(name).to_str().unwrap(), "--out", dir.to_str().unwrap()]);
    assert!(o.status.success(), "render {name} failed: {}", stderr(&o));
}

/// The path of a tool the test needs (found as the tool itself finds programs: `PATH`,
/// then the sbin folders); fails the test (never skips) with how to install it.
pub fn require_tool(name: &str, install: &str) -> PathBuf {
    mercure_setup::host::find_program(name).unwrap_or_else(|| {
        panic!("`{name}` is not installed; this test runs the real program. Install it with: {install}")
    })
}

/// Every file below `dir`, hidden ones included: relative path -> contents
/// (empty when `dir` does not exist), to compare folders byte for byte.
pub fn files_in(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.insert(path.strip_prefix(dir).unwrap().display().to_string(), std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

// Ports and processes as the lab handles them (one code path): ports handed out once
// per run below the ephemeral range, children killed by PID when their guard drops.
pub use mercure_setup::lab::process::{ChildGuard, free_port};

/// Fixed secrets so rendered files are stable in snapshots (render is pure).
pub fn fixed_secrets(algorithm: JwtAlgorithm, tls: bool) -> Secrets {
    let jwt = match algorithm {
        JwtAlgorithm::ES256 => SigningKey::Es256 {
            private_pem: "-----BEGIN PRIVATE KEY-----\nFIXED-TEST-PRIVATE-KEY\n-----END PRIVATE KEY-----".into(),
            public_pem: "-----BEGIN PUBLIC KEY-----\nFIXED-TEST-PUBLIC-KEY\n-----END PUBLIC KEY-----".into(),
        },
        _ => SigningKey::Hmac(
            "FIXED_test_secret_0123456789-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_0123".into(),
        ),
    };
    Secrets {
        jwt,
        publisher_token: "fixed.publisher.token".into(),
        subscriber_token: "fixed.subscriber.token".into(),
        pki: tls.then(|| Pki {
            ca_cert: "FIXED CA CERT".into(),
            ca_key: "FIXED CA KEY".into(),
            hub_cert: "FIXED HUB CERT".into(),
            hub_key: "FIXED HUB KEY".into(),
        }),
    }
}

/// The real Mercure hub binary for this run: the version `scripts/mercure-hub.sh`
/// builds (0.24.2 unless `MERCURE_HUB_VERSION` says otherwise), cached after the first
/// build; fails the test (never skips) with how to get it.
pub fn hub_binary() -> PathBuf {
    static HUB: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    HUB.get_or_init(|| {
        let version = std::env::var("MERCURE_HUB_VERSION").unwrap_or_else(|_| "0.24.2".into());
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/mercure-hub.sh");
        let out = Command::new("bash").arg(&script).arg(&version).stdin(std::process::Stdio::null()).output();
        let out = out.unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        let path = String::from_utf8_lossy(&out.stdout).lines().last().map(PathBuf::from);
        match path {
            Some(p) if out.status.success() && p.is_file() => p,
            _ => panic!(
                "the real Mercure hub {version} could not be built; these tests run it. Needs Go 1.26 and the Go \
                 module proxy: run `bash scripts/mercure-hub.sh {version}`. Its output:\n{}",
                String::from_utf8_lossy(&out.stderr)
            ),
        }
    })
    .clone()
}
