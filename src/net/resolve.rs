//! Name resolution with curl-style `--resolve HOST:PORT:ADDR` overrides, so the public
//! side can be tested before DNS points at this machine.

use std::io;
use std::net::{IpAddr, SocketAddr};

/// A `--resolve` value that is not `HOST:PORT:ADDR` (clap reports it as a usage error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("`{entry}`: --resolve wants HOST:PORT:ADDR, e.g. app.example.com:443:127.0.0.1")]
    Malformed { entry: String },
}

/// One `--resolve HOST:PORT:ADDR` entry, as curl takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveEntry {
    pub host: String,
    pub port: u16,
    pub addr: IpAddr,
}

impl ResolveEntry {
    pub fn parse(s: &str) -> Result<ResolveEntry, ResolveError> {
        let bad = || ResolveError::Malformed { entry: s.to_string() };
        let (host, rest) = s.split_once(':').ok_or_else(bad)?;
        let (port, addr) = rest.split_once(':').ok_or_else(bad)?;
        let addr = addr.trim_start_matches('[').trim_end_matches(']');
        Ok(ResolveEntry {
            host: host.to_ascii_lowercase(),
            port: port.parse().map_err(|_| bad())?,
            addr: addr.parse().map_err(|_| bad())?,
        })
    }
}

/// Name resolution with `--resolve` overrides first, then the system resolver.
#[derive(Debug, Clone, Default)]
pub struct Resolver {
    pub entries: Vec<ResolveEntry>,
}

impl Resolver {
    pub async fn lookup(&self, host: &str, port: u16) -> io::Result<SocketAddr> {
        if let Some(e) = self.entries.iter().find(|e| e.host == host && e.port == port) {
            return Ok(SocketAddr::new(e.addr, port));
        }
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(SocketAddr::new(ip, port));
        }
        tokio::net::lookup_host((host, port))
            .await?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{host} does not resolve")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_resolve_entries() {
        let e = ResolveEntry::parse("App.example.com:8443:127.0.0.1").unwrap();
        assert_eq!((e.host.as_str(), e.port, e.addr.to_string()), ("app.example.com", 8443, "127.0.0.1".into()));
        assert_eq!(ResolveEntry::parse("h:1:[::1]").unwrap().addr.to_string(), "::1");
        assert!(ResolveEntry::parse("h:1").is_err());
        assert!(ResolveEntry::parse("h:x:127.0.0.1").is_err());
    }
}
