//! The small HTTP/1.1-over-tokio client that `doctor` and `loadtest` share: URLs,
//! curl-style `--resolve`, rustls (ring provider) trust stores, one-shot requests,
//! response heads, chunked bodies and server-sent-event parsing.
//!
//! A hand-written client rather than hyper: an SSE subscriber only needs one GET and a
//! byte stream, and thousands of them must stay cheap (one task, one small buffer,
//! no per-connection pool), while the probes need raw access to what went wrong
//! (refused, reset, TLS alert, plain HTTP where TLS was expected).

use std::fmt;
use std::fmt::Write as _;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, ReadBuf};
use tokio::net::TcpStream;

/// Longest response head accepted; anything larger is not a hub.
const MAX_HEAD: usize = 64 * 1024;
/// Longest single line accepted (an event-stream line, a chunk-size line).
pub const MAX_LINE: usize = 64 * 1024;
/// Largest event (all its `data:` lines together) an event-stream parser assembles.
pub const MAX_EVENT: usize = 1024 * 1024;

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
    pub fn parse(s: &str) -> Result<Url, String> {
        let (https, rest) = if let Some(r) = s.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = s.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(format!("`{s}` is not an http:// or https:// URL"));
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'?' => (&rest[..i], format!("/{}", &rest[i..])),
            Some(i) => (&rest[..i], rest[i..].to_string()),
            None => (rest, "/".to_string()),
        };
        let default_port = if https { 443 } else { 80 };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(|| format!("`{s}`: unclosed `[` in the host"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => parse_port(p, s)?,
                None if after.is_empty() => default_port,
                None => return Err(format!("`{s}`: unexpected `{after}` after the host")),
            };
            (h.to_string(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), parse_port(p, s)?),
                None => (authority.to_string(), default_port),
            }
        };
        if host.is_empty() || host.contains(['@', ' ']) {
            return Err(format!("`{s}` has no usable host"));
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

fn parse_port(p: &str, url: &str) -> Result<u16, String> {
    p.parse::<u16>().ok().filter(|&p| p > 0).ok_or_else(|| format!("`{url}`: `{p}` is not a port"))
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

/// The `application/x-www-form-urlencoded` body of a Mercure publish: `topic` and `data`.
pub fn publish_form(topic: &str, data: &str) -> Vec<u8> {
    format!("topic={}&data={}", form_encode(topic), form_encode(data)).into_bytes()
}

/// `bytes` random bytes as lowercase hex (topic and update nonces).
pub fn nonce_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    let _ = crate::random::fill(&mut b);
    b.iter().fold(String::with_capacity(bytes * 2), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}

/// A `--flag` duration (`5s`, `2m`, `1500ms`); `flag` names it in the error.
pub fn parse_duration(s: &str, flag: &str) -> Result<Duration, crate::error::Error> {
    let d = crate::values::Duration::parse(s).map_err(|e| crate::error::Error::Usage(format!("{flag}: {e}")))?;
    Ok(Duration::from_millis(d.millis))
}

/// A JWT read from a file, surrounding whitespace removed.
pub fn read_token(path: &std::path::Path) -> Result<String, crate::error::Error> {
    crate::output::read_user_file(path, 64 * 1024)
        .map(|t| t.trim().to_string())
        .map_err(|e| crate::error::Error::Usage(format!("cannot read {}: {e}", path.display())))
}

/// One `--resolve HOST:PORT:ADDR` entry, as curl takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveEntry {
    pub host: String,
    pub port: u16,
    pub addr: IpAddr,
}

impl ResolveEntry {
    pub fn parse(s: &str) -> Result<ResolveEntry, String> {
        let bad = || format!("`{s}`: --resolve wants HOST:PORT:ADDR, e.g. app.example.com:443:127.0.0.1");
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

/// How `doctor` and `loadtest` reach the public side before DNS and a public
/// certificate are in place: curl-style overrides and an extra trusted CA.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ReachArgs {
    /// Connect to ADDR for HOST:PORT, like curl (repeatable), to test before DNS points here.
    #[arg(long = "resolve", value_name = "HOST:PORT:ADDR")]
    pub resolve: Vec<String>,
    /// Trust this CA for the public side too (a private or staging certificate). Verification stays on.
    #[arg(long, value_name = "FILE")]
    pub public_ca: Option<std::path::PathBuf>,
}

impl ReachArgs {
    /// The resolver with every `--resolve` entry, or the first malformed one.
    pub fn resolver(&self) -> Result<Resolver, crate::error::Error> {
        let entries = self.resolve.iter().map(|s| ResolveEntry::parse(s)).collect::<Result<_, _>>();
        Ok(Resolver { entries: entries.map_err(crate::error::Error::Usage)? })
    }

    /// The `--public-ca` file's PEM text, if one was given.
    pub fn public_ca_pem(&self) -> Result<Option<String>, crate::error::Error> {
        self.public_ca
            .as_ref()
            .map(|p| {
                crate::output::read_user_file(p, crate::output::READ_CAP)
                    .map_err(|e| crate::error::Error::Usage(format!("cannot read {}: {e}", p.display())))
            })
            .transpose()
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

/// The crypto provider for every TLS connection: ring, so the build needs no cmake.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A trust store holding the certificates of a PEM file's text.
pub fn roots_from_pem(pem: &str, what: &str) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        let cert = cert.map_err(|e| format!("{what}: {e}"))?;
        roots.add(cert).map_err(|e| format!("{what}: {e}"))?;
    }
    if roots.is_empty() {
        return Err(format!("{what} holds no PEM certificate"));
    }
    Ok(roots)
}

/// The operating system's trust store, for public certificates (Let's Encrypt).
pub fn native_roots() -> Result<RootCertStore, String> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        return Err("no system CA certificates found (install ca-certificates, or pass --public-ca FILE)".into());
    }
    Ok(roots)
}

/// Remembers the certificate a server presented while verifying it exactly as
/// rustls would; verification is never relaxed, only observed, so a failed
/// handshake still tells the probes which certificate (and expiry) was served.
#[derive(Debug)]
pub struct RecordingVerifier {
    inner: Arc<WebPkiServerVerifier>,
    seen: Mutex<Option<Vec<u8>>>,
}

impl RecordingVerifier {
    /// The DER of the last end-entity certificate seen.
    pub fn seen(&self) -> Option<Vec<u8>> {
        self.seen.lock().ok().and_then(|s| s.clone())
    }
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some(end_entity.to_vec());
        }
        self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A client configuration verifying against `roots`; `sni: false` sends no
/// server name, as nginx does unless `proxy_ssl_server_name on`.
pub fn tls_config(roots: RootCertStore, sni: bool) -> Result<(Arc<ClientConfig>, Arc<RecordingVerifier>), String> {
    let provider = provider();
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| e.to_string())?;
    let verifier = Arc::new(RecordingVerifier { inner, seen: Mutex::new(None) });
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        // Not a relaxation: RecordingVerifier delegates every decision to WebPkiServerVerifier.
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    config.enable_sni = sni;
    // Subscribers hold one HTTP/1.1 stream each; no h2 multiplexing to hide connection limits.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((Arc::new(config), verifier))
}

/// TLS for one endpoint: the configuration and the name to verify (and send as SNI).
#[derive(Clone)]
pub struct TlsTarget {
    pub config: Arc<ClientConfig>,
    pub name: ServerName<'static>,
}

impl TlsTarget {
    pub fn new(config: Arc<ClientConfig>, name: &str) -> Result<TlsTarget, String> {
        let name = ServerName::try_from(name.to_string()).map_err(|e| format!("`{name}`: {e}"))?;
        Ok(TlsTarget { config, name })
    }
}

/// A connection, plain or TLS.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Why a connection or request failed, in the classes the reports count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Nothing listens (ECONNREFUSED).
    Refused,
    /// The peer reset or aborted the connection.
    Reset,
    /// No answer in time.
    Timeout,
    /// The TLS handshake failed (certificate, alert, or plain HTTP where TLS was expected).
    Tls(TlsFailure),
    /// The peer closed the connection before a complete response.
    Closed,
    /// The client itself ran out of something (file descriptors, local ports).
    ClientLimit(String),
    /// An HTTP error status where a stream was expected.
    Status(u16),
    Other(String),
}

/// What a failed TLS handshake says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsFailure {
    Expired,
    UnknownIssuer,
    NameMismatch,
    /// A TLS alert the server sent, e.g. `internal_error` (80) for an unmatched SNI in Caddy.
    Alert(String),
    /// The server answered in plain text: it does not speak TLS on this port.
    NotTls,
    Other(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Refused => write!(f, "connection refused"),
            Failure::Reset => write!(f, "connection reset"),
            Failure::Timeout => write!(f, "timed out"),
            Failure::Tls(t) => write!(f, "TLS: {t}"),
            Failure::Closed => write!(f, "closed before a complete response"),
            Failure::ClientLimit(s) => write!(f, "client limit: {s}"),
            Failure::Status(s) => write!(f, "HTTP {s}"),
            Failure::Other(s) => write!(f, "{s}"),
        }
    }
}

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsFailure::Expired => write!(f, "certificate expired"),
            TlsFailure::UnknownIssuer => write!(f, "certificate not signed by the trusted CA"),
            TlsFailure::NameMismatch => write!(f, "certificate does not name the expected host"),
            TlsFailure::Alert(a) => write!(f, "server sent alert {a}"),
            TlsFailure::NotTls => write!(f, "the server does not speak TLS (plain HTTP answer)"),
            TlsFailure::Other(s) => write!(f, "{s}"),
        }
    }
}

/// Sorts an I/O error into a failure class.
pub fn classify(e: &io::Error) -> Failure {
    if let Some(tls) = e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
        return Failure::Tls(classify_tls(tls));
    }
    // EMFILE, ENFILE, EADDRNOTAVAIL: this process, not the server, ran out.
    if let Some(code @ (23 | 24 | 99)) = e.raw_os_error() {
        let what = match code {
            24 => "too many open files (this process's RLIMIT_NOFILE)",
            23 => "too many open files in the system",
            _ => "no free local port (ephemeral ports exhausted)",
        };
        return Failure::ClientLimit(what.into());
    }
    match e.kind() {
        io::ErrorKind::ConnectionRefused => Failure::Refused,
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted | io::ErrorKind::BrokenPipe => Failure::Reset,
        io::ErrorKind::TimedOut => Failure::Timeout,
        io::ErrorKind::UnexpectedEof => Failure::Closed,
        _ => Failure::Other(e.to_string()),
    }
}

fn classify_tls(e: &rustls::Error) -> TlsFailure {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => TlsFailure::Expired,
        rustls::Error::InvalidCertificate(C::UnknownIssuer | C::BadSignature) => TlsFailure::UnknownIssuer,
        rustls::Error::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => {
            TlsFailure::NameMismatch
        }
        rustls::Error::AlertReceived(a) => TlsFailure::Alert(format!("{a:?}")),
        rustls::Error::InvalidMessage(_) => TlsFailure::NotTls,
        other => TlsFailure::Other(other.to_string()),
    }
}

/// Opens a TCP connection to `url`'s host (through `resolver`), then TLS if `tls` is given.
pub async fn open(
    url: &Url,
    resolver: &Resolver,
    tls: Option<&TlsTarget>,
    timeout: Duration,
) -> Result<Stream, Failure> {
    let work = async {
        let addr = resolver.lookup(&url.host, url.port).await.map_err(|e| classify(&e))?;
        let tcp = TcpStream::connect(addr).await.map_err(|e| classify(&e))?;
        // Small writes (request heads) should leave at once.
        let _ = tcp.set_nodelay(true);
        match tls {
            None => Ok(Stream::Plain(tcp)),
            Some(t) => {
                let connector = tokio_rustls::TlsConnector::from(t.config.clone());
                let s = connector.connect(t.name.clone(), tcp).await.map_err(|e| classify(&e))?;
                Ok(Stream::Tls(Box::new(s)))
            }
        }
    };
    tokio::time::timeout(timeout, work).await.unwrap_or(Err(Failure::Timeout))
}

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

/// One server-sent event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
}

/// Incremental `text/event-stream` parser; comments (heartbeats) are counted, not returned.
/// Bounded: a line over `MAX_LINE` or an event over `MAX_EVENT` is an error, and each
/// byte is scanned for a line end once.
#[derive(Debug, Default)]
pub struct SseParser {
    pending: Vec<u8>,
    /// How much of `pending` is known to hold no `\n`.
    scanned: usize,
    current: SseEvent,
    has_field: bool,
    pub comments: u64,
}

impl SseParser {
    /// Feeds bytes; returns the events they complete, or why the stream is unusable
    /// (a line or an event beyond the limits; the parser is reset).
    pub fn try_push(&mut self, bytes: &[u8]) -> Result<Vec<SseEvent>, Failure> {
        self.pending.extend_from_slice(bytes);
        let mut events = Vec::new();
        let mut start = 0;
        let mut from = self.scanned;
        while let Some(nl) = self.pending[from..].iter().position(|&b| b == b'\n') {
            let end = from + nl;
            let line = self.pending[start..end].strip_suffix(b"\r").unwrap_or(&self.pending[start..end]);
            let line = String::from_utf8_lossy(line).into_owned();
            start = end + 1;
            from = start;
            self.line(&line, &mut events);
            if self.current.data.len() > MAX_EVENT {
                *self = SseParser { comments: self.comments, ..SseParser::default() };
                return Err(Failure::Other(format!("an event larger than {} KiB", MAX_EVENT / 1024)));
            }
        }
        self.pending.drain(..start);
        self.scanned = self.pending.len();
        if self.pending.len() > MAX_LINE {
            *self = SseParser { comments: self.comments, ..SseParser::default() };
            return Err(Failure::Other(format!("an event-stream line longer than {} KiB", MAX_LINE / 1024)));
        }
        Ok(events)
    }

    fn line(&mut self, line: &str, events: &mut Vec<SseEvent>) {
        if line.is_empty() {
            if self.has_field {
                events.push(std::mem::take(&mut self.current));
                self.has_field = false;
            }
            return;
        }
        if line.starts_with(':') {
            self.comments += 1;
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        self.has_field = true;
        match field {
            "data" => {
                if !self.current.data.is_empty() {
                    self.current.data.push('\n');
                }
                self.current.data.push_str(value);
            }
            "id" => self.current.id = Some(value.to_string()),
            "event" => self.current.event = Some(value.to_string()),
            _ => {}
        }
    }
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
    fn parses_resolve_entries() {
        let e = ResolveEntry::parse("App.example.com:8443:127.0.0.1").unwrap();
        assert_eq!((e.host.as_str(), e.port, e.addr.to_string()), ("app.example.com", 8443, "127.0.0.1".into()));
        assert_eq!(ResolveEntry::parse("h:1:[::1]").unwrap().addr.to_string(), "::1");
        assert!(ResolveEntry::parse("h:1").is_err());
        assert!(ResolveEntry::parse("h:x:127.0.0.1").is_err());
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

    #[test]
    fn parses_event_streams_across_splits() {
        let mut p = SseParser::default();
        assert!(p.try_push(b":ping\n\nid: 1\r\ndata: a").unwrap().is_empty());
        let ev = p.try_push(b"\ndata: b\n\n").unwrap();
        assert_eq!(ev, vec![SseEvent { id: Some("1".into()), event: None, data: "a\nb".into() }]);
        assert_eq!(p.comments, 1);
    }

    #[test]
    fn event_stream_lines_and_events_are_bounded() {
        let mut p = SseParser::default();
        // Fed in small pieces, a long line is scanned once and refused past the cap.
        let piece = [b'x'; 4096];
        let mut refused = false;
        for _ in 0..=MAX_LINE / piece.len() {
            if p.try_push(&piece).is_err() {
                refused = true;
                break;
            }
        }
        assert!(refused, "a line over MAX_LINE must be an error");
        // The parser is usable again afterwards.
        assert_eq!(p.try_push(b"data: ok\n\n").unwrap().len(), 1);
        let line = format!("data: {}\n", "y".repeat(MAX_LINE / 2));
        let mut err = None;
        for _ in 0..(MAX_EVENT / (MAX_LINE / 2) + 2) {
            if let Err(e) = p.try_push(line.as_bytes()) {
                err = Some(e);
                break;
            }
        }
        assert!(err.is_some_and(|e| e.to_string().contains("event larger")));
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

    #[test]
    fn classifies_errors() {
        assert_eq!(classify(&io::Error::from(io::ErrorKind::ConnectionRefused)), Failure::Refused);
        assert!(classify(&io::Error::from_raw_os_error(24)).to_string().contains("RLIMIT_NOFILE"));
        let tls = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::Expired),
        );
        assert_eq!(classify(&tls), Failure::Tls(TlsFailure::Expired));
    }
}
