//! Mozilla's server-side TLS profiles (guidelines 5.7) for the public nginx site, as
//! data: the protocols, TLS 1.2 cipher suites and key-exchange groups each profile
//! allows. Rendering writes them and `check` compares a hand-edited site with them.

use std::fmt;

use serde::Serialize;

/// The version of Mozilla's server-side TLS guidelines the profiles follow.
pub const GUIDELINES: &str = "5.7";

/// Key-exchange groups both profiles allow, in Mozilla's order (`ssl_ecdh_curve`).
pub const CURVES: &[&str] = &["X25519", "prime256v1", "secp384r1"];

/// The TLS 1.2 suites the bundle offers: forward-secret (ECDHE) and authenticated
/// encryption (AES-GCM, ChaCha20-Poly1305), for ECDSA and RSA certificates alike.
const ECDHE_SUITES: &[&str] = &[
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
];

/// Every TLS 1.2 suite the intermediate profile accepts: the ECDHE suites above and
/// the DHE ones it allows with a 2048-bit group (which the bundle leaves out).
const INTERMEDIATE_ACCEPTED: &[&str] = &[
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
    "DHE-RSA-AES128-GCM-SHA256",
    "DHE-RSA-AES256-GCM-SHA384",
    "DHE-RSA-CHACHA20-POLY1305",
];

/// Which of Mozilla's profiles the public site follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsProfile {
    /// TLS 1.2 and 1.3: every browser of the last ten years.
    #[default]
    Intermediate,
    /// TLS 1.3 only: clients from 2018 on.
    Modern,
}

impl TlsProfile {
    pub const ALL: [TlsProfile; 2] = [Self::Intermediate, Self::Modern];

    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "intermediate" => Ok(Self::Intermediate),
            "modern" => Ok(Self::Modern),
            _ => Err(format!("`{}` is not a TLS profile: use intermediate or modern", s.escape_debug())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Intermediate => "intermediate",
            Self::Modern => "modern",
        }
    }

    /// How messages name it: "Mozilla's intermediate TLS profile".
    pub fn title(self) -> String {
        format!("Mozilla's {} TLS profile", self.as_str())
    }

    /// The protocol versions the profile allows (`ssl_protocols`).
    pub fn protocols(self) -> &'static [&'static str] {
        match self {
            Self::Intermediate => &["TLSv1.2", "TLSv1.3"],
            Self::Modern => &["TLSv1.3"],
        }
    }

    /// The TLS 1.2 suites the bundle renders in `ssl_ciphers` (OpenSSL names, Mozilla's
    /// order); none for a profile without TLS 1.2.
    pub fn rendered_ciphers(self) -> &'static [&'static str] {
        match self {
            Self::Intermediate => ECDHE_SUITES,
            Self::Modern => &[],
        }
    }

    /// The TLS 1.2 suites the profile accepts, by OpenSSL name.
    pub fn accepted_ciphers(self) -> &'static [&'static str] {
        match self {
            Self::Intermediate => INTERMEDIATE_ACCEPTED,
            Self::Modern => &[],
        }
    }
}

impl fmt::Display for TlsProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `Strict-Transport-Security` max-age in seconds; `None`: no header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Hsts(Option<u32>);

impl Hsts {
    /// Two years, as the profiles recommend (and as browsers' preload lists ask).
    pub const DEFAULT_MAX_AGE: u32 = 63_072_000;
    /// The largest max-age read: nine digits, about 31 years.
    pub const MAX: u32 = 999_999_999;

    /// A number of seconds, or `off` (as is `0`, which tells browsers to forget the site).
    pub fn parse(s: &str) -> Result<Self, String> {
        if s == "off" {
            return Ok(Hsts(None));
        }
        let n = crate::values::parse_count(s, 0..=Self::MAX)
            .map_err(|_| format!("`{}` is not a max-age in seconds (0-{}) or off", s.escape_debug(), Self::MAX))?;
        Ok(Hsts((n > 0).then_some(n)))
    }

    pub fn max_age(self) -> Option<u32> {
        self.0
    }
}

impl fmt::Display for Hsts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(n) => write!(f, "{n}"),
            None => f.write_str("off"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in TlsProfile::ALL {
            assert_eq!(TlsProfile::parse(p.as_str()), Ok(p));
        }
        assert!(TlsProfile::parse("old").unwrap_err().contains("intermediate or modern"));
        assert_eq!(TlsProfile::Intermediate.title(), "Mozilla's intermediate TLS profile");
    }

    #[test]
    fn hsts_values() {
        assert_eq!(Hsts::parse("63072000").map(Hsts::max_age), Ok(Some(63_072_000)));
        assert_eq!(Hsts::parse("0"), Hsts::parse("off"));
        assert_eq!(Hsts::parse("0").unwrap().to_string(), "off");
        assert_eq!(Hsts::parse("0031536000").unwrap().to_string(), "31536000");
        for bad in ["-1", "2y", "1000000000", "", "OFF"] {
            assert!(Hsts::parse(bad).unwrap_err().contains("is not a max-age in seconds"), "{bad}");
        }
    }

    #[test]
    fn rendered_suites_are_accepted_ones() {
        for p in TlsProfile::ALL {
            assert!(p.rendered_ciphers().iter().all(|c| p.accepted_ciphers().contains(c)), "{p}");
        }
        assert!(TlsProfile::Modern.protocols().iter().all(|v| TlsProfile::Intermediate.protocols().contains(v)));
    }
}
