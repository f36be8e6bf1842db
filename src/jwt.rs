//! Mercure JWTs: the claims the hub checks and signing with the bundle's key.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Serialize;

use crate::values::JwtAlgorithm;

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

/// What a token allows.
#[derive(Debug, Clone, Copy)]
pub enum Role {
    Publisher,
    Subscriber,
}

/// Signs a token granting `publish` or `subscribe` on `topics`, without expiry
/// (short-lived probe tokens that are never written anywhere).
pub fn sign(key: &SigningKey, algorithm: JwtAlgorithm, role: Role, topics: &[&str]) -> Result<String, String> {
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
) -> Result<String, String> {
    sign_claims(key, algorithm, role, topics, Some(exp))
}

fn sign_claims(
    key: &SigningKey,
    algorithm: JwtAlgorithm,
    role: Role,
    topics: &[&str],
    exp: Option<i64>,
) -> Result<String, String> {
    let (alg, encoding_key) = match (key, algorithm) {
        (SigningKey::Hmac(s), JwtAlgorithm::HS256) => (Algorithm::HS256, EncodingKey::from_secret(s.as_bytes())),
        (SigningKey::Hmac(s), JwtAlgorithm::HS512) => (Algorithm::HS512, EncodingKey::from_secret(s.as_bytes())),
        (SigningKey::Es256 { private_pem, .. }, JwtAlgorithm::ES256) => {
            (Algorithm::ES256, EncodingKey::from_ec_pem(private_pem.as_bytes()).map_err(|e| e.to_string())?)
        }
        _ => return Err(format!("the key does not fit algorithm {}", algorithm.as_str())),
    };
    let grants = match role {
        Role::Publisher => Grants { publish: Some(topics), subscribe: None },
        Role::Subscriber => Grants { publish: None, subscribe: Some(topics) },
    };
    jsonwebtoken::encode(&Header::new(alg), &MercureClaims { mercure: grants, exp }, &encoding_key)
        .map_err(|e| e.to_string())
}

/// Verifies `token` with the hub's key (`SigningKey::hub_key`) and returns its claims.
/// Signature only: the expiry is the caller's to judge (see `secrets`).
pub fn verify(token: &str, algorithm: JwtAlgorithm, hub_key: &str) -> Result<serde_json::Value, String> {
    let (alg, key) = match algorithm {
        JwtAlgorithm::HS256 => (Algorithm::HS256, DecodingKey::from_secret(hub_key.as_bytes())),
        JwtAlgorithm::HS512 => (Algorithm::HS512, DecodingKey::from_secret(hub_key.as_bytes())),
        JwtAlgorithm::ES256 => (
            Algorithm::ES256,
            DecodingKey::from_ec_pem(hub_key.as_bytes()).map_err(|e| format!("not an EC public key: {e}"))?,
        ),
    };
    let mut v = Validation::new(alg);
    v.required_spec_claims.clear();
    v.validate_exp = false;
    jsonwebtoken::decode::<serde_json::Value>(token.trim(), &key, &v).map(|d| d.claims).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
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
    }
}
