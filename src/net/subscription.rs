//! One Mercure subscription, as `doctor` and `loadtest` open it: the GET (HTTP/1.1,
//! or HTTP/2 over TLS), the response head, whether it is the event stream an
//! `EventSource` accepts, and the events parsed as they arrive.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncWriteExt, BufReader};

use super::{Failure, Framing, Head, Request, SseEvent, SseParser, Stream, Url, classify, read_head};

/// Read buffer of an HTTP/1.1 subscription: small, as thousands stay resident in a load test.
const BUFFER: usize = 2048;

/// A subscription whose request was sent and whose response head was read.
pub struct Subscription {
    head: Head,
    body: Body,
    parser: SseParser,
}

/// Where the response body comes from.
enum Body {
    Http1(BufReader<Stream>, Framing),
    /// The response body, and the request handle that keeps the connection's client side alive.
    Http2 {
        body: h2::RecvStream,
        _client: h2::client::SendRequest<bytes::Bytes>,
    },
}

impl Subscription {
    /// Sends the subscription GET for `url` (which carries the `topic`) on `stream`, with
    /// `token` as the bearer token, and reads the response head. `http2`: the stream is
    /// TLS and must have negotiated `h2`. Callers bound the wait with their own timeout
    /// (some hubs send the head only with the first event).
    pub async fn request(stream: Stream, url: &Url, token: Option<&str>, http2: bool) -> Result<Subscription, Failure> {
        let (head, body) =
            if http2 { request_h2(stream, url, token).await? } else { request_h1(stream, url, token).await? };
        Ok(Subscription { head, body, parser: SseParser::default() })
    }

    pub fn head(&self) -> &Head {
        &self.head
    }

    /// Whether this is what an `EventSource` accepts: 200 and `text/event-stream`.
    pub fn is_event_stream(&self) -> bool {
        self.refusal().is_none()
    }

    /// Why an `EventSource` would refuse the answer: its status, or a 200 of another type.
    pub fn refusal(&self) -> Option<Failure> {
        if self.head.status != 200 {
            return Some(Failure::Status(self.head.status));
        }
        let media_type = self.head.media_type();
        (media_type != "text/event-stream").then(|| Failure::Other(format!("200 with Content-Type `{media_type}`")))
    }

    /// Appends the next bytes of the body to `out`; Ok(0) when it ended.
    pub async fn read_some(&mut self, out: &mut Vec<u8>) -> io::Result<usize> {
        match &mut self.body {
            Body::Http1(r, framing) => framing.read_some(r, out).await,
            Body::Http2 { body, .. } => loop {
                match body.data().await {
                    None => return Ok(0),
                    Some(Err(e)) => return Err(h2_io_error(e)),
                    // An empty DATA frame is no end of stream.
                    Some(Ok(data)) if data.is_empty() => {}
                    Some(Ok(data)) => {
                        let _ = body.flow_control().release_capacity(data.len());
                        out.extend_from_slice(&data);
                        return Ok(data.len());
                    }
                }
            },
        }
    }

    /// Up to `limit` bytes of the body, read for at most `wait`: what a refused answer said.
    pub async fn first_bytes(&mut self, limit: usize, wait: Duration) -> Vec<u8> {
        let mut first = Vec::new();
        let _ = tokio::time::timeout(wait, async {
            while first.len() < limit {
                match self.read_some(&mut first).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        })
        .await;
        first
    }

    /// Reads the next bytes of the stream and returns the events they complete (often
    /// none). `Ok(None)`: the stream ended; `Err`: it broke (a read error, or a line or
    /// event beyond the parser's bounds). `buf` is scratch space, reused across calls.
    pub async fn next_events(&mut self, buf: &mut Vec<u8>) -> Result<Option<Vec<SseEvent>>, Failure> {
        buf.clear();
        match self.read_some(buf).await {
            Ok(0) => Ok(None),
            Ok(_) => self.parser.try_push(buf).map(Some),
            Err(e) => Err(classify(&e)),
        }
    }
}

async fn request_h1(stream: Stream, url: &Url, token: Option<&str>) -> Result<(Head, Body), Failure> {
    let mut r = BufReader::with_capacity(BUFFER, stream);
    let mut headers = vec![("Accept", "text/event-stream".to_string()), ("Cache-Control", "no-cache".to_string())];
    if let Some(t) = token {
        headers.push(("Authorization", format!("Bearer {t}")));
    }
    let req = Request { method: "GET", url, host: None, headers, body: None, close: false };
    req.check()?;
    r.get_mut().write_all(&req.encode()).await.map_err(|e| classify(&e))?;
    let head = read_head(&mut r).await?;
    let framing = head.framing("GET");
    Ok((head, Body::Http1(r, framing)))
}

async fn request_h2(stream: Stream, url: &Url, token: Option<&str>) -> Result<(Head, Body), Failure> {
    if let Stream::Tls(tls) = &stream
        && tls.get_ref().1.alpn_protocol() != Some(b"h2")
    {
        return Err(Failure::Other("the server did not negotiate HTTP/2 (ALPN h2)".into()));
    }
    let h2_failure = |e: h2::Error| classify(&h2_io_error(e));
    let (client, connection) = h2::client::handshake(stream).await.map_err(h2_failure)?;
    // The connection is driven by its own task for as long as the stream lives.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let mut client = client.ready().await.map_err(h2_failure)?;
    let mut request = http::Request::get(format!("https://{}{}", url.authority(), url.path))
        .header("accept", "text/event-stream")
        .header("cache-control", "no-cache");
    if let Some(t) = token {
        request = request.header("authorization", format!("Bearer {t}"));
    }
    let request = request.body(()).map_err(|e| Failure::Other(e.to_string()))?;
    let (response, _) = client.send_request(request, true).map_err(h2_failure)?;
    let response = response.await.map_err(h2_failure)?;
    let head = Head {
        status: response.status().as_u16(),
        reason: response.status().canonical_reason().unwrap_or_default().to_string(),
        headers: response
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect(),
    };
    Ok((head, Body::Http2 { body: response.into_body(), _client: client }))
}

/// An HTTP/2 error as the I/O error the failure classes understand.
fn h2_io_error(e: h2::Error) -> io::Error {
    if e.is_io() {
        return e.into_io().unwrap_or_else(|| io::Error::other("HTTP/2 I/O error"));
    }
    let kind = if e.is_reset() || e.is_go_away() { io::ErrorKind::ConnectionReset } else { io::ErrorKind::Other };
    io::Error::new(kind, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-connection server on loopback that answers the first request with `answer`.
    async fn serve(answer: &'static [u8]) -> Url {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut r = BufReader::new(&mut s);
            let _ = read_head_lines(&mut r).await;
            s.write_all(answer).await.unwrap();
            let _ = s.shutdown().await;
        });
        Url::parse(&format!("http://127.0.0.1:{port}/.well-known/mercure?topic=t")).unwrap()
    }

    async fn read_head_lines<R: tokio::io::AsyncBufRead + Unpin>(r: &mut R) -> Vec<String> {
        use tokio::io::AsyncBufReadExt as _;
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).await.unwrap() == 0 || line == "\r\n" {
                return lines;
            }
            lines.push(line);
        }
    }

    async fn subscribe(url: &Url) -> Subscription {
        let stream =
            super::super::open(url, &super::super::Resolver::default(), None, Duration::from_secs(5)).await.unwrap();
        Subscription::request(stream, url, Some("tok"), false).await.unwrap()
    }

    #[tokio::test]
    async fn reads_the_events_of_an_event_stream() {
        let url =
            serve(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n:hi\n\ndata: one\n\ndata: two\n\n").await;
        let mut sub = subscribe(&url).await;
        assert!(sub.is_event_stream());
        let mut buf = Vec::new();
        let mut data = Vec::new();
        while let Some(events) = sub.next_events(&mut buf).await.unwrap() {
            data.extend(events.into_iter().map(|e| e.data));
        }
        assert_eq!(data, ["one", "two"]);
    }

    #[tokio::test]
    async fn a_refused_answer_says_why_and_what_it_said() {
        let url = serve(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 12\r\n\r\nUnauthorized").await;
        let mut sub = subscribe(&url).await;
        assert_eq!(sub.refusal(), Some(Failure::Status(401)));
        assert_eq!(sub.first_bytes(200, Duration::from_secs(2)).await, b"Unauthorized");
        let url = serve(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 2\r\n\r\nhi").await;
        let sub = subscribe(&url).await;
        assert_eq!(sub.refusal(), Some(Failure::Other("200 with Content-Type `text/html`".into())));
        assert!(!sub.is_event_stream());
    }
}
