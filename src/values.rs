//! Validated value types: each newtype can only hold a value that is safe to put
//! into nginx, Caddyfile, systemd, dotenv and YAML files unquoted.
//!
//! Every input path (answers file, `--set`, wizard fields) goes through the
//! `parse` functions here, so a value is checked the same way wherever it came from.

use std::fmt;

use serde::Serialize;

/// Characters that would let a value escape its directive in one of the rendered
/// config languages (nginx, Caddyfile, systemd, dotenv, YAML).
fn forbidden_char(c: char) -> bool {
    c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '`' | ';' | '{' | '}' | '$' | '#' | '\\')
}

/// Rejects values carrying characters that could break out of a directive.
pub fn check_safe(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("must not be empty".into());
    }
    if let Some(c) = value.chars().find(|&c| forbidden_char(c)) {
        return Err(format!(
            "`{}` contains {}, which is not allowed (no whitespace, quotes, `;`, `{{`, `}}`, `$`, `#`, `\\` or control characters)",
            shown(value),
            describe_char(c)
        ));
    }
    Ok(())
}

/// A value as quoted in a message: escaped, and cut after 80 characters so a huge
/// value does not make a huge message.
pub fn shown(value: &str) -> String {
    let mut out: String = value.chars().take(80).collect::<String>().escape_debug().to_string();
    if value.chars().nth(80).is_some() {
        out.push_str("...");
    }
    out
}

fn describe_char(c: char) -> String {
    match c {
        '\n' => "a newline".into(),
        '\r' => "a carriage return".into(),
        '\t' => "a tab".into(),
        ' ' => "a space".into(),
        c if c.is_control() => format!("control character U+{:04X}", c as u32),
        c => format!("`{c}`"),
    }
}

/// A number written with ASCII digits only: Rust's parsers also take a leading `+`,
/// which would then be copied into configs that refuse it.
fn digits<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

// `apply`, `check` and `answers` read these through this path until their own changes
// import them from `deployment`.
pub use crate::deployment::{HubFacts, HubLine, HubVersionChoice, Topology};

/// An RFC 1123 host name, stored in lower case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Domain(String);

impl Domain {
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.len() > 253 {
            return Err(format!("is {} characters long; a host name has at most 253", s.len()));
        }
        if let Some((scheme, _)) = s.split_once("://") {
            return Err(format!("`{}`: write the host only, no scheme (drop `{scheme}://`)", shown(s)));
        }
        check_safe(s)?;
        let lower = s.to_ascii_lowercase();
        for label in lower.split('.') {
            if label.is_empty() {
                return Err(format!("`{s}` has an empty label (two dots, or a leading or trailing dot)"));
            }
            if label.len() > 63 {
                return Err(format!("label `{label}` is longer than 63 characters"));
            }
            if let Some(c) = label.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-')) {
                return Err(format!(
                    "`{s}` is not a host name: {} is not allowed (letters, digits, `-` and `.` only)",
                    describe_char(c)
                ));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(format!("label `{label}` starts or ends with `-`"));
            }
        }
        if lower.rsplit('.').next().is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit())) {
            return Err(format!("`{s}` looks like an IP address; a DNS name is needed here"));
        }
        Ok(Self(lower))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The public domain: a host name with at least one dot that is not `localhost`, since
/// browsers, certificates and DNS all need a real name here.
pub fn parse_public_domain(s: &str) -> Result<Domain, String> {
    let d = Domain::parse(s)?;
    if d.as_str() == "localhost" || d.as_str().ends_with(".localhost") {
        return Err(format!(
            "`{d}` only names this machine; give the public domain browsers use, e.g. app.example.com"
        ));
    }
    if !d.as_str().contains('.') {
        return Err(format!("`{d}` has no dot: give the full public domain, e.g. {d}.example.com"));
    }
    Ok(d)
}

/// A TCP port the hub may listen on: unprivileged, and not nginx's 80/443.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Port(u16);

impl Port {
    pub fn parse(s: &str) -> Result<Self, String> {
        let n: u32 = digits(s).ok_or_else(|| format!("`{}` is not a port number (1024-65535)", s.escape_debug()))?;
        if n == 80 || n == 443 {
            return Err(format!("{n} is nginx's public port; the hub needs its own loopback port (1024-65535)"));
        }
        if !(1024..=65535).contains(&n) {
            return Err(format!("{n} is outside 1024-65535"));
        }
        Ok(Self(u16::try_from(n).map_err(|_| "port out of range".to_string())?))
    }

    pub fn get(self) -> u16 {
        self.0
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A browser origin, exactly `scheme://host[:port]`, as the hub compares it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Origin(String);

impl Origin {
    pub fn parse(s: &str) -> Result<Self, String> {
        check_safe(s)?;
        let (scheme, rest) = s.split_once("://").ok_or_else(|| {
            format!("`{s}` is not an origin: write scheme://host[:port], e.g. https://app.example.com")
        })?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(format!("`{s}`: the scheme must be http or https"));
        }
        if rest.ends_with('/') {
            return Err(format!(
                "`{s}` ends with `/`: an origin has no trailing slash (browsers send none, so it would never match)"
            ));
        }
        if rest.contains('/') || rest.contains('?') {
            return Err(format!("`{s}` has a path or query: an origin is only scheme://host[:port]"));
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        };
        if let Some(p) = port {
            match digits::<u16>(p) {
                Some(443) if scheme == "https" => return Err(default_port(s, &scheme, host, 443)),
                Some(80) if scheme == "http" => return Err(default_port(s, &scheme, host, 80)),
                Some(n) if n > 0 => {}
                _ => return Err(format!("`{s}`: `{p}` is not a port number")),
            }
        }
        let host = host.to_ascii_lowercase();
        if host.parse::<std::net::Ipv4Addr>().is_err() && host != "localhost" {
            Domain::parse(&host).map_err(|e| format!("`{s}`: host {e}"))?;
        }
        let port = port.map(|p| format!(":{p}")).unwrap_or_default();
        Ok(Self(format!("{scheme}://{host}{port}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Browsers leave the scheme's default port out of `Origin`, so an origin that
/// spells it out can never match.
fn default_port(s: &str, scheme: &str, host: &str, port: u16) -> String {
    format!(
        "`{s}`: browsers omit the default port {port} from the Origin header, so this would never match; write {scheme}://{}",
        host.to_ascii_lowercase()
    )
}

/// A `cors_origins` entry: an exact origin, or `*` (allowed, with a warning).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct CorsOrigin(String);

impl CorsOrigin {
    pub fn parse(s: &str) -> Result<Self, String> {
        if s == "*" {
            return Ok(Self(s.into()));
        }
        Origin::parse(s).map(|o| Self(o.0))
    }

    pub fn is_wildcard(&self) -> bool {
        self.0 == "*"
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A `publish_origins` entry: exact origins only, never `*`.
pub fn parse_publish_origin(s: &str) -> Result<Origin, String> {
    if s == "*" {
        return Err("`*` would let any web page publish with a visitor's cookie; list exact origins (server-side publishing with a token does not need this at all)".into());
    }
    Origin::parse(s)
}

/// Longest path the kernel takes (`PATH_MAX`, with its NUL) and longest path component (`NAME_MAX`).
const PATH_MAX: usize = 4095;
const NAME_MAX: usize = 255;

/// Characters a path may hold: what real install paths use, and nothing a shell,
/// systemd (`%` specifiers) or a config language would read as syntax.
fn path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-' | '+' | '@')
}

/// An absolute file system path made of letters, digits and `/ . _ - + @` only,
/// so it can be pasted into a root shell command, a systemd unit or a config file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct AbsPath(String);

impl AbsPath {
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.is_empty() {
            return Err("must not be empty".into());
        }
        if s.len() > PATH_MAX {
            return Err(format!("is {} characters long; a path has at most {PATH_MAX}", s.len()));
        }
        if let Some(c) = s.chars().find(|&c| !path_char(c)) {
            let shown: String = s.chars().take(80).collect();
            return Err(format!(
                "`{}` contains {}: a path may only hold letters, digits and `/ . _ - + @` (it is pasted into root shell commands and the systemd unit)",
                shown.escape_debug(),
                describe_char(c)
            ));
        }
        if !s.starts_with('/') {
            return Err(format!("`{s}` is not an absolute path (it must start with `/`)"));
        }
        if s.split('/').any(|part| part == "..") {
            return Err(format!("`{s}` contains `..`"));
        }
        if let Some(part) = s.split('/').find(|part| part.len() > NAME_MAX) {
            return Err(format!("a component of `{s}` is {} characters long; at most {NAME_MAX}", part.len()));
        }
        if s.split('/').any(|part| part.starts_with('-')) {
            return Err(format!("`{s}` has a component starting with `-`, which commands would read as an option"));
        }
        // `/srv/app/` is `/srv/app`; `//` is `/` (never the empty string, which is no path).
        let trimmed = s.trim_end_matches('/');
        Ok(Self(if trimmed.is_empty() { "/".to_string() } else { trimmed.to_string() }))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A Caddy duration such as `40s`, `1m` or `500ms`, kept as written and as milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Duration {
    pub text: String,
    pub millis: u64,
}

impl Duration {
    pub fn parse(s: &str) -> Result<Self, String> {
        let digits_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (num, unit) = s.split_at(digits_end);
        let n: u64 = num
            .parse()
            .map_err(|_| format!("`{}` is not a duration: write e.g. 40s, 1m or 500ms", s.escape_debug()))?;
        let factor = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            _ => return Err(format!("`{}`: the unit must be ms, s, m or h (e.g. 40s)", s.escape_debug())),
        };
        Ok(Self { text: s.to_string(), millis: n.saturating_mul(factor) })
    }
}

/// Where the hub's admin socket lives: systemd's `RuntimeDirectory=mercure` makes
/// /run/mercure, owned by the hub's user and removed when it stops.
pub const ADMIN_SOCKET: &str = "/run/mercure/admin.sock";

/// Caddy's admin endpoint: `unix` (a 0600 socket only the hub's user can open, the
/// default), `off`, or `host:port` on loopback (any local user can then load a
/// config, and read the JWT keys through placeholders).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct AdminAddress(String);

impl AdminAddress {
    pub fn parse(s: &str) -> Result<Self, String> {
        check_safe(s)?;
        if s == "off" || s == "unix" {
            return Ok(Self(s.into()));
        }
        let (host, port) =
            s.rsplit_once(':').ok_or_else(|| format!("`{s}` is not unix, off or host:port (e.g. localhost:2019)"))?;
        if !matches!(host, "localhost" | "127.0.0.1" | "[::1]") {
            return Err(format!("`{s}`: the admin API must stay on loopback (localhost, 127.0.0.1 or [::1])"));
        }
        match digits::<u16>(port) {
            Some(n) if n >= 1024 => Ok(Self(s.into())),
            _ => Err(format!("`{s}`: `{port}` is not a port number in 1024-65535")),
        }
    }

    pub fn port(&self) -> Option<u16> {
        self.0.rsplit_once(':').and_then(|(_, p)| p.parse().ok())
    }

    pub fn is_off(&self) -> bool {
        self.0 == "off"
    }

    pub fn is_unix(&self) -> bool {
        self.0 == "unix"
    }

    /// The value of Caddy's `admin` global option.
    pub fn caddy_value(&self) -> String {
        if self.is_unix() { format!("unix/{ADMIN_SOCKET}|0600") } else { self.0.clone() }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// JWT signature algorithm shared by the hub and Symfony.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum JwtAlgorithm {
    HS256,
    HS512,
    ES256,
}

impl JwtAlgorithm {
    pub const ALL: [JwtAlgorithm; 3] = [Self::HS256, Self::HS512, Self::ES256];

    /// Their names, as the answers file spells them (the `jwt.algorithm` question's choices).
    pub const NAMES: [&'static str; Self::ALL.len()] = {
        let mut names = [""; Self::ALL.len()];
        let mut i = 0;
        while i < names.len() {
            names[i] = Self::ALL[i].as_str();
            i += 1;
        }
        names
    };

    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "HS256" => Ok(Self::HS256),
            "HS512" => Ok(Self::HS512),
            "ES256" => Ok(Self::ES256),
            _ => Err(format!("`{}` is not supported: use HS256, HS512 or ES256", s.escape_debug())),
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::HS256 => "HS256",
            Self::HS512 => "HS512",
            Self::ES256 => "ES256",
        }
    }

    /// The name Symfony's `MercureBundle` uses in `jwt.algorithm`.
    pub fn symfony_name(self) -> &'static str {
        match self {
            Self::HS256 => "hmac.sha256",
            Self::HS512 => "hmac.sha512",
            Self::ES256 => "ecdsa.sha256",
        }
    }

    pub fn is_hmac(self) -> bool {
        self != Self::ES256
    }
}

/// Folders that hold the system itself: a web folder there would have `apply` (as
/// root) change the owner and mode of, or write files into, the system's own files.
const SYSTEM_TREES: &[&str] = &[
    "/root",
    "/etc",
    "/boot",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/usr/bin",
    "/usr/sbin",
    "/usr/lib",
    "/proc",
    "/sys",
    "/dev",
    "/run",
    "/tmp",
    "/var/tmp",
];
/// Folders that hold other folders: fine to be below, not to be.
const SHARED_PARENTS: &[&str] = &[
    "/",
    "/usr",
    "/usr/local",
    "/usr/share",
    "/var",
    "/var/lib",
    "/var/log",
    "/var/cache",
    "/var/www",
    "/var/spool",
    "/var/mail",
    "/home",
    "/srv",
    "/opt",
    "/mnt",
    "/media",
];

/// An absolute path for a folder the web server serves or a project lives in
/// (`public_tls.acme_webroot`, `symfony.project_dir`): never a system folder.
pub fn parse_web_dir(s: &str) -> Result<AbsPath, String> {
    let p = AbsPath::parse(s)?;
    let path = p.as_str();
    if let Some(tree) = SYSTEM_TREES.iter().find(|t| path == **t || path.starts_with(&format!("{t}/"))) {
        return Err(format!(
            "`{path}` is in {tree}, a system folder: apply (as root) would create it, set its owner and mode, or              write into it; use a folder of its own such as /var/www/app"
        ));
    }
    if SHARED_PARENTS.contains(&path) {
        return Err(format!(
            "`{path}` holds other folders of the system: apply (as root) would set its owner and mode; use a              folder of its own below it, such as /var/www/app"
        ));
    }
    Ok(p)
}

/// Debian's own system accounts: the hub needs one of its own, as an account shared
/// with another service (php-fpm's `www-data`, `nobody`) would let that service read
/// the hub's keys and the hub read that service's files.
const SYSTEM_ACCOUNTS: &[&str] = &[
    "root",
    "daemon",
    "bin",
    "sys",
    "sync",
    "games",
    "man",
    "lp",
    "mail",
    "news",
    "uucp",
    "proxy",
    "www-data",
    "backup",
    "list",
    "irc",
    "gnats",
    "_gnats",
    "nobody",
    "_apt",
    "systemd-network",
    "systemd-resolve",
    "systemd-timesync",
    "messagebus",
    "sshd",
    "nginx",
    "caddy",
    "postgres",
    "mysql",
    "redis",
    "polkitd",
    "_chrony",
    "ntp",
];

/// A Unix user name for the hub's service account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct UnixUser(String);

impl UnixUser {
    pub fn parse(s: &str) -> Result<Self, String> {
        check_safe(s)?;
        let mut chars = s.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_');
        let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !first_ok || !rest_ok || s.len() > 32 {
            return Err(format!("`{s}` is not a Unix user name (lower case letters, digits, `_`, `-`; at most 32)"));
        }
        if s == "root" {
            return Err("the hub must not run as root".into());
        }
        if SYSTEM_ACCOUNTS.contains(&s) {
            return Err(format!(
                "`{s}` is a system account another service uses: the hub needs its own (apply creates it), as a \
                 shared account would let that service read the hub's keys; e.g. mercure"
            ));
        }
        Ok(Self(s.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where nginx reaches php-fpm: `unix:/path/to.sock` or `host:port`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct FastcgiAddress(String);

impl FastcgiAddress {
    pub fn parse(s: &str) -> Result<Self, String> {
        check_safe(s)?;
        if let Some(path) = s.strip_prefix("unix:") {
            AbsPath::parse(path).map_err(|e| format!("socket path {e}"))?;
            return Ok(Self(s.into()));
        }
        let bad = || format!("`{s}` is not unix:/path/to/php-fpm.sock or host:port (e.g. 127.0.0.1:9000)");
        let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
        if digits::<u16>(port).is_none_or(|p| p == 0) {
            return Err(bad());
        }
        let host_ok = host.parse::<std::net::Ipv4Addr>().is_ok()
            || host
                .strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .is_some_and(|h| h.parse::<std::net::Ipv6Addr>().is_ok())
            || host == "localhost"
            || Domain::parse(host).is_ok();
        if !host_ok {
            return Err(format!("`{s}`: `{host}` is not an IP address or host name; write host:port or unix:/path"));
        }
        Ok(Self(s.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The TCP port php-fpm listens on when it is on this machine's loopback.
    pub fn loopback_port(&self) -> Option<u16> {
        let (host, port) = self.0.rsplit_once(':')?;
        matches!(host, "127.0.0.1" | "localhost" | "[::1]").then(|| digits(port)).flatten()
    }
}

/// The nginx version whose syntax to render, or `auto` to read it from `nginx -v`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NginxVersionChoice {
    Auto,
    Known(NginxVersion),
}

impl NginxVersionChoice {
    pub fn parse(s: &str) -> Result<Self, String> {
        if s == "auto" {
            return Ok(Self::Auto);
        }
        NginxVersion::parse(s).map(Self::Known)
    }
}

/// A concrete nginx version (major.minor.patch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct NginxVersion(pub u32, pub u32, pub u32);

impl NginxVersion {
    /// Debian 12's version, used when `auto` finds no nginx on this machine.
    pub const FALLBACK: NginxVersion = NginxVersion(1, 22, 1);
    /// From this version on, `listen ... http2` is deprecated in favour of `http2 on;`.
    pub const HTTP2_DIRECTIVE: NginxVersion = NginxVersion(1, 25, 1);

    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || format!("`{}` is not an nginx version: write auto, or e.g. 1.22 or 1.26.2", s.escape_debug());
        let parts: Vec<&str> = s.split('.').collect();
        if !(2..=3).contains(&parts.len()) {
            return Err(bad());
        }
        let nums: Result<Vec<u32>, _> = parts.iter().map(|p| p.parse::<u32>()).collect();
        let nums = nums.map_err(|_| bad())?;
        let v = NginxVersion(nums[0], nums[1], nums.get(2).copied().unwrap_or(0));
        if v < NginxVersion(1, 18, 0) {
            return Err(format!("nginx {v} is older than 1.18, which mercure-setup does not support"));
        }
        Ok(v)
    }
}

impl fmt::Display for NginxVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// `true`/`false` (and the YAML spellings yes/no/on/off).
pub fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" => Ok(true),
        "false" | "no" | "off" => Ok(false),
        _ => Err(format!("`{}` is not true or false", s.escape_debug())),
    }
}

/// A whole number within `range`.
pub fn parse_count(s: &str, range: std::ops::RangeInclusive<u32>) -> Result<u32, String> {
    let n: u32 = digits(s).ok_or_else(|| format!("`{}` is not a whole number", s.escape_debug()))?;
    if !range.contains(&n) {
        return Err(format!("{n} is outside {}-{}", range.start(), range.end()));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains() {
        assert_eq!(Domain::parse("App.Example.com").unwrap().as_str(), "app.example.com");
        for bad in ["a.com;include /etc/passwd", "a..com", "-a.com", "a_b.com", "1.2.3.4", "a.com\n", ""] {
            assert!(Domain::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn ports() {
        assert!(Port::parse("3000").is_ok());
        for bad in ["80", "443", "1023", "65536", "x", "-1"] {
            assert!(Port::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn origins() {
        assert_eq!(Origin::parse("HTTPS://App.example.com:8443").unwrap().as_str(), "https://app.example.com:8443");
        assert!(Origin::parse("http://localhost:5173").is_ok());
        for bad in
            ["https://a.com/", "https://a.com/path", "a.com", "ftp://a.com", "https://a.com\n", "https://a.com:0", "*"]
        {
            assert!(Origin::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(CorsOrigin::parse("*").unwrap().is_wildcard());
        assert!(parse_publish_origin("*").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(Duration::parse("40s").unwrap().millis, 40_000);
        assert_eq!(Duration::parse("1m").unwrap().millis, 60_000);
        assert!(Duration::parse("40").is_err());
        assert!(Duration::parse("s").is_err());
    }

    #[test]
    fn admin_and_fastcgi() {
        assert!(AdminAddress::parse("off").unwrap().is_off());
        assert_eq!(AdminAddress::parse("localhost:2019").unwrap().port(), Some(2019));
        assert!(AdminAddress::parse("0.0.0.0:2019").is_err());
        assert!(FastcgiAddress::parse("unix:/run/php/php8.2-fpm.sock").is_ok());
        assert!(FastcgiAddress::parse("127.0.0.1:9000").is_ok());
        assert!(FastcgiAddress::parse("unix:run.sock").is_err());
        assert!(FastcgiAddress::parse("127.0.0.1:+9000").is_err());
        assert!(AdminAddress::parse("localhost:+2019").is_err());
        assert!(Port::parse("+3000").is_err());
        assert_eq!(FastcgiAddress::parse("127.0.0.1:9000").unwrap().loopback_port(), Some(9000));
    }

    #[test]
    fn web_folders_are_not_system_folders() {
        for ok in ["/var/www/app", "/srv/shop", "/var/www/letsencrypt", "/home/deploy/app", "/var/lib/app"] {
            assert!(parse_web_dir(ok).is_ok(), "{ok}");
        }
        for bad in
            ["/", "/root", "/etc", "/etc/nginx", "/usr", "/bin", "/boot", "/var/lib", "/var/lib/", "/var/www", "/tmp/x"]
        {
            let e = parse_web_dir(bad).unwrap_err();
            assert!(e.contains("system") || e.contains("holds other folders"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_hub_gets_an_account_of_its_own() {
        assert!(UnixUser::parse("mercure").is_ok());
        for shared in ["www-data", "nobody", "daemon"] {
            assert!(UnixUser::parse(shared).unwrap_err().contains("system account"), "{shared}");
        }
        assert!(UnixUser::parse("root").unwrap_err().contains("root"));
    }

    #[test]
    fn paths_are_strict() {
        assert_eq!(AbsPath::parse("/srv/app-1/v2.0_x+y@z/").unwrap().as_str(), "/srv/app-1/v2.0_x+y@z");
        assert_eq!(AbsPath::parse("//").unwrap().as_str(), "/");
        assert_eq!(AbsPath::parse("/").unwrap().as_str(), "/");
        for bad in [
            "/srv/x&>/srv/victim&",
            "/srv/x|y",
            "/srv/x>y",
            "/srv/x<y",
            "/srv/(x)",
            "/srv/*",
            "/srv/~x",
            "/usr/bin/%p",
            "/srv/a b",
            "/srv/a,b",
            "/srv/-rf",
            "srv/x",
            "/srv/../etc",
            "",
        ] {
            let err = AbsPath::parse(bad).unwrap_err();
            assert!(!err.is_empty(), "{bad:?}");
        }
        let huge = format!("/{}", "a".repeat(100_000_000));
        let err = AbsPath::parse(&huge).unwrap_err();
        assert!(err.len() < 200, "{}", err.len());
        assert!(AbsPath::parse(&format!("/{}", "a".repeat(256))).is_err());
    }

    #[test]
    fn values_that_would_fail_later() {
        assert!(FastcgiAddress::parse("a:b:9000").is_err());
        assert!(FastcgiAddress::parse("[::1]:9000").is_ok());
        assert!(FastcgiAddress::parse("php.internal:9000").is_ok());
        let e = Origin::parse("https://x.example.com:443").unwrap_err();
        assert!(e.contains("write https://x.example.com"), "{e}");
        assert!(Origin::parse("http://x.example.com:80").is_err());
        assert!(Origin::parse("https://x.example.com:80").is_ok());
        assert!(parse_public_domain("foo").unwrap_err().contains("no dot"));
        assert!(parse_public_domain("localhost").unwrap_err().contains("only names this machine"));
        assert!(parse_public_domain("https://x.example.com").unwrap_err().contains("host only, no scheme"));
        let long = format!("{0}.{0}.{0}.{1}", "a".repeat(63), "b".repeat(61));
        assert_eq!(long.len(), 253);
        assert!(parse_public_domain(&long).is_ok());
        assert!(Domain::parse(&format!("{long}c")).unwrap_err().contains("254 characters"));
        assert!(Domain::parse(&"a".repeat(100_000_000)).unwrap_err().len() < 100);
    }

    #[test]
    fn admin_unix_socket() {
        let a = AdminAddress::parse("unix").unwrap();
        assert!(a.is_unix() && a.port().is_none());
        assert_eq!(a.caddy_value(), "unix//run/mercure/admin.sock|0600");
        assert_eq!(AdminAddress::parse("localhost:2019").unwrap().caddy_value(), "localhost:2019");
    }

    #[test]
    fn nginx_versions() {
        assert_eq!(NginxVersion::parse("1.22").unwrap(), NginxVersion(1, 22, 0));
        assert!(NginxVersion::parse("1.26.2").unwrap() >= NginxVersion::HTTP2_DIRECTIVE);
        assert!(NginxVersion::parse("1").is_err());
        assert!(NginxVersion::parse("1.10").is_err());
    }
}
