//! TLS trust: rustls (ring provider) configurations verifying against a private CA or
//! the system's roots, and a verifier that records the certificate a server presented.

use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{VerifierBuilderError, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, InvalidDnsNameError, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// Why TLS cannot be set up. What the user gave (a CA file, a name, a machine without
/// system roots) is a usage error; rustls refusing its own configuration is a failure.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{what}: {source}")]
    Pem { what: String, source: rustls::pki_types::pem::Error },
    #[error("{what}: {source}")]
    Unusable { what: String, source: rustls::Error },
    #[error("{what} holds no PEM certificate")]
    NoCertificate { what: String },
    #[error("no system CA certificates found (install ca-certificates, or pass --public-ca FILE)")]
    NoSystemRoots,
    #[error("`{name}`: {source}")]
    BadName { name: String, source: InvalidDnsNameError },
    #[error(transparent)]
    Verifier(#[from] VerifierBuilderError),
    #[error(transparent)]
    Config(rustls::Error),
}

impl From<TlsError> for crate::error::Error {
    fn from(e: TlsError) -> Self {
        match e {
            TlsError::Verifier(_) | TlsError::Config(_) => crate::error::Error::Failed(e.to_string()),
            _ => crate::error::Error::Usage(e.to_string()),
        }
    }
}

/// The crypto provider for every TLS connection: ring, so the build needs no cmake.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A trust store holding the certificates of a PEM file's text.
pub fn roots_from_pem(pem: &str, what: &str) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        let cert = cert.map_err(|source| TlsError::Pem { what: what.to_string(), source })?;
        roots.add(cert).map_err(|source| TlsError::Unusable { what: what.to_string(), source })?;
    }
    if roots.is_empty() {
        return Err(TlsError::NoCertificate { what: what.to_string() });
    }
    Ok(roots)
}

/// The operating system's trust store, for public certificates (Let's Encrypt).
pub fn native_roots() -> Result<RootCertStore, TlsError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        return Err(TlsError::NoSystemRoots);
    }
    Ok(roots)
}

/// Remembers the certificate a server presented while verifying it exactly as
/// rustls would; verification is never relaxed, only observed, so a failed
/// handshake still tells the probes which certificate (and expiry) was served.
#[derive(Debug)]
pub struct RecordingVerifier {
    inner: Arc<WebPkiServerVerifier>,
    seen: Mutex<Option<Vec<u8>>>,
}

impl RecordingVerifier {
    /// The DER of the last end-entity certificate seen.
    pub fn seen(&self) -> Option<Vec<u8>> {
        self.seen.lock().ok().and_then(|s| s.clone())
    }
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some(end_entity.to_vec());
        }
        self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A client configuration verifying against `roots`; `sni: false` sends no
/// server name, as nginx does unless `proxy_ssl_server_name on`.
pub fn tls_config(roots: RootCertStore, sni: bool) -> Result<(Arc<ClientConfig>, Arc<RecordingVerifier>), TlsError> {
    let provider = provider();
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build()?;
    let verifier = Arc::new(RecordingVerifier { inner, seen: Mutex::new(None) });
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .dangerous()
        // Not a relaxation: RecordingVerifier delegates every decision to WebPkiServerVerifier.
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    config.enable_sni = sni;
    // Subscribers hold one HTTP/1.1 stream each; no h2 multiplexing to hide connection limits.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((Arc::new(config), verifier))
}

/// TLS for one endpoint: the configuration and the name to verify (and send as SNI).
#[derive(Clone)]
pub struct TlsTarget {
    pub config: Arc<ClientConfig>,
    pub name: ServerName<'static>,
}

impl TlsTarget {
    pub fn new(config: Arc<ClientConfig>, name: &str) -> Result<TlsTarget, TlsError> {
        let name = ServerName::try_from(name.to_string())
            .map_err(|source| TlsError::BadName { name: name.to_string(), source })?;
        Ok(TlsTarget { config, name })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{EXIT_USAGE, Error};

    #[test]
    fn unusable_trust_is_the_users_input() {
        let e = roots_from_pem("no certificate here", "--public-ca").unwrap_err();
        assert_eq!(e.to_string(), "--public-ca holds no PEM certificate");
        assert_eq!(Error::from(e).exit_code(), EXIT_USAGE);
        let bad = "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n";
        let e = roots_from_pem(bad, "the hub CA").unwrap_err();
        assert!(matches!(e, TlsError::Pem { .. }) && e.to_string().starts_with("the hub CA: "), "{e}");
        assert_eq!(Error::from(e).exit_code(), EXIT_USAGE);
    }

    #[test]
    fn an_empty_trust_store_is_a_failure_not_usage() {
        let e = tls_config(RootCertStore::empty(), true).err().unwrap();
        assert!(matches!(e, TlsError::Verifier(_)), "{e}");
        assert_eq!(Error::from(e).exit_code(), crate::error::EXIT_FAILURE);
    }

    #[test]
    fn a_name_that_cannot_be_verified_is_refused() {
        let ca = rcgen::generate_simple_self_signed(vec!["hub.internal".into()]).unwrap();
        let (config, _) = tls_config(roots_from_pem(&ca.cert.pem(), "the CA").unwrap(), true).unwrap();
        assert_eq!(TlsTarget::new(config.clone(), "hub.internal").unwrap().name.to_str(), "hub.internal");
        let e = TlsTarget::new(config, "bad name!").err().unwrap();
        assert!(e.to_string().starts_with("`bad name!`: "), "{e}");
        assert_eq!(Error::from(e).exit_code(), EXIT_USAGE);
    }
}
