//! HTTP/1.1 on one connection: request encoding, bounded response heads, body framing
//! (length, chunked, close) and one-shot exchanges.

use std::fmt::Write as _;
use std::io;
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::{Failure, Resolver, TlsTarget, Url, classify, open};

/// Longest response head accepted; anything larger is not a hub.
const MAX_HEAD: usize = 64 * 1024;
/// Longest single line accepted (an event-stream line, a chunk-size line).
pub const MAX_LINE: usize = 64 * 1024;

/// A request to send.
pub struct Request<'a> {
    pub method: &'a str,
    pub url: &'a Url,
    /// Overrides the `Host` header (the direct hub probes send the public domain, as nginx does).
    pub host: Option<&'a str>,
    pub headers: Vec<(&'a str, String)>,
    pub body: Option<(&'a str, Vec<u8>)>,
    /// `Connection: close` for one-shot requests.
    pub close: bool,
}

impl Request<'_> {
    /// Refuses a request whose line or headers would hold a CR or LF: a token file or
    /// URL with a line break in it would otherwise add headers of its own.
    pub fn check(&self) -> Result<(), Failure> {
        let host = self.host.map_or_else(|| self.url.authority(), str::to_string);
        let broken = |s: &str| s.contains(['\r', '\n']);
        let part = if broken(&self.url.path) || broken(&host) {
            Some("URL")
        } else {
            self.headers.iter().find(|(k, v)| broken(k) || broken(v)).map(|(k, _)| *k)
        };
        match part {
            Some(p) => Err(Failure::Other(format!(
                "refusing to send a request whose {p} holds a line break (it would inject headers): check the token \
                 file or URL"
            ))),
            None => Ok(()),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let host = self.host.map_or_else(|| self.url.authority(), str::to_string);
        let mut head = format!(
            "{} {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: mercure-setup/{}\r\n",
            self.method,
            self.url.path,
            env!("CARGO_PKG_VERSION")
        );
        for (k, v) in &self.headers {
            let _ = write!(head, "{k}: {v}\r\n");
        }
        if let Some((ctype, body)) = &self.body {
            let _ = write!(head, "Content-Type: {ctype}\r\nContent-Length: {}\r\n", body.len());
        }
        if self.close {
            head.push_str("Connection: close\r\n");
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        if let Some((_, body)) = &self.body {
            bytes.extend_from_slice(body);
        }
        bytes
    }
}

/// A parsed response status line and headers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Every header named `name`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect()
    }

    /// The media type without parameters, lowercased, or "" when absent.
    pub fn media_type(&self) -> String {
        self.header("content-type")
            .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
            .unwrap_or_default()
    }

    /// How the body is delimited.
    pub fn framing(&self, method: &str) -> Framing {
        if method == "HEAD" || self.status == 204 || self.status == 304 || (100..200).contains(&self.status) {
            return Framing::Length(0);
        }
        if self.header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
            return Framing::Chunked(ChunkState::Size);
        }
        match self.header("content-length").and_then(|v| v.trim().parse().ok()) {
            Some(n) => Framing::Length(n),
            None => Framing::Close,
        }
    }
}

/// Parses a status line and headers from raw text (without the blank line).
pub fn parse_head(text: &str) -> Result<Head, String> {
    let mut lines = text.split("\r\n").flat_map(|l| l.split('\n')).filter(|l| !l.is_empty());
    let status_line = lines.next().ok_or("empty response")?;
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        return Err(format!("not an HTTP/1.x response: {}", status_line.escape_debug()));
    }
    let status = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line: {}", status_line.escape_debug()))?;
    let reason = parts.next().unwrap_or("").to_string();
    let headers =
        lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_string(), v.trim().to_string())).collect();
    Ok(Head { status, reason, headers })
}

/// Appends one line (through its `\n`, or to the end of the input) to `out`; fails with
/// `InvalidData` instead of buffering more than `limit` bytes of it. Returns the bytes read.
pub async fn read_line_limited<R: AsyncBufRead + Unpin>(
    r: &mut R,
    out: &mut Vec<u8>,
    limit: usize,
) -> io::Result<usize> {
    let mut read = 0;
    loop {
        let buf = r.fill_buf().await?;
        if buf.is_empty() {
            return Ok(read);
        }
        let (take, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        if read + take > limit {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("a line longer than {limit} bytes")));
        }
        out.extend_from_slice(&buf[..take]);
        r.consume(take);
        read += take;
        if done {
            return Ok(read);
        }
    }
}

/// Reads a response head (at most 64 KiB). The bytes of a plain-text non-HTTP answer become `Failure::Other`.
pub async fn read_head<R: AsyncBufRead + Unpin>(r: &mut R) -> Result<Head, Failure> {
    let mut raw = Vec::with_capacity(512);
    loop {
        let room = MAX_HEAD - raw.len();
        let n = match read_line_limited(r, &mut raw, room).await {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                return Err(Failure::Other(format!("response head larger than {} KiB", MAX_HEAD / 1024)));
            }
            Err(e) => return Err(classify(&e)),
        };
        if n == 0 {
            return Err(Failure::Closed);
        }
        if raw.ends_with(b"\r\n\r\n") || raw.ends_with(b"\n\n") {
            break;
        }
    }
    parse_head(&String::from_utf8_lossy(&raw)).map_err(Failure::Other)
}

/// Where a chunked body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkState {
    Size,
    Data(u64),
    DataEnd,
    Done,
}

/// How a body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Length(u64),
    Chunked(ChunkState),
    Close,
}

impl Framing {
    /// Appends the next decoded bytes to `out`; 0 means the body ended.
    /// Not cancel-safe mid chunk-size line: callers drop the connection on timeout.
    pub async fn read_some<R: AsyncBufRead + Unpin>(&mut self, r: &mut R, out: &mut Vec<u8>) -> io::Result<usize> {
        loop {
            match self {
                Framing::Length(0) | Framing::Chunked(ChunkState::Done) => return Ok(0),
                Framing::Length(left) => {
                    let buf = r.fill_buf().await?;
                    if buf.is_empty() {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                    let n = buf.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                    out.extend_from_slice(&buf[..n]);
                    r.consume(n);
                    *left -= n as u64;
                    return Ok(n);
                }
                Framing::Close => {
                    let buf = r.fill_buf().await?;
                    let n = buf.len();
                    out.extend_from_slice(buf);
                    r.consume(n);
                    return Ok(n);
                }
                Framing::Chunked(state) => match *state {
                    ChunkState::Size => {
                        let mut line = Vec::new();
                        if read_line_limited(r, &mut line, MAX_LINE).await? == 0 {
                            return Err(io::ErrorKind::UnexpectedEof.into());
                        }
                        let text = String::from_utf8_lossy(&line);
                        let hex = text.trim().split(';').next().unwrap_or("");
                        let size = u64::from_str_radix(hex, 16)
                            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
                        *state = if size == 0 { ChunkState::Done } else { ChunkState::Data(size) };
                    }
                    ChunkState::Data(left) => {
                        let buf = r.fill_buf().await?;
                        if buf.is_empty() {
                            return Err(io::ErrorKind::UnexpectedEof.into());
                        }
                        let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                        out.extend_from_slice(&buf[..n]);
                        r.consume(n);
                        let left = left - n as u64;
                        *state = if left == 0 { ChunkState::DataEnd } else { ChunkState::Data(left) };
                        return Ok(n);
                    }
                    ChunkState::DataEnd => {
                        let mut crlf = Vec::new();
                        if read_line_limited(r, &mut crlf, MAX_LINE).await? == 0 {
                            return Err(io::ErrorKind::UnexpectedEof.into());
                        }
                        *state = ChunkState::Size;
                    }
                    ChunkState::Done => return Ok(0),
                },
            }
        }
    }
}

/// A whole exchange's result: the head, the first bytes of the body, and how long it took.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub head: Head,
    pub body: Vec<u8>,
}

/// Sends one request on a fresh connection and reads the head and up to `limit`
/// body bytes (stopping early at `body_wait` so a stream never blocks it).
pub async fn exchange(
    req: &Request<'_>,
    resolver: &Resolver,
    tls: Option<&TlsTarget>,
    timeout: Duration,
    limit: usize,
    body_wait: Duration,
) -> Result<Exchange, Failure> {
    req.check()?;
    let stream = open(req.url, resolver, tls, timeout).await?;
    let mut r = BufReader::new(stream);
    let work = async {
        r.get_mut().write_all(&req.encode()).await.map_err(|e| classify(&e))?;
        read_head(&mut r).await
    };
    let head = tokio::time::timeout(timeout, work).await.unwrap_or(Err(Failure::Timeout))?;
    let mut body = Vec::new();
    let mut framing = head.framing(req.method);
    let _ = tokio::time::timeout(body_wait, async {
        while body.len() < limit {
            match framing.read_some(&mut r, &mut body).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    body.truncate(limit);
    Ok(Exchange { head, body })
}

/// Shows up to `n` bytes as text for a report (control characters escaped).
pub fn preview(bytes: &[u8], n: usize) -> String {
    let s = String::from_utf8_lossy(&bytes[..bytes.len().min(n)]);
    s.escape_debug().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_breaks_never_reach_the_wire() {
        let url = Url::parse("https://hub.example.com/.well-known/mercure").unwrap();
        let req = |token: &str| Request {
            method: "POST",
            url: &url,
            host: None,
            headers: vec![("Authorization", format!("Bearer {token}"))],
            body: None,
            close: true,
        };
        assert!(req("abc.def.ghi").check().is_ok());
        for bad in ["abc\r\nX-Injected: 1", "abc\n", "abc\r"] {
            assert!(req(bad).check().is_err(), "{bad:?}");
        }
        let mut evil = Url::parse("https://hub.example.com/x").unwrap();
        evil.path = "/x\r\nX-Injected: 1".into();
        let r = Request { method: "GET", url: &evil, host: None, headers: vec![], body: None, close: true };
        assert!(r.check().is_err());
    }

    #[test]
    fn parses_heads_and_framing() {
        let h = parse_head(
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nTransfer-Encoding: chunked\r\n",
        )
        .unwrap();
        assert_eq!(h.status, 200);
        assert_eq!(h.media_type(), "text/event-stream");
        assert_eq!(h.framing("GET"), Framing::Chunked(ChunkState::Size));
        assert!(parse_head("SSH-2.0-OpenSSH").is_err());
    }

    #[tokio::test]
    async fn decodes_chunked_bodies() {
        let raw: &[u8] = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n";
        let mut r = BufReader::new(raw);
        let mut f = Framing::Chunked(ChunkState::Size);
        let mut out = Vec::new();
        while f.read_some(&mut r, &mut out).await.unwrap() > 0 {}
        assert_eq!(out, b"hello, world");
    }

    #[tokio::test]
    async fn heads_and_chunk_lines_are_bounded() {
        let mut huge = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
        huge.extend(std::iter::repeat_n(b'a', MAX_HEAD + 10));
        let err = read_head(&mut BufReader::new(huge.as_slice())).await.unwrap_err();
        assert!(err.to_string().contains("64 KiB"), "{err}");
        let mut many = b"HTTP/1.1 200 OK\r\n".to_vec();
        for _ in 0..10_000 {
            many.extend_from_slice(b"X-Filler: 0123456789\r\n");
        }
        assert!(read_head(&mut BufReader::new(many.as_slice())).await.is_err());
        let mut chunk = vec![b'1'; MAX_LINE + 1];
        chunk.extend_from_slice(b"\r\n");
        let mut f = Framing::Chunked(ChunkState::Size);
        let err = f.read_some(&mut BufReader::new(chunk.as_slice()), &mut Vec::new()).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}
