//! Why a connection or request failed, sorted into the classes reports count and
//! diagnoses read (refused, reset, timeout, TLS, ...).

use std::fmt;
use std::io;

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

#[cfg(test)]
mod tests {
    use super::*;

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
