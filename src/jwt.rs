//! Mercure JWTs: the claims the hub checks, signed (JWS compact form) with the
//! bundle's key by ring, which the TLS stack already brings.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::hmac;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, UnparsedPublicKey};
use serde::Serialize;
use x509_parser::pem::parse_x509_pem;
use x509_parser::prelude::{FromDer as _, SubjectPublicKeyInfo};

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

/// The JOSE header, fields in the order the tokens have always had.
#[derive(Serialize)]
struct Header {
    typ: &'static str,
    alg: &'static str,
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
    let header = Header { typ: "JWT", alg: algorithm.as_str() };
    let header = serde_json::to_vec(&header).map_err(|e| e.to_string())?;
    let claims = serde_json::to_vec(&MercureClaims { mercure: grants, exp }).map_err(|e| e.to_string())?;
    let signing_input = format!("{}.{}", B64.encode(header), B64.encode(claims));
    let signature = match (key, algorithm) {
        (SigningKey::Hmac(s), JwtAlgorithm::HS256 | JwtAlgorithm::HS512) => {
            hmac::sign(&hmac::Key::new(hmac_algorithm(algorithm), s.as_bytes()), signing_input.as_bytes())
                .as_ref()
                .to_vec()
        }
        (SigningKey::Es256 { private_pem, .. }, JwtAlgorithm::ES256) => {
            let der = pem_contents(private_pem, "PRIVATE KEY")?;
            let rng = SystemRandom::new();
            let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der, &rng)
                .map_err(|e| format!("not a P-256 private key (PKCS#8): {e}"))?;
            pair.sign(&rng, signing_input.as_bytes()).map_err(|e| e.to_string())?.as_ref().to_vec()
        }
        _ => return Err(format!("the key does not fit algorithm {}", algorithm.as_str())),
    };
    Ok(format!("{signing_input}.{}", B64.encode(signature)))
}

/// Verifies `token` with the hub's key (`SigningKey::hub_key`) and returns its claims.
/// Signature only: the expiry is the caller's to judge (see `secrets`). The header must
/// name `algorithm`, as the hub requires.
pub fn verify(token: &str, algorithm: JwtAlgorithm, hub_key: &str) -> Result<serde_json::Value, String> {
    let token = token.trim();
    let (signing_input, signature) = token.rsplit_once('.').ok_or("not a JWT (header.claims.signature)")?;
    let (_, claims) = signing_input.split_once('.').ok_or("not a JWT (header.claims.signature)")?;
    let alg = header_alg(token)?;
    if alg != algorithm.as_str() {
        return Err(format!("signed {alg}, expected {}", algorithm.as_str()));
    }
    let signature = B64.decode(signature).map_err(|e| format!("the signature is not base64url: {e}"))?;
    let valid = match algorithm {
        JwtAlgorithm::HS256 | JwtAlgorithm::HS512 => {
            let key = hmac::Key::new(hmac_algorithm(algorithm), hub_key.as_bytes());
            hmac::verify(&key, signing_input.as_bytes(), &signature).is_ok()
        }
        JwtAlgorithm::ES256 => {
            let der = pem_contents(hub_key, "PUBLIC KEY").map_err(|e| format!("not an EC public key: {e}"))?;
            let (_, spki) = SubjectPublicKeyInfo::from_der(&der).map_err(|e| format!("not an EC public key: {e}"))?;
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &spki.subject_public_key.data)
                .verify(signing_input.as_bytes(), &signature)
                .is_ok()
        }
    };
    if !valid {
        return Err("InvalidSignature: the signature does not match the key".into());
    }
    let claims = B64.decode(claims).map_err(|e| format!("the claims are not base64url: {e}"))?;
    serde_json::from_slice(&claims).map_err(|e| format!("the claims are not JSON: {e}"))
}

/// The `alg` a token's header names (unverified), e.g. "HS256".
pub fn header_alg(token: &str) -> Result<String, String> {
    let (header, _) = token.trim().split_once('.').ok_or("not a JWT (header.claims.signature)")?;
    let header = B64.decode(header).map_err(|e| format!("the header is not base64url: {e}"))?;
    let header: serde_json::Value =
        serde_json::from_slice(&header).map_err(|e| format!("the header is not JSON: {e}"))?;
    header["alg"].as_str().map(str::to_string).ok_or_else(|| "the header names no `alg`".to_string())
}

fn hmac_algorithm(algorithm: JwtAlgorithm) -> hmac::Algorithm {
    if algorithm == JwtAlgorithm::HS512 { hmac::HMAC_SHA512 } else { hmac::HMAC_SHA256 }
}

/// The DER bytes of the first PEM block labelled `label`.
fn pem_contents(pem: &str, label: &str) -> Result<Vec<u8>, String> {
    let (_, block) = parse_x509_pem(pem.as_bytes()).map_err(|e| format!("not PEM: {e}"))?;
    if block.label != label {
        return Err(format!("a PEM `{}` block where `{label}` was expected", block.label));
    }
    Ok(block.contents)
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
