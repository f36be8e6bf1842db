//! Facts read from this machine at the edge of a run: the installed nginx version.

use std::process::Command;

use crate::values::NginxVersion;

/// The version `nginx -v` reports, or `None` when nginx is not installed here.
pub fn installed_nginx_version() -> Option<NginxVersion> {
    let out = Command::new("nginx").arg("-v").output().ok()?;
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
}
