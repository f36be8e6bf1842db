//! Secrets that must survive a re-render: the JWT key, the smoke-test tokens and the
//! end-to-end TLS certificates. Loaded from `DIR/.state/`, or made here (OS RNG,
//! clock) when absent, mismatched, expiring or when rotation is asked for.

use std::path::Path;

use base64::Engine as _;
use time::OffsetDateTime;

use crate::answers::Answers;
use crate::bundle::paths::state as paths;
use crate::deployment::{HubFacts, TokenShape};
use crate::jwt::{self, Role, SigningKey};
use crate::pki::{self, Pki};
use crate::values::JwtAlgorithm;

/// Random bytes behind an HMAC secret: 64 bytes is 512 bits, enough for HS512
/// (lcobucci/jwt refuses shorter keys) and 86 base64url characters.
const HMAC_SECRET_BYTES: usize = 64;
const MIN_HMAC_SECRET_CHARS: usize = 64;
/// The smoke-test tokens grant every topic: they expire a week after they are signed.
pub const TOKEN_LIFETIME: time::Duration = time::Duration::days(7);
/// A stored token is signed again when less than this is left, so every render
/// (after the first day) gives a full week again.
const TOKEN_RENEW_BELOW: time::Duration = time::Duration::days(6);

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("reading {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("the OS random source failed: {0}")]
    Random(#[source] crate::random::RandomError),
    #[error("{0}")]
    Pki(#[from] pki::PkiError),
    #[error("signing the smoke-test tokens failed: {0}")]
    Sign(#[source] crate::jwt::JwtError),
    #[error("{0}")]
    Unsafe(#[from] crate::output::OutputError),
}

/// Everything secret the renderer puts into the bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secrets {
    pub jwt: SigningKey,
    pub publisher_token: String,
    pub subscriber_token: String,
    pub pki: Option<Pki>,
}

/// What was stored under `DIR/.state/`, each part optional.
#[derive(Debug, Default, Clone)]
pub struct StoredState {
    pub hmac_secret: Option<String>,
    pub es256: Option<(String, String)>,
    pub publisher_token: Option<String>,
    pub subscriber_token: Option<String>,
    pub ca: Option<(String, String)>,
    pub hub: Option<(String, String)>,
}

/// Largest stored secret read back (a PEM key or certificate is under 2 KiB).
const STATE_READ_CAP: u64 = 64 * 1024;

/// Reads one state file: never through a symlink, only a regular file, capped.
fn read_opt(dir: &Path, rel: &str) -> Result<Option<String>, SecretsError> {
    crate::output::refuse_symlinks(dir, rel)?;
    let path = dir.join(rel);
    match crate::output::read_regular(&path, STATE_READ_CAP)? {
        Some(bytes) => String::from_utf8(bytes).map(|s| Some(s.trim_end_matches('\n').to_string())).map_err(|_| {
            SecretsError::Read {
                path: path.display().to_string(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"),
            }
        }),
        None => Ok(None),
    }
}

fn pair(a: Option<String>, b: Option<String>) -> Option<(String, String)> {
    a.zip(b)
}

impl StoredState {
    /// Reads whatever state a previous render left in `dir` (nothing for a new folder).
    pub fn read(dir: &Path) -> Result<StoredState, SecretsError> {
        Ok(StoredState {
            hmac_secret: read_opt(dir, paths::HMAC_SECRET)?,
            es256: pair(read_opt(dir, paths::ES256_PRIVATE)?, read_opt(dir, paths::ES256_PUBLIC)?),
            publisher_token: read_opt(dir, paths::PUBLISHER_TOKEN)?,
            subscriber_token: read_opt(dir, paths::SUBSCRIBER_TOKEN)?,
            ca: pair(read_opt(dir, paths::CA_CERT)?, read_opt(dir, paths::CA_KEY)?),
            hub: pair(read_opt(dir, paths::HUB_CERT)?, read_opt(dir, paths::HUB_KEY)?),
        })
    }
}

/// New base64url HMAC secret from the OS RNG.
fn new_hmac_secret() -> Result<String, SecretsError> {
    let mut bytes = [0u8; HMAC_SECRET_BYTES];
    crate::random::fill(&mut bytes).map_err(SecretsError::Random)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// A random `jti` (RFC 9068 wants one per token), as a version 4 UUID URN.
fn new_token_id() -> Result<String, SecretsError> {
    let mut b = [0u8; 16];
    crate::random::fill(&mut b).map_err(SecretsError::Random)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = b.iter().fold(String::new(), |mut h, x| {
        let _ = std::fmt::Write::write_fmt(&mut h, format_args!("{x:02x}"));
        h
    });
    Ok(format!("urn:uuid:{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..]))
}

fn new_es256_pair() -> Result<(String, String), SecretsError> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(pki::PkiError::from)?;
    Ok((key.serialize_pem().trim_end().to_string(), key.public_key_pem().trim_end().to_string()))
}

fn usable_hmac(secret: &str) -> bool {
    secret.len() >= MIN_HMAC_SECRET_CHARS && secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Reuses what `stored` holds where it still fits the answers, and makes the rest.
/// Returns the secrets and a note for each thing that was made anew.
pub fn prepare(
    answers: &Answers,
    stored: StoredState,
    rotate: bool,
    now: OffsetDateTime,
) -> Result<(Secrets, Vec<String>), SecretsError> {
    let stored = if rotate { StoredState::default() } else { stored };
    let mut notes = Vec::new();
    // A stored key that cannot be used is replaced, and the note says why.
    let mut why_new = String::new();
    let reused_key = match answers.jwt_algorithm {
        JwtAlgorithm::HS256 | JwtAlgorithm::HS512 => match stored.hmac_secret {
            Some(s) if usable_hmac(&s) => Some(SigningKey::Hmac(s)),
            Some(_) => {
                why_new = ": the stored HMAC secret is too short or not base64url".into();
                None
            }
            None => None,
        },
        // The public half is derived again, so a stored pair can never disagree.
        JwtAlgorithm::ES256 => match stored.es256 {
            Some((private_pem, _)) => match rcgen::KeyPair::from_pem(&private_pem) {
                Ok(key) => {
                    Some(SigningKey::Es256 { public_pem: key.public_key_pem().trim_end().to_string(), private_pem })
                }
                Err(e) => {
                    why_new = format!(": the stored ES256 key cannot be read ({e})");
                    None
                }
            },
            None => None,
        },
    };
    let (jwt, key_is_new) = match reused_key {
        Some(k) => (k, false),
        None => {
            notes.push(format!("made a new {} JWT key{why_new}", answers.jwt_algorithm.as_str()));
            let key = match answers.jwt_algorithm {
                JwtAlgorithm::ES256 => {
                    let (private_pem, public_pem) = new_es256_pair()?;
                    SigningKey::Es256 { private_pem, public_pem }
                }
                _ => SigningKey::Hmac(new_hmac_secret()?),
            };
            (key, true)
        }
    };
    // A stored token is reused only if this key verifies it with this algorithm, it has
    // the shape of the hub's line (and for 1.0 its issuer and audience), and it still has
    // most of its week.
    let hub = answers.hub.version.line().facts();
    let domain = answers.domain.to_string();
    let (issuer, audience) = (HubFacts::issuer(&domain), HubFacts::audience(&domain));
    let fresh = |t: &str| {
        jwt::verify(t, answers.jwt_algorithm, jwt.hub_key()).ok().is_some_and(|claims| {
            let ours = jwt::shape_of(&claims) == Some(hub.tokens)
                && (hub.tokens == TokenShape::Legacy
                    || (claims["iss"] == issuer.as_str() && claims["aud"] == audience.as_str()));
            ours && claims
                .get("exp")
                .and_then(serde_json::Value::as_i64)
                .is_some_and(|exp| exp > (now + TOKEN_RENEW_BELOW).unix_timestamp())
        })
    };
    let exp = (now + TOKEN_LIFETIME).unix_timestamp();
    let token = |stored: Option<String>, role| match stored {
        Some(t) if !key_is_new && fresh(&t) => Ok(t),
        _ if hub.tokens == TokenShape::Legacy => {
            jwt::sign_until(&jwt, answers.jwt_algorithm, role, &["*"], exp).map_err(SecretsError::Sign)
        }
        _ => {
            let id = new_token_id()?;
            let subject = match role {
                Role::Publisher => "mercure-setup-smoke-test-publisher",
                Role::Subscriber => "mercure-setup-smoke-test-subscriber",
            };
            let who = jwt::Audience { issuer: &issuer, audience: &audience, subject };
            let life = jwt::Lifetime { issued_at: Some(now.unix_timestamp()), expires: exp, id: Some(&id) };
            jwt::sign_shaped(&jwt, answers.jwt_algorithm, role, &["*"], hub.tokens, &who, Some(life))
                .map_err(SecretsError::Sign)
        }
    };
    let publisher_token = token(stored.publisher_token, Role::Publisher)?;
    let subscriber_token = token(stored.subscriber_token, Role::Subscriber)?;

    let pki = if answers.topology.facts().private_ca {
        Some(prepare_pki(answers, stored.ca, stored.hub, now, &mut notes)?)
    } else {
        None
    };
    Ok((Secrets { jwt, publisher_token, subscriber_token, pki }, notes))
}

fn prepare_pki(
    answers: &Answers,
    ca: Option<(String, String)>,
    hub: Option<(String, String)>,
    now: OffsetDateTime,
    notes: &mut Vec<String>,
) -> Result<Pki, SecretsError> {
    let (ca_cert, ca_key, ca_is_new) = match ca {
        Some((cert, key)) => match pki::ca_renewal_reason(&cert, now).or_else(|| pki::pair_mismatch(&cert, &key)) {
            None => (cert, key, false),
            Some(reason) => {
                notes.push(format!("made a new private CA: {reason}"));
                let (c, k) = pki::new_ca(&answers.domain, now)?;
                (c, k, true)
            }
        },
        None => {
            notes.push("made a new private CA".into());
            let (c, k) = pki::new_ca(&answers.domain, now)?;
            (c, k, true)
        }
    };
    let renewal = match &hub {
        _ if ca_is_new => Some("the CA is new".to_string()),
        Some((cert, key)) => pki::hub_cert_renewal_reason(cert, &answers.hub.tls_name, now)
            .or_else(|| pki::pair_mismatch(cert, key))
            .or_else(|| pki::not_issued_by(cert, &ca_cert)),
        None => Some("none was stored".to_string()),
    };
    let (hub_cert, hub_key) = match (hub, renewal) {
        (Some(h), None) => h,
        (_, reason) => {
            notes.push(format!(
                "issued a new hub certificate for {}: {}",
                answers.hub.tls_name,
                reason.unwrap_or_default()
            ));
            pki::new_hub_cert(&ca_cert, &ca_key, &answers.hub.tls_name, now)?
        }
    };
    Ok(Pki {
        ca_cert: ca_cert.trim_end().to_string(),
        ca_key: ca_key.trim_end().to_string(),
        hub_cert: hub_cert.trim_end().to_string(),
        hub_key: hub_key.trim_end().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answers::Draft;
    use crate::questions::RawValue;

    fn answers(alg: &str, topology: &str) -> Answers {
        let mut d = Draft::default();
        d.set("domain", RawValue::Scalar("a.com".into()), None);
        d.set("jwt.algorithm", RawValue::Scalar(alg.into()), None);
        d.set("topology", RawValue::Scalar(topology.into()), None);
        Answers::from_draft(&d).unwrap().0
    }

    fn stored(s: &Secrets) -> StoredState {
        let (hmac_secret, es256) = match &s.jwt {
            SigningKey::Hmac(x) => (Some(x.clone()), None),
            SigningKey::Es256 { private_pem, public_pem } => (None, Some((private_pem.clone(), public_pem.clone()))),
        };
        StoredState {
            hmac_secret,
            es256,
            publisher_token: Some(s.publisher_token.clone()),
            subscriber_token: Some(s.subscriber_token.clone()),
            ca: s.pki.as_ref().map(|p| (p.ca_cert.clone(), p.ca_key.clone())),
            hub: s.pki.as_ref().map(|p| (p.hub_cert.clone(), p.hub_key.clone())),
        }
    }

    #[test]
    fn reuses_everything_then_rotates() {
        let now = OffsetDateTime::now_utc();
        for alg in ["HS256", "HS512", "ES256"] {
            let a = answers(alg, "end-to-end-tls");
            let (first, notes) = prepare(&a, StoredState::default(), false, now).unwrap();
            assert!(!notes.is_empty());
            let (again, notes) = prepare(&a, stored(&first), false, now).unwrap();
            assert_eq!(again, first, "{alg}");
            assert!(notes.is_empty(), "{notes:?}");
            // A token that this key does not verify is signed again.
            let mut tampered = stored(&first);
            tampered.publisher_token = Some(first.subscriber_token.clone() + "x");
            let (mended, _) = prepare(&a, tampered, false, now).unwrap();
            assert!(jwt::verify(&mended.publisher_token, a.jwt_algorithm, mended.jwt.hub_key()).is_ok(), "{alg}");
            let (rotated, _) = prepare(&a, stored(&first), true, now).unwrap();
            assert_ne!(rotated.jwt, first.jwt);
            assert_ne!(rotated.pki, first.pki);
        }
    }

    #[test]
    fn mismatched_pairs_are_reissued_with_a_note() {
        let now = OffsetDateTime::now_utc();
        let a = answers("ES256", "end-to-end-tls");
        let (first, _) = prepare(&a, StoredState::default(), false, now).unwrap();
        let (second, _) = prepare(&a, StoredState::default(), true, now).unwrap();
        let (p1, p2) = (first.pki.clone().unwrap(), second.pki.unwrap());
        // New CA certificate with the old CA key (a crash between two renames could do this).
        let mut mixed = stored(&first);
        mixed.ca = Some((p2.ca_cert.clone(), p1.ca_key.clone()));
        let (mended, notes) = prepare(&a, mixed, false, now).unwrap();
        let m = mended.pki.unwrap();
        assert!(notes.iter().any(|n| n.contains("does not belong")), "{notes:?}");
        assert_eq!(pki::pair_mismatch(&m.ca_cert, &m.ca_key), None);
        assert_eq!(pki::not_issued_by(&m.hub_cert, &m.ca_cert), None);
        // A hub certificate from another CA, and a hub key that is not its own.
        let mut mixed = stored(&first);
        mixed.hub = Some((p2.hub_cert.clone(), p2.hub_key.clone()));
        let (mended, notes) = prepare(&a, mixed, false, now).unwrap();
        assert!(notes.iter().any(|n| n.contains("not issued by the stored CA")), "{notes:?}");
        assert_eq!(mended.pki.as_ref().unwrap().ca_cert, p1.ca_cert);
        let mut mixed = stored(&first);
        mixed.hub = Some((p1.hub_cert.clone(), p2.hub_key.clone()));
        let (_, notes) = prepare(&a, mixed, false, now).unwrap();
        assert!(notes.iter().any(|n| n.contains("does not belong")), "{notes:?}");
        // A broken stored JWT key is replaced, saying why.
        let mut broken = stored(&first);
        broken.es256 = Some(("garbage".into(), "garbage".into()));
        let (_, notes) = prepare(&a, broken, false, now).unwrap();
        assert!(notes.iter().any(|n| n.contains("cannot be read")), "{notes:?}");
    }

    #[test]
    fn tokens_expire_in_a_week_and_are_renewed() {
        let now = OffsetDateTime::now_utc();
        let a = answers("HS256", "same-host-http");
        let (first, _) = prepare(&a, StoredState::default(), false, now).unwrap();
        let claims = jwt::verify(&first.publisher_token, a.jwt_algorithm, first.jwt.hub_key()).unwrap();
        assert_eq!(claims["exp"].as_i64(), Some((now + TOKEN_LIFETIME).unix_timestamp()));
        // Reused within the first day, signed again (a full week) after it.
        let (same, _) = prepare(&a, stored(&first), false, now + time::Duration::hours(12)).unwrap();
        assert_eq!(same.publisher_token, first.publisher_token);
        let later = now + time::Duration::days(2);
        let (renewed, _) = prepare(&a, stored(&first), false, later).unwrap();
        assert_ne!(renewed.subscriber_token, first.subscriber_token);
        let claims = jwt::verify(&renewed.subscriber_token, a.jwt_algorithm, renewed.jwt.hub_key()).unwrap();
        assert_eq!(claims["exp"].as_i64(), Some((later + TOKEN_LIFETIME).unix_timestamp()));
        assert_eq!(renewed.jwt, first.jwt, "renewing tokens keeps the key");
    }

    #[test]
    fn hmac_secret_is_long_base64url() {
        let s = new_hmac_secret().unwrap();
        assert_eq!(s.len(), 86);
        assert!(usable_hmac(&s));
    }
}
