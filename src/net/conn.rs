//! Opening a connection: resolve (with overrides), TCP, then TLS when asked; the
//! resulting stream is plain or TLS behind one type.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::{Failure, Resolver, TlsTarget, Url, classify};

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
