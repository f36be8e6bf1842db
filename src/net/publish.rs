//! Publishing a Mercure update: the one POST (form body, bearer token), sent once on a
//! fresh connection (`publish_once`) or many times over a kept-alive one (`Publisher`),
//! and the nonces that make topics and updates unique.

use std::fmt::Write as _;
use std::time::Duration;

use tokio::io::{AsyncWriteExt, BufReader};

use super::{Exchange, Failure, Framing, Request, Resolver, Stream, TlsTarget, Url, classify, exchange, form_encode};
use super::{open, read_head};

/// Where updates are published: the hub URL, the `Host` header to send (`None`: the
/// URL's own; the direct hub probes send the public domain, as nginx does), TLS
/// (`None` for http://) and name resolution.
#[derive(Clone)]
pub struct Endpoint {
    pub url: Url,
    pub host: Option<String>,
    pub tls: Option<TlsTarget>,
    pub resolver: Resolver,
}

/// Most bytes of a publish answer read (a hub answers with the update's ID).
const ANSWER_CAP: usize = 64 << 10;

/// The Mercure publish: a form POST of `topic` and `data` with `token` as the bearer token.
fn request<'a>(to: &'a Endpoint, token: &str, topic: &str, data: &str, close: bool) -> Request<'a> {
    Request {
        method: "POST",
        url: &to.url,
        host: to.host.as_deref(),
        headers: vec![("Authorization", format!("Bearer {token}"))],
        body: Some(("application/x-www-form-urlencoded", publish_form(topic, data))),
        close,
    }
}

/// Publishes one update on a fresh connection: the answer's head and first 200 bytes
/// (the update's ID, or what the refusal said), whatever the status.
pub async fn publish_once(
    to: &Endpoint,
    token: &str,
    topic: &str,
    data: &str,
    timeout: Duration,
) -> Result<Exchange, Failure> {
    let req = request(to, token, topic, data, true);
    exchange(&req, &to.resolver, to.tls.as_ref(), timeout, 200, Duration::from_millis(500)).await
}

/// Publishes to one topic over one kept-alive connection, reconnecting when it drops.
pub struct Publisher {
    to: Endpoint,
    token: String,
    topic: String,
    timeout: Duration,
    conn: Option<BufReader<Stream>>,
}

impl Publisher {
    /// `timeout` bounds connecting, and then each publish's answer.
    pub fn new(to: Endpoint, token: String, topic: String, timeout: Duration) -> Self {
        Publisher { to, token, topic, timeout, conn: None }
    }

    /// Publishes `data`; Ok when the hub answered 200. A kept-alive connection the
    /// server closed meanwhile is replaced once.
    pub async fn publish(&mut self, data: &str) -> Result<(), Failure> {
        for attempt in 0..2 {
            match self.try_publish(data).await {
                Ok(()) => return Ok(()),
                Err(e) if attempt == 0 && matches!(e, Failure::Closed | Failure::Reset) => self.conn = None,
                Err(e) => {
                    self.conn = None;
                    return Err(e);
                }
            }
        }
        Err(Failure::Closed)
    }

    async fn try_publish(&mut self, data: &str) -> Result<(), Failure> {
        let mut conn = match self.conn.take() {
            Some(c) => c,
            None => BufReader::new(open(&self.to.url, &self.to.resolver, self.to.tls.as_ref(), self.timeout).await?),
        };
        let req = request(&self.to, &self.token, &self.topic, data, false);
        req.check()?;
        let work = async {
            conn.get_mut().write_all(&req.encode()).await.map_err(|e| classify(&e))?;
            let head = read_head(&mut conn).await?;
            let mut framing = head.framing("POST");
            // The answer is the update's ID; a longer one is read up to a cap and the
            // connection dropped, so a hostile server cannot fill memory.
            let mut sink = Vec::new();
            let mut complete = false;
            while sink.len() <= ANSWER_CAP {
                if framing.read_some(&mut conn, &mut sink).await.map_err(|e| classify(&e))? == 0 {
                    complete = true;
                    break;
                }
            }
            let reusable = complete
                && framing != Framing::Close
                && !head.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
            Ok::<_, Failure>((head.status, reusable))
        };
        let (status, reusable) = tokio::time::timeout(self.timeout, work).await.unwrap_or(Err(Failure::Timeout))?;
        if reusable {
            self.conn = Some(conn);
        }
        if status == 200 { Ok(()) } else { Err(Failure::Status(status)) }
    }
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
