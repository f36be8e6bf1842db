//! Mozilla's server-side TLS profiles (guidelines 5.7) for the public nginx site, as
//! data: the protocols, TLS 1.2 cipher suites and key-exchange groups each profile
//! allows. Rendering writes them and `check` compares a hand-edited site with them.

use std::fmt;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
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
    fn rendered_suites_are_accepted_ones() {
        for p in TlsProfile::ALL {
            assert!(p.rendered_ciphers().iter().all(|c| p.accepted_ciphers().contains(c)), "{p}");
        }
        assert!(TlsProfile::Modern.protocols().iter().all(|v| TlsProfile::Intermediate.protocols().contains(v)));
    }
}
