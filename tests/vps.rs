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
    _qemu: ChildGuard,
    share: PathBuf,
    image: PathBuf,
    n: u32,
    /// Host ports forwarded to the guest's 443 and to the hub relay.
    https: u16,
    hub: u16,
}

impl Vm {
    /// `http` is the host port forwarded to the guest's :80 (where the ACME server validates);
    /// `acme` the host port of the ACME server, which the guest reaches as `ACME_ADDR`.
    fn boot(image: &Path, share: &Path, http: u16, acme: u16) -> Vm {
        let qemu = require_tool("qemu-system-x86_64", "apt-get install qemu-system-x86");
        let (https, hub) = (free_port(), free_port());
        std::fs::create_dir_all(share.join("cmd")).unwrap();
        let net = format!(
            "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:{https}-:443,hostfwd=tcp:127.0.0.1:{hub}-:{RELAY_PORT},\
             hostfwd=tcp:127.0.0.1:{http}-:80,guestfwd=tcp:{ACME_ADDR}-cmd:bash {} {acme}",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vps/acme-forward.sh").display()
        );
        // TCG: a guest kernel hung under KVM on these machines. One vCPU: on a loaded host two
        // vCPU threads starve each other (RCU stalls, soft lockups) and the boot takes minutes.
        let child = Command::new(qemu)
            .args(["-machine", "q35,accel=tcg", "-cpu", "max", "-m", "1536", "-smp", "1"])
            .arg("-kernel")
            .arg(image.join("vmlinuz"))
            .arg("-initrd")
            .arg(image.join("initrd.img"))
            .args(["-append", "root=/dev/vda rw console=ttyS0 net.ifnames=0"])
            .arg("-drive")
            .arg(format!("file={},format=raw,if=virtio", image.join("image.raw").display()))
            .args(["-netdev", &net, "-device", "virtio-net-pci,netdev=n0"])
            .arg("-virtfs")
            .arg(format!("local,path={},mount_tag=host,security_model=none,id=host", share.display()))
            .args(["-display", "none", "-monitor", "none", "-serial"])
            .arg(format!("file:{}", image.join("console.log").display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let vm = Vm {
            _qemu: ChildGuard::new("qemu", child),
            share: share.to_path_buf(),
            image: image.into(),
            n: 0,
            https,
            hub,
        };
        vm.wait_boots(1);
        vm
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
        let text = std::fs::read_to_string(self.image.join("console.log")).unwrap_or_default();
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

    fn reboot(&mut self) {
        let before = self.boots();
        self.ok("systemd-run --on-active=1 systemctl reboot");
        self.wait_boots(before + 1);
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
    let answers = crate::support::fixture(FIXTURE);
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
    // Under TCG on a busy machine one delivery can take longer than doctor's 1 s limit;
    // a correct deployment passes within three runs, a broken one never does.
    let mut failures = String::new();
    for attempt in 1..=3 {
        let o = crate::support::run(&args);
        if o.status.success() {
            if attempt > 1 {
                eprintln!("vps: doctor passed on attempt {attempt}; earlier runs:\n{failures}");
            }
            return stdout(&o);
        }
        let _ = write!(failures, "--- attempt {attempt}\n{}{}", stdout(&o), stderr(&o));
    }
    panic!("doctor from the host failed three times:\n{failures}");
}

fn apply_cmd(extra: &str) -> String {
    format!(
        "cd /root && rm -rf bundle && cp -r /mnt/host/bundle bundle && mercure-setup apply bundle --public-ca /mnt/host/pub/ca.pem {extra}"
    )
}

/// What the site answers through nginx in the guest (the status line of a subscribe without a token).
const SITE_ANSWERS: &str = "curl -s -o /dev/null -w '%{http_code}\\n' --cacert /mnt/host/pub/ca.pem \
    --resolve vps.example.test:443:127.0.0.1 'https://vps.example.test/.well-known/mercure?topic=x'";

#[test]
#[allow(clippy::too_many_lines)]
fn a_fresh_debian_vps_goes_live_with_apply() {
    let total = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let share = tmp.path().join("share");
    let image = tmp.path().join("image");
    std::fs::create_dir_all(&share).unwrap();

    let t = Instant::now();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/vps-image.sh");
    let o = Command::new(&script).arg(&image).output().unwrap();
    assert!(o.status.success(), "scripts/vps-image.sh failed (needs root, debootstrap, e2fsprogs):\n{}", stderr(&o));
    let image_secs = t.elapsed().as_secs();

    // What the guest gets: this mercure-setup, the real hub, a bundle, a certificate from a test CA.
    std::fs::copy(crate::support::bin(), share.join("mercure-setup")).unwrap();
    std::fs::copy(crate::apply::hub_binary(), share.join("mercure")).unwrap();
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
    let mut vm = Vm::boot(&image, &share, pebble.http, pebble.acme);
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
    // The hub writes only its state folder: everything it owns is there, or installed for it.
    let owned = vm.ok("find / -xdev -user mercure -not -path '/var/lib/mercure*' | sort");
    assert_eq!(owned, "/etc/mercure/tls/hub.crt\n/etc/mercure/tls/hub.key\n", "{owned}");
    let security = vm.ok("systemd-analyze security mercure.service | tail -n 1");

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
    vm.reboot();
    let reboot_secs = t.elapsed().as_secs();
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

    // 1. Another program holds the new hub port: refused before any change (exit 2).
    let etc_before = etc(&mut vm);
    render(&share, &["hub.port=9555"]);
    vm.ok("systemd-run --unit vps-holder python3 -m http.server 9555 --bind 127.0.0.1 && sleep 2");
    let (rc, log) = vm.sh(&apply_cmd("--yes"));
    assert_eq!(rc, 2, "{log}");
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
    let (rc, log) = vm.sh(&apply_cmd("--yes"));
    assert_eq!(rc, 1, "{log}");
    assert!(log.contains("step `nginx -t` failed") && log.contains("rolled back"), "{log}");
    check_restored(&mut vm, &etc_before, "broken site");
    host_doctor(&vm, &share, tmp.path());

    let t = Instant::now();
    certbot_scenario(&mut vm, &share, &pebble);
    let certbot_secs = t.elapsed().as_secs();

    eprintln!(
        "vps timings: image {image_secs} s, boot {boot_secs} s, first apply {apply_secs} s, reboot {reboot_secs} s, \
         certbot scenario {certbot_secs} s, total {} s; hub unit: {}",
        total.elapsed().as_secs(),
        security.trim()
    );
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
