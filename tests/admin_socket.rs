//! The hub's admin API on its default unix socket, with the real hub: the socket is
//! 0600, and `mercure reload` (the unit's `ExecReload`) reaches the hub through it.

use std::fs;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mercure_setup::bundle::paths;
use mercure_setup::formats::parse_env;
use mercure_setup::plan::install;
use mercure_setup::values::ADMIN_SOCKET;

use crate::support::{ChildGuard, fixture, free_port, run, stderr};

const HUB: &str = "/root/.cache/mercure-setup/hub/0.24.2/mercure";

#[test]
fn the_admin_socket_is_private_and_reload_uses_it() {
    assert!(std::path::Path::new(HUB).is_file(), "the Mercure hub is not built; run scripts/mercure-hub.sh 0.24.2");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("b");
    let answers = fixture("same-host-http-hs256-nginx122.yaml");
    let o = run(&[
        "render",
        "--answers",
        answers.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--set",
        "hub.admin=unix",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let unit = fs::read_to_string(out.join(paths::UNIT)).unwrap();
    assert!(unit.contains("\nRuntimeDirectory=mercure\n") && unit.contains("\nRuntimeDirectoryMode=0700\n"), "{unit}");
    assert!(!unit.lines().any(|l| l.starts_with("ProcSubset=")), "{unit}");
    let caddyfile = fs::read_to_string(out.join(paths::CADDYFILE)).unwrap();
    assert!(caddyfile.contains(&format!("\tadmin unix/{ADMIN_SOCKET}|0600\n")), "{caddyfile}");
    // Paths and port for this machine; the file keeps its name so Caddy picks the adapter.
    let socket = tmp.path().join("admin.sock");
    let port = free_port();
    let data = tmp.path().join("data");
    fs::create_dir(&data).unwrap();
    let adapted = caddyfile
        .replace(ADMIN_SOCKET, socket.to_str().unwrap())
        .replace(install::DATA_DIR, data.to_str().unwrap())
        .replace("http://:3000", &format!("http://:{port}"));
    let config = tmp.path().join("Caddyfile");
    fs::write(&config, adapted).unwrap();
    let env = parse_env(&fs::read_to_string(out.join(paths::HUB_ENV)).unwrap()).unwrap();
    let child = Command::new(HUB)
        .args(["run", "--config"])
        .arg(&config)
        .envs(&env)
        .env("XDG_DATA_HOME", tmp.path())
        .env("XDG_CONFIG_HOME", tmp.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _hub = ChildGuard::new("mercure hub", child);
    let start = Instant::now();
    while !socket.exists() && start.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let meta = fs::symlink_metadata(&socket).expect("the hub opened its admin socket");
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let o = Command::new(HUB).args(["reload", "--force", "--config"]).arg(&config).envs(&env).output().unwrap();
    assert!(o.status.success(), "reload: {}", String::from_utf8_lossy(&o.stderr));
}
