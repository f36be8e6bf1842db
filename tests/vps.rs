//! The VPS acceptance test: a fresh Debian 12 VM (debootstrap image, booted under QEMU
//! with TCG, isolated on a restricted user network) gets a bundle with `apply`, and the
//! result is proven from the host: services active under systemd, doctor passes through
//! the forwarded port, a reboot brings both back, a second apply does nothing, a
//! re-render changes only what differs, and injected failures roll back to the previous
//! working state. Timings are printed (image, boot, total).

use std::fmt::Write as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::support::{ChildGuard, free_port, require_tool, stderr, stdout};

const DOMAIN: &str = "vps.example.test";
const FIXTURE: &str = "end-to-end-tls-hs256-nginx122.yaml";
/// The guest port the relay to the hub listens on (tests/vps/relay.py).
const RELAY_PORT: u16 = 18443;
/// Where the guest reaches the ACME server (a QEMU guestfwd to Pebble on the host).
const ACME_ADDR: &str = "10.0.2.100:14000";
const ACME_NAME: &str = "acme.test";
const ACME_DOMAIN: &str = "acme.example.test";

struct Vm {
    /// The running QEMU; a reboot ends it and starts another on the same disk.
    qemu: Option<ChildGuard>,
    image: PathBuf,
    /// The guest's disk: a qcow2 layer over the cached image, which stays as it was.
    disk: PathBuf,
    share: PathBuf,
    /// The guest's serial console, appended to by each QEMU.
    console: PathBuf,
    acme: Option<(u16, u16)>,
    n: u32,
    /// Host ports forwarded to the guest's 443 and to the hub relay.
    https: u16,
    hub: u16,
}

impl Vm {
    /// Boots the cached `image` folder (scripts/vps-image.sh) with a fresh disk layer in
    /// `dir`. `acme`: the host port forwarded to the guest's :80 (where the ACME server
    /// validates) and the host port of the ACME server, which the guest reaches as `ACME_ADDR`.
    fn boot(image: &Path, dir: &Path, share: &Path, acme: Option<(u16, u16)>) -> Vm {
        let qemu_img = require_tool("qemu-img", "apt-get install qemu-utils");
        let disk = dir.join("disk.qcow2");
        let o = Command::new(qemu_img)
            .args(["create", "-q", "-f", "qcow2", "-F", "raw", "-b"])
            .arg(image.join("image.raw"))
            .arg(&disk)
            .output()
            .unwrap();
        assert!(o.status.success(), "qemu-img create: {}", stderr(&o));
        std::fs::create_dir_all(share.join("cmd")).unwrap();
        let mut vm = Vm {
            qemu: None,
            image: image.into(),
            disk,
            share: share.to_path_buf(),
            console: dir.join("console.log"),
            acme,
            n: 0,
            https: free_port(),
            hub: free_port(),
        };
        vm.start();
        vm.wait_boots(1);
        vm.settle();
        vm
    }

    fn start(&mut self) {
        let qemu = require_tool("qemu-system-x86_64", "apt-get install qemu-system-x86");
        let (https, hub) = (self.https, self.hub);
        let mut net = format!(
            "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:{https}-:443,hostfwd=tcp:127.0.0.1:{hub}-:{RELAY_PORT}"
        );
        if let Some((http, acme)) = self.acme {
            let _ = write!(
                net,
                ",hostfwd=tcp:127.0.0.1:{http}-:80,guestfwd=tcp:{ACME_ADDR}-cmd:bash {} {acme}",
                Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vps/acme-forward.sh").display()
            );
        }
        // TCG: under KVM (nested, on these machines) the guest kernel prints nothing after the
        // boot loader's "Probing EDD" and hangs, with q35 or pc and -cpu host or max alike.
        // One vCPU: on a loaded host two vCPU threads starve each other (RCU stalls, soft
        // lockups). -nodefaults: no VGA, CD-ROM or parallel port to probe at boot.
        // -no-reboot: a guest reboot ends QEMU and `reboot` starts a new one, as a warm
        // reset under TCG made the next kernel boot take minutes instead of seconds.
        let child = Command::new(qemu)
            .args(["-machine", "q35,accel=tcg", "-cpu", "max", "-m", "1536", "-smp", "1", "-nodefaults", "-no-reboot"])
            .arg("-kernel")
            .arg(self.image.join("vmlinuz"))
            .arg("-initrd")
            .arg(self.image.join("initrd.img"))
            .args(["-append", "root=/dev/vda rw console=ttyS0 net.ifnames=0"])
            .arg("-drive")
            .arg(format!("file={},format=qcow2,if=virtio", self.disk.display()))
            .args(["-netdev", &net, "-device", "virtio-net-pci,netdev=n0"])
            .arg("-virtfs")
            .arg(format!("local,path={},mount_tag=host,security_model=none,id=host", self.share.display()))
            .args(["-display", "none", "-monitor", "none"])
            .arg("-chardev")
            .arg(format!("file,id=console,path={},append=on", self.console.display()))
            .args(["-serial", "chardev:console"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.qemu = Some(ChildGuard::new("qemu", child));
    }

    /// Waits until the guest's boot has finished (every unit started or failed): the agent
    /// runs as soon as the share is mounted, before the hub and nginx are up.
    fn settle(&mut self) {
        let state = self.sh("systemctl is-system-running --wait").1;
        assert_eq!(state.trim(), "running", "the guest booted {state}: {}", self.sh("systemctl --failed --no-pager").1);
    }

    fn boots(&self) -> usize {
        std::fs::read_dir(self.share.join("out")).map_or(0, |d| {
            d.filter_map(Result::ok).filter(|e| e.file_name().to_string_lossy().starts_with("boot.")).count()
        })
    }

    fn wait_boots(&self, n: usize) {
        let t = Instant::now();
        while self.boots() < n {
            assert!(t.elapsed() < Duration::from_secs(600), "the VM did not boot in 600 s; see {}", self.console());
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    fn console(&self) -> String {
        let text = std::fs::read_to_string(&self.console).unwrap_or_default();
        text.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    /// Runs a bash script as root in the guest: (exit code, output).
    fn sh(&mut self, script: &str) -> (i32, String) {
        self.n += 1;
        let name = format!("{:03}", self.n);
        let cmd = self.share.join("cmd");
        std::fs::write(cmd.join(format!("{name}.tmp")), script).unwrap();
        std::fs::rename(cmd.join(format!("{name}.tmp")), cmd.join(format!("{name}.sh"))).unwrap();
        let rc = self.share.join(format!("out/{name}.rc"));
        let t = Instant::now();
        while !rc.exists() {
            assert!(t.elapsed() < Duration::from_secs(600), "guest script {name} did not finish:\n{script}");
            std::thread::sleep(Duration::from_millis(200));
        }
        let log = std::fs::read_to_string(self.share.join(format!("out/{name}.log"))).unwrap_or_default();
        (std::fs::read_to_string(rc).unwrap().trim().parse().unwrap(), log)
    }

    fn ok(&mut self, script: &str) -> String {
        let (rc, log) = self.sh(script);
        assert_eq!(rc, 0, "guest script failed:\n{script}\n---\n{log}");
        log
    }

    /// Reboots the guest (`systemctl reboot`: every service stopped, the disk synced; QEMU
    /// then exits and a new one boots the same disk); returns where the time went.
    fn reboot(&mut self) -> String {
        let before = self.boots();
        // A second later, so this script returns first; a timer's default accuracy is a minute.
        self.ok("systemd-run --on-active=1 --timer-property=AccuracySec=100ms systemctl reboot");
        let t = Instant::now();
        let qemu = &mut self.qemu.as_mut().unwrap().child;
        while qemu.try_wait().unwrap().is_none() {
            assert!(t.elapsed() < Duration::from_secs(300), "the guest did not shut down in 300 s: {}", self.console());
            std::thread::sleep(Duration::from_millis(200));
        }
        let down = t.elapsed().as_secs();
        self.start();
        self.wait_boots(before + 1);
        let back = t.elapsed().as_secs();
        self.settle();
        let boot = self.ok("systemd-analyze | head -n 1");
        format!("down after {down} s, agent back after {back} s; {}", boot.trim())
    }

    /// Starts (or moves) the relay from the guest's `RELAY_PORT` to the hub's loopback port.
    fn relay(&mut self, hub_port: u16) {
        self.ok(&format!(
            "systemctl stop vps-relay 2>/dev/null; systemctl reset-failed vps-relay 2>/dev/null; \
             systemd-run --unit vps-relay python3 /mnt/host/relay.py {hub_port}; \
             for i in $(seq 150); do ss -ltn | grep -q ':{RELAY_PORT} ' && exit 0; sleep 0.2; done; exit 1"
        ));
    }
}

/// Names, modes, owners, link targets and hashes under `dirs` (one line each).
fn fingerprint(dirs: &str) -> String {
    format!(
        "find {dirs} -xdev -printf '%p %m %u %g %l\\n' | sort; \
         find {dirs} -xdev -type f -print0 | sort -z | xargs -0 sha256sum"
    )
}

/// Files that change on their own while the machine runs.
const VOLATILE: &str = "grep -v -e /var/lib/systemd/";

fn render(share: &Path, sets: &[&str]) {
    render_to(share, "bundle", DOMAIN, sets);
}

fn render_to(share: &Path, dir: &str, domain: &str, sets: &[&str]) {
    render_fixture(share, dir, FIXTURE, domain, sets);
}

fn render_fixture(share: &Path, dir: &str, fixture: &str, domain: &str, sets: &[&str]) {
    let answers = crate::support::fixture(fixture);
    let out = share.join(dir);
    let domain = format!("domain={domain}");
    let mut args = vec!["render", "--answers", answers.to_str().unwrap(), "--out", out.to_str().unwrap()];
    args.extend(["--set", &domain]);
    for s in sets {
        args.extend(["--set", s]);
    }
    let o = crate::support::run(&args);
    assert!(o.status.success(), "render: {}", stderr(&o));
}

/// doctor on the host, through the forwarded ports: the public side at DOMAIN:https and the
/// hub through the relay. `MERCURE_URL` names the public URL, which the host reaches on
/// the forwarded port, so the host's copy of the bundle says so.
fn host_doctor(vm: &Vm, share: &Path, tmp: &Path) -> String {
    let copy = tmp.join("host-bundle");
    let _ = std::fs::remove_dir_all(&copy);
    let o = Command::new("cp").arg("-a").arg(share.join("bundle")).arg(&copy).output().unwrap();
    assert!(o.status.success());
    let public = format!("https://{DOMAIN}:{}/.well-known/mercure", vm.https);
    let env = copy.join("symfony/.env.local");
    let text = std::fs::read_to_string(&env).unwrap();
    let text = text.replace(&format!("https://{DOMAIN}/.well-known/mercure"), &public);
    std::fs::write(&env, text).unwrap();
    let ca = share.join("pub/ca.pem");
    let args = [
        "doctor",
        "--bundle",
        copy.to_str().unwrap(),
        "--public-url",
        &public,
        "--hub-url",
        &format!("https://127.0.0.1:{}/.well-known/mercure", vm.hub),
        "--resolve",
        &format!("{DOMAIN}:{}:127.0.0.1", vm.https),
        "--public-ca",
        ca.to_str().unwrap(),
        "--timeout",
        "15s",
    ];
    let o = crate::support::run(&args);
    assert!(o.status.success(), "doctor from the host failed:\n{}{}", stdout(&o), stderr(&o));
    stdout(&o)
}

fn apply_cmd(extra: &str) -> String {
    format!(
        "cd /root && rm -rf bundle && cp -r /mnt/host/bundle bundle && mercure-setup apply bundle --public-ca /mnt/host/pub/ca.pem {extra}"
    )
}

/// What the site answers through nginx in the guest (the status line of a subscribe without a token).
const SITE_ANSWERS: &str = "curl -s -o /dev/null -w '%{http_code}\\n' --cacert /mnt/host/pub/ca.pem \
    --resolve vps.example.test:443:127.0.0.1 'https://vps.example.test/.well-known/mercure?topic=x'";

/// One VM at a time: each takes a core, and the machine has two.
static ONE_VM: Mutex<()> = Mutex::new(());

/// What every VM test starts from.
struct Setup {
    _one_vm: MutexGuard<'static, ()>,
    /// Kept (not deleted) with `MERCURE_VPS_KEEP=1`, to look at the share, console log and Pebble's files.
    tmp: tempfile::TempDir,
    /// The guest's /mnt/host: this mercure-setup and the real hub already in it.
    share: PathBuf,
    /// The cached image folder (scripts/vps-image.sh) and how long getting it took.
    image: PathBuf,
    image_secs: u64,
    /// When this test got the VM lock (its own time starts there).
    started: Instant,
}

fn setup() -> Setup {
    let one_vm = ONE_VM.lock().unwrap_or_else(PoisonError::into_inner);
    let started = Instant::now();
    let mut tmp = tempfile::tempdir().unwrap();
    if std::env::var_os("MERCURE_VPS_KEEP").is_some() {
        tmp.disable_cleanup(true);
        eprintln!("vps: keeping {}", tmp.path().display());
    }
    let share = tmp.path().join("share");
    std::fs::create_dir_all(&share).unwrap();
    let t = Instant::now();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/vps-image.sh");
    let o = Command::new(&script).output().unwrap();
    assert!(o.status.success(), "scripts/vps-image.sh failed (needs root, debootstrap, e2fsprogs):\n{}", stderr(&o));
    let image = PathBuf::from(stdout(&o).lines().last().unwrap().trim());
    let image_secs = t.elapsed().as_secs();
    std::fs::copy(crate::support::bin(), share.join("mercure-setup")).unwrap();
    std::fs::copy(crate::apply::hub_binary(), share.join("mercure")).unwrap();
    Setup { _one_vm: one_vm, tmp, share, image, image_secs, started }
}

#[test]
#[allow(clippy::too_many_lines)]
fn a_fresh_debian_vps_goes_live_with_apply() {
    let Setup { _one_vm, tmp, share, image, image_secs, started: total } = setup();
    // What the guest gets besides: the relay, a bundle, a certificate from a test CA.
    std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vps/relay.py"), share.join("relay.py")).unwrap();
    let tls = crate::support::stack::public_tls(&share.join("pub"), DOMAIN);
    assert!(tls.ca.ends_with("ca.pem"));
    render(&share, &["hub.port=8443"]);
    // A hub that answers `version` and `validate` but exits at once when started.
    std::fs::write(
        share.join("dying-hub"),
        "#!/bin/sh\ncase \"$1\" in version) exec /root/mercure version ;; validate) exit 0 ;; *) exit 1 ;; esac\n",
    )
    .unwrap();

    let pebble = Pebble::start(tmp.path());
    let t = Instant::now();
    let mut vm = Vm::boot(&image, tmp.path(), &share, Some((pebble.http, pebble.acme)));
    let boot_secs = t.elapsed().as_secs();

    vm.ok(&format!(
        "set -e; install -d /etc/letsencrypt/live/{DOMAIN}; \
         install -m 0644 /mnt/host/pub/fullchain.pem /etc/letsencrypt/live/{DOMAIN}/fullchain.pem; \
         install -m 0600 /mnt/host/pub/privkey.pem /etc/letsencrypt/live/{DOMAIN}/privkey.pem; \
         install -m 0755 /mnt/host/mercure-setup /usr/local/sbin/mercure-setup; \
         install -m 0755 /mnt/host/mercure /root/mercure; install -m 0755 /mnt/host/dying-hub /root/dying-hub"
    ));

    // --dry-run changes nothing in /etc and /var/lib.
    let before = vm.ok(&format!("{} | {VOLATILE}", fingerprint("/etc /var/lib")));
    let dry = vm.ok(&apply_cmd("--hub-binary /root/mercure --dry-run"));
    assert!(dry.contains("dry run: nothing was changed") && dry.contains("+\tworker_connections 3072;"), "{dry}");
    let after = vm.ok(&format!("{} | {VOLATILE}", fingerprint("/etc /var/lib")));
    assert_eq!(before, after, "--dry-run changed /etc or /var/lib");

    // Without --yes and without a terminal: exit 2.
    let (rc, log) = vm.sh(&apply_cmd("--hub-binary /root/mercure"));
    assert_eq!(rc, 2, "{log}");

    // apply --yes: both services active, the hub as Type=notify under the unit's hardening.
    let t = Instant::now();
    let log = vm.ok(&apply_cmd("--hub-binary /root/mercure --yes"));
    let apply_secs = t.elapsed().as_secs();
    assert!(log.contains("11 passed, 0 failed, 0 skipped") || log.contains("passed, 0 failed, 0 skipped"), "{log}");
    let state = vm.ok(
        "systemctl is-active mercure nginx; for p in Type User ProtectSystem; do systemctl show mercure -p $p --value; done",
    );
    assert_eq!(state, "active\nactive\nnotify\nmercure\nstrict\n", "{state}");
    // The hub writes only its state folder: everything it owns is there, or installed for it;
    // and in its own mount namespace, as its user, nothing else is writable but its runtime
    // folder (the admin socket) and its private /tmp and /var/tmp (the 9p share is the test's).
    let owned = vm.ok("find / -xdev -user mercure -not -path '/var/lib/mercure*' | sort");
    assert_eq!(owned, "/etc/mercure/tls/hub.crt\n/etc/mercure/tls/hub.key\n", "{owned}");
    let as_hub = "nsenter -t \"$(systemctl show -p MainPID --value mercure)\" -m -U \
        --setuid \"$(id -u mercure)\" --setgid \"$(id -g mercure)\" --";
    let writable = vm.ok(&format!(
        "{as_hub} find / \\( -path /proc -o -path /sys -o -path /mnt/host \\) -prune -o \
         \\( -type d -o -type f \\) -writable -print 2>/dev/null | grep -v '^/var/lib/mercure\\(/\\|$\\)' | sort"
    ));
    assert_eq!(writable, "/run/mercure\n/tmp\n/var/tmp\n", "the hub can write outside its state folder");
    vm.ok(&format!("{as_hub} touch /tmp/vps-probe /var/tmp/vps-probe && ! ls /tmp/vps-probe /var/tmp/vps-probe"));
    // systemd-analyze security rates the running unit in the VM as `check` rates the bundle's
    // (offline, on the host): the same exposure, within check's limit.
    let in_vm = exposure(&vm.ok("systemd-analyze security mercure.service"));
    let o = crate::support::run(&["check", share.join("bundle").to_str().unwrap()]);
    let on_host = stdout(&o)
        .lines()
        .find_map(|l| l.split("systemd-analyze security: exposure ").nth(1))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("check printed no exposure:\n{}{}", stdout(&o), stderr(&o)));
    let limit = mercure_setup::check::tools::MAX_EXPOSURE;
    assert!(in_vm <= limit, "exposure in the VM {in_vm}, above check's limit {limit}");
    assert_eq!(format!("{in_vm:.1}"), format!("{on_host:.1}"), "exposure in the VM and by check");

    vm.relay(8443);
    host_doctor(&vm, &share, tmp.path());

    // A subscriber on the host receives an update published inside the VM with the
    // bundle's MERCURE_URL and publisher token.
    let curl = require_tool("curl", "apt-get install curl");
    let sub_token = std::fs::read_to_string(share.join("bundle/tokens/subscriber.jwt")).unwrap();
    let mut sub = Command::new(curl)
        .args(["-sN", "--max-time", "60", "--cacert"])
        .arg(&tls.ca)
        .args(["--resolve", &format!("{DOMAIN}:{}:127.0.0.1", vm.https), "-H"])
        .arg(format!("Authorization: Bearer {}", sub_token.trim()))
        .arg(format!("https://{DOMAIN}:{}/.well-known/mercure?topic=https://{DOMAIN}/vps", vm.https))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    vm.ok(&format!(
        "cd /root/bundle && url=$(sed -n 's/^MERCURE_URL=//p' symfony/.env.local) && \
         curl -sf --cacert /mnt/host/pub/ca.pem --resolve {DOMAIN}:443:127.0.0.1 \
         -H \"Authorization: Bearer $(cat tokens/publisher.jwt)\" \
         -d topic=https://{DOMAIN}/vps -d data=hello-from-the-vm \"$url\""
    ));
    let mut got = String::new();
    let mut out = sub.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut text = String::new();
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 {
                break;
            }
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
            if text.contains("hello-from-the-vm") {
                break;
            }
        }
        text
    });
    let t = Instant::now();
    while !reader.is_finished() && t.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = sub.kill();
    let _ = sub.wait();
    if let Ok(text) = reader.join() {
        got = text;
    }
    assert!(got.contains("data: hello-from-the-vm"), "the host subscriber got: {got}");

    // Reboot: both services come back, doctor passes again.
    let t = Instant::now();
    let reboot_detail = vm.reboot();
    let reboot_secs = t.elapsed().as_secs();
    eprintln!("vps: reboot {reboot_secs} s: {reboot_detail}");
    assert_eq!(vm.ok("systemctl is-active mercure nginx"), "active\nactive\n");
    vm.relay(8443);
    host_doctor(&vm, &share, tmp.path());

    // The same bundle again: nothing to do.
    let again = vm.ok(&apply_cmd("--yes"));
    assert!(again.contains("nothing to do"), "{again}");

    // Re-rendered with another hub port: only the Caddyfile and the site change; doctor passes.
    render(&share, &["hub.port=9443"]);
    let log = vm.ok(&apply_cmd("--yes"));
    let todo: Vec<&str> = log.lines().filter(|l| l.starts_with("+ ")).collect();
    assert_eq!(todo.len(), 2, "{log}");
    assert!(todo[0].contains("/etc/mercure/Caddyfile") && todo[1].contains("sites-available"), "{log}");
    assert!(log.contains("then: mercure validate; nginx -t; systemctl enable mercure; systemctl restart mercure; systemctl reload nginx"), "{log}");
    vm.relay(9443);
    host_doctor(&vm, &share, tmp.path());

    // Injected failures: each leaves /etc as it was, nginx -t passing and the site answering.
    let etc = |vm: &mut Vm| vm.ok(&fingerprint("/etc"));
    let site_before = vm.ok(SITE_ANSWERS);
    let check_restored = |vm: &mut Vm, etc_before: &str, what: &str| {
        assert_eq!(etc(vm), etc_before, "{what}: /etc differs from before");
        vm.ok("nginx -t -q");
        assert_eq!(vm.ok("systemctl is-active mercure nginx"), "active\nactive\n", "{what}");
        assert_eq!(vm.ok(SITE_ANSWERS), site_before, "{what}: the site answers differently");
    };

    // 1. Another program holds the new hub port: refused before any change (exit 3).
    let etc_before = etc(&mut vm);
    render(&share, &["hub.port=9555"]);
    vm.ok("systemd-run --unit vps-holder python3 -m http.server 9555 --bind 127.0.0.1 && \
         for i in $(seq 150); do ss -ltn | grep -q '127.0.0.1:9555 ' && exit 0; sleep 0.2; done; exit 1");
    let (rc, log) = vm.sh(&apply_cmd("--yes"));
    assert_eq!(rc, 3, "{log}");
    assert!(log.contains("the hub port 127.0.0.1:9555 is taken"), "{log}");
    vm.ok("systemctl stop vps-holder");
    check_restored(&mut vm, &etc_before, "port held");

    // 2. A hub binary that exits at once: the restart fails, everything is rolled back.
    render(&share, &["hub.port=9443"]);
    let (rc, log) = vm.sh(&apply_cmd("--yes --hub-binary /root/dying-hub"));
    assert_eq!(rc, 1, "{log}");
    assert!(log.contains("step `systemctl restart mercure` failed") && log.contains("rolled back"), "{log}");
    check_restored(&mut vm, &etc_before, "dying hub");

    // 3. A site that fails nginx -t: rolled back.
    let site = share.join(format!("bundle/nginx/{DOMAIN}.conf"));
    let text = std::fs::read_to_string(&site).unwrap();
    std::fs::write(&site, text.replacen("server {", "server {\n\tno_such_directive on;", 1)).unwrap();
    // The edit differs from what render recorded: accepted, so that nginx -t sees it.
    let (rc, log) = vm.sh(&apply_cmd("--yes --accept-edits"));
    assert_eq!(rc, 1, "{log}");
    assert!(log.contains("step `nginx -t` failed") && log.contains("rolled back"), "{log}");
    check_restored(&mut vm, &etc_before, "broken site");
    host_doctor(&vm, &share, tmp.path());

    let t = Instant::now();
    certbot_scenario(&mut vm, &share, &pebble);
    let certbot_secs = t.elapsed().as_secs();

    // The live 0.24 deployment moves to Mercure 1.0 with apply, as INSTALL.md's upgrade
    // section orders it: rendered again for 1.0-compat (the 1.0 release, cut-over tokens),
    // then for strict 1.0; apply's own doctor run passes after each step.
    let t = Instant::now();
    let hub10 = crate::support::hub_binary_of(crate::support::HUB10_RELEASE);
    std::fs::copy(hub10, share.join("mercure-1.0")).unwrap();
    vm.ok("install -m 0755 /mnt/host/mercure-1.0 /root/mercure-1.0");
    for line in ["1.0-compat", "1.0"] {
        render_to(&share, "bundle-acme", ACME_DOMAIN, &["hub.port=9443", &format!("hub.version={line}")]);
        let log = vm.ok(
            "cd /root && rm -rf bundle-acme && cp -r /mnt/host/bundle-acme bundle-acme && \
             mercure-setup apply bundle-acme --yes --hub-binary /root/mercure-1.0 --public-ca /mnt/host/pebble-root.pem",
        );
        assert!(log.contains("passed, 0 failed"), "apply for hub.version {line}:\n{log}");
        let version = vm.ok("/usr/local/bin/mercure version");
        assert!(version.contains(crate::support::HUB10_RELEASE), "{version}");
    }
    let migration_secs = t.elapsed().as_secs();

    eprintln!(
        "vps timings: image {image_secs} s, boot {boot_secs} s, first apply {apply_secs} s, reboot {reboot_secs} s, \
         certbot scenario {certbot_secs} s, migration to 1.0 {migration_secs} s, total {} s; hub unit exposure {in_vm:.1} in the VM, {on_host:.1} by check",
        total.elapsed().as_secs(),
    );
}

/// The overall exposure in `systemd-analyze security` output.
fn exposure(text: &str) -> f64 {
    text.lines()
        .find_map(|l| l.split("Overall exposure level for mercure.service: ").nth(1))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no overall exposure in:\n{text}"))
}

/// Pebble (the ACME test server) and its DNS companion on the host, both stopped by PID.
struct Pebble {
    _servers: Vec<ChildGuard>,
    /// Pebble's ACME port, and the host port Pebble validates HTTP-01 on (forwarded to the guest's :80).
    acme: u16,
    http: u16,
    management: u16,
    /// The CA that signs Pebble's own HTTPS listener (certbot must trust it).
    listener_ca: PathBuf,
}

impl Pebble {
    fn start(tmp: &Path) -> Pebble {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pebble.sh");
        let o = Command::new(&script).output().unwrap();
        assert!(o.status.success(), "scripts/pebble.sh failed (needs Go): {}", stderr(&o));
        let bin = PathBuf::from(stdout(&o).lines().last().unwrap().trim());
        let dir = tmp.join("pebble");
        let tls = crate::support::stack::public_tls(&dir, ACME_NAME);
        let (acme, http, management, dns) = (free_port(), free_port(), free_port(), free_port());
        let config = serde_json::json!({"pebble": {
            "listenAddress": format!("127.0.0.1:{acme}"),
            "managementListenAddress": format!("127.0.0.1:{management}"),
            "certificate": tls.cert, "privateKey": tls.key,
            "httpPort": http, "tlsPort": free_port(),
            "ocspResponderURL": "", "externalAccountBindingRequired": false
        }});
        std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
        // Every name resolves to 127.0.0.1, where the guest's :80 is forwarded.
        let dns_server = Command::new(bin.join("pebble-challtestsrv"))
            .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", "", "-dnsserver", &format!("127.0.0.1:{dns}")])
            .args(["-doh", "", "-http01", "", "-https01", "", "-tlsalpn01", ""])
            .args(["-management", &format!("127.0.0.1:{}", free_port())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let pebble = Command::new(bin.join("pebble"))
            .arg("-config")
            .arg(dir.join("config.json"))
            .args(["-dnsserver", &format!("127.0.0.1:{dns}")])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let servers = vec![ChildGuard::new("pebble-challtestsrv", dns_server), ChildGuard::new("pebble", pebble)];
        assert!(crate::support::stack::wait_for_port(acme, Duration::from_secs(30)), "pebble did not listen");
        Pebble { _servers: servers, acme, http, management, listener_ca: tls.ca }
    }

    /// The root that signs the certificates Pebble issues (new on every Pebble start).
    fn issuing_root(&self) -> String {
        let curl = require_tool("curl", "apt-get install curl");
        let o = Command::new(curl)
            .args(["-sf", "--cacert"])
            .arg(&self.listener_ca)
            .args(["--resolve", &format!("{ACME_NAME}:{}:127.0.0.1", self.management)])
            .arg(format!("https://{ACME_NAME}:{}/roots/0", self.management))
            .output()
            .unwrap();
        assert!(o.status.success(), "pebble's root: {}", stderr(&o));
        stdout(&o)
    }
}

/// The serial of the certificate nginx serves for `name`, seen from the host.
fn served_serial(port: u16, name: &str) -> String {
    let openssl = require_tool("openssl", "apt-get install openssl");
    let sh = format!(
        "{} s_client -connect 127.0.0.1:{port} -servername {name} </dev/null 2>/dev/null | {} x509 -noout -serial",
        openssl.display(),
        openssl.display()
    );
    let o = Command::new("sh").arg("-c").arg(sh).output().unwrap();
    stdout(&o).trim().to_string()
}

/// `apply --certbot` on a bundle without a certificate: certbot (webroot) obtains one from
/// Pebble with a deploy hook; nginx serves it; a forced renewal is served with no other step.
fn certbot_scenario(vm: &mut Vm, share: &Path, pebble: &Pebble) {
    render_to(share, "bundle-acme", ACME_DOMAIN, &["hub.port=9443"]);
    std::fs::copy(&pebble.listener_ca, share.join("acme-listener-ca.pem")).unwrap();
    std::fs::write(share.join("pebble-root.pem"), pebble.issuing_root()).unwrap();
    let acme_ip = ACME_ADDR.split(':').next().unwrap();
    vm.ok(&format!(
        "echo '{acme_ip} {ACME_NAME}' >> /etc/hosts; \
         printf 'server = https://{ACME_NAME}:{}/dir\\n' > /etc/letsencrypt/cli.ini",
        ACME_ADDR.split(':').nth(1).unwrap()
    ));
    let env = "REQUESTS_CA_BUNDLE=/mnt/host/acme-listener-ca.pem";
    let log = vm.ok(&format!(
        "cd /root && rm -rf bundle-acme && cp -r /mnt/host/bundle-acme bundle-acme && \
         {env} mercure-setup apply bundle-acme --yes --certbot ops@example.test --public-ca /mnt/host/pebble-root.pem"
    ));
    assert!(log.contains("passed, 0 failed, 0 skipped"), "{log}");
    let hook = vm.ok(&format!("grep -h hook /etc/letsencrypt/renewal/{ACME_DOMAIN}.conf"));
    assert!(hook.contains("systemctl reload nginx"), "no deploy hook saved: {hook}");
    assert!(
        !vm.ok("ls /etc/nginx/conf.d/").contains("mercure-setup-acme"),
        "the temporary ACME server was left behind"
    );
    let first = served_serial(vm.https, ACME_DOMAIN);
    let file = vm.ok(&format!("openssl x509 -noout -serial -in /etc/letsencrypt/live/{ACME_DOMAIN}/fullchain.pem"));
    assert_eq!(first, file.trim(), "nginx does not serve the certificate certbot obtained");
    vm.ok(&format!("{env} certbot renew --force-renewal --no-random-sleep-on-renew -q"));
    let renewed = vm.ok(&format!("openssl x509 -noout -serial -in /etc/letsencrypt/live/{ACME_DOMAIN}/fullchain.pem"));
    assert_ne!(renewed.trim(), first, "certbot did not renew");
    let t = Instant::now();
    loop {
        let served = served_serial(vm.https, ACME_DOMAIN);
        if served == renewed.trim() {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "nginx still serves {served} after the renewal ({})",
            renewed.trim()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// INSTALL.md's `sh` blocks, by section heading (`## 1. ...`), in order.
fn install_md_blocks(text: &str) -> Vec<(String, Vec<String>)> {
    let mut sections: Vec<(String, Vec<String>)> = Vec::new();
    let mut block: Option<String> = None;
    for line in text.lines() {
        match (&mut block, line) {
            (None, l) if l.starts_with("## ") => sections.push((l.to_string(), Vec::new())),
            (None, "```sh") => block = Some(String::new()),
            (Some(b), "```") => {
                if let Some((_, blocks)) = sections.last_mut() {
                    blocks.push(std::mem::take(b));
                }
                block = None;
            }
            (Some(b), l) => {
                b.push_str(l);
                b.push('\n');
            }
            _ => {}
        }
    }
    sections
}

const HAND_FIXTURE: &str = "same-host-http-hs512-cors-nginx126.yaml";
const HAND_DOMAIN: &str = "shop.example.org";

/// INSTALL.md followed by hand on a fresh VM gives the machine `apply` makes: every command
/// as the file writes it, except the two downloads (the release archive and its checksums
/// are put in place instead), the certbot route (a certificate is given; the first test
/// covers certbot) and PHP's cache clear (the VM has no PHP). doctor, run as the file says,
/// passes, and `apply` then finds nothing to do. The other topology and fixture than the
/// first test: same-host-http, HS512, the admin API on loopback, a Symfony project present.
///
/// Then a third set of answers goes over it with `apply` (end-to-end-tls, ES256 with
/// Symfony's private key, no admin API, CORS, its own certificate paths and project):
/// apply passes its own doctor run, doctor as INSTALL.md says passes, a second apply has
/// nothing to do.
#[test]
fn install_md_by_hand_is_what_apply_does() {
    let Setup { _one_vm, tmp, share, image, image_secs, started: total } = setup();
    let tls = crate::support::stack::public_tls(&share.join("pub"), HAND_DOMAIN);
    render_fixture(&share, "bundle", HAND_FIXTURE, HAND_DOMAIN, &["nginx.version=1.22.1"]);
    // The release archive as downloaded, beside its checksums, in the bundle folder.
    let archive = "mercure_Linux_x86_64.tar.gz";
    let tar = require_tool("tar", "apt-get install tar");
    let o = Command::new(tar)
        .arg("-czf")
        .arg(share.join("bundle").join(archive))
        .arg("-C")
        .arg(&share)
        .arg("mercure")
        .output();
    assert!(o.unwrap().status.success());
    let sum = Command::new("sha256sum").arg(archive).current_dir(share.join("bundle")).output().unwrap();
    std::fs::write(share.join("bundle/checksums.txt"), &sum.stdout).unwrap();
    let doc = std::fs::read_to_string(share.join("bundle/INSTALL.md")).unwrap();
    let sections = install_md_blocks(&doc);
    let section = |n: &str| -> Vec<String> {
        let found = sections.iter().find(|(h, _)| h.starts_with(&format!("## {n}. ")));
        found.unwrap_or_else(|| panic!("INSTALL.md has no section {n}: {sections:?}")).1.clone()
    };
    let (s1, s2, s3, s4, s5) = (section("1"), section("2"), section("3"), section("4"), section("5"));
    assert!(s1[0].contains("curl -fLO") && s3[0].contains("certbot certonly") && s4[1].contains("cache:clear"));
    let download: String = s1[0].lines().filter(|l| !l.starts_with("curl ")).flat_map(|l| [l, "\n"]).collect();
    let mut script = vec![download, s1[1].clone()];
    script.extend(s2);
    script.extend(s3[1..].iter().cloned());
    script.push(s4[0].clone());
    script.extend(s5);
    let script: String = script.concat();
    assert!(script.contains("mercure-setup doctor . --resolve"), "{script}");

    let t = Instant::now();
    let mut vm = Vm::boot(&image, tmp.path(), &share, None);
    let boot_secs = t.elapsed().as_secs();
    // What the person has before INSTALL.md: mercure-setup, the public certificate (here from
    // a test CA the machine trusts), and the Symfony project.
    vm.ok(&format!(
        "set -e; install -m 0644 /mnt/host/pub/ca.pem /usr/local/share/ca-certificates/vps-test.crt; \
         update-ca-certificates >/dev/null; install -d /etc/letsencrypt/live/{HAND_DOMAIN}; \
         install -m 0644 /mnt/host/pub/fullchain.pem /etc/letsencrypt/live/{HAND_DOMAIN}/fullchain.pem; \
         install -m 0600 /mnt/host/pub/privkey.pem /etc/letsencrypt/live/{HAND_DOMAIN}/privkey.pem; \
         install -m 0755 /mnt/host/mercure-setup /usr/local/sbin/mercure-setup; install -d /srv/shop/config/packages"
    ));
    assert!(tls.ca.ends_with("ca.pem"));
    std::fs::write(share.join("by-hand.sh"), &script).unwrap();
    let t = Instant::now();
    let log = vm.ok(
        "export HOME=/root; cd /root && cp -r /mnt/host/bundle bundle && cd bundle && bash -ex /mnt/host/by-hand.sh",
    );
    let by_hand_secs = t.elapsed().as_secs();
    assert!(log.contains("passed, 0 failed, 0 skipped"), "doctor after INSTALL.md:\n{log}");
    assert_eq!(vm.ok("systemctl is-active mercure nginx"), "active\nactive\n");
    let dry = vm.ok("cd /root/bundle && mercure-setup apply . --dry-run");
    assert!(dry.contains("nothing to do"), "apply after INSTALL.md by hand would still change:\n{dry}");

    let t = Instant::now();
    let other = "news.example.net";
    crate::support::stack::public_tls(&share.join("pub-news"), other);
    render_fixture(&share, "bundle-news", "end-to-end-tls-es256-cors-nginx126.yaml", other, &["nginx.version=1.22.1"]);
    vm.ok("set -e; install -m 0644 /mnt/host/pub-news/ca.pem /usr/local/share/ca-certificates/vps-test-news.crt; \
         update-ca-certificates >/dev/null; install -d /etc/ssl/news /var/www/app/config; \
         install -m 0644 /mnt/host/pub-news/fullchain.pem /etc/ssl/news/fullchain.pem; \
         install -m 0600 /mnt/host/pub-news/privkey.pem /etc/ssl/news/privkey.pem");
    // The project's owner points config/jwt at a folder of root's before apply: refused
    // before anything changes, and that folder keeps its owner, mode and contents.
    vm.ok("set -e; chown -R www-data:www-data /var/www/app; \
         runuser -u www-data -- ln -s /etc/ssl/news /var/www/app/config/jwt; cp -r /mnt/host/bundle-news /root/");
    let (code, refused) = vm.sh("cd /root/bundle-news && mercure-setup apply . --yes");
    assert_eq!(code, 3, "apply over a linked config/jwt:\n{refused}");
    assert_eq!(vm.ok("stat -c '%U %a' /etc/ssl/news; ls /etc/ssl/news"), "root 755\nfullchain.pem\nprivkey.pem\n");
    assert!(vm.sh("test -e /etc/mercure/tls").0 != 0, "nothing of the new bundle was installed:\n{refused}");
    vm.ok("runuser -u www-data -- rm /var/www/app/config/jwt");
    let log = vm.ok("cd /root/bundle-news && mercure-setup apply . --yes");
    assert!(log.contains("passed, 0 failed, 0 skipped"), "{log}");
    let files = vm.ok("stat -c '%n %U %a' /var/www/app/.env.local /var/www/app/config/jwt/mercure-private.pem");
    assert_eq!(
        files,
        "/var/www/app/.env.local www-data 600\n/var/www/app/config/jwt/mercure-private.pem www-data 600\n"
    );
    let doctor = vm.ok(&format!("cd /root/bundle-news && mercure-setup doctor . --resolve {other}:443:127.0.0.1"));
    assert!(doctor.contains("passed, 0 failed, 0 skipped"), "{doctor}");
    let again = vm.ok("cd /root/bundle-news && mercure-setup apply . --yes");
    assert!(again.contains("nothing to do"), "{again}");
    let other_secs = t.elapsed().as_secs();
    eprintln!(
        "vps timings (INSTALL.md by hand): image {image_secs} s, boot {boot_secs} s, INSTALL.md {by_hand_secs} s, \
         other answers applied {other_secs} s, total {} s",
        total.elapsed().as_secs()
    );
}
