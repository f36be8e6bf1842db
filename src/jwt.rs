//! Mercure JWTs: the claims the hub checks, signed and verified by jsonwebtoken
//! (its aws-lc-rs backend) with the bundle's key, in the shape of the hub's release
//! line: 0.x's `mercure` claim, 1.0's RFC 9068 access token, or both (the cut-over).

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Serialize;

use crate::deployment::TokenShape;
use crate::values::JwtAlgorithm;

type LibError = jsonwebtoken::errors::Error;

/// Why a token could not be signed or verified (shown in findings and reports; the
/// callers that end a command wrap it in their own error).
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("a Mercure 1.0 token needs an expiry (`exp`)")]
    NoExpiry,
    #[error("cannot sign the token: {0}")]
    Sign(#[source] LibError),
    #[error("not an HMAC secret: {0}")]
    NotHmacSecret(#[source] LibError),
    #[error("not a P-256 private key (PKCS#8 PEM): {0}")]
    NotPrivateKey(#[source] LibError),
    #[error("not an EC public key: {0}")]
    NotPublicKey(#[source] LibError),
    #[error("the key does not fit algorithm {algorithm}")]
    KeyMismatch { algorithm: &'static str },
    #[error("signed {found}, expected {expected}")]
    WrongAlgorithm { found: String, expected: &'static str },
    #[error("InvalidSignature: the signature does not match the key")]
    BadSignature,
    #[error("not a valid JWT: {0}")]
    Invalid(#[source] LibError),
    #[error("not a JWT header: {0}")]
    NoHeader(#[source] LibError),
    #[error("the header's `alg` is not a name")]
    AlgNotAName,
}

/// The key Symfony signs with: an HMAC secret, or an ES256 private key (PEM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigningKey {
    Hmac(String),
    Es256 { private_pem: String, public_pem: String },
}

impl SigningKey {
    /// The key the hub verifies with: the same secret for HMAC, the public key for ES256.
    pub fn hub_key(&self) -> &str {
        match self {
            SigningKey::Hmac(secret) => secret,
            SigningKey::Es256 { public_pem, .. } => public_pem,
        }
    }
}

#[derive(Serialize)]
struct MercureClaims<'a> {
    mercure: Grants<'a>,
    /// Expiry (seconds since the epoch), when the token has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
}

#[derive(Serialize)]
struct Grants<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    publish: Option<&'a [&'a str]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subscribe: Option<&'a [&'a str]>,
}

/// 1.0's RFC 9068 access token (`typ: at+jwt`); with `mercure` set, the cut-over token
/// that 0.24.2 and strict 1.0 both accept.
#[derive(Serialize)]
struct AccessClaims<'a> {
    iss: &'a str,
    aud: &'a str,
    sub: &'a str,
    client_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
    exp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    jti: Option<&'a str>,
    authorization_details: [AuthorizationDetail<'a>; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    mercure: Option<Grants<'a>>,
}

#[derive(Serialize)]
struct AuthorizationDetail<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    actions: [&'static str; 1],
    topics: Vec<TopicMatch<'a>>,
}

/// A topic selector object (1.0 takes objects, not strings).
#[derive(Serialize)]
struct TopicMatch<'a> {
    #[serde(rename = "match")]
    pattern: &'a str,
}

/// The `authorization_details` type Mercure 1.0 reads.
pub const AUTHORIZATION_DETAIL_TYPE: &str = "https://mercure.rocks/authorization-detail";

/// Who a 1.0 token is for and about; ignored for [`TokenShape::Legacy`].
#[derive(Debug, Clone, Copy)]
pub struct Audience<'a> {
    /// `iss`: one of the hub's trusted issuer names, exactly.
    pub issuer: &'a str,
    /// `aud`: the hub's resource identifier.
    pub audience: &'a str,
    /// `sub`: who uses the token (not checked by the hub; RFC 9068 wants it).
    pub subject: &'a str,
}

/// When a token was issued and expires, and its id (`jti`); 1.0 requires `exp`.
#[derive(Debug, Clone, Copy)]
pub struct Lifetime<'a> {
    pub issued_at: Option<i64>,
    pub expires: i64,
    pub id: Option<&'a str>,
}

/// Signs a token of `shape` granting `role` on `topics`. A legacy token carries `exp`
/// only when `lifetime` is given; a 1.0 or cut-over token needs it.
pub fn sign_shaped(
    key: &SigningKey,
    algorithm: JwtAlgorithm,
    role: Role,
    topics: &[&str],
    shape: TokenShape,
    audience: &Audience<'_>,
    lifetime: Option<Lifetime<'_>>,
) -> Result<String, JwtError> {
    let access = match shape {
        TokenShape::Legacy => return sign_claims(key, algorithm, role, topics, lifetime.map(|l| l.expires)),
        TokenShape::Rfc9068 | TokenShape::CutOver => {
            let Some(l) = lifetime else { return Err(JwtError::NoExpiry) };
            AccessClaims {
                iss: audience.issuer,
                aud: audience.audience,
                sub: audience.subject,
                client_id: audience.issuer,
                iat: l.issued_at,
                exp: l.expires,
                jti: l.id,
                authorization_details: [AuthorizationDetail {
                    kind: AUTHORIZATION_DETAIL_TYPE,
                    actions: [match role {
                        Role::Publisher => "publish",
                        Role::Subscriber => "subscribe",
                    }],
                    topics: topics.iter().map(|t| TopicMatch { pattern: t }).collect(),
                }],
                mercure: (shape == TokenShape::CutOver).then(|| grants(role, topics)),
            }
        }
    };
    let mut header = Header::new(library_algorithm(algorithm));
    // RFC 9068's media type: 1.0 refuses `typ: JWT` outside compatibility mode.
    header.typ = Some("at+jwt".into());
    jsonwebtoken::encode(&header, &access, &encoding_key(key, algorithm)?).map_err(JwtError::Sign)
}

/// The shape a token has, read from its (verified) claims.
pub fn shape_of(claims: &serde_json::Value) -> Option<TokenShape> {
    match (claims.get("authorization_details").is_some(), claims.get("mercure").is_some()) {
        (true, true) => Some(TokenShape::CutOver),
        (true, false) => Some(TokenShape::Rfc9068),
        (false, true) => Some(TokenShape::Legacy),
        (false, false) => None,
    }
}

/// A JWT's claims without checking its signature (for naming causes and shapes; the hub
/// judges the signature).
pub fn unverified_claims(token: &str) -> Option<serde_json::Value> {
    use base64::Engine as _;
    let payload = token.trim().split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The query parameter a subscriber holding `token` names topics with: `match` for a
/// Mercure 1.0 token (only 1.0 hubs take it), else `topic` (0.x, and the cut-over token,
/// which 0.24.2 and a compatibility-mode 1.0 hub both read with `topic`).
pub fn subscribe_param_for(token: &str) -> &'static str {
    match unverified_claims(token).as_ref().and_then(shape_of) {
        Some(TokenShape::Rfc9068) => "match",
        _ => "topic",
    }
}

fn grants<'a>(role: Role, topics: &'a [&'a str]) -> Grants<'a> {
    match role {
        Role::Publisher => Grants { publish: Some(topics), subscribe: None },
        Role::Subscriber => Grants { publish: None, subscribe: Some(topics) },
    }
}

/// What a token allows.
#[derive(Debug, Clone, Copy)]
pub enum Role {
    Publisher,
    Subscriber,
}

/// Signs a token granting `publish` or `subscribe` on `topics`, without expiry
/// (short-lived probe tokens that are never written anywhere).
pub fn sign(key: &SigningKey, algorithm: JwtAlgorithm, role: Role, topics: &[&str]) -> Result<String, JwtError> {
    sign_claims(key, algorithm, role, topics, None)
}

/// Signs a token like [`sign`] that expires at `exp` (seconds since the epoch): the
/// bundle's smoke-test tokens, which grant every topic and so must not live forever.
pub fn sign_until(
    key: &SigningKey,
    algorithm: JwtAlgorithm,
    role: Role,
    topics: &[&str],
    exp: i64,
) -> Result<String, JwtError> {
    sign_claims(key, algorithm, role, topics, Some(exp))
}

fn sign_claims(
    key: &SigningKey,
    algorithm: JwtAlgorithm,
    role: Role,
    topics: &[&str],
    exp: Option<i64>,
) -> Result<String, JwtError> {
    let key = encoding_key(key, algorithm)?;
    // `Header::new` writes `{"typ":"JWT","alg":...}`, the header the tokens have always had.
    let claims = MercureClaims { mercure: grants(role, topics), exp };
    jsonwebtoken::encode(&Header::new(library_algorithm(algorithm)), &claims, &key).map_err(JwtError::Sign)
}

fn encoding_key(key: &SigningKey, algorithm: JwtAlgorithm) -> Result<EncodingKey, JwtError> {
    match (key, algorithm) {
        (SigningKey::Hmac(s), JwtAlgorithm::HS256 | JwtAlgorithm::HS512) => {
            EncodingKey::from_secret(s.as_bytes()).map_err(JwtError::NotHmacSecret)
        }
        (SigningKey::Es256 { private_pem, .. }, JwtAlgorithm::ES256) => {
            EncodingKey::from_ec_pem(private_pem.as_bytes()).map_err(JwtError::NotPrivateKey)
        }
        _ => Err(JwtError::KeyMismatch { algorithm: algorithm.as_str() }),
    }
}

/// Verifies `token` with the hub's key (`SigningKey::hub_key`) and returns its claims.
/// Signature only: the expiry is the caller's to judge (see `secrets`). The header must
/// name `algorithm`, as the hub requires.
pub fn verify(token: &str, algorithm: JwtAlgorithm, hub_key: &str) -> Result<serde_json::Value, JwtError> {
    let token = token.trim();
    let alg = header_alg(token)?;
    if alg != algorithm.as_str() {
        return Err(JwtError::WrongAlgorithm { found: alg, expected: algorithm.as_str() });
    }
    let key = if algorithm.is_hmac() {
        DecodingKey::from_secret(hub_key.as_bytes()).map_err(JwtError::NotHmacSecret)?
    } else {
        DecodingKey::from_ec_pem(hub_key.as_bytes()).map_err(JwtError::NotPublicKey)?
    };
    let mut validation = Validation::new(library_algorithm(algorithm));
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    // The audience is the caller's to judge too (1.0 tokens carry one; 0.x tokens none).
    validation.validate_aud = false;
    match jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation) {
        Ok(data) => Ok(data.claims),
        Err(e) if *e.kind() == jsonwebtoken::errors::ErrorKind::InvalidSignature => Err(JwtError::BadSignature),
        Err(e) => Err(JwtError::Invalid(e)),
    }
}

/// The `alg` a token's header names (unverified), e.g. "HS256".
pub fn header_alg(token: &str) -> Result<String, JwtError> {
    let header = jsonwebtoken::decode_header(token.trim()).map_err(JwtError::NoHeader)?;
    match serde_json::to_value(header.alg) {
        Ok(serde_json::Value::String(alg)) => Ok(alg),
        _ => Err(JwtError::AlgNotAName),
    }
}

fn library_algorithm(algorithm: JwtAlgorithm) -> Algorithm {
    match algorithm {
        JwtAlgorithm::HS256 => Algorithm::HS256,
        JwtAlgorithm::HS512 => Algorithm::HS512,
        JwtAlgorithm::ES256 => Algorithm::ES256,
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

    use super::*;

    #[test]
    fn hmac_token_is_deterministic_and_verifiable() {
        let key = SigningKey::Hmac("s".repeat(64));
        let a = sign(&key, JwtAlgorithm::HS256, Role::Publisher, &["*"]).unwrap();
        assert_eq!(a, sign(&key, JwtAlgorithm::HS256, Role::Publisher, &["*"]).unwrap());
        let claims = verify(&a, JwtAlgorithm::HS256, key.hub_key()).unwrap();
        assert_eq!(claims["mercure"]["publish"][0], "*");
        assert!(verify(&a, JwtAlgorithm::HS256, &"x".repeat(64)).is_err());
        assert!(sign(&key, JwtAlgorithm::ES256, Role::Publisher, &["*"]).is_err());
        // The header and claims as the hub and Symfony have always read them.
        let (header, rest) = a.split_once('.').unwrap();
        assert_eq!(B64.decode(header).unwrap(), br#"{"typ":"JWT","alg":"HS256"}"#);
        let claims = B64.decode(rest.split_once('.').unwrap().0).unwrap();
        assert_eq!(claims, br#"{"mercure":{"publish":["*"]}}"#);
        // A token signed with another algorithm is refused, even with the right secret.
        let hs512 = sign(&key, JwtAlgorithm::HS512, Role::Publisher, &["*"]).unwrap();
        assert!(verify(&hs512, JwtAlgorithm::HS256, key.hub_key()).is_err());
        assert_eq!(header_alg(&hs512).unwrap(), "HS512");
    }

    #[test]
    fn access_tokens_have_the_1_0_shape() {
        let key = SigningKey::Hmac("s".repeat(64));
        let who = Audience { issuer: "https://a.com", audience: "https://a.com/.well-known/mercure", subject: "app" };
        let life = Lifetime { issued_at: Some(10), expires: 20, id: Some("urn:uuid:x") };
        let t = sign_shaped(&key, JwtAlgorithm::HS512, Role::Subscriber, &["*"], TokenShape::Rfc9068, &who, Some(life))
            .unwrap();
        let (header, rest) = t.split_once('.').unwrap();
        assert_eq!(B64.decode(header).unwrap(), br#"{"typ":"at+jwt","alg":"HS512"}"#);
        let claims = B64.decode(rest.split_once('.').unwrap().0).unwrap();
        assert_eq!(
            String::from_utf8(claims).unwrap(),
            r#"{"iss":"https://a.com","aud":"https://a.com/.well-known/mercure","sub":"app","client_id":"https://a.com","iat":10,"exp":20,"jti":"urn:uuid:x","authorization_details":[{"type":"https://mercure.rocks/authorization-detail","actions":["subscribe"],"topics":[{"match":"*"}]}]}"#
        );
        let claims = verify(&t, JwtAlgorithm::HS512, key.hub_key()).unwrap();
        assert_eq!(shape_of(&claims), Some(TokenShape::Rfc9068));
        assert_eq!(subscribe_param_for(&t), "match");
        let c = sign_shaped(&key, JwtAlgorithm::HS256, Role::Publisher, &["*"], TokenShape::CutOver, &who, Some(life))
            .unwrap();
        let claims = verify(&c, JwtAlgorithm::HS256, key.hub_key()).unwrap();
        assert_eq!(shape_of(&claims), Some(TokenShape::CutOver));
        assert_eq!(subscribe_param_for(&c), "topic");
        assert_eq!(claims["mercure"]["publish"][0], "*");
        assert_eq!(claims["authorization_details"][0]["actions"][0], "publish");
        // 1.0 requires exp; a legacy token is the one `sign` makes.
        assert!(
            sign_shaped(&key, JwtAlgorithm::HS256, Role::Publisher, &["*"], TokenShape::Rfc9068, &who, None).is_err()
        );
        let legacy =
            sign_shaped(&key, JwtAlgorithm::HS256, Role::Publisher, &["*"], TokenShape::Legacy, &who, None).unwrap();
        assert_eq!(legacy, sign(&key, JwtAlgorithm::HS256, Role::Publisher, &["*"]).unwrap());
    }

    #[test]
    fn es256_tokens_verify_with_the_public_key_only() {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let key = SigningKey::Es256 { private_pem: pair.serialize_pem(), public_pem: pair.public_key_pem() };
        let t = sign_until(&key, JwtAlgorithm::ES256, Role::Subscriber, &["https://a/b"], 2_000_000_000).unwrap();
        let claims = verify(&t, JwtAlgorithm::ES256, key.hub_key()).unwrap();
        assert_eq!(claims["mercure"]["subscribe"][0], "https://a/b");
        assert_eq!(claims["exp"], 2_000_000_000);
        let other = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        assert!(verify(&t, JwtAlgorithm::ES256, &other.public_key_pem()).is_err());
        let mut forged = t.clone();
        forged.replace_range(t.len() - 4.., "AAAA");
        assert!(verify(&forged, JwtAlgorithm::ES256, key.hub_key()).is_err());
    }
}
