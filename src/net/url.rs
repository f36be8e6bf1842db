//! The URL form this client needs (`http(s)://host[:port]/path?query`), query and
//! form encoding, and the redaction of JWTs that Mercure 0.x accepts in a query parameter.

use std::fmt;
use std::fmt::Write as _;
use std::net::IpAddr;

/// Why a URL is not one this client can use; always the user's input (a flag or a
/// bundle's URL), so a usage error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("`{url}` is not an http:// or https:// URL")]
    NotHttp { url: String },
    #[error("`{url}`: unclosed `[` in the host")]
    UnclosedBracket { url: String },
    #[error("`{url}`: unexpected `{after}` after the host")]
    AfterHost { url: String, after: String },
    #[error("`{url}` has no usable host")]
    NoHost { url: String },
    #[error("`{url}`: `{port}` is not a port")]
    BadPort { url: String, port: String },
}

impl From<UrlError> for crate::error::Error {
    fn from(e: UrlError) -> Self {
        crate::error::Error::Usage(e.to_string())
    }
}

/// An `http(s)://host[:port]/path?query` URL; all this client needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub https: bool,
    pub host: String,
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl Url {
    pub fn parse(s: &str) -> Result<Url, UrlError> {
        let (https, rest) = if let Some(r) = s.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = s.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(UrlError::NotHttp { url: s.to_string() });
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'?' => (&rest[..i], format!("/{}", &rest[i..])),
            Some(i) => (&rest[..i], rest[i..].to_string()),
            None => (rest, "/".to_string()),
        };
        let default_port = if https { 443 } else { 80 };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(|| UrlError::UnclosedBracket { url: s.to_string() })?;
            let port = match after.strip_prefix(':') {
                Some(p) => parse_port(p, s)?,
                None if after.is_empty() => default_port,
                None => return Err(UrlError::AfterHost { url: s.to_string(), after: after.to_string() }),
            };
            (h.to_string(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), parse_port(p, s)?),
                None => (authority.to_string(), default_port),
            }
        };
        if host.is_empty() || host.contains(['@', ' ']) {
            return Err(UrlError::NoHost { url: s.to_string() });
        }
        Ok(Url { https, host: host.to_ascii_lowercase(), port, path })
    }

    fn default_port(&self) -> u16 {
        if self.https { 443 } else { 80 }
    }

    /// The `Host` header value: the port only when it is not the scheme's default.
    pub fn authority(&self) -> String {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        if self.port == self.default_port() { host } else { format!("{host}:{}", self.port) }
    }

    /// `scheme://authority`.
    pub fn origin(&self) -> String {
        format!("{}://{}", if self.https { "https" } else { "http" }, self.authority())
    }

    /// The same URL with `path` (which starts with `/`) instead of its own.
    #[must_use]
    pub fn with_path(&self, path: &str) -> Url {
        Url { path: path.to_string(), ..self.clone() }
    }

    /// The same URL with `key=value` appended to the query.
    #[must_use]
    pub fn with_query(&self, key: &str, value: &str) -> Url {
        let sep = if self.path.contains('?') { '&' } else { '?' };
        self.with_path(&format!("{}{sep}{}={}", self.path, form_encode(key), form_encode(value)))
    }

    /// Whether the host is a loopback address or `localhost`.
    pub fn is_loopback_host(&self) -> bool {
        self.host == "localhost" || self.host.parse::<IpAddr>().is_ok_and(|a| a.is_loopback())
    }
}

impl fmt::Display for Url {
    /// For reports: an `authorization=` query parameter (a JWT) is shown redacted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.origin(), redact_authorization(&self.path))
    }
}

/// Replaces the value of every `authorization=` parameter (ASCII case-insensitive,
/// up to `&`, `"` or a space) with `REDACTED`: Mercure 0.x takes the JWT in that query
/// parameter, and nginx copies request lines into its logs (troubleshooting #14).
pub fn redact_authorization(text: &str) -> String {
    const KEY: &str = "authorization=";
    // ASCII lowercasing keeps every byte offset.
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while let Some(p) = lower[i..].find(KEY) {
        out.push_str(&text[i..i + p]);
        out.push_str("authorization=REDACTED");
        let value = i + p + KEY.len();
        i = value + text[value..].find(['&', '"', ' ']).unwrap_or(text.len() - value);
    }
    out.push_str(&text[i..]);
    out
}

fn parse_port(p: &str, url: &str) -> Result<u16, UrlError> {
    p.parse::<u16>()
        .ok()
        .filter(|&p| p > 0)
        .ok_or_else(|| UrlError::BadPort { url: url.to_string(), port: p.to_string() })
}

/// Percent-encodes for a query string or a form body (everything but unreserved characters).
pub fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let u = Url::parse("https://app.example.com/.well-known/mercure").unwrap();
        assert_eq!(
            (u.https, u.host.as_str(), u.port, u.path.as_str()),
            (true, "app.example.com", 443, "/.well-known/mercure")
        );
        assert_eq!(u.authority(), "app.example.com");
        let u = Url::parse("http://127.0.0.1:3000").unwrap();
        assert_eq!((u.port, u.path.as_str(), u.authority()), (3000, "/", "127.0.0.1:3000".to_string()));
        let u = Url::parse("https://[::1]:8443/x?y=1").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.authority()), ("::1", 8443, "[::1]:8443".to_string()));
        assert!(Url::parse("ftp://x").is_err());
        assert!(Url::parse("https://h:0/").is_err());
        assert_eq!(u.with_query("topic", "a b/c").path, "/x?y=1&topic=a%20b%2Fc");
    }

    #[test]
    fn refusals_say_what_is_wrong_and_are_usage_errors() {
        let msg = |s: &str| Url::parse(s).unwrap_err().to_string();
        assert_eq!(msg("ftp://x"), "`ftp://x` is not an http:// or https:// URL");
        assert_eq!(msg("https://[::1"), "`https://[::1`: unclosed `[` in the host");
        assert_eq!(msg("https://[::1]x/"), "`https://[::1]x/`: unexpected `x` after the host");
        assert_eq!(msg("https://u@h/"), "`https://u@h/` has no usable host");
        assert_eq!(msg("https://h:0/"), "`https://h:0/`: `0` is not a port");
        let e = crate::error::Error::from(Url::parse("h").unwrap_err());
        assert_eq!(e.exit_code(), crate::error::EXIT_USAGE);
    }

    #[test]
    fn redacts_authorization_parameters() {
        let line = r#"request: "GET /.well-known/mercure?topic=a&Authorization=eyJh.eyJi.sig&x=1 HTTP/1.1", x authorization=tok"#;
        let red = redact_authorization(line);
        assert!(!red.contains("eyJ") && !red.contains("tok\""), "{red}");
        assert!(red.contains("?topic=a&authorization=REDACTED&x=1 HTTP/1.1"), "{red}");
        assert!(red.ends_with("authorization=REDACTED"), "{red}");
        assert_eq!(redact_authorization("no token here"), "no token here");
        let u = Url::parse("https://h/p?authorization=secret&topic=t").unwrap();
        assert_eq!(u.to_string(), "https://h/p?authorization=REDACTED&topic=t");
    }
}
