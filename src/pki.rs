//! The private CA and the hub's certificate for end-to-end TLS (rcgen), and the
//! checks that decide whether a stored certificate can be reused.
//!
//! Key generation and the clock live here, at the edge: callers pass `now`.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType, SerialNumber,
};
use time::{Duration, OffsetDateTime};
use x509_parser::extensions::ParsedExtension;

use crate::values::Domain;

/// How long the private CA is valid.
pub const CA_VALIDITY: Duration = Duration::days(3650);
/// How long a hub certificate is valid.
pub const HUB_VALIDITY: Duration = Duration::days(397);
/// A hub certificate expiring sooner than this is reissued on re-render.
pub const RENEW_BEFORE: Duration = Duration::days(30);

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("stored {what} cannot be read: {detail}")]
    Stored { what: &'static str, detail: String },
    #[error("stored OS random source cannot be read: {0}")]
    Random(#[from] crate::random::RandomError),
    /// The text holds no PEM certificate.
    #[error(transparent)]
    NotPem(x509_parser::nom::Err<x509_parser::error::PEMError>),
    /// The bytes are not an X.509 certificate.
    #[error(transparent)]
    NotX509(x509_parser::nom::Err<x509_parser::error::X509Error>),
    /// The certificate's expiry is outside the dates this program can represent.
    #[error(transparent)]
    BadExpiry(time::error::ComponentRange),
    /// A hub certificate that expired: it must be reissued.
    #[error("the hub certificate expired on {date}")]
    Expired { date: time::Date },
    /// A hub certificate under [`RENEW_BEFORE`]: it must be reissued.
    #[error("the hub certificate expires on {date}, in {days} day{} (under {})", if *.days == 1 { "" } else { "s" }, RENEW_BEFORE.whole_days())]
    ExpiresSoon { date: time::Date, days: i64 },
}

/// The CA and hub certificate with their keys, all PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pki {
    pub ca_cert: String,
    pub ca_key: String,
    pub hub_cert: String,
    pub hub_key: String,
}

fn random_serial() -> Result<SerialNumber, PkiError> {
    let mut bytes = [0u8; 16];
    crate::random::fill(&mut bytes)?;
    bytes[0] &= 0x7f;
    Ok(SerialNumber::from_slice(&bytes))
}

/// Creates a new CA (ECDSA P-256, CA:TRUE pathlen:0, keyCertSign + cRLSign).
pub fn new_ca(domain: &Domain, now: OffsetDateTime) -> Result<(String, String), PkiError> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("mercure-setup internal CA for {domain}"));
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = now - Duration::minutes(5);
    params.not_after = now + CA_VALIDITY;
    params.serial_number = Some(random_serial()?);
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Issues a hub certificate for `tls_name` (plus localhost and the loopback IPs), signed by the CA.
pub fn new_hub_cert(
    ca_cert: &str,
    ca_key: &str,
    tls_name: &Domain,
    now: OffsetDateTime,
) -> Result<(String, String), PkiError> {
    let ca_key = KeyPair::from_pem(ca_key).map_err(|e| PkiError::Stored { what: "CA key", detail: e.to_string() })?;
    let issuer = Issuer::from_ca_cert_pem(ca_cert, ca_key)
        .map_err(|e| PkiError::Stored { what: "CA certificate", detail: e.to_string() })?;
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, tls_name.as_str());
    params.distinguished_name = dn;
    params.subject_alt_names = vec![
        SanType::DnsName(tls_name.as_str().try_into()?),
        SanType::DnsName("localhost".try_into()?),
        SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()),
        SanType::IpAddress(std::net::Ipv6Addr::LOCALHOST.into()),
    ];
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.not_before = now - Duration::minutes(5);
    params.not_after = now + HUB_VALIDITY;
    params.serial_number = Some(random_serial()?);
    let cert = params.signed_by(&key, &issuer)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// What a parsed certificate says about itself: the one X.509 reader that `render`,
/// `check` and `doctor` share.
#[derive(Debug, Clone)]
// The extension flags are what the checks compare one by one.
#[allow(clippy::struct_excessive_bools)]
pub struct CertInfo {
    pub not_after: OffsetDateTime,
    pub dns_names: Vec<String>,
    pub ip_addresses: Vec<std::net::IpAddr>,
    pub subject: String,
    pub issuer: String,
    /// basicConstraints: CA flag and path length, when present.
    pub ca: Option<(bool, Option<u32>)>,
    pub basic_constraints_critical: bool,
    pub key_cert_sign: bool,
    pub crl_sign: bool,
    pub digital_signature: bool,
    pub server_auth: bool,
}

/// Whole days from `now` until `not_after` (negative once expired).
pub fn days_left(info: &CertInfo, now: OffsetDateTime) -> i64 {
    (info.not_after - now).whole_days()
}

/// Why a hub certificate needs renewing now (`Err`: expired or under
/// [`RENEW_BEFORE`]), else how long it has: what `check` and `doctor` report.
pub fn hub_cert_expiry(info: &CertInfo, now: OffsetDateTime) -> Result<String, PkiError> {
    let days = days_left(info, now);
    let date = info.not_after.date();
    if info.not_after <= now {
        Err(PkiError::Expired { date })
    } else if info.not_after - now < RENEW_BEFORE {
        Err(PkiError::ExpiresSoon { date, days })
    } else {
        Ok(format!("the hub certificate expires on {date}, in {days} days"))
    }
}

/// Parses a PEM certificate (the first one in `pem`).
pub fn inspect(pem: &str) -> Result<CertInfo, PkiError> {
    inspect_der(&cert_der(pem)?)
}

/// The DER bytes of the first certificate in `pem`.
pub fn cert_der(pem: &str) -> Result<Vec<u8>, PkiError> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).map_err(PkiError::NotPem)?;
    Ok(pem.contents)
}

/// Parses a DER certificate (e.g. the one a TLS server presented).
pub fn inspect_der(der: &[u8]) -> Result<CertInfo, PkiError> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(PkiError::NotX509)?;
    let not_after =
        OffsetDateTime::from_unix_timestamp(cert.validity().not_after.timestamp()).map_err(PkiError::BadExpiry)?;
    let mut info = CertInfo {
        not_after,
        dns_names: Vec::new(),
        ip_addresses: Vec::new(),
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        ca: None,
        basic_constraints_critical: false,
        key_cert_sign: false,
        crl_sign: false,
        digital_signature: false,
        server_auth: false,
    };
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::BasicConstraints(b) => {
                info.ca = Some((b.ca, b.path_len_constraint));
                info.basic_constraints_critical = ext.critical;
            }
            ParsedExtension::KeyUsage(k) => {
                info.key_cert_sign = k.key_cert_sign();
                info.crl_sign = k.crl_sign();
                info.digital_signature = k.digital_signature();
            }
            ParsedExtension::ExtendedKeyUsage(e) => info.server_auth = e.server_auth,
            _ => {}
        }
    }
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                x509_parser::extensions::GeneralName::DNSName(n) => info.dns_names.push((*n).to_string()),
                x509_parser::extensions::GeneralName::IPAddress(b) => {
                    if let Ok(a) = <[u8; 4]>::try_from(*b) {
                        info.ip_addresses.push(a.into());
                    } else if let Ok(a) = <[u8; 16]>::try_from(*b) {
                        info.ip_addresses.push(a.into());
                    }
                }
                _ => {}
            }
        }
    }
    Ok(info)
}

/// Why a stored certificate and key are not a pair, if they are not: the key must
/// parse, and its public half must be the certificate's.
pub fn pair_mismatch(cert_pem: &str, key_pem: &str) -> Option<String> {
    use rcgen::PublicKeyData as _;
    let key = match KeyPair::from_pem(key_pem) {
        Ok(k) => k,
        Err(e) => return Some(format!("the stored key cannot be read ({e})")),
    };
    let der = match cert_der(cert_pem) {
        Ok(d) => d,
        Err(e) => return Some(format!("the stored certificate cannot be read ({e})")),
    };
    match x509_parser::parse_x509_certificate(&der) {
        Ok((_, cert)) if cert.public_key().subject_public_key.data.as_ref() == key.der_bytes() => None,
        Ok(_) => Some("the stored key does not belong to the stored certificate".into()),
        Err(e) => Some(format!("the stored certificate cannot be read ({e})")),
    }
}

/// Why `cert_pem` is not signed by the CA in `ca_pem`, if it is not.
pub fn not_issued_by(cert_pem: &str, ca_pem: &str) -> Option<String> {
    let (Ok(der), Ok(ca_der)) = (cert_der(cert_pem), cert_der(ca_pem)) else {
        return Some("a stored certificate cannot be read".into());
    };
    let (Ok((_, cert)), Ok((_, ca))) =
        (x509_parser::parse_x509_certificate(&der), x509_parser::parse_x509_certificate(&ca_der))
    else {
        return Some("a stored certificate cannot be read".into());
    };
    match cert.verify_signature(Some(ca.public_key())) {
        Ok(()) => None,
        Err(_) => Some("the stored hub certificate was not issued by the stored CA".into()),
    }
}

/// Why a stored hub certificate must be reissued, if it must.
pub fn hub_cert_renewal_reason(hub_cert: &str, tls_name: &Domain, now: OffsetDateTime) -> Option<String> {
    let info = match inspect(hub_cert) {
        Ok(i) => i,
        Err(e) => return Some(format!("the stored hub certificate cannot be read ({e})")),
    };
    if !info.dns_names.iter().any(|n| n == tls_name.as_str()) {
        return Some(format!("hub.tls_name is now {tls_name}, which the stored certificate does not name"));
    }
    if info.not_after - now < RENEW_BEFORE {
        return Some(format!("the hub certificate expires on {}", info.not_after.date()));
    }
    None
}

/// Why a stored CA must be replaced, if it must (it expires within the hub certificate's lifetime).
pub fn ca_renewal_reason(ca_cert: &str, now: OffsetDateTime) -> Option<String> {
    match inspect(ca_cert) {
        Ok(info) if info.not_after - now < HUB_VALIDITY => {
            Some(format!("the private CA expires on {}", info.not_after.date()))
        }
        Ok(_) => None,
        Err(e) => Some(format!("the stored CA certificate cannot be read ({e})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issues_and_inspects() {
        let now = OffsetDateTime::now_utc();
        let domain = Domain::parse("app.example.com").unwrap();
        let name = Domain::parse("mercure.internal").unwrap();
        let (ca, ca_key) = new_ca(&domain, now).unwrap();
        let (hub, _) = new_hub_cert(&ca, &ca_key, &name, now).unwrap();
        let info = inspect(&hub).unwrap();
        assert_eq!(info.dns_names, ["mercure.internal", "localhost"]);
        assert_eq!(info.ip_addresses.len(), 2);
        assert!(info.issuer.contains("mercure-setup internal CA for app.example.com"));
        assert_eq!(hub_cert_renewal_reason(&hub, &name, now), None);
        let other = Domain::parse("hub.internal").unwrap();
        assert!(hub_cert_renewal_reason(&hub, &other, now).is_some());
        assert!(hub_cert_renewal_reason(&hub, &name, now + Duration::days(380)).is_some());
        assert_eq!(ca_renewal_reason(&ca, now), None);
    }

    #[test]
    fn expiry_fails_under_thirty_days() {
        let now = OffsetDateTime::now_utc();
        let domain = Domain::parse("app.example.com").unwrap();
        let name = Domain::parse("mercure.internal").unwrap();
        let (ca, ca_key) = new_ca(&domain, now).unwrap();
        let (hub, _) = new_hub_cert(&ca, &ca_key, &name, now).unwrap();
        let info = inspect(&hub).unwrap();
        assert_eq!(days_left(&info, now), HUB_VALIDITY.whole_days() - 1);
        assert!(hub_cert_expiry(&info, now).unwrap().contains("in 396 days"));
        assert!(hub_cert_expiry(&info, now + Duration::days(366)).is_ok());
        let soon = hub_cert_expiry(&info, now + Duration::days(380)).unwrap_err().to_string();
        assert!(soon.contains("in 16 days (under 30)"), "{soon}");
        let expired = hub_cert_expiry(&info, now + Duration::days(400)).unwrap_err();
        assert!(matches!(expired, PkiError::Expired { .. }), "{expired}");
        assert!(expired.to_string().contains("expired on"));
        // The extensions pki.rs issues are read back.
        assert_eq!(inspect(&ca).unwrap().ca, Some((true, Some(0))));
        assert!(info.server_auth && info.digital_signature && !info.key_cert_sign);
    }

    #[test]
    fn pairs_and_issuers_are_checked() {
        let now = OffsetDateTime::now_utc();
        let domain = Domain::parse("app.example.com").unwrap();
        let name = Domain::parse("mercure.internal").unwrap();
        let (ca, ca_key) = new_ca(&domain, now).unwrap();
        let (other_ca, other_key) = new_ca(&domain, now).unwrap();
        let (hub, hub_key) = new_hub_cert(&ca, &ca_key, &name, now).unwrap();
        assert_eq!(pair_mismatch(&ca, &ca_key), None);
        assert_eq!(pair_mismatch(&hub, &hub_key), None);
        assert!(pair_mismatch(&ca, &other_key).unwrap().contains("does not belong"));
        assert!(pair_mismatch(&hub, &ca_key).is_some());
        assert!(pair_mismatch(&ca, "garbage").unwrap().contains("cannot be read"));
        assert_eq!(not_issued_by(&hub, &ca), None);
        // Same subject name, another key: only the signature tells them apart.
        assert!(not_issued_by(&hub, &other_ca).is_some());
    }
}
