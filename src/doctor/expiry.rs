//! The bundle's hub certificate as the deployment will serve it: days left before it
//! must be renewed (`bundle.cert.expiry`), read with the same X.509 reader as `check`.

use time::OffsetDateTime;

use super::report::{Probe, ProbeResult};
use crate::diagnosis::Finding;
use crate::pki;

/// The probe for the bundle's `mercure/tls/hub.crt` (PEM), when the bundle has one.
pub fn bundle_cert(pem: Option<&str>, now: OffsetDateTime) -> Option<ProbeResult> {
    let info = match pki::inspect(pem?) {
        Ok(i) => i,
        Err(e) => return Some(ProbeResult::skip(Probe::BundleCertExpiry, format!("mercure/tls/hub.crt: {e}"))),
    };
    Some(match pki::hub_cert_expiry(&info, now) {
        Ok(detail) => ProbeResult::pass(Probe::BundleCertExpiry, 0, format!("mercure/tls/hub.crt: {detail}")),
        Err(detail) => ProbeResult::fail(
            Probe::BundleCertExpiry,
            0,
            format!("mercure/tls/hub.crt: {detail}"),
            vec![expiry_finding(&info, now)],
        ),
    })
}

/// The finding for a hub certificate that is expired or under 30 days.
pub fn expiry_finding(info: &pki::CertInfo, now: OffsetDateTime) -> Finding {
    let not_after = info.not_after.date().to_string();
    if info.not_after <= now {
        Finding::CertExpired { not_after }
    } else {
        Finding::CertExpiresSoon { not_after, days_left: pki::days_left(info, now) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::report::Verdict;
    use crate::values::Domain;

    #[test]
    fn fails_under_thirty_days_and_when_expired() {
        let now = OffsetDateTime::now_utc();
        let (ca, key) = pki::new_ca(&Domain::parse("app.example.com").unwrap(), now).unwrap();
        let (hub, _) = pki::new_hub_cert(&ca, &key, &Domain::parse("mercure.internal").unwrap(), now).unwrap();
        assert!(bundle_cert(None, now).is_none());
        let fresh = bundle_cert(Some(&hub), now).unwrap();
        assert_eq!(fresh.status, Verdict::Pass, "{}", fresh.detail);
        assert!(fresh.detail.contains("in 396 days"), "{}", fresh.detail);
        let soon = bundle_cert(Some(&hub), now + time::Duration::days(380)).unwrap();
        assert_eq!(soon.status, Verdict::Fail);
        assert!(matches!(soon.findings[..], [Finding::CertExpiresSoon { days_left: 16, .. }]), "{:?}", soon.findings);
        let gone = bundle_cert(Some(&hub), now + time::Duration::days(400)).unwrap();
        assert!(matches!(gone.findings[..], [Finding::CertExpired { .. }]));
    }
}
