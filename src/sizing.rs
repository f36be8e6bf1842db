//! Server sizing for the expected subscribers: the memory both servers need, their
//! descriptors and the kernel settings, from per-subscriber figures measured on the
//! rendered stack (docs/capacity.md; rerun with scripts/loadtest-stack.sh).

use serde::Serialize;

/// nginx's memory per idle subscriber with the tuned bundle over HTTP/2 (as browsers
/// connect; PSS at the plateau, rounded up): with plain HTTP to the hub, and with TLS
/// to the hub (an OpenSSL client connection and its 16 KB write buffer more).
pub const NGINX_BYTES_PER_SUBSCRIBER: u64 = 48 * 1024;
pub const NGINX_BYTES_PER_SUBSCRIBER_HUB_TLS: u64 = 84 * 1024;
/// The hub's memory per idle subscriber (RSS at the plateau, rounded up): two
/// goroutines, Mercure's 1000-update channel, net/http's buffers; TLS adds Go's.
pub const HUB_BYTES_PER_SUBSCRIBER: u64 = 56 * 1024;
pub const HUB_BYTES_PER_SUBSCRIBER_HUB_TLS: u64 = 70 * 1024;
/// Margin over the idle plateau, in percent: the peak while 10,000 subscribers connected
/// was 3 to 10% above it, and a reconnection storm (every subscriber back at once after
/// a restart) handshakes them all together.
pub const RAMP_HEADROOM_PERCENT: u64 = 30;
/// The hub with no subscriber (Caddy, the Mercure module, the Bolt transport): 43-45 MiB.
pub const HUB_BASE_BYTES: u64 = 48 << 20;
/// nginx's master and workers with no subscriber, before their connection slots.
pub const NGINX_BASE_BYTES: u64 = 8 << 20;
/// Each `worker_connections` slot each worker preallocates and touches at start (the
/// idle PSS grew from 9 to 22 MiB between 3,072 and 21,504 slots in two workers).
pub const NGINX_BYTES_PER_SLOT: u64 = 384;
/// Workers the slots are counted for: Debian's `worker_processes auto` on two cores.
pub const NGINX_WORKERS: u64 = 2;
/// Linux's default `ip_local_port_range` (32768-60999): nginx opens one connection to
/// the hub per subscriber from this range, all to the same address and port.
pub const DEFAULT_EPHEMERAL_PORTS: u32 = 60999 - 32768 + 1;
/// Debian 12's default `net.core.somaxconn`.
pub const DEFAULT_SOMAXCONN: u32 = 4096;
/// Descriptors other processes on a small server hold (PHP-FPM, the database, sshd).
const OTHER_FILES: u64 = 16_384;

/// What `subscribers` concurrent subscribers need from the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Sizing {
    pub subscribers: u32,
    /// nginx's memory at the peak, bytes.
    pub nginx_memory: u64,
    /// The hub's memory at the peak, bytes.
    pub hub_memory: u64,
    /// Both, in MiB (rounded up).
    pub total_mib: u64,
    /// The hub unit's `GOMEMLIMIT`, in MiB: its expected peak, so that the collector
    /// works harder before the hub outgrows what was planned, not at every heap doubling.
    pub hub_memory_limit_mib: u64,
    /// nginx's `worker_connections`: see [`worker_connections_for`].
    pub worker_connections: u32,
    /// Descriptors: nginx (two per connection slot, `worker_rlimit_nofile`) and the hub.
    pub nginx_files: u64,
    pub hub_files: u64,
    /// `net.core.somaxconn`: room for a quarter of the subscribers reconnecting at once.
    pub somaxconn: u32,
    /// `net.ipv4.ip_local_port_range` when the default range is too small, as "LOW HIGH".
    pub port_range: Option<&'static str>,
    /// Beyond one hub address's ports: subscribers over this many cannot all reach the hub.
    pub over_port_limit: bool,
    /// `fs.file-max`: every descriptor on the machine.
    pub file_max: u64,
}

const MIB: u64 = 1 << 20;

impl Sizing {
    /// `hub_tls`: nginx reaches the hub over TLS (the end-to-end-tls topology).
    pub fn for_subscribers(subscribers: u32, hub_tls: bool) -> Sizing {
        let n = u64::from(subscribers);
        let with_headroom = |per: u64| n * per * (100 + RAMP_HEADROOM_PERCENT) / 100;
        let (nginx_per, hub_per) = if hub_tls {
            (NGINX_BYTES_PER_SUBSCRIBER_HUB_TLS, HUB_BYTES_PER_SUBSCRIBER_HUB_TLS)
        } else {
            (NGINX_BYTES_PER_SUBSCRIBER, HUB_BYTES_PER_SUBSCRIBER)
        };
        let worker_connections = worker_connections_for(subscribers);
        let slots = u64::from(worker_connections) * NGINX_WORKERS * NGINX_BYTES_PER_SLOT;
        let nginx_memory = NGINX_BASE_BYTES + slots + with_headroom(nginx_per);
        let hub_memory = HUB_BASE_BYTES + with_headroom(hub_per);
        let nginx_files = u64::from(worker_connections) * 2;
        // One per subscriber, plus the listener, the database and the publishers.
        let hub_files = n + 1024;
        // Ports the nginx -> hub hop needs: every subscriber, plus a tenth for
        // connections in TIME_WAIT after reconnections.
        let ports = n + n / 10;
        let port_range = (ports > u64::from(DEFAULT_EPHEMERAL_PORTS)).then_some("1024 65535");
        Sizing {
            subscribers,
            nginx_memory,
            hub_memory,
            total_mib: (nginx_memory + hub_memory).div_ceil(MIB),
            hub_memory_limit_mib: hub_memory.div_ceil(MIB),
            worker_connections,
            nginx_files,
            hub_files,
            somaxconn: (subscribers / 4).next_power_of_two().clamp(DEFAULT_SOMAXCONN, 65_535),
            port_range,
            over_port_limit: ports > 65_535 - 1024,
            file_max: nginx_files + hub_files + OTHER_FILES,
        }
    }

    /// The lines `render` prints and INSTALL.md shows.
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![self.memory_line(), self.descriptors_line(), self.somaxconn_line(), self.port_range_line()];
        out.extend(self.port_limit_line());
        out
    }

    /// The short form for the wizard's review: the memory, and the kernel settings only
    /// when they must change from Debian's defaults.
    pub fn short_lines(&self) -> Vec<String> {
        let mut out = vec![self.memory_line()];
        if self.somaxconn > DEFAULT_SOMAXCONN {
            out.push(self.somaxconn_line());
        }
        if self.port_range.is_some() {
            out.push(self.port_range_line());
            out.extend(self.port_limit_line());
        }
        out
    }

    fn memory_line(&self) -> String {
        format!(
            "memory: about {} MiB for nginx and the hub at {} subscribers (nginx {} MiB, hub {} MiB, peak while they connect)",
            self.total_mib,
            self.subscribers,
            self.nginx_memory.div_ceil(MIB),
            self.hub_memory.div_ceil(MIB)
        )
    }

    fn descriptors_line(&self) -> String {
        format!(
            "descriptors: nginx {} (worker_rlimit_nofile), hub {} (its unit allows 1048576); fs.file-max at least {}",
            self.nginx_files, self.hub_files, self.file_max
        )
    }

    fn somaxconn_line(&self) -> String {
        format!("kernel: net.core.somaxconn = {} (Debian 12's default is {DEFAULT_SOMAXCONN})", self.somaxconn)
    }

    fn port_range_line(&self) -> String {
        match self.port_range {
            Some(range) => format!(
                "kernel: net.ipv4.ip_local_port_range = {range} (the default 32768-60999 holds {DEFAULT_EPHEMERAL_PORTS} \
                 nginx -> hub connections)"
            ),
            None => format!(
                "kernel: net.ipv4.ip_local_port_range: the default 32768-60999 holds {DEFAULT_EPHEMERAL_PORTS} nginx -> hub \
                 connections, enough"
            ),
        }
    }

    fn port_limit_line(&self) -> Option<String> {
        self.over_port_limit.then(|| {
            "beyond about 64,000 subscribers one hub address runs out of ports for nginx's connections: run several \
             hubs or machines"
                .to_string()
        })
    }
}

/// nginx `worker_connections` for `subscribers`: each proxied subscriber holds two
/// connections (client and upstream), plus room for ordinary page traffic,
/// rounded up to a multiple of 1024.
pub fn worker_connections_for(subscribers: u32) -> u32 {
    let needed = subscribers.saturating_mul(2).saturating_add(512);
    needed.div_ceil(1024).saturating_mul(1024).max(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_sizing() {
        assert_eq!(worker_connections_for(1), 1024);
        assert_eq!(worker_connections_for(1000), 3072);
        assert_eq!(worker_connections_for(5000), 11264);
    }

    #[test]
    fn ten_thousand_subscribers_fit_the_default_kernel_settings() {
        let s = Sizing::for_subscribers(10_000, false);
        // (48 + 56) KiB x 1.3 x 10,000 + 56 MiB + 21,504 slots x 2 workers x 384 B.
        assert_eq!(s.total_mib, (56 * MIB + 21_504 * 2 * 384 + 10_000_u64 * 104 * 1024 * 13 / 10).div_ceil(MIB));
        // TLS to the hub costs both servers more.
        assert!(Sizing::for_subscribers(10_000, true).total_mib > s.total_mib + 400);
        assert_eq!(s.nginx_files, 2 * 21_504);
        assert_eq!(s.hub_files, 11_024);
        assert_eq!(s.somaxconn, 4096);
        assert_eq!(s.port_range, None);
        assert!(!s.over_port_limit);
        assert_eq!(s.hub_memory_limit_mib, s.hub_memory.div_ceil(MIB));
        assert!(s.lines()[0].starts_with(&format!("memory: about {} MiB", s.total_mib)), "{:?}", s.lines());
        assert_eq!(s.short_lines(), vec![s.lines()[0].clone()]);
    }

    #[test]
    fn beyond_the_default_port_range_the_range_is_widened() {
        let s = Sizing::for_subscribers(30_000, false);
        assert_eq!(s.port_range, Some("1024 65535"));
        assert_eq!(s.somaxconn, 8192);
        assert!(s.lines().iter().any(|l| l.contains("ip_local_port_range = 1024 65535")));
        assert_eq!(s.short_lines().len(), 3, "{:?}", s.short_lines());
        let s = Sizing::for_subscribers(100_000, false);
        assert!(s.over_port_limit);
        assert_eq!(s.somaxconn, 32_768);
        assert_eq!(Sizing::for_subscribers(1_000_000, false).somaxconn, 65_535);
        assert_eq!(Sizing::for_subscribers(1, false).somaxconn, 4096);
    }
}
