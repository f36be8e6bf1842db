//! What a run's failures most likely mean: the troubleshooting row for failed
//! subscriptions and publishes, worded with what the run knows of the deployment.

use super::spec::RunSpec;
use super::stats::{FailureKind, KindCounts};
use crate::diagnosis::{Diagnosis, Finding, Names};
use crate::net::Failure;

impl RunSpec {
    /// The names the troubleshooting advice uses. The hub port is known only when publishing
    /// to it directly on loopback.
    fn names(&self) -> Names {
        Names {
            domain: self.url.host.clone(),
            site_file: crate::bundle::paths::nginx_site(&self.url.host),
            hub_port: if self.publish_url.is_loopback_host() { self.publish_url.port } else { 0 },
            tls_name: String::new(),
            tls: self.publish_url.is_loopback_host() && self.publish_url.https,
            heartbeat: String::new(),
        }
    }

    fn diagnose(&self, f: &Finding) -> Diagnosis {
        let mut d = f.diagnose(&self.names());
        if self.names().hub_port == 0 {
            // Advice written for a known port: say "its port" rather than ":0".
            for text in [&mut d.cause, &mut d.fix] {
                *text = text.replace("127.0.0.1:0", "its loopback port").replace(":0`", ":PORT`");
            }
        }
        d
    }
}

/// The likely cause of failed subscriptions (a troubleshooting row), from their classes.
pub(super) fn connection_diagnosis(
    spec: &RunSpec,
    by_kind: &KindCounts,
    established: u32,
    statuses: &[u16],
    client_is_bottleneck: bool,
) -> Option<Diagnosis> {
    // The hub (or nginx) refused the subscriber's token: the stream is a 401/403 (troubleshooting #5, key #11).
    if let Some(&status) = statuses.iter().find(|s| matches!(s, 401 | 403)) {
        return Some(spec.diagnose(&Finding::NotTheStream { status, media_type: String::new() }));
    }
    // Nothing got through nginx at all: it has no hub to talk to.
    if established == 0 && by_kind[FailureKind::BadGateway] > 0 {
        return Some(spec.diagnose(&Finding::HubDown));
    }
    // Some subscriptions held and the rest were closed, reset or answered 502 while the
    // client had room: nginx ran out of worker connections.
    let server_side = by_kind[FailureKind::BadGateway] + by_kind[FailureKind::Reset] + by_kind[FailureKind::Closed];
    if established > 0 && server_side > 0 && !client_is_bottleneck {
        return Some(spec.diagnose(&Finding::TooFewWorkerConnections));
    }
    if let Some(&status) = statuses.iter().find(|&&s| s != 502) {
        return Some(spec.diagnose(&Finding::NotTheStream { status, media_type: String::new() }));
    }
    None
}

/// The likely cause of failed publishes.
pub(super) fn publish_diagnosis(spec: &RunSpec, f: &Failure, established: u32) -> Option<Diagnosis> {
    match f {
        Failure::Status(status @ (401 | 403)) => Some(spec.diagnose(&Finding::PublishRejected { status: *status })),
        Failure::Status(502) if established == 0 => Some(spec.diagnose(&Finding::HubDown)),
        Failure::Status(502) => Some(spec.diagnose(&Finding::TooFewWorkerConnections)),
        Failure::Refused if spec.publish_url.is_loopback_host() => Some(spec.diagnose(&Finding::HubDown)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loadtest::spec::tests::spec;
    use crate::troubleshooting::Row;

    #[test]
    fn connection_failures_get_the_matching_advice() {
        let p = spec();
        let kinds = |pairs: &[(FailureKind, u32)]| {
            let mut k = KindCounts::default();
            for &(kind, n) in pairs {
                k[kind] = n;
            }
            k
        };
        let item = |d: Option<Diagnosis>| d.map(|d| d.item);
        // Rejected subscriber token: the stream is a 401, not a capacity problem.
        assert_eq!(
            item(connection_diagnosis(&p, &kinds(&[(FailureKind::OtherHttp, 10)]), 0, &[401], false)),
            Some(Row::NotTheStream)
        );
        assert_eq!(
            item(connection_diagnosis(
                &p,
                &kinds(&[(FailureKind::OtherHttp, 4), (FailureKind::BadGateway, 2)]),
                4,
                &[403, 502],
                false
            )),
            Some(Row::NotTheStream)
        );
        // Only 502s and nothing established: no hub behind nginx.
        assert_eq!(
            item(connection_diagnosis(&p, &kinds(&[(FailureKind::BadGateway, 10)]), 0, &[502], false)),
            Some(Row::HubNotRunning)
        );
        // Some held, the rest 502/reset/closed: worker connections.
        assert_eq!(
            item(connection_diagnosis(
                &p,
                &kinds(&[(FailureKind::BadGateway, 5), (FailureKind::Reset, 2), (FailureKind::Closed, 1)]),
                60,
                &[502],
                false
            )),
            Some(Row::WorkerConnections)
        );
        // ... but not when the client itself was the limit.
        assert_eq!(item(connection_diagnosis(&p, &kinds(&[(FailureKind::Reset, 5)]), 60, &[], true)), None);
        assert_eq!(item(connection_diagnosis(&p, &kinds(&[(FailureKind::Refused, 10)]), 0, &[], false)), None);
        assert_eq!(
            item(connection_diagnosis(&p, &kinds(&[(FailureKind::OtherHttp, 10)]), 0, &[404], false)),
            Some(Row::NotTheStream)
        );
        // Publish failures.
        assert_eq!(item(publish_diagnosis(&p, &Failure::Status(401), 10)), Some(Row::PublishRejected));
        assert_eq!(item(publish_diagnosis(&p, &Failure::Status(502), 0)), Some(Row::HubNotRunning));
        let d = publish_diagnosis(&p, &Failure::Status(502), 0).unwrap();
        assert!(!d.cause.contains("127.0.0.1:0"), "{}", d.cause);
    }
}
