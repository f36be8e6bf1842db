//! The network layer `doctor`, `loadtest` and `apply` share: URLs, `--resolve`
//! overrides, TLS trust, HTTP/1.1 exchanges (HTTP/2 for subscriptions), the one
//! Mercure subscription and the one publish.
//!
//! A hand-written client rather than hyper: an SSE subscriber only needs one GET and a
//! byte stream, and thousands of them must stay cheap (one task, one small buffer,
//! no per-connection pool), while the probes need raw access to what went wrong
//! (refused, reset, TLS alert, plain HTTP where TLS was expected).

pub mod conn;
pub mod failure;
pub mod flags;
pub mod http1;
pub mod publish;
pub mod resolve;
pub mod sse;
pub mod subscription;
pub mod tls;
pub mod url;

pub use conn::{Stream, open};
pub use failure::{Failure, TlsFailure, classify};
pub use flags::{FlagError, ReachArgs, read_token, std_duration};
pub use http1::{ChunkState, Exchange, Framing, Head, Request, exchange, parse_head, preview, read_head};
pub use publish::{Endpoint, Publisher, publish_once};
pub use resolve::{ResolveEntry, ResolveError, Resolver};
pub use sse::{SseEvent, SseParser};
pub use subscription::Subscription;
pub use tls::{RecordingVerifier, TlsError, TlsTarget, native_roots, roots_from_pem, tls_config};
pub use url::{Url, UrlError, form_encode, redact_authorization};
