//! Why a Mercure 1.0 hub refused a request: its RFC 6750 `WWW-Authenticate: Bearer`
//! challenge (`invalid_token`, `insufficient_scope`, `invalid_request`, the
//! `resource_metadata` URL) read together with the token that was sent and the
//! request, named as one cause with its fix. Pure: doctor and loadtest pass in what
//! they saw.

use std::fmt;

use crate::deployment::HubFacts;

/// The parameters of a `Bearer` challenge.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Challenge {
    pub error: Option<String>,
    pub description: Option<String>,
    pub resource_metadata: Option<String>,
}

/// Parses `Bearer error="invalid_token", error_description="...", resource_metadata="..."`;
/// `None` when the header is not a Bearer challenge.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let rest = header.trim().strip_prefix("Bearer").or_else(|| header.trim().strip_prefix("bearer"))?;
    let mut c = Challenge::default();
    let mut rest = rest.trim_start();
    while !rest.is_empty() {
        let Some((name, after)) = rest.split_once('=') else { break };
        let name = name.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let (value, after) = if let Some(quoted) = after.strip_prefix('"') {
            // A quoted-string; `\"` escapes a quote.
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, ch)) = chars.next() {
                match ch {
                    '\\' => {
                        if let Some((_, next)) = chars.next() {
                            value.push(next);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    _ => value.push(ch),
                }
            }
            (value, &quoted[end..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        match name.as_str() {
            "error" => c.error = Some(value),
            "error_description" => c.description = Some(value),
            "resource_metadata" => c.resource_metadata = Some(value),
            _ => {}
        }
        rest = after.trim_start().trim_start_matches(',').trim_start();
    }
    Some(c)
}

/// What the hub expected of a token: its issuer and audience, and the line.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    pub hub: HubFacts,
    pub issuer: &'a str,
    pub audience: &'a str,
    /// Seconds since the epoch, to judge `exp`.
    pub now: i64,
}

/// Why the hub refused, as far as the answer and the token tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// No token reached the hub (only `resource_metadata` in the challenge).
    NoToken {
        resource_metadata: Option<String>,
    },
    /// A 0.x token (the `mercure` claim, no `authorization_details`) on a strict 1.0 hub.
    LegacyToken,
    WrongAudience {
        got: String,
        expected: String,
    },
    WrongIssuer {
        got: String,
        expected: String,
    },
    Expired {
        exp: i64,
    },
    /// `?topic=` on a strict 1.0 hub: 400 "unknown topic matcher query parameter".
    TopicParameter,
    /// 403: the token is valid but grants nothing for the topic.
    InsufficientScope,
    /// 400 for another reason.
    InvalidRequest {
        description: String,
    },
    /// 421: `public_urls` on the hop nginx uses.
    MisdirectedRequest,
    /// `invalid_token` for a reason the token does not show (wrong key, `typ`, ...).
    InvalidToken {
        description: String,
    },
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::NoToken { resource_metadata } => write!(
                f,
                "no token reached the hub (401 with only resource_metadata{})",
                resource_metadata.as_ref().map(|m| format!(" {m}")).unwrap_or_default()
            ),
            Cause::LegacyToken => f.write_str(
                "a Mercure 0.x token (the `mercure` claim, no `authorization_details`) on a Mercure 1.0 hub: 401 invalid_token",
            ),
            Cause::WrongAudience { got, expected } => {
                write!(f, "the token's `aud` is {got}, but the hub expects the audience {expected}: 401 invalid_token")
            }
            Cause::WrongIssuer { got, expected } => {
                write!(f, "the token's `iss` is {got}, but the hub trusts the issuer {expected}: 401 invalid_token")
            }
            Cause::Expired { exp } => write!(f, "the token expired (exp {exp}): 401 invalid_token"),
            Cause::TopicParameter => f.write_str(
                "the subscriber names its topic with `?topic=`, which Mercure 1.0 refuses (400 unknown topic matcher query parameter)",
            ),
            Cause::InsufficientScope => {
                f.write_str("the token is valid but grants no subscription to this topic: 403 insufficient_scope")
            }
            Cause::InvalidRequest { description } => write!(f, "the hub calls the request malformed: 400 {description}"),
            Cause::MisdirectedRequest => f.write_str(
                "the hub answers 421 Misdirected Request: `public_urls` is set on the hop nginx uses, so the hub refuses every request",
            ),
            Cause::InvalidToken { description } => write!(
                f,
                "the hub refused the token (401 invalid_token{}): signed with another key or algorithm, or a wrong `typ`",
                if description.is_empty() { String::new() } else { format!(": {description}") }
            ),
        }
    }
}

impl Cause {
    /// What to do about it.
    pub fn fix(&self) -> String {
        match self {
            Cause::NoToken { .. } => "send the subscriber token in the Authorization header or the \
                __Secure-mercure_access_token cookie (Mercure 1.0 ignores ?authorization=)"
                .into(),
            Cause::LegacyToken => "sign 1.0 tokens: symfony/mercure-bundle 0.5 with `protocol_version: '1.0'` \
                (the bundle's mercure.yaml), or run the hub with hub.version 1.0-compat while clients move"
                .into(),
            Cause::WrongAudience { expected, .. } => format!(
                "sign tokens with `aud` {expected} (mercure.yaml's jwt.claims.aud, the Caddyfile's resource_identifier)"
            ),
            Cause::WrongIssuer { expected, .. } => {
                format!("sign tokens with `iss` {expected} (mercure.yaml's jwt.claims.iss, the Caddyfile's issuer)")
            }
            Cause::Expired { .. } => {
                "sign a fresh token (render again for tokens/; Symfony signs a new one per request)".into()
            }
            Cause::TopicParameter => "subscribe with `?match=TOPIC` (or `?match_urlpattern=`)".into(),
            Cause::InsufficientScope => {
                "grant the topic in the token's authorization_details (actions subscribe, topics [{match: ...}])".into()
            }
            Cause::InvalidRequest { .. } => "check the query parameters: 1.0 takes match= and match_urlpattern=".into(),
            Cause::MisdirectedRequest => "remove `public_urls` from the Caddyfile; the bundle pins \
                resource_identifier instead"
                .into(),
            Cause::InvalidToken { .. } => "use tokens signed with the key in mercure/mercure.env, \
                from the same render"
                .into(),
        }
    }
}

/// Why a 1.0 hub answered `status` with `www_authenticate` to a request with `query`
/// and `token` (its unverified claims are read; the hub has already judged the signature).
pub fn explain(
    status: u16,
    www_authenticate: Option<&str>,
    query: &str,
    token: Option<&str>,
    expected: &Expected<'_>,
) -> Option<Cause> {
    if status == 421 {
        return Some(Cause::MisdirectedRequest);
    }
    let challenge = www_authenticate.and_then(parse_challenge).unwrap_or_default();
    let claims = token.and_then(crate::jwt::unverified_claims);
    match (status, challenge.error.as_deref()) {
        (400, _) => {
            let strict_topic = !expected.hub.compat && query.split('&').any(|p| p.starts_with("topic="));
            Some(if strict_topic {
                Cause::TopicParameter
            } else {
                Cause::InvalidRequest { description: challenge.description.unwrap_or_default() }
            })
        }
        (403, _) => Some(Cause::InsufficientScope),
        (401, None) if token.is_none() || challenge.resource_metadata.is_some() && claims.is_none() => {
            Some(Cause::NoToken { resource_metadata: challenge.resource_metadata })
        }
        (401, _) => Some(token_cause(claims.as_ref(), expected, challenge.description.unwrap_or_default())),
        _ => None,
    }
}

fn token_cause(claims: Option<&serde_json::Value>, e: &Expected<'_>, description: String) -> Cause {
    let Some(c) = claims else { return Cause::InvalidToken { description } };
    if c.get("authorization_details").is_none() && c.get("mercure").is_some() && !e.hub.compat {
        return Cause::LegacyToken;
    }
    if let Some(exp) = c.get("exp").and_then(serde_json::Value::as_i64)
        && exp <= e.now
    {
        return Cause::Expired { exp };
    }
    if !e.hub.compat {
        if let Some(iss) = c.get("iss").and_then(serde_json::Value::as_str)
            && iss != e.issuer
        {
            return Cause::WrongIssuer { got: iss.into(), expected: e.issuer.into() };
        }
        let aud = match c.get("aud") {
            Some(serde_json::Value::String(s)) => vec![s.clone()],
            Some(serde_json::Value::Array(a)) => a.iter().filter_map(|v| v.as_str().map(String::from)).collect(),
            _ => Vec::new(),
        };
        if !aud.iter().any(|a| a == e.audience) {
            let got = if aud.is_empty() { "missing".to_string() } else { aud.join(", ") };
            return Cause::WrongAudience { got, expected: e.audience.into() };
        }
    }
    Cause::InvalidToken { description }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    use super::*;
    use crate::deployment::HubLine;

    fn token(claims: &serde_json::Value) -> String {
        let b = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        format!("{}.{}.sig", b(br#"{"alg":"HS256","typ":"at+jwt"}"#), b(claims.to_string().as_bytes()))
    }

    fn expected(line: HubLine) -> Expected<'static> {
        Expected {
            hub: line.facts(),
            issuer: "https://a.com",
            audience: "https://a.com/.well-known/mercure",
            now: 1000,
        }
    }

    #[test]
    fn parses_the_hubs_challenges() {
        let c = parse_challenge(
            r#"Bearer error="invalid_token", error_description="bad \"aud\"", resource_metadata="https://a.com/.well-known/oauth-protected-resource/.well-known/mercure""#,
        )
        .unwrap();
        assert_eq!(c.error.as_deref(), Some("invalid_token"));
        assert_eq!(c.description.as_deref(), Some(r#"bad "aud""#));
        assert!(c.resource_metadata.unwrap().ends_with("/oauth-protected-resource/.well-known/mercure"));
        assert_eq!(parse_challenge("Basic realm=x"), None);
        assert_eq!(parse_challenge("Bearer").unwrap(), Challenge::default());
    }

    #[test]
    fn names_each_cause() {
        let e = expected(HubLine::V1_0);
        let good = serde_json::json!({"iss": "https://a.com", "aud": "https://a.com/.well-known/mercure", "exp": 2000, "authorization_details": []});
        let with = |k: &str, v: serde_json::Value| {
            let mut c = good.clone();
            c[k] = v;
            token(&c)
        };
        let bearer = Some(r#"Bearer error="invalid_token""#);
        let aud = explain(401, bearer, "match=t", Some(&with("aud", "https://b/.well-known/mercure".into())), &e);
        assert_eq!(
            aud,
            Some(Cause::WrongAudience {
                got: "https://b/.well-known/mercure".into(),
                expected: "https://a.com/.well-known/mercure".into()
            })
        );
        assert!(aud.unwrap().to_string().contains("expects the audience https://a.com/.well-known/mercure"));
        let iss = explain(401, bearer, "match=t", Some(&with("iss", "https://b".into())), &e);
        assert!(matches!(iss, Some(Cause::WrongIssuer { .. })), "{iss:?}");
        let old = explain(401, bearer, "match=t", Some(&with("exp", 999.into())), &e);
        assert_eq!(old, Some(Cause::Expired { exp: 999 }));
        let legacy = token(&serde_json::json!({"mercure": {"subscribe": ["*"]}}));
        assert_eq!(explain(401, bearer, "match=t", Some(&legacy), &e), Some(Cause::LegacyToken));
        assert_eq!(
            explain(401, Some(r#"Bearer resource_metadata="https://m""#), "match=t", None, &e),
            Some(Cause::NoToken { resource_metadata: Some("https://m".into()) })
        );
        assert_eq!(explain(400, None, "topic=t", None, &e), Some(Cause::TopicParameter));
        assert_eq!(
            explain(403, Some(r#"Bearer error="insufficient_scope""#), "match=t", None, &e),
            Some(Cause::InsufficientScope)
        );
        assert_eq!(explain(421, None, "match=t", None, &e), Some(Cause::MisdirectedRequest));
        assert_eq!(explain(200, None, "match=t", None, &e), None);
        // Compatibility mode checks neither aud nor iss: those are not the cause there.
        let compat = expected(HubLine::V1_0Compat);
        let r = explain(401, bearer, "topic=t", Some(&with("aud", "x".into())), &compat);
        assert!(matches!(r, Some(Cause::InvalidToken { .. })), "{r:?}");
        assert!(matches!(explain(400, None, "topic=t", None, &compat), Some(Cause::InvalidRequest { .. })));
    }
}
