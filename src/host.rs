//! Facts read from this machine at the edge of a run: where programs are, the
//! installed nginx version and the hub binary's release line.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::values::{HubLine, NginxVersion};

/// Folders searched after `PATH`: a non-root user's `PATH` often lacks them, and
/// Debian installs nginx as /usr/sbin/nginx.
const SBIN_DIRS: [&str; 3] = ["/usr/local/sbin", "/usr/sbin", "/sbin"];

/// Where the program `name` is: the first `PATH` entry holding it, else the sbin folders.
/// The one program lookup of the crate (`check`, the nginx detection and the tests use it).
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .filter(|d| !d.as_os_str().is_empty())
        .chain(SBIN_DIRS.map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// What looking for nginx on this machine found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NginxHere {
    Found {
        path: PathBuf,
        version: NginxVersion,
    },
    /// Found, but `nginx -v` could not be run or did not print a version.
    Unreadable {
        path: PathBuf,
    },
    NotFound,
}

impl NginxHere {
    pub fn version(&self) -> Option<NginxVersion> {
        match self {
            NginxHere::Found { version, .. } => Some(*version),
            _ => None,
        }
    }

    /// What `nginx.version: auto` chose here, and why, for a `note:` line.
    pub fn auto_note(&self) -> String {
        match self {
            NginxHere::Found { path, version } => {
                format!("nginx.version auto: rendering for nginx {version} found at {}", path.display())
            }
            NginxHere::Unreadable { path } => format!(
                "nginx.version auto: {} did not report its version, rendering for {} syntax (Debian 12)",
                path.display(),
                NginxVersion::FALLBACK
            ),
            NginxHere::NotFound => format!(
                "nginx.version auto: nginx not found here, rendering for {} syntax (Debian 12)",
                NginxVersion::FALLBACK
            ),
        }
    }
}

/// What asking `hub.binary version` found, for `hub.version: auto`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HubHere {
    Found {
        path: PathBuf,
        version: (u32, u32, u32),
        line: HubLine,
    },
    /// The file exists but `version` did not print a release.
    Unreadable {
        path: PathBuf,
    },
    NotFound {
        path: PathBuf,
    },
}

impl HubHere {
    /// The line `auto` renders for: the binary's, else 0.24.
    pub fn line(&self) -> HubLine {
        match self {
            HubHere::Found { line, .. } => *line,
            _ => HubLine::V0_24,
        }
    }

    /// What `hub.version: auto` chose here, and why, for a `note:` line.
    pub fn auto_note(&self) -> String {
        match self {
            HubHere::Found { path, version: (a, b, c), line } => {
                format!("hub.version auto: rendering for {line}, the line of the hub {} ({a}.{b}.{c})", path.display())
            }
            HubHere::Unreadable { path } => format!(
                "hub.version auto: {} did not report its version, rendering for 0.24 (set hub.version to choose)",
                path.display()
            ),
            HubHere::NotFound { path } => format!(
                "hub.version auto: no hub at {} yet, rendering for 0.24 (set hub.version to choose)",
                path.display()
            ),
        }
    }
}

/// Asks the hub binary at `path` for its release (`mercure version`).
pub fn installed_hub(path: &Path) -> HubHere {
    if !path.is_file() {
        return HubHere::NotFound { path: path.to_path_buf() };
    }
    let out = Command::new(path).arg("version").stdin(std::process::Stdio::null()).output();
    let version = out.ok().and_then(|o| parse_hub_version(&String::from_utf8_lossy(&o.stdout)));
    match version {
        Some(version) => HubHere::Found { path: path.to_path_buf(), version, line: HubLine::of_release(version) },
        None => HubHere::Unreadable { path: path.to_path_buf() },
    }
}

/// The release in a `mercure version` line ("Mercure.rocks 1.0.0-alpha.3 Caddy v2.11.4 ...",
/// "Mercure.rocks 0.24.2 Caddy ..."): the first word after "Mercure.rocks", pre-release dropped.
pub fn parse_hub_version(text: &str) -> Option<(u32, u32, u32)> {
    let word = text.split("Mercure.rocks").nth(1)?.split_whitespace().next()?;
    let core = word.trim_start_matches('v').split('-').next()?;
    let mut nums = core.split('.').map(str::parse::<u32>);
    let v = (nums.next()?.ok()?, nums.next()?.ok()?, nums.next()?.ok()?);
    nums.next().is_none().then_some(v)
}

/// Finds nginx (also in the sbin folders) and asks it for its version.
pub fn installed_nginx() -> NginxHere {
    let Some(path) = find_program("nginx") else { return NginxHere::NotFound };
    match nginx_v(&path) {
        Some(version) => NginxHere::Found { path, version },
        None => NginxHere::Unreadable { path },
    }
}

/// The version `nginx -v` reports, or `None` when nginx is not installed here.
pub fn installed_nginx_version() -> Option<NginxVersion> {
    installed_nginx().version()
}

fn nginx_v(program: &Path) -> Option<NginxVersion> {
    let out = Command::new(program).arg("-v").stdin(std::process::Stdio::null()).output().ok()?;
    // nginx prints "nginx version: nginx/1.22.1" to stderr.
    let text = String::from_utf8_lossy(&out.stderr);
    parse_nginx_v(&text)
}

fn parse_nginx_v(text: &str) -> Option<NginxVersion> {
    let version = text.split("nginx/").nth(1)?.split_whitespace().next()?;
    NginxVersion::parse(version).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nginx_v() {
        assert_eq!(parse_nginx_v("nginx version: nginx/1.22.1\n"), Some(NginxVersion(1, 22, 1)));
        assert_eq!(parse_nginx_v("nginx version: nginx/1.26.2 (Ubuntu)\n"), Some(NginxVersion(1, 26, 2)));
        assert_eq!(parse_nginx_v("garbage"), None);
    }

    #[test]
    fn parses_hub_version() {
        let v = parse_hub_version("Mercure.rocks 1.0.0-alpha.3 Caddy v2.11.4 h1:XKxk=\n");
        assert_eq!(v, Some((1, 0, 0)));
        assert_eq!(parse_hub_version("Mercure.rocks 0.24.2 Caddy v2.11.3 h1:/vFb=\n"), Some((0, 24, 2)));
        assert_eq!(parse_hub_version("v2.11.4 h1:abc"), None);
        let missing = installed_hub(Path::new("/nonexistent/mercure"));
        assert_eq!(missing.line(), HubLine::V0_24);
        assert!(missing.auto_note().contains("no hub at /nonexistent/mercure yet, rendering for 0.24"));
    }

    #[test]
    fn finds_programs_on_path() {
        // `sh` is on every PATH this crate is built with.
        assert!(find_program("sh").is_some_and(|p| p.is_file()));
        assert_eq!(find_program("no-such-program-mercure-setup"), None);
    }

    #[test]
    fn auto_notes() {
        let found = NginxHere::Found { path: "/usr/sbin/nginx".into(), version: NginxVersion(1, 22, 1) };
        assert_eq!(found.auto_note(), "nginx.version auto: rendering for nginx 1.22.1 found at /usr/sbin/nginx");
        assert!(NginxHere::NotFound.auto_note().contains("nginx not found here, rendering for 1.22.1 syntax"));
    }
}
