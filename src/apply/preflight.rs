//! Preflight: everything `apply` checks before it changes anything. Each problem is
//! one message; any problem means exit 3 with the machine untouched.

use std::net::TcpListener;
use std::path::Path;

use x509_parser::extensions::GeneralName;

use crate::host::parse_hub_version;
use crate::values::{HubFacts, NginxVersion};

/// Whether this process runs as root (uid 0), read from /proc.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").ok().is_some_and(|s| {
        s.lines().find(|l| l.starts_with("Uid:")).and_then(|l| l.split_whitespace().nth(2)).is_some_and(|u| u == "0")
    })
}

/// Whether systemd is the running init (the test systemd itself uses).
pub fn has_systemd() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

/// The nginx version check: the same major.minor as the bundle was rendered for.
pub fn nginx_version_problem(installed: NginxVersion, rendered: NginxVersion) -> Option<String> {
    (installed.0 != rendered.0 || installed.1 != rendered.1).then(|| {
        format!(
            "this bundle was rendered for nginx {rendered}, but nginx {installed} is installed: render it again here \
             with `nginx.version: auto` (or {}.{})",
            installed.0, installed.1
        )
    })
}

/// How long `BINARY version` may take: the real hub answers in well under a second.
pub const VERSION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The most of a program's output read back: a version line is a few dozen bytes.
const OUTPUT_CAP: u64 = 64 << 10;

/// Runs a program with no input and a deadline: its exit status and output (stdout then
/// stderr, capped), or why not. Output goes to files in `scratch`, not pipes, so a child
/// that leaves a background process holding them cannot stall the wait; a program that
/// does not finish in time is killed.
pub fn output_within(
    cmd: &mut std::process::Command,
    scratch: &Path,
    limit: std::time::Duration,
) -> std::io::Result<(std::process::ExitStatus, String)> {
    use std::io::Read as _;
    use std::process::Stdio;
    let out_path = scratch.join("output");
    let out = std::fs::OpenOptions::new().create_new(true).read(true).write(true).open(&out_path)?;
    let mut child = cmd.stdin(Stdio::null()).stdout(out.try_clone()?).stderr(out.try_clone()?).spawn()?;
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("it did not finish within {}s and was stopped", limit.as_secs()),
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let mut text = String::new();
    std::fs::File::open(&out_path)?.take(OUTPUT_CAP).read_to_string(&mut text).ok();
    Ok((status, text))
}

/// Runs `version` on the hub binary's bytes (read once, checked by the caller) and checks
/// the release is one the bundle supports. `shown` names the binary in messages. The bytes
/// are written to a fresh folder only root can enter, inside `private` (a root-only folder
/// that allows execution, unlike a `/tmp` mounted noexec), and run from there: what runs
/// is what was read, whatever happens to the original path meanwhile.
pub fn hub_version_problem(bytes: &[u8], shown: &str, private: &Path, hub: HubFacts) -> Option<String> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let run = || -> std::io::Result<(std::process::ExitStatus, String)> {
        let dir = tempfile::Builder::new().prefix("hub-version.").tempdir_in(private)?;
        let binary = dir.path().join("mercure");
        let mut f = std::fs::OpenOptions::new().create_new(true).write(true).mode(0o700).open(&binary)?;
        std::io::Write::write_all(&mut f, bytes)?;
        drop(f);
        output_within(std::process::Command::new(&binary).arg("version"), dir.path(), VERSION_TIMEOUT)
    };
    let (status, text) = match run() {
        Ok(o) => o,
        Err(e) => return Some(format!("the hub binary {shown} cannot be run: {e}")),
    };
    if !status.success() {
        return Some(format!("`{shown} version` failed ({status}): is it the Mercure hub?"));
    }
    match parse_hub_version(&text) {
        Some(v) => release_problem(v, hub).map(|p| format!("the hub binary {shown} {p}")),
        None => Some(format!("`{shown} version` printed no version; is it the Mercure hub?")),
    }
}

/// Why a hub of `version` cannot load a bundle written for `hub`'s release line, if it cannot.
fn release_problem(version: (u32, u32, u32), hub: HubFacts) -> Option<String> {
    hub.accepts(version).err().map(|e| e.to_string())
}

/// Whether a TCP address on loopback can be bound now (nothing else listens there).
pub fn port_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// Checks the public certificate (read by the caller, `cert_at` naming it): readable
/// PEM, valid now, and naming `domain`; and that its key could be read.
pub fn certificate_problem(
    cert: std::io::Result<Vec<u8>>,
    cert_at: &str,
    key: std::io::Result<()>,
    key_at: &str,
    domain: &str,
) -> Option<String> {
    let pem = match cert {
        Ok(p) => p,
        Err(e) => {
            return Some(format!(
                "the public certificate {cert_at} cannot be read ({e}); obtain it first, or pass --certbot EMAIL"
            ));
        }
    };
    if let Err(e) = key {
        return Some(format!("the public certificate's key {key_at} cannot be read ({e})"));
    }
    let Ok((_, pem)) = x509_parser::pem::parse_x509_pem(&pem) else {
        return Some(format!("{cert_at} is not a PEM certificate"));
    };
    let Ok(x509) = pem.parse_x509() else { return Some(format!("{cert_at} holds no valid certificate")) };
    if !x509.validity().is_valid() {
        return Some(format!(
            "the public certificate {cert_at} is not valid now (valid {} to {})",
            x509.validity().not_before,
            x509.validity().not_after
        ));
    }
    let mut names: Vec<String> = Vec::new();
    if let Ok(Some(san)) = x509.subject_alternative_name() {
        for n in &san.value.general_names {
            if let GeneralName::DNSName(d) = n {
                names.push(d.to_ascii_lowercase());
            }
        }
    }
    let domain = domain.to_ascii_lowercase();
    let matches = |n: &String| {
        *n == domain || n.strip_prefix("*.").is_some_and(|base| domain.split_once('.').is_some_and(|(_, d)| d == base))
    };
    if names.iter().any(matches) {
        None
    } else {
        Some(format!(
            "the public certificate {cert_at} is for {} and not for {domain}",
            if names.is_empty() { "no DNS name".to_string() } else { names.join(", ") }
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_versions() {
        assert_eq!(parse_hub_version("Mercure.rocks 0.24.2 Caddy v2.11.3 h1:abc"), Some((0, 24, 2)));
        assert_eq!(parse_hub_version("Mercure.rocks v0.19.0-rc.1 Caddy"), Some((0, 19, 0)));
        assert_eq!(parse_hub_version("nothing here"), None);
    }

    #[test]
    fn hub_releases() {
        let hub = crate::values::HubLine::V0_24.facts();
        assert_eq!(release_problem((0, 24, 0), hub), None);
        assert_eq!(release_problem((0, 24, 2), hub), None);
        assert_eq!(
            release_problem((0, 23, 9), hub).as_deref(),
            Some("is version 0.23.9; this bundle (hub.version 0.24) needs 0.24.0 or newer")
        );
        // A 1.0 hub refuses a 0.24 Caddyfile: named before anything changes, with the fix.
        let p = release_problem((1, 0, 0), hub).unwrap();
        assert!(p.contains("--set hub.version=1.0"), "{p}");
        assert_eq!(release_problem((1, 0, 0), crate::values::HubLine::V1_0.facts()), None);
    }

    #[test]
    fn nginx_versions() {
        assert_eq!(nginx_version_problem(NginxVersion(1, 22, 1), NginxVersion(1, 22, 0)), None);
        let p = nginx_version_problem(NginxVersion(1, 22, 1), NginxVersion(1, 26, 2)).unwrap();
        assert!(p.contains("rendered for nginx 1.26.2, but nginx 1.22.1 is installed"), "{p}");
    }

    #[test]
    fn certificates() {
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert =
            rcgen::CertificateParams::new(vec!["app.example.com".to_string()]).unwrap().self_signed(&key).unwrap();
        let (c, k) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        let check = |c: &std::path::Path, domain: &str| {
            certificate_problem(std::fs::read(c), "c.pem", std::fs::metadata(&k).map(drop), "k.pem", domain)
        };
        assert_eq!(check(&c, "app.example.com"), None);
        assert!(check(&c, "other.example.com").unwrap().contains("is for app.example.com"));
        assert!(check(&dir.path().join("none"), "a.b").unwrap().contains("--certbot"));
    }

    #[test]
    fn a_program_that_never_ends_is_stopped() {
        let t = std::time::Instant::now();
        let mut sleeper = std::process::Command::new("sh");
        sleeper.args(["-c", "sleep 30"]);
        let scratch = tempfile::tempdir().unwrap();
        let e = output_within(&mut sleeper, scratch.path(), std::time::Duration::from_millis(300)).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
        assert!(t.elapsed() < std::time::Duration::from_secs(5));
        // A program that answers at once but leaves a child holding its output is done
        // when it exits, not when the child does.
        let t = std::time::Instant::now();
        let mut forks = std::process::Command::new("sh");
        forks.args(["-c", "sleep 30 & echo Mercure.rocks 0.24.2"]);
        let scratch = tempfile::tempdir().unwrap();
        let (status, text) = output_within(&mut forks, scratch.path(), std::time::Duration::from_secs(5)).unwrap();
        assert!(status.success());
        assert_eq!(parse_hub_version(&text), Some((0, 24, 2)));
        assert!(t.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn the_version_run_is_of_the_bytes_read() {
        let private = tempfile::tempdir().unwrap();
        let hub = crate::deployment::HubLine::default().facts();
        let script = b"#!/bin/sh\necho Mercure.rocks 0.24.2 Caddy v2.10.0\n";
        assert_eq!(hub_version_problem(script, "/usr/local/bin/mercure", private.path(), hub), None);
        let old = b"#!/bin/sh\necho Mercure.rocks 0.10.0 Caddy v2.1.0\n";
        let p = hub_version_problem(old, "/usr/local/bin/mercure", private.path(), hub).unwrap();
        assert!(p.contains("the hub binary /usr/local/bin/mercure is version 0.10.0"), "{p}");
        // Nothing is left behind in the private folder.
        assert_eq!(std::fs::read_dir(private.path()).unwrap().count(), 0);
    }

    #[test]
    fn ports() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        assert!(!port_free(l.local_addr().unwrap().port()));
    }
}
