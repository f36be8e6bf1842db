//! Mercure JWTs: the claims the hub checks, signed and verified by jsonwebtoken
//! (its aws-lc-rs backend) with the bundle's key.

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
    let grants = match role {
        Role::Publisher => Grants { publish: Some(topics), subscribe: None },
        Role::Subscriber => Grants { publish: None, subscribe: Some(topics) },
    };
    let key = match (key, algorithm) {
        (SigningKey::Hmac(s), JwtAlgorithm::HS256 | JwtAlgorithm::HS512) => {
            EncodingKey::from_secret(s.as_bytes()).map_err(|e| format!("not an HMAC secret: {e}"))?
        }
        (SigningKey::Es256 { private_pem, .. }, JwtAlgorithm::ES256) => {
            EncodingKey::from_ec_pem(private_pem.as_bytes())
                .map_err(|e| format!("not a P-256 private key (PKCS#8 PEM): {e}"))?
        }
        _ => return Err(format!("the key does not fit algorithm {}", algorithm.as_str())),
    };
    // `Header::new` writes `{"typ":"JWT","alg":...}`, the header the tokens have always had.
    jsonwebtoken::encode(&Header::new(library_algorithm(algorithm)), &MercureClaims { mercure: grants, exp }, &key)
        .map_err(|e| format!("cannot sign the token: {e}"))
}

/// Verifies `token` with the hub's key (`SigningKey::hub_key`) and returns its claims.
/// Signature only: the expiry is the caller's to judge (see `secrets`). The header must
/// name `algorithm`, as the hub requires.
pub fn verify(token: &str, algorithm: JwtAlgorithm, hub_key: &str) -> Result<serde_json::Value, String> {
    let token = token.trim();
    let alg = header_alg(token)?;
    if alg != algorithm.as_str() {
        return Err(format!("signed {alg}, expected {}", algorithm.as_str()));
    }
    let key = if algorithm.is_hmac() {
        DecodingKey::from_secret(hub_key.as_bytes()).map_err(|e| format!("not an HMAC secret: {e}"))?
    } else {
        DecodingKey::from_ec_pem(hub_key.as_bytes()).map_err(|e| format!("not an EC public key: {e}"))?
    };
    let mut validation = Validation::new(library_algorithm(algorithm));
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    match jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation) {
        Ok(data) => Ok(data.claims),
        Err(e) if *e.kind() == jsonwebtoken::errors::ErrorKind::InvalidSignature => {
            Err("InvalidSignature: the signature does not match the key".into())
        }
        Err(e) => Err(format!("not a valid JWT: {e}")),
    }
}

/// The `alg` a token's header names (unverified), e.g. "HS256".
pub fn header_alg(token: &str) -> Result<String, String> {
    let header = jsonwebtoken::decode_header(token.trim()).map_err(|e| format!("not a JWT header: {e}"))?;
    match serde_json::to_value(header.alg) {
        Ok(serde_json::Value::String(alg)) => Ok(alg),
        _ => Err("the header's `alg` is not a name".into()),
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
