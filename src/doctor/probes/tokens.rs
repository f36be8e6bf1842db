//! The bundle's keys and tokens: whether they agree (`check`'s jwt-keys), and the
//! token Symfony would publish with, signed from its own secret or key.

use std::time::Instant;

use super::ms;
use crate::bundle::paths;
use crate::bundle_dir::Facts;
use crate::check::Outcome;
use crate::check::consistency;
use crate::diagnosis::Finding;
use crate::doctor::report::{Probe, ProbeResult, Reporter};
use crate::doctor::target::Settings;
use crate::jwt::{self, Role, SigningKey};

/// The bundle's JWT keys agree: `check`'s jwt-keys on the bundle (both hub keys, the
/// algorithms, the ES256 pair, a JWT pasted as the secret, the tokens).
pub(super) fn secrets_probe(s: &Settings, rep: &mut Reporter) {
    let Some(bundle) = &s.bundle else { return };
    let t = Instant::now();
    let r = consistency::jwt_keys(&Facts::read(bundle));
    match r.outcome {
        Outcome::Passed { detail } | Outcome::Partial { detail, .. } => {
            let detail = if s.algorithm.is_some_and(|a| !a.is_hmac()) {
                format!(
                    "{} signs what the hub's publisher and subscriber keys (ES256) verify; both tokens verify",
                    paths::SYMFONY_PRIVATE_KEY
                )
            } else {
                detail
            };
            rep.add(ProbeResult::pass(Probe::BundleSecrets, ms(t), detail));
        }
        Outcome::Failed { error, .. } => rep.add(ProbeResult::fail(
            Probe::BundleSecrets,
            ms(t),
            error.clone(),
            vec![Finding::BundleKeys { problems: error }],
        )),
        Outcome::NotRun { reason, .. } => rep.add(ProbeResult::skip(Probe::BundleSecrets, reason)),
    }
}

/// When doctor's own publish tokens expire: five minutes out, long enough for a run, and
/// worthless to whoever might read one later.
fn probe_token_expiry() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp() + 300
}

/// A short-lived publisher token in the shape the bundle's hub line takes (for 1.0, the
/// claims mercure.yaml gives the Symfony bundle: its issuer and audience).
fn sign_for_line(s: &Settings, key: &SigningKey, alg: crate::values::JwtAlgorithm) -> Result<String, jwt::JwtError> {
    let who = jwt::Audience { issuer: &s.hub_issuer, audience: &s.hub_audience, subject: "mercure-setup-doctor" };
    let life = jwt::Lifetime { issued_at: None, expires: probe_token_expiry(), id: None };
    jwt::sign_shaped(key, alg, Role::Publisher, &["*"], s.hub.tokens, &who, Some(life))
}

/// The token Symfony would publish with: signed with `MERCURE_JWT_SECRET` (HMAC) or
/// with symfony/config/jwt/mercure-private.pem (ES256); else the bundle's publisher token.
/// Returns the token, how it was made, and whether it is ES256.
pub(super) fn symfony_token(s: &Settings) -> Result<Option<(String, &'static str, bool)>, String> {
    let sym = s.symfony.as_ref();
    match s.algorithm {
        Some(alg) if alg.is_hmac() => {
            let Some(secret) = sym.and_then(|y| y.secret.clone()) else { return Ok(None) };
            let t = sign_for_line(s, &SigningKey::Hmac(secret), alg)
                .map_err(|e| format!("cannot sign with MERCURE_JWT_SECRET: {e}"))?;
            Ok(Some((t, "signed with MERCURE_JWT_SECRET", false)))
        }
        Some(alg) => {
            let Some(private_pem) = sym.and_then(|y| y.private_pem.clone()) else { return Ok(None) };
            let key = paths::SYMFONY_PRIVATE_KEY;
            let pair = rcgen::KeyPair::from_pem(&private_pem).map_err(|e| format!("{key}: {e}"))?;
            let signing = SigningKey::Es256 { public_pem: pair.public_key_pem(), private_pem };
            let t = sign_for_line(s, &signing, alg).map_err(|e| format!("cannot sign with {key}: {e}"))?;
            Ok(Some((t, "signed with symfony/config/jwt/mercure-private.pem (ES256)", true)))
        }
        None => Ok(s.publisher_token.clone().map(|t| (t, "with the publisher token", false))),
    }
}
