//! The plan of actions: what putting a bundle live means, in order, as data.
//!
//! Pure (built from the render `Plan` alone), so the same list drives `apply` (which
//! executes it) and INSTALL.md (which prints it as shell commands for a human).

use serde::Serialize;

use super::shell::{command, quote};
use crate::bundle::paths;
use crate::plan::{Plan, install};

/// Debian's main nginx configuration, where the connection limits go.
pub const NGINX_CONF: &str = "/etc/nginx/nginx.conf";
pub const NGINX_SITES_AVAILABLE: &str = "/etc/nginx/sites-available";
pub const NGINX_SITES_ENABLED: &str = "/etc/nginx/sites-enabled";
/// The user php-fpm runs as on Debian.
pub const WEB_USER: &str = "www-data";

/// The connection limits the bundle was sized for, set in nginx.conf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub worker_connections: u32,
    pub worker_rlimit_nofile: u32,
}

/// Which service a file belongs to: what must restart or reload when it changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Part {
    Hub,
    /// The hub's unit file: daemon-reload, then restart the hub.
    HubUnit,
    Nginx,
    /// nginx's systemd drop-in: daemon-reload, then restart nginx (a reload keeps the old limit).
    NginxUnit,
    /// Symfony's files: only installed when the project folder exists; read on PHP's next cache warmup.
    Symfony,
}

/// One step of going live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Action {
    /// A system user without login for the hub.
    CreateUser { user: String, home: String },
    /// The hub binary (given with `--hub-binary`, or already in place).
    InstallHub { dest: String },
    /// A folder with owner, group and mode.
    Dir { path: String, owner: String, group: String, mode: u32, part: Part },
    /// A bundle file installed with owner, group and mode.
    File { src: String, dest: String, owner: String, group: String, mode: u32, secret: bool, part: Part },
    /// The smallest edit to nginx.conf: raise `worker_connections`, add `worker_rlimit_nofile`.
    NginxLimits { path: String, worker_connections: u32, worker_rlimit_nofile: u32 },
    /// The `sites-enabled` symlink to the installed site.
    EnableSite { link: String, target: String },
}

impl Action {
    /// The path this action writes, if any (every one of them is backed up first).
    pub fn dest(&self) -> Option<&str> {
        match self {
            Action::CreateUser { .. } => None,
            Action::InstallHub { dest } | Action::File { dest, .. } => Some(dest),
            Action::Dir { path, .. } | Action::NginxLimits { path, .. } => Some(path),
            Action::EnableSite { link, .. } => Some(link),
        }
    }

    pub fn part(&self) -> Part {
        match self {
            Action::CreateUser { .. } | Action::InstallHub { .. } => Part::Hub,
            Action::Dir { part, .. } | Action::File { part, .. } => *part,
            Action::NginxLimits { .. } | Action::EnableSite { .. } => Part::Nginx,
        }
    }

    pub fn limits(&self) -> Option<Limits> {
        match self {
            Action::NginxLimits { worker_connections, worker_rlimit_nofile, .. } => {
                Some(Limits { worker_connections: *worker_connections, worker_rlimit_nofile: *worker_rlimit_nofile })
            }
            _ => None,
        }
    }

    /// The shell commands a person runs for this action, every value quoted.
    /// `hub_source` is where the downloaded hub binary is.
    pub fn shell(&self, hub_source: &str) -> Vec<String> {
        match self {
            Action::CreateUser { user, home } => vec![format!(
                "id -u {u} >/dev/null 2>&1 || {}",
                command(&["useradd", "--system", "--home-dir", home, "--shell", "/usr/sbin/nologin", user]),
                u = quote(user)
            )],
            Action::InstallHub { dest } => {
                vec![command(&["install", "-o", "root", "-g", "root", "-m", "0755", hub_source, dest])]
            }
            Action::Dir { path, owner, group, mode, .. } => {
                vec![command(&["install", "-d", "-o", owner, "-g", group, "-m", &format!("{mode:04o}"), path])]
            }
            Action::File { src, dest, owner, group, mode, secret, .. } => {
                let line = command(&["install", "-o", owner, "-g", group, "-m", &format!("{mode:04o}"), src, dest]);
                vec![if *secret { format!("{line}   # SECRET") } else { line }]
            }
            Action::NginxLimits { path, worker_connections, worker_rlimit_nofile } => vec![
                format!("cp -p {p} {p}.before-mercure", p = quote(path)),
                format!(
                    "sed -i -E 's/^([[:space:]]*worker_connections)[[:space:]]+[0-9]+;/\\1 {worker_connections};/' {}",
                    quote(path)
                ),
                format!(
                    "grep -q '^[[:space:]]*worker_rlimit_nofile' {p} || sed -i '/^worker_processes/a worker_rlimit_nofile {worker_rlimit_nofile};' {p}",
                    p = quote(path)
                ),
            ],
            Action::EnableSite { link, target } => vec![command(&["ln", "-sfn", target, link])],
        }
    }

    /// One line for the printed plan.
    pub fn describe(&self) -> String {
        match self {
            Action::CreateUser { user, home } => format!("create system user {user} (home {home}, no login)"),
            Action::InstallHub { dest } => format!("install the hub binary as {dest} (root:root 0755)"),
            Action::Dir { path, owner, group, mode, .. } => format!("folder {path} ({owner}:{group} {mode:04o})"),
            Action::File { src, dest, owner, group, mode, secret, .. } => {
                format!("install {src} as {dest} ({owner}:{group} {mode:04o}{})", if *secret { ", secret" } else { "" })
            }
            Action::NginxLimits { path, worker_connections, worker_rlimit_nofile } => format!(
                "edit {path}: worker_connections {worker_connections} (in the existing events block), \
                 worker_rlimit_nofile {worker_rlimit_nofile}"
            ),
            Action::EnableSite { link, target } => format!("enable the site: {link} -> {target}"),
        }
    }
}

/// The installed path of the site file: sites-available/ plus the bundle's file name.
pub fn site_dest(plan: &Plan) -> String {
    let name = plan.nginx_site_file.rsplit('/').next().unwrap_or(&plan.nginx_site_file);
    format!("{NGINX_SITES_AVAILABLE}/{name}")
}

/// Every action, in the order they are carried out.
pub fn actions(plan: &Plan) -> Vec<Action> {
    let user = plan.hub_user.as_str();
    let root = "root";
    let dir = |path: &str, owner: &str, group: &str, mode: u32, part: Part| Action::Dir {
        path: path.into(),
        owner: owner.into(),
        group: group.into(),
        mode,
        part,
    };
    let file = |src: &str, dest: &str, owner: &str, group: &str, mode: u32, secret: bool, part: Part| Action::File {
        src: src.into(),
        dest: dest.into(),
        owner: owner.into(),
        group: group.into(),
        mode,
        secret,
        part,
    };
    let mut a = vec![
        Action::CreateUser { user: user.into(), home: install::DATA_DIR.into() },
        Action::InstallHub { dest: plan.hub_binary.clone() },
        dir(install::MERCURE_DIR, root, user, 0o750, Part::Hub),
        file(paths::CADDYFILE, install::CADDYFILE, root, user, 0o640, false, Part::Hub),
        file(paths::HUB_ENV, install::ENV_FILE, root, root, 0o600, true, Part::Hub),
    ];
    if plan.wiring.private_ca {
        let tls = |name: &str| format!("{}/{name}", install::TLS_DIR);
        a.extend([
            dir(install::TLS_DIR, root, user, 0o750, Part::Hub),
            file(paths::CA_CERT, &tls("ca.crt"), root, root, 0o644, false, Part::Hub),
            file(paths::HUB_CERT, &tls("hub.crt"), user, user, 0o644, false, Part::Hub),
            file(paths::HUB_KEY, &tls("hub.key"), user, user, 0o600, true, Part::Hub),
        ]);
    }
    let drop_in_dir = install::NGINX_DROP_IN.rsplit_once('/').map_or("/", |(d, _)| d);
    let site = site_dest(plan);
    let site_name = site.rsplit('/').next().unwrap_or_default().to_string();
    a.extend([
        file(paths::UNIT, install::UNIT, root, root, 0o644, false, Part::HubUnit),
        dir(&plan.acme_webroot, root, root, 0o755, Part::Nginx),
        dir(drop_in_dir, root, root, 0o755, Part::NginxUnit),
        file(paths::NGINX_DROP_IN, install::NGINX_DROP_IN, root, root, 0o644, false, Part::NginxUnit),
        file(&plan.nginx_site_file, &site, root, root, 0o644, false, Part::Nginx),
        Action::EnableSite {
            link: format!("{NGINX_SITES_ENABLED}/{site_name}"),
            target: format!("../sites-available/{site_name}"),
        },
        Action::NginxLimits {
            path: NGINX_CONF.into(),
            worker_connections: plan.worker_connections,
            worker_rlimit_nofile: plan.worker_rlimit_nofile,
        },
    ]);
    let project = |rel: &str| format!("{}/{rel}", plan.project_dir);
    let web = WEB_USER;
    a.extend([
        file(paths::ENV_LOCAL, &project(".env.local"), web, web, 0o600, true, Part::Symfony),
        file(paths::SYMFONY_YAML, &project("config/packages/mercure.yaml"), web, web, 0o644, false, Part::Symfony),
    ]);
    if !plan.jwt_hmac {
        a.extend([
            dir(&project("config/jwt"), web, web, 0o700, Part::Symfony),
            file(
                paths::SYMFONY_PRIVATE_KEY,
                &project("config/jwt/mercure-private.pem"),
                web,
                web,
                0o600,
                true,
                Part::Symfony,
            ),
        ]);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_in_a_command_is_quoted() {
        let a = Action::File {
            src: "symfony/.env.local".into(),
            dest: "/srv/x&>/srv/victim&/.env.local".into(),
            owner: "www-data".into(),
            group: "www-data".into(),
            mode: 0o600,
            secret: true,
            part: Part::Symfony,
        };
        assert_eq!(
            a.shell("./mercure"),
            ["install -o www-data -g www-data -m 0600 symfony/.env.local '/srv/x&>/srv/victim&/.env.local'   # SECRET"]
        );
        let u = Action::CreateUser { user: "a;b".into(), home: "/var/lib/m m".into() };
        assert_eq!(
            u.shell(""),
            [
                "id -u 'a;b' >/dev/null 2>&1 || useradd --system --home-dir '/var/lib/m m' --shell /usr/sbin/nologin 'a;b'"
            ]
        );
        let d = Action::InstallHub { dest: "/usr/bin/(x)".into() };
        assert_eq!(d.shell("./mercure"), ["install -o root -g root -m 0755 ./mercure '/usr/bin/(x)'"]);
    }
}
