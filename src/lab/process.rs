//! The lab's processes: free loopback ports, waiting for a port to open or close, and
//! children that are killed by PID (never by name) when their guard drops.

use std::fs::File;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::LabError;

/// How long a server gets to open its port.
pub const STARTUP: Duration = Duration::from_secs(15);

/// Ports handed out to servers are taken below the kernel's ephemeral range
/// (32768-60999 on Debian), so no outgoing connection borrows one meanwhile.
const PORT_RANGE: std::ops::Range<u16> = 20_000..32_000;

/// A TCP port free on 127.0.0.1 that no other caller in this process was given.
///
/// Asking the kernel for port 0 is not enough: a stack picks its ports before it
/// starts its servers, and meanwhile another thread could be handed the same free
/// port. Each port is therefore handed out once per process, starting at an offset
/// from the process id so that two runs at once (several labs, the test suite) rarely meet.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let span = u32::from(PORT_RANGE.end - PORT_RANGE.start);
    // Scattered by a multiplicative hash: processes started one after another have
    // neighbouring ids, and plain `id % span` would make their port runs overlap.
    let hashed = u32::try_from(u64::from(std::process::id()).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32).unwrap_or(0);
    let offset = hashed % span;
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        assert!(n < span, "ran out of ports in {PORT_RANGE:?}");
        let port = PORT_RANGE.start + u16::try_from((offset + n) % span).unwrap_or(0);
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Waits until something accepts TCP connections on 127.0.0.1:`port`.
pub fn wait_for_port(port: u16, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    false
}

/// Waits until nothing accepts connections on the port any more.
pub fn wait_for_port_closed(port: u16, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200)).is_err() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    false
}

/// A child process killed by PID (and reaped) when dropped, also when a caller panics.
/// A group leader (see [`ChildGuard::group`]) takes its whole process group with it.
pub struct ChildGuard {
    pub child: Child,
    pub name: String,
    group: bool,
}

impl ChildGuard {
    pub fn new(name: &str, child: Child) -> Self {
        ChildGuard { child, name: name.to_string(), group: false }
    }

    /// For a child started with `process_group(0)` that forks workers (nginx with a
    /// master process): dropping it kills the group whose id is the child's PID.
    pub fn group(name: &str, child: Child) -> Self {
        ChildGuard { child, name: name.to_string(), group: true }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if self.group {
            let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", self.child.id())]).status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A file's text, lossily decoded; empty when it cannot be read.
pub fn read_lossy(path: &Path) -> String {
    std::fs::read(path).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
}

/// Starts `cmd` with its output in `log` and waits for `port`; the error carries the log.
pub fn start_server(name: &str, mut cmd: Command, log: &Path, port: u16) -> Result<ChildGuard, LabError> {
    let io = |e: std::io::Error| LabError::Io(format!("{name}: {}: {e}", log.display()));
    let f = File::create(log).map_err(io)?;
    let out = Stdio::from(f.try_clone().map_err(io)?);
    let child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(Stdio::from(f))
        .spawn()
        .map_err(|e| LabError::Start(format!("cannot start {name}: {e}")))?;
    let mut guard = ChildGuard::new(name, child);
    if !wait_for_port(port, STARTUP) {
        let status = guard.child.try_wait().ok().flatten();
        return Err(LabError::Start(format!(
            "{name} did not open 127.0.0.1:{port} (exit: {status:?}); its log:\n{}",
            read_lossy(log)
        )));
    }
    Ok(guard)
}
