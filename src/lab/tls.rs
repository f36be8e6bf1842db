//! The lab's certificates: a throwaway CA standing in for the public one (what the
//! lab's browser-like clients trust) with a leaf for the lab domain, and the
//! self-signed certificate of an impostor on the hub's port.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

use super::LabError;

/// The public side's TLS: a throwaway CA (what browsers would trust) and a leaf for the domain.
pub struct PublicTls {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

fn tls_error(e: impl std::fmt::Display) -> LabError {
    LabError::Io(format!("lab certificate: {e}"))
}

fn write(path: &Path, text: &str) -> Result<(), LabError> {
    std::fs::write(path, text).map_err(|e| LabError::Io(format!("{}: {e}", path.display())))
}

/// Makes a CA and an ECDSA P-256 certificate for `domain` signed by it, in `dir`.
pub fn public_tls(dir: &Path, domain: &str) -> Result<PublicTls, LabError> {
    std::fs::create_dir_all(dir).map_err(|e| LabError::Io(format!("{}: {e}", dir.display())))?;
    let ca_key = KeyPair::generate().map_err(tls_error)?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(tls_error)?;
    ca.distinguished_name.push(DnType::CommonName, "mercure-setup lab public CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).map_err(tls_error)?;
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().map_err(tls_error)?;
    let mut params = CertificateParams::new(vec![domain.to_string()]).map_err(tls_error)?;
    // 90 days, as Let's Encrypt issues: TLS scanners hold longer lifespans against the site.
    params.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    params.not_after = params.not_before + time::Duration::days(90);
    // Path validation (sslyze's, through `cryptography`) wants the issuer's key identifier.
    params.use_authority_key_identifier_extension = true;
    let leaf = params.signed_by(&key, &issuer).map_err(tls_error)?;
    let t = PublicTls { ca: dir.join("ca.pem"), cert: dir.join("fullchain.pem"), key: dir.join("privkey.pem") };
    write(&t.ca, &ca_cert.pem())?;
    write(&t.cert, &leaf.pem())?;
    write(&t.key, &key.serialize_pem())?;
    Ok(t)
}

/// A self-signed certificate and key (for `name` and 127.0.0.1), for an impostor on the hub's port.
pub fn self_signed(dir: &Path, name: &str) -> Result<(PathBuf, PathBuf), LabError> {
    let cert = rcgen::generate_simple_self_signed(vec![name.to_string(), "127.0.0.1".into()]).map_err(tls_error)?;
    let (c, k) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
    write(&c, &cert.cert.pem())?;
    write(&k, &cert.signing_key.serialize_pem())?;
    Ok((c, k))
}
